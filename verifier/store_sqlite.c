/* store_sqlite.c - the verifier's store on SQLite (docs/verifier-store.md).
 *
 * One struct sq per connection, used from one thread at a time (the
 * connection is opened SQLITE_OPEN_NOMUTEX); threads that need the store
 * each open their own, and WAL lets them read while one writes. Every SQL
 * statement is prepared once at open and reset after each use. Everything
 * read back is checked as strictly as input from the network: a row that
 * does not fit its struct (wrong type, a 31-byte hash, a counter that is
 * not a decimal 64-bit number) is ATTEST_E_STATE, never a truncation.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/err.h"
#include "core/fileio.h"
#include "core/num.h"
#include "store.h"

#define BUSY_TIMEOUT_MS 5000
#define APPLICATION_ID 1096046163 /* "ATVS" */
#define SETTING_KEY_MAX VSTORE_NAME_MAX
#define SETTING_VALUE_MAX VSTORE_LIST_MAX

/* ---- schema ----
 *
 * Migration steps, in order; step i takes user_version from i-1 to i, in
 * its own transaction. Never edit a step that has shipped: add one.
 * Tables are STRICT (SQLite >= 3.37), so a value of the wrong type cannot
 * be stored by us; the CHECKs repeat what the code validates, and the
 * reading code checks again, because the file is outside our control. */
struct migration {
	int version;
	const char *sql;
};

static const struct migration migrations[] = {
	{ 1,
	  "CREATE TABLE hosts ("
	  " name TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 63),"
	  " state INTEGER NOT NULL CHECK (state IN (0, 1, 2)),"
	  " reason_code INTEGER NOT NULL,"
	  " reason TEXT NOT NULL,"
	  " last_good INTEGER NOT NULL,"
	  " last_quote INTEGER NOT NULL,"
	  " have_clock INTEGER NOT NULL CHECK (have_clock IN (0, 1)),"
	  " reset_count INTEGER NOT NULL CHECK (reset_count BETWEEN 0 AND 4294967295),"
	  " restart_count INTEGER NOT NULL CHECK (restart_count BETWEEN 0 AND 4294967295),"
	  " clock TEXT NOT NULL,"  /* uint64 as decimal */
	  " boots TEXT NOT NULL,"  /* uint64 as decimal */
	  " unsafe_seen INTEGER NOT NULL CHECK (unsafe_seen IN (0, 1)),"
	  " refset TEXT NOT NULL,"
	  " revoked INTEGER NOT NULL CHECK (revoked IN (0, 1)),"
	  " revoke_reason TEXT NOT NULL"
	  ") STRICT;"
	  "CREATE TABLE nonces ("
	  " nonce BLOB PRIMARY KEY NOT NULL CHECK (length(nonce) = 32),"
	  " host TEXT NOT NULL,"
	  " expires INTEGER NOT NULL,"
	  " used INTEGER NOT NULL CHECK (used IN (0, 1))"
	  ") STRICT;"
	  "CREATE INDEX nonces_expires ON nonces (expires);"
	  "CREATE TABLE agents ("
	  " id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 399),"
	  " host TEXT NOT NULL REFERENCES hosts (name),"
	  " uuid TEXT NOT NULL,"
	  " agent_ca_hash BLOB NOT NULL CHECK (length(agent_ca_hash) = 32),"
	  " measurement BLOB NOT NULL CHECK (length(measurement) = 32),"
	  " policy BLOB NOT NULL CHECK (length(policy) = 32),"
	  " scopes TEXT NOT NULL,"
	  " data_classes TEXT NOT NULL,"
	  " risk_tier INTEGER NOT NULL CHECK (risk_tier BETWEEN 0 AND 3),"
	  " risk_score INTEGER NOT NULL CHECK (risk_score BETWEEN 0 AND 100),"
	  " delegate_depth INTEGER NOT NULL CHECK (delegate_depth BETWEEN 0 AND 3),"
	  " registered INTEGER NOT NULL,"
	  " approved INTEGER NOT NULL CHECK (approved IN (0, 1)),"
	  " revoked INTEGER NOT NULL CHECK (revoked IN (0, 1)),"
	  " revoke_reason TEXT NOT NULL"
	  ") STRICT;"
	  "CREATE INDEX agents_host ON agents (host);"
	  "CREATE TABLE refsets ("
	  " name TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 63),"
	  " jws TEXT NOT NULL,"
	  " active INTEGER NOT NULL CHECK (active IN (0, 1)),"
	  " added INTEGER NOT NULL"
	  ") STRICT;"
	  "CREATE TABLE callers ("
	  " name TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 63),"
	  " role INTEGER NOT NULL CHECK (role IN (1, 2)),"
	  " spki_hash BLOB NOT NULL UNIQUE CHECK (length(spki_hash) = 32),"
	  " revoked INTEGER NOT NULL CHECK (revoked IN (0, 1))"
	  ") STRICT;"
	  "CREATE TABLE settings ("
	  " key TEXT PRIMARY KEY NOT NULL CHECK (length(key) BETWEEN 1 AND 63),"
	  " value TEXT NOT NULL"
	  ") STRICT;"
	  "PRAGMA application_id = 1096046163;" },
	/* The marker: a store made by attest-verifier init (or opened by an
	 * older verifier) has it; serve refuses a store without it. */
	{ 2, "INSERT INTO settings (key, value) VALUES ('" VSTORE_MARKER_KEY "', '"
	     VSTORE_MARKER_VALUE "');" },
	/* The chain above each agent's leaf (its agent CA, then its host CA,
	 * PEM) as the last verified inventory report carried it: /v1/authz
	 * completes a proxy's lone leaf with it (issue 15). */
	{ 3, "CREATE TABLE agent_chains ("
	     " id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 399),"
	     " chain TEXT NOT NULL CHECK (length(chain) BETWEEN 1 AND " VSTORE_CHAIN_MAX_STR ")"
	     ") STRICT;" },
	/* Behaviour baselines (issue 19, docs/detection.md): the detector's
	 * per-agent and per-user state, written behind in batches; and the
	 * registration changes of each agent, for the posture report. */
	{ 4, "CREATE TABLE behaviour ("
	     " key TEXT PRIMARY KEY NOT NULL CHECK (length(key) BETWEEN 3 AND " VSTORE_BKEY_MAX_STR "),"
	     " state TEXT NOT NULL CHECK (length(state) BETWEEN 2 AND " VSTORE_BEHAVIOUR_MAX_STR "),"
	     " updated INTEGER NOT NULL"
	     ") STRICT;"
	     "CREATE TABLE agent_changes ("
	     " id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 399),"
	     " changes INTEGER NOT NULL CHECK (changes >= 0),"
	     " first_change INTEGER NOT NULL,"
	     " last_change INTEGER NOT NULL"
	     ") STRICT;" },
	/* Replicas (issue 18): each serving verifier's heartbeat and the id
	 * of its own audit log; the index finds hosts whose last good quote
	 * is old without reading them all. */
	{ 5, "CREATE TABLE replicas ("
	     " id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 63),"
	     " log_id TEXT NOT NULL CHECK (length(log_id) < 64),"
	     " started INTEGER NOT NULL,"
	     " beat INTEGER NOT NULL"
	     ") STRICT;"
	     "CREATE INDEX hosts_last_good ON hosts (last_good);" },
	/* Each host's CRLs (its host CA's, its agents'; PEM) as its last
	 * verified inventory report carried them: GET /v1/crl serves them
	 * (issue 15 item 5). */
	{ 6, "CREATE TABLE host_crls ("
	     " host TEXT PRIMARY KEY NOT NULL CHECK (length(host) BETWEEN 1 AND 63),"
	     " pem TEXT NOT NULL CHECK (length(pem) BETWEEN 1 AND " VSTORE_CRLS_MAX_STR ")"
	     ") STRICT;" },
	/* Each host's JWT-SVID signing keys (issue 14): kid, the host CA's
	 * certificate for the key (PEM), its notAfter, and the time of the
	 * last verified report that carried it (keys it no longer carries
	 * are pruned). The verifier's bundle serves them; /v1/spiffe/validate
	 * looks a token's kid up here. */
	{ 7, "CREATE TABLE jwt_keys ("
	     " kid TEXT PRIMARY KEY NOT NULL CHECK (length(kid) BETWEEN 1 AND " VSTORE_KID_MAX_STR "),"
	     " host TEXT NOT NULL CHECK (length(host) BETWEEN 1 AND 63),"
	     " cert TEXT NOT NULL CHECK (length(cert) BETWEEN 1 AND " VSTORE_JWTCERT_MAX_STR "),"
	     " not_after INTEGER NOT NULL,"
	     " seen INTEGER NOT NULL"
	     ") STRICT;"
	     "CREATE INDEX jwt_keys_host ON jwt_keys (host);" },
	/* { 8, "ALTER TABLE ...;" }, */
};

#define NMIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))
#define SCHEMA_VERSION (migrations[NMIGRATIONS - 1].version)

/* ---- prepared statements ---- */


enum st_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_HOST_GET,
	ST_HOST_PUT,
	ST_HOST_PUT_QUOTE,
	ST_HOST_LIST,
	ST_NONCE_ISSUE,
	ST_NONCE_TAKE,
	ST_NONCE_WHY,
	ST_NONCE_PRUNE,
	ST_AGENT_GET,
	ST_AGENT_PUT,
	ST_AGENT_LIST,
	ST_REFSET_PUT,
	ST_REFSET_ACTIVE,
	ST_REFSET_LIST,
	ST_CALLER_PUT,
	ST_CALLER_BY_SPKI,
	ST_CALLER_LIST,
	ST_SETTING_GET,
	ST_SETTING_PUT,
	ST_CHAIN_GET,
	ST_CHAIN_PUT,
	ST_HOST_REVOKE,
	ST_HOST_RESET_AK,
	ST_AGENT_REVOKE,
	ST_AGENT_APPROVE,
	ST_SETTING_ADD,
	ST_SETTING_CAS,
	ST_GEN_BUMP,
	ST_REPLICA_BEAT,
	ST_REPLICA_LIST,
	ST_HOST_STALE,
	ST_HOST_STALE_COUNT,
	ST_BEHAVIOUR_PUT,
	ST_BEHAVIOUR_LIST,
	ST_CHANGE_NOTE,
	ST_CHANGE_LIST,
	ST_AGENT_LIST_HOST,
	ST_CRLS_GET,
	ST_CRLS_PUT,
	ST_JWTK_GET,
	ST_JWTK_PUT,
	ST_JWTK_PRUNE,
	ST_JWTK_LIST,
	ST__COUNT
};

