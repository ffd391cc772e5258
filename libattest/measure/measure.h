/* measure.h - who is calling: the running process behind a Unix socket peer,
 * measured from the kernel's view, never from a path the caller names.
 *
 * A process is pinned by (pid, start time from /proc/PID/stat, dev and inode
 * of /proc/PID/exe). attest_proc_pin() records that; attest_proc_check()
 * re-reads it and fails with ATTEST_E_PROC_CHANGED if the process exited,
 * exec'd or its PID was reused. Callers pin before measuring, and check
 * after measuring and again after signing.
 */
#ifndef LIBATTEST_MEASURE_H
#define LIBATTEST_MEASURE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "attest/attest.h"

struct attest_proc_pin {
	pid_t pid;
	uint64_t start_time; /* field 22 of /proc/PID/stat, clock ticks since boot */
	dev_t exe_dev;
	ino_t exe_ino;
	off_t exe_size; /* of the running binary when pinned (refuse before hashing) */
};

/* What attestd checks about a caller besides its binary. The environment
 * is not read here: attest_proc_env_check() does that, and only once the
 * caller has passed the uid check. */
struct attest_proc_info {
	uid_t ruid, euid;
	pid_t ppid;
	pid_t tracer_pid;
};

/* Bounds of attest_proc_env_check(). */
#define ATTEST_ENV_NAME_MAX 128
#define ATTEST_ENV_CAP_DEFAULT (256 * 1024)

/* The start time of pid (field 22 of /proc/PID/stat, clock ticks since
 * boot): with the pid, it names one process for as long as the system runs.
 * Readable for any process, unlike the exe link attest_proc_pin needs. */
int attest_proc_start_time(pid_t pid, uint64_t *start) ATTEST_MUST_CHECK;
int attest_proc_pin(pid_t pid, struct attest_proc_pin *out) ATTEST_MUST_CHECK;
int attest_proc_check(const struct attest_proc_pin *pin) ATTEST_MUST_CHECK;
int attest_proc_inspect(pid_t pid, struct attest_proc_info *out) ATTEST_MUST_CHECK;

/* ---- one /proc/PID directory for a whole request (issue 17) ----
 * The calls above open /proc/PID afresh each time. A caller that measures
 * one process several times opens it once with attest_proc_open() and
 * passes the fd to the _at variants below (close it with close()). The fd
 * is bound to the process that held PID when it was opened: once that
 * process exits, every read through it fails (ESRCH/ENOENT) even if the
 * number now names another process, so the reads of one request never mix
 * two processes. An exec keeps the fd (same process): the pin's exe inode
 * catches that, so callers still pin with attest_proc_pin_at() and check
 * with attest_proc_check_at() after measuring and after signing. Which
 * process the fd names is the caller's to establish (start time against
 * the peer's at connect, or a pidfd that stayed alive across the open).
 * The _at variants taking a pin expect the fd the pin was made through. */
int attest_proc_open(pid_t pid, int *dfd) ATTEST_MUST_CHECK;
int attest_proc_pin_at(int dfd, pid_t pid, struct attest_proc_pin *out) ATTEST_MUST_CHECK;
int attest_proc_check_at(int dfd, const struct attest_proc_pin *pin) ATTEST_MUST_CHECK;
int attest_proc_inspect_at(int dfd, pid_t pid, struct attest_proc_info *out) ATTEST_MUST_CHECK;
int attest_proc_env_check_at(int dfd, const struct attest_proc_pin *pin, const char *const *allow,
			     size_t nallow, size_t cap) ATTEST_MUST_CHECK;
int attest_proc_same_fs_view_at(int dfd, const struct attest_proc_pin *pin) ATTEST_MUST_CHECK;
/* /proc/PID/cmdline (at most 64 KiB) through dfd, checked as
 * attest_proc_cmdline_script() does. */
int attest_proc_cmdline_script_at(int dfd, pid_t pid, const char *script) ATTEST_MUST_CHECK;

/* Whether the initial environment of the pinned process (/proc/PID/environ)
 * sets only variables named by allow[0..nallow): each entry is a name, or
 * a prefix ending in one '*' ("LC_*"). Read through the pinned process's
 * /proc directory, streamed (O(1) memory), at most cap bytes.
 * ATTEST_E_ENV, with the first refused variable's name in the detail, for
 * a variable not allowed, an entry without '=', a name that is not
 * [A-Za-z_][A-Za-z0-9_]* or longer than ATTEST_ENV_NAME_MAX, or an
 * environment over cap bytes; ATTEST_E_PROC_CHANGED if the process is gone
 * or is not the pinned one. Call it only for a caller already known to
 * have the right uid: reading another user's environment is not attestd's
 * business. */
