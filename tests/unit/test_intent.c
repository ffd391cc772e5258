/* test_intent.c - intent grants and delegation chains, all in software (no
 * TPM): a fleet root, two host CAs (web-01, db-01), agents intake (web-01),
 * billing (db-01) and coder (web-01) with software keys. Valid chains of
 * depth 0, 1 and 2, and each refusal with its code. Refused tokens that
 * attest_intent_delegate would not make are forged here with an
 * independent JWS encoder, which also checks docs/intent.md's format.
 * Targets: attest_intent_grant_make, attest_intent_delegate,
 * attest_intent_verify, attest_intent_chain_*, attest_intent_trust_*. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "attest/intent.h"
#include "attest/verify.h"
#include "intent/intentx.h"
#include "x509/x509.h"
#include "x509/x509agent.h"
#include "testutil.h"
#include "testutil_intent.h"

/* The fleet (fx, agents A, B, C, foreign, a1) is tests/unit/testutil_intent.c. */

/* ---- an independent JWS encoder (docs/intent.md) ---- */

static char *b64url(const void *data, size_t len)
{
	char *s = malloc(4 * ((len + 2) / 3) + 1);
	size_t n;

	CU_ASSERT_FATAL(s != NULL);
	EVP_EncodeBlock((unsigned char *)s, data, (int)len);
	n = strlen(s);
	while (n > 0 && s[n - 1] == '=')
		s[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		s[i] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
	return s;
}

/* The decoded middle segment of a token. */
static char *payload_of(const char *tok)
{
	const char *d1 = strchr(tok, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	size_t n, padded;
	char *std, *out;
	int got;

	CU_ASSERT_FATAL(d2 != NULL);
	n = (size_t)(d2 - d1 - 1);
	padded = (n + 3) / 4 * 4;
	std = malloc(padded + 1);
	out = malloc(padded + 1);
	CU_ASSERT_FATAL(std != NULL && out != NULL);
	for (size_t i = 0; i < padded; i++)
		std[i] = i >= n ? '=' : d1[1 + i] == '-' ? '+' : d1[1 + i] == '_' ? '/' : d1[1 + i];
	got = EVP_DecodeBlock((unsigned char *)out, (unsigned char *)std, (int)padded);
	CU_ASSERT_FATAL(got >= 0);
	got -= (int)(padded - n == 2 ? 2 : padded - n == 1 ? 1 : 0);
	out[got] = '\0';
	free(std);
	return out;
}

/* BASE64URL(hdr) '.' BASE64URL(payload) '.' BASE64URL(r || s). */
static char *forge(EVP_PKEY *key, const char *hdr, const char *payload)
{
	char *h = b64url(hdr, strlen(hdr)), *p = b64url(payload, strlen(payload)), *s, *tok;
	size_t n = strlen(h) + strlen(p) + 2;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char der[80], raw[64];
	size_t derlen = sizeof(der);
	const unsigned char *q = der;
	ECDSA_SIG *es;
	const BIGNUM *r, *ss;

	tok = malloc(n + 100);
	CU_ASSERT_FATAL(tok != NULL && md != NULL);
	snprintf(tok, n + 100, "%s.%s", h, p);
	CU_ASSERT_FATAL(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
			EVP_DigestSign(md, der, &derlen, (unsigned char *)tok, strlen(tok)) == 1);
	es = d2i_ECDSA_SIG(NULL, &q, (long)derlen);
	CU_ASSERT_FATAL(es != NULL);
	ECDSA_SIG_get0(es, &r, &ss);
	CU_ASSERT_FATAL(BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(ss, raw + 32, 32) == 32);
	s = b64url(raw, 64);
	snprintf(tok + strlen(tok), n + 100 - strlen(tok), ".%s", s);
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	free(s);
	free(p);
	free(h);
	return tok;
}

static const char *GRANT_HDR = "{\"alg\":\"ES256\",\"typ\":\"attest-intent+jws\"}";

/* Delegation header with x5c = the first n certificates of chain. */
static char *x5c_header(STACK_OF(X509) *chain, int n)
{
	cJSON *o = cJSON_CreateObject(), *a;
	char *out;

	CU_ASSERT_FATAL(o != NULL);
	cJSON_AddStringToObject(o, "alg", "ES256");
	cJSON_AddStringToObject(o, "typ", "attest-delegation+jws");
	a = cJSON_AddArrayToObject(o, "x5c");
	for (int i = 0; i < n; i++) {
		unsigned char *der = NULL;
		int len = i2d_X509(sk_X509_value(chain, i), &der);
		char *b = malloc(4 * (((size_t)len + 2) / 3) + 1);

		CU_ASSERT_FATAL(len > 0 && b != NULL);
		EVP_EncodeBlock((unsigned char *)b, der, len);
		cJSON_AddItemToArray(a, cJSON_CreateString(b));
		free(b);
		OPENSSL_free(der);
	}
	out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	CU_ASSERT_FATAL(out != NULL);
	return out;
}

struct dl {
	const char *iss, *aud;
	const char *const *scopes;
	int nscopes;
	const char *const *resources;
	int nresources;
	const char *code, *text;
	long long iat, exp, depth;
	const char *prev;
};

/* base64url SHA-256 of the last token of chain (a delegation's prev). */
static char *prev_of(const char *chain)
{
	const char *last = strrchr(chain, '~') != NULL ? strrchr(chain, '~') + 1 : chain;
	unsigned char md[32];

	CU_ASSERT_FATAL(EVP_Digest(last, strlen(last), md, NULL, EVP_sha256(), NULL) == 1);
	return b64url((const char *)md, sizeof(md));
}

/* chain '~' jws; frees jws. */
static char *linked(const char *chain, char *jws)
{
	size_t n;
	char *out;

	CU_ASSERT_FATAL(jws != NULL);
	n = strlen(chain) + strlen(jws) + 2;
	out = malloc(n);
	CU_ASSERT_FATAL(out != NULL);
	snprintf(out, n, "%s~%s", chain, jws);
	free(jws);
	return out;
}

static char *deleg_payload(const struct dl *d)
{
	cJSON *o = cJSON_CreateObject(), *p;
	char *out, *prev = prev_of(d->prev);

	CU_ASSERT_FATAL(o != NULL);
	cJSON_AddStringToObject(o, "iss", d->iss);
	cJSON_AddStringToObject(o, "aud", d->aud);
	cJSON_AddItemToObject(o, "scopes", cJSON_CreateStringArray(d->scopes, d->nscopes));
	cJSON_AddItemToObject(o, "resources", cJSON_CreateStringArray(d->resources, d->nresources));
	p = cJSON_AddObjectToObject(o, "purpose");
	cJSON_AddStringToObject(p, "code", d->code);
	cJSON_AddStringToObject(p, "text", d->text);
	cJSON_AddNumberToObject(o, "iat", (double)d->iat);
	cJSON_AddNumberToObject(o, "exp", (double)d->exp);
	cJSON_AddNumberToObject(o, "depth", (double)d->depth);
	cJSON_AddStringToObject(o, "nonce", "q83vEjRWeJq83vEjRWeJqw");
	cJSON_AddStringToObject(o, "prev", prev);
	out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	free(prev);
	CU_ASSERT_FATAL(out != NULL);
	return out;
}

/* A delegation like `from` would make it, then forged with `key`, after
 * the chain d->prev. */
static char *forge_deleg(EVP_PKEY *key, struct agent *from, const struct dl *d)
{
	char *h = x5c_header(from->chain, 3), *p = deleg_payload(d), *t = linked(d->prev, forge(key, h, p));

	free(h);
	free(p);
	return t;
}

/* s with the first `from` replaced by `to`. */
static char *subst(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
	char *out = malloc(n);

	CU_ASSERT_FATAL(at != NULL && out != NULL);
	snprintf(out, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
	return out;
}

/* ---- valid tokens ---- */

static int verify(const char *tok, const char *aud)
{
	struct attest_intent_chain *ch = (struct attest_intent_chain *)1;
	int r = attest_intent_verify(fx.trust, tok, aud, fx.t0 + 5, &ch);

	CU_ASSERT((r == ATTEST_OK) == (ch != NULL));
	attest_intent_chain_free(ch);
	return r;
}

/* A -> B -> C with narrowing at each hop. */
static void chain2(char **g, char **d1, char **d2)
{
	struct attest_delegation_claims c1 = dclaims(ID_B, s_read_bill, 2, r_notes, 1);
	struct attest_delegation_claims c2 = dclaims(ID_C, s_read, 1, r_notes7, 1);

	*g = grant(ID_A, 2);
	*d1 = delegate(&fx.a, *g, &c1);
	c2.exp = fx.t0 + 800;
	*d2 = delegate(&fx.b, *d1, &c2);
}

static void test_depth0(void)
{
	struct attest_intent_chain *ch = NULL;
	const char *const *v;
	const char *text = NULL, *host = NULL;
	char *g = grant(ID_A, 1), *desc = NULL;

	TU_ASSERT_ERR(attest_intent_verify(fx.trust, g, ID_A, fx.t0 + 5, &ch), ATTEST_OK);
	CU_ASSERT_FATAL(ch != NULL);
	CU_ASSERT_STRING_EQUAL(attest_intent_chain_user(ch), USER);
	CU_ASSERT_STRING_EQUAL(attest_intent_chain_issuer(ch), ISS);
	CU_ASSERT_STRING_EQUAL(attest_intent_chain_jti(ch), "task-42");
	CU_ASSERT_EQUAL(attest_intent_chain_purpose(ch, &text), ATTEST_PURPOSE_TREATMENT);
	CU_ASSERT_STRING_EQUAL(text, "follow-up of patient 123");
	CU_ASSERT_EQUAL(attest_intent_chain_depth(ch), 0);
	CU_ASSERT_EQUAL(attest_intent_chain_remaining(ch), 1);
	CU_ASSERT_STRING_EQUAL(attest_intent_chain_agent(ch, 0, &host), ID_A);
	CU_ASSERT_STRING_EQUAL(host, "web-01");
	CU_ASSERT_PTR_NULL(attest_intent_chain_agent(ch, 1, NULL));
	CU_ASSERT_PTR_NULL(attest_intent_chain_nonce(ch, 0));
	CU_ASSERT_EQUAL(attest_intent_chain_scopes(ch, &v), 3);
	CU_ASSERT_STRING_EQUAL(v[2], "billing.read");
	CU_ASSERT_EQUAL(attest_intent_chain_resources(ch, &v), 2);
	CU_ASSERT_STRING_EQUAL(v[0], "ehr:patient/123/*");
	CU_ASSERT_EQUAL(attest_intent_chain_expiry(ch), fx.t0 + 3600);
	TU_ASSERT_ERR(attest_intent_chain_describe(ch, &desc), ATTEST_OK);
	CU_ASSERT_FATAL(desc != NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(desc, USER));
	CU_ASSERT_PTR_NOT_NULL(strstr(desc, "TREATMENT"));
	CU_ASSERT_PTR_NOT_NULL(strstr(desc, ID_A));
	free(desc);
	attest_intent_chain_free(ch);
	/* A grant is only for its audience, and only while valid. */
	TU_ASSERT_ERR(verify(g, ID_B), ATTEST_E_INTENT_AUDIENCE);
	TU_ASSERT_ERR(attest_intent_verify(fx.trust, g, ID_A, fx.t0 + 3600, &ch), ATTEST_E_INTENT_EXPIRED);
	CU_ASSERT_PTR_NULL(ch);
	free(g);
}

static void test_depth1(void)
{
	struct attest_delegation_claims c1 = dclaims(ID_B, s_read_bill, 2, r_notes, 1);
	struct attest_intent_chain *ch = NULL;
	const char *const *v;
	const char *host = NULL;
	char *g = grant(ID_A, 2), *d1 = delegate(&fx.a, g, &c1);

	TU_ASSERT_ERR(attest_intent_verify(fx.trust, d1, ID_B, fx.t0 + 5, &ch), ATTEST_OK);
	CU_ASSERT_FATAL(ch != NULL);
	CU_ASSERT_STRING_EQUAL(attest_intent_chain_user(ch), USER);
	CU_ASSERT_EQUAL(attest_intent_chain_depth(ch), 1);
	CU_ASSERT_EQUAL(attest_intent_chain_remaining(ch), 1);
	CU_ASSERT_STRING_EQUAL(attest_intent_chain_agent(ch, 0, &host), ID_A);
	CU_ASSERT_STRING_EQUAL(host, "web-01");
	CU_ASSERT_STRING_EQUAL(attest_intent_chain_agent(ch, 1, &host), ID_B);
	CU_ASSERT_STRING_EQUAL(host, "db-01");
	CU_ASSERT_EQUAL(strlen(attest_intent_chain_nonce(ch, 1)), 22);
	CU_ASSERT_EQUAL(attest_intent_chain_scopes(ch, &v), 2);
	CU_ASSERT_STRING_EQUAL(v[1], "billing.read");
	CU_ASSERT_EQUAL(attest_intent_chain_resources(ch, &v), 1);
	CU_ASSERT_STRING_EQUAL(v[0], "ehr:patient/123/notes/*");
	CU_ASSERT_EQUAL(attest_intent_chain_expiry(ch), fx.t0 + 900);
	attest_intent_chain_free(ch);
	/* B presents it, not A. */
	TU_ASSERT_ERR(verify(d1, ID_A), ATTEST_E_INTENT_AUDIENCE);
	/* Without the fleet root nothing verifies a delegation. */
	{
		struct attest_intent_trust *t = NULL;

		TU_ASSERT_ERR(attest_intent_trust_new(&t), ATTEST_OK);
		TU_ASSERT_ERR(attest_intent_trust_add_issuer(t, ISS, fx.issuer), ATTEST_OK);
		TU_ASSERT_ERR(attest_intent_verify(t, d1, ID_B, fx.t0 + 5, &ch), ATTEST_E_INVALID_ARG);
		TU_ASSERT_ERR(attest_intent_trust_set_root(t, fx.other_root), ATTEST_OK);
		TU_ASSERT_ERR(attest_intent_verify(t, d1, ID_B, fx.t0 + 5, &ch), ATTEST_E_INTENT_CHAIN);
		attest_intent_trust_free(t);
	}
	free(d1);
	free(g);
}

static void test_depth2(void)
{
	struct attest_intent_chain *ch = NULL;
	const char *host = NULL;
	char *g, *d1, *d2, *desc = NULL;

	chain2(&g, &d1, &d2);
	TU_ASSERT_ERR(attest_intent_verify(fx.trust, d2, ID_C, fx.t0 + 5, &ch), ATTEST_OK);
	CU_ASSERT_FATAL(ch != NULL);
	CU_ASSERT_EQUAL(attest_intent_chain_depth(ch), 2);
	CU_ASSERT_EQUAL(attest_intent_chain_remaining(ch), 0);
	CU_ASSERT_STRING_EQUAL(attest_intent_chain_agent(ch, 2, &host), ID_C);
	CU_ASSERT_STRING_EQUAL(host, "web-01");
	CU_ASSERT_STRING_EQUAL(attest_intent_chain_agent(ch, 1, NULL), ID_B);
	CU_ASSERT_STRING_NOT_EQUAL(attest_intent_chain_nonce(ch, 1), attest_intent_chain_nonce(ch, 2));
	CU_ASSERT_EQUAL(attest_intent_chain_expiry(ch), fx.t0 + 800);
	TU_ASSERT_ERR(attest_intent_chain_describe(ch, &desc), ATTEST_OK);
	CU_ASSERT_FATAL(desc != NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(desc, USER));
	CU_ASSERT_PTR_NOT_NULL(strstr(desc, "TREATMENT: follow-up of patient 123"));
	CU_ASSERT_PTR_NOT_NULL(strstr(desc, ID_A));
	CU_ASSERT_PTR_NOT_NULL(strstr(desc, ID_B));
	CU_ASSERT_PTR_NOT_NULL(strstr(desc, ID_C));
	CU_ASSERT_PTR_NOT_NULL(strstr(desc, "db-01"));
	if (getenv("ATTEST_TEST_VERBOSE") != NULL)
		fprintf(stderr, "%s(token bytes: grant %zu, depth 1 %zu, depth 2 %zu)\n", desc, strlen(g),
			strlen(d1), strlen(d2));
	free(desc);
	attest_intent_chain_free(ch);
	/* C cannot delegate further: the grant allowed two hops. */
	{
		struct attest_delegation_claims c3 = dclaims(ID_A, s_read, 1, r_notes7, 1);
		char *t = NULL;

		c3.exp = fx.t0 + 700;
		TU_ASSERT_ERR(attest_intent_delegate(fx.c.leaf_key, fx.c.chain, d2, &c3, &t),
			      ATTEST_E_INTENT_DEPTH);
		CU_ASSERT_PTR_NULL(t);
	}
	free(d2);
	free(d1);
	free(g);
}

/* ---- refusals ---- */

static void test_untrusted_issuer(void)
{
	struct attest_intent_claims c = claims(ID_A, 1);
	char *t = NULL;

	TU_ASSERT_ERR(attest_intent_grant_make(fx.rogue, "rogue.example", &c, &t), ATTEST_OK);
	TU_ASSERT_ERR(verify(t, ID_A), ATTEST_E_INTENT_ISSUER);
	free(t);
	/* A trusted issuer's name with another key. */
	TU_ASSERT_ERR(attest_intent_grant_make(fx.rogue, ISS, &c, &t), ATTEST_OK);
	TU_ASSERT_ERR(verify(t, ID_A), ATTEST_E_INTENT_SIGNATURE);
	free(t);
}

static void test_expired(void)
{
	struct attest_intent_claims c = claims(ID_A, 1);
	char *t;

	c.iat = c.nbf = fx.t0 - 7200;
	c.exp = fx.t0 - 3600;
	t = grant_with(&c);
	TU_ASSERT_ERR(verify(t, ID_A), ATTEST_E_INTENT_EXPIRED);
	free(t);
	c = claims(ID_A, 1);
	c.nbf = fx.t0 + 600;
	t = grant_with(&c);
	TU_ASSERT_ERR(verify(t, ID_A), ATTEST_E_INTENT_EXPIRED);
	free(t);
	/* A delegation issued after its parent expired. */
	c = claims(ID_A, 1);
	c.exp = fx.t0 - 1;
	t = grant_with(&c);
	{
		struct dl d = { ID_A, ID_B, s_read, 1, r_notes, 1, "TREATMENT", "follow-up of patient 123",
				fx.t0, fx.t0 - 1, 0, t };
		char *f = forge_deleg(fx.a.leaf_key, &fx.a, &d);

		TU_ASSERT_ERR(verify(f, ID_B), ATTEST_E_INTENT_EXPIRED);
		free(f);
	}
	free(t);
}

static void test_scope_widened(void)
{
	static const char *const wide[] = { "ehr.read", "ehr.admin" };
	struct attest_delegation_claims c1 = dclaims(ID_B, wide, 2, r_notes, 1);
	struct dl d = { ID_A, ID_B, wide, 2, r_notes, 1, "TREATMENT", "follow-up of patient 123",
			fx.t0, fx.t0 + 900, 0, NULL };
	char *g = grant(ID_A, 1), *t = NULL, *f;

	TU_ASSERT_ERR(attest_intent_delegate(fx.a.leaf_key, fx.a.chain, g, &c1, &t), ATTEST_E_INTENT_WIDENED);
	CU_ASSERT_PTR_NULL(t);
	d.prev = g;
	f = forge_deleg(fx.a.leaf_key, &fx.a, &d);
	TU_ASSERT_ERR(verify(f, ID_B), ATTEST_E_INTENT_WIDENED);
	free(f);
	/* Widened at the second hop of a valid first hop. */
	{
		char *g2, *d1, *d2;
		struct dl e = { ID_B, ID_C, scopes3, 3, r_notes7, 1, "TREATMENT",
				"follow-up of patient 123", fx.t0, fx.t0 + 800, 0, NULL };

		chain2(&g2, &d1, &d2);
		e.prev = d1;
		f = forge_deleg(fx.b.leaf_key, &fx.b, &e);
		TU_ASSERT_ERR(verify(f, ID_C), ATTEST_E_INTENT_WIDENED);
		free(f);
		free(d2);
		free(d1);
		free(g2);
	}
	free(g);
}

static void test_resource_widened(void)
{
	static const char *const up[] = { "ehr:patient/*" };
	static const char *const sibling[] = { "ehr:patient/1234" };
	static const char *const exact[] = { "billing:account/9" };
	static const char *const exact_star[] = { "billing:account/9*" };
	const char *const *bad[] = { up, sibling, exact_star };
	char *g = grant(ID_A, 1), *t = NULL;

	for (size_t i = 0; i < 3; i++) {
		struct attest_delegation_claims c1 = dclaims(ID_B, s_read, 1, bad[i], 1);
		struct dl d = { ID_A, ID_B, s_read, 1, bad[i], 1, "TREATMENT", "follow-up of patient 123",
				fx.t0, fx.t0 + 900, 0, g };
		char *f;

		TU_ASSERT_ERR(attest_intent_delegate(fx.a.leaf_key, fx.a.chain, g, &c1, &t),
			      ATTEST_E_INTENT_WIDENED);
		f = forge_deleg(fx.a.leaf_key, &fx.a, &d);
		TU_ASSERT_ERR(verify(f, ID_B), ATTEST_E_INTENT_WIDENED);
		free(f);
	}
	/* Equal, and under a '*' parent, are within. */
	{
		struct attest_delegation_claims c1 = dclaims(ID_B, s_read, 1, exact, 1);

		t = delegate(&fx.a, g, &c1);
		TU_ASSERT_ERR(verify(t, ID_B), ATTEST_OK);
		free(t);
	}
	free(g);
}

static void test_purpose_changed(void)
{
	char *g = grant(ID_A, 1);
	struct dl d = { ID_A, ID_B, s_read, 1, r_notes, 1, "PAYMENT", "follow-up of patient 123",
			fx.t0, fx.t0 + 900, 0, g };
	char *f = forge_deleg(fx.a.leaf_key, &fx.a, &d);

	TU_ASSERT_ERR(verify(f, ID_B), ATTEST_E_INTENT_PURPOSE);
	free(f);
	d.code = "TREATMENT";
	d.text = "anything at all";
	f = forge_deleg(fx.a.leaf_key, &fx.a, &d);
	TU_ASSERT_ERR(verify(f, ID_B), ATTEST_E_INTENT_PURPOSE);
	free(f);
	free(g);
}

static void test_expiry_extended(void)
{
	struct attest_delegation_claims c1 = dclaims(ID_B, s_read, 1, r_notes, 1);
	struct attest_intent_claims gc = claims(ID_A, 1);
	struct dl d = { ID_A, ID_B, s_read, 1, r_notes, 1, "TREATMENT", "follow-up of patient 123",
			fx.t0, fx.t0 + 3000, 0, NULL };
	char *g = grant(ID_A, 1), *t = NULL, *f, *g2;

	/* Past the delegator's leaf (notAfter ~ t0 + 1140), within the grant. */
	c1.exp = fx.t0 + 3000;
	TU_ASSERT_ERR(attest_intent_delegate(fx.a.leaf_key, fx.a.chain, g, &c1, &t), ATTEST_E_INTENT_LIFETIME);
	d.prev = g;
	f = forge_deleg(fx.a.leaf_key, &fx.a, &d);
	TU_ASSERT_ERR(verify(f, ID_B), ATTEST_E_INTENT_LIFETIME);
	free(f);
	/* Past the parent's exp, within the leaf. */
	gc.exp = fx.t0 + 600;
	g2 = grant_with(&gc);
	c1.exp = fx.t0 + 900;
	TU_ASSERT_ERR(attest_intent_delegate(fx.a.leaf_key, fx.a.chain, g2, &c1, &t), ATTEST_E_INTENT_LIFETIME);
	d.prev = g2;
	d.exp = fx.t0 + 900;
	f = forge_deleg(fx.a.leaf_key, &fx.a, &d);
	TU_ASSERT_ERR(verify(f, ID_B), ATTEST_E_INTENT_LIFETIME);
	free(f);
	free(g2);
	free(g);
}

static void test_depth_exceeded(void)
{
	struct attest_delegation_claims c1 = dclaims(ID_B, s_read, 1, r_notes, 1);
	struct dl d = { ID_A, ID_B, s_read, 1, r_notes, 1, "TREATMENT", "follow-up of patient 123",
			fx.t0, fx.t0 + 900, 0, NULL };
	char *g0 = grant(ID_A, 0), *g2 = grant(ID_A, 2), *t = NULL, *f;

	TU_ASSERT_ERR(attest_intent_delegate(fx.a.leaf_key, fx.a.chain, g0, &c1, &t), ATTEST_E_INTENT_DEPTH);
	d.prev = g0;
	f = forge_deleg(fx.a.leaf_key, &fx.a, &d);
	TU_ASSERT_ERR(verify(f, ID_B), ATTEST_E_INTENT_DEPTH);
	free(f);
	/* Claiming more remaining depth than the parent leaves. */
	d.prev = g2;
	d.depth = 2;
	f = forge_deleg(fx.a.leaf_key, &fx.a, &d);
	TU_ASSERT_ERR(verify(f, ID_B), ATTEST_E_INTENT_DEPTH);
	free(f);
	free(g2);
	free(g0);
}

/* Depth 3 with full x5c chains fits the 16 KiB cap (the chain's tokens
 * are joined, each delegation names its parent by hash: linear growth,
 * docs/intent.md "Size budget"); a fourth hop is refused by the maker. */
static void test_depth3_size(void)
{
	struct attest_delegation_claims c1 = dclaims(ID_B, s_read_bill, 2, r_notes, 1);
	struct attest_delegation_claims c2 = dclaims(ID_C, s_read, 1, r_notes7, 1);
	struct attest_delegation_claims c3 = dclaims(ID_A, s_read, 1, r_notes7, 1);
	struct attest_delegation_claims c4 = dclaims(ID_B, s_read, 1, r_notes7, 1);
	char *g = grant(ID_A, 3), *d1 = delegate(&fx.a, g, &c1), *d2 = delegate(&fx.b, d1, &c2);
	char *d3 = delegate(&fx.c, d2, &c3), *d4 = NULL;
	struct attest_intent_chain *ch = NULL;

	TU_ASSERT_ERR(verify(d2, ID_C), ATTEST_OK);
	TU_ASSERT_ERR(attest_intent_verify(fx.trust, d3, ID_A, fx.t0 + 5, &ch), ATTEST_OK);
	CU_ASSERT_EQUAL(attest_intent_chain_depth(ch), 3);
	CU_ASSERT_EQUAL(attest_intent_chain_remaining(ch), 0);
	CU_ASSERT_STRING_EQUAL(attest_intent_chain_agent(ch, 2, NULL), ID_C);
	attest_intent_chain_free(ch);
	CU_ASSERT(strlen(d3) <= ATTEST_INTENT_TOKEN_MAX);
	fprintf(stderr, "  token sizes: grant %zu, depth 1 %zu, 2 %zu, 3 %zu bytes\n", strlen(g),
		strlen(d1), strlen(d2), strlen(d3));
	TU_ASSERT_ERR(attest_intent_delegate(fx.a.leaf_key, fx.a.chain, d3, &c4, &d4),
		      ATTEST_E_INTENT_DEPTH);
	CU_ASSERT_PTR_NULL(d4);
	free(d3);
	free(d2);
	free(d1);
	free(g);
}

/* Issue 12: a fleet with an offline root and an online issuing CA. The
 * chain attestd hands out ends with the issuing CA (leaf, agent CA, host
 * CA, issuing CA); a delegation's x5c leaves it out (the 16 KiB budget:
 * x5c is unchanged in size), and a verifier that trusts only the fleet
 * root finds it through attest_intent_trust_add_intermediate or the
 * decider's verified path. The path rule refuses a host CA that a host key
 * minted (host CA -> forged host CA -> agent CA -> leaf passes OpenSSL's
 * path lengths). */
static void test_issuing_ca(void)
{
	EVP_PKEY *ik = NULL, *hk = p256(), *fk = p256();
	X509 *iss = NULL, *hca = NULL, *forged = NULL;
	struct agent ia, fa;
	struct attest_delegation_claims c1 = dclaims(ID_B, s_read_bill, 2, r_notes, 1);
	struct attest_intent_trust *t2 = NULL;
	struct attest_intent_chain *ch = NULL;
	STACK_OF(X509) *extra = sk_X509_new_null();
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	char *g, *d1, *d1_plain, *hdr_i, *hdr_p;

	CU_ASSERT_FATAL(extra != NULL && st != NULL && ctx != NULL && untrusted != NULL);
	TU_ASSERT_ERR(attest_x509_make_issuing_ca(fx.root_key, fx.root, TD, 30, &ik, &iss), ATTEST_OK);
	/* the other root's key cannot make one for this root */
	{
		EVP_PKEY *k2 = NULL;
		X509 *c2 = NULL;

		TU_ASSERT_ERR(attest_x509_make_issuing_ca(fx.other_root_key, fx.root, TD, 30, &k2, &c2),
			      ATTEST_E_INVALID_ARG);
		CU_ASSERT_PTR_NULL(c2);
	}
	TU_ASSERT_ERR(attest_x509_make_host_ca(ik, iss, TD, "web-01", hk, 3600, &hca), ATTEST_OK);
	make_agent(&ia, hca, hk, fx.ak1, ID_A, 3);
	/* the full chain as attestd returns it verifies to the root alone */
	CU_ASSERT_FATAL(X509_STORE_add_cert(st, fx.root) == 1);
	CU_ASSERT_FATAL(X509_add_cert(untrusted, ia.ca, X509_ADD_FLAG_UP_REF) == 1 &&
			X509_add_cert(untrusted, hca, X509_ADD_FLAG_UP_REF) == 1 &&
			X509_add_cert(untrusted, iss, X509_ADD_FLAG_UP_REF) == 1);
	CU_ASSERT_FATAL(X509_STORE_CTX_init(ctx, st, ia.leaf, untrusted) == 1);
	CU_ASSERT_EQUAL(X509_verify_cert(ctx), 1);
	CU_ASSERT_EQUAL(X509_STORE_CTX_get_error_depth(ctx), 0);
	CU_ASSERT_EQUAL(sk_X509_num(X509_STORE_CTX_get0_chain(ctx)), 5);
	TU_ASSERT_ERR(attest_verify_path(X509_STORE_CTX_get0_chain(ctx)), ATTEST_OK);
	X509_STORE_CTX_cleanup(ctx);
	/* A delegates with its chain as attestd returns it (issuing CA at the
	 * end): x5c is the same as without it. */
	CU_ASSERT_FATAL(X509_add_cert(ia.chain, iss, X509_ADD_FLAG_UP_REF) == 1);
	g = grant(ID_A, 2);
	d1 = delegate(&ia, g, &c1);
	(void)sk_X509_pop(ia.chain);
	X509_free(iss); /* the reference the chain held */
	d1_plain = delegate(&ia, g, &c1);
	hdr_i = strrchr(d1, '~');
	hdr_p = strrchr(d1_plain, '~');
	CU_ASSERT_FATAL(hdr_i != NULL && hdr_p != NULL);
	CU_ASSERT_EQUAL(strcspn(hdr_i, "."), strcspn(hdr_p, "."));
	/* a verifier that knows only the root cannot place the host CA */
	CU_ASSERT_EQUAL(verify(d1, ID_B), ATTEST_E_INTENT_CHAIN);
	/* with the issuing CA as an intermediate it can */
	CU_ASSERT_FATAL(attest_intent_trust_new(&t2) == ATTEST_OK &&
			attest_intent_trust_add_issuer(t2, ISS, fx.issuer) == ATTEST_OK &&
			attest_intent_trust_set_root(t2, fx.root) == ATTEST_OK);
	TU_ASSERT_ERR(attest_intent_trust_add_intermediate(t2, ia.leaf), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(attest_intent_trust_add_intermediate(t2, iss), ATTEST_OK);
	TU_ASSERT_ERR(attest_intent_trust_add_intermediate(t2, iss), ATTEST_OK); /* duplicate */
	TU_ASSERT_ERR(attest_intent_verify(t2, d1, ID_B, fx.t0 + 5, &ch), ATTEST_OK);
	attest_intent_chain_free(ch);
	ch = NULL;
	/* or offered by the caller (the decider passes the leaf's path) */
	CU_ASSERT_FATAL(X509_add_cert(extra, iss, X509_ADD_FLAG_UP_REF) == 1);
	TU_ASSERT_ERR(attest_intent_verify_with(fx.trust, extra, d1, ID_B, fx.t0 + 5, &ch), ATTEST_OK);
	attest_intent_chain_free(ch);
	ch = NULL;
	/* an intermediate is no anchor: an issuing CA of another root does
	 * not let another root's host CA in */
	{
		EVP_PKEY *ok2 = NULL;
		X509 *oiss = NULL;
		struct attest_delegation_claims cf = dclaims(ID_B, s_read_bill, 2, r_notes, 1);
		char *df;

		TU_ASSERT_ERR(attest_x509_make_issuing_ca(fx.other_root_key, fx.other_root, TD, 30,
							  &ok2, &oiss), ATTEST_OK);
		TU_ASSERT_ERR(attest_intent_trust_add_intermediate(t2, oiss), ATTEST_OK);
		df = delegate(&fx.foreign, g, &cf);
		TU_ASSERT_ERR(attest_intent_verify(t2, df, ID_B, fx.t0 + 5, &ch), ATTEST_E_INTENT_CHAIN);
		free(df);
		X509_free(oiss);
		EVP_PKEY_free(ok2);
	}
	/* Rule 5: web-01's host key mints a host CA for db-01 and an agent
	 * CA under it claiming billing on db-01. OpenSSL accepts the path
	 * lengths; the path rule does not. */
	TU_ASSERT_ERR(attest_x509_make_host_ca(hk, hca, TD, "db-01", fk, 3600, &forged), ATTEST_OK);
	make_agent(&fa, forged, fk, fx.ak2, ID_B, 3);
	sk_X509_pop_free(untrusted, X509_free);
	untrusted = sk_X509_new_null();
	CU_ASSERT_FATAL(untrusted != NULL &&
			X509_add_cert(untrusted, fa.ca, X509_ADD_FLAG_UP_REF) == 1 &&
			X509_add_cert(untrusted, forged, X509_ADD_FLAG_UP_REF) == 1 &&
			X509_add_cert(untrusted, hca, X509_ADD_FLAG_UP_REF) == 1 &&
			X509_add_cert(untrusted, iss, X509_ADD_FLAG_UP_REF) == 1);
	CU_ASSERT_FATAL(X509_STORE_CTX_init(ctx, st, fa.leaf, untrusted) == 1);
	CU_ASSERT_EQUAL(X509_verify_cert(ctx), 1);
	TU_ASSERT_ERR(attest_verify_path(X509_STORE_CTX_get0_chain(ctx)), ATTEST_E_PATH);
	CU_ASSERT(strstr(attest_errdetail(), "issued by a host or agent CA") != NULL);
	X509_STORE_CTX_cleanup(ctx);
	free_agent(&fa);
	free(d1_plain);
	free(d1);
	free(g);
	attest_intent_trust_free(t2);
	free_agent(&ia);
	sk_X509_pop_free(extra, X509_free);
	sk_X509_pop_free(untrusted, X509_free);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	X509_free(forged);
	X509_free(hca);
	X509_free(iss);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(hk);
	EVP_PKEY_free(fk);
}

/* A's leaf says its registration allows 1 hop: A may delegate to B, but a
 * chain in which B delegates on to C has 2 hops after A. */
static void test_delegation_rights(void)
{
	struct attest_delegation_claims c1 = dclaims(ID_B, s_read_bill, 2, r_notes, 1);
	struct attest_delegation_claims c2 = dclaims(ID_C, s_read, 1, r_notes7, 1);
	char *g = grant(ID_A, 2), *d1 = delegate(&fx.a1, g, &c1), *d2 = delegate(&fx.b, d1, &c2);

	TU_ASSERT_ERR(verify(d1, ID_B), ATTEST_OK);
	TU_ASSERT_ERR(verify(d2, ID_C), ATTEST_E_INTENT_DEPTH);
	CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "may start 1 delegation hop(s); 2 follow it"));
	free(d2);
	free(d1);
	free(g);
}

/* Four nested delegations: refused while unwrapping, before any crypto. */
static void test_nesting_cap(void)
{
	static const char *const ids[] = { ID_A, ID_B, ID_A, ID_B, ID_A };
	char *tok = grant(ID_A, 3);

	for (int i = 0; i < 4; i++) {
		struct dl d = { ids[i], ids[i + 1], s_read, 1, r_notes, 1, "TREATMENT",
				"follow-up of patient 123", fx.t0, fx.t0 + 900, 0, tok };
		struct agent *from = i % 2 == 0 ? &fx.a : &fx.b;
		char *h = x5c_header(from->chain, 1), *p = deleg_payload(&d), *next;

		next = linked(tok, forge(from->leaf_key, h, p));
		free(h);
		free(p);
		free(tok);
		tok = next;
	}
	CU_ASSERT(strlen(tok) <= ATTEST_INTENT_TOKEN_MAX);
	TU_ASSERT_ERR(verify(tok, ID_A), ATTEST_E_INTENT_DEPTH);
	free(tok);
}

static void test_wrong_signer(void)
{
	struct attest_delegation_claims c1 = dclaims(ID_B, s_read, 1, r_notes, 1);
	char *g = grant(ID_A, 1), *t = NULL, *f;
	struct dl d = { ID_A, ID_B, s_read, 1, r_notes, 1, "TREATMENT", "follow-up of patient 123",
			fx.t0, fx.t0 + 900, 0, g };

	/* A's x5c, signed by B's leaf key. */
	f = forge_deleg(fx.b.leaf_key, &fx.a, &d);
	TU_ASSERT_ERR(verify(f, ID_B), ATTEST_E_INTENT_SIGNATURE);
	free(f);
	/* The maker refuses a key that is not the leaf's. */
	TU_ASSERT_ERR(attest_intent_delegate(fx.b.leaf_key, fx.a.chain, g, &c1, &t), ATTEST_E_INVALID_ARG);
	CU_ASSERT_PTR_NULL(t);
	free(g);
}

static void test_x5c_chain(void)
{
	char *g = grant(ID_A, 1), *gc = grant(ID_C, 1), *f, *h, *p;
	struct dl d = { ID_A, ID_B, s_read, 1, r_notes, 1, "TREATMENT", "follow-up of patient 123",
			fx.t0, fx.t0 + 900, 0, g };

	/* A's ID under another fleet root. */
	f = forge_deleg(fx.foreign.leaf_key, &fx.foreign, &d);
	TU_ASSERT_ERR(verify(f, ID_B), ATTEST_E_INTENT_CHAIN);
	free(f);
	/* x5c without the host CA. */
	h = x5c_header(fx.a.chain, 2);
	p = deleg_payload(&d);
	f = linked(d.prev, forge(fx.a.leaf_key, h, p));
	TU_ASSERT_ERR(verify(f, ID_B), ATTEST_E_INTENT_CHAIN);
	free(f);
	free(h);
	free(p);
	/* iss (C, the grant's audience) is not the x5c leaf (A). */
	d.iss = ID_C;
	d.prev = gc;
	f = forge_deleg(fx.a.leaf_key, &fx.a, &d);
	TU_ASSERT_ERR(verify(f, ID_B), ATTEST_E_INTENT_CHAIN);
	free(f);
	/* Issued before the delegator's leaf was valid (notBefore ~ t0 - 60). */
	d.iss = ID_A;
	d.prev = g;
	d.iat = fx.t0 - 59 - 120;
	{
		struct attest_intent_claims c = claims(ID_A, 1);
		char *g2;

		c.iat = c.nbf = fx.t0 - 600;
		g2 = grant_with(&c);
		d.prev = g2;
		f = forge_deleg(fx.a.leaf_key, &fx.a, &d);
		TU_ASSERT_ERR(verify(f, ID_B), ATTEST_E_INTENT_CHAIN);
		free(f);
		free(g2);
	}
	free(gc);
	free(g);
}

/* User 2's grant is for C; A signs a delegation on top of it. */
static void test_splice(void)
{
	struct attest_intent_claims c = claims(ID_C, 2);
	struct attest_delegation_claims c1 = dclaims(ID_B, s_read, 1, r_notes, 1);
	char *g2, *f, *t = NULL;
	struct dl d = { ID_A, ID_B, s_read, 1, r_notes, 1, "TREATMENT", "follow-up of patient 123",
			fx.t0, fx.t0 + 900, 1, NULL };

	c.sub = "bob@hospital.example";
	c.jti = "task-77";
	g2 = grant_with(&c);
	TU_ASSERT_ERR(attest_intent_delegate(fx.a.leaf_key, fx.a.chain, g2, &c1, &t), ATTEST_E_INTENT_CHAIN);
	d.prev = g2;
	f = forge_deleg(fx.a.leaf_key, &fx.a, &d);
	TU_ASSERT_ERR(verify(f, ID_B), ATTEST_E_INTENT_CHAIN);
	free(f);
	/* The other way round: B holds user 1's delegation from A and signs
	 * one to C on top of user 2's grant, which was never addressed to B. */
	d.iss = ID_B;
	d.aud = ID_C;
	d.depth = 1;
	f = forge_deleg(fx.b.leaf_key, &fx.b, &d);
	TU_ASSERT_ERR(verify(f, ID_C), ATTEST_E_INTENT_CHAIN);
	free(f);
	/* A's genuine delegation moved behind another grant for A: its prev
	 * names the grant it was made on. */
	{
		struct attest_intent_claims c2 = claims(ID_A, 1);
		char *g1 = grant(ID_A, 1), *d1 = delegate(&fx.a, g1, &c1), *g3, *moved;

		c2.sub = "bob@hospital.example";
		c2.jti = "task-78";
		g3 = grant_with(&c2);
		moved = linked(g3, strdup(strchr(d1, '~') + 1));
		TU_ASSERT_ERR(verify(moved, ID_B), ATTEST_E_INTENT_CHAIN);
		CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "does not follow"));
		free(moved);
		/* a trailing separator, and a delegation alone */
		moved = linked(d1, strdup(""));
		TU_ASSERT_ERR(verify(moved, ID_B), ATTEST_E_PARSE);
		TU_ASSERT_ERR(verify(strchr(d1, '~') + 1, ID_B), ATTEST_E_PARSE);
		free(moved);
		free(g3);
		free(d1);
		free(g1);
	}
	free(g2);
}

