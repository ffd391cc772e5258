/* templates.h - the TPM public-area templates we create keys from, and the
 * classification of EK public areas we accept.
 *
 * EKs: TCG EK Credential Profile 2.x, templates L-1 (RSA 2048), L-2 (ECC
 * NIST P-256) and H-3 (ECC NIST P-384). SRK: TCG Provisioning Guidance ECC
 * P-256 SRK. AK: "TPM 2.0 Keys for Device Identity and Attestation" ECC P-256
 * attestation key (restricted, sign, fixedTPM, fixedParent,
 * sensitiveDataOrigin), created as a primary in the endorsement hierarchy so
 * quote clock/reset counters are not obfuscated.
 */
#ifndef LIBATTEST_TEMPLATES_H
#define LIBATTEST_TEMPLATES_H

#include <tss2/tss2_tpm2_types.h>

#include "attest/attest.h"

enum attest_ek_kind {
	ATTEST_EK_NONE = 0,
	ATTEST_EK_RSA2048 = 1, /* L-1, NV 0x01c00002 */
	ATTEST_EK_P256 = 2,    /* L-2, NV 0x01c0000a */
	ATTEST_EK_P384 = 3,    /* H-3, NV 0x01c00016 */
};

#define ATTEST_NV_EK_CERT_RSA2048 0x01c00002u
#define ATTEST_NV_EK_CERT_P256 0x01c0000au
#define ATTEST_NV_EK_CERT_P384 0x01c00016u
#define ATTEST_SRK_HANDLE 0x81000001u

/* Attributes the CA requires of an AK / of a host or agent signing key.
 * The AK's auth is empty, so it must be noDA: a DA-protected AK stops
 * working while the TPM is in dictionary-attack lockout, which any local
 * TPM user can cause (docs/tpm.md "Dictionary-attack lockout"). */
#define ATTEST_AK_REQUIRED_ATTRS                                                   \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |                         \
	 TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | \
	 TPMA_OBJECT_SIGN_ENCRYPT)
#define ATTEST_SIGNKEY_REQUIRED_ATTRS                                              \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |                         \
	 TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_SIGN_ENCRYPT)

void attest_template_ek(enum attest_ek_kind kind, TPM2B_PUBLIC *out);
void attest_template_srk(TPM2B_PUBLIC *out);
void attest_template_ak(TPM2B_PUBLIC *out);
/* Unrestricted ECC P-256 ECDSA-SHA256 signing key. auth_policy may be NULL;
 * with a policy, userWithAuth and adminWithPolicy are clear. */
void attest_template_signkey(const TPM2B_DIGEST *auth_policy, TPM2B_PUBLIC *out);

/* NV index of the EK certificate of a kind (0 for none). */
uint32_t attest_ek_nv_index(enum attest_ek_kind kind);
const char *attest_ek_kind_name(enum attest_ek_kind kind);
/* "rsa2048" / "p256" / "p384" -> kind; ATTEST_EK_NONE if unknown. */
enum attest_ek_kind attest_ek_kind_parse(const char *name);
/* Which TCG template this EK public area was made from (all fields but the
 * unique value must match exactly); ATTEST_E_EK_TEMPLATE if none. */
int attest_ek_classify(const TPM2B_PUBLIC *pub, enum attest_ek_kind *kind) ATTEST_MUST_CHECK;
/* AK public area acceptable for attestation: ECC P-256 or RSA, restricted
 * signing with the required attributes, no decrypt; ATTEST_E_AK_TEMPLATE. */
int attest_ak_check(const TPM2B_PUBLIC *pub) ATTEST_MUST_CHECK;
/* Host issuing key: unrestricted ECC P-256 signing key with the required
 * attributes; ATTEST_E_EVIDENCE_ATTRS otherwise. */
int attest_signkey_check(const TPM2B_PUBLIC *pub) ATTEST_MUST_CHECK;

/* NV counters (the audit log's TPM anchor, docs/audit.md). The counter is
 * an NV index of type TPM_NT_COUNTER, 8 bytes, nameAlg SHA-256, no policy,
 * an empty auth value, authorised by itself for increment and read
 * (AUTHWRITE|AUTHREAD), readable by the owner, NO_DA. Its value only grows:
 * a TPM counter starts at the highest value any counter had and
 * NV_Increment is the only way to change it. */
#define ATTEST_NV_COUNTER_ATTRS                                                    \
	((TPMA_NV)((TPM2_NT_COUNTER << TPMA_NV_TPM2_NT_SHIFT) | TPMA_NV_AUTHWRITE |   \
		   TPMA_NV_AUTHREAD | TPMA_NV_OWNERREAD | TPMA_NV_NO_DA))
/* The public area of that counter (written: with TPMA_NV_WRITTEN, as it is
 * after the first increment and in NV_Certify's index name). No TPM needed. */
void attest_nv_counter_public(uint32_t index, int written, TPM2B_NV_PUBLIC *out);

#endif
