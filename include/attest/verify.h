/* verify.h - the attestd path constraint, for relying parties.
 *
 * X.509 URI name constraints compare only the host part of a URI (RFC 5280;
 * OpenSSL does the same), so our CA certificates can only constrain the
 * trust domain. attestd's own rule is stricter and is checked here:
 *   - the leaf is not a CA and carries exactly one URI SAN, a SPIFFE ID;
 *   - it equals the agent ID extension of the agent CA that (directly or
 *     through a session issuer carrying the same agent ID) issued it;
 *   - that agent ID is spiffe://<td>/host/<host>/agent/<name>, where <td>
 *     is the host CA's SPIFFE trust domain and <host> its host ID extension;
 *   - the host CA's issuer (when the chain carries it) is no host or agent
 *     CA: the fleet's issuing CA or the root.
 * Generic SPIFFE validators enforce only the trust domain.
 */
#ifndef ATTEST_VERIFY_H
#define ATTEST_VERIFY_H

#include <openssl/x509.h>

#include "attest/attest.h"

/* chain[0] is the leaf, then its issuers up to at least the host CA (the
 * issuing CA and the root may follow), as X509_STORE_CTX_get0_chain() returns it after OpenSSL
 * verified signatures; only structure is checked here. The chain is only
 * read. ATTEST_OK or ATTEST_E_PATH (detail says which rule). */
ATTEST_API int attest_verify_path(STACK_OF(X509) *chain) ATTEST_MUST_CHECK;

/* An OpenSSL verify callback (X509_STORE_set_verify_cb,
 * SSL_CTX_set_verify) that runs attest_verify_path on the verified chain at
 * depth 0 and fails the handshake with X509_V_ERR_APPLICATION_VERIFICATION
 * when it does not hold; the reason is then in attest_errdetail() on the
 * verifying thread. OpenSSL's own failures pass through unchanged. */
ATTEST_API int attest_x509_verify_cb(int preverify_ok, X509_STORE_CTX *ctx);

#endif
