/* bench_policy.c - cost of one attest_policy_eval under a 50-rule policy
 * (issue 5 part 4: "well under 10 microseconds"; make bench). Report only:
 * nothing asserts on time; a failed evaluation prints "n/a" and exits 1.
 *
 * The policy: 5 deny rules, then 45 allow rules over 15 resource families
 * ("svc<k>:item/<id>/..."), each with 4-6 requirements (scopes, purposes,
 * depth, risk, host freshness, one with a time window). The requests cycle
 * through: allowed by the last allow rule (every rule before it is tried),
 * denied by a deny rule, and matched by nothing (default deny), so the
 * figure is the mean over a mix of the expensive paths, not the best case.
 *
 * Prints: policy_eval_ns_50_rules: N  (median of ROUNDS rounds, ns/eval)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/policy.h"

#define RULES 50
#define ROUNDS 7
#define N_EVAL 200000 /* per round */

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static char *make_policy(size_t *len)
{
	size_t cap = 64 * 1024, n = 0;
	char *s = malloc(cap);

	if (s == NULL)
		return NULL;
	n += (size_t)snprintf(s + n, cap - n, "{\"version\":1,\"rules\":[");
	for (int i = 0; i < 5; i++)
		n += (size_t)snprintf(s + n, cap - n,
				      "{\"name\":\"deny-%d\",\"effect\":\"deny\",\"resources\":"
				      "[\"svc%d:item/*/secret/**\"],\"actions\":[\"*\"],"
				      "\"when\":{\"purposes\":[\"RESEARCH\"]}},", i, i);
	for (int i = 0; i < RULES - 5; i++)
		n += (size_t)snprintf(
			s + n, cap - n,
			"{\"name\":\"allow-%d\",\"effect\":\"allow\",\"resources\":"
			"[\"svc%d:item/*/rec\",\"svc%d:item/*/rec/**\"],\"actions\":[\"read\",\"list\"],"
			"\"require\":{\"scopes\":[\"svc%d:read\"],\"purposes\":[\"TREATMENT\",\"OPERATIONS\"],"
			"\"max_depth\":2,\"max_risk_tier\":\"high\",\"agents\":"
			"[\"spiffe://fleet.example/host/*/agent/a%d\"],%s\"host_attested_within\":300}}%s",
			i, i % 15, i % 15, i, i,
			i % 9 == 0 ? "\"time_windows\":[{\"from\":\"00:00\",\"to\":\"24:00\"}]," : "",
			i + 1 < RULES - 5 ? "," : "");
	n += (size_t)snprintf(s + n, cap - n, "]}");
	*len = n;
	return s;
}

int main(void)
{
	static const char *const agent_last[] = { "spiffe://fleet.example/host/web-01/agent/a44" };
	static const char *const scope_last[] = { "svc44:read", "svc1:read" };
	static const char *const classes[] = { "phi" };
	struct attest_policy *p = NULL;
	struct attest_policy_request q[3];
	static const int want[3] = { 1, 0, 0 };
	double t[ROUNDS];
	size_t len = 0;
	char *doc = make_policy(&len);
	int failed = 0;

	if (doc == NULL || attest_policy_load(doc, len, &p) != ATTEST_OK) {
		fprintf(stderr, "bench_policy: load: %s\n", attest_errdetail());
		puts("policy_eval_ns_50_rules: n/a");
		free(doc);
		return 1;
	}
	for (int i = 0; i < 3; i++)
		q[i] = (struct attest_policy_request){
			.action = "read",
			.user = "dr.alice@hospital.example",
			.purpose = "TREATMENT",
			.agents = agent_last,
			.nagents = 1,
			.scopes = scope_last,
			.nscopes = 2,
			.depth = 1,
			.risk_tier = ATTEST_RISK_TIER_MEDIUM,
			.risk_score = 40,
			.data_classes = classes,
			.ndata_classes = 1,
			.host_attested_age = 30,
			.now = 1736157600,
		};
	q[0].resource = "svc14:item/123/rec/notes/4"; /* allow-44, the last rule */
	q[1].resource = "svc3:item/123/secret/x";     /* deny-3 */
	q[1].purpose = "RESEARCH";
	q[2].resource = "other:item/123/rec";         /* nothing matches */
	for (int r = 0; r < ROUNDS && !failed; r++) {
		double t0 = now_ns();

		for (int i = 0; i < N_EVAL; i++) {
			struct attest_policy_decision d;
			int k = i % 3;

			if (attest_policy_eval(p, &q[k], &d) != ATTEST_OK || d.allow != want[k]) {
				fprintf(stderr, "bench_policy: request %d: %s %s\n", k,
					attest_errname(d.reason), d.detail);
				failed = 1;
				break;
			}
		}
		t[r] = (now_ns() - t0) / N_EVAL;
	}
	if (failed) {
		puts("policy_eval_ns_50_rules: n/a");
	} else {
		qsort(t, ROUNDS, sizeof(t[0]), cmp);
		printf("policy_eval_ns_50_rules: %.0f\n", t[ROUNDS / 2]);
	}
	attest_policy_free(p);
	free(doc);
	return failed;
}
