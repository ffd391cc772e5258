/* issue.c - the agent's side of issuance (docs/protocol.md "issue"): the
 * request, its CSR, its intent or renewal leaf, read and checked, then
 * handed as a typed order to the monitor (mint.h) and its chain answered.
 * Runs in the unprivileged front (or in attestd --no-privsep). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/client.h"
#include "attest/intent.h"
#include "core/err.h"
#include "core/json.h"
#include "issue.h"
#include "log.h"
#include "reqparse.h"
#include "request.h"
#include "x509/x509.h"
#include "x509/x509agent.h"

static int leaf_key(const char *csr_pem, EVP_PKEY **pub, EVP_PKEY **generated)
{
	int r;

	*pub = *generated = NULL;
	if (csr_pem != NULL)
		return attestd_csr_key(csr_pem, strlen(csr_pem), pub);
	if ((r = attest_p256_keygen(generated)) != ATTEST_OK)
		return r;
	if (EVP_PKEY_up_ref(*generated) != 1)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "key ref");
	*pub = *generated;
	return ATTEST_OK;
}

/* The intent of the request (or of the renewal leaf) verified for agent
 * id now, and what the monitor needs of it. */
static int intent_read(struct attest_intent_trust *trust, const char *id, const char *token,
		       time_t now, struct mint_intent *in)
{
	struct attest_intent_chain *c = NULL;
	const char *const *cs, *text = NULL;
	size_t ncs;
	unsigned depth;
	int r;

	if ((r = attest_intent_verify(trust, token, id, now, &c)) != ATTEST_OK)
		return r;
	in->token = (const uint8_t *)token;
	in->token_len = strlen(token);
	ncs = attest_intent_chain_scopes(c, &cs);
	depth = attest_intent_chain_depth(c);
	if (ncs > AGENT_MAX_SCOPES || depth >= MINT_AGENTS_MAX) {
		r = attest_fail(ATTEST_E_TOO_LARGE, "intent with %zu scopes, depth %u", ncs, depth);
		goto out;
	}
	for (size_t i = 0; i < ncs; i++)
		if (!valid_scope(cs[i]) || strlen(cs[i]) > MINT_SCOPE_MAX) {
			r = attest_fail(ATTEST_E_SCOPE, "intent scope \"%.64s\" is not a scope", cs[i]);
			goto out;
		}
	for (size_t i = 0; i < ncs; i++)
		snprintf(in->scopes[i], sizeof(in->scopes[i]), "%s", cs[i]);
	in->nscopes = (uint32_t)ncs;
	in->expiry = attest_intent_chain_expiry(c);
	in->depth = depth;
	for (unsigned i = 0; i <= depth; i++) {
		const char *agent = attest_intent_chain_agent(c, i, NULL);

		if (agent == NULL || strlen(agent) > MINT_ID_MAX) {
			r = attest_fail(ATTEST_E_INTENT_CHAIN, "intent agent %u", i);
			goto out;
		}
		memcpy(in->agents[i], agent, strlen(agent) + 1);
	}
	/* what must be single use: the grant's jti when the agent presents the
	 * grant itself (depth 0), else the last delegation's nonce (the
	 * earlier hops' nonces and the jti were spent by the agents before
	 * it, possibly on this host) */
	snprintf(in->marker_kind, sizeof(in->marker_kind), "%s", depth == 0 ? "jti" : "nonce");
	snprintf(in->marker_iss, sizeof(in->marker_iss), "%s",
		 depth == 0 ? attest_intent_chain_issuer(c) : "");
	snprintf(in->marker_value, sizeof(in->marker_value), "%s",
		 depth == 0 ? attest_intent_chain_jti(c) : attest_intent_chain_nonce(c, depth));
	snprintf(in->user, sizeof(in->user), "%s", attest_intent_chain_user(c));
	snprintf(in->purpose, sizeof(in->purpose), "%s",
		 attest_purpose_name(attest_intent_chain_purpose(c, &text)));
	snprintf(in->purpose_text, sizeof(in->purpose_text), "%s", text != NULL ? text : "");
	r = ATTEST_OK;
out:
	attest_intent_chain_free(c);
	return r;
}

struct issue_job {
	struct mint_order o; /* o.spki: spki below; o.in.token: the request's or renewed */
	uint8_t spki[MINT_SPKI_MAX];
	char mode[16];
	char *renewed;
	EVP_PKEY *generated; /* the leaf's key when the agent sent no CSR */
};

void attestd_issue_job_free(struct issue_job *j)
{
	if (j == NULL)
		return;
	free(j->renewed);
	EVP_PKEY_free(j->generated);
	OPENSSL_cleanse(j, sizeof(*j));
	free(j);
}

const struct mint_order *attestd_issue_order(const struct issue_job *j) { return &j->o; }

