/* registry.h - the agents registered on this host (docs/agents.md).
 *
 * One record per agent in STATE/agents/<name>.json (0600, directory 0700),
 * written crash-safely: a registration is committed when its record is
 * renamed into place, after the TPM key exists and the agent CA certificate
 * is signed; a kill -9 before that leaves no trace but a key blob that was
 * never stored (TPM keys under the SRK are blobs, not TPM state).
 */
#ifndef ATTESTD_REGISTRY_H
#define ATTESTD_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tpm/tpm.h"
#include "x509/dnsname.h"

#define AGENT_MAX_UIDS 16
#define AGENT_MAX_SCOPES 32
#define AGENT_MAX_CLASSES 8
#define AGENT_MAX_ENV_ALLOW 16
#define AGENT_MAX_DNS ATTEST_LEAF_DNS_MAX /* x509/dnsname.h */
#define AGENT_ENV_DEFAULT_MAX 32 /* entries of agent_env_default */
#define AGENT_DEFAULT_TTL 300
#define AGENT_PCR 23

struct agent {
	char name[64];
	char id[512];
	char uuid[37];
	char binary[512];      /* path at registration (informational) */
	uint8_t exe_sha256[32];
	uint64_t exe_size;     /* a caller's binary of another size is refused unhashed */
	char script[512];      /* interpreted agents: the measured script; "" otherwise */
	uint8_t script_sha256[32];
	uid_t uids[AGENT_MAX_UIDS];
	size_t nuids;
	char *scopes[AGENT_MAX_SCOPES];
	size_t nscopes;
	char tier[16];
	char *classes[AGENT_MAX_CLASSES];
	size_t nclasses;
	/* environment variables the agent may start with beyond the default
	 * set (caller.c agent_env_default): names, or prefixes ending in '*' */
	char *env_allow[AGENT_MAX_ENV_ALLOW];
	size_t nenv_allow;
	/* DNS names its leaves may carry when asked for (docs/agents.md "DNS
	 * names"): attest_dns_name_ok each, none twice, none another agent's */
	char *dns[AGENT_MAX_DNS];
	size_t ndns;
	int score;
	long max_ttl;
	int delegate_depth; /* 0: may not delegate */
	uint8_t measurement[32];
	uint8_t pcr_value[32]; /* PCR 23 after reset + extend(measurement) */
	uint8_t policy[32];
	struct attest_tpm_key key;
	TPM2B_AUTH auth;
	/* TPM2_CertifyCreation of the key by the AK: TPMS_ATTEST bytes and the
	 * marshalled TPMT_SIGNATURE, kept to re-issue the agent CA certificate */
	uint8_t creation[sizeof(TPMS_ATTEST)];
	size_t creation_len;
	uint8_t creation_sig[sizeof(TPMT_SIGNATURE) + 8];
	size_t creation_sig_len;
	X509 *agent_ca;
	int revoked;
	/* runtime only: the session issuer (software key) while valid */
	EVP_PKEY *session_key;
	X509 *session_cert;
	time_t session_used; /* the last session-mode leaf (renew.c: renew while used) */
	int session_renewing; /* a renewal is in flight (renew.c) */
	/* runtime only: the CRL its key signed for its agent CA (crl.c) */
	X509_CRL *crl;
};

struct registry {
	char dir[512]; /* STATE/agents */
	struct agent **agents;
	size_t n, cap;
};

int registry_load(const char *state_dir, struct registry *reg);
void registry_free(struct registry *reg);
struct agent *registry_find(struct registry *reg, const char *name);
/* One record file's bytes (JSON, at most 256 KiB) into a (from agent_new;
 * on failure a holds what was read before the bad field: agent_free it).
 * Pure: no I/O, no registry (tests/fuzz/fuzz_registry.c). */
int registry_record_parse(const uint8_t *buf, size_t len, struct agent *a) ATTEST_MUST_CHECK;
/* a as its record file's bytes (*out malloc'd, holds the key's auth value:
 * cleanse it). */
int registry_record_print(const struct agent *a, char **out, size_t *len) ATTEST_MUST_CHECK;
/* Persist one record crash-safely. */
int registry_save(struct registry *reg, const struct agent *a);
/* Delete a's record (durably) and free it. */
int registry_remove(struct registry *reg, struct agent *a);
/* Take ownership of a (already saved). */
int registry_add(struct registry *reg, struct agent *a);
/* A zeroed agent in memory kept out of core dumps (it holds the key's auth
 * value); NULL when out of memory. agent_free() wipes it. */
struct agent *agent_new(void);
void agent_free(struct agent *a);
/* The environment variables every agent may start with (NULL-terminated;
 * docs/agents.md, "Environment"). */
extern const char *const agent_env_default[];
/* Whether pat may extend an agent's environment allowlist: a variable name
 * or a prefix ending in '*', matching none of the loader and runtime
 * variables that run code (LD_*, GCONV_PATH, OPENSSL_*, PYTHON*, ...).
 * *why gets a constant reason when not. */
int agent_env_pattern_ok(const char *pat, const char **why);

/* Measurement binding an agent to its key (docs/agents.md):
 * SHA-256("attestd-agent-v1\0" || id || "\0" || uuid || "\0" || exe || script). */
void agent_measurement(const struct agent *a, uint8_t out[32]);
/* Risk score 0-100 from scopes, data classes, TTL and delegation (formula in
 * docs/agents.md). */
int agent_risk_score(const struct agent *a);

#endif
