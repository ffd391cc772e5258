/* fuzz_attestd.c - libFuzzer target for attestd's request handlers, their
 * parse steps (attestd/reqparse.c, attestd/admin.c) and field getters
 * (attestd/request.c): a frame body as the agent and admin sockets read it
 * (attest_json_parse with ATTEST_WIRE_MAX_FRAME), then by its "op":
 *   issue -> attestd_issue_parse (then attestd_csr_key on its "csr");
 *   register, revoke, remove, list, show, stats -> admin_handle, the front's
 *   parse of the admin socket, with a runner that stands for the monitor;
 * and on every body the getters str_list ("scopes", "data_classes"),
 * int_field ("ttl"), opt_str ("task_id") and join_scopes.
 * Oracles besides the sanitizers: what a parse accepts obeys its contract:
 *   issue: mode strict or session, not both intent and renew, 0..
 *   AGENT_MAX_SCOPES wanted scopes each valid_scope and unique, ttl -1 or
 *   1..86400; admin: a typed request the runner gets goes over the monitor
 *   channel (admin_req_put, then admin_req_get and mon_get_end as the
 *   monitor reads it) and arrives identical, a register names a valid
 *   agent, one of the four tiers, 1..AGENT_MAX_UIDS uids, classes valid
 *   (env_allow patterns only length-bounded: the monitor judges them);
 *   str_list: unique valid entries within its cap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "fuzz_fixture.h"
#include "net/wire.h"
#include "admin.h"
#include "monproto.h"
#include "reqparse.h"
#include "request.h"
#include "x509/x509.h"

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_attestd: %s\n", what);
		abort();
	}
}

static void issue(const cJSON *req)
{
	struct mint_order *o = calloc(1, sizeof(*o));
	const char *mode = NULL, *csr = NULL, *intent = NULL, *renew = NULL;
	EVP_PKEY *k = NULL;

	if (o == NULL)
		return;
	o->ttl = -1;
	if (fz_note("attestd_issue_parse", attestd_issue_parse(req, o, &mode, &csr, &intent, &renew)) ==
	    ATTEST_OK) {
		check(mode != NULL && (strcmp(mode, "strict") == 0 || strcmp(mode, "session") == 0),
		      "mode");
		check(o->session == (strcmp(mode, "session") == 0), "session flag");
		check(!(intent != NULL && renew != NULL), "intent and renew both accepted");
		check(o->renew == (renew != NULL), "renew flag");
		check(o->ttl == -1 || (o->ttl >= 1 && o->ttl <= 86400), "ttl range");
		check(o->nwant <= AGENT_MAX_SCOPES, "scopes over the cap");
		check(memchr(o->name, '\0', sizeof(o->name)) != NULL, "name unterminated");
		for (uint32_t i = 0; i < o->nwant; i++) {
			check(valid_scope(o->want[i]), "invalid scope accepted");
			for (uint32_t j = 0; j < i; j++)
				check(strcmp(o->want[i], o->want[j]) != 0, "duplicate scope accepted");
		}
		if (csr != NULL && fz_note("attestd_csr_key", attestd_csr_key(csr, strlen(csr), &k)) ==
					   ATTEST_OK)
			check(k != NULL, "CSR accepted without a key");
		EVP_PKEY_free(k);
	}
	free(o);
}

/* the monitor's side: q must cross the channel unchanged; then refused,
 * so that admin_handle writes no answer (its JSON is not under test) */
