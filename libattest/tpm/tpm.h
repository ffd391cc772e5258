/* tpm.h - the one seam between libattest and the TPM (tpm2-tss ESYS).
 *
 * Every ESYS call in the project lives in tpm.c. The TCTI is configuration:
 * "device:/dev/tpmrm0" by default, "swtpm:host=127.0.0.1,port=N" in tests.
 * Commands answered TPM_RC_RETRY/TESTING/YIELDED are retried a bounded number
 * of times; authorization failures and lockout never are (ATTEST_E_TPM_AUTH).
 * The TPM may have as few as 3 transient slots (swtpm) and no resource
 * manager: every function loads what it needs from blobs or primaries and
 * flushes it before returning, on success and on every error path (except
 * resident keys, attest_tpm_keep_resident, which leave two slots free); the SRK
 * is persistent at 0x81000001 so operators' tpm2-tools can load our blobs.
 *
 * A struct attest_tpm is not thread-safe; callers serialise access.
 */
#ifndef LIBATTEST_TPM_H
#define LIBATTEST_TPM_H

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "attest/attest.h"
#include "tpm/templates.h"

#define ATTEST_TPM_DEFAULT_TCTI "device:/dev/tpmrm0"
#define ATTEST_TPM_RETRY_MAX 5
#define ATTEST_TPM_POLICY_RESTART_MAX 3

struct attest_tpm;

/* A key that lives outside the TPM as a blob, loaded under the SRK. */
struct attest_tpm_key {
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
};

/* What TPM2_Create returned about a key's creation; input to CertifyCreation. */
struct attest_tpm_creation {
	TPM2B_CREATION_DATA data;
	TPM2B_DIGEST hash;
	TPMT_TK_CREATION ticket;
};

/* SHA-256 PCR bank values for the PCRs in `mask` (bit i = PCR i). */
struct attest_pcrs {
	uint32_t mask;
	uint8_t value[24][32];
};

/* tcti_conf NULL means ATTEST_TPM_DEFAULT_TCTI. *out freed by attest_tpm_close. */
int attest_tpm_open(const char *tcti_conf, struct attest_tpm **out) ATTEST_MUST_CHECK;
void attest_tpm_close(struct attest_tpm *t);

/* EK certificate (DER, *der malloc'd) from its TCG NV index. */
int attest_tpm_ek_cert(struct attest_tpm *t, enum attest_ek_kind kind, uint8_t **der,
		       size_t *len) ATTEST_MUST_CHECK;
/* EK public area, recreated from the kind's TCG template. */
int attest_tpm_ek_public(struct attest_tpm *t, enum attest_ek_kind kind,
			 TPM2B_PUBLIC *pub) ATTEST_MUST_CHECK;
/* First EK kind whose certificate is provisioned (P-256, RSA-2048, P-384). */
int attest_tpm_ek_detect(struct attest_tpm *t, enum attest_ek_kind *kind) ATTEST_MUST_CHECK;

/* The AK: a primary in the endorsement hierarchy from the AK template. */
int attest_tpm_ak_public(struct attest_tpm *t, TPM2B_PUBLIC *pub) ATTEST_MUST_CHECK;

/* Create an unrestricted ECC P-256 signing key under the SRK. With a
 * policy, only the policy authorises use (userWithAuth clear); auth may be
 * NULL for an empty auth value. */
int attest_tpm_create_signkey(struct attest_tpm *t, const TPM2B_DIGEST *policy,
			      const TPM2B_AUTH *auth, struct attest_tpm_key *key,
			      struct attest_tpm_creation *creation) ATTEST_MUST_CHECK;

/* TPM2_CertifyCreation of `key` signed by the AK. */
int attest_tpm_certify_creation(struct attest_tpm *t, const struct attest_tpm_key *key,
				const struct attest_tpm_creation *creation,
				const uint8_t *qual, size_t qual_len, TPM2B_ATTEST *attest,
				TPMT_SIGNATURE *sig) ATTEST_MUST_CHECK;

/* TPM2_ActivateCredential for the AK with the EK of `kind` (the EK's
 * PolicySecret(TPM_RH_ENDORSEMENT) where its template needs it). */
int attest_tpm_activate_credential(struct attest_tpm *t, enum attest_ek_kind kind,
				   const TPM2B_ID_OBJECT *blob,
				   const TPM2B_ENCRYPTED_SECRET *enc,
				   TPM2B_DIGEST *secret) ATTEST_MUST_CHECK;

