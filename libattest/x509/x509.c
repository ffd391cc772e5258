/* x509.c - certificate profile and EK certificate validation (OpenSSL 3). */
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "core/cursor.h"
#include "core/err.h"
#include "core/fileio.h"
#include "x509/x509.h"

#define PEM_CAP (64 * 1024)

static int valid_label_chars(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || s[0] == '-' || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return 0;
	}
	return strstr(s, "..") == NULL;
}

/* One keygen context per process. EVP_PKEY_generate may be called again
 * on a context after keygen_init; the lock keeps two threads off it. */
static pthread_mutex_t keygen_lock = PTHREAD_MUTEX_INITIALIZER;
static EVP_PKEY_CTX *keygen_ctx;

int attest_p256_keygen(EVP_PKEY **out)
{
	EVP_PKEY *k = NULL;
	int r = ATTEST_E_CRYPTO;

	if (out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "keygen: NULL argument");
	*out = NULL;
	pthread_mutex_lock(&keygen_lock);
	if (keygen_ctx == NULL) {
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);

		if (c == NULL || EVP_PKEY_keygen_init(c) != 1 ||
		    EVP_PKEY_CTX_set_group_name(c, "P-256") != 1) {
			EVP_PKEY_CTX_free(c);
			r = attest_fail_ossl(ATTEST_E_CRYPTO, "P-256 keygen context");
			goto out;
		}
		keygen_ctx = c;
	}
	if (EVP_PKEY_generate(keygen_ctx, &k) != 1 || k == NULL) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "generate P-256 key");
		goto out;
	}
	*out = k;
	k = NULL; /* transferred */
	r = ATTEST_OK;
out:
	pthread_mutex_unlock(&keygen_lock);
	EVP_PKEY_free(k);
	return r;
}

/* k's uncompressed point (65 bytes) when k is a P-256 key; else 0. */
static int p256_point(EVP_PKEY *k, uint8_t pt[65])
{
	char group[32];
	size_t len = 0;

	if (k == NULL || !EVP_PKEY_is_a(k, "EC") ||
	    EVP_PKEY_get_group_name(k, group, sizeof(group), NULL) != 1 ||
	    strcmp(group, "prime256v1") != 0 ||
	    EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pt, 65, &len) != 1 ||
	    len != 65 || pt[0] != POINT_CONVERSION_UNCOMPRESSED) {
		ERR_clear_error();
		return 0;
	}
	return 1;
}

/* A P-256 SubjectPublicKeyInfo through OpenSSL's ASN.1 templates
 * (X509_PUBKEY with id-ecPublicKey, the named curve and the point), as
 * the leaf builder sets its SPKI: no provider encoder is set up. */
static int p256_spki(const uint8_t pt[65], uint8_t *buf, size_t bufsz, size_t *len)
{
	X509_PUBKEY *pub = X509_PUBKEY_new();
	unsigned char *point = OPENSSL_memdup(pt, 65), *p = buf;
	int n = 0;

	if (pub == NULL || point == NULL ||
	    !X509_PUBKEY_set0_param(pub, OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
				    OBJ_nid2obj(NID_X9_62_prime256v1), point, 65)) {
		OPENSSL_free(point);
		X509_PUBKEY_free(pub);
		return attest_fail_ossl(ATTEST_E_CRYPTO, "P-256 public key");
	}
	/* point is pub's now */
	if ((n = i2d_X509_PUBKEY(pub, NULL)) <= 0 || (size_t)n > bufsz ||
	    i2d_X509_PUBKEY(pub, &p) != n) {
		X509_PUBKEY_free(pub);
		return attest_fail_ossl(ATTEST_E_CRYPTO, "public key encoding");
	}
	X509_PUBKEY_free(pub);
	*len = (size_t)n;
	return ATTEST_OK;
}

int attest_spki_der(EVP_PKEY *k, uint8_t *buf, size_t bufsz, size_t *len)
{
	uint8_t pt[65];
	unsigned char *p = buf;
	int n;

	if (k == NULL || buf == NULL || len == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "spki: NULL argument");
	*len = 0;
	if (p256_point(k, pt))
		return p256_spki(pt, buf, bufsz, len);
	if ((n = i2d_PUBKEY(k, NULL)) <= 0 || (size_t)n > bufsz || i2d_PUBKEY(k, &p) != n)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "public key encoding");
	*len = (size_t)n;
	return ATTEST_OK;
}

