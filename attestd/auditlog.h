/* auditlog.h - attestd's audit log (docs/audit.md "attestd"): what it
 * records, the durability gate of its replies and the TPM checkpoints.
 *
 * Everything runs on the event loop (one thread), like every TPM command,
 * except fdatasync for issuance: the monitor holds each issued chain until
 * attestd_audit_when_durable says its record is durable, while a sync
 * thread (audit/auditsync.h) syncs and the loop keeps serving; what arrives
 * during one sync goes in the next (group commit). Admin changes and
 * --no-privsep replies still use attestd_audit_commit (server.h, a sync on
 * the loop, once per loop turn). A failed append fails the request; a
 * failed sync turns the held replies into ATTEST_E_IO (fail closed).
 */
#ifndef ATTESTD_AUDITLOG_H
#define ATTESTD_AUDITLOG_H

#include <stdint.h>

#include <openssl/x509.h>

#include "audit/audit.h"
#include "audit/auditsync.h"
#include "server.h"

struct event;
struct event_base;
struct agent;
struct attestd_clock;
struct attestd_host;

#define ATTESTD_CKPT_POSTPONE_MAX 5 /* ticks (s) a due checkpoint yields the TPM */

struct attestd_auditlog {
	struct attest_audit *audit;
	char dir[600];
	struct event *timer; /* once a second */
	/* issuance's group commit: the sync thread (audit/auditsync.h) and
	 * the event on its descriptor; NULL before attestd_audit_start */
	struct attest_audit_syncer *syncer;
	struct event *sync_ev;
	struct attestd_host *host;   /* its TPM checkpoints; its name in records */
	struct attestd_clock *clock; /* checked at each checkpoint */
	/* records may stay unanchored (no checkpoint covering them) this
	 * long before issuance stops (0: no limit); since when the oldest
	 * waits (0: none) */
	uint64_t max_unanchored_s;
	uint64_t unanchored_since;
	int unanchored_stopped; /* logged once per episode */
	/* ticks a due checkpoint was put off because another thread (the
	 * renewal thread) held the TPM: at most ATTESTD_CKPT_POSTPONE_MAX,
	 * then the loop waits for it */
	unsigned ckpt_postponed;
	/* told of each checkpoint made (the daemon pushes it to the verifier) */
	void (*checkpointed)(void *arg, const struct attest_audit_ckpt *c);
	void *checkpointed_arg;
};

/* Open (create) the log in dir (NULL: STATE/audit of h), checkpoint due
 * after ckpt_interval_s seconds (0: the library's 60 s), checkpoints with
 * h's TPM. */
int attestd_audit_open(struct attestd_auditlog *l, struct attestd_host *h,
		       struct attestd_clock *k, const char *dir,
		       uint64_t ckpt_interval_s) ATTEST_MUST_CHECK;
/* A checkpoint now (the start-up one), then every second: refusal
 * aggregates, a checkpoint when due, else a sync of what is pending. The
 * stored checkpoints the verifier has not answered are queued before it
 * (attestd_push_resume), so they reach it in order. */
int attestd_audit_start(struct event_base *base, struct attestd_auditlog *l) ATTEST_MUST_CHECK;
/* Refusal aggregates, a last checkpoint when records are uncovered, close. */
void attestd_audit_stop(struct attestd_auditlog *l);

/* Append ev (host and time filled in); not durable until the commit. */
int attestd_audit(struct attestd_auditlog *l, struct attest_audit_event *ev) ATTEST_MUST_CHECK;
/* An admin change (register, revoke, remove) of agent a with outcome. */
int attestd_audit_agent(struct attestd_auditlog *l, const char *type, const struct agent *a,
			const char *outcome, int code) ATTEST_MUST_CHECK;
/* The same with the change's source (e.g. "verifier": a revocation the
 * verifier delivered). */
int attestd_audit_agent_from(struct attestd_auditlog *l, const char *type, const struct agent *a,
			     const char *outcome, int code, const char *source) ATTEST_MUST_CHECK;
/* The intent behind an issuance, for its record: the chain's agents
 * (0..depth), user and purpose. */
struct attestd_audit_intent {
	const char *const *agents;
	size_t nagents;
	const char *user, *purpose, *purpose_text;
	unsigned depth;
};
/* An issued certificate: leaf, its intent if any (one that consumed a
 * delegation is a "delegate" record), scopes "a b c" as in the leaf. */
/* dns: the DNS names the leaf carries beside its SPIFFE ID (ndns 0: none). */
int attestd_audit_issue(struct attestd_auditlog *l, const struct attestd_peer *peer,
			const struct agent *a, X509 *leaf, const struct attestd_audit_intent *in,
			int renewal, const char *scopes, const char *const *dns,
			size_t ndns) ATTEST_MUST_CHECK;
/* A JWT-SVID minted (issue 14): sub (the agent's SPIFFE ID), its
 * audiences, exp and the signing key's kid; the token's SHA-256 as
 * evidence. Appended before the token leaves (the caller commits). */
int attestd_audit_jwt(struct attestd_auditlog *l, const struct attestd_peer *peer,
		      const char *sub, const char *const *aud, size_t naud, int64_t exp,
		      const char *kid, const char *token) ATTEST_MUST_CHECK;
/* A refused request (aggregated per source uid/pid; best effort, logged). */
void attestd_audit_refusal(struct attestd_auditlog *l, const struct attestd_peer *peer, const char *op,
			   const char *agent, int code);
/* A host CA certificate installed (renewal); best effort, logged. */
void attestd_audit_host_ca(struct attestd_auditlog *l, X509 *host_ca, const char *how);

/* Records no checkpoint covers yet, and how long (s) the oldest of them
 * has waited (0, 0 when all are anchored). Updates l->unanchored_since. */
void attestd_audit_unanchored(struct attestd_auditlog *l, uint64_t now, uint64_t *records,
			      uint64_t *age_s);
/* Before issue and register: ATTEST_OK, or ATTEST_E_AUDIT_UNANCHORED when
 * records have waited longer than l->max_unanchored_s (fail closed). */
int attestd_audit_anchored_ok(struct attestd_auditlog *l);

/* fn(arg, code) once every record appended so far is durable: from the
 * sync thread's next batch while the loop keeps serving (group commit),
 * at once when they are durable already; ATTEST_E_IO when the sync failed
 * (fail closed). Without a sync thread (not started): a sync now. */
int attestd_audit_when_durable(struct attestd_auditlog *l, attest_audit_durable_fn fn,
			       void *arg) ATTEST_MUST_CHECK;

/* server.h's durability gate; ctx is the struct attestd_auditlog. */
int attestd_audit_unsynced(void *ctx);
int attestd_audit_commit(void *ctx);

#endif
