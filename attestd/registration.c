/* registration.c - what an agent registration's values may be
 * (registration.h). */
#include <string.h>

#include "core/err.h"
#include "registration.h"

int admin_registration_check(const struct admin_registration *g, long max_ttl)
{
	static const char *const tiers[] = { "low", "medium", "high", "critical" };
	int ok_tier = 0;

	if (!attest_valid_hostname(g->name))
		return attest_fail(ATTEST_E_PARSE, "agent name must be " ATTEST_NAME_RULE);
	for (size_t i = 0; i < sizeof(tiers) / sizeof(tiers[0]); i++)
		ok_tier |= strcmp(g->tier, tiers[i]) == 0;
	if (!ok_tier)
		return attest_fail(ATTEST_E_PARSE, "risk_tier must be low, medium, high or critical");
	if (g->max_ttl < 1 || g->max_ttl > max_ttl)
		return attest_fail(ATTEST_E_PARSE, "\"max_ttl\" must be an integer in 1..%ld", max_ttl);
	if (g->delegate_depth < 0 || g->delegate_depth > 3)
		return attest_fail(ATTEST_E_PARSE, "\"delegate_depth\" must be an integer in 0..3");
	if (g->binary[0] == '\0')
		return attest_fail(ATTEST_E_PARSE, "\"binary\" must be a path");
	if (g->nuids < 1 || g->nuids > AGENT_MAX_UIDS)
		return attest_fail(ATTEST_E_PARSE, "\"uids\" must list 1-%d uids", AGENT_MAX_UIDS);
	if (g->nscopes > AGENT_MAX_SCOPES || g->nclasses > AGENT_MAX_CLASSES ||
	    g->nenv_allow > AGENT_MAX_ENV_ALLOW)
		return attest_fail(ATTEST_E_TOO_LARGE, "too many scopes, classes or env_allow entries");
	return admin_dns_names_check(g->dns[0], sizeof(g->dns[0]), g->ndns);
}

int admin_dns_names_check(const char *first, size_t stride, uint32_t n)
{
	const char *why = "";

	if (n > AGENT_MAX_DNS)
		return attest_fail(ATTEST_E_TOO_LARGE, "\"dns_names\": more than %d names",
				   AGENT_MAX_DNS);
	for (uint32_t i = 0; i < n; i++) {
		const char *v = first + (size_t)i * stride;

		if (memchr(v, '\0', stride) == NULL)
			return attest_fail(ATTEST_E_DNS_NAME_INVALID, "DNS name over %zu bytes",
					   stride - 1);
		if (!attest_dns_name_ok(v, &why))
			return attest_fail(ATTEST_E_DNS_NAME_INVALID, "DNS name \"%.260s\" %s", v, why);
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(v, first + (size_t)j * stride) == 0)
				return attest_fail(ATTEST_E_DNS_NAME_INVALID,
						   "DNS name \"%s\" given twice", v);
	}
	return ATTEST_OK;
}
