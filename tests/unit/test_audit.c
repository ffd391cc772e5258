/* test_audit.c - the audit log: canonical records, torn tails, refusal
 * aggregation, the NV_RATE retry policy, and on swtpm: a clean 100k-record
 * log verifies; each tampering (record edited, deleted, reordered,
 * inserted, tail cut, checkpoint signature forged, counter skipped, older
 * copy restored) is detected with its code and located to its checkpoint
 * interval; kill -9 at every append and checkpoint step loses no
 * acknowledged record; the accounting of disclosures lists exactly the
 * non-exempt disclosures.
 * Targets: attest_audit_open/append/sync/checkpoint/verify/refusal,
 * attest_audit_accounting, attest_tpm_retry_delay. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tss2/tss2_tpm2_types.h>

#include "audit/audit.h"
#include "audit/auditfmt.h"
#include "audit/auditsync.h"
#include "audit/merkle.h"
#include "tpm/tpm.h"
#include "testutil.h"

#define NV_TEST ATTEST_AUDIT_NV_INDEX

/* ---- helpers ---- */

static size_t rec(char *buf, size_t cap, uint64_t i)
{
	int n = snprintf(buf, cap, "{\"time\":\"%" PRIu64 "\",\"type\":\"test\",\"n\":\"%" PRIu64 "\"}",
			 (uint64_t)1700000000 + i, i);

	return (size_t)n;
}

static void append_n(struct attest_audit *log, uint64_t n)
{
	char buf[128];

	for (uint64_t i = 0; i < n; i++) {
		uint64_t seq = attest_audit_size(log);
		size_t len = rec(buf, sizeof(buf), seq);

		CU_ASSERT_FATAL(attest_audit_append(log, buf, len, NULL) == ATTEST_OK);
	}
}

/* Frames of one file as payload copies. */
struct frames {
	char *p[4096];
	size_t len[4096];
	size_t n;
};

static void frames_read(const char *path, struct frames *f)
{
	size_t len, off = 0;
	uint8_t *buf = (uint8_t *)tu_slurp(path, &len);

	f->n = 0;
	while (off + 8 <= len) {
		size_t l = (size_t)buf[off] << 24 | (size_t)buf[off + 1] << 16 |
			   (size_t)buf[off + 2] << 8 | buf[off + 3];

		CU_ASSERT_FATAL(off + 8 + l <= len && f->n < 4096);
		f->p[f->n] = malloc(l);
		memcpy(f->p[f->n], buf + off + 8, l);
		f->len[f->n++] = l;
		off += 8 + l;
	}
	free(buf);
}

/* Rewrite a file from frames, with correct checks (an attacker who knows
 * the format). */
static void frames_write(const char *path, const struct frames *f)
{
	FILE *fp = fopen(path, "wb");

	CU_ASSERT_FATAL(fp != NULL);
	for (size_t i = 0; i < f->n; i++) {
		uint8_t hdr[8], leaf[32];

		CU_ASSERT_FATAL(attest_merkle_leaf(f->p[i], f->len[i], leaf) == ATTEST_OK);
		attest_auditfmt_header(f->len[i], leaf, hdr);
		fwrite(hdr, 1, 8, fp);
		fwrite(f->p[i], 1, f->len[i], fp);
	}
	fclose(fp);
}

static void frames_free(struct frames *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->p[i]);
	f->n = 0;
}

static void seg_path(const char *dir, uint64_t first, const char *ext, char *out, size_t sz)
{
	CU_ASSERT_FATAL(attest_auditfmt_seg_path(dir, first, ext, out, sz) == ATTEST_OK);
}

static int verify(const char *dir, const TPM2B_PUBLIC *ak, struct attest_tpm *t,
		  struct attest_audit_report *rep)
{
	struct attest_audit_verify_opts o = { .ak = ak, .tpm = t };

	return attest_audit_verify(dir, &o, rep);
}

/* ---- no TPM ---- */

/* Record times: read from the head of a record written the canonical way
 * (issue 17: no whole parse per record), parsed in full for any other
 * shape; both count a record dated before its predecessor alike. No
 * checkpoint is needed for the report's time figures. */
static void test_record_times(void)
{
	struct attest_audit *log = NULL;
	struct attest_audit_report rep;
	TPM2B_PUBLIC ak;
	char dir[512], buf[160];
	uint64_t base = (uint64_t)time(NULL) + 1000;
	/* each record: pre, the time, post */
	static const char *const shapes[][2] = {
		{ "{\"time\":\"", "\",\"type\":\"a\"}" },      /* canonical */
		{ "{\"time\":\"", "\",\"type\":\"b\"}" },      /* canonical, back 10 */
		{ "{\"type\":\"c\",\"time\":\"", "\"}" },      /* time not first, back 10 */
		{ "{ \"time\" : \"", "\", \"type\": \"d\"}" }, /* spaces, back 10 */
		{ "{\"time\":\"", "\"}" },                        /* no type: refused */
		{ "{\"time\":\"", "\",\"type\":\"e\"}" },      /* canonical, forward */
		{ "{\"time\":\"", "\",\"type\":\"f\"}" },      /* canonical, back 55 */
	};
	static const uint64_t at[] = { 100, 90, 80, 70, 60, 200, 145 };

	tu_mkdtemp(dir, sizeof(dir));
	TU_ASSERT_ERR(attest_audit_open(dir, NULL, &log), ATTEST_OK);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		int n = snprintf(buf, sizeof(buf), "%s%" PRIu64 "%s", shapes[i][0], base + at[i],
				 shapes[i][1]);

		int r = attest_audit_append(log, buf, (size_t)n, NULL);

		CU_ASSERT(i == 4 ? r != ATTEST_OK : r == ATTEST_OK);
	}
	/* one with the time escaped: "\u0031..." is the same number to a JSON
	 * parser and no digit to the fast path; back 45 */
	{
		char esc[64];
		int k = 0, n;

		snprintf(buf, sizeof(buf), "%" PRIu64, base + 100);
		for (const char *p = buf; *p != '\0'; p++)
			k += snprintf(esc + k, sizeof(esc) - (size_t)k, "\\u00%02x", (unsigned)*p);
		n = snprintf(buf, sizeof(buf), "{\"time\":\"%s\",\"type\":\"g\"}", esc);
		TU_ASSERT_ERR(attest_audit_append(log, buf, (size_t)n, NULL), ATTEST_OK);
	}
	attest_audit_close(log);
	memset(&ak, 0, sizeof(ak));
	TU_ASSERT_ERR(verify(dir, &ak, NULL, &rep), ATTEST_OK);
	CU_ASSERT_EQUAL(rep.records, 1 + 7); /* segment_start + 7 appended */
	/* b, c, d, f and g */
	if (rep.time_back != 5)
		fprintf(stderr, "time_back %" PRIu64 " first %" PRIu64 " max %" PRIu64 "\n",
			(uint64_t)rep.time_back, (uint64_t)rep.time_back_first,
			(uint64_t)rep.time_back_max_s);
	CU_ASSERT_EQUAL(rep.time_back, 5);
	CU_ASSERT_EQUAL(rep.time_back_first, 2);
	CU_ASSERT_EQUAL(rep.time_back_max_s, 55);
	tu_rmtree(dir);
}

