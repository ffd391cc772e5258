/* spiffe_http.c - GET /v1/spiffe/bundle: the fleet's trust bundle in the
 * SPIFFE bundle format (SPIFFE Trust Domain and Bundle specification;
 * docs/spiffe.md, docs/verifier-api.md): a JWKS whose first key is the
 * fleet root's public key with "use": "x509-svid" and the root as x5c,
 * then the JWT-SVID keys of every host that is not revoked ("use":
 * "jwt-svid", kid, x5c the key's certificate), plus
 * spiffe_sequence and spiffe_refresh_hint. No caller certificate is
 * needed (a bundle is public; the https_web profile's relying party
 * authenticates the verifier by its TLS certificate).
 *
 * POST /v1/spiffe/validate-jwt: a resource server's JWT-SVID check
 * (jwtsvid.h for the token; here the key's host and the posture rule of
 * decisions), audited like a decision. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/err.h"
#include "core/json.h"
#include "core/jws.h"
#include "core/num.h"
#include "jwtsvid.h"
#include "x509/x509agent.h"
#include "vsrv.h"
#include "x509/x509.h"

#define REFRESH_HINT 300
#define SEQ_KEY "spiffe_jwt_sequence"
#define BUNDLE_JWT_KEYS_MAX 4096 /* keys listed: 2 per host, 2048 hosts */

/* The bundle changed (a JWT key came or went, a host with keys was
 * revoked): spiffe_sequence moves to max(last + 1, now), stored so that
 * every replica serves the same or a later one. */
int vs_spiffe_bump(struct vsrv *s)
{
	char v[32];
	uint64_t last = 0, next;
	int r = s->store->ops->setting_get(s->store, SEQ_KEY, v, sizeof(v));

	if (r == ATTEST_OK && attest_parse_u64(v, 0, UINT64_MAX / 2, &last) != ATTEST_OK)
		return attest_fail(ATTEST_E_STORE_DAMAGED, "stored %s", SEQ_KEY);
	if (r != ATTEST_OK && r != ATTEST_E_NOT_FOUND)
		return r;
	next = (uint64_t)vs_now() > last ? (uint64_t)vs_now() : last + 1;
	(void)snprintf(v, sizeof(v), "%llu", (unsigned long long)next);
	return s->store->ops->setting_put(s->store, SEQ_KEY, v);
}

/* member name = base64url of the big-endian bignum param, padded to pad
 * bytes (EC coordinates) or unpadded (pad 0: RSA n, e) */
static int add_bn(cJSON *jwk, const char *name, EVP_PKEY *k, const char *param, int pad)
{
	BIGNUM *bn = NULL;
	uint8_t buf[1024];
	char *b = NULL;
	int n, ok = 0;

	if (EVP_PKEY_get_bn_param(k, param, &bn) == 1 &&
	    (n = pad > 0 ? (BN_num_bytes(bn) <= pad ? pad : -1) : BN_num_bytes(bn)) > 0 &&
	    (size_t)n <= sizeof(buf) && BN_bn2binpad(bn, buf, n) == n &&
	    attest_b64url_encode(buf, (size_t)n, &b) == ATTEST_OK)
		ok = cJSON_AddStringToObject(jwk, name, b) != NULL;
	BN_free(bn);
	free(b);
	return ok ? ATTEST_OK : attest_fail_ossl(ATTEST_E_CRYPTO, "bundle key %s", name);
}

