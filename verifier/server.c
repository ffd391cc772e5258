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
#include <sys/wait.h>
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

#include "sdnotify.h"

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
#include "core/num.h"
#include "attestation/quote.h"
#include "attestation/refset.h"
#include "privdrop.h"
#include "server.h"
#include "store.h"
#include "tlsca.h"
#include "tpm/tpm.h"
#include "x509/x509.h"
#include "x509/x509agent.h"
#include "vsrv.h"

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

/* What a TLS connection keeps of its caller (issue 17): the enrolled,
 * unrevoked caller its certificate resolved to, valid while the
 * connection's peer certificate is the one resolved and no change
 * generation came in since (a revocation bumps it: `attest-verifier
 * caller revoke`, replica.c applies it). Not kept: refusals. */
struct conn_caller {
	const X509 *peer;
	uint64_t epoch;
	int valid;
	struct vcaller c;
};
_Static_assert(sizeof(struct conn_caller) <= ATTEST_HTTPD_CONN_APP, "connection slot");

/* The enrolled caller behind req's client certificate, if its role is at
 * least `need`; looked up in the store once per connection. */
static int caller_of(struct vsrv *s, struct evhttp_request *req, enum role need,
		     struct vcaller *c)
{
	X509 *peer = attest_httpd_peer(req);
	struct conn_caller *cc = attest_httpd_conn_app(req);
	uint8_t h[32];
	int r;

	memset(c, 0, sizeof(*c));
	if (peer == NULL)
		return attest_fail(ATTEST_E_CALLER, "no client certificate");
	if (cc != NULL && cc->valid && cc->peer == peer && cc->epoch == s->view_epoch) {
		s->m.caller_hits++;
		*c = cc->c;
	} else {
		s->m.caller_misses++;
		if (cc != NULL)
			cc->valid = 0;
		if ((r = vf_spki_hash(peer, h)) != ATTEST_OK)
			return r;
		r = s->store->ops->caller_by_spki(s->store, h, c);
		if (r == ATTEST_E_NOT_FOUND)
			return attest_fail(ATTEST_E_CALLER,
					   "client certificate is not an enrolled caller");
		if (r != ATTEST_OK)
			return r;
		if (cc != NULL && !c->revoked) {
			cc->peer = peer;
			cc->epoch = s->view_epoch;
			cc->c = *c;
			cc->valid = 1;
		}
	}
	if (c->revoked)
		return attest_fail(ATTEST_E_CALLER, "caller %s is revoked", c->name);
	if ((need == ROLE_ADMIN && c->role != VCALLER_ADMIN) ||
	    (need == ROLE_RESOURCE && c->role != VCALLER_RESOURCE && c->role != VCALLER_ADMIN))
		return attest_fail(ATTEST_E_CALLER, "caller %s may not use this endpoint", c->name);
	return ATTEST_OK;
}

/* ---- routing ---- */

/* The request line and headers within HEADERS_MAX (evhttp's own cap is a
 * ceiling above it, so that this one answers in JSON with 431). */
