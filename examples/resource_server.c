/* resource_server.c - an example resource server (a stand-in for an EHR
 * API) that asks attest-verifier about every request (docs/verifier-api.md,
 * POST /v1/decide).
 *
 *   resource_server --listen ADDR:PORT [--port-file F] --cert server.pem
 *                   --key server.key --fleet-root root.pem --verifier URL
 *                   --verifier-ca ca.pem --caller-cert c.pem --caller-key c.key
 *                   [--workers N] [--help]
 *
 * HTTPS on libattest/net/httpd.h: TLS 1.3 only (1.2 sends client certificates
 * in clear), a client certificate is required at the handshake, its chain
 * must verify to --fleet-root and pass attestd's path rule
 * (attest_x509_verify_cb). GET /records/<path> is action "read", POST is
 * "write", on resource "ehr:<path>" (the naming of docs/policy.md and intent resources). The peer's verified chain (leaf and
 * issuers, not the root) goes to the verifier with the action, resource and
 * context; allow -> 200 and a small JSON record, deny -> 403 with the
 * verifier's reason and rule, no answer from the verifier -> 503 (fail
 * closed). One line per request on stderr.
 *
 * The verifier call blocks (libcurl easy API), so it runs in a small pool
 * of worker threads; the event loop only parses, queues and replies. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest/attest.h"
#include "attest/verify.h"
#include "core/err.h"
#include "net/httpc.h"
#include "net/httpd.h"
#include "core/json.h"
#include "x509/x509agent.h"

#define RECORD_PATH_MAX 200     /* bytes after /records/ */
#define WRITE_BODY_MAX (16 * 1024)
#define HTTPD_BODY_MAX (64 * 1024)
#define QUEUE_MAX 256           /* pending decisions, over it: 503 busy */
#define WORKERS_DEFAULT 4
#define WORKERS_MAX 64
#define VERIFIER_URL_MAX 512

/* One request waiting for (or back from) the verifier. Built and finished
 * on the event loop thread; a worker only fills in the result fields. */
struct job {
	struct evhttp_request *req;
	char *agent;          /* leaf's SPIFFE ID */
	const char *action;   /* "read" / "write" (static) */
	char *resource;       /* "ehr:<path>" */
	char *path;           /* "<path>" */
	size_t write_len;     /* body bytes of a write */
	char *decide;         /* the /v1/decide request body */
	size_t decide_len;
	/* result (worker) */
	int r;
	long status;
	char *resp;
	size_t resp_len;
	char detail[256];
	struct job *next;
};

struct server {
	struct event_base *base;
	struct attest_httpd *httpd;
	struct attest_httpc_opts copts;
	char url[VERIFIER_URL_MAX + 16];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *q_head, *q_tail; /* waiting for a worker */
	unsigned queued;
	struct job *done;            /* back from the verifier */
	struct event *done_ev;
	int stopping;
	pthread_t workers[WORKERS_MAX];
	unsigned nworkers;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: resource_server --listen ADDR:PORT [--port-file F] --cert server.pem\n"
		"         --key server.key --fleet-root root.pem --verifier URL\n"
		"         --verifier-ca ca.pem --caller-cert c.pem --caller-key c.key\n"
		"         [--workers N] [--research-consent ID,ID,...]\n"
		"  GET /records/<path> (read) and POST /records/<path> (write) on ehr/<path>,\n"
		"  each decided by URL/v1/decide; see examples/README.md\n"
		"  --research-consent: the patients who consented to research (the EHR's\n"
		"  record): context research_consent is \"yes\" for them, else \"no\"\n"
		"  (without the option the context carries no research_consent)\n");
}

/* --research-consent: comma-separated patient IDs (NULL: nobody). */
static const char *research_consent;

static int consented(const char *patient)
{
	size_t n = strlen(patient);

	for (const char *p = research_consent; p != NULL && *p != '\0';) {
		size_t k = strcspn(p, ",");

		if (k == n && strncmp(p, patient, n) == 0)
			return 1;
		p += k + (p[k] == ',');
	}
	return 0;
}

