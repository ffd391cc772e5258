/* fuzz_x509.c - libFuzzer target for X.509 chains at decision time:
 *   libattest/decide/decide.c: attest_decide (its PEM chain parse, the
 *     path to the fleet root, validity windows, the agent CA's TPM
 *     evidence, scopes, intent, policy) with a decider whose fleet root is
 *     the fixture root (fz_root), whose fleet view knows host FZ_HOST
 *     (trusted, AK = the fixture AK) and every agent on it (approved), and
 *     a policy allowing "read" on "fuzz:*";
 *   libattest/x509/verify.c: attest_verify_path on the parsed chain (the
 *     structure rule alone, no signatures) and attest_x509_verify_cb under
 *     X509_verify_cert with the fixture root as the only anchor;
 *   libattest/x509/x509agent.c: attest_x509_one_san_uri,
 *     attest_agent_id_parse, attest_x509_ca_trust_domain,
 *     attest_x509_ext_utf8 / _octets / _intent, attest_x509_delegate_depth
 *     on every certificate; libattest/decide/agentev.c:
 *     attest_agent_ca_evidence against the fixture AK;
 *   libattest/x509/crl.c: attest_crl_bundle_parse on the same bytes (the
 *     CRLs a host's inventory report carries, issue 15), then
 *     attest_crl_bundle_check against the fixture root, host CA and agent
 *     CA at the input's time, and attest_crl_bundle_pem.
 * Input: 8 bytes big-endian Unix time (the clock of the decision and of
 *   the verification), then the PEM chain, leaf first (gen_corpus writes
 *   chains made by attest_x509_make_host_ca / _agent_ca / _leaf with the
 *   fixture keys, and their time).
 * Oracles besides the sanitizers: nothing verifies that the fixture did
 *   not sign: when attest_decide allows or X509_verify_cert with the path
 *   rule accepts, the host CA's key is the fixture host key, the agent CA's
 *   the fixture agent key, the leaf's signature verifies with the agent
 *   key (or with a session issuer signed by it) and the host CA's with the
 *   root key; an allowed decision names agent and host FZ_HOST; the
 *   decision is repeatable (a second call, now from the caches, agrees);
 *   a CRL bundle that checks has one CRL per CA, each verifying with its
 *   CA's (fixture) key, and printed it parses again to as many CRLs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>

#include "attest/decide.h"
#include "attest/policy.h"
#include "attest/verify.h"
#include "core/err.h"
#include "decide/agentev.h"
#include "fuzz_fixture.h"
#include "x509/crl.h"
#include "x509/x509agent.h"

#define POLICY                                                                              \
	"{\"version\":1,\"rules\":[{\"name\":\"fuzz-read\",\"effect\":\"allow\","         \
	"\"resources\":[\"fuzz:*\"],\"actions\":[\"read\"]}]}"

static struct attest_decider *decider;
static struct attest_policy *policy;
static struct attest_intent_trust *trust;
static uint8_t ak_bytes[sizeof(TPM2B_PUBLIC)];
static size_t ak_len;
static TPM2B_PUBLIC ak_pub;

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_x509: %s\n", what);
		abort();
	}
}

static int host_cb(void *arg, const char *host, struct attest_host_facts *out)
{
	(void)arg;
	if (strcmp(host, FZ_HOST) != 0)
		return ATTEST_E_NOT_FOUND;
	memset(out, 0, sizeof(*out));
	out->trusted = 1;
	out->last_good = FZ_NOW;
	out->ak = ak_bytes;
	out->ak_len = ak_len;
	return ATTEST_OK;
}

static int agent_cb(void *arg, const char *id, struct attest_agent_facts *out)
{
	(void)arg;
	memset(out, 0, sizeof(*out));
	out->approved = 1;
	snprintf(out->uuid, sizeof(out->uuid), "%s", FZ_AGENT_UUID);
	/* gen_corpus measures an agent as SHA-256 of its ID */
	if (EVP_Digest(id, strlen(id), out->measurement, NULL, EVP_sha256(), NULL) != 1)
		return ATTEST_E_CRYPTO;
	out->scopes = "fuzz.read fuzz.write";
	out->data_classes = "";
	return ATTEST_OK;
}

