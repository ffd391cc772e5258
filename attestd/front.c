/* front.c - attestd's unprivileged front (monitor.h): the agent and admin
 * sockets, their frames and JSON, CSRs and intent chains, with every
 * secret-needing or registry-changing step asked of the monitor over the
 * channel as a typed request. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <seccomp.h>

#include "attest/intent.h"
#include "admin.h"
#include "attestation/hostpush.h"
#include "core/err.h"
#include "core/json.h"
#include "core/num.h"
#include "dispatch.h"
#include "federation.h"
#include "net/fedset.h"
#include "issue.h"
#include "log.h"
#include "monitor.h"
#include "monproto.h"
#include "nodump.h"
#include "pushwire.h"
#include "server.h"
#include "workload.h"

#define CHAN_FD 3
#define AGENT_FD 4
#define ADMIN_FD 5
#define WORKLOAD_FD 6 /* the SPIFFE Workload API's socket, when configured */
#define RPC_TIMEOUT_MS 120000
#define ATTEST_WAITERS 8 /* push.c MAX_WAITERS */

struct front {
	struct event_base *base;
	int chan;
	uint8_t *buf; /* MON_MSG_MAX */
	struct attest_intent_trust *trust;
	struct issue_backend backend;
	int recorded; /* the monitor recorded this request's refusal itself */
	uint8_t *root_der; /* the fleet root: the Workload API's X.509 bundle */
	size_t root_len;
	struct fedset *fed; /* federated bundles (with the workload socket) */
	/* admin clients waiting for a push (MON_ATTEST): its token */
	struct {
		uint32_t token;
		struct attestd_pending *p;
	} waiting[ATTEST_WAITERS];
	size_t nwaiting;
	/* the pushes to the verifier (MON_PUSH_JOB): one worker thread runs
	 * libcurl, the loop sends each typed reply back (MON_PUSH_DONE) */
	struct attest_httpc_opts http;
	char push_url[ATTEST_PUSH_URL_MAX + 1]; /* "": none */
	uint8_t *push_ca;
	pthread_t worker;
	int worker_started, stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int wake[2];
	struct event *wake_ev;
	struct push_job {
		enum { PJ_IDLE, PJ_QUEUED, PJ_RUNNING, PJ_DONE } state;
		uint32_t kind, seq;
		char *body;
		size_t len;
		struct push_reply rep;
	} jobs[PUSH_SLOTS];
	/* issuances at the monitor (MON_ISSUE_TAGGED): each client's reply
	 * is deferred until MON_ISSUE_DONE, so the front takes other requests
	 * and the monitor commits their audit records in one batch */
	struct front_issue {
		uint32_t tag;
		struct issue_job *job;
		struct attestd_pending *p; /* NULL: no one to answer */
		struct attestd_peer peer;  /* pid and uid, for the log */
		struct front_issue *next;
	} *issues;
	uint32_t issue_tag;
};

static void attest_done(struct front *f, struct attest_cur *c);
static void push_job(struct front *f, struct attest_cur *c);
static void issue_done(struct front *f, struct attest_cur *c);
static void rpc_refusal(void *arg, const struct attestd_peer *peer, const char *op,
			const char *agent, int code);

/* A message the monitor sends between answers: 1 when it was one. */
static int unasked(struct front *f, struct attest_cur *c)
{
	struct attest_cur save = *c;
	uint32_t op;

	if (mon_get_u32(c, &op)) {
		if (op == MON_ATTEST_DONE) {
			attest_done(f, c);
			return 1;
		}
		if (op == MON_PUSH_JOB) {
			push_job(f, c);
			return 1;
		}
		if (op == MON_ISSUE_DONE) {
			issue_done(f, c);
			return 1;
		}
	}
	*c = save;
	return 0;
}

/* ---------- the channel ---------- */

/* Send req (with fd when >= 0), wait for the answer: ATTEST_OK and *body
 * positioned after the code, or the monitor's code with its detail. */
static int rpc(struct front *f, const struct mon_out *req, int fd, struct attest_cur *body)
{
	struct pollfd p = { f->chan, POLLIN, 0 };
	char detail[1024];
	size_t len;
	uint32_t op, code;
	int passed = -1, r, n;

	if ((r = mon_send(f->chan, req, fd)) != ATTEST_OK)
		goto gone;
	for (;;) {
		do
			n = poll(&p, 1, RPC_TIMEOUT_MS);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			r = attest_fail(ATTEST_E_IO, "the monitor did not answer within %d s",
					RPC_TIMEOUT_MS / 1000);
			goto gone;
		}
		if ((r = mon_recv(f->chan, f->buf, &len, &passed)) != ATTEST_OK)
			goto gone;
		attest_cur_init(body, f->buf, len);
		/* a push that ended meanwhile: its admin client is answered,
		 * and this answer is still to come */
		if (passed < 0 && unasked(f, body))
			continue;
		break;
	}
	if (passed >= 0 || !mon_get_u32(body, &op) || op != MON_REPLY ||
	    !mon_get_u32(body, &code) || code >= ATTEST_E__COUNT) {
		if (passed >= 0)
			close(passed);
		r = attest_fail(ATTEST_E_INTERNAL, "the monitor's answer is malformed");
		goto gone;
	}
	if (code == ATTEST_OK)
		return ATTEST_OK;
	if (!mon_get_str(body, detail, sizeof(detail)) || !mon_get_end(body))
		snprintf(detail, sizeof(detail), "(no detail)");
	return attest_fail((int)code, "%s", detail);
gone:
	/* without its monitor the front can do nothing: it stops once this
	 * request is answered (fail closed) */
	attestd_log("monitor channel: %s; stopping", attest_errdetail());
	event_base_loopbreak(f->base);
	return r;
}

static int rpc_agent_info(void *ctx, const char *name, char id[MINT_ID_MAX + 1], X509 **agent_ca)
{
	struct front *f = ctx;
	struct mon_out req;
	struct attest_cur c;
	const uint8_t *der;
	size_t n;
	int r;

	*agent_ca = NULL;
	mon_out_init(&req, MON_AGENT_INFO);
	mon_put_str(&req, name);
	r = rpc(f, &req, -1, &c);
	mon_out_free(&req);
	if (r != ATTEST_OK)
		return r;
	if (!mon_get_str(&c, id, MINT_ID_MAX + 1) || !mon_get_bytes(&c, MON_MSG_MAX, &der, &n) ||
	    !mon_get_end(&c) || (*agent_ca = d2i_X509(NULL, &der, (long)n)) == NULL)
		return attest_fail(ATTEST_E_INTERNAL, "the monitor's agent info is malformed");
	return ATTEST_OK;
}

