/* admin.c - see admin.h: the admin requests parsed from a peer's JSON
 * and the answers written back (the front's side; adminrun.c acts). */
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

int admin_is_op(const char *op)
{
	static const char *const ops[] = { "register", "revoke", "remove", "list", "show",
					   "stats", NULL };

	for (size_t i = 0; op != NULL && ops[i] != NULL; i++)
		if (strcmp(op, ops[i]) == 0)
			return 1;
	return 0;
}

/* ---------- JSON -> typed (the side that reads the peer) ---------- */

/* Only a length bound here: agent_env_pattern_ok() (register.c) says what
 * is wrong with an entry. */
static int env_entry_len_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= ADMIN_ENV_MAX;
}

/* Only a length bound here: admin_dns_names_check() says what is wrong
 * with a name (after the whole list is read). */
static int dns_len_ok(const char *s) { return strlen(s) <= ATTEST_DNS_NAME_MAX; }

/* An optional list of strings into a fixed array (stride bytes each). */
static int list_into(const cJSON *req, const char *key, int (*ok)(const char *), char *first,
		     size_t stride, size_t max, uint32_t *n)
{
	char *v[AGENT_MAX_SCOPES] = { 0 };
	size_t got = 0;
	int r;

	if (max > AGENT_MAX_SCOPES)
		return attest_fail(ATTEST_E_INTERNAL, "list cap");
	if ((r = str_list(req, key, ok, v, max, &got)) == ATTEST_OK) {
		for (size_t i = 0; i < got; i++) {
			if (strlen(v[i]) >= stride) {
				r = attest_fail(ATTEST_E_PARSE, "\"%s\": invalid entry", key);
				break;
			}
			memcpy(first + i * stride, v[i], strlen(v[i]) + 1);
		}
		*n = (uint32_t)got;
	}
	for (size_t i = 0; i < max; i++)
		free(v[i]);
	return r;
}

static int copy_str(const char *key, const char *v, char *dst, size_t dstsz)
{
	if (v == NULL) {
		dst[0] = '\0';
		return ATTEST_OK;
	}
	if (strlen(v) >= dstsz)
		return attest_fail(ATTEST_E_PARSE, "\"%s\" too long", key);
	memcpy(dst, v, strlen(v) + 1);
	return ATTEST_OK;
}

static int parse_register(const cJSON *req, struct admin_registration *g)
{
	static const char *const keys[] = { "op", "name", "binary", "script", "uids", "scopes",
					    "risk_tier", "data_classes", "max_ttl",
					    "delegate_depth", "env_allow", "dns_names", NULL };
	const char *name, *binary, *script, *tier;
	long ttl = AGENT_DEFAULT_TTL, depth = 0;
	const cJSON *uids, *it;
	int r;

	/* types and sizes here, the values by admin_registration_check at the
	 * end (the monitor checks again with attestd's --max-ttl as the cap) */
	if ((r = attest_json_only(req, keys)) != ATTEST_OK ||
	    (r = attest_json_str(req, "name", ATTEST_MAX_NAME, &name)) != ATTEST_OK ||
	    (r = attest_json_str(req, "binary", ADMIN_PATH_MAX, &binary)) != ATTEST_OK ||
	    (r = opt_str(req, "script", ADMIN_PATH_MAX, &script)) != ATTEST_OK ||
	    (r = attest_json_str(req, "risk_tier", ADMIN_TIER_MAX, &tier)) != ATTEST_OK ||
	    (r = int_field(req, "max_ttl", 1, ADMIN_TTL_CAP, &ttl)) != ATTEST_OK ||
	    (r = int_field(req, "delegate_depth", 0, 3, &depth)) != ATTEST_OK ||
	    (r = copy_str("name", name, g->name, sizeof(g->name))) != ATTEST_OK ||
	    (r = copy_str("binary", binary, g->binary, sizeof(g->binary))) != ATTEST_OK ||
	    (r = copy_str("script", script, g->script, sizeof(g->script))) != ATTEST_OK ||
	    (r = copy_str("risk_tier", tier, g->tier, sizeof(g->tier))) != ATTEST_OK)
		return r;
	if (script != NULL && script[0] == '\0')
		return attest_fail(ATTEST_E_PARSE, "\"script\" must be a path");
	g->max_ttl = ttl;
	g->delegate_depth = depth;
	uids = cJSON_GetObjectItemCaseSensitive(req, "uids");
	if (!cJSON_IsArray(uids) || cJSON_GetArraySize(uids) < 1 ||
	    cJSON_GetArraySize(uids) > AGENT_MAX_UIDS)
		return attest_fail(ATTEST_E_PARSE, "\"uids\" must list 1-%d uids", AGENT_MAX_UIDS);
	cJSON_ArrayForEach(it, uids) {
		if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 4294967294.0 ||
		    it->valuedouble != (double)(uint32_t)it->valuedouble)
			return attest_fail(ATTEST_E_PARSE, "bad uid in \"uids\"");
		g->uids[g->nuids++] = (uint32_t)it->valuedouble;
	}
	if ((r = list_into(req, "scopes", valid_scope, g->scopes[0], sizeof(g->scopes[0]),
			   AGENT_MAX_SCOPES, &g->nscopes)) != ATTEST_OK ||
	    (r = list_into(req, "data_classes", valid_class, g->classes[0], sizeof(g->classes[0]),
			   AGENT_MAX_CLASSES, &g->nclasses)) != ATTEST_OK ||
	    (r = list_into(req, "env_allow", env_entry_len_ok, g->env_allow[0],
			   sizeof(g->env_allow[0]), AGENT_MAX_ENV_ALLOW, &g->nenv_allow)) != ATTEST_OK ||
	    (r = list_into(req, "dns_names", dns_len_ok, g->dns[0], sizeof(g->dns[0]), AGENT_MAX_DNS,
			   &g->ndns)) != ATTEST_OK)
		return r;
	return admin_registration_check(g, ADMIN_TTL_CAP);
}


