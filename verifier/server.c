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
#include <strings.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>

#include "decide/agentev.h"
#include "audit/merkle.h"
#include "audit/audit.h"
#include "attest/decide.h"
#include "attest/intent.h"
#include "attest/policy.h"
#include "enrol/enrol.h"
#include "core/err.h"
#include "core/fileio.h"
#include "net/httpd.h"
#include "core/json.h"
#include "attestation/quote.h"
#include "attestation/refset.h"
#include "server.h"
#include "store.h"
#include "tlsca.h"
#include "tpm/tpm.h"
#include "x509/x509.h"
#include "x509/x509agent.h"
#include "vsrv.h"

/* ---- small helpers ---- */

/* A reply body fixed at build time, with its length counted by the
 * compiler (hand-counted lengths cut or overran these). */
#define FIXED_JSON(lit) (lit), (sizeof(lit) - 1)

int64_t vs_now(void)
{
	return (int64_t)time(NULL);
}

double vs_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void vs_log(const char *fmt, ...)
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

/* Lines about what a peer did (refusals, failures on a peer's request):
 * at most LOG_BURST a flush interval; the rest are counted by reason and
 * summed up in one line by vs_log_interval. */
void vs_log_limited(struct vsrv *s, int code, const char *fmt, ...)
{
	va_list ap;
	char line[512];

	if (s->lr.lines >= LOG_BURST) {
		s->lr.suppressed++;
		s->lr.by_reason[code >= 0 && code < ATTEST_E__COUNT ? code : ATTEST_E_INTERNAL]++;
		return;
	}
	s->lr.lines++;
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	vs_log("%s", line);
}

/* Once a flush interval: the lines held back, the decisions made (they
 * are in the audit log, one record each; stderr gets their count), and
 * what the connection limits did. */
static void vs_log_interval(struct vsrv *s)
{
	struct attest_httpd_stats st;

	if (s->lr.suppressed > 0) {
		char buf[400];
		size_t used = 0;

		buf[0] = '\0';
		for (int i = 0; i < ATTEST_E__COUNT && used < sizeof(buf) - 64; i++) {
			int n;

			if (s->lr.by_reason[i] == 0)
				continue;
			n = snprintf(buf + used, sizeof(buf) - used, " %s=%lu", attest_errname(i),
				     s->lr.by_reason[i]);
			if (n < 0 || (size_t)n >= sizeof(buf) - used)
				break;
			used += (size_t)n;
		}
		vs_log("%lu more refusal lines not written in this interval:%s", s->lr.suppressed, buf);
	}
	if (s->lr.allow + s->lr.deny > 0)
		vs_log("decisions in this interval: %lu allow, %lu deny (each in the audit log)",
		       s->lr.allow, s->lr.deny);
	if (s->httpd != NULL) {
		attest_httpd_get_stats(s->httpd, &st);
		if (st.refused_full != s->lr.conn.refused_full ||
		    st.refused_source != s->lr.conn.refused_source ||
		    st.deadline_closed != s->lr.conn.deadline_closed ||
		    st.evicted != s->lr.conn.evicted)
			vs_log("connections in this interval: %lu refused (full), %lu refused (per-source "
			       "cap), %lu shut (request deadline), %lu shut to make room; %u open, %u "
			       "unauthenticated",
			       st.refused_full - s->lr.conn.refused_full,
			       st.refused_source - s->lr.conn.refused_source,
			       st.deadline_closed - s->lr.conn.deadline_closed,
			       st.evicted - s->lr.conn.evicted, st.conns, st.unauth);
		s->lr.conn = st;
	}
	memset(s->lr.by_reason, 0, sizeof(s->lr.by_reason));
	s->lr.suppressed = 0;
	s->lr.lines = 0;
	s->lr.allow = s->lr.deny = 0;
}

void vs_count_status(struct vsrv *s, int status)
{
	int c = status / 100;

	s->m.requests[c >= 1 && c <= 5 ? c : 0]++;
}