int attest_private_key_pem(EVP_PKEY *k, char **pem)
{
	BIO *b = NULL;
	char *data;
	long n;
	int r = ATTEST_OK;

	if (k == NULL || pem == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "key pem: NULL argument");
	*pem = NULL;
	if ((b = BIO_new(BIO_s_secmem())) == NULL ||
	    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (n = BIO_get_mem_data(b, &data)) <= 0) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "encode private key");
		goto out;
	}
	if ((*pem = malloc((size_t)n + 1)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "key pem");
		goto out;
	}
	memcpy(*pem, data, (size_t)n);
	(*pem)[n] = '\0';
	OPENSSL_cleanse(data, (size_t)n);
out:
	BIO_free(b);
	return r;
}

int attest_valid_hostname(const char *s) { return s != NULL && valid_label_chars(s, ATTEST_MAX_NAME); }

int attest_valid_trust_domain(const char *s) { return s != NULL && valid_label_chars(s, 255); }

int attest_x509_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "extension %s=%s", OBJ_nid2sn(nid), value);
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	if (!ok)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "add extension %s", OBJ_nid2sn(nid));
	return ATTEST_OK;
}

/* Non-critical custom extension whose value is a DER UTF8String or OCTET
 * STRING holding `data`. */
static int add_string_ext(X509 *cert, const char *oid, int utf8, const void *data, size_t len)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	ASN1_STRING *val = ASN1_STRING_type_new(utf8 ? V_ASN1_UTF8STRING : V_ASN1_OCTET_STRING);
	ASN1_OCTET_STRING *oct = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	unsigned char *der = NULL;
	int derlen = 0, r = ATTEST_E_CRYPTO;

	if (len > INT_MAX || obj == NULL || val == NULL || oct == NULL ||
	    !ASN1_STRING_set(val, data, (int)len) ||
	    (derlen = utf8 ? i2d_ASN1_UTF8STRING(val, &der) : i2d_ASN1_OCTET_STRING(val, &der)) <= 0 ||
	    !ASN1_OCTET_STRING_set(oct, der, derlen) ||
	    (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, oct)) == NULL ||
	    !X509_add_ext(cert, ext, -1)) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "custom extension %s", oid);
		goto out;
	}
	r = ATTEST_OK;
out:
	OPENSSL_free(der);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(oct);
	ASN1_STRING_free(val);
	ASN1_OBJECT_free(obj);
	return r;
}

int attest_x509_add_utf8_ext(X509 *cert, const char *oid, const char *value)
{
	return add_string_ext(cert, oid, 1, value, strlen(value));
}

int attest_x509_add_octet_ext(X509 *cert, const char *oid, const uint8_t *data, size_t len)
{
	return add_string_ext(cert, oid, 0, data, len);
}

int attest_x509_random_serial(X509 *cert)
{
	uint8_t b[16];
	BIGNUM *bn = NULL;
	int r = ATTEST_E_CRYPTO;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "RAND_bytes");
	b[0] &= 0x7f; /* positive */
	b[0] |= 0x01; /* and 16 bytes long */
	if ((bn = BN_bin2bn(b, sizeof(b), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) == NULL)
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "serial number");
	else
		r = ATTEST_OK;
	BN_free(bn);
	return r;
}

int attest_x509_set_name(X509_NAME *name, const char *org, const char *cn)
{
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)org,
					-1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn,
					-1, -1, 0))
		return attest_fail_ossl(ATTEST_E_CRYPTO, "certificate name");
	return ATTEST_OK;
}

