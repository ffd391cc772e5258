/* daemon.c - attestd state: open, close, identity refresh, stats and dispatch of requests (docs/protocol.md). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
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

#include "auditlog.h"
#include "daemon.h"
#include "enrol/enrol.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "log.h"
#include "push.h"
#include "tpm/tpmjson.h"
#include "tpm/tpmpolicy.h"
#include "tpm/tpmsw.h"
#include "x509/x509.h"
#include "x509/x509agent.h"

#include "ops.h"

static cJSON *attestd_dispatch(void *arg, const struct attestd_peer *peer, const cJSON *req);

/* ---------- daemon state ---------- */

/* attestd owns the TPM: objects or sessions a killed predecessor left
 * behind would fill a TPM without resource manager (swtpm: 3 slots). */
static int flush_leftovers(struct attestd *d)
{
	size_t n = 0;
	int r = attest_tpm_flush_all(d->tpm, &n);

	if (r == ATTEST_OK && n > 0)
		attestd_log("flushed %zu transient objects or sessions left in the TPM", n);
	return r;
}

/* Trusted intent issuers: STATE/intent-issuers/NAME.pem, each a PEM EC
 * P-256 public key; the file name without .pem is the issuer name. A
 * missing directory means none; a file that does not load stops attestd
 * (an issuer silently left out would look like a bad grant later). */
static int load_intent_trust(struct attestd *d, X509 *root)
{
	char dir[700];
	DIR *dh;
	struct dirent *e;
	int r;

	if ((r = attest_intent_trust_new(&d->intent_trust)) != ATTEST_OK)
		return r;
	if (root != NULL && (r = attest_intent_trust_set_root(d->intent_trust, root)) != ATTEST_OK)
		return r;
	snprintf(dir, sizeof(dir), "%s/intent-issuers", d->state);
	if ((dh = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return ATTEST_OK;
		return attest_fail(ATTEST_E_IO, "%s: %s", dir, strerror(errno));
	}
	r = ATTEST_OK;
	while (r == ATTEST_OK && (e = readdir(dh)) != NULL) {
		size_t n = strlen(e->d_name);
		char name[ATTEST_INTENT_ITEM_MAX + 1], path[1024];
		uint8_t *pem = NULL;
		size_t len = 0;
		BIO *b = NULL;
		EVP_PKEY *k = NULL;

		if (e->d_name[0] == '.' || n <= 4 || strcmp(e->d_name + n - 4, ".pem") != 0)
			continue;
		if (n - 4 > ATTEST_INTENT_ITEM_MAX) {
			r = attest_fail(ATTEST_E_INVALID_ARG, "%s: issuer name too long", dir);
			break;
		}
		memcpy(name, e->d_name, n - 4);
		name[n - 4] = '\0';
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if ((r = attest_file_read(path, 64 * 1024, &pem, &len)) == ATTEST_OK) {
			if ((b = BIO_new_mem_buf(pem, (int)len)) == NULL ||
			    (k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL)) == NULL)
				r = attest_fail_ossl(ATTEST_E_PARSE, "%s: not a PEM public key", path);
			else if ((r = attest_intent_trust_add_issuer(d->intent_trust, name, k)) != ATTEST_OK) {
				char why[256];

				snprintf(why, sizeof(why), "%s", attest_errdetail());
				r = attest_fail(r, "%s: %s", path, why);
			} else
				d->intent_issuers++;
		}
		ERR_clear_error();
		EVP_PKEY_free(k);
		BIO_free(b);
		free(pem);
	}
	closedir(dh);
	if (r == ATTEST_OK && d->intent_issuers > 0)
		attestd_log("trusting %u intent issuer(s) from %s", d->intent_issuers, dir);
	return r;
}

