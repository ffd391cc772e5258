/* decide.c - point-of-use decisions (include/attest/decide.h).
 *
 * Two caches, both set-associative with two candidate sets per key (8
 * ways each, the least recently used of the 16 replaced; sizes
 * attest_decider_set_cache, default 16384 entries each; issue 17:
 * direct-mapped tables of 4096 and 512 forced full chain and evidence
 * checks on every new leaf past ~512 active agent CAs),
 * keyed by a secret-masked certificate key and holding only results of
 * cryptographic checks that do not change with time or with the fleet view:
 *   issuers: a CA certificate (by DER hash) that verified to the fleet root
 *            with the path rule, with its verified path and, for an agent
 *            CA, the result of its TPM evidence check together with the
 *            AK it was checked against (a different AK in the fleet view,
 *            e.g. after the host re-enrolled, checks the evidence again);
 *   leaves:  a presented leaf (by its certificate: PEM input is decoded
 *            first, so two spellings of one chain are one entry) with its
 *            agent, host, validity window (over its path), the intent
 *            chain's expiry, scopes and verified intent chain. Entries
 *            belong to the partition of the request that made them (the
 *            verifier's caller): a partition replaces another's entry only
 *            when that one holds more than its fair share of the entries
 *            (when every way of the set is another's within its share,
 *            the new leaf is decided from a scratch entry, not cached), so
 *            one caller cannot evict another's share.
 * Validity, revocation, approval, host state and policy are checked on
 * every decision. The order of checks is docs/verifier.md "Decisions".
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>

#include "decide/agentev.h"
#include "attest/decide.h"
#include "attest/verify.h"
#include "core/err.h"
#include "intent/intentx.h"
#include "x509/spiffebundle.h"
#include "x509/x509agent.h"

#define WAYS 8u
#define CACHE_DEFAULT 16384u
#define CACHE_MAX (1u << 20)
#define SCOPES_MAX 64
#define PARTITIONS 64u

struct issuer {
	uint8_t key[32];
	int used;
	uint64_t last; /* tick of the last use, for LRU within the set */
	STACK_OF(X509) *path; /* this CA, then its issuers up to the root */
	int64_t not_before, not_after; /* over the path */
	int evidence_done;            /* the path's agent CA evidence verified */
	uint8_t ak[sizeof(TPM2B_PUBLIC)]; /* ... against this AK (marshalled) */
	size_t ak_len;
	char uuid[40];
	uint8_t measurement[32];
};

struct leaf {
	uint8_t key[32];
	int used;
	uint64_t last; /* tick of the last use, for LRU within the set */
	X509 *cert;                    /* the leaf, when keyed by certificate */
	char agent[400];
	char host[64];
	int64_t not_before, not_after; /* leaf and path */
	int64_t life;                  /* the leaf's own notAfter - notBefore */
	int64_t intent_exp;            /* the intent chain's expiry, INT64_MAX without */
	struct issuer *iss;            /* slot of the leaf's issuer */
	uint8_t iss_key[32];           /* to notice the slot was reused */
	char *scopes_buf;              /* leaf's scopes, NUL-separated */
	const char *scopes[SCOPES_MAX];
	size_t nscopes;
	int has_scopes;                /* the leaf carries a scopes extension */
	struct attest_intent_chain *intent;
	int intent_done;
	unsigned part;                 /* partition that cached it */
};

struct attest_decider {
	X509_STORE *store;
	const struct attest_intent_trust *trust;
	const struct attest_facts *facts;
	const struct attest_policy *policy;
	uint8_t pad[31]; /* secret mask of cache keys */
	struct leaf *leaves;            /* leaf_sets * WAYS */
	uint64_t *leaf_tag;             /* per entry: key bytes 1..8 when cached (a hint: a
					 * lookup scans these two cache lines, not 16 entries) */
	uint32_t *leaf_host;            /* per entry: host_hash of its host when cached (a
					 * hint for attest_decider_forget_host's scan) */
	struct issuer *issuers;         /* issuer_sets * WAYS */
	size_t leaf_sets, issuer_sets;
	struct leaf scratch;            /* an uncached leaf, until the next call */
	unsigned part_n[PARTITIONS];    /* cached leaves per partition */
	unsigned parts_active;          /* partitions holding any */
	uint64_t tick;
	uint64_t hits, misses, leaf_evictions;
	uint64_t issuer_hits, issuer_misses, issuer_evictions;
	size_t issuers_used;
	int64_t last_life; /* the last decision's leaf lifetime, 0 none */
	/* the caller's scopes and classes while the delegators' facts are
	 * asked (decide_cached) */
	char own_scopes[4096], own_classes[4096];
	/* federated trust domains (attest_decider_set_federation) */
	char own_td[FED_TD_MAX + 1];
	int (*fed_lookup)(void *arg, const char *td, const uint8_t **der, size_t *der_len);
	void *fed_arg;
	char fed_td[FED_TD_MAX + 1]; /* the last decision's federated domain, "" none */
};

/* Bounded copy, cut at n - 1 bytes (snprintf's formatting cost a tenth of
 * a decision on its hot path). */
static void copy_str(char *dst, size_t n, const char *src)
{
	size_t len = strnlen(src, n - 1);

	memcpy(dst, src, len);
	dst[len] = '\0';
}

static int deny(struct attest_decision *out, int reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int deny(struct attest_decision *out, int reason, const char *fmt, ...)
{
	va_list ap;

	out->allow = 0;
	out->reason = reason;
	va_start(ap, fmt);
	(void)vsnprintf(out->detail, sizeof(out->detail), fmt, ap);
	va_end(ap);
	return reason;
}

static void leaf_clear(struct leaf *l)
{
	X509_free(l->cert);
	free(l->scopes_buf);
	attest_intent_chain_free(l->intent);
	memset(l, 0, sizeof(*l));
}

static void issuer_clear(struct issuer *i)
{
	sk_X509_pop_free(i->path, X509_free);
	memset(i, 0, sizeof(*i));
}

int attest_decider_new(X509 *fleet_root, const struct attest_intent_trust *trust,
		       const struct attest_facts *facts, struct attest_decider **out)
{
	struct attest_decider *d;

	if (fleet_root == NULL || trust == NULL || facts == NULL || facts->host == NULL ||
	    facts->agent == NULL || out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "decider: missing argument");
	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "decider");
	d->trust = trust;
	d->facts = facts;
	d->leaf_sets = CACHE_DEFAULT / WAYS;
	d->issuer_sets = CACHE_DEFAULT / WAYS;
	if ((d->leaves = calloc(d->leaf_sets * WAYS, sizeof(*d->leaves))) == NULL ||
	    (d->leaf_tag = calloc(d->leaf_sets * WAYS, sizeof(*d->leaf_tag))) == NULL ||
	    (d->leaf_host = calloc(d->leaf_sets * WAYS, sizeof(*d->leaf_host))) == NULL ||
	    (d->issuers = calloc(d->issuer_sets * WAYS, sizeof(*d->issuers))) == NULL ||
	    (d->store = X509_STORE_new()) == NULL || X509_STORE_add_cert(d->store, fleet_root) != 1 ||
	    RAND_bytes(d->pad, sizeof(d->pad)) != 1) {
		attest_decider_free(d);
		return attest_fail_ossl(ATTEST_E_NOMEM, "decider");
	}
	*out = d;
	return ATTEST_OK;
}

