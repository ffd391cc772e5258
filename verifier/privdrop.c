/* privdrop.c - see privdrop.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "core/err.h"
#include "privdrop.h"

/* entries of one record directory at most (a bound, not a quota: the
 * rest keep their owner and the start says so) */
#define DIR_ENTRIES_MAX 100000

int vf_user_resolve(const char *name, struct vf_user *u)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	const char *want = name != NULL ? name : VF_DEFAULT_USER;
	int e;

	memset(u, 0, sizeof(*u));
	if (strlen(want) == 0 || strlen(want) >= sizeof(u->name))
		return attest_fail(ATTEST_E_INVALID_ARG, "--user: 1..%zu bytes", sizeof(u->name) - 1);
	e = getpwnam_r(want, &pw, buf, sizeof(buf), &res);
	if (geteuid() != 0) {
		/* not root: the key files' modes alone keep it out */
		if (name != NULL && (res == NULL || pw.pw_uid != geteuid()))
			return attest_fail(ATTEST_E_INVALID_ARG,
					   "--user %s: only a verifier started as root switches users "
					   "(running as uid %u)", name, (unsigned)geteuid());
		u->uid = geteuid();
		u->gid = getegid();
		(void)snprintf(u->name, sizeof(u->name), "%s", res != NULL ? want : "(self)");
		return ATTEST_OK;
	}
	if (res == NULL) {
		if (name == NULL)
			return attest_fail(ATTEST_E_INVALID_ARG,
					   "started as root, the serving process drops to the system "
					   "user " VF_DEFAULT_USER ", which does not exist%s%s: create it "
					   "(the attest-verifier package and dist/sysusers do) or pass "
					   "--user NAME", e != 0 ? ": " : "", e != 0 ? strerror(e) : "");
		return attest_fail(ATTEST_E_INVALID_ARG, "--user %s: no such user%s%s", name,
				   e != 0 ? ": " : "", e != 0 ? strerror(e) : "");
	}
	(void)snprintf(u->name, sizeof(u->name), "%s", want);
	u->uid = pw.pw_uid;
	u->gid = pw.pw_gid;
	if (pw.pw_uid == 0)
		u->keep_root = 1; /* --user root: the operator's explicit choice */
	else
		u->drop = 1;
	return ATTEST_OK;
}

/* ---- the ownership layout ---- */

/* Open name under dirfd without following a link: a directory (want_dir)
 * or a regular file; -1 and *missing when it is not there. */
