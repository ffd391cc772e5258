/* push.c - see push.h. The loop side (quote, sign, install a renewed host
 * CA, answer admin clients) and one worker thread that only does HTTPS:
 * the two share two job slots under one mutex, and the worker wakes the
 * loop through a socketpair when a job is done. */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "auditlog.h"
#include "host.h"
#include "enrol/enrol.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/num.h"
#include "attestation/hostpush.h"
#include "core/json.h"
#include "log.h"
#include "crl.h"
#include "push.h"
#include "pushwire.h"
#include "registry.h"

#define MAX_WAITERS 8
/* with send: an answer is due within the request's timeout and this */
#define PUSH_ANSWER_MARGIN_MS 10000
#define QUOTE_ATTEMPTS 3
/* audit checkpoints waiting for the verifier, oldest first. Beyond this
 * many the oldest is dropped: the verifier takes the later ones with a
 * consistency proof from the last it accepted and records the gap. */
#define CKPT_QUEUE_MAX 1024
/* STATE/<this>: how far the verifier has the log (docs/audit.md) */
#define PUSHED_FILE "audit-pushed"

enum job_state { JOB_IDLE, JOB_QUEUED, JOB_RUNNING, JOB_DONE };

/* One HTTPS request. The loop fills it and queues it; while it is queued
 * or running only the worker touches it; once done only the loop does. */
struct job {
	enum job_state state;
	uint32_t kind; /* pushwire.h: the path */
	uint32_t seq;  /* with send: this request's number, echoed in its answer */
	char *body;
	size_t body_len;
	struct push_reply rep; /* the answer, typed (pushwire.c parsed it) */
};

struct waiter {
	struct attestd_pending *p; /* a deferred reply; or, when NULL: */
	attestd_push_done_fn done; /* the typed verdict for the front (monitor.c) */
	void *arg;
	uint64_t tag;
	uint64_t round; /* answered when this round ends */
};

struct attestd_push {
	struct attestd_host *host;     /* its TPM quotes and signs reports */
	struct attestd_auditlog *log;  /* verdicts recorded; checkpoints read */
	const struct registry *reg;    /* the inventory reported */
	struct event_base *base;
	char url[ATTEST_PUSH_URL_MAX + 1];
	char ca_file[1024];
	char eventlog[1024]; /* "" for none */
	long interval;
	uint32_t pcr_mask;
	struct attest_httpc_opts http;
	int (*revoked)(void *arg, const char *agent_id);
	void *revoked_arg;
	size_t (*jwt_keys)(void *arg, struct attest_report_jwtkey *out, size_t max);
	void *jwt_keys_arg;
	/* when set, the HTTPS runs elsewhere (attestd's front): no worker */
	int (*send)(void *ctx, uint32_t slot, uint32_t kind, uint32_t seq, const char *body,
		    size_t len);
	void *send_ctx;
	uint32_t seq;                  /* the last request number given */
	struct event *deadline[3];     /* with send: per slot, the answer's deadline */
	struct deadline_arg {
		struct attestd_push *p;
		uint32_t slot;
	} deadline_arg[3];

	pthread_t thread;
	int thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int wake[2]; /* worker writes a byte when a job is done */
	struct event *wake_ev, *attest_timer, *report_timer, *ckpt_timer;
	struct job attest_job, report_job, ckpt_job;

	/* attestation: rounds of nonce -> quote -> verdict */
	int attest_busy;
	uint64_t round;
	int round_renew;
	int demand, demand_renew;
	char quote_sha256[65]; /* of the TPMS_ATTEST sent this round, "" before */
	unsigned attest_fails;
	uint8_t nonce[ATTEST_PUSH_NONCE_MAX];
	size_t nonce_len;
	struct waiter waiters[MAX_WAITERS];
	size_t nwaiters;

	/* inventory: the registry's generation vs the one last reported */
	uint64_t inv_gen, inv_sent_gen, inv_job_gen;
	int report_busy;
	unsigned report_fails;
	time_t report_last; /* "time" of the last report built */
	time_t crl_made;    /* when the CRLs last reported were made, 0: none */

	/* audit checkpoints, oldest first; the body (with its consistency
	 * proof from the last one the verifier accepted) is made at send */
	struct attest_audit_ckpt *ckpt_q[CKPT_QUEUE_MAX];
	uint64_t ckpt_counter[CKPT_QUEUE_MAX];
	size_t ckpt_n;
	/* durable in STATE/audit-pushed: the last checkpoint the verifier
	 * accepted (its log, counter and tree size) and the last counter it
	 * answered for good (accepted or refused); 0: none known */
	uint8_t acked_log[ATTEST_AUDIT_LOG_ID_LEN];
	uint64_t acked_counter, acked_size, handled_counter;
	int have_acked;
	int ckpt_busy;
	unsigned ckpt_fails;
};

/* ---------- worker ---------- */

static void run_job(struct attestd_push *p, struct job *j)
{
	char *resp = NULL, detail[512];
	size_t resp_len = 0;
	int r;

	attest_errclear();
	r = attest_verifier_post(&p->http, p->url, push_kind_path(j->kind), j->body, j->body_len,
				 &resp, &resp_len);
	snprintf(detail, sizeof(detail), "%s", attest_errdetail());
	push_reply_parse(j->kind, r, detail, resp, resp_len, &j->rep);
	free(resp);
}

