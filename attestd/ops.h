/* ops.h - what the parts of attestd's request handling share (daemon.c
 * dispatches to register.c and issue.c, which use caller.c, signers.c and
 * request.c). Daemon-internal; libattest knows nothing of it. */
#ifndef ATTESTD_OPS_H
#define ATTESTD_OPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <tss2/tss2_tpm2_types.h>

#include "daemon.h"
#include "measure/measure.h"
#include "registry.h"
#include "server.h"

#define AGENT_PCR_MASK (1u << AGENT_PCR)
#define SESSION_ISSUER_TTL ATTEST_SESSION_ISSUER_MAX_TTL
#define SESSION_REFRESH_MARGIN 60
#define SCOPES_MAX 1024 /* the leaf's scopes extension (x509agent.c) */

/* daemon.c */
int refresh_identity(struct attestd *d);
/* A fresh TPM context after a TPM failure (d->tpm NULL until it works). */
int tpm_reconnect(struct attestd *d);
/* Log the TPM's dictionary-attack state when it is in lockout or has
 * counted failures (always: in any case). */
void attestd_log_lockout(struct attestd *d, int always);

/* signers.c: the agent key signs only with PCR 23 = its value and its secret */
struct agent_signer_ctx {
	struct attestd *d;
	const struct agent *a;
};
int agent_sign(void *arg, const uint8_t digest[32], TPMT_SIGNATURE *sig);
int issue_agent_ca(struct attestd *d, struct agent *a);
int fresh_agent_ca(struct attestd *d, struct agent *a, long ttl);

/* request.c: optional typed fields; ATTEST_E_PARSE/TOO_LARGE on bad ones */
int valid_scope(const char *s);
int valid_class(const char *s);
int str_list(const cJSON *req, const char *key, int (*ok)(const char *), char **out, size_t max,
	     size_t *n);
int int_field(const cJSON *req, const char *key, long min, long max, long *out);
int opt_str(const cJSON *req, const char *key, size_t max, const char **out);
int join_scopes(const char *const *v, size_t n, char *out, size_t outsz);

/* register.c (admin socket) */
int do_register(struct attestd *d, const cJSON *req, cJSON *reply);
int do_revoke(struct attestd *d, const cJSON *req, cJSON *reply);
int do_remove(struct attestd *d, const cJSON *req, cJSON *reply);
int do_list(struct attestd *d, const cJSON *req, cJSON *reply);
int do_show(struct attestd *d, const cJSON *req, cJSON *reply);

/* caller.c */
int measure_caller(struct attestd *d, const struct attestd_peer *peer, const struct agent *a,
		   struct attest_proc_pin *pin);
int scope_allowed(const struct agent *a, const char *s);
int still_untraced(pid_t pid);

/* issue.c (agent socket) */
int do_issue(struct attestd *d, const struct attestd_peer *peer, const cJSON *req, cJSON *reply);

#endif