int attest_x509_make_root(const char *trust_domain, int days, EVP_PKEY **key, X509 **cert)
{
	EVP_PKEY *k = NULL;
	X509 *c = NULL;
	char uri[300];
	int r = ATTEST_E_INTERNAL;

	*key = NULL;
	*cert = NULL;
	if (!attest_valid_trust_domain(trust_domain) || days <= 0 || days > 36500)
		return attest_fail(ATTEST_E_INVALID_ARG, "bad trust domain or validity");
	snprintf(uri, sizeof(uri), "URI:spiffe://%s", trust_domain);
	if (attest_p256_keygen(&k) != ATTEST_OK) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "generate root key");
		goto out;
	}
	if ((c = X509_new()) == NULL || !X509_set_version(c, X509_VERSION_3) ||
	    X509_gmtime_adj(X509_getm_notBefore(c), -300) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(c), days, 0, NULL) == NULL ||
	    !X509_set_pubkey(c, k)) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "root certificate");
		goto out;
	}
	if ((r = attest_x509_random_serial(c)) != ATTEST_OK ||
	    (r = attest_x509_set_name(X509_get_subject_name(c), trust_domain,
				      "attestd fleet root CA")) != ATTEST_OK)
		goto out;
	if (!X509_set_issuer_name(c, X509_get_subject_name(c))) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "root issuer");
		goto out;
	}
	if ((r = attest_x509_add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE")) != ATTEST_OK ||
	    (r = attest_x509_add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign")) != ATTEST_OK ||
	    (r = attest_x509_add_ext(c, c, NID_subject_key_identifier, "hash")) != ATTEST_OK ||
	    (r = attest_x509_add_ext(c, c, NID_subject_alt_name, uri)) != ATTEST_OK)
		goto out;
	if (X509_sign(c, k, EVP_sha256()) <= 0) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "sign root certificate");
		goto out;
	}
	*key = k;
	*cert = c;
	k = NULL; /* transferred */
	c = NULL;
	r = ATTEST_OK;
out:
	EVP_PKEY_free(k);
	X509_free(c);
	return r;
}

int attest_x509_ca_constrains(X509 *issuer)
{
	int self;

	if (issuer == NULL)
		return 1;
	if (X509_get_ext_by_NID(issuer, NID_name_constraints, -1) >= 0)
		return 1;
	self = X509_check_issued(issuer, issuer) == X509_V_OK;
	ERR_clear_error();
	return self;
}

int attest_x509_make_issuing_ca(EVP_PKEY *root_key, X509 *root, const char *trust_domain,
				int days, EVP_PKEY **key, X509 **cert)
{
	return attest_x509_make_issuing_ca_nc(root_key, root, trust_domain, days, 1, key, cert);
}

int attest_x509_make_issuing_ca_nc(EVP_PKEY *root_key, X509 *root, const char *trust_domain,
				   int days, int name_constraints, EVP_PKEY **key, X509 **cert)
{
	EVP_PKEY *k = NULL;
	X509 *c = NULL;
	char uri[300], nc[300], cn[64], hex[17];
	const ASN1_INTEGER *serial;
	BIGNUM *bn = NULL;
	char *dec = NULL;
	int r = ATTEST_E_INTERNAL;

	*key = NULL;
	*cert = NULL;
	if (root_key == NULL || root == NULL || !attest_valid_trust_domain(trust_domain) ||
	    days <= 0 || days > ATTEST_ISSUING_CA_MAX_DAYS)
		return attest_fail(ATTEST_E_INVALID_ARG, "issuing CA: bad trust domain or validity "
				   "(1..%d days)", ATTEST_ISSUING_CA_MAX_DAYS);
	if (X509_check_private_key(root, root_key) != 1) {
		ERR_clear_error();
		return attest_fail(ATTEST_E_INVALID_ARG, "issuing CA: the root key is not the root's");
	}
	snprintf(uri, sizeof(uri), "URI:spiffe://%s", trust_domain);
	snprintf(nc, sizeof(nc), "critical,permitted;URI:%s", trust_domain);
	if (attest_p256_keygen(&k) != ATTEST_OK) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "generate issuing CA key");
		goto out;
	}
	if ((c = X509_new()) == NULL || !X509_set_version(c, X509_VERSION_3) ||
	    X509_gmtime_adj(X509_getm_notBefore(c), -300) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(c), days, 0, NULL) == NULL ||
	    !X509_set_pubkey(c, k) || !X509_set_issuer_name(c, X509_get_subject_name(root))) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "issuing CA certificate");
		goto out;
	}
	if (ASN1_TIME_compare(X509_get0_notAfter(root), X509_get0_notAfter(c)) < 0 &&
	    !X509_set1_notAfter(c, X509_get0_notAfter(root))) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "clamp notAfter");
		goto out;
	}
	if ((r = attest_x509_random_serial(c)) != ATTEST_OK)
		goto out;
	/* One subject per issuing CA (the serial's first hex digits), so that
	 * path building never confuses a rotated one with its successor. */
	serial = X509_get0_serialNumber(c);
	if ((bn = ASN1_INTEGER_to_BN(serial, NULL)) == NULL || (dec = BN_bn2hex(bn)) == NULL) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "serial");
		goto out;
	}
	snprintf(hex, sizeof(hex), "%s", dec);
	for (char *q = hex; *q; q++)
		if (*q >= 'A' && *q <= 'F')
			*q = (char)(*q - 'A' + 'a');
	snprintf(cn, sizeof(cn), "attestd issuing CA %s", hex);
	if ((r = attest_x509_set_name(X509_get_subject_name(c), trust_domain, cn)) != ATTEST_OK)
		goto out;
	/* pathlen 3: host CA -> agent CA -> session issuer below it */
	if ((r = attest_x509_add_ext(c, root, NID_basic_constraints, "critical,CA:TRUE,pathlen:3")) != ATTEST_OK ||
	    (r = attest_x509_add_ext(c, root, NID_key_usage, "critical,keyCertSign,cRLSign")) != ATTEST_OK ||
	    (r = attest_x509_add_ext(c, root, NID_subject_key_identifier, "hash")) != ATTEST_OK ||
	    (r = attest_x509_add_ext(c, root, NID_authority_key_identifier, "keyid:always")) != ATTEST_OK ||
	    (r = attest_x509_add_ext(c, root, NID_subject_alt_name, uri)) != ATTEST_OK ||
	    (name_constraints &&
	     (r = attest_x509_add_ext(c, root, NID_name_constraints, nc)) != ATTEST_OK))
		goto out;
	if (X509_sign(c, root_key, EVP_sha256()) <= 0) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "sign issuing CA certificate");
		goto out;
	}
	*key = k;
	*cert = c;
	k = NULL; /* transferred */
	c = NULL;
	r = ATTEST_OK;