static void test_record_canonical(void)
{
	const char *agents[] = { "spiffe://fleet.example/host/h1/agent/a", "spiffe://fleet.example/host/h1/agent/b" };
	const char *scopes[] = { "ehr:read" };
	struct attest_audit_event ev = {
		.time = 1700000000, .type = "decision", .host = "h1", .user = "dr \"who\"\n",
		.agents = agents, .nagents = 2, .purpose = "RESEARCH", .subject = "patient/42",
		.scopes = scopes, .nscopes = 1, .action = "read", .resource = "ehr:patient/42",
		.outcome = "allow", .cert_serial = "0a1b",
	};
	char *json = NULL;
	size_t len;

	TU_ASSERT_ERR(attest_audit_record(&ev, &json, &len), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(json,
			       "{\"time\":\"1700000000\",\"type\":\"decision\",\"host\":\"h1\","
			       "\"user\":\"dr \\\"who\\\"\\n\",\"agents\":[\"spiffe://fleet.example/host/h1/agent/a\","
			       "\"spiffe://fleet.example/host/h1/agent/b\"],\"purpose\":\"RESEARCH\","
			       "\"subject\":\"patient/42\",\"scopes\":[\"ehr:read\"],\"action\":\"read\","
			       "\"resource\":\"ehr:patient/42\",\"outcome\":\"allow\","
			       "\"evidence\":{\"cert_serial\":\"0a1b\"}}");
	CU_ASSERT_EQUAL(len, strlen(json));
	free(json);
	ev.type = NULL;
	TU_ASSERT_ERR(attest_audit_record(&ev, &json, &len), ATTEST_E_INVALID_ARG);
}

static void test_append_rejects(void)
{
	char dir[512];
	struct attest_audit *log = NULL;
	static const char dup[] = "{\"time\":\"1\",\"type\":\"a\",\"type\":\"b\"}";
	static const char notime[] = "{\"type\":\"a\"}";
	static const char trailing[] = "{\"time\":\"1\",\"type\":\"a\"} x";
	char *big;

	tu_mkdtemp(dir, sizeof(dir));
	TU_ASSERT_ERR(attest_audit_open(dir, NULL, &log), ATTEST_OK);
	TU_ASSERT_ERR(attest_audit_append(log, dup, strlen(dup), NULL), ATTEST_E_DUPLICATE_KEY);
	TU_ASSERT_ERR(attest_audit_append(log, notime, strlen(notime), NULL), ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_audit_append(log, trailing, strlen(trailing), NULL), ATTEST_E_PARSE);
	big = malloc(ATTEST_AUDIT_RECORD_MAX + 2);
	memset(big, ' ', ATTEST_AUDIT_RECORD_MAX + 1);
	TU_ASSERT_ERR(attest_audit_append(log, big, ATTEST_AUDIT_RECORD_MAX + 1, NULL),
		      ATTEST_E_TOO_LARGE);
	free(big);
	CU_ASSERT_EQUAL(attest_audit_size(log), 1); /* only the segment_start */
	attest_audit_close(log);
	tu_rmtree(dir);
}

/* A torn last frame is cut to the last whole record; a zero-filled tail
 * too; damage before the tail is refused, never rewritten. */
static void test_torn_tail(void)
{
	char dir[512], path[1024], buf[128];
	struct attest_audit *log = NULL;
	struct frames f;
	uint8_t *data;
	size_t len, whole;
	int fd;

	tu_mkdtemp(dir, sizeof(dir));
	TU_ASSERT_ERR(attest_audit_open(dir, NULL, &log), ATTEST_OK);
	append_n(log, 10);
	TU_ASSERT_ERR(attest_audit_sync(log), ATTEST_OK);
	attest_audit_close(log);
	seg_path(dir, 0, "log", path, sizeof(path));
	free(tu_slurp(path, &whole));

	/* Half a frame at the end. */
	len = rec(buf, sizeof(buf), 11);
	fd = open(path, O_WRONLY | O_APPEND);
	CU_ASSERT(write(fd, "\0\0\0\x30\x01\x02\x03\x04", 8) == 8 && write(fd, buf, len / 2) > 0);
	close(fd);
	TU_ASSERT_ERR(attest_audit_open(dir, NULL, &log), ATTEST_OK);
	CU_ASSERT_EQUAL(attest_audit_size(log), 11);
	attest_audit_close(log);
	free(tu_slurp(path, &len));
	CU_ASSERT_EQUAL(len, whole);

	/* A zero-filled tail (size extended, data never written). */
	fd = open(path, O_WRONLY | O_APPEND);
	memset(buf, 0, sizeof(buf));
	CU_ASSERT(write(fd, buf, 100) == 100);
	close(fd);
	TU_ASSERT_ERR(attest_audit_open(dir, NULL, &log), ATTEST_OK);
	CU_ASSERT_EQUAL(attest_audit_size(log), 11);
	append_n(log, 1);
	TU_ASSERT_ERR(attest_audit_sync(log), ATTEST_OK);
	attest_audit_close(log);

	/* A flipped byte in record 3, whole frames after it: refused. */
	data = (uint8_t *)tu_slurp(path, &len);
	frames_read(path, &f);
	{
		size_t off = 0;

		for (size_t i = 0; i < 3; i++)
			off += 8 + f.len[i];
		data[off + 8 + 5] ^= 0x20;
	}
	tu_write(path, data, len);
	TU_ASSERT_ERR(attest_audit_open(dir, NULL, &log), ATTEST_E_STATE);
	free(tu_slurp(path, &whole));
	CU_ASSERT_EQUAL(whole, len); /* nothing cut */
	free(data);
	frames_free(&f);
	tu_rmtree(dir);
}

static int count_record(uint64_t seq, const uint8_t *r, size_t len, void *arg)
{
	uint64_t *n = arg;

	(void)seq;
	if (memmem(r, len, "refusal", 7) != NULL)
		(*n)++;
	return ATTEST_OK;
}

/* 20000 refusals from one source, 3 reasons, plus 2 from another: a
 * handful of records; the cap on keys holds with many sources. */
static void test_refusal_flood(void)
{
	char dir[512], src[32];
	struct attest_audit *log = NULL;
	struct attest_audit_opts o = { .refusal_interval_s = 60, .refusal_keys = 8 };
	static const char *const reasons[] = { "ATTEST_E_UID", "ATTEST_E_TRACED", "ATTEST_E_ENV" };
	uint64_t n = 0;

	tu_mkdtemp(dir, sizeof(dir));
	TU_ASSERT_ERR(attest_audit_open(dir, &o, &log), ATTEST_OK);
	for (int i = 0; i < 20000; i++)
		TU_ASSERT_ERR(attest_audit_refusal(log, "uid=1000", reasons[i % 3], NULL, 1000 + i / 1000),
			      ATTEST_OK);
	TU_ASSERT_ERR(attest_audit_refusal(log, "uid=33", "ATTEST_E_UID", NULL, 1010), ATTEST_OK);
	TU_ASSERT_ERR(attest_audit_refusal(log, "uid=33", "ATTEST_E_UID", NULL, 1011), ATTEST_OK);
	/* Time passes (the timer calls flush): interval 1000..1060 ends. */
	TU_ASSERT_ERR(attest_audit_refusal_flush(log, 1061, 0), ATTEST_OK);
	/* 1 segment_start + 4 first refusals + 2 aggregates (uid=1000, uid=33). */
	CU_ASSERT_EQUAL(attest_audit_size(log), 1 + 4 + 2);
	/* Many sources: at most refusal_keys are tracked, the rest count as "*". */
	for (int i = 0; i < 500; i++) {
		snprintf(src, sizeof(src), "10.0.0.%d", i);
		TU_ASSERT_ERR(attest_audit_refusal(log, src, "ATTEST_E_CALLER", NULL, 2000), ATTEST_OK);
	}
	TU_ASSERT_ERR(attest_audit_refusal_flush(log, 2000, 1), ATTEST_OK);
	/* 8 tracked firsts + 1 overflow aggregate. */
	CU_ASSERT_EQUAL(attest_audit_size(log), 7 + 8 + 1);
	TU_ASSERT_ERR(attest_audit_sync(log), ATTEST_OK);
	attest_audit_close(log);
	TU_ASSERT_ERR(attest_audit_scan(dir, count_record, &n, NULL), ATTEST_OK);
	CU_ASSERT_EQUAL(n, 4 + 2 + 8 + 1);
	tu_rmtree(dir);
}

/* The retry policy: NV_RATE backs off longer and is bounded; RETRY as
 * before; other codes and authorization failures are never retried. */
static void test_retry_policy(void)
{
	long ms, prev = 0, total = 0;
	int tries = 0;

	for (int f = 1; attest_tpm_retry_delay(TPM2_RC_NV_RATE, f, &ms); f++) {
		CU_ASSERT(ms >= prev && ms <= ATTEST_TPM_NV_RATE_CAP_MS);
		prev = ms;
		total += ms;
		tries++;
	}
	CU_ASSERT_EQUAL(tries, ATTEST_TPM_NV_RATE_RETRY_MAX - 1);
	CU_ASSERT(total >= 1000 && total <= 10000);
	CU_ASSERT(attest_tpm_retry_delay(TPM2_RC_NV_RATE, 1, &ms) == 1 &&
		  ms == ATTEST_TPM_NV_RATE_FIRST_MS);
	CU_ASSERT(attest_tpm_retry_delay(TPM2_RC_RETRY, 1, &ms) == 1 && ms == 10);
	CU_ASSERT(attest_tpm_retry_delay(TPM2_RC_RETRY, ATTEST_TPM_RETRY_MAX, &ms) == 0);
	CU_ASSERT(attest_tpm_retry_delay(TPM2_RC_NV_LOCKED, 1, &ms) == 0);
	CU_ASSERT(attest_tpm_retry_delay(TPM2_RC_BAD_AUTH | TPM2_RC_S | TPM2_RC_1, 1, &ms) == 0);
	CU_ASSERT(attest_tpm_retry_delay(TPM2_RC_NV_UNINITIALIZED, 1, &ms) == 0);
}

/* ---- accounting ---- */

struct acct {
	uint64_t seq[16];
	size_t n;
};

static int acct_collect(const struct attest_audit_view *v, void *arg)
{
	struct acct *a = arg;

	if (a->n < 16)
		a->seq[a->n] = v->seq;
	a->n++;
	return ATTEST_OK;
}

static void test_accounting(void)
{
	const char *chain[] = { "spiffe://fleet.example/host/h1/agent/research-bot" };
	struct {
		const char *type, *purpose, *subject, *outcome;
		uint64_t time;
	} recs[] = {
		{ "decision", "RESEARCH", "patient/42", "allow", 1000 },     /* 1: listed */
		{ "decision", "TREATMENT", "patient/42", "allow", 1001 },    /* exempt */
		{ "decision", "PAYMENT", "patient/42", "allow", 1002 },      /* exempt */
		{ "decision", "OPERATIONS", "patient/42", "allow", 1003 },   /* exempt */
		{ "decision", "PUBLIC_HEALTH", "patient/42", "allow", 1004 },/* 5: listed */
		{ "decision", "RESEARCH", "patient/42", "deny", 1005 },      /* refused: no disclosure */
		{ "decision", "RESEARCH", "patient/7", "allow", 1006 },      /* other patient */
		{ "issue", "RESEARCH", "patient/42", "ok", 1007 },           /* not an access */
		{ "disclosure", "OTHER", "patient/42", "ok", 1008 },         /* 9: listed */
		{ "decision", "RESEARCH", "patient/42", "allow", 5000 },     /* outside period */
	};
	struct attest_audit_query q = { .subject = "patient/42", .from = 1000, .to = 2000 };
	struct attest_audit *log = NULL;
	struct acct a = { { 0 }, 0 };
	char dir[512];

	tu_mkdtemp(dir, sizeof(dir));
	TU_ASSERT_ERR(attest_audit_open(dir, NULL, &log), ATTEST_OK);
	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		struct attest_audit_event ev = {
			.time = recs[i].time, .type = recs[i].type, .host = "h1", .user = "alice",
			.agents = chain, .nagents = 1, .purpose = recs[i].purpose,
			.subject = recs[i].subject, .action = "read",
			.resource = "ehr:record", .outcome = recs[i].outcome,
		};
		TU_ASSERT_ERR(attest_audit_append_event(log, &ev, NULL), ATTEST_OK);
	}
	TU_ASSERT_ERR(attest_audit_sync(log), ATTEST_OK);
	attest_audit_close(log);
	TU_ASSERT_ERR(attest_audit_accounting(dir, &q, 0, acct_collect, &a), ATTEST_OK);
	CU_ASSERT_EQUAL(a.n, 3);
	CU_ASSERT(a.seq[0] == 1 && a.seq[1] == 5 && a.seq[2] == 9);
	/* With the exempt purposes: an access report. */
	a.n = 0;
	TU_ASSERT_ERR(attest_audit_accounting(dir, &q, 1, acct_collect, &a), ATTEST_OK);
	CU_ASSERT_EQUAL(a.n, 6);
	/* A subject pattern is required. */
	q.subject = NULL;
	TU_ASSERT_ERR(attest_audit_accounting(dir, &q, 0, acct_collect, &a), ATTEST_E_INVALID_ARG);
	/* The CLI prints the same three as CSV (header + 3 lines). */
	CU_ASSERT_EQUAL(tu_sh("n=$(attestctl audit report --accounting --log %s "
			      "--subject 'patient/42' --from 1000 --to 2000 --format csv | wc -l); "
			      "test \"$n\" -eq 4",
			      dir),
			0);
	tu_rmtree(dir);
}

