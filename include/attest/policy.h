/* policy.h - the verifier's declarative access policy (docs/policy.md).
 *
 * A policy is a JSON document of named rules. Each rule matches requests by
 * resource pattern and action; an allow rule then lists requirements (scopes,
 * purposes, risk, data classes, delegation depth, agents, users, host
 * freshness, time windows, intent, context), a deny rule lists conditions
 * under which it fires. Evaluation: a matching deny rule wins; otherwise the
 * first matching allow rule whose requirements all hold allows; otherwise
 * deny (default deny).
 *
 * A loaded policy is immutable: share it read-only between threads; to
 * reload, load the new document and swap pointers only if it loaded (the
 * old one stays in force when the new one is refused). attest_policy_eval
 * allocates nothing and touches no global state.
 */
#ifndef ATTEST_POLICY_H
#define ATTEST_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"

#define ATTEST_POLICY_MAX_BYTES (1024 * 1024) /* whole document */
#define ATTEST_POLICY_MAX_RULES 1000
#define ATTEST_POLICY_NAME_MAX 63      /* bytes of a rule name */
#define ATTEST_POLICY_PATTERN_MAX 256  /* bytes of a pattern, scope, class... */
#define ATTEST_POLICY_LIST_MAX 64      /* entries of any list */
#define ATTEST_POLICY_RESOURCE_MAX 1024 /* bytes of a requested resource */

/* Risk tiers as the registry names them (docs/agents.md); 0 is unknown and
 * fails every risk-tier requirement. */
enum attest_risk_tier {
	ATTEST_RISK_TIER_UNKNOWN = 0,
	ATTEST_RISK_TIER_LOW = 1,
	ATTEST_RISK_TIER_MEDIUM = 2,
	ATTEST_RISK_TIER_HIGH = 3,
	ATTEST_RISK_TIER_CRITICAL = 4,
};

/* "low" -> ATTEST_RISK_TIER_LOW ...; ATTEST_RISK_TIER_UNKNOWN for NULL or
 * any other string. */
ATTEST_API int attest_risk_tier_from_name(const char *name);
/* "low" ... for a tier, "unknown" for anything else. Static string. */
ATTEST_API const char *attest_risk_tier_name(int tier);

struct attest_policy;

/* Parse and validate a policy document of len bytes (not NUL-terminated;
 * at most ATTEST_POLICY_MAX_BYTES). On ATTEST_OK *out is the caller's
 * (attest_policy_free). Otherwise *out is NULL, attest_errdetail() says
 * where (rule index and name, field) and the code is ATTEST_E_TOO_LARGE
 * (document over its cap), ATTEST_E_PARSE (not JSON, trailing bytes, nested
 * too deep), ATTEST_E_DUPLICATE_KEY (a JSON object repeats a key) or
 * ATTEST_E_POLICY (valid JSON that breaks docs/policy.md: unknown or
 * missing field, wrong type, bad pattern, bad effect, duplicate rule name,
 * a list or the rule count over its cap). */
ATTEST_API int attest_policy_load(const char *json, size_t len,
				  struct attest_policy **out) ATTEST_MUST_CHECK;
ATTEST_API void attest_policy_free(struct attest_policy *p);
/* Lower-case hex SHA-256 of the document bytes as loaded (64 characters);
 * lives as long as p. For logs and health. */
ATTEST_API const char *attest_policy_version(const struct attest_policy *p);
ATTEST_API size_t attest_policy_rule_count(const struct attest_policy *p);
/* The scopes rule `name` requires ("require": {"scopes": [...]}); *out
 * points into p. 0 for a rule without scopes or no such rule. */
ATTEST_API size_t attest_policy_rule_scopes(const struct attest_policy *p, const char *name,
					    const char *const **out);

/* What is being decided. Everything is borrowed for the call; NULL lists
 * with a zero count are fine. */
struct attest_policy_request {
	const char *action;   /* 1..64 printable ASCII bytes, no space or '*' */
	const char *resource; /* canonical: 1..ATTEST_POLICY_RESOURCE_MAX printable
				 ASCII bytes without space or '*', '/'-separated
				 segments none of which is empty, "." or ".." */
	const char *user;     /* from the intent grant, NULL if no intent */
	const char *purpose;  /* "TREATMENT" ... (intent.h), NULL if none */
	const char *const *agents; /* SPIFFE IDs, delegation order, last = the caller */
	size_t nagents;            /* 1..ATTEST_POLICY_LIST_MAX */
	const char *const *scopes; /* effective scopes (leaf and chain intersected) */
	size_t nscopes;
	unsigned depth; /* delegation hops */
	int risk_tier;  /* enum attest_risk_tier, of the calling agent */
	int risk_score; /* 0..100, -1 unknown (fails every score requirement) */
	const char *const *data_classes; /* of the calling agent */
	size_t ndata_classes;
	int64_t host_attested_age; /* seconds since its host's last good quote, -1 never */
	int64_t now;               /* Unix time, >= 0 */
	/* optional context from the caller (e.g. "patient" -> "123") */
	const char *const *ctx_keys;
	const char *const *ctx_values;
	size_t nctx;
	/* the verifier's behaviour anomaly score of this request, 0..1
	 * (docs/detection.md); 0 when not scored */
	double anomaly;
	/* Unix time the intent grant was issued (its iat), 0 without intent */
	int64_t intent_issued;
};

