/* test_faults.c - injected faults that must not corrupt state or stop
 * service (issue 10, "Faults"): a second attestd or verifier on the same
 * state; a damaged verifier store; TPM dictionary-attack lockout; a missed
 * checkpoint; clock jumps; records left unanchored.
 * Targets: libattest/core/fileio.c (attest_lock_file), libattest/audit/audit.c,
 * attestd/daemon.c, verifier/server.c, verifier/store_sqlite.c,
 * libattest/tpm/templates.c, attestd/auditlog.c, attestd/push.c,
 * attestd/issue.c, libattest/audit/auditverify.c. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sqlite3.h>
#include <tss2/tss2_mu.h>

#include "audit/audit.h"
#include "core/fileio.h"
#include "core/json.h"
#include "testutil.h"
#include "tpm/tpm.h"
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
				       "--listen", "127.0.0.1:0", "--port-file", port2, "--user",
				       "root", NULL };

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

/* ---- 23: a damaged verifier store ---- */

static void sql_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *err = NULL;

	CU_ASSERT_FATAL(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fprintf(stderr, "  %s: %s\n", sql, err != NULL ? err : "?");
	CU_ASSERT_FATAL(err == NULL);
	sqlite3_close(db);
}

/* serve on v's state must exit 1 naming ATTEST_E_STORE_DAMAGED and why,
 * without listening and without creating a store. */
static void serve_refused(struct verifier *v, const char *why)
{
	char log[800], port[800], db[800];
	char *const argv[] = { "attest-verifier", "serve", "--state", v->state, "--ca", v->ca,
			       "--listen", "127.0.0.1:0", "--port-file", port, "--user", "root",
			       NULL };
	struct stat st;
	int existed;

	snprintf(log, sizeof(log), "%s/refused.log", v->dir);
	snprintf(port, sizeof(port), "%s/port-refused", v->dir);
	snprintf(db, sizeof(db), "%s/verifier.db", v->state);
	existed = stat(db, &st) == 0;
	CU_ASSERT_EQUAL(run_to_exit(log, argv), 1);
	CU_ASSERT(file_has(log, "ATTEST_E_STORE_DAMAGED"));
	CU_ASSERT(file_has(log, why));
	(void)tu_sh("sed 's/^/  refused: /' %s >&2", log);
	CU_ASSERT(access(port, F_OK) != 0);
	if (!existed)
		CU_ASSERT(access(db, F_OK) != 0); /* serve created nothing */
}

static void test_damaged_store_refused(void)
{
	struct daemon d;
	struct verifier v;
	char db[800], good[800], body[1024];
	cJSON *reply = NULL;
	long st;

	daemon_up(&d);
	verifier_up(&v, d.ca, NULL);
	verifier_stop(&v);
	snprintf(db, sizeof(db), "%s/verifier.db", v.state);
	snprintf(good, sizeof(good), "%s/good.db", v.dir);
	CU_ASSERT_FATAL(tu_sh("cp -p %s %s", db, good) == 0);

	/* deleted: refused, not recreated empty */
	CU_ASSERT_FATAL(unlink(db) == 0);
	serve_refused(&v, "does not exist");
	/* truncated to nothing, and cut after two pages */
	CU_ASSERT_FATAL(tu_sh("cp -p %s %s && truncate -s 0 %s", good, db, db) == 0);
	serve_refused(&v, "empty");
	CU_ASSERT_FATAL(tu_sh("cp -p %s %s && truncate -s 8192 %s", good, db, db) == 0);
	serve_refused(&v, "store:");
	/* a page of random bytes in the middle */
	CU_ASSERT_FATAL(tu_sh("cp -p %s %s && head -c 4096 /dev/urandom | dd of=%s bs=4096 "
			      "seek=2 conv=notrunc 2>/dev/null",
			      good, db, db) == 0);
	serve_refused(&v, "integrity check");
	/* every row deleted, the marker too */
	CU_ASSERT_FATAL(tu_sh("cp -p %s %s", good, db) == 0);
	sql_exec(db, "DELETE FROM settings; DELETE FROM callers;");
	serve_refused(&v, "marker");

	/* an invalid row read at request time: 500 with its code, not 403 */
	CU_ASSERT_FATAL(tu_sh("cp -p %s %s", good, db) == 0);
	sql_exec(db, "INSERT INTO hosts VALUES ('web-09', 0, 0, '', 0, 0, 0, 0, 0, '0123', '0', 0, "
		     "'', 0, '');");
	verifier_start(&v);
	st = verifier_call(&v, AS_ADMIN, "/v1/hosts", NULL, &reply);
	CU_ASSERT_EQUAL(st, 500);
	CU_ASSERT_STRING_EQUAL(reply_reason(reply), "ATTEST_E_STORE_DAMAGED");
	cJSON_Delete(reply);
	reply = NULL;
	/* the rest still serves */
	CU_ASSERT_EQUAL(verifier_call(&v, AS_ADMIN, "/v1/agents", NULL, &reply), 200);
	cJSON_Delete(reply);
	(void)body;
	verifier_down(&v);
	daemon_down(&d);
}

/* ---- 20: TPM dictionary-attack lockout ---- */

#define TT "cd '%s' && export TPM2TOOLS_TCTI='%s' TSS2_LOG=all+none; "
#define T20 "timeout 20 "

