/* policy.c - declarative access policy: load (validate and precompile) and
 * evaluate (docs/policy.md, include/attest/policy.h).
 *
 * Loading does all the work that can be done once: patterns are split into
 * segments and classified (literal, glob, "**"), purposes become a bit mask,
 * tiers and time windows numbers. Evaluation checks the request once, then
 * walks the rules without allocating; only the final decision is formatted.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "attest/intent.h"
#include "attest/policy.h"
#include "core/err.h"
#include "core/json.h"
#include "decide/httproute.h"
#include "x509/spiffebundle.h"

#define ACTION_MAX 64
#define CTX_KEY_MAX 64
#define CTX_VALUE_MAX 1024
#define AGENT_ID_MAX 2048
#define USER_MAX 256
#define DESC_MAX 1024
#define NUM_MAX 9007199254740991LL /* 2^53 - 1: exact as a JSON double */
#define SPIFFE "spiffe://"

/* ---- patterns ---- */

enum seg_kind { SEG_LIT, SEG_GLOB, SEG_ANY };

struct seg {
	uint16_t off, len; /* into pat.text */
	uint8_t kind;
};

struct pat {
	char *text;
	struct seg *segs;
	size_t nseg;
};

/* What a pattern is matched against decides what it may contain. */
enum pat_kind {
	PAT_RESOURCE, /* canonical path segments */
	PAT_AGENT,    /* "spiffe://" then canonical segments */
	PAT_TEXT,     /* users and context values: any non-control bytes */
};

/* ---- conditions: requirements of an allow rule, triggers of a deny rule.
 * The enum order is the order in which a failure is reported. */
enum cond_bit {
	C_INTENT,
	C_USERS,
	C_AGENTS,
	C_PURPOSES,
	C_SCOPES,
	C_MAX_DEPTH,
	C_MAX_TIER,
	C_MIN_TIER,
	C_MAX_SCORE,
	C_MIN_SCORE,
	C_CLASSES,
	C_CONTEXT,
	C_TIME,
	C_HOST,
	C_MAX_ANOMALY,
	C_MIN_ANOMALY,
	C_FRESH,
	C__COUNT
};

static const char *const cond_keys[C__COUNT + 1] = {
	[C_INTENT] = "require_intent",   [C_USERS] = "users",
	[C_AGENTS] = "agents",           [C_PURPOSES] = "purposes",
	[C_SCOPES] = "scopes",           [C_MAX_DEPTH] = "max_depth",
	[C_MAX_TIER] = "max_risk_tier",  [C_MIN_TIER] = "min_risk_tier",
	[C_MAX_SCORE] = "max_risk_score", [C_MIN_SCORE] = "min_risk_score",
	[C_CLASSES] = "data_classes",    [C_CONTEXT] = "context",
	[C_TIME] = "time_windows",       [C_HOST] = "host_attested_within",
	[C_MAX_ANOMALY] = "max_anomaly", [C_MIN_ANOMALY] = "min_anomaly",
	[C_FRESH] = "anomaly_fresh_intent",
	[C__COUNT] = NULL,
};

struct window {
	uint8_t days; /* bit 0 = Monday ... bit 6 = Sunday */
	int32_t from, to; /* seconds of the UTC day, from < to <= 86400 */
};

struct ctxreq {
	char *key;
	struct pat *vals;
	size_t nvals;
};

struct cond {
	unsigned have; /* 1 << enum cond_bit for each condition given */
	char **scopes;
	size_t nscopes;
	unsigned purposes; /* 1 << enum attest_purpose */
	int max_depth, max_tier, min_tier, max_score, min_score;
	char **classes;
	size_t nclasses;
	struct pat *agents;
	size_t nagents;
	struct pat *users;
	size_t nusers;
	int64_t host_within;
	struct window *win;
	size_t nwin;
	struct ctxreq *ctx;
	size_t nctx;
	double max_anomaly, min_anomaly, fresh_above;
	int64_t fresh_within;
};

/* "federated": {TD: {"ids": [...], "scopes": [...]}} of an allow rule:
 * agents of federated trust domain TD whose SPIFFE ID matches one of ids
 * may be allowed by the rule, holding scopes (docs/policy.md "Federated
 * trust domains"). */
struct fedgrant {
	char td[FED_TD_MAX + 1];
	struct pat *ids;
	size_t nids;
	char **scopes;
	size_t nscopes;
};

struct rule {
	char name[ATTEST_POLICY_NAME_MAX + 1];
	int deny;
	struct pat *res;
	size_t nres;
	char **actions; /* NULL: any action ("*") */
	size_t nactions;
	struct cond c;
	struct fedgrant *fed; /* allow rules only */
	size_t nfed;
};

struct attest_policy {
	struct rule *rules;
	size_t nrules;
	struct attest_http_routes *http; /* NULL without "http_routes" */
	char version[2 * 32 + 1];
};

static const char *const tier_names[] = { "unknown", "low", "medium", "high", "critical" };
static const char *const day_names[] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };

int attest_risk_tier_from_name(const char *name)
{
	if (name == NULL)
		return ATTEST_RISK_TIER_UNKNOWN;
	for (int i = ATTEST_RISK_TIER_LOW; i <= ATTEST_RISK_TIER_CRITICAL; i++)
		if (strcmp(name, tier_names[i]) == 0)
			return i;
	return ATTEST_RISK_TIER_UNKNOWN;
}

const char *attest_risk_tier_name(int tier)
{
	if (tier < ATTEST_RISK_TIER_LOW || tier > ATTEST_RISK_TIER_CRITICAL)
		return tier_names[0];
	return tier_names[tier];
}

static int purpose_code(const char *name)
{
	for (int i = ATTEST_PURPOSE_TREATMENT; i <= ATTEST_PURPOSE_OTHER; i++)
		if (strcmp(name, attest_purpose_name((enum attest_purpose)i)) == 0)
			return i;
	return 0;
}

/* ---- freeing ---- */

static void strs_free(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void pats_free(struct pat *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].text);
		free(v[i].segs);
	}
	free(v);
}

static void cond_free(struct cond *c)
{
	strs_free(c->scopes, c->nscopes);
	strs_free(c->classes, c->nclasses);
	pats_free(c->agents, c->nagents);
	pats_free(c->users, c->nusers);
	free(c->win);
	if (c->ctx != NULL)
		for (size_t i = 0; i < c->nctx; i++) {
			free(c->ctx[i].key);
			pats_free(c->ctx[i].vals, c->ctx[i].nvals);
		}
	free(c->ctx);
}

void attest_policy_free(struct attest_policy *p)
{
	if (p == NULL)
		return;
	if (p->rules != NULL)
		for (size_t i = 0; i < p->nrules; i++) {
			pats_free(p->rules[i].res, p->rules[i].nres);
			strs_free(p->rules[i].actions, p->rules[i].nactions);
			cond_free(&p->rules[i].c);
			for (size_t j = 0; p->rules[i].fed != NULL && j < p->rules[i].nfed; j++) {
				pats_free(p->rules[i].fed[j].ids, p->rules[i].fed[j].nids);
				strs_free(p->rules[i].fed[j].scopes, p->rules[i].fed[j].nscopes);
			}
			free(p->rules[i].fed);
		}
	free(p->rules);
	attest_http_routes_free(p->http);
	free(p);
}