static int open_nofollow(int dirfd, const char *name, int want_dir, int *missing)
{
	int fd = openat(dirfd, name,
			O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | (want_dir ? O_DIRECTORY : 0));
	struct stat st;

	*missing = 0;
	if (fd < 0) {
		*missing = errno == ENOENT;
		return -1;
	}
	if (fstat(fd, &st) != 0 || (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

/* Give the open fd (shown/name) to uid:gid with mode (0: keep). What is to
 * be root's must be root's already: the serving user can create files and
 * rename directories where it may write, so a chown to root here would
 * bless a key, a CA directory or a ledger it planted. Refused instead, with
 * what to check. */
static int own_fd(int fd, const char *shown, const char *name, uid_t uid, gid_t gid, mode_t mode)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return attest_fail(ATTEST_E_IO, "stat %s/%s: %s", shown, name, strerror(errno));
	if (uid == 0 && st.st_uid != 0)
		return attest_fail(ATTEST_E_STATE,
				   "%s/%s belongs to uid %u, not root: a file the serving user may have "
				   "placed; check it, then give it to root (chown root) if it is yours",
				   shown, name, (unsigned)st.st_uid);
	if (fchown(fd, uid, gid) != 0 || (mode != 0 && fchmod(fd, mode) != 0))
		return attest_fail(ATTEST_E_IO, "give %s/%s to uid %u: %s", shown, name,
				   (unsigned)uid, strerror(errno));
	return ATTEST_OK;
}

/* Give name under dirfd (a dir or regular file) to uid:gid with mode
 * (0: keep). A missing one is fine unless required. */
static int own_at(int dirfd, const char *shown, const char *name, int want_dir, uid_t uid,
		  gid_t gid, mode_t mode, int required)
{
	int missing, fd = open_nofollow(dirfd, name, want_dir, &missing), r = ATTEST_OK;

	if (fd < 0) {
		if (missing && !required)
			return ATTEST_OK;
		return attest_fail(ATTEST_E_STATE, "%s/%s: %s", shown, name,
				   errno == ELOOP || errno == EINVAL
					   ? (want_dir ? "not a directory (or a link)"
						       : "not a regular file (or a link)")
					   : strerror(errno));
	}
	r = own_fd(fd, shown, name, uid, gid, mode);
	close(fd);
	return r;
}

/* The directory sub under dirfd and its regular files (one level; a
 * subdirectory one more) to uid:gid; with keep_roots, root's *.json stay
 * root's, made readable (an operator's join tokens and allowlist entries:
 * the signer counts only those as authorisations). */
static int own_tree(int parent, const char *shown, const char *sub, uid_t uid, gid_t gid, int depth,
		    int keep_roots)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d = NULL;
	int missing, fd, r, n = 0;

	if ((r = own_at(parent, shown, sub, 1, uid, gid, 0700, 0)) != ATTEST_OK)
		return r;
	if ((fd = open_nofollow(parent, sub, 1, &missing)) < 0)
		return missing ? ATTEST_OK : attest_fail(ATTEST_E_STATE, "%s/%s: %s", shown, sub,
							  strerror(errno));
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return attest_fail(ATTEST_E_IO, "list %s/%s: %s", shown, sub, strerror(errno));
	}
	(void)snprintf(path, sizeof(path), "%s/%s", shown, sub);
	while ((e = readdir(d)) != NULL && r == ATTEST_OK) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (++n > DIR_ENTRIES_MAX) {
			r = attest_fail(ATTEST_E_STATE, "%s holds over %d entries", path,
					DIR_ENTRIES_MAX);
			break;
		}
		if (e->d_type == DT_DIR && depth > 0) {
			r = own_tree(dirfd(d), path, e->d_name, uid, gid, depth - 1, 0);
		} else if (e->d_type == DT_REG) {
			size_t len = strlen(e->d_name);
			struct stat st;

			if (keep_roots && len > 5 && strcmp(e->d_name + len - 5, ".json") == 0 &&
			    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    st.st_uid == 0)
				r = own_at(dirfd(d), path, e->d_name, 0, 0, 0, 0644, 0);
			else
				r = own_at(dirfd(d), path, e->d_name, 0, uid, gid, 0, 0);
		}
		/* links and the rest keep their owner: nothing is followed */
	}
	closedir(d);
	return r;
}

/* name under dirfd exists and is root's: the serving user never owned it. */
static int must_be_roots(int dirfd, const char *shown, const char *name, int want_dir)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return ATTEST_OK;
		return attest_fail(ATTEST_E_IO, "%s/%s: %s", shown, name, strerror(errno));
	}
	if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
		return attest_fail(ATTEST_E_STATE, "%s/%s is not a %s", shown, name,
				   want_dir ? "directory" : "regular file");
	if (st.st_uid != 0)
		return attest_fail(ATTEST_E_STATE,
				   "%s/%s belongs to uid %u, not root: the serving process's user "
				   "must not own the verifier's TLS directory or keys (check them, "
				   "then as root: chown -R root:root STATE/tls; chmod 0700 STATE/tls)",
				   shown, name, (unsigned)st.st_uid);
	return ATTEST_OK;
}

