/* mint.c - see mint.h. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "auditlog.h"
#include "caller.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/num.h"
#include "log.h"
#include "mint.h"
#include "registration.h"
#include "request.h"
#include "signers.h"
#include "tpm/tpmsw.h"
#include "x509/x509.h"
#include "x509/x509agent.h"

#define SESSION_ISSUER_TTL ATTEST_SESSION_ISSUER_MAX_TTL
#define SESSION_REFRESH_MARGIN 60

void mint_result_clear(struct mint_result *res)
{
	free(res->chain);
	memset(res, 0, sizeof(*res));
}

int attestd_agent_info(struct attestd *d, const char *name, char id[MINT_ID_MAX + 1],
		       X509 **agent_ca)
{
	const struct agent *a = registry_find(&d->reg, name);

	*agent_ca = NULL;
	if (a == NULL)
		return attest_fail(ATTEST_E_AGENT_UNKNOWN, "no agent \"%s\" on this host", name);
	if (strlen(a->id) > MINT_ID_MAX || X509_up_ref(a->agent_ca) != 1)
		return attest_fail(ATTEST_E_INTERNAL, "agent record of %s", name);
	memcpy(id, a->id, strlen(a->id) + 1);
	*agent_ca = a->agent_ca;
	return ATTEST_OK;
}

/* ---------- the leaf's key ---------- */

/* DER SubjectPublicKeyInfo of ECDSA P-256/P-384 or RSA >= 2048, nothing
 * after it. */
/* The DER of a P-256 SubjectPublicKeyInfo with an uncompressed point, up
 * to the point's 64 coordinate bytes: SEQUENCE { SEQUENCE { ecPublicKey,
 * prime256v1 }, BIT STRING (no unused bits) 04 || X || Y }. */
static const uint8_t p256_spki_head[27] = {
	0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
	0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
};
#define P256_SPKI_LEN (sizeof(p256_spki_head) + 64)

/* Issue 17: the P-256 key of nearly every leaf, imported from its raw
 * point (EVP_PKEY_fromdata, which refuses a point off the curve) instead
 * of d2i_PUBKEY, whose OpenSSL 3 decoder set-up was a fifth of the
 * monitor's CPU per certificate. Only the exact bytes above qualify;
 * anything else takes the general path below. */
static EVP_PKEY *p256_pub(const uint8_t *der)
{
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;
	char group[] = "prime256v1";

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
						      (void *)(der + sizeof(p256_spki_head) - 1), 65);
	params[2] = OSSL_PARAM_construct_end();
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	return k;
}

static int leaf_pub(const uint8_t *der, size_t len, EVP_PKEY **out)
{
	const unsigned char *p = der;
	EVP_PKEY *k = NULL;
	char curve[32] = "";
	int r = ATTEST_OK;

	*out = NULL;
	if (len == P256_SPKI_LEN && memcmp(der, p256_spki_head, sizeof(p256_spki_head)) == 0) {
		if ((*out = p256_pub(der)) == NULL)
			r = attest_fail(ATTEST_E_CSR, "the leaf key is not a point on P-256");
		ERR_clear_error();
		return r;
	}
	if (len == 0 || len > MINT_SPKI_MAX || (k = d2i_PUBKEY(NULL, &p, (long)len)) == NULL ||
	    p != der + len) {
		r = attest_fail(ATTEST_E_CSR, "the leaf key is not one DER SubjectPublicKeyInfo");
		goto out;
	}
	if (!(EVP_PKEY_is_a(k, "EC") &&
	      EVP_PKEY_get_utf8_string_param(k, "group", curve, sizeof(curve), NULL) == 1 &&
	      (strcmp(curve, "prime256v1") == 0 || strcmp(curve, "secp384r1") == 0)) &&
	    !(EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) >= 2048)) {
		r = attest_fail(ATTEST_E_CSR, "leaf key must be ECDSA P-256/P-384 or RSA >= 2048");
		goto out;
	}
	*out = k;
	k = NULL;
