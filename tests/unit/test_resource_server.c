/* test_resource_server.c - examples/resource_server without a verifier:
 * an agent with a real attestd leaf (C example agent on swtpm) completes
 * TLS 1.3 mTLS and, the verifier being unreachable, is denied with 503
 * ATTEST_E_IO (fail closed), one log line each; refused at the handshake:
 * no client certificate, TLS 1.2, a certificate from another CA, and a leaf
 * signed straight by the fleet root (OpenSSL accepts that chain, attestd's
 * path rule does not); refused before any decision: bad paths, a write body
 * that is not a JSON object or is over the cap. Against a stub verifier
 * (attest_httpd in a thread): allow -> 200, deny -> 403 with reason and
 * rule, malformed / inconsistent / refused answers -> 503; the decision
 * request carries the agent's chain without the root. SIGTERM stops it
 * promptly (and, in the ASan build, without a sanitizer report).
 * Targets: examples/resource_server.c, attest_httpd_opts.verify_cb. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>

#include "attest/attest.h"
#include "net/httpd.h"
#include "core/json.h"
#include "testutil.h"
#include "testutil_daemon.h"

#define AGENT_ID "spiffe://fleet.example/host/web-01/agent/rs"

/* A loopback port bound but not listening: connections to it are refused
 * for as long as fd stays open (no other process can take the port). */
