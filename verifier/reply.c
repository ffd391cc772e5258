/* reply.c - what every handler answers with: JSON replies and errors,
 * request bodies, logging with bounds, and the audit-first record with its
 * group commit (replies held until their records are durable). Below the
 * handlers and the router: it calls neither. */
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
#include "journal.h"
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

/* One event, one line: bytes a peer chose (a host name, a path) are shown
 * escaped, so no one can start a line of their own, nor, under journald, a
 * line with a priority of their choosing. */
static void vs_emit(int prio, const char *line)
{
	journal_line(prio, "attest-verifier", line); /* one write per line */
}

static void vs_vlog(int prio, const char *fmt, va_list ap)
{
	char line[2048];

	(void)vsnprintf(line, sizeof(line), fmt, ap);
	vs_emit(prio, line);
}

void vs_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vs_vlog(JOURNAL_INFO, fmt, ap);
	va_end(ap);
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
	vs_emit(JOURNAL_NOTICE, line); /* what a peer did: notice */
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
 * depend on them wait for the sync thread (audit/auditsync.h): fdatasync
 * runs off the loop, which keeps serving; each reply goes out once the
 * batch holding its record is durable (group commit, the batch is what
 * arrived during the sync before it) ---- */

static void pending_done(void *arg, int code)
{
	struct pending *p = arg;
	struct vsrv *s = p->s;

	if (code == ATTEST_OK) {
		vs_count_status(s, p->status);
		attest_httpd_reply(p->req, p->status, p->body, strlen(p->body));
	} else {
		vs_count_status(s, 500);
		attest_httpd_reply(p->req, 500,
				   FIXED_JSON("{\"error\":\"ATTEST_E_IO\",\"code\":4,"
					      "\"message\":\"audit log write failed\"}"));
	}
	cJSON_free(p->body);
	free(p);
	s->npending--;
}

void vs_sync_cb(evutil_socket_t fd, short what, void *arg)
{
	struct vsrv *s = arg;
	size_t waiting = s->npending;
	int r = attest_audit_syncer_reap(s->syncer);

	(void)fd, (void)what;
	if (r != ATTEST_OK)
		vs_log_limited(s, r, "audit sync failed, %zu replies became errors: %s (%s)",
			       waiting - s->npending, attest_errname(r), attest_errdetail());
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
	struct pending *p = NULL;
	int r;

	if (body == NULL || s->npending >= PENDING_MAX || (p = malloc(sizeof(*p))) == NULL) {
		cJSON_free(body);
		vs_count_status(s, 503);
		attest_httpd_reply(req, 503, FIXED_JSON("{\"error\":\"ATTEST_E_BUSY\",\"code\":51}"));
		return;
	}
	if (ev != NULL && (r = attest_audit_append_event(s->audit, ev, NULL)) != ATTEST_OK) {
		vs_log_limited(s, r, "audit append failed: %s (%s)", attest_errname(r),
			       attest_errdetail());
		cJSON_free(body);
		free(p);
		vs_count_status(s, 500);
		attest_httpd_reply(req, 500, FIXED_JSON("{\"error\":\"ATTEST_E_IO\",\"code\":4}"));
		return;
	}
	*p = (struct pending){ s, req, status, body };
	s->npending++;
	if (attest_audit_syncer_wait(s->syncer, pending_done, p) != ATTEST_OK) {
		s->npending--;
		cJSON_free(body);
		free(p);
		vs_count_status(s, 503);
		attest_httpd_reply(req, 503, FIXED_JSON("{\"error\":\"ATTEST_E_BUSY\",\"code\":51}"));
	}
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
void vs_checkpoint_own(struct vsrv *s)
{
	struct attest_audit_ckpt c;
	int r = attest_audit_checkpoint(s->audit, s->tpm, &c);

	if (r != ATTEST_OK)
		vs_log("audit checkpoint failed: %s (%s)", attest_errname(r), attest_errdetail());
	else
		vs_log("audit checkpoint: counter %llu, %llu records", (unsigned long long)c.counter,
		      (unsigned long long)c.size);
}

void vs_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct vsrv *s = arg;
	int r;

	(void)fd, (void)what;
	vs_log_interval(s);
	/* expired quote nonces leave the store here, off the quote path
	 * (issue 17 item 4): one DELETE for all of them; a nonce expires by
	 * its own issue time (hosts.c take_nonce), so a pruned record is
	 * never needed */
	if ((r = s->store->ops->nonce_prune(s->store, vs_now())) != ATTEST_OK)
		vs_log_limited(s, r, "expired nonces not pruned: %s (%s)", attest_errname(r),
			       attest_errdetail());
	if ((r = attest_audit_refusal_flush(s->audit, (uint64_t)time(NULL), 0)) != ATTEST_OK ||
	    (r = attest_audit_sync(s->audit)) != ATTEST_OK)
		vs_log("audit refusal flush failed: %s (%s)", attest_errname(r), attest_errdetail());
	if (s->tpm != NULL && attest_audit_checkpoint_due(s->audit, (uint64_t)time(NULL)))
		vs_checkpoint_own(s);
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
	r = vb_json(b, n, cap, keys, out);
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
