/* ops.c - what attestd does for each request: agent registration and
 * revocation (admin socket, root only) and measured certificate issuance
 * (agent socket). docs/protocol.md lists the messages, docs/agents.md the
 * rules. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <tss2/tss2_mu.h>

#include "daemon.h"
#include "enrol.h"
#include "err.h"
#include "fileio.h"
#include "json.h"
#include "log.h"
#include "tpmjson.h"
#include "tpmpolicy.h"
#include "tpmsw.h"
#include "x509.h"
#include "x509agent.h"

#define AGENT_PCR_MASK (1u << AGENT_PCR)
#define SESSION_ISSUER_TTL ATTEST_SESSION_ISSUER_MAX_TTL
#define SESSION_REFRESH_MARGIN 60
#define SCOPES_MAX 1024 /* the leaf's scopes extension (x509agent.c) */

/* ---------- daemon state ---------- */

/* attestd owns the TPM: objects or sessions a killed predecessor left
 * behind would fill a TPM without resource manager (swtpm: 3 slots). */
static int flush_leftovers(struct attestd *d)
{
	size_t n = 0;
	int r = attest_tpm_flush_all(d->tpm, &n);

	if (r == ATTEST_OK && n > 0)
		attestd_log("flushed %zu transient objects or sessions left in the TPM", n);
	return r;
}

int attestd_open(struct attestd *d, const char *state_dir, const char *tcti, long hard_max_ttl)
{
	struct attest_host_identity id;
	int r;

	memset(d, 0, sizeof(*d));
	d->hard_max_ttl = hard_max_ttl;
	if (strlen(state_dir) >= sizeof(d->state))
		return attest_fail(ATTEST_E_INVALID_ARG, "state path too long");
	memcpy(d->state, state_dir, strlen(state_dir) + 1);
	{
		struct stat st;
		char path[700];

		snprintf(path, sizeof(path), "%s/identity.json", state_dir);
		if (stat(path, &st) == 0) {
			d->identity_ino = st.st_ino;
			d->identity_mtime = st.st_mtim;
		}
	}
	if ((r = attest_host_identity_load(state_dir, &id)) != ATTEST_OK)
		return r;
	memcpy(d->trust_domain, id.trust_domain, sizeof(d->trust_domain));
	memcpy(d->host, id.host, sizeof(d->host));
	d->hostkey = id.key;
	d->host_ca = id.host_ca;
	id.host_ca = NULL; /* transferred */
	attest_host_identity_clear(&id);
	if ((r = attest_tpm_pub_to_pkey(&d->hostkey.pub, &d->hostkey_pub)) != ATTEST_OK ||
	    (r = attest_tpm_open(tcti, &d->tpm)) != ATTEST_OK ||
	    (r = flush_leftovers(d)) != ATTEST_OK ||
	    (r = registry_load(state_dir, &d->reg)) != ATTEST_OK ||
	    (r = attest_measure_cache_new(256, &d->cache)) != ATTEST_OK) {
		attestd_close(d);
		return r;
	}
	return ATTEST_OK;
}

void attestd_close(struct attestd *d)
{
	registry_free(&d->reg);
	attest_measure_cache_free(d->cache);
	attest_tpm_close(d->tpm);
	X509_free(d->host_ca);
	EVP_PKEY_free(d->hostkey_pub);
	memset(d, 0, sizeof(*d));
}

/* ---------- signers ---------- */

static int host_sign(void *arg, const uint8_t digest[32], TPMT_SIGNATURE *sig)
{
	struct attestd *d = arg;

	return attest_tpm_sign(d->tpm, &d->hostkey, NULL, digest, sig);
}

struct agent_signer_ctx {
	struct attestd *d;
	const struct agent *a;
};

/* Put the agent's value in PCR 23 (reset + extend) unless it is there. */
static int load_pcr(struct attestd *d, const struct agent *a)
{
	int r;

	if ((r = attest_tpm_pcr_reset(d->tpm, AGENT_PCR)) != ATTEST_OK ||
	    (r = attest_tpm_pcr_extend(d->tpm, AGENT_PCR, a->measurement)) != ATTEST_OK) {
		d->pcr_holder = NULL;
		return r;
	}
	d->pcr_holder = a;
	return ATTEST_OK;
}

/* The TPM signs only while PCR 23 holds this agent's value and we present
 * the agent's secret: the binding is the TPM's, not just ours. */
static int agent_sign(void *arg, const uint8_t digest[32], TPMT_SIGNATURE *sig)
{
	struct agent_signer_ctx *c = arg;
	int r, loaded = 0;

	if (c->d->pcr_holder != c->a) {
		if ((r = load_pcr(c->d, c->a)) != ATTEST_OK)
			return r;
		loaded = 1;
	}
	r = attest_tpm_sign_policy(c->d->tpm, &c->a->key, &c->a->auth, AGENT_PCR_MASK, digest, sig);
	if (r == ATTEST_E_TPM_AUTH && !loaded) {
		/* someone else moved PCR 23: load ours once more */
		if ((r = load_pcr(c->d, c->a)) != ATTEST_OK)
			return r;
		r = attest_tpm_sign_policy(c->d->tpm, &c->a->key, &c->a->auth, AGENT_PCR_MASK, digest,
					   sig);
	}
	return r;
}

/* ---------- agent CA certificates ---------- */

/* (Re-)issue a->agent_ca under the current host CA: <= 24 h and never past
 * the host CA's notAfter. A new agent CA invalidates the session issuer. */
