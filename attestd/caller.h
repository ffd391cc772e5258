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
 * process measured, to check again after signing. */
int measure_caller(struct attest_measure_cache *cache, const struct attestd_peer *peer,
		   int parent_fd, const struct agent *a, struct attest_proc_pin *pin) ATTEST_MUST_CHECK;
/* 1 when scope s is registered for a */
int scope_allowed(const struct agent *a, const char *s);
/* ATTEST_E_TRACED when pid is traced now */
int still_untraced(pid_t pid) ATTEST_MUST_CHECK;

#endif
