/* test_detect.c - behaviour detection and the posture report (issue 19,
 * docs/detection.md), below HTTP: the detector (verifier/detect.c) on
 * synthetic traffic with a controlled clock (days of a clinical agent's
 * normal work, then a burst over many patients, a new purpose, an
 * off-hours burst), its false-positive rate on the normal traffic, its
 * caps and its stored state; the policy's anomaly rules
 * (libattest/decide/policy.c); the posture report (verifier/posture.c)
 * over a store built with each weakness, and over a clean one; the
 * baseline and registration-change tables on SQLite and PostgreSQL. The
 * same against a running verifier: test_verifier "anomaly". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <utime.h>

#include "attest/policy.h"
#include "detect.h"
#include "posture.h"
#include "store.h"
#include "testutil.h"
#include "testutil_pg.h"

/* ---- synthetic traffic ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

#define DAY 86400
#define T0 ((int64_t)1796083200) /* 2026-12-01T00:00:00Z, a Tuesday */
#define AGENTS 3

static const char *const agent_id[AGENTS] = {
	"spiffe://fleet.example/host/web-01/agent/scribe",
	"spiffe://fleet.example/host/web-02/agent/scribe",
	"spiffe://fleet.example/host/web-03/agent/scribe",
};
static const char *const doctors[5] = {"dr.grey", "dr.house", "dr.yang", "dr.shep", "dr.karev"};

struct tally {
	unsigned long decisions, alerts;
	double max;
	char first_reason[VD_REASON_MAX];
};

/* One decision of agent a at t: score, then learn; counts alerts. */
static double one(struct vd *d, int a, const char *user, const char *purpose, unsigned patient,
		  int64_t t, struct tally *ty, struct vd_score *sc)
{
	char res[96], subj[32];
	struct vd_obs o;

	(void)snprintf(res, sizeof(res), "ehr:patient/%u/record", patient);
	(void)snprintf(subj, sizeof(subj), "%u", patient);
	o.agent = agent_id[a];
	o.user = user;
	o.purpose = purpose;
	o.resource = res;
	o.subject = subj;
	o.now = t;
	o.leaf_life = 300;
	vd_score(d, &o, sc);
	vd_learn(d, &o, 1, NULL, 0, NULL, 0);
	ty->decisions++;
	if (sc->score > ty->max)
		ty->max = sc->score;
	if (sc->score >= vd_config(d)->threshold) {
		if (ty->alerts == 0 && sc->nreasons > 0)
			(void)snprintf(ty->first_reason, sizeof(ty->first_reason), "%s", sc->reasons[0]);
		ty->alerts++;
	}
	return sc->score;
}

/* Normal work: weekdays 08:00-18:00 UTC, each minute 10..30 decisions by
 * one of 5 doctors over a ward of 200 patients, purpose TREATMENT. */
static void normal_days(struct vd *d, int64_t from, int days, struct tally *ty)
{
	struct vd_score sc;

	/* the agents work side by side (a doctor's requests reach all three) */
	for (int day = 0; day < days; day++)
		for (int m = 8 * 60; m < 18 * 60; m++)
			for (int a = 0; a < AGENTS; a++) {
				unsigned n = 10 + rnd(21);

				for (unsigned i = 0; i < n; i++)
					(void)one(d, a, doctors[rnd(5)], "TREATMENT", rnd(200),
						  from + (int64_t)day * DAY + m * 60 + (int64_t)(i * 60 / n),
						  ty, &sc);
			}
}

static int has_reason(const struct vd_score *sc, const char *r)
{
	for (unsigned i = 0; i < sc->nreasons; i++)
		if (strcmp(sc->reasons[i], r) == 0)
			return 1;
	return 0;
}

static struct vd *trained(struct tally *ty)
{
	struct vd_config c;
	struct vd *d = NULL;

	vd_config_default(&c);
	TU_ASSERT_ERR(vd_new(&c, 0, &d), ATTEST_OK);
	memset(ty, 0, sizeof(*ty));
	normal_days(d, T0, 4, ty); /* Tue..Fri */
	return d;
}

/* Normal traffic raises no alert once the baseline has its history, and
 * hardly any in the cold start; the measured false-positive rate. */
static void test_normal_no_alerts(void)
{
	struct tally warm, after;
	struct vd *d = trained(&warm);
	struct vd_score sc;

	memset(&after, 0, sizeof(after));
	/* a fifth normal day, scored against four days of history */
	normal_days(d, T0 + 6 * DAY, 1, &after);
	printf("\n    normal traffic: %lu decisions in the first 4 days, %lu alerts "
	       "(%.4f%%); day 5: %lu decisions, %lu alerts (%.4f%%), highest score %.3f%s%s\n",
	       warm.decisions, warm.alerts, 100.0 * (double)warm.alerts / (double)warm.decisions,
	       after.decisions, after.alerts, 100.0 * (double)after.alerts / (double)after.decisions,
	       after.max, warm.alerts ? "; first reason " : "", warm.first_reason);
	CU_ASSERT_EQUAL(after.alerts, 0);
	/* cold start included: under 0.1% */
	CU_ASSERT(warm.alerts * 1000 < warm.decisions);
	/* and the scores stay low */
	(void)one(d, 0, "dr.grey", "TREATMENT", 7, T0 + 6 * DAY + 10 * 3600 + 30, &after, &sc);
	CU_ASSERT(sc.score < 0.5);
	CU_ASSERT_FALSE(sc.learning);
	vd_free(d);
}

/* A burst over many patients: alerts with distinct_subjects; with the
 * policy's max_anomaly the decision is denied with ATTEST_E_ANOMALY. */
