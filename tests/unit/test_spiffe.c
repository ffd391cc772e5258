/* test_spiffe - the SPIFFE Workload API (docs/spiffe.md) with clients that
 * know only SPIFFE: a Python client whose messages and stub the test
 * generates from attestd/workload.proto with grpc_tools and which speaks
 * gRPC through python3-grpcio (tests/spiffe/workload_client.py), and the C
 * example (examples/spiffe_client.c, nghttp2 + protobuf-c). Each finds the
 * socket through SPIFFE_ENDPOINT_SOCKET and never names itself: attestd's
 * monitor finds the agent from the measured caller.
 * Targets: attestd/workload*.c, monitor.c MON_WORKLOAD_ISSUE, federation:
 * attestd/federation.c, libattest x509/spiffebundle.c and net/fedset.c, monitor.c MON_FEDERATE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest/attest.h"
#include "attestation/hostpush.h"
#include "enrol/enrol.h"
#include "tpm/tpm.h"
#include "core/jws.h"
#include "core/json.h"
#include "federation.h"
#include "workload_jwtv.h"
#include "x509/spiffebundle.h"
#include "fuzz_fixture.h"
#include "attest/verify.h"
#include "x509/x509.h"
#include "x509/x509agent.h"
#include "testutil.h"
#include "testutil_daemon.h"
#include "testutil_verifier.h"

#define ID_PREFIX "spiffe://fleet.example/host/web-01/agent/"
#define PY "/usr/bin/python3" /* Debian's, with python3-grpcio */

static const char *srcdir(void)
{
	return getenv("ATTEST_SRCDIR") ? getenv("ATTEST_SRCDIR") : ".";
}

static void workload_path(const struct daemon *d, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/workload.sock", d->sw.dir);
}

/* register_json with dns_names: a JSON list body, or NULL for none */
static void register_json_dns(struct daemon *d, const char *name, const char *binary,
			      const char *script, int max_ttl, const char *dns)
{
	char json[3000];
	cJSON *reply = NULL;

	snprintf(json, sizeof(json),
		 "{\"op\":\"register\",\"name\":\"%s\",\"binary\":\"%s\"%s%s%s,\"uids\":[%u],"
		 "\"scopes\":[\"ehr:read\"],\"risk_tier\":\"medium\","
		 "\"data_classes\":[\"phi\"],\"max_ttl\":%d,%s%s%s" TU_ENV_ALLOW_JSON "}",
		 name, binary, script ? ",\"script\":\"" : "", script ? script : "",
		 script ? "\"" : "", (unsigned)getuid(), max_ttl, dns ? "\"dns_names\":[" : "",
		 dns ? dns : "", dns ? "]," : "");
	TU_ASSERT_ERR(admin_call(d, json, &reply), ATTEST_OK);
	cJSON_Delete(reply);
}

static void register_json(struct daemon *d, const char *name, const char *binary,
			  const char *script, int max_ttl)
{
	register_json_dns(d, name, binary, script, max_ttl, NULL);
}

/* Run cmd with a clean environment (PATH and SPIFFE_ENDPOINT_SOCKET) in
 * d's directory; its stdout parsed as JSON (NULL, and the output shown,
 * when it is not). */
static cJSON *run_json(struct daemon *d, const char *cmd)
{
	char wl[700], out[800];
	char *text;
	cJSON *j = NULL;

	workload_path(d, wl, sizeof(wl));
	snprintf(out, sizeof(out), "%s/run.out", d->sw.dir);
	(void)tu_sh("cd '%s' && env -i PATH=/usr/bin:/bin SPIFFE_ENDPOINT_SOCKET=unix://%s "
		    "%s >run.out 2>run.err", d->sw.dir, wl, cmd);
	if ((text = tu_slurp(out, NULL)) != NULL)
		j = cJSON_Parse(text);
	if (j == NULL) {
		fprintf(stderr, "  %s: no JSON; stdout and stderr:\n", cmd);
		(void)tu_sh("cat '%s/run.out' '%s/run.err' >&2", d->sw.dir, d->sw.dir);
	}
	free(text);
	return j;
}

/* Run cmd as run_json does; its exit status. */
static int run_sh(struct daemon *d, const char *cmd)
{
	char wl[700];
	int rc;

	workload_path(d, wl, sizeof(wl));
	rc = tu_sh("cd '%s' && env -i PATH=/usr/bin:/bin SPIFFE_ENDPOINT_SOCKET=unix://%s %s",
		   d->sw.dir, wl, cmd);
	if (rc != 0)
		(void)tu_sh("cat '%s/c.out' >&2 2>/dev/null", d->sw.dir);
	return rc;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static double jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* A refusal with the gRPC status `code` whose details contain `why`. */
static void expect_status(cJSON *j, const char *code, const char *why)
{
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "ok")));
	if (strcmp(jstr(j, "code"), code) != 0 || (why && !strstr(jstr(j, "details"), why)))
		fprintf(stderr, "  want %s (%s), got %s: %s\n", code, why ? why : "",
			jstr(j, "code"), jstr(j, "details"));
	CU_ASSERT_STRING_EQUAL(jstr(j, "code"), code);
	if (why != NULL)
		CU_ASSERT_PTR_NOT_NULL(strstr(jstr(j, "details"), why));
	cJSON_Delete(j);
}

/* SVID i in OUT: the leaf verifies through i.chain.pem to the bundle that
 * came with it, i.bundle.pem, which is the fleet root; its one URI SAN is
 * the agent's ID; i.key.pem holds its key. */
static void expect_svid(struct daemon *d, const char *out, int i, const char *agent)
{
	CU_ASSERT_EQUAL(tu_sh("openssl verify -CAfile '%s/%d.bundle.pem' -untrusted "
			      "'%s/%d.chain.pem' '%s/%d.leaf.pem' >/dev/null",
			      out, i, out, i, out, i), 0);
	CU_ASSERT_EQUAL(tu_sh("[ \"$(openssl x509 -in '%s/root.pem' -noout -fingerprint -sha256)\" = "
			      "\"$(openssl x509 -in '%s/%d.bundle.pem' -noout -fingerprint -sha256)\" ]",
			      d->ca, out, i), 0);
	CU_ASSERT_EQUAL(tu_sh("openssl x509 -in '%s/%d.leaf.pem' -noout -ext subjectAltName | "
			      "grep -qx '    URI:" ID_PREFIX "%s'", out, i, agent), 0);
	CU_ASSERT_EQUAL(tu_sh("a=$(openssl x509 -in '%s/%d.leaf.pem' -noout -pubkey) && "
			      "b=$(openssl pkey -in '%s/%d.key.pem' -pubout) && [ \"$a\" = \"$b\" ]",
			      out, i, out, i), 0);
}

/* What the Python client saw of a JWT-SVID for ehr-api and billing. */
static void expect_jwt(struct daemon *d, const char *out, const cJSON *j)
{
	const cJSON *hdr = cJSON_GetObjectItemCaseSensitive(j, "header");
	const cJSON *pl = cJSON_GetObjectItemCaseSensitive(j, "payload");
	const cJSON *aud = cJSON_GetObjectItemCaseSensitive(pl, "aud");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "validated");
	const cJSON *key = cJSON_GetArrayItem(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "jwks"), "keys"),
		0);

	CU_ASSERT_STRING_EQUAL(jstr(j, "spiffe_id"), ID_PREFIX "spiffepy");
	CU_ASSERT_FATAL(cJSON_IsArray(aud) && key != NULL && v != NULL);
	CU_ASSERT_STRING_EQUAL(jstr(hdr, "alg"), "ES256");
	CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "sig_ok")));
	CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "kid_is_thumbprint")));
	CU_ASSERT_STRING_EQUAL(jstr(pl, "sub"), ID_PREFIX "spiffepy");
	CU_ASSERT(cJSON_GetArraySize(aud) == 2 &&
		  strcmp(cJSON_GetArrayItem(aud, 0)->valuestring, "ehr-api") == 0 &&
		  strcmp(cJSON_GetArrayItem(aud, 1)->valuestring, "billing") == 0);
	/* the agent's max_ttl is 10 s */
	CU_ASSERT(jnum(pl, "exp") - jnum(pl, "iat") == 10);
	CU_ASSERT_STRING_EQUAL(jstr(key, "use"), "jwt-svid");
	CU_ASSERT(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(j, "jwks"), "spiffe_sequence")));
	CU_ASSERT_STRING_EQUAL(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j,
						  "trust_domains"), 0)->valuestring,
			       "spiffe://fleet.example");
	CU_ASSERT_STRING_EQUAL(jstr(v, "spiffe_id"), ID_PREFIX "spiffepy");
	CU_ASSERT_STRING_EQUAL(jstr(cJSON_GetObjectItemCaseSensitive(v, "claims"), "sub"),
			       ID_PREFIX "spiffepy");
	CU_ASSERT(strncmp(jstr(j, "wrong_audience"), "INVALID_ARGUMENT", 16) == 0);
	CU_ASSERT(strncmp(jstr(j, "tampered"), "INVALID_ARGUMENT", 16) == 0);
	CU_ASSERT(strncmp(jstr(j, "no_audience"), "INVALID_ARGUMENT", 16) == 0);
	if (strncmp(jstr(j, "tampered"), "INVALID_ARGUMENT", 16) != 0)
		fprintf(stderr, "  tampered: %s\n", jstr(j, "tampered"));
	/* the JWT key chains to the fleet root through the host CA */
	CU_ASSERT_EQUAL(tu_sh("cat '%s/x5c.1.pem' '%s/x5c.2.pem' >'%s/x5c.inter.pem' && "
			      "openssl verify -CAfile '%s/root.pem' -untrusted '%s/x5c.inter.pem' "
			      "'%s/x5c.0.pem' >/dev/null", out, out, out, d->ca, out, out), 0);
}

/* notAfter of OUT/i.leaf.pem, seconds since the epoch (0: unreadable) */
static long not_after(const char *out, int i)
{
	char cmd[1000];
	long v = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "date -d \"$(openssl x509 -in '%s/%d.leaf.pem' -noout "
		 "-enddate | cut -d= -f2)\" +%%s", out, i);
	if ((p = popen(cmd, "r")) != NULL) {
		if (fscanf(p, "%ld", &v) != 1)
			v = 0;
		pclose(p);
	}
	return v;
}

/* The Python client, registered as interpreter + script with a 10 s
 * lifetime: its first SVID at once and a rotated one before the first
 * expires, each with its key, a chain that verifies to the
 * bundle sent with it, and the agent's ID found from the measurement;
 * FetchX509Bundles gives the same bundle keyed by the trust domain; a
 * call without the metadata header is refused with InvalidArgument; the
 * registered script tampered with and a revoked agent get
 * PermissionDenied with attestd's reason. */
static void test_python_client(void)
{
	static struct daemon d;
	char py[512], dir[700], script[800], gen[800], out[800], cmd[4000], bad[800];
	char *real = NULL, *pyreal = realpath(PY, NULL);
	cJSON *j, *svids, *a, *b;
	cJSON *reply = NULL;

	if (pyreal == NULL || strlen(pyreal) >= sizeof(py)) {
		CU_FAIL(PY " missing (make deps)");
		free(pyreal);
		return;
	}
	memcpy(py, pyreal, strlen(pyreal) + 1);
	free(pyreal);
	if (
	    tu_sh(PY " -c 'import grpc, grpc_tools.protoc, cryptography' 2>/dev/null") != 0) {
		CU_FAIL("python3-grpcio, python3-grpc-tools or python3-cryptography missing "
			"(make deps)");
		return;
	}
	daemon_up(&d);
	snprintf(dir, sizeof(dir), "%s/py", d.sw.dir);
	snprintf(script, sizeof(script), "%s/workload_client.py", dir);
	snprintf(gen, sizeof(gen), "%s/gen", d.sw.dir);
	/* the client's code, root-owned; its messages and stub generated now
	 * from the .proto attestd was built from */
	CU_ASSERT_EQUAL_FATAL(tu_sh("mkdir -m 0755 '%s' '%s' && install -o 0 -g 0 -m 0644 "
				    "'%s/tests/spiffe/workload_client.py' '%s' && " PY " -m "
				    "grpc_tools.protoc -I'%s/attestd' -I/usr/include "
				    "--python_out='%s' --grpc_python_out='%s' "
				    "'%s/attestd/workload.proto'", dir, gen, srcdir(), script,
				    srcdir(), gen, gen, srcdir()), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(real = realpath(script, NULL));
	register_json(&d, "spiffepy", py, real, 10);

	/* two responses on one stream: the first SVID and its rotation */
	snprintf(out, sizeof(out), "%s/x509", d.sw.dir);
	CU_ASSERT_EQUAL(tu_sh("mkdir -m 0700 '%s'", out), 0);
	snprintf(cmd, sizeof(cmd), "%s -I '%s' '%s' x509 '%s' 2", py, real, gen, out);
	j = run_json(&d, cmd);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")))
		fprintf(stderr, "  FetchX509SVID: %s: %s\n", jstr(j, "code"), jstr(j, "details"));
	svids = cJSON_GetObjectItemCaseSensitive(j, "svids");
	CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(svids), 2);
	a = cJSON_GetArrayItem(svids, 0);
	b = cJSON_GetArrayItem(svids, 1);
	for (int i = 0; i < 2; i++) {
		const cJSON *s = i == 0 ? a : b;

		CU_ASSERT_STRING_EQUAL(jstr(s, "spiffe_id"), ID_PREFIX "spiffepy");
		expect_svid(&d, out, i, "spiffepy");
	}
	/* a new leaf with a new key, sent before the first expired (attestd
	 * sends it at 45% of the 10 s; no assertion on how soon) */
	CU_ASSERT_EQUAL(tu_sh("[ \"$(openssl x509 -in '%s/0.leaf.pem' -noout -serial)\" != "
			      "\"$(openssl x509 -in '%s/1.leaf.pem' -noout -serial)\" ]", out, out), 0);
	CU_ASSERT(jnum(b, "received") < (double)not_after(out, 0));
	CU_ASSERT(jnum(b, "received") > jnum(a, "received"));
	CU_ASSERT_EQUAL(tu_sh("! cmp -s '%s/0.key.pem' '%s/1.key.pem'", out, out), 0);
	cJSON_Delete(j);

	/* FetchX509Bundles: the trust domain's bundle, the same root */
	snprintf(cmd, sizeof(cmd), "%s -I '%s' '%s' bundles '%s'", py, real, gen, out);
	j = run_json(&d, cmd);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")));
	CU_ASSERT_STRING_EQUAL(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j,
						  "trust_domains"), 0)->valuestring,
			       "spiffe://fleet.example");
	CU_ASSERT_EQUAL(tu_sh("[ \"$(openssl x509 -in '%s/root.pem' -noout -fingerprint -sha256)\" = "
			      "\"$(openssl x509 -in '%s/bundle.0.pem' -noout -fingerprint -sha256)\" ]",
			      d.ca, out), 0);
	cJSON_Delete(j);

	/* a JWT-SVID for two audiences: ES256 over the JWK its kid names in
	 * the JWT bundle (checked by the client), sub the agent, exp within
	 * the agent's lifetime; ValidateJWTSVID accepts it for its audience
	 * and refuses another audience and a tampered payload; the bundle
	 * key's x5c verifies to the fleet root */
	snprintf(cmd, sizeof(cmd), "%s -I '%s' '%s' jwt '%s' ehr-api billing", py, real, gen, out);
	j = run_json(&d, cmd);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")))
		fprintf(stderr, "  FetchJWTSVID: %s: %s\n", jstr(j, "code"), jstr(j, "details"));
	CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")));
	expect_jwt(&d, out, j);
	cJSON_Delete(j);

	/* without workload.spiffe.io: true, refused as the specification says */
	snprintf(cmd, sizeof(cmd), "%s -I '%s' '%s' nometa", py, real, gen);
	expect_status(run_json(&d, cmd), "INVALID_ARGUMENT", "security header missing");

	/* the registered script tampered with: no agent matches the caller */
	snprintf(bad, sizeof(bad), "%s.orig", real);
	CU_ASSERT_EQUAL(tu_sh("cp -p '%s' '%s' && echo '# changed' >>'%s'", real, bad, real), 0);
	snprintf(cmd, sizeof(cmd), "%s -I '%s' '%s' x509 '%s' 1", py, real, gen, out);
	expect_status(run_json(&d, cmd), "PERMISSION_DENIED", "ATTEST_E_MEASUREMENT");
	CU_ASSERT_EQUAL(tu_sh("cp '%s' '%s'", bad, real), 0);
	/* and the same bytes again: served again */
	snprintf(cmd, sizeof(cmd), "%s -I '%s' '%s' x509 '%s' 1", py, real, gen, out);
	j = run_json(&d, cmd);
	CU_ASSERT(j != NULL && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")));
	cJSON_Delete(j);

	/* revoked: no agent is registered for the caller any more */
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"revoke\",\"name\":\"spiffepy\"}", &reply),
		      ATTEST_OK);
	cJSON_Delete(reply);
	snprintf(cmd, sizeof(cmd), "%s -I '%s' '%s' x509 '%s' 1", py, real, gen, out);
	expect_status(run_json(&d, cmd), "PERMISSION_DENIED", "ATTEST_E_AGENT_UNKNOWN");
	free(real);
	daemon_down(&d);
}

