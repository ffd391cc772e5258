/* intentx.h - intent verification with path-building help, for
 * libattest's own callers (decide.c). Not exported. */
#ifndef LIBATTEST_INTENTX_H
#define LIBATTEST_INTENTX_H

#include <time.h>

#include <openssl/x509.h>

#include "attest/intent.h"

/* attest_intent_verify, with `extra` (may be NULL) offered to path
 * building beside each delegation's x5c and the trust's intermediates:
 * the decider passes the verified issuers of the leaf being decided, so a
 * delegation from a host under the same issuing CA verifies even when the
 * relying party never configured that issuing CA. Only candidates: every
 * path still ends at the trust's fleet root. */
int attest_intent_verify_with(const struct attest_intent_trust *t, STACK_OF(X509) *extra,
			      const char *token, const char *expected_aud, time_t now,
			      struct attest_intent_chain **out) ATTEST_MUST_CHECK;

/* The trust's intermediates (attest_intent_trust_add_intermediate),
 * borrowed; NULL when none. The decider offers them to path building of
 * presented chains too, so a chain that left its issuing CA out still
 * reaches the fleet root. */
STACK_OF(X509) *attest_intent_trust_intermediates(const struct attest_intent_trust *t);

#endif