static const char *const st_sql[ST__COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_HOST_GET] = "SELECT " VSTORE_HOST_COLS " FROM hosts WHERE name = ?1",
	[ST_HOST_PUT] = "INSERT INTO hosts (" VSTORE_HOST_COLS ") VALUES "
			"(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) "
			"ON CONFLICT (name) DO UPDATE SET state = excluded.state, "
			"reason_code = excluded.reason_code, reason = excluded.reason, "
			"last_good = excluded.last_good, last_quote = excluded.last_quote, "
			"have_clock = excluded.have_clock, reset_count = excluded.reset_count, "
			"restart_count = excluded.restart_count, clock = excluded.clock, "
			"boots = excluded.boots, unsafe_seen = excluded.unsafe_seen, "
			"refset = excluded.refset, revoked = excluded.revoked, "
			"revoke_reason = excluded.revoke_reason",
	/* compare-and-swap on the counters the caller appraised against;
	 * revoked and revoke_reason stay as stored */
	[ST_HOST_PUT_QUOTE] = "UPDATE hosts SET state = ?2, reason_code = ?3, reason = ?4, "
			      "last_good = ?5, last_quote = ?6, have_clock = ?7, "
			      "reset_count = ?8, restart_count = ?9, clock = ?10, boots = ?11, "
			      "unsafe_seen = ?12, refset = ?13 WHERE name = ?1 AND "
			      "have_clock = ?14 AND reset_count = ?15 AND restart_count = ?16 AND "
			      "clock = ?17",
	[ST_HOST_LIST] = "SELECT " VSTORE_HOST_COLS " FROM hosts ORDER BY name",
	[ST_NONCE_ISSUE] = "INSERT INTO nonces (nonce, host, expires, used) VALUES (?1, ?2, ?3, 0)",
	[ST_NONCE_TAKE] = "UPDATE nonces SET used = 1 "
			  "WHERE nonce = ?1 AND used = 0 AND host = ?2 AND expires > ?3",
	[ST_NONCE_WHY] = "SELECT host, used, expires FROM nonces WHERE nonce = ?1",
	[ST_NONCE_PRUNE] = "DELETE FROM nonces WHERE expires <= ?1",
	[ST_AGENT_GET] = "SELECT " VSTORE_AGENT_COLS " FROM agents WHERE id = ?1",
	[ST_AGENT_PUT] = "INSERT INTO agents (" VSTORE_AGENT_COLS ") VALUES "
			 "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) "
			 "ON CONFLICT (id) DO UPDATE SET host = excluded.host, "
			 "uuid = excluded.uuid, agent_ca_hash = excluded.agent_ca_hash, "
			 "measurement = excluded.measurement, policy = excluded.policy, "
			 "scopes = excluded.scopes, data_classes = excluded.data_classes, "
			 "risk_tier = excluded.risk_tier, risk_score = excluded.risk_score, "
			 "delegate_depth = excluded.delegate_depth, "
			 "registered = excluded.registered, approved = excluded.approved, "
			 "revoked = excluded.revoked, revoke_reason = excluded.revoke_reason",
	[ST_AGENT_LIST] = "SELECT " VSTORE_AGENT_COLS " FROM agents ORDER BY id",
	[ST_REFSET_PUT] = "INSERT INTO refsets (name, jws, active, added) VALUES (?1, ?2, 1, ?3) "
			  "ON CONFLICT (name) DO UPDATE SET jws = excluded.jws, "
			  "added = excluded.added",
	[ST_REFSET_ACTIVE] = "UPDATE refsets SET active = ?2 WHERE name = ?1",
	[ST_REFSET_LIST] = "SELECT name, jws, active, added FROM refsets "
			   "WHERE ?1 = 0 OR active = 1 ORDER BY name",
	[ST_CALLER_PUT] = "INSERT INTO callers (" VSTORE_CALLER_COLS ") VALUES (?1, ?2, ?3, ?4) "
			  "ON CONFLICT (name) DO UPDATE SET role = excluded.role, "
			  "spki_hash = excluded.spki_hash, revoked = excluded.revoked",
	[ST_CALLER_BY_SPKI] = "SELECT " VSTORE_CALLER_COLS " FROM callers WHERE spki_hash = ?1",
	[ST_CALLER_LIST] = "SELECT " VSTORE_CALLER_COLS " FROM callers ORDER BY name",
	[ST_SETTING_GET] = "SELECT value FROM settings WHERE key = ?1",
	[ST_SETTING_PUT] = "INSERT INTO settings (key, value) VALUES (?1, ?2) "
			   "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	[ST_CHAIN_GET] = "SELECT chain FROM agent_chains WHERE id = ?1",
	[ST_CHAIN_PUT] = "INSERT INTO agent_chains (id, chain) VALUES (?1, ?2) "
			 "ON CONFLICT (id) DO UPDATE SET chain = excluded.chain",
	/* column updates (issue 18): a concurrent quote's columns stay */
	[ST_HOST_REVOKE] = "UPDATE hosts SET revoked = 1, revoke_reason = ?2 WHERE name = ?1",
	[ST_HOST_RESET_AK] = "UPDATE hosts SET state = 0, reason_code = 0, reason = '', "
			     "last_good = 0, have_clock = 0, reset_count = 0, restart_count = 0, "
			     "clock = '0' WHERE name = ?1",
	[ST_AGENT_REVOKE] = "UPDATE agents SET revoked = 1, revoke_reason = ?2 WHERE id = ?1",
	[ST_AGENT_APPROVE] = "UPDATE agents SET approved = 1 WHERE id = ?1",
	[ST_SETTING_ADD] = "INSERT INTO settings (key, value) VALUES (?1, ?2) "
			   "ON CONFLICT (key) DO NOTHING",
	[ST_SETTING_CAS] = "UPDATE settings SET value = ?3 WHERE key = ?1 AND value = ?2",
	[ST_GEN_BUMP] = "INSERT INTO settings (key, value) VALUES ('" VSTORE_GENERATION_KEY "', '1') "
			"ON CONFLICT (key) DO UPDATE SET value = "
			"CAST(CAST(value AS INTEGER) + 1 AS TEXT) RETURNING value",
	[ST_REPLICA_BEAT] = "INSERT INTO replicas (id, log_id, started, beat) VALUES (?1, ?2, ?3, ?4) "
			    "ON CONFLICT (id) DO UPDATE SET log_id = excluded.log_id, "
			    "started = excluded.started, beat = excluded.beat",
	[ST_REPLICA_LIST] = "SELECT id, log_id, started, beat FROM replicas ORDER BY id",
	[ST_HOST_STALE] = "SELECT " VSTORE_HOST_COLS " FROM hosts WHERE revoked = 0 AND "
			  "last_good < ?1 ORDER BY last_good, name LIMIT ?2",
	[ST_HOST_STALE_COUNT] = "SELECT count(*) FROM hosts WHERE revoked = 0 AND last_good < ?1",
	[ST_CRLS_GET] = "SELECT pem FROM host_crls WHERE host = ?1",
	[ST_JWTK_GET] = "SELECT kid, host, cert, not_after, seen FROM jwt_keys WHERE kid = ?1",
	[ST_JWTK_PUT] = "INSERT INTO jwt_keys (kid, host, cert, not_after, seen) "
			"VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (kid) DO UPDATE SET "
			"seen = excluded.seen WHERE jwt_keys.host = excluded.host",
	[ST_JWTK_PRUNE] = "DELETE FROM jwt_keys WHERE host = ?1 AND seen < ?2",
	[ST_JWTK_LIST] = "SELECT kid, host, cert, not_after, seen FROM jwt_keys ORDER BY kid",
	[ST_CRLS_PUT] = "INSERT INTO host_crls (host, pem) VALUES (?1, ?2) "
			"ON CONFLICT (host) DO UPDATE SET pem = excluded.pem",
	[ST_BEHAVIOUR_PUT] = "INSERT INTO behaviour (key, state, updated) VALUES (?1, ?2, ?3) "
			     "ON CONFLICT (key) DO UPDATE SET state = excluded.state, "
			     "updated = excluded.updated",
	[ST_BEHAVIOUR_LIST] = "SELECT key, state FROM behaviour ORDER BY key",
	[ST_CHANGE_NOTE] = "INSERT INTO agent_changes (id, changes, first_change, last_change) "
			   "VALUES (?1, 1, ?2, ?2) ON CONFLICT (id) DO UPDATE SET "
			   "changes = agent_changes.changes + 1, last_change = excluded.last_change",
	[ST_CHANGE_LIST] = "SELECT id, changes, first_change, last_change FROM agent_changes "
			   "ORDER BY id",
	/* one host's agents through the index on host (issue 18 item 4) */
	[ST_AGENT_LIST_HOST] = "SELECT " VSTORE_AGENT_COLS " FROM agents WHERE host = ?1 "
			       "ORDER BY id",
};

struct sq {
	struct vstore base; /* first: a struct vstore * is a struct sq * */
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	int in_cb; /* inside a list callback: the store refuses calls */
};

static struct sq *sq_of(struct vstore *s)
{
	return (struct sq *)s;
}

/* ---- errors ---- */

/* A damaged file (SQLITE_CORRUPT, SQLITE_NOTADB) is not an I/O hiccup
 * to retry: it is ATTEST_E_STORE_DAMAGED, as a row that does not fit. */
static int db_fail(sqlite3 *db, const char *what)
{
	int rc = sqlite3_errcode(db) & 0xff;

	if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
		return attest_fail(ATTEST_E_STORE_DAMAGED, "store: %s: %s", what,
				   sqlite3_errmsg(db));
	return attest_fail(ATTEST_E_IO, "store: %s: %s", what, sqlite3_errmsg(db));
}

/* Every call refuses to run inside a list callback: the callback runs
 * while the list's statement is open, and a backend need not allow more
 * than one statement at a time (docs/verifier-store.md). */
static int enter(struct sq *q, const char *what)
{
	if (q->in_cb)
		return attest_fail(ATTEST_E_STATE, "store: %s called from a list callback", what);
	return ATTEST_OK;
}

/* A prepared statement is back to its initial state after each use,
 * whatever happened; its result code was taken from sqlite3_step. */
static void done(sqlite3_stmt *st)
{
	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
}

/* ---- binds (every one checked) ---- */

