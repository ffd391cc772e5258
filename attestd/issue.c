/* issue.c - measured certificate issuance in strict and session mode (agent socket). */

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>


#include "attest/client.h"
#include "attest/intent.h"
#include "caller.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "issue.h"
#include "log.h"
#include "request.h"
#include "signers.h"
#include "tpm/tpmsw.h"
#include "x509/x509agent.h"

static int leaf_key(const char *csr_pem, EVP_PKEY **pub, EVP_PKEY **generated)
{
	BIO *b = NULL;
	X509_REQ *req = NULL;
	EVP_PKEY *k;
	int r;

	*pub = *generated = NULL;
	if (csr_pem == NULL) {
		if ((*generated = EVP_EC_gen("P-256")) == NULL)
			return attest_fail_ossl(ATTEST_E_CRYPTO, "generate leaf key");
		if (EVP_PKEY_up_ref(*generated) != 1)
			return attest_fail_ossl(ATTEST_E_CRYPTO, "key ref");
		*pub = *generated;
		return ATTEST_OK;
	}
	if ((b = BIO_new_mem_buf(csr_pem, (int)strlen(csr_pem))) == NULL ||
	    (req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL)) == NULL) {
		r = attest_fail_ossl(ATTEST_E_CSR, "CSR is not PEM PKCS#10");
		goto out;
	}
	k = X509_REQ_get0_pubkey(req);
	/* Proof of possession: the request is signed by the key it carries. */
	if (k == NULL || X509_REQ_verify(req, k) != 1) {
		r = attest_fail_ossl(ATTEST_E_CSR, "CSR signature does not verify with its own key");
		goto out;
	}
	{
		char curve[32] = "";
		int ec = EVP_PKEY_is_a(k, "EC") &&
			 EVP_PKEY_get_utf8_string_param(k, "group", curve, sizeof(curve), NULL) == 1 &&
			 (strcmp(curve, "prime256v1") == 0 || strcmp(curve, "secp384r1") == 0);

		if (!ec && !(EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) >= 2048)) {
			r = attest_fail(ATTEST_E_CSR, "CSR key must be ECDSA P-256/P-384 or RSA >= 2048");
			goto out;
		}
	}
	if (EVP_PKEY_up_ref(k) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "key ref");
		goto out;
	}
	*pub = k;
	r = ATTEST_OK;
out:
	ERR_clear_error();
	X509_REQ_free(req);
	BIO_free(b);
	return r;
}

static int append_pem(BIO *b, X509 *x)
{
	return PEM_write_bio_X509(b, x) == 1 ? ATTEST_OK
					      : attest_fail_ossl(ATTEST_E_CRYPTO, "PEM chain");
}

/* A session issuer valid long enough for this leaf, made when needed. */
static int session_issuer(struct attestd *d, struct agent *a, long ttl)
{
	struct agent_signer_ctx ctx = { &d->host, a };
	struct attest_signer as = { agent_sign, &ctx, NULL };
	EVP_PKEY *key = NULL, *agent_pub = NULL;
	X509 *cert = NULL;
	int r;

	time_t needed = time(NULL) + (ttl > SESSION_REFRESH_MARGIN ? ttl : SESSION_REFRESH_MARGIN);

	if (a->session_cert != NULL && X509_cmp_time(X509_get0_notAfter(a->session_cert), &needed) > 0)
		return ATTEST_OK;
	if ((r = attest_tpm_pub_to_pkey(&a->key.pub, &agent_pub)) != ATTEST_OK)
		return r;
	as.pub = agent_pub;
	if ((key = EVP_EC_gen("P-256")) == NULL) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "session key");
		goto out;
	}
	if ((r = attest_x509_make_session_issuer(a->agent_ca, key, SESSION_ISSUER_TTL, &as, &cert)) !=
	    ATTEST_OK)
		goto out;
	X509_free(a->session_cert);
	EVP_PKEY_free(a->session_key);
	a->session_cert = cert;
	a->session_key = key;
	cert = NULL;
	key = NULL;
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	EVP_PKEY_free(agent_pub);
	return r;
}

/* ---------- intent (docs/intent.md, "attestd") ---------- */

