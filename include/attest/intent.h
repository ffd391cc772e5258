/* intent.h - intent grants and delegation chains (docs/intent.md).
 *
 * A user's intent grant (signed by a trusted intent issuer: the IdP, EHR or
 * ticketing app the human used) names the agent it is for, a purpose,
 * scopes and resource patterns. An agent may delegate to another agent with
 * a delegation token signed by its leaf key, carrying its certificate chain
 * (x5c) and the SHA-256 of its parent token. A chain is the grant and its
 * delegations joined with '~', so anyone holding the fleet root and the
 * trusted issuers' keys can verify it offline. Every hop can
 * only narrow: scopes, resources, expiry and remaining depth; the purpose
 * never changes.
 *
 * Tokens are JWS Compact Serialization with ES256 (RFC 7515/7518); a whole
 * chain is at most ATTEST_INTENT_TOKEN_MAX bytes. What is NOT checked here (the caller's
 * state): single use of a grant's jti, replay of a delegation nonce
 * (attest_intent_chain_nonce), revocation of the agents in the chain
 * (attest_intent_chain_agent), and whether the effective scopes are within
 * the presenting agent's registration. A delegator's registered
 * delegate_depth IS checked here, from its leaf (docs/x509.md .1.11).
 */
#ifndef ATTEST_INTENT_H
#define ATTEST_INTENT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/attest.h"

#define ATTEST_INTENT_TOKEN_MAX (16 * 1024) /* bytes of a whole chain */
#define ATTEST_INTENT_MAX_DEPTH 3           /* delegations after a grant */
#define ATTEST_INTENT_LIST_MAX 32           /* entries in scopes / resources */
#define ATTEST_INTENT_ITEM_MAX 256          /* bytes of one entry, of names and texts */

/* Purpose codes; the token carries the names ("TREATMENT", ...). */
enum attest_purpose {
	ATTEST_PURPOSE_TREATMENT = 1,
	ATTEST_PURPOSE_PAYMENT = 2,
	ATTEST_PURPOSE_OPERATIONS = 3,
	ATTEST_PURPOSE_RESEARCH = 4,
	ATTEST_PURPOSE_PUBLIC_HEALTH = 5,
	ATTEST_PURPOSE_OTHER = 6,
};

/* "TREATMENT" ... for a code, NULL for an unknown one. */
ATTEST_API const char *attest_purpose_name(enum attest_purpose p);

/* Claims of an intent grant. All strings are borrowed for the call. Times
 * are seconds since the epoch, 0..2^53. scopes/resources: up to
 * ATTEST_INTENT_LIST_MAX distinct entries of 1..ATTEST_INTENT_ITEM_MAX
 * printable ASCII bytes without spaces; a resource may end in '*' (and
 * contain no other '*'). */
struct attest_intent_claims {
	const char *sub; /* the user */
	const char *aud; /* the agent ID the grant is for */
	enum attest_purpose purpose;
	const char *purpose_text;
	const char *const *scopes;
	size_t nscopes;
	const char *const *resources;
	size_t nresources;
	const char *jti; /* task ID: 1..128 printable ASCII bytes */
	int64_t iat, nbf, exp; /* iat <= exp, nbf < exp */
	int max_depth; /* 0..ATTEST_INTENT_MAX_DEPTH delegations allowed */
};

/* Sign a grant as issuer `iss` with issuer_key (EC P-256 private key,
 * borrowed). For tests, demos and `attestctl intent issue`; a real issuer
 * is the IdP. *token is malloc'd, NUL-terminated, the caller's (free()).
 * ATTEST_E_INVALID_ARG for claims outside the rules above,
 * ATTEST_E_TOO_LARGE when the token would pass ATTEST_INTENT_TOKEN_MAX. */
ATTEST_API int attest_intent_grant_make(EVP_PKEY *issuer_key, const char *iss,
					const struct attest_intent_claims *c,
					char **token) ATTEST_MUST_CHECK;

/* What a delegator chooses; everything else comes from the parent token
 * and the delegator's leaf: iss = the leaf's URI SAN, purpose = the
 * parent's, depth = the parent's remaining depth - 1, a fresh 128-bit
 * nonce. Strings are borrowed for the call. */