static int issue_agent_ca(struct attestd *d, struct agent *a)
{
	struct attest_signer hs = { host_sign, d, d->hostkey_pub };
	struct attest_agent_ca_params p;
	EVP_PKEY *agent_pub = NULL;
	X509 *cert = NULL;
	int r;

	if ((r = attest_tpm_pub_to_pkey(&a->key.pub, &agent_pub)) != ATTEST_OK)
		return r;
	memset(&p, 0, sizeof(p));
	p.agent_id = a->id;
	p.agent_uuid = a->uuid;
	p.agent_key = agent_pub;
	memcpy(p.measurement, a->measurement, 32);
	memcpy(p.policy, a->policy, 32);
	p.creation = a->creation;
	p.creation_len = a->creation_len;
	p.creation_sig = a->creation_sig;
	p.creation_sig_len = a->creation_sig_len;
	p.ttl = 24 * 3600;
	r = attest_x509_make_agent_ca(d->host_ca, &p, &hs, &cert);
	EVP_PKEY_free(agent_pub);
	if (r != ATTEST_OK)
		return r;
	X509_free(a->agent_ca);
	a->agent_ca = cert;
	X509_free(a->session_cert);
	EVP_PKEY_free(a->session_key);
	a->session_cert = NULL;
	a->session_key = NULL;
	return ATTEST_OK;
}

/* Pick up a renewed host identity (attestctl host renew rewrites
 * identity.json): compare its inode and mtime with what we loaded. */
static int refresh_identity(struct attestd *d)
{
	struct attest_host_identity id;
	struct stat st;
	char path[700];
	int r;

	snprintf(path, sizeof(path), "%s/identity.json", d->state);
	if (stat(path, &st) != 0)
		return attest_fail(ATTEST_E_STATE, "%s vanished", path);
	if (st.st_ino == d->identity_ino && st.st_mtim.tv_sec == d->identity_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == d->identity_mtime.tv_nsec)
		return ATTEST_OK;
	if ((r = attest_host_identity_load(d->state, &id)) != ATTEST_OK)
		return r;
	if (strcmp(id.host, d->host) != 0 || strcmp(id.trust_domain, d->trust_domain) != 0) {
		attest_host_identity_clear(&id);
		return attest_fail(ATTEST_E_STATE, "host identity changed name; restart attestd");
	}
	EVP_PKEY_free(d->hostkey_pub);
	d->hostkey_pub = NULL;
	if ((r = attest_tpm_pub_to_pkey(&id.key.pub, &d->hostkey_pub)) != ATTEST_OK) {
		attest_host_identity_clear(&id);
		return r;
	}
	d->hostkey = id.key;
	X509_free(d->host_ca);
	d->host_ca = id.host_ca;
	id.host_ca = NULL; /* transferred */
	attest_host_identity_clear(&id);
	d->identity_ino = st.st_ino;
	d->identity_mtime = st.st_mtim;
	attestd_log("loaded host CA certificate from %s", path);
	return ATTEST_OK;
}

/* The agent CA must be issued by the current host CA and cover the leaf's
 * lifetime (as far as the host CA allows); otherwise it is re-issued. */
static int fresh_agent_ca(struct attestd *d, struct agent *a, long ttl)
{
	time_t until = time(NULL) + ttl;
	int r;

	if ((r = refresh_identity(d)) != ATTEST_OK)
		return r;
	/* An agent CA can never outlive the host CA: ask only for what the host
	 * CA allows, or every request near its end would re-issue. */
	if (ASN1_TIME_cmp_time_t(X509_get0_notAfter(d->host_ca), until) < 0) {
		struct tm tm;

		if (ASN1_TIME_to_tm(X509_get0_notAfter(d->host_ca), &tm) == 1)
			until = timegm(&tm) - 1;
	}
	if (X509_check_issued(d->host_ca, a->agent_ca) == X509_V_OK &&
	    X509_cmp_time(X509_get0_notAfter(a->agent_ca), &until) > 0)
		return ATTEST_OK;
	if ((r = issue_agent_ca(d, a)) != ATTEST_OK || (r = registry_save(&d->reg, a)) != ATTEST_OK)
		return r;
	attestd_log("re-issued agent CA certificate of %s under the current host CA", a->name);
	return ATTEST_OK;
}

/* ---------- request parsing helpers ---------- */

static int valid_scope(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(":._/*-", c) != NULL))
			return 0;
	}
	return 1;
}

/* Optional array of strings (each checked by ok) into out[max]. */
static int str_list(const cJSON *req, const char *key, int (*ok)(const char *), char **out,
		    size_t max, size_t *n)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(req, key), *it;

	*n = 0;
	if (arr == NULL)
		return ATTEST_OK;
	if (!cJSON_IsArray(arr))
		return attest_fail(ATTEST_E_PARSE, "\"%s\" must be an array of strings", key);
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it) || !ok(it->valuestring))
			return attest_fail(ATTEST_E_PARSE, "\"%s\": invalid entry", key);
		if (*n >= max)
			return attest_fail(ATTEST_E_TOO_LARGE, "\"%s\": more than %zu entries", key, max);
		for (size_t i = 0; i < *n; i++)
			if (strcmp(out[i], it->valuestring) == 0)
				return attest_fail(ATTEST_E_PARSE, "\"%s\": duplicate entry", key);
		if ((out[(*n)++] = strdup(it->valuestring)) == NULL)
			return attest_fail(ATTEST_E_NOMEM, "\"%s\"", key);
	}
	return ATTEST_OK;
}

