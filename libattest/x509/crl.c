/* crl.c - CRLs signed through the certificates' signing path, and bundles
 * of them checked against the CAs a caller knows; see crl.h. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/err.h"
#include "x509/crl.h"
#include "x509/x509.h"

/* ---- making ------------------------------------------------------------- */

static int set_time(X509_CRL *crl, time_t t, int next)
{
	ASN1_TIME *a = ASN1_TIME_set(NULL, t);
	int ok = a != NULL && (next ? X509_CRL_set1_nextUpdate(crl, a)
				    : X509_CRL_set1_lastUpdate(crl, a));

	ASN1_TIME_free(a);
	return ok ? ATTEST_OK : attest_fail_ossl(ATTEST_E_CRYPTO, "set CRL time");
}

static int add_entries(X509_CRL *crl, const ASN1_INTEGER *const *serials, size_t n, time_t t)
{
	ASN1_TIME *when = ASN1_TIME_set(NULL, t);
	X509_REVOKED *rev = NULL;
	int r = ATTEST_E_CRYPTO;

	if (when == NULL)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "CRL revocation date");
	for (size_t i = 0; i < n; i++) {
		const ASN1_INTEGER *sn = serials[i];

		if (sn == NULL || ASN1_STRING_type(sn) != V_ASN1_INTEGER ||
		    ASN1_STRING_length(sn) < 1 || ASN1_STRING_length(sn) > 20) {
			r = attest_fail(ATTEST_E_INVALID_ARG, "CRL entry %zu: not a positive serial "
					"of 1..20 bytes", i);
			goto out;
		}
		if ((rev = X509_REVOKED_new()) == NULL ||
		    !X509_REVOKED_set_serialNumber(rev, (ASN1_INTEGER *)sn) ||
		    !X509_REVOKED_set_revocationDate(rev, when) || !X509_CRL_add0_revoked(crl, rev)) {
			r = attest_fail_ossl(ATTEST_E_CRYPTO, "CRL entry %zu", i);
			goto out;
		}
		rev = NULL; /* transferred */
	}
	r = ATTEST_OK;
out:
	X509_REVOKED_free(rev);
	ASN1_TIME_free(when);
	return r;
}

static int add_akid_number(X509_CRL *crl, X509 *issuer, uint64_t number)
{
	const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(issuer);
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	int r = ATTEST_E_CRYPTO;

	if (skid == NULL) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "CRL issuer has no subject key identifier");
		goto out;
	}
	if (akid == NULL || num == NULL || (akid->keyid = ASN1_OCTET_STRING_dup(skid)) == NULL ||
	    !ASN1_INTEGER_set_uint64(num, number) ||
	    X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0,
				  X509V3_ADD_DEFAULT) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, X509V3_ADD_DEFAULT) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "CRL extensions");
		goto out;
	}
	r = ATTEST_OK;
out:
	ASN1_INTEGER_free(num);
	AUTHORITY_KEYID_free(akid);
	return r;
}

/* Sign crl with s through attest_sign_tbs_into. OpenSSL 3.0 has no getter
 * for a CRL's inner signature AlgorithmIdentifier (X509_get0_tbs_sigalg
 * exists only for certificates), so X509_CRL_sign with a throwaway P-256
 * key sets both to ecdsa-with-SHA256 the only way it offers; its
 * signature is then replaced by the signer's over the re-encoded TBS. The
 * result is encoded, parsed back and verified with s->pub; the parsed copy
 * (with OpenSSL's caches filled as a relying party's are) goes to *out. */
