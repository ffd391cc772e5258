/* auditverify.c - checkpoints (encoding, qualifyingData, checks) and the
 * read-only side of the audit log: scan, leaves, verify. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <tss2/tss2_mu.h>

#include "audit/audit.h"
#include "audit/auditfmt.h"
#include "core/err.h"
#include "core/json.h"
#include "core/num.h"
#include "tpm/tpm.h"
#include "tpm/tpmjson.h"
#include "tpm/tpmsw.h"

#define PATH_CAP 4096

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

int attest_audit_ckpt_qual(const uint8_t log_id[ATTEST_AUDIT_LOG_ID_LEN], uint64_t size,
			   const uint8_t root[32], uint64_t counter, uint64_t time, uint8_t out[32])
{
	uint8_t buf[sizeof(AUDIT_QUAL_TAG) - 1 + ATTEST_AUDIT_LOG_ID_LEN + 8 + 32 + 8 + 8];
	uint8_t *p = buf;

	memcpy(p, AUDIT_QUAL_TAG, sizeof(AUDIT_QUAL_TAG) - 1);
	p += sizeof(AUDIT_QUAL_TAG) - 1;
	memcpy(p, log_id, ATTEST_AUDIT_LOG_ID_LEN);
	p += ATTEST_AUDIT_LOG_ID_LEN;
	put64(p, size);
	p += 8;
	memcpy(p, root, 32);
	p += 32;
	put64(p, counter);
	p += 8;
	put64(p, time);
	if (EVP_Digest(buf, sizeof(buf), out, NULL, EVP_sha256(), NULL) != 1)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "checkpoint qualifyingData");
	return ATTEST_OK;
}

static int add_hex(cJSON *o, const char *key, const uint8_t *data, size_t n)
{
	char hex[2 * 32 + 1];

	attest_hex(data, n, hex);
	return attest_json_add_str(o, key, hex);
}

int attest_audit_ckpt_to_json(const struct attest_audit_ckpt *c, char **json, size_t *len)
{
	cJSON *o = cJSON_CreateObject();
	int r;

	*json = NULL;
	if (o == NULL)
		return attest_fail(ATTEST_E_NOMEM, "checkpoint");
	if ((r = add_hex(o, "log_id", c->log_id, ATTEST_AUDIT_LOG_ID_LEN)) != ATTEST_OK ||
	    (r = attest_json_add_u64(o, "size", c->size)) != ATTEST_OK ||
	    (r = add_hex(o, "root", c->root, 32)) != ATTEST_OK ||
	    (r = attest_json_add_u64(o, "counter", c->counter)) != ATTEST_OK ||
	    (r = attest_json_add_u64(o, "time", c->time)) != ATTEST_OK ||
	    (r = attest_json_add_b64(o, "attest", c->attest.attestationData, c->attest.size)) !=
		    ATTEST_OK ||
	    (r = attest_json_add_TPMT_SIGNATURE(o, "sig", &c->sig)) != ATTEST_OK)
		goto out;
	r = attest_json_print(o, json, len);
out:
	cJSON_Delete(o);
	return r;
}

int attest_audit_ckpt_from_json(const void *buf, size_t len, struct attest_audit_ckpt *c)
{
	static const char *const keys[] = { "log_id", "size", "root", "counter", "time",
					    "attest", "sig", NULL };
	uint8_t *att = NULL;
	size_t alen = 0;
	const char *s;
	cJSON *o = NULL;
	int r;

	memset(c, 0, sizeof(*c));
	if ((r = attest_json_parse(buf, len, ATTEST_AUDIT_CKPT_MAX, &o)) != ATTEST_OK ||
	    (r = attest_json_only(o, keys)) != ATTEST_OK ||
	    (r = attest_json_str(o, "log_id", 2 * ATTEST_AUDIT_LOG_ID_LEN, &s)) != ATTEST_OK ||
	    (r = attest_unhex(s, c->log_id, ATTEST_AUDIT_LOG_ID_LEN)) != ATTEST_OK ||
	    (r = attest_json_u64(o, "size", &c->size)) != ATTEST_OK ||
	    (r = attest_json_str(o, "root", 64, &s)) != ATTEST_OK ||
	    (r = attest_unhex(s, c->root, 32)) != ATTEST_OK ||
	    (r = attest_json_u64(o, "counter", &c->counter)) != ATTEST_OK ||
	    (r = attest_json_u64(o, "time", &c->time)) != ATTEST_OK ||
	    (r = attest_json_b64(o, "attest", sizeof(c->attest.attestationData), &att, &alen)) !=
		    ATTEST_OK ||
	    (r = attest_json_get_TPMT_SIGNATURE(o, "sig", &c->sig)) != ATTEST_OK)
		goto out;
	c->attest.size = (uint16_t)alen;
	memcpy(c->attest.attestationData, att, alen);
out:
	free(att);
	cJSON_Delete(o);
	return r;
}

/* Name of our counter once written: nameAlg || SHA-256(TPMS_NV_PUBLIC). */
static int counter_name(uint32_t nv_index, TPM2B_NAME *name)
{
	TPM2B_NV_PUBLIC pub;
	uint8_t buf[sizeof(TPMS_NV_PUBLIC)];
	size_t off = 0;

	attest_nv_counter_public(nv_index, 1, &pub);
	if (Tss2_MU_TPMS_NV_PUBLIC_Marshal(&pub.nvPublic, buf, sizeof(buf), &off) !=
	    TSS2_RC_SUCCESS)
		return attest_fail(ATTEST_E_INTERNAL, "marshal NV public");
	name->size = 2 + 32;
	name->name[0] = (uint8_t)(TPM2_ALG_SHA256 >> 8);
	name->name[1] = (uint8_t)TPM2_ALG_SHA256;
	if (EVP_Digest(buf, off, name->name + 2, NULL, EVP_sha256(), NULL) != 1)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "NV name");
	return ATTEST_OK;
}

