/* intent.c - intent grants and delegation chains: JWS compact ES256 tokens
 * (RFC 7515/7518) made, parsed and verified; see include/attest/intent.h
 * and docs/intent.md for the format and the narrowing rules.
 *
 * Verification parses the whole chain (every nested token, header, payload
 * and x5c) before any signature is checked, then checks the grant's
 * issuer and signature, each delegator's certificate chain and signature,
 * and only then the narrowing rules on authenticated content. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "attest/intent.h"
#include "attest/verify.h"
#include "core/err.h"
#include "core/json.h"
#include "core/jws.h"
#include "intent/intentx.h"
#include "x509/x509.h"
#include "x509/x509agent.h"

#define TYP_GRANT "attest-intent+jws"
#define TYP_DELEGATION "attest-delegation+jws"
#define HDR_GRANT "{\"alg\":\"ES256\",\"typ\":\"" TYP_GRANT "\"}"
#define X5C_MAX 4         /* leaf, session issuer, agent CA, host CA */
#define INTERMEDIATES_MAX 16 /* issuing CAs a trust knows besides x5c */
#define CERT_MAX 8192     /* DER bytes of one x5c certificate */
#define NONCE_LEN 16      /* 128 bits */
#define NONCE_B64_LEN 22  /* base64url without padding */
#define PREV_B64_LEN 43   /* base64url SHA-256 of the token before a delegation */
#define SEP '~'          /* between the tokens of a chain: not base64url, not '.' */
#define JTI_MAX 128
#define ISSUERS_MAX 64
/* 2^53 - 1: every integer up to it is exactly a double, and any larger
 * literal rounds to at least 2^53, so it is refused rather than misread. */
#define NUM_MAX 9007199254740991LL
#define SKEW 60           /* seconds of clock skew allowed on iat and nbf */
#define HOPS (1 + ATTEST_INTENT_MAX_DEPTH)
#define DESCRIBE_MAX (64 * 1024)

static const char *const purpose_names[] = {
	NULL, "TREATMENT", "PAYMENT", "OPERATIONS", "RESEARCH", "PUBLIC_HEALTH", "OTHER",
};
#define PURPOSE_COUNT (sizeof(purpose_names) / sizeof(purpose_names[0]))

struct list {
	const char *v[ATTEST_INTENT_LIST_MAX];
	size_t n;
};

/* One token of a chain, parsed. Strings point into payload (or, for a
 * token being made, into the caller's claims). */
struct hop {
	int grant;         /* 1: intent grant; 0: delegation */
	const char *tok;   /* the whole token */
	size_t len;        /* of the token's compact form at tok */
	size_t signed_len; /* BASE64URL(header) '.' BASE64URL(payload) */
	uint8_t sig[64];   /* r || s */
	cJSON *payload;    /* owned */
	STACK_OF(X509) *x5c; /* owned; delegations only */
	const char *iss, *sub, *aud, *jti, *nonce, *prev, *ptext;
	enum attest_purpose purpose;
	struct list scopes, resources;
	int64_t iat, nbf, exp;
	int64_t depth; /* grant: max_depth; delegation: remaining after it */
};

/* h[0] is the grant, h[n - 1] the outermost token. */
struct parsed {
	struct hop h[HOPS];
	unsigned n;
};

struct issuer {
	char *name;
	EVP_PKEY *key;
};

struct attest_intent_trust {
	struct issuer iss[ISSUERS_MAX];
	size_t n;
	X509_STORE *store;
	/* issuing CAs between the fleet root and host CAs: x5c stops at the
	 * host CA (docs/intent.md "Size budget"), path building finds them here */
	STACK_OF(X509) *inter;
};

struct attest_intent_chain {
	char *issuer, *user, *jti, *ptext;
	enum attest_purpose purpose;
	unsigned depth, remaining;
	char *agent[HOPS];
	char host[HOPS][ATTEST_MAX_NAME + 1];
	char *nonce[HOPS]; /* [1..depth] */
	char *scopes[ATTEST_INTENT_LIST_MAX];
	size_t nscopes;
	char *resources[ATTEST_INTENT_LIST_MAX];
	size_t nresources;
	int64_t expiry;
	int64_t issued; /* the grant's iat */
};

const char *attest_purpose_name(enum attest_purpose p)
{
	if ((size_t)p >= PURPOSE_COUNT)
		return NULL;
	return purpose_names[p];
}

/* Prefix the current detail with where it happened, keeping the code. */
static int at(int code, const char *where)
{
	return attest_fail_wrap(code, "%s", where);
}

/* ---- field rules, shared by making and parsing ---- */

/* 1..max bytes (0..max when empty_ok), no control characters. */
static int text_ok(const char *s, size_t max, int empty_ok)
{
	size_t n;

	if (s == NULL || (n = strnlen(s, max + 1)) > max || (n == 0 && !empty_ok))
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* 1..max bytes of printable ASCII without space; '*' only as the last byte
 * when star, never otherwise. */
static int item_ok(const char *s, size_t max, int star)
{
	size_t n;

	if (s == NULL || (n = strnlen(s, max + 1)) == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '!' || s[i] > '~')
			return 0;
		if (s[i] == '*' && (!star || i + 1 != n))
			return 0;
	}
	return 1;
}

static int agent_id_ok(const char *s)
{
	struct attest_agent_id id;

	return s != NULL && strnlen(s, ATTEST_AGENT_ID_MAX + 1) <= ATTEST_AGENT_ID_MAX &&
	       attest_agent_id_parse(s, &id) == ATTEST_OK;
}

static int list_ok(const struct list *l, int star, const char *what)
{
	for (size_t i = 0; i < l->n; i++) {
		if (!item_ok(l->v[i], ATTEST_INTENT_ITEM_MAX, star))
			return attest_fail(ATTEST_E_PARSE,
					   "%s entry %zu is not 1..%d printable non-space bytes%s", what,
					   i, ATTEST_INTENT_ITEM_MAX,
					   star ? " with '*' only at the end" : " without '*'");
		for (size_t j = 0; j < i; j++)
			if (strcmp(l->v[i], l->v[j]) == 0)
				return attest_fail(ATTEST_E_PARSE, "%s entry \"%.64s\" repeated", what,
						   l->v[i]);
	}
	return ATTEST_OK;
}