/* ---- on swtpm ---- */

static void open_tpm(struct tu_tpm *sw, struct attest_tpm **t, TPM2B_PUBLIC *ak)
{
	tu_tpm_start(sw);
	CU_ASSERT_FATAL(attest_tpm_open(sw->tcti, t) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_tpm_ak_public(*t, ak) == ATTEST_OK);
}

/* 100k records over 3 segments, 5 checkpoints: verifies offline and
 * online; proofs from the log check against a checkpoint's root. */
static void test_clean_100k(void)
{
	struct tu_tpm sw;
	struct attest_tpm *t = NULL;
	TPM2B_PUBLIC ak;
	struct attest_audit *log = NULL;
	struct attest_audit_opts o = { .segment_records = 40000 };
	struct attest_audit_report rep;
	struct attest_audit_ckpt *cks = NULL, c1;
	attest_merkle_hash *leaves = NULL, proof[ATTEST_MERKLE_MAX_PROOF];
	uint64_t n = 0;
	size_t nck = 0, plen;
	char dir[512];

	tu_mkdtemp(dir, sizeof(dir));
	open_tpm(&sw, &t, &ak);
	TU_ASSERT_ERR(attest_audit_open(dir, &o, &log), ATTEST_OK);
	for (int k = 0; k < 4; k++) {
		append_n(log, 25000);
		TU_ASSERT_ERR(attest_audit_checkpoint(log, t, k == 0 ? &c1 : NULL), ATTEST_OK);
	}
	append_n(log, 10);
	TU_ASSERT_ERR(attest_audit_checkpoint(log, t, NULL), ATTEST_OK);
	attest_audit_close(log);

	TU_ASSERT_ERR(verify(dir, &ak, NULL, &rep), ATTEST_OK);
	CU_ASSERT_EQUAL(rep.records, 100010 + 3); /* + a segment_start per segment */
	CU_ASSERT_EQUAL(rep.segments, 3);
	CU_ASSERT_EQUAL(rep.checkpoints, 5);
	CU_ASSERT_EQUAL(rep.covered, rep.records);
	CU_ASSERT_EQUAL(rep.online, 0);
	TU_ASSERT_ERR(verify(dir, &ak, t, &rep), ATTEST_OK);
	CU_ASSERT_EQUAL(rep.online, 1);
	CU_ASSERT_EQUAL(rep.tpm_counter, rep.last_counter);

	/* Inclusion of record 12345 in the first checkpoint's tree, and
	 * consistency of that tree with the last one. */
	TU_ASSERT_ERR(attest_audit_leaves(dir, &leaves, &n), ATTEST_OK);
	TU_ASSERT_ERR(attest_audit_checkpoints(dir, &cks, &nck), ATTEST_OK);
	CU_ASSERT_FATAL(nck == 5 && n == rep.records);
	TU_ASSERT_ERR(attest_merkle_inclusion_proof(leaves, c1.size, 12345, proof, &plen), ATTEST_OK);
	TU_ASSERT_ERR(attest_merkle_inclusion_verify(12345, c1.size, leaves[12345], proof, plen, c1.root),
		      ATTEST_OK);
	TU_ASSERT_ERR(attest_merkle_consistency_proof(leaves, cks[4].size, c1.size, proof, &plen),
		      ATTEST_OK);
	TU_ASSERT_ERR(attest_merkle_consistency_verify(c1.size, cks[4].size, c1.root, cks[4].root,
						       proof, plen),
		      ATTEST_OK);
	free(leaves);
	free(cks);
	attest_tpm_close(t);
	tu_tpm_stop(&sw);
	tu_rmtree(dir);
}