/* STATE/intent-used/<hex SHA-256 of kind, issuer and value>: one file per
 * grant jti (kind "jti", keyed by the grant's issuer) or delegation nonce
 * (kind "nonce") that earned a certificate. Content: the chain's expiry,
 * so the files could be pruned once it passed. */
static int intent_marker_path(struct attestd *d, const char *kind, const char *iss,
			      const char *value, char *out, size_t outsz)
{
	uint8_t md[32];
	unsigned mdlen = 0;
	char hex[65];
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	int ok = m != NULL && EVP_DigestInit_ex(m, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(m, kind, strlen(kind) + 1) == 1 &&
		 EVP_DigestUpdate(m, iss, strlen(iss) + 1) == 1 &&
		 EVP_DigestUpdate(m, value, strlen(value)) == 1 &&
		 EVP_DigestFinal_ex(m, md, &mdlen) == 1 && mdlen == sizeof(md);

	EVP_MD_CTX_free(m);
	if (!ok)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "intent marker hash");
	attest_hex(md, sizeof(md), hex);
	if ((size_t)snprintf(out, outsz, "%s/intent-used/%s", d->host.state, hex) >= outsz)
		return attest_fail(ATTEST_E_INVALID_ARG, "state path too long");
	return ATTEST_OK;
}

/* What must be single-use for this chain: the grant's jti when the agent
 * presents the grant itself (depth 0), else the last delegation's nonce
 * (the earlier hops' nonces and the jti were spent by the agents before
 * it, possibly on this host). */
static int intent_marker(struct attestd *d, const struct attest_intent_chain *c, char *out,
			 size_t outsz, const char **what)
{
	unsigned depth = attest_intent_chain_depth(c);

	if (depth == 0) {
		*what = "grant jti";
		return intent_marker_path(d, "jti", attest_intent_chain_issuer(c),
					  attest_intent_chain_jti(c), out, outsz);
	}
	*what = "delegation nonce";
	return intent_marker_path(d, "nonce", "", attest_intent_chain_nonce(c, depth), out, outsz);
}

static int intent_unused(const char *path, const char *what, const struct attest_intent_chain *c)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		return attest_fail(attest_intent_chain_depth(c) == 0 ? ATTEST_E_INTENT_REPLAY
								     : ATTEST_E_NONCE,
				   "intent %s \"%s\" already earned a certificate", what,
				   attest_intent_chain_depth(c) == 0
					   ? attest_intent_chain_jti(c)
					   : attest_intent_chain_nonce(c, attest_intent_chain_depth(c)));
	if (errno != ENOENT)
		return attest_fail(ATTEST_E_IO, "%s: %s", path, strerror(errno));
	return ATTEST_OK;
}

/* Remove the markers whose chain has expired (a token is refused after its
 * expiry anyway, with no leeway) and temp files a crash left; a marker that
 * does not read as an expiry is kept (fail closed) and logged. */
static void intent_prune(const char *dir, time_t now)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	unsigned removed = 0, kept = 0;

	if (dh == NULL)
		return;
	while ((e = readdir(dh)) != NULL) {
		char path[800], *end;
		uint8_t *body = NULL;
		size_t len;
		long long exp;

		if (strlen(e->d_name) < 64 || strspn(e->d_name, "0123456789abcdef") != 64)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path))
			continue;
		if (e->d_name[64] != '\0') {
			if (strncmp(e->d_name + 64, ".tmp.", 5) == 0 && unlink(path) == 0)
				removed++;
			continue;
		}
		if (attest_file_read(path, 32, &body, &len) != ATTEST_OK) {
			kept++;
			continue;
		}
		errno = 0;
		exp = strtoll((const char *)body, &end, 10);
		if (errno != 0 || end == (char *)body || strcmp(end, "\n") != 0) {
			attestd_log("intent marker %s does not hold an expiry; kept", path);
			kept++;
		} else if (exp <= (long long)now && unlink(path) == 0) {
			removed++;
		}
		free(body);
	}
	closedir(dh);
	if (removed > 0 && attest_dir_sync(dir) != ATTEST_OK)
		attest_errclear();
	if (removed > 0 || kept > 0)
		attestd_log("intent markers: %u expired removed, %u unreadable kept", removed, kept);
}

