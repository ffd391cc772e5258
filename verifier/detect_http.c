/* detect_http.c - behaviour detection in the serving verifier
 * (docs/detection.md): each decision scored against its agent's and
 * user's baselines before the policy (which may use the score), learnt
 * after it, alerts to the audit log, the ring behind GET /v1/alerts and
 * the alert sink; baselines written behind in batches; the posture
 * report (GET /v1/posture) and its gauges. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "core/err.h"
#include "core/json.h"
#include "core/num.h"
#include "posture.h"
#include "vsrv.h"

/* ---- configuration (with the policy) ---- */

int vs_parse_detection(struct vsrv *s, const char *json, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	int r;

	vd_config_default(&s->vdc_next);
	/* the policy loader has parsed the same bytes already */
	if (root == NULL)
		return attest_fail(ATTEST_E_PARSE, "policy: not JSON");
	r = vd_config_parse(cJSON_GetObjectItemCaseSensitive(root, "detection"), &s->vdc_next);
	cJSON_Delete(root);
	return r;
}

/* ---- around a decision ---- */

static double score_cb(void *arg, const char *agent, const char *user, const char *purpose,
		       const char *resource)
{
	struct vsrv *s = arg;
	struct vd_obs o = {agent, user, purpose, resource, s->cur_subject, vs_now(), 0};

	vd_score(s->vd, &o, &s->cur);
	s->cur_scored = 1;
	return s->cur.score;
}

void vs_detect_before(struct vsrv *s, struct attest_decide_req *dr, char *subj, size_t subjsz)
{
	s->cur_scored = 0;
	s->cur_subject = NULL;
	memset(&s->cur, 0, sizeof(s->cur));
	if (s->vd == NULL || !vd_config(s->vd)->enabled)
		return;
	s->cur_subject = vd_subject(s->vd, dr->resource, dr->ctx_keys, dr->ctx_values, dr->nctx,
				    subj, subjsz);
	dr->anomaly = score_cb;
	dr->anomaly_arg = s;
}

