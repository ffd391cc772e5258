/* store_pg.c - the verifier's store on PostgreSQL through libpq
 * (docs/verifier-store.md, "PostgreSQL").
 *
 * The same contract as store_sqlite.c: one struct pgs per connection, used
 * from one thread at a time; every op is one transaction (one statement in
 * autocommit, or BEGIN ... COMMIT); nonce_take is one conditional UPDATE
 * whose affected-row count decides; every statement is prepared once per
 * connection. Results come back in binary format and every column is
 * checked against its type OID and length before it is decoded: a row
 * that does not fit its struct (a column whose type was altered, a 31-byte
 * hash, a counter that is not a strict decimal 64-bit number, text longer
 * than its field) is ATTEST_E_STORE_DAMAGED and the output is zeroed.
 * libpq's notices are swallowed (libattest-style code never prints).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/err.h"
#include "core/num.h"
#include "store.h"

#define APP_NAME "attest-verifier"
#define ADVISORY_KEY "1096046163" /* "ATVS", as the SQLite application_id */
#define SETTING_KEY_MAX VSTORE_NAME_MAX
#define SETTING_VALUE_MAX VSTORE_LIST_MAX
#define MAX_PARAMS 17

/* type OIDs (pg_type.h; stable since forever) */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25

/* ---- schema ----
 *
 * Numbered steps, as in store_sqlite.c: step n takes attest_schema.version
 * from n - 1 to n in its own transaction, under an advisory lock so that
 * verifiers opening one database at once apply each step once. Never edit
 * a step that has shipped: add one. The CHECKs repeat what the code
 * validates; the reading code checks again, since whoever can write the
 * database can drop a constraint. */
struct migration {
	int version;
	const char *sql;
};

static const struct migration migrations[] = {
	{ 1,
	  "CREATE TABLE attest_schema ("
	  " id INTEGER PRIMARY KEY CHECK (id = 1),"
	  " version INTEGER NOT NULL,"
	  " application TEXT NOT NULL);"
	  "INSERT INTO attest_schema (id, version, application) VALUES (1, 0, '" APP_NAME "');"
	  "CREATE TABLE hosts ("
	  " name TEXT PRIMARY KEY CHECK (octet_length(name) BETWEEN 1 AND 63),"
	  " state INTEGER NOT NULL CHECK (state IN (0, 1, 2)),"
	  " reason_code INTEGER NOT NULL CHECK (reason_code >= 0),"
	  " reason TEXT NOT NULL CHECK (octet_length(reason) < 256),"
	  " last_good BIGINT NOT NULL,"
	  " last_quote BIGINT NOT NULL,"
	  " have_clock BOOLEAN NOT NULL,"
	  " reset_count BIGINT NOT NULL CHECK (reset_count BETWEEN 0 AND 4294967295),"
	  " restart_count BIGINT NOT NULL CHECK (restart_count BETWEEN 0 AND 4294967295),"
	  " clock TEXT NOT NULL CHECK (clock ~ '^(0|[1-9][0-9]{0,19})$'),"
	  " boots TEXT NOT NULL CHECK (boots ~ '^(0|[1-9][0-9]{0,19})$'),"
	  " unsafe_seen BOOLEAN NOT NULL,"
	  " refset TEXT NOT NULL CHECK (octet_length(refset) < 64),"
	  " revoked BOOLEAN NOT NULL,"
	  " revoke_reason TEXT NOT NULL CHECK (octet_length(revoke_reason) < 256));"
	  "CREATE TABLE nonces ("
	  " nonce BYTEA PRIMARY KEY CHECK (octet_length(nonce) = 32),"
	  " host TEXT NOT NULL CHECK (octet_length(host) BETWEEN 1 AND 63),"
	  " expires BIGINT NOT NULL,"
	  " used BOOLEAN NOT NULL);"
	  "CREATE INDEX nonces_expires ON nonces (expires);"
	  "CREATE TABLE agents ("
	  " id TEXT PRIMARY KEY CHECK (octet_length(id) BETWEEN 1 AND 399),"
	  " host TEXT NOT NULL REFERENCES hosts (name),"
	  " uuid TEXT NOT NULL CHECK (octet_length(uuid) < 40),"
	  " agent_ca_hash BYTEA NOT NULL CHECK (octet_length(agent_ca_hash) = 32),"
	  " measurement BYTEA NOT NULL CHECK (octet_length(measurement) = 32),"
	  " policy BYTEA NOT NULL CHECK (octet_length(policy) = 32),"
	  " scopes TEXT NOT NULL CHECK (octet_length(scopes) < 1024),"
	  " data_classes TEXT NOT NULL CHECK (octet_length(data_classes) < 1024),"
	  " risk_tier INTEGER NOT NULL CHECK (risk_tier BETWEEN 0 AND 3),"
	  " risk_score INTEGER NOT NULL CHECK (risk_score BETWEEN 0 AND 100),"
	  " delegate_depth INTEGER NOT NULL CHECK (delegate_depth BETWEEN 0 AND 3),"
	  " registered BIGINT NOT NULL,"
	  " approved BOOLEAN NOT NULL,"
	  " revoked BOOLEAN NOT NULL,"
	  " revoke_reason TEXT NOT NULL CHECK (octet_length(revoke_reason) < 256));"
	  "CREATE INDEX agents_host ON agents (host);"
	  "CREATE TABLE refsets ("
	  " name TEXT PRIMARY KEY CHECK (octet_length(name) BETWEEN 1 AND 63),"
	  " jws TEXT NOT NULL CHECK (octet_length(jws) BETWEEN 1 AND 1048575),"
	  " active BOOLEAN NOT NULL,"
	  " added BIGINT NOT NULL);"
	  "CREATE TABLE callers ("
	  " name TEXT PRIMARY KEY CHECK (octet_length(name) BETWEEN 1 AND 63),"
	  " role INTEGER NOT NULL CHECK (role IN (1, 2)),"
	  " spki_hash BYTEA NOT NULL UNIQUE CHECK (octet_length(spki_hash) = 32),"
	  " revoked BOOLEAN NOT NULL);"
	  "CREATE TABLE settings ("
	  " key TEXT PRIMARY KEY CHECK (octet_length(key) BETWEEN 1 AND 63),"
	  " value TEXT NOT NULL CHECK (octet_length(value) < 1024));" },
	/* the marker: serve refuses a store without it */
	{ 2, "INSERT INTO settings (key, value) VALUES ('" VSTORE_MARKER_KEY "', '"
	     VSTORE_MARKER_VALUE "');" },
	/* the chain above each agent's leaf (issue 15) */
	{ 3, "CREATE TABLE agent_chains ("
	     " id TEXT PRIMARY KEY CHECK (octet_length(id) BETWEEN 1 AND 399),"
	     " chain TEXT NOT NULL CHECK (octet_length(chain) BETWEEN 1 AND "
	     VSTORE_CHAIN_MAX_STR "));" },
	/* behaviour baselines and registration changes (issue 19) */
	{ 4, "CREATE TABLE behaviour ("
	     " key TEXT PRIMARY KEY CHECK (octet_length(key) BETWEEN 3 AND " VSTORE_BKEY_MAX_STR "),"
	     " state TEXT NOT NULL CHECK (octet_length(state) BETWEEN 2 AND "
	     VSTORE_BEHAVIOUR_MAX_STR "),"
	     " updated BIGINT NOT NULL);"
	     "CREATE TABLE agent_changes ("
	     " id TEXT PRIMARY KEY CHECK (octet_length(id) BETWEEN 1 AND 399),"
	     " changes BIGINT NOT NULL CHECK (changes >= 0),"
	     " first_change BIGINT NOT NULL,"
	     " last_change BIGINT NOT NULL);" },
	/* replicas (issue 18): heartbeats and audit log ids; stale hosts */
	{ 5, "CREATE TABLE replicas ("
	     " id TEXT PRIMARY KEY CHECK (octet_length(id) BETWEEN 1 AND 63),"
	     " log_id TEXT NOT NULL CHECK (octet_length(log_id) < 64),"
	     " started BIGINT NOT NULL,"
	     " beat BIGINT NOT NULL);"
	     "CREATE INDEX hosts_last_good ON hosts (last_good);" },
	/* each host's CRLs as its last verified report carried them (issue 15) */
	{ 6, "CREATE TABLE host_crls ("
	     " host TEXT PRIMARY KEY CHECK (octet_length(host) BETWEEN 1 AND 63),"
	     " pem TEXT NOT NULL CHECK (octet_length(pem) BETWEEN 1 AND "
	     VSTORE_CRLS_MAX_STR "));" },
	/* each host's JWT-SVID signing keys (issue 14; store_sqlite.c) */
	{ 7, "CREATE TABLE jwt_keys ("
	     " kid TEXT PRIMARY KEY CHECK (octet_length(kid) BETWEEN 1 AND " VSTORE_KID_MAX_STR "),"
	     " host TEXT NOT NULL CHECK (octet_length(host) BETWEEN 1 AND 63),"
	     " cert TEXT NOT NULL CHECK (octet_length(cert) BETWEEN 1 AND "
	     VSTORE_JWTCERT_MAX_STR "),"
	     " not_after BIGINT NOT NULL,"
	     " seen BIGINT NOT NULL);"
	     "CREATE INDEX jwt_keys_host ON jwt_keys (host);" },
	/* { 8, "ALTER TABLE ...;" }, */
};

#define NMIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))
#define SCHEMA_VERSION (migrations[NMIGRATIONS - 1].version)

/* ---- prepared statements ---- */


