/* host.c - see host.h. */

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"
#include "enrol/enrol.h"
#include "host.h"
#include "log.h"
#include "tpm/tpmsw.h"

/* attestd owns the TPM: objects or sessions a killed predecessor left
 * behind would fill a TPM without resource manager (swtpm: 3 slots). */
static int flush_leftovers(struct attestd_host *h)
{
	size_t n = 0;
	int r = attest_tpm_flush_all(h->tpm, &n);

	if (r == ATTEST_OK && n > 0)
		attestd_log("flushed %zu transient objects or sessions left in the TPM", n);
	/* agent keys stay loaded between signatures where the TPM has room
	 * (attest_tpm_keep_resident); evicted when revoked or removed */
	if (r == ATTEST_OK)
		r = attest_tpm_keep_resident(h->tpm, 1);
	return r;
}

static int identity_stat(const struct attestd_host *h, struct stat *st)
{
	char path[700];

	if ((size_t)snprintf(path, sizeof(path), "%s/identity.json", h->state) >= sizeof(path))
		return attest_fail(ATTEST_E_INVALID_ARG, "state path too long");
	if (stat(path, st) != 0)
		return attest_fail(ATTEST_E_STATE, "%s vanished", path);
	return ATTEST_OK;
}

/* Take the key and the host CA certificate of id (the rest stays in id). */
static int install(struct attestd_host *h, struct attest_host_identity *id)
{
	EVP_PKEY *pub = NULL;
	int r;

	if ((r = attest_tpm_pub_to_pkey(&id->key.pub, &pub)) != ATTEST_OK)
		return r;
	EVP_PKEY_free(h->key_pub);
	h->key_pub = pub;
	h->key = id->key;
	X509_free(h->ca);
	h->ca = id->host_ca;
	id->host_ca = NULL; /* transferred */
	sk_X509_pop_free(h->issuing, X509_free);
	h->issuing = id->issuing;
	id->issuing = NULL; /* transferred */
	return ATTEST_OK;
}

void attestd_host_lock(struct attestd_host *h)
{
	if (h->tpm_mu_ready)
		(void)pthread_mutex_lock(&h->tpm_mu);
}

int attestd_host_trylock(struct attestd_host *h)
{
	return !h->tpm_mu_ready || pthread_mutex_trylock(&h->tpm_mu) == 0;
}

void attestd_host_unlock(struct attestd_host *h)
{
	if (h->tpm_mu_ready)
		(void)pthread_mutex_unlock(&h->tpm_mu);
}

static int lock_init(struct attestd_host *h)
{
	pthread_mutexattr_t at;
	int ok;

	if (pthread_mutexattr_init(&at) != 0)
		return attest_fail(ATTEST_E_NOMEM, "TPM lock");
	ok = pthread_mutexattr_settype(&at, PTHREAD_MUTEX_RECURSIVE) == 0 &&
	     pthread_mutex_init(&h->tpm_mu, &at) == 0;
	pthread_mutexattr_destroy(&at);
	if (!ok)
		return attest_fail(ATTEST_E_NOMEM, "TPM lock");
	h->tpm_mu_ready = 1;
	return ATTEST_OK;
}

int attestd_host_open(struct attestd_host *h, const char *state_dir, const char *tcti,
		      X509 **root)
{
	struct attest_host_identity id;
	struct stat st;
	int r;

	memset(h, 0, sizeof(*h));
	*root = NULL;
	if ((r = lock_init(h)) != ATTEST_OK)
		return r;
	if (tcti != NULL && strlen(tcti) >= sizeof(h->tcti))
		return attest_fail(ATTEST_E_INVALID_ARG, "TCTI configuration too long");
	snprintf(h->tcti, sizeof(h->tcti), "%s", tcti != NULL ? tcti : "");
	if (strlen(state_dir) >= sizeof(h->state))
		return attest_fail(ATTEST_E_INVALID_ARG, "state path too long");
	memcpy(h->state, state_dir, strlen(state_dir) + 1);
	if (identity_stat(h, &st) == ATTEST_OK) {
		h->identity_ino = st.st_ino;
		h->identity_mtime = st.st_mtim;
	}
	attest_errclear();
	if ((r = attest_host_identity_load(state_dir, &id)) != ATTEST_OK)
		return r;
	memcpy(h->trust_domain, id.trust_domain, sizeof(h->trust_domain));
	memcpy(h->name, id.host, sizeof(h->name));
	if ((r = install(h, &id)) == ATTEST_OK && (r = attest_tpm_open(h->tcti[0] ? h->tcti : NULL,
								       &h->tpm)) == ATTEST_OK)
		r = flush_leftovers(h);
	if (r == ATTEST_OK) {
		*root = id.root;
		id.root = NULL; /* transferred */
	}
	attest_host_identity_clear(&id);
	if (r != ATTEST_OK)
		attestd_host_close(h);
	return r;
}

