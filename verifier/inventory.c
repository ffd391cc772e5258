/* inventory.c - agent inventory reports signed by a host's issuing key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>

#include "decide/agentev.h"
#include "core/err.h"
#include "enrol/enrol.h"
#include "attestation/hostpush.h"
#include "core/json.h"
#include "core/jws.h"
#include "core/num.h"
#include "vsrv.h"
#include "x509/crl.h"
#include "x509/x509.h"
#include "x509/x509agent.h"

/* ---- inventory reports ---- */

static int verify_host_ca(struct vsrv *s, const char *pem, const char *host, X509 **out)
{
	X509 *c = NULL;
	X509_STORE *st = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *issuing = NULL;
	char *hid = NULL;
	int r;

	*out = NULL;
	if ((r = attest_x509_from_pem(pem, strlen(pem), &c)) != ATTEST_OK)
		return r;
	/* host CAs are signed by an issuing CA of the fleet: the current one
	 * or one a rotation replaced (read each time: a rotation needs no
	 * restart here) */
	if ((r = attest_ca_issuing_certs(s->ca, &issuing)) != ATTEST_OK)
		goto out;
	if ((st = X509_STORE_new()) == NULL || X509_STORE_add_cert(st, s->root) != 1 ||
	    (ctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(ctx, st, c, issuing) != 1) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "verify host CA");
		goto out;
	}
	if (X509_verify_cert(ctx) != 1) {
		r = attest_fail(ATTEST_E_CHAIN_UNTRUSTED, "host CA: %s",
				X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		ERR_clear_error();
		goto out;
	}
	if ((r = attest_x509_ext_utf8(c, ATTEST_OID_HOST_ID, &hid)) != ATTEST_OK ||
	    strcmp(hid, host) != 0) {
		r = attest_fail(ATTEST_E_PATH, "host CA is not the certificate of host %s", host);
		goto out;
	}
	*out = c;
	c = NULL;
	r = ATTEST_OK;
out:
	free(hid);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	sk_X509_pop_free(issuing, X509_free);
	X509_free(c);
	return r;
}

static int verify_report_sig(X509 *host_ca, const char *report, const uint8_t *sig,
			     size_t sig_len)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c != NULL &&
		 EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, X509_get0_pubkey(host_ca)) == 1 &&
		 EVP_DigestVerify(c, sig, sig_len, (const uint8_t *)report, strlen(report)) == 1;

	EVP_MD_CTX_free(c);
	ERR_clear_error();
	return ok ? ATTEST_OK
		  : attest_fail(ATTEST_E_EVIDENCE_SIGNATURE,
				"report is not signed by the host's issuing key");
}

#define REPORT_AGENTS_MAX VB_REPORT_AGENTS_MAX

/* The host's CRLs (attestd/crl.h) as a report carries them: at most one
 * per reported agent and the host CA's, each signed by this host's CA
 * (the one the report was verified with) or by one of the agent CAs the
 * same report lists, current, no two for one CA, the host CA's among
 * them. A CRL of another host's CA, or signed by any other key, refuses
 * the whole report: nothing is written. */
static int check_crls(const char *pem, X509 *host_ca, STACK_OF(X509) *agent_cas,
		      const char *host)
{
	STACK_OF(X509_CRL) *crls = NULL;
	STACK_OF(X509) *cas = NULL;
	int r, have_host = 0;

	if ((r = attest_crl_bundle_parse(pem, strlen(pem), &crls)) != ATTEST_OK) {
		r = attest_fail_wrap(r, "CRLs of %s", host);
		goto out;
	}
	if (sk_X509_CRL_num(crls) > sk_X509_num(agent_cas) + 1) {
		r = attest_fail(ATTEST_E_TOO_LARGE, "CRLs of %s: %d CRLs for %d agents", host,
				sk_X509_CRL_num(crls), sk_X509_num(agent_cas));
		goto out;
	}
	if ((cas = sk_X509_dup(agent_cas)) == NULL || !sk_X509_push(cas, host_ca)) {
		r = attest_fail(ATTEST_E_NOMEM, "CRLs");
		goto out;
	}
	if ((r = attest_crl_bundle_check(crls, cas, (time_t)vs_now())) != ATTEST_OK) {
		r = attest_fail_wrap(r, "CRLs of %s", host);
		goto out;
	}
	for (int i = 0; i < sk_X509_CRL_num(crls); i++)
		have_host |= attest_crl_is_for(sk_X509_CRL_value(crls, i), host_ca);
	if (!have_host)
		r = attest_fail(ATTEST_E_PARSE, "CRLs of %s: none of its host CA", host);
out:
	sk_X509_free(cas); /* borrowed */
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	return r;
}

