/* hosts.c - host endpoints: enrolment over HTTPS, quote nonces, quotes
 * (what demotes a host: docs/verifier.md "Host state"), audit checkpoints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <tss2/tss2_mu.h>

#include "audit/auditfmt.h"
#include "core/err.h"
#include "core/json.h"
#include "core/num.h"
#include "audit/merkle.h"
#include "attestation/quote.h"
#include "attestation/hostpush.h"
#include "vsrv.h"
#include "x509/x509.h"

/* ---- host endpoints ---- */

/* A host enrolled here is in the fleet view (GET /v1/hosts, /v1/health) from
 * then on, as "new" until its first quote; a host the store knows already
 * (enrolled again after forget-host) keeps its row and state. A store error
 * leaves the enrolment done: the first quote adds the row as before. */
static void enrolled_host_listed(struct vsrv *s, const char *host)
{
	struct vhost h;
	int r = s->store->ops->host_get(s->store, host, &h);

	if (r != ATTEST_E_NOT_FOUND)
		return;
	memset(&h, 0, sizeof(h));
	if (strlen(host) >= sizeof(h.name))
		return;
	memcpy(h.name, host, strlen(host) + 1);
	h.state = VHOST_NEW;
	vs_view_host_drop(s, host);
	if (s->store->ops->host_put(s->store, &h) != ATTEST_OK)
		vs_log("host %s enrolled; not listed until its first quote: %s", host,
		       attest_errdetail());
}

void vs_enrol(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt, const struct vcaller *who)
{
	(void)rt, (void)who; /* every handler has the route signature */
	int response = rt->arg;
	char *b = NULL, *out = NULL;
	size_t n = 0;
	int r;


	if ((r = attest_httpd_body(req, rt->body_cap, &b, &n)) == ATTEST_OK)
		r = response ? attest_ca_handle_response(s->ca, b, n, &out)
			     : attest_ca_handle_request(s->ca, b, n, &out);
	free(b);
	if (r != ATTEST_OK) {
		vs_reply_err(s, req, vs_status_of(r), r, "enrolment refused");
		return;
	}
	vs_log("enrolment %s answered for %s", response ? "response" : "request",
	      attest_httpd_peer_addr(req));
	{
		struct attest_audit_event ev = {.type = response ? "enrol" : "enrol_challenge",
						.outcome = "ok"};
		cJSON *o = cJSON_Parse(out);
		const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "host");
		size_t olen = strlen(out);
		char *body = cJSON_malloc(olen + 1);

		ev.source = attest_httpd_peer_addr(req);
		ev.host = cJSON_IsString(h) ? h->valuestring : NULL;
		if (response && ev.host != NULL)
			enrolled_host_listed(s, ev.host);
		if (body != NULL)
			memcpy(body, out, olen + 1);
		vs_audited_text(s, req, 200, body, &ev);
		cJSON_Delete(o);
	}
	free(out);
}

/* Quote nonces are stateless: issue time (8 bytes, big-endian), 8 random
 * bytes and a MAC (HMAC-SHA256 under the per-process nonce key, first 16
 * bytes) over the host, that time and those bytes. Issuing one costs no
 * state, so nobody can spend a host's nonces; a quote is taken over a
 * nonce only if its MAC is the verifier's for that host and it has not
 * expired, and consuming it records it (in the store, until it expires)
 * so it is taken once. The key is the store's (replica.c), shared by every
 * replica: a host may fetch a nonce from one and push its quote to
 * another, and the store's single-use record holds across them. */
#define NONCE_MAC_OFF 16

static int nonce_mac(struct vsrv *s, const char *host, const uint8_t head[NONCE_MAC_OFF],
		     uint8_t mac[VSTORE_NONCE_LEN - NONCE_MAC_OFF])
{
	static const char label[] = "attest-verifier quote nonce v1";
	uint8_t msg[sizeof(label) + ATTEST_MAX_NAME + 1 + NONCE_MAC_OFF], md[32];
	size_t hl = strlen(host), n = 0, mdlen = 0;

	if (hl > ATTEST_MAX_NAME)
		return attest_fail(ATTEST_E_INVALID_ARG, "host name too long");
	memcpy(msg, label, sizeof(label)); /* with its NUL: fields stay apart */
	n = sizeof(label);
	memcpy(msg + n, host, hl + 1);
	n += hl + 1;
	memcpy(msg + n, head, NONCE_MAC_OFF);
	n += NONCE_MAC_OFF;
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, s->nonce_key, sizeof(s->nonce_key), msg,
		      n, md, sizeof(md), &mdlen) == NULL ||
	    mdlen != sizeof(md))
		return attest_fail_ossl(ATTEST_E_CRYPTO, "nonce MAC");
	memcpy(mac, md, VSTORE_NONCE_LEN - NONCE_MAC_OFF);
	return ATTEST_OK;
}

