/* auditsync.c - the audit log's group commit on a sync thread (auditsync.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "audit/auditsync.h"
#include "core/err.h"

struct waiter {
	uint64_t need; /* durable once synced >= need */
	attest_audit_durable_fn fn;
	void *arg;
};

struct attest_audit_syncer {
	struct attest_audit *log;
	int efd; /* eventfd: a sync ended */
	pthread_t thread;
	int started;
	/* shared with the thread, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int job_fd;   /* -1: nothing to do */
	int done;     /* the job ended, job_err its errno (0: durable) */
	int job_err;
	int stop;
	/* the loop's */
	int running;  /* a job was handed over and not reaped */
	int dupfd;    /* its descriptor, closed at reap */
	uint64_t upto;
	uint64_t batches;
	struct waiter *w; /* ring of FIFO waiters, need non-decreasing */
	size_t head, n, cap;
};

static void *sync_main(void *arg)
{
	struct attest_audit_syncer *s = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		int fd, err;

		while (s->job_fd < 0 && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->job_fd < 0)
			break; /* stop, nothing handed over */
		fd = s->job_fd;
		pthread_mutex_unlock(&s->mu);
		err = attest_audit_fdatasync(fd) == 0 ? 0 : (errno != 0 ? errno : EIO);
		pthread_mutex_lock(&s->mu);
		s->job_fd = -1;
		s->job_err = err;
		s->done = 1;
		/* the loop reads it; a full counter (never: one job at a time)
		 * would still leave it readable */
		(void)!write(s->efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int attest_audit_syncer_new(struct attest_audit *log, struct attest_audit_syncer **out)
{
	struct attest_audit_syncer *s = calloc(1, sizeof(*s));
	int r = ATTEST_OK;

	*out = NULL;
	if (s == NULL)
		return attest_fail(ATTEST_E_NOMEM, "audit syncer");
	s->log = log;
	s->job_fd = -1;
	s->dupfd = -1;
	s->efd = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if ((s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		r = attest_fail(ATTEST_E_IO, "audit syncer eventfd: %s", strerror(errno));
		goto out;
	}
	if (pthread_create(&s->thread, NULL, sync_main, s) != 0) {
		r = attest_fail(ATTEST_E_NOMEM, "audit sync thread");
		goto out;
	}
	s->started = 1;
	*out = s;
	s = NULL;
out:
	attest_audit_syncer_free(s);
	return r;
}

int attest_audit_syncer_fd(const struct attest_audit_syncer *s) { return s->efd; }
size_t attest_audit_syncer_waiting(const struct attest_audit_syncer *s) { return s->n; }
uint64_t attest_audit_syncer_batches(const struct attest_audit_syncer *s) { return s->batches; }

/* Hand every record appended so far to the thread, unless a sync runs
 * (reap starts the next one) or all are durable. */
static int kick(struct attest_audit_syncer *s)
{
	int fd, r;
	uint64_t upto;

	if (s->running || s->stop)
		return ATTEST_OK;
	if ((r = attest_audit_sync_begin(s->log, &fd, &upto)) != ATTEST_OK || fd < 0)
		return r;
	pthread_mutex_lock(&s->mu);
	s->job_fd = fd;
	s->done = 0;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	s->upto = upto;
	s->dupfd = fd;
	s->running = 1;
	return ATTEST_OK;
}

/* Answer the waiters the log's durable count covers; with a failure, all. */
static void answer(struct attest_audit_syncer *s, int code)
{
	while (s->n > 0) {
		struct waiter w = s->w[s->head];

		if (code == ATTEST_OK && w.need > attest_audit_synced(s->log))
			break;
		/* off the queue before the call: fn may wait again */
		s->head = (s->head + 1) % s->cap;
		s->n--;
		w.fn(w.arg, code);
	}
}

int attest_audit_syncer_wait(struct attest_audit_syncer *s, attest_audit_durable_fn fn, void *arg)
{
	uint64_t need = attest_audit_size(s->log);
	int r;

	if (need <= attest_audit_synced(s->log) && s->n == 0) {
		fn(arg, ATTEST_OK);
		return ATTEST_OK;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct waiter *w = calloc(cap, sizeof(*w));

		if (w == NULL)
			return attest_fail(ATTEST_E_NOMEM, "audit waiter");
		for (size_t i = 0; i < s->n; i++)
			w[i] = s->w[(s->head + i) % s->cap];
		free(s->w);
		s->w = w;
		s->cap = cap;
		s->head = 0;
	}
	s->w[(s->head + s->n) % s->cap] = (struct waiter){ need, fn, arg };
	s->n++;
	if ((r = kick(s)) != ATTEST_OK) {
		answer(s, r); /* fail closed: every waiter, this one too */
		return ATTEST_OK;
	}
	/* durable already (a synchronous sync since): answer now */
	if (!s->running)
		answer(s, ATTEST_OK);
	return ATTEST_OK;
}

int attest_audit_syncer_reap(struct attest_audit_syncer *s)
{
	uint64_t v;
	int done, err, fd, r;

	while (read(s->efd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	if (!s->running)
		return ATTEST_OK;
	pthread_mutex_lock(&s->mu);
	done = s->done;
	err = s->job_err;
	fd = s->job_fd;
	pthread_mutex_unlock(&s->mu);
	if (!done || fd >= 0)
		return ATTEST_OK;
	s->running = 0;
	close(s->dupfd);
	s->dupfd = -1;
	s->batches++;
	r = attest_audit_sync_end(s->log, s->upto, err);
	pthread_mutex_lock(&s->mu);
	s->done = 0;
	pthread_mutex_unlock(&s->mu);
	answer(s, r);
	if (r == ATTEST_OK && (s->n > 0 || attest_audit_size(s->log) > attest_audit_synced(s->log))) {
		int k = kick(s);

		if (k != ATTEST_OK) {
			answer(s, k);
			r = k;
		} else if (!s->running) {
			answer(s, ATTEST_OK);
		}
	}
	return r;
}

void attest_audit_syncer_free(struct attest_audit_syncer *s)
{
	int r;

	if (s == NULL)
		return;
	if (s->started) {
		pthread_mutex_lock(&s->mu);
		s->stop = 1;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL); /* after the job it had, if any */
		if (s->running) {
			r = attest_audit_syncer_reap(s);
			(void)r; /* the waiters have its result */
		}
	}
	if (s->n > 0)
		answer(s, attest_audit_sync(s->log));
	if (s->efd >= 0)
		close(s->efd);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->w);
	free(s);
}
