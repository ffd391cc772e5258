/* crl.h - the host's CRLs for relying parties that check a CRL at every
 * level of a chain (nginx ssl_crl; docs/relying-parties.md "Revocation for
 * plain mTLS"). Made in the monitor, which holds the TPM:
 *
 *   the host CA's CRL, signed by the host issuing key in the TPM: the
 *     agent CA of every revoked agent; thisUpdate now - 60 s, nextUpdate
 *     now + ATTESTD_CRL_TTL; made at every inventory report (a change, a
 *     revocation from the verifier) and again before half its life;
 *   each live agent's CRL, signed by its key under its PCR 23 policy,
 *     empty (an agent's leaves are revoked by revoking its agent CA), valid
 *     to its agent CA's notAfter; kept with the agent (struct agent.crl)
 *     and made again only for a new agent CA.
 *
 * They travel to the verifier with the inventory report ("crls"), which
 * checks each against this host's CA and the agent CAs the same report
 * carries, and serves the fleet's set (GET /v1/crl). */
#ifndef ATTESTD_CRL_H
#define ATTESTD_CRL_H

#include <stddef.h>
#include <time.h>

#include "attest/attest.h"
#include "host.h"
#include "registry.h"

#define ATTESTD_CRL_TTL 3600

/* The host's CRLs as one PEM bundle, *out malloc'd (its length in *len):
 * the host CA's first, then one per live agent. An agent whose CRL cannot
 * be signed is logged and left out (relying parties that check CRLs then
 * refuse its leaves: closed); the host CA's failing fails the call. */
int attestd_crls_pem(struct attestd_host *h, const struct registry *reg, time_t now, char **out,
		     size_t *len) ATTEST_MUST_CHECK;

#endif
