/* test_policy.c - the verifier's declarative access policy.
 * Targets: attest_policy_load (refusals with their codes and locations),
 * attest_policy_eval (each requirement allowing and denying, deny wins,
 * default deny, host freshness, time windows at their edges, glob
 * semantics, bad requests), examples/policy.json and the documented
 * decisions of docs/policy.md, `attest-verifier policy` (vf_cmd_policy). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "attest/policy.h"
#include "core/json.h"
#include "policy_cli.h"
#include "testutil.h"

#define MONDAY 1736121600LL /* 2025-01-06T00:00:00Z, a Monday */
#define HOUR 3600
#define CALLER "spiffe://fleet.example/host/web-01/agent/intake"
#define OTHER "spiffe://fleet.example/host/db-01/agent/billing"

static const char *const one_agent[] = { CALLER };
static const char *const two_agents[] = { OTHER, CALLER };
static const char *const read_scope[] = { "ehr:read" };
static const char *const phi[] = { "phi" };

/* A request every single-requirement rule below allows. */
static struct attest_policy_request base(void)
{
	return (struct attest_policy_request){
		.action = "read",
		.resource = "ehr:patient/123/record",
		.user = "dr.alice@hospital.example",
		.purpose = "TREATMENT",
		.agents = one_agent,
		.nagents = 1,
		.scopes = read_scope,
		.nscopes = 1,
		.depth = 0,
		.risk_tier = ATTEST_RISK_TIER_MEDIUM,
		.risk_score = 40,
		.data_classes = phi,
		.ndata_classes = 1,
		.host_attested_age = 10,
		.now = MONDAY + 10 * HOUR,
	};
}

static struct attest_policy *load(const char *json)
{
	struct attest_policy *p = NULL;
	int r = attest_policy_load(json, strlen(json), &p);

	if (r != ATTEST_OK)
		fprintf(stderr, "  load: %s: %s\n  in %s\n", attest_errname(r), attest_errdetail(),
			json);
	CU_ASSERT_EQUAL_FATAL(r, ATTEST_OK);
	return p;
}

/* The code of loading json; the detail must contain `where` when given. */
static void refused(const char *json, int code, const char *where)
{
	struct attest_policy *p = (struct attest_policy *)1;

	TU_ASSERT_ERR(attest_policy_load(json, strlen(json), &p), code);
	CU_ASSERT_PTR_NULL(p);
	if (where != NULL && strstr(attest_errdetail(), where) == NULL) {
		fprintf(stderr, "  detail \"%s\" lacks \"%s\"\n", attest_errdetail(), where);
		CU_FAIL("error detail does not say where");
	}
	attest_policy_free(p);
}

static struct attest_policy_decision decide(const struct attest_policy *p,
					    const struct attest_policy_request *q)
{
	struct attest_policy_decision d;

	TU_ASSERT_ERR(attest_policy_eval(p, q, &d), ATTEST_OK);
	return d;
}

static void expect(const struct attest_policy *p, const struct attest_policy_request *q,
		   int allow, int reason, const char *rule, const char *detail_part)
{
	struct attest_policy_decision d = decide(p, q);

	if (d.allow != allow || d.reason != reason || strcmp(d.rule, rule) != 0 ||
	    (detail_part != NULL && strstr(d.detail, detail_part) == NULL))
		fprintf(stderr, "  got %s %s rule \"%s\" detail \"%s\"; want %s %s \"%s\" \"%s\"\n",
			d.allow ? "allow" : "deny", attest_errname(d.reason), d.rule, d.detail,
			allow ? "allow" : "deny", attest_errname(reason), rule,
			detail_part ? detail_part : "");
	CU_ASSERT_EQUAL(d.allow, allow);
	CU_ASSERT_EQUAL(d.reason, reason);
	CU_ASSERT_STRING_EQUAL(d.rule, rule);
	if (detail_part != NULL)
		CU_ASSERT_PTR_NOT_NULL(strstr(d.detail, detail_part));
}

/* A policy of one allow rule "r": read on ehr:patient and below, with `require`. */
static struct attest_policy *one_rule(const char *require)
{
	char json[4096];

	snprintf(json, sizeof(json),
		 "{\"version\":1,\"rules\":[{\"name\":\"r\",\"effect\":\"allow\","
		 "\"resources\":[\"ehr:patient/**\"],\"actions\":[\"read\"],\"require\":{%s}}]}",
		 require);
	return load(json);
}

#define RULE(extra)                                                                          \
	"{\"version\":1,\"rules\":[{\"name\":\"a\",\"effect\":\"allow\",\"resources\":[\"x/*\"]," \
	"\"actions\":[\"read\"]},{\"name\":\"b\",\"effect\":\"allow\",\"resources\":[\"x/*\"],"   \
	"\"actions\":[\"read\"]" extra "}]}"