int attest_policy_http_map(const struct attest_policy *p, const char *method, const char *host,
			   const char *uri, struct attest_http_target *out)
{
	if (out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "http map: NULL out");
	if (p == NULL) {
		memset(out, 0, sizeof(*out));
		return attest_fail(ATTEST_E_FWD_NO_ROUTE, "no policy");
	}
	return attest_http_routes_map(p->http, method, host, uri, out);
}

const char *attest_policy_version(const struct attest_policy *p)
{
	return p != NULL ? p->version : "";
}

size_t attest_policy_rule_count(const struct attest_policy *p)
{
	return p != NULL ? p->nrules : 0;
}

size_t attest_policy_rule_scopes(const struct attest_policy *p, const char *name,
				 const char *const **out)
{
	*out = NULL;
	if (p == NULL || name == NULL)
		return 0;
	for (size_t i = 0; i < p->nrules; i++)
		if (strcmp(p->rules[i].name, name) == 0) {
			*out = (const char *const *)p->rules[i].c.scopes;
			return p->rules[i].c.scopes != NULL ? p->rules[i].c.nscopes : 0;
		}
	return 0;
}

/* ---- loading ---- */

/* Where in the document we are, for error details. */
struct ld {
	char where[128];
};

static int bad(const struct ld *l, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(const struct ld *l, const char *field, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return attest_fail(ATTEST_E_POLICY, "%s%sfield \"%s\": %s", l->where,
			   l->where[0] != '\0' ? ": " : "", field, msg);
}

static int only_keys(const struct ld *l, const cJSON *obj, const char *objname,
		     const char *const *keys)
{
	for (const cJSON *c = obj->child; c != NULL; c = c->next) {
		const char *const *k;

		for (k = keys; *k != NULL; k++)
			if (strcmp(*k, c->string) == 0)
				break;
		if (*k == NULL)
			return bad(l, objname, "unknown field \"%.64s\"", c->string);
	}
	return ATTEST_OK;
}

static int printable(const char *s, size_t n, int allow_space)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == ' ' ? !allow_space : (ch < 0x21 || ch > 0x7e))
			return 0;
	}
	return 1;
}

/* Users and context values: any bytes but control characters (UTF-8 as is). */
static int no_controls(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7f)
			return 0;
	}
	return 1;
}

static int name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '_' || ch == '-';
}

/* Canonical '/'-separated path: no empty, "." or ".." segment. */
static const char *path_problem(const char *s, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '/')
			continue;
		size_t len = i - start;
		if (len == 0)
			return "empty path segment";
		if ((len == 1 && s[start] == '.') ||
		    (len == 2 && s[start] == '.' && s[start + 1] == '.'))
			return "\".\" or \"..\" segment";
		start = i + 1;
	}
	return NULL;
}

/* Validate and precompile one pattern. Returns a reason or NULL. */
static const char *pat_compile(const char *s, enum pat_kind kind, struct pat *out)
{
	size_t n = strlen(s), nseg = 1, k = 0, start = 0;
	const char *why;
	struct seg *segs;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n > ATTEST_POLICY_PATTERN_MAX)
		return "pattern must be 1..256 bytes";
	if (kind == PAT_TEXT ? !no_controls(s, n) : !printable(s, n, 0))
		return kind == PAT_TEXT ? "control character in pattern"
					: "pattern must be printable ASCII without spaces";
	if (kind == PAT_AGENT) {
		if (n <= strlen(SPIFFE) || strncmp(s, SPIFFE, strlen(SPIFFE)) != 0)
			return "agent pattern must start with spiffe:// and name a trust domain";
		if ((why = path_problem(s + strlen(SPIFFE), n - strlen(SPIFFE))) != NULL)
			return why;
	} else if (kind == PAT_RESOURCE && (why = path_problem(s, n)) != NULL) {
		return why;
	}
	for (size_t i = 0; i < n; i++)
		nseg += s[i] == '/';
	/* +1: a trailing "**" becomes "*" and "**" (at least one segment) */
	if ((segs = calloc(nseg + 1, sizeof(*segs))) == NULL)
		return "out of memory";
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '/')
			continue;
		size_t len = i - start;
		const char *seg = s + start;
		const char *star = memchr(seg, '*', len);
		uint8_t kd = star == NULL ? SEG_LIT : SEG_GLOB;

		if (len == 2 && seg[0] == '*' && seg[1] == '*') {
			if (k > 0 && segs[k - 1].kind == SEG_ANY) {
				free(segs);
				return "\"**/**\" repeats \"**\"";
			}
			kd = SEG_ANY;
			if (i == n && k > 0) /* "a/" then "**": one or more segments */
				segs[k++] = (struct seg){ (uint16_t)start, 1, SEG_GLOB };
		} else {
			for (size_t j = 0; j + 1 < len; j++)
				if (seg[j] == '*' && seg[j + 1] == '*') {
					free(segs);
					return "\"**\" must be a whole segment";
				}
		}
		segs[k++] = (struct seg){ (uint16_t)start, (uint16_t)len, kd };
		start = i + 1;
	}
	if ((out->text = strdup(s)) == NULL) {
		free(segs);
		return "out of memory";
	}
	out->segs = segs;
	out->nseg = k;
	return NULL;
}

/* '*' matches any run of bytes within the segment (the empty one too). */
static int glob_seg(const char *p, size_t plen, const char *s, size_t slen)
{
	size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;

	while (si < slen) {
		if (pi < plen && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < plen && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star != SIZE_MAX) {
			pi = star + 1;
			si = ++mark;
		} else {
			return 0;
		}
	}
	while (pi < plen && p[pi] == '*')
		pi++;
	return pi == plen;
}

static size_t seg_end(const char *s, size_t len, size_t at)
{
	const char *q = memchr(s + at, '/', len - at);

	return q != NULL ? (size_t)(q - s) : len;
}

/* Segment-level glob: "**" matches any run of whole segments, every other
 * pattern segment exactly one subject segment. Greedy with one backtrack
 * point (the last "**"), so O(segments^2) at worst. si is the start of the
 * next subject segment, len + 1 once none is left. */
static int pat_match(const struct pat *p, const char *s, size_t len)
{
	size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;

	for (;;) {
		if (pi < p->nseg && p->segs[pi].kind == SEG_ANY) {
			star = pi++;
			mark = si;
			continue;
		}
		if (si > len) {
			if (pi == p->nseg)
				return 1;
		} else if (pi < p->nseg) {
			const struct seg *g = &p->segs[pi];
			size_t e = seg_end(s, len, si);
			int ok = g->kind == SEG_LIT
					 ? (e - si == g->len && memcmp(s + si, p->text + g->off, g->len) == 0)
					 : glob_seg(p->text + g->off, g->len, s + si, e - si);
			if (ok) {
				pi++;
				si = e + 1;
				continue;
			}
		}
		if (star == SIZE_MAX || mark > len)
			return 0;
		mark = seg_end(s, len, mark) + 1;
		pi = star + 1;
		si = mark;
	}
}

