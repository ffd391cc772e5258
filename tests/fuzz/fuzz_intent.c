/* fuzz_intent.c - libFuzzer target for libattest/intent/intent.c:
 *   attest_intent_verify on the input up to its first NUL (an intent chain:
 *   a grant JWS, '~', delegations with their x5c) against a trust store
 *   holding one issuer (the fixture host key as "idp.example") and no fleet
 *   root; attest_intent_from_cert on the bytes after the NUL as a DER
 *   certificate (the leaf's intent extension and URI SAN), whose chain is
 *   then verified too.
 * Oracles besides the sanitizers: nothing verifies unless it is a grant the
 *   fixture issuer signed for the fixed audience (only seeds made by
 *   gen_corpus are); a verified chain has 0..3 delegations and its
 *   accessors answer; a chain taken from a certificate is a NUL-terminated
 *   string within the token cap and its agent ID is non-empty.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "attest/intent.h"
#include "core/err.h"
#include "fuzz_fixture.h"

#define FZ_INTENT_AUD "spiffe://fleet.example/host/web-01/agent/fuzz"
#define FZ_INTENT_NOW 1700000100

static struct attest_intent_trust *trust;

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_intent: %s\n", what);
		abort();
	}
}

static void verify(const char *token)
{
	struct attest_intent_chain *c = NULL;

	if (fz_note("attest_intent_verify",
		    attest_intent_verify(trust, token, FZ_INTENT_AUD, FZ_INTENT_NOW, &c)) == ATTEST_OK) {
		check(c != NULL, "verified without a chain");
		check(attest_intent_chain_depth(c) <= 3, "more than 3 delegations");
		check(attest_intent_chain_user(c) != NULL && attest_intent_chain_jti(c) != NULL,
		      "verified chain without user or jti");
		check(strcmp(attest_intent_chain_issuer(c), "idp.example") == 0,
		      "verified under an issuer we do not trust");
		attest_intent_chain_free(c);
	} else {
		check(c == NULL, "a refused chain was returned");
	}
	attest_errclear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t tlen = nul != NULL ? (size_t)(nul - data) : size;
	char *token;

	if (trust == NULL) {
		check(attest_intent_trust_new(&trust) == ATTEST_OK, "trust");
		check(attest_intent_trust_add_issuer(trust, "idp.example", fz_pkey(FZ_KEY_HOST)) ==
			      ATTEST_OK,
		      "issuer");
	}
	if ((token = malloc(tlen + 1)) == NULL)
		return 0;
	memcpy(token, data, tlen);
	token[tlen] = '\0';
	verify(token);
	free(token);
	if (nul != NULL) {
		const unsigned char *p = nul + 1;
		X509 *leaf = d2i_X509(NULL, &p, (long)(size - tlen - 1));
		char *chain = NULL, *agent = NULL;

		if (leaf != NULL &&
		    fz_note("attest_intent_from_cert", attest_intent_from_cert(leaf, &chain, &agent)) ==
			    ATTEST_OK) {
			check(chain != NULL && agent != NULL && agent[0] != '\0',
			      "intent from a certificate without chain or agent");
			check(strlen(chain) <= ATTEST_INTENT_TOKEN_MAX, "chain over the cap");
			verify(chain);
		}
		attest_errclear();
		free(chain);
		free(agent);
		X509_free(leaf);
	}
	return 0;
}