static int intent_consume(struct attestd *d, const char *path, const char *what,
			  const struct attest_intent_chain *c)
{
	char dir[700], body[32];
	int r, n;
	time_t now = time(NULL);

	snprintf(dir, sizeof(dir), "%s/intent-used", d->host.state);
	if ((r = attest_dir_ensure(dir, 0700)) != ATTEST_OK)
		return r;
	if (now - d->intent_pruned >= ATTESTD_INTENT_PRUNE_S) {
		intent_prune(dir, now);
		d->intent_pruned = now;
	}
	n = snprintf(body, sizeof(body), "%lld\n", (long long)attest_intent_chain_expiry(c));
	r = attest_file_create_atomic(path, body, (size_t)n, 0600);
	if (r == ATTEST_E_EXISTS)
		return intent_unused(path, what, c);
	return r;
}

/* The agents before the presenting one that are registered on this host
 * (the only registry attestd has): each must still be registered under the
 * same ID and not revoked. (Their delegate_depth is checked offline by
 * attest_intent_verify, from the leaf each signed with.) Delegators on
 * other hosts are checked by a verifier that knows the fleet's registries. */
static int intent_local_delegators(struct attestd *d, const struct attest_intent_chain *c)
{
	unsigned n = attest_intent_chain_depth(c);

	for (unsigned j = 0; j < n; j++) {
		const char *host, *id = attest_intent_chain_agent(c, j, &host), *name;
		const struct agent *x;

		if (id == NULL || host == NULL || strcmp(host, d->host.name) != 0)
			continue;
		name = strrchr(id, '/');
		x = name != NULL ? registry_find(&d->reg, name + 1) : NULL;
		if (x == NULL || strcmp(x->id, id) != 0)
			return attest_fail(ATTEST_E_REVOKED,
					   "delegating agent %s is not registered on this host", id);
		if (x->revoked)
			return attest_fail(ATTEST_E_REVOKED, "delegating agent %s is revoked", id);
	}
	return ATTEST_OK;
}

/* Renewal of an intent leaf (field "renew"): pem is the agent's current
 * leaf, optionally followed by its session issuer, and nothing after. It
 * must verify now to this agent's CA and name this agent; *token gets the
 * chain from its intent extension (malloc'd). */
static int renewal_intent(struct agent *a, const char *pem, time_t now, char **token)
{
	static const char end_marker[] = "-----END CERTIFICATE-----";
	STACK_OF(X509) *certs = sk_X509_new_null();
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	const char *last = NULL, *p;
	char *uri = NULL;
	X509 *x;
	BIO *b = NULL;
	int r;

	*token = NULL;
	for (p = strstr(pem, end_marker); p != NULL; p = strstr(p + 1, end_marker))
		last = p;
	if (last == NULL || strspn(last + sizeof(end_marker) - 1, "\r\n") !=
				    strlen(last + sizeof(end_marker) - 1)) {
		r = attest_fail(ATTEST_E_PARSE, "renew: not PEM certificates, or bytes after the last");
		goto out;
	}
	if (certs == NULL || store == NULL || ctx == NULL ||
	    (b = BIO_new_mem_buf(pem, (int)strlen(pem))) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "renew");
		goto out;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(certs) == 4 || sk_X509_push(certs, x) <= 0) {
			X509_free(x);
			r = attest_fail(ATTEST_E_PARSE, "renew: over 4 certificates");
			goto out;
		}
	}
	ERR_clear_error();
	if (sk_X509_num(certs) == 0) {
		r = attest_fail(ATTEST_E_PARSE, "renew: no PEM certificate");
		goto out;
	}
	/* the agent CA is the anchor; a session issuer is untrusted input */
	if (X509_STORE_add_cert(store, a->agent_ca) != 1 ||
	    X509_STORE_CTX_init(ctx, store, sk_X509_value(certs, 0), certs) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "renew: verify context");
		goto out;
	}
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_X509_STRICT);
	X509_STORE_CTX_set_time(ctx, 0, now);
	if (X509_verify_cert(ctx) != 1) {
		r = attest_fail(ATTEST_E_DENIED, "renew: the leaf is not a current certificate of %s: %s",
				a->name, X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		ERR_clear_error();
		goto out;
	}
	if ((r = attest_x509_one_san_uri(sk_X509_value(certs, 0), &uri)) != ATTEST_OK)
		goto out;
	if (strcmp(uri, a->id) != 0) {
		r = attest_fail(ATTEST_E_DENIED, "renew: the leaf names %.300s, not %s", uri, a->id);
		goto out;
	}
	if ((r = attest_x509_ext_intent(sk_X509_value(certs, 0), token)) == ATTEST_E_NOT_FOUND)
		r = attest_fail(ATTEST_E_NOT_FOUND, "renew: the leaf carries no intent");
out:
	free(uri);
	BIO_free(b);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_pop_free(certs, X509_free);
	return r;
}

