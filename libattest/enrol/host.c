/* host.c - the host's side of enrolment and renewal (attestctl host).
 *
 * State dir (0700):
 *   enrol.json     an enrolment in progress: host, EK kind, the new host key
 *                  blob and its creation data/ticket (0600)
 *   identity.json  the enrolled identity in ONE file, so it changes with one
 *                  rename: host, trust domain, EK kind, host key blob, host
 *                  CA certificate, issuing CA bundle (its issuer first),
 *                  fleet root (0600)
 *   host-ca.pem, issuing-ca.pem, root.pem  copies for operators and tools
 *                  (0644); the daemon and libattest read identity.json only
 * A re-enrolment keeps the identity in use until its finish commits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>

#include "enrol/enrol.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "tpm/tpm.h"
#include "tpm/tpmjson.h"
#include "tpm/tpmsw.h"
#include "x509/x509.h"
#include "x509/x509agent.h"

#define STATE_FILE_CAP (64 * 1024)


#define PENDING "enrol.json"
#define IDENTITY "identity.json"

static int state_path(const char *dir, const char *name, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= outsz)
		return attest_fail(ATTEST_E_INVALID_ARG, "state path too long");
	return ATTEST_OK;
}

static int state_load(const char *dir, const char *name, cJSON **out)
{
	char path[4096];
	uint8_t *buf = NULL;
	size_t len;
	int r;

	*out = NULL;
	if ((r = state_path(dir, name, path, sizeof(path))) != ATTEST_OK ||
	    (r = attest_file_read(path, STATE_FILE_CAP, &buf, &len)) != ATTEST_OK)
		return r;
	r = attest_json_parse(buf, len, STATE_FILE_CAP, out);
	free(buf);
	return r;
}

static int state_save(const char *dir, const char *name, const void *data, size_t len,
		      mode_t mode)
{
	char path[4096];
	int r;

	if ((r = state_path(dir, name, path, sizeof(path))) != ATTEST_OK)
		return r;
	return attest_file_write_atomic(path, data, len, mode);
}

static int state_save_json(const char *dir, const char *name, const cJSON *obj)
{
	char *s = NULL;
	size_t len;
	int r;

	if ((r = attest_json_print(obj, &s, &len)) != ATTEST_OK)
		return r;
	r = state_save(dir, name, s, len, 0600);
	free(s);
	return r;
}

int attest_host_enrol_begin(struct attest_tpm *t, const char *state_dir, const char *host,
			    const char *token, enum attest_ek_kind kind, char **out)
{
	TPM2B_PUBLIC ek, ak;
	struct attest_tpm_key key;
	struct attest_tpm_creation cr;
	uint8_t *cert = NULL;
	size_t cert_len;
	cJSON *req = NULL, *pending = NULL;
	EVP_PKEY *ek_pkey = NULL;
	X509 *ek_x509 = NULL;
	const unsigned char *p;
	int r;

	*out = NULL;
	if (!attest_valid_hostname(host))
		return attest_fail(ATTEST_E_INVALID_ARG,
				   "host name \"%.64s\" must be " ATTEST_NAME_RULE, host);
	if ((r = attest_dir_ensure(state_dir, 0700)) != ATTEST_OK)
		return r;
	if (kind == ATTEST_EK_NONE && (r = attest_tpm_ek_detect(t, &kind)) != ATTEST_OK)
		return r;
	if ((r = attest_tpm_ek_cert(t, kind, &cert, &cert_len)) != ATTEST_OK ||
	    (r = attest_ek_cert_unwrap(cert, &cert_len)) != ATTEST_OK ||
	    (r = attest_tpm_ek_public(t, kind, &ek)) != ATTEST_OK)
		goto out;
	/* Catch a TPM whose EK does not match its own certificate here, with a
	 * clear message, rather than as a refusal from the CA. */
	p = cert;
	if ((ek_x509 = d2i_X509(NULL, &p, (long)cert_len)) == NULL ||
	    (r = attest_tpm_pub_to_pkey(&ek, &ek_pkey)) != ATTEST_OK) {
		r = r != ATTEST_OK ? r : attest_fail_ossl(ATTEST_E_PARSE, "EK certificate in NV");
		goto out;
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(ek_x509), ek_pkey) != 1) {
		r = attest_fail(ATTEST_E_EK_MISMATCH,
				"EK recreated from the %s template differs from the key in its "
				"NV certificate", attest_ek_kind_name(kind));
		goto out;
	}
	if ((r = attest_tpm_ak_public(t, &ak)) != ATTEST_OK ||
	    (r = attest_tpm_create_signkey(t, NULL, NULL, &key, &cr)) != ATTEST_OK)
		goto out;
	if ((pending = cJSON_CreateObject()) == NULL || (req = cJSON_CreateObject()) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "enrolment state");
		goto out;
	}
	if ((r = attest_json_add_TPM2B_PUBLIC(pending, "key_public", &key.pub)) != ATTEST_OK ||
	    (r = attest_json_add_TPM2B_PRIVATE(pending, "key_private", &key.priv)) != ATTEST_OK ||
	    (r = attest_json_add_str(pending, "host", host)) != ATTEST_OK ||
	    (r = attest_json_add_str(pending, "ek_kind", attest_ek_kind_name(kind))) != ATTEST_OK ||
	    (r = attest_json_add_TPM2B_CREATION_DATA(pending, "creation_data", &cr.data)) != ATTEST_OK ||
	    (r = attest_json_add_TPM2B_DIGEST(pending, "creation_hash", &cr.hash)) != ATTEST_OK ||
	    (r = attest_json_add_TPMT_TK_CREATION(pending, "creation_ticket", &cr.ticket)) != ATTEST_OK)
		goto out;
	if ((r = state_save_json(state_dir, PENDING, pending)) != ATTEST_OK)
		goto out;
	if ((r = attest_json_add_str(req, "type", "enrol-request")) != ATTEST_OK ||
	    (r = attest_json_add_str(req, "version", "1")) != ATTEST_OK ||
	    (r = attest_json_add_str(req, "host", host)) != ATTEST_OK ||
	    (token != NULL && (r = attest_json_add_str(req, "token", token)) != ATTEST_OK) ||
	    (r = attest_json_add_str(req, "ek_kind", attest_ek_kind_name(kind))) != ATTEST_OK ||
	    (r = attest_json_add_TPM2B_PUBLIC(req, "ek_public", &ek)) != ATTEST_OK ||
	    (r = attest_json_add_b64(req, "ek_cert", cert, cert_len)) != ATTEST_OK ||
	    (r = attest_json_add_TPM2B_PUBLIC(req, "ak_public", &ak)) != ATTEST_OK ||
	    (r = attest_json_add_TPM2B_PUBLIC(req, "key_public", &key.pub)) != ATTEST_OK ||
	    (r = attest_json_print(req, out, NULL)) != ATTEST_OK)
		goto out;
	r = ATTEST_OK;