/* NV_Certify of our counter: structure, extraData == qual, signature;
 * *value the certified counter. */
static int check_nv_certify(const TPM2B_ATTEST *attest, const TPMT_SIGNATURE *sig,
			    const TPM2B_PUBLIC *ak, uint32_t nv_index, const uint8_t *qual,
			    size_t qlen, uint64_t *value)
{
	TPMS_ATTEST a;
	TPM2B_NAME want;
	const TPMS_NV_CERTIFY_INFO *nv;
	int r;

	*value = 0;
	if ((r = attest_tpms_attest_parse(attest->attestationData, attest->size, &a)) != ATTEST_OK)
		return r;
	if (a.magic != TPM2_GENERATED_VALUE)
		return attest_fail(ATTEST_E_EVIDENCE_MAGIC, "NV certify: magic 0x%08x",
				   (unsigned)a.magic);
	nv = &a.attested.nv;
	if (a.type != TPM2_ST_ATTEST_NV || nv->offset != 0 || nv->nvContents.size != 8)
		return attest_fail(ATTEST_E_EVIDENCE_TYPE,
				   "NV certify: type 0x%04x, offset %u, %u bytes; want an NV attest of"
				   " the whole 8-byte counter",
				   a.type, (unsigned)nv->offset, (unsigned)nv->nvContents.size);
	if ((r = counter_name(nv_index, &want)) != ATTEST_OK)
		return r;
	if (nv->indexName.size != want.size ||
	    CRYPTO_memcmp(nv->indexName.name, want.name, want.size) != 0)
		return attest_fail(ATTEST_E_EVIDENCE_NAME,
				   "NV certify names another index than the audit counter 0x%08x",
				   nv_index);
	for (int i = 0; i < 8; i++)
		*value = (*value << 8) | nv->nvContents.buffer[i];
	if (a.extraData.size != qlen || CRYPTO_memcmp(a.extraData.buffer, qual, qlen) != 0)
		return attest_fail(ATTEST_E_EVIDENCE_QUALIFYING,
				   "NV certify extraData is not the expected qualifyingData");
	return attest_tpm_verify_sig(ak, attest->attestationData, attest->size, sig);
}