/* The intent rules of `issue`: the chain verifies for this agent now, its
 * effective scopes are all registered for the agent, the requested scopes
 * (default: the chain's) are within the chain's, and the leaf ends no later
 * than the chain. want/nwant may be replaced by the chain's scopes
 * (borrowed from *out). */
static int intent_check(struct attestd *d, struct agent *a, const char *token, time_t now,
			char *const *want, size_t nwant, struct attest_intent_chain **out)
{
	const char *const *cs;
	size_t ncs;
	int r;

	*out = NULL;
	if ((r = attest_intent_verify(d->intent_trust, token, a->id, now, out)) != ATTEST_OK)
		return r;
	if ((r = intent_local_delegators(d, *out)) != ATTEST_OK)
		goto fail;
	ncs = attest_intent_chain_scopes(*out, &cs);
	for (size_t i = 0; i < ncs; i++) {
		if (!scope_allowed(a, cs[i])) {
			r = attest_fail(ATTEST_E_SCOPE,
					"intent scope \"%s\" is not registered for %s", cs[i], a->name);
			goto fail;
		}
	}
	for (size_t i = 0; i < nwant; i++) {
		size_t j = 0;

		while (j < ncs && strcmp(cs[j], want[i]) != 0)
			j++;
		if (j == ncs) {
			r = attest_fail(ATTEST_E_INTENT_WIDENED,
					"scope \"%s\" is not in the intent's scopes", want[i]);
			goto fail;
		}
	}
	if (attest_intent_chain_expiry(*out) - (int64_t)now < 2) {
		r = attest_fail(ATTEST_E_INTENT_EXPIRED, "intent expires within 2 s");
		goto fail;
	}
	return ATTEST_OK;
fail:
	attest_intent_chain_free(*out);
	*out = NULL;
	return r;
}

/* ---------- the stages of an issuance ---------- */

/* The request as the agent sent it, checked field by field (nothing read
 * from the registry or the system yet). */
struct issue_req {
	const char *name, *mode, *task_id, *csr, *intent, *renew;
	int session;
	long ttl; /* -1: the agent's cap */
	char *want[AGENT_MAX_SCOPES];
	size_t nwant;
};

/* What authorization found and signing made; issue_job_free frees it. */
struct issue_job {
	struct agent *a;
	struct attest_proc_pin pin; /* the process measured */
	char *renewed;              /* the intent of a renewed leaf (malloc'd) */
	const char *intent;         /* the intent the leaf carries, or NULL */
	struct attest_intent_chain *chain;
	char marker[800]; /* STATE/intent-used entry to spend ("": none) */
	const char *marker_what;
	char scopes[ATTEST_SCOPES_MAX + 1]; /* the leaf's, "a b c" */
	long ttl;
	EVP_PKEY *pub, *generated; /* the leaf's key; generated: made here */
	X509 *leaf;
};

static void issue_req_free(struct issue_req *q)
{
	for (size_t i = 0; i < q->nwant; i++)
		free(q->want[i]);
}

static void issue_job_free(struct issue_job *j)
{
	attest_intent_chain_free(j->chain);
	free(j->renewed);
	X509_free(j->leaf);
	EVP_PKEY_free(j->pub);
	EVP_PKEY_free(j->generated);
}