static int state_layout(const char *state, const struct vf_user *u)
{
	static const char *const db[] = { "verifier.db", "verifier.db-wal", "verifier.db-shm",
					   "verifier.db-journal", NULL };
	int fd, missing, tls = -1, r;
	char shown[PATH_MAX];

	if ((fd = open_nofollow(AT_FDCWD, state, 1, &missing)) < 0)
		return attest_fail(ATTEST_E_STATE, "%s: %s", state,
				   missing ? "no such directory" : "not a directory (or a link)");
	if (fchown(fd, u->uid, u->gid) != 0 || fchmod(fd, 0700) != 0) {
		r = attest_fail(ATTEST_E_IO, "give %s to %s: %s", state, u->name, strerror(errno));
		goto out;
	}
	(void)snprintf(shown, sizeof(shown), "%s", state);
	/* the TLS keys: root's or the start is refused (the user owns STATE,
	 * so it could have put a tls directory of its own there) */
	if ((r = must_be_roots(fd, shown, "tls", 1)) != ATTEST_OK)
		goto out;
	if ((tls = open_nofollow(fd, "tls", 1, &missing)) >= 0) {
		(void)snprintf(shown, sizeof(shown), "%s/tls", state);
		if (fchmod(tls, 0700) != 0) {
			r = attest_fail(ATTEST_E_IO, "chmod %s: %s", shown, strerror(errno));
			goto out;
		}
		if ((r = must_be_roots(tls, shown, "ca.key", 0)) != ATTEST_OK ||
		    (r = must_be_roots(tls, shown, "server.key", 0)) != ATTEST_OK ||
		    (r = own_at(tls, shown, "ca.key", 0, 0, 0, 0600, 0)) != ATTEST_OK ||
		    (r = own_at(tls, shown, "server.key", 0, 0, 0, 0600, 0)) != ATTEST_OK)
			goto out;
		(void)snprintf(shown, sizeof(shown), "%s", state);
	}
	for (size_t i = 0; db[i] != NULL; i++)
		if ((r = own_at(fd, shown, db[i], 0, u->uid, u->gid, 0, 0)) != ATTEST_OK)
			goto out;
	r = own_tree(fd, shown, "audit", u->uid, u->gid, 1, 0);
out:
	if (tls >= 0)
		close(tls);
	close(fd);
	return r;
}

static int ca_layout(const char *ca_dir, const struct vf_user *u)
{
	static const char *const records[] = { "tokens", "allowlist", "challenges", "eks",
						"names", "hosts", NULL };
	static const char *const readable[] = { "config.json", "root.pem", "vendor-roots.pem",
						 NULL };
	struct dirent *e;
	DIR *d = NULL;
	char shown[PATH_MAX];
	int fd, iss = -1, missing, r;

	if ((fd = open_nofollow(AT_FDCWD, ca_dir, 1, &missing)) < 0)
		return attest_fail(ATTEST_E_STATE, "%s: %s", ca_dir,
				   missing ? "no such directory" : "not a directory (or a link)");
	(void)snprintf(shown, sizeof(shown), "%s", ca_dir);
	/* root's, the serving group may read: it cannot rename or replace
	 * anything directly in it */
	if ((r = own_fd(fd, ca_dir, ".", 0, u->gid, 0750)) != ATTEST_OK)
		goto out;
	for (size_t i = 0; readable[i] != NULL; i++)
		if ((r = own_at(fd, shown, readable[i], 0, 0, u->gid, 0640, i == 0)) != ATTEST_OK)
			goto out;
	if ((r = own_at(fd, shown, "root.key", 0, 0, 0, 0600, 0)) != ATTEST_OK ||
	    (r = own_at(fd, shown, "issuing", 1, 0, u->gid, 0750, 1)) != ATTEST_OK)
		goto out;
	if ((iss = open_nofollow(fd, "issuing", 1, &missing)) < 0 || (d = fdopendir(iss)) == NULL) {
		r = attest_fail(ATTEST_E_IO, "list %s/issuing: %s", ca_dir, strerror(errno));
		if (iss >= 0)
			close(iss);
		goto out;
	}
	(void)snprintf(shown, sizeof(shown), "%s/issuing", ca_dir);
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		int key = n > 4 && strcmp(e->d_name + n - 4, ".key") == 0;

		if (e->d_type != DT_REG)
			continue;
		/* issuing CA keys: root's alone; certificates, current: readable */
		if ((r = own_at(dirfd(d), shown, e->d_name, 0, 0, key ? 0 : u->gid,
				key ? 0600 : 0640, 0)) != ATTEST_OK)
			goto out;
	}
	(void)snprintf(shown, sizeof(shown), "%s", ca_dir);
	/* the enrolment records the serving process writes */
	for (size_t i = 0; records[i] != NULL; i++)
		if ((r = own_tree(fd, shown, records[i], u->uid, u->gid, 0, i < 2)) != ATTEST_OK)
			goto out;
	if ((r = own_at(fd, shown, "lock", 0, u->uid, u->gid, 0600, 0)) != ATTEST_OK)
		goto out;
	/* the signer's ledger of the keys it signed for (made by the signer
	 * at its start: attest_ca_pin_seed) */
	r = own_at(fd, shown, "signed", 1, 0, 0, 0700, 1);
