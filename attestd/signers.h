/* signers.h - the TPM keys that sign: the host key (agent CA certificates)
 * and each agent's key, which the TPM uses only while PCR 23 holds the
 * agent's measurement and attestd presents the agent's secret. */
#ifndef ATTESTD_SIGNERS_H
#define ATTESTD_SIGNERS_H

#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "attest/attest.h"
#include "host.h"
#include "registry.h"

#define AGENT_PCR_MASK (1u << AGENT_PCR)

/* attest_signer.arg of agent_sign */
struct agent_signer_ctx {
	struct attestd_host *h;
	const struct agent *a;
};
int agent_sign(void *arg, const uint8_t digest[32], TPMT_SIGNATURE *sig);
/* An agent's key by value, for a signer that must not touch the registry
 * (the renewal thread): tag identifies the agent for h->pcr_holder only
 * (compared, never dereferenced). */
struct agent_key_ref {
	const void *tag;
	const struct attest_tpm_key *key;
	const TPM2B_AUTH *auth;
	const uint8_t *measurement; /* 32 bytes: what PCR 23 is extended with */
};
/* PCR 23 loaded with k's measurement (unless it holds it), then the
 * policy signature, under h's TPM lock. */
int agent_sign_key(struct attestd_host *h, const struct agent_key_ref *k,
		   const uint8_t digest[32], TPMT_SIGNATURE *sig) ATTEST_MUST_CHECK;
/* (Re-)issue a->agent_ca under the current host CA: <= 24 h and never past
 * the host CA's notAfter. A new agent CA invalidates the session issuer. */
int issue_agent_ca(struct attestd_host *h, struct agent *a) ATTEST_MUST_CHECK;
/* The agent CA is issued by the current host CA (a renewed identity is
 * picked up first) and covers ttl seconds as far as the host CA allows;
 * otherwise it is re-issued and saved in reg. */
int fresh_agent_ca(struct attestd_host *h, struct registry *reg, struct agent *a,
		   long ttl) ATTEST_MUST_CHECK;

#endif
