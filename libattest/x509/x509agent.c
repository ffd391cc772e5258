/* x509agent.c - agent CA, session issuer and leaf certificates signed by
 * TPM (or software) keys through one signing path; see x509agent.h. */
#include <limits.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_tpm2_types.h>

#include "core/err.h"
#include "core/num.h"
#include "tpm/tpmsw.h"
#include "x509/x509agent.h"

#define EXT_UTF8_MAX 1024
#define SAN_URI_MAX 2048
#define CN_MAX 64 /* X.520 ub-common-name; OpenSSL refuses longer */

/* ---- signing ------------------------------------------------------------ */

/* Verify what a relying party will see: the DER encoding, parsed back. */
static int self_check(X509 *cert, EVP_PKEY *pub)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	X509 *copy = NULL;
	int n, r = ATTEST_E_CRYPTO;

	if ((n = i2d_X509(cert, &der)) <= 0) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "encode signed certificate");
		goto out;
	}
	p = der;
	if ((copy = d2i_X509(NULL, &p, n)) == NULL || p != der + n) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "signed certificate does not parse back");
		goto out;
	}
	if (X509_verify(copy, pub) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO,
				     "certificate signature does not verify with the signer's key");
		goto out;
	}
	r = ATTEST_OK;
out:
	X509_free(copy);
	OPENSSL_free(der);
	return r;
}

/* The signature just made, checked without re-parsing the certificate:
 * it verifies with pub over the digest of the TBS bytes that were hashed
 * (i2d_re_X509_tbs cached them: they are the bytes shipped), and the
 * signature BIT STRING encodes to exactly those DER bytes with 0 unused
 * bits (the encoder fault the round trip once caught, see BITS_LEFT). */
static int direct_check(const ASN1_BIT_STRING *bits, const uint8_t digest[32],
			const uint8_t *sig, size_t sig_len, EVP_PKEY *pub)
{
	EVP_PKEY_CTX *ctx = NULL;
	unsigned char *enc = NULL;
	int n, r = ATTEST_E_CRYPTO;

	if ((ctx = EVP_PKEY_CTX_new(pub, NULL)) == NULL || EVP_PKEY_verify_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_verify(ctx, sig, sig_len, digest, 32) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO,
				     "certificate signature does not verify with the signer's key");
		goto out;
	}
	/* tag, one length byte (a P-256 signature is at most 72 bytes), the
	 * unused-bits byte 0, the signature */
	if ((n = i2d_ASN1_BIT_STRING(bits, &enc)) <= 0 || (size_t)n != sig_len + 3 ||
	    enc[0] != V_ASN1_BIT_STRING || enc[1] != sig_len + 1 || enc[2] != 0 ||
	    memcmp(enc + 3, sig, sig_len) != 0) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "certificate signature field does not encode "
				     "the signature");
		goto out;
	}
	r = ATTEST_OK;
out:
	ERR_clear_error();
	OPENSSL_free(enc);
	EVP_PKEY_CTX_free(ctx);
	return r;
}

int attest_sign_tbs_into(const unsigned char *tbs, size_t tbs_len,
			 const struct attest_signer *s, ASN1_BIT_STRING *bits, uint8_t digest[32],
			 uint8_t **der_out, size_t *der_len)
{
	uint8_t *der = NULL;
	TPMT_SIGNATURE sig;
	int r;

	*der_out = NULL;
	*der_len = 0;
	if (EVP_Digest(tbs, tbs_len, digest, NULL, EVP_sha256(), NULL) != 1)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "hash TBS");
	memset(&sig, 0, sizeof(sig));
	if ((r = s->sign(s->arg, digest, &sig)) != ATTEST_OK)
		goto out;
	if (sig.sigAlg != TPM2_ALG_ECDSA || sig.signature.ecdsa.hash != TPM2_ALG_SHA256) {
		r = attest_fail(ATTEST_E_CRYPTO, "signer returned algorithm 0x%04x/0x%04x, want ECDSA/SHA-256",
				(unsigned)sig.sigAlg, (unsigned)sig.signature.ecdsa.hash);
		goto out;
	}
	if ((r = attest_tpm_sig_to_der(&sig, &der, der_len)) != ATTEST_OK)
		goto out;
	if (*der_len > INT_MAX || !ASN1_BIT_STRING_set(bits, der, (int)*der_len)) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "install signature");
		goto out;
	}
	/* Whole bytes, 0 unused bits. BITS_LEFT must be set: without it the
	 * encoder treats the value as a named-bit list and drops trailing
	 * zero bits, corrupting about half of all signatures on output. */
	bits->flags &= ~(long)(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	*der_out = der;
	der = NULL; /* transferred */
	r = ATTEST_OK;
out:
	free(der);
	return r;
}

