/* renew.c - see renew.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/err.h"
#include "log.h"
#include "nodump.h"
#include "renew.h"
#include "signers.h"
#include "tpm/tpmsw.h"
#include "x509/x509.h"
#include "x509/x509agent.h"

#define ISSUER_TTL ATTEST_SESSION_ISSUER_MAX_TTL

/* One renewal: what the worker needs, by value (it never reads the
 * registry), and what it made. In attestd_secret_alloc memory: it holds
 * the agent's auth value. */
struct renew_job {
	struct renew_job *next;
	char name[ATTEST_MAX_NAME + 1];
	int demand;      /* asked for by a request waiting on it */
	const void *tag; /* the struct agent it was made for: compared only */
	X509 *agent_ca;  /* a reference to the registry's, compared at installation */
	X509 *issuer;    /* a copy of it for the worker (no object shared across threads) */
	struct attest_tpm_key key;
	TPM2B_AUTH auth;
	uint8_t measurement[32];
	/* the worker's result */
	int r;
	char why[300];
	X509 *cert;
	EVP_PKEY *skey;
};

struct attestd_renew {
	struct attestd *d;
	long ahead;
	pthread_t th;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct renew_job *todo, *done; /* under mu */
	/* demanded issuers (attestd_renew_demand), first in first out, taken
	 * before any renewal in todo */
	struct renew_job *urgent, *urgent_tail; /* under mu */
	int stop;                      /* under mu */
	size_t inflight;               /* loop thread only: renewals */
	size_t demanded;               /* loop thread only: demanded issuers */
	attestd_renew_made_fn made;    /* loop thread only */
	void *made_arg;
	int pipe[2];                   /* worker -> loop: "a job is done" */
	struct event *done_ev, *tick_ev;
};

long attestd_renew_lead(long ahead_s, long cap)
{
	long lead;

	if (ahead_s >= 0)
		return ahead_s;
	lead = cap + 60;
	return lead > ISSUER_TTL / 2 ? ISSUER_TTL / 2 : lead;
}

static void job_free(struct renew_job *j)
{
	if (j == NULL)
		return;
	X509_free(j->agent_ca);
	X509_free(j->issuer);
	X509_free(j->cert);
	EVP_PKEY_free(j->skey);
	attestd_secret_free(j, sizeof(*j));
}

/* ---------- the worker thread ---------- */

struct renew_signer {
	struct attestd_host *h;
	const struct agent_key_ref *k;
};

static int renew_sign(void *arg, const uint8_t digest[32], TPMT_SIGNATURE *sig)
{
	const struct renew_signer *s = arg;

	return agent_sign_key(s->h, s->k, digest, sig);
}

static void renew_one(struct attestd_host *h, struct renew_job *j)
{
	struct agent_key_ref k = { j->tag, &j->key, &j->auth, j->measurement };
	struct renew_signer rs = { h, &k };
	struct attest_signer as = { renew_sign, &rs, NULL, 0 };
	EVP_PKEY *pub = NULL;

	attest_errclear();
	if ((j->r = attest_tpm_pub_to_pkey(&j->key.pub, &pub)) == ATTEST_OK &&
	    (j->r = attest_p256_keygen(&j->skey)) == ATTEST_OK) {
		as.pub = pub;
		j->r = attest_x509_make_session_issuer(j->issuer, j->skey, ISSUER_TTL, &as,
						       &j->cert);
	}
	if (j->r != ATTEST_OK)
		snprintf(j->why, sizeof(j->why), "%s", attest_errdetail());
	EVP_PKEY_free(pub);
}

static void *worker(void *arg)
{
	struct attestd_renew *r = arg;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		struct renew_job *j;
		ssize_t w;

		while (!r->stop && r->todo == NULL && r->urgent == NULL)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->stop)
			break;
		if ((j = r->urgent) != NULL) {
			if ((r->urgent = j->next) == NULL)
				r->urgent_tail = NULL;
		} else {
			j = r->todo;
			r->todo = j->next;
		}
		pthread_mutex_unlock(&r->mu);
		renew_one(&r->d->host, j);
		pthread_mutex_lock(&r->mu);
		j->next = r->done;
		r->done = j;
		do
			w = write(r->pipe[1], "x", 1);
		while (w < 0 && errno == EINTR);
		/* a full pipe already says "done": the loop drains every job */
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* ---------- the loop thread ---------- */

/* An agent CA that would cut a new issuer short, or one not issued by
 * the current host CA, is not for the worker: the request path re-issues
 * it (fresh_agent_ca, the host key) before it makes an issuer. */
static int ca_fit(const struct attestd *d, const struct agent *a, time_t whole)
{
	return X509_check_issued(d->host.ca, a->agent_ca) == X509_V_OK &&
	       X509_cmp_time(X509_get0_notAfter(a->agent_ca), &whole) > 0;
}

