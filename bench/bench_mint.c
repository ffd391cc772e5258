/* bench_mint.c - session-mode issuance work in process (issue 17, item 1):
 * attest_x509_make_leaf with a software signer (a session issuer's key, as
 * attestd signs session-mode leaves) and a P-256 key generation, as ratios
 * to one ECDSA P-256 sign measured in the same run. All in software.
 *
 * Report only: nothing here asserts on time. Every timed call's result is
 * checked; a figure whose run failed prints "n/a" and the process exits 1.
 *
 * Baselines, same run:
 *   ecdsa_p256_sign: EVP_DigestSign of a 64-byte message, a fresh
 *                    EVP_MD_CTX per call, the key already made;
 *   openssl speed ecdsap256 (sign/s, verify/s), the figure issue 17 asks
 *                    issuance be compared with (run once, 1 s per op).
 * Timed:
 *   leaf:   one attest_x509_make_leaf (depth-0 intent leaf fields, scopes,
 *           a 300-byte intent), signature and self-check included, for a
 *           key made up front: the certificate work of one issuance;
 *   keygen: one attest_p256_keygen (the session-mode leaf key attestd
 *           makes when the agent brings none).
 * ratio = ECDSA sign time / leaf time (leaves per sign): the goal of 0.3
 * for whole issuance over the socket (bench_issue) cannot be met unless the
 * certificate work alone is well above it.
 * The phases run interleaved in ROUNDS rounds so drift hits them alike.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/attest.h"
#include "testutil.h"
#include "testutil_bench.h"
#include "testutil_intent.h"
#include "x509/x509.h"
#include "x509/x509agent.h"

#define ROUNDS 5
#define WARMUP 20
#define N_SIGN 400 /* per round */
#define N_LEAF 200
#define N_KEYGEN 200

static struct {
	EVP_PKEY *ecdsa_key, *leaf_key;
	unsigned char msg[64];
	char intent[301];
	int failures;
} bx;

static int sign_once(void)
{
	unsigned char sig[80];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, bx.ecdsa_key) == 1 &&
		 EVP_DigestSign(md, sig, &siglen, bx.msg, sizeof(bx.msg)) == 1;

	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

static int leaf_once(void)
{
	struct attest_leaf_params lp;
	struct attest_signer as = signer(fx.a.ca_key);
	X509 *leaf = NULL;
	int r;

	memset(&lp, 0, sizeof(lp));
	lp.pub = bx.leaf_key;
	lp.ttl = 600;
	lp.scopes = "ehr.read ehr.write";
	lp.task_id = "task-1";
	lp.intent = (const uint8_t *)bx.intent;
	lp.intent_len = strlen(bx.intent);
	r = attest_x509_make_leaf(fx.a.ca, &lp, &as, &leaf);
	X509_free(leaf);
	if (r != ATTEST_OK) {
		fprintf(stderr, "bench_mint: leaf: %s (%s)\n", attest_errname(r), attest_errdetail());
		return -1;
	}
	return 0;
}

static int keygen_once(void)
{
	EVP_PKEY *k = NULL;
	int r = attest_p256_keygen(&k);

	EVP_PKEY_free(k);
	return r == ATTEST_OK ? 0 : -1;
}

enum kind { K_SIGN, K_LEAF, K_KEYGEN };

static int run_once(const struct tu_series *s)
{
	switch (s->kind) {
	case K_SIGN:
		return sign_once();
	case K_LEAF:
		return leaf_once();
	case K_KEYGEN:
		return keygen_once();
	}
	return -1;
}

/* `openssl speed -mr ecdsap256`: "+F4:<i>:256:<sign/s>:<verify/s>". */
static int openssl_speed(double *sign_s, double *verify_s)
{
	char line[256];
	FILE *f = popen("openssl speed -mr -seconds 1 ecdsap256 2>/dev/null", "r");
	int found = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "+F4:", 4) == 0 &&
		    sscanf(line, "+F4:%*d:256:%lf:%lf", sign_s, verify_s) == 2)
			found = 1;
	if (pclose(f) != 0 || !found)
		return -1;
	return 0;
}

