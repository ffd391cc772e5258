/* vsrv.h - attest-verifier's service internals shared by its files:
 * server.c (helpers, audit group commit, callers, rate limits, fleet CA
 * records, facts, configuration, routing, lifecycle), hosts.c (enrolment,
 * nonces, quotes, audit checkpoints), inventory.c (agent reports),
 * decide_http.c (decisions), admin.c (admin and open endpoints). One
 * event-loop thread runs all of it: nothing here takes locks. */
#ifndef VERIFIER_VSRV_H
#define VERIFIER_VSRV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <cJSON.h>
#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "attest/decide.h"
#include "attest/intent.h"
#include "attest/policy.h"
#include "audit/audit.h"
#include "audit/auditsync.h"
#include "enrol/enrol.h"
#include "net/httpd.h"
#include "attestation/refset.h"
#include "bodies.h"
#include "alertsink.h"
#include "config.h"
#include "detect.h"
#include "signer.h"
#include "store.h"
#include "tpm/tpm.h"

#define BODY_MAX VB_CAP_LARGE
#define DECIDE_BODY_MAX VB_CAP_DECIDE
#define HEADERS_MAX (8 * 1024)
#define AUTHZ_HEADERS_MAX (48 * 1024) /* /v1/authz: a leaf with its intent chain */
#define EVHTTP_BODY_CEILING (2 * BODY_MAX)
#define EVHTTP_HEADERS_CEILING (64 * 1024)
#define REPORT_SKEW 300
#define BUCKETS 4096
#define BUCKET_PROBE 8
#define AK_WAYS 8            /* host AK cache: ways per set (LRU within) */
#define AK_CACHE_DEFAULT 4096 /* entries; --ak-cache */
#define LEAF_CACHE_DEFAULT 16384   /* decider leaf entries; --leaf-cache */
#define ISSUER_CACHE_DEFAULT 16384 /* decider issuer entries; --issuer-cache */
#define CACHE_ENTRIES_MAX (1 << 20)
#define MAX_REFSETS 16
#define MAX_OPERATORS 32

/* ROLE_VIEW: the dashboard (dashboard.c): an admin client certificate, or
 * none from a loopback peer when --dashboard loopback (the default) */
enum role { ROLE_HOST = 0, ROLE_RESOURCE = 1, ROLE_ADMIN = 2, ROLE_VIEW = 3 };

/* A token bucket, found by a keyed hash of its key and compared on the
 * whole key: two keys never share one. */
struct bucket {
	char key[80];
	double tokens;
	double last;
	double rate;
};

struct ak_entry {
	char host[VSTORE_NAME_MAX]; /* "" when free */
	uint64_t last;              /* tick of the last use, for LRU */
	struct timespec mtime; /* of the CA's host record, to notice changes */
	ino_t ino;
	off_t size;
	int64_t stat_ms; /* CLOCK_MONOTONIC ms of the last stat that matched */
	uint8_t ak[sizeof(TPM2B_PUBLIC) + 8];
	size_t ak_len;
	uint32_t ref_mask;
	uint8_t ref[24 * 32];
	size_t ref_len;
	/* the host's row as the decider reads it (factview.c): valid while
	 * row_ok and row_epoch is the view's epoch */
	int row_ok, row_revoked, row_trusted;
	uint64_t row_epoch;
	int64_t row_last_good;
};

#define AGENT_VIEW_WAYS 8
#define AGENT_VIEW_DEFAULT 16384 /* agents whose facts are kept (factview.c) */

/* An agent's facts as the decider reads them, from its store row and the
 * settings (approval, scope cap) in force when it was read. */
struct agent_view {
	char id[VSTORE_ID_MAX]; /* "" when free */
	uint64_t last;          /* tick of the last use, for LRU */
	uint64_t epoch;         /* the view's epoch it was read in */
	struct attest_agent_facts f;
	char *scopes, *classes; /* f.scopes, f.data_classes (owned) */
};

struct metrics {
	unsigned long requests[6]; /* by status class 1xx..5xx, [0] other */
	unsigned long decisions_allow, decisions_deny;
	unsigned long jwt_valid, jwt_refused; /* POST /v1/spiffe/validate-jwt */
	unsigned long quotes_good, quotes_bad, reports, refused_callers, rate_limited;
	/* host audit checkpoints taken after a gap, and the counters missed */
	unsigned long checkpoint_gaps;
	unsigned long long checkpoints_missed;
	unsigned long reason[ATTEST_E__COUNT];
	unsigned long lat_bucket[8]; /* decision latency <= 50us,100,250,500,1ms,5,10,+Inf */
	unsigned long ak_hits, ak_misses, ak_evictions; /* host AK cache */
	/* the caller kept on its TLS connection (server.c caller_of) */
	unsigned long caller_hits, caller_misses;
	/* the fact view (factview.c): host rows, agent rows */
	unsigned long hview_hits, hview_misses, aview_hits, aview_misses, aview_evictions;
	double lat_sum;
};