static void test_lockout_keeps_serving(void)
{
	struct daemon d;
	char a[700], audit[700];

	daemon_prepare(&d, NULL);
	tu_enrol_host(d.sw.tcti, d.ca, d.state, "web-01");
	/* Any local TPM user: three wrong auths on a DA-protected object of
	 * its own put the whole TPM in lockout. */
	CU_ASSERT_EQUAL_FATAL(tu_sh(TT T20 "tpm2_dictionarylockout -s -n 3 -t 600 -l 600 && " T20
				    "tpm2_createprimary -Q -C o -G ecc -p good -c p.ctx && " T20
				    "tpm2_flushcontext -t",
				    d.sw.dir, d.sw.tcti),
			      0);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_NOT_EQUAL(tu_sh(TT T20 "tpm2_createprimary -Q -C o -G ecc -p good -c p.ctx "
					  ">/dev/null 2>&1 && " T20 "tpm2_create -Q -C p.ctx -P wrong -G ecc "
					  "-u k.pub -r k.priv >/dev/null 2>&1; rc=$?; " T20
					  "tpm2_flushcontext -t; exit $rc",
					  d.sw.dir, d.sw.tcti),
				    0);
	CU_ASSERT_EQUAL_FATAL(tu_sh(TT T20 "tpm2_getcap properties-variable | grep -q 'inLockout: *1'",
				    d.sw.dir, d.sw.tcti),
			      0);
	/* even the right auth is refused now: 0x921 */
	CU_ASSERT_EQUAL(tu_sh(TT T20 "tpm2_createprimary -Q -C o -G ecc -p good -c p.ctx && " T20
			      "tpm2_create -Q -C p.ctx -P good -G ecc -u k.pub -r k.priv 2>e.txt; "
			      "rc=$?; " T20 "tpm2_flushcontext -t; grep -q 0x921 e.txt && [ $rc -ne 0 ]",
			      d.sw.dir, d.sw.tcti),
			0);

	/* attestd starts, checkpoints, registers and issues, and says what
	 * happened */
	daemon_start(&d, "64");
	CU_ASSERT(file_has(d.log, "LOCKOUT"));
	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	register_agent(&d, "alpha", a, "0");
	expect_cert(&d, run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\",\"ttl\":120}"),
		    "alpha");
	daemon_stop(&d);
	CU_ASSERT(file_has(d.log, "audit: checkpoint (start)"));
	CU_ASSERT(file_has(d.log, "audit: checkpoint (stop)"));
	/* audit verify --online reads the counter and certifies with the AK */
	snprintf(audit, sizeof(audit), "%s/audit", d.state);
	CU_ASSERT_EQUAL(tu_sh("attestctl audit verify --log %s --online --tcti '%s' >%s/v.out 2>&1",
			      audit, d.sw.tcti, d.sw.dir),
			0);
	CU_ASSERT_EQUAL(tu_sh("grep -q '^online: ' %s/v.out", d.sw.dir), 0);
	/* still in lockout: nothing above needed a DA-protected object */
	CU_ASSERT_EQUAL(tu_sh(TT T20 "tpm2_getcap properties-variable | grep -q 'inLockout: *1'",
			      d.sw.dir, d.sw.tcti),
			0);
	daemon_down(&d);
}

/* ---- 12: missed checkpoints, unsent checkpoints across kill -9 ---- */

/* Wait (up to ~30 s) until `cmd` exits 0. */
static int wait_sh(const char *cmd)
{
	for (int i = 0; i < 300; i++) {
		if (tu_sh("%s", cmd) == 0)
			return 1;
		usleep(100000);
	}
	return 0;
}

static void kill9(struct daemon *d)
{
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
}

static void test_unsent_checkpoints_survive(void)
{
	struct vfleet e;
	char cmd[4800], made[800], taken[800], a[700], json[1024];
	cJSON *reply = NULL;

	vfleet_host_up(&e, NULL);
	snprintf(made, sizeof(made), "%s/made.txt", e.d.sw.dir);
	snprintf(taken, sizeof(taken), "%s/taken.txt", e.d.sw.dir);
	snprintf(cmd, sizeof(cmd), "grep -q 'taken by the verifier' '%s'", e.d.log);
	CU_ASSERT_FATAL(wait_sh(cmd));
	/* the verifier goes away; attestd makes checkpoints and is killed
	 * twice, so the unsent ones exist only on its disk */
	verifier_stop(&e.v);
	make_agent_binary(&e.d, "agent-a", NULL, a, sizeof(a));
	for (int i = 0; i < 2; i++) {
		snprintf(json, sizeof(json), "{\"op\":\"register\",\"name\":\"a%d\",\"binary\":"
			 "\"%s\",\"uids\":[0],\"risk_tier\":\"low\"}", i, a);
		TU_ASSERT_ERR(admin_call(&e.d, json, &reply), ATTEST_OK);
		cJSON_Delete(reply);
		reply = NULL;
		kill9(&e.d);
		daemon_start(&e.d, "64");
		snprintf(cmd, sizeof(cmd), "[ $(grep -c 'audit: checkpoint (start)' '%s') -ge %d ]",
			 e.d.log, i + 2);
		CU_ASSERT_FATAL(wait_sh(cmd));
	}
	kill9(&e.d);
	/* the verifier is back (on another port): attestd sends every
	 * checkpoint it made, in order, none skipped, none twice */
	verifier_start(&e.v);
	snprintf(e.d.verifier_url, sizeof(e.d.verifier_url), "%s", e.v.url);
	daemon_start(&e.d, "64");
	snprintf(cmd, sizeof(cmd),
		 "grep -o 'audit: checkpoint ([a-z]*): counter [0-9]*' '%s' | awk '{print $NF}' >'%s' "
		 "&& grep -o 'checkpoint counter [0-9]* taken by the verifier' '%s' | awk '{print $3}' "
		 ">'%s' && cmp -s '%s' '%s'",
		 e.d.log, made, e.d.log, taken, made, taken);
	CU_ASSERT(wait_sh(cmd));
	(void)tu_sh("echo made: $(cat '%s'); echo taken: $(cat '%s')", made, taken);
	CU_ASSERT(tu_sh("[ $(wc -l <'%s') -ge 4 ]", made) == 0);
	CU_ASSERT(tu_sh("grep -q 'missed' '%s'", e.v.log) != 0); /* no gap */
	/* a kill -9 after the verifier took the last one but before attestd
	 * recorded that: it is sent again, answered "duplicate", and the
	 * chain goes on */
	kill9(&e.d);
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && awk '{print $1, $2, $3, $4 - 1}' audit-pushed >p.tmp && "
			      "mv p.tmp audit-pushed",
			      e.d.state),
			0);
	daemon_start(&e.d, "64");
	snprintf(cmd, sizeof(cmd),
		 "grep -o 'audit: checkpoint ([a-z]*): counter [0-9]*' '%s' | awk '{print $NF}' >'%s' "
		 "&& grep -o 'checkpoint counter [0-9]* taken by the verifier' '%s' | awk '{print $3}' "
		 "| uniq >'%s' && cmp -s '%s' '%s'",
		 e.d.log, made, e.d.log, taken, made, taken);
	CU_ASSERT(wait_sh(cmd));
	CU_ASSERT(tu_sh("grep -q 'refused by the verifier' '%s'", e.d.log) != 0);
	CU_ASSERT(tu_sh("grep -q 'missed' '%s'", e.v.log) != 0);
	vfleet_down(&e);
}