static void *worker(void *arg)
{
	struct attestd_push *p = arg;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		struct job *j = p->attest_job.state == JOB_QUEUED ? &p->attest_job
			      : p->report_job.state == JOB_QUEUED ? &p->report_job
			      : p->ckpt_job.state == JOB_QUEUED	  ? &p->ckpt_job
								  : NULL;

		if (j == NULL) {
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		j->state = JOB_RUNNING;
		pthread_mutex_unlock(&p->mu);
		run_job(p, j);
		pthread_mutex_lock(&p->mu);
		j->state = JOB_DONE;
		/* a full socketpair already holds a wake-up: nothing lost */
		(void)!write(p->wake[1], "j", 1);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static struct job *slot_job(struct attestd_push *p, uint32_t slot)
{
	return slot == 0 ? &p->attest_job : slot == 1 ? &p->report_job
		: slot == 2 ? &p->ckpt_job : NULL;
}

static uint32_t job_slot(struct attestd_push *p, const struct job *j)
{
	return j == &p->attest_job ? 0 : j == &p->report_job ? 1 : 2;
}

/* j ended without an answer (r): handled by on_wake, like any other. */
static void job_fail(struct attestd_push *p, struct job *j, int r)
{
	push_reply_clear(&j->rep);
	j->rep.r = r;
	snprintf(j->rep.detail, sizeof(j->rep.detail), "%s", attest_errdetail());
	j->state = JOB_DONE;
	(void)!write(p->wake[1], "j", 1);
}

/* Hand body (taken) to the worker, or to the front. */
static void queue_job(struct attestd_push *p, struct job *j, uint32_t kind, char *body,
		      size_t len)
{
	pthread_mutex_lock(&p->mu);
	j->kind = kind;
	j->body = body;
	j->body_len = len;
	memset(&j->rep, 0, sizeof(j->rep));
	j->state = p->send != NULL ? JOB_RUNNING : JOB_QUEUED;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (p->send != NULL) {
		/* a front that never answers does not stall the flow: past the
		 * request's own timeout and a margin, it has failed */
		struct timeval tv = { (p->http.timeout_ms + PUSH_ANSWER_MARGIN_MS) / 1000,
				      ((p->http.timeout_ms + PUSH_ANSWER_MARGIN_MS) % 1000) * 1000 };
		uint32_t slot = job_slot(p, j);
		int r;

		j->seq = ++p->seq;
		attest_errclear();
		if ((r = p->send(p->send_ctx, slot, kind, j->seq, body, len)) != ATTEST_OK)
			job_fail(p, j, r);
		else
			evtimer_add(p->deadline[slot], &tv);
	}
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct deadline_arg *a = arg;
	struct job *j = slot_job(a->p, a->slot);

	(void)fd;
	(void)what;
	if (j->state != JOB_RUNNING)
		return;
	attestd_log("push: the front did not answer request %u (%s) in time", (unsigned)j->seq,
		    push_kind_path(j->kind));
	attest_fail(ATTEST_E_TIMEOUT, "the front did not answer in time");
	job_fail(a->p, j, ATTEST_E_TIMEOUT);
}

static void job_reset(struct job *j)
{
	free(j->body);
	push_reply_clear(&j->rep);
	j->body = NULL;
	j->body_len = 0;
	j->state = JOB_IDLE;
}

int attestd_push_job_done(struct attestd_push *p, uint32_t slot, uint32_t kind, uint32_t seq,
			  struct push_reply *rep)
{
	struct job *j = p != NULL ? slot_job(p, slot) : NULL;

	if (j != NULL && p->send != NULL && seq < j->seq) {
		/* the answer to a request that timed out since: dropped */
		attestd_log("push: a late answer to request %u dropped", (unsigned)seq);
		return ATTEST_OK;
	}
	if (j == NULL || p->send == NULL || j->state != JOB_RUNNING || j->kind != kind ||
	    j->seq != seq)
		return attest_fail(ATTEST_E_PARSE, "a push answer for slot %u kind %u, which is "
				   "not in flight", (unsigned)slot, (unsigned)kind);
	evtimer_del(p->deadline[slot]);
	j->rep = *rep;
	memset(rep, 0, sizeof(*rep)); /* moved */
	j->state = JOB_DONE;
	(void)!write(p->wake[1], "j", 1);
	return ATTEST_OK;
}

void attestd_push_transport_lost(struct attestd_push *p)
{
	if (p == NULL || p->send == NULL)
		return;
	for (uint32_t i = 0; i < PUSH_SLOTS; i++) {
		struct job *j = slot_job(p, i);

		if (j->state == JOB_RUNNING) {
			evtimer_del(p->deadline[i]);
			attest_fail(ATTEST_E_IO, "the front that ran the request stopped");
			job_fail(p, j, ATTEST_E_IO);
		}
	}
}

static double jitter(void)
{
	uint16_t v = 0;

	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		return 0.5;
	return (double)v / 65536.0;
}

static void arm(struct event *ev, long seconds)
{
	struct timeval tv = { seconds, 0 };

	evtimer_add(ev, &tv);
}

/* ---------- attestation ---------- */

static cJSON *verdict_reply(const struct attest_push_answer *a, int renewed)
{
	cJSON *o = attestd_ok_reply();

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "state", a->state);
	cJSON_AddStringToObject(o, "reason", a->reason_name);
	cJSON_AddStringToObject(o, "refset", a->refset);
	cJSON_AddBoolToObject(o, "reboot", a->reboot);
	cJSON_AddBoolToObject(o, "renewed", renewed);
	return o;
}

static cJSON *failure_reply(int r, const char *detail)
{
	cJSON *o = attestd_error_reply(r);

	if (o != NULL)
		cJSON_AddStringToObject(o, "detail", detail);
	return o;
}

static void answer(const struct waiter *w, int code, const char *detail,
		   const struct attest_push_answer *a, int renewed)
{
	if (w->p != NULL)
		attestd_pending_reply(w->p, code == ATTEST_OK ? verdict_reply(a, renewed)
							     : failure_reply(code, detail));
	else
		w->done(w->arg, w->tag, code, detail, a, renewed);
}

/* The round ended: answer who waited for it, then plan the next one. */
/* The verifier's verdict on our quote (or why there is none) in the audit
 * log; admin clients waiting for it are answered after it is durable. */
static void audit_round(struct attestd_push *p, int ok, const struct attest_push_answer *a,
			int renewed, int r)
{
	struct attest_audit_event ev = { 0 };
	char reason[256];

	ev.type = "host_state";
	ev.source = p->url;
	ev.action = "quote";
	if (ok) {
		snprintf(reason, sizeof(reason), "state=%s reason=%s refset=%s reboot=%s renewed=%s",
			 a->state, a->reason_name, a->refset[0] ? a->refset : "-",
			 a->reboot ? "yes" : "no", renewed ? "yes" : "no");
		ev.outcome = strcmp(a->state, "trusted") == 0 ? "ok" : "deny";
		ev.reason = reason;
		ev.quote_sha256 = p->quote_sha256[0] ? p->quote_sha256 : NULL;
	} else {
		ev.outcome = "error";
		ev.reason = attest_errname(r);
	}
	if (attestd_audit(p->log, &ev) != ATTEST_OK)
		attestd_log("push: %s", attest_errdetail());
}

static void end_round(struct attestd_push *p, int ok, const struct attest_push_answer *a,
		      int renewed, int r, const char *detail)
{
	size_t keep = 0;
	long next;

	audit_round(p, ok, a, renewed, r);
	p->attest_busy = 0;
	p->attest_fails = ok ? 0 : p->attest_fails + 1;
	for (size_t i = 0; i < p->nwaiters; i++) {
		if (p->waiters[i].round > p->round) {
			p->waiters[keep++] = p->waiters[i];
			continue;
		}
		answer(&p->waiters[i], ok ? ATTEST_OK : r, detail, ok ? a : NULL, renewed);
	}
	p->nwaiters = keep;
	if (p->demand) {
		p->demand = 0;
		arm(p->attest_timer, 0);
		return;
	}
	next = attest_push_delay(p->interval, p->attest_fails, jitter());
	arm(p->attest_timer, next);
	if (!ok)
		attestd_log("push: failed: %s [%s]: %s; next try in %ld s", attest_strerror(r),
			    attest_errname(r), detail, next);
}

static void fail_round(struct attestd_push *p, int r)
{
	char detail[512];

	snprintf(detail, sizeof(detail), "%s", attest_errdetail());
	end_round(p, 0, NULL, 0, r, detail);
}

static void start_round(evutil_socket_t fd, short what, void *arg)
{
	struct attestd_push *p = arg;
	char *body = NULL;
	int r;

	(void)fd;
	(void)what;
	if (p->attest_busy)
		return;
	p->attest_busy = 1;
	p->round++;
	p->quote_sha256[0] = '\0';
	attest_errclear();
	/* a host CA renewed by hand (attestctl host renew) counts too */
	if ((r = attestd_host_refresh(p->host)) != ATTEST_OK) {
		fail_round(p, r);
		return;
	}
	p->round_renew = p->demand_renew || attest_push_want_renew(p->host->ca, time(NULL));
	/* the host CA's CRL is reported again before half its life is gone,
	 * so relying parties never hold an expired one (crl.h) */
	if (p->crl_made != 0 && time(NULL) - p->crl_made >= ATTESTD_CRL_TTL / 2)
		attestd_push_inventory_changed(p);
	p->demand_renew = 0;
	if ((r = attest_push_nonce_request(p->host->name, &body)) != ATTEST_OK) {
		fail_round(p, r);
		return;
	}
	queue_job(p, &p->attest_job, PUSH_NONCE, body, strlen(body));
}

/* Quote with the nonce and read the PCRs; the PCRs are read first and the
 * quote's digest compared with them, so values that moved in between are
 * caught here (and quoted again), not refused by the verifier. */
static int quote(struct attestd_push *p, TPM2B_ATTEST *attest, TPMT_SIGNATURE *sig,
		 struct attest_pcrs *pcrs)
{
	struct attestd_host *h = p->host;
	int r;

	if ((r = attestd_host_tpm(h)) != ATTEST_OK)
		return r;
	attestd_host_lock(h);
	for (int i = 0; i < QUOTE_ATTEMPTS; i++) {
		if ((r = attest_tpm_pcr_read(h->tpm, p->pcr_mask, pcrs)) != ATTEST_OK ||
		    (r = attest_tpm_quote(h->tpm, p->pcr_mask, p->nonce, p->nonce_len, attest, sig)) !=
			    ATTEST_OK)
			break;
		if ((r = attest_push_quote_matches(attest, p->pcr_mask, pcrs)) != ATTEST_E_QUOTE_DIGEST)
			break;
	}
	attestd_host_unlock(h);
	attestd_host_tpm_failed(h, r);
	return r;
}

static void nonce_done(struct attestd_push *p, struct job *j)
{
	struct attest_push_quote q;
	TPM2B_ATTEST attest;
	TPMT_SIGNATURE sig;
	struct attest_pcrs pcrs;
	uint8_t *log = NULL;
	size_t log_len = 0, len = 0;
	char *body = NULL;
	int r;

	if ((r = j->rep.r) != ATTEST_OK) {
		r = attest_fail(r, "%s", j->rep.detail);
		goto out;
	}
	memcpy(p->nonce, j->rep.nonce, j->rep.nonce_len);
	p->nonce_len = j->rep.nonce_len;
	if ((r = quote(p, &attest, &sig, &pcrs)) != ATTEST_OK)
		goto out;
	/* the event log is kernel memory behind securityfs: read here, fast */
	if (p->eventlog[0] != '\0' &&
	    (r = attest_file_read(p->eventlog, ATTEST_PUSH_EVENTLOG_MAX, &log, &log_len)) != ATTEST_OK)
		goto out;
	memset(&q, 0, sizeof(q));
	q.host = p->host->name;
	q.nonce = p->nonce;
	q.nonce_len = p->nonce_len;
	q.attest = &attest;
	q.sig = &sig;
	q.pcr_mask = p->pcr_mask;
	q.pcrs = &pcrs;
	q.eventlog = log;
	q.eventlog_len = log_len;
	q.renew = p->round_renew;
	if ((r = attest_push_quote_request(&q, &body, &len)) != ATTEST_OK)
		goto out;
	{
		uint8_t md[32];
		unsigned mdlen = 0;

		if (EVP_Digest(attest.attestationData, attest.size, md, &mdlen, EVP_sha256(), NULL) == 1 &&
		    mdlen == sizeof(md))
			attest_hex(md, sizeof(md), p->quote_sha256);
		else
			p->quote_sha256[0] = '\0';
	}
	queue_job(p, &p->attest_job, PUSH_QUOTE, body, len);
	body = NULL; /* transferred */
out:
	free(log);
	if (r != ATTEST_OK)
		fail_round(p, r);
}

static void quote_done(struct attestd_push *p, struct job *j)
{
	const struct attest_push_answer *ap = &j->rep.a;
	const struct attest_push_answer a = *ap;
	int r, renewed = 0;

	if ((r = j->rep.r) != ATTEST_OK) {
		r = attest_fail(r, "%s", j->rep.detail);
		fail_round(p, r);
		return;
	}
	if (!j->rep.has_renewal && j->rep.renewal_r != ATTEST_OK)
		attestd_log("push: renewed host CA certificate refused: %s [%s]: %s",
			    attest_strerror(j->rep.renewal_r), attest_errname(j->rep.renewal_r),
			    j->rep.renewal_detail);
	if (j->rep.has_renewal) {
		/* checked here against the pinned root and our host key, then
		 * installed (as attestctl host renew --finish); agent CAs are
		 * re-issued under it as they are next needed (fresh_agent_ca) */
		if ((r = attest_host_renew_install(p->host->state, &j->rep.renewal)) != ATTEST_OK ||
		    (r = attestd_host_refresh(p->host)) != ATTEST_OK) {
			attestd_log("push: renewed host CA certificate refused: %s [%s]: %s",
				    attest_strerror(r), attest_errname(r), attest_errdetail());
		} else {
			renewed = 1;
			attestd_push_inventory_changed(p); /* the report carries the host CA */
		}
	}
	/* revocations made at the verifier reach issuance here: each one is
	 * recorded and the agent refused from now on; the inventory then
	 * reports it revoked (issue 15) */
	if (p->revoked != NULL) {
		int changed = 0;

		for (size_t i = 0; i < a.nrevoked; i++) {
			int k = p->revoked(p->revoked_arg, a.revoked_agents[i]);

			if (k < 0)
				attestd_log("push: revocation of %s from the verifier not recorded: %s",
					    a.revoked_agents[i], attest_errdetail());
			changed |= k > 0;
		}
		if (changed)
			attestd_push_inventory_changed(p);
	}
	attestd_log("push: state %s reason %s refset %s reboot %s renew %s", a.state,
		    a.reason_name, a.refset[0] ? a.refset : "-", a.reboot ? "yes" : "no",
		    renewed ? "done" : p->round_renew ? "asked, none given" : "no");
	end_round(p, 1, &a, renewed, ATTEST_OK, "");
}

/* ---------- inventory ---------- */

static int build_report(struct attestd_push *p, time_t now, char **body, size_t *len)
{
	struct attestd_host *h = p->host;
	const struct registry *reg = p->reg;
	struct attest_report_agent *v = NULL;
	struct attest_signer s = { attestd_host_sign, h, NULL, 0 };
	char *report = NULL, *crls = NULL;
	size_t rlen = 0, clen = 0, nkeys = 0;
	struct attest_report_jwtkey keys[ATTEST_REPORT_JWTKEYS_MAX];
	int r;

	if ((r = attestd_host_refresh(h)) != ATTEST_OK || (r = attestd_host_tpm(h)) != ATTEST_OK)
		return r;
	/* the CRLs for relying parties that check every level (crl.h): a
	 * failure is logged, the report goes without them */
	if (attestd_crls_pem(h, reg, now, &crls, &clen) != ATTEST_OK)
		attestd_log("report: no CRLs: %s", attest_errdetail());
	else
		p->crl_made = now;
	if (reg->n > 0 && (v = calloc(reg->n, sizeof(*v))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "report");
	for (size_t i = 0; i < reg->n; i++) {
		const struct agent *a = reg->agents[i];

		v[i].id = a->id;
		v[i].uuid = a->uuid;
		v[i].agent_ca = a->agent_ca;
		v[i].scopes = (const char *const *)a->scopes;
		v[i].nscopes = a->nscopes;
		v[i].data_classes = (const char *const *)a->classes;
		v[i].nclasses = a->nclasses;
		v[i].risk_tier = a->tier;
		v[i].risk_score = a->score;
		v[i].delegate_depth = a->delegate_depth;
		v[i].revoked = a->revoked;
	}
	s.pub = h->key_pub;
	/* the JWT-SVID keys inside the signed report (docs/verifier-api.md) */
	if (p->jwt_keys != NULL)
		nkeys = p->jwt_keys(p->jwt_keys_arg, keys, ATTEST_REPORT_JWTKEYS_MAX);
	if ((r = attest_agent_report_build_jwt(h->name, (uint64_t)now, v, reg->n, keys, nkeys,
					       &report, &rlen)) == ATTEST_OK) {
		r = attest_agent_report_sign_crls(report, rlen, &s, h->ca, crls, body, len);
		if (r == ATTEST_E_TOO_LARGE && crls != NULL) {
			/* the inventory matters more: relying parties that check
			 * CRLs refuse these agents until it fits (closed) */
			attestd_log("report: %zu bytes of CRLs do not fit; sent without them", clen);
			p->crl_made = 0;
			r = attest_agent_report_sign(report, rlen, &s, h->ca, body, len);
		}
	}
	free(crls);
	free(report);
	free(v);
	return r;
}

static void report_next(struct attestd_push *p, long seconds)
{
	if (!evtimer_pending(p->report_timer, NULL))
		arm(p->report_timer, seconds);
}

static void start_report(evutil_socket_t fd, short what, void *arg)
{
	struct attestd_push *p = arg;
	time_t now = time(NULL);
	char *body = NULL;
	size_t len = 0;
	int r;

	(void)fd;
	(void)what;
	if (p->report_busy || p->inv_sent_gen == p->inv_gen)
		return;
	/* the verifier takes only reports newer than the last: one a second */
	if (now <= p->report_last) {
		report_next(p, 1);
		return;
	}
	attest_errclear();
	p->report_last = now;
	p->inv_job_gen = p->inv_gen;
	if ((r = build_report(p, now, &body, &len)) != ATTEST_OK) {
		long next = attest_push_delay(p->interval, ++p->report_fails, jitter());

		attestd_log("report: not sent: %s [%s]: %s; next try in %ld s", attest_strerror(r),
			    attest_errname(r), attest_errdetail(), next);
		report_next(p, next);
		return;
	}
	p->report_busy = 1;
	queue_job(p, &p->report_job, PUSH_REPORT, body, len);
}

static void report_done(struct attestd_push *p, struct job *j)
{
	p->report_busy = 0;
	if (j->rep.r != ATTEST_OK) {
		long next = attest_push_delay(p->interval, ++p->report_fails, jitter());

		attestd_log("report: failed: %s [%s]: %s; next try in %ld s",
			    attest_strerror(j->rep.r), attest_errname(j->rep.r), j->rep.detail, next);
		report_next(p, next);
		return;
	}
	p->report_fails = 0;
	p->inv_sent_gen = p->inv_job_gen;
	attestd_log("report: %zu agents reported", p->reg->n);
	if (p->inv_sent_gen != p->inv_gen)
		report_next(p, 0);
}

void attestd_push_inventory_changed(struct attestd_push *p)
{
	if (p == NULL)
		return;
	p->inv_gen++;
	if (!p->report_busy) {
		/* a change cuts a backoff short: the verifier should know now */
		evtimer_del(p->report_timer);
		arm(p->report_timer, 0);
	}
}

/* ---------- audit checkpoints ---------- */

static int ckpt_body(struct attestd_push *p, const struct attest_audit_ckpt *c, char **body);
static void ckpt_pop(struct attestd_push *p);

static void ckpt_next(struct attestd_push *p)
{
	char *body = NULL;

	while (!p->ckpt_busy && p->ckpt_n > 0 && !evtimer_pending(p->ckpt_timer, NULL)) {
		int r = ckpt_body(p, p->ckpt_q[0], &body);

		if (r == ATTEST_E_NOMEM) {
			arm(p->ckpt_timer, 1);
			return;
		}
		if (r != ATTEST_OK) {
			attestd_log("push: audit checkpoint counter %" PRIu64 " not sent: %s [%s]: %s",
				    p->ckpt_counter[0], attest_strerror(r), attest_errname(r),
				    attest_errdetail());
			ckpt_pop(p);
			continue;
		}
		p->ckpt_busy = 1;
		queue_job(p, &p->ckpt_job, PUSH_CKPT, body, strlen(body));
	}
}

static void ckpt_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ckpt_next(arg);
}

static void ckpt_pop(struct attestd_push *p)
{
	free(p->ckpt_q[0]);
	memmove(p->ckpt_q, p->ckpt_q + 1, (p->ckpt_n - 1) * sizeof(p->ckpt_q[0]));
	memmove(p->ckpt_counter, p->ckpt_counter + 1, (p->ckpt_n - 1) * sizeof(p->ckpt_counter[0]));
	p->ckpt_n--;
}

/* STATE/audit-pushed: "<log id hex> <acked counter> <acked size> <handled
 * counter>\n", replaced atomically after each final answer, so a restart
 * (kill -9 included) sends every stored checkpoint the verifier has not
 * answered, in order. */
static void pushed_save(struct attestd_push *p)
{
	char path[700], idhex[2 * ATTEST_AUDIT_LOG_ID_LEN + 1], buf[160];
	int n;

	attest_hex(p->acked_log, sizeof(p->acked_log), idhex);
	n = snprintf(buf, sizeof(buf), "%s %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", idhex,
		     p->acked_counter, p->acked_size, p->handled_counter);
	snprintf(path, sizeof(path), "%s/" PUSHED_FILE, p->host->state);
	if (n <= 0 || (size_t)n >= sizeof(buf) ||
	    attest_file_write_atomic(path, buf, (size_t)n, 0600) != ATTEST_OK)
		attestd_log("push: %s not written (checkpoints may be sent twice after a restart; "
			    "the verifier refuses repeats): %s", path, attest_errdetail());
}

static int pushed_load(struct attestd_push *p)
{
	char path[700], idhex[2 * ATTEST_AUDIT_LOG_ID_LEN + 2];
	uint64_t a = 0, sz = 0, h = 0;
	const char *f[4];
	size_t n[4];
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	snprintf(path, sizeof(path), "%s/" PUSHED_FILE, p->host->state);
	if ((r = attest_file_read(path, 4096, &buf, &len)) != ATTEST_OK)
		return r;
	/* "<log id hex> <acked counter> <acked size> <handled counter>\n" */
	if (len == 0 || buf[len - 1] != '\n' ||
	    attest_fields((const char *)buf, len - 1, f, n, 4) != 4 ||
	    n[0] != 2 * ATTEST_AUDIT_LOG_ID_LEN ||
	    (size_t)snprintf(idhex, sizeof(idhex), "%.*s", (int)n[0], f[0]) != n[0] ||
	    attest_unhex(idhex, p->acked_log, sizeof(p->acked_log)) != ATTEST_OK ||
	    attest_parse_u64n(f[1], n[1], 0, UINT64_MAX, &a) != ATTEST_OK ||
	    attest_parse_u64n(f[2], n[2], 0, UINT64_MAX, &sz) != ATTEST_OK ||
	    attest_parse_u64n(f[3], n[3], 0, UINT64_MAX, &h) != ATTEST_OK) {
		free(buf);
		return attest_fail(ATTEST_E_PARSE, "%s malformed", path);
	}
	free(buf);
	p->acked_counter = a;
	p->acked_size = sz;
	p->handled_counter = h;
	p->have_acked = a > 0;
	return ATTEST_OK;
}

/* The verifier could not be asked (again later) or answered with a refusal
 * of this checkpoint (it will never take it: the next one is sent). */
static int ckpt_transient(int r)
{
	return r == ATTEST_E_IO || r == ATTEST_E_TIMEOUT || r == ATTEST_E_BUSY ||
	       r == ATTEST_E_NOMEM || r == ATTEST_E_INTERNAL || r == ATTEST_E_NOT_FOUND ||
	       r == ATTEST_E_TOO_LARGE || r == ATTEST_E_STORE_DAMAGED;
}

static void ckpt_done(struct attestd_push *p, struct job *j)
{
	const struct attest_audit_ckpt *c = p->ckpt_q[0];

	p->ckpt_busy = 0;
	if (j->rep.r == ATTEST_OK) {
		/* also when it answers "duplicate": it holds exactly this one
		 * (taken before a crash kept us from recording its answer) */
		attestd_log("push: audit checkpoint counter %" PRIu64 " taken by the verifier",
			    c->counter);
		memcpy(p->acked_log, c->log_id, sizeof(p->acked_log));
		p->acked_counter = p->handled_counter = c->counter;
		p->acked_size = c->size;
		p->have_acked = 1;
		p->ckpt_fails = 0;
		pushed_save(p);
		ckpt_pop(p);
	} else if (!ckpt_transient(j->rep.r)) {
		attestd_log("push: audit checkpoint counter %" PRIu64 " refused by the verifier: %s [%s]: %s",
			    c->counter, attest_strerror(j->rep.r), attest_errname(j->rep.r), j->rep.detail);
		p->handled_counter = c->counter;
		if (!p->have_acked)
			memcpy(p->acked_log, c->log_id, sizeof(p->acked_log));
		p->ckpt_fails = 0;
		pushed_save(p);
		ckpt_pop(p);
	} else {
		long next = attest_push_delay(p->interval, ++p->ckpt_fails, jitter());

		attestd_log("push: audit checkpoint counter %" PRIu64 " not sent: %s [%s]: %s; next try "
			    "in %ld s", c->counter, attest_strerror(j->rep.r), attest_errname(j->rep.r),
			    j->rep.detail, next);
		arm(p->ckpt_timer, next);
		return;
	}
	ckpt_next(p);
}

/* The RFC 9162 consistency proof to c from the tree the verifier holds:
 * the last checkpoint it accepted, or (nothing recorded yet) the log's
 * previous checkpoint. The verifier takes a grown tree only with it, and
 * with it also after missed checkpoints. Reads every leaf hash of the
 * log, once per checkpoint sent. */
static int add_consistency(struct attestd_push *p, const struct attest_audit_ckpt *c, cJSON *o)
{
	struct attest_audit_ckpt *cks = NULL;
	attest_merkle_hash *leaves = NULL, proof[ATTEST_MERKLE_MAX_PROOF];
	size_t n = 0, plen = 0;
	uint64_t nleaves = 0, size1 = 0;
	cJSON *arr;
	int r;

	if (p->have_acked && memcmp(p->acked_log, c->log_id, sizeof(c->log_id)) == 0 &&
	    p->acked_counter < c->counter) {
		size1 = p->acked_size;
	} else {
		if ((r = attest_audit_checkpoints(p->log->dir, &cks, &n)) != ATTEST_OK)
			return r;
		for (size_t i = 0; i < n; i++)
			if (cks[i].counter + 1 == c->counter &&
			    memcmp(cks[i].log_id, c->log_id, sizeof(c->log_id)) == 0)
				size1 = cks[i].size;
		free(cks);
	}
	if (size1 == 0 || size1 >= c->size)
		return ATTEST_OK; /* first of its log, or the same tree */
	if ((r = attest_audit_leaves(p->log->dir, &leaves, &nleaves)) != ATTEST_OK)
		return r;
	if (nleaves < c->size) {
		free(leaves);
		return attest_fail(ATTEST_E_STATE, "audit log holds fewer records than its checkpoint");
	}
	r = attest_merkle_consistency_proof(leaves, c->size, size1, proof, &plen);
	free(leaves);
	if (r != ATTEST_OK)
		return r;
	if ((arr = cJSON_AddArrayToObject(o, "consistency")) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "proof");
	for (size_t i = 0; i < plen; i++) {
		char *b64 = NULL;

		if ((r = attest_b64_encode(proof[i], 32, &b64)) != ATTEST_OK)
			return r;
		if (!cJSON_AddItemToArray(arr, cJSON_CreateString(b64))) {
			free(b64);
			return attest_fail(ATTEST_E_NOMEM, "proof");
		}
		free(b64);
	}
	return ATTEST_OK;
}

static int ckpt_body(struct attestd_push *p, const struct attest_audit_ckpt *c, char **body)
{
	cJSON *o = NULL;
	char *text = NULL;
	size_t len = 0;
	int r;

	*body = NULL;
	if ((r = attest_audit_ckpt_to_json(c, &text, &len)) == ATTEST_OK &&
	    (o = cJSON_CreateObject()) == NULL)
		r = attest_fail(ATTEST_E_NOMEM, "checkpoint body");
	if (r == ATTEST_OK && (r = attest_json_add_str(o, "host", p->host->name)) == ATTEST_OK &&
	    (r = attest_json_add_str(o, "checkpoint", text)) == ATTEST_OK &&
	    (r = add_consistency(p, c, o)) == ATTEST_OK)
		r = attest_json_print(o, body, &len);
	free(text);
	cJSON_Delete(o);
	return r;
}

void attestd_push_checkpoint(struct attestd_push *p, const struct attest_audit_ckpt *c)
{
	struct attest_audit_ckpt *copy;

	if (p == NULL)
		return;
	/* already answered, or queued (a resumed one made again at start) */
	if (p->handled_counter >= c->counter &&
	    memcmp(p->acked_log, c->log_id, sizeof(c->log_id)) == 0)
		return;
	if (p->ckpt_n > 0 && p->ckpt_counter[p->ckpt_n - 1] >= c->counter)
		return;
	if ((copy = malloc(sizeof(*copy))) == NULL) {
		attestd_log("push: audit checkpoint counter %" PRIu64 " not queued: out of memory "
			    "(sent after the next start)", c->counter);
		return;
	}
	*copy = *c;
	if (p->ckpt_n == CKPT_QUEUE_MAX) {
		attestd_log("push: %d audit checkpoints wait for the verifier; dropping counter %" PRIu64
			    " (the verifier takes the later ones and records the gap)",
			    CKPT_QUEUE_MAX, p->ckpt_counter[0]);
		ckpt_pop(p);
	}
	p->ckpt_counter[p->ckpt_n] = c->counter;
	p->ckpt_q[p->ckpt_n++] = copy;
	ckpt_next(p);
}

void attestd_push_resume(struct attestd_push *p)
{
	struct attest_audit_ckpt *cks = NULL;
	size_t n = 0, queued = 0;
	int r;

	if (p == NULL || p->log->audit == NULL)
		return;
	r = pushed_load(p);
	if (r != ATTEST_OK && r != ATTEST_E_NOT_FOUND)
		attestd_log("push: %s; sending the last checkpoint only", attest_errdetail());
	if ((r = attest_audit_checkpoints(p->log->dir, &cks, &n)) != ATTEST_OK) {
		attestd_log("push: stored checkpoints unreadable: %s", attest_errdetail());
		return;
	}
	for (size_t i = 0; i < n; i++) {
		/* without a record, the last one only (as before it was kept) */
		if (!p->have_acked && p->handled_counter == 0 && i + 1 < n)
			continue;
		if (memcmp(cks[i].log_id, p->acked_log, sizeof(p->acked_log)) == 0 &&
		    cks[i].counter <= p->handled_counter)
			continue;
		attestd_push_checkpoint(p, &cks[i]);
		queued++;
	}
	if (queued > 1)
		attestd_log("push: %zu stored audit checkpoints the verifier has not answered are "
			    "sent first, in order", queued);
	free(cks);
}

/* ---------- the loop's side ---------- */

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct attestd_push *p = arg;
	struct job *slots[3] = { &p->attest_job, &p->report_job, &p->ckpt_job };
	struct job done[3];
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	/* take finished jobs out of their slots, which are free again */
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < 3; i++) {
		done[i] = *slots[i];
		if (slots[i]->state != JOB_DONE)
			continue;
		slots[i]->body = NULL; /* moved to done[i] */
		memset(&slots[i]->rep, 0, sizeof(slots[i]->rep));
		slots[i]->state = JOB_IDLE;
	}
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < 3; i++) {
		if (done[i].state != JOB_DONE)
			continue;
		if (i == 2)
			ckpt_done(p, &done[i]);
		else if (i == 1)
			report_done(p, &done[i]);
		else if (done[i].kind == PUSH_NONCE)
			nonce_done(p, &done[i]);
		else
			quote_done(p, &done[i]);
		job_reset(&done[i]);
	}
}

