/* httproute.h - the policy's http_routes (policy.c loads them with the
 * rest of the document; attest_policy_http_map matches them). */
#ifndef ATTEST_DECIDE_HTTPROUTE_H
#define ATTEST_DECIDE_HTTPROUTE_H

#include <cjson/cJSON.h>

#include "attest/policy.h"

struct attest_http_routes;

/* arr: the document's "http_routes" array. ATTEST_E_POLICY with a detail
 * naming the route and field, or ATTEST_E_NOMEM. */
int attest_http_routes_load(const cJSON *arr, struct attest_http_routes **out) ATTEST_MUST_CHECK;
void attest_http_routes_free(struct attest_http_routes *h);
int attest_http_routes_map(const struct attest_http_routes *h, const char *method,
			   const char *host, const char *uri,
			   struct attest_http_target *out) ATTEST_MUST_CHECK;

#endif
