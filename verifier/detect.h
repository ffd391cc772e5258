/* detect.h - behaviour baselines and anomaly scores at the point of use
 * (docs/detection.md).
 *
 * One table of entities: an agent ("a:" + SPIFFE ID) or a user behind
 * agents ("u:" + intent sub). Each holds a baseline learnt online from its
 * decisions: EWMA mean and variance of per-window features (decisions,
 * distinct resources, distinct data subjects, deny ratio), the hours of the
 * day it works, the purposes it used and its usual resources, plus what
 * the posture report needs (scopes used by allowed decisions, last seen,
 * delegation used). A decision is scored against the baseline before it is
 * folded in. Everything is bounded: entities (LRU out), sets, reasons.
 * Pure: no I/O, the caller passes the time; the verifier persists dirty
 * entities in batches (vd_dirty / vd_state_json) and loads them at start.
 * One thread; no locks. */
#ifndef VERIFIER_DETECT_H
#define VERIFIER_DETECT_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "attest/attest.h"

#define VD_KEY_MAX 412          /* "a:" + SPIFFE ID (+NUL) */
#define VD_ENTITIES_DEFAULT 4096
#define VD_ENTITIES_MAX (1 << 18)
#define VD_BITMAP_BITS 1024     /* linear counting of distinct values per window */
#define VD_USUAL 128            /* usual resources per entity */
#define VD_PURPOSES 8
#define VD_SCOPES 16            /* scopes used, per agent */
#define VD_REASONS 4
#define VD_REASON_MAX 24
#define VD_ALERTS_MAX 256       /* ring of recent alerts (/v1/alerts) */
#define VD_SUBJECT_FIELD_MAX 64

/* Tunables (docs/detection.md); vd_config_default fills them. */
struct vd_config {
	int64_t window;        /* seconds of a feature window (60) */
	unsigned min_windows;  /* active windows before rate features score (8) */
	unsigned min_events;   /* decisions before novelty features score (40) */
	double alpha;          /* EWMA weight of a new window (0.1) */
	double z_low, z_high;  /* z at which a feature starts to score, and scores 1 (4, 10) */
	double threshold;      /* score at or over which a decision is an alert (0.5) */
	/* how a data subject (patient) is derived: the value of context key
	 * subject_ctx when the request has it, else resource segment
	 * subject_segment (0-based, '/'-separated; -1 none) */
	char subject_ctx[VD_SUBJECT_FIELD_MAX];
	int subject_segment;
	int enabled; /* "enabled": false in the policy turns scoring off (1) */
};

void vd_config_default(struct vd_config *c);
/* The policy's "detection" object into c (defaults for what it leaves
 * out); NULL keeps the defaults. ATTEST_E_POLICY naming the field. */
int vd_config_parse(const cJSON *o, struct vd_config *c) ATTEST_MUST_CHECK;

/* One decision as the detector sees it; strings borrowed. */
struct vd_obs {
	const char *agent;    /* calling agent's SPIFFE ID ("" unknown: not scored) */
	const char *user;     /* intent sub, NULL or "" without intent */
	const char *purpose;  /* NULL without intent */
	const char *resource;
	const char *subject;  /* derived data subject, NULL none */
	int64_t now;
	int64_t leaf_life;    /* the leaf's notAfter - notBefore, seconds; 0 unknown */
};

struct vd_score {
	double score; /* 0..1, noisy-OR of the features' scores */
	unsigned nreasons;
	char reasons[VD_REASONS][VD_REASON_MAX]; /* highest first */
	int learning; /* the agent's baseline is still in its cold start */
};

struct vd;

int vd_new(const struct vd_config *c, size_t entities, struct vd **out) ATTEST_MUST_CHECK;
void vd_free(struct vd *d);
void vd_set_config(struct vd *d, const struct vd_config *c);
const struct vd_config *vd_config(const struct vd *d);
/* The data subject of a request: ctx value or resource segment into out. */
const char *vd_subject(const struct vd *d, const char *resource, const char *const *ckeys,
		       const char *const *cvals, size_t nctx, char *out, size_t outsz);
/* Score o against the agent's (and its user's) baseline; nothing learnt. */
void vd_score(struct vd *d, const struct vd_obs *o, struct vd_score *out);
/* Fold the decided o into the baselines: allow/deny, the scopes the
 * deciding rule required (allowed decisions), delegators of the chain,
 * the agent's longest leaf lifetime (o->leaf_life). */
void vd_learn(struct vd *d, const struct vd_obs *o, int allow, const char *const *scopes,
	      size_t nscopes, const char *const *delegators, size_t ndelegators);

/* ---- what the posture report reads ---- */
struct vd_usage {
	int64_t first_seen, last_seen; /* 0: never */
	uint64_t decisions;
	int delegated;                 /* appeared as a delegator in a chain */
	size_t nscopes;
	uint64_t scope_hash[VD_SCOPES];
	int64_t scope_last[VD_SCOPES];
	int64_t ttl_max;               /* longest leaf lifetime seen, seconds; 0: none */
	int64_t ttl_at;                /* when a leaf that long was last seen */
};
uint64_t vd_hash(const char *s);
/* ATTEST_E_NOT_FOUND when the agent has no entity */
int vd_usage(struct vd *d, const char *agent, struct vd_usage *out);
/* The same from a stored state (the posture CLI reads the store). */
int vd_usage_from_json(const char *json, struct vd_usage *out) ATTEST_MUST_CHECK;

/* ---- persistence: entities changed since last taken ---- */
/* Up to max dirty entities' keys and states (cJSON text, the caller's to
 * free) ; marks them clean. Returns how many. */
size_t vd_take_dirty(struct vd *d, size_t max, char (*keys)[VD_KEY_MAX], char **states);
/* An entity back from its stored state (start-up); over the cap it is
 * dropped (ATTEST_E_CAPACITY is not an error the caller needs). */
int vd_restore(struct vd *d, const char *key, const char *state) ATTEST_MUST_CHECK;
size_t vd_count(const struct vd *d);
unsigned long vd_evictions(const struct vd *d);

/* ---- alerts ---- */
struct vd_alert {
	int64_t time;
	char agent[VD_KEY_MAX];
	char user[128];
	double score;
	unsigned nreasons;
	char reasons[VD_REASONS][VD_REASON_MAX];
	int allow;
	char resource[256];
	char purpose[32];
};
void vd_alert_push(struct vd *d, const struct vd_alert *a);
/* The newest up to n alerts, newest first; returns how many. */
size_t vd_alerts(const struct vd *d, struct vd_alert *out, size_t n);
unsigned long vd_alert_count(const struct vd *d);

#endif
