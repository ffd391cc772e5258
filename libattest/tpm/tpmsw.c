/* tpmsw.c - TPM 2.0 structures in software: strict parsers, object names,
 * public areas as OpenSSL keys, signature checks, KDFa/KDFe and
 * MakeCredential (TPM 2.0 Part 1 "Credential Protection", Annex B/C).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <tss2/tss2_mu.h>

#include "core/cursor.h"
#include "core/err.h"
#include "tpm/tpmsw.h"

/* Largest field (P-384) and digest (SHA-512) this module handles. */
#define MAX_FIELD_BYTES 48
#define MAX_DIGEST_BYTES 64
/* Caps on KDF inputs/outputs; every caller in attestd stays far below. */
#define KDF_MAX_OUT 4096
#define KDF_MAX_CTX 4096
#define KDF_MAX_LABEL 64

/* OSSL_PARAM takes non-const char pointers; OpenSSL only reads these. */
static char name_sha256[] = "SHA256";
static char name_sha384[] = "SHA384";
static char name_sha512[] = "SHA512";
static char name_counter[] = "counter";
static char name_hmac[] = "HMAC";

/* The label for credential protection, including its terminating NUL
 * (Part 1 §24: the label is "IDENTITY" as a null-terminated string). */
static const uint8_t label_identity[] = { 'I', 'D', 'E', 'N', 'T', 'I', 'T', 'Y', 0 };

/* Every TCG hash algorithm we know: its digest size, and for the ones we
 * use (ours), OpenSSL's digest and name. One table for attest_tpm_md,
 * attest_tpm_digest_size, md_name and attest_tcg_digest_size. */
static const struct tcg_hash {
	TPMI_ALG_HASH alg;
	size_t size;
	const EVP_MD *(*md)(void); /* NULL: not one of ours */
	char *name;                /* OpenSSL's name, for OSSL_PARAM */
} tcg_hashes[] = {
	{ TPM2_ALG_SHA1, 20, NULL, NULL },
	{ TPM2_ALG_SHA256, 32, EVP_sha256, name_sha256 },
	{ TPM2_ALG_SM3_256, 32, NULL, NULL },
	{ TPM2_ALG_SHA384, 48, EVP_sha384, name_sha384 },
	{ TPM2_ALG_SHA512, 64, EVP_sha512, name_sha512 },
};

static const struct tcg_hash *tcg_hash(TPMI_ALG_HASH alg)
{
	for (size_t i = 0; i < sizeof(tcg_hashes) / sizeof(tcg_hashes[0]); i++)
		if (tcg_hashes[i].alg == alg)
			return &tcg_hashes[i];
	return NULL;
}

const EVP_MD *attest_tpm_md(TPMI_ALG_HASH alg)
{
	const struct tcg_hash *h = tcg_hash(alg);

	return h != NULL && h->md != NULL ? h->md() : NULL;
}

size_t attest_tpm_digest_size(TPMI_ALG_HASH alg)
{
	const struct tcg_hash *h = tcg_hash(alg);

	return h != NULL && h->md != NULL ? h->size : 0;
}

size_t attest_tcg_digest_size(TPMI_ALG_HASH alg)
{
	const struct tcg_hash *h = tcg_hash(alg);

	return h != NULL ? h->size : 0;
}

static char *md_name(TPMI_ALG_HASH alg)
{
	const struct tcg_hash *h = tcg_hash(alg);

	return h != NULL ? h->name : NULL;
}

/* OpenSSL group name and field size in bytes; 0 if unsupported. */
static size_t curve_info(TPMI_ECC_CURVE curve, const char **group)
{
	switch (curve) {
	case TPM2_ECC_NIST_P256:
		*group = "P-256";
		return 32;
	case TPM2_ECC_NIST_P384:
		*group = "P-384";
		return 48;
	default:
		*group = NULL;
		return 0;
	}
}

/* ---- parsers ---------------------------------------------------------- */

int attest_tpm2b_public_parse(const uint8_t *buf, size_t len, TPM2B_PUBLIC *out)
{
	TPM2B_PUBLIC tmp;
	size_t off = 0;
	TSS2_RC rc;

	if (buf == NULL || out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "TPM2B_PUBLIC parse: NULL argument");
	if (len > sizeof(TPM2B_PUBLIC))
		return attest_fail(ATTEST_E_TOO_LARGE, "TPM2B_PUBLIC of %zu bytes over cap %zu",
				   len, sizeof(TPM2B_PUBLIC));
	memset(&tmp, 0, sizeof(tmp));
	rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &off, &tmp);
	if (rc != TSS2_RC_SUCCESS)
		return attest_fail_tss(ATTEST_E_PARSE, rc, "TPM2B_PUBLIC unmarshal");
	if (off != len)
		return attest_fail(ATTEST_E_PARSE, "TPM2B_PUBLIC: %zu trailing bytes", len - off);
	if (tmp.size == 0 || (size_t)tmp.size + 2 != off)
		return attest_fail(ATTEST_E_PARSE, "TPM2B_PUBLIC: size field %u does not match contents",
				   (unsigned)tmp.size);
	*out = tmp;
	return ATTEST_OK;
}

int attest_tpm2b_public_marshal(const TPM2B_PUBLIC *pub, uint8_t *buf, size_t bufsz, size_t *len)
{
	size_t off = 0;
	TSS2_RC rc;

	if (pub == NULL || buf == NULL || len == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "TPM2B_PUBLIC marshal: NULL argument");
	rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, bufsz, &off);
	if (rc == TSS2_MU_RC_INSUFFICIENT_BUFFER)
		return attest_fail_tss(ATTEST_E_TOO_LARGE, rc, "TPM2B_PUBLIC marshal into %zu bytes",
				       bufsz);
	if (rc != TSS2_RC_SUCCESS)
		return attest_fail_tss(ATTEST_E_INVALID_ARG, rc, "TPM2B_PUBLIC marshal");
	*len = off;
	return ATTEST_OK;
}

