/* registry.c - agent records on disk and in memory. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "measure/measure.h"
#include "log.h"
#include "nodump.h"
#include "registry.h"
#include "tpm/tpmjson.h"
#include "x509/x509.h"

#define RECORD_CAP (256 * 1024)

void agent_free(struct agent *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->nscopes; i++)
		free(a->scopes[i]);
	for (size_t i = 0; i < a->nclasses; i++)
		free(a->classes[i]);
	for (size_t i = 0; i < a->nenv_allow; i++)
		free(a->env_allow[i]);
	for (size_t i = 0; i < a->ndns; i++)
		free(a->dns[i]);
	X509_free(a->agent_ca);
	X509_free(a->session_cert);
	EVP_PKEY_free(a->session_key);
	X509_CRL_free(a->crl);
	attestd_secret_free(a, sizeof(*a)); /* wiped whole, auth value included */
}

struct agent *agent_new(void)
{
	return attestd_secret_alloc(sizeof(struct agent));
}

void agent_measurement(const struct agent *a, uint8_t out[32])
{
	static const char tag[] = "attestd-agent-v1";
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	/* NUL separators keep the variable-length fields unambiguous. */
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, tag, sizeof(tag)) != 1 ||
	    EVP_DigestUpdate(ctx, a->id, strlen(a->id) + 1) != 1 ||
	    EVP_DigestUpdate(ctx, a->uuid, strlen(a->uuid) + 1) != 1 ||
	    EVP_DigestUpdate(ctx, a->exe_sha256, 32) != 1 ||
	    EVP_DigestUpdate(ctx, a->script_sha256, 32) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, NULL) != 1)
		memset(out, 0, 32); /* never equals a real measurement's PCR value path */
	EVP_MD_CTX_free(ctx);
}

int agent_risk_score(const struct agent *a)
{
	int score = 0;

	/* breadth: 4 points a scope, at most 20; wildcard scopes count triple */
	for (size_t i = 0; i < a->nscopes; i++)
		score += strchr(a->scopes[i], '*') != NULL ? 12 : 4;
	if (score > 20)
		score = 20;
	/* data classes: phi 25, financial 20, pii 15, others 5; at most 40 */
	{
		int d = 0;

		for (size_t i = 0; i < a->nclasses; i++) {
			const char *c = a->classes[i];

			d += strcmp(c, "phi") == 0 ? 25 : strcmp(c, "financial") == 0 ? 20
			   : strcmp(c, "pii") == 0 ? 15 : 5;
		}
		score += d > 40 ? 40 : d;
	}
	/* lifetime: 1 point per 2 minutes of max TTL, at most 20 */
	score += a->max_ttl / 120 > 20 ? 20 : (int)(a->max_ttl / 120);
	/* delegation: 10 for the right, 5 more per level beyond the first, at most 20 */
	if (a->delegate_depth > 0)
		score += 10 + 5 * (a->delegate_depth - 1) > 20 ? 20 : 10 + 5 * (a->delegate_depth - 1);
	return score > 100 ? 100 : score;
}

/* The environment every agent may start with (docs/agents.md,
 * "Environment"): where to find programs, who and where the user is, and
 * locale, terminal and time zone data from the system's own stores, plus
 * the three variables systemd gives every service. Nothing here makes a
 * process load code or configuration from a place its caller chooses. */
const char *const agent_env_default[] = { "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD",
					  "OLDPWD", "SHLVL", "_", "LANG", "LANGUAGE", "LC_*", "TERM",
					  "TZ",
					  "INVOCATION_ID", "JOURNAL_STREAM", "SYSTEMD_EXEC_PID",
					  "SPIFFE_ENDPOINT_SOCKET", NULL };

/* Variables that make the dynamic loader, libc or a language runtime load
 * or run code (or the libraries and configuration that do) from a place
 * the process's starter chooses. An allowlist entry that could match one
 * of these is refused at registration: env_allow cannot let them in. The
 * list stops mistakes; the allowlist is what keeps the rest out. */
