/* auditlog.c - see auditlog.h. */

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "attest/intent.h"
#include "auditlog.h"
#include "clock.h"
#include "core/err.h"
#include "core/json.h"
#include "host.h"
#include "log.h"
#include "registry.h"
#include "x509/x509agent.h"

#define SERIAL_HEX_MAX 80

#ifdef ATTESTD_TEST_HOOKS
/* A test build (attestd-hooks): while the file named by
 * $ATTESTD_TEST_SYNC_FAIL exists, every audit sync fails with EIO, as a
 * disk that went bad would. */
static int test_sync(int fd)
{
	const char *f = getenv("ATTESTD_TEST_SYNC_FAIL");

	if (f != NULL && access(f, F_OK) == 0) {
		errno = EIO;
		return -1;
	}
	return fdatasync(fd);
}
#endif

int attestd_audit_open(struct attestd_auditlog *l, struct attestd_host *h,
		       struct attestd_clock *k, const char *dir, uint64_t ckpt_interval_s)
{
	struct attest_audit_opts o;
	char path[700];
	uint64_t torn_log = 0, torn_ckpt = 0, seg = 0;
	int r;

	memset(l, 0, sizeof(*l));
	l->host = h;
	l->clock = k;
	memset(&o, 0, sizeof(o));
	o.ckpt_interval_s = ckpt_interval_s;
	if (dir == NULL) {
		if ((size_t)snprintf(path, sizeof(path), "%s/audit", l->host->state) >= sizeof(path))
			return attest_fail(ATTEST_E_INVALID_ARG, "state path too long");
		dir = path;
	}
	if (strlen(dir) >= sizeof(l->dir))
		return attest_fail(ATTEST_E_INVALID_ARG, "audit directory path too long");
	memcpy(l->dir, dir, strlen(dir) + 1);
#ifdef ATTESTD_TEST_HOOKS
	attest_audit_set_sync_fn(test_sync);
#endif
	if ((r = attest_audit_open(l->dir, &o, &l->audit)) != ATTEST_OK)
		return r;
	attest_audit_torn(l->audit, &torn_log, &torn_ckpt, &seg);
	if (torn_log > 0 || torn_ckpt > 0)
		attestd_log("audit: cut a torn tail at start: %" PRIu64 " bytes of seg-%016" PRIx64
			    ".log and %" PRIu64 " bytes of seg-%016" PRIx64 ".ckpt in %s (an append "
			    "a crash interrupted; it was never acknowledged)",
			    torn_log, seg, torn_ckpt, seg, l->dir);
	return ATTEST_OK;
}

/* A checkpoint of the whole log with attestd's TPM, pushed to the verifier. */
static int checkpoint(struct attestd_auditlog *l, const char *why)
{
	struct attest_audit_ckpt c;
	char root[65];
	int r;

	if ((r = attestd_host_tpm(l->host)) != ATTEST_OK)
		return r;
	attestd_host_lock(l->host);
	r = attest_audit_checkpoint(l->audit, l->host->tpm, &c);
	attestd_host_unlock(l->host);
	if (r != ATTEST_OK) {
		attestd_host_tpm_failed(l->host, r);
		return r;
	}
	attest_hex(c.root, 8, root);
	attestd_log("audit: checkpoint (%s): counter %" PRIu64 ", %" PRIu64 " records, root %s...",
		    why, c.counter, c.size, root);
	if (l->checkpointed != NULL)
		l->checkpointed(l->checkpointed_arg, &c);
	if (l->unanchored_stopped && c.size >= attest_audit_size(l->audit)) {
		attestd_log("audit: every record is anchored again; issuance resumes");
		l->unanchored_stopped = 0;
	}
	if (attestd_clock_check(l->clock, l->host, "checkpoint") != ATTEST_OK)
		attestd_log("clock: not checked: %s", attest_errdetail());
	return ATTEST_OK;
}