int main(void)
{
	struct tu_series s[3] = {
		{ "ecdsa_p256_sign", K_SIGN, N_SIGN, NULL, 0, 1 },
		{ "make_leaf", K_LEAF, N_LEAF, NULL, 0, 1 },
		{ "p256 keygen", K_KEYGEN, N_KEYGEN, NULL, 0, 1 },
	};
	struct tu_stats st[3];
	char note[200];
	double t0 = tu_now_ms(), sp_sign = 0, sp_verify = 0;
	int sp_ok;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# bench_mint (software signer, no TPM): us per call, mean of n; ratio = one "
	       "ECDSA P-256 sign / one call; report only, nothing asserted\n");
	fixture_up();
	bx.ecdsa_key = p256();
	bx.leaf_key = p256();
	memset(bx.msg, 0x5a, sizeof(bx.msg));
	memset(bx.intent, 'i', sizeof(bx.intent) - 1);
	for (int k = 0; k < 3; k++) {
		s[k].v = malloc(sizeof(double) * (size_t)(s[k].per_round * ROUNDS));
		NEED(s[k].v != NULL);
	}
	for (int round = 0; round < ROUNDS; round++)
		for (int k = 0; k < 3; k++)
			bx.failures += tu_series_run(&s[k], round == 0 ? WARMUP : 0, run_once, "bench_mint");
	for (int k = 0; k < 3; k++)
		st[k] = tu_series_stats(&s[k]);
	sp_ok = openssl_speed(&sp_sign, &sp_verify) == 0 && sp_sign > 0;

	snprintf(note, sizeof(note), "EVP_DigestSign, 64-byte message, n=%d, p50 %.2f", s[0].n,
		 st[0].p50);
	tu_print_fig("ecdsa_p256_sign_us", st[0].ok, st[0].mean, 2, note);
	tu_print_fig("openssl_speed_ecdsap256_sign_per_s", sp_ok, sp_sign, 0,
		     "openssl speed -seconds 1 ecdsap256");
	tu_print_fig("openssl_speed_ecdsap256_verify_per_s", sp_ok, sp_verify, 0,
		     "openssl speed -seconds 1 ecdsap256");

	snprintf(note, sizeof(note), "attest_x509_make_leaf, software signer, n=%d, p50 %.2f, p99 %.2f",
		 s[1].n, st[1].p50, st[1].p99);
	tu_print_fig("mint_leaf_us", st[1].ok, st[1].mean, 2, note);
	snprintf(note, sizeof(note), "leaves per ECDSA sign in process (1 sign + 1 verify inside: "
		 "at most ~0.6); p50 ratio %.2f", st[1].p50 > 0 ? st[0].p50 / st[1].p50 : 0);
	tu_print_fig("mint_leaf_ratio", st[0].ok && st[1].ok && st[1].mean > 0,
		     st[1].mean > 0 ? st[0].mean / st[1].mean : 0, 3, note);
	snprintf(note, sizeof(note), "leaves/s / openssl speed sign/s; goal for whole issuance "
		 ">= 0.1 sequential (bench_issue)");
	tu_print_fig("mint_leaf_over_openssl_sign", sp_ok && st[1].ok && st[1].mean > 0,
		     st[1].mean > 0 ? 1e6 / st[1].mean / sp_sign : 0, 3, note);

	snprintf(note, sizeof(note), "attest_p256_keygen, n=%d, p50 %.2f", s[2].n, st[2].p50);
	tu_print_fig("mint_keygen_us", st[2].ok, st[2].mean, 2, note);
	snprintf(note, sizeof(note), "keys per ECDSA sign; p50 ratio %.2f",
		 st[2].p50 > 0 ? st[0].p50 / st[2].p50 : 0);
	tu_print_fig("mint_keygen_ratio", st[0].ok && st[2].ok && st[2].mean > 0,
		     st[2].mean > 0 ? st[0].mean / st[2].mean : 0, 3, note);

	printf("# bench_mint: %.1f s, %d failure(s)\n", (tu_now_ms() - t0) / 1e3, bx.failures);
	for (int k = 0; k < 3; k++)
		free(s[k].v);
	EVP_PKEY_free(bx.ecdsa_key);
	EVP_PKEY_free(bx.leaf_key);
	fixture_down();
	return bx.failures == 0 && sp_ok ? 0 : 1;
}
