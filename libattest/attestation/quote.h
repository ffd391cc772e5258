/* quote.h - appraisal of a host's TPM2_Quote by the remote verifier
 * (docs/attestation.md has the check order, counters and reference sets).
 * Internal to libattest; the verifier service and check-quote call it. */
#ifndef LIBATTEST_QUOTE_H
#define LIBATTEST_QUOTE_H

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "attest/attest.h"
#include "attestation/refset.h"

/* What a host sends. All pointers are borrowed for the call. */
struct attest_quote_evidence {
	const uint8_t *attest;
	size_t attest_len; /* marshalled TPMS_ATTEST (TPM2B content) */
	const uint8_t *sig;
	size_t sig_len;    /* marshalled TPMT_SIGNATURE */
	uint32_t pcr_mask; /* PCRs reported, SHA-256 bank */
	const uint8_t *pcr_values;
	size_t pcr_values_len; /* popcount(mask)*32, index order */
	const uint8_t *eventlog;
	size_t eventlog_len; /* TCG crypto-agile log or NULL */
};

/* TPMS_CLOCK_INFO counters of the last accepted quote (have: 1 if set). */
struct attest_quote_counters {
	int have;
	uint32_t reset_count, restart_count;
	uint64_t clock;
};

struct attest_quote_policy {
	uint32_t required_mask; /* SHA-256 PCRs the quote must select, exactly */
	/* Look up and consume the nonce (single use, not expired): ATTEST_OK
	 * or ATTEST_E_NONCE; any other code is passed through. */
	int (*nonce_take)(void *arg, const uint8_t *nonce, size_t len);
	void *nonce_arg;
	const struct attest_quote_counters *prev; /* last accepted counters of this host, or NULL */
	struct attest_refset *const *sets;
	size_t nsets; /* active reference sets; nsets==0 => no reference check */
};

struct attest_quote_result {
	int reboot; /* resetCount increased vs prev */
	int safe;   /* clockInfo.safe */
	struct attest_quote_counters now;
	char refset[64]; /* name of the set that matched ("" with no sets) */
	uint32_t eventlog_pcrs; /* PCRs the event log was checked for (0: no log) */
};

/* Appraise a quote of `ak`, in this order, stopping at the first failure:
 *  1 structure: caps, exact parse of TPMS_ATTEST and TPMT_SIGNATURE
 *    (ATTEST_E_TOO_LARGE, ATTEST_E_PARSE), magic (ATTEST_E_EVIDENCE_MAGIC),
 *    type == quote (ATTEST_E_EVIDENCE_TYPE); the event log, when sent, is
 *    parsed here too (malformed: ATTEST_E_EVENTLOG);
 *  2 selection == required_mask, SHA-256 bank only, and the reported mask
 *    too (ATTEST_E_QUOTE_SELECTION);
 *  3 pcrDigest == SHA-256(reported values) (ATTEST_E_QUOTE_DIGEST);
 *  4 event log, when sent: its replay equals each reported PCR
 *    (ATTEST_E_EVENTLOG);
 *  5 signature by ak (ATTEST_E_EVIDENCE_SIGNATURE);
 *  6 nonce: non-empty extraData consumed by nonce_take (ATTEST_E_NONCE),
 *    only after the signature, so nothing unsigned consumes a nonce or
 *    makes nonce_take record anything;
 *  7 counters against prev (ATTEST_E_QUOTE_COUNTER); a resetCount
 *    increase sets out->reboot; safe == 0 is only recorded;
 *  8 reference sets, when nsets > 0: the values equal every PCR one set
 *    pins (ATTEST_E_PCR_MISMATCH, naming the first differing PCR of the
 *    closest set) and, if that set has an event-log allowlist, a log was
 *    sent and every event it has for those PCRs is allowed
 *    (ATTEST_E_EVENTLOG_POLICY).
 * On failure *out is zeroed. */
int attest_quote_appraise(const TPM2B_PUBLIC *ak, const struct attest_quote_evidence *ev,
			  const struct attest_quote_policy *p,
			  struct attest_quote_result *out) ATTEST_MUST_CHECK;

#endif
