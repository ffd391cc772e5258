/* detect.c - behaviour baselines and anomaly scores (detect.h,
 * docs/detection.md). Method: per-feature z-scores against an
 * exponentially weighted mean and variance of per-window features (EWMA
 * control charts; Finch 2009's incremental EWM variance), with a Poisson
 * floor on the deviation and one-sided scoring; distinct counts per window
 * by linear counting (Whang, Vander-Zanden, Taylor 1990) in a 1024-bit
 * bitmap; novelty features (purpose, hour of day, resource class) as
 * frequency lookups; the feature scores combined by noisy-OR. A cold-start
 * entity scores nothing until it has min_windows active windows (rate
 * features) and min_events decisions (novelty features). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "core/err.h"
#include "detect.h"

enum { F_RATE, F_RES, F_SUBJ, F_DENY, F__N };

#define VD_LIFE_MAX 3153600000LL /* a leaf lifetime over 100 years is not learnt */
static const char *const fname[F__N] = {"rate", "distinct_resources", "distinct_subjects",
					"deny_ratio"};

struct ewma {
	double mean, var;
};

struct ent {
	char key[VD_KEY_MAX]; /* "" while free */
	uint64_t h;
	uint64_t tick;
	int dirty;
	/* the current window */
	int64_t win;
	uint32_t n, denies;
	uint8_t bres[VD_BITMAP_BITS / 8], bsubj[VD_BITMAP_BITS / 8];
	uint32_t zres, zsubj; /* zero bits left */
	/* the baseline */
	struct ewma f[F__N];
	uint32_t windows;
	uint64_t events;
	uint32_t hours[24];
	uint64_t hours_total;
	uint64_t purposes[VD_PURPOSES];
	unsigned npurposes;
	uint64_t usual[VD_USUAL];
	unsigned nusual, usual_next;
	double p_new; /* EWMA of "this decision's resource class was new" */
	struct vd_usage u;
};

struct vd {
	struct vd_config c;
	struct ent *ents;
	size_t cap, used;
	int32_t *idx; /* open addressing, linear probing; -1 empty */
	size_t idx_mask;
	uint64_t tick;
	unsigned long evictions;
	EVP_MD *md;         /* SHA-256, fetched once */
	EVP_MD_CTX *mdctx;  /* reused: no fetch or allocation per hash */
	struct vd_alert alerts[VD_ALERTS_MAX];
	size_t alert_next;
	unsigned long alert_count;
};

void vd_config_default(struct vd_config *c)
{
	memset(c, 0, sizeof(*c));
	c->window = 60;
	c->min_windows = 8;
	c->min_events = 40;
	c->alpha = 0.1;
	c->z_low = 4.0;
	c->z_high = 10.0;
	c->threshold = 0.5;
	(void)snprintf(c->subject_ctx, sizeof(c->subject_ctx), "%s", "patient");
	c->subject_segment = -1;
	c->enabled = 1;
}

static int num_in(const cJSON *o, const char *k, double lo, double hi, double *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	if (it == NULL)
		return ATTEST_OK;
	if (!cJSON_IsNumber(it) || !(it->valuedouble >= lo && it->valuedouble <= hi))
		return attest_fail(ATTEST_E_POLICY, "policy: detection.%s: a number in %g..%g", k, lo,
				   hi);
	*out = it->valuedouble;
	return ATTEST_OK;
}