void vs_reply_obj(struct vsrv *s, struct evhttp_request *req, int status, cJSON *o)
{
	char *txt = o != NULL ? cJSON_PrintUnformatted(o) : NULL;

	vs_count_status(s, status);
	if (txt == NULL) {
		attest_httpd_reply(req, 500, FIXED_JSON("{\"error\":\"ATTEST_E_NOMEM\",\"code\":2}"));
		return;
	}
	attest_httpd_reply(req, status, txt, strlen(txt));
	cJSON_free(txt);
}

/* Error reply: the code's name and static text; detail goes to the log. */
void vs_reply_err(struct vsrv *s, struct evhttp_request *req, int status, int code,
		      const char *what)
{
	cJSON *o = cJSON_CreateObject();

	vs_log_limited(s, code, "%s %.200s from %s: %s (%s)", what, evhttp_request_get_uri(req),
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
			vs_log_limited(s, ATTEST_E_IO, "audit refusal not recorded: %s",
				       attest_errdetail());
	}
	if (code >= 0 && code < ATTEST_E__COUNT)
		s->m.reason[code]++;
	if (o != NULL) {
		cJSON_AddStringToObject(o, "error", attest_errname(code));
		cJSON_AddNumberToObject(o, "code", code);
		cJSON_AddStringToObject(o, "message", attest_strerror(code));
	}
	vs_reply_obj(s, req, status, o);
	cJSON_Delete(o);
}

/* ---- audit: records are appended as requests are handled; replies that
 * depend on them wait for one fdatasync per loop turn (group commit) ---- */

static void send_pending(struct vsrv *s, int ok)
{
	for (size_t i = 0; i < s->npending; i++) {
		struct pending *p = &s->pending[i];

		if (ok) {
			vs_count_status(s, p->status);
			attest_httpd_reply(p->req, p->status, p->body, strlen(p->body));
		} else {
			vs_count_status(s, 500);
			attest_httpd_reply(p->req, 500,
					   FIXED_JSON("{\"error\":\"ATTEST_E_IO\",\"code\":4,"
						      "\"message\":\"audit log write failed\"}"));
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
		vs_log_limited(s, r, "audit sync failed, %zu replies become errors: %s (%s)",
			       s->npending, attest_errname(r), attest_errdetail());
	send_pending(s, r == ATTEST_OK);
}

/* Record ev (NULL: records appended already), then reply o once the log
 * is durable. If the record cannot be written the caller gets 500 and
 * nothing is acknowledged. */
void vs_audited_reply(struct vsrv *s, struct evhttp_request *req, int status, cJSON *o,
			  const struct attest_audit_event *ev)
{
	vs_audited_text(s, req, status, o != NULL ? cJSON_PrintUnformatted(o) : NULL, ev);
}

/* As vs_audited_reply, with the body as text (taken over: cJSON_free'd). */
void vs_audited_text(struct vsrv *s, struct evhttp_request *req, int status, char *body,
			 const struct attest_audit_event *ev)
{
	int r;

	if (body == NULL || s->npending >= PENDING_MAX) {
		cJSON_free(body);
		vs_count_status(s, 503);
		attest_httpd_reply(req, 503, FIXED_JSON("{\"error\":\"ATTEST_E_BUSY\",\"code\":51}"));
		return;
	}
	if (ev != NULL && (r = attest_audit_append_event(s->audit, ev, NULL)) != ATTEST_OK) {
		vs_log_limited(s, r, "audit append failed: %s (%s)", attest_errname(r),
			       attest_errdetail());
		cJSON_free(body);
		vs_count_status(s, 500);
		attest_httpd_reply(req, 500, FIXED_JSON("{\"error\":\"ATTEST_E_IO\",\"code\":4}"));
		return;
	}
	s->pending[s->npending].req = req;
	s->pending[s->npending].status = status;
	s->pending[s->npending].body = body;
	if (s->npending++ == 0)
		event_active(s->commit_ev, 0, 0);
}

/* The record of a state change, durable before the change is made (audit
 * first: a change the log does not hold never happens). One fdatasync per
 * change; decisions, which change nothing, keep the group commit. */
int vs_audit_durable(struct vsrv *s, const struct attest_audit_event *ev)
{
	int r;

	if ((r = attest_audit_append_event(s->audit, ev, NULL)) != ATTEST_OK ||
	    (r = attest_audit_sync(s->audit)) != ATTEST_OK)
		vs_log_limited(s, r, "audit record of a change not durable, the change is not made: "
			       "%s (%s)", attest_errname(r), attest_errdetail());
	return r;
}

/* A change made by an operator or a host, recorded before it is answered. */
void vs_audited_ok(struct vsrv *s, struct evhttp_request *req, const char *body,
		       const struct attest_audit_event *ev)
{
	cJSON *o = cJSON_Parse(body);

	vs_audited_reply(s, req, 200, o, ev);
	cJSON_Delete(o);
}

/* The verifier's own log, on a host with a TPM: NV counter + NV_Certify
 * by that TPM's AK, like attestd's (docs/audit.md). */
static void checkpoint_own(struct vsrv *s)
{
	struct attest_audit_ckpt c;
	int r = attest_audit_checkpoint(s->audit, s->tpm, &c);

	if (r != ATTEST_OK)
		vs_log("audit checkpoint failed: %s (%s)", attest_errname(r), attest_errdetail());
	else
		vs_log("audit checkpoint: counter %llu, %llu records", (unsigned long long)c.counter,
		      (unsigned long long)c.size);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct vsrv *s = arg;
	int r;

	(void)fd, (void)what;
	vs_log_interval(s);
	if ((r = attest_audit_refusal_flush(s->audit, (uint64_t)time(NULL), 0)) != ATTEST_OK ||
	    (r = attest_audit_sync(s->audit)) != ATTEST_OK)
		vs_log("audit refusal flush failed: %s (%s)", attest_errname(r), attest_errdetail());
	if (s->tpm != NULL && attest_audit_checkpoint_due(s->audit, (uint64_t)time(NULL)))
		checkpoint_own(s);
}

int vs_status_of(int code)
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
	case ATTEST_E_STORE_DAMAGED:
		return 500;
	default:
		return 403;
	}
}

