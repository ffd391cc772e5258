/* admin.c - admin endpoints (lists, revocation, approval, settings,
 * reference sets, policy reload) and the open ones (health, metrics). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "core/err.h"
#include "core/json.h"
#include "vsrv.h"

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

void vs_list(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt, const struct vcaller *who)
{
	(void)rt, (void)who; /* every handler has the route signature */
	int hosts = rt->arg;
	cJSON *arr = cJSON_CreateArray();
	int r = arr == NULL ? ATTEST_E_NOMEM
			    : hosts ? s->store->ops->host_list(s->store, list_host, arr)
				    : s->store->ops->agent_list(s->store, list_agent, arr);

	if (r != ATTEST_OK)
		vs_reply_err(s, req, vs_status_of(r), r, "list failed");
	else
		vs_reply_obj(s, req, 200, arr);
	cJSON_Delete(arr);
}

/* An operator's change: recorded, then made, then answered once durable. */
int vs_record_change(struct vsrv *s, const char *type, const struct vcaller *who,
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
	return vs_audit_durable(s, &ev);
}

void vs_revoke(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt, const struct vcaller *who)
{
	(void)rt, (void)who; /* every handler has the route signature */
	int host = rt->arg;
	cJSON *in = NULL;
	const char *name, *reason;
	struct vhost h;
	struct vagent a;
	int r;

	if ((r = vs_body_json(req, rt->body_cap, host ? vb_keys_revoke_host : vb_keys_revoke_agent,
			      &in, NULL)) != ATTEST_OK ||
	    (r = vb_revoke_parse(in, host, &name, &reason)) != ATTEST_OK)
		goto out;
	if ((r = host ? vs_host_row(s, name, &h) : s->store->ops->agent_get(s->store, name, &a)) !=
		    ATTEST_OK ||
	    (r = vs_record_change(s, "revocation", who, host ? name : NULL, host ? NULL : name,
			       reason)) != ATTEST_OK)
		goto out;
	/* the revocation columns only (issue 18): a quote or report another
	 * replica stores between the read above and this write keeps its
	 * columns, and cannot un-revoke */
	{
		char why[VSTORE_REASON_MAX];

		(void)snprintf(why, sizeof(why), OPERATOR_PREFIX "%s: %s", who->name, reason);
		r = host ? s->store->ops->host_revoke(s->store, name, why)
			 : s->store->ops->agent_revoke(s->store, name, why);
		if (host)
			vs_view_host_drop(s, name);
		else
			vs_view_agent_drop(s, name);
	}
	/* a revoked host's JWT keys leave the SPIFFE bundle */
	if (r == ATTEST_OK && host)
		r = vs_spiffe_bump(s);
	if (r != ATTEST_OK)
		goto out;
	attest_decider_flush(s->decider);
	vs_changed(s, "a revocation");
	vs_log("%s %s revoked by %s: %s", host ? "host" : "agent", name, who->name, reason);
	vs_audited_ok(s, req, "{\"status\":\"revoked\"}", NULL);
out:
	if (r != ATTEST_OK)
		vs_reply_err(s, req, vs_status_of(r), r, "revocation refused");
	cJSON_Delete(in);
}

void vs_approve(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt, const struct vcaller *who)
{
	(void)rt, (void)who; /* every handler has the route signature */
	cJSON *in = NULL;
	const char *name;
	struct vagent a;
	int r;

	if ((r = vs_body_json(req, rt->body_cap, vb_keys_approve, &in, NULL)) == ATTEST_OK &&
	    (r = vb_str(in, "agent", VSTORE_ID_MAX - 1, &name)) == ATTEST_OK &&
	    (r = s->store->ops->agent_get(s->store, name, &a)) == ATTEST_OK &&
	    (r = vs_record_change(s, "approval", who, NULL, name, NULL)) == ATTEST_OK) {
		r = s->store->ops->agent_approve(s->store, name);
		vs_view_agent_drop(s, name);
	}
	if (r == ATTEST_OK) {
		vs_changed(s, "an approval");
		vs_log("agent %s approved by %s", name, who->name);
		vs_audited_ok(s, req, "{\"status\":\"approved\"}", NULL);
	} else {
		vs_reply_err(s, req, vs_status_of(r), r, "approval refused");
	}
	cJSON_Delete(in);
}

