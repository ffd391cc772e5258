/* caller.h - who is asking: the peer that connected (or, with "parent":
 * true, its parent) measured through /proc against an agent's
 * registration: uid, tracer, environment, binary and script. */
#ifndef ATTESTD_CALLER_H
#define ATTESTD_CALLER_H

#include <sys/types.h>

#include "attest/attest.h"
#include "measure/measure.h"
#include "registry.h"
#include "server.h"

/* ATTEST_OK when the caller (the peer, or with parent_fd >= 0 the peer's
 * parent: attestd_peer_parent) is agent a as registered; pin holds the
 * process measured, to check again after signing. All of it is read
 * through one /proc/PID directory fd (issue 17); with dfd_out non-NULL the
 * caller gets it on success (-1 otherwise), to check again after signing
 * through it (attest_proc_check_at, still_untraced_at), and closes it. */
int measure_caller(struct attest_measure_cache *cache, const struct attestd_peer *peer,
		   int parent_fd, const struct agent *a, struct attest_proc_pin *pin,
		   int *dfd_out) ATTEST_MUST_CHECK;
/* 1 when scope s is registered for a */
int scope_allowed(const struct agent *a, const char *s);
/* ATTEST_E_TRACED when pid is traced now, read through the request's
 * /proc/PID directory fd */
int still_untraced_at(int dfd, pid_t pid) ATTEST_MUST_CHECK;

#endif
