/* test_store.c - the verifier's store (docs/verifier-store.md) on both
 * backends: the contract tests (every op of struct vstore_ops, nonce races
 * between processes, kill -9 of a writer) run on SQLite
 * (verifier/store_sqlite.c) and again on PostgreSQL (verifier/store_pg.c,
 * a private server started by testutil_pg). SQLite only: the file's mode,
 * symlinks, migrations, corrupted rows. PostgreSQL only: the schema made
 * by init only, newer and foreign schemas, a nonce taken by two
 * connections released at once, hand-written bad rows. No TPM. Raw
 * sqlite3 and libpq connections stand in for an attacker or a broken disk
 * that rewrites the database behind the store. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "store.h"
#include "testutil.h"
#include "testutil_pg.h"

/* ---- helpers ---- */

static void path_in(char *out, size_t outsz, const char *dir, const char *name)
{
	CU_ASSERT_FATAL((size_t)snprintf(out, outsz, "%s/%s", dir, name) < outsz);
}

/* ---- the backend under test ----
 *
 * The contract tests run once per backend: on SQLite, a file in a new temp
 * dir; on PostgreSQL, a new database of a private server this process
 * starts (testutil_pg) at its first PostgreSQL test and stops at exit.
 * `path` is the file's path or the database's postgresql:// URI. */
struct backend {
	const char *name;
	int pg;
};

static const struct backend be_sqlite = { "sqlite", 0 };
static const struct backend be_pg = { "postgresql", 1 };
static const struct backend *be = &be_sqlite;
static struct tu_pg pg_server;
static int pg_started;

static void pg_ensure(void)
{
	if (!pg_started) {
		tu_pg_start(&pg_server);
		pg_started = 1;
	}
}

/* A new, empty store: dir gets the temp dir to remove ("" for PostgreSQL). */
static void fresh_store(char *dir, size_t dirsz, char *path, size_t pathsz)
{
	if (be->pg) {
		pg_ensure();
		dir[0] = '\0';
		tu_pg_newdb(&pg_server, path, pathsz);
		return;
	}
	tu_mkdtemp(dir, dirsz);
	path_in(path, pathsz, dir, "v.db");
}

static void drop_store(const char *dir)
{
	if (dir[0] != '\0')
		tu_rmtree(dir);
}

static int be_open(const char *path, struct vstore **s)
{
	return be->pg ? vstore_pg_open(path, s) : vstore_sqlite_open(path, s);
}

static void raw_text(const char *path, const char *sql, char *out, size_t outsz);

static void schema_version(const char *path, char *out, size_t outsz)
{
	if (be->pg)
		tu_pg_text(path, "SELECT version FROM attest_schema", out, outsz);
	else
		raw_text(path, "PRAGMA user_version", out, outsz);
}

static struct vstore *open_ok(const char *path)
{
	struct vstore *s = NULL;

	TU_ASSERT_ERR(be_open(path, &s), ATTEST_OK);
	CU_ASSERT_FATAL(s != NULL);
	return s;
}

/* A raw connection: what someone with write access to the file can do. */
static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *err = NULL;

	CU_ASSERT_FATAL(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
					NULL) == SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fprintf(stderr, "  raw_exec %s: %s\n", sql, err != NULL ? err : "?");
	CU_ASSERT_FATAL(err == NULL);
	sqlite3_close(db);
}

/* First column of the first row as text, into out. */
static void raw_text(const char *path, const char *sql, char *out, size_t outsz)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	const unsigned char *t;

	out[0] = '\0';
	CU_ASSERT_FATAL(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
	CU_ASSERT_FATAL(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
	CU_ASSERT_FATAL(sqlite3_step(st) == SQLITE_ROW);
	t = sqlite3_column_text(st, 0);
	if (t != NULL)
		snprintf(out, outsz, "%s", (const char *)t);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static uint64_t rnd(uint64_t n)
{
	uint64_t v;

	CU_ASSERT_FATAL(RAND_bytes((unsigned char *)&v, sizeof(v)) == 1);
	return v % n;
}

static void fill_host(struct vhost *h, const char *name, uint64_t k)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->state = (enum vhost_state)(k % 3);
	h->reason_code = (int)(k % ATTEST_E__COUNT);
	/* long enough that a row spans a good part of a page */
	for (size_t i = 0; i + 1 < sizeof(h->reason); i++)
		h->reason[i] = (char)('a' + (k + i) % 26);
	h->last_good = (int64_t)k;
	h->last_quote = (int64_t)k + 1;
	h->have_clock = 1;
	h->reset_count = (uint32_t)(k * 7);
	h->restart_count = (uint32_t)(k * 13);
	h->clock = UINT64_MAX - k;
	h->boots = k * 3;
	h->unsafe_seen = (int)(k & 1);
	snprintf(h->refset, sizeof(h->refset), "set-%" PRIu64, k);
	h->revoked = (int)((k >> 1) & 1);
	snprintf(h->revoke_reason, sizeof(h->revoke_reason), "r%" PRIu64, k);
}

static void fill_agent(struct vagent *a, const char *host, const char *name, int seed)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->id, sizeof(a->id), "spiffe://fleet.example/host/%s/agent/%s", host, name);
	snprintf(a->host, sizeof(a->host), "%s", host);
	snprintf(a->uuid, sizeof(a->uuid), "6f1c2b1e-8d7a-4c1f-9a7e-3b2d1c0f9e%02x", seed & 0xff);
	memset(a->agent_ca_hash, 0x10 + seed, sizeof(a->agent_ca_hash));
	memset(a->measurement, 0x20 + seed, sizeof(a->measurement));
	memset(a->policy, 0x30 + seed, sizeof(a->policy));
	snprintf(a->scopes, sizeof(a->scopes), "ehr.read ehr.write");
	snprintf(a->data_classes, sizeof(a->data_classes), "phi");
	a->risk_tier = seed % 4;
	a->risk_score = (seed * 17) % 101;
	a->delegate_depth = seed % 4;
	a->registered = 1700000000 + seed;
}

struct collect {
	int n;
	char names[8][VSTORE_ID_MAX];
	int stop_at; /* return 99 at this row (1-based), 0: never */
	struct vstore *reenter;
};

static int host_cb(void *arg, const struct vhost *h)
{
	struct collect *c = arg;

	if (c->n < 8)
		snprintf(c->names[c->n], sizeof(c->names[0]), "%s", h->name);
	c->n++;
	if (c->reenter != NULL) {
		struct vhost tmp;

		TU_ASSERT_ERR(c->reenter->ops->host_get(c->reenter, h->name, &tmp), ATTEST_E_STATE);
		TU_ASSERT_ERR(c->reenter->ops->host_put(c->reenter, h), ATTEST_E_STATE);
	}
	return c->n == c->stop_at ? 99 : 0;
}

/* ---- open, reopen, migrations, refusals ---- */

static void test_open_reopen(void)
{
	char dir[512], path[600], wal[600], v[64];
	struct vstore *s;
	struct vhost h, got;
	struct stat st;

	tu_mkdtemp(dir, sizeof(dir));
	path_in(path, sizeof(path), dir, "v.db");
	path_in(wal, sizeof(wal), dir, "v.db-wal");
	s = open_ok(path);
	CU_ASSERT(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
	fill_host(&h, "web-01", 5);
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_OK);
	/* the WAL holds the commit and has the database's mode */
	CU_ASSERT(stat(wal, &st) == 0 && (st.st_mode & 07777) == 0600);
	vstore_close(s);

	s = open_ok(path);
	TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &got), ATTEST_OK);
	CU_ASSERT(memcmp(&h, &got, sizeof(h)) == 0);
	TU_ASSERT_ERR(s->ops->host_get(s, "web-02", &got), ATTEST_E_NOT_FOUND);
	vstore_close(s);
	raw_text(path, "PRAGMA user_version", v, sizeof(v));
	CU_ASSERT_STRING_EQUAL(v, "7"); /* 4: behaviour, agent_changes; 5: replicas; 6: host_crls; 7: jwt_keys */
	raw_text(path, "PRAGMA journal_mode", v, sizeof(v));
	CU_ASSERT_STRING_EQUAL(v, "wal");
	vstore_close(NULL); /* NULL-safe */
	TU_ASSERT_ERR(vstore_sqlite_open("", &s), ATTEST_E_INVALID_ARG);
	tu_rmtree(dir);
}

static void test_migrate_and_refuse(void)
{
	char dir[512], path[600], v[64];
	struct vstore *s = NULL;
	int fd;

	tu_mkdtemp(dir, sizeof(dir));
	/* an empty file (as an operator's `install -m 600 /dev/null`) */
	path_in(path, sizeof(path), dir, "empty.db");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	s = open_ok(path);
	vstore_close(s);
	raw_text(path, "PRAGMA user_version", v, sizeof(v));
	CU_ASSERT_STRING_EQUAL(v, "7"); /* 4: behaviour, agent_changes; 5: replicas; 6: host_crls; 7: jwt_keys */
	raw_text(path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'", v, sizeof(v));
	CU_ASSERT_STRING_EQUAL(v, "12"); /* 7, behaviour, agent_changes, replicas, host_crls, jwt_keys */

	/* a database from a newer verifier: refused, and left as it was */
	path_in(path, sizeof(path), dir, "newer.db");
	raw_exec(path, "CREATE TABLE future (x); PRAGMA user_version = 99;");
	CU_ASSERT_FATAL(chmod(path, 0600) == 0);
	TU_ASSERT_ERR(vstore_sqlite_open(path, &s), ATTEST_E_STATE);
	CU_ASSERT(s == NULL);
	CU_ASSERT(strstr(attest_errdetail(), "newer") != NULL);
	raw_text(path, "PRAGMA user_version", v, sizeof(v));
	CU_ASSERT_STRING_EQUAL(v, "99");

	/* someone else's database (no version, tables of its own) */
	path_in(path, sizeof(path), dir, "other.db");
	raw_exec(path, "CREATE TABLE t (x);");
	CU_ASSERT_FATAL(chmod(path, 0600) == 0);
	TU_ASSERT_ERR(vstore_sqlite_open(path, &s), ATTEST_E_STATE);
	raw_text(path, "PRAGMA user_version", v, sizeof(v));
	CU_ASSERT_STRING_EQUAL(v, "0");

	/* our version number but another application id */
	path_in(path, sizeof(path), dir, "appid.db");
	raw_exec(path, "CREATE TABLE t (x); PRAGMA user_version = 1; PRAGMA application_id = 7;");
	CU_ASSERT_FATAL(chmod(path, 0600) == 0);
	TU_ASSERT_ERR(vstore_sqlite_open(path, &s), ATTEST_E_STATE);

	/* not a database at all */
	path_in(path, sizeof(path), dir, "junk.db");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, "this is not SQLite, not at all, no.........................\n",
			      61) == 61);
	close(fd);
	TU_ASSERT_ERR(vstore_sqlite_open(path, &s), ATTEST_E_STORE_DAMAGED);
	tu_rmtree(dir);
}