static void test_refusals(void)
{
	refused("{", ATTEST_E_PARSE, NULL);
	refused("", ATTEST_E_PARSE, NULL);
	refused("[]", ATTEST_E_PARSE, NULL);
	refused("{\"version\":1,\"rules\":[]} x", ATTEST_E_PARSE, "trailing");
	refused("{\"version\":1,\"rules\":[]}{}", ATTEST_E_PARSE, "trailing");
	refused("{\"version\":1,\"version\":1,\"rules\":[]}", ATTEST_E_DUPLICATE_KEY, "version");
	refused(RULE(",\"require\":{\"scopes\":[\"a\"],\"scopes\":[\"b\"]}"),
		ATTEST_E_DUPLICATE_KEY, "scopes");
	/* schema */
	refused("{\"rules\":[]}", ATTEST_E_POLICY, "version");
	refused("{\"version\":2,\"rules\":[]}", ATTEST_E_POLICY, "version");
	refused("{\"version\":1}", ATTEST_E_POLICY, "rules");
	refused("{\"version\":1,\"rules\":[],\"default\":\"allow\"}", ATTEST_E_POLICY,
		"unknown field \"default\"");
	refused(RULE(",\"priority\":1"), ATTEST_E_POLICY, "rule 1 \"b\": field \"rule\": unknown field \"priority\"");
	refused(RULE(",\"require\":{\"max_scopes\":1}"), ATTEST_E_POLICY,
		"rule 1 \"b\": field \"require\": unknown field \"max_scopes\"");
	refused(RULE(",\"effect\":\"allow\""), ATTEST_E_DUPLICATE_KEY, NULL);
	refused("{\"version\":1,\"rules\":[{\"name\":\"a\",\"effect\":\"permit\",\"resources\":[\"x\"],"
		"\"actions\":[\"read\"]}]}",
		ATTEST_E_POLICY, "rule 0 \"a\": field \"effect\"");
	refused("{\"version\":1,\"rules\":[{\"name\":\"a\",\"effect\":\"allow\",\"resources\":[\"x\"],"
		"\"actions\":[\"read\"]},{\"name\":\"a\",\"effect\":\"deny\",\"resources\":[\"y\"],"
		"\"actions\":[\"read\"]}]}",
		ATTEST_E_POLICY, "rule 1 \"a\": field \"name\": rule 0 has the same name");
	refused("{\"version\":1,\"rules\":[{\"effect\":\"allow\",\"resources\":[\"x\"],"
		"\"actions\":[\"read\"]}]}", ATTEST_E_POLICY, "rule 0: field \"name\"");
	refused("{\"version\":1,\"rules\":[{\"name\":\"a b\",\"effect\":\"allow\",\"resources\":[\"x\"],"
		"\"actions\":[\"read\"]}]}", ATTEST_E_POLICY, "field \"name\"");
	refused("{\"version\":1,\"rules\":[{\"name\":\"" /* 64 characters */
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
		"\"effect\":\"allow\",\"resources\":[\"x\"],\"actions\":[\"read\"]}]}",
		ATTEST_E_POLICY, "field \"name\"");
	refused("{\"version\":1,\"rules\":[{\"name\":\"a\",\"effect\":\"allow\",\"resources\":[\"x\"]}]}",
		ATTEST_E_POLICY, "field \"actions\": missing");
	refused(RULE(",\"when\":{\"purposes\":[\"RESEARCH\"]}"), ATTEST_E_POLICY,
		"an allow rule takes \"require\"");
	refused("{\"version\":1,\"rules\":[{\"name\":\"d\",\"effect\":\"deny\",\"resources\":[\"x\"],"
		"\"actions\":[\"read\"],\"require\":{\"max_depth\":1}}]}",
		ATTEST_E_POLICY, "a deny rule takes \"when\"");
	/* bad patterns */
	static const char *const bad_res[] = { "",      "a//b", "/a",   "a/",   "a/../b", "./a",
					       "a/.",   "a**",  "a/**b", "**/**", "a b",   "a\\tb" };
	for (size_t i = 0; i < sizeof(bad_res) / sizeof(bad_res[0]); i++) {
		char json[512];

		snprintf(json, sizeof(json),
			 "{\"version\":1,\"rules\":[{\"name\":\"p\",\"effect\":\"allow\","
			 "\"resources\":[\"%s\"],\"actions\":[\"read\"]}]}", bad_res[i]);
		refused(json, ATTEST_E_POLICY, "rule 0 \"p\": field \"resources\"");
	}
	refused(RULE(",\"require\":{\"agents\":[\"fleet.example/host/*\"]}"), ATTEST_E_POLICY,
		"spiffe://");
	refused(RULE(",\"require\":{\"agents\":[\"spiffe://\"]}"), ATTEST_E_POLICY, "agents");
	/* bad values */
	refused(RULE(",\"require\":{\"purposes\":[\"treatment\"]}"), ATTEST_E_POLICY, "purposes");
	refused(RULE(",\"require\":{\"purposes\":[]}"), ATTEST_E_POLICY, "1..64");
	refused(RULE(",\"require\":{\"scopes\":[\"a\",\"a\"]}"), ATTEST_E_POLICY, "listed twice");
	refused(RULE(",\"require\":{\"scopes\":\"ehr:read\"}"), ATTEST_E_POLICY, "not an array");
	refused(RULE(",\"require\":{\"max_risk_tier\":\"severe\"}"), ATTEST_E_POLICY, "max_risk_tier");
	refused(RULE(",\"require\":{\"max_risk_tier\":3}"), ATTEST_E_POLICY, "max_risk_tier");
	refused(RULE(",\"require\":{\"max_risk_score\":101}"), ATTEST_E_POLICY, "max_risk_score");
	refused(RULE(",\"require\":{\"max_depth\":4}"), ATTEST_E_POLICY, "max_depth");
	refused(RULE(",\"require\":{\"max_depth\":1.5}"), ATTEST_E_POLICY, "max_depth");
	refused(RULE(",\"require\":{\"max_depth\":\"1\"}"), ATTEST_E_POLICY, "max_depth");
	refused(RULE(",\"require\":{\"host_attested_within\":0}"), ATTEST_E_POLICY, "host_attested");
	refused(RULE(",\"require\":{\"require_intent\":false}"), ATTEST_E_POLICY, "require_intent");
	refused(RULE(",\"require\":{\"time_windows\":[{\"from\":\"18:00\",\"to\":\"08:00\"}]}"),
		ATTEST_E_POLICY, "before");
	refused(RULE(",\"require\":{\"time_windows\":[{\"from\":\"8:00\",\"to\":\"18:00\"}]}"),
		ATTEST_E_POLICY, "HH:MM");
	refused(RULE(",\"require\":{\"time_windows\":[{\"from\":\"08:00\",\"to\":\"24:01\"}]}"),
		ATTEST_E_POLICY, "HH:MM");
	refused(RULE(",\"require\":{\"time_windows\":[{\"days\":[\"monday\"],\"from\":\"08:00\","
		     "\"to\":\"18:00\"}]}"), ATTEST_E_POLICY, "days");
	refused(RULE(",\"require\":{\"time_windows\":[{\"from\":\"08:00\",\"to\":\"18:00\",\"tz\":\"CET\"}]}"),
		ATTEST_E_POLICY, "unknown field \"tz\"");
	refused(RULE(",\"require\":{\"context\":{\"patient\":\"123\"}}"), ATTEST_E_POLICY, "context");
	refused(RULE(",\"actions\":[\"*\",\"read\"]"), ATTEST_E_DUPLICATE_KEY, NULL);
	refused("{\"version\":1,\"rules\":[{\"name\":\"a\",\"effect\":\"allow\",\"resources\":[\"x\"],"
		"\"actions\":[\"*\",\"read\"]}]}", ATTEST_E_POLICY, "actions");
	refused("{\"version\":1,\"rules\":[{\"name\":\"a\",\"effect\":\"allow\",\"resources\":[\"x\"],"
		"\"actions\":[\"re*d\"]}]}", ATTEST_E_POLICY, "actions");
	refused("{\"version\":1,\"rules\":[\"a\"]}", ATTEST_E_POLICY, "not an object");
}

