/* test_attestd_sock.c - attestd's agent socket under a local flood, end to
 * end on swtpm: descriptors passed to freeze the loop (a TCP socket with
 * SO_LINGER and a full send buffer, a plain file), one uid reconnecting
 * without pause, a pid reused between connect() and accept(), a descriptor
 * limit at accept(), attestd's own dumpability, and all floods at once. In
 * each, an honest agent of another uid must get its certificate while the
 * attack goes on, and attestd's log must stay small.
 * Targets: attestd server.c (closer.c, quotas, SO_PEERPIDFD, accept
 * errors), log.c (aggregated refusals), nodump.c, caller.c/issue.c
 * (attestd_peer_alive). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "attest/attest.h"
#include "core/json.h"
#include "net/wire.h"
#include "testutil.h"
#include "testutil_daemon.h"

#define ISSUE(agent) "{\"op\":\"issue\",\"agent\":\"" agent "\"}"
#define FLOOD_UID 4242
#define HONEST_UID 65534

static struct daemon *live[4];
static pid_t flooders[64];
static int nflooders;

static void track(struct daemon *d)
{
	for (size_t i = 0; i < 4; i++)
		if (live[i] == NULL) {
			live[i] = d;
			return;
		}
}

static void untrack(struct daemon *d)
{
	for (size_t i = 0; i < 4; i++)
		if (live[i] == d)
			live[i] = NULL;
}

static void stop_flooders(void)
{
	for (int i = 0; i < nflooders; i++) {
		kill(flooders[i], SIGKILL);
		waitpid(flooders[i], NULL, 0);
	}
	nflooders = 0;
}

static void cleanup_live(void)
{
	stop_flooders();
	for (size_t i = 0; i < 4; i++) {
		if (live[i] == NULL)
			continue;
		if (live[i]->pid > 0) {
			kill(live[i]->pid, SIGCONT);
			kill(live[i]->pid, SIGKILL);
			waitpid(live[i]->pid, NULL, 0);
			live[i]->pid = 0;
		}
		tu_tpm_stop(&live[i]->sw);
		live[i] = NULL;
	}
}

static void down(struct daemon *d)
{
	stop_flooders();
	untrack(d);
	daemon_down(d);
}

static int count_lines(const char *path)
{
	char *s = tu_slurp(path, NULL);
	int n = 0;

	for (const char *p = s; p != NULL && *p != '\0'; p++)
		n += *p == '\n';
	free(s);
	return n;
}

static int log_has(struct daemon *d, const char *what)
{
	char *s = tu_slurp(d->log, NULL);
	int r = s != NULL && strstr(s, what) != NULL;

	free(s);
	return r;
}

/* Connect to the agent socket; the path through an O_PATH descriptor
 * opened before dropping privileges (the test directory is 0700). */