/* The tamper fixture: 1000 records + 2 segment starts over 2 segments
 * (600 per segment), a checkpoint every 100 appended records. */
#define TAMPER_SEG 600

static void build_tamper_log(const char *dir, struct attest_tpm *t)
{
	struct attest_audit *log = NULL;
	struct attest_audit_opts o = { .segment_records = TAMPER_SEG };

	CU_ASSERT_FATAL(attest_audit_open(dir, &o, &log) == ATTEST_OK);
	/* The first checkpoint at size 100, then every 100. */
	append_n(log, 99);
	for (int k = 0; k < 10; k++) {
		CU_ASSERT_FATAL(attest_audit_checkpoint(log, t, NULL) == ATTEST_OK);
		append_n(log, 100);
	}
	CU_ASSERT_FATAL(attest_audit_checkpoint(log, t, NULL) == ATTEST_OK);
	attest_audit_close(log);
}

static void copy_dir(const char *from, const char *to)
{
	CU_ASSERT_FATAL(tu_sh("rm -rf '%s' && cp -a '%s' '%s'", to, from, to) == 0);
}

static void expect_located(const char *dir, const TPM2B_PUBLIC *ak, int code, uint64_t from,
			   uint64_t to, const char *what)
{
	struct attest_audit_report rep;
	int r = verify(dir, ak, NULL, &rep);

	if (r != code || !rep.located || rep.bad_from != from || rep.bad_to != to)
		fprintf(stderr, "  %s: got %s [%" PRIu64 ", %" PRIu64 ") located=%d: %s\n", what,
			attest_errname(r), rep.bad_from, rep.bad_to, rep.located, attest_errdetail());
	CU_ASSERT_EQUAL(r, code);
	CU_ASSERT(rep.located && rep.bad_from == from && rep.bad_to == to);
}