static int pats_match(const struct pat *v, size_t n, const char *s, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (pat_match(&v[i], s, len))
			return 1;
	return 0;
}

/* An array of 1..ATTEST_POLICY_LIST_MAX distinct strings. */
static int get_array(const struct ld *l, const cJSON *it, const char *field)
{
	int n;

	if (!cJSON_IsArray(it))
		return bad(l, field, "not an array");
	n = cJSON_GetArraySize(it);
	if (n < 1 || n > ATTEST_POLICY_LIST_MAX)
		return bad(l, field, "must hold 1..%d entries, holds %d", ATTEST_POLICY_LIST_MAX, n);
	for (const cJSON *c = it->child; c != NULL; c = c->next) {
		if (!cJSON_IsString(c) || c->valuestring == NULL)
			return bad(l, field, "entries must be strings");
		for (const cJSON *d = it->child; d != c; d = d->next)
			if (strcmp(d->valuestring, c->valuestring) == 0)
				return bad(l, field, "\"%.64s\" listed twice", c->valuestring);
	}
	return ATTEST_OK;
}

/* Scopes and data classes: 1..256 printable ASCII bytes without spaces,
 * compared as exact strings. */
static int get_strs(const struct ld *l, const cJSON *it, const char *field, char ***out,
		    size_t *nout)
{
	char **v = NULL;
	size_t n = 0;
	int r;

	if ((r = get_array(l, it, field)) != ATTEST_OK)
		return r;
	if ((v = calloc((size_t)cJSON_GetArraySize(it), sizeof(*v))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "policy strings");
	for (const cJSON *c = it->child; c != NULL; c = c->next) {
		size_t len = strlen(c->valuestring);

		if (len == 0 || len > ATTEST_POLICY_PATTERN_MAX || !printable(c->valuestring, len, 0)) {
			r = bad(l, field, "\"%.64s\" is not 1..%d printable ASCII bytes without spaces",
				c->valuestring, ATTEST_POLICY_PATTERN_MAX);
			goto out;
		}
		if ((v[n] = strdup(c->valuestring)) == NULL) {
			r = attest_fail(ATTEST_E_NOMEM, "policy strings");
			goto out;
		}
		n++;
	}
	*out = v;
	*nout = n;
	v = NULL; /* transferred */
	r = ATTEST_OK;
out:
	strs_free(v, n);
	return r;
}

static int get_pats(const struct ld *l, const cJSON *it, const char *field, enum pat_kind kind,
		    struct pat **out, size_t *nout)
{
	struct pat *v = NULL;
	size_t n = 0;
	int r;

	if ((r = get_array(l, it, field)) != ATTEST_OK)
		return r;
	if ((v = calloc((size_t)cJSON_GetArraySize(it), sizeof(*v))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "policy patterns");
	for (const cJSON *c = it->child; c != NULL; c = c->next) {
		const char *why = pat_compile(c->valuestring, kind, &v[n]);

		if (why != NULL) {
			r = bad(l, field, "pattern \"%.64s\": %s", c->valuestring, why);
			goto out;
		}
		n++;
	}
	*out = v;
	*nout = n;
	v = NULL; /* transferred */
	r = ATTEST_OK;
out:
	pats_free(v, n);
	return r;
}

/* A JSON number holding an integer in min..max. */
static int get_int(const struct ld *l, const cJSON *it, const char *field, int64_t min,
		   int64_t max, int64_t *out)
{
	double d;

	if (!cJSON_IsNumber(it))
		return bad(l, field, "not a number");
	d = it->valuedouble;
	if (!(d >= (double)min && d <= (double)max) || d != (double)(int64_t)d)
		return bad(l, field, "must be a whole number in %lld..%lld", (long long)min,
			   (long long)max);
	*out = (int64_t)d;
	return ATTEST_OK;
}

/* A JSON number in 0..1 (an anomaly score). */
static int get_unit(const struct ld *l, const cJSON *it, const char *field, double *out)
{
	if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0 && it->valuedouble <= 1))
		return bad(l, field, "must be a number in 0..1");
	*out = it->valuedouble;
	return ATTEST_OK;
}

/* {"above": 0..1, "within": seconds} */
static int get_fresh(const struct ld *l, const cJSON *it, struct cond *c)
{
	static const char *const keys[] = { "above", "within", NULL };
	const cJSON *a, *w;
	int r;

	if (!cJSON_IsObject(it))
		return bad(l, "anomaly_fresh_intent", "not an object");
	if ((r = only_keys(l, it, "anomaly_fresh_intent", keys)) != ATTEST_OK)
		return r;
	a = cJSON_GetObjectItemCaseSensitive(it, "above");
	w = cJSON_GetObjectItemCaseSensitive(it, "within");
	if (a == NULL || w == NULL)
		return bad(l, "anomaly_fresh_intent", "needs \"above\" and \"within\"");
	if ((r = get_unit(l, a, "anomaly_fresh_intent.above", &c->fresh_above)) != ATTEST_OK)
		return r;
	return get_int(l, w, "anomaly_fresh_intent.within", 1, 86400, &c->fresh_within);
}

static int get_tier(const struct ld *l, const cJSON *it, const char *field, int *out)
{
	if (!cJSON_IsString(it) || (*out = attest_risk_tier_from_name(it->valuestring)) == 0)
		return bad(l, field, "must be one of \"low\", \"medium\", \"high\", \"critical\"");
	return ATTEST_OK;
}

/* "HH:MM", 00:00..24:00 -> seconds of the day. */
static int hhmm(const char *s, int32_t *out)
{
	if (strlen(s) != 5 || s[2] != ':')
		return 0;
	for (int i = 0; i < 5; i++)
		if (i != 2 && (s[i] < '0' || s[i] > '9'))
			return 0;
	int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && m != 0))
		return 0;
	*out = (int32_t)(h * 3600 + m * 60);
	return 1;
}

