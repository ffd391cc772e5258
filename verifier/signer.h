/* signer.h - the verifier's CA key holder (issue 12, docs/verifier.md "Key
 * custody").
 *
 * attest-verifier serve forks this small process before it opens its
 * store, its TLS key or a socket. The signer alone reads the fleet's
 * issuing CA key (CA_DIR/issuing/<serial>.key); the serving process, which
 * parses every HTTPS request, never opens a key file of the CA and holds
 * no CA private key in its memory. They talk over a socketpair
 * (SOCK_SEQPACKET: one message per request, lengths checked exactly):
 *
 *   request  u8 type = 1 (sign a host CA certificate)
 *            u8 host name length (1..63), the host name
 *            u16be length, TPM2B_PUBLIC of the host key (marshalled, exactly)
 *   reply    u32be code (ATTEST_OK or the error), u16be length, then the
 *            DER certificate (ATTEST_OK) or the error's detail text
 *
 *   request  u8 type = 2 (sign the issuing CA's CRL; issue 15 item 5)
 *            u16be count (0..ATTEST_CA_CRL_HOSTS_MAX), then per revoked
 *            host: u8 name length (1..63), the name
 *   reply    as above, the DER CRL
 *
 * For a CRL the signer runs attest_ca_issuing_crl: it lists the host CA
 * certificate its CA directory last recorded for each named host, with
 * its own times (VF_ISSUING_CRL_TTL) and number; the asker chooses which
 * hosts are revoked (the store is the serving process's), nothing else.
 *
 * For each request the signer runs attest_ca_sign_host: it re-checks, from
 * the CA directory, that the host is enrolled with exactly this key and
 * that its EK binding holds, and applies the CA's own profile (TTL,
 * extensions); the asker chooses nothing else. A request outside this set
 * (unknown type, a length that does not add up, trailing bytes, a message
 * over VF_SIGNER_REQ_MAX) is logged and the signer exits: the serving process notices
 * (SIGCHLD, or the closed socket) and stops, so that a restart brings both
 * back. The signer is not dumpable, has no core limit and dies with its
 * parent (PR_SET_PDEATHSIG).
 */
#ifndef VERIFIER_SIGNER_H
#define VERIFIER_SIGNER_H

#include <sys/types.h>

#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

#include "attest/attest.h"

#define VF_SIGNER_REQ_MAX (3 + 400 * 64) /* a CRL request naming 400 hosts */
#define VF_SIGNER_SIGN_HOST_CA 1
#define VF_SIGNER_ISSUING_CRL 2
#define VF_ISSUING_CRL_TTL (6 * 3600)

struct vf_signer {
	pid_t pid; /* the signer process, 0 when none */
	int fd;    /* our end of the socketpair, -1 when none */
	int dead;  /* the signer exited or broke the protocol */
};

/* Fork the signer for the fleet CA in ca_dir; it loads the current issuing
 * CA key and reports ready (or why not: a missing or mismatched key fails
 * here, at start). close_fd (>= 0) is closed in the child (the serving
 * process's lock). */
int vf_signer_start(const char *ca_dir, int close_fd, struct vf_signer *sg) ATTEST_MUST_CHECK;
/* Close our end and reap the signer (it exits on EOF). */
void vf_signer_stop(struct vf_signer *sg);
/* An attest_ca_sign_fn (enrol.h) asking the signer: arg is the struct
 * vf_signer. ATTEST_E_INTERNAL (and sg->dead set) when the signer is gone. */
int vf_signer_sign_host(void *arg, const char *host, const TPM2B_PUBLIC *key,
			X509 **out) ATTEST_MUST_CHECK;

/* The issuing CA's CRL listing the host CA certificates of the n revoked
 * hosts named (request type 2). *out is the caller's. */
int vf_signer_issuing_crl(struct vf_signer *sg, const char *const *hosts, size_t n,
			  X509_CRL **out) ATTEST_MUST_CHECK;

#endif
