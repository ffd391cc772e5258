/* replica.c - N verifiers on one store behave as one (issue 18): the
 * shared nonce key, each replica's id and heartbeat, the change
 * generation that makes every replica drop what it cached from the store
 * (LISTEN/NOTIFY on PostgreSQL, a periodic check everywhere), and what
 * /v1/health and /metrics say about the fleet's replicas and stale hosts.
 * docs/verifier-store.md "Replicas". */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "attest/decide.h"
#include "audit/audit.h"
#include "core/err.h"
#include "core/json.h"
#include "store.h"
#include "vsrv.h"

#define NONCE_KEY_SETTING "nonce_key"
#define SYNC_MS_DEFAULT 500
#define HEARTBEAT_DEFAULT 5
#define PUSH_INTERVAL_DEFAULT 60
#define STALE_BEATS 3     /* a replica is stale after this many heartbeats missed */
#define STALE_PUSHES 3    /* a host is stale after this many push intervals */
#define STALE_LIST_MAX 20 /* hosts named in /v1/health */
#define WATCH_RETRY_S 10.0 /* between LISTEN reconnects */

static int heartbeat_s(const struct vsrv *s)
{
	return s->cfg->heartbeat > 0 ? s->cfg->heartbeat : HEARTBEAT_DEFAULT;
}

static int push_s(const struct vsrv *s)
{
	return s->cfg->push_interval > 0 ? s->cfg->push_interval : PUSH_INTERVAL_DEFAULT;
}

/* ---- the shared nonce key ---- */

int vs_nonce_key_load(struct vsrv *s)
{
	struct vstore *st = s->store;
	char hex[2 * sizeof(s->nonce_key) + 1];
	uint8_t key[sizeof(s->nonce_key)];
	int r;

	for (int tries = 0; tries < 2; tries++) {
		r = st->ops->setting_get(st, NONCE_KEY_SETTING, hex, sizeof(hex));
		if (r == ATTEST_OK) {
			if (strlen(hex) != 2 * sizeof(key) ||
			    attest_unhex(hex, s->nonce_key, sizeof(s->nonce_key)) != ATTEST_OK)
				r = attest_fail(ATTEST_E_STORE_DAMAGED,
						"store: setting %s is not %zu bytes of hex",
						NONCE_KEY_SETTING, sizeof(key));
			break;
		}
		if (r != ATTEST_E_NOT_FOUND && r != ATTEST_E_TOO_LARGE)
			break;
		if (r == ATTEST_E_TOO_LARGE) {
			r = attest_fail(ATTEST_E_STORE_DAMAGED, "store: setting %s too long",
					NONCE_KEY_SETTING);
			break;
		}
		/* the first replica makes it; one that loses the race reads the
		 * winner's */
		if (RAND_bytes(key, sizeof(key)) != 1) {
			r = attest_fail_ossl(ATTEST_E_CRYPTO, "nonce key");
			break;
		}
		attest_hex(key, sizeof(key), hex);
		r = st->ops->setting_cas(st, NONCE_KEY_SETTING, NULL, hex);
		if (r == ATTEST_OK) {
			memcpy(s->nonce_key, key, sizeof(key));
			break;
		}
		if (r != ATTEST_E_EXISTS)
			break;
	}
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(hex, sizeof(hex));
	return r;
}

/* ---- id, heartbeat ---- */

struct dup_ctx {
	const struct vsrv *s;
	char other[VSTORE_NAME_MAX];
	int same_log;
	int id_live; /* our id, another log, beating */
	int64_t now;
};

static int find_dup(void *arg, const struct vreplica *r)
{
	struct dup_ctx *c = arg;
	int64_t window = (int64_t)STALE_BEATS * heartbeat_s(c->s);

	/* a live replica (beat 0: stopped cleanly; old: killed, or renamed
	 * since) */
	if (strcmp(r->id, c->s->replica) != 0 && strcmp(r->log_id, c->s->log_hex) == 0 &&
	    r->beat > c->now - window) {
		c->same_log = 1;
		(void)snprintf(c->other, sizeof(c->other), "%s", r->id);
	}
	if (strcmp(r->id, c->s->replica) == 0 && strcmp(r->log_id, c->s->log_hex) != 0 &&
	    r->beat > c->now - window)
		c->id_live = 1;
	return ATTEST_OK;
}

