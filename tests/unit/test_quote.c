/* test_quote.c - host-quote appraisal on swtpm: every step of
 * attest_quote_appraise refused with its own code, counters (edited and a
 * real swtpm restart), reference sets (a boot PCR extended after the set
 * was made, two active sets), event-log replay (inserted and reordered
 * events, StartupLocality) and the event-log allowlist.
 * Targets: attest_quote_appraise, attest_eventlog_*, attest_refset_*. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <tss2/tss2_mu.h>

#include "attestation/eventlog.h"
#include "core/json.h"
#include "attestation/quote.h"
#include "attestation/refset.h"
#include "tpm/tpm.h"
#include "tpm/tpmsw.h"
#include "testutil.h"

#define BOOT 0x0000ffu /* PCRs 0-7 */

/* ---- nonces: issued once, taken once ---- */

struct nonces {
	uint8_t v[16][16];
	int used[16];
	size_t n;
};

static int nonce_take(void *arg, const uint8_t *nonce, size_t len)
{
	struct nonces *s = arg;

	for (size_t i = 0; i < s->n; i++)
		if (len == 16 && memcmp(s->v[i], nonce, 16) == 0) {
			if (s->used[i])
				return ATTEST_E_NONCE; /* detail left to the appraisal */
			s->used[i] = 1;
			return ATTEST_OK;
		}
	return ATTEST_E_NONCE;
}

static const uint8_t *nonce_issue(struct nonces *s)
{
	CU_ASSERT_FATAL(s->n < 16);
	memset(s->v[s->n], 0, 16);
	s->v[s->n][0] = (uint8_t)(0xa0 + s->n);
	s->v[s->n][15] = 0x5a;
	return s->v[s->n++];
}

/* ---- one quote and what a host would send with it ---- */

struct q {
	uint8_t attest[sizeof(TPMS_ATTEST) + 16];
	size_t attest_len;
	uint8_t sig[sizeof(TPMT_SIGNATURE) + 16];
	size_t sig_len;
	uint8_t values[24 * 32];
	uint32_t mask;
	const uint8_t *log;
	size_t log_len;
};

static void quote_with(struct attest_tpm *t, uint32_t mask, const uint8_t *nonce, size_t nlen,
		       struct q *q)
{
	TPM2B_ATTEST at;
	TPMT_SIGNATURE sig;
	struct attest_pcrs pcrs;
	size_t off = 0, k = 0;

	memset(q, 0, sizeof(*q));
	TU_ASSERT_ERR(attest_tpm_quote(t, mask, nonce, nlen, &at, &sig), ATTEST_OK);
	memcpy(q->attest, at.attestationData, at.size);
	q->attest_len = at.size;
	CU_ASSERT_FATAL(Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, q->sig, sizeof(q->sig), &off) ==
			TSS2_RC_SUCCESS);
	q->sig_len = off;
	q->mask = mask;
	if (mask != 0) {
		TU_ASSERT_ERR(attest_tpm_pcr_read(t, mask, &pcrs), ATTEST_OK);
		for (unsigned i = 0; i < 24; i++)
			if (mask & (1u << i))
				memcpy(q->values + 32 * k++, pcrs.value[i], 32);
	}
}

static int appraise(const TPM2B_PUBLIC *ak, const struct q *q, const struct attest_quote_policy *p,
		    struct attest_quote_result *res)
{
	struct attest_quote_evidence ev = {
		.attest = q->attest, .attest_len = q->attest_len, .sig = q->sig,
		.sig_len = q->sig_len, .pcr_mask = q->mask, .pcr_values = q->values,
		.pcr_values_len = 0, .eventlog = q->log, .eventlog_len = q->log_len,
	};

	for (unsigned i = 0; i < 24; i++)
		ev.pcr_values_len += ((q->mask >> i) & 1u) * 32;
	return attest_quote_appraise(ak, &ev, p, res);
}

/* Rewrite q's TPMS_ATTEST: hash 0 empties the selection, else moves it
 * to that bank. */
static void edit_selection(struct q *q, TPMI_ALG_HASH hash)
{
	TPMS_ATTEST a;
	size_t off = 0;

	CU_ASSERT_FATAL(Tss2_MU_TPMS_ATTEST_Unmarshal(q->attest, q->attest_len, &off, &a) ==
			TSS2_RC_SUCCESS);
	if (hash == 0)
		a.attested.quote.pcrSelect.count = 0;
	else
		a.attested.quote.pcrSelect.pcrSelections[0].hash = hash;
	off = 0;
	CU_ASSERT_FATAL(Tss2_MU_TPMS_ATTEST_Marshal(&a, q->attest, sizeof(q->attest), &off) ==
			TSS2_RC_SUCCESS);
	q->attest_len = off;
}

