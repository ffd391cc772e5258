/* fuzz_hostpush.c - libFuzzer target for libattest/attestation/hostpush.c,
 *   the verifier's answers attestd parses: attest_push_answer_parse (the
 *   verdict on a quote), attest_push_nonce_parse (POST /v1/hosts/nonce),
 *   and attest_pcr_list_parse on the input up to its first NUL.
 * Oracles besides the sanitizers: the strings of a parsed answer are
 *   NUL-terminated inside their fields; a nonce is 1..ATTEST_PUSH_NONCE_MAX
 *   bytes; a PCR list is a non-empty subset of 0..23 and parses the same
 *   when printed back in its canonical form.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attestation/hostpush.h"
#include "fuzz_fixture.h"

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_hostpush: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct attest_push_answer a;
	uint8_t nonce[ATTEST_PUSH_NONCE_MAX];
	size_t nlen = 0;
	uint64_t expires = 0;
	uint32_t mask = 0, mask2 = 0;
	char *s;

	memset(&a, 0, sizeof(a));
	if (attest_push_answer_parse((const char *)data, size, &a) == ATTEST_OK) {
		check(memchr(a.state, '\0', sizeof(a.state)) != NULL, "state not terminated");
		check(memchr(a.reason_name, '\0', sizeof(a.reason_name)) != NULL,
		      "reason not terminated");
		check(memchr(a.refset, '\0', sizeof(a.refset)) != NULL, "refset not terminated");
		check(a.host_ca == NULL || strlen(a.host_ca) == a.host_ca_len, "host_ca length");
	}
	attest_push_answer_clear(&a);
	attest_errclear();
	if (attest_push_nonce_parse((const char *)data, size, nonce, &nlen, &expires) == ATTEST_OK)
		check(nlen >= 1 && nlen <= ATTEST_PUSH_NONCE_MAX, "nonce length");
	attest_errclear();
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (attest_pcr_list_parse(s, &mask) == ATTEST_OK) {
		char canon[24 * 3 + 1];
		size_t off = 0;

		check(mask != 0 && (mask >> 24) == 0, "PCR mask outside 0..23");
		for (unsigned i = 0; i < 24; i++)
			if (mask & (1u << i))
				off += (size_t)snprintf(canon + off, sizeof(canon) - off, "%s%u",
							off ? "," : "", i);
		check(attest_pcr_list_parse(canon, &mask2) == ATTEST_OK && mask2 == mask,
		      "canonical PCR list does not parse back");
	}
	attest_errclear();
	free(s);
	return 0;
}
