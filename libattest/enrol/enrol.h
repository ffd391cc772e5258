/* enrol.h - host enrolment, both sides (docs/enrolment.md).
 *
 * Four JSON messages, each <= ATTEST_ENROL_MSG_CAP bytes:
 *   host -> CA  enrol-request    EK public + cert, AK public, host key public
 *   CA -> host  enrol-challenge  MakeCredential blob for the AK
 *   host -> CA  enrol-response   activated secret, CertifyCreation of the host
 *                                key by the AK, quote of the boot PCRs
 *   CA -> host  enrol-result     host CA certificate, issuing CA bundle, fleet root
 * They travel as files today and over the verifier's HTTPS API later.
 *
 * The CA side needs no TPM. A refused message changes no CA state; state
 * changes only when a step succeeds, each written crash-safely.
 */
#ifndef LIBATTEST_ENROL_H
#define LIBATTEST_ENROL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "attest/attest.h"
#include "tpm/templates.h"
#include "tpm/tpm.h"
#include "x509/x509.h"

#define ATTEST_ENROL_MSG_CAP (64 * 1024)
#define ATTEST_ENROL_PCR_MASK 0xffu /* boot PCRs 0-7 */
#define ATTEST_CHALLENGE_TTL 600
#define ATTEST_TOKEN_DEFAULT_TTL 3600
#define ATTEST_TOKEN_MAX_TTL (7 * 24 * 3600)

struct attest_tpm;
struct attest_ca;

/* ---- CA side (attest-provision) ---- */

/* Create a fleet CA in `dir` (created 0700; must not hold a CA yet): the
 * fleet root (root.key, root.pem) and an online issuing CA signed by it
 * (issuing/<serial>.{key,pem}, issuing/current), valid issuing_days
 * (attest_ca_init: ATTEST_ISSUING_CA_DEFAULT_DAYS). Every host CA
 * certificate is signed by the current issuing CA; root.key is needed
 * again only to rotate it, and may live offline (docs/enrolment.md
 * "Offline root, online issuing CA"). */
int attest_ca_init(const char *dir, const char *trust_domain, const char *vendor_roots,
		   long host_ca_ttl) ATTEST_MUST_CHECK;
int attest_ca_init_ex(const char *dir, const char *trust_domain, const char *vendor_roots,
		      long host_ca_ttl, int issuing_days) ATTEST_MUST_CHECK;
/* The same with the fleet's name-constraints option (docs/x509.md "Name
 * constraints"; attest_ca_init_ex: on): recorded in config.json
 * ("name_constraints"), used for every issuing CA of the fleet, inherited
 * by the host, agent and session CA certificates below. */
int attest_ca_init_nc(const char *dir, const char *trust_domain, const char *vendor_roots,
		      long host_ca_ttl, int issuing_days, int name_constraints) ATTEST_MUST_CHECK;
/* A new issuing CA (days of validity) signed by the fleet root key read
 * from root_key_path (NULL: DIR/root.key), made current; its serial (32
 * hex digits) in serial. Host CA certificates the old one signed stay
 * valid until they expire; renewals get the new one. Under the CA lock. */
int attest_ca_issuing_rotate(struct attest_ca *ca, const char *root_key_path, int days,
			     char serial[33]) ATTEST_MUST_CHECK;
/* The issuing CA certificates a relying party may meet in a chain: the
 * current one first, then the ones it replaced that have not expired (at
 * most 8). *out: a new stack the caller frees (sk_X509_pop_free). */
int attest_ca_issuing_certs(struct attest_ca *ca, STACK_OF(X509) **out) ATTEST_MUST_CHECK;
/* Sign a host CA certificate for `host` with the current issuing CA, after
 * checking, from the CA directory, that the host is enrolled with exactly
 * this host key (hosts/<host>.json) and that its EK binding holds both ways
 * (names/, eks/). The profile (TTL, extensions) is the CA's, not the
 * caller's. This is what the key holder runs: in-process for
 * attest-provision, in the verifier's signer process for attest-verifier.
 * Does not take the CA lock (the asking side holds it). */
int attest_ca_sign_host(struct attest_ca *ca, const char *host, const TPM2B_PUBLIC *key,
			X509 **out) ATTEST_MUST_CHECK;
/* The signer's ledger (CA_DIR/signed/<host>, docs/verifier.md "Key
 * custody"): check refuses (ATTEST_E_STATE) a key other than the one the
 * signer last signed for this host, and a first signature for a host no
 * operator authorised (a join token for it that has not expired, or an
 * allowlist entry for the EK its record names, each written by this
 * process's user); record notes the key just signed.
 * attest_ca_token_issue and attest_ca_forget_host release a host. seed,
 * once for a CA without a ledger (the upgrade): every host recorded now
 * is pinned to its recorded key. */
int attest_ca_pin_check(struct attest_ca *ca, const char *host,
			const TPM2B_PUBLIC *key) ATTEST_MUST_CHECK;