/* stopping: beat 0, "stopped" (a clean exit, not a death) */
static int beat(struct vsrv *s, int stopping)
{
	struct vreplica rp;

	memset(&rp, 0, sizeof(rp));
	(void)snprintf(rp.id, sizeof(rp.id), "%s", s->replica);
	(void)snprintf(rp.log_id, sizeof(rp.log_id), "%s", s->log_hex);
	rp.started = s->started;
	rp.beat = stopping ? 0 : vs_now();
	return s->store->ops->replica_beat(s->store, &rp);
}

int vs_replica_start(struct vsrv *s)
{
	uint8_t id[ATTEST_AUDIT_LOG_ID_LEN];
	struct dup_ctx c;
	int r;

	attest_audit_log_id(s->audit, id);
	attest_hex(id, sizeof(id), s->log_hex);
	if (s->cfg->replica_id != NULL) {
		(void)snprintf(s->replica, sizeof(s->replica), "%s", s->cfg->replica_id);
	} else {
		/* HOSTNAME:<the audit log id's first 8 hex digits>: the same
		 * after a restart of this state directory on any port (a crash
		 * leaves a row that looks alive for a while; a different id
		 * would read as a copy of its own log), different for another
		 * machine's copy of the directory */
		char host[VSTORE_NAME_MAX - 10];

		if (gethostname(host, sizeof(host)) != 0)
			(void)snprintf(host, sizeof(host), "verifier");
		host[sizeof(host) - 1] = '\0';
		(void)snprintf(s->replica, sizeof(s->replica), "%s:%.8s", host, s->log_hex);
	}
	s->started = vs_now();
	memset(&c, 0, sizeof(c));
	c.s = s;
	c.now = s->started;
	if ((r = s->store->ops->replica_list(s->store, find_dup, &c)) != ATTEST_OK)
		return r;
	/* each replica writes its own audit log: a second one appending to a
	 * copy of another's (a copied state directory) would fork one log id
	 * into two histories */
	if (c.same_log)
		return attest_fail(ATTEST_E_STATE,
				   "replica %s: its audit log (id %s) is replica %s's: a copied "
				   "state directory; give each replica its own STATE/audit",
				   s->replica, s->log_hex, c.other);
	if (c.id_live)
		return attest_fail(ATTEST_E_STATE,
				   "replica id %s is in use by a live replica with another audit "
				   "log; give each replica its own --replica-id",
				   s->replica);
	if ((r = vstore_generation(s->store, &s->gen)) != ATTEST_OK || (r = beat(s, 0)) != ATTEST_OK)
		return r;
	vs_log("replica %s: audit log %s, heartbeat every %d s, change generation %" PRIu64,
	       s->replica, s->log_hex, heartbeat_s(s), s->gen);
	return ATTEST_OK;
}

static void beat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct vsrv *s = arg;

	(void)fd, (void)what;
	if (beat(s, 0) != ATTEST_OK) {
		s->beat_failures++;
		vs_log_limited(s, ATTEST_E_IO, "replica %s: heartbeat not stored: %s", s->replica,
			       attest_errdetail());
	}
}

/* ---- the change generation ---- */


/* Another replica changed something: drop what was read from the store
 * once and kept (settings, reference sets, the decision cache, the AK
 * cache) and re-read the policy file (a running policy stays if the file
 * does not parse). */
static void apply_generation(struct vsrv *s)
{
	uint64_t g = 0;
	struct attest_policy *p = NULL;
	int r;

	if ((r = vstore_generation(s->store, &g)) != ATTEST_OK) {
		vs_log_limited(s, r, "change generation not read: %s", attest_errdetail());
		return;
	}
	if (g == s->gen)
		return;
	/* what connections keep (their callers) is stale from now on,
	 * whether or not the rest applies */
	vs_view_drop_all(s);
	if ((r = vs_load_settings(s)) != ATTEST_OK || (r = vs_load_refsets(s)) != ATTEST_OK) {
		/* s->gen stays: the next check tries again */
		vs_log_limited(s, r, "replica %s: changes of generation %" PRIu64 " not applied: %s",
			       s->replica, g, attest_errdetail());
		attest_decider_flush(s->decider);
		return;
	}
	attest_decider_flush(s->decider);
	for (size_t i = 0; i < s->ak_sets * AK_WAYS; i++)
		s->aks[i].host[0] = '\0';
	if (vs_parse_policy(s, &p) == ATTEST_OK && p != NULL &&
	    (s->policy == NULL ||
	     strcmp(attest_policy_version(p), attest_policy_version(s->policy)) != 0))
		vs_install_policy(s, p);
	else
		attest_policy_free(p);
	s->gen = g;
	s->gen_applied++;
}