static int rpc_mint(void *ctx, const struct attestd_peer *peer, const struct mint_order *o,
		    struct mint_result *res)
{
	struct front *f = ctx;
	struct mon_out req;
	struct attest_cur c;
	int r;

	mon_out_init(&req, MON_ISSUE);
	mint_order_put(&req, o);
	r = rpc(f, &req, peer->fd, &c);
	mon_out_free(&req);
	if (r != ATTEST_OK) {
		f->recorded = 1; /* the monitor records the refusals it makes */
		return r;
	}
	return mint_result_get(&c, res);
}

/* An issuance sent to the monitor without waiting: the client's reply is
 * deferred until MON_ISSUE_DONE (issue_done). ATTEST_OK: deferred. */
static int issue_send(struct front *f, const struct attestd_peer *peer, const cJSON *req)
{
	struct front_issue *fi = calloc(1, sizeof(*fi));
	struct mon_out m;
	int r;

	if (fi == NULL)
		return attest_fail(ATTEST_E_NOMEM, "issue");
	if ((r = attestd_issue_prepare(&f->backend, f->trust, req, &fi->job)) != ATTEST_OK) {
		free(fi);
		return r;
	}
	fi->tag = ++f->issue_tag;
	mon_out_init(&m, MON_ISSUE_TAGGED);
	mon_put_u32(&m, fi->tag);
	mint_order_put(&m, attestd_issue_order(fi->job));
	r = mon_send(f->chan, &m, peer->fd);
	mon_out_free(&m);
	if (r != ATTEST_OK) {
		attestd_log("monitor channel: %s; stopping", attest_errdetail());
		event_base_loopbreak(f->base);
		attestd_issue_job_free(fi->job);
		free(fi);
		return r;
	}
	fi->peer.pid = peer->pid;
	fi->peer.uid = peer->uid;
	fi->peer.gid = peer->gid;
	fi->peer.pidfd = fi->peer.fd = -1;
	fi->next = f->issues;
	f->issues = fi;
	if ((fi->p = attestd_defer(peer)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "deferred reply"); /* answered now */
	return ATTEST_OK;
}

/* MON_ISSUE_DONE: u32 tag, u32 code, then the chain or a detail. */
static void issue_done(struct front *f, struct attest_cur *c)
{
	struct front_issue **pp, *fi;
	struct mint_result res = { 0 };
	char detail[1024];
	uint32_t tag, code;
	cJSON *reply = NULL, *req = NULL;
	int r;

	if (!mon_get_u32(c, &tag) || !mon_get_u32(c, &code) || code >= ATTEST_E__COUNT) {
		attestd_log("the monitor's issuance answer is malformed; stopping");
		event_base_loopbreak(f->base);
		return;
	}
	for (pp = &f->issues; *pp != NULL && (*pp)->tag != tag; pp = &(*pp)->next)
		;
	if ((fi = *pp) == NULL)
		return; /* not ours (never) */
	*pp = fi->next;
	attest_errclear();
	if (code == ATTEST_OK) {
		if ((r = mint_result_get(c, &res)) == ATTEST_OK) {
			if ((reply = attestd_ok_reply()) == NULL)
				r = attest_fail(ATTEST_E_NOMEM, "reply");
			else
				r = attestd_issue_finish(fi->job, &fi->peer, &res, reply);
		}
	} else {
		if (!mon_get_str(c, detail, sizeof(detail)) || !mon_get_end(c))
			snprintf(detail, sizeof(detail), "(no detail)");
		r = attest_fail((int)code, "%s", detail);
	}
	if (r != ATTEST_OK) {
		const struct mint_order *o = attestd_issue_order(fi->job);
		char why[1024];

		snprintf(why, sizeof(why), "%s", attest_errdetail());
		cJSON_Delete(reply);
		if ((req = cJSON_CreateObject()) != NULL) {
			cJSON_AddStringToObject(req, "op", "issue");
			cJSON_AddStringToObject(req, "agent", o->name);
		}
		attest_fail(r, "%s", why);
		/* the monitor records the refusals it makes */
		reply = attestd_refused(&fi->peer, req, r, code != ATTEST_OK ? NULL : rpc_refusal, f);
		cJSON_Delete(req);
	}
	if (fi->p != NULL)
		attestd_pending_reply(fi->p, reply != NULL ? reply : attestd_error_reply(ATTEST_E_NOMEM));
	else
		cJSON_Delete(reply);
	mint_result_clear(&res);
	attestd_issue_job_free(fi->job);
	free(fi);
}

static void rpc_refusal(void *arg, const struct attestd_peer *peer, const char *op,
			const char *agent, int code)
{
	struct front *f = arg;
	struct mon_out m;

	mon_out_init(&m, MON_REFUSAL);
	mon_put_u32(&m, peer->uid);
	mon_put_i64(&m, peer->pid);
	mon_put_str(&m, op);
	mon_put_str(&m, agent);
	mon_put_u32(&m, (uint32_t)code);
	if (mon_send(f->chan, &m, -1) != ATTEST_OK)
		attestd_log("refusal not sent to the monitor: %s", attest_errdetail());
	mon_out_free(&m);
}

/* The trust the monitor loaded: the fleet root, then the issuers. */
static int load_trust(struct front *f)
{
	struct mon_out req;
	struct attest_cur c;
	const uint8_t *der;
	size_t n;
	uint32_t more;
	X509 *root = NULL;
	int r;

	mon_out_init(&req, MON_TRUST);
	r = rpc(f, &req, -1, &c);
	mon_out_free(&req);
	if (r != ATTEST_OK || (r = attest_intent_trust_new(&f->trust)) != ATTEST_OK)
		return r;
	if (!mon_get_bytes(&c, MON_MSG_MAX, &der, &n))
		return attest_fail(ATTEST_E_INTERNAL, "trust message malformed");
	if (n > 0 && n <= WL_BUNDLE_MAX && (f->root_der = malloc(n)) != NULL) {
		memcpy(f->root_der, der, n);
		f->root_len = n;
	}
	if (n > 0 && ((root = d2i_X509(NULL, &der, (long)n)) == NULL ||
		      (r = attest_intent_trust_set_root(f->trust, root)) != ATTEST_OK)) {
		X509_free(root);
		return r != ATTEST_OK ? r : attest_fail(ATTEST_E_INTERNAL, "trust root malformed");
	}
	X509_free(root);
	/* the issuing CAs of the host's identity: delegations' x5c stop at
	 * the host CA (docs/intent.md "Size budget") */
	if (!mon_get_u32(&c, &more) || more > 8)
		return attest_fail(ATTEST_E_INTERNAL, "trust issuing CAs malformed");
	for (uint32_t i = 0; i < more; i++) {
		X509 *ic = NULL;

		if (!mon_get_bytes(&c, MON_MSG_MAX, &der, &n) ||
		    (ic = d2i_X509(NULL, &der, (long)n)) == NULL)
			return attest_fail(ATTEST_E_INTERNAL, "trust issuing CA malformed");
		r = attest_intent_trust_add_intermediate(f->trust, ic);
		X509_free(ic);
		if (r != ATTEST_OK)
			return r;
	}
	while (mon_get_u32(&c, &more) && more == 1) {
		char name[ATTEST_INTENT_ITEM_MAX + 1];
		EVP_PKEY *k = NULL;

		if (!mon_get_str(&c, name, sizeof(name)) || !mon_get_bytes(&c, MON_MSG_MAX, &der, &n) ||
		    (k = d2i_PUBKEY(NULL, &der, (long)n)) == NULL)
			return attest_fail(ATTEST_E_INTERNAL, "trust issuer malformed");
		r = attest_intent_trust_add_issuer(f->trust, name, k);
		EVP_PKEY_free(k);
		if (r != ATTEST_OK)
			return r;
	}
	if (more != 0xffffffffu || !mon_get_end(&c))
		return attest_fail(ATTEST_E_INTERNAL, "trust message malformed");
	return ATTEST_OK;
}

/* ---------- the SPIFFE Workload API (workload.h) ---------- */

static int rpc_workload_issue(void *ctx, int fd, const uint8_t *spki, size_t spki_len,
			      struct mint_result *res)
{
	struct front *f = ctx;
	struct mon_out req;
	struct attest_cur c;
	int r;

	mon_out_init(&req, MON_WORKLOAD_ISSUE);
	mon_put_bytes(&req, spki, spki_len);
	r = rpc(f, &req, fd, &c);
	mon_out_free(&req);
	if (r != ATTEST_OK)
		return r; /* the monitor recorded the refusal */
	return mint_result_get(&c, res);
}

static int rpc_workload_jwt(void *ctx, int fd, char (*aud)[WL_AUD_LEN + 1], uint32_t naud,
			    const char *want_id, char **id, char **token)
{
	struct front *f = ctx;
	struct mon_out req;
	struct attest_cur c;
	const uint8_t *p, *q;
	size_t n, m;
	int r;

	*id = *token = NULL;
	mon_out_init(&req, MON_WORKLOAD_JWT);
	mon_put_u32(&req, naud);
	for (uint32_t i = 0; i < naud; i++)
		mon_put_str(&req, aud[i]);
	mon_put_str(&req, want_id);
	r = rpc(f, &req, fd, &c);
	mon_out_free(&req);
	if (r != ATTEST_OK)
		return r;
	if (!mon_get_bytes(&c, MINT_ID_MAX, &p, &n) || n == 0 ||
	    !mon_get_bytes(&c, 8192, &q, &m) || m == 0 || !mon_get_end(&c) ||
	    memchr(p, '\0', n) != NULL || memchr(q, '\0', m) != NULL)
		return attest_fail(ATTEST_E_INTERNAL, "the monitor's JWT-SVID is malformed");
	if ((*id = strndup((const char *)p, n)) == NULL ||
	    (*token = strndup((const char *)q, m)) == NULL) {
		free(*id);
		*id = NULL;
		return attest_fail(ATTEST_E_NOMEM, "JWT-SVID");
	}
	return ATTEST_OK;
}

static int rpc_workload_jwks(void *ctx, struct wl_jwks *out)
{
	struct front *f = ctx;
	struct mon_out req;
	struct attest_cur c;
	const uint8_t *p;
	size_t n;
	int r;

	memset(out, 0, sizeof(*out));
	mon_out_init(&req, MON_WORKLOAD_JWKS);
	r = rpc(f, &req, -1, &c);
	mon_out_free(&req);
	if (r != ATTEST_OK)
		return r;
	if (!mon_get_bytes(&c, WL_JWKS_MAX, &p, &n) || n == 0 || memchr(p, '\0', n) != NULL ||
	    (out->json = strndup((const char *)p, n)) == NULL || !mon_get_u32(&c, &out->n) ||
	    out->n > WL_JWKS_KEYS)
		goto bad;
	for (uint32_t i = 0; i < out->n; i++)
		if (!mon_get_str(&c, out->kid[i], sizeof(out->kid[i])) ||
		    !mon_get_bytes(&c, 1024, &p, &n) || (out->spki[i] = malloc(n)) == NULL ||
		    (memcpy(out->spki[i], p, n), out->spki_len[i] = n, 0))
			goto bad;
	if (!mon_get_end(&c))
		goto bad;
	return ATTEST_OK;
bad:
	wl_jwks_clear(out);
	return attest_fail(ATTEST_E_INTERNAL, "the monitor's JWT bundle is malformed");
}

/* A federated bundle came or went: to the open streams. */
/* The federated bundles' lines (libattest does not print). */
static void fed_log(void *ctx, const char *line)
{
	(void)ctx;
	attestd_log("%s", line);
}

static void on_fed_changed(void *ctx)
{
	(void)ctx;
	workload_api_bundles_changed();
}

/* The operator's federated trust domains from the monitor, to fetch. */
static int load_federation(struct front *f)
{
	struct mon_out req;
	struct attest_cur c;
	struct fed_list l;
	int r;

	mon_out_init(&req, MON_FEDERATION);
	r = rpc(f, &req, -1, &c);
	mon_out_free(&req);
	if (r != ATTEST_OK)
		return r;
	if ((r = fed_list_get(&c, &l)) != ATTEST_OK)
		return r;
	if (!mon_get_end(&c))
		r = attest_fail(ATTEST_E_INTERNAL, "the monitor's federation list is malformed");
	else
		r = fedset_configure(f->fed, &l, 0);
	fed_list_clear(&l);
	return r;
}

/* Whether the monitor gave a listening workload socket (descriptor 6). */
static int workload_fd_present(void)
{
	int acc = 0;
	socklen_t al = sizeof(acc);
	struct stat st;

	return fstat(WORKLOAD_FD, &st) == 0 && S_ISSOCK(st.st_mode) &&
	       getsockopt(WORKLOAD_FD, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) == 0 && acc;
}

/* Serve the workload socket (descriptor 6) when the monitor gave one. */
static int workload_serve(struct front *f, long max_clients, long timeout_ms,
			  struct workload_server **out)
{
	struct workload_config wc;
	struct mon_out req;
	struct attest_cur c;
	char td[WL_TD_MAX + 1];
	int acc = 0, r;
	socklen_t al = sizeof(acc);
	struct stat st;

	*out = NULL;
	if (fstat(WORKLOAD_FD, &st) != 0 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(WORKLOAD_FD, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) != 0 || !acc)
		return ATTEST_OK; /* none */
	(void)fcntl(WORKLOAD_FD, F_SETFD, FD_CLOEXEC);
	mon_out_init(&req, MON_WORKLOAD_INFO);
	r = rpc(f, &req, -1, &c);
	mon_out_free(&req);
	if (r != ATTEST_OK)
		return r;
	if (!mon_get_str(&c, td, sizeof(td)) || !mon_get_end(&c) || td[0] == '\0')
		return attest_fail(ATTEST_E_INTERNAL, "workload info malformed");
	if (f->root_der == NULL)
		return attest_fail(ATTEST_E_STATE, "no fleet root: no X.509 bundle to serve");
	memset(&wc, 0, sizeof(wc));
	wc.listen_fd = WORKLOAD_FD;
	wc.call = workload_api_call;
	wc.gone = workload_api_gone;
	wc.max_clients = (int)max_clients;
	wc.request_timeout_ms = (int)timeout_ms;
	wc.backend = (struct workload_backend){ rpc_workload_issue, rpc_workload_jwt,
						rpc_workload_jwks, f };
	wc.trust_domain = td;
	wc.bundle = f->root_der;
	wc.bundle_len = f->root_len;
	if ((r = fedset_new(f->base, on_fed_changed, f, &f->fed)) != ATTEST_OK)
		return r;
	fedset_set_log(f->fed, fed_log, NULL);
	if ((r = load_federation(f)) != ATTEST_OK)
		return r;
	wc.fed = f->fed;
	return workload_start(f->base, &wc, out);
}

static void on_chan(evutil_socket_t fd, short what, void *arg)
{
	struct front *f = arg;
	struct attest_cur c;
	size_t len;
	int passed = -1;

	(void)fd;
	(void)what;
	/* between requests the monitor says only that a push or an issuance
	 * ended; anything else means it is gone (or broke the protocol) */
	if (mon_recv(f->chan, f->buf, &len, &passed) == ATTEST_OK && passed < 0) {
		attest_cur_init(&c, f->buf, len);
		if (unasked(f, &c))
			return;
	}
	if (passed >= 0)
		close(passed);
	attestd_log("the monitor closed the channel or broke the protocol; stopping");
	event_base_loopbreak(f->base);
}

/* ---------- the pushes to the verifier ---------- */

/* The verifier's URL and CA pin from the monitor; "" URL: no pushes. */
static int load_push_config(struct front *f)
{
	struct mon_out req;
	struct attest_cur c;
	const uint8_t *ca;
	size_t n;
	int64_t timeout;
	int r;

	mon_out_init(&req, MON_PUSH_CONFIG);
	r = rpc(f, &req, -1, &c);
	mon_out_free(&req);
	if (r != ATTEST_OK)
		return r;
	if (!mon_get_str(&c, f->push_url, sizeof(f->push_url)) ||
	    !mon_get_bytes(&c, 1024 * 1024, &ca, &n) || !mon_get_i64(&c, &timeout) ||
	    timeout < 0 || timeout > 600000 || !mon_get_end(&c) ||
	    (f->push_url[0] != '\0' && (strncmp(f->push_url, "https://", 8) != 0 || n == 0)))
		return attest_fail(ATTEST_E_INTERNAL, "the monitor's push configuration is malformed");
	if (f->push_url[0] == '\0')
		return ATTEST_OK;
	if ((f->push_ca = malloc(n)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "verifier CA");
	memcpy(f->push_ca, ca, n);
	f->http.ca_pem = (const char *)f->push_ca;
	f->http.ca_pem_len = n;
	f->http.timeout_ms = (long)timeout;
	return ATTEST_OK;
}

/* MON_PUSH_JOB: a request for the worker (which starts once the front is
 * confined: one that comes during start-up waits for it). The monitor
 * has at most one in flight per slot. */
static void push_job(struct front *f, struct attest_cur *c)
{
	uint32_t slot, kind, seq;
	const uint8_t *body;
	size_t n;
	char *copy;

	if (!mon_get_u32(c, &slot) || slot >= PUSH_SLOTS || !mon_get_u32(c, &kind) ||
	    push_kind_path(kind) == NULL || !mon_get_u32(c, &seq) ||
	    !mon_get_bytes(c, ATTEST_PUSH_BODY_MAX, &body, &n) ||
	    !mon_get_end(c)) {
		attestd_log("the monitor's push request is malformed: dropped");
		return;
	}
	if ((copy = malloc(n + 1)) == NULL) {
		attestd_log("push request dropped: out of memory");
		return;
	}
	memcpy(copy, body, n);
	copy[n] = '\0';
	pthread_mutex_lock(&f->mu);
	if (f->jobs[slot].state != PJ_IDLE) {
		/* the monitor gave up on the one before (its deadline) */
		pthread_mutex_unlock(&f->mu);
		free(copy);
		attestd_log("the monitor's push request for a busy slot: dropped");
		return;
	}
	f->jobs[slot].kind = kind;
	f->jobs[slot].seq = seq;
	f->jobs[slot].body = copy;
	f->jobs[slot].len = n;
	f->jobs[slot].state = PJ_QUEUED;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

/* The worker: HTTPS to the verifier (libcurl, TLS to the pinned CA) and
 * the answer parsed into its typed reply, here, unprivileged. */
static void *push_worker(void *arg)
{
	struct front *f = arg;

	pthread_mutex_lock(&f->mu);
	while (!f->stop) {
		struct push_job *j = NULL;
		char *resp = NULL, detail[512];
		size_t resp_len = 0;
		int r;

		for (int i = 0; i < PUSH_SLOTS && j == NULL; i++)
			if (f->jobs[i].state == PJ_QUEUED)
				j = &f->jobs[i];
		if (j == NULL) {
			pthread_cond_wait(&f->cv, &f->mu);
			continue;
		}
		j->state = PJ_RUNNING;
		pthread_mutex_unlock(&f->mu);
		attest_errclear();
		r = attest_verifier_post(&f->http, f->push_url, push_kind_path(j->kind), j->body,
					 j->len, &resp, &resp_len);
		snprintf(detail, sizeof(detail), "%s", attest_errdetail());
		push_reply_parse(j->kind, r, detail, resp, resp_len, &j->rep);
		free(resp);
		pthread_mutex_lock(&f->mu);
		j->state = PJ_DONE;
		(void)!write(f->wake[1], "j", 1);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* On the loop: each finished request's typed reply to the monitor. */
static void on_push_wake(evutil_socket_t fd, short what, void *arg)
{
	struct front *f = arg;
	char b[64];

	(void)what;
	while (read(fd, b, sizeof(b)) > 0)
		;
	for (uint32_t i = 0; i < PUSH_SLOTS; i++) {
		struct push_job done;
		struct mon_out m;

		pthread_mutex_lock(&f->mu);
		done = f->jobs[i];
		if (done.state == PJ_DONE) {
			memset(&f->jobs[i], 0, sizeof(f->jobs[i])); /* moved; PJ_IDLE */
		}
		pthread_mutex_unlock(&f->mu);
		if (done.state != PJ_DONE)
			continue;
		mon_out_init(&m, MON_PUSH_DONE);
		mon_put_u32(&m, i);
		mon_put_u32(&m, done.kind);
		mon_put_u32(&m, done.seq);
		push_reply_put(&m, done.kind, &done.rep);
		if (mon_send(f->chan, &m, -1) != ATTEST_OK)
			attestd_log("push reply not sent to the monitor: %s", attest_errdetail());
		mon_out_free(&m);
		free(done.body);
		push_reply_clear(&done.rep);
	}
}

static int push_start(struct front *f)
{
	sigset_t all, old;
	int r;

	if (f->push_url[0] == '\0')
		return 0;
	if ((f->wake_ev = event_new(f->base, f->wake[0], EV_READ | EV_PERSIST, on_push_wake, f)) ==
		    NULL ||
	    event_add(f->wake_ev, NULL) != 0)
		return -1;
	/* after confine(): the thread is born under the filter */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&f->worker, NULL, push_worker, f);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		attestd_log("push worker: %s", strerror(r));
		return -1;
	}
	f->worker_started = 1;
	return 0;
}

static void push_stop(struct front *f)
{
	if (f->worker_started) {
		pthread_mutex_lock(&f->mu);
		f->stop = 1;
		pthread_cond_signal(&f->cv);
		pthread_mutex_unlock(&f->mu);
		pthread_join(f->worker, NULL);
	}
	for (int i = 0; i < PUSH_SLOTS; i++) {
		free(f->jobs[i].body);
		push_reply_clear(&f->jobs[i].rep);
	}
	if (f->wake_ev != NULL)
		event_free(f->wake_ev);
	free(f->push_ca);
}

/* ---------- the admin socket ---------- */

struct admin_call {
	struct front *f;
	const struct attestd_peer *peer;
};

/* admin.h's runner: the typed request to the monitor with the admin
 * connection, which the monitor checks is root's on the admin socket. */
static int rpc_admin(void *ctx, const struct admin_req *q, struct admin_result *res)
{
	struct admin_call *a = ctx;
	struct mon_out req;
	struct attest_cur c;
	int r;

	mon_out_init(&req, MON_ADMIN);
	admin_req_put(&req, q);
	r = rpc(a->f, &req, a->peer->fd, &c);
	mon_out_free(&req);
	if (r != ATTEST_OK) {
		a->f->recorded = 1; /* the monitor records the refusals it makes */
		return r;
	}
	return admin_result_get(&c, q->op, res);
}

static cJSON *failure_reply(int code)
{
	cJSON *o = attestd_error_reply(code);

	if (o != NULL)
		cJSON_AddStringToObject(o, "detail", attest_errdetail());
	return o;
}

/* {"op":"attest","renew":bool}: answered when the push ends (attest_done);
 * NULL: deferred. Its refusals are answered, not recorded (as before the
 * split: push.c attestd_push_demand). */
static cJSON *admin_attest(struct front *f, const struct attestd_peer *peer, const cJSON *req)
{
	static const char *const keys[] = { "op", "renew", NULL };
	const cJSON *renew = cJSON_GetObjectItemCaseSensitive(req, "renew");
	struct attestd_pending *p;
	struct mon_out m;
	struct attest_cur c;
	uint32_t token;
	int r;

	if ((r = attest_json_only(req, keys)) != ATTEST_OK)
		return failure_reply(r);
	if (renew != NULL && !cJSON_IsBool(renew)) {
		attest_fail(ATTEST_E_PARSE, "\"renew\" must be true or false");
		return failure_reply(ATTEST_E_PARSE);
	}
	if (f->nwaiting == ATTEST_WAITERS) {
		attest_fail(ATTEST_E_BUSY, "%d admin clients already wait for a push", ATTEST_WAITERS);
		return failure_reply(ATTEST_E_BUSY);
	}
	if ((p = attestd_defer(peer)) == NULL) {
		attest_fail(ATTEST_E_NOMEM, "deferred reply");
		return failure_reply(ATTEST_E_NOMEM);
	}
	mon_out_init(&m, MON_ATTEST);
	mon_put_u8(&m, cJSON_IsTrue(renew) ? 1 : 0);
	r = rpc(f, &m, peer->fd, &c);
	mon_out_free(&m);
	if (r == ATTEST_OK && (!mon_get_u32(&c, &token) || !mon_get_end(&c)))
		r = attest_fail(ATTEST_E_INTERNAL, "the monitor's attest answer is malformed");
	if (r != ATTEST_OK) {
		attestd_pending_reply(p, failure_reply(r));
		return NULL;
	}
	f->waiting[f->nwaiting].token = token;
	f->waiting[f->nwaiting++].p = p;
	return NULL;
}

/* MON_ATTEST_DONE: the verdict for the admin client that waits for it. */
static void attest_done(struct front *f, struct attest_cur *c)
{
	char detail[1024], state[16], reason[48], refset[128];
	uint32_t token, code;
	uint8_t reboot, renewed;
	struct attestd_pending *p = NULL;
	cJSON *reply;

	if (!mon_get_u32(c, &token) || !mon_get_u32(c, &code) || code >= ATTEST_E__COUNT ||
	    !mon_get_str(c, detail, sizeof(detail)) || !mon_get_str(c, state, sizeof(state)) ||
	    !mon_get_str(c, reason, sizeof(reason)) || !mon_get_str(c, refset, sizeof(refset)) ||
	    !mon_get_u8(c, &reboot) || !mon_get_u8(c, &renewed) || !mon_get_end(c)) {
		attestd_log("the monitor's push verdict is malformed: dropped");
		return;
	}
	for (size_t i = 0; i < f->nwaiting; i++)
		if (f->waiting[i].token == token) {
			p = f->waiting[i].p;
			f->waiting[i] = f->waiting[--f->nwaiting];
			break;
		}
	if (p == NULL)
		return;
	if (code != ATTEST_OK) {
		attest_fail((int)code, "%s", detail);
		reply = failure_reply((int)code);
	} else if ((reply = attestd_ok_reply()) != NULL) {
		cJSON_AddStringToObject(reply, "state", state);
		cJSON_AddStringToObject(reply, "reason", reason);
		cJSON_AddStringToObject(reply, "refset", refset);
		cJSON_AddBoolToObject(reply, "reboot", reboot != 0);
		cJSON_AddBoolToObject(reply, "renewed", renewed != 0);
	}
	attestd_pending_reply(p, reply);
}

/* {"op":"federate","trust_domain":TD,"bundle_url":URL,"ca_pem":PEM},
 * {"op":"unfederate","trust_domain":TD}, {"op":"federation"}: the monitor
 * checks, audits and keeps the list; the answer lists each trust domain
 * with the state of its bundle here (a new one is fetched at once). */
static cJSON *admin_federate(struct front *f, const struct attestd_peer *peer,
			     const cJSON *req, const char *op, int *r)
{
	static const char *const add_keys[] = { "op", "trust_domain", "bundle_url", "ca_pem",
						NULL };
	static const char *const rm_keys[] = { "op", "trust_domain", NULL };
	static const char *const list_keys[] = { "op", NULL };
	uint8_t action = strcmp(op, "federate") == 0 ? 1 : strcmp(op, "unfederate") == 0 ? 0 : 2;
	const char *td = "", *url = "", *ca = "";
	struct fed_list l = { 0 };
	struct mon_out m;
	struct attest_cur c;
	cJSON *reply = NULL, *arr;

	if (f->fed == NULL) {
		*r = attest_fail(ATTEST_E_STATE, "federation is served with the workload socket, "
				 "which is off");
		return NULL;
	}
	if ((*r = attest_json_only(req, action == 1 ? add_keys
					: action == 0 ? rm_keys : list_keys)) != ATTEST_OK ||
	    (action != 2 &&
	     (*r = attest_json_str(req, "trust_domain", FED_TD_MAX, &td)) != ATTEST_OK) ||
	    (action == 1 &&
	     ((*r = attest_json_str(req, "bundle_url", FED_URL_MAX, &url)) != ATTEST_OK ||
	      (*r = attest_json_str(req, "ca_pem", FED_CA_MAX, &ca)) != ATTEST_OK)))
		return NULL;
	mon_out_init(&m, MON_FEDERATE);
	mon_put_u8(&m, action);
	mon_put_str(&m, td);
	mon_put_str(&m, url);
	mon_put_bytes(&m, ca, strlen(ca));
	*r = rpc(f, &m, peer->fd, &c);
	mon_out_free(&m);
	if (*r != ATTEST_OK)
		return NULL;
	if ((*r = fed_list_get(&c, &l)) != ATTEST_OK)
		return NULL;
	if (!mon_get_end(&c))
		*r = attest_fail(ATTEST_E_INTERNAL, "the monitor's federation list is malformed");
	else if ((*r = fedset_configure(f->fed, &l, action == 1)) == ATTEST_OK &&
		 ((reply = attestd_ok_reply()) == NULL ||
		  (arr = cJSON_AddArrayToObject(reply, "federations")) == NULL ||
		  (*r = fedset_status(f->fed, arr)) != ATTEST_OK)) {
		if (*r == ATTEST_OK)
			*r = attest_fail(ATTEST_E_NOMEM, "reply");
		cJSON_Delete(reply);
		reply = NULL;
	}
	fed_list_clear(&l);
	return reply;
}

/* A request on the admin socket: parsed here, asked of the monitor as a
 * typed request (admin.h), answered as JSON. NULL: deferred. */
static cJSON *admin_request(struct front *f, const struct attestd_peer *peer, const cJSON *req,
			    const char *op, int *r)
{
	struct admin_call call = { f, peer };
	cJSON *reply;

	if (strcmp(op, "attest") == 0)
		return admin_attest(f, peer, req);
	if (strcmp(op, "federate") == 0 || strcmp(op, "unfederate") == 0 ||
	    strcmp(op, "federation") == 0)
		return admin_federate(f, peer, req, op, r);
	if (!admin_is_op(op)) {
		*r = attest_fail(ATTEST_E_PARSE, "unknown op \"%.16s\"", op);
		return NULL;
	}
	if ((reply = attestd_ok_reply()) == NULL) {
		*r = attest_fail(ATTEST_E_NOMEM, "reply");
		return NULL;
	}
	if ((*r = admin_handle(req, op, rpc_admin, &call, reply)) != ATTEST_OK) {
		cJSON_Delete(reply);
		return NULL;
	}
	return reply;
}

/* ---------- requests ---------- */

static cJSON *front_handle(void *ctx, const struct attestd_peer *peer, const cJSON *req)
{
	struct front *f = ctx;
	cJSON *reply = attestd_ok_reply();
	const char *op = NULL;
	int r;

	attest_errclear();
	f->recorded = 0;
	if (reply == NULL)
		return attestd_error_reply(ATTEST_E_NOMEM);
	if ((r = attest_json_str(req, "op", 16, &op)) == ATTEST_OK && peer->admin &&
	    strcmp(op, "issue") != 0) {
		cJSON_Delete(reply);
		/* the monitor checks the connection is root's itself */
		if (peer->uid != 0)
			r = attest_fail(ATTEST_E_DENIED, "%s is for root on the admin socket", op);
		else if ((reply = admin_request(f, peer, req, op, &r)) != NULL || r == ATTEST_OK)
			return reply; /* answered, or deferred (attest) */
		return attestd_refused(peer, req, r, f->recorded ? NULL : rpc_refusal, f);
	}
	if (r == ATTEST_OK) {
		if (strcmp(op, "issue") == 0 && (r = issue_send(f, peer, req)) == ATTEST_OK) {
			cJSON_Delete(reply);
			return NULL; /* deferred: answered at MON_ISSUE_DONE */
		}
		if (strcmp(op, "issue") == 0) {
			/* refused: r */
		}
#ifdef ATTESTD_TEST_HOOKS
		else if (strcmp(op, "x-test-syscall") == 0)
			/* a test build's deliberate bad path: a socket the
			 * seccomp filter does not allow, with or without the
			 * network (pushes, federation), kills the front */
			r = socket(AF_PACKET, SOCK_DGRAM, 0) >= 0 ? ATTEST_OK : ATTEST_E_IO;
#endif
		else if (strcmp(attestd_known_op(op), "request") == 0)
			r = attest_fail(ATTEST_E_PARSE, "unknown op \"%.16s\"", op);
		else
			r = attest_fail(ATTEST_E_DENIED, "%s is for root on the admin socket", op);
	}
	if (r == ATTEST_OK)
		return reply;
	cJSON_Delete(reply);
	return attestd_refused(peer, req, r, f->recorded ? NULL : rpc_refusal, f);
}

/* ---------- confinement ---------- */

static int drop_privileges(const char *user)
{
	struct passwd *pw;

	if (geteuid() != 0) {
		attestd_log("not started as root: the front keeps uid %u", (unsigned)geteuid());
		return 0;
	}
	if ((pw = getpwnam(user)) == NULL || pw->pw_uid == 0) {
		attestd_log("--front-user %s: no such unprivileged user", user);
		return -1;
	}
	if (setgroups(0, NULL) != 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0) {
		attestd_log("cannot become %s: %s", user, strerror(errno));
		return -1;
	}
	/* and no way back: capabilities went with uid 0 */
	if (setuid(0) == 0 || seteuid(0) == 0) {
		attestd_log("could become root again after dropping privileges");
		return -1;
	}
	return 0;
}

/* What the front does once serving: the event loop, its sockets, reading
 * /proc (pinning callers), memory, time, and exiting; with net (pushes to
 * the verifier), TCP/UDP sockets and threads for libcurl. Anything else
 * kills it (SIGSYS; the monitor logs it and starts another). */
static int confine(int net)
{
	static const int allowed[] = {
		SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
		SCMP_SYS(close), SCMP_SYS(recvmsg), SCMP_SYS(sendmsg), SCMP_SYS(recvfrom),
		SCMP_SYS(sendto), SCMP_SYS(accept4), SCMP_SYS(accept), SCMP_SYS(shutdown),
		SCMP_SYS(getsockopt), SCMP_SYS(setsockopt), SCMP_SYS(getsockname),
		SCMP_SYS(getpeername), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait),
		SCMP_SYS(epoll_ctl), SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(select),
		SCMP_SYS(pselect6), SCMP_SYS(fcntl), SCMP_SYS(fstat), SCMP_SYS(newfstatat),
		SCMP_SYS(statx), SCMP_SYS(lseek), SCMP_SYS(getdents64), SCMP_SYS(mmap),
		SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(mprotect), SCMP_SYS(madvise),
		SCMP_SYS(brk), SCMP_SYS(futex), SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep),
		SCMP_SYS(nanosleep), SCMP_SYS(gettimeofday), SCMP_SYS(time), SCMP_SYS(getpid),
		SCMP_SYS(gettid), SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid),
		SCMP_SYS(getegid), SCMP_SYS(getrandom), SCMP_SYS(rt_sigreturn),
		SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigaction), SCMP_SYS(sched_yield),
		SCMP_SYS(restart_syscall), SCMP_SYS(exit), SCMP_SYS(exit_group),
		SCMP_SYS(pidfd_open), SCMP_SYS(pidfd_send_signal), SCMP_SYS(waitid),
		SCMP_SYS(tgkill), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
		SCMP_SYS(prlimit64), SCMP_SYS(getrlimit), SCMP_SYS(eventfd2), SCMP_SYS(readlink),
		SCMP_SYS(readlinkat), SCMP_SYS(uname), SCMP_SYS(sysinfo), SCMP_SYS(getcwd),
	};
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int r = ctx == NULL ? -ENOMEM : 0;

	for (size_t i = 0; r == 0 && i < sizeof(allowed) / sizeof(allowed[0]); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
	/* files: read only (/proc of callers, /proc/self/fdinfo) */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ,
					     (scmp_datum_t)(O_ACCMODE | O_CREAT | O_TRUNC), 0));
	/* bytes waiting on a socket (libevent's buffers), nothing else */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)FIONREAD));
	if (net && r == 0) {
		/* libcurl to the verifier: TCP (and UDP for DNS) over IPv4 or
		 * IPv6 only, never a Unix or netlink socket; a socketpair and a pipe
		 * for its wake-ups; threads (its resolver, the push worker):
		 * clone only with CLONE_THREAD, clone3 answered ENOSYS (its
		 * flags are out of a filter's reach) so glibc falls back */
		static const int netcalls[] = { SCMP_SYS(connect), SCMP_SYS(sendmmsg),
						SCMP_SYS(recvmmsg), SCMP_SYS(pipe2),
						SCMP_SYS(sched_getaffinity), SCMP_SYS(set_robust_list),
						SCMP_SYS(madvise) };

		for (size_t i = 0; r == 0 && i < sizeof(netcalls) / sizeof(netcalls[0]); i++)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, netcalls[i], 0);
		if (r == 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
					     SCMP_A0(SCMP_CMP_EQ, AF_INET));
		if (r == 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
					     SCMP_A0(SCMP_CMP_EQ, AF_INET6));
		/* glibc's resolver asks nscd (a Unix socket) and the routing
		 * table (netlink) first: refused, it does without them */
		if (r == 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1,
					     SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
		if (r == 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1,
					     SCMP_A0(SCMP_CMP_EQ, AF_NETLINK));
		if (r == 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1,
					     SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
#if !defined(__SANITIZE_ADDRESS__) /* (the sanitizers' rules allow every clone) */
		if (r == 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
					     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
#endif
		if (r == 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	}
#if defined(__SANITIZE_ADDRESS__)
	/* sanitizer builds only (make asan): LeakSanitizer stops the world
	 * at exit with a traced clone of the process */
	{
		static const int lsan[] = { SCMP_SYS(clone), SCMP_SYS(clone3), SCMP_SYS(ptrace),
					    SCMP_SYS(wait4), SCMP_SYS(prctl), SCMP_SYS(sigaltstack),
					    SCMP_SYS(sched_getaffinity), SCMP_SYS(getppid),
					    SCMP_SYS(kill), SCMP_SYS(unshare), SCMP_SYS(dup),
					    SCMP_SYS(dup2), SCMP_SYS(dup3), SCMP_SYS(pipe2),
					    SCMP_SYS(open), SCMP_SYS(getdents) };

		for (size_t i = 0; r == 0 && i < sizeof(lsan) / sizeof(lsan[0]); i++)
			if (!(net && (lsan[i] == SCMP_SYS(clone3) || lsan[i] == SCMP_SYS(sched_getaffinity))))
				r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, lsan[i], 0);
	}
#endif
	/* every thread (the descriptor closer too) */
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r != 0)
		attestd_log("seccomp: %s", strerror(-r));
	return r == 0 ? 0 : -1;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	attestd_log("signal %d: stopping", (int)sig);
	event_base_loopbreak(arg);
}

