/* fuzz_conf.c - libFuzzer target for libattest/core/conf.c:
 *   attest_conf_parse on the input with attestd's keys, then
 *   attest_conf_get and attest_conf_line on every key.
 * Oracles besides the sanitizers: every value is printable ASCII without
 * '"' or tab, its line is in 1..lines of the input; what --print-config
 * writes (each set key as key = "value") parses again to the same values;
 * and the parse is all-or-nothing (a refusal leaves no result).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_fixture.h"
#include "core/conf.h"

static const char *const keys[] = { "state", "socket", "admin-socket", "group", "tcti",
				    "max-clients", "frame-timeout", "max-ttl", "verifier",
				    "verifier-ca", "push-interval", "quote-pcrs", "eventlog",
				    "audit-dir", "audit-checkpoint", "audit-max-unanchored", NULL };

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_conf: %s (%s)\n", what, attest_errdetail());
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct attest_conf *c = NULL, *again = NULL;
	char *out = NULL;
	size_t cap = 0, off = 0;
	unsigned lines = 1;
	int r;

	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	r = attest_conf_parse(data, size, keys, &c);
	if (r != ATTEST_OK) {
		check(c == NULL, "a refusal left a result");
		attest_errclear();
		return 0;
	}
	for (size_t i = 0; keys[i] != NULL; i++) {
		const char *v = attest_conf_get(c, keys[i]);
		unsigned line = attest_conf_line(c, keys[i]);

		if (v == NULL) {
			check(line == 0, "an unset key has a line");
			continue;
		}
		check(line >= 1 && line <= lines, "line out of range");
		for (const char *p = v; *p != '\0'; p++)
			check(*p >= 0x20 && *p < 0x7f && *p != '"', "value byte");
		cap += strlen(keys[i]) + strlen(v) + 8;
	}
	out = malloc(cap + 1);
	check(out != NULL, "malloc");
	for (size_t i = 0; keys[i] != NULL; i++) {
		const char *v = attest_conf_get(c, keys[i]);

		if (v != NULL)
			off += (size_t)snprintf(out + off, cap + 1 - off, "%s = \"%s\"\n", keys[i], v);
	}
	check(attest_conf_parse((const uint8_t *)out, off, keys, &again) == ATTEST_OK,
	      "printed configuration does not parse");
	for (size_t i = 0; keys[i] != NULL; i++) {
		const char *a = attest_conf_get(c, keys[i]), *b = attest_conf_get(again, keys[i]);

		check((a == NULL) == (b == NULL) && (a == NULL || strcmp(a, b) == 0),
		      "printed configuration reads back differently");
	}
	attest_conf_free(again);
	attest_conf_free(c);
	free(out);
	return 0;
}
