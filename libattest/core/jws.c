/* jws.c - base64url, ES256 and JWS compact serialisation (see jws.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "core/err.h"
#include "core/json.h"
#include "core/jws.h"

/* ---- base64url (RFC 4648 section 5, no padding) ---- */

int attest_b64url_encode(const void *data, size_t len, char **out)
{
	char *s = NULL;
	size_t n;
	int r;

	if ((r = attest_b64_encode(data, len, &s)) != ATTEST_OK)
		return r;
	n = strlen(s);
	while (n > 0 && s[n - 1] == '=')
		s[--n] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+')
			s[i] = '-';
		else if (s[i] == '/')
			s[i] = '_';
	}
	*out = s;
	return ATTEST_OK;
}

int attest_b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* Strict: only the URL-safe alphabet, no padding, and the canonical
 * encoding (unused trailing bits zero), checked by re-encoding. */
int attest_b64url_decode(const char *s, size_t len, size_t maxlen, uint8_t **out, size_t *outlen)
{
	char *std = NULL, *again = NULL;
	size_t padded;
	int r;

	*out = NULL;
	*outlen = 0;
	if (len == 0 || len % 4 == 1)
		return attest_fail(ATTEST_E_PARSE, "base64url segment of %zu characters", len);
	if (len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0) > maxlen)
		return attest_fail(ATTEST_E_TOO_LARGE, "base64url data over cap %zu", maxlen);
	for (size_t i = 0; i < len; i++)
		if (!attest_b64url_char(s[i]))
			return attest_fail(ATTEST_E_PARSE, "invalid base64url character at %zu", i);
	padded = (len + 3) / 4 * 4;
	if ((std = malloc(padded + 1)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "base64url decode");
	for (size_t i = 0; i < len; i++)
		std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	for (size_t i = len; i < padded; i++)
		std[i] = '=';
	std[padded] = '\0';
	if ((r = attest_b64_decode(std, padded, maxlen, out, outlen)) != ATTEST_OK)
		goto out;
	if ((r = attest_b64url_encode(*out, *outlen, &again)) != ATTEST_OK)
		goto out;
	if (strlen(again) != len || memcmp(again, s, len) != 0)
		r = attest_fail(ATTEST_E_PARSE, "non-canonical base64url");
out:
	if (r != ATTEST_OK) {
		free(*out);
		*out = NULL;
		*outlen = 0;
	}
	free(again);
	free(std);
	return r;
}

/* ---- ES256 ---- */

int attest_es256_key_ok(EVP_PKEY *k)
{
	char grp[64];
	size_t len = 0;
	int ok;

	if (k == NULL || !EVP_PKEY_is_a(k, "EC"))
		return 0;
	ok = EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, grp, sizeof(grp), &len) == 1 &&
	     strcmp(grp, "prime256v1") == 0;
	ERR_clear_error();
	return ok;
}

/* JWS ES256: ECDSA P-256 with SHA-256 over `in`; the signature is r || s,
 * 32 bytes each, big-endian (RFC 7518 section 3.4). */
int attest_es256_sign(EVP_PKEY *key, const char *in, size_t inlen, uint8_t sig[64])
{
	EVP_MD_CTX *md = NULL;
	ECDSA_SIG *es = NULL;
	uint8_t der[80];
	size_t derlen = sizeof(der);
	const unsigned char *p = der;
	const BIGNUM *br, *bs;
	int r = ATTEST_E_CRYPTO;

	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &derlen, (const unsigned char *)in, inlen) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "ES256 sign");
		goto out;
	}
	if ((es = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL || p != der + derlen) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "ES256: signature is not DER ECDSA-Sig-Value");
		goto out;
	}
	ECDSA_SIG_get0(es, &br, &bs);
	if (BN_bn2binpad(br, sig, 32) != 32 || BN_bn2binpad(bs, sig + 32, 32) != 32) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "ES256: r or s longer than 32 bytes");
		goto out;
	}
	r = ATTEST_OK;
out:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	return r;
}

int attest_es256_verify(EVP_PKEY *key, const char *in, size_t inlen, const uint8_t sig[64],
			int fail_code)
{
	EVP_MD_CTX *md = NULL;
	ECDSA_SIG *es = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	unsigned char *der = NULL;
	int derlen, r = ATTEST_E_CRYPTO;

	if ((es = ECDSA_SIG_new()) == NULL || (br = BN_bin2bn(sig, 32, NULL)) == NULL ||
	    (bs = BN_bin2bn(sig + 32, 32, NULL)) == NULL || ECDSA_SIG_set0(es, br, bs) != 1) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "ES256 verify");
		goto out;
	}
	br = bs = NULL; /* transferred */
	if ((derlen = i2d_ECDSA_SIG(es, &der)) <= 0 || (md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "ES256 verify");
		goto out;
	}
	if (EVP_DigestVerify(md, der, (size_t)derlen, (const unsigned char *)in, inlen) != 1) {
		ERR_clear_error();
		r = attest_fail(fail_code, "ES256 signature does not verify");
		goto out;
	}
	r = ATTEST_OK;
out:
	OPENSSL_free(der);
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	return r;
}

/* BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(signature). */
int attest_jws_sign(EVP_PKEY *key, const char *header, const char *payload, size_t cap,
		    char **token)
{
	char *h = NULL, *p = NULL, *s = NULL, *t = NULL;
	uint8_t sig[64];
	size_t hl, pl, sl, n;
	int r;

	*token = NULL;
	if ((r = attest_b64url_encode(header, strlen(header), &h)) != ATTEST_OK ||
	    (r = attest_b64url_encode(payload, strlen(payload), &p)) != ATTEST_OK)
		goto out;
	hl = strlen(h);
	pl = strlen(p);
	n = hl + 1 + pl + 1 + 86;
	if (n > cap) {
		r = attest_fail(ATTEST_E_TOO_LARGE, "token of %zu bytes over cap %zu", n, cap);
		goto out;
	}
	if ((t = malloc(n + 1)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "token");
		goto out;
	}
	memcpy(t, h, hl);
	t[hl] = '.';
	memcpy(t + hl + 1, p, pl);
	if ((r = attest_es256_sign(key, t, hl + 1 + pl, sig)) != ATTEST_OK ||
	    (r = attest_b64url_encode(sig, sizeof(sig), &s)) != ATTEST_OK)
		goto out;
	sl = strlen(s);
	t[hl + 1 + pl] = '.';
	memcpy(t + hl + 1 + pl + 1, s, sl + 1);
	*token = t;
	t = NULL; /* transferred */
	r = ATTEST_OK;
out:
	OPENSSL_cleanse(sig, sizeof(sig));
	free(t);
	free(s);
	free(p);
	free(h);
	return r;
}

int attest_jws_split(const char *tok, size_t len, struct attest_jws_parts *p)
{
	const char *d1, *d2;

	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < len; i++)
		if (!attest_b64url_char(tok[i]) && tok[i] != '.')
			return attest_fail(ATTEST_E_PARSE, "byte %zu of the token is not base64url or '.'", i);
	if ((d1 = memchr(tok, '.', len)) == NULL ||
	    (d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok))) == NULL ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)) != NULL)
		return attest_fail(ATTEST_E_PARSE, "token is not three '.'-separated segments");
	p->hdr = tok;
	p->hdr_len = (size_t)(d1 - tok);
	p->payload = d1 + 1;
	p->payload_len = (size_t)(d2 - d1 - 1);
	p->sig = d2 + 1;
	p->sig_len = len - (size_t)(d2 + 1 - tok);
	p->signed_len = (size_t)(d2 - tok);
	return ATTEST_OK;
}

int attest_jws_sig(const struct attest_jws_parts *p, uint8_t sig[64])
{
	uint8_t *buf = NULL;
	size_t blen = 0;
	int r;

	if (p->sig_len != ATTEST_JWS_SIG_CHARS)
		return attest_fail(ATTEST_E_PARSE, "signature segment of %zu characters, ES256 has %d",
				   p->sig_len, ATTEST_JWS_SIG_CHARS);
	if ((r = attest_b64url_decode(p->sig, p->sig_len, 64, &buf, &blen)) != ATTEST_OK) {
		char inner[512];

		snprintf(inner, sizeof(inner), "%s", attest_errdetail());
		return attest_fail(r, "signature: %s", inner);
	}
	if (blen != 64)
		r = attest_fail(ATTEST_E_PARSE, "signature of %zu bytes, ES256 has 64", blen);
	else
		memcpy(sig, buf, 64);
	free(buf);
	return r;
}

int attest_es256_jwk_thumbprint(EVP_PKEY *k, char kid[ATTEST_JWK_KID_MAX])
{
	BIGNUM *bx = NULL, *by = NULL;
	uint8_t x[32], y[32], md[32];
	char *ex = NULL, *ey = NULL, *b = NULL, canon[200];
	int n, r;

	kid[0] = '\0';
	if (k == NULL || !attest_es256_key_ok(k) ||
	    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &bx) != 1 ||
	    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &by) != 1 ||
	    BN_bn2binpad(bx, x, 32) != 32 || BN_bn2binpad(by, y, 32) != 32) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "JWK thumbprint: not a P-256 key");
		goto out;
	}
	if ((r = attest_b64url_encode(x, 32, &ex)) != ATTEST_OK ||
	    (r = attest_b64url_encode(y, 32, &ey)) != ATTEST_OK)
		goto out;
	/* RFC 7638: the required members in lexicographic order, no whitespace */
	n = snprintf(canon, sizeof(canon),
		     "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", ex, ey);
	if (n < 0 || (size_t)n >= sizeof(canon) ||
	    EVP_Digest(canon, (size_t)n, md, NULL, EVP_sha256(), NULL) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "JWK thumbprint");
		goto out;
	}
	if ((r = attest_b64url_encode(md, 32, &b)) != ATTEST_OK)
		goto out;
	if (strlen(b) >= ATTEST_JWK_KID_MAX) {
		r = attest_fail(ATTEST_E_INTERNAL, "JWK thumbprint length");
		goto out;
	}
	memcpy(kid, b, strlen(b) + 1);
out:
	ERR_clear_error();
	BN_free(bx);
	BN_free(by);
	free(ex);
	free(ey);
	free(b);
	return r;
}
