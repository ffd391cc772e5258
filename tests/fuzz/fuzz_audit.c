/* fuzz_audit.c - libFuzzer target for libattest/audit (issue 13):
 *   the input as an audit segment file: attest_auditfmt_read_mem (the frame
 *   parser on the bounded cursor, the same one attest_auditfmt_read feeds
 *   in windows), each whole frame's payload to attest_audit_ckpt_from_json
 *   (the checkpoint a verifier push or a .ckpt file carries) and
 *   attest_auditfmt_start_parse; then the input as Merkle proofs:
 *   attest_merkle_inclusion_verify and attest_merkle_consistency_verify
 *   against a real tree of up to 64 leaves, sizes and index from its first
 *   bytes, the rest as the proof.
 * Oracles besides the sanitizers: good_end + torn == input size and the
 *   whole frames up to good_end read again with no torn tail and as many
 *   frames, every payload lies inside the input; a parsed checkpoint prints
 *   and parses again to the same struct; a proof verifies only if it is
 *   the one the tree gives (nothing else may verify).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/auditfmt.h"
#include "audit/merkle.h"
#include "core/cursor.h"
#include "fuzz_fixture.h"

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_audit: %s\n", what);
		abort();
	}
}

struct scan {
	const uint8_t *data;
	size_t size;
	uint64_t frames;
};

static int frame(void *arg, uint64_t index, const uint8_t *payload, size_t len,
		 const uint8_t leaf[32])
{
	static const uint8_t log_id[ATTEST_AUDIT_LOG_ID_LEN];
	struct scan *s = arg;
	struct attest_audit_ckpt c, c2;
	struct attest_auditfmt_start st;
	char *json = NULL;
	size_t jlen = 0;

	(void)leaf;
	check(index == s->frames, "frame index out of order");
	check(payload >= s->data && payload + len <= s->data + s->size, "payload outside the input");
	s->frames++;
	if (fz_note("attest_audit_ckpt_from_json", attest_audit_ckpt_from_json(payload, len, &c)) ==
	    ATTEST_OK) {
		check(attest_audit_ckpt_to_json(&c, &json, &jlen) == ATTEST_OK, "checkpoint does not print");
		check(attest_audit_ckpt_from_json(json, jlen, &c2) == ATTEST_OK,
		      "printed checkpoint does not parse");
		check(memcmp(&c, &c2, sizeof(c)) == 0, "checkpoint changed in a round trip");
		free(json);
	}
	attest_errclear();
	if (attest_auditfmt_start_parse(payload, len, log_id, index, &st) != ATTEST_OK)
		attest_errclear();
	return ATTEST_OK;
}

static void proofs(const uint8_t *data, size_t size)
{
	attest_merkle_hash leaves[64], proof[ATTEST_MERKLE_MAX_PROOF], real[ATTEST_MERKLE_MAX_PROOF];
	uint8_t root1[32], root2[32];
	struct attest_cur c;
	uint8_t n8, i8, m8;
	uint64_t n, idx, m;
	size_t plen, rlen;

	attest_cur_init(&c, data, size);
	if (!attest_cur_u8(&c, &n8) || !attest_cur_u8(&c, &i8) || !attest_cur_u8(&c, &m8))
		return;
	n = 1 + n8 % 64;
	idx = i8 % n;
	m = 1 + m8 % n;
	for (uint64_t k = 0; k < n; k++) {
		uint8_t b = (uint8_t)k;

		check(attest_merkle_leaf(&b, 1, leaves[k]) == ATTEST_OK, "leaf");
	}
	plen = attest_cur_left(&c) / 32;
	if (plen > ATTEST_MERKLE_MAX_PROOF)
		plen = ATTEST_MERKLE_MAX_PROOF;
	check(attest_cur_copy(&c, proof, plen * 32), "proof copy");
	check(attest_merkle_root(leaves, n, root2) == ATTEST_OK, "root");
	check(attest_merkle_root(leaves, m, root1) == ATTEST_OK, "root");
	if (attest_merkle_inclusion_verify(idx, n, leaves[idx], (const attest_merkle_hash *)proof,
					   plen, root2) == ATTEST_OK) {
		check(attest_merkle_inclusion_proof(leaves, n, idx, real, &rlen) == ATTEST_OK,
		      "inclusion proof");
		check(rlen == plen && memcmp(real, proof, plen * 32) == 0,
		      "a forged inclusion proof verified");
	}
	attest_errclear();
	if (attest_merkle_consistency_verify(m, n, root1, root2, (const attest_merkle_hash *)proof,
					     plen) == ATTEST_OK) {
		check(attest_merkle_consistency_proof(leaves, n, m, real, &rlen) == ATTEST_OK,
		      "consistency proof");
		check(rlen == plen && memcmp(real, proof, plen * 32) == 0,
		      "a forged consistency proof verified");
	}
	attest_errclear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scan s = { data, size, 0 }, s2 = { data, size, 0 };
	uint64_t good = 0, torn = 0, good2 = 0, torn2 = 0;

	if (attest_auditfmt_read_mem(data, size, ATTEST_AUDIT_RECORD_MAX, frame, &s, &good,
				     &torn) == ATTEST_OK) {
		check(good <= size && good + torn == size, "good_end + torn is not the input");
		check(attest_auditfmt_read_mem(data, (size_t)good, ATTEST_AUDIT_RECORD_MAX, frame, &s2,
					       &good2, &torn2) == ATTEST_OK,
		      "the whole frames do not read again");
		check(good2 == good && torn2 == 0 && s2.frames == s.frames,
		      "the whole frames read differently");
	}
	attest_errclear();
	proofs(data, size);
	return 0;
}