int attest_audit_ckpt_verify(const struct attest_audit_ckpt *c, const TPM2B_PUBLIC *ak,
			     uint32_t nv_index)
{
	uint8_t qual[32];
	uint64_t value;
	int r;

	if (ak == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "checkpoint check needs the AK");
	if (nv_index == 0)
		nv_index = ATTEST_AUDIT_NV_INDEX;
	if ((r = attest_audit_ckpt_qual(c->log_id, c->size, c->root, c->counter, c->time, qual)) !=
	    ATTEST_OK)
		return r;
	r = check_nv_certify(&c->attest, &c->sig, ak, nv_index, qual, sizeof(qual), &value);
	/* The certified value is checked before extraData: a checkpoint whose
	 * counter was edited names the real reason. */
	if ((r == ATTEST_OK || r == ATTEST_E_EVIDENCE_QUALIFYING) && value != c->counter)
		return attest_fail(ATTEST_E_QUOTE_COUNTER,
				   "checkpoint says counter %" PRIu64 ", the TPM certified %" PRIu64,
				   c->counter, value);
	return r;
}

/* ---- reading ---- */

struct scan_ctx {
	const char *dir;
	uint8_t log_id[ATTEST_AUDIT_LOG_ID_LEN];
	uint64_t first;      /* of the segment being read */
	uint64_t seq;        /* next record's sequence number */
	attest_audit_record_fn fn;
	void *arg;
	/* for verify */
	struct attest_merkle_frontier tree;
	int (*on_leaf)(struct scan_ctx *s);
	void *vctx;
	attest_merkle_hash *leaves; /* for attest_audit_leaves */
	uint64_t nleaves, capleaves;
};

static int scan_record(void *arg, uint64_t index, const uint8_t *rec, size_t len,
		       const uint8_t leaf[32])
{
	struct scan_ctx *s = arg;
	struct attest_auditfmt_start st;
	int r;

	if (index == 0) {
		if ((r = attest_auditfmt_start_parse(rec, len, s->log_id, s->first, &st)) != ATTEST_OK)
			return r;
		if (s->seq != s->first)
			return attest_fail(ATTEST_E_STATE,
					   "segment %016" PRIx64 " starts at record %" PRIu64
					   " but the log before it ends at %" PRIu64
					   ": a segment was removed, added or cut",
					   s->first, s->first, s->seq);
		if (s->tree.size == 0 && st.frontier.size > 0) {
			/* The oldest retained segment: the tree continues from
			 * the frontier its start record carries. */
			s->tree = st.frontier;
		} else {
			uint8_t have[32];

			if ((r = attest_merkle_frontier_root(&s->tree, have)) != ATTEST_OK)
				return r;
			if (st.frontier.size != s->tree.size ||
			    CRYPTO_memcmp(have, st.prev_root, 32) != 0)
				return attest_fail(ATTEST_E_STATE,
						   "segment %016" PRIx64
						   " does not link to the tree before it",
						   s->first);
		}
	}
	if ((r = attest_merkle_frontier_append(&s->tree, leaf)) != ATTEST_OK)
		return r;
	if (s->leaves != NULL || s->capleaves != 0) {
		if (s->nleaves == s->capleaves) {
			uint64_t cap = s->capleaves ? 2 * s->capleaves : 1024;
			attest_merkle_hash *nl;

			if (cap > SIZE_MAX / sizeof(*nl) ||
			    (nl = realloc(s->leaves, (size_t)cap * sizeof(*nl))) == NULL)
				return attest_fail(ATTEST_E_NOMEM, "audit leaves");
			s->leaves = nl;
			s->capleaves = cap;
		}
		memcpy(s->leaves[s->nleaves++], leaf, 32);
	}
	if (s->fn != NULL && (r = s->fn(s->seq, rec, len, s->arg)) != ATTEST_OK)
		return r;
	s->seq++;
	if (s->on_leaf != NULL && (r = s->on_leaf(s)) != ATTEST_OK)
		return r;
	return ATTEST_OK;
}

/* Read every segment in order. *torn_out: bytes of a torn tail on the last
 * segment (skipped, as the writer cuts it); a torn tail anywhere else is
 * ATTEST_E_STATE. */