/* The C example (examples/spiffe_client.c), registered as a binary: two
 * SVIDs off one stream, each verified to its bundle by the example itself;
 * the files it writes verify with openssl and name the agent; another
 * binary (the same one with a byte appended) gets PermissionDenied; an
 * agent revoked while its stream is open loses it at the next rotation. */
static void test_c_client(void)
{
	static struct daemon d;
	char bin[800], bad[800], out[800], cmd[2000];
	cJSON *reply = NULL;

	daemon_up(&d);
	snprintf(bin, sizeof(bin), "%s/spiffe_client", d.sw.dir);
	snprintf(bad, sizeof(bad), "%s/spiffe_client_other", d.sw.dir);
	snprintf(out, sizeof(out), "%s/c", d.sw.dir);
	CU_ASSERT_EQUAL_FATAL(tu_sh("cp '%s/spiffe_client' '%s' && cp '%s' '%s' && printf x >>'%s' "
				    "&& mkdir -m 0700 '%s'", tu_examples_dir(), bin, bin, bad, bad,
				    out), 0);
	/* with DNS names registered: the Workload API cannot ask for them, so
	 * its SVIDs carry them all (docs/spiffe.md "DNS SANs") */
	register_json_dns(&d, "spiffec", bin, NULL, 4,
			  "\"spiffec.web-01.fleet.example\",\"mcp.web-01.fleet.example\"");
	snprintf(cmd, sizeof(cmd), "'%s' --count 2 --out '%s' >c.out 2>&1", bin, out);
	CU_ASSERT_EQUAL(run_sh(&d, cmd), 0);
	CU_ASSERT_EQUAL(tu_sh("[ $(grep -c '^" ID_PREFIX "spiffec: X.509-SVID [12], 4 certificates, "
			      "verified to the bundle of 1' '%s/c.out') = 2 ]", d.sw.dir), 0);
	CU_ASSERT_EQUAL(tu_sh("openssl verify -CAfile '%s/root.pem' -untrusted '%s/svid.pem' "
			      "'%s/svid.pem' >/dev/null", d.ca, out, out), 0);
	CU_ASSERT_EQUAL(tu_sh("openssl x509 -in '%s/svid.pem' -noout -ext subjectAltName | "
			      "grep -qx '    URI:" ID_PREFIX "spiffec, DNS:spiffec.web-01.fleet.example, "
			      "DNS:mcp.web-01.fleet.example'", out), 0);
	CU_ASSERT_EQUAL(tu_sh("[ \"$(stat -c %%a '%s/svid.key')\" = 600 ]", out), 0);
	/* not the registered binary */
	snprintf(cmd, sizeof(cmd), "'%s' >c.out 2>&1", bad);
	CU_ASSERT_EQUAL(run_sh(&d, cmd), 1);
	CU_ASSERT_EQUAL(tu_sh("grep -q 'refused: gRPC status 7: ATTEST_E_MEASUREMENT' '%s/c.out'",
			      d.sw.dir), 0);
	/* revoked while its stream is open: the caller is measured again at
	 * the next rotation, refused, and the stream ends with
	 * PermissionDenied */
	snprintf(cmd, sizeof(cmd), "'%s' --count 5 >c2.out 2>&1 & echo $! >'%s/c2.pid'", bin,
		 d.sw.dir);
	CU_ASSERT_EQUAL(run_sh(&d, cmd), 0);
	CU_ASSERT_EQUAL(tu_sh("for i in $(seq 100); do grep -q 'X.509-SVID 1,' '%s/c2.out' && "
			      "exit 0; sleep 0.1; done; exit 1", d.sw.dir), 0);
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"revoke\",\"name\":\"spiffec\"}", &reply),
		      ATTEST_OK);
	cJSON_Delete(reply);
	CU_ASSERT_EQUAL(tu_sh("p=$(cat '%s/c2.pid'); for i in $(seq 150); do kill -0 $p 2>/dev/null "
			      "|| exit 0; sleep 0.1; done; kill $p; exit 1", d.sw.dir), 0);
	CU_ASSERT_EQUAL(tu_sh("grep -q 'refused: gRPC status 7: ATTEST_E_AGENT_UNKNOWN' "
			      "'%s/c2.out'", d.sw.dir), 0);
	daemon_down(&d);
}

/* Seconds until the server closes fd (it reads to EOF, discarding), -1
 * when it is still open after limit seconds. */
static double closed_within(int fd, double limit)
{
	double t0 = tu_now_ms();
	char buf[4096];

	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		double left = limit * 1000 - (tu_now_ms() - t0);
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -1;
		if ((n = read(fd, buf, sizeof(buf))) <= 0)
			return (tu_now_ms() - t0) / 1000;
	}
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* The transport's refusals: bytes that are not HTTP/2 close the
 * connection; a client that sends the preface and then nothing is closed
 * after --frame-timeout; --max-clients connections at once, the next closed
 * at accept. The front survives all of it and still serves (the C example
 * gets its SVID). */
static void test_transport(void)
{
	static struct daemon d;
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
				      "\x00\x00\x00\x04\x00\x00\x00\x00\x00"; /* + empty SETTINGS */
	char wl[700], bin[800], cmd[1000];
	int fd, fds[4];

	daemon_up(&d);
	daemon_stop(&d);
	d.extra_args[0] = "--frame-timeout";
	d.extra_args[1] = "1000";
	d.extra_args[2] = NULL;
	daemon_start(&d, "3"); /* --max-clients 3 */
	workload_path(&d, wl, sizeof(wl));
	/* HTTP/1.1 on the workload socket */
	CU_ASSERT_FATAL((fd = connect_unix(wl)) >= 0);
	CU_ASSERT(write(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 28) == 28);
	CU_ASSERT(closed_within(fd, 10) >= 0);
	close(fd);
	/* the preface, then silence: closed after the 1 s frame timeout */
	CU_ASSERT_FATAL((fd = connect_unix(wl)) >= 0);
	CU_ASSERT(write(fd, preface, sizeof(preface) - 1) == (ssize_t)sizeof(preface) - 1);
	{
		double t = closed_within(fd, 15);

		CU_ASSERT(t >= 0.5);
	}
	close(fd);
	/* three silent clients hold the three places: a fourth is closed at
	 * accept (the log says so) */
	for (int i = 0; i < 3; i++)
		CU_ASSERT((fds[i] = connect_unix(wl)) >= 0);
	usleep(200000);
	CU_ASSERT_FATAL((fds[3] = connect_unix(wl)) >= 0);
	CU_ASSERT(closed_within(fds[3], 10) >= 0);
	CU_ASSERT_EQUAL(tu_sh("grep -q 'workload socket: 3 clients already: one refused' '%s'",
			      d.log), 0);
	for (int i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	/* still serving */
	snprintf(bin, sizeof(bin), "%s/spiffe_client", d.sw.dir);
	CU_ASSERT_EQUAL_FATAL(tu_sh("cp '%s/spiffe_client' '%s'", tu_examples_dir(), bin), 0);
	register_json(&d, "spiffec", bin, NULL, 60);
	usleep(1500000); /* the silent clients' places are free again */
	snprintf(cmd, sizeof(cmd), "'%s' >c.out 2>&1", bin);
	CU_ASSERT_EQUAL(run_sh(&d, cmd), 0);
	/* and by the same front: the monitor logged no front's death */
	CU_ASSERT_EQUAL(tu_sh("! grep -q 'front pid' '%s'", d.log), 0);
	daemon_down(&d);
}

/* The verifier's bundle endpoint: GET /v1/spiffe/bundle without a caller
 * certificate gives the SPIFFE bundle whose x509-svid key is the fleet
 * root (x5c) with the root's own public key as the JWK; the same root the
 * Workload API hands workloads. */
static void test_verifier_bundle(void)
{
	static struct daemon d;
	static struct verifier v;
	cJSON *rep = NULL;
	const cJSON *key;
	char path[800];
	FILE *f;
	X509 *root = NULL;
	BIGNUM *bx = NULL;
	uint8_t x[48];
	char *bxs = NULL;
	int n;

	daemon_up(&d);
	verifier_up(&v, d.ca, NULL);
	CU_ASSERT_EQUAL(verifier_call(&v, AS_NONE, "/v1/spiffe/bundle", NULL, &rep), 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rep);
	key = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rep, "keys"), 0);
	CU_ASSERT_STRING_EQUAL(jstr(key, "use"), "x509-svid");
	CU_ASSERT(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(rep, "spiffe_sequence")));
	CU_ASSERT(jnum(rep, "spiffe_refresh_hint") == 300);
	/* x5c is the root */
	snprintf(path, sizeof(path), "%s/bundle.x5c", d.sw.dir);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fprintf(f, "%s", cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(key, "x5c"), 0)
				 ->valuestring);
	fclose(f);
	CU_ASSERT_EQUAL(tu_sh("[ \"$(openssl x509 -in '%s/root.pem' -outform DER | base64 -w0)\" "
			      "= \"$(cat '%s')\" ]", d.ca, path), 0);
	/* the JWK is the root's key */
	snprintf(path, sizeof(path), "%s/root.pem", d.ca);
	CU_ASSERT_FATAL((f = fopen(path, "r")) != NULL);
	root = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	CU_ASSERT_STRING_EQUAL(jstr(key, "kty"), "EC");
	n = strcmp(jstr(key, "crv"), "P-384") == 0 ? 48 : 32;
	CU_ASSERT(EVP_PKEY_get_bn_param(X509_get0_pubkey(root), "qx", &bx) == 1 &&
		  BN_bn2binpad(bx, x, n) == n &&
		  attest_b64url_encode(x, (size_t)n, &bxs) == ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(jstr(key, "x"), bxs ? bxs : "");
	free(bxs);
	BN_free(bx);
	X509_free(root);
	cJSON_Delete(rep);
	verifier_down(&v);
	daemon_down(&d);
}

/* ---------- the verifier validates JWT-SVIDs (issue 14 item 2) ---------- */

/* POST /v1/spiffe/validate-jwt as the resource caller; the status. */
static long jwt_validate(struct verifier *v, const char *token, const char *aud, cJSON **rep)
{
	cJSON *b = cJSON_CreateObject();
	char *body;
	long st;

	*rep = NULL;
	CU_ASSERT_FATAL(b != NULL && cJSON_AddStringToObject(b, "token", token) &&
			cJSON_AddStringToObject(b, "audience", aud));
	body = cJSON_PrintUnformatted(b);
	cJSON_Delete(b);
	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	st = verifier_call(v, AS_RESOURCE, "/v1/spiffe/validate-jwt", body, rep);
	free(body);
	return st;
}

/* Refused (403, valid false) with reason, and detail containing why. */
static void expect_jwt_refused(struct verifier *v, const char *token, const char *aud,
			       const char *reason, const char *why)
{
	cJSON *rep = NULL;
	long st = jwt_validate(v, token, aud, &rep);

	if (st != 403 || strcmp(jstr(rep, "reason"), reason) != 0 ||
	    (why != NULL && strstr(jstr(rep, "detail"), why) == NULL))
		fprintf(stderr, "  want 403 %s (%s), got %ld %s: %s\n", reason, why ? why : "", st,
			jstr(rep, "reason"), jstr(rep, "detail"));
	CU_ASSERT_EQUAL(st, 403);
	CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(rep, "valid")));
	CU_ASSERT_STRING_EQUAL(jstr(rep, "reason"), reason);
	if (why != NULL)
		CU_ASSERT_PTR_NOT_NULL(strstr(jstr(rep, "detail"), why));
	cJSON_Delete(rep);
}

/* token's segment i (0 header, 1 payload, 2 signature) replaced by rep. */
static char *jwt_with(const char *token, int i, const char *rep)
{
	const char *d1 = strchr(token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	char *out = malloc(strlen(token) + strlen(rep) + 4);

	CU_ASSERT_FATAL(d2 != NULL && out != NULL);
	if (i == 0)
		snprintf(out, strlen(token) + strlen(rep) + 4, "%s%s", rep, d1);
	else if (i == 1)
		snprintf(out, strlen(token) + strlen(rep) + 4, "%.*s.%s%s", (int)(d1 - token), token,
			 rep, d2);
	else
		snprintf(out, strlen(token) + strlen(rep) + 4, "%.*s.%s", (int)(d2 - token), token,
			 rep);
	return out;
}

static char *b64u(const char *s)
{
	char *b = NULL;

	CU_ASSERT_FATAL(attest_b64url_encode(s, strlen(s), &b) == ATTEST_OK);
	return b;
}

struct db_signer {
	struct attest_tpm *t;
	struct attest_host_identity id;
};

static int db_sign(void *arg, const uint8_t digest[32], TPMT_SIGNATURE *sig)
{
	struct db_signer *h = arg;

	return attest_tpm_sign(h->t, &h->id.key, NULL, digest, sig);
}

/* A JWT-SVID key's certificate as attestd makes it (workload_jwt.c), for
 * key, issued in host_ca's name and signed by s. */
static X509 *jwt_key_cert(X509 *host_ca, EVP_PKEY *key, const struct attest_signer *s)
{
	X509 *c = X509_new();
	time_t now = time(NULL), end = now + 3600;

	CU_ASSERT_FATAL(c != NULL && X509_set_version(c, X509_VERSION_3) &&
			X509_set_pubkey(c, key) &&
			X509_set_issuer_name(c, X509_get_subject_name(host_ca)) &&
			X509_time_adj_ex(X509_getm_notBefore(c), 0, -60, &now) != NULL &&
			X509_time_adj_ex(X509_getm_notAfter(c), 0, 0, &end) != NULL);
	TU_ASSERT_ERR(attest_x509_random_serial(c), ATTEST_OK);
	TU_ASSERT_ERR(attest_x509_set_name(X509_get_subject_name(c), "fleet.example",
					   "test JWT-SVID signer"), ATTEST_OK);
	TU_ASSERT_ERR(attest_x509_add_ext(c, host_ca, NID_basic_constraints, "critical,CA:FALSE"),
		      ATTEST_OK);
	TU_ASSERT_ERR(attest_x509_add_ext(c, host_ca, NID_key_usage, "critical,digitalSignature"),
		      ATTEST_OK);
	TU_ASSERT_ERR(attest_x509_sign_with(c, s), ATTEST_OK);
	return c;
}

/* db-01's signed inventory report (no agents) with these JWT keys; the
 * status, *rep the answer. Each report one second newer. */
static long db_report(struct verifier *v, const struct attest_signer *s, X509 *host_ca,
		      const struct attest_report_jwtkey *keys, size_t n, cJSON **rep)
{
	static uint64_t t;
	char *report = NULL, *body = NULL;
	size_t rlen = 0, blen = 0;
	long st;

	t = t == 0 ? (uint64_t)time(NULL) - 100 : t + 1;
	CU_ASSERT_FATAL(attest_agent_report_build_jwt("db-01", t, NULL, 0, keys, n, &report,
						      &rlen) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_agent_report_sign(report, rlen, s, host_ca, &body, &blen) ==
			ATTEST_OK);
	st = verifier_call(v, AS_NONE, "/v1/agents/report", body, rep);
	free(report);
	free(body);
	return st;
}

/* The verifier's bundle: its spiffe_sequence; *has 1 when a jwt-svid key
 * with kid is in it (its x5c[0] into x5c when given). */
static double bundle_jwt(struct verifier *v, const char *kid, int *has)
{
	cJSON *rep = NULL;
	const cJSON *k;
	double seq;

	*has = 0;
	CU_ASSERT_EQUAL(verifier_call(v, AS_NONE, "/v1/spiffe/bundle", NULL, &rep), 200);
	cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(rep, "keys"))
		if (strcmp(jstr(k, "use"), "jwt-svid") == 0 && strcmp(jstr(k, "kid"), kid) == 0 &&
		    strcmp(jstr(k, "kty"), "EC") == 0 && strcmp(jstr(k, "crv"), "P-256") == 0 &&
		    cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(k, "x5c")) >= 1)
			*has = 1;
	seq = jnum(rep, "spiffe_sequence");
	cJSON_Delete(rep);
	return seq;
}

