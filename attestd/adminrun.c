/* adminrun.c - see admin.h: the admin requests carried out (the
 * monitor's side, or attestd --no-privsep; admin.c parses them). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "admin.h"
#include "core/err.h"
#include "core/json.h"
#include "push.h"
#include "register.h"
#include "request.h"

/* ---------- acting (the privileged side) ---------- */

static void copy_fixed(char *dst, size_t dstsz, const char *src)
{
	snprintf(dst, dstsz, "%s", src);
}

void agent_view_of(const struct agent *a, struct agent_view *v)
{
	memset(v, 0, sizeof(*v));
	copy_fixed(v->name, sizeof(v->name), a->name);
	copy_fixed(v->id, sizeof(v->id), a->id);
	copy_fixed(v->uuid, sizeof(v->uuid), a->uuid);
	copy_fixed(v->binary, sizeof(v->binary), a->binary);
	memcpy(v->exe_sha256, a->exe_sha256, 32);
	copy_fixed(v->script, sizeof(v->script), a->script);
	memcpy(v->script_sha256, a->script_sha256, 32);
	for (size_t i = 0; i < a->nuids && i < AGENT_MAX_UIDS; i++)
		v->uids[v->nuids++] = (uint32_t)a->uids[i];
	for (size_t i = 0; i < a->nscopes && i < AGENT_MAX_SCOPES; i++)
		copy_fixed(v->scopes[v->nscopes++], sizeof(v->scopes[0]), a->scopes[i]);
	copy_fixed(v->tier, sizeof(v->tier), a->tier);
	for (size_t i = 0; i < a->nclasses && i < AGENT_MAX_CLASSES; i++)
		copy_fixed(v->classes[v->nclasses++], sizeof(v->classes[0]), a->classes[i]);
	for (size_t i = 0; i < a->nenv_allow && i < AGENT_MAX_ENV_ALLOW; i++)
		copy_fixed(v->env_allow[v->nenv_allow++], sizeof(v->env_allow[0]), a->env_allow[i]);
	for (size_t i = 0; i < a->ndns && i < AGENT_MAX_DNS; i++)
		copy_fixed(v->dns[v->ndns++], sizeof(v->dns[0]), a->dns[i]);
	v->score = a->score;
	v->max_ttl = a->max_ttl;
	v->delegate_depth = a->delegate_depth;
	memcpy(v->measurement, a->measurement, 32);
	memcpy(v->policy, a->policy, 32);
	v->revoked = a->revoked != 0;
}

static int one_agent(const struct agent *a, int with_ca, struct admin_result *res)
{
	unsigned char *der = NULL;
	int n;

	if ((res->agents = calloc(1, sizeof(*res->agents))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "agent view");
	agent_view_of(a, &res->agents[0]);
	res->nagents = 1;
	if (!with_ca)
		return ATTEST_OK;
	if ((n = i2d_X509(a->agent_ca, &der)) <= 0 || n > ADMIN_CA_MAX) {
		OPENSSL_free(der);
		return attest_fail_ossl(ATTEST_E_CRYPTO, "agent CA encoding");
	}
	res->agent_ca = malloc((size_t)n);
	if (res->agent_ca != NULL)
		memcpy(res->agent_ca, der, (size_t)n);
	OPENSSL_free(der);
	if (res->agent_ca == NULL)
		return attest_fail(ATTEST_E_NOMEM, "agent CA");
	res->agent_ca_len = (size_t)n;
	return ATTEST_OK;
}

static int run_list(struct attestd *d, uint32_t offset, struct admin_result *res)
{
	size_t n;

	res->total = d->reg.n > UINT32_MAX ? UINT32_MAX : (uint32_t)d->reg.n;
	if (offset > d->reg.n)
		return attest_fail(ATTEST_E_INVALID_ARG, "list offset %u past the %zu agents",
				   (unsigned)offset, d->reg.n);
	n = d->reg.n - offset < ADMIN_LIST_PAGE ? d->reg.n - offset : ADMIN_LIST_PAGE;
	if (n > 0 && (res->agents = calloc(n, sizeof(*res->agents))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "list");
	for (size_t i = 0; i < n; i++)
		agent_view_of(d->reg.agents[offset + i], &res->agents[i]);
	res->nagents = (uint32_t)n;
	return ATTEST_OK;
}

static int run_stats(struct attestd *d, struct admin_stats *s)
{
	uint64_t nun = 0, age = 0;

	attestd_audit_unanchored(&d->log, (uint64_t)time(NULL), &nun, &age);
	attestd_host_lock(&d->host);
	s->tpm_commands = attest_tpm_command_count(d->host.tpm);
	s->tpm_resident = attest_tpm_resident(d->host.tpm);
	attestd_host_unlock(&d->host);
	s->agents = d->reg.n;
	s->audit_records = d->log.audit != NULL ? attest_audit_size(d->log.audit) : 0;
	s->unanchored = nun;
	s->unanchored_age_s = age;
	s->max_unanchored_s = d->log.max_unanchored_s;
	s->session_on_demand = d->session.on_demand;
	s->session_renewed = d->session.renewed;
	s->session_renew_failed = d->session.renew_failed;
	s->session_renew_dropped = d->session.renew_dropped;
	snprintf(s->clock, sizeof(s->clock), "%s", d->clock.bad ? d->clock.why : "ok");
	return ATTEST_OK;
}

int admin_run(struct attestd *d, const struct admin_req *q, struct admin_result *res)
{
	const struct agent *a = NULL;
	int r;

	memset(res, 0, sizeof(*res));
	res->op = q->op;
	if ((r = attestd_host_tpm(&d->host)) != ATTEST_OK)
		return r;
	switch (q->op) {
	case ADMIN_REGISTER:
		/* register makes a certificate (the agent CA) */
		if ((r = attestd_issuance_allowed(d)) == ATTEST_OK &&
		    (r = register_agent(d, &q->reg, &a)) == ATTEST_OK)
			r = one_agent(a, 1, res);
		break;
	case ADMIN_REVOKE:
		if ((r = revoke_agent(d, q->name, &a)) == ATTEST_OK)
			r = one_agent(a, 0, res);
		break;
	case ADMIN_REMOVE:
		r = remove_agent(d, q->name);
		break;
	case ADMIN_LIST:
		r = run_list(d, q->offset, res);
		break;
	case ADMIN_SHOW:
		if ((a = registry_find(&d->reg, q->name)) == NULL)
			r = attest_fail(ATTEST_E_AGENT_UNKNOWN, "no agent \"%s\"", q->name);
		else
			r = one_agent(a, 1, res);
		break;
	case ADMIN_STATS:
		r = run_stats(d, &res->stats);
		break;
	default:
		r = attest_fail(ATTEST_E_PARSE, "unknown admin op %u", (unsigned)q->op);
		break;
	}
	if (r != ATTEST_OK) { /* the caller handles a TPM failure (attestd_host_tpm_failed) */
		admin_result_clear(res);
		return r;
	}
	/* the registry changed even when its summary could not be made */
	if (q->op == ADMIN_REGISTER || q->op == ADMIN_REVOKE || q->op == ADMIN_REMOVE)
		attestd_push_inventory_changed(d->push);
	return ATTEST_OK;
}