static const struct attest_facts facts = { host_cb, agent_cb, NULL };

static void setup(void)
{
	size_t off = 0;

	ak_len = fz_public_bytes(FZ_KEY_AK, ak_bytes, sizeof(ak_bytes));
	check(Tss2_MU_TPM2B_PUBLIC_Unmarshal(ak_bytes, ak_len, &off, &ak_pub) == TSS2_RC_SUCCESS,
	      "fixture AK");
	check(attest_policy_load(POLICY, strlen(POLICY), &policy) == ATTEST_OK, "policy");
	/* intent issuers: none (a leaf's intent cannot verify; intent chains
	 * have their own target) */
	check(attest_intent_trust_new(&trust) == ATTEST_OK &&
		      attest_intent_trust_set_root(trust, fz_root()) == ATTEST_OK,
	      "intent trust");
	check(attest_decider_new(fz_root(), trust, &facts, &decider) == ATTEST_OK, "decider");
	attest_decider_set_policy(decider, policy);
}

/* The key of c is k's public key. */
static int key_is(X509 *c, enum fz_key k)
{
	EVP_PKEY *pk = X509_get0_pubkey(c);

	return pk != NULL && EVP_PKEY_eq(pk, fz_pkey(k)) == 1;
}

/* What a chain that verified must be: made with the fixture keys. chain
 * is leaf first, in any order after it: it holds a host CA with the
 * fixture host key signed by the root key, an agent CA with the fixture
 * agent key signed by the host key, and the leaf is signed by the agent
 * key or by a session issuer the agent key signed. */
static void fixture_signed(STACK_OF(X509) *chain, const char *who)
{
	int n = sk_X509_num(chain), agent = -1, host = -1, leaf_ok = 0;
	X509 *leaf = sk_X509_value(chain, 0);

	for (int i = 1; i < n; i++) {
		X509 *c = sk_X509_value(chain, i);

		if (host < 0 && key_is(c, FZ_KEY_HOST) && X509_verify(c, fz_pkey(FZ_KEY_ROOT)) == 1)
			host = i;
		if (agent < 0 && key_is(c, FZ_KEY_AGENT) && X509_verify(c, fz_pkey(FZ_KEY_HOST)) == 1)
			agent = i;
	}
	if (agent > 0 && X509_verify(leaf, fz_pkey(FZ_KEY_AGENT)) == 1)
		leaf_ok = 1;
	for (int i = 1; i < n && !leaf_ok && agent > 0; i++) {
		X509 *c = sk_X509_value(chain, i);

		leaf_ok = i != agent && X509_verify(c, fz_pkey(FZ_KEY_AGENT)) == 1 &&
			  X509_verify(leaf, X509_get0_pubkey(c)) == 1;
	}
	ERR_clear_error();
	if (host < 0 || agent < 0 || !leaf_ok) {
		fprintf(stderr, "fuzz_x509: %s accepted a chain the fixture keys did not sign "
				"(host CA %d, agent CA %d, leaf %d)\n", who, host, agent, leaf_ok);
		abort();
	}
}

