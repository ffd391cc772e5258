/* test_storm.c - launch storms on a slow TPM (issue 17 item 6): session
 * issuers renewed ahead of expiry off the request path (attestd/renew.c),
 * never for a revoked agent, and the slow-TPM TCTI (tests/tcti/attestfault.c
 * lat=) changing no result. attestd runs on its private swtpm through
 * libtss2-tcti-attestfault with a control file, so a test can slow the
 * TPM's Sign on cue and see from the TCTI's log when one is under way.
 * Nothing here asserts on speed: only counters (attestctl stats), chains
 * and refusals, with generous deadlines.
 * Targets: attestd/renew.c, attestd/signers.c (agent_sign_key), mint.c
 * (session_issuer), tests/tcti/attestfault.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>
#include <tss2/tss2_tpm2_types.h>

#include "core/err.h"
#include "core/json.h"
#include "testutil.h"
#include "testutil_daemon.h"
#include "tpm/tpm.h"
#include "tpm/tpmpolicy.h"

struct slow {
	struct daemon d;
	char ctl[700], log[720];
	char bin[700];
};

/* attestd on the TCTI with a control file (no latency yet), renewing
 * session issuers `ahead` seconds before they expire, agent "alpha"
 * registered. */
static void slow_up(struct slow *s, const char *ahead)
{
	const char *src = getenv("ATTEST_SRCDIR"), *build = getenv("BUILD");
	char tcti[sizeof(s->d.sw.tcti)];
	int n;

	memset(s, 0, sizeof(*s));
	daemon_up(&s->d);
	daemon_stop(&s->d);
	snprintf(s->ctl, sizeof(s->ctl), "%s/slow", s->d.sw.dir);
	snprintf(s->log, sizeof(s->log), "%s.log", s->ctl);
	tu_write(s->ctl, "fault=none", 10);
	tu_write(s->log, "", 0);
	n = snprintf(tcti, sizeof(tcti), "%s/%s/tcti/libtss2-tcti-attestfault.so.0:file=%s;%s",
		     src != NULL ? src : ".", build != NULL ? build : "build", s->ctl,
		     s->d.sw.tcti);
	CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof(tcti));
	memcpy(s->d.sw.tcti, tcti, (size_t)n + 1);
	s->d.extra_args[0] = "--session-renew-ahead";
	s->d.extra_args[1] = ahead;
	s->d.extra_args[2] = NULL;
	daemon_start(&s->d, "64");
	make_agent_binary(&s->d, "agent-a", NULL, s->bin, sizeof(s->bin));
	register_agent(&s->d, "alpha", s->bin, "0");
}

static void slow_spec(struct slow *s, const char *spec)
{
	tu_write(s->ctl, spec, strlen(spec));
}

/* A number of the admin "stats" reply. */
static uint64_t stat_of(struct slow *s, const char *key)
{
	cJSON *reply = NULL;
	uint64_t v = 0;

	if (admin_call(&s->d, "{\"op\":\"stats\"}", &reply) != ATTEST_OK) {
		CU_FAIL("stats");
		return 0;
	}
	if (attest_json_u64(reply, key, &v) != ATTEST_OK) {
		fprintf(stderr, "  stats without %s\n", key);
		CU_FAIL("stats field");
	}
	cJSON_Delete(reply);
	return v;
}

/* Wait (at most deadline_s) until stat key reaches at least want. */
static int stat_reaches(struct slow *s, const char *key, uint64_t want, int deadline_s)
{
	for (int i = 0; i < deadline_s * 10; i++) {
		if (stat_of(s, key) >= want)
			return 1;
		usleep(100000);
	}
	return 0;
}

/* Lines of the TCTI's log that contain needle. */
static int log_count(struct slow *s, const char *needle)
{
	size_t n = 0;
	char *t = tu_slurp(s->log, &n), *p;
	int k = 0;

	for (p = t; p != NULL && (p = strstr(p, needle)) != NULL; p += strlen(needle))
		k++;
	free(t);
	return k;
}

/* The second certificate of an issue reply's chain (the session issuer in
 * session mode), malloc'd PEM; the reply is checked and freed. */
static char *issuer_of(struct slow *s, cJSON *reply)
{
	const cJSON *chain = cJSON_GetObjectItemCaseSensitive(reply, "chain");
	const char *mark = "-----BEGIN CERTIFICATE-----", *p, *q;
	char *out = NULL;

	if (cJSON_IsString(chain) && (p = strstr(chain->valuestring, mark)) != NULL &&
	    (p = strstr(p + 1, mark)) != NULL && (q = strstr(p + 1, mark)) != NULL)
		out = strndup(p, (size_t)(q - p));
	CU_ASSERT(out != NULL);
	expect_cert(&s->d, reply, "alpha");
	return out;
}

