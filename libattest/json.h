/* json.h - strict JSON on top of cJSON for untrusted messages.
 *
 * attest_json_parse() enforces a byte cap and a nesting cap, rejects trailing
 * bytes and duplicate object keys (cJSON itself keeps duplicates). The typed
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

int attest_json_parse(const void *buf, size_t len, size_t cap,
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

#endif
