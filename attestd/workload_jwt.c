/* workload_jwt.c - see workload_jwt.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/err.h"
#include "core/jws.h"
#include "core/json.h"
#include "auditlog.h"
#include "log.h"
#include "push.h"
#include "registry.h"
#include "workload_jwt.h"
#include "workload_mon.h"
#include "x509/x509.h"
#include "x509/x509agent.h"

#define KEY_LIFE (24 * 3600)
#define KEY_RENEW_LEFT (2 * 3600) /* a new key when less is left */
#define REFRESH_HINT 300

struct jwt_key {
	EVP_PKEY *key;
	X509 *cert;
	char kid[48];
	time_t not_after;
};

struct workload_jwt {
	struct jwt_key keys[JWT_KEYS_MAX]; /* [0] current, [1] previous */
	uint64_t sequence; /* spiffe_sequence: each new key */
};

static void key_clear(struct jwt_key *k)
{
	EVP_PKEY_free(k->key);
	X509_free(k->cert);
	memset(k, 0, sizeof(*k));
}

int workload_jwt_new(struct workload_jwt **out)
{
	*out = calloc(1, sizeof(**out));
	return *out != NULL ? ATTEST_OK : attest_fail(ATTEST_E_NOMEM, "JWT keys");
}

void workload_jwt_free(struct workload_jwt *j)
{
	if (j == NULL)
		return;
	for (int i = 0; i < JWT_KEYS_MAX; i++)
		key_clear(&j->keys[i]);
	free(j);
}

/* x and y of a P-256 key, 32 bytes each. */
static int ec_xy(EVP_PKEY *k, uint8_t x[32], uint8_t y[32])
{
	BIGNUM *bx = NULL, *by = NULL;
	int ok = EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &bx) == 1 &&
		 EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &by) == 1 &&
		 BN_bn2binpad(bx, x, 32) == 32 && BN_bn2binpad(by, y, 32) == 32;

	BN_free(bx);
	BN_free(by);
	return ok ? ATTEST_OK : attest_fail_ossl(ATTEST_E_CRYPTO, "JWT key coordinates");
}

/* kid: the RFC 7638 thumbprint (core/jws.h; the verifier recomputes it
 * from the key's certificate in the inventory report) */
static int jwk_thumbprint(EVP_PKEY *k, char kid[48])
{
	return attest_es256_jwk_thumbprint(k, kid);
}

/* A new key and its certificate from the host CA (the TPM signs). */
static int key_make(struct attestd *d, struct jwt_key *out)
{
	struct attest_signer hs = { attestd_host_sign, &d->host, d->host.key_pub, 0 };
	struct jwt_key k;
	time_t now = time(NULL), end = now + KEY_LIFE;
	int r;

	memset(&k, 0, sizeof(k));
	if ((k.key = EVP_EC_gen("P-256")) == NULL || (k.cert = X509_new()) == NULL ||
	    !X509_set_version(k.cert, X509_VERSION_3) || !X509_set_pubkey(k.cert, k.key) ||
	    !X509_set_issuer_name(k.cert, X509_get_subject_name(d->host.ca)) ||
	    X509_time_adj_ex(X509_getm_notBefore(k.cert), 0, -60, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(k.cert), 0, 0, &end) == NULL) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "JWT key certificate");
		goto out;
	}
	/* never past the host CA */
	if (X509_cmp_time(X509_get0_notAfter(d->host.ca), &end) < 0 &&
	    !X509_set1_notAfter(k.cert, X509_get0_notAfter(d->host.ca))) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "JWT key validity");
		goto out;
	}
	if ((r = attest_x509_random_serial(k.cert)) != ATTEST_OK ||
	    (r = attest_x509_set_name(X509_get_subject_name(k.cert), d->host.trust_domain,
				      "attestd JWT-SVID signer")) != ATTEST_OK ||
	    (r = attest_x509_add_ext(k.cert, d->host.ca, NID_basic_constraints,
				     "critical,CA:FALSE")) != ATTEST_OK ||
	    (r = attest_x509_add_ext(k.cert, d->host.ca, NID_key_usage,
				     "critical,digitalSignature")) != ATTEST_OK ||
	    (r = attest_x509_add_ext(k.cert, d->host.ca, NID_subject_key_identifier, "hash")) !=
		    ATTEST_OK ||
	    (r = attest_x509_add_ext(k.cert, d->host.ca, NID_authority_key_identifier,
				     "keyid:always")) != ATTEST_OK ||
	    (r = attest_x509_sign_with(k.cert, &hs)) != ATTEST_OK ||
	    (r = jwk_thumbprint(k.key, k.kid)) != ATTEST_OK)
		goto out;
	{
		int64_t t;

		if ((r = attest_asn1_time_unix(X509_get0_notAfter(k.cert), &t)) != ATTEST_OK)
			goto out;
		k.not_after = (time_t)t;
	}
	*out = k;
	memset(&k, 0, sizeof(k)); /* transferred */
out:
	ERR_clear_error();
	key_clear(&k);
	return r;
}

