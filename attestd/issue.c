/* issue.c - measured certificate issuance in strict and session mode (agent socket). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <tss2/tss2_mu.h>

#include "attest/client.h"
#include "attest/intent.h"
#include "auditlog.h"
#include "daemon.h"
#include "enrol/enrol.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "log.h"
#include "tpm/tpmjson.h"
#include "tpm/tpmpolicy.h"
#include "tpm/tpmsw.h"
#include "x509/x509.h"
#include "x509/x509agent.h"

#include "ops.h"

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
	struct agent_signer_ctx ctx = { d, a };
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
	if ((size_t)snprintf(out, outsz, "%s/intent-used/%s", d->state, hex) >= outsz)
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

	snprintf(dir, sizeof(dir), "%s/intent-used", d->state);
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

		if (id == NULL || host == NULL || strcmp(host, d->host) != 0)
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

int do_issue(struct attestd *d, const struct attestd_peer *peer, const cJSON *req,
		    cJSON *reply)
{
	static const char *const keys[] = { "op", "agent", "mode", "ttl", "scopes", "task_id",
					    "csr", "intent", "renew", NULL };
	const char *name, *mode = "strict", *task_id, *csr, *intent = NULL, *renew = NULL;
	char *renewed = NULL;
	struct attest_intent_chain *chain_of_intent = NULL;
	char marker[800] = "";
	const char *marker_what = "";
	char *want[AGENT_MAX_SCOPES] = { 0 }, scopes[SCOPES_MAX + 1] = "";
	size_t nwant = 0;
	long ttl = -1, cap;
	struct agent *a;
	struct attest_proc_pin pin;
	EVP_PKEY *pub = NULL, *generated = NULL, *agent_pub = NULL;
	X509 *leaf = NULL;
	BIO *chain = NULL, *keyb = NULL;
	struct attest_leaf_params lp;
	struct attest_signer signer;
	struct agent_signer_ctx ctx;
	int r, session;

	if ((r = attest_json_only(req, keys)) != ATTEST_OK ||
	    (r = attest_json_str(req, "agent", ATTEST_MAX_NAME, &name)) != ATTEST_OK ||
	    (r = opt_str(req, "mode", 8, &mode)) != ATTEST_OK ||
	    (r = opt_str(req, "task_id", 128, &task_id)) != ATTEST_OK ||
	    (r = opt_str(req, "csr", 16384, &csr)) != ATTEST_OK ||
	    (r = opt_str(req, "intent", ATTEST_INTENT_TOKEN_MAX, &intent)) != ATTEST_OK ||
	    (r = opt_str(req, "renew", ATTEST_RENEW_PEM_MAX, &renew)) != ATTEST_OK ||
	    (r = int_field(req, "ttl", 1, 86400, &ttl)) != ATTEST_OK ||
	    (r = str_list(req, "scopes", valid_scope, want, AGENT_MAX_SCOPES, &nwant)) != ATTEST_OK)
		goto out;
	{
		/* "scopes": [] asks for nothing: it is refused, never read as
		 * "all registered scopes" (docs/protocol.md, "issue") */
		const cJSON *sc = cJSON_GetObjectItemCaseSensitive(req, "scopes");

		if (sc != NULL && nwant == 0) {
			r = attest_fail(ATTEST_E_SCOPE, "\"scopes\" is an empty list: name at least one "
					"scope, or leave the field out for the registered ones");
			goto out;
		}
	}
	if (mode == NULL)
		mode = "strict";
	if (strcmp(mode, "strict") != 0 && strcmp(mode, "session") != 0) {
		r = attest_fail(ATTEST_E_PARSE, "mode must be strict or session");
		goto out;
	}
	session = strcmp(mode, "session") == 0;
	if ((a = registry_find(&d->reg, name)) == NULL) {
		r = attest_fail(ATTEST_E_AGENT_UNKNOWN, "no agent \"%s\" on this host", name);
		goto out;
	}
	if (a->revoked) {
		r = attest_fail(ATTEST_E_REVOKED, "agent %s is revoked", name);
		goto out;
	}
	if ((r = measure_caller(d, peer, a, &pin)) != ATTEST_OK)
		goto out;
	for (size_t i = 0; i < nwant; i++) {
		if (!scope_allowed(a, want[i])) {
			r = attest_fail(ATTEST_E_SCOPE, "scope \"%s\" is not registered for %s", want[i],
					name);
			goto out;
		}
	}
	if (intent != NULL && renew != NULL) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "give intent (first issuance) or renew, not both");
		goto out;
	}
	if (renew != NULL) {
		/* the chain was spent when the presented leaf was issued: it is
		 * re-verified in full below, but not spent again */
		if ((r = renewal_intent(a, renew, time(NULL), &renewed)) != ATTEST_OK)
			goto out;
		intent = renewed;
	}
	if (intent != NULL &&
	    (r = intent_check(d, a, intent, time(NULL), want, nwant, &chain_of_intent)) != ATTEST_OK)
		goto out;
	if (chain_of_intent != NULL && nwant == 0) {
		/* no scopes asked with an intent: the intent's effective scopes */
		const char *const *cs;
		size_t ncs = attest_intent_chain_scopes(chain_of_intent, &cs);

		if ((r = join_scopes(cs, ncs, scopes, sizeof(scopes))) != ATTEST_OK)
			goto out;
	} else if ((r = join_scopes(nwant ? (const char *const *)want
					  : (const char *const *)a->scopes,
				    nwant ? nwant : a->nscopes, scopes, sizeof(scopes))) !=
		   ATTEST_OK) /* no scopes asked: all registered ones */
		goto out;
	cap = a->max_ttl < d->hard_max_ttl ? a->max_ttl : d->hard_max_ttl;
	if (ttl > cap) {
		r = attest_fail(ATTEST_E_TTL, "ttl %ld above %s's cap of %ld s", ttl, name, cap);
		goto out;
	}
	if (ttl < 0)
		ttl = cap;
	if (chain_of_intent != NULL && renew == NULL &&
	    (r = intent_marker(d, chain_of_intent, marker, sizeof(marker), &marker_what)) != ATTEST_OK)
		goto out;
	/* the request is checked whole before anything changes state */
	if ((r = leaf_key(csr, &pub, &generated)) != ATTEST_OK ||
	    (r = fresh_agent_ca(d, a, ttl)) != ATTEST_OK)
		goto out;
	if (d->before_sign != NULL)
		d->before_sign(d->before_sign_arg);
	memset(&lp, 0, sizeof(lp));
	if (chain_of_intent != NULL) {
		/* every other check passed: a used jti/nonce is refused now (no
		 * TPM signature for it), and it is spent only once the
		 * certificate is about to leave (below) */
		int64_t left = attest_intent_chain_expiry(chain_of_intent) - (int64_t)time(NULL) - 1;

		if (renew == NULL && (r = intent_unused(marker, marker_what, chain_of_intent)) != ATTEST_OK)
			goto out;
		if (left < 1) {
			r = attest_fail(ATTEST_E_INTENT_EXPIRED, "intent expired while issuing");
			goto out;
		}
		/* the leaf never outlives the intent (1 s margin for the clock
		 * ticking before the leaf's validity is set) */
		if (ttl > left)
			ttl = (long)left;
		lp.intent = (const uint8_t *)intent;
		lp.intent_len = strlen(intent);
	}
	lp.pub = pub;
	lp.ttl = ttl;
	lp.delegate_depth = a->delegate_depth;
	lp.task_id = task_id;
	lp.scopes = scopes[0] ? scopes : NULL;
	if (session) {
		if ((r = session_issuer(d, a, ttl)) != ATTEST_OK ||
		    (r = attest_signer_from_pkey(a->session_key, &signer)) != ATTEST_OK ||
		    (r = attest_x509_make_leaf(a->session_cert, &lp, &signer, &leaf)) != ATTEST_OK)
			goto out;
	} else {
		ctx.d = d;
		ctx.a = a;
		if ((r = attest_tpm_pub_to_pkey(&a->key.pub, &agent_pub)) != ATTEST_OK)
			goto out;
		signer.sign = agent_sign;
		signer.arg = &ctx;
		signer.pub = agent_pub;
		if ((r = attest_x509_make_leaf(a->agent_ca, &lp, &signer, &leaf)) != ATTEST_OK)
			goto out;
	}
	/* Still the same, untraced process after signing, or the certificate
	 * is dropped. */
	if ((r = attest_proc_check(&pin)) != ATTEST_OK || (r = still_untraced(pin.pid)) != ATTEST_OK ||
	    (r = attestd_peer_alive(peer)) != ATTEST_OK)
		goto out;
	if (chain_of_intent != NULL) {
		time_t end = (time_t)attest_intent_chain_expiry(chain_of_intent);

		if (X509_cmp_time(X509_get0_notAfter(leaf), &end) > 0) {
			r = attest_fail(ATTEST_E_INTENT_LIFETIME, "leaf would outlive the intent");
			goto out;
		}
		/* single use, crash-safe: the marker exists before the
		 * certificate is handed out */
		if (renew == NULL &&
		    (r = intent_consume(d, marker, marker_what, chain_of_intent)) != ATTEST_OK)
			goto out;
	}
	/* the record of this certificate: the reply waits until it is durable
	 * (server.c), and without it the certificate does not leave */
	if ((r = attestd_audit_issue(d, peer, a, leaf, chain_of_intent, renew != NULL, scopes)) !=
	    ATTEST_OK)
		goto out;
	if ((chain = BIO_new(BIO_s_mem())) == NULL ||
	    (r = append_pem(chain, leaf)) != ATTEST_OK ||
	    (session && (r = append_pem(chain, a->session_cert)) != ATTEST_OK) ||
	    (r = append_pem(chain, a->agent_ca)) != ATTEST_OK ||
	    (r = append_pem(chain, d->host_ca)) != ATTEST_OK) {
		r = r != ATTEST_OK ? r : attest_fail(ATTEST_E_NOMEM, "chain");
		goto out;
	}
	{
		char *data;
		long n = BIO_get_mem_data(chain, &data);
		char *s = strndup(data, (size_t)n);

		if (s == NULL) {
			r = attest_fail(ATTEST_E_NOMEM, "chain");
			goto out;
		}
		cJSON_AddStringToObject(reply, "chain", s);
		free(s);
	}
	if (generated != NULL) {
		char *data, *s;
		long n;

		if ((keyb = BIO_new(BIO_s_mem())) == NULL ||
		    PEM_write_bio_PrivateKey(keyb, generated, NULL, NULL, 0, NULL, NULL) != 1) {
			r = attest_fail_ossl(ATTEST_E_CRYPTO, "encode leaf key");
			goto out;
		}
		n = BIO_get_mem_data(keyb, &data);
		if ((s = strndup(data, (size_t)n)) == NULL) {
			r = attest_fail(ATTEST_E_NOMEM, "key");
			goto out;
		}
		cJSON_AddStringToObject(reply, "key", s);
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
	cJSON_AddStringToObject(reply, "mode", mode);
	cJSON_AddStringToObject(reply, "id", a->id);
	attestd_log("issued %s certificate to %s pid=%d uid=%u ttl=%lds scopes=[%s]%s%s%s", mode,
		    a->name, (int)pin.pid, (unsigned)peer->uid, ttl, scopes,
		    chain_of_intent != NULL ? " intent of user " : "",
		    chain_of_intent != NULL ? attest_intent_chain_user(chain_of_intent) : "",
		    chain_of_intent == NULL			      ? ""
		    : renew != NULL				      ? " (renewed)"
		    : attest_intent_chain_depth(chain_of_intent) > 0 ? " (delegated)"
								      : " (granted)");
	r = ATTEST_OK;
out:
	attest_intent_chain_free(chain_of_intent);
	free(renewed);
	for (size_t i = 0; i < nwant; i++)
		free(want[i]);
	if (keyb != NULL) {
		char *data;
		long n = BIO_get_mem_data(keyb, &data);

		OPENSSL_cleanse(data, (size_t)n);
	}
	BIO_free(keyb);
	BIO_free(chain);
	X509_free(leaf);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(generated);
	EVP_PKEY_free(agent_pub);
	return r;
}