static int closed_port(unsigned *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
			getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* curl as an agent (CERT = "tls/cert.pem", "" for none) against the
 * server; writes the status to out.code and the body to out.body.
 * Returns curl's exit status. */
static int call(const char *dir, const char *cert, const char *key, const char *method,
		const char *path, const char *data)
{
	char certopt[400] = "";

	if (cert[0] != '\0')
		snprintf(certopt, sizeof(certopt), "--cert '%s' --key '%s'", cert, key);
	return tu_sh("cd '%s' && curl -s --path-as-is --tlsv1.3 --cacert srv.pem %s -X %s %s%s%s "
		     "-o out.body -w '%%{http_code}' \"https://127.0.0.1:$(cat port)%s\" "
		     ">out.code 2>/dev/null",
		     dir, certopt, method, data ? "-H 'Content-Type: application/json' --data '" : "",
		     data ? data : "", data ? "'" : "", path);
}

static int code_is(const char *dir, const char *code)
{
	return tu_sh("[ \"$(cat '%s/out.code')\" = '%s' ]", dir, code) == 0;
}

static int body_has(const char *dir, const char *what)
{
	return tu_sh("grep -qF '%s' '%s/out.body'", what, dir) == 0;
}

/* A stand-in verifier on attest_httpd in a thread of the test: it needs
 * the caller certificate (caller.pem) and answers POST /v1/decide by the
 * resource: ehr:patient/... read -> allow, write -> deny; ehr:malformed ->
 * an answer without a reason; ehr:inconsistent -> allow with a failure
 * reason; ehr:refused -> HTTP 403 ATTEST_E_CALLER; ehr:deny-as-200 and
 * ehr:allow-as-403 -> a status the body contradicts. The last request body
 * goes to <dir>/decide.json. */
struct stub {
	struct event_base *base;
	struct attest_httpd *h;
	pthread_t th;
	char dir[600];
};

static void stub_reply(struct evhttp_request *req, int status, const char *json)
{
	attest_httpd_reply(req, status, json, strlen(json));
}

static void stub_cb(struct evhttp_request *req, void *arg)
{
	const struct stub *st = arg;
	char *body = NULL, path[700];
	size_t len = 0;
	cJSON *o = NULL;
	const char *action = NULL, *resource = NULL;

	if (attest_httpd_peer(req) == NULL) {
		stub_reply(req, 403, "{\"error\":\"ATTEST_E_CALLER\",\"code\":76,\"message\":\"\"}");
		return;
	}
	if (strcmp(evhttp_request_get_uri(req), "/v1/decide") != 0 ||
	    attest_httpd_body(req, 64 * 1024, &body, &len) != ATTEST_OK ||
	    attest_json_parse(body, len, 64 * 1024, &o) != ATTEST_OK ||
	    attest_json_str(o, "action", 16, &action) != ATTEST_OK ||
	    attest_json_str(o, "resource", 300, &resource) != ATTEST_OK) {
		stub_reply(req, 400, "{\"error\":\"ATTEST_E_PARSE\",\"code\":5,\"message\":\"\"}");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/decide.json", st->dir);
	tu_write(path, body, len);
	if (strcmp(resource, "ehr:malformed") == 0)
		stub_reply(req, 200, "{\"decision\":\"allow\"}");
	else if (strcmp(resource, "ehr:inconsistent") == 0)
		stub_reply(req, 200, "{\"decision\":\"allow\",\"reason\":\"ATTEST_E_REVOKED\","
				     "\"rule\":\"\"}");
	else if (strcmp(resource, "ehr:refused") == 0)
		stub_reply(req, 429, "{\"error\":\"ATTEST_E_RATE\",\"code\":77,\"message\":\"\"}");
	else if (strcmp(resource, "ehr:deny-as-200") == 0)
		/* a deny under the old status (revision 1): inconsistent now */
		stub_reply(req, 200, "{\"decision\":\"deny\",\"reason\":\"ATTEST_E_POLICY_DENY\","
				     "\"rule\":\"no-writes\",\"detail\":\"writes are off\"}");
	else if (strcmp(resource, "ehr:allow-as-403") == 0)
		stub_reply(req, 403, "{\"decision\":\"allow\",\"reason\":\"ATTEST_OK\","
				     "\"rule\":\"treatment-read\"}");
	else if (strcmp(action, "read") == 0)
		stub_reply(req, 200, "{\"decision\":\"allow\",\"reason\":\"ATTEST_OK\","
				     "\"rule\":\"treatment-read\",\"detail\":\"\",\"agent\":\"" AGENT_ID
				     "\",\"host\":\"web-01\"}");
	else
		stub_reply(req, 403, "{\"decision\":\"deny\",\"reason\":\"ATTEST_E_POLICY_DENY\","
				     "\"rule\":\"no-writes\",\"detail\":\"writes are off\"}");
out:
	cJSON_Delete(o);
	free(body);
}

static void *stub_loop(void *arg)
{
	struct stub *st = arg;

	(void)event_base_dispatch(st->base);
	return NULL;
}

static unsigned stub_start(struct stub *st, const char *dir)
{
	char cert[700], key[700], ca[700];
	struct attest_httpd_opts o = { .addr = "127.0.0.1", .cert_file = cert, .key_file = key,
				       .client_ca_file = ca };

	snprintf(st->dir, sizeof(st->dir), "%s", dir);
	snprintf(cert, sizeof(cert), "%s/vca.pem", dir);
	snprintf(key, sizeof(key), "%s/vca.key", dir);
	snprintf(ca, sizeof(ca), "%s/caller.pem", dir);
	CU_ASSERT_FATAL(evthread_use_pthreads() == 0 && (st->base = event_base_new()) != NULL);
	TU_ASSERT_ERR(attest_httpd_new(st->base, &o, &st->h), ATTEST_OK);
	CU_ASSERT_FATAL(st->h != NULL);
	attest_httpd_set_handler(st->h, stub_cb, st);
	CU_ASSERT_FATAL(pthread_create(&st->th, NULL, stub_loop, st) == 0);
	return attest_httpd_port(st->h);
}

static void stub_stop(struct stub *st)
{
	CU_ASSERT(event_base_loopbreak(st->base) == 0);
	CU_ASSERT(pthread_join(st->th, NULL) == 0);
	attest_httpd_free(st->h);
	event_base_free(st->base);
}

/* Start resource_server with verifier port vport, port in <dir>/port,
 * its pid in <dir>/srv.pid, its log in <dir>/<log>. */
static int server_start(const char *dir, const char *ca, unsigned vport, const char *log)
{
	return tu_sh("cd '%s' && rm -f port && ('%s/resource_server' --listen 127.0.0.1:0 "
		     "--port-file port --cert srv.pem --key srv.key --fleet-root '%s/root.pem' "
		     "--verifier https://127.0.0.1:%u/ --verifier-ca vca.pem --caller-cert caller.pem "
		     "--caller-key caller.key --workers 2 2>%s & echo $! >srv.pid) && "
		     "for i in $(seq 200); do [ -s port ] && exit 0; sleep 0.05; done; cat %s >&2; "
		     "exit 1",
		     dir, tu_examples_dir(), ca, vport, log, log);
}

/* SIGTERM: a clean and prompt exit. */
static int server_stop(const char *dir)
{
	return tu_sh("cd '%s' && kill $(cat srv.pid) && "
		     "for i in $(seq 200); do kill -0 $(cat srv.pid) 2>/dev/null || exit 0; "
		     "sleep 0.05; done; kill -9 $(cat srv.pid); exit 1", dir);
}

/* With a verifier that answers: allow -> 200 and the record, deny -> 403
 * with its reason and rule, anything malformed -> 503; what the verifier
 * got is the agent's chain without the fleet root. */
static void with_verifier(struct daemon *d, const char *dir)
{
	struct stub st = { 0 };
	unsigned vport = stub_start(&st, dir);

	CU_ASSERT_EQUAL_FATAL(server_start(dir, d->ca, vport, "srv2.log"), 0);
	CU_ASSERT_EQUAL(call(dir, "tls/cert.pem", "tls/key.pem", "GET", "/records/patient/7/notes",
			     NULL), 0);
	CU_ASSERT(code_is(dir, "200") && body_has(dir, "\"decision\":\"allow\"") &&
		  body_has(dir, "\"rule\":\"treatment-read\"") &&
		  body_has(dir, "\"resource\":\"ehr:patient/7/notes\"") &&
		  body_has(dir, "\"agent\":\"" AGENT_ID "\""));
	/* the decision request: leaf + agent CA + host CA (not the root),
	 * action, resource, the patient as context */
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && python3 -c 'import json,sys; d=json.load(open(\"decide.json\")); "
			      "r=open(sys.argv[1]).read().strip(); c=d[\"chain\"]; "
			      "assert c.count(\"BEGIN CERTIFICATE\")==3, c; assert r not in c; "
			      "assert c.strip()==open(\"tls/cert.pem\").read().strip(); "
			      "assert d[\"action\"]==\"read\" and d[\"resource\"]==\"ehr:patient/7/notes\"; "
			      "assert d[\"context\"]=={\"patient\":\"7\"}' '%s/root.pem'",
			      dir, d->ca), 0);
	CU_ASSERT_EQUAL(call(dir, "tls/cert.pem", "tls/key.pem", "POST", "/records/patient/7/notes",
			     "{\"text\":\"x\"}"), 0);
	CU_ASSERT(code_is(dir, "403") && body_has(dir, "\"reason\":\"ATTEST_E_POLICY_DENY\"") &&
		  body_has(dir, "\"rule\":\"no-writes\""));
	CU_ASSERT(!body_has(dir, "writes are off")); /* detail stays in the log */
	CU_ASSERT_EQUAL(call(dir, "tls/cert.pem", "tls/key.pem", "GET", "/records/malformed", NULL), 0);
	CU_ASSERT(code_is(dir, "503") && body_has(dir, "\"ATTEST_E_PARSE\""));
	CU_ASSERT_EQUAL(call(dir, "tls/cert.pem", "tls/key.pem", "GET", "/records/inconsistent",
			     NULL), 0);
	CU_ASSERT(code_is(dir, "503") && body_has(dir, "\"ATTEST_E_PARSE\""));
	CU_ASSERT_EQUAL(call(dir, "tls/cert.pem", "tls/key.pem", "GET", "/records/refused", NULL), 0);
	CU_ASSERT(code_is(dir, "503") && body_has(dir, "\"ATTEST_E_RATE\""));
	/* a status its body contradicts (a deny as 200, the way revision 1
	 * answered, or an allow as 403) is no decision: 503 */
	CU_ASSERT_EQUAL(call(dir, "tls/cert.pem", "tls/key.pem", "GET", "/records/deny-as-200",
			     NULL), 0);
	CU_ASSERT(code_is(dir, "503") && body_has(dir, "\"ATTEST_E_PARSE\""));
	CU_ASSERT_EQUAL(call(dir, "tls/cert.pem", "tls/key.pem", "GET", "/records/allow-as-403",
			     NULL), 0);
	CU_ASSERT(code_is(dir, "503") && body_has(dir, "\"ATTEST_E_PARSE\""));
	CU_ASSERT_EQUAL(server_stop(dir), 0);
	stub_stop(&st);
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && grep -q 'agent=%s action=read resource=ehr:patient/7/notes "
			      "decision=allow reason=ATTEST_OK rule=treatment-read status=200$' srv2.log && "
			      "grep -q 'action=write resource=ehr:patient/7/notes decision=deny "
			      "reason=ATTEST_E_POLICY_DENY rule=no-writes status=403 detail=\"writes are off\"' "
			      "srv2.log && [ $(grep -c ' decision=' srv2.log) -eq 7 ] && ! grep -q Sanitizer srv2.log || "
			      "{ cat srv2.log >&2; exit 1; }", dir, AGENT_ID), 0);
}

