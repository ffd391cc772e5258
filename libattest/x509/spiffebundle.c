/* spiffebundle.c - SPIFFE bundles of federated trust domains: the
 * operator's entry, the strict bundle parser, the list file
 * (spiffebundle.h). One parser for attestd's front and the verifier. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/err.h"
#include "core/jws.h"
#include "core/json.h"
#include "x509/spiffebundle.h"

#define FED_CA_CERTS 16     /* certificates in an endpoint's CA file */
#define FED_CERT_MAX 16384  /* DER bytes of one x5c certificate */
#define FED_KID_MAX 128
#define FED_MEMBERS 512     /* JSON members of a bundle (32 keys of ~10) */
#define FED_SEQ_MAX 9007199254740991.0 /* 2^53 - 1: exact in a JSON number */

void fed_list_clear(struct fed_list *l)
{
	if (l == NULL)
		return;
	for (uint32_t i = 0; i < l->n && i < FED_MAX; i++)
		free(l->e[i].ca);
	memset(l, 0, sizeof(*l));
}

void fed_bundle_clear(struct fed_bundle *b)
{
	if (b == NULL)
		return;
	free(b->der);
	free(b->jwks);
	memset(b, 0, sizeof(*b));
}

/* ---------- the operator's entry ---------- */

int fed_td_ok(const char *td)
{
	size_t n = td != NULL ? strlen(td) : 0;

	if (n == 0 || n > FED_TD_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = td[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		      c == '_'))
			return 0;
	}
	return 1;
}

int fed_conf_check(const struct fed_conf *c)
{
	BIO *b = NULL;
	X509 *x;
	size_t n = strnlen(c->url, sizeof(c->url));
	int count = 0, r = ATTEST_OK;

	if (!fed_td_ok(c->td))
		return attest_fail(ATTEST_E_PARSE, "trust domain must be 1-%d of [a-z0-9.-_] "
				   "(no scheme)", FED_TD_MAX);
	if (n < 9 || n > FED_URL_MAX || strncmp(c->url, "https://", 8) != 0)
		return attest_fail(ATTEST_E_PARSE, "bundle_url must be an https:// URL of at most "
				   "%d bytes (the https_web profile)", FED_URL_MAX);
	for (size_t i = 8; i < n; i++) {
		unsigned char ch = (unsigned char)c->url[i];

		if (ch <= 0x20 || ch >= 0x7f || ch == '#' || ch == '@' || ch == '\\')
			return attest_fail(ATTEST_E_PARSE, "bundle_url: no spaces, controls, "
					   "userinfo (@) or fragment (#)");
	}
	if (c->ca == NULL || c->ca_len == 0 || c->ca_len > FED_CA_MAX ||
	    memchr(c->ca, '\0', c->ca_len) != NULL)
		return attest_fail(ATTEST_E_PARSE, "ca_pem: 1 to %d bytes of PEM", FED_CA_MAX);
	if ((b = BIO_new_mem_buf(c->ca, (int)c->ca_len)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "CA");
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		X509_free(x);
		if (++count > FED_CA_CERTS) {
			r = attest_fail(ATTEST_E_PARSE, "ca_pem: more than %d certificates",
					FED_CA_CERTS);
			break;
		}
	}
	ERR_clear_error();
	BIO_free(b);
	if (r == ATTEST_OK && count == 0)
		r = attest_fail(ATTEST_E_PARSE, "ca_pem holds no PEM certificate");
	return r;
}

/* ---------- the bundle ---------- */

/* The JSON string member key of o, 1..max bytes, or NULL. */
static const char *str_of(const cJSON *o, const char *key, size_t max)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsString(v) || v->valuestring[0] == '\0' || strlen(v->valuestring) > max)
		return NULL;
	return v->valuestring;
}

/* A JSON number member key that is a whole number in [0, max]: 1 and *out;
 * 0 absent; -1 present and not such a number. */
static int whole_of(const cJSON *o, const char *key, double max, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (v == NULL)
		return 0;
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > max ||
	    v->valuedouble != (double)(uint64_t)v->valuedouble)
		return -1;
	*out = (uint64_t)v->valuedouble;
	return 1;
}

