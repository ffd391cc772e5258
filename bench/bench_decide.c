/* bench_decide.c - in-process attest_decide on one core, as ratios to one
 * ECDSA P-256 verify measured in the same run (issue 5, "Benchmark"; make
 * bench). All in software, no TPM.
 *
 * Report only: machines are noisy, so nothing here asserts on time. Every
 * timed call's result is checked; a figure whose run failed prints "n/a"
 * and the process exits 1 at the end (make bench ignores that).
 *
 * Fixture: the software fleet of tests/unit/testutil_intent.c. Its agent
 * CAs carry creation evidence made by a per-host *software* AK, which the
 * decider's evidence check accepts against that AK: what is measured is
 * the library's work, not a TPM's (the evidence is checked once per agent
 * CA and cached, so it is in neither timed figure). The fleet view and the
 * policy are tests/unit/testutil_decide.c's, as test_decide decides with:
 * an in-memory table (web-01 and db-01 trusted and attested 10 s before,
 * agents intake, billing and coder registered and approved) and a policy
 * whose read rule requires scope ehr.read and a host attested within 300 s
 * (its other rule denies delete).
 *
 * Baseline: one ECDSA P-256 verify of a 64-byte message with
 * EVP_DigestVerifyInit + EVP_DigestVerify (SHA-256 included), a fresh
 * EVP_MD_CTX per call, the key already parsed.
 *
 *   repeated: the same chain (leaf with a depth-0 intent grant, agent CA,
 *             host CA) decided again and again: cache lookups, the fleet
 *             view, scopes and the policy; no signature.
 *   new leaf: every call a leaf not seen before, each with its own depth-0
 *             grant, under the already cached agent CA: two signatures
 *             (the leaf's and the grant's) plus parsing. The leaves and
 *             grants are made before timing.
 * ratio = ECDSA verify time / decision time (decisions per ECDSA verify).
 * The phases run interleaved in ROUNDS rounds so drift hits them alike.
 *
 * Fleet scale (issue 17): 10,000 agents across 1,000 hosts (10 each; host
 * CAs under the fleet root, agent CAs with software-AK evidence, one leaf
 * with ehr.read each), decided by a decider of the library's default
 * cache sizes against a view that knows them all, and the same for the
 * first 100 agents in a decider of their own. After every chain was
 * decided once:
 *   repeated: a uniformly random active agent's chain per call;
 *             hit rate = leaf cache hits / lookups over the timed calls;
 *   new leaf: a leaf not seen before of a random active agent (its agent
 *             CA decided before): with the issuer cached, one signature.
 * Figures: 10k/100 ratios of mean time per call (goal <= 1.5 each).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/decide.h"
#include "attest/policy.h"
#include "x509/x509.h"
#include "testutil.h"
#include "testutil_bench.h"
#include "testutil_decide.h"
#include "testutil_intent.h"

#define ROUNDS 5
#define WARMUP 20
#define N_ECDSA 1000   /* per round */
#define N_REPEATED 4000
#define N_NEW 200      /* per round; ROUNDS * N_NEW leaves made up front */

static struct {
	EVP_PKEY *ecdsa_key;
	unsigned char msg[64], sig[80];
	size_t siglen;
	struct attest_policy *policy;
	struct attest_decider *d;
	STACK_OF(X509) *repeated;
	STACK_OF(X509) **fresh;
	int nfresh, next_fresh;
	int failures;
} bx;

/* A new leaf of A with ehr.read and its own grant (task-<i>). */
static STACK_OF(X509) *leaf_with_grant(int i)
{
	struct attest_intent_claims c = claims(ID_A, 0);
	char jti[32], *tok = NULL;
	X509 *leaf;
	STACK_OF(X509) *sk;

	snprintf(jti, sizeof(jti), "task-%d", i);
	c.jti = jti;
	NEED(attest_intent_grant_make(fx.issuer, ISS, &c, &tok) == ATTEST_OK);
	leaf = make_leaf(&fx.a, "ehr.read", tok);
	{
		/* as a verifier gets it: parsed from DER (the TLS stack or PEM),
		 * not an object still holding the signer's in-memory form */
		unsigned char *der = NULL;
		const unsigned char *p;
		int n = i2d_X509(leaf, &der);

		p = der;
		X509_free(leaf);
		NEED(n > 0 && (leaf = d2i_X509(NULL, &p, n)) != NULL);
		OPENSSL_free(der);
	}
	sk = chain_of(&fx.a, leaf);
	X509_free(leaf);
	free(tok);
	return sk;
}

