/* fileio.h - crash-safe state files.
 *
 * attest_file_write_atomic() writes to a temporary file in the same
 * directory, fsyncs it, renames it over the target and fsyncs the directory,
 * so a crash at any point leaves either the old or the new content, never a
 * torn file. attest_file_read() reads a whole file with a size cap, refusing
 * symlinks.
 */
#ifndef LIBATTEST_FILEIO_H
#define LIBATTEST_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "attest/attest.h"

int attest_file_write_atomic(const char *path, const void *data, size_t len,
			     mode_t mode) ATTEST_MUST_CHECK;
/* Create the file only if it does not exist yet (O_EXCL on the final name,
 * via link(2) of a complete temp file); ATTEST_E_EXISTS otherwise. */
int attest_file_create_atomic(const char *path, const void *data, size_t len,
			      mode_t mode) ATTEST_MUST_CHECK;
/* *out is malloc'd, NUL-terminated (not counted in *len); caller frees. */
int attest_file_read(const char *path, size_t cap, uint8_t **out,
		     size_t *len) ATTEST_MUST_CHECK;
/* mkdir -p with the given mode for the last component (fsynced into its
 * parent); an existing directory is accepted only if it is no more open
 * than `mode`, and never chmod'ed. */
int attest_dir_ensure(const char *path, mode_t mode) ATTEST_MUST_CHECK;

/* fsync the directory holding `path` (after an unlink or rename). */
int attest_dir_sync(const char *path) ATTEST_MUST_CHECK;

/* An exclusive lock on the file `path` (created 0600 if missing): an open
 * file description lock (F_OFD_SETLK), so it is held until *fd is closed or
 * the process ends, kill -9 included, and no other open of the file in
 * this process drops it. On success our pid is written into the file and
 * *fd is the lock's descriptor (O_CLOEXEC; close it to release). When
 * another process holds it: ATTEST_E_STATE_LOCKED, the detail naming the
 * holder's pid as written in the file. Never waits. */
int attest_lock_file(const char *path, int *fd) ATTEST_MUST_CHECK;

/* Test seam: when set, called at each numbered step of an atomic write
 * (1 temp created, 2 data written, 3 fsynced, 4 renamed, 5 dir fsynced). */
typedef void (*attest_fileio_hook_fn)(int step);
void attest_fileio_set_hook(attest_fileio_hook_fn fn);

#endif