out:
	OPENSSL_free(dec);
	BN_free(bn);
	EVP_PKEY_free(k);
	X509_free(c);
	return r;
}

int attest_x509_make_host_ca(EVP_PKEY *issuer_key, X509 *issuer, const char *trust_domain,
			     const char *host, EVP_PKEY *host_key, long ttl_seconds, X509 **out)
{
	X509 *c = NULL;
	char uri[300], nc[300], cn[128];
	long skew;
	int r = ATTEST_E_INTERNAL;

	*out = NULL;
	if (!attest_valid_trust_domain(trust_domain) || !attest_valid_hostname(host) ||
	    ttl_seconds <= 0 || ttl_seconds > ATTEST_HOST_CA_MAX_TTL)
		return attest_fail(ATTEST_E_INVALID_ARG, "bad trust domain, host name or TTL");
	snprintf(uri, sizeof(uri), "URI:spiffe://%s", trust_domain);
	snprintf(nc, sizeof(nc), "critical,permitted;URI:%s", trust_domain);
	snprintf(cn, sizeof(cn), "attestd host CA %s", host);
	/* Backdate a minute for clock skew, and keep the whole validity window
	 * (notAfter - notBefore) within ttl_seconds. */
	skew = ttl_seconds > 600 ? 60 : 0;
	if ((c = X509_new()) == NULL || !X509_set_version(c, X509_VERSION_3) ||
	    X509_gmtime_adj(X509_getm_notBefore(c), -skew) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(c), ttl_seconds - skew) == NULL ||
	    !X509_set_pubkey(c, host_key) ||
	    !X509_set_issuer_name(c, X509_get_subject_name(issuer))) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "host CA certificate");
		goto out;
	}
	/* Never outlive the issuer. */
	if (ASN1_TIME_compare(X509_get0_notAfter(issuer), X509_get0_notAfter(c)) < 0 &&
	    !X509_set1_notAfter(c, X509_get0_notAfter(issuer))) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "clamp notAfter");
		goto out;
	}
	if ((r = attest_x509_random_serial(c)) != ATTEST_OK ||
	    (r = attest_x509_set_name(X509_get_subject_name(c), trust_domain, cn)) != ATTEST_OK)
		goto out;
	if ((r = attest_x509_add_ext(c, issuer, NID_basic_constraints, "critical,CA:TRUE,pathlen:2")) != ATTEST_OK ||
	    (r = attest_x509_add_ext(c, issuer, NID_key_usage, "critical,keyCertSign,cRLSign")) != ATTEST_OK ||
	    (r = attest_x509_add_ext(c, issuer, NID_subject_key_identifier, "hash")) != ATTEST_OK ||
	    (r = attest_x509_add_ext(c, issuer, NID_authority_key_identifier, "keyid:always")) != ATTEST_OK ||
	    (r = attest_x509_add_ext(c, issuer, NID_subject_alt_name, uri)) != ATTEST_OK ||
	    (attest_x509_ca_constrains(issuer) &&
	     (r = attest_x509_add_ext(c, issuer, NID_name_constraints, nc)) != ATTEST_OK) ||
	    (r = attest_x509_add_utf8_ext(c, ATTEST_OID_HOST_ID, host)) != ATTEST_OK)
		goto out;
	if (X509_sign(c, issuer_key, EVP_sha256()) <= 0) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "sign host CA certificate");
		goto out;
	}
	*out = c;
	c = NULL; /* transferred */
	r = ATTEST_OK;