/* A real attestd (web-01) pushing to a verifier: the Python client's
 * JWT-SVID, fetched through the Workload API, validates at the verifier
 * (POST /v1/spiffe/validate-jwt) for both its audiences once attestd's
 * signed inventory report carried the key, which the verifier's bundle
 * then serves (spiffe_sequence moved). Refused with the reason: another
 * audience, a tampered payload, a tampered signature, alg none and HS256,
 * an unknown kid; with a key of db-01 (certified by db-01's host CA,
 * reported in db-01's signed report): a sub of web-01's agent, an expired
 * token, a lifetime over an hour; a report with a key not certified by
 * db-01's host CA is refused whole (its good key not stored). The agent
 * revoked, then the host: refused ATTEST_E_REVOKED, and the host's keys
 * leave the bundle. attestd's audit log has the jwt-svid record, the
 * verifier's the jwt-validate records. */
static void test_verifier_validates_jwt(void)
{
	static struct vfleet e;
	static struct tu_tpm sw2;
	struct db_signer db = { 0 };
	struct attest_signer db_s, evil_s;
	char py[512], dir[700], script[800], gen[800], out[800], cmd[4000], state2[800];
	char kid[64] = "", dbkid[ATTEST_JWK_KID_MAX], kid2[ATTEST_JWK_KID_MAX], hdr[200], pl[600];
	char *real = NULL, *pyreal = realpath(PY, NULL), *token = NULL, *t, *b, *dbtok;
	cJSON *j, *rep = NULL;
	EVP_PKEY *dbkey = NULL, *key2 = NULL, *evil = NULL;
	X509 *dbcert = NULL, *cert2 = NULL, *forged = NULL;
	double seq0, seq1, seq2;
	int has, ok = 0;
	time_t now;

	if (pyreal == NULL || strlen(pyreal) >= sizeof(py) ||
	    tu_sh(PY " -c 'import grpc, grpc_tools.protoc, cryptography' 2>/dev/null") != 0) {
		CU_FAIL(PY ", python3-grpcio, python3-grpc-tools or python3-cryptography missing "
			"(make deps)");
		free(pyreal);
		return;
	}
	memcpy(py, pyreal, strlen(pyreal) + 1);
	free(pyreal);
	vfleet_host_up(&e, NULL);
	snprintf(dir, sizeof(dir), "%s/py", e.d.sw.dir);
	snprintf(script, sizeof(script), "%s/workload_client.py", dir);
	snprintf(gen, sizeof(gen), "%s/gen", e.d.sw.dir);
	snprintf(out, sizeof(out), "%s/jwt", e.d.sw.dir);
	CU_ASSERT_EQUAL_FATAL(tu_sh("mkdir -m 0755 '%s' '%s' && mkdir -m 0700 '%s' && "
				    "install -o 0 -g 0 -m 0644 "
				    "'%s/tests/spiffe/workload_client.py' '%s' && " PY " -m "
				    "grpc_tools.protoc -I'%s/attestd' -I/usr/include "
				    "--python_out='%s' --grpc_python_out='%s' "
				    "'%s/attestd/workload.proto'", dir, gen, out, srcdir(), script,
				    srcdir(), gen, gen, srcdir()), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(real = realpath(script, NULL));
	register_json(&e.d, "spiffepy", py, real, 600);
	/* before any JWT-SVID: no jwt-svid key in the verifier's bundle */
	seq0 = bundle_jwt(&e.v, "none", &has);

	/* a JWT-SVID through the Workload API; the verifier takes it once
	 * attestd's report carried the key, the agent and the host trusted
	 * (pushes every second; up to 90 s on a shared machine) */
	snprintf(cmd, sizeof(cmd), "%s -I '%s' '%s' jwt '%s' ehr-api billing", py, real, gen, out);
	for (int i = 0; i < 45 && !ok; i++) {
		long st;

		j = run_json(&e.d, cmd);
		CU_ASSERT_PTR_NOT_NULL_FATAL(j);
		CU_ASSERT_FATAL(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")));
		free(token);
		CU_ASSERT_PTR_NOT_NULL_FATAL(token = strdup(jstr(j, "token")));
		snprintf(kid, sizeof(kid), "%s",
			 jstr(cJSON_GetObjectItemCaseSensitive(j, "header"), "kid"));
		cJSON_Delete(j);
		st = jwt_validate(&e.v, token, "ehr-api", &rep);
		ok = st == 200;
		if (ok) {
			CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rep, "valid")));
			CU_ASSERT_STRING_EQUAL(jstr(rep, "reason"), "ATTEST_OK");
			CU_ASSERT_STRING_EQUAL(jstr(rep, "spiffe_id"), ID_PREFIX "spiffepy");
			CU_ASSERT_STRING_EQUAL(jstr(rep, "host"), "web-01");
			CU_ASSERT_STRING_EQUAL(jstr(rep, "kid"), kid);
			CU_ASSERT_STRING_EQUAL(jstr(cJSON_GetObjectItemCaseSensitive(rep, "claims"),
						    "sub"), ID_PREFIX "spiffepy");
		} else if (i == 44) {
			fprintf(stderr, "  validate-jwt: %ld %s %s\n", st, jstr(rep, "reason"),
				jstr(rep, "detail"));
		}
		cJSON_Delete(rep);
		rep = NULL;
		if (!ok)
			sleep(2);
	}
	CU_ASSERT_FATAL(ok);
	CU_ASSERT_EQUAL(jwt_validate(&e.v, token, "billing", &rep), 200);
	cJSON_Delete(rep);
	/* the bundle serves the key; the sequence moved */
	seq1 = bundle_jwt(&e.v, kid, &has);
	CU_ASSERT(has);
	CU_ASSERT(seq1 > seq0);

	/* refused, each with its reason */
	expect_jwt_refused(&e.v, token, "other-api", "ATTEST_E_JWT_AUDIENCE", "other-api");
	snprintf(pl, sizeof(pl), "{\"aud\":[\"ehr-api\"],\"exp\":%lld,\"iat\":%lld,\"sub\":\""
		 ID_PREFIX "spiffepy\"}", (long long)time(NULL) + 3000, (long long)time(NULL));
	b = b64u(pl);
	t = jwt_with(token, 1, b); /* another payload under the same signature */
	expect_jwt_refused(&e.v, t, "ehr-api", "ATTEST_E_JWT_SIGNATURE", kid);
	free(t);
	free(b);
	{
		const char *sig = strrchr(token, '.') + 1;
		char s2[100];

		snprintf(s2, sizeof(s2), "%s", sig);
		s2[0] = s2[0] == 'A' ? 'B' : 'A';
		t = jwt_with(token, 2, s2);
		expect_jwt_refused(&e.v, t, "ehr-api", "ATTEST_E_JWT_SIGNATURE", NULL);
		free(t);
	}
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"none\",\"kid\":\"%s\",\"typ\":\"JWT\"}", kid);
	b = b64u(hdr);
	t = jwt_with(token, 0, b);
	expect_jwt_refused(&e.v, t, "ehr-api", "ATTEST_E_JWT_ALG", "none");
	free(t);
	free(b);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"HS256\",\"kid\":\"%s\",\"typ\":\"JWT\"}", kid);
	b = b64u(hdr);
	t = jwt_with(token, 0, b);
	expect_jwt_refused(&e.v, t, "ehr-api", "ATTEST_E_JWT_ALG", "HS256");
	free(t);
	free(b);
	b = b64u("{\"alg\":\"ES256\",\"kid\":\"no-such-key\",\"typ\":\"JWT\"}");
	t = jwt_with(token, 0, b);
	expect_jwt_refused(&e.v, t, "ehr-api", "ATTEST_E_JWT_KID", "no-such-key");
	free(t);
	free(b);

	/* db-01, enrolled in the same fleet, reports a JWT key of its own */
	tu_tpm_start(&sw2);
	snprintf(state2, sizeof(state2), "%s/state", sw2.dir);
	tu_enrol_host_in(sw2.tcti, e.d.ca, state2, "db-01");
	CU_ASSERT_FATAL(attest_host_identity_load(state2, &db.id) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_tpm_open(sw2.tcti, &db.t) == ATTEST_OK);
	db_s = (struct attest_signer){ db_sign, &db, X509_get0_pubkey(db.id.host_ca), 0 };
	CU_ASSERT_FATAL((dbkey = EVP_EC_gen("P-256")) != NULL);
	dbcert = jwt_key_cert(db.id.host_ca, dbkey, &db_s);
	TU_ASSERT_ERR(attest_es256_jwk_thumbprint(dbkey, dbkid), ATTEST_OK);
	{
		struct attest_report_jwtkey k = { dbkid, dbcert };

		CU_ASSERT_EQUAL(db_report(&e.v, &db_s, db.id.host_ca, &k, 1, &rep), 200);
		cJSON_Delete(rep);
		rep = NULL;
	}
	(void)bundle_jwt(&e.v, dbkid, &has);
	CU_ASSERT(has);
	/* db-01's key signing for web-01's agent */
	now = time(NULL);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"JWT\"}", dbkid);
	snprintf(pl, sizeof(pl), "{\"aud\":[\"ehr-api\"],\"exp\":%lld,\"iat\":%lld,\"sub\":\""
		 ID_PREFIX "spiffepy\"}", (long long)now + 600, (long long)now);
	TU_ASSERT_ERR(attest_jws_sign(dbkey, hdr, pl, 8192, &dbtok), ATTEST_OK);
	expect_jwt_refused(&e.v, dbtok, "ehr-api", "ATTEST_E_JWT_SUBJECT", "host web-01");
	free(dbtok);
	/* expired */
	snprintf(pl, sizeof(pl), "{\"aud\":\"ehr-api\",\"exp\":%lld,\"iat\":%lld,\"sub\":\""
		 ID_PREFIX "spiffepy\"}", (long long)now - 10, (long long)now - 70);
	TU_ASSERT_ERR(attest_jws_sign(dbkey, hdr, pl, 8192, &dbtok), ATTEST_OK);
	expect_jwt_refused(&e.v, dbtok, "ehr-api", "ATTEST_E_JWT_EXPIRED", "expired");
	free(dbtok);
	/* a lifetime over an hour */
	snprintf(pl, sizeof(pl), "{\"aud\":\"ehr-api\",\"exp\":%lld,\"iat\":%lld,\"sub\":\""
		 ID_PREFIX "spiffepy\"}", (long long)now + 7200, (long long)now);
	TU_ASSERT_ERR(attest_jws_sign(dbkey, hdr, pl, 8192, &dbtok), ATTEST_OK);
	expect_jwt_refused(&e.v, dbtok, "ehr-api", "ATTEST_E_JWT_EXPIRED", "lifetime");
	free(dbtok);

	/* a forged key (its certificate names db-01's host CA, another key
	 * signed it) beside a good new one: the whole report refused, the
	 * good one not stored, db-01's key still served */
	CU_ASSERT_FATAL((key2 = EVP_EC_gen("P-256")) != NULL &&
			(evil = EVP_EC_gen("P-256")) != NULL);
	CU_ASSERT_FATAL(attest_signer_from_pkey(evil, &evil_s) == ATTEST_OK);
	cert2 = jwt_key_cert(db.id.host_ca, key2, &db_s);
	TU_ASSERT_ERR(attest_es256_jwk_thumbprint(key2, kid2), ATTEST_OK);
	{
		char fkid[ATTEST_JWK_KID_MAX];
		EVP_PKEY *fk = EVP_EC_gen("P-256");
		struct attest_report_jwtkey k[3] = { { dbkid, dbcert }, { kid2, cert2 },
						     { fkid, NULL } };

		CU_ASSERT_FATAL(fk != NULL);
		forged = jwt_key_cert(db.id.host_ca, fk, &evil_s);
		TU_ASSERT_ERR(attest_es256_jwk_thumbprint(fk, fkid), ATTEST_OK);
		k[2].cert = forged;
		long st = db_report(&e.v, &db_s, db.id.host_ca, k, 3, &rep);

		CU_ASSERT(st >= 400 && st < 500);
		CU_ASSERT_STRING_EQUAL(reply_reason(rep), "ATTEST_E_CHAIN_UNTRUSTED");
		cJSON_Delete(rep);
		rep = NULL;
		EVP_PKEY_free(fk);
	}
	(void)bundle_jwt(&e.v, kid2, &has);
	CU_ASSERT(!has);
	(void)bundle_jwt(&e.v, dbkid, &has);
	CU_ASSERT(has);

	/* the agent revoked at the verifier, then its host */
	CU_ASSERT_EQUAL(verifier_call(&e.v, AS_ADMIN, "/v1/agents/revoke",
				      "{\"agent\":\"" ID_PREFIX "spiffepy\",\"reason\":\"test\"}",
				      NULL), 200);
	expect_jwt_refused(&e.v, token, "ehr-api", "ATTEST_E_REVOKED", "agent");
	CU_ASSERT_EQUAL(verifier_call(&e.v, AS_ADMIN, "/v1/hosts/revoke",
				      "{\"host\":\"web-01\",\"reason\":\"test\"}", NULL), 200);
	expect_jwt_refused(&e.v, token, "ehr-api", "ATTEST_E_REVOKED", "host web-01");
	seq2 = bundle_jwt(&e.v, kid, &has);
	CU_ASSERT(!has);
	CU_ASSERT(seq2 > seq1);

	/* the records: attestd's jwt-svid (before the token left), the
	 * verifier's jwt-validate (valid and refused) */
	CU_ASSERT_EQUAL(tu_sh("grep -raq '\"type\":\"jwt-svid\".*\"agents\":\\[\"" ID_PREFIX
			      "spiffepy\"\\],\"scopes\":\\[\"ehr-api\",\"billing\"\\]' '%s'",
			      e.d.state), 0);
	CU_ASSERT_EQUAL(tu_sh("grep -raq '\"type\":\"jwt-validate\".*\"outcome\":\"allow\"' '%s' && "
			      "grep -raq '\"type\":\"jwt-validate\".*\"reason\":\"ATTEST_E_JWT_ALG' "
			      "'%s'", e.v.dir, e.v.dir), 0);

	X509_free(dbcert);
	X509_free(cert2);
	X509_free(forged);
	EVP_PKEY_free(dbkey);
	EVP_PKEY_free(key2);
	EVP_PKEY_free(evil);
	attest_host_identity_clear(&db.id);
	attest_tpm_close(db.t);
	tu_tpm_stop(&sw2);
	free(token);
	free(real);
	vfleet_down(&e);
}

/* ---------- federation ---------- */

/* Wait (up to 90 s: shared machines) for path to exist. */
static int wait_file(const char *path)
{
	for (int i = 0; i < 1800; i++) {
		if (access(path, F_OK) == 0)
			return 1;
		usleep(50 * 1000);
	}
	return 0;
}