struct attest_delegation_claims {
	const char *aud; /* the delegate's agent ID */
	const char *const *scopes; /* each one of the parent's scopes */
	size_t nscopes;
	const char *const *resources; /* each within one of the parent's patterns */
	size_t nresources;
	int64_t iat; /* within the leaf's validity, not before the parent's iat */
	int64_t exp; /* <= the parent's exp and the leaf's notAfter */
};

/* Delegate the intent of parent_token (a chain whose last token, the grant
 * or a delegation, is addressed to this agent) to c->aud, signing with leaf_key (the private key of
 * leaf_chain[0]). leaf_chain is the leaf first, then its issuers up to the
 * host CA; the fleet's issuing CA and a self-signed root at the end are
 * left out of x5c. All arguments
 * are borrowed. The parent is parsed and the narrowing rules are checked
 * (the codes are those of attest_intent_verify), but its signatures are
 * not verified: that is the verifier's work. *token (malloc'd, free()) is
 * the parent chain, '~', and the new delegation; ATTEST_E_TOO_LARGE when it
 * would pass ATTEST_INTENT_TOKEN_MAX. */
ATTEST_API int attest_intent_delegate(EVP_PKEY *leaf_key, STACK_OF(X509) *leaf_chain,
				      const char *parent_token,
				      const struct attest_delegation_claims *c,
				      char **token) ATTEST_MUST_CHECK;

/* ---- verification ---- */

/* Trusted intent issuers (name -> P-256 public key) and the fleet root
 * delegators' chains must verify to. Configure once, then share read-only
 * between threads. */
struct attest_intent_trust;

ATTEST_API int attest_intent_trust_new(struct attest_intent_trust **out) ATTEST_MUST_CHECK;
/* Takes its own reference to key (EC P-256 public or private key). name is
 * copied: 1..ATTEST_INTENT_ITEM_MAX printable ASCII bytes, unique
 * (ATTEST_E_EXISTS); at most 64 issuers. */
ATTEST_API int attest_intent_trust_add_issuer(struct attest_intent_trust *t, const char *name,
					      EVP_PKEY *key) ATTEST_MUST_CHECK;
/* Takes its own reference to the fleet root (replacing an earlier one). */
ATTEST_API int attest_intent_trust_set_root(struct attest_intent_trust *t,
					    X509 *fleet_root) ATTEST_MUST_CHECK;
/* An issuing CA of the fleet (a CA between the fleet root and the host
 * CAs: attest-provision's issuing/<serial>.pem, or the issuing-ca.pem an enrolled
 * host holds). A delegation's x5c ends at the host CA (the size budget),
 * so the verifier offers these to path building; they are not trust
 * anchors: every delegator's path must still end at the fleet root. Takes
 * its own reference; duplicates are ignored; at most 16
 * (ATTEST_E_TOO_LARGE). ATTEST_E_INVALID_ARG when ca is not a CA. */
ATTEST_API int attest_intent_trust_add_intermediate(struct attest_intent_trust *t,
						    X509 *ca) ATTEST_MUST_CHECK;
ATTEST_API void attest_intent_trust_free(struct attest_intent_trust *t);

/* A verified chain: a grant and 0..3 delegations. Read with the accessors;
 * the strings they return live as long as the chain. */
struct attest_intent_chain;

/* The intent chain a leaf certificate carries (its intent extension) and
 * the leaf's agent ID (its one URI SAN), both malloc'd (free()), for a
 * relying party to pass to attest_intent_verify. ATTEST_E_NOT_FOUND when
 * the leaf carries no intent, ATTEST_E_PARSE when the extension or the
 * SAN is malformed. The leaf's own chain is not checked here (the TLS
 * stack does that). */
ATTEST_API int attest_intent_from_cert(X509 *leaf, char **chain, char **agent_id) ATTEST_MUST_CHECK;