static void test_header_alg(void)
{
	char *g = grant(ID_A, 1), *p = payload_of(g), *f, *h, *s;
	static const char *const bad[] = {
		"{\"alg\":\"none\",\"typ\":\"attest-intent+jws\"}",
		"{\"alg\":\"HS256\",\"typ\":\"attest-intent+jws\"}",
		"{\"alg\":\"ES384\",\"typ\":\"attest-intent+jws\"}",
		"{\"alg\":\"ES256\",\"typ\":\"JWT\"}",
		"{\"alg\":\"ES256\",\"typ\":\"attest-intent+jws\",\"kid\":\"x\"}",
		"{\"alg\":\"ES256\",\"typ\":\"attest-intent+jws\",\"crit\":[\"exp\"]}",
		"{\"alg\":\"ES256\"}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = forge(fx.issuer, bad[i], p);
		TU_ASSERT_ERR(verify(f, ID_A), ATTEST_E_PARSE);
		free(f);
	}
	/* alg none with an empty signature, as RFC 7519 unsecured JWTs are. */
	h = b64url(bad[0], strlen(bad[0]));
	s = b64url(p, strlen(p));
	f = malloc(strlen(h) + strlen(s) + 3);
	CU_ASSERT_FATAL(f != NULL);
	snprintf(f, strlen(h) + strlen(s) + 3, "%s.%s.", h, s);
	TU_ASSERT_ERR(verify(f, ID_A), ATTEST_E_PARSE);
	free(f);
	free(s);
	free(h);
	/* The exact header, forged independently, is accepted. */
	f = forge(fx.issuer, GRANT_HDR, p);
	TU_ASSERT_ERR(verify(f, ID_A), ATTEST_OK);
	free(f);
	free(p);
	free(g);
}