enum st_id {
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

struct stdef {
	const char *sql;
	int nparams;
	Oid types[MAX_PARAMS];
};

#define T OID_TEXT
#define B OID_BYTEA
#define I4 OID_INT4
#define I8 OID_INT8
#define BO OID_BOOL

static const struct stdef st_def[ST__COUNT] = {
	[ST_HOST_GET] = { "SELECT " VSTORE_HOST_COLS " FROM hosts WHERE name = $1", 1, { T } },
	[ST_HOST_PUT] = { "INSERT INTO hosts (" VSTORE_HOST_COLS ") VALUES "
			  "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) "
			  "ON CONFLICT (name) DO UPDATE SET state = excluded.state, "
			  "reason_code = excluded.reason_code, reason = excluded.reason, "
			  "last_good = excluded.last_good, last_quote = excluded.last_quote, "
			  "have_clock = excluded.have_clock, reset_count = excluded.reset_count, "
			  "restart_count = excluded.restart_count, clock = excluded.clock, "
			  "boots = excluded.boots, unsafe_seen = excluded.unsafe_seen, "
			  "refset = excluded.refset, revoked = excluded.revoked, "
			  "revoke_reason = excluded.revoke_reason",
			  15, { T, I4, I4, T, I8, I8, BO, I8, I8, T, T, BO, T, BO, T } },
	/* compare-and-swap on the counters the caller appraised against;
	 * revoked and revoke_reason stay as stored */
	[ST_HOST_PUT_QUOTE] = { "UPDATE hosts SET state = $2, reason_code = $3, reason = $4, "
				"last_good = $5, last_quote = $6, have_clock = $7, "
				"reset_count = $8, restart_count = $9, clock = $10, boots = $11, "
				"unsafe_seen = $12, refset = $13 WHERE name = $1 AND "
				"have_clock = $14 AND reset_count = $15 AND restart_count = $16 AND "
				"clock = $17",
				17, { T, I4, I4, T, I8, I8, BO, I8, I8, T, T, BO, T, BO, I8, I8, T } },
	[ST_HOST_LIST] = { "SELECT " VSTORE_HOST_COLS " FROM hosts ORDER BY name COLLATE \"C\"", 0, { 0 } },
	[ST_NONCE_ISSUE] = { "INSERT INTO nonces (nonce, host, expires, used) "
			     "VALUES ($1, $2, $3, FALSE)", 3, { B, T, I8 } },
	[ST_NONCE_TAKE] = { "UPDATE nonces SET used = TRUE "
			    "WHERE nonce = $1 AND NOT used AND host = $2 AND expires > $3",
			    3, { B, T, I8 } },
	[ST_NONCE_WHY] = { "SELECT host, used, expires FROM nonces WHERE nonce = $1", 1, { B } },
	[ST_NONCE_PRUNE] = { "DELETE FROM nonces WHERE expires <= $1", 1, { I8 } },
	[ST_AGENT_GET] = { "SELECT " VSTORE_AGENT_COLS " FROM agents WHERE id = $1", 1, { T } },
	[ST_AGENT_PUT] = { "INSERT INTO agents (" VSTORE_AGENT_COLS ") VALUES "
			   "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) "
			   "ON CONFLICT (id) DO UPDATE SET host = excluded.host, "
			   "uuid = excluded.uuid, agent_ca_hash = excluded.agent_ca_hash, "
			   "measurement = excluded.measurement, policy = excluded.policy, "
			   "scopes = excluded.scopes, data_classes = excluded.data_classes, "
			   "risk_tier = excluded.risk_tier, risk_score = excluded.risk_score, "
			   "delegate_depth = excluded.delegate_depth, "
			   "registered = excluded.registered, approved = excluded.approved, "
			   "revoked = excluded.revoked, revoke_reason = excluded.revoke_reason",
			   15, { T, T, T, B, B, B, T, T, I4, I4, I4, I8, BO, BO, T } },
	[ST_AGENT_LIST] = { "SELECT " VSTORE_AGENT_COLS " FROM agents ORDER BY id COLLATE \"C\"", 0, { 0 } },
	[ST_REFSET_PUT] = { "INSERT INTO refsets (name, jws, active, added) VALUES ($1, $2, TRUE, $3) "
			    "ON CONFLICT (name) DO UPDATE SET jws = excluded.jws, "
			    "added = excluded.added", 3, { T, T, I8 } },
	[ST_REFSET_ACTIVE] = { "UPDATE refsets SET active = $2 WHERE name = $1", 2, { T, BO } },
	[ST_REFSET_LIST] = { "SELECT name, jws, active, added FROM refsets "
			     "WHERE NOT $1 OR active ORDER BY name COLLATE \"C\"", 1, { BO } },
	[ST_CALLER_PUT] = { "INSERT INTO callers (" VSTORE_CALLER_COLS ") VALUES ($1, $2, $3, $4) "
			    "ON CONFLICT (name) DO UPDATE SET role = excluded.role, "
			    "spki_hash = excluded.spki_hash, revoked = excluded.revoked",
			    4, { T, I4, B, BO } },
	[ST_CALLER_BY_SPKI] = { "SELECT " VSTORE_CALLER_COLS " FROM callers WHERE spki_hash = $1", 1, { B } },
	[ST_CALLER_LIST] = { "SELECT " VSTORE_CALLER_COLS " FROM callers ORDER BY name COLLATE \"C\"", 0,
			     { 0 } },
	[ST_SETTING_GET] = { "SELECT value FROM settings WHERE key = $1", 1, { T } },
	[ST_SETTING_PUT] = { "INSERT INTO settings (key, value) VALUES ($1, $2) "
			     "ON CONFLICT (key) DO UPDATE SET value = excluded.value", 2, { T, T } },
	[ST_CHAIN_GET] = { "SELECT chain FROM agent_chains WHERE id = $1", 1, { T } },
	[ST_CHAIN_PUT] = { "INSERT INTO agent_chains (id, chain) VALUES ($1, $2) "
			   "ON CONFLICT (id) DO UPDATE SET chain = excluded.chain", 2, { T, T } },
	/* column updates (issue 18): a concurrent quote's columns stay */
	[ST_HOST_REVOKE] = { "UPDATE hosts SET revoked = TRUE, revoke_reason = $2 WHERE name = $1",
			     2, { T, T } },
	[ST_HOST_RESET_AK] = { "UPDATE hosts SET state = 0, reason_code = 0, reason = '', "
			       "last_good = 0, have_clock = FALSE, reset_count = 0, "
			       "restart_count = 0, clock = '0' WHERE name = $1", 1, { T } },
	[ST_AGENT_REVOKE] = { "UPDATE agents SET revoked = TRUE, revoke_reason = $2 WHERE id = $1",
			      2, { T, T } },
	[ST_AGENT_APPROVE] = { "UPDATE agents SET approved = TRUE WHERE id = $1", 1, { T } },
	[ST_SETTING_ADD] = { "INSERT INTO settings (key, value) VALUES ($1, $2) "
			     "ON CONFLICT (key) DO NOTHING", 2, { T, T } },
	[ST_SETTING_CAS] = { "UPDATE settings SET value = $3 WHERE key = $1 AND value = $2", 3,
			     { T, T, T } },
	/* the new value, and a NOTIFY every LISTENing replica gets at commit */
	[ST_GEN_BUMP] = { "WITH g AS (INSERT INTO settings (key, value) VALUES ('"
			  VSTORE_GENERATION_KEY "', '1') ON CONFLICT (key) DO UPDATE SET value = "
			  "(settings.value::numeric + 1)::text RETURNING value) "
			  "SELECT value, pg_notify('" VSTORE_NOTIFY_CHANNEL "', value) FROM g", 0, { 0 } },
	[ST_REPLICA_BEAT] = { "INSERT INTO replicas (id, log_id, started, beat) VALUES ($1, $2, $3, $4) "
			      "ON CONFLICT (id) DO UPDATE SET log_id = excluded.log_id, "
			      "started = excluded.started, beat = excluded.beat", 4, { T, T, I8, I8 } },
	[ST_REPLICA_LIST] = { "SELECT id, log_id, started, beat FROM replicas ORDER BY id COLLATE \"C\"",
			      0, { 0 } },
	[ST_HOST_STALE] = { "SELECT " VSTORE_HOST_COLS " FROM hosts WHERE NOT revoked AND "
			    "last_good < $1 ORDER BY last_good, name COLLATE \"C\" LIMIT $2", 2, { I8, I8 } },
	[ST_HOST_STALE_COUNT] = { "SELECT count(*) FROM hosts WHERE NOT revoked AND last_good < $1",
				  1, { I8 } },
	[ST_CRLS_GET] = { "SELECT pem FROM host_crls WHERE host = $1", 1, { T } },
	[ST_JWTK_GET] = { "SELECT kid, host, cert, not_after, seen FROM jwt_keys WHERE kid = $1", 1,
			  { T } },
	[ST_JWTK_PUT] = { "INSERT INTO jwt_keys (kid, host, cert, not_after, seen) "
			  "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kid) DO UPDATE SET "
			  "seen = excluded.seen WHERE jwt_keys.host = excluded.host", 5,
			  { T, T, T, I8, I8 } },
	[ST_JWTK_PRUNE] = { "DELETE FROM jwt_keys WHERE host = $1 AND seen < $2", 2, { T, I8 } },
	[ST_JWTK_LIST] = { "SELECT kid, host, cert, not_after, seen FROM jwt_keys "
			   "ORDER BY kid COLLATE \"C\"", 0, { 0 } },
	[ST_CRLS_PUT] = { "INSERT INTO host_crls (host, pem) VALUES ($1, $2) "
			  "ON CONFLICT (host) DO UPDATE SET pem = excluded.pem", 2, { T, T } },
	[ST_BEHAVIOUR_PUT] = { "INSERT INTO behaviour (key, state, updated) VALUES ($1, $2, $3) "
			       "ON CONFLICT (key) DO UPDATE SET state = excluded.state, "
			       "updated = excluded.updated", 3, { T, T, I8 } },
	[ST_BEHAVIOUR_LIST] = { "SELECT key, state FROM behaviour ORDER BY key COLLATE \"C\"", 0,
				{ 0 } },
	[ST_CHANGE_NOTE] = { "INSERT INTO agent_changes (id, changes, first_change, last_change) "
			     "VALUES ($1, 1, $2, $2) ON CONFLICT (id) DO UPDATE SET "
			     "changes = agent_changes.changes + 1, last_change = excluded.last_change",
			     2, { T, I8 } },
	[ST_CHANGE_LIST] = { "SELECT id, changes, first_change, last_change FROM agent_changes "
			     "ORDER BY id COLLATE \"C\"", 0, { 0 } },
	/* one host's agents through the index on host (issue 18 item 4) */
	[ST_AGENT_LIST_HOST] = { "SELECT " VSTORE_AGENT_COLS " FROM agents WHERE host = $1 "
				 "ORDER BY id COLLATE \"C\"", 1, { T } },
};

#undef T
#undef B
#undef I4
#undef I8
#undef BO

struct pgs {
	struct vstore base; /* first: a struct vstore * is a struct pgs * */
	PGconn *c;
	PGconn *w;      /* the LISTEN connection (watch_fd), made on first use */
	char *conninfo; /* to make it */
	int in_cb; /* inside a list callback: the store refuses calls */
};

static struct pgs *pg_of(struct vstore *s)
{
	return (struct pgs *)s;
}

/* The parameters of one statement: text values as text, bytea as binary;
 * numbers are formatted into num[]. */
struct params {
	int n;
	const char *v[MAX_PARAMS];
	int len[MAX_PARAMS];
	int fmt[MAX_PARAMS];
	char num[MAX_PARAMS][24];
};

/* ---- errors ---- */

/* libpq's message on one line, without its trailing newline. */
static void one_line(const char *in, char *out, size_t outsz)
{
	(void)snprintf(out, outsz, "%s", in != NULL && in[0] != '\0' ? in : "unknown error");
	for (char *p = out; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	for (size_t n = strlen(out); n > 0 && out[n - 1] == ' '; n--)
		out[n - 1] = '\0';
}

/* The error mapping of docs/verifier-store.md: foreign key ->
 * ATTEST_E_HOST_UNKNOWN, unique -> ATTEST_E_EXISTS, data or index
 * corruption -> ATTEST_E_STORE_DAMAGED (as SQLITE_CORRUPT), anything else
 * ATTEST_E_IO with the server's message. */
static int res_fail(struct pgs *q, const PGresult *res, const char *what)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char msg[400];

	one_line(res != NULL && PQresultErrorMessage(res)[0] != '\0' ? PQresultErrorMessage(res)
								     : PQerrorMessage(q->c),
		 msg, sizeof(msg));
	if (state != NULL && strcmp(state, "23503") == 0)
		return attest_fail(ATTEST_E_HOST_UNKNOWN, "store: %s: %s", what, msg);
	if (state != NULL && strcmp(state, "23505") == 0)
		return attest_fail(ATTEST_E_EXISTS, "store: %s: %s", what, msg);
	if (state != NULL && (strcmp(state, "XX001") == 0 || strcmp(state, "XX002") == 0))
		return attest_fail(ATTEST_E_STORE_DAMAGED, "store: %s: %s", what, msg);
	return attest_fail(ATTEST_E_IO, "store: %s: %s", what, msg);
}

static int enter(struct pgs *q, const char *what);
static void no_notices(void *arg, const char *message);

/* ---- parameters (every one checked) ---- */

static int p_text(struct params *p, const char *v, size_t cap)
{
	size_t n = strnlen(v, cap);
	int i = p->n;

	if (i >= MAX_PARAMS)
		return attest_fail(ATTEST_E_INTERNAL, "store: too many parameters");
	if (n == cap)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: parameter %d over %zu bytes", i + 1,
				   cap - 1);
	p->v[i] = v;
	p->len[i] = (int)n;
	p->fmt[i] = 0;
	p->n++;
	return ATTEST_OK;
}

