/* client.h (internal) - one request/reply exchange with attestd. */
#ifndef LIBATTEST_CLIENT_H
#define LIBATTEST_CLIENT_H

#include <cjson/cJSON.h>

#include "attest/attest.h"
#include "attest/client.h"

#define ATTEST_CLIENT_TIMEOUT_MS 30000

/* Send req and wait for the reply. fd >= 0 is attached as SCM_RIGHTS: only
 * tests use it, to see attestd refuse descriptors (docs/protocol.md).
 * A reply with "ok": false becomes its code, with its reason as detail;
 * *reply is set only on success. */
int attest_client_call(const char *socket_path, const cJSON *req, int fd,
		       cJSON **reply) ATTEST_MUST_CHECK;

#endif