int vs_body_json(struct evhttp_request *req, size_t cap, const char *const *keys,
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

const char *vs_opt_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* SipHash-2-4 under the per-process key: picks a table slot (rate
 * buckets, CA records). Keyed, so a peer cannot choose keys that collide;
 * the tables still compare whole keys. */
int vs_keyed_hash(struct vsrv *s, const void *data, size_t len, uint64_t *out)
{
	EVP_MAC_CTX *c = EVP_MAC_CTX_dup(s->sip);
	uint8_t md[8];
	size_t mdlen = 0;
	int r = ATTEST_OK;

	if (c == NULL || EVP_MAC_update(c, data, len) != 1 ||
	    EVP_MAC_final(c, md, &mdlen, sizeof(md)) != 1 || mdlen != sizeof(md))
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "siphash");
	else
		memcpy(out, md, sizeof(md));
	EVP_MAC_CTX_free(c);
	return r;
}

static int keyed_init(struct vsrv *s)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
	uint8_t key[16];
	size_t size = 8;
	OSSL_PARAM params[2];
	int r = ATTEST_OK;

	params[0] = OSSL_PARAM_construct_size_t("size", &size);
	params[1] = OSSL_PARAM_construct_end();
	if (RAND_bytes(key, sizeof(key)) != 1 ||
	    RAND_bytes(s->nonce_key, sizeof(s->nonce_key)) != 1 || mac == NULL ||
	    (s->sip = EVP_MAC_CTX_new(mac)) == NULL ||
	    EVP_MAC_init(s->sip, key, sizeof(key), params) != 1)
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "per-process hash and nonce keys");
	OPENSSL_cleanse(key, sizeof(key));
	EVP_MAC_free(mac);
	return r;
}

/* ---- rate limits: token buckets keyed by caller or address ---- */

/* A bucket that would be full again now holds no state worth keeping. */
static int bucket_idle(const struct bucket *b, double t)
{
	return b->key[0] == '\0' || b->tokens + (t - b->last) * b->rate >= b->rate * 2;
}

