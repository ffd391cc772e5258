/* journal.h - log lines that fit journald. Under systemd, with stderr
 * connected to the journal ($JOURNAL_STREAM names stderr's device and
 * inode), each line starts with its syslog priority, "<6>" (sd-daemon(3)):
 * journald keeps the priority and adds its own time and identifier.
 * Elsewhere a line starts with the UTC time and the program's name. */
#ifndef ATTEST_JOURNAL_H
#define ATTEST_JOURNAL_H

#include <stdio.h>

#define JOURNAL_ERR 3
#define JOURNAL_WARNING 4
#define JOURNAL_NOTICE 5
#define JOURNAL_INFO 6

/* 1 when stderr is the journal's stream ($JOURNAL_STREAM matches fd 2),
 * else 0; decided once per process. */
int journal_stderr(void);

/* Start a line on f (stderr): "<prio>" under the journal, else
 * "2026-12-07T06:00:00Z prog: ". */
void journal_line_start(FILE *f, int prio, const char *prog);

/* One whole line on stderr in one write(2): the start above, then msg
 * with every byte outside printable ASCII, and the backslash, shown as
 * \xHH (a peer's bytes cannot start a line or choose its priority), then
 * '\n'. Built in a buffer first: stderr is unbuffered, and writing it a
 * character at a time cost ~90 system calls per issued certificate (issue
 * 17). A message escaping to more than JOURNAL_LINE_MAX bytes is cut, and
 * the line says so with a trailing "...". */
#define JOURNAL_LINE_MAX 4096
void journal_line(int prio, const char *prog, const char *msg);

#endif