out:
	X509_free(ek_x509);
	EVP_PKEY_free(ek_pkey);
	free(cert);
	cJSON_Delete(req);
	cJSON_Delete(pending);
	return r;
}

static int load_hostkey(const char *dir, const char *file, struct attest_tpm_key *key)
{
	cJSON *rec = NULL;
	int r;

	if ((r = state_load(dir, file, &rec)) != ATTEST_OK)
		return r;
	if ((r = attest_json_get_TPM2B_PUBLIC(rec, "key_public", &key->pub)) == ATTEST_OK)
		r = attest_json_get_TPM2B_PRIVATE(rec, "key_private", &key->priv);
	cJSON_Delete(rec);
	return r;
}

int attest_host_enrol_answer(struct attest_tpm *t, const char *state_dir, const void *msg,
			     size_t len, char **out)
{
	static const char *const keys[] = { "type", "version", "challenge_id", "credential_blob",
					    "encrypted_secret", "expires", NULL };
	cJSON *ch = NULL, *pending = NULL, *resp = NULL;
	const char *id_hex, *type, *ver, *kind_name;
	TPM2B_ID_OBJECT blob;
	TPM2B_ENCRYPTED_SECRET enc;
	TPM2B_DIGEST secret = { 0 };
	struct attest_tpm_key key;
	struct attest_tpm_creation cr;
	struct attest_pcrs pcrs;
	TPM2B_ATTEST cinfo, quote;
	TPMT_SIGNATURE csig, qsig;
	uint8_t qual[32], cdata[sizeof(TPMS_CREATION_DATA)], values[24 * 32];
	size_t cdata_len = 0, nvals = 0;
	enum attest_ek_kind kind;
	TSS2_RC rc;
	int r;

	*out = NULL;
	if ((r = attest_json_parse(msg, len, ATTEST_ENROL_MSG_CAP, &ch)) != ATTEST_OK ||
	    (r = attest_json_only(ch, keys)) != ATTEST_OK ||
	    (r = attest_json_str(ch, "type", 32, &type)) != ATTEST_OK ||
	    (r = attest_json_str(ch, "version", 8, &ver)) != ATTEST_OK)
		goto out;
	if (strcmp(type, "enrol-challenge") != 0 || strcmp(ver, "1") != 0) {
		r = attest_fail(ATTEST_E_PARSE, "not an enrol-challenge version 1 message");
		goto out;
	}
	if ((r = attest_json_str(ch, "challenge_id", 32, &id_hex)) != ATTEST_OK ||
	    (r = attest_json_get_TPM2B_ID_OBJECT(ch, "credential_blob", &blob)) != ATTEST_OK ||
	    (r = attest_json_get_TPM2B_ENCRYPTED_SECRET(ch, "encrypted_secret", &enc)) != ATTEST_OK)
		goto out;
	if ((r = state_load(state_dir, PENDING, &pending)) != ATTEST_OK) {
		if (r == ATTEST_E_NOT_FOUND)
			r = attest_fail(ATTEST_E_STATE, "no enrolment in progress in %s", state_dir);
		goto out;
	}
	if ((r = attest_json_str(pending, "ek_kind", 16, &kind_name)) != ATTEST_OK ||
	    (r = attest_json_get_TPM2B_CREATION_DATA(pending, "creation_data", &cr.data)) != ATTEST_OK ||
	    (r = attest_json_get_TPM2B_DIGEST(pending, "creation_hash", &cr.hash)) != ATTEST_OK ||
	    (r = attest_json_get_TPMT_TK_CREATION(pending, "creation_ticket", &cr.ticket)) != ATTEST_OK ||
	    (r = load_hostkey(state_dir, PENDING, &key)) != ATTEST_OK)
		goto out;
	if ((kind = attest_ek_kind_parse(kind_name)) == ATTEST_EK_NONE) {
		r = attest_fail(ATTEST_E_PARSE, "enrol.json: bad EK kind");
		goto out;
	}
	if ((r = attest_tpm_activate_credential(t, kind, &blob, &enc, &secret)) != ATTEST_OK)
		goto out;
	if ((r = attest_enrol_qualifying_data(id_hex, secret.buffer, secret.size, qual)) != ATTEST_OK ||
	    (r = attest_tpm_certify_creation(t, &key, &cr, qual, sizeof(qual), &cinfo, &csig)) != ATTEST_OK ||
	    (r = attest_tpm_quote(t, ATTEST_ENROL_PCR_MASK, qual, sizeof(qual), &quote, &qsig)) != ATTEST_OK ||
	    (r = attest_tpm_pcr_read(t, ATTEST_ENROL_PCR_MASK, &pcrs)) != ATTEST_OK)
		goto out;
	for (unsigned i = 0; i < 24; i++)
		if (ATTEST_ENROL_PCR_MASK & (1u << i))
			memcpy(values + 32 * nvals++, pcrs.value[i], 32);
	rc = Tss2_MU_TPMS_CREATION_DATA_Marshal(&cr.data.creationData, cdata, sizeof(cdata),
						&cdata_len);
	if (rc != TSS2_RC_SUCCESS) {
		r = attest_fail_tss(ATTEST_E_INTERNAL, rc, "marshal creation data");
		goto out;
	}
	if ((resp = cJSON_CreateObject()) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "response");
		goto out;
	}
	if ((r = attest_json_add_str(resp, "type", "enrol-response")) != ATTEST_OK ||
	    (r = attest_json_add_str(resp, "version", "1")) != ATTEST_OK ||
	    (r = attest_json_add_str(resp, "challenge_id", id_hex)) != ATTEST_OK ||
	    (r = attest_json_add_b64(resp, "secret", secret.buffer, secret.size)) != ATTEST_OK ||
	    (r = attest_json_add_b64(resp, "certify_info", cinfo.attestationData, cinfo.size)) != ATTEST_OK ||
	    (r = attest_json_add_TPMT_SIGNATURE(resp, "certify_sig", &csig)) != ATTEST_OK ||
	    (r = attest_json_add_b64(resp, "creation_data", cdata, cdata_len)) != ATTEST_OK ||
	    (r = attest_json_add_b64(resp, "quote", quote.attestationData, quote.size)) != ATTEST_OK ||
	    (r = attest_json_add_TPMT_SIGNATURE(resp, "quote_sig", &qsig)) != ATTEST_OK ||
	    (r = attest_json_add_u64(resp, "pcr_mask", ATTEST_ENROL_PCR_MASK)) != ATTEST_OK ||
	    (r = attest_json_add_b64(resp, "pcr_values", values, 32 * nvals)) != ATTEST_OK ||
	    (r = attest_json_print(resp, out, NULL)) != ATTEST_OK)
		goto out;
	r = ATTEST_OK;
