/* test_fileio.c - crash-safe state writes and the strict JSON/base64 layer.
 * Targets: attest_file_write_atomic, attest_file_create_atomic,
 * attest_file_read, attest_json_parse, attest_b64_decode, attest_parse_u64. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/num.h"
#include "x509/x509.h"
#include "testutil.h"

static int kill_at;

static void crash_hook(int step)
{
	if (step == kill_at)
		raise(SIGKILL);
}

/* Kill a writer at every step of an atomic write: what is left is always
 * the whole old content or the whole new content, never a mix. */
static void test_kill_at_each_step(void)
{
	char dir[512], path[600];
	static const char old_content[] = "old state, version 1\n";
	char new_content[8192];

	memset(new_content, 'n', sizeof(new_content) - 1);
	new_content[sizeof(new_content) - 1] = '\0';
	tu_mkdtemp(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/state.json", dir);
	for (int step = 1; step <= 6; step++) {
		pid_t pid;
		int st;
		char *got;
		size_t n;

		CU_ASSERT_FATAL(attest_file_write_atomic(path, old_content, strlen(old_content), 0600) == ATTEST_OK);
		pid = fork();
		CU_ASSERT_FATAL(pid >= 0);
		if (pid == 0) {
			kill_at = step;
			attest_fileio_set_hook(crash_hook);
			_exit(attest_file_write_atomic(path, new_content, strlen(new_content), 0600) ==
				      ATTEST_OK ? 0 : 1);
		}
		CU_ASSERT_FATAL(waitpid(pid, &st, 0) == pid);
		/* Steps 1-5 die by SIGKILL; "step 6" does not exist: a clean write. */
		CU_ASSERT(step <= 5 ? (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
				    : (WIFEXITED(st) && WEXITSTATUS(st) == 0));
		got = tu_slurp(path, &n);
		/* Before the rename (step 4) the old content, after it the new. */
		CU_ASSERT_STRING_EQUAL(got, step < 4 ? old_content : new_content);
		free(got);
		(void)tu_sh("rm -f '%s'/state.json.tmp.*", dir);
	}
	tu_rmtree(dir);
}

static void test_create_exclusive_and_read_caps(void)
{
	char dir[512], path[600], link[600];
	uint8_t *buf = NULL;
	size_t n;
	struct stat st;

	tu_mkdtemp(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/marker", dir);
	TU_ASSERT_ERR(attest_file_create_atomic(path, "a", 1, 0600), ATTEST_OK);
	TU_ASSERT_ERR(attest_file_create_atomic(path, "b", 1, 0600), ATTEST_E_EXISTS);
	TU_ASSERT_ERR(attest_file_read(path, 16, &buf, &n), ATTEST_OK);
	CU_ASSERT(n == 1 && buf[0] == 'a');
	free(buf);
	CU_ASSERT(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	TU_ASSERT_ERR(attest_file_read(path, 0, &buf, &n), ATTEST_E_TOO_LARGE);
	snprintf(link, sizeof(link), "%s/link", dir);
	CU_ASSERT_FATAL(symlink(path, link) == 0);
	CU_ASSERT_NOT_EQUAL(attest_file_read(link, 16, &buf, &n), ATTEST_OK); /* O_NOFOLLOW */
	snprintf(path, sizeof(path), "%s/missing", dir);
	TU_ASSERT_ERR(attest_file_read(path, 16, &buf, &n), ATTEST_E_NOT_FOUND);
	snprintf(path, sizeof(path), "%s/sub/dir", dir);
	TU_ASSERT_ERR(attest_dir_ensure(path, 0700), ATTEST_OK);
	CU_ASSERT(stat(path, &st) == 0 && (st.st_mode & 0777) == 0700);
	TU_ASSERT_ERR(attest_dir_ensure(path, 0755), ATTEST_OK); /* stricter is fine */
	CU_ASSERT_FATAL(chmod(path, 0755) == 0);
	TU_ASSERT_ERR(attest_dir_ensure(path, 0700), ATTEST_E_IO); /* looser: refused, not changed */
	CU_ASSERT(stat(path, &st) == 0 && (st.st_mode & 0777) == 0755);
	tu_rmtree(dir);
}

static void parse_expect(const char *s, int code)
{
	cJSON *o = NULL;

	TU_ASSERT_ERR(attest_json_parse(s, strlen(s), 1024, &o), code);
	CU_ASSERT((code == ATTEST_OK) == (o != NULL));
	cJSON_Delete(o);
}

static void test_json_strict(void)
{
	char deep[200];
	cJSON *o = NULL;
	const char *str;
	uint64_t v;
	uint8_t *bin = NULL;
	size_t n;
	int i;

	parse_expect("{\"a\":1}", ATTEST_OK);
	parse_expect(" {\"a\":1} \n", ATTEST_OK);
	parse_expect("{\"a\":1,\"a\":2}", ATTEST_E_DUPLICATE_KEY);
	parse_expect("{\"o\":{\"b\":1,\"b\":1}}", ATTEST_E_DUPLICATE_KEY);
	parse_expect("{\"a\":1}x", ATTEST_E_PARSE);
	parse_expect("{\"a\":1}{}", ATTEST_E_PARSE);
	parse_expect("{\"a\":", ATTEST_E_PARSE);
	parse_expect("[1,2]", ATTEST_E_PARSE);
	parse_expect("", ATTEST_E_PARSE);
	for (i = 0; i < 40; i++)
		deep[i] = '[';
	deep[0] = '{';
	snprintf(deep + 1, sizeof(deep) - 1, "\"a\":%.*s%.*s}", 39, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
		 39, "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
	parse_expect(deep, ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_json_parse("{\"a\":1}  ", 9, 8, &o), ATTEST_E_TOO_LARGE);
	TU_ASSERT_ERR(attest_json_parse("{\"a\":\"1\0\"}", 10, 64, &o), ATTEST_E_PARSE);

	{
		static const char doc[] = "{\"n\":\"18446744073709551615\",\"s\":\"xyz\",\"d\":1.5,"
					  "\"b\":\"AAEC\",\"z\":\"007\",\"big\":\"18446744073709551616\"}";

		CU_ASSERT_FATAL(attest_json_parse(doc, strlen(doc), 1024, &o) == ATTEST_OK);
	}
	TU_ASSERT_ERR(attest_json_u64(o, "n", &v), ATTEST_OK);
	CU_ASSERT(v == UINT64_MAX);
	TU_ASSERT_ERR(attest_json_u64(o, "big", &v), ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_json_u64(o, "z", &v), ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_json_u64(o, "d", &v), ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_json_str(o, "s", 3, &str), ATTEST_OK);
	TU_ASSERT_ERR(attest_json_str(o, "s", 2, &str), ATTEST_E_TOO_LARGE);
	TU_ASSERT_ERR(attest_json_str(o, "missing", 2, &str), ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_json_b64(o, "b", 3, &bin, &n), ATTEST_OK);
	CU_ASSERT(n == 3 && bin[0] == 0 && bin[1] == 1 && bin[2] == 2);
	free(bin);
	TU_ASSERT_ERR(attest_json_b64(o, "b", 2, &bin, &n), ATTEST_E_TOO_LARGE);
	{
		static const char *const only[] = { "n", "s", "d", "b", "z", NULL };

		TU_ASSERT_ERR(attest_json_only(o, only), ATTEST_E_PARSE);
	}
	cJSON_Delete(o);
}

/* A document of n members "kNNNNN":0 in one object (or n zeros in one array
 * with array != 0), malloc'd. */
static char *many_members(size_t n, int array, size_t *len)
{
	char *s = malloc(16 + n * 16), *p = s;

	CU_ASSERT_FATAL(s != NULL);
	p += snprintf(p, 16, "%s", array ? "{\"a\":[" : "{");
	for (size_t i = 0; i < n; i++)
		p += array ? snprintf(p, 16, "%s0", i ? "," : "")
			   : snprintf(p, 16, "%s\"k%06zu\":0", i ? "," : "", i);
	p += snprintf(p, 4, "%s", array ? "]}" : "}");
	*len = (size_t)(p - s);
	return s;
}

/* Caps are enforced while scanning, duplicates found by sorting, never
 * pairwise (issue 10 item 9: 32k keys stalled the verifier for 2 s). */
static void test_json_caps(void)
{
	cJSON *o = NULL;
	size_t len;
	char *doc;
	char deep[64];

	doc = many_members(ATTEST_JSON_MAX_MEMBERS, 0, &len);
	TU_ASSERT_ERR(attest_json_parse(doc, len, 1 << 20, &o), ATTEST_OK);
	CU_ASSERT(cJSON_GetArraySize(o) == ATTEST_JSON_MAX_MEMBERS);
	cJSON_Delete(o);
	o = NULL;
	/* the last key repeats the first: found among 1024 */
	memcpy(doc + len - 11, "k000000", 7);
	TU_ASSERT_ERR(attest_json_parse(doc, len, 1 << 20, &o), ATTEST_E_DUPLICATE_KEY);
	CU_ASSERT(strstr(attest_errdetail(), "k000000") != NULL);
	free(doc);
	doc = many_members(ATTEST_JSON_MAX_MEMBERS + 1, 0, &len);
	TU_ASSERT_ERR(attest_json_parse(doc, len, 1 << 20, &o), ATTEST_E_TOO_LARGE);
	CU_ASSERT(o == NULL);
	/* a higher cap for the same bytes: parsed, and 32k keys stay cheap */
	TU_ASSERT_ERR(attest_json_parse_limited(doc, len, 1 << 20, 2048, &o), ATTEST_OK);
	cJSON_Delete(o);
	o = NULL;
	free(doc);
	doc = many_members(32768, 0, &len);
	TU_ASSERT_ERR(attest_json_parse_limited(doc, len, 1 << 20, 32768, &o), ATTEST_OK);
	cJSON_Delete(o);
	o = NULL;
	memcpy(doc + len - 11, "k016384", 7);
	TU_ASSERT_ERR(attest_json_parse_limited(doc, len, 1 << 20, 32768, &o),
		      ATTEST_E_DUPLICATE_KEY);
	free(doc);
	doc = many_members(ATTEST_JSON_MAX_MEMBERS, 1, &len);
	TU_ASSERT_ERR(attest_json_parse(doc, len, 1 << 20, &o), ATTEST_OK);
	cJSON_Delete(o);
	o = NULL;
	free(doc);
	doc = many_members(ATTEST_JSON_MAX_MEMBERS + 1, 1, &len);
	TU_ASSERT_ERR(attest_json_parse(doc, len, 1 << 20, &o), ATTEST_E_TOO_LARGE);
	free(doc);
	/* commas and brackets inside strings are text */
	parse_expect("{\"a\":\"[[[[[[[[[[[[[[[[[[[[,,,,\\\"{{{{\"}", ATTEST_OK);
	/* an escaped backslash before u0000 is text; the escape itself is not */
	parse_expect("{\"a\":\"\\\\u0000\"}", ATTEST_OK);
	parse_expect("{\"a\":\"x\\u0000y\"}", ATTEST_E_PARSE);
	/* 16 levels of containers pass, 17 do not */
	memset(deep, 0, sizeof(deep));
	memcpy(deep, "{\"a\":", 5);
	memset(deep + 5, '[', 15);
	memset(deep + 20, ']', 15);
	deep[35] = '}';
	parse_expect(deep, ATTEST_OK);
	memset(deep, 0, sizeof(deep));
	memcpy(deep, "{\"a\":", 5);
	memset(deep + 5, '[', 16);
	memset(deep + 21, ']', 16);
	deep[37] = '}';
	parse_expect(deep, ATTEST_E_PARSE);
}

/* A detail passed back into attest_fail must read intact (issue 10 item 18:
 * "delegator: delegator: e://..."); attest_fail_wrap is the way to add context. */
static void test_error_detail_wrapping(void)
{
	char expect[600];

	(void)attest_fail(ATTEST_E_REVOKED, "host web-01 revoked");
	(void)attest_fail_wrap(ATTEST_E_REVOKED, "delegator %d", 2);
	CU_ASSERT_STRING_EQUAL(attest_errdetail(), "delegator 2: host web-01 revoked");
	(void)attest_fail(ATTEST_E_TPM, "connection refused");
	(void)attest_fail(ATTEST_E_TPM, "TPM unreachable: %s", attest_errdetail());
	CU_ASSERT_STRING_EQUAL(attest_errdetail(), "TPM unreachable: connection refused");
	(void)attest_fail_ossl(ATTEST_E_CRYPTO, "again: %s", attest_errdetail());
	CU_ASSERT_STRING_EQUAL(attest_errdetail(), "again: TPM unreachable: connection refused");
	/* a long detail is cut, never overrun */
	memset(expect, 'x', sizeof(expect) - 1);
	expect[sizeof(expect) - 1] = '\0';
	(void)attest_fail(ATTEST_E_PARSE, "%s", expect);
	(void)attest_fail_wrap(ATTEST_E_PARSE, "outer");
	CU_ASSERT(strncmp(attest_errdetail(), "outer: xxxx", 11) == 0);
	CU_ASSERT(strlen(attest_errdetail()) < 512);
	attest_errclear();
	(void)attest_fail_wrap(ATTEST_E_PARSE, "nothing before");
	CU_ASSERT_STRING_EQUAL(attest_errdetail(), "nothing before");
}

static void test_base64_strict(void)
{
	static const struct {
		const char *in;
		int code;
		size_t len;
	} cases[] = {
		{ "", ATTEST_OK, 0 },         { "QQ==", ATTEST_OK, 1 },
		{ "QUI=", ATTEST_OK, 2 },     { "QUJD", ATTEST_OK, 3 },
		{ "QUJ", ATTEST_E_PARSE, 0 }, { "Q===", ATTEST_E_PARSE, 0 },
		{ "QU=D", ATTEST_E_PARSE, 0 }, { "QU D", ATTEST_E_PARSE, 0 },
		{ "QUJ\n", ATTEST_E_PARSE, 0 }, { "QUJD-_==", ATTEST_E_PARSE, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *out = NULL;
		size_t n = 99;

		TU_ASSERT_ERR(attest_b64_decode(cases[i].in, strlen(cases[i].in), 16, &out, &n),
			      cases[i].code);
		if (cases[i].code == ATTEST_OK)
			CU_ASSERT_EQUAL(n, cases[i].len);
		free(out);
	}
}

/* NV certificates: header and padding stripped, garbage refused. */
static void test_ek_cert_unwrap(void)
{
	/* a minimal DER SEQUENCE { INTEGER 5 } stands in for a certificate */
	static const uint8_t der[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };
	uint8_t buf[32];
	size_t len;

	memcpy(buf, der, sizeof(der));
	memset(buf + sizeof(der), 0xff, 8);
	len = sizeof(der) + 8;
	TU_ASSERT_ERR(attest_ek_cert_unwrap(buf, &len), ATTEST_OK);
	CU_ASSERT(len == sizeof(der) && memcmp(buf, der, len) == 0);
	buf[0] = 0x10;
	buf[1] = 0x01;
	buf[2] = 0x00;
	buf[3] = sizeof(der);
	memcpy(buf + 4, der, sizeof(der));
	len = 4 + sizeof(der);
	TU_ASSERT_ERR(attest_ek_cert_unwrap(buf, &len), ATTEST_OK);
	CU_ASSERT(len == sizeof(der) && memcmp(buf, der, len) == 0);
	memcpy(buf, "\x30\x09\x02\x01", 4);
	len = 4;
	TU_ASSERT_ERR(attest_ek_cert_unwrap(buf, &len), ATTEST_E_PARSE);
	memcpy(buf, "\x04\x01\x00", 3);
	len = 3;
	TU_ASSERT_ERR(attest_ek_cert_unwrap(buf, &len), ATTEST_E_PARSE);
}

/* The one strict number parser: everything strtoul lets through (space,
 * sign, "0x", trailing bytes, wrap-around of "-1" and of 2^64) is refused,
 * and the bounds are inclusive. */
static void test_parse_u64_strict(void)
{
	static const char *const bad[] = {
		"", " 1", "1 ", "\t1", "1\n", "+1", "-1", "-0", "1x", "0x10", "0X10", "x",
		"01", "00", "007", "1.0", "1e3", "1,000", "18446744073709551616",
		"99999999999999999999", "184467440737095516150", "\xd9\xa1" /* Arabic-Indic 1 */,
	};
	uint64_t v = 7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 7;
		CU_ASSERT_EQUAL(attest_parse_u64(bad[i], 0, UINT64_MAX, &v), ATTEST_E_PARSE);
		CU_ASSERT_EQUAL(v, 0);
	}
	CU_ASSERT_EQUAL(attest_parse_u64(NULL, 0, UINT64_MAX, &v), ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_parse_u64("0", 0, UINT64_MAX, &v), ATTEST_OK);
	CU_ASSERT_EQUAL(v, 0);
	TU_ASSERT_ERR(attest_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), ATTEST_OK);
	CU_ASSERT(v == UINT64_MAX);
	TU_ASSERT_ERR(attest_parse_u64("18446744073709551614", 0, UINT64_MAX, &v), ATTEST_OK);
	CU_ASSERT(v == UINT64_MAX - 1);
	/* the bounds are inclusive, and one past either is refused with the range */
	TU_ASSERT_ERR(attest_parse_u64("1", 1, 65535, &v), ATTEST_OK);
	CU_ASSERT_EQUAL(v, 1);
	TU_ASSERT_ERR(attest_parse_u64("65535", 1, 65535, &v), ATTEST_OK);
	CU_ASSERT_EQUAL(v, 65535);
	v = 7;
	CU_ASSERT_EQUAL(attest_parse_u64("65536", 1, 65535, &v), ATTEST_E_PARSE);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "1..65535"));
	CU_ASSERT_EQUAL(attest_parse_u64("0", 1, 65535, &v), ATTEST_E_PARSE);
	CU_ASSERT_EQUAL(attest_parse_u64("18446744073709551615", 0, UINT64_MAX - 1, &v),
			ATTEST_E_PARSE);
	CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "outside"));
	CU_ASSERT_EQUAL(attest_parse_u64("18446744073709551616", 0, UINT64_MAX, &v),
			ATTEST_E_PARSE);
	CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "over 64 bits"));
	/* the span form reads exactly n bytes: a field cut out of a line */
	TU_ASSERT_ERR(attest_parse_u64n("1234 5678", 4, 0, UINT64_MAX, &v), ATTEST_OK);
	CU_ASSERT_EQUAL(v, 1234);
	CU_ASSERT_EQUAL(attest_parse_u64n("1234 5678", 5, 0, UINT64_MAX, &v), ATTEST_E_PARSE);
	CU_ASSERT_EQUAL(attest_parse_u64n("12\0" "34", 5, 0, UINT64_MAX, &v), ATTEST_E_PARSE);
	CU_ASSERT_EQUAL(attest_parse_u64n("1", 0, 0, UINT64_MAX, &v), ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_parse_u64n("0", 1, 0, 0, &v), ATTEST_OK);
	CU_ASSERT_EQUAL(v, 0);
}

