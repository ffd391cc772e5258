/* mint.h - the privileged half of issuance: a typed order (the front
 * parsed the request, the CSR and the intent) checked against the
 * registration and the measured caller, then signed, spent and recorded.
 *
 * The monitor runs it for the front (monitor.c, over monproto.h), and
 * attestd --no-privsep calls it directly; nothing here parses JSON, X.509
 * or JWS from a peer: the leaf's key comes as DER SubjectPublicKeyInfo,
 * the intent as the token the front verified plus what the front read
 * from it (docs/privsep.md says what a compromised front can and cannot
 * get). */
#ifndef ATTESTD_MINT_H
#define ATTESTD_MINT_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"
#include "attest/intent.h"
#include "core/cursor.h"
#include "daemon.h"
#include "monproto.h"
#include "registry.h"
#include "server.h"
#include "x509/x509.h"
#include "x509/x509agent.h"

#define MINT_SCOPE_MAX 128 /* bytes of one scope (request.c valid_scope) */
#define MINT_TASK_MAX 128
#define MINT_SPKI_MAX 2048
#define MINT_ID_MAX 511
#define MINT_AGENTS_MAX (1 + ATTEST_INTENT_MAX_DEPTH)

struct mint_intent {
	const uint8_t *token; /* the chain the front verified, put in the leaf */
	size_t token_len;
	char scopes[AGENT_MAX_SCOPES][MINT_SCOPE_MAX + 1]; /* the chain's effective scopes */
	uint32_t nscopes;
	int64_t expiry;
	/* what must be single use: kind "jti" (issuer, jti) or "nonce" ("", nonce) */
	char marker_kind[8];
	char marker_iss[ATTEST_INTENT_ITEM_MAX + 1];
	char marker_value[ATTEST_INTENT_ITEM_MAX + 1];
	/* for the audit record and the delegators on this host */
	char user[ATTEST_INTENT_ITEM_MAX + 1];
	char purpose[ATTEST_INTENT_ITEM_MAX + 1];
	char purpose_text[ATTEST_INTENT_ITEM_MAX + 1];
	uint32_t depth;
	char agents[MINT_AGENTS_MAX][MINT_ID_MAX + 1]; /* 0..depth */
};

struct mint_order {
	char name[ATTEST_MAX_NAME + 1];
	uint8_t session; /* session mode (else strict) */
	uint8_t parent;  /* for the caller's parent ("parent": true) */
	uint8_t renew;   /* a renewal: the intent is not spent again */
	int64_t ttl;     /* -1: the agent's cap */
	char want[AGENT_MAX_SCOPES][MINT_SCOPE_MAX + 1]; /* none: see mint_scopes */
	uint32_t nwant;
	char task_id[MINT_TASK_MAX + 1]; /* "": none */
	/* DNS SANs asked for ("dns_names"): each must be in the agent's
	 * registered list (mint.c checks against its own registry) */
	char dns[AGENT_MAX_DNS][ATTEST_DNS_NAME_MAX + 1];
	uint32_t ndns;
	const uint8_t *spki; /* the leaf's public key */
	size_t spki_len;
	int has_intent;
	struct mint_intent in;
};

struct mint_result {
	char *chain; /* PEM: leaf, session issuer (session mode), agent CA, host CA */
	char id[MINT_ID_MAX + 1];
	long ttl;
	char scopes[ATTEST_SCOPES_MAX + 1];
	pid_t pid; /* the process measured */
};
void mint_result_clear(struct mint_result *res);

/* Check o against agent o->name's registration and the caller (peer, or
 * its parent), sign the leaf, spend the intent, record the issuance
 * (durable before the answer), and give the chain. */
int attestd_mint(struct attestd *d, const struct attestd_peer *peer, const struct mint_order *o,
		 struct mint_result *res) ATTEST_MUST_CHECK;
/* The agent whose session issuer o would have to make on the TPM (session
 * mode, registered, not revoked, no issuer valid for o's lifetime), else
 * NULL: the monitor has the renewal thread make it (renew.h) rather than
 * wait on the loop. Nothing is checked or changed here; attestd_mint
 * checks the whole order afterwards. */
struct agent *attestd_mint_wants_issuer(struct attestd *d, const struct mint_order *o);
/* attestd_mint's checks alone (registration, the measured caller, scopes,
 * intent, lifetime, the leaf's key), nothing changed: a request is parked
 * for its issuer only once its caller passed them (attestd_mint runs them
 * all again when it resumes). */
int attestd_mint_precheck(struct attestd *d, const struct attestd_peer *peer,
			  const struct mint_order *o) ATTEST_MUST_CHECK;
/* The agent's ID and a reference to its agent CA certificate (public), for
 * the front's intent and renewal checks. */
int attestd_agent_info(struct attestd *d, const char *name, char id[MINT_ID_MAX + 1],
		       X509 **agent_ca) ATTEST_MUST_CHECK;

/* The order and the result on the monitor channel (monproto.h). The order
 * read points into the message for spki and the intent token. */
void mint_order_put(struct mon_out *m, const struct mint_order *o);
int mint_order_get(struct attest_cur *c, struct mint_order *o) ATTEST_MUST_CHECK;
void mint_result_put(struct mon_out *m, const struct mint_result *res);
int mint_result_get(struct attest_cur *c, struct mint_result *res) ATTEST_MUST_CHECK;

#endif
