/* agentev.c - see agentev.h. */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <tss2/tss2_mu.h>

#include "decide/agentev.h"
#include "core/err.h"
#include "tpm/evidence.h"
#include "tpm/templates.h"
#include "tpm/tpmpolicy.h"
#include "x509/x509agent.h"

#define AGENT_PCR_BIT (1u << 23)

static int fixed32(X509 *c, const char *oid, uint8_t out[32])
{
	uint8_t *b = NULL;
	size_t n = 0;
	int r = attest_x509_ext_octets(c, oid, 32, &b, &n);

	if (r == ATTEST_OK && n != 32)
		r = attest_fail(ATTEST_E_PARSE, "extension %s is %zu bytes, not 32", oid, n);
	if (r == ATTEST_OK)
		memcpy(out, b, 32);
	free(b);
	return r;
}

/* The agent key's public area as the TPM made it: our template with the
 * recomputed policy, and the certificate's P-256 point as unique. */
static int key_public(X509 *c, const uint8_t policy[32], TPM2B_PUBLIC *key)
{
	EVP_PKEY *pk = X509_get0_pubkey(c);
	uint8_t pt[65];
	size_t n = 0;
	TPM2B_DIGEST pol = {.size = 32};

	if (pk == NULL || !EVP_PKEY_is_a(pk, "EC") ||
	    EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &n) != 1 ||
	    n != 65 || pt[0] != 0x04)
		return attest_fail_ossl(ATTEST_E_AGENT_EVIDENCE,
					"agent CA key is not an uncompressed P-256 point");
	memcpy(pol.buffer, policy, 32);
	attest_template_signkey(&pol, key);
	key->publicArea.unique.ecc.x.size = 32;
	memcpy(key->publicArea.unique.ecc.x.buffer, pt + 1, 32);
	key->publicArea.unique.ecc.y.size = 32;
	memcpy(key->publicArea.unique.ecc.y.buffer, pt + 33, 32);
	return ATTEST_OK;
}

static int evidence_fail(int r)
{
	/* keep the detail of the step that failed, under one code */
	return r == ATTEST_OK ? r : ATTEST_E_AGENT_EVIDENCE; /* detail as it was */
}

int attest_agent_ca_evidence(X509 *agent_ca, const TPM2B_PUBLIC *ak,
			     struct attest_agent_ca_info *info)
{
	int r = ATTEST_E_INTERNAL;
	struct attest_agent_ca_info in = {0};
	uint8_t *creation = NULL, *sigbuf = NULL;
	size_t creation_len = 0, sig_len = 0, off = 0;
	uint8_t pcr[32], qual[32], zero_m[64] = {0};
	TPM2B_DIGEST pol;
	TPM2B_PUBLIC key;
	TPMT_SIGNATURE sig;
	EVP_MD_CTX *md = NULL;

	if (agent_ca == NULL || ak == NULL || info == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "agent evidence: NULL argument");
	memset(info, 0, sizeof(*info));
	if ((r = attest_x509_ext_utf8(agent_ca, ATTEST_OID_AGENT_ID, &in.id)) != ATTEST_OK ||
	    (r = attest_x509_ext_utf8(agent_ca, ATTEST_OID_AGENT_UUID, &in.uuid)) != ATTEST_OK ||
	    (r = fixed32(agent_ca, ATTEST_OID_MEASUREMENT, in.measurement)) != ATTEST_OK ||
	    (r = fixed32(agent_ca, ATTEST_OID_POLICY, in.policy)) != ATTEST_OK ||
	    (r = attest_x509_ext_octets(agent_ca, ATTEST_OID_CREATION, sizeof(TPMS_ATTEST),
					&creation, &creation_len)) != ATTEST_OK ||
	    (r = attest_x509_ext_octets(agent_ca, ATTEST_OID_CREATION_SIG, sizeof(TPMT_SIGNATURE),
					&sigbuf, &sig_len)) != ATTEST_OK) {
		r = evidence_fail(r);
		goto out;
	}
	/* qualifyingData concatenates ID, UUID and measurement without lengths:
	 * only the canonical 36-character UUID keeps it unambiguous */
	if (strlen(in.uuid) != 36) {
		r = attest_fail(ATTEST_E_AGENT_EVIDENCE, "agent UUID is not 36 characters");
		goto out;
	}
	for (size_t i = 0; i < 36; i++) {
		char ch = in.uuid[i];
		int dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? ch != '-' : !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
			r = attest_fail(ATTEST_E_AGENT_EVIDENCE, "agent UUID is not canonical");
			goto out;
		}
	}
	/* PCR 23 after reset and one extend, then the policy of that value */
	memcpy(zero_m + 32, in.measurement, 32);
	if (EVP_Digest(zero_m, sizeof(zero_m), pcr, NULL, EVP_sha256(), NULL) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "PCR value");
		goto out;
	}
	if ((r = attest_policy_digest_sign(AGENT_PCR_BIT, pcr, 32, &pol)) != ATTEST_OK)
		goto out;
	if (pol.size != 32 || CRYPTO_memcmp(pol.buffer, in.policy, 32) != 0) {
		r = attest_fail(ATTEST_E_AGENT_EVIDENCE,
				"policy digest is not the one of the recorded measurement");
		goto out;
	}
	if ((r = key_public(agent_ca, in.policy, &key)) != ATTEST_OK)
		goto out;
	memset(&sig, 0, sizeof(sig));
	if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(sigbuf, sig_len, &off, &sig) != TSS2_RC_SUCCESS ||
	    off != sig_len) {
		r = attest_fail(ATTEST_E_AGENT_EVIDENCE, "creation signature malformed");
		goto out;
	}
	if ((md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, in.id, strlen(in.id)) != 1 ||
	    EVP_DigestUpdate(md, in.uuid, strlen(in.uuid)) != 1 ||
	    EVP_DigestUpdate(md, in.measurement, 32) != 1 || EVP_DigestFinal_ex(md, qual, NULL) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "qualifyingData");
		goto out;
	}
	if ((r = evidence_fail(attest_verify_creation(ak, &key, creation, creation_len, &sig, NULL,
						      0, qual, sizeof(qual)))) != ATTEST_OK)
		goto out;
	*info = in;
	memset(&in, 0, sizeof(in)); /* transferred */
	r = ATTEST_OK;
out:
	EVP_MD_CTX_free(md);
	free(creation);
	free(sigbuf);
	attest_agent_ca_info_clear(&in);
	return r;
}

void attest_agent_ca_info_clear(struct attest_agent_ca_info *info)
{
	if (info == NULL)
		return;
	free(info->id);
	free(info->uuid);
	memset(info, 0, sizeof(*info));
}