/* Everything a token's fields must satisfy on their own (ATTEST_E_PARSE). */
static int hop_fields_ok(const struct hop *h)
{
	int r;

	if (h->grant && !text_ok(h->iss, ATTEST_INTENT_ITEM_MAX, 0))
		return attest_fail(ATTEST_E_PARSE, "\"iss\" is not 1..%d bytes without control characters",
				   ATTEST_INTENT_ITEM_MAX);
	if (!h->grant && !agent_id_ok(h->iss))
		return attest_fail(ATTEST_E_PARSE, "\"iss\" is not an agent ID");
	if (!agent_id_ok(h->aud))
		return attest_fail(ATTEST_E_PARSE, "\"aud\" is not an agent ID");
	if ((size_t)h->purpose >= PURPOSE_COUNT || purpose_names[h->purpose] == NULL)
		return attest_fail(ATTEST_E_PARSE, "unknown purpose code");
	if (!text_ok(h->ptext, ATTEST_INTENT_ITEM_MAX, 1))
		return attest_fail(ATTEST_E_PARSE, "purpose text over %d bytes or with control characters",
				   ATTEST_INTENT_ITEM_MAX);
	if ((r = list_ok(&h->scopes, 0, "scopes")) != ATTEST_OK ||
	    (r = list_ok(&h->resources, 1, "resources")) != ATTEST_OK)
		return r;
	if (h->iat < 0 || h->iat > NUM_MAX || h->exp < 0 || h->exp > NUM_MAX ||
	    h->nbf < 0 || h->nbf > NUM_MAX)
		return attest_fail(ATTEST_E_PARSE, "time outside 0..2^53");
	if (h->depth < 0 || h->depth > ATTEST_INTENT_MAX_DEPTH)
		return attest_fail(ATTEST_E_PARSE, "depth outside 0..%d", ATTEST_INTENT_MAX_DEPTH);
	if (h->grant) {
		if (!text_ok(h->sub, ATTEST_INTENT_ITEM_MAX, 0))
			return attest_fail(ATTEST_E_PARSE,
					   "\"sub\" is not 1..%d bytes without control characters",
					   ATTEST_INTENT_ITEM_MAX);
		if (!item_ok(h->jti, JTI_MAX, 0))
			return attest_fail(ATTEST_E_PARSE,
					   "\"jti\" is not 1..%d printable non-space bytes without '*'",
					   JTI_MAX);
	} else {
		if (h->nonce == NULL || strlen(h->nonce) != NONCE_B64_LEN)
			return attest_fail(ATTEST_E_PARSE, "\"nonce\" is not %d base64url characters",
					   NONCE_B64_LEN);
	}
	return ATTEST_OK;
}

/* ---- parsing ---- */

static int json_int(const cJSON *obj, const char *key, int64_t max, int64_t *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	double v;

	if (it == NULL)
		return attest_fail(ATTEST_E_PARSE, "missing field \"%s\"", key);
	if (!cJSON_IsNumber(it))
		return attest_fail(ATTEST_E_PARSE, "field \"%s\" is not a number", key);
	v = it->valuedouble;
	if (!(v >= 0 && v <= (double)max))
		return attest_fail(ATTEST_E_PARSE, "field \"%s\" outside 0..%lld", key, (long long)max);
	*out = (int64_t)v;
	if ((double)*out != v)
		return attest_fail(ATTEST_E_PARSE, "field \"%s\" is not an integer", key);
	return ATTEST_OK;
}

static int json_list(const cJSON *obj, const char *key, struct list *l)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key), *it;

	l->n = 0;
	if (a == NULL)
		return attest_fail(ATTEST_E_PARSE, "missing field \"%s\"", key);
	if (!cJSON_IsArray(a))
		return attest_fail(ATTEST_E_PARSE, "field \"%s\" is not an array", key);
	cJSON_ArrayForEach(it, a)
	{
		if (l->n == ATTEST_INTENT_LIST_MAX)
			return attest_fail(ATTEST_E_TOO_LARGE, "field \"%s\" has over %d entries", key,
					   ATTEST_INTENT_LIST_MAX);
		if (!cJSON_IsString(it) || it->valuestring == NULL)
			return attest_fail(ATTEST_E_PARSE, "field \"%s\" holds a non-string", key);
		l->v[l->n++] = it->valuestring;
	}
	return ATTEST_OK;
}

static int json_purpose(const cJSON *obj, struct hop *h)
{
	static const char *const keys[] = { "code", "text", NULL };
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(obj, "purpose");
	const char *code;
	int r;

	if (p == NULL || !cJSON_IsObject(p))
		return attest_fail(ATTEST_E_PARSE, "field \"purpose\" missing or not an object");
	if ((r = attest_json_only(p, keys)) != ATTEST_OK ||
	    (r = attest_json_str(p, "code", 32, &code)) != ATTEST_OK ||
	    (r = attest_json_str(p, "text", ATTEST_INTENT_ITEM_MAX, &h->ptext)) != ATTEST_OK)
		return at(r, "purpose");
	for (size_t i = 1; i < PURPOSE_COUNT; i++)
		if (strcmp(code, purpose_names[i]) == 0) {
			h->purpose = (enum attest_purpose)i;
			return ATTEST_OK;
		}
	return attest_fail(ATTEST_E_PARSE, "unknown purpose code \"%.32s\"", code);
}

static int parse_x5c(const cJSON *hdr, struct hop *h)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(hdr, "x5c"), *it;
	uint8_t *der = NULL;
	size_t len = 0;
	char *again = NULL;
	int r;

	if (a == NULL || !cJSON_IsArray(a))
		return attest_fail(ATTEST_E_PARSE, "delegation header: \"x5c\" missing or not an array");
	if ((h->x5c = sk_X509_new_null()) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "x5c");
	cJSON_ArrayForEach(it, a)
	{
		const unsigned char *p;
		X509 *c;

		if (sk_X509_num(h->x5c) == X5C_MAX)
			return attest_fail(ATTEST_E_TOO_LARGE, "x5c holds over %d certificates", X5C_MAX);
		if (!cJSON_IsString(it) || it->valuestring == NULL)
			return attest_fail(ATTEST_E_PARSE, "x5c entry is not a string");
		/* Standard base64 with padding (RFC 7515 section 4.1.6),
		 * canonical. */
		if ((r = attest_b64_decode(it->valuestring, strlen(it->valuestring), CERT_MAX, &der,
					   &len)) != ATTEST_OK)
			return at(r, "x5c entry");
		if ((r = attest_b64_encode(der, len, &again)) != ATTEST_OK)
			goto out;
		if (strcmp(again, it->valuestring) != 0) {
			r = attest_fail(ATTEST_E_PARSE, "x5c entry is not canonical base64");
			goto out;
		}
		p = der;
		if ((c = d2i_X509(NULL, &p, (long)len)) == NULL || p != der + len) {
			X509_free(c);
			ERR_clear_error();
			r = attest_fail(ATTEST_E_PARSE, "x5c entry is not one DER certificate");
			goto out;
		}
		if (!sk_X509_push(h->x5c, c)) {
			X509_free(c);
			r = attest_fail(ATTEST_E_NOMEM, "x5c");
			goto out;
		}
		free(again);
		free(der);
		again = NULL;
		der = NULL;
	}
	if (sk_X509_num(h->x5c) == 0)
		return attest_fail(ATTEST_E_PARSE, "x5c is empty");
	return ATTEST_OK;
out:
	free(again);
	free(der);
	return r;
}

static int parse_header(const uint8_t *buf, size_t len, struct hop *h)
{
	static const char *const gkeys[] = { "alg", "typ", NULL };
	static const char *const dkeys[] = { "alg", "typ", "x5c", NULL };
	cJSON *hdr = NULL;
	const char *alg, *typ;
	int r;

	if ((r = attest_json_parse(buf, len, ATTEST_INTENT_TOKEN_MAX, &hdr)) != ATTEST_OK)
		return at(r, "header");
	if ((r = attest_json_str(hdr, "alg", 16, &alg)) != ATTEST_OK) {
		r = at(r, "header");
		goto out;
	}
	if (strcmp(alg, "ES256") != 0) {
		r = attest_fail(ATTEST_E_PARSE, "header: alg \"%.16s\" not allowed: only ES256", alg);
		goto out;
	}
	if ((r = attest_json_str(hdr, "typ", 32, &typ)) != ATTEST_OK) {
		r = at(r, "header");
		goto out;
	}
	if (strcmp(typ, TYP_GRANT) == 0) {
		h->grant = 1;
	} else if (strcmp(typ, TYP_DELEGATION) == 0) {
		h->grant = 0;
	} else {
		r = attest_fail(ATTEST_E_PARSE, "header: typ \"%.32s\" is neither " TYP_GRANT
				" nor " TYP_DELEGATION, typ);
		goto out;
	}
	if ((r = attest_json_only(hdr, h->grant ? gkeys : dkeys)) != ATTEST_OK) {
		r = at(r, "header");
		goto out;
	}
	r = h->grant ? ATTEST_OK : parse_x5c(hdr, h);
out:
	cJSON_Delete(hdr);
	return r;
}

