/* tpmjson.h - TPM structures in JSON messages: marshalled with Tss2_MU,
 * then base64. Readers cap the size at sizeof the structure and reject
 * trailing bytes. One pair per type, generated from one definition. */
#ifndef LIBATTEST_TPMJSON_H
#define LIBATTEST_TPMJSON_H

#include <cjson/cJSON.h>
#include <tss2/tss2_tpm2_types.h>

#include "attest/attest.h"

#define ATTEST_TPMJSON_DECLARE(T)                                                  \
	int attest_json_add_##T(cJSON *obj, const char *key,                      \
				const T *v) ATTEST_MUST_CHECK;                     \
	int attest_json_get_##T(const cJSON *obj, const char *key, T *v) ATTEST_MUST_CHECK;

ATTEST_TPMJSON_DECLARE(TPM2B_PUBLIC)
ATTEST_TPMJSON_DECLARE(TPM2B_PRIVATE)
ATTEST_TPMJSON_DECLARE(TPMT_SIGNATURE)
ATTEST_TPMJSON_DECLARE(TPM2B_ID_OBJECT)
ATTEST_TPMJSON_DECLARE(TPM2B_ENCRYPTED_SECRET)
ATTEST_TPMJSON_DECLARE(TPM2B_DIGEST)
ATTEST_TPMJSON_DECLARE(TPMT_TK_CREATION)
ATTEST_TPMJSON_DECLARE(TPM2B_CREATION_DATA)

#endif