int vd_config_parse(const cJSON *o, struct vd_config *c)
{
	static const char *const keys[] = {"window", "min_windows", "min_events", "alpha",
					   "z_low", "z_high", "threshold", "subject_context",
					   "subject_segment", "enabled", NULL};
	double win = (double)c->window, mw = c->min_windows, me = c->min_events,
	       seg = c->subject_segment;
	const cJSON *it;
	int r;

	if (o == NULL)
		return ATTEST_OK;
	if (!cJSON_IsObject(o))
		return attest_fail(ATTEST_E_POLICY, "policy: detection is not an object");
	for (it = o->child; it != NULL; it = it->next) {
		size_t i = 0;

		while (keys[i] != NULL && strcmp(keys[i], it->string) != 0)
			i++;
		if (keys[i] == NULL)
			return attest_fail(ATTEST_E_POLICY, "policy: detection: unknown field \"%.40s\"",
					   it->string);
	}
	if ((r = num_in(o, "window", 1, 86400, &win)) != ATTEST_OK ||
	    (r = num_in(o, "min_windows", 1, 10000, &mw)) != ATTEST_OK ||
	    (r = num_in(o, "min_events", 1, 1000000, &me)) != ATTEST_OK ||
	    (r = num_in(o, "alpha", 0.001, 1, &c->alpha)) != ATTEST_OK ||
	    (r = num_in(o, "z_low", 0, 100, &c->z_low)) != ATTEST_OK ||
	    (r = num_in(o, "z_high", 0.1, 1000, &c->z_high)) != ATTEST_OK ||
	    (r = num_in(o, "threshold", 0, 1, &c->threshold)) != ATTEST_OK ||
	    (r = num_in(o, "subject_segment", -1, 64, &seg)) != ATTEST_OK)
		return r;
	if (c->z_high <= c->z_low)
		return attest_fail(ATTEST_E_POLICY, "policy: detection: z_high must exceed z_low");
	it = cJSON_GetObjectItemCaseSensitive(o, "enabled");
	if (it != NULL) {
		if (!cJSON_IsBool(it))
			return attest_fail(ATTEST_E_POLICY, "policy: detection.enabled: true or false");
		c->enabled = cJSON_IsTrue(it);
	}
	it = cJSON_GetObjectItemCaseSensitive(o, "subject_context");
	if (it != NULL) {
		if (!cJSON_IsString(it) || strlen(it->valuestring) >= sizeof(c->subject_ctx))
			return attest_fail(ATTEST_E_POLICY,
					   "policy: detection.subject_context: a string under %zu bytes",
					   sizeof(c->subject_ctx));
		(void)snprintf(c->subject_ctx, sizeof(c->subject_ctx), "%s", it->valuestring);
	}
	c->window = (int64_t)win;
	c->min_windows = (unsigned)mw;
	c->min_events = (unsigned)me;
	c->subject_segment = (int)seg;
	return ATTEST_OK;
}

/* 64 bits of SHA-256: stable across restarts (the stored baselines hold
 * these) and not steerable into collisions by whoever names resources. */
uint64_t vd_hash(const char *s)
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	uint64_t h = 0;

	(void)SHA256((const unsigned char *)s, strlen(s), md);
	for (int i = 0; i < 8; i++)
		h = h << 8 | md[i];
	return h;
}

/* vd_hash with the detector's reused context (the same value). */
static uint64_t vhash(struct vd *d, const char *s)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	uint64_t h = 0;

	if (d->mdctx == NULL || EVP_DigestInit_ex2(d->mdctx, d->md, NULL) != 1 ||
	    EVP_DigestUpdate(d->mdctx, s, strlen(s)) != 1 ||
	    EVP_DigestFinal_ex(d->mdctx, md, &n) != 1 || n < 8)
		return vd_hash(s);
	for (int i = 0; i < 8; i++)
		h = h << 8 | md[i];
	return h;
}

int vd_new(const struct vd_config *c, size_t entities, struct vd **out)
{
	struct vd *d;
	size_t isz = 16;

	*out = NULL;
	if (entities == 0)
		entities = VD_ENTITIES_DEFAULT;
	if (entities > VD_ENTITIES_MAX)
		return attest_fail(ATTEST_E_INVALID_ARG, "detector: over %d entities", VD_ENTITIES_MAX);
	while (isz < entities * 2)
		isz <<= 1;
	if ((d = calloc(1, sizeof(*d))) == NULL || (d->ents = calloc(entities, sizeof(*d->ents))) == NULL ||
	    (d->idx = malloc(isz * sizeof(*d->idx))) == NULL) {
		vd_free(d);
		return attest_fail(ATTEST_E_NOMEM, "detector tables");
	}
	if ((d->md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    (d->mdctx = EVP_MD_CTX_new()) == NULL) {
		vd_free(d);
		return attest_fail_ossl(ATTEST_E_CRYPTO, "detector hash");
	}
	for (size_t i = 0; i < isz; i++)
		d->idx[i] = -1;
	d->idx_mask = isz - 1;
	d->cap = entities;
	d->c = *c;
	*out = d;
	return ATTEST_OK;
}

void vd_free(struct vd *d)
{
	if (d == NULL)
		return;
	free(d->ents);
	free(d->idx);
	EVP_MD_CTX_free(d->mdctx);
	EVP_MD_free(d->md);
	free(d);
}

void vd_set_config(struct vd *d, const struct vd_config *c)
{
	d->c = *c;
}

const struct vd_config *vd_config(const struct vd *d)
{
	return &d->c;
}

size_t vd_count(const struct vd *d)
{
	return d->used;
}

unsigned long vd_evictions(const struct vd *d)
{
	return d->evictions;
}

/* ---- the entity table ---- */

static struct ent *find(struct vd *d, const char *key, uint64_t h)
{
	for (size_t i = h & d->idx_mask;; i = (i + 1) & d->idx_mask) {
		int32_t k = d->idx[i];

		if (k < 0)
			return NULL;
		if (d->ents[k].h == h && strcmp(d->ents[k].key, key) == 0)
			return &d->ents[k];
	}
}

/* Drop entity k from the index (backward-shift deletion). */
static void idx_remove(struct vd *d, int32_t k)
{
	size_t i = d->ents[k].h & d->idx_mask, j;

	while (d->idx[i] != k)
		i = (i + 1) & d->idx_mask;
	for (j = i;;) {
		j = (j + 1) & d->idx_mask;
		if (d->idx[j] < 0)
			break;
		size_t home = d->ents[d->idx[j]].h & d->idx_mask;

		/* j's entry may move to i when its home is not in (i, j] */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			d->idx[i] = d->idx[j];
			i = j;
		}
	}
	d->idx[i] = -1;
}