static cJSON *issue_session(struct slow *s)
{
	return run_agent(NULL, s->bin, s->d.sock,
			 "{\"op\":\"issue\",\"agent\":\"alpha\",\"mode\":\"session\",\"ttl\":60}");
}

/* An issuer near expiry (here: at once, the lead being 899 s of a 900 s
 * life) is renewed in the background before a request needs it: the
 * renewal counter moves without requests, the next request gets the new
 * issuer and made none itself (on-demand counter unchanged). */
static void test_renewed_ahead(void)
{
	struct slow s;
	char *first, *second;
	uint64_t demand;

	slow_up(&s, "899");
	first = issuer_of(&s, issue_session(&s));
	demand = stat_of(&s, "session_issuers_on_demand");
	CU_ASSERT(demand == 1);
	CU_ASSERT(stat_reaches(&s, "session_issuers_renewed", 2, 60));
	second = issuer_of(&s, issue_session(&s));
	CU_ASSERT(first != NULL && second != NULL && strcmp(first, second) != 0);
	CU_ASSERT(stat_of(&s, "session_issuers_on_demand") == demand);
	CU_ASSERT(stat_of(&s, "session_renewals_failed") == 0);
	free(first);
	free(second);
	daemon_down(&s.d);
}

/* An agent revoked while its renewal's TPM Sign is under way (the TCTI
 * holds that Sign 4 s): the renewed issuer is dropped, not installed, and
 * no renewal starts for it afterwards; its requests are refused. */
static void test_revoked_not_renewed(void)
{
	struct slow s;
	cJSON *reply = NULL;
	uint64_t renewed;

	slow_up(&s, "899");
	free(issuer_of(&s, issue_session(&s)));
	CU_ASSERT(stat_reaches(&s, "session_issuers_renewed", 1, 60));
	slow_spec(&s, "lat=sign:4000");
	for (int i = 0; i < 300 && log_count(&s, "cc=0x15d lat=4000") == 0; i++)
		usleep(100000);
	CU_ASSERT_FATAL(log_count(&s, "cc=0x15d lat=4000") == 1);
	/* the Sign of a renewal is in the TPM now: revoke */
	TU_ASSERT_ERR(admin_call(&s.d, "{\"op\":\"revoke\",\"name\":\"alpha\"}", &reply), ATTEST_OK);
	cJSON_Delete(reply);
	CU_ASSERT(stat_reaches(&s, "session_renewals_dropped", 1, 60));
	slow_spec(&s, "fault=none");
	renewed = stat_of(&s, "session_issuers_renewed");
	sleep(3); /* three ticks at which an unrevoked agent would renew */
	CU_ASSERT(stat_of(&s, "session_issuers_renewed") == renewed);
	CU_ASSERT(log_count(&s, "cc=0x15d") == 1); /* no Sign after it */
	expect_refused(issue_session(&s), "ATTEST_E_REVOKED");
	daemon_down(&s.d);
}

/* The slow TCTI delays attestd's TPM but changes no result: strict and
 * session certificates under 50 ms Sign / 20 ms Load verify as before,
 * and the delays happened (the TCTI's log). Renewal off ("0"): nothing
 * renews. */
static void test_slow_same_results(void)
{
	struct slow s;

	slow_up(&s, "0");
	slow_spec(&s, "lat=sign:50,lat=load:20,lat=createloaded:20");
	expect_cert(&s.d,
		    run_agent(NULL, s.bin, s.d.sock,
			      "{\"op\":\"issue\",\"agent\":\"alpha\",\"ttl\":60}"),
		    "alpha");
	free(issuer_of(&s, issue_session(&s)));
	free(issuer_of(&s, issue_session(&s)));
	CU_ASSERT(log_count(&s, "cc=0x15d lat=50") == 2); /* strict leaf, session issuer */
	/* one Load: the key stays resident for the session issuer's Sign */
	CU_ASSERT(log_count(&s, "cc=0x157 lat=20") == 1);
	CU_ASSERT(stat_of(&s, "session_issuers_on_demand") == 1);
	sleep(2);
	CU_ASSERT(stat_of(&s, "session_issuers_renewed") == 0);
	slow_spec(&s, "fault=none");
	daemon_down(&s.d);
}