static int p_blob(struct params *p, const uint8_t *v, size_t n)
{
	int i = p->n;

	if (i >= MAX_PARAMS)
		return attest_fail(ATTEST_E_INTERNAL, "store: too many parameters");
	p->v[i] = (const char *)v;
	p->len[i] = (int)n;
	p->fmt[i] = 1;
	p->n++;
	return ATTEST_OK;
}

static int p_fmt(struct params *p, int neg, uint64_t mag)
{
	int i = p->n, n;

	if (i >= MAX_PARAMS)
		return attest_fail(ATTEST_E_INTERNAL, "store: too many parameters");
	n = snprintf(p->num[i], sizeof(p->num[i]), "%s%" PRIu64, neg ? "-" : "", mag);
	if (n <= 0 || (size_t)n >= sizeof(p->num[i]))
		return attest_fail(ATTEST_E_INTERNAL, "store: format a number");
	p->v[i] = p->num[i];
	p->len[i] = n;
	p->fmt[i] = 0;
	p->n++;
	return ATTEST_OK;
}

static int p_int(struct params *p, int64_t v)
{
	/* the magnitude without overflowing at INT64_MIN */
	return v < 0 ? p_fmt(p, 1, (uint64_t)(-(v + 1)) + 1) : p_fmt(p, 0, (uint64_t)v);
}

/* 64-bit counters as decimal text: PostgreSQL's BIGINT is signed. */
static int p_u64(struct params *p, uint64_t v)
{
	return p_fmt(p, 0, v);
}

static int p_bool(struct params *p, int v)
{
	int i = p->n;

	if (i >= MAX_PARAMS)
		return attest_fail(ATTEST_E_INTERNAL, "store: too many parameters");
	p->v[i] = v ? "t" : "f";
	p->len[i] = 1;
	p->fmt[i] = 0;
	p->n++;
	return ATTEST_OK;
}

/* Runs prepared statement id with p; binary results. *out gets the
 * result (PGRES_TUPLES_OK or PGRES_COMMAND_OK), else the error is set and
 * *out is NULL. */
static int run(struct pgs *q, enum st_id id, const struct params *p, const char *what,
	       PGresult **out)
{
	char name[16];
	PGresult *res;
	ExecStatusType es;

	*out = NULL;
	if (p->n != st_def[id].nparams)
		return attest_fail(ATTEST_E_INTERNAL, "store: %s: %d parameters, want %d", what, p->n,
				   st_def[id].nparams);
	(void)snprintf(name, sizeof(name), "vs%d", (int)id);
	res = PQexecPrepared(q->c, name, p->n, p->v, p->len, p->fmt, 1);
	es = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (es != PGRES_TUPLES_OK && es != PGRES_COMMAND_OK) {
		int r = res_fail(q, res, what);

		PQclear(res);
		return r;
	}
	*out = res;
	return ATTEST_OK;
}

/* A write statement in autocommit (one statement, one transaction);
 * *changes gets the affected-row count. */
static int run_write(struct pgs *q, enum st_id id, const struct params *p, const char *what,
		     long *changes)
{
	PGresult *res = NULL;
	const char *t;
	uint64_t n = 0;
	int r;

	if ((r = run(q, id, p, what, &res)) != ATTEST_OK)
		return r;
	t = PQcmdTuples(res);
	if (changes != NULL) {
		if (t == NULL || attest_parse_u64(t, 0, INT32_MAX, &n) != ATTEST_OK) {
			PQclear(res);
			return attest_fail(ATTEST_E_IO, "store: %s: no row count", what);
		}
		*changes = (long)n;
	}
	PQclear(res);
	return ATTEST_OK;
}

/* A statement outside the prepared set (BEGIN, COMMIT, ROLLBACK, the
 * migrations' SQL, session settings). */
static int exec_sql(struct pgs *q, const char *sql, const char *what)
{
	PGresult *res = PQexec(q->c, sql);
	ExecStatusType es = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int r = ATTEST_OK;

	if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK)
		r = res_fail(q, res, what);
	PQclear(res);
	return r;
}

/* Commit when r is ATTEST_OK, else roll back; returns r or the commit's
 * failure (after which the transaction is gone either way). */
static int tx_end(struct pgs *q, int r)
{
	if (r == ATTEST_OK)
		r = exec_sql(q, "COMMIT", "commit");
	if (r != ATTEST_OK && PQtransactionStatus(q->c) != PQTRANS_IDLE) {
		PGresult *res = PQexec(q->c, "ROLLBACK");

		PQclear(res);
	}
	return r;
}

/* ---- columns: the row is untrusted ---- */

static int bad_col(const PGresult *res, int i, const char *why)
{
	const char *n = PQfname(res, i);

	return attest_fail(ATTEST_E_STORE_DAMAGED, "store: stored %s: %s", n != NULL ? n : "?", why);
}

/* The value of (row, i) if it has type oid and is not NULL. */
static int col(const PGresult *res, int row, int i, Oid oid, const char **v, int *len)
{
	if (i >= PQnfields(res))
		return attest_fail(ATTEST_E_STORE_DAMAGED, "store: a row lacks column %d", i);
	if (PQfformat(res, i) != 1)
		return bad_col(res, i, "not in binary format");
	if (PQftype(res, i) != oid)
		return bad_col(res, i, "of the wrong type");
	if (PQgetisnull(res, row, i))
		return bad_col(res, i, "NULL");
	*v = PQgetvalue(res, row, i);
	*len = PQgetlength(res, row, i);
	if (*v == NULL || *len < 0)
		return bad_col(res, i, "unreadable");
	return ATTEST_OK;
}

/* Text that fits out (with its NUL) and holds no NUL of its own. */
static int c_text(const PGresult *res, int row, int i, char *out, size_t outsz)
{
	const char *v;
	int n, r;

	out[0] = '\0';
	if ((r = col(res, row, i, OID_TEXT, &v, &n)) != ATTEST_OK)
		return r;
	if ((size_t)n >= outsz)
		return bad_col(res, i, "longer than its field");
	if (memchr(v, '\0', (size_t)n) != NULL)
		return bad_col(res, i, "holds a NUL byte");
	memcpy(out, v, (size_t)n);
	out[n] = '\0';
	return ATTEST_OK;
}

static int c_name(const PGresult *res, int row, int i, char *out, size_t outsz)
{
	int r = c_text(res, row, i, out, outsz);

	if (r == ATTEST_OK && out[0] == '\0')
		return bad_col(res, i, "empty");
	return r;
}

static int c_blob(const PGresult *res, int row, int i, uint8_t *out, size_t len)
{
	const char *v;
	int n, r;

	if ((r = col(res, row, i, OID_BYTEA, &v, &n)) != ATTEST_OK)
		return r;
	if ((size_t)n != len)
		return bad_col(res, i, "wrong length");
	memcpy(out, v, len);
	return ATTEST_OK;
}

/* A big-endian two's-complement integer of the column's own width
 * (int2, int4 or int8), in min..max. */
static int c_int(const PGresult *res, int row, int i, int64_t min, int64_t max, int64_t *out)
{
	const char *v;
	uint64_t u = 0;
	int n, want, r;
	Oid t = PQftype(res, i);

	*out = 0;
	want = t == OID_INT2 ? 2 : t == OID_INT4 ? 4 : t == OID_INT8 ? 8 : 0;
	if (want == 0)
		return bad_col(res, i, "not an integer");
	if ((r = col(res, row, i, t, &v, &n)) != ATTEST_OK)
		return r;
	if (n != want)
		return bad_col(res, i, "wrong width");
	for (int k = 0; k < n; k++)
		u = (u << 8) | (uint8_t)v[k];
	if (n < 8 && (u >> (8 * n - 1)) != 0) /* sign-extend */
		u |= ~(uint64_t)0 << (8 * n);
	{
		int64_t s;

		memcpy(&s, &u, sizeof(s)); /* two's complement, no UB */
		if (s < min || s > max)
			return bad_col(res, i, "out of range");
		*out = s;
	}
	return ATTEST_OK;
}

static int c_intv(const PGresult *res, int row, int i, int min, int max, int *out)
{
	int64_t v;
	int r = c_int(res, row, i, min, max, &v);

	*out = (int)v;
	return r;
}

static int c_bool(const PGresult *res, int row, int i, int *out)
{
	const char *v;
	int n, r;

	*out = 0;
	if ((r = col(res, row, i, OID_BOOL, &v, &n)) != ATTEST_OK)
		return r;
	if (n != 1 || ((uint8_t)v[0] != 0 && (uint8_t)v[0] != 1))
		return bad_col(res, i, "not a boolean");
	*out = (uint8_t)v[0];
	return ATTEST_OK;
}

/* A 64-bit counter stored as decimal text (attest_parse_u64's rules). */
static int c_u64(const PGresult *res, int row, int i, uint64_t *out)
{
	char buf[24];
	int r;

	*out = 0;
	if ((r = c_text(res, row, i, buf, 21)) != ATTEST_OK)
		return r;
	if (attest_parse_u64(buf, 0, UINT64_MAX, out) != ATTEST_OK)
		return bad_col(res, i, "not a decimal 64-bit counter");
	return ATTEST_OK;
}

/* A get's result: one row (ATTEST_OK), none (ATTEST_E_NOT_FOUND, no
 * detail: the caller says what), or more (damaged: the key is unique). */
static int one_row(const PGresult *res, const char *what)
{
	int n = PQntuples(res);

	if (n == 0)
		return ATTEST_E_NOT_FOUND;
	if (n != 1)
		return attest_fail(ATTEST_E_STORE_DAMAGED, "store: %s: %d rows for one key", what, n);
	return ATTEST_OK;
}

/* ---- argument checks ---- */

/* ---- hosts ---- */

static int host_row(const PGresult *res, int row, struct vhost *h)
{
	int64_t v;
	int r;

	memset(h, 0, sizeof(*h));
	if ((r = c_name(res, row, 0, h->name, sizeof(h->name))) != ATTEST_OK ||
	    (r = c_int(res, row, 1, VHOST_NEW, VHOST_UNTRUSTED, &v)) != ATTEST_OK)
		goto out;
	h->state = (enum vhost_state)v;
	/* any non-negative code: a newer verifier may know more codes */
	if ((r = c_intv(res, row, 2, 0, INT32_MAX, &h->reason_code)) != ATTEST_OK ||
	    (r = c_text(res, row, 3, h->reason, sizeof(h->reason))) != ATTEST_OK ||
	    (r = c_int(res, row, 4, INT64_MIN, INT64_MAX, &h->last_good)) != ATTEST_OK ||
	    (r = c_int(res, row, 5, INT64_MIN, INT64_MAX, &h->last_quote)) != ATTEST_OK ||
	    (r = c_bool(res, row, 6, &h->have_clock)) != ATTEST_OK ||
	    (r = c_int(res, row, 7, 0, UINT32_MAX, &v)) != ATTEST_OK)
		goto out;
	h->reset_count = (uint32_t)v;
	if ((r = c_int(res, row, 8, 0, UINT32_MAX, &v)) != ATTEST_OK)
		goto out;
	h->restart_count = (uint32_t)v;
	if ((r = c_u64(res, row, 9, &h->clock)) != ATTEST_OK ||
	    (r = c_u64(res, row, 10, &h->boots)) != ATTEST_OK ||
	    (r = c_bool(res, row, 11, &h->unsafe_seen)) != ATTEST_OK ||
	    (r = c_text(res, row, 12, h->refset, sizeof(h->refset))) != ATTEST_OK ||
	    (r = c_bool(res, row, 13, &h->revoked)) != ATTEST_OK ||
	    (r = c_text(res, row, 14, h->revoke_reason, sizeof(h->revoke_reason))) != ATTEST_OK)
		goto out;
	r = ATTEST_OK;
out:
	if (r != ATTEST_OK)
		memset(h, 0, sizeof(*h));
	return r;
}

