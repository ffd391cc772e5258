/* server.c - attest-verifier's HTTPS API (docs/verifier-api.md) on one
 * libevent thread: every handler runs to completion on that thread, so the
 * store, the decider and the caches need no locks. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include <cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>

#include "agentev.h"
#include "merkle.h"
#include "audit.h"
#include "attest/decide.h"
#include "attest/intent.h"
#include "attest/policy.h"
#include "enrol.h"
#include "err.h"
#include "fileio.h"
#include "httpd.h"
#include "json.h"
#include "quote.h"
#include "refset.h"
#include "server.h"
#include "store.h"
#include "tlsca.h"
#include "tpm.h"
#include "x509.h"
#include "x509agent.h"

#define BODY_MAX (256 * 1024)
#define DECIDE_BODY_MAX (64 * 1024)
#define NONCES_PER_HOST 16
#define REPORT_SKEW 300
#define BUCKETS 1024
#define AK_SLOTS 1024
#define MAX_REFSETS 16
#define MAX_OPERATORS 32

enum role { ROLE_HOST = 0, ROLE_RESOURCE = 1, ROLE_ADMIN = 2 };

struct bucket {
	char key[80];
	double tokens;
	double last;
};

struct ak_entry {
	char host[VSTORE_NAME_MAX];
	struct timespec mtime; /* of the CA's host record, to notice changes */
	ino_t ino;
	off_t size;
	uint8_t ak[sizeof(TPM2B_PUBLIC) + 8];
	size_t ak_len;
	uint32_t ref_mask;
	uint8_t ref[24 * 32];
	size_t ref_len;
	int64_t nonce_issued[NONCES_PER_HOST]; /* ring of issue times */
	unsigned nonce_next;
};

struct metrics {
	unsigned long requests[6]; /* by status class 1xx..5xx, [0] other */
	unsigned long decisions_allow, decisions_deny;
	unsigned long quotes_good, quotes_bad, reports, refused_callers, rate_limited;
	unsigned long reason[ATTEST_E__COUNT];
	unsigned long lat_bucket[8]; /* decision latency <= 50us,100,250,500,1ms,5,10,+Inf */
	double lat_sum;
};

/* A reply held until the audit records before it are durable. */
struct pending {
	struct evhttp_request *req;
	int status;
	char *body;
};

#define PENDING_MAX 4096

struct vsrv {
	const struct vf_config *cfg;
	struct attest_audit *audit;
	struct event *commit_ev;  /* group commit: once per loop turn */
	struct event *flush_ev;   /* refusal aggregates and checkpoints, every 10 s */
	struct attest_tpm *tpm;   /* --tcti: the verifier's own log is checkpointed */
	struct pending *pending;
	size_t npending;
	struct event_base *base;
	struct attest_httpd *httpd;
	struct vstore *store;
	struct attest_ca *ca;
	X509 *root;
	struct attest_intent_trust *trust;
	struct attest_policy *policy;
	char policy_path[PATH_MAX];
	struct attest_decider *decider;
	struct attest_facts facts;
	struct attest_refset_operator ops[MAX_OPERATORS];
	char op_names[MAX_OPERATORS][ATTEST_REFSET_KID_MAX + 1];
	size_t nops;
	size_t nissuers;
	struct attest_refset *sets[MAX_REFSETS];
	size_t nsets;
	int approval_required;
	int cap_on;                      /* a fleet-wide scope cap is set */
	char scope_cap[VSTORE_LIST_MAX]; /* its scopes (may be none at all) */
	char facts_scopes[VSTORE_LIST_MAX];
	struct vhost fact_host;
	struct vagent fact_agent;
	struct ak_entry *aks;
	struct bucket *buckets;
	struct metrics m;
};

/* ---- small helpers ---- */

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;
	char ts[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s attest-verifier: ", ts);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void count_status(struct vsrv *s, int status)
{
	int c = status / 100;

	s->m.requests[c >= 1 && c <= 5 ? c : 0]++;
}

static void reply_obj(struct vsrv *s, struct evhttp_request *req, int status, cJSON *o)
{
	char *txt = o != NULL ? cJSON_PrintUnformatted(o) : NULL;

	count_status(s, status);
	if (txt == NULL) {
		attest_httpd_reply(req, 500, "{\"error\":\"ATTEST_E_NOMEM\"}", 26);
		return;
	}
	attest_httpd_reply(req, status, txt, strlen(txt));
	cJSON_free(txt);
}

/* Error reply: the code's name and static text; detail goes to the log. */
static void reply_err(struct vsrv *s, struct evhttp_request *req, int status, int code,
		      const char *what)
{
	cJSON *o = cJSON_CreateObject();

	logf_("%s %s from %s: %s (%s)", what, evhttp_request_get_uri(req),
	      attest_httpd_peer_addr(req), attest_errname(code), attest_errdetail());
	if (s->audit != NULL) {
		struct attest_audit_event ev = {0};
		const char *uri = evhttp_request_get_uri(req);

		ev.type = "refusal";
		ev.source = attest_httpd_peer_addr(req);
		ev.action = uri != NULL && strlen(uri) < 256 ? uri : "-";
		ev.outcome = "deny";
		ev.reason = attest_errname(code);
		if (attest_audit_refusal(s->audit, ev.source, ev.reason, &ev,
					 (uint64_t)time(NULL)) != ATTEST_OK)
			logf_("audit refusal not recorded: %s", attest_errdetail());
	}
	if (code >= 0 && code < ATTEST_E__COUNT)
		s->m.reason[code]++;
	if (o != NULL) {
		cJSON_AddStringToObject(o, "error", attest_errname(code));
		cJSON_AddNumberToObject(o, "code", code);
		cJSON_AddStringToObject(o, "message", attest_strerror(code));
	}
	reply_obj(s, req, status, o);
	cJSON_Delete(o);
}

/* ---- audit: records are appended as requests are handled; replies that
 * depend on them wait for one fdatasync per loop turn (group commit) ---- */

static void send_pending(struct vsrv *s, int ok)
{
	for (size_t i = 0; i < s->npending; i++) {
		struct pending *p = &s->pending[i];

		if (ok) {
			count_status(s, p->status);
			attest_httpd_reply(p->req, p->status, p->body, strlen(p->body));
		} else {
			count_status(s, 500);
			attest_httpd_reply(p->req, 500,
					   "{\"error\":\"ATTEST_E_IO\",\"code\":4,"
					   "\"message\":\"audit log write failed\"}",
					   70);
		}
		cJSON_free(p->body);
	}
	s->npending = 0;
}

static void commit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct vsrv *s = arg;
	int r = attest_audit_sync(s->audit);

	(void)fd, (void)what;
	if (r != ATTEST_OK)
		logf_("audit sync failed, %zu replies become errors: %s (%s)", s->npending,
		      attest_errname(r), attest_errdetail());
	send_pending(s, r == ATTEST_OK);
}

/* Record ev (NULL: records appended already), then reply o once the log
 * is durable. If the record cannot be written the caller gets 500 and
 * nothing is acknowledged. */
static void audited_text(struct vsrv *s, struct evhttp_request *req, int status, char *body,
			 const struct attest_audit_event *ev);

static void audited_reply(struct vsrv *s, struct evhttp_request *req, int status, cJSON *o,
			  const struct attest_audit_event *ev)
{
	audited_text(s, req, status, o != NULL ? cJSON_PrintUnformatted(o) : NULL, ev);
}

/* As audited_reply, with the body as text (taken over: cJSON_free'd). */
static void audited_text(struct vsrv *s, struct evhttp_request *req, int status, char *body,
			 const struct attest_audit_event *ev)
{
	int r;

	if (body == NULL || s->npending >= PENDING_MAX) {
		cJSON_free(body);
		count_status(s, 503);
		attest_httpd_reply(req, 503, "{\"error\":\"ATTEST_E_BUSY\",\"code\":51}", 35);
		return;
	}
	if (ev != NULL && (r = attest_audit_append_event(s->audit, ev, NULL)) != ATTEST_OK) {
		logf_("audit append failed: %s (%s)", attest_errname(r), attest_errdetail());
		cJSON_free(body);
		count_status(s, 500);
		attest_httpd_reply(req, 500, "{\"error\":\"ATTEST_E_IO\",\"code\":4}", 30);
		return;
	}
	s->pending[s->npending].req = req;
	s->pending[s->npending].status = status;
	s->pending[s->npending].body = body;
	if (s->npending++ == 0)
		event_active(s->commit_ev, 0, 0);
}

/* A change made by an operator or a host, recorded before it is answered. */
static void audited_ok(struct vsrv *s, struct evhttp_request *req, const char *body,
		       const struct attest_audit_event *ev)
{
	cJSON *o = cJSON_Parse(body);

	audited_reply(s, req, 200, o, ev);
	cJSON_Delete(o);
}

/* The verifier's own log, on a host with a TPM: NV counter + NV_Certify
 * by that TPM's AK, like attestd's (docs/audit.md). */
static void checkpoint_own(struct vsrv *s)
{
	struct attest_audit_ckpt c;
	int r = attest_audit_checkpoint(s->audit, s->tpm, &c);

	if (r != ATTEST_OK)
		logf_("audit checkpoint failed: %s (%s)", attest_errname(r), attest_errdetail());
	else
		logf_("audit checkpoint: counter %llu, %llu records", (unsigned long long)c.counter,
		      (unsigned long long)c.size);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct vsrv *s = arg;
	int r;

	(void)fd, (void)what;
	if ((r = attest_audit_refusal_flush(s->audit, (uint64_t)time(NULL), 0)) != ATTEST_OK ||
	    (r = attest_audit_sync(s->audit)) != ATTEST_OK)
		logf_("audit refusal flush failed: %s (%s)", attest_errname(r), attest_errdetail());
	if (s->tpm != NULL && attest_audit_checkpoint_due(s->audit, (uint64_t)time(NULL)))
		checkpoint_own(s);
}

static int status_of(int code)
{
	switch (code) {
	case ATTEST_E_PARSE:
	case ATTEST_E_DUPLICATE_KEY:
	case ATTEST_E_INVALID_ARG:
		return 400;
	case ATTEST_E_TOO_LARGE:
		return 413;
	case ATTEST_E_NOT_FOUND:
	case ATTEST_E_HOST_UNKNOWN:
	case ATTEST_E_AGENT_UNKNOWN:
		return 404;
	case ATTEST_E_RATE:
		return 429;
	case ATTEST_E_INTERNAL:
	case ATTEST_E_NOMEM:
	case ATTEST_E_IO:
		return 500;
	default:
		return 403;
	}
}

static int body_json(struct evhttp_request *req, size_t cap, const char *const *keys,
		     cJSON **out, char **raw)
{
	char *b = NULL;
	size_t n = 0;
	int r;

	*out = NULL;
	if ((r = attest_httpd_body(req, cap, &b, &n)) != ATTEST_OK)
		return r;
	if ((r = attest_json_parse(b, n, cap, out)) == ATTEST_OK && keys != NULL &&
	    (r = attest_json_only(*out, keys)) != ATTEST_OK) {
		cJSON_Delete(*out);
		*out = NULL;
	}
	if (raw != NULL && r == ATTEST_OK)
		*raw = b;
	else
		free(b);
	return r;
}

static const char *opt_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- rate limits: token buckets keyed by caller or address ---- */

