/* request.c - typed fields of requests, on top of libattest/core/json.h. */



#include <string.h>

#include "request.h"
#include "core/err.h"
#include "core/json.h"
#include "x509/x509.h"

/* ---------- request parsing helpers ---------- */

int valid_scope(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(":._/*-", c) != NULL))
			return 0;
	}
	return 1;
}

/* Optional array of strings (each checked by ok) into out[max]. */
int str_list(const cJSON *req, const char *key, int (*ok)(const char *), char **out,
		    size_t max, size_t *n)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(req, key), *it;

	*n = 0;
	if (arr == NULL)
		return ATTEST_OK;
	if (!cJSON_IsArray(arr))
		return attest_fail(ATTEST_E_PARSE, "\"%s\" must be an array of strings", key);
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it) || !ok(it->valuestring))
			return attest_fail(ATTEST_E_PARSE, "\"%s\": invalid entry", key);
		if (*n >= max)
			return attest_fail(ATTEST_E_TOO_LARGE, "\"%s\": more than %zu entries", key, max);
		for (size_t i = 0; i < *n; i++)
			if (strcmp(out[i], it->valuestring) == 0)
				return attest_fail(ATTEST_E_PARSE, "\"%s\": duplicate entry", key);
		if ((out[(*n)++] = strdup(it->valuestring)) == NULL)
			return attest_fail(ATTEST_E_NOMEM, "\"%s\"", key);
	}
	return ATTEST_OK;
}

/* Optional small non-negative integer field. */
int int_field(const cJSON *req, const char *key, long min, long max, long *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(req, key);

	if (it == NULL)
		return ATTEST_OK;
	/* the range first: converting a double outside long's range (1e300
	 * from a peer) to long is undefined (fuzz_attestd, UBSan) */
	if (!cJSON_IsNumber(it) || !(it->valuedouble >= (double)min && it->valuedouble <= (double)max) ||
	    it->valuedouble != (double)(long)it->valuedouble)
		return attest_fail(ATTEST_E_PARSE, "\"%s\" must be an integer in %ld..%ld", key, min,
				   max);
	*out = (long)it->valuedouble;
	return ATTEST_OK;
}

int opt_str(const cJSON *req, const char *key, size_t max, const char **out)
{
	*out = NULL;
	if (cJSON_GetObjectItemCaseSensitive(req, key) == NULL)
		return ATTEST_OK;
	return attest_json_str(req, key, max, out);
}

int valid_class(const char *s) { return attest_valid_hostname(s); }

/* "a b c" into out (outsz incl. NUL); ATTEST_E_SCOPE when it does not fit
 * the leaf's scopes extension. */
int join_scopes(const char *const *v, size_t n, char *out, size_t outsz)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t k = strlen(v[i]);

		if (len + (i > 0) + k >= outsz)
			return attest_fail(ATTEST_E_SCOPE, "scopes joined exceed %zu bytes", outsz - 1);
		if (i > 0)
			out[len++] = ' ';
		memcpy(out + len, v[i], k + 1); /* checked above: fits with its NUL */
		len += k;
	}
	return ATTEST_OK;
}

