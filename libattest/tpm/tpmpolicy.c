/* tpmpolicy.c - software policy digests: policyDigest_new =
 * H(policyDigest_old || TPM_CC_PolicyX || parameters). */
#include <string.h>

#include <openssl/evp.h>
#include <tss2/tss2_mu.h>

#include "core/err.h"
#include "tpm/tpmsw.h"
#include "tpm/tpmpolicy.h"

/* policy = SHA-256(policy || cc || extra) */
static int extend(uint8_t policy[32], TPM2_CC cc, const uint8_t *extra, size_t extra_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t ccb[4] = { (uint8_t)(cc >> 24), (uint8_t)(cc >> 16), (uint8_t)(cc >> 8),
			   (uint8_t)cc };
	int ok;

	ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, policy, 32) == 1 && EVP_DigestUpdate(ctx, ccb, 4) == 1 &&
	     (extra_len == 0 || EVP_DigestUpdate(ctx, extra, extra_len) == 1) &&
	     EVP_DigestFinal_ex(ctx, policy, NULL) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? ATTEST_OK : attest_fail_ossl(ATTEST_E_CRYPTO, "policy digest");
}

int attest_policy_digest_sign(uint32_t pcr_mask, const uint8_t *values, size_t values_len,
			      TPM2B_DIGEST *out)
{
	uint8_t policy[32] = { 0 }, pcrs[sizeof(TPML_PCR_SELECTION) + 32];
	uint8_t cmd[4] = { 0, 0, (uint8_t)(TPM2_CC_Sign >> 8), (uint8_t)TPM2_CC_Sign };
	TPML_PCR_SELECTION sel;
	size_t off = 0;
	unsigned n = 0;
	TSS2_RC rc;
	int r;

	for (unsigned i = 0; i < 24; i++)
		n += (pcr_mask >> i) & 1u;
	if (n == 0 || (pcr_mask >> 24) != 0 || values_len != 32u * n)
		return attest_fail(ATTEST_E_INVALID_ARG, "policy digest: %zu bytes for %u PCRs",
				   values_len, n);
	attest_pcr_selection(pcr_mask, &sel);
	rc = Tss2_MU_TPML_PCR_SELECTION_Marshal(&sel, pcrs, sizeof(pcrs), &off);
	if (rc != TSS2_RC_SUCCESS)
		return attest_fail_tss(ATTEST_E_INTERNAL, rc, "marshal PCR selection");
	/* pcrDigest = SHA-256 of the selected PCR values, concatenated */
	if (EVP_Digest(values, values_len, pcrs + off, NULL, EVP_sha256(), NULL) != 1)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "PCR digest");
	off += 32;
	if ((r = extend(policy, TPM2_CC_PolicyPCR, pcrs, off)) != ATTEST_OK ||
	    (r = extend(policy, TPM2_CC_PolicyAuthValue, NULL, 0)) != ATTEST_OK ||
	    (r = extend(policy, TPM2_CC_PolicyCommandCode, cmd, sizeof(cmd))) != ATTEST_OK)
		return r;
	out->size = 32;
	memcpy(out->buffer, policy, 32);
	return ATTEST_OK;
}
