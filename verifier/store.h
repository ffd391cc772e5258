/* store.h - the verifier's persistent state behind one interface.
 *
 * The decision code, the HTTP handlers and the CLI see only struct vstore
 * and these calls; a backend fills struct vstore_ops. SQLite
 * (store_sqlite.c) is the default; a PostgreSQL backend for replicated
 * verifiers implements the same table of functions and nothing else
 * changes. Every call returns an attest_err; a backend failure is
 * ATTEST_E_IO with the database's message in attest_errdetail().
 *
 * Strings in records are NUL-terminated and bounded by the array sizes
 * below; 64-bit TPM counters are uint64_t here and TEXT in SQL. A call that
 * fails changes nothing (each is one transaction). A string too long for
 * its field, an empty name or an out-of-range enum is ATTEST_E_INVALID_ARG;
 * a stored row that does not fit its struct (wrong type, a hash of the
 * wrong length, a counter that is not decimal) is ATTEST_E_STATE.
 *
 * Concurrency: a struct vstore is used by one thread at a time; a thread
 * that needs the store opens its own (several may share one database).
 * The list calls hand each row to cb while the listing is open: cb must
 * not call into the same vstore (ATTEST_E_STATE if it does); a nonzero
 * return from cb stops the listing and is returned by the list call.
 * docs/verifier-store.md has the schema and the durability rules.
 */
#ifndef VERIFIER_STORE_H
#define VERIFIER_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "attest/attest.h"
#include "core/err.h"

#define VSTORE_NAME_MAX 64     /* host, caller, reference-set names (+NUL) */
#define VSTORE_ID_MAX 400      /* agent SPIFFE IDs (+NUL) */
#define VSTORE_REASON_MAX 256  /* free-text reasons (+NUL) */
#define VSTORE_LIST_MAX 1024   /* space-separated lists: scopes, data classes */
#define VSTORE_NONCE_LEN 32
#define VSTORE_JWS_MAX (1024 * 1024) /* a reference-value set's JWS (+NUL) */
#define VSTORE_CHAIN_MAX 24576 /* an agent's chain above its leaf, PEM (+NUL) */
#define VSTORE_CHAIN_MAX_STR "24575"
/* a host's CRLs (its host CA's and its agents', PEM, +NUL; issue 15) */
#define VSTORE_CRLS_MAX (256 * 1024)
#define VSTORE_CRLS_MAX_STR "262143"
/* a host's JWT-SVID signing key (issue 14): kid (the RFC 7638 thumbprint,
 * base64url, +NUL) and the certificate the host CA made for it (PEM, +NUL) */
#define VSTORE_KID_MAX 48
#define VSTORE_KID_MAX_STR "47"
#define VSTORE_JWTCERT_MAX 4096
#define VSTORE_JWTCERT_MAX_STR "4095"
#define VSTORE_BEHAVIOUR_MAX 16384 /* a baseline's JSON state (+NUL) */
#define VSTORE_BEHAVIOUR_MAX_STR "16383"
#define VSTORE_BKEY_MAX 412 /* a baseline's key (+NUL) */
#define VSTORE_BKEY_MAX_STR "411"

/* One JWT-SVID key of a host, as its last verified inventory report
 * carried it (schema version 7). seen: that report's time. */
struct vjwtkey {
	char kid[VSTORE_KID_MAX];
	char host[VSTORE_NAME_MAX];
	char cert[VSTORE_JWTCERT_MAX];
	int64_t not_after; /* the certificate's notAfter, Unix seconds */
	int64_t seen;
};

enum vhost_state {
	VHOST_NEW = 0,      /* enrolled, never attested */
	VHOST_TRUSTED = 1,  /* last quote good */
	VHOST_UNTRUSTED = 2 /* last quote failed, or rebooted and not yet good */
};

struct vhost {
	char name[VSTORE_NAME_MAX];
	enum vhost_state state;
	int reason_code;                 /* attest_err of the last failure, 0 */
	char reason[VSTORE_REASON_MAX];  /* readable reason of the last failure */
	int64_t last_good;               /* Unix time of the last good quote, 0 */
	int64_t last_quote;              /* Unix time of the last quote seen, 0 */
	int have_clock;                  /* the counters below are set */
	uint32_t reset_count;
	uint32_t restart_count;
	uint64_t clock;
	uint64_t boots;                  /* resetCount increases seen */
	int unsafe_seen;                 /* a quote with safe == 0 was recorded */
	char refset[VSTORE_NAME_MAX];    /* set that matched the last good quote */
	int revoked;
	char revoke_reason[VSTORE_REASON_MAX];
};

