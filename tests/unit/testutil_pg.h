/* testutil_pg.h - a private PostgreSQL 15 for a test: initdb into a new
 * directory, the server on a unix socket only (in that 0700 directory: no
 * TCP, so "trust" authentication reaches nobody else), stopped by pid.
 * PostgreSQL refuses to run as root: a test run as root runs initdb and the
 * server as the unprivileged user $ATTEST_PG_USER (default "postgres",
 * Debian's), with the directory under /tmp owned by it. */
#ifndef TESTS_TESTUTIL_PG_H
#define TESTS_TESTUTIL_PG_H

#include <stddef.h>
#include <sys/types.h>

struct tu_pg {
	char dir[256];  /* data/, the socket, postgres.log */
	pid_t pid;      /* the postmaster, a child of this process */
	int port;       /* names the socket: .s.PGSQL.<port> */
	unsigned ndb;   /* databases made by tu_pg_newdb */
};

/* 1 when PostgreSQL's server binaries are installed ($ATTEST_PG_BIN, else
 * /usr/lib/postgresql/15/bin, else the highest /usr/lib/postgresql/N/bin). */
int tu_pg_available(void);
/* Starts the server and waits until it accepts connections; exits the test
 * run on failure (a broken environment, not a test result). */
void tu_pg_start(struct tu_pg *p);
/* Fast shutdown by pid (SIGINT, then SIGKILL after 30 s), and the
 * directory removed. NULL-safe, idempotent. */
void tu_pg_stop(struct tu_pg *p);
/* A new empty database; uri gets its postgresql:// URI. */
void tu_pg_newdb(struct tu_pg *p, char *uri, size_t urisz);
/* Runs sql (several statements allowed) on uri's database as the
 * superuser: what someone with write access to the database can do.
 * 0, or -1 with the server's message on stderr. */
int tu_pg_exec(const char *uri, const char *sql);
/* The first column of the first row of sql's result, as text. */
void tu_pg_text(const char *uri, const char *sql, char *out, size_t outsz);

#endif
