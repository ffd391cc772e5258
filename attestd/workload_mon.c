/* workload_mon.c - see workload_mon.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caller.h"
#include "core/err.h"
#include "workload_mon.h"

static int uid_listed(const struct agent *a, uid_t uid)
{
	for (size_t i = 0; i < a->nuids; i++)
		if (a->uids[i] == uid)
			return 1;
	return 0;
}

int attestd_workload_identify(struct attestd *d, const struct attestd_peer *peer,
			      char name[ATTEST_MAX_NAME + 1])
{
	const struct agent *best = NULL;
	int closest = ATTEST_OK;
	char why[400] = "";

	name[0] = '\0';
	for (size_t i = 0; i < d->reg.n; i++) {
		const struct agent *a = d->reg.agents[i];
		struct attest_proc_pin pin;
		int r;

		if (a->revoked || !uid_listed(a, peer->uid))
			continue;
		/* the first by name: the answer does not depend on the
		 * registry's order on disk */
		if (best != NULL && strcmp(a->name, best->name) > 0)
			continue;
		attest_errclear();
		if ((r = measure_caller(d->cache, peer, -1, a, &pin, NULL)) == ATTEST_OK) {
			best = a;
			continue;
		}
		if (r == ATTEST_E_PROC_CHANGED)
			return r; /* the caller went or changed: no other agent fits either */
		if (closest == ATTEST_OK) {
			closest = r;
			snprintf(why, sizeof(why), "%s", attest_errdetail());
		}
	}
	if (best != NULL) {
		attest_errclear();
		if (strlen(best->name) > ATTEST_MAX_NAME)
			return attest_fail(ATTEST_E_INTERNAL, "agent name");
		memcpy(name, best->name, strlen(best->name) + 1);
		return ATTEST_OK;
	}
	if (closest != ATTEST_OK)
		return attest_fail(closest, "no registered agent matches the caller (pid %d, uid %u): "
				   "%s", (int)peer->pid, (unsigned)peer->uid, why);
	return attest_fail(ATTEST_E_AGENT_UNKNOWN, "no agent is registered for uid %u (pid %d)",
			   (unsigned)peer->uid, (int)peer->pid);
}

int attestd_workload_mint(struct attestd *d, const struct attestd_peer *peer, const uint8_t *spki,
			  size_t spki_len, struct mint_result *res)
{
	struct mint_order *o = calloc(1, sizeof(*o));
	int r;

	memset(res, 0, sizeof(*res));
	if (o == NULL)
		return attest_fail(ATTEST_E_NOMEM, "order");
	if ((r = attestd_workload_identify(d, peer, o->name)) == ATTEST_OK) {
		const struct agent *a = registry_find(&d->reg, o->name);

		/* The Workload API cannot ask for DNS names: its SVIDs carry the
		 * agent's whole registered list (docs/spiffe.md "DNS SANs"). */
		for (size_t i = 0; a != NULL && i < a->ndns && i < AGENT_MAX_DNS; i++)
			memcpy(o->dns[o->ndns++], a->dns[i], strlen(a->dns[i]) + 1);
		o->ttl = -1; /* the agent's cap */
		o->spki = spki;
		o->spki_len = spki_len;
		r = attestd_mint(d, peer, o, res);
	}
	free(o);
	return r;
}
