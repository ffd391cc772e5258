/* push.h - attestd -> verifier (docs/verifier-api.md "Host endpoints",
 * docs/verifier.md "Hosts"): TPM quotes of the boot PCRs on an interval and
 * on demand (with host CA renewal), the agent inventory after every
 * change, and the audit log's checkpoints.
 *
 * The event loop keeps the TPM; the HTTPS requests run elsewhere: in
 * attestd's unprivileged front (config send: the front runs libcurl and
 * parses the answers into pushwire.h's typed replies), or with
 * --no-privsep in one worker thread here, which parses the same way.
 * Each flow (attestation, inventory, checkpoints) has at most one request in flight; the
 * loop quotes or signs between two requests, never waits for the network,
 * so agents' certificate requests are served while the verifier is slow or
 * down. Failures back off (attest_push_delay).
 */
#ifndef ATTESTD_PUSH_H
#define ATTESTD_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "attest/attest.h"
#include "attestation/hostpush.h"
#include "server.h"

struct event_base;
struct attestd_auditlog;
struct attestd_host;
struct attestd_push;
struct registry;

struct attestd_push_config {
	const char *url;      /* https://host:port of the verifier */
	const char *ca_file;  /* PEM CA its TLS certificate chains to */
	long interval;        /* seconds between quotes (>= 1) */
	uint32_t pcr_mask;    /* PCRs quoted (SHA-256 bank) */
	const char *eventlog; /* TCG event log file sent with quotes, or NULL */
	long timeout_ms;      /* per HTTPS request */
	/* each agent the quote answer says an operator revoked at the
	 * verifier: 1 revoked now (the inventory is reported again), 0
	 * nothing to do, < 0 failed (the next answer repeats it) */
	int (*revoked)(void *arg, const char *agent_id);
	void *revoked_arg;
	/* NULL: a worker thread runs the HTTPS requests here. Else each
	 * request goes to send (slot 0-2, kind and body of pushwire.h, a number) and its
	 * typed answer comes back through attestd_push_job_done: attestd's
	 * monitor hands them to the front, which runs libcurl and parses. */
	int (*send)(void *ctx, uint32_t slot, uint32_t kind, uint32_t seq, const char *body,
		    size_t len);
	void *send_ctx;
	/* the host's JWT-SVID signing keys for the inventory report (issue
	 * 14): fills out (at most max) and returns how many; pointers stay
	 * valid until the loop's next turn. NULL: none reported. */
	size_t (*jwt_keys)(void *arg, struct attest_report_jwtkey *out, size_t max);
	void *jwt_keys_arg;
};

/* Start the worker and schedule the first quote and inventory report now:
 * quotes and signed reports with h's TPM, verdicts recorded in log, the
 * agents of reg reported. */
/* The typed answer to request seq in slot (consumed: rep is left empty).
 * A request not answered within its timeout and 10 s has failed
 * (ATTEST_E_TIMEOUT); its late answer (seq older than the slot's) is
 * dropped. ATTEST_E_PARSE when no such request is in flight there. */
struct push_reply;
int attestd_push_job_done(struct attestd_push *p, uint32_t slot, uint32_t kind, uint32_t seq,
			  struct push_reply *rep) ATTEST_MUST_CHECK;
/* The requests handed to send will not be answered (the front died):
 * each fails (ATTEST_E_IO) and is tried again after its back-off. */
void attestd_push_transport_lost(struct attestd_push *p);

/* A waiter's answer when its round ends: code ATTEST_OK and the
 * verifier's answer a (renewed: the host CA was renewed), or a failure
 * code with its detail (a NULL). */
struct attest_push_answer;
typedef void (*attestd_push_done_fn)(void *arg, uint64_t tag, int code, const char *detail,
				     const struct attest_push_answer *a, int renewed);

int attestd_push_start(struct event_base *base, struct attestd_host *h,
		       struct attestd_auditlog *log, const struct registry *reg,
		       const struct attestd_push_config *cfg, struct attestd_push **out);
/* Answer any waiting admin client, stop the worker (waits for a request in
 * flight, at most timeout_ms) and free. NULL is fine. */
void attestd_push_stop(struct attestd_push *p);
/* Send an audit checkpoint to POST /v1/audit/checkpoint (after the ones
 * queued before it), with the consistency proof from the last checkpoint
 * the verifier accepted. A transport failure is retried with back-off, a
 * refusal is logged and the next one sent. What the verifier answered is
 * kept durably in STATE/audit-pushed. p may be NULL. */
struct attest_audit_ckpt;
void attestd_push_checkpoint(struct attestd_push *p, const struct attest_audit_ckpt *c);
/* At start: queue every stored checkpoint (the audit log's .ckpt files)
 * that STATE/audit-pushed does not record as answered, oldest first;
 * without that file, the last one only. */
void attestd_push_resume(struct attestd_push *p);
/* The registry changed (register, revoke, remove): report it again. */
void attestd_push_inventory_changed(struct attestd_push *p);
/* Admin op {"op":"attest","renew":bool}: push now (after the one in flight,
 * if any) and answer with the verifier's verdict. Returns NULL when the
 * reply was deferred (attestd_defer), else an error reply. p may be NULL
 * (attestd runs without --verifier). */
cJSON *attestd_push_demand(struct attestd_push *p, const struct attestd_peer *peer,
			   const cJSON *req);
/* The same for the monitor (the front parsed the request): done(arg, tag,
 * ...) once the round ends, or attestd_push_stop. ATTEST_E_STATE without
 * --verifier (p NULL), ATTEST_E_BUSY when MAX_WAITERS wait already. */
int attestd_push_demand_typed(struct attestd_push *p, int renew, attestd_push_done_fn done,
			      void *arg, uint64_t tag) ATTEST_MUST_CHECK;

#endif