int attestd_front_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "front", no_argument, NULL, 'F' },
		{ "front-user", required_argument, NULL, 'u' },
		{ "max-clients", required_argument, NULL, 'm' },
		{ "frame-timeout", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *user = "nobody";
	long max_clients = 64, timeout_ms = 5000;
	struct front f;
	struct attestd_server *srv = NULL;
	struct workload_server *wl = NULL;
	struct attestd_server_config cfg;
	struct event *chan_ev = NULL, *sigterm = NULL, *sigint = NULL;
	struct stat st;
	int c, net, status = 1;

	attestd_log_name("attestd-front");
	(void)prctl(PR_SET_NAME, "attestd-front", 0, 0, 0);
	memset(&f, 0, sizeof(f));
	f.wake[0] = f.wake[1] = -1;
	f.chan = CHAN_FD;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'F': break;
		case 'u': user = optarg; break;
		case 'm':
		case 'f': {
			uint64_t v;

			if (attest_parse_u64(optarg, 1, 600000, &v) != ATTEST_OK)
				return 2;
			if (c == 'm')
				max_clients = (long)v;
			else
				timeout_ms = (long)v;
			break;
		}
		default: return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (attestd_nodump() != 0 || fstat(CHAN_FD, &st) != 0 || !S_ISSOCK(st.st_mode) ||
	    fstat(AGENT_FD, &st) != 0 || !S_ISSOCK(st.st_mode) || fstat(ADMIN_FD, &st) != 0 ||
	    !S_ISSOCK(st.st_mode)) {
		attestd_log("started without its monitor (descriptors 3, 4 and 5): attestd starts "
			    "the front itself");
		return 2;
	}
	(void)fcntl(CHAN_FD, F_SETFD, FD_CLOEXEC);
	(void)fcntl(AGENT_FD, F_SETFD, FD_CLOEXEC);
	(void)fcntl(ADMIN_FD, F_SETFD, FD_CLOEXEC);
	f.backend = (struct issue_backend){ rpc_agent_info, rpc_mint, &f };
	if ((f.buf = malloc(MON_MSG_MAX)) == NULL || (f.base = event_base_new()) == NULL)
		goto out;
	pthread_mutex_init(&f.mu, NULL);
	pthread_cond_init(&f.cv, NULL);
	if (pipe2(f.wake, O_CLOEXEC | O_NONBLOCK) != 0)
		goto out;
	if (load_trust(&f) != ATTEST_OK) {
		attestd_log("no intent trust from the monitor: %s", attest_errdetail());
		goto out;
	}
	if (load_push_config(&f) != ATTEST_OK) {
		attestd_log("no push configuration from the monitor: %s", attest_errdetail());
		goto out;
	}
	/* libcurl's global state (and OpenSSL's), while files can be opened */
	/* the network: pushes to the verifier; federated bundle endpoints
	 * (with the workload socket) */
	net = f.push_url[0] != '\0' || workload_fd_present();
	if (net && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto out;
	{
		/* load OpenSSL's providers and make the keygen context now,
		 * while files can be opened */
		EVP_PKEY *k = NULL;

		if (attest_p256_keygen(&k) != ATTEST_OK)
			attest_errclear();
		EVP_PKEY_free(k);
	}
	if (drop_privileges(user) != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		goto out;
	memset(&cfg, 0, sizeof(cfg));
	cfg.agent_fd = AGENT_FD;
	cfg.admin_fd = ADMIN_FD;
	cfg.max_clients = (int)max_clients;
	cfg.frame_timeout_ms = (int)timeout_ms;
	cfg.handler = front_handle;
	cfg.handler_ctx = &f;
	if (attestd_server_start(f.base, &cfg, &srv) != ATTEST_OK)
		goto out;
	if (workload_serve(&f, max_clients, timeout_ms, &wl) != ATTEST_OK) {
		attestd_log("cannot serve the workload socket: %s", attest_errdetail());
		goto out;
	}
	chan_ev = event_new(f.base, f.chan, EV_READ | EV_PERSIST, on_chan, &f);
	sigterm = evsignal_new(f.base, SIGTERM, on_signal, f.base);
	sigint = evsignal_new(f.base, SIGINT, on_signal, f.base);
	if (chan_ev == NULL || sigterm == NULL || sigint == NULL || event_add(chan_ev, NULL) != 0 ||
	    event_add(sigterm, NULL) != 0 || event_add(sigint, NULL) != 0)
		goto out;
	if (confine(net) != 0 || push_start(&f) != 0 || (f.fed != NULL && fedset_start(f.fed) != 0))
		goto out;
	attestd_log("serving the agent and admin sockets%s as uid %u, no capabilities, seccomp "
		    "filter on",
		    wl != NULL ? " and the workload socket" : "", (unsigned)geteuid());
	event_base_dispatch(f.base);
	status = 0;
out:
	if (chan_ev != NULL)
		event_free(chan_ev);
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	workload_stop(wl);
	attestd_server_stop(srv);
	push_stop(&f);
	fedset_free(f.fed);
	if (f.base != NULL)
		event_base_free(f.base);
	for (int i = 0; i < 2; i++)
		if (f.wake[i] >= 0)
			close(f.wake[i]);
	attest_intent_trust_free(f.trust);
	free(f.root_der);
	free(f.buf);
	return status;
}
