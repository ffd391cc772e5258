/* tlsca.c - see tlsca.h. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/err.h"
#include "core/fileio.h"
#include "tlsca.h"
#include "x509/x509.h"

static int path_of(char *out, size_t n, const char *state, const char *file)
{
	if ((size_t)snprintf(out, n, "%s/tls/%s", state, file) >= n)
		return attest_fail(ATTEST_E_INVALID_ARG, "state path too long");
	return ATTEST_OK;
}

static int save_cert(const char *path, X509 *c)
{
	char *pem = NULL;
	int r = attest_x509_to_pem(c, &pem);

	if (r == ATTEST_OK)
		r = attest_file_create_atomic(path, pem, strlen(pem), 0644);
	free(pem);
	return r;
}

/* A certificate for key, issued by (ca, ca_key) or self-signed when ca is
 * NULL; exts is a NULL-terminated list of (nid, value) pairs. */
static int make_cert(EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key, const char *cn, int days,
		     const int *nids, const char *const *vals, X509 **out)
{
	X509 *c = X509_new();
	int r = ATTEST_E_INTERNAL;

	*out = NULL;
	if (c == NULL || !X509_set_version(c, X509_VERSION_3) ||
	    X509_gmtime_adj(X509_getm_notBefore(c), -300) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(c), days, 0, NULL) == NULL ||
	    !X509_set_pubkey(c, key)) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "certificate %s", cn);
		goto out;
	}
	if ((r = attest_x509_random_serial(c)) != ATTEST_OK ||
	    (r = attest_x509_set_name(X509_get_subject_name(c), "attest-verifier", cn)) != ATTEST_OK)
		goto out;
	if (!X509_set_issuer_name(c, X509_get_subject_name(ca != NULL ? ca : c))) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "issuer name");
		goto out;
	}
	for (size_t i = 0; nids[i] != 0; i++)
		if ((r = attest_x509_add_ext(c, ca != NULL ? ca : c, nids[i], vals[i])) != ATTEST_OK)
			goto out;
	if (X509_sign(c, ca_key != NULL ? ca_key : key, EVP_sha256()) <= 0) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "sign %s", cn);
		goto out;
	}
	*out = c;
	c = NULL;
	r = ATTEST_OK;
out:
	X509_free(c);
	return r;
}

int vf_tlsca_init(const char *state, const char *name)
{
	static const int ca_nids[] = {NID_basic_constraints, NID_key_usage,
				      NID_subject_key_identifier, 0};
	static const char *const ca_vals[] = {"critical,CA:TRUE,pathlen:0",
					      "critical,keyCertSign,cRLSign", "hash"};
	static const int srv_nids[] = {NID_basic_constraints, NID_key_usage, NID_ext_key_usage,
				       NID_subject_key_identifier, NID_authority_key_identifier,
				       NID_subject_alt_name, 0};
	const char *srv_vals[] = {"critical,CA:FALSE", "critical,digitalSignature",
				  "serverAuth", "hash", "keyid", NULL};
	char dir[PATH_MAX], p[PATH_MAX], san[400];
	EVP_PKEY *cak = NULL, *sk = NULL;
	X509 *ca = NULL, *srv = NULL;
	int r;

	if (!attest_valid_hostname(name))
		return attest_fail(ATTEST_E_INVALID_ARG, "server name %.80s is not a host name",
				   name);
	if ((size_t)snprintf(dir, sizeof(dir), "%s/tls", state) >= sizeof(dir))
		return attest_fail(ATTEST_E_INVALID_ARG, "state path too long");
	if ((r = attest_dir_ensure(state, 0700)) != ATTEST_OK ||
	    (r = attest_dir_ensure(dir, 0700)) != ATTEST_OK)
		return r;
	/* never over an earlier init: its CA key signs the callers' certificates */
	for (const char *const *f = (const char *const[]){"ca.key", "ca.pem", "server.key",
							   "server.pem", NULL};
	     *f != NULL; f++) {
		struct stat st;

		if ((r = path_of(p, sizeof(p), state, *f)) != ATTEST_OK)
			return r;
		if (lstat(p, &st) == 0)
			return attest_fail(ATTEST_E_EXISTS, "%s exists: the verifier is initialised", p);
	}
	(void)snprintf(san, sizeof(san), "DNS:%s,IP:127.0.0.1,IP:::1", name);
	srv_vals[5] = san;
	if ((cak = EVP_EC_gen("P-256")) == NULL || (sk = EVP_EC_gen("P-256")) == NULL) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "generate keys");
		goto out;
	}
	if ((r = make_cert(cak, NULL, NULL, "attest-verifier CA", 3650, ca_nids, ca_vals, &ca)) !=
		    ATTEST_OK ||
	    (r = make_cert(sk, ca, cak, name, 730, srv_nids, srv_vals, &srv)) != ATTEST_OK)
		goto out;
	/* ca.pem last: its existence marks a finished init */
	if ((r = path_of(p, sizeof(p), state, "ca.key")) != ATTEST_OK ||
	    (r = attest_pkey_save(p, cak)) != ATTEST_OK ||
	    (r = path_of(p, sizeof(p), state, "server.key")) != ATTEST_OK ||
	    (r = attest_pkey_save(p, sk)) != ATTEST_OK ||
	    (r = path_of(p, sizeof(p), state, "server.pem")) != ATTEST_OK ||
	    (r = save_cert(p, srv)) != ATTEST_OK ||
	    (r = path_of(p, sizeof(p), state, "ca.pem")) != ATTEST_OK ||
	    (r = save_cert(p, ca)) != ATTEST_OK)
		goto out;
	r = ATTEST_OK;
