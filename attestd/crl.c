/* crl.c - the host CA's and the agents' CRLs; see crl.h. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "core/err.h"
#include "crl.h"
#include "log.h"
#include "signers.h"
#include "x509/crl.h"

static int asn1_to_time(const ASN1_TIME *a, time_t *out)
{
	struct tm tm;

	if (a == NULL || ASN1_TIME_to_tm(a, &tm) != 1)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "certificate time");
	*out = timegm(&tm);
	return ATTEST_OK;
}

/* a->crl is its current agent CA's and reaches that certificate's end */
static int agent_crl_current(const struct agent *a)
{
	time_t until = 0;

	return a->crl != NULL && attest_crl_is_for(a->crl, a->agent_ca) &&
	       X509_CRL_get0_nextUpdate(a->crl) != NULL &&
	       asn1_to_time(X509_get0_notAfter(a->agent_ca), &until) == ATTEST_OK &&
	       ASN1_TIME_cmp_time_t(X509_CRL_get0_nextUpdate(a->crl), until) >= 0;
}

static int agent_crl(struct attestd_host *h, struct agent *a, time_t now)
{
	struct agent_signer_ctx ctx = { h, a };
	struct attest_signer s = { agent_sign, &ctx, X509_get0_pubkey(a->agent_ca), 0 };
	X509_CRL *crl = NULL;
	time_t until = 0;
	int r;

	if (agent_crl_current(a))
		return ATTEST_OK;
	if ((r = asn1_to_time(X509_get0_notAfter(a->agent_ca), &until)) != ATTEST_OK)
		return r;
	if (until <= now)
		return attest_fail(ATTEST_E_CERT_EXPIRED, "agent CA of %s has expired", a->name);
	if ((r = attest_crl_make(a->agent_ca, NULL, 0, now - 60, until, (uint64_t)now, &s, &crl)) !=
	    ATTEST_OK)
		return r;
	X509_CRL_free(a->crl);
	a->crl = crl;
	return ATTEST_OK;
}

int attestd_crls_pem(struct attestd_host *h, const struct registry *reg, time_t now, char **out,
		     size_t *len)
{
	struct attest_signer hs = { attestd_host_sign, h, h->key_pub, 0 };
	const ASN1_INTEGER **serials = NULL;
	STACK_OF(X509_CRL) *sk = NULL;
	X509_CRL *hc = NULL;
	size_t n = 0;
	int r;

	*out = NULL;
	*len = 0;
	if ((sk = sk_X509_CRL_new_null()) == NULL ||
	    (serials = calloc(reg->n + 1, sizeof(*serials))) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "CRLs");
		goto out;
	}
	for (size_t i = 0; i < reg->n; i++)
		if (reg->agents[i]->revoked && reg->agents[i]->agent_ca != NULL)
			serials[n++] = X509_get0_serialNumber(reg->agents[i]->agent_ca);
	if ((r = attest_crl_make(h->ca, serials, n, now - 60, now + ATTESTD_CRL_TTL, (uint64_t)now,
				 &hs, &hc)) != ATTEST_OK) {
		r = attest_fail_wrap(r, "host CA's CRL");
		goto out;
	}
	if (!sk_X509_CRL_push(sk, hc)) {
		r = attest_fail(ATTEST_E_NOMEM, "CRLs");
		goto out;
	}
	hc = NULL; /* transferred */
	for (size_t i = 0; i < reg->n; i++) {
		struct agent *a = reg->agents[i];

		if (a->agent_ca == NULL)
			continue;
		/* a revoked agent's key signs nothing more; its CRL made before
		 * stays in while current, so a relying party's refusal reads
		 * "certificate revoked" (its agent CA, in the host CA's CRL)
		 * rather than "unable to get certificate CRL" */
		if (a->revoked && !agent_crl_current(a))
			continue;
		if (!a->revoked && agent_crl(h, a, now) != ATTEST_OK) {
			attestd_log("crl: no CRL for agent %s: %s", a->name, attest_errdetail());
			continue;
		}
		if (!X509_CRL_up_ref(a->crl) || !sk_X509_CRL_push(sk, a->crl)) {
			r = attest_fail(ATTEST_E_NOMEM, "CRLs");
			goto out;
		}
	}
	r = attest_crl_bundle_pem(sk, out, len);
out:
	X509_CRL_free(hc);
	sk_X509_CRL_pop_free(sk, X509_CRL_free);
	free(serials);
	return r;
}