static int parse_payload(const uint8_t *buf, size_t len, struct hop *h)
{
	static const char *const gkeys[] = { "iss", "sub", "aud", "purpose", "scopes", "resources",
					     "jti", "iat", "nbf", "exp", "max_depth", NULL };
	static const char *const dkeys[] = { "iss", "aud", "scopes", "resources", "purpose", "iat",
					     "exp", "depth", "nonce", "prev", NULL };
	const cJSON *o;
	int r;

	if ((r = attest_json_parse(buf, len, ATTEST_INTENT_TOKEN_MAX, &h->payload)) != ATTEST_OK)
		return at(r, "payload");
	o = h->payload;
	if ((r = attest_json_only(o, h->grant ? gkeys : dkeys)) != ATTEST_OK ||
	    (r = attest_json_str(o, "iss", ATTEST_AGENT_ID_MAX, &h->iss)) != ATTEST_OK ||
	    (r = attest_json_str(o, "aud", ATTEST_AGENT_ID_MAX, &h->aud)) != ATTEST_OK ||
	    (r = json_purpose(o, h)) != ATTEST_OK || (r = json_list(o, "scopes", &h->scopes)) != ATTEST_OK ||
	    (r = json_list(o, "resources", &h->resources)) != ATTEST_OK ||
	    (r = json_int(o, "iat", NUM_MAX, &h->iat)) != ATTEST_OK ||
	    (r = json_int(o, "exp", NUM_MAX, &h->exp)) != ATTEST_OK)
		return at(r, "payload");
	if (h->grant) {
		if ((r = attest_json_str(o, "sub", ATTEST_INTENT_ITEM_MAX, &h->sub)) != ATTEST_OK ||
		    (r = attest_json_str(o, "jti", JTI_MAX, &h->jti)) != ATTEST_OK ||
		    (r = json_int(o, "nbf", NUM_MAX, &h->nbf)) != ATTEST_OK ||
		    (r = json_int(o, "max_depth", ATTEST_INTENT_MAX_DEPTH, &h->depth)) != ATTEST_OK)
			return at(r, "payload");
	} else {
		if ((r = json_int(o, "depth", ATTEST_INTENT_MAX_DEPTH, &h->depth)) != ATTEST_OK ||
		    (r = attest_json_str(o, "nonce", NONCE_B64_LEN, &h->nonce)) != ATTEST_OK ||
		    (r = attest_json_str(o, "prev", PREV_B64_LEN, &h->prev)) != ATTEST_OK)
			return at(r, "payload");
		h->nbf = h->iat;
	}
	if ((r = hop_fields_ok(h)) != ATTEST_OK)
		return at(r, "payload");
	if (!h->grant) {
		uint8_t *n = NULL;
		size_t nl = 0;

		if ((r = attest_b64url_decode(h->nonce, strlen(h->nonce), NONCE_LEN, &n, &nl)) != ATTEST_OK)
			return at(r, "payload: nonce");
		free(n);
		if (nl != NONCE_LEN)
			return attest_fail(ATTEST_E_PARSE, "payload: nonce is not %d bytes", NONCE_LEN);
		if ((r = attest_b64url_decode(h->prev, strlen(h->prev), 32, &n, &nl)) != ATTEST_OK)
			return at(r, "payload: prev");
		free(n);
		if (nl != 32)
			return attest_fail(ATTEST_E_PARSE, "payload: prev is not a SHA-256 (32 bytes)");
	}
	return ATTEST_OK;
}

/* One JWS compact token of len bytes at tok: three non-empty base64url
 * segments. */
static int parse_token(const char *tok, size_t len, struct hop *h)
{
	struct attest_jws_parts jp;
	uint8_t *buf = NULL;
	size_t blen = 0;
	int r;

	memset(h, 0, sizeof(*h));
	h->tok = tok;
	h->len = len;
	if ((r = attest_jws_split(tok, len, &jp)) != ATTEST_OK)
		return r;
	h->signed_len = jp.signed_len;
	if ((r = attest_b64url_decode(jp.hdr, jp.hdr_len, ATTEST_INTENT_TOKEN_MAX, &buf, &blen)) !=
	    ATTEST_OK)
		return at(r, "header");
	r = parse_header(buf, blen, h);
	free(buf);
	buf = NULL;
	if (r != ATTEST_OK)
		return r;
	if ((r = attest_b64url_decode(jp.payload, jp.payload_len, ATTEST_INTENT_TOKEN_MAX, &buf,
				      &blen)) != ATTEST_OK)
		return at(r, "payload");
	r = parse_payload(buf, blen, h);
	free(buf);
	if (r != ATTEST_OK)
		return r;
	return attest_jws_sig(&jp, h->sig);
}

static void hop_clear(struct hop *h)
{
	cJSON_Delete(h->payload);
	sk_X509_pop_free(h->x5c, X509_free);
	memset(h, 0, sizeof(*h));
}

static void parsed_clear(struct parsed *p)
{
	for (unsigned i = 0; i < HOPS; i++)
		hop_clear(&p->h[i]);
	p->n = 0;
}

static const char *hop_name(unsigned k, char buf[32])
{
	if (k == 0)
		snprintf(buf, 32, "grant");
	else
		snprintf(buf, 32, "delegation %u", k);
	return buf;
}

/* base64url SHA-256 of the len bytes at tok (a delegation's "prev"). */
static int prev_hash(const char *tok, size_t len, char **out)
{
	uint8_t md[32];

	*out = NULL;
	if (EVP_Digest(tok, len, md, NULL, EVP_sha256(), NULL) != 1)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "SHA-256 of a token");
	return attest_b64url_encode(md, sizeof(md), out);
}

/* Split a chain GRANT ['~' DELEGATION]... into its tokens, parse each, and
 * check that each delegation's prev is the hash of the token before it. */
static int unwrap(const char *token, struct parsed *p)
{
	const char *cur = token, *end;
	size_t total, parts = 1;
	int r = ATTEST_OK;

	memset(p, 0, sizeof(*p));
	if ((total = strnlen(token, ATTEST_INTENT_TOKEN_MAX + 1)) > ATTEST_INTENT_TOKEN_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "token over %d bytes", ATTEST_INTENT_TOKEN_MAX);
	for (size_t i = 0; i < total; i++)
		parts += token[i] == SEP;
	if (parts > HOPS)
		return attest_fail(ATTEST_E_INTENT_DEPTH, "more than %d delegations",
				   ATTEST_INTENT_MAX_DEPTH);
	for (unsigned n = 0; n < parts; n++) {
		struct hop *h = &p->h[n];
		char where[32], *want = NULL;

		end = n + 1 < parts ? strchr(cur, SEP) : token + total;
		p->n = n + 1;
		hop_name(n, where);
		if ((r = parse_token(cur, (size_t)(end - cur), h)) != ATTEST_OK) {
			r = at(r, where);
			goto fail;
		}
		if (h->grant != (n == 0)) {
			r = attest_fail(ATTEST_E_PARSE, n == 0 ? "a chain starts with a grant"
							       : "%s is a grant; only the first token may be",
					where);
			goto fail;
		}
		if (n > 0) {
			const struct hop *before = &p->h[n - 1];

			if ((r = prev_hash(before->tok, before->len, &want)) != ATTEST_OK)
				goto fail;
			if (strcmp(want, h->prev) != 0) {
				free(want);
				r = attest_fail(ATTEST_E_INTENT_CHAIN,
						"%s does not follow the token before it (prev is not its SHA-256)",
						where);
				goto fail;
			}
			free(want);
		}
		cur = end + 1;
	}
	return ATTEST_OK;
fail:
	parsed_clear(p);
	return r;
}

