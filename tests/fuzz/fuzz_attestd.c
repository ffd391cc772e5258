/* fuzz_attestd.c - libFuzzer target for attestd's request handlers, their
 * parse steps (attestd/reqparse.c) and field getters (attestd/request.c):
 * a frame body as the agent and admin sockets read it (attest_json_parse
 * with ATTEST_WIRE_MAX_FRAME), then by its "op":
 *   issue -> attestd_issue_parse (then attestd_csr_key on its "csr");
 *   register -> attestd_register_parse (hard max TTL 86400);
 *   revoke, remove, show -> attestd_name_parse;
 * and on every body the getters str_list ("scopes", "data_classes"),
 * int_field ("ttl"), opt_str ("task_id") and join_scopes.
 * Oracles besides the sanitizers: what a parse accepts obeys its contract:
 *   issue: mode strict or session, not both intent and renew, 0..
 *   AGENT_MAX_SCOPES wanted scopes each valid_scope and unique, ttl -1 or
 *   1..86400; register: a valid name, one of the four tiers, 1..
 *   AGENT_MAX_UIDS uids, scopes that join, classes valid, every env_allow
 *   pattern agent_env_pattern_ok, max_ttl and delegate_depth in range;
 *   name: at most 63 bytes (the registry lookup judges it); str_list: unique valid entries within its cap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "fuzz_fixture.h"
#include "net/wire.h"
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

static void reg(const cJSON *req)
{
	static const char *const tiers[] = { "low", "medium", "high", "critical" };
	struct agent *a = agent_new();
	const char *binary = NULL, *script = NULL, *why;
	char joined[ATTEST_SCOPES_MAX + 1];
	int tier = 0;

	if (a == NULL)
		return;
	if (fz_note("attestd_register_parse",
		    attestd_register_parse(req, 86400, a, &binary, &script)) == ATTEST_OK) {
		check(attest_valid_hostname(a->name), "invalid agent name accepted");
		for (size_t i = 0; i < 4; i++)
			tier |= strcmp(a->tier, tiers[i]) == 0;
		check(tier, "risk tier");
		check(binary != NULL, "no binary");
		check(a->nuids >= 1 && a->nuids <= AGENT_MAX_UIDS, "uids");
		check(a->max_ttl >= 1 && a->max_ttl <= 86400 && a->delegate_depth >= 0 &&
			      a->delegate_depth <= 3,
		      "limits");
		check(a->nscopes <= AGENT_MAX_SCOPES && a->nclasses <= AGENT_MAX_CLASSES &&
			      a->nenv_allow <= AGENT_MAX_ENV_ALLOW,
		      "lists over their caps");
		check(join_scopes((const char *const *)a->scopes, a->nscopes, joined,
				  sizeof(joined)) == ATTEST_OK,
		      "scopes that do not join accepted");
		for (size_t i = 0; i < a->nclasses; i++)
			check(valid_class(a->classes[i]), "invalid class accepted");
		for (size_t i = 0; i < a->nenv_allow; i++)
			check(agent_env_pattern_ok(a->env_allow[i], &why), "env_allow pattern accepted");
	}
	agent_free(a);
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
	const char *name = NULL;

	if (fz_note("attest_json_parse", attest_json_parse(data, size, ATTEST_WIRE_MAX_FRAME, &req)) !=
	    ATTEST_OK)
		goto out;
	op = cJSON_GetObjectItemCaseSensitive(req, "op");
	if (cJSON_IsString(op)) {
		if (strcmp(op->valuestring, "issue") == 0) {
			issue(req);
		} else if (strcmp(op->valuestring, "register") == 0) {
			reg(req);
		} else if (fz_note("attestd_name_parse", attestd_name_parse(req, &name)) == ATTEST_OK) {
			check(name != NULL && strlen(name) <= ATTEST_MAX_NAME, "name over its cap");
		}
	}
	attest_errclear();
	getters(req);
out:
	attest_errclear();
	cJSON_Delete(req);
	return 0;
}
