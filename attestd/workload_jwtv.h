/* workload_jwtv.h - ValidateJWTSVID's check of a token (docs/spiffe.md),
 * apart from the transport so that it can be fuzzed alone
 * (tests/fuzz/fuzz_jwtsvid.c). Runs in the front on bytes a workload
 * sent: compact JWS of at most 8 KiB, header of at most 1 KiB with only
 * alg (ES256), kid and typ (JWT or JOSE), payload of at most 4 KiB. */
#ifndef ATTESTD_WORKLOAD_JWTV_H
#define ATTESTD_WORKLOAD_JWTV_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "attest/attest.h"

#define WL_JWKS_KEYS 4 /* keys in the JWT bundle the front reads */
#define WL_JWKS_MAX (32 * 1024)
#define WL_JWT_TD_MAX 255

/* The JWT bundle: the JWKS document, and each key's kid and public key
 * (DER SubjectPublicKeyInfo), from the monitor. */
struct wl_jwks {
	char *json;
	uint32_t n;
	char kid[WL_JWKS_KEYS][64];
	uint8_t *spki[WL_JWKS_KEYS];
	size_t spki_len[WL_JWKS_KEYS];
};
void wl_jwks_clear(struct wl_jwks *k);

/* ATTEST_OK when token is a JWT-SVID of trust_domain ("fleet.example"):
 * ES256 by the key of k its kid names, sub under spiffe://<td>/, exp
 * after now, aud (a string or an array) holding audience. *claims gets
 * the payload (cJSON_Delete). Otherwise ATTEST_E_PARSE (malformed),
 * ATTEST_E_TOO_LARGE, ATTEST_E_DUPLICATE_KEY or ATTEST_E_DENIED (alg,
 * kid, signature, sub, exp, aud), with the reason. */
int wl_jwt_validate(const char *trust_domain, const struct wl_jwks *k, const char *token,
		    const char *audience, int64_t now, cJSON **claims) ATTEST_MUST_CHECK;

#endif
