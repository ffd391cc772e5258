/* decide_http.c - POST /v1/decide: attest_decide for an enrolled
 * resource server, the answer after its audit record is durable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "vsrv.h"

/* ---- decisions ---- */


/* The caller's own decision-cache partition (1..VS_PARTS). A linear scan
 * of 63 names: callers are few, authenticated and rate limited. */
unsigned vs_caller_partition(struct vsrv *s, const char *name)
{
	unsigned i, free_i = VS_PARTS, lru = 0;

	for (i = 0; i < VS_PARTS; i++) {
		if (strcmp(s->parts[i].name, name) == 0)
			break;
		if (s->parts[i].name[0] == '\0' && free_i == VS_PARTS)
			free_i = i;
		if (s->parts[i].used < s->parts[lru].used)
			lru = i;
	}
	if (i == VS_PARTS) {
		i = free_i != VS_PARTS ? free_i : lru;
		(void)snprintf(s->parts[i].name, sizeof(s->parts[i].name), "%s", name);
	}
	s->parts[i].used = ++s->parts_tick;
	return i + 1;
}

/* A header value from certificate text: printable ASCII as is, every
 * other byte (and '%') %XX, so no value can break the header block. */
static int fwd_header(struct evhttp_request *req, const char *name, const char *v)
{
	char buf[3 * 512 + 1];
	size_t o = 0;
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; v != NULL && v[i] != '\0' && o + 4 < sizeof(buf); i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x20 || c > 0x7e || c == '%') {
			buf[o++] = '%';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o] = '\0';
	if (evhttp_add_header(evhttp_request_get_output_headers(req), name, buf) != 0)
		return attest_fail(ATTEST_E_NOMEM, "response header %s", name);
	return ATTEST_OK;
}

static int fwd_headers(struct vsrv *s, struct evhttp_request *req,
		       const struct attest_decision *d)
{
	const char *user = "", *purpose = "";
	const char *fed = attest_decider_federated(s->decider);
	int r;

	if (d->intent != NULL) {
		user = attest_intent_chain_user(d->intent);
		purpose = attest_purpose_name(attest_intent_chain_purpose(d->intent, NULL));
	}
	if ((r = fwd_header(req, "X-Attest-Decision", d->allow ? "allow" : "deny")) != ATTEST_OK ||
	    (r = fwd_header(req, "X-Attest-Agent", d->agent)) != ATTEST_OK ||
	    (r = fwd_header(req, "X-Attest-Host", d->host)) != ATTEST_OK ||
	    (r = fwd_header(req, "X-Attest-User", user)) != ATTEST_OK ||
	    (r = fwd_header(req, "X-Attest-Purpose", purpose)) != ATTEST_OK ||
	    (r = fwd_header(req, "X-Attest-Rule", d->rule)) != ATTEST_OK ||
	    (r = fwd_header(req, "X-Attest-Reason", attest_errname(d->reason))) != ATTEST_OK ||
	    (fed != NULL && (r = fwd_header(req, "X-Attest-Federated", fed)) != ATTEST_OK))
		return r;
	return ATTEST_OK;
}

/* Decide dr for the caller who and answer: 200 allow, 403 deny, the
 * decision as JSON; with fwd (/v1/authz) the decision's agent, user,
 * purpose, rule and reason as X-Attest-* headers too. The answer goes out
 * after the decision's audit record is durable. Both /v1/decide and
 * /v1/authz decide here and nowhere else. */
void vs_decide_reply(struct vsrv *s, struct evhttp_request *req, const struct vcaller *who,
		     struct attest_decide_req *dr, int fwd)
{
	const char *action = dr->action, *resource = dr->resource;
	const char *const *ckeys = dr->ctx_keys, *const *cvals = dr->ctx_values;
	size_t nctx = dr->nctx;
	cJSON *o = NULL, *ch, *ag;
	struct attest_decision d;
	const char *fed;
	double t0 = vs_mono(), dt;
	char subj[VD_SUBJECT_FIELD_MAX * 4];
	int r;