int attest_proc_env_check(const struct attest_proc_pin *pin, const char *const *allow,
			  size_t nallow, size_t cap) ATTEST_MUST_CHECK;
/* ---- the parsers of what /proc says, pure (bytes in, no I/O), so each
 * can be fuzzed alone (tests/fuzz/fuzz_procfs.c). A process chooses its
 * own comm, arguments and environment: all of it is hostile bytes. ---- */

/* /proc/PID/stat: the pid field must be pid; *start gets field 22. */
int attest_proc_stat_parse(const char *buf, size_t len, pid_t pid,
			   uint64_t *start) ATTEST_MUST_CHECK;
/* /proc/PID/status: State, PPid, TracerPid and Uid lines, each once;
 * ATTEST_E_PROC_CHANGED for a zombie. */
int attest_proc_status_parse(const char *buf, size_t len, pid_t pid,
			     struct attest_proc_info *info) ATTEST_MUST_CHECK;
/* /proc/PID/environ held whole in buf, fed to attest_proc_env_check's
 * streaming scanner in reads of chunk bytes: the same answer for any
 * chunk. */
int attest_proc_environ_scan(const char *buf, size_t len, size_t chunk, pid_t pid,
			     const char *const *allow, size_t nallow) ATTEST_MUST_CHECK;
/* /proc/PID/cmdline (NUL-separated, the last NUL may be missing): after
 * argv[0] and harmless interpreter options (-I -E -s -S -B -u -P), the
 * next argument is exactly script (NUL-terminated in buf); else
 * ATTEST_E_MEASUREMENT. */
int attest_proc_cmdline_script(const char *buf, size_t len,
			       const char *script) ATTEST_MUST_CHECK;
/* /proc/self/fdinfo/N of a pidfd: *pid from its "Pid:\t" line, -1 once
 * the process exited, 0 when there is no such line or no number in it. */
int attest_fdinfo_pid(const char *buf, size_t len, pid_t *pid) ATTEST_MUST_CHECK;

/* Whether name (NUL-terminated) is matched by one allowlist entry (name,
 * or prefix ending in '*'). */
int attest_env_name_allowed(const char *name, size_t len, const char *const *allow,
			    size_t nallow);

/* Whether the pinned process sees the file system as the caller of this
 * function does: the same mount namespace (/proc/PID/ns/mnt) and the same
 * root directory (/proc/PID/root). A path attestd resolves names the file
 * the process opened by that path only then. ATTEST_E_MEASUREMENT if not,
 * with which of the two differs. */
int attest_proc_same_fs_view(const struct attest_proc_pin *pin) ATTEST_MUST_CHECK;

/* Cache of file digests keyed on (dev, inode, size, mtime, ctime): an
 * unchanged inode is hashed once. The key stands for the content only
 * where no one but root can change the bytes without moving it, so a file
 * is cached only when (docs/agents.md, "Measurement cache"):
 *   - fs-verity is enabled on it (the kernel refuses writes), or
 *   - it is owned by uid 0, has no group/other write bit (nor an ACL
 *     granting write, which shows in the group bits), and lives on a local
 *     file system whose owner the kernel enforces (ext2/3/4, xfs, btrfs,
 *     f2fs, tmpfs, overlayfs, squashfs, erofs): never FUSE or a network
 *     file system, where the server reports the owner.
 * Everything else (a memfd, any file a non-root uid owns or may write) is
 * hashed on every call: on tmpfs and memfd a write through a shared mapping
 * moves neither mtime nor ctime. Not thread-safe. */
struct attest_measure_cache;
int attest_measure_cache_new(size_t capacity, struct attest_measure_cache **out) ATTEST_MUST_CHECK;
void attest_measure_cache_free(struct attest_measure_cache *c);

/* SHA-256 of the executable the pinned process runs, read through
 * /proc/PID/exe (the running inode, even if the path was replaced), and
 * checked to be the pinned (dev, inode). c may be NULL. */
int attest_measure_exe(struct attest_measure_cache *c, const struct attest_proc_pin *pin,
		       uint8_t digest[32]) ATTEST_MUST_CHECK;
/* The same through the fd the pin was made through (attest_proc_pin_at). */
int attest_measure_exe_at(struct attest_measure_cache *c, int dfd,
			  const struct attest_proc_pin *pin, uint8_t digest[32]) ATTEST_MUST_CHECK;
/* SHA-256 of a file by path (interpreted agents' scripts): it must be a
 * regular file owned by root and writable by nobody else (no group/other
 * write), opened with O_NOFOLLOW. c may be NULL. */
int attest_measure_file(struct attest_measure_cache *c, const char *path,
			uint8_t digest[32]) ATTEST_MUST_CHECK;

#endif
