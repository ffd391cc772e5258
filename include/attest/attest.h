/*
 * attest.h - base of libattest's public API: error codes and their text.
 *
 * Every fallible libattest function returns an attest_err. ATTEST_OK is 0;
 * codes are append-only and never renumbered (docs/errors.md has one entry per
 * code). Beside the code, the failing call leaves a human-readable detail in
 * thread-local storage (attest_errdetail()), which carries the decoded
 * TSS2_RC (Tss2_RC_Decode) or OpenSSL error text where one caused the failure.
 * The library never prints and never exits; callers decide what to log.
 */
#ifndef ATTEST_ATTEST_H
#define ATTEST_ATTEST_H

#include <stddef.h>
#include <stdint.h>

#if defined(ATTEST_BUILDING_LIB)
#define ATTEST_API __attribute__((visibility("default")))
#else
#define ATTEST_API
#endif
#define ATTEST_MUST_CHECK __attribute__((warn_unused_result))

typedef enum attest_err {
	ATTEST_OK = 0,
	ATTEST_E_INTERNAL = 1,
	ATTEST_E_NOMEM = 2,
	ATTEST_E_INVALID_ARG = 3,
	ATTEST_E_IO = 4,
	ATTEST_E_PARSE = 5,
	ATTEST_E_TOO_LARGE = 6,
	ATTEST_E_DUPLICATE_KEY = 7,
	ATTEST_E_TPM = 8,
	ATTEST_E_TPM_AUTH = 9,
	ATTEST_E_CRYPTO = 10,
	ATTEST_E_TOKEN_MISSING = 11,
	ATTEST_E_TOKEN_UNKNOWN = 12,
	ATTEST_E_TOKEN_EXPIRED = 13,
	ATTEST_E_TOKEN_USED = 14,
	ATTEST_E_TOKEN_HOST = 15,
	ATTEST_E_EK_UNTRUSTED = 16,
	ATTEST_E_EK_MISMATCH = 17,
	ATTEST_E_EK_CRITICAL_EXT = 18,
	ATTEST_E_EK_TEMPLATE = 19,
	ATTEST_E_AK_TEMPLATE = 20,
	ATTEST_E_CHALLENGE_UNKNOWN = 21,
	ATTEST_E_CHALLENGE_EXPIRED = 22,
	ATTEST_E_CHALLENGE_USED = 23,
	ATTEST_E_SECRET_MISMATCH = 24,
	ATTEST_E_EVIDENCE_MAGIC = 25,
	ATTEST_E_EVIDENCE_TYPE = 26,
	ATTEST_E_EVIDENCE_NAME = 27,
	ATTEST_E_EVIDENCE_QUALIFYING = 28,
	ATTEST_E_EVIDENCE_SIGNATURE = 29,
	ATTEST_E_EVIDENCE_ATTRS = 30,
	ATTEST_E_EVIDENCE_CREATION = 31,
	ATTEST_E_HOST_EK_CONFLICT = 32,
	ATTEST_E_EK_NOT_ALLOWED = 33,
	ATTEST_E_NOT_FOUND = 34,
	ATTEST_E_STATE = 35,
	ATTEST_E_EXISTS = 36,
	ATTEST_E_QUOTE_DIGEST = 37,
	ATTEST_E_QUOTE_SELECTION = 38,
	ATTEST_E_NONCE = 39,
	ATTEST_E_PCR_MISMATCH = 40,
	ATTEST_E_AGENT_UNKNOWN = 41,
	ATTEST_E_MEASUREMENT = 42,
	ATTEST_E_UID = 43,
	ATTEST_E_TRACED = 44,
	ATTEST_E_ENV = 45,
	ATTEST_E_PROC_CHANGED = 46,
	ATTEST_E_REVOKED = 47,
	ATTEST_E_SCOPE = 48,
	ATTEST_E_TTL = 49,
	ATTEST_E_PATH = 50,
	ATTEST_E_BUSY = 51,
	ATTEST_E_TIMEOUT = 52,
	ATTEST_E_DENIED = 53,
	ATTEST_E_CSR = 54,
	ATTEST_E_INTENT_ISSUER = 55,
	ATTEST_E_INTENT_EXPIRED = 56,
	ATTEST_E_INTENT_AUDIENCE = 57,
	ATTEST_E_INTENT_WIDENED = 58,
	ATTEST_E_INTENT_LIFETIME = 59,
	ATTEST_E_INTENT_PURPOSE = 60,
	ATTEST_E_INTENT_DEPTH = 61,
	ATTEST_E_INTENT_SIGNATURE = 62,
	ATTEST_E_INTENT_CHAIN = 63,
	ATTEST_E_INTENT_REPLAY = 64,
	ATTEST_E_QUOTE_COUNTER = 65,
	ATTEST_E_EVENTLOG = 66,
	ATTEST_E_EVENTLOG_POLICY = 67,
	ATTEST_E_HOST_UNTRUSTED = 68,
	ATTEST_E_HOST_STALE = 69,
	ATTEST_E_NOT_APPROVED = 70,
	ATTEST_E_POLICY = 71,
	ATTEST_E_POLICY_DENY = 72,
	ATTEST_E_NO_RULE = 73,
	ATTEST_E_CERT_EXPIRED = 74,
	ATTEST_E_HOST_UNKNOWN = 75,
	ATTEST_E_CALLER = 76,
	ATTEST_E_RATE = 77,
	ATTEST_E_AGENT_EVIDENCE = 78,
	ATTEST_E_REFSET_SIGNATURE = 79,
	ATTEST_E_CHAIN_UNTRUSTED = 80,
	ATTEST_E_AUDIT_INCONSISTENT = 81,
	ATTEST_E_HTTP_METHOD = 82,
	ATTEST_E_HTTP_MEDIA_TYPE = 83,
	ATTEST_E_HTTP_HEADERS_TOO_LARGE = 84,
	ATTEST_E_STATE_LOCKED = 85,
	ATTEST_E_STORE_DAMAGED = 86,
	ATTEST_E_CLOCK = 87,
	ATTEST_E_AUDIT_UNANCHORED = 88,
	ATTEST_E_FWD_NO_CERT = 89,
	ATTEST_E_FWD_NO_ROUTE = 90,
	ATTEST_E_ANOMALY = 91,
	ATTEST_E_ANOMALY_FRESH_INTENT = 92,
	ATTEST_E_FED_UNKNOWN = 93,
	ATTEST_E_FED_STALE = 94,
	ATTEST_E_FED_POLICY = 95,
	/* append new codes here; never renumber */
	ATTEST_E__COUNT
} attest_err;

/* Static text for a code ("unknown error" for values out of range). */
ATTEST_API const char *attest_strerror(int err);
/* Stable symbolic name, e.g. "ATTEST_E_TOKEN_USED". */
ATTEST_API const char *attest_errname(int err);
/* Detail of the last failure on this thread; never NULL, "" when none.
 * Valid until the next libattest call on this thread. */
ATTEST_API const char *attest_errdetail(void);
/* Clear the thread's error detail. */
ATTEST_API void attest_errclear(void);

#endif
