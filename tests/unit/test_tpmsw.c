/* test_tpmsw.c - unit tests for libattest/tpm/tpmsw.c.
 *
 * The MakeCredential tests decrypt the credential again with a software
 * ActivateCredential written here from the spec (HMAC-based KDFa loop,
 * digest-based KDFe, OAEP/ECDH with the EK private key), independent of
 * the KBKDF/SSKDF code paths used by the library.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <tss2/tss2_mu.h>

#include "tpm/tpmsw.h"

static const uint8_t identity_label[] = "IDENTITY"; /* 9 bytes with NUL */

/* ---- independent reference implementations --------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* KDFa per Part 1 §11.4.10.2, one HMAC per block:
 * HMAC(key, [i]32 || Label || 0x00 || Context || [bits]32) */
static int manual_kdfa(const EVP_MD *md, const uint8_t *key, size_t keylen, const char *label,
		       const uint8_t *ctx, size_t ctxlen, uint8_t *out, size_t outlen)
{
	uint8_t in[512], blk[EVP_MAX_MD_SIZE];
	size_t lablen = label != NULL ? strlen(label) : 0;
	size_t hlen = (size_t)EVP_MD_get_size(md), done = 0, n;
	unsigned int bl;
	uint32_t i = 0;

	if (4 + lablen + 1 + ctxlen + 4 > sizeof(in))
		return -1;
	while (done < outlen) {
		n = 0;
		put32(in, ++i);
		n += 4;
		if (lablen > 0)
			memcpy(in + n, label, lablen);
		n += lablen;
		in[n++] = 0;
		if (ctxlen > 0)
			memcpy(in + n, ctx, ctxlen);
		n += ctxlen;
		put32(in + n, (uint32_t)(outlen * 8));
		n += 4;
		if (HMAC(md, key, (int)keylen, in, n, blk, &bl) == NULL || bl != hlen)
			return -1;
		memcpy(out + done, blk, outlen - done < hlen ? outlen - done : hlen);
		done += outlen - done < hlen ? outlen - done : hlen;
	}
	return 0;
}

/* KDFe per Part 1 §11.4.10.3 (one or more blocks):
 * H([i]32 || Z || "IDENTITY\0" || PartyUInfo || PartyVInfo) */
static int manual_kdfe(const EVP_MD *md, const uint8_t *z, size_t zlen, const uint8_t *u,
		       size_t ulen, const uint8_t *v, size_t vlen, uint8_t *out, size_t outlen)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint8_t cnt[4], blk[EVP_MAX_MD_SIZE];
	size_t hlen = (size_t)EVP_MD_get_size(md), done = 0, take;
	uint32_t i = 0;
	int ok = -1;

	if (c == NULL)
		return -1;
	while (done < outlen) {
		put32(cnt, ++i);
		if (EVP_DigestInit_ex(c, md, NULL) != 1 || EVP_DigestUpdate(c, cnt, 4) != 1 ||
		    EVP_DigestUpdate(c, z, zlen) != 1 ||
		    EVP_DigestUpdate(c, identity_label, sizeof(identity_label)) != 1 ||
		    EVP_DigestUpdate(c, u, ulen) != 1 || EVP_DigestUpdate(c, v, vlen) != 1 ||
		    EVP_DigestFinal_ex(c, blk, NULL) != 1)
			goto out;
		take = outlen - done < hlen ? outlen - done : hlen;
		memcpy(out + done, blk, take);
		done += take;
	}
	ok = 0;
out:
	EVP_MD_CTX_free(c);
	return ok;
}

/* ---- keys and public areas -------------------------------------------- */

static EVP_PKEY *gen_ec(const char *group)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
}

static EVP_PKEY *gen_rsa(size_t bits)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
}

static size_t field_size(TPMI_ECC_CURVE c)
{
	return c == TPM2_ECC_NIST_P256 ? 32 : c == TPM2_ECC_NIST_P384 ? 48 : 0;
}

/* Fill the type-specific parts of a public area from an OpenSSL key.
 * strip_zeros drops leading zero bytes of the ECC coordinates. */
static int fill_unique(EVP_PKEY *k, TPMT_PUBLIC *pa, int strip_zeros)
{
	BIGNUM *a = NULL, *b = NULL;
	char group[32];
	int ok = -1;

	if (EVP_PKEY_is_a(k, "RSA")) {
		int bits = EVP_PKEY_get_bits(k);

		pa->type = TPM2_ALG_RSA;
		pa->parameters.rsaDetail.keyBits = (TPMI_RSA_KEY_BITS)bits;
		pa->parameters.rsaDetail.exponent = 0;
		if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &a) != 1 ||
		    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &b) != 1 ||
		    !BN_is_word(b, 65537) ||
		    BN_bn2binpad(a, pa->unique.rsa.buffer, bits / 8) != bits / 8)
			goto out;
		pa->unique.rsa.size = (UINT16)(bits / 8);
	} else {
		size_t fsz;

		pa->type = TPM2_ALG_ECC;
		if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), NULL) != 1)
			goto out;
		if (strcmp(group, "P-384") == 0 || strcmp(group, "secp384r1") == 0)
			pa->parameters.eccDetail.curveID = TPM2_ECC_NIST_P384;
		else if (strcmp(group, "P-256") == 0 || strcmp(group, "prime256v1") == 0)
			pa->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		else
			goto out;
		fsz = field_size(pa->parameters.eccDetail.curveID);
		if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &a) != 1 ||
		    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &b) != 1)
			goto out;
		if (strip_zeros) {
			pa->unique.ecc.x.size = (UINT16)BN_bn2bin(a, pa->unique.ecc.x.buffer);
			pa->unique.ecc.y.size = (UINT16)BN_bn2bin(b, pa->unique.ecc.y.buffer);
		} else {
			if (BN_bn2binpad(a, pa->unique.ecc.x.buffer, (int)fsz) != (int)fsz ||
			    BN_bn2binpad(b, pa->unique.ecc.y.buffer, (int)fsz) != (int)fsz)
				goto out;
			pa->unique.ecc.x.size = (UINT16)fsz;
			pa->unique.ecc.y.size = (UINT16)fsz;
		}
	}
	ok = 0;
out:
	BN_free(a);
	BN_free(b);
	return ok;
}

