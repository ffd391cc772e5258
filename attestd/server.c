/* server.c - Unix sockets, frames, deadlines and client limits on libevent. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/crypto.h>

#include "attest/attest.h"
#include "closer.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/num.h"
#include "log.h"
#include "measure/measure.h"
#include "server.h"
#include "net/wire.h"

struct attestd_server {
	struct attestd_server_config cfg;
	struct event_base *base;
	struct evconnlistener *agent_l, *admin_l;
	int nclients; /* agent socket */
	int nadmin;   /* admin socket: its own slots, so root can act under load */
	/* the kernel refuses descriptors sent to our sockets (SO_PASSRIGHTS,
	 * Linux >= 6.16); without it, closing a socket a peer may have queued
	 * descriptors on is left to the closer thread */
	int no_rights;
	int peerpidfd; /* SO_PEERPIDFD works (Linux >= 6.5) */
	struct event *tick;        /* once a second: aggregated log lines */
	struct event *accept_wait; /* accept paused after EMFILE/ENFILE */
	struct conn *conns; /* every open connection, to close them at stop */
	/* replies held until the audit log is durable (cfg.unsynced) */
	struct event *commit_ev;
	struct held {
		struct attestd_pending *p;
		cJSON *reply;
	} *held;
	size_t nheld, held_cap;
};

#define ADMIN_MAX_CLIENTS 8

/* Linux UAPI values (asm-generic/socket.h), absent from older headers */
#define ATTESTD_SO_PEERPIDFD 77 /* Linux >= 6.5 */
#define ATTESTD_SO_PASSRIGHTS 83 /* Linux >= 6.16 */

struct conn {
	struct attestd_server *srv;
	int fd;
	int admin;
	struct ucred cred;
	struct event *rev, *wev, *timer;
	struct evbuffer *out;
	uint8_t hdr[ATTEST_WIRE_HDR];
	size_t hdr_got;
	uint8_t *body;
	size_t body_len, body_got;
	int pidfd;     /* the connecting process (SO_PEERPIDFD), never a peer's fd */
	pid_t writer; /* pid that wrote the last chunk (SCM_CREDENTIALS) */
	uint64_t start_time; /* of the peer pid when it connected */
	int closing; /* close once the output is flushed */
	struct attestd_pending *pending; /* a deferred reply is owed */
	struct conn *prev, *next;        /* in srv->conns */
};

struct attestd_pending {
	struct conn *conn; /* NULL once the connection is gone */
};

cJSON *attestd_ok_reply(void)
{
	cJSON *o = cJSON_CreateObject();

	if (o != NULL)
		cJSON_AddTrueToObject(o, "ok");
	return o;
}

cJSON *attestd_error_reply(int code)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	cJSON_AddFalseToObject(o, "ok");
	cJSON_AddNumberToObject(o, "code", code);
	cJSON_AddStringToObject(o, "error", attest_errname(code));
	cJSON_AddStringToObject(o, "reason", attest_strerror(code));
	return o;
}

/* Hand descriptors that arrived in a control message to the closer thread. */
static int give_fds(struct msghdr *msg)
{
	int n = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		size_t k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			if (attestd_closer_give(fd) != 0) {
				/* not reached while RLIMIT_NOFILE is not raised (closer.h) */
				attestd_log_rl("closer full", "descriptor closer queue full: a passed "
					       "descriptor is closed on the event loop");
				close(fd);
			}
			n++;
		}
	}
	return n;
}

#define SCM_MAX_FDS 253 /* the most one message carries (SCM_MAX_FD) */

/* Control buffer for every recvmsg() on a peer's socket: SO_PASSCRED is on
 * (inherited from the listener), so the kernel puts SCM_CREDENTIALS first
 * and the descriptors after it; room for both, so that it never truncates
 * descriptors (it would close them itself, on this thread). */
union peer_ctl {
	char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(SCM_MAX_FDS * sizeof(int))];
	struct cmsghdr align;
};

/* Close a connected socket. The last close of a file a peer queued on it
 * (SCM_RIGHTS not yet received) would happen in this thread and can block
 * for as long as that file's owner decides (SO_LINGER, FUSE). Where the
 * kernel refuses descriptors to our sockets (SO_PASSRIGHTS off) nothing can
 * be queued. Elsewhere the socket is shut down (nothing more can be
 * queued), then drained without blocking, every descriptor in it going to
 * the closer thread; once it is empty, closing it here is safe. */