static void test_file_refusals(void)
{
	char dir[512], path[600], link[600];
	struct vstore *s = NULL;
	struct stat st;

	tu_mkdtemp(dir, sizeof(dir));
	path_in(path, sizeof(path), dir, "v.db");
	s = open_ok(path);
	vstore_close(s);
	s = NULL;

	/* a symlink to a good database */
	path_in(link, sizeof(link), dir, "link.db");
	CU_ASSERT_FATAL(symlink(path, link) == 0);
	TU_ASSERT_ERR(vstore_sqlite_open(link, &s), ATTEST_E_IO);
	CU_ASSERT(strstr(attest_errdetail(), "symlink") != NULL);
	CU_ASSERT(s == NULL);
	/* a dangling symlink is not followed to create the target */
	path_in(link, sizeof(link), dir, "dangling.db");
	path_in(path, sizeof(path), dir, "target.db");
	CU_ASSERT_FATAL(symlink(path, link) == 0);
	TU_ASSERT_ERR(vstore_sqlite_open(link, &s), ATTEST_E_IO);
	CU_ASSERT(lstat(path, &st) != 0 && errno == ENOENT);

	/* a symlink planted as the WAL: SQLite opens it O_NOFOLLOW too */
	path_in(link, sizeof(link), dir, "v.db-wal");
	path_in(path, sizeof(path), dir, "victim");
	CU_ASSERT_FATAL(symlink(path, link) == 0);
	path_in(path, sizeof(path), dir, "v.db");
	TU_ASSERT_ERR(vstore_sqlite_open(path, &s), ATTEST_E_IO);
	path_in(path, sizeof(path), dir, "victim");
	CU_ASSERT(lstat(path, &st) != 0 && errno == ENOENT);
	CU_ASSERT_FATAL(unlink(link) == 0);

	/* a group-writable or world-readable database: refused, not chmod'ed */
	path_in(path, sizeof(path), dir, "v.db");
	CU_ASSERT_FATAL(chmod(path, 0660) == 0);
	TU_ASSERT_ERR(vstore_sqlite_open(path, &s), ATTEST_E_IO);
	CU_ASSERT(stat(path, &st) == 0 && (st.st_mode & 07777) == 0660);
	CU_ASSERT_FATAL(chmod(path, 0604) == 0);
	TU_ASSERT_ERR(vstore_sqlite_open(path, &s), ATTEST_E_IO);
	CU_ASSERT_FATAL(chmod(path, 0400) == 0); /* stricter is fine for the mode check */
	CU_ASSERT_FATAL(chmod(path, 0600) == 0);
	s = open_ok(path);
	vstore_close(s);
	s = NULL;

	/* a directory */
	path_in(path, sizeof(path), dir, "sub.db");
	CU_ASSERT_FATAL(mkdir(path, 0700) == 0);
	TU_ASSERT_ERR(vstore_sqlite_open(path, &s), ATTEST_E_IO);
	tu_rmtree(dir);
}

/* ---- hosts ---- */

static void test_hosts(void)
{
	char dir[512], path[600];
	struct vstore *s;
	struct vhost h, got;
	struct collect c;

	fresh_store(dir, sizeof(dir), path, sizeof(path));
	s = open_ok(path);

	/* 64-bit counters at and near the top survive the TEXT round trip */
	fill_host(&h, "db-01", 0);
	h.clock = UINT64_MAX;
	h.boots = UINT64_MAX - 1;
	h.reset_count = UINT32_MAX;
	h.restart_count = UINT32_MAX - 1;
	h.last_good = INT64_MAX;
	h.last_quote = INT64_MIN;
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->host_get(s, "db-01", &got), ATTEST_OK);
	CU_ASSERT(memcmp(&h, &got, sizeof(h)) == 0);
	CU_ASSERT(got.clock == UINT64_MAX && got.boots == UINT64_MAX - 1);
	/* put again replaces the row */
	fill_host(&h, "db-01", 77);
	h.state = VHOST_UNTRUSTED;
	h.clock = 0;
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->host_get(s, "db-01", &got), ATTEST_OK);
	CU_ASSERT(memcmp(&h, &got, sizeof(h)) == 0);
	CU_ASSERT(got.state == VHOST_UNTRUSTED && got.clock == 0);
	/* booleans are stored as 0/1 */
	fill_host(&h, "web-01", 1);
	h.revoked = 5;
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &got), ATTEST_OK);
	CU_ASSERT(got.revoked == 1);
	fill_host(&h, "app-01", 2);
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_OK);

	/* list: every host, by name; a nonzero callback result stops it */
	memset(&c, 0, sizeof(c));
	TU_ASSERT_ERR(s->ops->host_list(s, host_cb, &c), ATTEST_OK);
	CU_ASSERT(c.n == 3);
	CU_ASSERT_STRING_EQUAL(c.names[0], "app-01");
	CU_ASSERT_STRING_EQUAL(c.names[1], "db-01");
	CU_ASSERT_STRING_EQUAL(c.names[2], "web-01");
	memset(&c, 0, sizeof(c));
	c.stop_at = 2;
	CU_ASSERT(s->ops->host_list(s, host_cb, &c) == 99);
	CU_ASSERT(c.n == 2);
	/* the store refuses calls from inside a list callback, and works after */
	memset(&c, 0, sizeof(c));
	c.reenter = s;
	TU_ASSERT_ERR(s->ops->host_list(s, host_cb, &c), ATTEST_OK);
	CU_ASSERT(c.n == 3);
	TU_ASSERT_ERR(s->ops->host_get(s, "app-01", &got), ATTEST_OK);

	/* bad input changes nothing */
	fill_host(&h, "", 3);
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_E_INVALID_ARG);
	fill_host(&h, "x", 3);
	memset(h.name, 'n', sizeof(h.name)); /* no NUL inside the field */
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_E_INVALID_ARG);
	fill_host(&h, "x", 3);
	memset(h.reason, 'r', sizeof(h.reason));
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_E_INVALID_ARG);
	fill_host(&h, "x", 3);
	h.state = (enum vhost_state)7;
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_E_INVALID_ARG);
	fill_host(&h, "x", 3);
	h.reason_code = -1;
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(s->ops->host_get(s, "x", &got), ATTEST_E_NOT_FOUND);
	TU_ASSERT_ERR(s->ops->host_get(s, "", &got), ATTEST_E_INVALID_ARG);
	vstore_close(s);
	drop_store(dir);
}

/* Two verifiers on one store appraise quotes of one host against the
 * same stored counters: the first to write wins; the second, whose quote
 * is older (clock 150 < 200), is refused and the counters do not roll
 * back. A revocation stored meanwhile survives a quote's write. */
static void test_host_counters(void)
{
	char dir[512], path[600];
	struct vstore *s, *s2;
	struct vhost h, a, b, got;

	fresh_store(dir, sizeof(dir), path, sizeof(path));
	s = open_ok(path);
	s2 = open_ok(path);
	fill_host(&h, "web-01", 5);
	h.have_clock = 1;
	h.reset_count = 1;
	h.restart_count = 0;
	h.clock = 100;
	h.revoked = 0;
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &a), ATTEST_OK);
	TU_ASSERT_ERR(s2->ops->host_get(s2, "web-01", &b), ATTEST_OK);
	got = a;
	got.clock = 200;
	got.state = VHOST_TRUSTED;
	TU_ASSERT_ERR(s->ops->host_put_quote(s, &got, &a), ATTEST_OK);
	got = b;
	got.clock = 150;
	got.state = VHOST_TRUSTED;
	TU_ASSERT_ERR(s2->ops->host_put_quote(s2, &got, &b), ATTEST_E_QUOTE_COUNTER);
	TU_ASSERT_ERR(s2->ops->host_get(s2, "web-01", &got), ATTEST_OK);
	CU_ASSERT(got.clock == 200 && got.reset_count == 1);
	/* the same counters but another reset or restart count: refused too */
	b = got;
	b.restart_count = 1;
	got.clock = 300;
	TU_ASSERT_ERR(s->ops->host_put_quote(s, &got, &b), ATTEST_E_QUOTE_COUNTER);
	b.restart_count = 0;
	b.have_clock = 0;
	TU_ASSERT_ERR(s->ops->host_put_quote(s, &got, &b), ATTEST_E_QUOTE_COUNTER);
	/* revoked at the other verifier between read and write: kept */
	TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &a), ATTEST_OK);
	b = a;
	b.revoked = 1;
	snprintf(b.revoke_reason, sizeof(b.revoke_reason), "stolen");
	TU_ASSERT_ERR(s2->ops->host_put(s2, &b), ATTEST_OK);
	got = a;
	got.clock = 400;
	TU_ASSERT_ERR(s->ops->host_put_quote(s, &got, &a), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &got), ATTEST_OK);
	CU_ASSERT(got.clock == 400 && got.revoked == 1);
	CU_ASSERT_STRING_EQUAL(got.revoke_reason, "stolen");
	/* no such host; bad arguments */
	fill_host(&h, "web-02", 1);
	TU_ASSERT_ERR(s->ops->host_put_quote(s, &h, &h), ATTEST_E_QUOTE_COUNTER);
	TU_ASSERT_ERR(s->ops->host_get(s, "web-02", &got), ATTEST_E_NOT_FOUND);
	TU_ASSERT_ERR(s->ops->host_put_quote(s, &h, NULL), ATTEST_E_INVALID_ARG);
	h.state = (enum vhost_state)9;
	TU_ASSERT_ERR(s->ops->host_put_quote(s, &h, &h), ATTEST_E_INVALID_ARG);
	vstore_close(s2);
	vstore_close(s);
	drop_store(dir);
}

/* ---- nonces ---- */

static void nonce_of(uint8_t n[VSTORE_NONCE_LEN], int v)
{
	memset(n, v, VSTORE_NONCE_LEN);
}

#define TAKE_REFUSED(s_, host_, n_, now_, why_)                                      \
	do {                                                                         \
		TU_ASSERT_ERR((s_)->ops->nonce_take((s_), (host_), (n_), (now_)),    \
			      ATTEST_E_NONCE);                                       \
		CU_ASSERT_STRING_EQUAL(attest_errdetail(), (why_));                  \
	} while (0)