static void test_tamper(void)
{
	struct tu_tpm sw;
	struct attest_tpm *t = NULL;
	TPM2B_PUBLIC ak;
	struct attest_audit_report rep;
	char base[512], dir[600], path[1024], ck[1024];
	struct frames f;
	char *tmp;
	size_t tl;

	tu_mkdtemp(base, sizeof(base));
	snprintf(dir, sizeof(dir), "%s/work", base);
	open_tpm(&sw, &t, &ak);
	{
		char orig[600];

		snprintf(orig, sizeof(orig), "%s/orig", base);
		build_tamper_log(orig, t);
		TU_ASSERT_ERR(verify(orig, &ak, t, &rep), ATTEST_OK);
		CU_ASSERT_EQUAL(rep.checkpoints, 11);
		CU_ASSERT_EQUAL(rep.records, 1101);
	}
#define RESET() copy_dir(orig_path, dir)
	char orig_path[600];
	snprintf(orig_path, sizeof(orig_path), "%s/orig", base);
	seg_path(dir, 0, "log", path, sizeof(path));

	/* Edited: record 350 says something else (frame re-checked). */
	RESET();
	frames_read(path, &f);
	tmp = f.p[350];
	CU_ASSERT_FATAL(tmp[f.len[350] - 3] >= '0');
	tmp[f.len[350] - 3] = tmp[f.len[350] - 3] == '9' ? '8' : '9';
	frames_write(path, &f);
	frames_free(&f);
	expect_located(dir, &ak, ATTEST_E_EVIDENCE_QUALIFYING, 300, 400, "edited");

	/* Edited without fixing the frame check: a broken frame, same place. */
	RESET();
	{
		uint8_t *d = (uint8_t *)tu_slurp(path, &tl);
		size_t off = 0;

		frames_read(path, &f);
		for (size_t i = 0; i < 350; i++)
			off += 8 + f.len[i];
		frames_free(&f);
		d[off + 12] ^= 1;
		tu_write(path, d, tl);
		free(d);
	}
	expect_located(dir, &ak, ATTEST_E_STATE, 300, 400, "edited, frame broken");

	/* Deleted: record 350 gone. */
	RESET();
	frames_read(path, &f);
	free(f.p[350]);
	memmove(&f.p[350], &f.p[351], (f.n - 351) * sizeof(f.p[0]));
	memmove(&f.len[350], &f.len[351], (f.n - 351) * sizeof(f.len[0]));
	f.n--;
	frames_write(path, &f);
	frames_free(&f);
	expect_located(dir, &ak, ATTEST_E_EVIDENCE_QUALIFYING, 300, 400, "deleted");

	/* Reordered: records 350 and 351 swapped. */
	RESET();
	frames_read(path, &f);
	{
		char *p = f.p[350];
		size_t l = f.len[350];

		f.p[350] = f.p[351];
		f.len[350] = f.len[351];
		f.p[351] = p;
		f.len[351] = l;
	}
	frames_write(path, &f);
	frames_free(&f);
	expect_located(dir, &ak, ATTEST_E_EVIDENCE_QUALIFYING, 300, 400, "reordered");

	/* Inserted: a forged record after 250. */
	RESET();
	frames_read(path, &f);
	memmove(&f.p[251], &f.p[250], (f.n - 250) * sizeof(f.p[0]));
	memmove(&f.len[251], &f.len[250], (f.n - 250) * sizeof(f.len[0]));
	f.p[250] = strdup("{\"time\":\"1\",\"type\":\"decision\",\"outcome\":\"allow\"}");
	f.len[250] = strlen(f.p[250]);
	f.n++;
	frames_write(path, &f);
	frames_free(&f);
	expect_located(dir, &ak, ATTEST_E_EVIDENCE_QUALIFYING, 200, 300, "inserted");

	/* Tail cut: the last 30 records of the second segment removed. */
	RESET();
	{
		char p2[1024];

		seg_path(dir, TAMPER_SEG, "log", p2, sizeof(p2));
		frames_read(p2, &f);
		for (size_t i = f.n - 30; i < f.n; i++)
			free(f.p[i]);
		f.n -= 30;
		frames_write(p2, &f);
		frames_free(&f);
	}
	expect_located(dir, &ak, ATTEST_E_EVIDENCE_QUALIFYING, 1001, 1101, "tail cut");

	/* A checkpoint with a forged signature (checkpoint 4: size 500). */
	RESET();
	seg_path(dir, 0, "ckpt", ck, sizeof(ck));
	frames_read(ck, &f);
	{
		struct attest_audit_ckpt c;
		char *json = NULL;
		size_t len;

		CU_ASSERT_FATAL(attest_audit_ckpt_from_json(f.p[4], f.len[4], &c) == ATTEST_OK);
		c.sig.signature.ecdsa.signatureS.buffer[5] ^= 1;
		CU_ASSERT_FATAL(attest_audit_ckpt_to_json(&c, &json, &len) == ATTEST_OK);
		free(f.p[4]);
		f.p[4] = json;
		f.len[4] = len;
	}
	frames_write(ck, &f);
	frames_free(&f);
	expect_located(dir, &ak, ATTEST_E_EVIDENCE_SIGNATURE, 400, 500, "forged signature");

	/* A skipped counter value: checkpoint 4 removed. */
	RESET();
	frames_read(ck, &f);
	free(f.p[4]);
	memmove(&f.p[4], &f.p[5], (f.n - 5) * sizeof(f.p[0]));
	memmove(&f.len[4], &f.len[5], (f.n - 5) * sizeof(f.len[0]));
	f.n--;
	frames_write(ck, &f);
	frames_free(&f);
	expect_located(dir, &ak, ATTEST_E_QUOTE_COUNTER, 400, 600, "skipped counter");

	/* A checkpoint whose counter was edited (re-signed data impossible):
	 * the certified value disagrees. */
	RESET();
	frames_read(ck, &f);
	{
		struct attest_audit_ckpt c;
		char *json = NULL;
		size_t len;

		CU_ASSERT_FATAL(attest_audit_ckpt_from_json(f.p[2], f.len[2], &c) == ATTEST_OK);
		c.counter += 1;
		CU_ASSERT_FATAL(attest_audit_ckpt_to_json(&c, &json, &len) == ATTEST_OK);
		free(f.p[2]);
		f.p[2] = json;
		f.len[2] = len;
	}
	frames_write(ck, &f);
	frames_free(&f);
	expect_located(dir, &ak, ATTEST_E_QUOTE_COUNTER, 200, 300, "edited counter");

	/* Verified with another key: the signature of the first checkpoint. */
	RESET();
	{
		TPM2B_PUBLIC other;

		/* Another genuine P-256 key of the same TPM: its EK. */
		CU_ASSERT_FATAL(attest_tpm_ek_public(t, ATTEST_EK_P256, &other) == ATTEST_OK);
		expect_located(dir, &other, ATTEST_E_EVIDENCE_SIGNATURE, 0, 100, "other AK");
	}
	attest_tpm_close(t);
	tu_tpm_stop(&sw);
	tu_rmtree(base);
#undef RESET
}

