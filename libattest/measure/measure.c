/* measure.c - pin, inspect and measure the process behind a Unix socket peer
 * (contract in measure.h).
 *
 * Every /proc read of one call goes through one directory fd of /proc/PID.
 * That fd stays bound to the process it was opened for: once the process
 * has exited, openat() through it fails (ESRCH/ENOENT) even if the PID
 * number already belongs to a newcomer, so one call never mixes two
 * processes' answers.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>
#include <openssl/evp.h>

#include "core/err.h"
#include "core/num.h"
#include "measure/measure.h"

#define STAT_CAP 4096 /* "PID (comm) ..." is ~52 numbers and a 15-byte comm */
#define STATUS_CAP (64 * 1024)
#define CMDLINE_CAP (64 * 1024)
/* execve() limits argv+envp to 3/4 of 8 MiB; the cap only bounds time. */
#define ENVIRON_CAP (16 * 1024 * 1024)
#define ENV_CHUNK 4096
#define HASH_CHUNK (64 * 1024)
/* A sparse multi-GiB "binary" would otherwise keep attestd hashing zeros. */
#define HASH_MAX_SIZE ((off_t)1 << 30)
#define CACHE_MAX 65536
/* A digest is cached only when the file's ctime is at least this much older
 * than the start of hashing. Timestamps are coarse (a jiffy on ext4/xfs,
 * 1-2 s elsewhere): a write right after we hashed could otherwise leave
 * size, mtime and ctime all unchanged, and the cache would vouch for the
 * old content (git's "racy clean" problem). */
#define RACY_SEC 2

/* Test seam, used by tests/unit/test_measure.c only (not exported from the
 * shared library): lookups answered from the cache. */
size_t attest_measure_cache_hits(const struct attest_measure_cache *c);
/* Test seam: 1 if the open file fd may be answered from the cache. */
int attest_measure_cacheable(int fd);

struct file_key {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

struct cache_entry {
	struct file_key k;
	uint8_t digest[32];
	uint64_t used; /* 0: empty slot; else the LRU clock at last use */
};

struct attest_measure_cache {
	size_t cap;
	uint64_t clock;
	size_t hits;
	struct cache_entry e[];
};

/* ---- small helpers ---- */

static void close_keep_errno(int fd)
{
	int e = errno;

	(void)close(fd);
	errno = e;
}

static int proc_errno(int e, pid_t pid, const char *what)
{
	if (e == ENOENT || e == ESRCH)
		return attest_fail(ATTEST_E_PROC_CHANGED, "process %ld has exited (/proc/%ld/%s: %s)",
				   (long)pid, (long)pid, what, strerror(e));
	if (e == EACCES || e == EPERM)
		return attest_fail(ATTEST_E_DENIED, "/proc/%ld/%s: %s", (long)pid, what, strerror(e));
	return attest_fail(ATTEST_E_IO, "/proc/%ld/%s: %s", (long)pid, what, strerror(e));
}

static int open_proc_dir(pid_t pid, int *dfd)
{
	char path[32];

	if (pid <= 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "pid %ld is not a process id", (long)pid);
	snprintf(path, sizeof(path), "/proc/%ld", (long)pid);
	*dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*dfd < 0)
		return proc_errno(errno, pid, "");
	return ATTEST_OK;
}

static ssize_t read_retry(int fd, void *buf, size_t n)
{
	ssize_t r;

	do
		r = read(fd, buf, n);
	while (r < 0 && errno == EINTR);
	return r;
}

/* Whole /proc/PID/<name> into buf (cap bytes including a NUL it appends);
 * ATTEST_E_TOO_LARGE if it does not fit. */
