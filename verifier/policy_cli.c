/* policy_cli.c - `attest-verifier policy check FILE` and
 * `attest-verifier policy test FILE REQUEST.json` (docs/policy.md). */
#include "policy_cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/policy.h"
#include "cli.h"
#include "core/json.h"
#include "core/num.h"

#define REQ_STRS_MAX ATTEST_POLICY_LIST_MAX

static const char check_desc[] =
	"Arguments: FILE, the policy (JSON, at most 1 MiB).\n"
	"Prints \"OK\", the policy version (SHA-256 of the file) and the rule count;\n"
	"or the error and where it is (rule, field). Exit 0 valid, 1 refused.";
static const char test_desc[] =
	"Arguments: FILE REQUEST.json. REQUEST.json is one object (docs/policy.md):\n"
	"  action, resource, agents (required); user, purpose, scopes, depth,\n"
	"  risk_tier, risk_score, data_classes, host_attested_age (decimal string,\n"
	"  absent: never attested), now (decimal string or YYYY-MM-DDTHH:MM:SSZ,\n"
	"  absent: the current time), context (object of strings).\n"
	"Prints allow or deny, the reason code, the deciding rule and the detail.\n"
	"Exit 0 allow, 1 deny, 2 usage error or a bad policy or request file.";

/* A request read from JSON; strings point into the cJSON tree. */
struct req_buf {
	struct attest_policy_request q;
	const char *agents[REQ_STRS_MAX], *scopes[REQ_STRS_MAX], *classes[REQ_STRS_MAX];
	const char *ckeys[REQ_STRS_MAX], *cvals[REQ_STRS_MAX];
};

static int positional(const struct cli_cmd *cmd, int argc, char **argv, int want,
		      const char **args)
{
	static const struct cli_opt none[] = { { 0 } };
	int n = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return cli_parse(cmd, none, 2, (char *[]){ argv[0], argv[i], NULL });
		if (argv[i][0] == '-' && argv[i][1] != '\0')
			return cli_usage_error("unknown option %s", argv[i]);
		if (n == want)
			return cli_usage_error("unexpected argument \"%s\"", argv[i]);
		args[n++] = argv[i];
	}
	if (n < want)
		return cli_usage_error("%s FILE%s expected", cmd->words[0],
				       want == 2 ? " REQUEST.json" : "");
	return CLI_PARSED;
}

/* Load and validate a policy file; CLI_EXIT_OK or CLI_EXIT_FAIL (printed). */
static int load(const char *path, struct attest_policy **p)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = cli_read(path, ATTEST_POLICY_MAX_BYTES, &buf, &len)) != CLI_EXIT_OK)
		return r;
	r = attest_policy_load((const char *)buf, len, p);
	free(buf);
	if (r != ATTEST_OK)
		return cli_fail(r, "%s", path);
	return CLI_EXIT_OK;
}

static int run_check(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct attest_policy *p = NULL;
	const char *args[1];
	int r;

	if ((r = positional(cmd, argc, argv, 1, args)) != CLI_PARSED)
		return r;
	if ((r = load(args[0], &p)) != CLI_EXIT_OK)
		return r;
	printf("OK %s version %s rules %zu\n", args[0], attest_policy_version(p),
	       attest_policy_rule_count(p));
	attest_policy_free(p);
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static int bad_req(const char *path, const char *field, const char *what)
{
	attest_errclear();
	return cli_fail(ATTEST_E_PARSE, "%s: field \"%s\": %s", path, field, what);
}

static int req_strs(const char *path, const cJSON *o, const char *key, const char **v,
		    size_t *n)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);

	*n = 0;
	if (a == NULL)
		return CLI_EXIT_OK;
	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > REQ_STRS_MAX)
		return bad_req(path, key, "must be an array of at most 64 strings");
	for (const cJSON *c = a->child; c != NULL; c = c->next) {
		if (!cJSON_IsString(c))
			return bad_req(path, key, "entries must be strings");
		v[(*n)++] = c->valuestring;
	}
	return CLI_EXIT_OK;
}