/* Optional small non-negative integer field. */
static int int_field(const cJSON *req, const char *key, long min, long max, long *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(req, key);

	if (it == NULL)
		return ATTEST_OK;
	if (!cJSON_IsNumber(it) || it->valuedouble != (double)(long)it->valuedouble ||
	    it->valuedouble < (double)min || it->valuedouble > (double)max)
		return attest_fail(ATTEST_E_PARSE, "\"%s\" must be an integer in %ld..%ld", key, min,
				   max);
	*out = (long)it->valuedouble;
	return ATTEST_OK;
}

static int opt_str(const cJSON *req, const char *key, size_t max, const char **out)
{
	*out = NULL;
	if (cJSON_GetObjectItemCaseSensitive(req, key) == NULL)
		return ATTEST_OK;
	return attest_json_str(req, key, max, out);
}

static int valid_class(const char *s) { return attest_valid_hostname(s); }

/* "a b c" into out (outsz incl. NUL); ATTEST_E_SCOPE when it does not fit
 * the leaf's scopes extension. */
static int join_scopes(const char *const *v, size_t n, char *out, size_t outsz)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t k = strlen(v[i]);

		if (len + (i > 0) + k >= outsz)
			return attest_fail(ATTEST_E_SCOPE, "scopes joined exceed %zu bytes", outsz - 1);
		if (i > 0)
			out[len++] = ' ';
		memcpy(out + len, v[i], k + 1); /* checked above: fits with its NUL */
		len += k;
	}
	return ATTEST_OK;
}

/* ---------- registration ---------- */

static void uuid_v4(char out[37])
{
	uint8_t b[16];
	char hex[33];

	RAND_bytes(b, sizeof(b));
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	attest_hex(b, sizeof(b), hex);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

static int file_size(const char *path, uint64_t *size)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return attest_fail(ATTEST_E_IO, "stat %s: %s", path, strerror(errno));
	*size = (uint64_t)st.st_size;
	return ATTEST_OK;
}

static int measure_path(struct attestd *d, const char *path, char *resolved_out, size_t outsz,
			uint8_t digest[32])
{
	char resolved[PATH_MAX];

	if (realpath(path, resolved) == NULL)
		return attest_fail(ATTEST_E_NOT_FOUND, "%s: %s", path, strerror(errno));
	if (strlen(resolved) >= outsz)
		return attest_fail(ATTEST_E_INVALID_ARG, "%s: path too long", path);
	memcpy(resolved_out, resolved, strlen(resolved) + 1);
	return attest_measure_file(d->cache, resolved, digest);
}

