/* test_e2e.c - the whole path on swtpm, two hosts: a host enrols through
 * attest-verifier and pushes quotes; an agent registered there gets a
 * certificate from attestd, calls the example resource server over TLS 1.3
 * mTLS and is allowed; operator approval, agent revocation, a boot PCR
 * change (denied within one push interval) and host revocation deny it,
 * each with its reason; a leaf from a host of another fleet is refused.
 * Targets: verifier/server.c, libattest/decide/decide.c, examples/resource_server.c,
 * attestd/push.c. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "enrol/enrol.h"
#include "core/json.h"
#include "testutil.h"
#include "testutil_daemon.h"
#include "testutil_pg.h"
#include "testutil_verifier.h"
#include "tpm/tpm.h"

#define AGENT "spiffe://fleet.example/host/web-01/agent/scribe"

static const char policy[] = TU_POLICY_RECORDS_READ(30);

/* POST /v1/decide for the chain in pem_file as the resource caller; the
 * reason (ATTEST_OK for allow). */
static const char *decide(struct verifier *v, const char *pem_file, const char *resource,
			  char *out, size_t outsz)
{
	char *pem = tu_slurp(pem_file, NULL), *body = NULL;
	cJSON *o = cJSON_CreateObject(), *rep = NULL;
	long st;

	cJSON_AddStringToObject(o, "chain", pem);
	cJSON_AddStringToObject(o, "action", "read");
	cJSON_AddStringToObject(o, "resource", resource);
	body = cJSON_PrintUnformatted(o);
	st = verifier_call(v, AS_RESOURCE, "/v1/decide", body, &rep);
	snprintf(out, outsz, "%s", reply_reason(rep));
	/* API revision 2: 200 allow, 403 deny, the decision in the body either way */
	CU_ASSERT_EQUAL(st, strcmp(out, "ATTEST_OK") == 0 ? 200 : 403);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(rep, "decision")->valuestring,
			       strcmp(out, "ATTEST_OK") == 0 ? "allow" : "deny");
	cJSON_Delete(rep);
	cJSON_Delete(o);
	cJSON_free(body);
	free(pem);
	return out;
}

/* Wait (bounded) until the decision's reason is `want`. */
static int eventually(struct verifier *v, const char *pem_file, const char *want)
{
	char got[64] = "";

	for (int i = 0; i < 200; i++) {
		if (strcmp(decide(v, pem_file, "ehr:patient/1/record", got, sizeof(got)), want) == 0)
			return 1;
		usleep(50000);
	}
	fprintf(stderr, "  decision reason %s, want %s\n", got, want);
	return 0;
}

static void admin(struct verifier *v, const char *path, const char *body)
{
	cJSON *rep = NULL;

	CU_ASSERT_EQUAL(verifier_call(v, AS_ADMIN, path, body, &rep), 200);
	cJSON_Delete(rep);
}

static int server_start(struct vfleet *e)
{
	return tu_sh("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		     "-nodes -subj /CN=ehr -days 1 -addext subjectAltName=IP:127.0.0.1 "
		     "-keyout srv.key -out srv.pem 2>/dev/null && rm -f port && "
		     "('%s/resource_server' --listen 127.0.0.1:0 --port-file port --cert srv.pem "
		     "--key srv.key --fleet-root '%s/root.pem' --verifier %s --verifier-ca %s "
		     "--caller-cert %s.pem --caller-key %s.key 2>srv.log & echo $! >srv.pid) && "
		     "for i in $(seq 200); do [ -s port ] && exit 0; sleep 0.05; done; exit 1",
		     e->d.sw.dir, tu_examples_dir(), e->d.ca, e->v.url, e->v.cacert, e->v.resource,
		     e->v.resource);
}

/* The agent calls the resource server; the HTTP status it got. */
static int agent_call(struct vfleet *e, const char *path)
{
	char code[16] = "";
	char f[800];
	char *s;

	CU_ASSERT_EQUAL(tu_sh("cd '%s' && curl -s --tlsv1.3 --cacert srv.pem --cert tls/cert.pem "
			      "--key tls/key.pem -o call.body -w '%%{http_code}' "
			      "\"https://127.0.0.1:$(cat port)%s\" >call.code",
			      e->d.sw.dir, path), 0);
	snprintf(f, sizeof(f), "%s/call.code", e->d.sw.dir);
	s = tu_slurp(f, NULL);
	snprintf(code, sizeof(code), "%s", s);
	free(s);
	return (int)tu_leading_num(code);
}

