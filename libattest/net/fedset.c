/* fedset.c - federated bundles: fetched off the event loop, installed on
 * it (fedset.h). attestd's front and the verifier each run one. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/err.h"
#include "net/fedset.h"
#include "net/httpc.h"

#define FETCH_TIMEOUT_MS 10000

struct fed_entry {
	struct fed_conf conf; /* conf.ca malloc'd */
	uint64_t id;          /* results for an entry since removed are dropped */
	/* the loop's */
	struct fed_bundle good;
	int have_good;
	time_t good_at;   /* wall clock, for the status */
	time_t good_mono; /* monotonic: the last fetch that gave (or confirmed) it */
	char last_err[256];
	/* under mu: the worker's */
	time_t due; /* monotonic seconds */
	int busy, have_result, result_code;
	char result_err[256];
	struct fed_bundle result;
};

struct fedset {
	struct event_base *base;
	void (*changed)(void *ctx);
	void *ctx;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int started, stop;
	int wake[2];
	struct event *wake_ev;
	struct fed_entry *e[FED_MAX];
	uint32_t n;
	uint64_t next_id, version;
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
	long refresh_max, retry_s;
};

static void flog(const struct fedset *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void flog(const struct fedset *s, const char *fmt, ...)
{
	char line[600];
	va_list ap;

	if (s->log == NULL)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	s->log(s->log_ctx, line);
}

static time_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void entry_free(struct fed_entry *e)
{
	if (e == NULL)
		return;
	free(e->conf.ca);
	fed_bundle_clear(&e->good);
	fed_bundle_clear(&e->result);
	free(e);
}

/* ---------- the worker ---------- */

/* GET url, TLS to ca, and the body parsed as a SPIFFE bundle. */
static int fetch(const char *url, const uint8_t *ca, size_t ca_len, struct fed_bundle *out)
{
	struct attest_httpc_opts o = { 0 };
	char *resp = NULL;
	size_t len = 0;
	long status = 0;
	int r;

	o.ca_pem = (const char *)ca;
	o.ca_pem_len = ca_len;
	o.timeout_ms = FETCH_TIMEOUT_MS;
	if ((r = attest_https_request(&o, url, NULL, 0, &status, &resp, &len)) != ATTEST_OK)
		return r;
	if (status != 200)
		r = attest_fail(ATTEST_E_IO, "the bundle endpoint answered HTTP %ld", status);
	else
		r = fed_bundle_parse(resp, len, out);
	free(resp);
	return r;
}

static void *worker(void *arg)
{
	struct fedset *s = arg;

	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		struct fed_entry *e = NULL;
		time_t now = mono(), next = now + 3600;
		struct fed_bundle b;
		char url[FED_URL_MAX + 1], err[256];
		uint8_t *ca;
		size_t ca_len;
		uint64_t id;
		int r;

		for (uint32_t i = 0; i < s->n; i++) {
			struct fed_entry *x = s->e[i];

			if (x->busy || x->have_result)
				continue;
			if (x->due <= now) {
				e = x;
				break;
			}
			if (x->due < next)
				next = x->due;
		}
		if (e == NULL) {
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += next - now;
			(void)pthread_cond_timedwait(&s->cv, &s->mu, &ts);
			continue;
		}
		/* copies: the loop may replace the entry meanwhile */
		if ((ca = malloc(e->conf.ca_len)) == NULL) {
			e->due = now + s->retry_s;
			continue;
		}
		memcpy(ca, e->conf.ca, e->conf.ca_len);
		ca_len = e->conf.ca_len;
		memcpy(url, e->conf.url, sizeof(url));
		id = e->id;
		e->busy = 1;
		pthread_mutex_unlock(&s->mu);

		attest_errclear();
		r = fetch(url, ca, ca_len, &b);
		snprintf(err, sizeof(err), "%s: %s", attest_errname(r), attest_errdetail());
		free(ca);

		pthread_mutex_lock(&s->mu);
		e = NULL;
		for (uint32_t i = 0; i < s->n; i++)
			if (s->e[i]->id == id)
				e = s->e[i];
		if (e == NULL) { /* removed meanwhile */
			fed_bundle_clear(&b);
			continue;
		}
		e->busy = 0;
		e->have_result = 1;
		e->result_code = r;
		memcpy(e->result_err, err, sizeof(err));
		if (r == ATTEST_OK)
			e->result = b;
		e->due = mono() + (r != ATTEST_OK		   ? s->retry_s
				   : b.refresh_s < s->refresh_max ? b.refresh_s
								  : s->refresh_max);
		(void)!write(s->wake[1], "f", 1);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---------- the loop ---------- */

/* A result: installed when it is good, new, and not older in
 * spiffe_sequence than the one held; otherwise the last good stays. */
static int apply(const struct fedset *s, struct fed_entry *e)
{
	struct fed_bundle *b = &e->result;

	if (e->result_code != ATTEST_OK) {
		memcpy(e->last_err, e->result_err, sizeof(e->last_err));
		flog(s, "federation: spiffe://%s: %s; %s", e->conf.td, e->result_err,
			    e->have_good ? "the last good bundle stays" : "no bundle yet");
		return 0;
	}
	if (e->have_good && e->good.has_seq && b->has_seq && b->seq < e->good.seq) {
		snprintf(e->last_err, sizeof(e->last_err),
			 "spiffe_sequence went back from %llu to %llu: refused",
			 (unsigned long long)e->good.seq, (unsigned long long)b->seq);
		flog(s, "federation: spiffe://%s: %s; the last good bundle stays", e->conf.td,
			    e->last_err);
		fed_bundle_clear(b);
		return 0;
	}
	e->last_err[0] = '\0';
	if (e->have_good && fed_bundle_same(&e->good, b)) {
		e->good.seq = b->seq;
		e->good.has_seq = b->has_seq;
		e->good_at = time(NULL);
		e->good_mono = mono();
		fed_bundle_clear(b);
		return 0;
	}
	flog(s, "federation: spiffe://%s: bundle %s: %u X.509 authorities, %u JWT keys, "
		    "sequence %llu, refresh %ld s", e->conf.td, e->have_good ? "changed" : "installed",
		    b->nx509, b->njwt, (unsigned long long)b->seq, b->refresh_s);
	fed_bundle_clear(&e->good);
	e->good = *b;
	memset(b, 0, sizeof(*b));
	e->have_good = 1;
	e->good_at = time(NULL);
	e->good_mono = mono();
	return 1;
}

/* The loop changed the entries under s->mu (a result installed, the list
 * replaced): a new version if a bundle changed, the worker woken to
 * schedule them again (without the signal it slept until its hour-long
 * idle wait ended, so a bundle was not fetched again per its
 * spiffe_refresh_hint, nor a failed fetch retried), the lock released,
 * then the owner told. */
static void settled(struct fedset *s, int changed)
{
	if (changed)
		s->version++;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (changed && s->changed != NULL)
		s->changed(s->ctx);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct fedset *s = arg;
	char buf[64];
	int changed = 0;

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&s->mu);
	for (uint32_t i = 0; i < s->n; i++) {
		struct fed_entry *e = s->e[i];

		if (!e->have_result)
			continue;
		changed |= apply(s, e);
		e->have_result = 0;
		fed_bundle_clear(&e->result);
	}
	settled(s, changed);
}

int fedset_new(struct event_base *base, void (*changed)(void *ctx), void *ctx,
	       struct fedset **out)
{
	struct fedset *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;

	*out = NULL;
	if (s == NULL)
		return attest_fail(ATTEST_E_NOMEM, "federation");
	s->base = base;
	s->changed = changed;
	s->ctx = ctx;
	s->wake[0] = s->wake[1] = -1;
	s->next_id = 1;
	s->refresh_max = FED_REFRESH_MAX;
	s->retry_s = FED_RETRY_S;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) != 0 ||
	    (s->wake_ev = event_new(base, s->wake[0], EV_READ | EV_PERSIST, on_wake, s)) == NULL ||
	    event_add(s->wake_ev, NULL) != 0) {
		fedset_free(s);
		return attest_fail(ATTEST_E_IO, "federation wake-up");
	}
	*out = s;
	return ATTEST_OK;
}

