/* conf.h - the configuration files of attestd and attest-verifier
 * (/etc/attestd/attestd.conf, /etc/attest-verifier/verifier.conf; the
 * format: docs/config.md and attestd.conf(5)).
 *
 * One "key = value" per line; keys are the programs' long option names.
 * Blank lines and lines whose first non-blank byte is '#' are ignored. A
 * value is bare (printable ASCII without spaces, '"' or '#') or quoted
 * ("..." of printable ASCII and spaces, no '"' inside, no escapes).
 * Refused, each with its line number: a line over ATTEST_CONF_LINE_MAX
 * bytes, a key not in the caller's list, a key given twice, more than
 * ATTEST_CONF_KEYS_MAX keys, anything after the value (trailing garbage),
 * a control byte, a byte over 0x7e, CR, NUL. The whole file is capped at
 * ATTEST_CONF_FILE_MAX. Cost is linear in the input.
 */
#ifndef LIBATTEST_CONF_H
#define LIBATTEST_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"

#define ATTEST_CONF_LINE_MAX 1024 /* bytes of one line, without its '\n' */
#define ATTEST_CONF_KEYS_MAX 32   /* keys set in one file */
#define ATTEST_CONF_KEY_MAX 31    /* bytes of one key */
#define ATTEST_CONF_FILE_MAX (64 * 1024)

struct attest_conf;

/* Parse buf (len bytes, need not be NUL-terminated) against known, a
 * NULL-terminated list of the keys allowed. On success *out is the parsed
 * file (attest_conf_free). ATTEST_E_PARSE with "line N: ..." in the
 * detail, ATTEST_E_TOO_LARGE past ATTEST_CONF_FILE_MAX. */
int attest_conf_parse(const uint8_t *buf, size_t len, const char *const *known,
		      struct attest_conf **out) ATTEST_MUST_CHECK;

/* attest_conf_parse of the file at path (symlinks refused, as every
 * attest_file_read). A missing file is ATTEST_E_NOT_FOUND. Errors name the
 * path. */
int attest_conf_load(const char *path, const char *const *known,
		     struct attest_conf **out) ATTEST_MUST_CHECK;

/* The value of key, or NULL when the file does not set it. Valid until
 * attest_conf_free. */
const char *attest_conf_get(const struct attest_conf *c, const char *key);

/* The line key was set on, 0 if it was not. */
unsigned attest_conf_line(const struct attest_conf *c, const char *key);

void attest_conf_free(struct attest_conf *c);

#endif