static int body_has(struct vfleet *e, const char *what)
{
	return tu_sh("grep -q '%s' '%s/call.body'", what, e->d.sw.dir) == 0;
}

static const char *uids_of_test(void)
{
	static char u[32];

	snprintf(u, sizeof(u), "%u", (unsigned)getuid());
	return u;
}

static void test_end_to_end(void)
{
	struct vfleet e;
	char got[64], aux[900];
	struct attest_tpm *t = NULL;
	uint8_t ext[32] = {0x5a};

	vfleet_up(&e, policy);
	/* the host's first push and the inventory report reach the verifier */
	CU_ASSERT_FATAL(eventually(&e.v, e.chain, "ATTEST_OK"));
	CU_ASSERT_EQUAL_FATAL(server_start(&e), 0);

	/* the agent is allowed through the resource server */
	CU_ASSERT_EQUAL(agent_call(&e, "/records/patient/1/record"), 200);
	CU_ASSERT(body_has(&e, "\"decision\":\"allow\""));
	/* a write has no rule: default deny, with its reason */
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && curl -s --tlsv1.3 --cacert srv.pem --cert tls/cert.pem "
			      "--key tls/key.pem -d '{}' \"https://127.0.0.1:$(cat port)/records/"
			      "patient/1/record\" | grep -q ATTEST_E_NO_RULE",
			      e.d.sw.dir), 0);

	/* issue 17: repeated decisions read the host and agent facts from
	 * the verifier's view (every change below must still apply at once) */
	CU_ASSERT_STRING_EQUAL(decide(&e.v, e.chain, "ehr:patient/1/record", got, sizeof(got)),
			       "ATTEST_OK");
	CU_ASSERT_STRING_EQUAL(decide(&e.v, e.chain, "ehr:patient/1/record", got, sizeof(got)),
			       "ATTEST_OK");
	CU_ASSERT_EQUAL(tu_sh("curl -s --max-time 60 --cacert %s '%s/metrics' | grep -q "
			      "'cache_hits_total{cache=\"agent\"} [1-9]'", e.v.cacert, e.v.url), 0);
	CU_ASSERT_EQUAL(tu_sh("curl -s --max-time 60 --cacert %s '%s/metrics' | grep -q "
			      "'cache_hits_total{cache=\"host\"} [1-9]'", e.v.cacert, e.v.url), 0);

	/* operator approval of registrations */
	admin(&e.v, "/v1/settings", "{\"approval_required\":true}");
	CU_ASSERT_STRING_EQUAL(decide(&e.v, e.chain, "ehr:patient/1/record", got, sizeof(got)),
			       "ATTEST_E_NOT_APPROVED");
	admin(&e.v, "/v1/agents/approve", "{\"agent\":\"" AGENT "\"}");
	CU_ASSERT_STRING_EQUAL(decide(&e.v, e.chain, "ehr:patient/1/record", got, sizeof(got)),
			       "ATTEST_OK");
	/* a fleet-wide scope cap that leaves out ehr:read, or an empty one
	 * (no scope at all): the rule fails; null lifts the cap */
	admin(&e.v, "/v1/settings", "{\"scope_cap\":[\"ehr:write\"]}");
	CU_ASSERT_STRING_EQUAL(decide(&e.v, e.chain, "ehr:patient/1/record", got, sizeof(got)),
			       "ATTEST_E_NO_RULE");
	admin(&e.v, "/v1/settings", "{\"scope_cap\":[]}");
	CU_ASSERT_STRING_EQUAL(decide(&e.v, e.chain, "ehr:patient/1/record", got, sizeof(got)),
			       "ATTEST_E_NO_RULE");
	admin(&e.v, "/v1/settings", "{\"scope_cap\":null}");
	CU_ASSERT_STRING_EQUAL(decide(&e.v, e.chain, "ehr:patient/1/record", got, sizeof(got)),
			       "ATTEST_OK");

	/* inventory: an agent the host removes is revoked at the verifier with
	 * the next report; an agent an operator revoked stays revoked when
	 * the host registers it again (new key, new UUID) */
	admin(&e.v, "/v1/settings", "{\"approval_required\":false}");
	daemon_example_agent(&e.d, "aux", "tls-aux");
	snprintf(aux, sizeof(aux), "%s/tls-aux/cert.pem", e.d.sw.dir);
	CU_ASSERT(eventually(&e.v, aux, "ATTEST_OK"));
	CU_ASSERT_EQUAL(tu_sh("attestctl agent revoke --name aux --admin-socket %s >/dev/null && "
			      "attestctl agent remove --name aux --admin-socket %s >/dev/null",
			      e.d.admin, e.d.admin), 0);
	CU_ASSERT(eventually(&e.v, aux, "ATTEST_E_REVOKED"));
	daemon_example_agent(&e.d, "aux", "tls-aux2");
	snprintf(aux, sizeof(aux), "%s/tls-aux2/cert.pem", e.d.sw.dir);
	CU_ASSERT(eventually(&e.v, aux, "ATTEST_OK")); /* a new registration */
	admin(&e.v, "/v1/agents/revoke",
	      "{\"agent\":\"spiffe://fleet.example/host/web-01/agent/aux\",\"reason\":\"x\"}");
	CU_ASSERT_STRING_EQUAL(decide(&e.v, aux, "ehr:patient/1/record", got, sizeof(got)),
			       "ATTEST_E_REVOKED");
	CU_ASSERT_EQUAL(tu_sh("attestctl agent revoke --name aux --admin-socket %s >/dev/null && "
			      "attestctl agent remove --name aux --admin-socket %s >/dev/null",
			      e.d.admin, e.d.admin), 0);
	/* the new registration: the verifier still denies it, and its next
	 * quote answer revokes it at attestd too (issue 15), so it may get a
	 * leaf before that push but none after */
	snprintf(aux, sizeof(aux), "%s/aux", e.d.sw.dir);
	register_agent(&e.d, "aux", aux, uids_of_test());
	if (tu_sh("cd '%s' && ./aux --agent aux --socket '%s' --out tls-aux3 >agent.log 2>&1",
		  e.d.sw.dir, e.d.sock) == 0) {
		snprintf(aux, sizeof(aux), "%s/tls-aux3/cert.pem", e.d.sw.dir);
		for (int i = 0; i < 40; i++) /* the report of the new registration */
			usleep(50000);
		CU_ASSERT_STRING_EQUAL(decide(&e.v, aux, "ehr:patient/1/record", got, sizeof(got)),
				       "ATTEST_E_REVOKED");
	}
	{
		int refused = 0;

		for (int i = 0; i < 300 && !refused; i++) {
			refused = tu_sh("cd '%s' && ./aux --agent aux --socket '%s' --out tls-aux4 "
					">agent.log 2>&1", e.d.sw.dir, e.d.sock) != 0;
			if (!refused)
				usleep(50000);
		}
		CU_ASSERT(refused);
		CU_ASSERT_EQUAL(tu_sh("grep -q ATTEST_E_REVOKED '%s/agent.log'", e.d.sw.dir), 0);
	}

	/* a boot PCR changes (swtpm serves one client: attestd steps aside);
	 * the next push demotes the host and decisions deny */
	daemon_stop(&e.d);
	CU_ASSERT_FATAL(attest_tpm_open(e.d.sw.tcti, &t) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_tpm_pcr_extend(t, 4, ext) == ATTEST_OK);
	attest_tpm_close(t);
	daemon_start(&e.d, "64");
	CU_ASSERT(eventually(&e.v, e.chain, "ATTEST_E_HOST_UNTRUSTED"));
	CU_ASSERT_EQUAL(agent_call(&e, "/records/patient/1/record"), 403);
	CU_ASSERT(body_has(&e, "ATTEST_E_HOST_UNTRUSTED"));

	/* every decision was recorded before it was answered: the allow and
	 * the denials are in the verifier's audit log, with the caller */
	CU_ASSERT_EQUAL(tu_sh("attestctl audit show --log %s/audit --type decision | "
			      "grep '\"outcome\":\"allow\"' | grep -q '\"source\":\"ehr-api\"'",
			      e.v.state), 0);
	CU_ASSERT_EQUAL(tu_sh("attestctl audit show --log %s/audit --type decision | "
			      "grep -q 'ATTEST_E_HOST_UNTRUSTED'", e.v.state), 0);
	CU_ASSERT_EQUAL(tu_sh("attestctl audit show --log %s/audit --type host_quote | "
			      "grep -q '\"outcome\":\"untrusted\"'", e.v.state), 0);

	/* revocations */
	admin(&e.v, "/v1/agents/revoke", "{\"agent\":\"" AGENT "\",\"reason\":\"test\"}");
	CU_ASSERT_STRING_EQUAL(decide(&e.v, e.chain, "ehr:patient/1/record", got, sizeof(got)),
			       "ATTEST_E_REVOKED");
	admin(&e.v, "/v1/hosts/revoke", "{\"host\":\"web-01\",\"reason\":\"test\"}");
	CU_ASSERT_STRING_EQUAL(decide(&e.v, e.chain, "ehr:patient/1/record", got, sizeof(got)),
			       "ATTEST_E_REVOKED");
	vfleet_down(&e);
}