	/* each caller its own share of the decision cache: a caller flooding
	 * distinct chains evicts only its own entries */
	dr->partition = vs_caller_partition(s, who->name);
	/* the detector scores the request for the policy (docs/detection.md) */
	vs_detect_before(s, dr, subj, sizeof(subj));
	/* the decision is in d either way; a deny is not a failed request */
	if (attest_decide(s->decider, dr, &d) != d.reason)
		vs_log("decider returned a code other than its reason");
	/* an agent of a federated trust domain: no TPM evidence behind it */
	fed = attest_decider_federated(s->decider);
	dt = vs_mono() - t0;
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
	/* the decision's trail is its audit record; stderr gets a count */
	if (d.allow)
		s->lr.allow++;
	else
		s->lr.deny++;
	if ((o = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(o, "decision", d.allow ? "allow" : "deny") == NULL ||
	    cJSON_AddStringToObject(o, "reason", attest_errname(d.reason)) == NULL ||
	    cJSON_AddStringToObject(o, "rule", d.rule) == NULL ||
	    cJSON_AddStringToObject(o, "detail", d.reason == ATTEST_OK ? "" : attest_strerror(d.reason)) == NULL ||
	    cJSON_AddStringToObject(o, "agent", d.agent) == NULL ||
	    cJSON_AddStringToObject(o, "host", d.host) == NULL ||
	    cJSON_AddStringToObject(o, "replica", s->replica) == NULL ||
	    (fed != NULL && (cJSON_AddTrueToObject(o, "federated") == NULL ||
			     cJSON_AddStringToObject(o, "trust_domain", fed) == NULL))) {
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
		char reason[320];
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
		if (ev.subject == NULL && s->cur_subject != NULL)
			ev.subject = s->cur_subject; /* the policy's subject_segment */
		(void)snprintf(reason, sizeof(reason), "%s%s%s%s%.64s", attest_errname(d.reason),
			       d.rule[0] ? " rule=" : "", d.rule, fed != NULL ? " federated=" : "",
			       fed != NULL ? fed : "");
		/* learn, the score into the reply and the reason, an alert */
		if ((r = vs_detect_after(s, &d, dr, o, reason, sizeof(reason))) != ATTEST_OK)
			goto out;
		vs_dash_record(s, who, &d, action, resource, ev.subject);
		ev.type = "decision";
		ev.host = d.host[0] ? d.host : NULL;
		ev.source = who->name;
		ev.agents = agents;
		ev.nagents = na;
		ev.action = action;
		ev.resource = resource;
		ev.outcome = d.allow ? "allow" : "deny";
		ev.reason = reason;
		if (fwd && (r = fwd_headers(s, req, &d)) != ATTEST_OK)
			goto out;
		/* API revision 2: the status says the decision (200 allow,
		 * 403 deny), the body the same either way */
		vs_audited_reply(s, req, d.allow ? 200 : 403, o, &ev);
	}
	r = ATTEST_OK;
out:
	if (r != ATTEST_OK)
		vs_reply_err(s, req, vs_status_of(r), r, "decision request refused");
	cJSON_Delete(o);
}

void vs_decide(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt, const struct vcaller *who)
{
	(void)rt, (void)who; /* every handler has the route signature */
	cJSON *in = NULL;
	struct vb_decide db;
	struct attest_decide_req dr;
	int r;

	if ((r = vs_body_json(req, rt->body_cap, vb_keys_decide, &in, NULL)) != ATTEST_OK ||
	    (r = vb_decide_parse(in, &db)) != ATTEST_OK)
		goto out;
	memset(&dr, 0, sizeof(dr));
	dr.pem = db.chain;
	dr.pem_len = strlen(db.chain);
	dr.action = db.action;
	dr.resource = db.resource;
	dr.ctx_keys = db.ckeys;
	dr.ctx_values = db.cvals;
	dr.nctx = db.nctx;
	vs_decide_reply(s, req, who, &dr, 0);
	r = ATTEST_OK;
out:
	if (r != ATTEST_OK)
		vs_reply_err(s, req, vs_status_of(r), r, "decision request refused");
	cJSON_Delete(in);
}