static int req_opt_str(const char *path, const cJSON *o, const char *key, const char **out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	*out = NULL;
	if (it == NULL)
		return CLI_EXIT_OK;
	if (!cJSON_IsString(it))
		return bad_req(path, key, "must be a string");
	*out = it->valuestring;
	return CLI_EXIT_OK;
}

static int req_int(const char *path, const cJSON *o, const char *key, long min, long max,
		   long *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	if (it == NULL)
		return CLI_EXIT_OK;
	if (!cJSON_IsNumber(it) || it->valuedouble < (double)min ||
	    it->valuedouble > (double)max || it->valuedouble != (double)(long)it->valuedouble)
		return bad_req(path, key, "must be a whole number in range");
	*out = (long)it->valuedouble;
	return CLI_EXIT_OK;
}

/* Decimal string, or YYYY-MM-DDTHH:MM:SSZ when iso is set. */
static int req_time(const char *path, const cJSON *o, const char *key, int iso, int64_t *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
	const char *s;
	uint64_t v;

	if (it == NULL)
		return CLI_EXIT_OK;
	if (!cJSON_IsString(it))
		return bad_req(path, key, "must be a string");
	s = it->valuestring;
	if (iso && strlen(s) == 20 && s[4] == '-' && s[10] == 'T' && s[19] == 'Z') {
		if (attest_parse_utc(s, 1, out) != ATTEST_OK)
			return bad_req(path, key, "not a valid UTC time YYYY-MM-DDTHH:MM:SSZ");
		return CLI_EXIT_OK;
	}
	if (attest_parse_u64(s, 0, INT64_MAX, &v) != ATTEST_OK)
		return bad_req(path, key,
			       iso ? "must be decimal seconds or YYYY-MM-DDTHH:MM:SSZ"
				   : "must be a decimal string of seconds");
	*out = (int64_t)v;
	return CLI_EXIT_OK;
}

static int req_context(const char *path, const cJSON *o, struct req_buf *b)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "context");

	b->q.nctx = 0;
	if (c == NULL)
		return CLI_EXIT_OK;
	if (!cJSON_IsObject(c) || cJSON_GetArraySize(c) > REQ_STRS_MAX)
		return bad_req(path, "context", "must be an object of at most 64 strings");
	for (const cJSON *k = c->child; k != NULL; k = k->next) {
		if (!cJSON_IsString(k))
			return bad_req(path, "context", "values must be strings");
		b->ckeys[b->q.nctx] = k->string;
		b->cvals[b->q.nctx++] = k->valuestring;
	}
	return CLI_EXIT_OK;
}