/* ---- 22: the wall clock against the TPM's clock ---- */

static void test_clock_jump_stops_issuance(void)
{
	struct daemon d;
	char a[700], path[800];
	const char *issue = "{\"op\":\"issue\",\"agent\":\"alpha\",\"ttl\":120}";

	daemon_up(&d);
	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	register_agent(&d, "alpha", a, "0");
	expect_cert(&d, run_agent(NULL, a, d.sock, issue), "alpha");
	daemon_stop(&d);
	/* The TPM's clock moves a day ahead while the wall clock does not:
	 * to the checker that is the wall clock set back a day. (TPM2_ClockSet
	 * only moves forward; the wall clock of the test machine is left
	 * alone.) */
	CU_ASSERT_EQUAL_FATAL(tu_sh(TT "c=$(" T20 "tpm2_readclock | awk '/^ *clock:/ {print $2; "
				    "exit}') && [ -n \"$c\" ] && " T20 "tpm2_setclock $((c + 86400000))",
				    d.sw.dir, d.sw.tcti),
			      0);
	daemon_start(&d, "64");
	expect_refused_why(run_agent(NULL, a, d.sock, issue), "ATTEST_E_CLOCK", "went back");
	CU_ASSERT(file_has(d.log, "clock: wall clock went back"));
	/* registration stops too; read-only admin ops still work */
	{
		cJSON *reply = NULL;
		char json[1024];

		snprintf(json, sizeof(json), "{\"op\":\"register\",\"name\":\"beta\",\"binary\":"
			 "\"%s\",\"uids\":[0],\"risk_tier\":\"low\"}", a);
		TU_ASSERT_ERR(admin_call(&d, json, &reply), ATTEST_E_CLOCK);
		TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"list\"}", &reply), ATTEST_OK);
		cJSON_Delete(reply);
	}
	/* the operator, having checked the clock, re-baselines */
	daemon_stop(&d);
	snprintf(path, sizeof(path), "%s/clock", d.state);
	CU_ASSERT_EQUAL(unlink(path), 0);
	daemon_start(&d, "64");
	expect_cert(&d, run_agent(NULL, a, d.sock, issue), "alpha");
	daemon_down(&d);
}

/* ---- 22 and 24: what audit verify and attestd say ---- */

static void test_audit_verify_says_plainly(void)
{
	struct tu_tpm sw;
	struct attest_audit *log = NULL;
	struct attest_tpm *t = NULL;
	struct attest_audit_event ev = { .type = "issue", .outcome = "ok" };
	char dir[700], ak[700], out[700];
	uint64_t now = (uint64_t)time(NULL);

	tu_tpm_start(&sw);
	snprintf(dir, sizeof(dir), "%s/audit", sw.dir);
	snprintf(ak, sizeof(ak), "%s/ak.pem", sw.dir);
	snprintf(out, sizeof(out), "%s/v.out", sw.dir);
	CU_ASSERT_EQUAL_FATAL(tu_sh("attestctl audit ak --tcti '%s' --out %s >/dev/null", sw.tcti,
				    ak), 0);
	/* records and no checkpoint: nothing is anchored, and it says so */
	TU_ASSERT_ERR(attest_audit_open(dir, NULL, &log), ATTEST_OK);
	ev.time = now + 10;
	TU_ASSERT_ERR(attest_audit_append_event(log, &ev, NULL), ATTEST_OK);
	ev.time = now + 20;
	TU_ASSERT_ERR(attest_audit_append_event(log, &ev, NULL), ATTEST_OK);
	/* the writer's clock set back 5 s */
	ev.time = now + 15;
	TU_ASSERT_ERR(attest_audit_append_event(log, &ev, NULL), ATTEST_OK);
	TU_ASSERT_ERR(attest_audit_sync(log), ATTEST_OK);
	CU_ASSERT_NOT_EQUAL(tu_sh("attestctl audit verify --log %s --ak %s >%s 2>&1", dir, ak, out),
			    0);
	CU_ASSERT(file_has(out, "NOT ANCHORED: no TPM checkpoint covers any of the 4 records"));
	CU_ASSERT(tu_sh("grep -q 1970 %s", out) != 0);
	/* anchored now; the step back is reported, where and by how much */
	CU_ASSERT_FATAL(attest_tpm_open(sw.tcti, &t) == ATTEST_OK);
	TU_ASSERT_ERR(attest_audit_checkpoint(log, t, NULL), ATTEST_OK);
	attest_tpm_close(t);
	attest_audit_close(log);
	CU_ASSERT_EQUAL(tu_sh("attestctl audit verify --log %s --ak %s >%s 2>&1", dir, ak, out), 0);
	CU_ASSERT(file_has(out, "OK: records 0..3 are covered by checkpoint counter"));
	CU_ASSERT(file_has(out, "TIME WENT BACKWARDS: 1 record(s)"));
	CU_ASSERT(file_has(out, "first: record 3, by up to 5 s"));
	tu_tpm_stop(&sw);
}