struct vagent {
	char id[VSTORE_ID_MAX];          /* spiffe://<td>/host/<h>/agent/<n> */
	char host[VSTORE_NAME_MAX];
	char uuid[40];
	uint8_t agent_ca_hash[32];       /* SHA-256 of the agent CA DER */
	uint8_t measurement[32];
	uint8_t policy[32];
	char scopes[VSTORE_LIST_MAX];    /* registered scopes */
	char data_classes[VSTORE_LIST_MAX];
	int risk_tier;                   /* 0 low .. 3 critical (docs/agents.md) */
	int risk_score;                  /* 0..100 */
	int delegate_depth;
	int64_t registered;              /* Unix time reported */
	int approved;
	int revoked;
	char revoke_reason[VSTORE_REASON_MAX];
};

enum vcaller_role { VCALLER_RESOURCE = 1, VCALLER_ADMIN = 2 };

struct vcaller {
	char name[VSTORE_NAME_MAX];
	enum vcaller_role role;
	uint8_t spki_hash[32];           /* SHA-256 of the client cert's SPKI DER */
	int revoked;
};

struct vrefset {
	char name[VSTORE_NAME_MAX];
	char *jws;                       /* operator-signed set, as received */
	int active;
	int64_t added;
};

/* A verifier replica's row (docs/verifier-store.md "Replicas"). */
struct vreplica {
	char id[VSTORE_NAME_MAX];
	char log_id[VSTORE_NAME_MAX]; /* its audit log's id, hex */
	int64_t started;
	int64_t beat;
};

#define VSTORE_NOTIFY_CHANNEL "attest_verifier"
#define VSTORE_GENERATION_KEY "generation"

struct vstore;