static int do_register(struct attestd *d, const cJSON *req, cJSON *reply)
{
	static const char *const keys[] = { "op", "name", "binary", "script", "uids", "scopes",
					    "risk_tier", "data_classes", "max_ttl",
					    "delegate_depth", NULL };
	static const char *const tiers[] = { "low", "medium", "high", "critical" };
	struct agent *a = NULL;
	const cJSON *uids, *it;
	const char *name, *binary, *script, *tier;
	long ttl = AGENT_DEFAULT_TTL, depth = 0;
	struct attest_tpm_creation cr;
	TPM2B_ATTEST cinfo;
	TPMT_SIGNATURE csig;
	uint8_t zero[32] = { 0 }, qual[32];
	char *pem = NULL, joined[SCOPES_MAX + 1];
	int r, ok_tier = 0;

	if ((r = attest_json_only(req, keys)) != ATTEST_OK ||
	    (r = attest_json_str(req, "name", ATTEST_MAX_NAME, &name)) != ATTEST_OK ||
	    (r = attest_json_str(req, "binary", 511, &binary)) != ATTEST_OK ||
	    (r = opt_str(req, "script", 511, &script)) != ATTEST_OK ||
	    (r = attest_json_str(req, "risk_tier", 15, &tier)) != ATTEST_OK ||
	    (r = int_field(req, "max_ttl", 1, d->hard_max_ttl, &ttl)) != ATTEST_OK ||
	    (r = int_field(req, "delegate_depth", 0, 3, &depth)) != ATTEST_OK)
		return r;
	if (!attest_valid_hostname(name))
		return attest_fail(ATTEST_E_PARSE, "agent name must be 1-63 of a-z 0-9 . -");
	for (size_t i = 0; i < 4; i++)
		ok_tier |= strcmp(tier, tiers[i]) == 0;
	if (!ok_tier)
		return attest_fail(ATTEST_E_PARSE, "risk_tier must be low, medium, high or critical");
	if (registry_find(&d->reg, name) != NULL)
		return attest_fail(ATTEST_E_EXISTS, "agent \"%s\" is already registered", name);
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "agent");
	memcpy(a->name, name, strlen(name) + 1);
	memcpy(a->tier, tier, strlen(tier) + 1);
	a->max_ttl = ttl;
	a->delegate_depth = (int)depth;
	uids = cJSON_GetObjectItemCaseSensitive(req, "uids");
	if (!cJSON_IsArray(uids) || cJSON_GetArraySize(uids) < 1 ||
	    cJSON_GetArraySize(uids) > AGENT_MAX_UIDS) {
		r = attest_fail(ATTEST_E_PARSE, "\"uids\" must list 1-%d uids", AGENT_MAX_UIDS);
		goto out;
	}
	cJSON_ArrayForEach(it, uids) {
		if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 4294967294.0 ||
		    it->valuedouble != (double)(uint32_t)it->valuedouble) {
			r = attest_fail(ATTEST_E_PARSE, "bad uid in \"uids\"");
			goto out;
		}
		a->uids[a->nuids++] = (uid_t)it->valuedouble;
	}
	if ((r = str_list(req, "scopes", valid_scope, a->scopes, AGENT_MAX_SCOPES, &a->nscopes)) != ATTEST_OK ||
	    (r = join_scopes((const char *const *)a->scopes, a->nscopes, joined, sizeof(joined))) != ATTEST_OK ||
	    (r = str_list(req, "data_classes", valid_class, a->classes, AGENT_MAX_CLASSES,
			  &a->nclasses)) != ATTEST_OK)
		goto out;
	if ((r = measure_path(d, binary, a->binary, sizeof(a->binary), a->exe_sha256)) != ATTEST_OK ||
	    (r = file_size(a->binary, &a->exe_size)) != ATTEST_OK ||
	    (script != NULL &&
	     (r = measure_path(d, script, a->script, sizeof(a->script), a->script_sha256)) != ATTEST_OK))
		goto out;
	uuid_v4(a->uuid);
	if ((size_t)snprintf(a->id, sizeof(a->id), "spiffe://%s/host/%s/agent/%s", d->trust_domain,
			     d->host, name) >= sizeof(a->id)) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "agent ID too long");
		goto out;
	}
	agent_measurement(a, a->measurement);
	{
		/* PCR 23 after reset and one extend: SHA-256(zeros || measurement) */
		uint8_t buf[64];

		memcpy(buf, zero, 32);
		memcpy(buf + 32, a->measurement, 32);
		EVP_Digest(buf, sizeof(buf), a->pcr_value, NULL, EVP_sha256(), NULL);
	}
	{
		TPM2B_DIGEST policy;

		if ((r = attest_policy_digest_sign(AGENT_PCR_MASK, a->pcr_value, 32, &policy)) != ATTEST_OK)
			goto out;
		memcpy(a->policy, policy.buffer, 32);
		a->auth.size = 32;
		if (RAND_bytes(a->auth.buffer, 32) != 1) {
			r = attest_fail_ossl(ATTEST_E_CRYPTO, "RAND_bytes");
			goto out;
		}
		if ((r = attest_tpm_create_signkey(d->tpm, &policy, &a->auth, &a->key, &cr)) != ATTEST_OK)
			goto out;
	}
	/* The TPM recorded the policy we computed offline from the measurement. */
	if (a->key.pub.publicArea.authPolicy.size != 32 ||
	    CRYPTO_memcmp(a->key.pub.publicArea.authPolicy.buffer, a->policy, 32) != 0 ||
	    (a->key.pub.publicArea.objectAttributes &
	     (TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_ADMINWITHPOLICY)) != 0) {
		r = attest_fail(ATTEST_E_INTERNAL, "agent key's authPolicy differs from the recomputed one");
		goto out;
	}
	{
		/* qualifyingData = SHA-256(agent ID || UUID || measurement) */
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		int okd = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
			  EVP_DigestUpdate(ctx, a->id, strlen(a->id)) == 1 &&
			  EVP_DigestUpdate(ctx, a->uuid, strlen(a->uuid)) == 1 &&
			  EVP_DigestUpdate(ctx, a->measurement, 32) == 1 &&
			  EVP_DigestFinal_ex(ctx, qual, NULL) == 1;

		EVP_MD_CTX_free(ctx);
		if (!okd) {
			r = attest_fail_ossl(ATTEST_E_CRYPTO, "qualifyingData");
			goto out;
		}
	}
	if ((r = attest_tpm_certify_creation(d->tpm, &a->key, &cr, qual, sizeof(qual), &cinfo,
					     &csig)) != ATTEST_OK)
		goto out;
	if (Tss2_MU_TPMT_SIGNATURE_Marshal(&csig, a->creation_sig, sizeof(a->creation_sig),
					   &a->creation_sig_len) != TSS2_RC_SUCCESS) {
		r = attest_fail(ATTEST_E_INTERNAL, "marshal creation signature");
		goto out;
	}
	memcpy(a->creation, cinfo.attestationData, cinfo.size);
	a->creation_len = cinfo.size;
	if ((r = issue_agent_ca(d, a)) != ATTEST_OK)
		goto out;
	a->score = agent_risk_score(a);
	/* Commit point: the record is renamed into place. */
	if ((r = registry_save(&d->reg, a)) != ATTEST_OK || (r = registry_add(&d->reg, a)) != ATTEST_OK)
		goto out;
	if (attest_x509_to_pem(a->agent_ca, &pem) == ATTEST_OK)
		cJSON_AddStringToObject(reply, "agent_ca", pem);
	cJSON_AddItemToObject(reply, "agent", agent_summary(a));
	attestd_log("registered agent %s (%s) binary %s%s%s risk %s/%d", a->name, a->id, a->binary,
		    a->script[0] ? " script " : "", a->script, a->tier, a->score);
	a = NULL; /* transferred to the registry */
	r = ATTEST_OK;
out:
	free(pem);
	agent_free(a);
	return r;
}