static void test_burst_patients(void)
{
	struct tally ty, b;
	struct vd *d = trained(&ty);
	struct vd_score sc, worst = {0};
	int64_t t = T0 + 4 * DAY + 14 * 3600 + 30 * 60 + 1; /* day 5, 14:30, mid-shift */
	int saw = 0;

	memset(&b, 0, sizeof(b));
	/* 400 records of patients the ward never had, in one minute */
	for (unsigned i = 0; i < 400; i++) {
		(void)one(d, 0, "dr.grey", "TREATMENT", 5000 + i, t + (int64_t)(i * 60 / 400), &b, &sc);
		if (sc.score > worst.score)
			worst = sc;
		if (sc.score >= 0.5 && has_reason(&sc, "distinct_subjects"))
			saw = 1;
	}
	printf("\n    burst: %lu of 400 decisions alerted, worst %.3f (%s, %s)\n", b.alerts,
	       worst.score, worst.reasons[0], worst.reasons[1]);
	CU_ASSERT(saw);
	CU_ASSERT(b.alerts >= 300);
	/* the other agents, working normally meanwhile, are not affected */
	(void)one(d, 1, "dr.yang", "TREATMENT", 3, t + 5, &ty, &sc);
	CU_ASSERT(sc.score < 0.5);
	{
		static const char pol[] =
			"{\"version\":1,\"rules\":[{\"name\":\"read\",\"effect\":\"allow\","
			"\"resources\":[\"ehr:patient/**\"],\"actions\":[\"read\"],"
			"\"require\":{\"max_anomaly\":0.5}}]}";
		struct attest_policy *p = NULL;
		struct attest_policy_request q;
		struct attest_policy_decision pd;
		const char *agents[1] = {agent_id[0]};

		TU_ASSERT_ERR(attest_policy_load(pol, strlen(pol), &p), ATTEST_OK);
		memset(&q, 0, sizeof(q));
		q.action = "read";
		q.resource = "ehr:patient/5399/record";
		q.agents = agents;
		q.nagents = 1;
		q.now = t;
		q.anomaly = worst.score;
		TU_ASSERT_ERR(attest_policy_eval(p, &q, &pd), ATTEST_OK);
		CU_ASSERT_EQUAL(pd.allow, 0);
		CU_ASSERT_EQUAL(pd.reason, ATTEST_E_ANOMALY);
		CU_ASSERT_PTR_NOT_NULL(strstr(pd.detail, "anomaly score"));
		q.anomaly = 0.1; /* the same request, normal: allowed */
		TU_ASSERT_ERR(attest_policy_eval(p, &q, &pd), ATTEST_OK);
		CU_ASSERT_EQUAL(pd.allow, 1);
		attest_policy_free(p);
	}
	vd_free(d);
}

/* A purpose the agent never used: new_purpose; the fresh-intent rule
 * denies unless the grant is new. */
static void test_new_purpose(void)
{
	struct tally ty, b;
	struct vd *d = trained(&ty);
	struct vd_score sc;
	int64_t t = T0 + 4 * DAY + 11 * 3600 + 7;

	memset(&b, 0, sizeof(b));
	(void)one(d, 1, "dr.house", "RESEARCH", 12, t, &b, &sc);
	CU_ASSERT(sc.score >= 0.5);
	CU_ASSERT(has_reason(&sc, "new_purpose"));
	CU_ASSERT_EQUAL(b.alerts, 1);
	{
		static const char pol[] =
			"{\"version\":1,\"rules\":[{\"name\":\"read\",\"effect\":\"allow\","
			"\"resources\":[\"ehr:patient/**\"],\"actions\":[\"read\"],"
			"\"require\":{\"anomaly_fresh_intent\":{\"above\":0.5,\"within\":120}}}]}";
		struct attest_policy *p = NULL;
		struct attest_policy_request q;
		struct attest_policy_decision pd;
		const char *agents[1] = {agent_id[1]};

		TU_ASSERT_ERR(attest_policy_load(pol, strlen(pol), &p), ATTEST_OK);
		memset(&q, 0, sizeof(q));
		q.action = "read";
		q.resource = "ehr:patient/12/record";
		q.agents = agents;
		q.nagents = 1;
		q.user = "dr.house";
		q.purpose = "RESEARCH";
		q.now = t;
		q.anomaly = sc.score;
		q.intent_issued = t - 3600; /* a grant of an hour ago */
		TU_ASSERT_ERR(attest_policy_eval(p, &q, &pd), ATTEST_OK);
		CU_ASSERT_EQUAL(pd.allow, 0);
		CU_ASSERT_EQUAL(pd.reason, ATTEST_E_ANOMALY_FRESH_INTENT);
		q.intent_issued = t - 30; /* the user re-confirmed: a fresh grant */
		TU_ASSERT_ERR(attest_policy_eval(p, &q, &pd), ATTEST_OK);
		CU_ASSERT_EQUAL(pd.allow, 1);
		attest_policy_free(p);
	}
	vd_free(d);
}

/* Work at 03:00, an hour never seen: off_hours; a deny rule with
 * min_anomaly fires with ATTEST_E_ANOMALY. */