static void test_resource_server(void)
{
	struct daemon d;
	char bin[700], uids[64];
	const char *dir;
	unsigned vport;
	int vfd;

	daemon_up(&d);
	dir = d.sw.dir;
	/* a real agent leaf: the C example agent, registered and run */
	snprintf(bin, sizeof(bin), "%s/agent_client", dir);
	if (tu_sh("cp '%s/agent_client' '%s' && chmod 0755 '%s' && [ -x '%s/resource_server' ]",
		  tu_examples_dir(), bin, bin, tu_examples_dir()) != 0) {
		CU_FAIL("examples/ are not built (set ATTEST_EXAMPLES)");
		daemon_down(&d);
		return;
	}
	snprintf(uids, sizeof(uids), "%u", (unsigned)getuid());
	register_agent(&d, "rs", bin, uids);
	CU_ASSERT_EQUAL_FATAL(tu_sh("cd '%s' && '%s' --agent rs --socket '%s' --out tls >agent.log "
				    "2>&1", dir, bin, d.sock), 0);

	/* server certificate; a verifier CA and caller certificate that are
	 * never used (nothing listens); a client from another CA; a leaf the
	 * fleet root signs directly */
	CU_ASSERT_EQUAL_FATAL(
		tu_sh("cd '%s' && for n in srv vca caller other; do openssl req -x509 -newkey ec "
		      "-pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=$n -days 1 "
		      "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout $n.key -out $n.pem "
		      "2>/dev/null || exit 1; done && "
		      "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=rs "
		      "-keyout direct.key -out direct.csr 2>/dev/null && "
		      "printf 'basicConstraints=critical,CA:FALSE\\nkeyUsage=critical,digitalSignature\\n"
		      "extendedKeyUsage=clientAuth\\nsubjectAltName=URI:%s\\n' >direct.ext && "
		      "openssl x509 -req -in direct.csr -CA '%s/root.pem' -CAkey '%s/root.key' "
		      "-CAcreateserial -days 1 -extfile direct.ext -out direct.pem 2>/dev/null && "
		      "openssl verify -CAfile '%s/root.pem' direct.pem >/dev/null",
		      dir, AGENT_ID, d.ca, d.ca, d.ca),
		0);

	vfd = closed_port(&vport);
	CU_ASSERT_EQUAL_FATAL(server_start(dir, d.ca, vport, "srv.log"), 0);

	/* an authenticated agent, verifier unreachable: denied, 503 */
	CU_ASSERT_EQUAL(call(dir, "tls/cert.pem", "tls/key.pem", "GET", "/records/patient/1/notes",
			     NULL), 0);
	CU_ASSERT(code_is(dir, "503"));
	CU_ASSERT(body_has(dir, "\"decision\":\"deny\"") && body_has(dir, "\"ATTEST_E_IO\""));
	CU_ASSERT_EQUAL(call(dir, "tls/cert.pem", "tls/key.pem", "POST", "/records/patient/1/notes",
			     "{\"text\":\"hello\"}"), 0);
	CU_ASSERT(code_is(dir, "503"));
	CU_ASSERT(body_has(dir, "\"ATTEST_E_IO\""));

	/* refused before a decision is asked for */
	CU_ASSERT_EQUAL(call(dir, "tls/cert.pem", "tls/key.pem", "POST", "/records/patient/1/notes",
			     "[1,2]"), 0);
	CU_ASSERT(code_is(dir, "400") && body_has(dir, "\"ATTEST_E_PARSE\""));
	CU_ASSERT_EQUAL(call(dir, "tls/cert.pem", "tls/key.pem", "POST", "/records/patient/1/notes",
			     "{\"a\":1,\"a\":2}"), 0);
	CU_ASSERT(code_is(dir, "400") && body_has(dir, "\"ATTEST_E_DUPLICATE_KEY\""));
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && head -c 20000 /dev/zero | tr '\\0' a >big.txt && "
			      "curl -s --tlsv1.3 --cacert srv.pem --cert tls/cert.pem --key tls/key.pem "
			      "--data-binary @big.txt -o out.body -w '%%{http_code}' "
			      "\"https://127.0.0.1:$(cat port)/records/x\" >out.code 2>/dev/null",
			      dir), 0);
	CU_ASSERT(code_is(dir, "413") && body_has(dir, "\"ATTEST_E_TOO_LARGE\""));
	CU_ASSERT_EQUAL(call(dir, "tls/cert.pem", "tls/key.pem", "GET", "/records/a/../b", NULL), 0);
	CU_ASSERT(code_is(dir, "400") && body_has(dir, "\"ATTEST_E_INVALID_ARG\""));
	CU_ASSERT_EQUAL(call(dir, "tls/cert.pem", "tls/key.pem", "GET", "/records/a%2f..", NULL), 0);
	CU_ASSERT(code_is(dir, "400"));
	CU_ASSERT_EQUAL(call(dir, "tls/cert.pem", "tls/key.pem", "GET", "/records/a?x=1", NULL), 0);
	CU_ASSERT(code_is(dir, "400"));
	CU_ASSERT_EQUAL(call(dir, "tls/cert.pem", "tls/key.pem", "GET", "/admin", NULL), 0);
	CU_ASSERT(code_is(dir, "404") && body_has(dir, "\"ATTEST_E_NOT_FOUND\""));

	/* refused at the handshake: no HTTP status at all */
	CU_ASSERT_NOT_EQUAL(call(dir, "", "", "GET", "/records/patient/1/notes", NULL), 0);
	CU_ASSERT(code_is(dir, "000"));
	CU_ASSERT_NOT_EQUAL(call(dir, "other.pem", "other.key", "GET", "/records/x", NULL), 0);
	CU_ASSERT(code_is(dir, "000"));
	CU_ASSERT_NOT_EQUAL(call(dir, "direct.pem", "direct.key", "GET", "/records/x", NULL), 0);
	CU_ASSERT(code_is(dir, "000"));
	/* TLS 1.2 (client certificates in clear) is refused, certificate or not */
	CU_ASSERT_NOT_EQUAL(tu_sh("cd '%s' && timeout 10 openssl s_client -connect "
				  "127.0.0.1:$(cat port) -tls1_2 -cert tls/cert.pem -cert_chain "
				  "tls/cert.pem -key tls/key.pem </dev/null >s12.log 2>&1",
				  dir), 0);
	CU_ASSERT_EQUAL(tu_sh("grep -q 'alert protocol version' '%s/s12.log'", dir), 0);
	/* ... while the same client over TLS 1.3 completes the handshake */
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && timeout 10 openssl s_client -connect 127.0.0.1:$(cat port) "
			      "-tls1_3 -cert tls/cert.pem -cert_chain tls/cert.pem -key tls/key.pem "
			      "</dev/null >s13.log 2>&1; grep -q 'New, TLSv1.3' s13.log || "
			      "{ cat s13.log >&2; exit 1; }", dir), 0);

	CU_ASSERT_EQUAL(server_stop(dir), 0);
	close(vfd);

	/* one line per request that reached HTTP, with the agent and reason */
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && grep -q '^resource_server: agent=%s action=read "
			      "resource=ehr:patient/1/notes decision=deny reason=ATTEST_E_IO rule=- "
			      "status=503 detail=' srv.log && grep -q 'action=write "
			      "resource=ehr:patient/1/notes decision=deny reason=ATTEST_E_IO' srv.log && "
			      "[ $(grep -c ' decision=' srv.log) -eq 9 ] && "
			      "[ $(grep -c ' decision=allow' srv.log) -eq 0 ] && ! grep -q Sanitizer srv.log || "
			      "{ cat srv.log >&2; "
			      "exit 1; }", dir, AGENT_ID), 0);

	with_verifier(&d, dir);
	daemon_down(&d);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "resource server: mTLS handshake refusals, fail closed, allow/deny from a stub "
		  "verifier",
		  test_resource_server },
		{ NULL, NULL },
	};

	return tu_main("resource_server", tests);
}
