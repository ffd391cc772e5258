/* posture.c - the fleet's posture report (posture.h, docs/detection.md). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "core/err.h"
#include "posture.h"

enum {
	K_HOST_STALE,
	K_UNAPPROVED,
	K_HOST_REFSET,
	K_UNSAFE,
	K_CHURN,
	K_SCOPE_UNUSED,
	K_ISSUER_KEY_OLD,
	K_NEVER_SEEN,
	K_DELEGATION_UNUSED,
	K_ADMIN_CALLERS,
	K_REVOKED_AGENT,
	K_REVOKED_CALLER,
	K_TTL_AT_CAP,
};

const char *const vp_kind[VP_KINDS] = {
	"host_not_attested", "high_risk_unapproved", "host_old_refset",	  "unsafe_shutdown",
	"registration_churn", "scope_unused",	     "issuer_key_old",	  "agent_never_seen",
	"delegation_unused", "admin_callers",	     "revoked_agent_registered",
	"revoked_caller_registered", "ttl_at_cap",
};
const char *const vp_severity[VP_KINDS] = {
	"high", "high", "medium", "medium", "medium", "medium",
	"medium", "low", "low", "low", "low", "low", "low",
};

void vp_opts_default(struct vp_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->now = (int64_t)time(NULL);
	o->days = 30;
	o->attest_window = 3600;
	o->key_age_days = 365;
	o->churn = 3;
	o->ttl_cap = VP_TTL_CAP_DEFAULT;
}

struct ctx {
	struct vstore *st;
	struct vd *d;
	const struct vp_opts *o;
	cJSON *arr;
	unsigned *counts;
	int r;
	/* refsets active, agents' changes */
	char active[16][VSTORE_NAME_MAX];
	size_t nactive;
	unsigned admins;
	char admin_names[256];
};

static int add(struct ctx *c, int kind, const char *subject, const char *evidence,
	       const char *fix)
{
	cJSON *f = cJSON_CreateObject();

	if (f == NULL || !cJSON_AddItemToArray(c->arr, f) ||
	    cJSON_AddStringToObject(f, "id", vp_kind[kind]) == NULL ||
	    cJSON_AddStringToObject(f, "severity", vp_severity[kind]) == NULL ||
	    cJSON_AddStringToObject(f, "subject", subject) == NULL ||
	    cJSON_AddStringToObject(f, "evidence", evidence) == NULL ||
	    cJSON_AddStringToObject(f, "fix", fix) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "posture finding");
	c->counts[kind]++;
	return ATTEST_OK;
}

static int refset_cb(void *arg, const struct vrefset *r)
{
	struct ctx *c = arg;

	if (c->nactive < 16)
		(void)snprintf(c->active[c->nactive++], VSTORE_NAME_MAX, "%s", r->name);
	return 0;
}

static int host_cb(void *arg, const struct vhost *h)
{
	struct ctx *c = arg;
	char ev[400];
	int r = ATTEST_OK;

	if (h->revoked)
		return 0;
	if (h->last_good == 0 || c->o->now - h->last_good > c->o->attest_window) {
		if (h->last_good == 0)
			(void)snprintf(ev, sizeof(ev), "no good quote ever (state %d%s%.200s)", (int)h->state,
				       h->reason[0] ? ": " : "", h->reason);
		else
			(void)snprintf(ev, sizeof(ev),
				       "last good quote %lld s ago, over the %lld s window%s%.200s",
				       (long long)(c->o->now - h->last_good),
				       (long long)c->o->attest_window, h->reason[0] ? "; last failure: " : "",
				       h->reason);
		r = add(c, K_HOST_STALE, h->name, ev,
			"check attestd on the host (attestctl host status) and its pushes to the "
			"verifier; revoke the host if it cannot attest");
	}
	if (r == ATTEST_OK && h->refset[0] != '\0') {
		size_t i;

		for (i = 0; i < c->nactive; i++)
			if (strcmp(c->active[i], h->refset) == 0)
				break;
		if (i == c->nactive) {
			(void)snprintf(ev, sizeof(ev),
				       "last good quote matched reference set %s, which is not active",
				       h->refset);
			r = add(c, K_HOST_REFSET, h->name, ev,
				"update the host to the current release and let it attest against an "
				"active reference set, or reactivate the set if it is still correct");
		}
	}
	if (r == ATTEST_OK && h->unsafe_seen) {
		(void)snprintf(ev, sizeof(ev), "a quote reported an unsafe TPM shutdown (clock safe = 0; "
			       "%llu boots seen)", (unsigned long long)h->boots);
		r = add(c, K_UNSAFE, h->name, ev,
			"find out why the host lost power or crashed; a TPM clock that went "
			"unsafe can hide a rollback, so re-enrol if the cause is unknown");
	}
	if (r != ATTEST_OK) {
		c->r = r;
		return 1;
	}
	return 0;
}