void attestd_audit_unanchored(struct attestd_auditlog *l, uint64_t now, uint64_t *records,
			      uint64_t *age_s)
{
	struct attest_audit_ckpt last;
	uint64_t size, anchored = 0;

	*records = *age_s = 0;
	if (l->audit == NULL)
		return;
	size = attest_audit_size(l->audit);
	if (attest_audit_last_checkpoint(l->audit, &last) == ATTEST_OK)
		anchored = last.size;
	attest_errclear();
	if (size <= anchored) {
		l->unanchored_since = 0;
		return;
	}
	if (l->unanchored_since == 0 || l->unanchored_since > now)
		l->unanchored_since = now;
	*records = size - anchored;
	*age_s = now - l->unanchored_since;
}

int attestd_audit_anchored_ok(struct attestd_auditlog *l)
{
	uint64_t n, age;

	attestd_audit_unanchored(l, (uint64_t)time(NULL), &n, &age);
	if (n == 0 && l->unanchored_stopped) {
		attestd_log("audit: every record is anchored again; issuance resumes");
		l->unanchored_stopped = 0;
	}
	if (l->max_unanchored_s == 0 || age <= l->max_unanchored_s)
		return ATTEST_OK; /* 0: no limit (tools; attestd always sets one) */
	if (!l->unanchored_stopped)
		attestd_log("audit: %" PRIu64 " records unanchored for %" PRIu64 " s (limit %" PRIu64
			    " s, --audit-max-unanchored): issue and register stop until a checkpoint "
			    "succeeds",
			    n, age, l->max_unanchored_s);
	l->unanchored_stopped = 1;
	return attest_fail(ATTEST_E_AUDIT_UNANCHORED,
			   "%" PRIu64 " audit records unanchored for %" PRIu64 " s (limit %" PRIu64
			   " s): checkpoints are failing",
			   n, age, l->max_unanchored_s);
}

/* A batch of the sync thread ended: its waiters are answered. */
static void on_synced(evutil_socket_t fd, short what, void *arg)
{
	struct attestd_auditlog *l = arg;
	int r;

	(void)fd;
	(void)what;
	attest_errclear();
	if ((r = attest_audit_syncer_reap(l->syncer)) != ATTEST_OK)
		attestd_log("audit: sync failed, the requests waiting on it are refused and the log "
			    "takes no more records: %s [%s]: %s",
			    attest_strerror(r), attest_errname(r), attest_errdetail());
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct attestd_auditlog *l = arg;
	uint64_t now = (uint64_t)time(NULL), nun, age;
	int r;

	(void)fd;
	(void)what;
	attest_errclear();
	attestd_audit_unanchored(l, now, &nun, &age); /* starts the clock of new records */
	if ((r = attest_audit_refusal_flush(l->audit, now, 0)) != ATTEST_OK)
		attestd_log("audit: refusal aggregates not written: %s [%s]: %s", attest_strerror(r),
			    attest_errname(r), attest_errdetail());
	if (attest_audit_checkpoint_due(l->audit, now)) {
		/* the loop does not wait behind the renewal thread's TPM
		 * command (issue 17): a due checkpoint waits a tick or a few,
		 * at most ATTESTD_CKPT_POSTPONE_MAX, far below any
		 * --audit-max-unanchored */
		int held = 0;

		if (l->ckpt_postponed < ATTESTD_CKPT_POSTPONE_MAX) {
			if (!attestd_host_trylock(l->host)) {
				l->ckpt_postponed++;
				return;
			}
			held = 1; /* kept over the checkpoint (the lock is recursive) */
		}
		l->ckpt_postponed = 0;
		if ((r = checkpoint(l, "due")) != ATTEST_OK)
			attestd_log("audit: checkpoint failed: %s [%s]: %s", attest_strerror(r),
				    attest_errname(r), attest_errdetail());
		if (held)
			attestd_host_unlock(l->host);
	} else if (attestd_audit_unsynced(l) && (r = attest_audit_sync(l->audit)) != ATTEST_OK) {
		attestd_log("audit: sync failed: %s [%s]: %s", attest_strerror(r), attest_errname(r),
			    attest_errdetail());
	}
}