static int b_text(struct sq *q, sqlite3_stmt *st, int i, const char *v, size_t cap)
{
	size_t n = strnlen(v, cap);

	if (n == cap)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: parameter %d over %zu bytes", i,
				   cap - 1);
	if (sqlite3_bind_text(st, i, v, (int)n, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(q->db, "bind");
	return ATTEST_OK;
}

static int b_blob(struct sq *q, sqlite3_stmt *st, int i, const uint8_t *v, size_t n)
{
	if (sqlite3_bind_blob(st, i, v, (int)n, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(q->db, "bind");
	return ATTEST_OK;
}

static int b_int(struct sq *q, sqlite3_stmt *st, int i, int64_t v)
{
	if (sqlite3_bind_int64(st, i, v) != SQLITE_OK)
		return db_fail(q->db, "bind");
	return ATTEST_OK;
}

/* 64-bit counters as decimal text: SQLite's INTEGER is signed. */
static int b_u64(struct sq *q, sqlite3_stmt *st, int i, uint64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);

	if (n <= 0 || (size_t)n >= sizeof(buf))
		return attest_fail(ATTEST_E_INTERNAL, "store: format counter");
	if (sqlite3_bind_text(st, i, buf, n, SQLITE_TRANSIENT) != SQLITE_OK)
		return db_fail(q->db, "bind");
	return ATTEST_OK;
}

/* ---- columns: the row is untrusted ---- */

static int bad_col(sqlite3_stmt *st, int i, const char *why)
{
	return attest_fail(ATTEST_E_STORE_DAMAGED, "store: stored %s: %s",
			   sqlite3_column_name(st, i), why);
}

/* Text that fits out (with its NUL) and holds no NUL of its own. */
static int c_text(sqlite3_stmt *st, int i, char *out, size_t outsz)
{
	const unsigned char *t;
	int n;

	out[0] = '\0';
	if (sqlite3_column_type(st, i) != SQLITE_TEXT)
		return bad_col(st, i, "not text");
	t = sqlite3_column_text(st, i);
	n = sqlite3_column_bytes(st, i);
	if (t == NULL || n < 0)
		return attest_fail(ATTEST_E_NOMEM, "store: read %s", sqlite3_column_name(st, i));
	if ((size_t)n >= outsz)
		return bad_col(st, i, "longer than its field");
	if (memchr(t, '\0', (size_t)n) != NULL)
		return bad_col(st, i, "holds a NUL byte");
	memcpy(out, t, (size_t)n);
	out[n] = '\0';
	return ATTEST_OK;
}

static int c_name(sqlite3_stmt *st, int i, char *out, size_t outsz)
{
	int r = c_text(st, i, out, outsz);

	if (r == ATTEST_OK && out[0] == '\0')
		return bad_col(st, i, "empty");
	return r;
}

static int c_blob(sqlite3_stmt *st, int i, uint8_t *out, size_t len)
{
	const void *b;

	if (sqlite3_column_type(st, i) != SQLITE_BLOB)
		return bad_col(st, i, "not a blob");
	b = sqlite3_column_blob(st, i);
	if (sqlite3_column_bytes(st, i) < 0 || (size_t)sqlite3_column_bytes(st, i) != len ||
	    b == NULL)
		return bad_col(st, i, "wrong length");
	memcpy(out, b, len);
	return ATTEST_OK;
}

static int c_int(sqlite3_stmt *st, int i, int64_t min, int64_t max, int64_t *out)
{
	int64_t v;

	*out = 0;
	if (sqlite3_column_type(st, i) != SQLITE_INTEGER)
		return bad_col(st, i, "not an integer");
	v = sqlite3_column_int64(st, i);
	if (v < min || v > max)
		return bad_col(st, i, "out of range");
	*out = v;
	return ATTEST_OK;
}

static int c_intv(sqlite3_stmt *st, int i, int min, int max, int *out)
{
	int64_t v;
	int r = c_int(st, i, min, max, &v);

	*out = (int)v;
	return r;
}

static int c_bool(sqlite3_stmt *st, int i, int *out)
{
	return c_intv(st, i, 0, 1, out);
}

/* A 64-bit counter stored as decimal text (attest_parse_u64's rules). */
static int c_u64(sqlite3_stmt *st, int i, uint64_t *out)
{
	char buf[24];
	int r;

	*out = 0;
	if ((r = c_text(st, i, buf, 21)) != ATTEST_OK)
		return r;
	if (attest_parse_u64(buf, 0, UINT64_MAX, out) != ATTEST_OK)
		return bad_col(st, i, "not a decimal 64-bit counter");
	return ATTEST_OK;
}

/* ---- transactions ---- */

static int exec_st(struct sq *q, enum st_id id, const char *what)
{
	int rc = sqlite3_step(q->st[id]);

	done(q->st[id]);
	if (rc != SQLITE_DONE)
		return db_fail(q->db, what);
	return ATTEST_OK;
}

static int tx_begin(struct sq *q)
{
	return exec_st(q, ST_BEGIN, "begin");
}

/* Commit when r is ATTEST_OK, else roll back; returns r or the commit's
 * failure. A failed COMMIT leaves the transaction open: roll it back. */
static int tx_end(struct sq *q, int r)
{
	if (r == ATTEST_OK)
		r = exec_st(q, ST_COMMIT, "commit");
	if (r != ATTEST_OK && !sqlite3_get_autocommit(q->db)) {
		(void)sqlite3_step(q->st[ST_ROLLBACK]);
		done(q->st[ST_ROLLBACK]);
	}
	return r;
}

/* One write statement that must affect a row, in autocommit (one
 * statement is one transaction). *changes gets sqlite3_changes. */
static int run_write(struct sq *q, sqlite3_stmt *st, const char *what, int *changes)
{
	int rc = sqlite3_step(st), ext;

	if (rc == SQLITE_DONE) {
		if (changes != NULL)
			*changes = sqlite3_changes(q->db);
		done(st);
		return ATTEST_OK;
	}
	ext = sqlite3_extended_errcode(q->db);
	if (ext == SQLITE_CONSTRAINT_FOREIGNKEY) {
		(void)attest_fail(ATTEST_E_HOST_UNKNOWN, "store: %s: %s", what,
				  sqlite3_errmsg(q->db));
		done(st);
		return ATTEST_E_HOST_UNKNOWN;
	}
	if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) {
		(void)attest_fail(ATTEST_E_EXISTS, "store: %s: %s", what, sqlite3_errmsg(q->db));
		done(st);
		return ATTEST_E_EXISTS;
	}
	(void)db_fail(q->db, what);
	done(st);
	return ATTEST_E_IO;
}

/* ---- argument checks ---- */

/* ---- hosts ---- */

static int host_row(sqlite3_stmt *st, struct vhost *h)
{
	int64_t v;
	int r;

	memset(h, 0, sizeof(*h));
	if ((r = c_name(st, 0, h->name, sizeof(h->name))) != ATTEST_OK ||
	    (r = c_int(st, 1, VHOST_NEW, VHOST_UNTRUSTED, &v)) != ATTEST_OK)
		return r;
	h->state = (enum vhost_state)v;
	/* Any non-negative code: a newer verifier may have stored a code this
	 * one does not know, which is no reason to lose the host. */
	if ((r = c_intv(st, 2, 0, INT32_MAX, &h->reason_code)) != ATTEST_OK ||
	    (r = c_text(st, 3, h->reason, sizeof(h->reason))) != ATTEST_OK ||
	    (r = c_int(st, 4, INT64_MIN, INT64_MAX, &h->last_good)) != ATTEST_OK ||
	    (r = c_int(st, 5, INT64_MIN, INT64_MAX, &h->last_quote)) != ATTEST_OK ||
	    (r = c_bool(st, 6, &h->have_clock)) != ATTEST_OK)
		return r;
	if ((r = c_int(st, 7, 0, UINT32_MAX, &v)) != ATTEST_OK)
		return r;
	h->reset_count = (uint32_t)v;
	if ((r = c_int(st, 8, 0, UINT32_MAX, &v)) != ATTEST_OK)
		return r;
	h->restart_count = (uint32_t)v;
	if ((r = c_u64(st, 9, &h->clock)) != ATTEST_OK ||
	    (r = c_u64(st, 10, &h->boots)) != ATTEST_OK ||
	    (r = c_bool(st, 11, &h->unsafe_seen)) != ATTEST_OK ||
	    (r = c_text(st, 12, h->refset, sizeof(h->refset))) != ATTEST_OK ||
	    (r = c_bool(st, 13, &h->revoked)) != ATTEST_OK ||
	    (r = c_text(st, 14, h->revoke_reason, sizeof(h->revoke_reason))) != ATTEST_OK)
		return r;
	return ATTEST_OK;
}

static int sq_host_get(struct vstore *s, const char *name, struct vhost *out)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_HOST_GET];
	int r, rc;

	memset(out, 0, sizeof(*out));
	if ((r = enter(q, "host_get")) != ATTEST_OK || (r = vstore_arg_name(name, VSTORE_NAME_MAX, "host name")) != ATTEST_OK)
		return r;
	if ((r = b_text(q, st, 1, name, VSTORE_NAME_MAX)) != ATTEST_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = host_row(st, out);
	else if (rc == SQLITE_DONE)
		r = attest_fail(ATTEST_E_NOT_FOUND, "store: no host \"%s\"", name);
	else
		r = db_fail(q->db, "host_get");
out:
	done(st);
	if (r != ATTEST_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

/* Checks h and binds its columns name .. refset as parameters 1..13
 * (host_put and host_put_quote share them). */
static int bind_host(struct sq *q, sqlite3_stmt *st, const struct vhost *h)
{
	int r;

	if (h == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: host_put: no host");
	if ((r = vstore_arg_name(h->name, sizeof(h->name), "host name")) != ATTEST_OK)
		return r;
	if (h->state != VHOST_NEW && h->state != VHOST_TRUSTED && h->state != VHOST_UNTRUSTED)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: host state %d", (int)h->state);
	if (h->reason_code < 0 || h->reason_code >= ATTEST_E__COUNT)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: host reason code %d",
				   h->reason_code);
	if ((r = b_text(q, st, 1, h->name, sizeof(h->name))) != ATTEST_OK ||
	    (r = b_int(q, st, 2, h->state)) != ATTEST_OK ||
	    (r = b_int(q, st, 3, h->reason_code)) != ATTEST_OK ||
	    (r = b_text(q, st, 4, h->reason, sizeof(h->reason))) != ATTEST_OK ||
	    (r = b_int(q, st, 5, h->last_good)) != ATTEST_OK ||
	    (r = b_int(q, st, 6, h->last_quote)) != ATTEST_OK ||
	    (r = b_int(q, st, 7, h->have_clock != 0)) != ATTEST_OK ||
	    (r = b_int(q, st, 8, h->reset_count)) != ATTEST_OK ||
	    (r = b_int(q, st, 9, h->restart_count)) != ATTEST_OK ||
	    (r = b_u64(q, st, 10, h->clock)) != ATTEST_OK ||
	    (r = b_u64(q, st, 11, h->boots)) != ATTEST_OK ||
	    (r = b_int(q, st, 12, h->unsafe_seen != 0)) != ATTEST_OK ||
	    (r = b_text(q, st, 13, h->refset, sizeof(h->refset))) != ATTEST_OK)
		return r;
	return ATTEST_OK;
}

static int sq_host_put(struct vstore *s, const struct vhost *h)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_HOST_PUT];
	int r;

	if ((r = enter(q, "host_put")) != ATTEST_OK)
		return r;
	if ((r = bind_host(q, st, h)) != ATTEST_OK ||
	    (r = b_int(q, st, 14, h->revoked != 0)) != ATTEST_OK ||
	    (r = b_text(q, st, 15, h->revoke_reason, sizeof(h->revoke_reason))) != ATTEST_OK) {
		done(st);
		return r;
	}
	return run_write(q, st, "host_put", NULL);
}

static int sq_host_put_quote(struct vstore *s, const struct vhost *h, const struct vhost *seen)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_HOST_PUT_QUOTE];
	int r, changes = 0;

	if ((r = enter(q, "host_put_quote")) != ATTEST_OK)
		return r;
	if (seen == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: host_put_quote: no seen row");
	if ((r = bind_host(q, st, h)) != ATTEST_OK ||
	    (r = b_int(q, st, 14, seen->have_clock != 0)) != ATTEST_OK ||
	    (r = b_int(q, st, 15, seen->reset_count)) != ATTEST_OK ||
	    (r = b_int(q, st, 16, seen->restart_count)) != ATTEST_OK ||
	    (r = b_u64(q, st, 17, seen->clock)) != ATTEST_OK) {
		done(st);
		return r;
	}
	if ((r = run_write(q, st, "host_put_quote", &changes)) != ATTEST_OK)
		return r;
	if (changes != 1)
		return attest_fail(ATTEST_E_QUOTE_COUNTER,
				   "store: host %s: stored counters changed since they were read "
				   "(a newer quote stored meanwhile) or the host row is gone",
				   h->name);
	return ATTEST_OK;
}