static void close_peer_socket(struct attestd_server *s, int fd)
{
	if (!s->no_rights) {
		union peer_ctl ctl;
		static char sink[16384]; /* discarded bytes; the loop is single-threaded */

		(void)shutdown(fd, SHUT_RDWR);
		for (;;) {
			struct iovec iov = { sink, sizeof(sink) };
			struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
					      .msg_controllen = sizeof(ctl.buf) };
			ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) /* nothing was received: ctl holds no message */
				break;
			give_fds(&msg);
			if (n == 0)
				break;
		}
	}
	close(fd);
}

static void conn_free(struct conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else if (c->srv->conns == c)
		c->srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->pending != NULL)
		c->pending->conn = NULL; /* its owner will find nobody to answer */
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->out != NULL)
		evbuffer_free(c->out);
	if (c->pidfd >= 0)
		close(c->pidfd); /* ours too (SO_PEERPIDFD or pidfd_open) */
	if (c->fd >= 0)
		close_peer_socket(c->srv, c->fd);
	free(c->body);
	if (c->admin)
		c->srv->nadmin--;
	else
		c->srv->nclients--;
	free(c);
}

static void arm_timer(struct conn *c)
{
	struct timeval tv = { c->srv->cfg.frame_timeout_ms / 1000,
			      (c->srv->cfg.frame_timeout_ms % 1000) * 1000 };

	evtimer_add(c->timer, &tv);
}

/* A generated private key travels in "key": wipe our copy. */
static void wipe_key(cJSON *reply)
{
	cJSON *key = cJSON_GetObjectItemCaseSensitive(reply, "key");

	if (cJSON_IsString(key))
		OPENSSL_cleanse(key->valuestring, strlen(key->valuestring));
}

/* Queue a reply frame; on encoding failure queue an internal error. */
static void queue_reply(struct conn *c, cJSON *reply)
{
	uint8_t *frame = NULL;
	size_t len;

	if (reply == NULL || attest_wire_encode(reply, &frame, &len) != ATTEST_OK) {
		cJSON_Delete(reply);
		reply = attestd_error_reply(ATTEST_E_INTERNAL);
		if (reply == NULL || attest_wire_encode(reply, &frame, &len) != ATTEST_OK) {
			cJSON_Delete(reply);
			c->closing = 1;
			event_add(c->wev, NULL);
			return;
		}
	}
	wipe_key(reply);
	cJSON_Delete(reply);
	evbuffer_add(c->out, frame, len);
	OPENSSL_cleanse(frame, len);
	free(frame);
	/* write now: only a client that does not read leaves it pending */
	(void)evbuffer_write(c->out, c->fd);
	event_add(c->wev, NULL);
}

/* Refuse and hang up: the frame stream can no longer be trusted. */
static void fail_conn(struct conn *c, int code, const char *why)
{
	char key[96];
	cJSON *reply;

	snprintf(key, sizeof(key), "refused uid=%u %s", (unsigned)c->cred.uid, attest_errname(code));
	attestd_log_rl(key, "refused peer pid=%d uid=%u: %s [%s]: %s", (int)c->cred.pid,
		       (unsigned)c->cred.uid, attest_strerror(code), attest_errname(code), why);
	reply = attestd_error_reply(code);

	event_del(c->rev);
	c->closing = 1;
	arm_timer(c); /* the refusal must be taken in time too, or we hang up */
	if (reply != NULL)
		cJSON_AddStringToObject(reply, "detail", why);
	queue_reply(c, reply);
}

static void send_reply(struct conn *c, cJSON *reply);

static cJSON *error_with_detail(int code, const char *why)
{
	cJSON *reply = attestd_error_reply(code);

	if (reply != NULL && why != NULL)
		cJSON_AddStringToObject(reply, "detail", why);
	return reply;
}

int attestd_pidfd_pid(int pidfd, pid_t *pid)
{
	char path[64];
	uint8_t *buf = NULL;
	size_t len;
	int r;

	*pid = 0;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	if ((r = attest_file_read(path, 4096, &buf, &len)) != ATTEST_OK)
		return r;
	/* "Pid:\t<pid>\n", "-1" once the process has exited */
	r = attest_fdinfo_pid((const char *)buf, len, pid);
	free(buf);
	return r;
}

/* Signal 0 through the pidfd (issue 17: one syscall where reading
 * /proc/self/fdinfo took four): ESRCH once the process the pidfd names has
 * exited and been reaped, whatever its pid number names now; EPERM only
 * for a live process we may not signal. */
int attestd_peer_alive(const struct attestd_peer *peer)
{
	if (peer->pidfd < 0)
		return attest_fail(ATTEST_E_INTERNAL, "no pidfd for the peer");
	if (syscall(SYS_pidfd_send_signal, peer->pidfd, 0, NULL, 0) == 0 || errno == EPERM)
		return ATTEST_OK;
	if (errno == ESRCH)
		return attest_fail(ATTEST_E_PROC_CHANGED, "the process that connected (pid %d) has "
				   "exited (its pid number may name another process now)",
				   (int)peer->pid);
	return attest_fail(ATTEST_E_IO, "pidfd_send_signal(pid %d): %s", (int)peer->pid,
			   strerror(errno));
}

