/* dispatch.c - see dispatch.h. */

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "core/err.h"
#include "core/json.h"
#include "dispatch.h"
#include "issue.h"
#include "log.h"
#include "push.h"
#include "x509/x509.h"

static cJSON *attestd_dispatch(void *arg, const struct attestd_peer *peer, const cJSON *req);

/* --no-privsep: the admin ops run here, on the typed request */
static int run_admin(void *ctx, const struct admin_req *q, struct admin_result *res)
{
	return admin_run(ctx, q, res);
}

cJSON *attestd_handle(void *arg, const struct attestd_peer *peer, const cJSON *req)
{
	cJSON *reply = attestd_dispatch(arg, peer, req);
	struct attestd *d = arg;
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(reply, "code");

	/* a TPM failure may mean the TPM went away: reconnect now, so the
	 * next request finds it (this one already has its answer) */
	if (cJSON_IsNumber(code) && (int)code->valuedouble == ATTEST_E_TPM && attestd_host_reconnect(&d->host) != ATTEST_OK)
		attestd_log("TPM still unreachable: %s", attest_errdetail());
	/* say so when an authorization failure is the TPM's lockout */
	if (cJSON_IsNumber(code) && (int)code->valuedouble == ATTEST_E_TPM_AUTH)
		attestd_host_log_lockout(&d->host, 0);
	return reply;
}

const char *attestd_known_op(const char *op)
{
	static const char *const ops[] = { "issue", "register", "revoke", "remove", "list",
					   "show", "stats", "attest", NULL };

	for (size_t i = 0; op != NULL && ops[i] != NULL; i++)
		if (strcmp(op, ops[i]) == 0)
			return ops[i];
	return "request";
}

cJSON *attestd_refused(const struct attestd_peer *peer, const cJSON *req, int r,
		       attestd_refusal_fn record, void *arg)
{
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(req, "op");
	const cJSON *agent = cJSON_GetObjectItemCaseSensitive(req, "agent");
	/* log only names that passed validation: no control bytes in the log */
	int named = cJSON_IsString(agent) && attest_valid_hostname(agent->valuestring);
	const char *known = attestd_known_op(cJSON_IsString(op) ? op->valuestring : NULL);
	const char *what = strcmp(known, "issue") == 0 ? "issue" : named ? known : "request";
	char key[96];
	cJSON *reply;

	/* a peer can repeat a refusal at will: aggregated (log.h); the audit
	 * log keeps every one */
	snprintf(key, sizeof(key), "refused uid=%u %.16s %s", (unsigned)peer->uid, what,
		 attest_errname(r));
	attestd_log_rl(key, "refused %s from pid=%d uid=%u%s%s: %s [%s]: %s", what, (int)peer->pid,
		       (unsigned)peer->uid, named ? " agent=" : "", named ? agent->valuestring : "",
		       attest_strerror(r), attest_errname(r), attest_errdetail());
	if (record != NULL)
		record(arg, peer, known, named ? agent->valuestring : NULL, r);
	/* The caller is a local, kernel-identified process: it is told the
	 * same reason the log records (nothing in it is secret). */
	reply = attestd_error_reply(r);
	if (reply != NULL)
		cJSON_AddStringToObject(reply, "detail", attest_errdetail());
	return reply;
}

static void record_refusal(void *arg, const struct attestd_peer *peer, const char *op,
			   const char *agent, int code)
{
	struct attestd *d = arg;

	attestd_audit_refusal(&d->log, peer, op, agent, code);
}

static cJSON *attestd_dispatch(void *arg, const struct attestd_peer *peer, const cJSON *req)
{
	struct attestd *d = arg;
	const char *op = NULL;
	cJSON *reply = attestd_ok_reply();
	int r;

	attest_errclear();
	if (reply == NULL)
		return attestd_error_reply(ATTEST_E_NOMEM);
	if ((r = attest_json_str(req, "op", 16, &op)) != ATTEST_OK)
		goto out;
	if ((r = attestd_host_tpm(&d->host)) != ATTEST_OK)
		goto out;
	if (strcmp(op, "issue") == 0) {
		if ((r = attestd_issuance_allowed(d)) != ATTEST_OK)
			goto out;
		r = do_issue(d, peer, req, reply);
		goto out;
	}
	if (!admin_is_op(op) && strcmp(op, "attest") != 0) {
		r = attest_fail(ATTEST_E_PARSE, "unknown op \"%.16s\"", op);
		goto out;
	}
	if (!peer->admin || peer->uid != 0) {
		r = attest_fail(ATTEST_E_DENIED, "%s is for root on the admin socket", op);
		goto out;
	}
	if (strcmp(op, "attest") == 0) {
		/* answered when the verifier has (push.c); NULL: deferred */
		cJSON_Delete(reply);
		return attestd_push_demand(d->push, peer, req);
	}
	r = admin_handle(req, op, run_admin, d, reply);
out:
	if (r != ATTEST_OK) {
		cJSON_Delete(reply);
		return attestd_refused(peer, req, r, record_refusal, d);
	}
	return reply;
}