static int rate_ok(struct vsrv *s, const char *key, long per_s)
{
	struct bucket *b = NULL, *spare = NULL;
	size_t klen = strlen(key);
	double t = vs_mono();
	uint64_t h;

	/* a key too long to keep whole, or a hash failure: refused */
	if (klen == 0 || klen >= sizeof(b->key) || vs_keyed_hash(s, key, klen, &h) != ATTEST_OK)
		return 0;
	for (unsigned i = 0; i < BUCKET_PROBE && b == NULL; i++) {
		struct bucket *c = &s->buckets[(h + i) % BUCKETS];

		if (c->key[0] != '\0' && strcmp(c->key, key) == 0)
			b = c;
		else if (spare == NULL && bucket_idle(c, t))
			spare = c;
	}
	if (b == NULL) {
		/* every slot of the probe window holds a key still limited:
		 * refused rather than sharing or resetting anyone's bucket */
		if (spare == NULL)
			return 0;
		b = spare;
		memcpy(b->key, key, klen + 1);
		b->tokens = (double)per_s * 2;
		b->last = t;
	}
	b->rate = (double)per_s;
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
	attest_hex(md, sizeof(md), want);
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
		vs_log("host %s has a new AK: attestation state starts over", host);
	} else if (r != ATTEST_E_NOT_FOUND) {
		return r;
	}
	attest_decider_flush(s->decider);
	return s->store->ops->setting_put(s->store, key, want);
}

int vs_host_record(struct vsrv *s, const char *host, struct ak_entry **out)
{
	struct ak_entry *e;
	TPM2B_PUBLIC ak;
	char path[PATH_MAX];
	struct stat st;
	size_t off = 0;
	uint64_t slot;
	int r;

	if ((r = vs_keyed_hash(s, host, strlen(host), &slot)) != ATTEST_OK)
		return r;
	e = &s->aks[slot % AK_SLOTS];

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
int vs_host_row(struct vsrv *s, const char *host, struct vhost *h)
{
	struct ak_entry *e;
	int r = s->store->ops->host_get(s->store, host, h);

	if (r != ATTEST_E_NOT_FOUND)
		return r;
	if ((r = vs_host_record(s, host, &e)) != ATTEST_OK)
		return r;
	memset(h, 0, sizeof(*h));
	(void)snprintf(h->name, sizeof(h->name), "%s", host);
	h->state = VHOST_NEW;
	return s->store->ops->host_put(s->store, h);
}

/* Revocation stops every host endpoint: refused when the store says the
 * host is revoked (a host without a row yet is not). */
int vs_host_not_revoked(struct vsrv *s, const char *host)
{
	struct vhost h;
	int r = s->store->ops->host_get(s->store, host, &h);

	if (r == ATTEST_E_NOT_FOUND)
		return ATTEST_OK;
	if (r != ATTEST_OK)
		return r;
	return h.revoked ? attest_fail(ATTEST_E_REVOKED, "host %s is revoked", host) : ATTEST_OK;
}

/* ---- facts for the decider ---- */

static int fact_host(void *arg, const char *host, struct attest_host_facts *out)
{
	struct vsrv *s = arg;
	struct ak_entry *e;
	int r;

	/* the CA record first: a changed AK resets the host's row */
	if ((r = vs_host_record(s, host, &e)) != ATTEST_OK)
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

		if (s->cap_on && !attest_scopes_has(s->scope_cap, w))
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

int vs_load_settings(struct vsrv *s)
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
		vs_log("reference set %s not used: over %d active sets", rs->name, MAX_REFSETS);
		return ATTEST_OK;
	}
	r = attest_refset_verify(rs->jws, strlen(rs->jws), s->ops, s->nops, vs_now(), &set);
	if (r != ATTEST_OK) {
		vs_log("reference set %s not used: %s (%s)", rs->name, attest_errname(r),
		      attest_errdetail());
		return ATTEST_OK; /* an expired set drops out; the others stay */
	}
	s->sets[s->nsets++] = set;
	return ATTEST_OK;
}

int vs_load_refsets(struct vsrv *s)
{
	for (size_t i = 0; i < s->nsets; i++)
		attest_refset_free(s->sets[i]);
	s->nsets = 0;
	return s->store->ops->refset_list(s->store, 1, refset_cb, s);
}

/* The policy file parsed (nothing installed). */
int vs_parse_policy(struct vsrv *s, struct attest_policy **out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = attest_file_read(s->policy_path, ATTEST_POLICY_MAX_BYTES, &buf, &len)) != ATTEST_OK)
		return r;
	r = attest_policy_load((const char *)buf, len, out);
	free(buf);
	return r;
}

