/* authz_http.c - /v1/authz: forward authorization for a proxy (nginx
 * auth_request, Envoy ext_authz in HTTP service mode). The original
 * request arrives as headers the proxy sets; the verifier completes the
 * client's leaf into its chain from what the inventory reported, maps the
 * method and path to an action and resource through the policy's
 * http_routes, and decides through vs_decide_reply exactly as /v1/decide
 * does. 200 only for an allow (docs/relying-parties.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "attest/decide.h"
#include "attest/policy.h"
#include "core/err.h"
#include "vsrv.h"
#include "x509/x509.h"
#include "x509/x509agent.h"

#define FWD_CTX_MAX 16
#define FWD_CERT_MAX (40 * 1024) /* a leaf (with its intent chain), PEM */
#define FWD_CHAIN_MAX ATTEST_DECIDE_PEM_MAX

static const char *hdr(struct evhttp_request *req, const char *name)
{
	const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* %XX-decode n bytes of in (a '+' stays a '+': PEM's base64 holds them)
 * into a NUL-terminated malloc'd string of at most cap bytes. */
static int unescape(const char *in, size_t n, size_t cap, char **out)
{
	char *o;
	size_t k = 0;

	*out = NULL;
	if ((o = malloc(n + 1)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "unescape");
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '%') {
			int h, l;

			if (i + 2 >= n || (h = hexval(in[i + 1])) < 0 || (l = hexval(in[i + 2])) < 0) {
				free(o);
				return attest_fail(ATTEST_E_PARSE, "bad %%-escape");
			}
			o[k++] = (char)(h << 4 | l);
			i += 2;
		} else {
			o[k++] = in[i];
		}
		if (o[k - 1] == '\0' || k > cap) {
			free(o);
			return attest_fail(k > cap ? ATTEST_E_TOO_LARGE : ATTEST_E_PARSE,
					   k > cap ? "escaped value over its cap" : "NUL in value");
		}
	}
	o[k] = '\0';
	*out = o;
	return ATTEST_OK;
}

/* The value of key in one X-Forwarded-Client-Cert element (";"-separated
 * key=value pairs, values optionally in double quotes). */
static int xfcc_get(const char *el, size_t elen, const char *key, const char **v, size_t *vlen)
{
	size_t i = 0, kl = strlen(key);

	*v = NULL;
	*vlen = 0;
	while (i < elen) {
		size_t ks = i, ve;
		int q;

		while (i < elen && el[i] != '=' && el[i] != ';')
			i++;
		if (i >= elen || el[i] != '=')
			return attest_fail(ATTEST_E_PARSE, "x-forwarded-client-cert: pair without '='");
		q = i + 1 < elen && el[i + 1] == '"';
		ve = i + 1 + (size_t)q;
		while (ve < elen && (q ? el[ve] != '"' : el[ve] != ';'))
			ve++;
		if (q && ve >= elen)
			return attest_fail(ATTEST_E_PARSE, "x-forwarded-client-cert: open quote");
		if (i - ks == kl && strncasecmp(el + ks, key, kl) == 0) {
			if (*v != NULL)
				return attest_fail(ATTEST_E_PARSE, "x-forwarded-client-cert: %s twice", key);
			*v = el + i + 1 + q;
			*vlen = ve - (i + 1 + (size_t)q);
		}
		i = ve + (size_t)q;
		if (i < elen && el[i] != ';')
			return attest_fail(ATTEST_E_PARSE, "x-forwarded-client-cert: junk after a value");
		i++;
	}
	return ATTEST_OK;
}

/* The leaf (and, from Envoy's Chain=, the whole chain) the proxy
 * forwarded: X-Client-Cert (nginx $ssl_client_escaped_cert) or the last
 * element of X-Forwarded-Client-Cert (the one the nearest proxy added).
 * Both at once is a misconfiguration: refused. */
static int forwarded_cert(struct evhttp_request *req, char **leaf, char **chain)
{
	const char *xc = hdr(req, "X-Client-Cert"), *xf = hdr(req, "X-Forwarded-Client-Cert");
	const char *el, *v, *cv;
	size_t vlen, cvlen;
	int r, inq = 0;

	*leaf = *chain = NULL;
	if (xc != NULL && xf != NULL)
		return attest_fail(ATTEST_E_PARSE, "both X-Client-Cert and X-Forwarded-Client-Cert");
	if (xc != NULL)
		return unescape(xc, strlen(xc), FWD_CERT_MAX, leaf) == ATTEST_OK
			       ? ATTEST_OK
			       : attest_fail_wrap(ATTEST_E_FWD_NO_CERT, "X-Client-Cert");
	if (xf == NULL)
		return attest_fail(ATTEST_E_FWD_NO_CERT, "no client certificate header");
	el = xf;
	for (const char *p = xf; *p != '\0'; p++) {
		if (*p == '"')
			inq = !inq;
		else if (*p == ',' && !inq)
			el = p + 1;
	}
	if ((r = xfcc_get(el, strlen(el), "Cert", &v, &vlen)) != ATTEST_OK ||
	    (r = xfcc_get(el, strlen(el), "Chain", &cv, &cvlen)) != ATTEST_OK)
		return r;
	if (v == NULL || vlen == 0)
		return attest_fail(ATTEST_E_FWD_NO_CERT, "x-forwarded-client-cert without Cert=");
	if (unescape(v, vlen, FWD_CERT_MAX, leaf) != ATTEST_OK)
		return attest_fail_wrap(ATTEST_E_FWD_NO_CERT, "Cert=");
	if (cv != NULL && cvlen > 0 && (r = unescape(cv, cvlen, FWD_CHAIN_MAX, chain)) != ATTEST_OK) {
		free(*leaf);
		*leaf = NULL;
		return r;
	}
	return ATTEST_OK;
}

/* X-Attest-Context: "k=v&k2=v2", each %XX-escaped; appended to the
 * path's context. A key the path set already is refused. */
static int forwarded_ctx(struct evhttp_request *req, char *store, size_t storesz,
			 const char **keys, const char **vals, size_t *n)
{
	const char *c = hdr(req, "X-Attest-Context");
	size_t used = 0;

	if (c == NULL)
		return ATTEST_OK;
	while (*c != '\0') {
		size_t pl = strcspn(c, "&"), kl = strcspn(c, "=");
		char *k = NULL, *v = NULL;
		int r;

		if (kl >= pl || kl == 0 || *n >= FWD_CTX_MAX)
			return attest_fail(ATTEST_E_PARSE, "X-Attest-Context: k=v pairs, at most %d",
					   FWD_CTX_MAX);
		if ((r = unescape(c, kl, 64, &k)) != ATTEST_OK ||
		    (r = unescape(c + kl + 1, pl - kl - 1, 256, &v)) != ATTEST_OK) {
			free(k);
			return r;
		}
		for (size_t i = 0; k[i] != '\0'; i++)
			if ((unsigned char)k[i] <= 0x20 || (unsigned char)k[i] >= 0x7f)
				r = attest_fail(ATTEST_E_PARSE, "X-Attest-Context: key not printable");
		for (size_t i = 0; v[i] != '\0'; i++)
			if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
				r = attest_fail(ATTEST_E_PARSE, "X-Attest-Context: control character");
		for (size_t i = 0; i < *n && r == ATTEST_OK; i++)
			if (strcmp(keys[i], k) == 0)
				r = attest_fail(ATTEST_E_PARSE, "X-Attest-Context: %.64s given twice", k);
		if (r == ATTEST_OK && used + strlen(k) + strlen(v) + 2 > storesz)
			r = attest_fail(ATTEST_E_TOO_LARGE, "X-Attest-Context too long");
		if (r == ATTEST_OK) {
			keys[*n] = memcpy(store + used, k, strlen(k) + 1);
			used += strlen(k) + 1;
			vals[(*n)++] = memcpy(store + used, v, strlen(v) + 1);
			used += strlen(v) + 1;
		}
		free(k);
		free(v);
		if (r != ATTEST_OK)
			return r;
		c += pl;
		if (*c == '&')
			c++;
	}
	return ATTEST_OK;
}

/* The leaf's PEM followed by the chain above it the agent's last verified
 * inventory report carried (agent CA, host CA). A leaf the store has no
 * chain for stays alone: the decider then denies with its own reason. */
static int complete_chain(struct vsrv *s, X509 *leaf, char **out)
{
	char *id = NULL, *pem = NULL, *chain = NULL, *all = NULL;
	size_t n;
	int r;

	*out = NULL;
	if ((r = attest_x509_to_pem(leaf, &pem)) != ATTEST_OK)
		return r;
	if ((chain = malloc(VSTORE_CHAIN_MAX)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "chain");
		goto out;
	}
	chain[0] = '\0';
	if (attest_x509_one_san_uri(leaf, &id) == ATTEST_OK) {
		r = s->store->ops->agent_chain_get(s->store, id, chain, VSTORE_CHAIN_MAX);
		if (r == ATTEST_E_NOT_FOUND || r == ATTEST_E_INVALID_ARG)
			chain[0] = '\0';
		else if (r != ATTEST_OK)
			goto out;
	}
	n = strlen(pem) + strlen(chain) + 1;
	if ((all = malloc(n)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "chain");
		goto out;
	}
	memcpy(all, pem, strlen(pem));
	memcpy(all + strlen(pem), chain, strlen(chain) + 1);
	*out = all;
	r = ATTEST_OK;
out:
	attest_errclear();
	free(id);
	free(pem);
	free(chain);
	return r;
}

/* An unmapped request is a deny like any other: answered 403 after its
 * decision record is durable. */
static void deny_unmapped(struct vsrv *s, struct evhttp_request *req, const struct vcaller *who,
			  const char *method, const char *uri, X509 *leaf)
{
	struct attest_audit_event ev = {0};
	char *id = NULL, res[200], detail[256];
	const char *agents[1];
	cJSON *o = NULL;

	(void)snprintf(detail, sizeof(detail), "%s", attest_errdetail());
	(void)snprintf(res, sizeof(res), "%.*s", (int)strcspn(uri, "?"), uri);
	for (char *p = res; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	if (attest_x509_one_san_uri(leaf, &id) != ATTEST_OK)
		id = NULL;
	attest_errclear();
	s->m.decisions_deny++;
	s->m.reason[ATTEST_E_FWD_NO_ROUTE]++;
	s->lr.deny++;
	if ((o = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(o, "decision", "deny") == NULL ||
	    cJSON_AddStringToObject(o, "reason", attest_errname(ATTEST_E_FWD_NO_ROUTE)) == NULL ||
	    cJSON_AddStringToObject(o, "rule", "") == NULL ||
	    cJSON_AddStringToObject(o, "detail", detail) == NULL ||
	    cJSON_AddStringToObject(o, "agent", id != NULL ? id : "") == NULL ||
	    cJSON_AddStringToObject(o, "host", "") == NULL ||
	    evhttp_add_header(evhttp_request_get_output_headers(req), "X-Attest-Decision", "deny") ||
	    evhttp_add_header(evhttp_request_get_output_headers(req), "X-Attest-Reason",
			      attest_errname(ATTEST_E_FWD_NO_ROUTE))) {
		(void)attest_fail(ATTEST_E_NOMEM, "reply");
		vs_reply_err(s, req, 500, ATTEST_E_NOMEM, "decision request refused");
		goto out;
	}
	agents[0] = id;
	ev.type = "decision";
	ev.source = who->name;
	ev.agents = agents;
	ev.nagents = id != NULL;
	ev.action = method;
	ev.resource = res;
	ev.outcome = "deny";
	ev.reason = attest_errname(ATTEST_E_FWD_NO_ROUTE);
	vs_audited_reply(s, req, 403, o, &ev);
out:
	cJSON_Delete(o);
	free(id);
}

static const char *method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	default: return NULL;
	}
}

void vs_authz(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt,
	      const struct vcaller *who)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	const char *method, *uri, *host;
	const char *ckeys[FWD_CTX_MAX], *cvals[FWD_CTX_MAX];
	char *leaf_pem = NULL, *chain_pem = NULL, *pem = NULL, ctxbuf[8192];
	size_t nctx = 0, pl = strlen(rt->path);
	int envoy = path != NULL && strlen(path) > pl; /* /v1/authz/<original path> */
	struct attest_http_target t;
	struct attest_decide_req dr;
	X509 *leaf = NULL;
	int r;

	/* the original request: nginx sets X-Original-*, Traefik and others
	 * X-Forwarded-*, Envoy's path_prefix puts it in our own request line */
	method = hdr(req, "X-Original-Method");
	if (method == NULL)
		method = hdr(req, "X-Forwarded-Method");
	uri = hdr(req, "X-Original-URI");
	if (uri == NULL)
		uri = hdr(req, "X-Forwarded-Uri");
	host = hdr(req, "X-Original-Host");
	if (host == NULL)
		host = hdr(req, "X-Forwarded-Host");
	if (envoy) {
		if (method == NULL)
			method = method_name(evhttp_request_get_command(req));
		if (uri == NULL)
			uri = evhttp_request_get_uri(req) + pl;
		if (host == NULL)
			host = hdr(req, "Host");
	}
	if (method == NULL || uri == NULL) {
		r = attest_fail(ATTEST_E_PARSE, "no original method or URI (X-Original-Method, "
				"X-Original-URI)");
		goto out;
	}
	if ((r = forwarded_cert(req, &leaf_pem, &chain_pem)) != ATTEST_OK)
		goto out;
	if (attest_x509_from_pem(leaf_pem, strlen(leaf_pem), &leaf) != ATTEST_OK) {
		r = attest_fail(ATTEST_E_FWD_NO_CERT, "the forwarded client certificate is not one "
				"PEM certificate");
		goto out;
	}
	if (attest_policy_http_map(s->policy, method, host, uri, &t) != ATTEST_OK) {
		deny_unmapped(s, req, who, method, uri, leaf);
		r = ATTEST_OK;
		goto out;
	}
	for (size_t i = 0; i < t.nctx; i++) {
		ckeys[nctx] = t.ctx_keys[i];
		cvals[nctx++] = t.ctx_values[i];
	}
	if ((r = forwarded_ctx(req, ctxbuf, sizeof(ctxbuf), ckeys, cvals, &nctx)) != ATTEST_OK)
		goto out;
	if (chain_pem != NULL) {
		/* Envoy's Chain= starts with the leaf its Cert= carries */
		X509 *first = NULL;

		if (attest_x509_from_pem(chain_pem, strlen(chain_pem), &first) != ATTEST_OK ||
		    X509_cmp(first, leaf) != 0) {
			X509_free(first);
			r = attest_fail(ATTEST_E_FWD_NO_CERT, "Chain= does not start with Cert=");
			goto out;
		}
		X509_free(first);
		pem = chain_pem;
		chain_pem = NULL;
	} else if ((r = complete_chain(s, leaf, &pem)) != ATTEST_OK) {
		goto out;
	}
	memset(&dr, 0, sizeof(dr));
	dr.pem = pem;
	dr.pem_len = strlen(pem);
	dr.action = t.action;
	dr.resource = t.resource;
	dr.ctx_keys = ckeys;
	dr.ctx_values = cvals;
	dr.nctx = nctx;
	vs_decide_reply(s, req, who, &dr, 1);
	r = ATTEST_OK;
out:
	if (r != ATTEST_OK)
		vs_reply_err(s, req, r == ATTEST_E_FWD_NO_CERT ? 401 : vs_status_of(r), r,
			     "forward authorization refused");
	X509_free(leaf);
	free(leaf_pem);
	free(chain_pem);
	free(pem);
}