static void fmt_time(int64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	(void)strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static cJSON *alert_json(const struct vd_alert *a)
{
	cJSON *o = cJSON_CreateObject(), *rs;
	char ts[32];

	fmt_time(a->time, ts, sizeof(ts));
	if (o == NULL || cJSON_AddStringToObject(o, "time", ts) == NULL ||
	    cJSON_AddStringToObject(o, "agent", a->agent) == NULL ||
	    cJSON_AddStringToObject(o, "user", a->user) == NULL ||
	    cJSON_AddNumberToObject(o, "score", (double)(int)(a->score * 1000 + 0.5) / 1000) == NULL ||
	    (rs = cJSON_AddArrayToObject(o, "reasons")) == NULL ||
	    cJSON_AddStringToObject(o, "decision", a->allow ? "allow" : "deny") == NULL ||
	    cJSON_AddStringToObject(o, "resource", a->resource) == NULL ||
	    cJSON_AddStringToObject(o, "purpose", a->purpose) == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	for (unsigned i = 0; i < a->nreasons; i++)
		if (!cJSON_AddItemToArray(rs, cJSON_CreateString(a->reasons[i]))) {
			cJSON_Delete(o);
			return NULL;
		}
	return o;
}

int vs_detect_after(struct vsrv *s, const struct attest_decision *d,
		    const struct attest_decide_req *dr, cJSON *o, char *reason, size_t rsz)
{
	const char *user = NULL, *purpose = NULL, *delegators[ATTEST_INTENT_MAX_DEPTH];
	const char *const *scopes = NULL;
	size_t nscopes = 0, ndel = 0, l;
	struct vd_obs ob;
	cJSON *an, *rs;

	/* only decisions that reached the policy: the chain, intent and facts
	 * were verified, so the agent is who it says (a forged chain never
	 * teaches or poisons a baseline) */
	if (s->vd == NULL || !s->cur_scored)
		return ATTEST_OK;
	if (d->intent != NULL) {
		unsigned depth = attest_intent_chain_depth(d->intent);

		user = attest_intent_chain_user(d->intent);
		purpose = attest_purpose_name(attest_intent_chain_purpose(d->intent, NULL));
		for (unsigned i = 0; i < depth && ndel < ATTEST_INTENT_MAX_DEPTH; i++)
			delegators[ndel++] = attest_intent_chain_agent(d->intent, i, NULL);
	}
	if (d->allow)
		nscopes = attest_policy_rule_scopes(s->policy, d->rule, &scopes);
	ob.agent = d->agent;
	ob.user = user;
	ob.purpose = purpose;
	ob.resource = dr->resource;
	ob.subject = s->cur_subject;
	ob.now = vs_now();
	ob.leaf_life = attest_decider_leaf_lifetime(s->decider); /* posture: TTL at the cap */
	vd_learn(s->vd, &ob, d->allow, scopes, nscopes, delegators, ndel);
	if ((an = cJSON_AddObjectToObject(o, "anomaly")) == NULL ||
	    cJSON_AddNumberToObject(an, "score", (double)(int)(s->cur.score * 1000 + 0.5) / 1000) ==
		    NULL ||
	    cJSON_AddBoolToObject(an, "learning", s->cur.learning) == NULL ||
	    cJSON_AddBoolToObject(an, "alert", s->cur.score >= vd_config(s->vd)->threshold) ==
		    NULL ||
	    (rs = cJSON_AddArrayToObject(an, "reasons")) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "anomaly reply");
	for (unsigned i = 0; i < s->cur.nreasons; i++)
		if (!cJSON_AddItemToArray(rs, cJSON_CreateString(s->cur.reasons[i])))
			return attest_fail(ATTEST_E_NOMEM, "anomaly reply");
	/* the record's reason gains the score and its reasons */
	l = strlen(reason);
	if (s->cur.score > 0 && l + 1 < rsz) {
		int n = snprintf(reason + l, rsz - l, " anomaly=%.3f", s->cur.score);

		for (unsigned i = 0; n > 0 && i < s->cur.nreasons; i++) {
			l = strlen(reason);
			if (l + 1 >= rsz)
				break;
			n = snprintf(reason + l, rsz - l, "%s%s", i ? "," : ":", s->cur.reasons[i]);
		}
	}
	if (s->cur.score >= vd_config(s->vd)->threshold) {
		struct vd_alert a;
		struct attest_audit_event ev = {0};
		const char *agents[1] = {d->agent};
		char why[200], *txt;
		cJSON *aj;
		int r;

		memset(&a, 0, sizeof(a));
		a.time = ob.now;
		(void)snprintf(a.agent, sizeof(a.agent), "%s", d->agent);
		(void)snprintf(a.user, sizeof(a.user), "%s", user != NULL ? user : "");
		a.score = s->cur.score;
		a.nreasons = s->cur.nreasons;
		memcpy(a.reasons, s->cur.reasons, sizeof(a.reasons));
		a.allow = d->allow;
		(void)snprintf(a.resource, sizeof(a.resource), "%s", dr->resource);
		(void)snprintf(a.purpose, sizeof(a.purpose), "%s", purpose != NULL ? purpose : "");
		vd_alert_push(s->vd, &a);
		/* its own audit record (the decision's follows), then the sink */
		(void)snprintf(why, sizeof(why), "%s",
			       strstr(reason, "anomaly=") != NULL ? strstr(reason, "anomaly=") : "anomaly");
		ev.type = "alert";
		ev.host = d->host[0] ? d->host : NULL;
		ev.user = user;
		ev.agents = agents;
		ev.nagents = 1;
		ev.purpose = purpose;
		ev.subject = s->cur_subject;
		ev.action = dr->action;
		ev.resource = dr->resource;
		ev.outcome = d->allow ? "allow" : "deny";
		ev.reason = why;
		if ((r = attest_audit_append_event(s->audit, &ev, NULL)) != ATTEST_OK)
			vs_log_limited(s, r, "audit append of an alert failed: %s (%s)",
				       attest_errname(r), attest_errdetail());
		if (s->sink != NULL && (aj = alert_json(&a)) != NULL) {
			if ((txt = cJSON_PrintUnformatted(aj)) != NULL)
				vas_post(s->sink, txt);
			cJSON_free(txt);
			cJSON_Delete(aj);
		}
	}
	return ATTEST_OK;
}

/* ---- write-behind ---- */

/* One batch of dirty baselines in one transaction; on a store failure
 * the rows are lost from this batch (counted) and written again when
 * their entity next changes. Returns the rows taken. */
static size_t flush_batch(struct vsrv *s)
{
	char (*keys)[VD_KEY_MAX] = malloc(VS_DETECT_BATCH * sizeof(*keys));
	char **states = calloc(VS_DETECT_BATCH, sizeof(*states));
	const char *k[VS_DETECT_BATCH], *v[VS_DETECT_BATCH];
	size_t n = 0;
	int r;

	if (keys == NULL || states == NULL)
		goto out;
	n = vd_take_dirty(s->vd, VS_DETECT_BATCH, keys, states);
	for (size_t i = 0; i < n; i++) {
		k[i] = keys[i];
		v[i] = states[i];
	}
	if (n > 0) {
		if ((r = s->store->ops->behaviour_put(s->store, k, v, n, vs_now())) != ATTEST_OK) {
			s->behaviour_failed += n;
			vs_log_limited(s, r, "baselines not written (%zu): %s (%s)", n,
				       attest_errname(r), attest_errdetail());
		} else {
			s->behaviour_rows += n;
			s->behaviour_batches++;
		}
	}
	for (size_t i = 0; i < n; i++)
		cJSON_free(states[i]);
out:
	free(keys);
	free(states);
	return n;
}

void vs_detect_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct vsrv *s = arg;

	(void)fd, (void)what;
	if (s->vd != NULL)
		(void)flush_batch(s);
}

static int restore_cb(void *arg, const char *key, const char *state)
{
	struct vsrv *s = arg;

	/* a row that is not a baseline of ours is skipped: that entity
	 * starts cold again (logged, not fatal) */
	if (vd_restore(s->vd, key, state) != ATTEST_OK)
		vs_log("baseline %.60s skipped: %s", key, attest_errdetail());
	return 0;
}

int vs_detect_start(struct vsrv *s)
{
	struct vd_config c;
	int r;

	if (s->cfg->detect_off)
		return ATTEST_OK;
	vd_config_default(&c);
	if ((r = vd_new(&c, s->cfg->detect_entities, &s->vd)) != ATTEST_OK ||
	    (r = s->store->ops->behaviour_list(s->store, restore_cb, s)) != ATTEST_OK)
		return r;
	vs_log("detection: %zu baselines loaded (cap %zu)", vd_count(s->vd),
	       s->cfg->detect_entities ? s->cfg->detect_entities : (size_t)VD_ENTITIES_DEFAULT);
	return ATTEST_OK;
}

void vs_detect_stop(struct vsrv *s)
{
	if (s->vd != NULL && s->store != NULL)
		while (flush_batch(s) > 0)
			;
	vas_stop(s->sink);
	s->sink = NULL;
	vd_free(s->vd);
	s->vd = NULL;
}

/* ---- GET /v1/alerts?limit=N ---- */

void vs_alerts(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt,
	       const struct vcaller *who)
{
	struct evkeyvalq q;
	const char *lim;
	uint64_t n = 50;
	struct vd_alert *a = NULL;
	size_t got = 0;
	cJSON *o = NULL, *arr;
	int r;

	(void)rt, (void)who;
	memset(&q, 0, sizeof(q));
	if (evhttp_parse_query_str(evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req)) != NULL
					   ? evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req))
					   : "",
				   &q) != 0) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "query string");
		goto out;
	}
	lim = evhttp_find_header(&q, "limit");
	if (lim != NULL && attest_parse_u64(lim, 1, VD_ALERTS_MAX, &n) != ATTEST_OK) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "limit: 1..%d", VD_ALERTS_MAX);
		goto out;
	}
	if ((a = calloc((size_t)n, sizeof(*a))) == NULL || (o = cJSON_CreateObject()) == NULL ||
	    (arr = cJSON_AddArrayToObject(o, "alerts")) == NULL ||
	    cJSON_AddNumberToObject(o, "total", s->vd != NULL ? (double)vd_alert_count(s->vd) : 0) ==
		    NULL ||
	    cJSON_AddBoolToObject(o, "detection", s->vd != NULL) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "alerts");
		goto out;
	}
	if (s->vd != NULL)
		got = vd_alerts(s->vd, a, (size_t)n);
	for (size_t i = 0; i < got; i++) {
		cJSON *j = alert_json(&a[i]);

		if (j == NULL || !cJSON_AddItemToArray(arr, j)) {
			cJSON_Delete(j);
			r = attest_fail(ATTEST_E_NOMEM, "alerts");
			goto out;
		}
	}
	vs_reply_obj(s, req, 200, o);
	r = ATTEST_OK;