void vs_nonce(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt, const struct vcaller *who)
{
	(void)rt, (void)who; /* every handler has the route signature */
	cJSON *in = NULL, *o = NULL;
	const char *host;
	struct vhost h;
	uint8_t nonce[VSTORE_NONCE_LEN];
	int64_t now = vs_now(), exp = now + s->cfg->nonce_ttl;
	int r;

	if ((r = vs_body_json(req, rt->body_cap, vb_keys_nonce, &in, NULL)) != ATTEST_OK ||
	    (r = vb_str(in, "host", ATTEST_MAX_NAME, &host)) != ATTEST_OK ||
	    (r = vs_host_row(s, host, &h)) != ATTEST_OK)
		goto out;
	if (h.revoked) {
		r = attest_fail(ATTEST_E_REVOKED, "host %s is revoked", host);
		goto out;
	}
	for (int i = 0; i < 8; i++)
		nonce[i] = (uint8_t)((uint64_t)now >> (56 - 8 * i));
	if (RAND_bytes(nonce + 8, NONCE_MAC_OFF - 8) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "nonce");
		goto out;
	}
	if ((r = nonce_mac(s, host, nonce, nonce + NONCE_MAC_OFF)) != ATTEST_OK)
		goto out;
	if ((o = cJSON_CreateObject()) == NULL ||
	    (r = attest_json_add_b64(o, "nonce", nonce, sizeof(nonce))) != ATTEST_OK ||
	    (r = attest_json_add_u64(o, "expires", (uint64_t)exp)) != ATTEST_OK)
		goto out;
	vs_reply_obj(s, req, 200, o);
out:
	if (r != ATTEST_OK)
		vs_reply_err(s, req, vs_status_of(r), r, "nonce refused");
	cJSON_Delete(in);
	cJSON_Delete(o);
}

struct nonce_ctx {
	struct vsrv *s;
	const char *host;
	const uint8_t *sent; /* the body's "nonce", if any */
	size_t sent_len;
	int64_t expires; /* set when the nonce passed */
};

/* The quote's nonce: this verifier's, for this host, unexpired, and not
 * recorded as used (a read: the record is written with the quote's
 * verdict, in the one transaction of quote_commit, whose primary key
 * refuses a nonce another request recorded meanwhile). */
static int take_nonce(void *arg, const uint8_t *nonce, size_t len)
{
	struct nonce_ctx *c = arg;
	struct vstore *st = c->s->store;
	uint8_t mac[VSTORE_NONCE_LEN - NONCE_MAC_OFF];
	int64_t now = vs_now(), issued = 0;
	int r;

	if (len != VSTORE_NONCE_LEN)
		return attest_fail(ATTEST_E_NONCE, "nonce of %zu bytes", len);
	if (c->sent != NULL &&
	    (c->sent_len != len || CRYPTO_memcmp(c->sent, nonce, len) != 0))
		return attest_fail(ATTEST_E_NONCE, "the quote is over another nonce than the one sent");
	if ((r = nonce_mac(c->s, c->host, nonce, mac)) != ATTEST_OK)
		return r;
	if (CRYPTO_memcmp(mac, nonce + NONCE_MAC_OFF, sizeof(mac)) != 0)
		return attest_fail(ATTEST_E_NONCE,
				   "nonce not issued by this verifier for host %s (or before a restart)",
				   c->host);
	for (int i = 0; i < 8; i++)
		issued = (int64_t)(((uint64_t)issued << 8) | nonce[i]);
	if (issued > now || issued + c->s->cfg->nonce_ttl <= now)
		return attest_fail(ATTEST_E_NONCE, "nonce expired");
	if ((r = st->ops->nonce_check(st, nonce)) == ATTEST_E_NONCE)
		return attest_fail(ATTEST_E_NONCE, "nonce used");
	if (r != ATTEST_OK)
		return r;
	c->expires = issued + c->s->cfg->nonce_ttl;
	return ATTEST_OK;
}

