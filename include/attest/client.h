/* client.h - how an agent asks attestd for its certificate (docs/agents.md).
 *
 * The caller is identified by the kernel (SO_PEERCRED) and measured by
 * attestd through /proc: nothing in the request proves who the caller is.
 * Certificates live minutes; call again before notAfter to renew.
 */
#ifndef ATTEST_CLIENT_H
#define ATTEST_CLIENT_H

#include <stddef.h>

#include "attest/attest.h"

#define ATTEST_DEFAULT_SOCKET "/run/attestd/attestd.sock"
/* Bytes of a "renew" leaf PEM: a leaf with a 16 KiB intent chain and its issuers. */
#define ATTEST_RENEW_PEM_MAX (48 * 1024)

struct attest_cert_request {
	const char *agent;          /* registered agent name (required) */
	const char *mode;           /* "strict" (TPM signs the leaf) or "session"; NULL = strict */
	long ttl;                   /* seconds; 0 = the agent's maximum */
	/* subset of the registered scopes. scopes NULL: the field is left
	 * out and the leaf carries all registered scopes; scopes non-NULL
	 * with nscopes 0 sends [] and attestd refuses it (ATTEST_E_SCOPE) */
	const char *const *scopes;
	size_t nscopes;
	const char *task_id;        /* recorded in the leaf; may be NULL */
	const char *csr_pem;        /* PKCS#10 with our key; NULL = attestd makes a key */
	int for_parent;             /* tools only: measure our parent, not us (sent as
				       "parent": true; attestd pins the parent) */
	const char *intent;         /* intent chain: grant or delegation (docs/intent.md),
				       sent as "intent"; NULL = none */
	const char *renew_pem;      /* instead of intent: the current leaf (PEM, may
				       be followed by its issuers) whose intent is
				       renewed, sent as "renew"; NULL = none */
	/* DNS names for the leaf beside its SPIFFE ID, each registered for the
	 * agent (--dns-name at registration), sent as "dns_names"; attestd
	 * refuses the whole request if one is not (docs/protocol.md "issue").
	 * NULL / 0: none. */
	const char *const *dns_names;
	size_t ndns_names;
};

struct attest_cert {
	char *chain_pem; /* leaf first, then issuers up to (not including) the fleet root */
	char *key_pem;   /* the leaf's private key when attestd made it, else NULL */
	char *id;        /* the agent's SPIFFE ID */
};

/* Ask attestd at socket_path (NULL: ATTEST_DEFAULT_SOCKET). On a refusal the
 * daemon's code is returned and attest_errdetail() holds its reason.
 * *out is freed with attest_cert_free. */
ATTEST_API int attest_client_issue(const char *socket_path, const struct attest_cert_request *req,
				   struct attest_cert **out) ATTEST_MUST_CHECK;
ATTEST_API void attest_cert_free(struct attest_cert *c);

#endif
