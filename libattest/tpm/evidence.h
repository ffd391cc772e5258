/* evidence.h - checks of TPM-signed evidence (TPM2_CertifyCreation and
 * TPM2_Quote) in software. Structure is checked before any signature, in
 * the order below, and the first failure is returned with its own code. */
#ifndef LIBATTEST_EVIDENCE_H
#define LIBATTEST_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "attest/attest.h"

#define ATTEST_MAX_ATTEST_SIZE sizeof(TPMS_ATTEST)

/* Creation evidence for `key` signed by `ak`: attest bytes parse exactly
 * (no trailing bytes); magic == TPM_GENERATED_VALUE; type ==
 * TPM_ST_ATTEST_CREATION; objectName == name(key); extraData == qual;
 * creationHash == H_nameAlg(creation_data) (skipped when creation_data is
 * NULL and creation_len 0: agent CAs carry no creation data); signature
 * by ak. */
int attest_verify_creation(const TPM2B_PUBLIC *ak, const TPM2B_PUBLIC *key,
			   const uint8_t *attest, size_t attest_len,
			   const TPMT_SIGNATURE *sig, const uint8_t *creation_data,
			   size_t creation_len, const uint8_t *qual,
			   size_t qual_len) ATTEST_MUST_CHECK;

/* Quote over SHA-256 PCRs: parse exactly; magic; type ==
 * TPM_ST_ATTEST_QUOTE; extraData == nonce; selection == exactly pcr_mask
 * in the SHA-256 bank; pcrDigest == SHA-256(values in index order); then
 * signature by ak. values holds popcount(pcr_mask) * 32 bytes. If
 * clock_out is not NULL the quote's clock info is copied there. */
int attest_verify_quote(const TPM2B_PUBLIC *ak, const uint8_t *attest, size_t attest_len,
			const TPMT_SIGNATURE *sig, const uint8_t *nonce, size_t nonce_len,
			uint32_t pcr_mask, const uint8_t *values, size_t values_len,
			TPMS_CLOCK_INFO *clock_out) ATTEST_MUST_CHECK;

/* The steps of attest_verify_quote, shared with attest_quote_appraise
 * (quote.c), each failing with its own code:
 * attest_quote_parse: cap, exact parse, magic, type == TPM_ST_ATTEST_QUOTE
 *   (ATTEST_E_TOO_LARGE/PARSE/EVIDENCE_MAGIC/EVIDENCE_TYPE);
 * attest_quote_selection: exactly one selection, in the SHA-256 bank, of
 *   exactly pcr_mask (ATTEST_E_QUOTE_SELECTION; pcr_mask 0 is
 *   ATTEST_E_INVALID_ARG);
 * attest_quote_digest: pcrDigest == SHA-256(values), values holding
 *   popcount(pcr_mask) * 32 bytes in PCR index order (ATTEST_E_QUOTE_DIGEST). */
int attest_quote_parse(const uint8_t *attest, size_t attest_len, TPMS_ATTEST *a) ATTEST_MUST_CHECK;
int attest_quote_selection(const TPMS_ATTEST *a, uint32_t pcr_mask) ATTEST_MUST_CHECK;
int attest_quote_digest(const TPMS_ATTEST *a, uint32_t pcr_mask, const uint8_t *values,
			size_t values_len) ATTEST_MUST_CHECK;

#endif