static void bench_up(void)
{
	EVP_MD_CTX *md;

	fixture_up();
	fx_view_up();
	NEED(attest_policy_load(FX_DECIDE_POLICY, strlen(FX_DECIDE_POLICY), &bx.policy) ==
	     ATTEST_OK);
	NEED(attest_decider_new(fx.root, fx.trust, &fx_facts, &bx.d) == ATTEST_OK);
	attest_decider_set_policy(bx.d, bx.policy);
	bx.repeated = leaf_with_grant(-1);
	bx.nfresh = ROUNDS * N_NEW;
	bx.fresh = calloc((size_t)bx.nfresh, sizeof(*bx.fresh));
	NEED(bx.fresh != NULL);
	for (int i = 0; i < bx.nfresh; i++)
		bx.fresh[i] = leaf_with_grant(i);

	bx.ecdsa_key = p256();
	memset(bx.msg, 0x5a, sizeof(bx.msg));
	md = EVP_MD_CTX_new();
	bx.siglen = sizeof(bx.sig);
	NEED(md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, bx.ecdsa_key) == 1 &&
	     EVP_DigestSign(md, bx.sig, &bx.siglen, bx.msg, sizeof(bx.msg)) == 1);
	EVP_MD_CTX_free(md);
}

static void bench_down(void)
{
	for (int i = 0; i < bx.nfresh; i++)
		sk_X509_pop_free(bx.fresh[i], X509_free);
	free(bx.fresh);
	sk_X509_pop_free(bx.repeated, X509_free);
	attest_decider_free(bx.d);
	attest_policy_free(bx.policy);
	EVP_PKEY_free(bx.ecdsa_key);
	fixture_down();
}

/* ---- the timed operations: 0 on success ---- */

static int ecdsa_verify_once(void)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md != NULL &&
		 EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, bx.ecdsa_key) == 1 &&
		 EVP_DigestVerify(md, bx.sig, bx.siglen, bx.msg, sizeof(bx.msg)) == 1;

	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

static int decide_d(struct attest_decider *d, STACK_OF(X509) *chain, const char *what);

static int decide_once(STACK_OF(X509) *chain, const char *what)
{
	return decide_d(bx.d, chain, what);
}

/* One allowed read decision of chain by d; 0 on success. */
static int decide_d(struct attest_decider *d, STACK_OF(X509) *chain, const char *what)
{
	struct attest_decide_req req;
	struct attest_decision out;
	int r;

	memset(&req, 0, sizeof(req));
	req.chain = chain;
	req.action = "read";
	req.resource = "ehr:patient/123/notes/7";
	/* the big fleet's leaves are made over a minute or more: the clock */
	req.now = d == bx.d ? (int64_t)fx.t0 + 5 : (int64_t)time(NULL);
	r = attest_decide(d, &req, &out);
	if (r != ATTEST_OK || !out.allow || (d == bx.d && out.intent == NULL)) {
		fprintf(stderr, "bench_decide: %s: %s (%s)\n", what, attest_errname(r), out.detail);
		return -1;
	}
	return 0;
}

/* ---- measurement ---- */

enum kind { K_ECDSA, K_REPEATED, K_NEW };

static int run_once(const struct tu_series *s)
{
	switch (s->kind) {
	case K_ECDSA:
		return ecdsa_verify_once();
	case K_REPEATED:
		return decide_once(bx.repeated, s->what);
	case K_NEW:
		if (bx.next_fresh >= bx.nfresh)
			return -1;
		return decide_once(bx.fresh[bx.next_fresh++], s->what);
	}
	return -1;
}