/* A current key good for ttl more seconds and 2 hours (or as long as the
 * host CA allows), made when not; the one it replaces stays as the
 * previous until it expires. */
static int keys_fresh(struct workload_jwt *j, struct attestd *d, long ttl)
{
	time_t now = time(NULL);
	struct jwt_key k;
	int r;

	if (j->keys[1].key != NULL && j->keys[1].not_after <= now)
		key_clear(&j->keys[1]);
	/* kept while it has 2 hours left, or while a new key could not end
	 * later (the host CA ends first: a new one would be no better) */
	if (j->keys[0].key != NULL &&
	    ((j->keys[0].not_after - now > ttl && j->keys[0].not_after - now > KEY_RENEW_LEFT) ||
	     X509_cmp_time(X509_get0_notAfter(d->host.ca), &j->keys[0].not_after) <= 0) &&
	    /* still the current host CA's (a renewed host key makes a new one) */
	    X509_verify(j->keys[0].cert, X509_get0_pubkey(d->host.ca)) == 1)
		return ATTEST_OK;
	ERR_clear_error();
	if ((r = attestd_host_tpm(&d->host)) != ATTEST_OK || (r = key_make(d, &k)) != ATTEST_OK)
		return r;
	key_clear(&j->keys[1]);
	j->keys[1] = j->keys[0];
	j->keys[0] = k;
	j->sequence++;
	/* the verifier learns the new key with the next inventory report
	 * (before it, it cannot validate tokens the key signs) */
	if (d->push != NULL)
		attestd_push_inventory_changed(d->push);
	attestd_log("JWT-SVID key %s made (certified by the host CA until %lld)", k.kid,
		    (long long)k.not_after);
	return ATTEST_OK;
}

int workload_jwt_mint(struct workload_jwt *j, struct attestd *d, const struct attestd_peer *peer,
		      const struct jwt_order *o, char id[MINT_ID_MAX + 1], char **token)
{
	char name[ATTEST_MAX_NAME + 1], header[128];
	const struct agent *a;
	cJSON *p = NULL, *aud = NULL;
	char *payload = NULL;
	size_t plen;
	time_t now;
	long ttl;
	int r;

	*token = NULL;
	id[0] = '\0';
	if (o->naud < 1 || o->naud > JWT_AUD_MAX)
		return attest_fail(ATTEST_E_INVALID_ARG, "a JWT-SVID needs 1 to %d audiences",
				   JWT_AUD_MAX);
	if ((r = attestd_workload_identify(d, peer, name)) != ATTEST_OK)
		return r;
	if ((a = registry_find(&d->reg, name)) == NULL)
		return attest_fail(ATTEST_E_AGENT_UNKNOWN, "agent %s went away", name);
	if (o->want_id[0] != '\0' && strcmp(o->want_id, a->id) != 0)
		return attest_fail(ATTEST_E_DENIED, "the caller is %s, not %s", a->id, o->want_id);
	ttl = a->max_ttl < d->hard_max_ttl ? a->max_ttl : d->hard_max_ttl;
	if (ttl > JWT_TTL_MAX)
		ttl = JWT_TTL_MAX;
	if ((r = keys_fresh(j, d, ttl)) != ATTEST_OK)
		return r;
	now = time(NULL);
	if (j->keys[0].not_after - now < ttl)
		ttl = (long)(j->keys[0].not_after - now);
	if (ttl < 1)
		return attest_fail(ATTEST_E_TTL, "the JWT key expires now");
	snprintf(header, sizeof(header), "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"JWT\"}",
		 j->keys[0].kid);
	if ((p = cJSON_CreateObject()) == NULL || (aud = cJSON_AddArrayToObject(p, "aud")) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "JWT payload");
		goto out;
	}
	for (uint32_t i = 0; i < o->naud; i++) {
		cJSON *s = cJSON_CreateString(o->aud[i]);

		if (s == NULL || !cJSON_AddItemToArray(aud, s)) {
			cJSON_Delete(s);
			r = attest_fail(ATTEST_E_NOMEM, "JWT payload");
			goto out;
		}
	}
	if (cJSON_AddNumberToObject(p, "exp", (double)(now + ttl)) == NULL ||
	    cJSON_AddNumberToObject(p, "iat", (double)now) == NULL ||
	    cJSON_AddStringToObject(p, "sub", a->id) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "JWT payload");
		goto out;
	}
	if ((r = attest_json_print(p, &payload, &plen)) != ATTEST_OK ||
	    (r = attest_jws_sign(j->keys[0].key, header, payload, JWT_TOKEN_MAX, token)) != ATTEST_OK)
		goto out;
	/* the caller once more: still the process measured, still connected;
	 * then the token's record (docs/audit.md "jwt-svid"), which the
	 * monitor commits before the token leaves */
	{
		const char *auds[JWT_AUD_MAX];

		for (uint32_t i = 0; i < o->naud; i++)
			auds[i] = o->aud[i];
		if ((r = attestd_peer_alive(peer)) != ATTEST_OK ||
		    (r = attestd_audit_jwt(&d->log, peer, a->id, auds, o->naud,
					   (int64_t)(now + ttl), j->keys[0].kid, *token)) !=
			    ATTEST_OK) {
			free(*token);
			*token = NULL;
			goto out;
		}
	}
	memcpy(id, a->id, strlen(a->id) + 1);