int attestd_peer_parent(const struct attestd_peer *peer, int *fd_out)
{
	struct attest_proc_info before, after;
	int fd, r;

	*fd_out = -1;
	if ((r = attestd_peer_alive(peer)) != ATTEST_OK ||
	    (r = attest_proc_inspect(peer->pid, &before)) != ATTEST_OK)
		return r;
	if (before.ppid <= 1)
		return attest_fail(ATTEST_E_DENIED, "pid %d has no parent to ask for", (int)peer->pid);
	fd = (int)syscall(SYS_pidfd_open, before.ppid, 0);
	if (fd < 0)
		return attest_fail(errno == ESRCH ? ATTEST_E_PROC_CHANGED : ATTEST_E_IO,
				   "pidfd_open(parent %d): %s", (int)before.ppid, strerror(errno));
	if ((r = attestd_peer_alive(peer)) != ATTEST_OK ||
	    (r = attest_proc_inspect(peer->pid, &after)) != ATTEST_OK) {
		close(fd);
		return r;
	}
	if (after.ppid != before.ppid) {
		close(fd);
		return attest_fail(ATTEST_E_PROC_CHANGED, "the parent of pid %d exited during the "
				   "request", (int)peer->pid);
	}
	*fd_out = fd;
	return ATTEST_OK;
}

static void dispatch(struct conn *c)
{
	struct attestd_peer peer;
	cJSON *req = NULL, *reply;
	int r;

	r = attest_json_parse(c->body, c->body_len, ATTEST_WIRE_MAX_FRAME, &req);
	free(c->body);
	c->body = NULL;
	c->hdr_got = c->body_got = c->body_len = 0;
	if (r != ATTEST_OK) {
		fail_conn(c, r, attest_errdetail());
		return;
	}
	attest_errclear();
	peer = (struct attestd_peer){ c->cred.pid, c->cred.uid, c->cred.gid, c->admin,
				      c->start_time, c, c->pidfd, c->fd };
	/* One request in flight: read nothing more until this reply is out, so
	 * a client that never reads cannot pile up replies in our memory. */
	event_del(c->rev);
	reply = c->srv->cfg.handler(c->srv->cfg.handler_ctx, &peer, req);
	cJSON_Delete(req);
	if (reply == NULL && c->pending != NULL) {
		/* answered later (attestd_pending_reply); no deadline meanwhile */
		evtimer_del(c->timer);
		return;
	}
	send_reply(c, reply);
}

/* Queue a reply, then wait for the next request. */
static void send_reply_now(struct conn *c, cJSON *reply)
{
	queue_reply(c, reply);
	if (evbuffer_get_length(c->out) == 0 && !c->closing) {
		/* taken at once: go on reading (a Unix socket can be too full to
		 * count as writable yet still have taken this reply) */
		event_del(c->wev);
		event_add(c->rev, NULL);
	}
	arm_timer(c); /* the reply must be taken within the deadline too */
}

/* The reply for an action that failed to become durable. */
static cJSON *not_durable(cJSON *reply)
{
	char why[300];

	snprintf(why, sizeof(why), "audit log not durable: %s", attest_errdetail());
	wipe_key(reply);
	cJSON_Delete(reply);
	reply = attestd_error_reply(ATTEST_E_IO);
	if (reply != NULL)
		cJSON_AddStringToObject(reply, "detail", why);
	return reply;
}

/* Group commit: one commit for every reply held in this loop turn. */
static void on_commit(evutil_socket_t fd, short what, void *arg)
{
	struct attestd_server *s = arg;
	size_t n = s->nheld;
	int ok;

	(void)fd;
	(void)what;
	attest_errclear();
	ok = s->cfg.commit(s->cfg.gate_ctx) == ATTEST_OK;
	if (!ok)
		attestd_log("audit: commit failed, %zu replies become ATTEST_E_IO: %s", n,
			    attest_errdetail());
	s->nheld = 0;
	for (size_t i = 0; i < n; i++) {
		struct attestd_pending *p = s->held[i].p;
		cJSON *reply = ok ? s->held[i].reply : not_durable(s->held[i].reply);

		if (p->conn != NULL) {
			p->conn->pending = NULL;
			send_reply_now(p->conn, reply);
		} else {
			wipe_key(reply);
			cJSON_Delete(reply);
		}
		free(p);
	}
}