static void test_nonces(void)
{
	char dir[512], path[600];
	struct vstore *s;
	uint8_t n1[32], n2[32], n3[32], n4[32], n5[32];

	fresh_store(dir, sizeof(dir), path, sizeof(path));
	s = open_ok(path);
	nonce_of(n1, 1);
	nonce_of(n2, 2);
	nonce_of(n3, 3);
	nonce_of(n4, 4);
	nonce_of(n5, 5);
	TU_ASSERT_ERR(s->ops->nonce_issue(s, "h1", n1, 1000), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->nonce_issue(s, "h1", n2, 1000), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->nonce_issue(s, "h1", n3, 1000), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->nonce_issue(s, "h1", n5, 5000), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->nonce_issue(s, "h2", n1, 2000), ATTEST_E_EXISTS); /* never reissued */

	/* once, then used (also after a reopen) */
	TU_ASSERT_ERR(s->ops->nonce_take(s, "h1", n1, 999), ATTEST_OK);
	TAKE_REFUSED(s, "h1", n1, 999, "used");
	vstore_close(s);
	s = open_ok(path);
	TAKE_REFUSED(s, "h1", n1, 500, "used");
	/* expired: the last good second is expires - 1 */
	TAKE_REFUSED(s, "h1", n2, 1000, "expired");
	TAKE_REFUSED(s, "h1", n2, INT64_MAX, "expired");
	/* another host's nonce is refused and not burned */
	TAKE_REFUSED(s, "h2", n3, 10, "other host");
	TU_ASSERT_ERR(s->ops->nonce_take(s, "h1", n3, 10), ATTEST_OK);
	TAKE_REFUSED(s, "h1", n4, 10, "unknown");
	TU_ASSERT_ERR(s->ops->nonce_take(s, "", n4, 10), ATTEST_E_INVALID_ARG);

	/* prune drops every expired nonce, used or not, and keeps the rest */
	TU_ASSERT_ERR(s->ops->nonce_prune(s, 1000), ATTEST_OK);
	TAKE_REFUSED(s, "h1", n1, 10, "unknown");
	TAKE_REFUSED(s, "h1", n2, 10, "unknown");
	TAKE_REFUSED(s, "h1", n3, 10, "unknown");
	TU_ASSERT_ERR(s->ops->nonce_take(s, "h1", n5, 4999), ATTEST_OK);
	TAKE_REFUSED(s, "h1", n5, 4999, "used");
	TU_ASSERT_ERR(s->ops->nonce_prune(s, 4999), ATTEST_OK);
	TAKE_REFUSED(s, "h1", n5, 4999, "used"); /* a used nonce stays until it expires */
	TU_ASSERT_ERR(s->ops->nonce_prune(s, 5000), ATTEST_OK);
	TAKE_REFUSED(s, "h1", n5, 4999, "unknown");
	vstore_close(s);
	drop_store(dir);
}

/* Several processes, each with its own vstore on one new file: all open
 * it (one migrates, the others find version 1), and of all the takers of
 * each nonce exactly one wins; the others are told "used". */
#define RACERS 4
#define RACE_NONCES 24

static void race_child(const char *path, int open_fd, int take_fd)
{
	struct vstore *s = NULL;
	uint8_t n[VSTORE_NONCE_LEN];
	char c;
	int won = 0;

	if (read(open_fd, &c, 1) != 1)
		_exit(101);
	if (be_open(path, &s) != ATTEST_OK) {
		fprintf(stderr, "  racer open: %s\n", attest_errdetail());
		_exit(102);
	}
	/* wait until the parent has issued the nonces */
	if (read(take_fd, &c, 1) != 1)
		_exit(103);
	for (int i = 0; i < RACE_NONCES; i++) {
		int r;

		nonce_of(n, 0x40 + i);
		r = s->ops->nonce_take(s, "h1", n, 10);
		if (r == ATTEST_OK)
			won++;
		else if (r != ATTEST_E_NONCE || strcmp(attest_errdetail(), "used") != 0) {
			fprintf(stderr, "  racer take: %s (%s)\n", attest_errname(r),
				attest_errdetail());
			_exit(104);
		}
	}
	vstore_close(s);
	_exit(won);
}

static void test_concurrent(void)
{
	char dir[512], path[600], v[64];
	uint8_t n[VSTORE_NONCE_LEN];
	pid_t pids[RACERS];
	struct vstore *s;
	int go[2], take[2], total = 0;

	fresh_store(dir, sizeof(dir), path, sizeof(path));
	CU_ASSERT_FATAL(pipe(go) == 0 && pipe(take) == 0);
	for (int i = 0; i < RACERS; i++) {
		pids[i] = fork();
		CU_ASSERT_FATAL(pids[i] >= 0);
		if (pids[i] == 0) {
			close(go[1]);
			close(take[1]);
			race_child(path, go[0], take[0]);
		}
	}
	close(go[0]);
	close(take[0]);
	/* release all openers at once */
	for (int i = 0; i < RACERS; i++)
		CU_ASSERT_FATAL(write(go[1], "o", 1) == 1);
	s = open_ok(path);
	for (int i = 0; i < RACE_NONCES; i++) {
		nonce_of(n, 0x40 + i);
		TU_ASSERT_ERR(s->ops->nonce_issue(s, "h1", n, 1000), ATTEST_OK);
	}
	for (int i = 0; i < RACERS; i++)
		CU_ASSERT_FATAL(write(take[1], "t", 1) == 1);
	close(go[1]);
	close(take[1]);
	for (int i = 0; i < RACERS; i++) {
		int st;

		CU_ASSERT_FATAL(waitpid(pids[i], &st, 0) == pids[i]);
		CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) <= RACE_NONCES);
		if (WIFEXITED(st) && WEXITSTATUS(st) <= RACE_NONCES)
			total += WEXITSTATUS(st);
	}
	CU_ASSERT(total == RACE_NONCES);
	vstore_close(s);
	schema_version(path, v, sizeof(v));
	CU_ASSERT_STRING_EQUAL(v, "7"); /* 4: behaviour, agent_changes; 5: replicas; 6: host_crls; 7: jwt_keys */
	drop_store(dir);
}

/* ---- agents ---- */

struct agent_collect {
	int n;
	struct vagent a[4];
};

static int agent_cb(void *arg, const struct vagent *a)
{
	struct agent_collect *c = arg;

	if (c->n < 4)
		c->a[c->n] = *a;
	c->n++;
	return 0;
}

static void test_agents(void)
{
	char dir[512], path[600];
	struct vstore *s;
	struct vhost h;
	struct vagent a, b, got;
	struct agent_collect *c;

	c = calloc(1, sizeof(*c));
	CU_ASSERT_FATAL(c != NULL);
	fresh_store(dir, sizeof(dir), path, sizeof(path));
	s = open_ok(path);

	/* an agent of a host the verifier does not know is refused */
	fill_agent(&a, "web-01", "intake", 1);
	TU_ASSERT_ERR(s->ops->agent_put(s, &a), ATTEST_E_HOST_UNKNOWN);
	TU_ASSERT_ERR(s->ops->agent_get(s, a.id, &got), ATTEST_E_NOT_FOUND);
	fill_host(&h, "web-01", 1);
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->agent_put(s, &a), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->agent_get(s, a.id, &got), ATTEST_OK);
	CU_ASSERT(memcmp(&a, &got, sizeof(a)) == 0);
	/* the host row can still be replaced (an upsert, not a delete) */
	h.state = VHOST_TRUSTED;
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->agent_get(s, a.id, &got), ATTEST_OK);

	/* approve, then revoke: each a put of the changed record */
	got.approved = 1;
	TU_ASSERT_ERR(s->ops->agent_put(s, &got), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->agent_get(s, a.id, &got), ATTEST_OK);
	CU_ASSERT(got.approved == 1 && got.revoked == 0);
	got.revoked = 1;
	snprintf(got.revoke_reason, sizeof(got.revoke_reason), "binary replaced");
	TU_ASSERT_ERR(s->ops->agent_put(s, &got), ATTEST_OK);
	vstore_close(s);
	s = open_ok(path);
	TU_ASSERT_ERR(s->ops->agent_get(s, a.id, &got), ATTEST_OK);
	CU_ASSERT(got.approved == 1 && got.revoked == 1);
	CU_ASSERT_STRING_EQUAL(got.revoke_reason, "binary replaced");
	CU_ASSERT(memcmp(got.measurement, a.measurement, 32) == 0);

	fill_agent(&b, "web-01", "billing", 2);
	TU_ASSERT_ERR(s->ops->agent_put(s, &b), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->agent_list(s, agent_cb, c), ATTEST_OK);
	CU_ASSERT(c->n == 2);
	CU_ASSERT(memcmp(&c->a[0], &b, sizeof(b)) == 0); /* "billing" < "intake" */
	CU_ASSERT_STRING_EQUAL(c->a[1].id, a.id);

	/* out of range or unterminated: refused */
	fill_agent(&b, "web-01", "x", 3);
	b.risk_tier = 4;
	TU_ASSERT_ERR(s->ops->agent_put(s, &b), ATTEST_E_INVALID_ARG);
	fill_agent(&b, "web-01", "x", 3);
	b.risk_score = 101;
	TU_ASSERT_ERR(s->ops->agent_put(s, &b), ATTEST_E_INVALID_ARG);
	fill_agent(&b, "web-01", "x", 3);
	b.delegate_depth = -1;
	TU_ASSERT_ERR(s->ops->agent_put(s, &b), ATTEST_E_INVALID_ARG);
	fill_agent(&b, "web-01", "x", 3);
	memset(b.scopes, 's', sizeof(b.scopes));
	TU_ASSERT_ERR(s->ops->agent_put(s, &b), ATTEST_E_INVALID_ARG);
	fill_agent(&b, "web-01", "x", 3);
	memset(b.uuid, 'u', sizeof(b.uuid));
	TU_ASSERT_ERR(s->ops->agent_put(s, &b), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(s->ops->agent_get(s, b.id, &got), ATTEST_E_NOT_FOUND);
	vstore_close(s);
	free(c);
	drop_store(dir);
}

/* ---- reference sets, callers, settings ---- */

struct refset_collect {
	int n;
	char names[4][VSTORE_NAME_MAX];
	char jws[4][64];
	int active[4];
};

static int refset_cb(void *arg, const struct vrefset *r)
{
	struct refset_collect *c = arg;

	if (c->n < 4) {
		snprintf(c->names[c->n], sizeof(c->names[0]), "%s", r->name);
		snprintf(c->jws[c->n], sizeof(c->jws[0]), "%s", r->jws);
		c->active[c->n] = r->active;
	}
	c->n++;
	return 0;
}

