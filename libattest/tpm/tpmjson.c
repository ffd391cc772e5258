/* tpmjson.c - base64 of Tss2_MU-marshalled TPM structures in JSON. */
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_mu.h>

#include "core/err.h"
#include "core/json.h"
#include "tpm/tpmjson.h"

/* MU does not check that a TPM2B's size field matches what it holds;
 * marshalling the result again must give back exactly the bytes received. */
static int canonical(const char *key, const uint8_t *in, size_t len, const uint8_t *again,
		     size_t again_len)
{
	if (again_len != len || memcmp(in, again, len) != 0)
		return attest_fail(ATTEST_E_PARSE, "field \"%s\" is not a canonical encoding", key);
	return ATTEST_OK;
}

#define ATTEST_TPMJSON_DEFINE(T)                                                   \
	int attest_json_add_##T(cJSON *obj, const char *key, const T *v)          \
	{                                                                          \
		uint8_t buf[sizeof(T) + 8];                                        \
		size_t off = 0;                                                    \
		TSS2_RC rc = Tss2_MU_##T##_Marshal(v, buf, sizeof(buf), &off);     \
		if (rc != TSS2_RC_SUCCESS)                                         \
			return attest_fail_tss(ATTEST_E_INTERNAL, rc,              \
					       "marshal " #T " \"%s\"", key);       \
		return attest_json_add_b64(obj, key, buf, off);                    \
	}                                                                          \
	int attest_json_get_##T(const cJSON *obj, const char *key, T *v)          \
	{                                                                          \
		uint8_t *buf = NULL, again[sizeof(T) + 8];                         \
		size_t len = 0, off = 0, again_len = 0;                            \
		TSS2_RC rc;                                                        \
		int r = attest_json_b64(obj, key, sizeof(T), &buf, &len);          \
		if (r != ATTEST_OK)                                                \
			return r;                                                  \
		memset(v, 0, sizeof(*v)); /* MU refuses a non-zero dest size */  \
		rc = Tss2_MU_##T##_Unmarshal(buf, len, &off, v);                   \
		if (rc != TSS2_RC_SUCCESS)                                         \
			r = attest_fail_tss(ATTEST_E_PARSE, rc,                    \
					    "field \"%s\" is not a " #T, key);     \
		else if (off != len)                                               \
			r = attest_fail(ATTEST_E_PARSE,                            \
					"field \"%s\": %zu trailing bytes", key,     \
					len - off);                                \
		else if (Tss2_MU_##T##_Marshal(v, again, sizeof(again),            \
					       &again_len) != TSS2_RC_SUCCESS)     \
			r = attest_fail(ATTEST_E_PARSE, "field \"%s\" re-encode", key); \
		else                                                               \
			r = canonical(key, buf, len, again, again_len);            \
		free(buf);                                                         \
		return r;                                                          \
	}

ATTEST_TPMJSON_DEFINE(TPM2B_PUBLIC)
ATTEST_TPMJSON_DEFINE(TPM2B_PRIVATE)
ATTEST_TPMJSON_DEFINE(TPMT_SIGNATURE)
ATTEST_TPMJSON_DEFINE(TPM2B_ID_OBJECT)
ATTEST_TPMJSON_DEFINE(TPM2B_ENCRYPTED_SECRET)
ATTEST_TPMJSON_DEFINE(TPM2B_DIGEST)
ATTEST_TPMJSON_DEFINE(TPMT_TK_CREATION)
ATTEST_TPMJSON_DEFINE(TPM2B_CREATION_DATA)