static void ent_init(struct ent *e, const char *key, uint64_t h)
{
	memset(e, 0, sizeof(*e));
	(void)snprintf(e->key, sizeof(e->key), "%s", key);
	e->h = h;
	e->zres = e->zsubj = VD_BITMAP_BITS;
}

/* The entity of key, made (cold) when new; the least recently used one
 * gives its slot up when the table is full (a dirty one loses what it
 * learnt since its last write: counted in evictions). */
static struct ent *get(struct vd *d, const char *key)
{
	uint64_t h;
	struct ent *e;
	int32_t k;

	if (strlen(key) >= VD_KEY_MAX)
		return NULL;
	h = vhash(d, key);
	if ((e = find(d, key, h)) != NULL) {
		e->tick = ++d->tick;
		return e;
	}
	if (d->used < d->cap) {
		k = (int32_t)d->used++;
	} else {
		k = 0;
		for (size_t i = 1; i < d->cap; i++)
			if (d->ents[i].tick < d->ents[k].tick)
				k = (int32_t)i;
		idx_remove(d, k);
		d->evictions++;
	}
	e = &d->ents[k];
	ent_init(e, key, h);
	e->tick = ++d->tick;
	for (size_t i = h & d->idx_mask;; i = (i + 1) & d->idx_mask)
		if (d->idx[i] < 0) {
			d->idx[i] = k;
			break;
		}
	return e;
}

/* ---- features ---- */

static double distinct(uint32_t zeros)
{
	const double m = VD_BITMAP_BITS;

	if (zeros == 0)
		zeros = 1; /* saturated: the estimate's ceiling, m ln m */
	return -m * log((double)zeros / m);
}

static void bit_set(uint8_t *bm, uint32_t *zeros, uint64_t h)
{
	unsigned b = (unsigned)(h % VD_BITMAP_BITS);

	if (!(bm[b / 8] & (1u << (b % 8)))) {
		bm[b / 8] |= (uint8_t)(1u << (b % 8));
		(*zeros)--;
	}
}

static int bit_has(const uint8_t *bm, uint64_t h)
{
	unsigned b = (unsigned)(h % VD_BITMAP_BITS);

	return (bm[b / 8] & (1u << (b % 8))) != 0;
}

static void ewma_add(struct ewma *w, double x, double a, uint32_t n)
{
	double dlt;

	if (n == 0) {
		w->mean = x;
		w->var = 0;
		return;
	}
	dlt = x - w->mean;
	w->mean += a * dlt;
	w->var = (1 - a) * (w->var + a * dlt * dlt);
}

/* z of x over the baseline w: the deviation is at least Poisson's
 * (sqrt(mean)) and at least 1, so a feature that never varied does not
 * alert on its first +1 */
static double zof(const struct ewma *w, double x)
{
	double sd = sqrt(w->var > 0 ? w->var : 0);

	if (sd < sqrt(w->mean))
		sd = sqrt(w->mean);
	if (sd < 1.0)
		sd = 1.0;
	return (x - w->mean) / sd;
}

/* The resource's class: the subject segment masked, so that one record
 * per patient is one usual resource, not a new one per patient. */
static uint64_t res_class(struct vd *d, const char *res)
{
	char buf[512];
	size_t o = 0;
	int seg = 0;

	if (d->c.subject_segment < 0)
		return vhash(d, res);
	for (const char *p = res; *p != '\0' && o + 2 < sizeof(buf); p++) {
		if (*p == '/') {
			seg++;
			buf[o++] = '/';
			if (seg == d->c.subject_segment)
				buf[o++] = '*';
			continue;
		}
		if (seg != d->c.subject_segment)
			buf[o++] = *p;
		else if (seg == 0 && o == 0)
			buf[o++] = '*';
	}
	buf[o] = '\0';
	return vhash(d, buf);
}