/* base64url of the big-endian bytes of bn, padded to pad bytes (0: as is). */
static int bn_b64url(const BIGNUM *bn, int pad, char **out)
{
	uint8_t buf[1024];
	int n = pad > 0 ? pad : BN_num_bytes(bn);

	*out = NULL;
	if (n <= 0 || n > (int)sizeof(buf) ||
	    (pad > 0 ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf)) != n)
		return attest_fail(ATTEST_E_CRYPTO, "key parameter");
	return attest_b64url_encode(buf, (size_t)n, out);
}

static int crv_size(const char *crv, const char **group)
{
	static const struct {
		const char *jwk, *ossl;
		int size;
	} curves[] = { { "P-256", "prime256v1", 32 }, { "P-384", "secp384r1", 48 },
		       { "P-521", "secp521r1", 66 } };

	for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (crv != NULL && strcmp(crv, curves[i].jwk) == 0) {
			if (group != NULL)
				*group = curves[i].ossl;
			return curves[i].size;
		}
	return 0;
}

/* Whether the JWK k names the public key of pk (EC: crv, x, y; RSA: n, e),
 * compared as canonical base64url. */
static int jwk_matches(const cJSON *k, EVP_PKEY *pk)
{
	const char *kty = str_of(k, "kty", 8);
	const char *names[2];
	BIGNUM *bn[2] = { NULL, NULL };
	char *enc = NULL, group[32];
	int pad = 0, ok = 0;

	if (kty == NULL)
		return 0;
	if (strcmp(kty, "EC") == 0 && EVP_PKEY_is_a(pk, "EC")) {
		const char *want = NULL;

		pad = crv_size(str_of(k, "crv", 8), &want);
		if (pad == 0 || EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group,
							      sizeof(group), NULL) != 1 ||
		    strcmp(group, want) != 0)
			goto out;
		names[0] = "x";
		names[1] = "y";
		if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &bn[0]) != 1 ||
		    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &bn[1]) != 1)
			goto out;
	} else if (strcmp(kty, "RSA") == 0 && EVP_PKEY_is_a(pk, "RSA")) {
		names[0] = "n";
		names[1] = "e";
		if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &bn[0]) != 1 ||
		    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &bn[1]) != 1)
			goto out;
	} else {
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		const char *have = str_of(k, names[i], 2048);

		if (have == NULL || bn_b64url(bn[i], pad, &enc) != ATTEST_OK || strcmp(enc, have) != 0)
			goto out;
		free(enc);
		enc = NULL;
	}
	ok = 1;
out:
	free(enc);
	BN_free(bn[0]);
	BN_free(bn[1]);
	ERR_clear_error();
	attest_errclear();
	return ok;
}

/* An x509-svid key: x5c exactly one certificate (the specification), a
 * CA certificate, whose public key is the JWK's. Its DER appended. */
static int take_x509(const cJSON *k, size_t idx, struct fed_bundle *b)
{
	const cJSON *x5c = cJSON_GetObjectItemCaseSensitive(k, "x5c");
	const cJSON *s = cJSON_GetArrayItem(x5c, 0);
	uint8_t *der = NULL, *grown;
	const unsigned char *p;
	size_t n = 0;
	X509 *x = NULL;
	int r;

	if (!cJSON_IsArray(x5c) || cJSON_GetArraySize(x5c) != 1 || !cJSON_IsString(s))
		return attest_fail(ATTEST_E_PARSE, "key %zu: x5c must hold exactly one certificate",
				   idx);
	if ((r = attest_b64_decode(s->valuestring, strlen(s->valuestring), FED_CERT_MAX, &der,
				   &n)) != ATTEST_OK)
		return attest_fail(r, "key %zu: x5c is not base64 of at most %d bytes", idx,
				   FED_CERT_MAX);
	p = der;
	if ((x = d2i_X509(NULL, &p, (long)n)) == NULL || p != der + n) {
		r = attest_fail(ATTEST_E_PARSE, "key %zu: x5c is not one DER certificate", idx);
		goto out;
	}
	if (X509_check_ca(x) < 1) {
		r = attest_fail(ATTEST_E_PARSE, "key %zu: the x509-svid authority is no CA "
				"certificate", idx);
		goto out;
	}
	if (!jwk_matches(k, X509_get0_pubkey(x))) {
		r = attest_fail(ATTEST_E_PARSE, "key %zu: the JWK is not the public key of its "
				"x5c certificate", idx);
		goto out;
	}
	if (++b->nx509 > FED_X509_MAX || b->der_len + n > FED_DER_MAX) {
		r = attest_fail(ATTEST_E_TOO_LARGE, "more than %d X.509 authorities or %d bytes",
				FED_X509_MAX, FED_DER_MAX);
		goto out;
	}
	if ((grown = realloc(b->der, b->der_len + n)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "bundle");
		goto out;
	}
	b->der = grown;
	memcpy(b->der + b->der_len, der, n);
	b->der_len += n;
	r = ATTEST_OK;
out:
	X509_free(x);
	free(der);
	ERR_clear_error();
	return r;
}

