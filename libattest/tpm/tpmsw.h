/* tpmsw.h - TPM 2.0 structures handled in software (no TPM needed): strict
 * unmarshalling, object names, public areas as OpenSSL keys, signature checks
 * and MakeCredential. Used by the CA/verifier side and by tests.
 *
 * All parsers take marshalled bytes from untrusted peers: they cap the input,
 * unmarshal with Tss2_MU_* and reject trailing bytes.
 */
#ifndef LIBATTEST_TPMSW_H
#define LIBATTEST_TPMSW_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "attest/attest.h"

/* Unmarshal a TPM2B_PUBLIC (the whole buffer, no trailing bytes). */
int attest_tpm2b_public_parse(const uint8_t *buf, size_t len,
			      TPM2B_PUBLIC *out) ATTEST_MUST_CHECK;
/* Marshal a TPM2B_PUBLIC into buf (cap bufsz); *len set. */
int attest_tpm2b_public_marshal(const TPM2B_PUBLIC *pub, uint8_t *buf, size_t bufsz,
				size_t *len) ATTEST_MUST_CHECK;
/* Unmarshal a marshalled TPMS_ATTEST (the attestationData of a TPM2B_ATTEST,
 * i.e. without the 2-byte size), no trailing bytes. */
int attest_tpms_attest_parse(const uint8_t *buf, size_t len,
			     TPMS_ATTEST *out) ATTEST_MUST_CHECK;
int attest_tpmt_signature_parse(const uint8_t *buf, size_t len,
				TPMT_SIGNATURE *out) ATTEST_MUST_CHECK;

/* Object name = nameAlg (2 bytes BE) || H_nameAlg(marshalled TPMT_PUBLIC). */
int attest_tpm_name(const TPM2B_PUBLIC *pub, TPM2B_NAME *name) ATTEST_MUST_CHECK;

/* RSA or ECC (P-256/P-384) public area as an OpenSSL public key. */
int attest_tpm_pub_to_pkey(const TPM2B_PUBLIC *pub, EVP_PKEY **out) ATTEST_MUST_CHECK;
/* The reverse: an ECDSA P-256/P-384 or RSA 2048/3072/4096 public key as a
 * public area. With tmpl (a template of the same type and curve or size,
 * e.g. attest_template_ak), its attributes, policy and scheme are kept and
 * only unique is filled, so the name matches an object made from it;
 * without, the area is the bare key (type, nameAlg SHA-256, curve or key
 * bits and exponent, no scheme), as signature checks need. */
int attest_tpm_pub_from_pkey(EVP_PKEY *k, const TPM2B_PUBLIC *tmpl,
			     TPM2B_PUBLIC *out) ATTEST_MUST_CHECK;
/* True (1) if the two keys are the same public key, 0 otherwise. */
int attest_pkey_equal(EVP_PKEY *a, EVP_PKEY *b);

/* Verify a TPM signature (ECDSA or RSASSA/RSAPSS, hash from the signature)
 * over `data` with the signer's public area. ATTEST_E_EVIDENCE_SIGNATURE on
 * a bad or mismatching signature. */
int attest_tpm_verify_sig(const TPM2B_PUBLIC *signer, const uint8_t *data, size_t len,
			  const TPMT_SIGNATURE *sig) ATTEST_MUST_CHECK;
/* Convert a TPM ECDSA signature to DER, or an RSA one to raw bytes, for
 * X.509 use; *out malloc'd. */
int attest_tpm_sig_to_der(const TPMT_SIGNATURE *sig, uint8_t **out,
			  size_t *len) ATTEST_MUST_CHECK;

/* TPM2_MakeCredential in software (TPM 2.0 Part 1 "Credential Protection",
 * Part 3 MakeCredential): protects `secret` (<= digest size of the EK's
 * nameAlg) for the object named `ak_name`, to the EK public area `ek`
 * (RSA: OAEP with label "IDENTITY\0"; ECC: ECDH + KDFe). Symmetric key size
 * from the EK's symmetric definition; KDFa/HMAC with the EK's nameAlg. */
int attest_make_credential(const TPM2B_PUBLIC *ek, const TPM2B_NAME *ak_name,
			   const uint8_t *secret, size_t secret_len,
			   TPM2B_ID_OBJECT *blob,
			   TPM2B_ENCRYPTED_SECRET *enc) ATTEST_MUST_CHECK;

/* KDFa (Part 1, SP 800-108 counter mode HMAC) with OpenSSL's KBKDF. */
int attest_kdfa(TPMI_ALG_HASH hash, const uint8_t *key, size_t keylen, const char *label,
		const uint8_t *ctx_u, size_t ulen, const uint8_t *ctx_v, size_t vlen,
		uint8_t *out, size_t outlen) ATTEST_MUST_CHECK;

/* Digest size and OpenSSL digest for a TPM hash algorithm (NULL/0 if unsupported). */
const EVP_MD *attest_tpm_md(TPMI_ALG_HASH alg);
size_t attest_tpm_digest_size(TPMI_ALG_HASH alg);
/* Digest size of any TCG hash algorithm an event log may carry (SHA-1,
 * SM3-256 too); 0 if unknown. */
size_t attest_tcg_digest_size(TPMI_ALG_HASH alg);

/* The SHA-256 PCR selection structure for a mask. */
void attest_pcr_selection(uint32_t pcr_mask, TPML_PCR_SELECTION *sel);

#endif
