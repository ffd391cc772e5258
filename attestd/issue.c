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
#include "request.h"
#include "x509/x509.h"
#include "x509/x509agent.h"

static int leaf_key(const char *csr_pem, EVP_PKEY **pub, EVP_PKEY **generated)
{
	BIO *b = NULL;
	X509_REQ *req = NULL;
	EVP_PKEY *k;
	int r;

	*pub = *generated = NULL;
	if (csr_pem == NULL) {
		if ((r = attest_p256_keygen(generated)) != ATTEST_OK)
			return r;
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

/* Renewal of an intent leaf (field "renew"): pem is the agent's current
 * leaf, optionally followed by its session issuer, and nothing after. It
 * must verify now to this agent's CA and name this agent; *token gets the
 * chain from its intent extension (malloc'd). */
static int renewal_intent(const char *name, const char *id, X509 *agent_ca, const char *pem,
			  time_t now, char **token)
{
	static const char end_marker[] = "-----END CERTIFICATE-----";
	STACK_OF(X509) *certs = sk_X509_new_null();
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	const char *last = NULL, *p;
	char *uri = NULL;
	X509 *x;
	BIO *b = NULL;
	int r;

	*token = NULL;
	for (p = strstr(pem, end_marker); p != NULL; p = strstr(p + 1, end_marker))
		last = p;
	if (last == NULL || strspn(last + sizeof(end_marker) - 1, "\r\n") !=
				    strlen(last + sizeof(end_marker) - 1)) {
		r = attest_fail(ATTEST_E_PARSE, "renew: not PEM certificates, or bytes after the last");
		goto out;
	}
	if (certs == NULL || store == NULL || ctx == NULL ||
	    (b = BIO_new_mem_buf(pem, (int)strlen(pem))) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "renew");
		goto out;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		/* the whole chain attestd returned: leaf, session issuer,
		 * agent CA, host CA, issuing CA */
		if (sk_X509_num(certs) == 5 || sk_X509_push(certs, x) <= 0) {
			X509_free(x);
			r = attest_fail(ATTEST_E_PARSE, "renew: over 5 certificates");
			goto out;
		}
	}
	ERR_clear_error();
	if (sk_X509_num(certs) == 0) {
		r = attest_fail(ATTEST_E_PARSE, "renew: no PEM certificate");
		goto out;
	}
	/* the agent CA is the anchor; a session issuer is untrusted input */
	if (X509_STORE_add_cert(store, agent_ca) != 1 ||
	    X509_STORE_CTX_init(ctx, store, sk_X509_value(certs, 0), certs) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "renew: verify context");
		goto out;
	}
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_X509_STRICT);
	X509_STORE_CTX_set_time(ctx, 0, now);
	if (X509_verify_cert(ctx) != 1) {
		r = attest_fail(ATTEST_E_DENIED, "renew: the leaf is not a current certificate of %s: %s",
				name, X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		ERR_clear_error();
		goto out;
	}
	if ((r = attest_x509_one_san_uri(sk_X509_value(certs, 0), &uri)) != ATTEST_OK)
		goto out;
	if (strcmp(uri, id) != 0) {
		r = attest_fail(ATTEST_E_DENIED, "renew: the leaf names %.300s, not %s", uri, id);
		goto out;
	}
	if ((r = attest_x509_ext_intent(sk_X509_value(certs, 0), token)) == ATTEST_E_NOT_FOUND)
		r = attest_fail(ATTEST_E_NOT_FOUND, "renew: the leaf carries no intent");
out:
	free(uri);
	BIO_free(b);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_pop_free(certs, X509_free);
	return r;
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

/* The request's fields into o (nothing read from the registry or the
 * system). csr, intent and renew point into req. */
static int issue_parse(const cJSON *req, struct mint_order *o, const char **mode,
		       const char **csr, const char **intent, const char **renew)
{
	static const char *const keys[] = { "op", "agent", "mode", "ttl", "scopes", "task_id",
					    "csr", "intent", "renew", "parent", NULL };
	const char *name, *task_id;
	const cJSON *parent = cJSON_GetObjectItemCaseSensitive(req, "parent");
	char *want[AGENT_MAX_SCOPES] = { 0 };
	size_t nwant = 0;
	long ttl = -1;
	int r;

	if ((r = attest_json_only(req, keys)) != ATTEST_OK ||
	    (r = attest_json_str(req, "agent", ATTEST_MAX_NAME, &name)) != ATTEST_OK ||
	    (r = opt_str(req, "mode", 8, mode)) != ATTEST_OK ||
	    (r = opt_str(req, "task_id", MINT_TASK_MAX, &task_id)) != ATTEST_OK ||
	    (r = opt_str(req, "csr", 16384, csr)) != ATTEST_OK ||
	    (r = opt_str(req, "intent", ATTEST_INTENT_TOKEN_MAX, intent)) != ATTEST_OK ||
	    (r = opt_str(req, "renew", ATTEST_RENEW_PEM_MAX, renew)) != ATTEST_OK ||
	    (r = int_field(req, "ttl", 1, 86400, &ttl)) != ATTEST_OK ||
	    (r = str_list(req, "scopes", valid_scope, want, AGENT_MAX_SCOPES, &nwant)) != ATTEST_OK)
		goto out;
	/* "scopes": [] asks for nothing: it is refused, never read as "all
	 * registered scopes" (docs/protocol.md, "issue") */
	if (cJSON_GetObjectItemCaseSensitive(req, "scopes") != NULL && nwant == 0) {
		r = attest_fail(ATTEST_E_SCOPE, "\"scopes\" is an empty list: name at least one "
				"scope, or leave the field out for the registered ones");
		goto out;
	}
	if (parent != NULL && !cJSON_IsBool(parent)) {
		r = attest_fail(ATTEST_E_PARSE, "\"parent\" must be true or false");
		goto out;
	}
	if (*mode == NULL)
		*mode = "strict";
	if (strcmp(*mode, "strict") != 0 && strcmp(*mode, "session") != 0) {
		r = attest_fail(ATTEST_E_PARSE, "mode must be strict or session");
		goto out;
	}
	if (*intent != NULL && *renew != NULL) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "give intent (first issuance) or renew, not both");
		goto out;
	}
	memcpy(o->name, name, strlen(name) + 1);
	o->session = strcmp(*mode, "session") == 0;
	o->parent = cJSON_IsTrue(parent);
	o->renew = *renew != NULL;
	o->ttl = ttl;
	for (size_t i = 0; i < nwant; i++) {
		if (strlen(want[i]) > MINT_SCOPE_MAX) {
			r = attest_fail(ATTEST_E_PARSE, "\"scopes\": entry over %d bytes", MINT_SCOPE_MAX);
			goto out;
		}
		memcpy(o->want[i], want[i], strlen(want[i]) + 1);
	}
	o->nwant = (uint32_t)nwant;
	snprintf(o->task_id, sizeof(o->task_id), "%s", task_id != NULL ? task_id : "");
	r = ATTEST_OK;