int attest_x509_sign_with(X509 *cert, const struct attest_signer *s)
{
	const ASN1_BIT_STRING *csig = NULL;
	const X509_ALGOR *calg = NULL;
	ASN1_BIT_STRING *bits;
	X509_ALGOR *algs[2];
	unsigned char *tbs = NULL, *p;
	uint8_t digest[32], *der = NULL;
	size_t der_len = 0;
	int tbs_len, r = ATTEST_E_INTERNAL;

	if (cert == NULL || s == NULL || s->sign == NULL || s->pub == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "sign certificate: NULL argument");
	X509_get0_signature(&csig, &calg, cert);
	/* OpenSSL 3.0 offers no setter for a certificate's signature fields
	 * outside X509_sign, which cannot use a TPM key. The getters return
	 * the certificate's own objects; the const only keeps ordinary callers
	 * from editing a signed certificate, which is exactly what we do here
	 * before it is signed. */
	algs[0] = (X509_ALGOR *)X509_get0_tbs_sigalg(cert);
	algs[1] = (X509_ALGOR *)calg;
	bits = (ASN1_BIT_STRING *)csig;
	for (int i = 0; i < 2; i++) {
		if (!X509_ALGOR_set0(algs[i], OBJ_nid2obj(NID_ecdsa_with_SHA256), V_ASN1_UNDEF,
				     NULL)) {
			r = attest_fail_ossl(ATTEST_E_CRYPTO, "set signature algorithm");
			goto out;
		}
	}
	/* Re-encode the TBS now: the bytes hashed are the bytes shipped. */
	if ((tbs_len = i2d_re_X509_tbs(cert, NULL)) <= 0 ||
	    (tbs = OPENSSL_malloc((size_t)tbs_len)) == NULL) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "encode TBS certificate");
		goto out;
	}
	p = tbs;
	if (i2d_re_X509_tbs(cert, &p) != tbs_len) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "encode TBS certificate");
		goto out;
	}
	if ((r = attest_sign_tbs_into(tbs, (size_t)tbs_len, s, bits, digest, &der, &der_len)) !=
	    ATTEST_OK)
		goto out;
	r = s->check_direct ? direct_check(bits, digest, der, der_len, s->pub)
			    : self_check(cert, s->pub);
out:
	OPENSSL_cleanse(digest, sizeof(digest));
	free(der);
	OPENSSL_free(tbs);
	return r;
}

static int pkey_sign(void *arg, const uint8_t digest[32], TPMT_SIGNATURE *sig)
{
	EVP_PKEY *key = arg;
	EVP_PKEY_CTX *ctx = NULL;
	ECDSA_SIG *es = NULL;
	const BIGNUM *br, *bs;
	const unsigned char *p;
	unsigned char der[80]; /* DER ECDSA P-256: at most 72 bytes */
	size_t der_len = sizeof(der);
	int r = ATTEST_E_CRYPTO;

	if ((ctx = EVP_PKEY_CTX_new(key, NULL)) == NULL || EVP_PKEY_sign_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_sign(ctx, der, &der_len, digest, 32) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "ECDSA sign with software key");
		goto out;
	}
	p = der;
	if ((es = d2i_ECDSA_SIG(NULL, &p, (long)der_len)) == NULL || p != der + der_len) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "parse ECDSA signature");
		goto out;
	}
	ECDSA_SIG_get0(es, &br, &bs);
	memset(sig, 0, sizeof(*sig));
	sig->sigAlg = TPM2_ALG_ECDSA;
	sig->signature.ecdsa.hash = TPM2_ALG_SHA256;
	if (BN_bn2binpad(br, sig->signature.ecdsa.signatureR.buffer, 32) != 32 ||
	    BN_bn2binpad(bs, sig->signature.ecdsa.signatureS.buffer, 32) != 32) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "ECDSA signature component over 32 bytes");
		goto out;
	}
	sig->signature.ecdsa.signatureR.size = 32;
	sig->signature.ecdsa.signatureS.size = 32;
	r = ATTEST_OK;
out:
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(ctx);
	return r;
}

static int is_p256(EVP_PKEY *key)
{
	char group[32];

	return key != NULL && EVP_PKEY_is_a(key, "EC") &&
	       EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) == 1 &&
	       strcmp(group, "prime256v1") == 0;
}

int attest_signer_from_pkey(EVP_PKEY *key, struct attest_signer *out)
{
	if (out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "signer: NULL argument");
	memset(out, 0, sizeof(*out));
	if (!is_p256(key))
		return attest_fail(ATTEST_E_INVALID_ARG, "signer key is not ECDSA P-256");
	out->sign = pkey_sign;
	out->arg = key;
	out->pub = key;
	out->check_direct = 1;
	return ATTEST_OK;
}

/* ---- reading our extensions and names ------------------------------------ */

/* Our extension OIDs as objects, made once: parsing the dotted text on
 * every lookup was a tenth of a decision's own work. */
static const char *const known_oids[] = {
	ATTEST_OID_HOST_ID,  ATTEST_OID_AGENT_ID,  ATTEST_OID_AGENT_UUID, ATTEST_OID_MEASUREMENT,
	ATTEST_OID_POLICY,   ATTEST_OID_CREATION,  ATTEST_OID_CREATION_SIG, ATTEST_OID_TASK_ID,
	ATTEST_OID_SCOPES,   ATTEST_OID_INTENT,    ATTEST_OID_DELEGATE_DEPTH,
};
#define N_KNOWN_OIDS (sizeof(known_oids) / sizeof(known_oids[0]))
static ASN1_OBJECT *known_objs[N_KNOWN_OIDS];
static pthread_once_t known_once = PTHREAD_ONCE_INIT;

static void known_init(void)
{
	for (size_t i = 0; i < N_KNOWN_OIDS; i++)
		known_objs[i] = OBJ_txt2obj(known_oids[i], 1); /* NULL: parsed per call */
}

/* The object for oid: a shared one for ours (*owned 0), else a new one. */
static ASN1_OBJECT *oid_object(const char *oid, int *owned)
{
	*owned = 0;
	if (pthread_once(&known_once, known_init) == 0)
		for (size_t i = 0; i < N_KNOWN_OIDS; i++)
			if (known_objs[i] != NULL && strcmp(known_oids[i], oid) == 0)
				return known_objs[i];
	*owned = 1;
	return OBJ_txt2obj(oid, 1);
}

