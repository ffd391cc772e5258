/* register.c - agent registration, revocation and removal (admin socket, root only;
 * docs/agents.md), on typed requests (admin.h). */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include <tss2/tss2_mu.h>

#include "core/err.h"
#include "core/json.h"
#include "log.h"
#include "register.h"
#include "request.h"
#include "signers.h"
#include "tpm/tpmpolicy.h"
#include "x509/x509agent.h"

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

/* Only a length bound here: agent_env_pattern_ok() says what is wrong. */
static int env_entry_len_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= ATTEST_ENV_NAME_MAX + 1;
}

/* n strings of a fixed-size array (stride bytes apart), each accepted by
 * ok and none twice, copied into out (malloc'd; agent_free frees them). */
static int copy_list(const char *key, const char *first, size_t stride, uint32_t n,
		     int (*ok)(const char *), char **out, size_t *nout)
{
	*nout = 0;
	for (uint32_t i = 0; i < n; i++) {
		const char *v = first + (size_t)i * stride;

		if (memchr(v, '\0', stride) == NULL || !ok(v))
			return attest_fail(ATTEST_E_PARSE, "\"%s\": invalid entry", key);
		for (size_t j = 0; j < *nout; j++)
			if (strcmp(out[j], v) == 0)
				return attest_fail(ATTEST_E_PARSE, "\"%s\": duplicate entry", key);
		if ((out[(*nout)++] = strdup(v)) == NULL)
			return attest_fail(ATTEST_E_NOMEM, "\"%s\"", key);
	}
	return ATTEST_OK;
}

static int dns_name_ok(const char *s) { return attest_dns_name_ok(s, NULL); }

/* Each DNS name has one agent on a host: a name another registered agent
 * holds (revoked ones too, until removed) is refused, so that no agent can
 * obtain a server certificate for a name another agent serves. */
static int dns_names_free(const struct registry *reg, const struct agent *a)
{
	for (size_t k = 0; k < reg->n; k++)
		for (size_t j = 0; j < reg->agents[k]->ndns; j++)
			for (size_t i = 0; i < a->ndns; i++)
				if (strcmp(reg->agents[k]->dns[j], a->dns[i]) == 0)
					return attest_fail(ATTEST_E_EXISTS,
							   "DNS name \"%s\" is registered for agent %s: "
							   "one agent per name on a host",
							   a->dns[i], reg->agents[k]->name);
	return ATTEST_OK;
}

