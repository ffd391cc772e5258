/* num.c - the one strict decimal number parser (num.h). */
#include <string.h>
#include <time.h>

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

/* n ASCII digits at s, leading zeros allowed (fixed-width fields). */
static int digits(const char *s, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int attest_parse_utc(const char *s, int with_time, int64_t *out)
{
	struct tm tm, back;
	int y, mo, d, h = 0, mi = 0, se = 0;
	size_t want = with_time ? 20 : 10;
	time_t t;

	*out = 0;
	if (s == NULL || strlen(s) != want || s[4] != '-' || s[7] != '-' ||
	    digits(s, 4, &y) != 0 || digits(s + 5, 2, &mo) != 0 || digits(s + 8, 2, &d) != 0 ||
	    (with_time && (s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' ||
			   digits(s + 11, 2, &h) != 0 || digits(s + 14, 2, &mi) != 0 ||
			   digits(s + 17, 2, &se) != 0)))
		return attest_fail(ATTEST_E_PARSE, "not %s",
				   with_time ? "YYYY-MM-DDTHH:MM:SSZ" : "YYYY-MM-DD");
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59)
		return attest_fail(ATTEST_E_PARSE, "date or time out of range");
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	/* timegm normalises 31 April to 1 May: the day must come back */
	if ((t = timegm(&tm)) == (time_t)-1 || gmtime_r(&t, &back) == NULL || back.tm_mday != d ||
	    back.tm_mon != mo - 1)
		return attest_fail(ATTEST_E_PARSE, "no such day");
	*out = (int64_t)t;
	return ATTEST_OK;
}
