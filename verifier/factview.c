/* factview.c - the decider's agent facts from memory (issue 17: two of
 * the three store point queries per decision were the host and agent
 * rows). An agent's facts are read from the store once and kept in a
 * set-associative table (8 ways, keyed hash of the ID, least recently
 * used replaced), coherent with the store by these rules:
 *   - every write of an agent row in this process drops that row's entry
 *     (vs_view_agent_drop: inventory reports, revocation, approval);
 *   - a change generation drops every entry (vs_view_drop_all: this
 *     process's own changes through vs_changed, another replica's through
 *     replica.c), and the writes another replica makes that restrict an
 *     agent (revocation, a report that revokes, removes or re-registers
 *     one) bump the generation;
 *   - what is computed from settings (approval, the fleet scope cap) is
 *     recomputed after a settings change (a generation).
 * Unknown agents are not kept: every decision for one asks the store.
 * The host rows are kept beside the hosts' AK records (fleet.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "vsrv.h"
#include "x509/x509agent.h"

int vs_view_init(struct vsrv *s, size_t agents)
{
	if (agents == 0)
		agents = AGENT_VIEW_DEFAULT;
	if (agents < AGENT_VIEW_WAYS || agents > CACHE_ENTRIES_MAX)
		return attest_fail(ATTEST_E_INVALID_ARG, "agent view of %zu entries (%d..%d)",
				   agents, AGENT_VIEW_WAYS, CACHE_ENTRIES_MAX);
	s->av_sets = (agents + AGENT_VIEW_WAYS - 1) / AGENT_VIEW_WAYS;
	if ((s->av = calloc(s->av_sets * AGENT_VIEW_WAYS, sizeof(*s->av))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "agent view");
	return ATTEST_OK;
}

static void av_clear(struct agent_view *e)
{
	free(e->scopes);
	free(e->classes);
	memset(e, 0, sizeof(*e));
}

void vs_view_free(struct vsrv *s)
{
	for (size_t i = 0; s->av != NULL && i < s->av_sets * AGENT_VIEW_WAYS; i++)
		av_clear(&s->av[i]);
	free(s->av);
	s->av = NULL;
}

void vs_view_drop_all(struct vsrv *s)
{
	/* entries of an older epoch are stale: read again on their next use
	 * (the connections' callers too, server.c) */
	s->view_epoch++;
}

static struct agent_view *av_set(struct vsrv *s, const char *id, int *ok)
{
	uint64_t h = 0;

	*ok = s->av != NULL && vs_keyed_hash(s, id, strlen(id), &h) == ATTEST_OK;
	return *ok ? &s->av[(size_t)(h % s->av_sets) * AGENT_VIEW_WAYS] : NULL;
}

void vs_view_agent_drop(struct vsrv *s, const char *id)
{
	int ok;
	struct agent_view *set = av_set(s, id, &ok);

	if (!ok) {
		vs_view_drop_all(s); /* no hash: drop everything rather than miss one */
		return;
	}
	for (unsigned w = 0; w < AGENT_VIEW_WAYS; w++)
		if (strcmp(set[w].id, id) == 0)
			av_clear(&set[w]);
}

