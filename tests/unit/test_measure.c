/* test_measure.c - who is calling: pinning, inspecting and measuring the
 * process behind a socket peer.
 * Targets: attest_proc_pin, attest_proc_check, attest_proc_inspect,
 * attest_measure_exe, attest_measure_file and the digest cache.
 * Runs the agents built from tests/agents/ (*.c), found in $ATTEST_TEST_AGENTS
 * (default $ATTEST_SRCDIR/$BUILD/agents, BUILD defaulting to build). No TPM. Every child is killed and
 * reaped on every path (reap_all at the start and end of each test and at
 * exit, for a test cut short by a fatal assertion). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "measure/measure.h"
#include "testutil.h"

/* Test seam in measure.c (not in measure.h): lookups the cache answered. */
size_t attest_measure_cache_hits(const struct attest_measure_cache *c);
/* Test seam in measure.c: 1 if the open file may be answered from the cache. */
int attest_measure_cacheable(int fd);

static char *const clean_env[] = { "PATH=/usr/bin:/bin", NULL };

/* ---- children ---- */

#define MAX_CHILDREN 16
static pid_t live[MAX_CHILDREN];

static void track(pid_t p)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (live[i] == 0) {
			live[i] = p;
			return;
		}
	fprintf(stderr, "test_measure: too many children\n");
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
}

/* Kill and reap p (a no-op for 0). */
static void reap(pid_t p)
{
	if (p <= 0)
		return;
	(void)kill(p, SIGKILL);
	while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
		;
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (live[i] == p)
			live[i] = 0;
}

static void reap_all(void)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		reap(live[i]);
}

struct child {
	pid_t pid;
	int out; /* its stdout */
	int in;	 /* its stdin, or -1 */
};

static void child_stop(struct child *c)
{
	reap(c->pid);
	c->pid = 0;
	if (c->out >= 0)
		close(c->out);
	if (c->in >= 0)
		close(c->in);
	c->out = c->in = -1;
}

/* Next line from the child's stdout (10 s timeout); its leading number. */
static long child_line(struct child *c)
{
	char line[128];
	size_t n = 0;

	while (n < sizeof(line) - 1) {
		struct pollfd pfd = { .fd = c->out, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, 10000) != 1)
			return -1;
		r = read(c->out, line + n, 1);
		if (r != 1)
			return -1;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	return tu_leading_num(line);
}

/* fork + execve with stdout (and stdin, if with_stdin) on pipes; waits
 * until the program has written its PID. stderr to /dev/null if quiet (the
 * loader warns about LD_PRELOAD=/nonexistent). */
static bool child_start(struct child *c, const char *path, char *const argv[],
			char *const envp[], bool with_stdin, bool quiet)
{
	int out[2], in[2] = { -1, -1 };
	pid_t pid;

	c->pid = 0;
	c->out = c->in = -1;
	if (pipe2(out, O_CLOEXEC) != 0)
		return false;
	if (with_stdin && pipe2(in, O_CLOEXEC) != 0) {
		close(out[0]);
		close(out[1]);
		return false;
	}
	pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		if (dup2(out[1], STDOUT_FILENO) < 0 || (with_stdin && dup2(in[0], STDIN_FILENO) < 0))
			_exit(126);
		if (quiet) {
			int nul = open("/dev/null", O_WRONLY);

			if (nul < 0 || dup2(nul, STDERR_FILENO) < 0)
				_exit(126);
		}
		execve(path, argv, envp);
		_exit(127);
	}
	track(pid);
	c->pid = pid;
	close(out[1]);
	c->out = out[0];
	if (with_stdin) {
		close(in[0]);
		c->in = in[1];
	}
	if (child_line(c) != (long)pid) {
		fprintf(stderr, "  %s did not start\n", path);
		child_stop(c);
		return false;
	}
	return true;
}

/* ---- files ---- */

static const char *agent(const char *name)
{
	static char paths[2][1024];
	static int which;
	const char *dir = getenv("ATTEST_TEST_AGENTS");
	const char *src = getenv("ATTEST_SRCDIR");
	const char *build = getenv("BUILD"); /* set by make check / make asan */
	char *p = paths[which++ % 2];

	if (dir != NULL && dir[0] != '\0')
		snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
	else
		snprintf(p, sizeof(paths[0]), "%s/%s/agents/%s",
			 src != NULL && src[0] != '\0' ? src : ".",
			 build != NULL && build[0] != '\0' ? build : "build", name);
	if (access(p, X_OK) != 0) {
		fprintf(stderr, "test_measure: agent %s missing: build tests/agents/*.c and set "
				"ATTEST_TEST_AGENTS\n", p);
		exit(2);
	}
	return p;
}

static void copy_file(const char *src, const char *dst, mode_t mode)
{
	size_t n;
	char *data = tu_slurp(src, &n);

	tu_write(dst, data, n);
	free(data);
	CU_ASSERT_FATAL(chmod(dst, mode) == 0);
}

static void sha256_file(const char *path, uint8_t out[32])
{
	size_t n;
	char *data = tu_slurp(path, &n);

	CU_ASSERT_FATAL(EVP_Digest(data, n, out, NULL, EVP_sha256(), NULL) == 1);
	free(data);
}