/* Failures the host's TPM signed (or that follow from what it signed)
 * demote it; anything before the signature check could come from anyone
 * and only gets the request refused (docs/design-notes.md). */
static int attributable(int r)
{
	return r == ATTEST_E_QUOTE_COUNTER || r == ATTEST_E_PCR_MISMATCH ||
	       r == ATTEST_E_EVENTLOG_POLICY;
}

static int enrolment_reference(const struct ak_entry *e, uint32_t mask, const uint8_t *vals,
			       size_t len)
{
	size_t vi = 0, ri = 0;

	for (unsigned i = 0; i < 24; i++) {
		int in_q = (mask >> i) & 1, in_r = (e->ref_mask >> i) & 1;

		if (in_q && in_r) {
			if ((vi + 1) * 32 > len || (ri + 1) * 32 > e->ref_len)
				return attest_fail(ATTEST_E_INTERNAL, "reference bounds");
			if (CRYPTO_memcmp(vals + vi * 32, e->ref + ri * 32, 32) != 0)
				return attest_fail(ATTEST_E_PCR_MISMATCH,
						   "PCR %u differs from the value quoted at enrolment", i);
		}
		vi += (size_t)in_q;
		ri += (size_t)in_r;
	}
	return ATTEST_OK;
}

/* ---- revocations delivered to the host (issue 15) ---- */

struct revoked_ctx {
	const char *host;
	cJSON *ids;
	size_t n;
};

/* The list walk may not call into the store: collects only. */
static int collect_revoked(void *arg, const struct vagent *a)
{
	struct revoked_ctx *c = arg;

	if (!a->revoked || strcmp(a->host, c->host) != 0 ||
	    strncmp(a->revoke_reason, OPERATOR_PREFIX, strlen(OPERATOR_PREFIX)) != 0 ||
	    c->n >= ATTEST_PUSH_REVOKED_MAX)
		return ATTEST_OK;
	if (!cJSON_AddItemToArray(c->ids, cJSON_CreateString(a->id)))
		return attest_fail(ATTEST_E_NOMEM, "revoked_agents");
	c->n++;
	return ATTEST_OK;
}

/* "revoked_agents" of the quote answer: this host's agents an operator
 * revoked here (the first ATTEST_PUSH_REVOKED_MAX in ID order), so that
 * attestd stops issuing to them; absent when there are none (an attestd
 * that predates it refuses unknown members). */
static int add_revoked(struct vsrv *s, const char *host, cJSON *o)
{
	struct revoked_ctx c = {host, cJSON_CreateArray(), 0};
	int r;

	if (c.ids == NULL)
		return attest_fail(ATTEST_E_NOMEM, "revoked_agents");
	if ((r = s->store->ops->agent_list_host(s->store, host, collect_revoked, &c)) != ATTEST_OK) {
		cJSON_Delete(c.ids);
		return r;
	}
	if (c.n == 0) {
		cJSON_Delete(c.ids);
		return ATTEST_OK;
	}
	if (!cJSON_AddItemToObject(o, "revoked_agents", c.ids)) {
		cJSON_Delete(c.ids);
		return attest_fail(ATTEST_E_NOMEM, "revoked_agents");
	}
	return ATTEST_OK;
}

/* A quote whose verdict is in the audit log, waiting for the log's group
 * commit (audit/auditsync.h): the loop serves other requests meanwhile. */
struct quote_wait {
	struct vsrv *s;
	struct evhttp_request *req;
	struct vhost h;    /* the row to write */
	struct vhost seen; /* the row appraised against */
	uint8_t nonce[VSTORE_NONCE_LEN];
	int64_t expires;
	int q; /* the appraisal: ATTEST_OK or an attributable failure */
	int reboot, renew;
	enum vhost_state was;
};

/* The record is durable (or the log failed: nothing is changed, 500):
 * the host's state, with the nonce recorded as used, in ONE store
 * transaction (quote_commit), then the answer. Written only if the stored
 * counters are still those appraised against and the host is not
 * revoked: another verifier on the same store may have stored a newer
 * quote or revoked the host meanwhile, and this one must neither roll its
 * counters back nor be accepted (ATTEST_E_QUOTE_COUNTER, ATTEST_E_REVOKED;
 * the nonce stays recorded). A refused quote's verdict is re-applied to
 * the newer row (bounded), so it is not lost. */
