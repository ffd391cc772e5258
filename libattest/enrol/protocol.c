/* protocol.c - what both sides of enrolment and renewal compute alike, so
 * that ca.c (the fleet CA) and host.c (the host) never call each other. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/err.h"
#include "core/json.h"
#include "enrol/enrol.h"

int attest_enrol_qualifying_data(const char *id_hex, const uint8_t *secret, size_t slen,
				 uint8_t out[32])
{
	uint8_t buf[16 + 64];
	unsigned dlen;
	int ok;

	if (slen > 64 || attest_unhex(id_hex, buf, 16) != ATTEST_OK)
		return attest_fail(ATTEST_E_PARSE, "bad challenge id");
	memcpy(buf + 16, secret, slen);
	ok = EVP_Digest(buf, 16 + slen, out, &dlen, EVP_sha256(), NULL) == 1;
	OPENSSL_cleanse(buf, sizeof(buf));
	if (!ok)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "qualifyingData");
	return ATTEST_OK;
}

/* Renewal quotes over a domain-separated nonce, never the CA's raw bytes. */
int attest_renew_qualifying_data(const uint8_t *nonce, size_t len, uint8_t out[32])
{
	static const char tag[] = "attestd-renew-v1";
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(ctx, tag, sizeof(tag)) == 1 &&
		 EVP_DigestUpdate(ctx, nonce, len) == 1 && EVP_DigestFinal_ex(ctx, out, NULL) == 1;

	EVP_MD_CTX_free(ctx);
	return ok ? ATTEST_OK : attest_fail_ossl(ATTEST_E_CRYPTO, "renewal qualifyingData");
}