static int issue_parse(const cJSON *req, struct issue_req *q)
{
	static const char *const keys[] = { "op", "agent", "mode", "ttl", "scopes", "task_id",
					    "csr", "intent", "renew", NULL };
	int r;

	q->ttl = -1;
	if ((r = attest_json_only(req, keys)) != ATTEST_OK ||
	    (r = attest_json_str(req, "agent", ATTEST_MAX_NAME, &q->name)) != ATTEST_OK ||
	    (r = opt_str(req, "mode", 8, &q->mode)) != ATTEST_OK ||
	    (r = opt_str(req, "task_id", 128, &q->task_id)) != ATTEST_OK ||
	    (r = opt_str(req, "csr", 16384, &q->csr)) != ATTEST_OK ||
	    (r = opt_str(req, "intent", ATTEST_INTENT_TOKEN_MAX, &q->intent)) != ATTEST_OK ||
	    (r = opt_str(req, "renew", ATTEST_RENEW_PEM_MAX, &q->renew)) != ATTEST_OK ||
	    (r = int_field(req, "ttl", 1, 86400, &q->ttl)) != ATTEST_OK ||
	    (r = str_list(req, "scopes", valid_scope, q->want, AGENT_MAX_SCOPES, &q->nwant)) !=
		    ATTEST_OK)
		return r;
	/* "scopes": [] asks for nothing: it is refused, never read as "all
	 * registered scopes" (docs/protocol.md, "issue") */
	if (cJSON_GetObjectItemCaseSensitive(req, "scopes") != NULL && q->nwant == 0)
		return attest_fail(ATTEST_E_SCOPE, "\"scopes\" is an empty list: name at least one "
				   "scope, or leave the field out for the registered ones");
	if (q->mode == NULL)
		q->mode = "strict";
	if (strcmp(q->mode, "strict") != 0 && strcmp(q->mode, "session") != 0)
		return attest_fail(ATTEST_E_PARSE, "mode must be strict or session");
	q->session = strcmp(q->mode, "session") == 0;
	if (q->intent != NULL && q->renew != NULL)
		return attest_fail(ATTEST_E_INVALID_ARG,
				   "give intent (first issuance) or renew, not both");
	return ATTEST_OK;
}

/* Who may have what: the caller is the registered agent, the scopes and
 * the intent are its, the lifetime within its cap, the CSR well formed.
 * The request is checked whole here, before anything changes state. */
static int issue_authorize(struct attestd *d, const struct attestd_peer *peer,
			   const struct issue_req *q, struct issue_job *j)
{
	long cap;
	int r;

	if ((j->a = registry_find(&d->reg, q->name)) == NULL)
		return attest_fail(ATTEST_E_AGENT_UNKNOWN, "no agent \"%s\" on this host", q->name);
	if (j->a->revoked)
		return attest_fail(ATTEST_E_REVOKED, "agent %s is revoked", q->name);
	if ((r = measure_caller(d->cache, peer, j->a, &j->pin)) != ATTEST_OK)
		return r;
	for (size_t i = 0; i < q->nwant; i++)
		if (!scope_allowed(j->a, q->want[i]))
			return attest_fail(ATTEST_E_SCOPE, "scope \"%s\" is not registered for %s",
					   q->want[i], q->name);
	j->intent = q->intent;
	if (q->renew != NULL) {
		/* the chain was spent when the presented leaf was issued: it is
		 * re-verified in full below, but not spent again */
		if ((r = renewal_intent(j->a, q->renew, time(NULL), &j->renewed)) != ATTEST_OK)
			return r;
		j->intent = j->renewed;
	}
	if (j->intent != NULL && (r = intent_check(d, j->a, j->intent, time(NULL), q->want,
						   q->nwant, &j->chain)) != ATTEST_OK)
		return r;
	if (j->chain != NULL && q->nwant == 0) {
		/* no scopes asked with an intent: the intent's effective scopes */
		const char *const *cs;
		size_t ncs = attest_intent_chain_scopes(j->chain, &cs);

		r = join_scopes(cs, ncs, j->scopes, sizeof(j->scopes));
	} else if (q->nwant > 0) {
		r = join_scopes((const char *const *)q->want, q->nwant, j->scopes, sizeof(j->scopes));
	} else { /* no scopes asked: all registered ones */
		r = join_scopes((const char *const *)j->a->scopes, j->a->nscopes, j->scopes,
				sizeof(j->scopes));
	}
	if (r != ATTEST_OK)
		return r;
	cap = j->a->max_ttl < d->hard_max_ttl ? j->a->max_ttl : d->hard_max_ttl;
	if (q->ttl > cap)
		return attest_fail(ATTEST_E_TTL, "ttl %ld above %s's cap of %ld s", q->ttl, q->name,
				   cap);
	j->ttl = q->ttl < 0 ? cap : q->ttl;
	if (j->chain != NULL && q->renew == NULL &&
	    (r = intent_marker(d, j->chain, j->marker, sizeof(j->marker), &j->marker_what)) !=
		    ATTEST_OK)
		return r;
	return leaf_key(q->csr, &j->pub, &j->generated);
}