/* ---- reference sets signed by a test operator ---- */

static EVP_PKEY *operator_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	CU_ASSERT_FATAL(k != NULL);
	return k;
}

/* A set pinning the PCRs of mask to the values in q (index order), with
 * an optional "eventlog" JSON fragment. */
static struct attest_refset *make_set(EVP_PKEY *op, const char *name, const struct q *q,
				      uint32_t mask, const char *eventlog_json)
{
	char json[8192], hex[65];
	size_t n = 0, k = 0;
	char *tok = NULL;
	struct attest_refset *s = NULL;
	struct attest_refset_operator ops[1] = { { "ops-team", op } };

	n += (size_t)snprintf(json + n, sizeof(json) - n, "{\"version\":\"1\",\"name\":\"%s\",\"pcrs\":{",
			      name);
	for (unsigned i = 0; i < 24; i++) {
		if (!(q->mask & (1u << i)))
			continue;
		if (mask & (1u << i)) {
			attest_hex(q->values + 32 * k, 32, hex);
			n += (size_t)snprintf(json + n, sizeof(json) - n, "%s\"%u\":\"%s\"",
					      json[n - 1] == '{' ? "" : ",", i, hex);
		}
		k++;
	}
	n += (size_t)snprintf(json + n, sizeof(json) - n, "}%s%s}", eventlog_json ? ",\"eventlog\":" : "",
			      eventlog_json ? eventlog_json : "");
	TU_ASSERT_ERR(attest_refset_sign(op, "ops-team", json, n, &tok), ATTEST_OK);
	CU_ASSERT_FATAL(tok != NULL);
	TU_ASSERT_ERR(attest_refset_verify(tok, strlen(tok), ops, 1, 1000, &s), ATTEST_OK);
	free(tok);
	CU_ASSERT_FATAL(s != NULL);
	return s;
}

/* ---- the tests ---- */

