/* caller.c - who is asking: the peer (or, with a pidfd, its parent) measured through /proc against the registration. */



#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "caller.h"
#include "core/err.h"

/* ---------- issuance ---------- */

/* The pid a pidfd refers to (Linux >= 5.3), of a live process. */
static int pidfd_pid(int fd, pid_t *pid)
{
	int r = attestd_pidfd_pid(fd, pid);

	if (r == ATTEST_OK && *pid <= 0)
		r = attest_fail(ATTEST_E_DENIED, "passed descriptor is not a pidfd of a live process");
	return r;
}

static int uid_allowed(const struct agent *a, uid_t uid)
{
	for (size_t i = 0; i < a->nuids; i++)
		if (a->uids[i] == uid)
			return 1;
	return 0;
}

int scope_allowed(const struct agent *a, const char *s)
{
	for (size_t i = 0; i < a->nscopes; i++)
		if (strcmp(a->scopes[i], s) == 0)
			return 1;
	return 0;
}

/* The agent's initial environment holds only the default variables and
 * the ones its registration added (docs/agents.md, "Environment"). */
static int env_allowed(int dfd, const struct agent *a, const struct attest_proc_pin *pin)
{
	const char *allow[AGENT_ENV_DEFAULT_MAX + AGENT_MAX_ENV_ALLOW];
	size_t n = 0;

	for (size_t i = 0; agent_env_default[i] != NULL && n < AGENT_ENV_DEFAULT_MAX; i++)
		allow[n++] = agent_env_default[i];
	for (size_t i = 0; i < a->nenv_allow; i++)
		allow[n++] = a->env_allow[i];
	return attest_proc_env_check_at(dfd, pin, allow, n, ATTEST_ENV_CAP_DEFAULT);
}

/* Who is asking, measured through one /proc/PID directory (dfd), which
 * measure_caller opened for target: the peer, or the peer's parent. */
static int measure_at(struct attest_measure_cache *cache, const struct attestd_peer *peer,
		      int parent_fd, const struct agent *a, pid_t target, int dfd,
		      struct attest_proc_pin *pin)
{
	struct attest_proc_info info;
	uint8_t digest[32];
	int r;

	if ((r = attest_proc_pin_at(dfd, target, pin)) != ATTEST_OK ||
	    (r = attest_proc_inspect_at(dfd, target, &info)) != ATTEST_OK)
		return r;
	/* the peer pid must still be the process that connected: this also
	 * binds dfd to it (pid and start time name one process) */
	if (target == peer->pid && pin->start_time != peer->start_time)
		return attest_fail(ATTEST_E_PROC_CHANGED, "pid %d was reused since it connected",
				   (int)target);
	if (info.ruid != peer->uid || info.euid != peer->uid || !uid_allowed(a, peer->uid))
		return attest_fail(ATTEST_E_UID, "uid %u may not act as agent %s", (unsigned)peer->uid,
				   a->name);
	if (info.tracer_pid != 0)
		return attest_fail(ATTEST_E_TRACED, "pid %d is traced by pid %d", (int)target,
				   (int)info.tracer_pid);
	/* only now, for a process of an allowed uid, is its environment read */
	if ((r = env_allowed(dfd, a, pin)) != ATTEST_OK)
		return r;
	/* the script is measured by its path as attestd sees it: only right
	 * if the process resolved that path in the same mount namespace and
	 * under the same root */
	if (a->script[0] != '\0' && (r = attest_proc_same_fs_view_at(dfd, pin)) != ATTEST_OK)
		return r;
	/* a binary of another size cannot match: refuse before hashing it (a
	 * caller could otherwise make us hash a huge file); the size is the
	 * pinned inode's, and measuring checks the inode again */
	if ((uint64_t)pin->exe_size != a->exe_size)
		return attest_fail(ATTEST_E_MEASUREMENT, "pid %d runs a binary of %lld bytes, "
				   "agent %s's has %llu", (int)target, (long long)pin->exe_size,
				   a->name, (unsigned long long)a->exe_size);
	if ((r = attest_measure_exe_at(cache, dfd, pin, digest)) != ATTEST_OK)
		return r;
	if (CRYPTO_memcmp(digest, a->exe_sha256, 32) != 0)
		return attest_fail(ATTEST_E_MEASUREMENT, "pid %d runs a binary other than agent %s's",
				   (int)target, a->name);
	if (a->script[0] != '\0') {
		if ((r = attest_proc_cmdline_script_at(dfd, target, a->script)) != ATTEST_OK ||
		    (r = attest_measure_file(cache, a->script, digest)) != ATTEST_OK)
			return r;
		if (CRYPTO_memcmp(digest, a->script_sha256, 32) != 0)
			return attest_fail(ATTEST_E_MEASUREMENT, "script %s changed since registration",
					   a->script);
	}
	if (parent_fd >= 0) {
		/* the pidfd still names the process we pinned: it was alive from
		 * before dfd was opened until now, so dfd is that process */
		pid_t again;

		if ((r = pidfd_pid(parent_fd, &again)) != ATTEST_OK || again != target)
			return attest_fail(ATTEST_E_PROC_CHANGED, "parent exited during the request");
	}
	if ((r = attestd_peer_alive(peer)) != ATTEST_OK)
		return r;
	return attest_proc_check_at(dfd, pin);
}

/* Who is asking, measured: the peer, or (with a pidfd) the peer's parent,
 * which must have the peer's uid. */
int measure_caller(struct attest_measure_cache *cache, const struct attestd_peer *peer,
		   int parent_fd, const struct agent *a, struct attest_proc_pin *pin, int *dfd_out)
{
	struct attest_proc_info peer_info;
	pid_t target = peer->pid;
	int dfd = -1, r;

	if (dfd_out != NULL)
		*dfd_out = -1;
	/* the writer is the process that connected, and it is still there */
	if ((r = attestd_peer_alive(peer)) != ATTEST_OK)
		return r;
	if (parent_fd >= 0) {
		if ((r = pidfd_pid(parent_fd, &target)) != ATTEST_OK ||
		    (r = attest_proc_inspect(peer->pid, &peer_info)) != ATTEST_OK)
			return r;
		if (target != peer_info.ppid)
			return attest_fail(ATTEST_E_DENIED, "a pidfd is accepted only for the caller's "
					   "parent (pid %d), not pid %d", (int)peer_info.ppid,
					   (int)target);
	}
	/* one /proc/PID directory for the whole request (issue 17): every
	 * read below and the check after signing go through it */
	if ((r = attest_proc_open(target, &dfd)) != ATTEST_OK)
		return r;
	r = measure_at(cache, peer, parent_fd, a, target, dfd, pin);
	if (r == ATTEST_OK && dfd_out != NULL) {
		*dfd_out = dfd;
		dfd = -1;
	}
	if (dfd >= 0)
		(void)close(dfd);
	return r;
}

int still_untraced_at(int dfd, pid_t pid)
{
	struct attest_proc_info info;
	int r;

	if ((r = attest_proc_inspect_at(dfd, pid, &info)) != ATTEST_OK)
		return r;
	if (info.tracer_pid != 0)
		return attest_fail(ATTEST_E_TRACED, "pid %d became traced during the request",
				   (int)pid);
	return ATTEST_OK;
}