/* ---- narrowing ---- */

static int in_list(const struct list *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return 1;
	return 0;
}

/* A pattern is within a parent pattern if equal, or if the parent ends in
 * '*' and the pattern starts with the parent's text before the '*'. */
static int resource_within(const char *const *v, size_t n_patterns, const char *s)
{
	for (size_t i = 0; i < n_patterns; i++) {
		const char *p = v[i];
		size_t n = strlen(p);

		if (strcmp(p, s) == 0 || (n > 0 && p[n - 1] == '*' && strncmp(p, s, n - 1) == 0))
			return 1;
	}
	return 0;
}

/* The rules between a parent and its child delegation (k = the child's
 * position, 1..3); grant is the chain's grant. */
static int check_hop(const struct hop *grant, const struct hop *parent, const struct hop *ch,
		     unsigned k)
{
	char pn[32], cn[32];

	hop_name(k - 1, pn);
	hop_name(k, cn);
	if (strcmp(parent->aud, ch->iss) != 0)
		return attest_fail(ATTEST_E_INTENT_CHAIN,
				   "%s is issued by %.300s but its parent (%s) is addressed to %.300s", cn,
				   ch->iss, pn, parent->aud);
	if (ch->purpose != parent->purpose || strcmp(ch->ptext, parent->ptext) != 0)
		return attest_fail(ATTEST_E_INTENT_PURPOSE, "%s changes the purpose %s \"%.100s\" to %s \"%.100s\"",
				   cn, purpose_names[parent->purpose], parent->ptext,
				   purpose_names[ch->purpose], ch->ptext);
	if (parent->depth == 0)
		return attest_fail(ATTEST_E_INTENT_DEPTH, "%s delegates but %s allows no further delegation",
				   cn, pn);
	if (ch->depth != parent->depth - 1)
		return attest_fail(ATTEST_E_INTENT_DEPTH, "%s claims remaining depth %lld, its parent leaves %lld",
				   cn, (long long)ch->depth, (long long)(parent->depth - 1));
	for (size_t i = 0; i < ch->scopes.n; i++)
		if (!in_list(&parent->scopes, ch->scopes.v[i]))
			return attest_fail(ATTEST_E_INTENT_WIDENED, "%s adds scope \"%.256s\"", cn,
					   ch->scopes.v[i]);
	for (size_t i = 0; i < ch->resources.n; i++)
		if (!resource_within(parent->resources.v, parent->resources.n, ch->resources.v[i]))
			return attest_fail(ATTEST_E_INTENT_WIDENED,
					   "%s resource \"%.256s\" is not within %s's resources", cn,
					   ch->resources.v[i], pn);
	if (ch->exp > parent->exp)
		return attest_fail(ATTEST_E_INTENT_LIFETIME, "%s expires at %lld, after %s (%lld)", cn,
				   (long long)ch->exp, pn, (long long)parent->exp);
	if (ch->iat < parent->iat || ch->iat < grant->nbf || ch->iat >= parent->exp)
		return attest_fail(ATTEST_E_INTENT_EXPIRED,
				   "%s issued at %lld, outside %s's validity (issued %lld, valid from %lld until %lld)",
				   cn, (long long)ch->iat, pn, (long long)parent->iat,
				   (long long)grant->nbf, (long long)parent->exp);
	return ATTEST_OK;
}

/* exp within the delegator's leaf (k = the delegation's position). */
static int check_leaf_expiry(X509 *leaf, const struct hop *h, unsigned k)
{
	int64_t na = 0;
	int r;

	if ((r = attest_asn1_time_unix(X509_get0_notAfter(leaf), &na)) != ATTEST_OK)
		return r;
	if (h->exp > na)
		return attest_fail(ATTEST_E_INTENT_LIFETIME,
				   "delegation %u expires at %lld, after its delegator's leaf (notAfter %lld)",
				   k, (long long)h->exp, (long long)na);
	return ATTEST_OK;
}

/* ---- making ---- */

/* The delegator of hop k of a chain of n delegations started n - (k - 1)
 * of them; its leaf's delegation rights (the registration's
 * delegate_depth, which attestd writes into every leaf) must allow that. */
static int check_rights(X509 *leaf, unsigned k, unsigned n)
{
	int d, r;

	if ((r = attest_x509_delegate_depth(leaf, &d)) != ATTEST_OK)
		return attest_fail(ATTEST_E_INTENT_DEPTH,
				   "delegation %u: the x5c leaf states no delegation rights (%s)", k,
				   attest_errname(r));
	if ((unsigned)d < n - (k - 1))
		return attest_fail(ATTEST_E_INTENT_DEPTH,
				   "delegation %u: its delegator may start %d delegation hop(s); %u follow it",
				   k, d, n - (k - 1));
	return ATTEST_OK;
}

static int fill_list(struct list *l, const char *const *v, size_t n, const char *what)
{
	if (n > ATTEST_INTENT_LIST_MAX || (n > 0 && v == NULL))
		return attest_fail(ATTEST_E_INVALID_ARG, "%zu %s: at most %d", n, what,
				   ATTEST_INTENT_LIST_MAX);
	for (size_t i = 0; i < n; i++)
		l->v[i] = v[i];
	l->n = n;
	return ATTEST_OK;
}

static int add_list(cJSON *o, const char *key, const struct list *l)
{
	cJSON *a = cJSON_AddArrayToObject(o, key);

	if (a == NULL)
		return attest_fail(ATTEST_E_NOMEM, "JSON");
	for (size_t i = 0; i < l->n; i++) {
		cJSON *s = cJSON_CreateString(l->v[i]);

		if (s == NULL || !cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			return attest_fail(ATTEST_E_NOMEM, "JSON");
		}
	}
	return ATTEST_OK;
}

static int add_num(cJSON *o, const char *key, int64_t v)
{
	if (cJSON_AddNumberToObject(o, key, (double)v) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "JSON");
	return ATTEST_OK;
}

static int add_purpose(cJSON *o, const struct hop *h)
{
	cJSON *p = cJSON_AddObjectToObject(o, "purpose");
	int r;

	if (p == NULL)
		return attest_fail(ATTEST_E_NOMEM, "JSON");
	if ((r = attest_json_add_str(p, "code", purpose_names[h->purpose])) != ATTEST_OK ||
	    (r = attest_json_add_str(p, "text", h->ptext)) != ATTEST_OK)
		return r;
	return ATTEST_OK;
}

static int print_json(const cJSON *o, char **out)
{
	return attest_json_print(o, out, NULL);
}