int fed_jwk_ec_key(const char *crv, const char *xs, const char *ys, EVP_PKEY **out)
{
	const char *group = NULL;
	int size = crv_size(crv, &group), r = ATTEST_E_PARSE;
	uint8_t *x = NULL, *y = NULL, pt[1 + 2 * 66];
	size_t xn = 0, yn = 0;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL, *chk = NULL;
	EVP_PKEY *pk = NULL;

	*out = NULL;
	if (size == 0 || xs == NULL || ys == NULL ||
	    attest_b64url_decode(xs, strlen(xs), (size_t)size, &x, &xn) != ATTEST_OK ||
	    attest_b64url_decode(ys, strlen(ys), (size_t)size, &y, &yn) != ATTEST_OK ||
	    xn != (size_t)size || yn != (size_t)size)
		goto out;
	pt[0] = 0x04;
	memcpy(pt + 1, x, xn);
	memcpy(pt + 1 + xn, y, yn);
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * xn) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1 ||
	    (chk = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL)) == NULL ||
	    EVP_PKEY_public_check(chk) != 1)
		goto out;
	*out = pk;
	pk = NULL;
	r = ATTEST_OK;
out:
	EVP_PKEY_CTX_free(chk);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	ERR_clear_error();
	attest_errclear();
	return r == ATTEST_OK ? ATTEST_OK
			      : attest_fail(r, "not an EC public key on P-256, P-384 or P-521");
}

/* An EC JWK's point: on its curve (the key is built and checked). */
static int ec_point_ok(const char *crv, const char *xs, const char *ys)
{
	EVP_PKEY *pk = NULL;
	int ok = fed_jwk_ec_key(crv, xs, ys, &pk) == ATTEST_OK;

	EVP_PKEY_free(pk);
	attest_errclear();
	return ok;
}

/* A jwt-svid key: kid, and an EC key on P-256/384/521 or an RSA key of
 * 2048 to 8192 bits; copied with its known members only. */
static int take_jwt(const cJSON *k, size_t idx, cJSON *keys)
{
	static const char *const ec[] = { "crv", "x", "y", NULL };
	static const char *const rsa[] = { "n", "e", NULL };
	const char *kty = str_of(k, "kty", 8), *kid = str_of(k, "kid", FED_KID_MAX);
	const char *const *members;
	const cJSON *other;
	cJSON *o;

	if (kid == NULL)
		return attest_fail(ATTEST_E_PARSE, "key %zu: a jwt-svid key needs a kid of 1-%d "
				   "bytes", idx, FED_KID_MAX);
	cJSON_ArrayForEach(other, keys)
		if (strcmp(cJSON_GetObjectItemCaseSensitive(other, "kid")->valuestring, kid) == 0)
			return attest_fail(ATTEST_E_DUPLICATE_KEY, "key %zu: kid %s twice", idx, kid);
	if (kty != NULL && strcmp(kty, "EC") == 0) {
		if (!ec_point_ok(str_of(k, "crv", 8), str_of(k, "x", 128), str_of(k, "y", 128)))
			return attest_fail(ATTEST_E_PARSE, "key %zu: not an EC public key on P-256, "
					   "P-384 or P-521", idx);
		members = ec;
	} else if (kty != NULL && strcmp(kty, "RSA") == 0) {
		uint8_t *n = NULL, *e = NULL;
		size_t nn = 0, en = 0;
		const char *ns = str_of(k, "n", 2048), *es = str_of(k, "e", 16);
		int ok = ns != NULL && es != NULL &&
			 attest_b64url_decode(ns, strlen(ns), 1024, &n, &nn) == ATTEST_OK &&
			 attest_b64url_decode(es, strlen(es), 8, &e, &en) == ATTEST_OK &&
			 nn >= 256 && n[0] != 0 && en >= 1 && e[0] != 0 && (e[en - 1] & 1);

		free(n);
		free(e);
		attest_errclear();
		if (!ok)
			return attest_fail(ATTEST_E_PARSE, "key %zu: not an RSA public key of 2048 "
					   "to 8192 bits", idx);
		members = rsa;
	} else {
		return attest_fail(ATTEST_E_PARSE, "key %zu: kty must be EC or RSA", idx);
	}
	if ((o = cJSON_CreateObject()) == NULL || !cJSON_AddItemToArray(keys, o) ||
	    cJSON_AddStringToObject(o, "kty", kty) == NULL ||
	    cJSON_AddStringToObject(o, "kid", kid) == NULL ||
	    cJSON_AddStringToObject(o, "use", "jwt-svid") == NULL)
		return attest_fail(ATTEST_E_NOMEM, "JWT bundle");
	for (size_t i = 0; members[i] != NULL; i++)
		if (cJSON_AddStringToObject(o, members[i], str_of(k, members[i], 2048)) == NULL)
			return attest_fail(ATTEST_E_NOMEM, "JWT bundle");
	return ATTEST_OK;
}

