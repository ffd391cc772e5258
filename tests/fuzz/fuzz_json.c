/* fuzz_json.c - libFuzzer target for libattest/core/json.c:
 *   attest_json_parse (cap 64 KiB, as for enrolment messages), then on the
 *   parsed object attest_json_only, attest_json_str, attest_json_b64,
 *   attest_json_u64 and the tpmjson getters (attest_json_get_TPM2B_PUBLIC,
 *   attest_json_get_TPMT_SIGNATURE) on the keys of the enrolment messages;
 *   attest_b64_decode on the raw input.
 * Oracles besides the sanitizers: what the CA prints it must parse again
 * (attest_json_print -> attest_json_parse), and base64 round-trips
 * (decode -> encode -> decode gives the same bytes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_fixture.h"
#include "core/json.h"
#include "tpm/tpmjson.h"

#define MSG_CAP (64 * 1024)

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_json: %s (%s)\n", what, attest_errdetail());
		abort();
	}
}

static void getters(const cJSON *obj)
{
	static const char *const keys[] = { "type", "version", "host", "token", "ek_kind",
					    "ek_public", "ek_cert", "ak_public", "key_public",
					    "challenge_id", "secret", "quote", "quote_sig",
					    "pcr_mask", "pcr_values", "expires", NULL };
	static const char *const strs[] = { "type", "version", "host", "token", "challenge_id" };
	static const struct {
		const char *key;
		size_t cap;
	} b64s[] = { { "ek_cert", 4096 }, { "secret", 64 }, { "quote", 1024 },
		     { "pcr_values", 24 * 32 } };
	static const char *const u64s[] = { "pcr_mask", "expires" };
	const char *s;
	uint8_t *b;
	size_t blen;
	uint64_t v;
	TPM2B_PUBLIC pub;
	TPMT_SIGNATURE sig;

	if (attest_json_only(obj, keys) != ATTEST_OK)
		attest_errclear();
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (attest_json_str(obj, strs[i], 128, &s) == ATTEST_OK)
			check(s != NULL && strlen(s) <= 128, "attest_json_str broke its cap");
	for (size_t i = 0; i < sizeof(b64s) / sizeof(b64s[0]); i++) {
		if (attest_json_b64(obj, b64s[i].key, b64s[i].cap, &b, &blen) == ATTEST_OK)
			check(b != NULL && blen > 0 && blen <= b64s[i].cap,
			      "attest_json_b64 broke its cap");
		else
			check(b == NULL && blen == 0, "attest_json_b64 failed with an output");
		free(b);
	}
	for (size_t i = 0; i < sizeof(u64s) / sizeof(u64s[0]); i++)
		if (attest_json_u64(obj, u64s[i], &v) != ATTEST_OK)
			check(v == 0, "attest_json_u64 failed with an output");
	if (attest_json_get_TPM2B_PUBLIC(obj, "ak_public", &pub) != ATTEST_OK)
		attest_errclear();
	if (attest_json_get_TPMT_SIGNATURE(obj, "quote_sig", &sig) != ATTEST_OK)
		attest_errclear();
}

/* What we serialise we must be able to read back (the CA stores its
 * records with attest_json_print and loads them with attest_json_parse). */
static void reprint(const cJSON *obj)
{
	char *s = NULL;
	size_t len = 0;
	cJSON *again = NULL;
	int r;

	if (attest_json_print(obj, &s, &len) != ATTEST_OK)
		return; /* out of memory only */
	r = attest_json_parse(s, len, 4 * MSG_CAP, &again);
	if (r != ATTEST_OK)
		fprintf(stderr, "fuzz_json: reparse of \"%.200s\" failed\n", s);
	check(r == ATTEST_OK, "attest_json_print output does not parse again");
	cJSON_Delete(again);
	free(s);
}

static void b64(const uint8_t *data, size_t size)
{
	uint8_t *out = NULL, *back = NULL;
	size_t outlen = 0, backlen = 0;
	char *enc = NULL;

	if (attest_b64_decode((const char *)data, size, MSG_CAP, &out, &outlen) != ATTEST_OK) {
		check(out == NULL && outlen == 0, "attest_b64_decode failed with an output");
		return;
	}
	check(out != NULL && outlen <= MSG_CAP, "attest_b64_decode broke its cap");
	check(attest_b64_encode(out, outlen, &enc) == ATTEST_OK, "attest_b64_encode");
	check(attest_b64_decode(enc, strlen(enc), MSG_CAP, &back, &backlen) == ATTEST_OK,
	      "our own base64 does not decode");
	check(backlen == outlen && (outlen == 0 || memcmp(back, out, outlen) == 0),
	      "base64 round trip changed the bytes");
	free(out);
	free(back);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *obj = NULL;

	if (attest_json_parse(data, size, MSG_CAP, &obj) == ATTEST_OK) {
		check(obj != NULL && cJSON_IsObject(obj), "attest_json_parse gave a non-object");
		getters(obj);
		reprint(obj);
		cJSON_Delete(obj);
	} else {
		check(obj == NULL, "attest_json_parse failed with an output");
	}
	b64(data, size);
	attest_errclear();
	return 0;
}