static int find_ext(X509 *cert, const char *oid, X509_EXTENSION **out)
{
	int owned = 0;
	ASN1_OBJECT *obj = oid_object(oid, &owned);
	int idx, r;

	*out = NULL;
	if (obj == NULL)
		return attest_fail_ossl(ATTEST_E_INVALID_ARG, "OID %s", oid);
	if ((idx = X509_get_ext_by_OBJ(cert, obj, -1)) < 0) {
		r = attest_fail(ATTEST_E_NOT_FOUND, "no extension %s", oid);
	} else if (X509_get_ext_by_OBJ(cert, obj, idx) >= 0) {
		r = attest_fail(ATTEST_E_PARSE, "extension %s appears twice", oid);
	} else {
		*out = X509_get_ext(cert, idx);
		r = ATTEST_OK;
	}
	if (owned)
		ASN1_OBJECT_free(obj);
	return r;
}

/* One extension whose value is exactly one DER UTF8String (octet == 0) or
 * OCTET STRING (octet == 1) of at most cap bytes; with text, no NUL and the
 * copy is NUL-terminated. *out malloc'd, *len its length. */
static int ext_bytes(X509 *cert, const char *oid, int octet, int cap, int text, uint8_t **out,
		     size_t *outlen)
{
	X509_EXTENSION *ext;
	ASN1_OCTET_STRING *oct;
	ASN1_STRING *str = NULL;
	const unsigned char *p, *end;
	uint8_t *s;
	int len, r;

	if (out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "extension: NULL argument");
	*out = NULL;
	if (cert == NULL || oid == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "extension: NULL argument");
	if ((r = find_ext(cert, oid, &ext)) != ATTEST_OK)
		return r;
	oct = X509_EXTENSION_get_data(ext);
	p = ASN1_STRING_get0_data(oct);
	end = p + ASN1_STRING_length(oct);
	str = octet ? d2i_ASN1_OCTET_STRING(NULL, &p, end - p) : d2i_ASN1_UTF8STRING(NULL, &p, end - p);
	if (str == NULL || p != end) {
		ERR_clear_error();
		r = attest_fail(ATTEST_E_PARSE, "extension %s is not exactly one %s", oid,
				octet ? "OCTET STRING" : "UTF8String");
		goto out;
	}
	len = ASN1_STRING_length(str);
	if (len < 0 || len > cap ||
	    (text && memchr(ASN1_STRING_get0_data(str), '\0', (size_t)len) != NULL)) {
		r = attest_fail(ATTEST_E_PARSE, "extension %s: %d bytes or a NUL byte", oid, len);
		goto out;
	}
	if ((s = malloc((size_t)len + 1)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "extension %s", oid);
		goto out;
	}
	memcpy(s, ASN1_STRING_get0_data(str), (size_t)len);
	s[len] = '\0';
	*out = s;
	if (outlen != NULL)
		*outlen = (size_t)len;
	r = ATTEST_OK;
out:
	ASN1_STRING_free(str);
	return r;
}

static int ext_string(X509 *cert, const char *oid, int octet, int cap, char **out)
{
	return ext_bytes(cert, oid, octet, cap, 1, (uint8_t **)out, NULL);
}

int attest_x509_ext_octets(X509 *cert, const char *oid, size_t cap, uint8_t **out, size_t *len)
{
	return ext_bytes(cert, oid, 1, cap > INT32_MAX ? INT32_MAX : (int)cap, 0, out, len);
}

int attest_scopes_has(const char *scopes, const char *s)
{
	size_t n = strlen(s);

	for (const char *p = scopes; p != NULL && *p != '\0';) {
		const char *e = strchr(p, ' ');
		size_t len = e != NULL ? (size_t)(e - p) : strlen(p);

		if (len == n && memcmp(p, s, n) == 0)
			return 1;
		p = e != NULL ? e + 1 : NULL;
	}
	return 0;
}

int attest_x509_ext_utf8(X509 *cert, const char *oid, char **out)
{
	return ext_string(cert, oid, 0, EXT_UTF8_MAX, out);
}

int attest_x509_ext_intent(X509 *cert, char **out)
{
	return ext_string(cert, ATTEST_OID_INTENT, 1, ATTEST_INTENT_MAX, out);
}

int attest_x509_delegate_depth(X509 *cert, int *out)
{
	char *s = NULL;
	uint64_t v;
	int r;

	*out = 0;
	if ((r = ext_string(cert, ATTEST_OID_DELEGATE_DEPTH, 0, 1, &s)) != ATTEST_OK)
		return r;
	if (attest_parse_u64(s, 0, 3, &v) != ATTEST_OK)
		r = attest_fail(ATTEST_E_PARSE, "delegate depth \"%s\" is not 0..3", s);
	else
		*out = (int)v;
	free(s);
	return r;
}

/* The one URI of cert's subjectAltName, beside at most max_dns DNS names
 * (each one attest_dns_name_ok accepts) and nothing else. */