int attest_tpms_attest_parse(const uint8_t *buf, size_t len, TPMS_ATTEST *out)
{
	TPMS_ATTEST tmp;
	size_t off = 0;
	TSS2_RC rc;
	const size_t cap = sizeof(((TPM2B_ATTEST *)0)->attestationData);

	if (buf == NULL || out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "TPMS_ATTEST parse: NULL argument");
	if (len > cap)
		return attest_fail(ATTEST_E_TOO_LARGE, "TPMS_ATTEST of %zu bytes over cap %zu",
				   len, cap);
	memset(&tmp, 0, sizeof(tmp));
	rc = Tss2_MU_TPMS_ATTEST_Unmarshal(buf, len, &off, &tmp);
	if (rc != TSS2_RC_SUCCESS)
		return attest_fail_tss(ATTEST_E_PARSE, rc, "TPMS_ATTEST unmarshal");
	if (off != len)
		return attest_fail(ATTEST_E_PARSE, "TPMS_ATTEST: %zu trailing bytes", len - off);
	*out = tmp;
	return ATTEST_OK;
}

int attest_tpmt_signature_parse(const uint8_t *buf, size_t len, TPMT_SIGNATURE *out)
{
	TPMT_SIGNATURE tmp;
	size_t off = 0;
	TSS2_RC rc;

	if (buf == NULL || out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "TPMT_SIGNATURE parse: NULL argument");
	if (len > sizeof(TPMT_SIGNATURE))
		return attest_fail(ATTEST_E_TOO_LARGE, "TPMT_SIGNATURE of %zu bytes over cap %zu",
				   len, sizeof(TPMT_SIGNATURE));
	memset(&tmp, 0, sizeof(tmp));
	rc = Tss2_MU_TPMT_SIGNATURE_Unmarshal(buf, len, &off, &tmp);
	if (rc != TSS2_RC_SUCCESS)
		return attest_fail_tss(ATTEST_E_PARSE, rc, "TPMT_SIGNATURE unmarshal");
	if (off != len)
		return attest_fail(ATTEST_E_PARSE, "TPMT_SIGNATURE: %zu trailing bytes", len - off);
	*out = tmp;
	return ATTEST_OK;
}

/* ---- names and keys --------------------------------------------------- */

int attest_tpm_name(const TPM2B_PUBLIC *pub, TPM2B_NAME *name)
{
	uint8_t m[sizeof(TPMT_PUBLIC)];
	TPM2B_NAME tmp;
	const EVP_MD *md;
	unsigned int dlen = 0;
	size_t off = 0;
	TSS2_RC rc;
	TPMI_ALG_HASH alg;

	if (pub == NULL || name == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "tpm name: NULL argument");
	alg = pub->publicArea.nameAlg;
	md = attest_tpm_md(alg);
	if (md == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "tpm name: unsupported nameAlg 0x%04x",
				   (unsigned)alg);
	rc = Tss2_MU_TPMT_PUBLIC_Marshal(&pub->publicArea, m, sizeof(m), &off);
	if (rc != TSS2_RC_SUCCESS)
		return attest_fail_tss(ATTEST_E_INVALID_ARG, rc, "tpm name: TPMT_PUBLIC marshal");
	memset(&tmp, 0, sizeof(tmp));
	if (EVP_Digest(m, off, tmp.name + 2, &dlen, md, NULL) != 1 ||
	    dlen != attest_tpm_digest_size(alg))
		return attest_fail_ossl(ATTEST_E_CRYPTO, "tpm name: digest");
	tmp.name[0] = (uint8_t)(alg >> 8);
	tmp.name[1] = (uint8_t)(alg & 0xff);
	tmp.size = (UINT16)(2 + dlen);
	*name = tmp;
	return ATTEST_OK;
}

static int rsa_to_pkey(const TPMT_PUBLIC *pa, EVP_PKEY **out)
{
	const TPM2B_PUBLIC_KEY_RSA *n = &pa->unique.rsa;
	uint32_t bits = pa->parameters.rsaDetail.keyBits;
	uint32_t e = pa->parameters.rsaDetail.exponent;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	int r = ATTEST_E_INTERNAL;

	if (e == 0)
		e = 65537; /* Part 2: 0 means the default exponent 2^16+1 */
	if (bits != 2048 && bits != 3072 && bits != 4096) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "RSA key size %u not supported", (unsigned)bits);
		goto out;
	}
	if (n->size != bits / 8 || n->size > sizeof(n->buffer) || (n->buffer[0] & 0x80) == 0) {
		r = attest_fail(ATTEST_E_PARSE, "RSA modulus of %u bytes does not match keyBits %u",
				(unsigned)n->size, (unsigned)bits);
		goto out;
	}
	if ((e & 1) == 0 || e < 3) {
		r = attest_fail(ATTEST_E_PARSE, "RSA exponent %u invalid", (unsigned)e);
		goto out;
	}
	if ((bn_n = BN_bin2bn(n->buffer, n->size, NULL)) == NULL ||
	    (bn_e = BN_new()) == NULL || BN_set_word(bn_e, e) != 1 ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "RSA key: allocation");
		goto out;
	}
	if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "RSA key: setup");
		goto out;
	}
	if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		r = attest_fail_ossl(ATTEST_E_PARSE, "RSA key: invalid public key");
		goto out;
	}
	*out = pkey;
	pkey = NULL; /* transferred */
	r = ATTEST_OK;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	return r;
}

