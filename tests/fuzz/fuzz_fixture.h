/* fuzz_fixture.h - what the fuzz targets, the replay driver and gen_corpus
 * share: fixed test-only keys, canonical TPM evidence built in software, and
 * one private temp dir per process.
 *
 * The keys are P-256 keys generated once with `openssl genpkey` and embedded
 * so that seeds (tests/fuzz/corpus) and targets agree across runs; they
 * protect nothing. Fixture failures are a broken environment, not a finding:
 * they print and abort.
 */
#ifndef TESTS_FUZZ_FIXTURE_H
#define TESTS_FUZZ_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

/* libFuzzer entry point, defined by each fuzz_<target>.c. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Fixed clock for the CA (challenges and tokens expire long after it). */
#define FZ_NOW 1700000000L
#define FZ_EXPIRES 4000000000ULL
#define FZ_HOST "fuzz-host"
#define FZ_OPERATOR "fuzzer"
#define FZ_ENROL_ID "00112233445566778899aabbccddeeff"
#define FZ_RENEW_ID "ffeeddccbbaa99887766554433221100"
#define FZ_TOKEN "ajt1.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define FZ_PCR_MASK 0xffu
#define FZ_PCR_BYTES (8 * 32)

extern const uint8_t fz_secret[32];      /* enrolment: the activated secret */
extern const uint8_t fz_quote_nonce[32]; /* fuzz_tpm: quote qualifyingData */
extern const uint8_t fz_renew_nonce[32]; /* fuzz_enrol: renewal challenge nonce */
extern const uint8_t fz_pcrs[FZ_PCR_BYTES]; /* SHA-256 PCRs 0-7 in index order */

/* ROOT: the x509 target's fleet root; AGENT: its agent CA's key (fz_public
 * does not know these two: they are not TPM keys in any target). */
enum fz_key { FZ_KEY_AK, FZ_KEY_HOST, FZ_KEY_EK, FZ_KEY_ROOT, FZ_KEY_AGENT, FZ_KEY_COUNT };

/* The key with its private half; owned by the fixture (process lifetime). */
EVP_PKEY *fz_pkey(enum fz_key k);
/* The x509 target's fleet root: self-signed by FZ_KEY_ROOT, serial 1,
 * valid FZ_ROOT_NOT_BEFORE..FZ_ROOT_NOT_AFTER, SAN spiffe://FZ_TD; the same
 * subject, key and key identifier in every process (a trust anchor's own
 * signature is not checked, so the randomised ECDSA bytes do not matter).
 * Owned by the fixture. */
#define FZ_TD "fuzz.example"
#define FZ_ROOT_NOT_BEFORE 1600000000L
#define FZ_ROOT_NOT_AFTER 4000000000L
X509 *fz_root(void);
/* The x509 target's agent (on FZ_HOST, measured as SHA-256 of its ID). */
#define FZ_AGENT_ID "spiffe://" FZ_TD "/host/" FZ_HOST "/agent/fz"
#define FZ_AGENT_UUID "6f1c2b1e-8d7a-4c1f-9a7e-3b2d1c0f9e8d"
/* A host CA for the fixture host key under fz_root and the agent CA of
 * FZ_AGENT_ID (key FZ_KEY_AGENT, creation evidence by the fixture AK), both
 * valid from now for an hour; the caller's (X509_free). Their subjects and
 * key identifiers are the same in every process: a certificate issued
 * under one made earlier chains to one made now. */
void fz_agent_ca(X509 **hca, X509 **aca);
/* The same under another issuer (issuer_key, issuer): an issuing CA. */
void fz_agent_ca_under(EVP_PKEY *issuer_key, X509 *issuer, X509 **hca, X509 **aca);
/* Its public area: AK template (restricted ECDSA P-256), host signing key
 * template, or the TCG L-2 EK template, with unique = the key's point. */
void fz_public(enum fz_key k, TPM2B_PUBLIC *out);
/* Marshalled TPM2B_PUBLIC of fz_public(k); returns its length. */
size_t fz_public_bytes(enum fz_key k, uint8_t *buf, size_t bufsz);
/* ECDSA-SHA256 TPM signature of data by key k. */
void fz_sign(enum fz_key k, const uint8_t *data, size_t len, TPMT_SIGNATURE *sig);
size_t fz_sig_bytes(const TPMT_SIGNATURE *sig, uint8_t *buf, size_t bufsz);

/* Marshalled TPMS_ATTEST of a quote by the fixture AK over SHA-256 PCRs
 * 0-7 with the given values (FZ_PCR_BYTES) and qualifyingData. */
size_t fz_quote(const uint8_t *nonce, size_t nonce_len, const uint8_t *pcrs, uint8_t *buf,
		size_t bufsz);
/* Marshalled TPMS_CREATION_DATA (fixed content) and the TPMS_ATTEST of
 * CertifyCreation of `key` over it with qualifyingData. */
size_t fz_creation_data(uint8_t *buf, size_t bufsz);
size_t fz_certify(const TPM2B_PUBLIC *key, const uint8_t *cdata, size_t cdata_len,
		  const uint8_t *qual, size_t qual_len, uint8_t *buf, size_t bufsz);

/* Private 0700 directory under $TMPDIR (or /tmp), made on first use and
 * removed at exit (a crash leaves it behind: attest-fuzz.XXXXXX). */
const char *fz_tmpdir(void);
/* dir/name into out; aborts if it does not fit. */
void fz_path(char *out, size_t outsz, const char *dir, const char *name);
/* Write a whole file (0600, truncating). */
void fz_write(const char *path, const void *data, size_t len);

void fz_die(const char *what) __attribute__((noreturn));
/* With FUZZ_VERBOSE set in the environment, print what returned which code
 * and detail (to see how deep each seed gets); returns r. */
int fz_note(const char *what, int r);

#endif
