/* testutil.c - see testutil.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "testutil.h"

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "testutil: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

void tu_mkdtemp(char *out, size_t outsz)
{
	const char *base = getenv("TMPDIR");

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	if ((size_t)snprintf(out, outsz, "%s/attest-test.XXXXXX", base) >= outsz)
		die("temp path too long");
	if (mkdtemp(out) == NULL)
		die("mkdtemp: %s", strerror(errno));
}

int tu_sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st == -1)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

void tu_rmtree(const char *dir)
{
	if (strstr(dir, "/attest-test.") == NULL)
		die("refusing to remove %s", dir);
	(void)tu_sh("rm -rf '%s'", dir);
}

const char *tu_template(void)
{
	const char *t = getenv("ATTEST_TEST_TEMPLATE");

	if (t == NULL || t[0] == '\0')
		die("ATTEST_TEST_TEMPLATE is not set: run the tests with 'make check'");
	return t;
}

char *tu_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		die("open %s: %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		die("size of %s", path);
	if ((buf = malloc((size_t)n + 1)) == NULL)
		die("malloc");
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		die("read %s", path);
	buf[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}

void tu_write(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		die("write %s", path);
}

void tu_tpm_start(struct tu_tpm *t)
{
	const char *src = getenv("ATTEST_SRCDIR");
	char path[1024], *tcti;
	size_t n;

	tu_mkdtemp(t->dir, sizeof(t->dir));
	if (src == NULL || src[0] == '\0')
		src = ".";
	if (tu_sh("'%s/swtpm-ci/swtpm-start.sh' '%s' '%s/tpm' >/dev/null", src, tu_template(),
		  t->dir) != 0)
		die("could not start swtpm in %s", t->dir);
	snprintf(path, sizeof(path), "%s/tpm/tcti", t->dir);
	tcti = tu_slurp(path, &n);
	while (n > 0 && (tcti[n - 1] == '\n' || tcti[n - 1] == ' '))
		tcti[--n] = '\0';
	snprintf(t->tcti, sizeof(t->tcti), "%s", tcti);
	free(tcti);
}

void tu_root_offline(const char *ca_dir)
{
	char from[1100], to[1100];

	snprintf(from, sizeof(from), "%s/root.key", ca_dir);
	snprintf(to, sizeof(to), "%s.offline-root.key", ca_dir);
	if (rename(from, to) != 0) {
		fprintf(stderr, "tu_root_offline: %s: %s\n", from, strerror(errno));
		exit(2);
	}
}

void tu_tpm_stop(struct tu_tpm *t)
{
	const char *src = getenv("ATTEST_SRCDIR");

	if (t->dir[0] == '\0')
		return;
	if (src == NULL || src[0] == '\0')
		src = ".";
	(void)tu_sh("'%s/swtpm-ci/swtpm-stop.sh' '%s/tpm' >/dev/null 2>&1", src, t->dir);
	tu_rmtree(t->dir);
	t->dir[0] = '\0';
}

double tu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void tu_sort_doubles(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
}

/* TU_ENV_ALLOW_JSON's names plus attestd's default agent environment
 * (attestd/registry.c agent_env_default). */
static int env_kept(const char *entry)
{
	static const char *const keep[] = { "ATTEST_*", "BUILD", "TMPDIR", "TSS2_LOG",
					    "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
					    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD",
					    "OLDPWD", "SHLVL", "_", "LANG", "LANGUAGE", "LC_*", "TERM", "TZ" };
	size_t n = strcspn(entry, "=");

	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		size_t k = strlen(keep[i]);

		if (keep[i][k - 1] == '*' ? n >= k - 1 && strncmp(entry, keep[i], k - 1) == 0
					  : n == k && strncmp(entry, keep[i], k) == 0)
			return 1;
	}
	return 0;
}

int tu_env_keep_only(void)
{
	extern char **environ;
	char name[256];
	int removed = 0;

	for (size_t i = 0; environ != NULL && environ[i] != NULL;) {
		size_t n = strcspn(environ[i], "=");

		if (env_kept(environ[i]) || n == 0 || n >= sizeof(name)) {
			i++;
			continue;
		}
		memcpy(name, environ[i], n);
		name[n] = '\0';
		if (unsetenv(name) != 0)
			i++;
		else
			removed = 1;
	}
	return removed;
}

/* Drop the other variables and, if there were any, exec ourselves again
 * with what is left: /proc/PID/environ is the initial block, which
 * unsetenv() does not change, and attestd reads that block when a test
 * process is itself the measured caller (attestctl cert's parent). */
static void env_scrub(void)
{
	extern char **environ;
	char argv0[1024] = "";
	FILE *f;

	if (!tu_env_keep_only() || (f = fopen("/proc/self/cmdline", "r")) == NULL)
		return;
	if (fread(argv0, 1, sizeof(argv0) - 1, f) > 0) {
		char *argv[] = { argv0, NULL };

		fflush(NULL);
		execve("/proc/self/exe", argv, environ);
	}
	fclose(f); /* the exec failed: go on with the scrubbed copy */
}

int tu_main(const char *suite, const struct tu_test *tests)
{
	CU_pSuite s;
	unsigned failures;

	env_scrub();
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	if ((s = CU_add_suite(suite, NULL, NULL)) == NULL)
		return 2;
	/* ATTEST_TEST_ONLY=WORDS: only the tests whose name contains it */
	for (const struct tu_test *t = tests; t->name != NULL; t++)
		if ((getenv("ATTEST_TEST_ONLY") == NULL || strstr(t->name, getenv("ATTEST_TEST_ONLY"))) &&
		    CU_add_test(s, t->name, t->fn) == NULL)
			return 2;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failures == 0 ? 0 : 1;
}

const char *tu_examples_dir(void)
{
	static char dir[1024];
	const char *e = getenv("ATTEST_EXAMPLES"), *src = getenv("ATTEST_SRCDIR"),
		   *b = getenv("BUILD");

	if (e != NULL && e[0] != '\0')
		return e;
	if (b != NULL && b[0] == '/') /* bench/run-bench.sh makes BUILD absolute */
		snprintf(dir, sizeof(dir), "%s/examples", b);
	else
		snprintf(dir, sizeof(dir), "%s/%s/examples", src ? src : ".", b ? b : "build");
	return dir;
}

long tu_leading_num(const char *s)
{
	char *end;
	long v;

	if (s == NULL)
		return -1;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	return errno != 0 || end == s ? -1 : v;
}
