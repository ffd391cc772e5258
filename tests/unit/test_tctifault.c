/* test_tctifault.c - TPM fault injection (issue 13 item 4) through
 * libtss2-tcti-attestfault (tests/tcti/attestfault.c), loaded by the
 * normal TCTI loader in front of a private swtpm. Each TPM operation
 * attestd relies on (quotes, the TPM half of strict issuance, audit
 * checkpoints, the host key's signatures) is run under every fault the
 * TCTI injects: answered with TPM_RC_RETRY/YIELDED/TESTING/LOCKOUT/
 * NV_RATE or 0xFFFFFFFF, a response shorter or longer than its header
 * says, the answer to another command, a dropped connection.
 * What must hold: the operation ends (bounded retries) with ATTEST_OK or a
 * clear error (a TPM code and a detail), nothing crashes or reads out of
 * bounds (run it under ASan too), no transient object or session is left
 * in the TPM (counted with GetCapability), and once the fault is gone the
 * same context works again.
 * Targets: libattest/tpm/tpm.c (TPM_CALL, flush, every operation above),
 * tests/tcti/attestfault.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include <openssl/sha.h>
#include <tss2/tss2_tpm2_types.h>

#include "core/err.h"
#include "testutil.h"
#include "testutil_daemon.h"
#include "tpm/tpm.h"
#include "tpm/tpmpolicy.h"
#include "tpm/tpmsw.h"

#define NV_INDEX 0x01c10abc
#define STRICT_PCR 23

struct ft {
	struct tu_tpm sw;
	char ctl[600], log[700];
	char conf[1600];
};

static const char *const faults[] = { "retry", "yielded", "testing", "lockout", "nv_rate",
				      "rc_ffffffff", "short", "long", "other", "drop", NULL };

/* Write the fault spec the TCTI reads before every command. */
static void arm(struct ft *f, const char *fault, const char *key1, unsigned v1, const char *key2,
		unsigned v2)
{
	char spec[256];

	snprintf(spec, sizeof(spec), "fault=%s,%s=%u,%s=%u", fault, key1, v1, key2, v2);
	tu_write(f->ctl, spec, strlen(spec));
}

static void disarm(struct ft *f)
{
	tu_write(f->ctl, "fault=none", 10);
}

static void ft_up(struct ft *f)
{
	const char *src = getenv("ATTEST_SRCDIR"), *build = getenv("BUILD");

	tu_tpm_start(&f->sw);
	snprintf(f->ctl, sizeof(f->ctl), "%s/fault", f->sw.dir);
	snprintf(f->log, sizeof(f->log), "%s/fault.log", f->sw.dir);
	disarm(f);
	tu_write(f->log, "", 0);
	/* by path, so no library path needs setting; "attestfault:" works too
	 * with $BUILD/tcti on LD_LIBRARY_PATH */
	snprintf(f->conf, sizeof(f->conf), "%s/%s/tcti/libtss2-tcti-attestfault.so.0:file=%s;%s",
		 src != NULL ? src : ".", build != NULL ? build : "build", f->ctl, f->sw.tcti);
}

