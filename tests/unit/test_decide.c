/* test_decide.c - in-process point-of-use decisions (attest_decide): each
 * check with the code it denies with, on the cached and the uncached path.
 *
 * Software part: the fleet of testutil_intent.c (its agent CAs carry
 * creation evidence by per-host software AKs, so the evidence check passes
 * against the right AK) and an in-memory fleet view (testutil_decide.c).
 * TPM part: attestd on swtpm issues a real agent leaf chain; the evidence
 * check runs against the host's enrolled AK from the fleet CA, and fails
 * with the registration's UUID or measurement changed and with another
 * TPM's AK (a second swtpm with a new endorsement seed). Targets: attest_decider_*, attest_decide (libattest/decide/decide.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "attest/decide.h"
#include "attest/policy.h"
#include "enrol/enrol.h"
#include "tpm/tpm.h"
#include "tpm/tpmsw.h"
#include "x509/x509.h"
#include "testutil.h"
#include "testutil_daemon.h"
#include "testutil_decide.h"
#include "testutil_intent.h"

/* The fleet view (fx_view, a table the tests change) and the policy are
 * tests/unit/testutil_decide.c, shared with bench/bench_decide.c. */

static struct attest_policy *policy;

static struct attest_decider *decider(void)
{
	struct attest_decider *d = NULL;

	TU_ASSERT_ERR(attest_decider_new(fx.root, fx.trust, &fx_facts, &d), ATTEST_OK);
	CU_ASSERT_FATAL(d != NULL);
	attest_decider_set_policy(d, policy);
	return d;
}

/* Decide `action` on `resource` for chain at now; returns the reason and
 * checks it matches out.allow. */
static int decide_at(struct attest_decider *d, STACK_OF(X509) *chain, const char *action,
		     const char *resource, int64_t now, struct attest_decision *out)
{
	struct attest_decide_req req;
	struct attest_decision tmp;
	int r;

	if (out == NULL)
		out = &tmp;
	memset(&req, 0, sizeof(req));
	req.chain = chain;
	req.action = action;
	req.resource = resource;
	req.now = now;
	r = attest_decide(d, &req, out);
	CU_ASSERT_EQUAL(r, out->reason);
	CU_ASSERT_EQUAL(out->allow, r == ATTEST_OK);
	if (getenv("ATTEST_TEST_VERBOSE") != NULL)
		fprintf(stderr, "  decide: %s [%s] %s\n", attest_errname(r), out->rule, out->detail);
	return r;
}

#define NOTES "ehr:patient/123/notes/7"

static int decide(struct attest_decider *d, STACK_OF(X509) *chain)
{
	return decide_at(d, chain, "read", NOTES, fx.t0 + 5, NULL);
}

/* A's leaf with scopes (and an intent chain), in a chain. */
static STACK_OF(X509) *leaf_chain(const struct agent *ag, const char *scopes, const char *intent)
{
	X509 *leaf = make_leaf(ag, scopes, intent);
	STACK_OF(X509) *sk = chain_of(ag, leaf);

	X509_free(leaf);
	return sk;
}

static char *pem_of(STACK_OF(X509) *chain, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	CU_ASSERT_FATAL(b != NULL);
	for (int i = 0; i < sk_X509_num(chain); i++)
		CU_ASSERT_FATAL(PEM_write_bio_X509(b, sk_X509_value(chain, i)) == 1);
	n = BIO_get_mem_data(b, &p);
	out = malloc((size_t)n + 1);
	CU_ASSERT_FATAL(out != NULL);
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	*len = (size_t)n;
	BIO_free(b);
	return out;
}

/* ---- software fleet ---- */

static void test_allow(void)
{
	struct attest_decider *d;
	struct attest_decision out;
	STACK_OF(X509) *ch = leaf_chain(&fx.a, "ehr.read billing.read", NULL);
	struct attest_decide_req req;
	size_t len = 0;
	char *pem = pem_of(ch, &len);

	fx_view_up();
	d = decider();
	CU_ASSERT_EQUAL(attest_decider_leaf_lifetime(d), 0);
	TU_ASSERT_ERR(decide_at(d, ch, "read", NOTES, fx.t0 + 5, &out), ATTEST_OK);
	/* the leaf's notAfter - notBefore (make_leaf: ttl 1200), for the
	 * verifier's posture report (TTL at the cap) */
	CU_ASSERT_EQUAL(attest_decider_leaf_lifetime(d), 1200);
	CU_ASSERT_STRING_EQUAL(out.rule, "read-records");
	CU_ASSERT_STRING_EQUAL(out.agent, ID_A);
	CU_ASSERT_STRING_EQUAL(out.host, "web-01");
	CU_ASSERT_PTR_NULL(out.intent);
	/* again, from the cache; the facts are read again every time */
	fx_view.host_calls = 0;
	TU_ASSERT_ERR(decide(d, ch), ATTEST_OK);
	CU_ASSERT(fx_view.host_calls >= 1);
	/* explicit deny rule */
	TU_ASSERT_ERR(decide_at(d, ch, "delete", NOTES, fx.t0 + 5, &out), ATTEST_E_POLICY_DENY);
	CU_ASSERT_STRING_EQUAL(out.rule, "no-delete");
	/* default deny: no rule for the resource */
	TU_ASSERT_ERR(decide_at(d, ch, "read", "billing:account/9", fx.t0 + 5, &out),
		      ATTEST_E_NO_RULE);
	/* the same chain as PEM */
	memset(&req, 0, sizeof(req));
	req.pem = pem;
	req.pem_len = len;
	req.action = "read";
	req.resource = NOTES;
	req.now = fx.t0 + 5;
	TU_ASSERT_ERR(attest_decide(d, &req, &out), ATTEST_OK);
	TU_ASSERT_ERR(attest_decide(d, &req, &out), ATTEST_OK);
	CU_ASSERT_EQUAL(attest_decider_leaf_lifetime(d), 1200); /* from the cache */
	/* a chain that never parses: no leaf, no lifetime */
	req.pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
	req.pem_len = strlen(req.pem);
	CU_ASSERT_NOT_EQUAL(attest_decide(d, &req, &out), ATTEST_OK);
	CU_ASSERT_EQUAL(attest_decider_leaf_lifetime(d), 0);
	/* no policy: default deny, after the leaf was verified */
	attest_decider_set_policy(d, NULL);
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_NO_RULE);
	CU_ASSERT_EQUAL(attest_decider_leaf_lifetime(d), 1200);
	attest_decider_free(d);
	free(pem);
	sk_X509_pop_free(ch, X509_free);
}