static int read_proc_small(int dfd, pid_t pid, const char *name, char *buf, size_t cap,
			   size_t *len)
{
	size_t n = 0;
	ssize_t got;
	char probe;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return proc_errno(errno, pid, name);
	while (n < cap - 1) {
		got = read_retry(fd, buf + n, cap - 1 - n);
		if (got < 0) {
			close_keep_errno(fd);
			return proc_errno(errno, pid, name);
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n == cap - 1 && (got = read_retry(fd, &probe, 1)) != 0) {
		if (got < 0) {
			close_keep_errno(fd);
			return proc_errno(errno, pid, name);
		}
		(void)close(fd);
		return attest_fail(ATTEST_E_TOO_LARGE, "/proc/%ld/%s is over %zu bytes", (long)pid,
				   name, cap - 1);
	}
	(void)close(fd);
	buf[n] = '\0';
	*len = n;
	return ATTEST_OK;
}

/* Field 22 (starttime) of /proc/PID/stat. The line is "PID (comm) S f4 ...";
 * comm is raw bytes chosen by the process (prctl PR_SET_NAME) and may hold
 * spaces, ')' and newlines, but nothing after it can hold ')', so the LAST
 * ')' ends it. */
int attest_proc_stat_parse(const char *buf, size_t len, pid_t pid, uint64_t *start)
{
	const char *p, *end = buf + len, *close_paren;
	size_t i;
	uint64_t v;

	*start = 0;
	for (i = 0; i < len && buf[i] >= '0' && buf[i] <= '9'; i++)
		;
	if (attest_parse_u64n(buf, i, 1, INT_MAX, &v) != ATTEST_OK || v != (uint64_t)pid || len - i < 2 ||
	    buf[i] != ' ' || buf[i + 1] != '(')
		return attest_fail(ATTEST_E_PARSE, "/proc/%ld/stat: bad pid field", (long)pid);
	close_paren = memrchr(buf + i + 2, ')', len - i - 2);
	if (close_paren == NULL)
		return attest_fail(ATTEST_E_PARSE, "/proc/%ld/stat: comm not closed", (long)pid);
	p = close_paren + 1;
	for (int field = 3; field <= 22; field++) {
		const char *tok;

		if (p == end || *p != ' ')
			return attest_fail(ATTEST_E_PARSE, "/proc/%ld/stat: field %d missing",
					   (long)pid, field);
		tok = ++p;
		while (p < end && *p != ' ' && *p != '\n')
			p++;
		if (field == 22 && attest_parse_u64n(tok, (size_t)(p - tok), 0, UINT64_MAX, start) != ATTEST_OK)
			return attest_fail(ATTEST_E_PARSE, "/proc/%ld/stat: bad starttime '%.*s'",
					   (long)pid, (int)(p - tok < 24 ? p - tok : 24), tok);
	}
	return ATTEST_OK;
}

static int read_start_time(int dfd, pid_t pid, uint64_t *start)
{
	char buf[STAT_CAP];
	size_t len;
	int r;

	if ((r = read_proc_small(dfd, pid, "stat", buf, sizeof(buf), &len)) != ATTEST_OK)
		return r;
	return attest_proc_stat_parse(buf, len, pid, start);
}

/* ---- pin and check ---- */

int attest_proc_start_time(pid_t pid, uint64_t *start)
{
	int dfd = -1, r;

	*start = 0;
	if ((r = open_proc_dir(pid, &dfd)) != ATTEST_OK)
		return r;
	r = read_start_time(dfd, pid, start);
	(void)close(dfd);
	return r;
}

int attest_proc_open(pid_t pid, int *dfd)
{
	if (dfd == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "attest_proc_open: dfd is NULL");
	*dfd = -1;
	return open_proc_dir(pid, dfd);
}

int attest_proc_pin_at(int dfd, pid_t pid, struct attest_proc_pin *out)
{
	struct attest_proc_pin p;
	struct stat st;
	int r;

	if (out == NULL || dfd < 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "attest_proc_pin_at: bad argument");
	memset(out, 0, sizeof(*out));
	memset(&p, 0, sizeof(p));
	if ((r = read_start_time(dfd, pid, &p.start_time)) != ATTEST_OK)
		return r;
	/* stat (not lstat) follows the magic link to the running inode; a
	 * zombie or kernel thread has none (ENOENT). */
	if (fstatat(dfd, "exe", &st, 0) != 0)
		return proc_errno(errno, pid, "exe");
	p.pid = pid;
	p.exe_dev = st.st_dev;
	p.exe_ino = st.st_ino;
	p.exe_size = st.st_size;
	*out = p;
	return ATTEST_OK;
}

int attest_proc_pin(pid_t pid, struct attest_proc_pin *out)
{
	int dfd = -1, r;

	if (out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "attest_proc_pin: out is NULL");
	memset(out, 0, sizeof(*out));
	if ((r = open_proc_dir(pid, &dfd)) != ATTEST_OK)
		return r;
	r = attest_proc_pin_at(dfd, pid, out);
	(void)close(dfd);
	return r;
}

int attest_proc_check(const struct attest_proc_pin *pin)
{
	int dfd = -1, r;

	if (pin == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "attest_proc_check: pin is NULL");
	if ((r = open_proc_dir(pin->pid, &dfd)) != ATTEST_OK)
		return r;
	r = attest_proc_check_at(dfd, pin);
	(void)close(dfd);
	return r;
}

int attest_proc_check_at(int dfd, const struct attest_proc_pin *pin)
{
	struct attest_proc_pin now;
	int r;

	if (pin == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "attest_proc_check_at: pin is NULL");
	if ((r = attest_proc_pin_at(dfd, pin->pid, &now)) != ATTEST_OK)
		return r;
	if (now.start_time != pin->start_time)
		return attest_fail(ATTEST_E_PROC_CHANGED,
				   "process %ld started at tick %" PRIu64 ", pinned one at %" PRIu64
				   ": the PID was reused",
				   (long)pin->pid, now.start_time, pin->start_time);
	if (now.exe_dev != pin->exe_dev || now.exe_ino != pin->exe_ino)
		return attest_fail(ATTEST_E_PROC_CHANGED,
				   "process %ld now runs inode %ju:%ju, pinned %ju:%ju: it exec'd",
				   (long)pin->pid, (uintmax_t)now.exe_dev, (uintmax_t)now.exe_ino,
				   (uintmax_t)pin->exe_dev, (uintmax_t)pin->exe_ino);
	return ATTEST_OK;
}

/* ---- inspect ---- */

/* After "Key:" in a status line: exactly n whitespace-separated numbers,
 * nothing else. */
static int status_numbers(const char *p, const char *e, uint64_t max, uint64_t *v, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		const char *tok;

		if (p == e || (*p != '\t' && *p != ' '))
			return -1;
		while (p < e && (*p == '\t' || *p == ' '))
			p++;
		tok = p;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
		if (attest_parse_u64n(tok, (size_t)(p - tok), 0, max, &v[k]) != ATTEST_OK)
			return -1;
	}
	return p == e ? 0 : -1;
}