static int connect_sock(int sfd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", sfd);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void become(uid_t uid)
{
	if (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0)
		_exit(126);
}

/* Run the honest agent binary as HONEST_UID; its reply (NULL: none). */
static cJSON *run_honest(struct daemon *d, const char *bin, const char *json)
{
	char *envp[] = { "PATH=/usr/bin:/bin", NULL };

	return run_agent_as(HONEST_UID, bin, d->sock, json, envp);
}

/* The registered honest agent, for HONEST_UID; the socket made 0666. */
static void honest_agent(struct daemon *d, char *bin, size_t binsz)
{
	make_agent_binary(d, "honest", NULL, bin, binsz);
	register_agent(d, "honest", bin, "65534");
	CU_ASSERT_FATAL(chmod(d->sock, 0666) == 0);
}

/* ---------- flooding techniques, each a process of FLOOD_UID ---------- */

enum flood { RECONNECT, LINGER_FDS, SLOW_FRAME, NO_READ };

/* A TCP socket whose close() blocks: SO_LINGER 120 s with unsent data
 * that the peer (a listener that never reads) will not take (its receive
 * buffer and window full). */
static int linger_socket(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	struct linger lg = { 1, 120 };
	int l = socket(AF_INET, SOCK_STREAM, 0), t = socket(AF_INET, SOCK_STREAM, 0), small = 4096;
	char junk[65536];

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || t < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(l, 1) != 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &sl) != 0)
		_exit(120);
	setsockopt(t, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	if (connect(t, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		_exit(121);
	memset(junk, 'x', sizeof(junk));
	fcntl(t, F_SETFL, O_NONBLOCK);
	/* until the peer's window is shut: the first EAGAIN only means the
	 * send buffer is full, and once that data is taken into the peer's
	 * receive buffer nothing is left unsent and close() would not wait */
	for (int idle = 0; idle < 20;) {
		if (send(t, junk, sizeof(junk), MSG_NOSIGNAL) > 0) {
			idle = 0;
		} else {
			idle++;
			usleep(10000);
		}
	}
	setsockopt(t, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	/* l stays open (never accepted, never read): the data stays unsent */
	return t;
}

/* Send one frame's first byte with fds attached, then the rest. */
static void send_with_fds(int fd, const char *json, const int *fds, int n)
{
	uint8_t frame[512];
	size_t len = strlen(json);
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { frame, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			      .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	frame[0] = frame[1] = 0;
	frame[2] = (uint8_t)(len >> 8);
	frame[3] = (uint8_t)len;
	memcpy(frame + 4, json, len);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n);
	if (sendmsg(fd, &msg, MSG_NOSIGNAL) == 1)
		(void)!send(fd, frame + 1, len + 3, MSG_NOSIGNAL);
}

static void flood_main(int sfd, enum flood how, const char *plain_file, int pfd)
{
	int held[4] = { -1, -1, -1, -1 };
	unsigned long attempts = 0;

	become(FLOOD_UID);
	for (unsigned i = 0;; i++) {
		int fd = connect_sock(sfd);

		attempts++;
		if (fd < 0) {
			usleep(1000);
			continue;
		}
		switch (how) {
		case RECONNECT: /* hold a few, replace them at once when dropped */
			if (held[i % 4] >= 0)
				close(held[i % 4]);
			held[i % 4] = fd;
			break;
		case LINGER_FDS: {
			int fds[2] = { linger_socket(), pfd };

			send_with_fds(fd, ISSUE("honest"), fds, 2);
			close(fds[0]); /* the last reference is attestd's now */
			if (held[i % 4] >= 0)
				close(held[i % 4]);
			held[i % 4] = fd;
			break;
		}
		case SLOW_FRAME: /* a header byte now and then, never a frame */
			for (int k = 0; k < 3; k++) {
				if (send(fd, "\0", 1, MSG_NOSIGNAL) != 1)
					break;
				usleep(200000);
			}
			close(fd);
			break;
		case NO_READ: { /* requests whose replies are never read */
			const char *req = "{\"op\":\"issue\",\"agent\":\"nobody-here\"}";
			uint8_t hdr[4] = { 0, 0, 0, (uint8_t)strlen(req) };

			for (int k = 0; k < 50; k++)
				if (send(fd, hdr, 4, MSG_NOSIGNAL) != 4 ||
				    send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
					break;
			if (held[i % 4] >= 0)
				close(held[i % 4]);
			held[i % 4] = fd;
			break;
		}
		}
		(void)plain_file;
	}
	_exit(0);
}

/* Start n flooders of one kind, as FLOOD_UID. */
static void start_flood(struct daemon *d, enum flood how, int n)
{
	char plain[700];

	snprintf(plain, sizeof(plain), "%s/plain.txt", d->sw.dir);
	tu_write(plain, "plain\n", 6);
	for (int i = 0; i < n && nflooders < 64; i++) {
		pid_t pid = fork();

		CU_ASSERT_FATAL(pid >= 0);
		if (pid == 0) {
			int sfd = open(d->sock, O_PATH), pfd = open(plain, O_RDONLY);
			int devnull = open("/dev/null", O_WRONLY);

			dup2(devnull, 1);
			dup2(devnull, 2);
			if (sfd < 0 || pfd < 0)
				_exit(125);
			flood_main(sfd, how, plain, pfd);
		}
		flooders[nflooders++] = pid;
	}
}

/* ---------- 1. descriptors that block close() ---------- */

/* Flooders of another uid pass a TCP socket with SO_LINGER 120 s and a full
 * send buffer (plus a plain file) with every request, on new connections
 * without pause. attestd either never receives them (SO_PASSRIGHTS) or
 * gives them to its closer thread; the honest agent is served while the
 * attack goes on (its flooders still running). Run twice: with the kernel
 * refusing descriptors, and with attestd receiving them
 * (ATTESTD_TEST_ALLOW_RIGHTS, as on kernels before 6.16). */
static void linger_attack(int allow_rights)
{
	static struct daemon d;
	char bin[700];

	if (allow_rights)
		setenv("ATTESTD_TEST_ALLOW_RIGHTS", "1", 1);
	daemon_up(&d);
	unsetenv("ATTESTD_TEST_ALLOW_RIGHTS");
	track(&d);
	honest_agent(&d, bin, sizeof(bin));
	start_flood(&d, LINGER_FDS, 4);
	usleep(1500000); /* the attack is under way */
	for (int i = 0; i < 3; i++)
		expect_cert(&d, run_honest(&d, bin, ISSUE("honest")), "honest");
	for (int i = 0; i < nflooders; i++) /* still attacking */
		CU_ASSERT(waitpid(flooders[i], NULL, WNOHANG) == 0);
	if (allow_rights) {
		CU_ASSERT(log_has(&d, "attestd accepts no file descriptors"));
	}
	CU_ASSERT(count_lines(d.log) < 200);
	down(&d);
}

static void test_linger_kernel(void) { linger_attack(0); }
static void test_linger_closer(void) { linger_attack(1); }

/* Descriptors still queued when attestd closes a connection are drained
 * off the socket, every one to the closer thread. The drain's control
 * buffer must hold the SCM_CREDENTIALS the kernel puts first (SO_PASSCRED)
 * as well as the most descriptors a message carries (253): with room for
 * the descriptors only, the kernel dropped the last 7 itself, closing them
 * on the event loop, and a lingering TCP socket among them froze attestd
 * for 120 s. attestd is stopped while the two messages are queued (one
 * with a descriptor, which gets the connection refused, and one with 253,
 * the last 7 the lingering socket), so the drain always meets the second. */
static void send_fds_raw(int fd, const int *fds, int n)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 253)];
		struct cmsghdr align;
	} cbuf;
	char one = 0;
	struct iovec iov = { &one, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			      .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	memset(&cbuf, 0, sizeof(cbuf));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n);
	if (sendmsg(fd, &msg, MSG_NOSIGNAL) != 1) { /* say why: seen once, not reproduced */
		fprintf(stderr, "  sendmsg of %d descriptors: %s\n", n, strerror(errno));
		CU_FAIL("sendmsg of descriptors");
	}
}