/* An agent of a host enrolled by another fleet CA: its chain does not
 * build to this verifier's fleet root. */
static void test_other_fleet(void)
{
	struct vfleet e;
	struct daemon other;
	char chain[800], got[64];

	vfleet_up(&e, policy);
	daemon_up(&other); /* its own swtpm and its own fleet CA */
	daemon_example_agent(&other, "scribe", "tls");
	snprintf(chain, sizeof(chain), "%s/tls/cert.pem", other.sw.dir);
	CU_ASSERT_STRING_EQUAL(decide(&e.v, chain, "ehr:patient/1/record", got, sizeof(got)),
			       "ATTEST_E_CHAIN_UNTRUSTED");
	daemon_down(&other);
	/* and our own host, once the operator forgets it (another process
	 * writes the CA directory): decisions stop within --sync-ms, without
	 * a stat of its record per decision (issue 17) */
	CU_ASSERT_FATAL(eventually(&e.v, e.chain, "ATTEST_OK"));
	CU_ASSERT_EQUAL(tu_sh("attest-provision forget-host --dir '%s' --host web-01 >/dev/null",
			      e.d.ca), 0);
	CU_ASSERT(eventually(&e.v, e.chain, "ATTEST_E_HOST_UNKNOWN"));
	vfleet_down(&e);
}

