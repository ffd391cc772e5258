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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/decide.h"
#include "attest/policy.h"
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

static int decide_once(STACK_OF(X509) *chain, const char *what)
{
	struct attest_decide_req req;
	struct attest_decision out;
	int r;

	memset(&req, 0, sizeof(req));
	req.chain = chain;
	req.action = "read";
	req.resource = "ehr:patient/123/notes/7";
	req.now = (int64_t)fx.t0 + 5;
	r = attest_decide(bx.d, &req, &out);
	if (r != ATTEST_OK || !out.allow || out.intent == NULL) {
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
	snprintf(note, sizeof(note), "target >= 0.4 (2 signatures: leaf, grant); p50 ratio %.2f",
		 st[2].p50 > 0 ? st[0].p50 / st[2].p50 : 0);
	tu_print_fig("decide_new_leaf_ratio", st[0].ok && st[2].ok && st[2].mean > 0,
		  st[2].mean > 0 ? st[0].mean / st[2].mean : 0, 2, note);

	printf("# bench_decide: %.1f s, %d failure(s)\n", (tu_now_ms() - t0) / 1e3, bx.failures);
	for (int k = 0; k < 3; k++)
		free(s[k].v);
	bench_down();
	return bx.failures == 0 ? 0 : 1;
}