static void test_linger_drain(void)
{
	static struct daemon d;
	char bin[700], plain[700];
	int fds[253], pfd, t, c;
	pid_t server;
	cJSON *rep = NULL;

	/* the connection idles between its answered request and the stop
	 * below: with the tests' 700 ms frame timeout, a loaded machine let
	 * attestd hang up first (both sendmsg failed with EPIPE) */
	d.extra_args[0] = "--frame-timeout";
	d.extra_args[1] = "60000";
	setenv("ATTESTD_TEST_ALLOW_RIGHTS", "1", 1);
	daemon_up(&d);
	unsetenv("ATTESTD_TEST_ALLOW_RIGHTS");
	track(&d);
	honest_agent(&d, bin, sizeof(bin));
	snprintf(plain, sizeof(plain), "%s/plain.txt", d.sw.dir);
	tu_write(plain, "plain\n", 6);
	CU_ASSERT_FATAL((pfd = open(plain, O_RDONLY | O_CLOEXEC)) >= 0);
	{
		int sfd = open(d.sock, O_PATH | O_CLOEXEC);
		uint8_t *frame = NULL;
		size_t len = 0;
		cJSON *req = cJSON_Parse(ISSUE("nobody-here"));

		CU_ASSERT_FATAL(sfd >= 0);
		c = connect_sock(sfd);
		close(sfd);
		CU_ASSERT_FATAL(c >= 0);
		/* one answered request: the connection is accepted and served */
		CU_ASSERT_FATAL(attest_wire_encode(req, &frame, &len) == ATTEST_OK);
		CU_ASSERT_FATAL(send(c, frame, len, MSG_NOSIGNAL) == (ssize_t)len);
		CU_ASSERT_FATAL(attest_wire_recv(c, 30000, &rep) == ATTEST_OK);
		cJSON_Delete(rep);
		cJSON_Delete(req);
		free(frame);
	}
	t = linger_socket();
	for (int i = 0; i < 253; i++)
		fds[i] = i < 246 ? pfd : t;
	server = daemon_agent_server(&d);
	CU_ASSERT_FATAL(kill(server, SIGSTOP) == 0);
	send_fds_raw(c, fds, 1);   /* refused: attestd closes the connection */
	send_fds_raw(c, fds, 253); /* still queued then: drained */
	close(t);                  /* the last references are in flight */
	CU_ASSERT_FATAL(kill(server, SIGCONT) == 0);
	for (int i = 0; i < 2; i++)
		expect_cert(&d, run_honest(&d, bin, ISSUE("honest")), "honest");
	CU_ASSERT(log_has(&d, "attestd accepts no file descriptors"));
	close(c);
	close(pfd);
	down(&d);
}

