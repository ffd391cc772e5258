/* bench_intent.c - cost of attest_intent_verify per chain depth, as a ratio
 * to one ECDSA P-256 verify measured in the same run (issue 4, "Benchmark";
 * make bench). All in software, no TPM.
 *
 * Report only: machines are noisy, so nothing here asserts on time. Every
 * timed call's result is checked; a figure whose run failed prints "n/a"
 * and the process exits 1 at the end (make bench ignores that).
 *
 * Fixture (as tests/unit/test_intent.c): a fleet root, host CAs web-01 and
 * db-01, agents intake (web-01) and billing (db-01) with software keys; a
 * grant from a trusted issuer to intake. Chains:
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
#include "x509.h"
#include "x509agent.h"
#include "testutil.h"

#define TD "fleet.example"
#define ID_A "spiffe://" TD "/host/web-01/agent/intake"
#define ID_B "spiffe://" TD "/host/db-01/agent/billing"
#define ID_C "spiffe://" TD "/host/web-01/agent/coder"
#define ISS "ehr.example"
#define USER "dr.alice@hospital.example"

#define ROUNDS 5
#define WARMUP 20
#define N_ECDSA 1000 /* per round */
#define N_DEPTH0 500
#define N_DEPTH1 200
#define N_DEPTH2 120
#define NDEPTH 3

struct agent {
	EVP_PKEY *ca_key, *leaf_key;
	X509 *ca, *leaf;
	STACK_OF(X509) *chain; /* leaf, agent CA, host CA */
};

static struct {
	time_t t0;
	EVP_PKEY *root_key, *h1, *h2, *issuer, *ecdsa_key;
	X509 *root, *hca1, *hca2;
	struct agent a, b;
	struct attest_intent_trust *trust;
	char *tok[NDEPTH];
	const char *aud[NDEPTH];
	int sigs[NDEPTH];
	uint8_t digest[32];
	unsigned char sig[80];
	size_t siglen;
	int failures;
} fx;

static const char *const scopes3[] = { "ehr.read", "ehr.write", "billing.read" };
static const char *const res2[] = { "ehr:patient/123/*", "billing:account/9" };
static const char *const s_read[] = { "ehr.read" };
static const char *const s_read_bill[] = { "ehr.read", "billing.read" };
static const char *const r_notes[] = { "ehr:patient/123/notes/*" };
static const char *const r_notes7[] = { "ehr:patient/123/notes/7" };

/* ---- fixture (a failure there is a broken environment) ---- */

#define NEED(x_)                                                                          \
	do {                                                                              \
		if (!(x_)) {                                                              \
			fprintf(stderr, "bench_intent fixture, line %d: %s failed: %s\n", \
				__LINE__, #x_, attest_errdetail());                       \
			exit(2);                                                          \
		}                                                                         \
	} while (0)

static EVP_PKEY *p256(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	NEED(k != NULL);
	return k;
}

static struct attest_signer signer(EVP_PKEY *k)
{
	struct attest_signer s;

	NEED(attest_signer_from_pkey(k, &s) == ATTEST_OK);
	return s;
}

/* An agent CA needs creation evidence of the right shape; its content is
 * not checked by these paths, so zeros will do (as in test_intent.c). */
static void make_agent(struct agent *ag, X509 *hca, EVP_PKEY *host_key, const char *id)
{
	static const char uuid[] = "6f1c2b1e-8d7a-4c1f-9a7e-3b2d1c0f9e8d";
	uint8_t creation[sizeof(TPMS_ATTEST)], csig[sizeof(TPMT_SIGNATURE)];
	size_t clen = 0, slen = 0;
	TPMS_ATTEST att;
	TPMT_SIGNATURE sig;
	struct attest_agent_ca_params p;
	struct attest_leaf_params lp;
	struct attest_signer hs = signer(host_key), as;

	memset(&att, 0, sizeof(att));
	att.magic = TPM2_GENERATED_VALUE;
	att.type = TPM2_ST_ATTEST_CREATION;
	NEED(Tss2_MU_TPMS_ATTEST_Marshal(&att, creation, sizeof(creation), &clen) ==
	     TSS2_RC_SUCCESS);
	memset(&sig, 0, sizeof(sig));
	sig.sigAlg = TPM2_ALG_ECDSA;
	sig.signature.ecdsa.hash = TPM2_ALG_SHA256;
	sig.signature.ecdsa.signatureR.size = 32;
	sig.signature.ecdsa.signatureS.size = 32;
	NEED(Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, csig, sizeof(csig), &slen) == TSS2_RC_SUCCESS);

	ag->ca_key = p256();
	ag->leaf_key = p256();
	memset(&p, 0, sizeof(p));
	p.agent_id = id;
	p.agent_uuid = uuid;
	p.agent_key = ag->ca_key;
	p.creation = creation;
	p.creation_len = clen;
	p.creation_sig = csig;
	p.creation_sig_len = slen;
	p.ttl = 3600;
	NEED(attest_x509_make_agent_ca(hca, &p, &hs, &ag->ca) == ATTEST_OK);
	as = signer(ag->ca_key);
	memset(&lp, 0, sizeof(lp));
	lp.pub = ag->leaf_key;
	lp.ttl = 1200;
	lp.delegate_depth = 3;
	NEED(attest_x509_make_leaf(ag->ca, &lp, &as, &ag->leaf) == ATTEST_OK);
	NEED(ag->ca != NULL && ag->leaf != NULL);
	ag->chain = sk_X509_new_null();
	NEED(ag->chain != NULL && X509_add_cert(ag->chain, ag->leaf, X509_ADD_FLAG_UP_REF) == 1 &&
	     X509_add_cert(ag->chain, ag->ca, X509_ADD_FLAG_UP_REF) == 1 &&
	     X509_add_cert(ag->chain, hca, X509_ADD_FLAG_UP_REF) == 1);
}

