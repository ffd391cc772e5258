/* monitor.h - attestd's privileged process and its unprivileged front
 * (docs/privsep.md).
 *
 * The monitor keeps the TPM, the agents' auth values and session keys, the
 * registry and the audit log. The front, a fresh exec of attestd as an
 * unprivileged user under seccomp, serves the agent socket and the admin
 * socket (root's): frames, JSON, CSRs and intent chains. It asks
 * the monitor for what needs a secret through a fixed set of typed
 * requests (monproto.h), handing over the agent's or admin's connection so
 * that the monitor identifies (and measures) the caller itself. A front that sends
 * anything else is killed and logged; a front that dies is started again
 * (more than MONITOR_MAX_RESTARTS in a minute: attestd stops, for its
 * service manager to restart). */
#ifndef ATTESTD_MONITOR_H
#define ATTESTD_MONITOR_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"
#include "attestation/hostpush.h"
#include "daemon.h"

#define MONITOR_MAX_RESTARTS 5

struct event_base;
struct attestd_monitor;

struct attestd_monitor_config {
	const char *agent_path; /* the agent socket's path: passed connections are checked */
	int agent_fd;           /* its listening socket, handed to each front (kept open) */
	const char *admin_path; /* the admin socket's path: passed connections are checked */
	int admin_fd;           /* its listening socket (root's, 0600), handed over too */
	char *const *front_argv; /* argv of the front: attestd --front ... */
	const char *front_exe;   /* NULL: attestd itself (/proc/self/exe); else a test's */
	/* pushes (--verifier): the front runs them; NULL url: none */
	const char *push_url;
	const char *push_ca_file; /* read here; its bytes go to the front */
	long push_timeout_ms;
	/* the SPIFFE Workload API's socket (docs/spiffe.md): its path and
	 * listening socket, handed to each front as descriptor 6; -1: none */
	const char *workload_path;
	int workload_fd;
};

int attestd_monitor_start(struct event_base *base, struct attestd *d,
			  const struct attestd_monitor_config *cfg,
			  struct attestd_monitor **out) ATTEST_MUST_CHECK;
/* Stop the front (SIGTERM, then SIGKILL after 2 s) and free. NULL is fine. */
void attestd_monitor_stop(struct attestd_monitor *m);
/* push.h's send for attestd_push_config: ctx is the monitor. The request
 * goes to the front (MON_PUSH_JOB); ATTEST_E_IO when no front runs. */
int attestd_monitor_push_send(void *ctx, uint32_t slot, uint32_t kind, uint32_t seq,
			      const char *body, size_t len) ATTEST_MUST_CHECK;
/* push.h's jwt_keys: arg is the monitor; its JWT-SVID keys (none before
 * the first JWT-SVID or JWT bundle asked for). */
size_t attestd_monitor_jwt_keys(void *arg, struct attest_report_jwtkey *out, size_t max);
/* 1 when attestd should stop with a failure (the front kept dying). */
int attestd_monitor_failed(const struct attestd_monitor *m);

/* The front: attestd --front ..., descriptors 3 (the channel), 4 (the
 * agent socket), 5 (the admin socket) and 6 (the workload socket) when
 * there is one. Returns the exit status. */
int attestd_front_main(int argc, char **argv);

#endif
