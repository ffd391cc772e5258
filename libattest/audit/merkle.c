/* merkle.c - RFC 9162 2.1 tree hashes, proofs and their verification. */
#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/err.h"
#include "audit/merkle.h"

/* One SHA-256 fetched once per process and one digest context per thread,
 * reused for every leaf and node: SHA256() fetched the digest, took its
 * locks and allocated a context per call, 3-4x the hashing itself
 * (issue 17). The thread's context is freed when the thread exits. */
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha_md;
static pthread_key_t sha_key;
static int sha_key_ok;

static void sha_ctx_free(void *p)
{
	EVP_MD_CTX_free(p);
}

static void sha_init(void)
{
	sha_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	sha_key_ok = pthread_key_create(&sha_key, sha_ctx_free) == 0;
}

/* SHA-256(prefix || a || b) with the thread's context. */
static int sha256_3(uint8_t prefix, const void *a, size_t alen, const void *b, size_t blen,
		    uint8_t out[32])
{
	EVP_MD_CTX *c;

	if (pthread_once(&sha_once, sha_init) != 0 || sha_md == NULL || !sha_key_ok)
		return 0;
	if ((c = pthread_getspecific(sha_key)) == NULL) {
		if ((c = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex2(c, sha_md, NULL) != 1 ||
		    pthread_setspecific(sha_key, c) != 0) {
			EVP_MD_CTX_free(c);
			return 0;
		}
	}
	/* NULL type: the context's own digest again, its state reset */
	return EVP_DigestInit_ex(c, NULL, NULL) == 1 && EVP_DigestUpdate(c, &prefix, 1) == 1 &&
	       (alen == 0 || EVP_DigestUpdate(c, a, alen) == 1) &&
	       (blen == 0 || EVP_DigestUpdate(c, b, blen) == 1) &&
	       EVP_DigestFinal_ex(c, out, NULL) == 1;
}

int attest_merkle_leaf(const void *data, size_t len, uint8_t out[32])
{
	if (data == NULL && len > 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "merkle leaf: NULL data");
	if (!sha256_3(0x00, data, len, NULL, 0, out))
		return attest_fail_ossl(ATTEST_E_CRYPTO, "SHA-256 of a leaf");
	return ATTEST_OK;
}

int attest_merkle_node(const uint8_t left[32], const uint8_t right[32], uint8_t out[32])
{
	if (!sha256_3(0x01, left, 32, right, 32, out))
		return attest_fail_ossl(ATTEST_E_CRYPTO, "SHA-256 of a node");
	return ATTEST_OK;
}

void attest_merkle_empty_root(uint8_t out[32])
{
	/* SHA-256("") */
	static const uint8_t empty[32] = {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
		0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
		0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
	};

	memcpy(out, empty, 32);
}

/* The largest power of two smaller than n (n >= 2). */
static uint64_t split(uint64_t n)
{
	uint64_t k = 1;

	while (k < n - k)
		k <<= 1;
	return k;
}

/* MTH of leaves[0..n), n >= 1. Recursion depth <= 64. */
static int mth(const attest_merkle_hash *leaves, uint64_t n, uint8_t out[32])
{
	uint8_t l[32], r[32];
	uint64_t k;
	int rc;

	if (n == 1) {
		memcpy(out, leaves[0], 32);
		return ATTEST_OK;
	}
	k = split(n);
	if ((rc = mth(leaves, k, l)) != ATTEST_OK || (rc = mth(leaves + k, n - k, r)) != ATTEST_OK)
		return rc;
	return attest_merkle_node(l, r, out);
}

int attest_merkle_root(const attest_merkle_hash *leaves, uint64_t n, uint8_t out[32])
{
	if (n == 0) {
		attest_merkle_empty_root(out);
		return ATTEST_OK;
	}
	if (leaves == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "merkle root: NULL leaves");
	return mth(leaves, n, out);
}

static int push(attest_merkle_hash *proof, size_t *plen, const uint8_t h[32])
{
	if (*plen >= ATTEST_MERKLE_MAX_PROOF)
		return attest_fail(ATTEST_E_INTERNAL, "merkle proof longer than %d",
				   ATTEST_MERKLE_MAX_PROOF);
	memcpy(proof[(*plen)++], h, 32);
	return ATTEST_OK;
}

/* PATH(m, D[n]) of RFC 9162 2.1.3.1, appended to proof. */
static int path(const attest_merkle_hash *d, uint64_t n, uint64_t m, attest_merkle_hash *proof,
		size_t *plen)
{
	uint8_t sib[32];
	uint64_t k;
	int rc;

	if (n <= 1)
		return ATTEST_OK;
	k = split(n);
	if (m < k) {
		if ((rc = path(d, k, m, proof, plen)) != ATTEST_OK ||
		    (rc = mth(d + k, n - k, sib)) != ATTEST_OK)
			return rc;
	} else {
		if ((rc = path(d + k, n - k, m - k, proof, plen)) != ATTEST_OK ||
		    (rc = mth(d, k, sib)) != ATTEST_OK)
			return rc;
	}
	return push(proof, plen, sib);
}

int attest_merkle_inclusion_proof(const attest_merkle_hash *leaves, uint64_t size,
				  uint64_t index, attest_merkle_hash *proof, size_t *plen)
{
	*plen = 0;
	if (leaves == NULL || index >= size)
		return attest_fail(ATTEST_E_INVALID_ARG,
				   "inclusion proof: index %llu not below size %llu",
				   (unsigned long long)index, (unsigned long long)size);
	return path(leaves, size, index, proof, plen);
}

static int same(const uint8_t a[32], const uint8_t b[32])
{
	return CRYPTO_memcmp(a, b, 32) == 0;
}

int attest_merkle_inclusion_verify(uint64_t index, uint64_t size, const uint8_t leaf[32],
				   const attest_merkle_hash *proof, size_t plen,
				   const uint8_t root[32])
{
	uint8_t r[32];
	uint64_t fn, sn;
	int rc;

	if (index >= size)
		return attest_fail(ATTEST_E_PARSE, "inclusion proof: index %llu not below size %llu",
				   (unsigned long long)index, (unsigned long long)size);
	if (plen > ATTEST_MERKLE_MAX_PROOF || (plen > 0 && proof == NULL))
		return attest_fail(ATTEST_E_PARSE, "inclusion proof: %zu elements", plen);
	fn = index;
	sn = size - 1;
	memcpy(r, leaf, 32);
	for (size_t i = 0; i < plen; i++) {
		if (sn == 0)
			return attest_fail(ATTEST_E_PARSE, "inclusion proof longer than the path");
		if ((fn & 1) || fn == sn) {
			if ((rc = attest_merkle_node(proof[i], r, r)) != ATTEST_OK)
				return rc;
			if (!(fn & 1))
				while (fn != 0 && !(fn & 1)) {
					fn >>= 1;
					sn >>= 1;
				}
		} else if ((rc = attest_merkle_node(r, proof[i], r)) != ATTEST_OK) {
			return rc;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return attest_fail(ATTEST_E_PARSE, "inclusion proof shorter than the path");
	if (!same(r, root))
		return attest_fail(ATTEST_E_EVIDENCE_QUALIFYING,
				   "inclusion proof for leaf %llu does not lead to the root",
				   (unsigned long long)index);
	return ATTEST_OK;
}

/* SUBPROOF(m, D[n], b) of RFC 9162 2.1.4.1, appended to proof. */
static int subproof(const attest_merkle_hash *d, uint64_t n, uint64_t m, int b,
		    attest_merkle_hash *proof, size_t *plen)
{
	uint8_t h[32];
	uint64_t k;
	int rc;

	if (m == n) {
		if (b)
			return ATTEST_OK;
		if ((rc = mth(d, n, h)) != ATTEST_OK)
			return rc;
		return push(proof, plen, h);
	}
	k = split(n);
	if (m <= k) {
		if ((rc = subproof(d, k, m, b, proof, plen)) != ATTEST_OK ||
		    (rc = mth(d + k, n - k, h)) != ATTEST_OK)
			return rc;
	} else {
		if ((rc = subproof(d + k, n - k, m - k, 0, proof, plen)) != ATTEST_OK ||
		    (rc = mth(d, k, h)) != ATTEST_OK)
			return rc;
	}
	return push(proof, plen, h);
}

int attest_merkle_consistency_proof(const attest_merkle_hash *leaves, uint64_t size2,
				    uint64_t size1, attest_merkle_hash *proof, size_t *plen)
{
	*plen = 0;
	if (leaves == NULL || size1 == 0 || size1 > size2)
		return attest_fail(ATTEST_E_INVALID_ARG,
				   "consistency proof: need 0 < size1 (%llu) <= size2 (%llu)",
				   (unsigned long long)size1, (unsigned long long)size2);
	return subproof(leaves, size2, size1, 1, proof, plen);
}

int attest_merkle_consistency_verify(uint64_t size1, uint64_t size2, const uint8_t root1[32],
				     const uint8_t root2[32], const attest_merkle_hash *proof,
				     size_t plen)
{
	uint8_t fr[32], sr[32];
	uint64_t fn, sn;
	size_t i = 0;
	int rc;

	if (size1 > size2 || plen > ATTEST_MERKLE_MAX_PROOF || (plen > 0 && proof == NULL))
		return attest_fail(ATTEST_E_PARSE, "consistency proof: sizes %llu > %llu or %zu elements",
				   (unsigned long long)size1, (unsigned long long)size2, plen);
	if (size1 == size2 || size1 == 0) {
		/* Nothing to prove beyond equal roots (or an empty first tree). */
		if (plen != 0)
			return attest_fail(ATTEST_E_PARSE, "consistency proof must be empty here");
		if (size1 == size2 && !same(root1, root2))
			return attest_fail(ATTEST_E_EVIDENCE_QUALIFYING,
					   "trees of equal size with different roots");
		return ATTEST_OK;
	}
	if (plen == 0)
		return attest_fail(ATTEST_E_PARSE, "consistency proof is empty");
	/* Step 1: a first tree of 2^k leaves is a node of the second; its
	 * root starts the path instead of being sent. */
	if ((size1 & (size1 - 1)) == 0) {
		memcpy(fr, root1, 32);
	} else {
		memcpy(fr, proof[0], 32);
		i = 1;
	}
	memcpy(sr, fr, 32);
	fn = size1 - 1;
	sn = size2 - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < plen; i++) {
		if (sn == 0)
			return attest_fail(ATTEST_E_PARSE, "consistency proof longer than the path");
		if ((fn & 1) || fn == sn) {
			if ((rc = attest_merkle_node(proof[i], fr, fr)) != ATTEST_OK ||
			    (rc = attest_merkle_node(proof[i], sr, sr)) != ATTEST_OK)
				return rc;
			if (!(fn & 1))
				while (fn != 0 && !(fn & 1)) {
					fn >>= 1;
					sn >>= 1;
				}
		} else if ((rc = attest_merkle_node(sr, proof[i], sr)) != ATTEST_OK) {
			return rc;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return attest_fail(ATTEST_E_PARSE, "consistency proof shorter than the path");
	if (!same(fr, root1) || !same(sr, root2))
		return attest_fail(ATTEST_E_EVIDENCE_QUALIFYING,
				   "consistency proof %llu -> %llu does not lead to both roots",
				   (unsigned long long)size1, (unsigned long long)size2);
	return ATTEST_OK;
}

void attest_merkle_frontier_init(struct attest_merkle_frontier *f)
{
	memset(f, 0, sizeof(*f));
}

int attest_merkle_frontier_append(struct attest_merkle_frontier *f, const uint8_t leaf[32])
{
	uint8_t carry[32];
	unsigned i = 0;
	int rc;

	if (f->size == UINT64_MAX >> 1)
		return attest_fail(ATTEST_E_TOO_LARGE, "merkle tree full");
	memcpy(carry, leaf, 32);
	while ((f->size >> i) & 1) {
		if ((rc = attest_merkle_node(f->node[i], carry, carry)) != ATTEST_OK)
			return rc;
		i++;
	}
	memcpy(f->node[i], carry, 32);
	f->size++;
	return ATTEST_OK;
}

int attest_merkle_frontier_root(const struct attest_merkle_frontier *f, uint8_t out[32])
{
	uint8_t r[32];
	unsigned i = 0;
	int rc;

	if (f->size == 0) {
		attest_merkle_empty_root(out);
		return ATTEST_OK;
	}
	while (!((f->size >> i) & 1))
		i++;
	memcpy(r, f->node[i], 32);
	for (i++; i < 64; i++)
		if ((f->size >> i) & 1 && (rc = attest_merkle_node(f->node[i], r, r)) != ATTEST_OK)
			return rc;
	memcpy(out, r, 32);
	return ATTEST_OK;
}
