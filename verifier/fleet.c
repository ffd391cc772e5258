/* fleet.c - the verifier's view that handlers and the decider read: keyed
 * hashing, the fleet CA's host records (cached), host rows and revocation,
 * the decider's facts, and configuration loaded at start (settings, keys,
 * reference sets, policy). Below the handlers and the router. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>

#include "decide/agentev.h"
#include "audit/merkle.h"
#include "audit/audit.h"
#include "attest/decide.h"
#include "attest/intent.h"
#include "attest/policy.h"
#include "enrol/enrol.h"
#include "core/err.h"
#include "core/fileio.h"
#include "net/httpd.h"
#include "core/json.h"
#include "attestation/quote.h"
#include "attestation/refset.h"
#include "server.h"
#include "store.h"
#include "tlsca.h"
#include "tpm/tpm.h"
#include "x509/x509.h"
#include "x509/x509agent.h"
#include "vsrv.h"

int vs_keyed_hash(struct vsrv *s, const void *data, size_t len, uint64_t *out)
{
	EVP_MAC_CTX *c = EVP_MAC_CTX_dup(s->sip);
	uint8_t md[8];
	size_t mdlen = 0;
	int r = ATTEST_OK;

	if (c == NULL || EVP_MAC_update(c, data, len) != 1 ||
	    EVP_MAC_final(c, md, &mdlen, sizeof(md)) != 1 || mdlen != sizeof(md))
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "siphash");
	else
		memcpy(out, md, sizeof(md));
	EVP_MAC_CTX_free(c);
	return r;
}

int vs_keyed_init(struct vsrv *s)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
	uint8_t key[16];
	size_t size = 8;
	OSSL_PARAM params[2];
	int r = ATTEST_OK;

	params[0] = OSSL_PARAM_construct_size_t("size", &size);
	params[1] = OSSL_PARAM_construct_end();
	if (RAND_bytes(key, sizeof(key)) != 1 || mac == NULL ||
	    (s->sip = EVP_MAC_CTX_new(mac)) == NULL ||
	    EVP_MAC_init(s->sip, key, sizeof(key), params) != 1)
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "per-process hash key");
	OPENSSL_cleanse(key, sizeof(key));
	EVP_MAC_free(mac);
	return r;
}

/* After a change every replica must apply: the store's change generation
 * bumped (replica.c applies other replicas' bumps; vsrv.h). */
void vs_changed(struct vsrv *s, const char *what)
{
	uint64_t g = 0;

	/* this process's view first (factview.c), whether or not the bump
	 * is stored */
	s->view_epoch++;
	if (s->store->ops->generation_bump(s->store, &g) != ATTEST_OK) {
		vs_log_limited(s, ATTEST_E_IO, "change generation not bumped after %s: %s", what,
			       attest_errdetail());
		return;
	}
	s->gen = g; /* this replica applied its own change already */
}

/* ---- fleet CA records, cached ---- */

/* The host's AK changed (enrolled again, on another TPM or after a
 * TPM2_Clear): its old counters and state mean nothing for the new AK. */
static int ak_changed(struct vsrv *s, const char *host, const struct ak_entry *e)
{
	char key[100], want[65], have[65];
	uint8_t md[32];
	int r;

	if (EVP_Digest(e->ak, e->ak_len, md, NULL, EVP_sha256(), NULL) != 1)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "AK hash");
	attest_hex(md, sizeof(md), want);
	(void)snprintf(key, sizeof(key), "ak:%s", host);
	r = s->store->ops->setting_get(s->store, key, have, sizeof(have));
	if (r == ATTEST_OK && strcmp(have, want) == 0)
		return ATTEST_OK;
	if (r != ATTEST_OK && r != ATTEST_E_NOT_FOUND)
		return r;
	/* the quote columns only (issue 18): a revocation written meanwhile
	 * stays */
	r = s->store->ops->host_reset_ak(s->store, host);
	if (r == ATTEST_OK)
		vs_log("host %s has a new AK: attestation state starts over", host);
	else if (r != ATTEST_E_NOT_FOUND)
		return r;
	/* only this host's leaves (their evidence is checked against the
	 * new AK anyway): not the whole fleet's (issue 17) */
	attest_decider_forget_host(s->decider, host);
	if ((r = s->store->ops->setting_put(s->store, key, want)) != ATTEST_OK)
		return r;
	vs_changed(s, "an AK reset");
	return ATTEST_OK;
}