static void test_good_and_structure(void)
{
	struct tu_tpm sw;
	struct attest_tpm *t = NULL;
	TPM2B_PUBLIC ak;
	struct nonces ns = { .n = 0 };
	struct attest_quote_policy p = { .required_mask = BOOT, .nonce_take = nonce_take,
					 .nonce_arg = &ns };
	struct attest_quote_result res;
	struct attest_tpm_key key;
	struct attest_tpm_creation cr;
	TPM2B_ATTEST cat;
	TPMT_SIGNATURE csig;
	struct q q, bad;
	const uint8_t *n;
	size_t off = 0;

	tu_tpm_start(&sw);
	TU_ASSERT_ERR(attest_tpm_open(sw.tcti, &t), ATTEST_OK);
	TU_ASSERT_ERR(attest_tpm_ak_public(t, &ak), ATTEST_OK);

	/* a good quote passes, and its nonce is then used up */
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_OK);
	CU_ASSERT(res.now.have == 1 && res.reboot == 0 && res.refset[0] == '\0');
	/* clockInfo.safe is recorded, not failed: whatever the TPM said (a
	 * swtpm from the copied template usually says NO, but YES once its
	 * clock was saved to NV) is what the result carries */
	{
		TPMS_ATTEST a;
		size_t aoff = 0;

		CU_ASSERT_FATAL(Tss2_MU_TPMS_ATTEST_Unmarshal(q.attest, q.attest_len, &aoff, &a) ==
				TSS2_RC_SUCCESS);
		CU_ASSERT(res.safe == (a.clockInfo.safe == TPM2_YES));
	}
	fprintf(stderr, "  swtpm quote: resetCount %u restartCount %u clock %llu safe %d\n",
		res.now.reset_count, res.now.restart_count, (unsigned long long)res.now.clock,
		res.safe);
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_E_NONCE); /* reused */
	CU_ASSERT(res.now.have == 0); /* zeroed on failure */

	/* trailing byte, truncation, oversize */
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	bad = q;
	bad.attest_len++;
	TU_ASSERT_ERR(appraise(&ak, &bad, &p, &res), ATTEST_E_PARSE);
	bad.attest_len = q.attest_len - 1;
	TU_ASSERT_ERR(appraise(&ak, &bad, &p, &res), ATTEST_E_PARSE);
	bad.attest_len = sizeof(bad.attest);
	TU_ASSERT_ERR(appraise(&ak, &bad, &p, &res), ATTEST_E_TOO_LARGE);
	bad = q;
	bad.sig_len--;
	TU_ASSERT_ERR(appraise(&ak, &bad, &p, &res), ATTEST_E_PARSE);
	/* wrong magic */
	bad = q;
	bad.attest[3] ^= 0x01;
	TU_ASSERT_ERR(appraise(&ak, &bad, &p, &res), ATTEST_E_EVIDENCE_MAGIC);
	/* the structure failures above left the nonce unused */
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_OK);

	/* wrong type: a genuine TPM2_CertifyCreation by the same AK */
	TU_ASSERT_ERR(attest_tpm_create_signkey(t, NULL, NULL, &key, &cr), ATTEST_OK);
	n = nonce_issue(&ns);
	TU_ASSERT_ERR(attest_tpm_certify_creation(t, &key, &cr, n, 16, &cat, &csig), ATTEST_OK);
	memset(&bad, 0, sizeof(bad));
	memcpy(bad.attest, cat.attestationData, cat.size);
	bad.attest_len = cat.size;
	CU_ASSERT_FATAL(Tss2_MU_TPMT_SIGNATURE_Marshal(&csig, bad.sig, sizeof(bad.sig), &off) ==
			TSS2_RC_SUCCESS);
	bad.sig_len = off;
	bad.mask = BOOT;
	TU_ASSERT_ERR(appraise(&ak, &bad, &p, &res), ATTEST_E_EVIDENCE_TYPE);

	/* nonce missing, never issued */
	quote_with(t, BOOT, NULL, 0, &q);
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_E_NONCE);
	CU_ASSERT(strstr(attest_errdetail(), "no nonce") != NULL);
	{
		uint8_t forged[16] = { 0xee };

		quote_with(t, BOOT, forged, 16, &q);
		TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_E_NONCE);
	}

	/* selection: subset, superset, different, empty, reported mask */
	quote_with(t, 0x07, nonce_issue(&ns), 16, &q);
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_E_QUOTE_SELECTION);
	CU_ASSERT(strstr(attest_errdetail(), "subset") != NULL);
	quote_with(t, 0x1ff, nonce_issue(&ns), 16, &q);
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_E_QUOTE_SELECTION);
	quote_with(t, 0x1fe, nonce_issue(&ns), 16, &q);
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_E_QUOTE_SELECTION);
	CU_ASSERT(strstr(attest_errdetail(), "different") != NULL);
	/* empty, and another bank: the TPM's quote re-marshalled with the
	 * selection edited (the signature no longer fits, but selection is
	 * checked first) */
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	bad = q;
	edit_selection(&bad, 0);
	TU_ASSERT_ERR(appraise(&ak, &bad, &p, &res), ATTEST_E_QUOTE_SELECTION);
	CU_ASSERT(strstr(attest_errdetail(), "empty") != NULL);
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	bad = q;
	edit_selection(&bad, TPM2_ALG_SHA1);
	TU_ASSERT_ERR(appraise(&ak, &bad, &p, &res), ATTEST_E_QUOTE_SELECTION);
	CU_ASSERT(strstr(attest_errdetail(), "bank") != NULL);
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	bad = q;
	bad.mask = 0x7f; /* report fewer values than the quote covers */
	TU_ASSERT_ERR(appraise(&ak, &bad, &p, &res), ATTEST_E_QUOTE_SELECTION);

	/* digest: one reported value altered */
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	bad = q;
	bad.values[2 * 32 + 5] ^= 0x80;
	TU_ASSERT_ERR(appraise(&ak, &bad, &p, &res), ATTEST_E_QUOTE_DIGEST);

	/* signature by another AK: the same quote checked against a software key */
	{
		TPM2B_PUBLIC other = ak;
		EVP_PKEY *k = EVP_EC_gen("P-256");
		BIGNUM *x = NULL, *y = NULL;

		CU_ASSERT_FATAL(k != NULL);
		CU_ASSERT_FATAL(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
				EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1);
		CU_ASSERT(BN_bn2binpad(x, other.publicArea.unique.ecc.x.buffer, 32) == 32);
		CU_ASSERT(BN_bn2binpad(y, other.publicArea.unique.ecc.y.buffer, 32) == 32);
		other.publicArea.unique.ecc.x.size = other.publicArea.unique.ecc.y.size = 32;
		quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
		TU_ASSERT_ERR(appraise(&other, &q, &p, &res), ATTEST_E_EVIDENCE_SIGNATURE);
		/* and a tampered signature under the right AK */
		quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
		q.sig[q.sig_len - 1] ^= 0x01;
		TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_E_EVIDENCE_SIGNATURE);
		BN_free(x);
		BN_free(y);
		EVP_PKEY_free(k);
	}
	attest_tpm_close(t);
	tu_tpm_stop(&sw);
}