static int ecc_to_pkey(const TPMT_PUBLIC *pa, EVP_PKEY **out)
{
	const TPMS_ECC_POINT *pt = &pa->unique.ecc;
	uint8_t oct[1 + 2 * MAX_FIELD_BYTES];
	const char *group = NULL;
	size_t fsz = curve_info(pa->parameters.eccDetail.curveID, &group);
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL, *cctx = NULL;
	EVP_PKEY *pkey = NULL;
	int r = ATTEST_E_INTERNAL;

	if (fsz == 0) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "ECC curve 0x%04x not supported",
				(unsigned)pa->parameters.eccDetail.curveID);
		goto out;
	}
	if (pt->x.size == 0 || pt->x.size > fsz || pt->y.size == 0 || pt->y.size > fsz) {
		r = attest_fail(ATTEST_E_PARSE, "ECC point coordinates of %u/%u bytes for a %zu-byte field",
				(unsigned)pt->x.size, (unsigned)pt->y.size, fsz);
		goto out;
	}
	/* Uncompressed SEC1 point; TPM coordinates may omit leading zeros. */
	memset(oct, 0, sizeof(oct));
	oct[0] = 0x04;
	memcpy(oct + 1 + fsz - pt->x.size, pt->x.buffer, pt->x.size);
	memcpy(oct + 1 + 2 * fsz - pt->y.size, pt->y.buffer, pt->y.size);
	if ((bld = OSSL_PARAM_BLD_new()) == NULL) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "ECC key: allocation");
		goto out;
	}
	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, oct, 1 + 2 * fsz) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "ECC key: setup");
		goto out;
	}
	if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		r = attest_fail_ossl(ATTEST_E_PARSE, "ECC key: point not on curve");
		goto out;
	}
	/* fromdata already rejects points off the curve; the full public
	 * check (range, not infinity) is cheap and states the intent. */
	if ((cctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "ECC key: allocation");
		goto out;
	}
	if (EVP_PKEY_public_check(cctx) != 1) {
		r = attest_fail_ossl(ATTEST_E_PARSE, "ECC key: invalid public point");
		goto out;
	}
	*out = pkey;
	pkey = NULL; /* transferred */
	r = ATTEST_OK;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(cctx);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return r;
}

int attest_tpm_pub_from_pkey(EVP_PKEY *k, const TPM2B_PUBLIC *tmpl, TPM2B_PUBLIC *out)
{
	TPMT_PUBLIC *pa = &out->publicArea;
	BIGNUM *x = NULL, *y = NULL, *n = NULL, *e = NULL;
	char grp[32] = "";
	int r = ATTEST_OK;

	memset(out, 0, sizeof(*out));
	if (EVP_PKEY_is_a(k, "EC")) {
		TPMI_ECC_CURVE curve;
		int fsz;

		if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, grp, sizeof(grp),
						   NULL) != 1) {
			r = attest_fail_ossl(ATTEST_E_PARSE, "EC key without a named curve");
			goto out;
		}
		if (strcmp(grp, "prime256v1") == 0) {
			curve = TPM2_ECC_NIST_P256;
			fsz = 32;
		} else if (strcmp(grp, "secp384r1") == 0) {
			curve = TPM2_ECC_NIST_P384;
			fsz = 48;
		} else {
			r = attest_fail(ATTEST_E_INVALID_ARG, "curve %.31s is not P-256 or P-384", grp);
			goto out;
		}
		if (tmpl != NULL) {
			*out = *tmpl;
			if (pa->type != TPM2_ALG_ECC || pa->parameters.eccDetail.curveID != curve) {
				r = attest_fail(ATTEST_E_INVALID_ARG, "the key is not of the template's "
						"type and curve");
				goto out;
			}
		} else {
			pa->type = TPM2_ALG_ECC;
			pa->nameAlg = TPM2_ALG_SHA256;
			pa->parameters.eccDetail.curveID = curve;
			pa->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
			pa->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
			pa->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
		}
		if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
		    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1 ||
		    BN_bn2binpad(x, pa->unique.ecc.x.buffer, fsz) != fsz ||
		    BN_bn2binpad(y, pa->unique.ecc.y.buffer, fsz) != fsz) {
			r = attest_fail_ossl(ATTEST_E_PARSE, "EC point");
			goto out;
		}
		pa->unique.ecc.x.size = pa->unique.ecc.y.size = (UINT16)fsz;
	} else if (EVP_PKEY_is_a(k, "RSA")) {
		int bits, nb;

		if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
		    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
			r = attest_fail_ossl(ATTEST_E_PARSE, "RSA key");
			goto out;
		}
		bits = BN_num_bits(n);
		nb = BN_num_bytes(n);
		if ((bits != 2048 && bits != 3072 && bits != 4096) ||
		    (size_t)nb > sizeof(pa->unique.rsa.buffer) || BN_num_bits(e) > 32) {
			r = attest_fail(ATTEST_E_INVALID_ARG, "RSA key of %d bits or odd exponent", bits);
			goto out;
		}
		if (tmpl != NULL) {
			*out = *tmpl;
			if (pa->type != TPM2_ALG_RSA || pa->parameters.rsaDetail.keyBits != bits) {
				r = attest_fail(ATTEST_E_INVALID_ARG, "the key is not of the template's "
						"type and size");
				goto out;
			}
		} else {
			pa->type = TPM2_ALG_RSA;
			pa->nameAlg = TPM2_ALG_SHA256;
			pa->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
			pa->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
			pa->parameters.rsaDetail.keyBits = (TPMI_RSA_KEY_BITS)bits;
		}
		pa->parameters.rsaDetail.exponent =
			BN_get_word(e) == 65537 ? 0 : (UINT32)BN_get_word(e);
		if (BN_bn2binpad(n, pa->unique.rsa.buffer, nb) != nb) {
			r = attest_fail_ossl(ATTEST_E_PARSE, "RSA modulus");
			goto out;
		}
		pa->unique.rsa.size = (UINT16)nb;
	} else {
		r = attest_fail(ATTEST_E_INVALID_ARG, "neither an EC nor an RSA key");
	}