int register_agent(struct attestd *d, const struct admin_registration *q, const struct agent **out)
{
	struct agent *a = NULL;
	struct attest_tpm_creation cr;
	TPM2B_ATTEST cinfo;
	TPMT_SIGNATURE csig;
	uint8_t zero[32] = { 0 }, qual[32];
	char joined[ATTEST_SCOPES_MAX + 1];
	const char *script = q->script[0] != '\0' ? q->script : NULL;
	int r;

	*out = NULL;
	/* every field again: the request may come from the front */
	if ((r = admin_registration_check(q, d->hard_max_ttl)) != ATTEST_OK)
		return r;
	if (registry_find(&d->reg, q->name) != NULL)
		return attest_fail(ATTEST_E_EXISTS, "agent \"%s\" is already registered", q->name);
	if ((a = agent_new()) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "agent");
	memcpy(a->name, q->name, strlen(q->name) + 1);
	memcpy(a->tier, q->tier, strlen(q->tier) + 1);
	a->max_ttl = (long)q->max_ttl;
	a->delegate_depth = (int)q->delegate_depth;
	for (uint32_t i = 0; i < q->nuids; i++) {
		if (q->uids[i] == UINT32_MAX) {
			r = attest_fail(ATTEST_E_PARSE, "bad uid in \"uids\"");
			goto out;
		}
		a->uids[a->nuids++] = (uid_t)q->uids[i];
	}
	if ((r = copy_list("scopes", q->scopes[0], sizeof(q->scopes[0]), q->nscopes, valid_scope,
			   a->scopes, &a->nscopes)) != ATTEST_OK ||
	    (r = join_scopes((const char *const *)a->scopes, a->nscopes, joined, sizeof(joined))) != ATTEST_OK ||
	    (r = copy_list("data_classes", q->classes[0], sizeof(q->classes[0]), q->nclasses,
			   valid_class, a->classes, &a->nclasses)) != ATTEST_OK ||
	    (r = copy_list("env_allow", q->env_allow[0], sizeof(q->env_allow[0]), q->nenv_allow,
			   env_entry_len_ok, a->env_allow, &a->nenv_allow)) != ATTEST_OK ||
	    (r = copy_list("dns_names", q->dns[0], sizeof(q->dns[0]), q->ndns, dns_name_ok, a->dns,
			   &a->ndns)) != ATTEST_OK ||
	    (r = dns_names_free(&d->reg, a)) != ATTEST_OK)
		goto out;
	for (size_t i = 0; i < a->nenv_allow; i++) {
		const char *why;

		if (!agent_env_pattern_ok(a->env_allow[i], &why)) {
			r = attest_fail(ATTEST_E_ENV, "env_allow entry \"%s\" %s", a->env_allow[i], why);
			goto out;
		}
	}
	if ((r = measure_path(d, q->binary, a->binary, sizeof(a->binary), a->exe_sha256)) != ATTEST_OK ||
	    (r = file_size(a->binary, &a->exe_size)) != ATTEST_OK ||
	    (script != NULL &&
	     (r = measure_path(d, script, a->script, sizeof(a->script), a->script_sha256)) != ATTEST_OK))
		goto out;
	uuid_v4(a->uuid);
	if ((size_t)snprintf(a->id, sizeof(a->id), "spiffe://%s/host/%s/agent/%s", d->host.trust_domain,
			     d->host.name, q->name) >= sizeof(a->id)) {
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
		attestd_host_lock(&d->host);
		r = attest_tpm_create_signkey(d->host.tpm, &policy, &a->auth, &a->key, &cr);
		attestd_host_unlock(&d->host);
		if (r != ATTEST_OK)
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
	attestd_host_lock(&d->host);
	r = attest_tpm_certify_creation(d->host.tpm, &a->key, &cr, qual, sizeof(qual), &cinfo,
					&csig);
	attestd_host_unlock(&d->host);
	if (r != ATTEST_OK)
		goto out;
	if (Tss2_MU_TPMT_SIGNATURE_Marshal(&csig, a->creation_sig, sizeof(a->creation_sig),
					   &a->creation_sig_len) != TSS2_RC_SUCCESS) {
		r = attest_fail(ATTEST_E_INTERNAL, "marshal creation signature");
		goto out;
	}
	memcpy(a->creation, cinfo.attestationData, cinfo.size);
	a->creation_len = cinfo.size;
	if ((r = issue_agent_ca(&d->host, a)) != ATTEST_OK)
		goto out;
	a->score = agent_risk_score(a);
	/* Audited before the commit point (no registration without its
	 * record); a commit that then fails gets an error record too. */
	if ((r = attestd_audit_agent(&d->log, "register", a, "ok", ATTEST_OK)) != ATTEST_OK)
		goto out;
	/* Commit point: the record is renamed into place. */
	if ((r = registry_save(&d->reg, a)) != ATTEST_OK || (r = registry_add(&d->reg, a)) != ATTEST_OK) {
		if (attestd_audit_agent(&d->log, "register", a, "error", r) != ATTEST_OK)
			attestd_log("audit: %s", attest_errdetail());
		goto out;
	}
	*out = a;
	attestd_log("registered agent %s (%s) binary %s%s%s risk %s/%d", a->name, a->id, a->binary,
		    a->script[0] ? " script " : "", a->script, a->tier, a->score);
	a = NULL; /* transferred to the registry */
	r = ATTEST_OK;
out:
	agent_free(a);
	return r;
}

int revoke_agent(struct attestd *d, const char *name, const struct agent **out)
{
	struct agent *a;
	int r;

	*out = NULL;
	if ((a = registry_find(&d->reg, name)) == NULL)
		return attest_fail(ATTEST_E_AGENT_UNKNOWN, "no agent \"%s\"", name);
	if ((r = attestd_audit_agent(&d->log, "revoke", a, "ok", ATTEST_OK)) != ATTEST_OK)
		return r;
	a->revoked = 1;
	if ((r = registry_save(&d->reg, a)) != ATTEST_OK) {
		a->revoked = 0;
		if (attestd_audit_agent(&d->log, "revoke", a, "error", r) != ATTEST_OK)
			attestd_log("audit: %s", attest_errdetail());
		return r;
	}
	X509_free(a->session_cert);
	EVP_PKEY_free(a->session_key);
	a->session_cert = NULL;
	a->session_key = NULL;
	attestd_host_lock(&d->host);
	attest_tpm_evict(d->host.tpm, &a->key); /* its resident key, if any */
	attestd_host_unlock(&d->host);
	attestd_log("revoked agent %s", name);
	*out = a;
	return ATTEST_OK;
}

/* A revocation the verifier delivered (push.c, the quote answer's
 * revoked_agents): the same as attestctl agent revoke, recorded with the
 * verifier as its source, durable before the registry changes. 1 when
 * agent id was revoked now, 0 when it is not ours or revoked already, a
 * negative attest_err when the record or the registry could not be
 * written (the next answer repeats the revocation). */
int attestd_revoke_by_verifier(void *arg, const char *id)
{
	struct attestd *d = arg;
	struct attest_agent_id aid;
	struct agent *a;
	int r;

	if (attest_agent_id_parse(id, &aid) != ATTEST_OK || strcmp(aid.host, d->host.name) != 0 ||
	    (a = registry_find(&d->reg, aid.name)) == NULL || strcmp(a->id, id) != 0 || a->revoked)
		return 0;
	if ((r = attestd_audit_agent_from(&d->log, "revoke", a, "ok", ATTEST_OK, "verifier")) !=
	    ATTEST_OK)
		return -r;
	a->revoked = 1;
	if ((r = registry_save(&d->reg, a)) != ATTEST_OK) {
		a->revoked = 0;
		if (attestd_audit_agent_from(&d->log, "revoke", a, "error", r, "verifier") != ATTEST_OK)
			attestd_log("audit: %s", attest_errdetail());
		return -r;
	}
	X509_free(a->session_cert);
	EVP_PKEY_free(a->session_key);
	a->session_cert = NULL;
	a->session_key = NULL;
	attestd_host_lock(&d->host);
	attest_tpm_evict(d->host.tpm, &a->key);
	attestd_host_unlock(&d->host);
	attestd_log("revoked agent %s: revoked at the verifier", a->name);
	return 1;
}

/* Forget a revoked agent, so that its name can be registered again (with a
 * new key and UUID). Only revoked agents: removal is never the way to stop
 * one. */
int remove_agent(struct attestd *d, const char *name)
{
	struct agent *a;
	int r;

	if ((a = registry_find(&d->reg, name)) == NULL)
		return attest_fail(ATTEST_E_AGENT_UNKNOWN, "no agent \"%s\"", name);
	if (!a->revoked)
		return attest_fail(ATTEST_E_STATE, "agent %s is not revoked: revoke it first", name);
	if ((r = attestd_audit_agent(&d->log, "remove", a, "ok", ATTEST_OK)) != ATTEST_OK)
		return r;
	attestd_host_lock(&d->host);
	if (d->host.pcr_holder == a)
		d->host.pcr_holder = NULL;
	attest_tpm_evict(d->host.tpm, &a->key); /* revoked: gone already, unless reloaded */
	attestd_host_unlock(&d->host);
	if ((r = registry_remove(&d->reg, a)) != ATTEST_OK) {
		if (attestd_audit_agent(&d->log, "remove", a, "error", r) != ATTEST_OK)
			attestd_log("audit: %s", attest_errdetail());
		return r;
	}
	attestd_log("removed revoked agent %s", name);
	return ATTEST_OK;
}

