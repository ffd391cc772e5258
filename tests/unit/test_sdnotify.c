/* test_sdnotify.c - attestd and attest-verifier serve under a Type=notify
 * unit: systemd's side of the protocol is played here (a datagram socket
 * named by $NOTIFY_SOCKET). Each daemon says READY=1 once it serves,
 * WATCHDOG=1 every half $WATCHDOG_USEC from its loop (none when
 * $WATCHDOG_PID names another process), the verifier RELOADING=1 then
 * READY=1 around a SIGHUP, and STOPPING=1 on SIGTERM.
 * Targets: cli/sdnotify.c (sdn_notify, sdn_watchdog_start), attestd.c,
 * verifier/server.c (vf_serve). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
		{ NULL, NULL },
	};

	return tu_main("sdnotify", tests);
}