/* An older copy of the whole log restored: offline verification passes (it
 * cannot tell), online verification and the writer's next checkpoint see
 * the TPM counter ahead of the log. */
static void test_rollback(void)
{
	struct tu_tpm sw;
	struct attest_tpm *t = NULL;
	TPM2B_PUBLIC ak;
	struct attest_audit *log = NULL;
	struct attest_audit_report rep;
	char base[512], dir[600], old[600];

	tu_mkdtemp(base, sizeof(base));
	snprintf(dir, sizeof(dir), "%s/log", base);
	snprintf(old, sizeof(old), "%s/old", base);
	open_tpm(&sw, &t, &ak);
	TU_ASSERT_ERR(attest_audit_open(dir, NULL, &log), ATTEST_OK);
	append_n(log, 50);
	TU_ASSERT_ERR(attest_audit_checkpoint(log, t, NULL), ATTEST_OK);
	attest_audit_close(log);
	copy_dir(dir, old);
	TU_ASSERT_ERR(attest_audit_open(dir, NULL, &log), ATTEST_OK);
	append_n(log, 50);
	TU_ASSERT_ERR(attest_audit_checkpoint(log, t, NULL), ATTEST_OK);
	append_n(log, 50);
	TU_ASSERT_ERR(attest_audit_checkpoint(log, t, NULL), ATTEST_OK);
	attest_audit_close(log);
	/* Restore the old copy over the log. */
	CU_ASSERT_FATAL(tu_sh("rm -rf '%s' && mv '%s' '%s'", dir, old, dir) == 0);

	TU_ASSERT_ERR(verify(dir, &ak, NULL, &rep), ATTEST_OK);
	CU_ASSERT_EQUAL(rep.online, 0);
	TU_ASSERT_ERR(verify(dir, &ak, t, &rep), ATTEST_E_QUOTE_COUNTER);
	CU_ASSERT(rep.online == 1 && rep.tpm_counter == rep.last_counter + 2);
	CU_ASSERT(rep.located && rep.bad_from == 51 && rep.bad_to == 51);
	TU_ASSERT_ERR(attest_audit_open(dir, NULL, &log), ATTEST_OK);
	append_n(log, 1);
	TU_ASSERT_ERR(attest_audit_checkpoint(log, t, NULL), ATTEST_E_QUOTE_COUNTER);
	attest_audit_close(log);
	attest_tpm_close(t);
	tu_tpm_stop(&sw);
	tu_rmtree(base);
}

/* ---- kill -9 ---- */

static int kill_step, kill_at, kill_seen;

static void killer(int step, uint64_t seq)
{
	(void)seq;
	if (step == kill_step && ++kill_seen == kill_at)
		raise(SIGKILL);
}

/* The child: append records whose content is their own sequence number,
 * sync every 3 and report the durable count on fd, checkpoint every 7. */
static void writer_child(const char *dir, const char *tcti, int fd)
{
	struct attest_audit *log = NULL;
	struct attest_tpm *t = NULL;
	char buf[128];

	if (attest_tpm_open(tcti, &t) != ATTEST_OK || attest_audit_open(dir, NULL, &log) != ATTEST_OK)
		_exit(3);
	attest_audit_set_hook(killer);
	for (int i = 0; i < 40; i++) {
		uint64_t seq = attest_audit_size(log), synced;
		size_t len = rec(buf, sizeof(buf), seq);

		if (attest_audit_append(log, buf, len, NULL) != ATTEST_OK)
			_exit(4);
		if (i % 3 == 2) {
			if (attest_audit_sync(log) != ATTEST_OK)
				_exit(5);
			synced = attest_audit_synced(log);
			if (write(fd, &synced, sizeof(synced)) != sizeof(synced))
				_exit(6);
		}
		if (i % 7 == 6 && attest_audit_checkpoint(log, t, NULL) != ATTEST_OK)
			_exit(7);
	}
	_exit(0);
}

struct check_ctx {
	uint64_t bad;
	uint64_t n;
};

static int check_content(uint64_t seq, const uint8_t *r, size_t len, void *arg)
{
	struct check_ctx *c = arg;
	char want[64];
	int n = snprintf(want, sizeof(want), "\"n\":\"%" PRIu64 "\"", seq);

	c->n = seq + 1;
	if (memmem(r, len, "segment_start", 13) == NULL && memmem(r, len, want, (size_t)n) == NULL)
		c->bad++;
	return ATTEST_OK;
}

static void test_kill9(void)
{
	struct tu_tpm sw;
	struct attest_tpm *t = NULL;
	TPM2B_PUBLIC ak;
	char dir[512];
	int kills = 0;

	tu_mkdtemp(dir, sizeof(dir));
	open_tpm(&sw, &t, &ak);
	attest_tpm_close(t); /* swtpm serves one client: the child's */
	for (int step = ATTEST_AUDIT_STEP_APPEND_BEGIN; step <= ATTEST_AUDIT_STEP_CKPT_STORED; step++) {
		for (int at = 1; at <= 13; at += 6) {
			struct attest_audit *log = NULL;
			struct attest_audit_report rep;
			struct check_ctx cc = { 0, 0 };
			uint64_t acked = 0, v;
			int p[2], status;
			size_t flushed;
			pid_t pid;

			CU_ASSERT_FATAL(pipe(p) == 0);
			kill_step = step;
			kill_at = at;
			kill_seen = 0;
			if ((pid = fork()) == 0) {
				close(p[0]);
				writer_child(dir, sw.tcti, p[1]);
			}
			close(p[1]);
			while (read(p[0], &v, sizeof(v)) == sizeof(v))
				acked = v;
			close(p[0]);
			CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
			if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
				kills++;
			else
				CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			/* The parent takes over the TPM: what the child had
			 * loaded when it died is flushed; reopen; repair. */
			CU_ASSERT_FATAL(attest_tpm_open(sw.tcti, &t) == ATTEST_OK);
			TU_ASSERT_ERR(attest_tpm_flush_all(t, &flushed), ATTEST_OK);
			TU_ASSERT_ERR(attest_audit_open(dir, NULL, &log), ATTEST_OK);
			CU_ASSERT(attest_audit_size(log) >= acked);
			/* A checkpoint settles a crash between increment and store. */
			TU_ASSERT_ERR(attest_audit_checkpoint(log, t, NULL), ATTEST_OK);
			attest_audit_close(log);
			TU_ASSERT_ERR(attest_audit_scan(dir, check_content, &cc, NULL), ATTEST_OK);
			CU_ASSERT_EQUAL(cc.bad, 0);
			CU_ASSERT(cc.n >= acked);
			TU_ASSERT_ERR(verify(dir, &ak, t, &rep), ATTEST_OK);
			attest_tpm_close(t);
		}
	}
	CU_ASSERT(kills >= 12);
	tu_tpm_stop(&sw);
	tu_rmtree(dir);
}