static void restart_swtpm(struct tu_tpm *sw)
{
	const char *src = getenv("ATTEST_SRCDIR");

	if (src == NULL || src[0] == '\0')
		src = ".";
	CU_ASSERT_FATAL(tu_sh("'%s/swtpm-ci/swtpm-stop.sh' '%s/tpm' >/dev/null 2>&1", src, sw->dir) == 0);
	CU_ASSERT_FATAL(tu_sh("'%s/swtpm-ci/swtpm-start.sh' --keep-state '%s' '%s/tpm' >/dev/null",
			      src, tu_template(), sw->dir) == 0);
	{
		char path[1024], *tcti;
		size_t n;

		snprintf(path, sizeof(path), "%s/tpm/tcti", sw->dir);
		tcti = tu_slurp(path, &n);
		while (n > 0 && (tcti[n - 1] == '\n' || tcti[n - 1] == ' '))
			tcti[--n] = '\0';
		snprintf(sw->tcti, sizeof(sw->tcti), "%s", tcti);
		free(tcti);
	}
}

static void test_counters_and_sets(void)
{
	struct tu_tpm sw;
	struct attest_tpm *t = NULL;
	TPM2B_PUBLIC ak;
	struct nonces ns = { .n = 0 };
	struct attest_quote_counters prev;
	struct attest_quote_policy p = { .required_mask = BOOT, .nonce_take = nonce_take,
					 .nonce_arg = &ns, .prev = &prev };
	struct attest_quote_result res;
	struct attest_refset *old_set = NULL, *new_set = NULL, *sets[2];
	EVP_PKEY *op = operator_key();
	uint8_t kernel[32];
	struct q q, q_old;

	tu_tpm_start(&sw);
	TU_ASSERT_ERR(attest_tpm_open(sw.tcti, &t), ATTEST_OK);
	TU_ASSERT_ERR(attest_tpm_ak_public(t, &ak), ATTEST_OK);

	memset(&prev, 0, sizeof(prev));
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q_old);
	TU_ASSERT_ERR(appraise(&ak, &q_old, &p, &res), ATTEST_OK);
	prev = res.now;

	/* counters going backwards, simulated by editing prev */
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	prev.reset_count = res.now.reset_count + 1;
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_E_QUOTE_COUNTER);
	CU_ASSERT(strstr(attest_errdetail(), "resetCount") != NULL);
	prev.reset_count--;
	prev.restart_count++;
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_E_QUOTE_COUNTER);
	CU_ASSERT(strstr(attest_errdetail(), "restartCount") != NULL);
	prev.restart_count--;
	prev.clock += 3600 * 1000;
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_E_QUOTE_COUNTER);
	CU_ASSERT(strstr(attest_errdetail(), "clock") != NULL);
	/* counters as they were: the clock moved on, accepted */
	prev.clock -= 3600 * 1000;
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_OK);
	CU_ASSERT(res.reboot == 0 && res.now.clock >= prev.clock);
	prev = res.now;

	/* reference set made now; a boot PCR extended afterwards is refused */
	old_set = make_set(op, "fw-1.0", &q_old, BOOT, NULL);
	sets[0] = old_set;
	p.sets = sets;
	p.nsets = 1;
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(res.refset, "fw-1.0");
	prev = res.now;
	memset(kernel, 0x4b, sizeof(kernel));
	TU_ASSERT_ERR(attest_tpm_pcr_extend(t, 4, kernel), ATTEST_OK);
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_E_PCR_MISMATCH);
	CU_ASSERT(strstr(attest_errdetail(), "PCR 4 ") != NULL);
	CU_ASSERT(strstr(attest_errdetail(), "fw-1.0") != NULL);

	/* the new set rolls out beside the old one: both states pass */
	new_set = make_set(op, "fw-1.1", &q, BOOT, NULL);
	sets[1] = new_set;
	p.nsets = 2;
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(res.refset, "fw-1.1");
	prev = res.now;

	/* a real reboot: swtpm restarted on the same state; resetCount grows,
	 * PCRs are back at their reset values and match the old set again */
	attest_tpm_close(t);
	t = NULL;
	restart_swtpm(&sw);
	TU_ASSERT_ERR(attest_tpm_open(sw.tcti, &t), ATTEST_OK);
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_OK);
	CU_ASSERT(res.reboot == 1);
	CU_ASSERT(res.now.reset_count > prev.reset_count);
	CU_ASSERT_STRING_EQUAL(res.refset, "fw-1.0");
	/* and the quote from before the reboot can no longer be replayed as new */
	{
		struct attest_quote_counters after = res.now;

		p.prev = &after;
		q_old.log = NULL;
		TU_ASSERT_ERR(appraise(&ak, &q_old, &p, &res), ATTEST_E_NONCE); /* nonce used */
	}

	attest_refset_free(old_set);
	attest_refset_free(new_set);
	EVP_PKEY_free(op);
	attest_tpm_close(t);
	tu_tpm_stop(&sw);
}

