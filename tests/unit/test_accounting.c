/* test_accounting.c - the HIPAA accounting of disclosures (45 CFR 164.528)
 * of an end-to-end scenario on swtpm: host web-01 pushing to a verifier
 * that runs examples/policy.json, an EHR trusted as intent issuer by attestd
 * and the verifier, agents scribe (TREATMENT grant, patient 123) and study
 * (RESEARCH grants, patients 123 and 456) with intent leaves, and reads
 * through examples/resource_server (patient and research_consent in the
 * decision context). The report for patient 123 lists exactly the allowed
 * RESEARCH read of patient 123: not the TREATMENT read (exempt, listed with
 * --include-exempt), not the denied research reads of 123 (no consent,
 * psychotherapy notes, outside the grant), not patient 456's disclosure.
 * Targets: libattest/audit/auditreport.c, attestd/attestctl_audit.c (report),
 * verifier/server.c (the decision's audit record). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "testutil.h"
#include "testutil_daemon.h"
#include "testutil_verifier.h"

#define HOSTID "spiffe://fleet.example/host/web-01/agent/"
#define SCRIBE HOSTID "scribe"
#define STUDY HOSTID "study"
#define ALICE "dr.alice@hospital.example"
#define BOB "dr.bob@hospital.example"
#define STUDY_TEXT "diabetes outcomes study, IRB 2026-017"

/* The example resource server for e's verifier; research_consent lists
 * the consenting patients. A running one (srv.pid) is stopped first. */
static int server_start(struct vfleet *e, const char *research_consent)
{
	return tu_sh("cd '%s' && { [ ! -f srv.pid ] || { kill $(cat srv.pid); rm -f srv.pid; }; } && "
		     "{ [ -f srv.pem ] || openssl req -x509 -newkey ec -pkeyopt "
		     "ec_paramgen_curve:P-256 -nodes -subj /CN=ehr -days 1 -addext "
		     "subjectAltName=IP:127.0.0.1 -keyout srv.key -out srv.pem 2>/dev/null; } && "
		     "rm -f port && ('%s/resource_server' --listen 127.0.0.1:0 --port-file port "
		     "--cert srv.pem --key srv.key --fleet-root '%s/root.pem' --verifier %s "
		     "--verifier-ca %s --caller-cert %s.pem --caller-key %s.key "
		     "--research-consent %s 2>>srv.log & echo $! >srv.pid) && "
		     "for i in $(seq 200); do [ -s port ] && exit 0; sleep 0.05; done; exit 1",
		     e->d.sw.dir, tu_examples_dir(), e->d.ca, e->v.url, e->v.cacert, e->v.resource,
		     e->v.resource, research_consent);
}

/* GET /records/<path> with the certificate in <dir>/cert.pem: the status. */
static long read_as(struct vfleet *e, const char *dir, const char *path)
{
	char f[800], *s;
	long code;

	CU_ASSERT_EQUAL(tu_sh("cd '%s' && curl -s --tlsv1.3 --cacert srv.pem --cert %s/cert.pem "
			      "--key %s/key.pem -o call.body -w '%%{http_code}' "
			      "\"https://127.0.0.1:$(cat port)/records/%s\" >call.code",
			      e->d.sw.dir, dir, dir, path), 0);
	snprintf(f, sizeof(f), "%s/call.code", e->d.sw.dir);
	s = tu_slurp(f, NULL);
	code = tu_leading_num(s);
	free(s);
	return code;
}

/* An intent grant from the EHR to agent aud, as file <name>.jws, and the
 * agent's leaf carrying it in directory <name>. */
static void grant_leaf(struct vfleet *e, const char *bin, const char *agent, const char *name,
		       const char *user, const char *purpose, const char *text, const char *scopes,
		       const char *resources)
{
	CU_ASSERT_FATAL(tu_sh("cd '%s' && attestctl intent issue --key ehr.key --issuer ehr "
			      "--user %s --aud %s%s --purpose %s --text '%s' --scopes %s "
			      "--resources '%s' --ttl 600 --jti %s >%s.jws && "
			      "'%s' --agent %s --socket '%s' --intent %s.jws --out %s >>agent.log 2>&1",
			      e->d.sw.dir, user, HOSTID, agent, purpose, text, scopes, resources,
			      name, name, bin, agent, e->d.sock, name, name) == 0);
}