static const char *const env_never[] = {
	"LD_*", "GLIBC_TUNABLES", "GCONV_PATH", "GETCONF_DIR", "LOCPATH", "NLSPATH", "MALLOC_*",
	"HOSTALIASES", "LOCALDOMAIN", "RES_OPTIONS", "RESOLV_HOST_CONF", "NIS_PATH", "TZDIR",
	"OPENSSL_*", "PYTHON*", "NODE_*", "PERL*", "RUBY*", "GEM_*", "JAVA_TOOL_OPTIONS",
	"_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH", "BASH_ENV", "ENV", "SHELLOPTS",
	"BASHOPTS", "PS4", "IFS", "LUA_*", "PHPRC", "PHP_INI_SCAN_DIR", "DOTNET_*", "CORECLR_*",
	"COMPlus_*", "TCLLIBPATH", "GIO_*", "GTK_*", "QT_*", "GST_PLUGIN_*", "SSLKEYLOGFILE",
	NULL
};

static size_t pat_stem(const char *p, int *prefix)
{
	size_t n = strlen(p);

	*prefix = n > 0 && p[n - 1] == '*';
	return *prefix ? n - 1 : n;
}

int agent_env_pattern_ok(const char *pat, const char **why)
{
	int prefix, nprefix;
	size_t n = pat_stem(pat, &prefix);

	if (n == 0 || n > ATTEST_ENV_NAME_MAX) {
		*why = "must be a variable name of 1-128 bytes, or a prefix ending in '*'";
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		char ch = pat[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_' ||
		      (i > 0 && ch >= '0' && ch <= '9'))) {
			*why = "is not [A-Za-z_][A-Za-z0-9_]* with at most a trailing '*'";
			return 0;
		}
	}
	for (const char *const *v = env_never; *v != NULL; v++) {
		size_t vn = pat_stem(*v, &nprefix);

		if ((!prefix && !nprefix && n == vn && memcmp(pat, *v, n) == 0) ||
		    (nprefix && n >= vn && memcmp(pat, *v, vn) == 0) ||
		    (prefix && vn >= n && memcmp(*v, pat, n) == 0)) {
			*why = "could name a variable that makes the loader, libc or a language "
			       "runtime load code (LD_*, GCONV_PATH, OPENSSL_*, PYTHON*, NODE_*, "
			       "PERL*, ...)";
			return 0;
		}
	}
	return 1;
}

static cJSON *str_array(char *const *v, size_t n)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr != NULL && i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(v[i]));
	return arr;
}

static int get_fixed(const cJSON *o, const char *key, uint8_t *out, size_t len)
{
	uint8_t *buf = NULL;
	size_t n;
	int r;

	if ((r = attest_json_b64(o, key, len, &buf, &n)) != ATTEST_OK)
		return r;
	if (n != len) {
		free(buf);
		return attest_fail(ATTEST_E_PARSE, "field \"%s\" must be %zu bytes", key, len);
	}
	memcpy(out, buf, len);
	OPENSSL_cleanse(buf, n);
	free(buf);
	return ATTEST_OK;
}

static int get_var(const cJSON *o, const char *key, uint8_t *out, size_t cap, size_t *len)
{
	uint8_t *buf = NULL;
	int r;

	if ((r = attest_json_b64(o, key, cap, &buf, len)) != ATTEST_OK)
		return r;
	memcpy(out, buf, *len);
	free(buf);
	return ATTEST_OK;
}