int attest_proc_status_parse(const char *buf, size_t len, pid_t pid, struct attest_proc_info *info)
{
	enum { K_STATE, K_PPID, K_TRACER, K_UID, K_N };
	static const char *const keys[K_N] = { "State:", "PPid:", "TracerPid:", "Uid:" };
	bool seen[K_N] = { false };
	const char *p = buf, *end = buf + len;
	char state = '?';

	while (p < end) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		uint64_t v[4];
		int k;

		if (e == NULL)
			e = end;
		for (k = 0; k < K_N; k++)
			if ((size_t)(e - p) >= strlen(keys[k]) &&
			    memcmp(p, keys[k], strlen(keys[k])) == 0)
				break;
		if (k < K_N) {
			const char *q = p + strlen(keys[k]);
			bool ok = false;

			if (seen[k])
				return attest_fail(ATTEST_E_PARSE, "/proc/%ld/status: %s twice",
						   (long)pid, keys[k]);
			seen[k] = true;
			switch (k) {
			case K_STATE:
				while (q < e && (*q == '\t' || *q == ' '))
					q++;
				ok = q < e && q > p + strlen(keys[k]);
				if (ok)
					state = *q;
				break;
			case K_PPID:
				ok = status_numbers(q, e, INT_MAX, v, 1) == 0;
				if (ok)
					info->ppid = (pid_t)v[0];
				break;
			case K_TRACER:
				ok = status_numbers(q, e, INT_MAX, v, 1) == 0;
				if (ok)
					info->tracer_pid = (pid_t)v[0];
				break;
			case K_UID: /* real, effective, saved, filesystem */
				ok = status_numbers(q, e, (uid_t)-1, v, 4) == 0;
				if (ok) {
					info->ruid = (uid_t)v[0];
					info->euid = (uid_t)v[1];
				}
				break;
			}
			if (!ok)
				return attest_fail(ATTEST_E_PARSE, "/proc/%ld/status: bad %s line",
						   (long)pid, keys[k]);
		}
		/* past the newline, or at the end (never one past it) */
		p = e < end ? e + 1 : end;
	}
	for (int k = 0; k < K_N; k++)
		if (!seen[k])
			return attest_fail(ATTEST_E_PARSE, "/proc/%ld/status: no %s line", (long)pid,
					   keys[k]);
	/* A zombie has no exe, environ or mappings left to judge. */
	if (state == 'Z' || state == 'X')
		return attest_fail(ATTEST_E_PROC_CHANGED, "process %ld has exited (state %c)",
				   (long)pid, state);
	return ATTEST_OK;
}

/* ---- environment allowlist ---- */

int attest_env_name_allowed(const char *name, size_t len, const char *const *allow,
			    size_t nallow)
{
	for (size_t i = 0; i < nallow; i++) {
		const char *pat = allow[i];
		size_t pl;

		if (pat == NULL)
			continue;
		pl = strlen(pat);
		if (pl > 0 && pat[pl - 1] == '*') {
			if (len >= pl - 1 && memcmp(name, pat, pl - 1) == 0)
				return 1;
		} else if (pl == len && memcmp(name, pat, len) == 0) {
			return 1;
		}
	}
	return 0;
}

static bool env_name_char(char ch, bool first)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_' ||
	       (!first && ch >= '0' && ch <= '9');
}

/* The environment is read as a stream of NUL-separated "NAME=value"
 * entries, keeping only the name being read, so a value of any length
 * costs O(1) memory and an entry split across reads is still seen whole. */
struct env_scan {
	char name[ATTEST_ENV_NAME_MAX + 1];
	size_t n;
	bool in_value; /* past the '=' of the current entry */
	bool bad_char; /* the name holds a byte outside [A-Za-z0-9_] */
	const char *const *allow;
	size_t nallow;
	pid_t pid;
};

static int env_name_end(struct env_scan *s)
{
	if (s->n > ATTEST_ENV_NAME_MAX)
		return attest_fail(ATTEST_E_ENV,
				   "process %ld: an environment variable name is over %d bytes",
				   (long)s->pid, ATTEST_ENV_NAME_MAX);
	if (s->n == 0 || s->bad_char)
		return attest_fail(ATTEST_E_ENV,
				   "process %ld: an environment variable name is not "
				   "[A-Za-z_][A-Za-z0-9_]*",
				   (long)s->pid);
	s->name[s->n] = '\0';
	if (!attest_env_name_allowed(s->name, s->n, s->allow, s->nallow))
		return attest_fail(ATTEST_E_ENV,
				   "process %ld: environment variable %s is not in the agent's "
				   "allowlist", (long)s->pid, s->name);
	return ATTEST_OK;
}