/* Close the window the entity's counts belong to when now is past it: the
 * features go into the baseline, winsorised at z_low (a burst is scored,
 * not learnt as the new normal). Only windows with decisions count:
 * agents are bursty, and idle windows would make any work look like a
 * burst. */
static void roll(const struct vd *d, struct ent *e, int64_t now)
{
	int64_t w = d->c.window;
	int64_t start = now - (now % w);

	if (e->win == start)
		return;
	if (e->n > 0 && start > e->win) {
		double x[F__N] = {(double)e->n, distinct(e->zres), distinct(e->zsubj),
				  (double)e->denies / (double)e->n};

		for (int f = 0; f < F__N; f++) {
			if (e->windows > 0) {
				double sd = sqrt(e->f[f].var > 0 ? e->f[f].var : 0);
				double cap = e->f[f].mean +
					     d->c.z_low * (sd > sqrt(e->f[f].mean) ? sd : sqrt(e->f[f].mean));

				if (f != F_DENY && cap < 1)
					cap = 1;
				if (e->windows >= d->c.min_windows && x[f] > cap)
					x[f] = cap;
			}
			ewma_add(&e->f[f], x[f], d->c.alpha, e->windows);
		}
		e->windows++;
		e->dirty = 1;
	}
	if (start < e->win) /* the clock went back: keep the window */
		return;
	e->win = start;
	e->n = e->denies = 0;
	memset(e->bres, 0, sizeof(e->bres));
	memset(e->bsubj, 0, sizeof(e->bsubj));
	e->zres = e->zsubj = VD_BITMAP_BITS;
}

/* The hashes of one observation, computed once per call. */
struct oh {
	uint64_t res, subj, purp, cls;
	int has_subj, has_purp;
};

static void obs_hash(struct vd *d, const struct vd_obs *o, struct oh *h)
{
	h->res = vhash(d, o->resource);
	h->has_subj = o->subject != NULL && o->subject[0] != '\0';
	h->subj = h->has_subj ? vhash(d, o->subject) : 0;
	h->has_purp = o->purpose != NULL && o->purpose[0] != '\0';
	h->purp = h->has_purp ? vhash(d, o->purpose) : 0;
	h->cls = res_class(d, o->resource);
}

struct part {
	double s;
	const char *name;
	int user;
};

static void add(struct part *p, size_t *np, double s, const char *name, int user)
{
	if (s <= 0 || *np >= 16)
		return;
	if (s > 1)
		s = 1;
	p[*np].s = s;
	p[*np].name = name;
	p[*np].user = user;
	(*np)++;
}

static double zscore_part(const struct vd *d, double z)
{
	return (z - d->c.z_low) / (d->c.z_high - d->c.z_low);
}

static int has_hash(const uint64_t *v, unsigned n, uint64_t h)
{
	for (unsigned i = 0; i < n; i++)
		if (v[i] == h)
			return 1;
	return 0;
}

/* The feature scores of entity e for o (user: e is the user's). */
static void score_ent(const struct vd *d, struct ent *e, const struct vd_obs *o,
		      const struct oh *h, struct part *p, size_t *np, int user)
{
	roll(d, e, o->now);
	if (e->windows >= d->c.min_windows) {
		uint32_t zr = e->zres, zs = e->zsubj;
		uint8_t tmp[VD_BITMAP_BITS / 8];
		uint64_t rh = h->res;

		memcpy(tmp, e->bres, sizeof(tmp));
		bit_set(tmp, &zr, rh);
		add(p, np, zscore_part(d, zof(&e->f[F_RATE], (double)e->n + 1)), fname[F_RATE], user);
		add(p, np, zscore_part(d, zof(&e->f[F_RES], distinct(zr))), fname[F_RES], user);
		if (h->has_subj && !bit_has(e->bsubj, h->subj) && zs > 0)
			zs--;
		add(p, np, zscore_part(d, zof(&e->f[F_SUBJ], distinct(zs))), fname[F_SUBJ], user);
		if (e->n >= 10) {
			/* a ratio: its own deviation floor (0.05) */
			double sd = sqrt(e->f[F_DENY].var > 0 ? e->f[F_DENY].var : 0);
			double z = ((double)e->denies / e->n - e->f[F_DENY].mean) / (sd > 0.05 ? sd : 0.05);

			add(p, np, zscore_part(d, z), fname[F_DENY], user);
		}
	}
	if (e->events >= d->c.min_events) {
		unsigned hr = (unsigned)((o->now % 86400) / 3600);

		if (h->has_purp && e->npurposes < VD_PURPOSES &&
		    !has_hash(e->purposes, e->npurposes, h->purp))
			add(p, np, 0.7, "new_purpose", user);
		/* the hours of a day are known after a day of history */
		if (e->u.first_seen > 0 && o->now - e->u.first_seen >= 86400) {
			if (e->hours[hr] == 0)
				add(p, np, 0.6, "off_hours", user);
			else if ((uint64_t)e->hours[hr] * 100 < e->hours_total)
				add(p, np, 0.3, "unusual_hour", user);
		}
		if (!user && !has_hash(e->usual, e->nusual, h->cls) &&
		    e->p_new < 0.1)
			add(p, np, 0.35 * (1 - e->p_new / 0.1), "unusual_resource", user);
	}
}