/* The leaf, signed by the TPM under the agent's PCR 23 policy (strict) or
 * by the agent's session issuer (session), then the caller checked again:
 * still the process measured, untraced, connected. */
static int issue_sign(struct attestd *d, const struct attestd_peer *peer,
		      const struct issue_req *q, struct issue_job *j)
{
	struct attest_leaf_params lp;
	struct attest_signer signer;
	struct agent_signer_ctx ctx = { &d->host, j->a };
	EVP_PKEY *agent_pub = NULL;
	int r;

	if ((r = fresh_agent_ca(&d->host, &d->reg, j->a, j->ttl)) != ATTEST_OK)
		return r;
	if (d->before_sign != NULL)
		d->before_sign(d->before_sign_arg);
	memset(&lp, 0, sizeof(lp));
	if (j->chain != NULL) {
		/* every other check passed: a used jti/nonce is refused now (no
		 * TPM signature for it), and it is spent only once the
		 * certificate is about to leave (issue_commit) */
		int64_t left = attest_intent_chain_expiry(j->chain) - (int64_t)time(NULL) - 1;

		if (q->renew == NULL && (r = intent_unused(j->marker, j->marker_what, j->chain)) !=
					       ATTEST_OK)
			return r;
		if (left < 1)
			return attest_fail(ATTEST_E_INTENT_EXPIRED, "intent expired while issuing");
		/* the leaf never outlives the intent (1 s margin for the clock
		 * ticking before the leaf's validity is set) */
		if (j->ttl > left)
			j->ttl = (long)left;
		lp.intent = (const uint8_t *)j->intent;
		lp.intent_len = strlen(j->intent);
	}
	lp.pub = j->pub;
	lp.ttl = j->ttl;
	lp.delegate_depth = j->a->delegate_depth;
	lp.task_id = q->task_id;
	lp.scopes = j->scopes[0] ? j->scopes : NULL;
	if (q->session) {
		if ((r = session_issuer(d, j->a, j->ttl)) != ATTEST_OK ||
		    (r = attest_signer_from_pkey(j->a->session_key, &signer)) != ATTEST_OK)
			return r;
		r = attest_x509_make_leaf(j->a->session_cert, &lp, &signer, &j->leaf);
	} else {
		if ((r = attest_tpm_pub_to_pkey(&j->a->key.pub, &agent_pub)) != ATTEST_OK)
			return r;
		signer.sign = agent_sign;
		signer.arg = &ctx;
		signer.pub = agent_pub;
		r = attest_x509_make_leaf(j->a->agent_ca, &lp, &signer, &j->leaf);
		EVP_PKEY_free(agent_pub);
	}
	if (r != ATTEST_OK)
		return r;
	/* Still the same, untraced process after signing, or the certificate
	 * is dropped. */
	if ((r = attest_proc_check(&j->pin)) != ATTEST_OK ||
	    (r = still_untraced(j->pin.pid)) != ATTEST_OK)
		return r;
	return attestd_peer_alive(peer);
}

/* What must hold before the certificate leaves: the intent spent (single
 * use, crash-safe: the marker exists first) and the issuance recorded; the
 * reply then waits until the record is durable (server.c). */
static int issue_commit(struct attestd *d, const struct attestd_peer *peer,
			const struct issue_req *q, struct issue_job *j)
{
	int r;

	if (j->chain != NULL) {
		time_t end = (time_t)attest_intent_chain_expiry(j->chain);

		if (X509_cmp_time(X509_get0_notAfter(j->leaf), &end) > 0)
			return attest_fail(ATTEST_E_INTENT_LIFETIME, "leaf would outlive the intent");
		if (q->renew == NULL &&
		    (r = intent_consume(d, j->marker, j->marker_what, j->chain)) != ATTEST_OK)
			return r;
	}
	return attestd_audit_issue(&d->log, peer, j->a, j->leaf, j->chain, q->renew != NULL,
				   j->scopes);
}