static void free_agent(struct agent *ag)
{
	sk_X509_pop_free(ag->chain, X509_free);
	X509_free(ag->leaf);
	X509_free(ag->ca);
	EVP_PKEY_free(ag->leaf_key);
	EVP_PKEY_free(ag->ca_key);
}

static struct attest_delegation_claims dclaims(const char *aud, const char *const *scopes,
					       size_t ns, const char *const *res, size_t nr,
					       int64_t exp)
{
	struct attest_delegation_claims d;

	memset(&d, 0, sizeof(d));
	d.aud = aud;
	d.scopes = scopes;
	d.nscopes = ns;
	d.resources = res;
	d.nresources = nr;
	d.iat = fx.t0;
	d.exp = exp;
	return d;
}

static void fixture_up(void)
{
	struct attest_intent_claims c;
	struct attest_delegation_claims c1, c2;
	static const char msg[] = "bench_intent: one ECDSA verify";
	EVP_PKEY_CTX *pc;

	fx.t0 = time(NULL);
	NEED(attest_x509_make_root(TD, 1, &fx.root_key, &fx.root) == ATTEST_OK);
	fx.h1 = p256();
	fx.h2 = p256();
	NEED(attest_x509_make_host_ca(fx.root_key, fx.root, TD, "web-01", fx.h1, 7200,
				      &fx.hca1) == ATTEST_OK);
	NEED(attest_x509_make_host_ca(fx.root_key, fx.root, TD, "db-01", fx.h2, 7200,
				      &fx.hca2) == ATTEST_OK);
	make_agent(&fx.a, fx.hca1, fx.h1, ID_A);
	make_agent(&fx.b, fx.hca2, fx.h2, ID_B);
	fx.issuer = p256();
	NEED(attest_intent_trust_new(&fx.trust) == ATTEST_OK);
	NEED(attest_intent_trust_add_issuer(fx.trust, ISS, fx.issuer) == ATTEST_OK);
	NEED(attest_intent_trust_set_root(fx.trust, fx.root) == ATTEST_OK);

	memset(&c, 0, sizeof(c));
	c.sub = USER;
	c.aud = ID_A;
	c.purpose = ATTEST_PURPOSE_TREATMENT;
	c.purpose_text = "follow-up of patient 123";
	c.scopes = scopes3;
	c.nscopes = 3;
	c.resources = res2;
	c.nresources = 2;
	c.jti = "task-42";
	c.iat = fx.t0 - 60;
	c.nbf = fx.t0 - 60;
	c.exp = fx.t0 + 3600;
	c.max_depth = 2;
	NEED(attest_intent_grant_make(fx.issuer, ISS, &c, &fx.tok[0]) == ATTEST_OK);
	c1 = dclaims(ID_B, s_read_bill, 2, r_notes, 1, fx.t0 + 900);
	NEED(attest_intent_delegate(fx.a.leaf_key, fx.a.chain, fx.tok[0], &c1, &fx.tok[1]) ==
	     ATTEST_OK);
	c2 = dclaims(ID_C, s_read, 1, r_notes7, 1, fx.t0 + 800);
	NEED(attest_intent_delegate(fx.b.leaf_key, fx.b.chain, fx.tok[1], &c2, &fx.tok[2]) ==
	     ATTEST_OK);
	fx.aud[0] = ID_A;
	fx.aud[1] = ID_B;
	fx.aud[2] = ID_C;
	fx.sigs[0] = 1;
	fx.sigs[1] = fx.sigs[0] + 1 + sk_X509_num(fx.a.chain);
	fx.sigs[2] = fx.sigs[1] + 1 + sk_X509_num(fx.b.chain);

	/* The baseline's key, digest and signature. */
	fx.ecdsa_key = p256();
	NEED(EVP_Digest(msg, strlen(msg), fx.digest, NULL, EVP_sha256(), NULL) == 1);
	pc = EVP_PKEY_CTX_new_from_pkey(NULL, fx.ecdsa_key, NULL);
	fx.siglen = sizeof(fx.sig);
	NEED(pc != NULL && EVP_PKEY_sign_init(pc) == 1 &&
	     EVP_PKEY_sign(pc, fx.sig, &fx.siglen, fx.digest, sizeof(fx.digest)) == 1);
	EVP_PKEY_CTX_free(pc);
}