static int san_uri(X509 *cert, int max_dns, char **out)
{
	GENERAL_NAMES *gens = NULL;
	const GENERAL_NAME *gen;
	const ASN1_IA5STRING *uri = NULL;
	int crit = 0, n, len, ndns = 0, r;
	char *s;

	if (out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "SAN: NULL argument");
	*out = NULL;
	if (cert == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "SAN: NULL argument");
	/* crit reports -1 absent, -2 present more than once. */
	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
	if (gens == NULL) {
		ERR_clear_error();
		if (crit == -1)
			return attest_fail(ATTEST_E_NOT_FOUND, "no subjectAltName");
		return attest_fail(ATTEST_E_PARSE, crit == -2 ? "subjectAltName appears twice"
							      : "subjectAltName does not parse");
	}
	if ((n = sk_GENERAL_NAME_num(gens)) < 1 || n > 1 + max_dns) {
		r = max_dns == 0
			    ? attest_fail(ATTEST_E_PARSE,
					  "subjectAltName holds %d names, want exactly one", n)
			    : attest_fail(ATTEST_E_PARSE,
					  "subjectAltName holds %d names, want one URI and at most %d "
					  "DNS names", n, max_dns);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		gen = sk_GENERAL_NAME_value(gens, i);
		if (gen->type == GEN_URI) {
			if (uri != NULL) {
				r = attest_fail(ATTEST_E_PARSE, "subjectAltName holds more than one URI");
				goto out;
			}
			uri = gen->d.uniformResourceIdentifier;
		} else if (gen->type == GEN_DNS && ndns < max_dns) {
			const ASN1_IA5STRING *d = gen->d.dNSName;
			char name[ATTEST_DNS_NAME_MAX + 1];
			const char *why = "";
			int dl = ASN1_STRING_length(d);

			ndns++;
			if (dl <= 0 || dl > ATTEST_DNS_NAME_MAX ||
			    memchr(ASN1_STRING_get0_data(d), '\0', (size_t)dl) != NULL) {
				r = attest_fail(ATTEST_E_PARSE, "subjectAltName DNS name: %d bytes or a NUL byte", dl);
				goto out;
			}
			memcpy(name, ASN1_STRING_get0_data(d), (size_t)dl);
			name[dl] = '\0';
			if (!attest_dns_name_ok(name, &why)) {
				r = attest_fail(ATTEST_E_PARSE, "subjectAltName DNS name %s %s", name, why);
				goto out;
			}
		} else {
			r = max_dns == 0 ? attest_fail(ATTEST_E_PARSE, "subjectAltName is not a URI (type %d)",
						       gen->type)
					 : attest_fail(ATTEST_E_PARSE,
						       "subjectAltName holds a name of type %d: only one URI "
						       "and DNS names", gen->type);
			goto out;
		}
	}
	if (uri == NULL) {
		r = attest_fail(ATTEST_E_PARSE, "subjectAltName holds no URI");
		goto out;
	}
	len = ASN1_STRING_length(uri);
	if (len <= 0 || len > SAN_URI_MAX ||
	    memchr(ASN1_STRING_get0_data(uri), '\0', (size_t)len) != NULL) {
		r = attest_fail(ATTEST_E_PARSE, "subjectAltName URI: %d bytes or a NUL byte", len);
		goto out;
	}
	if ((s = malloc((size_t)len + 1)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "subjectAltName");
		goto out;
	}
	memcpy(s, ASN1_STRING_get0_data(uri), (size_t)len);
	s[len] = '\0';
	*out = s;
	r = ATTEST_OK;
out:
	GENERAL_NAMES_free(gens);
	return r;
}

int attest_x509_one_san_uri(X509 *cert, char **out)
{
	return san_uri(cert, ATTEST_LEAF_DNS_MAX, out);
}

static const char spiffe_scheme[] = "spiffe://";
#define SPIFFE_SCHEME_LEN (sizeof(spiffe_scheme) - 1)

int attest_x509_ca_trust_domain(X509 *cert, char td[256])
{
	char *uri = NULL;
	int r;

	/* a signing certificate carries its trust domain and nothing else */
	if ((r = san_uri(cert, 0, &uri)) != ATTEST_OK)
		return r;
	if (strncmp(uri, spiffe_scheme, SPIFFE_SCHEME_LEN) != 0 ||
	    !attest_valid_trust_domain(uri + SPIFFE_SCHEME_LEN)) {
		r = attest_fail(ATTEST_E_PARSE, "signing certificate's SAN %.300s is not spiffe://<td>",
				uri);
	} else {
		snprintf(td, 256, "%s", uri + SPIFFE_SCHEME_LEN);
		r = ATTEST_OK;
	}
	free(uri);
	return r;
}

/* Copy the segment [p, end) into buf (size n) if it fits and is non-empty. */
static int segment(const char *p, const char *end, char *buf, size_t n)
{
	size_t len = (size_t)(end - p);

	if (len == 0 || len >= n)
		return 0;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return 1;
}

int attest_agent_id_parse(const char *id, struct attest_agent_id *out)
{
	static const char host_seg[] = "/host/", agent_seg[] = "/agent/";
	const char *p, *slash;

	if (id == NULL || out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "agent ID: NULL argument");
	memset(out, 0, sizeof(*out));
	if (strnlen(id, ATTEST_AGENT_ID_MAX + 1) > ATTEST_AGENT_ID_MAX)
		return attest_fail(ATTEST_E_PARSE, "agent ID longer than %d bytes", ATTEST_AGENT_ID_MAX);
	if (strncmp(id, spiffe_scheme, SPIFFE_SCHEME_LEN) != 0)
		return attest_fail(ATTEST_E_PARSE, "agent ID %s is not a spiffe:// URI", id);
	p = id + SPIFFE_SCHEME_LEN;
	if ((slash = strchr(p, '/')) == NULL || !segment(p, slash, out->td, sizeof(out->td)) ||
	    !attest_valid_trust_domain(out->td))
		return attest_fail(ATTEST_E_PARSE, "agent ID %s: bad trust domain", id);
	p = slash;
	if (strncmp(p, host_seg, sizeof(host_seg) - 1) != 0)
		return attest_fail(ATTEST_E_PARSE, "agent ID %s: path does not start with /host/", id);
	p += sizeof(host_seg) - 1;
	if ((slash = strchr(p, '/')) == NULL || !segment(p, slash, out->host, sizeof(out->host)) ||
	    !attest_valid_hostname(out->host))
		return attest_fail(ATTEST_E_PARSE, "agent ID %s: bad host name", id);
	p = slash;
	if (strncmp(p, agent_seg, sizeof(agent_seg) - 1) != 0)
		return attest_fail(ATTEST_E_PARSE, "agent ID %s: no /agent/ after the host", id);
	p += sizeof(agent_seg) - 1;
	/* attest_valid_hostname admits only [a-z0-9.-]: no further path,
	 * query, fragment, port or percent-encoding can follow. */
	if (!segment(p, p + strlen(p), out->name, sizeof(out->name)) ||
	    !attest_valid_hostname(out->name))
		return attest_fail(ATTEST_E_PARSE, "agent ID %s: bad agent name", id);
	return ATTEST_OK;
}