static void wait_settled(void)
{
	/* measure.c caches only digests of files whose ctime is 2 s old. */
	struct timespec ts = { 2, 300 * 1000 * 1000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static bool is_root(const char *test)
{
	if (geteuid() == 0)
		return true;
	fprintf(stderr, "  %s: skipped (needs root to chown)\n", test);
	return false;
}

/* ---- pin and check ---- */

static void test_pin_check(void)
{
	struct attest_proc_pin pin;
	struct child c;
	struct stat st;
	const char *a = agent("test_agent");
	char *argv[] = { "test_agent", "sleep", NULL };

	reap_all();
	TU_ASSERT_ERR(attest_proc_pin(0, &pin), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(attest_proc_pin(-1, &pin), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(attest_proc_pin(getpid(), NULL), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(attest_proc_check(NULL), ATTEST_E_INVALID_ARG);
	CU_ASSERT_FATAL(child_start(&c, a, argv, clean_env, false, false));
	TU_ASSERT_ERR(attest_proc_pin(c.pid, &pin), ATTEST_OK);
	CU_ASSERT(pin.pid == c.pid);
	CU_ASSERT(pin.start_time > 0);
	CU_ASSERT(stat(a, &st) == 0 && st.st_dev == pin.exe_dev && st.st_ino == pin.exe_ino);
	TU_ASSERT_ERR(attest_proc_check(&pin), ATTEST_OK);
	TU_ASSERT_ERR(attest_proc_check(&pin), ATTEST_OK);
	child_stop(&c);
}

/* The pinned process exec's another program: same PID, same start time,
 * another inode. */
static void test_check_after_exec(void)
{
	struct attest_proc_pin pin, pin2;
	struct child c;
	uint8_t d[32], want[32];
	char other[1024];
	char *argv[] = { "test_agent", "exec", other, NULL };

	reap_all();
	snprintf(other, sizeof(other), "%s", agent("other_agent"));
	CU_ASSERT_FATAL(child_start(&c, agent("test_agent"), argv, clean_env, true, false));
	TU_ASSERT_ERR(attest_proc_pin(c.pid, &pin), ATTEST_OK);
	TU_ASSERT_ERR(attest_measure_exe(NULL, &pin, d), ATTEST_OK);
	sha256_file(agent("test_agent"), want);
	CU_ASSERT(memcmp(d, want, 32) == 0);

	CU_ASSERT(write(c.in, "x", 1) == 1);
	CU_ASSERT(child_line(&c) == (long)c.pid); /* other_agent is running */
	TU_ASSERT_ERR(attest_proc_check(&pin), ATTEST_E_PROC_CHANGED);
	CU_ASSERT(strstr(attest_errdetail(), "exec") != NULL);
	TU_ASSERT_ERR(attest_measure_exe(NULL, &pin, d), ATTEST_E_PROC_CHANGED);

	TU_ASSERT_ERR(attest_proc_pin(c.pid, &pin2), ATTEST_OK);
	CU_ASSERT(pin2.start_time == pin.start_time); /* exec keeps the start time */
	TU_ASSERT_ERR(attest_measure_exe(NULL, &pin2, d), ATTEST_OK);
	sha256_file(other, want);
	CU_ASSERT(memcmp(d, want, 32) == 0);
	child_stop(&c);
}

/* PID reuse cannot be forced; what it looks like to the pin can: another
 * start time, or the pinned process gone. */
static void test_check_after_exit(void)
{
	struct attest_proc_pin pin, alt;
	struct attest_proc_info info;
	struct child a, b;
	uint8_t d[32];
	siginfo_t si;
	pid_t z;
	char *argv[] = { "test_agent", "sleep", NULL };

	reap_all();
	CU_ASSERT_FATAL(child_start(&a, agent("test_agent"), argv, clean_env, false, false));
	TU_ASSERT_ERR(attest_proc_pin(a.pid, &pin), ATTEST_OK);

	alt = pin;
	alt.start_time++;
	TU_ASSERT_ERR(attest_proc_check(&alt), ATTEST_E_PROC_CHANGED);
	CU_ASSERT(strstr(attest_errdetail(), "reused") != NULL);
	TU_ASSERT_ERR(attest_measure_exe(NULL, &alt, d), ATTEST_E_PROC_CHANGED);
	alt = pin;
	alt.exe_ino++;
	TU_ASSERT_ERR(attest_proc_check(&alt), ATTEST_E_PROC_CHANGED);
	TU_ASSERT_ERR(attest_measure_exe(NULL, &alt, d), ATTEST_E_PROC_CHANGED);
	alt = pin;
	alt.exe_dev++;
	TU_ASSERT_ERR(attest_proc_check(&alt), ATTEST_E_PROC_CHANGED);

	child_stop(&a);
	TU_ASSERT_ERR(attest_proc_check(&pin), ATTEST_E_PROC_CHANGED);
	CU_ASSERT(strstr(attest_errdetail(), "exited") != NULL);
	TU_ASSERT_ERR(attest_proc_pin(pin.pid, &alt), ATTEST_E_PROC_CHANGED);
	TU_ASSERT_ERR(attest_measure_exe(NULL, &pin, d), ATTEST_E_PROC_CHANGED);
	TU_ASSERT_ERR(attest_proc_inspect(pin.pid, &info), ATTEST_E_PROC_CHANGED);

	/* Another process now: whatever PID it got, the old pin stays refused. */
	CU_ASSERT_FATAL(child_start(&b, agent("test_agent"), argv, clean_env, false, false));
	CU_ASSERT(attest_proc_check(&pin) == ATTEST_E_PROC_CHANGED);
	child_stop(&b);

	/* A zombie has a stat file but no exe and an empty environ. */
	z = fork();
	CU_ASSERT_FATAL(z >= 0);
	if (z == 0)
		_exit(0);
	track(z);
	CU_ASSERT(waitid(P_PID, (id_t)z, &si, WEXITED | WNOWAIT) == 0);
	TU_ASSERT_ERR(attest_proc_pin(z, &alt), ATTEST_E_PROC_CHANGED);
	TU_ASSERT_ERR(attest_proc_inspect(z, &info), ATTEST_E_PROC_CHANGED);
	reap(z);
}

/* ---- one /proc/PID directory per request (issue 17) ----
 * attestd's monitor opens /proc/PID once per request and measures, checks
 * and re-checks after signing through that fd. The fd must not make it
 * blind: a process that exec's or exits between the measurement and the
 * re-check is refused through the held fd as it was with a fresh open. */

/* A process with exactly pid want (clone3 set_tid: root in the initial
 * user namespace), pausing until killed; 0 when the kernel will not. */
static pid_t spawn_with_pid(pid_t want)
{
#ifdef SYS_clone3
	struct {
		uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
			set_tid, set_tid_size, cgroup;
	} args;
	pid_t tid = want;
	long r;

	memset(&args, 0, sizeof(args));
	args.exit_signal = SIGCHLD;
	args.set_tid = (uint64_t)(uintptr_t)&tid;
	args.set_tid_size = 1;
	r = syscall(SYS_clone3, &args, sizeof(args));
	if (r == 0) {
		for (;;)
			pause();
	}
	if (r > 0) {
		track((pid_t)r);
		return (pid_t)r;
	}
#else
	(void)want;
#endif
	return 0;
}

static void test_at_exec(void)
{
	struct attest_proc_pin pin;
	struct attest_proc_info info;
	static const char *const allow[] = { "PATH" };
	struct child c;
	uint8_t d[32], want[32];
	char other[1024];
	char *argv[] = { "test_agent", "exec", other, NULL };
	int dfd = -1;

	reap_all();
	TU_ASSERT_ERR(attest_proc_open(0, &dfd), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(attest_proc_pin_at(-1, getpid(), &pin), ATTEST_E_INVALID_ARG);
	snprintf(other, sizeof(other), "%s", agent("other_agent"));
	CU_ASSERT_FATAL(child_start(&c, agent("test_agent"), argv, clean_env, true, false));
	TU_ASSERT_ERR(attest_proc_open(c.pid, &dfd), ATTEST_OK);
	CU_ASSERT_FATAL(dfd >= 0);
	/* everything the monitor reads, through the one fd */
	TU_ASSERT_ERR(attest_proc_pin_at(dfd, c.pid, &pin), ATTEST_OK);
	{
		struct stat st;

		CU_ASSERT(stat(agent("test_agent"), &st) == 0 && st.st_size == pin.exe_size &&
			  st.st_ino == pin.exe_ino);
	}
	TU_ASSERT_ERR(attest_proc_inspect_at(dfd, c.pid, &info), ATTEST_OK);
	CU_ASSERT(info.ruid == getuid() && info.tracer_pid == 0);
	TU_ASSERT_ERR(attest_proc_env_check_at(dfd, &pin, allow, 1, ATTEST_ENV_CAP_DEFAULT),
		      ATTEST_OK);
	TU_ASSERT_ERR(attest_proc_same_fs_view_at(dfd, &pin), ATTEST_OK);
	TU_ASSERT_ERR(attest_proc_cmdline_script_at(dfd, c.pid, "exec"), ATTEST_OK);
	TU_ASSERT_ERR(attest_proc_cmdline_script_at(dfd, c.pid, "sleep"), ATTEST_E_MEASUREMENT);
	TU_ASSERT_ERR(attest_measure_exe_at(NULL, dfd, &pin, d), ATTEST_OK);
	sha256_file(agent("test_agent"), want);
	CU_ASSERT(memcmp(d, want, 32) == 0);
	TU_ASSERT_ERR(attest_proc_check_at(dfd, &pin), ATTEST_OK);

	/* it exec's another binary between the measurement and the re-check */
	CU_ASSERT(write(c.in, "x", 1) == 1);
	CU_ASSERT(child_line(&c) == (long)c.pid); /* other_agent is running */
	TU_ASSERT_ERR(attest_proc_check_at(dfd, &pin), ATTEST_E_PROC_CHANGED);
	CU_ASSERT(strstr(attest_errdetail(), "exec") != NULL);
	TU_ASSERT_ERR(attest_measure_exe_at(NULL, dfd, &pin, d), ATTEST_E_PROC_CHANGED);
	TU_ASSERT_ERR(attest_proc_env_check_at(dfd, &pin, allow, 1, ATTEST_ENV_CAP_DEFAULT),
		      ATTEST_E_PROC_CHANGED);
	close(dfd);
	child_stop(&c);
}

static void test_at_exit_and_reuse(void)
{
	struct attest_proc_pin pin, now;
	struct attest_proc_info info;
	static const char *const allow[] = { "PATH" };
	struct child c;
	uint8_t d[32];
	char *argv[] = { "test_agent", "sleep", NULL };
	pid_t old, again;
	int dfd = -1;

	reap_all();
	CU_ASSERT_FATAL(child_start(&c, agent("test_agent"), argv, clean_env, false, false));
	old = c.pid;
	TU_ASSERT_ERR(attest_proc_open(old, &dfd), ATTEST_OK);
	TU_ASSERT_ERR(attest_proc_pin_at(dfd, old, &pin), ATTEST_OK);
	TU_ASSERT_ERR(attest_measure_exe_at(NULL, dfd, &pin, d), ATTEST_OK);

	/* it exits (and is reaped) between the measurement and the re-check */
	child_stop(&c);
	TU_ASSERT_ERR(attest_proc_check_at(dfd, &pin), ATTEST_E_PROC_CHANGED);
	TU_ASSERT_ERR(attest_proc_inspect_at(dfd, old, &info), ATTEST_E_PROC_CHANGED);
	TU_ASSERT_ERR(attest_measure_exe_at(NULL, dfd, &pin, d), ATTEST_E_PROC_CHANGED);
	TU_ASSERT_ERR(attest_proc_env_check_at(dfd, &pin, allow, 1, ATTEST_ENV_CAP_DEFAULT),
		      ATTEST_E_PROC_CHANGED);
	TU_ASSERT_ERR(attest_proc_cmdline_script_at(dfd, old, "sleep"), ATTEST_E_PROC_CHANGED);

	/* its PID now names another process: the held fd never sees it */
	again = spawn_with_pid(old);
	if (again != old) {
		fprintf(stderr, "  clone3 set_tid refused here: PID reuse part skipped\n");
	} else {
		TU_ASSERT_ERR(attest_proc_pin(old, &now), ATTEST_OK); /* a fresh open does */
		CU_ASSERT(now.start_time != pin.start_time || now.exe_ino != pin.exe_ino);
		TU_ASSERT_ERR(attest_proc_check_at(dfd, &pin), ATTEST_E_PROC_CHANGED);
		TU_ASSERT_ERR(attest_proc_pin_at(dfd, old, &now), ATTEST_E_PROC_CHANGED);
		TU_ASSERT_ERR(attest_proc_inspect_at(dfd, old, &info), ATTEST_E_PROC_CHANGED);
		TU_ASSERT_ERR(attest_measure_exe_at(NULL, dfd, &pin, d), ATTEST_E_PROC_CHANGED);
		reap(again);
	}
	close(dfd);
	reap_all();
}

/* comm is chosen by the process and lands raw in /proc/PID/stat: spaces,
 * parentheses and a newline must not shift field 22. The agent sets it
 * after an exec of the same binary, which keeps start time and inode. */
static void test_comm_with_parens(void)
{
	static const char *const names[] = { "x) S 1 2 3 (y)", ")\n) 9 9 9 9 )", ") 0 0 0 0 0 0 0" };

	reap_all();
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct attest_proc_pin pin, pin2;
		struct attest_proc_info info;
		struct child c;
		char self[1024], name[32];
		char *argv[] = { "test_agent", "exec", self, "name", name, NULL };

		snprintf(self, sizeof(self), "%s", agent("test_agent"));
		snprintf(name, sizeof(name), "%s", names[i]);
		CU_ASSERT_FATAL(child_start(&c, self, argv, clean_env, true, false));
		TU_ASSERT_ERR(attest_proc_pin(c.pid, &pin), ATTEST_OK);
		CU_ASSERT(write(c.in, "x", 1) == 1);
		CU_ASSERT(child_line(&c) == (long)c.pid);
		TU_ASSERT_ERR(attest_proc_pin(c.pid, &pin2), ATTEST_OK);
		CU_ASSERT(pin2.start_time == pin.start_time);
		TU_ASSERT_ERR(attest_proc_check(&pin), ATTEST_OK);
		TU_ASSERT_ERR(attest_proc_inspect(c.pid, &info), ATTEST_OK);
		CU_ASSERT(info.ppid == getpid());
		child_stop(&c);
	}
}

/* ---- measure_exe ---- */

static void test_measure_exe_matches_file(void)
{
	struct attest_proc_pin pin;
	struct attest_measure_cache *cache = NULL;
	struct child c;
	uint8_t d[32], d2[32], want[32];
	char dir[512], path[600];
	char *argv[] = { "agent", "sleep", NULL };

	reap_all();
	tu_mkdtemp(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/agent", dir);
	copy_file(agent("test_agent"), path, 0755);
	sha256_file(path, want);
	TU_ASSERT_ERR(attest_measure_cache_new(0, &cache), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(attest_measure_cache_new(4, &cache), ATTEST_OK);
	CU_ASSERT_FATAL(child_start(&c, path, argv, clean_env, false, false));
	TU_ASSERT_ERR(attest_proc_pin(c.pid, &pin), ATTEST_OK);
	TU_ASSERT_ERR(attest_measure_exe(NULL, &pin, d), ATTEST_OK);
	CU_ASSERT(memcmp(d, want, 32) == 0);
	TU_ASSERT_ERR(attest_measure_exe(cache, &pin, d2), ATTEST_OK);
	CU_ASSERT(memcmp(d2, want, 32) == 0);
	TU_ASSERT_ERR(attest_measure_exe(NULL, NULL, d), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(attest_proc_check(&pin), ATTEST_OK);
	child_stop(&c);
	attest_measure_cache_free(cache);
	attest_measure_cache_free(NULL);
	tu_rmtree(dir);
}

/* The path is replaced (new file renamed over it): the running process is
 * still measured by the inode it runs; a new one by the new file. */
static void test_replace_on_disk(void)
{
	struct attest_proc_pin pa, pb;
	struct attest_measure_cache *cache = NULL;
	struct child a, b;
	uint8_t d[32], old_sha[32], new_sha[32];
	char dir[512], path[600], tmp[600];
	char *argv[] = { "agent", "sleep", NULL };

	reap_all();
	tu_mkdtemp(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/agent", dir);
	snprintf(tmp, sizeof(tmp), "%s/agent.new", dir);
	copy_file(agent("test_agent"), path, 0755);
	sha256_file(path, old_sha);
	TU_ASSERT_ERR(attest_measure_cache_new(4, &cache), ATTEST_OK);
	CU_ASSERT_FATAL(child_start(&a, path, argv, clean_env, false, false));
	TU_ASSERT_ERR(attest_proc_pin(a.pid, &pa), ATTEST_OK);

	copy_file(agent("other_agent"), tmp, 0755);
	sha256_file(tmp, new_sha);
	CU_ASSERT_FATAL(rename(tmp, path) == 0);
	CU_ASSERT(memcmp(old_sha, new_sha, 32) != 0);

	TU_ASSERT_ERR(attest_measure_exe(cache, &pa, d), ATTEST_OK);
	CU_ASSERT(memcmp(d, old_sha, 32) == 0);
	TU_ASSERT_ERR(attest_proc_check(&pa), ATTEST_OK);

	CU_ASSERT_FATAL(child_start(&b, path, argv, clean_env, false, false));
	TU_ASSERT_ERR(attest_proc_pin(b.pid, &pb), ATTEST_OK);
	CU_ASSERT(pb.exe_ino != pa.exe_ino);
	TU_ASSERT_ERR(attest_measure_exe(cache, &pb, d), ATTEST_OK);
	CU_ASSERT(memcmp(d, new_sha, 32) == 0);
	TU_ASSERT_ERR(attest_measure_exe(cache, &pa, d), ATTEST_OK);
	CU_ASSERT(memcmp(d, old_sha, 32) == 0);
	child_stop(&a);
	child_stop(&b);
	attest_measure_cache_free(cache);
	tu_rmtree(dir);
}

/* The file is modified in place (same inode): a process started after it
 * is measured by the new content, cache or not. */
static void test_modify_in_place(void)
{
	struct attest_proc_pin pin;
	struct attest_measure_cache *cache = NULL;
	struct child c;
	uint8_t d[32], sha1[32], sha2[32];
	char dir[512], path[600];
	char *argv[] = { "agent", "sleep", NULL };
	struct stat st1, st2;
	int fd;

	reap_all();
	tu_mkdtemp(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/agent", dir);
	copy_file(agent("test_agent"), path, 0755);
	sha256_file(path, sha1);
	TU_ASSERT_ERR(attest_measure_cache_new(4, &cache), ATTEST_OK);
	CU_ASSERT_FATAL(child_start(&c, path, argv, clean_env, false, false));
	TU_ASSERT_ERR(attest_proc_pin(c.pid, &pin), ATTEST_OK);
	TU_ASSERT_ERR(attest_measure_exe(cache, &pin, d), ATTEST_OK);
	CU_ASSERT(memcmp(d, sha1, 32) == 0);
	child_stop(&c); /* a running binary cannot be opened for writing */

	CU_ASSERT_FATAL(stat(path, &st1) == 0);
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(write(fd, "appended\n", 9) == 9);
	close(fd);
	CU_ASSERT_FATAL(stat(path, &st2) == 0);
	CU_ASSERT(st1.st_ino == st2.st_ino);
	sha256_file(path, sha2);
	CU_ASSERT(memcmp(sha1, sha2, 32) != 0);

	CU_ASSERT_FATAL(child_start(&c, path, argv, clean_env, false, false));
	TU_ASSERT_ERR(attest_proc_pin(c.pid, &pin), ATTEST_OK);
	TU_ASSERT_ERR(attest_measure_exe(cache, &pin, d), ATTEST_OK);
	CU_ASSERT(memcmp(d, sha2, 32) == 0);
	TU_ASSERT_ERR(attest_measure_exe(NULL, &pin, d), ATTEST_OK);
	CU_ASSERT(memcmp(d, sha2, 32) == 0);
	child_stop(&c);
	attest_measure_cache_free(cache);
	tu_rmtree(dir);
}

/* ---- the cache ---- */

static void test_cache(void)
{
	struct attest_measure_cache *c = NULL, *c1 = NULL, *c2 = NULL;
	struct attest_proc_pin pin;
	struct child ch;
	uint8_t d[32], fsha[32], xsha[32], f2sha[32];
	char dir[512], f[600], f2[600], f3[600], exe[600];
	char *argv[] = { "agent", "sleep", NULL };
	struct timespec times[2] = { { 0, UTIME_OMIT }, { 1000000000, 0 } };
	size_t h;

	reap_all();
	if (!is_root("test_cache"))
		return;
	tu_mkdtemp(dir, sizeof(dir));
	snprintf(f, sizeof(f), "%s/script.py", dir);
	snprintf(f2, sizeof(f2), "%s/two.py", dir);
	snprintf(f3, sizeof(f3), "%s/three.py", dir);
	snprintf(exe, sizeof(exe), "%s/agent", dir);
	tu_write(f, "print('one')\n", 13);
	tu_write(f2, "print('two')\n", 13);
	tu_write(f3, "print('three')\n", 15);
	copy_file(agent("test_agent"), exe, 0755);
	sha256_file(f, fsha);
	sha256_file(f2, f2sha);
	sha256_file(exe, xsha);
	wait_settled();

	TU_ASSERT_ERR(attest_measure_cache_new(8, &c), ATTEST_OK);
	TU_ASSERT_ERR(attest_measure_file(c, f, d), ATTEST_OK);
	CU_ASSERT(memcmp(d, fsha, 32) == 0);
	CU_ASSERT(attest_measure_cache_hits(c) == 0);
	TU_ASSERT_ERR(attest_measure_file(c, f, d), ATTEST_OK);
	CU_ASSERT(memcmp(d, fsha, 32) == 0);
	CU_ASSERT(attest_measure_cache_hits(c) == 1);

	CU_ASSERT_FATAL(child_start(&ch, exe, argv, clean_env, false, false));
	TU_ASSERT_ERR(attest_proc_pin(ch.pid, &pin), ATTEST_OK);
	TU_ASSERT_ERR(attest_measure_exe(c, &pin, d), ATTEST_OK);
	CU_ASSERT(memcmp(d, xsha, 32) == 0);
	TU_ASSERT_ERR(attest_measure_exe(c, &pin, d), ATTEST_OK);
	CU_ASSERT(memcmp(d, xsha, 32) == 0);
	CU_ASSERT(attest_measure_cache_hits(c) == 2);

	/* New mtime (and so ctime): recomputed; and since the ctime is now
	 * fresh, not cached until it settles. */
	CU_ASSERT_FATAL(utimensat(AT_FDCWD, f, times, 0) == 0);
	h = attest_measure_cache_hits(c);
	TU_ASSERT_ERR(attest_measure_file(c, f, d), ATTEST_OK);
	CU_ASSERT(memcmp(d, fsha, 32) == 0);
	CU_ASSERT(attest_measure_cache_hits(c) == h);
	TU_ASSERT_ERR(attest_measure_file(c, f, d), ATTEST_OK);
	CU_ASSERT(attest_measure_cache_hits(c) == h);

	/* Capacity 1: a second file evicts the first. */
	TU_ASSERT_ERR(attest_measure_cache_new(1, &c1), ATTEST_OK);
	TU_ASSERT_ERR(attest_measure_file(c1, f2, d), ATTEST_OK);
	TU_ASSERT_ERR(attest_measure_file(c1, f2, d), ATTEST_OK);
	CU_ASSERT(attest_measure_cache_hits(c1) == 1);
	TU_ASSERT_ERR(attest_measure_exe(c1, &pin, d), ATTEST_OK);
	CU_ASSERT(memcmp(d, xsha, 32) == 0);
	TU_ASSERT_ERR(attest_measure_file(c1, f2, d), ATTEST_OK);
	CU_ASSERT(memcmp(d, f2sha, 32) == 0);
	CU_ASSERT(attest_measure_cache_hits(c1) == 1);

	/* Capacity 2, LRU: f2, exe, f2 (hit), f3 evicts exe, not f2. */
	TU_ASSERT_ERR(attest_measure_cache_new(2, &c2), ATTEST_OK);
	TU_ASSERT_ERR(attest_measure_file(c2, f2, d), ATTEST_OK);
	TU_ASSERT_ERR(attest_measure_exe(c2, &pin, d), ATTEST_OK);
	TU_ASSERT_ERR(attest_measure_file(c2, f2, d), ATTEST_OK);
	CU_ASSERT(attest_measure_cache_hits(c2) == 1);
	TU_ASSERT_ERR(attest_measure_file(c2, f3, d), ATTEST_OK);
	TU_ASSERT_ERR(attest_measure_file(c2, f2, d), ATTEST_OK);
	CU_ASSERT(attest_measure_cache_hits(c2) == 2);
	TU_ASSERT_ERR(attest_measure_exe(c2, &pin, d), ATTEST_OK);
	CU_ASSERT(attest_measure_cache_hits(c2) == 2);
	CU_ASSERT(memcmp(d, xsha, 32) == 0);

	child_stop(&ch);
	attest_measure_cache_free(c);
	attest_measure_cache_free(c1);
	attest_measure_cache_free(c2);
	tu_rmtree(dir);
}

static int cacheable_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	CU_ASSERT_FATAL(fd >= 0);
	r = attest_measure_cacheable(fd);
	close(fd);
	return r;
}

/* Which files the cache may answer for: root-owned, not group/other
 * writable, on a kernel-owned local file system; never a file a non-root
 * uid owns or may write, never a memfd. */
static void test_cache_eligibility(void)
{
	char dir[512], f[600], shm[600], g[700];
	int mfd;

	reap_all();
	if (!is_root("test_cache_eligibility"))
		return;
	tu_mkdtemp(dir, sizeof(dir));
	snprintf(f, sizeof(f), "%s/file", dir);
	tu_write(f, "data\n", 5);
	CU_ASSERT_FATAL(chmod(f, 0644) == 0);
	CU_ASSERT(cacheable_path(f) == 1);
	CU_ASSERT_FATAL(chmod(f, 0664) == 0);
	CU_ASSERT(cacheable_path(f) == 0);
	CU_ASSERT_FATAL(chmod(f, 0646) == 0);
	CU_ASSERT(cacheable_path(f) == 0);
	CU_ASSERT_FATAL(chmod(f, 0644) == 0 && chown(f, 65534, 65534) == 0);
	CU_ASSERT(cacheable_path(f) == 0);
	CU_ASSERT_FATAL(chown(f, 0, 65534) == 0);
	CU_ASSERT(cacheable_path(f) == 1);

	/* tmpfs: root-owned yes, another owner no */
	snprintf(shm, sizeof(shm), "/dev/shm/attest-test-cache.XXXXXX");
	if (mkdtemp(shm) != NULL) {
		snprintf(g, sizeof(g), "%s/file", shm);
		tu_write(g, "data\n", 5);
		CU_ASSERT_FATAL(chmod(g, 0755) == 0);
		CU_ASSERT(cacheable_path(g) == 1);
		CU_ASSERT_FATAL(chown(g, 65534, 65534) == 0);
		CU_ASSERT(cacheable_path(g) == 0);
		CU_ASSERT(unlink(g) == 0 && rmdir(shm) == 0);
	} else {
		fprintf(stderr, "  no /dev/shm: tmpfs case not tested\n");
	}
	/* a memfd, even root's */
	mfd = memfd_create("attest-test", MFD_CLOEXEC);
	CU_ASSERT_FATAL(mfd >= 0);
	CU_ASSERT(write(mfd, "data\n", 5) == 5);
	CU_ASSERT(attest_measure_cacheable(mfd) == 0);
	close(mfd);
	tu_rmtree(dir);
}

/* The poisoning attack: a copy of a binary on tmpfs, owned by a non-root
 * uid, measured (and, on the old code, cached after its ctime settled),
 * then patched through a MAP_SHARED mapping, which on tmpfs moves neither
 * mtime nor ctime. The next measurement must see the new bytes. */
static void test_cache_shared_mapping(void)
{
	struct attest_measure_cache *c = NULL;
	struct attest_proc_pin pin;
	struct child ch;
	struct stat before, after;
	uint8_t d1[32], d2[32], sha[32];
	char shm[600], exe[700];
	char *argv[] = { "agent", "sleep", NULL };
	unsigned char *map;
	int fd;

	reap_all();
	if (!is_root("test_cache_shared_mapping"))
		return;
	snprintf(shm, sizeof(shm), "/dev/shm/attest-test-poison.XXXXXX");
	if (mkdtemp(shm) == NULL) {
		fprintf(stderr, "  no /dev/shm: shared-mapping case not tested\n");
		return;
	}
	snprintf(exe, sizeof(exe), "%s/agent", shm);
	copy_file(agent("test_agent"), exe, 0755);
	/* one byte past the ELF image, so the patched copy still runs */
	CU_ASSERT_FATAL(tu_sh("printf AAAA >> '%s'", exe) == 0);
	CU_ASSERT_FATAL(chown(exe, 65534, 65534) == 0);
	wait_settled();
	TU_ASSERT_ERR(attest_measure_cache_new(8, &c), ATTEST_OK);

	CU_ASSERT_FATAL(child_start(&ch, exe, argv, clean_env, false, false));
	TU_ASSERT_ERR(attest_proc_pin(ch.pid, &pin), ATTEST_OK);
	TU_ASSERT_ERR(attest_measure_exe(c, &pin, d1), ATTEST_OK);
	child_stop(&ch);

	CU_ASSERT_FATAL(stat(exe, &before) == 0);
	fd = open(exe, O_RDWR | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0);
	map = mmap(NULL, (size_t)before.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CU_ASSERT_FATAL(map != MAP_FAILED);
	/* read first: the read fault maps the (already dirty) tmpfs page
	 * writable, so the write takes no fault and updates no time */
	CU_ASSERT(((volatile unsigned char *)map)[before.st_size - 1] == 'A');
	((volatile unsigned char *)map)[before.st_size - 1] = 'B';
	CU_ASSERT(munmap(map, (size_t)before.st_size) == 0);
	close(fd);
	CU_ASSERT_FATAL(stat(exe, &after) == 0);
	/* the attack's premise: the cache key did not move */
	CU_ASSERT(before.st_size == after.st_size && before.st_ino == after.st_ino &&
		  before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
		  before.st_mtim.tv_nsec == after.st_mtim.tv_nsec &&
		  before.st_ctim.tv_sec == after.st_ctim.tv_sec &&
		  before.st_ctim.tv_nsec == after.st_ctim.tv_nsec);
	sha256_file(exe, sha);

	CU_ASSERT_FATAL(child_start(&ch, exe, argv, clean_env, false, false));
	TU_ASSERT_ERR(attest_proc_pin(ch.pid, &pin), ATTEST_OK);
	TU_ASSERT_ERR(attest_measure_exe(c, &pin, d2), ATTEST_OK);
	child_stop(&ch);
	CU_ASSERT(memcmp(d1, d2, 32) != 0);
	CU_ASSERT(memcmp(d2, sha, 32) == 0);
	CU_ASSERT(attest_measure_cache_hits(c) == 0);
	attest_measure_cache_free(c);
	CU_ASSERT(unlink(exe) == 0 && rmdir(shm) == 0);
}

/* ---- inspect ---- */

static void test_inspect_basic(void)
{
	struct attest_proc_info info;
	struct child c;
	char *argv[] = { "test_agent", "sleep", NULL };

	reap_all();
	TU_ASSERT_ERR(attest_proc_inspect(0, &info), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(attest_proc_inspect(getpid(), NULL), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(attest_proc_inspect(getpid(), &info), ATTEST_OK);
	CU_ASSERT(info.ppid == getppid());
	CU_ASSERT(info.ruid == getuid() && info.euid == geteuid());

	CU_ASSERT_FATAL(child_start(&c, agent("test_agent"), argv, clean_env, false, false));
	TU_ASSERT_ERR(attest_proc_inspect(c.pid, &info), ATTEST_OK);
	CU_ASSERT(info.ruid == getuid());
	CU_ASSERT(info.euid == geteuid());
	CU_ASSERT(info.ppid == getpid());
	CU_ASSERT(info.tracer_pid == 0);
	child_stop(&c);
}

/* attest_proc_env_check of a child started with envp: the code, and the
 * detail in why (when not NULL). */
static int env_check_of(char *const envp[], const char *const *allow, size_t nallow,
			size_t cap, char *why, size_t whysz)
{
	struct attest_proc_pin pin;
	struct child c;
	char *argv[] = { "test_agent", "sleep", NULL };
	int r;

	if (!child_start(&c, agent("test_agent"), argv, envp, false, true)) {
		CU_FAIL("agent did not start");
		return -1;
	}
	TU_ASSERT_ERR(attest_proc_pin(c.pid, &pin), ATTEST_OK);
	r = attest_proc_env_check(&pin, allow, nallow, cap);
	if (why != NULL)
		snprintf(why, whysz, "%s", r == ATTEST_OK ? "" : attest_errdetail());
	child_stop(&c);
	return r;
}

static const char *const test_allow[] = { "PATH", "HOME", "LC_*", "TERM", "X", "A*" };
#define TEST_NALLOW (sizeof(test_allow) / sizeof(test_allow[0]))

/* Only allowlisted names pass; everything else is refused with the
 * variable's name in the reason (loader and runtime variables are refused
 * because they are not on the list, not because a list names them). */
static void test_env_allowlist(void)
{
	static char long_name[ATTEST_ENV_NAME_MAX + 8], max_name[ATTEST_ENV_NAME_MAX + 8];
	static const struct {
		const char *env[6];
		int want;
		const char *why; /* in the detail */
	} cases[] = {
		{ { NULL }, ATTEST_OK, NULL },
		{ { "PATH=/usr/bin", "HOME=/", "LC_ALL=C", "LC_CTYPE=C.UTF-8", "TERM=dumb" },
		  ATTEST_OK, NULL },
		{ { "X=LD_PRELOAD=/y", "X=" }, ATTEST_OK, NULL },
		{ { "PATH=/usr/bin", "OPENSSL_CONF=/tmp/evil.cnf" }, ATTEST_E_ENV, "OPENSSL_CONF" },
		{ { "OPENSSL_MODULES=/tmp" }, ATTEST_E_ENV, "OPENSSL_MODULES" },
		{ { "GCONV_PATH=/tmp" }, ATTEST_E_ENV, "GCONV_PATH" },
		{ { "NODE_OPTIONS=--require /tmp/x.js" }, ATTEST_E_ENV, "NODE_OPTIONS" },
		{ { "PERL5OPT=-Mevil" }, ATTEST_E_ENV, "PERL5OPT" },
		{ { "HOME=/", "SOME_UNKNOWN_VAR=1" }, ATTEST_E_ENV, "SOME_UNKNOWN_VAR" },
		{ { "LD_PRELOAD=" }, ATTEST_E_ENV, "LD_PRELOAD" }, /* set, even if empty */
		{ { "LD_AUDIT=/x" }, ATTEST_E_ENV, "LD_AUDIT" },
		{ { "LD_LIBRARY_PATH=/x" }, ATTEST_E_ENV, "LD_LIBRARY_PATH" },
		{ { "PYTHONPATH=/x" }, ATTEST_E_ENV, "PYTHONPATH" },
		{ { "JAVA_TOOL_OPTIONS=-javaagent:/x" }, ATTEST_E_ENV, "JAVA_TOOL_OPTIONS" },
		{ { "PATHX=1" }, ATTEST_E_ENV, "PATHX" },   /* exact names are exact */
		{ { "LC=1" }, ATTEST_E_ENV, "LC" },         /* "LC_*" needs the "LC_" */
		{ { "path=/x" }, ATTEST_E_ENV, "path" },    /* case matters */
		{ { "NOEQUALS" }, ATTEST_E_ENV, "no '='" },
		{ { "=x" }, ATTEST_E_ENV, "not [A-Za-z_]" },
		{ { "1A=x" }, ATTEST_E_ENV, "not [A-Za-z_]" },
		{ { "A-B=x" }, ATTEST_E_ENV, "not [A-Za-z_]" },
		{ { "A\xff=x" }, ATTEST_E_ENV, "not [A-Za-z_]" },
	};
	char why[512];

	reap_all();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *envp[7] = { NULL };
		int got;

		for (size_t k = 0; k < 6 && cases[i].env[k] != NULL; k++)
			envp[k] = (char *)cases[i].env[k];
		got = env_check_of(envp, test_allow, TEST_NALLOW, ATTEST_ENV_CAP_DEFAULT, why,
				   sizeof(why));
		if (got != cases[i].want || (cases[i].why != NULL && strstr(why, cases[i].why) == NULL))
			fprintf(stderr, "  env case %zu: %s (%s), want %s with \"%s\"\n", i,
				attest_errname(got), why, attest_errname(cases[i].want),
				cases[i].why ? cases[i].why : "");
		CU_ASSERT(got == cases[i].want);
		if (cases[i].why != NULL)
			CU_ASSERT(strstr(why, cases[i].why) != NULL);
	}
	/* names: 128 bytes allowed by "A*", 129 refused; nothing allowed at all */
	memset(max_name, 'A', ATTEST_ENV_NAME_MAX);
	memcpy(max_name + ATTEST_ENV_NAME_MAX, "=1", 3);
	memset(long_name, 'A', ATTEST_ENV_NAME_MAX + 1);
	memcpy(long_name + ATTEST_ENV_NAME_MAX + 1, "=1", 3);
	{
		char *e1[] = { max_name, NULL }, *e2[] = { long_name, NULL }, *e3[] = { "PATH=/", NULL };

		TU_ASSERT_ERR(env_check_of(e1, test_allow, TEST_NALLOW, ATTEST_ENV_CAP_DEFAULT, NULL,
					   0), ATTEST_OK);
		TU_ASSERT_ERR(env_check_of(e2, test_allow, TEST_NALLOW, ATTEST_ENV_CAP_DEFAULT, why,
					   sizeof(why)), ATTEST_E_ENV);
		CU_ASSERT(strstr(why, "over 128 bytes") != NULL);
		TU_ASSERT_ERR(env_check_of(e3, NULL, 0, ATTEST_ENV_CAP_DEFAULT, why, sizeof(why)),
			      ATTEST_E_ENV);
		CU_ASSERT(strstr(why, "PATH") != NULL);
	}
	CU_ASSERT(attest_env_name_allowed("LC_ALL", 6, test_allow, TEST_NALLOW));
	CU_ASSERT(!attest_env_name_allowed("LC", 2, test_allow, TEST_NALLOW));
	CU_ASSERT(!attest_env_name_allowed("PAT", 3, test_allow, TEST_NALLOW));
}

/* Large environments: values far past one read, the refused name split
 * across the reader's chunks at every offset, and the size cap. */
static void test_env_large(void)
{
	static const char *const tails[] = { "LD_PRELOAD=/nonexistent", "OPENSSL_CONF=/n",
					     "GCONV_PATH=/n" };
	size_t big = 100 * 1000;
	char *b1 = malloc(big + 3), *b2 = malloc(big + 3), *pad = malloc(8192);
	char why[512];

	reap_all();
	CU_ASSERT_FATAL(b1 != NULL && b2 != NULL && pad != NULL);
	memcpy(b1, "X=", 2);
	memset(b1 + 2, 'b', big);
	b1[big + 2] = '\0';
	memcpy(b2, b1, big + 3);
	memcpy(b2, "A2", 2); /* "A2=bbb...": allowed by "A*" */
	b2[2] = '=';
	for (size_t t = 0; t < 3; t++) {
		char *e1[] = { b1, b1, (char *)tails[t], NULL };
		char name[32];

		snprintf(name, sizeof(name), "%.*s", (int)strcspn(tails[t], "="), tails[t]);
		TU_ASSERT_ERR(env_check_of(e1, test_allow, TEST_NALLOW, ATTEST_ENV_CAP_DEFAULT, why,
					   sizeof(why)), ATTEST_E_ENV);
		CU_ASSERT(strstr(why, name) != NULL);
		for (size_t off = 0; off <= strlen(tails[t]); off += 3) {
			/* "X=" + pad + NUL puts the tail at byte 4096 - off */
			size_t k = 4096 - off - 3;
			char *e2[] = { pad, (char *)tails[t], NULL };

			memcpy(pad, "X=", 2);
			memset(pad + 2, 'a', k);
			pad[k + 2] = '\0';
			if (env_check_of(e2, test_allow, TEST_NALLOW, ATTEST_ENV_CAP_DEFAULT, why,
					 sizeof(why)) != ATTEST_E_ENV || strstr(why, name) == NULL) {
				fprintf(stderr, "  %s at 4096-%zu not seen: %s\n", tails[t], off, why);
				CU_FAIL("split variable not seen");
			}
		}
	}
	{
		/* 200 kB of allowed variables: under the default cap, over 64 KiB */
		char *e3[] = { b1, b2, NULL };

		TU_ASSERT_ERR(env_check_of(e3, test_allow, TEST_NALLOW, ATTEST_ENV_CAP_DEFAULT, NULL,
					   0), ATTEST_OK);
		TU_ASSERT_ERR(env_check_of(e3, test_allow, TEST_NALLOW, 64 * 1024, why, sizeof(why)),
			      ATTEST_E_ENV);
		CU_ASSERT(strstr(why, "cap") != NULL);
	}
	free(b1);
	free(b2);
	free(pad);
}

/* A traced process shows its tracer: PTRACE_TRACEME + SIGSTOP in a forked
 * child, and PTRACE_SEIZE of a running agent. */
static void test_inspect_traced(void)
{
	struct attest_proc_info info;
	struct attest_proc_pin pin;
	struct child c;
	char *argv[] = { "test_agent", "sleep", NULL };
	int st;
	pid_t p;

	reap_all();
	p = fork();
	CU_ASSERT_FATAL(p >= 0);
	if (p == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
			_exit(3);
		raise(SIGSTOP);
		_exit(0);
	}
	track(p);
	CU_ASSERT(waitpid(p, &st, 0) == p);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 3) {
		fprintf(stderr, "  ptrace not permitted here: traced tests skipped\n");
		reap(p);
		return;
	}
	CU_ASSERT(WIFSTOPPED(st));
	TU_ASSERT_ERR(attest_proc_inspect(p, &info), ATTEST_OK);
	CU_ASSERT(info.tracer_pid == getpid());
	TU_ASSERT_ERR(attest_proc_pin(p, &pin), ATTEST_OK);
	reap(p);

	CU_ASSERT_FATAL(child_start(&c, agent("test_agent"), argv, clean_env, false, false));
	TU_ASSERT_ERR(attest_proc_inspect(c.pid, &info), ATTEST_OK);
	CU_ASSERT(info.tracer_pid == 0);
	CU_ASSERT(ptrace(PTRACE_SEIZE, c.pid, NULL, NULL) == 0);
	TU_ASSERT_ERR(attest_proc_inspect(c.pid, &info), ATTEST_OK);
	CU_ASSERT(info.tracer_pid == getpid());
	child_stop(&c);
}

/* ---- measure_file ---- */

static void mkfile(const char *dir, const char *name, mode_t mode, uid_t uid, char *out,
		   size_t outsz)
{
	snprintf(out, outsz, "%s/%s", dir, name);
	tu_write(out, "#!/usr/bin/python3\nprint('agent')\n", 34);
	CU_ASSERT_FATAL(chmod(out, mode) == 0);
	CU_ASSERT_FATAL(chown(out, uid, 0) == 0);
}

static void mksubdir(const char *dir, const char *name, mode_t mode, uid_t uid, char *out,
		     size_t outsz)
{
	snprintf(out, outsz, "%s/%s", dir, name);
	CU_ASSERT_FATAL(mkdir(out, 0700) == 0);
	CU_ASSERT_FATAL(chmod(out, mode) == 0);
	CU_ASSERT_FATAL(chown(out, uid, 0) == 0);
}

static void want_file(const char *path, int code)
{
	uint8_t d[32], want[32];
	int r = attest_measure_file(NULL, path, d);

	if (r != code)
		fprintf(stderr, "  measure_file %s: %s (%s), want %s\n", path, attest_errname(r),
			attest_errdetail(), attest_errname(code));
	CU_ASSERT(r == code);
	if (r == ATTEST_OK && code == ATTEST_OK) {
		sha256_file(path, want);
		CU_ASSERT(memcmp(d, want, 32) == 0);
	}
}

static void test_measure_file(void)
{
	char dir[512], p[700], sub[700], sub2[700], link[700];
	uint8_t d[32];
	int fd;

	reap_all();
	TU_ASSERT_ERR(attest_measure_file(NULL, NULL, d), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(attest_measure_file(NULL, "relative.py", d), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(attest_measure_file(NULL, "", d), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(attest_measure_file(NULL, "/usr/", d), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(attest_measure_file(NULL, "/usr/../etc/passwd", d), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(attest_measure_file(NULL, "/etc/passwd/..", d), ATTEST_E_INVALID_ARG);
	if (!is_root("test_measure_file"))
		return;
	tu_mkdtemp(dir, sizeof(dir)); /* root, 0700; ancestors may be /tmp (1777) */

	mkfile(dir, "ok.py", 0644, 0, p, sizeof(p));
	want_file(p, ATTEST_OK);
	mkfile(dir, "ro.py", 0400, 0, p, sizeof(p));
	want_file(p, ATTEST_OK);
	mkfile(dir, "owner.py", 0644, 65534, p, sizeof(p));
	want_file(p, ATTEST_E_DENIED);
	CU_ASSERT(strstr(attest_errdetail(), "owned by uid 65534") != NULL);
	mkfile(dir, "gw.py", 0664, 0, p, sizeof(p));
	want_file(p, ATTEST_E_DENIED);
	mkfile(dir, "ow.py", 0646, 0, p, sizeof(p));
	want_file(p, ATTEST_E_DENIED);
	CU_ASSERT(strstr(attest_errdetail(), "writable") != NULL);

	snprintf(link, sizeof(link), "%s/link.py", dir);
	CU_ASSERT_FATAL(symlink("ok.py", link) == 0);
	want_file(link, ATTEST_E_DENIED);
	CU_ASSERT(strstr(attest_errdetail(), "symlink") != NULL);
	snprintf(p, sizeof(p), "%s/fifo", dir);
	CU_ASSERT_FATAL(mkfifo(p, 0600) == 0);
	want_file(p, ATTEST_E_DENIED); /* and does not hang */
	snprintf(p, sizeof(p), "%s/missing.py", dir);
	want_file(p, ATTEST_E_NOT_FOUND);

	/* the file's own directory */
	mksubdir(dir, "gwdir", 0775, 0, sub, sizeof(sub));
	mkfile(sub, "s.py", 0644, 0, p, sizeof(p));
	want_file(p, ATTEST_E_DENIED);
	mksubdir(dir, "stickydir", 01777, 0, sub, sizeof(sub));
	mkfile(sub, "s.py", 0644, 0, p, sizeof(p));
	want_file(p, ATTEST_E_DENIED); /* strict for the file's own directory */
	mksubdir(dir, "userdir", 0755, 65534, sub, sizeof(sub));
	mkfile(sub, "s.py", 0644, 0, p, sizeof(p));
	want_file(p, ATTEST_E_DENIED);
	CU_ASSERT(strstr(attest_errdetail(), "directory") != NULL);
	mksubdir(dir, "rootdir", 0755, 0, sub, sizeof(sub));
	mkfile(sub, "s.py", 0644, 0, p, sizeof(p));
	want_file(p, ATTEST_OK);
	snprintf(sub2, sizeof(sub2), "%s//rootdir//s.py", dir); /* "//" is one "/" */
	want_file(sub2, ATTEST_OK);
	snprintf(sub2, sizeof(sub2), "%s/rootdir", dir);
	want_file(sub2, ATTEST_E_DENIED); /* a directory is not a regular file */

	/* ancestors */
	mksubdir(dir, "userdir2", 0755, 65534, sub, sizeof(sub));
	mksubdir(sub, "in", 0755, 0, sub2, sizeof(sub2));
	mkfile(sub2, "s.py", 0644, 0, p, sizeof(p));
	want_file(p, ATTEST_E_DENIED);
	mksubdir(dir, "gwdir2", 0775, 0, sub, sizeof(sub));
	mksubdir(sub, "in", 0755, 0, sub2, sizeof(sub2));
	mkfile(sub2, "s.py", 0644, 0, p, sizeof(p));
	want_file(p, ATTEST_E_DENIED);
	mksubdir(dir, "sticky2", 01777, 0, sub, sizeof(sub));
	mksubdir(sub, "in", 0755, 0, sub2, sizeof(sub2));
	mkfile(sub2, "s.py", 0644, 0, p, sizeof(p));
	want_file(p, ATTEST_OK); /* like /tmp/dir/s.py: root's entry cannot be moved */
	snprintf(link, sizeof(link), "%s/linkdir", dir);
	CU_ASSERT_FATAL(symlink("rootdir", link) == 0);
	snprintf(p, sizeof(p), "%s/linkdir/s.py", dir);
	want_file(p, ATTEST_E_DENIED);

	/* over the size cap: refused before reading (sparse) */
	snprintf(p, sizeof(p), "%s/huge.py", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(ftruncate(fd, ((off_t)1 << 30) + 1) == 0);
	close(fd);
	want_file(p, ATTEST_E_TOO_LARGE);
	tu_rmtree(dir);
}

/* A write while the file is hashed: refused, not half-measured. */
static void test_concurrent_write(void)
{
	char dir[512], p[600];
	uint8_t d[32];
	size_t size = 48u << 20;
	char *data;
	bool refused = false;
	pid_t w;

	reap_all();
	if (!is_root("test_concurrent_write"))
		return;
	tu_mkdtemp(dir, sizeof(dir));
	snprintf(p, sizeof(p), "%s/big.py", dir);
	data = calloc(1, size);
	CU_ASSERT_FATAL(data != NULL);
	tu_write(p, data, size);
	free(data);
	CU_ASSERT_FATAL(chmod(p, 0644) == 0);
	w = fork();
	CU_ASSERT_FATAL(w >= 0);
	if (w == 0) {
		int fd = open(p, O_WRONLY | O_CLOEXEC);
		struct timespec ts = { 0, 200 * 1000 };

		for (unsigned i = 0; fd >= 0; i++) {
			char b = (char)i;

			if (pwrite(fd, &b, 1, 12345) != 1)
				_exit(1);
			nanosleep(&ts, NULL);
		}
		_exit(1);
	}
	track(w);
	for (int i = 0; i < 10 && !refused; i++) {
		int r = attest_measure_file(NULL, p, d);

		CU_ASSERT(r == ATTEST_OK || r == ATTEST_E_MEASUREMENT);
		refused = r == ATTEST_E_MEASUREMENT;
	}
	CU_ASSERT(refused);
	reap(w);
	tu_rmtree(dir);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "pin and check a child", test_pin_check },
		{ "check refuses after exec", test_check_after_exec },
		{ "check refuses other start time, exited pid, zombie", test_check_after_exit },
		{ "one /proc dir per request: exec before re-check refused", test_at_exec },
		{ "one /proc dir per request: exit and PID reuse refused", test_at_exit_and_reuse },
		{ "comm with spaces, parens, newline", test_comm_with_parens },
		{ "measure_exe equals SHA-256 of the file", test_measure_exe_matches_file },
		{ "replaced on disk: running inode measured", test_replace_on_disk },
		{ "modified in place: new process, new digest", test_modify_in_place },
		{ "cache hits, invalidation, racy ctime, LRU", test_cache },
		{ "cache only where only root can write", test_cache_eligibility },
		{ "cache: a tmpfs binary patched through MAP_SHARED is re-hashed",
		  test_cache_shared_mapping },
		{ "inspect uid, ppid, tracer, clean env", test_inspect_basic },
		{ "environment allowlist: names, patterns, reasons", test_env_allowlist },
		{ "environment: large, split, over the cap", test_env_large },
		{ "inspect a traced process", test_inspect_traced },
		{ "measure_file ownership, modes, symlinks, dirs", test_measure_file },
		{ "measure_file refuses a concurrent write", test_concurrent_write },
		{ NULL, NULL },
	};
	int rc;

	atexit(reap_all);
	rc = tu_main("measure", tests);
	reap_all();
	return rc;
}
