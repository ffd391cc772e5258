/* testutil.h - helpers shared by the CUnit tests: temp dirs, a private
 * swtpm per test (swtpm-ci/), and a CUnit main. */
#ifndef TESTS_TESTUTIL_H
#define TESTS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <CUnit/CUnit.h>

struct tu_tpm {
	char dir[512];
	char tcti[256];
};

/* Fresh 0700 temp dir under $TMPDIR (or /tmp); out gets its path. */
void tu_mkdtemp(char *out, size_t outsz);
/* rm -rf a temp dir made by tu_mkdtemp. */
void tu_rmtree(const char *dir);
/* Template state built by tests/run-tests.sh ($ATTEST_TEST_TEMPLATE). */
const char *tu_template(void);
/* Start a private swtpm copied from the template; aborts the test run on
 * failure (a missing TPM is a broken environment, not a test result). */
void tu_tpm_start(struct tu_tpm *t);
void tu_tpm_stop(struct tu_tpm *t);
/* Enrol `host` against a new fleet CA in ca_dir (trust domain
 * fleet.example), host state in state_dir, using the P-256 EK. The TPM
 * connection is closed again before returning. Exits on failure. */
void tu_enrol_host(const char *tcti, const char *ca_dir, const char *state_dir, const char *host);
/* The same, but joins the fleet CA already in ca_dir (its config.json
 * exists), creating it only when it does not: hosts enrolled this way share
 * one fleet root. Every swtpm is a copy of one template (one EPS), so all
 * have the same EKs: the host that creates the CA enrols with the P-256 EK,
 * a host that joins it with the RSA-2048 EK, which the CA counts as another
 * EK. Hence at most two hosts per fleet (a third is refused with
 * ATTEST_E_HOST_EK_CONFLICT). */
void tu_enrol_host_in(const char *tcti, const char *ca_dir, const char *state_dir,
		      const char *host);

/* Where the built examples are: $ATTEST_EXAMPLES, else
 * $ATTEST_SRCDIR/$BUILD/examples ($BUILD alone when absolute). */
const char *tu_examples_dir(void);

/* Run a shell command; returns its exit status. */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Take the fleet root key offline, as an operator does after init
 * (issue 12): CA_DIR/root.key moves to CA_DIR.offline-root.key, so every
 * fleet the tests build enrols, renews, issues and decides without it. */
void tu_root_offline(const char *ca_dir);
/* Read a whole file (NUL-terminated); aborts on failure. */
char *tu_slurp(const char *path, size_t *len);
/* The decimal number at the start of s after blanks (an HTTP status curl
 * wrote, a /proc field), or -1 when there is none, it overflows or s is
 * NULL. The checked strtol of the tests (scripts/banned.sh refuses a
 * strto* whose end pointer is NULL). */
long tu_leading_num(const char *s);
void tu_write(const char *path, const void *data, size_t len);

/* Monotonic milliseconds, and an ascending sort, for benchmarks. */
double tu_now_ms(void);
void tu_sort_doubles(double *v, size_t n);

/* Register `tests` (NULL-terminated) as one suite, run, print the CUnit
 * summary, return the process exit code. */
struct tu_test {
	const char *name;
	void (*fn)(void);
};
/* Runs the suite. First it leaves in its own environment only the
 * variables of TU_ENV_KEEP (and attestd's default agent set): agents the
 * tests start inherit it, and attestd refuses an agent whose environment
 * holds a variable its registration does not allow (docs/agents.md,
 * "Environment"), whatever shell or make ran the tests. */
int tu_main(const char *suite, const struct tu_test *tests);
/* Leave in the environment only the variables tu_main keeps (no re-exec):
 * for benchmarks, whose agents inherit it. 1 when any was removed. */
int tu_env_keep_only(void);
/* The variables the test harness passes down beyond attestd's default set;
 * tests that register agents allow them with TU_ENV_ALLOW_JSON (a JSON
 * member, no leading comma) or TU_ENV_ALLOW_CLI (attestctl's flag). */
#define TU_ENV_ALLOW_JSON                                                              \
	"\"env_allow\":[\"ATTEST_*\",\"BUILD\",\"TMPDIR\",\"TSS2_LOG\",\"ASAN_OPTIONS\"," \
	"\"UBSAN_OPTIONS\",\"LSAN_OPTIONS\"]"
#define TU_ENV_ALLOW_CLI                                                               \
	"--env-allow 'ATTEST_*,BUILD,TMPDIR,TSS2_LOG,ASAN_OPTIONS,UBSAN_OPTIONS,LSAN_OPTIONS'"

#define TU_ASSERT_ERR(expr_, code_)                                                \
	do {                                                                       \
		int got_ = (expr_);                                                \
		if (got_ != (code_))                                               \
			fprintf(stderr, "  %s:%d: got %s (%s), want %s\n", __FILE__,    \
				__LINE__, attest_errname(got_), attest_errdetail(),    \
				attest_errname(code_));                                \
		CU_ASSERT_EQUAL(got_, (code_));                                    \
	} while (0)

#endif