out:
	OPENSSL_cleanse(&secret, sizeof(secret));
	OPENSSL_cleanse(qual, sizeof(qual));
	cJSON_Delete(resp);
	cJSON_Delete(pending);
	cJSON_Delete(ch);
	return r;
}

#define ISSUING_BUNDLE_MAX 8

/* The issuing CA bundle of an enrol-result: 1..8 PEM certificates. */
static int parse_bundle(const char *pem, STACK_OF(X509) **out)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	size_t len = strlen(pem);
	BIO *b = NULL;
	X509 *x;
	int r = ATTEST_OK;

	*out = NULL;
	if (sk == NULL || len == 0 || len > 8 * 4096 ||
	    (b = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		sk_X509_free(sk);
		return attest_fail(ATTEST_E_PARSE, "issuing CA bundle of %zu bytes", len);
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(sk) >= ISSUING_BUNDLE_MAX || !sk_X509_push(sk, x)) {
			X509_free(x);
			r = attest_fail(ATTEST_E_TOO_LARGE, "issuing CA bundle: over %d certificates",
					ISSUING_BUNDLE_MAX);
			break;
		}
	}
	ERR_clear_error(); /* end of the bundle */
	BIO_free(b);
	if (r == ATTEST_OK && sk_X509_num(sk) == 0)
		r = attest_fail(ATTEST_E_PARSE, "issuing CA bundle holds no certificate");
	if (r != ATTEST_OK) {
		sk_X509_pop_free(sk, X509_free);
		return r;
	}
	*out = sk;
	return ATTEST_OK;
}