/* An AK-shaped signing key public area (restricted, sign). */
static int make_ak_pub(EVP_PKEY *k, TPM2B_PUBLIC *pub)
{
	TPMT_PUBLIC *pa = &pub->publicArea;

	memset(pub, 0, sizeof(*pub));
	pa->nameAlg = TPM2_ALG_SHA256;
	pa->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			       TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
			       TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
	if (fill_unique(k, pa, 0) != 0)
		return -1;
	if (pa->type == TPM2_ALG_ECC) {
		pa->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		pa->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
		pa->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
		pa->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	} else {
		pa->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		pa->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
		pa->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
	}
	return 0;
}

/* An EK-shaped public area (TCG EK template style: restricted decrypt,
 * AES-CFB, adminWithPolicy) from an OpenSSL key. */
static int make_ek_pub(EVP_PKEY *k, TPMI_ALG_HASH name_alg, uint16_t aes_bits,
		       TPM2B_PUBLIC *pub)
{
	TPMT_PUBLIC *pa = &pub->publicArea;
	TPMT_SYM_DEF_OBJECT *sym;
	size_t plen = attest_tpm_digest_size(name_alg);

	memset(pub, 0, sizeof(*pub));
	pa->nameAlg = name_alg;
	pa->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			       TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
			       TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	pa->authPolicy.size = (UINT16)plen;
	memset(pa->authPolicy.buffer, 0xa5, plen);
	if (fill_unique(k, pa, 0) != 0)
		return -1;
	if (pa->type == TPM2_ALG_ECC) {
		sym = &pa->parameters.eccDetail.symmetric;
		pa->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		pa->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	} else {
		sym = &pa->parameters.rsaDetail.symmetric;
		pa->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
	}
	sym->algorithm = TPM2_ALG_AES;
	sym->keyBits.aes = aes_bits;
	sym->mode.aes = TPM2_ALG_CFB;
	return 0;
}

static EVP_PKEY *ec_pub_from_point(const char *group, const TPMS_ECC_POINT *pt, size_t fsz)
{
	uint8_t oct[1 + 2 * 48];
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *k = NULL;

	if (bld == NULL || pt->x.size != fsz || pt->y.size != fsz)
		goto out;
	oct[0] = 4;
	memcpy(oct + 1, pt->x.buffer, fsz);
	memcpy(oct + 1 + fsz, pt->y.buffer, fsz);
	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, oct, 1 + 2 * fsz) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
		k = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return k;
}

/* Software TPM2_ActivateCredential: 0 and the secret on success, -1 on
 * any failure (including an integrity check failure). */
static int sw_activate(EVP_PKEY *ekpriv, const TPM2B_PUBLIC *ek, const TPM2B_NAME *name,
		       const TPM2B_ID_OBJECT *blob, const TPM2B_ENCRYPTED_SECRET *enc,
		       uint8_t *secret, size_t *secret_len)
{
	const TPMT_PUBLIC *pa = &ek->publicArea;
	const EVP_MD *md = attest_tpm_md(pa->nameAlg);
	size_t dlen = attest_tpm_digest_size(pa->nameAlg);
	uint8_t seed[512], hmackey[64], symkey[32], mac[EVP_MAX_MD_SIZE], hin[512];
	uint8_t plain[sizeof(TPM2B_DIGEST)];
	uint8_t iv[16] = { 0 };
	uint16_t bits;
	/* seed holds a whole RSA block: OpenSSL wants room for RSA_size. */
	size_t seedlen = sizeof(seed), off = 0, enclen, off2 = 0;
	unsigned int maclen;
	TPM2B_DIGEST integrity, cred;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *peer = NULL;
	EVP_CIPHER_CTX *cctx = NULL;
	const EVP_CIPHER *cipher;
	int n1 = 0, n2 = 0, ok = -1;

	if (md == NULL)
		goto out;
	if (pa->type == TPM2_ALG_RSA) {
		OSSL_PARAM p[2];

		bits = pa->parameters.rsaDetail.symmetric.keyBits.aes;
		p[0] = OSSL_PARAM_construct_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL,
							 (void *)identity_label,
							 sizeof(identity_label));
		p[1] = OSSL_PARAM_construct_end();
		if ((pctx = EVP_PKEY_CTX_new_from_pkey(NULL, ekpriv, NULL)) == NULL ||
		    EVP_PKEY_decrypt_init(pctx) != 1 ||
		    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_oaep_md(pctx, md) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) <= 0 ||
		    EVP_PKEY_CTX_set_params(pctx, p) != 1 ||
		    EVP_PKEY_decrypt(pctx, seed, &seedlen, enc->secret, enc->size) != 1 ||
		    seedlen != dlen)
			goto out;
	} else {
		TPMS_ECC_POINT pt;
		uint8_t z[48];
		size_t zlen = sizeof(z);
		size_t fsz = field_size(pa->parameters.eccDetail.curveID);
		const char *group = fsz == 48 ? "P-384" : "P-256";

		bits = pa->parameters.eccDetail.symmetric.keyBits.aes;
		memset(&pt, 0, sizeof(pt));
		if (Tss2_MU_TPMS_ECC_POINT_Unmarshal(enc->secret, enc->size, &off, &pt) !=
			    TSS2_RC_SUCCESS || off != enc->size)
			goto out;
		if ((peer = ec_pub_from_point(group, &pt, fsz)) == NULL ||
		    (pctx = EVP_PKEY_CTX_new_from_pkey(NULL, ekpriv, NULL)) == NULL ||
		    EVP_PKEY_derive_init(pctx) != 1 || EVP_PKEY_derive_set_peer(pctx, peer) != 1 ||
		    EVP_PKEY_derive(pctx, z, &zlen) != 1 || zlen != fsz)
			goto out;
		if (manual_kdfe(md, z, zlen, pt.x.buffer, pt.x.size, pa->unique.ecc.x.buffer,
				pa->unique.ecc.x.size, seed, dlen) != 0)
			goto out;
	}

	/* Integrity first: HMAC(KDFa(seed, "INTEGRITY"), encIdentity || name) */
	off = 0;
	memset(&integrity, 0, sizeof(integrity));
	if (Tss2_MU_TPM2B_DIGEST_Unmarshal(blob->credential, blob->size, &off, &integrity) !=
		    TSS2_RC_SUCCESS || integrity.size != dlen)
		goto out;
	enclen = blob->size - off;
	if (enclen > sizeof(plain) || enclen + name->size > sizeof(hin))
		goto out;
	if (manual_kdfa(md, seed, dlen, "INTEGRITY", NULL, 0, hmackey, dlen) != 0)
		goto out;
	memcpy(hin, blob->credential + off, enclen);
	memcpy(hin + enclen, name->name, name->size);
	if (HMAC(md, hmackey, (int)dlen, hin, enclen + name->size, mac, &maclen) == NULL ||
	    maclen != dlen || CRYPTO_memcmp(mac, integrity.buffer, dlen) != 0)
		goto out;

	/* Then decrypt with KDFa(seed, "STORAGE", name) and AES-CFB, IV 0. */
	if (manual_kdfa(md, seed, dlen, "STORAGE", name->name, name->size, symkey, bits / 8) != 0)
		goto out;
	cipher = bits == 128 ? EVP_aes_128_cfb128() : bits == 192 ? EVP_aes_192_cfb128() :
		 EVP_aes_256_cfb128();
	if ((cctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_DecryptInit_ex(cctx, cipher, NULL, symkey, iv) != 1 ||
	    EVP_DecryptUpdate(cctx, plain, &n1, blob->credential + off, (int)enclen) != 1 ||
	    EVP_DecryptFinal_ex(cctx, plain + n1, &n2) != 1 || (size_t)(n1 + n2) != enclen)
		goto out;
	memset(&cred, 0, sizeof(cred));
	if (Tss2_MU_TPM2B_DIGEST_Unmarshal(plain, enclen, &off2, &cred) != TSS2_RC_SUCCESS ||
	    off2 != enclen)
		goto out;
	memcpy(secret, cred.buffer, cred.size);
	*secret_len = cred.size;
	ok = 0;
out:
	EVP_CIPHER_CTX_free(cctx);
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_free(peer);
	return ok;
}