/* Bounded wait until the verifier's inventory lists the study agent and
 * the study leaf gets a policy decision (the host is attested): without
 * a research_consent context no rule allows it. */
static int verifier_ready(struct vfleet *e)
{
	char pem_file[800], *pem = NULL, *body = NULL;
	cJSON *o = cJSON_CreateObject(), *rep = NULL;
	char last[64] = "(none)";
	int ok = 0, known = 0;

	snprintf(pem_file, sizeof(pem_file), "%s/study-123/cert.pem", e->d.sw.dir);
	pem = tu_slurp(pem_file, NULL);
	cJSON_AddStringToObject(o, "chain", pem);
	cJSON_AddStringToObject(o, "action", "read");
	cJSON_AddStringToObject(o, "resource", "ehr:patient/123/record");
	body = cJSON_PrintUnformatted(o);
	for (int i = 0; i < 200 && !ok; i++) {
		if (!known) {
			char *s = NULL;

			if (verifier_call(&e->v, AS_ADMIN, "/v1/agents", NULL, &rep) == 200 &&
			    (s = cJSON_PrintUnformatted(rep)) != NULL)
				known = strstr(s, "\"" STUDY "\"") != NULL;
			cJSON_free(s);
			cJSON_Delete(rep);
			rep = NULL;
		}
		if (known && verifier_call(&e->v, AS_RESOURCE, "/v1/decide", body, &rep) == 403) {
			snprintf(last, sizeof(last), "%s", reply_reason(rep));
			ok = strcmp(last, "ATTEST_E_NO_RULE") == 0;
		}
		cJSON_Delete(rep);
		rep = NULL;
		if (!ok)
			usleep(50000);
	}
	if (!ok)
		fprintf(stderr, "  verifier not ready: study %s, last reason %s\n",
			known ? "known" : "unknown", last);
	cJSON_Delete(o);
	cJSON_free(body);
	free(pem);
	return ok;
}

/* `attestctl audit report --accounting` of the verifier's log for subject
 * in [from, to], JSON; extra: more options. The parsed array. */
static cJSON *report(struct vfleet *e, const char *subject, time_t from, time_t to,
		     const char *extra)
{
	char f[800], *s;
	cJSON *a;

	CU_ASSERT_FATAL(tu_sh("attestctl audit report --accounting --subject '%s' --from %lld "
			      "--to %lld --log %s/audit --format json %s >%s/report.json",
			      subject, (long long)from, (long long)to, e->v.state, extra,
			      e->d.sw.dir) == 0);
	snprintf(f, sizeof(f), "%s/report.json", e->d.sw.dir);
	s = tu_slurp(f, NULL);
	a = cJSON_Parse(s);
	if (a == NULL || !cJSON_IsArray(a))
		fprintf(stderr, "  report: %s\n", s);
	free(s);
	CU_ASSERT_FATAL(cJSON_IsArray(a));
	return a;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(it) ? it->valuestring : "";
}

/* One disclosure: recipient = user, the one-agent chain, host web-01; what,
 * why and when (ISO UTC date within [t0, t1]). */