/* The root's public key as a JWK (EC P-256/P-384 or RSA). */
static int root_jwk(X509 *root, cJSON *jwk)
{
	EVP_PKEY *k = X509_get0_pubkey(root);
	char group[32] = "";

	if (k == NULL)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "fleet root key");
	if (EVP_PKEY_is_a(k, "EC")) {
		const char *crv;
		int sz;

		if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), NULL) != 1)
			return attest_fail_ossl(ATTEST_E_CRYPTO, "fleet root curve");
		if (strcmp(group, "prime256v1") == 0)
			crv = "P-256", sz = 32;
		else if (strcmp(group, "secp384r1") == 0)
			crv = "P-384", sz = 48;
		else
			return attest_fail(ATTEST_E_CRYPTO, "fleet root curve %s has no JWK name", group);
		if (!cJSON_AddStringToObject(jwk, "kty", "EC") ||
		    !cJSON_AddStringToObject(jwk, "crv", crv))
			return attest_fail(ATTEST_E_NOMEM, "bundle");
		return add_bn(jwk, "x", k, OSSL_PKEY_PARAM_EC_PUB_X, sz) == ATTEST_OK
			       ? add_bn(jwk, "y", k, OSSL_PKEY_PARAM_EC_PUB_Y, sz)
			       : ATTEST_E_CRYPTO;
	}
	if (EVP_PKEY_is_a(k, "RSA")) {
		if (!cJSON_AddStringToObject(jwk, "kty", "RSA"))
			return attest_fail(ATTEST_E_NOMEM, "bundle");
		return add_bn(jwk, "n", k, OSSL_PKEY_PARAM_RSA_N, 0) == ATTEST_OK
			       ? add_bn(jwk, "e", k, OSSL_PKEY_PARAM_RSA_E, 0)
			       : ATTEST_E_CRYPTO;
	}
	return attest_fail(ATTEST_E_CRYPTO, "fleet root key type has no JWK form");
}

/* ---- JWT-SVID keys ---- */

/* A stored key's certificate, current now: its public key (a new
 * reference). */
static int stored_key(const struct vjwtkey *k, X509 **cert, EVP_PKEY **key)
{
	X509 *c = NULL;
	int r;

	*key = NULL;
	if (cert != NULL)
		*cert = NULL;
	if ((r = attest_x509_from_pem(k->cert, strlen(k->cert), &c)) != ATTEST_OK)
		return attest_fail_wrap(ATTEST_E_STORE_DAMAGED, "stored JWT key %s", k->kid);
	if (X509_cmp_time(X509_get0_notBefore(c), NULL) > 0 ||
	    X509_cmp_time(X509_get0_notAfter(c), NULL) <= 0) {
		X509_free(c);
		ERR_clear_error();
		return attest_fail(ATTEST_E_JWT_KID, "JWT key %s of host %s is outside its validity",
				   k->kid, k->host);
	}
	if ((*key = X509_get_pubkey(c)) == NULL || !attest_es256_key_ok(*key)) {
		EVP_PKEY_free(*key);
		*key = NULL;
		X509_free(c);
		ERR_clear_error();
		return attest_fail(ATTEST_E_STORE_DAMAGED, "stored JWT key %s is not P-256", k->kid);
	}
	if (cert != NULL)
		*cert = c;
	else
		X509_free(c);
	return ATTEST_OK;
}

struct jwk_walk {
	struct vjwtkey *keys; /* BUNDLE_JWT_KEYS_MAX */
	size_t n;
};

static int collect_key(void *arg, const struct vjwtkey *k)
{
	struct jwk_walk *w = arg;

	if (w->n >= BUNDLE_JWT_KEYS_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "over %d JWT keys", BUNDLE_JWT_KEYS_MAX);
	w->keys[w->n++] = *k;
	return ATTEST_OK;
}

static int b64_der_add(X509 *x, cJSON *arr)
{
	unsigned char *der = NULL;
	char *b = NULL;
	int n = i2d_X509(x, &der), r;

	if (n <= 0) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "x5c");
		goto out;
	}
	if ((r = attest_b64_encode(der, (size_t)n, &b)) != ATTEST_OK)
		goto out;
	if (!cJSON_AddItemToArray(arr, cJSON_CreateString(b)))
		r = attest_fail(ATTEST_E_NOMEM, "x5c");
out:
	OPENSSL_free(der);
	free(b);
	return r;
}

/* Every current JWT key of a host that is not revoked, as a JWK with
 * kid, use jwt-svid and x5c (the key's certificate, which its host CA
 * signed). */