/* A reply held until the audit records before it are durable (a waiter
 * of the audit sync thread, audit/auditsync.h). */
struct pending {
	struct vsrv *s;
	struct evhttp_request *req;
	int status;
	char *body;
};

#define PENDING_MAX 4096
#define LOG_BURST 20 /* peer-caused lines per flush interval (10 s) */

/* stderr's budget: what a flush interval wrote, held back and counted */
struct lograte {
	unsigned lines;
	unsigned long suppressed;
	unsigned long by_reason[ATTEST_E__COUNT];
	unsigned long allow, deny;
	struct attest_httpd_stats conn; /* at the last interval */
};

/* The dashboard's recent decisions (dashboard.c): a ring of DASH_RING,
 * DASH_SHOWN of them (and of the denials) in a state reply, per-minute
 * counts over DASH_BINS minutes, hosts and agents listed up to
 * DASH_LIST_MAX each. About 2 KB an entry: 1 MB in all. */
#define DASH_RING 512
#define DASH_SHOWN 100
#define DASH_BINS 60
#define DASH_LIST_MAX 2000
#define DASH_HOPS (ATTEST_INTENT_MAX_DEPTH + 1)
struct dash_dec {
	int64_t t;
	int allow, reason;
	int scored;   /* the detector scored it: score, and its first reason */
	double score;
	char why[64];
	unsigned nagents;
	char rule[64], caller[VSTORE_NAME_MAX], host[64], user[128], purpose[32];
	char purpose_text[160], action[65], resource[257], subject[65], scopes[256];
	char agents[DASH_HOPS][256]; /* user's first agent .. the leaf's */
};
struct dash_bin {
	int64_t minute; /* Unix minute these counts are of */
	unsigned long allow, deny;
};
struct vdash {
	struct dash_dec *ring;
	size_t head, n;
	struct dash_bin bins[DASH_BINS];
	uint8_t key[32]; /* admins' request tokens (HMAC key), drawn at start */
};

/* Decision-cache partitions (attest_decide_req.partition) 1..VS_PARTS: one
 * per resource caller, assigned on its first decision; a caller not seen for
 * longest gives its partition up only when all are taken. */
#define VS_PARTS 63u