/* ---- tests ------------------------------------------------------------ */

static void test_kdfa_manual(void)
{
	static const TPMI_ALG_HASH algs[] = { TPM2_ALG_SHA256, TPM2_ALG_SHA384, TPM2_ALG_SHA512 };
	static const size_t lens[] = { 16, 32, 48, 64, 100 };
	uint8_t key[40], u[34], v[10], uv[44], got[100], want[100];
	size_t a, l;

	CU_ASSERT_FATAL(RAND_bytes(key, sizeof(key)) == 1);
	CU_ASSERT_FATAL(RAND_bytes(u, sizeof(u)) == 1);
	CU_ASSERT_FATAL(RAND_bytes(v, sizeof(v)) == 1);
	memcpy(uv, u, sizeof(u));
	memcpy(uv + sizeof(u), v, sizeof(v));
	for (a = 0; a < sizeof(algs) / sizeof(algs[0]); a++) {
		const EVP_MD *md = attest_tpm_md(algs[a]);

		CU_ASSERT_FATAL(md != NULL);
		for (l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			size_t n = lens[l];

			/* label + contextU + contextV */
			CU_ASSERT_EQUAL(attest_kdfa(algs[a], key, sizeof(key), "STORAGE", u, sizeof(u),
						    v, sizeof(v), got, n), ATTEST_OK);
			CU_ASSERT_EQUAL(manual_kdfa(md, key, sizeof(key), "STORAGE", uv, sizeof(uv),
						    want, n), 0);
			CU_ASSERT(memcmp(got, want, n) == 0);
			/* label only */
			CU_ASSERT_EQUAL(attest_kdfa(algs[a], key, sizeof(key), "INTEGRITY", NULL, 0,
						    NULL, 0, got, n), ATTEST_OK);
			CU_ASSERT_EQUAL(manual_kdfa(md, key, sizeof(key), "INTEGRITY", NULL, 0,
						    want, n), 0);
			CU_ASSERT(memcmp(got, want, n) == 0);
			/* no label: the 0x00 separator is still hashed */
			CU_ASSERT_EQUAL(attest_kdfa(algs[a], key, sizeof(key), NULL, u, sizeof(u),
						    NULL, 0, got, n), ATTEST_OK);
			CU_ASSERT_EQUAL(manual_kdfa(md, key, sizeof(key), NULL, u, sizeof(u),
						    want, n), 0);
			CU_ASSERT(memcmp(got, want, n) == 0);
		}
	}
	/* One block spelled out byte by byte: HMAC(key, 00000001 || "STORAGE"
	 * || 00 || u || v || 00000080) for a 16-byte (128-bit) key. */
	{
		uint8_t in[4 + 7 + 1 + sizeof(uv) + 4], blk[32];
		unsigned int bl = 0;
		size_t n = 0;

		in[n++] = 0; in[n++] = 0; in[n++] = 0; in[n++] = 1;
		memcpy(in + n, "STORAGE", 7);
		n += 7;
		in[n++] = 0;
		memcpy(in + n, uv, sizeof(uv));
		n += sizeof(uv);
		in[n++] = 0; in[n++] = 0; in[n++] = 0; in[n++] = 0x80;
		CU_ASSERT_FATAL(n == sizeof(in));
		CU_ASSERT_FATAL(HMAC(EVP_sha256(), key, sizeof(key), in, n, blk, &bl) != NULL);
		CU_ASSERT_EQUAL(attest_kdfa(TPM2_ALG_SHA256, key, sizeof(key), "STORAGE", u,
					    sizeof(u), v, sizeof(v), got, 16), ATTEST_OK);
		CU_ASSERT(memcmp(got, blk, 16) == 0);
	}
	/* argument checks */
	CU_ASSERT_EQUAL(attest_kdfa(TPM2_ALG_SHA1, key, sizeof(key), "X", NULL, 0, NULL, 0, got, 16),
			ATTEST_E_INVALID_ARG);
	CU_ASSERT_EQUAL(attest_kdfa(TPM2_ALG_SHA256, NULL, 0, "X", NULL, 0, NULL, 0, got, 16),
			ATTEST_E_INVALID_ARG);
	CU_ASSERT_EQUAL(attest_kdfa(TPM2_ALG_SHA256, key, sizeof(key), "X", NULL, 0, NULL, 0, got, 0),
			ATTEST_E_INVALID_ARG);
}