static void expect_entry(const cJSON *x, const char *user, const char *agent,
			 const char *resource, const char *subject, const char *purpose,
			 const char *text, const char *t0, const char *t1)
{
	const cJSON *rcp = cJSON_GetObjectItemCaseSensitive(x, "recipient");
	const cJSON *agents = cJSON_GetObjectItemCaseSensitive(rcp, "agents");
	const char *date = str(x, "date");

	CU_ASSERT_STRING_EQUAL(str(rcp, "user"), user);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(agents), 1);
	CU_ASSERT(cJSON_IsString(cJSON_GetArrayItem(agents, 0)) &&
		  strcmp(cJSON_GetArrayItem(agents, 0)->valuestring, agent) == 0);
	CU_ASSERT_STRING_EQUAL(str(rcp, "host"), "web-01");
	CU_ASSERT_STRING_EQUAL(str(x, "action"), "read");
	CU_ASSERT_STRING_EQUAL(str(x, "resource"), resource);
	CU_ASSERT_STRING_EQUAL(str(x, "subject"), subject);
	CU_ASSERT_STRING_EQUAL(str(x, "purpose"), purpose);
	CU_ASSERT_STRING_EQUAL(str(x, "purpose_text"), text);
	/* the same fixed-width ISO 8601 form orders as text */
	CU_ASSERT(strlen(date) == strlen(t0) && strcmp(date, t0) >= 0 && strcmp(date, t1) <= 0);
}

static void iso(time_t t, char out[32])
{
	struct tm tm;

	CU_ASSERT_FATAL(gmtime_r(&t, &tm) != NULL);
	CU_ASSERT_FATAL(strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0);
}

