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
/* The same in two halves, for a front that does not wait on the monitor
 * (group commit): prepare reads and checks the request into a job whose
 * order (attestd_issue_order) goes to the monitor while req is alive;
 * finish adds the monitor's answer to reply (and logs the issuance). */
struct issue_job;
int attestd_issue_prepare(const struct issue_backend *b, struct attest_intent_trust *trust,
			  const cJSON *req, struct issue_job **out) ATTEST_MUST_CHECK;
const struct mint_order *attestd_issue_order(const struct issue_job *j);
int attestd_issue_finish(struct issue_job *j, const struct attestd_peer *peer,
			 const struct mint_result *res, cJSON *reply) ATTEST_MUST_CHECK;
void attestd_issue_job_free(struct issue_job *j);
/* attestd_issue with attestd_mint in this process. */
int do_issue(struct attestd *d, const struct attestd_peer *peer, const cJSON *req,
	     cJSON *reply) ATTEST_MUST_CHECK;

#endif
