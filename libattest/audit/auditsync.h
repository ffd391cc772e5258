/* auditsync.h - the audit log's group commit off the event loop.
 *
 * One sync thread per log. The loop keeps appending (attest_audit_append,
 * a write to the page cache) and registers, per reply that depends on the
 * records appended so far, a waiter (attest_audit_syncer_wait). The thread
 * runs fdatasync on a duplicate of the segment's descriptor while the loop
 * serves other requests; when it ends, the loop (its descriptor turned
 * readable: attest_audit_syncer_reap) marks the batch durable, calls every
 * waiter the batch covers and starts the next batch with everything
 * appended meanwhile. So the batch grows with the load, one sync runs at a
 * time, and no reply is given before its record is durable. A failed sync
 * breaks the log (audit.h) and fails every waiter with ATTEST_E_IO (fail
 * closed); so do later waits.
 *
 * The log itself stays single-threaded: only the loop thread touches it;
 * the thread sees a descriptor and nothing else. Nothing here prints or
 * exits.
 */
#ifndef LIBATTEST_AUDITSYNC_H
#define LIBATTEST_AUDITSYNC_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"
#include "audit/audit.h"

struct attest_audit_syncer;

/* Called on the loop thread: ATTEST_OK when the records appended before
 * the wait are durable, else the failure (ATTEST_E_IO). */
typedef void (*attest_audit_durable_fn)(void *arg, int code);

/* Start the sync thread for log (which must outlive the syncer). */
int attest_audit_syncer_new(struct attest_audit *log,
			    struct attest_audit_syncer **out) ATTEST_MUST_CHECK;
/* Stop the thread (after a sync it is running), make the rest durable on
 * this thread and answer the remaining waiters with that result. NULL is
 * fine. */
void attest_audit_syncer_free(struct attest_audit_syncer *s);
/* Readable when a sync ended: watch it (level-triggered) and call reap. */
int attest_audit_syncer_fd(const struct attest_audit_syncer *s);
/* fn(arg, code) once every record appended so far is durable: at once
 * (before this returns) when they are already, or when the log is broken;
 * else from attest_audit_syncer_reap. A sync is started if none runs.
 * ATTEST_E_NOMEM (fn not called) when the waiter cannot be queued. */
int attest_audit_syncer_wait(struct attest_audit_syncer *s, attest_audit_durable_fn fn,
			     void *arg) ATTEST_MUST_CHECK;
/* Take the result of a sync that ended, answer the waiters it covers (or
 * all, with the failure), start the next batch if records wait. Returns the
 * ended sync's code (ATTEST_OK when none had ended). */
int attest_audit_syncer_reap(struct attest_audit_syncer *s) ATTEST_MUST_CHECK;
/* Waiters not yet answered, and syncs done (for /metrics and tests). */
size_t attest_audit_syncer_waiting(const struct attest_audit_syncer *s);
uint64_t attest_audit_syncer_batches(const struct attest_audit_syncer *s);

#endif