static int scan_all(struct scan_ctx *s, uint64_t *segments, uint64_t *torn_out)
{
	uint64_t *firsts = NULL, good, torn;
	char path[PATH_CAP];
	size_t n = 0;
	int r;

	*torn_out = 0;
	if ((r = attest_auditfmt_log_id(s->dir, s->log_id)) != ATTEST_OK ||
	    (r = attest_auditfmt_segments(s->dir, &firsts, &n)) != ATTEST_OK)
		goto out;
	if (n == 0) {
		r = attest_fail(ATTEST_E_NOT_FOUND, "no segments in %s", s->dir);
		goto out;
	}
	if (segments != NULL)
		*segments = n;
	s->seq = firsts[0];
	attest_merkle_frontier_init(&s->tree);
	for (size_t i = 0; i < n; i++) {
		s->first = firsts[i];
		if ((r = attest_auditfmt_seg_path(s->dir, firsts[i], "log", path, sizeof(path))) !=
			    ATTEST_OK ||
		    (r = attest_auditfmt_read(path, ATTEST_AUDIT_RECORD_MAX, scan_record, s, &good,
					      &torn)) != ATTEST_OK)
			goto out;
		if (torn > 0 && i + 1 < n) {
			r = attest_fail(ATTEST_E_STATE, "%s: cut short before a later segment", path);
			goto out;
		}
		*torn_out = torn;
	}
	r = ATTEST_OK;
out:
	free(firsts);
	return r;
}

int attest_audit_scan(const char *dir, attest_audit_record_fn fn, void *arg, uint64_t *first)
{
	struct scan_ctx s;
	uint64_t torn;
	int r;

	memset(&s, 0, sizeof(s));
	s.dir = dir;
	s.fn = fn;
	s.arg = arg;
	r = scan_all(&s, NULL, &torn);
	if (first != NULL) {
		uint64_t *firsts = NULL;
		size_t n = 0;

		*first = 0;
		if (attest_auditfmt_segments(dir, &firsts, &n) == ATTEST_OK && n > 0)
			*first = firsts[0];
		free(firsts);
	}
	return r;
}

int attest_audit_leaves(const char *dir, attest_merkle_hash **leaves, uint64_t *n)
{
	struct scan_ctx s;
	uint64_t torn;
	int r;

	*leaves = NULL;
	*n = 0;
	memset(&s, 0, sizeof(s));
	s.dir = dir;
	s.capleaves = 0;
	s.leaves = NULL;
	/* capleaves == 0 and leaves == NULL would skip collection: start it. */
	if ((s.leaves = malloc(1024 * sizeof(*s.leaves))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "audit leaves");
	s.capleaves = 1024;
	if ((r = scan_all(&s, NULL, &torn)) == ATTEST_OK && s.seq != s.nleaves)
		r = attest_fail(ATTEST_E_STATE,
				"proofs need the whole log: records before %" PRIu64 " expired",
				s.seq - s.nleaves);
	if (r != ATTEST_OK) {
		free(s.leaves);
		return r;
	}
	*leaves = s.leaves;
	*n = s.nleaves;
	return ATTEST_OK;
}

struct ckpt_list {
	struct attest_audit_ckpt *v;
	size_t n, cap;
	int bad;            /* a checkpoint that did not parse */
	uint64_t bad_index;
};

static int ckpt_collect(void *arg, uint64_t index, const uint8_t *rec, size_t len,
			const uint8_t leaf[32])
{
	struct ckpt_list *l = arg;
	int r;

	(void)index;
	(void)leaf;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct attest_audit_ckpt *nv = realloc(l->v, cap * sizeof(*nv));

		if (nv == NULL)
			return attest_fail(ATTEST_E_NOMEM, "checkpoint list");
		l->v = nv;
		l->cap = cap;
	}
	if ((r = attest_audit_ckpt_from_json(rec, len, &l->v[l->n])) != ATTEST_OK)
	{
		char what[48];

		snprintf(what, sizeof(what), "checkpoint %zu", l->n);
		return attest_fail_wrap(r, "%s", what);
	}
	l->n++;
	return ATTEST_OK;
}