/* Drop a cached leaf, keeping the partition counts. */
static void leaf_drop(struct attest_decider *d, struct leaf *l)
{
	if (l != &d->scratch) {
		d->leaf_tag[l - d->leaves] = 0;
		d->leaf_host[l - d->leaves] = 0;
	}
	if (l->used && l != &d->scratch && d->part_n[l->part] > 0 &&
	    --d->part_n[l->part] == 0 && d->parts_active > 0)
		d->parts_active--;
	leaf_clear(l);
}

/* 1 when part holds more than its fair share of the leaf slots. */
static int over_share(const struct attest_decider *d, unsigned part)
{
	unsigned active = d->parts_active > 0 ? d->parts_active : 1;

	return d->part_n[part] > d->leaf_sets * WAYS / active;
}

void attest_decider_cache_stats(const struct attest_decider *d, uint64_t *hits, uint64_t *misses)
{
	*hits = d->hits;
	*misses = d->misses;
}

void attest_decider_cache_info(const struct attest_decider *d, struct attest_decider_cache_info *out)
{
	size_t used = 0;

	memset(out, 0, sizeof(*out));
	if (d == NULL)
		return;
	for (unsigned p = 0; p < PARTITIONS; p++)
		used += d->part_n[p];
	out->leaf_hits = d->hits;
	out->leaf_misses = d->misses;
	out->leaf_evictions = d->leaf_evictions;
	out->leaf_entries = d->leaf_sets * WAYS;
	out->leaf_used = used;
	out->issuer_hits = d->issuer_hits;
	out->issuer_misses = d->issuer_misses;
	out->issuer_evictions = d->issuer_evictions;
	out->issuer_entries = d->issuer_sets * WAYS;
	out->issuer_used = d->issuers_used;
}

void attest_decider_flush(struct attest_decider *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->leaf_sets * WAYS; i++)
		if (d->leaves[i].used)
			leaf_drop(d, &d->leaves[i]);
	leaf_clear(&d->scratch);
	for (size_t i = 0; i < d->issuer_sets * WAYS; i++)
		if (d->issuers[i].used)
			issuer_clear(&d->issuers[i]);
	d->issuers_used = 0;
}

/* FNV-1a of a host name: only a hint to skip entries, confirmed on the
 * name. */
static uint32_t host_hash(const char *h)
{
	uint32_t x = 2166136261u;

	for (; *h != '\0'; h++)
		x = (x ^ (uint8_t)*h) * 16777619u;
	return x | 1; /* never 0, the free mark */
}

void attest_decider_forget_host(struct attest_decider *d, const char *host)
{
	uint32_t hh;

	if (d == NULL || host == NULL)
		return;
	hh = host_hash(host);
	for (size_t i = 0; i < d->leaf_sets * WAYS; i++)
		if (d->leaf_host[i] == hh && d->leaves[i].used && strcmp(d->leaves[i].host, host) == 0)
			leaf_drop(d, &d->leaves[i]);
	if (d->scratch.used && strcmp(d->scratch.host, host) == 0)
		leaf_clear(&d->scratch);
}