static int runner(void *ctx, const struct admin_req *q, struct admin_result *res)
{
	static const char *const tiers[] = { "low", "medium", "high", "critical" };
	struct admin_req *back = calloc(1, sizeof(*back));
	struct attest_cur c;
	struct mon_out o;
	uint32_t op = 0;
	int tier = 0;

	(void)ctx;
	(void)res;
	if (back == NULL)
		return attest_fail(ATTEST_E_NOMEM, "fuzz");
	mon_out_init(&o, MON_ADMIN);
	admin_req_put(&o, q);
	check(o.err == 0, "a parsed admin request does not fit the channel");
	attest_cur_init(&c, o.buf, o.len);
	check(mon_get_u32(&c, &op) && op == MON_ADMIN, "channel op");
	check(admin_req_get(&c, back) == ATTEST_OK && mon_get_end(&c),
	      "the monitor cannot read a request the front parsed");
	check(memcmp(back, q, sizeof(*q)) == 0, "the request changed on the channel");
	if (q->op == ADMIN_REGISTER) {
		/* env_allow patterns are only length-bounded here: the monitor
		 * judges them (register_agent), as it judges every field again */
		const struct admin_registration *g = &q->reg;

		check(attest_valid_hostname(g->name), "invalid agent name accepted");
		for (size_t i = 0; i < 4; i++)
			tier |= strcmp(g->tier, tiers[i]) == 0;
		check(tier, "risk tier");
		check(g->binary[0] != '\0', "no binary");
		check(g->nuids >= 1 && g->nuids <= AGENT_MAX_UIDS, "uids");
		check(g->nscopes <= AGENT_MAX_SCOPES && g->nclasses <= AGENT_MAX_CLASSES &&
			      g->nenv_allow <= AGENT_MAX_ENV_ALLOW,
		      "lists over their caps");
		for (size_t i = 0; i < g->nclasses; i++)
			check(valid_class(g->classes[i]), "invalid class accepted");
	}
	mon_out_free(&o);
	free(back);
	return attest_fail(ATTEST_E_DENIED, "fuzz: not run");
}

static void admin(const cJSON *req, const char *op)
{
	cJSON *reply = cJSON_CreateObject();

	if (reply != NULL)
		(void)fz_note("admin_handle", admin_handle(req, op, runner, NULL, reply));
	cJSON_Delete(reply);
}

static void getters(const cJSON *req)
{
	char *v[AGENT_MAX_SCOPES] = { 0 }, joined[ATTEST_SCOPES_MAX + 1];
	size_t n = 0;
	long ttl = -1;
	const char *s = NULL;

	if (str_list(req, "scopes", valid_scope, v, AGENT_MAX_SCOPES, &n) == ATTEST_OK) {
		check(n <= AGENT_MAX_SCOPES, "str_list over its cap");
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < i; j++)
				check(strcmp(v[i], v[j]) != 0, "str_list duplicate");
		if (join_scopes((const char *const *)v, n, joined, sizeof(joined)) == ATTEST_OK)
			check(strlen(joined) < sizeof(joined), "join_scopes overflow");
	}
	check(n <= AGENT_MAX_SCOPES, "str_list count over its cap");
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	n = 0;
	if (str_list(req, "data_classes", valid_class, v, AGENT_MAX_CLASSES, &n) == ATTEST_OK)
		for (size_t i = 0; i < n; i++)
			check(valid_class(v[i]), "invalid class");
	for (size_t i = 0; i < n && i < AGENT_MAX_SCOPES; i++)
		free(v[i]);
	if (int_field(req, "ttl", 1, 86400, &ttl) == ATTEST_OK)
		check(ttl == -1 || (ttl >= 1 && ttl <= 86400), "int_field out of range");
	if (opt_str(req, "task_id", 128, &s) == ATTEST_OK && s != NULL)
		check(strlen(s) <= 128, "opt_str over its cap");
	attest_errclear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *req = NULL;
	const cJSON *op;

	if (fz_note("attest_json_parse", attest_json_parse(data, size, ATTEST_WIRE_MAX_FRAME, &req)) !=
	    ATTEST_OK)
		goto out;
	op = cJSON_GetObjectItemCaseSensitive(req, "op");
	if (cJSON_IsString(op)) {
		if (strcmp(op->valuestring, "issue") == 0) {
			issue(req);
		} else if (admin_is_op(op->valuestring)) {
			admin(req, op->valuestring);
		}
	}
	attest_errclear();
	getters(req);
out:
	attest_errclear();
	cJSON_Delete(req);
	return 0;
}
