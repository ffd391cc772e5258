/* templates.c - TPM public-area templates (TCG EK profile, provisioning
 * guidance, device identity keys) and their classification. */
#include <string.h>

#include "core/err.h"
#include "tpm/templates.h"

/* PolicySecret(TPM_RH_ENDORSEMENT), SHA-256 (EK profile, "Policy A" for L-x). */
static const uint8_t ek_policy_sha256[32] = {
	0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc,
	0x8d, 0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52,
	0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
};
/* "Policy B" SHA-384 of the EK profile's high-range templates:
 * PolicyOR over PolicySecret(TPM_RH_ENDORSEMENT) and the PolicyAuthorizeNV
 * branch. */
static const uint8_t ek_policy_sha384[48] = {
	0xb2, 0x6e, 0x7d, 0x28, 0xd1, 0x1a, 0x50, 0xbc, 0x53, 0xd8, 0x82, 0xbc,
	0xf5, 0xfd, 0x3a, 0x1a, 0x07, 0x41, 0x48, 0xbb, 0x35, 0xd3, 0xb4, 0xe4,
	0xcb, 0x1c, 0x0a, 0xd9, 0xbd, 0xe4, 0x19, 0xca, 0xcb, 0x47, 0xba, 0x09,
	0x69, 0x96, 0x46, 0x15, 0x0f, 0x9f, 0xc0, 0x00, 0xf3, 0xf8, 0x0e, 0x12,
};

#define BASE_ATTRS                                                                 \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN)

static void ecc_common(TPMT_PUBLIC *p, TPMI_ALG_HASH name_alg, TPMI_ECC_CURVE curve)
{
	p->type = TPM2_ALG_ECC;
	p->nameAlg = name_alg;
	p->parameters.eccDetail.curveID = curve;
	p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
}

static void sym_aes_cfb(TPMT_SYM_DEF_OBJECT *s, uint16_t bits)
{
	s->algorithm = TPM2_ALG_AES;
	s->keyBits.aes = bits;
	s->mode.aes = TPM2_ALG_CFB;
}

void attest_template_ek(enum attest_ek_kind kind, TPM2B_PUBLIC *out)
{
	TPMT_PUBLIC *p = &out->publicArea;

	memset(out, 0, sizeof(*out));
	switch (kind) {
	case ATTEST_EK_RSA2048:
		p->type = TPM2_ALG_RSA;
		p->nameAlg = TPM2_ALG_SHA256;
		p->objectAttributes = BASE_ATTRS | TPMA_OBJECT_ADMINWITHPOLICY |
				      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
		p->authPolicy.size = sizeof(ek_policy_sha256);
		memcpy(p->authPolicy.buffer, ek_policy_sha256, sizeof(ek_policy_sha256));
		sym_aes_cfb(&p->parameters.rsaDetail.symmetric, 128);
		p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.rsaDetail.keyBits = 2048;
		p->parameters.rsaDetail.exponent = 0;
		p->unique.rsa.size = 256;
		break;
	case ATTEST_EK_P256:
		ecc_common(p, TPM2_ALG_SHA256, TPM2_ECC_NIST_P256);
		p->objectAttributes = BASE_ATTRS | TPMA_OBJECT_ADMINWITHPOLICY |
				      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
		p->authPolicy.size = sizeof(ek_policy_sha256);
		memcpy(p->authPolicy.buffer, ek_policy_sha256, sizeof(ek_policy_sha256));
		sym_aes_cfb(&p->parameters.eccDetail.symmetric, 128);
		p->unique.ecc.x.size = 32;
		p->unique.ecc.y.size = 32;
		break;
	case ATTEST_EK_P384:
		ecc_common(p, TPM2_ALG_SHA384, TPM2_ECC_NIST_P384);
		p->objectAttributes = BASE_ATTRS | TPMA_OBJECT_USERWITHAUTH |
				      TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED |
				      TPMA_OBJECT_DECRYPT;
		p->authPolicy.size = sizeof(ek_policy_sha384);
		memcpy(p->authPolicy.buffer, ek_policy_sha384, sizeof(ek_policy_sha384));
		sym_aes_cfb(&p->parameters.eccDetail.symmetric, 256);
		break;
	case ATTEST_EK_NONE:
		break;
	}
}

void attest_template_srk(TPM2B_PUBLIC *out)
{
	TPMT_PUBLIC *p = &out->publicArea;

	memset(out, 0, sizeof(*out));
	ecc_common(p, TPM2_ALG_SHA256, TPM2_ECC_NIST_P256);
	p->objectAttributes = BASE_ATTRS | TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA |
			      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	sym_aes_cfb(&p->parameters.eccDetail.symmetric, 128);
	p->unique.ecc.x.size = 32;
	p->unique.ecc.y.size = 32;
}

