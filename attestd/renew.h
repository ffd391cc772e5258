/* renew.h - session issuers renewed ahead of expiry, off the event loop
 * (issue 17 item 6), so that a session-mode request in steady state never
 * waits for the TPM.
 *
 * Once a second the loop looks for agents whose session issuer is in use
 * (a session-mode leaf within the issuer's lifetime), is due (less than
 * the lead left) and may be renewed: the agent registered and not revoked,
 * issuance allowed (clock, audit anchoring: attestd_issuance_allowed), its
 * agent CA issued by the current host CA and valid for a whole issuer
 * lifetime (otherwise the request path re-issues it first, as before). A
 * job holding a copy of the agent's key blob, auth value and measurement
 * (never the registry's struct) goes to one worker thread, which makes the
 * key and has the TPM sign the new issuer under the agent's PCR 23 policy
 * (agent_sign_key, under the host's TPM lock). The loop installs the result
 * only if the agent is still the same registration, not revoked, with the
 * same agent CA; otherwise it is dropped. An idle agent's issuer lapses.
 *
 * lead: ahead_s seconds, or (ATTESTD_RENEW_AUTO) the agent's TTL cap plus
 * 60 s, at most half the issuer's lifetime; 0 turns renewal off. */
#ifndef ATTESTD_RENEW_H
#define ATTESTD_RENEW_H

#include <event2/event.h>

#include "attest/attest.h"
#include "daemon.h"

#define ATTESTD_RENEW_AUTO (-1L)
#define ATTESTD_RENEW_TICK_S 1
#define ATTESTD_RENEW_QUEUE_MAX 64 /* jobs queued or in flight */
#define ATTESTD_RENEW_DEMAND_MAX 4096 /* demanded issuers queued or in flight */

struct attestd_renew;
struct agent;

/* On the loop, after any job ended: the agent's name and ATTEST_OK when
 * it now holds the new issuer (else it failed or was dropped). */
typedef void (*attestd_renew_made_fn)(void *arg, const char *name, int code);

/* Start the tick on base and the worker thread (ahead_s: seconds or
 * ATTESTD_RENEW_AUTO, below the issuer's lifetime). *out is stopped with
 * attestd_renew_stop before d's registry and host are closed. */
int attestd_renew_start(struct event_base *base, struct attestd *d, long ahead_s,
			struct attestd_renew **out) ATTEST_MUST_CHECK;
/* The hook for finished jobs (NULL: none). */
void attestd_renew_on_made(struct attestd_renew *r, attestd_renew_made_fn fn, void *arg);
/* A session issuer for a now, made by the worker ahead of every queued
 * renewal (issue 17: the monitor's first session-mode request of an agent,
 * e.g. in a launch storm, waits for the TPM off the loop). ATTEST_OK: a
 * job is queued or one is in flight already (the hook says when it ends);
 * otherwise the caller makes the issuer itself as before: renewal off
 * (r NULL) or the agent CA must be re-issued first (ATTEST_E_STATE), the
 * queue is full (ATTEST_E_BUSY), the agent is revoked. */
int attestd_renew_demand(struct attestd_renew *r, struct agent *a) ATTEST_MUST_CHECK;
/* Join the worker (after its TPM command ends) and free what is queued. */
void attestd_renew_stop(struct attestd_renew *r);
/* Seconds before expiry at which an issuer is renewed, for an agent whose
 * leaves may live cap seconds. */
long attestd_renew_lead(long ahead_s, long cap);

#endif