static void job_free(struct job *j)
{
	if (j == NULL)
		return;
	free(j->agent);
	free(j->resource);
	free(j->path);
	free(j->decide);
	free(j->resp);
	free(j);
}

/* s with every byte outside printable ASCII, and '"', as '?': a log line
 * stays one line whatever the verifier or a certificate says. */
static const char *clean(const char *s, char *buf, size_t bufsz)
{
	size_t i = 0;

	for (; s != NULL && s[i] != '\0' && i + 1 < bufsz; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/* A known error name ("ATTEST_E_POLICY_DENY"), so nothing else is echoed. */
static int known_reason(const char *name)
{
	for (int i = 0; i < ATTEST_E__COUNT; i++)
		if (strcmp(name, attest_errname(i)) == 0)
			return 1;
	return 0;
}

/* <path> of /records/<path>: segments of [A-Za-z0-9._-], none empty, "."
 * or "..", at most RECORD_PATH_MAX bytes. No percent-encoding, so what the
 * verifier decides on is exactly what was asked for. */
static int valid_record_path(const char *p)
{
	size_t n = strlen(p), seg = 0;

	if (n == 0 || n > RECORD_PATH_MAX)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		char c = p[i];

		if (c == '/' || c == '\0') {
			if (seg == 0 || (seg == 1 && p[i - 1] == '.') ||
			    (seg == 2 && p[i - 1] == '.' && p[i - 2] == '.'))
				return 0;
			seg = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-') {
			seg++;
		} else {
			return 0;
		}
	}
	return 1;
}

/* The one log line of a request (j may be NULL before a job exists). */
static void log_line(const struct job *j, const char *decision, const char *reason,
		     const char *rule, int status, const char *detail)
{
	char a[300], res[300], ru[160], d[300];
	int has_detail = detail != NULL && detail[0] != '\0';

	fprintf(stderr,
		"resource_server: agent=%s action=%s resource=%s decision=%s reason=%s rule=%s "
		"status=%d%s%s%s\n",
		j && j->agent ? clean(j->agent, a, sizeof(a)) : "-",
		j && j->action ? j->action : "-",
		j && j->resource ? clean(j->resource, res, sizeof(res)) : "-", decision, reason,
		rule && rule[0] ? clean(rule, ru, sizeof(ru)) : "-", status,
		has_detail ? " detail=\"" : "", has_detail ? clean(detail, d, sizeof(d)) : "",
		has_detail ? "\"" : "");
}

/* {"decision":"deny","reason":R,"rule":RULE} with status; logged. */
static void deny(struct evhttp_request *req, const struct job *j, int status,
		 const char *reason, const char *rule, const char *detail)
{
	cJSON *o = cJSON_CreateObject();
	char *txt = NULL;
	size_t len = 0;

	log_line(j, "deny", reason, rule, status, detail);
	if (o == NULL || attest_json_add_str(o, "decision", "deny") != ATTEST_OK ||
	    attest_json_add_str(o, "reason", reason) != ATTEST_OK ||
	    attest_json_add_str(o, "rule", rule ? rule : "") != ATTEST_OK ||
	    attest_json_print(o, &txt, &len) != ATTEST_OK)
		attest_httpd_reply(req, 500, NULL, 0);
	else
		attest_httpd_reply(req, status, txt, len);
	free(txt);
	cJSON_Delete(o);
}

/* The peer's verified chain without the trust anchor (the fleet root), as
 * agents hold it: leaf first, then its issuers, PEM. */
static int chain_pem(STACK_OF(X509) *chain, char **out)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n = sk_X509_num(chain), r = ATTEST_E_INTERNAL;
	char *data, *buf = NULL;
	long len;

	if (b == NULL)
		return attest_fail(ATTEST_E_NOMEM, "BIO");
	if (n > 1 && X509_check_issued(sk_X509_value(chain, n - 1),
				       sk_X509_value(chain, n - 1)) == X509_V_OK)
		n--;
	for (int i = 0; i < n; i++) {
		if (PEM_write_bio_X509(b, sk_X509_value(chain, i)) != 1) {
			r = attest_fail_ossl(ATTEST_E_CRYPTO, "chain to PEM");
			goto out;
		}
	}
	len = BIO_get_mem_data(b, &data);
	if (len <= 0 || (buf = malloc((size_t)len + 1)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "chain PEM");
		goto out;
	}
	memcpy(buf, data, (size_t)len);
	buf[len] = '\0';
	*out = buf;
	r = ATTEST_OK;
out:
	BIO_free(b);
	return r;
}

