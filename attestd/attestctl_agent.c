/* attestctl_agent.c - agent registration (admin socket, root) and
 * certificates for the calling agent (agent socket). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest/client.h"
#include "attest/intent.h"
#include "attestctl_agent.h"
#include "net/client.h"
#include "core/fileio.h"
#include "core/json.h"
#include "x509/x509agent.h"

#define MAX_LIST 32

/* "a,b,c" -> JSON array of strings (empty items refused). */
static int add_list(cJSON *o, const char *key, const char *csv)
{
	cJSON *arr;
	char *copy, *p, *save = NULL;
	int n = 0;

	if (csv == NULL)
		return CLI_EXIT_OK;
	if ((arr = cJSON_AddArrayToObject(o, key)) == NULL || (copy = strdup(csv)) == NULL)
		return cli_fail(ATTEST_E_NOMEM, "--%s", key);
	for (p = strtok_r(copy, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save), n++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(p));
	free(copy);
	if (n == 0 || n > MAX_LIST || strstr(csv, ",,") != NULL || csv[strlen(csv) - 1] == ',')
		return cli_usage_error("--%s: a comma-separated list of 1-%d items", key, MAX_LIST);
	return CLI_EXIT_OK;
}

#define MAX_DNS 16 /* AGENT_MAX_DNS: attestd says why more are refused */

/* --dns-name is repeatable (cli_parse takes each option once): its values
 * are taken out of argv (--dns-name NAME, --dns-name=NAME) before parsing,
 * each may also be a comma-separated list. vals point into argv. */
static int take_dns_names(int *argc, char **argv, const char **vals, size_t *n)
{
	static const char opt[] = "--dns-name";
	int out = 1;

	*n = 0;
	for (int i = 1; i < *argc; i++) {
		const char *v = NULL;

		if (strcmp(argv[i], "--") == 0) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (strcmp(argv[i], opt) == 0) {
			if (i + 1 >= *argc)
				return cli_usage_error("option %s needs a value", opt);
			v = argv[++i];
		} else if (strncmp(argv[i], opt, sizeof(opt) - 1) == 0 &&
			   argv[i][sizeof(opt) - 1] == '=') {
			v = argv[i] + sizeof(opt);
		} else {
			argv[out++] = argv[i];
			continue;
		}
		if (*n == MAX_DNS * 4)
			return cli_usage_error("--dns-name given over %d times", MAX_DNS * 4);
		vals[(*n)++] = v;
	}
	*argc = out;
	argv[out] = NULL;
	return CLI_PARSED;
}

/* The --dns-name values (each NAME or NAME,NAME) as the JSON array key
 * of o; empty items refused here, the names themselves by attestd. */
static int add_dns_names(cJSON *o, const char *key, const char *const *vals, size_t n)
{
	cJSON *arr;

	if (n == 0)
		return CLI_EXIT_OK;
	if ((arr = cJSON_AddArrayToObject(o, key)) == NULL)
		return cli_fail(ATTEST_E_NOMEM, "--dns-name");
	for (size_t i = 0; i < n; i++) {
		const char *p = vals[i];

		for (;;) {
			size_t len = strcspn(p, ",");

			if (len == 0)
				return cli_usage_error("--dns-name: an empty name");
			char *dup = strndup(p, len);
			cJSON *it = dup != NULL ? cJSON_CreateString(dup) : NULL;

			free(dup);
			if (it == NULL || !cJSON_AddItemToArray(arr, it)) {
				cJSON_Delete(it);
				return cli_fail(ATTEST_E_NOMEM, "--dns-name");
			}
			if (p[len] == '\0')
				break;
			p += len + 1;
		}
	}
	return CLI_EXIT_OK;
}

static int add_number(cJSON *o, const char *key, const char *s, long min, long max)
{
	long v;
	int r;

	if (s == NULL)
		return CLI_EXIT_OK;
	if ((r = cli_long(key, s, min, max, &v)) != CLI_PARSED)
		return r;
	cJSON_AddNumberToObject(o, key, (double)v);
	return CLI_EXIT_OK;
}