int attestd_audit_start(struct event_base *base, struct attestd_auditlog *l)
{
	struct timeval tv = { 1, 0 };
	int r;

	attest_errclear();
	/* also settles a checkpoint a crash left between counter increment
	 * and store (docs/audit.md) */
	if ((r = checkpoint(l, "start")) != ATTEST_OK) {
		/* An authorization failure (a TPM in lockout and an AK from
		 * before noDA) stops checkpoints, not issuance: logged, and
		 * retried when due; anything else (a rolled-back log) stops. */
		if (r != ATTEST_E_TPM_AUTH)
			return r;
		attestd_log("audit: start-up checkpoint failed, continuing without it: %s [%s]: %s",
			    attest_strerror(r), attest_errname(r), attest_errdetail());
	}
	if ((l->timer = event_new(base, -1, EV_PERSIST, on_tick, l)) == NULL ||
	    event_add(l->timer, &tv) != 0)
		return attest_fail(ATTEST_E_NOMEM, "audit timer");
	if ((r = attest_audit_syncer_new(l->audit, &l->syncer)) != ATTEST_OK)
		return r;
	if ((l->sync_ev = event_new(base, attest_audit_syncer_fd(l->syncer), EV_READ | EV_PERSIST,
				    on_synced, l)) == NULL ||
	    event_add(l->sync_ev, NULL) != 0)
		return attest_fail(ATTEST_E_NOMEM, "audit sync event");
	return ATTEST_OK;
}

int attestd_audit_when_durable(struct attestd_auditlog *l, attest_audit_durable_fn fn, void *arg)
{
	if (l->syncer == NULL) {
		fn(arg, attestd_audit_commit(l));
		return ATTEST_OK;
	}
	return attest_audit_syncer_wait(l->syncer, fn, arg);
}

void attestd_audit_stop(struct attestd_auditlog *l)
{
	struct attest_audit_ckpt last;
	int r;

	if (l->timer != NULL)
		event_free(l->timer);
	l->timer = NULL;
	if (l->sync_ev != NULL)
		event_free(l->sync_ev);
	l->sync_ev = NULL;
	/* the replies still held: after a last sync on this thread */
	attest_audit_syncer_free(l->syncer);
	l->syncer = NULL;
	if (l->audit == NULL)
		return;
	attest_errclear();
	if ((r = attest_audit_refusal_flush(l->audit, (uint64_t)time(NULL), 1)) != ATTEST_OK)
		attestd_log("audit: refusal aggregates not written: %s", attest_errdetail());
	/* the last records get covered now, not at the next start */
	if ((attest_audit_last_checkpoint(l->audit, &last) != ATTEST_OK ||
	     last.size < attest_audit_size(l->audit)) &&
	    (r = checkpoint(l, "stop")) != ATTEST_OK)
		attestd_log("audit: last checkpoint failed: %s [%s]: %s", attest_strerror(r),
			    attest_errname(r), attest_errdetail());
	if (attestd_audit_unsynced(l) && attest_audit_sync(l->audit) != ATTEST_OK)
		attestd_log("audit: sync failed: %s", attest_errdetail());
	attest_audit_close(l->audit);
	l->audit = NULL;
}

int attestd_audit(struct attestd_auditlog *l, struct attest_audit_event *ev)
{
	int r;

	if (l->audit == NULL)
		return ATTEST_OK; /* not opened (never in attestd; kept for tools) */
	ev->host = l->host->name;
	if ((r = attest_audit_append_event(l->audit, ev, NULL)) != ATTEST_OK) {
		char why[400];

		snprintf(why, sizeof(why), "%s", attest_errdetail());
		return attest_fail(ATTEST_E_IO, "audit record %s not written: %s", ev->type, why);
	}
	return ATTEST_OK;
}