static void test_caps(void)
{
	size_t cap = ATTEST_POLICY_MAX_BYTES + 1, n = 0;
	char *big = malloc(cap + 1);
	struct attest_policy *p = NULL;

	CU_ASSERT_FATAL(big != NULL);
	/* one byte over 1 MiB: refused before parsing */
	memset(big, ' ', cap);
	memcpy(big, "{\"version\":1,\"rules\":[]}", 24);
	TU_ASSERT_ERR(attest_policy_load(big, cap, &p), ATTEST_E_TOO_LARGE);
	CU_ASSERT_PTR_NULL(p);
	/* exactly 1000 rules load, 1001 do not */
	for (int rules = 1000; rules <= 1001; rules++) {
		n = (size_t)snprintf(big, cap, "{\"version\":1,\"rules\":[");
		for (int i = 0; i < rules; i++)
			n += (size_t)snprintf(big + n, cap - n,
					      "%s{\"name\":\"r%d\",\"effect\":\"allow\",\"resources\":"
					      "[\"x/%d\"],\"actions\":[\"read\"]}", i ? "," : "", i, i);
		n += (size_t)snprintf(big + n, cap - n, "]}");
		if (rules == 1000) {
			TU_ASSERT_ERR(attest_policy_load(big, n, &p), ATTEST_OK);
			CU_ASSERT_EQUAL(attest_policy_rule_count(p), 1000);
			attest_policy_free(p);
			p = NULL;
		} else {
			TU_ASSERT_ERR(attest_policy_load(big, n, &p), ATTEST_E_POLICY);
			CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "1001 rules"));
		}
	}
	/* 64 scopes load, 65 do not */
	for (int k = 64; k <= 65; k++) {
		n = (size_t)snprintf(big, cap, "{\"version\":1,\"rules\":[{\"name\":\"r\",\"effect\":"
				     "\"allow\",\"resources\":[\"x\"],\"actions\":[\"read\"],"
				     "\"require\":{\"scopes\":[");
		for (int i = 0; i < k; i++)
			n += (size_t)snprintf(big + n, cap - n, "%s\"s%d\"", i ? "," : "", i);
		n += (size_t)snprintf(big + n, cap - n, "]}}]}");
		TU_ASSERT_ERR(attest_policy_load(big, n, &p), k == 64 ? ATTEST_OK : ATTEST_E_POLICY);
		attest_policy_free(p);
		p = NULL;
	}
	/* a pattern of 256 bytes loads, 257 do not */
	for (int len = 256; len <= 257; len++) {
		n = (size_t)snprintf(big, cap, "{\"version\":1,\"rules\":[{\"name\":\"r\",\"effect\":"
				     "\"allow\",\"resources\":[\"%0*d\"],\"actions\":[\"read\"]}]}",
				     len, 7);
		TU_ASSERT_ERR(attest_policy_load(big, n, &p), len == 256 ? ATTEST_OK : ATTEST_E_POLICY);
		attest_policy_free(p);
		p = NULL;
	}
	/* nested deeper than the JSON cap */
	n = (size_t)snprintf(big, cap, "{\"version\":1,\"rules\":[],\"description\":");
	for (int i = 0; i < 20; i++)
		big[n++] = '[';
	for (int i = 0; i < 20; i++)
		big[n++] = ']';
	big[n++] = '}';
	TU_ASSERT_ERR(attest_policy_load(big, n, &p), ATTEST_E_PARSE);
	free(big);
}

static void test_version(void)
{
	static const char a[] = "{\"version\":1,\"rules\":[]}";
	static const char b[] = "{ \"version\": 1, \"rules\": [] }";
	struct attest_policy *pa = load(a), *pb = load(b);
	unsigned char md[32];
	char hex[65];

	CU_ASSERT_EQUAL_FATAL(EVP_Digest(a, strlen(a), md, NULL, EVP_sha256(), NULL), 1);
	attest_hex(md, sizeof(md), hex);
	CU_ASSERT_STRING_EQUAL(attest_policy_version(pa), hex);
	CU_ASSERT_STRING_NOT_EQUAL(attest_policy_version(pa), attest_policy_version(pb));
	CU_ASSERT_EQUAL(attest_policy_rule_count(pa), 0);
	/* no rules: everything is denied by default */
	struct attest_policy_request q = base();
	expect(pa, &q, 0, ATTEST_E_NO_RULE, "", "no rule matches");
	attest_policy_free(pa);
	attest_policy_free(pb);
}

/* Does the pattern match the resource? (one allow rule, no requirements) */
static int matches(const char *pattern, const char *resource)
{
	char json[1024];
	struct attest_policy *p;
	struct attest_policy_request q = base();
	struct attest_policy_decision d;

	snprintf(json, sizeof(json),
		 "{\"version\":1,\"rules\":[{\"name\":\"g\",\"effect\":\"allow\","
		 "\"resources\":[\"%s\"],\"actions\":[\"*\"]}]}", pattern);
	p = load(json);
	q.resource = resource;
	d = decide(p, &q);
	attest_policy_free(p);
	return d.allow;
}

