/* test_conf.c - the configuration file parser: what an operator writes is
 * read as meant, and everything else is refused with its line number.
 * Targets: attest_conf_parse, attest_conf_load, attest_conf_get,
 * attest_conf_line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/fileio.h"
#include "testutil.h"

static const char *const known[] = { "state", "socket", "group", "max-clients", "verifier",
				      "eventlog", NULL };

static struct attest_conf *parse_ok(const char *text)
{
	struct attest_conf *c = NULL;

	TU_ASSERT_ERR(attest_conf_parse((const uint8_t *)text, strlen(text), known, &c), ATTEST_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	return c;
}

/* refused with code, the detail containing want */
static void parse_bad_len(const char *text, size_t len, int code, const char *want)
{
	struct attest_conf *c = NULL;

	TU_ASSERT_ERR(attest_conf_parse((const uint8_t *)text, len, known, &c), code);
	CU_ASSERT_PTR_NULL(c);
	if (strstr(attest_errdetail(), want) == NULL)
		fprintf(stderr, "  detail \"%s\", want \"%s\"\n", attest_errdetail(), want);
	CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), want));
}

static void parse_bad(const char *text, const char *want)
{
	parse_bad_len(text, strlen(text), ATTEST_E_PARSE, want);
}

static void test_good(void)
{
	struct attest_conf *c = parse_ok("# attestd.conf\n"
					 "\n"
					 "state = /var/lib/attestd\n"
					 "   # indented comment\n"
					 "socket=/run/attestd/attestd.sock\t\n"
					 "\tgroup =attestd-agents\n"
					 "eventlog = \"/path with spaces/log\"\n"
					 "max-clients = 64"); /* no final newline */

	CU_ASSERT_STRING_EQUAL(attest_conf_get(c, "state"), "/var/lib/attestd");
	CU_ASSERT_STRING_EQUAL(attest_conf_get(c, "socket"), "/run/attestd/attestd.sock");
	CU_ASSERT_STRING_EQUAL(attest_conf_get(c, "group"), "attestd-agents");
	CU_ASSERT_STRING_EQUAL(attest_conf_get(c, "eventlog"), "/path with spaces/log");
	CU_ASSERT_STRING_EQUAL(attest_conf_get(c, "max-clients"), "64");
	CU_ASSERT_PTR_NULL(attest_conf_get(c, "verifier"));
	CU_ASSERT_PTR_NULL(attest_conf_get(c, "nosuchkey"));
	CU_ASSERT_EQUAL(attest_conf_line(c, "state"), 3);
	CU_ASSERT_EQUAL(attest_conf_line(c, "max-clients"), 8);
	CU_ASSERT_EQUAL(attest_conf_line(c, "verifier"), 0);
	attest_conf_free(c);
	/* empty file, only comments, an empty quoted value */
	attest_conf_free(parse_ok(""));
	attest_conf_free(parse_ok("# nothing\n\n   \n"));
	c = parse_ok("verifier = \"\"\n");
	CU_ASSERT_STRING_EQUAL(attest_conf_get(c, "verifier"), "");
	attest_conf_free(c);
}

static void test_refusals(void)
{
	char big[2048];

	parse_bad("state = /a\nsocktet = /b\n", "line 2: unknown key \"socktet\"");
	parse_bad("state = /a b\n", "line 1: trailing garbage");
	parse_bad("state = /a # comment\n", "line 1: trailing garbage");
	parse_bad("state = \"/a\" x\n", "line 1: trailing garbage");
	parse_bad("\n\nstate = /a\nstate = /b\n", "line 4: \"state\" given twice (first on line 3)");
	parse_bad("state /a\n", "line 1: want '='");
	parse_bad("state =\n", "line 1: \"state\" has no value");
	parse_bad("State = /a\n", "line 1: want a key");
	parse_bad("= /a\n", "line 1: want a key");
	parse_bad("state = \"/a\n", "line 1: unterminated quoted value");
	parse_bad("state = /a\r\n", "line 1: byte 0x0d");
	parse_bad("state = /\xc3\xa9\n", "line 1: byte 0xc3");
	parse_bad("state = /a\x01\n", "line 1: byte 0x01");
	parse_bad_len("state = /a\n\0", 12, ATTEST_E_PARSE, "line 2: byte 0x00");
	parse_bad("abcdefghijklmnopqrstuvwxyzabcdefg = 1\n", "line 1: key longer than 31 bytes");
	/* a line of 1025 bytes, in a comment too: the cap comes first */
	memset(big, '#', 1025);
	big[1025] = '\0';
	parse_bad(big, "line 1: longer than 1024 bytes");
	memset(big, '#', 1024);
	big[1024] = '\0';
	attest_conf_free(parse_ok(big));
}

