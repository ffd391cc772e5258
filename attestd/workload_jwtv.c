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
#include "x509/spiffebundle.h"
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

/* The trust domain of a SPIFFE ID ("spiffe://<td>/..."), into td. */
static int sub_td(const char *sub, char td[WL_JWT_TD_MAX + 1])
{
	static const char scheme[] = "spiffe://";
	const char *p, *slash;

	if (strncmp(sub, scheme, sizeof(scheme) - 1) != 0)
		return attest_fail(ATTEST_E_DENIED, "sub %s is no SPIFFE ID", sub);
	p = sub + sizeof(scheme) - 1;
	if ((slash = strchr(p, '/')) == NULL || slash == p || (size_t)(slash - p) > WL_JWT_TD_MAX)
		return attest_fail(ATTEST_E_DENIED, "sub %s has no trust domain and path", sub);
	memcpy(td, p, (size_t)(slash - p));
	td[slash - p] = '\0';
	return ATTEST_OK;
}

/* The key kid names in the key set of trust domain td: ours (k) or a
 * federated domain's. */
static int key_of(const char *trust_domain, const struct wl_jwks *k, const struct wl_fedjwt *fed,
		  size_t nfed, const char *td, const char *kid, EVP_PKEY **key)
{
	*key = NULL;
	if (strcmp(td, trust_domain) == 0) {
		for (uint32_t i = 0; i < k->n; i++) {
			const unsigned char *p = k->spki[i];

			if (strcmp(k->kid[i], kid) != 0)
				continue;
			if ((*key = d2i_PUBKEY(NULL, &p, (long)k->spki_len[i])) == NULL)
				return attest_fail_ossl(ATTEST_E_CRYPTO, "JWT bundle key");
			return ATTEST_OK;
		}
		return attest_fail(ATTEST_E_DENIED, "kid %s is not in the JWT bundle", kid);
	}
	for (size_t i = 0; i < nfed; i++) {
		int r;

		if (strcmp(fed[i].td, td) != 0)
			continue;
		r = fed_jwks_p256(fed[i].jwks, kid, key);
		if (r == ATTEST_E_NOT_FOUND)
			return attest_fail(ATTEST_E_DENIED,
					   "kid %s is not in trust domain %s's JWT bundle", kid, td);
		return r == ATTEST_OK ? r : attest_fail_wrap(ATTEST_E_DENIED, "trust domain %s", td);
	}
	return attest_fail(ATTEST_E_DENIED,
			   "sub's trust domain %s is neither %s nor a federated one with JWT keys", td,
			   trust_domain);
}

int wl_jwt_validate(const char *trust_domain, const struct wl_jwks *k,
		    const struct wl_fedjwt *fed, size_t nfed, const char *token,
		    const char *audience, int64_t now, cJSON **claims)
{
	static const char *const hkeys[] = { "alg", "kid", "typ", NULL };
	struct attest_jws_parts parts;
	cJSON *hdr = NULL, *pl = NULL;
	const char *alg, *kid, *typ = NULL, *sub;
	const cJSON *aud, *exp;
	EVP_PKEY *key = NULL;
	uint8_t sig[64];
	char td[WL_JWT_TD_MAX + 1];
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
	/* sub's trust domain picks the key set; nothing else of the payload
	 * is read before the signature verifies */
	if ((r = jws_json(parts.payload, parts.payload_len, 4096, &pl)) != ATTEST_OK ||
	    (r = attest_json_str(pl, "sub", 511, &sub)) != ATTEST_OK ||
	    (r = sub_td(sub, td)) != ATTEST_OK ||
	    (r = key_of(trust_domain, k, fed, nfed, td, kid, &key)) != ATTEST_OK)
		goto out;
	if ((r = attest_jws_sig(&parts, sig)) != ATTEST_OK ||
	    (r = attest_es256_verify(key, token, parts.signed_len, sig, ATTEST_E_DENIED)) !=
		    ATTEST_OK)
		goto out;
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

