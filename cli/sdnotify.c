/* sdnotify.c - sd_notify(3)'s datagram protocol (sdnotify.h). */
#include "sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/num.h"

int sdn_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t plen, slen = strlen(state);
	socklen_t salen;
	ssize_t n;
	int fd, e;

	if (path == NULL || path[0] == '\0')
		return 0;
	plen = strlen(path);
	/* a path, or '@' for an abstract address (sun_path[0] = 0) */
	if ((path[0] != '/' && path[0] != '@') || plen < 2 || plen >= sizeof(sa.sun_path)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(sa.sun_path, path, plen);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen +
			    (path[0] == '@' ? 0 : 1));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	n = sendto(fd, state, slen, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	e = errno;
	(void)close(fd);
	if (n < 0 || (size_t)n != slen) {
		errno = n < 0 ? e : EMSGSIZE;
		return -1;
	}
	return 0;
}

/* a strict decimal (core/num.h), or 0 */
static uint64_t env_u64(const char *name)
{
	const char *s = getenv(name);
	uint64_t v = 0;

	if (s == NULL || attest_parse_u64(s, 0, UINT64_MAX, &v) != ATTEST_OK) {
		attest_errclear();
		return 0;
	}
	return v;
}

uint64_t sdn_watchdog_usec(void)
{
	uint64_t pid = env_u64("WATCHDOG_PID");

	if (getenv("WATCHDOG_PID") != NULL && pid != (uint64_t)getpid())
		return 0; /* meant for another process */
	return env_u64("WATCHDOG_USEC");
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	(void)sdn_notify("WATCHDOG=1"); /* a lost ping is retried at the next tick */
}

int sdn_watchdog_start(struct event_base *base, struct event **ev)
{
	uint64_t usec = sdn_watchdog_usec() / 2;
	struct timeval tv;

	*ev = NULL;
	if (usec == 0)
		return 0;
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	if ((*ev = event_new(base, -1, EV_PERSIST, on_watchdog, NULL)) == NULL)
		return -1;
	if (event_add(*ev, &tv) != 0) {
		event_free(*ev);
		*ev = NULL;
		return -1;
	}
	(void)sdn_notify("WATCHDOG=1");
	return 0;
}
