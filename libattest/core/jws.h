/* jws.h - the JWS compact / ES256 pieces (RFC 7515, RFC 7518 section 3.4)
 * shared by intent tokens (intent.c) and operator-signed reference sets
 * (refset.c). Internal to libattest.
 *
 * Only ES256 exists here: ECDSA P-256 with SHA-256, signature r || s (32
 * bytes each, big-endian). base64url is RFC 4648 section 5 without padding;
 * the decoder is strict (URL-safe alphabet only, canonical encoding).
 */
#ifndef LIBATTEST_JWS_H
#define LIBATTEST_JWS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "attest/attest.h"

#define ATTEST_JWS_SIG_CHARS 86 /* base64url of 64 bytes */

/* *out malloc'd, NUL-terminated. */
int attest_b64url_encode(const void *data, size_t len, char **out) ATTEST_MUST_CHECK;
/* len characters at s decoding to at most maxlen bytes; *out malloc'd
 * (ATTEST_E_PARSE on a bad character, length or non-canonical form,
 * ATTEST_E_TOO_LARGE over maxlen). */
int attest_b64url_decode(const char *s, size_t len, size_t maxlen, uint8_t **out,
			 size_t *outlen) ATTEST_MUST_CHECK;
int attest_b64url_char(char c);

/* 1 if k is an EC key on P-256, else 0. */
int attest_es256_key_ok(EVP_PKEY *k);
int attest_es256_sign(EVP_PKEY *key, const char *in, size_t inlen,
		      uint8_t sig[64]) ATTEST_MUST_CHECK;
/* ATTEST_OK, or fail_code when the signature does not verify. */
int attest_es256_verify(EVP_PKEY *key, const char *in, size_t inlen, const uint8_t sig[64],
			int fail_code) ATTEST_MUST_CHECK;

/* The RFC 7638 JWK thumbprint (SHA-256, base64url: 43 characters) of a
 * P-256 public key: the kid of attestd's JWT-SVID keys, recomputed by the
 * verifier from the key's certificate. ATTEST_E_CRYPTO for another key. */
#define ATTEST_JWK_KID_MAX 48
int attest_es256_jwk_thumbprint(EVP_PKEY *k, char kid[ATTEST_JWK_KID_MAX]) ATTEST_MUST_CHECK;

/* BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(ES256 signature);
 * ATTEST_E_TOO_LARGE when the token would pass cap bytes. *token malloc'd. */
int attest_jws_sign(EVP_PKEY *key, const char *header, const char *payload, size_t cap,
		    char **token) ATTEST_MUST_CHECK;

/* The three segments of a compact token (pointers into it). */
struct attest_jws_parts {
	const char *hdr, *payload, *sig;
	size_t hdr_len, payload_len, sig_len;
	size_t signed_len; /* BASE64URL(header) '.' BASE64URL(payload) */
};
/* Split len bytes at tok: only base64url characters and exactly two '.'
 * (ATTEST_E_PARSE otherwise). Segments are not decoded. */
int attest_jws_split(const char *tok, size_t len, struct attest_jws_parts *p) ATTEST_MUST_CHECK;
/* Decode the signature segment: exactly 86 characters, 64 bytes. */
int attest_jws_sig(const struct attest_jws_parts *p, uint8_t sig[64]) ATTEST_MUST_CHECK;

#endif