static int do_revoke(struct attestd *d, const cJSON *req, cJSON *reply)
{
	static const char *const keys[] = { "op", "name", NULL };
	const char *name;
	struct agent *a;
	int r;

	if ((r = attest_json_only(req, keys)) != ATTEST_OK ||
	    (r = attest_json_str(req, "name", ATTEST_MAX_NAME, &name)) != ATTEST_OK)
		return r;
	if ((a = registry_find(&d->reg, name)) == NULL)
		return attest_fail(ATTEST_E_AGENT_UNKNOWN, "no agent \"%s\"", name);
	a->revoked = 1;
	if ((r = registry_save(&d->reg, a)) != ATTEST_OK) {
		a->revoked = 0;
		return r;
	}
	X509_free(a->session_cert);
	EVP_PKEY_free(a->session_key);
	a->session_cert = NULL;
	a->session_key = NULL;
	attestd_log("revoked agent %s", name);
	cJSON_AddItemToObject(reply, "agent", agent_summary(a));
	return ATTEST_OK;
}

static int do_list(struct attestd *d, const cJSON *req, cJSON *reply)
{
	static const char *const keys[] = { "op", NULL };
	cJSON *arr;
	int r;

	if ((r = attest_json_only(req, keys)) != ATTEST_OK)
		return r;
	if ((arr = cJSON_AddArrayToObject(reply, "agents")) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "list");
	for (size_t i = 0; i < d->reg.n; i++)
		cJSON_AddItemToArray(arr, agent_summary(d->reg.agents[i]));
	return ATTEST_OK;
}

static int do_show(struct attestd *d, const cJSON *req, cJSON *reply)
{
	static const char *const keys[] = { "op", "name", NULL };
	const char *name;
	struct agent *a;
	char *pem = NULL;
	int r;

	if ((r = attest_json_only(req, keys)) != ATTEST_OK ||
	    (r = attest_json_str(req, "name", ATTEST_MAX_NAME, &name)) != ATTEST_OK)
		return r;
	if ((a = registry_find(&d->reg, name)) == NULL)
		return attest_fail(ATTEST_E_AGENT_UNKNOWN, "no agent \"%s\"", name);
	cJSON_AddItemToObject(reply, "agent", agent_summary(a));
	if ((r = attest_x509_to_pem(a->agent_ca, &pem)) != ATTEST_OK)
		return r;
	cJSON_AddStringToObject(reply, "agent_ca", pem);
	free(pem);
	return ATTEST_OK;
}

/* ---------- issuance ---------- */

/* The pid a pidfd refers to, from /proc/self/fdinfo (Linux >= 5.3). */
static int pidfd_pid(int fd, pid_t *pid)
{
	char path[64];
	uint8_t *buf = NULL;
	size_t len;
	const char *p;
	char *end;
	long v;
	int r;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if ((r = attest_file_read(path, 4096, &buf, &len)) != ATTEST_OK)
		return r;
	p = strstr((char *)buf, "\nPid:\t");
	r = attest_fail(ATTEST_E_DENIED, "passed descriptor is not a pidfd of a live process");
	if (p != NULL) {
		errno = 0;
		v = strtol(p + 6, &end, 10);
		if (errno == 0 && end != p + 6 && *end == '\n' && v > 0) {
			*pid = (pid_t)v;
			r = ATTEST_OK;
		}
	}
	free(buf);
	return r;
}

static int uid_allowed(const struct agent *a, uid_t uid)
{
	for (size_t i = 0; i < a->nuids; i++)
		if (a->uids[i] == uid)
			return 1;
	return 0;
}

static int scope_allowed(const struct agent *a, const char *s)
{
	for (size_t i = 0; i < a->nscopes; i++)
		if (strcmp(a->scopes[i], s) == 0)
			return 1;
	return 0;
}

/* Whether the process runs the registered script: argv[1] is its path. */
static int runs_script(pid_t pid, const char *script)
{
	char path[64];
	uint8_t *buf = NULL;
	size_t len, first;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((r = attest_file_read(path, 64 * 1024, &buf, &len)) != ATTEST_OK)
		return r == ATTEST_E_NOT_FOUND ? ATTEST_E_PROC_CHANGED : r;
	first = strnlen((char *)buf, len);
	r = (first + 1 < len && strcmp((char *)buf + first + 1, script) == 0)
		    ? ATTEST_OK
		    : attest_fail(ATTEST_E_MEASUREMENT, "process does not run the registered script %s",
				  script);
	free(buf);
	return r;
}

/* Who is asking, measured: the peer, or (with a pidfd) the peer's parent,
 * which must have the peer's uid. */