static void test_refsets(void)
{
	char dir[512], path[600];
	struct vstore *s;
	struct refset_collect c;

	fresh_store(dir, sizeof(dir), path, sizeof(path));
	s = open_ok(path);
	TU_ASSERT_ERR(s->ops->refset_put(s, "kernel-6.1", "jws.a.1", 100), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->refset_put(s, "kernel-6.6", "jws.b.1", 200), ATTEST_OK);
	/* new sets are active: two at once during a rollout */
	memset(&c, 0, sizeof(c));
	TU_ASSERT_ERR(s->ops->refset_list(s, 1, refset_cb, &c), ATTEST_OK);
	CU_ASSERT(c.n == 2);
	TU_ASSERT_ERR(s->ops->refset_set_active(s, "kernel-6.1", 0), ATTEST_OK);
	memset(&c, 0, sizeof(c));
	TU_ASSERT_ERR(s->ops->refset_list(s, 1, refset_cb, &c), ATTEST_OK);
	CU_ASSERT(c.n == 1);
	CU_ASSERT_STRING_EQUAL(c.names[0], "kernel-6.6");
	CU_ASSERT_STRING_EQUAL(c.jws[0], "jws.b.1");
	/* replacing a set's JWS keeps it inactive */
	TU_ASSERT_ERR(s->ops->refset_put(s, "kernel-6.1", "jws.a.2", 300), ATTEST_OK);
	memset(&c, 0, sizeof(c));
	TU_ASSERT_ERR(s->ops->refset_list(s, 0, refset_cb, &c), ATTEST_OK);
	CU_ASSERT(c.n == 2);
	CU_ASSERT_STRING_EQUAL(c.names[0], "kernel-6.1");
	CU_ASSERT_STRING_EQUAL(c.jws[0], "jws.a.2");
	CU_ASSERT(c.active[0] == 0 && c.active[1] == 1);
	TU_ASSERT_ERR(s->ops->refset_set_active(s, "kernel-6.1", 1), ATTEST_OK);
	memset(&c, 0, sizeof(c));
	TU_ASSERT_ERR(s->ops->refset_list(s, 1, refset_cb, &c), ATTEST_OK);
	CU_ASSERT(c.n == 2);
	TU_ASSERT_ERR(s->ops->refset_set_active(s, "kernel-9", 1), ATTEST_E_NOT_FOUND);
	TU_ASSERT_ERR(s->ops->refset_put(s, "empty", "", 1), ATTEST_E_INVALID_ARG);
	vstore_close(s);
	drop_store(dir);
}

static int caller_cb(void *arg, const struct vcaller *c)
{
	struct collect *col = arg;

	if (col->n < 8)
		snprintf(col->names[col->n], sizeof(col->names[0]), "%s", c->name);
	col->n++;
	return 0;
}

static void test_callers_settings(void)
{
	char dir[512], path[600], v[VSTORE_LIST_MAX], small[4];
	struct vstore *s;
	struct vcaller ehr, admin, got;
	struct collect col;
	uint8_t other[32];

	fresh_store(dir, sizeof(dir), path, sizeof(path));
	s = open_ok(path);
	memset(&ehr, 0, sizeof(ehr));
	snprintf(ehr.name, sizeof(ehr.name), "ehr-api");
	ehr.role = VCALLER_RESOURCE;
	memset(ehr.spki_hash, 0xe1, 32);
	memset(&admin, 0, sizeof(admin));
	snprintf(admin.name, sizeof(admin.name), "ops");
	admin.role = VCALLER_ADMIN;
	memset(admin.spki_hash, 0xad, 32);
	TU_ASSERT_ERR(s->ops->caller_put(s, &ehr), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->caller_put(s, &admin), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->caller_by_spki(s, ehr.spki_hash, &got), ATTEST_OK);
	CU_ASSERT(memcmp(&got, &ehr, sizeof(got)) == 0);
	TU_ASSERT_ERR(s->ops->caller_by_spki(s, admin.spki_hash, &got), ATTEST_OK);
	CU_ASSERT(memcmp(&got, &admin, sizeof(got)) == 0 && got.role == VCALLER_ADMIN);
	memset(other, 0xe1, 32);
	other[31] = 0xe0; /* one bit off */
	TU_ASSERT_ERR(s->ops->caller_by_spki(s, other, &got), ATTEST_E_NOT_FOUND);
	/* one key, one caller */
	snprintf(got.name, sizeof(got.name), "impostor");
	memcpy(got.spki_hash, ehr.spki_hash, 32);
	got.role = VCALLER_ADMIN;
	TU_ASSERT_ERR(s->ops->caller_put(s, &got), ATTEST_E_EXISTS);
	TU_ASSERT_ERR(s->ops->caller_by_spki(s, ehr.spki_hash, &got), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(got.name, "ehr-api");
	CU_ASSERT(got.role == VCALLER_RESOURCE);
	/* revocation and key rotation are puts by name */
	ehr.revoked = 1;
	TU_ASSERT_ERR(s->ops->caller_put(s, &ehr), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->caller_by_spki(s, ehr.spki_hash, &got), ATTEST_OK);
	CU_ASSERT(got.revoked == 1);
	memset(admin.spki_hash, 0xae, 32);
	TU_ASSERT_ERR(s->ops->caller_put(s, &admin), ATTEST_OK);
	memset(other, 0xad, 32);
	TU_ASSERT_ERR(s->ops->caller_by_spki(s, other, &got), ATTEST_E_NOT_FOUND);
	admin.role = (enum vcaller_role)3;
	TU_ASSERT_ERR(s->ops->caller_put(s, &admin), ATTEST_E_INVALID_ARG);
	memset(&col, 0, sizeof(col));
	TU_ASSERT_ERR(s->ops->caller_list(s, caller_cb, &col), ATTEST_OK);
	CU_ASSERT(col.n == 2);
	CU_ASSERT_STRING_EQUAL(col.names[0], "ehr-api");
	CU_ASSERT_STRING_EQUAL(col.names[1], "ops");

	TU_ASSERT_ERR(s->ops->setting_get(s, "approval_required", v, sizeof(v)),
		      ATTEST_E_NOT_FOUND);
	TU_ASSERT_ERR(s->ops->setting_put(s, "approval_required", "1"), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->setting_put(s, "scope_cap", "ehr.read ehr.write"), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->setting_put(s, "approval_required", "0"), ATTEST_OK);
	vstore_close(s);
	s = open_ok(path);
	TU_ASSERT_ERR(s->ops->setting_get(s, "approval_required", v, sizeof(v)), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(v, "0");
	TU_ASSERT_ERR(s->ops->setting_get(s, "scope_cap", v, sizeof(v)), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(v, "ehr.read ehr.write");
	TU_ASSERT_ERR(s->ops->setting_get(s, "scope_cap", small, sizeof(small)), ATTEST_E_TOO_LARGE);
	TU_ASSERT_ERR(s->ops->setting_put(s, "", "x"), ATTEST_E_INVALID_ARG);
	memset(v, 'v', sizeof(v)); /* no NUL within VSTORE_LIST_MAX */
	TU_ASSERT_ERR(s->ops->setting_put(s, "big", v), ATTEST_E_INVALID_ARG);
	vstore_close(s);
	drop_store(dir);
}

/* ---- agent chains ---- */

static void test_chains(void)
{
	char dir[512], path[600], *buf, *big;
	struct vstore *s;
	const char *id = "spiffe://fleet.example/host/web-01/agent/intake";

	buf = malloc(VSTORE_CHAIN_MAX);
	big = malloc(VSTORE_CHAIN_MAX + 1);
	CU_ASSERT_FATAL(buf != NULL && big != NULL);
	fresh_store(dir, sizeof(dir), path, sizeof(path));
	s = open_ok(path);
	TU_ASSERT_ERR(s->ops->agent_chain_get(s, id, buf, VSTORE_CHAIN_MAX), ATTEST_E_NOT_FOUND);
	TU_ASSERT_ERR(s->ops->agent_chain_put(s, id, "-----BEGIN CERTIFICATE-----\nA\n"),
		      ATTEST_OK);
	TU_ASSERT_ERR(s->ops->agent_chain_put(s, id, "-----BEGIN CERTIFICATE-----\nB\n"),
		      ATTEST_OK); /* replaces */
	TU_ASSERT_ERR(s->ops->agent_chain_get(s, id, buf, VSTORE_CHAIN_MAX), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(buf, "-----BEGIN CERTIFICATE-----\nB\n");
	TU_ASSERT_ERR(s->ops->agent_chain_get(s, id, buf, VSTORE_CHAIN_MAX - 1),
		      ATTEST_E_INVALID_ARG);
	/* the largest chain fits; one byte more is refused, nothing changed */
	memset(big, 'c', VSTORE_CHAIN_MAX - 1);
	big[VSTORE_CHAIN_MAX - 1] = '\0';
	TU_ASSERT_ERR(s->ops->agent_chain_put(s, id, big), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->agent_chain_get(s, id, buf, VSTORE_CHAIN_MAX), ATTEST_OK);
	CU_ASSERT(strlen(buf) == VSTORE_CHAIN_MAX - 1);
	memset(big, 'd', VSTORE_CHAIN_MAX);
	big[VSTORE_CHAIN_MAX] = '\0';
	TU_ASSERT_ERR(s->ops->agent_chain_put(s, id, big), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(s->ops->agent_chain_put(s, id, ""), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(s->ops->agent_chain_get(s, id, buf, VSTORE_CHAIN_MAX), ATTEST_OK);
	CU_ASSERT(buf[0] == 'c');
	vstore_close(s);
	drop_store(dir);
	free(buf);
	free(big);
}

/* ---- JWT-SVID keys (issue 14, schema version 7) ---- */

static int count_key(void *arg, const struct vjwtkey *k)
{
	(void)k;
	(*(int *)arg)++;
	return ATTEST_OK;
}

/* put, seen again, another host's kid refused (the row unchanged), prune
 * by the report's time, list, bad input. */
static void test_jwt_keys(void)
{
	char dir[512], path[600];
	struct vstore *s;
	struct vjwtkey k, got;
	long dropped = -1;
	int n = 0;

	fresh_store(dir, sizeof(dir), path, sizeof(path));
	s = open_ok(path);
	memset(&k, 0, sizeof(k));
	snprintf(k.kid, sizeof(k.kid), "kid-a");
	snprintf(k.host, sizeof(k.host), "web-01");
	snprintf(k.cert, sizeof(k.cert), "-----BEGIN CERTIFICATE-----\nA\n");
	k.not_after = 1700003600;
	k.seen = 100;
	TU_ASSERT_ERR(s->ops->jwt_key_get(s, "kid-a", &got), ATTEST_E_NOT_FOUND);
	TU_ASSERT_ERR(s->ops->jwt_key_put(s, &k), ATTEST_OK);
	k.seen = 101;
	TU_ASSERT_ERR(s->ops->jwt_key_put(s, &k), ATTEST_OK); /* seen again */
	TU_ASSERT_ERR(s->ops->jwt_key_get(s, "kid-a", &got), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(got.host, "web-01");
	CU_ASSERT(got.seen == 101 && got.not_after == 1700003600);
	CU_ASSERT_STRING_EQUAL(got.cert, k.cert);
	/* db-01 reporting web-01's kid: refused, the row stays web-01's */
	snprintf(k.host, sizeof(k.host), "db-01");
	k.seen = 200;
	TU_ASSERT_ERR(s->ops->jwt_key_put(s, &k), ATTEST_E_DUPLICATE_KEY);
	TU_ASSERT_ERR(s->ops->jwt_key_get(s, "kid-a", &got), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(got.host, "web-01");
	CU_ASSERT(got.seen == 101);
	snprintf(k.kid, sizeof(k.kid), "kid-b");
	TU_ASSERT_ERR(s->ops->jwt_key_put(s, &k), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->jwt_key_list(s, count_key, &n), ATTEST_OK);
	CU_ASSERT_EQUAL(n, 2);
	/* web-01's next report no longer carries kid-a; db-01's kept */
	TU_ASSERT_ERR(s->ops->jwt_keys_prune(s, "web-01", 102, &dropped), ATTEST_OK);
	CU_ASSERT_EQUAL(dropped, 1);
	TU_ASSERT_ERR(s->ops->jwt_key_get(s, "kid-a", &got), ATTEST_E_NOT_FOUND);
	TU_ASSERT_ERR(s->ops->jwt_keys_prune(s, "db-01", 200, &dropped), ATTEST_OK);
	CU_ASSERT_EQUAL(dropped, 0);
	TU_ASSERT_ERR(s->ops->jwt_key_get(s, "kid-b", &got), ATTEST_OK);
	/* bad input */
	k.kid[0] = '\0';
	TU_ASSERT_ERR(s->ops->jwt_key_put(s, &k), ATTEST_E_INVALID_ARG);
	snprintf(k.kid, sizeof(k.kid), "kid-c");
	k.cert[0] = '\0';
	TU_ASSERT_ERR(s->ops->jwt_key_put(s, &k), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(s->ops->jwt_key_get(s, "", &got), ATTEST_E_INVALID_ARG);
	vstore_close(s);
	drop_store(dir);
}

/* ---- corrupted rows ---- */

static void test_corrupt_rows(void)
{
	static const char *const bad_clock[] = {
		"007", "", "-1", "+1", "1 ", "0x10", "abc", "18446744073709551616",
		"99999999999999999999",
	};
	char dir[512], path[600], sql[256];
	struct vstore *s;
	struct vhost h, got;
	struct vagent a, ga;
	struct vcaller c, gc;
	struct collect col;
	struct agent_collect *ac;

	ac = calloc(1, sizeof(*ac));
	CU_ASSERT_FATAL(ac != NULL);
	tu_mkdtemp(dir, sizeof(dir));
	path_in(path, sizeof(path), dir, "v.db");
	s = open_ok(path);
	fill_host(&h, "web-01", 9);
	fill_agent(&a, "web-01", "intake", 1);
	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "ehr");
	c.role = VCALLER_RESOURCE;
	memset(c.spki_hash, 7, 32);
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->agent_put(s, &a), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->caller_put(s, &c), ATTEST_OK);
	vstore_close(s);

	/* a 31-byte measurement (the schema's CHECK is bypassed, as a
	 * damaged or hand-edited file would) */
	raw_exec(path, "PRAGMA ignore_check_constraints = 1;"
		       "UPDATE agents SET measurement = zeroblob(31);");
	s = open_ok(path);
	TU_ASSERT_ERR(s->ops->agent_get(s, a.id, &ga), ATTEST_E_STORE_DAMAGED);
	CU_ASSERT(strstr(attest_errdetail(), "measurement") != NULL);
	CU_ASSERT(ga.id[0] == '\0'); /* nothing half-filled */
	TU_ASSERT_ERR(s->ops->agent_list(s, agent_cb, ac), ATTEST_E_STORE_DAMAGED);
	CU_ASSERT(ac->n == 0);
	vstore_close(s);
	raw_exec(path, "PRAGMA ignore_check_constraints = 1;"
		       "UPDATE agents SET measurement = zeroblob(33);");
	s = open_ok(path);
	TU_ASSERT_ERR(s->ops->agent_get(s, a.id, &ga), ATTEST_E_STORE_DAMAGED);
	vstore_close(s);
	raw_exec(path, "PRAGMA ignore_check_constraints = 1;"
		       "UPDATE agents SET measurement = zeroblob(32), risk_tier = 9;");
	s = open_ok(path);
	TU_ASSERT_ERR(s->ops->agent_get(s, a.id, &ga), ATTEST_E_STORE_DAMAGED);
	vstore_close(s);
	raw_exec(path, "UPDATE agents SET risk_tier = 1, uuid = printf('%.40c', 'u');");
	s = open_ok(path);
	TU_ASSERT_ERR(s->ops->agent_get(s, a.id, &ga), ATTEST_E_STORE_DAMAGED); /* over its field */
	vstore_close(s);
	raw_exec(path, "UPDATE agents SET uuid = 'a' || char(0) || 'b';");
	s = open_ok(path);
	TU_ASSERT_ERR(s->ops->agent_get(s, a.id, &ga), ATTEST_E_STORE_DAMAGED); /* embedded NUL */
	vstore_close(s);

	/* counters that are not strict decimal 64-bit numbers */
	for (size_t i = 0; i < sizeof(bad_clock) / sizeof(bad_clock[0]); i++) {
		snprintf(sql, sizeof(sql), "UPDATE hosts SET clock = '%s';", bad_clock[i]);
		raw_exec(path, sql);
		s = open_ok(path);
		TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &got), ATTEST_E_STORE_DAMAGED);
		CU_ASSERT(strstr(attest_errdetail(), "clock") != NULL);
		vstore_close(s);
	}
	raw_exec(path, "UPDATE hosts SET clock = '18446744073709551615';");
	s = open_ok(path);
	TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &got), ATTEST_OK);
	CU_ASSERT(got.clock == UINT64_MAX);
	vstore_close(s);
	raw_exec(path, "PRAGMA ignore_check_constraints = 1;"
		       "UPDATE hosts SET reset_count = 4294967296;");
	s = open_ok(path);
	TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &got), ATTEST_E_STORE_DAMAGED);
	vstore_close(s);
	raw_exec(path, "PRAGMA ignore_check_constraints = 1;"
		       "UPDATE hosts SET reset_count = 1, state = 3;");
	s = open_ok(path);
	TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &got), ATTEST_E_STORE_DAMAGED);
	vstore_close(s);

	/* a code this verifier does not know (a newer one wrote it) is kept;
	 * a negative one is not a code */
	raw_exec(path, "UPDATE hosts SET state = 1, reason_code = 500;");
	s = open_ok(path);
	TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &got), ATTEST_OK);
	CU_ASSERT(got.reason_code == 500);
	vstore_close(s);
	raw_exec(path, "UPDATE hosts SET reason_code = -1;");
	s = open_ok(path);
	TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &got), ATTEST_E_STORE_DAMAGED);
	vstore_close(s);

	/* a 31-byte SPKI hash: the caller is never found, and a listing fails */
	raw_exec(path, "PRAGMA ignore_check_constraints = 1;"
		       "UPDATE callers SET spki_hash = substr(spki_hash, 1, 31);");
	s = open_ok(path);
	TU_ASSERT_ERR(s->ops->caller_by_spki(s, c.spki_hash, &gc), ATTEST_E_NOT_FOUND);
	memset(&col, 0, sizeof(col));
	TU_ASSERT_ERR(s->ops->caller_list(s, caller_cb, &col), ATTEST_E_STORE_DAMAGED);
	vstore_close(s);
	free(ac);
	tu_rmtree(dir);
}