void vd_score(struct vd *d, const struct vd_obs *o, struct vd_score *out)
{
	struct part p[16];
	size_t np = 0;
	struct ent *a, *u = NULL;
	char key[VD_KEY_MAX];
	struct oh oh;
	double keep = 1;

	memset(out, 0, sizeof(*out));
	if (o->agent == NULL || o->agent[0] == '\0' || o->resource == NULL)
		return;
	(void)snprintf(key, sizeof(key), "a:%s", o->agent);
	if ((a = get(d, key)) == NULL)
		return;
	out->learning = a->windows < d->c.min_windows || a->events < d->c.min_events;
	obs_hash(d, o, &oh);
	score_ent(d, a, o, &oh, p, &np, 0);
	if (o->user != NULL && o->user[0] != '\0') {
		(void)snprintf(key, sizeof(key), "u:%s", o->user);
		if ((u = get(d, key)) != NULL)
			score_ent(d, u, o, &oh, p, &np, 1);
	}
	for (size_t i = 0; i < np; i++)
		keep *= 1 - p[i].s;
	out->score = 1 - keep;
	/* the top reasons, highest first; a user's are named user_* */
	for (unsigned k = 0; k < VD_REASONS; k++) {
		size_t best = np;

		for (size_t i = 0; i < np; i++)
			if (p[i].s > 0 && (best == np || p[i].s > p[best].s))
				best = i;
		if (best == np)
			break;
		(void)snprintf(out->reasons[k], VD_REASON_MAX, "%s%s", p[best].user ? "user_" : "",
			       p[best].name);
		p[best].s = 0;
		out->nreasons = k + 1;
	}
}

static void learn_ent(struct vd *d, struct ent *e, const struct vd_obs *o, const struct oh *h,
		      int allow, int user)
{
	unsigned hr = (unsigned)((o->now % 86400) / 3600);
	uint64_t rc;
	int isnew;

	roll(d, e, o->now);
	e->n++;
	if (!allow)
		e->denies++;
	bit_set(e->bres, &e->zres, h->res);
	if (h->has_subj)
		bit_set(e->bsubj, &e->zsubj, h->subj);
	e->events++;
	if (++e->hours[hr] == 0)
		e->hours[hr]--;
	if (++e->hours_total > 1000000) { /* halve: older hours fade */
		e->hours_total = 0;
		for (int i = 0; i < 24; i++)
			e->hours_total += (e->hours[i] /= 2);
	}
	if (h->has_purp && e->npurposes < VD_PURPOSES &&
	    !has_hash(e->purposes, e->npurposes, h->purp))
		e->purposes[e->npurposes++] = h->purp;
	if (!user) {
		rc = h->cls;
		isnew = !has_hash(e->usual, e->nusual, rc);
		e->p_new += 0.05 * ((isnew ? 1.0 : 0.0) - e->p_new);
		if (isnew) {
			if (e->nusual < VD_USUAL) {
				e->usual[e->nusual++] = rc;
			} else {
				e->usual[e->usual_next] = rc;
				e->usual_next = (e->usual_next + 1) % VD_USUAL;
			}
		}
	}
	if (e->u.first_seen == 0)
		e->u.first_seen = o->now;
	if (o->now > e->u.last_seen)
		e->u.last_seen = o->now;
	e->u.decisions++;
	e->dirty = 1;
}

static void use_scope(struct vd *d, struct ent *e, const char *scope, int64_t now)
{
	uint64_t h = vhash(d, scope);
	size_t i, old = 0;

	for (i = 0; i < e->u.nscopes; i++) {
		if (e->u.scope_hash[i] == h) {
			e->u.scope_last[i] = now;
			return;
		}
		if (e->u.scope_last[i] < e->u.scope_last[old])
			old = i;
	}
	if (e->u.nscopes < VD_SCOPES)
		old = e->u.nscopes++;
	e->u.scope_hash[old] = h;
	e->u.scope_last[old] = now;
}