static int env_feed(struct env_scan *s, const char *b, size_t len)
{
	int r;

	for (size_t i = 0; i < len; i++) {
		char ch = b[i];

		if (s->in_value) {
			if (ch == '\0') {
				s->in_value = false;
				s->n = 0;
				s->bad_char = false;
			}
			continue;
		}
		if (ch == '=') {
			if ((r = env_name_end(s)) != ATTEST_OK)
				return r;
			s->in_value = true;
		} else if (ch == '\0') {
			return attest_fail(ATTEST_E_ENV,
					   "process %ld: an environment entry has no '='",
					   (long)s->pid);
		} else {
			if (!env_name_char(ch, s->n == 0))
				s->bad_char = true;
			if (s->n <= ATTEST_ENV_NAME_MAX)
				s->name[s->n] = ch;
			if (s->n <= ATTEST_ENV_NAME_MAX)
				s->n++;
		}
	}
	return ATTEST_OK;
}

/* After the last byte: a last entry without its NUL still counts. */
static int env_finish(const struct env_scan *s)
{
	if (!s->in_value && s->n > 0)
		return attest_fail(ATTEST_E_ENV, "process %ld: an environment entry has no '='",
				   (long)s->pid);
	return ATTEST_OK;
}

int attest_proc_environ_scan(const char *buf, size_t len, size_t chunk, pid_t pid,
			     const char *const *allow, size_t nallow)
{
	struct env_scan s;
	int r = ATTEST_OK;

	if ((allow == NULL && nallow > 0) || chunk == 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "attest_proc_environ_scan: bad argument");
	memset(&s, 0, sizeof(s));
	s.allow = allow;
	s.nallow = nallow;
	s.pid = pid;
	for (size_t off = 0; off < len && r == ATTEST_OK; off += chunk)
		r = env_feed(&s, buf + off, len - off < chunk ? len - off : chunk);
	return r == ATTEST_OK ? env_finish(&s) : r;
}

/* The /proc/PID directory of the pinned process: opened, then checked to
 * be the pinned one (a dir fd is bound to whichever process held the PID
 * when it was opened). */
static int open_pinned_dir(const struct attest_proc_pin *pin, int *dfd)
{
	uint64_t start;
	int r;

	*dfd = -1;
	if ((r = open_proc_dir(pin->pid, dfd)) != ATTEST_OK)
		return r;
	if ((r = read_start_time(*dfd, pin->pid, &start)) != ATTEST_OK)
		goto fail;
	if (start != pin->start_time) {
		r = attest_fail(ATTEST_E_PROC_CHANGED,
				"process %ld started at tick %" PRIu64 ", pinned one at %" PRIu64
				": the PID was reused",
				(long)pin->pid, start, pin->start_time);
		goto fail;
	}
	return ATTEST_OK;
fail:
	(void)close(*dfd);
	*dfd = -1;
	return r;
}

int attest_proc_env_check(const struct attest_proc_pin *pin, const char *const *allow,
			  size_t nallow, size_t cap)
{
	int dfd = -1, r;

	if (pin == NULL || (allow == NULL && nallow > 0) || cap == 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "attest_proc_env_check: bad argument");
	if ((r = open_pinned_dir(pin, &dfd)) != ATTEST_OK)
		return r;
	r = attest_proc_env_check_at(dfd, pin, allow, nallow, cap);
	(void)close(dfd);
	return r;
}

int attest_proc_env_check_at(int dfd, const struct attest_proc_pin *pin,
			     const char *const *allow, size_t nallow, size_t cap)
{
	struct env_scan s;
	char buf[ENV_CHUNK];
	size_t total = 0;
	ssize_t got;
	int fd = -1, r;

	if (dfd < 0 || pin == NULL || (allow == NULL && nallow > 0) || cap == 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "attest_proc_env_check_at: bad argument");
	if (cap > ENVIRON_CAP)
		cap = ENVIRON_CAP;
	memset(&s, 0, sizeof(s));
	s.allow = allow;
	s.nallow = nallow;
	s.pid = pin->pid;
	fd = openat(dfd, "environ", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = proc_errno(errno, pin->pid, "environ");
		goto out;
	}
	while ((got = read_retry(fd, buf, sizeof(buf))) > 0) {
		if ((size_t)got > cap - total) {
			r = attest_fail(ATTEST_E_ENV,
					"process %ld: initial environment is over the %zu-byte cap",
					(long)pin->pid, cap);
			goto out;
		}
		total += (size_t)got;
		if ((r = env_feed(&s, buf, (size_t)got)) != ATTEST_OK)
			goto out;
	}
	if (got < 0) {
		r = proc_errno(errno, pin->pid, "environ");
		goto out;
	}
	if ((r = env_finish(&s)) != ATTEST_OK)
		goto out;
	/* A zombie's environ reads as empty: it must not pass as clean, and
	 * the process read (the one dfd is bound to) must be the pinned one. */
	r = attest_proc_check_at(dfd, pin);
out:
	if (fd >= 0)
		(void)close(fd);
	return r;
}

/* ---- cmdline and fdinfo ---- */