static int add_jwt_keys(struct vsrv *s, cJSON *keys)
{
	struct jwk_walk w = { 0 };
	struct vhost h;
	int r;

	if ((w.keys = calloc(BUNDLE_JWT_KEYS_MAX, sizeof(*w.keys))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "bundle");
	if ((r = s->store->ops->jwt_key_list(s->store, collect_key, &w)) != ATTEST_OK)
		goto out;
	for (size_t i = 0; i < w.n; i++) {
		const struct vjwtkey *k = &w.keys[i];
		X509 *c = NULL;
		EVP_PKEY *pk = NULL;
		cJSON *jwk = NULL, *x5c;

		/* a host enrolled but not yet quoted has no row: not revoked
		 * (vs_host_not_revoked); validation still wants it trusted */
		r = s->store->ops->host_get(s->store, k->host, &h);
		if (r == ATTEST_OK && h.revoked)
			continue;
		if (r != ATTEST_OK && r != ATTEST_E_NOT_FOUND)
			goto out;
		if (stored_key(k, &c, &pk) != ATTEST_OK) /* expired: not served */
			continue;
		if ((jwk = cJSON_CreateObject()) == NULL || !cJSON_AddItemToArray(keys, jwk)) {
			cJSON_Delete(jwk);
			r = attest_fail(ATTEST_E_NOMEM, "bundle");
		} else if (!cJSON_AddStringToObject(jwk, "use", "jwt-svid") ||
			   !cJSON_AddStringToObject(jwk, "kty", "EC") ||
			   !cJSON_AddStringToObject(jwk, "crv", "P-256")) {
			r = attest_fail(ATTEST_E_NOMEM, "bundle");
		} else if ((r = add_bn(jwk, "x", pk, OSSL_PKEY_PARAM_EC_PUB_X, 32)) == ATTEST_OK &&
			   (r = add_bn(jwk, "y", pk, OSSL_PKEY_PARAM_EC_PUB_Y, 32)) == ATTEST_OK) {
			if (!cJSON_AddStringToObject(jwk, "kid", k->kid) ||
			    (x5c = cJSON_AddArrayToObject(jwk, "x5c")) == NULL)
				r = attest_fail(ATTEST_E_NOMEM, "bundle");
			else
				r = b64_der_add(c, x5c);
		}
		EVP_PKEY_free(pk);
		X509_free(c);
		if (r != ATTEST_OK)
			goto out;
	}
	r = ATTEST_OK;
out:
	free(w.keys);
	return r;
}

void vs_spiffe_bundle(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt,
		      const struct vcaller *who)
{
	cJSON *o = cJSON_CreateObject(), *keys, *jwk, *x5c;
	unsigned char *der = NULL;
	char *b64 = NULL;
	int64_t seq = 0;
	int n, r = ATTEST_E_NOMEM;

	(void)rt, (void)who; /* every handler has the route signature */
	if (o == NULL || (keys = cJSON_AddArrayToObject(o, "keys")) == NULL ||
	    (jwk = cJSON_CreateObject()) == NULL)
		goto fail;
	if (!cJSON_AddItemToArray(keys, jwk)) {
		cJSON_Delete(jwk);
		goto fail;
	}
	if (!cJSON_AddStringToObject(jwk, "use", "x509-svid") ||
	    (r = root_jwk(s->root, jwk)) != ATTEST_OK)
		goto fail;
	r = ATTEST_E_CRYPTO;
	if ((n = i2d_X509(s->root, &der)) <= 0 ||
	    (b64 = malloc(((size_t)n + 2) / 3 * 4 + 1)) == NULL ||
	    EVP_EncodeBlock((unsigned char *)b64, der, n) <= 0 ||
	    (x5c = cJSON_AddArrayToObject(jwk, "x5c")) == NULL ||
	    !cJSON_AddItemToArray(x5c, cJSON_CreateString(b64)))
		goto fail;
	if ((r = add_jwt_keys(s, keys)) != ATTEST_OK)
		goto fail;
	/* the sequence moves when the root does (its notBefore) and when the
	 * JWT keys do (vs_spiffe_bump): the larger */
	if ((r = attest_asn1_time_unix(X509_get0_notBefore(s->root), &seq)) != ATTEST_OK)
		goto fail;
	{
		char v[32];
		uint64_t js = 0;

		r = s->store->ops->setting_get(s->store, SEQ_KEY, v, sizeof(v));
		if (r == ATTEST_OK && attest_parse_u64(v, 0, UINT64_MAX / 2, &js) != ATTEST_OK)
			r = attest_fail(ATTEST_E_STORE_DAMAGED, "stored %s", SEQ_KEY);
		if (r != ATTEST_OK && r != ATTEST_E_NOT_FOUND)
			goto fail;
		if ((int64_t)js > seq)
			seq = (int64_t)js;
	}
	if (!cJSON_AddNumberToObject(o, "spiffe_sequence", (double)seq) ||
	    !cJSON_AddNumberToObject(o, "spiffe_refresh_hint", REFRESH_HINT)) {
		r = ATTEST_E_NOMEM;
		goto fail;
	}
	vs_reply_obj(s, req, 200, o);
	goto out;
fail:
	ERR_clear_error();
	vs_reply_err(s, req, 500, r, "bundle");
out:
	OPENSSL_free(der);
	free(b64);
	cJSON_Delete(o);
}

/* ---- POST /v1/spiffe/validate-jwt ---- */

struct key_look {
	struct vsrv *s;
	char host[VSTORE_NAME_MAX];
};

static int look_key(void *arg, const char *kid, EVP_PKEY **key)
{
	struct key_look *l = arg;
	struct vjwtkey k;
	int r = l->s->store->ops->jwt_key_get(l->s->store, kid, &k);

	if (r == ATTEST_E_NOT_FOUND)
		return attest_fail(ATTEST_E_JWT_KID, "kid %.47s is no host's JWT-SVID key", kid);
	if (r != ATTEST_OK)
		return r;
	(void)snprintf(l->host, sizeof(l->host), "%s", k.host);
	return stored_key(&k, NULL, key);
}

/* The posture rule of decisions (libattest/decide: host_facts,
 * agent_facts): sub is an agent of the key's host, the agent known, not
 * revoked and approved (when approval is required), the host not revoked
 * and attested as trusted. */
static int posture(struct vsrv *s, const char *sub, const char *host)
{
	struct vagent a;
	struct vhost h;
	int r;

	r = s->store->ops->agent_get(s->store, sub, &a);
	if (r == ATTEST_E_NOT_FOUND)
		return attest_fail(ATTEST_E_JWT_SUBJECT,
				   "sub %.300s is no agent in the inventory (key of host %s)", sub,
				   host);
	if (r != ATTEST_OK)
		return r;
	if (strcmp(a.host, host) != 0)
		return attest_fail(ATTEST_E_JWT_SUBJECT,
				   "sub %.300s is an agent of host %s, the key is host %s's", sub,
				   a.host, host);
	if ((r = s->store->ops->host_get(s->store, host, &h)) == ATTEST_E_NOT_FOUND)
		return attest_fail(ATTEST_E_HOST_UNKNOWN, "host %s is not enrolled", host);
	if (r != ATTEST_OK)
		return r;
	if (h.revoked)
		return attest_fail(ATTEST_E_REVOKED, "host %s is revoked", host);
	if (a.revoked)
		return attest_fail(ATTEST_E_REVOKED, "agent %.300s is revoked", sub);
	if (!a.approved && s->approval_required)
		return attest_fail(ATTEST_E_NOT_APPROVED, "agent %.300s awaits operator approval",
				   sub);
	if (h.state != VHOST_TRUSTED)
		return attest_fail(ATTEST_E_HOST_UNTRUSTED, "host %s is not attested as trusted",
				   host);
	return ATTEST_OK;
}

static const char *const vj_keys_body[] = { "token", "audience", NULL };

void vs_spiffe_validate(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt,
			const struct vcaller *who)
{
	cJSON *in = NULL, *o = NULL;
	const char *token = NULL, *audience = NULL;
	struct vj_result res = { 0 };
	struct key_look look = { .s = s };
	struct attest_audit_event ev = { 0 };
	const char *agents[1];
	char td[256], reason[600], action[100], sha[65] = "";
	uint8_t md[32];
	int r, code;

	if ((r = vs_body_json(req, rt->body_cap, vj_keys_body, &in, NULL)) != ATTEST_OK ||
	    (r = attest_json_str(in, "token", VJ_TOKEN_MAX, &token)) != ATTEST_OK ||
	    (r = attest_json_str(in, "audience", VJ_AUD_MAX, &audience)) != ATTEST_OK)
		goto bad;
	if (audience[0] == '\0') {
		r = attest_fail(ATTEST_E_INVALID_ARG, "audience is empty");
		goto bad;
	}
	if ((r = attest_x509_ca_trust_domain(s->root, td)) != ATTEST_OK)
		goto bad;
	/* the token, then the key's host and the posture: code is the reason */
	attest_errclear();
	code = vj_validate(token, strlen(token), td, audience, vs_now(), look_key, &look, &res);
	if (code == ATTEST_OK)
		code = posture(s, res.sub, look.host);
	if (code == ATTEST_E_IO || code == ATTEST_E_NOMEM || code == ATTEST_E_STORE_DAMAGED) {
		r = code; /* the verifier's failure, not the token's */
		goto bad;
	}
	(void)snprintf(reason, sizeof(reason), "%s%s%s", attest_errname(code),
		       code != ATTEST_OK ? ": " : "", code != ATTEST_OK ? attest_errdetail() : "");
	if ((o = cJSON_CreateObject()) == NULL ||
	    !cJSON_AddBoolToObject(o, "valid", code == ATTEST_OK) ||
	    !cJSON_AddStringToObject(o, "reason", attest_errname(code)) ||
	    !cJSON_AddStringToObject(o, "detail", code == ATTEST_OK ? "" : attest_errdetail()) ||
	    !cJSON_AddStringToObject(o, "spiffe_id", res.sub) ||
	    !cJSON_AddStringToObject(o, "host", look.host) ||
	    !cJSON_AddStringToObject(o, "kid", res.kid) ||
	    !cJSON_AddStringToObject(o, "replica", s->replica)) {
		r = attest_fail(ATTEST_E_NOMEM, "reply");
		goto bad;
	}
	if (code == ATTEST_OK) {
		cJSON_AddItemToObject(o, "claims", res.claims);
		res.claims = NULL; /* transferred */
		s->m.jwt_valid++;
	} else {
		s->m.jwt_refused++;
	}
	/* its record, like a decision's: caller, agent, host, audience,
	 * outcome, reason; the answer goes out once it is durable */
	ev.type = "jwt-validate";
	ev.host = look.host[0] ? look.host : NULL;
	ev.source = who->name;
	agents[0] = res.sub;
	ev.agents = agents;
	ev.nagents = res.sub[0] ? 1 : 0;
	(void)snprintf(action, sizeof(action), "validate-jwt%s%.60s", res.kid[0] ? " kid=" : "",
		       res.kid);
	if (EVP_Digest(token, strlen(token), md, NULL, EVP_sha256(), NULL) == 1)
		attest_hex(md, sizeof(md), sha);
	ev.action = action;
	ev.resource = audience;
	ev.outcome = code == ATTEST_OK ? "allow" : "deny";
	ev.reason = reason;
	ev.cert_sha256 = sha[0] ? sha : NULL; /* the token's, as attestd's jwt-svid record */
	vs_audited_reply(s, req, code == ATTEST_OK ? 200 : 403, o, &ev);
	r = ATTEST_OK;
	goto out;
bad:
	vs_reply_err(s, req, vs_status_of(r), r, "JWT-SVID validation request refused");
out:
	vj_result_clear(&res);
	cJSON_Delete(o);
	cJSON_Delete(in);
}