static void test_torn_tail_logged(void)
{
	struct daemon d;

	daemon_up(&d);
	daemon_stop(&d);
	/* a crash mid-append: a frame header announcing 256 bytes, and 3 */
	CU_ASSERT_EQUAL_FATAL(tu_sh("f=$(ls %s/audit/seg-*.log | tail -n 1) && printf "
				    "'\\000\\000\\001\\000abcdabc' >>\"$f\"",
				    d.state),
			      0);
	daemon_start(&d, "64");
	daemon_stop(&d);
	CU_ASSERT(file_has(d.log, "audit: cut a torn tail at start: 11 bytes of seg-"));
	daemon_down(&d);
}

/* ---- 24: records unanchored too long stop issuance ---- */

/* daemon_start with extra attestd options (NULL-terminated, at most 6) */
static void start_with(struct daemon *d, const char *const extra[])
{
	char pidfile[700], buf[32];
	cJSON *reply = NULL;
	int up = 0;

	d->pid = fork();
	CU_ASSERT_FATAL(d->pid >= 0);
	if (d->pid == 0) {
		const char *argv[32] = { "attestd", "--state", d->state, "--socket", d->sock,
					 "--admin-socket", d->admin, "--tcti", d->sw.tcti,
					 "--frame-timeout", "700" };
		int n = 11;
		FILE *f = freopen(d->log, "a", stderr);

		(void)f;
		for (int i = 0; extra[i] != NULL && i < 6; i++)
			argv[n++] = extra[i];
		argv[n] = NULL;
		execvp("attestd", (char *const *)argv);
		_exit(127);
	}
	snprintf(pidfile, sizeof(pidfile), "%s/attestd.pid", d->sw.dir);
	snprintf(buf, sizeof(buf), "%d\n", (int)d->pid);
	tu_write(pidfile, buf, strlen(buf));
	for (int i = 0; i < 400 && !up; i++) {
		if (access(d->admin, F_OK) == 0 &&
		    admin_call(d, "{\"op\":\"stats\"}", &reply) == ATTEST_OK)
			up = 1;
		cJSON_Delete(reply);
		reply = NULL;
		if (!up)
			usleep(25000);
	}
	CU_ASSERT_FATAL(up);
}

static const char *stat_of(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static void test_unanchored_limit(void)
{
	struct daemon d;
	char a[700], json[1024];
	cJSON *reply = NULL;
	const char *issue = "{\"op\":\"issue\",\"agent\":\"alpha\",\"ttl\":120}";
	/* checkpoints an hour apart, records may wait 3 s: the records of a
	 * registration and an issuance go unanchored past the limit, as when
	 * checkpoints keep failing */
	const char *const extra[] = { "--audit-checkpoint", "3600", "--audit-max-unanchored", "3",
				      NULL };

	daemon_prepare(&d, NULL);
	tu_enrol_host(d.sw.tcti, d.ca, d.state, "web-01");
	start_with(&d, extra);
	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	register_agent(&d, "alpha", a, "0");
	expect_cert(&d, run_agent(NULL, a, d.sock, issue), "alpha");
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"stats\"}", &reply), ATTEST_OK);
	CU_ASSERT_STRING_NOT_EQUAL(stat_of(reply, "audit_unanchored_records"), "0");
	CU_ASSERT_STRING_EQUAL(stat_of(reply, "audit_max_unanchored_s"), "3");
	CU_ASSERT_STRING_EQUAL(stat_of(reply, "clock"), "ok");
	cJSON_Delete(reply);
	sleep(5);
	/* past the limit: fail closed, and said why */
	expect_refused_why(run_agent(NULL, a, d.sock, issue), "ATTEST_E_AUDIT_UNANCHORED",
			   "unanchored");
	snprintf(json, sizeof(json), "{\"op\":\"register\",\"name\":\"beta\",\"binary\":"
		 "\"%s\",\"uids\":[0],\"risk_tier\":\"low\"}", a);
	TU_ASSERT_ERR(admin_call(&d, json, &reply), ATTEST_E_AUDIT_UNANCHORED);
	CU_ASSERT_EQUAL(tu_sh("attestctl stats --admin-socket %s >%s/stats.out 2>&1", d.admin,
			      d.sw.dir),
			0);
	CU_ASSERT(tu_sh("grep -Eq '\"audit_unanchored_age_s\":[[:space:]]*\"([3-9]|[1-9][0-9]+)\"' "
			"%s/stats.out",
			d.sw.dir) == 0);
	CU_ASSERT(file_has(d.log, "issue and register stop until a checkpoint succeeds"));
	/* a checkpoint (here: the one at the next start) anchors them again */
	daemon_stop(&d);
	start_with(&d, extra);
	expect_cert(&d, run_agent(NULL, a, d.sock, issue), "alpha");
	daemon_down(&d);
}

/* ---- issue 17: issuance's group commit off the loop ---- */

/* SHA-256 (hex) of the leaf of a reply's chain, as the audit record's
 * cert_sha256; 0 when the reply is not a certificate. */