/* ---------- 2. one uid reconnecting without pause ---------- */

/* --max-clients 16; 12 processes of one uid hold 4 connections each and
 * replace each one the moment it is dropped. The honest agent of another
 * uid gets its certificate, again and again, and the refusals (thousands)
 * are logged aggregated: the log stays small. */
static void test_reconnect_flood(void)
{
	static struct daemon d;
	char bin[700];
	int before;

	daemon_up(&d);
	track(&d);
	daemon_stop(&d);
	daemon_start(&d, "16");
	honest_agent(&d, bin, sizeof(bin));
	before = count_lines(d.log);
	start_flood(&d, RECONNECT, 12);
	usleep(1500000);
	for (int i = 0; i < 5; i++)
		expect_cert(&d, run_honest(&d, bin, ISSUE("honest")), "honest");
	usleep(2500000);
	for (int i = 0; i < nflooders; i++)
		CU_ASSERT(waitpid(flooders[i], NULL, WNOHANG) == 0);
	stop_flooders();
	daemon_stop(&d); /* writes the counts of intervals not over yet */
	CU_ASSERT(log_has(&d, "per-uid share") || log_has(&d, "per-process connection limit"));
	CU_ASSERT(log_has(&d, "more like this"));
	CU_ASSERT(count_lines(d.log) - before < 150);
	if (count_lines(d.log) - before >= 150)
		(void)tu_sh("tail -n 20 '%s' >&2", d.log);
	down(&d);
}

/* ---------- 4. a pid reused between connect() and accept() ---------- */