/* How many faults the TCTI has injected so far. */
static int fired(struct ft *f)
{
	size_t n = 0;
	char *s;
	int lines = 0;

	if ((s = tu_slurp(f->log, &n)) == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		lines += s[i] == '\n';
	free(s);
	return lines;
}

/* A clear refusal: a TPM error, or (only for the answer to another
 * command, which may parse) the state check that caught it. */
static int clear_error(int r, const char *fault)
{
	return r == ATTEST_E_TPM || r == ATTEST_E_TPM_AUTH ||
	       (r == ATTEST_E_STATE && strcmp(fault, "other") == 0);
}

/* ---- the operations ---- */

static int op_quote(struct attest_tpm *t)
{
	static const uint8_t nonce[16] = "quote nonce 0001";
	TPM2B_ATTEST attest;
	TPMT_SIGNATURE sig;

	return attest_tpm_quote(t, 1u << 0 | 1u << 7, nonce, sizeof(nonce), &attest, &sig);
}

/* What strict issuance asks of the TPM: a key bound to a PCR policy (at
 * registration), certified by the AK, then a policy-authorised signature. */
static int op_strict(struct attest_tpm *t)
{
	static const uint8_t digest[32] = "strict issuance digest 012345678";
	static const uint8_t qual[16] = "certify nonce 01";
	struct attest_pcrs pcrs;
	struct attest_tpm_key key;
	struct attest_tpm_creation cr;
	TPM2B_DIGEST policy;
	TPM2B_AUTH auth = { .size = 16, .buffer = "agent auth value" };
	TPM2B_ATTEST attest;
	TPMT_SIGNATURE sig;
	int r;

	if ((r = attest_tpm_pcr_read(t, 1u << STRICT_PCR, &pcrs)) != ATTEST_OK ||
	    (r = attest_policy_digest_sign(1u << STRICT_PCR, pcrs.value[STRICT_PCR], 32,
					   &policy)) != ATTEST_OK ||
	    (r = attest_tpm_create_signkey(t, &policy, &auth, &key, &cr)) != ATTEST_OK ||
	    (r = attest_tpm_certify_creation(t, &key, &cr, qual, sizeof(qual), &attest, &sig)) !=
		    ATTEST_OK)
		return r;
	r = attest_tpm_sign_policy(t, &key, &auth, 1u << STRICT_PCR, digest, &sig);
	attest_tpm_release_cached(t);
	return r;
}

/* The host key's signature (session issuance, verifier pushes). */
static int op_sign(struct attest_tpm *t)
{
	static const uint8_t digest[32] = "session issuance digest 01234567";
	struct attest_tpm_key key;
	struct attest_tpm_creation cr;
	TPMT_SIGNATURE sig;
	int r;

	if ((r = attest_tpm_create_signkey(t, NULL, NULL, &key, &cr)) != ATTEST_OK)
		return r;
	return attest_tpm_sign(t, &key, NULL, digest, &sig);
}

/* An audit checkpoint: the NV counter defined, incremented, certified. */
static int op_checkpoint(struct attest_tpm *t)
{
	static const uint8_t qual[32] = "checkpoint qualifying data 01234";
	TPM2B_ATTEST attest;
	TPMT_SIGNATURE sig;
	uint64_t v;
	int r;

	if ((r = attest_tpm_nv_counter_define(t, NV_INDEX, NULL)) != ATTEST_OK ||
	    (r = attest_tpm_nv_counter_increment(t, NV_INDEX, &v)) != ATTEST_OK)
		return r;
	return attest_tpm_nv_certify(t, NV_INDEX, qual, sizeof(qual), &attest, &sig);
}

struct op {
	const char *name;
	int (*fn)(struct attest_tpm *t);
	uint32_t cc; /* the command that does the work */
};

static const struct op ops[] = {
	{ "quote", op_quote, TPM2_CC_Quote },
	{ "strict issuance", op_strict, TPM2_CC_Sign },
	{ "host key signature", op_sign, TPM2_CC_Sign },
	{ "audit checkpoint", op_checkpoint, TPM2_CC_NV_Certify },
	{ NULL, NULL, 0 },
};

/* After a fault: the TPM holds none of our transient objects or sessions,
 * and the same context serves the operation again. */
static void after(struct ft *f, struct attest_tpm *t, const struct op *o, const char *fault,
		  unsigned at)
{
	size_t objects = 99, sessions = 99;

	disarm(f);
	attest_tpm_release_cached(t);
	if (attest_tpm_count_handles(t, &objects, &sessions) != ATTEST_OK) {
		fprintf(stderr, "  %s, %s at %u: cannot count handles: %s\n", o->name, fault, at,
			attest_errdetail());
		CU_FAIL("count handles");
	}
	if (objects != 0 || sessions != 0) {
		size_t n = 0, k = 0;
		char *lg = tu_slurp(f->log, &n);

		while (n > 0 && k < 4)
			k += lg[--n] == '\n';
		fprintf(stderr, "  %s, %s at %u: %zu objects, %zu sessions left; last faults:\n%s",
			o->name, fault, at, objects, sessions, lg + n);
		free(lg);
	}
	CU_ASSERT(objects == 0 && sessions == 0);
	if (o->fn(t) != ATTEST_OK)
		fprintf(stderr, "  %s, %s at %u: not recovered: %s\n", o->name, fault, at,
			attest_errdetail());
	CU_ASSERT(o->fn(t) == ATTEST_OK);
	if (objects != 0 || sessions != 0) { /* do not let one leak fail the rest */
		size_t n;

		CU_ASSERT(attest_tpm_flush_all(t, &n) == ATTEST_OK);
	}
}

/* The working command of each operation fails for good under each fault:
 * a clear error after bounded retries, no leak, recovery. */
static void test_persistent(void)
{
	struct ft f;
	struct attest_tpm *t = NULL;

	ft_up(&f);
	CU_ASSERT_FATAL(attest_tpm_open(f.conf, &t) == ATTEST_OK);
	for (const struct op *o = ops; o->name != NULL; o++) {
		CU_ASSERT(o->fn(t) == ATTEST_OK); /* honest TPM: works */
		for (int i = 0; faults[i] != NULL; i++) {
			int before = fired(&f), r;

			arm(&f, faults[i], "cc", o->cc, "count", 0);
			r = o->fn(t);
			CU_ASSERT(fired(&f) > before);
			if (strcmp(faults[i], "long") == 0) {
				/* bytes past the size in the header are never read
				 * (tss2-sys parses within the header's size) */
				CU_ASSERT(r == ATTEST_OK);
			} else {
				if (r == ATTEST_OK)
					fprintf(stderr, "  %s under a persistent %s succeeded\n",
						o->name, faults[i]);
				CU_ASSERT(clear_error(r, faults[i]));
				CU_ASSERT(strlen(attest_errdetail()) > 0);
			}
			/* retries are bounded: RETRY/YIELDED/TESTING are sent again a
			 * few times, everything else fails at once or after NV_RATE's
			 * capped back-off */
			if (strcmp(faults[i], "retry") == 0)
				CU_ASSERT(fired(&f) - before > 1 && fired(&f) - before <= 64);
			after(&f, t, o, faults[i], 0);
		}
	}
	attest_tpm_close(t);
	tu_tpm_stop(&f.sw);
}

/* Every command of each operation, one at a time, gets each fault once:
 * the operation succeeds (a retried or harmless fault) or fails clearly,
 * and leaves nothing behind. */
static void test_each_command(void)
{
	struct ft f;
	struct attest_tpm *t = NULL;
	int injected = 0;

	ft_up(&f);
	CU_ASSERT_FATAL(attest_tpm_open(f.conf, &t) == ATTEST_OK);
	for (const struct op *o = ops; o->name != NULL; o++) {
		for (int i = 0; faults[i] != NULL; i++) {
			if (strcmp(faults[i], "nv_rate") == 0)
				continue; /* its back-off is slow; test_persistent has it */
			for (unsigned at = 1; at <= 12; at++) {
				int before = fired(&f), r;

				arm(&f, faults[i], "at", at, "count", 1);
				r = o->fn(t);
				if (fired(&f) == before) {
					disarm(&f);
					break; /* the operation has fewer commands */
				}
				injected++;
				if (r != ATTEST_OK && !clear_error(r, faults[i]))
					fprintf(stderr, "  %s, %s at %u: %s: %s\n", o->name, faults[i],
						at, attest_errname(r), attest_errdetail());
				CU_ASSERT(r == ATTEST_OK || clear_error(r, faults[i]));
				if (r != ATTEST_OK)
					CU_ASSERT(strlen(attest_errdetail()) > 0);
				after(&f, t, o, faults[i], at);
			}
		}
	}
	CU_ASSERT(injected > 100);
	attest_tpm_close(t);
	tu_tpm_stop(&f.sw);
}

/* Random faults from a seed: many operations in a row on one context. */
static void test_random(void)
{
	struct ft f;
	struct attest_tpm *t = NULL;
	int ok = 0, failed = 0;
	const char *env = getenv("ATTEST_FAULT_SEEDS"); /* more seeds, by hand */
	unsigned seeds = env != NULL && env[0] >= '1' && env[0] <= '9' ? 10u * (unsigned)(env[0] - '0') : 6;

	ft_up(&f);
	CU_ASSERT_FATAL(attest_tpm_open(f.conf, &t) == ATTEST_OK);
	for (unsigned seed = 1; seed <= seeds; seed++) {
		for (int i = 0; faults[i] != NULL; i++) {
			if (strcmp(faults[i], "nv_rate") == 0)
				continue;
			arm(&f, faults[i], "seed", seed, "rate", 5);
			for (const struct op *o = ops; o->name != NULL; o++) {
				int r = o->fn(t);

				if (r != ATTEST_OK && !clear_error(r, faults[i]))
					fprintf(stderr, "  %s, %s seed %u: %s: %s\n", o->name, faults[i],
						seed, attest_errname(r), attest_errdetail());
				CU_ASSERT(r == ATTEST_OK || clear_error(r, faults[i]));
				r == ATTEST_OK ? ok++ : failed++;
			}
			/* faults stayed armed through the sweeps between operations */
			after(&f, t, &ops[0], faults[i], seed);
		}
	}
	CU_ASSERT(ok > 0 && failed > 0);
	attest_tpm_close(t);
	tu_tpm_stop(&f.sw);
}

/* The TCTI is reached by the loader's short name too, and refuses a
 * configuration without a child. */
static void test_loader(void)
{
	struct ft f;
	struct attest_tpm *t = NULL;
	char conf[1700];
	const char *src = getenv("ATTEST_SRCDIR"), *build = getenv("BUILD");

	ft_up(&f);
	snprintf(conf, sizeof(conf), "%s/%s/tcti/libtss2-tcti-attestfault.so.0:fault=none",
		 src != NULL ? src : ".", build != NULL ? build : "build");
	TU_ASSERT_ERR(attest_tpm_open(conf, &t), ATTEST_E_TPM);
	snprintf(conf, sizeof(conf), "%s/%s/tcti/libtss2-tcti-attestfault.so.0:fault=bogus;%s",
		 src != NULL ? src : ".", build != NULL ? build : "build", f.sw.tcti);
	TU_ASSERT_ERR(attest_tpm_open(conf, &t), ATTEST_E_TPM);
	snprintf(conf, sizeof(conf), "%s/%s/tcti/libtss2-tcti-attestfault.so.0:at=1;%s",
		 src != NULL ? src : ".", build != NULL ? build : "build", f.sw.tcti);
	CU_ASSERT_FATAL(attest_tpm_open(conf, &t) == ATTEST_OK);
	CU_ASSERT(op_quote(t) == ATTEST_OK);
	attest_tpm_close(t);
	tu_tpm_stop(&f.sw);
}

/* attestd itself on the fault TCTI: while registration's TPM2_Create fails
 * for good (each fault in turn), registering a new agent is refused with a
 * clear error, and an agent registered before keeps getting certificates;
 * once the fault is gone, registration works again, and at the end the
 * TPM holds nothing of ours (daemon_down counts). */
static void test_attestd(void)
{
	static const char *const kinds[] = { "rc_ffffffff", "short", "other", "drop", "lockout",
					     NULL };
	const char *src = getenv("ATTEST_SRCDIR"), *build = getenv("BUILD");
	struct daemon d;
	char a[700], b[700], ctl[700], logp[720], tcti[sizeof(d.sw.tcti)], json[1024];
	cJSON *reply = NULL;
	int n;

	daemon_up(&d);
	daemon_stop(&d);
	snprintf(ctl, sizeof(ctl), "%s/fault", d.sw.dir);
	snprintf(logp, sizeof(logp), "%s.log", ctl);
	tu_write(ctl, "fault=none", 10);
	tu_write(logp, "", 0);
	n = snprintf(tcti, sizeof(tcti), "%s/%s/tcti/libtss2-tcti-attestfault.so.0:file=%s;%s",
		     src != NULL ? src : ".", build != NULL ? build : "build", ctl, d.sw.tcti);
	CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof(tcti));
	memcpy(d.sw.tcti, tcti, (size_t)n + 1);
	daemon_start(&d, "64");
	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	make_agent_binary(&d, "agent-b", "b", b, sizeof(b));
	register_agent(&d, "alpha", a, "0");
	expect_cert(&d, run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\",\"ttl\":120}"),
		    "alpha");
	for (int i = 0; kinds[i] != NULL; i++) {
		char spec[128];
		int before;
		size_t len = 0;
		char *lg = tu_slurp(logp, &len);

		before = 0;
		for (size_t k = 0; k < len; k++)
			before += lg[k] == '\n';
		free(lg);
		n = snprintf(spec, sizeof(spec), "fault=%s,cc=0x%x,count=0", kinds[i], TPM2_CC_Create);
		tu_write(ctl, spec, (size_t)n);
		snprintf(json, sizeof(json),
			 "{\"op\":\"register\",\"name\":\"beta\",\"binary\":\"%s\",\"uids\":[0],"
			 "\"scopes\":[\"ehr:read\"],\"risk_tier\":\"high\",\"data_classes\":[\"phi\"],"
			 "\"max_ttl\":600,\"delegate_depth\":1," TU_ENV_ALLOW_JSON "}",
			 b);
		reply = NULL;
		n = admin_call(&d, json, &reply);
		if (n != ATTEST_E_TPM && n != ATTEST_E_TPM_AUTH)
			fprintf(stderr, "  register under %s: %s %s\n", kinds[i], attest_errname(n),
				attest_errdetail());
		CU_ASSERT(n == ATTEST_E_TPM || n == ATTEST_E_TPM_AUTH);
		cJSON_Delete(reply);
		lg = tu_slurp(logp, &len);
		n = 0;
		for (size_t k = 0; k < len; k++)
			n += lg[k] == '\n';
		free(lg);
		CU_ASSERT(n > before); /* the fault did fire */
		/* alpha does not need TPM2_Create: still served */
		expect_cert(&d,
			    run_agent(NULL, a, d.sock,
				      "{\"op\":\"issue\",\"agent\":\"alpha\",\"ttl\":120}"),
			    "alpha");
	}
	tu_write(ctl, "fault=none", 10);
	register_agent(&d, "beta", b, "0");
	expect_cert(&d, run_agent(NULL, b, d.sock, "{\"op\":\"issue\",\"agent\":\"beta\",\"ttl\":120}"),
		    "beta");
	daemon_down(&d);
}

