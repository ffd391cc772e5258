/* daemon.h - attestd's parts put together: the host (TPM and identity),
 * the registry, the audit log, the clock, the pushes and the intent trust,
 * which the request handlers (register.c, issue.c) use and dispatch.c
 * routes requests to (docs/protocol.md).
 *
 * Arrows point one way: attestd.c -> dispatch.c -> handlers -> the parts
 * (auditlog, push, signers, clock, host, registry, caller, request) ->
 * libattest. A part never calls the daemon back; what it must announce
 * upward (a checkpoint made, a host CA renewed) goes through a hook the
 * daemon sets. scripts/check-cycles.py checks the files of attestd/. */
#ifndef ATTESTD_DAEMON_H
#define ATTESTD_DAEMON_H

#include <stdint.h>
#include <time.h>

#include "attest/attest.h"
#include "auditlog.h"
#include "clock.h"
#include "host.h"
#include "measure/measure.h"
#include "monproto.h"
#include "registry.h"

#define ATTESTD_HARD_MAX_TTL 3600
/* default --audit-max-unanchored: 15 checkpoint intervals */
#define ATTESTD_MAX_UNANCHORED_S 900
/* STATE/intent-used is pruned of expired markers at most this often. */
#define ATTESTD_INTENT_PRUNE_S 3600

struct attestd_push;
struct attest_intent_trust;
struct attestd_renew;

struct attestd {
	int lock_fd; /* STATE/attestd.lock, held while running (-1: not held) */
	struct attestd_host host;
	struct registry reg;
	struct attest_measure_cache *cache;
	long hard_max_ttl;
	/* trusted intent issuers (STATE/intent-issuers/NAME.pem) and the
	 * fleet root, for intent grants and delegation chains (issue.c) */
	struct attest_intent_trust *intent_trust;
	unsigned intent_issuers;
	/* the same for the front, as the answer to MON_TRUST (monitor.c) */
	struct mon_out front_trust;
	/* when STATE/intent-used was last pruned (issue.c) */
	time_t intent_pruned;
	/* pushes to the verifier (push.c); NULL without --verifier */
	struct attestd_push *push;
	/* the audit log (auditlog.c), opened after attestd_open */
	struct attestd_auditlog log;
	/* wall clock checked against the TPM's (clock.c) */
	struct attestd_clock clock;
	/* session issuers (mint.c, renew.c; attestctl stats): made on a
	 * request's path (a TPM signature the request waited for), renewed
	 * in the background, renewals that failed, and renewals dropped at
	 * installation (agent revoked, removed or re-certified meanwhile) */
	struct {
		uint64_t on_demand, renewed, renew_failed, renew_dropped;
	} session;
	/* background renewal of session issuers (renew.c); NULL: off */
	struct attestd_renew *renew;
};

/* Before anything that makes a certificate (issue; register makes an
 * agent CA): no certificate dated by a wall clock that jumped (clock.c),
 * nor while audit records wait unanchored beyond the limit (auditlog.c). */
int attestd_issuance_allowed(struct attestd *d) ATTEST_MUST_CHECK;

/* Take STATE's lock, load the host identity, the intent trust and the
 * registry, connect to the TPM and check its clock. d must not move while
 * open (the parts' hooks point at it). */
int attestd_open(struct attestd *d, const char *state_dir, const char *tcti,
		 long hard_max_ttl) ATTEST_MUST_CHECK;
void attestd_close(struct attestd *d);

#endif