void vd_learn(struct vd *d, const struct vd_obs *o, int allow, const char *const *scopes,
	      size_t nscopes, const char *const *delegators, size_t ndelegators)
{
	char key[VD_KEY_MAX];
	struct ent *e;
	struct oh oh;

	if (o->agent == NULL || o->agent[0] == '\0' || o->resource == NULL)
		return;
	(void)snprintf(key, sizeof(key), "a:%s", o->agent);
	if ((e = get(d, key)) == NULL)
		return;
	obs_hash(d, o, &oh);
	learn_ent(d, e, o, &oh, allow, 0);
	for (size_t i = 0; allow && i < nscopes; i++)
		use_scope(d, e, scopes[i], o->now);
	/* the longest leaf lifetime and when one that long was last seen
	 * (posture: maximum TTLs at the cap) */
	if (o->leaf_life > 0 && o->leaf_life <= VD_LIFE_MAX && o->leaf_life >= e->u.ttl_max) {
		e->u.ttl_max = o->leaf_life;
		if (o->now > e->u.ttl_at)
			e->u.ttl_at = o->now;
	}
	if (o->user != NULL && o->user[0] != '\0') {
		(void)snprintf(key, sizeof(key), "u:%s", o->user);
		if ((e = get(d, key)) != NULL)
			learn_ent(d, e, o, &oh, allow, 1);
	}
	for (size_t i = 0; i < ndelegators; i++) {
		(void)snprintf(key, sizeof(key), "a:%s", delegators[i] != NULL ? delegators[i] : "");
		if (delegators[i] != NULL && (e = get(d, key)) != NULL && !e->u.delegated) {
			e->u.delegated = 1;
			e->dirty = 1;
		}
	}
}

const char *vd_subject(const struct vd *d, const char *resource, const char *const *ckeys,
		       const char *const *cvals, size_t nctx, char *out, size_t outsz)
{
	int seg = 0;
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; d->c.subject_ctx[0] != '\0' && i < nctx; i++)
		if (strcmp(ckeys[i], d->c.subject_ctx) == 0) {
			(void)snprintf(out, outsz, "%s", cvals[i]);
			return out;
		}
	if (d->c.subject_segment < 0 || resource == NULL)
		return NULL;
	for (const char *p = resource; *p != '\0'; p++) {
		if (*p == '/') {
			if (seg++ == d->c.subject_segment)
				break;
			continue;
		}
		if (seg == d->c.subject_segment && o + 1 < outsz)
			out[o++] = *p;
	}
	out[o] = '\0';
	return o > 0 ? out : NULL;
}

int vd_usage(struct vd *d, const char *agent, struct vd_usage *out)
{
	char key[VD_KEY_MAX];
	struct ent *e;

	(void)snprintf(key, sizeof(key), "a:%s", agent);
	if ((e = find(d, key, vd_hash(key))) == NULL)
		return ATTEST_E_NOT_FOUND;
	*out = e->u;
	return ATTEST_OK;
}

/* ---- persistence ---- */

static int add_hashes(cJSON *o, const char *k, const uint64_t *v, unsigned n)
{
	cJSON *a = cJSON_AddArrayToObject(o, k);
	char hx[17];

	if (a == NULL)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		(void)snprintf(hx, sizeof(hx), "%016" PRIx64, v[i]);
		if (!cJSON_AddItemToArray(a, cJSON_CreateString(hx)))
			return 0;
	}
	return 1;
}