int attest_intent_grant_make(EVP_PKEY *issuer_key, const char *iss, const struct attest_intent_claims *c,
			     char **token)
{
	struct hop h;
	cJSON *o = NULL;
	char *payload = NULL;
	int r;

	if (token == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "intent grant: NULL argument");
	*token = NULL;
	if (issuer_key == NULL || iss == NULL || c == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "intent grant: NULL argument");
	if (!attest_es256_key_ok(issuer_key))
		return attest_fail(ATTEST_E_INVALID_ARG, "intent grant: issuer key is not EC P-256");
	memset(&h, 0, sizeof(h));
	h.grant = 1;
	h.iss = iss;
	h.sub = c->sub;
	h.aud = c->aud;
	h.purpose = c->purpose;
	h.ptext = c->purpose_text;
	h.jti = c->jti;
	h.iat = c->iat;
	h.nbf = c->nbf;
	h.exp = c->exp;
	h.depth = c->max_depth;
	if ((r = fill_list(&h.scopes, c->scopes, c->nscopes, "scopes")) != ATTEST_OK ||
	    (r = fill_list(&h.resources, c->resources, c->nresources, "resources")) != ATTEST_OK)
		return r;
	if ((r = hop_fields_ok(&h)) != ATTEST_OK)
		return attest_fail_wrap(ATTEST_E_INVALID_ARG, "intent grant");
	if (h.nbf >= h.exp || h.iat > h.exp)
		return attest_fail(ATTEST_E_INVALID_ARG, "intent grant: want nbf < exp and iat <= exp");
	if ((o = cJSON_CreateObject()) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "JSON");
		goto out;
	}
	if ((r = attest_json_add_str(o, "iss", h.iss)) != ATTEST_OK ||
	    (r = attest_json_add_str(o, "sub", h.sub)) != ATTEST_OK ||
	    (r = attest_json_add_str(o, "aud", h.aud)) != ATTEST_OK || (r = add_purpose(o, &h)) != ATTEST_OK ||
	    (r = add_list(o, "scopes", &h.scopes)) != ATTEST_OK ||
	    (r = add_list(o, "resources", &h.resources)) != ATTEST_OK ||
	    (r = attest_json_add_str(o, "jti", h.jti)) != ATTEST_OK || (r = add_num(o, "iat", h.iat)) != ATTEST_OK ||
	    (r = add_num(o, "nbf", h.nbf)) != ATTEST_OK || (r = add_num(o, "exp", h.exp)) != ATTEST_OK ||
	    (r = add_num(o, "max_depth", h.depth)) != ATTEST_OK || (r = print_json(o, &payload)) != ATTEST_OK)
		goto out;
	r = attest_jws_sign(issuer_key, HDR_GRANT, payload, ATTEST_INTENT_TOKEN_MAX, token);
out:
	free(payload);
	cJSON_Delete(o);
	return r;
}

/* A CA with neither an agent ID nor a host ID: the fleet's issuing CA (or
 * the root), above the host CA. */
static int is_issuing_ca(X509 *c)
{
	char *v = NULL;
	int a, h;

	if (X509_check_ca(c) == 0)
		return 0;
	a = attest_x509_ext_utf8(c, ATTEST_OID_AGENT_ID, &v);
	free(v);
	v = NULL;
	h = attest_x509_ext_utf8(c, ATTEST_OID_HOST_ID, &v);
	free(v);
	attest_errclear();
	return a == ATTEST_E_NOT_FOUND && h == ATTEST_E_NOT_FOUND;
}

/* {"alg":"ES256","typ":"attest-delegation+jws","x5c":[...]}: the chain's
 * certificates, leaf first, a self-signed root left out. */
static int delegation_header(STACK_OF(X509) *chain, char **out)
{
	cJSON *o = NULL, *a;
	unsigned char *der = NULL;
	char *b64 = NULL;
	int n = sk_X509_num(chain), r;

	*out = NULL;
	if ((o = cJSON_CreateObject()) == NULL || (r = attest_json_add_str(o, "alg", "ES256")) != ATTEST_OK ||
	    (r = attest_json_add_str(o, "typ", TYP_DELEGATION)) != ATTEST_OK ||
	    (a = cJSON_AddArrayToObject(o, "x5c")) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "JSON");
		goto out;
	}
	/* x5c ends at the host CA: the root and the issuing CA above it are
	 * the verifier's to know (attest_intent_trust_add_intermediate) */
	while (n > 1 && (X509_self_signed(sk_X509_value(chain, n - 1), 0) == 1 ||
			 is_issuing_ca(sk_X509_value(chain, n - 1))))
		n--;
	ERR_clear_error();
	if (n > X5C_MAX) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "leaf chain of %d certificates: at most %d", n, X5C_MAX);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		int len = i2d_X509(sk_X509_value(chain, i), &der);
		cJSON *s;

		if (len <= 0 || len > CERT_MAX) {
			r = attest_fail_ossl(ATTEST_E_INVALID_ARG, "leaf chain certificate %d", i);
			goto out;
		}
		if ((r = attest_b64_encode(der, (size_t)len, &b64)) != ATTEST_OK)
			goto out;
		if ((s = cJSON_CreateString(b64)) == NULL || !cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			r = attest_fail(ATTEST_E_NOMEM, "JSON");
			goto out;
		}
		OPENSSL_free(der);
		free(b64);
		der = NULL;
		b64 = NULL;
	}
	r = print_json(o, out);
out:
	OPENSSL_free(der);
	free(b64);
	cJSON_Delete(o);
	return r;
}