static int pg_host_get(struct vstore *s, const char *name, struct vhost *out)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	PGresult *res = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = enter(q, "host_get")) != ATTEST_OK ||
	    (r = vstore_arg_name(name, VSTORE_NAME_MAX, "host name")) != ATTEST_OK ||
	    (r = p_text(&p, name, VSTORE_NAME_MAX)) != ATTEST_OK ||
	    (r = run(q, ST_HOST_GET, &p, "host_get", &res)) != ATTEST_OK)
		return r;
	if ((r = one_row(res, "host_get")) == ATTEST_E_NOT_FOUND)
		r = attest_fail(ATTEST_E_NOT_FOUND, "store: no host \"%s\"", name);
	else if (r == ATTEST_OK)
		r = host_row(res, 0, out);
	PQclear(res);
	return r;
}

/* Checks h and adds its columns name .. refset as parameters 1..13
 * (host_put and host_put_quote share them). */
static int host_params(struct params *p, const struct vhost *h)
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
	if ((r = p_text(p, h->name, sizeof(h->name))) != ATTEST_OK ||
	    (r = p_int(p, h->state)) != ATTEST_OK || (r = p_int(p, h->reason_code)) != ATTEST_OK ||
	    (r = p_text(p, h->reason, sizeof(h->reason))) != ATTEST_OK ||
	    (r = p_int(p, h->last_good)) != ATTEST_OK || (r = p_int(p, h->last_quote)) != ATTEST_OK ||
	    (r = p_bool(p, h->have_clock != 0)) != ATTEST_OK ||
	    (r = p_int(p, h->reset_count)) != ATTEST_OK ||
	    (r = p_int(p, h->restart_count)) != ATTEST_OK || (r = p_u64(p, h->clock)) != ATTEST_OK ||
	    (r = p_u64(p, h->boots)) != ATTEST_OK || (r = p_bool(p, h->unsafe_seen != 0)) != ATTEST_OK ||
	    (r = p_text(p, h->refset, sizeof(h->refset))) != ATTEST_OK)
		return r;
	return ATTEST_OK;
}

static int pg_host_put(struct vstore *s, const struct vhost *h)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	int r;

	if ((r = enter(q, "host_put")) != ATTEST_OK || (r = host_params(&p, h)) != ATTEST_OK ||
	    (r = p_bool(&p, h->revoked != 0)) != ATTEST_OK ||
	    (r = p_text(&p, h->revoke_reason, sizeof(h->revoke_reason))) != ATTEST_OK)
		return r;
	return run_write(q, ST_HOST_PUT, &p, "host_put", NULL);
}

static int pg_host_put_quote(struct vstore *s, const struct vhost *h, const struct vhost *seen)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	long changes = 0;
	int r;

	if ((r = enter(q, "host_put_quote")) != ATTEST_OK)
		return r;
	if (seen == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: host_put_quote: no seen row");
	if ((r = host_params(&p, h)) != ATTEST_OK ||
	    (r = p_bool(&p, seen->have_clock != 0)) != ATTEST_OK ||
	    (r = p_int(&p, seen->reset_count)) != ATTEST_OK ||
	    (r = p_int(&p, seen->restart_count)) != ATTEST_OK ||
	    (r = p_u64(&p, seen->clock)) != ATTEST_OK)
		return r;
	/* one statement: a concurrent writer's UPDATE holds the row lock; this
	 * one then re-checks the WHERE on the committed row (read committed) */
	if ((r = run_write(q, ST_HOST_PUT_QUOTE, &p, "host_put_quote", &changes)) != ATTEST_OK)
		return r;
	if (changes != 1)
		return attest_fail(ATTEST_E_QUOTE_COUNTER,
				   "store: host %s: stored counters changed since they were read "
				   "(a newer quote stored meanwhile) or the host row is gone",
				   h->name);
	return ATTEST_OK;
}

/* Runs a list statement, then hands each decoded row to each(): the whole
 * result is fetched before the first callback, and the store refuses
 * calls from inside it. A nonzero result stops the walk and is returned. */
static int walk(struct pgs *q, enum st_id id, const struct params *p, const char *what,
		int (*each)(const PGresult *res, int row, void *ctx), void *ctx)
{
	PGresult *res = NULL;
	int r;

	if ((r = run(q, id, p, what, &res)) != ATTEST_OK)
		return r;
	q->in_cb = 1;
	for (int row = 0; row < PQntuples(res); row++)
		if ((r = each(res, row, ctx)) != ATTEST_OK)
			break;
	q->in_cb = 0;
	PQclear(res);
	return r;
}

struct host_walk {
	int (*cb)(void *arg, const struct vhost *h);
	void *arg;
};

static int host_each(const PGresult *res, int row, void *ctx)
{
	struct host_walk *w = ctx;
	struct vhost h;
	int r;

	if ((r = host_row(res, row, &h)) != ATTEST_OK)
		return r;
	return w->cb(w->arg, &h);
}

static int pg_host_list(struct vstore *s, int (*cb)(void *arg, const struct vhost *h), void *arg)
{
	struct pgs *q = pg_of(s);
	struct host_walk w = { cb, arg };
	struct params p = { 0 };
	int r;

	if ((r = enter(q, "host_list")) != ATTEST_OK)
		return r;
	if (cb == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: host_list: no callback");
	return walk(q, ST_HOST_LIST, &p, "host_list", host_each, &w);
}

/* ---- nonces ---- */

static int pg_nonce_issue(struct vstore *s, const char *host, const uint8_t nonce[VSTORE_NONCE_LEN],
			  int64_t expires)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	int r;

	if ((r = enter(q, "nonce_issue")) != ATTEST_OK ||
	    (r = vstore_arg_name(host, VSTORE_NAME_MAX, "host name")) != ATTEST_OK)
		return r;
	if (nonce == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: nonce_issue: no nonce");
	if ((r = p_blob(&p, nonce, VSTORE_NONCE_LEN)) != ATTEST_OK ||
	    (r = p_text(&p, host, VSTORE_NAME_MAX)) != ATTEST_OK || (r = p_int(&p, expires)) != ATTEST_OK)
		return r;
	return run_write(q, ST_NONCE_ISSUE, &p, "nonce_issue", NULL);
}

/* Why a take matched no row; read in the take's transaction. */
static int nonce_why(struct pgs *q, const char *host, const uint8_t *nonce, int64_t now)
{
	struct params p = { 0 };
	PGresult *res = NULL;
	char who[VSTORE_NAME_MAX];
	int64_t expires;
	int used, r;

	if ((r = p_blob(&p, nonce, VSTORE_NONCE_LEN)) != ATTEST_OK ||
	    (r = run(q, ST_NONCE_WHY, &p, "nonce_take", &res)) != ATTEST_OK)
		return r;
	if ((r = one_row(res, "nonce_take")) == ATTEST_E_NOT_FOUND) {
		r = attest_fail(ATTEST_E_NONCE, "unknown");
		goto out;
	}
	if (r != ATTEST_OK || (r = c_name(res, 0, 0, who, sizeof(who))) != ATTEST_OK ||
	    (r = c_bool(res, 0, 1, &used)) != ATTEST_OK ||
	    (r = c_int(res, 0, 2, INT64_MIN, INT64_MAX, &expires)) != ATTEST_OK)
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
	PQclear(res);
	return r;
}

static int pg_nonce_take(struct vstore *s, const char *host, const uint8_t nonce[VSTORE_NONCE_LEN],
			 int64_t now)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	long changes = 0;
	int r;

	if ((r = enter(q, "nonce_take")) != ATTEST_OK ||
	    (r = vstore_arg_name(host, VSTORE_NAME_MAX, "host name")) != ATTEST_OK)
		return r;
	if (nonce == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: nonce_take: no nonce");
	if ((r = p_blob(&p, nonce, VSTORE_NONCE_LEN)) != ATTEST_OK ||
	    (r = p_text(&p, host, VSTORE_NAME_MAX)) != ATTEST_OK || (r = p_int(&p, now)) != ATTEST_OK)
		return r;
	if ((r = exec_sql(q, "BEGIN ISOLATION LEVEL READ COMMITTED", "begin")) != ATTEST_OK)
		return r;
	/* The single UPDATE is what makes the nonce single-use: a second
	 * taker blocks on the first's row lock, then re-checks NOT used
	 * against the committed row and changes nothing. */
	if ((r = run_write(q, ST_NONCE_TAKE, &p, "nonce_take", &changes)) != ATTEST_OK)
		return tx_end(q, r);
	if (changes != 1)
		r = nonce_why(q, host, nonce, now);
	return tx_end(q, r);
}

static int pg_nonce_prune(struct vstore *s, int64_t now)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	int r;

	if ((r = enter(q, "nonce_prune")) != ATTEST_OK || (r = p_int(&p, now)) != ATTEST_OK)
		return r;
	return run_write(q, ST_NONCE_PRUNE, &p, "nonce_prune", NULL);
}

/* ---- agents ---- */

static int agent_row(const PGresult *res, int row, struct vagent *a)
{
	int r;

	memset(a, 0, sizeof(*a));
	if ((r = c_name(res, row, 0, a->id, sizeof(a->id))) != ATTEST_OK ||
	    (r = c_name(res, row, 1, a->host, sizeof(a->host))) != ATTEST_OK ||
	    (r = c_text(res, row, 2, a->uuid, sizeof(a->uuid))) != ATTEST_OK ||
	    (r = c_blob(res, row, 3, a->agent_ca_hash, sizeof(a->agent_ca_hash))) != ATTEST_OK ||
	    (r = c_blob(res, row, 4, a->measurement, sizeof(a->measurement))) != ATTEST_OK ||
	    (r = c_blob(res, row, 5, a->policy, sizeof(a->policy))) != ATTEST_OK ||
	    (r = c_text(res, row, 6, a->scopes, sizeof(a->scopes))) != ATTEST_OK ||
	    (r = c_text(res, row, 7, a->data_classes, sizeof(a->data_classes))) != ATTEST_OK ||
	    (r = c_intv(res, row, 8, 0, 3, &a->risk_tier)) != ATTEST_OK ||
	    (r = c_intv(res, row, 9, 0, 100, &a->risk_score)) != ATTEST_OK ||
	    (r = c_intv(res, row, 10, 0, 3, &a->delegate_depth)) != ATTEST_OK ||
	    (r = c_int(res, row, 11, INT64_MIN, INT64_MAX, &a->registered)) != ATTEST_OK ||
	    (r = c_bool(res, row, 12, &a->approved)) != ATTEST_OK ||
	    (r = c_bool(res, row, 13, &a->revoked)) != ATTEST_OK ||
	    (r = c_text(res, row, 14, a->revoke_reason, sizeof(a->revoke_reason))) != ATTEST_OK) {
		memset(a, 0, sizeof(*a));
		return r;
	}
	return ATTEST_OK;
}