/* A revocation made at the verifier reaches the host (issue 15): the next
 * quote answer carries it, attestd records it in its audit log (source
 * "verifier") and registry, refuses the agent a certificate from then on,
 * and its next inventory reports the agent revoked. The time from the
 * revocation to the first refusal is printed (report only). */
static void test_revocation_reaches_host(void)
{
	struct vfleet e;
	char got[64];
	double t0, t1 = 0;
	int refused = 0;

	vfleet_up(&e, policy);
	CU_ASSERT_FATAL(eventually(&e.v, e.chain, "ATTEST_OK"));
	/* issuance works before */
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && ./scribe --agent scribe --socket '%s' --out tls-before "
			      ">agent.log 2>&1", e.d.sw.dir, e.d.sock), 0);
	t0 = tu_now_ms();
	admin(&e.v, "/v1/agents/revoke", "{\"agent\":\"" AGENT "\",\"reason\":\"stolen\"}");
	/* attestd pushes every second: refused within a few pushes (a
	 * generous bound, not a speed test) */
	for (int i = 0; i < 600 && !refused; i++) {
		refused = tu_sh("cd '%s' && ./scribe --agent scribe --socket '%s' --out tls-after "
				">agent.log 2>&1", e.d.sw.dir, e.d.sock) != 0;
		if (refused)
			t1 = tu_now_ms();
		else
			usleep(20000);
	}
	CU_ASSERT_FATAL(refused);
	fprintf(stderr, "  revocation at the verifier to refusal at attestd: %.0f ms "
		"(push interval 1 s)\n", t1 - t0);
	CU_ASSERT_EQUAL(tu_sh("grep -q ATTEST_E_REVOKED '%s/agent.log'", e.d.sw.dir), 0);
	/* recorded: attestd's audit log, its registry, and reported back */
	CU_ASSERT_EQUAL(tu_sh("attestctl audit show --log '%s/audit' --type revoke | "
			      "grep '\"source\":\"verifier\"' | grep -q '%s'",
			      e.d.state, AGENT), 0);
	CU_ASSERT_EQUAL(tu_sh("attestctl agent show --name scribe --admin-socket '%s' | "
			      "tr -d ' \\n\\t' | grep -q '\"revoked\":true'", e.d.admin), 0);
	CU_ASSERT_EQUAL(tu_sh("grep -q 'revoked at the verifier' '%s'", e.d.log), 0);
	CU_ASSERT_STRING_EQUAL(decide(&e.v, e.chain, "ehr:patient/1/record", got, sizeof(got)),
			       "ATTEST_E_REVOKED");
	vfleet_down(&e);
}

