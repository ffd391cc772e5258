/* dashboard.c - the fleet dashboard (docs/dashboard.md): its pages,
 * embedded at build time (verifier/dashboard/ -> build/gen/dash_assets.c),
 * who may see it (an admin client certificate from anywhere, or no
 * certificate from a loopback peer naming a loopback host), the bounded
 * ring of recent decisions it shows, its JSON state and the revocation it
 * offers to admins (same-origin POST with a per-certificate token). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "core/err.h"
#include "core/json.h"
#include "core/num.h"
#include "vsrv.h"

/* build/gen/dash_assets.c: the files of verifier/dashboard/ as arrays */
extern const unsigned char dash_index_html[], dash_app_js[], dash_app_css[], dash_favicon_svg[];
extern const unsigned int dash_index_html_len, dash_app_js_len, dash_app_css_len,
	dash_favicon_svg_len;

/* The optional parts the page asks for only when this verifier has them
 * (so that a missing one is no failed request in the browser's console):
 * GET /v1/dashboard/alerts and /v1/dashboard/posture. */
#define DASH_HAVE_ALERTS 1
#define DASH_HAVE_POSTURE 1

/* Every dashboard answer: no script but the dashboard's own file, no
 * inline script or style, no frame around it, nothing sniffed, nothing
 * kept by caches or told to other sites. */