/* How many lines of the TCTI's log contain needle. */
static int log_count(struct ft *f, const char *needle)
{
	size_t n = 0;
	char *s = tu_slurp(f->log, &n), *p;
	int k = 0;

	for (p = s; p != NULL && (p = strstr(p, needle)) != NULL; p += strlen(needle))
		k++;
	free(s);
	return k;
}

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Latency mode (issue 17): the slow-TPM TCTI answers each named command
 * its latency late (a lower bound, never an upper one: no speed is
 * asserted) and changes no answer: signatures made through it verify, a
 * policy signature too, and malformed lat= specs are refused. */
static void test_latency(void)
{
	static const char msg[] = "slow TPM, same answers";
	static const char *const bad[] = { "lat=sign", "lat=bogus:5", "lat=sign:10001",
					   "lat=sign:-1", "lat=:5", NULL };
	const char *src = getenv("ATTEST_SRCDIR"), *build = getenv("BUILD");
	struct ft f;
	struct attest_tpm *t = NULL;
	struct attest_tpm_key key;
	struct attest_tpm_creation cr;
	struct attest_pcrs pcrs;
	TPM2B_DIGEST policy;
	TPM2B_AUTH auth = { .size = 16, .buffer = "agent auth value" };
	TPMT_SIGNATURE sig;
	uint8_t digest[32];
	char conf[1700];
	double t0;

	SHA256((const unsigned char *)msg, strlen(msg), digest);
	ft_up(&f);
	CU_ASSERT_FATAL(attest_tpm_open(f.conf, &t) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_tpm_create_signkey(t, NULL, NULL, &key, &cr) == ATTEST_OK);
	tu_write(f.ctl, "lat=sign:50,lat=load:20,lat=createloaded:20", 43);
	t0 = mono_ms();
	CU_ASSERT_FATAL(attest_tpm_sign(t, &key, NULL, digest, &sig) == ATTEST_OK);
	CU_ASSERT(mono_ms() - t0 >= 70.0); /* Load + Sign, at least */
	CU_ASSERT(log_count(&f, "cc=0x15d lat=50") == 1);
	CU_ASSERT(log_count(&f, "cc=0x157 lat=20") == 1);
	CU_ASSERT(log_count(&f, "lat=") == 2); /* FlushContext is not named */
	/* each delay's end is logged after its start */
	CU_ASSERT(log_count(&f, "done 0x15d") == 1);
	CU_ASSERT(log_count(&f, "done 0x157") == 1);
	CU_ASSERT(attest_tpm_verify_sig(&key.pub, (const uint8_t *)msg, strlen(msg), &sig) ==
		  ATTEST_OK);
	/* a policy-bound key (strict issuance), with every command slowed */
	tu_write(f.ctl, "lat=*:2,lat=sign:30", 19);
	CU_ASSERT_FATAL(attest_tpm_pcr_read(t, 1u << STRICT_PCR, &pcrs) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_policy_digest_sign(1u << STRICT_PCR, pcrs.value[STRICT_PCR], 32,
						  &policy) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_tpm_create_signkey(t, &policy, &auth, &key, &cr) == ATTEST_OK);
	CU_ASSERT(attest_tpm_sign_policy(t, &key, &auth, 1u << STRICT_PCR, digest, &sig) ==
		  ATTEST_OK);
	CU_ASSERT(attest_tpm_verify_sig(&key.pub, (const uint8_t *)msg, strlen(msg), &sig) ==
		  ATTEST_OK);
	CU_ASSERT(log_count(&f, "cc=0x15d lat=30") == 1);
	CU_ASSERT(log_count(&f, "lat=2\n") >= 5); /* the policy commands, Load, Create... */
	/* a wrong auth value is still refused, late */
	auth.buffer[0] ^= 1;
	TU_ASSERT_ERR(attest_tpm_sign_policy(t, &key, &auth, 1u << STRICT_PCR, digest, &sig),
		      ATTEST_E_TPM_AUTH);
	attest_tpm_release_cached(t);
	attest_tpm_close(t);
	for (int i = 0; bad[i] != NULL; i++) {
		t = NULL;
		snprintf(conf, sizeof(conf), "%s/%s/tcti/libtss2-tcti-attestfault.so.0:%s;%s",
			 src != NULL ? src : ".", build != NULL ? build : "build", bad[i], f.sw.tcti);
		TU_ASSERT_ERR(attest_tpm_open(conf, &t), ATTEST_E_TPM);
	}
	/* trace=PATH: every command's code, one line each (bench_storm's
	 * count of the TPM work by type) */
	{
		char trace[800], *tr;
		size_t n = 0;
		int signs = 0;

		snprintf(trace, sizeof(trace), "%s/trace", f.sw.dir);
		snprintf(conf, sizeof(conf),
			 "%s/%s/tcti/libtss2-tcti-attestfault.so.0:lat=sign:1,trace=%s;%s",
			 src != NULL ? src : ".", build != NULL ? build : "build", trace, f.sw.tcti);
		t = NULL;
		CU_ASSERT_FATAL(attest_tpm_open(conf, &t) == ATTEST_OK);
		CU_ASSERT_FATAL(attest_tpm_create_signkey(t, NULL, NULL, &key, &cr) == ATTEST_OK);
		CU_ASSERT(attest_tpm_sign(t, &key, NULL, digest, &sig) == ATTEST_OK);
		attest_tpm_close(t);
		tr = tu_slurp(trace, &n);
		for (char *p = tr; p != NULL && (p = strstr(p, "cc=0x15d\n")) != NULL; p++)
			signs++;
		CU_ASSERT(signs == 1);
		CU_ASSERT(tr != NULL && strstr(tr, "cc=0x157\n") != NULL); /* its Load */
		free(tr);
	}
	tu_tpm_stop(&f.sw);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "TCTI loads by path; a child is required", test_loader },
		{ "each fault on each operation's command, for good", test_persistent },
		{ "each fault once on every command of each operation", test_each_command },
		{ "random faults from seeds", test_random },
		{ "attestd: failed registrations, issuance goes on", test_attestd },
		{ "latency mode: late answers, the same answers", test_latency },
		{ NULL, NULL },
	};

	return tu_main("tctifault", tests);
}
