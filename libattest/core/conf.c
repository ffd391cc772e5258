/* conf.c - the strict key = value parser of the configuration files
 * (conf.h). One pass, one cursor over the bytes: each line is cut at '\n'
 * (its length checked before anything else), then read left to right:
 * blanks, key, blanks, '=', blanks, value, blanks, end. */
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"
#include "core/err.h"
#include "core/fileio.h"

#define CONF_KNOWN_MAX 64 /* keys a program may offer */

struct attest_conf {
	size_t nknown;
	const char *const *known;
	char *val[CONF_KNOWN_MAX];
	unsigned line[CONF_KNOWN_MAX];
	size_t nset;
};

static int is_blank(uint8_t c) { return c == ' ' || c == '\t'; }
static int is_keych(uint8_t c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }
/* printable ASCII but space, '"' and '#' */
static int is_barech(uint8_t c) { return c > 0x20 && c < 0x7f && c != '"' && c != '#'; }

void attest_conf_free(struct attest_conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nknown; i++)
		free(c->val[i]);
	free(c);
}

static int known_index(const struct attest_conf *c, const uint8_t *k, size_t klen)
{
	for (size_t i = 0; i < c->nknown; i++)
		if (strlen(c->known[i]) == klen && memcmp(c->known[i], k, klen) == 0)
			return (int)i;
	return -1;
}

/* One line (without its '\n'): ATTEST_OK, or ATTEST_E_PARSE naming lineno. */
static int parse_line(struct attest_conf *c, const uint8_t *p, size_t n, unsigned lineno)
{
	size_t i = 0, k0, klen, v0, vlen;
	int idx;

	for (size_t j = 0; j < n; j++) /* bytes first: no control bytes, ASCII only */
		if ((p[j] < 0x20 && p[j] != '\t') || p[j] > 0x7e)
			return attest_fail(ATTEST_E_PARSE, "line %u: byte 0x%02x at column %zu "
					   "(printable ASCII only)", lineno, p[j], j + 1);
	while (i < n && is_blank(p[i]))
		i++;
	if (i == n || p[i] == '#')
		return ATTEST_OK; /* blank or comment */
	k0 = i;
	while (i < n && is_keych(p[i]))
		i++;
	klen = i - k0;
	if (klen == 0)
		return attest_fail(ATTEST_E_PARSE, "line %u: want a key (a-z 0-9 -) at column %zu",
				   lineno, k0 + 1);
	if (klen > ATTEST_CONF_KEY_MAX)
		return attest_fail(ATTEST_E_PARSE, "line %u: key longer than %d bytes", lineno,
				   ATTEST_CONF_KEY_MAX);
	while (i < n && is_blank(p[i]))
		i++;
	if (i == n || p[i] != '=')
		return attest_fail(ATTEST_E_PARSE, "line %u: want '=' after \"%.*s\"", lineno,
				   (int)klen, (const char *)p + k0);
	i++;
	while (i < n && is_blank(p[i]))
		i++;
	if (i < n && p[i] == '"') {
		v0 = ++i;
		while (i < n && p[i] != '"' && p[i] != '\t')
			i++;
		if (i == n || p[i] != '"')
			return attest_fail(ATTEST_E_PARSE, "line %u: unterminated quoted value "
					   "(no '\"' or tab inside quotes)", lineno);
		vlen = i - v0;
		i++;
	} else {
		v0 = i;
		while (i < n && is_barech(p[i]))
			i++;
		vlen = i - v0;
		if (vlen == 0)
			return attest_fail(ATTEST_E_PARSE, "line %u: \"%.*s\" has no value", lineno,
					   (int)klen, (const char *)p + k0);
	}
	while (i < n && is_blank(p[i]))
		i++;
	if (i != n)
		return attest_fail(ATTEST_E_PARSE, "line %u: trailing garbage at column %zu after "
				   "the value of \"%.*s\" (quote a value with spaces; comments "
				   "take a line of their own)", lineno, i + 1, (int)klen,
				   (const char *)p + k0);
	if ((idx = known_index(c, p + k0, klen)) < 0)
		return attest_fail(ATTEST_E_PARSE, "line %u: unknown key \"%.*s\"", lineno, (int)klen,
				   (const char *)p + k0);
	if (c->val[idx] != NULL)
		return attest_fail(ATTEST_E_PARSE, "line %u: \"%s\" given twice (first on line %u)",
				   lineno, c->known[idx], c->line[idx]);
	if (c->nset == ATTEST_CONF_KEYS_MAX)
		return attest_fail(ATTEST_E_PARSE, "line %u: more than %d keys", lineno,
				   ATTEST_CONF_KEYS_MAX);
	if ((c->val[idx] = malloc(vlen + 1)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "line %u", lineno);
	memcpy(c->val[idx], p + v0, vlen);
	c->val[idx][vlen] = '\0';
	c->line[idx] = lineno;
	c->nset++;
	return ATTEST_OK;
}

int attest_conf_parse(const uint8_t *buf, size_t len, const char *const *known,
		      struct attest_conf **out)
{
	struct attest_conf *c = NULL;
	size_t off = 0;
	unsigned lineno = 0;
	int r;

	*out = NULL;
	if (buf == NULL && len != 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "conf: no buffer");
	if (len > ATTEST_CONF_FILE_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "configuration over %d bytes",
				   ATTEST_CONF_FILE_MAX);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "conf");
	c->known = known;
	while (known[c->nknown] != NULL) {
		if (c->nknown == CONF_KNOWN_MAX) {
			r = attest_fail(ATTEST_E_INVALID_ARG, "conf: more than %d known keys",
					CONF_KNOWN_MAX);
			goto out;
		}
		c->nknown++;
	}
	while (off < len) {
		const uint8_t *nl = memchr(buf + off, '\n', len - off);
		size_t n = nl != NULL ? (size_t)(nl - (buf + off)) : len - off;

		lineno++;
		if (n > ATTEST_CONF_LINE_MAX) {
			r = attest_fail(ATTEST_E_PARSE, "line %u: longer than %d bytes", lineno,
					ATTEST_CONF_LINE_MAX);
			goto out;
		}
		if ((r = parse_line(c, buf + off, n, lineno)) != ATTEST_OK)
			goto out;
		off += n + (nl != NULL ? 1 : 0);
	}
	*out = c;
	c = NULL; /* transferred */
	r = ATTEST_OK;
out:
	attest_conf_free(c);
	return r;
}

int attest_conf_load(const char *path, const char *const *known, struct attest_conf **out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = attest_file_read(path, ATTEST_CONF_FILE_MAX, &buf, &len)) != ATTEST_OK)
		return r;
	if ((r = attest_conf_parse(buf, len, known, out)) != ATTEST_OK)
		r = attest_fail_wrap(r, "%s", path);
	free(buf);
	return r;
}

const char *attest_conf_get(const struct attest_conf *c, const char *key)
{
	int i = c != NULL ? known_index(c, (const uint8_t *)key, strlen(key)) : -1;

	return i >= 0 ? c->val[i] : NULL;
}

unsigned attest_conf_line(const struct attest_conf *c, const char *key)
{
	int i = c != NULL ? known_index(c, (const uint8_t *)key, strlen(key)) : -1;

	return i >= 0 && c->val[i] != NULL ? c->line[i] : 0;
}