static void dash_headers(struct evhttp_request *req)
{
	struct evkeyvalq *hd = evhttp_request_get_output_headers(req);

	(void)evhttp_add_header(hd, "Content-Security-Policy",
				"default-src 'self'; script-src 'self'; style-src 'self'; "
				"img-src 'self'; connect-src 'self'; object-src 'none'; "
				"base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
	(void)evhttp_add_header(hd, "X-Content-Type-Options", "nosniff");
	(void)evhttp_add_header(hd, "X-Frame-Options", "DENY");
	(void)evhttp_add_header(hd, "Referrer-Policy", "no-referrer");
	(void)evhttp_add_header(hd, "Cross-Origin-Opener-Policy", "same-origin");
	(void)evhttp_add_header(hd, "Cross-Origin-Resource-Policy", "same-origin");
}

/* ---- access ---- */

int vs_dash_loopback_addr(const char *a)
{
	struct in_addr v4;
	struct in6_addr v6;

	if (inet_pton(AF_INET, a, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, a, &v6) != 1)
		return 0;
	if (IN6_IS_ADDR_LOOPBACK(&v6))
		return 1;
	return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

/* The Host header names this machine's loopback: "localhost",
 * "127.x.y.z" or "[::1]", with an optional port. A page a browser got
 * from another name (DNS rebinding to 127.0.0.1) never qualifies. */
int vs_dash_loopback_host(const char *h)
{
	char name[80];
	const char *end;
	size_t n;

	if (h == NULL)
		return 0;
	if (h[0] == '[') {
		if ((end = strchr(h, ']')) == NULL)
			return 0;
		n = (size_t)(end - h - 1);
		end++;
		h++;
	} else {
		end = strchr(h, ':');
		n = end != NULL ? (size_t)(end - h) : strlen(h);
		if (end == NULL)
			end = h + n;
	}
	if (n == 0 || n >= sizeof(name))
		return 0;
	memcpy(name, h, n);
	name[n] = '\0';
	if (*end == ':') {
		uint64_t port;

		if (attest_parse_u64(end + 1, 1, 65535, &port) != ATTEST_OK)
			return 0;
	} else if (*end != '\0') {
		return 0;
	}
	return strcasecmp(name, "localhost") == 0 || vs_dash_loopback_addr(name);
}

int vs_dash_access(struct vsrv *s, struct evhttp_request *req, int has_cert, struct vcaller *who)
{
	const struct evkeyvalq *hd = evhttp_request_get_input_headers(req);
	static const char *const proxied[] = {"Forwarded", "X-Forwarded-For", "X-Real-IP", "Via",
					       NULL};

	if (s->cfg->dashboard == VF_DASH_OFF)
		return attest_fail(ATTEST_E_NOT_FOUND, "the dashboard is off (--dashboard off)");
	if (has_cert)
		return ATTEST_OK; /* the router checks it is an admin's */
	memset(who, 0, sizeof(*who));
	if (s->cfg->dashboard != VF_DASH_LOOPBACK)
		return attest_fail(ATTEST_E_CALLER, "the dashboard wants an admin client certificate "
				   "(--dashboard admin)");
	if (!vs_dash_loopback_addr(attest_httpd_peer_addr(req)))
		return attest_fail(ATTEST_E_CALLER, "the dashboard without a client certificate is "
				   "for loopback peers only");
	if (!vs_dash_loopback_host(evhttp_find_header(hd, "Host")))
		return attest_fail(ATTEST_E_CALLER, "the dashboard without a client certificate "
				   "wants Host: localhost, 127.0.0.1 or [::1]");
	/* a proxy on this machine would make every peer look local */
	for (int i = 0; proxied[i] != NULL; i++)
		if (evhttp_find_header(hd, proxied[i]) != NULL)
			return attest_fail(ATTEST_E_CALLER, "a proxied request (%s) needs an admin "
					   "client certificate for the dashboard", proxied[i]);
	(void)snprintf(who->name, sizeof(who->name), "loopback viewer");
	who->role = 0;
	return ATTEST_OK;
}

/* ---- the pages ---- */

void vs_dash_asset(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt,
		   const struct vcaller *who)
{
	static const char *const types[4] = {"text/html; charset=utf-8",
					     "text/javascript; charset=utf-8",
					     "text/css; charset=utf-8", "image/svg+xml"};
	const unsigned char *body[4] = {dash_index_html, dash_app_js, dash_app_css,
					dash_favicon_svg};
	const unsigned int len[4] = {dash_index_html_len, dash_app_js_len, dash_app_css_len,
				     dash_favicon_svg_len};
	struct evkeyvalq *hd = evhttp_request_get_output_headers(req);
	struct evbuffer *b = evbuffer_new();
	int i = rt->arg >= 0 && rt->arg < 4 ? rt->arg : 0;

	(void)who;
	if (b == NULL || evbuffer_add_reference(b, body[i], len[i], NULL, NULL) != 0) {
		if (b != NULL)
			evbuffer_free(b);
		vs_reply_err(s, req, 500, ATTEST_E_NOMEM, "dashboard");
		return;
	}
	dash_headers(req);
	(void)evhttp_add_header(hd, "Content-Type", types[i]);
	(void)evhttp_add_header(hd, "Cache-Control", "no-store");
	vs_count_status(s, 200);
	evhttp_send_reply(req, 200, NULL, b);
	evbuffer_free(b);
}

/* ---- recent decisions ---- */

int vs_dash_init(struct vsrv *s)
{
	if ((s->dash.ring = calloc(DASH_RING, sizeof(*s->dash.ring))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "dashboard ring");
	if (RAND_bytes(s->dash.key, sizeof(s->dash.key)) != 1)
		return attest_fail(ATTEST_E_CRYPTO, "dashboard token key");
	return ATTEST_OK;
}

void vs_dash_free(struct vsrv *s)
{
	free(s->dash.ring);
	s->dash.ring = NULL;
	OPENSSL_cleanse(s->dash.key, sizeof(s->dash.key));
}

/* src cut to fit dst (n >= 1), always terminated */
static void cpy(char *dst, size_t n, const char *src)
{
	size_t l = src != NULL ? strnlen(src, n - 1) : 0;

	if (l > 0)
		memcpy(dst, src, l);
	dst[l] = '\0';
}

void vs_dash_record(struct vsrv *s, const struct vcaller *who, const struct attest_decision *d,
		    const char *action, const char *resource, const char *subject)
{
	struct dash_dec *e;
	int64_t now = vs_now(), minute = now / 60;
	struct dash_bin *bin = &s->dash.bins[(uint64_t)minute % DASH_BINS];

	if (bin->minute != minute) {
		bin->minute = minute;
		bin->allow = bin->deny = 0;
	}
	if (d->allow)
		bin->allow++;
	else
		bin->deny++;
	if (s->dash.ring == NULL)
		return;
	e = &s->dash.ring[s->dash.head];
	s->dash.head = (s->dash.head + 1) % DASH_RING;
	if (s->dash.n < DASH_RING)
		s->dash.n++;
	memset(e, 0, sizeof(*e));
	e->t = now;
	e->allow = d->allow;
	if (s->cur_scored) {
		e->scored = 1;
		e->score = s->cur.score;
		if (s->cur.nreasons > 0)
			cpy(e->why, sizeof(e->why), s->cur.reasons[0]);
	}
	e->reason = d->reason;
	cpy(e->rule, sizeof(e->rule), d->rule);
	cpy(e->caller, sizeof(e->caller), who->name);
	cpy(e->host, sizeof(e->host), d->host);
	cpy(e->action, sizeof(e->action), action);
	cpy(e->resource, sizeof(e->resource), resource);
	cpy(e->subject, sizeof(e->subject), subject);
	if (d->intent != NULL) {
		const char *ptext = NULL, *const *sc = NULL;
		size_t ns = attest_intent_chain_scopes(d->intent, &sc), used = 0;

		cpy(e->user, sizeof(e->user), attest_intent_chain_user(d->intent));
		cpy(e->purpose, sizeof(e->purpose),
		    attest_purpose_name(attest_intent_chain_purpose(d->intent, &ptext)));
		cpy(e->purpose_text, sizeof(e->purpose_text), ptext);
		for (unsigned i = 0; i <= attest_intent_chain_depth(d->intent) && i < DASH_HOPS; i++)
			cpy(e->agents[e->nagents++], sizeof(e->agents[0]),
			    attest_intent_chain_agent(d->intent, i, NULL));
		for (size_t i = 0; i < ns; i++) {
			int n = snprintf(e->scopes + used, sizeof(e->scopes) - used, "%s%s",
					 used ? " " : "", sc[i]);

			if (n < 0 || (size_t)n >= sizeof(e->scopes) - used) {
				e->scopes[used] = '\0'; /* whole scopes only */
				break;
			}
			used += (size_t)n;
		}
	} else if (d->agent[0] != '\0') {
		cpy(e->agents[e->nagents++], sizeof(e->agents[0]), d->agent);
	}
}

/* ---- the state ---- */

struct dash_walk {
	struct vsrv *s;
	cJSON *arr;
	size_t n;
	int truncated;
	/* the ring's entries with a chain, ordered by their leaf's ID: one
	 * sort per reply, then a binary search per agent (not agents x ring) */
	const struct dash_dec **idx;
	size_t nidx;
};

static const char *leaf_of(const struct dash_dec *e)
{
	return e->agents[e->nagents - 1];
}

static int by_leaf(const void *a, const void *b)
{
	return strcmp(leaf_of(*(const struct dash_dec *const *)a),
		      leaf_of(*(const struct dash_dec *const *)b));
}

/* The first index entry whose leaf is id, or w->nidx. */
static size_t leaf_first(const struct dash_walk *w, const char *id)
{
	size_t lo = 0, hi = w->nidx;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(leaf_of(w->idx[mid]), id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int dash_host(void *arg, const struct vhost *h)
{
	struct dash_walk *w = arg;
	static const char *const st[] = {"new", "trusted", "untrusted"};
	cJSON *o;

	if (w->n >= DASH_LIST_MAX) {
		w->truncated = 1;
		return ATTEST_OK;
	}
	if ((o = cJSON_CreateObject()) == NULL || !cJSON_AddItemToArray(w->arr, o))
		return attest_fail(ATTEST_E_NOMEM, "dashboard hosts");
	w->n++;
	if (cJSON_AddStringToObject(o, "host", h->name) == NULL ||
	    cJSON_AddStringToObject(o, "state", h->revoked ? "revoked" : st[h->state % 3]) == NULL ||
	    cJSON_AddStringToObject(o, "reason",
				    h->reason_code ? attest_errname(h->reason_code) : "") == NULL ||
	    cJSON_AddStringToObject(o, "detail", h->revoked ? h->revoke_reason : h->reason) == NULL ||
	    cJSON_AddNumberToObject(o, "last_good", (double)h->last_good) == NULL ||
	    cJSON_AddNumberToObject(o, "last_quote", (double)h->last_quote) == NULL ||
	    cJSON_AddNumberToObject(o, "boots", (double)h->boots) == NULL ||
	    cJSON_AddBoolToObject(o, "unsafe_seen", h->unsafe_seen) == NULL ||
	    cJSON_AddStringToObject(o, "refset", h->refset) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "dashboard hosts");
	return ATTEST_OK;
}

/* A space-separated list as a JSON array. */
static int add_words(cJSON *o, const char *key, const char *list)
{
	char buf[VSTORE_LIST_MAX];
	cJSON *arr = cJSON_AddArrayToObject(o, key);

	if (arr == NULL)
		return ATTEST_E_NOMEM;
	cpy(buf, sizeof(buf), list);
	for (char *save = NULL, *w = strtok_r(buf, " ,", &save); w != NULL;
	     w = strtok_r(NULL, " ,", &save)) {
		cJSON *it = cJSON_CreateString(w);

		if (it == NULL || !cJSON_AddItemToArray(arr, it)) {
			cJSON_Delete(it);
			return ATTEST_E_NOMEM;
		}
	}
	return ATTEST_OK;
}

/* Whether word is in the space-separated list. */
static int has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return 1;
	return 0;
}

static int dash_agent(void *arg, const struct vagent *a)
{
	struct dash_walk *w = arg;
	char used[VSTORE_LIST_MAX] = "";
	size_t ul = 0;
	unsigned long allow = 0, deny = 0;
	int64_t last = 0;
	cJSON *o;

	if (w->n >= DASH_LIST_MAX) {
		w->truncated = 1;
		return ATTEST_OK;
	}
	/* what the ring says of this agent as the chain's last hop (the
	 * leaf): decisions, and the scopes its allowed chains carried */
	for (size_t i = leaf_first(w, a->id); i < w->nidx && strcmp(leaf_of(w->idx[i]), a->id) == 0;
	     i++) {
		const struct dash_dec *e = w->idx[i];
		char sc[sizeof(e->scopes)];

		if (e->allow)
			allow++;
		else
			deny++;
		if (e->t > last)
			last = e->t;
		if (!e->allow)
			continue;
		cpy(sc, sizeof(sc), e->scopes);
		for (char *save = NULL, *t = strtok_r(sc, " ", &save); t != NULL;
		     t = strtok_r(NULL, " ", &save)) {
			int n;

			if (has_word(used, t))
				continue;
			n = snprintf(used + ul, sizeof(used) - ul, "%s%s", ul ? " " : "", t);
			if (n < 0 || (size_t)n >= sizeof(used) - ul) {
				used[ul] = '\0';
				break;
			}
			ul += (size_t)n;
		}
	}
	if ((o = cJSON_CreateObject()) == NULL || !cJSON_AddItemToArray(w->arr, o))
		return attest_fail(ATTEST_E_NOMEM, "dashboard agents");
	w->n++;
	if (cJSON_AddStringToObject(o, "agent", a->id) == NULL ||
	    cJSON_AddStringToObject(o, "host", a->host) == NULL ||
	    cJSON_AddStringToObject(o, "risk_tier", attest_risk_tier_name(a->risk_tier)) == NULL ||
	    cJSON_AddNumberToObject(o, "risk_score", a->risk_score) == NULL ||
	    add_words(o, "scopes", a->scopes) != ATTEST_OK ||
	    add_words(o, "scopes_used", used) != ATTEST_OK ||
	    add_words(o, "data_classes", a->data_classes) != ATTEST_OK ||
	    cJSON_AddNumberToObject(o, "delegate_depth", a->delegate_depth) == NULL ||
	    cJSON_AddNumberToObject(o, "registered", (double)a->registered) == NULL ||
	    cJSON_AddBoolToObject(o, "approved", a->approved) == NULL ||
	    cJSON_AddBoolToObject(o, "revoked", a->revoked) == NULL ||
	    cJSON_AddStringToObject(o, "revoke_reason", a->revoke_reason) == NULL ||
	    cJSON_AddNumberToObject(o, "allowed", (double)allow) == NULL ||
	    cJSON_AddNumberToObject(o, "denied", (double)deny) == NULL ||
	    cJSON_AddNumberToObject(o, "last_decision", (double)last) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "dashboard agents");
	return ATTEST_OK;
}

static int dash_decision(cJSON *arr, const struct dash_dec *e)
{
	cJSON *o = cJSON_CreateObject(), *ch;

	if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
		cJSON_Delete(o);
		return ATTEST_E_NOMEM;
	}
	if (cJSON_AddNumberToObject(o, "time", (double)e->t) == NULL ||
	    cJSON_AddStringToObject(o, "decision", e->allow ? "allow" : "deny") == NULL ||
	    cJSON_AddStringToObject(o, "reason", attest_errname(e->reason)) == NULL ||
	    cJSON_AddStringToObject(o, "rule", e->rule) == NULL ||
	    cJSON_AddStringToObject(o, "caller", e->caller) == NULL ||
	    cJSON_AddStringToObject(o, "host", e->host) == NULL ||
	    cJSON_AddStringToObject(o, "user", e->user) == NULL ||
	    cJSON_AddStringToObject(o, "purpose", e->purpose) == NULL ||
	    cJSON_AddStringToObject(o, "purpose_text", e->purpose_text) == NULL ||
	    cJSON_AddStringToObject(o, "action", e->action) == NULL ||
	    cJSON_AddStringToObject(o, "resource", e->resource) == NULL ||
	    cJSON_AddStringToObject(o, "subject", e->subject) == NULL ||
	    add_words(o, "scopes", e->scopes) != ATTEST_OK ||
	    (ch = cJSON_AddArrayToObject(o, "chain")) == NULL)
		return ATTEST_E_NOMEM;
	if (e->scored && (cJSON_AddNumberToObject(o, "anomaly", e->score) == NULL ||
			  cJSON_AddStringToObject(o, "anomaly_reason", e->why) == NULL))
		return ATTEST_E_NOMEM;
	for (unsigned i = 0; i < e->nagents; i++) {
		cJSON *it = cJSON_CreateString(e->agents[i]);

		if (it == NULL || !cJSON_AddItemToArray(ch, it)) {
			cJSON_Delete(it);
			return ATTEST_E_NOMEM;
		}
	}
	return ATTEST_OK;
}

/* The admin's token for state-changing requests: HMAC of the client
 * certificate's key hash under a key drawn at start, so it is bound to
 * one admin certificate and one verifier process. */
static int dash_token(struct vsrv *s, const struct vcaller *who, char out[65])
{
	uint8_t mac[32];
	unsigned int ml = 0;
	static const char hex[] = "0123456789abcdef";
	/* a fixed 16-byte label, then the key hash */
	uint8_t msg[16 + 32] = {'d', 'a', 's', 'h', 'b', 'o', 'a', 'r', 'd', '-', 'c', 's', 'r', 'f'};

	memcpy(msg + 16, who->spki_hash, 32);
	if (HMAC(EVP_sha256(), s->dash.key, (int)sizeof(s->dash.key), msg, sizeof(msg), mac, &ml) ==
		    NULL ||
	    ml != sizeof(mac))
		return attest_fail(ATTEST_E_CRYPTO, "dashboard token");
	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[64] = '\0';
	OPENSSL_cleanse(mac, sizeof(mac));
	return ATTEST_OK;
}

void vs_dash_state(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt,
		   const struct vcaller *who)
{
	cJSON *o = cJSON_CreateObject(), *v, *arr, *al, *dn, *rs;
	struct dash_walk w;
	int admin = who != NULL && who->role == VCALLER_ADMIN, r = ATTEST_E_NOMEM;
	int64_t now = vs_now(), minute = now / 60;
	size_t nd = 0, ndeny = 0;
	const struct dash_dec **idx = NULL;
	char tok[65];

	(void)rt;
	if (o == NULL || cJSON_AddNumberToObject(o, "generated", (double)now) == NULL ||
	    cJSON_AddStringToObject(o, "policy", s->policy ? attest_policy_version(s->policy) : "") ==
		    NULL ||
	    (v = cJSON_AddObjectToObject(o, "viewer")) == NULL ||
	    cJSON_AddStringToObject(v, "name", who != NULL ? who->name : "") == NULL ||
	    cJSON_AddBoolToObject(v, "admin", admin) == NULL)
		goto out;
	if (admin) {
		if ((r = dash_token(s, who, tok)) != ATTEST_OK)
			goto out;
		r = ATTEST_E_NOMEM;
		if (cJSON_AddStringToObject(v, "csrf", tok) == NULL)
			goto out;
	}
	memset(&w, 0, sizeof(w));
	w.s = s;
	if ((w.arr = cJSON_AddArrayToObject(o, "hosts")) == NULL)
		goto out;
	if ((r = s->store->ops->host_list(s->store, dash_host, &w)) != ATTEST_OK)
		goto out;
	r = ATTEST_E_NOMEM;
	if (cJSON_AddBoolToObject(o, "hosts_truncated", w.truncated) == NULL)
		goto out;
	memset(&w, 0, sizeof(w));
	w.s = s;
	if ((w.arr = cJSON_AddArrayToObject(o, "agents")) == NULL)
		goto out;
	if (s->dash.n > 0 && (idx = calloc(s->dash.n, sizeof(*idx))) == NULL)
		goto out;
	for (size_t i = 0; i < s->dash.n; i++)
		if (s->dash.ring[i].nagents > 0)
			idx[w.nidx++] = &s->dash.ring[i];
	if (w.nidx > 1)
		qsort(idx, w.nidx, sizeof(*idx), by_leaf);
	w.idx = idx;
	if ((r = s->store->ops->agent_list(s->store, dash_agent, &w)) != ATTEST_OK)
		goto out;
	r = ATTEST_E_NOMEM;
	if (cJSON_AddBoolToObject(o, "agents_truncated", w.truncated) == NULL ||
	    (arr = cJSON_AddArrayToObject(o, "decisions")) == NULL ||
	    (dn = cJSON_AddArrayToObject(o, "denials")) == NULL)
		goto out;
	/* newest first: DASH_SHOWN of all, and DASH_SHOWN of the denials */
	for (size_t i = 0; i < s->dash.n; i++) {
		const struct dash_dec *e =
			&s->dash.ring[(s->dash.head + DASH_RING - 1 - i) % DASH_RING];

		if (nd < DASH_SHOWN && dash_decision(arr, e) != ATTEST_OK)
			goto out;
		nd++;
		if (!e->allow && ndeny++ < DASH_SHOWN && dash_decision(dn, e) != ATTEST_OK)
			goto out;
	}
	/* denials in the ring by reason, most first (a count per code) */
	if ((rs = cJSON_AddArrayToObject(o, "deny_reasons")) == NULL)
		goto out;
	{
		unsigned long by[ATTEST_E__COUNT];

		memset(by, 0, sizeof(by));
		for (size_t i = 0; i < s->dash.n; i++)
			if (!s->dash.ring[i].allow && s->dash.ring[i].reason > 0 &&
			    s->dash.ring[i].reason < ATTEST_E__COUNT)
				by[s->dash.ring[i].reason]++;
		for (;;) {
			int best = 0;
			cJSON *x;

			for (int i = 1; i < ATTEST_E__COUNT; i++)
				if (by[i] > by[best])
					best = i;
			if (by[best] == 0)
				break;
			/* x belongs to rs once added (AddItemToArray fails only on NULL) */
			if ((x = cJSON_CreateObject()) == NULL || !cJSON_AddItemToArray(rs, x) ||
			    cJSON_AddStringToObject(x, "reason", attest_errname(best)) == NULL ||
			    cJSON_AddNumberToObject(x, "count", (double)by[best]) == NULL)
				goto out;
			by[best] = 0;
		}
	}
	if ((v = cJSON_AddObjectToObject(o, "parts")) == NULL ||
	    cJSON_AddBoolToObject(v, "alerts", DASH_HAVE_ALERTS) == NULL ||
	    cJSON_AddBoolToObject(v, "posture", DASH_HAVE_POSTURE) == NULL)
		goto out;
	/* decisions per minute over the last DASH_BINS minutes, oldest first */
	if ((v = cJSON_AddObjectToObject(o, "series")) == NULL ||
	    cJSON_AddNumberToObject(v, "start", (double)((minute - DASH_BINS + 1) * 60)) == NULL ||
	    cJSON_AddNumberToObject(v, "step", 60) == NULL ||
	    (al = cJSON_AddArrayToObject(v, "allow")) == NULL ||
	    (arr = cJSON_AddArrayToObject(v, "deny")) == NULL)
		goto out;
	for (int64_t m = minute - DASH_BINS + 1; m <= minute; m++) {
		const struct dash_bin *b = &s->dash.bins[(uint64_t)m % DASH_BINS];
		int cur = b->minute == m;
		cJSON *x = cJSON_CreateNumber(cur ? (double)b->allow : 0);
		cJSON *y = cJSON_CreateNumber(cur ? (double)b->deny : 0);

		if (x == NULL || !cJSON_AddItemToArray(al, x)) {
			cJSON_Delete(x);
			cJSON_Delete(y);
			goto out;
		}
		if (y == NULL || !cJSON_AddItemToArray(arr, y)) {
			cJSON_Delete(y);
			goto out;
		}
	}
	if (cJSON_AddNumberToObject(o, "decisions_total",
				    (double)(s->m.decisions_allow + s->m.decisions_deny)) == NULL ||
	    cJSON_AddNumberToObject(o, "denials_total", (double)s->m.decisions_deny) == NULL)
		goto out;
	r = ATTEST_OK;
out:
	if (r != ATTEST_OK) {
		vs_reply_err(s, req, vs_status_of(r), r, "dashboard state");
	} else {
		dash_headers(req);
		vs_reply_obj(s, req, 200, o);
	}
	OPENSSL_cleanse(tok, sizeof(tok));
	free(idx);
	cJSON_Delete(o);
}

/* The detector's posture report (rt->arg 0) and alerts (1) for the
 * page's viewers: GET /v1/posture and /v1/alerts answered as they are,
 * with the dashboard's headers. */
void vs_dash_detect(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt,
		    const struct vcaller *who)
{
	dash_headers(req);
	if (rt->arg == 1)
		vs_alerts(s, req, rt, who);
	else
		vs_posture(s, req, rt, who);
}

/* ---- revocation from the page ---- */

/* Same origin: Origin is https://<Host> (browsers send it on every
 * POST made by script), and Sec-Fetch-Site, when sent, says so too. */
static int same_origin(struct evhttp_request *req)
{
	const struct evkeyvalq *hd = evhttp_request_get_input_headers(req);
	const char *origin = evhttp_find_header(hd, "Origin");
	const char *host = evhttp_find_header(hd, "Host");
	const char *site = evhttp_find_header(hd, "Sec-Fetch-Site");
	char want[300];
	int n;

	if (origin == NULL || host == NULL)
		return 0;
	n = snprintf(want, sizeof(want), "https://%s", host);
	if (n < 0 || (size_t)n >= sizeof(want) || strcasecmp(origin, want) != 0)
		return 0;
	return site == NULL || strcmp(site, "same-origin") == 0;
}

void vs_dash_revoke(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt,
		    const struct vcaller *who)
{
	const char *got = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Attest-CSRF");
	struct vroute agent_revoke = *rt;
	char tok[65];
	int r;

	if (!same_origin(req)) {
		(void)attest_fail(ATTEST_E_CALLER, "dashboard revocation: not a same-origin request");
		vs_reply_err(s, req, 403, ATTEST_E_CALLER, "revocation refused");
		return;
	}
	if ((r = dash_token(s, who, tok)) != ATTEST_OK) {
		vs_reply_err(s, req, 500, r, "revocation refused");
		return;
	}
	if (got == NULL || strlen(got) != 64 || CRYPTO_memcmp(got, tok, 64) != 0) {
		OPENSSL_cleanse(tok, sizeof(tok));
		(void)attest_fail(ATTEST_E_CALLER, "dashboard revocation: no or wrong X-Attest-CSRF");
		vs_reply_err(s, req, 403, ATTEST_E_CALLER, "revocation refused");
		return;
	}
	OPENSSL_cleanse(tok, sizeof(tok));
	/* then exactly POST /v1/agents/revoke: audited first, as this admin */
	agent_revoke.arg = 0;
	dash_headers(req);
	vs_revoke(s, req, &agent_revoke, who);
}
