/* refset.h - operator-signed reference-value sets (docs/attestation.md).
 *
 * A set is a JWS compact token signed ES256 by an operator:
 *   header  {"alg":"ES256","typ":"attest-refset+jws","kid":"<operator>"}
 *   payload {"version":"1","name":"<set name>",
 *            "pcrs":{"0":"<64 hex>",...},                 SHA-256 bank
 *            "eventlog":{"<pcr>":["<64 hex>",...],...},   optional allowlist
 *            "not_after":"<unix seconds>"}                optional
 * Several sets may be active at once (old and new firmware during a
 * rollout); a quote passes when its PCRs equal every PCR of one of them.
 *
 * Verification parses the whole token first (ATTEST_E_PARSE, or
 * ATTEST_E_TOO_LARGE / ATTEST_E_DUPLICATE_KEY), then looks the kid up among
 * the operator keys, checks the signature and not_after against now; an
 * unknown kid, a bad signature or an expired set is ATTEST_E_REFSET_SIGNATURE.
 * Internal to libattest.
 */
#ifndef LIBATTEST_REFSET_H
#define LIBATTEST_REFSET_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "attest/attest.h"

#define ATTEST_REFSET_TOKEN_MAX (512 * 1024) /* bytes of a signed set */
#define ATTEST_REFSET_NAME_MAX 63            /* fits attest_quote_result.refset */
#define ATTEST_REFSET_KID_MAX 64
#define ATTEST_REFSET_DIGESTS_MAX 8192       /* allowlist entries in one set */
#define ATTEST_REFSET_TYP "attest-refset+jws"

struct attest_refset;

/* An operator who may sign sets: kid is the name in the JWS header
 * ([A-Za-z0-9._-], 1..64 bytes, not starting with '.'), key a P-256 key. */
struct attest_refset_operator {
	const char *kid;
	EVP_PKEY *key;
};

/* Verify a signed set (len bytes at token) against ops[0..nops) at time
 * now (unix seconds). *out freed with attest_refset_free. */
int attest_refset_verify(const char *token, size_t len,
			 const struct attest_refset_operator *ops, size_t nops, int64_t now,
			 struct attest_refset **out) ATTEST_MUST_CHECK;
void attest_refset_free(struct attest_refset *s);

/* Sign the payload JSON (checked with the same rules as verification,
 * signed as the bytes given) as operator kid; *token malloc'd. */
int attest_refset_sign(EVP_PKEY *key, const char *kid, const char *payload, size_t len,
		       char **token) ATTEST_MUST_CHECK;

/* A kid usable as an operator name (and file name). */
int attest_refset_kid_ok(const char *kid);

const char *attest_refset_name(const struct attest_refset *s);
const char *attest_refset_kid(const struct attest_refset *s);
/* 0 when the set has no not_after. */
uint64_t attest_refset_not_after(const struct attest_refset *s);
/* PCRs the set pins, and the value of one (NULL if not pinned). */
uint32_t attest_refset_mask(const struct attest_refset *s);
const uint8_t *attest_refset_value(const struct attest_refset *s, unsigned pcr);
/* PCRs with an event-log allowlist (0: the set has none). */
uint32_t attest_refset_allow_mask(const struct attest_refset *s);
/* 1 if digest (SHA-256) is allowed in pcr's allowlist. */
int attest_refset_allowed(const struct attest_refset *s, unsigned pcr, const uint8_t digest[32]);
/* Number of allowlist entries for pcr. */
size_t attest_refset_allow_count(const struct attest_refset *s, unsigned pcr);

#endif