static int pg_agent_get(struct vstore *s, const char *id, struct vagent *out)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	PGresult *res = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = enter(q, "agent_get")) != ATTEST_OK ||
	    (r = vstore_arg_name(id, VSTORE_ID_MAX, "agent ID")) != ATTEST_OK ||
	    (r = p_text(&p, id, VSTORE_ID_MAX)) != ATTEST_OK ||
	    (r = run(q, ST_AGENT_GET, &p, "agent_get", &res)) != ATTEST_OK)
		return r;
	if ((r = one_row(res, "agent_get")) == ATTEST_E_NOT_FOUND)
		r = attest_fail(ATTEST_E_NOT_FOUND, "store: no agent \"%s\"", id);
	else if (r == ATTEST_OK)
		r = agent_row(res, 0, out);
	PQclear(res);
	return r;
}

static int pg_agent_put(struct vstore *s, const struct vagent *a)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
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
	if ((r = p_text(&p, a->id, sizeof(a->id))) != ATTEST_OK ||
	    (r = p_text(&p, a->host, sizeof(a->host))) != ATTEST_OK ||
	    (r = p_text(&p, a->uuid, sizeof(a->uuid))) != ATTEST_OK ||
	    (r = p_blob(&p, a->agent_ca_hash, sizeof(a->agent_ca_hash))) != ATTEST_OK ||
	    (r = p_blob(&p, a->measurement, sizeof(a->measurement))) != ATTEST_OK ||
	    (r = p_blob(&p, a->policy, sizeof(a->policy))) != ATTEST_OK ||
	    (r = p_text(&p, a->scopes, sizeof(a->scopes))) != ATTEST_OK ||
	    (r = p_text(&p, a->data_classes, sizeof(a->data_classes))) != ATTEST_OK ||
	    (r = p_int(&p, a->risk_tier)) != ATTEST_OK || (r = p_int(&p, a->risk_score)) != ATTEST_OK ||
	    (r = p_int(&p, a->delegate_depth)) != ATTEST_OK ||
	    (r = p_int(&p, a->registered)) != ATTEST_OK ||
	    (r = p_bool(&p, a->approved != 0)) != ATTEST_OK ||
	    (r = p_bool(&p, a->revoked != 0)) != ATTEST_OK ||
	    (r = p_text(&p, a->revoke_reason, sizeof(a->revoke_reason))) != ATTEST_OK)
		return r;
	return run_write(q, ST_AGENT_PUT, &p, "agent_put", NULL);
}

struct agent_walk {
	int (*cb)(void *arg, const struct vagent *a);
	void *arg;
	struct vagent a; /* 3 KiB: kept off the stack of each row */
};

static int agent_each(const PGresult *res, int row, void *ctx)
{
	struct agent_walk *w = ctx;
	int r;

	if ((r = agent_row(res, row, &w->a)) != ATTEST_OK)
		return r;
	return w->cb(w->arg, &w->a);
}

static int pg_agent_list(struct vstore *s, int (*cb)(void *arg, const struct vagent *a), void *arg)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
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
	r = walk(q, ST_AGENT_LIST, &p, "agent_list", agent_each, w);
	free(w);
	return r;
}

static int pg_agent_list_host(struct vstore *s, const char *host,
			      int (*cb)(void *arg, const struct vagent *a), void *arg)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	struct agent_walk *w;
	int r;

	if ((r = enter(q, "agent_list_host")) != ATTEST_OK ||
	    (r = vstore_arg_name(host, VSTORE_NAME_MAX, "host name")) != ATTEST_OK ||
	    (r = p_text(&p, host, VSTORE_NAME_MAX)) != ATTEST_OK)
		return r;
	if (cb == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: agent_list_host: no callback");
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "store: agent_list_host");
	w->cb = cb;
	w->arg = arg;
	r = walk(q, ST_AGENT_LIST_HOST, &p, "agent_list_host", agent_each, w);
	free(w);
	return r;
}

/* ---- reference-value sets ---- */

static int pg_refset_put(struct vstore *s, const char *name, const char *jws, int64_t now)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	int r;

	if ((r = enter(q, "refset_put")) != ATTEST_OK ||
	    (r = vstore_arg_name(name, VSTORE_NAME_MAX, "reference set name")) != ATTEST_OK ||
	    (r = vstore_arg_name(jws, VSTORE_JWS_MAX, "reference set")) != ATTEST_OK)
		return r;
	if ((r = p_text(&p, name, VSTORE_NAME_MAX)) != ATTEST_OK ||
	    (r = p_text(&p, jws, VSTORE_JWS_MAX)) != ATTEST_OK || (r = p_int(&p, now)) != ATTEST_OK)
		return r;
	return run_write(q, ST_REFSET_PUT, &p, "refset_put", NULL);
}

static int pg_refset_set_active(struct vstore *s, const char *name, int active)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	long changes = 0;
	int r;

	if ((r = enter(q, "refset_set_active")) != ATTEST_OK ||
	    (r = vstore_arg_name(name, VSTORE_NAME_MAX, "reference set name")) != ATTEST_OK)
		return r;
	if ((r = p_text(&p, name, VSTORE_NAME_MAX)) != ATTEST_OK ||
	    (r = p_bool(&p, active != 0)) != ATTEST_OK ||
	    (r = run_write(q, ST_REFSET_ACTIVE, &p, "refset_set_active", &changes)) != ATTEST_OK)
		return r;
	if (changes == 0)
		return attest_fail(ATTEST_E_NOT_FOUND, "store: no reference set \"%s\"", name);
	return ATTEST_OK;
}

struct refset_walk {
	int (*cb)(void *arg, const struct vrefset *r);
	void *arg;
	char *jws; /* VSTORE_JWS_MAX: the set handed out, NUL-terminated */
};

static int refset_each(const PGresult *res, int row, void *ctx)
{
	struct refset_walk *w = ctx;
	struct vrefset v;
	int r;

	memset(&v, 0, sizeof(v));
	if ((r = c_name(res, row, 0, v.name, sizeof(v.name))) != ATTEST_OK ||
	    (r = c_name(res, row, 1, w->jws, VSTORE_JWS_MAX)) != ATTEST_OK ||
	    (r = c_bool(res, row, 2, &v.active)) != ATTEST_OK ||
	    (r = c_int(res, row, 3, INT64_MIN, INT64_MAX, &v.added)) != ATTEST_OK)
		return r;
	v.jws = w->jws;
	return w->cb(w->arg, &v);
}

static int pg_refset_list(struct vstore *s, int active_only,
			  int (*cb)(void *arg, const struct vrefset *r), void *arg)
{
	struct pgs *q = pg_of(s);
	struct refset_walk w = { cb, arg, NULL };
	struct params p = { 0 };
	int r;

	if ((r = enter(q, "refset_list")) != ATTEST_OK)
		return r;
	if (cb == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: refset_list: no callback");
	if ((r = p_bool(&p, active_only != 0)) != ATTEST_OK)
		return r;
	if ((w.jws = malloc(VSTORE_JWS_MAX)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "store: refset_list");
	r = walk(q, ST_REFSET_LIST, &p, "refset_list", refset_each, &w);
	free(w.jws);
	return r;
}

/* ---- callers ---- */

static int caller_row(const PGresult *res, int row, struct vcaller *c)
{
	int64_t role;
	int r;

	memset(c, 0, sizeof(*c));
	if ((r = c_name(res, row, 0, c->name, sizeof(c->name))) != ATTEST_OK ||
	    (r = c_int(res, row, 1, VCALLER_RESOURCE, VCALLER_ADMIN, &role)) != ATTEST_OK ||
	    (r = c_blob(res, row, 2, c->spki_hash, sizeof(c->spki_hash))) != ATTEST_OK ||
	    (r = c_bool(res, row, 3, &c->revoked)) != ATTEST_OK) {
		memset(c, 0, sizeof(*c));
		return r;
	}
	c->role = (enum vcaller_role)role;
	return ATTEST_OK;
}

static int pg_caller_put(struct vstore *s, const struct vcaller *c)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	int r;

	if ((r = enter(q, "caller_put")) != ATTEST_OK)
		return r;
	if (c == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: caller_put: no caller");
	if ((r = vstore_arg_name(c->name, sizeof(c->name), "caller name")) != ATTEST_OK)
		return r;
	if (c->role != VCALLER_RESOURCE && c->role != VCALLER_ADMIN)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: caller role %d", (int)c->role);
	if ((r = p_text(&p, c->name, sizeof(c->name))) != ATTEST_OK ||
	    (r = p_int(&p, c->role)) != ATTEST_OK ||
	    (r = p_blob(&p, c->spki_hash, sizeof(c->spki_hash))) != ATTEST_OK ||
	    (r = p_bool(&p, c->revoked != 0)) != ATTEST_OK)
		return r;
	return run_write(q, ST_CALLER_PUT, &p, "caller_put", NULL);
}

static int pg_caller_by_spki(struct vstore *s, const uint8_t spki_hash[32], struct vcaller *out)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	PGresult *res = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = enter(q, "caller_by_spki")) != ATTEST_OK)
		return r;
	if (spki_hash == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: caller_by_spki: no hash");
	if ((r = p_blob(&p, spki_hash, 32)) != ATTEST_OK ||
	    (r = run(q, ST_CALLER_BY_SPKI, &p, "caller_by_spki", &res)) != ATTEST_OK)
		return r;
	if ((r = one_row(res, "caller_by_spki")) == ATTEST_E_NOT_FOUND)
		r = attest_fail(ATTEST_E_NOT_FOUND, "store: no caller with this SPKI");
	else if (r == ATTEST_OK)
		r = caller_row(res, 0, out);
	PQclear(res);
	return r;
}

struct caller_walk {
	int (*cb)(void *arg, const struct vcaller *c);
	void *arg;
};

static int caller_each(const PGresult *res, int row, void *ctx)
{
	struct caller_walk *w = ctx;
	struct vcaller c;
	int r;

	if ((r = caller_row(res, row, &c)) != ATTEST_OK)
		return r;
	return w->cb(w->arg, &c);
}