out:
	if (d != NULL)
		closedir(d);
	close(fd);
	return r;
}

int vf_layout_fix(const struct vf_config *cfg, const struct vf_user *u)
{
	int r;

	if (!u->drop)
		return ATTEST_OK;
	if (geteuid() != 0)
		return attest_fail(ATTEST_E_INTERNAL, "the layout is set as root");
	if ((r = state_layout(cfg->state, u)) != ATTEST_OK)
		return r;
	return ca_layout(cfg->ca_dir, u);
}

/* ---- the drop ---- */

static int no_capabilities(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct c[2];

	memset(c, 0, sizeof(c));
	if (syscall(SYS_capget, &h, c) != 0)
		return attest_fail(ATTEST_E_INTERNAL, "capget: %s", strerror(errno));
	for (int i = 0; i < 2; i++)
		if (c[i].effective != 0 || c[i].permitted != 0 || c[i].inheritable != 0)
			return attest_fail(ATTEST_E_INTERNAL, "capabilities left after the drop");
	return ATTEST_OK;
}

int vf_user_drop(const struct vf_user *u)
{
	struct rlimit no_core = { 0, 0 }, cur;
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (u->drop) {
		if (setgroups(0, NULL) != 0)
			return attest_fail(ATTEST_E_INTERNAL, "setgroups: %s", strerror(errno));
		/* no capability can come back: not from the bounding set, not
		 * ambient (the kernel clears permitted and effective at setuid) */
		for (int c = 0; c <= 63; c++) {
			int in = prctl(PR_CAPBSET_READ, c, 0, 0, 0);

			if (in < 0 && errno == EINVAL)
				break; /* past the kernel's last capability */
			if (in == 1 && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0)
				return attest_fail(ATTEST_E_INTERNAL, "drop capability %d from the "
						   "bounding set: %s (the start needs "
						   "CAP_SETPCAP)", c, strerror(errno));
		}
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
			return attest_fail(ATTEST_E_INTERNAL, "clear ambient capabilities: %s",
					   strerror(errno));
		if (setresgid(u->gid, u->gid, u->gid) != 0 || setresuid(u->uid, u->uid, u->uid) != 0)
			return attest_fail(ATTEST_E_INTERNAL, "become %s (uid %u): %s", u->name,
					   (unsigned)u->uid, strerror(errno));
		if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 ||
		    ru != u->uid || eu != u->uid || su != u->uid || rg != u->gid || eg != u->gid ||
		    sg != u->gid)
			return attest_fail(ATTEST_E_INTERNAL, "uid/gid not %u/%u after the drop",
					   (unsigned)u->uid, (unsigned)u->gid);
		if (setuid(0) == 0 || seteuid(0) == 0)
			return attest_fail(ATTEST_E_INTERNAL, "root regained after the drop");
	}
	if (u->drop && no_capabilities() != ATTEST_OK)
		return ATTEST_E_INTERNAL;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return attest_fail(ATTEST_E_INTERNAL, "no_new_privs: %s", strerror(errno));
	/* the TLS key and the nonce keys: no core, no ptrace by the user
	 * (setrlimit only when the limit is not 0 already: the unit sets
	 * LimitCORE=0 and its system call filter refuses setrlimit) */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return attest_fail(ATTEST_E_INTERNAL, "not dumpable: %s", strerror(errno));
	if (getrlimit(RLIMIT_CORE, &cur) != 0 ||
	    ((cur.rlim_cur != 0 || cur.rlim_max != 0) && setrlimit(RLIMIT_CORE, &no_core) != 0))
		return attest_fail(ATTEST_E_INTERNAL, "core size limit 0: %s", strerror(errno));
	return ATTEST_OK;
}