int fedset_start(struct fedset *s)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&s->th, NULL, worker, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		flog(s, "federation worker: %s", strerror(r));
		return -1;
	}
	s->started = 1;
	return 0;
}

void fedset_free(struct fedset *s)
{
	if (s == NULL)
		return;
	if (s->started) {
		pthread_mutex_lock(&s->mu);
		s->stop = 1;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->th, NULL);
	}
	for (uint32_t i = 0; i < s->n; i++)
		entry_free(s->e[i]);
	if (s->wake_ev != NULL)
		event_free(s->wake_ev);
	for (int i = 0; i < 2; i++)
		if (s->wake[i] >= 0)
			close(s->wake[i]);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static int same_conf(const struct fed_conf *a, const struct fed_conf *b)
{
	return strcmp(a->td, b->td) == 0 && strcmp(a->url, b->url) == 0 &&
	       a->ca_len == b->ca_len && memcmp(a->ca, b->ca, a->ca_len) == 0;
}

int fedset_configure(struct fedset *s, const struct fed_list *l, int refetch)
{
	struct fed_entry *next[FED_MAX] = { NULL };
	int from[FED_MAX];
	int changed = 0, r = ATTEST_OK;

	if (l->n > FED_MAX)
		return attest_fail(ATTEST_E_INVALID_ARG, "federation list");
	for (int i = 0; i < FED_MAX; i++)
		from[i] = -1;
	pthread_mutex_lock(&s->mu);
	for (uint32_t i = 0; i < l->n; i++) {
		struct fed_entry *e;
		uint8_t *ca;

		for (uint32_t j = 0; j < s->n; j++)
			if (s->e[j] != NULL && same_conf(&s->e[j]->conf, &l->e[i])) {
				next[i] = s->e[j]; /* kept, bundle and all */
				s->e[j] = NULL;
				from[i] = (int)j;
				if (refetch && !next[i]->busy && !next[i]->have_result)
					next[i]->due = 0;
				break;
			}
		if (next[i] != NULL)
			continue;
		e = calloc(1, sizeof(*e));
		ca = malloc(l->e[i].ca_len);
		if (e == NULL || ca == NULL) {
			free(e);
			free(ca);
			r = attest_fail(ATTEST_E_NOMEM, "federation");
			break;
		}
		e->conf = l->e[i];
		e->conf.ca = ca;
		memcpy(ca, l->e[i].ca, l->e[i].ca_len);
		e->id = s->next_id++;
		e->due = 0; /* now */
		next[i] = e;
	}
	if (r != ATTEST_OK) { /* nothing changes */
		for (uint32_t i = 0; i < l->n; i++) {
			if (next[i] != NULL && from[i] >= 0)
				s->e[from[i]] = next[i];
			else
				entry_free(next[i]);
		}
		pthread_mutex_unlock(&s->mu);
		return r;
	}
	for (uint32_t j = 0; j < s->n; j++)
		if (s->e[j] != NULL) { /* removed (or replaced): its bundle goes */
			changed |= s->e[j]->have_good;
			entry_free(s->e[j]);
		}
	memcpy(s->e, next, sizeof(next));
	s->n = l->n;
	settled(s, changed);
	return ATTEST_OK;
}

