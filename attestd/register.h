/* register.h - the admin socket's agent operations on typed requests
 * (admin.h parses them): register (a TPM key under the agent's PCR 23 policy,
 * certified, and its agent CA), revoke, remove (docs/protocol.md). Each
 * checks its input itself: the request may come from the front. */
#ifndef ATTESTD_REGISTER_H
#define ATTESTD_REGISTER_H

#include <stdint.h>

#include "daemon.h"
#include "measure/measure.h"
#include "registration.h"
#include "registry.h"
#include "x509/x509.h"

/* *out: the agent now in the registry (d->reg owns it). */
int register_agent(struct attestd *d, const struct admin_registration *q,
		   const struct agent **out) ATTEST_MUST_CHECK;
int revoke_agent(struct attestd *d, const char *name, const struct agent **out)
	ATTEST_MUST_CHECK;
/* Only a revoked agent: removal is never the way to stop one. */
int remove_agent(struct attestd *d, const char *name) ATTEST_MUST_CHECK;
/* arg: the struct attestd. A revocation the verifier delivered: 1 revoked
 * now, 0 not ours or revoked already, -attest_err on failure. */
int attestd_revoke_by_verifier(void *arg, const char *id);

#endif
