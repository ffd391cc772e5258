/* fuzz_policy.c - libFuzzer target for libattest/decide/policy.c:
 *   attest_policy_load on the input up to its first NUL byte (all of it when
 *   there is none); when it loads, attest_policy_eval on a fixed set of
 *   requests and on requests whose resource and action come from the bytes
 *   after that NUL (resource, NUL, action), so the matcher sees fuzzed
 *   subjects as well as fuzzed patterns.
 * Oracles besides the sanitizers: a failed load leaves no policy; a loaded
 *   one has a 64-hex-digit version; every evaluation returns ATTEST_OK or
 *   ATTEST_E_INVALID_ARG, allows only with reason ATTEST_OK and a rule name,
 *   denies only with a known reason, never names a rule for a default deny,
 *   and gives the same decision twice. Federated callers
 *   (attest_policy_eval_federated, a partner.example agent, the fuzzed
 *   subject as its ID too): the same oracles with ATTEST_E_FED_POLICY a
 *   known deny, and never an allow from a document that names no
 *   "federated" trust domain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "attest/policy.h"
#include "fuzz_fixture.h"

#define SUBJECT_MAX 2048

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_policy: %s (%s)\n", what, attest_errdetail());
		abort();
	}
}

static void eval(const struct attest_policy *p, const struct attest_policy_request *q)
{
	struct attest_policy_decision d, again;
	int r = attest_policy_eval(p, q, &d);

	check(r == ATTEST_OK || r == ATTEST_E_INVALID_ARG, "unexpected eval result");
	check(memchr(d.rule, '\0', sizeof(d.rule)) != NULL, "rule not terminated");
	check(memchr(d.detail, '\0', sizeof(d.detail)) != NULL, "detail not terminated");
	if (r != ATTEST_OK) {
		check(!d.allow && d.reason == ATTEST_E_INVALID_ARG, "bad request not denied");
		return;
	}
	if (d.allow) {
		check(d.reason == ATTEST_OK && d.rule[0] != '\0', "allow without rule");
	} else {
		check(d.reason == ATTEST_E_POLICY_DENY || d.reason == ATTEST_E_NO_RULE ||
			      d.reason == ATTEST_E_HOST_STALE,
		      "deny with an unknown reason");
		check(d.reason == ATTEST_E_NO_RULE || d.rule[0] != '\0', "deny rule unnamed");
	}
	check(attest_policy_eval(p, q, &again) == r, "eval not repeatable");
	check(again.allow == d.allow && again.reason == d.reason &&
		      strcmp(again.rule, d.rule) == 0 && strcmp(again.detail, d.detail) == 0,
	      "decision not repeatable");
}

static void eval_fed(const struct attest_policy *p, const struct attest_policy_request *q,
		     int has_fed)
{
	struct attest_policy_decision d, again;
	int r = attest_policy_eval_federated(p, q, "partner.example", &d);

	check(r == ATTEST_OK || r == ATTEST_E_INVALID_ARG, "unexpected federated eval result");
	check(memchr(d.rule, '\0', sizeof(d.rule)) != NULL, "rule not terminated");
	check(memchr(d.detail, '\0', sizeof(d.detail)) != NULL, "detail not terminated");
	if (r != ATTEST_OK) {
		check(!d.allow && d.reason == ATTEST_E_INVALID_ARG, "bad request not denied");
		return;
	}
	if (d.allow) {
		check(d.reason == ATTEST_OK && d.rule[0] != '\0', "allow without rule");
		check(has_fed, "a federated caller allowed by a policy naming no federated domain");
	} else {
		check(d.reason == ATTEST_E_POLICY_DENY || d.reason == ATTEST_E_NO_RULE ||
			      d.reason == ATTEST_E_HOST_STALE || d.reason == ATTEST_E_FED_POLICY,
		      "federated deny with an unknown reason");
	}
	check(attest_policy_eval_federated(p, q, "partner.example", &again) == r &&
		      again.allow == d.allow && again.reason == d.reason &&
		      strcmp(again.rule, d.rule) == 0,
	      "federated decision not repeatable");
}

/* Whether a rule of the document (as cJSON reads it, escapes decoded)
 * has a "federated" member: only then may a federated caller be allowed. */
static int names_federated(const char *json, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	const cJSON *rule;
	int any = 0;

	check(root != NULL, "a loaded policy cJSON cannot parse");
	cJSON_ArrayForEach(rule, cJSON_GetObjectItemCaseSensitive(root, "rules"))
		if (cJSON_GetObjectItemCaseSensitive(rule, "federated") != NULL)
			any = 1;
	cJSON_Delete(root);
	return any;
}

