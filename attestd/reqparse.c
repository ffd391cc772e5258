/* reqparse.c - see reqparse.h. */
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "attest/client.h"
#include "core/err.h"
#include "core/json.h"
#include "measure/measure.h"
#include "registry.h"
#include "reqparse.h"
#include "request.h"
#include "x509/x509.h"
#include "x509/x509agent.h"

int attestd_csr_key(const char *pem, size_t len, EVP_PKEY **pub)
{
	BIO *b = NULL;
	X509_REQ *req = NULL;
	EVP_PKEY *k;
	char curve[32] = "";
	int r, ec;

	*pub = NULL;
	if (len > ATTESTD_CSR_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "CSR over %d bytes", ATTESTD_CSR_MAX);
	if ((b = BIO_new_mem_buf(pem, (int)len)) == NULL ||
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
	ec = EVP_PKEY_is_a(k, "EC") &&
	     EVP_PKEY_get_utf8_string_param(k, "group", curve, sizeof(curve), NULL) == 1 &&
	     (strcmp(curve, "prime256v1") == 0 || strcmp(curve, "secp384r1") == 0);
	if (!ec && !(EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) >= 2048)) {
		r = attest_fail(ATTEST_E_CSR, "CSR key must be ECDSA P-256/P-384 or RSA >= 2048");
		goto out;
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
int attestd_renewal_leaf(const char *name, const char *id, X509 *agent_ca, const char *pem,
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
	ERR_clear_error();
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		/* the whole chain attestd returned: leaf, session issuer,
		 * agent CA, host CA, issuing CA */
		if (sk_X509_num(certs) == 5 || sk_X509_push(certs, x) <= 0) {
			X509_free(x);
			r = attest_fail(ATTEST_E_PARSE, "renew: over 5 certificates");
			goto out;
		}
	}
	/* only the end of the input may stop the loop: a certificate that
	 * does not parse is refused, not the rest of the field ignored */
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
		r = attest_fail_ossl(ATTEST_E_PARSE, "renew: a certificate does not parse");
		goto out;
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

/* "dns_names" (optional): 1..AGENT_MAX_DNS names a leaf may carry
 * (attest_dns_name_ok), none twice, into o. Whether the agent registered
 * them is mint.c's question. */
static int dns_names_parse(const cJSON *req, struct mint_order *o)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(req, "dns_names"), *it;
	const char *why = "";

	o->ndns = 0;
	if (arr == NULL)
		return ATTEST_OK;
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
		return attest_fail(ATTEST_E_PARSE, "\"dns_names\" must be a non-empty array of "
				   "strings (leave it out for none)");
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it))
			return attest_fail(ATTEST_E_PARSE, "\"dns_names\": entries must be strings");
		if (o->ndns >= AGENT_MAX_DNS)
			return attest_fail(ATTEST_E_TOO_LARGE, "\"dns_names\": more than %d names",
					   AGENT_MAX_DNS);
		if (!attest_dns_name_ok(it->valuestring, &why))
			return attest_fail(ATTEST_E_DNS_NAME_INVALID, "DNS name \"%.260s\" %s",
					   it->valuestring, why);
		for (uint32_t j = 0; j < o->ndns; j++)
			if (strcmp(o->dns[j], it->valuestring) == 0)
				return attest_fail(ATTEST_E_DNS_NAME_INVALID,
						   "DNS name \"%s\" given twice", it->valuestring);
		memcpy(o->dns[o->ndns++], it->valuestring, strlen(it->valuestring) + 1);
	}
	return ATTEST_OK;
}

/* The request's fields into o (nothing read from the registry or the
 * system). csr, intent and renew point into req. */
int attestd_issue_parse(const cJSON *req, struct mint_order *o, const char **mode,
			const char **csr, const char **intent, const char **renew)
{
	static const char *const keys[] = { "op", "agent", "mode", "ttl", "scopes", "task_id",
					    "csr", "intent", "renew", "parent", "dns_names", NULL };
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
	    (r = opt_str(req, "csr", ATTESTD_CSR_MAX, csr)) != ATTEST_OK ||
	    (r = opt_str(req, "intent", ATTEST_INTENT_TOKEN_MAX, intent)) != ATTEST_OK ||
	    (r = opt_str(req, "renew", ATTEST_RENEW_PEM_MAX, renew)) != ATTEST_OK ||
	    (r = int_field(req, "ttl", 1, 86400, &ttl)) != ATTEST_OK ||
	    (r = str_list(req, "scopes", valid_scope, want, AGENT_MAX_SCOPES, &nwant)) != ATTEST_OK ||
	    (r = dns_names_parse(req, o)) != ATTEST_OK)
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