/* A session-mode launch whose issuer is current is answered while a TPM
 * command is in flight (issue 17): agent beta's first session certificate
 * needs its issuer signed, a Sign the TCTI holds 8 s; alpha (issuer
 * current) launches meanwhile and gets its chain before that Sign ends
 * (the TCTI logs "done 0x15d" when it does: ordering, not time). On the
 * old monitor alpha waited behind beta's Sign on the event loop. Beta then
 * gets its chain too, its issuer made by the renewal thread (the
 * on-demand counter counts both first issuers). */
static void test_served_during_sign(void)
{
	struct slow s;
	char bin_b[700];
	cJSON *reply;
	pid_t pb;
	int st = -1;

	slow_up(&s, "60"); /* renewal on; nothing due within the test */
	make_agent_binary(&s.d, "agent-b", NULL, bin_b, sizeof(bin_b));
	register_agent(&s.d, "beta", bin_b, "0");
	free(issuer_of(&s, issue_session(&s)));
	slow_spec(&s, "lat=sign:8000");
	if ((pb = fork()) == 0) {
		cJSON *r = run_agent(NULL, bin_b, s.d.sock,
				     "{\"op\":\"issue\",\"agent\":\"beta\",\"mode\":\"session\","
				     "\"ttl\":60}");

		_exit(r != NULL && cJSON_GetObjectItemCaseSensitive(r, "chain") != NULL ? 0 : 1);
	}
	CU_ASSERT_FATAL(pb > 0);
	for (int i = 0; i < 1200 && log_count(&s, "cc=0x15d lat=8000") == 0; i++)
		usleep(50000);
	CU_ASSERT_FATAL(log_count(&s, "cc=0x15d lat=8000") == 1);
	/* beta's issuer is being signed: alpha launches */
	reply = issue_session(&s);
	CU_ASSERT(log_count(&s, "done 0x15d") == 0); /* answered before that Sign ended */
	free(issuer_of(&s, reply));
	CU_ASSERT(waitpid(pb, &st, 0) == pb && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CU_ASSERT(log_count(&s, "done 0x15d") == 1);
	CU_ASSERT(stat_of(&s, "session_issuers_on_demand") == 2);
	slow_spec(&s, "fault=none");
	daemon_down(&s.d);
}

/* A parked request (its agent's first issuer being made off the loop) is
 * held to every rule of a request: beta's issuer Sign is held 4 s by the
 * TCTI and beta is revoked meanwhile: the new issuer is dropped
 * (session_renewals_dropped) and beta's request is refused REVOKED, no
 * chain. And a process that is not the agent (alpha's binary asking for
 * beta2) is refused before any TPM work is done for it: no Sign. */
static void test_parked_rules(void)
{
	struct slow s;
	char bin_b[700], bin_c[700];
	cJSON *reply = NULL;
	pid_t pb;
	int st = -1, signs;

	slow_up(&s, "60");
	make_agent_binary(&s.d, "agent-b", NULL, bin_b, sizeof(bin_b));
	make_agent_binary(&s.d, "agent-c", "another binary", bin_c, sizeof(bin_c));
	register_agent(&s.d, "beta", bin_b, "0");
	register_agent(&s.d, "beta2", bin_c, "0");
	slow_spec(&s, "lat=sign:4000");
	if ((pb = fork()) == 0) {
		cJSON *r = run_agent(NULL, bin_b, s.d.sock,
				     "{\"op\":\"issue\",\"agent\":\"beta\",\"mode\":\"session\","
				     "\"ttl\":60}");
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "error");

		/* refused as revoked, and no chain */
		_exit(r != NULL && cJSON_GetObjectItemCaseSensitive(r, "chain") == NULL &&
			      cJSON_IsString(e) && strstr(e->valuestring, "REVOKED") != NULL
		      ? 0
		      : 1);
	}
	CU_ASSERT_FATAL(pb > 0);
	for (int i = 0; i < 1200 && log_count(&s, "cc=0x15d lat=4000") == 0; i++)
		usleep(50000);
	CU_ASSERT_FATAL(log_count(&s, "cc=0x15d lat=4000") == 1);
	TU_ASSERT_ERR(admin_call(&s.d, "{\"op\":\"revoke\",\"name\":\"beta\"}", &reply),
		      ATTEST_OK);
	cJSON_Delete(reply);
	CU_ASSERT(waitpid(pb, &st, 0) == pb && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CU_ASSERT(log_count(&s, "done 0x15d") == 1);
	CU_ASSERT(stat_of(&s, "session_renewals_dropped") == 1);
	/* beta2 asked for by another binary: refused, no TPM Sign for it */
	signs = log_count(&s, "cc=0x15d");
	expect_refused(run_agent(NULL, s.bin, s.d.sock,
				 "{\"op\":\"issue\",\"agent\":\"beta2\",\"mode\":\"session\","
				 "\"ttl\":60}"),
		       "ATTEST_E_MEASUREMENT");
	CU_ASSERT(log_count(&s, "cc=0x15d") == signs);
	slow_spec(&s, "fault=none");
	daemon_down(&s.d);
}

static void objects_are(struct attest_tpm *t, size_t want)
{
	size_t objects = 99, sessions = 99;

	CU_ASSERT_FATAL(attest_tpm_count_handles(t, &objects, &sessions) == ATTEST_OK);
	if (objects != want)
		fprintf(stderr, "  %zu transient objects in the TPM, %zu expected\n", objects, want);
	CU_ASSERT(objects == want);
}

/* Resident keys in libattest (swtpm: 3 slots, so 2 resident): a key signs
 * N times with one TPM2_Load (counted by the TCTI's log) and stays loaded
 * (GetCapability); a third key evicts the least recently used one; an
 * operation that holds two objects (CertifyCreation) still finds room, a
 * quote too; evict and release flush them; with keep_resident off nothing
 * stays. */
static void test_resident_lib(void)
{
	static const uint8_t digest[32] = "resident keys sign this digest!";
	static const uint8_t qual[16] = "certify nonce 01";
	const char *src = getenv("ATTEST_SRCDIR"), *build = getenv("BUILD");
	struct tu_tpm sw;
	struct attest_tpm *t = NULL;
	struct attest_tpm_key k[3], extra;
	struct attest_tpm_creation cr;
	struct attest_pcrs pcrs;
	TPM2B_DIGEST policy;
	TPM2B_AUTH auth = { .size = 16, .buffer = "agent auth value" };
	TPM2B_ATTEST attest;
	TPMT_SIGNATURE sig;
	char ctl[700], logp[720], conf[1700];
	int loads;

	tu_tpm_start(&sw);
	snprintf(ctl, sizeof(ctl), "%s/slow", sw.dir);
	snprintf(logp, sizeof(logp), "%s.log", ctl);
	tu_write(ctl, "lat=load:1,lat=flush:1", 22);
	tu_write(logp, "", 0);
	snprintf(conf, sizeof(conf), "%s/%s/tcti/libtss2-tcti-attestfault.so.0:file=%s;%s",
		 src != NULL ? src : ".", build != NULL ? build : "build", ctl, sw.tcti);
	CU_ASSERT_FATAL(attest_tpm_open(conf, &t) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_tpm_pcr_read(t, 1u << 23, &pcrs) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_policy_digest_sign(1u << 23, pcrs.value[23], 32, &policy) ==
			ATTEST_OK);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_FATAL(attest_tpm_create_signkey(t, &policy, &auth, &k[i], &cr) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_tpm_create_signkey(t, &policy, &auth, &extra, &cr) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_tpm_keep_resident(t, 1) == ATTEST_OK);
	loads = 0;
	{
		struct slow s; /* only for log_count */

		memset(&s, 0, sizeof(s));
		snprintf(s.log, sizeof(s.log), "%s", logp);
		loads = log_count(&s, "cc=0x157");
		for (int n = 0; n < 8; n++)
			CU_ASSERT(attest_tpm_sign_policy(t, &k[0], &auth, 1u << 23, digest, &sig) ==
				  ATTEST_OK);
		CU_ASSERT(log_count(&s, "cc=0x157") == loads + 1); /* one Load, 8 Signs */
		CU_ASSERT(attest_tpm_resident(t) == 1);
		objects_are(t, 1);
		CU_ASSERT(attest_tpm_sign_policy(t, &k[1], &auth, 1u << 23, digest, &sig) ==
			  ATTEST_OK);
		objects_are(t, 2);
		/* k[1] most recent, then k[0]: k[2] evicts k[0] */
		CU_ASSERT(attest_tpm_sign_policy(t, &k[2], &auth, 1u << 23, digest, &sig) ==
			  ATTEST_OK);
		objects_are(t, 2);
		loads = log_count(&s, "cc=0x157");
		CU_ASSERT(attest_tpm_sign_policy(t, &k[1], &auth, 1u << 23, digest, &sig) ==
			  ATTEST_OK);
		CU_ASSERT(log_count(&s, "cc=0x157") == loads); /* still resident */
		CU_ASSERT(attest_tpm_sign_policy(t, &k[0], &auth, 1u << 23, digest, &sig) ==
			  ATTEST_OK);
		CU_ASSERT(log_count(&s, "cc=0x157") == loads + 1); /* was evicted */
		/* a new key made (Create holds it in a slot) with two keys
		 * resident: the CI run that merged residency into registration
		 * failed here with TPM_RC_OBJECT_MEMORY */
		{
			struct attest_tpm_key nk;
			struct attest_tpm_creation ncr;

			CU_ASSERT(attest_tpm_sign_policy(t, &k[1], &auth, 1u << 23, digest, &sig) ==
				  ATTEST_OK);
			objects_are(t, 2);
			memset(&nk, 0, sizeof(nk));
			CU_ASSERT(attest_tpm_create_signkey(t, NULL, NULL, &nk, &ncr) == ATTEST_OK);
		}
		/* two objects at once (AK + key) with two keys resident */
		CU_ASSERT(attest_tpm_certify_creation(t, &extra, &cr, qual, sizeof(qual), &attest,
						      &sig) == ATTEST_OK);
		CU_ASSERT(attest_tpm_resident(t) <= 1);
		objects_are(t, attest_tpm_resident(t));
		CU_ASSERT(attest_tpm_quote(t, 1u, qual, sizeof(qual), &attest, &sig) == ATTEST_OK);
		/* a wrong auth value: refused, and the key does not stay */
		auth.buffer[0] ^= 1;
		TU_ASSERT_ERR(attest_tpm_sign_policy(t, &k[2], &auth, 1u << 23, digest, &sig),
			      ATTEST_E_TPM_AUTH);
		auth.buffer[0] ^= 1;
		objects_are(t, attest_tpm_resident(t));
		CU_ASSERT(attest_tpm_sign_policy(t, &k[2], &auth, 1u << 23, digest, &sig) ==
			  ATTEST_OK);
		CU_ASSERT(attest_tpm_resident(t) >= 1);
		attest_tpm_evict(t, &k[2]);
		attest_tpm_evict(t, &k[0]);
		attest_tpm_evict(t, &k[1]);
		CU_ASSERT(attest_tpm_resident(t) == 0);
		objects_are(t, 0);
		CU_ASSERT(attest_tpm_sign_policy(t, &k[0], &auth, 1u << 23, digest, &sig) ==
			  ATTEST_OK);
		attest_tpm_release_cached(t);
		objects_are(t, 0);
		/* off: nothing stays */
		CU_ASSERT(attest_tpm_keep_resident(t, 0) == ATTEST_OK);
		CU_ASSERT(attest_tpm_sign_policy(t, &k[0], &auth, 1u << 23, digest, &sig) ==
			  ATTEST_OK);
		objects_are(t, 0);
	}
	attest_tpm_close(t);
	tu_tpm_stop(&sw);
}

/* attestd keeps an agent's key resident: N strict issuances for one agent
 * load its key once (the TCTI's log) and stats show it resident; revoking
 * the agent flushes it (resident 0, a FlushContext logged); at the end the
 * TPM holds nothing of ours (daemon_down counts with GetCapability). */
static void test_resident_attestd(void)
{
	struct slow s;
	cJSON *reply = NULL;
	int loads, flushes;

	slow_up(&s, "0");
	slow_spec(&s, "lat=load:1,lat=flush:1");
	loads = log_count(&s, "cc=0x157");
	for (int i = 0; i < 6; i++)
		expect_cert(&s.d,
			    run_agent(NULL, s.bin, s.d.sock,
				      "{\"op\":\"issue\",\"agent\":\"alpha\",\"ttl\":60}"),
			    "alpha");
	CU_ASSERT(log_count(&s, "cc=0x157") - loads <= 1);
	CU_ASSERT(stat_of(&s, "tpm_resident_keys") == 1);
	flushes = log_count(&s, "cc=0x165");
	TU_ASSERT_ERR(admin_call(&s.d, "{\"op\":\"revoke\",\"name\":\"alpha\"}", &reply),
		      ATTEST_OK);
	cJSON_Delete(reply);
	CU_ASSERT(stat_of(&s, "tpm_resident_keys") == 0);
	CU_ASSERT(log_count(&s, "cc=0x165") > flushes);
	slow_spec(&s, "fault=none");
	daemon_down(&s.d);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "session issuer renewed ahead, off the request path", test_renewed_ahead },
		{ "revoked during its renewal: dropped, never renewed again",
		  test_revoked_not_renewed },
		{ "slow TPM: same certificates, delays logged", test_slow_same_results },
		{ "a launch with a current issuer is served while a Sign is in flight",
		  test_served_during_sign },
		{ "parked request: revoked meanwhile refused, a non-agent costs no TPM work",
		  test_parked_rules },
		{ "resident keys: one Load for many signatures, LRU, room, evict",
		  test_resident_lib },
		{ "attestd: agent key resident, flushed on revoke", test_resident_attestd },
		{ NULL, NULL },
	};

	return tu_main("storm", tests);
}