/* A leaf with DNS SANs beside its SPIFFE ID (issue 14 item 5: an agent
 * that serves TLS) is decided as any other: the identity is the one URI;
 * one with a second URI is refused by the path rule. */
static void test_dns_names_leaf(void)
{
	static const char *const names[] = { "mcp.web-01.fleet.example" };
	struct attest_leaf_params lp;
	struct attest_signer as = signer(fx.a.ca_key);
	struct attest_decider *d;
	struct attest_decision out;
	STACK_OF(X509) *ch;
	X509 *leaf = NULL;

	memset(&lp, 0, sizeof(lp));
	lp.pub = fx.a.leaf_key;
	lp.ttl = 1200;
	lp.scopes = "ehr.read";
	lp.dns = names;
	lp.ndns = 1;
	TU_ASSERT_ERR(attest_x509_make_leaf(fx.a.ca, &lp, &as, &leaf), ATTEST_OK);
	CU_ASSERT_FATAL(leaf != NULL);
	{
		/* as a relying party gets it: parsed from the DER */
		unsigned char *der = NULL;
		const unsigned char *p;
		int n = i2d_X509(leaf, &der);
		X509 *rx;

		CU_ASSERT_FATAL(n > 0);
		p = der;
		rx = d2i_X509(NULL, &p, n);
		OPENSSL_free(der);
		CU_ASSERT_FATAL(rx != NULL);
		X509_free(leaf);
		leaf = rx;
	}
	ch = chain_of(&fx.a, leaf);
	fx_view_up();
	d = decider();
	TU_ASSERT_ERR(decide_at(d, ch, "read", NOTES, fx.t0 + 5, &out), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(out.agent, ID_A);
	CU_ASSERT_STRING_EQUAL(out.rule, "read-records");
	attest_decider_free(d);
	sk_X509_pop_free(ch, X509_free);
	X509_free(leaf);
}

/* The leaf cache is keyed by the certificates, not the PEM text: spelling
 * variants of one chain are one entry; and one caller (partition) flooding
 * distinct valid chains does not evict another's cached entry. */
static void test_cache_keys_and_shares(void)
{
	struct attest_decider *d;
	struct attest_decision out;
	STACK_OF(X509) *ch = leaf_chain(&fx.a, "ehr.read", NULL);
	struct attest_decide_req req;
	size_t len = 0, vlen = 0;
	char *pem = pem_of(ch, &len), *variant = malloc(2 * len + 8);
	uint64_t hits = 0, misses = 0;
	const char *p;
	/* the clock, not fx.t0: the flood below makes leaves (notBefore =
	 * their making - 60 s) for as long as it takes, minutes under ASan */
	int64_t t = (int64_t)time(NULL);

	CU_ASSERT_FATAL(variant != NULL);
	/* CRLF line ends, blank lines before, between and after */
	variant[vlen++] = '\n';
	for (p = pem; *p != '\0'; p++) {
		if (*p == '\n') {
			variant[vlen++] = '\r';
			if (p > pem && p[-1] == '-')
				variant[vlen++] = '\n';
		}
		variant[vlen++] = *p;
	}
	variant[vlen] = '\0';
	fx_view_up();
	d = decider();
	/* 1024 entries: the flood below is four times that */
	TU_ASSERT_ERR(attest_decider_set_cache(d, 1024, 1024), ATTEST_OK);
	memset(&req, 0, sizeof(req));
	req.action = "read";
	req.resource = NOTES;
	req.now = t;
	req.partition = 1;
	req.pem = pem;
	req.pem_len = len;
	TU_ASSERT_ERR(attest_decide(d, &req, &out), ATTEST_OK);
	req.pem = variant;
	req.pem_len = vlen;
	TU_ASSERT_ERR(attest_decide(d, &req, &out), ATTEST_OK);
	attest_decider_cache_stats(d, &hits, &misses);
	CU_ASSERT_EQUAL(misses, 1);
	CU_ASSERT_EQUAL(hits, 1);
	/* partition 2 floods: four times the entries in fresh leaves */
	req.partition = 2;
	req.pem = NULL;
	req.pem_len = 0;
	for (int i = 0; i < 4096; i++) {
		X509 *leaf = make_leaf(&fx.a, "ehr.read", NULL);

		req.chain = chain_of(&fx.a, leaf);
		req.now = (int64_t)time(NULL);
		X509_free(leaf);
		TU_ASSERT_ERR(attest_decide(d, &req, &out), ATTEST_OK);
		sk_X509_pop_free(req.chain, X509_free);
	}
	req.chain = NULL;
	req.now = t;
	/* partition 1's entry is still there */
	req.partition = 1;
	req.pem = pem;
	req.pem_len = len;
	attest_decider_cache_stats(d, &hits, &misses);
	TU_ASSERT_ERR(attest_decide(d, &req, &out), ATTEST_OK);
	{
		uint64_t h2 = 0, m2 = 0;

		attest_decider_cache_stats(d, &h2, &m2);
		CU_ASSERT_EQUAL(h2, hits + 1);
		CU_ASSERT_EQUAL(m2, misses);
	}
	attest_decider_free(d);
	free(variant);
	free(pem);
	sk_X509_pop_free(ch, X509_free);
}

/* Issue 17: the caches are set-associative with LRU and sized by
 * configuration. With 8 entries each (one set of 8 ways), nine agents
 * (nine agent CAs) decided in turn evict leaves and issuers; every
 * decision stays right, a revocation denies on the cached path and after
 * eviction, a new host AK re-checks the evidence of a re-verified issuer,
 * and the least recently used leaf is the one replaced. */
static void test_cache_eviction(void)
{
	struct agent extra[6];
	const struct agent *ags[9];
	STACK_OF(X509) *ch[9], *la[9];
	struct attest_decider *d;
	struct attest_decider_cache_info ci, c2;
	char id[128];
	uint8_t ak[sizeof(TPM2B_PUBLIC)];
	size_t n = 0;

	fx_view_up();
	for (int i = 0; i < 6; i++) {
		snprintf(id, sizeof(id), "spiffe://" TD "/host/web-01/agent/extra%d", i);
		make_agent(&extra[i], fx.hca1, fx.h1, fx.ak1, id, 3);
		fx_view_add_agent(id, FX_UUID, extra[i].measurement);
	}
	ags[0] = &fx.a;
	ags[1] = &fx.b;
	ags[2] = &fx.c;
	for (int i = 0; i < 6; i++)
		ags[3 + i] = &extra[i];
	for (int i = 0; i < 9; i++) {
		ch[i] = leaf_chain(ags[i], "ehr.read", NULL);
		la[i] = leaf_chain(&fx.a, "ehr.read", NULL); /* nine leaves of one agent CA */
	}
	d = decider();
	TU_ASSERT_ERR(attest_decider_set_cache(d, 7, 8), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(attest_decider_set_cache(d, 8, (size_t)1 << 21), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(attest_decider_set_cache(d, 8, 8), ATTEST_OK);
	attest_decider_cache_info(d, &ci);
	CU_ASSERT_EQUAL(ci.leaf_entries, 8);
	CU_ASSERT_EQUAL(ci.issuer_entries, 8);

	/* nine agents, three rounds: all allowed, entries evicted */
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 9; i++)
			TU_ASSERT_ERR(decide(d, ch[i]), ATTEST_OK);
	attest_decider_cache_info(d, &ci);
	CU_ASSERT(ci.leaf_evictions > 0);
	CU_ASSERT(ci.issuer_evictions > 0);
	CU_ASSERT(ci.leaf_used <= 8 && ci.issuer_used <= 8);
	CU_ASSERT_EQUAL(ci.leaf_hits + ci.leaf_misses, 27);
	/* policy still applies on evicted and re-verified entries */
	TU_ASSERT_ERR(decide_at(d, ch[4], "delete", NOTES, fx.t0 + 5, NULL), ATTEST_E_POLICY_DENY);

	/* revocation: on the cached path, then after the entry was evicted */
	TU_ASSERT_ERR(decide(d, ch[5]), ATTEST_OK);
	attest_decider_cache_info(d, &ci);
	fx_agent_row("spiffe://" TD "/host/web-01/agent/extra2")->revoked = 1;
	TU_ASSERT_ERR(decide(d, ch[5]), ATTEST_E_REVOKED);
	attest_decider_cache_info(d, &c2);
	CU_ASSERT_EQUAL(c2.leaf_hits, ci.leaf_hits + 1); /* it was the cached path */
	for (int i = 0; i < 9; i++)
		if (i != 5)
			(void)decide(d, ch[i]);
	attest_decider_cache_info(d, &ci);
	TU_ASSERT_ERR(decide(d, ch[5]), ATTEST_E_REVOKED);
	fx_agent_row("spiffe://" TD "/host/web-01/agent/extra2")->revoked = 0;
	TU_ASSERT_ERR(decide(d, ch[5]), ATTEST_OK);

	/* web-01 re-enrolled with another AK: evidence fails for a CA whose
	 * issuer entry was evicted and for one still cached alike */
	fx_ak_public(fx.ak2, ak, sizeof(ak), &n);
	memcpy(fx_host_row("web-01")->ak, ak, n);
	fx_host_row("web-01")->ak_len = n;
	for (int i = 0; i < 9; i++)
		if (i != 1) /* B is on db-01 */
			TU_ASSERT_ERR(decide(d, ch[i]), ATTEST_E_AGENT_EVIDENCE);
	TU_ASSERT_ERR(decide(d, ch[1]), ATTEST_OK);
	fx_view_up();
	attest_decider_free(d);

	/* LRU within the set: eight leaves of A fill it; the first is used
	 * again, so the ninth replaces the second */
	d = decider();
	TU_ASSERT_ERR(attest_decider_set_cache(d, 8, 8), ATTEST_OK);
	for (int i = 0; i < 8; i++)
		TU_ASSERT_ERR(decide(d, la[i]), ATTEST_OK);
	TU_ASSERT_ERR(decide(d, la[0]), ATTEST_OK);
	TU_ASSERT_ERR(decide(d, la[8]), ATTEST_OK);
	attest_decider_cache_info(d, &ci);
	TU_ASSERT_ERR(decide(d, la[0]), ATTEST_OK);
	attest_decider_cache_info(d, &c2);
	CU_ASSERT_EQUAL(c2.leaf_hits, ci.leaf_hits + 1);
	TU_ASSERT_ERR(decide(d, la[1]), ATTEST_OK);
	attest_decider_cache_info(d, &ci);
	CU_ASSERT_EQUAL(ci.leaf_misses, c2.leaf_misses + 1);
	CU_ASSERT_EQUAL(ci.leaf_evictions, 2);
	CU_ASSERT_EQUAL(ci.issuer_misses, 1); /* one agent CA, verified once */
	attest_decider_free(d);

	for (int i = 0; i < 9; i++) {
		sk_X509_pop_free(ch[i], X509_free);
		sk_X509_pop_free(la[i], X509_free);
	}
	for (int i = 0; i < 6; i++)
		free_agent(&extra[i]);
}

static void test_foreign_root(void)
{
	struct attest_decider *d;

	fx_view_up();
	d = decider();
	/* A's ID, a chain from another fleet root */
	TU_ASSERT_ERR(decide(d, fx.foreign.chain), ATTEST_E_CHAIN_UNTRUSTED);
	/* our leaf presented with the other root's host CA */
	{
		STACK_OF(X509) *ch = sk_X509_new_null();

		CU_ASSERT_FATAL(ch != NULL);
		X509_add_cert(ch, fx.a.leaf, X509_ADD_FLAG_UP_REF);
		X509_add_cert(ch, fx.foreign.ca, X509_ADD_FLAG_UP_REF);
		X509_add_cert(ch, fx.hca_other, X509_ADD_FLAG_UP_REF);
		TU_ASSERT_ERR(decide(d, ch), ATTEST_E_CHAIN_UNTRUSTED);
		sk_X509_pop_free(ch, X509_free);
	}
	/* and after A's real chain cached its issuer */
	TU_ASSERT_ERR(decide(d, fx.a.chain), ATTEST_E_NO_RULE); /* no scopes on fx.a.leaf */
	TU_ASSERT_ERR(decide(d, fx.foreign.chain), ATTEST_E_CHAIN_UNTRUSTED);
	attest_decider_free(d);
}

static void test_validity(void)
{
	struct attest_decider *d;
	STACK_OF(X509) *ch = leaf_chain(&fx.a, "ehr.read", NULL);
	STACK_OF(X509) *ch2 = leaf_chain(&fx.a, "ehr.read", NULL);

	fx_view_up();
	/* first sight: expired (leaf notAfter ~ t0 + 1140), not yet valid */
	d = decider();
	TU_ASSERT_ERR(decide_at(d, ch, "read", NOTES, fx.t0 + 1200, NULL), ATTEST_E_CERT_EXPIRED);
	attest_decider_free(d);
	d = decider();
	TU_ASSERT_ERR(decide_at(d, ch, "read", NOTES, fx.t0 - 120, NULL), ATTEST_E_CERT_EXPIRED);
	attest_decider_free(d);
	/* cached leaf: allowed, then later and earlier */
	d = decider();
	TU_ASSERT_ERR(decide(d, ch), ATTEST_OK);
	TU_ASSERT_ERR(decide_at(d, ch, "read", NOTES, fx.t0 + 1200, NULL), ATTEST_E_CERT_EXPIRED);
	TU_ASSERT_ERR(decide_at(d, ch, "read", NOTES, fx.t0 - 120, NULL), ATTEST_E_CERT_EXPIRED);
	TU_ASSERT_ERR(decide(d, ch), ATTEST_OK);
	/* a new leaf under the cached issuer, past its notAfter */
	TU_ASSERT_ERR(decide_at(d, ch2, "read", NOTES, fx.t0 + 1200, NULL), ATTEST_E_CERT_EXPIRED);
	/* past the host CA's (t0 + 7200) too */
	TU_ASSERT_ERR(decide_at(d, ch2, "read", NOTES, fx.t0 + 8000, NULL), ATTEST_E_CERT_EXPIRED);
	attest_decider_free(d);
	sk_X509_pop_free(ch2, X509_free);
	sk_X509_pop_free(ch, X509_free);
}

/* A leaf under A's agent CA whose SAN is C's ID, signed by A's CA key. */
static X509 *leaf_with_san(const char *uri)
{
	X509 *f = X509_dup(fx.a.leaf);
	GENERAL_NAMES *gns = GENERAL_NAMES_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();
	int i;

	CU_ASSERT_FATAL(f != NULL && gns != NULL && gn != NULL && s != NULL);
	CU_ASSERT_FATAL(ASN1_STRING_set(s, uri, (int)strlen(uri)) == 1);
	GENERAL_NAME_set0_value(gn, GEN_URI, s);
	CU_ASSERT_FATAL(sk_GENERAL_NAME_push(gns, gn) > 0);
	i = X509_get_ext_by_NID(f, NID_subject_alt_name, -1);
	CU_ASSERT_FATAL(i >= 0);
	X509_EXTENSION_free(X509_delete_ext(f, i));
	CU_ASSERT_FATAL(X509_add1_ext_i2d(f, NID_subject_alt_name, gns, 0, X509V3_ADD_DEFAULT) == 1);
	GENERAL_NAMES_free(gns);
	CU_ASSERT_FATAL(X509_sign(f, fx.a.ca_key, EVP_sha256()) > 0);
	return f;
}

static void test_other_agents_id(void)
{
	struct attest_decider *d;
	X509 *f = leaf_with_san(ID_C);
	STACK_OF(X509) *ch = chain_of(&fx.a, f);

	fx_view_up();
	d = decider();
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_PATH);
	/* again with A's issuer already cached (the path rule on the cached path) */
	TU_ASSERT_ERR(decide(d, fx.a.chain), ATTEST_E_NO_RULE);
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_PATH);
	attest_decider_free(d);
	sk_X509_pop_free(ch, X509_free);
	X509_free(f);
}