static pid_t clone_with_pid(pid_t want)
{
	struct clone_args args;

	memset(&args, 0, sizeof(args));
	args.exit_signal = SIGCHLD;
	args.set_tid = (uint64_t)(uintptr_t)&want;
	args.set_tid_size = 1;
	return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

/* attestd is stopped (SIGSTOP) so that it cannot accept; a child connects
 * and writes a whole request for the registered "sleeper" agent, and exits;
 * its exact pid is then given to a new process running the registered
 * binary (clone3 with set_tid). attestd resumes and accepts: SO_PEERCRED and
 * the bytes' writer both still say that pid number, and the process now
 * behind it is the registered agent. The request must be refused with
 * ATTEST_E_PROC_CHANGED (the process that connected has exited), and the
 * agent run honestly still gets its certificate. */
static void test_pid_reuse(void)
{
	static struct daemon d;
	char sleeper[700], exe[64], link[700];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	cJSON *reply = NULL;
	pid_t writer, reused, server;
	int fd, st;

	daemon_up(&d);
	track(&d);
	snprintf(sleeper, sizeof(sleeper), "%s/sleeper", d.sw.dir);
	CU_ASSERT_EQUAL_FATAL(tu_sh("cp '%s/test_agent' '%s' && chmod 0755 '%s'", agents_dir(), sleeper,
				    sleeper), 0);
	register_agent(&d, "sleeper", sleeper, "0");
	memcpy(sa.sun_path, d.sock, strlen(d.sock) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(fd >= 0);
	server = daemon_agent_server(&d);
	CU_ASSERT_FATAL(kill(server, SIGSTOP) == 0);
	writer = fork();
	CU_ASSERT_FATAL(writer >= 0);
	if (writer == 0) {
		const char *json = ISSUE("sleeper");
		uint8_t hdr[4] = { 0, 0, 0, (uint8_t)strlen(json) };

		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || write(fd, hdr, 4) != 4 ||
		    write(fd, json, strlen(json)) != (ssize_t)strlen(json))
			_exit(1);
		_exit(0);
	}
	CU_ASSERT_FATAL(waitpid(writer, &st, 0) == writer && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	reused = clone_with_pid(writer);
	if (reused == 0) {
		int n = open("/dev/null", O_WRONLY);

		dup2(n, 1);
		execl(sleeper, sleeper, "sleep", (char *)NULL);
		_exit(127);
	}
	if (reused != writer)
		fprintf(stderr, "  clone3(set_tid=%d): %s\n", (int)writer, strerror(errno));
	CU_ASSERT_FATAL(reused == writer);
	/* wait until the reused pid runs the registered binary */
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)reused);
	for (int i = 0; i < 500; i++) {
		ssize_t n = readlink(exe, link, sizeof(link) - 1);

		if (n > 0) {
			link[n] = '\0';
			if (strcmp(link, sleeper) == 0)
				break;
		}
		usleep(10000);
	}
	CU_ASSERT_FATAL(kill(server, SIGCONT) == 0);
	TU_ASSERT_ERR(attest_wire_recv(fd, 20000, &reply), ATTEST_OK);
	if (reply != NULL) {
		const cJSON *err = cJSON_GetObjectItemCaseSensitive(reply, "error");
		const cJSON *det = cJSON_GetObjectItemCaseSensitive(reply, "detail");

		CU_ASSERT(cJSON_GetObjectItemCaseSensitive(reply, "chain") == NULL);
		CU_ASSERT(cJSON_IsString(err) && strcmp(err->valuestring, "ATTEST_E_PROC_CHANGED") == 0);
		if (!cJSON_IsString(err) || strcmp(err->valuestring, "ATTEST_E_PROC_CHANGED") != 0) {
			char *txt = cJSON_PrintUnformatted(reply);

			fprintf(stderr, "  reused pid got: %.300s\n", txt);
			free(txt);
		}
		CU_ASSERT(cJSON_IsString(det) && strstr(det->valuestring, "exited") != NULL);
		cJSON_Delete(reply);
	}
	close(fd);
	kill(reused, SIGKILL);
	waitpid(reused, NULL, 0);
	/* the agent itself, honestly: served */
	{
		char bin[700];

		make_agent_binary(&d, "alpha", NULL, bin, sizeof(bin));
		register_agent(&d, "alpha", bin, "0");
		expect_cert(&d, run_agent(NULL, bin, d.sock, ISSUE("alpha")), "alpha");
	}
	down(&d);
}