static void test_off_hours(void)
{
	struct tally ty, b;
	struct vd *d = trained(&ty);
	struct vd_score sc;
	int64_t t = T0 + 4 * DAY + 3 * 3600; /* night after the 4th day */
	int saw = 0;

	memset(&b, 0, sizeof(b));
	for (unsigned i = 0; i < 60; i++) {
		(void)one(d, 2, "dr.shep", "TREATMENT", rnd(200), t + i, &b, &sc);
		if (sc.score >= 0.5 && has_reason(&sc, "off_hours"))
			saw = 1;
	}
	CU_ASSERT(saw);
	CU_ASSERT(b.alerts >= 50);
	{
		static const char pol[] =
			"{\"version\":1,\"rules\":[{\"name\":\"read\",\"effect\":\"allow\","
			"\"resources\":[\"ehr:patient/**\"],\"actions\":[\"read\"]},"
			"{\"name\":\"anomalous\",\"effect\":\"deny\",\"resources\":[\"**\"],"
			"\"actions\":[\"*\"],\"when\":{\"min_anomaly\":0.5}}]}";
		struct attest_policy *p = NULL;
		struct attest_policy_request q;
		struct attest_policy_decision pd;
		const char *agents[1] = {agent_id[2]};

		TU_ASSERT_ERR(attest_policy_load(pol, strlen(pol), &p), ATTEST_OK);
		memset(&q, 0, sizeof(q));
		q.action = "read";
		q.resource = "ehr:patient/12/record";
		q.agents = agents;
		q.nagents = 1;
		q.now = t;
		q.anomaly = sc.score;
		TU_ASSERT_ERR(attest_policy_eval(p, &q, &pd), ATTEST_OK);
		CU_ASSERT_EQUAL(pd.allow, 0);
		CU_ASSERT_EQUAL(pd.reason, ATTEST_E_ANOMALY);
		CU_ASSERT_STRING_EQUAL(pd.rule, "anomalous");
		q.anomaly = 0;
		TU_ASSERT_ERR(attest_policy_eval(p, &q, &pd), ATTEST_OK);
		CU_ASSERT_EQUAL(pd.allow, 1);
		attest_policy_free(p);
	}
	vd_free(d);
}

/* A new agent has no baseline: it scores 0 ("learning") however it
 * behaves until min_windows and min_events; bad policy values refused. */
static void test_cold_start_and_config(void)
{
	struct vd_config c;
	struct vd *d = NULL;
	struct vd_score sc;
	struct tally ty;
	cJSON *j;

	memset(&ty, 0, sizeof(ty));
	vd_config_default(&c);
	TU_ASSERT_ERR(vd_new(&c, 0, &d), ATTEST_OK);
	for (unsigned i = 0; i < 500; i++)
		(void)one(d, 0, "dr.grey", i % 2 ? "RESEARCH" : "TREATMENT", i, T0 + 3 * 3600, &ty, &sc);
	CU_ASSERT_EQUAL(ty.alerts, 0);
	CU_ASSERT(sc.learning);
	CU_ASSERT(sc.score == 0);
	vd_free(d);
	j = cJSON_Parse("{\"window\":0}");
	TU_ASSERT_ERR(vd_config_parse(j, &c), ATTEST_E_POLICY);
	cJSON_Delete(j);
	j = cJSON_Parse("{\"z_low\":5,\"z_high\":4}");
	TU_ASSERT_ERR(vd_config_parse(j, &c), ATTEST_E_POLICY);
	cJSON_Delete(j);
	j = cJSON_Parse("{\"bogus\":1}");
	TU_ASSERT_ERR(vd_config_parse(j, &c), ATTEST_E_POLICY);
	cJSON_Delete(j);
	j = cJSON_Parse("{\"window\":5,\"subject_context\":\"mrn\",\"subject_segment\":1}");
	vd_config_default(&c);
	TU_ASSERT_ERR(vd_config_parse(j, &c), ATTEST_OK);
	CU_ASSERT_EQUAL(c.window, 5);
	CU_ASSERT_STRING_EQUAL(c.subject_ctx, "mrn");
	cJSON_Delete(j);
	/* the subject: the context key when present, else the segment */
	TU_ASSERT_ERR(vd_new(&c, 16, &d), ATTEST_OK);
	{
		char out[64];
		const char *k[1] = {"mrn"}, *v[1] = {"A-17"};

		CU_ASSERT_STRING_EQUAL(vd_subject(d, "ehr:patient/99/record", k, v, 1, out, sizeof(out)),
				       "A-17");
		CU_ASSERT_STRING_EQUAL(vd_subject(d, "ehr:patient/99/record", NULL, NULL, 0, out,
						  sizeof(out)),
				       "99");
		CU_ASSERT_PTR_NULL(vd_subject(d, "ehr:patient", NULL, NULL, 0, out, sizeof(out)));
	}
	vd_free(d);
	/* a policy with a detection object of the wrong type is refused */
	{
		static const char pol[] = "{\"version\":1,\"rules\":[],\"detection\":[]}";
		struct attest_policy *p = NULL;

		TU_ASSERT_ERR(attest_policy_load(pol, strlen(pol), &p), ATTEST_E_POLICY);
		static const char pol2[] = "{\"version\":1,\"rules\":[{\"name\":\"x\","
					   "\"effect\":\"allow\",\"resources\":[\"*\"],"
					   "\"actions\":[\"*\"],\"require\":{\"max_anomaly\":2}}]}";

		TU_ASSERT_ERR(attest_policy_load(pol2, strlen(pol2), &p), ATTEST_E_POLICY);
	}
}

/* The leaf lifetime pair ("tm", "ta") of an agent's stored state is
 * optional: a state written before it existed parses (no lifetime seen);
 * one of the pair alone, or a bad value, is refused. */
