/* x509.h - the project's X.509 profile (DESIGN.md "Keys and the certificate
 * chain") built with OpenSSL 3, and EK certificate validation.
 *
 * Custom extensions live under our arc 2.25.<uuid> (docs/x509.md):
 *   ATTEST_OID_HOST_ID   host identity: UTF8String host name (non-critical)
 */
#ifndef LIBATTEST_X509_H
#define LIBATTEST_X509_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/attest.h"

#define ATTEST_OID_ARC "2.25.93251439453096883299713058207005317158"
#define ATTEST_OID_HOST_ID ATTEST_OID_ARC ".1.1"

#define ATTEST_HOST_CA_MAX_TTL (24 * 3600)
#define ATTEST_MAX_NAME 63

/* Host and agent names, trust domains: 1..63 of [a-z0-9.-], not starting
 * with '-' or '.', not ending with '.', without ".."; trust domains the same
 * up to 255. */
int attest_valid_hostname(const char *s);
/* attest_valid_hostname's rule in words, for error messages: every part of
 * it, so a refused name is never one the text allows (issue 16: "a..b"). */
#define ATTEST_NAME_RULE \
	"1-63 of a-z 0-9 . -, not starting with - or ., not ending with ., without .."
int attest_valid_trust_domain(const char *s);

/* A new ECDSA P-256 key pair into *out (the caller's, EVP_PKEY_free), from
 * one keygen context made on first use and reused under a lock: what
 * EVP_EC_gen builds and fetches per call (context, key manager, group
 * parameters) is paid once per process (issue 17). Thread-safe.
 * ATTEST_E_CRYPTO when OpenSSL fails. */
int attest_p256_keygen(EVP_PKEY **out) ATTEST_MUST_CHECK;

/* k's DER SubjectPublicKeyInfo into buf (*len bytes). A P-256 key's is
 * encoded from its raw point through OpenSSL's X509_PUBKEY (the bytes
 * i2d_PUBKEY writes, without the OpenSSL 3 encoder set-up per call:
 * issue 17); any other key's by i2d_PUBKEY. ATTEST_E_CRYPTO if it does
 * not fit. */
int attest_spki_der(EVP_PKEY *k, uint8_t *buf, size_t bufsz, size_t *len) ATTEST_MUST_CHECK;
/* k's private key as PEM PKCS#8 ("PRIVATE KEY", unencrypted) in a new
 * string the caller wipes (OPENSSL_cleanse) and frees, written by
 * PEM_write_bio_PrivateKey into secure-heap memory that is wiped. */
int attest_private_key_pem(EVP_PKEY *k, char **pem) ATTEST_MUST_CHECK;

/* Self-signed fleet root: ECDSA P-256, CA:TRUE, keyCertSign|cRLSign. */
int attest_x509_make_root(const char *trust_domain, int days, EVP_PKEY **key,
			  X509 **cert) ATTEST_MUST_CHECK;

/* The online issuing CA under the (offline) fleet root: a new ECDSA P-256
 * key and its certificate signed by root_key: CA:TRUE pathlen:3 (host CA,
 * agent CA, session issuer below it), keyCertSign|cRLSign, SAN URI
 * spiffe://<td>, name constraint permitted URI:<td>, CN "attestd issuing
 * CA <serial prefix>"; days 1..ATTEST_ISSUING_CA_MAX_DAYS, never past the
 * root's notAfter. docs/enrolment.md "Issuing CA". */
#define ATTEST_ISSUING_CA_DEFAULT_DAYS 90
#define ATTEST_ISSUING_CA_MAX_DAYS 400
int attest_x509_make_issuing_ca(EVP_PKEY *root_key, X509 *root, const char *trust_domain,
				int days, EVP_PKEY **key, X509 **cert) ATTEST_MUST_CHECK;
/* The same with the fleet's name-constraints option (docs/x509.md "Name
 * constraints"): name_constraints 0 leaves the critical URI name
 * constraint out; every CA certificate below inherits the choice
 * (attest_x509_ca_constrains). */
int attest_x509_make_issuing_ca_nc(EVP_PKEY *root_key, X509 *root, const char *trust_domain,
				   int days, int name_constraints, EVP_PKEY **key,
				   X509 **cert) ATTEST_MUST_CHECK;
/* Whether a CA certificate made under issuer carries the name constraint:
 * issuer carries one, or issuer is self-signed (the fleet root, which
 * carries none itself: the option is the issuing CA's). */
int attest_x509_ca_constrains(X509 *issuer);

/* Host CA certificate for host_key, signed by the issuing CA (issuer,
 * issuer_key): CA:TRUE pathlen:2, keyCertSign, no EKU, SAN URI
 * spiffe://<td>, name constraint permitted URI:<td> when
 * attest_x509_ca_constrains(issuer), host ID extension;
 * notAfter <= issuer's notAfter. */
int attest_x509_make_host_ca(EVP_PKEY *issuer_key, X509 *issuer, const char *trust_domain,
			     const char *host, EVP_PKEY *host_key, long ttl_seconds,
			     X509 **out) ATTEST_MUST_CHECK;

/* Validate an EK certificate (DER, no trailing bytes, <= 4 KiB) against the
 * vendor roots in a PEM bundle file: the chain verifies (intermediates may
 * be in the bundle too), no unknown critical extension other than the TCG
 * subjectAltName, and its public key equals ek_pub. */
int attest_ek_cert_verify(const uint8_t *der, size_t len, const char *roots_pem,
			  EVP_PKEY *ek_pub) ATTEST_MUST_CHECK;

/* Building blocks shared with x509agent.c. add_ext: one extension from
 * OpenSSL's config syntax (X509V3_EXT_conf_nid), issuer for AKI.
 * add_utf8_ext: non-critical custom extension holding a DER UTF8String.
 * random_serial: 128-bit positive serial. set_name: O=org, CN=cn (each at
 * most 64 characters, X.520 upper bounds). */
int attest_x509_add_ext(X509 *cert, X509 *issuer, int nid, const char *value) ATTEST_MUST_CHECK;
int attest_x509_add_utf8_ext(X509 *cert, const char *oid, const char *value) ATTEST_MUST_CHECK;
int attest_x509_add_octet_ext(X509 *cert, const char *oid, const uint8_t *data,
			      size_t len) ATTEST_MUST_CHECK;
int attest_x509_random_serial(X509 *cert) ATTEST_MUST_CHECK;
int attest_x509_set_name(X509_NAME *name, const char *org, const char *cn) ATTEST_MUST_CHECK;

/* An EK certificate as read from NV: drop a TCG PC Client header
 * (0x10 0x01 len) and any padding after the outer DER SEQUENCE, in place. */
int attest_ek_cert_unwrap(uint8_t *buf, size_t *len) ATTEST_MUST_CHECK;

/* A certificate time as Unix seconds (ATTEST_E_PARSE if it does not convert). */
int attest_asn1_time_unix(const ASN1_TIME *t, int64_t *out) ATTEST_MUST_CHECK;

/* PEM helpers. *out malloc'd, NUL-terminated. */
int attest_x509_to_pem(X509 *cert, char **out) ATTEST_MUST_CHECK;
int attest_x509_from_pem(const char *pem, size_t len, X509 **out) ATTEST_MUST_CHECK;
int attest_x509_load(const char *path, X509 **out) ATTEST_MUST_CHECK;
int attest_pkey_save(const char *path, EVP_PKEY *key) ATTEST_MUST_CHECK;
int attest_pkey_load(const char *path, EVP_PKEY **out) ATTEST_MUST_CHECK;

#endif