/* p becomes the running policy (taken over). */
void vs_install_policy(struct vsrv *s, struct attest_policy *p)
{
	attest_decider_set_policy(s->decider, p);
	attest_policy_free(s->policy);
	s->policy = p;
	vs_log("policy %s loaded: %zu rules, version %s", s->policy_path,
	      attest_policy_rule_count(p), attest_policy_version(p));
}

int vs_load_policy(struct vsrv *s)
{
	struct attest_policy *p = NULL;
	int r = vs_parse_policy(s, &p);

	if (r == ATTEST_OK)
		vs_install_policy(s, p);
	return r;
}

/* ---- routing ---- */

/* The request line and headers within HEADERS_MAX (evhttp's own cap is a
 * ceiling above it, so that this one answers in JSON with 431). */
static int request_shape(struct evhttp_request *req)
{
	const struct evkeyvalq *hd = evhttp_request_get_input_headers(req);
	const struct evkeyval *kv;
	const char *uri = evhttp_request_get_uri(req);
	size_t n = uri != NULL ? strlen(uri) + 16 : 16;

	for (kv = hd->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
		n += strlen(kv->key) + strlen(kv->value) + 4;
		if (n > HEADERS_MAX)
			return attest_fail(ATTEST_E_HTTP_HEADERS_TOO_LARGE,
					   "request headers over %d bytes", HEADERS_MAX);
	}
	return n > HEADERS_MAX ? attest_fail(ATTEST_E_HTTP_HEADERS_TOO_LARGE,
					     "request headers over %d bytes", HEADERS_MAX)
			       : ATTEST_OK;
}

/* Content-Type application/json, with parameters allowed
 * ("application/json; charset=utf-8"). */