static void test_fleet_view(void)
{
	struct attest_decider *d;
	STACK_OF(X509) *ch = leaf_chain(&fx.a, "ehr.read", NULL);
	uint8_t ak[sizeof(TPM2B_PUBLIC)];
	size_t n = 0;

	fx_view_up();
	d = decider();
	/* unknown host (first sight), then unknown on the cached path */
	snprintf(fx_host_row("web-01")->name, 64, "web-99");
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_HOST_UNKNOWN);
	snprintf(fx_host_row("web-99")->name, 64, "web-01");
	TU_ASSERT_ERR(decide(d, ch), ATTEST_OK);
	snprintf(fx_host_row("web-01")->name, 64, "web-99");
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_HOST_UNKNOWN);
	snprintf(fx_host_row("web-99")->name, 64, "web-01");
	/* revoked host and agent deny a cached leaf at once */
	fx_host_row("web-01")->revoked = 1;
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_REVOKED);
	fx_host_row("web-01")->revoked = 0;
	fx_agent_row(ID_A)->revoked = 1;
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_REVOKED);
	fx_agent_row(ID_A)->revoked = 0;
	TU_ASSERT_ERR(decide(d, ch), ATTEST_OK);
	/* unknown agent */
	snprintf(fx_agent_row(ID_A)->id, 400, "%s", "spiffe://fleet.example/host/web-01/agent/gone");
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_AGENT_UNKNOWN);
	snprintf(fx_agent_row("spiffe://fleet.example/host/web-01/agent/gone")->id, 400, "%s", ID_A);
	/* awaiting approval */
	fx_agent_row(ID_A)->approved = 0;
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_NOT_APPROVED);
	fx_agent_row(ID_A)->approved = 1;
	/* host not attested as trusted */
	fx_host_row("web-01")->trusted = 0;
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_HOST_UNTRUSTED);
	fx_host_row("web-01")->trusted = 1;
	/* last good quote older than the policy's 300 s, and never */
	fx_host_row("web-01")->last_good = fx.t0 - 1000;
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_HOST_STALE);
	fx_host_row("web-01")->last_good = 0;
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_HOST_STALE);
	fx_host_row("web-01")->last_good = fx.t0 - 10;
	TU_ASSERT_ERR(decide(d, ch), ATTEST_OK);
	/* the evidence against another host's AK: also on a cached issuer */
	fx_ak_public(fx.ak2, ak, sizeof(ak), &n);
	memcpy(fx_host_row("web-01")->ak, ak, n);
	fx_host_row("web-01")->ak_len = n;
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_AGENT_EVIDENCE);
	attest_decider_free(d);
	d = decider();
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_AGENT_EVIDENCE);
	fx_host_row("web-01")->ak_len = 0;
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_AGENT_EVIDENCE);
	attest_decider_free(d);
	/* the registration's UUID or measurement is not the agent CA's */
	fx_view_up();
	d = decider();
	fx_agent_row(ID_A)->uuid[0] = '0';
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_AGENT_EVIDENCE);
	snprintf(fx_agent_row(ID_A)->uuid, 40, "%s", FX_UUID);
	TU_ASSERT_ERR(decide(d, ch), ATTEST_OK);
	fx_agent_row(ID_A)->measurement[31] ^= 1;
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_AGENT_EVIDENCE);
	attest_decider_free(d);
	sk_X509_pop_free(ch, X509_free);
}