static int crl_sign(X509_CRL *crl, const struct attest_signer *s, X509_CRL **out)
{
	const ASN1_BIT_STRING *csig = NULL;
	const X509_ALGOR *calg = NULL;
	EVP_PKEY *tmp = NULL;
	unsigned char *tbs = NULL, *p, *der = NULL;
	const unsigned char *q;
	uint8_t digest[32], *sig = NULL;
	size_t sig_len = 0;
	X509_CRL *copy = NULL;
	int tbs_len, n, r;

	if ((r = attest_p256_keygen(&tmp)) != ATTEST_OK)
		goto out;
	if (X509_CRL_sign(crl, tmp, EVP_sha256()) <= 0) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "set CRL signature algorithm");
		goto out;
	}
	if ((tbs_len = i2d_re_X509_CRL_tbs(crl, NULL)) <= 0 ||
	    (tbs = OPENSSL_malloc((size_t)tbs_len)) == NULL) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "encode TBS CRL");
		goto out;
	}
	p = tbs;
	if (i2d_re_X509_CRL_tbs(crl, &p) != tbs_len) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "encode TBS CRL");
		goto out;
	}
	X509_CRL_get0_signature(crl, &csig, &calg);
	/* the CRL's own signature field, replaced before anyone sees it */
	if ((r = attest_sign_tbs_into(tbs, (size_t)tbs_len, s, (ASN1_BIT_STRING *)csig, digest,
				      &sig, &sig_len)) != ATTEST_OK)
		goto out;
	if ((n = i2d_X509_CRL(crl, &der)) <= 0 || n > ATTEST_CRL_DER_MAX) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "encode signed CRL");
		goto out;
	}
	q = der;
	if ((copy = d2i_X509_CRL(NULL, &q, n)) == NULL || q != der + n ||
	    X509_CRL_verify(copy, s->pub) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "signed CRL does not verify with the signer's key");
		goto out;
	}
	*out = copy;
	copy = NULL; /* transferred */
	r = ATTEST_OK;
out:
	OPENSSL_cleanse(digest, sizeof(digest));
	X509_CRL_free(copy);
	OPENSSL_free(der);
	free(sig);
	OPENSSL_free(tbs);
	EVP_PKEY_free(tmp);
	return r;
}

int attest_crl_make(X509 *issuer, const ASN1_INTEGER *const *serials, size_t n,
		    time_t this_update, time_t next_update, uint64_t number,
		    const struct attest_signer *s, X509_CRL **out)
{
	X509_CRL *crl = NULL;
	int r;

	if (out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "make CRL: NULL argument");
	*out = NULL;
	if (issuer == NULL || s == NULL || s->sign == NULL || s->pub == NULL ||
	    (n > 0 && serials == NULL))
		return attest_fail(ATTEST_E_INVALID_ARG, "make CRL: NULL argument");
	if (n > ATTEST_CRL_ENTRIES_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "CRL of %zu entries (at most %d)", n,
				   ATTEST_CRL_ENTRIES_MAX);
	if (next_update <= this_update)
		return attest_fail(ATTEST_E_INVALID_ARG, "CRL nextUpdate is not after thisUpdate");
	if (EVP_PKEY_eq(s->pub, X509_get0_pubkey(issuer)) != 1) {
		ERR_clear_error();
		return attest_fail(ATTEST_E_INVALID_ARG, "CRL signer is not the issuer's key");
	}
	if ((crl = X509_CRL_new()) == NULL || !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer))) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "new CRL");
		goto out;
	}
	if ((r = set_time(crl, this_update, 0)) != ATTEST_OK ||
	    (r = set_time(crl, next_update, 1)) != ATTEST_OK ||
	    (r = add_entries(crl, serials, n, this_update)) != ATTEST_OK ||
	    (r = add_akid_number(crl, issuer, number)) != ATTEST_OK)
		goto out;
	if (!X509_CRL_sort(crl)) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "sort CRL");
		goto out;
	}
	r = crl_sign(crl, s, out);
out:
	X509_CRL_free(crl);
	return r;
}

/* ---- checking ----------------------------------------------------------- */

/* The CRL's authority key identifier's keyId: 1 and *out (the caller's)
 * when there is exactly one AKI extension with a keyId, else 0. */
static int crl_akid(X509_CRL *crl, ASN1_OCTET_STRING **out)
{
	AUTHORITY_KEYID *akid;
	int crit = 0;

	*out = NULL;
	akid = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, &crit, NULL);
	if (akid == NULL) {
		ERR_clear_error();
		return 0;
	}
	*out = akid->keyid;
	akid->keyid = NULL;
	AUTHORITY_KEYID_free(akid);
	return *out != NULL;
}