int attest_intent_delegate(EVP_PKEY *leaf_key, STACK_OF(X509) *leaf_chain, const char *parent_token,
			   const struct attest_delegation_claims *c, char **token)
{
	struct parsed p;
	struct hop h;
	const struct hop *parent;
	X509 *leaf;
	char *iss = NULL, *nonce = NULL, *header = NULL, *payload = NULL, *prev = NULL, *jws = NULL;
	uint8_t raw[NONCE_LEN];
	size_t n;
	cJSON *o = NULL;
	int64_t nb = 0;
	int r;

	memset(&p, 0, sizeof(p));
	if (token == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "delegation: NULL argument");
	*token = NULL;
	if (leaf_key == NULL || leaf_chain == NULL || sk_X509_num(leaf_chain) < 1 || parent_token == NULL ||
	    c == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "delegation: NULL argument or empty chain");
	leaf = sk_X509_value(leaf_chain, 0);
	if (!attest_es256_key_ok(leaf_key) || EVP_PKEY_eq(X509_get0_pubkey(leaf), leaf_key) != 1) {
		ERR_clear_error();
		return attest_fail(ATTEST_E_INVALID_ARG, "delegation: key is not the leaf's P-256 key");
	}
	if ((r = attest_x509_one_san_uri(leaf, &iss)) != ATTEST_OK) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "delegation: leaf has no single URI SAN");
		goto out;
	}
	if ((r = unwrap(parent_token, &p)) != ATTEST_OK) {
		r = at(r, "delegation: parent");
		goto out;
	}
	parent = &p.h[p.n - 1];
	memset(&h, 0, sizeof(h));
	h.iss = iss;
	h.aud = c->aud;
	h.purpose = parent->purpose;
	h.ptext = parent->ptext;
	h.iat = h.nbf = c->iat;
	h.exp = c->exp;
	h.depth = parent->depth - 1;
	h.nonce = "AAAAAAAAAAAAAAAAAAAAAA"; /* shape only; the real one below */
	if ((r = fill_list(&h.scopes, c->scopes, c->nscopes, "scopes")) != ATTEST_OK ||
	    (r = fill_list(&h.resources, c->resources, c->nresources, "resources")) != ATTEST_OK)
		goto out;
	if (p.n == HOPS || parent->depth == 0) {
		r = attest_fail(ATTEST_E_INTENT_DEPTH, "delegation: the parent allows no further delegation");
		goto out;
	}
	if ((r = hop_fields_ok(&h)) != ATTEST_OK) {
		r = attest_fail_wrap(ATTEST_E_INVALID_ARG, "delegation");
		goto out;
	}
	if (h.iat > h.exp) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "delegation: iat after exp");
		goto out;
	}
	if ((r = check_hop(&p.h[0], parent, &h, p.n)) != ATTEST_OK ||
	    (r = check_leaf_expiry(leaf, &h, p.n)) != ATTEST_OK ||
	    (r = check_rights(leaf, p.n, p.n)) != ATTEST_OK)
		goto out;
	if ((r = attest_asn1_time_unix(X509_get0_notBefore(leaf), &nb)) != ATTEST_OK)
		goto out;
	if (h.iat < nb) {
		r = attest_fail(ATTEST_E_INTENT_CHAIN, "delegation: iat %lld before the leaf's notBefore %lld",
				(long long)h.iat, (long long)nb);
		goto out;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "delegation nonce");
		goto out;
	}
	if ((r = attest_b64url_encode(raw, sizeof(raw), &nonce)) != ATTEST_OK ||
	    (r = prev_hash(parent->tok, parent->len, &prev)) != ATTEST_OK ||
	    (r = delegation_header(leaf_chain, &header)) != ATTEST_OK)
		goto out;
	if ((o = cJSON_CreateObject()) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "JSON");
		goto out;
	}
	if ((r = attest_json_add_str(o, "iss", h.iss)) != ATTEST_OK ||
	    (r = attest_json_add_str(o, "aud", h.aud)) != ATTEST_OK ||
	    (r = add_list(o, "scopes", &h.scopes)) != ATTEST_OK ||
	    (r = add_list(o, "resources", &h.resources)) != ATTEST_OK || (r = add_purpose(o, &h)) != ATTEST_OK ||
	    (r = add_num(o, "iat", h.iat)) != ATTEST_OK || (r = add_num(o, "exp", h.exp)) != ATTEST_OK ||
	    (r = add_num(o, "depth", h.depth)) != ATTEST_OK ||
	    (r = attest_json_add_str(o, "nonce", nonce)) != ATTEST_OK ||
	    (r = attest_json_add_str(o, "prev", prev)) != ATTEST_OK ||
	    (r = print_json(o, &payload)) != ATTEST_OK ||
	    (r = attest_jws_sign(leaf_key, header, payload, ATTEST_INTENT_TOKEN_MAX, &jws)) != ATTEST_OK)
		goto out;
	/* the chain so far, '~', this delegation */
	n = strlen(parent_token) + 1 + strlen(jws);
	if (n > ATTEST_INTENT_TOKEN_MAX) {
		r = attest_fail(ATTEST_E_TOO_LARGE, "delegation: chain of %zu bytes over cap %d", n,
				ATTEST_INTENT_TOKEN_MAX);
		goto out;
	}
	if ((*token = malloc(n + 1)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "token");
		goto out;
	}
	snprintf(*token, n + 1, "%s%c%s", parent_token, SEP, jws);
out:
	free(jws);
	free(prev);
	cJSON_Delete(o);
	free(payload);
	free(header);
	free(nonce);
	free(iss);
	parsed_clear(&p);
	return r;
}

int attest_intent_from_cert(X509 *leaf, char **chain, char **agent_id)
{
	int r;

	if (chain == NULL || agent_id == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "intent_from_cert: NULL argument");
	*chain = *agent_id = NULL;
	if (leaf == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "intent_from_cert: NULL leaf");
	if ((r = attest_x509_ext_intent(leaf, chain)) != ATTEST_OK)
		return r;
	if ((r = attest_x509_one_san_uri(leaf, agent_id)) != ATTEST_OK) {
		free(*chain);
		*chain = NULL;
	}
	return r;
}

/* ---- trust ---- */

int attest_intent_trust_new(struct attest_intent_trust **out)
{
	if (out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "intent trust: NULL argument");
	if ((*out = calloc(1, sizeof(**out))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "intent trust");
	return ATTEST_OK;
}

int attest_intent_trust_add_issuer(struct attest_intent_trust *t, const char *name, EVP_PKEY *key)
{
	char *copy;

	if (t == NULL || key == NULL || !text_ok(name, ATTEST_INTENT_ITEM_MAX, 0))
		return attest_fail(ATTEST_E_INVALID_ARG, "intent issuer: NULL argument or bad name");
	if (!attest_es256_key_ok(key))
		return attest_fail(ATTEST_E_INVALID_ARG, "intent issuer %.64s: key is not EC P-256", name);
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->iss[i].name, name) == 0)
			return attest_fail(ATTEST_E_EXISTS, "intent issuer %.64s configured twice", name);
	if (t->n == ISSUERS_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "over %d intent issuers", ISSUERS_MAX);
	if ((copy = strdup(name)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "intent issuer");
	if (EVP_PKEY_up_ref(key) != 1) {
		free(copy);
		return attest_fail_ossl(ATTEST_E_CRYPTO, "intent issuer key");
	}
	t->iss[t->n].name = copy;
	t->iss[t->n].key = key;
	t->n++;
	return ATTEST_OK;
}

int attest_intent_trust_set_root(struct attest_intent_trust *t, X509 *fleet_root)
{
	X509_STORE *s;

	if (t == NULL || fleet_root == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "intent trust: NULL argument");
	if ((s = X509_STORE_new()) == NULL || X509_STORE_add_cert(s, fleet_root) != 1) {
		X509_STORE_free(s);
		return attest_fail_ossl(ATTEST_E_CRYPTO, "intent trust: fleet root");
	}
	X509_STORE_free(t->store);
	t->store = s;
	return ATTEST_OK;
}

STACK_OF(X509) *attest_intent_trust_intermediates(const struct attest_intent_trust *t)
{
	return t != NULL ? t->inter : NULL;
}

int attest_intent_trust_add_intermediate(struct attest_intent_trust *t, X509 *ca)
{
	if (t == NULL || ca == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "intent trust: NULL argument");
	if (X509_check_ca(ca) == 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "intent trust: intermediate is not a CA");
	if (t->inter == NULL && (t->inter = sk_X509_new_null()) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "intent trust: intermediates");
	for (int i = 0; i < sk_X509_num(t->inter); i++)
		if (X509_cmp(sk_X509_value(t->inter, i), ca) == 0)
			return ATTEST_OK; /* known */
	if (sk_X509_num(t->inter) >= INTERMEDIATES_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "intent trust: over %d intermediates",
				   INTERMEDIATES_MAX);
	if (X509_up_ref(ca) != 1 || !sk_X509_push(t->inter, ca)) {
		X509_free(ca);
		return attest_fail(ATTEST_E_NOMEM, "intent trust: intermediates");
	}
	return ATTEST_OK;
}

