/* crl_http.c - GET /v1/crl (issue 15 item 5; docs/verifier-api.md,
 * docs/relying-parties.md "Revocation for plain mTLS"): the fleet's CRLs as
 * one PEM bundle for nginx's ssl_crl, which checks a CRL at every level of
 * a chain. The bundle is, in this order:
 *   the root's CRL, CA_DIR/root-crl.pem (made offline by attest-provision
 *     with the root key: at init, at each issuing CA rotation, and by
 *     attest-provision root-crl);
 *   the current issuing CA's CRL, signed by the signer process, listing
 *     the host CA certificates of revoked hosts; kept here and made again
 *     when the set of revoked hosts changes or half its life has passed;
 *   each host's CRLs (its host CA's, listing its revoked agents' agent
 *     CAs, and its agents'), as its last verified inventory report carried
 *     them (inventory.c); a revoked host's too, until they expire, so that
 *     a relying party refuses its chains as "certificate revoked" (the
 *     issuing CA's CRL) rather than for a missing CRL.
 * Resource callers only: the bundle names every host and agent of the
 * fleet. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/err.h"
#include "core/fileio.h"
#include "enrol/enrol.h"
#include "vsrv.h"
#include "x509/crl.h"

#define CRL_HOSTS_MAX 4096 /* hosts walked for one bundle */

struct crl_walk {
	char (*live)[VSTORE_NAME_MAX];
	size_t nlive;
	const char *revoked[ATTEST_CA_CRL_HOSTS_MAX];
	char revoked_buf[ATTEST_CA_CRL_HOSTS_MAX][VSTORE_NAME_MAX];
	size_t nrevoked;
	EVP_MD_CTX *set; /* hash of the revoked hosts' names */
};

static int walk_host(void *arg, const struct vhost *h)
{
	struct crl_walk *w = arg;

	if (h->revoked) {
		if (w->nrevoked >= ATTEST_CA_CRL_HOSTS_MAX)
			return attest_fail(ATTEST_E_TOO_LARGE, "over %d revoked hosts",
					   ATTEST_CA_CRL_HOSTS_MAX);
		(void)snprintf(w->revoked_buf[w->nrevoked], VSTORE_NAME_MAX, "%s", h->name);
		w->revoked[w->nrevoked] = w->revoked_buf[w->nrevoked];
		w->nrevoked++;
		if (EVP_DigestUpdate(w->set, h->name, strlen(h->name) + 1) != 1)
			return attest_fail_ossl(ATTEST_E_CRYPTO, "hash");
	}
	if (w->nlive >= CRL_HOSTS_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "over %d hosts", CRL_HOSTS_MAX);
	(void)snprintf(w->live[w->nlive++], VSTORE_NAME_MAX, "%s", h->name);
	return ATTEST_OK;
}

/* The issuing CA's CRL for this set of revoked hosts: the one kept while
 * it is for the same set and within the first half of its life, else a
 * new one from the signer. */
static int issuing_crl(struct vsrv *s, struct crl_walk *w, X509_CRL **out)
{
	uint8_t set[32];
	time_t now = (time_t)vs_now();
	X509_CRL *crl = NULL;
	int r;

	*out = NULL;
	if (EVP_DigestFinal_ex(w->set, set, NULL) != 1)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "hash");
	if (s->issuing_crl == NULL || memcmp(set, s->issuing_crl_set, 32) != 0 ||
	    now - s->issuing_crl_made >= VF_ISSUING_CRL_TTL / 2 || now < s->issuing_crl_made) {
		if ((r = vf_signer_issuing_crl(&s->signer, w->revoked, w->nrevoked, &crl)) !=
		    ATTEST_OK)
			return r;
		X509_CRL_free(s->issuing_crl);
		s->issuing_crl = crl;
		s->issuing_crl_made = now;
		memcpy(s->issuing_crl_set, set, 32);
	}
	if (!X509_CRL_up_ref(s->issuing_crl))
		return attest_fail(ATTEST_E_INTERNAL, "CRL reference");
	*out = s->issuing_crl;
	return ATTEST_OK;
}