static void test_accounting(void)
{
	struct vfleet e;
	char *policy, path[800], study[800], scribe[800], t0s[32], t1s[32];
	time_t t0, t1;
	cJSON *a;

	snprintf(path, sizeof(path), "%s/examples/policy.json",
		 getenv("ATTEST_SRCDIR") != NULL ? getenv("ATTEST_SRCDIR") : ".");
	policy = tu_slurp(path, NULL);
	vfleet_up(&e, policy);
	free(policy);
	t0 = time(NULL);

	/* the EHR is a trusted intent issuer: attestd and the verifier read
	 * its key at start (the verifier first: attestd pushes to its new port) */
	CU_ASSERT_FATAL(tu_sh("cd '%s' && openssl ecparam -name prime256v1 -genkey -noout "
			      "-out ehr.key 2>/dev/null && openssl pkey -in ehr.key -pubout "
			      "-out ehr.pem && mkdir -p '%s/intent-issuers' && "
			      "cp ehr.pem '%s/intent-issuers/ehr.pem' && "
			      "cp ehr.pem '%s/intent-issuers/ehr.pem'",
			      e.d.sw.dir, e.d.state, e.d.state, e.v.state) == 0);
	verifier_stop(&e.v);
	verifier_start(&e.v);
	snprintf(e.d.verifier_url, sizeof(e.d.verifier_url), "%s", e.v.url);
	daemon_stop(&e.d);
	daemon_start(&e.d, "64");

	/* a research agent, low risk (score 25 + 4 + 2 = 31 <= 70) */
	snprintf(study, sizeof(study), "%s/study", e.d.sw.dir);
	snprintf(scribe, sizeof(scribe), "%s/scribe", e.d.sw.dir); /* vfleet_up made it */
	CU_ASSERT_FATAL(tu_sh("cp '%s/agent_client' '%s' && chmod 0755 '%s' && "
			      "attestctl agent register --admin-socket '%s' --name study "
			      "--binary '%s' --uids %u --scopes ehr:research --tier low "
			      "--classes phi --max-ttl 300 " TU_ENV_ALLOW_CLI " >/dev/null",
			      tu_examples_dir(), study, study, e.d.admin, study,
			      (unsigned)getuid()) == 0);
	grant_leaf(&e, scribe, "scribe", "treat-123", ALICE, "TREATMENT", "follow-up visit",
		   "ehr:read", "ehr:patient/123/*");
	grant_leaf(&e, study, "study", "study-123", BOB, "RESEARCH", STUDY_TEXT, "ehr:research",
		   "ehr:patient/123/*");
	grant_leaf(&e, study, "study", "study-456", BOB, "RESEARCH", STUDY_TEXT, "ehr:research",
		   "ehr:patient/456/*");
	CU_ASSERT_FATAL(verifier_ready(&e));

	/* only patient 456 consented so far: study's read of 123 is denied,
	 * of 456 allowed (a disclosure of another subject) */
	CU_ASSERT_EQUAL_FATAL(server_start(&e, "456"), 0);
	CU_ASSERT_EQUAL(read_as(&e, "study-123", "patient/123/record"), 403);
	CU_ASSERT_EQUAL(read_as(&e, "study-456", "patient/456/record"), 200);
	/* patient 123 consents */
	CU_ASSERT_EQUAL_FATAL(server_start(&e, "123,456"), 0);
	CU_ASSERT_EQUAL(read_as(&e, "treat-123", "patient/123/record"), 200); /* exempt */
	CU_ASSERT_EQUAL(read_as(&e, "study-123", "patient/123/record"), 200); /* disclosed */
	/* denied: psychotherapy notes are never for research; outside the
	 * grants (study's grant for 456, scribe's for 123) */
	CU_ASSERT_EQUAL(read_as(&e, "study-123", "patient/123/notes/psychotherapy"), 403);
	CU_ASSERT_EQUAL(read_as(&e, "study-456", "patient/123/record"), 403);
	CU_ASSERT_EQUAL(read_as(&e, "treat-123", "patient/456/record"), 403);
	t1 = time(NULL);
	iso(t0, t0s);
	iso(t1, t1s);

	/* the log holds what the report must sift: decisions on subject 123,
	 * two allowed and three denied */
	CU_ASSERT_EQUAL(tu_sh("test $(attestctl audit show --log %s/audit --type decision "
			      "--subject 123 | grep -c '\"outcome\":\"allow\"') = 2 && "
			      "test $(attestctl audit show --log %s/audit --type decision "
			      "--subject 123 | grep -c '\"outcome\":\"deny\"') = 3",
			      e.v.state, e.v.state), 0);

	/* the accounting: exactly the research read of patient 123 */
	a = report(&e, "123", t0, t1, "");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(a), 1);
	if (cJSON_GetArraySize(a) == 1)
		expect_entry(cJSON_GetArrayItem(a, 0), BOB, STUDY, "ehr:patient/123/record", "123",
			     "RESEARCH", STUDY_TEXT, t0s, t1s);
	cJSON_Delete(a);
	/* with the exempt purposes (an access report): the treatment read too,
	 * in log order */
	a = report(&e, "123", t0, t1, "--include-exempt");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(a), 2);
	if (cJSON_GetArraySize(a) == 2) {
		expect_entry(cJSON_GetArrayItem(a, 0), ALICE, SCRIBE, "ehr:patient/123/record",
			     "123", "TREATMENT", "follow-up visit", t0s, t1s);
		expect_entry(cJSON_GetArrayItem(a, 1), BOB, STUDY, "ehr:patient/123/record", "123",
			     "RESEARCH", STUDY_TEXT, t0s, t1s);
	}
	cJSON_Delete(a);
	/* patient 456's accounting: its own research read only */
	a = report(&e, "456", t0, t1, "--include-exempt");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(a), 1);
	if (cJSON_GetArraySize(a) == 1)
		expect_entry(cJSON_GetArrayItem(a, 0), BOB, STUDY, "ehr:patient/456/record", "456",
			     "RESEARCH", STUDY_TEXT, t0s, t1s);
	cJSON_Delete(a);
	/* a period before the scenario holds nothing */
	a = report(&e, "123", t0 - 3600, t0 - 1, "--include-exempt");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(a), 0);
	cJSON_Delete(a);
	/* the CSV form: a header and the one disclosure */
	CU_ASSERT_EQUAL(tu_sh("out=$(attestctl audit report --accounting --subject 123 --from %lld "
			      "--to %lld --log %s/audit) && test $(printf '%%s\\n' \"$out\" | "
			      "wc -l) = 2 && printf '%%s\\n' \"$out\" | tail -n 1 | grep -q "
			      "'\"user %s via %s on host web-01\",\"read ehr:patient/123/record "
			      "(subject 123)\",\"RESEARCH: %s\"'",
			      (long long)t0, (long long)t1, e.v.state, BOB, STUDY, STUDY_TEXT), 0);
	vfleet_down(&e);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{"accounting of disclosures: exactly the non-exempt allowed reads of the subject",
		 test_accounting},
		{NULL, NULL}};

	return tu_main("accounting", tests);
}