static void quote_durable(void *arg, int code)
{
	struct quote_wait *w = arg;
	struct vsrv *s = w->s;
	struct evhttp_request *req = w->req;
	struct vhost h = w->h, seen = w->seen;
	const char *host = w->h.name;
	char *hostca = NULL;
	cJSON *o = NULL;
	int q = w->q, r;

	s->npending--;
	if (code != ATTEST_OK) {
		r = attest_fail(code, "audit record of the verdict not durable: the change is not made");
		goto out;
	}
	/* the view's row goes whatever the write's outcome */
	vs_view_host_drop(s, host);
	r = s->store->ops->quote_commit(s->store, w->nonce, w->expires, &h, &seen);
	for (int tries = 0; r == ATTEST_E_QUOTE_COUNTER && q != ATTEST_OK && tries < 3; tries++) {
		struct vhost fresh;

		/* the nonce is recorded already: the row only */
		if ((r = s->store->ops->host_get(s->store, host, &fresh)) != ATTEST_OK)
			break;
		seen = fresh;
		fresh.state = VHOST_UNTRUSTED;
		fresh.reason_code = h.reason_code;
		(void)snprintf(fresh.reason, sizeof(fresh.reason), "%s", h.reason);
		fresh.last_quote = h.last_quote;
		h = fresh;
		r = s->store->ops->host_put_quote(s->store, &h, &seen);
	}
	if (r != ATTEST_OK) {
		if (r == ATTEST_E_QUOTE_COUNTER || r == ATTEST_E_REVOKED || r == ATTEST_E_NONCE)
			vs_log_limited(s, r, "quote from %s not recorded: %s", host, attest_errdetail());
		goto out;
	}
	if (w->was == VHOST_TRUSTED && h.state != VHOST_TRUSTED)
		vs_changed(s, "a host demotion");
	if (q == ATTEST_OK && w->renew &&
	    (r = attest_ca_reissue_host(s->ca, host, &hostca)) != ATTEST_OK)
		goto out;
	/* a line when the host's state changes (or it rebooted), not for
	 * every push: each push is in the audit log */
	if (h.state != w->was || w->reboot)
		vs_log("host %s: %s%s%s%s", host, q == ATTEST_OK ? "trusted" : "untrusted",
		       q == ATTEST_OK ? "" : ", ", q == ATTEST_OK ? "" : attest_errname(q),
		       w->reboot ? ", rebooted" : "");
	if ((o = cJSON_CreateObject()) == NULL ||
	    (r = attest_json_add_str(o, "state", q == ATTEST_OK ? "trusted" : "untrusted")) !=
		    ATTEST_OK ||
	    (r = attest_json_add_str(o, "reason", attest_errname(q))) != ATTEST_OK ||
	    cJSON_AddBoolToObject(o, "reboot", w->reboot) == NULL ||
	    (r = attest_json_add_str(o, "refset", q == ATTEST_OK ? h.refset : "")) != ATTEST_OK ||
	    (hostca != NULL && (r = attest_json_add_str(o, "host_ca", hostca)) != ATTEST_OK) ||
	    (r = add_revoked(s, host, o)) != ATTEST_OK) {
		r = r != ATTEST_OK ? r : ATTEST_E_NOMEM;
		goto out;
	}
	/* the record is durable already: answered at once */
	vs_reply_obj(s, req, 200, o);
	r = ATTEST_OK;
out:
	if (r != ATTEST_OK)
		vs_reply_err(s, req, vs_status_of(r), r, "quote refused");
	free(hostca);
	cJSON_Delete(o);
	free(w);
}