static int collect_ckpts(const char *dir, struct ckpt_list *l)
{
	uint64_t *firsts = NULL, good, torn;
	char path[PATH_CAP];
	size_t n = 0;
	int r;

	if ((r = attest_auditfmt_segments(dir, &firsts, &n)) != ATTEST_OK)
		return r;
	for (size_t i = 0; i < n; i++) {
		if ((r = attest_auditfmt_seg_path(dir, firsts[i], "ckpt", path, sizeof(path))) !=
		    ATTEST_OK)
			break;
		r = attest_auditfmt_read(path, ATTEST_AUDIT_CKPT_MAX, ckpt_collect, l, &good, &torn);
		if (r == ATTEST_E_NOT_FOUND) {
			r = ATTEST_OK;
			continue;
		}
		if (r != ATTEST_OK)
			break;
		/* A torn checkpoint at the very end was never acknowledged. */
		if (torn > 0 && i + 1 < n) {
			r = attest_fail(ATTEST_E_STATE, "%s: cut short before a later segment", path);
			break;
		}
	}
	free(firsts);
	return r;
}

int attest_audit_checkpoints(const char *dir, struct attest_audit_ckpt **out, size_t *n)
{
	struct ckpt_list l = { 0 };
	int r;

	*out = NULL;
	*n = 0;
	if ((r = collect_ckpts(dir, &l)) != ATTEST_OK) {
		free(l.v);
		return r;
	}
	*out = l.v;
	*n = l.n;
	return ATTEST_OK;
}

/* ---- verification ---- */

struct verify_ctx {
	const struct attest_audit_verify_opts *o;
	struct attest_audit_report *rep;
	struct ckpt_list ck;
	size_t next;        /* next checkpoint to reach */
	int have_prev;
	struct attest_audit_ckpt prev;
};

static void locate(struct verify_ctx *v, size_t i)
{
	v->rep->located = 1;
	v->rep->bad_ckpt = i;
	v->rep->bad_from = v->have_prev ? v->prev.size : v->rep->first;
	v->rep->bad_to = v->ck.v[i].size;
	if (v->rep->bad_to < v->rep->bad_from)
		v->rep->bad_to = v->rep->bad_from;
}

/* Checkpoint i on its own and in sequence with the one before it. */
static int check_chain(struct verify_ctx *v, size_t i)
{
	const struct attest_audit_ckpt *c = &v->ck.v[i];
	int r;

	if (CRYPTO_memcmp(c->log_id, v->rep->log_id, ATTEST_AUDIT_LOG_ID_LEN) != 0)
		return attest_fail(ATTEST_E_STATE, "checkpoint %zu belongs to another log", i);
	if ((r = attest_audit_ckpt_verify(c, v->o->ak, v->o->nv_index)) != ATTEST_OK) {
		char what[64];

		snprintf(what, sizeof(what), "checkpoint %zu (counter %" PRIu64 ")", i, c->counter);
		return attest_fail_wrap(r, "%s", what);
	}
	if (v->have_prev) {
		if (c->counter != v->prev.counter + 1)
			return attest_fail(ATTEST_E_QUOTE_COUNTER,
					   "checkpoint %zu has counter %" PRIu64 " after %" PRIu64
					   ": counter values must be consecutive (a checkpoint is"
					   " missing or repeated)",
					   i, c->counter, v->prev.counter);
		if (c->size < v->prev.size || c->time < v->prev.time)
			return attest_fail(ATTEST_E_STATE,
					   "checkpoint %zu goes back in size or time", i);
	}
	return ATTEST_OK;
}

