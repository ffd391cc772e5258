/* evidence.c - structural and signature checks of TPM attestations. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <tss2/tss2_mu.h>

#include "core/err.h"
#include "tpm/evidence.h"
#include "tpm/tpmsw.h"

static int check_header(const uint8_t *attest, size_t attest_len, TPMI_ST_ATTEST type,
			const char *what, TPMS_ATTEST *a)
{
	int r;

	if (attest_len > ATTEST_MAX_ATTEST_SIZE)
		return attest_fail(ATTEST_E_TOO_LARGE, "%s: %zu bytes over cap", what, attest_len);
	if ((r = attest_tpms_attest_parse(attest, attest_len, a)) != ATTEST_OK)
		return r;
	if (a->magic != TPM2_GENERATED_VALUE)
		return attest_fail(ATTEST_E_EVIDENCE_MAGIC, "%s: magic 0x%08x", what,
				   (unsigned)a->magic);
	if (a->type != type)
		return attest_fail(ATTEST_E_EVIDENCE_TYPE, "%s: type 0x%04x, expected 0x%04x",
				   what, a->type, type);
	return ATTEST_OK;
}

static int same_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && (alen == 0 || CRYPTO_memcmp(a, b, alen) == 0);
}

int attest_verify_creation(const TPM2B_PUBLIC *ak, const TPM2B_PUBLIC *key,
			   const uint8_t *attest, size_t attest_len, const TPMT_SIGNATURE *sig,
			   const uint8_t *creation_data, size_t creation_len,
			   const uint8_t *qual, size_t qual_len)
{
	TPMS_ATTEST a;
	TPM2B_NAME name;
	TPMS_CREATION_DATA cd;
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	const EVP_MD *md = attest_tpm_md(key->publicArea.nameAlg);
	size_t off = 0;
	int r;

	if ((r = check_header(attest, attest_len, TPM2_ST_ATTEST_CREATION, "creation evidence",
			      &a)) != ATTEST_OK)
		return r;
	if ((r = attest_tpm_name(key, &name)) != ATTEST_OK)
		return r;
	if (!same_bytes(a.attested.creation.objectName.name, a.attested.creation.objectName.size,
			name.name, name.size))
		return attest_fail(ATTEST_E_EVIDENCE_NAME,
				   "creation evidence names another object than the key sent");
	if (!same_bytes(a.extraData.buffer, a.extraData.size, qual, qual_len))
		return attest_fail(ATTEST_E_EVIDENCE_QUALIFYING,
				   "creation evidence qualifyingData is not bound to this challenge");
	/* The creation data must parse exactly and hash to the certified value.
	 * Without creation data (an agent CA carries none) there is nothing to
	 * compare; the object name and qualifyingData still bind the evidence. */
	if (creation_data == NULL && creation_len == 0)
		return attest_tpm_verify_sig(ak, attest, attest_len, sig);
	if (creation_len == 0 || creation_len > sizeof(TPMS_CREATION_DATA) || md == NULL ||
	    Tss2_MU_TPMS_CREATION_DATA_Unmarshal(creation_data, creation_len, &off, &cd) !=
		    TSS2_RC_SUCCESS ||
	    off != creation_len)
		return attest_fail(ATTEST_E_EVIDENCE_CREATION, "creation data malformed");
	if (EVP_Digest(creation_data, creation_len, digest, &dlen, md, NULL) != 1)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "hash creation data");
	if (!same_bytes(a.attested.creation.creationHash.buffer,
			a.attested.creation.creationHash.size, digest, dlen))
		return attest_fail(ATTEST_E_EVIDENCE_CREATION,
				   "creation data does not hash to the certified creationHash");
	return attest_tpm_verify_sig(ak, attest, attest_len, sig);
}

int attest_quote_parse(const uint8_t *attest, size_t attest_len, TPMS_ATTEST *a)
{
	if (attest == NULL || a == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "quote: NULL argument");
	return check_header(attest, attest_len, TPM2_ST_ATTEST_QUOTE, "quote", a);
}

static unsigned popcount24(uint32_t mask)
{
	unsigned n = 0;

	for (unsigned i = 0; i < 24; i++)
		n += (mask >> i) & 1u;
	return n;
}