static int get_strs(const cJSON *o, const char *key, char **out, size_t max, size_t *n)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, key), *it;

	*n = 0;
	if (!cJSON_IsArray(arr))
		return attest_fail(ATTEST_E_PARSE, "field \"%s\" is not an array", key);
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it) || strlen(it->valuestring) == 0 ||
		    strlen(it->valuestring) > 128)
			return attest_fail(ATTEST_E_PARSE, "\"%s\": entries must be 1-128 byte strings",
					   key);
		if (*n >= max)
			return attest_fail(ATTEST_E_TOO_LARGE, "\"%s\": more than %zu entries", key, max);
		if ((out[(*n)++] = strdup(it->valuestring)) == NULL)
			return attest_fail(ATTEST_E_NOMEM, "\"%s\"", key);
	}
	return ATTEST_OK;
}

/* "dns_names" (optional: records written before issue 14 item 5 have
 * none): at most AGENT_MAX_DNS names, each attest_dns_name_ok, none twice;
 * the same rule as the registration (registration.c), so a record edited
 * on disk cannot grant what register would refuse. */
static int get_dns(const cJSON *o, struct agent *a)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "dns_names"), *it;
	const char *why = "";

	a->ndns = 0;
	if (arr == NULL)
		return ATTEST_OK;
	if (!cJSON_IsArray(arr))
		return attest_fail(ATTEST_E_PARSE, "field \"dns_names\" is not an array");
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it) || strlen(it->valuestring) > ATTEST_DNS_NAME_MAX)
			return attest_fail(ATTEST_E_PARSE, "\"dns_names\": entries must be strings of "
					   "at most %d bytes", ATTEST_DNS_NAME_MAX);
		if (a->ndns >= AGENT_MAX_DNS)
			return attest_fail(ATTEST_E_TOO_LARGE, "\"dns_names\": more than %d entries",
					   AGENT_MAX_DNS);
		if (!attest_dns_name_ok(it->valuestring, &why))
			return attest_fail(ATTEST_E_PARSE, "DNS name \"%s\" %s", it->valuestring, why);
		for (size_t j = 0; j < a->ndns; j++)
			if (strcmp(a->dns[j], it->valuestring) == 0)
				return attest_fail(ATTEST_E_PARSE, "DNS name \"%s\" listed twice",
						   it->valuestring);
		if ((a->dns[a->ndns++] = strdup(it->valuestring)) == NULL)
			return attest_fail(ATTEST_E_NOMEM, "\"dns_names\"");
	}
	return ATTEST_OK;
}

static int copy_str(const cJSON *o, const char *key, char *out, size_t outsz)
{
	const char *s;
	int r;

	if ((r = attest_json_str(o, key, outsz - 1, &s)) != ATTEST_OK)
		return r;
	memcpy(out, s, strlen(s) + 1);
	return ATTEST_OK;
}