static void test_intent_failures(void)
{
	struct attest_decider *d;
	struct attest_intent_claims c = claims(ID_A, 1);
	char *rogue = NULL, *for_c = grant(ID_C, 1), *short_g;
	STACK_OF(X509) *ch;

	fx_view_up();
	d = decider();
	/* a grant by an untrusted issuer */
	TU_ASSERT_ERR(attest_intent_grant_make(fx.rogue, "rogue.example", &c, &rogue), ATTEST_OK);
	ch = leaf_chain(&fx.a, "ehr.read", rogue);
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_INTENT_ISSUER);
	sk_X509_pop_free(ch, X509_free);
	/* a grant for C carried by A's leaf */
	ch = leaf_chain(&fx.a, "ehr.read", for_c);
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_INTENT_AUDIENCE);
	sk_X509_pop_free(ch, X509_free);
	/* a grant that expires before the leaf: first sight and cached */
	c.exp = fx.t0 + 600;
	short_g = grant_with(&c);
	ch = leaf_chain(&fx.a, "ehr.read", short_g);
	TU_ASSERT_ERR(decide(d, ch), ATTEST_OK);
	TU_ASSERT_ERR(decide_at(d, ch, "read", NOTES, fx.t0 + 700, NULL), ATTEST_E_INTENT_EXPIRED);
	attest_decider_free(d);
	d = decider();
	TU_ASSERT_ERR(decide_at(d, ch, "read", NOTES, fx.t0 + 700, NULL), ATTEST_E_INTENT_EXPIRED);
	attest_decider_free(d);
	sk_X509_pop_free(ch, X509_free);
	free(short_g);
	free(for_c);
	free(rogue);
}

