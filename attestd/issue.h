/* issue.h - measured certificate issuance, strict and session mode, with
 * intent and renewal (the agent socket's "issue", docs/protocol.md): the
 * request side. The privileged side is mint.h. */
#ifndef ATTESTD_ISSUE_H
#define ATTESTD_ISSUE_H

#include <cjson/cJSON.h>
#include <openssl/x509.h>

#include "daemon.h"
#include "mint.h"
#include "server.h"

/* Where the order goes: the monitor (front.c, over the channel) or
 * attestd_mint in this process. */
struct issue_backend {
	int (*agent_info)(void *ctx, const char *name, char id[MINT_ID_MAX + 1], X509 **agent_ca);
	int (*mint)(void *ctx, const struct attestd_peer *peer, const struct mint_order *o,
		    struct mint_result *res);
	void *ctx;
};

/* Read and check the request (fields, CSR proof of possession, intent or
 * renewal leaf, verified with trust), have b mint the leaf, and add
 * "chain", "key" (when the agent sent no CSR), "mode" and "id" to reply. */
int attestd_issue(const struct issue_backend *b, struct attest_intent_trust *trust,
		  const struct attestd_peer *peer, const cJSON *req, cJSON *reply) ATTEST_MUST_CHECK;
/* attestd_issue with attestd_mint in this process. */
int do_issue(struct attestd *d, const struct attestd_peer *peer, const cJSON *req,
	     cJSON *reply) ATTEST_MUST_CHECK;

#endif
