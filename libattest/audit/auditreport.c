/* auditreport.c - reading records back: filtered queries and the HIPAA
 * accounting of disclosures (45 CFR 164.528). See docs/audit.md. */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/auditfmt.h"
#include "core/err.h"
#include "core/json.h"

struct query_ctx {
	const struct attest_audit_query *q;
	int accounting, include_exempt;
	attest_audit_view_fn fn;
	void *arg;
};

static const char *opt_str(const cJSON *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static int glob(const char *pattern, const char *s)
{
	return pattern == NULL || (s != NULL && fnmatch(pattern, s, 0) == 0);
}

int attest_audit_purpose_exempt(const char *code)
{
	static const char *const exempt[] = { "TREATMENT", "PAYMENT", "OPERATIONS" };

	if (code == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(exempt) / sizeof(exempt[0]); i++)
		if (strcmp(code, exempt[i]) == 0)
			return 1;
	return 0;
}

static int is_disclosure(const struct attest_audit_view *v)
{
	if (v->type == NULL || v->outcome == NULL)
		return 0;
	return (strcmp(v->type, "decision") == 0 && strcmp(v->outcome, "allow") == 0) ||
	       (strcmp(v->type, "disclosure") == 0 && strcmp(v->outcome, "ok") == 0);
}

static int matches(const struct query_ctx *c, const struct attest_audit_view *v)
{
	const struct attest_audit_query *q = c->q;
	int agent_ok = q->agent == NULL;

	if (q->type != NULL && (v->type == NULL || strcmp(q->type, v->type) != 0))
		return 0;
	if ((q->from != 0 && v->time < q->from) || (q->to != 0 && v->time > q->to))
		return 0;
	for (size_t i = 0; !agent_ok && i < v->nagents; i++)
		agent_ok = glob(q->agent, v->agents[i]);
	if (!agent_ok || !glob(q->user, v->user))
		return 0;
	if (!glob(q->subject, v->subject != NULL ? v->subject : v->resource))
		return 0;
	if (c->accounting) {
		if (!is_disclosure(v))
			return 0;
		if (!c->include_exempt && attest_audit_purpose_exempt(v->purpose))
			return 0;
	}
	return 1;
}

static int query_record(uint64_t seq, const uint8_t *rec, size_t len, void *arg)
{
	struct query_ctx *c = arg;
	struct attest_audit_view v;
	const cJSON *agents, *it;
	cJSON *o = NULL;
	int r;

	memset(&v, 0, sizeof(v));
	if ((r = attest_json_parse(rec, len, ATTEST_AUDIT_RECORD_MAX, &o)) != ATTEST_OK)
	{
		char what[48];

		snprintf(what, sizeof(what), "record %llu", (unsigned long long)seq);
		return attest_fail_wrap(r, "%s", what);
	}
	if ((r = attest_json_u64(o, "time", &v.time)) != ATTEST_OK)
		goto out;
	v.seq = seq;
	v.raw = rec;
	v.rawlen = len;
	v.type = opt_str(o, "type");
	v.host = opt_str(o, "host");
	v.source = opt_str(o, "source");
	v.user = opt_str(o, "user");
	v.purpose = opt_str(o, "purpose");
	v.purpose_text = opt_str(o, "purpose_text");
	v.subject = opt_str(o, "subject");
	v.action = opt_str(o, "action");
	v.resource = opt_str(o, "resource");
	v.outcome = opt_str(o, "outcome");
	v.reason = opt_str(o, "reason");
	agents = cJSON_GetObjectItemCaseSensitive(o, "agents");
	if (cJSON_IsArray(agents))
		cJSON_ArrayForEach(it, agents)
		{
			if (!cJSON_IsString(it) || v.nagents >= ATTEST_AUDIT_LIST_MAX) {
				r = attest_fail(ATTEST_E_PARSE, "record %llu: bad agents",
						(unsigned long long)seq);
				goto out;
			}
			v.agents[v.nagents++] = it->valuestring;
		}
	r = matches(c, &v) ? c->fn(&v, c->arg) : ATTEST_OK;
out:
	cJSON_Delete(o);
	return r;
}

int attest_audit_query(const char *dir, const struct attest_audit_query *q,
		       attest_audit_view_fn fn, void *arg)
{
	static const struct attest_audit_query all = { 0 };
	struct query_ctx c = { q != NULL ? q : &all, 0, 0, fn, arg };

	return attest_audit_scan(dir, query_record, &c, NULL);
}

int attest_audit_accounting(const char *dir, const struct attest_audit_query *q,
			    int include_exempt, attest_audit_view_fn fn, void *arg)
{
	struct query_ctx c = { q, 1, include_exempt, fn, arg };

	if (q == NULL || q->subject == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "accounting needs a subject pattern");
	return attest_audit_scan(dir, query_record, &c, NULL);
}
