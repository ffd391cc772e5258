/* closer.c - see closer.h. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "closer.h"

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int *fds;
	size_t cap; /* >= RLIMIT_NOFILE: every queued fd is a distinct open one */
	size_t head, n; /* queued */
	int inflight;   /* one being closed now */
	int started;
	pthread_t th;
} q = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* A socket is closed abortively (SO_LINGER 0: a TCP reset instead of
 * waiting for unsent data), so a lingering socket does not hold this
 * thread either. Its kind comes from /proc/self/fd (never fstat, which a
 * FUSE file could make wait). Other files are closed as they are: a file
 * on a FUSE mount may still hold this thread, never the event loop. */
static void abortive(int fd)
{
	char path[64], link[32];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 7 && memcmp(link, "socket:", 7) == 0) {
		struct linger now = { 1, 0 };

		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof(now));
	}
}

static void *closer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&q.mu);
	for (;;) {
		int fd;

		while (q.n == 0)
			pthread_cond_wait(&q.cv, &q.mu);
		fd = q.fds[q.head];
		q.head = (q.head + 1) % q.cap;
		q.n--;
		q.inflight = 1;
		pthread_mutex_unlock(&q.mu);
		/* may block for as long as the file's owner decides; that is
		 * why it happens here. It counts as pending until it returns,
		 * so a blocked close keeps attestd_closer_busy() honest. */
		abortive(fd);
		(void)close(fd);
		pthread_mutex_lock(&q.mu);
		q.inflight = 0;
	}
	return NULL; /* not reached: the thread lives as long as the process */
}

int attestd_closer_start(void)
{
	sigset_t all, old;
	int e;

	if (q.started)
		return 0;
	{
		struct rlimit rl;

		q.cap = ATTESTD_CLOSER_MAX;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
		    rl.rlim_cur > q.cap)
			q.cap = rl.rlim_cur < ((rlim_t)1 << 20) ? (size_t)rl.rlim_cur : (size_t)1 << 20;
		if ((q.fds = calloc(q.cap, sizeof(*q.fds))) == NULL)
			return -1;
	}
	/* signals stay with the event loop's thread */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	e = pthread_create(&q.th, NULL, closer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		errno = e;
		return -1;
	}
	q.started = 1;
	return 0;
}

int attestd_closer_give(int fd)
{
	int r = -1;

	if (fd < 0)
		return 0;
	pthread_mutex_lock(&q.mu);
	if (q.started && q.n < q.cap) {
		q.fds[(q.head + q.n) % q.cap] = fd;
		q.n++;
		pthread_cond_signal(&q.cv);
		r = 0;
	}
	pthread_mutex_unlock(&q.mu);
	return r;
}

