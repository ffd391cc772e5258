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

/* A federated trust domain's JWT bundle (fed_bundle.jwks). */
struct wl_fedjwt {
	const char *td;
	const char *jwks;
};

/* ATTEST_OK when token is a JWT-SVID of trust_domain ("fleet.example")
 * signed by the key of k its kid names, or of one of the nfed federated
 * domains signed by a P-256 key of that domain's own JWT bundle: the
 * trust domain of sub (read before the signature only to pick the key
 * set) chooses the keys; ES256 only; sub under spiffe://<td>/, exp after
 * now, aud (a string or an array) holding audience. *claims gets the
 * payload (cJSON_Delete). Otherwise ATTEST_E_PARSE (malformed),
 * ATTEST_E_TOO_LARGE, ATTEST_E_DUPLICATE_KEY or ATTEST_E_DENIED (alg,
 * trust domain, kid, signature, exp, aud), with the reason. */
int wl_jwt_validate(const char *trust_domain, const struct wl_jwks *k,
		    const struct wl_fedjwt *fed, size_t nfed, const char *token,
		    const char *audience, int64_t now, cJSON **claims) ATTEST_MUST_CHECK;

#endif
