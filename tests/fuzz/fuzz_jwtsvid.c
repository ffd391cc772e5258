/* fuzz_jwtsvid.c - libFuzzer target for attestd/workload_jwtv.c:
 *   wl_jwt_validate (ValidateJWTSVID in attestd's front: compact JWS of
 *   at most 8 KiB, header alg/kid/typ, ES256 signature, payload
 *   sub/aud/exp) for trust domain fleet.example and audience "fuzz",
 *   against a JWT bundle of two keys: "fuzz-kid" (the fixture host key)
 *   and "ak-kid" (the fixture AK), at a fixed time. The input is the
 *   token (a NUL ends it, as a protobuf string cannot hold one).
 *   The same token through verifier/jwtsvid.c vj_validate (the
 *   verifier's POST /v1/spiffe/validate-jwt check), its key looked up in
 *   the same bundle. The front also knows one federated trust domain,
 *   partner.example, whose JWT bundle holds the fixture AK as
 *   "partner-kid" (a JWK, as a fetched bundle keeps it).
 * Oracles besides the sanitizers: only a token signed by a bundle key
 *   validates, its claims are an object whose sub is under
 *   spiffe://fleet.example/ or spiffe://partner.example/ (the latter
 *   only with partner-kid), and its exp is after the clock; what the
 *   verifier accepts the front accepts too (the verifier is the stricter:
 *   iat required, exp - iat at most an hour).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/x509.h>

#include "core/err.h"
#include "core/jws.h"
#include "fuzz_fixture.h"
#include "jwtsvid.h"
#include "workload_jwtv.h"

#define NOW 1700000000

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_jwtsvid: %s\n", what);
		abort();
	}
}

static struct wl_jwks jwks;
static char partner_jwks[512];

/* partner.example's JWT bundle: the fixture AK as an EC JWK */
static void partner_bundle(void)
{
	static const char *const names[2] = { OSSL_PKEY_PARAM_EC_PUB_X, OSSL_PKEY_PARAM_EC_PUB_Y };
	char *xy[2] = { NULL, NULL };

	for (int i = 0; i < 2; i++) {
		BIGNUM *bn = NULL;
		uint8_t buf[32];

		check(EVP_PKEY_get_bn_param(fz_pkey(FZ_KEY_AK), names[i], &bn) == 1 &&
			      BN_bn2binpad(bn, buf, 32) == 32 &&
			      attest_b64url_encode(buf, 32, &xy[i]) == ATTEST_OK,
		      "partner JWK");
		BN_free(bn);
	}
	snprintf(partner_jwks, sizeof(partner_jwks),
		 "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"partner-kid\",\"use\":\"jwt-svid\","
		 "\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}",
		 xy[0], xy[1]);
	free(xy[0]);
	free(xy[1]);
}

static void bundle(void)
{
	static const struct {
		const char *kid;
		enum fz_key k;
	} keys[] = { { "fuzz-kid", FZ_KEY_HOST }, { "ak-kid", FZ_KEY_AK } };

	if (jwks.n > 0)
		return;
	for (uint32_t i = 0; i < 2; i++) {
		unsigned char *der = NULL;
		int n = i2d_PUBKEY(fz_pkey(keys[i].k), &der);

		check(n > 0, "fixture key");
		snprintf(jwks.kid[i], sizeof(jwks.kid[i]), "%s", keys[i].kid);
		jwks.spki[i] = der; /* OPENSSL_malloc: the process keeps it */
		jwks.spki_len[i] = (size_t)n;
	}
	jwks.n = 2;
	partner_bundle();
}

static int vj_key(void *arg, const char *kid, EVP_PKEY **key)
{
	(void)arg;
	for (uint32_t i = 0; i < jwks.n; i++)
		if (strcmp(jwks.kid[i], kid) == 0) {
			const unsigned char *p = jwks.spki[i];

			*key = d2i_PUBKEY(NULL, &p, (long)jwks.spki_len[i]);
			check(*key != NULL, "fixture key parse");
			return ATTEST_OK;
		}
	return attest_fail(ATTEST_E_JWT_KID, "kid unknown");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *tok = malloc(size + 1);
	cJSON *claims = NULL;
	struct vj_result vr;
	int front_ok, vj_ok;

	bundle();
	if (tok == NULL)
		return 0;
	memcpy(tok, data, size);
	tok[size] = '\0';
	vj_ok = fz_note("vj_validate", vj_validate(tok, strlen(tok), "fleet.example", "fuzz", NOW,
						   vj_key, NULL, &vr)) == ATTEST_OK;
	if (vj_ok) {
		const cJSON *sub = cJSON_GetObjectItemCaseSensitive(vr.claims, "sub");

		check(cJSON_IsObject(vr.claims) && cJSON_IsString(sub) &&
			      strcmp(sub->valuestring, vr.sub) == 0 &&
			      strncmp(vr.sub, "spiffe://fleet.example/", 23) == 0,
		      "verifier validated a sub outside the trust domain");
		check(vr.exp > NOW && vr.exp > vr.iat && vr.exp - vr.iat <= 3600,
		      "verifier validated an expired or too long-lived token");
	}
	vj_result_clear(&vr);
	{
		const struct wl_fedjwt fed = { "partner.example", partner_jwks };

		front_ok = fz_note("wl_jwt_validate",
				   wl_jwt_validate("fleet.example", &jwks, &fed, 1, tok, "fuzz", NOW,
						   &claims)) == ATTEST_OK;
	}
	check(!vj_ok || front_ok, "the verifier accepted what the front refuses");
	if (front_ok) {
		const cJSON *sub = cJSON_GetObjectItemCaseSensitive(claims, "sub");
		const cJSON *exp = cJSON_GetObjectItemCaseSensitive(claims, "exp");

		check(cJSON_IsObject(claims), "claims not an object");
		check(cJSON_IsString(sub) &&
			      (strncmp(sub->valuestring, "spiffe://fleet.example/", 23) == 0 ||
			       strncmp(sub->valuestring, "spiffe://partner.example/", 25) == 0),
		      "validated a sub outside the trust domain and the federated one");
		check(cJSON_IsNumber(exp) && exp->valuedouble > NOW, "validated an expired token");
		cJSON_Delete(claims);
	}
	free(tok);
	return 0;
}