static void state_ttl_compat(const char *state)
{
	static const char *const bad[][2] = {
		{"tm", NULL}, {"ta", NULL}, {"tm", "0"}, {"tm", "\"3600\""}, {"ta", "-1"},
		{"tm", "1e300"}};
	struct vd_usage u;
	cJSON *j = cJSON_Parse(state);
	char *txt;

	CU_ASSERT_FATAL(j != NULL);
	CU_ASSERT_EQUAL(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "tm")), 3600);
	/* the old form: neither */
	cJSON_DeleteItemFromObject(j, "tm");
	cJSON_DeleteItemFromObject(j, "ta");
	txt = cJSON_PrintUnformatted(j);
	CU_ASSERT_FATAL(txt != NULL);
	TU_ASSERT_ERR(vd_usage_from_json(txt, &u), ATTEST_OK);
	CU_ASSERT_EQUAL(u.ttl_max, 0);
	CU_ASSERT_EQUAL(u.ttl_at, 0);
	CU_ASSERT_EQUAL(u.decisions, 100);
	cJSON_free(txt);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *k = cJSON_Duplicate(j, 1);

		CU_ASSERT_FATAL(k != NULL);
		/* "tm"/"ta" alone (the value 100), or with a bad value beside a good other */
		if (bad[i][1] == NULL) {
			cJSON_AddNumberToObject(k, bad[i][0], 100);
		} else {
			cJSON_AddItemToObject(k, bad[i][0], cJSON_Parse(bad[i][1]));
			cJSON_AddNumberToObject(k, strcmp(bad[i][0], "tm") == 0 ? "ta" : "tm", 100);
		}
		txt = cJSON_PrintUnformatted(k);
		CU_ASSERT_FATAL(txt != NULL);
		TU_ASSERT_ERR(vd_usage_from_json(txt, &u), ATTEST_E_STATE);
		cJSON_free(txt);
		cJSON_Delete(k);
	}
	cJSON_Delete(j);
}

/* Bounded memory: a flood of agent IDs keeps the table at its cap (least
 * recently used out, counted); a baseline survives its stored form. */
static void test_caps_and_state(void)
{
	struct vd_config c;
	struct vd *d = NULL, *d2 = NULL;
	struct vd_score sc;
	struct tally ty;
	char id[128], key[16][VD_KEY_MAX], *states[16];
	struct vd_usage u;
	size_t n;

	memset(&ty, 0, sizeof(ty));
	vd_config_default(&c);
	TU_ASSERT_ERR(vd_new(&c, 16, &d), ATTEST_OK);
	for (unsigned i = 0; i < 1000; i++) {
		struct vd_obs o = {id, NULL, NULL, "ehr:x", NULL, T0 + i, 0};

		(void)snprintf(id, sizeof(id), "spiffe://f/host/h/agent/a%u", i);
		vd_score(d, &o, &sc);
		vd_learn(d, &o, 1, NULL, 0, NULL, 0);
	}
	CU_ASSERT_EQUAL(vd_count(d), 16);
	CU_ASSERT(vd_evictions(d) >= 1000 - 16);
	vd_free(d);
	/* round trip of a trained baseline */
	TU_ASSERT_ERR(vd_new(&c, 16, &d), ATTEST_OK);
	{
		const char *scopes[1] = {"ehr:read"};
		const char *del[1] = {"spiffe://f/host/h/agent/triage"};
		struct vd_obs o = {agent_id[0], "dr.grey", "TREATMENT", "ehr:patient/1/record", "1",
				   T0 + 9 * 3600, 0};

		for (int i = 0; i < 100; i++) {
			o.now = T0 + 9 * 3600 + i * 30;
			/* leaf lifetimes: 900 s, one of 3600 s at i = 40, 300 s */
			o.leaf_life = i == 40 ? 3600 : i < 40 ? 900 : 300;
			vd_score(d, &o, &sc);
			vd_learn(d, &o, 1, scopes, 1, del, 1);
		}
	}
	n = vd_take_dirty(d, 16, key, states);
	CU_ASSERT_EQUAL(n, 3); /* the agent, its user, the delegator */
	CU_ASSERT_EQUAL(vd_take_dirty(d, 16, key, states + n), 0); /* now clean */
	TU_ASSERT_ERR(vd_new(&c, 16, &d2), ATTEST_OK);
	for (size_t i = 0; i < n; i++) {
		TU_ASSERT_ERR(vd_restore(d2, key[i], states[i]), ATTEST_OK);
		if (strcmp(key[i], "a:spiffe://f/host/h/agent/triage") == 0) {
			TU_ASSERT_ERR(vd_usage_from_json(states[i], &u), ATTEST_OK);
			CU_ASSERT_EQUAL(u.delegated, 1);
			CU_ASSERT_EQUAL(u.ttl_max, 0); /* never the caller: no leaf */
			CU_ASSERT_PTR_NULL(strstr(states[i], "\"tm\""));
		}
		if (strncmp(key[i], "a:", 2) == 0 && strcmp(key[i] + 2, agent_id[0]) == 0)
			state_ttl_compat(states[i]);
		cJSON_free(states[i]);
	}
	TU_ASSERT_ERR(vd_usage(d2, agent_id[0], &u), ATTEST_OK);
	CU_ASSERT_EQUAL(u.ttl_max, 3600);
	CU_ASSERT_EQUAL(u.ttl_at, T0 + 9 * 3600 + 40 * 30);
	CU_ASSERT_EQUAL(u.decisions, 100);
	CU_ASSERT_EQUAL(u.nscopes, 1);
	CU_ASSERT_EQUAL(u.scope_hash[0], vd_hash("ehr:read"));
	/* states that are not ours are refused, not half-loaded */
	TU_ASSERT_ERR(vd_restore(d2, "a:x", "{\"v\":2}"), ATTEST_E_STATE);
	TU_ASSERT_ERR(vd_restore(d2, "x:y", "{}"), ATTEST_E_STATE);
	TU_ASSERT_ERR(vd_restore(d2, "a:x", "not json"), ATTEST_E_STATE);
	vd_free(d);
	vd_free(d2);
}