/* w waits for the next round to start: now if none is in flight, else
 * right after it (its nonce was fetched before this was asked). */
static int enqueue(struct attestd_push *p, int renew, const struct waiter *w)
{
	if (p == NULL)
		return attest_fail(ATTEST_E_STATE, "attestd runs without --verifier");
	if (p->nwaiters == MAX_WAITERS)
		return attest_fail(ATTEST_E_BUSY, "%d admin clients already wait for a push",
				   MAX_WAITERS);
	p->waiters[p->nwaiters] = *w;
	p->waiters[p->nwaiters++].round = p->round + 1;
	p->demand_renew |= renew;
	if (p->attest_busy) {
		p->demand = 1;
	} else {
		evtimer_del(p->attest_timer);
		arm(p->attest_timer, 0); /* from the loop, after this handler returns */
	}
	attestd_log("push: asked for by the admin socket%s", renew ? " (renew)" : "");
	return ATTEST_OK;
}

cJSON *attestd_push_demand(struct attestd_push *p, const struct attestd_peer *peer,
			   const cJSON *req)
{
	static const char *const keys[] = { "op", "renew", NULL };
	const cJSON *renew = cJSON_GetObjectItemCaseSensitive(req, "renew");
	struct waiter w = { 0 };
	int r;

	if (p == NULL) {
		attest_fail(ATTEST_E_STATE, "attestd runs without --verifier");
		return failure_reply(ATTEST_E_STATE, attest_errdetail());
	}
	if ((r = attest_json_only(req, keys)) != ATTEST_OK)
		return failure_reply(r, attest_errdetail());
	if (renew != NULL && !cJSON_IsBool(renew)) {
		attest_fail(ATTEST_E_PARSE, "\"renew\" must be true or false");
		return failure_reply(ATTEST_E_PARSE, attest_errdetail());
	}
	if (p->nwaiters == MAX_WAITERS) {
		attest_fail(ATTEST_E_BUSY, "%d admin clients already wait for a push", MAX_WAITERS);
		return failure_reply(ATTEST_E_BUSY, attest_errdetail());
	}
	if ((w.p = attestd_defer(peer)) == NULL) {
		attest_fail(ATTEST_E_NOMEM, "deferred reply");
		return failure_reply(ATTEST_E_NOMEM, attest_errdetail());
	}
	if ((r = enqueue(p, cJSON_IsTrue(renew), &w)) != ATTEST_OK) /* not reached: checked above */
		attestd_pending_reply(w.p, failure_reply(r, attest_errdetail()));
	return NULL;
}