/* A -> B, B's leaf carrying the chain. */
static void test_delegation(void)
{
	struct attest_decider *d;
	struct attest_decision out;
	struct attest_delegation_claims c1 = dclaims(ID_B, s_read_bill, 2, r_notes, 1);
	char *g = grant(ID_A, 1), *d1 = delegate(&fx.a, g, &c1);
	STACK_OF(X509) *ch = leaf_chain(&fx.b, "ehr.read billing.read", d1);

	fx_view_up();
	d = decider();
	TU_ASSERT_ERR(decide_at(d, ch, "read", NOTES, fx.t0 + 5, &out), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(out.agent, ID_B);
	CU_ASSERT_STRING_EQUAL(out.host, "db-01");
	CU_ASSERT_FATAL(out.intent != NULL);
	CU_ASSERT_EQUAL(attest_intent_chain_depth(out.intent), 1);
	CU_ASSERT_STRING_EQUAL(attest_intent_chain_user(out.intent), USER);
	/* a resource outside the chain's (ehr:patient/123/notes/...) */
	TU_ASSERT_ERR(decide_at(d, ch, "read", "ehr:patient/999/record", fx.t0 + 5, NULL),
		      ATTEST_E_SCOPE);
	/* the delegator revoked, its host revoked, the delegator unknown */
	fx_agent_row(ID_A)->revoked = 1;
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_REVOKED);
	fx_agent_row(ID_A)->revoked = 0;
	fx_host_row("web-01")->revoked = 1;
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_REVOKED);
	fx_host_row("web-01")->revoked = 0;
	TU_ASSERT_ERR(decide(d, ch), ATTEST_OK);
	/* the delegate's own host attested too long ago */
	fx_host_row("db-01")->last_good = fx.t0 - 1000;
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_HOST_STALE);
	attest_decider_free(d);
	sk_X509_pop_free(ch, X509_free);
	free(d1);
	free(g);
}

/* ehr.read must survive the leaf, the registration and the intent chain. */
static void test_effective_scopes(void)
{
	struct attest_decider *d;
	struct attest_delegation_claims all = dclaims(ID_B, s_read_bill, 2, r_notes, 1);
	struct attest_delegation_claims bill = dclaims(ID_B, &s_read_bill[1], 1, r_notes, 1);
	char *g = grant(ID_A, 1), *d_all = delegate(&fx.a, g, &all), *d_bill = delegate(&fx.a, g, &bill);
	STACK_OF(X509) *ok = leaf_chain(&fx.b, "ehr.read billing.read", d_all);
	STACK_OF(X509) *no_leaf = leaf_chain(&fx.b, "billing.read", d_all);
	STACK_OF(X509) *no_chain = leaf_chain(&fx.b, "ehr.read billing.read", d_bill);
	STACK_OF(X509) *no_intent = leaf_chain(&fx.b, "ehr.read", NULL);
	STACK_OF(X509) *none = leaf_chain(&fx.b, NULL, NULL);

	fx_view_up();
	d = decider();
	TU_ASSERT_ERR(decide(d, ok), ATTEST_OK);
	TU_ASSERT_ERR(decide(d, no_intent), ATTEST_OK);
	TU_ASSERT_ERR(decide(d, no_leaf), ATTEST_E_NO_RULE);
	TU_ASSERT_ERR(decide(d, no_chain), ATTEST_E_NO_RULE);
	TU_ASSERT_ERR(decide(d, none), ATTEST_E_NO_RULE);
	snprintf(fx_agent_row(ID_B)->scopes, 256, "billing.read ehr.write");
	TU_ASSERT_ERR(decide(d, ok), ATTEST_E_NO_RULE);
	TU_ASSERT_ERR(decide(d, no_intent), ATTEST_E_NO_RULE);
	snprintf(fx_agent_row(ID_B)->scopes, 256, "ehr.read");
	TU_ASSERT_ERR(decide(d, ok), ATTEST_OK);
	attest_decider_free(d);
	sk_X509_pop_free(none, X509_free);
	sk_X509_pop_free(no_intent, X509_free);
	sk_X509_pop_free(no_chain, X509_free);
	sk_X509_pop_free(no_leaf, X509_free);
	sk_X509_pop_free(ok, X509_free);
	free(d_bill);
	free(d_all);
	free(g);
}