out:
	X509_free(c);
	return r;
}

/* The one critical extension we accept that OpenSSL may not process in an
 * EK certificate is the TCG subjectAltName (directoryName of TPM
 * manufacturer, model, version); OpenSSL knows SAN, so everything critical
 * must be an extension OpenSSL supports. */
static int check_critical_exts(X509 *cert)
{
	int n = X509_get_ext_count(cert);

	for (int i = 0; i < n; i++) {
		X509_EXTENSION *ext = X509_get_ext(cert, i);
		char oid[128];

		if (!X509_EXTENSION_get_critical(ext))
			continue;
		if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) == NID_subject_alt_name)
			continue;
		if (X509_supported_extension(ext))
			continue;
		OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(ext), 1);
		return attest_fail(ATTEST_E_EK_CRITICAL_EXT,
				   "EK certificate has unknown critical extension %s", oid);
	}
	return ATTEST_OK;
}

/* The vendor bundle holds roots and intermediates in one PEM file:
 * self-signed certificates become trust anchors, every other one only an
 * untrusted intermediate that must itself chain to an anchor. (Treating
 * intermediates as anchors, PARTIAL_CHAIN, would make each of them a root.) */
static int load_vendor_bundle(const char *path, X509_STORE *store, STACK_OF(X509) *untrusted)
{
	BIO *b = BIO_new_file(path, "r");
	X509 *x;
	int n = 0, r = ATTEST_OK;

	if (b == NULL)
		return attest_fail_ossl(ATTEST_E_IO, "open TPM vendor roots %s", path);
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		int self = X509_check_issued(x, x) == X509_V_OK;
		int ok = self ? X509_STORE_add_cert(store, x) : sk_X509_push(untrusted, x) > 0;

		if (self || !ok)
			X509_free(x); /* the store took its own reference */
		if (!ok) {
			r = attest_fail_ossl(ATTEST_E_CRYPTO, "load vendor certificate");
			break;
		}
		n++;
	}
	ERR_clear_error(); /* end of file */
	BIO_free(b);
	if (r == ATTEST_OK && n == 0)
		r = attest_fail(ATTEST_E_IO, "%s holds no certificate", path);
	return r;
}

int attest_ek_cert_verify(const uint8_t *der, size_t len, const char *roots_pem,
			  EVP_PKEY *ek_pub)
{
	const unsigned char *p = der;
	X509 *cert = NULL;
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *untrusted = NULL;
	int r = ATTEST_E_INTERNAL;

	if (len == 0 || len > 4096)
		return attest_fail(ATTEST_E_TOO_LARGE, "EK certificate of %zu bytes", len);
	if ((cert = d2i_X509(NULL, &p, (long)len)) == NULL) {
		r = attest_fail_ossl(ATTEST_E_PARSE, "EK certificate is not DER X.509");
		goto out;
	}
	if (p != der + len) {
		r = attest_fail(ATTEST_E_PARSE, "%td trailing bytes after EK certificate",
				(der + len) - p);
		goto out;
	}
	if ((r = check_critical_exts(cert)) != ATTEST_OK)
		goto out;
	/* An EK certificate is an end-entity certificate. */
	if (X509_check_ca(cert) != 0) {
		r = attest_fail(ATTEST_E_EK_UNTRUSTED, "EK certificate is a CA certificate");
		goto out;
	}
	if ((store = X509_STORE_new()) == NULL || (ctx = X509_STORE_CTX_new()) == NULL ||
	    (untrusted = sk_X509_new_null()) == NULL) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "X509_STORE");
		goto out;
	}
	if ((r = load_vendor_bundle(roots_pem, store, untrusted)) != ATTEST_OK)
		goto out;
	if (!X509_STORE_CTX_init(ctx, store, cert, untrusted)) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "X509_STORE_CTX_init");
		goto out;
	}
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);

		r = attest_fail(ATTEST_E_EK_UNTRUSTED, "EK certificate chain: %s (depth %d)",
				X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(ctx));
		ERR_clear_error();
		goto out;
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(cert), ek_pub) != 1) {
		r = attest_fail(ATTEST_E_EK_MISMATCH,
				"EK certificate's public key differs from the EK public area sent");
		ERR_clear_error();
		goto out;
	}
	r = ATTEST_OK;
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_pop_free(untrusted, X509_free);
	X509_free(cert);
	return r;
}