/* Rotation by hand with a final checkpoint, and retention: old segments
 * removed, the log still verifies from the first retained segment. */
static void test_rotation_retention(void)
{
	struct tu_tpm sw;
	struct attest_tpm *t = NULL;
	TPM2B_PUBLIC ak;
	struct attest_audit *log = NULL;
	struct attest_audit_opts o = { .retention_s = 3600 };
	struct attest_audit_report rep;
	attest_merkle_hash *leaves = NULL;
	uint64_t n;
	size_t removed = 9;
	char dir[512];

	tu_mkdtemp(dir, sizeof(dir));
	open_tpm(&sw, &t, &ak);
	TU_ASSERT_ERR(attest_audit_open(dir, &o, &log), ATTEST_OK);
	append_n(log, 20);
	TU_ASSERT_ERR(attest_audit_rotate(log, t), ATTEST_OK);
	append_n(log, 20);
	TU_ASSERT_ERR(attest_audit_rotate(log, t), ATTEST_OK);
	append_n(log, 20);
	TU_ASSERT_ERR(attest_audit_checkpoint(log, t, NULL), ATTEST_OK);
	TU_ASSERT_ERR(attest_audit_expire(log, 0, &removed), ATTEST_OK);
	CU_ASSERT_EQUAL(removed, 0); /* nothing is an hour old */
	/* Two hours later: both closed segments go; the current stays. */
	TU_ASSERT_ERR(attest_audit_expire(log, (uint64_t)time(NULL) + 7200, &removed), ATTEST_OK);
	CU_ASSERT_EQUAL(removed, 2);
	TU_ASSERT_ERR(attest_audit_checkpoint(log, t, NULL), ATTEST_OK);
	attest_audit_close(log);
	TU_ASSERT_ERR(verify(dir, &ak, t, &rep), ATTEST_OK);
	CU_ASSERT_EQUAL(rep.first, 42);
	CU_ASSERT_EQUAL(rep.records, 1 + 20 + 1);
	CU_ASSERT_EQUAL(rep.checkpoints, 2);
	TU_ASSERT_ERR(attest_audit_leaves(dir, &leaves, &n), ATTEST_E_STATE);
	/* A middle segment removed by hand is not retention: refused. */
	attest_tpm_close(t);
	tu_tpm_stop(&sw);
	tu_rmtree(dir);
}

/* ---- the sync thread (auditsync.h) ---- */

/* The test's fdatasync: waits for a byte on gate[0] (the test lets each
 * sync through), then fails with EIO when gate_fail, else syncs. */
static int gate[2] = { -1, -1 };
static int gate_fail;

static int gated_sync(int fd)
{
	char c;

	if (read(gate[0], &c, 1) != 1)
		return -1;
	if (__atomic_load_n(&gate_fail, __ATOMIC_SEQ_CST)) {
		errno = EIO;
		return -1;
	}
	return fdatasync(fd);
}

struct got {
	int called, code;
	uint64_t synced_at_call; /* attest_audit_synced when answered */
	struct attest_audit *log;
};

static void got_cb(void *arg, int code)
{
	struct got *g = arg;

	g->called++;
	g->code = code;
	g->synced_at_call = attest_audit_synced(g->log);
}

static void release_and_reap(struct attest_audit_syncer *sy, int expect)
{
	struct pollfd p = { attest_audit_syncer_fd(sy), POLLIN, 0 };

	CU_ASSERT_FATAL(write(gate[1], "x", 1) == 1);
	CU_ASSERT_FATAL(poll(&p, 1, 60000) == 1);
	TU_ASSERT_ERR(attest_audit_syncer_reap(sy), expect);
}

static void append_one(struct attest_audit *log, uint64_t *seq)
{
	char buf[128];
	size_t len = rec(buf, sizeof(buf), attest_audit_size(log));

	CU_ASSERT_FATAL(attest_audit_append(log, buf, len, seq) == ATTEST_OK);
}

/* Group commit off the loop: while a sync is held in the kernel (here: in
 * the gate), the loop appends and queues more waiters; none is answered
 * before its record is durable; everything appended during one sync goes
 * out in the next single batch. */