static void fed_requests(const struct attest_policy *p, const char *res, int has_fed)
{
	static const char *const ids[] = { "spiffe://partner.example/billing/agent-1",
					   "spiffe://partner.example/ops/agent-2" };
	static const char *const resources[] = { "billing:invoices/7", "ehr:patient/123/record",
						  "a" };
	struct attest_policy_request q = {
		.action = "read",
		.nagents = 1,
		.risk_score = -1,
		.host_attested_age = -1,
		.now = 1736157600,
	};

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		for (size_t j = 0; j < sizeof(resources) / sizeof(resources[0]); j++) {
			q.agents = &ids[i];
			q.resource = resources[j];
			eval_fed(p, &q, has_fed);
		}
	if (res != NULL) {
		q.agents = &res; /* as the caller's ID and as the resource */
		q.resource = "billing:invoices/7";
		eval_fed(p, &q, has_fed);
		q.agents = &ids[0];
		q.resource = res;
		eval_fed(p, &q, has_fed);
	}
}

static void requests(const struct attest_policy *p, const char *res, const char *act)
{
	static const char *const agents[] = {
		"spiffe://fleet.example/host/db-01/agent/billing",
		"spiffe://fleet.example/host/web-01/agent/intake",
	};
	static const char *const scopes[] = { "ehr:read", "ehr:admin", "ehr:research" };
	static const char *const classes[] = { "phi", "pii" };
	static const char *const ckeys[] = { "research_consent", "patient" };
	static const char *const cvals[] = { "yes", "123" };
	static const char *const resources[] = { "ehr:patient/123/record",
						  "ehr:patient/123/notes/psychotherapy/7",
						  "ehr:admin/retention", "a", "a/b/c/d/e/f/g" };
	static const char *const purposes[] = { "TREATMENT", "RESEARCH", NULL };
	struct attest_policy_request q = {
		.action = "read",
		.user = "dr.alice@hospital.example",
		.agents = agents,
		.nagents = 2,
		.scopes = scopes,
		.nscopes = 3,
		.depth = 1,
		.risk_tier = ATTEST_RISK_TIER_HIGH,
		.risk_score = 60,
		.data_classes = classes,
		.ndata_classes = 2,
		.host_attested_age = 42,
		.now = 1736157600, /* Monday 2025-01-06 10:00 UTC */
		.ctx_keys = ckeys,
		.ctx_values = cvals,
		.nctx = 2,
	};

	for (size_t i = 0; i < sizeof(resources) / sizeof(resources[0]); i++)
		for (size_t j = 0; j < sizeof(purposes) / sizeof(purposes[0]); j++) {
			q.resource = resources[i];
			q.purpose = purposes[j];
			q.action = (i + j) % 2 ? "write" : "read";
			q.host_attested_age = j == 2 ? -1 : 42 + 200 * (int64_t)j;
			eval(p, &q);
		}
	if (res != NULL) {
		q.resource = res;
		q.purpose = "TREATMENT";
		q.action = "read";
		eval(p, &q);
		if (act != NULL) {
			q.action = act;
			eval(p, &q);
		}
		q.user = res; /* as a user and as the caller's ID */
		q.agents = &res;
		q.nagents = 1;
		eval(p, &q);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t plen = nul != NULL ? (size_t)(nul - data) : size;
	struct attest_policy *p = (struct attest_policy *)1;
	char *res = NULL, *act = NULL;

	if (attest_policy_load((const char *)data, plen, &p) != ATTEST_OK) {
		check(p == NULL, "failed load left a policy");
		attest_errclear();
		return 0;
	}
	check(p != NULL && strlen(attest_policy_version(p)) == 64, "bad version");
	check(strspn(attest_policy_version(p), "0123456789abcdef") == 64, "version not hex");
	if (nul != NULL) {
		size_t rest = size - plen - 1, rlen = strnlen((const char *)nul + 1, rest);

		if (rlen <= SUBJECT_MAX && (res = strndup((const char *)nul + 1, rlen)) != NULL &&
		    rlen < rest)
			act = strndup((const char *)nul + 2 + rlen,
				      strnlen((const char *)nul + 2 + rlen, rest - rlen - 1));
	}
	requests(p, res, act);
	fed_requests(p, res, names_federated((const char *)data, plen));
	free(res);
	free(act);
	attest_policy_free(p);
	attest_errclear();
	return 0;
}