static int pg_caller_list(struct vstore *s, int (*cb)(void *arg, const struct vcaller *c), void *arg)
{
	struct pgs *q = pg_of(s);
	struct caller_walk w = { cb, arg };
	struct params p = { 0 };
	int r;

	if ((r = enter(q, "caller_list")) != ATTEST_OK)
		return r;
	if (cb == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: caller_list: no callback");
	return walk(q, ST_CALLER_LIST, &p, "caller_list", caller_each, &w);
}

/* ---- settings ---- */

static int pg_setting_get(struct vstore *s, const char *key, char *out, size_t outsz)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	PGresult *res = NULL;
	char buf[SETTING_VALUE_MAX];
	int r;

	if (out == NULL || outsz == 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: setting_get: no output buffer");
	out[0] = '\0';
	if ((r = enter(q, "setting_get")) != ATTEST_OK ||
	    (r = vstore_arg_name(key, SETTING_KEY_MAX, "setting key")) != ATTEST_OK ||
	    (r = p_text(&p, key, SETTING_KEY_MAX)) != ATTEST_OK ||
	    (r = run(q, ST_SETTING_GET, &p, "setting_get", &res)) != ATTEST_OK)
		return r;
	if ((r = one_row(res, "setting_get")) == ATTEST_E_NOT_FOUND) {
		r = attest_fail(ATTEST_E_NOT_FOUND, "store: no setting \"%s\"", key);
		goto out;
	}
	if (r != ATTEST_OK || (r = c_text(res, 0, 0, buf, sizeof(buf))) != ATTEST_OK)
		goto out;
	if (strlen(buf) >= outsz) {
		r = attest_fail(ATTEST_E_TOO_LARGE, "store: setting \"%s\" over %zu bytes", key,
				outsz - 1);
		goto out;
	}
	memcpy(out, buf, strlen(buf) + 1);
out:
	PQclear(res);
	return r;
}

static int pg_setting_put(struct vstore *s, const char *key, const char *value)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	int r;

	if ((r = enter(q, "setting_put")) != ATTEST_OK ||
	    (r = vstore_arg_name(key, SETTING_KEY_MAX, "setting key")) != ATTEST_OK)
		return r;
	if (value == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: setting_put: no value");
	if ((r = p_text(&p, key, SETTING_KEY_MAX)) != ATTEST_OK ||
	    (r = p_text(&p, value, SETTING_VALUE_MAX)) != ATTEST_OK)
		return r;
	return run_write(q, ST_SETTING_PUT, &p, "setting_put", NULL);
}

/* ---- replicas (issue 18) ---- */

/* One UPDATE of the row key with an optional second text parameter; no
 * row is ATTEST_E_NOT_FOUND. */
static int update_row(struct pgs *q, enum st_id id, const char *what, const char *key, size_t cap,
		      const char *v2, size_t cap2)
{
	struct params p = { 0 };
	long changes = 0;
	int r;

	if ((r = enter(q, what)) != ATTEST_OK || (r = vstore_arg_name(key, cap, "name")) != ATTEST_OK ||
	    (r = p_text(&p, key, cap)) != ATTEST_OK ||
	    (v2 != NULL && (r = p_text(&p, v2, cap2)) != ATTEST_OK) ||
	    (r = run_write(q, id, &p, what, &changes)) != ATTEST_OK)
		return r;
	return changes == 1 ? ATTEST_OK
			    : attest_fail(ATTEST_E_NOT_FOUND, "store: %s: no row \"%.200s\"", what, key);
}

static int pg_host_revoke(struct vstore *s, const char *name, const char *reason)
{
	if (reason == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: host_revoke: no reason");
	return update_row(pg_of(s), ST_HOST_REVOKE, "host_revoke", name, VSTORE_NAME_MAX, reason,
			  VSTORE_REASON_MAX);
}

static int pg_host_reset_ak(struct vstore *s, const char *name)
{
	return update_row(pg_of(s), ST_HOST_RESET_AK, "host_reset_ak", name, VSTORE_NAME_MAX, NULL, 0);
}

static int pg_agent_revoke(struct vstore *s, const char *id, const char *reason)
{
	if (reason == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: agent_revoke: no reason");
	return update_row(pg_of(s), ST_AGENT_REVOKE, "agent_revoke", id, VSTORE_ID_MAX, reason,
			  VSTORE_REASON_MAX);
}

static int pg_agent_approve(struct vstore *s, const char *id)
{
	return update_row(pg_of(s), ST_AGENT_APPROVE, "agent_approve", id, VSTORE_ID_MAX, NULL, 0);
}

static int pg_setting_cas(struct vstore *s, const char *key, const char *expect, const char *value)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	long changes = 0;
	int r;

	if ((r = enter(q, "setting_cas")) != ATTEST_OK ||
	    (r = vstore_arg_name(key, SETTING_KEY_MAX, "setting key")) != ATTEST_OK)
		return r;
	if (value == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: setting_cas: no value");
	if ((r = p_text(&p, key, SETTING_KEY_MAX)) != ATTEST_OK ||
	    (expect != NULL && (r = p_text(&p, expect, SETTING_VALUE_MAX)) != ATTEST_OK) ||
	    (r = p_text(&p, value, SETTING_VALUE_MAX)) != ATTEST_OK ||
	    (r = run_write(q, expect == NULL ? ST_SETTING_ADD : ST_SETTING_CAS, &p, "setting_cas",
			   &changes)) != ATTEST_OK)
		return r;
	return changes == 1 ? ATTEST_OK
			    : attest_fail(ATTEST_E_EXISTS,
					  "store: setting \"%s\" changed by another writer", key);
}

static int pg_generation_bump(struct vstore *s, uint64_t *out)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	PGresult *res = NULL;
	char buf[24];
	int r;

	*out = 0;
	if ((r = enter(q, "generation_bump")) != ATTEST_OK ||
	    (r = run(q, ST_GEN_BUMP, &p, "generation_bump", &res)) != ATTEST_OK)
		return r;
	if ((r = one_row(res, "generation_bump")) == ATTEST_E_NOT_FOUND)
		r = attest_fail(ATTEST_E_IO, "store: generation_bump: no row");
	if (r == ATTEST_OK && (r = c_text(res, 0, 0, buf, sizeof(buf))) == ATTEST_OK &&
	    attest_parse_u64(buf, 0, UINT64_MAX, out) != ATTEST_OK)
		r = bad_col(res, 0, "not a decimal generation");
	PQclear(res);
	return r;
}

static int pg_replica_beat(struct vstore *s, const struct vreplica *rp)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	int r;

	if ((r = enter(q, "replica_beat")) != ATTEST_OK)
		return r;
	if (rp == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: replica_beat: no replica");
	if ((r = vstore_arg_name(rp->id, sizeof(rp->id), "replica id")) != ATTEST_OK ||
	    (r = p_text(&p, rp->id, sizeof(rp->id))) != ATTEST_OK ||
	    (r = p_text(&p, rp->log_id, sizeof(rp->log_id))) != ATTEST_OK ||
	    (r = p_int(&p, rp->started)) != ATTEST_OK || (r = p_int(&p, rp->beat)) != ATTEST_OK)
		return r;
	return run_write(q, ST_REPLICA_BEAT, &p, "replica_beat", NULL);
}

struct replica_walk {
	int (*cb)(void *arg, const struct vreplica *r);
	void *arg;
};

static int replica_each(const PGresult *res, int row, void *ctx)
{
	struct replica_walk *w = ctx;
	struct vreplica rp;
	int r;

	memset(&rp, 0, sizeof(rp));
	if ((r = c_name(res, row, 0, rp.id, sizeof(rp.id))) != ATTEST_OK ||
	    (r = c_text(res, row, 1, rp.log_id, sizeof(rp.log_id))) != ATTEST_OK ||
	    (r = c_int(res, row, 2, INT64_MIN, INT64_MAX, &rp.started)) != ATTEST_OK ||
	    (r = c_int(res, row, 3, INT64_MIN, INT64_MAX, &rp.beat)) != ATTEST_OK)
		return r;
	return w->cb(w->arg, &rp);
}

static int pg_replica_list(struct vstore *s, int (*cb)(void *arg, const struct vreplica *r), void *arg)
{
	struct pgs *q = pg_of(s);
	struct replica_walk w = { cb, arg };
	struct params p = { 0 };
	int r;

	if ((r = enter(q, "replica_list")) != ATTEST_OK)
		return r;
	if (cb == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: replica_list: no callback");
	return walk(q, ST_REPLICA_LIST, &p, "replica_list", replica_each, &w);
}

static int pg_host_stale(struct vstore *s, int64_t before, unsigned limit,
			 int (*cb)(void *arg, const struct vhost *h), void *arg, uint64_t *count)
{
	struct pgs *q = pg_of(s);
	struct host_walk w = { cb, arg };
	struct params p = { 0 }, pl = { 0 };
	PGresult *res = NULL;
	int64_t n = 0;
	int r;

	*count = 0;
	if ((r = enter(q, "host_stale")) != ATTEST_OK)
		return r;
	if (cb == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: host_stale: no callback");
	if ((r = p_int(&p, before)) != ATTEST_OK ||
	    (r = run(q, ST_HOST_STALE_COUNT, &p, "host_stale", &res)) != ATTEST_OK)
		return r;
	if ((r = one_row(res, "host_stale")) == ATTEST_E_NOT_FOUND)
		r = attest_fail(ATTEST_E_IO, "store: host_stale: no count");
	if (r == ATTEST_OK)
		r = c_int(res, 0, 0, 0, INT64_MAX, &n);
	PQclear(res);
	if (r != ATTEST_OK)
		return r;
	*count = (uint64_t)n;
	if ((r = p_int(&pl, before)) != ATTEST_OK || (r = p_int(&pl, limit)) != ATTEST_OK)
		return r;
	return walk(q, ST_HOST_STALE, &pl, "host_stale", host_each, &w);
}

/* The LISTEN connection: its own, since the store's is busy with ops and
 * libpq would hand notifications only to whoever reads next. Made on
 * first use and again after it dropped (the generation check covers the
 * gap); -1 while it cannot be made. */
static int pg_watch_fd(struct vstore *s)
{
	struct pgs *q = pg_of(s);
	static const char *const keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *vals[] = { "10", APP_NAME " listen", q->conninfo, NULL };
	PGresult *res;

	if (q->w != NULL && PQstatus(q->w) == CONNECTION_OK)
		return PQsocket(q->w);
	PQfinish(q->w);
	q->w = PQconnectdbParams(keys, vals, 1);
	if (q->w == NULL)
		return -1;
	(void)PQsetNoticeProcessor(q->w, no_notices, NULL);
	if (PQstatus(q->w) != CONNECTION_OK)
		goto fail;
	res = PQexec(q->w, "LISTEN " VSTORE_NOTIFY_CHANNEL);
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	if (PQsetnonblocking(q->w, 1) != 0)
		goto fail;
	return PQsocket(q->w);
fail:
	PQfinish(q->w);
	q->w = NULL;
	return -1;
}

static int pg_watch_drain(struct vstore *s, int *notified)
{
	struct pgs *q = pg_of(s);
	PGnotify *n;

	*notified = 0;
	if (q->w == NULL)
		return attest_fail(ATTEST_E_IO, "store: no LISTEN connection");
	if (PQconsumeInput(q->w) != 1 || PQstatus(q->w) != CONNECTION_OK) {
		char msg[400];

		one_line(PQerrorMessage(q->w), msg, sizeof(msg));
		PQfinish(q->w);
		q->w = NULL;
		*notified = 1; /* what was missed is unknown: check */
		return attest_fail(ATTEST_E_IO, "store: LISTEN connection: %s", msg);
	}
	while ((n = PQnotifies(q->w)) != NULL) {
		*notified = 1;
		PQfreemem(n);
	}
	return ATTEST_OK;
}

/* ---- agent chains ---- */

static int pg_agent_chain_get(struct vstore *s, const char *id, char *out, size_t outsz)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	PGresult *res = NULL;
	int r;

	if (out == NULL || outsz < VSTORE_CHAIN_MAX)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: agent_chain_get: output under %d bytes",
				   VSTORE_CHAIN_MAX);
	out[0] = '\0';
	if ((r = enter(q, "agent_chain_get")) != ATTEST_OK ||
	    (r = vstore_arg_name(id, VSTORE_ID_MAX, "agent id")) != ATTEST_OK ||
	    (r = p_text(&p, id, VSTORE_ID_MAX)) != ATTEST_OK ||
	    (r = run(q, ST_CHAIN_GET, &p, "agent_chain_get", &res)) != ATTEST_OK)
		return r;
	if ((r = one_row(res, "agent_chain_get")) == ATTEST_E_NOT_FOUND)
		r = attest_fail(ATTEST_E_NOT_FOUND, "store: no chain for agent %.200s", id);
	else if (r == ATTEST_OK)
		r = c_text(res, 0, 0, out, VSTORE_CHAIN_MAX);
	PQclear(res);
	return r;
}

static int pg_agent_chain_put(struct vstore *s, const char *id, const char *chain)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	int r;

	if ((r = enter(q, "agent_chain_put")) != ATTEST_OK ||
	    (r = vstore_arg_name(id, VSTORE_ID_MAX, "agent id")) != ATTEST_OK)
		return r;
	if (chain == NULL || chain[0] == '\0')
		return attest_fail(ATTEST_E_INVALID_ARG, "store: agent_chain_put: no chain");
	if ((r = p_text(&p, id, VSTORE_ID_MAX)) != ATTEST_OK ||
	    (r = p_text(&p, chain, VSTORE_CHAIN_MAX)) != ATTEST_OK)
		return r;
	return run_write(q, ST_CHAIN_PUT, &p, "agent_chain_put", NULL);
}

/* ---- behaviour baselines, registration changes ---- */

static int pg_behaviour_put(struct vstore *s, const char *const *keys, const char *const *states,
			    size_t n, int64_t now)
{
	struct pgs *q = pg_of(s);
	int r;

	if ((r = enter(q, "behaviour_put")) != ATTEST_OK)
		return r;
	if (n == 0)
		return ATTEST_OK;
	if (keys == NULL || states == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: behaviour_put: no rows");
	if ((r = exec_sql(q, "BEGIN ISOLATION LEVEL READ COMMITTED", "begin")) != ATTEST_OK)
		return r;
	for (size_t i = 0; i < n && r == ATTEST_OK; i++) {
		struct params p = { 0 };

		if ((r = vstore_arg_name(keys[i], VSTORE_BKEY_MAX, "behaviour key")) != ATTEST_OK ||
		    (r = vstore_arg_name(states[i], VSTORE_BEHAVIOUR_MAX, "behaviour state")) !=
			    ATTEST_OK ||
		    (r = p_text(&p, keys[i], VSTORE_BKEY_MAX)) != ATTEST_OK ||
		    (r = p_text(&p, states[i], VSTORE_BEHAVIOUR_MAX)) != ATTEST_OK ||
		    (r = p_int(&p, now)) != ATTEST_OK)
			break;
		r = run_write(q, ST_BEHAVIOUR_PUT, &p, "behaviour_put", NULL);
	}
	return tx_end(q, r);
}

struct bwalk {
	int (*cb)(void *arg, const char *key, const char *state);
	void *arg;
	char *key, *state;
};

static int behaviour_each(const PGresult *res, int row, void *ctx)
{
	struct bwalk *w = ctx;
	int r;

	if ((r = c_text(res, row, 0, w->key, VSTORE_BKEY_MAX)) != ATTEST_OK ||
	    (r = c_text(res, row, 1, w->state, VSTORE_BEHAVIOUR_MAX)) != ATTEST_OK)
		return r;
	return w->cb(w->arg, w->key, w->state);
}

static int pg_behaviour_list(struct vstore *s,
			     int (*cb)(void *arg, const char *key, const char *state), void *arg)
{
	struct pgs *q = pg_of(s);
	struct bwalk w = { cb, arg, NULL, NULL };
	struct params p = { 0 };
	int r;

	if ((r = enter(q, "behaviour_list")) != ATTEST_OK)
		return r;
	if (cb == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: behaviour_list: no callback");
	if ((w.key = malloc(VSTORE_BKEY_MAX)) == NULL || (w.state = malloc(VSTORE_BEHAVIOUR_MAX)) == NULL)
		r = attest_fail(ATTEST_E_NOMEM, "store: behaviour_list");
	else
		r = walk(q, ST_BEHAVIOUR_LIST, &p, "behaviour_list", behaviour_each, &w);
	free(w.key);
	free(w.state);
	return r;
}

static int pg_agent_change_note(struct vstore *s, const char *id, int64_t now)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	int r;

	if ((r = enter(q, "agent_change_note")) != ATTEST_OK ||
	    (r = vstore_arg_name(id, VSTORE_ID_MAX, "agent id")) != ATTEST_OK)
		return r;
	if ((r = p_text(&p, id, VSTORE_ID_MAX)) != ATTEST_OK || (r = p_int(&p, now)) != ATTEST_OK)
		return r;
	return run_write(q, ST_CHANGE_NOTE, &p, "agent_change_note", NULL);
}

struct cwalk {
	int (*cb)(void *arg, const char *id, uint64_t changes, int64_t first, int64_t last);
	void *arg;
};

static int change_each(const PGresult *res, int row, void *ctx)
{
	struct cwalk *w = ctx;
	char id[VSTORE_ID_MAX];
	int64_t n, first, last;
	int r;

	if ((r = c_text(res, row, 0, id, sizeof(id))) != ATTEST_OK ||
	    (r = c_int(res, row, 1, 0, INT64_MAX, &n)) != ATTEST_OK ||
	    (r = c_int(res, row, 2, INT64_MIN, INT64_MAX, &first)) != ATTEST_OK ||
	    (r = c_int(res, row, 3, INT64_MIN, INT64_MAX, &last)) != ATTEST_OK)
		return r;
	return w->cb(w->arg, id, (uint64_t)n, first, last);
}

static int pg_agent_change_list(struct vstore *s,
				int (*cb)(void *arg, const char *id, uint64_t changes,
					  int64_t first, int64_t last),
				void *arg)
{
	struct pgs *q = pg_of(s);
	struct cwalk w = { cb, arg };
	struct params p = { 0 };
	int r;

	if ((r = enter(q, "agent_change_list")) != ATTEST_OK)
		return r;
	if (cb == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: agent_change_list: no callback");
	return walk(q, ST_CHANGE_LIST, &p, "agent_change_list", change_each, &w);
}

/* ---- host CRLs ---- */

static int pg_host_crls_get(struct vstore *s, const char *host, char *out, size_t outsz)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	PGresult *res = NULL;
	int r;

	if (out == NULL || outsz < VSTORE_CRLS_MAX)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: host_crls_get: output under %d bytes",
				   VSTORE_CRLS_MAX);
	out[0] = '\0';
	if ((r = enter(q, "host_crls_get")) != ATTEST_OK ||
	    (r = vstore_arg_name(host, VSTORE_NAME_MAX, "host name")) != ATTEST_OK ||
	    (r = p_text(&p, host, VSTORE_NAME_MAX)) != ATTEST_OK ||
	    (r = run(q, ST_CRLS_GET, &p, "host_crls_get", &res)) != ATTEST_OK)
		return r;
	if ((r = one_row(res, "host_crls_get")) == ATTEST_E_NOT_FOUND)
		r = attest_fail(ATTEST_E_NOT_FOUND, "store: no CRLs of host %s", host);
	else if (r == ATTEST_OK)
		r = c_text(res, 0, 0, out, VSTORE_CRLS_MAX);
	PQclear(res);
	return r;
}

static int pg_host_crls_put(struct vstore *s, const char *host, const char *pem)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	int r;

	if ((r = enter(q, "host_crls_put")) != ATTEST_OK ||
	    (r = vstore_arg_name(host, VSTORE_NAME_MAX, "host name")) != ATTEST_OK)
		return r;
	if (pem == NULL || pem[0] == '\0')
		return attest_fail(ATTEST_E_INVALID_ARG, "store: host_crls_put: no CRLs");
	if ((r = p_text(&p, host, VSTORE_NAME_MAX)) != ATTEST_OK ||
	    (r = p_text(&p, pem, VSTORE_CRLS_MAX)) != ATTEST_OK)
		return r;
	return run_write(q, ST_CRLS_PUT, &p, "host_crls_put", NULL);
}