int attestd_issue_prepare(const struct issue_backend *b, struct attest_intent_trust *trust,
			  const cJSON *req, struct issue_job **out)
{
	struct issue_job *j = calloc(1, sizeof(*j));
	struct mint_order *o;
	const char *mode = NULL, *csr = NULL, *intent = NULL, *renew = NULL;
	char id[MINT_ID_MAX + 1];
	EVP_PKEY *pub = NULL;
	X509 *agent_ca = NULL;
	int r;

	*out = NULL;
	if (j == NULL)
		return attest_fail(ATTEST_E_NOMEM, "issue");
	o = &j->o;
	if ((r = attestd_issue_parse(req, o, &mode, &csr, &intent, &renew)) != ATTEST_OK ||
	    (r = leaf_key(csr, &pub, &j->generated)) != ATTEST_OK ||
	    (r = attest_spki_der(pub, j->spki, sizeof(j->spki), &o->spki_len)) != ATTEST_OK)
		goto out;
	snprintf(j->mode, sizeof(j->mode), "%s", mode);
	o->spki = j->spki;
	if (intent != NULL || renew != NULL) {
		/* the chain is verified here, for the agent's ID; the monitor
		 * checks what it says against the registration */
		if ((r = b->agent_info(b->ctx, o->name, id, &agent_ca)) != ATTEST_OK)
			goto out;
		/* a renewal's chain was spent when the presented leaf was
		 * issued: verified in full again, not spent again */
		if (renew != NULL &&
		    (r = attestd_renewal_leaf(o->name, id, agent_ca, renew, time(NULL), &j->renewed)) !=
			    ATTEST_OK)
			goto out;
		if ((r = intent_read(trust, id, j->renewed != NULL ? j->renewed : intent, time(NULL),
				     &o->in)) != ATTEST_OK)
			goto out;
		o->has_intent = 1;
	}
	*out = j;
	j = NULL;
out:
	X509_free(agent_ca);
	EVP_PKEY_free(pub);
	attestd_issue_job_free(j);
	return r;
}

int attestd_issue_finish(struct issue_job *j, const struct attestd_peer *peer,
			 const struct mint_result *res, cJSON *reply)
{
	const struct mint_order *o = &j->o;
	char *key = NULL;
	int r;

	if (cJSON_AddStringToObject(reply, "chain", res->chain) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "reply");
		goto out;
	}
	if (j->generated != NULL) {
		if ((r = attest_private_key_pem(j->generated, &key)) != ATTEST_OK)
			goto out;
		if (cJSON_AddStringToObject(reply, "key", key) == NULL) {
			r = attest_fail(ATTEST_E_NOMEM, "key");
			goto out;
		}
	}
	if (cJSON_AddStringToObject(reply, "mode", j->mode) == NULL ||
	    cJSON_AddStringToObject(reply, "id", res->id) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "reply");
		goto out;
	}
	attestd_log("issued %s certificate to %s pid=%d uid=%u ttl=%lds scopes=[%s]%s%s%s", j->mode,
		    o->name, (int)res->pid, (unsigned)peer->uid, res->ttl, res->scopes,
		    o->has_intent ? " intent of user " : "", o->has_intent ? o->in.user : "",
		    !o->has_intent    ? ""
		    : o->renew	      ? " (renewed)"
		    : o->in.depth > 0 ? " (delegated)"
				      : " (granted)");
	r = ATTEST_OK;
out:
	if (key != NULL) {
		OPENSSL_cleanse(key, strlen(key));
		free(key);
	}
	return r;
}

int attestd_issue(const struct issue_backend *b, struct attest_intent_trust *trust,
		  const struct attestd_peer *peer, const cJSON *req, cJSON *reply)
{
	struct issue_job *j = NULL;
	struct mint_result res = { 0 };
	int r;

	if ((r = attestd_issue_prepare(b, trust, req, &j)) == ATTEST_OK &&
	    (r = b->mint(b->ctx, peer, &j->o, &res)) == ATTEST_OK)
		r = attestd_issue_finish(j, peer, &res, reply);
	mint_result_clear(&res);
	attestd_issue_job_free(j);
	return r;
}

/* ---------- attestd --no-privsep and the admin socket: in process ---------- */

static int direct_info(void *ctx, const char *name, char id[MINT_ID_MAX + 1], X509 **agent_ca)
{
	return attestd_agent_info(ctx, name, id, agent_ca);
}

static int direct_mint(void *ctx, const struct attestd_peer *peer, const struct mint_order *o,
		       struct mint_result *res)
{
	return attestd_mint(ctx, peer, o, res);
}

int do_issue(struct attestd *d, const struct attestd_peer *peer, const cJSON *req, cJSON *reply)
{
	struct issue_backend b = { direct_info, direct_mint, d };

	return attestd_issue(&b, d->intent_trust, peer, req, reply);
}
