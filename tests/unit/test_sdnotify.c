/* test_sdnotify.c - attestd and attest-verifier serve under a Type=notify
 * unit: systemd's side of the protocol is played here (a datagram socket
 * named by $NOTIFY_SOCKET; $JOURNAL_STREAM naming the daemon's stderr). Each daemon says READY=1 once it serves,
 * WATCHDOG=1 every half $WATCHDOG_USEC from its loop (none when
 * $WATCHDOG_PID names another process), the verifier RELOADING=1 then
 * READY=1 around a SIGHUP, and STOPPING=1 on SIGTERM.
 * Under journald every log line starts with its priority instead of the
 * time: <6> events, <5> what a peer did, <3> a failure to start.
 * Targets: cli/sdnotify.c (sdn_notify, sdn_watchdog_start), cli/journal.c,
 * attestd.c, attestd/log.c, verifier/server.c (vf_serve), verifier/reply.c. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sdnotify.h"
#include "testutil.h"
#include "testutil_daemon.h"
#include "testutil_verifier.h"

struct nsock {
	int fd;
	char path[108];
};

static void nsock_open(struct nsock *n, const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(n->path, sizeof(n->path), "%s/%s", tmp, name);
	(void)unlink(n->path);
	memcpy(sa.sun_path, n->path, strlen(n->path) + 1);
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(n->fd >= 0 && bind(n->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
}

static void nsock_close(struct nsock *n)
{
	close(n->fd);
	(void)unlink(n->path);
}

/* The next datagram within ms (generous: the daemons start swtpm work
 * first); "" when none came. */
static const char *next_msg(struct nsock *n, int ms, char *buf, size_t bufsz)
{
	struct pollfd p = { .fd = n->fd, .events = POLLIN };
	ssize_t got;

	buf[0] = '\0';
	if (poll(&p, 1, ms) != 1)
		return buf;
	got = recv(n->fd, buf, bufsz - 1, 0);
	buf[got > 0 ? got : 0] = '\0';
	return buf;
}

/* Wait up to ms for a datagram starting with want; count the WATCHDOG=1
 * pings seen on the way. */
static int wait_for(struct nsock *n, const char *want, int ms, int *pings)
{
	char buf[512];
	time_t end = time(NULL) + ms / 1000 + 1;

	while (time(NULL) <= end) {
		const char *m = next_msg(n, 200, buf, sizeof(buf));

		if (strncmp(m, want, strlen(want)) == 0)
			return 1;
		if (pings != NULL && strcmp(m, "WATCHDOG=1") == 0)
			(*pings)++;
	}
	return 0;
}

static void test_attestd_notify(void)
{
	struct daemon d;
	struct nsock n;
	int pings = 0;

	nsock_open(&n, "notify-attestd");
	CU_ASSERT_FATAL(setenv("NOTIFY_SOCKET", n.path, 1) == 0);
	CU_ASSERT_FATAL(setenv("WATCHDOG_USEC", "200000", 1) == 0);
	daemon_up(&d);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	CU_ASSERT(wait_for(&n, "READY=1\nSTATUS=host ", 30000, NULL));
	/* pings every 100 ms: several within 10 s whatever the load */
	CU_ASSERT(!wait_for(&n, "NEVER", 2000, &pings) && pings >= 2);
	daemon_down(&d); /* SIGTERM; the datagram waits in our queue */
	CU_ASSERT(wait_for(&n, "STOPPING=1", 30000, NULL));
	nsock_close(&n);
}