out:
	cJSON_Delete(p);
	free(payload);
	return r;
}

size_t workload_jwt_report_keys(struct workload_jwt *j, struct attest_report_jwtkey *out,
				size_t max)
{
	time_t now = time(NULL);
	size_t n = 0;

	for (int i = 0; i < JWT_KEYS_MAX && n < max; i++)
		if (j->keys[i].key != NULL && j->keys[i].not_after > now) {
			out[n].kid = j->keys[i].kid;
			out[n].cert = j->keys[i].cert;
			n++;
		}
	return n;
}

static int b64_der(X509 *x, cJSON *arr)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der), ok = 0;

	if (n > 0) {
		char *b = malloc(((size_t)n + 2) / 3 * 4 + 1);
		cJSON *s;

		if (b != NULL && EVP_EncodeBlock((unsigned char *)b, der, n) > 0 &&
		    (s = cJSON_CreateString(b)) != NULL)
			ok = cJSON_AddItemToArray(arr, s);
		free(b);
	}
	OPENSSL_free(der);
	return ok ? ATTEST_OK : attest_fail(ATTEST_E_NOMEM, "x5c");
}

int workload_jwt_bundle_put(struct workload_jwt *j, struct attestd *d, struct mon_out *m)
{
	cJSON *doc = cJSON_CreateObject(), *keys;
	char *text = NULL;
	size_t len;
	uint32_t n = 0;
	int r = ATTEST_OK;

	if ((r = keys_fresh(j, d, 0)) != ATTEST_OK)
		goto out;
	if (doc == NULL || (keys = cJSON_AddArrayToObject(doc, "keys")) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "JWKS");
		goto out;
	}
	for (int i = 0; i < JWT_KEYS_MAX && r == ATTEST_OK; i++) {
		struct jwt_key *k = &j->keys[i];
		uint8_t x[32], y[32];
		char *bx = NULL, *by = NULL;
		cJSON *jwk, *x5c = NULL;

		if (k->key == NULL)
			continue;
		if ((r = ec_xy(k->key, x, y)) != ATTEST_OK ||
		    (r = attest_b64url_encode(x, 32, &bx)) != ATTEST_OK ||
		    (r = attest_b64url_encode(y, 32, &by)) != ATTEST_OK) {
			free(bx);
			free(by);
			break;
		}
		if ((jwk = cJSON_CreateObject()) == NULL || !cJSON_AddItemToArray(keys, jwk) ||
		    !cJSON_AddStringToObject(jwk, "kty", "EC") ||
		    !cJSON_AddStringToObject(jwk, "crv", "P-256") ||
		    !cJSON_AddStringToObject(jwk, "x", bx) || !cJSON_AddStringToObject(jwk, "y", by) ||
		    !cJSON_AddStringToObject(jwk, "kid", k->kid) ||
		    !cJSON_AddStringToObject(jwk, "use", "jwt-svid") ||
		    (x5c = cJSON_AddArrayToObject(jwk, "x5c")) == NULL)
			r = attest_fail(ATTEST_E_NOMEM, "JWKS");
		free(bx);
		free(by);
		/* the key's certificate, the host CA, the issuing CA: to the fleet root */
		if (r == ATTEST_OK && ((r = b64_der(k->cert, x5c)) != ATTEST_OK ||
				       (r = b64_der(d->host.ca, x5c)) != ATTEST_OK ||
				       (sk_X509_num(d->host.issuing) > 0 &&
					(r = b64_der(sk_X509_value(d->host.issuing, 0), x5c)) !=
						ATTEST_OK)))
			break;
		n++;
	}
	if (r != ATTEST_OK)
		goto out;
	if (!cJSON_AddNumberToObject(doc, "spiffe_sequence", (double)j->sequence) ||
	    !cJSON_AddNumberToObject(doc, "spiffe_refresh_hint", REFRESH_HINT)) {
		r = attest_fail(ATTEST_E_NOMEM, "JWKS");
		goto out;
	}
	if ((r = attest_json_print(doc, &text, &len)) != ATTEST_OK)
		goto out;
	mon_put_str(m, text);
	mon_put_u32(m, n);
	for (int i = 0; i < JWT_KEYS_MAX; i++) {
		unsigned char *der = NULL;
		int dn;

		if (j->keys[i].key == NULL)
			continue;
		if ((dn = i2d_PUBKEY(j->keys[i].key, &der)) <= 0) {
			r = attest_fail_ossl(ATTEST_E_CRYPTO, "JWT key encoding");
			break;
		}
		mon_put_str(m, j->keys[i].kid);
		mon_put_bytes(m, der, (size_t)dn);
		OPENSSL_free(der);
	}
out:
	cJSON_Delete(doc);
	free(text);
	return r;
}
