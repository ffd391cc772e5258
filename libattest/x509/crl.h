/* crl.h - certificate revocation lists for relying parties that do only
 * mTLS (nginx ssl_crl, issue 15 item 5; docs/relying-parties.md).
 *
 * nginx with ssl_crl sets X509_V_FLAG_CRL_CHECK|CRL_CHECK_ALL: every
 * certificate of a client's chain, the root included, needs a current CRL
 * signed by its own issuer's key. So each CA of the fleet signs one:
 * the root (offline, attest-provision), the issuing CA (the verifier's
 * signer), each host CA (the host's TPM key) and each agent CA (the
 * agent's TPM key). A CRL is made with OpenSSL's X509_CRL API and signed
 * through the certificates' one signing path (attest_sign_tbs_into: the
 * re-encoded TBS, SHA-256, the TPM or software signer), then checked by a
 * DER round trip verified with the issuer's key.
 *
 * Profile: v2; issuer = the issuer certificate's subject; authority key
 * identifier = its subject key identifier (agent CAs of two hosts can
 * share a subject name: OpenSSL picks a CRL by name, then prefers the one
 * whose AKI matches, docs/x509.md); cRLNumber; thisUpdate, nextUpdate; one
 * entry per revoked serial (revocationDate = thisUpdate), no entry
 * extensions; ecdsa-with-SHA256.
 */
#ifndef LIBATTEST_CRL_H
#define LIBATTEST_CRL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "attest/attest.h"
#include "x509/x509agent.h"

#define ATTEST_CRL_DER_MAX (256 * 1024)      /* one CRL, DER */
#define ATTEST_CRL_ENTRIES_MAX 4096          /* revoked entries in one CRL */
#define ATTEST_CRL_BUNDLE_MAX 4096           /* CRLs in one bundle */
#define ATTEST_CRL_BUNDLE_BYTES_MAX (8 * 1024 * 1024) /* one PEM bundle */
/* A CRL's thisUpdate may be at most this far in the future (clock skew
 * between a host and the verifier). */
#define ATTEST_CRL_SKEW 300

/* A CRL for issuer listing the n serials (each a positive ASN1_INTEGER of
 * at most 20 bytes), valid from this_update to next_update (later),
 * cRLNumber number, signed by s (whose pub must be issuer's key). *out is
 * the caller's (X509_CRL_free). ATTEST_E_INVALID_ARG for a bad argument or
 * a signer that is not the issuer's key, ATTEST_E_TOO_LARGE over
 * ATTEST_CRL_ENTRIES_MAX, the signer's code if it refused, ATTEST_E_CRYPTO
 * if OpenSSL fails or the result does not verify. */
int attest_crl_make(X509 *issuer, const ASN1_INTEGER *const *serials, size_t n,
		    time_t this_update, time_t next_update, uint64_t number,
		    const struct attest_signer *s, X509_CRL **out) ATTEST_MUST_CHECK;

/* Is crl the CRL of issuer, current at now? Its issuer name is issuer's
 * subject, its AKI (when present) issuer's SKI, issuer may sign CRLs
 * (cRLSign when it has a key usage), the signature verifies with issuer's
 * key, thisUpdate <= now + ATTEST_CRL_SKEW < ... and now < nextUpdate
 * (nextUpdate is required), at most ATTEST_CRL_ENTRIES_MAX entries.
 * ATTEST_OK, or ATTEST_E_CRYPTO (signature, issuer), ATTEST_E_CERT_EXPIRED
 * (stale or not yet valid), ATTEST_E_TOO_LARGE, ATTEST_E_PARSE, with the
 * reason in attest_errdetail(). */
int attest_crl_check(X509_CRL *crl, X509 *issuer, time_t now) ATTEST_MUST_CHECK;

/* Does crl belong to issuer (same name and, when the CRL has one, AKI
 * matching the issuer's SKI)? 1 or 0; no signature check. */
int attest_crl_is_for(X509_CRL *crl, X509 *issuer);

/* Parse a PEM bundle of CRLs (nothing but "X509 CRL" blocks), at most
 * ATTEST_CRL_BUNDLE_BYTES_MAX bytes and ATTEST_CRL_BUNDLE_MAX CRLs, each
 * at most ATTEST_CRL_DER_MAX bytes of DER. *out is the caller's
 * (sk_X509_CRL_pop_free(.., X509_CRL_free)). ATTEST_E_TOO_LARGE or
 * ATTEST_E_PARSE with the reason. */
int attest_crl_bundle_parse(const char *pem, size_t len,
			    STACK_OF(X509_CRL) **out) ATTEST_MUST_CHECK;

/* Check every CRL of a bundle against cas, the CA certificates the caller
 * knows (root, issuing CAs, host CAs, agent CAs): each must be the CRL of
 * exactly one of them (attest_crl_is_for) and pass attest_crl_check, and
 * no two CRLs may be for the same CA (name and key). The first failure is
 * returned, its CRL's index and issuer in the detail. */
int attest_crl_bundle_check(STACK_OF(X509_CRL) *crls, STACK_OF(X509) *cas,
			    time_t now) ATTEST_MUST_CHECK;

/* The bundle as PEM (one "X509 CRL" block each), malloc'd NUL-terminated
 * text into *out, its length in *len. */
int attest_crl_bundle_pem(STACK_OF(X509_CRL) *crls, char **out, size_t *len) ATTEST_MUST_CHECK;

#endif