/* ---- crash safety ---- */

#define CRASH_HOSTS 8
#define CRASH_ROUNDS 6

/* The child: put hosts round-robin, report each committed k on fd. */
static void crash_writer(const char *path, uint64_t k0, int fd)
{
	struct vstore *s = NULL;
	struct vhost h;
	char name[16];

	if (be_open(path, &s) != ATTEST_OK)
		_exit(3);
	for (uint64_t k = k0;; k++) {
		snprintf(name, sizeof(name), "crash-%d", (int)(k % CRASH_HOSTS));
		fill_host(&h, name, k);
		if (s->ops->host_put(s, &h) != ATTEST_OK)
			_exit(4);
		if (write(fd, &k, sizeof(k)) != (ssize_t)sizeof(k))
			_exit(5);
	}
}

struct crash_check {
	uint64_t reported[CRASH_HOSTS]; /* last k the child said it committed, +1 */
	int seen[CRASH_HOSTS];
	int bad;
};

static int crash_cb(void *arg, const struct vhost *h)
{
	struct crash_check *cc = arg;
	struct vhost want;
	uint64_t k = (uint64_t)h->last_good;
	int i;

	if (sscanf(h->name, "crash-%d", &i) != 1 || i < 0 || i >= CRASH_HOSTS) {
		cc->bad++;
		return 0;
	}
	fill_host(&want, h->name, k);
	if (memcmp(&want, h, sizeof(want)) != 0 || k % CRASH_HOSTS != (uint64_t)i) {
		fprintf(stderr, "  torn row %s (k %" PRIu64 ")\n", h->name, k);
		cc->bad++;
	}
	/* committed and reported means durable */
	if (cc->reported[i] != 0 && k + 1 < cc->reported[i]) {
		fprintf(stderr, "  %s lost a commit: k %" PRIu64 " < reported %" PRIu64 "\n",
			h->name, k, cc->reported[i] - 1);
		cc->bad++;
	}
	cc->seen[i] = 1;
	return 0;
}

static void test_crash_safety(void)
{
	char dir[512], path[600], v[64];
	struct crash_check cc;
	struct vstore *s;

	memset(&cc, 0, sizeof(cc));
	fresh_store(dir, sizeof(dir), path, sizeof(path));
	s = open_ok(path); /* created and migrated before the first child */
	vstore_close(s);
	for (int round = 0; round < CRASH_ROUNDS; round++) {
		uint64_t k, target = 1 + rnd(150), got = 0;
		int p[2], st;
		pid_t pid;
		ssize_t n;

		CU_ASSERT_FATAL(pipe(p) == 0);
		pid = fork();
		CU_ASSERT_FATAL(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			crash_writer(path, (uint64_t)(round + 1) * 1000000, p[1]);
		}
		close(p[1]);
		/* wait for `target` commits, then kill somewhere in the next */
		while (got < target && (n = read(p[0], &k, sizeof(k))) == (ssize_t)sizeof(k)) {
			cc.reported[k % CRASH_HOSTS] = k + 1;
			got++;
		}
		CU_ASSERT(got == target);
		if (rnd(2))
			usleep((useconds_t)rnd(3000));
		CU_ASSERT_FATAL(kill(pid, SIGKILL) == 0);
		CU_ASSERT_FATAL(waitpid(pid, &st, 0) == pid);
		CU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		while ((n = read(p[0], &k, sizeof(k))) == (ssize_t)sizeof(k))
			cc.reported[k % CRASH_HOSTS] = k + 1;
		close(p[0]);

		if (!be->pg) {
			raw_text(path, "PRAGMA integrity_check", v, sizeof(v));
			CU_ASSERT_STRING_EQUAL(v, "ok");
		}
		s = open_ok(path);
		TU_ASSERT_ERR(s->ops->host_list(s, crash_cb, &cc), ATTEST_OK);
		vstore_close(s);
		CU_ASSERT(cc.bad == 0);
		for (int i = 0; i < CRASH_HOSTS; i++)
			CU_ASSERT(cc.reported[i] == 0 || cc.seen[i]);
	}
	drop_store(dir);
}

/* ---- PostgreSQL only ---- */