static void sync_cb(evutil_socket_t fd, short what, void *arg);

/* The LISTEN socket as an event; re-made after it dropped. */
static void watch_arm(struct vsrv *s)
{
	int fd;

	if (!s->cfg->notify || s->store->ops->watch_fd == NULL)
		return;
	if (s->watch_ev == NULL && vs_mono() < s->watch_retry)
		return;
	/* a (re)connect blocks the loop up to connect_timeout: at most one
	 * attempt per WATCH_RETRY_S while the server is away */
	if (s->watch_ev == NULL)
		s->watch_retry = vs_mono() + WATCH_RETRY_S;
	fd = s->store->ops->watch_fd(s->store);
	if (fd == s->watch_fd && s->watch_ev != NULL)
		return;
	if (s->watch_ev != NULL) {
		event_free(s->watch_ev);
		s->watch_ev = NULL;
	}
	s->watch_fd = fd;
	if (fd < 0)
		return;
	s->watch_ev = event_new(s->base, fd, EV_READ | EV_PERSIST, sync_cb, s);
	if (s->watch_ev != NULL && event_add(s->watch_ev, NULL) != 0) {
		event_free(s->watch_ev);
		s->watch_ev = NULL;
	}
}

static void sync_cb(evutil_socket_t fd, short what, void *arg)
{
	struct vsrv *s = arg;
	int notified = 0;

	(void)fd;
	if (what & EV_READ) {
		if (s->store->ops->watch_drain(s->store, &notified) != ATTEST_OK) {
			vs_log_limited(s, ATTEST_E_IO, "replica %s: %s (the periodic check goes on)",
				       s->replica, attest_errdetail());
			if (s->watch_ev != NULL) {
				event_free(s->watch_ev);
				s->watch_ev = NULL;
			}
			s->watch_fd = -1;
		}
		if (!notified)
			return;
		s->notifies++;
	} else {
		watch_arm(s);
	}
	apply_generation(s);
}

int vs_replica_events(struct vsrv *s)
{
	int ms = s->cfg->sync_ms > 0 ? s->cfg->sync_ms : SYNC_MS_DEFAULT;
	struct timeval sync = { ms / 1000, (ms % 1000) * 1000 }, hb = { heartbeat_s(s), 0 };

	s->watch_fd = -1;
	if ((s->gen_ev = event_new(s->base, -1, EV_PERSIST, sync_cb, s)) == NULL ||
	    event_add(s->gen_ev, &sync) != 0 ||
	    (s->beat_ev = event_new(s->base, -1, EV_PERSIST, beat_cb, s)) == NULL ||
	    event_add(s->beat_ev, &hb) != 0)
		return attest_fail(ATTEST_E_NOMEM, "replica timers");
	watch_arm(s);
	return ATTEST_OK;
}

void vs_replica_free(struct vsrv *s)
{
	if (s->beat_ev != NULL && beat(s, 1) != ATTEST_OK)
		vs_log("replica %s: stop not recorded: %s", s->replica, attest_errdetail());
	if (s->gen_ev != NULL)
		event_free(s->gen_ev);
	if (s->beat_ev != NULL)
		event_free(s->beat_ev);
	if (s->watch_ev != NULL)
		event_free(s->watch_ev);
	s->gen_ev = s->beat_ev = s->watch_ev = NULL;
}

/* ---- health and metrics ---- */

struct fleet_ctx {
	const struct vsrv *s;
	cJSON *arr; /* NULL: count only */
	int64_t now;
	unsigned alive, stale;
};