int attest_decider_set_cache(struct attest_decider *d, size_t leaves, size_t issuers)
{
	struct leaf *nl;
	struct issuer *ni;
	uint64_t *nt;
	uint32_t *nh;
	size_t ls, is;

	if (d == NULL || leaves < WAYS || leaves > CACHE_MAX || issuers < WAYS ||
	    issuers > CACHE_MAX)
		return attest_fail(ATTEST_E_INVALID_ARG, "decider cache: %zu leaves, %zu issuers "
				   "(each %u..%u)", leaves, issuers, WAYS, CACHE_MAX);
	ls = (leaves + WAYS - 1) / WAYS;
	is = (issuers + WAYS - 1) / WAYS;
	if ((nl = calloc(ls * WAYS, sizeof(*nl))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "decider leaf cache");
	nt = NULL;
	nh = NULL;
	if ((ni = calloc(is * WAYS, sizeof(*ni))) == NULL ||
	    (nt = calloc(ls * WAYS, sizeof(*nt))) == NULL ||
	    (nh = calloc(ls * WAYS, sizeof(*nh))) == NULL) {
		free(nh);
		free(nt);
		free(ni);
		free(nl);
		return attest_fail(ATTEST_E_NOMEM, "decider issuer cache");
	}
	attest_decider_flush(d);
	free(d->leaves);
	free(d->issuers);
	free(d->leaf_tag);
	free(d->leaf_host);
	d->leaf_tag = nt;
	d->leaf_host = nh;
	d->leaves = nl;
	d->issuers = ni;
	d->leaf_sets = ls;
	d->issuer_sets = is;
	return ATTEST_OK;
}

void attest_decider_free(struct attest_decider *d)
{
	if (d == NULL)
		return;
	if (d->leaves != NULL && d->issuers != NULL && d->leaf_tag != NULL &&
	    d->leaf_host != NULL)
		attest_decider_flush(d);
	free(d->leaves);
	free(d->leaf_tag);
	free(d->leaf_host);
	free(d->issuers);
	X509_STORE_free(d->store);
	free(d);
}

int attest_decider_set_federation(struct attest_decider *d, const char *own_td,
				  int (*lookup)(void *arg, const char *td, const uint8_t **der,
						size_t *der_len),
				  void *arg)
{
	if (d == NULL || lookup == NULL || !fed_td_ok(own_td))
		return attest_fail(ATTEST_E_INVALID_ARG, "decider federation: our trust domain "
				   "and a lookup are needed");
	copy_str(d->own_td, sizeof(d->own_td), own_td);
	d->fed_lookup = lookup;
	d->fed_arg = arg;
	return ATTEST_OK;
}

const char *attest_decider_federated(const struct attest_decider *d)
{
	return d != NULL && d->fed_td[0] != '\0' ? d->fed_td : NULL;
}

void attest_decider_set_policy(struct attest_decider *d, const struct attest_policy *p)
{
	if (d != NULL)
		d->policy = p;
}

/* ---- helpers ---- */

/* A cache key for a parsed certificate: the last bytes of its signature
 * (an ECDSA signature's s is random), masked with the decider's secret
 * pad so nobody can aim certificates at one slot. Hashing the DER cost a
 * third of a decision. A key only finds a slot; what is in the slot is
 * confirmed with X509_cmp, which compares the to-be-signed DER bytes, so
 * two certificates cannot pass for each other whatever their keys. */
static int cert_key(const struct attest_decider *d, X509 *c, char tag, uint8_t out[32])
{
	const ASN1_BIT_STRING *sig = NULL;
	const unsigned char *p;
	int n;

	X509_get0_signature(&sig, NULL, c);
	if (sig == NULL || (n = ASN1_STRING_length(sig)) < 31 ||
	    (p = ASN1_STRING_get0_data(sig)) == NULL || X509_check_purpose(c, -1, 0) != 1)
		return attest_fail_ossl(ATTEST_E_PARSE, "certificate signature");
	out[0] = (uint8_t)tag;
	for (int i = 0; i < 31; i++)
		out[1 + i] = p[n - 31 + i] ^ d->pad[i];
	return ATTEST_OK;
}

static int issuer_is(const struct issuer *iss, const uint8_t key[32], X509 *c)
{
	return iss->used && memcmp(iss->key, key, 32) == 0 &&
	       X509_cmp(sk_X509_value(iss->path, 0), c) == 0;
}

static int leaf_is(const struct leaf *l, const uint8_t key[32], X509 *leafcert)
{
	return l->used && memcmp(l->key, key, 32) == 0 && l->cert != NULL &&
	       X509_cmp(l->cert, leafcert) == 0;
}

/* The first ways of key's two candidate sets among sets * WAYS entries
 * (from two disjoint parts of the key; the same set when they agree). An
 * entry may live in either: with two choices, sets overflow (and evict
 * early) far more rarely than with one, at the cost of scanning 16 ways
 * instead of 8 (issue 17: 8 ways of one set missed 4% at 10,000 agents). */
static void sets_of(const uint8_t key[32], size_t sets, size_t out[2])
{
	uint64_t a = 0, b = 0;

	for (int i = 1; i < 9; i++) /* key[0] is the tag */
		a = (a << 8) | key[i];
	for (int i = 9; i < 17; i++)
		b = (b << 8) | key[i];
	out[0] = (size_t)(a % sets) * WAYS;
	out[1] = (size_t)(b % sets) * WAYS;
}

static struct issuer *issuer_find(struct attest_decider *d, const uint8_t key[32], X509 *c)
{
	size_t set[2];

	sets_of(key, d->issuer_sets, set);
	for (int k = 0; k < 2; k++)
		for (unsigned w = 0; w < WAYS; w++)
			if (issuer_is(&d->issuers[set[k] + w], key, c))
				return &d->issuers[set[k] + w];
	return NULL;
}

/* A way for a new issuer: a free one of either set, else the least
 * recently used of both (evicted: leaves under it notice by its key and
 * are verified again). */
static struct issuer *issuer_victim(struct attest_decider *d, const uint8_t key[32])
{
	struct issuer *v = NULL;
	size_t set[2];

	sets_of(key, d->issuer_sets, set);
	for (int k = 0; k < 2; k++)
		for (unsigned w = 0; w < WAYS; w++) {
			struct issuer *i = &d->issuers[set[k] + w];

			if (!i->used)
				return i;
			if (v == NULL || i->last < v->last)
				v = i;
		}
	d->issuer_evictions++;
	issuer_clear(v);
	d->issuers_used--;
	return v;
}

static uint64_t tag_of(const uint8_t key[32])
{
	uint64_t t;

	memcpy(&t, key + 1, sizeof(t));
	return t | 1; /* never 0, the free mark */
}

static struct leaf *leaf_find(struct attest_decider *d, const uint8_t key[32], X509 *c)
{
	uint64_t t = tag_of(key);
	size_t set[2];

	sets_of(key, d->leaf_sets, set);
	for (int k = 0; k < 2; k++)
		for (unsigned w = 0; w < WAYS; w++)
			if (d->leaf_tag[set[k] + w] == t && leaf_is(&d->leaves[set[k] + w], key, c))
				return &d->leaves[set[k] + w];
	return NULL;
}

/* A way for a new leaf of partition part: a free one of either set, else
 * the least recently used of those part may take (its own, or a
 * partition's over its share); NULL when there is none (not cached). */
static struct leaf *leaf_victim(struct attest_decider *d, const uint8_t key[32], unsigned part)
{
	struct leaf *v = NULL;
	size_t set[2];

	sets_of(key, d->leaf_sets, set);
	for (int k = 0; k < 2; k++)
		for (unsigned w = 0; w < WAYS; w++) {
			struct leaf *l = &d->leaves[set[k] + w];

			if (!l->used)
				return l;
			if ((l->part == part || over_share(d, l->part)) &&
			    (v == NULL || l->last < v->last))
				v = l;
		}
	if (v != NULL) {
		d->leaf_evictions++;
		leaf_drop(d, v);
	}
	return v;
}

/* Fold a certificate's validity into [*nb, *na]. */
static int window(X509 *c, int64_t *nb, int64_t *na)
{
	int64_t b = 0, a = 0;
	int r;

	if ((r = attest_asn1_time_unix(X509_get0_notBefore(c), &b)) != ATTEST_OK ||
	    (r = attest_asn1_time_unix(X509_get0_notAfter(c), &a)) != ATTEST_OK)
		return r;
	if (b > *nb)
		*nb = b;
	if (a < *na)
		*na = a;
	return ATTEST_OK;
}

static int parse_pem(const char *pem, size_t len, STACK_OF(X509) **out)
{
	STACK_OF(X509) *sk = NULL;
	BIO *bio = NULL;
	X509 *c;
	int r = ATTEST_E_INTERNAL;

	*out = NULL;
	if (len == 0 || len > ATTEST_DECIDE_PEM_MAX)
		return attest_fail(len == 0 ? ATTEST_E_PARSE : ATTEST_E_TOO_LARGE,
				   "chain of %zu PEM bytes (1..%d)", len, ATTEST_DECIDE_PEM_MAX);
	if ((sk = sk_X509_new_null()) == NULL ||
	    (bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "PEM chain");
		goto out;
	}
	while ((c = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(sk) >= ATTEST_DECIDE_CHAIN_MAX || sk_X509_push(sk, c) <= 0) {
			X509_free(c);
			r = attest_fail(ATTEST_E_TOO_LARGE, "more than %d certificates",
					ATTEST_DECIDE_CHAIN_MAX);
			goto out;
		}
	}
	/* only the end of the input may stop the loop */
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE ||
	    sk_X509_num(sk) == 0) {
		r = attest_fail_ossl(ATTEST_E_PARSE, "chain is not PEM certificates");
		goto out;
	}
	ERR_clear_error();
	*out = sk;
	sk = NULL;
	r = ATTEST_OK;
out:
	BIO_free(bio);
	sk_X509_pop_free(sk, X509_free);
	return r;
}

