/* admin.h - the admin socket's operations (docs/protocol.md) as typed
 * requests and results (docs/privsep.md "The admin socket").
 *
 * Parse, then act: admin_handle() turns a peer's JSON request into a
 * struct admin_req, hands it to a runner, and turns the struct
 * admin_result it gets back into the JSON reply. The runner is the
 * monitor (over monproto.h, from the front) or, with --no-privsep,
 * admin_run() in the same process. admin_run() takes nothing from the JSON
 * parser on trust: every field is checked again (names, paths, tiers,
 * uids, scopes, classes, environment patterns, limits). */
#ifndef ATTESTD_ADMIN_H
#define ATTESTD_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "attest/attest.h"
#include "core/cursor.h"
#include "daemon.h"
#include "measure/measure.h"
#include "monproto.h"
#include "register.h"
#include "registry.h"
#include "x509/x509.h"

enum admin_op {
	ADMIN_REGISTER = 1,
	ADMIN_REVOKE = 2,
	ADMIN_REMOVE = 3,
	ADMIN_LIST = 4,  /* one page of ADMIN_LIST_PAGE agents from an offset */
	ADMIN_SHOW = 5,
	ADMIN_STATS = 6,
};

#define ADMIN_LIST_PAGE 12  /* agents per list answer: well under MON_MSG_MAX */
#define ADMIN_CA_MAX 8192   /* DER of an agent CA certificate */

struct admin_req {
	uint32_t op;
	char name[ATTEST_MAX_NAME + 1]; /* revoke, remove, show */
	uint32_t offset;                /* list: the first agent of the page */
	struct admin_registration reg;  /* register */
};

/* What list and show say of an agent (public: no key, no auth value). */
struct agent_view {
	char name[ATTEST_MAX_NAME + 1];
	char id[512];
	char uuid[37];
	char binary[ADMIN_PATH_MAX + 1];
	uint8_t exe_sha256[32];
	char script[ADMIN_PATH_MAX + 1];
	uint8_t script_sha256[32];
	uint32_t uids[AGENT_MAX_UIDS];
	uint32_t nuids;
	char scopes[AGENT_MAX_SCOPES][ADMIN_SCOPE_MAX + 1];
	uint32_t nscopes;
	char tier[ADMIN_TIER_MAX + 1];
	char classes[AGENT_MAX_CLASSES][ATTEST_MAX_NAME + 1];
	uint32_t nclasses;
	char env_allow[AGENT_MAX_ENV_ALLOW][ADMIN_ENV_MAX + 1];
	uint32_t nenv_allow;
	char dns[AGENT_MAX_DNS][ATTEST_DNS_NAME_MAX + 1];
	uint32_t ndns;
	int64_t score, max_ttl, delegate_depth;
	uint8_t measurement[32];
	uint8_t policy[32];
	uint8_t revoked;
};

struct admin_stats {
	uint64_t tpm_commands, agents, audit_records, unanchored, unanchored_age_s,
		max_unanchored_s;
	/* session issuers (daemon.h struct attestd .session) */
	uint64_t session_on_demand, session_renewed, session_renew_failed, session_renew_dropped;
	uint64_t tpm_resident; /* agent keys loaded in the TPM now */
	char clock[256];
};

struct admin_result {
	uint32_t op;
	struct agent_view *agents; /* register, revoke, show: one; list: a page */
	uint32_t nagents;
	uint32_t total;       /* list: agents registered */
	uint8_t *agent_ca;    /* register, show: DER */
	size_t agent_ca_len;
	struct admin_stats stats;
};
void admin_result_clear(struct admin_result *res);

/* Carries out q (ATTEST_OK and res, or a code with attest_errdetail()). */
typedef int (*admin_runner_fn)(void *ctx, const struct admin_req *q, struct admin_result *res);

/* Whether op is one of the typed admin ops (not "attest", not "issue"). */
int admin_is_op(const char *op);
/* The peer's request req with "op" op: parsed, run (a list page by page),
 * its answer added to reply. */
int admin_handle(const cJSON *req, const char *op, admin_runner_fn run, void *ctx,
		 cJSON *reply) ATTEST_MUST_CHECK;

/* The privileged side: q checked field by field and carried out on d. A
 * register, revoke or remove is audited (durable once the caller commits
 * the log) before the registry changes. */
int admin_run(struct attestd *d, const struct admin_req *q, struct admin_result *res)
	ATTEST_MUST_CHECK;

/* On the monitor channel. A request read must be complete (mon_get_end). */
void admin_req_put(struct mon_out *m, const struct admin_req *q);
int admin_req_get(struct attest_cur *c, struct admin_req *q) ATTEST_MUST_CHECK;
void admin_result_put(struct mon_out *m, const struct admin_result *res);
int admin_result_get(struct attest_cur *c, uint32_t op, struct admin_result *res)
	ATTEST_MUST_CHECK;

/* a's public view */
void agent_view_of(const struct agent *a, struct agent_view *v);

#endif