/* ---- the posture report ---- */

struct fleet {
	char dir[256], db[320];
	struct vstore *st;
	struct vd *d;
	int64_t now;
};

static void put_host(struct fleet *f, const char *name, int64_t last_good, const char *refset,
		     int unsafe)
{
	struct vhost h;

	memset(&h, 0, sizeof(h));
	(void)snprintf(h.name, sizeof(h.name), "%s", name);
	h.state = last_good ? VHOST_TRUSTED : VHOST_NEW;
	h.last_good = h.last_quote = last_good;
	(void)snprintf(h.refset, sizeof(h.refset), "%s", refset);
	h.unsafe_seen = unsafe;
	TU_ASSERT_ERR(f->st->ops->host_put(f->st, &h), ATTEST_OK);
}

static void put_agent(struct fleet *f, const char *id, const char *host, const char *scopes,
		      const char *classes, int tier, int depth, int approved, int revoked)
{
	struct vagent a;

	memset(&a, 0, sizeof(a));
	(void)snprintf(a.id, sizeof(a.id), "%s", id);
	(void)snprintf(a.host, sizeof(a.host), "%s", host);
	(void)snprintf(a.uuid, sizeof(a.uuid), "u-%s", host);
	(void)snprintf(a.scopes, sizeof(a.scopes), "%s", scopes);
	(void)snprintf(a.data_classes, sizeof(a.data_classes), "%s", classes);
	a.risk_tier = tier;
	a.delegate_depth = depth;
	a.approved = approved;
	a.revoked = revoked;
	if (revoked)
		(void)snprintf(a.revoke_reason, sizeof(a.revoke_reason), "operator admin: test");
	a.registered = f->now - 40 * DAY;
	TU_ASSERT_ERR(f->st->ops->agent_put(f->st, &a), ATTEST_OK);
}

/* an allowed decision of agent id needing scope (NULL none), delegated
 * by `by` (NULL none), `ago` seconds before now, its leaf living life s */
static void use_life(struct fleet *f, const char *id, const char *scope, const char *by,
		     int64_t ago, int64_t life)
{
	const char *sc[1] = {scope}, *del[1] = {by};
	struct vd_obs o = {id, "dr.grey", "TREATMENT", "ehr:patient/1/record", "1", f->now - ago,
			   life};
	struct vd_score s;

	vd_score(f->d, &o, &s);
	vd_learn(f->d, &o, 1, sc, scope ? 1 : 0, del, by ? 1 : 0);
}

/* the same with a leaf of attestctl's default max_ttl (300 s) */
static void use(struct fleet *f, const char *id, const char *scope, const char *by, int64_t ago)
{
	use_life(f, id, scope, by, ago, 300);
}

static void fleet_up(struct fleet *f)
{
	struct vd_config c;
	struct vcaller k;

	memset(f, 0, sizeof(*f));
	tu_mkdtemp(f->dir, sizeof(f->dir));
	(void)snprintf(f->db, sizeof(f->db), "%s/verifier.db", f->dir);
	TU_ASSERT_ERR(vstore_sqlite_open(f->db, &f->st), ATTEST_OK);
	vd_config_default(&c);
	TU_ASSERT_ERR(vd_new(&c, 64, &f->d), ATTEST_OK);
	f->now = T0 + 40 * DAY;
	TU_ASSERT_ERR(f->st->ops->refset_put(f->st, "release-7", "x", f->now), ATTEST_OK);
	memset(&k, 0, sizeof(k));
	(void)snprintf(k.name, sizeof(k.name), "ops");
	k.role = VCALLER_ADMIN;
	k.spki_hash[0] = 1;
	TU_ASSERT_ERR(f->st->ops->caller_put(f->st, &k), ATTEST_OK);
	(void)snprintf(k.name, sizeof(k.name), "ehr");
	k.role = VCALLER_RESOURCE;
	k.spki_hash[0] = 2;
	TU_ASSERT_ERR(f->st->ops->caller_put(f->st, &k), ATTEST_OK);
	/* the clean fleet: two attested hosts on the active set, a triage
	 * agent delegating to an approved PHI scribe, every scope used */
	put_host(f, "web-01", f->now - 60, "release-7", 0);
	put_host(f, "web-02", f->now - 120, "release-7", 0);
	put_agent(f, "spiffe://f/host/web-01/agent/triage", "web-01", "ehr:read", "", 1, 1, 1, 0);
	put_agent(f, "spiffe://f/host/web-02/agent/scribe", "web-02", "ehr:read ehr:write", "phi", 2,
		  0, 1, 0);
	use(f, "spiffe://f/host/web-01/agent/triage", "ehr:read", NULL, 3600);
	use(f, "spiffe://f/host/web-02/agent/scribe", "ehr:read", "spiffe://f/host/web-01/agent/triage",
	    1800);
	use(f, "spiffe://f/host/web-02/agent/scribe", "ehr:write", NULL, 5 * DAY);
}

static void fleet_down(struct fleet *f)
{
	vd_free(f->d);
	vstore_close(f->st);
	tu_rmtree(f->dir);
}