static int leaf_sha(const cJSON *reply, char hex[65])
{
	const cJSON *chain = cJSON_GetObjectItemCaseSensitive(reply, "chain");
	unsigned char md[32];
	unsigned int n = 0;
	BIO *b;
	X509 *x = NULL;

	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")) || !cJSON_IsString(chain))
		return 0;
	if ((b = BIO_new_mem_buf(chain->valuestring, -1)) != NULL)
		x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	if (x == NULL || X509_digest(x, EVP_sha256(), md, &n) != 1 || n != 32) {
		X509_free(x);
		return 0;
	}
	X509_free(x);
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 1;
}

/* A requester: up to `rounds` issuances, one after the other; the hash of
 * every leaf it was given goes to `acked` (one line each) after the
 * reply, and a line "refused NAME" for each refusal. Stops at the first
 * reply that is neither (attestd gone). Runs in a child: no CUnit. */
static void requester(const char *bin, const char *sock, const char *json, int rounds,
		      const char *acked)
{
	char cmd[4096], buf[65536], hex[65];

	snprintf(cmd, sizeof(cmd), "'%s' '%s' '%s'", bin, sock, json);
	for (int i = 0; i < rounds; i++) {
		FILE *p = popen(cmd, "r"), *out;
		size_t n = p != NULL ? fread(buf, 1, sizeof(buf) - 1, p) : 0;
		cJSON *o, *err;

		if (p != NULL)
			pclose(p);
		buf[n] = '\0';
		o = cJSON_Parse(buf);
		err = cJSON_GetObjectItemCaseSensitive(o, "error");
		if ((out = fopen(acked, "a")) == NULL)
			_exit(2);
		if (leaf_sha(o, hex))
			fprintf(out, "%s\n", hex);
		else if (cJSON_IsString(err))
			fprintf(out, "refused %s\n", err->valuestring);
		fclose(out);
		if (!leaf_sha(o, hex) && !cJSON_IsString(err)) {
			cJSON_Delete(o);
			break;
		}
		cJSON_Delete(o);
	}
	_exit(0);
}

struct load {
	pid_t kids[16];
	int n;
	char acked[16][700];
};

static void load_start(struct load *l, struct daemon *d, const char *bin, int kids, int rounds)
{
	static const char issue[] = "{\"op\":\"issue\",\"agent\":\"alpha\",\"mode\":\"session\",\"ttl\":60}";

	l->n = kids;
	for (int k = 0; k < kids; k++) {
		snprintf(l->acked[k], sizeof(l->acked[k]), "%s/acked.%d", d->sw.dir, k);
		unlink(l->acked[k]);
		l->kids[k] = fork();
		CU_ASSERT_FATAL(l->kids[k] >= 0);
		if (l->kids[k] == 0)
			requester(bin, d->sock, issue, rounds, l->acked[k]);
	}
}

static void load_wait(struct load *l)
{
	for (int k = 0; k < l->n; k++) {
		int st = 0;

		waitpid(l->kids[k], &st, 0);
		CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
}

/* Lines of all requesters: *certs leaf hashes (each must be a record of
 * the log in dir, when dir is not NULL), *refused refusals naming `why`
 * (NULL: any refusal counts as a failure). */
struct seen {
	char **recs;
	size_t n, cap;
};

static int seen_rec(uint64_t seq, const uint8_t *rec, size_t len, void *arg)
{
	struct seen *s = arg;

	(void)seq;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		s->recs = realloc(s->recs, s->cap * sizeof(*s->recs));
	}
	s->recs[s->n] = strndup((const char *)rec, len);
	s->n++;
	return ATTEST_OK;
}

static void load_check(struct load *l, const char *auditdir, const char *why, int *certs,
		       int *refused, int *other)
{
	struct seen s = { 0 };
	char line[256];

	*certs = *refused = *other = 0;
	TU_ASSERT_ERR(attest_audit_scan(auditdir, seen_rec, &s, NULL), ATTEST_OK);
	for (int k = 0; k < l->n; k++) {
		FILE *f = fopen(l->acked[k], "r");

		if (f == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL) {
			int found = 0;

			line[strcspn(line, "\n")] = '\0';
			if (strncmp(line, "refused ", 8) == 0) {
				if (why != NULL && strcmp(line + 8, why) == 0)
					(*refused)++;
				else
					(*other)++;
				continue;
			}
			(*certs)++;
			for (size_t i = 0; i < s.n && !found; i++)
				found = strstr(s.recs[i], line) != NULL;
			if (!found)
				fprintf(stderr, "  acknowledged leaf %s has no record in the log\n", line);
			CU_ASSERT(found);
		}
		fclose(f);
	}
	for (size_t i = 0; i < s.n; i++)
		free(s.recs[i]);
	free(s.recs);
}

/* Sixteen requesters at once are all served, each with a leaf whose
 * record is in the log; then attestd is killed (-9) while they keep
 * asking: every leaf a requester was given has its record in the log
 * (the reply waited for its batch to be durable), and attestd starts again
 * on that log (a torn tail at most, never acknowledged). */