static void test_syncer_group(void)
{
	char dir[512];
	struct attest_audit *log = NULL;
	struct attest_audit_syncer *sy = NULL;
	struct got a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
	uint64_t sa, sb, sc;

	tu_mkdtemp(dir, sizeof(dir));
	CU_ASSERT_FATAL(pipe(gate) == 0);
	gate_fail = 0;
	attest_audit_set_sync_fn(gated_sync);
	TU_ASSERT_ERR(attest_audit_open(dir, NULL, &log), ATTEST_OK);
	a.log = b.log = c.log = d.log = log;
	TU_ASSERT_ERR(attest_audit_syncer_new(log, &sy), ATTEST_OK);
	append_one(log, &sa);
	TU_ASSERT_ERR(attest_audit_syncer_wait(sy, got_cb, &a), ATTEST_OK);
	CU_ASSERT_EQUAL(a.called, 0); /* the sync is held: no answer */
	/* the loop is not stalled: appends and waits go on meanwhile */
	append_one(log, &sb);
	TU_ASSERT_ERR(attest_audit_syncer_wait(sy, got_cb, &b), ATTEST_OK);
	append_one(log, &sc);
	TU_ASSERT_ERR(attest_audit_syncer_wait(sy, got_cb, &c), ATTEST_OK);
	CU_ASSERT(attest_audit_synced(log) <= sa);
	CU_ASSERT_EQUAL(a.called + b.called + c.called, 0);
	CU_ASSERT_EQUAL(attest_audit_syncer_waiting(sy), 3);
	/* the first sync ends: only a's record was in it */
	release_and_reap(sy, ATTEST_OK);
	CU_ASSERT_EQUAL(a.called, 1);
	CU_ASSERT_EQUAL(a.code, ATTEST_OK);
	CU_ASSERT(a.synced_at_call > sa);
	CU_ASSERT_EQUAL(b.called + c.called, 0);
	/* b and c: one batch, started by the reap */
	release_and_reap(sy, ATTEST_OK);
	CU_ASSERT_EQUAL(b.called, 1);
	CU_ASSERT_EQUAL(c.called, 1);
	CU_ASSERT(b.synced_at_call > sc && c.synced_at_call > sc);
	CU_ASSERT_EQUAL(attest_audit_syncer_batches(sy), 2);
	CU_ASSERT_EQUAL(attest_audit_syncer_waiting(sy), 0);
	/* nothing new: answered at once, no sync */
	TU_ASSERT_ERR(attest_audit_syncer_wait(sy, got_cb, &d), ATTEST_OK);
	CU_ASSERT_EQUAL(d.called, 1);
	CU_ASSERT_EQUAL(attest_audit_syncer_batches(sy), 2);
	/* a waiter left at free is answered after a last sync */
	memset(&d, 0, sizeof(d));
	d.log = log;
	append_one(log, NULL);
	TU_ASSERT_ERR(attest_audit_syncer_wait(sy, got_cb, &d), ATTEST_OK);
	CU_ASSERT_EQUAL(d.called, 0);
	CU_ASSERT_FATAL(write(gate[1], "xx", 2) == 2);
	attest_audit_syncer_free(sy);
	CU_ASSERT_EQUAL(d.called, 1);
	CU_ASSERT_EQUAL(d.code, ATTEST_OK);
	CU_ASSERT_EQUAL(attest_audit_synced(log), attest_audit_size(log));
	attest_audit_close(log);
	attest_audit_set_sync_fn(NULL);
	close(gate[0]);
	close(gate[1]);
	tu_rmtree(dir);
}

/* A failed fdatasync fails every waiting request closed (ATTEST_E_IO, not
 * an acknowledgement), and the log refuses appends and later waits: a sync
 * that succeeds after a failure would not prove the lost pages durable. */
static void test_syncer_fail(void)
{
	char dir[512], buf[128];
	struct attest_audit *log = NULL;
	struct attest_audit_syncer *sy = NULL;
	struct got a = { 0 }, b = { 0 }, c = { 0 };
	size_t len;

	tu_mkdtemp(dir, sizeof(dir));
	CU_ASSERT_FATAL(pipe(gate) == 0);
	attest_audit_set_sync_fn(gated_sync);
	TU_ASSERT_ERR(attest_audit_open(dir, NULL, &log), ATTEST_OK);
	a.log = b.log = c.log = log;
	TU_ASSERT_ERR(attest_audit_syncer_new(log, &sy), ATTEST_OK);
	append_one(log, NULL);
	TU_ASSERT_ERR(attest_audit_syncer_wait(sy, got_cb, &a), ATTEST_OK);
	append_one(log, NULL);
	TU_ASSERT_ERR(attest_audit_syncer_wait(sy, got_cb, &b), ATTEST_OK);
	__atomic_store_n(&gate_fail, 1, __ATOMIC_SEQ_CST);
	release_and_reap(sy, ATTEST_E_IO);
	CU_ASSERT_EQUAL(a.called, 1);
	CU_ASSERT_EQUAL(a.code, ATTEST_E_IO);
	/* b was not in the failed batch, but nothing after it can be trusted */
	CU_ASSERT_EQUAL(b.called, 1);
	CU_ASSERT_EQUAL(b.code, ATTEST_E_IO);
	__atomic_store_n(&gate_fail, 0, __ATOMIC_SEQ_CST);
	len = rec(buf, sizeof(buf), attest_audit_size(log));
	TU_ASSERT_ERR(attest_audit_append(log, buf, len, NULL), ATTEST_E_IO);
	TU_ASSERT_ERR(attest_audit_sync(log), ATTEST_E_IO);
	TU_ASSERT_ERR(attest_audit_syncer_wait(sy, got_cb, &c), ATTEST_OK);
	CU_ASSERT_EQUAL(c.called, 1);
	CU_ASSERT_EQUAL(c.code, ATTEST_E_IO);
	attest_audit_syncer_free(sy);
	attest_audit_close(log);
	/* the same rule for the synchronous sync */
	__atomic_store_n(&gate_fail, 1, __ATOMIC_SEQ_CST);
	TU_ASSERT_ERR(attest_audit_open(dir, NULL, &log), ATTEST_OK);
	append_one(log, NULL);
	CU_ASSERT_FATAL(write(gate[1], "x", 1) == 1);
	TU_ASSERT_ERR(attest_audit_sync(log), ATTEST_E_IO);
	__atomic_store_n(&gate_fail, 0, __ATOMIC_SEQ_CST);
	len = rec(buf, sizeof(buf), attest_audit_size(log));
	TU_ASSERT_ERR(attest_audit_append(log, buf, len, NULL), ATTEST_E_IO);
	attest_audit_close(log);
	attest_audit_set_sync_fn(NULL);
	close(gate[0]);
	close(gate[1]);
	tu_rmtree(dir);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "canonical record bytes", test_record_canonical },
		{ "record times: canonical head and other shapes alike", test_record_times },
		{ "append refuses malformed records", test_append_rejects },
		{ "sync thread: group commit, no answer before durable", test_syncer_group },
		{ "sync thread: a failed fdatasync fails waiters closed", test_syncer_fail },
		{ "torn tail cut, middle damage refused", test_torn_tail },
		{ "refusal floods aggregated, keys capped", test_refusal_flood },
		{ "TPM retry policy: NV_RATE bounded back-off", test_retry_policy },
		{ "accounting of disclosures: exactly the non-exempt", test_accounting },
		{ "swtpm: clean 100k-record log verifies, proofs", test_clean_100k },
		{ "swtpm: tampering detected and located", test_tamper },
		{ "swtpm: restored older log caught online", test_rollback },
		{ "swtpm: kill -9 at every step keeps acked records", test_kill9 },
		{ "swtpm: rotation and retention keep verification", test_rotation_retention },
		{ NULL, NULL },
	};

	return tu_main("audit", tests);
}