/* Facts as a server keeps them: every agent's scopes written into one
 * buffer (borrowed until the next callback, as decide.h says). */
static char shared_scopes[256];

static int shared_agent_cb(void *arg, const char *id, struct attest_agent_facts *out)
{
	int r = fx_facts.agent(arg, id, out);

	if (r == ATTEST_OK) {
		snprintf(shared_scopes, sizeof(shared_scopes), "%s", out->scopes);
		out->scopes = shared_scopes;
	}
	return r;
}

/* issue 17: the caller's scopes are its own registration's, not its
 * delegator's, when the facts reuse one buffer per callback. */
static void test_delegate_scopes_own(void)
{
	const struct attest_facts shared = {fx_facts.host, shared_agent_cb, NULL};
	struct attest_decider *d = NULL;
	struct attest_delegation_claims c1 = dclaims(ID_B, s_read_bill, 2, r_notes, 1);
	char *g = grant(ID_A, 1), *d1 = delegate(&fx.a, g, &c1);
	STACK_OF(X509) *ch = leaf_chain(&fx.b, "ehr.read billing.read", d1);

	fx_view_up();
	TU_ASSERT_ERR(attest_decider_new(fx.root, fx.trust, &shared, &d), ATTEST_OK);
	attest_decider_set_policy(d, policy);
	TU_ASSERT_ERR(decide(d, ch), ATTEST_OK);
	/* B's registration loses ehr.read; its delegator A keeps it */
	snprintf(fx_agent_row(ID_B)->scopes, 256, "billing.read ehr.write");
	TU_ASSERT_ERR(decide(d, ch), ATTEST_E_NO_RULE);
	attest_decider_free(d);
	sk_X509_pop_free(ch, X509_free);
	free(d1);
	free(g);
}