static void test_glob(void)
{
	static const struct {
		const char *pat, *res;
		int want;
	} cases[] = {
		{ "a/b", "a/b", 1 },         { "a/b", "a/bb", 0 },        { "a/b", "a/b/c", 0 },
		{ "a/b", "a", 0 },           { "a/*", "a/b", 1 },         { "a/*", "a/b/c", 0 },
		{ "a/*", "a", 0 },           { "a/*/c", "a/b/c", 1 },     { "a/*/c", "a/b/x/c", 0 },
		{ "a/**", "a/b", 1 },        { "a/**", "a/b/c/d", 1 },    { "a/**", "a", 0 },
		{ "a/**", "ab/c", 0 },       { "a/**/z", "a/z", 1 },      { "a/**/z", "a/b/z", 1 },
		{ "a/**/z", "a/b/c/z", 1 },  { "a/**/z", "a/b/c", 0 },    { "a/**/z", "a/z/b", 0 },
		{ "**", "a", 1 },            { "**", "a/b/c", 1 },        { "**/z", "z", 1 },
		{ "**/z", "a/b/z", 1 },      { "**/z", "a/b/zz", 0 },     { "*", "a", 1 },
		{ "*", "a/b", 0 },           { "a/x*y", "a/xy", 1 },      { "a/x*y", "a/xABy", 1 },
		{ "a/x*y", "a/xA/y", 0 },    { "a/x*y", "a/xyz", 0 },     { "a/*x*", "a/yxy", 1 },
		{ "ehr:*", "ehr:patient", 1 }, { "ehr:*", "ehr:patient/1", 0 },
		{ "ehr:*/**", "ehr:patient/1", 1 }, { "a/**/b/**/c", "a/b/x/c", 1 },
		{ "a/**/b/**/c", "a/x/b/c", 1 }, { "a/**/b/**/c", "a/x/c", 0 },
		{ "a/**/b/*", "a/b/b/b", 1 }, { "ehr:patient/*/record", "ehr:patient/123/record", 1 },
		{ "ehr:patient/*/record", "ehr:patient/123/notes", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = matches(cases[i].pat, cases[i].res);

		if (got != cases[i].want)
			fprintf(stderr, "  pattern %s on %s: got %d want %d\n", cases[i].pat,
				cases[i].res, got, cases[i].want);
		CU_ASSERT_EQUAL(got, cases[i].want);
	}
}

static void test_actions(void)
{
	struct attest_policy *p = load(
		"{\"version\":1,\"rules\":[{\"name\":\"rw\",\"effect\":\"allow\",\"resources\":[\"x\"],"
		"\"actions\":[\"read\",\"write\"]},{\"name\":\"any\",\"effect\":\"allow\","
		"\"resources\":[\"y\"],\"actions\":[\"*\"]}]}");
	struct attest_policy_request q = base();

	q.resource = "x";
	expect(p, &q, 1, ATTEST_OK, "rw", NULL);
	q.action = "write";
	expect(p, &q, 1, ATTEST_OK, "rw", NULL);
	q.action = "delete";
	expect(p, &q, 0, ATTEST_E_NO_RULE, "", NULL);
	q.action = "readx";
	expect(p, &q, 0, ATTEST_E_NO_RULE, "", NULL);
	q.resource = "y";
	expect(p, &q, 1, ATTEST_OK, "any", NULL);
	attest_policy_free(p);
}

/* One requirement: the base request passes it; `tweak` makes it fail
 * with the detail naming the condition. */
static void req_case(const char *require, void (*tweak)(struct attest_policy_request *),
		     const char *detail)
{
	struct attest_policy *p = one_rule(require);
	struct attest_policy_request q = base();

	expect(p, &q, 1, ATTEST_OK, "r", NULL);
	tweak(&q);
	expect(p, &q, 0, ATTEST_E_NO_RULE, "r", detail);
	attest_policy_free(p);
}

static const char *const no_phi[] = { "pii" };
static const char *const other_scopes[] = { "ehr:write", "ehr:reader" };
static const char *const ctx_k[] = { "patient" }, *const ctx_bad[] = { "456" };

static void no_intent(struct attest_policy_request *q) { q->user = NULL; q->purpose = NULL; }
static void other_user(struct attest_policy_request *q) { q->user = "mallory@evil.example"; }
static const char *const billing_calls[] = { CALLER, OTHER }; /* intake delegated to billing */
static void other_caller(struct attest_policy_request *q) { q->agents = billing_calls; q->nagents = 2; }
static void research(struct attest_policy_request *q) { q->purpose = "RESEARCH"; }
static void no_purpose(struct attest_policy_request *q) { q->purpose = NULL; }
static void no_scope(struct attest_policy_request *q) { q->scopes = other_scopes; q->nscopes = 2; }
static void deep(struct attest_policy_request *q) { q->depth = 2; }
static void tier_high(struct attest_policy_request *q) { q->risk_tier = ATTEST_RISK_TIER_HIGH; }
static void tier_unknown(struct attest_policy_request *q) { q->risk_tier = ATTEST_RISK_TIER_UNKNOWN; }
static void tier_low(struct attest_policy_request *q) { q->risk_tier = ATTEST_RISK_TIER_LOW; }
static void score_41(struct attest_policy_request *q) { q->risk_score = 41; }
static void score_unknown(struct attest_policy_request *q) { q->risk_score = -1; }
static void score_39(struct attest_policy_request *q) { q->risk_score = 39; }
static void classes_other(struct attest_policy_request *q) { q->data_classes = no_phi; }
static void ctx_none(struct attest_policy_request *q) { q->nctx = 0; }
static void ctx_wrong(struct attest_policy_request *q) { q->ctx_values = ctx_bad; }
static void saturday(struct attest_policy_request *q) { q->now = MONDAY + 5 * 86400 + 10 * HOUR; }
static void stale_61(struct attest_policy_request *q) { q->host_attested_age = 61; }

static void test_requirements(void)
{
	req_case("\"require_intent\":true", no_intent, "requires an intent");
	req_case("\"users\":[\"dr.*@hospital.example\"]", other_user, "mallory");
	req_case("\"users\":[\"dr.alice@hospital.example\"]", no_intent, "no intent");
	req_case("\"agents\":[\"spiffe://fleet.example/host/*/agent/intake\"]", other_caller,
		 "billing");
	req_case("\"purposes\":[\"TREATMENT\",\"PAYMENT\"]", research, "RESEARCH");
	req_case("\"purposes\":[\"TREATMENT\"]", no_purpose, "(none)");
	req_case("\"scopes\":[\"ehr:read\"]", no_scope, "\"ehr:read\" missing");
	req_case("\"max_depth\":1", deep, "depth 2 over 1");
	req_case("\"max_risk_tier\":\"medium\"", tier_high, "high over medium");
	req_case("\"max_risk_tier\":\"critical\"", tier_unknown, "unknown");
	req_case("\"min_risk_tier\":\"medium\"", tier_low, "low under medium");
	req_case("\"max_risk_score\":40", score_41, "41 over 40");
	req_case("\"max_risk_score\":100", score_unknown, "-1");
	req_case("\"min_risk_score\":40", score_39, "39 under 40");
	req_case("\"data_classes\":[\"phi\"]", classes_other, "\"phi\"");
	req_case("\"time_windows\":[{\"days\":[\"mon\"],\"from\":\"09:00\",\"to\":\"11:00\"}]",
		 saturday, "sat 10:00");

	/* the context requirement: the request carries patient=123 */
	struct attest_policy *p = one_rule("\"context\":{\"patient\":[\"12*\",\"7\"]}");
	struct attest_policy_request q = base();
	static const char *const ok_v[] = { "123" };
	q.ctx_keys = ctx_k;
	q.ctx_values = ok_v;
	q.nctx = 1;
	expect(p, &q, 1, ATTEST_OK, "r", NULL);
	ctx_wrong(&q);
	expect(p, &q, 0, ATTEST_E_NO_RULE, "r", "context \"patient\"");
	ctx_none(&q);
	expect(p, &q, 0, ATTEST_E_NO_RULE, "r", "context \"patient\"");
	attest_policy_free(p);

	/* the caller is the last agent; earlier agents do not count */
	p = one_rule("\"agents\":[\"spiffe://fleet.example/host/db-01/**\"]");
	q = base();
	q.agents = two_agents; /* billing (db-01) delegated to intake */
	q.nagents = 2;
	expect(p, &q, 0, ATTEST_E_NO_RULE, "r", "intake");
	q.agents = billing_calls;
	expect(p, &q, 1, ATTEST_OK, "r", NULL);
	attest_policy_free(p);

	/* every listed data class and scope is needed, not one of them */
	p = one_rule("\"data_classes\":[\"phi\",\"pii\"],\"scopes\":[\"ehr:read\"]");
	q = base();
	expect(p, &q, 0, ATTEST_E_NO_RULE, "r", "\"pii\"");
	q.data_classes = (const char *const[]){ "pii", "phi", "financial" };
	q.ndata_classes = 3;
	expect(p, &q, 1, ATTEST_OK, "r", NULL);
	attest_policy_free(p);
}

static void test_host_stale(void)
{
	struct attest_policy *p = load(
		"{\"version\":1,\"rules\":["
		"{\"name\":\"wide\",\"effect\":\"allow\",\"resources\":[\"ehr:*/**\"],\"actions\":[\"read\"],"
		" \"require\":{\"scopes\":[\"ehr:all\"],\"purposes\":[\"OPERATIONS\"],"
		" \"users\":[\"ops@hospital.example\"]}},"
		"{\"name\":\"fresh\",\"effect\":\"allow\",\"resources\":[\"ehr:patient/**\"],"
		" \"actions\":[\"read\"],\"require\":{\"scopes\":[\"ehr:read\"],"
		" \"host_attested_within\":300}}]}");
	struct attest_policy_request q = base();

	q.resource = "ehr:patient/1";
	q.host_attested_age = 300;
	expect(p, &q, 1, ATTEST_OK, "fresh", NULL);
	q.host_attested_age = 301;
	/* "wide" fails three requirements, "fresh" only host freshness */
	expect(p, &q, 0, ATTEST_E_HOST_STALE, "fresh", "attested 301 s ago, over 300");
	q.host_attested_age = -1;
	expect(p, &q, 0, ATTEST_E_HOST_STALE, "fresh", "never attested");
	/* host and a scope failing: not "stale", fixing the host would not help */
	q.scopes = other_scopes;
	q.nscopes = 2;
	expect(p, &q, 0, ATTEST_E_NO_RULE, "fresh", "scopes: scope \"ehr:read\" missing (and 1 more unmet)");
	/* a tie goes to the earlier rule */
	q.user = "ops@hospital.example";
	expect(p, &q, 0, ATTEST_E_NO_RULE, "wide", "(and 1 more unmet)");
	attest_policy_free(p);

	/* host freshness as the only requirement */
	p = one_rule("\"host_attested_within\":60");
	q = base();
	stale_61(&q);
	expect(p, &q, 0, ATTEST_E_HOST_STALE, "r", "61 s ago");
	attest_policy_free(p);
}

static void test_deny_wins(void)
{
	struct attest_policy *p = load(
		"{\"version\":1,\"rules\":["
		"{\"name\":\"allow-all\",\"effect\":\"allow\",\"resources\":[\"**\"],\"actions\":[\"*\"]},"
		"{\"name\":\"allow-read\",\"effect\":\"allow\",\"resources\":[\"**\"],\"actions\":[\"read\"]},"
		"{\"name\":\"no-research\",\"effect\":\"deny\",\"resources\":[\"ehr:patient/*/psych/**\"],"
		" \"actions\":[\"*\"],\"when\":{\"purposes\":[\"RESEARCH\"]}},"
		"{\"name\":\"no-evil\",\"effect\":\"deny\",\"resources\":[\"ehr:secret\"],\"actions\":[\"read\"]}]}");
	struct attest_policy_request q = base();

	/* the first allow rule that holds decides */
	expect(p, &q, 1, ATTEST_OK, "allow-all", NULL);
	q.resource = "ehr:patient/1/psych/2";
	expect(p, &q, 1, ATTEST_OK, "allow-all", NULL); /* TREATMENT: the deny does not fire */
	q.purpose = "RESEARCH";
	expect(p, &q, 0, ATTEST_E_POLICY_DENY, "no-research", "ehr:patient/1/psych/2");
	q.resource = "ehr:secret";
	expect(p, &q, 0, ATTEST_E_POLICY_DENY, "no-evil", NULL);
	q.action = "write";
	expect(p, &q, 1, ATTEST_OK, "allow-all", NULL);
	attest_policy_free(p);
}

static void test_time_windows(void)
{
	struct attest_policy *p = one_rule(
		"\"time_windows\":[{\"days\":[\"mon\",\"tue\",\"wed\",\"thu\",\"fri\"],"
		"\"from\":\"08:00\",\"to\":\"18:00\"},{\"days\":[\"sun\"],\"from\":\"22:30\","
		"\"to\":\"24:00\"}]");
	static const struct {
		long long t;
		int want;
	} cases[] = {
		{ MONDAY + 8 * HOUR - 1, 0 },  { MONDAY + 8 * HOUR, 1 },
		{ MONDAY + 18 * HOUR - 1, 1 }, { MONDAY + 18 * HOUR, 0 },
		{ MONDAY + 4 * 86400 + 12 * HOUR, 1 },         /* Friday noon */
		{ MONDAY + 5 * 86400 + 12 * HOUR, 0 },         /* Saturday noon */
		{ MONDAY + 6 * 86400 + 22 * HOUR + 1799, 0 },  /* Sunday 22:29:59 */
		{ MONDAY + 6 * 86400 + 22 * HOUR + 1800, 1 },  /* Sunday 22:30 */
		{ MONDAY + 7 * 86400 - 1, 1 },                 /* Sunday 23:59:59 */
		{ MONDAY + 7 * 86400, 0 },                     /* Monday 00:00 */
		{ 0, 0 },                                      /* Thursday 1970-01-01 00:00 */
		{ 8 * HOUR, 1 },                               /* Thursday 08:00 */
	};
	struct attest_policy_request q = base();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct attest_policy_decision d;

		q.now = cases[i].t;
		d = decide(p, &q);
		if (d.allow != cases[i].want)
			fprintf(stderr, "  t=%lld: got %d (%s)\n", cases[i].t, d.allow, d.detail);
		CU_ASSERT_EQUAL(d.allow, cases[i].want);
	}
	attest_policy_free(p);
}