/* Verify token (a chain: a grant alone, or with its delegations), which the agent
 * expected_aud presents, at time now. On ATTEST_OK *out is the caller's
 * (attest_intent_chain_free). Otherwise *out is NULL, attest_errdetail()
 * says which hop failed and why, and the code is:
 *   ATTEST_E_TOO_LARGE          token (or a field) over its cap
 *   ATTEST_E_PARSE              not our format: JWS shape, base64url, header
 *                               (alg other than ES256, unknown field), payload
 *                               fields, trailing bytes
 *   ATTEST_E_DUPLICATE_KEY      a JSON object repeats a key
 *   ATTEST_E_INTENT_ISSUER      the grant's issuer is not trusted
 *   ATTEST_E_INTENT_SIGNATURE   a signature does not verify (the grant with
 *                               its issuer's key, a delegation with the x5c
 *                               leaf's key)
 *   ATTEST_E_INTENT_CHAIN       x5c does not verify to the fleet root as of
 *                               the hop's iat, breaks the path rule, its SAN
 *                               is not the hop's iss, or the parent is not
 *                               addressed to the hop's iss (splicing)
 *   ATTEST_E_INTENT_PURPOSE     a hop changed the purpose
 *   ATTEST_E_INTENT_DEPTH       more hops than the grant allows, a wrong
 *                               remaining depth, more than 3 delegations
 *   ATTEST_E_INTENT_WIDENED     a hop added a scope or widened a resource
 *   ATTEST_E_INTENT_LIFETIME    a hop expires after its parent or after its
 *                               delegator's leaf
 *   ATTEST_E_INTENT_EXPIRED     a token is expired or not yet valid at now,
 *                               or a hop was issued outside its parent's
 *                               validity
 *   ATTEST_E_INTENT_AUDIENCE    token is not addressed to expected_aud
 * t and token are only read. */
ATTEST_API int attest_intent_verify(const struct attest_intent_trust *t, const char *token,
				    const char *expected_aud, time_t now,
				    struct attest_intent_chain **out) ATTEST_MUST_CHECK;
ATTEST_API void attest_intent_chain_free(struct attest_intent_chain *c);

ATTEST_API const char *attest_intent_chain_user(const struct attest_intent_chain *c);
ATTEST_API const char *attest_intent_chain_issuer(const struct attest_intent_chain *c);
ATTEST_API const char *attest_intent_chain_jti(const struct attest_intent_chain *c);
/* The purpose code; *text (may be NULL) gets its text. */
ATTEST_API enum attest_purpose attest_intent_chain_purpose(const struct attest_intent_chain *c,
							   const char **text);
/* Delegations in the chain, 0..3. */
ATTEST_API unsigned attest_intent_chain_depth(const struct attest_intent_chain *c);
/* Delegations the last agent may still make (its hop's remaining depth). */
ATTEST_API unsigned attest_intent_chain_remaining(const struct attest_intent_chain *c);
/* Agent i (0..depth) in order: 0 is the grant's audience, i >= 1 the
 * audience of delegation i, so the last is expected_aud. *host (may be
 * NULL) gets its host name. NULL when i is out of range. */
ATTEST_API const char *attest_intent_chain_agent(const struct attest_intent_chain *c, unsigned i,
						 const char **host);
/* The nonce (base64url) of delegation i (1..depth), for replay tracking;
 * NULL when i is out of range. */
ATTEST_API const char *attest_intent_chain_nonce(const struct attest_intent_chain *c, unsigned i);
/* Effective scopes and resources (the last hop's); *out points into c. */
ATTEST_API size_t attest_intent_chain_scopes(const struct attest_intent_chain *c,
					     const char *const **out);
ATTEST_API size_t attest_intent_chain_resources(const struct attest_intent_chain *c,
						const char *const **out);
/* 1 when res is within the chain's effective resources (equal to one, or
 * prefixed by one ending in '*'; docs/intent.md) or the chain names none,
 * else 0. */
ATTEST_API int attest_intent_chain_allows_resource(const struct attest_intent_chain *c,
						   const char *res);
/* The minimum exp over all hops. */
ATTEST_API int64_t attest_intent_chain_expiry(const struct attest_intent_chain *c);
/* The user's grant's iat: when the intent was issued (a policy's
 * anomaly rule may ask for a fresh one, docs/policy.md). */
ATTEST_API int64_t attest_intent_chain_issued(const struct attest_intent_chain *c);
/* Readable multi-line text (user, purpose, task, each agent with its host,
 * scopes, resources, expiry in UTC); *out malloc'd (free()). */
ATTEST_API int attest_intent_chain_describe(const struct attest_intent_chain *c,
					    char **out) ATTEST_MUST_CHECK;

#endif