out:
	if (r != ATTEST_OK)
		memset(out, 0, sizeof(*out));
	BN_free(x);
	BN_free(y);
	BN_free(n);
	BN_free(e);
	return r;
}

int attest_tpm_pub_to_pkey(const TPM2B_PUBLIC *pub, EVP_PKEY **out)
{
	if (pub == NULL || out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "pub_to_pkey: NULL argument");
	switch (pub->publicArea.type) {
	case TPM2_ALG_RSA:
		return rsa_to_pkey(&pub->publicArea, out);
	case TPM2_ALG_ECC:
		return ecc_to_pkey(&pub->publicArea, out);
	default:
		return attest_fail(ATTEST_E_INVALID_ARG, "public area type 0x%04x not supported",
				   (unsigned)pub->publicArea.type);
	}
}

int attest_pkey_equal(EVP_PKEY *a, EVP_PKEY *b)
{
	if (a == NULL || b == NULL)
		return 0;
	return EVP_PKEY_eq(a, b) == 1;
}

/* ---- signatures ------------------------------------------------------- */

/* DER ECDSA-Sig-Value from a TPM (r, s); *out malloc'd. */
static int ecdsa_to_der(const TPMS_SIGNATURE_ECDSA *e, uint8_t **out, size_t *len)
{
	ECDSA_SIG *es = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	uint8_t *der = NULL, *p;
	int n, r = ATTEST_E_INTERNAL;

	if (e->signatureR.size > sizeof(e->signatureR.buffer) ||
	    e->signatureS.size > sizeof(e->signatureS.buffer)) {
		r = attest_fail(ATTEST_E_PARSE, "ECDSA signature component over its buffer");
		goto out;
	}
	if ((br = BN_bin2bn(e->signatureR.buffer, e->signatureR.size, NULL)) == NULL ||
	    (bs = BN_bin2bn(e->signatureS.buffer, e->signatureS.size, NULL)) == NULL ||
	    (es = ECDSA_SIG_new()) == NULL) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "ECDSA signature: allocation");
		goto out;
	}
	if (ECDSA_SIG_set0(es, br, bs) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "ECDSA_SIG_set0");
		goto out;
	}
	br = bs = NULL; /* transferred */
	n = i2d_ECDSA_SIG(es, NULL);
	if (n <= 0) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "i2d_ECDSA_SIG");
		goto out;
	}
	if ((der = malloc((size_t)n)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "ECDSA signature: allocation");
		goto out;
	}
	p = der;
	if (i2d_ECDSA_SIG(es, &p) != n) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "i2d_ECDSA_SIG");
		goto out;
	}
	*out = der;
	der = NULL; /* transferred */
	*len = (size_t)n;
	r = ATTEST_OK;
out:
	free(der);
	ECDSA_SIG_free(es);
	BN_free(br);
	BN_free(bs);
	return r;
}

int attest_tpm_verify_sig(const TPM2B_PUBLIC *signer, const uint8_t *data, size_t len,
			  const TPMT_SIGNATURE *sig)
{
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY_CTX *pctx = NULL; /* owned by mctx */
	uint8_t *der = NULL;
	const uint8_t *sigp = NULL;
	size_t siglen = 0;
	const EVP_MD *md;
	TPMI_ALG_HASH halg;
	TPMI_ALG_PUBLIC want;
	int pad = 0, r = ATTEST_E_INTERNAL;

	if (signer == NULL || sig == NULL || (data == NULL && len > 0)) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "verify: NULL argument");
		goto out;
	}
	switch (sig->sigAlg) {
	case TPM2_ALG_ECDSA:
		want = TPM2_ALG_ECC;
		halg = sig->signature.ecdsa.hash;
		break;
	case TPM2_ALG_RSASSA:
		want = TPM2_ALG_RSA;
		halg = sig->signature.rsassa.hash;
		pad = RSA_PKCS1_PADDING;
		sigp = sig->signature.rsassa.sig.buffer;
		siglen = sig->signature.rsassa.sig.size;
		break;
	case TPM2_ALG_RSAPSS:
		want = TPM2_ALG_RSA;
		halg = sig->signature.rsapss.hash;
		pad = RSA_PKCS1_PSS_PADDING;
		sigp = sig->signature.rsapss.sig.buffer;
		siglen = sig->signature.rsapss.sig.size;
		break;
	default:
		r = attest_fail(ATTEST_E_EVIDENCE_SIGNATURE, "signature algorithm 0x%04x not supported",
				(unsigned)sig->sigAlg);
		goto out;
	}
	if (signer->publicArea.type != want) {
		r = attest_fail(ATTEST_E_EVIDENCE_SIGNATURE,
				"signature algorithm 0x%04x does not fit key type 0x%04x",
				(unsigned)sig->sigAlg, (unsigned)signer->publicArea.type);
		goto out;
	}
	if ((md = attest_tpm_md(halg)) == NULL) {
		r = attest_fail(ATTEST_E_EVIDENCE_SIGNATURE, "signature hash 0x%04x not allowed",
				(unsigned)halg);
		goto out;
	}
	if (want == TPM2_ALG_ECC) {
		if ((r = ecdsa_to_der(&sig->signature.ecdsa, &der, &siglen)) != ATTEST_OK)
			goto out;
		sigp = der;
	} else if (siglen > sizeof(sig->signature.rsassa.sig.buffer)) {
		r = attest_fail(ATTEST_E_EVIDENCE_SIGNATURE, "RSA signature over its buffer");
		goto out;
	}
	if ((r = attest_tpm_pub_to_pkey(signer, &pkey)) != ATTEST_OK)
		goto out;
	if ((mctx = EVP_MD_CTX_new()) == NULL) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "verify: allocation");
		goto out;
	}
	if (EVP_DigestVerifyInit(mctx, &pctx, md, NULL, pkey) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "EVP_DigestVerifyInit");
		goto out;
	}
	if (pad != 0 && EVP_PKEY_CTX_set_rsa_padding(pctx, pad) <= 0) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "RSA padding");
		goto out;
	}
	/* TPMs have used both "salt = digest length" and "maximum salt";
	 * AUTO recovers the salt length from the signature. */
	if (pad == RSA_PKCS1_PSS_PADDING &&
	    (EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) <= 0)) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "RSA-PSS parameters");
		goto out;
	}
	if (EVP_DigestVerify(mctx, sigp, siglen, data, len) != 1) {
		r = attest_fail_ossl(ATTEST_E_EVIDENCE_SIGNATURE, "signature does not verify");
		goto out;
	}
	r = ATTEST_OK;
