/* refset.c - operator-signed reference-value sets (see refset.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/err.h"
#include "core/num.h"
#include "core/json.h"
#include "core/jws.h"
#include "attestation/refset.h"

#define HEADER_MAX 256

struct attest_refset {
	char name[ATTEST_REFSET_NAME_MAX + 1];
	char kid[ATTEST_REFSET_KID_MAX + 1];
	uint64_t not_after;
	uint32_t mask;
	uint8_t values[24][32];
	uint32_t allow_mask;
	uint8_t (*allow[24])[32]; /* sorted */
	size_t nallow[24];
};

void attest_refset_free(struct attest_refset *s)
{
	if (s == NULL)
		return;
	for (unsigned i = 0; i < 24; i++)
		free(s->allow[i]);
	free(s);
}

int attest_refset_kid_ok(const char *kid)
{
	size_t n;

	if (kid == NULL || (n = strnlen(kid, ATTEST_REFSET_KID_MAX + 1)) == 0 ||
	    n > ATTEST_REFSET_KID_MAX || kid[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = kid[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* "0".."23", canonical decimal (attest_parse_u64). */
static int pcr_key(const char *k, unsigned *pcr)
{
	uint64_t v;

	if (attest_parse_u64(k, 0, 23, &v) != ATTEST_OK)
		return 0;
	*pcr = (unsigned)v;
	return 1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly 64 hex digits (either case) into 32 bytes. */
static int hex32(const cJSON *item, uint8_t out[32])
{
	const char *s;

	if (!cJSON_IsString(item) || (s = item->valuestring) == NULL || strnlen(s, 65) != 64)
		return 0;
	for (size_t i = 0; i < 32; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return 0;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 1;
}

static int cmp32(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static int parse_allowlist(const cJSON *el, struct attest_refset *s)
{
	size_t total = 0;
	const cJSON *pc, *d;

	if (!cJSON_IsObject(el))
		return attest_fail(ATTEST_E_PARSE, "refset: \"eventlog\" is not an object");
	cJSON_ArrayForEach(pc, el) {
		unsigned pcr;
		size_t n = 0, k = 0;

		if (!pcr_key(pc->string, &pcr))
			return attest_fail(ATTEST_E_PARSE, "refset: eventlog key \"%.8s\" is not a PCR 0..23",
					   pc->string);
		if (!cJSON_IsArray(pc))
			return attest_fail(ATTEST_E_PARSE, "refset: eventlog PCR %u is not an array", pcr);
		cJSON_ArrayForEach(d, pc)
			n++;
		total += n;
		if (total > ATTEST_REFSET_DIGESTS_MAX)
			return attest_fail(ATTEST_E_TOO_LARGE, "refset: over %d allowlist digests",
					   ATTEST_REFSET_DIGESTS_MAX);
		if (n > 0 && (s->allow[pcr] = calloc(n, 32)) == NULL)
			return attest_fail(ATTEST_E_NOMEM, "refset: allowlist");
		cJSON_ArrayForEach(d, pc) {
			if (!hex32(d, s->allow[pcr][k]))
				return attest_fail(ATTEST_E_PARSE,
						   "refset: eventlog PCR %u entry %zu is not 64 hex digits",
						   pcr, k);
			k++;
		}
		if (n > 1)
			qsort(s->allow[pcr], n, 32, cmp32);
		for (size_t i = 1; i < n; i++)
			if (memcmp(s->allow[pcr][i - 1], s->allow[pcr][i], 32) == 0)
				return attest_fail(ATTEST_E_PARSE,
						   "refset: eventlog PCR %u lists a digest twice", pcr);
		s->nallow[pcr] = n;
		s->allow_mask |= 1u << pcr;
	}
	return ATTEST_OK;
}

/* The payload JSON into a new set (no signature involved). */
static int parse_payload(const void *buf, size_t len, struct attest_refset **out)
{
	static const char *const keys[] = { "version", "name", "pcrs", "eventlog", "not_after", NULL };
	struct attest_refset *s = NULL;
	cJSON *root = NULL;
	const cJSON *pcrs, *pc, *el;
	const char *str;
	int r;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "refset");
		goto out;
	}
	if ((r = attest_json_parse(buf, len, ATTEST_REFSET_TOKEN_MAX, &root)) != ATTEST_OK)
		goto out;
	if (!cJSON_IsObject(root)) {
		r = attest_fail(ATTEST_E_PARSE, "refset: payload is not a JSON object");
		goto out;
	}
	if ((r = attest_json_only(root, keys)) != ATTEST_OK ||
	    (r = attest_json_str(root, "version", 8, &str)) != ATTEST_OK)
		goto out;
	if (strcmp(str, "1") != 0) {
		r = attest_fail(ATTEST_E_PARSE, "refset: version \"%.8s\", expected \"1\"", str);
		goto out;
	}
	if ((r = attest_json_str(root, "name", ATTEST_REFSET_NAME_MAX, &str)) != ATTEST_OK)
		goto out;
	if (str[0] == '\0') {
		r = attest_fail(ATTEST_E_PARSE, "refset: empty name");
		goto out;
	}
	for (const char *c = str; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e) {
			r = attest_fail(ATTEST_E_PARSE, "refset: name is not printable ASCII");
			goto out;
		}
	snprintf(s->name, sizeof(s->name), "%s", str);
	pcrs = cJSON_GetObjectItemCaseSensitive(root, "pcrs");
	if (!cJSON_IsObject(pcrs)) {
		r = attest_fail(ATTEST_E_PARSE, "refset: \"pcrs\" missing or not an object");
		goto out;
	}
	cJSON_ArrayForEach(pc, pcrs) {
		unsigned pcr;

		if (!pcr_key(pc->string, &pcr)) {
			r = attest_fail(ATTEST_E_PARSE, "refset: pcrs key \"%.8s\" is not a PCR 0..23",
					pc->string);
			goto out;
		}
		if (!hex32(pc, s->values[pcr])) {
			r = attest_fail(ATTEST_E_PARSE, "refset: PCR %u is not 64 hex digits", pcr);
			goto out;
		}
		s->mask |= 1u << pcr;
	}
	if (s->mask == 0) {
		r = attest_fail(ATTEST_E_PARSE, "refset: \"pcrs\" pins no PCR");
		goto out;
	}
	if ((el = cJSON_GetObjectItemCaseSensitive(root, "eventlog")) != NULL &&
	    (r = parse_allowlist(el, s)) != ATTEST_OK)
		goto out;
	if (cJSON_GetObjectItemCaseSensitive(root, "not_after") != NULL &&
	    (r = attest_json_u64(root, "not_after", &s->not_after)) != ATTEST_OK)
		goto out;
	if (cJSON_GetObjectItemCaseSensitive(root, "not_after") != NULL && s->not_after == 0) {
		r = attest_fail(ATTEST_E_PARSE, "refset: not_after 0");
		goto out;
	}
	*out = s;
	s = NULL; /* transferred */
	r = ATTEST_OK;
out:
	cJSON_Delete(root);
	attest_refset_free(s);
	return r;
}

/* {"alg":"ES256","typ":"attest-refset+jws","kid":"..."}: *kid points into *hdr. */
static int parse_header(const uint8_t *buf, size_t len, cJSON **hdr, const char **kid)
{
	static const char *const keys[] = { "alg", "typ", "kid", NULL };
	const char *alg, *typ;
	int r;

	if ((r = attest_json_parse(buf, len, HEADER_MAX, hdr)) != ATTEST_OK)
		return r;
	if (!cJSON_IsObject(*hdr))
		return attest_fail(ATTEST_E_PARSE, "refset: header is not a JSON object");
	if ((r = attest_json_only(*hdr, keys)) != ATTEST_OK ||
	    (r = attest_json_str(*hdr, "alg", 16, &alg)) != ATTEST_OK ||
	    (r = attest_json_str(*hdr, "typ", 32, &typ)) != ATTEST_OK ||
	    (r = attest_json_str(*hdr, "kid", ATTEST_REFSET_KID_MAX, kid)) != ATTEST_OK)
		return r;
	if (strcmp(alg, "ES256") != 0)
		return attest_fail(ATTEST_E_PARSE, "refset: alg \"%.16s\", only ES256", alg);
	if (strcmp(typ, ATTEST_REFSET_TYP) != 0)
		return attest_fail(ATTEST_E_PARSE, "refset: typ \"%.32s\", expected " ATTEST_REFSET_TYP,
				   typ);
	if (!attest_refset_kid_ok(*kid))
		return attest_fail(ATTEST_E_PARSE, "refset: kid is not an operator name");
	return ATTEST_OK;
}

int attest_refset_verify(const char *token, size_t len, const struct attest_refset_operator *ops,
			 size_t nops, int64_t now, struct attest_refset **out)
{
	struct attest_jws_parts jp;
	struct attest_refset *s = NULL;
	cJSON *hdr = NULL;
	const char *kid = NULL;
	EVP_PKEY *key = NULL;
	uint8_t *buf = NULL, sig[64];
	size_t blen = 0;
	int r;

	if (out != NULL)
		*out = NULL;
	if (token == NULL || out == NULL || (ops == NULL && nops > 0)) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "refset verify: NULL argument");
		goto out;
	}
	if (len > ATTEST_REFSET_TOKEN_MAX) {
		r = attest_fail(ATTEST_E_TOO_LARGE, "refset of %zu bytes over cap %d", len,
				ATTEST_REFSET_TOKEN_MAX);
		goto out;
	}
	/* 1. structure: header, payload, signature encoding */
	if ((r = attest_jws_split(token, len, &jp)) != ATTEST_OK)
		goto out;
	if ((r = attest_b64url_decode(jp.hdr, jp.hdr_len, HEADER_MAX, &buf, &blen)) != ATTEST_OK ||
	    (r = parse_header(buf, blen, &hdr, &kid)) != ATTEST_OK)
		goto out;
	free(buf);
	buf = NULL;
	if ((r = attest_b64url_decode(jp.payload, jp.payload_len, ATTEST_REFSET_TOKEN_MAX, &buf,
				      &blen)) != ATTEST_OK ||
	    (r = parse_payload(buf, blen, &s)) != ATTEST_OK ||
	    (r = attest_jws_sig(&jp, sig)) != ATTEST_OK)
		goto out;
	snprintf(s->kid, sizeof(s->kid), "%s", kid);
	/* 2. the operator and the signature */
	for (size_t i = 0; i < nops; i++)
		if (ops[i].kid != NULL && strcmp(ops[i].kid, kid) == 0)
			key = ops[i].key;
	if (key == NULL) {
		r = attest_fail(ATTEST_E_REFSET_SIGNATURE, "refset \"%s\": operator \"%s\" is not trusted",
				s->name, kid);
		goto out;
	}
	if ((r = attest_es256_verify(key, token, jp.signed_len, sig, ATTEST_E_REFSET_SIGNATURE)) !=
	    ATTEST_OK) {
		r = attest_fail(r, "refset \"%s\": signature by operator \"%s\" does not verify",
				s->name, kid);
		goto out;
	}
	/* 3. validity */
	if (s->not_after != 0 && (now < 0 || (uint64_t)now > s->not_after)) {
		r = attest_fail(ATTEST_E_REFSET_SIGNATURE, "refset \"%s\" expired at %llu (now %lld)",
				s->name, (unsigned long long)s->not_after, (long long)now);
		goto out;
	}
	*out = s;
	s = NULL; /* transferred */
	r = ATTEST_OK;
out:
	cJSON_Delete(hdr);
	free(buf);
	attest_refset_free(s);
	return r;
}

int attest_refset_sign(EVP_PKEY *key, const char *kid, const char *payload, size_t len,
		       char **token)
{
	struct attest_refset *s = NULL;
	char header[HEADER_MAX], *p = NULL;
	int r;

	if (token != NULL)
		*token = NULL;
	if (key == NULL || payload == NULL || token == NULL) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "refset sign: NULL argument");
		goto out;
	}
	if (!attest_refset_kid_ok(kid)) {
		r = attest_fail(ATTEST_E_INVALID_ARG,
				"refset sign: kid is not 1..%d of [A-Za-z0-9._-] (no leading '.')",
				ATTEST_REFSET_KID_MAX);
		goto out;
	}
	if (!attest_es256_key_ok(key)) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "refset sign: the key is not ECC P-256");
		goto out;
	}
	if ((r = parse_payload(payload, len, &s)) != ATTEST_OK)
		goto out;
	if ((p = malloc(len + 1)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "refset sign");
		goto out;
	}
	memcpy(p, payload, len);
	p[len] = '\0';
	snprintf(header, sizeof(header), "{\"alg\":\"ES256\",\"typ\":\"%s\",\"kid\":\"%s\"}",
		 ATTEST_REFSET_TYP, kid);
	r = attest_jws_sign(key, header, p, ATTEST_REFSET_TOKEN_MAX, token);
out:
	free(p);
	attest_refset_free(s);
	return r;
}

const char *attest_refset_name(const struct attest_refset *s)
{
	return s->name;
}

const char *attest_refset_kid(const struct attest_refset *s)
{
	return s->kid;
}

uint64_t attest_refset_not_after(const struct attest_refset *s)
{
	return s->not_after;
}

uint32_t attest_refset_mask(const struct attest_refset *s)
{
	return s->mask;
}

const uint8_t *attest_refset_value(const struct attest_refset *s, unsigned pcr)
{
	if (pcr > 23 || !(s->mask & (1u << pcr)))
		return NULL;
	return s->values[pcr];
}

uint32_t attest_refset_allow_mask(const struct attest_refset *s)
{
	return s->allow_mask;
}

size_t attest_refset_allow_count(const struct attest_refset *s, unsigned pcr)
{
	return pcr > 23 ? 0 : s->nallow[pcr];
}

int attest_refset_allowed(const struct attest_refset *s, unsigned pcr, const uint8_t digest[32])
{
	if (pcr > 23 || s->nallow[pcr] == 0)
		return 0;
	return bsearch(digest, s->allow[pcr], s->nallow[pcr], 32, cmp32) != NULL;
}