/* The /v1/decide body: chain, action, resource, context. The context
 * carries {"patient": ID} when the path is patient/ID/..., and with
 * --research-consent also "research_consent": "yes" or "no". */
static int make_decide(struct job *j, STACK_OF(X509) *chain)
{
	cJSON *o = cJSON_CreateObject(), *ctx = cJSON_CreateObject();
	char *pem = NULL, pat[RECORD_PATH_MAX + 1];
	int r = ATTEST_E_INTERNAL;

	if (o == NULL || ctx == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "decide request");
		goto out;
	}
	if ((r = chain_pem(chain, &pem)) != ATTEST_OK)
		goto out;
	if (strncmp(j->path, "patient/", 8) == 0) {
		size_t n = strcspn(j->path + 8, "/");

		snprintf(pat, sizeof(pat), "%.*s", (int)n, j->path + 8);
		if ((r = attest_json_add_str(ctx, "patient", pat)) != ATTEST_OK ||
		    (research_consent != NULL &&
		     (r = attest_json_add_str(ctx, "research_consent",
					      consented(pat) ? "yes" : "no")) != ATTEST_OK))
			goto out;
	}
	if ((r = attest_json_add_str(o, "chain", pem)) != ATTEST_OK ||
	    (r = attest_json_add_str(o, "action", j->action)) != ATTEST_OK ||
	    (r = attest_json_add_str(o, "resource", j->resource)) != ATTEST_OK)
		goto out;
	if (!cJSON_AddItemToObject(o, "context", ctx)) {
		r = attest_fail(ATTEST_E_NOMEM, "decide context");
		goto out;
	}
	ctx = NULL; /* owned by o */
	r = attest_json_print(o, &j->decide, &j->decide_len);
out:
	free(pem);
	cJSON_Delete(ctx);
	cJSON_Delete(o);
	return r;
}

/* Worker: take a job, ask the verifier, hand the job back to the loop. */
static void *worker(void *arg)
{
	struct server *s = arg;

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&s->mu);
		while (s->q_head == NULL && !s->stopping)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->stopping) {
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		j = s->q_head;
		s->q_head = j->next;
		if (s->q_head == NULL)
			s->q_tail = NULL;
		s->queued--;
		pthread_mutex_unlock(&s->mu);

		j->r = attest_https_request(&s->copts, s->url, j->decide, j->decide_len, &j->status,
					    &j->resp, &j->resp_len);
		if (j->r != ATTEST_OK)
			snprintf(j->detail, sizeof(j->detail), "%s", attest_errdetail());

		pthread_mutex_lock(&s->mu);
		j->next = s->done;
		s->done = j;
		pthread_mutex_unlock(&s->mu);
		event_active(s->done_ev, EV_READ, 0);
	}
}