int attestd_push_demand_typed(struct attestd_push *p, int renew, attestd_push_done_fn done,
			      void *arg, uint64_t tag)
{
	struct waiter w = { .done = done, .arg = arg, .tag = tag };

	return enqueue(p, renew != 0, &w);
}

int attestd_push_start(struct event_base *base, struct attestd_host *h,
		       struct attestd_auditlog *log, const struct registry *reg,
		       const struct attestd_push_config *cfg, struct attestd_push **out)
{
	struct attestd_push *p = NULL;
	sigset_t all, old;
	int r = ATTEST_E_INTERNAL;

	*out = NULL;
	if (strlen(cfg->url) > ATTEST_PUSH_URL_MAX || strncmp(cfg->url, "https://", 8) != 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "--verifier must be an https:// URL of at "
				   "most %d bytes", ATTEST_PUSH_URL_MAX);
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "push");
	p->wake[0] = p->wake[1] = -1;
	if ((size_t)snprintf(p->ca_file, sizeof(p->ca_file), "%s", cfg->ca_file) >= sizeof(p->ca_file) ||
	    (size_t)snprintf(p->eventlog, sizeof(p->eventlog), "%s",
			     cfg->eventlog != NULL ? cfg->eventlog : "") >= sizeof(p->eventlog)) {
		free(p);
		return attest_fail(ATTEST_E_INVALID_ARG, "path too long");
	}
	snprintf(p->url, sizeof(p->url), "%s", cfg->url);
	p->host = h;
	p->log = log;
	p->reg = reg;
	p->base = base;
	p->interval = cfg->interval;
	p->pcr_mask = cfg->pcr_mask;
	p->revoked = cfg->revoked;
	p->revoked_arg = cfg->revoked_arg;
	p->jwt_keys = cfg->jwt_keys;
	p->jwt_keys_arg = cfg->jwt_keys_arg;
	p->http.ca_file = p->ca_file;
	p->http.timeout_ms = cfg->timeout_ms;
	p->send = cfg->send;
	p->send_ctx = cfg->send_ctx;
	p->inv_gen = 1; /* report at start */
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, p->wake) != 0) {
		r = attest_fail(ATTEST_E_IO, "socketpair: %s", strerror(errno));
		goto fail;
	}
	p->wake_ev = event_new(base, p->wake[0], EV_READ | EV_PERSIST, on_wake, p);
	p->attest_timer = evtimer_new(base, start_round, p);
	p->report_timer = evtimer_new(base, start_report, p);
	p->ckpt_timer = evtimer_new(base, ckpt_retry, p);
	for (uint32_t i = 0; i < 3; i++) {
		p->deadline_arg[i] = (struct deadline_arg){ p, i };
		if ((p->deadline[i] = evtimer_new(base, on_deadline, &p->deadline_arg[i])) == NULL) {
			r = attest_fail(ATTEST_E_NOMEM, "push events");
			goto fail;
		}
	}
	if (p->wake_ev == NULL || p->attest_timer == NULL || p->report_timer == NULL ||
	    p->ckpt_timer == NULL ||
	    event_add(p->wake_ev, NULL) != 0) {
		r = attest_fail(ATTEST_E_NOMEM, "push events");
		goto fail;
	}
	/* signals stay with the loop's thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = p->send != NULL ? 0 : pthread_create(&p->thread, NULL, worker, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		r = attest_fail(ATTEST_E_INTERNAL, "pthread_create: %s", strerror(r));
		goto fail;
	}
	p->thread_started = p->send == NULL;
	arm(p->attest_timer, 0);
	arm(p->report_timer, 0);
	attestd_log("pushing to %s every %ld s: PCR mask 0x%06x, event log %s", p->url, p->interval,
		    (unsigned)p->pcr_mask, p->eventlog[0] ? p->eventlog : "none");
	*out = p;
	return ATTEST_OK;
fail:
	attestd_push_stop(p);
	return r;
}

void attestd_push_stop(struct attestd_push *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nwaiters; i++) {
		attest_fail(ATTEST_E_STATE, "attestd is stopping");
		answer(&p->waiters[i], ATTEST_E_STATE, attest_errdetail(), NULL, 0);
	}
	p->nwaiters = 0;
	if (p->thread_started) {
		pthread_mutex_lock(&p->mu);
		p->stop = 1;
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
	}
	job_reset(&p->attest_job);
	job_reset(&p->report_job);
	job_reset(&p->ckpt_job);
	if (p->ckpt_n > 0)
		attestd_log("push: %zu audit checkpoints not sent to the verifier (stored; sent at "
			    "the next start)", p->ckpt_n);
	while (p->ckpt_n > 0)
		ckpt_pop(p);
	if (p->wake_ev != NULL)
		event_free(p->wake_ev);
	if (p->attest_timer != NULL)
		event_free(p->attest_timer);
	if (p->report_timer != NULL)
		event_free(p->report_timer);
	if (p->ckpt_timer != NULL)
		event_free(p->ckpt_timer);
	for (int i = 0; i < 3; i++)
		if (p->deadline[i] != NULL)
			event_free(p->deadline[i]);
	if (p->wake[0] >= 0)
		close(p->wake[0]);
	if (p->wake[1] >= 0)
		close(p->wake[1]);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