/* Wait (up to 90 s) until the one federated trust domain's state is want. */
static int fed_state_wait(struct daemon *d, const char *want)
{
	for (int i = 0; i < 450; i++) {
		cJSON *reply = NULL;
		int same = 0;

		if (admin_call(d, "{\"op\":\"federation\"}", &reply) == ATTEST_OK)
			same = strcmp(jstr(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(reply,
							       "federations"), 0), "state"), want) == 0;
		cJSON_Delete(reply);
		if (same)
			return 1;
		usleep(200 * 1000);
	}
	return 0;
}

/* An admin request's refusal: its code, and detail containing why. */
static void expect_admin_refusal(struct daemon *d, const char *json, int code, const char *why)
{
	cJSON *reply = NULL;

	TU_ASSERT_ERR(admin_call(d, json, &reply), code);
	if (!strstr(attest_errdetail(), why))
		fprintf(stderr, "  want \"%s\" in \"%s\"\n", why, attest_errdetail());
	CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), why));
	cJSON_Delete(reply);
}

/* The operator federates another trust domain while a Python client holds
 * a FetchX509Bundles and a FetchX509SVID stream open: the domain's bundle
 * (fetched from a bundle endpoint over https_web: here a verifier's
 * GET /v1/spiffe/bundle, its TLS CA pinned) appears on both streams, the
 * same bytes; unfederated, it goes from the open stream. Its own trust
 * domain, an http URL, a CA that is no PEM and a name with capitals are
 * refused; the list is root's (STATE/federation.json, 0600) and each
 * change is in the audit log. */
static void test_federation(void)
{
	static struct daemon d;
	static struct verifier v;
	char py[512], dir[700], script[800], gen[800], out[800], cmd[4000], path[4200];
	char *real = NULL, *pyreal = realpath(PY, NULL), *ca = NULL, *json = NULL;
	cJSON *req, *reply = NULL, *j = NULL, *fed;

	if (pyreal == NULL || strlen(pyreal) >= sizeof(py) ||
	    tu_sh(PY " -c 'import grpc, grpc_tools.protoc' 2>/dev/null") != 0) {
		CU_FAIL(PY " with python3-grpcio and python3-grpc-tools missing (make deps)");
		free(pyreal);
		return;
	}
	memcpy(py, pyreal, strlen(pyreal) + 1);
	free(pyreal);
	daemon_up(&d);
	verifier_up(&v, d.ca, NULL); /* the other domain's bundle endpoint */
	snprintf(dir, sizeof(dir), "%s/py", d.sw.dir);
	snprintf(script, sizeof(script), "%s/workload_client.py", dir);
	snprintf(gen, sizeof(gen), "%s/gen", d.sw.dir);
	snprintf(out, sizeof(out), "%s/fed", d.sw.dir);
	CU_ASSERT_EQUAL_FATAL(tu_sh("mkdir -m 0755 '%s' '%s' && mkdir -m 0700 '%s' && install -o 0 "
				    "-g 0 -m 0644 '%s/tests/spiffe/workload_client.py' '%s' && " PY
				    " -m grpc_tools.protoc -I'%s/attestd' -I/usr/include "
				    "--python_out='%s' --grpc_python_out='%s' "
				    "'%s/attestd/workload.proto'", dir, gen, out, srcdir(), script,
				    srcdir(), gen, gen, srcdir()), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(real = realpath(script, NULL));
	register_json(&d, "spiffefed", py, real, 600);

	/* the client's streams, open in the background */
	{
		char wl[700];

		workload_path(&d, wl, sizeof(wl));
		CU_ASSERT_EQUAL_FATAL(tu_sh("cd '%s' && (env -i PATH=/usr/bin:/bin "
					    "SPIFFE_ENDPOINT_SOCKET=unix://%s %s -I '%s' '%s' "
					    "federation '%s' partner.example >fed.out 2>fed.err &)",
					    d.sw.dir, wl, py, real, gen, out), 0);
	}
	snprintf(path, sizeof(path), "%s/ready", out);
	CU_ASSERT_FATAL(wait_file(path));

	/* refusals: nothing changes for them */
	snprintf(path, sizeof(path), "%s", v.cacert);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ca = tu_slurp(path, NULL));
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "op", "federate");
	cJSON_AddStringToObject(req, "trust_domain", "fleet.example");
	snprintf(cmd, sizeof(cmd), "%s/v1/spiffe/bundle", v.url);
	cJSON_AddStringToObject(req, "bundle_url", cmd);
	cJSON_AddStringToObject(req, "ca_pem", ca);
	json = cJSON_PrintUnformatted(req);
	expect_admin_refusal(&d, json, ATTEST_E_PARSE, "this fleet's own trust domain");
	free(json);
	cJSON_ReplaceItemInObject(req, "trust_domain", cJSON_CreateString("Partner.example"));
	json = cJSON_PrintUnformatted(req);
	expect_admin_refusal(&d, json, ATTEST_E_PARSE, "[a-z0-9.-_]");
	free(json);
	cJSON_ReplaceItemInObject(req, "trust_domain", cJSON_CreateString("partner.example"));
	snprintf(path, sizeof(path), "http://%.50s/v1/spiffe/bundle", v.url + 8);
	cJSON_ReplaceItemInObject(req, "bundle_url", cJSON_CreateString(path));
	json = cJSON_PrintUnformatted(req);
	expect_admin_refusal(&d, json, ATTEST_E_PARSE, "https://");
	free(json);
	cJSON_ReplaceItemInObject(req, "bundle_url", cJSON_CreateString(cmd));
	cJSON_ReplaceItemInObject(req, "ca_pem", cJSON_CreateString("not a certificate"));
	json = cJSON_PrintUnformatted(req);
	expect_admin_refusal(&d, json, ATTEST_E_PARSE, "no PEM certificate");
	free(json);
	expect_admin_refusal(&d, "{\"op\":\"unfederate\",\"trust_domain\":\"partner.example\"}",
			     ATTEST_E_NOT_FOUND, "not federated");

	/* the operator adds it */
	cJSON_ReplaceItemInObject(req, "ca_pem", cJSON_CreateString(ca));
	json = cJSON_PrintUnformatted(req);
	TU_ASSERT_ERR(admin_call(&d, json, &reply), ATTEST_OK);
	free(json);
	fed = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(reply, "federations"), 0);
	CU_ASSERT_STRING_EQUAL(jstr(fed, "trust_domain"), "partner.example");
	CU_ASSERT_STRING_EQUAL(jstr(fed, "bundle_url"), cmd);
	cJSON_Delete(reply);
	reply = NULL;
	cJSON_Delete(req);

	/* on both open streams */
	snprintf(path, sizeof(path), "%s/seen", out);
	CU_ASSERT(wait_file(path));
	CU_ASSERT_EQUAL(tu_sh("[ \"$(openssl x509 -in '%s/root.pem' -noout -fingerprint -sha256)\" = "
			      "\"$(openssl x509 -in '%s/fed.pem' -noout -fingerprint -sha256)\" ]",
			      d.ca, out), 0);
	/* the state: ok, the endpoint's one X.509 authority */
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"federation\"}", &reply), ATTEST_OK);
	fed = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(reply, "federations"), 0);
	CU_ASSERT_STRING_EQUAL(jstr(fed, "state"), "ok");
	CU_ASSERT(jnum(fed, "x509_authorities") == 1);
	cJSON_Delete(reply);
	reply = NULL;
	CU_ASSERT_EQUAL(tu_sh("[ \"$(stat -c %%a '%s/federation.json')\" = 600 ] && grep -q "
			      "partner.example '%s/federation.json'", d.state, d.state), 0);

	/* removed: gone from the open stream */
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"unfederate\",\"trust_domain\":"
				     "\"partner.example\"}", &reply), ATTEST_OK);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(reply, "federations")),
			0);
	cJSON_Delete(reply);
	snprintf(path, sizeof(path), "%s/fed.out", d.sw.dir);
	for (int i = 0; i < 1800 && (j == NULL); i++) {
		char *text = tu_slurp(path, NULL);

		if (text != NULL && text[0] != '\0')
			j = cJSON_Parse(text);
		free(text);
		if (j == NULL)
			usleep(50 * 1000);
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")))
		fprintf(stderr, "  federation client: %s: %s\n", jstr(j, "code"), jstr(j, "details"));
	CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")));
	CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "first_had_td")));
	CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "svid_fed_equal")));
	cJSON_Delete(j);
	/* each change audited (the log's records are JSON) */
	CU_ASSERT_EQUAL(tu_sh("grep -rqa '\"federate\"' '%s/audit' && grep -rqa '\"unfederate\"' "
			      "'%s/audit'", d.state, d.state), 0);

	/* kept on last good: federated again and fetched; the endpoint gone
	 * and the entry federated again unchanged (a fetch now): it fails,
	 * the state says stale with the reason, and the bundle is still
	 * served to a new client */
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "op", "federate");
	cJSON_AddStringToObject(req, "trust_domain", "partner.example");
	cJSON_AddStringToObject(req, "bundle_url", cmd);
	cJSON_AddStringToObject(req, "ca_pem", ca);
	json = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	TU_ASSERT_ERR(admin_call(&d, json, &reply), ATTEST_OK);
	cJSON_Delete(reply);
	CU_ASSERT(fed_state_wait(&d, "ok"));
	verifier_down(&v);
	TU_ASSERT_ERR(admin_call(&d, json, &reply), ATTEST_OK);
	cJSON_Delete(reply);
	free(json);
	CU_ASSERT(fed_state_wait(&d, "stale"));
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"federation\"}", &reply), ATTEST_OK);
	fed = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(reply, "federations"), 0);
	CU_ASSERT(jnum(fed, "x509_authorities") == 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(jstr(fed, "last_error"), "ATTEST_E_"));
	cJSON_Delete(reply);
	snprintf(cmd, sizeof(cmd), "%s -I '%s' '%s' bundles '%s'", py, real, gen, out);
	j = run_json(&d, cmd);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j,
										 "trust_domains")), 2);
	CU_ASSERT_STRING_EQUAL(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j,
						  "trust_domains"), 1)->valuestring,
			       "spiffe://partner.example");
	cJSON_Delete(j);
	free(ca);
	free(real);
	daemon_down(&d);
}

/* Bundles made here with openssl: a CA certificate and its key as the
 * x509-svid and jwt-svid keys of a SPIFFE bundle. */
struct fedkeys {
	char x5c[4096], leaf_x5c[4096], x[64], y[64], lx[64];
};

static void b64_der_of(const char *pem_path, char *out, size_t outsz, char *xb, char *yb)
{
	FILE *f = fopen(pem_path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	unsigned char *der = NULL;
	char *b = NULL;
	BIGNUM *bx = NULL, *by = NULL;
	uint8_t buf[32];
	int n;

	if (f != NULL)
		fclose(f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(x);
	n = i2d_X509(x, &der);
	CU_ASSERT_FATAL(n > 0 && attest_b64_encode(der, (size_t)n, &b) == ATTEST_OK);
	snprintf(out, outsz, "%s", b);
	free(b);
	OPENSSL_free(der);
	CU_ASSERT_FATAL(EVP_PKEY_get_bn_param(X509_get0_pubkey(x), "qx", &bx) == 1 &&
			EVP_PKEY_get_bn_param(X509_get0_pubkey(x), "qy", &by) == 1);
	BN_bn2binpad(bx, buf, 32);
	CU_ASSERT_FATAL(attest_b64url_encode(buf, 32, &b) == ATTEST_OK);
	snprintf(xb, 64, "%s", b);
	free(b);
	BN_bn2binpad(by, buf, 32);
	CU_ASSERT_FATAL(attest_b64url_encode(buf, 32, &b) == ATTEST_OK);
	if (yb != NULL)
		snprintf(yb, 64, "%s", b);
	free(b);
	BN_free(bx);
	BN_free(by);
	X509_free(x);
}

static int parse_code(const char *json, struct fed_bundle *b)
{
	int r = fed_bundle_parse(json, strlen(json), b);

	if (r != ATTEST_OK)
		fed_bundle_clear(b);
	return r;
}

/* The bundle parser a federated endpoint's answer goes through: a good
 * bundle's authority and JWT key kept, another use ignored, the refresh
 * hint clamped; refused: x5c of two certificates, a leaf as authority, a
 * JWK that is not its certificate's key, a JWT key without kid or twice,
 * off its curve, symmetric (kty oct: an HS256 key), no usable key, a
 * sequence that is no whole number, over the key cap, a member twice. */
static void test_federation_parser(void)
{
	static struct fedkeys k;
	char dir[] = "/tmp/fedparseXXXXXX", path[200], ly[64];
	char *json = malloc(400000), *p;
	struct fed_bundle b = { 0 };
	size_t off;

	CU_ASSERT_PTR_NOT_NULL_FATAL(json);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	CU_ASSERT_EQUAL_FATAL(tu_sh("cd '%s' && for n in ca leaf; do openssl req -x509 -newkey ec "
				    "-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $n.key -out "
				    "$n.pem -subj /CN=$n -days 1 -addext basicConstraints=critical,"
				    "CA:$( [ $n = ca ] && echo TRUE || echo FALSE) 2>/dev/null || "
				    "exit 1; done", dir), 0);
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	b64_der_of(path, k.x5c, sizeof(k.x5c), k.x, k.y);
	snprintf(path, sizeof(path), "%s/leaf.pem", dir);
	b64_der_of(path, k.leaf_x5c, sizeof(k.leaf_x5c), k.lx, ly);
#define X509KEY(x5c, x) "{\"use\":\"x509-svid\",\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\"," \
	"\"y\":\"%s\",\"x5c\":[%s]}", x, k.y, x5c
#define JWTKEY(kid, x, y) "{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"" kid \
	"\",\"x\":\"%s\",\"y\":\"%s\"}", x, y

	/* good: one authority, one JWT key, another use ignored */
	{
		char x5c[8400];

		snprintf(x5c, sizeof(x5c), "\"%s\"", k.x5c);
		off = (size_t)snprintf(json, 400000, "{\"keys\":[");
		off += (size_t)snprintf(json + off, 400000 - off, X509KEY(x5c, k.x));
		off += (size_t)snprintf(json + off, 400000 - off, ",");
		off += (size_t)snprintf(json + off, 400000 - off, JWTKEY("k1", k.x, k.y));
		off += (size_t)snprintf(json + off, 400000 - off,
					",{\"use\":\"something-else\",\"kty\":\"x\"}],"
					"\"spiffe_sequence\":5,\"spiffe_refresh_hint\":1}");
		TU_ASSERT_ERR(parse_code(json, &b), ATTEST_OK);
		CU_ASSERT_EQUAL(b.nx509, 1);
		CU_ASSERT_EQUAL(b.njwt, 1);
		CU_ASSERT(b.has_seq && b.seq == 5);
		CU_ASSERT_EQUAL(b.refresh_s, FED_REFRESH_MIN);
		CU_ASSERT_PTR_NOT_NULL(b.jwks != NULL ? strstr(b.jwks, "\"kid\":\"k1\"") : NULL);
		fed_bundle_clear(&b);

		/* a refresh hint over the cap is lowered; none is the default */
		p = strstr(json, "\"spiffe_refresh_hint\":1}");
		snprintf(p, 64, "\"spiffe_refresh_hint\":999999}");
		TU_ASSERT_ERR(parse_code(json, &b), ATTEST_OK);
		CU_ASSERT_EQUAL(b.refresh_s, FED_REFRESH_MAX);
		fed_bundle_clear(&b);

		/* a sequence that is no whole number */
		p = strstr(json, "\"spiffe_sequence\":5");
		memcpy(p, "\"spiffe_sequence\":\"", 19);
		/* now "spiffe_sequence":" ... no longer JSON or a string: refused */
		CU_ASSERT(parse_code(json, &b) != ATTEST_OK);
		memcpy(p, "\"spiffe_sequence\":5", 19);

		/* x5c of two certificates */
		snprintf(x5c, sizeof(x5c), "\"%s\",\"%s\"", k.x5c, k.x5c);
		off = (size_t)snprintf(json, 400000, "{\"keys\":[" X509KEY(x5c, k.x));
		snprintf(json + off, 400000 - off, "]}");
	}
	TU_ASSERT_ERR(parse_code(json, &b), ATTEST_E_PARSE);
	CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "exactly one certificate"));
	/* a leaf (CA:FALSE) as the authority */
	{
		char x5c[8400];

		snprintf(x5c, sizeof(x5c), "\"%s\"", k.leaf_x5c);
		off = (size_t)snprintf(json, 400000, "{\"keys\":[");
		off += (size_t)snprintf(json + off, 400000 - off, X509KEY(x5c, k.lx));
		snprintf(json + off, 400000 - off, "]}");
		TU_ASSERT_ERR(parse_code(json, &b), ATTEST_E_PARSE);
		CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "no CA certificate"));
		/* the JWK of another key than its certificate's */
		snprintf(x5c, sizeof(x5c), "\"%s\"", k.x5c);
		off = (size_t)snprintf(json, 400000, "{\"keys\":[");
		off += (size_t)snprintf(json + off, 400000 - off, X509KEY(x5c, k.lx));
		snprintf(json + off, 400000 - off, "]}");
		TU_ASSERT_ERR(parse_code(json, &b), ATTEST_E_PARSE);
		CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "not the public key"));
	}
	/* a JWT key: without kid; twice; off the curve; symmetric */
	snprintf(json, 400000, "{\"keys\":[{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"crv\":\"P-256\","
		 "\"x\":\"%s\",\"y\":\"%s\"}]}", k.x, k.y);
	TU_ASSERT_ERR(parse_code(json, &b), ATTEST_E_PARSE);
	CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "kid"));
	off = (size_t)snprintf(json, 400000, "{\"keys\":[");
	off += (size_t)snprintf(json + off, 400000 - off, JWTKEY("k1", k.x, k.y));
	off += (size_t)snprintf(json + off, 400000 - off, ",");
	off += (size_t)snprintf(json + off, 400000 - off, JWTKEY("k1", k.x, k.y));
	snprintf(json + off, 400000 - off, "]}");
	TU_ASSERT_ERR(parse_code(json, &b), ATTEST_E_DUPLICATE_KEY);
	off = (size_t)snprintf(json, 400000, "{\"keys\":[");
	off += (size_t)snprintf(json + off, 400000 - off, JWTKEY("k1", k.x, ly));
	snprintf(json + off, 400000 - off, "]}");
	TU_ASSERT_ERR(parse_code(json, &b), ATTEST_E_PARSE);
	CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "not an EC public key"));
	snprintf(json, 400000, "{\"keys\":[{\"use\":\"jwt-svid\",\"kty\":\"oct\",\"kid\":\"h\","
		 "\"k\":\"c2VjcmV0\",\"alg\":\"HS256\"}]}");
	TU_ASSERT_ERR(parse_code(json, &b), ATTEST_E_PARSE);
	CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "kty must be EC or RSA"));
	/* nothing usable; no keys; a member twice */
	TU_ASSERT_ERR(parse_code("{\"keys\":[{\"use\":\"other\"}]}", &b), ATTEST_E_PARSE);
	TU_ASSERT_ERR(parse_code("{\"keys\":[]}", &b), ATTEST_E_PARSE);
	TU_ASSERT_ERR(parse_code("{\"keys\":[{\"use\":\"other\"}],\"keys\":[]}", &b),
		      ATTEST_E_DUPLICATE_KEY);
	TU_ASSERT_ERR(parse_code("{\"keys\":[{\"use\":\"other\"}],\"spiffe_sequence\":1.5}", &b),
		      ATTEST_E_PARSE);
	TU_ASSERT_ERR(parse_code("{\"keys\":[{\"use\":\"other\"}],\"spiffe_sequence\":-1}", &b),
		      ATTEST_E_PARSE);
	/* over the key cap */
	off = (size_t)snprintf(json, 400000, "{\"keys\":[");
	for (int i = 0; i <= FED_KEYS_MAX; i++)
		off += (size_t)snprintf(json + off, 400000 - off, "%s{\"use\":\"other\"}",
					i ? "," : "");
	snprintf(json + off, 400000 - off, "]}");
	TU_ASSERT_ERR(parse_code(json, &b), ATTEST_E_PARSE);
	CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "1-32 keys"));
	(void)tu_sh("rm -rf '%s'", dir);
	free(json);
