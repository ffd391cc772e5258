/* err.h - internal helpers that set the thread's error detail and return
 * the code, so a failure is reported in one statement:
 *     return attest_fail(ATTEST_E_PARSE, "frame length %zu over cap", n);
 */
#ifndef LIBATTEST_ERR_H
#define LIBATTEST_ERR_H

#include <stdint.h>
#include "attest/attest.h"

int attest_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Add context to the failure just reported: the detail becomes
 * "<fmt...>: <previous detail>". The one way to wrap a detail; passing
 * attest_errdetail() as an argument of attest_fail is also safe (every
 * setter formats into scratch first) but is refused by scripts/banned.sh. */
int attest_fail_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* As attest_fail, appending the decoded TSS2 response code. */
int attest_fail_tss(int code, uint32_t rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* As attest_fail, appending (and draining) the OpenSSL error queue. */
int attest_fail_ossl(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