/* Runs a list statement (bound already), decoding each row with each(),
 * which hands it to the callback. A nonzero result stops the walk and is
 * returned. */
static int walk(struct sq *q, sqlite3_stmt *st, const char *what,
		int (*each)(sqlite3_stmt *st, void *ctx), void *ctx)
{
	int r = ATTEST_OK, rc;

	q->in_cb = 1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((r = each(st, ctx)) != ATTEST_OK)
			break;
	q->in_cb = 0;
	if (r == ATTEST_OK && rc != SQLITE_DONE)
		r = db_fail(q->db, what);
	done(st);
	return r;
}

struct host_walk {
	int (*cb)(void *arg, const struct vhost *h);
	void *arg;
};

static int host_each(sqlite3_stmt *st, void *ctx)
{
	struct host_walk *w = ctx;
	struct vhost h;
	int r;

	if ((r = host_row(st, &h)) != ATTEST_OK)
		return r;
	return w->cb(w->arg, &h);
}

static int sq_host_list(struct vstore *s, int (*cb)(void *arg, const struct vhost *h), void *arg)
{
	struct sq *q = sq_of(s);
	struct host_walk w = { cb, arg };
	int r;

	if ((r = enter(q, "host_list")) != ATTEST_OK)
		return r;
	if (cb == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: host_list: no callback");
	return walk(q, q->st[ST_HOST_LIST], "host_list", host_each, &w);
}

/* ---- nonces ---- */

static int sq_nonce_issue(struct vstore *s, const char *host, const uint8_t nonce[VSTORE_NONCE_LEN],
			  int64_t expires)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_NONCE_ISSUE];
	int r;

	if ((r = enter(q, "nonce_issue")) != ATTEST_OK ||
	    (r = vstore_arg_name(host, VSTORE_NAME_MAX, "host name")) != ATTEST_OK)
		return r;
	if (nonce == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: nonce_issue: no nonce");
	if ((r = b_blob(q, st, 1, nonce, VSTORE_NONCE_LEN)) != ATTEST_OK ||
	    (r = b_text(q, st, 2, host, VSTORE_NAME_MAX)) != ATTEST_OK ||
	    (r = b_int(q, st, 3, expires)) != ATTEST_OK) {
		done(st);
		return r;
	}
	return run_write(q, st, "nonce_issue", NULL);
}

/* Why a take matched no row; read in the take's transaction. */
static int nonce_why(struct sq *q, const char *host, const uint8_t *nonce, int64_t now)
{
	sqlite3_stmt *st = q->st[ST_NONCE_WHY];
	char who[VSTORE_NAME_MAX];
	int64_t expires;
	int used, rc, r;

	if ((r = b_blob(q, st, 1, nonce, VSTORE_NONCE_LEN)) != ATTEST_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = attest_fail(ATTEST_E_NONCE, "unknown");
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = db_fail(q->db, "nonce_take");
		goto out;
	}
	if ((r = c_name(st, 0, who, sizeof(who))) != ATTEST_OK ||
	    (r = c_bool(st, 1, &used)) != ATTEST_OK ||
	    (r = c_int(st, 2, INT64_MIN, INT64_MAX, &expires)) != ATTEST_OK)
		goto out;
	if (strcmp(who, host) != 0)
		r = attest_fail(ATTEST_E_NONCE, "other host");
	else if (used)
		r = attest_fail(ATTEST_E_NONCE, "used");
	else if (expires <= now)
		r = attest_fail(ATTEST_E_NONCE, "expired");
	else /* cannot happen inside the transaction; fail closed anyway */
		r = attest_fail(ATTEST_E_STATE, "store: nonce neither taken nor refusable");
out:
	done(st);
	return r;
}

static int sq_nonce_take(struct vstore *s, const char *host, const uint8_t nonce[VSTORE_NONCE_LEN],
			 int64_t now)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_NONCE_TAKE];
	int r, changes = 0;

	if ((r = enter(q, "nonce_take")) != ATTEST_OK ||
	    (r = vstore_arg_name(host, VSTORE_NAME_MAX, "host name")) != ATTEST_OK)
		return r;
	if (nonce == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: nonce_take: no nonce");
	if ((r = tx_begin(q)) != ATTEST_OK)
		return r;
	/* The single UPDATE is what makes the nonce single-use: of two
	 * takers, exactly one changes the row. */
	if ((r = b_blob(q, st, 1, nonce, VSTORE_NONCE_LEN)) != ATTEST_OK ||
	    (r = b_text(q, st, 2, host, VSTORE_NAME_MAX)) != ATTEST_OK ||
	    (r = b_int(q, st, 3, now)) != ATTEST_OK) {
		done(st);
		return tx_end(q, r);
	}
	if ((r = run_write(q, st, "nonce_take", &changes)) != ATTEST_OK)
		return tx_end(q, r);
	if (changes != 1)
		r = nonce_why(q, host, nonce, now);
	return tx_end(q, r);
}

static int sq_nonce_prune(struct vstore *s, int64_t now)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_NONCE_PRUNE];
	int r;

	if ((r = enter(q, "nonce_prune")) != ATTEST_OK)
		return r;
	if ((r = b_int(q, st, 1, now)) != ATTEST_OK) {
		done(st);
		return r;
	}
	return run_write(q, st, "nonce_prune", NULL);
}

/* ---- agents ---- */

static int agent_row(sqlite3_stmt *st, struct vagent *a)
{
	int r;

	memset(a, 0, sizeof(*a));
	if ((r = c_name(st, 0, a->id, sizeof(a->id))) != ATTEST_OK ||
	    (r = c_name(st, 1, a->host, sizeof(a->host))) != ATTEST_OK ||
	    (r = c_text(st, 2, a->uuid, sizeof(a->uuid))) != ATTEST_OK ||
	    (r = c_blob(st, 3, a->agent_ca_hash, sizeof(a->agent_ca_hash))) != ATTEST_OK ||
	    (r = c_blob(st, 4, a->measurement, sizeof(a->measurement))) != ATTEST_OK ||
	    (r = c_blob(st, 5, a->policy, sizeof(a->policy))) != ATTEST_OK ||
	    (r = c_text(st, 6, a->scopes, sizeof(a->scopes))) != ATTEST_OK ||
	    (r = c_text(st, 7, a->data_classes, sizeof(a->data_classes))) != ATTEST_OK ||
	    (r = c_intv(st, 8, 0, 3, &a->risk_tier)) != ATTEST_OK ||
	    (r = c_intv(st, 9, 0, 100, &a->risk_score)) != ATTEST_OK ||
	    (r = c_intv(st, 10, 0, 3, &a->delegate_depth)) != ATTEST_OK ||
	    (r = c_int(st, 11, INT64_MIN, INT64_MAX, &a->registered)) != ATTEST_OK ||
	    (r = c_bool(st, 12, &a->approved)) != ATTEST_OK ||
	    (r = c_bool(st, 13, &a->revoked)) != ATTEST_OK ||
	    (r = c_text(st, 14, a->revoke_reason, sizeof(a->revoke_reason))) != ATTEST_OK)
		return r;
	return ATTEST_OK;
}

static int sq_agent_get(struct vstore *s, const char *id, struct vagent *out)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_AGENT_GET];
	int r, rc;

	memset(out, 0, sizeof(*out));
	if ((r = enter(q, "agent_get")) != ATTEST_OK ||
	    (r = vstore_arg_name(id, VSTORE_ID_MAX, "agent ID")) != ATTEST_OK)
		return r;
	if ((r = b_text(q, st, 1, id, VSTORE_ID_MAX)) != ATTEST_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = agent_row(st, out);
	else if (rc == SQLITE_DONE)
		r = attest_fail(ATTEST_E_NOT_FOUND, "store: no agent \"%s\"", id);
	else
		r = db_fail(q->db, "agent_get");
out:
	done(st);
	if (r != ATTEST_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

static int sq_agent_put(struct vstore *s, const struct vagent *a)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_AGENT_PUT];
	int r;

	if ((r = enter(q, "agent_put")) != ATTEST_OK)
		return r;
	if (a == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: agent_put: no agent");
	if ((r = vstore_arg_name(a->id, sizeof(a->id), "agent ID")) != ATTEST_OK ||
	    (r = vstore_arg_name(a->host, sizeof(a->host), "host name")) != ATTEST_OK)
		return r;
	if (a->risk_tier < 0 || a->risk_tier > 3 || a->risk_score < 0 || a->risk_score > 100 ||
	    a->delegate_depth < 0 || a->delegate_depth > 3)
		return attest_fail(ATTEST_E_INVALID_ARG,
				   "store: agent risk tier %d, score %d or delegate depth %d out of range",
				   a->risk_tier, a->risk_score, a->delegate_depth);
	if ((r = b_text(q, st, 1, a->id, sizeof(a->id))) != ATTEST_OK ||
	    (r = b_text(q, st, 2, a->host, sizeof(a->host))) != ATTEST_OK ||
	    (r = b_text(q, st, 3, a->uuid, sizeof(a->uuid))) != ATTEST_OK ||
	    (r = b_blob(q, st, 4, a->agent_ca_hash, sizeof(a->agent_ca_hash))) != ATTEST_OK ||
	    (r = b_blob(q, st, 5, a->measurement, sizeof(a->measurement))) != ATTEST_OK ||
	    (r = b_blob(q, st, 6, a->policy, sizeof(a->policy))) != ATTEST_OK ||
	    (r = b_text(q, st, 7, a->scopes, sizeof(a->scopes))) != ATTEST_OK ||
	    (r = b_text(q, st, 8, a->data_classes, sizeof(a->data_classes))) != ATTEST_OK ||
	    (r = b_int(q, st, 9, a->risk_tier)) != ATTEST_OK ||
	    (r = b_int(q, st, 10, a->risk_score)) != ATTEST_OK ||
	    (r = b_int(q, st, 11, a->delegate_depth)) != ATTEST_OK ||
	    (r = b_int(q, st, 12, a->registered)) != ATTEST_OK ||
	    (r = b_int(q, st, 13, a->approved != 0)) != ATTEST_OK ||
	    (r = b_int(q, st, 14, a->revoked != 0)) != ATTEST_OK ||
	    (r = b_text(q, st, 15, a->revoke_reason, sizeof(a->revoke_reason))) != ATTEST_OK) {
		done(st);
		return r;
	}
	return run_write(q, st, "agent_put", NULL);
}

struct agent_walk {
	int (*cb)(void *arg, const struct vagent *a);
	void *arg;
	struct vagent a; /* 3 KiB: kept off the stack of each row */
};

static int agent_each(sqlite3_stmt *st, void *ctx)
{
	struct agent_walk *w = ctx;
	int r;

	if ((r = agent_row(st, &w->a)) != ATTEST_OK)
		return r;
	return w->cb(w->arg, &w->a);
}

static int sq_agent_list(struct vstore *s, int (*cb)(void *arg, const struct vagent *a), void *arg)
{
	struct sq *q = sq_of(s);
	struct agent_walk *w;
	int r;

	if ((r = enter(q, "agent_list")) != ATTEST_OK)
		return r;
	if (cb == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: agent_list: no callback");
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "store: agent_list");
	w->cb = cb;
	w->arg = arg;
	r = walk(q, q->st[ST_AGENT_LIST], "agent_list", agent_each, w);
	free(w);
	return r;
}

static int sq_agent_list_host(struct vstore *s, const char *host,
			      int (*cb)(void *arg, const struct vagent *a), void *arg)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_AGENT_LIST_HOST];
	struct agent_walk *w;
	int r;

	if ((r = enter(q, "agent_list_host")) != ATTEST_OK ||
	    (r = vstore_arg_name(host, VSTORE_NAME_MAX, "host name")) != ATTEST_OK)
		return r;
	if (cb == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: agent_list_host: no callback");
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "store: agent_list_host");
	w->cb = cb;
	w->arg = arg;
	if ((r = b_text(q, st, 1, host, VSTORE_NAME_MAX)) != ATTEST_OK)
		done(st);
	else
		r = walk(q, st, "agent_list_host", agent_each, w);
	free(w);
	return r;
}