/* ---- fleet scale: 10,000 agents on 1,000 hosts ---- */

#define BIG_HOSTS 1000
#define BIG_PER_HOST 10
#define BIG_AGENTS (BIG_HOSTS * BIG_PER_HOST)
#define SMALL_AGENTS 100
#define BIG_REPEATED 20000 /* per round */
#define BIG_NEW 100        /* per round and fleet */

static struct {
	STACK_OF(X509) **chain;      /* per agent: leaf, agent CA, host CA */
	STACK_OF(X509) **fresh_big;  /* ROUNDS * BIG_NEW new leaves, agents of all */
	STACK_OF(X509) **fresh_small; /* the same among the first SMALL_AGENTS */
	int next_big, next_small;
	struct attest_decider *d_big, *d_small;
	uint8_t ak[sizeof(TPM2B_PUBLIC)];
	size_t ak_len;
	uint64_t rng;
	uint64_t hits, lookups; /* over the timed repeated calls, big fleet */
	int ok;
} bf;

static uint64_t rnd(void)
{
	/* xorshift64: the agents picked, not secrets */
	bf.rng ^= bf.rng << 13;
	bf.rng ^= bf.rng >> 7;
	bf.rng ^= bf.rng << 17;
	return bf.rng;
}

static void big_id(char *buf, size_t n, int i)
{
	snprintf(buf, n, "spiffe://" TD "/host/h%04d/agent/a%d", i / BIG_PER_HOST, i % BIG_PER_HOST);
}

/* Every hNNNN is trusted and attested 10 s before t0 with fx.ak1. */
static int big_host(void *arg, const char *host, struct attest_host_facts *out)
{
	(void)arg;
	if (strncmp(host, "h", 1) != 0 || strlen(host) != 5)
		return ATTEST_E_NOT_FOUND;
	memset(out, 0, sizeof(*out));
	out->trusted = 1;
	out->last_good = (int64_t)time(NULL) - 10; /* the fleet takes long to build */
	out->ak = bf.ak;
	out->ak_len = bf.ak_len;
	return ATTEST_OK;
}

/* Every agent of the big fleet: approved, its measurement SHA-256(ID). */
static int big_agent(void *arg, const char *id, struct attest_agent_facts *out)
{
	(void)arg;
	memset(out, 0, sizeof(*out));
	if (EVP_Digest(id, strlen(id), out->measurement, NULL, EVP_sha256(), NULL) != 1)
		return ATTEST_E_CRYPTO;
	out->approved = 1;
	snprintf(out->uuid, sizeof(out->uuid), "%s", FX_UUID);
	out->risk_tier = ATTEST_RISK_TIER_LOW;
	out->risk_score = 10;
	out->scopes = "ehr.read ehr.write billing.read";
	out->data_classes = "phi";
	return ATTEST_OK;
}

static const struct attest_facts big_facts = { big_host, big_agent, NULL };

