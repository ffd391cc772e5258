/* test_merkle.c - RFC 9162 2.1 tree hashes and proofs against published
 * known answers, against a naive implementation of the definitions, and
 * with tampered proofs.
 *
 * Known answers: the 8-leaf corpus of Certificate Transparency's reference
 * tests (leaves "", 00, 10, 2021, 3031, 40414243, 5051525354555657,
 * 606162636465666768696a6b6c6d6e6f). Roots, inclusion and consistency
 * proofs as published in transparency-dev/merkle's test-vector generator
 * (the C2SP testdata, carried over from certificate-transparency-go's
 * merkle tests); the roots also appear in the CT C++ merkle_tree_test.
 * Targets: attest_merkle_root, attest_merkle_inclusion_proof/_verify,
 * attest_merkle_consistency_proof/_verify, attest_merkle_frontier_*. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit/merkle.h"
#include "testutil.h"

static const struct {
	const char *data;
	size_t len;
} corpus[8] = {
	{ "", 0 },
	{ "\x00", 1 },
	{ "\x10", 1 },
	{ "\x20\x21", 2 },
	{ "\x30\x31", 2 },
	{ "\x40\x41\x42\x43", 4 },
	{ "\x50\x51\x52\x53\x54\x55\x56\x57", 8 },
	{ "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f", 16 },
};

/* MTH(D[0:n]) for n = 0..8. */
static const char *const roots[9] = {
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

struct kat_proof {
	uint64_t a, b; /* inclusion: index, size; consistency: size1, size2 */
	size_t n;
	const char *h[3];
};

static const struct kat_proof inclusion[] = {
	{ 0, 1, 0, { NULL } },
	{ 0, 8, 3,
	  { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
	    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 5, 8, 3,
	  { "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
	    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
	    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 3, 1, { "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" } },
	{ 1, 5, 3,
	  { "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
};

static const struct kat_proof consistency[] = {
	{ 1, 1, 0, { NULL } },
	{ 1, 8, 3,
	  { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
	    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 6, 8, 3,
	  { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
	    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
	    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 5, 2,
	  { "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
	{ 6, 7, 3,
	  { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
	    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
	    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
};

static void unhex(const char *s, uint8_t out[32])
{
	for (size_t i = 0; i < 32; i++) {
		unsigned v;

		CU_ASSERT_FATAL(sscanf(s + 2 * i, "%2x", &v) == 1);
		out[i] = (uint8_t)v;
	}
}

static void corpus_leaves(attest_merkle_hash *leaves)
{
	for (size_t i = 0; i < 8; i++)
		CU_ASSERT_FATAL(attest_merkle_leaf(corpus[i].data, corpus[i].len, leaves[i]) ==
				ATTEST_OK);
}

/* Each thread hashes with its own reused context (issue 17): roots made in
 * four threads at once agree with the main thread's and the definitions'
 * (SHA-256 one-shot), for leaves small and large. */
#define THREAD_LEAVES 300
static void naive_mth(const attest_merkle_hash *l, uint64_t n, uint8_t out[32]);
struct hash_job {
	uint8_t root[32];
	int ok;
};

static void reference_leaf(const uint8_t *d, size_t len, uint8_t out[32])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	static const uint8_t zero = 0;

	CU_ASSERT_FATAL(c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
			EVP_DigestUpdate(c, &zero, 1) == 1 && EVP_DigestUpdate(c, d, len) == 1 &&
			EVP_DigestFinal_ex(c, out, NULL) == 1);
	EVP_MD_CTX_free(c);
}

static uint8_t big_data[THREAD_LEAVES * 16 + 4096];

static void *hash_thread(void *arg)
{
	struct hash_job *j = arg;
	struct attest_merkle_frontier f;
	uint8_t leaf[32];

	j->ok = 1;
	attest_merkle_frontier_init(&f);
	for (int round = 0; round < 20; round++) {
		attest_merkle_frontier_init(&f);
		for (size_t i = 0; i < THREAD_LEAVES; i++)
			if (attest_merkle_leaf(big_data + i, i * 16, leaf) != ATTEST_OK ||
			    attest_merkle_frontier_append(&f, leaf) != ATTEST_OK)
				j->ok = 0;
	}
	if (attest_merkle_frontier_root(&f, j->root) != ATTEST_OK)
		j->ok = 0;
	return NULL;
}

static void test_threads(void)
{
	static attest_merkle_hash leaves[THREAD_LEAVES];
	struct hash_job jobs[4];
	pthread_t th[4];
	uint8_t want[32], ref[32];

	for (size_t i = 0; i < sizeof(big_data); i++)
		big_data[i] = (uint8_t)(i * 131 + 7);
	for (size_t i = 0; i < THREAD_LEAVES; i++) {
		reference_leaf(big_data + i, i * 16, ref);
		TU_ASSERT_ERR(attest_merkle_leaf(big_data + i, i * 16, leaves[i]), ATTEST_OK);
		CU_ASSERT(memcmp(ref, leaves[i], 32) == 0);
	}
	naive_mth(leaves, THREAD_LEAVES, want);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_FATAL(pthread_create(&th[i], NULL, hash_thread, &jobs[i]) == 0);
	for (int i = 0; i < 4; i++) {
		CU_ASSERT_FATAL(pthread_join(th[i], NULL) == 0);
		CU_ASSERT(jobs[i].ok);
		CU_ASSERT(memcmp(jobs[i].root, want, 32) == 0);
	}
}

static void test_roots(void)
{
	attest_merkle_hash leaves[8];
	struct attest_merkle_frontier f;
	uint8_t want[32], got[32];

	corpus_leaves(leaves);
	attest_merkle_frontier_init(&f);
	for (uint64_t n = 0; n <= 8; n++) {
		unhex(roots[n], want);
		TU_ASSERT_ERR(attest_merkle_root(leaves, n, got), ATTEST_OK);
		CU_ASSERT(memcmp(got, want, 32) == 0);
		/* The O(log n) frontier agrees at every size. */
		TU_ASSERT_ERR(attest_merkle_frontier_root(&f, got), ATTEST_OK);
		CU_ASSERT(memcmp(got, want, 32) == 0);
		if (n < 8)
			TU_ASSERT_ERR(attest_merkle_frontier_append(&f, leaves[n]), ATTEST_OK);
	}
}

static void test_kat_inclusion(void)
{
	attest_merkle_hash leaves[8], proof[ATTEST_MERKLE_MAX_PROOF], want[3];
	uint8_t root[32];
	size_t plen;

	corpus_leaves(leaves);
	for (size_t t = 0; t < sizeof(inclusion) / sizeof(inclusion[0]); t++) {
		const struct kat_proof *k = &inclusion[t];

		for (size_t i = 0; i < k->n; i++)
			unhex(k->h[i], want[i]);
		TU_ASSERT_ERR(attest_merkle_inclusion_proof(leaves, k->b, k->a, proof, &plen),
			      ATTEST_OK);
		CU_ASSERT_EQUAL(plen, k->n);
		CU_ASSERT(plen == 0 || memcmp(proof, want, plen * 32) == 0);
		unhex(roots[k->b], root);
		TU_ASSERT_ERR(attest_merkle_inclusion_verify(k->a, k->b, leaves[k->a], want, k->n, root),
			      ATTEST_OK);
	}
}

static void test_kat_consistency(void)
{
	attest_merkle_hash leaves[8], proof[ATTEST_MERKLE_MAX_PROOF], want[3];
	uint8_t r1[32], r2[32];
	size_t plen;

	corpus_leaves(leaves);
	for (size_t t = 0; t < sizeof(consistency) / sizeof(consistency[0]); t++) {
		const struct kat_proof *k = &consistency[t];

		for (size_t i = 0; i < k->n; i++)
			unhex(k->h[i], want[i]);
		TU_ASSERT_ERR(attest_merkle_consistency_proof(leaves, k->b, k->a, proof, &plen),
			      ATTEST_OK);
		CU_ASSERT_EQUAL(plen, k->n);
		CU_ASSERT(plen == 0 || memcmp(proof, want, plen * 32) == 0);
		unhex(roots[k->a], r1);
		unhex(roots[k->b], r2);
		TU_ASSERT_ERR(attest_merkle_consistency_verify(k->a, k->b, r1, r2, want, k->n),
			      ATTEST_OK);
	}
}

/* The definitions of RFC 9162 2.1.1, as naively as possible, over raw
 * records: the reference the generated proofs are checked against. */
static void naive_mth(const attest_merkle_hash *l, uint64_t n, uint8_t out[32])
{
	uint8_t buf[65];
	uint64_t k = 1;

	if (n == 0) {
		EVP_Digest("", 0, out, NULL, EVP_sha256(), NULL);
		return;
	}
	if (n == 1) {
		memcpy(out, l[0], 32);
		return;
	}
	while (2 * k < n)
		k *= 2;
	buf[0] = 1;
	naive_mth(l, k, buf + 1);
	naive_mth(l + k, n - k, buf + 33);
	EVP_Digest(buf, 65, out, NULL, EVP_sha256(), NULL);
}

#define NLEAF 70

static void make_leaves(attest_merkle_hash *leaves, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t rec[2 + 8] = { 'r', (uint8_t)i };
		uint8_t buf[sizeof(rec) + 1] = { 0 };

		memcpy(buf + 1, rec, sizeof(rec));
		EVP_Digest(buf, sizeof(buf), leaves[i], NULL, EVP_sha256(), NULL);
		/* The library's leaf hash is the same definition. */
		uint8_t mine[32];
		CU_ASSERT(attest_merkle_leaf(rec, sizeof(rec), mine) == ATTEST_OK &&
			  memcmp(mine, leaves[i], 32) == 0);
	}
}

/* Every (index, size) and (size1, size2) up to NLEAF: proofs generated and
 * verified; roots equal the naive MTH; the frontier agrees. */
static void test_all_sizes(void)
{
	attest_merkle_hash leaves[NLEAF], proof[ATTEST_MERKLE_MAX_PROOF];
	struct attest_merkle_frontier f;
	uint8_t r1[32], r2[32], got[32];
	size_t plen;

	make_leaves(leaves, NLEAF);
	attest_merkle_frontier_init(&f);
	for (uint64_t n = 1; n <= NLEAF; n++) {
		TU_ASSERT_ERR(attest_merkle_frontier_append(&f, leaves[n - 1]), ATTEST_OK);
		naive_mth(leaves, n, r2);
		CU_ASSERT(attest_merkle_root(leaves, n, got) == ATTEST_OK && memcmp(got, r2, 32) == 0);
		CU_ASSERT(attest_merkle_frontier_root(&f, got) == ATTEST_OK &&
			  memcmp(got, r2, 32) == 0);
		for (uint64_t i = 0; i < n; i++) {
			CU_ASSERT_FATAL(attest_merkle_inclusion_proof(leaves, n, i, proof, &plen) ==
					ATTEST_OK);
			CU_ASSERT(attest_merkle_inclusion_verify(i, n, leaves[i], proof, plen, r2) ==
				  ATTEST_OK);
		}
		for (uint64_t m = 1; m <= n; m++) {
			naive_mth(leaves, m, r1);
			CU_ASSERT_FATAL(attest_merkle_consistency_proof(leaves, n, m, proof, &plen) ==
					ATTEST_OK);
			CU_ASSERT(attest_merkle_consistency_verify(m, n, r1, r2, proof, plen) ==
				  ATTEST_OK);
		}
	}
}

/* Tampered inclusion proofs: each element flipped, one dropped, one added,
 * wrong index or size, wrong leaf, wrong root. Every one fails. */
static void test_tampered_inclusion(void)
{
	attest_merkle_hash leaves[NLEAF], proof[ATTEST_MERKLE_MAX_PROOF + 1], bad[ATTEST_MERKLE_MAX_PROOF + 1];
	uint8_t root[32], other[32];
	const uint64_t n = 45, idx = 17;
	size_t plen;

	make_leaves(leaves, NLEAF);
	CU_ASSERT_FATAL(attest_merkle_root(leaves, n, root) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_merkle_inclusion_proof(leaves, n, idx, proof, &plen) == ATTEST_OK);
	CU_ASSERT_FATAL(plen >= 2);
	TU_ASSERT_ERR(attest_merkle_inclusion_verify(idx, n, leaves[idx], proof, plen, root),
		      ATTEST_OK);
	for (size_t i = 0; i < plen; i++) {
		memcpy(bad, proof, plen * 32);
		bad[i][0] ^= 8;
		TU_ASSERT_ERR(attest_merkle_inclusion_verify(idx, n, leaves[idx], bad, plen, root),
			      ATTEST_E_EVIDENCE_QUALIFYING);
	}
	TU_ASSERT_ERR(attest_merkle_inclusion_verify(idx, n, leaves[idx], proof, plen - 1, root),
		      ATTEST_E_PARSE);
	memcpy(bad, proof, plen * 32);
	memcpy(bad[plen], root, 32);
	TU_ASSERT_ERR(attest_merkle_inclusion_verify(idx, n, leaves[idx], bad, plen + 1, root),
		      ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_merkle_inclusion_verify(idx + 1, n, leaves[idx], proof, plen, root),
		      ATTEST_E_EVIDENCE_QUALIFYING);
	TU_ASSERT_ERR(attest_merkle_inclusion_verify(idx, n, leaves[idx + 1], proof, plen, root),
		      ATTEST_E_EVIDENCE_QUALIFYING);
	TU_ASSERT_ERR(attest_merkle_inclusion_verify(idx, n, leaves[idx], proof, plen, leaves[0]),
		      ATTEST_E_EVIDENCE_QUALIFYING);
	/* Another size: other path shape (or the same shape, another root). */
	CU_ASSERT_FATAL(attest_merkle_root(leaves, n * 2 > NLEAF ? NLEAF : n * 2, other) == ATTEST_OK);
	CU_ASSERT(attest_merkle_inclusion_verify(idx, NLEAF, leaves[idx], proof, plen, other) !=
		  ATTEST_OK);
	CU_ASSERT(attest_merkle_inclusion_verify(idx, n - 20, leaves[idx], proof, plen, root) !=
		  ATTEST_OK);
	TU_ASSERT_ERR(attest_merkle_inclusion_verify(n, n, leaves[idx], proof, plen, root),
		      ATTEST_E_PARSE);
}

static void test_tampered_consistency(void)
{
	attest_merkle_hash leaves[NLEAF], proof[ATTEST_MERKLE_MAX_PROOF + 1], bad[ATTEST_MERKLE_MAX_PROOF + 1];
	uint8_t r1[32], r2[32], x[32];
	const uint64_t m = 13, n = 60;
	size_t plen;

	make_leaves(leaves, NLEAF);
	CU_ASSERT_FATAL(attest_merkle_root(leaves, m, r1) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_merkle_root(leaves, n, r2) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_merkle_consistency_proof(leaves, n, m, proof, &plen) == ATTEST_OK);
	TU_ASSERT_ERR(attest_merkle_consistency_verify(m, n, r1, r2, proof, plen), ATTEST_OK);
	for (size_t i = 0; i < plen; i++) {
		memcpy(bad, proof, plen * 32);
		bad[i][31] ^= 1;
		CU_ASSERT(attest_merkle_consistency_verify(m, n, r1, r2, bad, plen) != ATTEST_OK);
	}
	CU_ASSERT(attest_merkle_consistency_verify(m, n, r1, r2, proof, plen - 1) != ATTEST_OK);
	memcpy(bad, proof, plen * 32);
	memcpy(bad[plen], r2, 32);
	TU_ASSERT_ERR(attest_merkle_consistency_verify(m, n, r1, r2, bad, plen + 1), ATTEST_E_PARSE);
	/* A rewritten history: the old root is not a prefix of the new tree. */
	memcpy(x, r1, 32);
	x[0] ^= 1;
	TU_ASSERT_ERR(attest_merkle_consistency_verify(m, n, x, r2, proof, plen),
		      ATTEST_E_EVIDENCE_QUALIFYING);
	TU_ASSERT_ERR(attest_merkle_consistency_verify(m, n, r1, x, proof, plen),
		      ATTEST_E_EVIDENCE_QUALIFYING);
	CU_ASSERT(attest_merkle_consistency_verify(m + 1, n, r1, r2, proof, plen) != ATTEST_OK);
	/* (Sizes with the same path shape, e.g. 60 and 59 here, are not told
	 * apart by the path alone: the roots bind the sizes, as in RFC 9162.) */
	TU_ASSERT_ERR(attest_merkle_consistency_verify(n, m, r1, r2, proof, plen), ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_merkle_consistency_verify(m, m, r1, r2, NULL, 0),
		      ATTEST_E_EVIDENCE_QUALIFYING);
	TU_ASSERT_ERR(attest_merkle_consistency_verify(m, n, r1, r2, NULL, 0), ATTEST_E_PARSE);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "roots: CT 8-leaf known answers, frontier", test_roots },
		{ "inclusion proofs: known answers", test_kat_inclusion },
		{ "consistency proofs: known answers", test_kat_consistency },
		{ "every size to 70: proofs vs the definitions", test_all_sizes },
		{ "tampered inclusion proofs fail", test_tampered_inclusion },
		{ "tampered consistency proofs fail", test_tampered_consistency },
		{ "hashes from four threads at once agree", test_threads },
		{ NULL, NULL },
	};

	return tu_main("merkle", tests);
}