static int rate_ok(struct vsrv *s, const char *key, long per_s)
{
	uint64_t h = 1469598103934665603ull;
	struct bucket *b;
	double t = mono();

	for (const char *p = key; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	b = &s->buckets[h % BUCKETS];
	/* a new bucket starts full; keys that collide share one (never a
	 * refill on a collision, which would let two keys alternate past
	 * the limit) */
	if (b->key[0] == '\0') {
		(void)snprintf(b->key, sizeof(b->key), "%s", key);
		b->tokens = (double)per_s * 2;
		b->last = t;
	}
	b->tokens += (t - b->last) * (double)per_s;
	if (b->tokens > (double)per_s * 2)
		b->tokens = (double)per_s * 2;
	b->last = t;
	if (b->tokens < 1.0)
		return 0;
	b->tokens -= 1.0;
	return 1;
}

/* ---- callers ---- */

/* The enrolled caller behind req's client certificate, if its role is at
 * least `need`. */
static int caller_of(struct vsrv *s, struct evhttp_request *req, enum role need,
		     struct vcaller *c)
{
	X509 *peer = attest_httpd_peer(req);
	uint8_t h[32];
	int r;

	memset(c, 0, sizeof(*c));
	if (peer == NULL)
		return attest_fail(ATTEST_E_CALLER, "no client certificate");
	if ((r = vf_spki_hash(peer, h)) != ATTEST_OK)
		return r;
	r = s->store->ops->caller_by_spki(s->store, h, c);
	if (r == ATTEST_E_NOT_FOUND)
		return attest_fail(ATTEST_E_CALLER, "client certificate is not an enrolled caller");
	if (r != ATTEST_OK)
		return r;
	if (c->revoked)
		return attest_fail(ATTEST_E_CALLER, "caller %s is revoked", c->name);
	if ((need == ROLE_ADMIN && c->role != VCALLER_ADMIN) ||
	    (need == ROLE_RESOURCE && c->role != VCALLER_RESOURCE && c->role != VCALLER_ADMIN))
		return attest_fail(ATTEST_E_CALLER, "caller %s may not use this endpoint", c->name);
	return ATTEST_OK;
}

/* ---- fleet CA records, cached ---- */

/* The host's AK changed (enrolled again, on another TPM or after a
 * TPM2_Clear): its old counters and state mean nothing for the new AK. */
static int ak_changed(struct vsrv *s, const char *host, const struct ak_entry *e)
{
	char key[100], want[65], have[65];
	uint8_t md[32];
	struct vhost h;
	int r;

	if (EVP_Digest(e->ak, e->ak_len, md, NULL, EVP_sha256(), NULL) != 1)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "AK hash");
	for (int i = 0; i < 32; i++)
		(void)snprintf(want + 2 * i, 3, "%02x", md[i]);
	(void)snprintf(key, sizeof(key), "ak:%s", host);
	r = s->store->ops->setting_get(s->store, key, have, sizeof(have));
	if (r == ATTEST_OK && strcmp(have, want) == 0)
		return ATTEST_OK;
	if (r != ATTEST_OK && r != ATTEST_E_NOT_FOUND)
		return r;
	r = s->store->ops->host_get(s->store, host, &h);
	if (r == ATTEST_OK) {
		h.state = VHOST_NEW;
		h.have_clock = 0;
		h.reset_count = h.restart_count = 0;
		h.clock = 0;
		h.last_good = 0;
		h.reason_code = 0;
		h.reason[0] = '\0';
		if ((r = s->store->ops->host_put(s->store, &h)) != ATTEST_OK)
			return r;
		logf_("host %s has a new AK: attestation state starts over", host);
	} else if (r != ATTEST_E_NOT_FOUND) {
		return r;
	}
	attest_decider_flush(s->decider);
	return s->store->ops->setting_put(s->store, key, want);
}

static int host_record(struct vsrv *s, const char *host, struct ak_entry **out)
{
	uint64_t h = 1469598103934665603ull;
	struct ak_entry *e;
	TPM2B_PUBLIC ak;
	char path[PATH_MAX];
	struct stat st;
	size_t off = 0;
	int r;

	for (const char *p = host; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	e = &s->aks[h % AK_SLOTS];
	/* the CA's record is the truth: a forgotten or re-enrolled host is
	 * noticed at its next request */
	if (attest_ca_host_path(s->ca, host, path, sizeof(path)) != ATTEST_OK ||
	    stat(path, &st) != 0) {
		if (strcmp(e->host, host) == 0)
			e->host[0] = '\0';
		return attest_fail(ATTEST_E_HOST_UNKNOWN, "host %.64s is not enrolled", host);
	}
	if (strcmp(e->host, host) == 0 && e->ino == st.st_ino && e->size == st.st_size &&
	    e->mtime.tv_sec == st.st_mtim.tv_sec && e->mtime.tv_nsec == st.st_mtim.tv_nsec) {
		*out = e;
		return ATTEST_OK;
	}
	e->host[0] = '\0';
	memset(&ak, 0, sizeof(ak));
	r = attest_ca_host_info(s->ca, host, &ak, &e->ref_mask, e->ref, sizeof(e->ref), &e->ref_len);
	if (r != ATTEST_OK) {
		e->host[0] = '\0';
		return r == ATTEST_E_NOT_FOUND || r == ATTEST_E_INVALID_ARG
			       ? attest_fail(ATTEST_E_HOST_UNKNOWN, "host %.64s is not enrolled", host)
			       : r;
	}
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&ak, e->ak, sizeof(e->ak), &off) != TSS2_RC_SUCCESS) {
		e->host[0] = '\0';
		return attest_fail(ATTEST_E_INTERNAL, "marshal AK");
	}
	e->ak_len = off;
	if ((r = ak_changed(s, host, e)) != ATTEST_OK)
		return r;
	e->ino = st.st_ino;
	e->size = st.st_size;
	e->mtime = st.st_mtim;
	(void)snprintf(e->host, sizeof(e->host), "%s", host);
	*out = e;
	return ATTEST_OK;
}

/* The store's host row, created (state new) for a host the CA enrolled. */
static int host_row(struct vsrv *s, const char *host, struct vhost *h)
{
	struct ak_entry *e;
	int r = s->store->ops->host_get(s->store, host, h);

	if (r != ATTEST_E_NOT_FOUND)
		return r;
	if ((r = host_record(s, host, &e)) != ATTEST_OK)
		return r;
	memset(h, 0, sizeof(*h));
	(void)snprintf(h->name, sizeof(h->name), "%s", host);
	h->state = VHOST_NEW;
	return s->store->ops->host_put(s->store, h);
}

/* ---- facts for the decider ---- */

static int fact_host(void *arg, const char *host, struct attest_host_facts *out)
{
	struct vsrv *s = arg;
	struct ak_entry *e;
	int r;

	/* the CA record first: a changed AK resets the host's row */
	if ((r = host_record(s, host, &e)) != ATTEST_OK)
		return r == ATTEST_E_HOST_UNKNOWN ? ATTEST_E_NOT_FOUND : r;
	if ((r = s->store->ops->host_get(s->store, host, &s->fact_host)) != ATTEST_OK)
		return r;
	out->revoked = s->fact_host.revoked;
	out->trusted = s->fact_host.state == VHOST_TRUSTED;
	out->last_good = s->fact_host.last_good;
	out->ak = e->ak;
	out->ak_len = e->ak_len;
	return ATTEST_OK;
}

static int in_list(const char *words, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = words; *p != '\0';) {
		const char *e = strchr(p, ' ');
		size_t len = e != NULL ? (size_t)(e - p) : strlen(p);

		if (len == n && memcmp(p, w, n) == 0)
			return 1;
		if (e == NULL)
			break;
		p = e + 1;
	}
	return 0;
}

static int fact_agent(void *arg, const char *id, struct attest_agent_facts *out)
{
	struct vsrv *s = arg;
	struct vagent *a = &s->fact_agent;
	size_t used = 0;
	int r;

	if ((r = s->store->ops->agent_get(s->store, id, a)) != ATTEST_OK)
		return r;
	out->revoked = a->revoked;
	out->approved = a->approved || !s->approval_required;
	(void)snprintf(out->uuid, sizeof(out->uuid), "%s", a->uuid);
	memcpy(out->measurement, a->measurement, 32);
	out->risk_tier = a->risk_tier;
	out->risk_score = a->risk_score;
	out->data_classes = a->data_classes;
	/* registered scopes within the fleet-wide cap */
	s->facts_scopes[0] = '\0';
	for (char *save = NULL, *w = strtok_r(a->scopes, " ", &save); w != NULL;
	     w = strtok_r(NULL, " ", &save)) {
		int n;

		if (s->cap_on && !in_list(s->scope_cap, w))
			continue;
		n = snprintf(s->facts_scopes + used, sizeof(s->facts_scopes) - used, "%s%s",
			     used ? " " : "", w);
		if (n < 0 || (size_t)n >= sizeof(s->facts_scopes) - used)
			break;
		used += (size_t)n;
	}
	out->scopes = s->facts_scopes;
	return ATTEST_OK;
}

/* ---- configuration loaded at start ---- */

static int load_settings(struct vsrv *s)
{
	char v[VSTORE_LIST_MAX];
	int r = s->store->ops->setting_get(s->store, "approval_required", v, sizeof(v));

	if (r == ATTEST_OK)
		s->approval_required = strcmp(v, "1") == 0;
	else if (r != ATTEST_E_NOT_FOUND)
		return r;
	/* "off", or "on:" and the space-separated scopes (none: nothing) */
	r = s->store->ops->setting_get(s->store, "scope_cap", v, sizeof(v));
	s->cap_on = 0;
	s->scope_cap[0] = '\0';
	if (r == ATTEST_E_NOT_FOUND || (r == ATTEST_OK && strcmp(v, "off") == 0))
		return ATTEST_OK;
	if (r != ATTEST_OK)
		return r;
	if (strncmp(v, "on:", 3) != 0)
		return attest_fail(ATTEST_E_STATE, "setting scope_cap malformed");
	s->cap_on = 1;
	(void)snprintf(s->scope_cap, sizeof(s->scope_cap), "%s", v + 3);
	return ATTEST_OK;
}

/* PEM public keys STATE/<sub>/<name>.pem; cb(name, key) for each. */
static int load_keys(const char *state, const char *sub,
		     int (*cb)(struct vsrv *s, const char *name, EVP_PKEY *k), struct vsrv *s)
{
	char dir[PATH_MAX], path[PATH_MAX], name[80];
	DIR *d;
	struct dirent *de;
	int r = ATTEST_OK;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", state, sub) >= sizeof(dir))
		return attest_fail(ATTEST_E_INVALID_ARG, "path too long");
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? ATTEST_OK : attest_fail(ATTEST_E_IO, "%s: %s", dir, strerror(errno));
	while (r == ATTEST_OK && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		EVP_PKEY *k = NULL;
		FILE *f;

		if (n < 5 || n - 4 >= sizeof(name) || strcmp(de->d_name + n - 4, ".pem") != 0 ||
		    de->d_name[0] == '.')
			continue;
		memcpy(name, de->d_name, n - 4);
		name[n - 4] = '\0';
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path)) {
			r = attest_fail(ATTEST_E_INVALID_ARG, "path too long");
			break;
		}
		if ((f = fopen(path, "re")) == NULL) {
			r = attest_fail(ATTEST_E_IO, "%s: %s", path, strerror(errno));
			break;
		}
		k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
		fclose(f);
		if (k == NULL) {
			r = attest_fail_ossl(ATTEST_E_PARSE, "%s is not a PEM public key", path);
			break;
		}
		r = cb(s, name, k);
		EVP_PKEY_free(k);
	}
	closedir(d);
	return r;
}

static int add_issuer(struct vsrv *s, const char *name, EVP_PKEY *k)
{
	int r = attest_intent_trust_add_issuer(s->trust, name, k);

	if (r == ATTEST_OK)
		s->nissuers++;
	return r;
}

static int add_operator(struct vsrv *s, const char *name, EVP_PKEY *k)
{
	if (s->nops >= MAX_OPERATORS || !attest_refset_kid_ok(name))
		return attest_fail(ATTEST_E_INVALID_ARG, "operator key %s: bad name or too many", name);
	if (!EVP_PKEY_up_ref(k))
		return attest_fail_ossl(ATTEST_E_NOMEM, "operator key");
	(void)snprintf(s->op_names[s->nops], sizeof(s->op_names[0]), "%s", name);
	s->ops[s->nops].kid = s->op_names[s->nops];
	s->ops[s->nops].key = k;
	s->nops++;
	return ATTEST_OK;
}