/* Send, then print the reply (minus "ok") as indented JSON. */
static int call_and_print(const char *sock, cJSON *req, const char *what)
{
	cJSON *reply = NULL;
	char *s;
	int r = attest_client_call(sock, req, -1, &reply);

	cJSON_Delete(req);
	if (r != ATTEST_OK)
		return cli_fail(r, "%s", what);
	cJSON_DeleteItemFromObjectCaseSensitive(reply, "ok");
	if ((s = cJSON_Print(reply)) != NULL)
		printf("%s\n", s);
	free(s);
	cJSON_Delete(reply);
	return CLI_EXIT_OK;
}

static int add_path(cJSON *o, const char *key, const char *path)
{
	char resolved[PATH_MAX];

	if (realpath(path, resolved) == NULL)
		return cli_usage_error("--%s %s: %s", key, path, strerror(errno));
	cJSON_AddStringToObject(o, key, resolved);
	return CLI_EXIT_OK;
}

static cJSON *op_request(const char *op)
{
	cJSON *o = cJSON_CreateObject();

	if (o != NULL)
		cJSON_AddStringToObject(o, "op", op);
	return o;
}

int cmd_agent_register(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *sock, *name, *binary, *script, *uids, *scopes, *tier, *classes, *ttl, *depth,
		*env_allow, *dns_unused, *dns[MAX_DNS * 4];
	size_t ndns = 0;
	const struct cli_opt opts[] = {
		{ "name", "NAME", "agent name, unique on this host: " ATTEST_NAME_RULE, 1, &name },
		{ "binary", "PATH", "agent executable, or its interpreter with --script", 1, &binary },
		{ "script", "PATH", "interpreted agents: the script (root-owned, read-only)", 0, &script },
		{ "uids", "UID[,UID]", "uids allowed to run it (one per agent is best)", 1, &uids },
		{ "scopes", "S[,S]", "scopes its certificates may carry", 0, &scopes },
		{ "tier", "TIER", "risk tier: low, medium, high or critical", 1, &tier },
		{ "classes", "C[,C]", "data classes it touches (phi, pii, financial, ...)", 0, &classes },
		{ "max-ttl", "SECONDS", "longest certificate lifetime (300)", 0, &ttl },
		{ "delegate-depth", "N", "how deep it may delegate, 0-3 (0: never)", 0, &depth },
		{ "env-allow", "NAME[,NAME]",
		  "environment variables it may start with beyond the default set (NAME or PREFIX*; "
		  "never loader/runtime ones such as LD_*, OPENSSL_*, PYTHON*)", 0, &env_allow },
		{ "dns-name", "NAME",
		  "a DNS name its certificates may carry when it asks (it serves TLS under it); "
		  "repeatable, at most 16: lower-case LDH labels, no trailing dot, no wildcard, "
		  "no IP address; one agent per name on a host", 0, &dns_unused },
		{ "admin-socket", "PATH", "attestd admin socket (" DEFAULT_ADMIN_SOCKET ")", 0, &sock },
		{ 0 },
	};
	cJSON *req;
	int r;

	if ((r = take_dns_names(&argc, argv, dns, &ndns)) != CLI_PARSED ||
	    (r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED)
		return r;
	if ((req = op_request("register")) == NULL)
		return cli_fail(ATTEST_E_NOMEM, "request");
	cJSON_AddStringToObject(req, "name", name);
	cJSON_AddStringToObject(req, "risk_tier", tier);
	/* attestd resolves paths in its own working directory: send absolute ones */
	if ((r = add_path(req, "binary", binary)) != CLI_EXIT_OK ||
	    (script != NULL && (r = add_path(req, "script", script)) != CLI_EXIT_OK)) {
		cJSON_Delete(req);
		return r;
	}
	{
		cJSON *arr = cJSON_AddArrayToObject(req, "uids");
		char *copy = strdup(uids), *p, *save = NULL;

		for (p = copy ? strtok_r(copy, ",", &save) : NULL; p != NULL; p = strtok_r(NULL, ",", &save)) {
			long v;

			if ((r = cli_long("uids", p, 0, 4294967294L, &v)) != CLI_PARSED) {
				free(copy);
				cJSON_Delete(req);
				return r;
			}
			cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)v));
		}
		free(copy);
	}
	if ((r = add_list(req, "scopes", scopes)) != CLI_EXIT_OK ||
	    (r = add_list(req, "data_classes", classes)) != CLI_EXIT_OK ||
	    (r = add_list(req, "env_allow", env_allow)) != CLI_EXIT_OK ||
	    (r = add_dns_names(req, "dns_names", dns, ndns)) != CLI_EXIT_OK ||
	    (r = add_number(req, "max_ttl", ttl, 1, 86400)) != CLI_EXIT_OK ||
	    (r = add_number(req, "delegate_depth", depth, 0, 3)) != CLI_EXIT_OK) {
		cJSON_Delete(req);
		return r;
	}
	return call_and_print(sock ? sock : DEFAULT_ADMIN_SOCKET, req, "register agent");
}

