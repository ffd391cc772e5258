/* register.h - the admin socket's agent operations: register (a TPM key
 * under the agent's PCR 23 policy, certified, and its agent CA), revoke,
 * remove, list and show (docs/protocol.md). */
#ifndef ATTESTD_REGISTER_H
#define ATTESTD_REGISTER_H

#include <cjson/cJSON.h>

#include "daemon.h"

int do_register(struct attestd *d, const cJSON *req, cJSON *reply) ATTEST_MUST_CHECK;
int do_revoke(struct attestd *d, const cJSON *req, cJSON *reply) ATTEST_MUST_CHECK;
int do_remove(struct attestd *d, const cJSON *req, cJSON *reply) ATTEST_MUST_CHECK;
int do_list(struct attestd *d, const cJSON *req, cJSON *reply) ATTEST_MUST_CHECK;
int do_show(struct attestd *d, const cJSON *req, cJSON *reply) ATTEST_MUST_CHECK;
/* arg: the struct attestd. A revocation the verifier delivered: 1 revoked
 * now, 0 not ours or revoked already, -attest_err on failure. */
int attestd_revoke_by_verifier(void *arg, const char *id);

#endif