static int refset_cb(void *arg, const struct vrefset *rs)
{
	struct vsrv *s = arg;
	struct attest_refset *set = NULL;
	int r;

	if (s->nsets >= MAX_REFSETS) {
		logf_("reference set %s not used: over %d active sets", rs->name, MAX_REFSETS);
		return ATTEST_OK;
	}
	r = attest_refset_verify(rs->jws, strlen(rs->jws), s->ops, s->nops, now_s(), &set);
	if (r != ATTEST_OK) {
		logf_("reference set %s not used: %s (%s)", rs->name, attest_errname(r),
		      attest_errdetail());
		return ATTEST_OK; /* an expired set drops out; the others stay */
	}
	s->sets[s->nsets++] = set;
	return ATTEST_OK;
}

static int load_refsets(struct vsrv *s)
{
	for (size_t i = 0; i < s->nsets; i++)
		attest_refset_free(s->sets[i]);
	s->nsets = 0;
	return s->store->ops->refset_list(s->store, 1, refset_cb, s);
}

static int load_policy(struct vsrv *s)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct attest_policy *p = NULL;
	int r;

	if ((r = attest_file_read(s->policy_path, ATTEST_POLICY_MAX_BYTES, &buf, &len)) != ATTEST_OK)
		return r;
	r = attest_policy_load((const char *)buf, len, &p);
	free(buf);
	if (r != ATTEST_OK)
		return r;
	attest_decider_set_policy(s->decider, p);
	attest_policy_free(s->policy);
	s->policy = p;
	logf_("policy %s loaded: %zu rules, version %s", s->policy_path,
	      attest_policy_rule_count(p), attest_policy_version(p));
	return ATTEST_OK;
}

/* ---- host endpoints ---- */

static void h_enrol(struct vsrv *s, struct evhttp_request *req, int response)
{
	char *b = NULL, *out = NULL;
	size_t n = 0;
	int r;

	if ((r = attest_httpd_body(req, ATTEST_ENROL_MSG_CAP, &b, &n)) == ATTEST_OK)
		r = response ? attest_ca_handle_response(s->ca, b, n, &out)
			     : attest_ca_handle_request(s->ca, b, n, &out);
	free(b);
	if (r != ATTEST_OK) {
		reply_err(s, req, status_of(r), r, "enrolment refused");
		return;
	}
	logf_("enrolment %s answered for %s", response ? "response" : "request",
	      attest_httpd_peer_addr(req));
	{
		struct attest_audit_event ev = {.type = response ? "enrol" : "enrol_challenge",
						.outcome = "ok"};
		cJSON *o = cJSON_Parse(out);
		const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "host");
		size_t olen = strlen(out);
		char *body = cJSON_malloc(olen + 1);

		ev.source = attest_httpd_peer_addr(req);
		ev.host = cJSON_IsString(h) ? h->valuestring : NULL;
		if (body != NULL)
			memcpy(body, out, olen + 1);
		audited_text(s, req, 200, body, &ev);
		cJSON_Delete(o);
	}
	free(out);
}

static void h_nonce(struct vsrv *s, struct evhttp_request *req)
{
	static const char *const keys[] = {"host", NULL};
	cJSON *in = NULL, *o = NULL;
	const char *host;
	struct vhost h;
	struct ak_entry *e;
	uint8_t nonce[VSTORE_NONCE_LEN];
	int64_t exp = now_s() + s->cfg->nonce_ttl;
	int r;

	if ((r = body_json(req, 4096, keys, &in, NULL)) != ATTEST_OK ||
	    (r = attest_json_str(in, "host", ATTEST_MAX_NAME, &host)) != ATTEST_OK ||
	    (r = host_row(s, host, &h)) != ATTEST_OK || (r = host_record(s, host, &e)) != ATTEST_OK)
		goto out;
	/* at most NONCES_PER_HOST unexpired nonces per host: the endpoint is
	 * open, and each nonce is a write */
	if (e->nonce_issued[e->nonce_next] > now_s() - s->cfg->nonce_ttl) {
		r = attest_fail(ATTEST_E_BUSY, "host %s has %d unexpired nonces", host,
				NONCES_PER_HOST);
		goto out;
	}
	if (h.revoked) {
		r = attest_fail(ATTEST_E_REVOKED, "host %s is revoked", host);
		goto out;
	}
	if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "nonce");
		goto out;
	}
	if ((r = s->store->ops->nonce_prune(s->store, now_s())) != ATTEST_OK ||
	    (r = s->store->ops->nonce_issue(s->store, host, nonce, exp)) != ATTEST_OK)
		goto out;
	e->nonce_issued[e->nonce_next] = now_s();
	e->nonce_next = (e->nonce_next + 1) % NONCES_PER_HOST;
	if ((o = cJSON_CreateObject()) == NULL ||
	    (r = attest_json_add_b64(o, "nonce", nonce, sizeof(nonce))) != ATTEST_OK ||
	    (r = attest_json_add_u64(o, "expires", (uint64_t)exp)) != ATTEST_OK)
		goto out;
	reply_obj(s, req, 200, o);
out:
	if (r != ATTEST_OK)
		reply_err(s, req, status_of(r), r, "nonce refused");
	cJSON_Delete(in);
	cJSON_Delete(o);
}

struct nonce_ctx {
	struct vsrv *s;
	const char *host;
	const uint8_t *sent; /* the body's "nonce", if any */
	size_t sent_len;
};

static int take_nonce(void *arg, const uint8_t *nonce, size_t len)
{
	struct nonce_ctx *c = arg;

	if (len != VSTORE_NONCE_LEN)
		return attest_fail(ATTEST_E_NONCE, "nonce of %zu bytes", len);
	if (c->sent != NULL &&
	    (c->sent_len != len || CRYPTO_memcmp(c->sent, nonce, len) != 0))
		return attest_fail(ATTEST_E_NONCE, "the quote is over another nonce than the one sent");
	return c->s->store->ops->nonce_take(c->s->store, c->host, nonce, now_s());
}

/* Failures the host's TPM signed (or that follow from what it signed)
 * demote it; anything before the signature check could come from anyone
 * and only gets the request refused (docs/design-notes.md). */
static int attributable(int r)
{
	return r == ATTEST_E_QUOTE_COUNTER || r == ATTEST_E_PCR_MISMATCH ||
	       r == ATTEST_E_EVENTLOG_POLICY;
}

static int enrolment_reference(const struct ak_entry *e, uint32_t mask, const uint8_t *vals,
			       size_t len)
{
	size_t vi = 0, ri = 0;

	for (unsigned i = 0; i < 24; i++) {
		int in_q = (mask >> i) & 1, in_r = (e->ref_mask >> i) & 1;

		if (in_q && in_r) {
			if ((vi + 1) * 32 > len || (ri + 1) * 32 > e->ref_len)
				return attest_fail(ATTEST_E_INTERNAL, "reference bounds");
			if (CRYPTO_memcmp(vals + vi * 32, e->ref + ri * 32, 32) != 0)
				return attest_fail(ATTEST_E_PCR_MISMATCH,
						   "PCR %u differs from the value quoted at enrolment", i);
		}
		vi += (size_t)in_q;
		ri += (size_t)in_r;
	}
	return ATTEST_OK;
}

static void h_quote(struct vsrv *s, struct evhttp_request *req)
{
	static const char *const keys[] = {"host", "nonce", "attest", "signature", "pcr_mask",
					   "pcr_values", "eventlog", "renew", NULL};
	cJSON *in = NULL, *o = NULL;
	const cJSON *renew;
	const char *host;
	uint8_t *nonce = NULL, *att = NULL, *sig = NULL, *vals = NULL, *log = NULL;
	size_t nonce_len = 0, att_len = 0, sig_len = 0, vals_len = 0, log_len = 0, off = 0;
	uint64_t mask = 0;
	struct vhost h;
	struct ak_entry *e;
	TPM2B_PUBLIC ak;
	struct attest_quote_counters prev;
	struct attest_quote_result res;
	struct nonce_ctx nc = {s, NULL, NULL, 0};
	char *hostca = NULL;
	int r, q;

	if ((r = body_json(req, BODY_MAX, keys, &in, NULL)) != ATTEST_OK ||
	    (r = attest_json_str(in, "host", ATTEST_MAX_NAME, &host)) != ATTEST_OK ||
	    (r = attest_json_b64(in, "attest", sizeof(TPMS_ATTEST), &att, &att_len)) != ATTEST_OK ||
	    (r = attest_json_b64(in, "signature", sizeof(TPMT_SIGNATURE), &sig, &sig_len)) !=
		    ATTEST_OK ||
	    (r = attest_json_u64(in, "pcr_mask", &mask)) != ATTEST_OK ||
	    (r = attest_json_b64(in, "pcr_values", 24 * 32, &vals, &vals_len)) != ATTEST_OK)
		goto out;
	if (cJSON_GetObjectItemCaseSensitive(in, "nonce") != NULL &&
	    (r = attest_json_b64(in, "nonce", 64, &nonce, &nonce_len)) != ATTEST_OK)
		goto out;
	if (cJSON_GetObjectItemCaseSensitive(in, "eventlog") != NULL &&
	    (r = attest_json_b64(in, "eventlog", BODY_MAX, &log, &log_len)) != ATTEST_OK)
		goto out;
	renew = cJSON_GetObjectItemCaseSensitive(in, "renew");
	if (mask > 0xffffffu || (renew != NULL && !cJSON_IsBool(renew))) {
		r = attest_fail(ATTEST_E_PARSE, "pcr_mask or renew malformed");
		goto out;
	}
	if ((r = host_row(s, host, &h)) != ATTEST_OK || (r = host_record(s, host, &e)) != ATTEST_OK)
		goto out;
	if (h.revoked) {
		r = attest_fail(ATTEST_E_REVOKED, "host %s is revoked", host);
		goto out;
	}
	memset(&ak, 0, sizeof(ak));
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(e->ak, e->ak_len, &off, &ak) != TSS2_RC_SUCCESS) {
		r = attest_fail(ATTEST_E_INTERNAL, "AK record");
		goto out;
	}
	prev.have = h.have_clock;
	prev.reset_count = h.reset_count;
	prev.restart_count = h.restart_count;
	prev.clock = h.clock;
	nc.host = host;
	nc.sent = nonce;
	nc.sent_len = nonce_len;
	{
		struct attest_quote_evidence ev = {att, att_len, sig, sig_len, (uint32_t)mask,
						   vals, vals_len, log, log_len};
		struct attest_quote_policy pol = {s->cfg->quote_mask, take_nonce, &nc, &prev,
						  s->sets, s->nsets};

		q = attest_quote_appraise(&ak, &ev, &pol, &res);
		if (q == ATTEST_OK && s->nsets == 0)
			q = enrolment_reference(e, (uint32_t)mask, vals, vals_len);
	}
	h.last_quote = now_s();
	if (q == ATTEST_OK) {
		h.state = VHOST_TRUSTED;
		h.reason_code = 0;
		h.reason[0] = '\0';
		h.last_good = h.last_quote;
		if (res.reboot)
			h.boots++;
		if (!res.safe)
			h.unsafe_seen = 1;
		h.have_clock = 1;
		h.reset_count = res.now.reset_count;
		h.restart_count = res.now.restart_count;
		h.clock = res.now.clock;
		(void)snprintf(h.refset, sizeof(h.refset), "%s",
			       s->nsets ? res.refset : "enrolment");
		s->m.quotes_good++;
	} else {
		s->m.quotes_bad++;
		logf_("quote from %s refused: %s (%s)", host, attest_errname(q), attest_errdetail());
		if (!attributable(q)) {
			r = q;
			goto out;
		}
		h.state = VHOST_UNTRUSTED;
		h.reason_code = q;
		(void)snprintf(h.reason, sizeof(h.reason), "%s", attest_errdetail());
	}
	{
		/* the verdict is recorded before the host's state changes */
		struct attest_audit_event ev = {0};
		char qh[65];
		uint8_t md[32];

		if (EVP_Digest(att, att_len, md, NULL, EVP_sha256(), NULL) == 1)
			for (int i = 0; i < 32; i++)
				(void)snprintf(qh + 2 * i, 3, "%02x", md[i]);
		else
			qh[0] = '\0';
		ev.type = "host_quote";
		ev.host = host;
		ev.source = attest_httpd_peer_addr(req);
		ev.outcome = q == ATTEST_OK ? "trusted" : "untrusted";
		ev.reason = attest_errname(q);
		ev.quote_sha256 = qh;
		ev.action = q == ATTEST_OK && cJSON_IsTrue(renew) ? "renew" : NULL;
		if ((r = attest_audit_append_event(s->audit, &ev, NULL)) != ATTEST_OK)
			goto out;
	}
	if ((r = s->store->ops->host_put(s->store, &h)) != ATTEST_OK)
		goto out;
	if (q == ATTEST_OK && cJSON_IsTrue(renew) &&
	    (r = attest_ca_reissue_host(s->ca, host, &hostca)) != ATTEST_OK)
		goto out;
	logf_("host %s: %s%s%s%s", host, q == ATTEST_OK ? "trusted" : "untrusted",
	      q == ATTEST_OK ? "" : ", ", q == ATTEST_OK ? "" : attest_errname(q),
	      q == ATTEST_OK && res.reboot ? ", rebooted" : "");
	if ((o = cJSON_CreateObject()) == NULL ||
	    (r = attest_json_add_str(o, "state", q == ATTEST_OK ? "trusted" : "untrusted")) !=
		    ATTEST_OK ||
	    (r = attest_json_add_str(o, "reason", attest_errname(q))) != ATTEST_OK ||
	    cJSON_AddBoolToObject(o, "reboot", q == ATTEST_OK && res.reboot) == NULL ||
	    (r = attest_json_add_str(o, "refset", q == ATTEST_OK ? h.refset : "")) != ATTEST_OK ||
	    (hostca != NULL && (r = attest_json_add_str(o, "host_ca", hostca)) != ATTEST_OK)) {
		r = r != ATTEST_OK ? r : ATTEST_E_NOMEM;
		goto out;
	}
	audited_reply(s, req, 200, o, NULL);
	r = ATTEST_OK;