static int named_op(const struct cli_cmd *cmd, int argc, char **argv, const char *op, int need_name)
{
	const char *sock, *name;
	const struct cli_opt opts[] = {
		{ "name", "NAME", "agent name", need_name, &name },
		{ "admin-socket", "PATH", "attestd admin socket (" DEFAULT_ADMIN_SOCKET ")", 0, &sock },
		{ 0 },
	};
	cJSON *req;
	int r;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED)
		return r;
	if (!need_name && name != NULL)
		return cli_usage_error("--name is not used here");
	if ((req = op_request(op)) == NULL)
		return cli_fail(ATTEST_E_NOMEM, "request");
	if (name != NULL)
		cJSON_AddStringToObject(req, "name", name);
	return call_and_print(sock ? sock : DEFAULT_ADMIN_SOCKET, req, op);
}

int cmd_stats(const struct cli_cmd *cmd, int argc, char **argv)
{
	return named_op(cmd, argc, argv, "stats", 0);
}

int cmd_agent_list(const struct cli_cmd *cmd, int argc, char **argv)
{
	return named_op(cmd, argc, argv, "list", 0);
}

int cmd_agent_show(const struct cli_cmd *cmd, int argc, char **argv)
{
	return named_op(cmd, argc, argv, "show", 1);
}

int cmd_agent_revoke(const struct cli_cmd *cmd, int argc, char **argv)
{
	return named_op(cmd, argc, argv, "revoke", 1);
}

int cmd_agent_remove(const struct cli_cmd *cmd, int argc, char **argv)
{
	return named_op(cmd, argc, argv, "remove", 1);
}

/* attestctl federation add|remove|list (docs/spiffe.md "Federation") */
static int federation_op(const struct cli_cmd *cmd, int argc, char **argv, const char *op)
{
	const char *sock, *td, *url, *ca;
	int add = strcmp(op, "federate") == 0, list = strcmp(op, "federation") == 0;
	const struct cli_opt opts[] = {
		{ "trust-domain", "TD", "the other trust domain (partner.example)", !list, &td },
		{ "bundle-url", "URL", "its bundle endpoint (https_web)", add, &url },
		{ "ca", "PEM", "the CA its endpoint's TLS certificate chains to", add, &ca },
		{ "admin-socket", "PATH", "attestd admin socket (" DEFAULT_ADMIN_SOCKET ")", 0, &sock },
		{ 0 },
	};
	uint8_t *pem = NULL;
	size_t n = 0;
	cJSON *req;
	int r;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED)
		return r;
	if ((!add && (url != NULL || ca != NULL)) || (list && td != NULL))
		return cli_usage_error("only add takes --bundle-url and --ca");
	if (add && (r = attest_file_read(ca, 64 * 1024, &pem, &n)) != ATTEST_OK)
		return cli_fail(r, "--ca %s", ca);
	if ((req = op_request(op)) == NULL ||
	    (td != NULL && cJSON_AddStringToObject(req, "trust_domain", td) == NULL) ||
	    (add && (cJSON_AddStringToObject(req, "bundle_url", url) == NULL ||
		     cJSON_AddStringToObject(req, "ca_pem", (const char *)pem) == NULL))) {
		cJSON_Delete(req);
		free(pem);
		return cli_fail(ATTEST_E_NOMEM, "request");
	}
	free(pem);
	return call_and_print(sock ? sock : DEFAULT_ADMIN_SOCKET, req, op);
}

int cmd_federation_add(const struct cli_cmd *cmd, int argc, char **argv)
{
	return federation_op(cmd, argc, argv, "federate");
}