static int get_windows(const struct ld *l, const cJSON *it, struct cond *c)
{
	static const char *const keys[] = { "days", "from", "to", NULL };
	const char *f = "time_windows";
	int n, r;

	if (!cJSON_IsArray(it))
		return bad(l, f, "not an array");
	n = cJSON_GetArraySize(it);
	if (n < 1 || n > ATTEST_POLICY_LIST_MAX)
		return bad(l, f, "must hold 1..%d windows", ATTEST_POLICY_LIST_MAX);
	if ((c->win = calloc((size_t)n, sizeof(*c->win))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "policy windows");
	for (const cJSON *w = it->child; w != NULL; w = w->next) {
		struct window *x = &c->win[c->nwin];
		const cJSON *days, *from, *to;

		if (!cJSON_IsObject(w))
			return bad(l, f, "window %zu is not an object", c->nwin);
		if ((r = only_keys(l, w, f, keys)) != ATTEST_OK)
			return r;
		days = cJSON_GetObjectItemCaseSensitive(w, "days");
		from = cJSON_GetObjectItemCaseSensitive(w, "from");
		to = cJSON_GetObjectItemCaseSensitive(w, "to");
		if (!cJSON_IsString(from) || !cJSON_IsString(to) ||
		    !hhmm(from->valuestring, &x->from) || !hhmm(to->valuestring, &x->to))
			return bad(l, f, "window %zu needs \"from\" and \"to\" as \"HH:MM\" (UTC)",
				   c->nwin);
		if (x->from >= x->to)
			return bad(l, f, "window %zu: \"from\" must be before \"to\" (split a window "
				   "over midnight in two)", c->nwin);
		if (days == NULL) {
			x->days = 0x7f;
		} else {
			if ((r = get_array(l, days, "time_windows.days")) != ATTEST_OK)
				return r;
			for (const cJSON *d = days->child; d != NULL; d = d->next) {
				size_t k;

				for (k = 0; k < 7; k++)
					if (strcmp(d->valuestring, day_names[k]) == 0)
						break;
				if (k == 7)
					return bad(l, "time_windows.days",
						   "\"%.16s\" is not one of mon tue wed thu fri sat sun",
						   d->valuestring);
				x->days |= (uint8_t)(1u << k);
			}
		}
		c->nwin++;
	}
	return ATTEST_OK;
}

static int get_context(const struct ld *l, const cJSON *it, struct cond *c)
{
	int n, r;

	if (!cJSON_IsObject(it))
		return bad(l, "context", "not an object");
	n = cJSON_GetArraySize(it);
	if (n < 1 || n > ATTEST_POLICY_LIST_MAX)
		return bad(l, "context", "must hold 1..%d keys", ATTEST_POLICY_LIST_MAX);
	if ((c->ctx = calloc((size_t)n, sizeof(*c->ctx))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "policy context");
	for (const cJSON *k = it->child; k != NULL; k = k->next) {
		struct ctxreq *x = &c->ctx[c->nctx];
		size_t len = strlen(k->string);

		for (size_t i = 0; i < len; i++)
			if (!name_char(k->string[i]))
				len = 0;
		if (len == 0 || len > CTX_KEY_MAX)
			return bad(l, "context", "key \"%.64s\" is not 1..%d of A-Z a-z 0-9 . _ -",
				   k->string, CTX_KEY_MAX);
		if ((x->key = strdup(k->string)) == NULL)
			return attest_fail(ATTEST_E_NOMEM, "policy context");
		c->nctx++;
		if ((r = get_pats(l, k, "context", PAT_TEXT, &x->vals, &x->nvals)) != ATTEST_OK)
			return r;
	}
	return ATTEST_OK;
}

static int get_cond(const struct ld *l, const cJSON *obj, const char *objname, struct cond *c)
{
	int64_t v;
	int r;

	if (!cJSON_IsObject(obj))
		return bad(l, objname, "not an object");
	if ((r = only_keys(l, obj, objname, cond_keys)) != ATTEST_OK)
		return r;
	for (int b = 0; b < C__COUNT; b++) {
		const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, cond_keys[b]);
		const char *f = cond_keys[b];

		if (it == NULL)
			continue;
		c->have |= 1u << b;
		switch (b) {
		case C_INTENT:
			if (!cJSON_IsTrue(it))
				return bad(l, f, "may only be true (leave it out otherwise)");
			break;
		case C_USERS:
			r = get_pats(l, it, f, PAT_TEXT, &c->users, &c->nusers);
			break;
		case C_AGENTS:
			r = get_pats(l, it, f, PAT_AGENT, &c->agents, &c->nagents);
			break;
		case C_PURPOSES:
			if ((r = get_array(l, it, f)) != ATTEST_OK)
				return r;
			for (const cJSON *p = it->child; p != NULL; p = p->next) {
				int code = purpose_code(p->valuestring);

				if (code == 0)
					return bad(l, f, "\"%.32s\" is not TREATMENT, PAYMENT, OPERATIONS, "
						   "RESEARCH, PUBLIC_HEALTH or OTHER", p->valuestring);
				c->purposes |= 1u << code;
			}
			break;
		case C_SCOPES:
			r = get_strs(l, it, f, &c->scopes, &c->nscopes);
			break;
		case C_CLASSES:
			r = get_strs(l, it, f, &c->classes, &c->nclasses);
			break;
		case C_MAX_DEPTH:
			if ((r = get_int(l, it, f, 0, ATTEST_INTENT_MAX_DEPTH, &v)) == ATTEST_OK)
				c->max_depth = (int)v;
			break;
		case C_MAX_TIER:
			r = get_tier(l, it, f, &c->max_tier);
			break;
		case C_MIN_TIER:
			r = get_tier(l, it, f, &c->min_tier);
			break;
		case C_MAX_SCORE:
		case C_MIN_SCORE:
			if ((r = get_int(l, it, f, 0, 100, &v)) == ATTEST_OK)
				*(b == C_MAX_SCORE ? &c->max_score : &c->min_score) = (int)v;
			break;
		case C_HOST:
			r = get_int(l, it, f, 1, NUM_MAX, &c->host_within);
			break;
		case C_TIME:
			r = get_windows(l, it, c);
			break;
		case C_CONTEXT:
			r = get_context(l, it, c);
			break;
		case C_MAX_ANOMALY:
			r = get_unit(l, it, f, &c->max_anomaly);
			break;
		case C_MIN_ANOMALY:
			r = get_unit(l, it, f, &c->min_anomaly);
			break;
		case C_FRESH:
			r = get_fresh(l, it, c);
			break;
		default:
			r = attest_fail(ATTEST_E_INTERNAL, "policy condition %d", b);
		}
		if (r != ATTEST_OK)
			return r;
	}
	return ATTEST_OK;
}

static int get_actions(const struct ld *l, const cJSON *it, struct rule *ru)
{
	int r;

	if (it == NULL)
		return bad(l, "actions", "missing");
	if ((r = get_array(l, it, "actions")) != ATTEST_OK)
		return r;
	if (cJSON_GetArraySize(it) == 1 && strcmp(it->child->valuestring, "*") == 0)
		return ATTEST_OK; /* any action: actions stays NULL */
	for (const cJSON *c = it->child; c != NULL; c = c->next) {
		size_t len = strlen(c->valuestring);

		if (len == 0 || len > ACTION_MAX || !printable(c->valuestring, len, 0) ||
		    strchr(c->valuestring, '*') != NULL)
			return bad(l, "actions", "\"%.64s\" is not 1..%d printable ASCII bytes "
				   "without spaces or '*' (\"*\" alone means any action)",
				   c->valuestring, ACTION_MAX);
	}
	return get_strs(l, it, "actions", &ru->actions, &ru->nactions);
}

/* "federated": an object of 1..FED_MAX trust domains, each {"ids":
 * [patterns under spiffe://TD/], "scopes": [...] (optional)}. */
static int get_federated(const struct ld *l, const cJSON *it, struct rule *ru)
{
	static const char *const keys[] = { "ids", "scopes", NULL };
	int n, r;

	if (!cJSON_IsObject(it) || (n = cJSON_GetArraySize(it)) < 1 || n > FED_MAX)
		return bad(l, "federated", "must be an object of 1..%d trust domains", FED_MAX);
	if ((ru->fed = calloc((size_t)n, sizeof(*ru->fed))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "policy federated");
	for (const cJSON *c = it->child; c != NULL; c = c->next) {
		struct fedgrant *g = &ru->fed[ru->nfed];
		size_t tl;

		if (c->string == NULL || !fed_td_ok(c->string))
			return bad(l, "federated", "\"%.64s\" is not a trust domain (1..%d of "
				   "[a-z0-9.-_], no scheme)", c->string != NULL ? c->string : "",
				   FED_TD_MAX);
		for (size_t i = 0; i < ru->nfed; i++)
			if (strcmp(ru->fed[i].td, c->string) == 0)
				return bad(l, "federated", "trust domain %.64s twice", c->string);
		tl = strlen(c->string);
		memcpy(g->td, c->string, tl + 1);
		ru->nfed++;
		if (!cJSON_IsObject(c) || (r = only_keys(l, c, "federated trust domain", keys)) !=
						  ATTEST_OK)
			return cJSON_IsObject(c) ? r : bad(l, "federated", "%.64s: not an object",
							   g->td);
		if (cJSON_GetObjectItemCaseSensitive(c, "ids") == NULL)
			return bad(l, "federated", "%.64s: \"ids\" missing (the SPIFFE IDs it "
				   "accepts)", g->td);
		if ((r = get_pats(l, cJSON_GetObjectItemCaseSensitive(c, "ids"), "federated ids",
				  PAT_AGENT, &g->ids, &g->nids)) != ATTEST_OK)
			return r;
		for (size_t i = 0; i < g->nids; i++) {
			const char *t = g->ids[i].text;

			if (strncmp(t, SPIFFE, strlen(SPIFFE)) != 0 ||
			    strncmp(t + strlen(SPIFFE), g->td, tl) != 0 ||
			    t[strlen(SPIFFE) + tl] != '/')
				return bad(l, "federated ids", "\"%.64s\" is not under spiffe://%.64s/",
					   t, g->td);
		}
		if (cJSON_GetObjectItemCaseSensitive(c, "scopes") != NULL &&
		    (r = get_strs(l, cJSON_GetObjectItemCaseSensitive(c, "scopes"),
				  "federated scopes", &g->scopes, &g->nscopes)) != ATTEST_OK)
			return r;
	}
	return ATTEST_OK;
}

static int get_rule(struct ld *l, const cJSON *o, size_t idx, struct rule *ru,
		    const struct rule *prev)
{
	static const char *const keys[] = { "name", "effect", "description", "resources",
					    "actions", "require", "when", "federated", NULL };
	const cJSON *name, *effect, *desc, *res, *req, *when;
	int r;

	snprintf(l->where, sizeof(l->where), "rule %zu", idx);
	if (!cJSON_IsObject(o))
		return bad(l, "rules", "rule %zu is not an object", idx);
	name = cJSON_GetObjectItemCaseSensitive(o, "name");
	if (!cJSON_IsString(name))
		return bad(l, "name", "missing or not a string");
	size_t len = strlen(name->valuestring);
	for (size_t i = 0; i < len; i++)
		if (!name_char(name->valuestring[i]))
			len = 0;
	if (len == 0 || len > ATTEST_POLICY_NAME_MAX)
		return bad(l, "name", "\"%.80s\" is not 1..%d of A-Z a-z 0-9 . _ -",
			   name->valuestring, ATTEST_POLICY_NAME_MAX);
	memcpy(ru->name, name->valuestring, len + 1);
	snprintf(l->where, sizeof(l->where), "rule %zu \"%s\"", idx, ru->name);
	for (size_t i = 0; i < idx; i++)
		if (strcmp(prev[i].name, ru->name) == 0)
			return bad(l, "name", "rule %zu has the same name", i);
	if ((r = only_keys(l, o, "rule", keys)) != ATTEST_OK)
		return r;
	effect = cJSON_GetObjectItemCaseSensitive(o, "effect");
	if (!cJSON_IsString(effect) ||
	    (strcmp(effect->valuestring, "allow") != 0 && strcmp(effect->valuestring, "deny") != 0))
		return bad(l, "effect", "must be \"allow\" or \"deny\"");
	ru->deny = effect->valuestring[0] == 'd';
	desc = cJSON_GetObjectItemCaseSensitive(o, "description");
	if (desc != NULL && (!cJSON_IsString(desc) || strlen(desc->valuestring) > DESC_MAX ||
			     !no_controls(desc->valuestring, strlen(desc->valuestring))))
		return bad(l, "description", "must be a string of at most %d bytes without "
			   "control characters", DESC_MAX);
	res = cJSON_GetObjectItemCaseSensitive(o, "resources");
	if (res == NULL)
		return bad(l, "resources", "missing");
	if ((r = get_pats(l, res, "resources", PAT_RESOURCE, &ru->res, &ru->nres)) != ATTEST_OK ||
	    (r = get_actions(l, cJSON_GetObjectItemCaseSensitive(o, "actions"), ru)) != ATTEST_OK)
		return r;
	req = cJSON_GetObjectItemCaseSensitive(o, "require");
	when = cJSON_GetObjectItemCaseSensitive(o, "when");
	if (ru->deny && req != NULL)
		return bad(l, "require", "a deny rule takes \"when\", not \"require\"");
	if (cJSON_GetObjectItemCaseSensitive(o, "federated") != NULL) {
		if (ru->deny)
			return bad(l, "federated", "only an allow rule names federated trust "
				   "domains (a deny rule applies to every agent)");
		if ((r = get_federated(l, cJSON_GetObjectItemCaseSensitive(o, "federated"), ru)) !=
		    ATTEST_OK)
			return r;
	}
	if (!ru->deny && when != NULL)
		return bad(l, "when", "an allow rule takes \"require\", not \"when\"");
	if (req != NULL)
		return get_cond(l, req, "require", &ru->c);
	if (when != NULL)
		return get_cond(l, when, "when", &ru->c);
	return ATTEST_OK;
}

int attest_policy_load(const char *json, size_t len, struct attest_policy **out)
{
	static const char *const keys[] = { "version", "description", "rules", "http_routes",
					    "detection", NULL };
	struct attest_policy *p = NULL;
	struct ld l = { "" };
	cJSON *root = NULL;
	const cJSON *rules, *ver, *desc;
	unsigned char md[32];
	int64_t v;
	int n, r = ATTEST_E_INTERNAL;

	if (out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "policy load: NULL out");
	*out = NULL;
	if (json == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "policy load: NULL document");
	/* TOO_LARGE, PARSE or DUPLICATE_KEY, with attest_json_parse's detail */
	if ((r = attest_json_parse(json, len, ATTEST_POLICY_MAX_BYTES, &root)) != ATTEST_OK)
		return r;
	if ((r = only_keys(&l, root, "policy", keys)) != ATTEST_OK)
		goto out;
	ver = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (ver == NULL) {
		r = bad(&l, "version", "missing (this format is version 1)");
		goto out;
	}
	if ((r = get_int(&l, ver, "version", 1, 1, &v)) != ATTEST_OK)
		goto out;
	desc = cJSON_GetObjectItemCaseSensitive(root, "description");
	if (desc != NULL && (!cJSON_IsString(desc) || strlen(desc->valuestring) > DESC_MAX)) {
		r = bad(&l, "description", "must be a string of at most %d bytes", DESC_MAX);
		goto out;
	}
	rules = cJSON_GetObjectItemCaseSensitive(root, "rules");
	if (!cJSON_IsArray(rules)) {
		r = bad(&l, "rules", "missing or not an array");
		goto out;
	}
	n = cJSON_GetArraySize(rules);
	if (n > ATTEST_POLICY_MAX_RULES) {
		r = bad(&l, "rules", "%d rules, at most %d", n, ATTEST_POLICY_MAX_RULES);
		goto out;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (n > 0 && (p->rules = calloc((size_t)n, sizeof(*p->rules))) == NULL)) {
		r = attest_fail(ATTEST_E_NOMEM, "policy");
		goto out;
	}
	for (const cJSON *o = rules->child; o != NULL; o = o->next) {
		/* count the rule before filling it so a failure frees its parts */
		p->nrules++;
		if ((r = get_rule(&l, o, p->nrules - 1, &p->rules[p->nrules - 1], p->rules)) !=
		    ATTEST_OK)
			goto out;
	}
	/* the verifier's behaviour detection settings: read and checked by
	 * the verifier (docs/detection.md); here only its shape */
	if (cJSON_GetObjectItemCaseSensitive(root, "detection") != NULL &&
	    !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "detection"))) {
		r = bad(&l, "detection", "not an object");
		goto out;
	}
	if (cJSON_GetObjectItemCaseSensitive(root, "http_routes") != NULL &&
	    (r = attest_http_routes_load(cJSON_GetObjectItemCaseSensitive(root, "http_routes"),
					 &p->http)) != ATTEST_OK)
		goto out;
	if (EVP_Digest(json, len, md, NULL, EVP_sha256(), NULL) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "policy digest");
		goto out;
	}
	attest_hex(md, sizeof(md), p->version);
	*out = p;
	p = NULL; /* transferred */
	r = ATTEST_OK;