out:
	if (r != ATTEST_OK)
		vs_reply_err(s, req, vs_status_of(r), r, "alerts refused");
	evhttp_clear_headers(&q);
	cJSON_Delete(o);
	free(a);
}

/* ---- GET /v1/posture ---- */

static void posture_opts(struct vsrv *s, struct vp_opts *o)
{
	vp_opts_default(o);
	o->now = vs_now();
	o->state = s->cfg->state;
	if (s->cfg->posture_window > 0)
		o->attest_window = s->cfg->posture_window;
	if (s->cfg->posture_ttl_cap > 0)
		o->ttl_cap = s->cfg->posture_ttl_cap;
}

void vs_posture(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt,
		const struct vcaller *who)
{
	struct vp_opts po;
	unsigned counts[VP_KINDS];
	cJSON *o = NULL;
	struct evkeyvalq q;
	const char *days;
	uint64_t dv;
	int r;

	(void)rt, (void)who;
	memset(&q, 0, sizeof(q));
	posture_opts(s, &po);
	if (evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req)) != NULL) {
		if (evhttp_parse_query_str(evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req)),
					   &q) != 0) {
			r = attest_fail(ATTEST_E_INVALID_ARG, "query string");
			goto out;
		}
		if ((days = evhttp_find_header(&q, "days")) != NULL) {
			if (attest_parse_u64(days, 1, 3650, &dv) != ATTEST_OK) {
				r = attest_fail(ATTEST_E_INVALID_ARG, "days: 1..3650");
				goto out;
			}
			po.days = (int64_t)dv;
		}
	}
	if ((r = vp_posture(s->store, s->vd, &po, &o, counts)) != ATTEST_OK)
		goto out;
	vs_reply_obj(s, req, 200, o);