out:
	ERR_clear_error();
	EVP_PKEY_free(k);
	return r;
}

/* ---------- session issuers ---------- */

/* Whether a's session issuer serves a leaf of ttl seconds now. */
static int issuer_current(const struct agent *a, long ttl)
{
	time_t needed = time(NULL) + (ttl > SESSION_REFRESH_MARGIN ? ttl : SESSION_REFRESH_MARGIN);

	return a->session_cert != NULL &&
	       X509_cmp_time(X509_get0_notAfter(a->session_cert), &needed) > 0;
}

struct agent *attestd_mint_wants_issuer(struct attestd *d, const struct mint_order *o)
{
	struct agent *a;
	long cap, ttl;

	if (!o->session || (a = registry_find(&d->reg, o->name)) == NULL || a->revoked)
		return NULL;
	cap = a->max_ttl < d->hard_max_ttl ? a->max_ttl : d->hard_max_ttl;
	ttl = o->ttl < 0 || o->ttl > cap ? cap : (long)o->ttl;
	return issuer_current(a, ttl) ? NULL : a;
}

/* A session issuer valid long enough for this leaf, made when needed. */
static int session_issuer(struct attestd *d, struct agent *a, long ttl)
{
	struct agent_signer_ctx ctx = { &d->host, a };
	struct attest_signer as = { agent_sign, &ctx, NULL, 0 };
	EVP_PKEY *key = NULL, *agent_pub = NULL;
	X509 *cert = NULL;
	int r;

	if (issuer_current(a, ttl))
		return ATTEST_OK;
	if ((r = attest_tpm_pub_to_pkey(&a->key.pub, &agent_pub)) != ATTEST_OK)
		return r;
	as.pub = agent_pub;
	if ((r = attest_p256_keygen(&key)) != ATTEST_OK)
		goto out;
	/* the request waits for the TPM: renew.c renews ahead so that a
	 * steady-state request never comes here */
	d->session.on_demand++;
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

/* ---------- single use of intent (docs/intent.md, "attestd") ---------- */

/* STATE/intent-used/<hex SHA-256 of kind, issuer and value>: one file per
 * grant jti (kind "jti", keyed by the grant's issuer) or delegation nonce
 * (kind "nonce") that earned a certificate. Content: the chain's expiry,
 * so the files can be pruned once it passed. */
static int marker_path(struct attestd *d, const struct mint_intent *in, char *out, size_t outsz)
{
	uint8_t md[32];
	unsigned mdlen = 0;
	char hex[65];
	EVP_MD_CTX *m;
	int ok;

	if (strcmp(in->marker_kind, "jti") != 0 && strcmp(in->marker_kind, "nonce") != 0)
		return attest_fail(ATTEST_E_PARSE, "intent marker kind \"%s\"", in->marker_kind);
	if (in->marker_value[0] == '\0')
		return attest_fail(ATTEST_E_PARSE, "intent marker without a value");
	m = EVP_MD_CTX_new();
	ok = m != NULL && EVP_DigestInit_ex(m, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(m, in->marker_kind, strlen(in->marker_kind) + 1) == 1 &&
	     EVP_DigestUpdate(m, in->marker_iss, strlen(in->marker_iss) + 1) == 1 &&
	     EVP_DigestUpdate(m, in->marker_value, strlen(in->marker_value)) == 1 &&
	     EVP_DigestFinal_ex(m, md, &mdlen) == 1 && mdlen == sizeof(md);
	EVP_MD_CTX_free(m);
	if (!ok)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "intent marker hash");
	attest_hex(md, sizeof(md), hex);
	if ((size_t)snprintf(out, outsz, "%s/intent-used/%s", d->host.state, hex) >= outsz)
		return attest_fail(ATTEST_E_INVALID_ARG, "state path too long");
	return ATTEST_OK;
}

static int marker_unused(const char *path, const struct mint_intent *in)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		return attest_fail(in->depth == 0 ? ATTEST_E_INTENT_REPLAY : ATTEST_E_NONCE,
				   "intent %s \"%s\" already earned a certificate",
				   in->depth == 0 ? "grant jti" : "delegation nonce", in->marker_value);
	if (errno != ENOENT)
		return attest_fail(ATTEST_E_IO, "%s: %s", path, strerror(errno));
	return ATTEST_OK;
}