/* Interpreter options an agent may put before its script: ones that only
 * make the interpreter stricter or quieter (python3 -I, the isolated mode,
 * implies -E and -s). */
static bool harmless_option(const char *arg, size_t n)
{
	static const char *const ok[] = { "-I", "-E", "-s", "-S", "-B", "-u", "-P", NULL };

	for (const char *const *o = ok; *o != NULL; o++)
		if (strlen(*o) == n && memcmp(arg, *o, n) == 0)
			return true;
	return false;
}

int attest_proc_cmdline_script(const char *buf, size_t len, const char *script)
{
	size_t off, n, sl = strlen(script);

	/* argv[0], the interpreter: up to its NUL (a process may have
	 * rewritten its arguments without one: then there is no script) */
	off = strnlen(buf, len) + 1;
	while (off < len) {
		n = strnlen(buf + off, len - off);
		if (!harmless_option(buf + off, n)) {
			if (n == sl && off + n < len && memcmp(buf + off, script, sl) == 0)
				return ATTEST_OK;
			break;
		}
		off += n + 1;
	}
	return attest_fail(ATTEST_E_MEASUREMENT, "process does not run the registered script %s",
			   script);
}

int attest_fdinfo_pid(const char *buf, size_t len, pid_t *pid)
{
	static const char key[] = "Pid:\t";
	const char *p = buf, *end = buf + len;
	uint64_t v;

	*pid = 0;
	/* lines "Key:\tvalue\n"; the Pid line is never the first */
	while (p < end) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		size_t n;

		if (e == NULL)
			break; /* an unterminated last line is not read */
		if (p != buf && (size_t)(e - p) >= sizeof(key) - 1 &&
		    memcmp(p, key, sizeof(key) - 1) == 0) {
			p += sizeof(key) - 1;
			n = (size_t)(e - p);
			if (n == 2 && memcmp(p, "-1", 2) == 0)
				*pid = -1;
			else if (attest_parse_u64n(p, n, 0, INT_MAX, &v) == ATTEST_OK)
				*pid = (pid_t)v;
			attest_errclear(); /* no number: no pid shown (0) */
			return ATTEST_OK;
		}
		p = e + 1;
	}
	return ATTEST_OK;
}

/* ---- file-system view ---- */

int attest_proc_same_fs_view(const struct attest_proc_pin *pin)
{
	int dfd = -1, r;

	if (pin == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "attest_proc_same_fs_view: pin is NULL");
	if ((r = open_pinned_dir(pin, &dfd)) != ATTEST_OK)
		return r;
	r = attest_proc_same_fs_view_at(dfd, pin);
	(void)close(dfd);
	return r;
}

int attest_proc_same_fs_view_at(int dfd, const struct attest_proc_pin *pin)
{
	struct stat mine, theirs;
	int r;

	if (dfd < 0 || pin == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "attest_proc_same_fs_view_at: bad argument");
	if (stat("/proc/self/ns/mnt", &mine) != 0) {
		r = attest_fail(ATTEST_E_IO, "/proc/self/ns/mnt: %s", strerror(errno));
		goto out;
	}
	if (fstatat(dfd, "ns/mnt", &theirs, 0) != 0) {
		r = proc_errno(errno, pin->pid, "ns/mnt");
		goto out;
	}
	if (mine.st_dev != theirs.st_dev || mine.st_ino != theirs.st_ino) {
		r = attest_fail(ATTEST_E_MEASUREMENT,
				"process %ld runs in another mount namespace (mnt:[%ju], attestd's "
				"mnt:[%ju]): a path does not name the same file there",
				(long)pin->pid, (uintmax_t)theirs.st_ino, (uintmax_t)mine.st_ino);
		goto out;
	}
	if (stat("/", &mine) != 0) {
		r = attest_fail(ATTEST_E_IO, "stat /: %s", strerror(errno));
		goto out;
	}
	if (fstatat(dfd, "root", &theirs, 0) != 0) {
		r = proc_errno(errno, pin->pid, "root");
		goto out;
	}
	if (mine.st_dev != theirs.st_dev || mine.st_ino != theirs.st_ino) {
		r = attest_fail(ATTEST_E_MEASUREMENT,
				"process %ld has another root directory (chroot): a path does not "
				"name the same file there", (long)pin->pid);
		goto out;
	}
	r = ATTEST_OK;
out:
	return r;
}

int attest_proc_inspect(pid_t pid, struct attest_proc_info *out)
{
	int dfd = -1, r;

	if (out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "attest_proc_inspect: out is NULL");
	memset(out, 0, sizeof(*out));
	if ((r = open_proc_dir(pid, &dfd)) != ATTEST_OK)
		return r;
	r = attest_proc_inspect_at(dfd, pid, out);
	(void)close(dfd);
	return r;
}

