/* workload_mon.h - the monitor's half of the SPIFFE Workload API
 * (docs/spiffe.md, docs/privsep.md MON_WORKLOAD_ISSUE): who the caller
 * is, found by the monitor from its measurement since the Workload API
 * does not let a caller name itself, and its X.509-SVID. */
#ifndef ATTESTD_WORKLOAD_MON_H
#define ATTESTD_WORKLOAD_MON_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"
#include "daemon.h"
#include "mint.h"
#include "server.h"

/* The registered agent the caller (peer, pinned) is: among the agents not
 * revoked whose uids include the caller's, the first by name whose
 * registration the measured process matches (uid, tracer, environment,
 * binary, script). Its name into name. When none matches: the reason of
 * the closest refusal (an agent of the caller's uid that measured
 * differently: ATTEST_E_MEASUREMENT, ATTEST_E_ENV...), else
 * ATTEST_E_AGENT_UNKNOWN. */
int attestd_workload_identify(struct attestd *d, const struct attestd_peer *peer,
			      char name[ATTEST_MAX_NAME + 1]) ATTEST_MUST_CHECK;

/* An X.509-SVID for the caller: identified as above, then the issuance
 * an agent asking for itself is given (strict mode, the agent's lifetime cap,
 * its registered scopes, no intent) through attestd_mint, which measures
 * the caller again and records the issuance. */
int attestd_workload_mint(struct attestd *d, const struct attestd_peer *peer, const uint8_t *spki,
			  size_t spki_len, struct mint_result *res) ATTEST_MUST_CHECK;

#endif