static void bad_request(const struct attest_policy *p, const struct attest_policy_request *q,
			const char *why)
{
	struct attest_policy_decision d;

	d.allow = 1;
	TU_ASSERT_ERR(attest_policy_eval(p, q, &d), ATTEST_E_INVALID_ARG);
	CU_ASSERT_EQUAL(d.allow, 0);
	CU_ASSERT_EQUAL(d.reason, ATTEST_E_INVALID_ARG);
	if (strstr(d.detail, why) == NULL)
		fprintf(stderr, "  detail \"%s\" lacks \"%s\"\n", d.detail, why);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.detail, why));
}

static void test_bad_requests(void)
{
	/* allows everything, so only request validation can deny */
	struct attest_policy *p = load("{\"version\":1,\"rules\":[{\"name\":\"all\",\"effect\":"
				       "\"allow\",\"resources\":[\"**\"],\"actions\":[\"*\"]}]}");
	struct attest_policy_request q = base();
	struct attest_policy_decision d;
	char *longres = malloc(ATTEST_POLICY_RESOURCE_MAX + 2);

	CU_ASSERT_FATAL(longres != NULL);
	expect(p, &q, 1, ATTEST_OK, "all", NULL);
	/* a resource server may normalise after deciding: only canonical paths */
	static const char *const bad_res[] = { "ehr:patient/1/../2", "ehr:patient/./1", "a//b",
					       "/a", "a/", "", "ehr:patient/*", "a b", "a\nb" };
	for (size_t i = 0; i < sizeof(bad_res) / sizeof(bad_res[0]); i++) {
		q = base();
		q.resource = bad_res[i];
		bad_request(p, &q, "resource");
	}
	memset(longres, 'a', ATTEST_POLICY_RESOURCE_MAX + 1);
	longres[ATTEST_POLICY_RESOURCE_MAX + 1] = '\0';
	q = base();
	q.resource = longres;
	bad_request(p, &q, "resource");
	longres[ATTEST_POLICY_RESOURCE_MAX] = '\0';
	expect(p, &q, 1, ATTEST_OK, "all", NULL);
	q = base();
	q.action = "*";
	bad_request(p, &q, "action");
	q = base();
	q.action = NULL;
	bad_request(p, &q, "action");
	q = base();
	q.nagents = 0;
	bad_request(p, &q, "agent");
	q = base();
	q.purpose = "treatment";
	bad_request(p, &q, "purpose");
	q = base();
	q.user = "alice\x01";
	bad_request(p, &q, "user");
	q = base();
	q.risk_tier = 5;
	bad_request(p, &q, "tier");
	q = base();
	q.risk_score = 101;
	bad_request(p, &q, "score");
	q = base();
	q.now = -1;
	bad_request(p, &q, "time");
	q = base();
	q.ctx_keys = (const char *const[]){ "patient", "patient" };
	q.ctx_values = (const char *const[]){ "1", "2" };
	q.nctx = 2;
	bad_request(p, &q, "context key given twice");
	q = base();
	q.nscopes = 65;
	bad_request(p, &q, "64");
	q = base();
	TU_ASSERT_ERR(attest_policy_eval(NULL, &q, &d), ATTEST_E_INVALID_ARG);
	CU_ASSERT_EQUAL(d.allow, 0);
	TU_ASSERT_ERR(attest_policy_eval(p, NULL, &d), ATTEST_E_INVALID_ARG);
	CU_ASSERT_EQUAL(d.allow, 0);
	TU_ASSERT_ERR(attest_policy_eval(p, &q, NULL), ATTEST_E_INVALID_ARG);
	free(longres);
	attest_policy_free(p);
}