/* ---- building -------------------------------------------------------------- */

/* notBefore backdated a minute for clock skew when the TTL is long enough
 * to afford it, the whole window within ttl and within the issuer's
 * (SPIFFE X509-SVID; DESIGN.md). Now outside the issuer's window is
 * ATTEST_E_CERT_EXPIRED, never a certificate: an issuer not valid yet
 * means our clock is behind (a certificate made then would be expired
 * already and start before its issuer); one past its notAfter means the
 * issuer expired or the clock is ahead. */
static int set_validity(X509 *c, X509 *issuer, long ttl)
{
	long skew = ttl > 600 ? 60 : 0;

	if (X509_cmp_current_time(X509_get0_notAfter(issuer)) <= 0)
		return attest_fail(ATTEST_E_CERT_EXPIRED,
				   "issuer certificate has expired (or the clock is ahead)");
	if (X509_cmp_current_time(X509_get0_notBefore(issuer)) > 0)
		return attest_fail(ATTEST_E_CERT_EXPIRED,
				   "issuer certificate is not valid yet: the clock is behind it");
	if (X509_gmtime_adj(X509_getm_notBefore(c), -skew) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(c), ttl - skew) == NULL)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "certificate validity");
	/* the backdating never reaches before the issuer */
	if (ASN1_TIME_compare(X509_get0_notBefore(c), X509_get0_notBefore(issuer)) < 0 &&
	    !X509_set1_notBefore(c, X509_get0_notBefore(issuer)))
		return attest_fail_ossl(ATTEST_E_CRYPTO, "clamp notBefore");
	if (ASN1_TIME_compare(X509_get0_notAfter(issuer), X509_get0_notAfter(c)) < 0 &&
	    !X509_set1_notAfter(c, X509_get0_notAfter(issuer)))
		return attest_fail_ossl(ATTEST_E_CRYPTO, "clamp notAfter");
	return ATTEST_OK;
}

/* Version, validity, key, issuer, serial and subject O=<td>, CN=<cn>. */
/* c's SubjectPublicKeyInfo from an EC key's uncompressed point, as the
 * encoder would write it (id-ecPublicKey, the named curve, the point):
 * X509_set_pubkey on an OpenSSL 3 provider key encodes the key with an
 * OSSL_ENCODER and parses the result back with an OSSL_DECODER, half of a
 * session-mode issuance's CPU (issue 17). Other keys take X509_set_pubkey.
 * The certificate then caches no parsed key (see make_leaf's contract). */
static int set_spki(X509 *c, EVP_PKEY *k)
{
	unsigned char pt[1 + 2 * 66]; /* uncompressed P-521 at most */
	unsigned char *enc = NULL;
	char group[32];
	size_t len = 0;
	int nid;

	if (!EVP_PKEY_is_a(k, "EC") ||
	    EVP_PKEY_get_group_name(k, group, sizeof(group), NULL) != 1 ||
	    (nid = OBJ_txt2nid(group)) == NID_undef ||
	    EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &len) != 1 ||
	    len < 3 || pt[0] != POINT_CONVERSION_UNCOMPRESSED) {
		ERR_clear_error();
		return X509_set_pubkey(c, k) == 1 ? ATTEST_OK
						  : attest_fail_ossl(ATTEST_E_CRYPTO, "set public key");
	}
	if ((enc = OPENSSL_memdup(pt, len)) == NULL ||
	    !X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(c), OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
				    V_ASN1_OBJECT, OBJ_nid2obj(nid), enc, (int)len)) {
		OPENSSL_free(enc);
		return attest_fail_ossl(ATTEST_E_CRYPTO, "set public key");
	}
	return ATTEST_OK;
}

static int cert_begin(X509 *issuer, EVP_PKEY *subject_key, int raw_spki, long ttl,
		      const char *td, const char *cn, X509 **out)
{
	X509 *c = NULL;
	int r;

	*out = NULL;
	if ((c = X509_new()) == NULL || !X509_set_version(c, X509_VERSION_3) ||
	    (raw_spki ? set_spki(c, subject_key) != ATTEST_OK : !X509_set_pubkey(c, subject_key)) ||
	    !X509_set_issuer_name(c, X509_get_subject_name(issuer))) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "new certificate");
		goto out;
	}
	if ((r = set_validity(c, issuer, ttl)) != ATTEST_OK ||
	    (r = attest_x509_random_serial(c)) != ATTEST_OK ||
	    (r = attest_x509_set_name(X509_get_subject_name(c), td, cn)) != ATTEST_OK)
		goto out;
	*out = c;
	c = NULL; /* transferred */
out:
	X509_free(c);
	return r;
}

/* Signing certificates below the host CA: basicConstraints `bc`,
 * keyCertSign and cRLSign (each signs its own CRL for relying parties that
 * check every level, docs/relying-parties.md), SKI/AKI, SAN spiffe://<td>,
 * name constraint URI:<td> when the issuer has one (the fleet's option,
 * attest_x509_ca_constrains). */