static int measure_caller(struct attestd *d, const struct attestd_peer *peer,
			  const struct agent *a, struct attest_proc_pin *pin)
{
	struct attest_proc_info info, peer_info;
	uint8_t digest[32];
	pid_t target = peer->pid;
	int r;

	if (peer->passed_fd >= 0) {
		if ((r = pidfd_pid(peer->passed_fd, &target)) != ATTEST_OK ||
		    (r = attest_proc_inspect(peer->pid, &peer_info)) != ATTEST_OK)
			return r;
		if (target != peer_info.ppid)
			return attest_fail(ATTEST_E_DENIED, "a pidfd is accepted only for the caller's "
					   "parent (pid %d), not pid %d", (int)peer_info.ppid,
					   (int)target);
	}
	if ((r = attest_proc_pin(target, pin)) != ATTEST_OK ||
	    (r = attest_proc_inspect(target, &info)) != ATTEST_OK)
		return r;
	/* the peer pid must still be the process that connected */
	if (target == peer->pid && pin->start_time != peer->start_time)
		return attest_fail(ATTEST_E_PROC_CHANGED, "pid %d was reused since it connected",
				   (int)target);
	if (info.ruid != peer->uid || info.euid != peer->uid || !uid_allowed(a, peer->uid))
		return attest_fail(ATTEST_E_UID, "uid %u may not act as agent %s", (unsigned)peer->uid,
				   a->name);
	if (info.tracer_pid != 0)
		return attest_fail(ATTEST_E_TRACED, "pid %d is traced by pid %d", (int)target,
				   (int)info.tracer_pid);
	if (info.env_flags & (ATTEST_ENV_LD_PRELOAD | ATTEST_ENV_LD_AUDIT | ATTEST_ENV_LD_LIBRARY_PATH))
		return attest_fail(ATTEST_E_ENV, "initial environment sets LD_PRELOAD, LD_AUDIT or "
				   "LD_LIBRARY_PATH");
	if (a->script[0] != '\0' && (info.env_flags & ATTEST_ENV_PYTHON))
		return attest_fail(ATTEST_E_ENV, "initial environment sets PYTHON* variables");
	{
		/* a binary of another size cannot match: refuse before hashing it
		 * (a caller could otherwise make us hash a huge file) */
		char exe[64];
		struct stat st;

		snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)target);
		if (stat(exe, &st) != 0)
			return attest_fail(ATTEST_E_PROC_CHANGED, "pid %d vanished", (int)target);
		if ((uint64_t)st.st_size != a->exe_size)
			return attest_fail(ATTEST_E_MEASUREMENT, "pid %d runs a binary of %lld bytes, "
					   "agent %s's has %llu", (int)target, (long long)st.st_size,
					   a->name, (unsigned long long)a->exe_size);
	}
	if ((r = attest_measure_exe(d->cache, pin, digest)) != ATTEST_OK)
		return r;
	if (CRYPTO_memcmp(digest, a->exe_sha256, 32) != 0)
		return attest_fail(ATTEST_E_MEASUREMENT, "pid %d runs a binary other than agent %s's",
				   (int)target, a->name);
	if (a->script[0] != '\0') {
		if ((r = runs_script(target, a->script)) != ATTEST_OK ||
		    (r = attest_measure_file(d->cache, a->script, digest)) != ATTEST_OK)
			return r;
		if (CRYPTO_memcmp(digest, a->script_sha256, 32) != 0)
			return attest_fail(ATTEST_E_MEASUREMENT, "script %s changed since registration",
					   a->script);
	}
	if (peer->passed_fd >= 0) {
		/* the pidfd still names the process we pinned */
		pid_t again;

		if ((r = pidfd_pid(peer->passed_fd, &again)) != ATTEST_OK || again != target)
			return attest_fail(ATTEST_E_PROC_CHANGED, "parent exited during the request");
	}
	return attest_proc_check(pin);
}

static int leaf_key(const char *csr_pem, EVP_PKEY **pub, EVP_PKEY **generated)
{
	BIO *b = NULL;
	X509_REQ *req = NULL;
	EVP_PKEY *k;
	int r;

	*pub = *generated = NULL;
	if (csr_pem == NULL) {
		if ((*generated = EVP_EC_gen("P-256")) == NULL)
			return attest_fail_ossl(ATTEST_E_CRYPTO, "generate leaf key");
		if (EVP_PKEY_up_ref(*generated) != 1)
			return attest_fail_ossl(ATTEST_E_CRYPTO, "key ref");
		*pub = *generated;
		return ATTEST_OK;
	}
	if ((b = BIO_new_mem_buf(csr_pem, (int)strlen(csr_pem))) == NULL ||
	    (req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL)) == NULL) {
		r = attest_fail_ossl(ATTEST_E_CSR, "CSR is not PEM PKCS#10");
		goto out;
	}
	k = X509_REQ_get0_pubkey(req);
	/* Proof of possession: the request is signed by the key it carries. */
	if (k == NULL || X509_REQ_verify(req, k) != 1) {
		r = attest_fail_ossl(ATTEST_E_CSR, "CSR signature does not verify with its own key");
		goto out;
	}
	{
		char curve[32] = "";
		int ec = EVP_PKEY_is_a(k, "EC") &&
			 EVP_PKEY_get_utf8_string_param(k, "group", curve, sizeof(curve), NULL) == 1 &&
			 (strcmp(curve, "prime256v1") == 0 || strcmp(curve, "secp384r1") == 0);

		if (!ec && !(EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) >= 2048)) {
			r = attest_fail(ATTEST_E_CSR, "CSR key must be ECDSA P-256/P-384 or RSA >= 2048");
			goto out;
		}
	}
	if (EVP_PKEY_up_ref(k) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "key ref");
		goto out;
	}
	*pub = k;
	r = ATTEST_OK;
out:
	ERR_clear_error();
	X509_REQ_free(req);
	BIO_free(b);
	return r;
}

static int append_pem(BIO *b, X509 *x)
{
	return PEM_write_bio_X509(b, x) == 1 ? ATTEST_OK
					      : attest_fail_ossl(ATTEST_E_CRYPTO, "PEM chain");
}