static char *state_json(const struct ent *e)
{
	cJSON *o = cJSON_CreateObject(), *a, *sc;
	char *txt = NULL;
	int ok = o != NULL;

	ok = ok && cJSON_AddNumberToObject(o, "v", 1) && cJSON_AddNumberToObject(o, "w", e->windows) &&
	     cJSON_AddNumberToObject(o, "e", (double)e->events) &&
	     cJSON_AddNumberToObject(o, "pn", e->p_new) &&
	     cJSON_AddNumberToObject(o, "fs", (double)e->u.first_seen) &&
	     cJSON_AddNumberToObject(o, "ls", (double)e->u.last_seen) &&
	     cJSON_AddNumberToObject(o, "nd", (double)e->u.decisions) &&
	     cJSON_AddNumberToObject(o, "dl", e->u.delegated) &&
	     (a = cJSON_AddArrayToObject(o, "f")) != NULL;
	for (int f = 0; ok && f < F__N; f++)
		ok = cJSON_AddItemToArray(a, cJSON_CreateNumber(e->f[f].mean)) &&
		     cJSON_AddItemToArray(a, cJSON_CreateNumber(e->f[f].var));
	ok = ok && (a = cJSON_AddArrayToObject(o, "h")) != NULL;
	for (int i = 0; ok && i < 24; i++)
		ok = cJSON_AddItemToArray(a, cJSON_CreateNumber(e->hours[i]));
	ok = ok && add_hashes(o, "p", e->purposes, e->npurposes) &&
	     add_hashes(o, "u", e->usual, e->nusual) && add_hashes(o, "s", e->u.scope_hash, (unsigned)e->u.nscopes) &&
	     (sc = cJSON_AddArrayToObject(o, "sl")) != NULL;
	for (size_t i = 0; ok && i < e->u.nscopes; i++)
		ok = cJSON_AddItemToArray(sc, cJSON_CreateNumber((double)e->u.scope_last[i]));
	/* optional (added after version 1's first form): the longest leaf
	 * lifetime and when it was last seen; absent while none was seen */
	if (ok && e->u.ttl_max > 0)
		ok = cJSON_AddNumberToObject(o, "tm", (double)e->u.ttl_max) &&
		     cJSON_AddNumberToObject(o, "ta", (double)e->u.ttl_at);
	if (ok)
		txt = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return txt;
}

size_t vd_take_dirty(struct vd *d, size_t max, char (*keys)[VD_KEY_MAX], char **states)
{
	size_t n = 0;

	for (size_t i = 0; i < d->used && n < max; i++) {
		struct ent *e = &d->ents[i];

		if (!e->dirty || e->key[0] == '\0')
			continue;
		if ((states[n] = state_json(e)) == NULL)
			break; /* out of memory: stays dirty for the next batch */
		(void)snprintf(keys[n], VD_KEY_MAX, "%s", e->key);
		e->dirty = 0;
		n++;
	}
	return n;
}

static int get_num(const cJSON *o, const char *k, double lo, double hi, double *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	if (!cJSON_IsNumber(it) || !(it->valuedouble >= lo && it->valuedouble <= hi))
		return attest_fail(ATTEST_E_STATE, "detector state: %s", k);
	*out = it->valuedouble;
	return ATTEST_OK;
}

static int get_hashes(const cJSON *o, const char *k, uint64_t *v, unsigned cap, unsigned *n)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, k), *it;

	*n = 0;
	if (!cJSON_IsArray(a))
		return attest_fail(ATTEST_E_STATE, "detector state: %s", k);
	cJSON_ArrayForEach(it, a) {
		uint64_t h = 0;

		if (*n >= cap || !cJSON_IsString(it) || strlen(it->valuestring) != 16)
			return attest_fail(ATTEST_E_STATE, "detector state: %s", k);
		/* exactly 16 lower-case hex digits */
		for (int i = 0; i < 16; i++) {
			char c = it->valuestring[i];

			if (c >= '0' && c <= '9')
				h = h << 4 | (uint64_t)(c - '0');
			else if (c >= 'a' && c <= 'f')
				h = h << 4 | (uint64_t)(c - 'a' + 10);
			else
				return attest_fail(ATTEST_E_STATE, "detector state: %s", k);
		}
		v[(*n)++] = h;
	}
	return ATTEST_OK;
}