int fed_jwks_p256(const char *jwks, const char *kid, EVP_PKEY **out)
{
	cJSON *root = NULL;
	const cJSON *k;
	int r = ATTEST_E_NOT_FOUND;

	*out = NULL;
	if (jwks == NULL || kid == NULL)
		return attest_fail(ATTEST_E_NOT_FOUND, "no JWT bundle");
	if ((r = attest_json_parse((const uint8_t *)jwks, strlen(jwks), FED_JWKS_MAX, &root)) !=
	    ATTEST_OK)
		return r;
	r = ATTEST_E_NOT_FOUND;
	cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(root, "keys")) {
		const char *kty = str_of(k, "kty", 8), *id = str_of(k, "kid", FED_KID_MAX);
		const char *crv = str_of(k, "crv", 8);

		if (id == NULL || strcmp(id, kid) != 0)
			continue;
		if (kty == NULL || strcmp(kty, "EC") != 0 || crv == NULL || strcmp(crv, "P-256") != 0) {
			r = attest_fail(ATTEST_E_DENIED, "kid %s is not a P-256 key (ES256 only)", kid);
			goto out;
		}
		r = fed_jwk_ec_key(crv, str_of(k, "x", 128), str_of(k, "y", 128), out);
		goto out;
	}
	r = attest_fail(ATTEST_E_NOT_FOUND, "kid %s is not in the JWT bundle", kid);
out:
	cJSON_Delete(root);
	return r;
}

int fed_bundle_parse(const char *json, size_t len, struct fed_bundle *out)
{
	cJSON *root = NULL, *jwks = NULL, *jkeys;
	const cJSON *keys, *k;
	uint64_t v = 0;
	size_t i = 0;
	int w, r;

	memset(out, 0, sizeof(*out));
	if ((r = attest_json_parse_limited(json, len, FED_BUNDLE_MAX, FED_MEMBERS, &root)) !=
	    ATTEST_OK)
		return r;
	keys = cJSON_GetObjectItemCaseSensitive(root, "keys");
	if (!cJSON_IsArray(keys) || cJSON_GetArraySize(keys) < 1 ||
	    cJSON_GetArraySize(keys) > FED_KEYS_MAX) {
		r = attest_fail(ATTEST_E_PARSE, "the bundle's \"keys\" must list 1-%d keys",
				FED_KEYS_MAX);
		goto out;
	}
	if ((w = whole_of(root, "spiffe_sequence", FED_SEQ_MAX, &v)) < 0) {
		r = attest_fail(ATTEST_E_PARSE, "spiffe_sequence must be a whole number");
		goto out;
	}
	out->has_seq = w;
	out->seq = w ? v : 0;
	out->refresh_s = FED_REFRESH_DEFAULT;
	if ((w = whole_of(root, "spiffe_refresh_hint", 1e9, &v)) < 0) {
		r = attest_fail(ATTEST_E_PARSE, "spiffe_refresh_hint must be whole seconds");
		goto out;
	}
	if (w)
		out->refresh_s = v < FED_REFRESH_MIN ? FED_REFRESH_MIN
			       : v > FED_REFRESH_MAX ? FED_REFRESH_MAX : (long)v;
	if ((jwks = cJSON_CreateObject()) == NULL ||
	    (jkeys = cJSON_AddArrayToObject(jwks, "keys")) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "JWT bundle");
		goto out;
	}
	cJSON_ArrayForEach(k, keys)
	{
		const char *use;

		if (!cJSON_IsObject(k) || (use = str_of(k, "use", 32)) == NULL) {
			r = attest_fail(ATTEST_E_PARSE, "key %zu: an object with \"use\"", i);
			goto out;
		}
		if (strcmp(use, "x509-svid") == 0)
			r = take_x509(k, i, out);
		else if (strcmp(use, "jwt-svid") == 0)
			r = take_jwt(k, i, jkeys);
		else
			r = ATTEST_OK; /* another use: ignored (the specification) */
		if (r != ATTEST_OK)
			goto out;
		i++;
	}
	out->njwt = (uint32_t)cJSON_GetArraySize(jkeys);
	if (out->nx509 == 0 && out->njwt == 0) {
		r = attest_fail(ATTEST_E_PARSE, "the bundle has no x509-svid or jwt-svid key");
		goto out;
	}
	if ((r = attest_json_print(jwks, &out->jwks, &len)) == ATTEST_OK && len > FED_JWKS_MAX)
		r = attest_fail(ATTEST_E_TOO_LARGE, "JWT bundle over %d bytes", FED_JWKS_MAX);