static int host_facts(struct attest_decider *d, const char *host, struct attest_host_facts *hf)
{
	int r;

	memset(hf, 0, sizeof(*hf));
	r = d->facts->host(d->facts->arg, host, hf);
	if (r == ATTEST_E_NOT_FOUND)
		return attest_fail(ATTEST_E_HOST_UNKNOWN, "host %s is not enrolled", host);
	if (r != ATTEST_OK)
		return r;
	if (hf->revoked)
		return attest_fail(ATTEST_E_REVOKED, "host %s is revoked", host);
	return ATTEST_OK;
}

static int agent_facts(struct attest_decider *d, const char *id, struct attest_agent_facts *af)
{
	int r;

	memset(af, 0, sizeof(*af));
	r = d->facts->agent(d->facts->arg, id, af);
	if (r == ATTEST_E_NOT_FOUND)
		return attest_fail(ATTEST_E_AGENT_UNKNOWN, "agent %s is not in the inventory", id);
	if (r != ATTEST_OK)
		return r;
	if (af->revoked)
		return attest_fail(ATTEST_E_REVOKED, "agent %s is revoked", id);
	return ATTEST_OK;
}

/* ---- chain verification ---- */

static int x509_reason(int err)
{
	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return ATTEST_E_CERT_EXPIRED;
	default:
		return ATTEST_E_CHAIN_UNTRUSTED;
	}
}

/* leaf with untrusted under store at now, as a TLS client (strict, flags):
 * ATTEST_OK or the reason OpenSSL gave, with its depth. */
static int chain_verify(X509_STORE_CTX *ctx, X509_STORE *store, X509 *leaf,
			STACK_OF(X509) *untrusted, int64_t now, unsigned long flags)
{
	if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1)
		return attest_fail_ossl(ATTEST_E_NOMEM, "verify context");
	X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
	X509_STORE_CTX_set_flags(ctx, flags);
	if (X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) != 1)
		return attest_fail_ossl(ATTEST_E_INTERNAL, "verify purpose");
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);

		ERR_clear_error();
		return attest_fail(x509_reason(e), "chain: %s (depth %d)",
				   X509_verify_cert_error_string(e),
				   X509_STORE_CTX_get_error_depth(ctx));
	}
	return ATTEST_OK;
}

/* Full verification of the presented chain to the fleet root; on success
 * the leaf's issuer and its path go into the issuer cache. */
static int verify_full(struct attest_decider *d, STACK_OF(X509) *chain, int64_t now,
		       struct issuer **iss_out)
{
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *untrusted = NULL, *vchain = NULL;
	struct issuer *iss;
	uint8_t key[32];
	int r = ATTEST_E_INTERNAL;

	if ((ctx = X509_STORE_CTX_new()) == NULL || (untrusted = sk_X509_dup(chain)) == NULL) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "verify context");
		goto out;
	}
	(void)sk_X509_shift(untrusted); /* the leaf */
	/* the fleet's issuing CAs the trust knows, for a chain that left its
	 * own out: candidates only, the path still ends at the fleet root */
	{
		STACK_OF(X509) *inter = attest_intent_trust_intermediates(d->trust);

		for (int i = 0; i < sk_X509_num(inter); i++)
			if (!sk_X509_push(untrusted, sk_X509_value(inter, i))) {
				r = attest_fail_ossl(ATTEST_E_NOMEM, "verify context");
				goto out;
			}
	}
	if ((r = chain_verify(ctx, d->store, sk_X509_value(chain, 0), untrusted, now,
			      X509_V_FLAG_X509_STRICT)) != ATTEST_OK)
		goto out;
	if ((vchain = X509_STORE_CTX_get1_chain(ctx)) == NULL) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "verified chain");
		goto out;
	}
	if ((r = attest_verify_path(vchain)) != ATTEST_OK)
		goto out;
	if ((r = cert_key(d, sk_X509_value(vchain, 1), 'I', key)) != ATTEST_OK)
		goto out;
	if ((iss = issuer_find(d, key, sk_X509_value(vchain, 1))) != NULL) {
		issuer_clear(iss); /* the same CA again: its entry is made anew */
		d->issuers_used--;
	} else {
		iss = issuer_victim(d, key);
	}
	memcpy(iss->key, key, 32);
	iss->not_before = INT64_MIN;
	iss->not_after = INT64_MAX;
	X509_free(sk_X509_shift(vchain)); /* keep the issuers only */
	for (int i = 0; i < sk_X509_num(vchain); i++)
		if ((r = window(sk_X509_value(vchain, i), &iss->not_before, &iss->not_after)) !=
		    ATTEST_OK)
			goto out;
	iss->path = vchain;
	vchain = NULL;
	iss->used = 1;
	iss->last = ++d->tick;
	d->issuers_used++;
	*iss_out = iss;
	r = ATTEST_OK;
out:
	sk_X509_pop_free(vchain, X509_free);
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	return r;
}

/* The leaf under an issuer verified before: what X509_verify_cert checks
 * of a leaf whose issuer is trusted (issuer-subject match, key usage of
 * the issuer, the signature, the leaf's purpose and critical extensions),
 * and the path rule over the cached path. */