int attest_crl_is_for(X509_CRL *crl, X509 *issuer)
{
	const ASN1_OCTET_STRING *skid;
	ASN1_OCTET_STRING *keyid = NULL;
	int ok;

	if (crl == NULL || issuer == NULL ||
	    X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0)
		return 0;
	skid = X509_get0_subject_key_id(issuer);
	ok = skid != NULL && crl_akid(crl, &keyid) && ASN1_OCTET_STRING_cmp(keyid, skid) == 0;
	ASN1_OCTET_STRING_free(keyid);
	return ok;
}

int attest_crl_check(X509_CRL *crl, X509 *issuer, time_t now)
{
	const ASN1_TIME *next;
	STACK_OF(X509_REVOKED) *revs;
	EVP_PKEY *key;

	if (crl == NULL || issuer == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "check CRL: NULL argument");
	if (!attest_crl_is_for(crl, issuer))
		return attest_fail(ATTEST_E_CRYPTO, "CRL issuer name or key identifier is not the CA's");
	if ((X509_get_extension_flags(issuer) & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(issuer) & KU_CRL_SIGN))
		return attest_fail(ATTEST_E_CRYPTO, "CRL issuer may not sign CRLs (no cRLSign)");
	if (X509_CRL_get_version(crl) != X509_CRL_VERSION_2)
		return attest_fail(ATTEST_E_PARSE, "CRL is not version 2");
	for (int i = 0; i < X509_CRL_get_ext_count(crl); i++)
		if (X509_EXTENSION_get_critical(X509_CRL_get_ext(crl, i)))
			return attest_fail(ATTEST_E_PARSE, "CRL has a critical extension");
	revs = X509_CRL_get_REVOKED(crl);
	if (revs != NULL && sk_X509_REVOKED_num(revs) > ATTEST_CRL_ENTRIES_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "CRL of %d entries (at most %d)",
				   sk_X509_REVOKED_num(revs), ATTEST_CRL_ENTRIES_MAX);
	if ((key = X509_get0_pubkey(issuer)) == NULL || X509_CRL_verify(crl, key) != 1) {
		ERR_clear_error();
		return attest_fail(ATTEST_E_CRYPTO, "CRL signature does not verify with the CA's key");
	}
	if (X509_CRL_get0_lastUpdate(crl) == NULL ||
	    ASN1_TIME_cmp_time_t(X509_CRL_get0_lastUpdate(crl), now + ATTEST_CRL_SKEW) > 0)
		return attest_fail(ATTEST_E_CERT_EXPIRED, "CRL thisUpdate is in the future");
	if ((next = X509_CRL_get0_nextUpdate(crl)) == NULL)
		return attest_fail(ATTEST_E_PARSE, "CRL has no nextUpdate");
	if (ASN1_TIME_cmp_time_t(next, now) <= 0)
		return attest_fail(ATTEST_E_CERT_EXPIRED, "CRL is past its nextUpdate");
	return ATTEST_OK;
}

/* ---- bundles ------------------------------------------------------------ */

