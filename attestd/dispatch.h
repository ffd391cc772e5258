/* dispatch.h - a request from the server, routed by its "op" to its
 * handler after the checks every op shares (admin socket, TPM reachable,
 * clock and audit anchoring before anything that makes a certificate);
 * refusals logged (aggregated) and audited in one place. */
#ifndef ATTESTD_DISPATCH_H
#define ATTESTD_DISPATCH_H

#include <cjson/cJSON.h>

#include "server.h"

/* server.h's attestd_handler_fn; ctx is the struct attestd. */
cJSON *attestd_handle(void *ctx, const struct attestd_peer *peer, const cJSON *req);

#endif