out:
	if (r != ATTEST_OK)
		reply_err(s, req, status_of(r), r, "quote refused");
	free(nonce);
	free(att);
	free(sig);
	free(vals);
	free(log);
	free(hostca);
	cJSON_Delete(in);
	cJSON_Delete(o);
}

/* ---- inventory reports ---- */

static int verify_host_ca(struct vsrv *s, const char *pem, const char *host, X509 **out)
{
	X509 *c = NULL;
	X509_STORE *st = NULL;
	X509_STORE_CTX *ctx = NULL;
	char *hid = NULL;
	int r;

	*out = NULL;
	if ((r = attest_x509_from_pem(pem, strlen(pem), &c)) != ATTEST_OK)
		return r;
	if ((st = X509_STORE_new()) == NULL || X509_STORE_add_cert(st, s->root) != 1 ||
	    (ctx = X509_STORE_CTX_new()) == NULL || X509_STORE_CTX_init(ctx, st, c, NULL) != 1) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "verify host CA");
		goto out;
	}
	if (X509_verify_cert(ctx) != 1) {
		r = attest_fail(ATTEST_E_CHAIN_UNTRUSTED, "host CA: %s",
				X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		ERR_clear_error();
		goto out;
	}
	if ((r = attest_x509_ext_utf8(c, ATTEST_OID_HOST_ID, &hid)) != ATTEST_OK ||
	    strcmp(hid, host) != 0) {
		r = attest_fail(ATTEST_E_PATH, "host CA is not the certificate of host %s", host);
		goto out;
	}
	*out = c;
	c = NULL;
	r = ATTEST_OK;
out:
	free(hid);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	X509_free(c);
	return r;
}

static int verify_report_sig(X509 *host_ca, const char *report, const uint8_t *sig,
			     size_t sig_len)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c != NULL &&
		 EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, X509_get0_pubkey(host_ca)) == 1 &&
		 EVP_DigestVerify(c, sig, sig_len, (const uint8_t *)report, strlen(report)) == 1;

	EVP_MD_CTX_free(c);
	ERR_clear_error();
	return ok ? ATTEST_OK
		  : attest_fail(ATTEST_E_EVIDENCE_SIGNATURE,
				"report is not signed by the host's issuing key");
}

static int join_list(const cJSON *arr, char *out, size_t outsz)
{
	const cJSON *it;
	size_t used = 0;

	out[0] = '\0';
	if (arr == NULL)
		return ATTEST_OK;
	if (!cJSON_IsArray(arr))
		return attest_fail(ATTEST_E_PARSE, "list is not an array");
	cJSON_ArrayForEach(it, arr) {
		int n;

		if (!cJSON_IsString(it) || it->valuestring[0] == '\0' ||
		    strchr(it->valuestring, ' ') != NULL)
			return attest_fail(ATTEST_E_PARSE, "list entry is not a word");
		n = snprintf(out + used, outsz - used, "%s%s", used ? " " : "", it->valuestring);
		if (n < 0 || (size_t)n >= outsz - used)
			return attest_fail(ATTEST_E_TOO_LARGE, "list too long");
		used += (size_t)n;
	}
	return ATTEST_OK;
}

#define REPORT_AGENTS_MAX 1024
/* Revocation reasons say who revoked: an operator's (admin API) stays
 * until an operator lifts it, whatever the host reports or registers
 * again; the host's follow its reports. */
#define REVOKED_BY_HOST "host: revoked"
#define REMOVED_BY_HOST "host: removed"
#define OPERATOR_PREFIX "operator "

struct removed_ctx {
	const char *host;
	const cJSON *agents;
	struct vagent *out; /* REPORT_AGENTS_MAX entries */
	size_t n;
};

/* Collects (the store's list walk may not write) this host's agents that
 * the report no longer lists. */
static int collect_removed(void *arg, const struct vagent *a)
{
	struct removed_ctx *m = arg;
	const cJSON *it;

	if (strcmp(a->host, m->host) != 0 || a->revoked)
		return ATTEST_OK;
	cJSON_ArrayForEach(it, m->agents) {
		const char *id = opt_str(it, "id");

		if (id != NULL && strcmp(id, a->id) == 0)
			return ATTEST_OK;
	}
	if (m->n >= REPORT_AGENTS_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "over %d agents on host %s",
				   REPORT_AGENTS_MAX, m->host);
	m->out[m->n] = *a;
	m->out[m->n].revoked = 1;
	(void)snprintf(m->out[m->n].revoke_reason, sizeof(m->out[0].revoke_reason), "%s",
		       REMOVED_BY_HOST);
	m->n++;
	return ATTEST_OK;
}

/* Check one entry of a report and build its inventory record in *out
 * (nothing is written here). */
static int report_agent(struct vsrv *s, X509 *host_ca, const TPM2B_PUBLIC *ak, const char *host,
			const cJSON *j, struct vagent *out)
{
	static const char *const keys[] = {"id", "uuid", "agent_ca", "scopes", "data_classes",
					   "risk_tier", "risk_score", "delegate_depth", "revoked",
					   NULL};
	struct vagent a, old;
	struct attest_agent_ca_info info = {0};
	struct attest_agent_id aid;
	const char *id, *tier;
	const cJSON *score, *depth, *rev;
	uint8_t *der = NULL;
	const uint8_t *p;
	size_t der_len = 0;
	X509 *ca = NULL;
	int r;

	memset(&a, 0, sizeof(a));
	if ((r = attest_json_only(j, keys)) != ATTEST_OK ||
	    (r = attest_json_str(j, "id", VSTORE_ID_MAX - 1, &id)) != ATTEST_OK ||
	    (r = attest_json_b64(j, "agent_ca", 8192, &der, &der_len)) != ATTEST_OK ||
	    (r = attest_json_str(j, "risk_tier", 16, &tier)) != ATTEST_OK ||
	    (r = join_list(cJSON_GetObjectItemCaseSensitive(j, "scopes"), a.scopes,
			   sizeof(a.scopes))) != ATTEST_OK ||
	    (r = join_list(cJSON_GetObjectItemCaseSensitive(j, "data_classes"), a.data_classes,
			   sizeof(a.data_classes))) != ATTEST_OK)
		goto out;
	score = cJSON_GetObjectItemCaseSensitive(j, "risk_score");
	depth = cJSON_GetObjectItemCaseSensitive(j, "delegate_depth");
	rev = cJSON_GetObjectItemCaseSensitive(j, "revoked");
	if (!cJSON_IsNumber(score) || score->valuedouble < 0 || score->valuedouble > 100 ||
	    !cJSON_IsNumber(depth) || depth->valuedouble < 0 || depth->valuedouble > 3 ||
	    !cJSON_IsBool(rev) || attest_risk_tier_from_name(tier) == ATTEST_RISK_TIER_UNKNOWN ||
	    attest_agent_id_parse(id, &aid) != ATTEST_OK || strcmp(aid.host, host) != 0) {
		r = attest_fail(ATTEST_E_PARSE, "agent entry %.200s malformed", id);
		goto out;
	}
	p = der;
	if ((ca = d2i_X509(NULL, &p, (long)der_len)) == NULL || p != der + der_len) {
		r = attest_fail(ATTEST_E_PARSE, "agent CA of %s is not one DER certificate", id);
		goto out;
	}
	if (X509_check_issued(host_ca, ca) != X509_V_OK ||
	    X509_verify(ca, X509_get0_pubkey(host_ca)) != 1) {
		ERR_clear_error();
		r = attest_fail(ATTEST_E_CHAIN_UNTRUSTED, "agent CA of %s not issued by the host CA", id);
		goto out;
	}
	if ((r = attest_agent_ca_evidence(ca, ak, &info)) != ATTEST_OK)
		goto out;
	if (strcmp(info.id, id) != 0) {
		r = attest_fail(ATTEST_E_AGENT_EVIDENCE, "agent CA names %s, entry %s", info.id, id);
		goto out;
	}
	(void)snprintf(a.id, sizeof(a.id), "%s", id);
	(void)snprintf(a.host, sizeof(a.host), "%s", host);
	(void)snprintf(a.uuid, sizeof(a.uuid), "%s", info.uuid);
	if (EVP_Digest(der, der_len, a.agent_ca_hash, NULL, EVP_sha256(), NULL) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "hash");
		goto out;
	}
	memcpy(a.measurement, info.measurement, 32);
	memcpy(a.policy, info.policy, 32);
	a.risk_tier = attest_risk_tier_from_name(tier);
	a.risk_score = (int)score->valuedouble;
	a.delegate_depth = (int)depth->valuedouble;
	a.registered = now_s();
	a.revoked = cJSON_IsTrue(rev);
	if (a.revoked)
		(void)snprintf(a.revoke_reason, sizeof(a.revoke_reason), "%s", REVOKED_BY_HOST);
	r = s->store->ops->agent_get(s->store, id, &old);
	if (r == ATTEST_OK) {
		/* approval survives reports of the same registration (not a
		 * new one under the same name); an operator's revocation
		 * survives everything the host does */
		if (strcmp(old.uuid, a.uuid) == 0) {
			a.approved = old.approved;
			a.registered = old.registered;
		}
		if (old.revoked && strncmp(old.revoke_reason, OPERATOR_PREFIX,
					   strlen(OPERATOR_PREFIX)) == 0) {
			a.revoked = 1;
			memcpy(a.revoke_reason, old.revoke_reason, sizeof(a.revoke_reason));
		}
	} else if (r != ATTEST_E_NOT_FOUND) {
		goto out;
	}
	*out = a;
	r = ATTEST_OK;
out:
	attest_agent_ca_info_clear(&info);
	X509_free(ca);
	free(der);
	return r;
}