int attest_crl_bundle_parse(const char *pem, size_t len, STACK_OF(X509_CRL) **out)
{
	STACK_OF(X509_CRL) *sk = NULL;
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long dlen = 0;
	int r = ATTEST_E_PARSE;

	if (out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "CRL bundle: NULL argument");
	*out = NULL;
	if (pem == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "CRL bundle: NULL argument");
	if (len > ATTEST_CRL_BUNDLE_BYTES_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "CRL bundle of %zu bytes (at most %d)", len,
				   ATTEST_CRL_BUNDLE_BYTES_MAX);
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (sk = sk_X509_CRL_new_null()) == NULL) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "CRL bundle");
		goto out;
	}
	for (;;) {
		const unsigned char *q;
		X509_CRL *crl;

		ERR_clear_error();
		if (!PEM_read_bio(bio, &name, &header, &data, &dlen)) {
			unsigned long e = ERR_peek_last_error();

			if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
				break; /* no further block */
			r = attest_fail_ossl(ATTEST_E_PARSE, "CRL bundle: PEM block %d",
					     sk_X509_CRL_num(sk));
			goto out;
		}
		if (strcmp(name, PEM_STRING_X509_CRL) != 0 || header[0] != '\0') {
			r = attest_fail(ATTEST_E_PARSE, "CRL bundle: block %d is not a plain X509 CRL",
					sk_X509_CRL_num(sk));
			goto out;
		}
		if (sk_X509_CRL_num(sk) >= ATTEST_CRL_BUNDLE_MAX) {
			r = attest_fail(ATTEST_E_TOO_LARGE, "CRL bundle of more than %d CRLs",
					ATTEST_CRL_BUNDLE_MAX);
			goto out;
		}
		if (dlen <= 0 || dlen > ATTEST_CRL_DER_MAX) {
			r = attest_fail(ATTEST_E_TOO_LARGE, "CRL %d of %ld bytes (at most %d)",
					sk_X509_CRL_num(sk), dlen, ATTEST_CRL_DER_MAX);
			goto out;
		}
		q = data;
		if ((crl = d2i_X509_CRL(NULL, &q, dlen)) == NULL || q != data + dlen) {
			X509_CRL_free(crl);
			r = attest_fail_ossl(ATTEST_E_PARSE, "CRL %d does not parse",
					     sk_X509_CRL_num(sk));
			goto out;
		}
		if (!sk_X509_CRL_push(sk, crl)) {
			X509_CRL_free(crl);
			r = attest_fail_ossl(ATTEST_E_NOMEM, "CRL bundle");
			goto out;
		}
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		name = header = NULL;
		data = NULL;
	}
	ERR_clear_error();
	if (sk_X509_CRL_num(sk) == 0) {
		r = attest_fail(ATTEST_E_PARSE, "CRL bundle holds no CRL");
		goto out;
	}
	*out = sk;
	sk = NULL; /* transferred */
	r = ATTEST_OK;
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	sk_X509_CRL_pop_free(sk, X509_CRL_free);
	BIO_free(bio);
	return r;
}

/* A CA or a CRL by name and key: SHA-256(len(name DER) || name DER ||
 * keyid), so lookups and duplicate checks sort instead of comparing
 * pairwise (a bundle may hold thousands). */
struct idkey {
	uint8_t h[32];
	int idx; /* into cas or crls */
};

static int idkey_make(const X509_NAME *name, const ASN1_OCTET_STRING *keyid, struct idkey *k)
{
	const unsigned char *der = NULL;
	size_t der_len = 0;
	unsigned char lenb[4];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok;

	ok = md != NULL && keyid != NULL && X509_NAME_get0_der((X509_NAME *)name, &der, &der_len) &&
	     der_len <= UINT32_MAX;
	if (ok) {
		lenb[0] = (unsigned char)(der_len >> 24);
		lenb[1] = (unsigned char)(der_len >> 16);
		lenb[2] = (unsigned char)(der_len >> 8);
		lenb[3] = (unsigned char)der_len;
		ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
		     EVP_DigestUpdate(md, lenb, 4) == 1 && EVP_DigestUpdate(md, der, der_len) == 1 &&
		     EVP_DigestUpdate(md, ASN1_STRING_get0_data(keyid),
				      (size_t)ASN1_STRING_length(keyid)) == 1 &&
		     EVP_DigestFinal_ex(md, k->h, NULL) == 1;
	}
	EVP_MD_CTX_free(md);
	return ok;
}

static int idkey_cmp(const void *a, const void *b)
{
	return memcmp(((const struct idkey *)a)->h, ((const struct idkey *)b)->h, 32);
}

static void issuer_text(X509_CRL *crl, char *buf, size_t sz)
{
	if (X509_NAME_oneline(X509_CRL_get_issuer(crl), buf, (int)sz) == NULL)
		snprintf(buf, sz, "?");
}