#undef X509KEY
#undef JWTKEY
}

/* ---------- the name-constraints option (issue 14 item 4) ---------- */

static void write_pem(const char *path, X509 *const *certs, int n)
{
	FILE *f = fopen(path, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	for (int i = 0; i < n; i++)
		CU_ASSERT(PEM_write_X509(f, certs[i]) == 1);
	fclose(f);
}

static int has_nc(X509 *c)
{
	return X509_get_ext_by_NID(c, NID_name_constraints, -1) >= 0;
}

/* A fleet made with the option on and off (issuing CA, then host CA,
 * agent CA and session issuer made as attestd makes them, in software):
 * every CA certificate carries the critical URI name constraint exactly
 * when the option is on (the choice is inherited down the chain); both
 * chains verify with OpenSSL and pass libattest's path rule; a leaf of
 * another trust domain forged under the unconstrained agent CA passes
 * OpenSSL (what a stock stack no longer gets) and is refused by
 * attest_verify_path (what libattest still enforces), while OpenSSL
 * refuses it under the constrained one. When a python3 with
 * pyca/cryptography's verifier (>= 42) is on PATH, it refuses the
 * constrained chain ("unsupported name constraint") and accepts the
 * other; Debian 12's 38 cannot parse attestd's certificates at all
 * (2.25.<UUID> arcs over 64 bits): docs/x509.md. */
static void test_name_constraints_option(void)
{
	char dir[] = "/tmp/ncoptXXXXXX", path[200];
	int pyca = tu_sh("python3 -c 'import cryptography.x509.verification' 2>/dev/null") == 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	for (int nc = 1; nc >= 0; nc--) {
		EVP_PKEY *ik = NULL, *lk = NULL, *sk = NULL;
		X509 *ic = NULL, *hca = NULL, *aca = NULL, *sess = NULL, *leaf = NULL, *forged = NULL;
		struct attest_signer as;
		struct attest_leaf_params lp = { 0 };
		STACK_OF(X509) *chain = sk_X509_new_null();
		X509 *certs[3];

		TU_ASSERT_ERR(attest_x509_make_issuing_ca_nc(fz_pkey(FZ_KEY_ROOT), fz_root(), FZ_TD, 1,
							     nc, &ik, &ic), ATTEST_OK);
		fz_agent_ca_under(ik, ic, &hca, &aca);
		CU_ASSERT_FATAL(attest_p256_keygen(&lk) == ATTEST_OK &&
				attest_p256_keygen(&sk) == ATTEST_OK);
		TU_ASSERT_ERR(attest_signer_from_pkey(fz_pkey(FZ_KEY_AGENT), &as), ATTEST_OK);
		lp.pub = lk;
		lp.ttl = 300;
		TU_ASSERT_ERR(attest_x509_make_leaf(aca, &lp, &as, &leaf), ATTEST_OK);
		TU_ASSERT_ERR(attest_x509_make_session_issuer(aca, sk, 600, &as, &sess), ATTEST_OK);
		CU_ASSERT_EQUAL(has_nc(ic), nc);
		CU_ASSERT_EQUAL(has_nc(hca), nc);
		CU_ASSERT_EQUAL(has_nc(aca), nc);
		CU_ASSERT_EQUAL(has_nc(sess), nc);
		/* OpenSSL and libattest's path rule: the honest chain */
		snprintf(path, sizeof(path), "%s/root.pem", dir);
		write_pem(path, (X509 *[]){ fz_root() }, 1);
		certs[0] = aca;
		certs[1] = hca;
		certs[2] = ic;
		snprintf(path, sizeof(path), "%s/chain%d.pem", dir, nc);
		write_pem(path, certs, 3);
		snprintf(path, sizeof(path), "%s/leaf%d.pem", dir, nc);
		write_pem(path, &leaf, 1);
		CU_ASSERT_EQUAL(tu_sh("cd '%s' && openssl verify -CAfile root.pem -untrusted chain%d.pem "
				      "leaf%d.pem >/dev/null", dir, nc, nc), 0);
		CU_ASSERT_FATAL(chain != NULL && sk_X509_push(chain, leaf) && sk_X509_push(chain, aca) &&
				sk_X509_push(chain, hca) && sk_X509_push(chain, ic));
		TU_ASSERT_ERR(attest_verify_path(chain), ATTEST_OK);
		/* a leaf for another trust domain, signed by the agent CA's key */
		{
			X509 *c = X509_new();
			ASN1_TIME *t;

			CU_ASSERT_FATAL(c != NULL && X509_set_version(c, X509_VERSION_3) == 1 &&
					(t = X509_gmtime_adj(X509_getm_notBefore(c), -60)) != NULL &&
					X509_gmtime_adj(X509_getm_notAfter(c), 300) != NULL &&
					X509_set_pubkey(c, lk) == 1 &&
					X509_set_issuer_name(c, X509_get_subject_name(aca)) == 1);
			CU_ASSERT_FATAL(attest_x509_random_serial(c) == ATTEST_OK);
			CU_ASSERT_FATAL(attest_x509_add_ext(c, aca, NID_basic_constraints,
							    "critical,CA:FALSE") == ATTEST_OK &&
					attest_x509_add_ext(c, aca, NID_key_usage,
							    "critical,digitalSignature") == ATTEST_OK &&
					attest_x509_add_ext(c, aca, NID_authority_key_identifier,
							    "keyid:always") == ATTEST_OK &&
					attest_x509_add_ext(c, aca, NID_subject_alt_name,
							    "critical,URI:spiffe://bank.example/teller")
						== ATTEST_OK);
			CU_ASSERT_FATAL(attest_x509_sign_with(c, &as) == ATTEST_OK);
			forged = c;
		}
		snprintf(path, sizeof(path), "%s/forged%d.pem", dir, nc);
		write_pem(path, &forged, 1);
		CU_ASSERT_EQUAL(tu_sh("cd '%s' && openssl verify -CAfile root.pem -untrusted chain%d.pem "
				      "forged%d.pem >/dev/null 2>&1", dir, nc, nc) != 0,
				nc);
		(void)sk_X509_set(chain, 0, forged);
		TU_ASSERT_ERR(attest_verify_path(chain), ATTEST_E_PATH);
		/* pyca/cryptography's verifier, when there is one */
		if (pyca) {
			int rc = tu_sh("cd '%s' && python3 -c \"import datetime\n"
				       "from cryptography import x509\n"
				       "from cryptography.x509.verification import PolicyBuilder, Store\n"
				       "L=lambda p: x509.load_pem_x509_certificates(open(p,'rb').read())\n"
				       "v=PolicyBuilder().store(Store(L('root.pem')))"
				       ".time(datetime.datetime.now(datetime.timezone.utc))"
				       ".build_client_verifier()\n"
				       "v.verify(L('leaf%d.pem')[0], L('chain%d.pem'))\n\" "
				       ">pyca%d.out 2>&1", dir, nc, nc, nc);

			CU_ASSERT_EQUAL(rc != 0, nc);
			if (nc)
				CU_ASSERT_EQUAL(tu_sh("grep -q 'unsupported name constraint' '%s/pyca1.out'",
						      dir), 0);
		} else if (nc == 0) {
			fprintf(stderr, "  (no pyca/cryptography >= 42 on PATH: its verifier not run)\n");
		}
		sk_X509_free(chain);
		X509_free(forged);
		X509_free(leaf);
		X509_free(sess);
		X509_free(aca);
		X509_free(hca);
		X509_free(ic);
		EVP_PKEY_free(ik);
		EVP_PKEY_free(lk);
		EVP_PKEY_free(sk);
	}
	(void)tu_sh("rm -rf '%s'", dir);
}

/* ---------- decisions for agents of a federated trust domain ---------- */

/* A certificate made here: a new P-256 key, issued by (ca, cakey) or
 * self-signed (ca NULL), one URI SAN, a CA or an X.509-SVID leaf, valid
 * from now + from_s to now + to_s. PEM, malloc'd; the key in *key_out. */
static char *fed_cert(X509 *ca, EVP_PKEY *cakey, const char *uri, int is_ca, long from_s,
		      long to_s, X509 **cert_out, EVP_PKEY **key_out)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509V3_CTX ctx;
	char san[600];
	const char *ext[][2] = {
		{ "basicConstraints", is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE" },
		{ "keyUsage", is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature" },
		{ "subjectKeyIdentifier", "hash" },
		{ "authorityKeyIdentifier", "keyid:always" },
		{ "extendedKeyUsage", is_ca ? NULL : "clientAuth,serverAuth" },
		{ "subjectAltName", san },
	};
	uint8_t serial[16];
	BIGNUM *bn;
	BIO *b = BIO_new(BIO_s_mem());
	char *pem = NULL, *data;
	long n;

	CU_ASSERT_FATAL(k != NULL && x != NULL && b != NULL);
	snprintf(san, sizeof(san), "URI:%s", uri);
	CU_ASSERT_FATAL(RAND_bytes(serial, sizeof(serial)) == 1);
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	CU_ASSERT_FATAL(bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL);
	BN_free(bn);
	CU_ASSERT_FATAL(X509_set_version(x, 2) == 1 && X509_set_pubkey(x, k) == 1);
	CU_ASSERT_FATAL(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O", MBSTRING_ASC,
						   (const unsigned char *)(is_ca ? "fed CA" : "fed leaf"),
						   -1, -1, 0) == 1);
	CU_ASSERT_FATAL(X509_set_issuer_name(x, ca != NULL ? X509_get_subject_name(ca)
							   : X509_get_subject_name(x)) == 1);
	CU_ASSERT_FATAL(X509_gmtime_adj(X509_getm_notBefore(x), from_s) != NULL &&
			X509_gmtime_adj(X509_getm_notAfter(x), to_s) != NULL);
	X509V3_set_ctx(&ctx, ca != NULL ? ca : x, x, NULL, NULL, 0);
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		X509_EXTENSION *e;

		if (ext[i][1] == NULL || (ca == NULL && strcmp(ext[i][0], "authorityKeyIdentifier") == 0))
			continue;
		e = X509V3_EXT_conf(NULL, &ctx, ext[i][0], ext[i][1]);
		CU_ASSERT_FATAL(e != NULL && X509_add_ext(x, e, -1) == 1);
		X509_EXTENSION_free(e);
	}
	CU_ASSERT_FATAL(X509_sign(x, ca != NULL ? cakey : k, EVP_sha256()) > 0);
	CU_ASSERT_FATAL(PEM_write_bio_X509(b, x) == 1);
	n = BIO_get_mem_data(b, &data);
	CU_ASSERT_FATAL(n > 0 && (pem = strndup(data, (size_t)n)) != NULL);
	BIO_free(b);
	if (cert_out != NULL)
		*cert_out = x;
	else
		X509_free(x);
	if (key_out != NULL)
		*key_out = k;
	else
		EVP_PKEY_free(k);
	return pem;
}

/* POST /v1/decide for chain (PEM) on resource: the HTTP status, and the
 * reply's reason, federated flag and trust domain checked. */