void vs_quote(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt, const struct vcaller *who)
{
	(void)rt, (void)who; /* every handler has the route signature */
	cJSON *in = NULL;
	struct vb_quote qb = {0};
	const char *host;
	uint8_t *nonce, *att, *sig, *vals, *log;
	size_t nonce_len, att_len, sig_len, vals_len, log_len, off = 0;
	uint32_t mask;
	int renew;
	struct vhost h;
	struct ak_entry *e;
	TPM2B_PUBLIC ak;
	struct attest_quote_counters prev;
	struct attest_quote_result res;
	struct vhost seen;
	struct nonce_ctx nc = {s, NULL, NULL, 0, 0};
	struct quote_wait *w = NULL;
	enum vhost_state was;
	int r, q;

	if ((r = vs_body_json(req, rt->body_cap, vb_keys_quote, &in, NULL)) != ATTEST_OK ||
	    (r = vb_quote_parse(in, &qb)) != ATTEST_OK)
		goto out;
	host = qb.host;
	att = qb.att, att_len = qb.att_len;
	sig = qb.sig, sig_len = qb.sig_len;
	vals = qb.vals, vals_len = qb.vals_len;
	nonce = qb.nonce, nonce_len = qb.nonce_len;
	log = qb.log, log_len = qb.log_len;
	mask = qb.mask;
	renew = qb.renew;
	if ((r = vs_host_row(s, host, &h)) != ATTEST_OK || (r = vs_host_record(s, host, &e)) != ATTEST_OK)
		goto out;
	seen = h; /* the counters this quote is appraised against */
	if (h.revoked) {
		r = attest_fail(ATTEST_E_REVOKED, "host %s is revoked", host);
		goto out;
	}
	was = h.state;
	memset(&ak, 0, sizeof(ak));
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(e->ak, e->ak_len, &off, &ak) != TSS2_RC_SUCCESS) {
		r = attest_fail(ATTEST_E_INTERNAL, "AK record");
		goto out;
	}
	prev.have = h.have_clock;
	prev.reset_count = h.reset_count;
	prev.restart_count = h.restart_count;
	prev.clock = h.clock;
	nc.host = host;
	nc.sent = nonce;
	nc.sent_len = nonce_len;
	{
		struct attest_quote_evidence ev = {att, att_len, sig, sig_len, mask,
						   vals, vals_len, log, log_len};
		struct attest_quote_policy pol = {s->cfg->quote_mask, take_nonce, &nc, &prev,
						  s->sets, s->nsets};

		q = attest_quote_appraise(&ak, &ev, &pol, &res);
		if (q == ATTEST_OK && s->nsets == 0)
			q = enrolment_reference(e, (uint32_t)mask, vals, vals_len);
	}
	h.last_quote = vs_now();
	if (q == ATTEST_OK) {
		h.state = VHOST_TRUSTED;
		h.reason_code = 0;
		h.reason[0] = '\0';
		h.last_good = h.last_quote;
		if (res.reboot)
			h.boots++;
		if (!res.safe)
			h.unsafe_seen = 1;
		h.have_clock = 1;
		h.reset_count = res.now.reset_count;
		h.restart_count = res.now.restart_count;
		h.clock = res.now.clock;
		(void)snprintf(h.refset, sizeof(h.refset), "%s",
			       s->nsets ? res.refset : "enrolment");
		s->m.quotes_good++;
	} else {
		s->m.quotes_bad++;
		vs_log_limited(s, q, "quote from %s refused: %s (%s)", host, attest_errname(q),
			       attest_errdetail());
		if (!attributable(q)) {
			r = q;
			goto out;
		}
		h.state = VHOST_UNTRUSTED;
		h.reason_code = q;
		(void)snprintf(h.reason, sizeof(h.reason), "%s", attest_errdetail());
	}
	{
		/* the verdict goes into the log first; the host's state
		 * changes once the record is durable (quote_durable) */
		struct attest_audit_event ev = {0};
		char qh[65];
		uint8_t md[32];

		if (EVP_Digest(att, att_len, md, NULL, EVP_sha256(), NULL) == 1)
			attest_hex(md, sizeof(md), qh);
		else
			qh[0] = '\0';
		ev.type = "host_quote";
		ev.host = host;
		ev.source = attest_httpd_peer_addr(req);
		ev.outcome = q == ATTEST_OK ? "trusted" : "untrusted";
		ev.reason = attest_errname(q);
		ev.quote_sha256 = qh;
		ev.action = q == ATTEST_OK && renew ? "renew" : NULL;
		if ((w = calloc(1, sizeof(*w))) == NULL) {
			r = attest_fail(ATTEST_E_NOMEM, "quote");
			goto out;
		}
		*w = (struct quote_wait){ s, req, h, seen, {0}, nc.expires, q, q == ATTEST_OK && res.reboot,
					  q == ATTEST_OK && renew, was };
		if (nonce_len != sizeof(w->nonce) || nc.expires == 0) { /* take_nonce passed it */
			r = attest_fail(ATTEST_E_INTERNAL, "quote nonce");
			goto out;
		}
		memcpy(w->nonce, nonce, sizeof(w->nonce));
		if (s->npending >= PENDING_MAX) {
			r = attest_fail(ATTEST_E_BUSY, "too many replies waiting for the audit log");
			goto out;
		}
		if ((r = attest_audit_append_event(s->audit, &ev, NULL)) != ATTEST_OK) {
			vs_log_limited(s, r, "audit record of a change not written, the change is not "
				       "made: %s (%s)", attest_errname(r), attest_errdetail());
			goto out;
		}
		s->npending++;
		if ((r = attest_audit_syncer_wait(s->syncer, quote_durable, w)) != ATTEST_OK) {
			s->npending--;
			goto out;
		}
		w = NULL; /* quote_durable's, called now or once the batch synced */
	}
	r = ATTEST_OK;