/* Whether a's issuer is in use, due and may be renewed now. */
static int due(struct attestd_renew *r, const struct agent *a, time_t now)
{
	const struct attestd *d = r->d;
	long cap = a->max_ttl < d->hard_max_ttl ? a->max_ttl : d->hard_max_ttl;
	time_t until = now + attestd_renew_lead(r->ahead, cap), whole = now + ISSUER_TTL;

	if (a->revoked || a->session_cert == NULL || a->session_renewing ||
	    a->session_used + ISSUER_TTL < now)
		return 0;
	if (X509_cmp_time(X509_get0_notAfter(a->session_cert), &until) > 0)
		return 0; /* not due */
	return ca_fit(d, a, whole);
}

static int job_make(const struct agent *a, struct renew_job **out)
{
	struct renew_job *j = attestd_secret_alloc(sizeof(*j));

	*out = NULL;
	if (j == NULL)
		return attest_fail(ATTEST_E_NOMEM, "renewal job");
	if (strlen(a->name) >= sizeof(j->name) || (j->issuer = X509_dup(a->agent_ca)) == NULL ||
	    X509_up_ref(a->agent_ca) != 1) {
		X509_free(j->issuer);
		attestd_secret_free(j, sizeof(*j));
		return attest_fail(ATTEST_E_INTERNAL, "renewal job of %s", a->name);
	}
	memcpy(j->name, a->name, strlen(a->name) + 1);
	j->tag = a;
	j->agent_ca = a->agent_ca;
	j->key = a->key;
	j->auth = a->auth;
	memcpy(j->measurement, a->measurement, 32);
	*out = j;
	return ATTEST_OK;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct attestd_renew *r = arg;
	struct attestd *d = r->d;
	struct renew_job *jobs = NULL;
	time_t now = time(NULL);

	(void)fd;
	(void)what;
	/* what a first issuance needs of the host: the clock and the audit
	 * log's anchoring allow certificates, the current host identity */
	if (attestd_issuance_allowed(d) != ATTEST_OK || attestd_host_refresh(&d->host) != ATTEST_OK) {
		attest_errclear();
		return;
	}
	for (size_t i = 0; i < d->reg.n && r->inflight < ATTESTD_RENEW_QUEUE_MAX; i++) {
		struct agent *a = d->reg.agents[i];
		struct renew_job *j;

		if (!due(r, a, now))
			continue;
		if (job_make(a, &j) != ATTEST_OK) {
			attestd_log("session issuer of %s: not renewed: %s", a->name,
				    attest_errdetail());
			break;
		}
		a->session_renewing = 1;
		r->inflight++;
		j->next = jobs;
		jobs = j;
	}
	if (jobs == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	while (jobs != NULL) {
		struct renew_job *j = jobs;

		jobs = j->next;
		j->next = r->todo;
		r->todo = j;
	}
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* A finished job: installed if the agent is the same registration, still
 * not revoked, with the same agent CA, and the new issuer outlives the
 * one it holds (a request may have made one meanwhile). */
static int install(struct attestd_renew *r, struct renew_job *j)
{
	struct attestd *d = r->d;
	struct agent *a = registry_find(&d->reg, j->name);
	int same = a != NULL && (const void *)a == j->tag;

	if (same)
		a->session_renewing = 0;
	if (j->r != ATTEST_OK) {
		d->session.renew_failed++;
		attestd_log("session issuer of %s: renewal failed: %s [%s]: %s", j->name,
			    attest_strerror(j->r), attest_errname(j->r), j->why);
		attest_fail(j->r, "%s", j->why);
		attestd_host_tpm_failed(&d->host, j->r);
		attest_errclear();
		return j->r;
	}
	if (!same || a->revoked || a->agent_ca != j->agent_ca ||
	    (a->session_cert != NULL &&
	     ASN1_TIME_compare(X509_get0_notAfter(j->cert), X509_get0_notAfter(a->session_cert)) <=
		     0)) {
		d->session.renew_dropped++;
		attestd_log("session issuer of %s: renewal dropped (%s)", j->name,
			    !same ? "agent removed"
			    : a->revoked ? "agent revoked"
			    : a->agent_ca != j->agent_ca ? "agent CA re-issued"
						       : "a newer issuer exists");
		return ATTEST_E_STATE;
	}
	X509_free(a->session_cert);
	EVP_PKEY_free(a->session_key);
	a->session_cert = j->cert;
	a->session_key = j->skey;
	j->cert = NULL; /* transferred */
	j->skey = NULL;
	if (!j->demand)
		d->session.renewed++;
	return ATTEST_OK;
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct attestd_renew *r = arg;
	struct renew_job *done;
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&r->mu);
	done = r->done;
	r->done = NULL;
	pthread_mutex_unlock(&r->mu);
	while (done != NULL) {
		struct renew_job *j = done;

		int code;

		done = j->next;
		if (j->demand && r->demanded > 0)
			r->demanded--;
		else if (!j->demand && r->inflight > 0)
			r->inflight--;
		code = install(r, j);
		/* the requests waiting for this agent's issuer go on (they find
		 * it, or make one themselves, or are refused as before) */
		if (r->made != NULL)
			r->made(r->made_arg, j->name, code);
		job_free(j);
	}
}

void attestd_renew_on_made(struct attestd_renew *r, attestd_renew_made_fn fn, void *arg)
{
	if (r == NULL)
		return;
	r->made = fn;
	r->made_arg = arg;
}

int attestd_renew_demand(struct attestd_renew *r, struct agent *a)
{
	struct attestd *d;
	struct renew_job *j;
	time_t whole;
	int rc;

	if (r == NULL)
		return attest_fail(ATTEST_E_STATE, "session issuer renewal is off");
	d = r->d;
	whole = time(NULL) + ISSUER_TTL;
	if (a->revoked)
		return attest_fail(ATTEST_E_REVOKED, "agent %s is revoked", a->name);
	if (a->session_renewing)
		return ATTEST_OK; /* a job is queued or signing: the hook fires */
	if (r->demanded >= ATTESTD_RENEW_DEMAND_MAX)
		return attest_fail(ATTEST_E_BUSY, "%d session issuers queued", ATTESTD_RENEW_DEMAND_MAX);
	if (!ca_fit(d, a, whole))
		return attest_fail(ATTEST_E_STATE, "agent CA of %s to be re-issued first", a->name);
	if ((rc = job_make(a, &j)) != ATTEST_OK)
		return rc;
	j->demand = 1;
	a->session_renewing = 1;
	r->demanded++;
	/* a launch waits for the TPM (off the loop): counted as before */
	d->session.on_demand++;
	pthread_mutex_lock(&r->mu);
	if (r->urgent_tail != NULL)
		r->urgent_tail->next = j;
	else
		r->urgent = j;
	r->urgent_tail = j;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return ATTEST_OK;
}

int attestd_renew_start(struct event_base *base, struct attestd *d, long ahead_s,
			struct attestd_renew **out)
{
	struct attestd_renew *r;
	struct timeval tv = { ATTESTD_RENEW_TICK_S, 0 };

	*out = NULL;
	if (ahead_s != ATTESTD_RENEW_AUTO && (ahead_s < 0 || ahead_s >= ISSUER_TTL))
		return attest_fail(ATTEST_E_INVALID_ARG, "renewal lead %ld outside 0..%d s", ahead_s,
				   ISSUER_TTL - 1);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "renewal");
	r->d = d;
	r->ahead = ahead_s;
	r->pipe[0] = r->pipe[1] = -1;
	if (pthread_mutex_init(&r->mu, NULL) != 0) {
		free(r);
		return attest_fail(ATTEST_E_NOMEM, "renewal lock");
	}
	if (pthread_cond_init(&r->cv, NULL) != 0) {
		pthread_mutex_destroy(&r->mu);
		free(r);
		return attest_fail(ATTEST_E_NOMEM, "renewal condition");
	}
	if (pipe2(r->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		attestd_renew_stop(r);
		return attest_fail(ATTEST_E_IO, "renewal pipe: %s", strerror(errno));
	}
	if ((r->done_ev = event_new(base, r->pipe[0], EV_READ | EV_PERSIST, on_done, r)) == NULL ||
	    (r->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, r)) == NULL ||
	    event_add(r->done_ev, NULL) != 0 || event_add(r->tick_ev, &tv) != 0) {
		attestd_renew_stop(r);
		return attest_fail(ATTEST_E_NOMEM, "renewal events");
	}
	if (pthread_create(&r->th, NULL, worker, r) != 0) {
		attestd_renew_stop(r);
		return attest_fail(ATTEST_E_NOMEM, "renewal thread");
	}
	r->started = 1;
	*out = r;
	return ATTEST_OK;
}

void attestd_renew_stop(struct attestd_renew *r)
{
	struct renew_job *lists[3];

	if (r == NULL)
		return;
	if (r->started) {
		pthread_mutex_lock(&r->mu);
		r->stop = 1;
		pthread_cond_signal(&r->cv);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->th, NULL);
	}
	if (r->tick_ev != NULL)
		event_free(r->tick_ev);
	if (r->done_ev != NULL)
		event_free(r->done_ev);
	lists[0] = r->todo;
	lists[1] = r->done;
	lists[2] = r->urgent;
	for (int i = 0; i < 3; i++)
		while (lists[i] != NULL) {
			struct renew_job *j = lists[i];

			lists[i] = j->next;
			job_free(j);
		}
	/* agents whose job was dropped here may be renewed by a next start */
	for (size_t i = 0; i < r->d->reg.n; i++)
		r->d->reg.agents[i]->session_renewing = 0;
	if (r->pipe[0] >= 0)
		close(r->pipe[0]);
	if (r->pipe[1] >= 0)
		close(r->pipe[1]);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}