int vs_ak_cache_init(struct vsrv *s, size_t entries)
{
	if (entries == 0)
		entries = AK_CACHE_DEFAULT;
	if (entries < AK_WAYS || entries > CACHE_ENTRIES_MAX)
		return attest_fail(ATTEST_E_INVALID_ARG, "AK cache of %zu entries (%d..%d)", entries,
				   AK_WAYS, CACHE_ENTRIES_MAX);
	s->ak_sets = (entries + AK_WAYS - 1) / AK_WAYS;
	if ((s->aks = calloc(s->ak_sets * AK_WAYS, sizeof(*s->aks))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "AK cache");
	return ATTEST_OK;
}

int vs_decider_cache_init(struct vsrv *s, size_t leaves, size_t issuers)
{
	return attest_decider_set_cache(s->decider, leaves != 0 ? leaves : LEAF_CACHE_DEFAULT,
					issuers != 0 ? issuers : ISSUER_CACHE_DEFAULT);
}

/* host's entry in the AK cache (8-way set-associative, keyed hash of the
 * name), or the way it is to take: a free one, else the least recently
 * used (issue 17: a direct-mapped table re-read the CA's record of two
 * hosts sharing a slot on every request past ~1024 hosts). */
static struct ak_entry *ak_way(struct vsrv *s, const char *host, uint64_t hash)
{
	struct ak_entry *set = &s->aks[(size_t)(hash % s->ak_sets) * AK_WAYS], *v = NULL;

	for (unsigned w = 0; w < AK_WAYS; w++)
		if (strcmp(set[w].host, host) == 0) {
			s->m.ak_hits++;
			set[w].last = ++s->ak_tick;
			return &set[w];
		}
	s->m.ak_misses++;
	for (unsigned w = 0; w < AK_WAYS; w++) {
		if (set[w].host[0] == '\0') {
			v = &set[w];
			break;
		}
		if (v == NULL || set[w].last < v->last)
			v = &set[w];
	}
	if (v->host[0] != '\0') {
		s->m.ak_evictions++;
		v->host[0] = '\0';
	}
	v->row_ok = 0;
	v->last = ++s->ak_tick;
	return v;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int host_record(struct vsrv *s, const char *host, int64_t max_age_ms,
		       struct ak_entry **out)
{
	struct ak_entry *e;
	TPM2B_PUBLIC ak;
	char path[PATH_MAX];
	struct stat st;
	size_t off = 0;
	uint64_t slot;
	int r;

	if ((r = vs_keyed_hash(s, host, strlen(host), &slot)) != ATTEST_OK)
		return r;
	e = ak_way(s, host, slot);

	/* the CA's record is the truth: a forgotten or re-enrolled host is
	 * noticed at its next request (a decision's: within max_age_ms) */
	if (max_age_ms > 0 && strcmp(e->host, host) == 0 && mono_ms() - e->stat_ms < max_age_ms) {
		*out = e;
		return ATTEST_OK;
	}
	if (attest_ca_host_path(s->ca, host, path, sizeof(path)) != ATTEST_OK ||
	    stat(path, &st) != 0) {
		if (strcmp(e->host, host) == 0)
			e->host[0] = '\0';
		return attest_fail(ATTEST_E_HOST_UNKNOWN, "host %.64s is not enrolled", host);
	}
	if (strcmp(e->host, host) == 0 && e->ino == st.st_ino && e->size == st.st_size &&
	    e->mtime.tv_sec == st.st_mtim.tv_sec && e->mtime.tv_nsec == st.st_mtim.tv_nsec) {
		e->stat_ms = mono_ms();
		*out = e;
		return ATTEST_OK;
	}
	e->host[0] = '\0';
	e->row_ok = 0;
	memset(&ak, 0, sizeof(ak));
	r = attest_ca_host_info(s->ca, host, &ak, &e->ref_mask, e->ref, sizeof(e->ref), &e->ref_len);
	if (r != ATTEST_OK) {
		e->host[0] = '\0';
		return r == ATTEST_E_NOT_FOUND || r == ATTEST_E_INVALID_ARG
			       ? attest_fail(ATTEST_E_HOST_UNKNOWN, "host %.64s is not enrolled", host)
			       : r;
	}
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&ak, e->ak, sizeof(e->ak), &off) != TSS2_RC_SUCCESS) {
		e->host[0] = '\0';
		return attest_fail(ATTEST_E_INTERNAL, "marshal AK");
	}
	e->ak_len = off;
	if ((r = ak_changed(s, host, e)) != ATTEST_OK)
		return r;
	e->ino = st.st_ino;
	e->size = st.st_size;
	e->mtime = st.st_mtim;
	e->stat_ms = mono_ms();
	(void)snprintf(e->host, sizeof(e->host), "%s", host);
	*out = e;
	return ATTEST_OK;
}