int attestd_audit_agent(struct attestd_auditlog *l, const char *type, const struct agent *a,
			const char *outcome, int code)
{
	return attestd_audit_agent_from(l, type, a, outcome, code, "admin socket (root)");
}

int attestd_audit_agent_from(struct attestd_auditlog *l, const char *type, const struct agent *a,
			     const char *outcome, int code, const char *source)
{
	struct attest_audit_event ev = { 0 };
	const char *agents[1] = { a->id };

	ev.type = type;
	ev.source = source;
	ev.agents = agents;
	ev.nagents = 1;
	ev.scopes = (const char *const *)a->scopes;
	ev.nscopes = a->nscopes;
	ev.dns_names = (const char *const *)a->dns;
	ev.ndns_names = a->ndns;
	ev.outcome = outcome;
	ev.reason = code != ATTEST_OK ? attest_errname(code) : NULL;
	return attestd_audit(l, &ev);
}

/* Serial (lower-case hex) and SHA-256 of the DER of a certificate. */
static int cert_refs(X509 *x, char serial[SERIAL_HEX_MAX + 1], char sha[65])
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	uint8_t md[32];
	unsigned mdlen = 0;
	int r = ATTEST_E_INTERNAL;

	if (hex == NULL || strlen(hex) > SERIAL_HEX_MAX ||
	    X509_digest(x, EVP_sha256(), md, &mdlen) != 1 || mdlen != sizeof(md)) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "certificate serial or digest");
		goto out;
	}
	for (size_t i = 0; hex[i] != '\0'; i++)
		serial[i] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] - 'A' + 'a' : hex[i]);
	serial[strlen(hex)] = '\0';
	attest_hex(md, sizeof(md), sha);
	r = ATTEST_OK;
out:
	ERR_clear_error();
	OPENSSL_free(hex);
	BN_free(bn);
	return r;
}

static void peer_source(const struct attestd_peer *peer, char *out, size_t outsz)
{
	snprintf(out, outsz, "uid=%u pid=%d%s", (unsigned)peer->uid, (int)peer->pid,
		 peer->admin ? " admin" : "");
}

int attestd_audit_issue(struct attestd_auditlog *l, const struct attestd_peer *peer,
			const struct agent *a, X509 *leaf, const struct attestd_audit_intent *in,
			int renewal, const char *scopes, const char *const *dns, size_t ndns)
{
	struct attest_audit_event ev = { 0 };
	const char *agents[ATTEST_AUDIT_LIST_MAX], *sc[ATTEST_AUDIT_LIST_MAX];
	char source[64], serial[SERIAL_HEX_MAX + 1], sha[65], buf[ATTEST_SCOPES_MAX + 1];
	size_t na = 0, ns = 0;
	int r;

	if ((r = cert_refs(leaf, serial, sha)) != ATTEST_OK)
		return r;
	peer_source(peer, source, sizeof(source));
	ev.type = "issue";
	if (in != NULL) {
		for (size_t i = 0; i < in->nagents && na < ATTEST_AUDIT_LIST_MAX; i++)
			agents[na++] = in->agents[i];
		ev.user = in->user;
		ev.purpose = in->purpose;
		ev.purpose_text = in->purpose_text;
		/* consumed a delegation token (docs/audit.md "attestd") */
		if (in->depth > 0 && !renewal)
			ev.type = "delegate";
	} else {
		agents[na++] = a->id;
	}
	/* the leaf's scopes, "a b c" (join_scopes) */
	snprintf(buf, sizeof(buf), "%s", scopes);
	for (char *s = buf, *end; *s != '\0' && ns < ATTEST_AUDIT_LIST_MAX; s = end) {
		end = s + strcspn(s, " ");
		if (*end == ' ')
			*end++ = '\0';
		sc[ns++] = s;
	}
	ev.source = source;
	ev.agents = agents;
	ev.nagents = na;
	ev.scopes = sc;
	ev.nscopes = ns;
	ev.dns_names = dns;
	ev.ndns_names = ndns;
	ev.action = renewal ? "renew" : NULL;
	ev.outcome = "ok";
	ev.cert_serial = serial;
	ev.cert_sha256 = sha;
	return attestd_audit(l, &ev);
}

