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
};

/* What attestd checks about a caller besides its binary. */
struct attest_proc_info {
	uid_t ruid, euid;
	pid_t ppid;
	pid_t tracer_pid;
	/* Bit set of ATTEST_ENV_* found in the initial environment
	 * (/proc/PID/environ). */
	unsigned env_flags;
};
#define ATTEST_ENV_LD_PRELOAD 0x1u
#define ATTEST_ENV_LD_AUDIT 0x2u
#define ATTEST_ENV_LD_LIBRARY_PATH 0x4u
#define ATTEST_ENV_PYTHON 0x8u /* any PYTHON* variable */

int attest_proc_pin(pid_t pid, struct attest_proc_pin *out) ATTEST_MUST_CHECK;
int attest_proc_check(const struct attest_proc_pin *pin) ATTEST_MUST_CHECK;
int attest_proc_inspect(pid_t pid, struct attest_proc_info *out) ATTEST_MUST_CHECK;

/* Cache of file digests keyed on (dev, inode, size, mtime, ctime): an
 * unchanged inode is hashed once. Not thread-safe. */
struct attest_measure_cache;
int attest_measure_cache_new(size_t capacity, struct attest_measure_cache **out) ATTEST_MUST_CHECK;
void attest_measure_cache_free(struct attest_measure_cache *c);

/* SHA-256 of the executable the pinned process runs, read through
 * /proc/PID/exe (the running inode, even if the path was replaced), and
 * checked to be the pinned (dev, inode). c may be NULL. */
int attest_measure_exe(struct attest_measure_cache *c, const struct attest_proc_pin *pin,
		       uint8_t digest[32]) ATTEST_MUST_CHECK;
/* SHA-256 of a file by path (interpreted agents' scripts): it must be a
 * regular file owned by root and writable by nobody else (no group/other
 * write), opened with O_NOFOLLOW. c may be NULL. */
int attest_measure_file(struct attest_measure_cache *c, const char *path,
			uint8_t digest[32]) ATTEST_MUST_CHECK;

#endif