/* Every checkpoint of the current tree size: chain, then root. */
static int reach(struct verify_ctx *v, const struct attest_merkle_frontier *tree)
{
	uint8_t root[32];
	int r, have_root = 0;

	while (v->next < v->ck.n && v->ck.v[v->next].size <= tree->size) {
		size_t i = v->next;
		const struct attest_audit_ckpt *c = &v->ck.v[i];

		if ((r = check_chain(v, i)) != ATTEST_OK) {
			locate(v, i);
			return r;
		}
		if (c->size < tree->size || c->size < v->rep->first) {
			locate(v, i);
			return attest_fail(ATTEST_E_STATE,
					   "checkpoint %zu covers %" PRIu64
					   " records, out of order with the log",
					   i, c->size);
		}
		if (!have_root) {
			if ((r = attest_merkle_frontier_root(tree, root)) != ATTEST_OK)
				return r;
			have_root = 1;
		}
		if (CRYPTO_memcmp(root, c->root, 32) != 0) {
			locate(v, i);
			return attest_fail(ATTEST_E_EVIDENCE_QUALIFYING,
					   "records %" PRIu64 "..%" PRIu64
					   " do not hash to the root of checkpoint %zu (counter %" PRIu64
					   "): a record in that interval was edited, removed, inserted"
					   " or reordered",
					   v->rep->bad_from, c->size - 1, i, c->counter);
		}
		v->prev = *c;
		v->have_prev = 1;
		v->next++;
		v->rep->checkpoints++;
		v->rep->covered = c->size;
		v->rep->last_counter = c->counter;
		v->rep->last_time = c->time;
	}
	return ATTEST_OK;
}

/* Each record's time against the one before it (verify_ctx via arg). A
 * record that does not parse is left to the tree checks. */
struct time_scan {
	struct attest_audit_report *rep;
	uint64_t last;
	int have;
};

/* The time of a record that starts {"time":"<decimal>", as every record
 * attest_audit_record writes does (docs/audit.md, "Record schema"; numbers
 * are strings there, as attest_json_u64 reads them): read there, without
 * parsing the rest. 1 when found. */
static int leading_time(const uint8_t *rec, size_t len, uint64_t *t)
{
	static const char head[] = "{\"time\":\"";
	size_t h = sizeof(head) - 1, n = 0;

	if (len < h + 3 || memcmp(rec, head, h) != 0)
		return 0;
	while (h + n < len && n <= 20 && rec[h + n] >= '0' && rec[h + n] <= '9')
		n++;
	if (n == 0 || n > 20 || h + n + 1 >= len || rec[h + n] != '"' ||
	    (rec[h + n + 1] != ',' && rec[h + n + 1] != '}'))
		return 0;
	if (attest_parse_u64n((const char *)rec + h, n, 0, UINT64_MAX, t) != ATTEST_OK) {
		attest_errclear();
		return 0;
	}
	return 1;
}

static int time_of_record(uint64_t seq, const uint8_t *rec, size_t len, void *arg)
{
	struct time_scan *ts = arg;
	cJSON *o = NULL;
	uint64_t t;
	int found;

	/* Parsing each record whole was four fifths of verification (issue
	 * 17); a record of another shape is still parsed. Whether the rest of
	 * a record is well-formed is the tree's business, not the clock's. */
	if (leading_time(rec, len, &t)) {
		found = 1;
	} else if (attest_json_parse(rec, len, ATTEST_AUDIT_RECORD_MAX, &o) != ATTEST_OK) {
		attest_errclear();
		return ATTEST_OK;
	} else {
		found = attest_json_u64(o, "time", &t) == ATTEST_OK;
	}
	if (found) {
		if (ts->have && t < ts->last) {
			if (ts->rep->time_back++ == 0)
				ts->rep->time_back_first = seq;
			if (ts->last - t > ts->rep->time_back_max_s)
				ts->rep->time_back_max_s = ts->last - t;
		}
		ts->last = t;
		ts->have = 1;
	}
	attest_errclear();
	cJSON_Delete(o);
	return ATTEST_OK;
}

static int verify_on_leaf(struct scan_ctx *s)
{
	return reach(s->vctx, &s->tree);
}