static void test_group_commit_kill9(void)
{
	static struct daemon d;
	struct load l;
	char a[700], auditdir[700];
	int certs, refused, other;

	daemon_up(&d);
	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	register_agent(&d, "alpha", a, "0");
	snprintf(auditdir, sizeof(auditdir), "%s/audit", d.state);
	load_start(&l, &d, a, 16, 4);
	load_wait(&l);
	load_check(&l, auditdir, NULL, &certs, &refused, &other);
	CU_ASSERT_EQUAL(certs, 16 * 4); /* all served */
	CU_ASSERT_EQUAL(other, 0);
	/* under load, killed */
	load_start(&l, &d, a, 16, 1000);
	for (int i = 0; i < 600; i++) {
		int n = 0;

		for (int k = 0; k < 16; k++) {
			struct stat st;

			if (stat(l.acked[k], &st) == 0)
				n += (int)(st.st_size / 65);
		}
		if (n >= 48)
			break;
		usleep(50000);
	}
	kill9(&d);
	load_wait(&l);
	load_check(&l, auditdir, NULL, &certs, &refused, &other);
	CU_ASSERT(certs >= 1);
	fprintf(stderr, "  %d certificates acknowledged before kill -9, all in the log\n", certs);
	daemon_start(&d, "64");
	expect_cert(&d, run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\"}"), "alpha");
	daemon_down(&d);
}

/* The test build's attestd (attestd-hooks) fails its audit syncs while a
 * file exists: requests waiting on a failed sync are refused with
 * ATTEST_E_IO, never given their certificate, and so are later ones (the
 * log takes no record until attestd is restarted on a good disk). */
static void test_group_commit_sync_fails_closed(void)
{
	static struct daemon d;
	struct load l;
	char a[700], auditdir[700], bindir[700], path[1400], flag[700], *oldpath;
	int certs, refused, other;

	daemon_up(&d);
	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	register_agent(&d, "alpha", a, "0");
	daemon_stop(&d);
	/* "attestd" on PATH is the test build, for this daemon only */
	snprintf(bindir, sizeof(bindir), "%s/hooks-bin", d.sw.dir);
	CU_ASSERT_FATAL(mkdir(bindir, 0700) == 0);
	CU_ASSERT_FATAL(tu_sh("ln -s '%s/../tests/attestd-hooks' '%s/attestd'", agents_dir(),
			      bindir) == 0);
	snprintf(flag, sizeof(flag), "%s/sync-fails", d.sw.dir);
	setenv("ATTESTD_TEST_SYNC_FAIL", flag, 1);
	oldpath = strdup(getenv("PATH"));
	snprintf(path, sizeof(path), "%s:%s", bindir, oldpath);
	setenv("PATH", path, 1);
	daemon_start(&d, "64");
	setenv("PATH", oldpath, 1);
	free(oldpath);
	unsetenv("ATTESTD_TEST_SYNC_FAIL"); /* the daemon's only, not the agents' */
	snprintf(auditdir, sizeof(auditdir), "%s/audit", d.state);
	expect_cert(&d, run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\"}"), "alpha");
	tu_write(flag, "1", 1);
	load_start(&l, &d, a, 8, 3);
	load_wait(&l);
	load_check(&l, auditdir, "ATTEST_E_IO", &certs, &refused, &other);
	CU_ASSERT_EQUAL(certs, 0);   /* nothing acknowledged after the failure */
	CU_ASSERT_EQUAL(refused, 8 * 3);
	CU_ASSERT_EQUAL(other, 0);
	CU_ASSERT(file_has(d.log, "audit: sync failed"));
	unlink(flag);
	daemon_stop(&d);
	daemon_start(&d, "64");
	expect_cert(&d, run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\"}"), "alpha");
	daemon_down(&d);
}

/* The verifier under 8 concurrent deciders, killed (-9) while they keep
 * asking: every decision a decider was answered (allow, each on its own
 * resource) has its record in the verifier's log; answered replies waited
 * for the sync thread's batch. */
static void decider(struct verifier *v, const char *chain_pem, int k, const char *acked)
{
	for (int i = 0; i < 1000; i++) {
		cJSON *o = cJSON_CreateObject(), *rep = NULL;
		char res[64], *body;
		long st;
		FILE *out;

		snprintf(res, sizeof(res), "ehr:patient/%d-%d/record", k, i);
		cJSON_AddStringToObject(o, "chain", chain_pem);
		cJSON_AddStringToObject(o, "action", "read");
		cJSON_AddStringToObject(o, "resource", res);
		body = cJSON_PrintUnformatted(o);
		st = verifier_call(v, AS_RESOURCE, "/v1/decide", body, &rep);
		cJSON_free(body);
		cJSON_Delete(o);
		cJSON_Delete(rep);
		if (st != 200)
			break;
		if ((out = fopen(acked, "a")) == NULL)
			_exit(2);
		fprintf(out, "\"%s\"\n", res);
		fclose(out);
	}
	_exit(0);
}