struct attest_policy_decision {
	int allow;  /* 1 allow, 0 deny */
	int reason; /* ATTEST_OK (allowed), ATTEST_E_POLICY_DENY (a deny rule
		       matched), ATTEST_E_NO_RULE (no allow rule held),
		       ATTEST_E_HOST_STALE (the closest allow rule failed only on
		       host freshness), ATTEST_E_ANOMALY (a deny rule with
		       min_anomaly fired, or the closest allow rule failed only
		       on max_anomaly), ATTEST_E_ANOMALY_FRESH_INTENT (... only
		       on anomaly_fresh_intent), ATTEST_E_INVALID_ARG (bad
		       request) */
	char rule[64];    /* name of the rule that decided, "" for default deny */
	char detail[256]; /* readable: which requirement failed */
};

/* Decide req under p into *out. Returns ATTEST_OK when the request was
 * evaluated (out->allow says the verdict). ATTEST_E_INVALID_ARG when an
 * argument is NULL or the request breaks the rules above (over a cap, a
 * non-canonical resource, an unknown purpose, no agent): then, when out is
 * not NULL, it holds a deny with reason ATTEST_E_INVALID_ARG. Never
 * allocates. */
ATTEST_API int attest_policy_eval(const struct attest_policy *p,
				  const struct attest_policy_request *req,
				  struct attest_policy_decision *out) ATTEST_MUST_CHECK;

/* The same for a caller of a federated trust domain (docs/policy.md
 * "Federated trust domains"): req names one agent (its SPIFFE ID, in
 * trust_domain) and no scopes; deny rules apply as to every caller, an
 * allow rule only when its "federated" names trust_domain with an ids
 * pattern the ID matches, and then with that grant's scopes. A caller no
 * such rule accepts is denied with ATTEST_E_FED_POLICY. Requirements that
 * need our evidence (host freshness, risk, data classes, intent) do not
 * hold for it. */
ATTEST_API int attest_policy_eval_federated(const struct attest_policy *p,
					    const struct attest_policy_request *req,
					    const char *trust_domain,
					    struct attest_policy_decision *out) ATTEST_MUST_CHECK;

/* ---- HTTP routes (docs/policy.md "HTTP routes") ----
 * A proxy doing forward authorization (the verifier's /v1/authz) knows a
 * method, a host and a path; the policy's "http_routes" map them to the
 * action and resource (and context from path segments) the rules decide
 * on. */
#define ATTEST_HTTP_ROUTES_MAX 256
#define ATTEST_HTTP_METHODS_MAX 16
#define ATTEST_HTTP_CTX_MAX 4
#define ATTEST_HTTP_CTX_KEY_MAX 64
#define ATTEST_HTTP_CTX_VALUE_MAX 256

struct attest_http_target {
	char route[ATTEST_POLICY_NAME_MAX + 1]; /* the route that matched */
	char action[65];
	char resource[ATTEST_POLICY_RESOURCE_MAX + 1];
	size_t nctx;
	char ctx_keys[ATTEST_HTTP_CTX_MAX][ATTEST_HTTP_CTX_KEY_MAX + 1];
	char ctx_values[ATTEST_HTTP_CTX_MAX][ATTEST_HTTP_CTX_VALUE_MAX + 1];
};

/* Map method (e.g. "GET"), host (the Host header, a port is ignored; NULL
 * matches only routes without "hosts") and uri (path, a query is ignored)
 * through p's http_routes: the first route whose hosts and prefix match
 * decides; ATTEST_OK and *out, or ATTEST_E_FWD_NO_ROUTE (no route, a
 * method the route does not list, a path that is not canonical: '%', '*',
 * '#', spaces, empty, "." or ".." segments). Allocates nothing. */
ATTEST_API int attest_policy_http_map(const struct attest_policy *p, const char *method,
				      const char *host, const char *uri,
				      struct attest_http_target *out) ATTEST_MUST_CHECK;

#endif