/* ---- JWT-SVID keys ---- */

static int jwtk_row(const PGresult *res, int row, struct vjwtkey *k)
{
	int r;

	memset(k, 0, sizeof(*k));
	if ((r = c_text(res, row, 0, k->kid, sizeof(k->kid))) != ATTEST_OK ||
	    (r = c_text(res, row, 1, k->host, sizeof(k->host))) != ATTEST_OK ||
	    (r = c_text(res, row, 2, k->cert, sizeof(k->cert))) != ATTEST_OK ||
	    (r = c_int(res, row, 3, INT64_MIN, INT64_MAX, &k->not_after)) != ATTEST_OK ||
	    (r = c_int(res, row, 4, INT64_MIN, INT64_MAX, &k->seen)) != ATTEST_OK)
		return r;
	return ATTEST_OK;
}

static int pg_jwt_key_get(struct vstore *s, const char *kid, struct vjwtkey *out)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	PGresult *res = NULL;
	int r;

	if ((r = enter(q, "jwt_key_get")) != ATTEST_OK ||
	    (r = vstore_arg_name(kid, VSTORE_KID_MAX, "kid")) != ATTEST_OK ||
	    (r = p_text(&p, kid, VSTORE_KID_MAX)) != ATTEST_OK ||
	    (r = run(q, ST_JWTK_GET, &p, "jwt_key_get", &res)) != ATTEST_OK)
		return r;
	if ((r = one_row(res, "jwt_key_get")) == ATTEST_E_NOT_FOUND)
		r = attest_fail(ATTEST_E_NOT_FOUND, "store: no JWT key %s", kid);
	else if (r == ATTEST_OK)
		r = jwtk_row(res, 0, out);
	PQclear(res);
	return r;
}

static int pg_jwt_key_put(struct vstore *s, const struct vjwtkey *k)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	long changes = 0;
	int r;

	if ((r = enter(q, "jwt_key_put")) != ATTEST_OK ||
	    (r = vstore_arg_name(k->kid, VSTORE_KID_MAX, "kid")) != ATTEST_OK ||
	    (r = vstore_arg_name(k->host, VSTORE_NAME_MAX, "host name")) != ATTEST_OK ||
	    (r = vstore_arg_name(k->cert, VSTORE_JWTCERT_MAX, "JWT key certificate")) != ATTEST_OK)
		return r;
	if ((r = p_text(&p, k->kid, VSTORE_KID_MAX)) != ATTEST_OK ||
	    (r = p_text(&p, k->host, VSTORE_NAME_MAX)) != ATTEST_OK ||
	    (r = p_text(&p, k->cert, VSTORE_JWTCERT_MAX)) != ATTEST_OK ||
	    (r = p_int(&p, k->not_after)) != ATTEST_OK || (r = p_int(&p, k->seen)) != ATTEST_OK)
		return r;
	if ((r = run_write(q, ST_JWTK_PUT, &p, "jwt_key_put", &changes)) != ATTEST_OK)
		return r;
	return changes == 1 ? ATTEST_OK
			    : attest_fail(ATTEST_E_DUPLICATE_KEY,
					  "store: JWT key %s is another host's", k->kid);
}

static int pg_jwt_keys_prune(struct vstore *s, const char *host, int64_t before, long *dropped)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
	int r;

	*dropped = 0;
	if ((r = enter(q, "jwt_keys_prune")) != ATTEST_OK ||
	    (r = vstore_arg_name(host, VSTORE_NAME_MAX, "host name")) != ATTEST_OK ||
	    (r = p_text(&p, host, VSTORE_NAME_MAX)) != ATTEST_OK || (r = p_int(&p, before)) != ATTEST_OK)
		return r;
	return run_write(q, ST_JWTK_PRUNE, &p, "jwt_keys_prune", dropped);
}

struct jwalk {
	int (*cb)(void *arg, const struct vjwtkey *k);
	void *arg;
	struct vjwtkey k;
};

static int jwtk_each(const PGresult *res, int row, void *ctx)
{
	struct jwalk *w = ctx;
	int r;

	if ((r = jwtk_row(res, row, &w->k)) != ATTEST_OK)
		return r;
	return w->cb(w->arg, &w->k);
}

static int pg_jwt_key_list(struct vstore *s, int (*cb)(void *arg, const struct vjwtkey *k),
			   void *arg)
{
	struct pgs *q = pg_of(s);
	struct params p = { 0 };
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
	r = walk(q, ST_JWTK_LIST, &p, "jwt_key_list", jwtk_each, w);
	free(w);
	return r;
}

/* ---- session: settings and statements, again after a reconnect ---- */

