/* test_nginx.c - enforcement through a real proxy (issue 15): Debian's
 * nginx, started by the test with examples/nginx/attest.conf (TLS 1.3
 * only, ssl_verify_client with the fleet root, auth_request to the
 * verifier's /v1/authz over mTLS as a resource caller), an upstream, and a
 * whole fleet on swtpm. An attested agent is served; it is refused when
 * its user's intent does not cover the resource (a grant for patient 1,
 * patient 2 asked), when the policy does not (a write, a resource no rule
 * allows, a path no route maps, a path not canonical), when it is revoked, when its
 * host is untrusted, without a certificate, with a certificate of another
 * fleet, and when the verifier is down (fail closed). /v1/authz is also
 * called directly: 200 only for an allow, 403 deny, 401 without a usable
 * certificate, the X-Attest-* headers, Envoy's x-forwarded-client-cert
 * and path_prefix forms, non-canonical paths, headers set twice.
 * test_nginx_crl: plain mTLS with ssl_crl = the verifier's GET /v1/crl
 * bundle (issue 15 item 5): every level's CRL, a revoked agent's and a
 * revoked host's still-valid leaves refused by nginx itself (400), another
 * agent served; the time from revocation to refusal is printed.
 * Targets: verifier/crl_http.c, attestd/crl.c, libattest/x509/crl.c,
 * verifier/authz_http.c, verifier/decide_http.c,
 * libattest/decide/httproute.c, verifier/inventory.c (chains),
 * examples/nginx/attest.conf. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "core/json.h"
#include "testutil.h"
#include "testutil_daemon.h"
#include "testutil_nginx.h"
#include "testutil_verifier.h"
#include "tpm/tpm.h"

#define AGENT "spiffe://fleet.example/host/web-01/agent/scribe"

static const char policy[] =
	"{\"version\":1,\"rules\":[{\"name\":\"records-read\",\"effect\":\"allow\","
	"\"resources\":[\"ehr:patient/**\"],\"actions\":[\"read\"],"
	"\"require\":{\"scopes\":[\"ehr:read\"],\"host_attested_within\":30}}],"
	"\"http_routes\":[{\"name\":\"records\",\"prefix\":\"/records/\","
	"\"methods\":{\"GET\":\"read\",\"HEAD\":\"read\",\"POST\":\"write\"},"
	"\"resource_prefix\":\"ehr:\",\"context_from_path\":[\"patient\"]}]}";

/* nginx logs the verifier's reason for each request */
static const char log_extra[] =
	"    access_log logs/attest.log attest;";

static void admin(struct verifier *v, const char *path, const char *body)
{
	cJSON *rep = NULL;

	CU_ASSERT_EQUAL(verifier_call(v, AS_ADMIN, path, body, &rep), 200);
	cJSON_Delete(rep);
}

/* Until the verifier has the host's first good quote and its inventory
 * (the agent's chain): /v1/decide allows. */
static int ready(struct vfleet *e)
{
	char *pem = tu_slurp(e->chain, NULL), *body;
	cJSON *o = cJSON_CreateObject();
	int ok = 0;

	cJSON_AddStringToObject(o, "chain", pem);
	cJSON_AddStringToObject(o, "action", "read");
	cJSON_AddStringToObject(o, "resource", "ehr:patient/1/record");
	body = cJSON_PrintUnformatted(o);
	for (int i = 0; i < 400 && !ok; i++) {
		cJSON *rep = NULL;

		ok = verifier_call(&e->v, AS_RESOURCE, "/v1/decide", body, &rep) == 200;
		cJSON_Delete(rep);
		if (!ok)
			usleep(50000);
	}
	cJSON_Delete(o);
	cJSON_free(body);
	free(pem);
	return ok;
}

