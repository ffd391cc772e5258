/* bench_intent.c - cost of attest_intent_verify per chain depth, as a ratio
 * to one ECDSA P-256 verify measured in the same run (issue 4, "Benchmark";
 * make bench). All in software, no TPM.
 *
 * Report only: machines are noisy, so nothing here asserts on time. Every
 * timed call's result is checked; a figure whose run failed prints "n/a"
 * and the process exits 1 at the end (make bench ignores that).
 *
 * Fixture: the software fleet of tests/unit/testutil_intent.c (a fleet
 * root, host CAs web-01 and db-01, agents intake (web-01), billing (db-01)
 * and coder (web-01) with software keys); a grant from a trusted issuer to
 * intake. Chains:
 *   depth 0: the grant, presented by intake
 *   depth 1: intake -> billing
 *   depth 2: intake -> billing -> coder (web-01)
 *
 * Baseline: one ECDSA P-256 verify of a 32-byte SHA-256 digest with
 * EVP_PKEY_verify, a fresh EVP_PKEY_CTX per call (as the library makes a
 * fresh EVP_MD_CTX per signature), the key already parsed.
 *
 * Chain: attest_intent_verify + attest_intent_chain_free, as a verifier
 * pays per presented token. Signatures checked per chain (the floor of the
 * ratio): the grant's 1, and per delegation its own plus one per x5c
 * certificate (leaf, agent CA, host CA; the fleet root is the trust anchor,
 * whose self-signature X509_verify_cert does not check). Nothing is cached
 * between calls.
 *
 * The phases run interleaved in ROUNDS rounds so drift hits them alike.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "attest/intent.h"
#include "x509/x509.h"
#include "x509/x509agent.h"
#include "testutil.h"
#include "testutil_bench.h"
#include "testutil_intent.h"

#define ROUNDS 5
#define WARMUP 20
#define N_ECDSA 1000 /* per round */
#define N_DEPTH0 500
#define N_DEPTH1 200
#define N_DEPTH2 120
#define NDEPTH 3

/* What the bench adds to the fleet (fx, testutil_intent.h). */
static struct {
	EVP_PKEY *ecdsa_key;
	char *tok[NDEPTH];
	const char *aud[NDEPTH];
	int sigs[NDEPTH];
	uint8_t digest[32];
	unsigned char sig[80];
	size_t siglen;
	int failures;
} bx;

/* The shared fleet, then the bench's tokens and baseline. */
static void bench_up(void)
{
	struct attest_intent_claims c;
	struct attest_delegation_claims c1, c2;
	static const char msg[] = "bench_intent: one ECDSA verify";
	EVP_PKEY_CTX *pc;

	fixture_up();
	c = claims(ID_A, 2);
	NEED(attest_intent_grant_make(fx.issuer, ISS, &c, &bx.tok[0]) == ATTEST_OK);
	c1 = dclaims(ID_B, s_read_bill, 2, r_notes, 1);
	NEED(attest_intent_delegate(fx.a.leaf_key, fx.a.chain, bx.tok[0], &c1, &bx.tok[1]) ==
	     ATTEST_OK);
	c2 = dclaims(ID_C, s_read, 1, r_notes7, 1);
	c2.exp = fx.t0 + 800;
	NEED(attest_intent_delegate(fx.b.leaf_key, fx.b.chain, bx.tok[1], &c2, &bx.tok[2]) ==
	     ATTEST_OK);
	bx.aud[0] = ID_A;
	bx.aud[1] = ID_B;
	bx.aud[2] = ID_C;
	bx.sigs[0] = 1;
	bx.sigs[1] = bx.sigs[0] + 1 + sk_X509_num(fx.a.chain);
	bx.sigs[2] = bx.sigs[1] + 1 + sk_X509_num(fx.b.chain);

	/* The baseline's key, digest and signature. */
	bx.ecdsa_key = p256();
	NEED(EVP_Digest(msg, strlen(msg), bx.digest, NULL, EVP_sha256(), NULL) == 1);
	pc = EVP_PKEY_CTX_new_from_pkey(NULL, bx.ecdsa_key, NULL);
	bx.siglen = sizeof(bx.sig);
	NEED(pc != NULL && EVP_PKEY_sign_init(pc) == 1 &&
	     EVP_PKEY_sign(pc, bx.sig, &bx.siglen, bx.digest, sizeof(bx.digest)) == 1);
	EVP_PKEY_CTX_free(pc);
}

static void bench_down(void)
{
	for (int i = 0; i < NDEPTH; i++)
		free(bx.tok[i]);
	EVP_PKEY_free(bx.ecdsa_key);
	fixture_down();
}