static void check_name(TPMI_ALG_HASH alg, const EVP_MD *md)
{
	EVP_PKEY *k = gen_ec("P-256");
	TPM2B_PUBLIC pub;
	TPM2B_NAME name;
	uint8_t m[sizeof(TPMT_PUBLIC)], d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;
	size_t off = 0;

	CU_ASSERT_FATAL(k != NULL);
	CU_ASSERT_FATAL(make_ak_pub(k, &pub) == 0);
	pub.publicArea.nameAlg = alg;
	CU_ASSERT_EQUAL_FATAL(attest_tpm_name(&pub, &name), ATTEST_OK);
	CU_ASSERT_EQUAL_FATAL(Tss2_MU_TPMT_PUBLIC_Marshal(&pub.publicArea, m, sizeof(m), &off),
			      TSS2_RC_SUCCESS);
	CU_ASSERT_FATAL(EVP_Digest(m, off, d, &dl, md, NULL) == 1);
	CU_ASSERT_EQUAL(name.size, 2 + dl);
	CU_ASSERT_EQUAL(name.name[0], alg >> 8);
	CU_ASSERT_EQUAL(name.name[1], alg & 0xff);
	CU_ASSERT(memcmp(name.name + 2, d, dl) == 0);
	EVP_PKEY_free(k);
}

static void test_name(void)
{
	TPM2B_PUBLIC pub;
	TPM2B_NAME name;

	check_name(TPM2_ALG_SHA256, EVP_sha256());
	check_name(TPM2_ALG_SHA384, EVP_sha384());
	check_name(TPM2_ALG_SHA512, EVP_sha512());
	memset(&pub, 0, sizeof(pub));
	pub.publicArea.type = TPM2_ALG_ECC;
	pub.publicArea.nameAlg = TPM2_ALG_SHA1;
	CU_ASSERT_EQUAL(attest_tpm_name(&pub, &name), ATTEST_E_INVALID_ARG);
}

static void roundtrip(EVP_PKEY *k, int strip)
{
	TPM2B_PUBLIC pub;
	EVP_PKEY *back = NULL;

	CU_ASSERT_FATAL(k != NULL);
	memset(&pub, 0, sizeof(pub));
	pub.publicArea.nameAlg = TPM2_ALG_SHA256;
	CU_ASSERT_FATAL(fill_unique(k, &pub.publicArea, strip) == 0);
	CU_ASSERT_EQUAL_FATAL(attest_tpm_pub_to_pkey(&pub, &back), ATTEST_OK);
	CU_ASSERT(attest_pkey_equal(k, back) == 1);
	EVP_PKEY_free(back);
}

static void test_pub_to_pkey(void)
{
	EVP_PKEY *p256 = gen_ec("P-256"), *p384 = gen_ec("P-384"), *rsa = gen_rsa(2048);
	EVP_PKEY *other = gen_ec("P-256"), *back = NULL, *k = NULL;
	TPM2B_PUBLIC pub;
	int i;

	roundtrip(p256, 0);
	roundtrip(p384, 0);
	roundtrip(rsa, 0);
	CU_ASSERT(attest_pkey_equal(p256, other) == 0);
	CU_ASSERT(attest_pkey_equal(p256, NULL) == 0);

	/* Coordinates without their leading zero bytes are left-padded. */
	for (i = 0; i < 8192; i++) {
		BIGNUM *x = NULL;
		int short_x;

		k = gen_ec("P-256");
		CU_ASSERT_FATAL(k != NULL);
		CU_ASSERT_FATAL(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1);
		short_x = BN_num_bytes(x) < 32;
		BN_free(x);
		if (short_x)
			break;
		EVP_PKEY_free(k);
		k = NULL;
	}
	CU_ASSERT_FATAL(k != NULL);
	roundtrip(k, 1);
	EVP_PKEY_free(k);

	/* explicit exponent 65537 */
	memset(&pub, 0, sizeof(pub));
	CU_ASSERT_FATAL(fill_unique(rsa, &pub.publicArea, 0) == 0);
	pub.publicArea.parameters.rsaDetail.exponent = 65537;
	CU_ASSERT_EQUAL_FATAL(attest_tpm_pub_to_pkey(&pub, &back), ATTEST_OK);
	CU_ASSERT(attest_pkey_equal(rsa, back) == 1);
	EVP_PKEY_free(back);
	back = NULL;
	/* wrong exponent gives another key */
	pub.publicArea.parameters.rsaDetail.exponent = 3;
	CU_ASSERT_EQUAL_FATAL(attest_tpm_pub_to_pkey(&pub, &back), ATTEST_OK);
	CU_ASSERT(attest_pkey_equal(rsa, back) == 0);
	EVP_PKEY_free(back);
	back = NULL;
	/* modulus shorter than keyBits */
	pub.publicArea.parameters.rsaDetail.exponent = 0;
	pub.publicArea.unique.rsa.size--;
	CU_ASSERT_NOT_EQUAL(attest_tpm_pub_to_pkey(&pub, &back), ATTEST_OK);
	CU_ASSERT(back == NULL);
	/* RSA-1024 refused */
	pub.publicArea.parameters.rsaDetail.keyBits = 1024;
	pub.publicArea.unique.rsa.size = 128;
	CU_ASSERT_EQUAL(attest_tpm_pub_to_pkey(&pub, &back), ATTEST_E_INVALID_ARG);

	/* point off the curve */
	memset(&pub, 0, sizeof(pub));
	CU_ASSERT_FATAL(fill_unique(p256, &pub.publicArea, 0) == 0);
	pub.publicArea.unique.ecc.y.buffer[31] ^= 1;
	CU_ASSERT_EQUAL(attest_tpm_pub_to_pkey(&pub, &back), ATTEST_E_PARSE);
	CU_ASSERT(back == NULL);
	pub.publicArea.unique.ecc.y.buffer[31] ^= 1;
	/* coordinate longer than the field */
	pub.publicArea.unique.ecc.x.size = 33;
	CU_ASSERT_EQUAL(attest_tpm_pub_to_pkey(&pub, &back), ATTEST_E_PARSE);
	pub.publicArea.unique.ecc.x.size = 32;
	/* unsupported curve */
	pub.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P521;
	CU_ASSERT_EQUAL(attest_tpm_pub_to_pkey(&pub, &back), ATTEST_E_INVALID_ARG);
	/* unsupported type */
	pub.publicArea.type = TPM2_ALG_KEYEDHASH;
	CU_ASSERT_EQUAL(attest_tpm_pub_to_pkey(&pub, &back), ATTEST_E_INVALID_ARG);

	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(other);
}