/* Send a reply once the records of what it acknowledges are durable. */
static void send_reply(struct conn *c, cJSON *reply)
{
	struct attestd_server *s = c->srv;
	struct attestd_pending *p;

	if (s->cfg.unsynced == NULL || !s->cfg.unsynced(s->cfg.gate_ctx)) {
		send_reply_now(c, reply);
		return;
	}
	if (s->nheld < s->held_cap && c->pending == NULL && (p = calloc(1, sizeof(*p))) != NULL) {
		p->conn = c;
		c->pending = p;
		s->held[s->nheld].p = p;
		s->held[s->nheld].reply = reply;
		if (s->nheld++ == 0)
			event_active(s->commit_ev, 0, 0);
		evtimer_del(c->timer); /* our wait, not the client's */
		return;
	}
	/* cannot hold it (out of memory): commit now */
	attest_errclear();
	if (s->cfg.commit(s->cfg.gate_ctx) != ATTEST_OK) {
		attestd_log("audit: commit failed, a reply becomes ATTEST_E_IO: %s", attest_errdetail());
		reply = not_durable(reply);
	}
	send_reply_now(c, reply);
}

struct attestd_pending *attestd_defer(const struct attestd_peer *peer)
{
	struct conn *c = peer->conn;
	struct attestd_pending *p;

	if (c == NULL || c->pending != NULL || (p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->conn = c;
	c->pending = p;
	return p;
}

void attestd_pending_reply(struct attestd_pending *p, cJSON *reply)
{
	if (p == NULL) {
		cJSON_Delete(reply);
		return;
	}
	if (p->conn != NULL) {
		p->conn->pending = NULL;
		send_reply(p->conn, reply);
	} else {
		wipe_key(reply);
		cJSON_Delete(reply);
	}
	free(p);
}

/* Receive into buf. attestd takes no descriptors from peers: the kernel
 * refuses them where it can (SO_PASSRIGHTS off, Linux >= 6.16); elsewhere any
 * that arrive are handed, unexamined, to the closer thread (their last
 * close can block) and the frame is refused. The control buffer has room
 * for the most a message can carry (SCM_MAX_FD), so the kernel never drops
 * any itself (which would close them on this thread).
 * With SO_PASSCRED the kernel tags every chunk with the pid of the process
 * that wrote it, and never merges chunks of different writers: a frame must
 * be written entirely by the process that connected (the one attestd
 * measures), or a process could connect and hand the socket to another.
 * Returns -2 when descriptors came, -3 for a foreign or unknown writer. */
static ssize_t recv_some(struct conn *c, void *buf, size_t len)
{
	union peer_ctl ctl;
	struct iovec iov = { buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			      .msg_controllen = sizeof(ctl.buf) };
	ssize_t n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);
	int writer_ok = 0, fds = 0;

	if (n <= 0)
		return n;
	fds = give_fds(&msg);
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
			struct ucred who;

			memcpy(&who, CMSG_DATA(cm), sizeof(who));
			c->writer = who.pid;
			writer_ok = who.pid == c->cred.pid && who.uid == c->cred.uid;
		}
	}
	if (fds > 0 || (msg.msg_flags & MSG_CTRUNC))
		return -2;
	if (!writer_ok)
		return -3;
	return n;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	for (;;) {
		ssize_t n;

		if (c->hdr_got < ATTEST_WIRE_HDR) {
			n = recv_some(c, c->hdr + c->hdr_got, ATTEST_WIRE_HDR - c->hdr_got);
		} else {
			n = recv_some(c, c->body + c->body_got, c->body_len - c->body_got);
		}
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -2) {
			fail_conn(c, ATTEST_E_DENIED, "attestd accepts no file descriptors (a helper "
				  "asks for its parent with \"parent\": true)");
			return;
		}
		if (n == -3) {
			char why[128];

			snprintf(why, sizeof(why), "request written by pid %d or another uid, not by "
				 "the connecting pid %d uid %u", (int)c->writer, (int)c->cred.pid,
				 (unsigned)c->cred.uid);
			fail_conn(c, ATTEST_E_PROC_CHANGED, why);
			return;
		}
		if (n <= 0) { /* closed or error: drop silently if between frames */
			if (c->hdr_got > 0) {
				char key[64];

				snprintf(key, sizeof(key), "midframe uid=%u", (unsigned)c->cred.uid);
				attestd_log_rl(key, "peer pid=%d uid=%u %s mid-frame", (int)c->cred.pid,
					       (unsigned)c->cred.uid, n == 0 ? "closed" : strerror(errno));
			}
			conn_free(c);
			return;
		}
		if (c->hdr_got < ATTEST_WIRE_HDR) {
			c->hdr_got += (size_t)n;
			if (c->hdr_got < ATTEST_WIRE_HDR)
				continue;
			int fr = attest_wire_frame_len(c->hdr, &c->body_len);

			if (fr != ATTEST_OK) {
				fail_conn(c, fr, attest_errdetail());
				return;
			}
			if ((c->body = malloc(c->body_len)) == NULL) {
				fail_conn(c, ATTEST_E_NOMEM, "frame buffer");
				return;
			}
			continue;
		}
		c->body_got += (size_t)n;
		if (c->body_got == c->body_len) {
			dispatch(c); /* one frame per callback: other clients get their turn */
			return;
		}
	}
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)what;
	if (evbuffer_get_length(c->out) > 0 && evbuffer_write(c->out, fd) < 0 &&
	    errno != EAGAIN && errno != EINTR) {
		conn_free(c);
		return;
	}
	if (evbuffer_get_length(c->out) > 0) {
		event_add(c->wev, NULL);
		return;
	}
	if (c->closing) {
		conn_free(c);
		return;
	}
	event_add(c->rev, NULL); /* reply taken: the next request may come */
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	/* A busy loop (other clients' TPM work) must not count against a
	 * client: bytes already in the socket that we have not read yet are in
	 * time. (Replies are written as soon as they are made, so one still
	 * pending here means the client is not taking it.) */
	if (!c->closing && evbuffer_get_length(c->out) == 0) {
		int pending = 0;

		if (ioctl(c->fd, FIONREAD, &pending) == 0 && pending > 0) {
			event_add(c->rev, NULL);
			arm_timer(c);
			return;
		}
	}
	if ((c->hdr_got == 0 && c->body == NULL) || evbuffer_get_length(c->out) > 0 || c->closing) {
		/* idle between requests, or not taking its reply: hang up */
		conn_free(c);
		return;
	}
	fail_conn(c, ATTEST_E_TIMEOUT, "no complete frame before the deadline");
}

