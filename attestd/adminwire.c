/* adminwire.c - the typed admin requests and results on the monitor
 * channel (admin.h, monproto.h): the front writes requests and reads
 * results, the monitor the other way round; every count and string is
 * capped and a message must be read whole. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "core/err.h"
#include "monproto.h"

void admin_result_clear(struct admin_result *res)
{
	free(res->agents);
	free(res->agent_ca);
	memset(res, 0, sizeof(*res));
}

#define GET_STR(c, f) mon_get_str(c, f, sizeof(f))

static void put_strs(struct mon_out *m, const char *first, size_t stride, uint32_t n)
{
	mon_put_u32(m, n);
	for (uint32_t i = 0; i < n; i++)
		mon_put_str(m, first + (size_t)i * stride);
}

static int get_strs(struct attest_cur *c, char *first, size_t stride, uint32_t max, uint32_t *n)
{
	if (!mon_get_u32(c, n) || *n > max)
		return 0;
	for (uint32_t i = 0; i < *n; i++)
		if (!mon_get_str(c, first + (size_t)i * stride, stride))
			return 0;
	return 1;
}

static int get_fixed(struct attest_cur *c, uint8_t *out, size_t len)
{
	const uint8_t *p;
	size_t n;

	if (!mon_get_bytes(c, len, &p, &n) || n != len)
		return 0;
	memcpy(out, p, len);
	return 1;
}

void admin_req_put(struct mon_out *m, const struct admin_req *q)
{
	const struct admin_registration *g = &q->reg;

	mon_put_u32(m, q->op);
	switch (q->op) {
	case ADMIN_REGISTER:
		mon_put_str(m, g->name);
		mon_put_str(m, g->binary);
		mon_put_str(m, g->script);
		mon_put_str(m, g->tier);
		mon_put_u32(m, g->nuids);
		for (uint32_t i = 0; i < g->nuids && i < AGENT_MAX_UIDS; i++)
			mon_put_u32(m, g->uids[i]);
		put_strs(m, g->scopes[0], sizeof(g->scopes[0]), g->nscopes);
		put_strs(m, g->classes[0], sizeof(g->classes[0]), g->nclasses);
		put_strs(m, g->env_allow[0], sizeof(g->env_allow[0]), g->nenv_allow);
		put_strs(m, g->dns[0], sizeof(g->dns[0]), g->ndns);
		mon_put_i64(m, g->max_ttl);
		mon_put_i64(m, g->delegate_depth);
		break;
	case ADMIN_REVOKE:
	case ADMIN_REMOVE:
	case ADMIN_SHOW:
		mon_put_str(m, q->name);
		break;
	case ADMIN_LIST:
		mon_put_u32(m, q->offset);
		break;
	default:
		break;
	}
}

int admin_req_get(struct attest_cur *c, struct admin_req *q)
{
	struct admin_registration *g = &q->reg;
	int ok = 0;

	memset(q, 0, sizeof(*q));
	if (!mon_get_u32(c, &q->op))
		goto out;
	switch (q->op) {
	case ADMIN_REGISTER:
		if (!GET_STR(c, g->name) || !GET_STR(c, g->binary) || !GET_STR(c, g->script) ||
		    !GET_STR(c, g->tier) || !mon_get_u32(c, &g->nuids) || g->nuids > AGENT_MAX_UIDS)
			goto out;
		for (uint32_t i = 0; i < g->nuids; i++)
			if (!mon_get_u32(c, &g->uids[i]))
				goto out;
		ok = get_strs(c, g->scopes[0], sizeof(g->scopes[0]), AGENT_MAX_SCOPES, &g->nscopes) &&
		     get_strs(c, g->classes[0], sizeof(g->classes[0]), AGENT_MAX_CLASSES,
			      &g->nclasses) &&
		     get_strs(c, g->env_allow[0], sizeof(g->env_allow[0]), AGENT_MAX_ENV_ALLOW,
			      &g->nenv_allow) &&
		     get_strs(c, g->dns[0], sizeof(g->dns[0]), AGENT_MAX_DNS, &g->ndns) &&
		     mon_get_i64(c, &g->max_ttl) && mon_get_i64(c, &g->delegate_depth);
		break;
	case ADMIN_REVOKE:
	case ADMIN_REMOVE:
	case ADMIN_SHOW:
		ok = GET_STR(c, q->name);
		break;
	case ADMIN_LIST:
		ok = mon_get_u32(c, &q->offset);
		break;
	case ADMIN_STATS:
		ok = 1;
		break;
	default:
		break;
	}
	ok = ok && mon_get_end(c);
out:
	return ok ? ATTEST_OK
		  : attest_fail(ATTEST_E_PARSE, "admin request malformed at byte %zu",
				attest_cur_pos(c));
}

static void view_put(struct mon_out *m, const struct agent_view *v)
{
	mon_put_str(m, v->name);
	mon_put_str(m, v->id);
	mon_put_str(m, v->uuid);
	mon_put_str(m, v->binary);
	mon_put_bytes(m, v->exe_sha256, 32);
	mon_put_str(m, v->script);
	mon_put_bytes(m, v->script_sha256, 32);
	mon_put_u32(m, v->nuids);
	for (uint32_t i = 0; i < v->nuids && i < AGENT_MAX_UIDS; i++)
		mon_put_u32(m, v->uids[i]);
	put_strs(m, v->scopes[0], sizeof(v->scopes[0]), v->nscopes);
	mon_put_str(m, v->tier);
	put_strs(m, v->classes[0], sizeof(v->classes[0]), v->nclasses);
	put_strs(m, v->env_allow[0], sizeof(v->env_allow[0]), v->nenv_allow);
	put_strs(m, v->dns[0], sizeof(v->dns[0]), v->ndns);
	mon_put_i64(m, v->score);
	mon_put_i64(m, v->max_ttl);
	mon_put_i64(m, v->delegate_depth);
	mon_put_bytes(m, v->measurement, 32);
	mon_put_bytes(m, v->policy, 32);
	mon_put_u8(m, v->revoked);
}

static int view_get(struct attest_cur *c, struct agent_view *v)
{
	if (!GET_STR(c, v->name) || !GET_STR(c, v->id) || !GET_STR(c, v->uuid) ||
	    !GET_STR(c, v->binary) || !get_fixed(c, v->exe_sha256, 32) || !GET_STR(c, v->script) ||
	    !get_fixed(c, v->script_sha256, 32) || !mon_get_u32(c, &v->nuids) ||
	    v->nuids > AGENT_MAX_UIDS)
		return 0;
	for (uint32_t i = 0; i < v->nuids; i++)
		if (!mon_get_u32(c, &v->uids[i]))
			return 0;
	return get_strs(c, v->scopes[0], sizeof(v->scopes[0]), AGENT_MAX_SCOPES, &v->nscopes) &&
	       GET_STR(c, v->tier) &&
	       get_strs(c, v->classes[0], sizeof(v->classes[0]), AGENT_MAX_CLASSES, &v->nclasses) &&
	       get_strs(c, v->env_allow[0], sizeof(v->env_allow[0]), AGENT_MAX_ENV_ALLOW,
			&v->nenv_allow) &&
	       get_strs(c, v->dns[0], sizeof(v->dns[0]), AGENT_MAX_DNS, &v->ndns) &&
	       mon_get_i64(c, &v->score) && mon_get_i64(c, &v->max_ttl) &&
	       mon_get_i64(c, &v->delegate_depth) && get_fixed(c, v->measurement, 32) &&
	       get_fixed(c, v->policy, 32) && mon_get_u8(c, &v->revoked) && v->revoked <= 1;
}

void admin_result_put(struct mon_out *m, const struct admin_result *res)
{
	const struct admin_stats *s = &res->stats;

	mon_put_u32(m, res->nagents);
	for (uint32_t i = 0; i < res->nagents; i++)
		view_put(m, &res->agents[i]);
	mon_put_u32(m, res->total);
	mon_put_bytes(m, res->agent_ca, res->agent_ca_len);
	mon_put_i64(m, (int64_t)s->tpm_commands);
	mon_put_i64(m, (int64_t)s->agents);
	mon_put_i64(m, (int64_t)s->audit_records);
	mon_put_i64(m, (int64_t)s->unanchored);
	mon_put_i64(m, (int64_t)s->unanchored_age_s);
	mon_put_i64(m, (int64_t)s->max_unanchored_s);
	mon_put_i64(m, (int64_t)s->session_on_demand);
	mon_put_i64(m, (int64_t)s->session_renewed);
	mon_put_i64(m, (int64_t)s->session_renew_failed);
	mon_put_i64(m, (int64_t)s->session_renew_dropped);
	mon_put_i64(m, (int64_t)s->tpm_resident);
	mon_put_str(m, s->clock);
}

int admin_result_get(struct attest_cur *c, uint32_t op, struct admin_result *res)
{
	struct admin_stats *s = &res->stats;
	const uint8_t *ca;
	int64_t v[11];
	int ok = 0;

	memset(res, 0, sizeof(*res));
	res->op = op;
	if (!mon_get_u32(c, &res->nagents) || res->nagents > ADMIN_LIST_PAGE ||
	    (res->nagents > 1 && op != ADMIN_LIST))
		goto out;
	if (res->nagents > 0 && (res->agents = calloc(res->nagents, sizeof(*res->agents))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "admin result");
	for (uint32_t i = 0; i < res->nagents; i++)
		if (!view_get(c, &res->agents[i]))
			goto out;
	if (!mon_get_u32(c, &res->total) || !mon_get_bytes(c, ADMIN_CA_MAX, &ca, &res->agent_ca_len))
		goto out;
	if (res->agent_ca_len > 0) {
		if ((res->agent_ca = malloc(res->agent_ca_len)) == NULL) {
			admin_result_clear(res);
			return attest_fail(ATTEST_E_NOMEM, "admin result");
		}
		memcpy(res->agent_ca, ca, res->agent_ca_len);
	}
	for (size_t i = 0; i < 11; i++)
		if (!mon_get_i64(c, &v[i]) || v[i] < 0)
			goto out;
	s->tpm_commands = (uint64_t)v[0];
	s->agents = (uint64_t)v[1];
	s->audit_records = (uint64_t)v[2];
	s->unanchored = (uint64_t)v[3];
	s->unanchored_age_s = (uint64_t)v[4];
	s->max_unanchored_s = (uint64_t)v[5];
	s->session_on_demand = (uint64_t)v[6];
	s->session_renewed = (uint64_t)v[7];
	s->session_renew_failed = (uint64_t)v[8];
	s->session_renew_dropped = (uint64_t)v[9];
	s->tpm_resident = (uint64_t)v[10];
	ok = GET_STR(c, s->clock) && mon_get_end(c);
out:
	if (ok)
		return ATTEST_OK;
	admin_result_clear(res);
	return attest_fail(ATTEST_E_PARSE, "admin result malformed");
}