struct vsrv {
	const struct vf_config *cfg;
	struct {
		char name[VSTORE_NAME_MAX]; /* "" while free */
		uint64_t used;              /* parts_tick at its last decision */
	} parts[VS_PARTS];
	uint64_t parts_tick;
	struct attest_audit *audit;
	/* group commit: fdatasync on the sync thread, replies sent as their
	 * batch becomes durable; sync_ev watches its descriptor */
	struct attest_audit_syncer *syncer;
	struct event *sync_ev;
	struct event *flush_ev;   /* refusal aggregates and checkpoints, every 10 s */
	struct attest_tpm *tpm;   /* --tcti: the verifier's own log is checkpointed */
	size_t npending;          /* replies waiting on the sync thread */
	struct event_base *base;
	struct attest_httpd *httpd;
	struct vstore *store;
	struct attest_ca *ca; /* signs through signer (no CA key in this process) */
	struct vf_signer signer;
	/* GET /v1/crl (crl_http.c): the issuing CA's CRL last signed, when,
	 * and for which revoked hosts (SHA-256 of their names) */
	X509_CRL *issuing_crl;
	int64_t issuing_crl_made;
	uint8_t issuing_crl_set[32];
	X509 *root;
	struct attest_intent_trust *trust;
	struct attest_policy *policy;
	char policy_path[PATH_MAX];
	struct attest_decider *decider;
	struct attest_facts facts;
	struct attest_refset_operator ops[MAX_OPERATORS];
	char op_names[MAX_OPERATORS][ATTEST_REFSET_KID_MAX + 1];
	size_t nops;
	size_t nissuers;
	struct attest_refset *sets[MAX_REFSETS];
	size_t nsets;
	int approval_required;
	int cap_on;                      /* a fleet-wide scope cap is set */
	char scope_cap[VSTORE_LIST_MAX]; /* its scopes (may be none at all) */
	char facts_scopes[VSTORE_LIST_MAX];
	struct vhost fact_host;
	struct vagent fact_agent;
	struct agent_view *av; /* av_sets * AGENT_VIEW_WAYS (factview.c) */
	size_t av_sets;
	uint64_t av_tick;
	struct ak_entry *aks; /* ak_sets * AK_WAYS */
	size_t ak_sets;
	uint64_t ak_tick;
	struct bucket *buckets;
	struct metrics m;
	struct lograte lr;
	struct vdash dash;
	/* per-process secrets, drawn at start: the table hash key (SipHash,
	 * so nobody outside can compute colliding keys) and the nonce MAC
	 * key (nonces are stateless until a quote consumes them) */
	EVP_MAC_CTX *sip;
	uint8_t nonce_key[32];
	/* replicas (replica.c): this one's id and audit log id (hex), the
	 * change generation last applied, and the timers */
	char replica[VSTORE_NAME_MAX];
	char log_hex[2 * ATTEST_AUDIT_LOG_ID_LEN + 1];
	int64_t started;
	uint64_t gen;
	/* bumped whenever a generation other than gen is seen, applied or
	 * not: what a connection kept of the store (its caller) is stale */
	uint64_t view_epoch;
	struct event *gen_ev, *beat_ev, *watch_ev;
	int watch_fd;
	double watch_retry; /* vs_mono() before which no LISTEN reconnect */
	unsigned long gen_applied, notifies, beat_failures;
	/* behaviour detection (detect_http.c, docs/detection.md) */
	struct vd *vd;
	struct vd_config vdc_next; /* parsed with the policy, set when installed */
	struct vd_score cur;       /* the decision in progress: its score */
	int cur_scored;
	const char *cur_subject;
	struct event *detect_ev;   /* write-behind of baselines, every VS_DETECT_FLUSH s */
	struct vas_sink *sink;
	unsigned long behaviour_rows, behaviour_batches, behaviour_failed;
	unsigned posture_counts[16]; /* findings per kind (posture.h), for /metrics */
	double posture_at;           /* vs_mono() of that report, 0 none */
	/* federated trust domains (federation.c), NULL without --federation */
	struct fedset *fed;
};

#define VS_POSTURE_TTL 30.0    /* seconds a /metrics scrape reuses the posture counts */

#define VS_DETECT_FLUSH 2      /* seconds between write-behind batches */
#define VS_DETECT_BATCH 256    /* baselines per batch (one transaction) */

/* Revocation reasons say who revoked: an operator's (admin API) stays
 * until an operator lifts it, whatever the host reports or registers
 * again; the host's follow its reports. */
#define REVOKED_BY_HOST "host: revoked"
#define REMOVED_BY_HOST "host: removed"
#define OPERATOR_PREFIX "operator "