static int verify_under(struct issuer *iss, X509 *leaf)
{
	STACK_OF(X509) *path = NULL;
	X509 *ca = sk_X509_value(iss->path, 0);
	int e, r;

	if ((e = X509_check_issued(ca, leaf)) != X509_V_OK)
		return attest_fail(ATTEST_E_CHAIN_UNTRUSTED, "leaf: %s",
				   X509_verify_cert_error_string(e));
	if (X509_verify(leaf, X509_get0_pubkey(ca)) != 1) {
		ERR_clear_error();
		return attest_fail(ATTEST_E_CHAIN_UNTRUSTED, "leaf signature does not verify");
	}
	if (X509_check_purpose(leaf, X509_PURPOSE_SSL_CLIENT, 0) != 1 ||
	    (X509_get_extension_flags(leaf) & (EXFLAG_CRITICAL | EXFLAG_INVALID)) != 0)
		return attest_fail(ATTEST_E_CHAIN_UNTRUSTED,
				   "leaf is not a client certificate or has an unknown critical extension");
	if ((path = sk_X509_dup(iss->path)) == NULL || sk_X509_unshift(path, leaf) <= 0) {
		sk_X509_free(path);
		return attest_fail(ATTEST_E_NOMEM, "path");
	}
	r = attest_verify_path(path);
	sk_X509_free(path);
	return r;
}

static int split_scopes(struct leaf *l, X509 *leaf)
{
	char *s = NULL, *p;
	int r = attest_x509_ext_utf8(leaf, ATTEST_OID_SCOPES, &s);

	if (r == ATTEST_E_NOT_FOUND)
		return ATTEST_OK;
	if (r != ATTEST_OK)
		return attest_fail_wrap(ATTEST_E_CHAIN_UNTRUSTED, "leaf scopes");
	l->has_scopes = 1;
	l->scopes_buf = s;
	for (char *save = NULL, *q = strtok_r(s, " ", &save); (p = q) != NULL;
	     q = strtok_r(NULL, " ", &save)) {
		if (l->nscopes >= SCOPES_MAX)
			return attest_fail(ATTEST_E_TOO_LARGE, "leaf carries over %d scopes",
					   SCOPES_MAX);
		l->scopes[l->nscopes++] = p;
	}
	return ATTEST_OK;
}

/* Verify a leaf not seen before and cache it. */
static int verify_leaf(struct attest_decider *d, const struct attest_decide_req *req,
		       const uint8_t key[32], int64_t now, struct leaf **out)
{
	STACK_OF(X509) *chain = req->chain;
	unsigned part = req->partition % PARTITIONS;
	struct issuer *iss = NULL;
	struct leaf *l = NULL;
	struct attest_agent_id id;
	uint8_t ikey[32];
	X509 *leaf;
	char *uri = NULL;
	int r;

	if (sk_X509_num(chain) < 2 || sk_X509_num(chain) > ATTEST_DECIDE_CHAIN_MAX) {
		r = attest_fail(ATTEST_E_CHAIN_UNTRUSTED, "chain of %d certificates",
				sk_X509_num(chain));
		goto out;
	}
	leaf = sk_X509_value(chain, 0);
	if ((r = cert_key(d, sk_X509_value(chain, 1), 'I', ikey)) != ATTEST_OK)
		goto out;
	if ((iss = issuer_find(d, ikey, sk_X509_value(chain, 1))) != NULL) {
		d->issuer_hits++;
		iss->last = ++d->tick;
		if ((r = verify_under(iss, leaf)) != ATTEST_OK)
			goto out;
	} else {
		d->issuer_misses++;
		if ((r = verify_full(d, chain, now, &iss)) != ATTEST_OK)
			goto out;
	}
	if ((r = attest_x509_one_san_uri(leaf, &uri)) != ATTEST_OK ||
	    (r = attest_agent_id_parse(uri, &id)) != ATTEST_OK) {
		r = attest_fail_wrap(ATTEST_E_PATH, "leaf ID");
		goto out;
	}
	if ((l = leaf_victim(d, key, part)) == NULL)
		l = &d->scratch; /* every way another caller's, within its share */
	if (l->used)
		leaf_drop(d, l);
	memcpy(l->key, key, 32);
	/* keyed by the certificate: keep it to confirm the key */
	if (X509_up_ref(leaf) != 1) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "leaf reference");
		memset(l, 0, sizeof(*l));
		goto out;
	}
	l->cert = leaf;
	memcpy(l->iss_key, iss->key, 32);
	l->iss = iss;
	copy_str(l->agent, sizeof(l->agent), uri);
	copy_str(l->host, sizeof(l->host), id.host);
	l->not_before = iss->not_before;
	l->not_after = iss->not_after;
	l->intent_exp = INT64_MAX;
	{
		int64_t nb = INT64_MIN, na = INT64_MAX;

		if ((r = window(leaf, &nb, &na)) != ATTEST_OK ||
		    (r = window(leaf, &l->not_before, &l->not_after)) != ATTEST_OK ||
		    (r = split_scopes(l, leaf)) != ATTEST_OK) {
			leaf_clear(l);
			goto out;
		}
		l->life = na > nb ? na - nb : 0;
	}
	{
		/* the intent chain is verified later, in order; keep its text */
		char *tok = NULL;
		int ir = attest_x509_ext_intent(leaf, &tok);

		if (ir == ATTEST_OK) {
			l->intent_done = 0;
			/* verified now: it is a property of this leaf alone */
			ir = attest_intent_verify_with(d->trust, iss->path, tok, l->agent, (time_t)now,
						       &l->intent);
			free(tok);
			if (ir != ATTEST_OK) {
				r = ir;
				leaf_clear(l);
				goto out;
			}
			l->intent_exp = attest_intent_chain_expiry(l->intent);
		} else if (ir != ATTEST_E_NOT_FOUND) {
			r = attest_fail_wrap(ATTEST_E_INTENT_CHAIN, "leaf intent");
			leaf_clear(l);
			goto out;
		}
		l->intent_done = 1;
	}
	l->used = 1;
	l->part = part;
	l->last = ++d->tick;
	if (l != &d->scratch) {
		d->leaf_tag[l - d->leaves] = tag_of(key);
		d->leaf_host[l - d->leaves] = host_hash(l->host);
	}
	if (l != &d->scratch && d->part_n[part]++ == 0)
		d->parts_active++;
	*out = l;
	r = ATTEST_OK;
out:
	free(uri);
	return r;
}

/* The agent CA of the leaf's path (the cert with an agent ID and pathlen
 * 1) checked against the host's AK, once per cached issuer and AK. */