static void test_verifier_notify(void)
{
	struct verifier v;
	struct tu_tpm sw;
	struct nsock n;
	char ca[700], roots[800];
	int pings = 0;

	tu_tpm_start(&sw); /* a private dir and the template's vendor roots */
	snprintf(ca, sizeof(ca), "%s/ca", sw.dir);
	snprintf(roots, sizeof(roots), "%s/vendor-roots.pem", tu_template());
	CU_ASSERT_FATAL(tu_sh("attest-provision init --dir %s --trust-domain fleet.example "
			      "--vendor-roots %s >/dev/null", ca, roots) == 0);
	nsock_open(&n, "notify-verifier");
	CU_ASSERT_FATAL(setenv("NOTIFY_SOCKET", n.path, 1) == 0);
	CU_ASSERT_FATAL(setenv("WATCHDOG_USEC", "200000", 1) == 0);
	CU_ASSERT_FATAL(setenv("WATCHDOG_PID", "1", 1) == 0); /* another process's */
	verifier_up(&v, ca, NULL);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	CU_ASSERT(wait_for(&n, "READY=1\nSTATUS=serving on 127.0.0.1:", 30000, NULL));
	kill(v.pid, SIGHUP);
	CU_ASSERT(wait_for(&n, "RELOADING=1", 30000, &pings));
	CU_ASSERT(wait_for(&n, "READY=1", 30000, &pings));
	CU_ASSERT(!wait_for(&n, "NEVER", 1000, &pings));
	CU_ASSERT_EQUAL(pings, 0); /* WATCHDOG_PID was not the verifier's */
	verifier_down(&v);
	CU_ASSERT(wait_for(&n, "STOPPING=1", 30000, NULL));
	nsock_close(&n);
	tu_tpm_stop(&sw);
}

/* JOURNAL_STREAM naming path (the daemon's stderr) */
static void set_journal_stream(const char *path)
{
	struct stat st;
	char v[64];

	CU_ASSERT_FATAL(stat(path, &st) == 0);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	CU_ASSERT_FATAL(setenv("JOURNAL_STREAM", v, 1) == 0);
}

/* the log's lines from the one starting with mark on */
static char *log_from(const char *path, const char *mark)
{
	char *log = tu_slurp(path, NULL), *p;

	CU_ASSERT_FATAL(log != NULL);
	p = strstr(log, mark);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memmove(log, p, strlen(p) + 1);
	return log;
}

static void test_attestd_journal(void)
{
	struct daemon d;
	char *log;

	daemon_up(&d); /* enrolled; this first run logs with timestamps */
	daemon_stop(&d);
	CU_ASSERT_FATAL(tu_sh("echo '--- journal' >>'%s'", d.log) == 0);
	set_journal_stream(d.log);
	daemon_start(&d, "64");
	unsetenv("JOURNAL_STREAM");
	/* a refusal a peer can repeat */
	{
		char a[700];
		cJSON *r;

		make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
		r = run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"nosuch\"}");
		cJSON_Delete(r);
	}
	daemon_stop(&d);
	log = log_from(d.log, "--- journal\n");
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "\n<6>ready: host web-01"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "\n<5>"));
	CU_ASSERT_PTR_NULL(strstr(log, " attestd: ")); /* no timestamps: journald adds them */
	free(log);
	/* a failure to start is an error */
	CU_ASSERT_FATAL(tu_sh("echo '--- journal err' >>'%s'", d.log) == 0);
	set_journal_stream(d.log);
	CU_ASSERT(tu_sh("attestd --state %s/nostate --socket %s.x --admin-socket %s.y "
			"--tcti '%s' 2>>%s", d.sw.dir, d.sock, d.admin, d.sw.tcti, d.log) == 1);
	unsetenv("JOURNAL_STREAM");
	log = log_from(d.log, "--- journal err\n");
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "\n<3>cannot start: "));
	free(log);
	daemon_start(&d, "64"); /* daemon_down expects it running */
	daemon_down(&d);
}