/* more keys than ATTEST_CONF_KEYS_MAX, each known */
static void test_key_cap(void)
{
	const char *many[ATTEST_CONF_KEYS_MAX + 3];
	char names[ATTEST_CONF_KEYS_MAX + 2][16], text[2048];
	size_t off = 0;
	struct attest_conf *c = NULL;

	for (int i = 0; i < ATTEST_CONF_KEYS_MAX + 2; i++) {
		snprintf(names[i], sizeof(names[i]), "k%d", i);
		many[i] = names[i];
		off += (size_t)snprintf(text + off, sizeof(text) - off, "k%d = %d\n", i, i);
	}
	many[ATTEST_CONF_KEYS_MAX + 2] = NULL;
	TU_ASSERT_ERR(attest_conf_parse((const uint8_t *)text, off, many, &c), ATTEST_E_PARSE);
	CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "line 33: more than 32 keys"));
	CU_ASSERT_PTR_NULL(c);
}

static void test_file(void)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char path[600], link[600], *big;
	struct attest_conf *c = NULL;

	snprintf(path, sizeof(path), "%s/attestd.conf", tmp);
	snprintf(link, sizeof(link), "%s/link.conf", tmp);
	TU_ASSERT_ERR(attest_conf_load(path, known, &c), ATTEST_E_NOT_FOUND);
	TU_ASSERT_ERR(attest_file_write_atomic(path, "group = agents\nbogus = 1\n", 25, 0644),
		      ATTEST_OK);
	TU_ASSERT_ERR(attest_conf_load(path, known, &c), ATTEST_E_PARSE);
	/* the error names the file and the line */
	CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), path));
	CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "line 2: unknown key \"bogus\""));
	TU_ASSERT_ERR(attest_file_write_atomic(path, "group = agents\n", 15, 0644), ATTEST_OK);
	TU_ASSERT_ERR(attest_conf_load(path, known, &c), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(attest_conf_get(c, "group"), "agents");
	attest_conf_free(c);
	c = NULL;
	/* a symlink is refused like every file attest_file_read opens */
	(void)unlink(link);
	CU_ASSERT_EQUAL_FATAL(symlink(path, link), 0);
	CU_ASSERT_NOT_EQUAL(attest_conf_load(link, known, &c), ATTEST_OK);
	CU_ASSERT_PTR_NULL(c);
	/* over the file cap: refused before parsing */
	big = malloc(ATTEST_CONF_FILE_MAX + 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memset(big, '\n', ATTEST_CONF_FILE_MAX + 1);
	TU_ASSERT_ERR(attest_file_write_atomic(path, big, ATTEST_CONF_FILE_MAX + 1, 0644), ATTEST_OK);
	CU_ASSERT_NOT_EQUAL(attest_conf_load(path, known, &c), ATTEST_OK);
	CU_ASSERT_PTR_NULL(c);
	parse_bad_len(big, ATTEST_CONF_FILE_MAX + 1, ATTEST_E_TOO_LARGE, "over 65536 bytes");
	free(big);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "key = value, comments, quoted values, no final newline", test_good },
		{ "unknown key, trailing garbage, duplicates, bytes, line cap: refused by line",
		  test_refusals },
		{ "more than ATTEST_CONF_KEYS_MAX keys refused", test_key_cap },
		{ "load: missing, bad line named with the path, symlink, file cap", test_file },
		{ NULL, NULL },
	};

	return tu_main("conf", tests);
}
