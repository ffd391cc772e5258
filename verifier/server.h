/* server.h - the attest-verifier HTTPS service (docs/verifier-api.md). */
#ifndef VERIFIER_SERVER_H
#define VERIFIER_SERVER_H

#include <stdint.h>

#include "attest/attest.h"
#include "config.h"

/* Run until SIGTERM/SIGINT; SIGHUP reloads the policy. Returns an
 * attest_err (ATTEST_OK after a clean stop). */
int vf_serve(const struct vf_config *cfg) ATTEST_MUST_CHECK;

#endif