/* GET /records/... through nginx until the status is want (bounded). */
static int eventually(struct tnginx *n, struct vfleet *e, int want)
{
	char cert[900], key[900];
	int got = 0;

	snprintf(cert, sizeof(cert), "%s", e->chain);
	snprintf(key, sizeof(key), "%s/tls/key.pem", e->d.sw.dir);
	for (int i = 0; i < 300; i++) {
		if ((got = tnginx_call(n, cert, key, "GET", "/records/patient/1/record")) == want)
			return 1;
		usleep(50000);
	}
	fprintf(stderr, "  nginx answered %d, want %d\n", got, want);
	return 0;
}

/* nginx's log line of the last request names this reason */
static int last_reason(const struct tnginx *n, const char *reason)
{
	return tu_sh("tail -n 1 '%s/logs/attest.log' | grep -q 'reason=%s'", n->dir, reason) == 0;
}

/* /v1/authz called directly as the resource caller, with curl arguments
 * args (headers); the status, headers in DIR/authz.hdr, body in
 * DIR/authz.body. */
static int authz(struct vfleet *e, const char *path, const char *args)
{
	char f[800], *s;
	int code;

	CU_ASSERT_EQUAL(tu_sh("cd '%s' && curl -s --tlsv1.3 --cacert '%s' --cert '%s.pem' "
			      "--key '%s.key' %s -D authz.hdr -o authz.body -w '%%{http_code}' "
			      "'%s%s' >authz.code; true",
			      e->d.sw.dir, e->v.cacert, e->v.resource, e->v.resource, args,
			      e->v.url, path), 0);
	snprintf(f, sizeof(f), "%s/authz.code", e->d.sw.dir);
	s = tu_slurp(f, NULL);
	code = (int)tu_leading_num(s);
	free(s);
	return code;
}

static int authz_has(struct vfleet *e, const char *file, const char *what)
{
	return tu_sh("grep -qiF -- '%s' '%s/%s'", what, e->d.sw.dir, file) == 0;
}