/* Refuse a connection we will not serve: one error frame, best effort. */
static void refuse_and_close(struct attestd_server *s, int fd, int code, const char *detail)
{
	cJSON *reply = error_with_detail(code, detail);
	uint8_t *frame = NULL;
	size_t len;

	if (reply != NULL && attest_wire_encode(reply, &frame, &len) == ATTEST_OK)
		(void)!send(fd, frame, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(frame);
	cJSON_Delete(reply);
	close_peer_socket(s, fd);
}

/* ---------- fair shares of the agent socket ----------
 *
 * Connection slots are shared by uid: while k uids hold connections, each
 * may hold max_clients / k of them (at least 1), and one process at most
 * max(1, max_clients / 8). A uid under its share that finds every slot
 * taken gets one back from the uid that is most over its share (that uid's
 * oldest connection without a reply owed is closed), so an honest uid is
 * served however fast another one reconnects. */

struct uidcount {
	uid_t uid;
	int n;
};

/* Agent connections per uid (t has room for nclients + 1 entries); the
 * number of distinct uids. O(connections x uids). */
static size_t count_uids(const struct attestd_server *s, struct uidcount *t)
{
	size_t k = 0;

	for (const struct conn *c = s->conns; c != NULL; c = c->next) {
		size_t i;

		if (c->admin)
			continue;
		for (i = 0; i < k && t[i].uid != c->cred.uid; i++)
			;
		if (i == k)
			t[k++] = (struct uidcount){ c->cred.uid, 0 };
		t[i].n++;
	}
	return k;
}

static int pid_conns(const struct attestd_server *s, pid_t pid)
{
	int n = 0;

	for (const struct conn *c = s->conns; c != NULL; c = c->next)
		n += !c->admin && c->cred.pid == pid;
	return n;
}

/* Close the oldest connection (without a reply owed) of the uid most over
 * share, other than uid; 1 when a slot was freed. */
static int evict_for(struct attestd_server *s, const struct uidcount *t, size_t k, uid_t uid,
		     int share)
{
	struct conn *victim = NULL;
	int most = share;
	uid_t over = 0;

	for (size_t i = 0; i < k; i++)
		if (t[i].uid != uid && t[i].n > most) {
			most = t[i].n;
			over = t[i].uid;
		}
	if (most == share)
		return 0;
	for (struct conn *c = s->conns; c != NULL; c = c->next) /* newest first */
		if (!c->admin && c->cred.uid == over && c->pending == NULL)
			victim = c;
	if (victim == NULL)
		return 0;
	{
		char key[64];

		snprintf(key, sizeof(key), "evicted uid=%u", (unsigned)over);
		attestd_log_rl(key, "closed a connection of uid %u (%d connections, over its share of "
			       "%d) to serve uid %u", (unsigned)over, most, share, (unsigned)uid);
	}
	conn_free(victim);
	return 1;
}

/* NULL when the peer may have one more agent connection, else why not. */
static const char *over_quota(struct attestd_server *s, const struct ucred *cred)
{
	struct uidcount *t = calloc((size_t)s->nclients + 1, sizeof(*t));
	int pid_cap = s->cfg.max_clients / 8 > 1 ? s->cfg.max_clients / 8 : 1;
	int n = 0, share;
	size_t k, i;
	const char *why = NULL;

	if (t == NULL)
		return "out of memory";
	k = count_uids(s, t);
	for (i = 0; i < k && t[i].uid != cred->uid; i++)
		;
	if (i < k)
		n = t[i].n;
	share = s->cfg.max_clients / (int)(k + (i == k)); /* this uid counts too */
	if (share < 1)
		share = 1;
	if (pid_conns(s, cred->pid) >= pid_cap)
		why = "per-process connection limit";
	else if (n >= share)
		why = "per-uid share of the connections";
	else if (s->nclients >= s->cfg.max_clients && !evict_for(s, t, k, cred->uid, share))
		why = "all connections in use";
	free(t);
	return why;
}

int attestd_peer_of(int fd, int peerpidfd, struct attestd_peer *peer)
{
	struct ucred cred;
	socklen_t cl = sizeof(cred), pl = sizeof(int);
	int r = ATTEST_OK;

	memset(peer, 0, sizeof(*peer));
	peer->pidfd = -1;
	peer->fd = fd;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 || cred.pid <= 0)
		return attest_fail(ATTEST_E_IO, "no peer credentials: %s", strerror(errno));
	peer->pid = cred.pid;
	peer->uid = cred.uid;
	peer->gid = cred.gid;
	/* The connecting process, pinned: SO_PEERPIDFD names the process that
	 * called connect() (whatever its pid number names later); before
	 * Linux 6.5, a pidfd of the pid as of now. */
	if (!peerpidfd || getsockopt(fd, SOL_SOCKET, ATTESTD_SO_PEERPIDFD, &peer->pidfd, &pl) != 0) {
		int e = errno;

		peer->pidfd = -1;
		if (peerpidfd && e == ESRCH)
			r = attest_fail(ATTEST_E_PROC_CHANGED, "the process that connected (pid %d) "
					"has exited", (int)cred.pid);
		else if (peerpidfd && e != ENOPROTOOPT)
			r = attest_fail(ATTEST_E_IO, "SO_PEERPIDFD: %s", strerror(e));
		else if ((peer->pidfd = (int)syscall(SYS_pidfd_open, cred.pid, 0)) < 0)
			r = attest_fail(errno == ESRCH ? ATTEST_E_PROC_CHANGED : ATTEST_E_IO,
					"pidfd_open(%d): %s", (int)cred.pid, strerror(errno));
	}
	if (r == ATTEST_OK)
		r = attestd_peer_alive(peer);
	if (r == ATTEST_OK)
		r = attest_proc_start_time(cred.pid, &peer->start_time);
	if (r != ATTEST_OK) {
		if (peer->pidfd >= 0)
			close(peer->pidfd);
		peer->pidfd = -1;
		return r;
	}
	return ATTEST_OK;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct attestd_server *s = arg;
	struct conn *c;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	int admin = l == s->admin_l;

	(void)sa;
	(void)salen;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 || cred.pid <= 0) {
		attestd_log_rl("no peercred", "no peer credentials on a new connection: %s",
			       strerror(errno));
		close_peer_socket(s, fd);
		return;
	}
	if (admin && s->nadmin >= ADMIN_MAX_CLIENTS) {
		attestd_log_rl("busy admin", "refused an admin client: %d clients connected (limit)",
			       s->nadmin);
		refuse_and_close(s, fd, ATTEST_E_BUSY, NULL);
		return;
	}
	if (!admin) {
		const char *why = over_quota(s, &cred);

		if (why != NULL) {
			char key[64];

			snprintf(key, sizeof(key), "busy uid=%u", (unsigned)cred.uid);
			attestd_log_rl(key, "refused a client pid=%d uid=%u: %s (%d connected, limit %d)",
				       (int)cred.pid, (unsigned)cred.uid, why, s->nclients,
				       s->cfg.max_clients);
			refuse_and_close(s, fd, ATTEST_E_BUSY, why);
			return;
		}
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close_peer_socket(s, fd);
		return;
	}
	if (admin)
		s->nadmin++;
	else
		s->nclients++;
	c->srv = s;
	c->fd = fd;
	c->cred = cred;
	c->pidfd = -1;
	c->admin = admin;
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	{
		struct attestd_peer self;
		int r;

		attest_errclear();
		if ((r = attestd_peer_of(fd, s->peerpidfd, &self)) != ATTEST_OK) {
			/* say what happened: an exited peer and a descriptor limit
			 * are different things */
			char key[64], why[300];

			snprintf(why, sizeof(why), "%s", attest_errdetail());
			snprintf(key, sizeof(key), "accept %s uid=%u", attest_errname(r),
				 (unsigned)cred.uid);
			attestd_log_rl(key, "cannot pin the connecting pid=%d uid=%u: %s [%s]: %s",
				       (int)cred.pid, (unsigned)cred.uid, attest_strerror(r),
				       attest_errname(r), why);
			c->fd = -1; /* handed to refuse_and_close */
			conn_free(c);
			refuse_and_close(s, fd, r, why);
			return;
		}
		c->pidfd = self.pidfd;
		c->start_time = self.start_time;
	}
	{
		int one = 1;

		if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0) {
			attestd_log("SO_PASSCRED: %s", strerror(errno));
			conn_free(c);
			return;
		}
	}
	evutil_make_socket_nonblocking(fd);
	c->out = evbuffer_new();
	c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->wev = event_new(s->base, fd, EV_WRITE, on_write, c);
	c->timer = evtimer_new(s->base, on_timeout, c);
	if (c->out == NULL || c->rev == NULL || c->wev == NULL || c->timer == NULL) {
		conn_free(c);
		return;
	}
	event_add(c->rev, NULL);
	arm_timer(c);
}