int cmd_federation_remove(const struct cli_cmd *cmd, int argc, char **argv)
{
	return federation_op(cmd, argc, argv, "unfederate");
}

int cmd_federation_list(const struct cli_cmd *cmd, int argc, char **argv)
{
	return federation_op(cmd, argc, argv, "federation");
}

static int write_out(const char *dir, const char *name, const char *data, mode_t mode)
{
	char path[4096];
	int r;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return cli_usage_error("--out path too long");
	if ((r = attest_file_write_atomic(path, data, strlen(data), mode)) != ATTEST_OK)
		return cli_fail(r, "write %s", path);
	return CLI_EXIT_OK;
}

int cmd_cert(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *sock, *agent, *scopes, *ttl_s, *mode, *task, *out, *csr_path, *intent_path,
		*renew_path, *dns_unused, *dns_args[MAX_DNS * 4];
	const struct cli_opt opts[] = {
		{ "agent", "NAME", "the registered agent that runs this command", 1, &agent },
		{ "out", "DIR", "where to write cert.pem (chain) and key.pem (0600, dir 0700)", 1, &out },
		{ "scopes", "S[,S]", "scopes to carry (default: all registered; empty: refused)", 0, &scopes },
		{ "ttl", "SECONDS", "lifetime (default: the agent's maximum)", 0, &ttl_s },
		{ "mode", "MODE", "strict (TPM signs the leaf) or session", 0, &mode },
		{ "task", "ID", "task id recorded in the certificate", 0, &task },
		{ "csr", "FILE", "PKCS#10 request with your own key (no key.pem then)", 0, &csr_path },
		{ "intent", "FILE", "intent chain (grant or delegation) to carry (docs/intent.md)", 0,
		  &intent_path },
		{ "renew", "FILE", "renew: your current cert.pem that carries intent, instead of --intent",
		  0, &renew_path },
		{ "dns-name", "NAME",
		  "a DNS name for the leaf beside its SPIFFE ID (repeatable); each must be "
		  "registered for the agent, else nothing is issued", 0, &dns_unused },
		{ "socket", "PATH", "attestd agent socket (" ATTEST_DEFAULT_SOCKET ")", 0, &sock },
		{ 0 },
	};
	const char *list[MAX_LIST];
	uint8_t *intent = NULL;
	size_t intent_len;
	struct attest_cert_request req = { 0 };
	struct attest_cert *cert = NULL;
	char *copy = NULL, *p, *save = NULL;
	uint8_t *csr = NULL, *renew = NULL;
	size_t csr_len, renew_len;
	char *dns_copy[MAX_DNS * 4] = { 0 };
	const char *dns[MAX_DNS * 4];
	size_t ndns_args = 0, ndns = 0;
	long ttl = 0;
	int r;

	if ((r = take_dns_names(&argc, argv, dns_args, &ndns_args)) != CLI_PARSED ||
	    (r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED)
		return r;
	(void)dns_unused;
	if (ttl_s != NULL && (r = cli_long("ttl", ttl_s, 1, 86400, &ttl)) != CLI_PARSED)
		return r;
	if (csr_path != NULL && (r = cli_read(csr_path, 16384, &csr, &csr_len)) != CLI_EXIT_OK)
		return r;
	if (intent_path != NULL &&
	    (r = cli_read(intent_path, ATTEST_INTENT_TOKEN_MAX + 2, &intent, &intent_len)) != CLI_EXIT_OK) {
		free(csr);
		return r;
	}
	if (renew_path != NULL &&
	    (r = cli_read(renew_path, ATTEST_RENEW_PEM_MAX, &renew, &renew_len)) != CLI_EXIT_OK) {
		free(intent);
		free(csr);
		return r;
	}
	req.renew_pem = (const char *)renew;
	/* a token file may end with a newline */
	while (intent != NULL && intent_len > 0 &&
	       (intent[intent_len - 1] == '\n' || intent[intent_len - 1] == '\r'))
		intent[--intent_len] = '\0';
	req.intent = (const char *)intent;
	req.agent = agent;
	req.mode = mode;
	req.ttl = ttl;
	req.task_id = task;
	req.csr_pem = (const char *)csr;
	/* This command is a process of its own: attestd measures our parent,
	 * the agent that ran us ("parent": true; attestd pins it itself). */
	req.for_parent = 1;
	for (size_t i = 0; i < ndns_args; i++) {
		char *save2 = NULL, *q;

		if ((dns_copy[i] = strdup(dns_args[i])) == NULL) {
			r = cli_fail(ATTEST_E_NOMEM, "--dns-name");
			goto out;
		}
		if (dns_args[i][0] == '\0' || strstr(dns_args[i], ",,") != NULL ||
		    dns_args[i][0] == ',' || dns_args[i][strlen(dns_args[i]) - 1] == ',') {
			r = cli_usage_error("--dns-name: an empty name");
			goto out;
		}
		for (q = strtok_r(dns_copy[i], ",", &save2); q != NULL; q = strtok_r(NULL, ",", &save2)) {
			if (ndns == MAX_DNS * 4) {
				r = cli_usage_error("--dns-name: too many names");
				goto out;
			}
			dns[ndns++] = q;
		}
	}
	req.dns_names = dns;
	req.ndns_names = ndns;
	if (scopes != NULL) {
		if ((copy = strdup(scopes)) == NULL) {
			r = cli_fail(ATTEST_E_NOMEM, "--scopes");
			goto out;
		}
		for (p = strtok_r(copy, ",", &save); p != NULL && req.nscopes < MAX_LIST;
		     p = strtok_r(NULL, ",", &save))
			list[req.nscopes++] = p;
		/* an empty --scopes is sent as [] and refused: never "all" */
		req.scopes = list;
	}
	if ((r = attest_dir_ensure(out, 0700)) != ATTEST_OK) {
		r = cli_fail(r, "create %s", out);
		goto out;
	}
	if ((r = attest_client_issue(sock, &req, &cert)) != ATTEST_OK) {
		r = cli_fail(r, "certificate for agent %s", agent);
		goto out;
	}
	if ((r = write_out(out, "cert.pem", cert->chain_pem, 0644)) != CLI_EXIT_OK ||
	    (cert->key_pem != NULL && (r = write_out(out, "key.pem", cert->key_pem, 0600)) != CLI_EXIT_OK))
		goto out;
	printf("%s: certificate chain in %s/cert.pem%s\n", cert->id, out,
	       cert->key_pem != NULL ? ", key in key.pem" : "");
	r = CLI_EXIT_OK;
out:
	for (size_t i = 0; i < ndns_args; i++)
		free(dns_copy[i]);
	attest_cert_free(cert);
	free(copy);
	free(csr);
	free(intent);
	free(renew);
	return r;
}

/* "a,b" -> v[] pointing into a copy (*copy, the caller's); usage error on
 * empty items or more than MAX_LIST. */
static int split_list(const char *opt, const char *csv, char **copy, const char **v, size_t *n)
{
	char *p, *save = NULL;

	*n = 0;
	if (csv[0] == '\0' || strstr(csv, ",,") != NULL || csv[0] == ',' ||
	    csv[strlen(csv) - 1] == ',')
		return cli_usage_error("--%s: a comma-separated list of 1-%d items", opt, MAX_LIST);
	if ((*copy = strdup(csv)) == NULL)
		return cli_fail(ATTEST_E_NOMEM, "--%s", opt);
	for (p = strtok_r(*copy, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save)) {
		if (*n == MAX_LIST)
			return cli_usage_error("--%s: at most %d items", opt, MAX_LIST);
		v[(*n)++] = p;
	}
	return CLI_PARSED;
}

int cmd_intent_issue(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *key_path, *iss, *user, *aud, *purpose, *text, *scopes, *resources, *ttl_s,
		*depth_s, *jti;
	const struct cli_opt opts[] = {
		{ "key", "FILE", "the issuer's EC P-256 private key (PEM)", 1, &key_path },
		{ "issuer", "NAME", "issuer name (attestd trusts STATE/intent-issuers/NAME.pem)", 1,
		  &iss },
		{ "user", "USER", "the user whose intent this is", 1, &user },
		{ "aud", "AGENT_ID", "the agent's SPIFFE ID the grant is for", 1, &aud },
		{ "purpose", "CODE", "TREATMENT, PAYMENT, OPERATIONS, RESEARCH, PUBLIC_HEALTH or OTHER",
		  1, &purpose },
		{ "text", "TEXT", "purpose text", 0, &text },
		{ "scopes", "S[,S]", "scopes granted", 1, &scopes },
		{ "resources", "R[,R]", "resource patterns (may end in *)", 1, &resources },
		{ "ttl", "SECONDS", "lifetime from now", 1, &ttl_s },
		{ "max-depth", "N", "delegations allowed, 0-3 (default 0)", 0, &depth_s },
		{ "jti", "ID", "task ID (default: random)", 0, &jti },
		{ 0 },
	};
	const char *sv[MAX_LIST], *rv[MAX_LIST];
	char *scopy = NULL, *rcopy = NULL, *tok = NULL, rnd[33];
	uint8_t *pem = NULL;
	size_t pem_len, ns = 0, nr = 0;
	long ttl, depth = 0;
	EVP_PKEY *k = NULL;
	BIO *b = NULL;
	struct attest_intent_claims c = { 0 };
	int r, p;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED)
		return r;
	if ((r = cli_long("ttl", ttl_s, 1, 7 * 86400, &ttl)) != CLI_PARSED ||
	    (depth_s != NULL &&
	     (r = cli_long("max-depth", depth_s, 0, ATTEST_INTENT_MAX_DEPTH, &depth)) != CLI_PARSED))
		return r;
	for (p = ATTEST_PURPOSE_TREATMENT; p <= ATTEST_PURPOSE_OTHER; p++)
		if (strcmp(attest_purpose_name((enum attest_purpose)p), purpose) == 0)
			break;
	if (p > ATTEST_PURPOSE_OTHER)
		return cli_usage_error("--purpose: unknown code \"%s\"", purpose);
	if ((r = split_list("scopes", scopes, &scopy, sv, &ns)) != CLI_PARSED ||
	    (r = split_list("resources", resources, &rcopy, rv, &nr)) != CLI_PARSED)
		goto out;
	if ((r = cli_read(key_path, 64 * 1024, &pem, &pem_len)) != CLI_EXIT_OK)
		goto out;
	if ((b = BIO_new_mem_buf(pem, (int)pem_len)) == NULL ||
	    (k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL) {
		r = cli_fail(ATTEST_E_PARSE, "%s: not a PEM private key", key_path);
		goto out;
	}
	if (jti == NULL) {
		uint8_t raw[16];

		if (RAND_bytes(raw, sizeof(raw)) != 1) {
			r = cli_fail(ATTEST_E_CRYPTO, "random task ID");
			goto out;
		}
		attest_hex(raw, sizeof(raw), rnd);
		jti = rnd;
	}
	c.sub = user;
	c.aud = aud;
	c.purpose = (enum attest_purpose)p;
	c.purpose_text = text != NULL ? text : "";
	c.scopes = sv;
	c.nscopes = ns;
	c.resources = rv;
	c.nresources = nr;
	c.jti = jti;
	c.iat = c.nbf = (int64_t)time(NULL);
	c.exp = c.iat + ttl;
	c.max_depth = (int)depth;
	if ((r = attest_intent_grant_make(k, iss, &c, &tok)) != ATTEST_OK) {
		r = cli_fail(r, "intent grant");
		goto out;
	}
	printf("%s\n", tok);
	r = CLI_EXIT_OK;
out:
	free(tok);
	EVP_PKEY_free(k);
	BIO_free(b);
	free(pem);
	free(scopy);
	free(rcopy);
	return r;
}

/* ---------- intent delegate / intent show ---------- */

/* All certificates of a PEM file, in order; NULL (error printed) if none. */
static STACK_OF(X509) *read_certs(const char *path)
{
	STACK_OF(X509) *sk = NULL;
	uint8_t *pem = NULL;
	size_t len;
	BIO *b = NULL;
	X509 *x;

	if (cli_read(path, 256 * 1024, &pem, &len) != CLI_EXIT_OK)
		return NULL;
	if ((b = BIO_new_mem_buf(pem, (int)len)) == NULL || (sk = sk_X509_new_null()) == NULL)
		goto fail;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			goto fail;
		}
	}
	ERR_clear_error();
	if (sk_X509_num(sk) == 0) {
		cli_fail(ATTEST_E_PARSE, "%s: no PEM certificate", path);
		sk_X509_pop_free(sk, X509_free);
		sk = NULL;
	}
	BIO_free(b);
	free(pem);
	return sk;