out:
	attest_policy_free(p);
	cJSON_Delete(root);
	return r;
}

/* ---- evaluation ---- */

struct ev {
	const struct attest_policy_request *q;
	const char *fed_td;          /* a federated caller's trust domain, NULL: ours */
	const char *const *scopes;   /* the caller's scopes: the request's, or the */
	size_t nscopes;              /* rule's federated grant */
	const char *caller;
	size_t caller_len, res_len, user_len;
	int purpose; /* enum attest_purpose, 0 none */
	int wday;    /* 0 Monday .. 6 Sunday, UTC */
	int32_t sod; /* second of the UTC day */
};

static int in_list(const char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

/* Index of the first of need[] missing from have[], or n when none is. */
static size_t first_missing(char *const *need, size_t n, const char *const *have, size_t nhave)
{
	for (size_t i = 0; i < n; i++)
		if (!in_list(have, nhave, need[i]))
			return i;
	return n;
}

static const char *ctx_value(const struct attest_policy_request *q, const char *key)
{
	for (size_t i = 0; i < q->nctx; i++)
		if (strcmp(q->ctx_keys[i], key) == 0)
			return q->ctx_values[i];
	return NULL;
}

/* Index of the first context requirement not met, or c->nctx. */
static size_t ctx_failing(const struct cond *c, const struct attest_policy_request *q)
{
	for (size_t i = 0; i < c->nctx; i++) {
		const char *v = ctx_value(q, c->ctx[i].key);

		if (v == NULL || !pats_match(c->ctx[i].vals, c->ctx[i].nvals, v, strlen(v)))
			return i;
	}
	return c->nctx;
}

static int in_window(const struct cond *c, const struct ev *e)
{
	for (size_t i = 0; i < c->nwin; i++)
		if ((c->win[i].days & (1u << e->wday)) && c->win[i].from <= e->sod &&
		    e->sod < c->win[i].to)
			return 1;
	return 0;
}

/* Does condition b of c hold for the request? */
static int holds(const struct cond *c, int b, const struct ev *e)
{
	const struct attest_policy_request *q = e->q;

	switch (b) {
	case C_INTENT:
		return q->user != NULL;
	case C_USERS:
		return q->user != NULL && pats_match(c->users, c->nusers, q->user, e->user_len);
	case C_AGENTS:
		return pats_match(c->agents, c->nagents, e->caller, e->caller_len);
	case C_PURPOSES:
		return e->purpose != 0 && (c->purposes & (1u << e->purpose)) != 0;
	case C_SCOPES:
		return first_missing(c->scopes, c->nscopes, e->scopes, e->nscopes) == c->nscopes;
	case C_MAX_DEPTH:
		return q->depth <= (unsigned)c->max_depth;
	case C_MAX_TIER:
		return q->risk_tier != ATTEST_RISK_TIER_UNKNOWN && q->risk_tier <= c->max_tier;
	case C_MIN_TIER:
		return q->risk_tier != ATTEST_RISK_TIER_UNKNOWN && q->risk_tier >= c->min_tier;
	case C_MAX_SCORE:
		return q->risk_score >= 0 && q->risk_score <= c->max_score;
	case C_MIN_SCORE:
		return q->risk_score >= 0 && q->risk_score >= c->min_score;
	case C_CLASSES:
		return first_missing(c->classes, c->nclasses, q->data_classes, q->ndata_classes) ==
		       c->nclasses;
	case C_CONTEXT:
		return ctx_failing(c, q) == c->nctx;
	case C_TIME:
		return in_window(c, e);
	case C_HOST:
		return q->host_attested_age >= 0 && q->host_attested_age <= c->host_within;
	case C_MAX_ANOMALY:
		return q->anomaly <= c->max_anomaly;
	case C_MIN_ANOMALY:
		return q->anomaly >= c->min_anomaly;
	case C_FRESH:
		return q->anomaly <= c->fresh_above ||
		       (q->user != NULL && q->intent_issued > 0 && q->now >= q->intent_issued &&
			q->now - q->intent_issued <= c->fresh_within);
	default:
		return 0;
	}
}

/* Bit mask of the conditions of c that do not hold. */
static unsigned failing(const struct cond *c, const struct ev *e)
{
	unsigned m = 0;

	for (int b = 0; b < C__COUNT; b++)
		if ((c->have & (1u << b)) && !holds(c, b, e))
			m |= 1u << b;
	return m;
}

static int rule_matches(const struct rule *ru, const struct ev *e)
{
	if (ru->actions != NULL &&
	    !in_list((const char *const *)ru->actions, ru->nactions, e->q->action))
		return 0;
	return pats_match(ru->res, ru->nres, e->q->resource, e->res_len);
}

static int popcount(unsigned m)
{
	int n = 0;

	for (; m != 0; m &= m - 1)
		n++;
	return n;
}

/* Readable text for the failed condition b of rule ru. */
static void describe(const struct rule *ru, int b, const struct ev *e, char *buf, size_t n)
{
	const struct cond *c = &ru->c;
	const struct attest_policy_request *q = e->q;
	size_t i;

	switch (b) {
	case C_INTENT:
		snprintf(buf, n, "requires an intent; the request carries none");
		break;
	case C_USERS:
		if (q->user == NULL)
			snprintf(buf, n, "requires one of its users; the request has no intent");
		else
			snprintf(buf, n, "user \"%.80s\" is not one of its users", q->user);
		break;
	case C_AGENTS:
		snprintf(buf, n, "calling agent \"%.120s\" is not one of its agents", e->caller);
		break;
	case C_PURPOSES:
		snprintf(buf, n, "purpose %s is not one of its purposes",
			 q->purpose != NULL ? q->purpose : "(none)");
		break;
	case C_SCOPES:
		i = first_missing(c->scopes, c->nscopes, e->scopes, e->nscopes);
		snprintf(buf, n, "scope \"%.80s\" missing", i < c->nscopes ? c->scopes[i] : "");
		break;
	case C_MAX_DEPTH:
		snprintf(buf, n, "delegation depth %u over %d", q->depth, c->max_depth);
		break;
	case C_MAX_TIER:
		snprintf(buf, n, "risk tier %s over %s", attest_risk_tier_name(q->risk_tier),
			 attest_risk_tier_name(c->max_tier));
		break;
	case C_MIN_TIER:
		snprintf(buf, n, "risk tier %s under %s", attest_risk_tier_name(q->risk_tier),
			 attest_risk_tier_name(c->min_tier));
		break;
	case C_MAX_SCORE:
		snprintf(buf, n, "risk score %d over %d", q->risk_score, c->max_score);
		break;
	case C_MIN_SCORE:
		snprintf(buf, n, "risk score %d under %d", q->risk_score, c->min_score);
		break;
	case C_CLASSES:
		i = first_missing(c->classes, c->nclasses, q->data_classes, q->ndata_classes);
		snprintf(buf, n, "agent does not hold data class \"%.64s\"",
			 i < c->nclasses ? c->classes[i] : "");
		break;
	case C_CONTEXT:
		i = ctx_failing(c, q);
		snprintf(buf, n, "context \"%.64s\" missing or not allowed",
			 i < c->nctx ? c->ctx[i].key : "");
		break;
	case C_TIME:
		snprintf(buf, n, "outside its time windows (%s %02d:%02d UTC)", day_names[e->wday],
			 (int)(e->sod / 3600), (int)(e->sod / 60 % 60));
		break;
	case C_HOST:
		if (q->host_attested_age < 0)
			snprintf(buf, n, "host never attested (requires a good quote within %lld s)",
				 (long long)c->host_within);
		else
			snprintf(buf, n, "host attested %lld s ago, over %lld s",
				 (long long)q->host_attested_age, (long long)c->host_within);
		break;
	case C_MAX_ANOMALY:
		snprintf(buf, n, "anomaly score %.2f over %.2f", q->anomaly, c->max_anomaly);
		break;
	case C_MIN_ANOMALY:
		snprintf(buf, n, "anomaly score %.2f under %.2f", q->anomaly, c->min_anomaly);
		break;
	case C_FRESH:
		if (q->user == NULL || q->intent_issued <= 0)
			snprintf(buf, n, "anomaly score %.2f over %.2f and no intent grant", q->anomaly,
				 c->fresh_above);
		else
			snprintf(buf, n, "anomaly score %.2f over %.2f and the intent grant is %lld s "
				 "old (a grant issued within %lld s is required)", q->anomaly,
				 c->fresh_above, (long long)(q->now - q->intent_issued),
				 (long long)c->fresh_within);
		break;
	default:
		snprintf(buf, n, "condition %d", b);
	}
}

static void decide(struct attest_policy_decision *out, int allow, int reason, const char *rule)
{
	out->allow = allow;
	out->reason = reason;
	snprintf(out->rule, sizeof(out->rule), "%s", rule);
}

/* 1 when s is 1..max bytes, printable ASCII without spaces (text: without
 * control characters); *len gets its length. Reads at most max + 1 bytes. */
static int str_ok(const char *s, size_t max, size_t *len, int text)
{
	size_t n;

	if (s == NULL || (n = strnlen(s, max + 1)) == 0 || n > max)
		return 0;
	if (len != NULL)
		*len = n;
	return text ? no_controls(s, n) : printable(s, n, 0);
}

static const char *check_list(const char *const *v, size_t n, size_t maxlen)
{
	if (n > ATTEST_POLICY_LIST_MAX)
		return "list over 64 entries";
	if (n > 0 && v == NULL)
		return "NULL list";
	for (size_t i = 0; i < n; i++)
		if (v[i] == NULL || strnlen(v[i], maxlen + 1) > maxlen)
			return "list entry NULL or too long";
	return NULL;
}

/* Validate the request and fill the per-request facts. Reason or NULL. */
static const char *prepare(const struct attest_policy_request *q, struct ev *e)
{
	const char *why;

	memset(e, 0, sizeof(*e));
	e->q = q;
	e->scopes = q->scopes;
	e->nscopes = q->nscopes;
	if (!(q->anomaly >= 0 && q->anomaly <= 1))
		return "anomaly score outside 0..1";
	if (!str_ok(q->action, ACTION_MAX, NULL, 0) || strchr(q->action, '*') != NULL)
		return "action is not 1..64 printable ASCII bytes without space or '*'";
	if (!str_ok(q->resource, ATTEST_POLICY_RESOURCE_MAX, &e->res_len, 0) ||
	    memchr(q->resource, '*', e->res_len) != NULL)
		return "resource is not 1..1024 printable ASCII bytes without space or '*'";
	if ((why = path_problem(q->resource, e->res_len)) != NULL)
		return "resource is not canonical (empty, \".\" or \"..\" segment)";
	if (q->nagents == 0 || q->nagents > ATTEST_POLICY_LIST_MAX || q->agents == NULL)
		return "the request names no calling agent (or over 64)";
	for (size_t i = 0; i < q->nagents; i++)
		if (!str_ok(q->agents[i], AGENT_ID_MAX, i + 1 == q->nagents ? &e->caller_len : NULL,
			    0))
			return "an agent ID is empty, too long or not printable ASCII";
	e->caller = q->agents[q->nagents - 1];
	if (q->user != NULL && !str_ok(q->user, USER_MAX, &e->user_len, 1))
		return "user is empty, over 256 bytes or has control characters";
	if (q->purpose != NULL && (e->purpose = purpose_code(q->purpose)) == 0)
		return "unknown purpose";
	if ((why = check_list(q->scopes, q->nscopes, ATTEST_POLICY_PATTERN_MAX)) != NULL ||
	    (why = check_list(q->data_classes, q->ndata_classes, ATTEST_POLICY_PATTERN_MAX)) != NULL ||
	    (why = check_list(q->ctx_keys, q->nctx, CTX_KEY_MAX)) != NULL ||
	    (why = check_list(q->ctx_values, q->nctx, CTX_VALUE_MAX)) != NULL)
		return why;
	for (size_t i = 0; i < q->nctx; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(q->ctx_keys[i], q->ctx_keys[j]) == 0)
				return "context key given twice";
	if (q->risk_tier < ATTEST_RISK_TIER_UNKNOWN || q->risk_tier > ATTEST_RISK_TIER_CRITICAL)
		return "risk tier out of range";
	if (q->risk_score < -1 || q->risk_score > 100)
		return "risk score out of range";
	if (q->host_attested_age < -1)
		return "host_attested_age below -1";
	if (q->now < 0)
		return "time before 1970";
	int64_t days = q->now / 86400;
	e->sod = (int32_t)(q->now % 86400);
	e->wday = (int)((days + 3) % 7); /* 1970-01-01 was a Thursday */
	return NULL;
}

/* The grant of rule ru for a federated caller: the rule names its trust
 * domain and one of that grant's ids matches the caller. NULL otherwise;
 * *named says whether the rule names the domain at all. */
static const struct fedgrant *fed_grant(const struct rule *ru, const struct ev *e, int *named)
{
	for (size_t i = 0; i < ru->nfed; i++)
		if (strcmp(ru->fed[i].td, e->fed_td) == 0) {
			*named = 1;
			return pats_match(ru->fed[i].ids, ru->fed[i].nids, e->caller, e->caller_len)
				       ? &ru->fed[i]
				       : NULL;
		}
	return NULL;
}

static int policy_eval(const struct attest_policy *p, const struct attest_policy_request *req,
		       const char *fed_td, struct attest_policy_decision *out)
{
	const struct rule *best = NULL;
	unsigned best_mask = 0;
	const char *why;
	struct ev e;
	int fed_named = 0, fed_any = 0;

	if (out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "policy eval: NULL decision");
	memset(out, 0, sizeof(*out));
	decide(out, 0, ATTEST_E_INVALID_ARG, "");
	if (p == NULL || req == NULL) {
		snprintf(out->detail, sizeof(out->detail), "no policy or no request");
		return attest_fail(ATTEST_E_INVALID_ARG, "policy eval: NULL argument");
	}
	if ((why = prepare(req, &e)) != NULL) {
		snprintf(out->detail, sizeof(out->detail), "bad request: %s", why);
		return attest_fail(ATTEST_E_INVALID_ARG, "policy eval: %s", why);
	}
	if (fed_td != NULL) {
		if (!fed_td_ok(fed_td) || req->nagents != 1 || req->nscopes != 0) {
			snprintf(out->detail, sizeof(out->detail), "bad request: a federated caller "
				 "is one agent of a valid trust domain, without scopes of its own");
			return attest_fail(ATTEST_E_INVALID_ARG, "policy eval: federated request");
		}
		e.fed_td = fed_td;
	}
	for (size_t i = 0; i < p->nrules; i++) {
		const struct rule *ru = &p->rules[i];

		if (ru->deny && rule_matches(ru, &e) && failing(&ru->c, &e) == 0) {
			int anom = (ru->c.have & (1u << C_MIN_ANOMALY)) != 0;

			decide(out, 0, anom ? ATTEST_E_ANOMALY : ATTEST_E_POLICY_DENY, ru->name);
			snprintf(out->detail, sizeof(out->detail),
				 "deny rule matched action \"%.32s\" on \"%.120s\"%s", req->action,
				 req->resource, anom ? " (anomaly over min_anomaly)" : "");
			return ATTEST_OK;
		}
	}
	for (size_t i = 0; i < p->nrules; i++) {
		const struct rule *ru = &p->rules[i];
		unsigned m;

		if (ru->deny || !rule_matches(ru, &e))
			continue;
		if (e.fed_td != NULL) {
			/* only a rule naming the caller's domain and ID can allow
			 * it, with that grant's scopes */
			const struct fedgrant *g = fed_grant(ru, &e, &fed_named);

			if (g == NULL)
				continue;
			fed_any = 1;
			e.scopes = (const char *const *)g->scopes;
			e.nscopes = g->nscopes;
		}
		if ((m = failing(&ru->c, &e)) == 0) {
			decide(out, 1, ATTEST_OK, ru->name);
			snprintf(out->detail, sizeof(out->detail), "all %d requirements hold",
				 popcount(ru->c.have));
			return ATTEST_OK;
		}
		if (best == NULL || popcount(m) < popcount(best_mask)) {
			best = ru;
			best_mask = m;
		}
	}
	if (best == NULL && e.fed_td != NULL && !fed_any) {
		decide(out, 0, ATTEST_E_FED_POLICY, "");
		snprintf(out->detail, sizeof(out->detail),
			 fed_named ? "no allow rule for action \"%.32s\" on \"%.100s\" lists this "
				     "agent among the ids of federated trust domain %.64s"
				   : "no allow rule for action \"%.32s\" on \"%.100s\" names "
				     "federated trust domain %.64s",
			 req->action, req->resource, e.fed_td);
		return ATTEST_OK;
	}
	if (best == NULL) {
		decide(out, 0, ATTEST_E_NO_RULE, "");
		snprintf(out->detail, sizeof(out->detail),
			 "no rule matches action \"%.32s\" on \"%.160s\"", req->action,
			 req->resource);
		return ATTEST_OK;
	}
	int first = 0, more = popcount(best_mask) - 1;
	char text[200];

	while (!(best_mask & (1u << first)))
		first++;
	describe(best, first, &e, text, sizeof(text));
	decide(out, 0,
	       best_mask == 1u << C_HOST	      ? ATTEST_E_HOST_STALE
	       : best_mask == 1u << C_MAX_ANOMALY ? ATTEST_E_ANOMALY
	       : best_mask == 1u << C_FRESH	      ? ATTEST_E_ANOMALY_FRESH_INTENT
						      : ATTEST_E_NO_RULE,
	       best->name);
	if (more > 0)
		snprintf(out->detail, sizeof(out->detail), "%s: %s (and %d more unmet)",
			 cond_keys[first], text, more);
	else
		snprintf(out->detail, sizeof(out->detail), "%s: %s", cond_keys[first], text);
	return ATTEST_OK;
}

int attest_policy_eval(const struct attest_policy *p, const struct attest_policy_request *req,
		       struct attest_policy_decision *out)
{
	return policy_eval(p, req, NULL, out);
}

int attest_policy_eval_federated(const struct attest_policy *p,
				 const struct attest_policy_request *req, const char *trust_domain,
				 struct attest_policy_decision *out)
{
	if (trust_domain == NULL) {
		if (out != NULL) {
			memset(out, 0, sizeof(*out));
			decide(out, 0, ATTEST_E_INVALID_ARG, "");
		}
		return attest_fail(ATTEST_E_INVALID_ARG, "policy eval: no trust domain");
	}
	return policy_eval(p, req, trust_domain, out);
}