out:
	if (r != ATTEST_OK)
		vs_reply_err(s, req, vs_status_of(r), r, "quote refused");
	free(w);
	vb_quote_clear(&qb);
	cJSON_Delete(in);
}

/* ---- audit checkpoints pushed by hosts ---- */

/* The latest checkpoint of each host log is kept (settings key
 * "ckpt:<log id hex>", value "<counter> <size> <time> <root hex> <host>").
 * The next must come from the same host, carry the next counter value, a
 * tree at least as large and a time no earlier, and, when the tree grew,
 * an RFC 9162 consistency proof from the last root: so a host that
 * restores an older copy of its log, or rewrites history under a fresh
 * counter value, cannot push its checkpoints, and the verifier's record
 * says how far the real log had come. */
static int check_consistency(const cJSON *in, uint64_t size1, const uint8_t root1[32],
			     const struct attest_audit_ckpt *c)
{
	attest_merkle_hash proof[ATTEST_MERKLE_MAX_PROOF];
	size_t n = 0;
	int r;

	if (size1 == c->size)
		return CRYPTO_memcmp(root1, c->root, 32) == 0
			       ? ATTEST_OK
			       : attest_fail(ATTEST_E_AUDIT_INCONSISTENT,
					     "same tree size, another root: the log was rewritten");
	if ((r = vb_consistency_parse(in, proof, &n)) != ATTEST_OK)
		return r == ATTEST_E_AUDIT_INCONSISTENT
			       ? attest_fail(ATTEST_E_AUDIT_INCONSISTENT,
					     "the tree grew from %llu to %llu records without a "
					     "consistency proof",
					     (unsigned long long)size1, (unsigned long long)c->size)
			       : r;
	if (attest_merkle_consistency_verify(size1, c->size, root1, c->root, proof, n) != ATTEST_OK)
		return attest_fail(ATTEST_E_AUDIT_INCONSISTENT,
				   "the new tree does not extend the last one (consistency proof "
				   "fails): the log was rewritten");
	return ATTEST_OK;
}

/* The stored record of a log's last checkpoint, "COUNTER SIZE TIME ROOT HOST
 * [MISSED]" (the sixth field, the counters missed so far, since gaps are
 * taken): one space between fields, numbers by attest_parse_u64's rules
 * (num[] = counter, size, time, missed). 0, or -1 when malformed. */
static int stored_ckpt(const char *val, uint64_t num[4], char *root, size_t rootsz, char *host,
		       size_t hostsz)
{
	const char *f[6];
	size_t n[6], nf = attest_fields(val, strlen(val), f, n, 6);

	if ((nf != 5 && nf != 6) || n[3] == 0 || n[3] >= rootsz || n[4] == 0 || n[4] >= hostsz ||
	    attest_parse_u64n(f[0], n[0], 0, UINT64_MAX, &num[0]) != ATTEST_OK ||
	    attest_parse_u64n(f[1], n[1], 0, UINT64_MAX, &num[1]) != ATTEST_OK ||
	    attest_parse_u64n(f[2], n[2], 0, UINT64_MAX, &num[2]) != ATTEST_OK ||
	    (nf == 6 && attest_parse_u64n(f[5], n[5], 0, UINT64_MAX, &num[3]) != ATTEST_OK))
		return -1;
	if (nf == 5)
		num[3] = 0;
	memcpy(root, f[3], n[3]);
	root[n[3]] = '\0';
	memcpy(host, f[4], n[4]);
	host[n[4]] = '\0';
	return 0;
}