static void no_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int session_setup(struct pgs *q)
{
	int r;

	/* every commit waits for the WAL flush; read committed is what the
	 * conditional UPDATEs need (a stricter default would make racing
	 * takers fail with a serialization error instead of "used") */
	if ((r = exec_sql(q, "SET synchronous_commit = on", "synchronous_commit")) != ATTEST_OK ||
	    (r = exec_sql(q, "SET default_transaction_isolation = 'read committed'",
			  "isolation")) != ATTEST_OK ||
	    (r = exec_sql(q, "SET client_encoding = 'UTF8'", "client_encoding")) != ATTEST_OK)
		return r;
	return ATTEST_OK;
}

static int prepare_all(struct pgs *q)
{
	for (int i = 0; i < ST__COUNT; i++) {
		char name[16];
		PGresult *res;
		int r = ATTEST_OK;

		(void)snprintf(name, sizeof(name), "vs%d", i);
		res = PQprepare(q->c, name, st_def[i].sql, st_def[i].nparams, st_def[i].types);
		if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
			r = res_fail(q, res, "prepare");
		PQclear(res);
		if (r != ATTEST_OK)
			return r;
	}
	return ATTEST_OK;
}

/* Every call refuses to run inside a list callback, and a connection the
 * server dropped (a restart, a failover) is re-made once, with its
 * session settings and statements, before the call; a call whose
 * connection drops mid-way fails (ATTEST_E_IO) and changed nothing or
 * committed whole: the server decides, never a half-row. */
static int enter(struct pgs *q, const char *what)
{
	int r;

	if (q->in_cb)
		return attest_fail(ATTEST_E_STATE, "store: %s called from a list callback", what);
	if (PQstatus(q->c) == CONNECTION_OK)
		return ATTEST_OK;
	PQreset(q->c);
	if (PQstatus(q->c) != CONNECTION_OK) {
		char msg[400];

		one_line(PQerrorMessage(q->c), msg, sizeof(msg));
		return attest_fail(ATTEST_E_IO, "store: %s: reconnect: %s", what, msg);
	}
	if ((r = session_setup(q)) != ATTEST_OK || (r = prepare_all(q)) != ATTEST_OK)
		return r;
	return ATTEST_OK;
}

/* ---- open, migrate, close ---- */

static void pg_close(struct vstore *s)
{
	struct pgs *q = pg_of(s);

	if (q == NULL)
		return;
	PQfinish(q->c); /* NULL-safe */
	PQfinish(q->w);
	free(q->conninfo);
	free(q);
}

static const struct vstore_ops pg_ops = {
	.close = pg_close,
	.host_get = pg_host_get,
	.host_put = pg_host_put,
	.host_put_quote = pg_host_put_quote,
	.host_list = pg_host_list,
	.nonce_issue = pg_nonce_issue,
	.nonce_take = pg_nonce_take,
	.nonce_prune = pg_nonce_prune,
	.agent_get = pg_agent_get,
	.agent_put = pg_agent_put,
	.agent_list = pg_agent_list,
	.agent_list_host = pg_agent_list_host,
	.refset_put = pg_refset_put,
	.refset_set_active = pg_refset_set_active,
	.refset_list = pg_refset_list,
	.caller_put = pg_caller_put,
	.caller_by_spki = pg_caller_by_spki,
	.caller_list = pg_caller_list,
	.setting_get = pg_setting_get,
	.setting_put = pg_setting_put,
	.agent_chain_get = pg_agent_chain_get,
	.agent_chain_put = pg_agent_chain_put,
	.host_revoke = pg_host_revoke,
	.host_reset_ak = pg_host_reset_ak,
	.agent_revoke = pg_agent_revoke,
	.agent_approve = pg_agent_approve,
	.setting_cas = pg_setting_cas,
	.generation_bump = pg_generation_bump,
	.replica_beat = pg_replica_beat,
	.replica_list = pg_replica_list,
	.host_stale = pg_host_stale,
	.watch_fd = pg_watch_fd,
	.watch_drain = pg_watch_drain,
	.behaviour_put = pg_behaviour_put,
	.behaviour_list = pg_behaviour_list,
	.agent_change_note = pg_agent_change_note,
	.agent_change_list = pg_agent_change_list,
	.host_crls_get = pg_host_crls_get,
	.host_crls_put = pg_host_crls_put,
	.jwt_key_get = pg_jwt_key_get,
	.jwt_key_put = pg_jwt_key_put,
	.jwt_keys_prune = pg_jwt_keys_prune,
	.jwt_key_list = pg_jwt_key_list,
};

/* A one-row, one-column query (text format) as an integer. */
static int query_int(struct pgs *q, const char *sql, int64_t *out)
{
	PGresult *res = PQexec(q->c, sql);
	uint64_t v = 0;
	int r = ATTEST_OK;

	*out = 0;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		r = res_fail(q, res, "schema");
	else if (PQntuples(res) != 1 || PQnfields(res) != 1 || PQgetisnull(res, 0, 0) ||
		 attest_parse_u64(PQgetvalue(res, 0, 0), 0, INT32_MAX, &v) != ATTEST_OK)
		r = attest_fail(ATTEST_E_STATE, "store: %s: not one number", sql);
	else
		*out = (int64_t)v;
	PQclear(res);
	return r;
}

/* The schema version: 0 when the current schema has no attest_schema
 * table (with *others the number of other tables there), else the one
 * row's version, which must be ours (application) and in range. */
static int read_version(struct pgs *q, int64_t *version, int64_t *others)
{
	PGresult *res = NULL;
	int64_t have;
	uint64_t v = 0;
	int r;

	*version = 0;
	*others = 0;
	if ((r = query_int(q, "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = "
			      "current_schema() AND tablename = 'attest_schema'", &have)) != ATTEST_OK ||
	    (r = query_int(q, "SELECT count(*) FROM pg_catalog.pg_class c JOIN "
			      "pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE "
			      "n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
			   others)) != ATTEST_OK)
		return r;
	if (have == 0)
		return ATTEST_OK;
	res = PQexec(q->c, "SELECT version, application FROM attest_schema");
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		r = res_fail(q, res, "schema version");
		goto out;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0) || PQgetisnull(res, 0, 1) ||
	    strcmp(PQgetvalue(res, 0, 1), APP_NAME) != 0) {
		r = attest_fail(ATTEST_E_STATE, "store: attest_schema is not attest-verifier's");
		goto out;
	}
	if (attest_parse_u64(PQgetvalue(res, 0, 0), 0, INT32_MAX, &v) != ATTEST_OK) {
		r = attest_fail(ATTEST_E_STATE, "store: schema version \"%.20s\" is not a number",
				PQgetvalue(res, 0, 0));
		goto out;
	}
	*version = (int64_t)v;
	r = ATTEST_OK;
out:
	PQclear(res);
	return r;
}

/* Brings the schema to SCHEMA_VERSION, one transaction per step, each
 * under a transaction-scoped advisory lock and re-reading the version
 * inside it: verifiers opening one database at once apply each step once
 * and the others find it applied. */
static int migrate(struct pgs *q)
{
	char sql[96];
	int64_t v, others;
	int r;

	if ((r = read_version(q, &v, &others)) != ATTEST_OK)
		return r;
	if (v > SCHEMA_VERSION)
		return attest_fail(ATTEST_E_STATE,
				   "store: database schema version %" PRId64
				   " is newer than this verifier's (%d)",
				   v, SCHEMA_VERSION);
	for (size_t i = 0; i < NMIGRATIONS; i++) {
		const struct migration *m = &migrations[i];

		if ((r = exec_sql(q, "BEGIN ISOLATION LEVEL READ COMMITTED", "begin migration")) !=
			    ATTEST_OK ||
		    (r = exec_sql(q, "SELECT pg_advisory_xact_lock(" ADVISORY_KEY ")",
				  "migration lock")) != ATTEST_OK ||
		    (r = read_version(q, &v, &others)) != ATTEST_OK)
			goto step_out;
		if (v >= m->version)
			goto step_out; /* applied (perhaps just now, by another opener) */
		if (v != m->version - 1) {
			r = attest_fail(ATTEST_E_STATE, "store: schema version %" PRId64
					" has no step to %d", v, m->version);
			goto step_out;
		}
		/* version 0: the schema must hold nothing, not someone else's */
		if (v == 0 && others != 0) {
			r = attest_fail(ATTEST_E_STATE,
					"store: the database's schema has %" PRId64
					" tables but no attest_schema; not ours",
					others);
			goto step_out;
		}
		if ((r = exec_sql(q, m->sql, "migration")) != ATTEST_OK)
			goto step_out;
		(void)snprintf(sql, sizeof(sql), "UPDATE attest_schema SET version = %d", m->version);
		r = exec_sql(q, sql, "set schema version");
step_out:
		r = tx_end(q, r);
		if (r != ATTEST_OK)
			return r;
	}
	return ATTEST_OK;
}

/* After migrations: the marker row init's schema wrote is there. */
static int check_marker(struct pgs *q)
{
	PGresult *res = PQexec(q->c, "SELECT value FROM settings WHERE key = '" VSTORE_MARKER_KEY "'");
	int r = ATTEST_OK;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		r = res_fail(q, res, "marker");
	else if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0) ||
		 strcmp(PQgetvalue(res, 0, 0), VSTORE_MARKER_VALUE) != 0)
		r = attest_fail(ATTEST_E_STORE_DAMAGED,
				"store: the database lacks the marker row 'attest-verifier init' "
				"writes (rows deleted or another database)");
	PQclear(res);
	return r;
}

static int open_store(const char *conninfo, int create, struct vstore **out)
{
	/* ours first, so that the URI's own settings win */
	static const char *const keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *vals[] = { "10", APP_NAME, conninfo, NULL };
	struct pgs *q = NULL;
	int64_t v, others;
	int r = ATTEST_E_INTERNAL;

	if (out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: no output");
	*out = NULL;
	if (conninfo == NULL || conninfo[0] == '\0')
		return attest_fail(ATTEST_E_INVALID_ARG, "store: no connection string");
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "store: open");
	q->base.ops = &pg_ops;
	if ((q->conninfo = strdup(conninfo)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "store: open");
		goto out;
	}
	q->c = PQconnectdbParams(keys, vals, 1);
	if (q->c == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "store: connect");
		goto out;
	}
	(void)PQsetNoticeProcessor(q->c, no_notices, NULL);
	if (PQstatus(q->c) != CONNECTION_OK) {
		char msg[400];

		/* libpq's message names host and database, never the password */
		one_line(PQerrorMessage(q->c), msg, sizeof(msg));
		r = attest_fail(ATTEST_E_IO, "store: connect to PostgreSQL: %s", msg);
		goto out;
	}
	if ((r = session_setup(q)) != ATTEST_OK)
		goto out;
	if (!create) {
		/* serve never creates a store: an empty database is a deleted one */
		if ((r = read_version(q, &v, &others)) != ATTEST_OK)
			goto out;
		if (v <= 0) {
			r = attest_fail(ATTEST_E_STORE_DAMAGED,
					"store: the database has no attest-verifier schema (emptied "
					"or never initialised); only 'attest-verifier init' creates "
					"a store");
			goto out;
		}
	}
	if ((r = migrate(q)) != ATTEST_OK || (!create && (r = check_marker(q)) != ATTEST_OK) ||
	    (r = prepare_all(q)) != ATTEST_OK)
		goto out;
	*out = &q->base;
	q = NULL; /* transferred */
	r = ATTEST_OK;
out:
	if (q != NULL)
		pg_close(&q->base);
	return r;
}

int vstore_pg_open(const char *conninfo, struct vstore **out)
{
	return open_store(conninfo, 1, out);
}

int vstore_pg_open_existing(const char *conninfo, struct vstore **out)
{
	return open_store(conninfo, 0, out);
}