static int parse_record(const cJSON *o, struct agent *a)
{
	const cJSON *uids = cJSON_GetObjectItemCaseSensitive(o, "uids"), *it;
	const cJSON *rev = cJSON_GetObjectItemCaseSensitive(o, "revoked");
	const char *pem;
	uint64_t ttl, depth;
	uint8_t *auth = NULL;
	size_t auth_len;
	int r;

	if ((r = copy_str(o, "name", a->name, sizeof(a->name))) != ATTEST_OK ||
	    (r = copy_str(o, "id", a->id, sizeof(a->id))) != ATTEST_OK ||
	    (r = copy_str(o, "uuid", a->uuid, sizeof(a->uuid))) != ATTEST_OK ||
	    (r = copy_str(o, "binary", a->binary, sizeof(a->binary))) != ATTEST_OK ||
	    (r = copy_str(o, "script", a->script, sizeof(a->script))) != ATTEST_OK ||
	    (r = copy_str(o, "risk_tier", a->tier, sizeof(a->tier))) != ATTEST_OK ||
	    (r = get_fixed(o, "binary_sha256", a->exe_sha256, 32)) != ATTEST_OK ||
	    (r = get_fixed(o, "script_sha256", a->script_sha256, 32)) != ATTEST_OK ||
	    (r = get_fixed(o, "measurement", a->measurement, 32)) != ATTEST_OK ||
	    (r = get_fixed(o, "pcr_value", a->pcr_value, 32)) != ATTEST_OK ||
	    (r = get_fixed(o, "policy", a->policy, 32)) != ATTEST_OK ||
	    (r = get_strs(o, "scopes", a->scopes, AGENT_MAX_SCOPES, &a->nscopes)) != ATTEST_OK ||
	    (r = get_strs(o, "data_classes", a->classes, AGENT_MAX_CLASSES, &a->nclasses)) != ATTEST_OK ||
	    (cJSON_GetObjectItemCaseSensitive(o, "env_allow") != NULL &&
	     (r = get_strs(o, "env_allow", a->env_allow, AGENT_MAX_ENV_ALLOW, &a->nenv_allow)) !=
		     ATTEST_OK) ||
	    (r = get_dns(o, a)) != ATTEST_OK ||
	    (r = attest_json_u64(o, "max_ttl", &ttl)) != ATTEST_OK ||
	    (r = attest_json_u64(o, "binary_size", &a->exe_size)) != ATTEST_OK ||
	    (r = attest_json_u64(o, "delegate_depth", &depth)) != ATTEST_OK ||
	    (r = attest_json_get_TPM2B_PUBLIC(o, "key_public", &a->key.pub)) != ATTEST_OK ||
	    (r = attest_json_get_TPM2B_PRIVATE(o, "key_private", &a->key.priv)) != ATTEST_OK ||
	    (r = attest_json_b64(o, "auth", sizeof(a->auth.buffer), &auth, &auth_len)) != ATTEST_OK ||
	    (r = get_var(o, "creation", a->creation, sizeof(a->creation), &a->creation_len)) != ATTEST_OK ||
	    (r = get_var(o, "creation_sig", a->creation_sig, sizeof(a->creation_sig),
			 &a->creation_sig_len)) != ATTEST_OK ||
	    (r = attest_json_str(o, "agent_ca", 16384, &pem)) != ATTEST_OK ||
	    (r = attest_x509_from_pem(pem, strlen(pem), &a->agent_ca)) != ATTEST_OK)
		goto out;
	a->auth.size = (uint16_t)auth_len;
	memcpy(a->auth.buffer, auth, auth_len);
	if (ttl == 0 || ttl > 86400 || depth > 3 || !cJSON_IsBool(rev) || !cJSON_IsArray(uids)) {
		r = attest_fail(ATTEST_E_PARSE, "max_ttl, delegate_depth, revoked or uids out of range");
		goto out;
	}
	for (size_t i = 0; i < a->nenv_allow; i++) {
		const char *why;

		if (!agent_env_pattern_ok(a->env_allow[i], &why)) {
			r = attest_fail(ATTEST_E_PARSE, "env_allow entry \"%s\" %s", a->env_allow[i],
					why);
			goto out;
		}
	}
	a->max_ttl = (long)ttl;
	a->delegate_depth = (int)depth;
	a->revoked = cJSON_IsTrue(rev);
	cJSON_ArrayForEach(it, uids) {
		if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 4294967294.0 ||
		    it->valuedouble != (double)(uint32_t)it->valuedouble || a->nuids >= AGENT_MAX_UIDS) {
			r = attest_fail(ATTEST_E_PARSE, "bad uid list");
			goto out;
		}
		a->uids[a->nuids++] = (uid_t)it->valuedouble;
	}
	a->score = agent_risk_score(a);
	r = ATTEST_OK;
out:
	if (auth != NULL)
		OPENSSL_cleanse(auth, auth_len);
	free(auth);
	return r;
}