static void fed_decide(struct verifier *v, const char *chain, const char *resource,
		       long want_status, const char *want_reason, const char *want_td)
{
	cJSON *req = cJSON_CreateObject(), *rep = NULL;
	char *body;
	long st;

	cJSON_AddStringToObject(req, "chain", chain);
	cJSON_AddStringToObject(req, "action", "read");
	cJSON_AddStringToObject(req, "resource", resource);
	body = cJSON_PrintUnformatted(req);
	st = verifier_call(v, AS_RESOURCE, "/v1/decide", body, &rep);
	if (st != want_status || strcmp(jstr(rep, "reason"), want_reason) != 0)
		fprintf(stderr, "  decide %s: got %ld %s, want %ld %s\n", resource, st,
			jstr(rep, "reason"), want_status, want_reason);
	CU_ASSERT_EQUAL(st, want_status);
	CU_ASSERT_STRING_EQUAL(jstr(rep, "reason"), want_reason);
	if (want_td != NULL) {
		CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rep, "federated")));
		CU_ASSERT_STRING_EQUAL(jstr(rep, "trust_domain"), want_td);
	} else {
		CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(rep, "federated"));
	}
	cJSON_Delete(rep);
	free(body);
	cJSON_Delete(req);
}

/* GET /invoices/7 through /v1/authz (the proxy's view) with leaf as the
 * forwarded client certificate: the HTTP status and the X-Attest-Reason
 * and X-Attest-Federated headers. */
static void fed_authz(struct verifier *v, const char *leaf, long want_status,
		      const char *want_reason, const char *want_fed)
{
	char esc[8192], hdrs[800], cmd[1200];
	size_t o = 0;
	char *h = NULL;

	for (size_t i = 0; leaf[i] != '\0' && o + 4 < sizeof(esc); i++) {
		unsigned char c = (unsigned char)leaf[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_')
			esc[o++] = (char)c;
		else
			o += (size_t)snprintf(esc + o, 4, "%%%02X", c);
	}
	esc[o] = '\0';
	snprintf(hdrs, sizeof(hdrs), "%s/authz.h", v->dir);
	snprintf(cmd, sizeof(cmd), "%s/authz.cert", v->dir);
	tu_write(cmd, esc, strlen(esc));
	CU_ASSERT_EQUAL_FATAL(tu_sh("curl -s -o /dev/null -D '%s' --cacert '%s' --cert '%s.pem' "
				    "--key '%s.key' -H 'X-Original-Method: GET' "
				    "-H 'X-Original-URI: /invoices/7' -H \"X-Client-Cert: $(cat "
				    "'%s')\" '%s/v1/authz'", hdrs, v->cacert, v->resource,
				    v->resource, cmd, v->url), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h = tu_slurp(hdrs, NULL));
	{
		char line[200];

		snprintf(line, sizeof(line), "HTTP/1.1 %ld", want_status);
		CU_ASSERT_PTR_NOT_NULL(strstr(h, line));
		snprintf(line, sizeof(line), "X-Attest-Reason: %s\r", want_reason);
		CU_ASSERT_PTR_NOT_NULL(strstr(h, line));
		if (want_fed != NULL) {
			snprintf(line, sizeof(line), "X-Attest-Federated: %s\r", want_fed);
			CU_ASSERT_PTR_NOT_NULL(strstr(h, line));
		} else {
			CU_ASSERT_PTR_NULL(strstr(h, "X-Attest-Federated"));
		}
		if (strstr(h, line) == NULL)
			fprintf(stderr, "  authz: want %s in\n%s\n", line, h);
	}
	free(h);
}

/* The state of the one federated domain in /v1/health ("" none). */
static int fed_health_wait(struct verifier *v, const char *want)
{
	for (int i = 0; i < 300; i++) {
		cJSON *rep = NULL;
		int same = 0;

		if (verifier_call(v, AS_NONE, "/v1/health", NULL, &rep) == 200)
			same = strcmp(jstr(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rep,
							      "federations"), 0), "state"), want) == 0;
		cJSON_Delete(rep);
		if (same)
			return 1;
		usleep(200 * 1000);
	}
	return 0;
}

/* The verifier decides for agents of a federated trust domain: another
 * fleet (partner.example, its own CA and verifier, whose GET
 * /v1/spiffe/bundle is the bundle endpoint, TLS to its CA) is federated in
 * --federation; our verifier fetches its bundle off the loop as the
 * serving user (dropped to nobody). A partner leaf is allowed only where
 * a rule names the domain and its ID (both /v1/decide and /v1/authz, the
 * answer and the audit record saying federated); denied, each with its
 * reason: a resource whose rule does not name the domain, an ID outside
 * the rule's ids, a domain not federated, a leaf of another CA claiming a
 * partner ID, a partner-signed leaf claiming our trust domain, an expired
 * leaf, a CA certificate as leaf, and the partner's bundle stale once its
 * endpoint is gone. Our own trust domain in the file: serve refuses. */
static void test_federated_decisions(void)
{
	static struct verifier pv, v;
	static const char policy[] =
		"{\"version\":1,\"rules\":["
		"{\"name\":\"partner-invoices\",\"effect\":\"allow\","
		"\"resources\":[\"billing:invoices/**\"],\"actions\":[\"read\"],"
		"\"federated\":{\"partner.example\":{\"ids\":[\"spiffe://partner.example/billing/**\"],"
		"\"scopes\":[\"billing:read\"]}},\"require\":{\"scopes\":[\"billing:read\"]}},"
		"{\"name\":\"records\",\"effect\":\"allow\",\"resources\":[\"ehr:records/**\"],"
		"\"actions\":[\"read\"],\"require\":{\"scopes\":[\"ehr:read\"]}}],"
		"\"http_routes\":[{\"name\":\"invoices\",\"prefix\":\"/invoices/\","
		"\"methods\":{\"GET\":\"read\"},\"resource_prefix\":\"billing:invoices/\"}]}";
	struct tu_tpm sw;
	char ca[700], pca[700], roots[800], path[900], fedfile[900], badfile[900], url[200];
	char *cacert = NULL, *json = NULL, *good, *other_id, *rogue_leaf, *ours, *expired, *unfed,
	     *as_ca, *rogue_ca;
	X509 *proot = NULL, *rogue = NULL;
	EVP_PKEY *pkey = NULL, *rkey = NULL;
	cJSON *f, *arr, *e;
	FILE *fp;

	tu_tpm_start(&sw); /* a private dir and the template's vendor roots */
	snprintf(ca, sizeof(ca), "%s/ca", sw.dir);
	snprintf(pca, sizeof(pca), "%s/partner-ca", sw.dir);
	snprintf(roots, sizeof(roots), "%s/vendor-roots.pem", tu_template());
	CU_ASSERT_FATAL(tu_sh("attest-provision init --dir %s --trust-domain fleet.example "
			      "--vendor-roots %s >/dev/null && attest-provision init --dir %s "
			      "--trust-domain partner.example --vendor-roots %s >/dev/null", ca,
			      roots, pca, roots) == 0);
	/* the partner's fleet root signs its agents' leaves here */
	snprintf(path, sizeof(path), "%s/root.pem", pca);
	CU_ASSERT_FATAL((fp = fopen(path, "r")) != NULL);
	proot = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/root.key", pca);
	CU_ASSERT_FATAL((fp = fopen(path, "r")) != NULL);
	pkey = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	CU_ASSERT_FATAL(proot != NULL && pkey != NULL);
	good = fed_cert(proot, pkey, "spiffe://partner.example/billing/agent-1", 0, -60, 3600,
			NULL, NULL);
	other_id = fed_cert(proot, pkey, "spiffe://partner.example/ops/agent-2", 0, -60, 3600,
			    NULL, NULL);
	ours = fed_cert(proot, pkey, "spiffe://fleet.example/host/web-01/agent/scribe", 0, -60,
			3600, NULL, NULL);
	expired = fed_cert(proot, pkey, "spiffe://partner.example/billing/agent-1", 0, -7200,
			   -3600, NULL, NULL);
	as_ca = fed_cert(proot, pkey, "spiffe://partner.example/billing/agent-1", 1, -60, 3600,
			 NULL, NULL);
	rogue_ca = fed_cert(NULL, NULL, "spiffe://partner.example", 1, -60, 3600, &rogue, &rkey);
	rogue_leaf = fed_cert(rogue, rkey, "spiffe://partner.example/billing/agent-1", 0, -60,
			      3600, NULL, NULL);
	unfed = fed_cert(rogue, rkey, "spiffe://other.example/billing/agent-1", 0, -60, 3600,
			 NULL, NULL);

	/* the partner's bundle endpoint: its verifier */
	verifier_up(&pv, pca, NULL);
	snprintf(url, sizeof(url), "%s/v1/spiffe/bundle", pv.url);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cacert = tu_slurp(pv.cacert, NULL));
	f = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(f, "federations");
	e = cJSON_CreateObject();
	cJSON_AddItemToArray(arr, e);
	cJSON_AddStringToObject(e, "trust_domain", "partner.example");
	cJSON_AddStringToObject(e, "bundle_url", url);
	cJSON_AddStringToObject(e, "ca_pem", cacert);
	json = cJSON_PrintUnformatted(f);
	snprintf(fedfile, sizeof(fedfile), "%s/federation.json", sw.dir);
	tu_write(fedfile, json, strlen(json));
	free(json);
	/* our own trust domain federated: refused at start */
	cJSON_ReplaceItemInObject(e, "trust_domain", cJSON_CreateString("fleet.example"));
	json = cJSON_PrintUnformatted(f);
	snprintf(badfile, sizeof(badfile), "%s/federation-own.json", sw.dir);
	tu_write(badfile, json, strlen(json));
	free(json);
	cJSON_Delete(f);

	tu_verifier_user = "nobody"; /* the fetch runs as the serving user */
	verifier_up(&v, ca, policy);
	tu_verifier_user = NULL;
	/* not federated yet (no --federation): a partner leaf is no leaf of
	 * ours */
	fed_decide(&v, good, "billing:invoices/7", 403, "ATTEST_E_CHAIN_UNTRUSTED", NULL);

	verifier_stop(&v);
	CU_ASSERT_EQUAL(tu_sh("attest-verifier serve --state '%s' --ca '%s' --listen 127.0.0.1:0 "
			      "--user root --federation '%s' >'%s/own.out' 2>&1", v.state, ca,
			      badfile, sw.dir) != 0, 1);
	CU_ASSERT_EQUAL(tu_sh("grep -q \"fleet.example is this fleet's own trust domain\" "
			      "'%s/own.out' || cat '%s/own.out' >&2", sw.dir, sw.dir), 0);

	memset(v.serve_args, 0, sizeof(v.serve_args));
	v.serve_args[0] = "--federation";
	v.serve_args[1] = fedfile;
	v.serve_args[2] = "--federation-max-age";
	v.serve_args[3] = "6";
	tu_verifier_user = "nobody";
	verifier_start(&v);
	tu_verifier_user = NULL;
	CU_ASSERT_FATAL(fed_health_wait(&v, "ok"));
	/* fetched by the serving process after its drop */
	CU_ASSERT_EQUAL(tu_sh("grep -q 'serving as nobody' '%s' && grep -q 'federation: "
			      "spiffe://partner.example: bundle installed' '%s'", v.log, v.log), 0);

	fed_decide(&v, good, "billing:invoices/7", 200, "ATTEST_OK", "partner.example");
	fed_authz(&v, good, 200, "ATTEST_OK", "partner.example");
	/* a resource whose rule does not name the domain */
	fed_decide(&v, good, "ehr:records/1", 403, "ATTEST_E_FED_POLICY", "partner.example");
	/* an ID outside the rule's ids */
	fed_decide(&v, other_id, "billing:invoices/7", 403, "ATTEST_E_FED_POLICY",
		   "partner.example");
	/* a domain not federated */
	fed_decide(&v, unfed, "billing:invoices/7", 403, "ATTEST_E_FED_UNKNOWN", "other.example");
	/* another CA claiming the partner's ID */
	fed_decide(&v, rogue_leaf, "billing:invoices/7", 403, "ATTEST_E_CHAIN_UNTRUSTED",
		   "partner.example");
	{
		char both[8192];

		snprintf(both, sizeof(both), "%s%s", rogue_leaf, rogue_ca);
		fed_decide(&v, both, "billing:invoices/7", 403, "ATTEST_E_CHAIN_UNTRUSTED",
			   "partner.example");
	}
	/* the partner's root signing a leaf of OUR trust domain: only our
	 * root could, so it is decided (and refused) as ours */
	fed_decide(&v, ours, "billing:invoices/7", 403, "ATTEST_E_CHAIN_UNTRUSTED", NULL);
	fed_decide(&v, expired, "billing:invoices/7", 403, "ATTEST_E_CERT_EXPIRED",
		   "partner.example");
	fed_decide(&v, as_ca, "billing:invoices/7", 403, "ATTEST_E_CHAIN_UNTRUSTED",
		   "partner.example");
	fed_authz(&v, other_id, 403, "ATTEST_E_FED_POLICY", "partner.example");
	/* the audit records say federated */
	CU_ASSERT_EQUAL(tu_sh("grep -rqa 'ATTEST_OK rule=partner-invoices federated=partner.example' "
			      "'%s/audit' && grep -rqa 'ATTEST_E_FED_POLICY federated=partner.example' "
			      "'%s/audit'", v.state, v.state), 0);

	/* kept fresh: fetched again within the max age (a fedset worker that
	 * slept its idle hour after each fetch never refreshed a bundle) */
	{
		double first = 0, now = 0;

		for (int i = 0; i < 300 && (first == 0 || now <= first); i++) {
			cJSON *rep = NULL;

			if (verifier_call(&v, AS_NONE, "/v1/health", NULL, &rep) == 200) {
				now = jnum(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rep,
							      "federations"), 0), "fetched_at");
				if (first == 0)
					first = now;
			}
			cJSON_Delete(rep);
			usleep(200 * 1000);
		}
		CU_ASSERT(first > 0 && now > first);
	}

	/* the partner's endpoint gone: stale after --federation-max-age */
	verifier_stop(&pv);
	{
		int stale = 0;

		for (int i = 0; i < 300 && !stale; i++) {
			cJSON *req = cJSON_CreateObject(), *rep = NULL;
			char *body;

			cJSON_AddStringToObject(req, "chain", good);
			cJSON_AddStringToObject(req, "action", "read");
			cJSON_AddStringToObject(req, "resource", "billing:invoices/7");
			body = cJSON_PrintUnformatted(req);
			if (verifier_call(&v, AS_RESOURCE, "/v1/decide", body, &rep) == 403 &&
			    strcmp(jstr(rep, "reason"), "ATTEST_E_FED_STALE") == 0)
				stale = 1;
			cJSON_Delete(rep);
			cJSON_Delete(req);
			free(body);
			if (!stale)
				usleep(200 * 1000);
		}
		CU_ASSERT(stale);
	}
	CU_ASSERT(fed_health_wait(&v, "stale") || tu_sh("curl -s --cacert '%s' '%s/v1/health' >&2",
						       v.cacert, v.url) < 0);
	CU_ASSERT_EQUAL(tu_sh("grep -q 'federation: spiffe://partner.example: ' '%s'", v.log), 0);

	verifier_down(&v);
	verifier_down(&pv);
	tu_tpm_stop(&sw);
	free(cacert);
	free(good);
	free(other_id);
	free(ours);
	free(expired);
	free(as_ca);
	free(rogue_ca);
	free(rogue_leaf);
	free(unfed);
	X509_free(proot);
	X509_free(rogue);
	EVP_PKEY_free(pkey);
	EVP_PKEY_free(rkey);
}

/* ---------- DNS SANs (issue 14 item 5; docs/x509.md "DNS names") ---------- */