/* issue 17: a host's leaves forgotten, the others' kept. */
static void test_forget_host(void)
{
	struct attest_decider *d;
	struct attest_decider_cache_info ci, cj;
	STACK_OF(X509) *a = leaf_chain(&fx.a, "ehr.read", NULL);
	STACK_OF(X509) *b = leaf_chain(&fx.b, "ehr.read", NULL);
	struct attest_decision out;

	fx_view_up();
	d = decider();
	TU_ASSERT_ERR(decide_at(d, a, "read", NOTES, fx.t0 + 5, &out), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(out.host, "web-01");
	TU_ASSERT_ERR(decide_at(d, b, "read", NOTES, fx.t0 + 5, &out), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(out.host, "db-01");
	attest_decider_cache_info(d, &ci);
	CU_ASSERT_EQUAL(ci.leaf_used, 2);
	attest_decider_forget_host(d, "web-0"); /* a prefix is another host */
	attest_decider_forget_host(d, "web-01");
	attest_decider_cache_info(d, &cj);
	CU_ASSERT_EQUAL(cj.leaf_used, 1);
	CU_ASSERT_EQUAL(cj.issuer_used, ci.issuer_used); /* issuers stay */
	/* db-01's leaf still cached, web-01's verified afresh */
	TU_ASSERT_ERR(decide(d, b), ATTEST_OK);
	attest_decider_cache_info(d, &cj);
	CU_ASSERT_EQUAL(cj.leaf_hits, ci.leaf_hits + 1);
	CU_ASSERT_EQUAL(cj.leaf_misses, ci.leaf_misses);
	TU_ASSERT_ERR(decide(d, a), ATTEST_OK);
	attest_decider_cache_info(d, &cj);
	CU_ASSERT_EQUAL(cj.leaf_misses, ci.leaf_misses + 1);
	CU_ASSERT_EQUAL(cj.issuer_hits, ci.issuer_hits + 1); /* its issuer was kept */
	/* facts still apply to a kept leaf: db-01 revoked */
	fx_host_row("db-01")->revoked = 1;
	TU_ASSERT_ERR(decide(d, b), ATTEST_E_REVOKED);
	attest_decider_forget_host(NULL, "x");
	attest_decider_free(d);
	sk_X509_pop_free(a, X509_free);
	sk_X509_pop_free(b, X509_free);
}

static int decide_pem(struct attest_decider *d, const char *pem, size_t len)
{
	struct attest_decide_req req;
	struct attest_decision out;

	memset(&req, 0, sizeof(req));
	req.pem = pem;
	req.pem_len = len;
	req.action = "read";
	req.resource = NOTES;
	req.now = fx.t0 + 5;
	return attest_decide(d, &req, &out);
}

static void test_malformed(void)
{
	struct attest_decider *d;
	STACK_OF(X509) *ch = leaf_chain(&fx.a, "ehr.read", NULL);
	size_t len = 0, biglen = ATTEST_DECIDE_PEM_MAX + 1;
	char *pem = pem_of(ch, &len), *big = malloc(biglen), *many;
	static const char garbage[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

	fx_view_up();
	d = decider();
	CU_ASSERT_FATAL(big != NULL);
	TU_ASSERT_ERR(decide_pem(d, "hello", 5), ATTEST_E_PARSE);
	TU_ASSERT_ERR(decide_pem(d, garbage, sizeof(garbage) - 1), ATTEST_E_PARSE);
	TU_ASSERT_ERR(decide_pem(d, pem, 0), ATTEST_E_PARSE);
	/* a chain cut in the middle of its second certificate */
	TU_ASSERT_ERR(decide_pem(d, pem, len / 2 + 40), ATTEST_E_PARSE);
	memset(big, 'A', biglen);
	TU_ASSERT_ERR(decide_pem(d, big, biglen), ATTEST_E_TOO_LARGE);
	/* seven certificates */
	many = malloc(len * 3 + 1);
	CU_ASSERT_FATAL(many != NULL);
	for (int i = 0; i < 3; i++)
		memcpy(many + (size_t)i * len, pem, len);
	TU_ASSERT_ERR(decide_pem(d, many, len * 3), ATTEST_E_TOO_LARGE);
	/* the leaf alone */
	{
		STACK_OF(X509) *one = sk_X509_new_null();

		X509_add_cert(one, sk_X509_value(ch, 0), X509_ADD_FLAG_UP_REF);
		TU_ASSERT_ERR(decide(d, one), ATTEST_E_CHAIN_UNTRUSTED);
		sk_X509_pop_free(one, X509_free);
	}
	TU_ASSERT_ERR(decide_pem(d, pem, len), ATTEST_OK);
	free(many);
	free(big);
	free(pem);
	attest_decider_free(d);
	sk_X509_pop_free(ch, X509_free);
}

/* ---- a real agent on swtpm ---- */

static void tpm_ak(const char *ca_dir, const char *host, uint8_t *buf, size_t cap, size_t *len)
{
	struct attest_ca *ca = NULL;
	TPM2B_PUBLIC ak;
	uint32_t mask = 0;
	uint8_t ref[24 * 32];
	size_t ref_len = 0;

	TU_ASSERT_ERR(attest_ca_open(ca_dir, &ca), ATTEST_OK);
	CU_ASSERT_FATAL(ca != NULL);
	TU_ASSERT_ERR(attest_ca_host_info(ca, host, &ak, &mask, ref, sizeof(ref), &ref_len),
		      ATTEST_OK);
	TU_ASSERT_ERR(attest_tpm2b_public_marshal(&ak, buf, cap, len), ATTEST_OK);
	attest_ca_close(ca);
}

static void test_tpm_evidence(void)
{
	static const char any[] = "{\"version\":1,\"rules\":[{\"name\":\"any\",\"effect\":\"allow\","
				  "\"resources\":[\"**\"],\"actions\":[\"*\"]}]}";
	struct daemon dm;
	struct tu_tpm sw2;
	char bin[700], json[1024], path[800], *pem, c0;
	struct attest_tpm *t2 = NULL;
	TPM2B_PUBLIC ak2;
	cJSON *reply = NULL;
	const cJSON *agent, *chain;
	uint8_t ak[sizeof(TPM2B_PUBLIC)], *m;
	size_t n = 0, plen = 0;
	long mlen = 0;
	struct attest_policy *p = NULL;
	struct attest_intent_trust *trust = NULL;
	struct attest_decider *d = NULL;
	struct attest_decide_req req;
	struct attest_decision out;
	X509 *root;
	BIO *b;

	daemon_up(&dm);
	make_agent_binary(&dm, "agent-a", NULL, bin, sizeof(bin));
	snprintf(json, sizeof(json),
		 "{\"op\":\"register\",\"name\":\"alpha\",\"binary\":\"%s\",\"uids\":[0],"
		 "\"scopes\":[\"ehr:read\"],\"risk_tier\":\"low\",\"max_ttl\":600," TU_ENV_ALLOW_JSON "}", bin);
	TU_ASSERT_ERR(admin_call(&dm, json, &reply), ATTEST_OK);
	agent = cJSON_GetObjectItemCaseSensitive(reply, "agent");
	CU_ASSERT_FATAL(agent != NULL);
	memset(&fx_view, 0, sizeof(fx_view));
	tpm_ak(dm.ca, "web-01", ak, sizeof(ak), &n);
	fx_view_add_host("web-01", ak, n);
	m = OPENSSL_hexstr2buf(cJSON_GetObjectItemCaseSensitive(agent, "measurement")->valuestring,
			       &mlen);
	CU_ASSERT_FATAL(m != NULL && mlen == 32);
	fx_view_add_agent(cJSON_GetObjectItemCaseSensitive(agent, "id")->valuestring,
		  cJSON_GetObjectItemCaseSensitive(agent, "uuid")->valuestring, m);
	OPENSSL_free(m);
	cJSON_Delete(reply);
	fx_view.hosts[0].last_good = (int64_t)time(NULL);

	reply = run_agent(NULL, bin, dm.sock, "{\"op\":\"issue\",\"agent\":\"alpha\"}");
	chain = cJSON_GetObjectItemCaseSensitive(reply, "chain");
	CU_ASSERT_FATAL(cJSON_IsString(chain));
	pem = strdup(chain->valuestring);
	CU_ASSERT_FATAL(pem != NULL);
	plen = strlen(pem);
	cJSON_Delete(reply);

	snprintf(path, sizeof(path), "%s/root.pem", dm.ca);
	b = BIO_new_file(path, "r");
	root = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	CU_ASSERT_FATAL(root != NULL);
	TU_ASSERT_ERR(attest_intent_trust_new(&trust), ATTEST_OK);
	TU_ASSERT_ERR(attest_intent_trust_set_root(trust, root), ATTEST_OK);
	TU_ASSERT_ERR(attest_policy_load(any, strlen(any), &p), ATTEST_OK);
	TU_ASSERT_ERR(attest_decider_new(root, trust, &fx_facts, &d), ATTEST_OK);
	CU_ASSERT_FATAL(d != NULL);
	attest_decider_set_policy(d, p);
	memset(&req, 0, sizeof(req));
	req.pem = pem;
	req.pem_len = plen;
	req.action = "read";
	req.resource = NOTES;

	/* real creation evidence by this host's AK */
	TU_ASSERT_ERR(attest_decide(d, &req, &out), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(out.agent, fx_view.agents[0].id);
	TU_ASSERT_ERR(attest_decide(d, &req, &out), ATTEST_OK);
	/* the registration says another measurement, another UUID */
	fx_view.agents[0].measurement[0] ^= 1;
	TU_ASSERT_ERR(attest_decide(d, &req, &out), ATTEST_E_AGENT_EVIDENCE);
	fx_view.agents[0].measurement[0] ^= 1;
	c0 = fx_view.agents[0].uuid[0];
	fx_view.agents[0].uuid[0] = c0 == '0' ? '1' : '0';
	TU_ASSERT_ERR(attest_decide(d, &req, &out), ATTEST_E_AGENT_EVIDENCE);
	fx_view.agents[0].uuid[0] = c0;
	TU_ASSERT_ERR(attest_decide(d, &req, &out), ATTEST_OK);

	/* another TPM's AK. Every swtpm here is a copy of one template (one
	 * endorsement seed, so one AK): the second one gets a new seed first. */
	tu_tpm_start(&sw2);
	CU_ASSERT_EQUAL_FATAL(tu_sh("TPM2TOOLS_TCTI='%s' TSS2_LOG=all+none timeout 20 "
				    "tpm2_changeeps >/dev/null", sw2.tcti), 0);
	TU_ASSERT_ERR(attest_tpm_open(sw2.tcti, &t2), ATTEST_OK);
	TU_ASSERT_ERR(attest_tpm_ak_public(t2, &ak2), ATTEST_OK);
	attest_tpm_close(t2);
	TU_ASSERT_ERR(attest_tpm2b_public_marshal(&ak2, ak, sizeof(ak), &n), ATTEST_OK);
	CU_ASSERT(n != fx_view.hosts[0].ak_len || memcmp(ak, fx_view.hosts[0].ak, n) != 0);
	memcpy(fx_view.hosts[0].ak, ak, n);
	fx_view.hosts[0].ak_len = n;
	TU_ASSERT_ERR(attest_decide(d, &req, &out), ATTEST_E_AGENT_EVIDENCE);
	attest_decider_free(d);
	d = NULL;
	TU_ASSERT_ERR(attest_decider_new(root, trust, &fx_facts, &d), ATTEST_OK);
	attest_decider_set_policy(d, p);
	TU_ASSERT_ERR(attest_decide(d, &req, &out), ATTEST_E_AGENT_EVIDENCE);
	tu_tpm_stop(&sw2);

	attest_decider_free(d);
	attest_policy_free(p);
	attest_intent_trust_free(trust);
	X509_free(root);
	free(pem);
	daemon_down(&dm);
}

/* Issue 12: chains under an issuing CA. attestd presents leaf, agent CA,
 * host CA, issuing CA: a decider that trusts only the fleet root allows
 * it. A chain that leaves the issuing CA out does not reach the root,
 * unless the decider's trust knows that issuing CA as an intermediate. */
static void test_issuing_ca_chain(void)
{
	EVP_PKEY *ik = NULL, *hk = p256();
	X509 *iss = NULL, *hca = NULL, *leaf;
	struct agent ia;
	struct attest_intent_trust *t2 = NULL;
	struct attest_decider *d = decider(), *d2 = NULL;
	STACK_OF(X509) *full, *cut;

	TU_ASSERT_ERR(attest_x509_make_issuing_ca(fx.root_key, fx.root, TD, 30, &ik, &iss), ATTEST_OK);
	TU_ASSERT_ERR(attest_x509_make_host_ca(ik, iss, TD, "web-01", hk, 3600, &hca), ATTEST_OK);
	make_agent(&ia, hca, hk, fx.ak1, ID_A, 3);
	leaf = make_leaf(&ia, "ehr.read", NULL);
	cut = chain_of(&ia, leaf);
	full = chain_of(&ia, leaf);
	CU_ASSERT_FATAL(X509_add_cert(full, iss, X509_ADD_FLAG_UP_REF) == 1);
	/* cut first: once the full chain verified, its agent CA is a cached
	 * issuer and the cut chain would be decided under it */
	TU_ASSERT_ERR(decide(d, cut), ATTEST_E_CHAIN_UNTRUSTED);
	TU_ASSERT_ERR(decide(d, full), ATTEST_OK);
	CU_ASSERT_FATAL(attest_intent_trust_new(&t2) == ATTEST_OK &&
			attest_intent_trust_add_issuer(t2, ISS, fx.issuer) == ATTEST_OK &&
			attest_intent_trust_set_root(t2, fx.root) == ATTEST_OK &&
			attest_intent_trust_add_intermediate(t2, iss) == ATTEST_OK);
	TU_ASSERT_ERR(attest_decider_new(fx.root, t2, &fx_facts, &d2), ATTEST_OK);
	attest_decider_set_policy(d2, policy);
	TU_ASSERT_ERR(decide(d2, cut), ATTEST_OK);
	attest_decider_free(d2);
	attest_decider_free(d);
	attest_intent_trust_free(t2);
	sk_X509_pop_free(full, X509_free);
	sk_X509_pop_free(cut, X509_free);
	X509_free(leaf);
	free_agent(&ia);
	X509_free(hca);
	X509_free(iss);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(hk);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "allow, cached, deny rule, default deny, PEM, no policy", test_allow },
		{ "chain from another fleet root", test_foreign_root },
		{ "expired and not-yet-valid, first sight and cached", test_validity },
		{ "leaf with another agent's ID under the same agent CA", test_other_agents_id },
		{ "fleet view: unknown, revoked, unapproved, untrusted, stale, evidence",
		  test_fleet_view },
		{ "intent chain failures, intent expiry on the cached path", test_intent_failures },
		{ "delegation: allow, resource outside, revoked delegator", test_delegation },
		{ "effective scopes: leaf, registration and chain", test_effective_scopes },
		{ "a delegate's scopes are its own with facts in one buffer", test_delegate_scopes_own },
		{ "forget one host's leaves: the others and the issuers kept", test_forget_host },
		{ "malformed, oversize and short chains", test_malformed },
		{ "issuing CA: in the chain, or known to the trust", test_issuing_ca_chain },
		{ "a leaf with DNS SANs beside its SPIFFE ID is decided on its URI",
		  test_dns_names_leaf },
		{ "real TPM evidence: allow, UUID/measurement, another TPM's AK", test_tpm_evidence },
		/* last: its flood takes minutes under ASan, and the tests above
		 * decide at fx.t0 + 5 with leaves made as they run */
		{ "cache: set-associative LRU, eviction keeps decisions and revocation right",
		  test_cache_eviction },
		{ "cache: keyed by certificate (PEM variants one entry), per-caller shares",
		  test_cache_keys_and_shares },
		{ NULL, NULL },
	};
	int rc;

	fixture_up();
	if (attest_policy_load(FX_DECIDE_POLICY, strlen(FX_DECIDE_POLICY), &policy) != ATTEST_OK) {
		fprintf(stderr, "test_decide: policy: %s\n", attest_errdetail());
		return 2;
	}
	rc = tu_main("decide", tests);
	attest_policy_free(policy);
	fixture_down();
	return rc;
}
