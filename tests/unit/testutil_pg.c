/* testutil_pg.c - see testutil_pg.h. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "testutil.h"
#include "testutil_pg.h"

#define PG_BIN_DEFAULT "/usr/lib/postgresql/15/bin"

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "testutil_pg: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

/* $ATTEST_PG_BIN, else /usr/lib/postgresql/15/bin, else the highest
 * /usr/lib/postgresql/N/bin holding a postgres binary (another Debian
 * release ships another major version). */
static const char *pg_bin(void)
{
	static char found[300];
	const char *b = getenv("ATTEST_PG_BIN");
	char p[400];

	if (b != NULL && b[0] != '\0')
		return b;
	if (access(PG_BIN_DEFAULT "/postgres", X_OK) == 0)
		return PG_BIN_DEFAULT;
	if (found[0] == '\0') {
		for (int v = 40; v >= 10; v--) {
			(void)snprintf(p, sizeof(p), "/usr/lib/postgresql/%d/bin/postgres", v);
			if (access(p, X_OK) == 0) {
				(void)snprintf(found, sizeof(found), "/usr/lib/postgresql/%d/bin", v);
				break;
			}
		}
	}
	return found[0] != '\0' ? found : PG_BIN_DEFAULT;
}

int tu_pg_available(void)
{
	char p[512];

	(void)snprintf(p, sizeof(p), "%s/postgres", pg_bin());
	return access(p, X_OK) == 0;
}

/* The user the server runs as: ourselves, or when we are root the
 * unprivileged $ATTEST_PG_USER. */
static void run_as(uid_t *uid, gid_t *gid)
{
	const char *name = getenv("ATTEST_PG_USER");
	struct passwd *pw;

	*uid = geteuid();
	*gid = getegid();
	if (*uid != 0)
		return;
	if (name == NULL || name[0] == '\0')
		name = "postgres";
	if ((pw = getpwnam(name)) == NULL || pw->pw_uid == 0)
		die("running as root and no unprivileged user \"%s\" to run PostgreSQL as", name);
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
}

/* In a child: drop to uid/gid, stdout and stderr to log, exec argv. */
static void child_exec(uid_t uid, gid_t gid, const char *dir, const char *log, char *const argv[])
{
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		_exit(120);
	if (geteuid() == 0 && uid != 0) {
		if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
			_exit(121);
		if (setuid(0) == 0) /* the drop must be for good */
			_exit(122);
	}
	if (chdir(dir) != 0)
		_exit(123);
	/* nothing of the test's (pipes a test waits on for EOF) in the server */
	for (int f = 3; f < 1024; f++)
		(void)close(f);
	execv(argv[0], argv);
	_exit(127);
}

static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	if (fd < 0)
		die("socket: %s", strerror(errno));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		die("bind: %s", strerror(errno));
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void conninfo(const struct tu_pg *p, const char *db, char *out, size_t outsz)
{
	if ((size_t)snprintf(out, outsz, "postgresql:///%s?host=%s&port=%d&user=attest", db, p->dir,
			     p->port) >= outsz)
		die("connection URI too long");
}

/* For tests/run-tests.sh: a test that dies cannot stop its server; the
 * runner kills the pid in $TMPDIR/attest-pg.pid and removes the directory
 * named in $TMPDIR/attest-pg.dir. */
static void note_for_runner(const struct tu_pg *p)
{
	const char *t = getenv("TMPDIR");
	char path[512], buf[300];
	int n;

	if (t == NULL || t[0] == '\0')
		return;
	(void)snprintf(path, sizeof(path), "%s/attest-pg.dir", t);
	n = snprintf(buf, sizeof(buf), "%s\n", p->dir);
	tu_write(path, buf, (size_t)n);
	(void)snprintf(path, sizeof(path), "%s/attest-pg.pid", t);
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)p->pid);
	tu_write(path, buf, (size_t)n);
}

