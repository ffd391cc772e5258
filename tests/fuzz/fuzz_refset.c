/* fuzz_refset.c - libFuzzer target for libattest/attestation/refset.c:
 *   attest_refset_verify (a reference-value set: compact JWS, header
 *   alg/typ/kid, payload version/name/pcrs/eventlog/not_after) against two
 *   operators: "fuzz-op" (the fixture host key) and "other" (the fixture
 *   AK), at a fixed time; on a verified set, its accessors.
 * Oracles besides the sanitizers: only a set signed by a fixture operator
 *   verifies (the seeds gen_corpus signs), and its kid names that operator;
 *   the name fits ATTEST_REFSET_NAME_MAX.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attestation/refset.h"
#include "core/err.h"
#include "fuzz_fixture.h"

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_refset: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct attest_refset_operator ops[2] = { { "fuzz-op", fz_pkey(FZ_KEY_HOST) },
						 { "other", fz_pkey(FZ_KEY_AK) } };
	struct attest_refset *s = NULL;

	if (fz_note("attest_refset_verify",
		    attest_refset_verify((const char *)data, size, ops, 2, 1700000000, &s)) == ATTEST_OK) {
		const char *kid = attest_refset_kid(s), *name = attest_refset_name(s);

		check(kid != NULL && (strcmp(kid, "fuzz-op") == 0 || strcmp(kid, "other") == 0),
		      "verified under an unknown operator");
		check(name != NULL && strlen(name) <= ATTEST_REFSET_NAME_MAX, "set name");
		attest_refset_free(s);
	}
	attest_errclear();
	return 0;
}