void attest_intent_trust_free(struct attest_intent_trust *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->iss[i].name);
		EVP_PKEY_free(t->iss[i].key);
	}
	X509_STORE_free(t->store);
	sk_X509_pop_free(t->inter, X509_free);
	free(t);
}

/* ---- verification ---- */

/* Delegation k's x5c: verifies to the fleet root as of its iat, obeys the
 * path rule, names the delegator, and its key signed the token. */
static int check_delegator(const struct attest_intent_trust *t, STACK_OF(X509) *extra,
			   const struct hop *h, unsigned k, unsigned n)
{
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *untrusted = NULL;
	X509 *leaf = sk_X509_value(h->x5c, 0);
	char *san = NULL;
	uint32_t ku;
	int r;

	if (t->store == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "no fleet root configured to verify delegations");
	for (int i = 0; i < sk_X509_num(h->x5c); i++)
		if (X509_self_signed(sk_X509_value(h->x5c, i), 0) == 1) {
			ERR_clear_error();
			return attest_fail(ATTEST_E_INTENT_CHAIN,
					   "delegation %u: x5c must not include a self-signed certificate", k);
		}
	if ((untrusted = sk_X509_new_null()) == NULL || (ctx = X509_STORE_CTX_new()) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "x5c");
		goto out;
	}
	for (int i = 1; i < sk_X509_num(h->x5c); i++)
		if (!sk_X509_push(untrusted, sk_X509_value(h->x5c, i))) {
			r = attest_fail(ATTEST_E_NOMEM, "x5c");
			goto out;
		}
	/* the issuing CAs x5c leaves out: only candidates for path
	 * building, every path still ends at the fleet root */
	for (int i = 0; i < sk_X509_num(t->inter); i++)
		if (!sk_X509_push(untrusted, sk_X509_value(t->inter, i))) {
			r = attest_fail(ATTEST_E_NOMEM, "x5c");
			goto out;
		}
	for (int i = 0; i < sk_X509_num(extra); i++)
		if (!sk_X509_push(untrusted, sk_X509_value(extra, i))) {
			r = attest_fail(ATTEST_E_NOMEM, "x5c");
			goto out;
		}
	if (X509_STORE_CTX_init(ctx, t->store, leaf, untrusted) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "x5c");
		goto out;
	}
	X509_STORE_CTX_set_time(ctx, 0, (time_t)h->iat);
	if (X509_verify_cert(ctx) != 1) {
		r = attest_fail(ATTEST_E_INTENT_CHAIN,
				"delegation %u: x5c does not verify to the fleet root as of its iat: %s", k,
				X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		ERR_clear_error();
		goto out;
	}
	if (attest_verify_path(X509_STORE_CTX_get0_chain(ctx)) != ATTEST_OK) {
		r = attest_fail_wrap(ATTEST_E_INTENT_CHAIN, "delegation %u: x5c", k);
		goto out;
	}
	if (attest_x509_one_san_uri(leaf, &san) != ATTEST_OK || strcmp(san, h->iss) != 0) {
		r = attest_fail(ATTEST_E_INTENT_CHAIN, "delegation %u: iss %.300s is not its x5c leaf's ID %.300s",
				k, h->iss, san != NULL ? san : "(none)");
		goto out;
	}
	ku = X509_get_key_usage(leaf);
	if (ku == UINT32_MAX || !(ku & KU_DIGITAL_SIGNATURE) || !attest_es256_key_ok(X509_get0_pubkey(leaf))) {
		r = attest_fail(ATTEST_E_INTENT_CHAIN,
				"delegation %u: x5c leaf is not a P-256 digitalSignature key", k);
		goto out;
	}
	if ((r = attest_es256_verify(X509_get0_pubkey(leaf), h->tok, h->signed_len, h->sig,
				       ATTEST_E_INTENT_SIGNATURE)) != ATTEST_OK) {
		char where[64];

		snprintf(where, sizeof(where), "delegation %u (by its x5c leaf's key)", k);
		r = at(r, where);
		goto out;
	}
	if ((r = check_leaf_expiry(leaf, h, k)) != ATTEST_OK)
		goto out;
	r = check_rights(leaf, k, n);
out:
	free(san);
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	return r;
}

static int check_now(const struct parsed *p, int64_t now)
{
	char n[32];

	for (unsigned k = 0; k < p->n; k++) {
		const struct hop *h = &p->h[k];

		if (h->iat > now + SKEW || h->nbf > now + SKEW)
			return attest_fail(ATTEST_E_INTENT_EXPIRED, "%s not yet valid (issued %lld, valid from %lld, now %lld)",
					   hop_name(k, n), (long long)h->iat, (long long)h->nbf,
					   (long long)now);
		if (now >= h->exp)
			return attest_fail(ATTEST_E_INTENT_EXPIRED, "%s expired at %lld (now %lld)",
					   hop_name(k, n), (long long)h->exp, (long long)now);
	}
	return ATTEST_OK;
}

static int dup_into(char **dst, const char *src)
{
	if ((*dst = strdup(src)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "intent chain");
	return ATTEST_OK;
}

static int build_chain(const struct parsed *p, struct attest_intent_chain **out)
{
	struct attest_intent_chain *c;
	const struct hop *g = &p->h[0], *last = &p->h[p->n - 1];
	struct attest_agent_id id;
	int r;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "intent chain");
	c->purpose = g->purpose;
	c->depth = p->n - 1;
	c->remaining = (unsigned)last->depth;
	c->expiry = g->exp;
	c->issued = g->iat;
	if ((r = dup_into(&c->issuer, g->iss)) != ATTEST_OK || (r = dup_into(&c->user, g->sub)) != ATTEST_OK ||
	    (r = dup_into(&c->jti, g->jti)) != ATTEST_OK || (r = dup_into(&c->ptext, g->ptext)) != ATTEST_OK)
		goto out;
	for (unsigned k = 0; k < p->n; k++) {
		const struct hop *h = &p->h[k];

		if (h->exp < c->expiry)
			c->expiry = h->exp;
		if ((r = dup_into(&c->agent[k], h->aud)) != ATTEST_OK)
			goto out;
		if (attest_agent_id_parse(h->aud, &id) != ATTEST_OK) {
			r = attest_fail(ATTEST_E_INTERNAL, "agent ID parsed before");
			goto out;
		}
		memcpy(c->host[k], id.host, sizeof(c->host[k]));
		if (k > 0 && (r = dup_into(&c->nonce[k], h->nonce)) != ATTEST_OK)
			goto out;
	}
	for (size_t i = 0; i < last->scopes.n; i++, c->nscopes++)
		if ((r = dup_into(&c->scopes[i], last->scopes.v[i])) != ATTEST_OK)
			goto out;
	for (size_t i = 0; i < last->resources.n; i++, c->nresources++)
		if ((r = dup_into(&c->resources[i], last->resources.v[i])) != ATTEST_OK)
			goto out;
	*out = c;
	c = NULL; /* transferred */
	r = ATTEST_OK;
out:
	attest_intent_chain_free(c);
	return r;
}

int attest_intent_verify(const struct attest_intent_trust *t, const char *token, const char *expected_aud,
			 time_t now, struct attest_intent_chain **out)
{
	return attest_intent_verify_with(t, NULL, token, expected_aud, now, out);
}

int attest_intent_verify_with(const struct attest_intent_trust *t, STACK_OF(X509) *extra,
			      const char *token, const char *expected_aud, time_t now,
			      struct attest_intent_chain **out)
{
	struct parsed p;
	const struct hop *g;
	EVP_PKEY *ikey = NULL;
	int r;