int attest_proc_inspect_at(int dfd, pid_t pid, struct attest_proc_info *out)
{
	struct attest_proc_info info;
	char *buf = NULL;
	size_t len;
	int r;

	if (out == NULL || dfd < 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "attest_proc_inspect_at: bad argument");
	memset(out, 0, sizeof(*out));
	memset(&info, 0, sizeof(info));
	if ((buf = malloc(STATUS_CAP)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "status buffer");
		goto out;
	}
	if ((r = read_proc_small(dfd, pid, "status", buf, STATUS_CAP, &len)) != ATTEST_OK ||
	    (r = attest_proc_status_parse(buf, len, pid, &info)) != ATTEST_OK)
		goto out;
	*out = info;
	r = ATTEST_OK;
out:
	free(buf);
	return r;
}

int attest_proc_cmdline_script_at(int dfd, pid_t pid, const char *script)
{
	char *buf = NULL;
	size_t len;
	int r;

	if (dfd < 0 || script == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "attest_proc_cmdline_script_at: bad argument");
	if ((buf = malloc(CMDLINE_CAP)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "cmdline buffer");
	if ((r = read_proc_small(dfd, pid, "cmdline", buf, CMDLINE_CAP, &len)) == ATTEST_OK)
		r = attest_proc_cmdline_script(buf, len, script);
	free(buf);
	return r;
}

/* ---- digest cache ---- */

static void key_of(const struct stat *st, struct file_key *k)
{
	memset(k, 0, sizeof(*k));
	k->dev = st->st_dev;
	k->ino = st->st_ino;
	k->size = st->st_size;
	k->mtime = st->st_mtim;
	k->ctime = st->st_ctim;
}

static bool ts_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static bool key_eq(const struct file_key *a, const struct file_key *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       ts_eq(&a->mtime, &b->mtime) && ts_eq(&a->ctime, &b->ctime);
}

int attest_measure_cache_new(size_t capacity, struct attest_measure_cache **out)
{
	struct attest_measure_cache *c;

	if (out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "attest_measure_cache_new: out is NULL");
	*out = NULL;
	if (capacity == 0 || capacity > CACHE_MAX)
		return attest_fail(ATTEST_E_INVALID_ARG, "cache capacity %zu not in 1..%d", capacity,
				   CACHE_MAX);
	c = calloc(1, sizeof(*c) + capacity * sizeof(c->e[0]));
	if (c == NULL)
		return attest_fail(ATTEST_E_NOMEM, "measurement cache of %zu entries", capacity);
	c->cap = capacity;
	*out = c;
	return ATTEST_OK;
}

void attest_measure_cache_free(struct attest_measure_cache *c)
{
	free(c);
}

size_t attest_measure_cache_hits(const struct attest_measure_cache *c)
{
	return c == NULL ? 0 : c->hits;
}

static bool cache_get(struct attest_measure_cache *c, const struct file_key *k, uint8_t digest[32])
{
	for (size_t i = 0; i < c->cap; i++) {
		if (c->e[i].used != 0 && key_eq(&c->e[i].k, k)) {
			c->e[i].used = ++c->clock;
			c->hits++;
			memcpy(digest, c->e[i].digest, 32);
			return true;
		}
	}
	return false;
}

/* Into the slot of an older version of the same inode, else an empty slot,
 * else the least recently used one. */
static void cache_put(struct attest_measure_cache *c, const struct file_key *k,
		      const uint8_t digest[32])
{
	size_t victim = 0;

	for (size_t i = 0; i < c->cap; i++) {
		if (c->e[i].used != 0 && c->e[i].k.dev == k->dev && c->e[i].k.ino == k->ino) {
			victim = i;
			break;
		}
		if (c->e[i].used < c->e[victim].used)
			victim = i;
	}
	c->e[victim].k = *k;
	memcpy(c->e[victim].digest, digest, 32);
	c->e[victim].used = ++c->clock;
}

#ifndef STATX_ATTR_VERITY
#define STATX_ATTR_VERITY 0x00100000
#endif
#ifndef EROFS_SUPER_MAGIC_V1
#define EROFS_SUPER_MAGIC_V1 0xE0F5E1E2
#endif
#ifndef F2FS_SUPER_MAGIC
#define F2FS_SUPER_MAGIC 0xF2F52010
#endif

/* Local file systems whose inode owner and mode are the kernel's own
 * (not what a FUSE daemon or a file server reports), so that "owned by
 * root, no group/other write" means only root can change the bytes. */
static bool owner_enforced_fs(int fd)
{
	static const unsigned long kinds[] = { EXT4_SUPER_MAGIC, XFS_SUPER_MAGIC,
					       BTRFS_SUPER_MAGIC, F2FS_SUPER_MAGIC, TMPFS_MAGIC,
					       OVERLAYFS_SUPER_MAGIC, SQUASHFS_MAGIC,
					       EROFS_SUPER_MAGIC_V1 };
	struct statfs fs;

	if (fstatfs(fd, &fs) != 0)
		return false;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if ((unsigned long)fs.f_type == kinds[i])
			return true;
	return false;
}

/* Whether the digest of the open file fd may be cached under its
 * (dev, inode, size, mtime, ctime) key: only where a change of the bytes
 * is impossible, or possible for root alone (measure.h). A write through
 * a shared mapping on tmpfs or a memfd moves neither time, and on other
 * file systems only the first write fault after writeback does, so the
 * key alone never stands for the content of a file others may write.
 * Not a read-only mount alone: the same file may be writable through
 * another (bind) mount. */
static bool cacheable(int fd, const struct stat *st)
{
	struct statx sx;

	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS, &sx) == 0 &&
	    (sx.stx_attributes_mask & STATX_ATTR_VERITY) != 0 &&
	    (sx.stx_attributes & STATX_ATTR_VERITY) != 0)
		return true;
	if (st->st_uid != 0 || (st->st_mode & (S_IWGRP | S_IWOTH)) != 0 || st->st_nlink == 0)
		return false;
	return owner_enforced_fs(fd);
}