static void reply_allow(struct job *j, const char *rule)
{
	cJSON *o = cJSON_CreateObject(), *rec = cJSON_CreateObject();
	char *txt = NULL;
	size_t len = 0;
	int ok = o != NULL && rec != NULL &&
		 attest_json_add_str(o, "decision", "allow") == ATTEST_OK &&
		 attest_json_add_str(o, "rule", rule) == ATTEST_OK &&
		 attest_json_add_str(o, "agent", j->agent) == ATTEST_OK &&
		 attest_json_add_str(o, "action", j->action) == ATTEST_OK &&
		 attest_json_add_str(o, "resource", j->resource) == ATTEST_OK &&
		 attest_json_add_str(rec, "path", j->path) == ATTEST_OK;

	/* a stand-in: reads return a fixed record, writes are acknowledged */
	if (ok && strcmp(j->action, "read") == 0)
		ok = attest_json_add_str(rec, "text", "example record (stand-in for an EHR)") ==
		     ATTEST_OK;
	else if (ok)
		ok = attest_json_add_u64(rec, "bytes", j->write_len) == ATTEST_OK;
	if (ok && cJSON_AddItemToObject(o, "record", rec)) {
		rec = NULL; /* owned by o */
		ok = attest_json_print(o, &txt, &len) == ATTEST_OK;
	} else {
		ok = 0;
	}
	if (ok) {
		log_line(j, "allow", "ATTEST_OK", rule, 200, NULL);
		attest_httpd_reply(j->req, 200, txt, len);
	} else {
		deny(j->req, j, 500, "ATTEST_E_NOMEM", "", "reply");
	}
	free(txt);
	cJSON_Delete(rec);
	cJSON_Delete(o);
}

/* The verifier's answer, on the loop thread. Anything but a well-formed
 * 200 with decision "allow" and reason ATTEST_OK denies (a 403 with a
 * decision "deny" is the verifier's deny, passed on with its reason). Fields this
 * server does not use (agent, host, chain, and any later additions) are
 * not checked, so a verifier that adds a field does not deny everything;
 * duplicate keys are still refused. */