static STACK_OF(X509) *read_chain(const char *pem, size_t len)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509 *c;

	if (sk == NULL || b == NULL) {
		BIO_free(b);
		sk_X509_free(sk);
		return NULL;
	}
	while (sk_X509_num(sk) < ATTEST_DECIDE_CHAIN_MAX &&
	       (c = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (sk_X509_push(sk, c) <= 0)
			X509_free(c);
	ERR_clear_error();
	BIO_free(b);
	return sk;
}

/* Every extension parser of x509agent.c on one certificate. */
static void extensions(X509 *c)
{
	static const char *const utf8[] = { ATTEST_OID_AGENT_ID, ATTEST_OID_AGENT_UUID,
					    ATTEST_OID_TASK_ID, ATTEST_OID_SCOPES,
					    ATTEST_OID_DELEGATE_DEPTH };
	static const char *const octets[] = { ATTEST_OID_MEASUREMENT, ATTEST_OID_POLICY,
					      ATTEST_OID_CREATION, ATTEST_OID_CREATION_SIG };
	struct attest_agent_id aid;
	struct attest_agent_ca_info info;
	char *s = NULL, td[256];
	uint8_t *o = NULL;
	size_t olen = 0;
	int depth = -1;

	for (size_t i = 0; i < sizeof(utf8) / sizeof(utf8[0]); i++) {
		if (fz_note("attest_x509_ext_utf8", attest_x509_ext_utf8(c, utf8[i], &s)) ==
		    ATTEST_OK) {
			check(s != NULL && strlen(s) <= 1024, "UTF8String extension");
			if (i == 0)
				(void)fz_note("attest_agent_id_parse", attest_agent_id_parse(s, &aid));
		}
		free(s);
		s = NULL;
	}
	for (size_t i = 0; i < sizeof(octets) / sizeof(octets[0]); i++) {
		if (attest_x509_ext_octets(c, octets[i], 4096, &o, &olen) == ATTEST_OK)
			check(o != NULL && olen <= 4096, "OCTET STRING extension over its cap");
		free(o);
		o = NULL;
	}
	if (fz_note("attest_x509_ext_intent", attest_x509_ext_intent(c, &s)) == ATTEST_OK)
		check(strlen(s) <= ATTEST_INTENT_MAX, "intent over its cap");
	free(s);
	s = NULL;
	if (attest_x509_delegate_depth(c, &depth) == ATTEST_OK)
		check(depth >= 0 && depth <= 3, "delegate depth out of 0..3");
	if (fz_note("attest_x509_one_san_uri", attest_x509_one_san_uri(c, &s)) == ATTEST_OK) {
		check(s != NULL && strlen(s) > 0, "empty SAN URI");
		if (attest_agent_id_parse(s, &aid) == ATTEST_OK)
			check(aid.host[0] != '\0' && aid.name[0] != '\0', "agent ID without host");
	}
	free(s);
	if (attest_x509_ca_trust_domain(c, td) == ATTEST_OK)
		check(memchr(td, '\0', sizeof(td)) != NULL, "trust domain unterminated");
	memset(&info, 0, sizeof(info));
	if (fz_note("attest_agent_ca_evidence", attest_agent_ca_evidence(c, &ak_pub, &info)) ==
	    ATTEST_OK) {
		check(key_is(c, FZ_KEY_AGENT), "evidence verified for a key the fixture AK did not "
					       "certify");
		attest_agent_ca_info_clear(&info);
	}
	ERR_clear_error();
	attest_errclear();
}

/* OpenSSL's verification with attest_x509_verify_cb, the fixture root the
 * only anchor, at time now. */
static void openssl_verify(STACK_OF(X509) *chain, int64_t now)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	if (store == NULL || ctx == NULL || X509_STORE_add_cert(store, fz_root()) != 1)
		goto out;
	X509_STORE_set_verify_cb(store, attest_x509_verify_cb);
	if (X509_STORE_CTX_init(ctx, store, sk_X509_value(chain, 0), chain) != 1)
		goto out;
	X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
	ok = X509_verify_cert(ctx);
	(void)fz_note("X509_verify_cert + attest_x509_verify_cb", ok == 1 ? ATTEST_OK : ATTEST_E_PATH);
	if (ok == 1) {
		STACK_OF(X509) *v = X509_STORE_CTX_get1_chain(ctx);

		check(v != NULL, "verified chain");
		fixture_signed(v, "X509_verify_cert");
		sk_X509_pop_free(v, X509_free);
	}
out:
	ERR_clear_error();
	attest_errclear();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
}

