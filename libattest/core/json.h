/* json.h - strict JSON on top of cJSON for untrusted messages.
 *
 * attest_json_parse() enforces a byte cap, a nesting cap and a cap on the
 * members of every object and array (all checked in one linear pass before
 * cJSON builds a tree), rejects trailing bytes and duplicate object keys
 * (cJSON itself keeps duplicates; found by sorting, O(n log n)). The typed
 * getters check type and length of each field; binary fields are base64
 * (RFC 4648, padded) and 64-bit integers travel as decimal strings because
 * cJSON numbers are doubles.
 */
#ifndef LIBATTEST_JSON_H
#define LIBATTEST_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "attest/attest.h"

#define ATTEST_JSON_MAX_DEPTH 16
/* members of one object or array: the largest lists we accept are 1000
 * policy rules and 1024 agents in an inventory report */
#define ATTEST_JSON_MAX_MEMBERS 1024

/* Parse one JSON object of at most cap bytes. *out is the caller's
 * (cJSON_Delete). Codes: ATTEST_E_TOO_LARGE (bytes or members over a cap),
 * ATTEST_E_PARSE (invalid, too deep, trailing bytes, NUL, \u0000, not an
 * object), ATTEST_E_DUPLICATE_KEY. */
int attest_json_parse(const void *buf, size_t len, size_t cap,
		      cJSON **out) ATTEST_MUST_CHECK;
/* As attest_json_parse with another member cap (benchmarks, tests). */
int attest_json_parse_limited(const void *buf, size_t len, size_t cap, size_t max_members,
			      cJSON **out) ATTEST_MUST_CHECK;
/* Required string field of at most maxlen bytes; *out points into obj. */
int attest_json_str(const cJSON *obj, const char *key, size_t maxlen,
		    const char **out) ATTEST_MUST_CHECK;
/* Required base64 field decoding to 1..maxlen bytes; *out malloc'd. */
int attest_json_b64(const cJSON *obj, const char *key, size_t maxlen,
		    uint8_t **out, size_t *outlen) ATTEST_MUST_CHECK;
/* Required decimal-string unsigned 64-bit field. */
int attest_json_u64(const cJSON *obj, const char *key, uint64_t *out) ATTEST_MUST_CHECK;
/* Reject any key of obj not in the NULL-terminated list. */
int attest_json_only(const cJSON *obj, const char *const *keys) ATTEST_MUST_CHECK;

int attest_json_add_b64(cJSON *obj, const char *key, const void *data,
			size_t len) ATTEST_MUST_CHECK;
int attest_json_add_u64(cJSON *obj, const char *key, uint64_t v) ATTEST_MUST_CHECK;
int attest_json_add_str(cJSON *obj, const char *key, const char *v) ATTEST_MUST_CHECK;
/* Serialise compactly; *out malloc'd, NUL-terminated. */
int attest_json_print(const cJSON *obj, char **out, size_t *len) ATTEST_MUST_CHECK;

/* Base64 (standard alphabet, padded). attest_b64_decode is strict: no
 * whitespace, correct padding. *out malloc'd. */
int attest_b64_encode(const void *data, size_t len, char **out) ATTEST_MUST_CHECK;
int attest_b64_decode(const char *s, size_t slen, size_t maxlen, uint8_t **out,
		      size_t *outlen) ATTEST_MUST_CHECK;
/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void attest_hex(const void *data, size_t len, char *out);
/* Exactly 2*n lower-case hex digits into n bytes; ATTEST_E_PARSE otherwise. */
int attest_unhex(const char *s, uint8_t *out, size_t n) ATTEST_MUST_CHECK;

#endif
