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

/* op as the audit record names it: a known op, else "request" (NULL too) */
const char *attestd_known_op(const char *op);

/* A refusal's record (the audit log's, or the front's message to the
 * monitor): op from attestd_known_op, agent a validated name or NULL. */
typedef void (*attestd_refusal_fn)(void *arg, const struct attestd_peer *peer, const char *op,
				   const char *agent, int code);
/* The answer to a refused request (code r, detail attest_errdetail()):
 * logged (aggregated per uid, op and code), recorded through record (may
 * be NULL), and {"ok":false,...,"detail":...}. */
cJSON *attestd_refused(const struct attestd_peer *peer, const cJSON *req, int r,
		       attestd_refusal_fn record, void *arg);

#endif