static int parse_request(const char *path, const cJSON *o, struct req_buf *b)
{
	static const char *const keys[] = { "action", "resource", "user", "purpose", "agents",
					    "scopes", "depth", "risk_tier", "risk_score",
					    "data_classes", "host_attested_age", "now",
					    "context", NULL };
	struct attest_policy_request *q = &b->q;
	const char *tier = NULL;
	long depth = -1, score = -1;
	int r;

	memset(b, 0, sizeof(*b));
	if (attest_json_only(o, keys) != ATTEST_OK)
		return cli_fail(ATTEST_E_PARSE, "%s", path);
	q->host_attested_age = -1;
	q->now = (int64_t)time(NULL);
	if ((r = req_opt_str(path, o, "action", &q->action)) != CLI_EXIT_OK ||
	    (r = req_opt_str(path, o, "resource", &q->resource)) != CLI_EXIT_OK ||
	    (r = req_opt_str(path, o, "user", &q->user)) != CLI_EXIT_OK ||
	    (r = req_opt_str(path, o, "purpose", &q->purpose)) != CLI_EXIT_OK ||
	    (r = req_opt_str(path, o, "risk_tier", &tier)) != CLI_EXIT_OK ||
	    (r = req_strs(path, o, "agents", b->agents, &q->nagents)) != CLI_EXIT_OK ||
	    (r = req_strs(path, o, "scopes", b->scopes, &q->nscopes)) != CLI_EXIT_OK ||
	    (r = req_strs(path, o, "data_classes", b->classes, &q->ndata_classes)) != CLI_EXIT_OK ||
	    (r = req_int(path, o, "depth", 0, 64, &depth)) != CLI_EXIT_OK ||
	    (r = req_int(path, o, "risk_score", 0, 100, &score)) != CLI_EXIT_OK ||
	    (r = req_time(path, o, "host_attested_age", 0, &q->host_attested_age)) != CLI_EXIT_OK ||
	    (r = req_time(path, o, "now", 1, &q->now)) != CLI_EXIT_OK ||
	    (r = req_context(path, o, b)) != CLI_EXIT_OK)
		return r;
	if (q->action == NULL || q->resource == NULL || q->nagents == 0)
		return bad_req(path, q->action == NULL ? "action" : q->resource == NULL ? "resource"
											 : "agents",
			       "required");
	if (tier != NULL && (q->risk_tier = attest_risk_tier_from_name(tier)) == 0)
		return bad_req(path, "risk_tier", "must be low, medium, high or critical");
	q->depth = depth >= 0 ? (unsigned)depth : (unsigned)(q->nagents - 1);
	q->risk_score = (int)score;
	q->agents = b->agents;
	q->scopes = b->scopes;
	q->data_classes = b->classes;
	q->ctx_keys = b->ckeys;
	q->ctx_values = b->cvals;
	return CLI_EXIT_OK;
}

static int run_test(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct attest_policy *p = NULL;
	struct attest_policy_decision d;
	struct req_buf *b = NULL;
	cJSON *o = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	const char *args[2];
	int r;

	if ((r = positional(cmd, argc, argv, 2, args)) != CLI_PARSED)
		return r;
	r = CLI_EXIT_USAGE; /* a bad policy or request file */
	if (load(args[0], &p) != CLI_EXIT_OK ||
	    cli_read(args[1], VF_POLICY_REQUEST_MAX, &buf, &len) != CLI_EXIT_OK)
		goto out;
	if ((r = attest_json_parse(buf, len, VF_POLICY_REQUEST_MAX, &o)) != ATTEST_OK) {
		cli_fail(r, "%s", args[1]);
		r = CLI_EXIT_USAGE;
		goto out;
	}
	r = CLI_EXIT_USAGE;
	if ((b = malloc(sizeof(*b))) == NULL) {
		cli_fail(ATTEST_E_NOMEM, "request");
		goto out;
	}
	if (parse_request(args[1], o, b) != CLI_EXIT_OK)
		goto out;
	if (attest_policy_eval(p, &b->q, &d) != ATTEST_OK) {
		cli_fail(ATTEST_E_INVALID_ARG, "%s", args[1]);
		goto out;
	}
	printf("%s\nreason: %s\nrule: %s\ndetail: %s\n", d.allow ? "allow" : "deny",
	       attest_errname(d.reason), d.rule[0] != '\0' ? d.rule : "(default deny)", d.detail);
	r = fflush(stdout) != 0 ? CLI_EXIT_USAGE : d.allow ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
	free(b);
	cJSON_Delete(o);
	free(buf);
	attest_policy_free(p);
	return r;
}

static const struct cli_cmd cmds[] = {
	{ { "check", NULL }, run_check, "validate a policy file", check_desc },
	{ { "test", NULL }, run_test, "decide a sample request under a policy", test_desc },
};

static const struct cli_prog prog = {
	"attest-verifier policy",
	"Check the verifier's access policy and try requests against it (docs/policy.md).",
	NULL,
	cmds,
	sizeof(cmds) / sizeof(cmds[0]),
};

int vf_cmd_policy(int argc, char **argv)
{
	return cli_main(&prog, argc, argv);
}