int attest_ca_pin_record(struct attest_ca *ca, const char *host,
			 const TPM2B_PUBLIC *key) ATTEST_MUST_CHECK;
int attest_ca_pin_seed(struct attest_ca *ca) ATTEST_MUST_CHECK;
/* CRLs for relying parties that check every level (issue 15 item 5,
 * docs/relying-parties.md "Revocation for plain mTLS").
 * attest_ca_issuing_crl (the key holder: the verifier's signer): the
 * current issuing CA's CRL listing the host CA certificate last issued to
 * each of the n revoked hosts named (from the CA's own host records; a
 * host without one lists nothing), valid ttl seconds (60..
 * ATTEST_CA_CRL_TTL_MAX). attest_ca_root_crl (offline, with the root key
 * from root_key_path, NULL: DIR/root.key): the root's CRL (empty), valid
 * days, written to DIR/root-crl.pem (0644) for the verifier to serve. */
#define ATTEST_CA_CRL_HOSTS_MAX 400
#define ATTEST_CA_CRL_TTL_MAX (7 * 86400)
int attest_ca_issuing_crl(struct attest_ca *ca, const char *const *hosts, size_t n, long ttl,
			  X509_CRL **out) ATTEST_MUST_CHECK;
int attest_ca_root_crl(struct attest_ca *ca, const char *root_key_path,
		       int days) ATTEST_MUST_CHECK;
/* Load the current issuing CA's key now (the signer process, before it
 * serves), so a missing or mismatched key fails at start. */
int attest_ca_load_issuing(struct attest_ca *ca) ATTEST_MUST_CHECK;
/* Who signs host CA certificates for this handle: fn instead of
 * attest_ca_sign_host in this process (the verifier's serving process
 * asks its signer). fn gets what attest_ca_sign_host gets. */
typedef int (*attest_ca_sign_fn)(void *arg, const char *host, const TPM2B_PUBLIC *key,
				 X509 **out);
void attest_ca_set_signer(struct attest_ca *ca, attest_ca_sign_fn fn, void *arg);
int attest_ca_open(const char *dir, struct attest_ca **out) ATTEST_MUST_CHECK;
void attest_ca_close(struct attest_ca *ca);
/* Tests: use `now` instead of the clock (0 restores the clock). */
void attest_ca_set_time(struct attest_ca *ca, time_t now);

/* Single-use join token bound to `host`, valid ttl seconds; *token malloc'd.
 * Only its SHA-256 is stored. */
int attest_ca_token_issue(struct attest_ca *ca, const char *host, long ttl,
			  const char *operator_name, char **token) ATTEST_MUST_CHECK;
/* Allow the EK whose SPKI SHA-256 is ek_hash_hex to enrol as `host` without
 * a token. */
int attest_ca_allow_ek(struct attest_ca *ca, const char *ek_hash_hex, const char *host,
		       const char *operator_name) ATTEST_MUST_CHECK;

/* Request -> challenge JSON (*out malloc'd). */
int attest_ca_handle_request(struct attest_ca *ca, const void *msg, size_t len,
			     char **out) ATTEST_MUST_CHECK;
/* Response -> result JSON with the host CA certificate (*out malloc'd). */
int attest_ca_handle_response(struct attest_ca *ca, const void *msg, size_t len,
			      char **out) ATTEST_MUST_CHECK;
/* Forget an enrolled host: its record and its EK binding, so that it (or
 * its name on another TPM) can enrol afresh, e.g. after an approved change
 * of boot PCRs. Certificates already issued stay valid until they expire. */
int attest_ca_forget_host(struct attest_ca *ca, const char *host) ATTEST_MUST_CHECK;
/* What the CA recorded for an enrolled host: its AK and the boot PCRs it
 * quoted at enrolment (ref_mask, SHA-256 values in index order).
 * ATTEST_E_NOT_FOUND for a host never enrolled (or forgotten). */
int attest_ca_host_info(struct attest_ca *ca, const char *host, TPM2B_PUBLIC *ak,
			uint32_t *ref_mask, uint8_t *ref, size_t ref_cap,
			size_t *ref_len) ATTEST_MUST_CHECK;
/* The file of the host's record (what attest_ca_host_info reads): a
 * verifier watches it to notice re-enrolment and forget-host. */
int attest_ca_host_path(const struct attest_ca *ca, const char *host, char *out,
			size_t outsz) ATTEST_MUST_CHECK;
/* A new host CA certificate for the enrolled host's recorded key, as an
 * enrol-result message (*out malloc'd). The caller decides when a host has
 * earned it: the verifier issues one only after a good quote. */
int attest_ca_reissue_host(struct attest_ca *ca, const char *host, char **out) ATTEST_MUST_CHECK;
/* Path of the fleet root certificate (valid while ca is open). */
const char *attest_ca_root_path(const struct attest_ca *ca);

/* ---- host side (attestctl host enroll) ---- */