/* Remove the markers whose chain has expired (a token is refused after its
 * expiry anyway, with no leeway) and temp files a crash left; a marker that
 * does not read as an expiry is kept (fail closed) and logged. */
static void markers_prune(const char *dir, time_t now)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	unsigned removed = 0, kept = 0;

	if (dh == NULL)
		return;
	while ((e = readdir(dh)) != NULL) {
		char path[800];
		uint8_t *body = NULL;
		size_t len;
		uint64_t exp;

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
		/* "<expiry>\n" */
		if (len == 0 || body[len - 1] != '\n' ||
		    attest_parse_u64n((const char *)body, len - 1, 0, INT64_MAX, &exp) != ATTEST_OK) {
			attest_errclear();
			attestd_log("intent marker %s does not hold an expiry; kept", path);
			kept++;
		} else if (exp <= (uint64_t)now && unlink(path) == 0) {
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

static int marker_spend(struct attestd *d, const char *path, const struct mint_intent *in)
{
	char dir[700], body[32];
	int r, n;
	time_t now = time(NULL);

	snprintf(dir, sizeof(dir), "%s/intent-used", d->host.state);
	if ((r = attest_dir_ensure(dir, 0700)) != ATTEST_OK)
		return r;
	if (now - d->intent_pruned >= ATTESTD_INTENT_PRUNE_S) {
		markers_prune(dir, now);
		d->intent_pruned = now;
	}
	n = snprintf(body, sizeof(body), "%lld\n", (long long)in->expiry);
	r = attest_file_create_atomic(path, body, (size_t)n, 0600);
	if (r == ATTEST_E_EXISTS)
		return marker_unused(path, in);
	return r;
}

/* The agents before the presenting one that are registered on this host
 * (the only registry attestd has): each must still be registered under the
 * same ID and not revoked. (Their delegate_depth is checked offline by
 * attest_intent_verify, from the leaf each signed with.) Delegators on
 * other hosts are checked by a verifier that knows the fleet's registries. */
static int local_delegators(struct attestd *d, const struct mint_intent *in)
{
	char prefix[600];

	snprintf(prefix, sizeof(prefix), "spiffe://%s/host/%s/agent/", d->host.trust_domain,
		 d->host.name);
	for (uint32_t j = 0; j < in->depth; j++) {
		const char *id = in->agents[j];
		const struct agent *x;

		if (strncmp(id, prefix, strlen(prefix)) != 0)
			continue;
		x = registry_find(&d->reg, id + strlen(prefix));
		if (x == NULL || strcmp(x->id, id) != 0)
			return attest_fail(ATTEST_E_REVOKED,
					   "delegating agent %s is not registered on this host", id);
		if (x->revoked)
			return attest_fail(ATTEST_E_REVOKED, "delegating agent %s is revoked", id);
	}
	return ATTEST_OK;
}

/* ---------- the stages ---------- */

/* What authorization found and signing made. */
struct mint_job {
	struct agent *a;
	int parent_fd; /* the caller's parent, when asked for ("parent") */
	struct attest_proc_pin pin;
	int procfd; /* /proc/PID of the process pinned, for the whole request */
	char marker[800]; /* STATE/intent-used entry to spend ("": none) */
	long ttl;
	EVP_PKEY *pub;
	X509 *leaf;
	const char *dns[AGENT_MAX_DNS]; /* the order's DNS names, all registered */
	size_t ndns;
};

static int scope_in(const char (*list)[MINT_SCOPE_MAX + 1], uint32_t n, const char *s)
{
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return 1;
	return 0;
}

/* The order's DNS names, every one registered for agent a (its list in
 * this process's registry: nothing the front says is taken on trust), none
 * twice; the whole order is refused otherwise. */
static int mint_dns(const struct mint_order *o, const struct agent *a, struct mint_job *j)
{
	int r;

	j->ndns = 0;
	if ((r = admin_dns_names_check(o->dns[0], sizeof(o->dns[0]), o->ndns)) != ATTEST_OK)
		return r;
	for (uint32_t i = 0; i < o->ndns; i++) {
		size_t k = 0;

		while (k < a->ndns && strcmp(a->dns[k], o->dns[i]) != 0)
			k++;
		if (k == a->ndns)
			return attest_fail(ATTEST_E_DNS_NAME_UNREGISTERED,
					   "DNS name \"%s\" is not registered for %s%s", o->dns[i],
					   a->name, a->ndns == 0 ? " (it has none)" : "");
		j->dns[j->ndns++] = a->dns[k];
	}
	return ATTEST_OK;
}

/* The leaf's scopes, "a b c": those asked for, else the intent's, else all
 * registered ones. */
static int mint_scopes(const struct mint_order *o, const struct agent *a, char *out, size_t outsz)
{
	const char *v[AGENT_MAX_SCOPES];
	size_t n = 0;

	if (o->nwant > 0)
		for (uint32_t i = 0; i < o->nwant; i++)
			v[n++] = o->want[i];
	else if (o->has_intent)
		for (uint32_t i = 0; i < o->in.nscopes; i++)
			v[n++] = o->in.scopes[i];
	else
		for (size_t i = 0; i < a->nscopes; i++)
			v[n++] = a->scopes[i];
	return join_scopes(v, n, out, outsz);
}

/* Who may have what: the caller is the registered agent, the scopes are
 * its and the intent's, the lifetime within its cap and the intent's. The
 * order is checked whole here, before anything changes state. */
static int mint_authorize(struct attestd *d, const struct attestd_peer *peer,
			  const struct mint_order *o, struct mint_job *j, struct mint_result *res)
{
	long cap;
	int r;

	if ((j->a = registry_find(&d->reg, o->name)) == NULL)
		return attest_fail(ATTEST_E_AGENT_UNKNOWN, "no agent \"%s\" on this host", o->name);
	if (j->a->revoked)
		return attest_fail(ATTEST_E_REVOKED, "agent %s is revoked", o->name);
	if (o->parent && (r = attestd_peer_parent(peer, &j->parent_fd)) != ATTEST_OK)
		return r;
	if ((r = measure_caller(d->cache, peer, j->parent_fd, j->a, &j->pin, &j->procfd)) != ATTEST_OK)
		return r;
	for (uint32_t i = 0; i < o->nwant; i++) {
		if (!scope_allowed(j->a, o->want[i]))
			return attest_fail(ATTEST_E_SCOPE, "scope \"%s\" is not registered for %s",
					   o->want[i], o->name);
		if (o->has_intent && !scope_in(o->in.scopes, o->in.nscopes, o->want[i]))
			return attest_fail(ATTEST_E_INTENT_WIDENED,
					   "scope \"%s\" is not in the intent's scopes", o->want[i]);
	}
	if (o->has_intent) {
		if (o->in.depth >= MINT_AGENTS_MAX || strcmp(o->in.agents[o->in.depth], j->a->id) != 0)
			return attest_fail(ATTEST_E_INTENT_AUDIENCE, "the intent is not for %s",
					   j->a->id);
		for (uint32_t i = 0; i < o->in.nscopes; i++)
			if (!scope_allowed(j->a, o->in.scopes[i]))
				return attest_fail(ATTEST_E_SCOPE,
						   "intent scope \"%s\" is not registered for %s",
						   o->in.scopes[i], j->a->name);
		if (o->in.expiry - (int64_t)time(NULL) < 2)
			return attest_fail(ATTEST_E_INTENT_EXPIRED, "intent expires within 2 s");
		if ((r = local_delegators(d, &o->in)) != ATTEST_OK)
			return r;
		if (!o->renew && (r = marker_path(d, &o->in, j->marker, sizeof(j->marker))) !=
					 ATTEST_OK)
			return r;
	}
	if ((r = mint_dns(o, j->a, j)) != ATTEST_OK ||
	    (r = mint_scopes(o, j->a, res->scopes, sizeof(res->scopes))) != ATTEST_OK)
		return r;
	cap = j->a->max_ttl < d->hard_max_ttl ? j->a->max_ttl : d->hard_max_ttl;
	if (o->ttl > cap)
		return attest_fail(ATTEST_E_TTL, "ttl %lld above %s's cap of %ld s",
				   (long long)o->ttl, o->name, cap);
	j->ttl = o->ttl < 0 ? cap : (long)o->ttl;
	return leaf_pub(o->spki, o->spki_len, &j->pub);
}

/* The leaf, signed by the TPM under the agent's PCR 23 policy (strict) or
 * by the agent's session issuer (session), then the caller checked again:
 * still the process measured, untraced, connected. */
static int mint_sign(struct attestd *d, const struct attestd_peer *peer,
		     const struct mint_order *o, struct mint_job *j, const char *scopes)
{
	struct attest_leaf_params lp;
	struct attest_signer signer;
	struct agent_signer_ctx ctx = { &d->host, j->a };
	EVP_PKEY *agent_pub = NULL;
	int r;

	if ((r = fresh_agent_ca(&d->host, &d->reg, j->a, j->ttl)) != ATTEST_OK)
		return r;
	memset(&lp, 0, sizeof(lp));
	if (o->has_intent) {
		/* every other check passed: a used jti/nonce is refused now (no
		 * TPM signature for it), and it is spent only once the
		 * certificate is about to leave (mint_commit) */
		int64_t left = o->in.expiry - (int64_t)time(NULL) - 1;

		if (!o->renew && (r = marker_unused(j->marker, &o->in)) != ATTEST_OK)
			return r;
		if (left < 1)
			return attest_fail(ATTEST_E_INTENT_EXPIRED, "intent expired while issuing");
		/* the leaf never outlives the intent (1 s margin for the clock
		 * ticking before the leaf's validity is set) */
		if (j->ttl > left)
			j->ttl = (long)left;
		lp.intent = o->in.token;
		lp.intent_len = o->in.token_len;
	}
	lp.pub = j->pub;
	lp.ttl = j->ttl;
	lp.delegate_depth = j->a->delegate_depth;
	lp.task_id = o->task_id[0] ? o->task_id : NULL;
	lp.scopes = scopes[0] ? scopes : NULL;
	lp.dns = j->dns;
	lp.ndns = j->ndns;
	if (o->session) {
		if ((r = session_issuer(d, j->a, j->ttl)) != ATTEST_OK ||
		    (r = attest_signer_from_pkey(j->a->session_key, &signer)) != ATTEST_OK)
			return r;
		r = attest_x509_make_leaf(j->a->session_cert, &lp, &signer, &j->leaf);
		if (r == ATTEST_OK)
			j->a->session_used = time(NULL);
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
	if ((r = attest_proc_check_at(j->procfd, &j->pin)) != ATTEST_OK ||
	    (r = still_untraced_at(j->procfd, j->pin.pid)) != ATTEST_OK)
		return r;
	return attestd_peer_alive(peer);
}

/* What must hold before the certificate leaves: the intent spent (single
 * use, crash-safe: the marker exists first) and the issuance recorded (the
 * answer waits until the record is durable: server.c's gate, or the
 * monitor's sync before it answers). */
static int mint_commit(struct attestd *d, const struct attestd_peer *peer,
		       const struct mint_order *o, struct mint_job *j, const char *scopes)
{
	int r;

	if (o->has_intent) {
		time_t end = (time_t)o->in.expiry;

		if (X509_cmp_time(X509_get0_notAfter(j->leaf), &end) > 0)
			return attest_fail(ATTEST_E_INTENT_LIFETIME, "leaf would outlive the intent");
		if (!o->renew && (r = marker_spend(d, j->marker, &o->in)) != ATTEST_OK)
			return r;
	}
	if (o->has_intent) {
		const char *agents[MINT_AGENTS_MAX];
		struct attestd_audit_intent ai = { agents, o->in.depth + 1, o->in.user,
						   o->in.purpose,
						   o->in.purpose_text[0] ? o->in.purpose_text : NULL,
						   o->in.depth };

		for (uint32_t i = 0; i <= o->in.depth; i++)
			agents[i] = o->in.agents[i];
		return attestd_audit_issue(&d->log, peer, j->a, j->leaf, &ai, o->renew, scopes, j->dns,
					   j->ndns);
	}
	return attestd_audit_issue(&d->log, peer, j->a, j->leaf, NULL, o->renew, scopes, j->dns,
				   j->ndns);
}

static int append_pem(BIO *b, X509 *x)
{
	return PEM_write_bio_X509(b, x) == 1 ? ATTEST_OK
					      : attest_fail_ossl(ATTEST_E_CRYPTO, "PEM chain");
}

/* leaf, session issuer (session mode), agent CA, host CA, the issuing CA
 * that signed the host CA (relying parties trust only the fleet root) */
static int mint_chain(struct attestd *d, const struct mint_order *o, const struct mint_job *j,
		      char **out)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int r;

	*out = NULL;
	if (b == NULL)
		return attest_fail(ATTEST_E_NOMEM, "chain");
	if ((r = append_pem(b, j->leaf)) == ATTEST_OK &&
	    (!o->session || (r = append_pem(b, j->a->session_cert)) == ATTEST_OK) &&
	    (r = append_pem(b, j->a->agent_ca)) == ATTEST_OK &&
	    (r = append_pem(b, d->host.ca)) == ATTEST_OK &&
	    (r = append_pem(b, sk_X509_value(d->host.issuing, 0))) == ATTEST_OK) {
		n = BIO_get_mem_data(b, &data);
		if (n <= 0 || (*out = strndup(data, (size_t)n)) == NULL)
			r = attest_fail(ATTEST_E_NOMEM, "chain");
	}
	BIO_free(b);
	return r;
}

int attestd_mint_precheck(struct attestd *d, const struct attestd_peer *peer,
			  const struct mint_order *o)
{
	struct mint_job j;
	struct mint_result *res = calloc(1, sizeof(*res));
	int r;

	if (res == NULL)
		return attest_fail(ATTEST_E_NOMEM, "precheck");
	memset(&j, 0, sizeof(j));
	j.parent_fd = -1;
	r = mint_authorize(d, peer, o, &j, res);
	if (j.parent_fd >= 0)
		close(j.parent_fd);
	EVP_PKEY_free(j.pub);
	mint_result_clear(res);
	free(res);
	return r;
}

int attestd_mint(struct attestd *d, const struct attestd_peer *peer, const struct mint_order *o,
		 struct mint_result *res)
{
	struct mint_job j;
	int r;

	memset(res, 0, sizeof(*res));
	memset(&j, 0, sizeof(j));
	j.parent_fd = -1;
	j.procfd = -1;
	if ((r = mint_authorize(d, peer, o, &j, res)) == ATTEST_OK &&
	    (r = mint_sign(d, peer, o, &j, res->scopes)) == ATTEST_OK &&
	    (r = mint_commit(d, peer, o, &j, res->scopes)) == ATTEST_OK &&
	    (r = mint_chain(d, o, &j, &res->chain)) == ATTEST_OK) {
		memcpy(res->id, j.a->id, strlen(j.a->id) + 1);
		res->ttl = j.ttl;
		res->pid = j.pin.pid;
	}
	if (j.parent_fd >= 0)
		close(j.parent_fd);
	if (j.procfd >= 0)
		close(j.procfd);
	X509_free(j.leaf);
	EVP_PKEY_free(j.pub);
	if (r != ATTEST_OK) {
		char *keep = res->chain;

		res->chain = NULL;
		free(keep);
	}
	return r;
}