out:
	if (r != ATTEST_OK)
		vs_reply_err(s, req, vs_status_of(r), r, "posture report failed");
	evhttp_clear_headers(&q);
	cJSON_Delete(o);
}

void vs_detect_metrics(struct vsrv *s, struct evbuffer *b)
{
	struct vp_opts po;
	unsigned counts[VP_KINDS];
	struct vas_stats st;
	cJSON *o = NULL;

	/* the report walks the whole store: a scrape reuses one up to
	 * VS_POSTURE_TTL seconds old */
	if (s->posture_at == 0 || vs_mono() - s->posture_at > VS_POSTURE_TTL) {
		posture_opts(s, &po);
		if (vp_posture(s->store, s->vd, &po, &o, counts) == ATTEST_OK) {
			memcpy(s->posture_counts, counts, sizeof(counts));
			s->posture_at = vs_mono();
		}
		cJSON_Delete(o);
	}
	if (s->posture_at != 0) {
		evbuffer_add_printf(b, "# TYPE attest_verifier_posture_findings gauge\n");
		for (int k = 0; k < VP_KINDS; k++)
			evbuffer_add_printf(b,
					    "attest_verifier_posture_findings{kind=\"%s\",severity=\"%s\"} %u\n",
					    vp_kind[k], vp_severity[k], s->posture_counts[k]);
	}
	vas_stats(s->sink, &st);
	evbuffer_add_printf(b,
			    "# TYPE attest_verifier_anomaly_alerts_total counter\n"
			    "attest_verifier_anomaly_alerts_total %lu\n"
			    "# TYPE attest_verifier_baselines gauge\n"
			    "attest_verifier_baselines %zu\n"
			    "# TYPE attest_verifier_baseline_evictions_total counter\n"
			    "attest_verifier_baseline_evictions_total %lu\n"
			    "# TYPE attest_verifier_baseline_rows_written_total counter\n"
			    "attest_verifier_baseline_rows_written_total %lu\n"
			    "# TYPE attest_verifier_baseline_write_failures_total counter\n"
			    "attest_verifier_baseline_write_failures_total %lu\n"
			    "# TYPE attest_verifier_alert_deliveries_total counter\n"
			    "attest_verifier_alert_deliveries_total{result=\"sent\"} %lu\n"
			    "attest_verifier_alert_deliveries_total{result=\"failed\"} %lu\n"
			    "attest_verifier_alert_deliveries_total{result=\"dropped\"} %lu\n",
			    s->vd != NULL ? vd_alert_count(s->vd) : 0UL,
			    s->vd != NULL ? vd_count(s->vd) : (size_t)0,
			    s->vd != NULL ? vd_evictions(s->vd) : 0UL, s->behaviour_rows,
			    s->behaviour_failed, st.sent, st.failed, st.dropped);
}
