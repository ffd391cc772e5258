/* jwtsvid.c - see jwtsvid.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/jws.h"
#include "jwtsvid.h"

void vj_result_clear(struct vj_result *r)
{
	cJSON_Delete(r->claims);
	memset(r, 0, sizeof(*r));
}

/* The segment at p (n base64url characters) decoded and parsed as one
 * JSON object of at most cap bytes. */
static int seg_json(const char *p, size_t n, size_t cap, const char *what, cJSON **out)
{
	uint8_t *raw = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = attest_b64url_decode(p, n, cap, &raw, &len)) != ATTEST_OK ||
	    (r = attest_json_parse(raw, len, cap, out)) != ATTEST_OK) {
		r = attest_fail_wrap(r, "JWT %s", what);
		goto out;
	}
	if (!cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		r = attest_fail(ATTEST_E_PARSE, "JWT %s is not a JSON object", what);
	}
out:
	free(raw);
	return r;
}

/* A whole-number NumericDate claim within the range a time can take. */
static int num_claim(const cJSON *pl, const char *name, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(pl, name);

	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
	    v->valuedouble > 253402300799.0 || floor(v->valuedouble) != v->valuedouble)
		return attest_fail(ATTEST_E_JWT_EXPIRED, "JWT %s missing or not a whole number",
				   name);
	*out = (int64_t)v->valuedouble;
	return ATTEST_OK;
}

static int aud_holds(const cJSON *pl, const char *audience)
{
	const cJSON *aud = cJSON_GetObjectItemCaseSensitive(pl, "aud"), *e;
	int n = 0, found = 0;

	if (cJSON_IsString(aud))
		return strcmp(aud->valuestring, audience) == 0
			       ? ATTEST_OK
			       : attest_fail(ATTEST_E_JWT_AUDIENCE,
					     "the token is not for audience %.255s", audience);
	if (!cJSON_IsArray(aud))
		return attest_fail(ATTEST_E_PARSE, "JWT aud is neither a string nor an array");
	cJSON_ArrayForEach(e, aud) {
		if (!cJSON_IsString(e) || ++n > 16)
			return attest_fail(ATTEST_E_PARSE, "JWT aud: 1 to 16 strings");
		found |= strcmp(e->valuestring, audience) == 0;
	}
	if (n == 0)
		return attest_fail(ATTEST_E_PARSE, "JWT aud is empty");
	return found ? ATTEST_OK
		     : attest_fail(ATTEST_E_JWT_AUDIENCE, "the token is not for audience %.255s",
				   audience);
}

int vj_validate(const char *token, size_t len, const char *trust_domain, const char *audience,
		int64_t now, vj_key_fn key_fn, void *arg, struct vj_result *out)
{
	static const char *const hkeys[] = { "alg", "kid", "typ", NULL };
	struct attest_jws_parts parts;
	cJSON *hdr = NULL, *pl = NULL;
	const char *alg, *kid, *typ, *sub;
	EVP_PKEY *key = NULL;
	uint8_t sig[64];
	char prefix[300];
	int n, r;

	memset(out, 0, sizeof(*out));
	if (len > VJ_TOKEN_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "JWT over %d bytes", VJ_TOKEN_MAX);
	if (audience == NULL || audience[0] == '\0' || strlen(audience) > VJ_AUD_MAX)
		return attest_fail(ATTEST_E_INVALID_ARG, "audience of 1 to %d bytes", VJ_AUD_MAX);
	n = snprintf(prefix, sizeof(prefix), "spiffe://%s/", trust_domain);
	if (n < 0 || (size_t)n >= sizeof(prefix))
		return attest_fail(ATTEST_E_INVALID_ARG, "trust domain too long");
	if ((r = attest_jws_split(token, len, &parts)) != ATTEST_OK ||
	    (r = seg_json(parts.hdr, parts.hdr_len, 1024, "header", &hdr)) != ATTEST_OK ||
	    (r = attest_json_only(hdr, hkeys)) != ATTEST_OK)
		goto out;
	if (attest_json_str(hdr, "alg", 16, &alg) != ATTEST_OK || strcmp(alg, "ES256") != 0) {
		r = attest_fail(ATTEST_E_JWT_ALG, "JWT alg %.16s: only ES256 is accepted",
				cJSON_IsString(cJSON_GetObjectItemCaseSensitive(hdr, "alg"))
					? cJSON_GetObjectItemCaseSensitive(hdr, "alg")->valuestring
					: "(none)");
		goto out;
	}
	if (cJSON_GetObjectItemCaseSensitive(hdr, "typ") != NULL &&
	    ((r = attest_json_str(hdr, "typ", 8, &typ)) != ATTEST_OK ||
	     (strcmp(typ, "JWT") != 0 && strcmp(typ, "JOSE") != 0))) {
		r = attest_fail(ATTEST_E_PARSE, "JWT typ is not JWT or JOSE");
		goto out;
	}
	if ((r = attest_json_str(hdr, "kid", sizeof(out->kid) - 1, &kid)) != ATTEST_OK ||
	    kid[0] == '\0') {
		r = attest_fail(ATTEST_E_JWT_KID, "JWT kid missing, empty or over %zu bytes",
				sizeof(out->kid) - 1);
		goto out;
	}
	memcpy(out->kid, kid, strlen(kid) + 1);
	/* the signature segment is exactly 64 bytes before any key is used */
	if ((r = attest_jws_sig(&parts, sig)) != ATTEST_OK)
		goto out;
	if ((r = key_fn(arg, out->kid, &key)) != ATTEST_OK)
		goto out;
	if ((r = attest_es256_verify(key, token, parts.signed_len, sig, ATTEST_E_JWT_SIGNATURE)) !=
	    ATTEST_OK) {
		r = attest_fail(ATTEST_E_JWT_SIGNATURE,
				"the JWT signature does not verify with key %s", out->kid);
		goto out;
	}
	if ((r = seg_json(parts.payload, parts.payload_len, 4096, "payload", &pl)) != ATTEST_OK)
		goto out;
	if (attest_json_str(pl, "sub", VJ_SUB_MAX, &sub) != ATTEST_OK ||
	    strncmp(sub, prefix, (size_t)n) != 0) {
		r = attest_fail(ATTEST_E_JWT_SUBJECT, "JWT sub missing or not of trust domain %s",
				trust_domain);
		goto out;
	}
	memcpy(out->sub, sub, strlen(sub) + 1);
	if ((r = num_claim(pl, "exp", &out->exp)) != ATTEST_OK ||
	    (r = num_claim(pl, "iat", &out->iat)) != ATTEST_OK)
		goto out;
	if (out->exp <= now) {
		r = attest_fail(ATTEST_E_JWT_EXPIRED, "the token expired at %lld (now %lld)",
				(long long)out->exp, (long long)now);
		goto out;
	}
	if (out->exp <= out->iat || out->exp - out->iat > VJ_TTL_MAX || out->iat > now + VJ_SKEW) {
		r = attest_fail(ATTEST_E_JWT_EXPIRED,
				"the token's lifetime (iat %lld, exp %lld) is not within %d s of "
				"its issue, or it is issued in the future",
				(long long)out->iat, (long long)out->exp, VJ_TTL_MAX);
		goto out;
	}
	if ((r = aud_holds(pl, audience)) != ATTEST_OK)
		goto out;
	out->claims = pl;
	pl = NULL;
	r = ATTEST_OK;
out:
	EVP_PKEY_free(key);
	cJSON_Delete(hdr);
	cJSON_Delete(pl);
	return r;
}