int vs_host_record(struct vsrv *s, const char *host, struct ak_entry **out)
{
	return host_record(s, host, 0, out);
}

int vs_host_record_decide(struct vsrv *s, const char *host, struct ak_entry **out)
{
	return host_record(s, host, s->cfg->sync_ms > 0 ? s->cfg->sync_ms : 500, out);
}

/* The store's host row, created (state new) for a host the CA enrolled. */
int vs_host_row(struct vsrv *s, const char *host, struct vhost *h)
{
	struct ak_entry *e;
	int r = s->store->ops->host_get(s->store, host, h);

	if (r != ATTEST_E_NOT_FOUND)
		return r;
	if ((r = vs_host_record(s, host, &e)) != ATTEST_OK)
		return r;
	memset(h, 0, sizeof(*h));
	(void)snprintf(h->name, sizeof(h->name), "%s", host);
	h->state = VHOST_NEW;
	e->row_ok = 0; /* the view's row of it (factview.c) */
	return s->store->ops->host_put(s->store, h);
}

/* Revocation stops every host endpoint: refused when the store says the
 * host is revoked (a host without a row yet is not). */
int vs_host_not_revoked(struct vsrv *s, const char *host)
{
	struct vhost h;
	int r = s->store->ops->host_get(s->store, host, &h);

	if (r == ATTEST_E_NOT_FOUND)
		return ATTEST_OK;
	if (r != ATTEST_OK)
		return r;
	return h.revoked ? attest_fail(ATTEST_E_REVOKED, "host %s is revoked", host) : ATTEST_OK;
}

/* ---- facts for the decider ---- */

/* ---- configuration loaded at start ---- */

int vs_load_settings(struct vsrv *s)
{
	char v[VSTORE_LIST_MAX];
	int r = s->store->ops->setting_get(s->store, "approval_required", v, sizeof(v));

	if (r == ATTEST_OK)
		s->approval_required = strcmp(v, "1") == 0;
	else if (r != ATTEST_E_NOT_FOUND)
		return r;
	/* "off", or "on:" and the space-separated scopes (none: nothing) */
	r = s->store->ops->setting_get(s->store, "scope_cap", v, sizeof(v));
	s->cap_on = 0;
	s->scope_cap[0] = '\0';
	if (r == ATTEST_E_NOT_FOUND || (r == ATTEST_OK && strcmp(v, "off") == 0))
		return ATTEST_OK;
	if (r != ATTEST_OK)
		return r;
	if (strncmp(v, "on:", 3) != 0)
		return attest_fail(ATTEST_E_STATE, "setting scope_cap malformed");
	s->cap_on = 1;
	(void)snprintf(s->scope_cap, sizeof(s->scope_cap), "%s", v + 3);
	return ATTEST_OK;
}