static void test_tampered(void)
{
	char *g = grant(ID_A, 1), *p = payload_of(g), *p2 = subst(p, "ehr.write", "ehr.admin");
	char *b = b64url(p2, strlen(p2)), *t;
	const char *d1 = strchr(g, '.'), *d2 = strchr(d1 + 1, '.');
	size_t n = strlen(g) + strlen(b) + 1;

	t = malloc(n);
	CU_ASSERT_FATAL(t != NULL);
	snprintf(t, n, "%.*s.%s%s", (int)(d1 - g), g, b, d2);
	TU_ASSERT_ERR(verify(t, ID_A), ATTEST_E_INTENT_SIGNATURE);
	/* A non-canonical last signature character (unused bits set). */
	{
		size_t l = strlen(g);
		char *u = strdup(g);

		CU_ASSERT_FATAL(u != NULL);
		u[l - 1] = u[l - 1] == 'A' ? 'B' : u[l - 1] == 'B' ? 'A' : (char)(u[l - 1] ^ 1);
		TU_ASSERT_ERR(verify(u, ID_A), ATTEST_E_PARSE);
		free(u);
	}
	free(t);
	free(b);
	free(p2);
	free(p);
	free(g);
}

static void test_trailing(void)
{
	char *g = grant(ID_A, 1), *p = payload_of(g), *p2, *f;
	size_t n = strlen(g) + 8;
	char *t = malloc(n);

	CU_ASSERT_FATAL(t != NULL);
	snprintf(t, n, "%s.AAAA", g);
	TU_ASSERT_ERR(verify(t, ID_A), ATTEST_E_PARSE);
	snprintf(t, n, "%s\n", g);
	TU_ASSERT_ERR(verify(t, ID_A), ATTEST_E_PARSE);
	snprintf(t, n, "%sAA", g);
	TU_ASSERT_ERR(verify(t, ID_A), ATTEST_E_PARSE);
	free(t);
	/* Trailing bytes after the payload's JSON, under a valid signature. */
	p2 = malloc(strlen(p) + 4);
	CU_ASSERT_FATAL(p2 != NULL);
	snprintf(p2, strlen(p) + 4, "%s{}", p);
	f = forge(fx.issuer, GRANT_HDR, p2);
	TU_ASSERT_ERR(verify(f, ID_A), ATTEST_E_PARSE);
	free(f);
	free(p2);
	free(p);
	free(g);
}