/* ---- reference-value sets ---- */

static int sq_refset_put(struct vstore *s, const char *name, const char *jws, int64_t now)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_REFSET_PUT];
	int r;

	if ((r = enter(q, "refset_put")) != ATTEST_OK ||
	    (r = vstore_arg_name(name, VSTORE_NAME_MAX, "reference set name")) != ATTEST_OK ||
	    (r = vstore_arg_name(jws, VSTORE_JWS_MAX, "reference set")) != ATTEST_OK)
		return r;
	if ((r = b_text(q, st, 1, name, VSTORE_NAME_MAX)) != ATTEST_OK ||
	    (r = b_text(q, st, 2, jws, VSTORE_JWS_MAX)) != ATTEST_OK ||
	    (r = b_int(q, st, 3, now)) != ATTEST_OK) {
		done(st);
		return r;
	}
	return run_write(q, st, "refset_put", NULL);
}

static int sq_refset_set_active(struct vstore *s, const char *name, int active)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_REFSET_ACTIVE];
	int r, changes = 0;

	if ((r = enter(q, "refset_set_active")) != ATTEST_OK ||
	    (r = vstore_arg_name(name, VSTORE_NAME_MAX, "reference set name")) != ATTEST_OK)
		return r;
	if ((r = b_text(q, st, 1, name, VSTORE_NAME_MAX)) != ATTEST_OK ||
	    (r = b_int(q, st, 2, active != 0)) != ATTEST_OK) {
		done(st);
		return r;
	}
	if ((r = run_write(q, st, "refset_set_active", &changes)) != ATTEST_OK)
		return r;
	if (changes == 0)
		return attest_fail(ATTEST_E_NOT_FOUND, "store: no reference set \"%s\"", name);
	return ATTEST_OK;
}

struct refset_walk {
	int (*cb)(void *arg, const struct vrefset *r);
	void *arg;
};

static int refset_each(sqlite3_stmt *st, void *ctx)
{
	struct refset_walk *w = ctx;
	struct vrefset v;
	const unsigned char *t;
	int n, r;

	memset(&v, 0, sizeof(v));
	if ((r = c_name(st, 0, v.name, sizeof(v.name))) != ATTEST_OK)
		return r;
	/* The JWS is handed out in place (valid during the callback only),
	 * with the same checks c_text makes. */
	if (sqlite3_column_type(st, 1) != SQLITE_TEXT)
		return bad_col(st, 1, "not text");
	t = sqlite3_column_text(st, 1);
	n = sqlite3_column_bytes(st, 1);
	if (t == NULL || n < 0)
		return attest_fail(ATTEST_E_NOMEM, "store: read refsets.jws");
	if (n == 0 || (size_t)n >= VSTORE_JWS_MAX)
		return bad_col(st, 1, "empty or over its cap");
	if (memchr(t, '\0', (size_t)n) != NULL)
		return bad_col(st, 1, "holds a NUL byte");
	v.jws = (char *)(uintptr_t)t; /* struct vrefset's field is not const */
	if ((r = c_bool(st, 2, &v.active)) != ATTEST_OK ||
	    (r = c_int(st, 3, INT64_MIN, INT64_MAX, &v.added)) != ATTEST_OK)
		return r;
	return w->cb(w->arg, &v);
}

static int sq_refset_list(struct vstore *s, int active_only,
			  int (*cb)(void *arg, const struct vrefset *r), void *arg)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_REFSET_LIST];
	struct refset_walk w = { cb, arg };
	int r;

	if ((r = enter(q, "refset_list")) != ATTEST_OK)
		return r;
	if (cb == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: refset_list: no callback");
	if ((r = b_int(q, st, 1, active_only != 0)) != ATTEST_OK) {
		done(st);
		return r;
	}
	return walk(q, st, "refset_list", refset_each, &w);
}

/* ---- callers ---- */

static int caller_row(sqlite3_stmt *st, struct vcaller *c)
{
	int64_t role;
	int r;

	memset(c, 0, sizeof(*c));
	if ((r = c_name(st, 0, c->name, sizeof(c->name))) != ATTEST_OK ||
	    (r = c_int(st, 1, VCALLER_RESOURCE, VCALLER_ADMIN, &role)) != ATTEST_OK ||
	    (r = c_blob(st, 2, c->spki_hash, sizeof(c->spki_hash))) != ATTEST_OK ||
	    (r = c_bool(st, 3, &c->revoked)) != ATTEST_OK)
		return r;
	c->role = (enum vcaller_role)role;
	return ATTEST_OK;
}

static int sq_caller_put(struct vstore *s, const struct vcaller *c)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_CALLER_PUT];
	int r;

	if ((r = enter(q, "caller_put")) != ATTEST_OK)
		return r;
	if (c == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: caller_put: no caller");
	if ((r = vstore_arg_name(c->name, sizeof(c->name), "caller name")) != ATTEST_OK)
		return r;
	if (c->role != VCALLER_RESOURCE && c->role != VCALLER_ADMIN)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: caller role %d", (int)c->role);
	if ((r = b_text(q, st, 1, c->name, sizeof(c->name))) != ATTEST_OK ||
	    (r = b_int(q, st, 2, c->role)) != ATTEST_OK ||
	    (r = b_blob(q, st, 3, c->spki_hash, sizeof(c->spki_hash))) != ATTEST_OK ||
	    (r = b_int(q, st, 4, c->revoked != 0)) != ATTEST_OK) {
		done(st);
		return r;
	}
	return run_write(q, st, "caller_put", NULL);
}

static int sq_caller_by_spki(struct vstore *s, const uint8_t spki_hash[32], struct vcaller *out)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_CALLER_BY_SPKI];
	int r, rc;

	memset(out, 0, sizeof(*out));
	if ((r = enter(q, "caller_by_spki")) != ATTEST_OK)
		return r;
	if (spki_hash == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: caller_by_spki: no hash");
	if ((r = b_blob(q, st, 1, spki_hash, 32)) != ATTEST_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = caller_row(st, out);
	else if (rc == SQLITE_DONE)
		r = attest_fail(ATTEST_E_NOT_FOUND, "store: no caller with this SPKI");
	else
		r = db_fail(q->db, "caller_by_spki");
out:
	done(st);
	if (r != ATTEST_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

struct caller_walk {
	int (*cb)(void *arg, const struct vcaller *c);
	void *arg;
};

static int caller_each(sqlite3_stmt *st, void *ctx)
{
	struct caller_walk *w = ctx;
	struct vcaller c;
	int r;

	if ((r = caller_row(st, &c)) != ATTEST_OK)
		return r;
	return w->cb(w->arg, &c);
}

static int sq_caller_list(struct vstore *s, int (*cb)(void *arg, const struct vcaller *c), void *arg)
{
	struct sq *q = sq_of(s);
	struct caller_walk w = { cb, arg };
	int r;

	if ((r = enter(q, "caller_list")) != ATTEST_OK)
		return r;
	if (cb == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: caller_list: no callback");
	return walk(q, q->st[ST_CALLER_LIST], "caller_list", caller_each, &w);
}

/* ---- settings ---- */

static int sq_setting_get(struct vstore *s, const char *key, char *out, size_t outsz)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_SETTING_GET];
	char buf[SETTING_VALUE_MAX];
	int r, rc;

	if (out == NULL || outsz == 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: setting_get: no output buffer");
	out[0] = '\0';
	if ((r = enter(q, "setting_get")) != ATTEST_OK ||
	    (r = vstore_arg_name(key, SETTING_KEY_MAX, "setting key")) != ATTEST_OK)
		return r;
	if ((r = b_text(q, st, 1, key, SETTING_KEY_MAX)) != ATTEST_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = attest_fail(ATTEST_E_NOT_FOUND, "store: no setting \"%s\"", key);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = db_fail(q->db, "setting_get");
		goto out;
	}
	if ((r = c_text(st, 0, buf, sizeof(buf))) != ATTEST_OK)
		goto out;
	if (strlen(buf) >= outsz) {
		r = attest_fail(ATTEST_E_TOO_LARGE, "store: setting \"%s\" over %zu bytes", key,
				outsz - 1);
		goto out;
	}
	memcpy(out, buf, strlen(buf) + 1);
out:
	done(st);
	return r;
}

static int sq_setting_put(struct vstore *s, const char *key, const char *value)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_SETTING_PUT];
	int r;

	if ((r = enter(q, "setting_put")) != ATTEST_OK ||
	    (r = vstore_arg_name(key, SETTING_KEY_MAX, "setting key")) != ATTEST_OK)
		return r;
	if (value == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: setting_put: no value");
	if ((r = b_text(q, st, 1, key, SETTING_KEY_MAX)) != ATTEST_OK ||
	    (r = b_text(q, st, 2, value, SETTING_VALUE_MAX)) != ATTEST_OK) {
		done(st);
		return r;
	}
	return run_write(q, st, "setting_put", NULL);
}

/* ---- replicas (issue 18) ---- */

/* One UPDATE of the row key (text, cap) with an optional second text
 * parameter; no row is ATTEST_E_NOT_FOUND. */
static int update_row(struct sq *q, enum st_id id, const char *what, const char *key, size_t cap,
		      const char *v2, size_t cap2)
{
	sqlite3_stmt *st = q->st[id];
	int r, changes = 0;

	if ((r = enter(q, what)) != ATTEST_OK || (r = vstore_arg_name(key, cap, "name")) != ATTEST_OK)
		return r;
	if ((r = b_text(q, st, 1, key, cap)) != ATTEST_OK ||
	    (v2 != NULL && (r = b_text(q, st, 2, v2, cap2)) != ATTEST_OK)) {
		done(st);
		return r;
	}
	if ((r = run_write(q, st, what, &changes)) != ATTEST_OK)
		return r;
	return changes == 1 ? ATTEST_OK
			    : attest_fail(ATTEST_E_NOT_FOUND, "store: %s: no row \"%.200s\"", what, key);
}

static int sq_host_revoke(struct vstore *s, const char *name, const char *reason)
{
	if (reason == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: host_revoke: no reason");
	return update_row(sq_of(s), ST_HOST_REVOKE, "host_revoke", name, VSTORE_NAME_MAX, reason,
			  VSTORE_REASON_MAX);
}

static int sq_host_reset_ak(struct vstore *s, const char *name)
{
	return update_row(sq_of(s), ST_HOST_RESET_AK, "host_reset_ak", name, VSTORE_NAME_MAX, NULL, 0);
}

static int sq_agent_revoke(struct vstore *s, const char *id, const char *reason)
{
	if (reason == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: agent_revoke: no reason");
	return update_row(sq_of(s), ST_AGENT_REVOKE, "agent_revoke", id, VSTORE_ID_MAX, reason,
			  VSTORE_REASON_MAX);
}

static int sq_agent_approve(struct vstore *s, const char *id)
{
	return update_row(sq_of(s), ST_AGENT_APPROVE, "agent_approve", id, VSTORE_ID_MAX, NULL, 0);
}

static int sq_setting_cas(struct vstore *s, const char *key, const char *expect, const char *value)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[expect == NULL ? ST_SETTING_ADD : ST_SETTING_CAS];
	int r, changes = 0;

	if ((r = enter(q, "setting_cas")) != ATTEST_OK ||
	    (r = vstore_arg_name(key, SETTING_KEY_MAX, "setting key")) != ATTEST_OK)
		return r;
	if (value == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: setting_cas: no value");
	if ((r = b_text(q, st, 1, key, SETTING_KEY_MAX)) != ATTEST_OK ||
	    (expect == NULL && (r = b_text(q, st, 2, value, SETTING_VALUE_MAX)) != ATTEST_OK) ||
	    (expect != NULL && ((r = b_text(q, st, 2, expect, SETTING_VALUE_MAX)) != ATTEST_OK ||
				(r = b_text(q, st, 3, value, SETTING_VALUE_MAX)) != ATTEST_OK))) {
		done(st);
		return r;
	}
	if ((r = run_write(q, st, "setting_cas", &changes)) != ATTEST_OK)
		return r;
	return changes == 1 ? ATTEST_OK
			    : attest_fail(ATTEST_E_EXISTS,
					  "store: setting \"%s\" changed by another writer", key);
}

static int sq_generation_bump(struct vstore *s, uint64_t *out)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_GEN_BUMP];
	char buf[24];
	int r, rc;

	*out = 0;
	if ((r = enter(q, "generation_bump")) != ATTEST_OK)
		return r;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		r = db_fail(q->db, "generation_bump");
		done(st);
		return r;
	}
	r = c_text(st, 0, buf, sizeof(buf));
	if (r == ATTEST_OK && attest_parse_u64(buf, 0, UINT64_MAX, out) != ATTEST_OK)
		r = bad_col(st, 0, "not a decimal generation");
	/* RETURNING: the change is made when the statement runs to its end */
	if (r == ATTEST_OK && (rc = sqlite3_step(st)) != SQLITE_DONE)
		r = db_fail(q->db, "generation_bump");
	done(st);
	return r;
}

static int sq_replica_beat(struct vstore *s, const struct vreplica *rp)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_REPLICA_BEAT];
	int r;

	if ((r = enter(q, "replica_beat")) != ATTEST_OK)
		return r;
	if (rp == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: replica_beat: no replica");
	if ((r = vstore_arg_name(rp->id, sizeof(rp->id), "replica id")) != ATTEST_OK)
		return r;
	if ((r = b_text(q, st, 1, rp->id, sizeof(rp->id))) != ATTEST_OK ||
	    (r = b_text(q, st, 2, rp->log_id, sizeof(rp->log_id))) != ATTEST_OK ||
	    (r = b_int(q, st, 3, rp->started)) != ATTEST_OK || (r = b_int(q, st, 4, rp->beat)) != ATTEST_OK) {
		done(st);
		return r;
	}
	return run_write(q, st, "replica_beat", NULL);
}