/* accept() failed. Out of descriptors (EMFILE, ENFILE) or memory, the
 * listening socket stays readable: accepting again at once would spin, so
 * both listeners pause for ACCEPT_PAUSE_MS while connections end. */
#define ACCEPT_PAUSE_MS 200
static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct attestd_server *s = arg;
	int e = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };
	char key[48];

	snprintf(key, sizeof(key), "accept errno=%d", e);
	attestd_log_rl(key, "accept on the %s socket: %s (%d connections open); pausing new "
		       "connections for %d ms", l == s->admin_l ? "admin" : "agent", strerror(e),
		       s->nclients + s->nadmin, ACCEPT_PAUSE_MS);
	if (s->agent_l != NULL)
		evconnlistener_disable(s->agent_l);
	if (s->admin_l != NULL)
		evconnlistener_disable(s->admin_l);
	evtimer_add(s->accept_wait, &tv);
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct attestd_server *s = arg;

	(void)fd;
	(void)what;
	if (s->agent_l != NULL)
		evconnlistener_enable(s->agent_l);
	if (s->admin_l != NULL)
		evconnlistener_enable(s->admin_l);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	attestd_log_flush(0);
}

int attestd_listen_unix(const char *path, mode_t mode, int *fd_out, int *no_rights)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd, one = 1, zero = 0;

	*fd_out = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return attest_fail(ATTEST_E_INVALID_ARG, "socket path too long: %s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* Replace a stale socket, never another kind of file. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return attest_fail(ATTEST_E_INVALID_ARG,
					   "%s exists and is not a socket; refusing to replace it", path);
		unlink(path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return attest_fail(ATTEST_E_IO, "socket: %s", strerror(errno));
	old = umask(0777 & ~mode);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		umask(old);
		close(fd);
		return attest_fail(ATTEST_E_IO, "bind %s: %s", path, strerror(errno));
	}
	umask(old);
	if (chmod(path, mode) != 0 || listen(fd, 128) != 0 ||
	    /* set on the listener so that even bytes written before accept()
	     * carry their writer's credentials */
	    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0) {
		int e = errno;

		close(fd);
		unlink(path);
		return attest_fail(ATTEST_E_IO, "listen on %s: %s", path, strerror(e));
	}
	/* and no descriptor can be queued to us, before accept() either: the
	 * sender's sendmsg() fails with EPERM */
	*no_rights = getenv("ATTESTD_TEST_ALLOW_RIGHTS") == NULL && /* tests of the closer path */
		     setsockopt(fd, SOL_SOCKET, ATTESTD_SO_PASSRIGHTS, &zero, sizeof(zero)) == 0;
	*fd_out = fd;
	return ATTEST_OK;
}