fail:
	cli_fail(ATTEST_E_NOMEM, "read %s", path);
	sk_X509_pop_free(sk, X509_free);
	BIO_free(b);
	free(pem);
	return NULL;
}

/* A whole small file, trailing whitespace removed; NULL (error printed). */
static char *read_text(const char *path, size_t cap)
{
	uint8_t *buf = NULL;
	size_t len;

	if (cli_read(path, cap, &buf, &len) != CLI_EXIT_OK)
		return NULL;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	return (char *)buf;
}

static EVP_PKEY *read_key(const char *path, int priv)
{
	uint8_t *pem = NULL;
	size_t len;
	BIO *b;
	EVP_PKEY *k = NULL;

	if (cli_read(path, 64 * 1024, &pem, &len) != CLI_EXIT_OK)
		return NULL;
	if ((b = BIO_new_mem_buf(pem, (int)len)) != NULL)
		k = priv ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)
			 : PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	if (k == NULL) {
		ERR_clear_error();
		cli_fail(ATTEST_E_PARSE, "%s: not a PEM %s key", path, priv ? "private" : "public");
	}
	BIO_free(b);
	free(pem);
	return k;
}

int cmd_intent_delegate(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *key_path, *chain_path, *parent_path, *aud, *scopes, *resources, *ttl_s;
	const struct cli_opt opts[] = {
		{ "key", "FILE", "this agent's leaf private key (key.pem)", 1, &key_path },
		{ "chain", "FILE", "this agent's leaf, then its issuers (cert.pem)", 1, &chain_path },
		{ "parent", "FILE", "the intent chain whose last token is addressed to this agent", 1,
		  &parent_path },
		{ "aud", "AGENT_ID", "the delegate's SPIFFE ID", 1, &aud },
		{ "scopes", "S[,S]", "scopes delegated (each one of the parent's)", 1, &scopes },
		{ "resources", "R[,R]", "resource patterns (each within the parent's)", 1,
		  &resources },
		{ "ttl", "SECONDS", "lifetime from now (within the parent's and the leaf's)", 1,
		  &ttl_s },
		{ 0 },
	};
	const char *sv[MAX_LIST], *rv[MAX_LIST];
	char *scopy = NULL, *rcopy = NULL, *parent = NULL, *tok = NULL;
	size_t ns = 0, nr = 0;
	long ttl;
	EVP_PKEY *k = NULL;
	STACK_OF(X509) *chain = NULL;
	struct attest_delegation_claims c = { 0 };
	int r;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED)
		return r;
	if ((r = cli_long("ttl", ttl_s, 1, 7 * 86400, &ttl)) != CLI_PARSED)
		return r;
	if ((r = split_list("scopes", scopes, &scopy, sv, &ns)) != CLI_PARSED ||
	    (r = split_list("resources", resources, &rcopy, rv, &nr)) != CLI_PARSED)
		goto out;
	r = CLI_EXIT_FAIL;
	if ((k = read_key(key_path, 1)) == NULL || (chain = read_certs(chain_path)) == NULL ||
	    (parent = read_text(parent_path, ATTEST_INTENT_TOKEN_MAX + 2)) == NULL)
		goto out;
	c.aud = aud;
	c.scopes = sv;
	c.nscopes = ns;
	c.resources = rv;
	c.nresources = nr;
	c.iat = (int64_t)time(NULL);
	c.exp = c.iat + ttl;
	if ((r = attest_intent_delegate(k, chain, parent, &c, &tok)) != ATTEST_OK) {
		r = cli_fail(r, "delegate to %s", aud);
		goto out;
	}
	printf("%s\n", tok);
	r = CLI_EXIT_OK;