static void test_verifier_journal(void)
{
	struct verifier v;
	struct tu_tpm sw;
	char ca[700], roots[800], *log;
	cJSON *rep = NULL;

	tu_tpm_start(&sw);
	snprintf(ca, sizeof(ca), "%s/ca", sw.dir);
	snprintf(roots, sizeof(roots), "%s/vendor-roots.pem", tu_template());
	CU_ASSERT_FATAL(tu_sh("attest-provision init --dir %s --trust-domain fleet.example "
			      "--vendor-roots %s >/dev/null", ca, roots) == 0);
	verifier_up(&v, ca, NULL);
	verifier_stop(&v);
	CU_ASSERT_FATAL(tu_sh("echo '--- journal' >>'%s'", v.log) == 0);
	set_journal_stream(v.log);
	verifier_start(&v);
	unsetenv("JOURNAL_STREAM");
	/* an anonymous caller on an admin endpoint: refused, logged as notice */
	CU_ASSERT_EQUAL(verifier_call(&v, AS_NONE, "/v1/hosts", NULL, &rep), 403);
	cJSON_Delete(rep);
	rep = NULL;
	/* a peer's bytes cannot start a line, nor choose its priority */
	CU_ASSERT(verifier_call(&v, AS_NONE, "/v1/hosts/nonce",
				"{\"host\":\"a\\n<0>FORGED\"}", &rep) >= 400);
	cJSON_Delete(rep);
	verifier_stop(&v);
	log = log_from(v.log, "--- journal\n");
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "\n<6>listening on https://"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "\n<5>"));
	CU_ASSERT_PTR_NULL(strstr(log, " attest-verifier: "));
	CU_ASSERT_PTR_NULL(strstr(log, "\n<0>FORGED"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "\\x0a<0>FORGED"));
	free(log);
	verifier_down(&v);
	tu_tpm_stop(&sw);
}

/* the protocol's edges, in-process: abstract addresses, bad values */
static void test_protocol(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char name[64], buf[64];
	struct nsock n;
	int fd;

	unsetenv("NOTIFY_SOCKET");
	CU_ASSERT_EQUAL(sdn_notify("READY=1"), 0); /* not under systemd: nothing */
	CU_ASSERT_FATAL(setenv("NOTIFY_SOCKET", "relative/path", 1) == 0);
	CU_ASSERT(sdn_notify("READY=1") == -1 && errno == EINVAL);
	/* an abstract socket, "@name" */
	snprintf(name, sizeof(name), "@attest-test-%d", (int)getpid());
	memcpy(sa.sun_path + 1, name + 1, strlen(name) - 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&sa,
					(socklen_t)(offsetof(struct sockaddr_un, sun_path) +
						    strlen(name))) == 0);
	CU_ASSERT_FATAL(setenv("NOTIFY_SOCKET", name, 1) == 0);
	CU_ASSERT_EQUAL(sdn_notify("READY=1"), 0);
	n.fd = fd;
	CU_ASSERT_STRING_EQUAL(next_msg(&n, 5000, buf, sizeof(buf)), "READY=1");
	close(fd);
	unsetenv("NOTIFY_SOCKET");
	/* the watchdog interval: for us, for another pid, malformed */
	CU_ASSERT_FATAL(setenv("WATCHDOG_USEC", "30000000", 1) == 0);
	CU_ASSERT_EQUAL(sdn_watchdog_usec(), 30000000);
	snprintf(buf, sizeof(buf), "%d", (int)getpid());
	CU_ASSERT_FATAL(setenv("WATCHDOG_PID", buf, 1) == 0);
	CU_ASSERT_EQUAL(sdn_watchdog_usec(), 30000000);
	CU_ASSERT_FATAL(setenv("WATCHDOG_PID", "1", 1) == 0);
	CU_ASSERT_EQUAL(sdn_watchdog_usec(), 0);
	unsetenv("WATCHDOG_PID");
	CU_ASSERT_FATAL(setenv("WATCHDOG_USEC", "30s", 1) == 0);
	CU_ASSERT_EQUAL(sdn_watchdog_usec(), 0);
	unsetenv("WATCHDOG_USEC");
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "protocol: abstract socket, bad NOTIFY_SOCKET, WATCHDOG_USEC/PID", test_protocol },
		{ "attestd: READY, watchdog pings from its loop, STOPPING", test_attestd_notify },
		{ "verifier: READY, RELOADING on SIGHUP, no pings for another pid, STOPPING",
		  test_verifier_notify },
		{ "attestd under journald: <6> events, <5> refusals, <3> a failed start",
		  test_attestd_journal },
		{ "verifier under journald: <6> events, <5> refusals, a peer's newline escaped",
		  test_verifier_journal },
		{ NULL, NULL },
	};

	return tu_main("sdnotify", tests);
}