static void big_up(void)
{
	int nb = ROUNDS * BIG_NEW, per = nb / SMALL_AGENTS;

	fx_ak_public(fx.ak1, bf.ak, sizeof(bf.ak), &bf.ak_len);
	bf.rng = 0x9e3779b97f4a7c15ull;
	bf.chain = calloc(BIG_AGENTS, sizeof(*bf.chain));
	bf.fresh_big = calloc((size_t)nb, sizeof(*bf.fresh_big));
	bf.fresh_small = calloc((size_t)nb, sizeof(*bf.fresh_small));
	NEED(bf.chain != NULL && bf.fresh_big != NULL && bf.fresh_small != NULL);
	for (int h = 0; h < BIG_HOSTS; h++) {
		char host[16], id[128];
		X509 *hca = NULL;

		snprintf(host, sizeof(host), "h%04d", h);
		NEED(attest_x509_make_host_ca(fx.root_key, fx.root, TD, host, fx.h1, 7200, &hca) ==
		     ATTEST_OK);
		for (int k = 0; k < BIG_PER_HOST; k++) {
			int i = h * BIG_PER_HOST + k;
			struct agent ag;
			X509 *leaf;

			big_id(id, sizeof(id), i);
			make_agent(&ag, hca, fx.h1, fx.ak1, id, 3);
			leaf = make_leaf(&ag, "ehr.read", NULL);
			bf.chain[i] = chain_of(&ag, leaf);
			X509_free(leaf);
			/* new leaves: one for every BIG_AGENTS / nb-th agent, and
			 * `per` for each of the first SMALL_AGENTS */
			if (i % (BIG_AGENTS / nb) == 0) {
				leaf = make_leaf(&ag, "ehr.read", NULL);
				bf.fresh_big[i / (BIG_AGENTS / nb)] = chain_of(&ag, leaf);
				X509_free(leaf);
			}
			for (int j = 0; i < SMALL_AGENTS && j < per; j++) {
				leaf = make_leaf(&ag, "ehr.read", NULL);
				bf.fresh_small[i * per + j] = chain_of(&ag, leaf);
				X509_free(leaf);
			}
			free_agent(&ag);
		}
		X509_free(hca);
	}
	/* the new leaves in a random order, so consecutive ones are of
	 * agents far apart in the fleet */
	for (int i = nb - 1; i > 0; i--) {
		int j = (int)(rnd() % (uint64_t)(i + 1));
		STACK_OF(X509) *t = bf.fresh_big[i];

		bf.fresh_big[i] = bf.fresh_big[j];
		bf.fresh_big[j] = t;
		t = bf.fresh_small[i];
		bf.fresh_small[i] = bf.fresh_small[j];
		bf.fresh_small[j] = t;
	}
	NEED(attest_decider_new(fx.root, fx.trust, &big_facts, &bf.d_big) == ATTEST_OK &&
	     attest_decider_new(fx.root, fx.trust, &big_facts, &bf.d_small) == ATTEST_OK);
	attest_decider_set_policy(bf.d_big, bx.policy);
	attest_decider_set_policy(bf.d_small, bx.policy);
	/* every chain decided once */
	bf.ok = 1;
	for (int i = 0; i < BIG_AGENTS; i++)
		if (decide_d(bf.d_big, bf.chain[i], "warm 10k") != 0 ||
		    (i < SMALL_AGENTS && decide_d(bf.d_small, bf.chain[i], "warm 100") != 0))
			bf.ok = 0;
}

static void big_down(void)
{
	for (int i = 0; i < BIG_AGENTS; i++)
		sk_X509_pop_free(bf.chain[i], X509_free);
	for (int i = 0; i < ROUNDS * BIG_NEW; i++) {
		sk_X509_pop_free(bf.fresh_big[i], X509_free);
		sk_X509_pop_free(bf.fresh_small[i], X509_free);
	}
	free(bf.chain);
	free(bf.fresh_big);
	free(bf.fresh_small);
	attest_decider_free(bf.d_big);
	attest_decider_free(bf.d_small);
}

enum big_kind { B_REP_BIG, B_REP_SMALL, B_NEW_BIG, B_NEW_SMALL };

static int big_once(const struct tu_series *s)
{
	switch (s->kind) {
	case B_REP_BIG: {
		uint64_t h0, m0, h1, m1;
		int r;

		attest_decider_cache_stats(bf.d_big, &h0, &m0);
		r = decide_d(bf.d_big, bf.chain[rnd() % BIG_AGENTS], s->what);
		attest_decider_cache_stats(bf.d_big, &h1, &m1);
		bf.hits += h1 - h0;
		bf.lookups += (h1 - h0) + (m1 - m0);
		return r;
	}
	case B_REP_SMALL:
		return decide_d(bf.d_small, bf.chain[rnd() % SMALL_AGENTS], s->what);
	case B_NEW_BIG:
		if (bf.next_big >= ROUNDS * BIG_NEW)
			return -1;
		return decide_d(bf.d_big, bf.fresh_big[bf.next_big++], s->what);
	case B_NEW_SMALL:
		if (bf.next_small >= ROUNDS * BIG_NEW)
			return -1;
		return decide_d(bf.d_small, bf.fresh_small[bf.next_small++], s->what);
	}
	return -1;
}