static int add_ca_exts(X509 *c, X509 *issuer, const char *bc, const char *td)
{
	char uri[300], nc[300];
	int r;

	snprintf(uri, sizeof(uri), "URI:spiffe://%s", td);
	snprintf(nc, sizeof(nc), "critical,permitted;URI:%s", td);
	if ((r = attest_x509_add_ext(c, issuer, NID_basic_constraints, bc)) != ATTEST_OK ||
	    (r = attest_x509_add_ext(c, issuer, NID_key_usage, "critical,keyCertSign,cRLSign")) !=
		    ATTEST_OK ||
	    (r = attest_x509_add_ext(c, issuer, NID_subject_key_identifier, "hash")) != ATTEST_OK ||
	    (r = attest_x509_add_ext(c, issuer, NID_authority_key_identifier, "keyid:always")) !=
		    ATTEST_OK ||
	    (r = attest_x509_add_ext(c, issuer, NID_subject_alt_name, uri)) != ATTEST_OK ||
	    (attest_x509_ca_constrains(issuer) &&
	     (r = attest_x509_add_ext(c, issuer, NID_name_constraints, nc)) != ATTEST_OK))
		return r;
	return ATTEST_OK;
}

static int signer_is_issuer(const struct attest_signer *s, X509 *issuer)
{
	if (s == NULL || s->sign == NULL || s->pub == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "signer: NULL argument");
	if (EVP_PKEY_eq(s->pub, X509_get0_pubkey(issuer)) != 1) {
		ERR_clear_error();
		return attest_fail(ATTEST_E_INVALID_ARG, "signer's key is not the issuer's key");
	}
	return ATTEST_OK;
}

/* An issuer below the host CA: pathlen `pathlen` (or 0/1 when -1), its
 * agent ID, split, and its trust domain agreeing with that ID. *id_str
 * malloc'd. */
static int agent_issuer(X509 *issuer, long pathlen, char **id_str, struct attest_agent_id *id)
{
	char td[256];
	long pl = X509_get_pathlen(issuer);
	int r;

	*id_str = NULL;
	if (X509_check_ca(issuer) == 0 || (pathlen >= 0 ? pl != pathlen : (pl != 0 && pl != 1)))
		return attest_fail(ATTEST_E_INVALID_ARG,
				   "issuer is not an agent CA or session issuer (pathlen %ld)", pl);
	if ((r = attest_x509_ext_utf8(issuer, ATTEST_OID_AGENT_ID, id_str)) != ATTEST_OK ||
	    (r = attest_agent_id_parse(*id_str, id)) != ATTEST_OK ||
	    (r = attest_x509_ca_trust_domain(issuer, td)) != ATTEST_OK)
		goto out;
	if (strcmp(td, id->td) != 0)
		r = attest_fail(ATTEST_E_INVALID_ARG, "issuer's agent ID %s is outside its trust domain %s",
				*id_str, td);
out:
	if (r != ATTEST_OK) {
		free(*id_str);
		*id_str = NULL;
	}
	return r;
}

static int valid_uuid(const char *s)
{
	if (s == NULL || strlen(s) != 36)
		return 0;
	for (int i = 0; i < 36; i++) {
		char c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return 0;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return 0;
		}
	}
	return 1;
}

/* The creation evidence is stored for verifiers, not checked here (the
 * registration does that); refuse only what is not even the right shape. */
static int check_creation(const struct attest_agent_ca_params *p)
{
	TPMS_ATTEST att;
	TPMT_SIGNATURE sig;
	int r;

	if (p->creation == NULL || p->creation_len == 0 || p->creation_sig == NULL ||
	    p->creation_sig_len == 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "agent CA: creation evidence missing");
	if ((r = attest_tpms_attest_parse(p->creation, p->creation_len, &att)) != ATTEST_OK ||
	    (r = attest_tpmt_signature_parse(p->creation_sig, p->creation_sig_len, &sig)) != ATTEST_OK)
		return attest_fail(ATTEST_E_INVALID_ARG, "agent CA: creation evidence does not parse");
	if (att.type != TPM2_ST_ATTEST_CREATION)
		return attest_fail(ATTEST_E_INVALID_ARG, "agent CA: evidence is not a creation attestation");
	return ATTEST_OK;
}