/* A stored state into e (fields of the baseline; the window restarts). */
static int parse_state(const char *json, struct ent *e)
{
	cJSON *o = cJSON_Parse(json);
	const cJSON *a, *it;
	double v;
	unsigned n;
	int r = ATTEST_E_STATE, i;

	if (o == NULL || !cJSON_IsObject(o))
		goto bad;
	if ((r = get_num(o, "v", 1, 1, &v)) != ATTEST_OK)
		goto out;
	if ((r = get_num(o, "w", 0, 4e9, &v)) != ATTEST_OK)
		goto out;
	e->windows = (uint32_t)v;
	if ((r = get_num(o, "e", 0, 1e18, &v)) != ATTEST_OK)
		goto out;
	e->events = (uint64_t)v;
	if ((r = get_num(o, "pn", 0, 1, &e->p_new)) != ATTEST_OK)
		goto out;
	if ((r = get_num(o, "fs", 0, 1e13, &v)) != ATTEST_OK)
		goto out;
	e->u.first_seen = (int64_t)v;
	if ((r = get_num(o, "ls", 0, 1e13, &v)) != ATTEST_OK)
		goto out;
	e->u.last_seen = (int64_t)v;
	if ((r = get_num(o, "nd", 0, 1e18, &v)) != ATTEST_OK)
		goto out;
	e->u.decisions = (uint64_t)v;
	if ((r = get_num(o, "dl", 0, 1, &v)) != ATTEST_OK)
		goto out;
	e->u.delegated = v != 0;
	a = cJSON_GetObjectItemCaseSensitive(o, "f");
	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 2 * F__N)
		goto bad;
	i = 0;
	cJSON_ArrayForEach(it, a) {
		if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0 && it->valuedouble < 1e12))
			goto bad;
		if (i % 2 == 0)
			e->f[i / 2].mean = it->valuedouble;
		else
			e->f[i / 2].var = it->valuedouble;
		i++;
	}
	a = cJSON_GetObjectItemCaseSensitive(o, "h");
	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 24)
		goto bad;
	i = 0;
	e->hours_total = 0;
	cJSON_ArrayForEach(it, a) {
		if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0 && it->valuedouble < 4e9))
			goto bad;
		e->hours[i] = (uint32_t)it->valuedouble;
		e->hours_total += e->hours[i++];
	}
	if ((r = get_hashes(o, "p", e->purposes, VD_PURPOSES, &e->npurposes)) != ATTEST_OK ||
	    (r = get_hashes(o, "u", e->usual, VD_USUAL, &e->nusual)) != ATTEST_OK ||
	    (r = get_hashes(o, "s", e->u.scope_hash, VD_SCOPES, &n)) != ATTEST_OK)
		goto out;
	e->u.nscopes = n;
	a = cJSON_GetObjectItemCaseSensitive(o, "sl");
	if (!cJSON_IsArray(a) || (size_t)cJSON_GetArraySize(a) != e->u.nscopes)
		goto bad;
	i = 0;
	cJSON_ArrayForEach(it, a) {
		if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0 && it->valuedouble < 1e13))
			goto bad;
		e->u.scope_last[i++] = (int64_t)it->valuedouble;
	}
	/* optional pair: a state written before it existed has neither; one
	 * without the other, or out of range, is refused */
	if (cJSON_GetObjectItemCaseSensitive(o, "tm") != NULL ||
	    cJSON_GetObjectItemCaseSensitive(o, "ta") != NULL) {
		if ((r = get_num(o, "tm", 1, (double)VD_LIFE_MAX, &v)) != ATTEST_OK)
			goto out;
		e->u.ttl_max = (int64_t)v;
		if ((r = get_num(o, "ta", 0, 1e13, &v)) != ATTEST_OK)
			goto out;
		e->u.ttl_at = (int64_t)v;
	}
	r = ATTEST_OK;
	goto out;
bad:
	r = attest_fail(ATTEST_E_STATE, "detector state is not a baseline of this version");
out:
	cJSON_Delete(o);
	return r;
}

int vd_usage_from_json(const char *json, struct vd_usage *out)
{
	struct ent *e = calloc(1, sizeof(*e));
	int r;

	if (e == NULL)
		return attest_fail(ATTEST_E_NOMEM, "detector state");
	if ((r = parse_state(json, e)) == ATTEST_OK)
		*out = e->u;
	free(e);
	return r;
}

int vd_restore(struct vd *d, const char *key, const char *state)
{
	struct ent *e, tmp;
	int r;

	if (key == NULL || (key[0] != 'a' && key[0] != 'u') || key[1] != ':' ||
	    strlen(key) >= VD_KEY_MAX)
		return attest_fail(ATTEST_E_STATE, "detector state: bad key");
	ent_init(&tmp, key, vd_hash(key));
	if ((r = parse_state(state, &tmp)) != ATTEST_OK)
		return r;
	if (d->used >= d->cap)
		return ATTEST_OK; /* over the cap: starts cold if it comes back */
	if ((e = get(d, key)) == NULL)
		return attest_fail(ATTEST_E_STATE, "detector state: bad key");
	tmp.tick = e->tick;
	*e = tmp;
	return ATTEST_OK;
}

/* ---- alerts ---- */

void vd_alert_push(struct vd *d, const struct vd_alert *a)
{
	d->alerts[d->alert_next] = *a;
	d->alert_next = (d->alert_next + 1) % VD_ALERTS_MAX;
	d->alert_count++;
}

size_t vd_alerts(const struct vd *d, struct vd_alert *out, size_t n)
{
	size_t have = d->alert_count < VD_ALERTS_MAX ? d->alert_count : VD_ALERTS_MAX, k;

	if (n > have)
		n = have;
	for (k = 0; k < n; k++)
		out[k] = d->alerts[(d->alert_next + VD_ALERTS_MAX - 1 - k) % VD_ALERTS_MAX];
	return n;
}

unsigned long vd_alert_count(const struct vd *d)
{
	return d->alert_count;
}