/* A session issuer valid long enough for this leaf, made when needed. */
static int session_issuer(struct attestd *d, struct agent *a, long ttl)
{
	struct agent_signer_ctx ctx = { d, a };
	struct attest_signer as = { agent_sign, &ctx, NULL };
	EVP_PKEY *key = NULL, *agent_pub = NULL;
	X509 *cert = NULL;
	int r;

	time_t needed = time(NULL) + (ttl > SESSION_REFRESH_MARGIN ? ttl : SESSION_REFRESH_MARGIN);

	if (a->session_cert != NULL && X509_cmp_time(X509_get0_notAfter(a->session_cert), &needed) > 0)
		return ATTEST_OK;
	if ((r = attest_tpm_pub_to_pkey(&a->key.pub, &agent_pub)) != ATTEST_OK)
		return r;
	as.pub = agent_pub;
	if ((key = EVP_EC_gen("P-256")) == NULL) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "session key");
		goto out;
	}
	if ((r = attest_x509_make_session_issuer(a->agent_ca, key, SESSION_ISSUER_TTL, &as, &cert)) !=
	    ATTEST_OK)
		goto out;
	X509_free(a->session_cert);
	EVP_PKEY_free(a->session_key);
	a->session_cert = cert;
	a->session_key = key;
	cert = NULL;
	key = NULL;
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	EVP_PKEY_free(agent_pub);
	return r;
}

static int still_untraced(pid_t pid)
{
	struct attest_proc_info info;
	int r;

	if ((r = attest_proc_inspect(pid, &info)) != ATTEST_OK)
		return r;
	if (info.tracer_pid != 0)
		return attest_fail(ATTEST_E_TRACED, "pid %d became traced during the request",
				   (int)pid);
	return ATTEST_OK;
}

