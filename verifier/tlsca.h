/* tlsca.h - the verifier's own CA for its HTTPS server certificate and its
 * callers' client certificates (resource servers, operators). It is not the
 * fleet CA: it authenticates who talks to the verifier; what a caller may
 * do is its role in the store (docs/verifier.md "Callers"). */
#ifndef VERIFIER_TLSCA_H
#define VERIFIER_TLSCA_H

#include <stdint.h>

#include "attest/attest.h"

/* Create STATE/tls/{ca,server}.{pem,key}: a P-256 CA (10 years) and a
 * server certificate for `name` (DNS) and 127.0.0.1/::1 (2 years). Refuses
 * (ATTEST_E_EXISTS) when STATE/tls/ca.pem exists. */
int vf_tlsca_init(const char *state, const char *name) ATTEST_MUST_CHECK;

/* Issue a client certificate (clientAuth, CN=name, 1 year) into
 * prefix.pem / prefix.key (0600, never overwritten), and the SHA-256 of its
 * SubjectPublicKeyInfo into spki_hash. */
int vf_tlsca_issue_client(const char *state, const char *name, const char *prefix,
			  uint8_t spki_hash[32]) ATTEST_MUST_CHECK;

/* SHA-256 of a certificate's SubjectPublicKeyInfo DER. */
int vf_spki_hash(void *x509, uint8_t out[32]) ATTEST_MUST_CHECK;

#endif