/* The one rule for a DNS name a leaf may carry: what it refuses and why. */
static void test_dns_name_rule(void)
{
	static const struct {
		const char *name, *why; /* why NULL: accepted */
	} cases[] = {
		{ "mcp.web-01.fleet.example", NULL },
		{ "a2a", NULL },
		{ "xn--bcher-kva.example", NULL },
		{ "0a.example", NULL },
		{ "", "is empty" },
		{ "*.fleet.example", "wildcard" },
		{ "mcp.*.example", "wildcard" },
		{ "10.0.0.1", "IP address literal" },
		{ "010.1.1.1", "IP address literal" },
		{ "1.2.3", "IP address literal" },
		{ "4294967295", "IP address literal" },
		{ "0x7f000001", "IP address literal" },
		{ "host.0x7f", "IP address literal" },
		{ "::1", "IPv6" },
		{ "[fe80::1]", "IPv6" },
		{ "fe80::1", "IPv6" },
		{ "mcp.fleet.example.", "trailing dot" },
		{ "MCP.fleet.example", "lower case" },
		{ "mcp..example", "empty label" },
		{ ".mcp.example", "empty label" },
		{ "mcp_1.example", "a-z, 0-9" },
		{ "mcp example", "a-z, 0-9" },
		{ "m\xc3\xa9.example", "a-z, 0-9" },
		{ "-mcp.example", "starts or ends with '-'" },
		{ "mcp-.example", "starts or ends with '-'" },
	};
	char label64[80], long254[300];
	const char *why;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ok = attest_dns_name_ok(cases[i].name, &why);

		if (ok != (cases[i].why == NULL) || (!ok && strstr(why, cases[i].why) == NULL))
			fprintf(stderr, "  %s: %d %s\n", cases[i].name, ok, ok ? "" : why);
		CU_ASSERT_EQUAL(ok, cases[i].why == NULL);
		if (!ok && cases[i].why != NULL)
			CU_ASSERT_PTR_NOT_NULL(strstr(why, cases[i].why));
	}
	CU_ASSERT_EQUAL(attest_dns_name_ok(NULL, NULL), 0);
	memset(label64, 'a', 64);
	memcpy(label64 + 64, ".example", 9);
	CU_ASSERT_EQUAL(attest_dns_name_ok(label64, &why), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "over 63"));
	CU_ASSERT_EQUAL(attest_dns_name_ok(label64 + 1, NULL), 1);
	/* 253 bytes is the most: 63.63.63.61 */
	memset(long254, 'a', sizeof(long254));
	long254[63] = long254[127] = long254[191] = '.';
	long254[253] = '\0';
	CU_ASSERT_EQUAL(attest_dns_name_ok(long254, NULL), 1);
	long254[253] = 'a';
	long254[254] = '\0';
	CU_ASSERT_EQUAL(attest_dns_name_ok(long254, &why), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "253"));
}

/* A leaf signed with extra subjectAltName text (an OpenSSL config value),
 * as a compromised agent key or another issuer could make it. */
static X509 *leaf_with_san(X509 *aca, EVP_PKEY *pub, const struct attest_signer *as,
			   const char *san)
{
	X509 *c = X509_new();

	CU_ASSERT_FATAL(c != NULL && X509_set_version(c, X509_VERSION_3) == 1 &&
			X509_gmtime_adj(X509_getm_notBefore(c), -60) != NULL &&
			X509_gmtime_adj(X509_getm_notAfter(c), 300) != NULL &&
			X509_set_pubkey(c, pub) == 1 &&
			X509_set_issuer_name(c, X509_get_subject_name(aca)) == 1);
	CU_ASSERT_FATAL(attest_x509_random_serial(c) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_x509_add_ext(c, aca, NID_basic_constraints, "critical,CA:FALSE") ==
				ATTEST_OK &&
			attest_x509_add_ext(c, aca, NID_key_usage, "critical,digitalSignature") ==
				ATTEST_OK &&
			attest_x509_add_ext(c, aca, NID_authority_key_identifier, "keyid:always") ==
				ATTEST_OK &&
			attest_x509_add_ext(c, aca, NID_subject_alt_name, san) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_x509_sign_with(c, as) == ATTEST_OK);
	return c;
}

/* A leaf with DNS SANs beside its SPIFFE ID, under a fleet with the URI
 * name constraints on and off: the SAN is the URI then the DNS names;
 * OpenSSL verifies the chain (the URI-only constraint does not refuse the
 * DNS names) and checks the host name (-verify_hostname: a registered
 * name passes, another fails); libattest's path rule accepts it and still
 * wants exactly one URI, and DNS names only beside it (no IP, no
 * wildcard, no second URI); make_leaf refuses names the rule refuses. */
static void test_dns_leaf_profile(void)
{
	static const char *const names[] = { "mcp.web-01.fleet.example", "a2a.fleet.example" };
	static const struct {
		const char *san, *why;
	} bad[] = {
		{ "URI:" FZ_AGENT_ID ",URI:spiffe://" FZ_TD "/other", "more than one URI" },
		{ "URI:" FZ_AGENT_ID ",IP:10.0.0.1", "type" },
		{ "URI:" FZ_AGENT_ID ",DNS:*.fleet.example", "wildcard" },
		{ "URI:" FZ_AGENT_ID ",DNS:10.0.0.1", "IP address" },
		{ "URI:" FZ_AGENT_ID ",email:a@b.example", "type" },
		{ "DNS:mcp.fleet.example", "no URI" },
	};
	char dir[] = "/tmp/dnsleafXXXXXX", path[200];

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	for (int nc = 1; nc >= 0; nc--) {
		EVP_PKEY *ik = NULL, *lk = NULL;
		X509 *ic = NULL, *hca = NULL, *aca = NULL, *leaf = NULL, *x = NULL;
		struct attest_signer as;
		struct attest_leaf_params lp = { 0 };
		STACK_OF(X509) *chain = sk_X509_new_null();
		X509 *certs[3];
		char *uri = NULL;
		const char *many[ATTEST_LEAF_DNS_MAX + 1];
		char manyv[ATTEST_LEAF_DNS_MAX + 1][32];

		TU_ASSERT_ERR(attest_x509_make_issuing_ca_nc(fz_pkey(FZ_KEY_ROOT), fz_root(), FZ_TD, 1,
							     nc, &ik, &ic), ATTEST_OK);
		fz_agent_ca_under(ik, ic, &hca, &aca);
		CU_ASSERT_FATAL(attest_p256_keygen(&lk) == ATTEST_OK);
		TU_ASSERT_ERR(attest_signer_from_pkey(fz_pkey(FZ_KEY_AGENT), &as), ATTEST_OK);
		lp.pub = lk;
		lp.ttl = 300;
		lp.dns = names;
		lp.ndns = 2;
		TU_ASSERT_ERR(attest_x509_make_leaf(aca, &lp, &as, &leaf), ATTEST_OK);
		snprintf(path, sizeof(path), "%s/root.pem", dir);
		write_pem(path, (X509 *[]){ fz_root() }, 1);
		certs[0] = aca;
		certs[1] = hca;
		certs[2] = ic;
		snprintf(path, sizeof(path), "%s/chain%d.pem", dir, nc);
		write_pem(path, certs, 3);
		snprintf(path, sizeof(path), "%s/leaf%d.pem", dir, nc);
		write_pem(path, &leaf, 1);
		CU_ASSERT_EQUAL(tu_sh("cd '%s' && openssl x509 -in leaf%d.pem -noout -ext subjectAltName "
				      "| grep -qx '    URI:" FZ_AGENT_ID ", DNS:mcp.web-01.fleet.example, "
				      "DNS:a2a.fleet.example'", dir, nc), 0);
		CU_ASSERT_EQUAL(tu_sh("cd '%s' && openssl verify -CAfile root.pem -untrusted chain%d.pem "
				      "leaf%d.pem >/dev/null", dir, nc, nc), 0);
		CU_ASSERT_EQUAL(tu_sh("cd '%s' && openssl verify -CAfile root.pem -untrusted chain%d.pem "
				      "-purpose sslserver -verify_hostname mcp.web-01.fleet.example "
				      "leaf%d.pem >/dev/null", dir, nc, nc), 0);
		CU_ASSERT_NOT_EQUAL(tu_sh("cd '%s' && openssl verify -CAfile root.pem -untrusted "
					  "chain%d.pem -verify_hostname other.fleet.example leaf%d.pem "
					  ">/dev/null 2>&1", dir, nc, nc), 0);
		TU_ASSERT_ERR(attest_x509_one_san_uri(leaf, &uri), ATTEST_OK);
		CU_ASSERT_STRING_EQUAL(uri, FZ_AGENT_ID);
		free(uri);
		CU_ASSERT_FATAL(chain != NULL && sk_X509_push(chain, leaf) && sk_X509_push(chain, aca) &&
				sk_X509_push(chain, hca) && sk_X509_push(chain, ic));
		TU_ASSERT_ERR(attest_verify_path(chain), ATTEST_OK);
		/* what no leaf of ours carries: refused by the path rule */
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			x = leaf_with_san(aca, lk, &as, bad[i].san);
			(void)sk_X509_set(chain, 0, x);
			CU_ASSERT_EQUAL(attest_verify_path(chain), ATTEST_E_PATH);
			if (strstr(attest_errdetail(), bad[i].why) == NULL)
				fprintf(stderr, "  %s: %s\n", bad[i].san, attest_errdetail());
			CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), bad[i].why));
			X509_free(x);
		}
		(void)sk_X509_set(chain, 0, leaf);
		/* the issuer refuses what the rule refuses, and more than 16 */
		{
			const char *w[] = { "*.fleet.example" }, *dup[] = { "a.example", "a.example" };
			X509 *no = NULL;

			lp.dns = w;
			lp.ndns = 1;
			CU_ASSERT_EQUAL(attest_x509_make_leaf(aca, &lp, &as, &no), ATTEST_E_DNS_NAME_INVALID);
			lp.dns = dup;
			lp.ndns = 2;
			CU_ASSERT_EQUAL(attest_x509_make_leaf(aca, &lp, &as, &no), ATTEST_E_DNS_NAME_INVALID);
			for (int i = 0; i <= ATTEST_LEAF_DNS_MAX; i++) {
				snprintf(manyv[i], sizeof(manyv[i]), "n%d.fleet.example", i);
				many[i] = manyv[i];
			}
			lp.dns = many;
			lp.ndns = ATTEST_LEAF_DNS_MAX + 1;
			CU_ASSERT_EQUAL(attest_x509_make_leaf(aca, &lp, &as, &no), ATTEST_E_INVALID_ARG);
			lp.ndns = ATTEST_LEAF_DNS_MAX; /* the most: accepted end to end */
			TU_ASSERT_ERR(attest_x509_make_leaf(aca, &lp, &as, &no), ATTEST_OK);
			(void)sk_X509_set(chain, 0, no);
			TU_ASSERT_ERR(attest_verify_path(chain), ATTEST_OK);
			(void)sk_X509_set(chain, 0, leaf);
			X509_free(no);
			CU_ASSERT_PTR_NULL(NULL);
		}
		/* signing certificates stay strict: no DNS name beside the ID */
		{
			char td[256];

			CU_ASSERT_EQUAL(attest_x509_ca_trust_domain(leaf, td), ATTEST_E_PARSE);
			TU_ASSERT_ERR(attest_x509_ca_trust_domain(hca, td), ATTEST_OK);
		}
		sk_X509_free(chain);
		X509_free(leaf);
		X509_free(aca);
		X509_free(hca);
		X509_free(ic);
		EVP_PKEY_free(ik);
		EVP_PKEY_free(lk);
	}
	(void)tu_sh("rm -rf '%s'", dir);
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* openssl s_client to 127.0.0.1:port trusting only the fleet root,
 * checking host name `host` (and sending it as SNI), output in dir/log;
 * its exit status. */
static int s_client(const char *dir, int port, const char *host, const char *log)
{
	return tu_sh("cd '%s' && (printf 'dns-ping\\n'; sleep 1) | timeout 10 openssl s_client "
		     "-connect 127.0.0.1:%d -tls1_3 -CAfile ca/root.pem -verify_return_error "
		     "-verify_hostname %s -servername %s >%s 2>&1", dir, port, host, host, log);
}

/* register `name` (binary bin) with dns_names json_list; the code */
static int register_dns(struct daemon *d, const char *name, const char *bin, const char *list)
{
	char json[4096];
	cJSON *reply = NULL;
	int r;

	snprintf(json, sizeof(json),
		 "{\"op\":\"register\",\"name\":\"%s\",\"binary\":\"%s\",\"uids\":[%u],"
		 "\"scopes\":[\"ehr:read\"],\"risk_tier\":\"low\",\"max_ttl\":300,"
		 "\"dns_names\":[%s]," TU_ENV_ALLOW_JSON "}",
		 name, bin, (unsigned)getuid(), list);
	r = admin_call(d, json, &reply);
	cJSON_Delete(reply);
	return r;
}

/* The issue reply's chain and key into dir/<tag>.{leaf,chain,key}.pem
 * (chain: the issuers after the leaf). */
static void save_reply(const cJSON *reply, const char *dir, const char *tag)
{
	const cJSON *chain = cJSON_GetObjectItemCaseSensitive(reply, "chain");
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(reply, "key");
	static const char end[] = "-----END CERTIFICATE-----\n";
	const char *cut;
	char path[900];

	CU_ASSERT_FATAL(cJSON_IsString(chain) && cJSON_IsString(key));
	CU_ASSERT_PTR_NOT_NULL_FATAL(cut = strstr(chain->valuestring, end));
	cut += sizeof(end) - 1;
	snprintf(path, sizeof(path), "%s/%s.leaf.pem", dir, tag);
	tu_write(path, chain->valuestring, (size_t)(cut - chain->valuestring));
	snprintf(path, sizeof(path), "%s/%s.chain.pem", dir, tag);
	tu_write(path, cut, strlen(cut));
	snprintf(path, sizeof(path), "%s/%s.key.pem", dir, tag);
	tu_write(path, key->valuestring, strlen(key->valuestring));
}

/* DNS names end to end, through attestd (front and monitor): registration
 * refuses names the rule refuses and a name another agent holds, with the
 * reason; attestctl takes --dns-name repeatedly and show lists the names;
 * an issue request gets exactly the registered names it asks for, as DNS
 * SANs after the URI, recorded in the issuance's audit record; a name not
 * registered for the asking agent (one of another agent's included)
 * refuses the whole request with the reason and issues nothing; and the
 * leaf serves TLS: openssl s_client -verify_hostname accepts the name and
 * refuses another. */