static int parse_req(const cJSON *req, const char *op, struct admin_req *q)
{
	static const char *const only_op[] = { "op", NULL };
	static const char *const op_name[] = { "op", "name", NULL };
	const char *name;
	int r;

	memset(q, 0, sizeof(*q));
	if (strcmp(op, "register") == 0) {
		q->op = ADMIN_REGISTER;
		return parse_register(req, &q->reg);
	}
	if (strcmp(op, "list") == 0 || strcmp(op, "stats") == 0) {
		q->op = strcmp(op, "list") == 0 ? ADMIN_LIST : ADMIN_STATS;
		return attest_json_only(req, only_op);
	}
	q->op = strcmp(op, "revoke") == 0 ? ADMIN_REVOKE
		: strcmp(op, "remove") == 0 ? ADMIN_REMOVE
		: strcmp(op, "show") == 0   ? ADMIN_SHOW
					    : 0;
	if (q->op == 0)
		return attest_fail(ATTEST_E_PARSE, "unknown op \"%.16s\"", op);
	if ((r = attest_json_only(req, op_name)) != ATTEST_OK ||
	    (r = attest_json_str(req, "name", ATTEST_MAX_NAME, &name)) != ATTEST_OK)
		return r;
	return copy_str("name", name, q->name, sizeof(q->name));
}

/* ---------- typed -> JSON ---------- */

static cJSON *str_array(const char *first, size_t stride, uint32_t n)
{
	cJSON *arr = cJSON_CreateArray();

	for (uint32_t i = 0; arr != NULL && i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(first + (size_t)i * stride));
	return arr;
}

static cJSON *view_json(const struct agent_view *v)
{
	cJSON *o = cJSON_CreateObject(), *uids = cJSON_CreateArray();
	char hex[65];

	if (o == NULL || uids == NULL) {
		cJSON_Delete(o);
		cJSON_Delete(uids);
		return NULL;
	}
	cJSON_AddStringToObject(o, "name", v->name);
	cJSON_AddStringToObject(o, "id", v->id);
	cJSON_AddStringToObject(o, "uuid", v->uuid);
	cJSON_AddStringToObject(o, "binary", v->binary);
	attest_hex(v->exe_sha256, 32, hex);
	cJSON_AddStringToObject(o, "binary_sha256", hex);
	if (v->script[0] != '\0') {
		cJSON_AddStringToObject(o, "script", v->script);
		attest_hex(v->script_sha256, 32, hex);
		cJSON_AddStringToObject(o, "script_sha256", hex);
	}
	for (uint32_t i = 0; i < v->nuids; i++)
		cJSON_AddItemToArray(uids, cJSON_CreateNumber(v->uids[i]));
	cJSON_AddItemToObject(o, "uids", uids);
	cJSON_AddItemToObject(o, "scopes", str_array(v->scopes[0], sizeof(v->scopes[0]), v->nscopes));
	cJSON_AddStringToObject(o, "risk_tier", v->tier);
	cJSON_AddItemToObject(o, "data_classes",
			      str_array(v->classes[0], sizeof(v->classes[0]), v->nclasses));
	cJSON_AddItemToObject(o, "env_allow",
			      str_array(v->env_allow[0], sizeof(v->env_allow[0]), v->nenv_allow));
	cJSON_AddItemToObject(o, "dns_names", str_array(v->dns[0], sizeof(v->dns[0]), v->ndns));
	cJSON_AddNumberToObject(o, "risk_score", (double)v->score);
	cJSON_AddNumberToObject(o, "max_ttl", (double)v->max_ttl);
	cJSON_AddNumberToObject(o, "delegate_depth", (double)v->delegate_depth);
	attest_hex(v->measurement, 32, hex);
	cJSON_AddStringToObject(o, "measurement", hex);
	attest_hex(v->policy, 32, hex);
	cJSON_AddStringToObject(o, "policy_digest", hex);
	cJSON_AddBoolToObject(o, "revoked", v->revoked);
	return o;
}