void attestd_log_lockout(struct attestd *d, int always)
{
	struct attest_tpm_da da;

	if (d->tpm == NULL)
		return;
	if (attest_tpm_da_state(d->tpm, &da) != ATTEST_OK) {
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

int attestd_open(struct attestd *d, const char *state_dir, const char *tcti, long hard_max_ttl)
{
	struct attest_host_identity id;
	int r;

	memset(d, 0, sizeof(*d));
	d->lock_fd = -1;
	d->hard_max_ttl = hard_max_ttl;
	if (tcti != NULL && strlen(tcti) >= sizeof(d->tcti))
		return attest_fail(ATTEST_E_INVALID_ARG, "TCTI configuration too long");
	snprintf(d->tcti, sizeof(d->tcti), "%s", tcti != NULL ? tcti : "");
	if (strlen(state_dir) >= sizeof(d->state))
		return attest_fail(ATTEST_E_INVALID_ARG, "state path too long");
	memcpy(d->state, state_dir, strlen(state_dir) + 1);
	{
		struct stat st;
		char path[700];

		/* First, before the TPM is touched (a second attestd would flush
		 * the first one's objects) or a socket is taken. */
		snprintf(path, sizeof(path), "%s/attestd.lock", state_dir);
		if ((r = attest_lock_file(path, &d->lock_fd)) != ATTEST_OK)
			return r;

		snprintf(path, sizeof(path), "%s/identity.json", state_dir);
		if (stat(path, &st) == 0) {
			d->identity_ino = st.st_ino;
			d->identity_mtime = st.st_mtim;
		}
	}
	if ((r = attest_host_identity_load(state_dir, &id)) != ATTEST_OK) {
		attestd_close(d);
		return r;
	}
	memcpy(d->trust_domain, id.trust_domain, sizeof(d->trust_domain));
	memcpy(d->host, id.host, sizeof(d->host));
	d->hostkey = id.key;
	d->host_ca = id.host_ca;
	id.host_ca = NULL; /* transferred */
	r = load_intent_trust(d, id.root);
	attest_host_identity_clear(&id);
	if (r != ATTEST_OK ||
	    (r = attest_tpm_pub_to_pkey(&d->hostkey.pub, &d->hostkey_pub)) != ATTEST_OK ||
	    (r = attest_tpm_open(d->tcti, &d->tpm)) != ATTEST_OK ||
	    (r = flush_leftovers(d)) != ATTEST_OK ||
	    (r = registry_load(state_dir, &d->reg)) != ATTEST_OK ||
	    (r = attest_measure_cache_new(256, &d->cache)) != ATTEST_OK) {
		attestd_close(d);
		return r;
	}
	attestd_log_lockout(d, 0);
	if (attestd_clock_check(d, "start") != ATTEST_OK)
		attestd_log("clock: not checked at start: %s", attest_errdetail());
	return ATTEST_OK;
}

void attestd_close(struct attestd *d)
{
	attestd_audit_stop(d);
	registry_free(&d->reg);
	attest_measure_cache_free(d->cache);
	attest_intent_trust_free(d->intent_trust);
	attest_tpm_close(d->tpm);
	X509_free(d->host_ca);
	EVP_PKEY_free(d->hostkey_pub);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	memset(d, 0, sizeof(*d));
	d->lock_fd = -1;
}

int refresh_identity(struct attestd *d)
{
	struct attest_host_identity id;
	struct stat st;
	char path[700];
	int r;

	snprintf(path, sizeof(path), "%s/identity.json", d->state);
	if (stat(path, &st) != 0)
		return attest_fail(ATTEST_E_STATE, "%s vanished", path);
	if (st.st_ino == d->identity_ino && st.st_mtim.tv_sec == d->identity_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == d->identity_mtime.tv_nsec)
		return ATTEST_OK;
	if ((r = attest_host_identity_load(d->state, &id)) != ATTEST_OK)
		return r;
	if (strcmp(id.host, d->host) != 0 || strcmp(id.trust_domain, d->trust_domain) != 0) {
		attest_host_identity_clear(&id);
		return attest_fail(ATTEST_E_STATE, "host identity changed name; restart attestd");
	}
	EVP_PKEY_free(d->hostkey_pub);
	d->hostkey_pub = NULL;
	if ((r = attest_tpm_pub_to_pkey(&id.key.pub, &d->hostkey_pub)) != ATTEST_OK) {
		attest_host_identity_clear(&id);
		return r;
	}
	d->hostkey = id.key;
	X509_free(d->host_ca);
	d->host_ca = id.host_ca;
	id.host_ca = NULL; /* transferred */
	attest_host_identity_clear(&id);
	d->identity_ino = st.st_ino;
	d->identity_mtime = st.st_mtim;
	attestd_log("loaded host CA certificate from %s", path);
	attestd_audit_host_ca(d, d->host_ca, "identity.json changed: new host CA certificate installed");
	return ATTEST_OK;
}

/* The agent CA must be issued by the current host CA and cover the leaf's
 * lifetime (as far as the host CA allows); otherwise it is re-issued. */
static int do_stats(struct attestd *d, const cJSON *req, cJSON *reply)
{
	static const char *const keys[] = { "op", NULL };
	uint64_t nun = 0, age = 0, records = d->audit != NULL ? attest_audit_size(d->audit) : 0;
	int r;

	attestd_audit_unanchored(d, (uint64_t)time(NULL), &nun, &age);
	if ((r = attest_json_only(req, keys)) != ATTEST_OK ||
	    (r = attest_json_add_u64(reply, "tpm_commands", attest_tpm_command_count(d->tpm))) != ATTEST_OK ||
	    (r = attest_json_add_u64(reply, "agents", d->reg.n)) != ATTEST_OK ||
	    (r = attest_json_add_u64(reply, "audit_records", records)) != ATTEST_OK ||
	    (r = attest_json_add_u64(reply, "audit_unanchored_records", nun)) != ATTEST_OK ||
	    (r = attest_json_add_u64(reply, "audit_unanchored_age_s", age)) != ATTEST_OK ||
	    (r = attest_json_add_u64(reply, "audit_max_unanchored_s", d->audit_max_unanchored_s)) !=
		    ATTEST_OK ||
	    (r = attest_json_add_str(reply, "clock", d->clock.bad ? d->clock.why : "ok")) != ATTEST_OK)
		return r;
	return ATTEST_OK;
}

/* ---------- dispatch ---------- */

/* Before anything that makes a certificate (issue; register makes an
 * agent CA): no certificate dated by a wall clock that jumped (clock.c),
 * nor while audit records wait unanchored beyond the limit (auditlog.c). */
static int issuance_allowed(struct attestd *d)
{
	int r;

	if ((r = attestd_clock_ok(d)) != ATTEST_OK)
		return r;
	return attestd_audit_anchored_ok(d);
}

/* After a TPM failure the connection (and ESYS's view of it) may be gone:
 * a TPM reset, a restarted TPM service. Start over with a fresh context
 * and an empty TPM; until that works, requests get ATTEST_E_TPM. */
int tpm_reconnect(struct attestd *d)
{
	int r;

	attest_tpm_close(d->tpm);
	d->tpm = NULL;
	d->pcr_holder = NULL;
	if ((r = attest_tpm_open(d->tcti[0] ? d->tcti : NULL, &d->tpm)) != ATTEST_OK ||
	    (r = flush_leftovers(d)) != ATTEST_OK) {
		attest_tpm_close(d->tpm);
		d->tpm = NULL;
		return r;
	}
	attestd_log("reconnected to the TPM");
	return ATTEST_OK;
}

cJSON *attestd_handle(void *arg, const struct attestd_peer *peer, const cJSON *req)
{
	cJSON *reply = attestd_dispatch(arg, peer, req);
	struct attestd *d = arg;
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(reply, "code");

	/* a TPM failure may mean the TPM went away: reconnect now, so the
	 * next request finds it (this one already has its answer) */
	if (cJSON_IsNumber(code) && (int)code->valuedouble == ATTEST_E_TPM && tpm_reconnect(d) != ATTEST_OK)
		attestd_log("TPM still unreachable: %s", attest_errdetail());
	/* say so when an authorization failure is the TPM's lockout */
	if (cJSON_IsNumber(code) && (int)code->valuedouble == ATTEST_E_TPM_AUTH)
		attestd_log_lockout(d, 0);
	return reply;
}

/* op for the audit record: a known one, else "request" */
static const char *known_op(const char *op)
{
	static const char *const ops[] = { "issue", "register", "revoke", "remove", "list",
					   "show", "stats", "attest", NULL };

	for (size_t i = 0; op != NULL && ops[i] != NULL; i++)
		if (strcmp(op, ops[i]) == 0)
			return ops[i];
	return "request";
}

static cJSON *attestd_dispatch(void *arg, const struct attestd_peer *peer, const cJSON *req)
{
	struct attestd *d = arg;
	const char *op = NULL;
	cJSON *reply = attestd_ok_reply();
	int r;

	attest_errclear();
	if (reply == NULL)
		return attestd_error_reply(ATTEST_E_NOMEM);
	if ((r = attest_json_str(req, "op", 16, &op)) != ATTEST_OK)
		goto out;
	if (d->tpm == NULL && (r = tpm_reconnect(d)) != ATTEST_OK) {
		r = attest_fail_wrap(ATTEST_E_TPM, "TPM unreachable");
		goto out;
	}
	if (strcmp(op, "issue") == 0) {
		if ((r = issuance_allowed(d)) != ATTEST_OK)
			goto out;
		r = do_issue(d, peer, req, reply);
		goto out;
	}
	if (strcmp(op, "register") != 0 && strcmp(op, "revoke") != 0 && strcmp(op, "list") != 0 &&
	    strcmp(op, "show") != 0 && strcmp(op, "stats") != 0 && strcmp(op, "remove") != 0 &&
	    strcmp(op, "attest") != 0) {
		r = attest_fail(ATTEST_E_PARSE, "unknown op \"%.16s\"", op);
		goto out;
	}
	if (!peer->admin || peer->uid != 0) {
		r = attest_fail(ATTEST_E_DENIED, "%s is for root on the admin socket", op);
		goto out;
	}
	if (strcmp(op, "attest") == 0) {
		/* answered when the verifier has (push.c); NULL: deferred */
		cJSON_Delete(reply);
		return attestd_push_demand(d->push, peer, req);
	}
	if (strcmp(op, "register") == 0 && (r = issuance_allowed(d)) != ATTEST_OK)
		goto out;
	r = strcmp(op, "register") == 0 ? do_register(d, req, reply)
	    : strcmp(op, "revoke") == 0 ? do_revoke(d, req, reply)
	    : strcmp(op, "remove") == 0 ? do_remove(d, req, reply)
	    : strcmp(op, "list") == 0	? do_list(d, req, reply)
	    : strcmp(op, "stats") == 0	? do_stats(d, req, reply)
					: do_show(d, req, reply);
	if (r == ATTEST_OK && (strcmp(op, "register") == 0 || strcmp(op, "revoke") == 0 ||
			       strcmp(op, "remove") == 0))
		attestd_push_inventory_changed(d->push);
out:
	if (r != ATTEST_OK) {
		const cJSON *agent = cJSON_GetObjectItemCaseSensitive(req, "agent");
		/* log only names that passed validation: no control bytes in the log */
		int named = cJSON_IsString(agent) && attest_valid_hostname(agent->valuestring);

		const char *what = op && strcmp(op, "issue") == 0 ? "issue"
				   : op && !named		  ? "request"
				   : op				  ? op
								  : "request";
		char key[96];

		/* a peer can repeat a refusal at will: aggregated (log.h); the
		 * audit log keeps every one */
		snprintf(key, sizeof(key), "refused uid=%u %.16s %s", (unsigned)peer->uid, what,
			 attest_errname(r));
		attestd_log_rl(key, "refused %s from pid=%d uid=%u%s%s: %s [%s]: %s", what,
			       (int)peer->pid, (unsigned)peer->uid, named ? " agent=" : "",
			       named ? agent->valuestring : "", attest_strerror(r), attest_errname(r),
			       attest_errdetail());
		attestd_audit_refusal(d, peer, known_op(op), named ? agent->valuestring : NULL, r);
		cJSON_Delete(reply);
		/* The caller is a local, kernel-identified process: it is told
		 * the same reason the log records (nothing in it is secret). */
		reply = attestd_error_reply(r);
		if (reply != NULL)
			cJSON_AddStringToObject(reply, "detail", attest_errdetail());
		return reply;
	}
	return reply;
}