static int replica_entry(void *arg, const struct vreplica *r)
{
	struct fleet_ctx *c = arg;
	int alive = r->beat > c->now - (int64_t)STALE_BEATS * heartbeat_s(c->s);
	cJSON *o;

	if (alive)
		c->alive++;
	else if (r->beat != 0)
		c->stale++;
	if (c->arr == NULL)
		return ATTEST_OK;
	if ((o = cJSON_CreateObject()) == NULL || !cJSON_AddItemToArray(c->arr, o))
		return attest_fail(ATTEST_E_NOMEM, "replicas");
	if (cJSON_AddStringToObject(o, "id", r->id) == NULL ||
	    cJSON_AddStringToObject(o, "log_id", r->log_id) == NULL ||
	    cJSON_AddNumberToObject(o, "started", (double)r->started) == NULL ||
	    cJSON_AddNumberToObject(o, "beat", (double)r->beat) == NULL ||
	    cJSON_AddStringToObject(o, "state", alive		 ? "alive"
						: r->beat == 0 ? "stopped"
							       : "stale") == NULL ||
	    cJSON_AddBoolToObject(o, "self", strcmp(r->id, c->s->replica) == 0) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "replicas");
	return ATTEST_OK;
}

static int stale_entry(void *arg, const struct vhost *h)
{
	cJSON *arr = arg, *o;

	if ((o = cJSON_CreateObject()) == NULL || !cJSON_AddItemToArray(arr, o) ||
	    cJSON_AddStringToObject(o, "host", h->name) == NULL ||
	    cJSON_AddNumberToObject(o, "last_good", (double)h->last_good) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "stale hosts");
	return ATTEST_OK;
}

static int ignore_host(void *arg, const struct vhost *h)
{
	(void)arg, (void)h;
	return ATTEST_OK;
}

int vs_replica_health(struct vsrv *s, cJSON *o)
{
	struct fleet_ctx c = { s, NULL, vs_now(), 0, 0 };
	cJSON *st;
	uint64_t n = 0;
	int r;

	if (cJSON_AddStringToObject(o, "replica", s->replica) == NULL ||
	    (c.arr = cJSON_AddArrayToObject(o, "replicas")) == NULL ||
	    (st = cJSON_AddArrayToObject(o, "stale_hosts")) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "health");
	if ((r = s->store->ops->replica_list(s->store, replica_entry, &c)) != ATTEST_OK ||
	    (r = s->store->ops->host_stale(s->store, c.now - (int64_t)STALE_PUSHES * push_s(s),
					   STALE_LIST_MAX, stale_entry, st, &n)) != ATTEST_OK)
		return r;
	if (cJSON_AddNumberToObject(o, "replicas_alive", c.alive) == NULL ||
	    cJSON_AddNumberToObject(o, "replicas_stale", c.stale) == NULL ||
	    cJSON_AddNumberToObject(o, "hosts_stale", (double)n) == NULL ||
	    cJSON_AddNumberToObject(o, "stale_after", (double)STALE_PUSHES * push_s(s)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "health");
	return ATTEST_OK;
}

void vs_replica_metrics(struct vsrv *s, struct evbuffer *b)
{
	struct fleet_ctx c = { s, NULL, vs_now(), 0, 0 };
	uint64_t n = 0;

	if (s->store->ops->replica_list(s->store, replica_entry, &c) == ATTEST_OK)
		evbuffer_add_printf(b,
				    "# TYPE attest_verifier_replicas gauge\n"
				    "attest_verifier_replicas{state=\"alive\"} %u\n"
				    "attest_verifier_replicas{state=\"stale\"} %u\n",
				    c.alive, c.stale);
	if (s->store->ops->host_stale(s->store, c.now - (int64_t)STALE_PUSHES * push_s(s), 0,
				      ignore_host, NULL, &n) == ATTEST_OK)
		evbuffer_add_printf(b,
				    "# TYPE attest_verifier_hosts_stale gauge\n"
				    "attest_verifier_hosts_stale %" PRIu64 "\n",
				    n);
	evbuffer_add_printf(b,
			    "# TYPE attest_verifier_generation gauge\n"
			    "attest_verifier_generation %" PRIu64 "\n"
			    "# TYPE attest_verifier_generations_applied_total counter\n"
			    "attest_verifier_generations_applied_total %lu\n"
			    "# TYPE attest_verifier_notifies_total counter\n"
			    "attest_verifier_notifies_total %lu\n"
			    "# TYPE attest_verifier_heartbeat_failures_total counter\n"
			    "attest_verifier_heartbeat_failures_total %lu\n",
			    s->gen, s->gen_applied, s->notifies, s->beat_failures);
}