static void test_pg_open_migrate(void)
{
	char uri[600], v[64];
	struct vstore *s = NULL;

	be = &be_pg;
	pg_ensure();
	/* serve's open never creates a store: an empty database is refused
	 * and left empty */
	tu_pg_newdb(&pg_server, uri, sizeof(uri));
	TU_ASSERT_ERR(vstore_pg_open_existing(uri, &s), ATTEST_E_STORE_DAMAGED);
	CU_ASSERT(s == NULL);
	CU_ASSERT(strstr(attest_errdetail(), "no attest-verifier schema") != NULL);
	tu_pg_text(uri, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", v, sizeof(v));
	CU_ASSERT_STRING_EQUAL(v, "0");
	/* init's open makes it: every step, version 5, the marker */
	TU_ASSERT_ERR(vstore_open_spec(uri, NULL, 1, &s), ATTEST_OK);
	vstore_close(s);
	s = NULL;
	tu_pg_text(uri, "SELECT version FROM attest_schema", v, sizeof(v));
	CU_ASSERT_STRING_EQUAL(v, "7"); /* 4: behaviour, agent_changes; 5: replicas; 6: host_crls; 7: jwt_keys */
	tu_pg_text(uri, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", v, sizeof(v));
	CU_ASSERT_STRING_EQUAL(v, "13"); /* 8, behaviour, agent_changes, replicas, host_crls, jwt_keys */
	TU_ASSERT_ERR(vstore_open_spec(uri, NULL, 0, &s), ATTEST_OK);
	vstore_close(s);
	s = NULL;

	/* the marker deleted: serve refuses, init's open does not re-add it */
	CU_ASSERT_FATAL(tu_pg_exec(uri, "DELETE FROM settings WHERE key = 'store_marker'") == 0);
	TU_ASSERT_ERR(vstore_pg_open_existing(uri, &s), ATTEST_E_STORE_DAMAGED);
	CU_ASSERT(strstr(attest_errdetail(), "marker") != NULL);

	/* a schema from a newer verifier: refused, left as it was */
	CU_ASSERT_FATAL(tu_pg_exec(uri, "UPDATE attest_schema SET version = 99") == 0);
	TU_ASSERT_ERR(vstore_pg_open(uri, &s), ATTEST_E_STATE);
	CU_ASSERT(strstr(attest_errdetail(), "newer") != NULL);
	tu_pg_text(uri, "SELECT version FROM attest_schema", v, sizeof(v));
	CU_ASSERT_STRING_EQUAL(v, "99");
	/* another application's version row */
	CU_ASSERT_FATAL(tu_pg_exec(uri, "UPDATE attest_schema SET version = 3, "
					"application = 'other'") == 0);
	TU_ASSERT_ERR(vstore_pg_open(uri, &s), ATTEST_E_STATE);

	/* someone else's database (tables, no attest_schema): nothing made */
	tu_pg_newdb(&pg_server, uri, sizeof(uri));
	CU_ASSERT_FATAL(tu_pg_exec(uri, "CREATE TABLE t (x INTEGER)") == 0);
	TU_ASSERT_ERR(vstore_pg_open(uri, &s), ATTEST_E_STATE);
	CU_ASSERT(strstr(attest_errdetail(), "not ours") != NULL);
	tu_pg_text(uri, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", v, sizeof(v));
	CU_ASSERT_STRING_EQUAL(v, "1");

	/* a spec that is neither; a server that is not there */
	TU_ASSERT_ERR(vstore_open_spec("mysql://db/x", NULL, 0, &s), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(vstore_open_spec("postgresql:///x?host=/nonexistent/sock", NULL, 0, &s),
		      ATTEST_E_IO);
	CU_ASSERT(s == NULL);
}

/* Two connections take one nonce at the same moment: both are parked
 * behind a row lock a third holds, then released together. Exactly one
 * UPDATE changes the row; the other re-checks the committed row and is
 * told "used". */
static void pg_taker(const char *uri, const uint8_t *n)
{
	struct vstore *s = NULL;
	int r;

	if (vstore_pg_open_existing(uri, &s) != ATTEST_OK)
		_exit(10);
	r = s->ops->nonce_take(s, "h1", n, 10);
	if (r == ATTEST_OK)
		_exit(0);
	if (r == ATTEST_E_NONCE && strcmp(attest_errdetail(), "used") == 0)
		_exit(1);
	fprintf(stderr, "  taker: %s (%s)\n", attest_errname(r), attest_errdetail());
	_exit(11);
}

static void test_pg_nonce_race(void)
{
	char uri[600], v[64];
	uint8_t n[VSTORE_NONCE_LEN];
	struct vstore *s;
	PGconn *blk;
	PGresult *res;
	pid_t pids[2];
	int wins = 0, used = 0;

	be = &be_pg;
	pg_ensure();
	tu_pg_newdb(&pg_server, uri, sizeof(uri));
	s = open_ok(uri);
	for (int round = 0; round < 3; round++) {
		nonce_of(n, 0x70 + round);
		TU_ASSERT_ERR(s->ops->nonce_issue(s, "h1", n, 1000), ATTEST_OK);
		blk = PQconnectdb(uri);
		CU_ASSERT_FATAL(PQstatus(blk) == CONNECTION_OK);
		res = PQexec(blk, "BEGIN");
		PQclear(res);
		{
			const char *pv[1] = { (const char *)n };
			int pl[1] = { VSTORE_NONCE_LEN }, pf[1] = { 1 };

			res = PQexecParams(blk, "SELECT used FROM nonces WHERE nonce = $1 FOR UPDATE",
					   1, NULL, pv, pl, pf, 0);
			CU_ASSERT_FATAL(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1);
			PQclear(res);
		}
		for (int i = 0; i < 2; i++) {
			pids[i] = fork();
			CU_ASSERT_FATAL(pids[i] >= 0);
			if (pids[i] == 0)
				pg_taker(uri, n);
		}
		/* both takers wait on the lock (generous deadline) */
		for (int i = 0;; i++) {
			tu_pg_text(uri, "SELECT count(*) FROM pg_stat_activity WHERE "
					"wait_event_type = 'Lock' AND datname = current_database()",
				   v, sizeof(v));
			if (strcmp(v, "2") == 0)
				break;
			CU_ASSERT_FATAL(i < 1200);
			usleep(50000);
		}
		res = PQexec(blk, "COMMIT");
		CU_ASSERT(PQresultStatus(res) == PGRES_COMMAND_OK);
		PQclear(res);
		PQfinish(blk);
		wins = used = 0;
		for (int i = 0; i < 2; i++) {
			int st;

			CU_ASSERT_FATAL(waitpid(pids[i], &st, 0) == pids[i]);
			CU_ASSERT(WIFEXITED(st));
			if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
				wins++;
			else if (WIFEXITED(st) && WEXITSTATUS(st) == 1)
				used++;
		}
		CU_ASSERT(wins == 1 && used == 1);
		TAKE_REFUSED(s, "h1", n, 10, "used");
	}
	vstore_close(s);
}

/* Rows written by hand, as someone with write access to the database
 * (or a constraint dropped by a careless migration) can: every one is
 * ATTEST_E_STORE_DAMAGED with the column named, and nothing half-filled. */
static void test_pg_corrupt_rows(void)
{
	static const char *const bad_clock[] = {
		"007", "", "-1", "+1", "1 ", "0x10", "abc", "18446744073709551616",
		"99999999999999999999",
	};
	char uri[600], sql[256];
	struct vstore *s;
	struct vhost h, got;
	struct vagent a, ga;
	struct vcaller c, gc;
	struct collect col;
	struct agent_collect *ac;

	be = &be_pg;
	pg_ensure();
	ac = calloc(1, sizeof(*ac));
	CU_ASSERT_FATAL(ac != NULL);
	tu_pg_newdb(&pg_server, uri, sizeof(uri));
	s = open_ok(uri);
	fill_host(&h, "web-01", 9);
	fill_agent(&a, "web-01", "intake", 1);
	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "ehr");
	c.role = VCALLER_RESOURCE;
	memset(c.spki_hash, 7, 32);
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->agent_put(s, &a), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->caller_put(s, &c), ATTEST_OK);
	vstore_close(s);

	/* the schema's CHECKs hold against a hand-written bad row... */
	CU_ASSERT(tu_pg_exec(uri, "UPDATE hosts SET clock = '007'") != 0);
	CU_ASSERT(tu_pg_exec(uri, "UPDATE agents SET measurement = '\\x00'") != 0);
	/* ...until someone drops them; then the reading code refuses */
	CU_ASSERT_FATAL(tu_pg_exec(uri, "ALTER TABLE hosts DROP CONSTRAINT hosts_clock_check;"
					"ALTER TABLE hosts DROP CONSTRAINT hosts_reset_count_check;"
					"ALTER TABLE agents DROP CONSTRAINT agents_measurement_check;"
					"ALTER TABLE agents DROP CONSTRAINT agents_uuid_check;"
					"ALTER TABLE agents DROP CONSTRAINT agents_risk_tier_check;"
					"ALTER TABLE callers DROP CONSTRAINT callers_spki_hash_check") == 0);
	for (size_t i = 0; i < sizeof(bad_clock) / sizeof(bad_clock[0]); i++) {
		snprintf(sql, sizeof(sql), "UPDATE hosts SET clock = '%s'", bad_clock[i]);
		CU_ASSERT_FATAL(tu_pg_exec(uri, sql) == 0);
		s = open_ok(uri);
		TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &got), ATTEST_E_STORE_DAMAGED);
		CU_ASSERT(strstr(attest_errdetail(), "clock") != NULL);
		CU_ASSERT(got.name[0] == '\0');
		vstore_close(s);
	}
	CU_ASSERT_FATAL(tu_pg_exec(uri, "UPDATE hosts SET clock = '18446744073709551615'") == 0);
	s = open_ok(uri);
	TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &got), ATTEST_OK);
	CU_ASSERT(got.clock == UINT64_MAX);
	/* a rolled-back-looking counter out of its range */
	CU_ASSERT_FATAL(tu_pg_exec(uri, "UPDATE hosts SET reset_count = 4294967296") == 0);
	TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &got), ATTEST_E_STORE_DAMAGED);
	CU_ASSERT(strstr(attest_errdetail(), "reset_count") != NULL);
	CU_ASSERT_FATAL(tu_pg_exec(uri, "UPDATE hosts SET reset_count = -1") == 0);
	TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &got), ATTEST_E_STORE_DAMAGED);
	CU_ASSERT_FATAL(tu_pg_exec(uri, "UPDATE hosts SET reset_count = 1") == 0);
	TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &got), ATTEST_OK);

	/* a 31-byte measurement, then a 33-byte one */
	CU_ASSERT_FATAL(tu_pg_exec(uri, "UPDATE agents SET measurement = "
					"substring(measurement from 1 for 31)") == 0);
	TU_ASSERT_ERR(s->ops->agent_get(s, a.id, &ga), ATTEST_E_STORE_DAMAGED);
	CU_ASSERT(strstr(attest_errdetail(), "measurement") != NULL);
	CU_ASSERT(ga.id[0] == '\0');
	TU_ASSERT_ERR(s->ops->agent_list(s, agent_cb, ac), ATTEST_E_STORE_DAMAGED);
	CU_ASSERT(ac->n == 0);
	CU_ASSERT_FATAL(tu_pg_exec(uri, "UPDATE agents SET measurement = "
					"measurement || '\\x0000'::bytea") == 0);
	TU_ASSERT_ERR(s->ops->agent_get(s, a.id, &ga), ATTEST_E_STORE_DAMAGED);
	CU_ASSERT_FATAL(tu_pg_exec(uri, "UPDATE agents SET measurement = "
					"substring(measurement from 1 for 32), risk_tier = 9") == 0);
	TU_ASSERT_ERR(s->ops->agent_get(s, a.id, &ga), ATTEST_E_STORE_DAMAGED);
	CU_ASSERT(strstr(attest_errdetail(), "risk_tier") != NULL);
	CU_ASSERT_FATAL(tu_pg_exec(uri, "UPDATE agents SET risk_tier = 1, uuid = repeat('u', 40)") ==
			0);
	TU_ASSERT_ERR(s->ops->agent_get(s, a.id, &ga), ATTEST_E_STORE_DAMAGED); /* over its field */
	CU_ASSERT_FATAL(tu_pg_exec(uri, "UPDATE agents SET uuid = 'u'") == 0);
	TU_ASSERT_ERR(s->ops->agent_get(s, a.id, &ga), ATTEST_OK);

	/* a 31-byte SPKI hash: never found, and a listing fails */
	CU_ASSERT_FATAL(tu_pg_exec(uri, "UPDATE callers SET spki_hash = "
					"substring(spki_hash from 1 for 31)") == 0);
	TU_ASSERT_ERR(s->ops->caller_by_spki(s, c.spki_hash, &gc), ATTEST_E_NOT_FOUND);
	memset(&col, 0, sizeof(col));
	TU_ASSERT_ERR(s->ops->caller_list(s, caller_cb, &col), ATTEST_E_STORE_DAMAGED);
	vstore_close(s);

	/* a column whose type was changed, and a NULL where none may be */
	CU_ASSERT_FATAL(tu_pg_exec(uri, "ALTER TABLE hosts DROP CONSTRAINT hosts_state_check;"
					"ALTER TABLE hosts ALTER COLUMN state TYPE TEXT") == 0);
	s = open_ok(uri);
	TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &got), ATTEST_E_STORE_DAMAGED);
	CU_ASSERT(strstr(attest_errdetail(), "state") != NULL);
	vstore_close(s);
	CU_ASSERT_FATAL(tu_pg_exec(uri, "ALTER TABLE hosts ALTER COLUMN state TYPE INTEGER "
					"USING state::integer;"
					"ALTER TABLE hosts ALTER COLUMN reason DROP NOT NULL;"
					"UPDATE hosts SET reason = NULL") == 0);
	s = open_ok(uri);
	TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &got), ATTEST_E_STORE_DAMAGED);
	CU_ASSERT(strstr(attest_errdetail(), "reason") != NULL);
	vstore_close(s);
	free(ac);
}