static int check_evidence(struct issuer *iss, const struct attest_host_facts *hf)
{
	TPM2B_PUBLIC ak;
	struct attest_agent_ca_info info;
	size_t off = 0;
	X509 *agent_ca = NULL;
	int r;

	if (iss->evidence_done && hf->ak != NULL && hf->ak_len == iss->ak_len &&
	    memcmp(hf->ak, iss->ak, iss->ak_len) == 0)
		return ATTEST_OK;
	iss->evidence_done = 0;
	for (int i = 0; i < sk_X509_num(iss->path) && agent_ca == NULL; i++) {
		X509 *c = sk_X509_value(iss->path, i);

		if (X509_check_ca(c) != 0 && X509_get_pathlen(c) == 1)
			agent_ca = c;
	}
	if (agent_ca == NULL)
		return attest_fail(ATTEST_E_AGENT_EVIDENCE, "no agent CA in the path");
	memset(&ak, 0, sizeof(ak));
	if (hf->ak == NULL || hf->ak_len > sizeof(iss->ak) || Tss2_MU_TPM2B_PUBLIC_Unmarshal(hf->ak, hf->ak_len, &off, &ak) !=
				      TSS2_RC_SUCCESS || off != hf->ak_len)
		return attest_fail(ATTEST_E_AGENT_EVIDENCE, "host AK unknown or malformed");
	if ((r = attest_agent_ca_evidence(agent_ca, &ak, &info)) != ATTEST_OK)
		return r;
	(void)snprintf(iss->uuid, sizeof(iss->uuid), "%s", info.uuid);
	memcpy(iss->measurement, info.measurement, 32);
	attest_agent_ca_info_clear(&info);
	memcpy(iss->ak, hf->ak, hf->ak_len);
	iss->ak_len = hf->ak_len;
	iss->evidence_done = 1;
	return ATTEST_OK;
}

/* Every delegator of the intent chain (not the caller) must be known and
 * neither it nor its host revoked. */
static int check_delegators(struct attest_decider *d, const struct leaf *l)
{
	unsigned n = attest_intent_chain_depth(l->intent);
	struct attest_host_facts hf;
	struct attest_agent_facts af;
	int r;

	for (unsigned i = 0; i < n; i++) {
		const char *host = NULL;
		const char *id = attest_intent_chain_agent(l->intent, i, &host);

		if (id == NULL || host == NULL)
			return attest_fail(ATTEST_E_INTENT_CHAIN, "delegator %u unknown", i);
		if ((r = host_facts(d, host, &hf)) != ATTEST_OK ||
		    (r = agent_facts(d, id, &af)) != ATTEST_OK)
			return attest_fail_wrap(r == ATTEST_E_REVOKED ? r : ATTEST_E_REVOKED,
						"delegator");
	}
	return ATTEST_OK;
}