static void test_duplicate_key(void)
{
	char *g = grant(ID_A, 1), *p = payload_of(g), *p2 = subst(p, "{", "{\"sub\":\"mallory\","), *f;

	f = forge(fx.issuer, GRANT_HDR, p2);
	TU_ASSERT_ERR(verify(f, ID_A), ATTEST_E_DUPLICATE_KEY);
	free(f);
	f = forge(fx.issuer, "{\"alg\":\"ES256\",\"alg\":\"ES256\",\"typ\":\"attest-intent+jws\"}", p);
	TU_ASSERT_ERR(verify(f, ID_A), ATTEST_E_DUPLICATE_KEY);
	free(f);
	free(p2);
	free(p);
	free(g);
}

static void test_oversize(void)
{
	char *big = malloc(17 * 1024 + 1), *g = grant(ID_A, 1), *p = payload_of(g), *p2, *f;
	char many[33 * 8 + 16] = "[";

	CU_ASSERT_FATAL(big != NULL);
	memset(big, 'A', 17 * 1024);
	big[17 * 1024] = '\0';
	big[100] = '.';
	big[200] = '.';
	TU_ASSERT_ERR(verify(big, ID_A), ATTEST_E_TOO_LARGE);
	free(big);
	/* 33 scopes. */
	for (int i = 0; i < 33; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s\"s%02d\"", i ? "," : "", i);
	snprintf(many + strlen(many), sizeof(many) - strlen(many), "]");
	p2 = subst(p, "[\"ehr.read\",\"ehr.write\",\"billing.read\"]", many);
	f = forge(fx.issuer, GRANT_HDR, p2);
	TU_ASSERT_ERR(verify(f, ID_A), ATTEST_E_TOO_LARGE);
	free(f);
	free(p2);
	free(p);
	free(g);
	/* The maker refuses over-long entries and lists. */
	{
		struct attest_intent_claims c = claims(ID_A, 1);
		char longscope[300], *t = NULL;
		const char *one[1];

		memset(longscope, 'x', sizeof(longscope) - 1);
		longscope[sizeof(longscope) - 1] = '\0';
		one[0] = longscope;
		c.scopes = one;
		c.nscopes = 1;
		TU_ASSERT_ERR(attest_intent_grant_make(fx.issuer, ISS, &c, &t), ATTEST_E_INVALID_ARG);
		c.nscopes = 33;
		TU_ASSERT_ERR(attest_intent_grant_make(fx.issuer, ISS, &c, &t), ATTEST_E_INVALID_ARG);
		CU_ASSERT_PTR_NULL(t);
	}
}

