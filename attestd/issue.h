/* issue.h - measured certificate issuance, strict and session mode, with
 * intent and renewal (the agent socket's "issue", docs/protocol.md). */
#ifndef ATTESTD_ISSUE_H
#define ATTESTD_ISSUE_H

#include <cjson/cJSON.h>

#include "daemon.h"
#include "server.h"

#define SESSION_ISSUER_TTL ATTEST_SESSION_ISSUER_MAX_TTL
#define SESSION_REFRESH_MARGIN 60

/* Adds "chain", "key" (when attestd made the key), "mode" and "id" to reply. */
int do_issue(struct attestd *d, const struct attestd_peer *peer, const cJSON *req,
	     cJSON *reply) ATTEST_MUST_CHECK;

#endif