static int has_word(const char *list, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = list; (p = strstr(p, w)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
			return 1;
	return 0;
}

static int agent_cb(void *arg, const struct vagent *a)
{
	struct ctx *c = arg;
	struct vd_usage u;
	char ev[1400], fix[600];
	int seen, r = ATTEST_OK;

	if (a->revoked) {
		(void)snprintf(ev, sizeof(ev), "revoked (%.200s) and still in the inventory of host %s",
			       a->revoke_reason, a->host);
		r = add(c, K_REVOKED_AGENT, a->id, ev,
			"remove the agent on its host (attestctl agent remove) so the "
			"registration and its keys are gone, not only refused");
		goto out;
	}
	/* seen: decided as the caller, or as a delegator in a chain */
	seen = vd_usage(c->d, a->id, &u) == ATTEST_OK && (u.decisions > 0 || u.delegated);
	if ((a->risk_tier >= 2 || has_word(a->data_classes, "phi")) && !a->approved) {
		(void)snprintf(ev, sizeof(ev), "risk tier %d, data classes \"%.200s\", not approved",
			       a->risk_tier, a->data_classes);
		r = add(c, K_UNAPPROVED, a->id, ev,
			"review the agent and approve it (POST /v1/agents/approve) or revoke it; "
			"set approval_required so unapproved agents are refused");
		if (r != ATTEST_OK)
			goto out;
	}
	if (!seen) {
		(void)snprintf(ev, sizeof(ev), "registered on host %s, no decision seen", a->host);
		r = add(c, K_NEVER_SEEN, a->id, ev,
			"remove the registration if the agent is not used; an unused identity is "
			"attack surface");
		goto out;
	}
	{
		/* registered scopes no allowed decision needed within days */
		char buf[VSTORE_LIST_MAX], unused[VSTORE_LIST_MAX] = "";
		size_t o = 0;
		int64_t since = c->o->now - c->o->days * 86400;

		(void)snprintf(buf, sizeof(buf), "%s", a->scopes);
		for (char *save = NULL, *w = strtok_r(buf, " ", &save); w != NULL;
		     w = strtok_r(NULL, " ", &save)) {
			uint64_t h = vd_hash(w);
			size_t i;

			for (i = 0; i < u.nscopes; i++)
				if (u.scope_hash[i] == h && u.scope_last[i] >= since)
					break;
			if (i == u.nscopes && o + strlen(w) + 2 < sizeof(unused))
				o += (size_t)snprintf(unused + o, sizeof(unused) - o, "%s%s", o ? " " : "", w);
		}
		if (o > 0) {
			(void)snprintf(ev, sizeof(ev),
				       "registered scopes \"%.600s\" not required by any allowed decision "
				       "in %lld days (%llu decisions seen)",
				       unused, (long long)c->o->days, (unsigned long long)u.decisions);
			(void)snprintf(fix, sizeof(fix),
				       "register the agent again without \"%.400s\" (least privilege)",
				       unused);
			if ((r = add(c, K_SCOPE_UNUSED, a->id, ev, fix)) != ATTEST_OK)
				goto out;
		}
	}
	if (a->delegate_depth > 0 && !u.delegated) {
		(void)snprintf(ev, sizeof(ev), "may delegate %d hops; never seen delegating",
			       a->delegate_depth);
		if ((r = add(c, K_DELEGATION_UNUSED, a->id, ev,
			     "register the agent with delegation depth 0")) != ATTEST_OK)
			goto out;
	}
	/* a leaf at the lifetime cap within days: the agent's max_ttl (or
	 * attestd's --max-ttl) is as long as it gets */
	if (u.ttl_max >= c->o->ttl_cap && u.ttl_at >= c->o->now - c->o->days * 86400) {
		char ts[32];
		time_t t = (time_t)u.ttl_at;
		struct tm tm;

		gmtime_r(&t, &tm);
		(void)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		(void)snprintf(ev, sizeof(ev),
			       "a leaf certificate living %lld s (notAfter - notBefore), at or over the "
			       "%lld s cap, last seen %s",
			       (long long)u.ttl_max, (long long)c->o->ttl_cap, ts);
		r = add(c, K_TTL_AT_CAP, a->id, ev,
			"register the agent again with a shorter max_ttl (attestctl agent register "
			"--max-ttl, default 300), and lower attestd's --max-ttl so no agent can ask "
			"for more");
	}
out:
	if (r != ATTEST_OK) {
		c->r = r;
		return 1;
	}
	return 0;
}

static int change_cb(void *arg, const char *id, uint64_t n, int64_t first, int64_t last)
{
	struct ctx *c = arg;
	char ev[600];
	int r;

	if (n < c->o->churn || last < c->o->now - c->o->days * 86400)
		return 0;
	(void)snprintf(ev, sizeof(ev),
		       "registration (binary measurement or UUID) changed %llu times between %lld "
		       "and %lld",
		       (unsigned long long)n, (long long)first, (long long)last);
	r = add(c, K_CHURN, id, ev,
		"find out who re-registers the agent; pin its measurement in a reference set and "
		"require approval for new registrations");
	if (r != ATTEST_OK) {
		c->r = r;
		return 1;
	}
	return 0;
}

static int caller_cb(void *arg, const struct vcaller *k)
{
	struct ctx *c = arg;
	char ev[300];
	int r = ATTEST_OK;

	if (k->revoked) {
		(void)snprintf(ev, sizeof(ev), "caller %s (role %s) is revoked and still enrolled",
			       k->name, k->role == VCALLER_ADMIN ? "admin" : "resource");
		r = add(c, K_REVOKED_CALLER, k->name, ev,
			"delete its certificate and key wherever they were installed");
	} else if (k->role == VCALLER_ADMIN) {
		size_t l = strlen(c->admin_names);

		c->admins++;
		if (l + strlen(k->name) + 2 < sizeof(c->admin_names))
			(void)snprintf(c->admin_names + l, sizeof(c->admin_names) - l, "%s%s",
				       l ? " " : "", k->name);
	}
	if (r != ATTEST_OK) {
		c->r = r;
		return 1;
	}
	return 0;
}

static int issuers(struct ctx *c)
{
	char dir[PATH_MAX], p[PATH_MAX + 300], ev[400];
	DIR *dp;
	struct dirent *de;
	struct stat sb;
	int r = ATTEST_OK;

	(void)snprintf(dir, sizeof(dir), "%s/intent-issuers", c->o->state);
	if ((dp = opendir(dir)) == NULL)
		return errno == ENOENT ? ATTEST_OK
				       : attest_fail(ATTEST_E_IO, "posture: %s: %s", dir, strerror(errno));
	while (r == ATTEST_OK && (de = readdir(dp)) != NULL) {
		size_t n = strlen(de->d_name);
		int64_t age;

		if (n < 5 || strcmp(de->d_name + n - 4, ".pem") != 0)
			continue;
		(void)snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (lstat(p, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		age = (c->o->now - (int64_t)sb.st_mtime) / 86400;
		if (age <= c->o->key_age_days)
			continue;
		(void)snprintf(ev, sizeof(ev), "intent issuer key %.200s installed %lld days ago (over %lld)",
			       de->d_name, (long long)age, (long long)c->o->key_age_days);
		r = add(c, K_ISSUER_KEY_OLD, de->d_name, ev,
			"rotate the issuer's signing key: install the new public key beside the old, "
			"switch the issuer, then remove the old one");
	}
	closedir(dp);
	return r;
}

int vp_posture(struct vstore *st, struct vd *d, const struct vp_opts *o, cJSON **out,
	       unsigned counts[VP_KINDS])
{
	struct ctx *c = calloc(1, sizeof(*c));
	cJSON *rep = NULL;
	char ts[32];
	struct tm tm;
	time_t t = (time_t)o->now;
	int r;

	*out = NULL;
	memset(counts, 0, VP_KINDS * sizeof(counts[0]));
	if (c == NULL)
		return attest_fail(ATTEST_E_NOMEM, "posture");
	c->st = st;
	c->d = d;
	c->o = o;
	c->counts = counts;
	gmtime_r(&t, &tm);
	(void)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if ((rep = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(rep, "generated", ts) == NULL ||
	    (c->arr = cJSON_AddArrayToObject(rep, "findings")) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "posture");
		goto out;
	}
	if ((r = st->ops->refset_list(st, 1, refset_cb, c)) != ATTEST_OK)
		goto out;
	if ((r = st->ops->host_list(st, host_cb, c)) != ATTEST_OK || (r = c->r) != ATTEST_OK)
		goto out;
	if ((r = st->ops->agent_list(st, agent_cb, c)) != ATTEST_OK || (r = c->r) != ATTEST_OK)
		goto out;
	if ((r = st->ops->agent_change_list(st, change_cb, c)) != ATTEST_OK ||
	    (r = c->r) != ATTEST_OK)
		goto out;
	if ((r = st->ops->caller_list(st, caller_cb, c)) != ATTEST_OK || (r = c->r) != ATTEST_OK)
		goto out;
	if (c->admins > 1) {
		char ev[400];

		(void)snprintf(ev, sizeof(ev), "%u callers hold the admin role: %.300s", c->admins,
			       c->admin_names);
		if ((r = add(c, K_ADMIN_CALLERS, "callers", ev,
			     "keep one admin caller per operator team; re-enrol the others as "
			     "resource callers and revoke their admin certificates")) != ATTEST_OK)
			goto out;
	}
	if (o->state != NULL && (r = issuers(c)) != ATTEST_OK)
		goto out;
	*out = rep;
	rep = NULL;
	r = ATTEST_OK;
out:
	cJSON_Delete(rep);
	free(c);
	return r;
}

/* ---- CSV ---- */

static int csv_cell(char **buf, size_t *len, size_t *cap, const char *v, int last)
{
	size_t need = 2 * strlen(v) + 8;

	if (*len + need >= *cap) {
		size_t nc = (*cap + need) * 2;
		char *nb = realloc(*buf, nc);

		if (nb == NULL)
			return 0;
		*buf = nb;
		*cap = nc;
	}
	(*buf)[(*len)++] = '"';
	if (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@')
		(*buf)[(*len)++] = '\'';
	for (const char *p = v; *p != '\0'; p++) {
		if (*p == '"')
			(*buf)[(*len)++] = '"';
		(*buf)[(*len)++] = (*p == '\r' || *p == '\n') ? ' ' : *p;
	}
	(*buf)[(*len)++] = '"';
	(*buf)[(*len)++] = last ? '\n' : ',';
	(*buf)[*len] = '\0';
	return 1;
}

char *vp_csv(const cJSON *report)
{
	static const char *const cols[] = {"id", "severity", "subject", "evidence", "fix"};
	const cJSON *f, *arr = cJSON_GetObjectItemCaseSensitive(report, "findings");
	size_t len = 0, cap = 256;
	char *buf = malloc(cap);

	if (buf == NULL)
		return NULL;
	len = (size_t)snprintf(buf, cap, "id,severity,subject,evidence,fix\n");
	cJSON_ArrayForEach(f, arr) {
		for (int i = 0; i < 5; i++) {
			const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, cols[i]));

			if (!csv_cell(&buf, &len, &cap, v != NULL ? v : "", i == 4)) {
				free(buf);
				return NULL;
			}
		}
	}
	return buf;
}

/* ---- attest-verifier posture ---- */

static int restore_cb(void *arg, const char *key, const char *state)
{
	/* a damaged row is skipped: the report says what the rest says */
	if (vd_restore(arg, key, state) != ATTEST_OK)
		attest_errclear();
	return 0;
}

static int count_cb(void *arg, const char *key, const char *state)
{
	(void)key, (void)state;
	(*(size_t *)arg)++;
	return 0;
}

int vp_cmd_posture(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *state = NULL, *store = NULL, *format = NULL, *days = NULL, *window = NULL,
		   *key_age = NULL, *ttl_cap = NULL;
	const struct cli_opt opts[] = {
		{"state", "DIR", "verifier state directory", 1, &state},
		{"store", "URI", "the store in PostgreSQL (postgresql://...) instead of "
		 "STATE/verifier.db", 0, &store},
		{"format", "FMT", "json (default) or csv", 0, &format},
		{"days", "N", "least-privilege window: scopes unused for N days (default 30)", 0, &days},
		{"attest-window", "SECONDS", "a host without a good quote for longer is reported "
		 "(default 3600)", 0, &window},
		{"key-age", "DAYS", "intent issuer keys installed longer ago are reported (default 365)",
		 0, &key_age},
		{"ttl-cap", "SECONDS", "agents seen with a leaf certificate living this long or longer "
		 "are reported (default 3600, attestd's default --max-ttl)", 0, &ttl_cap},
		{0}};
	struct vp_opts o;
	struct vstore *st = NULL;
	struct vd_config dc;
	struct vd *d = NULL;
	cJSON *rep = NULL;
	unsigned counts[VP_KINDS];
	long v;
	size_t rows = 0;
	char *txt = NULL;
	int r = cli_parse(cmd, opts, argc, argv), rc = CLI_EXIT_FAIL;

	if (r != CLI_PARSED)
		return r;
	vp_opts_default(&o);
	o.state = state;
	if (format != NULL && strcmp(format, "json") != 0 && strcmp(format, "csv") != 0)
		return cli_usage_error("--format: json or csv");
	if (days != NULL) {
		if ((r = cli_long("days", days, 1, 3650, &v)) != CLI_PARSED)
			return r;
		o.days = v;
	}
	if (window != NULL) {
		if ((r = cli_long("attest-window", window, 1, 31536000, &v)) != CLI_PARSED)
			return r;
		o.attest_window = v;
	}
	if (key_age != NULL) {
		if ((r = cli_long("key-age", key_age, 1, 36500, &v)) != CLI_PARSED)
			return r;
		o.key_age_days = v;
	}
	if (ttl_cap != NULL) {
		if ((r = cli_long("ttl-cap", ttl_cap, 1, 31536000, &v)) != CLI_PARSED)
			return r;
		o.ttl_cap = v;
	}
	if (store != NULL && !vstore_spec_is_pg(store))
		return cli_usage_error("--store: want a postgresql:// URI");
	vd_config_default(&dc);
	if ((r = vstore_open_spec(store, state, 0, &st)) != ATTEST_OK)
		return cli_fail(r, "open the store");
	if ((r = st->ops->behaviour_list(st, count_cb, &rows)) != ATTEST_OK ||
	    (r = vd_new(&dc, rows < VD_ENTITIES_MAX ? rows + 1 : VD_ENTITIES_MAX, &d)) != ATTEST_OK ||
	    (r = st->ops->behaviour_list(st, restore_cb, d)) != ATTEST_OK ||
	    (r = vp_posture(st, d, &o, &rep, counts)) != ATTEST_OK) {
		rc = cli_fail(r, "posture report");
		goto out;
	}
	if (format != NULL && strcmp(format, "csv") == 0)
		txt = vp_csv(rep);
	else
		txt = cJSON_Print(rep);
	if (txt == NULL) {
		rc = cli_fail(ATTEST_E_NOMEM, "posture report");
		goto out;
	}
	fputs(txt, stdout);
	if (format == NULL || strcmp(format, "json") == 0)
		fputc('\n', stdout);
	rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
	free(txt);
	cJSON_Delete(rep);
	vd_free(d);
	vstore_close(st);
	return rc;
}