static void test_numbers_and_fields(void)
{
	char *g = grant(ID_A, 1), *p = payload_of(g), *f;
	char iat[48];
	static const char *const bad_depth[] = { "\"max_depth\":4", "\"max_depth\":1.5", "\"max_depth\":-1",
						 "\"max_depth\":\"1\"", "\"max_depth\":true" };

	snprintf(iat, sizeof(iat), "\"iat\":%lld", (long long)(fx.t0 - 60));
	for (size_t i = 0; i < sizeof(bad_depth) / sizeof(bad_depth[0]); i++) {
		char *p2 = subst(p, "\"max_depth\":1", bad_depth[i]);

		f = forge(fx.issuer, GRANT_HDR, p2);
		TU_ASSERT_ERR(verify(f, ID_A), ATTEST_E_PARSE);
		free(f);
		free(p2);
	}
	{
		char *p2 = subst(p, iat, "\"iat\":9007199254740993");

		f = forge(fx.issuer, GRANT_HDR, p2);
		TU_ASSERT_ERR(verify(f, ID_A), ATTEST_E_PARSE);
		free(f);
		free(p2);
		p2 = subst(p, "{", "{\"admin\":true,");
		f = forge(fx.issuer, GRANT_HDR, p2);
		TU_ASSERT_ERR(verify(f, ID_A), ATTEST_E_PARSE);
		free(f);
		free(p2);
		p2 = subst(p, "\"TREATMENT\"", "\"MARKETING\"");
		f = forge(fx.issuer, GRANT_HDR, p2);
		TU_ASSERT_ERR(verify(f, ID_A), ATTEST_E_PARSE);
		free(f);
		free(p2);
		p2 = subst(p, "\"ehr.read\"", "\"ehr.read\",\"ehr.read\"");
		f = forge(fx.issuer, GRANT_HDR, p2);
		TU_ASSERT_ERR(verify(f, ID_A), ATTEST_E_PARSE);
		free(f);
		free(p2);
		p2 = subst(p, USER, "eve\\u0000@x");
		f = forge(fx.issuer, GRANT_HDR, p2);
		TU_ASSERT_ERR(verify(f, ID_A), ATTEST_E_PARSE);
		free(f);
		free(p2);
	}
	free(p);
	free(g);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "valid chain, depth 0", test_depth0 },
		{ "valid chain, depth 1 across two hosts", test_depth1 },
		{ "valid chain, depth 2", test_depth2 },
		{ "grant from an untrusted issuer", test_untrusted_issuer },
		{ "expired and not-yet-valid tokens", test_expired },
		{ "scope widened at a hop", test_scope_widened },
		{ "resource widened", test_resource_widened },
		{ "purpose changed", test_purpose_changed },
		{ "expiry extended past leaf or parent", test_expiry_extended },
		{ "depth exceeded", test_depth_exceeded },
		{ "depth 3 with full chains fits the size cap; a 4th hop is refused", test_depth3_size },
		{ "more than 3 nested delegations", test_nesting_cap },
		{ "delegation signed by another key", test_wrong_signer },
		{ "x5c chain problems", test_x5c_chain },
		{ "chain spliced from another user's grant", test_splice },
		{ "delegator's leaf limits the hops after it", test_delegation_rights },
		{ "header: alg none, HS256, unknown fields", test_header_alg },
		{ "tampered payload", test_tampered },
		{ "trailing bytes", test_trailing },
		{ "duplicate JSON keys", test_duplicate_key },
		{ "oversize tokens and lists", test_oversize },
		{ "numbers and unknown fields", test_numbers_and_fields },
		{ "issuing CA: full chain, x5c without it, path rule 5", test_issuing_ca },
		{ NULL, NULL },
	};
	int rc;

	fixture_up();
	rc = tu_main("intent", tests);
	fixture_down();
	return rc;
}