static char *example_path(char *buf, size_t n)
{
	const char *src = getenv("ATTEST_SRCDIR");

	snprintf(buf, n, "%s/examples/policy.json", src != NULL ? src : ".");
	return buf;
}

/* The decisions docs/policy.md promises for examples/policy.json. */
static void test_example(void)
{
	char path[1024];
	size_t len;
	char *doc = tu_slurp(example_path(path, sizeof(path)), &len);
	struct attest_policy *p = NULL;
	struct attest_policy_request q;
	static const char *const admin[] = { "spiffe://fleet.example/host/ops-01/agent/ehr-admin" };
	static const char *const research_scopes[] = { "ehr:research" };
	static const char *const consent_k[] = { "research_consent" }, *const yes[] = { "yes" };

	TU_ASSERT_ERR(attest_policy_load(doc, len, &p), ATTEST_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(attest_policy_rule_count(p), 5);

	/* 1. intake reads a record for treatment, host attested 42 s ago */
	q = base();
	q.risk_tier = ATTEST_RISK_TIER_HIGH;
	q.risk_score = 60;
	q.host_attested_age = 42;
	expect(p, &q, 1, ATTEST_OK, "treatment-read", NULL);
	/* 2. its host's last good quote is 400 s old */
	q.host_attested_age = 400;
	expect(p, &q, 0, ATTEST_E_HOST_STALE, "treatment-read", "400 s ago, over 300");
	q.host_attested_age = 42;
	/* 3. three delegation hops */
	q.depth = 3;
	expect(p, &q, 0, ATTEST_E_NO_RULE, "treatment-read", "depth 3 over 2");
	q.depth = 2;
	expect(p, &q, 1, ATTEST_OK, "treatment-read", NULL);
	/* 4. without ehr:read */
	q.nscopes = 0;
	expect(p, &q, 0, ATTEST_E_NO_RULE, "treatment-read", "\"ehr:read\" missing");
	/* 5. a critical-tier agent, even with everything else right */
	q = base();
	q.risk_tier = ATTEST_RISK_TIER_CRITICAL;
	expect(p, &q, 0, ATTEST_E_POLICY_DENY, "no-critical-agents-on-ehr", NULL);
	/* 6. research on a consenting patient's record, and on psychotherapy notes */
	q = base();
	q.purpose = "RESEARCH";
	q.scopes = research_scopes;
	q.ctx_keys = consent_k;
	q.ctx_values = yes;
	q.nctx = 1;
	expect(p, &q, 1, ATTEST_OK, "research-read", NULL);
	q.resource = "ehr:patient/123/notes/psychotherapy/7";
	expect(p, &q, 0, ATTEST_E_POLICY_DENY, "no-research-on-psychotherapy-notes", NULL);
	q.resource = "ehr:patient/123/notes/psychotherapy";
	expect(p, &q, 0, ATTEST_E_POLICY_DENY, "no-research-on-psychotherapy-notes", NULL);
	/* ... for treatment the notes are readable */
	q = base();
	q.resource = "ehr:patient/123/notes/psychotherapy/7";
	expect(p, &q, 1, ATTEST_OK, "treatment-read", NULL);
	/* 7. the admin agent writes configuration on Monday 10:00 UTC, not 19:00, not Saturday */
	q = base();
	q.action = "write";
	q.resource = "ehr:admin/retention";
	q.agents = admin;
	q.scopes = (const char *const[]){ "ehr:admin" };
	q.user = NULL;
	q.purpose = NULL;
	expect(p, &q, 1, ATTEST_OK, "admin-write-office-hours", NULL);
	q.now = MONDAY + 19 * HOUR;
	expect(p, &q, 0, ATTEST_E_NO_RULE, "admin-write-office-hours", "mon 19:00");
	q.now = MONDAY + 5 * 86400 + 10 * HOUR;
	expect(p, &q, 0, ATTEST_E_NO_RULE, "admin-write-office-hours", "sat 10:00");
	/* ... and another agent never */
	q.now = MONDAY + 10 * HOUR;
	q.agents = one_agent;
	expect(p, &q, 0, ATTEST_E_NO_RULE, "admin-write-office-hours", "intake");
	/* 8. nothing else is allowed: a write to a record */
	q = base();
	q.action = "write";
	expect(p, &q, 0, ATTEST_E_NO_RULE, "", "no rule matches");
	attest_policy_free(p);
	free(doc);
}

static int cli(const char *a, const char *b, const char *c)
{
	char *argv[] = { "policy", (char *)a, (char *)b, (char *)c, NULL };
	int argc = 1 + (a != NULL) + (b != NULL) + (c != NULL);

	fflush(stdout);
	return vf_cmd_policy(argc, argv);
}

static void write_req(const char *path, const char *age)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf),
			 "{\"action\":\"read\",\"resource\":\"ehr:patient/123/record\","
			 "\"user\":\"dr.alice@hospital.example\",\"purpose\":\"TREATMENT\","
			 "\"agents\":[\"" CALLER "\"],\"scopes\":[\"ehr:read\"],"
			 "\"risk_tier\":\"high\",\"risk_score\":60,\"data_classes\":[\"phi\"],"
			 "%s\"now\":\"2025-01-06T10:00:00Z\",\"context\":{\"ward\":\"3\"}}",
			 age);

	tu_write(path, buf, (size_t)n);
}

static void test_cli(void)
{
	char dir[512], ex[1024], bad[600], req[600];
	static const char bad_policy[] = "{\"version\":1,\"rules\":[{\"name\":\"x\",\"effect\":\"maybe\"}]}";

	tu_mkdtemp(dir, sizeof(dir));
	example_path(ex, sizeof(ex));
	snprintf(bad, sizeof(bad), "%s/bad.json", dir);
	snprintf(req, sizeof(req), "%s/req.json", dir);
	tu_write(bad, bad_policy, strlen(bad_policy));
	CU_ASSERT_EQUAL(cli("check", ex, NULL), 0);
	CU_ASSERT_EQUAL(cli("check", bad, NULL), 1);
	CU_ASSERT_EQUAL(cli("check", "/nonexistent/policy.json", NULL), 1);
	CU_ASSERT_EQUAL(cli("check", NULL, NULL), 2);
	CU_ASSERT_EQUAL(cli("check", ex, ex), 2);
	CU_ASSERT_EQUAL(cli("check", "--frob", NULL), 2);
	CU_ASSERT_EQUAL(cli("check", "--help", NULL), 0);
	CU_ASSERT_EQUAL(cli("test", "--help", NULL), 0);
	CU_ASSERT_EQUAL(cli("--help", NULL, NULL), 0);
	CU_ASSERT_EQUAL(cli("frobnicate", NULL, NULL), 2);
	write_req(req, "\"host_attested_age\":\"42\",");
	CU_ASSERT_EQUAL(cli("test", ex, req), 0);
	write_req(req, "\"host_attested_age\":\"400\",");
	CU_ASSERT_EQUAL(cli("test", ex, req), 1);
	write_req(req, ""); /* never attested */
	CU_ASSERT_EQUAL(cli("test", ex, req), 1);
	write_req(req, "\"host_attested_age\":42,"); /* 64-bit values are strings */
	CU_ASSERT_EQUAL(cli("test", ex, req), 2);
	write_req(req, "\"colour\":\"blue\",");
	CU_ASSERT_EQUAL(cli("test", ex, req), 2);
	write_req(req, "\"risk_tier\":\"high\","); /* duplicate key */
	CU_ASSERT_EQUAL(cli("test", ex, req), 2);
	static const char noncanon[] = "{\"action\":\"read\",\"resource\":\"ehr:patient/1/../2\","
				       "\"agents\":[\"" CALLER "\"]}";
	tu_write(req, noncanon, strlen(noncanon));
	CU_ASSERT_EQUAL(cli("test", ex, req), 2);
	write_req(req, "\"host_attested_age\":\"42\",");
	CU_ASSERT_EQUAL(cli("test", bad, req), 2);
	CU_ASSERT_EQUAL(cli("test", ex, NULL), 2);
	CU_ASSERT_EQUAL(cli("test", ex, "/nonexistent/req.json"), 2);
	tu_rmtree(dir);
}