int attest_x509_make_agent_ca(X509 *host_ca, const struct attest_agent_ca_params *p,
			      const struct attest_signer *host_key, X509 **out)
{
	struct attest_agent_id id;
	char td[256], *host = NULL;
	X509 *c = NULL;
	int r = ATTEST_E_INTERNAL;

	if (out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "agent CA: NULL argument");
	*out = NULL;
	if (host_ca == NULL || p == NULL || p->agent_id == NULL || p->agent_key == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "agent CA: NULL argument");
	if (p->ttl <= 0 || p->ttl > ATTEST_AGENT_CA_MAX_TTL)
		return attest_fail(ATTEST_E_TTL, "agent CA TTL %ld outside 1..%d s", p->ttl,
				   ATTEST_AGENT_CA_MAX_TTL);
	if (!valid_uuid(p->agent_uuid))
		return attest_fail(ATTEST_E_INVALID_ARG, "agent UUID is not lower-case RFC 9562 text");
	if ((r = check_creation(p)) != ATTEST_OK || (r = signer_is_issuer(host_key, host_ca)) != ATTEST_OK)
		return r;
	if ((r = attest_agent_id_parse(p->agent_id, &id)) != ATTEST_OK)
		return attest_fail(ATTEST_E_INVALID_ARG, "agent ID %s is malformed", p->agent_id);
	/* Issue only what the path check will accept: the ID sits under this
	 * host CA's trust domain and host. */
	if ((r = attest_x509_ca_trust_domain(host_ca, td)) != ATTEST_OK ||
	    (r = attest_x509_ext_utf8(host_ca, ATTEST_OID_HOST_ID, &host)) != ATTEST_OK) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "issuer is not a host CA");
		goto out;
	}
	if (strcmp(id.td, td) != 0 || strcmp(id.host, host) != 0) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "agent ID %s is not under host %s of %s",
				p->agent_id, host, td);
		goto out;
	}
	if ((r = cert_begin(host_ca, p->agent_key, 0, p->ttl, td, id.name, &c)) != ATTEST_OK ||
	    (r = add_ca_exts(c, host_ca, "critical,CA:TRUE,pathlen:1", td)) != ATTEST_OK ||
	    (r = attest_x509_add_utf8_ext(c, ATTEST_OID_AGENT_ID, p->agent_id)) != ATTEST_OK ||
	    (r = attest_x509_add_utf8_ext(c, ATTEST_OID_AGENT_UUID, p->agent_uuid)) != ATTEST_OK ||
	    (r = attest_x509_add_octet_ext(c, ATTEST_OID_MEASUREMENT, p->measurement, 32)) != ATTEST_OK ||
	    (r = attest_x509_add_octet_ext(c, ATTEST_OID_POLICY, p->policy, 32)) != ATTEST_OK ||
	    (r = attest_x509_add_octet_ext(c, ATTEST_OID_CREATION, p->creation, p->creation_len)) != ATTEST_OK ||
	    (r = attest_x509_add_octet_ext(c, ATTEST_OID_CREATION_SIG, p->creation_sig, p->creation_sig_len)) !=
		    ATTEST_OK ||
	    (r = attest_x509_sign_with(c, host_key)) != ATTEST_OK)
		goto out;
	*out = c;
	c = NULL; /* transferred */
	r = ATTEST_OK;
out:
	free(host);
	X509_free(c);
	return r;
}

int attest_x509_make_session_issuer(X509 *agent_ca, EVP_PKEY *session_key, long ttl,
				    const struct attest_signer *agent_key, X509 **out)
{
	struct attest_agent_id id;
	char cn[CN_MAX + 16], *agent_id = NULL, *uuid = NULL;
	X509 *c = NULL;
	int r = ATTEST_E_INTERNAL;

	if (out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "session issuer: NULL argument");
	*out = NULL;
	if (agent_ca == NULL || session_key == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "session issuer: NULL argument");
	if (ttl <= 0 || ttl > ATTEST_SESSION_ISSUER_MAX_TTL)
		return attest_fail(ATTEST_E_TTL, "session issuer TTL %ld outside 1..%d s", ttl,
				   ATTEST_SESSION_ISSUER_MAX_TTL);
	if ((r = signer_is_issuer(agent_key, agent_ca)) != ATTEST_OK ||
	    (r = agent_issuer(agent_ca, 1, &agent_id, &id)) != ATTEST_OK)
		goto out;
	if ((r = attest_x509_ext_utf8(agent_ca, ATTEST_OID_AGENT_UUID, &uuid)) != ATTEST_OK)
		goto out;
	if ((size_t)snprintf(cn, sizeof(cn), "session issuer %s", id.name) > CN_MAX)
		snprintf(cn, sizeof(cn), "%s", id.name);
	if ((r = cert_begin(agent_ca, session_key, 0, ttl, id.td, cn, &c)) != ATTEST_OK ||
	    (r = add_ca_exts(c, agent_ca, "critical,CA:TRUE,pathlen:0", id.td)) != ATTEST_OK ||
	    (r = attest_x509_add_utf8_ext(c, ATTEST_OID_AGENT_ID, agent_id)) != ATTEST_OK ||
	    (r = attest_x509_add_utf8_ext(c, ATTEST_OID_AGENT_UUID, uuid)) != ATTEST_OK ||
	    (r = attest_x509_sign_with(c, agent_key)) != ATTEST_OK)
		goto out;
	*out = c;
	c = NULL; /* transferred */
	r = ATTEST_OK;
out:
	free(uuid);
	free(agent_id);
	X509_free(c);
	return r;
}

/* 1..max bytes of printable ASCII (space allowed when `space`). */
static int printable(const char *s, size_t max, int space)
{
	size_t n = strnlen(s, max + 1);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] > '~' || s[i] < (space ? ' ' : '!'))
			return 0;
	return 1;
}

/* p's DNS names: each a name a leaf may carry, none twice, at most
 * ATTEST_LEAF_DNS_MAX (n^2 over at most 16). */
static int leaf_dns_ok(const struct attest_leaf_params *p)
{
	const char *why = "";

	if (p->ndns > ATTEST_LEAF_DNS_MAX || (p->ndns > 0 && p->dns == NULL))
		return attest_fail(ATTEST_E_INVALID_ARG, "leaf: %zu DNS names (at most %d)", p->ndns,
				   ATTEST_LEAF_DNS_MAX);
	for (size_t i = 0; i < p->ndns; i++) {
		if (!attest_dns_name_ok(p->dns[i], &why))
			return attest_fail(ATTEST_E_DNS_NAME_INVALID, "leaf: DNS name %.260s %s",
					   p->dns[i] != NULL ? p->dns[i] : "(null)", why);
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->dns[i], p->dns[j]) == 0)
				return attest_fail(ATTEST_E_DNS_NAME_INVALID,
						   "leaf: DNS name %s given twice", p->dns[i]);
	}
	return ATTEST_OK;
}

/* The leaf's subjectAltName: URI id first, then p's DNS names, built as
 * GeneralNames (no configuration string to escape). */