static void finish(struct job *j)
{
	cJSON *o = NULL;
	const char *decision = NULL, *reason = NULL, *rule = "", *detail = "";
	char why[300];

	if (j->r != ATTEST_OK) {
		deny(j->req, j, 503, attest_errname(j->r), "", j->detail);
		goto out;
	}
	/* verifier API revision 2: 200 is an allow, 403 with a "decision" a
	 * deny; 403 without one (an "error") is the verifier refusing us */
	if (j->status == 403 &&
	    attest_json_parse(j->resp, j->resp_len, ATTEST_HTTPC_RESPONSE_MAX, &o) == ATTEST_OK &&
	    cJSON_GetObjectItemCaseSensitive(o, "decision") != NULL) {
		cJSON_Delete(o);
		o = NULL;
	} else if (j->status != 200) {
		/* the verifier refused us (caller not enrolled, rate, ...) */
		cJSON_Delete(o);
		o = NULL;
		if (attest_json_parse(j->resp, j->resp_len, ATTEST_HTTPC_RESPONSE_MAX, &o) ==
			    ATTEST_OK &&
		    attest_json_str(o, "error", 64, &reason) == ATTEST_OK && known_reason(reason)) {
			snprintf(why, sizeof(why), "verifier answered HTTP %ld", j->status);
			deny(j->req, j, 503, reason, "", why);
		} else {
			snprintf(why, sizeof(why), "verifier answered HTTP %ld without a reason",
				 j->status);
			deny(j->req, j, 503, "ATTEST_E_IO", "", why);
		}
		goto out;
	}
	if (attest_json_parse(j->resp, j->resp_len, ATTEST_HTTPC_RESPONSE_MAX, &o) != ATTEST_OK ||
	    attest_json_str(o, "decision", 8, &decision) != ATTEST_OK ||
	    attest_json_str(o, "reason", 64, &reason) != ATTEST_OK || !known_reason(reason) ||
	    (cJSON_GetObjectItemCaseSensitive(o, "rule") != NULL &&
	     attest_json_str(o, "rule", 128, &rule) != ATTEST_OK) ||
	    (cJSON_GetObjectItemCaseSensitive(o, "detail") != NULL &&
	     attest_json_str(o, "detail", 1024, &detail) != ATTEST_OK)) {
		snprintf(why, sizeof(why), "malformed decision: %s", attest_errdetail());
		deny(j->req, j, 503, "ATTEST_E_PARSE", "", why);
		goto out;
	}
	/* the status and the body must agree */
	if (j->status == 200 && strcmp(decision, "allow") == 0 && strcmp(reason, "ATTEST_OK") == 0)
		reply_allow(j, rule);
	else if (j->status == 403 && strcmp(decision, "deny") == 0 && strcmp(reason, "ATTEST_OK") != 0)
		deny(j->req, j, 403, reason, rule, detail);
	else
		deny(j->req, j, 503, "ATTEST_E_PARSE", "", "inconsistent decision");
out:
	cJSON_Delete(o);
	job_free(j);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct job *list, *next;

	(void)fd, (void)what;
	pthread_mutex_lock(&s->mu);
	list = s->done;
	s->done = NULL;
	pthread_mutex_unlock(&s->mu);
	for (; list != NULL; list = next) {
		next = list->next;
		finish(list);
	}
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct server *s = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	STACK_OF(X509) *chain = attest_httpd_peer_chain(req);
	struct job *j = calloc(1, sizeof(*j));
	size_t n;
	int r;

	if (j == NULL) {
		deny(req, NULL, 500, "ATTEST_E_NOMEM", "", "job");
		return;
	}
	j->req = req;
	j->action = cmd == EVHTTP_REQ_POST ? "write" : cmd == EVHTTP_REQ_GET ? "read" : NULL;
	if (chain == NULL || sk_X509_num(chain) < 1) {
		/* cannot happen with the handshake's checks; fail closed anyway */
		deny(req, j, 403, "ATTEST_E_PATH", "", "no verified client chain");
		goto out;
	}
	if ((r = attest_x509_one_san_uri(sk_X509_value(chain, 0), &j->agent)) != ATTEST_OK) {
		deny(req, j, 403, attest_errname(r), "", attest_errdetail());
		goto out;
	}
	if (j->action == NULL) {
		deny(req, j, 405, "ATTEST_E_INVALID_ARG", "", "method");
		goto out;
	}
	if (path == NULL || strncmp(path, "/records/", 9) != 0 || evhttp_uri_get_query(uri) != NULL ||
	    evhttp_uri_get_fragment(uri) != NULL || !valid_record_path(path + 9)) {
		int under = path != NULL && strncmp(path, "/records/", 9) == 0;

		deny(req, j, under ? 400 : 404, under ? "ATTEST_E_INVALID_ARG" : "ATTEST_E_NOT_FOUND",
		     "", "not /records/<path> ([A-Za-z0-9._-] segments, no query)");
		goto out;
	}
	if ((j->path = strdup(path + 9)) == NULL ||
	    (j->resource = malloc((n = strlen(j->path)) + 5)) == NULL) {
		deny(req, j, 500, "ATTEST_E_NOMEM", "", "request");
		goto out;
	}
	snprintf(j->resource, n + 5, "ehr:%s", j->path);
	if (cmd == EVHTTP_REQ_POST) {
		/* a write's body must be one JSON object (checked before the
		 * decision: a malformed request costs no verifier call) */
		char *body = NULL;
		size_t blen = 0;
		cJSON *o = NULL;

		r = attest_httpd_body(req, WRITE_BODY_MAX, &body, &blen);
		if (r == ATTEST_OK)
			r = attest_json_parse(body, blen, WRITE_BODY_MAX, &o);
		if (r == ATTEST_OK && !cJSON_IsObject(o))
			r = attest_fail(ATTEST_E_PARSE, "write body is not a JSON object");
		free(body);
		cJSON_Delete(o);
		if (r != ATTEST_OK) {
			deny(req, j, r == ATTEST_E_TOO_LARGE ? 413 : 400, attest_errname(r), "",
			     attest_errdetail());
			goto out;
		}
		j->write_len = blen;
	}
	if ((r = make_decide(j, chain)) != ATTEST_OK) {
		deny(req, j, 500, attest_errname(r), "", attest_errdetail());
		goto out;
	}
	pthread_mutex_lock(&s->mu);
	if (s->queued >= QUEUE_MAX || s->stopping) {
		pthread_mutex_unlock(&s->mu);
		deny(req, j, 503, "ATTEST_E_BUSY", "", "decision queue full");
		goto out;
	}
	if (s->q_tail != NULL)
		s->q_tail->next = j;
	else
		s->q_head = j;
	s->q_tail = j;
	s->queued++;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	j = NULL; /* owned by the queue */
out:
	job_free(j);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig, (void)what;
	event_base_loopbreak(arg);
}