/* Sign `data` with OpenSSL and express the result as a TPMT_SIGNATURE. */
static int sign_tpm(EVP_PKEY *k, const EVP_MD *md, TPMI_ALG_HASH halg, int pss, int saltlen,
		    const uint8_t *data, size_t len, TPMT_SIGNATURE *sig,
		    uint8_t *der, size_t *derlen)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	ECDSA_SIG *es = NULL;
	uint8_t buf[1024];
	size_t n = sizeof(buf);
	const uint8_t *p;
	int ok = -1;

	memset(sig, 0, sizeof(*sig));
	if (c == NULL || EVP_DigestSignInit(c, &pc, md, NULL, k) != 1)
		goto out;
	if (pss && (EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, saltlen) <= 0))
		goto out;
	if (EVP_DigestSign(c, buf, &n, data, len) != 1)
		goto out;
	if (der != NULL) {
		memcpy(der, buf, n);
		*derlen = n;
	}
	if (EVP_PKEY_is_a(k, "EC")) {
		const BIGNUM *r, *s;

		p = buf;
		if ((es = d2i_ECDSA_SIG(NULL, &p, (long)n)) == NULL)
			goto out;
		ECDSA_SIG_get0(es, &r, &s);
		sig->sigAlg = TPM2_ALG_ECDSA;
		sig->signature.ecdsa.hash = halg;
		sig->signature.ecdsa.signatureR.size =
			(UINT16)BN_bn2bin(r, sig->signature.ecdsa.signatureR.buffer);
		sig->signature.ecdsa.signatureS.size =
			(UINT16)BN_bn2bin(s, sig->signature.ecdsa.signatureS.buffer);
	} else {
		TPMS_SIGNATURE_RSA *rs = pss ? &sig->signature.rsapss : &sig->signature.rsassa;

		sig->sigAlg = pss ? TPM2_ALG_RSAPSS : TPM2_ALG_RSASSA;
		rs->hash = halg;
		memcpy(rs->sig.buffer, buf, n);
		rs->sig.size = (UINT16)n;
	}
	ok = 0;
out:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(c);
	return ok;
}

static void test_verify_ecdsa(void)
{
	EVP_PKEY *k = gen_ec("P-256"), *k2 = gen_ec("P-256"), *k384 = gen_ec("P-384");
	TPM2B_PUBLIC pub, pub384;
	TPMT_SIGNATURE sig, sig2;
	uint8_t data[100], der[200], *out = NULL;
	size_t derlen = 0, outlen = 0;

	CU_ASSERT_FATAL(k != NULL && k2 != NULL && k384 != NULL);
	CU_ASSERT_FATAL(RAND_bytes(data, sizeof(data)) == 1);
	CU_ASSERT_FATAL(make_ak_pub(k, &pub) == 0);
	CU_ASSERT_FATAL(make_ak_pub(k384, &pub384) == 0);
	CU_ASSERT_FATAL(sign_tpm(k, EVP_sha256(), TPM2_ALG_SHA256, 0, 0, data, sizeof(data), &sig,
				 der, &derlen) == 0);
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub, data, sizeof(data), &sig), ATTEST_OK);

	/* DER form is the canonical encoding OpenSSL produced */
	CU_ASSERT_EQUAL_FATAL(attest_tpm_sig_to_der(&sig, &out, &outlen), ATTEST_OK);
	CU_ASSERT(outlen == derlen && memcmp(out, der, derlen) == 0);
	free(out);

	/* flipped bit in r, in s, in the data */
	sig2 = sig;
	sig2.signature.ecdsa.signatureR.buffer[5] ^= 0x10;
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub, data, sizeof(data), &sig2),
			ATTEST_E_EVIDENCE_SIGNATURE);
	sig2 = sig;
	sig2.signature.ecdsa.signatureS.buffer[0] ^= 0x01;
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub, data, sizeof(data), &sig2),
			ATTEST_E_EVIDENCE_SIGNATURE);
	data[0] ^= 0x80;
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub, data, sizeof(data), &sig),
			ATTEST_E_EVIDENCE_SIGNATURE);
	data[0] ^= 0x80;
	/* hash named in the signature differs from the one used */
	sig2 = sig;
	sig2.signature.ecdsa.hash = TPM2_ALG_SHA384;
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub, data, sizeof(data), &sig2),
			ATTEST_E_EVIDENCE_SIGNATURE);
	/* SHA-1 not allowed */
	sig2.signature.ecdsa.hash = TPM2_ALG_SHA1;
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub, data, sizeof(data), &sig2),
			ATTEST_E_EVIDENCE_SIGNATURE);
	/* zero r */
	sig2 = sig;
	sig2.signature.ecdsa.signatureR.size = 0;
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub, data, sizeof(data), &sig2),
			ATTEST_E_EVIDENCE_SIGNATURE);
	/* RSA algorithm with an ECC key */
	sig2 = sig;
	sig2.sigAlg = TPM2_ALG_RSASSA;
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub, data, sizeof(data), &sig2),
			ATTEST_E_EVIDENCE_SIGNATURE);
	sig2.sigAlg = TPM2_ALG_HMAC;
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub, data, sizeof(data), &sig2),
			ATTEST_E_EVIDENCE_SIGNATURE);

	/* a signature by another key */
	CU_ASSERT_FATAL(sign_tpm(k2, EVP_sha256(), TPM2_ALG_SHA256, 0, 0, data, sizeof(data), &sig2,
				 NULL, NULL) == 0);
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub, data, sizeof(data), &sig2),
			ATTEST_E_EVIDENCE_SIGNATURE);

	/* P-384 with SHA-384 */
	CU_ASSERT_FATAL(sign_tpm(k384, EVP_sha384(), TPM2_ALG_SHA384, 0, 0, data, sizeof(data), &sig2,
				 NULL, NULL) == 0);
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub384, data, sizeof(data), &sig2), ATTEST_OK);
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub, data, sizeof(data), &sig2),
			ATTEST_E_EVIDENCE_SIGNATURE);

	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k384);
}