out:
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(pkey);
	free(der);
	return r;
}

int attest_tpm_sig_to_der(const TPMT_SIGNATURE *sig, uint8_t **out, size_t *len)
{
	const TPM2B_PUBLIC_KEY_RSA *rs;
	uint8_t *buf;

	if (sig == NULL || out == NULL || len == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "sig_to_der: NULL argument");
	switch (sig->sigAlg) {
	case TPM2_ALG_ECDSA:
		return ecdsa_to_der(&sig->signature.ecdsa, out, len);
	case TPM2_ALG_RSASSA:
		rs = &sig->signature.rsassa.sig;
		break;
	case TPM2_ALG_RSAPSS:
		rs = &sig->signature.rsapss.sig;
		break;
	default:
		return attest_fail(ATTEST_E_INVALID_ARG, "signature algorithm 0x%04x not supported",
				   (unsigned)sig->sigAlg);
	}
	if (rs->size == 0 || rs->size > sizeof(rs->buffer))
		return attest_fail(ATTEST_E_INVALID_ARG, "RSA signature of %u bytes", (unsigned)rs->size);
	if ((buf = malloc(rs->size)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "sig_to_der: allocation");
	memcpy(buf, rs->buffer, rs->size);
	*out = buf;
	*len = rs->size;
	return ATTEST_OK;
}

/* ---- KDFs ------------------------------------------------------------- */

/* KDFa (Part 1 §11.4.10.2): K(i) = HMAC(key, [i]32 || Label || 0x00 ||
 * Context || [L]32), with Context = contextU || contextV. OpenSSL's KBKDF
 * in counter mode computes exactly this: a 32-bit counter, salt as Label,
 * the 0x00 separator (use-separator, default on), info as Context and
 * L = outlen*8 as 32 bits (use-l, default on). The label is passed WITHOUT
 * its NUL because KBKDF adds the separator. A NULL label is treated as
 * empty: the current reference code (CryptKDFa) then still hashes a single
 * 0x00, as KBKDF does. */
int attest_kdfa(TPMI_ALG_HASH hash, const uint8_t *key, size_t keylen, const char *label,
		const uint8_t *ctx_u, size_t ulen, const uint8_t *ctx_v, size_t vlen,
		uint8_t *out, size_t outlen)
{
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	uint8_t *ctxbuf = NULL;
	OSSL_PARAM params[7];
	size_t n = 0, lablen = 0, ctxlen;
	char *mdname = md_name(hash);
	int r = ATTEST_E_INTERNAL;

	if (mdname == NULL) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "KDFa: hash 0x%04x not supported", (unsigned)hash);
		goto out;
	}
	if (key == NULL || keylen == 0 || out == NULL || outlen == 0 ||
	    (ctx_u == NULL && ulen > 0) || (ctx_v == NULL && vlen > 0)) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "KDFa: bad argument");
		goto out;
	}
	if (outlen > KDF_MAX_OUT || ulen > KDF_MAX_CTX || vlen > KDF_MAX_CTX) {
		r = attest_fail(ATTEST_E_TOO_LARGE, "KDFa: input or output over cap");
		goto out;
	}
	if (label != NULL) {
		lablen = strnlen(label, KDF_MAX_LABEL + 1);
		if (lablen > KDF_MAX_LABEL) {
			r = attest_fail(ATTEST_E_TOO_LARGE, "KDFa: label over cap");
			goto out;
		}
	}
	ctxlen = ulen + vlen;
	if (ctxlen > 0) {
		if ((ctxbuf = malloc(ctxlen)) == NULL) {
			r = attest_fail(ATTEST_E_NOMEM, "KDFa: allocation");
			goto out;
		}
		if (ulen > 0)
			memcpy(ctxbuf, ctx_u, ulen);
		if (vlen > 0)
			memcpy(ctxbuf + ulen, ctx_v, vlen);
	}
	params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, name_counter, 0);
	params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, name_hmac, 0);
	params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, mdname, 0);
	/* OSSL_PARAM wants non-const pointers; the KDF only reads them. */
	params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, keylen);
	if (lablen > 0)
		params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
								(void *)label, lablen);
	if (ctxlen > 0)
		params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, ctxbuf, ctxlen);
	params[n] = OSSL_PARAM_construct_end();
	if ((kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_KBKDF, NULL)) == NULL ||
	    (kctx = EVP_KDF_CTX_new(kdf)) == NULL) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "KDFa: KBKDF unavailable");
		goto out;
	}
	if (EVP_KDF_derive(kctx, out, outlen, params) != 1) {
		OPENSSL_cleanse(out, outlen);
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "KDFa: derive");
		goto out;
	}
	r = ATTEST_OK;
out:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	free(ctxbuf);
	return r;
}

/* KDFe (Part 1 §11.4.10.3, SP 800-56A one-step KDF):
 * K(i) = H([i]32 || Z || Use || PartyUInfo || PartyVInfo). OpenSSL's SSKDF
 * with a digest computes H([i]32 || Z || FixedInfo); FixedInfo = use (here
 * with its NUL, as the TPM hashes it) || U || V. */
static int kdfe(TPMI_ALG_HASH hash, const uint8_t *z, size_t zlen,
		const uint8_t *use, size_t uselen, const uint8_t *u, size_t ulen,
		const uint8_t *v, size_t vlen, uint8_t *out, size_t outlen)
{
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	uint8_t info[16 + 2 * MAX_FIELD_BYTES];
	OSSL_PARAM params[4];
	char *mdname = md_name(hash);
	int r = ATTEST_E_INTERNAL;

	if (mdname == NULL || uselen > 16 || ulen > MAX_FIELD_BYTES || vlen > MAX_FIELD_BYTES) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "KDFe: bad argument");
		goto out;
	}
	memcpy(info, use, uselen);
	memcpy(info + uselen, u, ulen);
	memcpy(info + uselen + ulen, v, vlen);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, mdname, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)z, zlen);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info,
						      uselen + ulen + vlen);
	params[3] = OSSL_PARAM_construct_end();
	if ((kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_SSKDF, NULL)) == NULL ||
	    (kctx = EVP_KDF_CTX_new(kdf)) == NULL) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "KDFe: SSKDF unavailable");
		goto out;
	}
	if (EVP_KDF_derive(kctx, out, outlen, params) != 1) {
		OPENSSL_cleanse(out, outlen);
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "KDFe: derive");
		goto out;
	}
	r = ATTEST_OK;
out:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return r;
}

/* ---- MakeCredential --------------------------------------------------- */

static int hmac2(TPMI_ALG_HASH hash, const uint8_t *key, size_t keylen,
		 const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
		 uint8_t *out, size_t outsz, size_t *outlen)
{
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *mctx = NULL;
	OSSL_PARAM params[2];
	int r = ATTEST_E_INTERNAL;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, md_name(hash), 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
	    (mctx = EVP_MAC_CTX_new(mac)) == NULL) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "HMAC unavailable");
		goto out;
	}
	if (EVP_MAC_init(mctx, key, keylen, params) != 1 ||
	    EVP_MAC_update(mctx, a, alen) != 1 || EVP_MAC_update(mctx, b, blen) != 1 ||
	    EVP_MAC_final(mctx, out, outlen, outsz) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "HMAC");
		goto out;
	}
	r = ATTEST_OK;
out:
	EVP_MAC_CTX_free(mctx);
	EVP_MAC_free(mac);
	return r;
}

/* RSA EK (Annex B.10.3): seed random, encrypted with OAEP(nameAlg) and
 * the label "IDENTITY\0". */
static int rsa_seed(EVP_PKEY *ekkey, TPMI_ALG_HASH alg, uint8_t *seed, size_t dlen,
		    TPM2B_ENCRYPTED_SECRET *es)
{
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	const EVP_MD *md = attest_tpm_md(alg);
	size_t outlen = sizeof(es->secret);
	int r = ATTEST_E_INTERNAL;

	if (RAND_bytes(seed, (int)dlen) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "RAND_bytes");
		goto out;
	}
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ekkey, NULL)) == NULL) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "OAEP: allocation");
		goto out;
	}
	/* The label parameter is copied by the provider. */
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL,
						      (void *)label_identity,
						      sizeof(label_identity));
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_PKEY_encrypt_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0 ||
	    EVP_PKEY_CTX_set_params(ctx, params) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "OAEP: setup");
		goto out;
	}
	if (EVP_PKEY_encrypt(ctx, es->secret, &outlen, seed, dlen) != 1 ||
	    outlen > sizeof(es->secret)) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "OAEP: encrypt");
		goto out;
	}
	es->size = (UINT16)outlen;
	r = ATTEST_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	return r;
}

/* ECC EK (Annex C.6.4): ephemeral key on the EK's curve, Z = x of the ECDH
 * point, seed = KDFe(nameAlg, Z, "IDENTITY", ephemeral.x, ek.x); the
 * encrypted secret is the marshalled ephemeral TPMS_ECC_POINT. */