struct replica_walk {
	int (*cb)(void *arg, const struct vreplica *r);
	void *arg;
};

static int replica_each(sqlite3_stmt *st, void *ctx)
{
	struct replica_walk *w = ctx;
	struct vreplica rp;
	int r;

	memset(&rp, 0, sizeof(rp));
	if ((r = c_name(st, 0, rp.id, sizeof(rp.id))) != ATTEST_OK ||
	    (r = c_text(st, 1, rp.log_id, sizeof(rp.log_id))) != ATTEST_OK ||
	    (r = c_int(st, 2, INT64_MIN, INT64_MAX, &rp.started)) != ATTEST_OK ||
	    (r = c_int(st, 3, INT64_MIN, INT64_MAX, &rp.beat)) != ATTEST_OK)
		return r;
	return w->cb(w->arg, &rp);
}

static int sq_replica_list(struct vstore *s, int (*cb)(void *arg, const struct vreplica *r), void *arg)
{
	struct sq *q = sq_of(s);
	struct replica_walk w = { cb, arg };
	int r;

	if ((r = enter(q, "replica_list")) != ATTEST_OK)
		return r;
	if (cb == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: replica_list: no callback");
	return walk(q, q->st[ST_REPLICA_LIST], "replica_list", replica_each, &w);
}

static int sq_host_stale(struct vstore *s, int64_t before, unsigned limit,
			 int (*cb)(void *arg, const struct vhost *h), void *arg, uint64_t *count)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_HOST_STALE_COUNT];
	struct host_walk w = { cb, arg };
	int64_t n = 0;
	int r, rc;

	*count = 0;
	if ((r = enter(q, "host_stale")) != ATTEST_OK)
		return r;
	if (cb == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: host_stale: no callback");
	if ((r = b_int(q, st, 1, before)) != ATTEST_OK) {
		done(st);
		return r;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		r = db_fail(q->db, "host_stale");
	else
		r = c_int(st, 0, 0, INT64_MAX, &n);
	done(st);
	if (r != ATTEST_OK)
		return r;
	*count = (uint64_t)n;
	st = q->st[ST_HOST_STALE];
	if ((r = b_int(q, st, 1, before)) != ATTEST_OK || (r = b_int(q, st, 2, limit)) != ATTEST_OK) {
		done(st);
		return r;
	}
	return walk(q, st, "host_stale", host_each, &w);
}

/* ---- agent chains ---- */

static int sq_agent_chain_get(struct vstore *s, const char *id, char *out, size_t outsz)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_CHAIN_GET];
	int r, rc;

	if (out == NULL || outsz < VSTORE_CHAIN_MAX)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: agent_chain_get: output under %d bytes",
				   VSTORE_CHAIN_MAX);
	out[0] = '\0';
	if ((r = enter(q, "agent_chain_get")) != ATTEST_OK ||
	    (r = vstore_arg_name(id, VSTORE_ID_MAX, "agent id")) != ATTEST_OK)
		return r;
	if ((r = b_text(q, st, 1, id, VSTORE_ID_MAX)) != ATTEST_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = attest_fail(ATTEST_E_NOT_FOUND, "store: no chain for agent %.200s", id);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = db_fail(q->db, "agent_chain_get");
		goto out;
	}
	r = c_text(st, 0, out, VSTORE_CHAIN_MAX);
out:
	done(st);
	return r;
}

static int sq_agent_chain_put(struct vstore *s, const char *id, const char *chain)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_CHAIN_PUT];
	int r;

	if ((r = enter(q, "agent_chain_put")) != ATTEST_OK ||
	    (r = vstore_arg_name(id, VSTORE_ID_MAX, "agent id")) != ATTEST_OK)
		return r;
	if (chain == NULL || chain[0] == '\0')
		return attest_fail(ATTEST_E_INVALID_ARG, "store: agent_chain_put: no chain");
	if ((r = b_text(q, st, 1, id, VSTORE_ID_MAX)) != ATTEST_OK ||
	    (r = b_text(q, st, 2, chain, VSTORE_CHAIN_MAX)) != ATTEST_OK) {
		done(st);
		return r;
	}
	return run_write(q, st, "agent_chain_put", NULL);
}

/* ---- behaviour baselines, registration changes ---- */

static int sq_behaviour_put(struct vstore *s, const char *const *keys, const char *const *states,
			    size_t n, int64_t now)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_BEHAVIOUR_PUT];
	int r;

	if ((r = enter(q, "behaviour_put")) != ATTEST_OK)
		return r;
	if (n == 0)
		return ATTEST_OK;
	if (keys == NULL || states == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: behaviour_put: no rows");
	if ((r = tx_begin(q)) != ATTEST_OK)
		return r;
	for (size_t i = 0; i < n && r == ATTEST_OK; i++) {
		if ((r = vstore_arg_name(keys[i], VSTORE_BKEY_MAX, "behaviour key")) != ATTEST_OK ||
		    (r = vstore_arg_name(states[i], VSTORE_BEHAVIOUR_MAX, "behaviour state")) !=
			    ATTEST_OK)
			break;
		if ((r = b_text(q, st, 1, keys[i], VSTORE_BKEY_MAX)) != ATTEST_OK ||
		    (r = b_text(q, st, 2, states[i], VSTORE_BEHAVIOUR_MAX)) != ATTEST_OK ||
		    (r = b_int(q, st, 3, now)) != ATTEST_OK) {
			done(st);
			break;
		}
		r = run_write(q, st, "behaviour_put", NULL);
	}
	return tx_end(q, r);
}

struct bwalk {
	int (*cb)(void *arg, const char *key, const char *state);
	void *arg;
	char *key, *state;
};

static int behaviour_each(sqlite3_stmt *st, void *ctx)
{
	struct bwalk *w = ctx;
	int r;

	if ((r = c_text(st, 0, w->key, VSTORE_BKEY_MAX)) != ATTEST_OK ||
	    (r = c_text(st, 1, w->state, VSTORE_BEHAVIOUR_MAX)) != ATTEST_OK)
		return r;
	return w->cb(w->arg, w->key, w->state);
}

static int sq_behaviour_list(struct vstore *s,
			     int (*cb)(void *arg, const char *key, const char *state), void *arg)
{
	struct sq *q = sq_of(s);
	struct bwalk w = { cb, arg, NULL, NULL };
	int r;

	if ((r = enter(q, "behaviour_list")) != ATTEST_OK)
		return r;
	if (cb == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: behaviour_list: no callback");
	if ((w.key = malloc(VSTORE_BKEY_MAX)) == NULL || (w.state = malloc(VSTORE_BEHAVIOUR_MAX)) == NULL)
		r = attest_fail(ATTEST_E_NOMEM, "store: behaviour_list");
	else
		r = walk(q, q->st[ST_BEHAVIOUR_LIST], "behaviour_list", behaviour_each, &w);
	free(w.key);
	free(w.state);
	return r;
}

static int sq_agent_change_note(struct vstore *s, const char *id, int64_t now)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_CHANGE_NOTE];
	int r;

	if ((r = enter(q, "agent_change_note")) != ATTEST_OK ||
	    (r = vstore_arg_name(id, VSTORE_ID_MAX, "agent id")) != ATTEST_OK)
		return r;
	if ((r = b_text(q, st, 1, id, VSTORE_ID_MAX)) != ATTEST_OK ||
	    (r = b_int(q, st, 2, now)) != ATTEST_OK) {
		done(st);
		return r;
	}
	return run_write(q, st, "agent_change_note", NULL);
}

struct cwalk {
	int (*cb)(void *arg, const char *id, uint64_t changes, int64_t first, int64_t last);
	void *arg;
};

static int change_each(sqlite3_stmt *st, void *ctx)
{
	struct cwalk *w = ctx;
	char id[VSTORE_ID_MAX];
	int64_t n, first, last;
	int r;

	if ((r = c_text(st, 0, id, sizeof(id))) != ATTEST_OK ||
	    (r = c_int(st, 1, 0, INT64_MAX, &n)) != ATTEST_OK ||
	    (r = c_int(st, 2, INT64_MIN, INT64_MAX, &first)) != ATTEST_OK ||
	    (r = c_int(st, 3, INT64_MIN, INT64_MAX, &last)) != ATTEST_OK)
		return r;
	return w->cb(w->arg, id, (uint64_t)n, first, last);
}