/* The cases that need only /v1/authz (no nginx). */
static void direct_cases(struct vfleet *e)
{
	static const char leaf[] = "-H \"X-Client-Cert: $(cat leaf.esc)\" ";

	/* the leaf alone, URL-escaped as nginx's $ssl_client_escaped_cert;
	 * the whole chain, as Envoy's Chain= */
	CU_ASSERT_EQUAL_FATAL(
		tu_sh("cd '%s' && openssl x509 -in tls/cert.pem -out leaf.pem && "
		      "python3 -c 'import sys,urllib.parse as u; "
		      "print(u.quote(open(\"leaf.pem\").read(), safe=\"\"))' >leaf.esc && "
		      "python3 -c 'import sys,urllib.parse as u; "
		      "print(u.quote(open(\"tls/cert.pem\").read(), safe=\"\"))' >chain.esc",
		      e->d.sw.dir), 0);
	/* allow: 200, the decision in headers and body */
	CU_ASSERT_EQUAL(authz(e, "/v1/authz", "-H \"X-Client-Cert: $(cat leaf.esc)\" "
			      "-H 'X-Original-Method: GET' "
			      "-H 'X-Original-URI: /records/patient/1/record?x=1' "
			      "-H 'X-Original-Host: ehr.example'"), 200);
	CU_ASSERT(authz_has(e, "authz.hdr", "X-Attest-Agent: " AGENT));
	CU_ASSERT(authz_has(e, "authz.hdr", "X-Attest-Rule: records-read"));
	CU_ASSERT(authz_has(e, "authz.hdr", "X-Attest-Reason: ATTEST_OK"));
	CU_ASSERT(authz_has(e, "authz.hdr", "X-Attest-Decision: allow"));
	CU_ASSERT(authz_has(e, "authz.body", "\"decision\":\"allow\""));
	/* a write: mapped (POST -> write) and denied by the policy, 403 */
	CU_ASSERT_EQUAL(authz(e, "/v1/authz", "-H \"X-Client-Cert: $(cat leaf.esc)\" "
			      "-H 'X-Original-Method: POST' "
			      "-H 'X-Original-URI: /records/patient/1/record'"), 403);
	CU_ASSERT(authz_has(e, "authz.hdr", "X-Attest-Reason: ATTEST_E_NO_RULE"));
	/* a method the route does not map; a path no route maps; paths that
	 * are not canonical: denied (403), never mapped some other way */
	CU_ASSERT_EQUAL(authz(e, "/v1/authz", "-H \"X-Client-Cert: $(cat leaf.esc)\" "
			      "-H 'X-Original-Method: DELETE' "
			      "-H 'X-Original-URI: /records/patient/1/record'"), 403);
	CU_ASSERT(authz_has(e, "authz.hdr", "X-Attest-Reason: ATTEST_E_FWD_NO_ROUTE"));
	CU_ASSERT_EQUAL(authz(e, "/v1/authz", "-H \"X-Client-Cert: $(cat leaf.esc)\" "
			      "-H 'X-Original-Method: GET' -H 'X-Original-URI: /admin/x'"), 403);
	CU_ASSERT(authz_has(e, "authz.body", "ATTEST_E_FWD_NO_ROUTE"));
	for (int i = 0; i < 4; i++) {
		static const char *const bad[] = {"/records/patient/2/../1/record",
						  "/records/patient/%31/record",
						  "/records//patient/1/record",
						  "/records/patient/./1/record"};
		char args[400];

		snprintf(args, sizeof(args), "%s-H 'X-Original-Method: GET' -H 'X-Original-URI: %s'",
			 leaf, bad[i]);
		CU_ASSERT_EQUAL(authz(e, "/v1/authz", args), 403);
		CU_ASSERT(authz_has(e, "authz.body", "ATTEST_E_FWD_NO_ROUTE"));
	}
	/* the decision record of an unmapped request is in the audit log */
	CU_ASSERT_EQUAL(tu_sh("attestctl audit show --log %s/audit --type decision | "
			      "grep -q 'ATTEST_E_FWD_NO_ROUTE'", e->v.state), 0);
	/* no certificate, or one that is not a certificate: 401 */
	CU_ASSERT_EQUAL(authz(e, "/v1/authz", "-H 'X-Original-Method: GET' "
			      "-H 'X-Original-URI: /records/patient/1/record'"), 401);
	CU_ASSERT(authz_has(e, "authz.body", "ATTEST_E_FWD_NO_CERT"));
	CU_ASSERT_EQUAL(authz(e, "/v1/authz", "-H 'X-Client-Cert: -----BEGIN%20CERTIFICATE-----' "
			      "-H 'X-Original-Method: GET' "
			      "-H 'X-Original-URI: /records/patient/1/record'"), 401);
	CU_ASSERT_EQUAL(authz(e, "/v1/authz", "-H 'X-Client-Cert: %%zz' "
			      "-H 'X-Original-Method: GET' "
			      "-H 'X-Original-URI: /records/patient/1/record'"), 401);
	/* no original request: an error (non-2xx), never an allow */
	CU_ASSERT_EQUAL(authz(e, "/v1/authz", leaf), 400);
	/* two certificate headers at once: a misconfigured proxy, refused */
	CU_ASSERT_EQUAL(authz(e, "/v1/authz", "-H \"X-Client-Cert: $(cat leaf.esc)\" "
			      "-H \"X-Forwarded-Client-Cert: Cert=$(cat leaf.esc)\" "
			      "-H 'X-Original-Method: GET' "
			      "-H 'X-Original-URI: /records/patient/1/record'"), 400);
	/* Envoy: x-forwarded-client-cert with Cert= and Chain=, the original
	 * method, path and host in our own request line (path_prefix) */
	CU_ASSERT_EQUAL(authz(e, "/v1/authz/records/patient/1/record",
			      "-H \"X-Forwarded-Client-Cert: By=spiffe://x;Hash=ab;"
			      "Cert=\\\"$(cat leaf.esc)\\\";Chain=\\\"$(cat chain.esc)\\\";URI=" AGENT
			      "\" -H 'Host: ehr.example'"), 200);
	CU_ASSERT(authz_has(e, "authz.hdr", "X-Attest-Agent: " AGENT));
	/* Cert= alone: completed from the inventory like nginx's leaf */
	CU_ASSERT_EQUAL(authz(e, "/v1/authz/records/patient/1/record",
			      "-H \"X-Forwarded-Client-Cert: Cert=$(cat leaf.esc)\""), 200);
	CU_ASSERT_EQUAL(authz(e, "/v1/authz/records/patient/1/record",
			      "-X POST -H \"X-Forwarded-Client-Cert: Cert=$(cat leaf.esc)\""), 403);
	/* a caller that is not an enrolled resource caller: refused */
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && [ \"$(curl -s --tlsv1.3 --cacert '%s' -o /dev/null "
			      "-w '%%{http_code}' -H \"X-Client-Cert: $(cat leaf.esc)\" "
			      "-H 'X-Original-Method: GET' -H 'X-Original-URI: /records/patient/1/r' "
			      "'%s/v1/authz')\" = 403 ]",
			      e->d.sw.dir, e->v.cacert, e->v.url), 0);
}