out:
	free(tok);
	free(parent);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(k);
	free(scopy);
	free(rcopy);
	return r;
}

/* --issuer "NAME=KEY.pem[,NAME=KEY.pem]" into the trust. */
static int add_issuers(struct attest_intent_trust *t, const char *list)
{
	char *copy = strdup(list), *p, *save = NULL;
	int r = CLI_EXIT_OK, n = 0;

	if (copy == NULL)
		return cli_fail(ATTEST_E_NOMEM, "--issuer");
	for (p = strtok_r(copy, ",", &save); p != NULL && r == CLI_EXIT_OK;
	     p = strtok_r(NULL, ",", &save), n++) {
		char *eq = strchr(p, '=');
		EVP_PKEY *k;
		int e;

		if (eq == NULL || eq == p || eq[1] == '\0') {
			r = cli_usage_error("--issuer: NAME=KEY.pem[,NAME=KEY.pem], not \"%s\"", p);
			break;
		}
		*eq = '\0';
		if ((k = read_key(eq + 1, 0)) == NULL) {
			r = CLI_EXIT_FAIL;
			break;
		}
		if ((e = attest_intent_trust_add_issuer(t, p, k)) != ATTEST_OK)
			r = cli_fail(e, "trust issuer %s", p);
		EVP_PKEY_free(k);
	}
	if (r == CLI_EXIT_OK && n == 0)
		r = cli_usage_error("--issuer: NAME=KEY.pem[,NAME=KEY.pem]");
	free(copy);
	return r;
}