/* Events of the synthetic boot: (pcr, data) */
static const struct {
	unsigned pcr;
	const char *data;
} boot_events[] = {
	{ 4, "bootloader shim 15.7" }, { 4, "grub 2.06" }, { 5, "gpt table" },
	{ 4, "vmlinuz 6.1.0-13" },     { 5, "boot order 0001" },
};
#define NBOOT (sizeof(boot_events) / sizeof(boot_events[0]))

/* A log of boot_events in the order given by idx (n entries), optionally
 * with a StartupLocality event. */
static void build_log(const size_t *idx, size_t n, int locality, struct attest_eventlog_writer *w)
{
	const uint16_t algs[] = { TPM2_ALG_SHA1, TPM2_ALG_SHA256 };

	TU_ASSERT_ERR(attest_eventlog_writer_init(w, algs, 2), ATTEST_OK);
	if (locality >= 0)
		TU_ASSERT_ERR(attest_eventlog_writer_locality(w, (uint8_t)locality), ATTEST_OK);
	for (size_t i = 0; i < n; i++)
		TU_ASSERT_ERR(attest_eventlog_writer_add(w, boot_events[idx[i]].pcr, 0x80000003u,
							 boot_events[idx[i]].data,
							 strlen(boot_events[idx[i]].data), NULL),
			      ATTEST_OK);
	TU_ASSERT_ERR(attest_eventlog_writer_add(w, 4, ATTEST_EV_SEPARATOR, "\0\0\0\0", 4, NULL),
		      ATTEST_OK);
}

static void digest_hex(const char *s, char hex[65])
{
	uint8_t d[32];

	CU_ASSERT_FATAL(EVP_Digest(s, strlen(s), d, NULL, EVP_sha256(), NULL) == 1);
	attest_hex(d, 32, hex);
}