static void h_report(struct vsrv *s, struct evhttp_request *req)
{
	static const char *const keys[] = {"report", "signature", "host_ca", NULL};
	static const char *const rkeys[] = {"type", "version", "host", "time", "agents", NULL};
	cJSON *in = NULL, *rep = NULL;
	const char *report, *pem, *host, *type;
	const cJSON *agents, *it;
	uint8_t *sig = NULL;
	size_t sig_len = 0, off = 0;
	uint64_t t = 0;
	X509 *host_ca = NULL;
	struct ak_entry *e;
	TPM2B_PUBLIC ak;
	char key[100], last[32];
	struct vagent *recs = NULL;
	struct removed_ctx rm = {0};
	size_t nagents = 0, i;
	int r;

	if ((r = body_json(req, BODY_MAX, keys, &in, NULL)) != ATTEST_OK ||
	    (r = attest_json_str(in, "report", BODY_MAX, &report)) != ATTEST_OK ||
	    (r = attest_json_str(in, "host_ca", 16384, &pem)) != ATTEST_OK ||
	    (r = attest_json_b64(in, "signature", 80, &sig, &sig_len)) != ATTEST_OK ||
	    (r = attest_json_parse(report, strlen(report), BODY_MAX, &rep)) != ATTEST_OK ||
	    (r = attest_json_only(rep, rkeys)) != ATTEST_OK ||
	    (r = attest_json_str(rep, "type", 32, &type)) != ATTEST_OK ||
	    (r = attest_json_str(rep, "host", ATTEST_MAX_NAME, &host)) != ATTEST_OK ||
	    (r = attest_json_u64(rep, "time", &t)) != ATTEST_OK)
		goto out;
	agents = cJSON_GetObjectItemCaseSensitive(rep, "agents");
	if (strcmp(type, "agent-report") != 0 || !cJSON_IsArray(agents) ||
	    cJSON_GetArraySize(agents) > REPORT_AGENTS_MAX) {
		r = attest_fail(ATTEST_E_PARSE, "not an agent report");
		goto out;
	}
	if ((r = host_record(s, host, &e)) != ATTEST_OK ||
	    (r = verify_host_ca(s, pem, host, &host_ca)) != ATTEST_OK ||
	    (r = verify_report_sig(host_ca, report, sig, sig_len)) != ATTEST_OK)
		goto out;
	(void)snprintf(key, sizeof(key), "report_time:%s", host);
	r = s->store->ops->setting_get(s->store, key, last, sizeof(last));
	if (r != ATTEST_OK && r != ATTEST_E_NOT_FOUND)
		goto out;
	if ((int64_t)t > now_s() + REPORT_SKEW || (int64_t)t < now_s() - REPORT_SKEW ||
	    (r == ATTEST_OK && strtoull(last, NULL, 10) >= t)) {
		r = attest_fail(ATTEST_E_NONCE, "report time %llu is stale or replayed",
				(unsigned long long)t);
		goto out;
	}
	memset(&ak, 0, sizeof(ak));
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(e->ak, e->ak_len, &off, &ak) != TSS2_RC_SUCCESS) {
		r = attest_fail(ATTEST_E_INTERNAL, "AK record");
		goto out;
	}
	/* every entry is checked before anything is written: a refused
	 * report changes nothing */
	nagents = (size_t)cJSON_GetArraySize(agents);
	if ((recs = calloc(nagents + 1, sizeof(*recs))) == NULL ||
	    (rm.out = calloc(REPORT_AGENTS_MAX, sizeof(*rm.out))) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "report");
		goto out;
	}
	i = 0;
	cJSON_ArrayForEach(it, agents) {
		if ((r = report_agent(s, host_ca, &ak, host, it, &recs[i++])) != ATTEST_OK)
			goto out;
	}
	rm.host = host;
	rm.agents = agents;
	if ((r = s->store->ops->agent_list(s->store, collect_removed, &rm)) != ATTEST_OK)
		goto out;
	{
		struct attest_audit_event ev = {.type = "inventory", .host = host, .outcome = "ok"};

		ev.source = attest_httpd_peer_addr(req);
		if ((r = attest_audit_append_event(s->audit, &ev, NULL)) != ATTEST_OK)
			goto out;
	}
	for (i = 0; i < nagents; i++)
		if ((r = s->store->ops->agent_put(s->store, &recs[i])) != ATTEST_OK)
			goto out;
	for (i = 0; i < rm.n; i++)
		if ((r = s->store->ops->agent_put(s->store, &rm.out[i])) != ATTEST_OK)
			goto out;
	(void)snprintf(last, sizeof(last), "%llu", (unsigned long long)t);
	if ((r = s->store->ops->setting_put(s->store, key, last)) != ATTEST_OK)
		goto out;
	s->m.reports++;
	attest_decider_flush(s->decider);
	logf_("inventory of %s: %zu agents, %zu removed", host, nagents, rm.n);
	audited_ok(s, req, "{\"status\":\"ok\"}", NULL);
out:
	free(recs);
	free(rm.out);
	if (r != ATTEST_OK)
		reply_err(s, req, status_of(r), r, "report refused");
	X509_free(host_ca);
	free(sig);
	cJSON_Delete(rep);
	cJSON_Delete(in);
}

/* ---- audit checkpoints pushed by hosts ---- */

static void hex_of(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		(void)snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* The latest checkpoint of each host log is kept (settings key
 * "ckpt:<log id hex>", value "<counter> <size> <time> <root hex> <host>").
 * The next must come from the same host, carry the next counter value, a
 * tree at least as large and a time no earlier, and, when the tree grew,
 * an RFC 9162 consistency proof from the last root: so a host that
 * restores an older copy of its log, or rewrites history under a fresh
 * counter value, cannot push its checkpoints, and the verifier's record
 * says how far the real log had come. */
static int check_consistency(const cJSON *in, uint64_t size1, const uint8_t root1[32],
			     const struct attest_audit_ckpt *c)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(in, "consistency"), *it;
	attest_merkle_hash proof[ATTEST_MERKLE_MAX_PROOF];
	size_t n = 0;

	if (size1 == c->size)
		return CRYPTO_memcmp(root1, c->root, 32) == 0
			       ? ATTEST_OK
			       : attest_fail(ATTEST_E_AUDIT_INCONSISTENT,
					     "same tree size, another root: the log was rewritten");
	if (!cJSON_IsArray(arr))
		return attest_fail(ATTEST_E_AUDIT_INCONSISTENT,
				   "the tree grew from %llu to %llu records without a consistency "
				   "proof", (unsigned long long)size1, (unsigned long long)c->size);
	cJSON_ArrayForEach(it, arr) {
		uint8_t *b = NULL;
		size_t blen = 0;

		if (n >= ATTEST_MERKLE_MAX_PROOF || !cJSON_IsString(it) ||
		    attest_b64_decode(it->valuestring, strlen(it->valuestring), 32, &b, &blen) !=
			    ATTEST_OK ||
		    blen != 32) {
			free(b);
			return attest_fail(ATTEST_E_PARSE, "consistency proof malformed");
		}
		memcpy(proof[n++], b, 32);
		free(b);
	}
	if (attest_merkle_consistency_verify(size1, c->size, root1, c->root, proof, n) != ATTEST_OK)
		return attest_fail(ATTEST_E_AUDIT_INCONSISTENT,
				   "the new tree does not extend the last one (consistency proof "
				   "fails): the log was rewritten");
	return ATTEST_OK;
}

static void h_checkpoint(struct vsrv *s, struct evhttp_request *req)
{
	static const char *const keys[] = {"host", "checkpoint", "consistency", NULL};
	cJSON *in = NULL, *o = NULL;
	const char *host, *text;
	struct attest_audit_ckpt c;
	struct ak_entry *e;
	TPM2B_PUBLIC ak;
	size_t off = 0;
	char key[80], val[VSTORE_LIST_MAX], idhex[2 * ATTEST_AUDIT_LOG_ID_LEN + 1], roothex[65];
	unsigned long long last = 0, lsize = 0, ltime = 0;
	char lroot[65] = "", lhost[VSTORE_NAME_MAX] = "";
	int r, have;

	if ((r = body_json(req, 64 * 1024, keys, &in, NULL)) != ATTEST_OK ||
	    (r = attest_json_str(in, "host", ATTEST_MAX_NAME, &host)) != ATTEST_OK ||
	    (r = attest_json_str(in, "checkpoint", ATTEST_AUDIT_CKPT_MAX, &text)) != ATTEST_OK ||
	    (r = attest_audit_ckpt_from_json(text, strlen(text), &c)) != ATTEST_OK ||
	    (r = host_record(s, host, &e)) != ATTEST_OK)
		goto out;
	memset(&ak, 0, sizeof(ak));
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(e->ak, e->ak_len, &off, &ak) != TSS2_RC_SUCCESS) {
		r = attest_fail(ATTEST_E_INTERNAL, "AK record");
		goto out;
	}
	if ((r = attest_audit_ckpt_verify(&c, &ak, 0)) != ATTEST_OK)
		goto out;
	hex_of(c.log_id, sizeof(c.log_id), idhex);
	hex_of(c.root, 32, roothex);
	(void)snprintf(key, sizeof(key), "ckpt:%s", idhex);
	r = s->store->ops->setting_get(s->store, key, val, sizeof(val));
	if (r != ATTEST_OK && r != ATTEST_E_NOT_FOUND)
		goto out;
	have = r == ATTEST_OK;
	if (have && sscanf(val, "%llu %llu %llu %64s %63s", &last, &lsize, &ltime, lroot, lhost) != 5) {
		r = attest_fail(ATTEST_E_STATE, "stored checkpoint of log %s malformed", idhex);
		goto out;
	}
	if (have && strcmp(lhost, host) != 0) {
		r = attest_fail(ATTEST_E_PATH, "log %s belongs to host %s, not %s", idhex, lhost, host);
		goto out;
	}
	if (have && c.counter != (uint64_t)last + 1) {
		r = attest_fail(ATTEST_E_QUOTE_COUNTER,
				"log %s of %s: counter %llu after %llu (not consecutive: a skipped "
				"checkpoint or an older copy of the log)",
				idhex, host, (unsigned long long)c.counter, last);
		goto out;
	}
	if (have && (c.size < lsize || c.time < ltime)) {
		r = attest_fail(ATTEST_E_QUOTE_COUNTER,
				"log %s of %s: %llu records at %llu after %llu at %llu (the log "
				"shrank or went back in time: an older copy)",
				idhex, host, (unsigned long long)c.size, (unsigned long long)c.time,
				lsize, ltime);
		goto out;
	}
	if (have) {
		uint8_t root1[32];

		for (int i = 0; i < 32; i++) {
			unsigned v;

			if (sscanf(lroot + 2 * i, "%2x", &v) != 1) {
				r = attest_fail(ATTEST_E_STATE, "stored root malformed");
				goto out;
			}
			root1[i] = (uint8_t)v;
		}
		if ((r = check_consistency(in, lsize, root1, &c)) != ATTEST_OK)
			goto out;
	}
	(void)snprintf(val, sizeof(val), "%llu %llu %llu %s %s", (unsigned long long)c.counter,
		       (unsigned long long)c.size, (unsigned long long)c.time, roothex, host);
	if ((r = s->store->ops->setting_put(s->store, key, val)) != ATTEST_OK)
		goto out;
	logf_("checkpoint of %s log %s: counter %llu, %llu records", host, idhex,
	      (unsigned long long)c.counter, (unsigned long long)c.size);
	{
		struct attest_audit_event ev = {.type = "audit_checkpoint", .outcome = "ok"};
		char cnt[24];

		(void)snprintf(cnt, sizeof(cnt), "%llu", (unsigned long long)c.counter);
		ev.host = host;
		ev.source = attest_httpd_peer_addr(req);
		ev.reason = cnt;
		ev.resource = idhex;
		if ((o = cJSON_CreateObject()) == NULL ||
		    cJSON_AddStringToObject(o, "status", "ok") == NULL ||
		    cJSON_AddStringToObject(o, "counter", cnt) == NULL) {
			r = ATTEST_E_NOMEM;
			goto out;
		}
		audited_reply(s, req, 200, o, &ev);
	}
	r = ATTEST_OK;
out:
	if (r != ATTEST_OK)
		reply_err(s, req, status_of(r), r, "checkpoint refused");
	cJSON_Delete(in);
	cJSON_Delete(o);
}

/* ---- decisions ---- */

#define CTX_MAX 16