int64_t vs_now(void);
double vs_mono(void);
void vs_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vs_log_limited(struct vsrv *s, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void vs_count_status(struct vsrv *s, int status);
void vs_reply_obj(struct vsrv *s, struct evhttp_request *req, int status, cJSON *o);
void vs_reply_err(struct vsrv *s, struct evhttp_request *req, int status, int code,
		      const char *what);
void vs_audited_text(struct vsrv *s, struct evhttp_request *req, int status, char *body,
			 const struct attest_audit_event *ev);
void vs_audited_reply(struct vsrv *s, struct evhttp_request *req, int status, cJSON *o,
			  const struct attest_audit_event *ev);
void vs_audited_ok(struct vsrv *s, struct evhttp_request *req, const char *body,
		       const struct attest_audit_event *ev);
int vs_status_of(int code);
int vs_body_json(struct evhttp_request *req, size_t cap, const char *const *keys,
		     cJSON **out, char **raw);
const char *vs_opt_str(const cJSON *o, const char *key);
int vs_keyed_hash(struct vsrv *s, const void *data, size_t len, uint64_t *out) ATTEST_MUST_CHECK;
int vs_host_record(struct vsrv *s, const char *host, struct ak_entry **out);
/* The same for a decision: the CA's record is looked at again (stat) at
 * most once per --sync-ms per host, the window in which a change another
 * process made (a replica, attest-provision) is applied anyway; the host
 * endpoints (quotes, reports) use vs_host_record and see it at once. */
int vs_host_record_decide(struct vsrv *s, const char *host, struct ak_entry **out);
/* The host AK cache of entries (0: AK_CACHE_DEFAULT), and the decider's
 * caches (0: LEAF_CACHE_DEFAULT, ISSUER_CACHE_DEFAULT): --ak-cache,
 * --leaf-cache, --issuer-cache. */
int vs_ak_cache_init(struct vsrv *s, size_t entries) ATTEST_MUST_CHECK;
int vs_decider_cache_init(struct vsrv *s, size_t leaves, size_t issuers) ATTEST_MUST_CHECK;
int vs_host_not_revoked(struct vsrv *s, const char *host) ATTEST_MUST_CHECK;
int vs_host_row(struct vsrv *s, const char *host, struct vhost *h);
int vs_load_settings(struct vsrv *s);
int vs_load_refsets(struct vsrv *s);
int vs_load_policy(struct vsrv *s);
int vs_parse_policy(struct vsrv *s, struct attest_policy **out) ATTEST_MUST_CHECK;
void vs_install_policy(struct vsrv *s, struct attest_policy *p);
int vs_audit_durable(struct vsrv *s, const struct attest_audit_event *ev) ATTEST_MUST_CHECK;
int vs_record_change(struct vsrv *s, const char *type, const struct vcaller *who,
			 const char *host, const char *agent, const char *reason);
/* One route of the API: server.c's table is the only place that binds a
 * method and path to a role, a body cap and a handler. A handler reads its
 * body with rt->body_cap; rt->arg picks its variant (enrolment request or
 * response, hosts or agents, ...); who is the authenticated caller for
 * ROLE_RESOURCE and ROLE_ADMIN routes, NULL for ROLE_HOST. */
#define VR_GET 1u
#define VR_POST 2u
#define VR_ANY 0xffu /* every method; a body is not read (/v1/authz) */
struct vroute;
typedef void vs_handler(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt,
			const struct vcaller *who);
struct vroute {
	const char *path;
	unsigned methods; /* VR_GET | VR_POST */
	enum role role;
	size_t body_cap;  /* bytes of a POST body */
	vs_handler *fn;
	int arg;
	int prefix;         /* also serves rt->path + "/..." (Envoy's path_prefix) */
	size_t headers_cap; /* request line and headers; 0: HEADERS_MAX */
};

vs_handler vs_enrol, vs_nonce, vs_quote, vs_report, vs_checkpoint, vs_decide, vs_list, vs_revoke,
	vs_approve, vs_settings, vs_refsets, vs_reload, vs_health, vs_metrics, vs_authz;
/* detect_http.c: GET /v1/posture, GET /v1/alerts (admin) */
vs_handler vs_posture, vs_alerts;
/* detect_http.c: the detector around a decision, its start, flush, metrics */
/* federation.c: --federation read and the bundles' fetcher made (before
 * the drop; the decider learns the lookup), its thread started (after),
 * freed; each domain's state as admin JSON objects added to arr. */
struct fedset;
int vs_fed_init(struct vsrv *s) ATTEST_MUST_CHECK;
int vs_fed_start(struct vsrv *s) ATTEST_MUST_CHECK;
void vs_fed_free(struct vsrv *s);
int vs_fed_status(struct vsrv *s, cJSON *arr) ATTEST_MUST_CHECK;
int vs_detect_start(struct vsrv *s) ATTEST_MUST_CHECK;
void vs_detect_stop(struct vsrv *s);
void vs_detect_flush_cb(evutil_socket_t fd, short what, void *arg);
void vs_detect_before(struct vsrv *s, struct attest_decide_req *dr, char *subj, size_t subjsz);
/* after the decision: learn, add the score to the reply o and to the
 * audit reason, raise an alert; reason/rsz the record's reason text */
int vs_detect_after(struct vsrv *s, const struct attest_decision *d, const struct attest_decide_req *dr,
		    cJSON *o, char *reason, size_t rsz) ATTEST_MUST_CHECK;
struct evbuffer;
void vs_detect_metrics(struct vsrv *s, struct evbuffer *b);
/* fleet.c: the policy's "detection" object into s->vdc_next */
int vs_parse_detection(struct vsrv *s, const char *json, size_t len) ATTEST_MUST_CHECK;

/* dashboard.c: the pages (rt->arg 0 index, 1 script, 2 style, 3 icon), the state
 * (GET /v1/dashboard/state), an admin's revocation from the page */
vs_handler vs_dash_asset, vs_dash_state, vs_dash_revoke;
/* dashboard.c: /v1/dashboard/posture (rt->arg 0) and /v1/dashboard/alerts (1) */
vs_handler vs_dash_detect;
int vs_dash_init(struct vsrv *s) ATTEST_MUST_CHECK;
void vs_dash_free(struct vsrv *s);
/* who may see the dashboard: ATTEST_OK with who set to the loopback
 * viewer (no certificate), or for has_cert, ATTEST_OK and the router
 * checks an admin's certificate; else why not */
int vs_dash_access(struct vsrv *s, struct evhttp_request *req, int has_cert,
		   struct vcaller *who) ATTEST_MUST_CHECK;
/* the access rules' pieces, for tests: a loopback peer address (127/8,
 * ::1, ::ffff:127/104), a Host header naming loopback (localhost,
 * 127.x.y.z or [::1], an optional port) */
int vs_dash_loopback_addr(const char *addr);
int vs_dash_loopback_host(const char *host);
/* one decision into the ring and the per-minute counts */
void vs_dash_record(struct vsrv *s, const struct vcaller *who, const struct attest_decision *d,
		    const char *action, const char *resource, const char *subject);
/* spiffe_http.c: GET /v1/spiffe/bundle, the SPIFFE bundle (docs/spiffe.md) */
vs_handler vs_spiffe_bundle;
vs_handler vs_spiffe_validate;
/* the SPIFFE bundle's JWT keys changed: spiffe_sequence moves (spiffe_http.c) */
int vs_spiffe_bump(struct vsrv *s) ATTEST_MUST_CHECK;
vs_handler vs_crl;

/* decide_http.c: decide and answer (200 allow, 403 deny; fwd: X-Attest-*
 * headers too) after the audit record; /v1/decide and /v1/authz both */
void vs_decide_reply(struct vsrv *s, struct evhttp_request *req, const struct vcaller *who,
		     struct attest_decide_req *dr, int fwd);

/* decide_http.c: the caller's own decision-cache partition, 1..VS_PARTS */
unsigned vs_caller_partition(struct vsrv *s, const char *name);
/* reply.c: event callbacks and the verifier's own checkpoint, for vf_serve */
void vs_sync_cb(evutil_socket_t fd, short what, void *arg);
void vs_flush_cb(evutil_socket_t fd, short what, void *arg);
void vs_checkpoint_own(struct vsrv *s);
/* fleet.c: start-up pieces for vf_serve */
int vs_keyed_init(struct vsrv *s) ATTEST_MUST_CHECK;
int vs_fact_host(void *arg, const char *host, struct attest_host_facts *out);
/* factview.c: the decider's facts from memory, kept coherent with the
 * store. Every write of a host or agent row in this process drops that
 * row (vs_view_host_drop, vs_view_agent_drop); a change generation, local
 * (vs_changed) or another replica's (replica.c), drops all of them
 * (vs_view_drop_all). */
int vs_view_init(struct vsrv *s, size_t agents) ATTEST_MUST_CHECK;
void vs_view_free(struct vsrv *s);
void vs_view_host_drop(struct vsrv *s, const char *host);
void vs_view_agent_drop(struct vsrv *s, const char *id);
void vs_view_drop_all(struct vsrv *s);
int vs_fact_agent(void *arg, const char *id, struct attest_agent_facts *out);
int vs_load_keys(const char *state, const char *sub,
		 int (*cb)(struct vsrv *s, const char *name, EVP_PKEY *k), struct vsrv *s);
int vs_add_issuer(struct vsrv *s, const char *name, EVP_PKEY *k);
int vs_add_operator(struct vsrv *s, const char *name, EVP_PKEY *k);
/* replica.c (issue 18): N verifiers on one store behave as one. */
/* The nonce MAC key every replica shares: the store's setting
 * "nonce_key", made once (compare-and-set) by whichever starts first. */
int vs_nonce_key_load(struct vsrv *s) ATTEST_MUST_CHECK;
/* This replica's id (cfg or HOSTNAME:PORT), its first heartbeat, and the
 * check that no other replica writes the same audit log (a copied state
 * directory): ATTEST_E_STATE. */
int vs_replica_start(struct vsrv *s) ATTEST_MUST_CHECK;
/* The timers: heartbeat, generation check, LISTEN socket. */
int vs_replica_events(struct vsrv *s) ATTEST_MUST_CHECK;
void vs_replica_free(struct vsrv *s);
/* After a change every replica must apply (revocation, settings,
 * reference sets, policy reload, AK reset, demotion): bump the store's
 * generation (NOTIFY on PostgreSQL). A failure is logged: the change
 * itself is stored, and the other replicas' caches expire by their own
 * checks of what they read from the store. */
void vs_changed(struct vsrv *s, const char *what);
/* /v1/health and /metrics: the fleet's replicas and the stale hosts. */
int vs_replica_health(struct vsrv *s, cJSON *o) ATTEST_MUST_CHECK;
void vs_replica_metrics(struct vsrv *s, struct evbuffer *b);

#endif
