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
#include "bodies.h"
#include "vsrv.h"
#include "x509/x509.h"
#include "x509/x509agent.h"


static const char *hdr(struct evhttp_request *req, const char *name)
{
	const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), name);

	return v != NULL && v[0] != '\0' ? v : NULL;
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
	const char *ckeys[VB_FWD_CTX_MAX], *cvals[VB_FWD_CTX_MAX];
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
	if ((r = vb_fwd_cert(hdr(req, "X-Client-Cert"), hdr(req, "X-Forwarded-Client-Cert"),
			      &leaf_pem, &chain_pem)) != ATTEST_OK)
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
	if ((r = vb_fwd_ctx(hdr(req, "X-Attest-Context"), ctxbuf, sizeof(ctxbuf), ckeys, cvals,
			     &nctx)) != ATTEST_OK)
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