static int in_array(const char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

static size_t split_words(const char *s, char *buf, size_t bufsz, const char **v, size_t max)
{
	size_t n = 0;

	if (s == NULL || strlen(s) >= bufsz)
		return 0;
	copy_str(buf, bufsz, s);
	for (char *save = NULL, *p = strtok_r(buf, " ", &save); p != NULL && n < max;
	     p = strtok_r(NULL, " ", &save))
		v[n++] = p;
	return n;
}

static int decide_cached(struct attest_decider *d, struct leaf *l,
			 const struct attest_decide_req *req, int64_t now,
			 struct attest_decision *out)
{
	struct attest_host_facts hf;
	struct attest_agent_facts af;
	struct attest_policy_request pr;
	struct attest_policy_decision pd;
	const char *scopes[SCOPES_MAX], *classes[SCOPES_MAX], *agents[ATTEST_INTENT_MAX_DEPTH + 1];
	char classbuf[1024];
	size_t nscopes = 0, nclasses, nagents = 0;
	const char *purpose = NULL;
	int r;

	copy_str(out->agent, sizeof(out->agent), l->agent);
	copy_str(out->host, sizeof(out->host), l->host);
	out->intent = l->intent;
	d->last_life = l->life;
	if (now < l->not_before || now >= l->not_after)
		return deny(out, ATTEST_E_CERT_EXPIRED,
			    "a certificate of the chain is outside its validity window");
	/* as attest_intent_verify says of a leaf seen for the first time */
	if (now >= l->intent_exp)
		return deny(out, ATTEST_E_INTENT_EXPIRED, "the intent chain expired at %lld",
			    (long long)l->intent_exp);
	if ((r = host_facts(d, l->host, &hf)) != ATTEST_OK ||
	    (r = agent_facts(d, l->agent, &af)) != ATTEST_OK)
		return deny(out, r, "%s", attest_errdetail());
	if (!af.approved)
		return deny(out, ATTEST_E_NOT_APPROVED, "agent %s awaits operator approval",
			    l->agent);
	if (!hf.trusted)
		return deny(out, ATTEST_E_HOST_UNTRUSTED, "host %s is not attested as trusted",
			    l->host);
	if ((r = check_evidence(l->iss, &hf)) != ATTEST_OK)
		return deny(out, r, "%s", attest_errdetail());
	if (strcmp(l->iss->uuid, af.uuid) != 0 ||
	    CRYPTO_memcmp(l->iss->measurement, af.measurement, 32) != 0)
		return deny(out, ATTEST_E_AGENT_EVIDENCE,
			    "agent CA is not the registration in the inventory (UUID or measurement)");
	if (l->intent != NULL) {
		/* the caller's facts are borrowed until the next callback, and
		 * the delegators' come next: its scopes and classes kept here */
		if (attest_intent_chain_depth(l->intent) > 0) {
			size_t sl = af.scopes != NULL ? strlen(af.scopes) : 0;
			size_t cl = af.data_classes != NULL ? strlen(af.data_classes) : 0;

			if (sl >= sizeof(d->own_scopes) || cl >= sizeof(d->own_classes))
				return deny(out, ATTEST_E_TOO_LARGE, "agent %s: scopes or data "
					    "classes over %zu bytes", l->agent,
					    sizeof(d->own_scopes) - 1);
			memcpy(d->own_scopes, sl ? af.scopes : "", sl + 1);
			memcpy(d->own_classes, cl ? af.data_classes : "", cl + 1);
			af.scopes = d->own_scopes;
			af.data_classes = d->own_classes;
		}
		if ((r = check_delegators(d, l)) != ATTEST_OK)
			return deny(out, r, "%s", attest_errdetail());
		if (!attest_intent_chain_allows_resource(l->intent, req->resource))
			return deny(out, ATTEST_E_SCOPE, "resource %.200s is outside the intent",
				    req->resource);
	}
	/* effective scopes: the leaf's, within the registration (and fleet
	 * cap), within the intent chain's */
	for (size_t i = 0; i < l->nscopes; i++) {
		const char *s = l->scopes[i];
		const char *const *cs;
		size_t cn;

		if (!attest_scopes_has(af.scopes, s))
			continue;
		if (l->intent != NULL) {
			cn = attest_intent_chain_scopes(l->intent, &cs);
			if (!in_array(cs, cn, s))
				continue;
		}
		scopes[nscopes++] = s;
	}
	nclasses = split_words(af.data_classes, classbuf, sizeof(classbuf), classes, SCOPES_MAX);
	if (l->intent != NULL) {
		unsigned depth = attest_intent_chain_depth(l->intent);

		for (unsigned i = 0; i <= depth; i++)
			agents[nagents++] = attest_intent_chain_agent(l->intent, i, NULL);
		purpose = attest_purpose_name(attest_intent_chain_purpose(l->intent, NULL));
	} else {
		agents[nagents++] = l->agent;
	}
	if (d->policy == NULL)
		return deny(out, ATTEST_E_NO_RULE, "no policy loaded");
	memset(&pr, 0, sizeof(pr));
	pr.action = req->action;
	pr.resource = req->resource;
	pr.user = l->intent != NULL ? attest_intent_chain_user(l->intent) : NULL;
	pr.purpose = purpose;
	pr.agents = agents;
	pr.nagents = nagents;
	pr.scopes = scopes;
	pr.nscopes = nscopes;
	pr.depth = l->intent != NULL ? attest_intent_chain_depth(l->intent) : 0;
	pr.risk_tier = af.risk_tier;
	pr.risk_score = af.risk_score;
	pr.data_classes = classes;
	pr.ndata_classes = nclasses;
	pr.host_attested_age = hf.last_good > 0 ? (now > hf.last_good ? now - hf.last_good : 0) : -1;
	pr.now = now;
	pr.ctx_keys = req->ctx_keys;
	pr.ctx_values = req->ctx_values;
	pr.nctx = req->nctx;
	if (l->intent != NULL)
		pr.intent_issued = attest_intent_chain_issued(l->intent);
	if (req->anomaly != NULL) {
		double a = req->anomaly(req->anomaly_arg, l->agent, pr.user, purpose, req->resource);

		/* fail closed on a score that is not one: the highest */
		pr.anomaly = a >= 0 && a <= 1 ? a : 1;
	}
	if ((r = attest_policy_eval(d->policy, &pr, &pd)) != ATTEST_OK)
		return deny(out, r, "policy: %s", attest_errdetail());
	copy_str(out->rule, sizeof(out->rule), pd.rule);
	copy_str(out->detail, sizeof(out->detail), pd.detail);
	out->allow = pd.allow;
	out->reason = pd.allow ? ATTEST_OK : pd.reason;
	return out->reason;
}

/* ---- federated trust domains ---- */

/* <td> of a SPIFFE ID spiffe://<td>/<path>: 1 and td, or 0 when id is no
 * SPIFFE ID with a valid trust domain. */
static int spiffe_td(const char *id, char td[FED_TD_MAX + 1])
{
	size_t n;

	if (strncmp(id, "spiffe://", 9) != 0)
		return 0;
	n = strcspn(id + 9, "/");
	if (n == 0 || n > FED_TD_MAX)
		return 0;
	memcpy(td, id + 9, n);
	td[n] = '\0';
	return fed_td_ok(td);
}

/* The SPIFFE ID's path: "/" then segments of [A-Za-z0-9.-_], none empty,
 * "." or ".." (SPIFFE ID specification), at most 2048 bytes in all. */
static int spiffe_path_ok(const char *id, size_t tdlen)
{
	const char *p = id + 9 + tdlen;
	size_t seg = 0;

	if (strlen(id) > 2048 || *p != '/' || p[1] == '\0')
		return 0;
	for (p++;; p++) {
		char c = *p;

		if (c == '/' || c == '\0') {
			if (seg == 0 || (seg == 1 && p[-1] == '.') ||
			    (seg == 2 && p[-1] == '.' && p[-2] == '.'))
				return 0;
			if (c == '\0')
				return 1;
			seg = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_'))
			return 0;
		seg++;
	}
}

/* The presented chain verified to the domain's X.509 authorities only
 * (each a trust anchor, as the SPIFFE bundle specification says; never
 * the fleet root), at now, and the leaf to the X.509-SVID leaf profile. */
static int fed_verify(const uint8_t *der, size_t der_len, STACK_OF(X509) *chain, int64_t now)
{
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *untrusted = NULL;
	const unsigned char *p = der;
	X509 *leaf = sk_X509_value(chain, 0);
	uint32_t ku;
	int n = 0, r = ATTEST_E_INTERNAL;

	if (sk_X509_num(chain) > ATTEST_DECIDE_CHAIN_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "chain of %d certificates",
				   sk_X509_num(chain));
	if ((store = X509_STORE_new()) == NULL) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "federated store");
		goto out;
	}
	while (p < der + der_len) {
		X509 *a = d2i_X509(NULL, &p, (long)(der + der_len - p));

		if (a == NULL || X509_STORE_add_cert(store, a) != 1) {
			X509_free(a);
			r = attest_fail_ossl(ATTEST_E_CRYPTO, "federated bundle authority");
			goto out;
		}
		X509_free(a);
		n++;
	}
	if (n == 0) {
		r = attest_fail(ATTEST_E_CHAIN_UNTRUSTED, "the bundle holds no X.509 authority");
		goto out;
	}
	if ((ctx = X509_STORE_CTX_new()) == NULL || (untrusted = sk_X509_dup(chain)) == NULL) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "verify context");
		goto out;
	}
	(void)sk_X509_shift(untrusted); /* the leaf */
	if ((r = chain_verify(ctx, store, leaf, untrusted, now,
			      X509_V_FLAG_X509_STRICT | X509_V_FLAG_PARTIAL_CHAIN)) != ATTEST_OK)
		goto out;
	/* the X.509-SVID leaf profile: not a CA, key usage digitalSignature
	 * without keyCertSign or cRLSign */
	ku = X509_get_key_usage(leaf);
	if (X509_check_ca(leaf) != 0 || !(X509_get_extension_flags(leaf) & EXFLAG_KUSAGE) ||
	    !(ku & KU_DIGITAL_SIGNATURE) || (ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN))) {
		r = attest_fail(ATTEST_E_CHAIN_UNTRUSTED, "the leaf is not an X.509-SVID leaf "
				"(CA:FALSE, key usage digitalSignature without keyCertSign/cRLSign)");
		goto out;
	}
	r = ATTEST_OK;