static void test_verifier_group_commit_kill9(void)
{
	static struct vfleet f;
	struct load l;
	char auditdir[800], *pem;
	struct seen s = { 0 };
	int certs = 0;

	(void)tu_env_keep_only();
	vfleet_up(&f, TU_POLICY_RECORDS_READ(30));
	pem = tu_slurp(f.chain, NULL);
	/* the host's first push landed: decisions allow */
	for (int i = 0; i < 200; i++) {
		cJSON *o = cJSON_CreateObject(), *rep = NULL;
		char *body;
		long st;

		cJSON_AddStringToObject(o, "chain", pem);
		cJSON_AddStringToObject(o, "action", "read");
		cJSON_AddStringToObject(o, "resource", "ehr:patient/0/record");
		body = cJSON_PrintUnformatted(o);
		st = verifier_call(&f.v, AS_RESOURCE, "/v1/decide", body, &rep);
		cJSON_free(body);
		cJSON_Delete(o);
		cJSON_Delete(rep);
		if (st == 200)
			break;
		usleep(50000);
	}
	l.n = 8;
	for (int k = 0; k < l.n; k++) {
		snprintf(l.acked[k], sizeof(l.acked[k]), "%s/vacked.%d", f.d.sw.dir, k);
		unlink(l.acked[k]);
		l.kids[k] = fork();
		CU_ASSERT_FATAL(l.kids[k] >= 0);
		if (l.kids[k] == 0)
			decider(&f.v, pem, k, l.acked[k]);
	}
	for (int i = 0; i < 600; i++) {
		struct stat st;
		int n = 0;

		for (int k = 0; k < l.n; k++)
			if (stat(l.acked[k], &st) == 0)
				n += st.st_size > 0;
		if (n == l.n)
			break;
		usleep(50000);
	}
	usleep(300000);
	kill(f.v.pid, SIGKILL);
	waitpid(f.v.pid, NULL, 0);
	f.v.pid = 0;
	load_wait(&l);
	snprintf(auditdir, sizeof(auditdir), "%s/audit", f.v.state);
	TU_ASSERT_ERR(attest_audit_scan(auditdir, seen_rec, &s, NULL), ATTEST_OK);
	for (int k = 0; k < l.n; k++) {
		FILE *fp = fopen(l.acked[k], "r");
		char line[128];

		if (fp == NULL)
			continue;
		while (fgets(line, sizeof(line), fp) != NULL) {
			int found = 0;

			line[strcspn(line, "\n")] = '\0';
			certs++;
			for (size_t i = 0; i < s.n && !found; i++)
				found = strstr(s.recs[i], line) != NULL;
			if (!found)
				fprintf(stderr, "  acknowledged decision on %s has no record\n", line);
			CU_ASSERT(found);
		}
		fclose(fp);
	}
	fprintf(stderr, "  %d decisions acknowledged before kill -9, all in the log\n", certs);
	CU_ASSERT(certs >= l.n);
	for (size_t i = 0; i < s.n; i++)
		free(s.recs[i]);
	free(s.recs);
	free(pem);
	verifier_start(&f.v); /* restarts on that log */
	vfleet_down(&f);
}

/* ---- issue 17 item 4: kill -9 under quote load ---- */

/* A quote of the swtpm at tcti over the boot PCRs with the nonce, as the
 * push body (test_verifier's quote_body); the attest field's SHA-256 in
 * qhex. */
static char *fault_quote_body(const char *tcti, const char *host, const uint8_t *nonce,
			      size_t nlen, char qhex[65])
{
	struct attest_tpm *t = NULL;
	TPM2B_ATTEST att;
	TPMT_SIGNATURE sig;
	struct attest_pcrs pcrs;
	uint8_t sigbuf[sizeof(TPMT_SIGNATURE)], vals[8 * 32], md[32];
	size_t off = 0;
	cJSON *o = cJSON_CreateObject();
	char *out = NULL;

	if (o == NULL || attest_tpm_open(tcti, &t) != ATTEST_OK)
		_exit(20);
	if (attest_tpm_quote(t, 0xff, nonce, nlen, &att, &sig) != ATTEST_OK ||
	    attest_tpm_pcr_read(t, 0xff, &pcrs) != ATTEST_OK)
		_exit(21);
	attest_tpm_close(t);
	if (Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, sigbuf, sizeof(sigbuf), &off) != TSS2_RC_SUCCESS ||
	    EVP_Digest(att.attestationData, att.size, md, NULL, EVP_sha256(), NULL) != 1)
		_exit(22);
	attest_hex(md, sizeof(md), qhex);
	for (unsigned i = 0; i < 8; i++)
		memcpy(vals + 32 * i, pcrs.value[i], 32);
	if (attest_json_add_str(o, "host", host) != ATTEST_OK ||
	    attest_json_add_b64(o, "nonce", nonce, nlen) != ATTEST_OK ||
	    attest_json_add_b64(o, "attest", att.attestationData, att.size) != ATTEST_OK ||
	    attest_json_add_b64(o, "signature", sigbuf, off) != ATTEST_OK ||
	    attest_json_add_u64(o, "pcr_mask", 0xff) != ATTEST_OK ||
	    attest_json_add_b64(o, "pcr_values", vals, sizeof(vals)) != ATTEST_OK ||
	    attest_json_print(o, &out, NULL) != ATTEST_OK)
		_exit(23);
	cJSON_Delete(o);
	return out;
}

/* The host pushing quotes back to back; each one answered "trusted" is
 * written to dir/acked-N.json with its quote hash in dir/acked-N.sha. */
static void quoter(struct verifier *v, const char *tcti, const char *dir)
{
	for (int i = 0; i < 10000; i++) {
		cJSON *rep = NULL;
		const cJSON *st;
		uint8_t *n = NULL;
		size_t nlen = 0;
		char qhex[65], path[900], *body;

		if (verifier_call(v, AS_NONE, "/v1/hosts/nonce", "{\"host\":\"web-01\"}", &rep) != 200 ||
		    attest_json_b64(rep, "nonce", 64, &n, &nlen) != ATTEST_OK)
			_exit(0); /* the verifier is gone */
		cJSON_Delete(rep);
		rep = NULL;
		body = fault_quote_body(tcti, "web-01", n, nlen, qhex);
		free(n);
		if (verifier_call(v, AS_NONE, "/v1/hosts/quote", body, &rep) != 200)
			_exit(0);
		st = cJSON_GetObjectItemCaseSensitive(rep, "state");
		if (!cJSON_IsString(st) || strcmp(st->valuestring, "trusted") != 0)
			_exit(3);
		cJSON_Delete(rep);
		/* acknowledged: recorded (the body first, the hash marks it) */
		snprintf(path, sizeof(path), "%s/acked-%d.json", dir, i);
		tu_write(path, body, strlen(body));
		snprintf(path, sizeof(path), "%s/acked-%d.sha", dir, i);
		tu_write(path, qhex, strlen(qhex));
		free(body);
	}
	_exit(0);
}

