/* workload_jwtv.c - see workload_jwtv.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/err.h"
#include "core/jws.h"
#include "core/json.h"
#include "workload_jwtv.h"

void wl_jwks_clear(struct wl_jwks *k)
{
	free(k->json);
	for (uint32_t i = 0; i < WL_JWKS_KEYS; i++)
		free(k->spki[i]);
	memset(k, 0, sizeof(*k));
}

/* The segment at p (n base64url characters) decoded and parsed as one
 * JSON object of at most cap bytes. */
static int jws_json(const char *p, size_t n, size_t cap, cJSON **out)
{
	uint8_t *raw = NULL;
	size_t len;
	int r;

	*out = NULL;
	if ((r = attest_b64url_decode(p, n, cap, &raw, &len)) != ATTEST_OK)
		return r;
	r = attest_json_parse(raw, len, cap, out);
	free(raw);
	return r;
}

int wl_jwt_validate(const char *trust_domain, const struct wl_jwks *k, const char *token,
		    const char *audience, int64_t now, cJSON **claims)
{
	static const char *const hkeys[] = { "alg", "kid", "typ", NULL };
	struct attest_jws_parts parts;
	cJSON *hdr = NULL, *pl = NULL;
	const char *alg, *kid, *typ = NULL, *sub;
	const cJSON *aud, *exp;
	EVP_PKEY *key = NULL;
	uint8_t sig[64];
	char prefix[WL_JWT_TD_MAX + 16];
	int r, found = 0;

	*claims = NULL;
	if ((r = attest_jws_split(token, strlen(token), &parts)) != ATTEST_OK ||
	    (r = jws_json(parts.hdr, parts.hdr_len, 1024, &hdr)) != ATTEST_OK ||
	    (r = attest_json_only(hdr, hkeys)) != ATTEST_OK ||
	    (r = attest_json_str(hdr, "alg", 16, &alg)) != ATTEST_OK ||
	    (r = attest_json_str(hdr, "kid", 63, &kid)) != ATTEST_OK)
		goto out;
	if (cJSON_GetObjectItemCaseSensitive(hdr, "typ") != NULL &&
	    ((r = attest_json_str(hdr, "typ", 8, &typ)) != ATTEST_OK ||
	     (strcmp(typ, "JWT") != 0 && strcmp(typ, "JOSE") != 0))) {
		r = attest_fail(ATTEST_E_PARSE, "typ is not JWT or JOSE");
		goto out;
	}
	if (strcmp(alg, "ES256") != 0) {
		r = attest_fail(ATTEST_E_DENIED, "alg %s: only ES256 is accepted", alg);
		goto out;
	}
	for (uint32_t i = 0; i < k->n && !found; i++) {
		const unsigned char *p = k->spki[i];

		if (strcmp(k->kid[i], kid) != 0)
			continue;
		found = 1;
		if ((key = d2i_PUBKEY(NULL, &p, (long)k->spki_len[i])) == NULL) {
			r = attest_fail_ossl(ATTEST_E_CRYPTO, "JWT bundle key");
			goto out;
		}
	}
	if (!found) {
		r = attest_fail(ATTEST_E_DENIED, "kid %s is not in the JWT bundle", kid);
		goto out;
	}
	if ((r = attest_jws_sig(&parts, sig)) != ATTEST_OK ||
	    (r = attest_es256_verify(key, token, parts.signed_len, sig, ATTEST_E_DENIED)) !=
		    ATTEST_OK)
		goto out;
	if ((r = jws_json(parts.payload, parts.payload_len, 4096, &pl)) != ATTEST_OK ||
	    (r = attest_json_str(pl, "sub", 511, &sub)) != ATTEST_OK)
		goto out;
	snprintf(prefix, sizeof(prefix), "spiffe://%s/", trust_domain);
	if (strncmp(sub, prefix, strlen(prefix)) != 0) {
		r = attest_fail(ATTEST_E_DENIED, "sub %s is not of trust domain %s", sub,
				trust_domain);
		goto out;
	}
	exp = cJSON_GetObjectItemCaseSensitive(pl, "exp");
	if (!cJSON_IsNumber(exp) || exp->valuedouble <= (double)now) {
		r = attest_fail(ATTEST_E_DENIED, "the token has expired (or has no exp)");
		goto out;
	}
	aud = cJSON_GetObjectItemCaseSensitive(pl, "aud");
	found = cJSON_IsString(aud) && strcmp(aud->valuestring, audience) == 0;
	if (cJSON_IsArray(aud)) {
		const cJSON *e;

		cJSON_ArrayForEach(e, aud) if (cJSON_IsString(e) && strcmp(e->valuestring, audience) == 0)
			found = 1;
	}
	if (!found) {
		r = attest_fail(ATTEST_E_DENIED, "the token is not for audience %s", audience);
		goto out;
	}
	*claims = pl;
	pl = NULL;
out:
	EVP_PKEY_free(key);
	cJSON_Delete(hdr);
	cJSON_Delete(pl);
	return r;
}