void attest_template_ak(TPM2B_PUBLIC *out)
{
	TPMT_PUBLIC *p = &out->publicArea;

	memset(out, 0, sizeof(*out));
	ecc_common(p, TPM2_ALG_SHA256, TPM2_ECC_NIST_P256);
	/* noDA: its auth is empty, so dictionary-attack protection guards
	 * nothing, while lockout (anyone with TPM access can cause it with
	 * three wrong auths on any DA-protected object) would stop every
	 * quote, checkpoint and registration. */
	p->objectAttributes = BASE_ATTRS | TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA |
			      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
	p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	p->unique.ecc.x.size = 32;
	p->unique.ecc.y.size = 32;
}

void attest_template_signkey(const TPM2B_DIGEST *auth_policy, TPM2B_PUBLIC *out)
{
	TPMT_PUBLIC *p = &out->publicArea;

	memset(out, 0, sizeof(*out));
	ecc_common(p, TPM2_ALG_SHA256, TPM2_ECC_NIST_P256);
	p->objectAttributes = BASE_ATTRS | TPMA_OBJECT_NODA | TPMA_OBJECT_SIGN_ENCRYPT;
	if (auth_policy != NULL && auth_policy->size > 0)
		p->authPolicy = *auth_policy;
	else
		p->objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
	p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
}

uint32_t attest_ek_nv_index(enum attest_ek_kind kind)
{
	switch (kind) {
	case ATTEST_EK_RSA2048: return ATTEST_NV_EK_CERT_RSA2048;
	case ATTEST_EK_P256: return ATTEST_NV_EK_CERT_P256;
	case ATTEST_EK_P384: return ATTEST_NV_EK_CERT_P384;
	case ATTEST_EK_NONE: break;
	}
	return 0;
}

static const char *const kind_names[] = {
	[ATTEST_EK_NONE] = "none",
	[ATTEST_EK_RSA2048] = "rsa2048",
	[ATTEST_EK_P256] = "p256",
	[ATTEST_EK_P384] = "p384",
};

const char *attest_ek_kind_name(enum attest_ek_kind kind)
{
	if ((unsigned)kind >= sizeof(kind_names) / sizeof(kind_names[0]))
		return "none";
	return kind_names[kind];
}

enum attest_ek_kind attest_ek_kind_parse(const char *name)
{
	for (unsigned i = ATTEST_EK_RSA2048; i <= ATTEST_EK_P384; i++)
		if (strcmp(name, kind_names[i]) == 0)
			return (enum attest_ek_kind)i;
	return ATTEST_EK_NONE;
}

/* Compare everything but the unique field. */
static int same_template(const TPMT_PUBLIC *a, const TPMT_PUBLIC *b)
{
	if (a->type != b->type || a->nameAlg != b->nameAlg ||
	    a->objectAttributes != b->objectAttributes ||
	    a->authPolicy.size != b->authPolicy.size ||
	    memcmp(a->authPolicy.buffer, b->authPolicy.buffer, a->authPolicy.size) != 0)
		return 0;
	if (a->type == TPM2_ALG_RSA) {
		const TPMS_RSA_PARMS *x = &a->parameters.rsaDetail, *y = &b->parameters.rsaDetail;

		return x->symmetric.algorithm == y->symmetric.algorithm &&
		       x->symmetric.keyBits.aes == y->symmetric.keyBits.aes &&
		       x->symmetric.mode.aes == y->symmetric.mode.aes &&
		       x->scheme.scheme == y->scheme.scheme && x->keyBits == y->keyBits &&
		       (x->exponent == y->exponent ||
			(x->exponent == 65537 && y->exponent == 0) ||
			(x->exponent == 0 && y->exponent == 65537));
	}
	if (a->type == TPM2_ALG_ECC) {
		const TPMS_ECC_PARMS *x = &a->parameters.eccDetail, *y = &b->parameters.eccDetail;

		return x->symmetric.algorithm == y->symmetric.algorithm &&
		       x->symmetric.keyBits.aes == y->symmetric.keyBits.aes &&
		       x->symmetric.mode.aes == y->symmetric.mode.aes &&
		       x->scheme.scheme == y->scheme.scheme && x->curveID == y->curveID &&
		       x->kdf.scheme == y->kdf.scheme;
	}
	return 0;
}