out:
	ERR_clear_error();
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return r;
}

/* A leaf of federated trust domain td: no cache (a bundle change applies
 * at once), no fleet view and no TPM evidence (there is none: the
 * decision says federated), the domain's authorities and the policy's
 * federated grants only. */
static int decide_federated(struct attest_decider *d, const struct attest_decide_req *req,
			    const char *uri, const char *td, int64_t now,
			    struct attest_decision *out)
{
	struct attest_policy_request pr;
	struct attest_policy_decision pd;
	const char *agents[1];
	const uint8_t *der = NULL;
	size_t der_len = 0;
	int r;

	copy_str(out->agent, sizeof(out->agent), uri);
	copy_str(d->fed_td, sizeof(d->fed_td), td);
	r = d->fed_lookup(d->fed_arg, td, &der, &der_len);
	if (r == ATTEST_E_NOT_FOUND)
		return deny(out, ATTEST_E_FED_UNKNOWN, "trust domain %.100s is neither this fleet's "
			    "(%.100s) nor federated with this verifier", td, d->own_td);
	if (r != ATTEST_OK)
		return deny(out, r, "federated %.64s: %s", td, attest_errdetail());
	if (!spiffe_path_ok(uri, strlen(td)))
		return deny(out, ATTEST_E_PATH, "federated %.64s: the leaf's URI SAN is not a "
			    "SPIFFE ID with a path", td);
	if ((r = fed_verify(der, der_len, req->chain, now)) != ATTEST_OK)
		return deny(out, r, "federated %.64s: %s", td, attest_errdetail());
	if (d->policy == NULL)
		return deny(out, ATTEST_E_NO_RULE, "no policy loaded");
	memset(&pr, 0, sizeof(pr));
	agents[0] = out->agent;
	pr.action = req->action;
	pr.resource = req->resource;
	pr.agents = agents;
	pr.nagents = 1;
	pr.risk_score = -1;
	pr.host_attested_age = -1;
	pr.now = now;
	pr.ctx_keys = req->ctx_keys;
	pr.ctx_values = req->ctx_values;
	pr.nctx = req->nctx;
	if (req->anomaly != NULL) {
		double a = req->anomaly(req->anomaly_arg, out->agent, NULL, NULL, req->resource);

		pr.anomaly = a >= 0 && a <= 1 ? a : 1;
	}
	if ((r = attest_policy_eval_federated(d->policy, &pr, td, &pd)) != ATTEST_OK)
		return deny(out, r, "policy: %s", attest_errdetail());
	copy_str(out->rule, sizeof(out->rule), pd.rule);
	copy_str(out->detail, sizeof(out->detail), pd.detail);
	out->allow = pd.allow;
	out->reason = pd.allow ? ATTEST_OK : pd.reason;
	return out->reason;
}

/* With federation set: the trust domain of a leaf not in the cache, when
 * it is another than ours (1, *uri malloc'd, td), else 0. */
static int federated_leaf(struct attest_decider *d, X509 *leaf, char **uri,
			  char td[FED_TD_MAX + 1])
{
	*uri = NULL;
	if (d->fed_lookup == NULL)
		return 0;
	if (attest_x509_one_san_uri(leaf, uri) != ATTEST_OK) {
		attest_errclear();
		return 0; /* the fleet path refuses it with its reason */
	}
	if (spiffe_td(*uri, td) && strcmp(td, d->own_td) != 0)
		return 1;
	free(*uri);
	*uri = NULL;
	return 0;
}

/* req->chain set: the leaf is the cache key (confirmed with X509_cmp). */
static int decide_chain(struct attest_decider *d, const struct attest_decide_req *req,
			int64_t now, struct attest_decision *out)
{
	uint8_t key[32];
	struct leaf *l;
	X509 *leafcert;
	int r;

	if (sk_X509_num(req->chain) < 1)
		return deny(out, ATTEST_E_CHAIN_UNTRUSTED, "empty chain");
	leafcert = sk_X509_value(req->chain, 0);
	if ((r = cert_key(d, leafcert, 'L', key)) != ATTEST_OK)
		return deny(out, r, "%s", attest_errdetail());
	l = leaf_find(d, key, leafcert);
	/* a cached leaf whose issuer was evicted (its way now empty or
	 * another CA's) is verified afresh */
	if (l != NULL && (!l->iss->used || memcmp(l->iss->key, l->iss_key, 32) != 0)) {
		leaf_drop(d, l);
		l = NULL;
	}
	if (l != NULL) {
		d->hits++;
		l->last = ++d->tick;
		l->iss->last = d->tick;
	} else {
		char *uri = NULL, td[FED_TD_MAX + 1];

		d->misses++;
		l = NULL;
		if (federated_leaf(d, leafcert, &uri, td)) {
			r = decide_federated(d, req, uri, td, now, out);
			free(uri);
			return r;
		}
		if ((r = verify_leaf(d, req, key, now, &l)) != ATTEST_OK)
			return deny(out, r, "%s", attest_errdetail());
	}
	return decide_cached(d, l, req, now, out);
}

int64_t attest_decider_leaf_lifetime(const struct attest_decider *d)
{
	return d != NULL ? d->last_life : 0;
}

int attest_decide(struct attest_decider *d, const struct attest_decide_req *req,
		  struct attest_decision *out)
{
	struct attest_decide_req creq;
	STACK_OF(X509) *owned = NULL;
	int64_t now;
	int r;

	if (out == NULL)
		return ATTEST_E_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	if (d != NULL) {
		d->last_life = 0;
		d->fed_td[0] = '\0';
	}
	if (d == NULL || req == NULL || req->action == NULL || req->resource == NULL ||
	    (req->chain == NULL && req->pem == NULL))
		return deny(out, ATTEST_E_INVALID_ARG, "decide: missing argument");
	now = req->now != 0 ? req->now : (int64_t)time(NULL);
	if (req->chain != NULL)
		return decide_chain(d, req, now, out);
	/* PEM: decoded once, then keyed by the certificates themselves, so
	 * whitespace or armour variants of one chain are one cache entry */
	if ((r = parse_pem(req->pem, req->pem_len, &owned)) != ATTEST_OK)
		return deny(out, r, "%s", attest_errdetail());
	creq = *req;
	creq.chain = owned;
	creq.pem = NULL;
	creq.pem_len = 0;
	r = decide_chain(d, &creq, now, out);
	/* the cache holds its own references; a scratch leaf's intent chain
	 * does not point into the chain */
	sk_X509_pop_free(owned, X509_free);
	return r;
}