/* PEM public keys STATE/<sub>/<name>.pem; cb(name, key) for each. */
int vs_load_keys(const char *state, const char *sub,
		     int (*cb)(struct vsrv *s, const char *name, EVP_PKEY *k), struct vsrv *s)
{
	char dir[PATH_MAX], path[PATH_MAX], name[80];
	DIR *d;
	struct dirent *de;
	int r = ATTEST_OK;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", state, sub) >= sizeof(dir))
		return attest_fail(ATTEST_E_INVALID_ARG, "path too long");
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? ATTEST_OK : attest_fail(ATTEST_E_IO, "%s: %s", dir, strerror(errno));
	while (r == ATTEST_OK && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		EVP_PKEY *k = NULL;
		FILE *f;

		if (n < 5 || n - 4 >= sizeof(name) || strcmp(de->d_name + n - 4, ".pem") != 0 ||
		    de->d_name[0] == '.')
			continue;
		memcpy(name, de->d_name, n - 4);
		name[n - 4] = '\0';
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path)) {
			r = attest_fail(ATTEST_E_INVALID_ARG, "path too long");
			break;
		}
		if ((f = fopen(path, "re")) == NULL) {
			r = attest_fail(ATTEST_E_IO, "%s: %s", path, strerror(errno));
			break;
		}
		k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
		fclose(f);
		if (k == NULL) {
			r = attest_fail_ossl(ATTEST_E_PARSE, "%s is not a PEM public key", path);
			break;
		}
		r = cb(s, name, k);
		EVP_PKEY_free(k);
	}
	closedir(d);
	return r;
}

int vs_add_issuer(struct vsrv *s, const char *name, EVP_PKEY *k)
{
	int r = attest_intent_trust_add_issuer(s->trust, name, k);

	if (r == ATTEST_OK)
		s->nissuers++;
	return r;
}

int vs_add_operator(struct vsrv *s, const char *name, EVP_PKEY *k)
{
	if (s->nops >= MAX_OPERATORS || !attest_refset_kid_ok(name))
		return attest_fail(ATTEST_E_INVALID_ARG, "operator key %s: bad name or too many", name);
	if (!EVP_PKEY_up_ref(k))
		return attest_fail_ossl(ATTEST_E_NOMEM, "operator key");
	(void)snprintf(s->op_names[s->nops], sizeof(s->op_names[0]), "%s", name);
	s->ops[s->nops].kid = s->op_names[s->nops];
	s->ops[s->nops].key = k;
	s->nops++;
	return ATTEST_OK;
}

static int refset_cb(void *arg, const struct vrefset *rs)
{
	struct vsrv *s = arg;
	struct attest_refset *set = NULL;
	int r;

	if (s->nsets >= MAX_REFSETS) {
		vs_log("reference set %s not used: over %d active sets", rs->name, MAX_REFSETS);
		return ATTEST_OK;
	}
	r = attest_refset_verify(rs->jws, strlen(rs->jws), s->ops, s->nops, vs_now(), &set);
	if (r != ATTEST_OK) {
		vs_log("reference set %s not used: %s (%s)", rs->name, attest_errname(r),
		      attest_errdetail());
		return ATTEST_OK; /* an expired set drops out; the others stay */
	}
	s->sets[s->nsets++] = set;
	return ATTEST_OK;
}

int vs_load_refsets(struct vsrv *s)
{
	for (size_t i = 0; i < s->nsets; i++)
		attest_refset_free(s->sets[i]);
	s->nsets = 0;
	return s->store->ops->refset_list(s->store, 1, refset_cb, s);
}

/* The policy file parsed (nothing installed). */
int vs_parse_policy(struct vsrv *s, struct attest_policy **out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = attest_file_read(s->policy_path, ATTEST_POLICY_MAX_BYTES, &buf, &len)) != ATTEST_OK)
		return r;
	r = attest_policy_load((const char *)buf, len, out);
	if (r == ATTEST_OK && (r = vs_parse_detection(s, (const char *)buf, len)) != ATTEST_OK) {
		attest_policy_free(*out);
		*out = NULL;
	}
	free(buf);
	return r;
}

/* p becomes the running policy (taken over). */
void vs_install_policy(struct vsrv *s, struct attest_policy *p)
{
	attest_decider_set_policy(s->decider, p);
	if (s->vd != NULL)
		vd_set_config(s->vd, &s->vdc_next);
	attest_policy_free(s->policy);
	s->policy = p;
	vs_log("policy %s loaded: %zu rules, version %s", s->policy_path,
	      attest_policy_rule_count(p), attest_policy_version(p));
}

int vs_load_policy(struct vsrv *s)
{
	struct attest_policy *p = NULL;
	int r = vs_parse_policy(s, &p);

	if (r == ATTEST_OK)
		vs_install_policy(s, p);
	return r;
}