static void h_decide(struct vsrv *s, struct evhttp_request *req, const struct vcaller *who)
{
	static const char *const keys[] = {"chain", "action", "resource", "context", NULL};
	cJSON *in = NULL, *o = NULL, *ch, *ag;
	const char *chain, *action, *resource, *ckeys[CTX_MAX], *cvals[CTX_MAX];
	const cJSON *ctx, *it;
	size_t nctx = 0;
	struct attest_decide_req dr;
	struct attest_decision d;
	double t0 = mono(), dt;
	int r;

	if ((r = body_json(req, DECIDE_BODY_MAX, keys, &in, NULL)) != ATTEST_OK ||
	    (r = attest_json_str(in, "chain", ATTEST_DECIDE_PEM_MAX, &chain)) != ATTEST_OK ||
	    (r = attest_json_str(in, "action", 64, &action)) != ATTEST_OK ||
	    (r = attest_json_str(in, "resource", ATTEST_POLICY_RESOURCE_MAX, &resource)) != ATTEST_OK)
		goto out;
	ctx = cJSON_GetObjectItemCaseSensitive(in, "context");
	if (ctx != NULL) {
		if (!cJSON_IsObject(ctx) || cJSON_GetArraySize(ctx) > CTX_MAX) {
			r = attest_fail(ATTEST_E_PARSE, "context must be an object of <= %d strings",
					CTX_MAX);
			goto out;
		}
		cJSON_ArrayForEach(it, ctx) {
			if (!cJSON_IsString(it) || strlen(it->valuestring) > 256) {
				r = attest_fail(ATTEST_E_PARSE, "context values are strings <= 256");
				goto out;
			}
			ckeys[nctx] = it->string;
			cvals[nctx++] = it->valuestring;
		}
	}
	memset(&dr, 0, sizeof(dr));
	dr.pem = chain;
	dr.pem_len = strlen(chain);
	dr.action = action;
	dr.resource = resource;
	dr.ctx_keys = ckeys;
	dr.ctx_values = cvals;
	dr.nctx = nctx;
	/* the decision is in d either way; a deny is not a failed request */
	if (attest_decide(s->decider, &dr, &d) != d.reason)
		logf_("decider returned a code other than its reason");
	dt = mono() - t0;
	{
		static const double edges[7] = {50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 5e-3, 10e-3};
		size_t b = 0;

		while (b < 7 && dt > edges[b])
			b++;
		s->m.lat_bucket[b]++;
		s->m.lat_sum += dt;
	}
	if (d.allow)
		s->m.decisions_allow++;
	else
		s->m.decisions_deny++;
	if (d.reason >= 0 && d.reason < ATTEST_E__COUNT)
		s->m.reason[d.reason]++;
	logf_("decision for %s: %s %s %s -> %s %s rule=%s (%s)", who->name,
	      d.agent[0] ? d.agent : "-", action, resource, d.allow ? "allow" : "deny",
	      attest_errname(d.reason), d.rule[0] ? d.rule : "-", d.detail);
	if ((o = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(o, "decision", d.allow ? "allow" : "deny") == NULL ||
	    cJSON_AddStringToObject(o, "reason", attest_errname(d.reason)) == NULL ||
	    cJSON_AddStringToObject(o, "rule", d.rule) == NULL ||
	    cJSON_AddStringToObject(o, "detail", d.reason == ATTEST_OK ? "" : attest_strerror(d.reason)) == NULL ||
	    cJSON_AddStringToObject(o, "agent", d.agent) == NULL ||
	    cJSON_AddStringToObject(o, "host", d.host) == NULL) {
		r = ATTEST_E_NOMEM;
		goto out;
	}
	if (d.intent != NULL) {
		unsigned depth = attest_intent_chain_depth(d.intent);
		const char *ptext = NULL;

		(void)attest_intent_chain_purpose(d.intent, &ptext);
		if ((ch = cJSON_AddObjectToObject(o, "chain")) == NULL ||
		    cJSON_AddStringToObject(ch, "user", attest_intent_chain_user(d.intent)) == NULL ||
		    cJSON_AddStringToObject(
			    ch, "purpose",
			    attest_purpose_name(attest_intent_chain_purpose(d.intent, NULL))) == NULL ||
		    cJSON_AddNumberToObject(ch, "depth", depth) == NULL ||
		    (ag = cJSON_AddArrayToObject(ch, "agents")) == NULL) {
			r = ATTEST_E_NOMEM;
			goto out;
		}
		for (unsigned i = 0; i <= depth; i++) {
			const char *h = NULL, *id = attest_intent_chain_agent(d.intent, i, &h);
			cJSON *a = cJSON_CreateObject();

			if (a == NULL || !cJSON_AddItemToArray(ag, a) ||
			    cJSON_AddStringToObject(a, "id", id != NULL ? id : "") == NULL ||
			    cJSON_AddStringToObject(a, "host", h != NULL ? h : "") == NULL) {
				r = ATTEST_E_NOMEM;
				goto out;
			}
		}
	}
	{
		/* the decision's record: caller, agent chain, user, purpose,
		 * subject (a "patient" or "subject" context value), scopes of
		 * the chain, action, resource, outcome, reason and rule */
		struct attest_audit_event ev = {0};
		const char *agents[ATTEST_INTENT_MAX_DEPTH + 1];
		char reason[160];
		const char *const *sc = NULL;
		size_t na = 0;

		if (d.intent != NULL) {
			for (unsigned i = 0; i <= attest_intent_chain_depth(d.intent); i++)
				agents[na++] = attest_intent_chain_agent(d.intent, i, NULL);
			ev.user = attest_intent_chain_user(d.intent);
			ev.purpose = attest_purpose_name(attest_intent_chain_purpose(d.intent, &ev.purpose_text));
			ev.nscopes = attest_intent_chain_scopes(d.intent, &sc);
			ev.scopes = sc;
		} else if (d.agent[0] != '\0') {
			agents[na++] = d.agent;
		}
		for (size_t i = 0; i < nctx; i++)
			if (strcmp(ckeys[i], "patient") == 0 || strcmp(ckeys[i], "subject") == 0)
				ev.subject = cvals[i];
		(void)snprintf(reason, sizeof(reason), "%s%s%s", attest_errname(d.reason),
			       d.rule[0] ? " rule=" : "", d.rule);
		ev.type = "decision";
		ev.host = d.host[0] ? d.host : NULL;
		ev.source = who->name;
		ev.agents = agents;
		ev.nagents = na;
		ev.action = action;
		ev.resource = resource;
		ev.outcome = d.allow ? "allow" : "deny";
		ev.reason = reason;
		audited_reply(s, req, 200, o, &ev);
	}
	r = ATTEST_OK;
out:
	if (r != ATTEST_OK)
		reply_err(s, req, status_of(r), r, "decision request refused");
	cJSON_Delete(in);
	cJSON_Delete(o);
}

/* ---- admin ---- */

static int list_host(void *arg, const struct vhost *h)
{
	cJSON *arr = arg, *o = cJSON_CreateObject();
	static const char *const st[] = {"new", "trusted", "untrusted"};

	if (o == NULL || !cJSON_AddItemToArray(arr, o))
		return ATTEST_E_NOMEM;
	cJSON_AddStringToObject(o, "host", h->name);
	cJSON_AddStringToObject(o, "state", h->revoked ? "revoked" : st[h->state % 3]);
	cJSON_AddStringToObject(o, "reason", h->reason_code ? attest_errname(h->reason_code) : "");
	cJSON_AddStringToObject(o, "detail", h->revoked ? h->revoke_reason : h->reason);
	cJSON_AddNumberToObject(o, "last_good", (double)h->last_good);
	cJSON_AddNumberToObject(o, "boots", (double)h->boots);
	cJSON_AddStringToObject(o, "refset", h->refset);
	return ATTEST_OK;
}

static int list_agent(void *arg, const struct vagent *a)
{
	cJSON *arr = arg, *o = cJSON_CreateObject();

	if (o == NULL || !cJSON_AddItemToArray(arr, o))
		return ATTEST_E_NOMEM;
	cJSON_AddStringToObject(o, "agent", a->id);
	cJSON_AddStringToObject(o, "host", a->host);
	cJSON_AddStringToObject(o, "uuid", a->uuid);
	cJSON_AddStringToObject(o, "scopes", a->scopes);
	cJSON_AddStringToObject(o, "data_classes", a->data_classes);
	cJSON_AddStringToObject(o, "risk_tier", attest_risk_tier_name(a->risk_tier));
	cJSON_AddNumberToObject(o, "risk_score", a->risk_score);
	cJSON_AddBoolToObject(o, "approved", a->approved);
	cJSON_AddBoolToObject(o, "revoked", a->revoked);
	cJSON_AddStringToObject(o, "revoke_reason", a->revoke_reason);
	return ATTEST_OK;
}

static void h_list(struct vsrv *s, struct evhttp_request *req, int hosts)
{
	cJSON *arr = cJSON_CreateArray();
	int r = arr == NULL ? ATTEST_E_NOMEM
			    : hosts ? s->store->ops->host_list(s->store, list_host, arr)
				    : s->store->ops->agent_list(s->store, list_agent, arr);

	if (r != ATTEST_OK)
		reply_err(s, req, status_of(r), r, "list failed");
	else
		reply_obj(s, req, 200, arr);
	cJSON_Delete(arr);
}

/* An operator's change: recorded, then made, then answered once durable. */
static int record_change(struct vsrv *s, const char *type, const struct vcaller *who,
			 const char *host, const char *agent, const char *reason)
{
	struct attest_audit_event ev = {.outcome = "ok"};
	const char *ag[1] = {agent};

	ev.type = type;
	ev.source = who->name;
	ev.reason = reason;
	ev.host = host;
	if (agent != NULL) {
		ev.agents = ag;
		ev.nagents = 1;
	}
	return attest_audit_append_event(s->audit, &ev, NULL);
}

static void h_revoke(struct vsrv *s, struct evhttp_request *req, const struct vcaller *who,
		     int host)
{
	static const char *const hkeys[] = {"host", "reason", NULL};
	static const char *const akeys[] = {"agent", "reason", NULL};
	cJSON *in = NULL;
	const char *name, *reason = "revoked by operator";
	struct vhost h;
	struct vagent a;
	int r;

	if ((r = body_json(req, 4096, host ? hkeys : akeys, &in, NULL)) != ATTEST_OK ||
	    (r = attest_json_str(in, host ? "host" : "agent", VSTORE_ID_MAX - 1, &name)) != ATTEST_OK)
		goto out;
	if (opt_str(in, "reason") != NULL)
		reason = opt_str(in, "reason");
	if ((r = host ? host_row(s, name, &h) : s->store->ops->agent_get(s->store, name, &a)) !=
		    ATTEST_OK ||
	    (r = record_change(s, "revocation", who, host ? name : NULL, host ? NULL : name,
			       reason)) != ATTEST_OK)
		goto out;
	if (host) {
		h.revoked = 1;
		(void)snprintf(h.revoke_reason, sizeof(h.revoke_reason), OPERATOR_PREFIX "%s: %s",
			       who->name, reason);
		r = s->store->ops->host_put(s->store, &h);
	} else {
		a.revoked = 1;
		(void)snprintf(a.revoke_reason, sizeof(a.revoke_reason), OPERATOR_PREFIX "%s: %s",
			       who->name, reason);
		r = s->store->ops->agent_put(s->store, &a);
	}
	if (r != ATTEST_OK)
		goto out;
	attest_decider_flush(s->decider);
	logf_("%s %s revoked by %s: %s", host ? "host" : "agent", name, who->name, reason);
	audited_ok(s, req, "{\"status\":\"revoked\"}", NULL);
out:
	if (r != ATTEST_OK)
		reply_err(s, req, status_of(r), r, "revocation refused");
	cJSON_Delete(in);
}

static void h_approve(struct vsrv *s, struct evhttp_request *req, const struct vcaller *who)
{
	static const char *const keys[] = {"agent", NULL};
	cJSON *in = NULL;
	const char *name;
	struct vagent a;
	int r;

	if ((r = body_json(req, 4096, keys, &in, NULL)) == ATTEST_OK &&
	    (r = attest_json_str(in, "agent", VSTORE_ID_MAX - 1, &name)) == ATTEST_OK &&
	    (r = s->store->ops->agent_get(s->store, name, &a)) == ATTEST_OK &&
	    (r = record_change(s, "approval", who, NULL, name, NULL)) == ATTEST_OK) {
		a.approved = 1;
		r = s->store->ops->agent_put(s->store, &a);
	}
	if (r == ATTEST_OK) {
		logf_("agent %s approved by %s", name, who->name);
		audited_ok(s, req, "{\"status\":\"approved\"}", NULL);
	} else {
		reply_err(s, req, status_of(r), r, "approval refused");
	}
	cJSON_Delete(in);
}

static void h_settings(struct vsrv *s, struct evhttp_request *req, const struct vcaller *who)
{
	static const char *const keys[] = {"approval_required", "scope_cap", NULL};
	cJSON *in = NULL, *o = NULL, *arr;
	const cJSON *ap, *cap;
	char capbuf[VSTORE_LIST_MAX], capval[VSTORE_LIST_MAX + 4];
	int r = ATTEST_OK;

	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
		if ((r = body_json(req, 16384, keys, &in, NULL)) != ATTEST_OK)
			goto out;
		ap = cJSON_GetObjectItemCaseSensitive(in, "approval_required");
		cap = cJSON_GetObjectItemCaseSensitive(in, "scope_cap");
		if (ap != NULL && !cJSON_IsBool(ap)) {
			r = attest_fail(ATTEST_E_PARSE, "approval_required is true or false");
			goto out;
		}
		/* null lifts the cap; a list (even empty) sets it */
		if (cap != NULL && !cJSON_IsNull(cap)) {
			if ((r = join_list(cap, capbuf, sizeof(capbuf))) != ATTEST_OK)
				goto out;
			(void)snprintf(capval, sizeof(capval), "on:%s", capbuf);
		} else {
			(void)snprintf(capval, sizeof(capval), "off");
		}
		{
			/* recorded before it takes effect */
			struct attest_audit_event ev = {.type = "settings", .outcome = "ok"};
			char what[VSTORE_LIST_MAX + 64];

			(void)snprintf(what, sizeof(what), "approval_required=%s scope_cap=%s",
				       ap == NULL ? "unchanged" : cJSON_IsTrue(ap) ? "1" : "0",
				       cap == NULL ? "unchanged" : capval);
			ev.source = who->name;
			ev.reason = what;
			if ((r = attest_audit_append_event(s->audit, &ev, NULL)) != ATTEST_OK)
				goto out;
		}
		if ((ap != NULL && (r = s->store->ops->setting_put(s->store, "approval_required",
								    cJSON_IsTrue(ap) ? "1" : "0")) !=
					   ATTEST_OK) ||
		    (cap != NULL &&
		     (r = s->store->ops->setting_put(s->store, "scope_cap", capval)) != ATTEST_OK) ||
		    (r = load_settings(s)) != ATTEST_OK)
			goto out;
		attest_decider_flush(s->decider);
		logf_("settings changed by %s: approval_required=%d scope_cap=%s%s%s", who->name,
		      s->approval_required, s->cap_on ? "[" : "none", s->scope_cap,
		      s->cap_on ? "]" : "");
	}
	if ((o = cJSON_CreateObject()) == NULL ||
	    cJSON_AddBoolToObject(o, "approval_required", s->approval_required) == NULL) {
		r = ATTEST_E_NOMEM;
		goto out;
	}
	if (!s->cap_on) {
		if (cJSON_AddNullToObject(o, "scope_cap") == NULL) {
			r = ATTEST_E_NOMEM;
			goto out;
		}
	} else {
		char buf[VSTORE_LIST_MAX];

		if ((arr = cJSON_AddArrayToObject(o, "scope_cap")) == NULL) {
			r = ATTEST_E_NOMEM;
			goto out;
		}
		(void)snprintf(buf, sizeof(buf), "%s", s->scope_cap);
		for (char *save = NULL, *w = strtok_r(buf, " ", &save); w != NULL;
		     w = strtok_r(NULL, " ", &save))
			cJSON_AddItemToArray(arr, cJSON_CreateString(w));
	}
	audited_reply(s, req, 200, o, NULL);
out:
	if (r != ATTEST_OK)
		reply_err(s, req, status_of(r), r, "settings refused");
	cJSON_Delete(in);
	cJSON_Delete(o);
}