static cJSON *report_cap(struct fleet *f, unsigned counts[VP_KINDS], int64_t ttl_cap)
{
	struct vp_opts o;
	cJSON *rep = NULL;

	vp_opts_default(&o);
	CU_ASSERT_EQUAL(o.ttl_cap, 3600); /* attestd's default --max-ttl */
	if (ttl_cap > 0)
		o.ttl_cap = ttl_cap;
	o.now = f->now;
	o.state = f->dir;
	TU_ASSERT_ERR(vp_posture(f->st, f->d, &o, &rep, counts), ATTEST_OK);
	CU_ASSERT_FATAL(rep != NULL);
	return rep;
}

static cJSON *report(struct fleet *f, unsigned counts[VP_KINDS])
{
	return report_cap(f, counts, 0);
}

/* "kind subject" lines of the report, sorted, in out */
static void lines(const cJSON *rep, char *out, size_t n)
{
	const cJSON *f;
	char v[64][600];
	size_t k = 0, o = 0;

	cJSON_ArrayForEach(f, cJSON_GetObjectItem(rep, "findings")) {
		const char *sev = cJSON_GetStringValue(cJSON_GetObjectItem(f, "severity"));

		CU_ASSERT(sev != NULL && (strcmp(sev, "high") == 0 || strcmp(sev, "medium") == 0 ||
					  strcmp(sev, "low") == 0));
		CU_ASSERT(strlen(cJSON_GetStringValue(cJSON_GetObjectItem(f, "evidence"))) > 0);
		CU_ASSERT(strlen(cJSON_GetStringValue(cJSON_GetObjectItem(f, "fix"))) > 0);
		if (k < 64)
			(void)snprintf(v[k++], sizeof(v[0]), "%s %s",
				       cJSON_GetStringValue(cJSON_GetObjectItem(f, "id")),
				       cJSON_GetStringValue(cJSON_GetObjectItem(f, "subject")));
	}
	qsort(v, k, sizeof(v[0]), (int (*)(const void *, const void *))strcmp);
	out[0] = '\0';
	for (size_t i = 0; i < k; i++)
		o += (size_t)snprintf(out + o, n - o, "%s\n", v[i]);
}

static void test_posture_clean(void)
{
	struct fleet f;
	unsigned counts[VP_KINDS];
	cJSON *rep;
	char got[4096];

	fleet_up(&f);
	rep = report(&f, counts);
	lines(rep, got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "");
	if (got[0] != '\0')
		printf("\n    clean fleet has findings:\n%s", got);
	CU_ASSERT_PTR_NOT_NULL(cJSON_GetStringValue(cJSON_GetObjectItem(rep, "generated")));
	cJSON_Delete(rep);
	fleet_down(&f);
}

