/* fuzz_procfs.c - libFuzzer target for the /proc parsers behind attestd's
 * caller measurement (libattest/measure/measure.c); a process chooses its
 * own comm (prctl PR_SET_NAME: spaces, ')' and newlines included), its
 * arguments and its environment, so each is hostile bytes:
 *   attest_proc_stat_parse (/proc/PID/stat: pid field, the comm up to the
 *     last ')', field 22), with the pid the input starts with;
 *   attest_proc_status_parse (/proc/PID/status: State, PPid, TracerPid,
 *     Uid, each once);
 *   attest_proc_environ_scan (/proc/PID/environ through the streaming
 *     scanner of attest_proc_env_check) with attestd's default allowlist;
 *   attest_proc_cmdline_script (/proc/PID/cmdline, interpreter options,
 *     the registered script);
 *   attest_fdinfo_pid (/proc/self/fdinfo/N of a pidfd).
 * Each parser gets the whole input, in a buffer of exactly its size (no
 * NUL after it: an overread is ASan's).
 * Oracles besides the sanitizers: the environment scan gives the same
 *   answer whatever the read size (1, 7, 4096 bytes, whole) - an entry
 *   split across reads is judged whole; an accepted environment has only
 *   allowlisted names (checked again here by a naive split); a cmdline
 *   accepted for a script holds that script as a whole NUL-terminated
 *   argument; a pid from fdinfo is -1..INT_MAX.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "fuzz_fixture.h"
#include "measure/measure.h"

#define SCRIPT "/opt/agent/run.py"

static const char *const allow[] = { "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD",
				     "OLDPWD", "SHLVL", "_", "LANG", "LANGUAGE", "LC_*", "TERM",
				     "TZ", "INVOCATION_ID", "JOURNAL_STREAM", "SYSTEMD_EXEC_PID",
				     "FZ_*" };
#define NALLOW (sizeof(allow) / sizeof(allow[0]))

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_procfs: %s\n", what);
		abort();
	}
}

/* A name allowed by the list, judged without the scanner. */
static int naive_allowed(const char *name, size_t n)
{
	for (size_t i = 0; i < NALLOW; i++) {
		size_t pl = strlen(allow[i]);

		if (allow[i][pl - 1] == '*' ? n >= pl - 1 && memcmp(name, allow[i], pl - 1) == 0
					    : n == pl && memcmp(name, allow[i], n) == 0)
			return 1;
	}
	return 0;
}

static void environ_check(const char *buf, size_t len)
{
	static const size_t chunks[] = { 1, 7, 4096 };
	int whole = attest_proc_environ_scan(buf, len, len > 0 ? len : 1, 4242, allow, NALLOW);

	(void)fz_note("attest_proc_environ_scan", whole);
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++)
		check(attest_proc_environ_scan(buf, len, chunks[i], 4242, allow, NALLOW) == whole,
		      "environment scan depends on the read size");
	if (whole == ATTEST_OK) {
		/* every entry NAME=value, NAME allowed */
		for (size_t off = 0; off < len;) {
			const char *e = memchr(buf + off, '\0', len - off), *eq;
			size_t n = e != NULL ? (size_t)(e - (buf + off)) : len - off;

			eq = memchr(buf + off, '=', n);
			check(eq != NULL && naive_allowed(buf + off, (size_t)(eq - (buf + off))),
			      "accepted an environment entry the allowlist does not name");
			off += n + 1;
		}
	}
	attest_errclear();
}

static void cmdline_check(const char *buf, size_t len)
{
	static const char want[] = "\0" SCRIPT; /* with its NUL after */

	if (fz_note("attest_proc_cmdline_script", attest_proc_cmdline_script(buf, len, SCRIPT)) ==
	    ATTEST_OK)
		check(memmem(buf, len, want, sizeof(want)) != NULL,
		      "accepted a cmdline without the script as a whole argument");
	attest_errclear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct attest_proc_info info;
	uint64_t start = 0, lead = 0;
	pid_t pid = 0;
	size_t i;

	/* stat's pid: the digits the input starts with, when they are one */
	for (i = 0; i < size && i < 10 && buf[i] >= '0' && buf[i] <= '9'; i++)
		lead = lead * 10 + (uint64_t)(buf[i] - '0');
	if (lead == 0 || lead > INT_MAX)
		lead = 1;
	if (fz_note("attest_proc_stat_parse", attest_proc_stat_parse(buf, size, (pid_t)lead, &start)) ==
	    ATTEST_OK)
		check(memrchr(buf, ')', size) != NULL, "stat without its comm");
	attest_errclear();

	memset(&info, 0, sizeof(info));
	(void)fz_note("attest_proc_status_parse", attest_proc_status_parse(buf, size, 4242, &info));
	attest_errclear();

	environ_check(buf, size);
	cmdline_check(buf, size);

	if (attest_fdinfo_pid(buf, size, &pid) == ATTEST_OK)
		check(pid >= -1, "fdinfo pid below -1");
	attest_errclear();
	return 0;
}