static void fixture_down(void)
{
	for (int i = 0; i < NDEPTH; i++)
		free(fx.tok[i]);
	attest_intent_trust_free(fx.trust);
	free_agent(&fx.a);
	free_agent(&fx.b);
	X509_free(fx.hca1);
	X509_free(fx.hca2);
	X509_free(fx.root);
	EVP_PKEY_free(fx.root_key);
	EVP_PKEY_free(fx.h1);
	EVP_PKEY_free(fx.h2);
	EVP_PKEY_free(fx.issuer);
	EVP_PKEY_free(fx.ecdsa_key);
}

/* ---- the timed operations: 0 on success ---- */

static int ecdsa_verify_once(void)
{
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_pkey(NULL, fx.ecdsa_key, NULL);
	int ok = pc != NULL && EVP_PKEY_verify_init(pc) == 1 &&
		 EVP_PKEY_verify(pc, fx.sig, fx.siglen, fx.digest, sizeof(fx.digest)) == 1;

	EVP_PKEY_CTX_free(pc);
	return ok ? 0 : -1;
}

static int intent_verify_once(int depth)
{
	struct attest_intent_chain *ch = NULL;
	int r = attest_intent_verify(fx.trust, fx.tok[depth], fx.aud[depth], fx.t0 + 5, &ch);
	int ok = r == ATTEST_OK && ch != NULL && attest_intent_chain_depth(ch) == (unsigned)depth;

	if (!ok)
		fprintf(stderr, "bench_intent: depth %d: %s (%s)\n", depth, attest_errname(r),
			attest_errdetail());
	attest_intent_chain_free(ch);
	return ok ? 0 : -1;
}

/* ---- measurement ---- */

struct series {
	const char *what;
	int depth; /* -1: the ECDSA baseline */
	int per_round;
	double *v; /* microseconds per call */
	int n, ok;
};

static int run_once(const struct series *s)
{
	return s->depth < 0 ? ecdsa_verify_once() : intent_verify_once(s->depth);
}

static void run_batch(struct series *s, int warm)
{
	double t0;

	if (!s->ok)
		return;
	for (int i = 0; i < warm; i++)
		if (run_once(s) != 0)
			goto fail;
	for (int i = 0; i < s->per_round; i++) {
		t0 = tu_now_ms();
		if (run_once(s) != 0)
			goto fail;
		s->v[s->n++] = (tu_now_ms() - t0) * 1e3;
	}
	return;
fail:
	fprintf(stderr, "bench_intent: %s failed; its figures are n/a\n", s->what);
	s->ok = 0;
	fx.failures++;
}