/* cert verifies to `root` through `untrusted` (NULL: directly). */
static int verify_to(X509 *root, X509 *cert, STACK_OF(X509) *untrusted, const char *what)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int r = ATTEST_OK;

	if (store == NULL || ctx == NULL || !X509_STORE_add_cert(store, root) ||
	    !X509_STORE_CTX_init(ctx, store, cert, untrusted)) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "X509_STORE");
	} else if (X509_verify_cert(ctx) != 1) {
		r = attest_fail(ATTEST_E_STATE, "%s does not verify: %s", what,
				X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		ERR_clear_error();
	}
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return r;
}

/* Check an enrol-result for `want_host`: the certificate carries the key in
 * key_file and verifies against the result's root, which must be the
 * pinned root. *res_out keeps the parsed message. */
void attest_enrol_result_clear(struct attest_enrol_result *res)
{
	free(res->host_ca_cert);
	free(res->issuing_ca_cert);
	free(res->root_cert);
	memset(res, 0, sizeof(*res));
}

static int dup_field(const char *v, char **out)
{
	if ((*out = strdup(v)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "enrol-result");
	return ATTEST_OK;
}

int attest_enrol_result_parse(const void *msg, size_t len, struct attest_enrol_result *out)
{
	static const char *const keys[] = { "type", "version", "host", "trust_domain",
					    "host_ca_cert", "issuing_ca_cert", "root_cert", NULL };
	cJSON *res = NULL;
	const char *type, *ver, *host, *td, *cert_pem, *root_pem, *issuing_pem;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = attest_json_parse(msg, len, ATTEST_ENROL_MSG_CAP, &res)) != ATTEST_OK ||
	    (r = attest_json_only(res, keys)) != ATTEST_OK ||
	    (r = attest_json_str(res, "type", 32, &type)) != ATTEST_OK ||
	    (r = attest_json_str(res, "version", 8, &ver)) != ATTEST_OK)
		goto out;
	if (strcmp(type, "enrol-result") != 0 || strcmp(ver, "1") != 0) {
		r = attest_fail(ATTEST_E_PARSE, "not an enrol-result version 1 message");
		goto out;
	}
	if ((r = attest_json_str(res, "host", ATTEST_MAX_NAME, &host)) != ATTEST_OK ||
	    (r = attest_json_str(res, "trust_domain", ATTEST_ENROL_TD_MAX, &td)) != ATTEST_OK ||
	    (r = attest_json_str(res, "host_ca_cert", ATTEST_ENROL_CERT_MAX, &cert_pem)) != ATTEST_OK ||
	    (r = attest_json_str(res, "issuing_ca_cert", ATTEST_ENROL_BUNDLE_MAX, &issuing_pem)) !=
		    ATTEST_OK ||
	    (r = attest_json_str(res, "root_cert", ATTEST_ENROL_CERT_MAX, &root_pem)) != ATTEST_OK)
		goto out;
	memcpy(out->host, host, strlen(host) + 1);
	memcpy(out->trust_domain, td, strlen(td) + 1);
	if ((r = dup_field(cert_pem, &out->host_ca_cert)) != ATTEST_OK ||
	    (r = dup_field(issuing_pem, &out->issuing_ca_cert)) != ATTEST_OK ||
	    (r = dup_field(root_pem, &out->root_cert)) != ATTEST_OK)
		goto out;
	r = ATTEST_OK;