static void test_eventlog(void)
{
	struct tu_tpm sw;
	struct attest_tpm *t = NULL;
	TPM2B_PUBLIC ak;
	struct nonces ns = { .n = 0 };
	struct attest_quote_policy p = { .required_mask = BOOT, .nonce_take = nonce_take,
					 .nonce_arg = &ns };
	struct attest_quote_result res;
	struct attest_eventlog_writer good, w;
	struct attest_eventlog parsed;
	struct attest_eventlog_event e;
	struct attest_refset *set = NULL, *strict = NULL, *sets[1];
	EVP_PKEY *op = operator_key();
	const size_t order[NBOOT] = { 0, 1, 2, 3, 4 };
	const size_t swapped[NBOOT] = { 1, 0, 2, 3, 4 };
	const size_t inserted[NBOOT + 1] = { 0, 1, 2, 1, 3, 4 };
	char allow[2048], h[NBOOT + 1][65];
	size_t cursor = 0;
	struct q q;

	tu_tpm_start(&sw);
	TU_ASSERT_ERR(attest_tpm_open(sw.tcti, &t), ATTEST_OK);
	TU_ASSERT_ERR(attest_tpm_ak_public(t, &ak), ATTEST_OK);

	/* "boot": extend the swtpm exactly as the log says */
	build_log(order, NBOOT, -1, &good);
	TU_ASSERT_ERR(attest_eventlog_parse(good.buf, good.len, &parsed), ATTEST_OK);
	CU_ASSERT(parsed.nevents == NBOOT + 1);
	while (attest_eventlog_next(&parsed, &cursor, &e))
		if (e.type != ATTEST_EV_NO_ACTION)
			TU_ASSERT_ERR(attest_tpm_pcr_extend(t, e.pcr, e.sha256), ATTEST_OK);

	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	q.log = good.buf;
	q.log_len = good.len;
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_OK);
	CU_ASSERT(res.eventlog_pcrs == BOOT);

	/* reordered events in PCR 4 */
	build_log(swapped, NBOOT, -1, &w);
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	q.log = w.buf;
	q.log_len = w.len;
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_E_EVENTLOG);
	CU_ASSERT(strstr(attest_errdetail(), "PCR 4") != NULL);
	attest_eventlog_writer_free(&w);
	/* an inserted event */
	build_log(inserted, NBOOT + 1, -1, &w);
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	q.log = w.buf;
	q.log_len = w.len;
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_E_EVENTLOG);
	attest_eventlog_writer_free(&w);
	/* a log claiming a locality-3 startup: PCR 0 would not be zero */
	build_log(order, NBOOT, 3, &w);
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	q.log = w.buf;
	q.log_len = w.len;
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_E_EVENTLOG);
	CU_ASSERT(strstr(attest_errdetail(), "PCR 0") != NULL);
	attest_eventlog_writer_free(&w);
	/* locality 0 stated explicitly is the same as none */
	build_log(order, NBOOT, 0, &w);
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	q.log = w.buf;
	q.log_len = w.len;
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_OK);
	attest_eventlog_writer_free(&w);
	/* a truncated log is malformed, refused before the nonce is used */
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	q.log = good.buf;
	q.log_len = good.len - 1;
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_E_EVENTLOG);
	CU_ASSERT(strstr(attest_errdetail(), "malformed") != NULL);
	q.log_len = good.len;
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_OK);

	/* allowlist: every event digest of PCRs 4 and 5 listed */
	for (size_t i = 0; i < NBOOT; i++)
		digest_hex(boot_events[i].data, h[i]);
	{
		uint8_t sep[32];

		CU_ASSERT_FATAL(EVP_Digest("\0\0\0\0", 4, sep, NULL, EVP_sha256(), NULL) == 1);
		attest_hex(sep, 32, h[NBOOT]);
	}
	snprintf(allow, sizeof(allow),
		 "{\"4\":[\"%s\",\"%s\",\"%s\",\"%s\"],\"5\":[\"%s\",\"%s\"]}", h[0], h[1], h[3],
		 h[5], h[2], h[4]);
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	set = make_set(op, "boot-allow", &q, 0x0f, allow); /* pins 0-3, allowlists 4-5 */
	sets[0] = set;
	p.sets = sets;
	p.nsets = 1;
	q.log = good.buf;
	q.log_len = good.len;
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(res.refset, "boot-allow");
	/* the same set without the kernel's digest: violation */
	snprintf(allow, sizeof(allow), "{\"4\":[\"%s\",\"%s\",\"%s\"],\"5\":[\"%s\",\"%s\"]}", h[0],
		 h[1], h[5], h[2], h[4]);
	strict = make_set(op, "boot-strict", &q, 0x0f, allow);
	sets[0] = strict;
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	q.log = good.buf;
	q.log_len = good.len;
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_E_EVENTLOG_POLICY);
	CU_ASSERT(strstr(attest_errdetail(), h[3]) != NULL);
	/* an allowlist with no log sent is refused too */
	quote_with(t, BOOT, nonce_issue(&ns), 16, &q);
	TU_ASSERT_ERR(appraise(&ak, &q, &p, &res), ATTEST_E_EVENTLOG_POLICY);

	attest_refset_free(set);
	attest_refset_free(strict);
	attest_eventlog_writer_free(&good);
	EVP_PKEY_free(op);
	attest_tpm_close(t);
	tu_tpm_stop(&sw);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "good quote; parse, magic, type, nonce, selection, digest, signature", test_good_and_structure },
		{ "counters, reboot, reference sets old and new", test_counters_and_sets },
		{ "event log replay and allowlist", test_eventlog },
		{ NULL, NULL },
	};

	return tu_main("quote", tests);
}