/* A listener on fd (taken), or on path when fd < 0; NULL: none wanted. */
static int listen_on(struct attestd_server *s, const char *path, int fd, mode_t mode,
		     struct evconnlistener **out)
{
	int no_rights = 1;

	*out = NULL;
	if (fd < 0 && path == NULL)
		return ATTEST_OK;
	if (fd < 0 && attestd_listen_unix(path, mode, &fd, &no_rights) != ATTEST_OK) {
		attestd_log("%s", attest_errdetail());
		return ATTEST_E_IO;
	}
	if (fd >= 0 && path == NULL) {
		/* handed over: does the kernel refuse descriptors on it? */
		int v = 1;
		socklen_t vl = sizeof(v);

		no_rights = getsockopt(fd, SOL_SOCKET, ATTESTD_SO_PASSRIGHTS, &v, &vl) == 0 && v == 0;
	}
	if (!no_rights)
		s->no_rights = 0;
	/* backlog 0: fd is listening already */
	*out = evconnlistener_new(s->base, on_accept, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
				  0, fd);
	if (*out == NULL) {
		close(fd);
		attestd_log("listener: %s", strerror(errno));
		return ATTEST_E_IO;
	}
	evconnlistener_set_error_cb(*out, on_accept_error);
	return ATTEST_OK;
}