static int online(struct verify_ctx *v)
{
	uint8_t nonce[32];
	const uint8_t *n = v->o->nonce;
	size_t nlen = v->o->nonce_len;
	TPM2B_ATTEST attest;
	TPMT_SIGNATURE sig;
	uint64_t value;
	uint32_t idx = v->o->nv_index;
	int r;

	if (n == NULL || nlen == 0) {
		if (RAND_bytes(nonce, sizeof(nonce)) != 1)
			return attest_fail_ossl(ATTEST_E_CRYPTO, "nonce");
		n = nonce;
		nlen = sizeof(nonce);
	}
	if (nlen > 32)
		return attest_fail(ATTEST_E_INVALID_ARG, "online nonce over 32 bytes");
	if ((r = attest_tpm_nv_certify(v->o->tpm, idx, n, nlen, &attest, &sig)) != ATTEST_OK)
		return r;
	if ((r = check_nv_certify(&attest, &sig, v->o->ak, idx, n, nlen, &value)) != ATTEST_OK) {
		if (r == ATTEST_E_EVIDENCE_QUALIFYING)
			r = attest_fail(ATTEST_E_NONCE, "fresh NV certify is not over our nonce");
		return r;
	}
	v->rep->online = 1;
	v->rep->tpm_counter = value;
	if (!v->have_prev || value != v->prev.counter) {
		v->rep->located = 1;
		v->rep->bad_ckpt = v->ck.n;
		v->rep->bad_from = v->rep->covered;
		v->rep->bad_to = v->rep->first + v->rep->records;
		return attest_fail(ATTEST_E_QUOTE_COUNTER,
				   "the TPM's audit counter is %" PRIu64 " but the log's last checkpoint"
				   " has %" PRIu64 ": this is an older copy of the log (rolled back),"
				   " or checkpoints after record %" PRIu64 " were removed%s",
				   value, v->have_prev ? v->prev.counter : 0, v->rep->covered,
				   v->have_prev && value == v->prev.counter + 1 ?
					   " (or the writer crashed between increment and store;"
					   " its next checkpoint settles that)" :
					   "");
	}
	return ATTEST_OK;
}

int attest_audit_verify(const char *dir, const struct attest_audit_verify_opts *o,
			struct attest_audit_report *rep)
{
	struct attest_audit_verify_opts opts;
	struct verify_ctx v;
	struct scan_ctx s;
	struct time_scan ts = { 0 };
	uint64_t *firsts = NULL;
	size_t nseg = 0;
	int r;

	memset(rep, 0, sizeof(*rep));
	memset(&v, 0, sizeof(v));
	memset(&s, 0, sizeof(s));
	if (o == NULL || o->ak == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "audit verify needs the AK public area");
	opts = *o;
	if (opts.nv_index == 0)
		opts.nv_index = ATTEST_AUDIT_NV_INDEX;
	v.o = &opts;
	v.rep = rep;
	if ((r = attest_auditfmt_log_id(dir, rep->log_id)) != ATTEST_OK ||
	    (r = attest_auditfmt_segments(dir, &firsts, &nseg)) != ATTEST_OK)
		goto out;
	rep->first = nseg > 0 ? firsts[0] : 0;
	if ((r = collect_ckpts(dir, &v.ck)) != ATTEST_OK)
		goto out;
	/* Checkpoints from before the oldest retained segment cannot be
	 * checked against records; retention removes them with it. */
	s.dir = dir;
	s.on_leaf = verify_on_leaf;
	s.vctx = &v;
	ts.rep = rep;
	s.fn = time_of_record;
	s.arg = &ts;
	r = scan_all(&s, &rep->segments, &rep->torn_bytes);
	rep->records = s.seq - rep->first;
	if (r != ATTEST_OK) {
		/* A broken frame or link: locate it by the checkpoints around. */
		if (!rep->located) {
			rep->located = 1;
			rep->bad_ckpt = v.next;
			rep->bad_from = v.have_prev ? v.prev.size : rep->first;
			rep->bad_to = v.next < v.ck.n ? v.ck.v[v.next].size : s.seq + 1;
		}
		goto out;
	}
	if (v.next < v.ck.n) {
		/* Checkpoints beyond the records: the tail was cut off. Check
		 * the first such checkpoint's own validity first. */
		size_t i = v.next;

		if ((r = check_chain(&v, i)) == ATTEST_OK)
			r = attest_fail(ATTEST_E_EVIDENCE_QUALIFYING,
					"checkpoint %zu covers %" PRIu64 " records but the log holds %" PRIu64
					": records were removed from its end",
					i, v.ck.v[i].size, s.seq);
		locate(&v, i);
		goto out;
	}
	if (opts.tpm != NULL)
		r = online(&v);
	else
		r = ATTEST_OK;
out:
	free(firsts);
	free(v.ck.v);
	return r;
}