/* Records of space-separated fields (the clock file, audit-pushed, stored
 * checkpoints): every field found, an empty one where two spaces meet,
 * and more than max said as max + 1 (never written past f[max - 1]). */
static void test_fields(void)
{
	const char *f[3];
	size_t n[3];
	static const char two[] = "12 ab", gap[] = "1  2", many[] = "1 2 3 4";

	CU_ASSERT_EQUAL(attest_fields(two, strlen(two), f, n, 3), 2);
	CU_ASSERT(n[0] == 2 && memcmp(f[0], "12", 2) == 0 && n[1] == 2 && memcmp(f[1], "ab", 2) == 0);
	CU_ASSERT_EQUAL(attest_fields(gap, strlen(gap), f, n, 3), 3);
	CU_ASSERT_EQUAL(n[1], 0);
	CU_ASSERT_EQUAL(attest_fields(many, strlen(many), f, n, 3), 4);
	CU_ASSERT_EQUAL(attest_fields("", 0, f, n, 3), 1);
	CU_ASSERT_EQUAL(n[0], 0);
	/* the span ends where the caller says: a newline is the caller's */
	CU_ASSERT_EQUAL(attest_fields("5 6\n", 3, f, n, 3), 2);
	CU_ASSERT(n[1] == 1 && f[1][0] == '6');
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "kill -9 at each step of an atomic write", test_kill_at_each_step },
		{ "exclusive create, read caps, no symlinks", test_create_exclusive_and_read_caps },
		{ "strict JSON", test_json_strict },
		{ "JSON caps while scanning, duplicates by sorting", test_json_caps },
		{ "error detail wrapping", test_error_detail_wrapping },
		{ "strict base64", test_base64_strict },
		{ "EK certificate from NV: header and padding", test_ek_cert_unwrap },
		{ "strict decimal numbers: attest_parse_u64", test_parse_u64_strict },
		{ "space-separated records: attest_fields", test_fields },
		{ NULL, NULL },
	};

	return tu_main("fileio", tests);
}