int attest_x509_to_pem(X509 *cert, char **out)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	*out = NULL;
	if (b == NULL || !PEM_write_bio_X509(b, cert)) {
		BIO_free(b);
		return attest_fail_ossl(ATTEST_E_CRYPTO, "PEM encode certificate");
	}
	n = BIO_get_mem_data(b, &data);
	if (n <= 0 || (s = malloc((size_t)n + 1)) == NULL) {
		BIO_free(b);
		return attest_fail(ATTEST_E_NOMEM, "PEM encode certificate");
	}
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	BIO_free(b);
	*out = s;
	return ATTEST_OK;
}

int attest_x509_from_pem(const char *pem, size_t len, X509 **out)
{
	BIO *b;

	*out = NULL;
	if (len == 0 || len > PEM_CAP)
		return attest_fail(ATTEST_E_TOO_LARGE, "PEM certificate of %zu bytes", len);
	if ((b = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return attest_fail_ossl(ATTEST_E_NOMEM, "BIO");
	*out = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	if (*out == NULL)
		return attest_fail_ossl(ATTEST_E_PARSE, "not a PEM certificate");
	return ATTEST_OK;
}

int attest_x509_load(const char *path, X509 **out)
{
	uint8_t *buf = NULL;
	size_t len;
	int r;

	*out = NULL;
	if ((r = attest_file_read(path, PEM_CAP, &buf, &len)) != ATTEST_OK)
		return r;
	r = attest_x509_from_pem((const char *)buf, len, out);
	free(buf);
	return r;
}

int attest_pkey_save(const char *path, EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int r;

	if (b == NULL || !PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)) {
		BIO_free(b);
		return attest_fail_ossl(ATTEST_E_CRYPTO, "PEM encode private key");
	}
	n = BIO_get_mem_data(b, &data);
	r = attest_file_write_atomic(path, data, (size_t)n, 0600);
	OPENSSL_cleanse(data, (size_t)n);
	BIO_free(b);
	return r;
}

int attest_pkey_load(const char *path, EVP_PKEY **out)
{
	uint8_t *buf = NULL;
	size_t len;
	BIO *b = NULL;
	int r;

	*out = NULL;
	if ((r = attest_file_read(path, PEM_CAP, &buf, &len)) != ATTEST_OK)
		return r;
	if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL ||
	    (*out = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL)
		r = attest_fail_ossl(ATTEST_E_PARSE, "%s: not a PEM private key", path);
	BIO_free(b);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return r;
}

int attest_ek_cert_unwrap(uint8_t *buf, size_t *len)
{
	const unsigned char *p;
	struct attest_cur c;
	uint16_t magic;
	long content;
	int tag, cls, ret;
	size_t off = 0;

	/* TCG PC Client: an optional header 0x10 0x01 <2-byte length>. */
	attest_cur_init(&c, buf, *len);
	if (*len > 4 && attest_cur_u16be(&c, &magic) && magic == 0x1001 && attest_cur_skip(&c, 2))
		off = 4;
	p = buf + off;
	ret = ASN1_get_object(&p, &content, &tag, &cls, (long)(*len - off));
	if ((ret & 0x80) != 0 || tag != V_ASN1_SEQUENCE || ret != V_ASN1_CONSTRUCTED ||
	    (size_t)(p - buf) + (size_t)content > *len) {
		ERR_clear_error();
		return attest_fail(ATTEST_E_PARSE, "EK certificate in NV is not a DER SEQUENCE");
	}
	/* Keep exactly the certificate: NV indices may be padded. */
	*len = (size_t)(p - (buf + off)) + (size_t)content;
	if (off > 0)
		memmove(buf, buf + off, *len);
	return ATTEST_OK;
}

int attest_asn1_time_unix(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return attest_fail_ossl(ATTEST_E_PARSE, "certificate time");
	*out = (int64_t)timegm(&tm);
	return ATTEST_OK;
}
