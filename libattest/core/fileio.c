/* fileio.c - crash-safe writes: temp + fsync + rename + fsync(dir). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "core/err.h"
#include "core/fileio.h"
#include "core/num.h"

static attest_fileio_hook_fn hook;

void attest_fileio_set_hook(attest_fileio_hook_fn fn) { hook = fn; }

static void step(int n)
{
	if (hook != NULL)
		hook(n);
}

static int write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd, r = -1;

	if (copy == NULL)
		return -1;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		r = fsync(fd);
		close(fd);
	}
	free(copy);
	return r;
}

/* Writes a complete, fsynced temp file beside `path`; its name in tmp. */
static int write_temp(const char *path, const void *data, size_t len,
		      mode_t mode, char *tmp, size_t tmpsz)
{
	uint8_t rnd[8];
	int fd, n;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "RAND_bytes");
	n = snprintf(tmp, tmpsz, "%s.tmp.%02x%02x%02x%02x%02x%02x%02x%02x", path,
		     rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	if (n < 0 || (size_t)n >= tmpsz)
		return attest_fail(ATTEST_E_INVALID_ARG, "path too long: %s", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return attest_fail(ATTEST_E_IO, "create %s: %s", tmp, strerror(errno));
	step(1);
	if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0) {
		int e = errno;

		close(fd);
		unlink(tmp);
		return attest_fail(ATTEST_E_IO, "write %s: %s", tmp, strerror(e));
	}
	step(2);
	if (fsync(fd) != 0) {
		int e = errno;

		close(fd);
		unlink(tmp);
		return attest_fail(ATTEST_E_IO, "fsync %s: %s", tmp, strerror(e));
	}
	step(3);
	if (close(fd) != 0) {
		unlink(tmp);
		return attest_fail(ATTEST_E_IO, "close %s: %s", tmp, strerror(errno));
	}
	return ATTEST_OK;
}

int attest_file_write_atomic(const char *path, const void *data, size_t len,
			     mode_t mode)
{
	char tmp[4096];
	int r;

	if (path == NULL || (data == NULL && len > 0))
		return attest_fail(ATTEST_E_INVALID_ARG, "write_atomic: bad arguments");
	if ((r = write_temp(path, data, len, mode, tmp, sizeof(tmp))) != ATTEST_OK)
		return r;
	if (rename(tmp, path) != 0) {
		int e = errno;

		unlink(tmp);
		return attest_fail(ATTEST_E_IO, "rename to %s: %s", path, strerror(e));
	}
	step(4);
	if (fsync_dir_of(path) != 0)
		return attest_fail(ATTEST_E_IO, "fsync directory of %s: %s", path,
				   strerror(errno));
	step(5);
	return ATTEST_OK;
}

int attest_file_create_atomic(const char *path, const void *data, size_t len,
			      mode_t mode)
{
	char tmp[4096];
	int r, e;

	if (path == NULL || (data == NULL && len > 0))
		return attest_fail(ATTEST_E_INVALID_ARG, "create_atomic: bad arguments");
	if ((r = write_temp(path, data, len, mode, tmp, sizeof(tmp))) != ATTEST_OK)
		return r;
	r = link(tmp, path);
	e = errno;
	unlink(tmp);
	if (r != 0) {
		if (e == EEXIST)
			return attest_fail(ATTEST_E_EXISTS, "%s already exists", path);
		return attest_fail(ATTEST_E_IO, "link %s: %s", path, strerror(e));
	}
	step(4);
	if (fsync_dir_of(path) != 0)
		return attest_fail(ATTEST_E_IO, "fsync directory of %s: %s", path,
				   strerror(errno));
	step(5);
	return ATTEST_OK;
}

int attest_dir_sync(const char *path)
{
	if (fsync_dir_of(path) != 0)
		return attest_fail(ATTEST_E_IO, "fsync directory of %s: %s", path, strerror(errno));
	return ATTEST_OK;
}

