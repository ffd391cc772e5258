/* bench_store.c - the verifier's store on the hot paths (make bench), on
 * SQLite and then, when PostgreSQL 15 is installed, on a private
 * PostgreSQL server (testutil_pg: unix socket, fsync on,
 * synchronous_commit on), the same figures prefixed store_pg_.
 *
 *   store_agent_get_per_s         agent_get of a known ID, N_AGENTS stored
 *                                 (the decision path reads one per request)
 *   store_nonce_issue_take_per_s  nonce_issue + nonce_take pairs: two
 *                                 commits, each fsynced (synchronous=FULL),
 *                                 so this is mostly the disk's fsync rate
 *
 * The database lives under $TMPDIR (run-bench.sh points it at its own
 * scratch dir); on tmpfs the fsyncs cost nothing, so the note says where
 * it ran. Report only: nothing asserts on time; every call's result is
 * checked and a failed series prints "n/a" and exits 1 at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "store.h"
#include "testutil.h"
#include "testutil_pg.h"

#define N_AGENTS 1000
#define N_GETS 200000
#define N_WARM 2000
#define N_NONCES 400
#define TMPFS_MAGIC_ 0x01021994

static int failures;

#define NEED(x_)                                                                          \
	do {                                                                              \
		if (!(x_)) {                                                              \
			fprintf(stderr, "bench_store fixture, line %d: %s failed: %s\n",  \
				__LINE__, #x_, attest_errdetail());                       \
			exit(2);                                                          \
		}                                                                         \
	} while (0)

static void agent_id(char *out, size_t outsz, int i)
{
	snprintf(out, outsz, "spiffe://fleet.example/host/web-01/agent/agent-%04d", i);
}

static void fixture(struct vstore *s)
{
	struct vhost h;
	struct vagent a;

	memset(&h, 0, sizeof(h));
	snprintf(h.name, sizeof(h.name), "web-01");
	h.state = VHOST_TRUSTED;
	NEED(s->ops->host_put(s, &h) == ATTEST_OK);
	for (int i = 0; i < N_AGENTS; i++) {
		memset(&a, 0, sizeof(a));
		agent_id(a.id, sizeof(a.id), i);
		snprintf(a.host, sizeof(a.host), "web-01");
		snprintf(a.uuid, sizeof(a.uuid), "6f1c2b1e-8d7a-4c1f-9a7e-%012d", i);
		memset(a.agent_ca_hash, i & 0xff, 32);
		memset(a.measurement, 0x5a, 32);
		memset(a.policy, 0xa5, 32);
		snprintf(a.scopes, sizeof(a.scopes), "ehr.read ehr.write billing.read");
		snprintf(a.data_classes, sizeof(a.data_classes), "phi pii");
		a.risk_tier = i % 4;
		a.risk_score = i % 101;
		a.approved = 1;
		NEED(s->ops->agent_put(s, &a) == ATTEST_OK);
	}
}

/* agent_get over the stored IDs in a scattered order; per second, or -1. */
static double bench_agent_get(struct vstore *s, int n)
{
	char (*ids)[VSTORE_ID_MAX] = malloc(sizeof(*ids) * N_AGENTS);
	struct vagent a;
	double t0, ms;
	int ok = 1;

	NEED(ids != NULL);
	for (int i = 0; i < N_AGENTS; i++)
		agent_id(ids[i], sizeof(ids[i]), (int)(((long)i * 7919) % N_AGENTS));
	t0 = tu_now_ms();
	for (int i = 0; i < n; i++) {
		if (s->ops->agent_get(s, ids[i % N_AGENTS], &a) != ATTEST_OK ||
		    a.measurement[0] != 0x5a) {
			fprintf(stderr, "bench_store: agent_get: %s\n", attest_errdetail());
			ok = 0;
			break;
		}
	}
	ms = tu_now_ms() - t0;
	free(ids);
	return ok && ms > 0 ? n / (ms / 1e3) : -1;
}