/* A fleet of its own: a root and a leaf naming our agent, signed by it. */
static void other_fleet(struct vfleet *e)
{
	CU_ASSERT_EQUAL_FATAL(
		tu_sh("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		      "-nodes -subj /CN=other-root -days 1 -addext basicConstraints=critical,CA:TRUE "
		      "-keyout oroot.key -out oroot.pem 2>/dev/null && "
		      "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		      "-subj /CN=scribe -keyout other.key -out other.csr 2>/dev/null && "
		      "printf 'basicConstraints=critical,CA:FALSE\\nkeyUsage=critical,digitalSignature\\n"
		      "extendedKeyUsage=clientAuth\\nsubjectAltName=URI:%s\\n' >other.ext && "
		      "openssl x509 -req -in other.csr -CA oroot.pem -CAkey oroot.key -CAcreateserial "
		      "-days 1 -extfile other.ext -out other.pem 2>/dev/null && "
		      "python3 -c 'import urllib.parse as u; "
		      "print(u.quote(open(\"other.pem\").read(), safe=\"\"))' >other.esc",
		      e->d.sw.dir, AGENT), 0);
}

static void test_nginx(void)
{
	struct vfleet e;
	struct tnginx n;
	struct attest_tpm *t = NULL;
	uint8_t ext[32] = {0x5a};
	char cert[900], key[900], okey[900], ocert[900], icert[900], ikey[900];

	if (tnginx_bin() == NULL) {
		CU_FAIL("nginx is not installed (make deps installs nginx-light)");
		return;
	}
	vfleet_up(&e, policy);
	/* an EHR is a trusted intent issuer of attestd and the verifier (read
	 * at start: the verifier first, attestd pushes to its new port) */
	CU_ASSERT_FATAL(tu_sh("cd '%s' && openssl ecparam -name prime256v1 -genkey -noout "
			      "-out ehr.key 2>/dev/null && openssl pkey -in ehr.key -pubout "
			      "-out ehr.pem && mkdir -p '%s/intent-issuers' '%s/intent-issuers' && "
			      "cp ehr.pem '%s/intent-issuers/ehr.pem' && "
			      "cp ehr.pem '%s/intent-issuers/ehr.pem'",
			      e.d.sw.dir, e.d.state, e.v.state, e.d.state, e.v.state) == 0);
	verifier_stop(&e.v);
	verifier_start(&e.v);
	snprintf(e.d.verifier_url, sizeof(e.d.verifier_url), "%s", e.v.url);
	daemon_stop(&e.d);
	daemon_start(&e.d, "64");
	CU_ASSERT_FATAL(ready(&e));
	/* scribe again, with a user's intent for patient 1 only */
	CU_ASSERT_FATAL(tu_sh("cd '%s' && attestctl intent issue --key ehr.key --issuer ehr "
			      "--user dr.alice@hospital.example --aud %s --purpose TREATMENT "
			      "--text 'ward round' --scopes ehr:read --resources 'ehr:patient/1/*' "
			      "--ttl 600 --jti ward-1 >treat.jws && ./scribe --agent scribe "
			      "--socket '%s' --mode strict --intent treat.jws --out treat >>agent.log 2>&1",
			      e.d.sw.dir, AGENT, e.d.sock) == 0);
	snprintf(cert, sizeof(cert), "%s", e.chain);
	snprintf(key, sizeof(key), "%s/tls/key.pem", e.d.sw.dir);
	snprintf(ocert, sizeof(ocert), "%s/other.pem", e.d.sw.dir);
	snprintf(okey, sizeof(okey), "%s/other.key", e.d.sw.dir);
	snprintf(icert, sizeof(icert), "%s/treat/cert.pem", e.d.sw.dir);
	snprintf(ikey, sizeof(ikey), "%s/treat/key.pem", e.d.sw.dir);
	other_fleet(&e);
	direct_cases(&e);
	/* the certificate of another fleet, at the verifier: denied */
	CU_ASSERT_EQUAL(authz(&e, "/v1/authz", "-H \"X-Client-Cert: $(cat other.esc)\" "
			      "-H 'X-Original-Method: GET' "
			      "-H 'X-Original-URI: /records/patient/1/record'"), 403);
	CU_ASSERT(authz_has(&e, "authz.hdr", "X-Attest-Decision: deny"));

	CU_ASSERT_FATAL(tnginx_start(&n, e.d.ca, &e.v, log_extra) == 0);
	/* the attested agent, its chain and key: served by the upstream,
	 * which got the verifier's agent and rule */
	CU_ASSERT_EQUAL(tnginx_call(&n, cert, key, "GET", "/records/patient/1/record"), 200);
	CU_ASSERT(tnginx_body_has(&n, "upstream record for [" AGENT "] rule [records-read]"));
	CU_ASSERT(last_reason(&n, "ATTEST_OK"));
	/* what its intent and the policy do not cover: a write, a resource
	 * no rule allows, a path no route maps */
	CU_ASSERT_EQUAL(tnginx_call(&n, cert, key, "POST", "/records/patient/1/record"), 403);
	CU_ASSERT(last_reason(&n, "ATTEST_E_NO_RULE"));
	CU_ASSERT(!tnginx_body_has(&n, "upstream record"));
	CU_ASSERT_EQUAL(tnginx_call(&n, cert, key, "GET", "/records/billing/1"), 403);
	CU_ASSERT(last_reason(&n, "ATTEST_E_NO_RULE"));
	CU_ASSERT_EQUAL(tnginx_call(&n, cert, key, "GET", "/other/x"), 403);
	CU_ASSERT(last_reason(&n, "ATTEST_E_FWD_NO_ROUTE"));
	CU_ASSERT_EQUAL(tnginx_call(&n, cert, key, "GET", "/records/patient/2/../1/record"), 403);
	/* the user's intent: patient 1 served, with the user and purpose
	 * passed upstream; patient 2 is outside it */
	CU_ASSERT_EQUAL(tnginx_call(&n, icert, ikey, "GET", "/records/patient/1/record"), 200);
	CU_ASSERT(last_reason(&n, "ATTEST_OK"));
	CU_ASSERT(tu_sh("grep -q 'user=dr.alice@hospital.example purpose=TREATMENT' '%s/logs/attest.log'",
			n.dir) == 0);
	CU_ASSERT_EQUAL(tnginx_call(&n, icert, ikey, "GET", "/records/patient/2/record"), 403);
	CU_ASSERT(last_reason(&n, "ATTEST_E_SCOPE"));
	CU_ASSERT(!tnginx_body_has(&n, "upstream record"));
	/* no client certificate; a certificate of another fleet: nginx
	 * refuses them itself (400), the verifier is not asked */
	CU_ASSERT_EQUAL(tnginx_call(&n, NULL, NULL, "GET", "/records/patient/1/record"), 400);
	CU_ASSERT(!tnginx_body_has(&n, "upstream record"));
	CU_ASSERT_EQUAL(tnginx_call(&n, ocert, okey, "GET", "/records/patient/1/record"), 400);
	CU_ASSERT(!tnginx_body_has(&n, "upstream record"));
	/* TLS 1.2 is refused at the handshake (no HTTP answer at all) */
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && ! curl -s --tls-max 1.2 --cacert server.pem --cert '%s' "
			      "--key '%s' -o /dev/null https://127.0.0.1:%u/records/patient/1/record",
			      n.dir, cert, key, n.port), 0);

	/* the host turns untrusted (a boot PCR changes; swtpm serves one
	 * client: attestd steps aside), within one push: refused */
	daemon_stop(&e.d);
	CU_ASSERT_FATAL(attest_tpm_open(e.d.sw.tcti, &t) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_tpm_pcr_extend(t, 4, ext) == ATTEST_OK);
	attest_tpm_close(t);
	daemon_start(&e.d, "64");
	CU_ASSERT(eventually(&n, &e, 403));
	CU_ASSERT(last_reason(&n, "ATTEST_E_HOST_UNTRUSTED"));
	CU_ASSERT(!tnginx_body_has(&n, "upstream record"));

	/* revoked at the verifier: refused at once */
	admin(&e.v, "/v1/agents/revoke", "{\"agent\":\"" AGENT "\",\"reason\":\"test\"}");
	CU_ASSERT_EQUAL(tnginx_call(&n, cert, key, "GET", "/records/patient/1/record"), 403);
	CU_ASSERT(last_reason(&n, "ATTEST_E_REVOKED"));

	/* the verifier down: nginx fails closed (500), nothing served */
	verifier_stop(&e.v);
	CU_ASSERT_EQUAL(tnginx_call(&n, cert, key, "GET", "/records/patient/1/record"), 500);
	CU_ASSERT(!tnginx_body_has(&n, "upstream record"));

	tnginx_stop(&n);
	vfleet_down(&e);
}