out:
	if (r != ATTEST_OK)
		attest_enrol_result_clear(out);
	cJSON_Delete(res);
	return r;
}

/* A result (typed) checked against the host key in key_file and the
 * pinned root: for want_host, the host CA certificate for our key, issued
 * by the bundle's first issuing CA, every issuing CA signed by the pinned
 * root directly; the root it brings is the pinned one. */
static int verify_certs(const char *state_dir, const char *key_file,
			const struct attest_enrol_result *res, const char *want_host, X509 *pinned)
{
	struct attest_tpm_key key;
	X509 *cert = NULL, *root = NULL;
	STACK_OF(X509) *issuing = NULL;
	EVP_PKEY *key_pkey = NULL;
	int r;

	if (res->host_ca_cert == NULL || res->issuing_ca_cert == NULL || res->root_cert == NULL ||
	    strlen(res->host_ca_cert) > ATTEST_ENROL_CERT_MAX ||
	    strlen(res->issuing_ca_cert) > ATTEST_ENROL_BUNDLE_MAX ||
	    strlen(res->root_cert) > ATTEST_ENROL_CERT_MAX ||
	    memchr(res->host, '\0', sizeof(res->host)) == NULL ||
	    memchr(res->trust_domain, '\0', sizeof(res->trust_domain)) == NULL)
		return attest_fail(ATTEST_E_PARSE, "enrol-result incomplete or over its caps");
	if (strcmp(want_host, res->host) != 0)
		return attest_fail(ATTEST_E_STATE, "result is for host \"%s\", we are \"%s\"",
				   res->host, want_host);
	if (!attest_valid_trust_domain(res->trust_domain))
		return attest_fail(ATTEST_E_PARSE, "result's trust domain is not valid");
	if ((r = attest_x509_from_pem(res->host_ca_cert, strlen(res->host_ca_cert), &cert)) != ATTEST_OK ||
	    (r = attest_x509_from_pem(res->root_cert, strlen(res->root_cert), &root)) != ATTEST_OK ||
	    (r = load_hostkey(state_dir, key_file, &key)) != ATTEST_OK ||
	    (r = attest_tpm_pub_to_pkey(&key.pub, &key_pkey)) != ATTEST_OK)
		goto out;
	if (EVP_PKEY_eq(X509_get0_pubkey(cert), key_pkey) != 1) {
		r = attest_fail(ATTEST_E_STATE, "host CA certificate is not for our host issuing key");
		goto out;
	}
	/* Trust the pinned root, never the one the message brings. */
	if (X509_cmp(pinned, root) != 0) {
		r = attest_fail(ATTEST_E_STATE, "result's fleet root differs from the pinned root");
		goto out;
	}
	/* Every issuing CA of the bundle is a CA the pinned root signed
	 * directly (no host ID: not a host CA), and the host CA certificate
	 * verifies through the first. */
	if ((r = parse_bundle(res->issuing_ca_cert, &issuing)) != ATTEST_OK)
		goto out;
	for (int i = 0; i < sk_X509_num(issuing); i++) {
		X509 *ic = sk_X509_value(issuing, i);
		char *hid = NULL;
		int hr = attest_x509_ext_utf8(ic, ATTEST_OID_HOST_ID, &hid);

		free(hid);
		if (X509_check_ca(ic) == 0 || hr != ATTEST_E_NOT_FOUND) {
			r = attest_fail(ATTEST_E_STATE, "issuing CA bundle entry %d is not an issuing CA", i);
			goto out;
		}
		if ((r = verify_to(pinned, ic, NULL, "issuing CA certificate")) != ATTEST_OK)
			goto out;
	}
	if (X509_check_issued(sk_X509_value(issuing, 0), cert) != X509_V_OK) {
		r = attest_fail(ATTEST_E_STATE, "the bundle's first issuing CA did not issue the host CA");
		goto out;
	}
	if ((r = verify_to(pinned, cert, issuing, "host CA certificate")) != ATTEST_OK)
		goto out;
	r = ATTEST_OK;
out:
	OPENSSL_cleanse(&key, sizeof(key));
	sk_X509_pop_free(issuing, X509_free);
	EVP_PKEY_free(key_pkey);
	X509_free(root);
	X509_free(cert);
	return r;
}

