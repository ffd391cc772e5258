/* agentev.h - a verifier's check of an agent CA certificate's TPM evidence.
 *
 * The agent CA carries the agent's measurement, the key's authPolicy and
 * TPM2_CertifyCreation evidence by the host's AK (docs/x509.md). The check
 * recomputes, from the measurement alone, PCR 23's value and the policy
 * digest, rebuilds the agent key's TPM public area from our template, that
 * policy and the certificate's public point, and verifies that the AK
 * certified the creation of exactly that object with qualifyingData =
 * SHA-256(agent ID || UUID || measurement). So a certificate whose key is
 * not a TPM key bound to that measurement's policy fails, whoever signed
 * the certificate. */
#ifndef LIBATTEST_AGENTEV_H
#define LIBATTEST_AGENTEV_H

#include <stdint.h>

#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

#include "attest/attest.h"

struct attest_agent_ca_info {
	char *id;   /* agent ID (malloc'd) */
	char *uuid; /* malloc'd */
	uint8_t measurement[32];
	uint8_t policy[32];
};

/* ATTEST_OK and *info filled (attest_agent_ca_info_clear), or
 * ATTEST_E_AGENT_EVIDENCE with the reason (extension missing or malformed,
 * policy digest not the one of the measurement, evidence not by ak or not
 * naming the certificate's key). */
int attest_agent_ca_evidence(X509 *agent_ca, const TPM2B_PUBLIC *ak,
			     struct attest_agent_ca_info *info) ATTEST_MUST_CHECK;
void attest_agent_ca_info_clear(struct attest_agent_ca_info *info);

#endif