static void test_dns_names_attestd(void)
{
	static struct daemon d;
	static const struct {
		const char *list, *why;
	} refused[] = {
		{ "\"*.fleet.example\"", "wildcard" },
		{ "\"10.0.0.1\"", "IP address literal" },
		{ "\"010.1.1.1\"", "IP address literal" },
		{ "\"1.2.3\"", "IP address literal" },
		{ "\"::1\"", "IPv6" },
		{ "\"mcp_x.fleet.example\"", "a-z, 0-9" },
		{ "\"mcp..fleet.example\"", "empty label" },
		{ "\"mcp.fleet.example.\"", "trailing dot" },
		{ "\"MCP.fleet.example\"", "lower case" },
		{ "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example\"",
		  "over 63" },
	};
	char a[800], b[800], dir[800];
	cJSON *reply = NULL;
	int port, up = 0;

	daemon_up(&d);
	make_agent_binary(&d, "web", NULL, a, sizeof(a));
	make_agent_binary(&d, "other", "other", b, sizeof(b));
	snprintf(dir, sizeof(dir), "%s", d.sw.dir);

	/* registration: refused with the reason, and nothing registered */
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		CU_ASSERT_EQUAL(register_dns(&d, "web", a, refused[i].list),
				ATTEST_E_DNS_NAME_INVALID);
		if (strstr(attest_errdetail(), refused[i].why) == NULL)
			fprintf(stderr, "  %s: %s\n", refused[i].list, attest_errdetail());
		CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), refused[i].why));
	}
	{
		char many[2048] = "";

		for (int i = 0; i < 17; i++)
			snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s\"n%d.example\"",
				 i ? "," : "", i);
		CU_ASSERT_EQUAL(register_dns(&d, "web", a, many), ATTEST_E_TOO_LARGE);
	}
	CU_ASSERT_EQUAL(register_dns(&d, "web", a, "\"a.example\",\"a.example\""), ATTEST_E_PARSE);
	CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "duplicate"));
	CU_ASSERT_EQUAL(admin_call(&d, "{\"op\":\"show\",\"name\":\"web\"}", &reply),
			ATTEST_E_AGENT_UNKNOWN);

	/* attestctl: --dns-name repeated (and a comma list), shown back */
	CU_ASSERT_EQUAL_FATAL(tu_sh("attestctl agent register --admin-socket '%s' --name web "
				    "--binary '%s' --uids %u --scopes ehr:read --tier low "
				    "--dns-name mcp.web-01.fleet.example --dns-name "
				    "a2a.web-01.fleet.example,api.web-01.fleet.example "
				    TU_ENV_ALLOW_CLI " >/dev/null", d.admin, a, (unsigned)getuid()),
			      0);
	CU_ASSERT_EQUAL(tu_sh("attestctl agent show --admin-socket '%s' --name web | tr -d ' \\n\\t' | "
			      "grep -aqF '\"dns_names\":[\"mcp.web-01.fleet.example\","
			      "\"a2a.web-01.fleet.example\",\"api.web-01.fleet.example\"]'", d.admin),
			0);
	CU_ASSERT_EQUAL(tu_sh("attestctl agent list --admin-socket '%s' | tr -d ' \\n\\t' | "
			      "grep -qF 'mcp.web-01.fleet.example'", d.admin), 0);
	CU_ASSERT_EQUAL(tu_sh("attestctl agent register --admin-socket '%s' --name w2 "
			      "--binary '%s' --uids %u --tier low --dns-name '*.fleet.example' "
			      ">/dev/null 2>'%s/ctl.err'; [ $? -ne 0 ] && grep -q wildcard '%s/ctl.err'",
			      d.admin, a, (unsigned)getuid(), dir, dir), 0);
	/* one agent per name on a host */
	CU_ASSERT_EQUAL(register_dns(&d, "other", b, "\"mcp.web-01.fleet.example\""),
			ATTEST_E_EXISTS);
	CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "registered for agent web"));
	TU_ASSERT_ERR(register_dns(&d, "other", b, "\"other.web-01.fleet.example\""), ATTEST_OK);

	/* issuance: the names asked for, after the URI */
	reply = run_agent(NULL, a, d.sock,
			  "{\"op\":\"issue\",\"agent\":\"web\",\"dns_names\":"
			  "[\"mcp.web-01.fleet.example\",\"api.web-01.fleet.example\"]}");
	CU_ASSERT_FATAL(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")));
	save_reply(reply, dir, "web");
	cJSON_Delete(reply);
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && openssl verify -CAfile ca/root.pem -untrusted "
			      "web.chain.pem web.leaf.pem >/dev/null", dir), 0);
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && openssl x509 -in web.leaf.pem -noout -ext subjectAltName "
			      "| grep -qx '    URI:" ID_PREFIX "web, DNS:mcp.web-01.fleet.example, "
			      "DNS:api.web-01.fleet.example'", dir), 0);
	/* no dns_names: the leaf carries the URI alone, as before */
	reply = run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"web\"}");
	expect_cert(&d, reply, "web");

	/* refused whole, with the reason: an unregistered name, another
	 * agent's name, and a name the rule refuses */
	expect_refused_why(run_agent(NULL, a, d.sock,
				     "{\"op\":\"issue\",\"agent\":\"web\",\"dns_names\":"
				     "[\"mcp.web-01.fleet.example\",\"evil.fleet.example\"]}"),
			   "ATTEST_E_DNS_NAME_UNREGISTERED",
			   "\"evil.fleet.example\" is not registered for web");
	expect_refused_why(run_agent(NULL, b, d.sock,
				     "{\"op\":\"issue\",\"agent\":\"other\",\"dns_names\":"
				     "[\"mcp.web-01.fleet.example\"]}"),
			   "ATTEST_E_DNS_NAME_UNREGISTERED",
			   "\"mcp.web-01.fleet.example\" is not registered for other");
	expect_refused_why(run_agent(NULL, a, d.sock,
				     "{\"op\":\"issue\",\"agent\":\"web\",\"dns_names\":"
				     "[\"*.web-01.fleet.example\"]}"),
			   "ATTEST_E_DNS_NAME_INVALID", "wildcard");
	expect_refused_why(run_agent(NULL, a, d.sock,
				     "{\"op\":\"issue\",\"agent\":\"web\",\"dns_names\":[]}"),
			   "ATTEST_E_PARSE", "non-empty");
	/* the audit log: the issuance lists its names; the refused names
	 * were never issued */
	CU_ASSERT_EQUAL(tu_sh("attestctl audit show --log '%s/state/audit' --type issue | "
			      "grep -qF '\"dns_names\":[\"mcp.web-01.fleet.example\","
			      "\"api.web-01.fleet.example\"]'", dir), 0);
	CU_ASSERT_EQUAL(tu_sh("attestctl audit show --log '%s/state/audit' --type register | "
			      "grep -F 'agent/web\"' | grep -qF '\"dns_names\":[\"mcp.web-01.fleet.example\","
			      "\"a2a.web-01.fleet.example\",\"api.web-01.fleet.example\"]'", dir), 0);
	CU_ASSERT_NOT_EQUAL(tu_sh("attestctl audit show --log '%s/state/audit' | "
				  "grep -qF 'evil.fleet.example'", dir), 0);
	CU_ASSERT_EQUAL(tu_sh("attestctl audit show --log '%s/state/audit' --type refusal | "
			      "grep -F '\"resource\":\"web\"' | "
			      "grep -qF '\"reason\":\"ATTEST_E_DNS_NAME_UNREGISTERED\"'", dir), 0);

	/* the names are in the agent's record: a restarted attestd has them */
	daemon_stop(&d);
	daemon_start(&d, "64");
	CU_ASSERT_EQUAL(tu_sh("attestctl agent show --admin-socket '%s' --name web | "
			      "grep -qF a2a.web-01.fleet.example", d.admin), 0);
	reply = run_agent(NULL, a, d.sock,
			  "{\"op\":\"issue\",\"agent\":\"web\",\"dns_names\":[\"a2a.web-01.fleet.example\"]}");
	CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")));
	cJSON_Delete(reply);

	/* the leaf as a TLS server certificate */
	port = free_port();
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && (timeout 20 openssl s_server -tls1_3 -cert web.leaf.pem "
			      "-key web.key.pem -cert_chain web.chain.pem -accept 127.0.0.1:%d "
			      "-naccept 2 -rev </dev/null >srv.log 2>&1 & echo $! >srv.pid)", dir,
			      port), 0);
	for (int i = 0; i < 100 && !up; i++) {
		up = tu_sh("grep -q ACCEPT '%s/srv.log'", dir) == 0;
		if (!up)
			usleep(50 * 1000);
	}
	CU_ASSERT_FATAL(up);
	CU_ASSERT_EQUAL(s_client(dir, port, "mcp.web-01.fleet.example", "good.log"), 0);
	/* registered for the agent but not in this leaf: refused too */
	CU_ASSERT_NOT_EQUAL(s_client(dir, port, "a2a.web-01.fleet.example", "bad.log"), 0);
	(void)tu_sh("cd '%s' && kill $(cat srv.pid) 2>/dev/null", dir);
	CU_ASSERT_EQUAL(tu_sh("grep -q 'Verify return code: 0 (ok)' '%s/good.log' && "
			      "grep -q 'gnip-snd' '%s/good.log'", dir, dir), 0);
	CU_ASSERT_EQUAL(tu_sh("grep -qi 'hostname mismatch' '%s/bad.log'", dir), 0);
	if (tu_sh("grep -q 'gnip-snd' '%s/good.log'", dir) != 0)
		(void)tu_sh("cat '%s/srv.log' '%s/good.log' '%s/bad.log' >&2", dir, dir, dir);
	daemon_down(&d);
}

/* ValidateJWTSVID with a federated domain's JWT bundle (wl_jwt_validate,
 * the front's check): sub's trust domain picks the key set, and a key
 * serves only its own domain. */
static char *fed_tok(EVP_PKEY *k, const char *kid, const char *sub)
{
	char hdr[160], pl[320], *tok = NULL;

	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"JWT\"}", kid);
	snprintf(pl, sizeof(pl), "{\"sub\":\"%s\",\"aud\":[\"svc\"],\"exp\":%lld,\"iat\":%lld}",
		 sub, (long long)time(NULL) + 300, (long long)time(NULL));
	CU_ASSERT_FATAL(attest_jws_sign(k, hdr, pl, 8192, &tok) == ATTEST_OK);
	return tok;
}

/* k's JWK coordinates x and y, size bytes each (32: P-256, 48: P-384) */
static void jwk_xy(EVP_PKEY *k, int size, char **x, char **y)
{
	BIGNUM *bx = NULL, *by = NULL;
	uint8_t b[48];

	CU_ASSERT_FATAL(size <= (int)sizeof(b) && EVP_PKEY_get_bn_param(k, "qx", &bx) == 1 &&
			EVP_PKEY_get_bn_param(k, "qy", &by) == 1);
	CU_ASSERT_FATAL(BN_bn2binpad(bx, b, size) == size &&
			attest_b64url_encode(b, (size_t)size, x) == ATTEST_OK);
	CU_ASSERT_FATAL(BN_bn2binpad(by, b, size) == size &&
			attest_b64url_encode(b, (size_t)size, y) == ATTEST_OK);
	BN_free(bx);
	BN_free(by);
}

#define TU_ASSERT_DETAIL(why_)                                                   \
	do {                                                                     \
		if (strstr(attest_errdetail(), (why_)) == NULL)                  \
			fprintf(stderr, "  want \"%s\" in \"%s\"\n", (why_),       \
				attest_errdetail());                             \
		CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), (why_)));     \
	} while (0)

/* A token of key under kid for sub, refused by ValidateJWTSVID's check for
 * audience "svc" with why in the detail (NULL: any detail). */
static void fed_refused(const struct wl_jwks *k, const struct wl_fedjwt *fed, EVP_PKEY *key,
			const char *kid, const char *sub, const char *why)
{
	char *tok = fed_tok(key, kid, sub);
	cJSON *claims = NULL;

	TU_ASSERT_ERR(wl_jwt_validate("fleet.example", k, fed, 1, tok, "svc", time(NULL), &claims),
		      ATTEST_E_DENIED);
	CU_ASSERT_PTR_NULL(claims);
	if (why != NULL)
		TU_ASSERT_DETAIL(why);
	cJSON_Delete(claims);
	free(tok);
}

static void test_federated_jwt(void)
{
	EVP_PKEY *ours = EVP_EC_gen("P-256"), *partner = EVP_EC_gen("P-256");
	EVP_PKEY *p384 = EVP_EC_gen("P-384");
	struct wl_jwks k = { 0 };
	char jwks[1024], *x = NULL, *y = NULL, *x2 = NULL, *y2 = NULL, *tok;
	unsigned char *der = NULL;
	int n;
	cJSON *claims = NULL;
	const cJSON *sub;
	struct wl_fedjwt fed;

	CU_ASSERT_FATAL(ours != NULL && partner != NULL && p384 != NULL);
	n = i2d_PUBKEY(ours, &der);
	CU_ASSERT_FATAL(n > 0);
	k.n = 1;
	snprintf(k.kid[0], sizeof(k.kid[0]), "our-kid");
	k.spki[0] = malloc((size_t)n);
	CU_ASSERT_FATAL(k.spki[0] != NULL);
	memcpy(k.spki[0], der, (size_t)n);
	k.spki_len[0] = (size_t)n;
	OPENSSL_free(der);
	jwk_xy(partner, 32, &x, &y);
	jwk_xy(p384, 48, &x2, &y2);
	snprintf(jwks, sizeof(jwks),
		 "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"p-kid\",\"use\":\"jwt-svid\",\"crv\":\"P-256\","
		 "\"x\":\"%s\",\"y\":\"%s\"},{\"kty\":\"EC\",\"kid\":\"p384\",\"use\":\"jwt-svid\","
		 "\"crv\":\"P-384\",\"x\":\"%s\",\"y\":\"%s\"}]}", x, y, x2, y2);
	fed.td = "partner.example";
	fed.jwks = jwks;

	/* a partner agent's token, partner's key: valid, with its claims */
	tok = fed_tok(partner, "p-kid", "spiffe://partner.example/agent/a");
	TU_ASSERT_ERR(wl_jwt_validate("fleet.example", &k, &fed, 1, tok, "svc", time(NULL),
				      &claims), ATTEST_OK);
	sub = cJSON_GetObjectItemCaseSensitive(claims, "sub");
	CU_ASSERT(cJSON_IsString(sub) &&
		  strcmp(sub->valuestring, "spiffe://partner.example/agent/a") == 0);
	cJSON_Delete(claims);
	claims = NULL;
	/* the same token for another audience */
	TU_ASSERT_ERR(wl_jwt_validate("fleet.example", &k, &fed, 1, tok, "other", time(NULL),
				      &claims), ATTEST_E_DENIED);
	TU_ASSERT_DETAIL("audience");
	/* not federated (no bundle given): refused */
	TU_ASSERT_ERR(wl_jwt_validate("fleet.example", &k, NULL, 0, tok, "svc", time(NULL), &claims),
		      ATTEST_E_DENIED);
	TU_ASSERT_DETAIL("neither fleet.example nor a federated one");
	free(tok);
	/* the partner's key cannot speak for our trust domain */
	fed_refused(&k, &fed, partner, "p-kid", "spiffe://fleet.example/agent/a",
		    "kid p-kid is not in the JWT bundle");
	/* nor our key for the partner's, even under the partner's kid */
	fed_refused(&k, &fed, ours, "our-kid", "spiffe://partner.example/agent/a",
		    "not in trust domain partner.example's JWT bundle");
	fed_refused(&k, &fed, ours, "p-kid", "spiffe://partner.example/agent/a", NULL);
	/* a P-384 key of the partner's bundle: ES256 only */
	fed_refused(&k, &fed, partner, "p384", "spiffe://partner.example/agent/a",
		    "not a P-256 key");
	/* a sub that is no SPIFFE ID with a path */
	fed_refused(&k, &fed, partner, "p-kid", "spiffe://partner.example", NULL);
	/* our own domain still validates with our key */
	tok = fed_tok(ours, "our-kid", "spiffe://fleet.example/agent/b");
	TU_ASSERT_ERR(wl_jwt_validate("fleet.example", &k, &fed, 1, tok, "svc", time(NULL),
				      &claims), ATTEST_OK);
	cJSON_Delete(claims);
	free(tok);
	free(x);
	free(y);
	free(x2);
	free(y2);
	wl_jwks_clear(&k);
	EVP_PKEY_free(ours);
	EVP_PKEY_free(partner);
	EVP_PKEY_free(p384);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "Python gRPC client from the .proto: X.509-SVID, rotation, bundles, refusals",
		  test_python_client },
		{ "C example client (nghttp2 + protobuf-c): SVIDs verified, another binary refused",
		  test_c_client },
		{ "transport: not HTTP/2, silent clients, the client cap; the front survives",
		  test_transport },
		{ "verifier: GET /v1/spiffe/bundle, the fleet root as the x509-svid key",
		  test_verifier_bundle },
		{ "verifier: a Workload API JWT-SVID validates at the verifier; audience, tampering, "
		  "alg none/HS256, unknown kid, another host's key, expired, revoked refused",
		  test_verifier_validates_jwt },
		{ "federation: an added trust domain's bundle on the open streams, then gone",
		  test_federation },
		{ "federation: the bundle parser's strictness and caps", test_federation_parser },
		{ "federation: ValidateJWTSVID takes a federated domain's token with its own keys only",
		  test_federated_jwt },
		{ "federated decisions: a partner domain's agents allowed only where the policy "
		  "names it; other CA, our ID, expired, unnamed, stale refused", test_federated_decisions },
		{ "name constraints: the fleet option, inherited; what stock verifiers get",
		  test_name_constraints_option },
		{ "DNS names: the one rule (wildcards, IP literals, labels, case, dots)",
		  test_dns_name_rule },
		{ "DNS names in a leaf: OpenSSL with and without name constraints, the path rule",
		  test_dns_leaf_profile },
		{ "DNS names through attestd: registration, issuance, refusals, audit, TLS server",
		  test_dns_names_attestd },
		{ NULL, NULL },
	};

	return tu_main("spiffe", tests);
}