/* ---- plain mTLS with ssl_crl (issue 15 item 5) ---- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* examples/nginx/attest-crl-refresh, as a relying party runs it: GET
 * /v1/crl as the resource caller, checked, installed as DIR/crl.pem, then
 * nginx (pid, 0: none) reloaded; 0 on success. */
static int crl_fetch(struct vfleet *e, pid_t pid)
{
	return tu_sh("cd '%s' && ATTEST_VERIFIER='%s' ATTEST_CALLER='%s' ATTEST_VERIFIER_CA='%s' "
		     "ATTEST_ROOT='%s/root.pem' ATTEST_CRL='%s/crl.pem' ATTEST_RELOAD='%s%d' "
		     "'%s/examples/nginx/attest-crl-refresh' 2>>crl-refresh.log",
		     e->d.sw.dir, e->v.url, e->v.resource, e->v.cacert, e->d.ca, e->d.sw.dir,
		     pid > 0 ? "kill -HUP " : "true ", (int)pid,
		     getenv("ATTEST_SRCDIR") ? getenv("ATTEST_SRCDIR") : ".");
}

/* openssl verify of an agent's chain (cert.pem: leaf, then its chain)
 * against the root and DIR/crl.pem with every CRL checked, as nginx's
 * ssl_crl; 0 when accepted, the output in DIR/verify.log */