int attest_ek_classify(const TPM2B_PUBLIC *pub, enum attest_ek_kind *kind)
{
	TPM2B_PUBLIC t;

	*kind = ATTEST_EK_NONE;
	for (unsigned i = ATTEST_EK_RSA2048; i <= ATTEST_EK_P384; i++) {
		attest_template_ek((enum attest_ek_kind)i, &t);
		if (same_template(&pub->publicArea, &t.publicArea)) {
			*kind = (enum attest_ek_kind)i;
			return ATTEST_OK;
		}
	}
	return attest_fail(ATTEST_E_EK_TEMPLATE,
			   "EK public area (type 0x%x, nameAlg 0x%x, attributes 0x%x) matches "
			   "no TCG EK template (L-1, L-2, H-3)",
			   pub->publicArea.type, pub->publicArea.nameAlg,
			   (unsigned)pub->publicArea.objectAttributes);
}

int attest_ak_check(const TPM2B_PUBLIC *pub)
{
	const TPMT_PUBLIC *p = &pub->publicArea;
	TPMA_OBJECT a = p->objectAttributes;

	if ((a & ATTEST_AK_REQUIRED_ATTRS) != ATTEST_AK_REQUIRED_ATTRS)
		return attest_fail(ATTEST_E_AK_TEMPLATE,
				   "AK attributes 0x%x lack 0x%x (fixedTPM, fixedParent, "
				   "sensitiveDataOrigin, noDA, restricted, sign)",
				   (unsigned)a,
				   (unsigned)(ATTEST_AK_REQUIRED_ATTRS & ~a));
	if (a & TPMA_OBJECT_DECRYPT)
		return attest_fail(ATTEST_E_AK_TEMPLATE, "AK must not be a decryption key");
	if (p->nameAlg != TPM2_ALG_SHA256 && p->nameAlg != TPM2_ALG_SHA384)
		return attest_fail(ATTEST_E_AK_TEMPLATE, "AK nameAlg 0x%x not allowed", p->nameAlg);
	if (p->type == TPM2_ALG_ECC) {
		if (p->parameters.eccDetail.curveID != TPM2_ECC_NIST_P256 &&
		    p->parameters.eccDetail.curveID != TPM2_ECC_NIST_P384)
			return attest_fail(ATTEST_E_AK_TEMPLATE, "AK curve not allowed");
		if (p->parameters.eccDetail.scheme.scheme != TPM2_ALG_ECDSA)
			return attest_fail(ATTEST_E_AK_TEMPLATE, "AK scheme must be ECDSA");
	} else if (p->type == TPM2_ALG_RSA) {
		if (p->parameters.rsaDetail.keyBits < 2048)
			return attest_fail(ATTEST_E_AK_TEMPLATE, "AK RSA key under 2048 bits");
	} else {
		return attest_fail(ATTEST_E_AK_TEMPLATE, "AK type 0x%x not allowed", p->type);
	}
	return ATTEST_OK;
}

int attest_signkey_check(const TPM2B_PUBLIC *pub)
{
	const TPMT_PUBLIC *p = &pub->publicArea;
	TPMA_OBJECT a = p->objectAttributes;

	if ((a & ATTEST_SIGNKEY_REQUIRED_ATTRS) != ATTEST_SIGNKEY_REQUIRED_ATTRS ||
	    (a & (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)) != 0)
		return attest_fail(ATTEST_E_EVIDENCE_ATTRS,
				   "signing key attributes 0x%x: need fixedTPM, fixedParent, "
				   "sensitiveDataOrigin, sign; no restricted, no decrypt",
				   (unsigned)a);
	if (p->type != TPM2_ALG_ECC || p->parameters.eccDetail.curveID != TPM2_ECC_NIST_P256 ||
	    p->nameAlg != TPM2_ALG_SHA256)
		return attest_fail(ATTEST_E_EVIDENCE_ATTRS,
				   "signing key must be ECC NIST P-256 with nameAlg SHA-256");
	return ATTEST_OK;
}

/* ---- NV counter of the audit log (docs/audit.md, "TPM anchor") ---- */

void attest_nv_counter_public(uint32_t index, int written, TPM2B_NV_PUBLIC *out)
{
	memset(out, 0, sizeof(*out));
	out->nvPublic.nvIndex = index;
	out->nvPublic.nameAlg = TPM2_ALG_SHA256;
	out->nvPublic.attributes = ATTEST_NV_COUNTER_ATTRS | (written ? TPMA_NV_WRITTEN : 0);
	out->nvPublic.dataSize = 8;
}