/* The host's JWT-SVID keys (attestd/workload_jwt.h) as the signed report
 * carries them: each a kid and the certificate the host CA made for the
 * key. Each must be signed by the host CA the report was verified with,
 * current, CA:FALSE with digitalSignature, a P-256 key whose RFC 7638
 * thumbprint is the kid; no kid twice, none another host's. A bad key
 * refuses the whole report: nothing is written. *out[*n] gets the rows
 * to write, *fresh how many kids the store does not have yet. */
static int check_jwt_keys(struct vsrv *s, const cJSON *arr, X509 *host_ca, const char *host,
			  uint64_t t, struct vjwtkey *out, size_t *n, size_t *fresh)
{
	static const char *const keys[] = { "kid", "cert", NULL };
	const cJSON *it;
	int r = ATTEST_OK;

	*n = 0;
	*fresh = 0;
	cJSON_ArrayForEach(it, arr) {
		const char *kid;
		uint8_t *der = NULL;
		const unsigned char *p;
		size_t der_len = 0;
		X509 *c = NULL;
		char want[ATTEST_JWK_KID_MAX], *pem = NULL;
		struct vjwtkey *k = &out[*n], old;
		int64_t na;

		if (*n >= ATTEST_REPORT_JWTKEYS_MAX)
			return attest_fail(ATTEST_E_TOO_LARGE, "JWT keys of %s: over %d", host,
					   ATTEST_REPORT_JWTKEYS_MAX);
		if ((r = attest_json_only(it, keys)) != ATTEST_OK ||
		    (r = attest_json_str(it, "kid", VSTORE_KID_MAX - 1, &kid)) != ATTEST_OK ||
		    (r = attest_json_b64(it, "cert", VSTORE_JWTCERT_MAX / 2, &der, &der_len)) !=
			    ATTEST_OK)
			return attest_fail_wrap(r, "JWT keys of %s", host);
		p = der;
		if ((c = d2i_X509(NULL, &p, (long)der_len)) == NULL || p != der + der_len) {
			r = attest_fail_ossl(ATTEST_E_PARSE, "JWT key %s of %s: not one DER certificate",
					     kid, host);
			goto next;
		}
		/* certified by this host's CA (verified above, to the fleet root) */
		if (X509_check_issued(host_ca, c) != X509_V_OK ||
		    X509_verify(c, X509_get0_pubkey(host_ca)) != 1) {
			r = attest_fail(ATTEST_E_CHAIN_UNTRUSTED,
					"JWT key %s of %s is not certified by the host CA", kid, host);
			goto next;
		}
		if (X509_cmp_time(X509_get0_notBefore(c), NULL) > 0 ||
		    X509_cmp_time(X509_get0_notAfter(c), NULL) <= 0) {
			r = attest_fail(ATTEST_E_CERT_EXPIRED,
					"JWT key %s of %s: certificate outside its validity", kid, host);
			goto next;
		}
		if ((X509_get_extension_flags(c) & EXFLAG_CA) != 0 ||
		    (X509_get_key_usage(c) & KU_DIGITAL_SIGNATURE) == 0) {
			r = attest_fail(ATTEST_E_PATH,
					"JWT key %s of %s: not a CA:FALSE digitalSignature certificate",
					kid, host);
			goto next;
		}
		if ((r = attest_es256_jwk_thumbprint(X509_get0_pubkey(c), want)) != ATTEST_OK)
			goto next;
		if (strcmp(want, kid) != 0) {
			r = attest_fail(ATTEST_E_PARSE, "JWT key of %s: kid %s is not its key's "
					"thumbprint %s", host, kid, want);
			goto next;
		}
		for (size_t i = 0; i < *n; i++)
			if (strcmp(out[i].kid, kid) == 0) {
				r = attest_fail(ATTEST_E_DUPLICATE_KEY, "JWT key %s of %s twice", kid,
						host);
				goto next;
			}
		r = s->store->ops->jwt_key_get(s->store, kid, &old);
		if (r == ATTEST_OK && strcmp(old.host, host) != 0) {
			r = attest_fail(ATTEST_E_DUPLICATE_KEY, "JWT key %s of %s is host %s's", kid,
					host, old.host);
			goto next;
		}
		if (r == ATTEST_E_NOT_FOUND)
			(*fresh)++;
		else if (r != ATTEST_OK)
			goto next;
		if ((r = attest_asn1_time_unix(X509_get0_notAfter(c), &na)) != ATTEST_OK ||
		    (r = attest_x509_to_pem(c, &pem)) != ATTEST_OK)
			goto next;
		if (strlen(pem) >= sizeof(k->cert)) {
			r = attest_fail(ATTEST_E_TOO_LARGE, "JWT key %s of %s: certificate", kid, host);
			goto next;
		}
		memset(k, 0, sizeof(*k));
		(void)snprintf(k->kid, sizeof(k->kid), "%s", kid);
		(void)snprintf(k->host, sizeof(k->host), "%s", host);
		memcpy(k->cert, pem, strlen(pem) + 1);
		k->not_after = na;
		k->seen = (int64_t)t;
		(*n)++;
		r = ATTEST_OK;
next:
		ERR_clear_error();
		free(pem);
		free(der);
		X509_free(c);
		if (r != ATTEST_OK)
			return r;
	}
	return ATTEST_OK;
}