static void big_run(void)
{
	struct tu_series s[4] = {
		{ "10k repeated", B_REP_BIG, BIG_REPEATED, NULL, 0, 1 },
		{ "100 repeated", B_REP_SMALL, BIG_REPEATED, NULL, 0, 1 },
		{ "10k new leaf", B_NEW_BIG, BIG_NEW, NULL, 0, 1 },
		{ "100 new leaf", B_NEW_SMALL, BIG_NEW, NULL, 0, 1 },
	};
	struct tu_stats st[4];
	char note[200];
	double t0 = tu_now_ms();

	big_up();
	printf("# fleet of %d agents on %d hosts built and decided once in %.1f s%s\n", BIG_AGENTS,
	       BIG_HOSTS, (tu_now_ms() - t0) / 1e3, bf.ok ? "" : " (with failures)");
	for (int k = 0; k < 4; k++) {
		s[k].v = malloc(sizeof(double) * (size_t)(s[k].per_round * ROUNDS));
		NEED(s[k].v != NULL);
		s[k].ok = bf.ok;
	}
	for (int round = 0; round < ROUNDS; round++)
		for (int k = 0; k < 4; k++)
			bx.failures += tu_series_run(&s[k], 0, big_once, "bench_decide");
	for (int k = 0; k < 4; k++)
		st[k] = tu_series_stats(&s[k]);

	snprintf(note, sizeof(note), "leaf cache hits / lookups, random agent of %d, n=%d",
		 BIG_AGENTS, s[0].n);
	tu_print_fig("decide_10k_agents_hit_rate", st[0].ok && bf.lookups > 0,
		     bf.lookups > 0 ? (double)bf.hits / (double)bf.lookups : 0, 3, note);
	snprintf(note, sizeof(note), "n=%d, p50 %.2f, p99 %.2f", s[0].n, st[0].p50, st[0].p99);
	tu_print_fig("decide_10k_agents_repeated_us", st[0].ok, st[0].mean, 2, note);
	snprintf(note, sizeof(note), "n=%d, p50 %.2f, p99 %.2f", s[1].n, st[1].p50, st[1].p99);
	tu_print_fig("decide_100_agents_repeated_us", st[1].ok, st[1].mean, 2, note);
	snprintf(note, sizeof(note), "goal <= 1.5; p50 ratio %.2f",
		 st[1].p50 > 0 ? st[0].p50 / st[1].p50 : 0);
	tu_print_fig("decide_10k_over_100_repeated", st[0].ok && st[1].ok && st[1].mean > 0,
		     st[1].mean > 0 ? st[0].mean / st[1].mean : 0, 2, note);
	snprintf(note, sizeof(note), "n=%d, p50 %.2f, p99 %.2f", s[2].n, st[2].p50, st[2].p99);
	tu_print_fig("decide_10k_agents_new_leaf_us", st[2].ok, st[2].mean, 2, note);
	snprintf(note, sizeof(note), "n=%d, p50 %.2f, p99 %.2f", s[3].n, st[3].p50, st[3].p99);
	tu_print_fig("decide_100_agents_new_leaf_us", st[3].ok, st[3].mean, 2, note);
	snprintf(note, sizeof(note), "goal <= 1.5; p50 ratio %.2f",
		 st[3].p50 > 0 ? st[2].p50 / st[3].p50 : 0);
	tu_print_fig("decide_10k_over_100_new_leaf", st[2].ok && st[3].ok && st[3].mean > 0,
		     st[3].mean > 0 ? st[2].mean / st[3].mean : 0, 2, note);
	for (int k = 0; k < 4; k++)
		free(s[k].v);
	big_down();
}