struct vstore_ops {
	void (*close)(struct vstore *s);
	/* hosts */
	int (*host_get)(struct vstore *s, const char *name, struct vhost *out); /* ATTEST_E_NOT_FOUND */
	int (*host_put)(struct vstore *s, const struct vhost *h);               /* insert or replace */
	/* After a quote: one conditional UPDATE that writes h's quote columns
	 * (all but revoked and revoke_reason, which stay as stored) only while
	 * the stored have_clock, reset_count, restart_count and clock are
	 * still seen's, the row the quote was appraised against. Of two
	 * verifiers appraising against one stored state, one writes; the
	 * other gets ATTEST_E_QUOTE_COUNTER and changes nothing, so counters
	 * never roll back and a revocation is never overwritten. The same
	 * code when the row is gone. */
	int (*host_put_quote)(struct vstore *s, const struct vhost *h, const struct vhost *seen);
	int (*host_list)(struct vstore *s, int (*cb)(void *arg, const struct vhost *h), void *arg);
	/* nonces: issue stores (host, nonce, expires); take consumes it once:
	 * ATTEST_E_NONCE with detail "unknown", "used", "expired" or "other
	 * host". A taken nonce stays recorded as used until it expires. */
	int (*nonce_issue)(struct vstore *s, const char *host, const uint8_t nonce[VSTORE_NONCE_LEN],
			   int64_t expires);
	int (*nonce_take)(struct vstore *s, const char *host, const uint8_t nonce[VSTORE_NONCE_LEN],
			  int64_t now);
	int (*nonce_prune)(struct vstore *s, int64_t now);
	/* agents (inventory) */
	int (*agent_get)(struct vstore *s, const char *id, struct vagent *out); /* ATTEST_E_NOT_FOUND */
	/* insert or replace; ATTEST_E_HOST_UNKNOWN unless a->host is stored */
	int (*agent_put)(struct vstore *s, const struct vagent *a);
	int (*agent_list)(struct vstore *s, int (*cb)(void *arg, const struct vagent *a), void *arg);
	/* one host's agents, in ID order, through the index on agents.host:
	 * what a quote or an inventory report touches is that host's rows,
	 * never the fleet's (issue 18 item 4) */
	int (*agent_list_host)(struct vstore *s, const char *host,
			       int (*cb)(void *arg, const struct vagent *a), void *arg);
	/* reference-value sets: put stores a new set as active; replacing a
	 * set's JWS keeps its active flag. set_active: ATTEST_E_NOT_FOUND. */
	int (*refset_put)(struct vstore *s, const char *name, const char *jws, int64_t now);
	int (*refset_set_active)(struct vstore *s, const char *name, int active);
	/* cb gets each set; r->jws is valid during the call only */
	int (*refset_list)(struct vstore *s, int active_only,
			   int (*cb)(void *arg, const struct vrefset *r), void *arg);
	/* callers (mTLS clients of the verifier); put inserts or replaces by
	 * name; an SPKI hash held by another caller is ATTEST_E_EXISTS */
	int (*caller_put)(struct vstore *s, const struct vcaller *c);
	int (*caller_by_spki)(struct vstore *s, const uint8_t spki_hash[32], struct vcaller *out);
	int (*caller_list)(struct vstore *s, int (*cb)(void *arg, const struct vcaller *c), void *arg);
	/* settings: small key/value strings (approval_required, scope_cap):
	 * keys < VSTORE_NAME_MAX, values < VSTORE_LIST_MAX bytes; get is
	 * ATTEST_E_NOT_FOUND, or ATTEST_E_TOO_LARGE when outsz is too small */
	int (*setting_get)(struct vstore *s, const char *key, char *out, size_t outsz);
	int (*setting_put)(struct vstore *s, const char *key, const char *value);
	/* the chain above an agent's leaf (agent CA, then host CA; PEM, <
	 * VSTORE_CHAIN_MAX bytes) from its last verified inventory report:
	 * put inserts or replaces; get wants outsz >= VSTORE_CHAIN_MAX and is
	 * ATTEST_E_NOT_FOUND for an agent never reported with one */
	int (*agent_chain_get)(struct vstore *s, const char *id, char *out, size_t outsz);
	int (*agent_chain_put)(struct vstore *s, const char *id, const char *chain);
	/* ---- replicas (issue 18, schema version 5) ---- */
	/* Column updates: each writes only its columns, in one statement, so a
	 * quote another verifier stores meanwhile is never overwritten (and
	 * never overwrites them). ATTEST_E_NOT_FOUND without the row. */
	int (*host_revoke)(struct vstore *s, const char *name, const char *reason);
	/* the host has a new AK: state new, counters and last_good cleared */
	int (*host_reset_ak)(struct vstore *s, const char *name);
	int (*agent_revoke)(struct vstore *s, const char *id, const char *reason);
	int (*agent_approve)(struct vstore *s, const char *id);
	/* Compare-and-set: writes value only while the stored one is expect
	 * (expect NULL: only while key is absent). ATTEST_E_EXISTS, nothing
	 * written, when another writer got there first. */
	int (*setting_cas)(struct vstore *s, const char *key, const char *expect, const char *value);
	/* The change generation (settings key "generation", 0 when absent):
	 * bump adds one after a change every replica must see (revocations,
	 * settings, reference sets, policy reloads, AK resets, demotions) and
	 * returns the new value; on PostgreSQL it also NOTIFYs channel
	 * VSTORE_NOTIFY_CHANNEL in the same statement. */
	int (*generation_bump)(struct vstore *s, uint64_t *out);
	/* A replica's heartbeat: inserts or updates the row of id (log_id: its
	 * audit log's id, hex; started and beat: Unix times). */
	int (*replica_beat)(struct vstore *s, const struct vreplica *r);
	int (*replica_list)(struct vstore *s, int (*cb)(void *arg, const struct vreplica *r),
			    void *arg);
	/* Hosts not revoked whose last good quote is before `before` (never
	 * attested included), oldest first, at most limit to cb; *count gets
	 * how many there are in all. */
	int (*host_stale)(struct vstore *s, int64_t before, unsigned limit,
			  int (*cb)(void *arg, const struct vhost *h), void *arg, uint64_t *count);
	/* Change notifications: watch_fd is a socket that becomes readable
	 * when another replica bumped the generation (PostgreSQL: a second
	 * connection that LISTENs), -1 when the backend has none (SQLite) or
	 * the connection is down; watch_drain consumes what arrived and sets
	 * *notified. NULL in backends without notifications. */
	int (*watch_fd)(struct vstore *s);
	int (*watch_drain)(struct vstore *s, int *notified);
	/* a host's CRLs (PEM, < VSTORE_CRLS_MAX bytes) from its last verified
	 * inventory report that carried them: put inserts or replaces; get
	 * wants outsz >= VSTORE_CRLS_MAX and is ATTEST_E_NOT_FOUND for a host
	 * that never sent any (issue 15, schema version 6) */
	int (*host_crls_get)(struct vstore *s, const char *host, char *out, size_t outsz);
	int (*host_crls_put)(struct vstore *s, const char *host, const char *pem);
	/* JWT-SVID keys (issue 14, schema version 7), one row per kid.
	 * get: ATTEST_E_NOT_FOUND for an unknown kid. put inserts k, or sets
	 * seen (and nothing else) when the kid is the same host's already; a
	 * kid of another host is left as it is and is ATTEST_E_DUPLICATE_KEY.
	 * prune drops host's keys seen before `before` (those its latest
	 * report no longer carries), *dropped how many. list: every row, by
	 * kid. */
	int (*jwt_key_get)(struct vstore *s, const char *kid, struct vjwtkey *out);
	int (*jwt_key_put)(struct vstore *s, const struct vjwtkey *k);
	int (*jwt_keys_prune)(struct vstore *s, const char *host, int64_t before, long *dropped);
	int (*jwt_key_list)(struct vstore *s, int (*cb)(void *arg, const struct vjwtkey *k),
			    void *arg);
	/* behaviour baselines (docs/detection.md): key "a:" + agent ID or
	 * "u:" + user (< VD_KEY_MAX bytes), state the detector's JSON (<
	 * VSTORE_BEHAVIOUR_MAX bytes). put writes n rows (insert or replace)
	 * in ONE transaction: the verifier's write-behind batch. */
	int (*behaviour_put)(struct vstore *s, const char *const *keys, const char *const *states,
			     size_t n, int64_t now);
	int (*behaviour_list)(struct vstore *s,
			      int (*cb)(void *arg, const char *key, const char *state), void *arg);
	/* an agent's registration changed under its ID (another UUID or
	 * measurement): counted, with the first and last time (posture) */
	int (*agent_change_note)(struct vstore *s, const char *id, int64_t now);
	int (*agent_change_list)(struct vstore *s,
				 int (*cb)(void *arg, const char *id, uint64_t changes,
					   int64_t first, int64_t last),
				 void *arg);
};