int attest_crl_bundle_check(STACK_OF(X509_CRL) *crls, STACK_OF(X509) *cas, time_t now)
{
	struct idkey *ca_keys = NULL, *crl_keys = NULL;
	int nca, ncrl, nk = 0, r = ATTEST_E_INTERNAL;
	char who[256];

	if (crls == NULL || cas == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "check CRL bundle: NULL argument");
	nca = sk_X509_num(cas);
	ncrl = sk_X509_CRL_num(crls);
	if (ncrl > ATTEST_CRL_BUNDLE_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "CRL bundle of %d CRLs (at most %d)", ncrl,
				   ATTEST_CRL_BUNDLE_MAX);
	if ((ca_keys = calloc((size_t)nca + 1, sizeof(*ca_keys))) == NULL ||
	    (crl_keys = calloc((size_t)ncrl + 1, sizeof(*crl_keys))) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "check CRL bundle");
		goto out;
	}
	for (int i = 0; i < nca; i++) {
		X509 *c = sk_X509_value(cas, i);
		const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(c);

		if (skid == NULL)
			continue; /* no CRL of ours can name it */
		if (!idkey_make(X509_get_subject_name(c), skid, &ca_keys[nk])) {
			r = attest_fail_ossl(ATTEST_E_CRYPTO, "check CRL bundle: CA %d", i);
			goto out;
		}
		ca_keys[nk++].idx = i;
	}
	qsort(ca_keys, (size_t)nk, sizeof(*ca_keys), idkey_cmp);
	for (int i = 0; i < ncrl; i++) {
		X509_CRL *crl = sk_X509_CRL_value(crls, i);
		ASN1_OCTET_STRING *keyid = NULL;
		struct idkey *hit;
		int ok;

		issuer_text(crl, who, sizeof(who));
		ok = crl_akid(crl, &keyid) && idkey_make(X509_CRL_get_issuer(crl), keyid, &crl_keys[i]);
		ASN1_OCTET_STRING_free(keyid);
		if (!ok) {
			ERR_clear_error();
			r = attest_fail(ATTEST_E_PARSE, "CRL %d (%s) has no authority key identifier", i,
					who);
			goto out;
		}
		crl_keys[i].idx = i;
		hit = bsearch(&crl_keys[i], ca_keys, (size_t)nk, sizeof(*ca_keys), idkey_cmp);
		if (hit == NULL) {
			r = attest_fail(ATTEST_E_CHAIN_UNTRUSTED, "CRL %d (%s): no known CA has its "
					"issuer name and key", i, who);
			goto out;
		}
		/* renewed CAs share name and key: any of them checks the CRL */
		while (hit > ca_keys && idkey_cmp(hit - 1, hit) == 0)
			hit--;
		r = ATTEST_E_INTERNAL;
		for (; hit < ca_keys + nk && idkey_cmp(hit, &crl_keys[i]) == 0; hit++)
			if ((r = attest_crl_check(crl, sk_X509_value(cas, hit->idx), now)) ==
			    ATTEST_OK)
				break;
		if (r != ATTEST_OK) {
			r = attest_fail_wrap(r, "CRL %d (%s)", i, who);
			goto out;
		}
	}
	qsort(crl_keys, (size_t)ncrl, sizeof(*crl_keys), idkey_cmp);
	for (int i = 1; i < ncrl; i++)
		if (idkey_cmp(&crl_keys[i - 1], &crl_keys[i]) == 0) {
			issuer_text(sk_X509_CRL_value(crls, crl_keys[i].idx), who, sizeof(who));
			r = attest_fail(ATTEST_E_DUPLICATE_KEY, "CRL bundle holds two CRLs of one CA "
					"(%s)", who);
			goto out;
		}
	r = ATTEST_OK;
out:
	free(ca_keys);
	free(crl_keys);
	return r;
}

int attest_crl_bundle_pem(STACK_OF(X509_CRL) *crls, char **out, size_t *len)
{
	BIO *bio = NULL;
	BUF_MEM *mem = NULL;
	char *s = NULL;
	int r = ATTEST_E_CRYPTO;

	if (out == NULL || len == NULL || crls == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "CRL bundle PEM: NULL argument");
	*out = NULL;
	*len = 0;
	if ((bio = BIO_new(BIO_s_mem())) == NULL) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "CRL bundle PEM");
		goto out;
	}
	for (int i = 0; i < sk_X509_CRL_num(crls); i++)
		if (!PEM_write_bio_X509_CRL(bio, sk_X509_CRL_value(crls, i))) {
			r = attest_fail_ossl(ATTEST_E_CRYPTO, "CRL bundle PEM: CRL %d", i);
			goto out;
		}
	BIO_get_mem_ptr(bio, &mem);
	if (mem == NULL || (s = malloc(mem->length + 1)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "CRL bundle PEM");
		goto out;
	}
	memcpy(s, mem->data, mem->length);
	s[mem->length] = '\0';
	*len = mem->length;
	*out = s;
	r = ATTEST_OK;
out:
	BIO_free(bio);
	return r;
}