int attestd_audit_jwt(struct attestd_auditlog *l, const struct attestd_peer *peer,
		      const char *sub, const char *const *aud, size_t naud, int64_t exp,
		      const char *kid, const char *token)
{
	struct attest_audit_event ev = { 0 };
	const char *agents[1] = { sub };
	char source[64], action[128], sha[65];
	uint8_t md[32];

	if (naud > ATTEST_AUDIT_LIST_MAX)
		return attest_fail(ATTEST_E_INVALID_ARG, "JWT-SVID record: over %d audiences",
				   ATTEST_AUDIT_LIST_MAX);
	if (EVP_Digest(token, strlen(token), md, NULL, EVP_sha256(), NULL) != 1)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "JWT-SVID digest");
	attest_hex(md, sizeof(md), sha);
	peer_source(peer, source, sizeof(source));
	snprintf(action, sizeof(action), "exp=%lld kid=%.60s", (long long)exp, kid);
	ev.type = "jwt-svid";
	ev.source = source;
	ev.agents = agents;
	ev.nagents = 1;
	ev.scopes = aud; /* the token's audiences (docs/audit.md) */
	ev.nscopes = naud;
	ev.action = action;
	ev.outcome = "ok";
	ev.cert_sha256 = sha;
	return attestd_audit(l, &ev);
}

void attestd_audit_refusal(struct attestd_auditlog *l, const struct attestd_peer *peer, const char *op,
			   const char *agent, int code)
{
	struct attest_audit_event ev = { 0 };
	char source[64];
	int r;

	if (l->audit == NULL)
		return;
	peer_source(peer, source, sizeof(source));
	ev.type = "refusal";
	ev.host = l->host->name;
	ev.source = source;
	ev.action = op;
	ev.resource = agent; /* validated agent name, or NULL */
	ev.outcome = "deny";
	ev.reason = attest_errname(code);
	if ((r = attest_audit_refusal(l->audit, source, ev.reason, &ev, (uint64_t)time(NULL))) !=
	    ATTEST_OK)
		attestd_log("audit: refusal not recorded: %s [%s]: %s", attest_strerror(r),
			    attest_errname(r), attest_errdetail());
}

void attestd_audit_host_ca(struct attestd_auditlog *l, X509 *host_ca, const char *how)
{
	struct attest_audit_event ev = { 0 };
	char serial[SERIAL_HEX_MAX + 1], sha[65];
	int r;

	if (l->audit == NULL)
		return;
	if ((r = cert_refs(host_ca, serial, sha)) == ATTEST_OK) {
		ev.type = "enrol";
		ev.action = "host_ca_renewed";
		ev.reason = how;
		ev.outcome = "ok";
		ev.cert_serial = serial;
		ev.cert_sha256 = sha;
		r = attestd_audit(l, &ev);
	}
	if (r != ATTEST_OK)
		attestd_log("audit: host CA renewal not recorded: %s [%s]: %s", attest_strerror(r),
			    attest_errname(r), attest_errdetail());
}

int attestd_audit_unsynced(void *ctx)
{
	const struct attestd_auditlog *l = ctx;

	return l->audit != NULL && attest_audit_synced(l->audit) < attest_audit_size(l->audit);
}

int attestd_audit_commit(void *ctx)
{
	struct attestd_auditlog *l = ctx;

	return l->audit != NULL ? attest_audit_sync(l->audit) : ATTEST_OK;
}
