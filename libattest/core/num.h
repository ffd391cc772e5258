/* num.h - the one strict decimal number parser.
 *
 * Every number read from text (command-line options, /proc files, lock and
 * marker files, database columns, JSON string fields, fdinfo) goes through
 * here instead of a strtoul/strtol of its own: strtol accepts leading
 * whitespace, a sign ("-1" wraps to UINT64_MAX in strtoul), "0x10" with base
 * 0, and silently stops at trailing bytes unless every caller checks end,
 * errno and the range; each hand-rolled copy checked a different subset.
 *
 * Accepted: one or more ASCII digits 0-9 and nothing else, no leading zero
 * unless the number is exactly "0" (one spelling per value), the value in
 * [min, max]. Refused: the empty string, any sign, any whitespace, any
 * trailing byte, "0x" and other prefixes, leading zeros, values over max
 * (UINT64_MAX included: overflow is detected, never wrapped) or under min.
 */
#ifndef LIBATTEST_NUM_H
#define LIBATTEST_NUM_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"

/* The NUL-terminated string s as a decimal number in [min, max]: ATTEST_OK
 * and *out set, else ATTEST_E_PARSE with *out 0 and the detail saying why
 * (not a number, leading zero, over 64 bits, outside min..max). Callers
 * name the field by wrapping the detail (attest_fail_wrap) or replacing it;
 * one that treats a bad number as "absent" calls attest_errclear(). */
int attest_parse_u64(const char *s, uint64_t min, uint64_t max,
		     uint64_t *out) ATTEST_MUST_CHECK;

/* The same rules over exactly the n bytes at s (no NUL needed; a NUL
 * inside the span is refused like any other non-digit), for numbers cut
 * out of a larger buffer (/proc/PID/stat fields, fdinfo lines). */
int attest_parse_u64n(const char *s, size_t n, uint64_t min, uint64_t max,
		      uint64_t *out) ATTEST_MUST_CHECK;

/* A UTC date "YYYY-MM-DD" (with_time 0) or time "YYYY-MM-DDTHH:MM:SSZ"
 * (with_time 1), exactly that shape: fixed-width ASCII digits (leading
 * zeros are part of the form), no sign, no space, a real calendar day from
 * 1970 on, hour 0-23, minute and second 0-59; *out the Unix time (of
 * 00:00:00 for a date). ATTEST_E_PARSE otherwise. The one replacement for
 * sscanf's "%4d-%2d-%2d", which takes "-1", "+1" and " 1". */
int attest_parse_utc(const char *s, int with_time, int64_t *out) ATTEST_MUST_CHECK;

/* A record of fields separated by single spaces (s[0..len), no NUL
 * needed): f[i] and n[i] for each field, an empty one where two spaces
 * meet; the number of fields, or max + 1 when there are more than max.
 * The caller parses each field (attest_parse_u64n, attest_unhex). */
size_t attest_fields(const char *s, size_t len, const char **f, size_t *n, size_t max);

#endif