static int crl_verify(struct vfleet *e, const char *agent_dir)
{
	return tu_sh("cd '%s' && openssl verify -crl_check_all -CAfile '%s/root.pem' "
		     "-untrusted %s/cert.pem -CRLfile crl.pem %s/cert.pem >verify.log 2>&1",
		     e->d.sw.dir, e->d.ca, agent_dir, agent_dir);
}

/* Refresh (fetch, nginx reload) until nginx answers want for the agent
 * in agent_dir, bounded; 1 when it did. */
static int crl_until(struct vfleet *e, struct tnginx *n, const char *agent_dir, int want)
{
	char cert[900], key[900];
	int got = -1;

	snprintf(cert, sizeof(cert), "%s/%s/cert.pem", e->d.sw.dir, agent_dir);
	snprintf(key, sizeof(key), "%s/%s/key.pem", e->d.sw.dir, agent_dir);
	for (int i = 0; i < 150; i++) {
		if (crl_fetch(e, n != NULL ? n->pid : 0) == 0 && n != NULL)
			usleep(100000); /* nginx reads ssl_crl again */
		if (n == NULL ? crl_verify(e, agent_dir) == 0 :
				(got = tnginx_call(n, cert, key, "GET", "/records/patient/1/record")) == want)
			return 1;
		usleep(100000);
	}
	fprintf(stderr, "  nginx answered %d, want %d\n", got, want);
	return 0;
}