void attestd_host_close(struct attestd_host *h)
{
	attest_tpm_close(h->tpm);
	X509_free(h->ca);
	sk_X509_pop_free(h->issuing, X509_free);
	EVP_PKEY_free(h->key_pub);
	if (h->tpm_mu_ready)
		pthread_mutex_destroy(&h->tpm_mu);
	memset(h, 0, sizeof(*h));
}

static int reconnect(struct attestd_host *h);

int attestd_host_reconnect(struct attestd_host *h)
{
	int r;

	attestd_host_lock(h);
	r = reconnect(h);
	attestd_host_unlock(h);
	return r;
}

static int reconnect(struct attestd_host *h)
{
	int r;

	attest_tpm_close(h->tpm);
	h->tpm = NULL;
	h->pcr_holder = NULL;
	if ((r = attest_tpm_open(h->tcti[0] ? h->tcti : NULL, &h->tpm)) != ATTEST_OK ||
	    (r = flush_leftovers(h)) != ATTEST_OK) {
		attest_tpm_close(h->tpm);
		h->tpm = NULL;
		return r;
	}
	attestd_log("reconnected to the TPM");
	return ATTEST_OK;
}

int attestd_host_tpm(struct attestd_host *h)
{
	if (h->tpm == NULL && attestd_host_reconnect(h) != ATTEST_OK)
		return attest_fail_wrap(ATTEST_E_TPM, "TPM unreachable");
	return ATTEST_OK;
}

int attestd_host_refresh(struct attestd_host *h)
{
	struct attest_host_identity id;
	struct stat st;
	int r;

	if ((r = identity_stat(h, &st)) != ATTEST_OK)
		return r;
	if (st.st_ino == h->identity_ino && st.st_mtim.tv_sec == h->identity_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == h->identity_mtime.tv_nsec)
		return ATTEST_OK;
	if ((r = attest_host_identity_load(h->state, &id)) != ATTEST_OK)
		return r;
	if (strcmp(id.host, h->name) != 0 || strcmp(id.trust_domain, h->trust_domain) != 0)
		r = attest_fail(ATTEST_E_STATE, "host identity changed name; restart attestd");
	else
		r = install(h, &id);
	attest_host_identity_clear(&id);
	if (r != ATTEST_OK)
		return r;
	h->identity_ino = st.st_ino;
	h->identity_mtime = st.st_mtim;
	attestd_log("loaded host CA certificate from %s/identity.json", h->state);
	if (h->renewed != NULL)
		h->renewed(h->renewed_arg, h->ca,
			   "identity.json changed: new host CA certificate installed");
	return ATTEST_OK;
}

void attestd_host_log_lockout(struct attestd_host *h, int always)
{
	struct attest_tpm_da da;

	int r;

	if (h->tpm == NULL)
		return;
	attestd_host_lock(h);
	r = attest_tpm_da_state(h->tpm, &da);
	attestd_host_unlock(h);
	if (r != ATTEST_OK) {
		if (always)
			attestd_log("TPM dictionary-attack state unreadable: %s", attest_errdetail());
		return;
	}
	if (da.in_lockout)
		attestd_log("TPM is in dictionary-attack LOCKOUT (%u failed authorizations, lockout "
			    "at %u; one is forgotten every %u s, or clear it with "
			    "tpm2_dictionarylockout -c): attestd's own keys and counter are noDA and "
			    "keep working; a host enrolled with an AK that is not noDA must re-enrol "
			    "(docs/tpm.md)",
			    da.failures, da.max_tries, da.recovery_s);
	else if (da.failures > 0 || always)
		attestd_log("TPM dictionary-attack counter: %u failed authorizations (lockout at %u, "
			    "one forgotten every %u s)",
			    da.failures, da.max_tries, da.recovery_s);
}

void attestd_host_tpm_failed(struct attestd_host *h, int r)
{
	char detail[512];

	snprintf(detail, sizeof(detail), "%s", attest_errdetail());
	if (r == ATTEST_E_TPM && attestd_host_reconnect(h) != ATTEST_OK)
		attestd_log("TPM still unreachable: %s", attest_errdetail());
	if (r == ATTEST_E_TPM_AUTH)
		attestd_host_log_lockout(h, 1);
	if (r != ATTEST_OK)
		attest_fail(r, "%s", detail);
}

int attestd_host_sign(void *arg, const uint8_t digest[32], TPMT_SIGNATURE *sig)
{
	struct attestd_host *h = arg;
	int r;

	attestd_host_lock(h);
	r = h->tpm != NULL ? attest_tpm_sign(h->tpm, &h->key, NULL, digest, sig)
			   : attest_fail(ATTEST_E_TPM, "TPM unreachable");
	attestd_host_unlock(h);
	return r;
}