static int do_issue(struct attestd *d, const struct attestd_peer *peer, const cJSON *req,
		    cJSON *reply)
{
	static const char *const keys[] = { "op", "agent", "mode", "ttl", "scopes", "task_id",
					    "csr", NULL };
	const char *name, *mode = "strict", *task_id, *csr;
	char *want[AGENT_MAX_SCOPES] = { 0 }, scopes[SCOPES_MAX + 1] = "";
	size_t nwant = 0;
	long ttl = -1, cap;
	struct agent *a;
	struct attest_proc_pin pin;
	EVP_PKEY *pub = NULL, *generated = NULL, *agent_pub = NULL;
	X509 *leaf = NULL;
	BIO *chain = NULL, *keyb = NULL;
	struct attest_leaf_params lp;
	struct attest_signer signer;
	struct agent_signer_ctx ctx;
	int r, session;

	if ((r = attest_json_only(req, keys)) != ATTEST_OK ||
	    (r = attest_json_str(req, "agent", ATTEST_MAX_NAME, &name)) != ATTEST_OK ||
	    (r = opt_str(req, "mode", 8, &mode)) != ATTEST_OK ||
	    (r = opt_str(req, "task_id", 128, &task_id)) != ATTEST_OK ||
	    (r = opt_str(req, "csr", 16384, &csr)) != ATTEST_OK ||
	    (r = int_field(req, "ttl", 1, 86400, &ttl)) != ATTEST_OK ||
	    (r = str_list(req, "scopes", valid_scope, want, AGENT_MAX_SCOPES, &nwant)) != ATTEST_OK)
		goto out;
	if (mode == NULL)
		mode = "strict";
	if (strcmp(mode, "strict") != 0 && strcmp(mode, "session") != 0) {
		r = attest_fail(ATTEST_E_PARSE, "mode must be strict or session");
		goto out;
	}
	session = strcmp(mode, "session") == 0;
	if ((a = registry_find(&d->reg, name)) == NULL) {
		r = attest_fail(ATTEST_E_AGENT_UNKNOWN, "no agent \"%s\" on this host", name);
		goto out;
	}
	if (a->revoked) {
		r = attest_fail(ATTEST_E_REVOKED, "agent %s is revoked", name);
		goto out;
	}
	if ((r = measure_caller(d, peer, a, &pin)) != ATTEST_OK)
		goto out;
	for (size_t i = 0; i < nwant; i++) {
		if (!scope_allowed(a, want[i])) {
			r = attest_fail(ATTEST_E_SCOPE, "scope \"%s\" is not registered for %s", want[i],
					name);
			goto out;
		}
	}
	/* no scopes asked: all registered ones */
	if ((r = join_scopes(nwant ? (const char *const *)want : (const char *const *)a->scopes,
			     nwant ? nwant : a->nscopes, scopes, sizeof(scopes))) != ATTEST_OK)
		goto out;
	cap = a->max_ttl < d->hard_max_ttl ? a->max_ttl : d->hard_max_ttl;
	if (ttl > cap) {
		r = attest_fail(ATTEST_E_TTL, "ttl %ld above %s's cap of %ld s", ttl, name, cap);
		goto out;
	}
	if (ttl < 0)
		ttl = cap;
	/* the request is checked whole before anything changes state */
	if ((r = leaf_key(csr, &pub, &generated)) != ATTEST_OK ||
	    (r = fresh_agent_ca(d, a, ttl)) != ATTEST_OK)
		goto out;
	if (d->before_sign != NULL)
		d->before_sign(d->before_sign_arg);
	memset(&lp, 0, sizeof(lp));
	lp.pub = pub;
	lp.ttl = ttl;
	lp.task_id = task_id;
	lp.scopes = scopes[0] ? scopes : NULL;
	if (session) {
		if ((r = session_issuer(d, a, ttl)) != ATTEST_OK ||
		    (r = attest_signer_from_pkey(a->session_key, &signer)) != ATTEST_OK ||
		    (r = attest_x509_make_leaf(a->session_cert, &lp, &signer, &leaf)) != ATTEST_OK)
			goto out;
	} else {
		ctx.d = d;
		ctx.a = a;
		if ((r = attest_tpm_pub_to_pkey(&a->key.pub, &agent_pub)) != ATTEST_OK)
			goto out;
		signer.sign = agent_sign;
		signer.arg = &ctx;
		signer.pub = agent_pub;
		if ((r = attest_x509_make_leaf(a->agent_ca, &lp, &signer, &leaf)) != ATTEST_OK)
			goto out;
	}
	/* Still the same, untraced process after signing, or the certificate
	 * is dropped. */
	if ((r = attest_proc_check(&pin)) != ATTEST_OK || (r = still_untraced(pin.pid)) != ATTEST_OK)
		goto out;
	if ((chain = BIO_new(BIO_s_mem())) == NULL ||
	    (r = append_pem(chain, leaf)) != ATTEST_OK ||
	    (session && (r = append_pem(chain, a->session_cert)) != ATTEST_OK) ||
	    (r = append_pem(chain, a->agent_ca)) != ATTEST_OK ||
	    (r = append_pem(chain, d->host_ca)) != ATTEST_OK) {
		r = r != ATTEST_OK ? r : attest_fail(ATTEST_E_NOMEM, "chain");
		goto out;
	}
	{
		char *data;
		long n = BIO_get_mem_data(chain, &data);
		char *s = strndup(data, (size_t)n);

		if (s == NULL) {
			r = attest_fail(ATTEST_E_NOMEM, "chain");
			goto out;
		}
		cJSON_AddStringToObject(reply, "chain", s);
		free(s);
	}
	if (generated != NULL) {
		char *data, *s;
		long n;

		if ((keyb = BIO_new(BIO_s_mem())) == NULL ||
		    PEM_write_bio_PrivateKey(keyb, generated, NULL, NULL, 0, NULL, NULL) != 1) {
			r = attest_fail_ossl(ATTEST_E_CRYPTO, "encode leaf key");
			goto out;
		}
		n = BIO_get_mem_data(keyb, &data);
		if ((s = strndup(data, (size_t)n)) == NULL) {
			r = attest_fail(ATTEST_E_NOMEM, "key");
			goto out;
		}
		cJSON_AddStringToObject(reply, "key", s);
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
	cJSON_AddStringToObject(reply, "mode", mode);
	cJSON_AddStringToObject(reply, "id", a->id);
	attestd_log("issued %s certificate to %s pid=%d uid=%u ttl=%lds scopes=[%s]", mode, a->name,
		    (int)pin.pid, (unsigned)peer->uid, ttl, scopes);
	r = ATTEST_OK;
out:
	for (size_t i = 0; i < nwant; i++)
		free(want[i]);
	if (keyb != NULL) {
		char *data;
		long n = BIO_get_mem_data(keyb, &data);

		OPENSSL_cleanse(data, (size_t)n);
	}
	BIO_free(keyb);
	BIO_free(chain);
	X509_free(leaf);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(generated);
	EVP_PKEY_free(agent_pub);
	return r;
}

static int do_stats(struct attestd *d, const cJSON *req, cJSON *reply)
{
	static const char *const keys[] = { "op", NULL };
	int r;

	if ((r = attest_json_only(req, keys)) != ATTEST_OK ||
	    (r = attest_json_add_u64(reply, "tpm_commands", attest_tpm_command_count(d->tpm))) != ATTEST_OK ||
	    (r = attest_json_add_u64(reply, "agents", d->reg.n)) != ATTEST_OK)
		return r;
	return ATTEST_OK;
}

/* ---------- dispatch ---------- */

cJSON *attestd_handle(void *arg, const struct attestd_peer *peer, const cJSON *req)
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
	if (strcmp(op, "issue") == 0) {
		r = do_issue(d, peer, req, reply);
		goto out;
	}
	if (strcmp(op, "register") != 0 && strcmp(op, "revoke") != 0 && strcmp(op, "list") != 0 &&
	    strcmp(op, "show") != 0 && strcmp(op, "stats") != 0) {
		r = attest_fail(ATTEST_E_PARSE, "unknown op \"%.16s\"", op);
		goto out;
	}
	if (!peer->admin || peer->uid != 0) {
		r = attest_fail(ATTEST_E_DENIED, "%s is for root on the admin socket", op);
		goto out;
	}
	r = strcmp(op, "register") == 0 ? do_register(d, req, reply)
	    : strcmp(op, "revoke") == 0 ? do_revoke(d, req, reply)
	    : strcmp(op, "list") == 0	? do_list(d, req, reply)
	    : strcmp(op, "stats") == 0	? do_stats(d, req, reply)
					: do_show(d, req, reply);
out:
	if (r != ATTEST_OK) {
		const cJSON *agent = cJSON_GetObjectItemCaseSensitive(req, "agent");
		/* log only names that passed validation: no control bytes in the log */
		int named = cJSON_IsString(agent) && attest_valid_hostname(agent->valuestring);

		attestd_log("refused %s from pid=%d uid=%u%s%s: %s [%s]: %s",
			    op && strcmp(op, "issue") == 0 ? "issue" : op && !named ? "request" : op ? op : "request",
			    (int)peer->pid, (unsigned)peer->uid, named ? " agent=" : "",
			    named ? agent->valuestring : "", attest_strerror(r),
			    attest_errname(r), attest_errdetail());
		cJSON_Delete(reply);
		/* The caller is a local, kernel-identified process: it is told
		 * the same reason the log records (nothing in it is secret). */
		reply = attestd_error_reply(r);
		if (reply != NULL)
			cJSON_AddStringToObject(reply, "detail", attest_errdetail());
		return reply;
	}
	return reply;
}