static int list_refset(void *arg, const struct vrefset *rs)
{
	cJSON *arr = arg, *o = cJSON_CreateObject();

	if (o == NULL || !cJSON_AddItemToArray(arr, o))
		return ATTEST_E_NOMEM;
	cJSON_AddStringToObject(o, "name", rs->name);
	cJSON_AddBoolToObject(o, "active", rs->active);
	cJSON_AddNumberToObject(o, "added", (double)rs->added);
	return ATTEST_OK;
}

static void h_refsets(struct vsrv *s, struct evhttp_request *req, const struct vcaller *who,
		      int deactivate)
{
	static const char *const keys[] = {"jws", NULL};
	static const char *const dkeys[] = {"name", NULL};
	cJSON *in = NULL, *arr = NULL;
	const char *jws, *name;
	struct attest_refset *set = NULL;
	int r = ATTEST_OK;

	if (deactivate) {
		if ((r = body_json(req, 4096, dkeys, &in, NULL)) != ATTEST_OK ||
		    (r = attest_json_str(in, "name", VSTORE_NAME_MAX - 1, &name)) != ATTEST_OK ||
		    (r = record_change(s, "refset_retired", who, NULL, NULL, name)) != ATTEST_OK ||
		    (r = s->store->ops->refset_set_active(s->store, name, 0)) != ATTEST_OK ||
		    (r = load_refsets(s)) != ATTEST_OK)
			goto out;
		logf_("reference set %s retired by %s", name, who->name);
	} else if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
		if ((r = body_json(req, BODY_MAX, keys, &in, NULL)) != ATTEST_OK ||
		    (r = attest_json_str(in, "jws", BODY_MAX, &jws)) != ATTEST_OK ||
		    (r = attest_refset_verify(jws, strlen(jws), s->ops, s->nops, now_s(), &set)) !=
			    ATTEST_OK)
			goto out;
		if (s->nsets >= MAX_REFSETS) {
			r = attest_fail(ATTEST_E_TOO_LARGE, "%d reference sets are active; retire one first",
					MAX_REFSETS);
			goto out;
		}
		if ((r = record_change(s, "refset_activated", who, NULL, NULL,
				       attest_refset_name(set))) != ATTEST_OK ||
		    (r = s->store->ops->refset_put(s->store, attest_refset_name(set), jws, now_s())) !=
			    ATTEST_OK ||
		    (r = s->store->ops->refset_set_active(s->store, attest_refset_name(set), 1)) !=
			    ATTEST_OK ||
		    (r = load_refsets(s)) != ATTEST_OK)
			goto out;
		logf_("reference set %s (signed by %s) activated by %s", attest_refset_name(set),
		      attest_refset_kid(set), who->name);
	}
	if ((arr = cJSON_CreateArray()) == NULL ||
	    (r = s->store->ops->refset_list(s->store, 0, list_refset, arr)) != ATTEST_OK)
		goto out;
	audited_reply(s, req, 200, arr, NULL);
out:
	if (r != ATTEST_OK)
		reply_err(s, req, status_of(r), r, "reference set refused");
	attest_refset_free(set);
	cJSON_Delete(arr);
	cJSON_Delete(in);
}

static void h_reload(struct vsrv *s, struct evhttp_request *req, const struct vcaller *who)
{
	struct attest_audit_event ev = {.type = "policy_change", .outcome = "ok"};
	int r = load_policy(s);

	if (r != ATTEST_OK) {
		reply_err(s, req, 400, r, "policy reload refused (the running policy stays)");
		return;
	}
	ev.source = who->name;
	ev.reason = attest_policy_version(s->policy);
	audited_ok(s, req, "{\"status\":\"reloaded\"}", &ev);
}

/* ---- open ---- */

static int count_host(void *arg, const struct vhost *h)
{
	unsigned *n = arg;

	n[h->revoked ? 3 : h->state % 3]++;
	return ATTEST_OK;
}

static void h_health(struct vsrv *s, struct evhttp_request *req)
{
	unsigned n[4] = {0};
	cJSON *o = cJSON_CreateObject();
	int r = s->store->ops->host_list(s->store, count_host, n);

	if (o == NULL || r != ATTEST_OK) {
		reply_err(s, req, 500, r != ATTEST_OK ? r : ATTEST_E_NOMEM, "health");
		cJSON_Delete(o);
		return;
	}
	cJSON_AddStringToObject(o, "status", "ok");
	cJSON_AddStringToObject(o, "policy", s->policy ? attest_policy_version(s->policy) : "");
	cJSON_AddNumberToObject(o, "hosts", n[0] + n[1] + n[2] + n[3]);
	cJSON_AddNumberToObject(o, "hosts_trusted", n[1]);
	reply_obj(s, req, 200, o);
	cJSON_Delete(o);
}

static void h_metrics(struct vsrv *s, struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();
	unsigned n[4] = {0};
	static const char *const le[8] = {"0.00005", "0.0001", "0.00025", "0.0005",
					  "0.001",   "0.005",  "0.01",    "+Inf"};
	unsigned long cum = 0;

	if (b == NULL) {
		count_status(s, 500);
		attest_httpd_reply(req, 500, "{\"error\":\"ATTEST_E_NOMEM\",\"code\":2}", 33);
		return;
	}
	(void)s->store->ops->host_list(s->store, count_host, n);
	evbuffer_add_printf(b, "# TYPE attest_verifier_requests_total counter\n");
	for (int i = 1; i <= 5; i++)
		evbuffer_add_printf(b, "attest_verifier_requests_total{class=\"%dxx\"} %lu\n", i,
				    s->m.requests[i]);
	evbuffer_add_printf(b, "# TYPE attest_verifier_decisions_total counter\n"
			       "attest_verifier_decisions_total{decision=\"allow\"} %lu\n"
			       "attest_verifier_decisions_total{decision=\"deny\"} %lu\n",
			    s->m.decisions_allow, s->m.decisions_deny);
	evbuffer_add_printf(b, "# TYPE attest_verifier_reasons_total counter\n");
	for (int i = 0; i < ATTEST_E__COUNT; i++)
		if (s->m.reason[i])
			evbuffer_add_printf(b, "attest_verifier_reasons_total{reason=\"%s\"} %lu\n",
					    attest_errname(i), s->m.reason[i]);
	evbuffer_add_printf(b, "# TYPE attest_verifier_quotes_total counter\n"
			       "attest_verifier_quotes_total{result=\"good\"} %lu\n"
			       "attest_verifier_quotes_total{result=\"bad\"} %lu\n"
			       "# TYPE attest_verifier_reports_total counter\n"
			       "attest_verifier_reports_total %lu\n"
			       "# TYPE attest_verifier_refused_callers_total counter\n"
			       "attest_verifier_refused_callers_total %lu\n"
			       "# TYPE attest_verifier_rate_limited_total counter\n"
			       "attest_verifier_rate_limited_total %lu\n",
			    s->m.quotes_good, s->m.quotes_bad, s->m.reports, s->m.refused_callers,
			    s->m.rate_limited);
	evbuffer_add_printf(b, "# TYPE attest_verifier_hosts gauge\n"
			       "attest_verifier_hosts{state=\"new\"} %u\n"
			       "attest_verifier_hosts{state=\"trusted\"} %u\n"
			       "attest_verifier_hosts{state=\"untrusted\"} %u\n"
			       "attest_verifier_hosts{state=\"revoked\"} %u\n",
			    n[0], n[1], n[2], n[3]);
	evbuffer_add_printf(b, "# TYPE attest_verifier_decision_seconds histogram\n");
	for (int i = 0; i < 8; i++) {
		cum += s->m.lat_bucket[i];
		evbuffer_add_printf(b, "attest_verifier_decision_seconds_bucket{le=\"%s\"} %lu\n",
				    le[i], cum);
	}
	evbuffer_add_printf(b, "attest_verifier_decision_seconds_sum %.6f\n"
			       "attest_verifier_decision_seconds_count %lu\n",
			    s->m.lat_sum, cum);
	(void)evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
				"text/plain; version=0.0.4");
	count_status(s, 200);
	evhttp_send_reply(req, 200, NULL, b);
	evbuffer_free(b);
}