void vs_settings(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt, const struct vcaller *who)
{
	(void)rt, (void)who; /* every handler has the route signature */
	cJSON *in = NULL, *o = NULL, *arr;
	struct vb_settings sb;
	int r = ATTEST_OK;

	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
		if ((r = vs_body_json(req, rt->body_cap, vb_keys_settings, &in, NULL)) != ATTEST_OK ||
		    (r = vb_settings_parse(in, &sb)) != ATTEST_OK)
			goto out;
		{
			/* recorded before it takes effect */
			struct attest_audit_event ev = {.type = "settings", .outcome = "ok"};
			char what[VSTORE_LIST_MAX + 64];

			(void)snprintf(what, sizeof(what), "approval_required=%s scope_cap=%s",
				       !sb.has_ap ? "unchanged" : sb.ap ? "1" : "0",
				       !sb.has_cap ? "unchanged" : sb.capval);
			ev.source = who->name;
			ev.reason = what;
			if ((r = vs_audit_durable(s, &ev)) != ATTEST_OK)
				goto out;
		}
		if ((sb.has_ap && (r = s->store->ops->setting_put(s->store, "approval_required",
								   sb.ap ? "1" : "0")) != ATTEST_OK) ||
		    (sb.has_cap &&
		     (r = s->store->ops->setting_put(s->store, "scope_cap", sb.capval)) != ATTEST_OK) ||
		    (r = vs_load_settings(s)) != ATTEST_OK)
			goto out;
		attest_decider_flush(s->decider);
		vs_changed(s, "a settings change");
		vs_log("settings changed by %s: approval_required=%d scope_cap=%s%s%s", who->name,
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
	vs_audited_reply(s, req, 200, o, NULL);
out:
	if (r != ATTEST_OK)
		vs_reply_err(s, req, vs_status_of(r), r, "settings refused");
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

void vs_refsets(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt, const struct vcaller *who)
{
	(void)rt, (void)who; /* every handler has the route signature */
	int deactivate = rt->arg;
	cJSON *in = NULL, *arr = NULL;
	const char *jws, *name;
	struct attest_refset *set = NULL;
	int r = ATTEST_OK;

	if (deactivate) {
		if ((r = vs_body_json(req, rt->body_cap, vb_keys_refset_retire, &in, NULL)) != ATTEST_OK ||
		    (r = vb_str(in, "name", VSTORE_NAME_MAX - 1, &name)) != ATTEST_OK ||
		    (r = vs_record_change(s, "refset_retired", who, NULL, NULL, name)) != ATTEST_OK ||
		    (r = s->store->ops->refset_set_active(s->store, name, 0)) != ATTEST_OK ||
		    (r = vs_load_refsets(s)) != ATTEST_OK)
			goto out;
		vs_changed(s, "a reference set change");
		vs_log("reference set %s retired by %s", name, who->name);
	} else if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
		if ((r = vs_body_json(req, rt->body_cap, vb_keys_refset, &in, NULL)) != ATTEST_OK ||
		    (r = vb_str(in, "jws", BODY_MAX, &jws)) != ATTEST_OK ||
		    (r = attest_refset_verify(jws, strlen(jws), s->ops, s->nops, vs_now(), &set)) !=
			    ATTEST_OK)
			goto out;
		if (s->nsets >= MAX_REFSETS) {
			r = attest_fail(ATTEST_E_TOO_LARGE, "%d reference sets are active; retire one first",
					MAX_REFSETS);
			goto out;
		}
		if ((r = vs_record_change(s, "refset_activated", who, NULL, NULL,
				       attest_refset_name(set))) != ATTEST_OK ||
		    (r = s->store->ops->refset_put(s->store, attest_refset_name(set), jws, vs_now())) !=
			    ATTEST_OK ||
		    (r = s->store->ops->refset_set_active(s->store, attest_refset_name(set), 1)) !=
			    ATTEST_OK ||
		    (r = vs_load_refsets(s)) != ATTEST_OK)
			goto out;
		vs_changed(s, "a reference set change");
		vs_log("reference set %s (signed by %s) activated by %s", attest_refset_name(set),
		      attest_refset_kid(set), who->name);
	}
	if ((arr = cJSON_CreateArray()) == NULL ||
	    (r = s->store->ops->refset_list(s->store, 0, list_refset, arr)) != ATTEST_OK)
		goto out;
	vs_audited_reply(s, req, 200, arr, NULL);
out:
	if (r != ATTEST_OK)
		vs_reply_err(s, req, vs_status_of(r), r, "reference set refused");
	attest_refset_free(set);
	cJSON_Delete(arr);
	cJSON_Delete(in);
}

void vs_reload(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt, const struct vcaller *who)
{
	(void)rt, (void)who; /* every handler has the route signature */
	struct attest_audit_event ev = {.type = "policy_change", .outcome = "ok"};
	struct attest_policy *p = NULL;
	int r = vs_parse_policy(s, &p);

	if (r != ATTEST_OK) {
		vs_reply_err(s, req, 400, r, "policy reload refused (the running policy stays)");
		return;
	}
	/* recorded, then in force */
	ev.source = who->name;
	ev.reason = attest_policy_version(p);
	if ((r = vs_audit_durable(s, &ev)) != ATTEST_OK) {
		attest_policy_free(p);
		vs_reply_err(s, req, 500, r, "policy reload not recorded (the running policy stays)");
		return;
	}
	vs_install_policy(s, p);
	vs_changed(s, "a policy reload");
	vs_audited_ok(s, req, "{\"status\":\"reloaded\"}", NULL);
}

/* ---- open ---- */

static int count_host(void *arg, const struct vhost *h)
{
	unsigned *n = arg;

	n[h->revoked ? 3 : h->state % 3]++;
	return ATTEST_OK;
}

void vs_health(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt, const struct vcaller *who)
{
	(void)rt, (void)who; /* every handler has the route signature */
	unsigned n[4] = {0};
	cJSON *o = cJSON_CreateObject();
	int r = s->store->ops->host_list(s->store, count_host, n);

	if (o == NULL || r != ATTEST_OK) {
		vs_reply_err(s, req, 500, r != ATTEST_OK ? r : ATTEST_E_NOMEM, "health");
		cJSON_Delete(o);
		return;
	}
	cJSON_AddStringToObject(o, "status", "ok");
	cJSON_AddStringToObject(o, "policy", s->policy ? attest_policy_version(s->policy) : "");
	cJSON_AddNumberToObject(o, "hosts", n[0] + n[1] + n[2] + n[3]);
	cJSON_AddNumberToObject(o, "hosts_trusted", n[1]);
	/* issue 18: this replica, the fleet's replicas, the stale hosts;
	 * issue 14: the federated trust domains' bundles (public) */
	if ((r = vs_replica_health(s, o)) != ATTEST_OK ||
	    (s->fed != NULL &&
	     (r = vs_fed_status(s, cJSON_AddArrayToObject(o, "federations"))) != ATTEST_OK)) {
		vs_reply_err(s, req, 500, r, "health");
		cJSON_Delete(o);
		return;
	}
	vs_reply_obj(s, req, 200, o);
	cJSON_Delete(o);
}

void vs_metrics(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt, const struct vcaller *who)
{
	(void)rt, (void)who; /* every handler has the route signature */
	struct evbuffer *b = evbuffer_new();
	unsigned n[4] = {0};
	static const char *const le[8] = {"0.00005", "0.0001", "0.00025", "0.0005",
					  "0.001",   "0.005",  "0.01",    "+Inf"};
	unsigned long cum = 0;

	if (b == NULL) {
		vs_count_status(s, 500);
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
	evbuffer_add_printf(b, "# TYPE attest_verifier_jwt_validations_total counter\n"
			       "attest_verifier_jwt_validations_total{result=\"valid\"} %lu\n"
			       "attest_verifier_jwt_validations_total{result=\"refused\"} %lu\n",
			    s->m.jwt_valid, s->m.jwt_refused);
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
	/* durable writes (issue 17 item 4): store transactions committed by
	 * this replica, and audit group commits (one fdatasync each) */
	evbuffer_add_printf(b, "# TYPE attest_verifier_store_commits_total counter\n"
			       "attest_verifier_store_commits_total %llu\n"
			       "# TYPE attest_verifier_audit_syncs_total counter\n"
			       "attest_verifier_audit_syncs_total %llu\n",
			    (unsigned long long)s->store->commits,
			    (unsigned long long)attest_audit_syncer_batches(s->syncer));
	{
		struct attest_decider_cache_info ci;

		attest_decider_cache_info(s->decider, &ci);
		evbuffer_add_printf(
			b,
			"# TYPE attest_verifier_cache_hits_total counter\n"
			"attest_verifier_cache_hits_total{cache=\"leaf\"} %llu\n"
			"attest_verifier_cache_hits_total{cache=\"issuer\"} %llu\n"
			"attest_verifier_cache_hits_total{cache=\"ak\"} %lu\n"
			"attest_verifier_cache_hits_total{cache=\"caller\"} %lu\n"
			"attest_verifier_cache_hits_total{cache=\"host\"} %lu\n"
			"attest_verifier_cache_hits_total{cache=\"agent\"} %lu\n"
			"# TYPE attest_verifier_cache_misses_total counter\n"
			"attest_verifier_cache_misses_total{cache=\"leaf\"} %llu\n"
			"attest_verifier_cache_misses_total{cache=\"issuer\"} %llu\n"
			"attest_verifier_cache_misses_total{cache=\"ak\"} %lu\n"
			"attest_verifier_cache_misses_total{cache=\"caller\"} %lu\n"
			"attest_verifier_cache_misses_total{cache=\"host\"} %lu\n"
			"attest_verifier_cache_misses_total{cache=\"agent\"} %lu\n"
			"# TYPE attest_verifier_cache_evictions_total counter\n"
			"attest_verifier_cache_evictions_total{cache=\"leaf\"} %llu\n"
			"attest_verifier_cache_evictions_total{cache=\"issuer\"} %llu\n"
			"attest_verifier_cache_evictions_total{cache=\"ak\"} %lu\n"
			"attest_verifier_cache_evictions_total{cache=\"agent\"} %lu\n"
			"# TYPE attest_verifier_cache_entries gauge\n"
			"attest_verifier_cache_entries{cache=\"leaf\"} %zu\n"
			"attest_verifier_cache_entries{cache=\"issuer\"} %zu\n"
			"attest_verifier_cache_entries{cache=\"ak\"} %zu\n"
			"attest_verifier_cache_entries{cache=\"agent\"} %zu\n"
			"# TYPE attest_verifier_cache_used gauge\n"
			"attest_verifier_cache_used{cache=\"leaf\"} %zu\n"
			"attest_verifier_cache_used{cache=\"issuer\"} %zu\n",
			(unsigned long long)ci.leaf_hits, (unsigned long long)ci.issuer_hits, s->m.ak_hits,
			s->m.caller_hits, s->m.hview_hits, s->m.aview_hits,
			(unsigned long long)ci.leaf_misses, (unsigned long long)ci.issuer_misses,
			s->m.ak_misses, s->m.caller_misses, s->m.hview_misses, s->m.aview_misses, (unsigned long long)ci.leaf_evictions,
			(unsigned long long)ci.issuer_evictions, s->m.ak_evictions, s->m.aview_evictions,
			ci.leaf_entries, ci.issuer_entries, s->ak_sets * AK_WAYS,
			s->av_sets * AGENT_VIEW_WAYS, ci.leaf_used, ci.issuer_used);
	}
	evbuffer_add_printf(b, "# TYPE attest_verifier_checkpoint_gaps_total counter\n"
			       "attest_verifier_checkpoint_gaps_total %lu\n"
			       "# TYPE attest_verifier_checkpoints_missed_total counter\n"
			       "attest_verifier_checkpoints_missed_total %llu\n",
			    s->m.checkpoint_gaps, s->m.checkpoints_missed);
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
	vs_replica_metrics(s, b); /* issue 18 */
	vs_detect_metrics(s, b); /* posture findings, alerts, baselines */
	(void)evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
				"text/plain; version=0.0.4");
	vs_count_status(s, 200);
	evhttp_send_reply(req, 200, NULL, b);
	evbuffer_free(b);
}