static void test_verify_rsa(void)
{
	EVP_PKEY *k = gen_rsa(2048), *k2 = gen_rsa(2048);
	TPM2B_PUBLIC pub;
	TPMT_SIGNATURE sig, sig2;
	uint8_t data[64], *out = NULL;
	size_t outlen = 0;

	CU_ASSERT_FATAL(k != NULL && k2 != NULL);
	CU_ASSERT_FATAL(RAND_bytes(data, sizeof(data)) == 1);
	CU_ASSERT_FATAL(make_ak_pub(k, &pub) == 0);

	/* RSASSA-PKCS1-v1_5 */
	CU_ASSERT_FATAL(sign_tpm(k, EVP_sha256(), TPM2_ALG_SHA256, 0, 0, data, sizeof(data), &sig,
				 NULL, NULL) == 0);
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub, data, sizeof(data), &sig), ATTEST_OK);
	CU_ASSERT_EQUAL_FATAL(attest_tpm_sig_to_der(&sig, &out, &outlen), ATTEST_OK);
	CU_ASSERT(outlen == 256 && memcmp(out, sig.signature.rsassa.sig.buffer, 256) == 0);
	free(out);
	sig2 = sig;
	sig2.signature.rsassa.sig.buffer[100] ^= 4;
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub, data, sizeof(data), &sig2),
			ATTEST_E_EVIDENCE_SIGNATURE);
	sig2 = sig;
	sig2.signature.rsassa.sig.size = 255;
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub, data, sizeof(data), &sig2),
			ATTEST_E_EVIDENCE_SIGNATURE);
	/* PKCS#1 signature presented as PSS */
	sig2 = sig;
	sig2.sigAlg = TPM2_ALG_RSAPSS;
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub, data, sizeof(data), &sig2),
			ATTEST_E_EVIDENCE_SIGNATURE);
	/* ECDSA algorithm with an RSA key */
	sig2.sigAlg = TPM2_ALG_ECDSA;
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub, data, sizeof(data), &sig2),
			ATTEST_E_EVIDENCE_SIGNATURE);

	/* RSA-PSS, salt = digest length and salt = maximum */
	CU_ASSERT_FATAL(sign_tpm(k, EVP_sha384(), TPM2_ALG_SHA384, 1, RSA_PSS_SALTLEN_DIGEST, data,
				 sizeof(data), &sig, NULL, NULL) == 0);
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub, data, sizeof(data), &sig), ATTEST_OK);
	CU_ASSERT_FATAL(sign_tpm(k, EVP_sha256(), TPM2_ALG_SHA256, 1, RSA_PSS_SALTLEN_MAX, data,
				 sizeof(data), &sig, NULL, NULL) == 0);
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub, data, sizeof(data), &sig), ATTEST_OK);
	sig2 = sig;
	sig2.signature.rsapss.sig.buffer[7] ^= 1;
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub, data, sizeof(data), &sig2),
			ATTEST_E_EVIDENCE_SIGNATURE);

	/* by another key */
	CU_ASSERT_FATAL(sign_tpm(k2, EVP_sha256(), TPM2_ALG_SHA256, 0, 0, data, sizeof(data), &sig,
				 NULL, NULL) == 0);
	CU_ASSERT_EQUAL(attest_tpm_verify_sig(&pub, data, sizeof(data), &sig),
			ATTEST_E_EVIDENCE_SIGNATURE);

	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
}

static void test_parse_public(void)
{
	EVP_PKEY *k = gen_ec("P-256");
	TPM2B_PUBLIC pub, back;
	uint8_t buf[sizeof(TPM2B_PUBLIC) + 8], buf2[sizeof(TPM2B_PUBLIC)];
	size_t len = 0, len2 = 0, i;

	CU_ASSERT_FATAL(k != NULL);
	CU_ASSERT_FATAL(make_ak_pub(k, &pub) == 0);
	CU_ASSERT_EQUAL_FATAL(attest_tpm2b_public_marshal(&pub, buf, sizeof(buf), &len), ATTEST_OK);
	CU_ASSERT_EQUAL(attest_tpm2b_public_marshal(&pub, buf2, 10, &len2), ATTEST_E_TOO_LARGE);
	CU_ASSERT_EQUAL_FATAL(attest_tpm2b_public_parse(buf, len, &back), ATTEST_OK);
	CU_ASSERT_EQUAL_FATAL(attest_tpm2b_public_marshal(&back, buf2, sizeof(buf2), &len2),
			      ATTEST_OK);
	CU_ASSERT(len == len2 && memcmp(buf, buf2, len) == 0);

	/* trailing byte */
	buf[len] = 0;
	CU_ASSERT_EQUAL(attest_tpm2b_public_parse(buf, len + 1, &back), ATTEST_E_PARSE);
	/* every truncation */
	for (i = 0; i < len; i++)
		CU_ASSERT_EQUAL(attest_tpm2b_public_parse(buf, i, &back), ATTEST_E_PARSE);
	/* size field claims one byte more, with that byte present */
	buf[1]++;
	CU_ASSERT_EQUAL(attest_tpm2b_public_parse(buf, len + 1, &back), ATTEST_E_PARSE);
	buf[1]--;
	/* over the cap */
	CU_ASSERT_EQUAL(attest_tpm2b_public_parse(buf, sizeof(TPM2B_PUBLIC) + 1, &back),
			ATTEST_E_TOO_LARGE);
	/* unknown type */
	buf[2] = 0x7f;
	CU_ASSERT_EQUAL(attest_tpm2b_public_parse(buf, len, &back), ATTEST_E_PARSE);
	CU_ASSERT_EQUAL(attest_tpm2b_public_parse(NULL, 0, &back), ATTEST_E_INVALID_ARG);
	EVP_PKEY_free(k);
}

static void test_parse_signature(void)
{
	EVP_PKEY *k = gen_ec("P-256");
	TPMT_SIGNATURE sig, back;
	uint8_t data[32] = { 1 }, buf[sizeof(TPMT_SIGNATURE) + 8];
	size_t len = 0, i;

	CU_ASSERT_FATAL(k != NULL);
	CU_ASSERT_FATAL(sign_tpm(k, EVP_sha256(), TPM2_ALG_SHA256, 0, 0, data, sizeof(data), &sig,
				 NULL, NULL) == 0);
	CU_ASSERT_EQUAL_FATAL(Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, buf, sizeof(buf), &len),
			      TSS2_RC_SUCCESS);
	CU_ASSERT_EQUAL_FATAL(attest_tpmt_signature_parse(buf, len, &back), ATTEST_OK);
	CU_ASSERT(back.sigAlg == TPM2_ALG_ECDSA &&
		  back.signature.ecdsa.signatureR.size == sig.signature.ecdsa.signatureR.size &&
		  memcmp(back.signature.ecdsa.signatureS.buffer, sig.signature.ecdsa.signatureS.buffer,
			 sig.signature.ecdsa.signatureS.size) == 0);
	buf[len] = 0xff;
	CU_ASSERT_EQUAL(attest_tpmt_signature_parse(buf, len + 1, &back), ATTEST_E_PARSE);
	for (i = 0; i < len; i++)
		CU_ASSERT_EQUAL(attest_tpmt_signature_parse(buf, i, &back), ATTEST_E_PARSE);
	CU_ASSERT_EQUAL(attest_tpmt_signature_parse(buf, sizeof(TPMT_SIGNATURE) + 1, &back),
			ATTEST_E_TOO_LARGE);
	EVP_PKEY_free(k);
}