/* ---- routing ---- */

static void route(struct evhttp_request *req, void *arg)
{
	struct vsrv *s = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	int post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;
	struct vcaller who;
	enum role need = ROLE_HOST;
	int r;
	static const struct {
		const char *path;
		int post; /* 1 POST, 0 GET, 2 both */
		enum role role;
	} routes[] = {
		{"/v1/enrol/request", 1, ROLE_HOST},   {"/v1/enrol/response", 1, ROLE_HOST},
		{"/v1/hosts/nonce", 1, ROLE_HOST},     {"/v1/hosts/quote", 1, ROLE_HOST},
		{"/v1/agents/report", 1, ROLE_HOST},   {"/v1/decide", 1, ROLE_RESOURCE},
		{"/v1/hosts", 0, ROLE_ADMIN},          {"/v1/hosts/revoke", 1, ROLE_ADMIN},
		{"/v1/agents", 0, ROLE_ADMIN},         {"/v1/agents/revoke", 1, ROLE_ADMIN},
		{"/v1/agents/approve", 1, ROLE_ADMIN}, {"/v1/settings", 2, ROLE_ADMIN},
		{"/v1/refsets", 2, ROLE_ADMIN},        {"/v1/refsets/deactivate", 1, ROLE_ADMIN},
		{"/v1/policy/reload", 1, ROLE_ADMIN},  {"/v1/health", 0, ROLE_HOST},
		{"/metrics", 0, ROLE_HOST},            {"/v1/audit/checkpoint", 1, ROLE_HOST},
	};
	size_t i;

	if (!attest_httpd_is_tls(req)) {
		/* only if making a TLS connection failed and libevent fell back
		 * to a plain socket: never answer in clear text */
		evhttp_send_error(req, HTTP_BADREQUEST, NULL);
		return;
	}
	if (path == NULL)
		path = "";
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(routes[i].path, path) == 0 && (routes[i].post == 2 || routes[i].post == post))
			break;
	if (i == sizeof(routes) / sizeof(routes[0])) {
		(void)attest_fail(ATTEST_E_NOT_FOUND, "no such endpoint");
		reply_err(s, req, 404, ATTEST_E_NOT_FOUND, "unknown endpoint");
		return;
	}
	need = routes[i].role;
	if (need != ROLE_HOST) {
		if ((r = caller_of(s, req, need, &who)) != ATTEST_OK) {
			s->m.refused_callers++;
			reply_err(s, req, r == ATTEST_E_CALLER ? 403 : 500, r, "caller refused");
			return;
		}
		if (!rate_ok(s, who.name, s->cfg->rate_resource)) {
			s->m.rate_limited++;
			(void)attest_fail(ATTEST_E_RATE, "caller %s over its rate", who.name);
			(void)evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
			reply_err(s, req, 429, ATTEST_E_RATE, "rate limited");
			return;
		}
	} else if (!rate_ok(s, attest_httpd_peer_addr(req), s->cfg->rate_host)) {
		s->m.rate_limited++;
		(void)attest_fail(ATTEST_E_RATE, "address over its rate");
		(void)evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
		reply_err(s, req, 429, ATTEST_E_RATE, "rate limited");
		return;
	}
	attest_errclear();
	switch (i) {
	case 0: h_enrol(s, req, 0); break;
	case 1: h_enrol(s, req, 1); break;
	case 2: h_nonce(s, req); break;
	case 3: h_quote(s, req); break;
	case 4: h_report(s, req); break;
	case 5: h_decide(s, req, &who); break;
	case 6: h_list(s, req, 1); break;
	case 7: h_revoke(s, req, &who, 1); break;
	case 8: h_list(s, req, 0); break;
	case 9: h_revoke(s, req, &who, 0); break;
	case 10: h_approve(s, req, &who); break;
	case 11: h_settings(s, req, &who); break;
	case 12: h_refsets(s, req, &who, 0); break;
	case 13: h_refsets(s, req, &who, 1); break;
	case 14: h_reload(s, req, &who); break;
	case 15: h_health(s, req); break;
	case 16: h_metrics(s, req); break;
	default: h_checkpoint(s, req); break;
	}
}

/* ---- lifecycle ---- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct vsrv *s = arg;
	int r;

	(void)what;
	if (sig == SIGHUP) {
		if ((r = load_policy(s)) != ATTEST_OK)
			logf_("policy reload refused, the running policy stays: %s (%s)",
			      attest_errname(r), attest_errdetail());
		return;
	}
	logf_("stopping on signal %d", (int)sig);
	event_base_loopexit(s->base, NULL);
}

static int split_listen(const char *l, char *addr, size_t n, unsigned short *port)
{
	const char *c = strrchr(l, ':');
	char *end = NULL;
	unsigned long p;

	if (c == NULL || (size_t)(c - l) >= n || c == l)
		return attest_fail(ATTEST_E_INVALID_ARG, "--listen wants ADDR:PORT");
	memcpy(addr, l, (size_t)(c - l));
	addr[c - l] = '\0';
	errno = 0;
	p = strtoul(c + 1, &end, 10);
	if (errno != 0 || end == c + 1 || *end != '\0' || p > 65535)
		return attest_fail(ATTEST_E_INVALID_ARG, "--listen port");
	*port = (unsigned short)p;
	return ATTEST_OK;
}

int vf_serve(const struct vf_config *cfg)
{
	struct vsrv s;
	char addr[128], path[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], cacert[PATH_MAX];
	char auditdir[PATH_MAX];
	struct timeval ten = {10, 0};
	unsigned short port = 0;
	struct event *sigs[3] = {NULL, NULL, NULL};
	static const int signos[3] = {SIGTERM, SIGINT, SIGHUP};
	struct attest_httpd_opts ho;
	int r;

	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	signal(SIGPIPE, SIG_IGN);
	if ((r = split_listen(cfg->listen, addr, sizeof(addr), &port)) != ATTEST_OK)
		return r;
	(void)snprintf(s.policy_path, sizeof(s.policy_path), "%s",
		       cfg->policy != NULL ? cfg->policy : "");
	if (cfg->policy == NULL)
		(void)snprintf(s.policy_path, sizeof(s.policy_path), "%s/policy.json", cfg->state);
	(void)snprintf(path, sizeof(path), "%s/verifier.db", cfg->state);
	(void)snprintf(cert, sizeof(cert), "%s/tls/server.pem", cfg->state);
	(void)snprintf(key, sizeof(key), "%s/tls/server.key", cfg->state);
	(void)snprintf(cacert, sizeof(cacert), "%s/tls/ca.pem", cfg->state);
	if ((s.aks = calloc(AK_SLOTS, sizeof(*s.aks))) == NULL ||
	    (s.buckets = calloc(BUCKETS, sizeof(*s.buckets))) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "tables");
		goto out;
	}
	(void)snprintf(auditdir, sizeof(auditdir), "%s/audit", cfg->state);
	if ((s.pending = calloc(PENDING_MAX, sizeof(*s.pending))) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "pending replies");
		goto out;
	}
	if (cfg->tcti != NULL && (r = attest_tpm_open(cfg->tcti, &s.tpm)) != ATTEST_OK)
		goto out;
	if ((r = attest_audit_open(auditdir, NULL, &s.audit)) != ATTEST_OK ||
	    (r = vstore_sqlite_open(path, &s.store)) != ATTEST_OK ||
	    (r = attest_ca_open(cfg->ca_dir, &s.ca)) != ATTEST_OK ||
	    (r = attest_x509_load(attest_ca_root_path(s.ca), &s.root)) != ATTEST_OK ||
	    (r = attest_intent_trust_new(&s.trust)) != ATTEST_OK ||
	    (r = attest_intent_trust_set_root(s.trust, s.root)) != ATTEST_OK ||
	    (r = load_keys(cfg->state, "intent-issuers", add_issuer, &s)) != ATTEST_OK ||
	    (r = load_keys(cfg->state, "operators", add_operator, &s)) != ATTEST_OK ||
	    (r = load_settings(&s)) != ATTEST_OK || (r = load_refsets(&s)) != ATTEST_OK)
		goto out;
	s.facts.host = fact_host;
	s.facts.agent = fact_agent;
	s.facts.arg = &s;
	if ((r = attest_decider_new(s.root, s.trust, &s.facts, &s.decider)) != ATTEST_OK ||
	    (r = load_policy(&s)) != ATTEST_OK)
		goto out;
	if ((s.base = event_base_new()) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "event base");
		goto out;
	}
	memset(&ho, 0, sizeof(ho));
	ho.addr = addr;
	ho.port = port;
	ho.cert_file = cert;
	ho.key_file = key;
	ho.client_ca_file = cacert;
	ho.max_body = BODY_MAX;
	if ((r = attest_httpd_new(s.base, &ho, &s.httpd)) != ATTEST_OK)
		goto out;
	evhttp_set_gencb(attest_httpd_http(s.httpd), route, &s);
	if (s.tpm != NULL)
		checkpoint_own(&s);
	if ((s.commit_ev = event_new(s.base, -1, 0, commit_cb, &s)) == NULL ||
	    (s.flush_ev = event_new(s.base, -1, EV_PERSIST, flush_cb, &s)) == NULL ||
	    event_add(s.flush_ev, &ten) != 0) {
		r = attest_fail(ATTEST_E_NOMEM, "audit events");
		goto out;
	}
	for (int i = 0; i < 3; i++)
		if ((sigs[i] = evsignal_new(s.base, signos[i], on_signal, &s)) == NULL ||
		    event_add(sigs[i], NULL) != 0) {
			r = attest_fail(ATTEST_E_INTERNAL, "signal events");
			goto out;
		}
	if (cfg->port_file != NULL) {
		char pb[16];
		int n = snprintf(pb, sizeof(pb), "%u\n", attest_httpd_port(s.httpd));

		if ((r = attest_file_write_atomic(cfg->port_file, pb, (size_t)n, 0644)) != ATTEST_OK)
			goto out;
	}
	logf_("listening on https://%s:%u (fleet CA %s, %zu intent issuers loaded, %zu operator "
	      "keys, %zu reference sets active)",
	      addr, attest_httpd_port(s.httpd), cfg->ca_dir, s.nissuers, s.nops, s.nsets);
	if (event_base_dispatch(s.base) != 0) {
		r = attest_fail(ATTEST_E_INTERNAL, "event loop failed");
		goto out;
	}
	r = ATTEST_OK;
out:
	if (s.npending > 0)
		send_pending(&s, attest_audit_sync(s.audit) == ATTEST_OK);
	if (s.audit != NULL && attest_audit_refusal_flush(s.audit, (uint64_t)time(NULL), 1) != ATTEST_OK)
		logf_("audit: refusal aggregates not written: %s", attest_errdetail());
	if (s.tpm != NULL && s.audit != NULL && attest_audit_size(s.audit) > 0)
		checkpoint_own(&s);
	attest_audit_close(s.audit);
	attest_tpm_close(s.tpm);
	free(s.pending);
	if (s.commit_ev != NULL)
		event_free(s.commit_ev);
	if (s.flush_ev != NULL)
		event_free(s.flush_ev);
	for (int i = 0; i < 3; i++)
		if (sigs[i] != NULL)
			event_free(sigs[i]);
	attest_httpd_free(s.httpd);
	if (s.base != NULL)
		event_base_free(s.base);
	attest_decider_free(s.decider);
	attest_policy_free(s.policy);
	for (size_t i = 0; i < s.nsets; i++)
		attest_refset_free(s.sets[i]);
	for (size_t i = 0; i < s.nops; i++)
		EVP_PKEY_free(s.ops[i].key);
	attest_intent_trust_free(s.trust);
	X509_free(s.root);
	attest_ca_close(s.ca);
	vstore_close(s.store);
	free(s.aks);
	free(s.buckets);
	return r;
}