/* ---------- 24. a descriptor limit at accept() ---------- */

/* attestd as daemon_start runs it, with RLIMIT_NOFILE nofile and
 * RLIMIT_CORE unlimited (so a process that does not lower it shows so). */
static void start_limited(struct daemon *d, const char *max_clients, rlim_t nofile)
{
	d->pid = fork();
	CU_ASSERT_FATAL(d->pid >= 0);
	if (d->pid == 0) {
		struct rlimit nf = { nofile, nofile }, core = { RLIM_INFINITY, RLIM_INFINITY };
		FILE *f = freopen(d->log, "a", stderr);

		(void)f;
		if ((nofile > 0 && setrlimit(RLIMIT_NOFILE, &nf) != 0) || setrlimit(RLIMIT_CORE, &core) != 0)
			_exit(126);
		execlp("attestd", "attestd", "--state", d->state, "--socket", d->sock, "--admin-socket",
		       d->admin, "--tcti", d->sw.tcti, "--frame-timeout", "700", "--max-clients",
		       max_clients, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 400; i++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0), ok;

		memcpy(sa.sun_path, d->admin, strlen(d->admin) + 1);
		ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(fd);
		if (ok)
			return;
		usleep(25000);
	}
	CU_FAIL_FATAL("attestd did not start");
}

/* RLIMIT_NOFILE 48 and --max-clients 200: 8 processes hold up to 20 idle
 * connections each (replaced when dropped), so accept() meets EMFILE. The
 * log says so with its errno text, once per interval and not once per
 * failed accept (no spinning), never "vanished"; when the flood stops, the
 * honest agent is served. */
static void test_emfile(void)
{
	static struct daemon d;
	char bin[700];
	int before;

	daemon_up(&d);
	track(&d);
	daemon_stop(&d);
	start_limited(&d, "200", 48);
	honest_agent(&d, bin, sizeof(bin));
	before = count_lines(d.log);
	for (int i = 0; i < 8 && nflooders < 64; i++) {
		pid_t pid = fork();

		CU_ASSERT_FATAL(pid >= 0);
		if (pid == 0) {
			int sfd = open(d.sock, O_PATH), held[20];

			become(FLOOD_UID);
			for (int k = 0; k < 20; k++)
				held[k] = -1;
			for (unsigned k = 0;; k++) {
				int fd = connect_sock(sfd);

				if (held[k % 20] >= 0)
					close(held[k % 20]);
				held[k % 20] = fd;
				if (fd < 0)
					usleep(1000);
			}
		}
		flooders[nflooders++] = pid;
	}
	/* until attestd has met EMFILE (a busy machine takes longer), 60 s at most */
	for (int t = 0; t < 600 && !log_has(&d, "Too many open files"); t++)
		usleep(100000);
	usleep(1000000); /* a second more of failed accepts: no line for each */
	stop_flooders();
	CU_ASSERT(log_has(&d, "Too many open files"));
	CU_ASSERT(!log_has(&d, "vanished"));
	CU_ASSERT(count_lines(d.log) - before < 100);
	if (count_lines(d.log) - before >= 100)
		(void)tu_sh("tail -n 20 '%s' >&2", d.log);
	/* the flood's connections are closed as attestd reads their EOFs and
	 * its accept pause ends: served within 10 s (a refusal before that,
	 * e.g. a descriptor still short, is printed and retried) */
	{
		cJSON *reply = NULL;

		for (int t = 0; t < 20; t++) {
			const cJSON *ok;

			cJSON_Delete(reply);
			reply = run_honest(&d, bin, ISSUE("honest"));
			ok = cJSON_GetObjectItemCaseSensitive(reply, "ok");
			if (cJSON_IsTrue(ok))
				break;
			if (reply != NULL) {
				char *txt = cJSON_PrintUnformatted(reply);

				fprintf(stderr, "  honest agent after the flood, try %d: %s\n", t,
					txt != NULL ? txt : "?");
				free(txt);
			}
			usleep(500000);
		}
		expect_cert(&d, reply, "honest");
	}
	down(&d);
}