/* ---- one host's agents (issue 18 item 4) ---- */

static int stop_at_first(void *arg, const struct vagent *a)
{
	(void)arg;
	(void)a;
	return 77;
}

static void test_agents_by_host(void)
{
	char dir[512], path[600];
	struct vstore *s;
	struct vhost h;
	struct vagent a;
	struct agent_collect *c;
	static const char *const hosts[] = { "web-01", "web-01", "web-02", "web-01" };
	static const char *const names[] = { "intake", "billing", "triage", "scribe" };

	c = calloc(1, sizeof(*c));
	CU_ASSERT_FATAL(c != NULL);
	fresh_store(dir, sizeof(dir), path, sizeof(path));
	s = open_ok(path);
	fill_host(&h, "web-01", 1);
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_OK);
	fill_host(&h, "web-02", 2);
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_OK);
	for (int i = 0; i < 4; i++) {
		fill_agent(&a, hosts[i], names[i], i + 1);
		TU_ASSERT_ERR(s->ops->agent_put(s, &a), ATTEST_OK);
	}
	/* web-01's three, in ID order; web-02's one; none of a host without
	 * agents */
	TU_ASSERT_ERR(s->ops->agent_list_host(s, "web-01", agent_cb, c), ATTEST_OK);
	CU_ASSERT_EQUAL(c->n, 3);
	CU_ASSERT(strstr(c->a[0].id, "/agent/billing") != NULL);
	CU_ASSERT(strstr(c->a[1].id, "/agent/intake") != NULL);
	CU_ASSERT(strstr(c->a[2].id, "/agent/scribe") != NULL);
	for (int i = 0; i < 3 && i < c->n; i++)
		CU_ASSERT_STRING_EQUAL(c->a[i].host, "web-01");
	fill_agent(&a, "web-01", "intake", 1);
	CU_ASSERT(memcmp(&c->a[1], &a, sizeof(a)) == 0); /* the whole row */
	memset(c, 0, sizeof(*c));
	TU_ASSERT_ERR(s->ops->agent_list_host(s, "web-02", agent_cb, c), ATTEST_OK);
	CU_ASSERT_EQUAL(c->n, 1);
	CU_ASSERT_STRING_EQUAL(c->a[0].host, "web-02");
	memset(c, 0, sizeof(*c));
	TU_ASSERT_ERR(s->ops->agent_list_host(s, "web-03", agent_cb, c), ATTEST_OK);
	CU_ASSERT_EQUAL(c->n, 0);
	/* the callback's nonzero return stops the listing and is returned */
	CU_ASSERT_EQUAL(s->ops->agent_list_host(s, "web-01", stop_at_first, NULL), 77);
	/* bad arguments */
	TU_ASSERT_ERR(s->ops->agent_list_host(s, "", agent_cb, c), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(s->ops->agent_list_host(s, NULL, agent_cb, c), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(s->ops->agent_list_host(s, "web-01", NULL, NULL), ATTEST_E_INVALID_ARG);
	vstore_close(s);
	drop_store(dir);
	free(c);
}

/* SQLite: the check at start reads the tables a verifier serves from, not
 * the inventory (issue 18 item 4: its cost stays the hosts' and the
 * callers', whatever the agents): a store whose agents root page is
 * garbage opens, its hosts are read, and the damaged page is
 * ATTEST_E_STORE_DAMAGED when a request reads it. The old start-up
 * quick_check read every page of every table. A damaged hosts page is
 * still refused at start. */
static void test_open_check_bounded(void)
{
	char dir[512], path[600], root[32], sql[900];
	struct vstore *s = NULL;
	struct vhost h, got;
	struct vagent a, ag;
	char name[32];

	tu_mkdtemp(dir, sizeof(dir));
	path_in(path, sizeof(path), dir, "v.db");
	TU_ASSERT_ERR(vstore_sqlite_open(path, &s), ATTEST_OK);
	fill_host(&h, "web-01", 1);
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_OK);
	for (int i = 0; i < 400; i++) {
		snprintf(name, sizeof(name), "agent-%03d", i);
		fill_agent(&a, "web-01", name, i + 1);
		TU_ASSERT_ERR(s->ops->agent_put(s, &a), ATTEST_OK);
	}
	vstore_close(s);
	s = NULL;
	raw_text(path, "SELECT rootpage FROM sqlite_schema WHERE name = 'agents'", root,
		 sizeof(root));
	CU_ASSERT_FATAL(root[0] != '\0');
	CU_ASSERT_FATAL(tu_sh("head -c 4096 /dev/urandom | dd of=%s bs=4096 seek=$((%s - 1)) "
			      "conv=notrunc 2>/dev/null",
			      path, root) == 0);
	TU_ASSERT_ERR(vstore_sqlite_open_existing(path, &s), ATTEST_OK);
	CU_ASSERT_FATAL(s != NULL);
	TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &got), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->agent_get(s, a.id, &ag), ATTEST_E_STORE_DAMAGED);
	vstore_close(s);
	s = NULL;
	/* the hosts table's root page: refused at start */
	raw_text(path, "SELECT rootpage FROM sqlite_schema WHERE name = 'hosts'", root,
		 sizeof(root));
	snprintf(sql, sizeof(sql), "head -c 4096 /dev/urandom | dd of=%s bs=4096 "
				   "seek=$((%s - 1)) conv=notrunc 2>/dev/null",
		 path, root);
	CU_ASSERT_FATAL(tu_sh("%s", sql) == 0);
	TU_ASSERT_ERR(vstore_sqlite_open_existing(path, &s), ATTEST_E_STORE_DAMAGED);
	CU_ASSERT(strstr(attest_errdetail(), "hosts") != NULL);
	vstore_close(s);
	tu_rmtree(dir);
}

/* ---- replicas (issue 18) ---- */

static int count_replica(void *arg, const struct vreplica *r)
{
	struct vreplica *seen = arg;

	if (strcmp(r->id, "A") == 0)
		seen[0] = *r;
	else
		seen[1] = *r;
	return ATTEST_OK;
}

static int first_stale(void *arg, const struct vhost *h)
{
	struct vhost *out = arg;

	if (out->name[0] == '\0')
		*out = *h;
	return ATTEST_OK;
}

/* Column updates never carry a whole row read earlier: an operator's
 * revocation written while another verifier stores a quote keeps that
 * quote's counters (host_put of the row read before the quote rolled the
 * clock back: issue 18's noted race), and a quote stored after keeps the
 * revocation; an AK reset clears the quote columns and keeps a
 * revocation. Compare-and-set settings, the change generation, replica
 * heartbeats, stale hosts, and on PostgreSQL the LISTEN socket that a
 * bump from another connection makes readable. */