static void test_posture_weaknesses(void)
{
	struct fleet f;
	unsigned counts[VP_KINDS], total = 0;
	cJSON *rep;
	char got[8192], p[600], *csv;
	struct vcaller k;
	struct utimbuf ut;
	static const char want[] =
		"admin_callers callers\n"
		"agent_never_seen spiffe://f/host/web-01/agent/idle\n"
		"delegation_unused spiffe://f/host/web-02/agent/deleg\n"
		"high_risk_unapproved spiffe://f/host/web-02/agent/phi-new\n"
		"host_not_attested web-03\n"
		"host_not_attested web-04\n"
		"host_old_refset web-05\n"
		"issuer_key_old idp-2019.pem\n"
		"registration_churn spiffe://f/host/web-01/agent/churny\n"
		"revoked_agent_registered spiffe://f/host/web-01/agent/gone\n"
		"revoked_caller_registered old-ehr\n"
		"scope_unused spiffe://f/host/web-01/agent/wide\n"
		"ttl_at_cap spiffe://f/host/web-02/agent/longlived\n"
		"unsafe_shutdown web-06\n";

	fleet_up(&f);
	/* hosts: never attested, attested too long ago, on a retired set,
	 * an unsafe shutdown */
	put_host(&f, "web-03", 0, "", 0);
	put_host(&f, "web-04", f.now - 3 * 3600, "release-7", 0);
	TU_ASSERT_ERR(f.st->ops->refset_put(f.st, "release-6", "x", f.now - 90 * DAY), ATTEST_OK);
	TU_ASSERT_ERR(f.st->ops->refset_set_active(f.st, "release-6", 0), ATTEST_OK);
	put_host(&f, "web-05", f.now - 60, "release-6", 0);
	put_host(&f, "web-06", f.now - 60, "release-7", 1);
	/* agents: PHI unapproved (used), never seen, a scope unused for 40
	 * days, delegation allowed never used, revoked and still registered,
	 * re-registered 4 times */
	put_agent(&f, "spiffe://f/host/web-02/agent/phi-new", "web-02", "ehr:read", "phi", 0, 0, 0, 0);
	use(&f, "spiffe://f/host/web-02/agent/phi-new", "ehr:read", NULL, 60);
	put_agent(&f, "spiffe://f/host/web-01/agent/idle", "web-01", "ehr:read", "", 0, 0, 1, 0);
	put_agent(&f, "spiffe://f/host/web-01/agent/wide", "web-01", "ehr:read ehr:admin", "", 0, 0, 1,
		  0);
	use(&f, "spiffe://f/host/web-01/agent/wide", "ehr:read", NULL, 60);
	use(&f, "spiffe://f/host/web-01/agent/wide", "ehr:admin", NULL, 40 * DAY);
	put_agent(&f, "spiffe://f/host/web-02/agent/deleg", "web-02", "ehr:read", "", 0, 2, 1, 0);
	use(&f, "spiffe://f/host/web-02/agent/deleg", "ehr:read", NULL, 60);
	put_agent(&f, "spiffe://f/host/web-01/agent/gone", "web-01", "ehr:read", "", 0, 0, 1, 1);
	put_agent(&f, "spiffe://f/host/web-01/agent/churny", "web-01", "ehr:read", "", 0, 0, 1, 0);
	use(&f, "spiffe://f/host/web-01/agent/churny", "ehr:read", NULL, 60);
	for (int i = 0; i < 4; i++)
		TU_ASSERT_ERR(f.st->ops->agent_change_note(f.st, "spiffe://f/host/web-01/agent/churny",
							   f.now - DAY + i),
			      ATTEST_OK);
	/* leaves at attestd's default --max-ttl (3600 s): one agent lately
	 * (a finding, though its later leaves are shorter), one only 40 days
	 * ago (outside --days: not one), one just under the cap (not one) */
	put_agent(&f, "spiffe://f/host/web-02/agent/longlived", "web-02", "ehr:read", "", 0, 0, 1, 0);
	use_life(&f, "spiffe://f/host/web-02/agent/longlived", "ehr:read", NULL, 2 * DAY, 3600);
	use_life(&f, "spiffe://f/host/web-02/agent/longlived", "ehr:read", NULL, 60, 300);
	put_agent(&f, "spiffe://f/host/web-02/agent/oldlong", "web-02", "ehr:read", "", 0, 0, 1, 0);
	use_life(&f, "spiffe://f/host/web-02/agent/oldlong", "ehr:read", NULL, 40 * DAY, 3600);
	use_life(&f, "spiffe://f/host/web-02/agent/oldlong", "ehr:read", NULL, 60, 300);
	put_agent(&f, "spiffe://f/host/web-02/agent/under", "web-02", "ehr:read", "", 0, 0, 1, 0);
	use_life(&f, "spiffe://f/host/web-02/agent/under", "ehr:read", NULL, 60, 3599);
	/* twice, under the threshold of 3: not a finding */
	for (int i = 0; i < 2; i++)
		TU_ASSERT_ERR(f.st->ops->agent_change_note(f.st, "spiffe://f/host/web-01/agent/wide",
							   f.now - DAY + i),
			      ATTEST_OK);
	/* callers: a second admin, a revoked one */
	memset(&k, 0, sizeof(k));
	(void)snprintf(k.name, sizeof(k.name), "ops-2");
	k.role = VCALLER_ADMIN;
	k.spki_hash[0] = 3;
	TU_ASSERT_ERR(f.st->ops->caller_put(f.st, &k), ATTEST_OK);
	(void)snprintf(k.name, sizeof(k.name), "old-ehr");
	k.role = VCALLER_RESOURCE;
	k.spki_hash[0] = 4;
	k.revoked = 1;
	TU_ASSERT_ERR(f.st->ops->caller_put(f.st, &k), ATTEST_OK);
	/* intent issuers: one key installed 2 years ago, one fresh */
	(void)snprintf(p, sizeof(p), "%s/intent-issuers", f.dir);
	CU_ASSERT_FATAL(mkdir(p, 0700) == 0);
	(void)snprintf(p, sizeof(p), "%s/intent-issuers/idp-2019.pem", f.dir);
	tu_write(p, "k", 1);
	ut.actime = ut.modtime = (time_t)(f.now - 730 * DAY);
	CU_ASSERT_FATAL(utime(p, &ut) == 0);
	(void)snprintf(p, sizeof(p), "%s/intent-issuers/idp-2026.pem", f.dir);
	tu_write(p, "k", 1);
	ut.actime = ut.modtime = (time_t)(f.now - 10 * DAY);
	CU_ASSERT_FATAL(utime(p, &ut) == 0);

	rep = report(&f, counts);
	lines(rep, got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, want);
	if (strcmp(got, want) != 0)
		printf("\n    got:\n%s", got);
	for (int i = 0; i < VP_KINDS; i++)
		total += counts[i];
	CU_ASSERT_EQUAL(total, 14);
	{
		/* the evidence: the lifetime seen and when, against the cap */
		const cJSON *fi;
		int seen = 0;

		cJSON_ArrayForEach(fi, cJSON_GetObjectItem(rep, "findings")) {
			const char *ev = cJSON_GetStringValue(cJSON_GetObjectItem(fi, "evidence"));

			if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(fi, "id")), "ttl_at_cap") != 0)
				continue;
			seen++;
			CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(fi, "severity")),
					       "low");
			CU_ASSERT_PTR_NOT_NULL(strstr(ev, "living 3600 s"));
			CU_ASSERT_PTR_NOT_NULL(strstr(ev, "3600 s cap"));
			CU_ASSERT_PTR_NOT_NULL(strstr(ev, "last seen 2027-01-08T00:00:00Z"));
			CU_ASSERT_PTR_NOT_NULL(
				strstr(cJSON_GetStringValue(cJSON_GetObjectItem(fi, "fix")), "max_ttl"));
		}
		CU_ASSERT_EQUAL(seen, 1);
	}
	{
		/* --ttl-cap 3599: the agent just under the default cap is at this one */
		cJSON *r3 = report_cap(&f, counts, 3599);

		lines(r3, got, sizeof(got));
		CU_ASSERT_PTR_NOT_NULL(strstr(got, "ttl_at_cap spiffe://f/host/web-02/agent/under\n"));
		CU_ASSERT_PTR_NOT_NULL(strstr(got, "ttl_at_cap spiffe://f/host/web-02/agent/longlived\n"));
		CU_ASSERT_PTR_NULL(strstr(got, "ttl_at_cap spiffe://f/host/web-02/agent/oldlong"));
		cJSON_Delete(r3);
	}
	/* CSV: a header, one line per finding, a formula-looking cell defused */
	csv = vp_csv(rep);
	CU_ASSERT_FATAL(csv != NULL);
	CU_ASSERT_EQUAL(strncmp(csv, "id,severity,subject,evidence,fix\n", 33), 0);
	{
		size_t nl = 0;

		for (const char *c = csv; *c; c++)
			nl += *c == '\n';
		CU_ASSERT_EQUAL(nl, 15);
	}
	free(csv);
	cJSON_Delete(rep);
	{
		cJSON *r2 = cJSON_Parse("{\"findings\":[{\"id\":\"x\",\"severity\":\"low\","
					"\"subject\":\"=cmd|' /C calc'!A0\",\"evidence\":\"a\\\"b\","
					"\"fix\":\"f\"}]}");

		csv = vp_csv(r2);
		CU_ASSERT_PTR_NOT_NULL(strstr(csv, "\"'=cmd|' /C calc'!A0\""));
		CU_ASSERT_PTR_NOT_NULL(strstr(csv, "\"a\"\"b\""));
		free(csv);
		cJSON_Delete(r2);
	}
	fleet_down(&f);
}

