/* register.h - the admin socket's agent operations on typed requests
 * (admin.h parses them): register (a TPM key under the agent's PCR 23 policy,
 * certified, and its agent CA), revoke, remove (docs/protocol.md). Each
 * checks its input itself: the request may come from the front. */
#ifndef ATTESTD_REGISTER_H
#define ATTESTD_REGISTER_H

#include <stdint.h>

#include "daemon.h"
#include "measure/measure.h"
#include "registry.h"
#include "x509/x509.h"

#define ADMIN_PATH_MAX 511
#define ADMIN_TIER_MAX 15
#define ADMIN_SCOPE_MAX 128 /* request.c valid_scope */
#define ADMIN_ENV_MAX (ATTEST_ENV_NAME_MAX + 1) /* a name, or a prefix and '*' */
/* A registration as typed fields (admin.h parses it from JSON). */
struct admin_registration {
	char name[ATTEST_MAX_NAME + 1];
	char binary[ADMIN_PATH_MAX + 1];
	char script[ADMIN_PATH_MAX + 1]; /* "": none */
	char tier[ADMIN_TIER_MAX + 1];
	uint32_t uids[AGENT_MAX_UIDS];
	uint32_t nuids;
	char scopes[AGENT_MAX_SCOPES][ADMIN_SCOPE_MAX + 1];
	uint32_t nscopes;
	char classes[AGENT_MAX_CLASSES][ATTEST_MAX_NAME + 1];
	uint32_t nclasses;
	char env_allow[AGENT_MAX_ENV_ALLOW][ADMIN_ENV_MAX + 1];
	uint32_t nenv_allow;
	int64_t max_ttl;
	int64_t delegate_depth;
};

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