struct vstore {
	const struct vstore_ops *ops;
};

/* SQLite backend: opens (creating 0600) the database at path, WAL mode,
 * synchronous=FULL, foreign keys on, busy timeout, and applies schema
 * migrations up to the current version in one transaction each
 * (PRAGMA user_version). A database from a newer version, or a database
 * that is not ours, is refused (ATTEST_E_STATE); a symlink, or an existing
 * file that group or others may access, is refused (ATTEST_E_IO). *out is
 * released with vstore_close. */
int vstore_sqlite_open(const char *path, struct vstore **out) ATTEST_MUST_CHECK;
/* The same for a store that must exist already (serve, caller add): never
 * creates one. Before anything is written it refuses, with
 * ATTEST_E_STORE_DAMAGED and a message saying why, a missing or empty
 * file, a file without our schema version, one that fails SQLite's
 * quick_check (a damaged page), and, after any migration, one without the
 * marker row the schema's creation writes. A row read later that does not
 * fit its struct is ATTEST_E_STORE_DAMAGED too (an internal error, 500). */
int vstore_sqlite_open_existing(const char *path, struct vstore **out) ATTEST_MUST_CHECK;
/* PostgreSQL backend (store_pg.c, libpq): conninfo is a libpq connection
 * URI or string (postgresql://user@host/db?sslmode=verify-full). The same
 * contract and the same two entry points: _open creates the schema in an
 * empty database (attest-verifier init), _open_existing refuses one
 * without our schema or without the marker row (ATTEST_E_STORE_DAMAGED).
 * Both apply migrations (table attest_schema holds the version; a newer
 * one, or a schema with tables of someone else's, is ATTEST_E_STATE). */
int vstore_pg_open(const char *conninfo, struct vstore **out) ATTEST_MUST_CHECK;
int vstore_pg_open_existing(const char *conninfo, struct vstore **out) ATTEST_MUST_CHECK;
/* The store a command names: spec NULL or empty is the SQLite file
 * STATE/verifier.db, a postgresql:// or postgres:// URI is PostgreSQL;
 * anything else is ATTEST_E_INVALID_ARG. create: init's open (the
 * schema may be made), else open_existing's. */
int vstore_open_spec(const char *spec, const char *state, int create,
		     struct vstore **out) ATTEST_MUST_CHECK;
/* The change generation (ops->generation_bump), 0 when never bumped;
 * a stored value that is not a decimal is ATTEST_E_STORE_DAMAGED. */
int vstore_generation(struct vstore *s, uint64_t *out) ATTEST_MUST_CHECK;
/* 1 when spec names a PostgreSQL store. */
int vstore_spec_is_pg(const char *spec);
/* Both backends' column lists: the one schema of docs/verifier-store.md. */
#define VSTORE_HOST_COLS                                                                         \
	"name, state, reason_code, reason, last_good, last_quote, have_clock, reset_count, " \
	"restart_count, clock, boots, unsafe_seen, refset, revoked, revoke_reason"
#define VSTORE_AGENT_COLS                                                                       \
	"id, host, uuid, agent_ca_hash, measurement, policy, scopes, data_classes, "     \
	"risk_tier, risk_score, delegate_depth, registered, approved, revoked, revoke_reason"
#define VSTORE_CALLER_COLS "name, role, spki_hash, revoked"
/* A name argument of an op: present, not empty, shorter than cap bytes
 * (ATTEST_E_INVALID_ARG naming what). */
static inline int vstore_arg_name(const char *v, size_t cap, const char *what)
{
	size_t n;

	if (v == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: no %s", what);
	n = strnlen(v, cap);
	if (n == 0 || n == cap)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: %s empty or over %zu bytes", what,
				   cap - 1);
	return ATTEST_OK;
}
#define VSTORE_MARKER_KEY "store_marker"
#define VSTORE_MARKER_VALUE "attest-verifier store"

static inline void vstore_close(struct vstore *s)
{
	if (s != NULL)
		s->ops->close(s);
}

#endif