int attest_measure_cacheable(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && cacheable(fd, &st);
}

/* ctime + RACY_SEC <= t0 */
static bool settled(const struct timespec *ctime, const struct timespec *t0)
{
	if (ctime->tv_sec > t0->tv_sec - RACY_SEC)
		return ctime->tv_sec == t0->tv_sec - RACY_SEC && ctime->tv_nsec <= t0->tv_nsec;
	return true;
}

/* SHA-256 of the open regular file fd whose fstat was st0. A file that
 * moves (size, mtime, ctime, or bytes read != size) while it is read is
 * refused rather than half-measured. */
static int hash_fd(struct attest_measure_cache *c, int fd, const struct stat *st0,
		   const char *what, uint8_t digest[32])
{
	struct file_key k0, k1;
	struct stat st1;
	struct timespec t0;
	EVP_MD_CTX *ctx = NULL;
	uint8_t *buf = NULL, d[32];
	unsigned dlen = 0;
	off_t total = 0;
	int r = ATTEST_E_INTERNAL;

	key_of(st0, &k0);
	if (c != NULL && !cacheable(fd, st0))
		c = NULL; /* hashed every time, never cached */
	if (c != NULL && cache_get(c, &k0, digest))
		return ATTEST_OK;
	if (st0->st_size < 0 || st0->st_size > HASH_MAX_SIZE)
		return attest_fail(ATTEST_E_TOO_LARGE, "%s is %jd bytes, over the %jd-byte cap", what,
				   (intmax_t)st0->st_size, (intmax_t)HASH_MAX_SIZE);
	if (clock_gettime(CLOCK_REALTIME, &t0) != 0)
		return attest_fail(ATTEST_E_INTERNAL, "clock_gettime: %s", strerror(errno));
	if ((buf = malloc(HASH_CHUNK)) == NULL || (ctx = EVP_MD_CTX_new()) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "hashing %s", what);
		goto out;
	}
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "SHA-256 init");
		goto out;
	}
	for (;;) {
		ssize_t n = pread(fd, buf, HASH_CHUNK, total);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = attest_fail(ATTEST_E_IO, "reading %s: %s", what, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if ((off_t)n > st0->st_size - total) {
			r = attest_fail(ATTEST_E_MEASUREMENT, "%s grew while it was hashed", what);
			goto out;
		}
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			r = attest_fail_ossl(ATTEST_E_CRYPTO, "SHA-256 update");
			goto out;
		}
		total += n;
	}
	if (EVP_DigestFinal_ex(ctx, d, &dlen) != 1 || dlen != sizeof(d)) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "SHA-256 final");
		goto out;
	}
	if (fstat(fd, &st1) != 0) {
		r = attest_fail(ATTEST_E_IO, "fstat %s: %s", what, strerror(errno));
		goto out;
	}
	key_of(&st1, &k1);
	if (total != st0->st_size || !key_eq(&k0, &k1)) {
		r = attest_fail(ATTEST_E_MEASUREMENT,
				"%s changed while it was hashed (size, mtime or ctime moved): "
				"a concurrent write", what);
		goto out;
	}
	memcpy(digest, d, sizeof(d));
	if (c != NULL && settled(&k0.ctime, &t0))
		cache_put(c, &k0, d);
	r = ATTEST_OK;
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return r;
}

/* ---- measure ---- */

int attest_measure_exe(struct attest_measure_cache *c, const struct attest_proc_pin *pin,
		       uint8_t digest[32])
{
	int dfd = -1, r;

	if (pin == NULL || digest == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "attest_measure_exe: NULL argument");
	/* The dir fd is bound to whichever process holds the PID now: it is
	 * checked to be the pinned one before its exe is read through it. */
	if ((r = open_pinned_dir(pin, &dfd)) != ATTEST_OK)
		return r;
	r = attest_measure_exe_at(c, dfd, pin, digest);
	(void)close(dfd);
	return r;
}