int attest_file_read(const char *path, size_t cap, uint8_t **out, size_t *len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0, size;
	int fd, r = ATTEST_E_INTERNAL;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return attest_fail(ATTEST_E_NOT_FOUND, "%s: no such file", path);
		return attest_fail(ATTEST_E_IO, "open %s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		r = attest_fail(ATTEST_E_IO, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > cap) {
		r = attest_fail(ATTEST_E_TOO_LARGE, "%s: %lld bytes over cap %zu", path,
				(long long)st.st_size, cap);
		goto out;
	}
	/* Read to end of file, not to st_size: /proc files report size 0. One
	 * byte past the cap tells a file that grew over it. */
	size = (size_t)st.st_size > 0 ? (size_t)st.st_size : 4096;
	if ((buf = malloc(size + 1)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "read %s", path);
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (got == size) {
			uint8_t *nb;

			if (size >= cap + 1) {
				r = attest_fail(ATTEST_E_TOO_LARGE, "%s: over cap %zu", path, cap);
				goto out;
			}
			size = size * 2 > cap + 1 ? cap + 1 : size * 2;
			if ((nb = realloc(buf, size + 1)) == NULL) {
				r = attest_fail(ATTEST_E_NOMEM, "read %s", path);
				goto out;
			}
			buf = nb;
		}
		n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = attest_fail(ATTEST_E_IO, "read %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > cap) {
			r = attest_fail(ATTEST_E_TOO_LARGE, "%s: over cap %zu", path, cap);
			goto out;
		}
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL; /* transferred */
	r = ATTEST_OK;
out:
	free(buf);
	close(fd);
	return r;
}

int attest_dir_ensure(const char *path, mode_t mode)
{
	char buf[4096];
	size_t n = strlen(path);
	struct stat st;

	if (n == 0 || n >= sizeof(buf))
		return attest_fail(ATTEST_E_INVALID_ARG, "bad directory path");
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return attest_fail(ATTEST_E_IO, "mkdir %s: %s", buf, strerror(errno));
		*p = '/';
	}
	if (mkdir(buf, mode) == 0) {
		/* new: exactly the mode asked for (umask aside), and durable */
		if (chmod(buf, mode) != 0)
			return attest_fail(ATTEST_E_IO, "chmod %s: %s", buf, strerror(errno));
		return attest_dir_sync(buf);
	}
	if (errno != EEXIST)
		return attest_fail(ATTEST_E_IO, "mkdir %s: %s", buf, strerror(errno));
	if (lstat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
		return attest_fail(ATTEST_E_IO, "%s is not a directory", buf);
	/* An existing directory is never changed behind the operator's back:
	 * one more open than asked for is refused instead. */
	if ((st.st_mode & 0777 & ~mode) != 0)
		return attest_fail(ATTEST_E_IO, "%s has mode %04o; it must be %04o or stricter",
				   buf, (unsigned)(st.st_mode & 07777), (unsigned)mode);
	return ATTEST_OK;
}

/* The pid the holder wrote into the lock file ("PID\n"), or 0 when
 * unreadable (it may be between taking the lock and writing it). */
static long lock_holder(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	const char *nl;
	uint64_t pid;

	if (n <= 0)
		return 0;
	nl = memchr(buf, '\n', (size_t)n);
	if (attest_parse_u64n(buf, nl != NULL ? (size_t)(nl - buf) : (size_t)n, 1, INT_MAX,
			      &pid) != ATTEST_OK) {
		attest_errclear();
		return 0;
	}
	return (long)pid;
}

int attest_lock_file(const char *path, int *fd_out)
{
	struct flock fl;
	char pid[32];
	int fd, n, r = ATTEST_E_INTERNAL;

	*fd_out = -1;
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return attest_fail(ATTEST_E_IO, "open %s: %s", path, strerror(errno));
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET; /* l_start = l_len = 0: the whole file */
	if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
		int e = errno;

		if (e == EAGAIN || e == EACCES) {
			long holder = lock_holder(fd);

			if (holder > 0)
				r = attest_fail(ATTEST_E_STATE_LOCKED, "%s is held by pid %ld", path,
						holder);
			else
				r = attest_fail(ATTEST_E_STATE_LOCKED,
						"%s is held by another process (pid not written yet)",
						path);
		} else
			r = attest_fail(ATTEST_E_IO, "lock %s: %s", path, strerror(e));
		goto out;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != (ssize_t)n) {
		r = attest_fail(ATTEST_E_IO, "write %s: %s", path, strerror(errno));
		goto out;
	}
	*fd_out = fd;
	fd = -1; /* transferred */
	r = ATTEST_OK;
out:
	if (fd >= 0)
		close(fd);
	return r;
}