static double bench_nonces(struct vstore *s, int n, int64_t now)
{
	uint8_t nonce[VSTORE_NONCE_LEN];
	double t0, ms;

	memset(nonce, 0x4e, sizeof(nonce));
	t0 = tu_now_ms();
	for (int i = 0; i < n; i++) {
		memcpy(nonce, &i, sizeof(i));
		if (s->ops->nonce_issue(s, "web-01", nonce, now + 60) != ATTEST_OK ||
		    s->ops->nonce_take(s, "web-01", nonce, now) != ATTEST_OK) {
			fprintf(stderr, "bench_store: nonce: %s\n", attest_errdetail());
			return -1;
		}
	}
	ms = tu_now_ms() - t0;
	return ms > 0 ? n / (ms / 1e3) : -1;
}

static void print_fig(const char *name, double v, const char *note)
{
	if (v >= 0) {
		printf("%-44s %10.0f  %s\n", name, v, note);
	} else {
		printf("%-44s %10s  %s\n", name, "n/a", note);
		failures++;
	}
}

int main(void)
{
	char dir[512], path[600], note[160];
	struct vstore *s = NULL;
	struct statfs fs;
	const char *where;
	double gets, nonces;

	setvbuf(stdout, NULL, _IOLBF, 0);
	tu_mkdtemp(dir, sizeof(dir));
	NEED((size_t)snprintf(path, sizeof(path), "%s/verifier.db", dir) < sizeof(path));
	where = statfs(dir, &fs) == 0 && fs.f_type == TMPFS_MAGIC_ ? "tmpfs" : "disk";
	printf("# bench_store (SQLite %s, WAL, synchronous=FULL, database on %s): "
	       "report only, nothing asserted\n", sqlite3_libversion(), where);
	NEED(vstore_sqlite_open(path, &s) == ATTEST_OK);
	fixture(s);
	(void)bench_agent_get(s, N_WARM);
	gets = bench_agent_get(s, N_GETS);
	snprintf(note, sizeof(note), "n=%d over %d agents, one thread", N_GETS, N_AGENTS);
	print_fig("store_agent_get_per_s", gets, note);
	nonces = bench_nonces(s, N_NONCES, 1700000000);
	snprintf(note, sizeof(note), "n=%d pairs, 2 fsynced commits each, on %s", N_NONCES, where);
	print_fig("store_nonce_issue_take_per_s", nonces, note);
	NEED(s->ops->nonce_prune(s, 1700000000 + 61) == ATTEST_OK);
	vstore_close(s);
	s = NULL;
	if (tu_pg_available()) {
		struct tu_pg pg;
		char uri[600];

		tu_pg_start(&pg);
		tu_pg_newdb(&pg, uri, sizeof(uri));
		where = statfs(pg.dir, &fs) == 0 && fs.f_type == TMPFS_MAGIC_ ? "tmpfs" : "disk";
		printf("# bench_store on PostgreSQL (libpq %d; unix socket, synchronous_commit=on, "
		       "fsync on, data on %s)\n", PQlibVersion(), where);
		NEED(vstore_pg_open(uri, &s) == ATTEST_OK);
		fixture(s);
		(void)bench_agent_get(s, N_WARM);
		gets = bench_agent_get(s, N_GETS / 10);
		snprintf(note, sizeof(note), "n=%d over %d agents, one connection", N_GETS / 10,
			 N_AGENTS);
		print_fig("store_pg_agent_get_per_s", gets, note);
		nonces = bench_nonces(s, N_NONCES, 1700000000);
		snprintf(note, sizeof(note), "n=%d pairs, 2 commits each, on %s", N_NONCES, where);
		print_fig("store_pg_nonce_issue_take_per_s", nonces, note);
		vstore_close(s);
		tu_pg_stop(&pg);
	} else {
		printf("# bench_store: no PostgreSQL server binaries; store_pg_ figures skipped\n");
	}
	tu_rmtree(dir);
	return failures == 0 ? 0 : 1;
}