void tu_pg_start(struct tu_pg *p)
{
	char data[300], log[300], initdb[512], postgres[512], portarg[16], ci[512];
	const char *base = getenv("TMPDIR");
	uid_t uid;
	gid_t gid;
	pid_t pid;
	int st;

	memset(p, 0, sizeof(*p));
	p->pid = -1;
	run_as(&uid, &gid);
	/* root's $TMPDIR is 0700 root: the server's user could not reach it */
	if (geteuid() == 0 || base == NULL || base[0] == '\0')
		base = "/tmp";
	if ((size_t)snprintf(p->dir, sizeof(p->dir), "%s/attest-pg.XXXXXX", base) >= sizeof(p->dir))
		die("temp path too long");
	if (mkdtemp(p->dir) == NULL)
		die("mkdtemp: %s", strerror(errno));
	if (geteuid() == 0 && chown(p->dir, uid, gid) != 0)
		die("chown %s: %s", p->dir, strerror(errno));
	(void)snprintf(data, sizeof(data), "%s/data", p->dir);
	(void)snprintf(log, sizeof(log), "%s/postgres.log", p->dir);
	(void)snprintf(initdb, sizeof(initdb), "%s/initdb", pg_bin());
	(void)snprintf(postgres, sizeof(postgres), "%s/postgres", pg_bin());
	p->port = free_port();
	(void)snprintf(portarg, sizeof(portarg), "%d", p->port);

	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		char *argv[] = { initdb, "-D", data, "-U", "attest", "-A", "trust", "-E", "UTF8",
				 "--locale=C", "-N", NULL };

		child_exec(uid, gid, p->dir, log, argv);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		(void)tu_sh("cat '%s' >&2", log);
		die("initdb failed (status %d)", st);
	}
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		/* unix socket only, in the private directory; fsync stays on */
		char *argv[] = { postgres, "-D", data, "-k", p->dir, "-p", portarg,
				 "-c", "listen_addresses=", "-c", "max_connections=40",
				 "-c", "shared_buffers=16MB", NULL };

		child_exec(uid, gid, p->dir, log, argv);
	}
	p->pid = pid;
	note_for_runner(p);
	conninfo(p, "postgres", ci, sizeof(ci));
	for (int i = 0;; i++) {
		if (PQping(ci) == PQPING_OK)
			break;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			p->pid = -1;
			(void)tu_sh("cat '%s' >&2", log);
			die("postgres exited at start-up");
		}
		if (i > 1200) {
			(void)tu_sh("cat '%s' >&2", log);
			die("postgres not ready after 60 s");
		}
		usleep(50000);
	}
}

void tu_pg_stop(struct tu_pg *p)
{
	const char *t = getenv("TMPDIR");
	char path[512];
	int st;

	if (p == NULL)
		return;
	if (p->pid > 0) {
		(void)kill(p->pid, SIGINT); /* fast shutdown */
		for (int i = 0;; i++) {
			pid_t w = waitpid(p->pid, &st, WNOHANG);

			if (w == p->pid || (w < 0 && errno == ECHILD))
				break;
			if (i == 600)
				(void)kill(p->pid, SIGKILL);
			usleep(50000);
		}
		p->pid = -1;
	}
	if (p->dir[0] != '\0' && strstr(p->dir, "/attest-pg.") != NULL)
		(void)tu_sh("rm -rf '%s'", p->dir);
	p->dir[0] = '\0';
	if (t != NULL && t[0] != '\0') {
		(void)snprintf(path, sizeof(path), "%s/attest-pg.pid", t);
		(void)unlink(path);
		(void)snprintf(path, sizeof(path), "%s/attest-pg.dir", t);
		(void)unlink(path);
	}
}

void tu_pg_newdb(struct tu_pg *p, char *uri, size_t urisz)
{
	char ci[512], sql[64], db[32];

	(void)snprintf(db, sizeof(db), "db%u", ++p->ndb);
	conninfo(p, "postgres", ci, sizeof(ci));
	(void)snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
	if (tu_pg_exec(ci, sql) != 0)
		die("create database %s", db);
	conninfo(p, db, uri, urisz);
}

int tu_pg_exec(const char *uri, const char *sql)
{
	PGconn *c = PQconnectdb(uri);
	PGresult *res;
	int r = 0;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "  tu_pg_exec: connect: %s", PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	res = PQexec(c, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "  tu_pg_exec %s: %s", sql, PQerrorMessage(c));
		r = -1;
	}
	PQclear(res);
	PQfinish(c);
	return r;
}

void tu_pg_text(const char *uri, const char *sql, char *out, size_t outsz)
{
	PGconn *c = PQconnectdb(uri);
	PGresult *res;

	out[0] = '\0';
	if (PQstatus(c) != CONNECTION_OK)
		die("tu_pg_text: connect: %s", PQerrorMessage(c));
	res = PQexec(c, sql);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0 && PQnfields(res) > 0)
		(void)snprintf(out, outsz, "%s", PQgetvalue(res, 0, 0));
	else if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fprintf(stderr, "  tu_pg_text %s: %s", sql, PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
}