static int request_shape(struct evhttp_request *req, size_t cap)
{
	const struct evkeyvalq *hd = evhttp_request_get_input_headers(req);
	const struct evkeyval *kv;
	const char *uri = evhttp_request_get_uri(req);
	size_t n = uri != NULL ? strlen(uri) + 16 : 16;

	for (kv = hd->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
		n += strlen(kv->key) + strlen(kv->value) + 4;
		if (n > cap)
			return attest_fail(ATTEST_E_HTTP_HEADERS_TOO_LARGE,
					   "request headers over %zu bytes", cap);
	}
	return n > cap ? attest_fail(ATTEST_E_HTTP_HEADERS_TOO_LARGE,
				     "request headers over %zu bytes", cap)
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
	{"/v1/enrol/request", VR_POST, ROLE_HOST, ATTEST_ENROL_MSG_CAP, vs_enrol, 0, 0, 0},
	{"/v1/enrol/response", VR_POST, ROLE_HOST, ATTEST_ENROL_MSG_CAP, vs_enrol, 1, 0, 0},
	{"/v1/hosts/nonce", VR_POST, ROLE_HOST, VB_CAP_SMALL, vs_nonce, 0, 0, 0},
	{"/v1/hosts/quote", VR_POST, ROLE_HOST, VB_CAP_LARGE, vs_quote, 0, 0, 0},
	{"/v1/agents/report", VR_POST, ROLE_HOST, VB_CAP_LARGE, vs_report, 0, 0, 0},
	{"/v1/audit/checkpoint", VR_POST, ROLE_HOST, VB_CAP_CHECKPOINT, vs_checkpoint, 0, 0, 0},
	{"/v1/decide", VR_POST, ROLE_RESOURCE, VB_CAP_DECIDE, vs_decide, 0, 0, 0},
	/* forward authorization (nginx auth_request, Envoy ext_authz): any
	 * method, the original request in headers, the client's leaf among
	 * them (URL-escaped PEM, so a larger header cap) */
	{"/v1/authz", VR_ANY, ROLE_RESOURCE, 0, vs_authz, 0, 1, AUTHZ_HEADERS_MAX},
	{"/v1/hosts", VR_GET, ROLE_ADMIN, 0, vs_list, 1, 0, 0},
	{"/v1/hosts/revoke", VR_POST, ROLE_ADMIN, VB_CAP_SMALL, vs_revoke, 1, 0, 0},
	{"/v1/agents", VR_GET, ROLE_ADMIN, 0, vs_list, 0, 0, 0},
	{"/v1/agents/revoke", VR_POST, ROLE_ADMIN, VB_CAP_SMALL, vs_revoke, 0, 0, 0},
	{"/v1/agents/approve", VR_POST, ROLE_ADMIN, VB_CAP_SMALL, vs_approve, 0, 0, 0},
	{"/v1/settings", VR_GET | VR_POST, ROLE_ADMIN, VB_CAP_SETTINGS, vs_settings, 0, 0, 0},
	{"/v1/refsets", VR_GET | VR_POST, ROLE_ADMIN, VB_CAP_LARGE, vs_refsets, 0, 0, 0},
	{"/v1/refsets/deactivate", VR_POST, ROLE_ADMIN, VB_CAP_SMALL, vs_refsets, 1, 0, 0},
	{"/v1/policy/reload", VR_POST, ROLE_ADMIN, 4096, vs_reload, 0, 0, 0},
	{"/v1/health", VR_GET, ROLE_HOST, 0, vs_health, 0, 0, 0},
	{"/v1/spiffe/bundle", VR_GET, ROLE_HOST, 0, vs_spiffe_bundle, 0, 0, 0},
	/* issue 14: a resource server validates a JWT-SVID (bearer token) */
	{"/v1/spiffe/validate-jwt", VR_POST, ROLE_RESOURCE, 16384, vs_spiffe_validate, 0, 0, 0},
	/* the fleet's CRLs for nginx ssl_crl (issue 15 item 5) */
	{"/v1/crl", VR_GET, ROLE_RESOURCE, 0, vs_crl, 0, 0, 0},
	{"/metrics", VR_GET, ROLE_HOST, 0, vs_metrics, 0, 0, 0},
	/* issue 19: posture report and anomaly alerts (docs/detection.md) */
	{"/v1/posture", VR_GET, ROLE_ADMIN, 0, vs_posture, 0, 0, 0},
	{"/v1/alerts", VR_GET, ROLE_ADMIN, 0, vs_alerts, 0, 0, 0},
	/* the fleet dashboard (dashboard.c, docs/dashboard.md): read-only for
	 * ROLE_VIEW; revocation from it only with an admin's certificate */
	{"/dashboard", VR_GET, ROLE_VIEW, 0, vs_dash_asset, 0, 0, 0},
	{"/dashboard/", VR_GET, ROLE_VIEW, 0, vs_dash_asset, 0, 0, 0},
	{"/dashboard/app.js", VR_GET, ROLE_VIEW, 0, vs_dash_asset, 1, 0, 0},
	{"/dashboard/app.css", VR_GET, ROLE_VIEW, 0, vs_dash_asset, 2, 0, 0},
	{"/dashboard/favicon.svg", VR_GET, ROLE_VIEW, 0, vs_dash_asset, 3, 0, 0},
	{"/v1/dashboard/state", VR_GET, ROLE_VIEW, 0, vs_dash_state, 0, 0, 0},
	{"/v1/dashboard/revoke", VR_POST, ROLE_ADMIN, VB_CAP_SMALL, vs_dash_revoke, 0, 0, 0},
	/* the detector's posture report and alerts, for the dashboard's viewers */
	{"/v1/dashboard/posture", VR_GET, ROLE_VIEW, 0, vs_dash_detect, 0, 0, 0},
	{"/v1/dashboard/alerts", VR_GET, ROLE_VIEW, 0, vs_dash_detect, 1, 0, 0},
};