/* "127.0.0.1:8443", "[::1]:8443"; port 0 = any free port. */
static int parse_listen(const char *s, char *addr, size_t addrsz, unsigned short *port)
{
	const char *colon = strrchr(s, ':');
	const char *a = s;
	size_t alen;
	unsigned long p;
	char *end;

	if (colon == NULL || colon == s || colon[1] == '\0')
		return 0;
	alen = (size_t)(colon - s);
	if (s[0] == '[') {
		if (alen < 3 || s[alen - 1] != ']')
			return 0;
		a = s + 1;
		alen -= 2;
	}
	if (alen >= addrsz)
		return 0;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || p > 65535 || colon[1] < '0' || colon[1] > '9')
		return 0;
	memcpy(addr, a, alen);
	addr[alen] = '\0';
	*port = (unsigned short)p;
	return 1;
}

/* Write the port to path atomically (a reader never sees half a number). */
static int write_port_file(const char *path, unsigned short port)
{
	char tmp[PATH_MAX];
	FILE *f;
	int ok;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp) ||
	    (f = fopen(tmp, "we")) == NULL)
		return 0;
	ok = fprintf(f, "%u\n", (unsigned)port) > 0;
	ok = (fclose(f) == 0) && ok;
	return ok && rename(tmp, path) == 0;
}