	memset(&p, 0, sizeof(p));
	attest_errclear();
	if (out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "intent verify: NULL argument");
	*out = NULL;
	if (t == NULL || token == NULL || expected_aud == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "intent verify: NULL argument");
	/* 1. structure of every token */
	if ((r = unwrap(token, &p)) != ATTEST_OK)
		return r;
	g = &p.h[0];
	/* 2. the grant's issuer and signature */
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->iss[i].name, g->iss) == 0)
			ikey = t->iss[i].key;
	if (ikey == NULL) {
		r = attest_fail(ATTEST_E_INTENT_ISSUER, "grant: issuer \"%.256s\" is not trusted", g->iss);
		goto out;
	}
	if ((r = attest_es256_verify(ikey, g->tok, g->signed_len, g->sig,
				       ATTEST_E_INTENT_SIGNATURE)) != ATTEST_OK) {
		r = at(r, "grant (by its issuer's key)");
		goto out;
	}
	/* 3. each delegator's chain and signature */
	for (unsigned k = 1; k < p.n; k++)
		if ((r = check_delegator(t, extra, &p.h[k], k, p.n - 1)) != ATTEST_OK)
			goto out;
	/* 4. narrowing, on authenticated content */
	for (unsigned k = 1; k < p.n; k++)
		if ((r = check_hop(g, &p.h[k - 1], &p.h[k], k)) != ATTEST_OK)
			goto out;
	/* 5. validity now, and who presents it */
	if ((r = check_now(&p, (int64_t)now)) != ATTEST_OK)
		goto out;
	if (strcmp(p.h[p.n - 1].aud, expected_aud) != 0) {
		r = attest_fail(ATTEST_E_INTENT_AUDIENCE, "token is for %.300s, presented by %.300s",
				p.h[p.n - 1].aud, expected_aud);
		goto out;
	}
	r = build_chain(&p, out);
out:
	parsed_clear(&p);
	return r;
}

/* ---- the verified chain ---- */

void attest_intent_chain_free(struct attest_intent_chain *c)
{
	if (c == NULL)
		return;
	free(c->issuer);
	free(c->user);
	free(c->jti);
	free(c->ptext);
	for (unsigned i = 0; i < HOPS; i++) {
		free(c->agent[i]);
		free(c->nonce[i]);
	}
	for (size_t i = 0; i < c->nscopes; i++)
		free(c->scopes[i]);
	for (size_t i = 0; i < c->nresources; i++)
		free(c->resources[i]);
	free(c);
}

const char *attest_intent_chain_user(const struct attest_intent_chain *c) { return c ? c->user : NULL; }
const char *attest_intent_chain_issuer(const struct attest_intent_chain *c) { return c ? c->issuer : NULL; }
const char *attest_intent_chain_jti(const struct attest_intent_chain *c) { return c ? c->jti : NULL; }
unsigned attest_intent_chain_depth(const struct attest_intent_chain *c) { return c ? c->depth : 0; }
unsigned attest_intent_chain_remaining(const struct attest_intent_chain *c) { return c ? c->remaining : 0; }
int64_t attest_intent_chain_expiry(const struct attest_intent_chain *c) { return c ? c->expiry : 0; }
int64_t attest_intent_chain_issued(const struct attest_intent_chain *c) { return c ? c->issued : 0; }

enum attest_purpose attest_intent_chain_purpose(const struct attest_intent_chain *c, const char **text)
{
	if (text != NULL)
		*text = c ? c->ptext : NULL;
	return c ? c->purpose : ATTEST_PURPOSE_OTHER;
}

const char *attest_intent_chain_agent(const struct attest_intent_chain *c, unsigned i, const char **host)
{
	if (host != NULL)
		*host = NULL;
	if (c == NULL || i > c->depth)
		return NULL;
	if (host != NULL)
		*host = c->host[i];
	return c->agent[i];
}

const char *attest_intent_chain_nonce(const struct attest_intent_chain *c, unsigned i)
{
	if (c == NULL || i == 0 || i > c->depth)
		return NULL;
	return c->nonce[i];
}

size_t attest_intent_chain_scopes(const struct attest_intent_chain *c, const char *const **out)
{
	*out = c ? (const char *const *)c->scopes : NULL;
	return c ? c->nscopes : 0;
}

int attest_intent_chain_allows_resource(const struct attest_intent_chain *c, const char *res)
{
	if (c == NULL || res == NULL)
		return 0;
	return c->nresources == 0 ||
	       resource_within((const char *const *)c->resources, c->nresources, res);
}

size_t attest_intent_chain_resources(const struct attest_intent_chain *c, const char *const **out)
{
	*out = c ? (const char *const *)c->resources : NULL;
	return c ? c->nresources : 0;
}

struct sbuf {
	char *p;
	size_t len, cap;
	int err;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len) {
		size_t want = b->len + (n < 0 ? 0 : (size_t)n) + 1;
		char *np;

		if (n < 0 || want > DESCRIBE_MAX || (np = realloc(b->p, want + 256)) == NULL) {
			b->err = 1;
			return;
		}
		b->p = np;
		b->cap = want + 256;
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = 1;
			return;
		}
	}
	b->len += (size_t)n;
}

static void sb_list(struct sbuf *b, const char *label, char *const *v, size_t n)
{
	sb_add(b, "  %-10s", label);
	if (n == 0)
		sb_add(b, " (none)");
	for (size_t i = 0; i < n; i++)
		sb_add(b, " %s", v[i]);
	sb_add(b, "\n");
}

int attest_intent_chain_describe(const struct attest_intent_chain *c, char **out)
{
	struct sbuf b = { NULL, 0, 0, 0 };
	struct tm tm;
	time_t exp;
	char when[32] = "?";

	if (out == NULL || c == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "intent describe: NULL argument");
	*out = NULL;
	if ((b.p = malloc(1024)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "intent describe");
	b.cap = 1024;
	b.p[0] = '\0';
	exp = (time_t)c->expiry;
	if (gmtime_r(&exp, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	sb_add(&b, "intent of user %s, granted by %s\n", c->user, c->issuer);
	sb_add(&b, "  %-10s %s%s%s\n", "purpose:", purpose_names[c->purpose], c->ptext[0] ? ": " : "",
	       c->ptext);
	sb_add(&b, "  %-10s %s\n", "task:", c->jti);
	for (unsigned i = 0; i <= c->depth; i++) {
		sb_add(&b, "  agent %u:   %s on host %s", i, c->agent[i], c->host[i]);
		if (i == 0)
			sb_add(&b, " (granted by the user)\n");
		else
			sb_add(&b, " (delegated by agent %u)\n", i - 1);
	}
	sb_list(&b, "scopes:", c->scopes, c->nscopes);
	sb_list(&b, "resources:", c->resources, c->nresources);
	sb_add(&b, "  %-10s %u delegation%s used, %u more allowed\n", "depth:", c->depth,
	       c->depth == 1 ? "" : "s", c->remaining);
	sb_add(&b, "  %-10s %s\n", "expires:", when);
	if (b.err) {
		free(b.p);
		return attest_fail(ATTEST_E_TOO_LARGE, "intent description over %d bytes", DESCRIBE_MAX);
	}
	*out = b.p;
	return ATTEST_OK;
}
