/* request.h - optional typed fields of attestd's requests, on top of
 * libattest/core/json.h: ATTEST_E_PARSE or ATTEST_E_TOO_LARGE on bad ones,
 * nothing changed. */
#ifndef ATTESTD_REQUEST_H
#define ATTESTD_REQUEST_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "attest/attest.h"

int valid_scope(const char *s);
int valid_class(const char *s);
/* An optional list of at most max strings, each accepted by ok: *n
 * malloc'd copies in out (the caller frees them, also on failure). */
int str_list(const cJSON *req, const char *key, int (*ok)(const char *), char **out, size_t max,
	     size_t *n) ATTEST_MUST_CHECK;
/* An optional integer in min..max (*out unchanged when absent). */
int int_field(const cJSON *req, const char *key, long min, long max, long *out) ATTEST_MUST_CHECK;
/* An optional string of at most max bytes (*out NULL when absent). */
int opt_str(const cJSON *req, const char *key, size_t max, const char **out) ATTEST_MUST_CHECK;
/* "a,b,c" into out */
int join_scopes(const char *const *v, size_t n, char *out, size_t outsz) ATTEST_MUST_CHECK;

#endif
