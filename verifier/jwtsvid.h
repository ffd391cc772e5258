/* jwtsvid.h - the verifier's check of a JWT-SVID (POST /v1/spiffe/
 * validate-jwt, docs/verifier-api.md), apart from the HTTP handler and the
 * store so that it can be tested and fuzzed alone.
 *
 * Order: structure first, then the key, then the signature, and only then
 * the claims (a tampered payload is a bad signature, not a bad audience):
 *   - compact JWS of at most VJ_TOKEN_MAX bytes (core/jws.h: base64url
 *     only, exactly two dots, canonical base64url);
 *   - header of at most 1 KiB: one JSON object with only alg, kid and typ
 *     (JWT or JOSE); alg ES256 (anything else, "none", HS256, RS256:
 *     ATTEST_E_JWT_ALG); kid 1-47 bytes;
 *   - the key: key_fn(arg, kid) gives the public key, or fails with its
 *     own reason (ATTEST_E_JWT_KID for an unknown or expired key);
 *   - the ES256 signature (ATTEST_E_JWT_SIGNATURE);
 *   - payload of at most 4 KiB, one JSON object (duplicate members
 *     refused): sub under spiffe://<td>/ (ATTEST_E_JWT_SUBJECT); exp and
 *     iat whole numbers, exp after now, exp - iat in 1..3600, iat at most
 *     VJ_SKEW ahead of now (ATTEST_E_JWT_EXPIRED); aud a string or an
 *     array of 1..16 strings holding audience (ATTEST_E_JWT_AUDIENCE).
 * Anything malformed is ATTEST_E_PARSE or ATTEST_E_TOO_LARGE. The reason
 * is in attest_errdetail(). */
#ifndef VERIFIER_JWTSVID_H
#define VERIFIER_JWTSVID_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "attest/attest.h"

#define VJ_TOKEN_MAX 8192
#define VJ_AUD_MAX 255  /* bytes of the audience asked for */
#define VJ_TTL_MAX 3600 /* exp - iat */
#define VJ_SKEW 300     /* iat this far ahead of the verifier's clock */
#define VJ_SUB_MAX 399

struct vj_result {
	char kid[48];
	char sub[VJ_SUB_MAX + 1];
	int64_t iat, exp;
	cJSON *claims; /* the payload; cJSON_Delete (vj_result_clear) */
};
void vj_result_clear(struct vj_result *r);

/* *key: a new reference the check frees. */
typedef int (*vj_key_fn)(void *arg, const char *kid, EVP_PKEY **key);

int vj_validate(const char *token, size_t len, const char *trust_domain, const char *audience,
		int64_t now, vj_key_fn key_fn, void *arg,
		struct vj_result *out) ATTEST_MUST_CHECK;

#endif