/* Sign a SHA-256 digest with a password-authorised key blob. */
int attest_tpm_sign(struct attest_tpm *t, const struct attest_tpm_key *key,
		    const TPM2B_AUTH *auth, const uint8_t digest[32],
		    TPMT_SIGNATURE *sig) ATTEST_MUST_CHECK;

/* TPM2_Quote by the AK over the SHA-256 bank PCRs in pcr_mask. */
int attest_tpm_quote(struct attest_tpm *t, uint32_t pcr_mask, const uint8_t *qual,
		     size_t qual_len, TPM2B_ATTEST *attest,
		     TPMT_SIGNATURE *sig) ATTEST_MUST_CHECK;
int attest_tpm_pcr_read(struct attest_tpm *t, uint32_t pcr_mask,
			struct attest_pcrs *out) ATTEST_MUST_CHECK;
int attest_tpm_pcr_extend(struct attest_tpm *t, unsigned pcr,
			  const uint8_t digest[32]) ATTEST_MUST_CHECK;

/* Sign a SHA-256 digest with a key whose authPolicy is
 * attest_policy_digest(pcr_mask, ...): PolicyPCR over the SHA-256 PCRs in
 * pcr_mask (their current values) AND PolicyAuthValue(auth) AND
 * PolicyCommandCode(TPM2_Sign). When the TPM answers TPM_RC_PCR_CHANGED
 * (a PCR moved between PolicyPCR and Sign) the policy is run again, at
 * most ATTEST_TPM_POLICY_RESTART_MAX times. The policy session is kept for
 * the next call (the TPM resets a continued policy session after use);
 * attest_tpm_release_cached() flushes it. A policy that does not match
 * (wrong PCR value) or a wrong auth value is ATTEST_E_TPM_AUTH. */
int attest_tpm_sign_policy(struct attest_tpm *t, const struct attest_tpm_key *key,
			   const TPM2B_AUTH *auth, uint32_t pcr_mask, const uint8_t digest[32],
			   TPMT_SIGNATURE *sig) ATTEST_MUST_CHECK;
int attest_tpm_pcr_reset(struct attest_tpm *t, unsigned pcr) ATTEST_MUST_CHECK;
/* TPM2_ReadClock (no authorization): the TPM's Clock in milliseconds
 * (advances only while the TPM is powered, never goes back except by
 * TPM2_Clear; TPM2_ClockSet moves it forward only), resetCount (TPM resets,
 * i.e. reboots), restartCount and whether Clock is "safe". */
struct attest_tpm_clock {
	uint64_t clock_ms;
	uint32_t reset_count, restart_count;
	int safe;
};
int attest_tpm_read_clock(struct attest_tpm *t, struct attest_tpm_clock *out) ATTEST_MUST_CHECK;

/* Test seam: called between the policy commands and Sign in
 * attest_tpm_sign_policy, with the attempt number (0-based). */
typedef void (*attest_tpm_policy_hook_fn)(struct attest_tpm *t, int attempt, void *arg);
void attest_tpm_set_policy_hook(struct attest_tpm *t, attest_tpm_policy_hook_fn fn, void *arg);

/* Flush what the context keeps loaded for speed (the reusable policy
 * session, resident keys). attest_tpm_close does this too. */
void attest_tpm_release_cached(struct attest_tpm *t);

/* Resident policy keys (issue 17): with on, attest_tpm_sign_policy keeps
 * the keys it loads in the TPM for the next signature (no TPM2_Load), at
 * most TPM2_PT_HR_TRANSIENT_MIN - 1 of them (and ATTEST_TPM_RESIDENT_MAX),
 * least recently used flushed first; before any other load they are
 * trimmed so that two slots are free (the most one operation holds), and a
 * failed signature flushes its key. Off (the default, and with fewer than
 * 3 slots): every function flushes what it loaded, as above. Behind
 * /dev/tpmrm0 the limit is the resource manager's per-connection one. */
#define ATTEST_TPM_RESIDENT_MAX 8
int attest_tpm_keep_resident(struct attest_tpm *t, int on) ATTEST_MUST_CHECK;
/* Resident keys now loaded (tests, stats). */
size_t attest_tpm_resident(const struct attest_tpm *t);
/* Flush key if it is resident (its agent revoked or removed); no-op
 * otherwise. Never fails: an error marks the context for recovery. */
