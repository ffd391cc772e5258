/* spiffe_http.c - GET /v1/spiffe/bundle: the fleet's trust bundle in the
 * SPIFFE bundle format (SPIFFE Trust Domain and Bundle specification;
 * docs/spiffe.md, docs/verifier-api.md): a JWKS whose one key is the
 * fleet root's public key with "use": "x509-svid" and the root as x5c,
 * plus spiffe_sequence and spiffe_refresh_hint. No caller certificate is
 * needed (a bundle is public; the https_web profile's relying party
 * authenticates the verifier by its TLS certificate). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/err.h"
#include "core/jws.h"
#include "vsrv.h"
#include "x509/x509.h"

#define REFRESH_HINT 300

/* member name = base64url of the big-endian bignum param, padded to pad
 * bytes (EC coordinates) or unpadded (pad 0: RSA n, e) */
static int add_bn(cJSON *jwk, const char *name, EVP_PKEY *k, const char *param, int pad)
{
	BIGNUM *bn = NULL;
	uint8_t buf[1024];
	char *b = NULL;
	int n, ok = 0;

	if (EVP_PKEY_get_bn_param(k, param, &bn) == 1 &&
	    (n = pad > 0 ? (BN_num_bytes(bn) <= pad ? pad : -1) : BN_num_bytes(bn)) > 0 &&
	    (size_t)n <= sizeof(buf) && BN_bn2binpad(bn, buf, n) == n &&
	    attest_b64url_encode(buf, (size_t)n, &b) == ATTEST_OK)
		ok = cJSON_AddStringToObject(jwk, name, b) != NULL;
	BN_free(bn);
	free(b);
	return ok ? ATTEST_OK : attest_fail_ossl(ATTEST_E_CRYPTO, "bundle key %s", name);
}

/* The root's public key as a JWK (EC P-256/P-384 or RSA). */
static int root_jwk(X509 *root, cJSON *jwk)
{
	EVP_PKEY *k = X509_get0_pubkey(root);
	char group[32] = "";

	if (k == NULL)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "fleet root key");
	if (EVP_PKEY_is_a(k, "EC")) {
		const char *crv;
		int sz;

		if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), NULL) != 1)
			return attest_fail_ossl(ATTEST_E_CRYPTO, "fleet root curve");
		if (strcmp(group, "prime256v1") == 0)
			crv = "P-256", sz = 32;
		else if (strcmp(group, "secp384r1") == 0)
			crv = "P-384", sz = 48;
		else
			return attest_fail(ATTEST_E_CRYPTO, "fleet root curve %s has no JWK name", group);
		if (!cJSON_AddStringToObject(jwk, "kty", "EC") ||
		    !cJSON_AddStringToObject(jwk, "crv", crv))
			return attest_fail(ATTEST_E_NOMEM, "bundle");
		return add_bn(jwk, "x", k, OSSL_PKEY_PARAM_EC_PUB_X, sz) == ATTEST_OK
			       ? add_bn(jwk, "y", k, OSSL_PKEY_PARAM_EC_PUB_Y, sz)
			       : ATTEST_E_CRYPTO;
	}
	if (EVP_PKEY_is_a(k, "RSA")) {
		if (!cJSON_AddStringToObject(jwk, "kty", "RSA"))
			return attest_fail(ATTEST_E_NOMEM, "bundle");
		return add_bn(jwk, "n", k, OSSL_PKEY_PARAM_RSA_N, 0) == ATTEST_OK
			       ? add_bn(jwk, "e", k, OSSL_PKEY_PARAM_RSA_E, 0)
			       : ATTEST_E_CRYPTO;
	}
	return attest_fail(ATTEST_E_CRYPTO, "fleet root key type has no JWK form");
}

void vs_spiffe_bundle(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt,
		      const struct vcaller *who)
{
	cJSON *o = cJSON_CreateObject(), *keys, *jwk, *x5c;
	unsigned char *der = NULL;
	char *b64 = NULL;
	int64_t seq = 0;
	int n, r = ATTEST_E_NOMEM;

	(void)rt, (void)who; /* every handler has the route signature */
	if (o == NULL || (keys = cJSON_AddArrayToObject(o, "keys")) == NULL ||
	    (jwk = cJSON_CreateObject()) == NULL)
		goto fail;
	if (!cJSON_AddItemToArray(keys, jwk)) {
		cJSON_Delete(jwk);
		goto fail;
	}
	if (!cJSON_AddStringToObject(jwk, "use", "x509-svid") ||
	    (r = root_jwk(s->root, jwk)) != ATTEST_OK)
		goto fail;
	r = ATTEST_E_CRYPTO;
	if ((n = i2d_X509(s->root, &der)) <= 0 ||
	    (b64 = malloc(((size_t)n + 2) / 3 * 4 + 1)) == NULL ||
	    EVP_EncodeBlock((unsigned char *)b64, der, n) <= 0 ||
	    (x5c = cJSON_AddArrayToObject(jwk, "x5c")) == NULL ||
	    !cJSON_AddItemToArray(x5c, cJSON_CreateString(b64)))
		goto fail;
	/* the sequence moves when the root does: its notBefore */
	if ((r = attest_asn1_time_unix(X509_get0_notBefore(s->root), &seq)) != ATTEST_OK)
		goto fail;
	if (!cJSON_AddNumberToObject(o, "spiffe_sequence", (double)seq) ||
	    !cJSON_AddNumberToObject(o, "spiffe_refresh_hint", REFRESH_HINT)) {
		r = ATTEST_E_NOMEM;
		goto fail;
	}
	vs_reply_obj(s, req, 200, o);
	goto out;
fail:
	ERR_clear_error();
	vs_reply_err(s, req, 500, r, "bundle");
out:
	OPENSSL_free(der);
	free(b64);
	cJSON_Delete(o);
}
