/* testutil_intent.h - a software fleet for intent and decision tests and
 * benchmarks (no TPM): a fleet root and another root, host CAs web-01 and
 * db-01 (and web-01 again under the other root), agents intake (A, web-01),
 * billing (B, db-01) and coder (C, web-01) with software keys, A again
 * under the other root (foreign) and A registered with delegate_depth 1
 * (a1), a trusted intent issuer and a rogue key.
 *
 * Each host has a software "AK" (P-256) and every agent CA carries creation
 * evidence made with it the way a TPM would: TPM2_CertifyCreation of the
 * agent key's public area (our template, the authPolicy of the agent's
 * measurement) with qualifyingData = SHA-256(ID || UUID || measurement).
 * So libattest's evidence check passes against fx_ak_public() of the
 * agent's host and fails against any other AK; it proves the structures,
 * not that a TPM holds the key (tests for that run attestd on swtpm).
 *
 * Used by tests/unit/test_intent.c, test_decide.c, bench/bench_intent.c
 * and bench_decide.c. The fixture is built before CUnit runs: a failure
 * there is a broken environment and exits 2 (NEED). */
#ifndef TESTS_TESTUTIL_INTENT_H
#define TESTS_TESTUTIL_INTENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/intent.h"
#include "x509/x509agent.h"
#include "testutil.h"

#define TD "fleet.example"
#define ID_A "spiffe://" TD "/host/web-01/agent/intake"
#define ID_B "spiffe://" TD "/host/db-01/agent/billing"
#define ID_C "spiffe://" TD "/host/web-01/agent/coder"
#define ISS "ehr.example"
#define USER "dr.alice@hospital.example"
#define FX_UUID "6f1c2b1e-8d7a-4c1f-9a7e-3b2d1c0f9e8d"

#define NEED(x_)                                                                     \
	do {                                                                         \
		if (!(x_)) {                                                         \
			fprintf(stderr, "%s fixture, line %d: %s failed: %s\n",      \
				__FILE__, __LINE__, #x_, attest_errdetail());        \
			exit(2);                                                     \
		}                                                                    \
	} while (0)

struct agent {
	EVP_PKEY *ca_key, *leaf_key;
	X509 *ca, *leaf;
	STACK_OF(X509) *chain; /* leaf, agent CA, host CA */
	uint8_t measurement[32]; /* SHA-256 of the agent ID */
};

struct intent_fleet {
	time_t t0;
	EVP_PKEY *root_key, *other_root_key, *h1, *h2, *h3, *issuer, *rogue;
	EVP_PKEY *ak1, *ak2, *ak3; /* software AKs of web-01, db-01, other web-01 */
	X509 *root, *other_root, *hca1, *hca2, *hca_other;
	struct agent a, b, c, foreign; /* foreign: A's ID under another root */
	struct agent a1;               /* A again, registered with delegate_depth 1 */
	struct attest_intent_trust *trust;
};

/* The one fleet of the process. */
extern struct intent_fleet fx;

extern const char *const scopes3[3]; /* ehr.read ehr.write billing.read */
extern const char *const res2[2];    /* ehr:patient/123/(star) billing:account/9 */
extern const char *const s_read[1];
extern const char *const s_read_bill[2];
extern const char *const r_notes[1];  /* ehr:patient/123/notes/(star) */
extern const char *const r_notes7[1]; /* ehr:patient/123/notes/7 */

EVP_PKEY *p256(void);
struct attest_signer signer(EVP_PKEY *k);
/* Agent CA (ttl 3600, evidence by ak) and a leaf (ttl 1200: notBefore =
 * now - 60, notAfter = now + 1140) without scopes or intent. */
void make_agent(struct agent *ag, X509 *hca, EVP_PKEY *host_key, EVP_PKEY *ak, const char *id,
		int delegate_depth);
void free_agent(struct agent *ag);
/* Another leaf under ag's agent CA, ttl 1200, delegate_depth 3, with the
 * scopes (space-separated) and intent chain given (either may be NULL). */
X509 *make_leaf(const struct agent *ag, const char *scopes, const char *intent);
/* leaf, then ag's agent CA and host CA (references taken). */
STACK_OF(X509) *chain_of(const struct agent *ag, X509 *leaf);
/* The marshalled TPM2B_PUBLIC of a software AK, as the fleet view holds an
 * enrolled AK; *len set. */
void fx_ak_public(EVP_PKEY *ak, uint8_t *buf, size_t cap, size_t *len);

void fixture_up(void);
void fixture_down(void);

/* A grant's claims: USER, TREATMENT, scopes3, res2, task-42, iat = nbf =
 * t0 - 60, exp = t0 + 3600. */
struct attest_intent_claims claims(const char *aud, int max_depth);
/* iat t0, exp t0 + 900. */
struct attest_delegation_claims dclaims(const char *aud, const char *const *scopes, size_t ns,
					const char *const *res, size_t nr);
/* Signed by fx.issuer as ISS; CUnit asserts success. */
char *grant_with(const struct attest_intent_claims *c);
char *grant(const char *aud, int max_depth);
/* from delegates parent; CUnit asserts success. */
char *delegate(struct agent *from, const char *parent, const struct attest_delegation_claims *d);

#endif