static int ecc_seed(EVP_PKEY *ekkey, const TPMT_PUBLIC *pa, uint8_t *seed, size_t dlen,
		    TPM2B_ENCRYPTED_SECRET *es)
{
	EVP_PKEY_CTX *gctx = NULL, *dctx = NULL;
	EVP_PKEY *eph = NULL;
	BIGNUM *x = NULL, *y = NULL;
	TPMS_ECC_POINT pt;
	uint8_t z[MAX_FIELD_BYTES];
	size_t zlen = sizeof(z), off = 0;
	const char *group = NULL;
	size_t fsz = curve_info(pa->parameters.eccDetail.curveID, &group);
	TSS2_RC rc;
	int r = ATTEST_E_INTERNAL;

	if (fsz == 0 || fsz > MAX_FIELD_BYTES) {
		r = attest_fail(ATTEST_E_EK_TEMPLATE, "EK curve not supported");
		goto out;
	}
	if ((gctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_keygen_init(gctx) != 1 ||
	    EVP_PKEY_CTX_set_group_name(gctx, group) != 1 ||
	    EVP_PKEY_generate(gctx, &eph) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "ephemeral ECC key");
		goto out;
	}
	memset(&pt, 0, sizeof(pt));
	if (EVP_PKEY_get_bn_param(eph, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
	    EVP_PKEY_get_bn_param(eph, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1 ||
	    BN_bn2binpad(x, pt.x.buffer, (int)fsz) != (int)fsz ||
	    BN_bn2binpad(y, pt.y.buffer, (int)fsz) != (int)fsz) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "ephemeral ECC point");
		goto out;
	}
	pt.x.size = (UINT16)fsz;
	pt.y.size = (UINT16)fsz;
	if ((dctx = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL)) == NULL ||
	    EVP_PKEY_derive_init(dctx) != 1 ||
	    EVP_PKEY_derive_set_peer(dctx, ekkey) != 1 ||
	    EVP_PKEY_derive(dctx, z, &zlen) != 1 || zlen != fsz) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "ECDH with the EK");
		goto out;
	}
	r = kdfe(pa->nameAlg, z, zlen, label_identity, sizeof(label_identity),
		 pt.x.buffer, pt.x.size, pa->unique.ecc.x.buffer, pa->unique.ecc.x.size,
		 seed, dlen);
	if (r != ATTEST_OK)
		goto out;
	rc = Tss2_MU_TPMS_ECC_POINT_Marshal(&pt, es->secret, sizeof(es->secret), &off);
	if (rc != TSS2_RC_SUCCESS) {
		r = attest_fail_tss(ATTEST_E_INTERNAL, rc, "marshal ephemeral point");
		goto out;
	}
	es->size = (UINT16)off;
	r = ATTEST_OK;
out:
	OPENSSL_cleanse(z, sizeof(z));
	BN_free(x);
	BN_free(y);
	EVP_PKEY_free(eph);
	EVP_PKEY_CTX_free(dctx);
	EVP_PKEY_CTX_free(gctx);
	return r;
}

static int aes_cfb_encrypt(const uint8_t *key, uint16_t bits, const uint8_t *in, size_t len,
			   uint8_t *out)
{
	static const uint8_t iv[16]; /* Part 1 §24.4: IV is zero */
	EVP_CIPHER_CTX *cctx = NULL;
	const EVP_CIPHER *cipher;
	int n1 = 0, n2 = 0, r = ATTEST_E_INTERNAL;

	switch (bits) {
	case 128:
		cipher = EVP_aes_128_cfb128();
		break;
	case 192:
		cipher = EVP_aes_192_cfb128();
		break;
	case 256:
		cipher = EVP_aes_256_cfb128();
		break;
	default:
		r = attest_fail(ATTEST_E_EK_TEMPLATE, "AES-%u not supported", (unsigned)bits);
		goto out;
	}
	if ((cctx = EVP_CIPHER_CTX_new()) == NULL) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "AES: allocation");
		goto out;
	}
	if (EVP_EncryptInit_ex(cctx, cipher, NULL, key, iv) != 1 ||
	    EVP_EncryptUpdate(cctx, out, &n1, in, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(cctx, out + n1, &n2) != 1 || (size_t)n1 + (size_t)n2 != len) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "AES-CFB encrypt");
		goto out;
	}
	r = ATTEST_OK;
out:
	EVP_CIPHER_CTX_free(cctx);
	return r;
}