static void test_parse_attest(void)
{
	TPMS_ATTEST a, back;
	uint8_t buf[sizeof(TPMS_ATTEST) + 8];
	size_t len = 0, i;

	memset(&a, 0, sizeof(a));
	a.magic = TPM2_GENERATED_VALUE;
	a.type = TPM2_ST_ATTEST_CERTIFY;
	a.qualifiedSigner.size = 34;
	a.qualifiedSigner.name[1] = 0x0b;
	a.extraData.size = 32;
	memset(a.extraData.buffer, 0x11, 32);
	a.clockInfo.clock = 12345;
	a.clockInfo.safe = 1;
	a.firmwareVersion = 0x0102030405060708ULL;
	a.attested.certify.name.size = 34;
	a.attested.certify.name.name[1] = 0x0b;
	a.attested.certify.qualifiedName.size = 34;
	a.attested.certify.qualifiedName.name[1] = 0x0b;
	CU_ASSERT_EQUAL_FATAL(Tss2_MU_TPMS_ATTEST_Marshal(&a, buf, sizeof(buf), &len),
			      TSS2_RC_SUCCESS);
	CU_ASSERT_EQUAL_FATAL(attest_tpms_attest_parse(buf, len, &back), ATTEST_OK);
	CU_ASSERT(back.magic == TPM2_GENERATED_VALUE && back.type == TPM2_ST_ATTEST_CERTIFY &&
		  back.firmwareVersion == a.firmwareVersion &&
		  back.attested.certify.name.size == 34);
	buf[len] = 0;
	CU_ASSERT_EQUAL(attest_tpms_attest_parse(buf, len + 1, &back), ATTEST_E_PARSE);
	for (i = 0; i < len; i++)
		CU_ASSERT_EQUAL(attest_tpms_attest_parse(buf, i, &back), ATTEST_E_PARSE);
	CU_ASSERT_EQUAL(attest_tpms_attest_parse(buf, sizeof(((TPM2B_ATTEST *)0)->attestationData) + 1,
						 &back), ATTEST_E_TOO_LARGE);
}

static void credential_roundtrip(EVP_PKEY *ekpriv, TPMI_ALG_HASH alg, uint16_t aes_bits)
{
	EVP_PKEY *ak = gen_ec("P-256");
	TPM2B_PUBLIC ek, akpub;
	TPM2B_NAME name, name2;
	TPM2B_ID_OBJECT blob, bad;
	TPM2B_ENCRYPTED_SECRET enc, enc2;
	uint8_t secret[64], got[64];
	size_t dlen = attest_tpm_digest_size(alg), gotlen = 0, n;

	CU_ASSERT_FATAL(ekpriv != NULL && ak != NULL);
	CU_ASSERT_FATAL(make_ek_pub(ekpriv, alg, aes_bits, &ek) == 0);
	CU_ASSERT_FATAL(make_ak_pub(ak, &akpub) == 0);
	CU_ASSERT_EQUAL_FATAL(attest_tpm_name(&akpub, &name), ATTEST_OK);
	CU_ASSERT_FATAL(RAND_bytes(secret, sizeof(secret)) == 1);

	/* full-size and short secrets */
	for (n = dlen; n >= 1; n = n > 16 ? 16 : n - 1) {
		memset(&blob, 0, sizeof(blob));
		memset(&enc, 0, sizeof(enc));
		CU_ASSERT_EQUAL_FATAL(attest_make_credential(&ek, &name, secret, n, &blob, &enc),
				      ATTEST_OK);
		CU_ASSERT_EQUAL(blob.size, 2 + dlen + 2 + n);
		if (ek.publicArea.type == TPM2_ALG_RSA) {
			CU_ASSERT_EQUAL(enc.size, ek.publicArea.parameters.rsaDetail.keyBits / 8);
		} else {
			CU_ASSERT_EQUAL(enc.size,
					4 + 2 * field_size(ek.publicArea.parameters.eccDetail.curveID));
		}
		gotlen = 0;
		CU_ASSERT_EQUAL_FATAL(sw_activate(ekpriv, &ek, &name, &blob, &enc, got, &gotlen), 0);
		CU_ASSERT(gotlen == n && memcmp(got, secret, n) == 0);
		if (n == 1)
			break;
	}

	/* integrity: a changed blob, a different name, or another seed fail */
	bad = blob;
	bad.credential[bad.size - 1] ^= 1;
	CU_ASSERT(sw_activate(ekpriv, &ek, &name, &bad, &enc, got, &gotlen) != 0);
	name2 = name;
	name2.name[10] ^= 1;
	CU_ASSERT(sw_activate(ekpriv, &ek, &name2, &blob, &enc, got, &gotlen) != 0);
	CU_ASSERT_EQUAL_FATAL(attest_make_credential(&ek, &name, secret, 1, &bad, &enc2), ATTEST_OK);
	CU_ASSERT(sw_activate(ekpriv, &ek, &name, &blob, &enc2, got, &gotlen) != 0);

	EVP_PKEY_free(ak);
}

static void test_make_credential(void)
{
	EVP_PKEY *rsa = gen_rsa(2048), *p256 = gen_ec("P-256"), *p384 = gen_ec("P-384");

	credential_roundtrip(rsa, TPM2_ALG_SHA256, 128);
	credential_roundtrip(p256, TPM2_ALG_SHA256, 128);
	credential_roundtrip(p384, TPM2_ALG_SHA384, 256);
	/* other combinations the code allows */
	credential_roundtrip(rsa, TPM2_ALG_SHA384, 256);
	credential_roundtrip(p256, TPM2_ALG_SHA512, 192);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
}