static int verify_result(const char *state_dir, const char *key_file, const void *msg,
			 size_t len, const char *want_host, X509 *pinned,
			 struct attest_enrol_result *res)
{
	int r;

	if ((r = attest_enrol_result_parse(msg, len, res)) != ATTEST_OK)
		return r;
	if ((r = verify_certs(state_dir, key_file, res, want_host, pinned)) != ATTEST_OK)
		attest_enrol_result_clear(res);
	return r;
}

int attest_host_identity_load(const char *state_dir, struct attest_host_identity *id)
{
	cJSON *rec = NULL;
	const char *host, *td, *kind, *cert, *root, *issuing;
	int r;

	memset(id, 0, sizeof(*id));
	if ((r = state_load(state_dir, IDENTITY, &rec)) != ATTEST_OK) {
		if (r == ATTEST_E_NOT_FOUND)
			r = attest_fail(ATTEST_E_STATE, "%s holds no enrolled host (attestctl host "
					"enroll)", state_dir);
		return r;
	}
	if ((r = attest_json_str(rec, "host", ATTEST_MAX_NAME, &host)) != ATTEST_OK ||
	    (r = attest_json_str(rec, "trust_domain", 255, &td)) != ATTEST_OK ||
	    (r = attest_json_str(rec, "ek_kind", 15, &kind)) != ATTEST_OK ||
	    (r = attest_json_str(rec, "host_ca_pem", 16384, &cert)) != ATTEST_OK ||
	    (r = attest_json_str(rec, "issuing_ca_pem", 8 * 4096, &issuing)) != ATTEST_OK ||
	    (r = attest_json_str(rec, "root_pem", 16384, &root)) != ATTEST_OK ||
	    (r = attest_json_get_TPM2B_PUBLIC(rec, "key_public", &id->key.pub)) != ATTEST_OK ||
	    (r = attest_json_get_TPM2B_PRIVATE(rec, "key_private", &id->key.priv)) != ATTEST_OK ||
	    (r = attest_x509_from_pem(cert, strlen(cert), &id->host_ca)) != ATTEST_OK ||
	    (r = parse_bundle(issuing, &id->issuing)) != ATTEST_OK ||
	    (r = attest_x509_from_pem(root, strlen(root), &id->root)) != ATTEST_OK)
		goto out;
	memcpy(id->host, host, strlen(host) + 1);
	memcpy(id->trust_domain, td, strlen(td) + 1);
	memcpy(id->ek_kind, kind, strlen(kind) + 1);
out:
	cJSON_Delete(rec);
	if (r != ATTEST_OK)
		attest_host_identity_clear(id);
	return r;
}

void attest_host_identity_clear(struct attest_host_identity *id)
{
	X509_free(id->host_ca);
	sk_X509_pop_free(id->issuing, X509_free);
	X509_free(id->root);
	memset(id, 0, sizeof(*id));
}