void fedset_set_log(struct fedset *s, void (*log)(void *ctx, const char *line), void *ctx)
{
	s->log = log;
	s->log_ctx = ctx;
}

void fedset_set_timing(struct fedset *s, long refresh_max, long retry_s)
{
	pthread_mutex_lock(&s->mu);
	s->refresh_max = refresh_max >= 1 && refresh_max <= FED_REFRESH_MAX ? refresh_max
									   : FED_REFRESH_MAX;
	s->retry_s = retry_s >= 1 && retry_s <= FED_RETRY_S ? retry_s : FED_RETRY_S;
	pthread_mutex_unlock(&s->mu);
}

int fedset_find(const struct fedset *s, const char *td, struct fed_view *v, const char **err)
{
	memset(v, 0, sizeof(*v));
	*err = "";
	for (uint32_t i = 0; s != NULL && td != NULL && i < s->n; i++) {
		const struct fed_entry *e = s->e[i];

		if (strcmp(e->conf.td, td) != 0)
			continue;
		*err = e->last_err;
		if (!e->have_good)
			return 0;
		v->td = e->conf.td;
		v->der = e->good.der_len > 0 ? e->good.der : NULL;
		v->der_len = e->good.der_len;
		v->jwks = e->good.njwt > 0 ? e->good.jwks : NULL;
		v->age_s = (int64_t)(mono() - e->good_mono);
		return 1;
	}
	return -1;
}

uint32_t fedset_count(const struct fedset *s)
{
	return s != NULL ? s->n : 0;
}

int fedset_get(const struct fedset *s, uint32_t i, struct fed_view *v)
{
	const struct fed_entry *e;

	memset(v, 0, sizeof(*v));
	if (s == NULL || i >= s->n || !(e = s->e[i])->have_good)
		return 0;
	v->td = e->conf.td;
	v->der = e->good.der_len > 0 ? e->good.der : NULL;
	v->der_len = e->good.der_len;
	v->jwks = e->good.njwt > 0 ? e->good.jwks : NULL;
	v->age_s = (int64_t)(mono() - e->good_mono);
	return 1;
}

uint64_t fedset_version(const struct fedset *s)
{
	return s != NULL ? s->version : 0;
}

int fedset_status(const struct fedset *s, cJSON *arr)
{
	for (uint32_t i = 0; s != NULL && i < s->n; i++) {
		const struct fed_entry *e = s->e[i];
		cJSON *o = cJSON_CreateObject();

		if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			return attest_fail(ATTEST_E_NOMEM, "federation status");
		}
		if (cJSON_AddStringToObject(o, "trust_domain", e->conf.td) == NULL ||
		    cJSON_AddStringToObject(o, "bundle_url", e->conf.url) == NULL ||
		    cJSON_AddStringToObject(o, "state", !e->have_good      ? "pending"
							: e->last_err[0] ? "stale"
									 : "ok") == NULL ||
		    cJSON_AddNumberToObject(o, "x509_authorities", e->good.nx509) == NULL ||
		    cJSON_AddNumberToObject(o, "jwt_keys", e->good.njwt) == NULL ||
		    cJSON_AddNumberToObject(o, "spiffe_sequence", (double)e->good.seq) == NULL ||
		    cJSON_AddNumberToObject(o, "fetched_at", (double)e->good_at) == NULL ||
		    (e->last_err[0] != '\0' &&
		     cJSON_AddStringToObject(o, "last_error", e->last_err) == NULL))
			return attest_fail(ATTEST_E_NOMEM, "federation status");
	}
	return ATTEST_OK;
}
