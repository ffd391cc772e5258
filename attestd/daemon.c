/* daemon.c - attestd's parts put together: open and close (daemon.h). */

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "attest/intent.h"
#include "core/err.h"
#include "core/fileio.h"
#include "daemon.h"
#include "monproto.h"
#include "log.h"

/* one issuer of MON_TRUST: a marker 1, its name, its DER public key */
static int trust_put_issuer(struct mon_out *m, const char *name, EVP_PKEY *k)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k, &der);

	if (n <= 0)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "issuer key encoding");
	mon_put_u32(m, 1);
	mon_put_str(m, name);
	mon_put_bytes(m, der, (size_t)n);
	OPENSSL_free(der);
	return ATTEST_OK;
}

/* Trusted intent issuers: STATE/intent-issuers/NAME.pem, each a PEM EC
 * P-256 public key; the file name without .pem is the issuer name. A
 * missing directory means none; a file that does not load stops attestd
 * (an issuer silently left out would look like a bad grant later). */
static int load_intent_trust(struct attestd *d, X509 *root)
{
	char dir[700];
	DIR *dh;
	struct dirent *e;
	int r;

	if ((r = attest_intent_trust_new(&d->intent_trust)) != ATTEST_OK)
		return r;
	if (root != NULL && (r = attest_intent_trust_set_root(d->intent_trust, root)) != ATTEST_OK)
		return r;
	/* the same for the front (monitor.c MON_TRUST): the root's DER, then
	 * each issuer's name and DER public key */
	mon_out_init(&d->front_trust, MON_REPLY);
	mon_put_u32(&d->front_trust, ATTEST_OK);
	{
		unsigned char *der = NULL;
		int n = root != NULL ? i2d_X509(root, &der) : 0;

		if (n < 0)
			return attest_fail_ossl(ATTEST_E_CRYPTO, "fleet root encoding");
		mon_put_bytes(&d->front_trust, der, (size_t)n);
		OPENSSL_free(der);
	}
	snprintf(dir, sizeof(dir), "%s/intent-issuers", d->host.state);
	if ((dh = opendir(dir)) == NULL) {
		if (errno == ENOENT) {
			mon_put_u32(&d->front_trust, 0xffffffffu); /* none */
			return ATTEST_OK;
		}
		return attest_fail(ATTEST_E_IO, "%s: %s", dir, strerror(errno));
	}
	r = ATTEST_OK;
	while (r == ATTEST_OK && (e = readdir(dh)) != NULL) {
		size_t n = strlen(e->d_name);
		char name[ATTEST_INTENT_ITEM_MAX + 1], path[1024];
		uint8_t *pem = NULL;
		size_t len = 0;
		BIO *b = NULL;
		EVP_PKEY *k = NULL;

		if (e->d_name[0] == '.' || n <= 4 || strcmp(e->d_name + n - 4, ".pem") != 0)
			continue;
		if (n - 4 > ATTEST_INTENT_ITEM_MAX) {
			r = attest_fail(ATTEST_E_INVALID_ARG, "%s: issuer name too long", dir);
			break;
		}
		memcpy(name, e->d_name, n - 4);
		name[n - 4] = '\0';
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if ((r = attest_file_read(path, 64 * 1024, &pem, &len)) == ATTEST_OK) {
			if ((b = BIO_new_mem_buf(pem, (int)len)) == NULL ||
			    (k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL)) == NULL)
				r = attest_fail_ossl(ATTEST_E_PARSE, "%s: not a PEM public key", path);
			else if ((r = attest_intent_trust_add_issuer(d->intent_trust, name, k)) != ATTEST_OK) {
				char why[256];

				snprintf(why, sizeof(why), "%s", attest_errdetail());
				r = attest_fail(r, "%s: %s", path, why);
			} else if ((r = trust_put_issuer(&d->front_trust, name, k)) == ATTEST_OK)
				d->intent_issuers++;
		}
		ERR_clear_error();
		EVP_PKEY_free(k);
		BIO_free(b);
		free(pem);
	}
	closedir(dh);
	/* the issuer count ends the message */
	mon_put_u32(&d->front_trust, 0xffffffffu);
	if (r == ATTEST_OK && d->intent_issuers > 0)
		attestd_log("trusting %u intent issuer(s) from %s", d->intent_issuers, dir);
	return r;
}

int attestd_issuance_allowed(struct attestd *d)
{
	int r;

	if ((r = attestd_clock_ok(&d->clock, &d->host)) != ATTEST_OK)
		return r;
	return attestd_audit_anchored_ok(&d->log);
}

/* host.h's renewed hook: the new host CA certificate in the audit log */
static void host_renewed(void *arg, X509 *ca, const char *how)
{
	struct attestd *d = arg;

	attestd_audit_host_ca(&d->log, ca, how);
}

int attestd_open(struct attestd *d, const char *state_dir, const char *tcti, long hard_max_ttl)
{
	char path[700];
	X509 *root = NULL;
	int r;

	memset(d, 0, sizeof(*d));
	d->lock_fd = -1;
	d->hard_max_ttl = hard_max_ttl;
	/* First, before the TPM is touched (a second attestd would flush the
	 * first one's objects) or a socket is taken. */
	if ((size_t)snprintf(path, sizeof(path), "%s/attestd.lock", state_dir) >= sizeof(path))
		return attest_fail(ATTEST_E_INVALID_ARG, "state path too long");
	if ((r = attest_lock_file(path, &d->lock_fd)) != ATTEST_OK)
		return r;
	if ((r = attestd_host_open(&d->host, state_dir, tcti, &root)) != ATTEST_OK) {
		attestd_close(d);
		return r;
	}
	d->host.renewed = host_renewed;
	d->host.renewed_arg = d;
	r = load_intent_trust(d, root);
	X509_free(root);
	if (r != ATTEST_OK || (r = registry_load(state_dir, &d->reg)) != ATTEST_OK ||
	    (r = attest_measure_cache_new(256, &d->cache)) != ATTEST_OK) {
		attestd_close(d);
		return r;
	}
	attestd_host_log_lockout(&d->host, 0);
	if (attestd_clock_check(&d->clock, &d->host, "start") != ATTEST_OK)
		attestd_log("clock: not checked at start: %s", attest_errdetail());
	return ATTEST_OK;
}

void attestd_close(struct attestd *d)
{
	attestd_audit_stop(&d->log);
	registry_free(&d->reg);
	attest_measure_cache_free(d->cache);
	attest_intent_trust_free(d->intent_trust);
	mon_out_free(&d->front_trust);
	attestd_host_close(&d->host);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	memset(d, 0, sizeof(*d));
	d->lock_fd = -1;
}