/* The registered scopes within the fleet-wide cap, space-separated. */
static int capped_scopes(struct vsrv *s, const char *reg, char **out)
{
	char buf[VSTORE_LIST_MAX], *res;
	size_t used = 0;

	if ((res = malloc(VSTORE_LIST_MAX)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "agent view");
	res[0] = '\0';
	(void)snprintf(buf, sizeof(buf), "%s", reg);
	for (char *save = NULL, *w = strtok_r(buf, " ", &save); w != NULL;
	     w = strtok_r(NULL, " ", &save)) {
		int n;

		if (s->cap_on && !attest_scopes_has(s->scope_cap, w))
			continue;
		n = snprintf(res + used, VSTORE_LIST_MAX - used, "%s%s", used ? " " : "", w);
		if (n < 0 || (size_t)n >= VSTORE_LIST_MAX - used) {
			res[used] = '\0';
			break;
		}
		used += (size_t)n;
	}
	*out = res;
	return ATTEST_OK;
}

int vs_fact_agent(void *arg, const char *id, struct attest_agent_facts *out)
{
	struct vsrv *s = arg;
	struct vagent *a = &s->fact_agent;
	struct agent_view *set, *v = NULL;
	int ok, r;

	if ((set = av_set(s, id, &ok)) == NULL)
		return attest_fail(ATTEST_E_CRYPTO, "agent view: no hash");
	for (unsigned w = 0; w < AGENT_VIEW_WAYS; w++)
		if (set[w].id[0] != '\0' && strcmp(set[w].id, id) == 0) {
			if (set[w].epoch == s->view_epoch) {
				s->m.aview_hits++;
				set[w].last = ++s->av_tick;
				*out = set[w].f;
				return ATTEST_OK;
			}
			av_clear(&set[w]); /* stale: read again */
			break;
		}
	s->m.aview_misses++;
	if ((r = s->store->ops->agent_get(s->store, id, a)) != ATTEST_OK)
		return r;
	/* a way for it: a free one, else the least recently used */
	for (unsigned w = 0; w < AGENT_VIEW_WAYS; w++) {
		if (set[w].id[0] == '\0') {
			v = &set[w];
			break;
		}
		if (v == NULL || set[w].last < v->last)
			v = &set[w];
	}
	if (v->id[0] != '\0') {
		s->m.aview_evictions++;
		av_clear(v);
	}
	if ((r = capped_scopes(s, a->scopes, &v->scopes)) != ATTEST_OK ||
	    (v->classes = strdup(a->data_classes)) == NULL) {
		av_clear(v);
		return r != ATTEST_OK ? r : attest_fail(ATTEST_E_NOMEM, "agent view");
	}
	v->f.revoked = a->revoked;
	v->f.approved = a->approved || !s->approval_required;
	(void)snprintf(v->f.uuid, sizeof(v->f.uuid), "%s", a->uuid);
	memcpy(v->f.measurement, a->measurement, 32);
	v->f.risk_tier = a->risk_tier;
	v->f.risk_score = a->risk_score;
	v->f.scopes = v->scopes;
	v->f.data_classes = v->classes;
	(void)snprintf(v->id, sizeof(v->id), "%s", id);
	v->epoch = s->view_epoch;
	v->last = ++s->av_tick;
	*out = v->f;
	return ATTEST_OK;
}

/* ---- hosts ---- */

/* The host's row from the view kept beside its AK record: read from the
 * store when not kept, of an older epoch, or not one a decision can allow
 * with (revoked, not trusted), and when its last good quote is older than
 * the push interval (another replica may hold a newer one: a stale
 * last_good only makes the attested age the policy sees larger, and is
 * read again once a quote is due). Demotions and revocations bump the
 * change generation (every replica drops its view); this process drops
 * the row on each of its own writes (vs_view_host_drop). */
int vs_fact_host(void *arg, const char *host, struct attest_host_facts *out)
{
	struct vsrv *s = arg;
	struct ak_entry *e;
	int64_t now = vs_now(), fresh = s->cfg->push_interval > 0 ? s->cfg->push_interval : 60;
	int r;

	/* the CA record first: a changed AK resets the host's row (looked
	 * at again at most once per --sync-ms: no stat per decision) */
	if ((r = vs_host_record_decide(s, host, &e)) != ATTEST_OK)
		return r == ATTEST_E_HOST_UNKNOWN ? ATTEST_E_NOT_FOUND : r;
	if (e->row_ok && e->row_epoch == s->view_epoch && !e->row_revoked && e->row_trusted &&
	    now >= e->row_last_good && now - e->row_last_good < fresh) {
		s->m.hview_hits++;
	} else {
		s->m.hview_misses++;
		e->row_ok = 0;
		if ((r = s->store->ops->host_get(s->store, host, &s->fact_host)) != ATTEST_OK)
			return r;
		e->row_revoked = s->fact_host.revoked;
		e->row_trusted = s->fact_host.state == VHOST_TRUSTED;
		e->row_last_good = s->fact_host.last_good;
		e->row_epoch = s->view_epoch;
		e->row_ok = 1;
	}
	out->revoked = e->row_revoked;
	out->trusted = e->row_trusted;
	out->last_good = e->row_last_good;
	out->ak = e->ak;
	out->ak_len = e->ak_len;
	return ATTEST_OK;
}

void vs_view_host_drop(struct vsrv *s, const char *host)
{
	uint64_t h;
	struct ak_entry *set;

	if (vs_keyed_hash(s, host, strlen(host), &h) != ATTEST_OK) {
		vs_view_drop_all(s);
		return;
	}
	set = &s->aks[(size_t)(h % s->ak_sets) * AK_WAYS];
	for (unsigned w = 0; w < AK_WAYS; w++)
		if (strcmp(set[w].host, host) == 0)
			set[w].row_ok = 0;
}
