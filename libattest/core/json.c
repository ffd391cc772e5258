/* json.c - strict cJSON parsing and typed field access. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/err.h"
#include "core/json.h"
#include "core/num.h"

/* Structure caps, checked in one pass over the bytes before cJSON builds
 * anything: nesting depth and members per object or array. This is not a
 * second JSON parser (cJSON still decides what is valid JSON); it only tracks
 * strings, brackets and commas so that a hostile document is refused at the
 * first byte over a cap, in time linear in its length. Commas are counted per
 * open container, so a container of k members shows k - 1 commas. */
static int scan_caps(const char *p, size_t len, size_t max_members)
{
	size_t commas[ATTEST_JSON_MAX_DEPTH];
	size_t depth = 0;
	int in_str = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = p[i];

		if (in_str) {
			if (ch == '\\') {
				/* cJSON decodes \u0000 into a NUL that silently ends the
				 * C string: "web-01\u0000x" would read as "web-01" */
				if (len - i >= 6 && p[i + 1] == 'u' && memcmp(p + i + 2, "0000", 4) == 0)
					return attest_fail(ATTEST_E_PARSE, "\\u0000 in JSON message");
				i++; /* the escaped character cannot end the string */
			} else if (ch == '"') {
				in_str = 0;
			}
			continue;
		}
		switch (ch) {
		case '"':
			in_str = 1;
			break;
		case '{':
		case '[':
			if (depth == ATTEST_JSON_MAX_DEPTH)
				return attest_fail(ATTEST_E_PARSE, "JSON nested deeper than %d at byte %zu",
						   ATTEST_JSON_MAX_DEPTH, i);
			commas[depth++] = 0;
			break;
		case '}':
		case ']':
			if (depth > 0)
				depth--;
			break;
		case ',':
			if (depth > 0 && ++commas[depth - 1] >= max_members)
				return attest_fail(ATTEST_E_TOO_LARGE,
						   "JSON object or array of more than %zu members at byte %zu",
						   max_members, i);
			break;
		default:
			break;
		}
	}
	return ATTEST_OK;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Duplicate keys (cJSON keeps them) by sorting each object's keys: O(n log n)
 * in the members, never pairwise. keys has room for max_members pointers. */
static int check_dups(const cJSON *node, const char **keys, size_t max_members)
{
	for (const cJSON *c = node->child; c != NULL; c = c->next) {
		int r = check_dups(c, keys, max_members);

		if (r != ATTEST_OK)
			return r;
	}
	if (cJSON_IsObject(node)) {
		size_t n = 0;

		for (const cJSON *c = node->child; c != NULL; c = c->next) {
			if (n == max_members) /* scan_caps let no more through */
				return attest_fail(ATTEST_E_INTERNAL, "JSON member count over its cap");
			keys[n++] = c->string;
		}
		qsort(keys, n, sizeof(*keys), key_cmp);
		for (size_t i = 1; i < n; i++)
			if (strcmp(keys[i - 1], keys[i]) == 0)
				return attest_fail(ATTEST_E_DUPLICATE_KEY, "duplicate JSON key \"%.64s\"",
						   keys[i]);
	}
	return ATTEST_OK;
}

int attest_json_parse_limited(const void *buf, size_t len, size_t cap, size_t max_members,
			      cJSON **out)
{
	const char *end = NULL;
	const char *p = buf;
	const char **keys = NULL;
	cJSON *root = NULL;
	int r;

	*out = NULL;
	if (len > cap)
		return attest_fail(ATTEST_E_TOO_LARGE, "JSON message of %zu bytes over cap %zu",
				   len, cap);
	if (len == 0)
		return attest_fail(ATTEST_E_PARSE, "empty JSON message");
	if (max_members == 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "JSON member cap of 0");
	if (memchr(p, '\0', len) != NULL)
		return attest_fail(ATTEST_E_PARSE, "NUL byte in JSON message");
	if ((r = scan_caps(p, len, max_members)) != ATTEST_OK)
		return r;
	root = cJSON_ParseWithLengthOpts(p, len, &end, 0);
	if (root == NULL)
		return attest_fail(ATTEST_E_PARSE, "invalid JSON near byte %td",
				   (cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - p : 0));
	while (end < p + len && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
		end++;
	if (end != p + len) {
		r = attest_fail(ATTEST_E_PARSE, "%td trailing bytes after JSON value", (p + len) - end);
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		r = attest_fail(ATTEST_E_PARSE, "JSON message is not an object");
		goto out;
	}
	if ((keys = malloc(max_members * sizeof(*keys))) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "JSON key index");
		goto out;
	}
	if ((r = check_dups(root, keys, max_members)) != ATTEST_OK)
		goto out;
	*out = root;
	root = NULL; /* transferred */
out:
	free(keys);
	cJSON_Delete(root);
	return r;
}

int attest_json_parse(const void *buf, size_t len, size_t cap, cJSON **out)
{
	return attest_json_parse_limited(buf, len, cap, ATTEST_JSON_MAX_MEMBERS, out);
}

int attest_json_str(const cJSON *obj, const char *key, size_t maxlen, const char **out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	*out = NULL;
	if (it == NULL)
		return attest_fail(ATTEST_E_PARSE, "missing field \"%s\"", key);
	if (!cJSON_IsString(it) || it->valuestring == NULL)
		return attest_fail(ATTEST_E_PARSE, "field \"%s\" is not a string", key);
	if (strlen(it->valuestring) > maxlen)
		return attest_fail(ATTEST_E_TOO_LARGE, "field \"%s\" longer than %zu", key,
				   maxlen);
	*out = it->valuestring;
	return ATTEST_OK;
}

