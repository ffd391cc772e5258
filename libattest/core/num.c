/* num.c - the one strict decimal number parser (num.h). */
#include <string.h>

#include "core/err.h"
#include "core/num.h"

int attest_parse_u64n(const char *s, size_t n, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	*out = 0;
	if (s == NULL || n == 0)
		return attest_fail(ATTEST_E_PARSE, "empty where a decimal number was expected");
	if (n > 1 && s[0] == '0')
		return attest_fail(ATTEST_E_PARSE, "decimal number with a leading zero");
	for (size_t i = 0; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return attest_fail(ATTEST_E_PARSE, "not a decimal number (byte %zu is not "
					   "a digit)", i);
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return attest_fail(ATTEST_E_PARSE, "decimal number over 64 bits");
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return attest_fail(ATTEST_E_PARSE, "%llu is outside %llu..%llu",
				   (unsigned long long)v, (unsigned long long)min,
				   (unsigned long long)max);
	*out = v;
	return ATTEST_OK;
}

int attest_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	*out = 0;
	if (s == NULL)
		return attest_fail(ATTEST_E_PARSE, "empty where a decimal number was expected");
	return attest_parse_u64n(s, strlen(s), min, max, out);
}

size_t attest_fields(const char *s, size_t len, const char **f, size_t *n, size_t max)
{
	size_t nf = 0, start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != ' ')
			continue;
		if (nf == max)
			return max + 1;
		f[nf] = s + start;
		n[nf++] = i - start;
		start = i + 1;
	}
	return nf;
}
