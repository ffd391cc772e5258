/* test_faults.c - injected faults that must not corrupt state or stop
 * service (issue 10, "Faults"): a second attestd or verifier on the same
 * state; a damaged verifier store; TPM dictionary-attack lockout; a missed
 * checkpoint; clock jumps; records left unanchored.
 * Targets: libattest/fileio.c (attest_lock_file), libattest/audit.c,
 * attestd/daemon.c, verifier/server.c, verifier/store_sqlite.c,
 * libattest/templates.c, attestd/auditlog.c, attestd/push.c,
 * attestd/issue.c, libattest/auditverify.c. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "audit.h"
#include "fileio.h"
#include "testutil.h"
#include "testutil_daemon.h"
#include "testutil_verifier.h"

/* Run argv (NULL-terminated) with stderr to `log`; its exit status, or -1
 * when it did not exit by itself within ~20 s (then killed). */
static int run_to_exit(const char *log, char *const argv[])
{
	pid_t pid = fork();
	int st = 0;

	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		FILE *f = freopen(log, "w", stderr);

		(void)f;
		execvp(argv[0], argv);
		_exit(127);
	}
	for (int i = 0; i < 800; i++) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		usleep(25000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static int file_has(const char *path, const char *needle)
{
	char *s = tu_slurp(path, NULL);
	int found = strstr(s, needle) != NULL;

	if (!found)
		fprintf(stderr, "  %s lacks \"%s\"; it holds:\n%s\n", path, needle, s);
	free(s);
	return found;
}

/* ---- 21: a second instance on one state directory ---- */

static void test_second_instance_refused(void)
{
	struct daemon d;
	struct verifier v;
	struct attest_audit *log = NULL;
	char sock2[700], admin2[700], log2[700], audit[700], want[64], port2[800];
	cJSON *reply = NULL;

	daemon_up(&d);
	snprintf(sock2, sizeof(sock2), "%s/b.sock", d.sw.dir);
	snprintf(admin2, sizeof(admin2), "%s/b-admin.sock", d.sw.dir);
	snprintf(log2, sizeof(log2), "%s/attestd2.log", d.sw.dir);
	snprintf(want, sizeof(want), "held by pid %d", (int)d.pid);
	{
		char *const argv[] = { "attestd", "--state", d.state, "--socket", sock2,
				       "--admin-socket", admin2, "--tcti", d.sw.tcti, NULL };

		CU_ASSERT_EQUAL(run_to_exit(log2, argv), 1);
	}
	CU_ASSERT(file_has(log2, "ATTEST_E_STATE_LOCKED"));
	CU_ASSERT(file_has(log2, want));
	CU_ASSERT(access(sock2, F_OK) != 0); /* it took no socket */
	/* the first one still serves, its audit log untouched by the second */
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"stats\"}", &reply), ATTEST_OK);
	cJSON_Delete(reply);
	/* any other writer of the audit log (attestctl audit append) too */
	snprintf(audit, sizeof(audit), "%s/audit", d.state);
	TU_ASSERT_ERR(attest_audit_open(audit, NULL, &log), ATTEST_E_STATE_LOCKED);
	CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), want));
	CU_ASSERT_PTR_NULL(log);

	/* the verifier: a second serve on one state */
	verifier_up(&v, d.ca, NULL);
	snprintf(log2, sizeof(log2), "%s/verifier2.log", v.dir);
	snprintf(port2, sizeof(port2), "%s/port2", v.dir);
	snprintf(want, sizeof(want), "held by pid %d", (int)v.pid);
	{
		char *const argv[] = { "attest-verifier", "serve", "--state", v.state, "--ca", v.ca,
				       "--listen", "127.0.0.1:0", "--port-file", port2, NULL };

		CU_ASSERT_EQUAL(run_to_exit(log2, argv), 1);
	}
	CU_ASSERT(file_has(log2, "ATTEST_E_STATE_LOCKED"));
	CU_ASSERT(file_has(log2, want));
	CU_ASSERT(access(port2, F_OK) != 0);
	CU_ASSERT_EQUAL(verifier_call(&v, AS_ADMIN, "/v1/hosts", NULL, &reply), 200);
	cJSON_Delete(reply);
	verifier_down(&v);

	/* kill -9 releases the lock: the next start is not refused */
	kill(d.pid, SIGKILL);
	waitpid(d.pid, NULL, 0);
	d.pid = 0;
	daemon_start(&d, "64");
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"stats\"}", &reply), ATTEST_OK);
	cJSON_Delete(reply);
	daemon_down(&d);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "a second attestd or verifier on one state is refused, naming the holder",
		  test_second_instance_refused },
		{ NULL, NULL },
	};

	return tu_main("faults", tests);
}