static cJSON *record_json(const struct agent *a)
{
	cJSON *o = cJSON_CreateObject(), *uids = cJSON_CreateArray();
	char *pem = NULL;
	int ok;

	if (o == NULL || uids == NULL || attest_x509_to_pem(a->agent_ca, &pem) != ATTEST_OK) {
		cJSON_Delete(o);
		cJSON_Delete(uids);
		return NULL;
	}
	for (size_t i = 0; i < a->nuids; i++)
		cJSON_AddItemToArray(uids, cJSON_CreateNumber(a->uids[i]));
	cJSON_AddItemToObject(o, "uids", uids);
	cJSON_AddItemToObject(o, "scopes", str_array(a->scopes, a->nscopes));
	cJSON_AddItemToObject(o, "data_classes", str_array(a->classes, a->nclasses));
	cJSON_AddItemToObject(o, "env_allow", str_array(a->env_allow, a->nenv_allow));
	if (a->ndns > 0)
		cJSON_AddItemToObject(o, "dns_names", str_array(a->dns, a->ndns));
	cJSON_AddBoolToObject(o, "revoked", a->revoked);
	ok = attest_json_add_str(o, "name", a->name) == ATTEST_OK &&
	     attest_json_add_str(o, "id", a->id) == ATTEST_OK &&
	     attest_json_add_str(o, "uuid", a->uuid) == ATTEST_OK &&
	     attest_json_add_str(o, "binary", a->binary) == ATTEST_OK &&
	     attest_json_add_str(o, "script", a->script) == ATTEST_OK &&
	     attest_json_add_str(o, "risk_tier", a->tier) == ATTEST_OK &&
	     attest_json_add_b64(o, "binary_sha256", a->exe_sha256, 32) == ATTEST_OK &&
	     attest_json_add_b64(o, "script_sha256", a->script_sha256, 32) == ATTEST_OK &&
	     attest_json_add_b64(o, "measurement", a->measurement, 32) == ATTEST_OK &&
	     attest_json_add_b64(o, "pcr_value", a->pcr_value, 32) == ATTEST_OK &&
	     attest_json_add_b64(o, "policy", a->policy, 32) == ATTEST_OK &&
	     attest_json_add_u64(o, "max_ttl", (uint64_t)a->max_ttl) == ATTEST_OK &&
	     attest_json_add_u64(o, "binary_size", a->exe_size) == ATTEST_OK &&
	     attest_json_add_u64(o, "delegate_depth", (uint64_t)a->delegate_depth) == ATTEST_OK &&
	     attest_json_add_TPM2B_PUBLIC(o, "key_public", &a->key.pub) == ATTEST_OK &&
	     attest_json_add_TPM2B_PRIVATE(o, "key_private", &a->key.priv) == ATTEST_OK &&
	     attest_json_add_b64(o, "auth", a->auth.buffer, a->auth.size) == ATTEST_OK &&
	     attest_json_add_b64(o, "creation", a->creation, a->creation_len) == ATTEST_OK &&
	     attest_json_add_b64(o, "creation_sig", a->creation_sig, a->creation_sig_len) == ATTEST_OK &&
	     attest_json_add_str(o, "agent_ca", pem) == ATTEST_OK;
	free(pem);
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int registry_record_parse(const uint8_t *buf, size_t len, struct agent *a)
{
	cJSON *o = NULL;
	int r;

	if ((r = attest_json_parse(buf, len, RECORD_CAP, &o)) == ATTEST_OK)
		r = parse_record(o, a);
	cJSON_Delete(o);
	return r;
}

int registry_record_print(const struct agent *a, char **out, size_t *len)
{
	cJSON *o = record_json(a);
	int r;

	*out = NULL;
	if (o == NULL)
		return attest_fail(ATTEST_E_NOMEM, "agent record");
	r = attest_json_print(o, out, len);
	cJSON_Delete(o);
	return r;
}

int registry_save(struct registry *reg, const struct agent *a)
{
	char path[700], *s = NULL;
	size_t len = 0;
	int r;

	snprintf(path, sizeof(path), "%s/%s.json", reg->dir, a->name);
	if ((r = registry_record_print(a, &s, &len)) == ATTEST_OK) {
		r = attest_file_write_atomic(path, s, len, 0600);
		OPENSSL_cleanse(s, len);
	}
	free(s);
	return r;
}

int registry_add(struct registry *reg, struct agent *a)
{
	if (reg->n == reg->cap) {
		size_t cap = reg->cap ? reg->cap * 2 : 16;
		struct agent **v = realloc(reg->agents, cap * sizeof(*v));

		if (v == NULL)
			return attest_fail(ATTEST_E_NOMEM, "registry");
		reg->agents = v;
		reg->cap = cap;
	}
	reg->agents[reg->n++] = a;
	return ATTEST_OK;
}

int registry_remove(struct registry *reg, struct agent *a)
{
	char path[700];
	int r;

	snprintf(path, sizeof(path), "%s/%s.json", reg->dir, a->name);
	if (unlink(path) != 0 && errno != ENOENT)
		return attest_fail(ATTEST_E_IO, "remove %s: %s", path, strerror(errno));
	if ((r = attest_dir_sync(path)) != ATTEST_OK)
		return r;
	for (size_t i = 0; i < reg->n; i++) {
		if (reg->agents[i] == a) {
			reg->agents[i] = reg->agents[--reg->n];
			break;
		}
	}
	agent_free(a);
	return ATTEST_OK;
}

struct agent *registry_find(struct registry *reg, const char *name)
{
	for (size_t i = 0; i < reg->n; i++)
		if (strcmp(reg->agents[i]->name, name) == 0)
			return reg->agents[i];
	return NULL;
}

/* A record must be the file of its own, valid name, and names are unique. */
static int record_fits(struct registry *reg, const struct agent *a, const char *file)
{
	size_t n = strlen(a->name);

	if (!attest_valid_hostname(a->name) || strncmp(file, a->name, n) != 0 ||
	    strcmp(file + n, ".json") != 0)
		return attest_fail(ATTEST_E_PARSE, "record of \"%s\" in file %s", a->name, file);
	if (registry_find(reg, a->name) != NULL)
		return attest_fail(ATTEST_E_EXISTS, "agent %s recorded twice", a->name);
	return ATTEST_OK;
}

int registry_load(const char *state_dir, struct registry *reg)
{
	DIR *d;
	struct dirent *e;
	int r = ATTEST_OK;

	memset(reg, 0, sizeof(*reg));
	if ((size_t)snprintf(reg->dir, sizeof(reg->dir), "%s/agents", state_dir) >= sizeof(reg->dir))
		return attest_fail(ATTEST_E_INVALID_ARG, "state path too long");
	if ((r = attest_dir_ensure(reg->dir, 0700)) != ATTEST_OK)
		return r;
	if ((d = opendir(reg->dir)) == NULL)
		return attest_fail(ATTEST_E_IO, "open %s: %s", reg->dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		char path[1100];
		uint8_t *buf = NULL;
		size_t len;
		struct agent *a;

		/* only complete records; temp files of an interrupted write are ignored */
		if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0 || e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", reg->dir, e->d_name);
		if ((a = agent_new()) == NULL) {
			r = attest_fail(ATTEST_E_NOMEM, "agent");
			break;
		}
		if ((r = attest_file_read(path, RECORD_CAP, &buf, &len)) != ATTEST_OK ||
		    (r = registry_record_parse(buf, len, a)) != ATTEST_OK ||
		    (r = record_fits(reg, a, e->d_name)) != ATTEST_OK ||
		    (r = registry_add(reg, a)) != ATTEST_OK) {
			attestd_log("agent record %s unusable: %s: %s", path, attest_strerror(r),
				    attest_errdetail());
			agent_free(a);
		}
		if (buf != NULL)
			OPENSSL_cleanse(buf, len);
		free(buf);
		if (r == ATTEST_E_NOMEM)
			break;
		r = ATTEST_OK;
	}
	closedir(d);
	return r;
}

void registry_free(struct registry *reg)
{
	for (size_t i = 0; i < reg->n; i++)
		agent_free(reg->agents[i]);
	free(reg->agents);
	memset(reg, 0, sizeof(*reg));
}