struct removed_ctx {
	const char *host;
	const cJSON *agents;
	struct vagent *out; /* REPORT_AGENTS_MAX entries */
	size_t n;
};

/* Collects (the store's list walk may not write) this host's agents that
 * the report no longer lists. */
static int collect_removed(void *arg, const struct vagent *a)
{
	struct removed_ctx *m = arg;
	const cJSON *it;

	if (strcmp(a->host, m->host) != 0 || a->revoked)
		return ATTEST_OK;
	cJSON_ArrayForEach(it, m->agents) {
		const char *id = vs_opt_str(it, "id");

		if (id != NULL && strcmp(id, a->id) == 0)
			return ATTEST_OK;
	}
	if (m->n >= REPORT_AGENTS_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "over %d agents on host %s",
				   REPORT_AGENTS_MAX, m->host);
	m->out[m->n] = *a;
	m->out[m->n].revoked = 1;
	(void)snprintf(m->out[m->n].revoke_reason, sizeof(m->out[0].revoke_reason), "%s",
		       REMOVED_BY_HOST);
	m->n++;
	return ATTEST_OK;
}

/* Check one entry of a report and build its inventory record in *out
 * (nothing is written here). */
static int report_agent(struct vsrv *s, X509 *host_ca, const char *host_ca_pem,
			const TPM2B_PUBLIC *ak, const char *host, const cJSON *j, struct vagent *out,
			char **chain, STACK_OF(X509) *cas, int *changed)
{
	struct vagent a, old;
	struct attest_agent_ca_info info = {0};
	struct vb_report_agent ra;
	const char *id;
	X509 *ca;
	uint8_t *der;
	size_t der_len;
	int r;

	memset(&a, 0, sizeof(a));
	if ((r = vb_report_agent_parse(j, host, &ra)) != ATTEST_OK)
		return r;
	id = ra.id;
	ca = ra.ca;
	der = ra.der;
	der_len = ra.der_len;
	memcpy(a.scopes, ra.scopes, sizeof(a.scopes));
	memcpy(a.data_classes, ra.data_classes, sizeof(a.data_classes));
	if (X509_check_issued(host_ca, ca) != X509_V_OK ||
	    X509_verify(ca, X509_get0_pubkey(host_ca)) != 1) {
		ERR_clear_error();
		r = attest_fail(ATTEST_E_CHAIN_UNTRUSTED, "agent CA of %s not issued by the host CA", id);
		goto out;
	}
	if ((r = attest_agent_ca_evidence(ca, ak, &info)) != ATTEST_OK)
		goto out;
	if (strcmp(info.id, id) != 0) {
		r = attest_fail(ATTEST_E_AGENT_EVIDENCE, "agent CA names %s, entry %s", info.id, id);
		goto out;
	}
	(void)snprintf(a.id, sizeof(a.id), "%s", id);
	(void)snprintf(a.host, sizeof(a.host), "%s", host);
	(void)snprintf(a.uuid, sizeof(a.uuid), "%s", info.uuid);
	if (EVP_Digest(der, der_len, a.agent_ca_hash, NULL, EVP_sha256(), NULL) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "hash");
		goto out;
	}
	memcpy(a.measurement, info.measurement, 32);
	memcpy(a.policy, info.policy, 32);
	a.risk_tier = ra.risk_tier;
	a.risk_score = ra.risk_score;
	a.delegate_depth = ra.delegate_depth;
	a.registered = vs_now();
	a.revoked = ra.revoked;
	if (a.revoked)
		(void)snprintf(a.revoke_reason, sizeof(a.revoke_reason), "%s", REVOKED_BY_HOST);
	r = s->store->ops->agent_get(s->store, id, &old);
	if (r == ATTEST_OK) {
		/* approval survives reports of the same registration (not a
		 * new one under the same name); an operator's revocation
		 * survives everything the host does */
		if (strcmp(old.uuid, a.uuid) == 0) {
			a.approved = old.approved;
			a.registered = old.registered;
		}
		/* another registration under the same ID (new UUID or binary):
		 * counted for the posture report's registration churn */
		if ((strcmp(old.uuid, a.uuid) != 0 ||
		     memcmp(old.measurement, a.measurement, sizeof(a.measurement)) != 0) &&
		    (r = s->store->ops->agent_change_note(s->store, id, vs_now())) != ATTEST_OK)
			goto out;
		if (old.revoked && strncmp(old.revoke_reason, OPERATOR_PREFIX,
					   strlen(OPERATOR_PREFIX)) == 0) {
			a.revoked = 1;
			memcpy(a.revoke_reason, old.revoke_reason, sizeof(a.revoke_reason));
		}
		/* a fact the decider reads changes: other replicas' views
		 * must drop it (a change generation, vs_report) */
		if (a.revoked != old.revoked || a.approved != old.approved ||
		    strcmp(a.uuid, old.uuid) != 0 ||
		    memcmp(a.measurement, old.measurement, sizeof(a.measurement)) != 0 ||
		    strcmp(a.scopes, old.scopes) != 0 || strcmp(a.data_classes, old.data_classes) != 0 ||
		    a.risk_tier != old.risk_tier || a.risk_score != old.risk_score)
			*changed = 1;
	} else if (r != ATTEST_E_NOT_FOUND) {
		goto out;
	}
	/* the chain above the agent's leaves, for /v1/authz to complete a
	 * proxy's lone leaf: this agent CA, then the host CA */
	{
		char *ca_pem = NULL;
		size_t n;

		if ((r = attest_x509_to_pem(ca, &ca_pem)) != ATTEST_OK)
			goto out;
		n = strlen(ca_pem) + strlen(host_ca_pem) + 1;
		if (n > VSTORE_CHAIN_MAX || (*chain = malloc(n)) == NULL) {
			free(ca_pem);
			r = attest_fail(n > VSTORE_CHAIN_MAX ? ATTEST_E_TOO_LARGE : ATTEST_E_NOMEM,
					"chain of %s", id);
			goto out;
		}
		memcpy(*chain, ca_pem, strlen(ca_pem));
		memcpy(*chain + strlen(ca_pem), host_ca_pem, strlen(host_ca_pem) + 1);
		free(ca_pem);
	}
	/* the CRLs of the same report are checked against it */
	if (X509_add_cert(cas, ca, X509_ADD_FLAG_UP_REF) != 1) {
		r = attest_fail(ATTEST_E_NOMEM, "report");
		goto out;
	}
	*out = a;
	r = ATTEST_OK;