int attest_quote_selection(const TPMS_ATTEST *a, uint32_t pcr_mask)
{
	const TPML_PCR_SELECTION *sel = &a->attested.quote.pcrSelect;
	uint32_t got = 0;

	if (pcr_mask == 0 || pcr_mask > 0xffffffu)
		return attest_fail(ATTEST_E_INVALID_ARG, "required PCR mask 0x%x is empty or over PCR 23",
				   (unsigned)pcr_mask);
	for (uint32_t i = 0; i < sel->count; i++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];

		if (s->hash != TPM2_ALG_SHA256)
			return attest_fail(ATTEST_E_QUOTE_SELECTION,
					   "quote selects PCRs in bank 0x%04x; only SHA-256 is accepted",
					   s->hash);
		if (s->sizeofSelect > 3)
			return attest_fail(ATTEST_E_QUOTE_SELECTION,
					   "quote selection of %u bytes (more than 24 PCRs)",
					   s->sizeofSelect);
		for (unsigned b = 0; b < 8u * s->sizeofSelect; b++)
			if (s->pcrSelect[b / 8] & (1u << (b % 8))) {
				if (got & (1u << b))
					return attest_fail(ATTEST_E_QUOTE_SELECTION,
							   "quote selects PCR %u twice", b);
				got |= 1u << b;
			}
	}
	if (sel->count > 1)
		return attest_fail(ATTEST_E_QUOTE_SELECTION, "quote has %u bank selections, expected one",
				   sel->count);
	if (got == pcr_mask)
		return ATTEST_OK;
	return attest_fail(ATTEST_E_QUOTE_SELECTION, "quote PCR selection 0x%06x is %s required 0x%06x",
			   (unsigned)got,
			   got == 0                  ? "empty, not the"
			   : (got & ~pcr_mask) == 0  ? "a subset of the"
			   : (pcr_mask & ~got) == 0  ? "a superset of the"
						     : "different from the",
			   (unsigned)pcr_mask);
}

int attest_quote_digest(const TPMS_ATTEST *a, uint32_t pcr_mask, const uint8_t *values,
			size_t values_len)
{
	uint8_t digest[32];
	unsigned dlen = 0, npcr = popcount24(pcr_mask);

	if (values_len != (size_t)npcr * 32 || (values == NULL && values_len > 0))
		return attest_fail(ATTEST_E_QUOTE_DIGEST, "%zu bytes of PCR values for %u PCRs",
				   values_len, npcr);
	if (EVP_Digest(values, values_len, digest, &dlen, EVP_sha256(), NULL) != 1)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "hash PCR values");
	if (!same_bytes(a->attested.quote.pcrDigest.buffer, a->attested.quote.pcrDigest.size, digest,
			dlen))
		return attest_fail(ATTEST_E_QUOTE_DIGEST,
				   "quote pcrDigest differs from the digest of the reported values");
	return ATTEST_OK;
}

int attest_verify_quote(const TPM2B_PUBLIC *ak, const uint8_t *attest, size_t attest_len,
			const TPMT_SIGNATURE *sig, const uint8_t *nonce, size_t nonce_len,
			uint32_t pcr_mask, const uint8_t *values, size_t values_len,
			TPMS_CLOCK_INFO *clock_out)
{
	TPMS_ATTEST a;
	int r;

	if ((r = attest_quote_parse(attest, attest_len, &a)) != ATTEST_OK)
		return r;
	if (!same_bytes(a.extraData.buffer, a.extraData.size, nonce, nonce_len))
		return attest_fail(ATTEST_E_NONCE, "quote extraData is not the expected nonce");
	if ((r = attest_quote_selection(&a, pcr_mask)) != ATTEST_OK ||
	    (r = attest_quote_digest(&a, pcr_mask, values, values_len)) != ATTEST_OK ||
	    (r = attest_tpm_verify_sig(ak, attest, attest_len, sig)) != ATTEST_OK)
		return r;
	if (clock_out != NULL)
		*clock_out = a.clockInfo;
	return ATTEST_OK;
}