static void test_replica_ops(void)
{
	char dir[512], path[600], v[64];
	struct vstore *s, *s2;
	struct vhost h, a, got;
	struct vagent ag, gag;
	struct vreplica rp, seen[2];
	uint64_t g = 0, n = 0;

	fresh_store(dir, sizeof(dir), path, sizeof(path));
	s = open_ok(path);
	s2 = open_ok(path);
	fill_host(&h, "web-01", 5);
	h.have_clock = 1;
	h.reset_count = 1;
	h.restart_count = 0;
	h.clock = 100;
	h.revoked = 0;
	h.last_good = 100;
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_OK);
	/* s reads the row (the admin handler's existence check), s2 stores a
	 * quote, then s revokes: the quote's columns stay */
	TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &a), ATTEST_OK);
	got = a;
	got.clock = 200;
	got.last_good = 200;
	got.state = VHOST_TRUSTED;
	TU_ASSERT_ERR(s2->ops->host_put_quote(s2, &got, &a), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->host_revoke(s, "web-01", "operator ops: stolen"), ATTEST_OK);
	TU_ASSERT_ERR(s2->ops->host_get(s2, "web-01", &got), ATTEST_OK);
	CU_ASSERT(got.clock == 200 && got.last_good == 200 && got.state == VHOST_TRUSTED);
	CU_ASSERT(got.revoked == 1);
	CU_ASSERT_STRING_EQUAL(got.revoke_reason, "operator ops: stolen");
	/* the new-AK reset: quote columns cleared, the revocation kept */
	TU_ASSERT_ERR(s->ops->host_reset_ak(s, "web-01"), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->host_get(s, "web-01", &got), ATTEST_OK);
	CU_ASSERT(got.state == VHOST_NEW && got.have_clock == 0 && got.clock == 0 &&
		  got.reset_count == 0 && got.last_good == 0 && got.revoked == 1);
	CU_ASSERT_STRING_EQUAL(got.revoke_reason, "operator ops: stolen");
	TU_ASSERT_ERR(s->ops->host_revoke(s, "web-09", "x"), ATTEST_E_NOT_FOUND);
	TU_ASSERT_ERR(s->ops->host_reset_ak(s, "web-09"), ATTEST_E_NOT_FOUND);
	TU_ASSERT_ERR(s->ops->host_revoke(s, "", "x"), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(s->ops->host_revoke(s, "web-01", NULL), ATTEST_E_INVALID_ARG);
	/* agents: revoke and approve write their columns only */
	fill_agent(&ag, "web-01", "scribe", 3);
	ag.approved = 0;
	ag.revoked = 0;
	TU_ASSERT_ERR(s->ops->agent_put(s, &ag), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->agent_approve(s2, ag.id), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->agent_revoke(s, ag.id, "operator ops: gone"), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->agent_get(s, ag.id, &gag), ATTEST_OK);
	CU_ASSERT(gag.approved == 1 && gag.revoked == 1 && gag.risk_tier == ag.risk_tier);
	CU_ASSERT(memcmp(gag.measurement, ag.measurement, 32) == 0);
	TU_ASSERT_ERR(s->ops->agent_approve(s, "spiffe://fleet.example/host/x/agent/none"),
		      ATTEST_E_NOT_FOUND);

	/* compare-and-set: one of two writers with the same expectation */
	TU_ASSERT_ERR(s->ops->setting_cas(s, "ckpt:00", NULL, "1 a"), ATTEST_OK);
	TU_ASSERT_ERR(s2->ops->setting_cas(s2, "ckpt:00", NULL, "1 b"), ATTEST_E_EXISTS);
	TU_ASSERT_ERR(s2->ops->setting_cas(s2, "ckpt:00", "1 a", "2 b"), ATTEST_OK);
	TU_ASSERT_ERR(s->ops->setting_cas(s, "ckpt:00", "1 a", "2 c"), ATTEST_E_EXISTS);
	TU_ASSERT_ERR(s->ops->setting_get(s, "ckpt:00", v, sizeof(v)), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(v, "2 b");
	TU_ASSERT_ERR(s->ops->setting_cas(s, "ckpt:00", "2 b", NULL), ATTEST_E_INVALID_ARG);

	/* the change generation, from either connection */
	TU_ASSERT_ERR(vstore_generation(s, &g), ATTEST_OK);
	CU_ASSERT(g == 0);
	if (s->ops->watch_fd != NULL)
		CU_ASSERT(s->ops->watch_fd(s) >= 0); /* LISTENing before the bump */
	TU_ASSERT_ERR(s2->ops->generation_bump(s2, &g), ATTEST_OK);
	CU_ASSERT(g == 1);
	TU_ASSERT_ERR(s->ops->generation_bump(s, &g), ATTEST_OK);
	CU_ASSERT(g == 2);
	TU_ASSERT_ERR(vstore_generation(s2, &g), ATTEST_OK);
	CU_ASSERT(g == 2);
	if (s->ops->watch_fd != NULL) {
		struct pollfd pf = {s->ops->watch_fd(s), POLLIN, 0};
		int notified = 0;

		CU_ASSERT(poll(&pf, 1, 10000) == 1);
		TU_ASSERT_ERR(s->ops->watch_drain(s, &notified), ATTEST_OK);
		CU_ASSERT(notified == 1);
		TU_ASSERT_ERR(s->ops->watch_drain(s, &notified), ATTEST_OK);
		CU_ASSERT(notified == 0);
	} else {
		CU_ASSERT(s->ops->watch_drain == NULL);
	}

	/* heartbeats */
	memset(&rp, 0, sizeof(rp));
	snprintf(rp.id, sizeof(rp.id), "A");
	snprintf(rp.log_id, sizeof(rp.log_id), "00ff");
	rp.started = 10;
	rp.beat = 11;
	TU_ASSERT_ERR(s->ops->replica_beat(s, &rp), ATTEST_OK);
	snprintf(rp.id, sizeof(rp.id), "B");
	rp.beat = 12;
	TU_ASSERT_ERR(s2->ops->replica_beat(s2, &rp), ATTEST_OK);
	rp.beat = 20;
	TU_ASSERT_ERR(s2->ops->replica_beat(s2, &rp), ATTEST_OK);
	memset(seen, 0, sizeof(seen));
	TU_ASSERT_ERR(s->ops->replica_list(s, count_replica, seen), ATTEST_OK);
	CU_ASSERT(seen[0].beat == 11 && seen[0].started == 10);
	CU_ASSERT_STRING_EQUAL(seen[0].log_id, "00ff");
	CU_ASSERT(seen[1].beat == 20);
	CU_ASSERT_STRING_EQUAL(seen[1].id, "B");
	rp.id[0] = '\0';
	TU_ASSERT_ERR(s->ops->replica_beat(s, &rp), ATTEST_E_INVALID_ARG);

	/* stale hosts: not revoked, last good quote before the cut */
	fill_host(&h, "web-02", 6);
	h.revoked = 0;
	h.last_good = 0; /* never attested */
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_OK);
	fill_host(&h, "web-03", 7);
	h.revoked = 0;
	h.last_good = 300;
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_OK);
	fill_host(&h, "web-04", 8);
	h.revoked = 0;
	h.last_good = 1000;
	TU_ASSERT_ERR(s->ops->host_put(s, &h), ATTEST_OK);
	memset(&got, 0, sizeof(got));
	TU_ASSERT_ERR(s->ops->host_stale(s, 500, 1, first_stale, &got, &n), ATTEST_OK);
	CU_ASSERT(n == 2); /* web-02, web-03; web-01 revoked, web-04 fresh */
	CU_ASSERT_STRING_EQUAL(got.name, "web-02");
	TU_ASSERT_ERR(s->ops->host_stale(s, 2000, 0, first_stale, &got, &n), ATTEST_OK);
	CU_ASSERT(n == 3);
	vstore_close(s2);
	vstore_close(s);
	drop_store(dir);
}

/* Each contract test on each backend. */
#define ON_BOTH(fn)                                  \
	static void fn##_sqlite(void)                \
	{                                            \
		be = &be_sqlite;                     \
		fn();                                \
	}                                            \
	static void fn##_pg(void)                    \
	{                                            \
		be = &be_pg;                         \
		fn();                                \
		be = &be_sqlite;                     \
	}

ON_BOTH(test_hosts)
ON_BOTH(test_host_counters)
ON_BOTH(test_nonces)
ON_BOTH(test_concurrent)
ON_BOTH(test_agents)
ON_BOTH(test_refsets)
ON_BOTH(test_callers_settings)
ON_BOTH(test_crash_safety)
ON_BOTH(test_chains)
ON_BOTH(test_jwt_keys)
ON_BOTH(test_replica_ops)
ON_BOTH(test_agents_by_host)

int main(void)
{
	static const struct tu_test tests[] = {
		{ "open, close, reopen keeps data; file 0600, WAL", test_open_reopen },
		{ "migration from an empty file; newer, foreign and junk files refused",
		  test_migrate_and_refuse },
		{ "symlinks, loose modes and directories refused", test_file_refusals },
		{ "sqlite: hosts: round trip, 64-bit counters, list, bad input", test_hosts_sqlite },
		{ "sqlite: a quote's counters written only if unchanged: no rollback",
		  test_host_counters_sqlite },
		{ "sqlite: nonces: once, used, expired, other host, unknown, prune",
		  test_nonces_sqlite },
		{ "sqlite: processes racing: one migration, each nonce taken once",
		  test_concurrent_sqlite },
		{ "sqlite: agents: host must exist, approve, revoke, list, bad input",
		  test_agents_sqlite },
		{ "sqlite: reference sets: put, list, active toggling", test_refsets_sqlite },
		{ "sqlite: callers by SPKI hash; settings", test_callers_settings_sqlite },
		{ "sqlite: agent chains: put, replace, caps", test_chains_sqlite },
		{ "sqlite: JWT-SVID keys: put, another host's kid refused, prune, list",
		  test_jwt_keys_sqlite },
		{ "sqlite: replicas: column updates keep a concurrent quote, compare-and-set, "
		  "generation, heartbeats, stale hosts", test_replica_ops_sqlite },
		{ "sqlite: one host's agents, in ID order, only its own", test_agents_by_host_sqlite },
		{ "sqlite: the start-up check reads no inventory page; a damaged hosts page refused",
		  test_open_check_bounded },
		{ "corrupted rows are ATTEST_E_STORE_DAMAGED", test_corrupt_rows },
		{ "sqlite: kill -9 of a writer: integrity ok, rows whole, commits kept",
		  test_crash_safety_sqlite },
		{ "postgresql: hosts: round trip, 64-bit counters, list, bad input", test_hosts_pg },
		{ "postgresql: a quote's counters written only if unchanged: no rollback",
		  test_host_counters_pg },
		{ "postgresql: nonces: once, used, expired, other host, unknown, prune",
		  test_nonces_pg },
		{ "postgresql: processes racing: one migration, each nonce taken once",
		  test_concurrent_pg },
		{ "postgresql: agents: host must exist, approve, revoke, list, bad input",
		  test_agents_pg },
		{ "postgresql: reference sets: put, list, active toggling", test_refsets_pg },
		{ "postgresql: callers by SPKI hash; settings", test_callers_settings_pg },
		{ "postgresql: kill -9 of a writer: rows whole, commits kept",
		  test_crash_safety_pg },
		{ "postgresql: agent chains: put, replace, caps", test_chains_pg },
		{ "postgresql: JWT-SVID keys: put, another host's kid refused, prune, list",
		  test_jwt_keys_pg },
		{ "postgresql: replicas: column updates keep a concurrent quote, compare-and-set, "
		  "generation and NOTIFY, heartbeats, stale hosts", test_replica_ops_pg },
		{ "postgresql: one host's agents, in ID order, only its own",
		  test_agents_by_host_pg },
		{ "postgresql: schema made by init only; newer, foreign, markerless refused",
		  test_pg_open_migrate },
		{ "postgresql: one nonce, two connections released at once: one wins",
		  test_pg_nonce_race },
		{ "postgresql: hand-written bad rows are ATTEST_E_STORE_DAMAGED",
		  test_pg_corrupt_rows },
		{ NULL, NULL },
	};
	int rc = tu_main("store", tests);

	if (pg_started)
		tu_pg_stop(&pg_server);
	return rc;
}