out:
	for (size_t i = 0; i < nwant; i++)
		free(want[i]);
	return r;
}

/* A memory BIO's contents as a reply field; wipe: the field is a secret
 * (the BIO's buffer is the caller's to wipe). */
static int add_bio(cJSON *reply, const char *key, BIO *b, int wipe)
{
	char *data, *s;
	long n = BIO_get_mem_data(b, &data);
	int r = ATTEST_OK;

	if (n < 0 || (s = strndup(data, (size_t)n)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "%s", key);
	if (cJSON_AddStringToObject(reply, key, s) == NULL)
		r = attest_fail(ATTEST_E_NOMEM, "%s", key);
	if (wipe)
		OPENSSL_cleanse(s, strlen(s));
	free(s);
	return r;
}

/* The leaf's key as DER SubjectPublicKeyInfo into buf. */
static int spki_der(EVP_PKEY *k, uint8_t *buf, size_t bufsz, size_t *len)
{
	unsigned char *p = buf;
	int n = i2d_PUBKEY(k, NULL);

	if (n <= 0 || (size_t)n > bufsz || i2d_PUBKEY(k, &p) != n)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "leaf public key encoding");
	*len = (size_t)n;
	return ATTEST_OK;
}

int attestd_issue(const struct issue_backend *b, struct attest_intent_trust *trust,
		  const struct attestd_peer *peer, const cJSON *req, cJSON *reply)
{
	struct mint_order *o = calloc(1, sizeof(*o));
	struct mint_result res = { 0 };
	const char *mode = NULL, *csr = NULL, *intent = NULL, *renew = NULL;
	char *renewed = NULL, id[MINT_ID_MAX + 1];
	uint8_t spki[MINT_SPKI_MAX];
	EVP_PKEY *pub = NULL, *generated = NULL;
	X509 *agent_ca = NULL;
	BIO *keyb = NULL;
	int r;

	if (o == NULL)
		return attest_fail(ATTEST_E_NOMEM, "issue");
	if ((r = issue_parse(req, o, &mode, &csr, &intent, &renew)) != ATTEST_OK ||
	    (r = leaf_key(csr, &pub, &generated)) != ATTEST_OK ||
	    (r = spki_der(pub, spki, sizeof(spki), &o->spki_len)) != ATTEST_OK)
		goto out;
	o->spki = spki;
	if (intent != NULL || renew != NULL) {
		/* the chain is verified here, for the agent's ID; the monitor
		 * checks what it says against the registration */
		if ((r = b->agent_info(b->ctx, o->name, id, &agent_ca)) != ATTEST_OK)
			goto out;
		/* a renewal's chain was spent when the presented leaf was
		 * issued: verified in full again, not spent again */
		if (renew != NULL &&
		    (r = renewal_intent(o->name, id, agent_ca, renew, time(NULL), &renewed)) != ATTEST_OK)
			goto out;
		if ((r = intent_read(trust, id, renewed != NULL ? renewed : intent, time(NULL),
				     &o->in)) != ATTEST_OK)
			goto out;
		o->has_intent = 1;
	}
	if ((r = b->mint(b->ctx, peer, o, &res)) != ATTEST_OK)
		goto out;
	if (cJSON_AddStringToObject(reply, "chain", res.chain) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "reply");
		goto out;
	}
	if (generated != NULL) {
		if ((keyb = BIO_new(BIO_s_mem())) == NULL ||
		    PEM_write_bio_PrivateKey(keyb, generated, NULL, NULL, 0, NULL, NULL) != 1) {
			r = attest_fail_ossl(ATTEST_E_CRYPTO, "encode leaf key");
			goto out;
		}
		if ((r = add_bio(reply, "key", keyb, 1)) != ATTEST_OK)
			goto out;
	}
	if (cJSON_AddStringToObject(reply, "mode", mode) == NULL ||
	    cJSON_AddStringToObject(reply, "id", res.id) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "reply");
		goto out;
	}
	attestd_log("issued %s certificate to %s pid=%d uid=%u ttl=%lds scopes=[%s]%s%s%s", mode,
		    o->name, (int)res.pid, (unsigned)peer->uid, res.ttl, res.scopes,
		    o->has_intent ? " intent of user " : "", o->has_intent ? o->in.user : "",
		    !o->has_intent    ? ""
		    : o->renew	      ? " (renewed)"
		    : o->in.depth > 0 ? " (delegated)"
				      : " (granted)");
	r = ATTEST_OK;
out:
	if (keyb != NULL) {
		char *data;
		long n = BIO_get_mem_data(keyb, &data);

		if (n > 0)
			OPENSSL_cleanse(data, (size_t)n);
	}
	BIO_free(keyb);
	mint_result_clear(&res);
	X509_free(agent_ca);
	free(renewed);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(generated);
	free(o);
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