void vs_checkpoint(struct vsrv *s, struct evhttp_request *req, const struct vroute *rt, const struct vcaller *who)
{
	(void)rt, (void)who; /* every handler has the route signature */
	cJSON *in = NULL, *o = NULL;
	const char *host;
	struct attest_audit_ckpt c;
	struct ak_entry *e;
	TPM2B_PUBLIC ak;
	size_t off = 0;
	char key[80], val[VSTORE_LIST_MAX], idhex[2 * ATTEST_AUDIT_LOG_ID_LEN + 1], roothex[65];
	unsigned long long last = 0, lsize = 0, ltime = 0;
	char lroot[65] = "", lhost[VSTORE_NAME_MAX] = "";
	uint64_t num[4] = {0, 0, 0, 0};
	uint64_t missed = 0, missed_total = 0;
	int r, have;

	if ((r = vs_body_json(req, rt->body_cap, vb_keys_checkpoint, &in, NULL)) != ATTEST_OK ||
	    (r = vb_checkpoint_parse(in, &host, &c)) != ATTEST_OK ||
	    (r = vs_host_not_revoked(s, host)) != ATTEST_OK ||
	    (r = vs_host_record(s, host, &e)) != ATTEST_OK)
		goto out;
	memset(&ak, 0, sizeof(ak));
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(e->ak, e->ak_len, &off, &ak) != TSS2_RC_SUCCESS) {
		r = attest_fail(ATTEST_E_INTERNAL, "AK record");
		goto out;
	}
	if ((r = attest_audit_ckpt_verify(&c, &ak, 0)) != ATTEST_OK)
		goto out;
	attest_hex(c.log_id, sizeof(c.log_id), idhex);
	attest_hex(c.root, 32, roothex);
	(void)snprintf(key, sizeof(key), "ckpt:%s", idhex);
	r = s->store->ops->setting_get(s->store, key, val, sizeof(val));
	if (r != ATTEST_OK && r != ATTEST_E_NOT_FOUND)
		goto out;
	have = r == ATTEST_OK;
	if (have && stored_ckpt(val, num, lroot, sizeof(lroot), lhost, sizeof(lhost)) != 0) {
		r = attest_fail(ATTEST_E_STORE_DAMAGED, "stored checkpoint of log %s malformed", idhex);
		goto out;
	}
	last = num[0];
	lsize = num[1];
	ltime = num[2];
	missed_total = num[3];
	if (have && strcmp(lhost, host) != 0) {
		r = attest_fail(ATTEST_E_PATH, "log %s belongs to host %s, not %s", idhex, lhost, host);
		goto out;
	}
	if (have && c.counter == (uint64_t)last && c.size == lsize && strcmp(lroot, roothex) == 0) {
		/* the very checkpoint it holds, sent again (the host crashed
		 * before it recorded our answer): idempotent, nothing changes */
		char cnt[24];

		(void)snprintf(cnt, sizeof(cnt), "%llu", last);
		if ((o = cJSON_CreateObject()) == NULL ||
		    cJSON_AddStringToObject(o, "status", "duplicate") == NULL ||
		    cJSON_AddStringToObject(o, "counter", cnt) == NULL) {
			r = ATTEST_E_NOMEM;
			goto out;
		}
		vs_reply_obj(s, req, 200, o);
		r = ATTEST_OK;
		goto out;
	}
	if (have && c.counter <= (uint64_t)last) {
		r = attest_fail(ATTEST_E_QUOTE_COUNTER,
				"log %s of %s: counter %llu after %llu (a replay or an older copy of "
				"the log)",
				idhex, host, (unsigned long long)c.counter, last);
		goto out;
	}
	if (have && (c.size < lsize || c.time < ltime)) {
		r = attest_fail(ATTEST_E_QUOTE_COUNTER,
				"log %s of %s: %llu records at %llu after %llu at %llu (the log "
				"shrank or went back in time: an older copy)",
				idhex, host, (unsigned long long)c.size, (unsigned long long)c.time,
				lsize, ltime);
		goto out;
	}
	if (have) {
		uint8_t root1[32];

		if (attest_unhex(lroot, root1, sizeof(root1)) != ATTEST_OK) {
			r = attest_fail(ATTEST_E_STORE_DAMAGED, "stored root malformed");
			goto out;
		}
		/* A missed checkpoint (lost in transit, the verifier was down, the
		 * host's queue overflowed) leaves a gap in the counters: taken
		 * when the tree still extends the last accepted one (the proof
		 * is from that tree, not the missed one), and the gap recorded. */
		if ((r = check_consistency(in, lsize, root1, &c)) != ATTEST_OK)
			goto out;
		if (c.counter > (uint64_t)last + 1) {
			missed = c.counter - (uint64_t)last - 1;
			if (missed_total > UINT64_MAX - missed)
				missed_total = UINT64_MAX;
			else
				missed_total += missed;
		}
	}
	{
		/* recorded (durably), then kept */
		struct attest_audit_event ev = {.type = "audit_checkpoint", .outcome = "ok"};
		char cnt[24], gap[96], miss[24], misst[24];

		(void)snprintf(cnt, sizeof(cnt), "%llu", (unsigned long long)c.counter);
		(void)snprintf(miss, sizeof(miss), "%llu", (unsigned long long)missed);
		(void)snprintf(misst, sizeof(misst), "%llu", (unsigned long long)missed_total);
		ev.host = host;
		ev.source = attest_httpd_peer_addr(req);
		ev.reason = cnt;
		ev.resource = idhex;
		if (missed > 0) {
			/* the gap goes into the verifier's audit log with the
			 * acceptance: counters last+1 .. counter-1 never seen */
			(void)snprintf(gap, sizeof(gap), "gap: counters %llu..%llu missed", last + 1,
				       (unsigned long long)c.counter - 1);
			ev.action = gap;
			s->m.checkpoint_gaps++;
			s->m.checkpoints_missed += missed;
			vs_log("checkpoint of %s log %s: counter %llu after %llu: %llu checkpoint(s) "
			       "missed; the tree extends the last accepted one (consistency proof "
			       "verified)",
			       host, idhex, (unsigned long long)c.counter, last,
			       (unsigned long long)missed);
		}
		if ((o = cJSON_CreateObject()) == NULL ||
		    cJSON_AddStringToObject(o, "status", "ok") == NULL ||
		    cJSON_AddStringToObject(o, "counter", cnt) == NULL ||
		    cJSON_AddStringToObject(o, "missed", miss) == NULL ||
		    cJSON_AddStringToObject(o, "missed_total", misst) == NULL) {
			r = ATTEST_E_NOMEM;
			goto out;
		}
		if ((r = vs_audit_durable(s, &ev)) != ATTEST_OK)
			goto out;
	}
	{
		/* compare-and-set on the record this checkpoint was checked
		 * against (issue 18): of two replicas accepting checkpoints of
		 * one log at once, one writes; the other is refused and the host
		 * pushes again, so the chain never forks or goes back */
		char old[VSTORE_LIST_MAX];

		if (have)
			(void)snprintf(old, sizeof(old), "%s", val);
		else
			old[0] = '\0';
		(void)snprintf(val, sizeof(val), "%llu %llu %llu %s %s %llu",
			       (unsigned long long)c.counter, (unsigned long long)c.size,
			       (unsigned long long)c.time, roothex, host,
			       (unsigned long long)missed_total);
		r = s->store->ops->setting_cas(s->store, key, have ? old : NULL, val);
		if (r == ATTEST_E_EXISTS)
			r = attest_fail(ATTEST_E_QUOTE_COUNTER,
					"log %s of %s: another replica recorded a checkpoint of "
					"this log meanwhile; push again",
					idhex, host);
		if (r != ATTEST_OK)
			goto out;
	}
	vs_log("checkpoint of %s log %s: counter %llu, %llu records", host, idhex,
	      (unsigned long long)c.counter, (unsigned long long)c.size);
	vs_audited_reply(s, req, 200, o, NULL);
	r = ATTEST_OK;
out:
	if (r != ATTEST_OK)
		vs_reply_err(s, req, vs_status_of(r), r, "checkpoint refused");
	cJSON_Delete(in);
	cJSON_Delete(o);
}