/* Start enrolment: reads the EK (kind NONE = detect), creates the host
 * issuing key, saves it and the pending state in state_dir (0700), and
 * returns the request JSON. token may be NULL when the EK is allowlisted. */
int attest_host_enrol_begin(struct attest_tpm *t, const char *state_dir, const char *host,
			    const char *token, enum attest_ek_kind kind,
			    char **out) ATTEST_MUST_CHECK;
/* Answer the challenge: ActivateCredential, CertifyCreation, quote. */
int attest_host_enrol_answer(struct attest_tpm *t, const char *state_dir, const void *msg,
			     size_t len, char **out) ATTEST_MUST_CHECK;
/* Install the result: the certificate must carry our new host key and
 * chain to the pinned fleet root: pinned_root (a PEM file), else the root
 * of the identity already enrolled here; a first enrolment without one is
 * refused. Commits identity.json with one rename. */
int attest_host_enrol_finish(const char *state_dir, const void *msg, size_t len,
			     const char *pinned_root) ATTEST_MUST_CHECK;

/* The enrolled identity of this host, from STATE/identity.json. */
struct attest_host_identity {
	char host[64];
	char trust_domain[256];
	char ek_kind[16];
	struct attest_tpm_key key; /* host issuing key blob */
	X509 *host_ca;
	/* the issuing CA bundle: [0] issued host_ca, the others are issuing
	 * CAs of the fleet still valid (delegations from hosts not renewed
	 * since a rotation chain to them) */
	STACK_OF(X509) *issuing;
	X509 *root;
};
int attest_host_identity_load(const char *state_dir,
			      struct attest_host_identity *id) ATTEST_MUST_CHECK;
void attest_host_identity_clear(struct attest_host_identity *id);

/* Renewal (host CA certificates live <= 24 h): the CA sends a nonce; the
 * host quotes its reference PCRs with the enrolled AK over that nonce; a
 * quote that verifies and matches the reference values recorded at
 * enrolment earns a new certificate for the same host key.
 *   CA:   attest_ca_renew_challenge -> renew-challenge
 *   host: attest_host_renew_answer  -> renew-response
 *   CA:   attest_ca_handle_renewal  -> enrol-result
 *   host: attest_host_renew_finish installs it (root pinned from enrolment) */
int attest_ca_renew_challenge(struct attest_ca *ca, const char *host,
			      char **out) ATTEST_MUST_CHECK;
int attest_ca_handle_renewal(struct attest_ca *ca, const void *msg, size_t len,
			     char **out) ATTEST_MUST_CHECK;
int attest_host_renew_answer(struct attest_tpm *t, const char *state_dir, const void *msg,
			     size_t len, char **out) ATTEST_MUST_CHECK;
int attest_host_renew_finish(const char *state_dir, const void *msg,
			     size_t len) ATTEST_MUST_CHECK;

/* An enrol-result message, typed: attest_enrol_result_parse reads the
 * JSON (who receives it from the network: attestd's front), and
 * attest_host_renew_install checks the typed result against the host key
 * and the pinned root before it installs it (attestd's monitor, which
 * parses only the certificates). attest_host_renew_finish is both. */
#define ATTEST_ENROL_TD_MAX 255
#define ATTEST_ENROL_CERT_MAX 16384
#define ATTEST_ENROL_BUNDLE_MAX (8 * 4096)
struct attest_enrol_result {
	char host[ATTEST_MAX_NAME + 1];
	char trust_domain[ATTEST_ENROL_TD_MAX + 1];
	char *host_ca_cert;    /* PEM, malloc'd */
	char *issuing_ca_cert; /* PEM bundle, malloc'd */
	char *root_cert;       /* PEM, malloc'd */
};
int attest_enrol_result_parse(const void *msg, size_t len,
			      struct attest_enrol_result *out) ATTEST_MUST_CHECK;
void attest_enrol_result_clear(struct attest_enrol_result *res);
int attest_host_renew_install(const char *state_dir,
			      const struct attest_enrol_result *res) ATTEST_MUST_CHECK;

/* qualifyingData of a renewal quote: SHA-256("attestd-renew-v1\0" || nonce). */
int attest_renew_qualifying_data(const uint8_t *nonce, size_t len,
				 uint8_t out[32]) ATTEST_MUST_CHECK;

/* qualifyingData that binds creation evidence and the enrolment quote to
 * one challenge: SHA-256(challenge id (16 bytes, given as 32 hex) || secret). */
int attest_enrol_qualifying_data(const char *id_hex, const uint8_t *secret, size_t slen,
				 uint8_t out[32]) ATTEST_MUST_CHECK;

/* SHA-256 of the DER SubjectPublicKeyInfo of a TPM public area, as hex
 * (65 bytes with NUL): how EKs are named on allowlists and in the registry. */
int attest_spki_hash_hex(const TPM2B_PUBLIC *pub, char out[65]) ATTEST_MUST_CHECK;

#endif