out:
	cJSON_Delete(root);
	cJSON_Delete(jwks);
	if (r != ATTEST_OK)
		fed_bundle_clear(out);
	return r;
}

int fed_bundle_same(const struct fed_bundle *a, const struct fed_bundle *b)
{
	return a->der_len == b->der_len &&
	       (a->der_len == 0 || memcmp(a->der, b->der, a->der_len) == 0) &&
	       (a->jwks == NULL) == (b->jwks == NULL) &&
	       (a->jwks == NULL || strcmp(a->jwks, b->jwks) == 0);
}

/* ---------- the list as JSON ---------- */

int fed_list_parse(const char *json, size_t len, const char *where, struct fed_list *l)
{
	static const char *const keys[] = { "trust_domain", "bundle_url", "ca_pem", NULL };
	cJSON *root = NULL;
	const cJSON *arr, *e;
	int r;

	memset(l, 0, sizeof(*l));
	if ((r = attest_json_parse(json, len, FED_MAX * (FED_CA_MAX + 2048), &root)) != ATTEST_OK)
		return r;
	arr = cJSON_GetObjectItemCaseSensitive(root, "federations");
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > FED_MAX ||
	    cJSON_GetArraySize(root) != 1) {
		r = attest_fail(ATTEST_E_STATE, "%s: one member \"federations\" listing at most %d",
				where, FED_MAX);
		goto out;
	}
	cJSON_ArrayForEach(e, arr)
	{
		struct fed_conf *c = &l->e[l->n];
		const char *td, *url, *ca;

		if ((r = attest_json_only(e, keys)) != ATTEST_OK ||
		    (r = attest_json_str(e, "trust_domain", FED_TD_MAX, &td)) != ATTEST_OK ||
		    (r = attest_json_str(e, "bundle_url", FED_URL_MAX, &url)) != ATTEST_OK ||
		    (r = attest_json_str(e, "ca_pem", FED_CA_MAX, &ca)) != ATTEST_OK)
			goto bad;
		memcpy(c->td, td, strlen(td) + 1);
		memcpy(c->url, url, strlen(url) + 1);
		if ((c->ca = (uint8_t *)strdup(ca)) == NULL) {
			r = attest_fail(ATTEST_E_NOMEM, "federation");
			goto out;
		}
		c->ca_len = strlen(ca);
		l->n++;
		if ((r = fed_conf_check(c)) != ATTEST_OK)
			goto bad;
		for (uint32_t i = 0; i + 1 < l->n; i++)
			if (strcmp(l->e[i].td, c->td) == 0) {
				r = attest_fail(ATTEST_E_PARSE, "trust domain %s twice", c->td);
				goto bad;
			}
	}
	r = ATTEST_OK;
	goto out;
bad: {
	char why[300];

	snprintf(why, sizeof(why), "%s", attest_errdetail());
	r = attest_fail(ATTEST_E_STATE, "%s: entry %u: %s", where, l->n, why);
}
out:
	if (r != ATTEST_OK)
		fed_list_clear(l);
	cJSON_Delete(root);
	return r;
}

const struct fed_conf *fed_list_find(const struct fed_list *l, const char *td)
{
	for (uint32_t i = 0; l != NULL && td != NULL && i < l->n && i < FED_MAX; i++)
		if (strcmp(l->e[i].td, td) == 0)
			return &l->e[i];
	return NULL;
}