/* The input as a host's CRL bundle (inventory reports, GET /v1/crl). */
static void crl_bundle(const char *pem, size_t len, int64_t now)
{
	static STACK_OF(X509) *cas;
	STACK_OF(X509_CRL) *sk = NULL, *again = NULL;
	char *out = NULL;
	size_t outlen = 0;

	if (cas == NULL) {
		X509 *hca = NULL, *aca = NULL;

		fz_agent_ca(&hca, &aca);
		check((cas = sk_X509_new_null()) != NULL && X509_up_ref(fz_root()) == 1 &&
			      sk_X509_push(cas, fz_root()) > 0 && sk_X509_push(cas, hca) > 0 &&
			      sk_X509_push(cas, aca) > 0,
		      "CRL fixture CAs");
	}
	if (fz_note("attest_crl_bundle_parse", attest_crl_bundle_parse(pem, len, &sk)) != ATTEST_OK)
		return;
	check(sk_X509_CRL_num(sk) > 0 && sk_X509_CRL_num(sk) <= ATTEST_CRL_BUNDLE_MAX,
	      "a CRL bundle outside its count");
	if (fz_note("attest_crl_bundle_check", attest_crl_bundle_check(sk, cas, (time_t)now)) ==
	    ATTEST_OK) {
		check(sk_X509_CRL_num(sk) <= sk_X509_num(cas), "more CRLs than CAs passed the check");
		for (int i = 0; i < sk_X509_CRL_num(sk); i++) {
			X509_CRL *crl = sk_X509_CRL_value(sk, i);
			int ok = 0;

			for (int j = 0; j < sk_X509_num(cas); j++)
				if (attest_crl_is_for(crl, sk_X509_value(cas, j)) &&
				    X509_CRL_verify(crl, X509_get0_pubkey(sk_X509_value(cas, j))) == 1)
					ok = 1;
			check(ok, "a CRL passed the check that no fixture CA signed");
		}
	}
	ERR_clear_error();
	if (fz_note("attest_crl_bundle_pem", attest_crl_bundle_pem(sk, &out, &outlen)) == ATTEST_OK) {
		check(attest_crl_bundle_parse(out, outlen, &again) == ATTEST_OK &&
			      sk_X509_CRL_num(again) == sk_X509_CRL_num(sk),
		      "a printed CRL bundle does not parse again alike");
		sk_X509_CRL_pop_free(again, X509_CRL_free);
	}
	free(out);
	sk_X509_CRL_pop_free(sk, X509_CRL_free);
	ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct attest_decision dec, again;
	struct attest_decide_req req;
	STACK_OF(X509) *chain;
	int64_t now = 0;
	int r, r2;

	if (decider == NULL)
		setup();
	if (size < 8)
		return 0;
	for (int i = 0; i < 8; i++)
		now = (int64_t)((uint64_t)now << 8 | data[i]);
	if (now <= 0)
		return 0;
	crl_bundle((const char *)data + 8, size - 8, now);
	memset(&req, 0, sizeof(req));
	req.pem = (const char *)data + 8;
	req.pem_len = size - 8;
	req.action = "read";
	req.resource = "fuzz:doc";
	req.now = now;
	attest_decider_flush(decider);
	r = fz_note("attest_decide", attest_decide(decider, &req, &dec));
	check(r == dec.reason && dec.allow == (r == ATTEST_OK), "decision out of step with its reason");
	r2 = attest_decide(decider, &req, &again);
	check(r2 == r && again.allow == dec.allow, "decision not repeatable from the caches");
	attest_errclear();

	if ((chain = read_chain(req.pem, req.pem_len)) == NULL)
		return 0;
	if (dec.allow) {
		check(strcmp(dec.host, FZ_HOST) == 0, "allowed an agent of another host");
		fixture_signed(chain, "attest_decide");
	}
	if (sk_X509_num(chain) > 0) {
		(void)fz_note("attest_verify_path", attest_verify_path(chain));
		attest_errclear();
		for (int i = 0; i < sk_X509_num(chain); i++)
			extensions(sk_X509_value(chain, i));
		openssl_verify(chain, now);
	}
	sk_X509_pop_free(chain, X509_free);
	return 0;
}