int cmd_intent_show(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *in, *root_path, *issuers;
	const struct cli_opt opts[] = {
		{ "in", "FILE", "a leaf chain (cert.pem); the first certificate is the leaf", 1, &in },
		{ "root", "FILE", "the fleet root (PEM)", 1, &root_path },
		{ "issuer", "NAME=KEY[,...]", "trusted intent issuers' public keys (PEM)", 1,
		  &issuers },
		{ 0 },
	};
	STACK_OF(X509) *certs = NULL, *roots = NULL;
	struct attest_intent_trust *t = NULL;
	struct attest_intent_chain *chain = NULL;
	char *tok = NULL, *uri = NULL, *text = NULL;
	int r, e;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED)
		return r;
	r = CLI_EXIT_FAIL;
	if ((certs = read_certs(in)) == NULL || (roots = read_certs(root_path)) == NULL)
		goto out;
	if ((e = attest_intent_from_cert(sk_X509_value(certs, 0), &tok, &uri)) != ATTEST_OK) {
		r = e == ATTEST_E_NOT_FOUND
			    ? cli_fail(e, "%s: the leaf carries no intent extension", in)
			    : cli_fail(e, "%s: %s", in, attest_errdetail());
		goto out;
	}
	if ((e = attest_intent_trust_new(&t)) != ATTEST_OK ||
	    (e = attest_intent_trust_set_root(t, sk_X509_value(roots, 0))) != ATTEST_OK) {
		r = cli_fail(e, "intent trust");
		goto out;
	}
	if ((r = add_issuers(t, issuers)) != CLI_EXIT_OK)
		goto out;
	/* The leaf's own issuers (cert.pem as attestd wrote it ends with the
	 * fleet's issuing CA) help place the delegators' host CAs, whose x5c
	 * stops below the issuing CA; they are no anchors: every path must
	 * still end at --root. */
	for (int i = 1; i < sk_X509_num(certs); i++)
		if (X509_check_ca(sk_X509_value(certs, i)) != 0 &&
		    (e = attest_intent_trust_add_intermediate(t, sk_X509_value(certs, i))) != ATTEST_OK) {
			r = cli_fail(e, "%s: certificate %d", in, i);
			goto out;
		}
	/* verified now: the chain must still be valid for the leaf's agent */
	if ((e = attest_intent_verify(t, tok, uri, time(NULL), &chain)) != ATTEST_OK) {
		r = cli_fail(e, "verify the intent of %s", uri);
		goto out;
	}
	if ((e = attest_intent_chain_describe(chain, &text)) != ATTEST_OK) {
		r = cli_fail(e, "describe the intent chain");
		goto out;
	}
	printf("intent chain of %s (verified):\n%s", uri, text);
	if (text[0] != '\0' && text[strlen(text) - 1] != '\n')
		printf("\n");
	r = CLI_EXIT_OK;
out:
	free(text);
	attest_intent_chain_free(chain);
	attest_intent_trust_free(t);
	free(uri);
	free(tok);
	sk_X509_pop_free(certs, X509_free);
	sk_X509_pop_free(roots, X509_free);
	return r;
}
