/* server.c - Unix sockets, frames, deadlines and client limits on libevent. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/crypto.h>

#include "attest/attest.h"
#include "json.h"
#include "log.h"
#include "measure.h"
#include "server.h"
#include "wire.h"

struct attestd_server {
	struct attestd_server_config cfg;
	struct event_base *base;
	struct evconnlistener *agent_l, *admin_l;
	int nclients; /* agent socket */
	int nadmin;   /* admin socket: its own slots, so root can act under load */
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
	int passed_fd;
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
	if (c->passed_fd >= 0)
		close(c->passed_fd);
	if (c->fd >= 0)
		close(c->fd);
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
	attestd_log("refused peer pid=%d uid=%u: %s [%s]: %s", (int)c->cred.pid,
		    (unsigned)c->cred.uid, attest_strerror(code), attest_errname(code), why);
	cJSON *reply = attestd_error_reply(code);

	event_del(c->rev);
	c->closing = 1;
	arm_timer(c); /* the refusal must be taken in time too, or we hang up */
	if (reply != NULL)
		cJSON_AddStringToObject(reply, "detail", why);
	queue_reply(c, reply);
}

static void send_reply(struct conn *c, cJSON *reply);

static void dispatch(struct conn *c)
{
	struct attestd_peer peer = { c->cred.pid, c->cred.uid, c->cred.gid, c->admin, c->passed_fd,
				     c->start_time, c };
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
	/* One request in flight: read nothing more until this reply is out, so
	 * a client that never reads cannot pile up replies in our memory. */
	event_del(c->rev);
	reply = c->srv->cfg.handler(c->srv->cfg.handler_ctx, &peer, req);
	cJSON_Delete(req);
	if (c->passed_fd >= 0) {
		close(c->passed_fd);
		c->passed_fd = -1;
	}
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
	ok = s->cfg.commit(s->cfg.handler_ctx) == ATTEST_OK;
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

	if (s->cfg.unsynced == NULL || !s->cfg.unsynced(s->cfg.handler_ctx)) {
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
	if (s->cfg.commit(s->cfg.handler_ctx) != ATTEST_OK) {
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

/* Receive into buf, collecting at most one passed descriptor. With
 * SO_PASSCRED the kernel tags every chunk with the pid of the process that
 * wrote it, and never merges chunks of different writers: a frame must be
 * written entirely by the process that connected (the one attestd
 * measures), or a process could connect and hand the socket to another.
 * Returns -2 for too many descriptors, -3 for a foreign or unknown writer. */
static ssize_t recv_some(struct conn *c, void *buf, size_t len)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			      .msg_controllen = sizeof(ctl.buf) };
	ssize_t n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);
	int writer_ok = 0;

	if (n <= 0)
		return n;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET)
			continue;
		if (cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len == CMSG_LEN(sizeof(int))) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
			if (c->passed_fd >= 0)
				close(c->passed_fd); /* one per request; keep the latest */
			c->passed_fd = fd;
		} else if (cm->cmsg_type == SCM_CREDENTIALS &&
			   cm->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
			struct ucred who;

			memcpy(&who, CMSG_DATA(cm), sizeof(who));
			c->writer = who.pid;
			writer_ok = who.pid == c->cred.pid && who.uid == c->cred.uid;
		} else if (cm->cmsg_type == SCM_RIGHTS) {
			/* more than one descriptor: close them all */
			int *fds = (int *)CMSG_DATA(cm);
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < k; i++)
				close(fds[i]);
			return -2;
		}
	}
	if (msg.msg_flags & MSG_CTRUNC)
		return -2; /* more descriptors than we accept */
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
			fail_conn(c, ATTEST_E_PARSE, "too many passed descriptors");
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
			if (c->hdr_got > 0)
				attestd_log("peer pid=%d closed mid-frame", (int)c->cred.pid);
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
static void refuse_and_close(int fd, int code, const char *detail)
{
	cJSON *reply = attestd_error_reply(code);
	uint8_t *frame = NULL;
	size_t len;

	if (reply != NULL && detail != NULL)
		cJSON_AddStringToObject(reply, "detail", detail);
	if (reply != NULL && attest_wire_encode(reply, &frame, &len) == ATTEST_OK)
		(void)!send(fd, frame, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(frame);
	cJSON_Delete(reply);
	close(fd);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct attestd_server *s = arg;
	struct conn *c;
	socklen_t cl = sizeof(struct ucred);
	int admin = l == s->admin_l;

	(void)sa;
	(void)salen;
	if (admin ? s->nadmin >= ADMIN_MAX_CLIENTS : s->nclients >= s->cfg.max_clients) {
		attestd_log("refused a client: %d clients connected on the %s socket (limit)",
			    admin ? s->nadmin : s->nclients, admin ? "admin" : "agent");
		refuse_and_close(fd, ATTEST_E_BUSY, NULL);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	if (admin)
		s->nadmin++;
	else
		s->nclients++;
	c->srv = s;
	c->fd = fd;
	c->passed_fd = -1;
	c->admin = admin;
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &cl) != 0 || c->cred.pid <= 0) {
		attestd_log("no peer credentials on a new connection: %s", strerror(errno));
		conn_free(c);
		return;
	}
	{
		/* the connecting process as of now: a pid reused before the
		 * request is read shows a different start time */
		struct attest_proc_pin pin;

		if (attest_proc_pin(c->cred.pid, &pin) != ATTEST_OK) {
			attestd_log("peer pid=%d vanished at connect", (int)c->cred.pid);
			c->fd = -1; /* handed to refuse_and_close */
			conn_free(c);
			refuse_and_close(fd, ATTEST_E_PROC_CHANGED,
					 "the connecting process exited before it was accepted");
			return;
		}
		c->start_time = pin.start_time;
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

static struct evconnlistener *listen_unix(struct attestd_server *s, const char *path, mode_t mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct evconnlistener *l;
	struct stat st;
	mode_t old;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		attestd_log("socket path too long: %s", path);
		return NULL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* Replace a stale socket, never another kind of file. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			attestd_log("%s exists and is not a socket; refusing to replace it", path);
			return NULL;
		}
		unlink(path);
	}
	old = umask(0777 & ~mode);
	l = evconnlistener_new_bind(s->base, on_accept, s,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 128,
				    (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (l == NULL) {
		attestd_log("listen on %s: %s", path, strerror(errno));
		return NULL;
	}
	if (chmod(path, mode) != 0) {
		attestd_log("chmod %s: %s", path, strerror(errno));
		evconnlistener_free(l);
		return NULL;
	}
	{
		/* set on the listener so that even bytes written before accept()
		 * carry their writer's credentials */
		int one = 1;

		if (setsockopt(evconnlistener_get_fd(l), SOL_SOCKET, SO_PASSCRED, &one,
			       sizeof(one)) != 0) {
			attestd_log("SO_PASSCRED on %s: %s", path, strerror(errno));
			evconnlistener_free(l);
			return NULL;
		}
	}
	return l;
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
	if (cfg->unsynced != NULL) {
		/* every connection has at most one request in flight */
		s->held_cap = (size_t)cfg->max_clients + ADMIN_MAX_CLIENTS;
		if ((s->held = calloc(s->held_cap, sizeof(*s->held))) == NULL ||
		    (s->commit_ev = event_new(base, -1, 0, on_commit, s)) == NULL) {
			attestd_server_stop(s);
			return ATTEST_E_NOMEM;
		}
	}
	if ((s->agent_l = listen_unix(s, cfg->agent_socket, 0660)) == NULL ||
	    (s->admin_l = listen_unix(s, cfg->admin_socket, 0600)) == NULL) {
		attestd_server_stop(s);
		return ATTEST_E_IO;
	}
	*out = s;
	return ATTEST_OK;
}

void attestd_server_stop(struct attestd_server *s)
{
	if (s == NULL)
		return;
	if (s->agent_l != NULL) {
		evconnlistener_free(s->agent_l);
		unlink(s->cfg.agent_socket);
	}
	if (s->admin_l != NULL) {
		evconnlistener_free(s->admin_l);
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
	free(s);
}