int attestd_server_start(struct event_base *base, const struct attestd_server_config *cfg,
			 struct attestd_server **out)
{
	struct attestd_server *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return ATTEST_E_NOMEM;
	s->cfg = *cfg;
	s->base = base;
	s->no_rights = 1; /* until a listener says otherwise */
	{
		/* does this kernel give a connected peer's pidfd? */
		int sp[2], pfd = -1;
		socklen_t pl = sizeof(pfd);

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0) {
			s->peerpidfd = getsockopt(sp[0], SOL_SOCKET, ATTESTD_SO_PEERPIDFD, &pfd, &pl) == 0;
			if (pfd >= 0)
				close(pfd);
			close(sp[0]);
			close(sp[1]);
		}
	}
	if (attestd_closer_start() != 0) {
		attestd_log("cannot start the descriptor closer thread: %s", strerror(errno));
		free(s);
		return ATTEST_E_INTERNAL;
	}
	{
		struct timeval sec = { 1, 0 };

		if ((s->tick = event_new(base, -1, EV_PERSIST, on_tick, s)) == NULL ||
		    (s->accept_wait = evtimer_new(base, on_accept_resume, s)) == NULL ||
		    event_add(s->tick, &sec) != 0) {
			attestd_server_stop(s);
			return ATTEST_E_NOMEM;
		}
	}
	if (cfg->unsynced != NULL) {
		/* every connection has at most one request in flight */
		s->held_cap = (size_t)cfg->max_clients + ADMIN_MAX_CLIENTS;
		if ((s->held = calloc(s->held_cap, sizeof(*s->held))) == NULL ||
		    (s->commit_ev = event_new(base, -1, 0, on_commit, s)) == NULL) {
			attestd_server_stop(s);
			return ATTEST_E_NOMEM;
		}
	}
	if (listen_on(s, cfg->agent_fd >= 0 ? NULL : cfg->agent_socket, cfg->agent_fd, 0660,
		      &s->agent_l) != ATTEST_OK ||
	    listen_on(s, cfg->admin_fd >= 0 ? NULL : cfg->admin_socket, cfg->admin_fd, 0600,
		      &s->admin_l) != ATTEST_OK) {
		attestd_server_stop(s);
		return ATTEST_E_IO;
	}
	if (!s->peerpidfd)
		attestd_log("this kernel has no SO_PEERPIDFD (Linux < 6.5): a caller is pinned by a "
			    "pidfd taken at accept(), not at connect() (docs/protocol.md)");
	if (!s->no_rights)
		attestd_log("this kernel has no SO_PASSRIGHTS (Linux < 6.16): descriptors peers send "
			    "are closed on a separate thread (docs/protocol.md)");
	*out = s;
	return ATTEST_OK;
}

void attestd_server_stop(struct attestd_server *s)
{
	if (s == NULL)
		return;
	if (s->agent_l != NULL) {
		evconnlistener_free(s->agent_l);
		if (s->cfg.agent_fd < 0)
			unlink(s->cfg.agent_socket);
	}
	if (s->admin_l != NULL) {
		evconnlistener_free(s->admin_l);
		if (s->cfg.admin_fd < 0)
			unlink(s->cfg.admin_socket);
	}
	/* connections still open are closed without an answer */
	while (s->conns != NULL)
		conn_free(s->conns);
	/* held replies were never made durable: never sent */
	for (size_t i = 0; i < s->nheld; i++) {
		if (s->held[i].p->conn != NULL)
			s->held[i].p->conn->pending = NULL;
		free(s->held[i].p);
		wipe_key(s->held[i].reply);
		cJSON_Delete(s->held[i].reply);
	}
	free(s->held);
	if (s->commit_ev != NULL)
		event_free(s->commit_ev);
	if (s->tick != NULL)
		event_free(s->tick);
	if (s->accept_wait != NULL)
		event_free(s->accept_wait);
	attestd_log_flush(1);
	free(s);
}