static int start_workers(struct server *s, unsigned n)
{
	sigset_t all, old;
	int ok = 1;

	/* signals are the loop's; workers inherit a blocked mask */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (s->nworkers = 0; s->nworkers < n; s->nworkers++) {
		if (pthread_create(&s->workers[s->nworkers], NULL, worker, s) != 0) {
			ok = 0;
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ok;
}

/* Stop and join the workers, then answer whatever is still queued (503)
 * and whatever came back, before the HTTP server goes away. */
static void stop_workers(struct server *s)
{
	struct job *j, *next;

	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (unsigned i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	for (j = s->q_head; j != NULL; j = next) {
		next = j->next;
		j->r = ATTEST_E_IO;
		snprintf(j->detail, sizeof(j->detail), "shutting down");
		j->next = s->done;
		s->done = j;
	}
	s->q_head = s->q_tail = NULL;
	s->queued = 0;
	on_done(-1, 0, s);
}

int main(int argc, char **argv)
{
	const char *listen_s = NULL, *port_file = NULL, *cert = NULL, *key = NULL, *root = NULL,
		   *verifier = NULL, *vca = NULL, *ccert = NULL, *ckey = NULL, *workers_s = NULL;
	struct server s = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	struct attest_httpd_opts ho = { 0 };
	struct event *sigint = NULL, *sigterm = NULL;
	char addr[256];
	unsigned short port = 0;
	unsigned long nworkers = WORKERS_DEFAULT;
	size_t vlen;
	int rc = 1, r;

	for (int i = 1; i < argc; i++) {
		const char **slot = strcmp(argv[i], "--listen") == 0        ? &listen_s
				    : strcmp(argv[i], "--port-file") == 0   ? &port_file
				    : strcmp(argv[i], "--cert") == 0        ? &cert
				    : strcmp(argv[i], "--key") == 0         ? &key
				    : strcmp(argv[i], "--fleet-root") == 0  ? &root
				    : strcmp(argv[i], "--verifier") == 0    ? &verifier
				    : strcmp(argv[i], "--verifier-ca") == 0 ? &vca
				    : strcmp(argv[i], "--caller-cert") == 0 ? &ccert
				    : strcmp(argv[i], "--caller-key") == 0  ? &ckey
				    : strcmp(argv[i], "--workers") == 0     ? &workers_s
				    : strcmp(argv[i], "--research-consent") == 0 ? &research_consent
									    : NULL;

		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (slot == NULL || i + 1 == argc) {
			usage(stderr);
			return 2;
		}
		*slot = argv[++i];
	}
	if (listen_s == NULL || cert == NULL || key == NULL || root == NULL || verifier == NULL ||
	    vca == NULL || ccert == NULL || ckey == NULL) {
		usage(stderr);
		return 2;
	}
	if (!parse_listen(listen_s, addr, sizeof(addr), &port)) {
		fprintf(stderr, "resource_server: --listen wants ADDR:PORT, got %s\n", listen_s);
		return 2;
	}
	if (workers_s != NULL) {
		char *end;

		errno = 0;
		nworkers = strtoul(workers_s, &end, 10);
		if (errno != 0 || *end != '\0' || nworkers < 1 || nworkers > WORKERS_MAX) {
			fprintf(stderr, "resource_server: --workers wants 1..%d\n", WORKERS_MAX);
			return 2;
		}
	}
	/* the base URL, without a trailing '/', then the endpoint */
	vlen = strlen(verifier);
	while (vlen > 0 && verifier[vlen - 1] == '/')
		vlen--;
	if (strncmp(verifier, "https://", 8) != 0 || vlen <= 8 || vlen > VERIFIER_URL_MAX) {
		fprintf(stderr, "resource_server: --verifier wants https://HOST:PORT\n");
		return 2;
	}
	snprintf(s.url, sizeof(s.url), "%.*s/v1/decide", (int)vlen, verifier);
	s.copts = (struct attest_httpc_opts){ .ca_file = vca, .cert_file = ccert, .key_file = ckey };

	(void)signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() != 0 || (s.base = event_base_new()) == NULL ||
	    (s.done_ev = event_new(s.base, -1, 0, on_done, &s)) == NULL ||
	    (sigint = evsignal_new(s.base, SIGINT, on_signal, s.base)) == NULL ||
	    (sigterm = evsignal_new(s.base, SIGTERM, on_signal, s.base)) == NULL ||
	    event_add(sigint, NULL) != 0 || event_add(sigterm, NULL) != 0) {
		fprintf(stderr, "resource_server: event loop setup failed\n");
		goto out;
	}
	ho = (struct attest_httpd_opts){
		.addr = addr,
		.port = port,
		.cert_file = cert,
		.key_file = key,
		.client_ca_file = root,
		.require_client_cert = 1,
		.verify_cb = attest_x509_verify_cb,
		.max_body = HTTPD_BODY_MAX,
		.max_headers = 8 * 1024,
	};
	if ((r = attest_httpd_new(s.base, &ho, &s.httpd)) != ATTEST_OK) {
		fprintf(stderr, "resource_server: [%s] %s\n", attest_errname(r), attest_errdetail());
		goto out;
	}
	attest_httpd_set_handler(s.httpd, on_request, &s);
	if (!start_workers(&s, (unsigned)nworkers)) {
		fprintf(stderr, "resource_server: cannot start worker threads\n");
		goto out;
	}
	if (port_file != NULL && !write_port_file(port_file, attest_httpd_port(s.httpd))) {
		fprintf(stderr, "resource_server: cannot write %s\n", port_file);
		goto out;
	}
	fprintf(stderr, "resource_server: listening on %s:%u, verifier %s, %u workers\n", addr,
		(unsigned)attest_httpd_port(s.httpd), s.url, s.nworkers);
	if (event_base_dispatch(s.base) < 0) {
		fprintf(stderr, "resource_server: event loop failed\n");
		goto out;
	}
	rc = 0;
out:
	stop_workers(&s);
	attest_httpd_free(s.httpd);
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	if (s.done_ev != NULL)
		event_free(s.done_ev);
	if (s.base != NULL)
		event_base_free(s.base);
	return rc;
}