static int json_body(struct evhttp_request *req)
{
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	static const char want[] = "application/json";

	if (ct == NULL || strncasecmp(ct, want, sizeof(want) - 1) != 0)
		return 0;
	ct += sizeof(want) - 1;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* The API: method, path, who may call, body cap, handler (and its variant).
 * docs/verifier-api.md describes each; nothing else routes. */
static const struct vroute routes[] = {
	{"/v1/enrol/request", VR_POST, ROLE_HOST, ATTEST_ENROL_MSG_CAP, vs_enrol, 0},
	{"/v1/enrol/response", VR_POST, ROLE_HOST, ATTEST_ENROL_MSG_CAP, vs_enrol, 1},
	{"/v1/hosts/nonce", VR_POST, ROLE_HOST, 4096, vs_nonce, 0},
	{"/v1/hosts/quote", VR_POST, ROLE_HOST, BODY_MAX, vs_quote, 0},
	{"/v1/agents/report", VR_POST, ROLE_HOST, BODY_MAX, vs_report, 0},
	{"/v1/audit/checkpoint", VR_POST, ROLE_HOST, 64 * 1024, vs_checkpoint, 0},
	{"/v1/decide", VR_POST, ROLE_RESOURCE, DECIDE_BODY_MAX, vs_decide, 0},
	{"/v1/hosts", VR_GET, ROLE_ADMIN, 0, vs_list, 1},
	{"/v1/hosts/revoke", VR_POST, ROLE_ADMIN, 4096, vs_revoke, 1},
	{"/v1/agents", VR_GET, ROLE_ADMIN, 0, vs_list, 0},
	{"/v1/agents/revoke", VR_POST, ROLE_ADMIN, 4096, vs_revoke, 0},
	{"/v1/agents/approve", VR_POST, ROLE_ADMIN, 4096, vs_approve, 0},
	{"/v1/settings", VR_GET | VR_POST, ROLE_ADMIN, 16384, vs_settings, 0},
	{"/v1/refsets", VR_GET | VR_POST, ROLE_ADMIN, BODY_MAX, vs_refsets, 0},
	{"/v1/refsets/deactivate", VR_POST, ROLE_ADMIN, 4096, vs_refsets, 1},
	{"/v1/policy/reload", VR_POST, ROLE_ADMIN, 4096, vs_reload, 0},
	{"/v1/health", VR_GET, ROLE_HOST, 0, vs_health, 0},
	{"/metrics", VR_GET, ROLE_HOST, 0, vs_metrics, 0},
};

static void route(struct evhttp_request *req, void *arg)
{
	struct vsrv *s = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	int post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;
	int get = evhttp_request_get_command(req) == EVHTTP_REQ_GET;
	unsigned method = post ? VR_POST : get ? VR_GET : 0;
	const struct vroute *rt = NULL;
	const char *known = NULL;
	struct vcaller who;
	int r;
	size_t i;

	if (!attest_httpd_is_tls(req)) {
		/* only if making a TLS connection failed and libevent fell back
		 * to a plain socket: never answer in clear text */
		evhttp_send_error(req, HTTP_BADREQUEST, NULL);
		return;
	}
	if (path == NULL)
		path = "";
	if ((r = request_shape(req)) != ATTEST_OK) {
		vs_reply_err(s, req, r == ATTEST_E_HTTP_HEADERS_TOO_LARGE ? 431 : 400, r,
			     "request refused");
		return;
	}
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(routes[i].path, path) != 0)
			continue;
		known = routes[i].methods == (VR_GET | VR_POST) ? "GET, POST"
			: routes[i].methods == VR_POST	       ? "POST"
							       : "GET";
		if (routes[i].methods & method)
			rt = &routes[i];
		break; /* one entry per path */
	}
	if (rt == NULL) {
		if (known != NULL) {
			(void)attest_fail(ATTEST_E_HTTP_METHOD, "%s takes %s", path, known);
			(void)evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", known);
			vs_reply_err(s, req, 405, ATTEST_E_HTTP_METHOD, "method refused");
		} else {
			(void)attest_fail(ATTEST_E_NOT_FOUND, "no such endpoint");
			vs_reply_err(s, req, 404, ATTEST_E_NOT_FOUND, "unknown endpoint");
		}
		return;
	}
	if (post && !json_body(req)) {
		(void)attest_fail(ATTEST_E_HTTP_MEDIA_TYPE, "Content-Type is not application/json");
		vs_reply_err(s, req, 415, ATTEST_E_HTTP_MEDIA_TYPE, "request refused");
		return;
	}
	if (rt->role != ROLE_HOST) {
		if ((r = caller_of(s, req, rt->role, &who)) != ATTEST_OK) {
			s->m.refused_callers++;
			vs_reply_err(s, req, r == ATTEST_E_CALLER ? 403 : 500, r, "caller refused");
			return;
		}
		if (!rate_ok(s, who.name, s->cfg->rate_resource)) {
			s->m.rate_limited++;
			(void)attest_fail(ATTEST_E_RATE, "caller %s over its rate", who.name);
			(void)evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
			vs_reply_err(s, req, 429, ATTEST_E_RATE, "rate limited");
			return;
		}
	} else if (!rate_ok(s, attest_httpd_peer_addr(req), s->cfg->rate_host)) {
		s->m.rate_limited++;
		(void)attest_fail(ATTEST_E_RATE, "address over its rate");
		(void)evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
		vs_reply_err(s, req, 429, ATTEST_E_RATE, "rate limited");
		return;
	}
	attest_errclear();
	rt->fn(s, req, rt, rt->role == ROLE_HOST ? NULL : &who);
}