/* The verifier killed (-9) while a host pushes quotes: every quote it
 * answered "trusted" has its record in the audit log and its nonce in
 * the store (sent again after the restart: refused as used, the host
 * stays trusted), so the one store commit came before the answer. */
static void test_quotes_kill9(void)
{
	struct tu_tpm sw;
	struct verifier v;
	char ca[600], state[600], dir[700], auditdir[800], path[900];
	struct seen s = { 0 };
	pid_t kid;
	int acked = 0, st;

	(void)tu_env_keep_only();
	tu_tpm_start(&sw);
	snprintf(ca, sizeof(ca), "%s/ca", sw.dir);
	snprintf(state, sizeof(state), "%s/state", sw.dir);
	snprintf(dir, sizeof(dir), "%s/acks", sw.dir);
	CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
	tu_enrol_host(sw.tcti, ca, state, "web-01");
	verifier_up(&v, ca, NULL);
	kid = fork();
	CU_ASSERT_FATAL(kid >= 0);
	if (kid == 0)
		quoter(&v, sw.tcti, dir);
	/* a few acknowledged, then killed mid-stream (generous deadline) */
	for (int i = 0; i < 1200; i++) {
		snprintf(path, sizeof(path), "%s/acked-3.sha", dir);
		if (access(path, F_OK) == 0)
			break;
		usleep(50000);
	}
	usleep(200000);
	kill(v.pid, SIGKILL);
	waitpid(v.pid, NULL, 0);
	v.pid = 0;
	CU_ASSERT_FATAL(waitpid(kid, &st, 0) == kid);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	verifier_start(&v);
	snprintf(auditdir, sizeof(auditdir), "%s/audit", v.state);
	TU_ASSERT_ERR(attest_audit_scan(auditdir, seen_rec, &s, NULL), ATTEST_OK);
	for (int i = 0;; i++) {
		char *sha, *body;
		cJSON *rep = NULL;
		int found = 0;

		snprintf(path, sizeof(path), "%s/acked-%d.sha", dir, i);
		if (access(path, F_OK) != 0 || (sha = tu_slurp(path, NULL)) == NULL)
			break;
		acked++;
		for (size_t k = 0; k < s.n && !found; k++)
			found = strstr(s.recs[k], sha) != NULL;
		if (!found)
			fprintf(stderr, "  acknowledged quote %d (%s) has no audit record\n", i, sha);
		CU_ASSERT(found);
		snprintf(path, sizeof(path), "%s/acked-%d.json", dir, i);
		body = tu_slurp(path, NULL);
		CU_ASSERT_FATAL(body != NULL);
		CU_ASSERT_EQUAL(verifier_call(&v, AS_NONE, "/v1/hosts/quote", body, &rep), 403);
		if (strcmp(reply_reason(rep), "ATTEST_E_NONCE") != 0)
			fprintf(stderr, "  acknowledged quote %d sent again: %s\n", i,
				reply_reason(rep));
		CU_ASSERT_STRING_EQUAL(reply_reason(rep), "ATTEST_E_NONCE");
		cJSON_Delete(rep);
		free(body);
		free(sha);
	}
	fprintf(stderr, "  %d quotes acknowledged before kill -9: each in the log, each nonce "
			"kept\n", acked);
	CU_ASSERT(acked >= 4);
	{
		cJSON *rep = NULL, *h;
		int trusted = 0;

		CU_ASSERT_FATAL(verifier_call(&v, AS_ADMIN, "/v1/hosts", NULL, &rep) == 200);
		cJSON_ArrayForEach(h, rep) {
			const cJSON *n = cJSON_GetObjectItemCaseSensitive(h, "host");
			const cJSON *t = cJSON_GetObjectItemCaseSensitive(h, "state");

			if (cJSON_IsString(n) && strcmp(n->valuestring, "web-01") == 0)
				trusted = cJSON_IsString(t) && strcmp(t->valuestring, "trusted") == 0;
		}
		CU_ASSERT(trusted);
		cJSON_Delete(rep);
	}
	for (size_t i = 0; i < s.n; i++)
		free(s.recs[i]);
	free(s.recs);
	verifier_down(&v);
	tu_tpm_stop(&sw);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "group commit: 16 requesters served; kill -9 under load keeps every acked record",
		  test_group_commit_kill9 },
		{ "group commit: a failed audit sync refuses the waiting issuances (ATTEST_E_IO)",
		  test_group_commit_sync_fails_closed },
		{ "group commit: verifier killed -9 under 8 deciders keeps every answered record",
		  test_verifier_group_commit_kill9 },
		{ "quotes: verifier killed -9 under a host's pushes keeps every answered quote "
		  "(log record and used nonce)", test_quotes_kill9 },
		{ "a second attestd or verifier on one state is refused, naming the holder",
		  test_second_instance_refused },
		{ "a deleted, truncated or damaged verifier store is refused; a bad row is a 500",
		  test_damaged_store_refused },
		{ "TPM dictionary-attack lockout: attestd registers, issues, checkpoints, verifies",
		  test_lockout_keeps_serving },
		{ "checkpoints made while the verifier is down survive kill -9 and are sent in order",
		  test_unsent_checkpoints_survive },
		{ "wall clock set back against the TPM clock: issuance stops (ATTEST_E_CLOCK)",
		  test_clock_jump_stops_issuance },
		{ "audit verify: no checkpoint is NOT ANCHORED; time going back is reported",
		  test_audit_verify_says_plainly },
		{ "a torn tail cut at start is logged with its size and segment",
		  test_torn_tail_logged },
		{ "records unanchored past --audit-max-unanchored stop issuance; stats show it",
		  test_unanchored_limit },
		{ NULL, NULL },
	};

	return tu_main("faults", tests);
}