/* ---- the tables, both backends ---- */

static int count_rows(void *arg, const char *key, const char *state)
{
	(void)state;
	if (strncmp(key, "a:", 2) == 0 || strncmp(key, "u:", 2) == 0)
		(*(int *)arg)++;
	return 0;
}

static int change_rows(void *arg, const char *id, uint64_t n, int64_t first, int64_t last)
{
	(void)id;
	if (n == 3 && first == 100 && last == 300)
		(*(int *)arg)++;
	return 0;
}

static void tables_on(struct vstore *st)
{
	const char *k[3] = {"a:spiffe://x", "u:dr.grey", "a:spiffe://y"};
	const char *v[3] = {"{\"v\":1}", "{\"v\":1}", "{\"v\":1}"};
	const char *bad[1] = {""};
	int n = 0;

	TU_ASSERT_ERR(st->ops->behaviour_put(st, k, v, 3, 5), ATTEST_OK);
	TU_ASSERT_ERR(st->ops->behaviour_put(st, k, v, 1, 6), ATTEST_OK); /* replace */
	TU_ASSERT_ERR(st->ops->behaviour_list(st, count_rows, &n), ATTEST_OK);
	CU_ASSERT_EQUAL(n, 3);
	/* a bad row in a batch: the whole batch is refused, nothing written */
	{
		const char *k2[2] = {"a:spiffe://z", "a:spiffe://w"};
		const char *v2[2] = {"{\"v\":1}", bad[0]};

		TU_ASSERT_ERR(st->ops->behaviour_put(st, k2, v2, 2, 7), ATTEST_E_INVALID_ARG);
		n = 0;
		TU_ASSERT_ERR(st->ops->behaviour_list(st, count_rows, &n), ATTEST_OK);
		CU_ASSERT_EQUAL(n, 3);
	}
	TU_ASSERT_ERR(st->ops->agent_change_note(st, "spiffe://x", 100), ATTEST_OK);
	TU_ASSERT_ERR(st->ops->agent_change_note(st, "spiffe://x", 200), ATTEST_OK);
	TU_ASSERT_ERR(st->ops->agent_change_note(st, "spiffe://x", 300), ATTEST_OK);
	n = 0;
	TU_ASSERT_ERR(st->ops->agent_change_list(st, change_rows, &n), ATTEST_OK);
	CU_ASSERT_EQUAL(n, 1);
}

static void test_tables_sqlite(void)
{
	char dir[256], db[300];
	struct vstore *st = NULL;

	tu_mkdtemp(dir, sizeof(dir));
	(void)snprintf(db, sizeof(db), "%s/v.db", dir);
	TU_ASSERT_ERR(vstore_sqlite_open(db, &st), ATTEST_OK);
	tables_on(st);
	vstore_close(st);
	/* reopened (migration 4 already applied): the rows are there */
	TU_ASSERT_ERR(vstore_sqlite_open_existing(db, &st), ATTEST_OK);
	{
		int n = 0;

		TU_ASSERT_ERR(st->ops->behaviour_list(st, count_rows, &n), ATTEST_OK);
		CU_ASSERT_EQUAL(n, 3);
	}
	vstore_close(st);
	tu_rmtree(dir);
}

static void test_tables_pg(void)
{
	struct tu_pg pg;
	char uri[512];
	struct vstore *st = NULL;

	if (!tu_pg_available()) {
		printf("\n    PostgreSQL not installed: skipped\n");
		return;
	}
	tu_pg_start(&pg);
	tu_pg_newdb(&pg, uri, sizeof(uri));
	TU_ASSERT_ERR(vstore_pg_open(uri, &st), ATTEST_OK);
	tables_on(st);
	vstore_close(st);
	tu_pg_stop(&pg);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{"normal traffic raises no alert (false-positive rate printed)", test_normal_no_alerts},
		{"a burst over many patients: distinct_subjects alert, max_anomaly deny",
		 test_burst_patients},
		{"a new purpose: new_purpose alert, fresh intent required", test_new_purpose},
		{"an off-hours burst: off_hours alert, min_anomaly deny rule", test_off_hours},
		{"cold start scores nothing; detection config checked", test_cold_start_and_config},
		{"bounded entities; the stored state round-trips, foreign state refused",
		 test_caps_and_state},
		{"posture: a clean fleet has no findings", test_posture_clean},
		{"posture: a fleet with each weakness lists exactly those", test_posture_weaknesses},
		{"baseline and change tables on SQLite", test_tables_sqlite},
		{"baseline and change tables on PostgreSQL", test_tables_pg},
		{NULL, NULL},
	};
	return tu_main("detect", tests);
}