/* ---- the timed operations: 0 on success ---- */

static int ecdsa_verify_once(void)
{
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_pkey(NULL, bx.ecdsa_key, NULL);
	int ok = pc != NULL && EVP_PKEY_verify_init(pc) == 1 &&
		 EVP_PKEY_verify(pc, bx.sig, bx.siglen, bx.digest, sizeof(bx.digest)) == 1;

	EVP_PKEY_CTX_free(pc);
	return ok ? 0 : -1;
}

static int intent_verify_once(int depth)
{
	struct attest_intent_chain *ch = NULL;
	int r = attest_intent_verify(fx.trust, bx.tok[depth], bx.aud[depth], fx.t0 + 5, &ch);
	int ok = r == ATTEST_OK && ch != NULL && attest_intent_chain_depth(ch) == (unsigned)depth;

	if (!ok)
		fprintf(stderr, "bench_intent: depth %d: %s (%s)\n", depth, attest_errname(r),
			attest_errdetail());
	attest_intent_chain_free(ch);
	return ok ? 0 : -1;
}

/* ---- measurement ---- */

static int run_once(const struct tu_series *s)
{
	return s->kind < 0 ? ecdsa_verify_once() : intent_verify_once(s->kind);
}

int main(void)
{
	struct tu_series s[1 + NDEPTH] = {
		{ "ecdsa_p256_verify", -1, N_ECDSA, NULL, 0, 1 },
		{ "intent_verify depth 0", 0, N_DEPTH0, NULL, 0, 1 },
		{ "intent_verify depth 1", 1, N_DEPTH1, NULL, 0, 1 },
		{ "intent_verify depth 2", 2, N_DEPTH2, NULL, 0, 1 },
	};
	struct tu_stats st[1 + NDEPTH];
	char name[96], note[128];
	double t0 = tu_now_ms();

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# bench_intent (software, no TPM): us per verification, mean of n (p50 in the "
	       "note); ratio = chain time / one ECDSA P-256 verify; report only, nothing "
	       "asserted\n");
	bench_up();
	for (int k = 0; k < 1 + NDEPTH; k++) {
		s[k].v = malloc(sizeof(double) * (size_t)(s[k].per_round * ROUNDS));
		NEED(s[k].v != NULL);
	}
	for (int round = 0; round < ROUNDS; round++)
		for (int k = 0; k < 1 + NDEPTH; k++)
			bx.failures += tu_series_run(&s[k], round == 0 ? WARMUP : 0, run_once, "bench_intent");
	for (int k = 0; k < 1 + NDEPTH; k++)
		st[k] = tu_series_stats(&s[k]);

	snprintf(note, sizeof(note), "EVP_PKEY_verify, 32-byte digest, n=%d, p50 %.2f", s[0].n,
		 st[0].p50);
	tu_print_fig("ecdsa_p256_verify_us", st[0].ok, st[0].mean, 2, note);
	snprintf(note, sizeof(note), "n=%d", s[0].n);
	tu_print_fig("ecdsa_p256_verifies_per_s", st[0].ok && st[0].mean > 0,
		  st[0].mean > 0 ? 1e6 / st[0].mean : 0, 0, note);
	for (int d = 0; d < NDEPTH; d++) {
		struct tu_stats c = st[1 + d];

		snprintf(name, sizeof(name), "intent_verify_us_depth%d", d);
		snprintf(note, sizeof(note), "n=%d, p50 %.2f", s[1 + d].n, c.p50);
		tu_print_fig(name, c.ok, c.mean, 2, note);
		snprintf(name, sizeof(name), "intent_signatures_depth%d", d);
		if (d == 0)
			snprintf(note, sizeof(note), "the grant");
		else
			snprintf(note, sizeof(note), "the grant + %d x (delegation + %d x5c certs)",
				 d, sk_X509_num(fx.a.chain));
		tu_print_fig(name, 1, bx.sigs[d], 0, note);
		snprintf(name, sizeof(name), "intent_verify_ratio_depth%d_over_ecdsa", d);
		snprintf(note, sizeof(note), "floor %d; p50 ratio %.2f", bx.sigs[d],
			 st[0].p50 > 0 ? c.p50 / st[0].p50 : 0);
		tu_print_fig(name, c.ok && st[0].ok && st[0].mean > 0,
			  st[0].mean > 0 ? c.mean / st[0].mean : 0, 2, note);
	}
	printf("# bench_intent: %.1f s, %d failure(s)\n", (tu_now_ms() - t0) / 1e3, bx.failures);
	for (int k = 0; k < 1 + NDEPTH; k++)
		free(s[k].v);
	bench_down();
	return bx.failures == 0 ? 0 : 1;
}