static int leaf_san(X509 *c, const char *id, const struct attest_leaf_params *p)
{
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	int r = ATTEST_OK;

	if (gens == NULL)
		return attest_fail(ATTEST_E_NOMEM, "leaf SAN");
	for (size_t i = 0; i <= p->ndns && r == ATTEST_OK; i++) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *v = ASN1_IA5STRING_new();
		const char *s = i == 0 ? id : p->dns[i - 1];

		if (g == NULL || v == NULL || ASN1_STRING_set(v, s, (int)strlen(s)) != 1) {
			GENERAL_NAME_free(g);
			ASN1_IA5STRING_free(v);
			r = attest_fail_ossl(ATTEST_E_NOMEM, "leaf SAN");
			break;
		}
		GENERAL_NAME_set0_value(g, i == 0 ? GEN_URI : GEN_DNS, v);
		if (sk_GENERAL_NAME_push(gens, g) <= 0) {
			GENERAL_NAME_free(g);
			r = attest_fail_ossl(ATTEST_E_NOMEM, "leaf SAN");
		}
	}
	if (r == ATTEST_OK && X509_add1_ext_i2d(c, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1)
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "leaf SAN");
	GENERAL_NAMES_free(gens);
	return r;
}

int attest_x509_make_leaf(X509 *issuer, const struct attest_leaf_params *p,
			  const struct attest_signer *s, X509 **out)
{
	struct attest_agent_id id;
	char *agent_id = NULL;
	char depth[2] = "0";
	int der;
	const char *cn;
	X509 *c = NULL;
	int r = ATTEST_E_INTERNAL;

	if (out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "leaf: NULL argument");
	*out = NULL;
	if (issuer == NULL || p == NULL || p->pub == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "leaf: NULL argument");
	if (p->ttl <= 0 || p->ttl > ATTEST_LEAF_MAX_TTL)
		return attest_fail(ATTEST_E_TTL, "leaf TTL %ld outside 1..%d s", p->ttl,
				   ATTEST_LEAF_MAX_TTL);
	if ((p->task_id != NULL && !printable(p->task_id, ATTEST_TASK_ID_MAX, 0)) ||
	    (p->scopes != NULL && !printable(p->scopes, ATTEST_SCOPES_MAX, 1)))
		return attest_fail(ATTEST_E_INVALID_ARG, "leaf: task ID or scopes not printable or too long");
	if ((p->intent == NULL) != (p->intent_len == 0) || p->intent_len > ATTEST_INTENT_MAX)
		return attest_fail(ATTEST_E_INVALID_ARG, "leaf: intent of %zu bytes", p->intent_len);
	if (p->delegate_depth < 0 || p->delegate_depth > 3)
		return attest_fail(ATTEST_E_INVALID_ARG, "leaf: delegate depth %d outside 0..3",
				   p->delegate_depth);
	if ((r = leaf_dns_ok(p)) != ATTEST_OK)
		return r;
	depth[0] = (char)('0' + p->delegate_depth);
	if ((r = signer_is_issuer(s, issuer)) != ATTEST_OK ||
	    (r = agent_issuer(issuer, -1, &agent_id, &id)) != ATTEST_OK)
		goto out;
	/* CN is informational; the SAN is the identity. An ID too long for a
	 * CN is represented by the agent name. */
	cn = strlen(agent_id) <= CN_MAX ? agent_id : id.name;
	if ((r = cert_begin(issuer, p->pub, 1, p->ttl, id.td, cn, &c)) != ATTEST_OK ||
	    (r = attest_x509_add_ext(c, issuer, NID_basic_constraints, "critical,CA:FALSE")) !=
		    ATTEST_OK ||
	    (r = attest_x509_add_ext(c, issuer, NID_key_usage, "critical,digitalSignature")) !=
		    ATTEST_OK ||
	    (r = attest_x509_add_ext(c, issuer, NID_ext_key_usage, "serverAuth,clientAuth")) !=
		    ATTEST_OK ||
	    (r = attest_x509_add_ext(c, issuer, NID_subject_key_identifier, "hash")) != ATTEST_OK ||
	    (r = attest_x509_add_ext(c, issuer, NID_authority_key_identifier, "keyid:always")) !=
		    ATTEST_OK ||
	    (r = leaf_san(c, agent_id, p)) != ATTEST_OK)
		goto out;
	if (p->task_id != NULL && (r = attest_x509_add_utf8_ext(c, ATTEST_OID_TASK_ID, p->task_id)) != ATTEST_OK)
		goto out;
	if (p->scopes != NULL && (r = attest_x509_add_utf8_ext(c, ATTEST_OID_SCOPES, p->scopes)) != ATTEST_OK)
		goto out;
	if (p->intent != NULL &&
	    (r = attest_x509_add_octet_ext(c, ATTEST_OID_INTENT, p->intent, p->intent_len)) != ATTEST_OK)
		goto out;
	if ((r = attest_x509_add_utf8_ext(c, ATTEST_OID_DELEGATE_DEPTH, depth)) != ATTEST_OK)
		goto out;
	if ((r = attest_x509_sign_with(c, s)) != ATTEST_OK)
		goto out;
	if ((der = i2d_X509(c, NULL)) <= 0 || der > ATTEST_LEAF_DER_MAX) {
		r = attest_fail(ATTEST_E_TOO_LARGE, "leaf of %d DER bytes, over %d", der,
				ATTEST_LEAF_DER_MAX);
		goto out;
	}
	*out = c;
	c = NULL; /* transferred */
	r = ATTEST_OK;
out:
	free(agent_id);
	X509_free(c);
	return r;
}
