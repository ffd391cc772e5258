/* testutil_daemon.h - run attestd for a test: a private swtpm, an enrolled
 * host (trust domain fleet.example, host web-01), the daemon as a child
 * process on sockets in the test's directory, and agents that are copies of
 * tests/agents/raw_client. */
#ifndef TESTS_TESTUTIL_DAEMON_H
#define TESTS_TESTUTIL_DAEMON_H

#include <stddef.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "testutil.h"

struct daemon {
	struct tu_tpm sw;
	char ca[600], state[600], sock[600], admin[600], log[600];
	pid_t pid;
	/* when set, daemon_start runs attestd with --verifier (push every
	 * second, no event log) */
	char verifier_url[64], verifier_ca[800];
	/* more options for attestd (NULL-terminated), e.g. --no-privsep */
	const char *extra_args[8];
};

/* Directory of the built test agents ($ATTEST_TEST_AGENTS, else
 * $ATTEST_SRCDIR/$BUILD/agents). */
const char *agents_dir(void);
/* Start/stop attestd on d (after daemon_up, or to restart it). */
void daemon_start(struct daemon *d, const char *max_clients);
void daemon_stop(struct daemon *d);
/* The process that serves the agent socket: attestd's front, or attestd
 * itself with --no-privsep. */
pid_t daemon_agent_server(struct daemon *d);
/* A private swtpm and the paths of d under its dir (the CA in ca_dir, or
 * <dir>/ca when NULL); nothing enrolled or started yet. */
void daemon_prepare(struct daemon *d, const char *ca_dir);
/* swtpm + enrolment + attestd; daemon_down also asserts the TPM holds none
 * of our transient objects or sessions. */
void daemon_up(struct daemon *d);
void daemon_down(struct daemon *d);
/* daemon_up, but the host `host` enrols in the fleet CA in ca_dir (trust
 * domain fleet.example), created there if absent, so several daemons (each
 * with its own swtpm) share one fleet root; d->ca is ca_dir. ca_dir must
 * outlive the daemons (it is not under d->sw.dir). */
void daemon_up_in_fleet(struct daemon *d, const char *ca_dir, const char *host);
/* Register `name`, a copy of the C example agent at <dir>/<name>, for our
 * uid, and run it once: its certificate chain and key land in
 * <dir>/<outdir>/cert.pem and key.pem. */
void daemon_example_agent(struct daemon *d, const char *name, const char *outdir);
/* Copy raw_client to <dir>/<name>; extra bytes appended make another binary. */
void make_agent_binary(struct daemon *d, const char *name, const char *extra, char *out,
		       size_t outsz);
/* One request on the admin socket; the reply only on ATTEST_OK. */
int admin_call(struct daemon *d, const char *json, cJSON **reply);
/* Register with scopes ehr:read, ehr:write, tier high, class phi, max_ttl
 * 600, delegation depth 1; asserts success. uids is a JSON list body. */
void register_agent(struct daemon *d, const char *name, const char *binary, const char *uids);
/* The same with the given delegate_depth (register_agent: 1). */
void register_agent_depth(struct daemon *d, const char *name, const char *binary,
			  const char *uids, int delegate_depth);
/* Run `env binary socket json` and return the parsed reply it printed. */
cJSON *run_agent(const char *env, const char *binary, const char *sock, const char *json);
/* Run `bin SOCK json` as uid (0: stay root) with exactly envp, forked and
 * fexecve'd; bin and sock are reached through descriptors opened as root
 * (test directories are 0700). The reply it printed, NULL if none (said
 * on stderr). */
cJSON *run_agent_as(uid_t uid, const char *bin, const char *sock, const char *json,
		    char *const envp[]);
/* The python3 interpreter binary itself (python3 may be a symlink or a
 * shim that execs it: what /proc/PID/exe shows), into py; asserts. */
void python_interpreter(char *py, size_t pysz);
/* Assert reply is a refusal named `name` with a detail; frees reply. */
void expect_refused(cJSON *reply, const char *name);
/* The same, and the detail contains `why` (when not NULL). */
void expect_refused_why(cJSON *reply, const char *name, const char *why);
/* Assert reply carries a chain that openssl verifies to the fleet root
 * and whose leaf SAN is the agent's ID; frees reply. */
void expect_cert(struct daemon *d, cJSON *reply, const char *agent);
/* expect_cert for a daemon of daemon_up_in_fleet: the chain verifies to
 * d->ca's root and the leaf SAN is host's agent ID; frees reply. */
void expect_cert_at(struct daemon *d, cJSON *reply, const char *host, const char *agent);
/* The intent token in the leaf (first certificate of the reply's chain),
 * malloc'd (free()); NULL when the leaf has no intent extension. */
char *reply_leaf_intent(const cJSON *reply);

#endif
