/* merkle.h - RFC 9162 section 2.1 Merkle trees over SHA-256, written from
 * the RFC's definitions (no code taken from other projects).
 *
 *   leaf hash  = SHA-256(0x00 || record bytes)
 *   node hash  = SHA-256(0x01 || left || right)
 *   MTH({})    = SHA-256("")
 *   MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of
 *                two smaller than n
 *
 * Proof generation works over an array of leaf hashes (the caller keeps
 * them; the audit writer itself keeps only a frontier). Verification follows
 * the algorithms of RFC 9162 2.1.3.2 (inclusion) and 2.1.4.2 (consistency)
 * and never trusts a proof's length: a proof with too many or too few
 * elements, or for indices out of range, fails with ATTEST_E_PARSE; a proof
 * that does not lead to the given root fails with ATTEST_E_EVIDENCE_QUALIFYING.
 */
#ifndef LIBATTEST_MERKLE_H
#define LIBATTEST_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"

#define ATTEST_MERKLE_HASH 32
/* A proof in a tree of at most 2^63 leaves has at most 64 elements. */
#define ATTEST_MERKLE_MAX_PROOF 64

typedef uint8_t attest_merkle_hash[ATTEST_MERKLE_HASH];

int attest_merkle_leaf(const void *data, size_t len, uint8_t out[32]) ATTEST_MUST_CHECK;
int attest_merkle_node(const uint8_t left[32], const uint8_t right[32],
		       uint8_t out[32]) ATTEST_MUST_CHECK;
/* SHA-256 of the empty string: MTH of the empty tree. */
void attest_merkle_empty_root(uint8_t out[32]);

/* MTH of the tree whose leaf hashes are leaves[0..n). */
int attest_merkle_root(const attest_merkle_hash *leaves, uint64_t n,
		       uint8_t out[32]) ATTEST_MUST_CHECK;

/* PATH(index, D[size]) into proof (room for ATTEST_MERKLE_MAX_PROOF);
 * index < size. */
int attest_merkle_inclusion_proof(const attest_merkle_hash *leaves, uint64_t size,
				  uint64_t index, attest_merkle_hash *proof,
				  size_t *plen) ATTEST_MUST_CHECK;
int attest_merkle_inclusion_verify(uint64_t index, uint64_t size, const uint8_t leaf[32],
				   const attest_merkle_hash *proof, size_t plen,
				   const uint8_t root[32]) ATTEST_MUST_CHECK;

/* PROOF(size1, D[size2]), 0 < size1 <= size2 (empty for size1 == size2). */
int attest_merkle_consistency_proof(const attest_merkle_hash *leaves, uint64_t size2,
				    uint64_t size1, attest_merkle_hash *proof,
				    size_t *plen) ATTEST_MUST_CHECK;
int attest_merkle_consistency_verify(uint64_t size1, uint64_t size2, const uint8_t root1[32],
				     const uint8_t root2[32], const attest_merkle_hash *proof,
				     size_t plen) ATTEST_MUST_CHECK;

/* The frontier of a growing tree: the roots of its perfect subtrees, one
 * per set bit of `size` (node[i] is the subtree of 2^i leaves). Appending
 * is O(log n) hashes and needs no leaf kept; so is the root. */
struct attest_merkle_frontier {
	uint64_t size;
	attest_merkle_hash node[64];
};

void attest_merkle_frontier_init(struct attest_merkle_frontier *f);
int attest_merkle_frontier_append(struct attest_merkle_frontier *f,
				  const uint8_t leaf[32]) ATTEST_MUST_CHECK;
int attest_merkle_frontier_root(const struct attest_merkle_frontier *f,
				uint8_t out[32]) ATTEST_MUST_CHECK;

#endif