/* Commit an identity: identity.json in one rename, then the PEM copies. */
static int save_identity(const char *state_dir, const char *host, const char *td,
			 const char *kind, const struct attest_tpm_key *key, const char *cert_pem,
			 const char *issuing_pem, const char *root_pem)
{
	cJSON *rec = cJSON_CreateObject();
	int r;

	if (rec == NULL)
		return attest_fail(ATTEST_E_NOMEM, "identity");
	if ((r = attest_json_add_str(rec, "host", host)) != ATTEST_OK ||
	    (r = attest_json_add_str(rec, "trust_domain", td)) != ATTEST_OK ||
	    (r = attest_json_add_str(rec, "ek_kind", kind)) != ATTEST_OK ||
	    (r = attest_json_add_TPM2B_PUBLIC(rec, "key_public", &key->pub)) != ATTEST_OK ||
	    (r = attest_json_add_TPM2B_PRIVATE(rec, "key_private", &key->priv)) != ATTEST_OK ||
	    (r = attest_json_add_str(rec, "host_ca_pem", cert_pem)) != ATTEST_OK ||
	    (r = attest_json_add_str(rec, "issuing_ca_pem", issuing_pem)) != ATTEST_OK ||
	    (r = attest_json_add_str(rec, "root_pem", root_pem)) != ATTEST_OK ||
	    (r = state_save_json(state_dir, IDENTITY, rec)) != ATTEST_OK ||
	    (r = state_save(state_dir, "host-ca.pem", cert_pem, strlen(cert_pem), 0644)) != ATTEST_OK ||
	    (r = state_save(state_dir, "issuing-ca.pem", issuing_pem, strlen(issuing_pem), 0644)) !=
		    ATTEST_OK ||
	    (r = state_save(state_dir, "root.pem", root_pem, strlen(root_pem), 0644)) != ATTEST_OK)
		goto out;
out:
	cJSON_Delete(rec);
	return r;
}

int attest_host_enrol_finish(const char *state_dir, const void *msg, size_t len,
			     const char *pinned_root)
{
	struct attest_host_identity current;
	struct attest_tpm_key key;
	struct attest_enrol_result res = { 0 };
	cJSON *pending = NULL;
	const char *want_host, *kind_name;
	X509 *pinned = NULL;
	char path[4096];
	int r;

	memset(&current, 0, sizeof(current));
	if ((r = state_load(state_dir, PENDING, &pending)) != ATTEST_OK) {
		if (r == ATTEST_E_NOT_FOUND)
			r = attest_fail(ATTEST_E_STATE, "no enrolment in progress in %s", state_dir);
		goto out;
	}
	if ((r = attest_json_str(pending, "host", ATTEST_MAX_NAME, &want_host)) != ATTEST_OK ||
	    (r = attest_json_str(pending, "ek_kind", 16, &kind_name)) != ATTEST_OK ||
	    (r = load_hostkey(state_dir, PENDING, &key)) != ATTEST_OK)
		goto out;
	/* The fleet root: the one given, else the one this host already trusts.
	 * A first enrolment must pin it: the result could come from anyone. */
	if (pinned_root != NULL) {
		if ((r = attest_x509_load(pinned_root, &pinned)) != ATTEST_OK)
			goto out;
	} else if (attest_host_identity_load(state_dir, &current) == ATTEST_OK) {
		pinned = current.root;
		current.root = NULL;
	} else {
		r = attest_fail(ATTEST_E_STATE, "first enrolment: pin the fleet root (--root FILE)");
		goto out;
	}
	if ((r = verify_result(state_dir, PENDING, msg, len, want_host, pinned, &res)) != ATTEST_OK ||
	    (r = save_identity(state_dir, want_host, res.trust_domain, kind_name, &key,
			       res.host_ca_cert, res.issuing_ca_cert, res.root_cert)) != ATTEST_OK)
		goto out;
	/* Committed; the pending record is spent (a leftover is harmless:
	 * finishing again re-verifies and rewrites the same identity). */
	if ((r = state_path(state_dir, PENDING, path, sizeof(path))) != ATTEST_OK)
		goto out;
	if (unlink(path) != 0) {
		r = attest_fail(ATTEST_E_IO, "remove %s", path);
		goto out;
	}
	r = attest_dir_sync(path);
out:
	OPENSSL_cleanse(&key, sizeof(key));
	attest_host_identity_clear(&current);
	X509_free(pinned);
	cJSON_Delete(pending);
	attest_enrol_result_clear(&res);
	return r;
}

