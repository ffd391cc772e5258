/* fuzz_csr.c - libFuzzer target for the PEM an agent sends with "issue"
 * (attestd/reqparse.c, run by the unprivileged front):
 *   attestd_csr_key: the "csr" field, PEM PKCS#10, its proof of
 *     possession and key type;
 *   attestd_renewal_leaf: the "renew" field, the agent's current leaf (and
 *     its session issuer), verified to the agent's CA at a given time, its
 *     single URI SAN against the agent's ID and its intent extension.
 * Input: 8 bytes big-endian Unix time, the CSR PEM up to the first NUL,
 *   then the renewal PEM. The anchor is the fixture agent CA (fz_agent_ca,
 *   re-dated here to cover any seed's time: a trust anchor's own validity
 *   is not what is under test); agent ID FZ_AGENT_ID.
 * Oracles besides the sanitizers: nothing verifies that the fixture did
 *   not sign: an accepted CSR carries a fixture key (gen_corpus signs CSRs
 *   only with those), of an allowed type; an accepted renewal leaf is
 *   signed by the fixture agent key, directly or through a session issuer
 *   in the PEM that it signed (any of them: OpenSSL picks the issuer that
 *   verifies), names FZ_AGENT_ID, and the token returned is its intent
 *   extension byte for byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/err.h"
#include "fuzz_fixture.h"
#include "reqparse.h"
#include "x509/x509agent.h"

static X509 *anchor;

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_csr: %s\n", what);
		abort();
	}
}

static void setup(void)
{
	X509 *hca = NULL;

	fz_agent_ca(&hca, &anchor);
	check(ASN1_TIME_set(X509_getm_notBefore(anchor), FZ_ROOT_NOT_BEFORE) != NULL &&
		      ASN1_TIME_set(X509_getm_notAfter(anchor), FZ_ROOT_NOT_AFTER) != NULL &&
		      X509_sign(anchor, fz_pkey(FZ_KEY_HOST), EVP_sha256()) > 0,
	      "re-date the agent CA");
	X509_free(hca);
}

static int is_fixture_key(EVP_PKEY *k)
{
	for (int i = 0; i < FZ_KEY_COUNT; i++)
		if (EVP_PKEY_eq(k, fz_pkey((enum fz_key)i)) == 1)
			return 1;
	return 0;
}

static void csr(const char *pem, size_t len)
{
	EVP_PKEY *k = NULL;

	if (fz_note("attestd_csr_key", attestd_csr_key(pem, len, &k)) == ATTEST_OK) {
		check(k != NULL && is_fixture_key(k), "accepted a CSR no fixture key signed");
		check(EVP_PKEY_is_a(k, "EC") || (EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) >= 2048),
		      "accepted a key type outside the rule");
	} else {
		check(k == NULL, "refused CSR returned a key");
	}
	EVP_PKEY_free(k);
	ERR_clear_error();
	attest_errclear();
}

/* The leaf of an accepted renewal: signed by the agent key, or by a
 * certificate of the PEM (a session issuer) that the agent key signed. */
static void renewal_signed(const char *pem, const char *token)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *x, *leaf;
	char *ext = NULL;
	int ok;

	check(b != NULL && sk != NULL, "BIO");
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		check(sk_X509_push(sk, x) > 0, "push");
	check(sk_X509_num(sk) > 0, "accepted renewal without a leaf");
	leaf = sk_X509_value(sk, 0);
	ok = X509_verify(leaf, fz_pkey(FZ_KEY_AGENT)) == 1;
	for (int i = 1; i < sk_X509_num(sk) && !ok; i++) {
		X509 *c = sk_X509_value(sk, i);

		ok = X509_verify(c, fz_pkey(FZ_KEY_AGENT)) == 1 &&
		     X509_verify(leaf, X509_get0_pubkey(c)) == 1;
	}
	check(ok, "accepted a renewal leaf the fixture agent key did not sign");
	check(attest_x509_ext_intent(leaf, &ext) == ATTEST_OK && strcmp(ext, token) == 0,
	      "token is not the leaf's intent extension");
	free(ext);
	sk_X509_pop_free(sk, X509_free);
	BIO_free(b);
	ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul;
	size_t clen;
	int64_t now = 0;
	char *renew, *token = NULL;

	if (anchor == NULL)
		setup();
	if (size < 8)
		return 0;
	for (int i = 0; i < 8; i++)
		now = (int64_t)((uint64_t)now << 8 | data[i]);
	data += 8;
	size -= 8;
	nul = memchr(data, '\0', size);
	clen = nul != NULL ? (size_t)(nul - data) : size;
	csr((const char *)data, clen);
	if (nul == NULL || now <= 0)
		return 0;
	/* the field is a JSON string: NUL-terminated, no NUL inside */
	if ((renew = strndup((const char *)nul + 1, size - clen - 1)) == NULL)
		return 0;
	if (fz_note("attestd_renewal_leaf",
		    attestd_renewal_leaf("fz", FZ_AGENT_ID, anchor, renew, (time_t)now, &token)) ==
	    ATTEST_OK) {
		check(token != NULL, "accepted renewal without a token");
		renewal_signed(renew, token);
	} else {
		check(token == NULL, "refused renewal returned a token");
	}
	free(token);
	free(renew);
	ERR_clear_error();
	attest_errclear();
	return 0;
}