static void route(struct evhttp_request *req, void *arg)
{
	struct vsrv *s = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	int post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;
	int get = evhttp_request_get_command(req) == EVHTTP_REQ_GET;
	unsigned method = post ? VR_POST : get ? VR_GET : 0x80u; /* 0x80: any other */
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
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		size_t pl = strlen(routes[i].path);

		if (strcmp(routes[i].path, path) != 0 &&
		    !(routes[i].prefix && strncmp(routes[i].path, path, pl) == 0 && path[pl] == '/'))
			continue;
		known = routes[i].methods == VR_ANY		 ? "*"
			: routes[i].methods == (VR_GET | VR_POST) ? "GET, POST"
			: routes[i].methods == VR_POST		 ? "POST"
								 : "GET";
		if (routes[i].methods & method)
			rt = &routes[i];
		break; /* one entry per path */
	}
	if ((r = request_shape(req, rt != NULL && rt->headers_cap ? rt->headers_cap
								  : HEADERS_MAX)) != ATTEST_OK) {
		vs_reply_err(s, req, r == ATTEST_E_HTTP_HEADERS_TOO_LARGE ? 431 : 400, r,
			     "request refused");
		return;
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
	if (post && rt->methods != VR_ANY && !json_body(req)) {
		(void)attest_fail(ATTEST_E_HTTP_MEDIA_TYPE, "Content-Type is not application/json");
		vs_reply_err(s, req, 415, ATTEST_E_HTTP_MEDIA_TYPE, "request refused");
		return;
	}
	if (rt->role == ROLE_VIEW && attest_httpd_peer(req) == NULL) {
		/* the dashboard without a certificate: loopback, or refused */
		if ((r = vs_dash_access(s, req, 0, &who)) != ATTEST_OK) {
			s->m.refused_callers++;
			vs_reply_err(s, req, r == ATTEST_E_NOT_FOUND ? 404 : 403, r, "caller refused");
			return;
		}
		if (!rate_ok(s, attest_httpd_peer_addr(req), s->cfg->rate_host)) {
			s->m.rate_limited++;
			(void)attest_fail(ATTEST_E_RATE, "address over its rate");
			(void)evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
			vs_reply_err(s, req, 429, ATTEST_E_RATE, "rate limited");
			return;
		}
	} else if (rt->role != ROLE_HOST) {
		/* with a certificate the dashboard is an admin's */
		if ((rt->role == ROLE_VIEW || strncmp(path, "/v1/dashboard/", 14) == 0) &&
		    (r = vs_dash_access(s, req, 1, &who)) != ATTEST_OK) {
			vs_reply_err(s, req, 404, r, "unknown endpoint");
			return;
		}
		if ((r = caller_of(s, req, rt->role == ROLE_VIEW ? ROLE_ADMIN : rt->role, &who)) !=
		    ATTEST_OK) {
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

/* The signer process exited: without it no host can enrol or renew, and
 * a signer that died on a protocol violation means this process asked
 * for something outside the request set. Stop; a restart brings both. */
static void on_child(evutil_socket_t sig, short what, void *arg)
{
	struct vsrv *s = arg;
	int st = 0;

	(void)sig;
	(void)what;
	if (s->signer.pid <= 0 || waitpid(s->signer.pid, &st, WNOHANG) != s->signer.pid)
		return;
	s->signer.pid = 0;
	s->signer.dead = 1;
	vs_log("the signer process exited (%s %d): stopping",
	       WIFEXITED(st) ? "status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	event_base_loopbreak(s->base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct vsrv *s = arg;
	int r;

	(void)what;
	if (sig == SIGHUP) {
		(void)sdn_notify("RELOADING=1");
		if ((r = vs_load_policy(s)) != ATTEST_OK)
			vs_log("policy reload refused, the running policy stays: %s (%s)",
			      attest_errname(r), attest_errdetail());
		(void)sdn_notify("READY=1");
		return;
	}
	vs_log("stopping on signal %d", (int)sig);
	(void)sdn_notify("STOPPING=1");
	event_base_loopexit(s->base, NULL);
}

static int split_listen(const char *l, char *addr, size_t n, unsigned short *port)
{
	const char *c = strrchr(l, ':');
	uint64_t p;

	if (c == NULL || (size_t)(c - l) >= n || c == l)
		return attest_fail(ATTEST_E_INVALID_ARG, "--listen wants ADDR:PORT");
	memcpy(addr, l, (size_t)(c - l));
	addr[c - l] = '\0';
	if (attest_parse_u64(c + 1, 0, 65535, &p) != ATTEST_OK)
		return attest_fail_wrap(ATTEST_E_INVALID_ARG, "--listen port");
	*port = (unsigned short)p;
	return ATTEST_OK;
}

/* The fleet's issuing CAs as intermediates for delegation chains (their
 * x5c ends at the host CA). Those a later rotation adds reach decisions
 * through the decided leaf's own verified path. */
static int vs_add_issuing(struct vsrv *s)
{
	STACK_OF(X509) *sk = NULL;
	int r = attest_ca_issuing_certs(s->ca, &sk);

	for (int i = 0; r == ATTEST_OK && i < sk_X509_num(sk); i++)
		r = attest_intent_trust_add_intermediate(s->trust, sk_X509_value(sk, i));
	sk_X509_pop_free(sk, X509_free);
	return r;
}

int vf_serve(const struct vf_config *cfg)
{
	struct vsrv s;
	char addr[128], path[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], cacert[PATH_MAX];
	char auditdir[PATH_MAX];
	struct timeval ten = {10, 0};
	unsigned short port = 0;
	int lock_fd = -1;
	struct event *sigs[4] = {NULL, NULL, NULL, NULL}, *wd = NULL;
	static const int signos[3] = {SIGTERM, SIGINT, SIGHUP};
	struct attest_httpd_opts ho;
	struct vf_user user;
	int r;

	memset(&s, 0, sizeof(s));
	s.signer.fd = -1;
	s.cfg = cfg;
	signal(SIGPIPE, SIG_IGN);
	if ((r = split_listen(cfg->listen, addr, sizeof(addr), &port)) != ATTEST_OK)
		return r;
	/* who the serving process becomes, known before anything starts */
	if ((r = vf_user_resolve(cfg->user, &user)) != ATTEST_OK)
		return r;
	/* One serving process per state: two would each keep their own nonces
	 * and rate limits and both append to STATE/audit. */
	(void)snprintf(path, sizeof(path), "%s/verifier.lock", cfg->state);
	if ((r = attest_lock_file(path, &lock_fd)) != ATTEST_OK)
		return r;
	/* The CA key holder, forked before anything else is opened: this
	 * process never reads a key file of the CA (docs/verifier.md "Key
	 * custody"). */
	if ((r = vf_signer_start(cfg->ca_dir, lock_fd, &s.signer)) != ATTEST_OK) {
		close(lock_fd);
		return r;
	}
	(void)snprintf(s.policy_path, sizeof(s.policy_path), "%s",
		       cfg->policy != NULL ? cfg->policy : "");
	if (cfg->policy == NULL)
		(void)snprintf(s.policy_path, sizeof(s.policy_path), "%s/policy.json", cfg->state);
	(void)snprintf(cert, sizeof(cert), "%s/tls/server.pem", cfg->state);
	(void)snprintf(key, sizeof(key), "%s/tls/server.key", cfg->state);
	(void)snprintf(cacert, sizeof(cacert), "%s/tls/ca.pem", cfg->state);
	if ((r = vs_keyed_init(&s)) != ATTEST_OK)
		goto out;
	if ((r = vs_ak_cache_init(&s, cfg->ak_cache)) != ATTEST_OK ||
	    (r = vs_view_init(&s, 0)) != ATTEST_OK)
		goto out;
	if ((s.buckets = calloc(BUCKETS, sizeof(*s.buckets))) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "tables");
		goto out;
	}
	(void)snprintf(auditdir, sizeof(auditdir), "%s/audit", cfg->state);
	if ((r = vs_dash_init(&s)) != ATTEST_OK)
		goto out;
	if (cfg->tcti != NULL && (r = attest_tpm_open(cfg->tcti, &s.tpm)) != ATTEST_OK)
		goto out;
	if ((r = attest_audit_open(auditdir, NULL, &s.audit)) != ATTEST_OK ||
	    (r = attest_audit_syncer_new(s.audit, &s.syncer)) != ATTEST_OK)
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
	if ((r = vstore_open_spec(cfg->store, cfg->state, 0, &s.store)) != ATTEST_OK ||
	    (r = attest_ca_open(cfg->ca_dir, &s.ca)) != ATTEST_OK ||
	    (r = attest_x509_load(attest_ca_root_path(s.ca), &s.root)) != ATTEST_OK ||
	    (r = attest_intent_trust_new(&s.trust)) != ATTEST_OK ||
	    (r = attest_intent_trust_set_root(s.trust, s.root)) != ATTEST_OK ||
	    (r = vs_add_issuing(&s)) != ATTEST_OK ||
	    (r = vs_load_keys(cfg->state, "intent-issuers", vs_add_issuer, &s)) != ATTEST_OK ||
	    (r = vs_load_keys(cfg->state, "operators", vs_add_operator, &s)) != ATTEST_OK ||
	    (r = vs_load_settings(&s)) != ATTEST_OK || (r = vs_load_refsets(&s)) != ATTEST_OK ||
	    (r = vs_nonce_key_load(&s)) != ATTEST_OK)
		goto out;
	attest_ca_set_signer(s.ca, vf_signer_sign_host, &s.signer);
	s.facts.host = vs_fact_host;
	s.facts.agent = vs_fact_agent;
	s.facts.arg = &s;
	if ((r = attest_decider_new(s.root, s.trust, &s.facts, &s.decider)) != ATTEST_OK ||
	    (r = vs_decider_cache_init(&s, cfg->leaf_cache, cfg->issuer_cache)) != ATTEST_OK ||
	    (r = vs_detect_start(&s)) != ATTEST_OK ||
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
	/* the federation file is read as root, before the drop */
	if ((r = vs_fed_init(&s)) != ATTEST_OK)
		goto out;
	if ((r = vs_replica_start(&s)) != ATTEST_OK ||
	    (r = vs_replica_events(&s)) != ATTEST_OK)
		goto out;
	/* every method reaches route(), which answers 405 in JSON */
	evhttp_set_allowed_methods(attest_httpd_http(s.httpd),
				   EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
					   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
					   EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	if (s.tpm != NULL)
		vs_checkpoint_own(&s);
	if ((s.sync_ev = event_new(s.base, attest_audit_syncer_fd(s.syncer), EV_READ | EV_PERSIST,
				   vs_sync_cb, &s)) == NULL ||
	    event_add(s.sync_ev, NULL) != 0 ||
	    (s.flush_ev = event_new(s.base, -1, EV_PERSIST, vs_flush_cb, &s)) == NULL ||
	    event_add(s.flush_ev, &ten) != 0 ||
	    (s.detect_ev = event_new(s.base, -1, EV_PERSIST, vs_detect_flush_cb, &s)) == NULL ||
	    event_add(s.detect_ev, &(struct timeval){VS_DETECT_FLUSH, 0}) != 0) {
		r = attest_fail(ATTEST_E_NOMEM, "audit events");
		goto out;
	}
	for (int i = 0; i < 3; i++)
		if ((sigs[i] = evsignal_new(s.base, signos[i], on_signal, &s)) == NULL ||
		    event_add(sigs[i], NULL) != 0) {
			r = attest_fail(ATTEST_E_INTERNAL, "signal events");
			goto out;
		}
	if ((sigs[3] = evsignal_new(s.base, SIGCHLD, on_child, &s)) == NULL ||
	    event_add(sigs[3], NULL) != 0) {
		r = attest_fail(ATTEST_E_INTERNAL, "signal events");
		goto out;
	}
	/* exited before the handler was in place */
	on_child(SIGCHLD, 0, &s);
	/* Everything is open (socket, TLS key, store, audit log, TPM): the
	 * state and CA directories get the layout the serving user needs
	 * (privdrop.h), the port file is written while its directory may
	 * still be root's, then this process drops to its user for good. */
	if ((r = vf_layout_fix(cfg, &user)) != ATTEST_OK)
		goto out;
	if (cfg->port_file != NULL) {
		char pb[16];
		int n = snprintf(pb, sizeof(pb), "%u\n", attest_httpd_port(s.httpd));

		if ((r = attest_file_write_atomic(cfg->port_file, pb, (size_t)n, 0644)) != ATTEST_OK)
			goto out;
	}
	if ((r = vf_user_drop(&user)) != ATTEST_OK)
		goto out;
	/* the federated bundles' fetcher, started as the serving user */
	if ((r = vs_fed_start(&s)) != ATTEST_OK)
		goto out;
	/* the alert delivery thread, started as the serving user */
	if (s.vd != NULL &&
	    (r = vas_start(cfg->alert_webhook, cfg->alert_ca, cfg->alert_syslog, &s.sink)) != ATTEST_OK)
		goto out;
	if (user.drop)
		vs_log("serving as %s (uid %u, gid %u); the signer (pid %d) keeps root", user.name,
		       (unsigned)user.uid, (unsigned)user.gid, (int)s.signer.pid);
	else if (user.keep_root)
		vs_log("--user root: the serving process keeps root, so a subverted one could read "
		       "the issuing CA key file (docs/verifier.md \"Key custody\")");
	vs_log("listening on https://%s:%u (fleet CA %s, %zu intent issuers loaded, %zu operator "
	      "keys, %zu reference sets active)",
	      addr, attest_httpd_port(s.httpd), cfg->ca_dir, s.nissuers, s.nops, s.nsets);
	/* systemd (Type=notify): serving from now on; the watchdog pings come
	 * from the loop, so a wedged loop gets the service restarted */
	if (sdn_watchdog_start(s.base, &wd) != 0) {
		r = attest_fail(ATTEST_E_NOMEM, "watchdog timer");
		goto out;
	}
	{
		char st[160];

		(void)snprintf(st, sizeof(st), "READY=1\nSTATUS=serving on %s:%u", addr,
			       attest_httpd_port(s.httpd));
		if (sdn_notify(st) != 0)
			vs_log("cannot notify systemd ($NOTIFY_SOCKET): %s", strerror(errno));
	}
	if (event_base_dispatch(s.base) != 0) {
		r = attest_fail(ATTEST_E_INTERNAL, "event loop failed");
		goto out;
	}
	r = s.signer.dead ? attest_fail(ATTEST_E_INTERNAL, "the signer process exited") : ATTEST_OK;
out:
	/* the replies still waiting: after a last sync on this thread */
	attest_audit_syncer_free(s.syncer);
	if (s.audit != NULL && attest_audit_refusal_flush(s.audit, (uint64_t)time(NULL), 1) != ATTEST_OK)
		vs_log("audit: refusal aggregates not written: %s", attest_errdetail());
	if (s.tpm != NULL && s.audit != NULL && attest_audit_size(s.audit) > 0)
		vs_checkpoint_own(&s);
	vs_detect_stop(&s);
	vs_fed_free(&s);
	attest_audit_close(s.audit);
	attest_tpm_close(s.tpm);
	vs_dash_free(&s);
	if (wd != NULL)
		event_free(wd);
	vs_replica_free(&s);
	if (s.sync_ev != NULL)
		event_free(s.sync_ev);
	if (s.flush_ev != NULL)
		event_free(s.flush_ev);
	if (s.detect_ev != NULL)
		event_free(s.detect_ev);
	for (int i = 0; i < 4; i++)
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
	X509_CRL_free(s.issuing_crl);
	attest_ca_close(s.ca);
	vf_signer_stop(&s.signer);
	vstore_close(s.store);
	free(s.aks);
	vs_view_free(&s);
	free(s.buckets);
	EVP_MAC_CTX_free(s.sip);
	OPENSSL_cleanse(s.nonce_key, sizeof(s.nonce_key));
	if (lock_fd >= 0)
		close(lock_fd);
	return r;
}
