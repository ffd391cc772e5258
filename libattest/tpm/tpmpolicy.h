/* tpmpolicy.h - policy digests computed in software (TPM 2.0 Part 3,
 * PolicyPCR / PolicyAuthValue / PolicyCommandCode), so a verifier can
 * recompute the authPolicy a key must carry from the measurement alone. */
#ifndef LIBATTEST_TPMPOLICY_H
#define LIBATTEST_TPMPOLICY_H

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "attest/attest.h"

/* SHA-256 policy: PolicyPCR(SHA-256 PCRs in pcr_mask with the given values,
 * 32 bytes each in index order) || PolicyAuthValue || PolicyCommandCode(Sign).
 * The digest attest_tpm_sign_policy() satisfies. */
int attest_policy_digest_sign(uint32_t pcr_mask, const uint8_t *values, size_t values_len,
			      TPM2B_DIGEST *out) ATTEST_MUST_CHECK;

#endif