static int sq_agent_change_list(struct vstore *s,
				int (*cb)(void *arg, const char *id, uint64_t changes,
					  int64_t first, int64_t last),
				void *arg)
{
	struct sq *q = sq_of(s);
	struct cwalk w = { cb, arg };
	int r;

	if ((r = enter(q, "agent_change_list")) != ATTEST_OK)
		return r;
	if (cb == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: agent_change_list: no callback");
	return walk(q, q->st[ST_CHANGE_LIST], "agent_change_list", change_each, &w);
}

/* ---- host CRLs ---- */

static int sq_host_crls_get(struct vstore *s, const char *host, char *out, size_t outsz)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_CRLS_GET];
	int r, rc;

	if (out == NULL || outsz < VSTORE_CRLS_MAX)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: host_crls_get: output under %d bytes",
				   VSTORE_CRLS_MAX);
	out[0] = '\0';
	if ((r = enter(q, "host_crls_get")) != ATTEST_OK ||
	    (r = vstore_arg_name(host, VSTORE_NAME_MAX, "host name")) != ATTEST_OK)
		return r;
	if ((r = b_text(q, st, 1, host, VSTORE_NAME_MAX)) != ATTEST_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = attest_fail(ATTEST_E_NOT_FOUND, "store: no CRLs of host %s", host);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = db_fail(q->db, "host_crls_get");
		goto out;
	}
	r = c_text(st, 0, out, VSTORE_CRLS_MAX);
out:
	done(st);
	return r;
}

static int sq_host_crls_put(struct vstore *s, const char *host, const char *pem)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_CRLS_PUT];
	int r;

	if ((r = enter(q, "host_crls_put")) != ATTEST_OK ||
	    (r = vstore_arg_name(host, VSTORE_NAME_MAX, "host name")) != ATTEST_OK)
		return r;
	if (pem == NULL || pem[0] == '\0')
		return attest_fail(ATTEST_E_INVALID_ARG, "store: host_crls_put: no CRLs");
	if ((r = b_text(q, st, 1, host, VSTORE_NAME_MAX)) != ATTEST_OK ||
	    (r = b_text(q, st, 2, pem, VSTORE_CRLS_MAX)) != ATTEST_OK) {
		done(st);
		return r;
	}
	return run_write(q, st, "host_crls_put", NULL);
}

/* ---- JWT-SVID keys ---- */

static int jwtk_row(sqlite3_stmt *st, struct vjwtkey *k)
{
	int r;

	memset(k, 0, sizeof(*k));
	if ((r = c_text(st, 0, k->kid, sizeof(k->kid))) != ATTEST_OK ||
	    (r = c_text(st, 1, k->host, sizeof(k->host))) != ATTEST_OK ||
	    (r = c_text(st, 2, k->cert, sizeof(k->cert))) != ATTEST_OK ||
	    (r = c_int(st, 3, INT64_MIN, INT64_MAX, &k->not_after)) != ATTEST_OK ||
	    (r = c_int(st, 4, INT64_MIN, INT64_MAX, &k->seen)) != ATTEST_OK)
		return r;
	return ATTEST_OK;
}

static int sq_jwt_key_get(struct vstore *s, const char *kid, struct vjwtkey *out)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_JWTK_GET];
	int r, rc;

	if ((r = enter(q, "jwt_key_get")) != ATTEST_OK ||
	    (r = vstore_arg_name(kid, VSTORE_KID_MAX, "kid")) != ATTEST_OK)
		return r;
	if ((r = b_text(q, st, 1, kid, VSTORE_KID_MAX)) != ATTEST_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = attest_fail(ATTEST_E_NOT_FOUND, "store: no JWT key %s", kid);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = db_fail(q->db, "jwt_key_get");
		goto out;
	}
	r = jwtk_row(st, out);
out:
	done(st);
	return r;
}

static int sq_jwt_key_put(struct vstore *s, const struct vjwtkey *k)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_JWTK_PUT];
	int r, changes = 0;

	if ((r = enter(q, "jwt_key_put")) != ATTEST_OK ||
	    (r = vstore_arg_name(k->kid, VSTORE_KID_MAX, "kid")) != ATTEST_OK ||
	    (r = vstore_arg_name(k->host, VSTORE_NAME_MAX, "host name")) != ATTEST_OK ||
	    (r = vstore_arg_name(k->cert, VSTORE_JWTCERT_MAX, "JWT key certificate")) != ATTEST_OK)
		return r;
	if ((r = b_text(q, st, 1, k->kid, VSTORE_KID_MAX)) != ATTEST_OK ||
	    (r = b_text(q, st, 2, k->host, VSTORE_NAME_MAX)) != ATTEST_OK ||
	    (r = b_text(q, st, 3, k->cert, VSTORE_JWTCERT_MAX)) != ATTEST_OK ||
	    (r = b_int(q, st, 4, k->not_after)) != ATTEST_OK ||
	    (r = b_int(q, st, 5, k->seen)) != ATTEST_OK) {
		done(st);
		return r;
	}
	if ((r = run_write(q, st, "jwt_key_put", &changes)) != ATTEST_OK)
		return r;
	return changes == 1 ? ATTEST_OK
			    : attest_fail(ATTEST_E_DUPLICATE_KEY,
					  "store: JWT key %s is another host's", k->kid);
}

static int sq_jwt_keys_prune(struct vstore *s, const char *host, int64_t before, long *dropped)
{
	struct sq *q = sq_of(s);
	sqlite3_stmt *st = q->st[ST_JWTK_PRUNE];
	int r, changes = 0;

	*dropped = 0;
	if ((r = enter(q, "jwt_keys_prune")) != ATTEST_OK ||
	    (r = vstore_arg_name(host, VSTORE_NAME_MAX, "host name")) != ATTEST_OK)
		return r;
	if ((r = b_text(q, st, 1, host, VSTORE_NAME_MAX)) != ATTEST_OK ||
	    (r = b_int(q, st, 2, before)) != ATTEST_OK) {
		done(st);
		return r;
	}
	if ((r = run_write(q, st, "jwt_keys_prune", &changes)) == ATTEST_OK)
		*dropped = changes;
	return r;
}

struct jwalk {
	int (*cb)(void *arg, const struct vjwtkey *k);
	void *arg;
	struct vjwtkey k;
};

static int jwtk_each(sqlite3_stmt *st, void *ctx)
{
	struct jwalk *w = ctx;
	int r;

	if ((r = jwtk_row(st, &w->k)) != ATTEST_OK)
		return r;
	return w->cb(w->arg, &w->k);
}

static int sq_jwt_key_list(struct vstore *s, int (*cb)(void *arg, const struct vjwtkey *k),
			   void *arg)
{
	struct sq *q = sq_of(s);
	struct jwalk *w;
	int r;

	if ((r = enter(q, "jwt_key_list")) != ATTEST_OK)
		return r;
	if (cb == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: jwt_key_list: no callback");
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "store: jwt_key_list");
	w->cb = cb;
	w->arg = arg;
	r = walk(q, q->st[ST_JWTK_LIST], "jwt_key_list", jwtk_each, w);
	free(w);
	return r;
}

/* ---- open, migrate, close ---- */

static void sq_close(struct vstore *s)
{
	struct sq *q = sq_of(s);

	if (q == NULL)
		return;
	for (int i = 0; i < ST__COUNT; i++)
		(void)sqlite3_finalize(q->st[i]); /* NULL is a no-op */
	/* All statements are finalized, so this closes (and, as the last
	 * connection, checkpoints the WAL into the database). */
	(void)sqlite3_close(q->db);
	free(q);
}

static const struct vstore_ops sq_ops = {
	.close = sq_close,
	.host_get = sq_host_get,
	.host_put = sq_host_put,
	.host_put_quote = sq_host_put_quote,
	.host_list = sq_host_list,
	.nonce_issue = sq_nonce_issue,
	.nonce_take = sq_nonce_take,
	.nonce_prune = sq_nonce_prune,
	.agent_get = sq_agent_get,
	.agent_put = sq_agent_put,
	.agent_list = sq_agent_list,
	.agent_list_host = sq_agent_list_host,
	.refset_put = sq_refset_put,
	.refset_set_active = sq_refset_set_active,
	.refset_list = sq_refset_list,
	.caller_put = sq_caller_put,
	.caller_by_spki = sq_caller_by_spki,
	.caller_list = sq_caller_list,
	.setting_get = sq_setting_get,
	.setting_put = sq_setting_put,
	.agent_chain_get = sq_agent_chain_get,
	.agent_chain_put = sq_agent_chain_put,
	.host_revoke = sq_host_revoke,
	.host_reset_ak = sq_host_reset_ak,
	.agent_revoke = sq_agent_revoke,
	.agent_approve = sq_agent_approve,
	.setting_cas = sq_setting_cas,
	.generation_bump = sq_generation_bump,
	.replica_beat = sq_replica_beat,
	.replica_list = sq_replica_list,
	.host_stale = sq_host_stale,
	.watch_fd = NULL,
	.watch_drain = NULL,
	.behaviour_put = sq_behaviour_put,
	.behaviour_list = sq_behaviour_list,
	.agent_change_note = sq_agent_change_note,
	.agent_change_list = sq_agent_change_list,
	.host_crls_get = sq_host_crls_get,
	.host_crls_put = sq_host_crls_put,
	.jwt_key_get = sq_jwt_key_get,
	.jwt_key_put = sq_jwt_key_put,
	.jwt_keys_prune = sq_jwt_keys_prune,
	.jwt_key_list = sq_jwt_key_list,
};

/* One-row, one-column query (a PRAGMA, a count) as an integer. */
static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	int r = ATTEST_E_INTERNAL;

	*out = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		r = db_fail(db, sql);
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = db_fail(db, sql);
		goto out;
	}
	if (sqlite3_column_type(st, 0) != SQLITE_INTEGER) {
		r = attest_fail(ATTEST_E_STATE, "store: %s: not an integer", sql);
		goto out;
	}
	*out = sqlite3_column_int64(st, 0);
	r = ATTEST_OK;
out:
	(void)sqlite3_finalize(st);
	return r;
}

static int exec_sql(sqlite3 *db, const char *sql, const char *what)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, what);
	return ATTEST_OK;
}

static int set_wal(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *mode;
	int r = ATTEST_E_INTERNAL;

	/* Switching to WAL needs the database to itself for a moment, and
	 * SQLite answers SQLITE_BUSY at once (no busy handler) while another
	 * process opens it: retry, bounded (about 5 s). */
	for (int tries = 0;; tries++) {
		int rc;

		if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK) {
			r = db_fail(db, "journal_mode");
			goto out;
		}
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			break;
		if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries >= 100) {
			r = db_fail(db, "journal_mode");
			goto out;
		}
		(void)sqlite3_finalize(st);
		st = NULL;
		sqlite3_sleep(50);
	}
	mode = sqlite3_column_text(st, 0);
	if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
		r = attest_fail(ATTEST_E_IO, "store: journal mode is %s, not wal",
				mode != NULL ? (const char *)mode : "unknown");
		goto out;
	}
	r = ATTEST_OK;