/* http_routes (issue 15): parsed strictly with caps; method, host and path
 * map to action, resource and path context; anything a second reader
 * could read differently maps to nothing. */
#define ROUTES(r) "{\"version\":1,\"rules\":[],\"http_routes\":[" r "]}"
#define ROUTE_OK "{\"name\":\"records\",\"prefix\":\"/records/\",\"methods\":{\"GET\":\"read\"," \
	"\"POST\":\"write\"},\"resource_prefix\":\"ehr:\",\"context_from_path\":[\"patient\"]}"

static void test_http_routes(void)
{
	struct attest_http_target t;
	struct attest_policy *p;
	char big[64 * 1024];
	size_t o;

	/* strict: unknown fields, bad prefixes, methods, actions, names */
	refused(ROUTES("{\"name\":\"r\",\"prefix\":\"/a/\",\"methods\":{\"GET\":\"read\"},"
		       "\"resource_prefix\":\"x:\",\"extra\":1}"), ATTEST_E_POLICY, "extra");
	refused(ROUTES("{\"name\":\"r\",\"prefix\":\"/a\",\"methods\":{\"GET\":\"read\"},"
		       "\"resource_prefix\":\"x:\"}"), ATTEST_E_POLICY, "prefix");
	refused(ROUTES("{\"name\":\"r\",\"prefix\":\"/a/../b/\",\"methods\":{\"GET\":\"read\"},"
		       "\"resource_prefix\":\"x:\"}"), ATTEST_E_POLICY, "prefix");
	refused(ROUTES("{\"name\":\"r\",\"prefix\":\"/a/\",\"methods\":{\"get\":\"read\"},"
		       "\"resource_prefix\":\"x:\"}"), ATTEST_E_POLICY, "methods");
	refused(ROUTES("{\"name\":\"r\",\"prefix\":\"/a/\",\"methods\":{\"GET\":\"re ad\"},"
		       "\"resource_prefix\":\"x:\"}"), ATTEST_E_POLICY, "methods");
	refused(ROUTES("{\"name\":\"r\",\"prefix\":\"/a/\",\"methods\":{},"
		       "\"resource_prefix\":\"x:\"}"), ATTEST_E_POLICY, "methods");
	refused(ROUTES("{\"name\":\"r\",\"prefix\":\"/a/\",\"methods\":{\"GET\":\"read\"},"
		       "\"resource_prefix\":\"x*\"}"), ATTEST_E_POLICY, "resource_prefix");
	refused(ROUTES("{\"name\":\"r\",\"prefix\":\"/a/\",\"methods\":{\"GET\":\"read\"},"
		       "\"resource_prefix\":\"x:\",\"hosts\":[\"a.example:443\"]}"),
		ATTEST_E_POLICY, "hosts");
	refused(ROUTES(ROUTE_OK "," ROUTE_OK), ATTEST_E_POLICY, "same name");
	refused("{\"version\":1,\"rules\":[],\"http_routes\":{}}", ATTEST_E_POLICY, "http_routes");
	/* over 256 routes */
	o = (size_t)snprintf(big, sizeof(big), "{\"version\":1,\"rules\":[],\"http_routes\":[");
	for (int i = 0; i < 257; i++)
		o += (size_t)snprintf(big + o, sizeof(big) - o,
				      "%s{\"name\":\"r%d\",\"prefix\":\"/a/\",\"methods\":{\"GET\":"
				      "\"read\"},\"resource_prefix\":\"x:\"}", i ? "," : "", i);
	(void)snprintf(big + o, sizeof(big) - o, "]}");
	refused(big, ATTEST_E_POLICY, "at most 256");

	p = load(ROUTES("{\"name\":\"api\",\"hosts\":[\"api.example\"],\"prefix\":\"/\","
			"\"methods\":{\"GET\":\"read\"},\"resource_prefix\":\"api:\"}," ROUTE_OK));
	TU_ASSERT_ERR(attest_policy_http_map(p, "GET", "ehr.example", "/records/patient/7/notes?a=b",
					     &t), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(t.route, "records");
	CU_ASSERT_STRING_EQUAL(t.action, "read");
	CU_ASSERT_STRING_EQUAL(t.resource, "ehr:patient/7/notes");
	CU_ASSERT_EQUAL(t.nctx, 1);
	CU_ASSERT_STRING_EQUAL(t.ctx_keys[0], "patient");
	CU_ASSERT_STRING_EQUAL(t.ctx_values[0], "7");
	TU_ASSERT_ERR(attest_policy_http_map(p, "POST", NULL, "/records/patient/7/", &t), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(t.action, "write");
	CU_ASSERT_STRING_EQUAL(t.resource, "ehr:patient/7");
	/* the host-bound route first, for its host only (a port ignored) */
	TU_ASSERT_ERR(attest_policy_http_map(p, "GET", "API.example:8443", "/records/x", &t),
		      ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(t.resource, "api:records/x");
	/* the first matching route decides: DELETE is not one of its methods */
	TU_ASSERT_ERR(attest_policy_http_map(p, "DELETE", NULL, "/records/patient/7", &t),
		      ATTEST_E_FWD_NO_ROUTE);
	CU_ASSERT_STRING_EQUAL(t.resource, "");
	TU_ASSERT_ERR(attest_policy_http_map(p, "GET", NULL, "/records/", &t), ATTEST_E_FWD_NO_ROUTE);
	TU_ASSERT_ERR(attest_policy_http_map(p, "GET", NULL, "/other/x", &t), ATTEST_E_FWD_NO_ROUTE);
	/* not canonical: never mapped */
	for (int i = 0; i < 8; i++) {
		static const char *const bad[] = {"/records/patient/8/../7", "/records/./patient/7",
						  "/records//patient/7", "/records/patient/%37",
						  "/records/patient/7#x", "/records/pat ient/7",
						  "records/patient/7", "/records/patient/*"};

		TU_ASSERT_ERR(attest_policy_http_map(p, "GET", NULL, bad[i], &t), ATTEST_E_FWD_NO_ROUTE);
	}
	attest_policy_free(p);
	/* without http_routes, nothing maps */
	p = load("{\"version\":1,\"rules\":[]}");
	TU_ASSERT_ERR(attest_policy_http_map(p, "GET", NULL, "/records/x", &t), ATTEST_E_FWD_NO_ROUTE);
	attest_policy_free(p);
}

/* "federated": only a rule naming the caller's federated trust domain,
 * with an ids pattern its SPIFFE ID matches, can allow it, with that
 * grant's scopes; deny rules apply to it; requirements on our evidence
 * fail for it; the format's refusals. Own callers are unaffected. */
static void test_federated(void)
{
	static const char *const fed_id[] = { "spiffe://partner.example/billing/agent-1" };
	static const char *const fed_other[] = { "spiffe://partner.example/ops/agent-2" };
	struct attest_policy *p;
	struct attest_policy_request q = {
		.action = "read",
		.resource = "billing:invoices/7",
		.agents = fed_id,
		.nagents = 1,
		.risk_score = -1,
		.host_attested_age = -1,
		.now = MONDAY + 10 * HOUR,
	};
	struct attest_policy_decision d;

#define FEDRULE(fed, req)                                                                      \
	"{\"version\":1,\"rules\":[{\"name\":\"f\",\"effect\":\"allow\",\"resources\":"        \
	"[\"billing:invoices/**\"],\"actions\":[\"read\"],\"federated\":" fed req "},"           \
	"{\"name\":\"own\",\"effect\":\"allow\",\"resources\":[\"billing:*/**\"],"                  \
	"\"actions\":[\"read\"]},"                                                              \
	"{\"name\":\"no\",\"effect\":\"deny\",\"resources\":[\"billing:invoices/9\"],"           \
	"\"actions\":[\"*\"]}]}"
	p = load(FEDRULE("{\"partner.example\":{\"ids\":[\"spiffe://partner.example/billing/**\"],"
			 "\"scopes\":[\"billing:read\"]}}",
			 ",\"require\":{\"scopes\":[\"billing:read\"]}"));
	TU_ASSERT_ERR(attest_policy_eval_federated(p, &q, "partner.example", &d), ATTEST_OK);
	CU_ASSERT(d.allow && d.reason == ATTEST_OK && strcmp(d.rule, "f") == 0);
	/* the rule without federated ("own") allows our agents only */
	q.resource = "billing:statements/1";
	TU_ASSERT_ERR(attest_policy_eval_federated(p, &q, "partner.example", &d), ATTEST_OK);
	CU_ASSERT(!d.allow && d.reason == ATTEST_E_FED_POLICY);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.detail, "names federated trust domain partner.example"));
	/* an ID outside the ids */
	q.resource = "billing:invoices/7";
	q.agents = fed_other;
	TU_ASSERT_ERR(attest_policy_eval_federated(p, &q, "partner.example", &d), ATTEST_OK);
	CU_ASSERT(!d.allow && d.reason == ATTEST_E_FED_POLICY);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.detail, "among the ids"));
	/* another federated domain the rule does not name */
	q.agents = fed_id;
	TU_ASSERT_ERR(attest_policy_eval_federated(p, &q, "other.example", &d), ATTEST_OK);
	CU_ASSERT(!d.allow && d.reason == ATTEST_E_FED_POLICY);
	/* a deny rule applies to federated callers too */
	q.resource = "billing:invoices/9";
	TU_ASSERT_ERR(attest_policy_eval_federated(p, &q, "partner.example", &d), ATTEST_OK);
	CU_ASSERT(!d.allow && d.reason == ATTEST_E_POLICY_DENY);
	/* a federated caller brings no scopes of its own */
	q.resource = "billing:invoices/7";
	q.scopes = (const char *const[]){ "billing:read" };
	q.nscopes = 1;
	TU_ASSERT_ERR(attest_policy_eval_federated(p, &q, "partner.example", &d), ATTEST_E_INVALID_ARG);
	q.scopes = NULL;
	q.nscopes = 0;
	TU_ASSERT_ERR(attest_policy_eval_federated(p, &q, NULL, &d), ATTEST_E_INVALID_ARG);
	/* our own callers: "federated" changes nothing for them */
	{
		struct attest_policy_request own = base();

		own.resource = "billing:invoices/7";
		own.scopes = (const char *const[]){ "billing:read" };
		expect(p, &own, 1, ATTEST_OK, "f", NULL); /* its own scopes, not the grant's */
		own.scopes = read_scope;
		expect(p, &own, 1, ATTEST_OK, "own", NULL);
	}
	attest_policy_free(p);
	/* a grant without the required scope; a requirement on evidence */
	p = load(FEDRULE("{\"partner.example\":{\"ids\":[\"spiffe://partner.example/**\"]}}",
			 ",\"require\":{\"scopes\":[\"billing:read\"]}"));
	TU_ASSERT_ERR(attest_policy_eval_federated(p, &q, "partner.example", &d), ATTEST_OK);
	CU_ASSERT(!d.allow && d.reason == ATTEST_E_NO_RULE && strcmp(d.rule, "f") == 0);
	attest_policy_free(p);
	p = load(FEDRULE("{\"partner.example\":{\"ids\":[\"spiffe://partner.example/**\"]}}",
			 ",\"require\":{\"host_attested_within\":60}"));
	TU_ASSERT_ERR(attest_policy_eval_federated(p, &q, "partner.example", &d), ATTEST_OK);
	CU_ASSERT(!d.allow);
	attest_policy_free(p);
	/* refusals */
	refused(FEDRULE("{\"partner.example\":{\"ids\":[\"spiffe://partner.example.evil/**\"]}}", ""),
		ATTEST_E_POLICY, "not under spiffe://partner.example/");
	refused(FEDRULE("{\"partner.example\":{\"ids\":[\"spiffe://*/**\"]}}", ""),
		ATTEST_E_POLICY, "federated ids");
	refused(FEDRULE("{\"Partner.example\":{\"ids\":[\"spiffe://Partner.example/a\"]}}", ""),
		ATTEST_E_POLICY, "not a trust domain");
	refused(FEDRULE("{\"partner.example\":{\"scopes\":[\"a\"]}}", ""), ATTEST_E_POLICY,
		"\"ids\" missing");
	refused(FEDRULE("{\"partner.example\":{\"ids\":[\"spiffe://partner.example/a\"],"
			"\"extra\":1}}", ""), ATTEST_E_POLICY, "extra");
	refused(FEDRULE("{}", ""), ATTEST_E_POLICY, "federated");
	refused(FEDRULE("[]", ""), ATTEST_E_POLICY, "federated");
	refused("{\"version\":1,\"rules\":[{\"name\":\"d\",\"effect\":\"deny\",\"resources\":[\"a\"],"
		"\"actions\":[\"*\"],\"federated\":{\"partner.example\":{\"ids\":"
		"[\"spiffe://partner.example/a\"]}}}]}", ATTEST_E_POLICY, "only an allow rule");
#undef FEDRULE
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "refusals", test_refusals },
		{ "caps", test_caps },
		{ "version", test_version },
		{ "glob", test_glob },
		{ "actions", test_actions },
		{ "requirements", test_requirements },
		{ "host_stale", test_host_stale },
		{ "deny_wins", test_deny_wins },
		{ "time_windows", test_time_windows },
		{ "bad_requests", test_bad_requests },
		{ "example", test_example },
		{ "cli", test_cli },
		{ "http_routes", test_http_routes },
		{ "federated", test_federated },
		{ NULL, NULL },
	};
	return tu_main("policy", tests);
}