/* A memory BIO's contents as a reply field; wipe: the field is a secret
 * (the BIO's buffer is the caller's to wipe). */
static int add_bio(cJSON *reply, const char *key, BIO *b, int wipe)
{
	char *data, *s;
	long n = BIO_get_mem_data(b, &data);
	int r = ATTEST_OK;

	if (n < 0 || (s = strndup(data, (size_t)n)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "%s", key);
	if (cJSON_AddStringToObject(reply, key, s) == NULL)
		r = attest_fail(ATTEST_E_NOMEM, "%s", key);
	if (wipe)
		OPENSSL_cleanse(s, strlen(s));
	free(s);
	return r;
}

/* The chain (leaf, session issuer, agent CA, host CA), the key attestd
 * made if the agent sent no CSR, the mode and the agent's ID. */
static int issue_reply(struct attestd *d, const struct attestd_peer *peer,
		       const struct issue_req *q, const struct issue_job *j, cJSON *reply)
{
	BIO *chain = BIO_new(BIO_s_mem()), *keyb = NULL;
	int r;

	if (chain == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "chain");
		goto out;
	}
	if ((r = append_pem(chain, j->leaf)) != ATTEST_OK ||
	    (q->session && (r = append_pem(chain, j->a->session_cert)) != ATTEST_OK) ||
	    (r = append_pem(chain, j->a->agent_ca)) != ATTEST_OK ||
	    (r = append_pem(chain, d->host.ca)) != ATTEST_OK ||
	    (r = add_bio(reply, "chain", chain, 0)) != ATTEST_OK)
		goto out;
	if (j->generated != NULL) {
		if ((keyb = BIO_new(BIO_s_mem())) == NULL ||
		    PEM_write_bio_PrivateKey(keyb, j->generated, NULL, NULL, 0, NULL, NULL) != 1) {
			r = attest_fail_ossl(ATTEST_E_CRYPTO, "encode leaf key");
			goto out;
		}
		if ((r = add_bio(reply, "key", keyb, 1)) != ATTEST_OK)
			goto out;
	}
	if (cJSON_AddStringToObject(reply, "mode", q->mode) == NULL ||
	    cJSON_AddStringToObject(reply, "id", j->a->id) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "reply");
		goto out;
	}
	attestd_log("issued %s certificate to %s pid=%d uid=%u ttl=%lds scopes=[%s]%s%s%s", q->mode,
		    j->a->name, (int)j->pin.pid, (unsigned)peer->uid, j->ttl, j->scopes,
		    j->chain != NULL ? " intent of user " : "",
		    j->chain != NULL ? attest_intent_chain_user(j->chain) : "",
		    j->chain == NULL				   ? ""
		    : q->renew != NULL				   ? " (renewed)"
		    : attest_intent_chain_depth(j->chain) > 0 ? " (delegated)"
							       : " (granted)");
	r = ATTEST_OK;
out:
	if (keyb != NULL) {
		char *data;
		long n = BIO_get_mem_data(keyb, &data);

		if (n > 0)
			OPENSSL_cleanse(data, (size_t)n);
	}
	BIO_free(keyb);
	BIO_free(chain);
	return r;
}

int do_issue(struct attestd *d, const struct attestd_peer *peer, const cJSON *req, cJSON *reply)
{
	struct issue_req q;
	struct issue_job j;
	int r;

	memset(&q, 0, sizeof(q));
	memset(&j, 0, sizeof(j));
	if ((r = issue_parse(req, &q)) == ATTEST_OK &&
	    (r = issue_authorize(d, peer, &q, &j)) == ATTEST_OK &&
	    (r = issue_sign(d, peer, &q, &j)) == ATTEST_OK &&
	    (r = issue_commit(d, peer, &q, &j)) == ATTEST_OK)
		r = issue_reply(d, peer, &q, &j, reply);
	issue_job_free(&j);
	issue_req_free(&q);
	return r;
}