out:
	(void)sqlite3_finalize(st);
	return r;
}

/* Brings the schema to SCHEMA_VERSION, one transaction per step. The
 * version is read again inside each step's write transaction, so two
 * verifiers opening one file at once apply each step once. */
static int migrate(sqlite3 *db)
{
	char sql[64];
	int64_t uv, n, app;
	int r;

	if ((r = query_int(db, "PRAGMA user_version", &uv)) != ATTEST_OK)
		return r;
	if (uv > SCHEMA_VERSION || uv < 0)
		return attest_fail(ATTEST_E_STATE,
				   "store: database schema version %" PRId64
				   " is newer than this verifier's (%d)",
				   uv, SCHEMA_VERSION);
	if (uv > 0) {
		/* no step runs on a database that is not ours */
		if ((r = query_int(db, "PRAGMA application_id", &app)) != ATTEST_OK)
			return r;
		if (app != APPLICATION_ID)
			return attest_fail(ATTEST_E_STATE,
					   "store: application id %" PRId64 " is not attest-verifier's",
					   app);
	}
	for (size_t i = 0; i < NMIGRATIONS; i++) {
		const struct migration *m = &migrations[i];

		if ((r = exec_sql(db, "BEGIN IMMEDIATE", "begin migration")) != ATTEST_OK)
			return r;
		if ((r = query_int(db, "PRAGMA user_version", &uv)) != ATTEST_OK)
			goto step_out;
		if (uv >= m->version)
			goto step_out; /* applied (perhaps just now, by another opener) */
		if (uv != m->version - 1) {
			r = attest_fail(ATTEST_E_STATE, "store: schema version %" PRId64
					" has no step to %d", uv, m->version);
			goto step_out;
		}
		/* Version 0: the file must be empty, not someone else's. */
		if (uv == 0) {
			if ((r = query_int(db, "SELECT count(*) FROM sqlite_schema", &n)) != ATTEST_OK)
				goto step_out;
			if (n != 0) {
				r = attest_fail(ATTEST_E_STATE,
						"store: database has %" PRId64
						" schema objects but no schema version; not ours",
						n);
				goto step_out;
			}
		}
		if ((r = exec_sql(db, m->sql, "migration")) != ATTEST_OK)
			goto step_out;
		(void)snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", m->version);
		r = exec_sql(db, sql, "set schema version");
step_out:
		if (r == ATTEST_OK)
			r = exec_sql(db, "COMMIT", "commit migration");
		if (r != ATTEST_OK) {
			if (!sqlite3_get_autocommit(db))
				(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return r;
		}
	}
	if ((r = query_int(db, "PRAGMA application_id", &app)) != ATTEST_OK)
		return r;
	if (app != APPLICATION_ID)
		return attest_fail(ATTEST_E_STATE,
				   "store: application id %" PRId64 " is not attest-verifier's", app);
	return ATTEST_OK;
}

/* Creates the file 0600 (or checks an existing one) without following a
 * symlink, so SQLite never creates it with the umask's mode. A new file's
 * directory entry is made durable before anything is committed in it. */
static int prepare_file(const char *path, int create)
{
	struct stat st;
	int fd = -1, created = 0, r = ATTEST_E_INTERNAL;

	errno = EEXIST;
	if (create && (fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				 0600)) >= 0)
		created = 1;
	else if (errno == EEXIST)
		fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ELOOP)
			return attest_fail(ATTEST_E_IO, "store: %s is a symlink", path);
		if (errno == ENOENT && !create)
			return attest_fail(ATTEST_E_STORE_DAMAGED,
					   "store: %s does not exist (deleted?); only "
					   "'attest-verifier init' creates a store",
					   path);
		return attest_fail(ATTEST_E_IO, "store: open %s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) != 0) {
		r = attest_fail(ATTEST_E_IO, "store: stat %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = attest_fail(ATTEST_E_IO, "store: %s is not a regular file", path);
		goto out;
	}
	if (created && fchmod(fd, 0600) != 0) {
		r = attest_fail(ATTEST_E_IO, "store: chmod %s: %s", path, strerror(errno));
		goto out;
	}
	/* Others could rewrite host state: refuse, never chmod behind the
	 * operator's back (as attest_dir_ensure does). SQLite gives the -wal
	 * and -shm files the database's mode. */
	if (!created && (st.st_mode & 0077) != 0) {
		r = attest_fail(ATTEST_E_IO, "store: %s has mode %04o; it must be 0600 or stricter",
				path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (!create && st.st_size == 0) {
		r = attest_fail(ATTEST_E_STORE_DAMAGED,
				"store: %s is empty (truncated?); only 'attest-verifier init' "
				"creates a store",
				path);
		goto out;
	}
	r = created ? attest_dir_sync(path) : ATTEST_OK;
out:
	(void)close(fd);
	return r;
}

/* The tables quick_check reads at start: the fleet-wide state a verifier
 * serves from (callers, reference sets, settings with the marker, host
 * rows: one per host). The inventory tables (agents, agent_chains) and
 * the nonces grow with the agents, not the hosts, and are not read at
 * start (issue 18 item 4: a store of 1M agents opens in the time its
 * other tables take); a damaged page of theirs is SQLITE_CORRUPT, so
 * ATTEST_E_STORE_DAMAGED, when a request reads it. */
static const char *const start_checked[] = { "settings", "callers", "refsets", "hosts", NULL };

static int quick_check_table(sqlite3 *db, const char *path, const char *table)
{
	char sql[64];
	sqlite3_stmt *st = NULL;
	int rc, r = ATTEST_E_INTERNAL;

	(void)snprintf(sql, sizeof(sql), "PRAGMA quick_check(%s)", table);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		r = db_fail(db, "quick_check");
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		r = db_fail(db, "quick_check");
		goto out;
	}
	{
		const unsigned char *t = sqlite3_column_text(st, 0);

		if (t == NULL || strcmp((const char *)t, "ok") != 0) {
			char why[201];

			/* its first line(s), on one line of ours */
			(void)snprintf(why, sizeof(why), "%s",
				       t != NULL ? (const char *)t : "no answer");
			for (char *c = why; *c != '\0'; c++)
				if (*c == '\n' || *c == '\r')
					*c = ' ';
			r = attest_fail(ATTEST_E_STORE_DAMAGED,
					"store: %s fails its integrity check (%s): %s", path, table,
					why);
			goto out;
		}
	}
	r = ATTEST_OK;
out:
	(void)sqlite3_finalize(st);
	return r;
}

/* The checks of an existing store before anything is written to it: it
 * has a schema version (an empty or truncated file has none), SQLite's
 * quick_check finds the pages and records of the start_checked tables
 * well-formed. */
static int check_existing(sqlite3 *db, const char *path)
{
	int64_t uv;
	int r;

	if ((r = query_int(db, "PRAGMA user_version", &uv)) != ATTEST_OK)
		return r;
	if (uv <= 0)
		return attest_fail(ATTEST_E_STORE_DAMAGED,
				   "store: %s has no schema (emptied or never initialised); only "
				   "'attest-verifier init' creates a store",
				   path);
	for (size_t i = 0; start_checked[i] != NULL; i++)
		if ((r = quick_check_table(db, path, start_checked[i])) != ATTEST_OK)
			return r;
	return ATTEST_OK;
}

/* After migrations: the marker row init's schema wrote is there. */
static int check_marker(sqlite3 *db, const char *path)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *t;
	int r = ATTEST_E_INTERNAL;

	if (sqlite3_prepare_v2(db, "SELECT value FROM settings WHERE key = '" VSTORE_MARKER_KEY "'",
			       -1, &st, NULL) != SQLITE_OK) {
		r = db_fail(db, "marker");
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_type(st, 0) != SQLITE_TEXT ||
	    (t = sqlite3_column_text(st, 0)) == NULL ||
	    strcmp((const char *)t, VSTORE_MARKER_VALUE) != 0) {
		r = attest_fail(ATTEST_E_STORE_DAMAGED,
				"store: %s lacks the marker row 'attest-verifier init' writes "
				"(rows deleted or another file)",
				path);
		goto out;
	}
	r = ATTEST_OK;
out:
	(void)sqlite3_finalize(st);
	return r;
}

static int open_store(const char *path, int create, struct vstore **out)
{
	struct sq *q = NULL;
	int64_t fk;
	int r = ATTEST_E_INTERNAL;

	if (out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: no output");
	*out = NULL;
	if (path == NULL || path[0] == '\0')
		return attest_fail(ATTEST_E_INVALID_ARG, "store: no database path");
	if ((r = prepare_file(path, create)) != ATTEST_OK)
		return r;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "store: open");
	q->base.ops = &sq_ops;
	/* No CREATE: prepare_file made it. NOFOLLOW: a symlink swapped in
	 * since is refused by SQLite too. NOMUTEX: one thread per vstore. */
	if (sqlite3_open_v2(path, &q->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW |
				    SQLITE_OPEN_PRIVATECACHE | SQLITE_OPEN_EXRESCODE,
			    NULL) != SQLITE_OK) {
		if (q->db == NULL)
			r = attest_fail(ATTEST_E_NOMEM, "store: open %s", path);
		else
			r = attest_fail(ATTEST_E_IO, "store: open %s: %s", path,
					sqlite3_errmsg(q->db));
		goto out;
	}
	/* The file is not trusted to carry code: no schema-defined functions
	 * in views or triggers, no writes to sqlite_schema. */
	if (sqlite3_db_config(q->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) != SQLITE_OK ||
	    sqlite3_db_config(q->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL) != SQLITE_OK) {
		r = db_fail(q->db, "configure");
		goto out;
	}
	if (sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS) != SQLITE_OK) {
		r = db_fail(q->db, "busy timeout");
		goto out;
	}
	if (!create && (r = check_existing(q->db, path)) != ATTEST_OK)
		goto out;
	if ((r = set_wal(q->db)) != ATTEST_OK ||
	    (r = exec_sql(q->db, "PRAGMA synchronous = FULL", "synchronous")) != ATTEST_OK ||
	    (r = exec_sql(q->db, "PRAGMA foreign_keys = ON", "foreign_keys")) != ATTEST_OK ||
	    (r = query_int(q->db, "PRAGMA foreign_keys", &fk)) != ATTEST_OK)
		goto out;
	if (fk != 1) {
		r = attest_fail(ATTEST_E_IO, "store: SQLite without foreign keys");
		goto out;
	}
	if ((r = migrate(q->db)) != ATTEST_OK ||
	    (!create && (r = check_marker(q->db, path)) != ATTEST_OK))
		goto out;
	for (int i = 0; i < ST__COUNT; i++) {
		if (sqlite3_prepare_v3(q->db, st_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &q->st[i],
				       NULL) != SQLITE_OK) {
			r = db_fail(q->db, "prepare");
			goto out;
		}
	}
	*out = &q->base;
	q = NULL; /* transferred */
	r = ATTEST_OK;
out:
	if (q != NULL)
		sq_close(&q->base);
	return r;
}

int vstore_sqlite_open(const char *path, struct vstore **out)
{
	return open_store(path, 1, out);
}

int vstore_sqlite_open_existing(const char *path, struct vstore **out)
{
	return open_store(path, 0, out);
}
