/* server.h - attestd's Unix socket front end (docs/protocol.md).
 *
 * Listens on an agent socket and an admin socket, reads length-prefixed JSON
 * frames with a size cap and a per-frame deadline, limits concurrent
 * clients (new ones beyond the limit get ATTEST_E_BUSY and are closed), and
 * hands each request with its peer credentials (SO_PEERCRED, and a pidfd
 * passed with SCM_RIGHTS) to one handler. Single-threaded: handlers run one
 * at a time on the event loop, which serialises all TPM use.
 */
#ifndef ATTESTD_SERVER_H
#define ATTESTD_SERVER_H

#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

struct event_base;
struct attestd_server;

struct attestd_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	int admin;           /* arrived on the admin socket */
	uint64_t start_time; /* the peer's start time when it connected */
	void *conn;          /* the server's connection (attestd_defer), or NULL */
	int pidfd;           /* the process that connected (owned by the server) */
	int fd;              /* the connection (owned by the server) */
};

/* "parent": true: the request is for the peer's parent (a helper such as
 * attestctl cert asking for the agent that started it). attestd opens the
 * parent's pidfd itself (*fd, the caller closes it): the peer is pinned by
 * its own pidfd, and its PPid read again after pidfd_open() is unchanged,
 * so the parent did not exit in between (a process whose parent exits is
 * reparented at once) and the pidfd names the real parent. */
int attestd_peer_parent(const struct attestd_peer *peer, int *fd) __attribute__((warn_unused_result));

/* ATTEST_OK while the process that connected is alive (its pidfd, taken
 * from the kernel at connect: SO_PEERPIDFD), else ATTEST_E_PROC_CHANGED: a
 * pid number that names another process now is never measured in its
 * place. Measurement checks it before and after measuring, and issuance
 * after signing. */
int attestd_peer_alive(const struct attestd_peer *peer) __attribute__((warn_unused_result));

/* The peer of a connected Unix socket fd, pinned: SO_PEERCRED, its pidfd
 * (SO_PEERPIDFD when peerpidfd, else pidfd_open; peer->pidfd, the caller
 * closes it), alive, and its start time. peer->admin and conn are 0. */
int attestd_peer_of(int fd, int peerpidfd, struct attestd_peer *peer)
	__attribute__((warn_unused_result));

/* The pid a pidfd names, from /proc/self/fdinfo (reading it never blocks
 * on the file it describes): -1 once the process has exited, 0 when fdinfo
 * shows none (not a pidfd, or a process outside our pid namespace). An
 * error only when fdinfo cannot be read. */
int attestd_pidfd_pid(int pidfd, pid_t *pid) __attribute__((warn_unused_result));

/* Returns the response object (never NULL); the server frees it. */
typedef cJSON *(*attestd_handler_fn)(void *ctx, const struct attestd_peer *peer,
				     const cJSON *req);

struct attestd_server_config {
	const char *agent_socket; /* mode 0660 (group set by the caller); NULL: none */
	int agent_fd;             /* or a listening agent socket handed over (-1: none) */
	const char *admin_socket; /* mode 0600; NULL: none */
	int admin_fd;             /* or a listening admin socket handed over (-1: none) */
	int max_clients;
	int frame_timeout_ms;
	attestd_handler_fn handler;
	void *handler_ctx;
	/* Durability gate (the audit log, docs/audit.md "attestd"): when
	 * unsynced(gate_ctx) is true as a reply is about to go out, the
	 * reply is held; once per loop turn commit(gate_ctx) runs and the
	 * held replies go out, or, if it failed, each is replaced by an
	 * ATTEST_E_IO refusal (fail closed). NULL: no gate. */
	int (*unsynced)(void *ctx);
	int (*commit)(void *ctx);
	void *gate_ctx;
};

/* A listening Unix socket on path (a stale socket there replaced, never
 * another file) with mode, SO_PASSCRED, and SO_PASSRIGHTS off where the
 * kernel has it (*no_rights 1). */
int attestd_listen_unix(const char *path, mode_t mode, int *fd, int *no_rights)
	__attribute__((warn_unused_result));

int attestd_server_start(struct event_base *base, const struct attestd_server_config *cfg,
			 struct attestd_server **out);
void attestd_server_stop(struct attestd_server *s);

/* A reply a handler owes and gives later (an operation that waits on the
 * network, e.g. a push to the verifier). In the handler: p =
 * attestd_defer(peer), then return NULL; the connection reads nothing more
 * and has no deadline until attestd_pending_reply(p, reply) queues the
 * reply (consumed) and frees p. A client that hung up meanwhile is simply
 * not answered. NULL when out of memory. */
struct attestd_pending;
struct attestd_pending *attestd_defer(const struct attestd_peer *peer);
void attestd_pending_reply(struct attestd_pending *p, cJSON *reply);

/* {"ok":false,"code":N,"error":"ATTEST_E_...","reason":"..."} */
cJSON *attestd_error_reply(int code);
/* {"ok":true} to add fields to. */
cJSON *attestd_ok_reply(void);

#endif