out:
	attest_agent_ca_info_clear(&info);
	vb_report_agent_clear(&ra);
	return r;
}

void vs_report(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt, const struct vcaller *who)
{
	(void)rt, (void)who; /* every handler has the route signature */
	cJSON *in = NULL;
	struct vb_report rb = {0};
	const char *report, *pem, *host;
	const cJSON *agents, *it;
	uint8_t *sig;
	size_t sig_len, off = 0;
	uint64_t t, last_t = 0;
	X509 *host_ca = NULL;
	struct ak_entry *e;
	TPM2B_PUBLIC ak;
	char key[100], last[32];
	struct vagent *recs = NULL;
	char **chains = NULL, *host_pem = NULL;
	struct removed_ctx rm = {0};
	STACK_OF(X509) *cas = sk_X509_new_null();
	struct vjwtkey *jk = NULL;
	size_t nagents = 0, i, njk = 0, jk_fresh = 0;
	long jk_dropped = 0;
	int changed = 0;
	int r;

	if (cas == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "report");
		goto out;
	}
	if ((r = vs_body_json(req, rt->body_cap, vb_keys_report, &in, NULL)) != ATTEST_OK ||
	    (r = vb_report_parse(in, &rb)) != ATTEST_OK)
		goto out;
	report = rb.report;
	pem = rb.host_ca;
	sig = rb.sig;
	sig_len = rb.sig_len;
	host = rb.host;
	t = rb.time;
	agents = rb.agents;
	if ((r = vs_host_not_revoked(s, host)) != ATTEST_OK ||
	    (r = vs_host_record(s, host, &e)) != ATTEST_OK ||
	    (r = verify_host_ca(s, pem, host, &host_ca)) != ATTEST_OK ||
	    (r = verify_report_sig(host_ca, report, sig, sig_len)) != ATTEST_OK)
		goto out;
	(void)snprintf(key, sizeof(key), "report_time:%s", host);
	r = s->store->ops->setting_get(s->store, key, last, sizeof(last));
	if (r != ATTEST_OK && r != ATTEST_E_NOT_FOUND)
		goto out;
	if (r == ATTEST_OK && attest_parse_u64(last, 0, UINT64_MAX, &last_t) != ATTEST_OK) {
		r = attest_fail_wrap(ATTEST_E_STORE_DAMAGED, "stored %s", key);
		goto out;
	}
	if ((int64_t)t > vs_now() + REPORT_SKEW || (int64_t)t < vs_now() - REPORT_SKEW ||
	    (r == ATTEST_OK && last_t >= t)) {
		r = attest_fail(ATTEST_E_NONCE, "report time %llu is stale or replayed",
				(unsigned long long)t);
		goto out;
	}
	memset(&ak, 0, sizeof(ak));
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(e->ak, e->ak_len, &off, &ak) != TSS2_RC_SUCCESS) {
		r = attest_fail(ATTEST_E_INTERNAL, "AK record");
		goto out;
	}
	/* every entry is checked before anything is written: a refused
	 * report changes nothing */
	nagents = (size_t)cJSON_GetArraySize(agents);
	if ((r = attest_x509_to_pem(host_ca, &host_pem)) != ATTEST_OK)
		goto out;
	if ((recs = calloc(nagents + 1, sizeof(*recs))) == NULL ||
	    (chains = calloc(nagents + 1, sizeof(*chains))) == NULL ||
	    (rm.out = calloc(REPORT_AGENTS_MAX, sizeof(*rm.out))) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "report");
		goto out;
	}
	i = 0;
	cJSON_ArrayForEach(it, agents) {
		if ((r = report_agent(s, host_ca, host_pem, &ak, host, it, &recs[i], &chains[i],
				      cas, &changed)) != ATTEST_OK)
			goto out;
		i++;
	}
	if (rb.crls != NULL && (r = check_crls(rb.crls, host_ca, cas, host)) != ATTEST_OK)
		goto out;
	if ((jk = calloc(ATTEST_REPORT_JWTKEYS_MAX, sizeof(*jk))) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "report");
		goto out;
	}
	if (rb.jwt_keys != NULL &&
	    (r = check_jwt_keys(s, rb.jwt_keys, host_ca, host, t, jk, &njk, &jk_fresh)) != ATTEST_OK)
		goto out;
	rm.host = host;
	rm.agents = agents;
	if ((r = s->store->ops->agent_list_host(s->store, host, collect_removed, &rm)) != ATTEST_OK)
		goto out;
	{
		struct attest_audit_event ev = {.type = "inventory", .host = host, .outcome = "ok"};

		ev.source = attest_httpd_peer_addr(req);
		if ((r = vs_audit_durable(s, &ev)) != ATTEST_OK)
			goto out;
	}
	/* this process's view of each row written goes first (a write that
	 * fails half-way may still have changed some) */
	for (i = 0; i < nagents; i++)
		vs_view_agent_drop(s, recs[i].id);
	for (i = 0; i < rm.n; i++)
		vs_view_agent_drop(s, rm.out[i].id);
	for (i = 0; i < nagents; i++)
		if ((r = s->store->ops->agent_put(s->store, &recs[i])) != ATTEST_OK ||
		    (r = s->store->ops->agent_chain_put(s->store, recs[i].id, chains[i])) != ATTEST_OK)
			goto out;
	for (i = 0; i < rm.n; i++)
		if ((r = s->store->ops->agent_put(s->store, &rm.out[i])) != ATTEST_OK)
			goto out;
	if (rb.crls != NULL && (r = s->store->ops->host_crls_put(s->store, host, rb.crls)) !=
	    ATTEST_OK)
		goto out;
	/* the report's JWT keys replace the host's (a key it no longer
	 * carries is gone: attestd holds it in memory only) */
	for (i = 0; i < njk; i++)
		if ((r = s->store->ops->jwt_key_put(s->store, &jk[i])) != ATTEST_OK)
			goto out;
	if ((r = s->store->ops->jwt_keys_prune(s->store, host, (int64_t)t, &jk_dropped)) !=
	    ATTEST_OK)
		goto out;
	if ((jk_fresh > 0 || jk_dropped > 0) && (r = vs_spiffe_bump(s)) != ATTEST_OK)
		goto out;
	(void)snprintf(last, sizeof(last), "%llu", (unsigned long long)t);
	if ((r = s->store->ops->setting_put(s->store, key, last)) != ATTEST_OK)
		goto out;
	s->m.reports++;
	/* the decider's cache holds only checks of certificate bytes (and
	 * the evidence against the AK it was checked with): nothing a
	 * report changes; its leaves of this host are forgotten all the same
	 * (issue 17: a whole flush per report was most of a fleet warm-up's
	 * CPU) */
	attest_decider_forget_host(s->decider, host);
	if (changed || rm.n > 0)
		vs_changed(s, "an inventory change");
	vs_log("inventory of %s: %zu agents, %zu removed, %zu JWT keys (%zu new, %ld dropped)",
	       host, nagents, rm.n, njk, jk_fresh, jk_dropped);
	vs_audited_ok(s, req, "{\"status\":\"ok\"}", NULL);
out:
	for (i = 0; chains != NULL && i < nagents; i++)
		free(chains[i]);
	free(chains);
	free(host_pem);
	free(recs);
	free(rm.out);
	free(jk);
	if (r != ATTEST_OK)
		vs_reply_err(s, req, vs_status_of(r), r, "report refused");
	X509_free(host_ca);
	sk_X509_pop_free(cas, X509_free);
	vb_report_clear(&rb);
	cJSON_Delete(in);
}