void attest_tpm_evict(struct attest_tpm *t, const struct attest_tpm_key *key);

/* Flush every transient object and session in the TPM. For the TPM's sole
 * owner (a daemon on a TPM without resource manager, e.g. after a previous
 * instance was killed); behind /dev/tpmrm0 it sees only its own handles. */
/* The TPM's dictionary-attack state (TPM2_GetCapability, no
 * authorization): in lockout, failed authorizations counted, the
 * counter's maximum, seconds until one failure is forgotten, and seconds
 * before lockoutAuth may be tried again after a failure of it. Objects
 * attestd makes are noDA (docs/tpm.md), so lockout does not stop it; this
 * is for saying what happened. */
struct attest_tpm_da {
	int in_lockout;
	uint32_t failures, max_tries, recovery_s, lockout_recovery_s;
};
int attest_tpm_da_state(struct attest_tpm *t, struct attest_tpm_da *out) ATTEST_MUST_CHECK;
int attest_tpm_flush_all(struct attest_tpm *t, size_t *flushed) ATTEST_MUST_CHECK;

/* Transient objects and sessions (loaded or saved) currently in the TPM. */
int attest_tpm_count_handles(struct attest_tpm *t, size_t *objects,
			     size_t *sessions) ATTEST_MUST_CHECK;

/* The bounded retry policy of every TPM command, as a pure function (so it
 * can be tested without a TPM that misbehaves on cue). After `failures`
 * answers rc in a row (failures >= 1): 1 and the back-off in *delay_ms if
 * the command should be sent again, else 0.
 *   TPM_RC_RETRY/TESTING/YIELDED: 10 ms doubling, ATTEST_TPM_RETRY_MAX tries;
 *   TPM_RC_NV_RATE (NV wear-out rate limit): ATTEST_TPM_NV_RATE_FIRST_MS
 *   doubling, capped at ATTEST_TPM_NV_RATE_CAP_MS, at most
 *   ATTEST_TPM_NV_RATE_RETRY_MAX tries (about 7 s in all), then the
 *   command fails with ATTEST_E_TPM and the decoded NV_RATE code. */
#define ATTEST_TPM_NV_RATE_RETRY_MAX 8
#define ATTEST_TPM_NV_RATE_FIRST_MS 100L
#define ATTEST_TPM_NV_RATE_CAP_MS 2000L
int attest_tpm_retry_delay(uint32_t rc, int failures, long *delay_ms);

/* NV counters (the audit log's TPM anchor, docs/audit.md): the public area
 * and attributes are in templates.h (no TPM needed). */
/* Define the counter with owner authorisation if absent; if present it must
 * have exactly our public area (else ATTEST_E_STATE). *created (may be
 * NULL) tells which. */
int attest_tpm_nv_counter_define(struct attest_tpm *t, uint32_t index,
				 int *created) ATTEST_MUST_CHECK;
/* Increment (TPM_RC_NV_RATE retried with back-off, see above), then read
 * the new value into *value (may be NULL). */
int attest_tpm_nv_counter_increment(struct attest_tpm *t, uint32_t index,
				    uint64_t *value) ATTEST_MUST_CHECK;
/* Current value; ATTEST_E_NOT_FOUND if undefined, ATTEST_E_STATE if never
 * incremented. */
int attest_tpm_nv_counter_read(struct attest_tpm *t, uint32_t index,
			       uint64_t *value) ATTEST_MUST_CHECK;
/* TPM2_NV_Certify of the whole 8-byte counter (size 8, offset 0, hence
 * TPM_ST_ATTEST_NV with the value in nvContents), signed by the AK, with
 * qualifyingData qual. */
int attest_tpm_nv_certify(struct attest_tpm *t, uint32_t index, const uint8_t *qual,
			  size_t qual_len, TPM2B_ATTEST *attest,
			  TPMT_SIGNATURE *sig) ATTEST_MUST_CHECK;
/* Remove an NV index with owner authorisation (tests, decommissioning). */
int attest_tpm_nv_undefine(struct attest_tpm *t, uint32_t index) ATTEST_MUST_CHECK;

/* TPM commands sent through this context so far (benchmarks). */
uint64_t attest_tpm_command_count(const struct attest_tpm *t);

#endif
