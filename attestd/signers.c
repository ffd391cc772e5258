/* signers.c - the TPM keys that sign: the host key (agent CAs) and agent keys under their PCR 23 + auth policy; agent CA certificates. */

#include <stdint.h>
#include <string.h>
#include <time.h>

#include <openssl/x509v3.h>


#include "core/err.h"
#include "log.h"
#include "signers.h"
#include "tpm/tpmsw.h"
#include "x509/x509agent.h"

/* ---------- signers ---------- */

/* Put the agent's value in PCR 23 (reset + extend) unless it is there. */
static int load_pcr(struct attestd_host *h, const struct agent_key_ref *k)
{
	int r;

	if ((r = attest_tpm_pcr_reset(h->tpm, AGENT_PCR)) != ATTEST_OK ||
	    (r = attest_tpm_pcr_extend(h->tpm, AGENT_PCR, k->measurement)) != ATTEST_OK) {
		h->pcr_holder = NULL;
		return r;
	}
	h->pcr_holder = k->tag;
	return ATTEST_OK;
}

/* The TPM signs only while PCR 23 holds this agent's value and we present
 * the agent's secret: the binding is the TPM's, not just ours. PCR 23 and
 * the policy session are the TPM's shared state: the whole sequence runs
 * under the host's TPM lock (the renewal thread signs too). */
int agent_sign_key(struct attestd_host *h, const struct agent_key_ref *k,
		   const uint8_t digest[32], TPMT_SIGNATURE *sig)
{
	int r, loaded = 0;

	attestd_host_lock(h);
	if (h->tpm == NULL) {
		r = attest_fail(ATTEST_E_TPM, "TPM unreachable");
		goto out;
	}
	if (h->pcr_holder != k->tag) {
		if ((r = load_pcr(h, k)) != ATTEST_OK)
			goto out;
		loaded = 1;
	}
	r = attest_tpm_sign_policy(h->tpm, k->key, k->auth, AGENT_PCR_MASK, digest, sig);
	if (r == ATTEST_E_TPM_AUTH && !loaded) {
		/* someone else moved PCR 23: load ours once more */
		if ((r = load_pcr(h, k)) != ATTEST_OK)
			goto out;
		r = attest_tpm_sign_policy(h->tpm, k->key, k->auth, AGENT_PCR_MASK, digest, sig);
	}
out:
	attestd_host_unlock(h);
	return r;
}

int agent_sign(void *arg, const uint8_t digest[32], TPMT_SIGNATURE *sig)
{
	struct agent_signer_ctx *c = arg;
	struct agent_key_ref k = { c->a, &c->a->key, &c->a->auth, c->a->measurement };

	return agent_sign_key(c->h, &k, digest, sig);
}

/* ---------- agent CA certificates ---------- */

int issue_agent_ca(struct attestd_host *h, struct agent *a)
{
	struct attest_signer hs = { attestd_host_sign, h, h->key_pub, 0 };
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
	r = attest_x509_make_agent_ca(h->ca, &p, &hs, &cert);
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

int fresh_agent_ca(struct attestd_host *h, struct registry *reg, struct agent *a, long ttl)
{
	time_t until = time(NULL) + ttl;
	int r;

	if ((r = attestd_host_refresh(h)) != ATTEST_OK)
		return r;
	/* An agent CA can never outlive the host CA: ask only for what the host
	 * CA allows, or every request near its end would re-issue. */
	if (ASN1_TIME_cmp_time_t(X509_get0_notAfter(h->ca), until) < 0) {
		struct tm tm;

		if (ASN1_TIME_to_tm(X509_get0_notAfter(h->ca), &tm) == 1)
			until = timegm(&tm) - 1;
	}
	if (X509_check_issued(h->ca, a->agent_ca) == X509_V_OK &&
	    X509_cmp_time(X509_get0_notAfter(a->agent_ca), &until) > 0)
		return ATTEST_OK;
	if ((r = issue_agent_ca(h, a)) != ATTEST_OK || (r = registry_save(reg, a)) != ATTEST_OK)
		return r;
	attestd_log("re-issued agent CA certificate of %s under the current host CA", a->name);
	return ATTEST_OK;
}