/* ---- lifecycle ---- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct vsrv *s = arg;
	int r;

	(void)what;
	if (sig == SIGHUP) {
		if ((r = vs_load_policy(s)) != ATTEST_OK)
			vs_log("policy reload refused, the running policy stays: %s (%s)",
			      attest_errname(r), attest_errdetail());
		return;
	}
	vs_log("stopping on signal %d", (int)sig);
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
	int lock_fd = -1;
	struct event *sigs[3] = {NULL, NULL, NULL};
	static const int signos[3] = {SIGTERM, SIGINT, SIGHUP};
	struct attest_httpd_opts ho;
	int r;

	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	signal(SIGPIPE, SIG_IGN);
	if ((r = split_listen(cfg->listen, addr, sizeof(addr), &port)) != ATTEST_OK)
		return r;
	/* One serving process per state: two would each keep their own nonces
	 * and rate limits and both append to STATE/audit. */
	(void)snprintf(path, sizeof(path), "%s/verifier.lock", cfg->state);
	if ((r = attest_lock_file(path, &lock_fd)) != ATTEST_OK)
		return r;
	(void)snprintf(s.policy_path, sizeof(s.policy_path), "%s",
		       cfg->policy != NULL ? cfg->policy : "");
	if (cfg->policy == NULL)
		(void)snprintf(s.policy_path, sizeof(s.policy_path), "%s/policy.json", cfg->state);
	(void)snprintf(path, sizeof(path), "%s/verifier.db", cfg->state);
	(void)snprintf(cert, sizeof(cert), "%s/tls/server.pem", cfg->state);
	(void)snprintf(key, sizeof(key), "%s/tls/server.key", cfg->state);
	(void)snprintf(cacert, sizeof(cacert), "%s/tls/ca.pem", cfg->state);
	if ((r = keyed_init(&s)) != ATTEST_OK)
		goto out;
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
	if ((r = attest_audit_open(auditdir, NULL, &s.audit)) != ATTEST_OK)
		goto out;
	{
		uint64_t tl = 0, tc = 0, seg = 0;

		attest_audit_torn(s.audit, &tl, &tc, &seg);
		if (tl > 0 || tc > 0)
			vs_log("audit: cut a torn tail at start: %llu bytes of seg-%016llx.log and "
			       "%llu bytes of its .ckpt in %s (an append a crash interrupted)",
			       (unsigned long long)tl, (unsigned long long)seg,
			       (unsigned long long)tc, auditdir);
	}
	if ((r = vstore_sqlite_open_existing(path, &s.store)) != ATTEST_OK ||
	    (r = attest_ca_open(cfg->ca_dir, &s.ca)) != ATTEST_OK ||
	    (r = attest_x509_load(attest_ca_root_path(s.ca), &s.root)) != ATTEST_OK ||
	    (r = attest_intent_trust_new(&s.trust)) != ATTEST_OK ||
	    (r = attest_intent_trust_set_root(s.trust, s.root)) != ATTEST_OK ||
	    (r = load_keys(cfg->state, "intent-issuers", add_issuer, &s)) != ATTEST_OK ||
	    (r = load_keys(cfg->state, "operators", add_operator, &s)) != ATTEST_OK ||
	    (r = vs_load_settings(&s)) != ATTEST_OK || (r = vs_load_refsets(&s)) != ATTEST_OK)
		goto out;
	s.facts.host = fact_host;
	s.facts.agent = fact_agent;
	s.facts.arg = &s;
	if ((r = attest_decider_new(s.root, s.trust, &s.facts, &s.decider)) != ATTEST_OK ||
	    (r = vs_load_policy(&s)) != ATTEST_OK)
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
	/* evhttp's caps are ceilings over the API's (BODY_MAX, HEADERS_MAX),
	 * so that requests between the two get the API's JSON 413 and 431;
	 * over a ceiling libevent 2.1 answers with its own page and closes
	 * (docs/verifier-api.md "Errors") */
	ho.max_body = EVHTTP_BODY_CEILING;
	ho.max_headers = EVHTTP_HEADERS_CEILING;
	ho.deadline_s = cfg->request_deadline;
	ho.max_conns = cfg->max_conns;
	ho.per_source = cfg->per_source;
	if ((r = attest_httpd_new(s.base, &ho, &s.httpd)) != ATTEST_OK)
		goto out;
	attest_httpd_set_handler(s.httpd, route, &s);
	/* every method reaches route(), which answers 405 in JSON */
	evhttp_set_allowed_methods(attest_httpd_http(s.httpd),
				   EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
					   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
					   EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
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
	vs_log("listening on https://%s:%u (fleet CA %s, %zu intent issuers loaded, %zu operator "
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
		vs_log("audit: refusal aggregates not written: %s", attest_errdetail());
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
	EVP_MAC_CTX_free(s.sip);
	OPENSSL_cleanse(s.nonce_key, sizeof(s.nonce_key));
	if (lock_fd >= 0)
		close(lock_fd);
	return r;
}