static int add_ca(const struct admin_result *res, cJSON *reply)
{
	const unsigned char *p = res->agent_ca;
	X509 *ca = d2i_X509(NULL, &p, (long)res->agent_ca_len);
	char *pem = NULL;
	int r;

	if (ca == NULL || p != res->agent_ca + res->agent_ca_len) {
		X509_free(ca);
		return attest_fail(ATTEST_E_INTERNAL, "agent CA certificate malformed");
	}
	r = attest_x509_to_pem(ca, &pem);
	X509_free(ca);
	if (r != ATTEST_OK)
		return r;
	cJSON_AddStringToObject(reply, "agent_ca", pem);
	free(pem);
	return ATTEST_OK;
}

static int add_agent(const struct admin_result *res, cJSON *reply)
{
	cJSON *v;

	if (res->nagents != 1 || (v = view_json(&res->agents[0])) == NULL)
		return attest_fail(ATTEST_E_INTERNAL, "agent summary");
	cJSON_AddItemToObject(reply, "agent", v);
	return ATTEST_OK;
}

static int result_json(const struct admin_result *res, cJSON *reply)
{
	const struct admin_stats *s = &res->stats;
	int r = ATTEST_OK;

	switch (res->op) {
	case ADMIN_REGISTER: /* the order of the replies before the split */
		if ((r = add_ca(res, reply)) == ATTEST_OK)
			r = add_agent(res, reply);
		break;
	case ADMIN_REVOKE:
		r = add_agent(res, reply);
		break;
	case ADMIN_SHOW:
		if ((r = add_agent(res, reply)) == ATTEST_OK)
			r = add_ca(res, reply);
		break;
	case ADMIN_STATS:
		if ((r = attest_json_add_u64(reply, "tpm_commands", s->tpm_commands)) != ATTEST_OK ||
		    (r = attest_json_add_u64(reply, "agents", s->agents)) != ATTEST_OK ||
		    (r = attest_json_add_u64(reply, "audit_records", s->audit_records)) != ATTEST_OK ||
		    (r = attest_json_add_u64(reply, "audit_unanchored_records", s->unanchored)) !=
			    ATTEST_OK ||
		    (r = attest_json_add_u64(reply, "audit_unanchored_age_s", s->unanchored_age_s)) !=
			    ATTEST_OK ||
		    (r = attest_json_add_u64(reply, "audit_max_unanchored_s", s->max_unanchored_s)) !=
			    ATTEST_OK ||
		    (r = attest_json_add_u64(reply, "session_issuers_on_demand",
					     s->session_on_demand)) != ATTEST_OK ||
		    (r = attest_json_add_u64(reply, "session_issuers_renewed", s->session_renewed)) !=
			    ATTEST_OK ||
		    (r = attest_json_add_u64(reply, "session_renewals_failed",
					     s->session_renew_failed)) != ATTEST_OK ||
		    (r = attest_json_add_u64(reply, "session_renewals_dropped",
					     s->session_renew_dropped)) != ATTEST_OK ||
		    (r = attest_json_add_u64(reply, "tpm_resident_keys", s->tpm_resident)) !=
			    ATTEST_OK ||
		    (r = attest_json_add_str(reply, "clock", s->clock)) != ATTEST_OK)
			return r;
		break;
	default:
		break;
	}
	return r;
}

int admin_handle(const cJSON *req, const char *op, admin_runner_fn run, void *ctx, cJSON *reply)
{
	struct admin_req *q = calloc(1, sizeof(*q));
	struct admin_result res = { 0 };
	cJSON *arr = NULL;
	int r;

	if (q == NULL)
		return attest_fail(ATTEST_E_NOMEM, "admin request");
	if ((r = parse_req(req, op, q)) != ATTEST_OK)
		goto out;
	if (q->op != ADMIN_LIST) {
		if ((r = run(ctx, q, &res)) == ATTEST_OK)
			r = result_json(&res, reply);
		goto out;
	}
	if ((arr = cJSON_AddArrayToObject(reply, "agents")) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "list");
		goto out;
	}
	/* page by page: one answer stays well under the channel's cap */
	for (q->offset = 0;;) {
		admin_result_clear(&res);
		if ((r = run(ctx, q, &res)) != ATTEST_OK)
			goto out;
		for (uint32_t i = 0; i < res.nagents; i++)
			cJSON_AddItemToArray(arr, view_json(&res.agents[i]));
		q->offset += res.nagents;
		if (res.nagents == 0 || q->offset >= res.total)
			break;
	}
out:
	admin_result_clear(&res);
	free(q);
	return r;
}