/* issue 17: two replicas on one PostgreSQL store; B decides from its view
 * of the facts, and a revocation and an approval setting made at A reach
 * B's view (the change generation) while B keeps serving. */
static void test_replica_view(void)
{
	static const char *const b_args[] = {"--replica-id", "B", NULL};
	struct vfleet e;
	struct verifier b;
	struct tu_pg pg;
	char uri[600];

	tu_pg_start(&pg);
	tu_pg_newdb(&pg, uri, sizeof(uri));
	tu_vfleet_store = uri;
	vfleet_up(&e, policy);
	tu_vfleet_store = NULL;
	CU_ASSERT_FATAL(eventually(&e.v, e.chain, "ATTEST_OK"));
	/* B: a copy of A's state directory without its audit log */
	memcpy(&b, &e.v, sizeof(b));
	CU_ASSERT_FATAL(strlen(e.v.dir) + 3 <= sizeof(b.dir));
	memcpy(b.dir + strlen(e.v.dir), ".2", 3);
	snprintf(b.state, sizeof(b.state), "%s/vs", b.dir);
	snprintf(b.log, sizeof(b.log), "%s/verifier.log", b.dir);
	snprintf(b.cacert, sizeof(b.cacert), "%s/tls/ca.pem", b.state);
	CU_ASSERT_FATAL(strncmp(e.v.state, e.v.dir, strlen(e.v.dir)) == 0 &&
			strcmp(e.v.state + strlen(e.v.dir), "/vs") == 0);
	CU_ASSERT_FATAL(tu_sh("cp -a '%s' '%s' && rm -rf '%s/audit' '%s/verifier.lock'", e.v.dir,
			      b.dir, b.state, b.state) == 0);
	memset(b.serve_args, 0, sizeof(b.serve_args));
	for (int i = 0; b_args[i] != NULL; i++)
		b.serve_args[i] = b_args[i];
	verifier_start(&b);
	CU_ASSERT(eventually(&b, e.chain, "ATTEST_OK"));
	CU_ASSERT(eventually(&b, e.chain, "ATTEST_OK"));
	CU_ASSERT_EQUAL(tu_sh("curl -s --max-time 60 --cacert %s '%s/metrics' | grep -q "
			      "'cache_hits_total{cache=\"agent\"} [1-9]'", b.cacert, b.url), 0);
	/* approval switched on at A: B denies the unapproved agent */
	admin(&e.v, "/v1/settings", "{\"approval_required\":true}");
	CU_ASSERT(eventually(&b, e.chain, "ATTEST_E_NOT_APPROVED"));
	admin(&e.v, "/v1/settings", "{\"approval_required\":false}");
	CU_ASSERT(eventually(&b, e.chain, "ATTEST_OK"));
	/* the agent revoked at A: B denies it */
	admin(&e.v, "/v1/agents/revoke", "{\"agent\":\"" AGENT "\",\"reason\":\"replica\"}");
	CU_ASSERT(eventually(&b, e.chain, "ATTEST_E_REVOKED"));
	verifier_stop(&b);
	tu_rmtree(b.dir);
	vfleet_down(&e);
	tu_pg_stop(&pg);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{"agent allowed over mTLS, then denied: approval, scope cap, PCR change, revocation",
		 test_end_to_end},
		{"a leaf from another fleet's host is refused; a forgotten host's within --sync-ms",
		 test_other_fleet},
		{"a revocation at the verifier reaches attestd: recorded, issuance refused",
		 test_revocation_reaches_host},
		{"replicas on postgresql: B decides from its view, A's approval setting and "
		 "revocation reach it", test_replica_view},
		{NULL, NULL}};

	return tu_main("e2e", tests);
}