int attest_json_b64(const cJSON *obj, const char *key, size_t maxlen, uint8_t **out,
		    size_t *outlen)
{
	const char *s;
	int r;

	*out = NULL;
	*outlen = 0;
	if ((r = attest_json_str(obj, key, 4 * ((maxlen + 2) / 3), &s)) != ATTEST_OK)
		return r;
	if ((r = attest_b64_decode(s, strlen(s), maxlen, out, outlen)) != ATTEST_OK)
		return attest_fail(r, "field \"%s\": %s", key, attest_strerror(r));
	if (*outlen == 0) {
		free(*out);
		*out = NULL;
		return attest_fail(ATTEST_E_PARSE, "field \"%s\" is empty", key);
	}
	return ATTEST_OK;
}

int attest_json_u64(const cJSON *obj, const char *key, uint64_t *out)
{
	const char *s;
	int r;

	*out = 0;
	if ((r = attest_json_str(obj, key, 20, &s)) != ATTEST_OK)
		return r;
	if (attest_parse_u64(s, 0, UINT64_MAX, out) != ATTEST_OK)
		return attest_fail_wrap(ATTEST_E_PARSE, "field \"%s\"", key);
	return ATTEST_OK;
}

int attest_json_only(const cJSON *obj, const char *const *keys)
{
	for (const cJSON *c = obj->child; c != NULL; c = c->next) {
		const char *const *k;

		for (k = keys; *k != NULL; k++)
			if (strcmp(*k, c->string) == 0)
				break;
		if (*k == NULL)
			return attest_fail(ATTEST_E_PARSE, "unexpected field \"%.64s\"", c->string);
	}
	return ATTEST_OK;
}

int attest_json_add_str(cJSON *obj, const char *key, const char *v)
{
	if (cJSON_AddStringToObject(obj, key, v) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "JSON add \"%s\"", key);
	return ATTEST_OK;
}

int attest_json_add_b64(cJSON *obj, const char *key, const void *data, size_t len)
{
	char *s = NULL;
	int r;

	if ((r = attest_b64_encode(data, len, &s)) != ATTEST_OK)
		return r;
	r = attest_json_add_str(obj, key, s);
	free(s);
	return r;
}

int attest_json_add_u64(cJSON *obj, const char *key, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return attest_json_add_str(obj, key, buf);
}

int attest_json_print(const cJSON *obj, char **out, size_t *len)
{
	char *s = cJSON_PrintUnformatted(obj);

	*out = NULL;
	if (s == NULL)
		return attest_fail(ATTEST_E_NOMEM, "JSON print");
	*out = s;
	if (len != NULL)
		*len = strlen(s);
	return ATTEST_OK;
}

int attest_b64_encode(const void *data, size_t len, char **out)
{
	char *s;

	*out = NULL;
	if (len > (size_t)INT32_MAX / 2)
		return attest_fail(ATTEST_E_TOO_LARGE, "base64 input too large");
	if ((s = malloc(4 * ((len + 2) / 3) + 1)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "base64 encode");
	EVP_EncodeBlock((unsigned char *)s, data, (int)len);
	*out = s;
	return ATTEST_OK;
}

static int b64char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

int attest_b64_decode(const char *s, size_t slen, size_t maxlen, uint8_t **out,
		      size_t *outlen)
{
	size_t pad = 0, n;
	uint8_t *buf;
	int got;

	*out = NULL;
	*outlen = 0;
	if (slen % 4 != 0)
		return attest_fail(ATTEST_E_PARSE, "base64 length not a multiple of 4");
	if (slen / 4 * 3 > maxlen + 2)
		return attest_fail(ATTEST_E_TOO_LARGE, "base64 data over cap %zu", maxlen);
	if (slen > 0 && s[slen - 1] == '=')
		pad++;
	if (slen > 1 && s[slen - 2] == '=')
		pad++;
	for (size_t i = 0; i < slen - pad; i++)
		if (!b64char(s[i]))
			return attest_fail(ATTEST_E_PARSE, "invalid base64 character");
	n = slen / 4 * 3 - pad;
	if (n > maxlen)
		return attest_fail(ATTEST_E_TOO_LARGE, "base64 data of %zu bytes over cap %zu",
				   n, maxlen);
	if ((buf = malloc(slen / 4 * 3 + 1)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "base64 decode");
	got = slen ? EVP_DecodeBlock(buf, (const unsigned char *)s, (int)slen) : 0;
	if (got < 0 || (size_t)got != slen / 4 * 3) {
		free(buf);
		return attest_fail(ATTEST_E_PARSE, "invalid base64");
	}
	*out = buf;
	*outlen = n;
	return ATTEST_OK;
}

void attest_hex(const void *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

int attest_unhex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return attest_fail(ATTEST_E_PARSE, "hex field of %zu characters, want %zu", strlen(s),
				   2 * n);
	for (size_t i = 0; i < 2 * n; i++) {
		char c = s[i];
		unsigned v;

		if (c >= '0' && c <= '9')
			v = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = (unsigned)(c - 'a' + 10);
		else
			return attest_fail(ATTEST_E_PARSE, "not lower-case hex");
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return ATTEST_OK;
}