/* ---------- 8. attestd is not dumpable ---------- */

/* attestd started with RLIMIT_CORE unlimited: its limit is 0 afterwards,
 * and once an agent is registered and a session issuer exists, attestd has
 * memory marked MADV_DONTDUMP ("dd" in smaps: the agent records with their
 * TPM auth values, OpenSSL's secure heap with the session keys). The
 * dumpable flag itself cannot be seen from outside while attestd runs as
 * root with every capability (ptrace access needs the caller to hold all
 * of attestd's capabilities, which overrides the flag). */
static void test_nodump(void)
{
	static struct daemon d;
	char path[64], bin[700];

	daemon_up(&d);
	track(&d);
	daemon_stop(&d);
	start_limited(&d, "64", 0);
	make_agent_binary(&d, "alpha", NULL, bin, sizeof(bin));
	register_agent(&d, "alpha", bin, "0");
	expect_cert(&d, run_agent(NULL, bin, d.sock,
				  "{\"op\":\"issue\",\"agent\":\"alpha\",\"mode\":\"session\"}"),
		    "alpha");
	CU_ASSERT_EQUAL(tu_sh("grep -Eq '^Max core file size +0 +0 ' /proc/%d/limits", (int)d.pid), 0);
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)d.pid);
	CU_ASSERT_EQUAL(tu_sh("grep -q '^VmFlags:.* dd' '%s'", path), 0);
	down(&d);
}

/* ---------- the flood test ---------- */

/* One uid floods with every technique at once: reconnecting without
 * pause, descriptors that block close() (received: the closer path),
 * frames that never complete, requests whose replies are never read.
 * Another uid's honest agent gets its certificate, again and again, while
 * every flooder is still running; the log stays small. */
static void test_flood_all(void)
{
	static struct daemon d;
	char bin[700];
	int before;

	setenv("ATTESTD_TEST_ALLOW_RIGHTS", "1", 1);
	daemon_up(&d);
	track(&d);
	daemon_stop(&d);
	daemon_start(&d, "32");
	unsetenv("ATTESTD_TEST_ALLOW_RIGHTS");
	honest_agent(&d, bin, sizeof(bin));
	before = count_lines(d.log);
	start_flood(&d, RECONNECT, 6);
	start_flood(&d, LINGER_FDS, 4);
	start_flood(&d, SLOW_FRAME, 6);
	start_flood(&d, NO_READ, 4);
	usleep(2000000);
	for (int i = 0; i < 5; i++)
		expect_cert(&d, run_honest(&d, bin, ISSUE("honest")), "honest");
	for (int i = 0; i < nflooders; i++)
		CU_ASSERT(waitpid(flooders[i], NULL, WNOHANG) == 0);
	stop_flooders();
	CU_ASSERT(count_lines(d.log) - before < 200);
	if (count_lines(d.log) - before >= 200)
		(void)tu_sh("tail -n 30 '%s' >&2", d.log);
	down(&d);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "linger descriptors refused by the kernel: honest agent served", test_linger_kernel },
		{ "linger descriptors received: closed off the loop, honest agent served",
		  test_linger_closer },
		{ "descriptors queued at close: all drained off the loop, honest agent served",
		  test_linger_drain },
		{ "one uid reconnecting: fair shares, honest uid served, log aggregated",
		  test_reconnect_flood },
		{ "pid reused between connect and accept: refused", test_pid_reuse },
		{ "EMFILE at accept: said with errno, no spin, served after", test_emfile },
		{ "attestd is not dumpable, no core, secrets in dontdump memory", test_nodump },
		{ "flood with every technique: honest agent served", test_flood_all },
		{ NULL, NULL },
	};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	rc = tu_main("attestd socket flood", tests);
	cleanup_live();
	return rc;
}