static void test_nginx_crl(void)
{
	struct vfleet e;
	struct tnginx n;
	char cert[900], key[900], ccert[900], ckey[900], extra[1000];
	double t0, t1;

	if (tnginx_bin() == NULL) {
		CU_FAIL("nginx is not installed (make deps installs nginx-light)");
		return;
	}
	vfleet_up(&e, policy);
	daemon_example_agent(&e.d, "clerk", "clerkout");
	snprintf(cert, sizeof(cert), "%s/tls/cert.pem", e.d.sw.dir);
	snprintf(key, sizeof(key), "%s/tls/key.pem", e.d.sw.dir);
	snprintf(ccert, sizeof(ccert), "%s/clerkout/cert.pem", e.d.sw.dir);
	snprintf(ckey, sizeof(ckey), "%s/clerkout/key.pem", e.d.sw.dir);
	CU_ASSERT_FATAL(ready(&e));
	/* the bundle covers every level of both agents' chains (root,
	 * issuing CA, host CA, agent CA): openssl accepts them with it */
	CU_ASSERT_FATAL(crl_until(&e, NULL, "tls", 0));
	CU_ASSERT_FATAL(crl_until(&e, NULL, "clerkout", 0));
	CU_ASSERT_EQUAL(tu_sh("grep -c 'BEGIN X509 CRL' '%s/crl.pem' | grep -qx 5", e.d.sw.dir), 0);
	/* nginx doing only mTLS with that bundle (the auth_request of the
	 * example stays: its refusals are 403, ssl_crl's are 400) */
	snprintf(extra, sizeof(extra), "    ssl_crl %s/crl.pem;", e.d.sw.dir);
	CU_ASSERT_FATAL(tnginx_start(&n, e.d.ca, &e.v, extra) == 0);
	CU_ASSERT_EQUAL(tnginx_call(&n, cert, key, "GET", "/records/patient/1/record"), 200);
	CU_ASSERT_EQUAL(tnginx_call(&n, ccert, ckey, "GET", "/records/patient/1/record"), 200);
	/* the refresh refuses a bundle that is not the fleet's CRLs and keeps
	 * the file it has: not a CRL, over the count cap, a first CRL that is
	 * not the root's (the verifier's own TLS CA is not the fleet root) */
	{
		char *before = NULL, *after = NULL, p[900];

		snprintf(p, sizeof(p), "%s/crl.pem", e.d.sw.dir);
		before = tu_slurp(p, NULL);
		CU_ASSERT_NOT_EQUAL(tu_sh("cd '%s' && ATTEST_CRL_COUNT_MAX=2 ATTEST_VERIFIER='%s' "
					  "ATTEST_CALLER='%s' ATTEST_VERIFIER_CA='%s' "
					  "ATTEST_ROOT='%s/root.pem' ATTEST_CRL='%s/crl.pem' "
					  "ATTEST_RELOAD=true '%s/examples/nginx/attest-crl-refresh' "
					  "2>refresh.err", e.d.sw.dir, e.v.url, e.v.resource,
					  e.v.cacert, e.d.ca, e.d.sw.dir,
					  getenv("ATTEST_SRCDIR") ? getenv("ATTEST_SRCDIR") : "."), 0);
		CU_ASSERT(tu_sh("grep -q 'at most 2' '%s/refresh.err'", e.d.sw.dir) == 0);
		CU_ASSERT_NOT_EQUAL(tu_sh("cd '%s' && ATTEST_VERIFIER='%s' ATTEST_CALLER='%s' "
					  "ATTEST_VERIFIER_CA='%s' ATTEST_ROOT='%s' "
					  "ATTEST_CRL='%s/crl.pem' ATTEST_RELOAD=true "
					  "'%s/examples/nginx/attest-crl-refresh' 2>refresh.err",
					  e.d.sw.dir, e.v.url, e.v.resource, e.v.cacert, e.v.cacert,
					  e.d.sw.dir,
					  getenv("ATTEST_SRCDIR") ? getenv("ATTEST_SRCDIR") : "."), 0);
		CU_ASSERT(tu_sh("grep -q \"not the fleet root's\" '%s/refresh.err'", e.d.sw.dir) == 0);
		after = tu_slurp(p, NULL);
		CU_ASSERT(before != NULL && after != NULL && strcmp(before, after) == 0);
		free(before);
		free(after);
	}

	/* scribe revoked at the verifier: the next push answer reaches
	 * attestd, its next report carries the host CA's CRL listing
	 * scribe's agent CA; one refresh later nginx refuses scribe's leaf,
	 * still valid, at the handshake's verification (400) */
	t0 = now_s();
	admin(&e.v, "/v1/agents/revoke", "{\"agent\":\"" AGENT "\",\"reason\":\"test\"}");
	CU_ASSERT(crl_until(&e, &n, "tls", 400));
	t1 = now_s();
	CU_ASSERT(tnginx_body_has(&n, "The SSL certificate error"));
	fprintf(stderr, "  agent revocation at the verifier -> nginx ssl_crl refusal: %.2f s "
		"(push interval 1 s, refresh every 0.2 s)\n", t1 - t0);
	CU_ASSERT_NOT_EQUAL(crl_verify(&e, "tls"), 0);
	CU_ASSERT(tu_sh("grep -q 'certificate revoked' '%s/verify.log' || "
			"{ cat '%s/verify.log' >&2; false; }", e.d.sw.dir, e.d.sw.dir) == 0);
	/* the other agent is still served */
	CU_ASSERT_EQUAL(tnginx_call(&n, ccert, ckey, "GET", "/records/patient/1/record"), 200);

	/* the host revoked: the issuing CA's CRL lists its host CA; clerk's
	 * leaf is refused too */
	t0 = now_s();
	admin(&e.v, "/v1/hosts/revoke", "{\"host\":\"web-01\",\"reason\":\"test\"}");
	CU_ASSERT(crl_until(&e, &n, "clerkout", 400));
	t1 = now_s();
	fprintf(stderr, "  host revocation at the verifier -> nginx ssl_crl refusal: %.2f s\n",
		t1 - t0);
	CU_ASSERT_NOT_EQUAL(crl_verify(&e, "clerkout"), 0);
	CU_ASSERT(tu_sh("grep -q 'certificate revoked' '%s/verify.log' || "
			"{ cat '%s/verify.log' >&2; false; }", e.d.sw.dir, e.d.sw.dir) == 0);

	tnginx_stop(&n);
	vfleet_down(&e);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{"nginx auth_request -> /v1/authz: allowed, then refused (intent/policy, "
		 "untrusted host, revocation, no or foreign certificate, verifier down)", test_nginx},
		{"nginx ssl_crl with GET /v1/crl: every level, agent and host revocation "
		 "refused at the handshake, another agent served", test_nginx_crl},
		{NULL, NULL},
	};

	return tu_main("nginx", tests);
}
