/* caller.c - who is asking: the peer (or, with a pidfd, its parent) measured through /proc against the registration. */



#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "caller.h"
#include "core/err.h"
#include "core/fileio.h"

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

/* Whether the process runs the registered script: after the interpreter
 * and harmless options, the next argument is its path
 * (attest_proc_cmdline_script). */
static int runs_script(pid_t pid, const char *script)
{
	char path[64];
	uint8_t *buf = NULL;
	size_t len;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((r = attest_file_read(path, 64 * 1024, &buf, &len)) != ATTEST_OK)
		return r == ATTEST_E_NOT_FOUND ? ATTEST_E_PROC_CHANGED : r;
	r = attest_proc_cmdline_script((const char *)buf, len, script);
	free(buf);
	return r;
}

/* The agent's initial environment holds only the default variables and
 * the ones its registration added (docs/agents.md, "Environment"). */
static int env_allowed(const struct agent *a, const struct attest_proc_pin *pin)
{
	const char *allow[AGENT_ENV_DEFAULT_MAX + AGENT_MAX_ENV_ALLOW];
	size_t n = 0;

	for (size_t i = 0; agent_env_default[i] != NULL && n < AGENT_ENV_DEFAULT_MAX; i++)
		allow[n++] = agent_env_default[i];
	for (size_t i = 0; i < a->nenv_allow; i++)
		allow[n++] = a->env_allow[i];
	return attest_proc_env_check(pin, allow, n, ATTEST_ENV_CAP_DEFAULT);
}

/* Who is asking, measured: the peer, or (with a pidfd) the peer's parent,
 * which must have the peer's uid. */
int measure_caller(struct attest_measure_cache *cache, const struct attestd_peer *peer,
		   int parent_fd, const struct agent *a, struct attest_proc_pin *pin)
{
	struct attest_proc_info info, peer_info;
	uint8_t digest[32];
	pid_t target = peer->pid;
	int r;

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
	if ((r = attest_proc_pin(target, pin)) != ATTEST_OK ||
	    (r = attest_proc_inspect(target, &info)) != ATTEST_OK)
		return r;
	/* the peer pid must still be the process that connected */
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
	if ((r = env_allowed(a, pin)) != ATTEST_OK)
		return r;
	/* the script is measured by its path as attestd sees it: only right
	 * if the process resolved that path in the same mount namespace and
	 * under the same root */
	if (a->script[0] != '\0' && (r = attest_proc_same_fs_view(pin)) != ATTEST_OK)
		return r;
	{
		/* a binary of another size cannot match: refuse before hashing it
		 * (a caller could otherwise make us hash a huge file) */
		char exe[64];
		struct stat st;

		snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)target);
		if (stat(exe, &st) != 0)
			return attest_fail(ATTEST_E_PROC_CHANGED, "pid %d vanished", (int)target);
		if ((uint64_t)st.st_size != a->exe_size)
			return attest_fail(ATTEST_E_MEASUREMENT, "pid %d runs a binary of %lld bytes, "
					   "agent %s's has %llu", (int)target, (long long)st.st_size,
					   a->name, (unsigned long long)a->exe_size);
	}
	if ((r = attest_measure_exe(cache, pin, digest)) != ATTEST_OK)
		return r;
	if (CRYPTO_memcmp(digest, a->exe_sha256, 32) != 0)
		return attest_fail(ATTEST_E_MEASUREMENT, "pid %d runs a binary other than agent %s's",
				   (int)target, a->name);
	if (a->script[0] != '\0') {
		if ((r = runs_script(target, a->script)) != ATTEST_OK ||
		    (r = attest_measure_file(cache, a->script, digest)) != ATTEST_OK)
			return r;
		if (CRYPTO_memcmp(digest, a->script_sha256, 32) != 0)
			return attest_fail(ATTEST_E_MEASUREMENT, "script %s changed since registration",
					   a->script);
	}
	if (parent_fd >= 0) {
		/* the pidfd still names the process we pinned */
		pid_t again;

		if ((r = pidfd_pid(parent_fd, &again)) != ATTEST_OK || again != target)
			return attest_fail(ATTEST_E_PROC_CHANGED, "parent exited during the request");
	}
	if ((r = attestd_peer_alive(peer)) != ATTEST_OK)
		return r;
	return attest_proc_check(pin);
}

int still_untraced(pid_t pid)
{
	struct attest_proc_info info;
	int r;

	if ((r = attest_proc_inspect(pid, &info)) != ATTEST_OK)
		return r;
	if (info.tracer_pid != 0)
		return attest_fail(ATTEST_E_TRACED, "pid %d became traced during the request",
				   (int)pid);
	return ATTEST_OK;
}