static void test_make_credential_rejects(void)
{
	EVP_PKEY *k = gen_ec("P-256");
	TPM2B_PUBLIC ek, ek2;
	TPM2B_NAME name, name2;
	TPM2B_ID_OBJECT blob;
	TPM2B_ENCRYPTED_SECRET enc;
	uint8_t secret[65] = { 0 };

	CU_ASSERT_FATAL(k != NULL);
	CU_ASSERT_FATAL(make_ek_pub(k, TPM2_ALG_SHA256, 128, &ek) == 0);
	CU_ASSERT_EQUAL_FATAL(attest_tpm_name(&ek, &name), ATTEST_OK);

	CU_ASSERT_EQUAL(attest_make_credential(&ek, &name, secret, 0, &blob, &enc),
			ATTEST_E_INVALID_ARG);
	CU_ASSERT_EQUAL(attest_make_credential(&ek, &name, secret, 33, &blob, &enc),
			ATTEST_E_INVALID_ARG);
	CU_ASSERT_EQUAL(attest_make_credential(NULL, &name, secret, 16, &blob, &enc),
			ATTEST_E_INVALID_ARG);
	name2 = name;
	name2.size = 20;
	CU_ASSERT_EQUAL(attest_make_credential(&ek, &name2, secret, 16, &blob, &enc),
			ATTEST_E_INVALID_ARG);

	ek2 = ek;
	ek2.publicArea.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CTR;
	CU_ASSERT_EQUAL(attest_make_credential(&ek2, &name, secret, 16, &blob, &enc),
			ATTEST_E_EK_TEMPLATE);
	ek2 = ek;
	ek2.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	CU_ASSERT_EQUAL(attest_make_credential(&ek2, &name, secret, 16, &blob, &enc),
			ATTEST_E_EK_TEMPLATE);
	ek2 = ek;
	ek2.publicArea.parameters.eccDetail.symmetric.keyBits.aes = 64;
	CU_ASSERT_EQUAL(attest_make_credential(&ek2, &name, secret, 16, &blob, &enc),
			ATTEST_E_EK_TEMPLATE);
	ek2 = ek;
	ek2.publicArea.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
	CU_ASSERT_EQUAL(attest_make_credential(&ek2, &name, secret, 16, &blob, &enc),
			ATTEST_E_EK_TEMPLATE);
	ek2 = ek;
	ek2.publicArea.nameAlg = TPM2_ALG_SHA1;
	CU_ASSERT_EQUAL(attest_make_credential(&ek2, &name, secret, 16, &blob, &enc),
			ATTEST_E_EK_TEMPLATE);
	ek2 = ek;
	ek2.publicArea.unique.ecc.y.buffer[3] ^= 1;
	CU_ASSERT_EQUAL(attest_make_credential(&ek2, &name, secret, 16, &blob, &enc),
			ATTEST_E_PARSE);
	EVP_PKEY_free(k);
}

/* EVP_PKEY -> public area -> EVP_PKEY gives the same key, bare or on a
 * template (whose attributes stay); a key of another curve than the
 * template's, a P-521 key and a 1024-bit RSA key are refused. */
static void test_pub_from_pkey(void)
{
	EVP_PKEY *p256 = EVP_EC_gen("P-256"), *p384 = EVP_EC_gen("P-384"), *p521 = EVP_EC_gen("P-521");
	EVP_PKEY *rsa = EVP_RSA_gen(2048), *weak = EVP_RSA_gen(1024), *back = NULL;
	TPM2B_PUBLIC pub, tmpl;

	CU_ASSERT_FATAL(p256 && p384 && p521 && rsa && weak);
	CU_ASSERT_EQUAL_FATAL(attest_tpm_pub_from_pkey(p256, NULL, &pub), ATTEST_OK);
	CU_ASSERT_EQUAL_FATAL(attest_tpm_pub_to_pkey(&pub, &back), ATTEST_OK);
	CU_ASSERT_EQUAL(EVP_PKEY_eq(p256, back), 1);
	EVP_PKEY_free(back);
	back = NULL;
	CU_ASSERT_EQUAL_FATAL(attest_tpm_pub_from_pkey(rsa, NULL, &pub), ATTEST_OK);
	CU_ASSERT_EQUAL_FATAL(attest_tpm_pub_to_pkey(&pub, &back), ATTEST_OK);
	CU_ASSERT_EQUAL(EVP_PKEY_eq(rsa, back), 1);
	EVP_PKEY_free(back);
	/* on a template: its attributes kept, only unique filled */
	memset(&tmpl, 0, sizeof(tmpl));
	tmpl.publicArea.type = TPM2_ALG_ECC;
	tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
	tmpl.publicArea.objectAttributes = TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM;
	tmpl.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	CU_ASSERT_EQUAL(attest_tpm_pub_from_pkey(p256, &tmpl, &pub), ATTEST_OK);
	CU_ASSERT_EQUAL(pub.publicArea.objectAttributes, tmpl.publicArea.objectAttributes);
	CU_ASSERT_EQUAL(pub.publicArea.unique.ecc.x.size, 32);
	CU_ASSERT_EQUAL(attest_tpm_pub_from_pkey(p384, &tmpl, &pub), ATTEST_E_INVALID_ARG);
	CU_ASSERT_EQUAL(pub.publicArea.type, 0); /* nothing half-filled */
	CU_ASSERT_EQUAL(attest_tpm_pub_from_pkey(p521, NULL, &pub), ATTEST_E_INVALID_ARG);
	CU_ASSERT_EQUAL(attest_tpm_pub_from_pkey(weak, NULL, &pub), ATTEST_E_INVALID_ARG);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(p521);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(weak);
}

int main(void)
{
	CU_pSuite s;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("tpmsw", NULL, NULL);
	if (s == NULL ||
	    CU_add_test(s, "KDFa matches HMAC by hand", test_kdfa_manual) == NULL ||
	    CU_add_test(s, "object name", test_name) == NULL ||
	    CU_add_test(s, "public area <-> EVP_PKEY", test_pub_to_pkey) == NULL ||
	    CU_add_test(s, "EVP_PKEY -> public area, bare or on a template", test_pub_from_pkey) ==
		    NULL ||
	    CU_add_test(s, "verify ECDSA", test_verify_ecdsa) == NULL ||
	    CU_add_test(s, "verify RSASSA/RSAPSS", test_verify_rsa) == NULL ||
	    CU_add_test(s, "parse TPM2B_PUBLIC", test_parse_public) == NULL ||
	    CU_add_test(s, "parse TPMT_SIGNATURE", test_parse_signature) == NULL ||
	    CU_add_test(s, "parse TPMS_ATTEST", test_parse_attest) == NULL ||
	    CU_add_test(s, "MakeCredential + software ActivateCredential",
			test_make_credential) == NULL ||
	    CU_add_test(s, "MakeCredential rejects", test_make_credential_rejects) == NULL) {
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures == 0 ? 0 : 1;
}