int attest_make_credential(const TPM2B_PUBLIC *ek, const TPM2B_NAME *ak_name,
			   const uint8_t *secret, size_t secret_len,
			   TPM2B_ID_OBJECT *blob, TPM2B_ENCRYPTED_SECRET *enc)
{
	const TPMT_PUBLIC *pa;
	const TPMT_SYM_DEF_OBJECT *sym;
	uint8_t seed[MAX_DIGEST_BYTES], symkey[32], hmackey[MAX_DIGEST_BYTES];
	uint8_t plain[sizeof(TPM2B_DIGEST)], encid[sizeof(TPM2B_DIGEST)];
	uint8_t mac[MAX_DIGEST_BYTES];
	TPM2B_DIGEST dig;
	TPM2B_ID_OBJECT id;
	TPM2B_ENCRYPTED_SECRET es;
	EVP_PKEY *ekkey = NULL;
	size_t dlen, plainlen = 0, maclen = 0, off = 0, aklen;
	uint16_t keybits;
	uint32_t attrs;
	TPMI_ALG_HASH akalg;
	struct attest_cur nc;
	TSS2_RC rc;
	int r = ATTEST_E_INTERNAL;

	memset(&dig, 0, sizeof(dig));
	if (ek == NULL || ak_name == NULL || secret == NULL || blob == NULL || enc == NULL) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "make_credential: NULL argument");
		goto out;
	}
	pa = &ek->publicArea;
	dlen = attest_tpm_digest_size(pa->nameAlg);
	if (dlen == 0) {
		r = attest_fail(ATTEST_E_EK_TEMPLATE, "EK nameAlg 0x%04x not supported",
				(unsigned)pa->nameAlg);
		goto out;
	}
	if (secret_len == 0 || secret_len > dlen) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "credential secret of %zu bytes (1..%zu)",
				secret_len, dlen);
		goto out;
	}
	/* The name must be a well-formed digest name: alg || H_alg(...). */
	aklen = ak_name->size;
	if (aklen < 2 || aklen > sizeof(ak_name->name)) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "AK name of %zu bytes", aklen);
		goto out;
	}
	attest_cur_init(&nc, ak_name->name, aklen);
	if (!attest_cur_u16be(&nc, &akalg) || attest_tpm_digest_size(akalg) == 0 ||
	    !attest_cur_skip(&nc, attest_tpm_digest_size(akalg)) || !attest_cur_end(&nc)) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "AK name malformed (alg 0x%04x, %zu bytes)",
				(unsigned)akalg, aklen);
		goto out;
	}
	/* A credential is only activatable with a restricted decryption
	 * (storage) key whose symmetric definition is AES-CFB. */
	attrs = pa->objectAttributes;
	if ((attrs & TPMA_OBJECT_RESTRICTED) == 0 || (attrs & TPMA_OBJECT_DECRYPT) == 0 ||
	    (attrs & TPMA_OBJECT_SIGN_ENCRYPT) != 0) {
		r = attest_fail(ATTEST_E_EK_TEMPLATE, "EK is not a restricted decryption key");
		goto out;
	}
	if (pa->type == TPM2_ALG_RSA) {
		sym = &pa->parameters.rsaDetail.symmetric;
	} else if (pa->type == TPM2_ALG_ECC) {
		sym = &pa->parameters.eccDetail.symmetric;
	} else {
		r = attest_fail(ATTEST_E_EK_TEMPLATE, "EK type 0x%04x not supported",
				(unsigned)pa->type);
		goto out;
	}
	keybits = sym->keyBits.aes;
	if (sym->algorithm != TPM2_ALG_AES || sym->mode.aes != TPM2_ALG_CFB ||
	    (keybits != 128 && keybits != 192 && keybits != 256)) {
		r = attest_fail(ATTEST_E_EK_TEMPLATE, "EK symmetric is not AES-128/192/256-CFB");
		goto out;
	}
	if ((r = attest_tpm_pub_to_pkey(ek, &ekkey)) != ATTEST_OK)
		goto out;

	memset(&es, 0, sizeof(es));
	if (pa->type == TPM2_ALG_RSA)
		r = rsa_seed(ekkey, pa->nameAlg, seed, dlen, &es);
	else
		r = ecc_seed(ekkey, pa, seed, dlen, &es);
	if (r != ATTEST_OK)
		goto out;

	/* symKey = KDFa(nameAlg, seed, "STORAGE", name, NULL, keyBits) */
	r = attest_kdfa(pa->nameAlg, seed, dlen, "STORAGE", ak_name->name, aklen, NULL, 0,
			symkey, keybits / 8);
	if (r != ATTEST_OK)
		goto out;
	dig.size = (UINT16)secret_len;
	memcpy(dig.buffer, secret, secret_len);
	rc = Tss2_MU_TPM2B_DIGEST_Marshal(&dig, plain, sizeof(plain), &plainlen);
	if (rc != TSS2_RC_SUCCESS) {
		r = attest_fail_tss(ATTEST_E_INTERNAL, rc, "marshal credential");
		goto out;
	}
	if ((r = aes_cfb_encrypt(symkey, keybits, plain, plainlen, encid)) != ATTEST_OK)
		goto out;

	/* HMACkey = KDFa(nameAlg, seed, "INTEGRITY", NULL, NULL, digest bits);
	 * outerHMAC = HMAC(HMACkey, encIdentity || name) */
	r = attest_kdfa(pa->nameAlg, seed, dlen, "INTEGRITY", NULL, 0, NULL, 0, hmackey, dlen);
	if (r != ATTEST_OK)
		goto out;
	r = hmac2(pa->nameAlg, hmackey, dlen, encid, plainlen, ak_name->name, aklen,
		  mac, sizeof(mac), &maclen);
	if (r != ATTEST_OK)
		goto out;
	if (maclen != dlen) {
		r = attest_fail(ATTEST_E_INTERNAL, "HMAC length %zu", maclen);
		goto out;
	}

	/* credential = TPM2B_DIGEST(outerHMAC) || encIdentity */
	memset(&id, 0, sizeof(id));
	dig.size = (UINT16)maclen;
	memcpy(dig.buffer, mac, maclen);
	rc = Tss2_MU_TPM2B_DIGEST_Marshal(&dig, id.credential, sizeof(id.credential), &off);
	if (rc != TSS2_RC_SUCCESS || off + plainlen > sizeof(id.credential)) {
		r = attest_fail(ATTEST_E_INTERNAL, "credential blob does not fit");
		goto out;
	}
	memcpy(id.credential + off, encid, plainlen);
	id.size = (UINT16)(off + plainlen);

	*blob = id;
	*enc = es;
	r = ATTEST_OK;
out:
	OPENSSL_cleanse(seed, sizeof(seed));
	OPENSSL_cleanse(symkey, sizeof(symkey));
	OPENSSL_cleanse(hmackey, sizeof(hmackey));
	OPENSSL_cleanse(plain, sizeof(plain));
	OPENSSL_cleanse(&dig, sizeof(dig));
	EVP_PKEY_free(ekkey);
	return r;
}

void attest_pcr_selection(uint32_t pcr_mask, TPML_PCR_SELECTION *sel)
{
	memset(sel, 0, sizeof(*sel));
	sel->count = 1;
	sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel->pcrSelections[0].sizeofSelect = 3;
	for (unsigned i = 0; i < 24; i++)
		if (pcr_mask & (1u << i))
			sel->pcrSelections[0].pcrSelect[i / 8] |= (uint8_t)(1u << (i % 8));
}