int attest_host_renew_answer(struct attest_tpm *t, const char *state_dir, const void *msg,
			     size_t len, char **out)
{
	static const char *const keys[] = { "type", "version", "host", "challenge_id", "nonce",
					    "pcr_mask", "expires", NULL };
	struct attest_host_identity id;
	cJSON *ch = NULL, *resp = NULL;
	const char *type, *ver, *host, *id_hex;
	uint8_t *nonce = NULL, values[24 * 32], qual[32];
	size_t nonce_len = 0, nvals = 0;
	uint64_t mask;
	struct attest_pcrs pcrs;
	TPM2B_ATTEST quote;
	TPMT_SIGNATURE qsig;
	int r;

	*out = NULL;
	if ((r = attest_host_identity_load(state_dir, &id)) != ATTEST_OK)
		return r;
	if ((r = attest_json_parse(msg, len, ATTEST_ENROL_MSG_CAP, &ch)) != ATTEST_OK ||
	    (r = attest_json_only(ch, keys)) != ATTEST_OK ||
	    (r = attest_json_str(ch, "type", 32, &type)) != ATTEST_OK ||
	    (r = attest_json_str(ch, "version", 8, &ver)) != ATTEST_OK)
		goto out;
	if (strcmp(type, "renew-challenge") != 0 || strcmp(ver, "1") != 0) {
		r = attest_fail(ATTEST_E_PARSE, "not a renew-challenge version 1 message");
		goto out;
	}
	if ((r = attest_json_str(ch, "host", ATTEST_MAX_NAME, &host)) != ATTEST_OK ||
	    (r = attest_json_str(ch, "challenge_id", 32, &id_hex)) != ATTEST_OK ||
	    (r = attest_json_b64(ch, "nonce", 64, &nonce, &nonce_len)) != ATTEST_OK ||
	    (r = attest_json_u64(ch, "pcr_mask", &mask)) != ATTEST_OK)
		goto out;
	if (strcmp(host, id.host) != 0) {
		r = attest_fail(ATTEST_E_STATE, "challenge is for host \"%s\", we are \"%s\"", host,
				id.host);
		goto out;
	}
	if (mask == 0 || mask >> 24 != 0) {
		r = attest_fail(ATTEST_E_PARSE, "pcr_mask out of range");
		goto out;
	}
	if ((r = attest_renew_qualifying_data(nonce, nonce_len, qual)) != ATTEST_OK ||
	    (r = attest_tpm_quote(t, (uint32_t)mask, qual, sizeof(qual), &quote, &qsig)) != ATTEST_OK ||
	    (r = attest_tpm_pcr_read(t, (uint32_t)mask, &pcrs)) != ATTEST_OK)
		goto out;
	for (unsigned i = 0; i < 24; i++)
		if (mask & (1u << i))
			memcpy(values + 32 * nvals++, pcrs.value[i], 32);
	if ((resp = cJSON_CreateObject()) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "response");
		goto out;
	}
	if ((r = attest_json_add_str(resp, "type", "renew-response")) != ATTEST_OK ||
	    (r = attest_json_add_str(resp, "version", "1")) != ATTEST_OK ||
	    (r = attest_json_add_str(resp, "challenge_id", id_hex)) != ATTEST_OK ||
	    (r = attest_json_add_b64(resp, "quote", quote.attestationData, quote.size)) != ATTEST_OK ||
	    (r = attest_json_add_TPMT_SIGNATURE(resp, "quote_sig", &qsig)) != ATTEST_OK ||
	    (r = attest_json_add_u64(resp, "pcr_mask", mask)) != ATTEST_OK ||
	    (r = attest_json_add_b64(resp, "pcr_values", values, 32 * nvals)) != ATTEST_OK ||
	    (r = attest_json_print(resp, out, NULL)) != ATTEST_OK)
		goto out;
	r = ATTEST_OK;
out:
	attest_host_identity_clear(&id);
	free(nonce);
	cJSON_Delete(resp);
	cJSON_Delete(ch);
	return r;
}

int attest_host_renew_install(const char *state_dir, const struct attest_enrol_result *res)
{
	struct attest_host_identity id;
	int r;

	if ((r = attest_host_identity_load(state_dir, &id)) != ATTEST_OK)
		return r;
	if ((r = verify_certs(state_dir, IDENTITY, res, id.host, id.root)) == ATTEST_OK)
		r = save_identity(state_dir, id.host, id.trust_domain, id.ek_kind, &id.key,
				  res->host_ca_cert, res->issuing_ca_cert, res->root_cert);
	attest_host_identity_clear(&id);
	return r;
}

int attest_host_renew_finish(const char *state_dir, const void *msg, size_t len)
{
	struct attest_enrol_result res;
	int r;

	if ((r = attest_enrol_result_parse(msg, len, &res)) != ATTEST_OK)
		return r;
	r = attest_host_renew_install(state_dir, &res);
	attest_enrol_result_clear(&res);
	return r;
}
