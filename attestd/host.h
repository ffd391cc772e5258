/* host.h - this host as attestd knows it: the state directory, the TPM
 * connection and the host identity (trust domain, host name, host key,
 * host CA certificate from STATE/identity.json).
 *
 * The lowest part of attestd that touches the TPM: the signers, the clock,
 * the audit log and the pushes to the verifier use it, and nothing here
 * knows of them. A renewed host CA is announced through the renewed hook
 * (the daemon records it in the audit log). */
#ifndef ATTESTD_HOST_H
#define ATTESTD_HOST_H

#include <pthread.h>
#include <sys/types.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/attest.h"
#include "tpm/tpm.h"

struct attest_intent_trust;

struct attestd_host {
	char state[512];
	char trust_domain[256];
	char name[64];
	char tcti[256];         /* to reconnect after the TPM went away */
	struct attest_tpm *tpm; /* NULL while the TPM is unreachable */
	X509 *ca;               /* the host CA certificate */
	/* the issuing CA bundle of identity.json: [0] issued ca (it ends
	 * every chain attestd hands out), the others are the fleet's other
	 * live issuing CAs (for delegations from hosts under them) */
	STACK_OF(X509) *issuing;
	struct attest_tpm_key key;
	EVP_PKEY *key_pub;
	ino_t identity_ino; /* identity.json as loaded, to notice a renewal */
	struct timespec identity_mtime;
	/* The agent whose value we last put in PCR 23 (NULL: unknown). Only a
	 * hint: a wrong guess costs one failed policy and a retry. */
	const void *pcr_holder;
	/* Serialises the TPM (h->tpm, pcr_holder) between the event loop and
	 * the session-issuer renewal thread (renew.c). Recursive. The loop
	 * thread alone replaces h->tpm (under the lock), so it may read the
	 * pointer without it. */
	pthread_mutex_t tpm_mu;
	int tpm_mu_ready;
	/* called after a new host CA certificate was installed */
	void (*renewed)(void *arg, X509 *ca, const char *how);
	void *renewed_arg;
};

/* Load STATE/identity.json and connect to the TPM (tcti NULL or "": the
 * default), flushing what a killed predecessor left in it. *root gets the
 * fleet root certificate of the identity (the caller frees it). */
int attestd_host_open(struct attestd_host *h, const char *state_dir, const char *tcti,
		      X509 **root) ATTEST_MUST_CHECK;
void attestd_host_close(struct attestd_host *h);
/* Hold / release h->tpm_mu around every use of h->tpm. */
void attestd_host_lock(struct attestd_host *h);
void attestd_host_unlock(struct attestd_host *h);
/* 1: taken (unlock it), 0: another thread holds the TPM now. */
int attestd_host_trylock(struct attestd_host *h);
/* After a TPM failure: a fresh TPM context and an empty TPM; until that
 * works, h->tpm is NULL. */
int attestd_host_reconnect(struct attestd_host *h) ATTEST_MUST_CHECK;
/* h->tpm, reconnecting first when it is NULL; ATTEST_E_TPM when the TPM
 * stays unreachable. */
int attestd_host_tpm(struct attestd_host *h) ATTEST_MUST_CHECK;
/* Pick up a renewed host identity (attestctl host renew, or a renewal by
 * the verifier rewrote identity.json): compares its inode and mtime with
 * what was loaded. */
int attestd_host_refresh(struct attestd_host *h) ATTEST_MUST_CHECK;
/* Log the TPM's dictionary-attack state when it is in lockout or has
 * counted failures (always: in any case). */
void attestd_host_log_lockout(struct attestd_host *h, int always);
/* After a failed TPM command r: reconnect on ATTEST_E_TPM, log the lockout
 * state on ATTEST_E_TPM_AUTH. Keeps attest_errdetail. */
void attestd_host_tpm_failed(struct attestd_host *h, int r);
/* The host key as a signer (attest_tpm_sign with no policy). */
int attestd_host_sign(void *h, const uint8_t digest[32], TPMT_SIGNATURE *sig);

#endif
