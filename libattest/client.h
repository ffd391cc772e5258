/* client.h (internal) - one request/reply exchange with attestd. */
#ifndef LIBATTEST_CLIENT_H
#define LIBATTEST_CLIENT_H

#include <cjson/cJSON.h>

#include "attest/attest.h"
#include "attest/client.h"

#define ATTEST_CLIENT_TIMEOUT_MS 30000

/* Send req (with pidfd as SCM_RIGHTS when >= 0) and wait for the reply.
 * A reply with "ok": false becomes its code, with its reason as detail;
 * *reply is set only on success. */
int attest_client_call(const char *socket_path, const cJSON *req, int pidfd,
		       cJSON **reply) ATTEST_MUST_CHECK;

#endif