out:
	EVP_PKEY_free(cak);
	EVP_PKEY_free(sk);
	X509_free(ca);
	X509_free(srv);
	return r;
}

int vf_spki_hash(void *x509, uint8_t out[32])
{
	unsigned char *der = NULL;
	int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY((X509 *)x509), &der);
	int ok = n > 0 && EVP_Digest(der, (size_t)n, out, NULL, EVP_sha256(), NULL) == 1;

	OPENSSL_free(der);
	return ok ? ATTEST_OK : attest_fail_ossl(ATTEST_E_CRYPTO, "SPKI hash");
}

int vf_tlsca_issue_client(const char *state, const char *name, const char *prefix,
			  uint8_t spki_hash[32])
{
	static const int nids[] = {NID_basic_constraints, NID_key_usage, NID_ext_key_usage,
				   NID_subject_key_identifier, NID_authority_key_identifier, 0};
	static const char *const vals[] = {"critical,CA:FALSE", "critical,digitalSignature",
					   "clientAuth", "hash", "keyid"};
	char p[PATH_MAX];
	EVP_PKEY *cak = NULL, *k = NULL;
	X509 *ca = NULL, *c = NULL;
	int r;

	if ((r = path_of(p, sizeof(p), state, "ca.key")) != ATTEST_OK ||
	    (r = attest_pkey_load(p, &cak)) != ATTEST_OK ||
	    (r = path_of(p, sizeof(p), state, "ca.pem")) != ATTEST_OK ||
	    (r = attest_x509_load(p, &ca)) != ATTEST_OK)
		goto out;
	if ((k = EVP_EC_gen("P-256")) == NULL) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "generate key");
		goto out;
	}
	if ((r = make_cert(k, ca, cak, name, 365, nids, vals, &c)) != ATTEST_OK ||
	    (r = vf_spki_hash(c, spki_hash)) != ATTEST_OK)
		goto out;
	if ((size_t)snprintf(p, sizeof(p), "%s.pem", prefix) >= sizeof(p) - 1) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "output prefix too long");
		goto out;
	}
	{
		struct stat st;

		if (lstat(p, &st) == 0) {
			r = attest_fail(ATTEST_E_EXISTS, "%s exists", p);
			goto out;
		}
		(void)snprintf(p, sizeof(p), "%s.key", prefix);
		if (lstat(p, &st) == 0) {
			r = attest_fail(ATTEST_E_EXISTS, "%s exists", p);
			goto out;
		}
	}
	if ((r = attest_pkey_save(p, k)) != ATTEST_OK)
		goto out;
	(void)snprintf(p, sizeof(p), "%s.pem", prefix);
	if ((r = save_cert(p, c)) != ATTEST_OK)
		goto out;
	r = ATTEST_OK;
out:
	EVP_PKEY_free(cak);
	EVP_PKEY_free(k);
	X509_free(ca);
	X509_free(c);
	return r;
}