/* CA_DIR/root-crl.pem, next to root.pem */
static int add_root_crl(struct vsrv *s, struct evbuffer *b)
{
	const char *root = attest_ca_root_path(s->ca);
	char path[PATH_MAX];
	uint8_t *pem = NULL;
	size_t len = 0, dl;
	int r;

	dl = strlen(root) >= 8 ? strlen(root) - 8 : 0; /* "root.pem" */
	if ((size_t)snprintf(path, sizeof(path), "%.*sroot-crl.pem", (int)dl, root) >= sizeof(path))
		return attest_fail(ATTEST_E_INVALID_ARG, "CA path too long");
	if ((r = attest_file_read(path, ATTEST_CRL_DER_MAX * 2, &pem, &len)) != ATTEST_OK)
		return attest_fail_wrap(r, "the root's CRL (attest-provision root-crl)");
	r = evbuffer_add(b, pem, len) == 0 ? ATTEST_OK : attest_fail(ATTEST_E_NOMEM, "CRL bundle");
	free(pem);
	return r;
}

static int build(struct vsrv *s, struct evbuffer *b)
{
	struct crl_walk *w = calloc(1, sizeof(*w));
	X509_CRL *iss = NULL;
	BIO *bio = NULL;
	BUF_MEM *mem = NULL;
	char *pem = NULL;
	int r;

	if (w == NULL || (w->live = calloc(CRL_HOSTS_MAX, sizeof(*w->live))) == NULL ||
	    (w->set = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(w->set, EVP_sha256(), NULL) != 1 ||
	    (pem = malloc(VSTORE_CRLS_MAX)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "CRL bundle");
		goto out;
	}
	if ((r = add_root_crl(s, b)) != ATTEST_OK ||
	    (r = s->store->ops->host_list(s->store, walk_host, w)) != ATTEST_OK ||
	    (r = issuing_crl(s, w, &iss)) != ATTEST_OK)
		goto out;
	if ((bio = BIO_new(BIO_s_mem())) == NULL || !PEM_write_bio_X509_CRL(bio, iss)) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "CRL bundle");
		goto out;
	}
	BIO_get_mem_ptr(bio, &mem);
	if (evbuffer_add(b, mem->data, mem->length) != 0) {
		r = attest_fail(ATTEST_E_NOMEM, "CRL bundle");
		goto out;
	}
	for (size_t i = 0; i < w->nlive; i++) {
		r = s->store->ops->host_crls_get(s->store, w->live[i], pem, VSTORE_CRLS_MAX);
		if (r == ATTEST_E_NOT_FOUND)
			continue; /* never reported any: its agents are refused */
		if (r != ATTEST_OK)
			goto out;
		if (evbuffer_add(b, pem, strlen(pem)) != 0) {
			r = attest_fail(ATTEST_E_NOMEM, "CRL bundle");
			goto out;
		}
	}
	r = ATTEST_OK;
out:
	ERR_clear_error();
	BIO_free(bio);
	X509_CRL_free(iss);
	free(pem);
	if (w != NULL) {
		EVP_MD_CTX_free(w->set);
		free(w->live);
	}
	free(w);
	return r;
}

void vs_crl(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt,
	    const struct vcaller *who)
{
	struct evbuffer *b = evbuffer_new();
	int r;

	(void)rt, (void)who; /* every handler has the route signature */
	if (b == NULL) {
		vs_reply_err(s, req, 500, ATTEST_E_NOMEM, "CRL bundle");
		return;
	}
	attest_errclear();
	if ((r = build(s, b)) != ATTEST_OK) {
		vs_log("GET /v1/crl: %s [%s]: %s", attest_strerror(r), attest_errname(r),
		       attest_errdetail());
		vs_reply_err(s, req, 503, r, "CRL bundle");
		evbuffer_free(b);
		return;
	}
	(void)evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
				"application/x-pem-file");
	(void)evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control",
				"no-store");
	vs_count_status(s, 200);
	evhttp_send_reply(req, 200, NULL, b);
	evbuffer_free(b);
}