struct stats {
	double mean, p50;
	int ok;
};

/* Sorts v in place. */
static struct stats stats_of(const struct series *s)
{
	struct stats st = { 0, 0, 0 };
	double sum = 0;
	int n = s->n;

	if (!s->ok || n <= 0)
		return st;
	tu_sort_doubles(s->v, (size_t)n);
	for (int i = 0; i < n; i++)
		sum += s->v[i];
	st.mean = sum / n;
	st.p50 = n % 2 ? s->v[n / 2] : (s->v[n / 2 - 1] + s->v[n / 2]) / 2;
	st.ok = 1;
	return st;
}

static void print_fig(const char *name, int ok, double v, int prec, const char *note)
{
	if (ok) {
		printf("%-44s %10.*f  %s\n", name, prec, v, note);
	} else {
		printf("%-44s %10s  %s\n", name, "n/a", note);
	}
}

int main(void)
{
	struct series s[1 + NDEPTH] = {
		{ "ecdsa_p256_verify", -1, N_ECDSA, NULL, 0, 1 },
		{ "intent_verify depth 0", 0, N_DEPTH0, NULL, 0, 1 },
		{ "intent_verify depth 1", 1, N_DEPTH1, NULL, 0, 1 },
		{ "intent_verify depth 2", 2, N_DEPTH2, NULL, 0, 1 },
	};
	struct stats st[1 + NDEPTH];
	char name[96], note[128];
	double t0 = tu_now_ms();

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# bench_intent (software, no TPM): us per verification, mean of n (p50 in the "
	       "note); ratio = chain time / one ECDSA P-256 verify; report only, nothing "
	       "asserted\n");
	fixture_up();
	for (int k = 0; k < 1 + NDEPTH; k++) {
		s[k].v = malloc(sizeof(double) * (size_t)(s[k].per_round * ROUNDS));
		NEED(s[k].v != NULL);
	}
	for (int round = 0; round < ROUNDS; round++)
		for (int k = 0; k < 1 + NDEPTH; k++)
			run_batch(&s[k], round == 0 ? WARMUP : 0);
	for (int k = 0; k < 1 + NDEPTH; k++)
		st[k] = stats_of(&s[k]);

	snprintf(note, sizeof(note), "EVP_PKEY_verify, 32-byte digest, n=%d, p50 %.2f", s[0].n,
		 st[0].p50);
	print_fig("ecdsa_p256_verify_us", st[0].ok, st[0].mean, 2, note);
	snprintf(note, sizeof(note), "n=%d", s[0].n);
	print_fig("ecdsa_p256_verifies_per_s", st[0].ok && st[0].mean > 0,
		  st[0].mean > 0 ? 1e6 / st[0].mean : 0, 0, note);
	for (int d = 0; d < NDEPTH; d++) {
		struct stats c = st[1 + d];

		snprintf(name, sizeof(name), "intent_verify_us_depth%d", d);
		snprintf(note, sizeof(note), "n=%d, p50 %.2f", s[1 + d].n, c.p50);
		print_fig(name, c.ok, c.mean, 2, note);
		snprintf(name, sizeof(name), "intent_signatures_depth%d", d);
		if (d == 0)
			snprintf(note, sizeof(note), "the grant");
		else
			snprintf(note, sizeof(note), "the grant + %d x (delegation + %d x5c certs)",
				 d, sk_X509_num(fx.a.chain));
		print_fig(name, 1, fx.sigs[d], 0, note);
		snprintf(name, sizeof(name), "intent_verify_ratio_depth%d_over_ecdsa", d);
		snprintf(note, sizeof(note), "floor %d; p50 ratio %.2f", fx.sigs[d],
			 st[0].p50 > 0 ? c.p50 / st[0].p50 : 0);
		print_fig(name, c.ok && st[0].ok && st[0].mean > 0,
			  st[0].mean > 0 ? c.mean / st[0].mean : 0, 2, note);
	}
	printf("# bench_intent: %.1f s, %d failure(s)\n", (tu_now_ms() - t0) / 1e3, fx.failures);
	for (int k = 0; k < 1 + NDEPTH; k++)
		free(s[k].v);
	fixture_down();
	return fx.failures == 0 ? 0 : 1;
}