int main(void)
{
	struct tu_series s[3] = {
		{ "ecdsa_p256_verify", K_ECDSA, N_ECDSA, NULL, 0, 1 },
		{ "decide repeated chain", K_REPEATED, N_REPEATED, NULL, 0, 1 },
		/* no warm-up: each leaf is decided once (the warm-up uses the
		 * repeated chain, which caches the agent CA) */
		{ "decide new leaf", K_NEW, N_NEW, NULL, 0, 1 },
	};
	struct tu_stats st[3];
	char note[160];
	double t0 = tu_now_ms();

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# bench_decide (software fleet, software-AK evidence, no TPM): us per call, mean "
	       "of n; ratio = one ECDSA P-256 verify / one decision (decisions per verify); "
	       "report only, nothing asserted\n");
	bench_up();
	for (int k = 0; k < 3; k++) {
		s[k].v = malloc(sizeof(double) * (size_t)(s[k].per_round * ROUNDS));
		NEED(s[k].v != NULL);
	}
	for (int round = 0; round < ROUNDS; round++)
		for (int k = 0; k < 3; k++)
			bx.failures += tu_series_run(&s[k], round == 0 && k != K_NEW ? WARMUP : 0, run_once, "bench_decide");
	for (int k = 0; k < 3; k++)
		st[k] = tu_series_stats(&s[k]);

	snprintf(note, sizeof(note), "EVP_DigestVerify, 64-byte message, n=%d, p50 %.2f", s[0].n,
		 st[0].p50);
	tu_print_fig("ecdsa_p256_verify_us", st[0].ok, st[0].mean, 2, note);
	snprintf(note, sizeof(note), "n=%d", s[0].n);
	tu_print_fig("ecdsa_p256_verifies_per_s", st[0].ok && st[0].mean > 0,
		  st[0].mean > 0 ? 1e6 / st[0].mean : 0, 0, note);

	snprintf(note, sizeof(note), "same chain (depth-0 intent leaf), n=%d, p50 %.2f, p99 %.2f",
		 s[1].n, st[1].p50, st[1].p99);
	tu_print_fig("decide_repeated_us", st[1].ok, st[1].mean, 2, note);
	snprintf(note, sizeof(note), "n=%d", s[1].n);
	tu_print_fig("decide_repeated_per_s", st[1].ok && st[1].mean > 0,
		  st[1].mean > 0 ? 1e6 / st[1].mean : 0, 0, note);
	snprintf(note, sizeof(note), "target >= 5; p50 ratio %.2f",
		 st[1].p50 > 0 ? st[0].p50 / st[1].p50 : 0);
	tu_print_fig("decide_repeated_ratio", st[0].ok && st[1].ok && st[1].mean > 0,
		  st[1].mean > 0 ? st[0].mean / st[1].mean : 0, 2, note);

	snprintf(note, sizeof(note),
		 "new depth-0 intent leaf, cached agent CA, n=%d, p50 %.2f, p99 %.2f", s[2].n,
		 st[2].p50, st[2].p99);
	tu_print_fig("decide_new_leaf_us", st[2].ok, st[2].mean, 2, note);
	snprintf(note, sizeof(note), "n=%d", s[2].n);
	tu_print_fig("decide_new_leaf_per_s", st[2].ok && st[2].mean > 0,
		  st[2].mean > 0 ? 1e6 / st[2].mean : 0, 0, note);
	snprintf(note, sizeof(note),
		 "goal >= 0.45 (issue 17; 2 signatures, leaf and grant: 0.5 is the ceiling); "
		 "p50 ratio %.2f", st[2].p50 > 0 ? st[0].p50 / st[2].p50 : 0);
	tu_print_fig("decide_new_leaf_ratio", st[0].ok && st[2].ok && st[2].mean > 0,
		  st[2].mean > 0 ? st[0].mean / st[2].mean : 0, 2, note);

	big_run();
	printf("# bench_decide: %.1f s, %d failure(s)\n", (tu_now_ms() - t0) / 1e3, bx.failures);
	for (int k = 0; k < 3; k++)
		free(s[k].v);
	bench_down();
	return bx.failures == 0 ? 0 : 1;
}