int attest_measure_exe_at(struct attest_measure_cache *c, int dfd,
			  const struct attest_proc_pin *pin, uint8_t digest[32])
{
	struct stat st;
	int fd = -1, r;

	if (dfd < 0 || pin == NULL || digest == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "attest_measure_exe_at: bad argument");
	/* Opening the magic link opens the inode the process runs, even when
	 * the path on disk has since been replaced or unlinked. */
	fd = openat(dfd, "exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = proc_errno(errno, pin->pid, "exe");
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		r = attest_fail(ATTEST_E_IO, "fstat /proc/%ld/exe: %s", (long)pin->pid,
				strerror(errno));
		goto out;
	}
	if (st.st_dev != pin->exe_dev || st.st_ino != pin->exe_ino) {
		r = attest_fail(ATTEST_E_PROC_CHANGED,
				"process %ld now runs inode %ju:%ju, pinned %ju:%ju: it exec'd",
				(long)pin->pid, (uintmax_t)st.st_dev, (uintmax_t)st.st_ino,
				(uintmax_t)pin->exe_dev, (uintmax_t)pin->exe_ino);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = attest_fail(ATTEST_E_MEASUREMENT, "/proc/%ld/exe is not a regular file",
				(long)pin->pid);
		goto out;
	}
	r = hash_fd(c, fd, &st, "executable", digest);
out:
	if (fd >= 0)
		(void)close(fd);
	return r;
}

/* A directory on the way to a measured file: owned by root and not
 * writable by group or others, or else whoever can write it can swap what
 * lies below. An ancestor (not the file's own directory) may be a
 * root-owned sticky directory such as /tmp: there only the owner of an
 * entry can rename or remove it. */
static int check_dir(int fd, const char *name, bool parent)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return attest_fail(ATTEST_E_IO, "fstat %s: %s", name, strerror(errno));
	if (st.st_uid != 0)
		return attest_fail(ATTEST_E_DENIED, "directory %s is owned by uid %ju, not root",
				   name, (uintmax_t)st.st_uid);
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (parent || (st.st_mode & S_ISVTX) == 0))
		return attest_fail(ATTEST_E_DENIED,
				   "directory %s is writable by group or others (mode %04o)", name,
				   (unsigned)(st.st_mode & 07777));
	return ATTEST_OK;
}

static int open_errno(int e, const char *what, const char *path)
{
	if (e == ENOENT)
		return attest_fail(ATTEST_E_NOT_FOUND, "%s: %s", path, strerror(e));
	if (e == ELOOP)
		return attest_fail(ATTEST_E_DENIED, "%s %s is a symlink", what, path);
	if (e == ENOTDIR)
		return attest_fail(ATTEST_E_DENIED, "%s %s is not a directory", what, path);
	if (e == EACCES || e == EPERM)
		return attest_fail(ATTEST_E_DENIED, "%s: %s", path, strerror(e));
	return attest_fail(ATTEST_E_IO, "%s: %s", path, strerror(e));
}

/* The path is walked from "/" one component at a time with O_NOFOLLOW, so
 * no symlink anywhere in it is followed and every directory checked is the
 * one the next component is opened from (no check-then-open race). */
int attest_measure_file(struct attest_measure_cache *c, const char *path, uint8_t digest[32])
{
	char buf[PATH_MAX];
	char *comp, *base;
	struct stat st;
	size_t n;
	int dfd = -1, fd = -1, r;

	if (path == NULL || digest == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "attest_measure_file: NULL argument");
	n = strnlen(path, sizeof(buf));
	if (n == 0 || n >= sizeof(buf) || path[0] != '/')
		return attest_fail(ATTEST_E_INVALID_ARG, "'%.200s' is not an absolute path", path);
	memcpy(buf, path, n + 1);
	base = strrchr(buf, '/') + 1;
	if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "'%.200s' does not name a file", path);

	dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return attest_fail(ATTEST_E_IO, "open /: %s", strerror(errno));
	if ((r = check_dir(dfd, "/", false)) != ATTEST_OK)
		goto out;
	for (comp = buf + 1; comp < base;) {
		char *slash = strchr(comp, '/');
		int nfd;

		*slash = '\0'; /* buf now names the directory being opened */
		if (*comp == '\0') {
			*slash = '/';
			comp = slash + 1;
			continue;
		}
		if (strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0) {
			r = attest_fail(ATTEST_E_INVALID_ARG, "'%.200s' has a . or .. component",
					path);
			goto out;
		}
		nfd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			r = open_errno(errno, "directory", buf);
			goto out;
		}
		(void)close(dfd);
		dfd = nfd;
		if ((r = check_dir(dfd, buf, false)) != ATTEST_OK)
			goto out;
		*slash = '/';
		comp = slash + 1;
	}
	base[-1] = '\0';
	r = check_dir(dfd, buf[0] == '\0' ? "/" : buf, true);
	base[-1] = '/';
	if (r != ATTEST_OK)
		goto out;

	/* O_NONBLOCK: a FIFO planted at the path must not hang attestd. */
	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		r = open_errno(errno, "file", path);
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		r = attest_fail(ATTEST_E_IO, "fstat %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = attest_fail(ATTEST_E_DENIED, "%s is not a regular file", path);
		goto out;
	}
	if (st.st_uid != 0) {
		r = attest_fail(ATTEST_E_DENIED, "%s is owned by uid %ju, not root", path,
				(uintmax_t)st.st_uid);
		goto out;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		r = attest_fail(ATTEST_E_DENIED, "%s is writable by group or others (mode %04o)",
				path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	r = hash_fd(c, fd, &st, path, digest);
out:
	if (fd >= 0)
		(void)close(fd);
	(void)close(dfd);
	return r;
}
