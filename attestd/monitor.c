/* monitor.c - see monitor.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <event2/event.h>
#include <openssl/x509.h>

#include "admin.h"
#include "auditlog.h"
#include "core/err.h"
#include "dispatch.h"
#include "federation.h"
#include "host.h"
#include "log.h"
#include "mint.h"
#include "monitor.h"
#include "monproto.h"
#include "push.h"
#include "pushwire.h"
#include "renew.h"
#include "workload_jwt.h"
#include "workload_mon.h"
#include "core/fileio.h"
#include "attestation/hostpush.h"
#include "x509/x509.h"

#define CHAN_BUF (512 * 1024)

struct attestd_monitor {
	struct attestd *d;
	struct event_base *base;
	char agent_path[108], admin_path[108];
	int agent_fd, admin_fd;
	char workload_path[108]; /* "": no workload socket */
	int workload_fd;
	struct workload_jwt *jwt; /* the JWT-SVID keys, made at the first use */
	char *const *front_argv;
	const char *front_exe;
	pid_t front;  /* -1: none */
	int chan;     /* our end of the channel, -1: none */
	struct event *chan_ev, *child_ev, *respawn_ev;
	time_t spawned[MONITOR_MAX_RESTARTS]; /* the latest starts, a ring */
	unsigned nspawned;
	int failed;
	uint32_t gen;   /* fronts started: a push's answer goes to the front that asked */
	uint32_t token; /* the last MON_ATTEST token given */
	char push_url[ATTEST_PUSH_URL_MAX + 1]; /* "" without --verifier */
	uint8_t *push_ca; /* the verifier's CA (PEM), for the front */
	size_t push_ca_len;
	long push_timeout_ms;
	uint8_t *buf; /* MON_MSG_MAX */
	/* MON_ISSUE_TAGGED chains held until their record is durable */
	struct held_mint *held;
	size_t nheld;
	/* MON_ISSUE_TAGGED waiting for their agent's first session issuer */
	struct parked_mint *parked;
	size_t nparked;
};

/* A session-mode MON_ISSUE_TAGGED whose agent holds no session issuer
 * (the first launch after a restart): the renewal thread makes the issuer
 * on the TPM (renew.h, attestd_renew_demand) while the loop serves the
 * other requests; then the request runs whole, as if it had just come
 * (caller, measurement, checks, signature, re-check, durable record). */
struct parked_mint {
	struct parked_mint *next;
	uint32_t gen, tag;
	int fd; /* the caller's connection: our duplicate */
	char name[ATTEST_MAX_NAME + 1];
	uint8_t *order; /* the order's bytes, parsed again when it resumes */
	size_t len;
};

#define PARKED_MAX 4096 /* requests waiting for an issuer; beyond: on the loop */

/* One issued chain waiting on the audit sync thread. Outlives the monitor
 * when it stops first (m NULL: dropped when the sync answers). */
struct held_mint {
	struct attestd_monitor *m;
	uint32_t gen, tag;
	struct mint_result res;
	struct held_mint *prev, *next;
};

#define HELD_MAX 4096 /* chains held at once; beyond: ATTEST_E_BUSY */

static void respawn_later(struct attestd_monitor *m);

/* ---------- the front's life ---------- */

static void chan_close(struct attestd_monitor *m)
{
	if (m->chan_ev != NULL)
		event_free(m->chan_ev);
	m->chan_ev = NULL;
	if (m->chan >= 0)
		close(m->chan);
	m->chan = -1;
}

/* The front broke the protocol: killed (reaped by on_child, which starts
 * another). */
static void front_violation(struct attestd_monitor *m, const char *what)
{
	attestd_log("front pid %d %s: killed", (int)m->front, what);
	if (m->front > 0)
		kill(m->front, SIGKILL);
	chan_close(m);
}

size_t attestd_monitor_jwt_keys(void *arg, struct attest_report_jwtkey *out, size_t max)
{
	struct attestd_monitor *m = arg;

	return m == NULL || m->jwt == NULL ? 0 : workload_jwt_report_keys(m->jwt, out, max);
}

int attestd_monitor_push_send(void *ctx, uint32_t slot, uint32_t kind, uint32_t seq,
			      const char *body, size_t len)
{
	struct attestd_monitor *m = ctx;
	struct mon_out out;
	int r;

	if (m->chan < 0)
		return attest_fail(ATTEST_E_IO, "no front runs the push requests now");
	mon_out_init(&out, MON_PUSH_JOB);
	mon_put_u32(&out, slot);
	mon_put_u32(&out, kind);
	mon_put_u32(&out, seq);
	mon_put_bytes(&out, body, len);
	r = mon_send(m->chan, &out, -1);
	mon_out_free(&out);
	return r;
}

/* The typed reply to a push request (no answer): a reply for a request
 * not in flight, or one that does not parse whole, is a violation. */
static int do_push_done(struct attestd_monitor *m, struct attest_cur *c)
{
	struct push_reply rep;
	uint32_t slot, kind, seq;
	int r;

	if (!mon_get_u32(c, &slot) || !mon_get_u32(c, &kind) || !mon_get_u32(c, &seq) ||
	    slot >= PUSH_SLOTS)
		return attest_fail(ATTEST_E_PARSE, "push reply malformed");
	if ((r = push_reply_get(c, kind, &rep)) != ATTEST_OK)
		return r;
	r = attestd_push_job_done(m->d->push, slot, kind, seq, &rep);
	push_reply_clear(&rep);
	return r;
}

/* The verifier's URL and its CA pin (public): the front runs the pushes. */
static int do_push_config(struct attestd_monitor *m, struct attest_cur *c)
{
	struct mon_out out;
	int r;

	if (!mon_get_end(c))
		return attest_fail(ATTEST_E_PARSE, "push config request malformed");
	mon_out_init(&out, MON_REPLY);
	mon_put_u32(&out, ATTEST_OK);
	mon_put_str(&out, m->push_url);
	mon_put_bytes(&out, m->push_ca, m->push_ca_len);
	mon_put_i64(&out, m->push_timeout_ms);
	r = mon_send(m->chan, &out, -1);
	mon_out_free(&out);
	return r;
}

static void on_chan(evutil_socket_t fd, short what, void *arg);

static int spawn(struct attestd_monitor *m)
{
	int sp[2], sz = CHAN_BUF;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0)
		return attest_fail(ATTEST_E_IO, "socketpair: %s", strerror(errno));
	(void)setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	(void)setsockopt(sp[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if ((pid = fork()) < 0) {
		close(sp[0]);
		close(sp[1]);
		return attest_fail(ATTEST_E_IO, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		/* the channel as 3, the agent socket as 4, the admin socket
		 * as 5, the workload socket as 6 when there is one, nothing
		 * else but stdio: a fresh image, none of the monitor's memory */
		int c = fcntl(sp[1], F_DUPFD, 10), a = fcntl(m->agent_fd, F_DUPFD, 10),
		    ad = fcntl(m->admin_fd, F_DUPFD, 10);
		int w = m->workload_fd >= 0 ? fcntl(m->workload_fd, F_DUPFD, 10) : -1;
		int first = m->workload_fd >= 0 ? 7 : 6;
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (c < 0 || a < 0 || ad < 0 || dup2(c, 3) != 3 || dup2(a, 4) != 4 || dup2(ad, 5) != 5 ||
		    (m->workload_fd >= 0 && (w < 0 || dup2(w, 6) != 6)))
			_exit(127);
		if (close_range((unsigned)first, ~0u, 0) != 0)
			for (int fd = first; fd < 65536; fd++)
				(void)close(fd);
		execv(m->front_exe != NULL ? m->front_exe : "/proc/self/exe", m->front_argv);
		_exit(127);
	}
	close(sp[1]);
	m->front = pid;
	m->gen++;
	m->chan = sp[0];
	evutil_make_socket_nonblocking(m->chan);
	if ((m->chan_ev = event_new(m->base, m->chan, EV_READ | EV_PERSIST, on_chan, m)) == NULL ||
	    event_add(m->chan_ev, NULL) != 0) {
		front_violation(m, "could not be watched");
		return attest_fail(ATTEST_E_NOMEM, "channel event");
	}
	m->spawned[m->nspawned++ % MONITOR_MAX_RESTARTS] = time(NULL);
	attestd_log("front started: pid %d", (int)pid);
	return ATTEST_OK;
}

static void on_respawn(evutil_socket_t fd, short what, void *arg)
{
	struct attestd_monitor *m = arg;

	(void)fd;
	(void)what;
	if (m->front < 0 && spawn(m) != ATTEST_OK) {
		attestd_log("front not restarted: %s", attest_errdetail());
		respawn_later(m);
	}
}

static void respawn_later(struct attestd_monitor *m)
{
	struct timeval tv = { 1, 0 };

	/* the oldest of the last starts within a minute: it keeps dying */
	if (m->nspawned >= MONITOR_MAX_RESTARTS &&
	    time(NULL) - m->spawned[m->nspawned % MONITOR_MAX_RESTARTS] < 60) {
		attestd_log("front died %d times within a minute: attestd stops (its service "
			    "manager restarts it)", MONITOR_MAX_RESTARTS);
		m->failed = 1;
		event_base_loopbreak(m->base);
		return;
	}
	evtimer_add(m->respawn_ev, &tv);
}

static void on_child(evutil_socket_t fd, short what, void *arg)
{
	struct attestd_monitor *m = arg;
	int status;
	pid_t pid;

	(void)fd;
	(void)what;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid != m->front)
			continue;
		if (WIFSIGNALED(status))
			attestd_log("front pid %d killed by signal %d%s", (int)pid, WTERMSIG(status),
				    WTERMSIG(status) == SIGSYS ? " (a system call outside its "
								 "seccomp filter)" : "");
		else
			attestd_log("front pid %d exited with status %d", (int)pid,
				    WEXITSTATUS(status));
		m->front = -1;
		chan_close(m);
		/* its push requests will not be answered */
		attestd_push_transport_lost(m->d->push);
		respawn_later(m);
	}
}

/* ---------- requests ---------- */

static int reply_error(struct attestd_monitor *m, int code)
{
	struct mon_out o;
	int r;

	mon_out_init(&o, MON_REPLY);
	mon_put_u32(&o, (uint32_t)code);
	mon_put_str(&o, attest_errdetail());
	r = mon_send(m->chan, &o, -1);
	mon_out_free(&o);
	return r;
}

/* Whether fd is an accepted connection of our socket at path (its local
 * address is the path), nothing else. */
static int conn_on(int fd, const char *path)
{
	struct sockaddr_un sa;
	socklen_t sl = sizeof(sa);
	int type = 0;
	socklen_t tl = sizeof(type);

	memset(&sa, 0, sizeof(sa));
	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM &&
	       getsockname(fd, (struct sockaddr *)&sa, &sl) == 0 && sa.sun_family == AF_UNIX &&
	       sl > offsetof(struct sockaddr_un, sun_path) &&
	       strncmp(sa.sun_path, path, sizeof(sa.sun_path)) == 0;
}

static int not_conn(struct attestd_monitor *m, const char *what)
{
	/* an honest front only hands over what it accepted */
	attestd_log("front pid %d handed over a descriptor that is no connection of the %s "
		    "socket: refused", (int)m->front, what);
	return attest_fail(ATTEST_E_DENIED, "the descriptor is not a connection of the %s socket",
			   what);
}

/* For MON_ISSUE: a connection of the agent socket (or of the admin
 * socket: root may ask for an agent's certificate there too; the caller
 * is measured all the same), its peer from the kernel. */
static int conn_peer(struct attestd_monitor *m, int fd, struct attestd_peer *peer)
{
	if (!conn_on(fd, m->agent_path) && !conn_on(fd, m->admin_path))
		return not_conn(m, "agent");
	return attestd_peer_of(fd, 1, peer);
}

/* For MON_ADMIN and MON_ATTEST: a connection of the admin socket whose
 * peer the kernel says is root (the admin rule: the admin socket, uid 0). */
static int admin_peer(struct attestd_monitor *m, int fd, struct attestd_peer *peer)
{
	int r;

	if (!conn_on(fd, m->admin_path))
		return not_conn(m, "admin");
	if ((r = attestd_peer_of(fd, 1, peer)) != ATTEST_OK)
		return r;
	peer->admin = 1;
	if (peer->uid != 0) {
		attestd_log("front pid %d handed over an admin connection of uid %u: refused",
			    (int)m->front, (unsigned)peer->uid);
		return attest_fail(ATTEST_E_DENIED, "admin operations are for root on the admin "
				   "socket");
	}
	return ATTEST_OK;
}

/* For MON_WORKLOAD_ISSUE and MON_WORKLOAD_JWT: a connection of the
 * workload socket, its peer from the kernel. */
static int workload_peer(struct attestd_monitor *m, int fd, struct attestd_peer *peer)
{
	if (m->workload_path[0] == '\0' || !conn_on(fd, m->workload_path))
		return not_conn(m, "workload");
	return attestd_peer_of(fd, 1, peer);
}

static int do_mint(struct attestd_monitor *m, struct attest_cur *c, int fd)
{
	struct attestd *d = m->d;
	struct attestd_peer peer = { .pidfd = -1, .fd = -1 };
	struct mint_order *o = calloc(1, sizeof(*o));
	struct mint_result res = { 0 };
	struct mon_out out;
	int r;

	if (o == NULL)
		return reply_error(m, attest_fail(ATTEST_E_NOMEM, "order"));
	if ((r = mint_order_get(c, o)) != ATTEST_OK) {
		free(o);
		return r; /* malformed: a protocol violation */
	}
	attest_errclear();
	if ((r = conn_peer(m, fd, &peer)) == ATTEST_OK && (r = attestd_host_tpm(&d->host)) == ATTEST_OK &&
	    (r = attestd_issuance_allowed(d)) == ATTEST_OK && (r = attestd_mint(d, &peer, o, &res)) == ATTEST_OK)
		/* the record is durable before the chain leaves */
		r = attestd_audit_commit(&d->log);
	if (r != ATTEST_OK) {
		char why[512];

		snprintf(why, sizeof(why), "%s", attest_errdetail());
		attestd_host_tpm_failed(&d->host, r);
		if (peer.pid > 0)
			attestd_audit_refusal(&d->log, &peer, "issue",
					      attest_valid_hostname(o->name) ? o->name : NULL, r);
		attest_fail(r, "%s", why);
		r = reply_error(m, r);
	} else {
		mon_out_init(&out, MON_REPLY);
		mon_put_u32(&out, ATTEST_OK);
		mint_result_put(&out, &res);
		r = mon_send(m->chan, &out, -1);
		mon_out_free(&out);
	}
	if (peer.pidfd >= 0)
		close(peer.pidfd);
	mint_result_clear(&res);
	free(o);
	return r; /* of sending the answer */
}

/* The end of a MON_ISSUE_TAGGED, to the front that asked. */
static void issue_done(struct attestd_monitor *m, uint32_t tag, int code, const struct mint_result *res)
{
	struct mon_out out;

	mon_out_init(&out, MON_ISSUE_DONE);
	mon_put_u32(&out, tag);
	mon_put_u32(&out, (uint32_t)code);
	if (code == ATTEST_OK)
		mint_result_put(&out, res);
	else
		mon_put_str(&out, attest_errdetail());
	if (mon_send(m->chan, &out, -1) != ATTEST_OK)
		attestd_log("issuance answer not sent to the front: %s", attest_errdetail());
	mon_out_free(&out);
}

static void held_unlink(struct attestd_monitor *m, struct held_mint *h)
{
	if (h->prev != NULL)
		h->prev->next = h->next;
	else
		m->held = h->next;
	if (h->next != NULL)
		h->next->prev = h->prev;
	h->prev = h->next = NULL;
	m->nheld--;
}

/* The sync thread's answer for a held chain: the chain goes out only now
 * that its record is durable; a failed sync refuses it (fail closed). */
static void mint_durable(void *arg, int code)
{
	struct held_mint *h = arg;
	struct attestd_monitor *m = h->m;

	if (m != NULL) {
		held_unlink(m, h);
		/* a front that was restarted meanwhile lost its client */
		if (h->gen == m->gen && m->chan >= 0)
			issue_done(m, h->tag, code, &h->res);
	}
	mint_result_clear(&h->res);
	free(h);
}

static void parked_made(void *arg, const char *name, int code);

/* Park the request (1) when its agent needs a session issuer the renewal
 * thread can make; 0: it runs now. raw: the order's bytes. */
static int park(struct attestd_monitor *m, uint32_t tag, int fd, const struct mint_order *o,
		const uint8_t *raw, size_t len)
{
	struct agent *a = attestd_mint_wants_issuer(m->d, o);
	struct parked_mint *p, **tail;

	if (a == NULL || m->d->renew == NULL || m->nparked >= PARKED_MAX)
		return 0;
	if ((p = calloc(1, sizeof(*p))) == NULL || (p->order = malloc(len ? len : 1)) == NULL ||
	    (p->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) {
		if (p != NULL)
			free(p->order);
		free(p);
		attest_errclear();
		return 0;
	}
	if (attestd_renew_demand(m->d->renew, a) != ATTEST_OK) {
		/* renewal cannot make it (agent CA to re-issue, queue full):
		 * the request makes it itself, as before */
		attest_errclear();
		close(p->fd);
		free(p->order);
		free(p);
		return 0;
	}
	attestd_renew_on_made(m->d->renew, parked_made, m);
	memcpy(p->order, raw, len);
	p->len = len;
	p->gen = m->gen;
	p->tag = tag;
	snprintf(p->name, sizeof(p->name), "%s", o->name);
	for (tail = &m->parked; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = p; /* first come, first resumed */
	m->nparked++;
	return 1;
}

static void mint_tagged_run(struct attestd_monitor *m, uint32_t tag, int fd,
			    const struct mint_order *o, const uint8_t *raw, size_t rawlen);

static void parked_free(struct parked_mint *p)
{
	if (p->fd >= 0)
		close(p->fd);
	free(p->order);
	free(p);
}

/* The renewal thread ended a job for agent name: its parked requests run
 * now, in arrival order. One that finds no issuer still (the job failed or
 * was dropped: revoked, re-issued agent CA) goes the synchronous way,
 * where it is refused or makes one; none parks again. */
static void parked_made(void *arg, const char *name, int code)
{
	struct attestd_monitor *m = arg;
	struct parked_mint *mine = NULL, **tail = &mine, **pp = &m->parked;

	(void)code;
	while (*pp != NULL) {
		struct parked_mint *p = *pp;

		if (strcmp(p->name, name) != 0) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		p->next = NULL;
		*tail = p;
		tail = &p->next;
		m->nparked--;
	}
	while (mine != NULL) {
		struct parked_mint *p = mine;
		struct mint_order *o;
		struct attest_cur c;

		mine = p->next;
		attest_errclear();
		/* a front restarted meanwhile lost its client */
		if (p->gen == m->gen && m->chan >= 0) {
			if ((o = calloc(1, sizeof(*o))) == NULL) {
				issue_done(m, p->tag, attest_fail(ATTEST_E_NOMEM, "order"), NULL);
			} else {
				attest_cur_init(&c, p->order, p->len);
				if (mint_order_get(&c, o) != ATTEST_OK)
					issue_done(m, p->tag, attest_fail(ATTEST_E_INTERNAL,
									  "parked order"), NULL);
				else
					mint_tagged_run(m, p->tag, p->fd, o, NULL, 0);
				free(o);
			}
		}
		parked_free(p);
	}
}

/* MON_ISSUE_TAGGED: as MON_ISSUE, but the answer (MON_ISSUE_DONE) waits
 * for the sync thread while the loop takes the next requests. */
static int do_mint_tagged(struct attestd_monitor *m, struct attest_cur *c, int fd)
{
	struct mint_order *o = NULL;
	const uint8_t *raw;
	size_t rawlen;
	uint32_t tag;
	int r;

	if (!mon_get_u32(c, &tag))
		return attest_fail(ATTEST_E_PARSE, "issue tag missing");
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		issue_done(m, tag, attest_fail(ATTEST_E_NOMEM, "order"), NULL);
		return ATTEST_OK;
	}
	raw = c->base + c->pos;
	rawlen = c->len - c->pos;
	if ((r = mint_order_get(c, o)) != ATTEST_OK) {
		free(o);
		return r; /* malformed: a protocol violation */
	}
	mint_tagged_run(m, tag, fd, o, raw, rawlen);
	free(o);
	return ATTEST_OK;
}

/* The checks, then parked (raw != NULL and the agent's issuer is to be
 * made) or minted; the answer goes when the record is durable. */
static void mint_tagged_run(struct attestd_monitor *m, uint32_t tag, int fd,
			    const struct mint_order *o, const uint8_t *raw, size_t rawlen)
{
	struct attestd *d = m->d;
	struct attestd_peer peer = { .pidfd = -1, .fd = -1 };
	struct mint_result res = { 0 };
	struct held_mint *h = NULL;
	int r;

	attest_errclear();
	if (m->nheld >= HELD_MAX)
		r = attest_fail(ATTEST_E_BUSY, "%d issuances wait for the audit log", HELD_MAX);
	else if ((h = calloc(1, sizeof(*h))) == NULL)
		r = attest_fail(ATTEST_E_NOMEM, "held issuance");
	else if ((r = conn_peer(m, fd, &peer)) == ATTEST_OK &&
		 (r = attestd_host_tpm(&d->host)) == ATTEST_OK &&
		 (r = attestd_issuance_allowed(d)) == ATTEST_OK) {
		/* parked only once the caller passed every check: no TPM work
		 * for a process that is not the agent */
		if (raw != NULL && attestd_mint_wants_issuer(d, o) != NULL &&
		    (r = attestd_mint_precheck(d, &peer, o)) == ATTEST_OK &&
		    park(m, tag, fd, o, raw, rawlen)) {
			if (peer.pidfd >= 0)
				close(peer.pidfd);
			free(h);
			return;
		}
		if (r == ATTEST_OK)
			r = attestd_mint(d, &peer, o, &res);
	}
	if (r != ATTEST_OK) {
		char why[512];

		snprintf(why, sizeof(why), "%s", attest_errdetail());
		attestd_host_tpm_failed(&d->host, r);
		if (peer.pid > 0)
			attestd_audit_refusal(&d->log, &peer, "issue",
					      attest_valid_hostname(o->name) ? o->name : NULL, r);
		attest_fail(r, "%s", why);
		issue_done(m, tag, r, NULL);
		free(h);
	} else {
		/* the record is appended; the chain leaves once it is durable */
		h->m = m;
		h->gen = m->gen;
		h->tag = tag;
		h->res = res;
		h->next = m->held;
		if (m->held != NULL)
			m->held->prev = h;
		m->held = h;
		m->nheld++;
		if (attestd_audit_when_durable(&d->log, mint_durable, h) != ATTEST_OK) {
			held_unlink(m, h);
			issue_done(m, tag, ATTEST_E_NOMEM, NULL);
			mint_result_clear(&h->res);
			free(h);
		}
	}
	if (peer.pidfd >= 0)
		close(peer.pidfd);
}

/* MON_WORKLOAD_ISSUE: the leaf's key (DER SubjectPublicKeyInfo), with the
 * workload's connection. The monitor finds which agent the caller is
 * (workload_mon.h), then issues as for MON_ISSUE. */
static int do_workload_mint(struct attestd_monitor *m, struct attest_cur *c, int fd)
{
	struct attestd *d = m->d;
	struct attestd_peer peer = { .pidfd = -1, .fd = -1 };
	struct mint_result res = { 0 };
	struct mon_out out;
	const uint8_t *spki;
	size_t spki_len;
	int r;

	if (!mon_get_bytes(c, MINT_SPKI_MAX, &spki, &spki_len) || !mon_get_end(c))
		return attest_fail(ATTEST_E_PARSE, "workload issue malformed");
	attest_errclear();
	if ((r = workload_peer(m, fd, &peer)) == ATTEST_OK &&
	    (r = attestd_host_tpm(&d->host)) == ATTEST_OK &&
	    (r = attestd_issuance_allowed(d)) == ATTEST_OK &&
	    (r = attestd_workload_mint(d, &peer, spki, spki_len, &res)) == ATTEST_OK)
		r = attestd_audit_commit(&d->log);
	if (r != ATTEST_OK) {
		char why[512];

		snprintf(why, sizeof(why), "%s", attest_errdetail());
		attestd_host_tpm_failed(&d->host, r);
		if (peer.pid > 0)
			attestd_audit_refusal(&d->log, &peer, "issue", NULL, r);
		attest_fail(r, "%s", why);
		r = reply_error(m, r);
	} else {
		mon_out_init(&out, MON_REPLY);
		mon_put_u32(&out, ATTEST_OK);
		mint_result_put(&out, &res);
		r = mon_send(m->chan, &out, -1);
		mon_out_free(&out);
	}
	if (peer.pidfd >= 0)
		close(peer.pidfd);
	mint_result_clear(&res);
	return r;
}

static int do_workload_info(struct attestd_monitor *m, struct attest_cur *c)
{
	struct mon_out out;
	int r;

	if (!mon_get_end(c))
		return attest_fail(ATTEST_E_PARSE, "workload info request malformed");
	mon_out_init(&out, MON_REPLY);
	mon_put_u32(&out, ATTEST_OK);
	mon_put_str(&out, m->d->host.trust_domain);
	r = mon_send(m->chan, &out, -1);
	mon_out_free(&out);
	return r;
}

/* MON_FEDERATION: the federated trust domains (STATE/federation.json). */
static int do_federation(struct attestd_monitor *m, struct attest_cur *c)
{
	struct fed_list l;
	struct mon_out out;
	int r;

	if (!mon_get_end(c))
		return attest_fail(ATTEST_E_PARSE, "federation request malformed");
	attest_errclear();
	if ((r = fed_list_load(m->d->host.state, &l)) != ATTEST_OK)
		return reply_error(m, r);
	mon_out_init(&out, MON_REPLY);
	mon_put_u32(&out, ATTEST_OK);
	fed_list_put(&out, &l);
	r = mon_send(m->chan, &out, -1);
	mon_out_free(&out);
	fed_list_clear(&l);
	return r;
}

/* The change to l that q asks for, checked here (the front checked it
 * too; nothing of it is taken on trust). */
static int federate_change(struct attestd_monitor *m, uint8_t action, struct fed_conf *q,
			   struct fed_list *l)
{
	uint32_t at = l->n;
	int r;

	if (!fed_td_ok(q->td))
		return attest_fail(ATTEST_E_PARSE, "trust domain must be 1-%d of [a-z0-9.-_]",
				   FED_TD_MAX);
	for (uint32_t i = 0; i < l->n; i++)
		if (strcmp(l->e[i].td, q->td) == 0)
			at = i;
	if (action == 0) {
		if (at == l->n)
			return attest_fail(ATTEST_E_NOT_FOUND, "trust domain %s is not federated",
					   q->td);
		free(l->e[at].ca);
		l->e[at] = l->e[--l->n];
		memset(&l->e[l->n], 0, sizeof(l->e[l->n]));
		return ATTEST_OK;
	}
	if ((r = fed_conf_check(q)) != ATTEST_OK)
		return r;
	if (strcmp(q->td, m->d->host.trust_domain) == 0)
		return attest_fail(ATTEST_E_PARSE, "%s is this fleet's own trust domain", q->td);
	if (at == l->n && l->n == FED_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "at most %d federated trust domains",
				   FED_MAX);
	if (at < l->n)
		free(l->e[at].ca); /* replaced: a new URL or CA */
	else
		l->n++;
	l->e[at] = *q;
	q->ca = NULL; /* the list's now */
	return ATTEST_OK;
}

/* MON_FEDERATE, with an admin connection (root on the admin socket): u8
 * action (0 remove, 1 add or replace, 2 list), trust domain, URL, CA PEM.
 * A change is audited, then written (STATE/federation.json); the answer
 * is the list. */
static int do_federate(struct attestd_monitor *m, struct attest_cur *c, int fd)
{
	struct attestd_peer peer = { .pidfd = -1, .fd = -1 };
	struct fed_conf q = { 0 };
	struct fed_list l = { 0 };
	struct attest_audit_event ev = { 0 };
	struct mon_out out;
	const uint8_t *ca;
	size_t n;
	uint8_t action;
	int r;

	if (!mon_get_u8(c, &action) || action > 2 || !mon_get_str(c, q.td, sizeof(q.td)) ||
	    !mon_get_str(c, q.url, sizeof(q.url)) || !mon_get_bytes(c, FED_CA_MAX, &ca, &n) ||
	    !mon_get_end(c))
		return attest_fail(ATTEST_E_PARSE, "federate request malformed");
	attest_errclear();
	if ((r = admin_peer(m, fd, &peer)) != ATTEST_OK)
		goto out;
	if (n > 0) {
		if ((q.ca = malloc(n)) == NULL) {
			r = attest_fail(ATTEST_E_NOMEM, "federation");
			goto out;
		}
		memcpy(q.ca, ca, n);
		q.ca_len = n;
	}
	if ((r = fed_list_load(m->d->host.state, &l)) != ATTEST_OK)
		goto out;
	if (action != 2) {
		char resource[FED_TD_MAX + 16];

		if ((r = federate_change(m, action, &q, &l)) != ATTEST_OK)
			goto out;
		snprintf(resource, sizeof(resource), "spiffe://%s", q.td);
		ev.type = action == 1 ? "federate" : "unfederate";
		ev.source = "admin socket (root)";
		ev.resource = resource;
		ev.action = action == 1 ? q.url : NULL;
		ev.outcome = "ok";
		if (action == 1)
			for (uint32_t i = 0; i < l.n; i++)
				if (strcmp(l.e[i].td, q.td) == 0)
					ev.action = l.e[i].url;
		if ((r = attestd_audit(&m->d->log, &ev)) != ATTEST_OK ||
		    (r = attestd_audit_commit(&m->d->log)) != ATTEST_OK ||
		    (r = fed_list_save(m->d->host.state, &l)) != ATTEST_OK)
			goto out;
		attestd_log("federation: spiffe://%s %s by root on the admin socket", q.td,
			    action == 1 ? "added" : "removed");
	}
	mon_out_init(&out, MON_REPLY);
	mon_put_u32(&out, ATTEST_OK);
	fed_list_put(&out, &l);
	r = mon_send(m->chan, &out, -1);
	mon_out_free(&out);
	goto done;
out:
	r = reply_error(m, r);
done:
	if (peer.pidfd >= 0)
		close(peer.pidfd);
	free(q.ca);
	fed_list_clear(&l);
	return r;
}

/* MON_WORKLOAD_JWT: u32 audience count, the audiences, the SPIFFE ID
 * asked for ("": any), with the workload's connection. */
static int do_workload_jwt(struct attestd_monitor *m, struct attest_cur *c, int fd)
{
	struct attestd *d = m->d;
	struct attestd_peer peer = { .pidfd = -1, .fd = -1 };
	struct jwt_order *o = calloc(1, sizeof(*o));
	char id[MINT_ID_MAX + 1], *token = NULL;
	struct mon_out out;
	int r;

	if (o == NULL)
		return reply_error(m, attest_fail(ATTEST_E_NOMEM, "order"));
	if (!mon_get_u32(c, &o->naud) || o->naud < 1 || o->naud > JWT_AUD_MAX)
		goto bad;
	for (uint32_t i = 0; i < o->naud; i++)
		if (!mon_get_str(c, o->aud[i], sizeof(o->aud[i])) || o->aud[i][0] == '\0')
			goto bad;
	if (!mon_get_str(c, o->want_id, sizeof(o->want_id)) || !mon_get_end(c))
		goto bad;
	attest_errclear();
	if ((r = workload_peer(m, fd, &peer)) == ATTEST_OK &&
	    (r = attestd_issuance_allowed(d)) == ATTEST_OK &&
	    (m->jwt != NULL || (r = workload_jwt_new(&m->jwt)) == ATTEST_OK) &&
	    (r = workload_jwt_mint(m->jwt, d, &peer, o, id, &token)) == ATTEST_OK)
		/* the token's record is durable before the token leaves */
		r = attestd_audit_commit(&d->log);
	if (r != ATTEST_OK) {
		char why[512];

		snprintf(why, sizeof(why), "%s", attest_errdetail());
		attestd_host_tpm_failed(&d->host, r);
		if (peer.pid > 0)
			attestd_audit_refusal(&d->log, &peer, "issue", NULL, r);
		attest_fail(r, "%s", why);
		r = reply_error(m, r);
	} else {
		mon_out_init(&out, MON_REPLY);
		mon_put_u32(&out, ATTEST_OK);
		mon_put_str(&out, id);
		mon_put_str(&out, token);
		r = mon_send(m->chan, &out, -1);
		mon_out_free(&out);
	}
	if (peer.pidfd >= 0)
		close(peer.pidfd);
	free(token);
	free(o);
	return r;
bad:
	free(o);
	return attest_fail(ATTEST_E_PARSE, "workload JWT order malformed");
}

static int do_workload_jwks(struct attestd_monitor *m, struct attest_cur *c)
{
	struct mon_out out;
	int r;

	if (!mon_get_end(c))
		return attest_fail(ATTEST_E_PARSE, "JWKS request malformed");
	attest_errclear();
	if (m->jwt == NULL && (r = workload_jwt_new(&m->jwt)) != ATTEST_OK)
		return reply_error(m, r);
	mon_out_init(&out, MON_REPLY);
	mon_put_u32(&out, ATTEST_OK);
	if ((r = workload_jwt_bundle_put(m->jwt, m->d, &out)) != ATTEST_OK) {
		mon_out_free(&out);
		attestd_host_tpm_failed(&m->d->host, r);
		return reply_error(m, r);
	}
	r = mon_send(m->chan, &out, -1);
	mon_out_free(&out);
	return r;
}

static int do_agent_info(struct attestd_monitor *m, struct attest_cur *c)
{
	char name[ATTEST_MAX_NAME + 1], id[MINT_ID_MAX + 1];
	X509 *ca = NULL;
	unsigned char *der = NULL;
	struct mon_out out;
	int n, r;

	if (!mon_get_str(c, name, sizeof(name)) || !mon_get_end(c))
		return attest_fail(ATTEST_E_PARSE, "agent info request malformed");
	if ((r = attestd_agent_info(m->d, name, id, &ca)) != ATTEST_OK)
		return reply_error(m, r);
	n = i2d_X509(ca, &der);
	X509_free(ca);
	if (n <= 0)
		return reply_error(m, attest_fail_ossl(ATTEST_E_CRYPTO, "agent CA encoding"));
	mon_out_init(&out, MON_REPLY);
	mon_put_u32(&out, ATTEST_OK);
	mon_put_str(&out, id);
	mon_put_bytes(&out, der, (size_t)n);
	OPENSSL_free(der);
	r = mon_send(m->chan, &out, -1);
	mon_out_free(&out);
	return r;
}

/* A refusal the front made: recorded as the front says (a compromised
 * front can only add refusal records, which are aggregated per source). */
static int do_refusal(struct attestd_monitor *m, struct attest_cur *c)
{
	char op[16], agent[ATTEST_MAX_NAME + 1];
	uint32_t uid, code;
	int64_t pid;
	struct attestd_peer peer = { .pidfd = -1, .fd = -1 };

	if (!mon_get_u32(c, &uid) || !mon_get_i64(c, &pid) || pid < 1 || pid > INT32_MAX ||
	    !mon_get_str(c, op, sizeof(op)) || strcmp(attestd_known_op(op), op) != 0 ||
	    !mon_get_str(c, agent, sizeof(agent)) || (agent[0] && !attest_valid_hostname(agent)) ||
	    !mon_get_u32(c, &code) || code == 0 || code >= ATTEST_E__COUNT || !mon_get_end(c))
		return attest_fail(ATTEST_E_PARSE, "refusal malformed");
	peer.uid = uid;
	peer.pid = (pid_t)pid;
	attestd_audit_refusal(&m->d->log, &peer, op, agent[0] ? agent : NULL, (int)code);
	return ATTEST_OK; /* no answer */
}

static const char *admin_op_name(uint32_t op)
{
	switch (op) {
	case ADMIN_REGISTER: return "register";
	case ADMIN_REVOKE: return "revoke";
	case ADMIN_REMOVE: return "remove";
	case ADMIN_LIST: return "list";
	case ADMIN_SHOW: return "show";
	default: return "stats";
	}
}

/* A typed admin request with its connection: the peer checked here, then
 * carried out, audited and durable before the answer. */
static int do_admin(struct attestd_monitor *m, struct attest_cur *c, int fd)
{
	struct attestd *d = m->d;
	struct attestd_peer peer = { .pidfd = -1, .fd = -1 };
	struct admin_req *q = calloc(1, sizeof(*q));
	struct admin_result res = { 0 };
	struct mon_out out;
	int r;

	if (q == NULL)
		return reply_error(m, attest_fail(ATTEST_E_NOMEM, "admin request"));
	if ((r = admin_req_get(c, q)) != ATTEST_OK) {
		free(q);
		return r; /* malformed: a protocol violation */
	}
	attest_errclear();
	if ((r = admin_peer(m, fd, &peer)) == ATTEST_OK && (r = admin_run(d, q, &res)) == ATTEST_OK)
		r = attestd_audit_commit(&d->log);
	if (r != ATTEST_OK) {
		const char *agent = q->op == ADMIN_REGISTER ? q->reg.name : q->name;
		char why[512];

		snprintf(why, sizeof(why), "%s", attest_errdetail());
		attestd_host_tpm_failed(&d->host, r);
		if (peer.pid > 0) {
			char key[96];

			snprintf(key, sizeof(key), "refused uid=%u %s %s", (unsigned)peer.uid,
				 admin_op_name(q->op), attest_errname(r));
			attestd_log_rl(key, "refused %s from pid=%d uid=%u: %s [%s]: %s",
				       admin_op_name(q->op), (int)peer.pid, (unsigned)peer.uid,
				       attest_strerror(r), attest_errname(r), why);
			attestd_audit_refusal(&d->log, &peer, admin_op_name(q->op),
					      attest_valid_hostname(agent) ? agent : NULL, r);
			if (attestd_audit_commit(&d->log) != ATTEST_OK)
				attestd_log("audit: %s", attest_errdetail());
		}
		attest_fail(r, "%s", why);
		r = reply_error(m, r);
	} else {
		mon_out_init(&out, MON_REPLY);
		mon_put_u32(&out, ATTEST_OK);
		admin_result_put(&out, &res);
		r = mon_send(m->chan, &out, -1);
		mon_out_free(&out);
	}
	if (peer.pidfd >= 0)
		close(peer.pidfd);
	admin_result_clear(&res);
	free(q);
	return r;
}

/* The end of a push a front asked for (push.c): to that front, after the
 * round's audit record is durable. tag: the front's generation and the
 * token. */
static void attest_done(void *arg, uint64_t tag, int code, const char *detail,
			const struct attest_push_answer *a, int renewed)
{
	struct attestd_monitor *m = arg;
	struct mon_out out;

	if ((uint32_t)(tag >> 32) != m->gen || m->chan < 0)
		return; /* that front is gone, and its admin client with it */
	if (attestd_audit_commit(&m->d->log) != ATTEST_OK) {
		code = ATTEST_E_IO;
		detail = attest_errdetail();
		a = NULL;
	}
	mon_out_init(&out, MON_ATTEST_DONE);
	mon_put_u32(&out, (uint32_t)tag);
	mon_put_u32(&out, (uint32_t)code);
	mon_put_str(&out, code == ATTEST_OK ? "" : detail);
	mon_put_str(&out, a != NULL ? a->state : "");
	mon_put_str(&out, a != NULL ? a->reason_name : "");
	mon_put_str(&out, a != NULL ? a->refset : "");
	mon_put_u8(&out, a != NULL && a->reboot);
	mon_put_u8(&out, a != NULL && renewed);
	if (mon_send(m->chan, &out, -1) != ATTEST_OK)
		attestd_log("push verdict not sent to the front: %s", attest_errdetail());
	mon_out_free(&out);
}

static int do_attest(struct attestd_monitor *m, struct attest_cur *c, int fd)
{
	struct attestd_peer peer = { .pidfd = -1, .fd = -1 };
	struct mon_out out;
	uint8_t renew;
	uint32_t token = m->token + 1;
	int r;

	if (!mon_get_u8(c, &renew) || renew > 1 || !mon_get_end(c))
		return attest_fail(ATTEST_E_PARSE, "attest request malformed");
	attest_errclear();
	r = admin_peer(m, fd, &peer);
	if (peer.pidfd >= 0)
		close(peer.pidfd);
	if (r == ATTEST_OK)
		r = attestd_push_demand_typed(m->d->push, renew, attest_done, m,
					      ((uint64_t)m->gen << 32) | token);
	if (r != ATTEST_OK)
		return reply_error(m, r);
	m->token = token;
	mon_out_init(&out, MON_REPLY);
	mon_put_u32(&out, ATTEST_OK);
	mon_put_u32(&out, token);
	r = mon_send(m->chan, &out, -1);
	mon_out_free(&out);
	return r;
}

static void on_chan(evutil_socket_t fd, short what, void *arg)
{
	struct attestd_monitor *m = arg;
	struct attest_cur c;
	size_t len;
	uint32_t op;
	int passed = -1, r;

	(void)fd;
	(void)what;
	attest_errclear();
	r = mon_recv(m->chan, m->buf, &len, &passed);
	if (r == ATTEST_E_IO && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (r == ATTEST_E_STATE) { /* the front closed: on_child reaps it */
		chan_close(m);
		return;
	}
	if (r != ATTEST_OK) {
		front_violation(m, attest_errdetail());
		return;
	}
	attest_cur_init(&c, m->buf, len);
	if (!mon_get_u32(&c, &op)) {
		r = attest_fail(ATTEST_E_PARSE, "message without an op");
	} else if ((op == MON_ISSUE || op == MON_ISSUE_TAGGED || op == MON_ADMIN || op == MON_ATTEST ||
		    op == MON_FEDERATE ||
		    ((op == MON_WORKLOAD_ISSUE || op == MON_WORKLOAD_JWT) && m->workload_fd >= 0)) !=
		   (passed >= 0)) {
		r = attest_fail(ATTEST_E_PARSE, "op %u with%s a descriptor", op,
				passed >= 0 ? "" : "out");
	} else {
		switch (op) {
		case MON_ISSUE:
			r = do_mint(m, &c, passed);
			break;
		case MON_ISSUE_TAGGED:
			r = do_mint_tagged(m, &c, passed);
			break;
		case MON_AGENT_INFO:
			r = do_agent_info(m, &c);
			break;
		case MON_ADMIN:
			r = do_admin(m, &c, passed);
			break;
		case MON_ATTEST:
			r = do_attest(m, &c, passed);
			break;
		case MON_PUSH_DONE:
			r = do_push_done(m, &c);
			break;
		case MON_PUSH_CONFIG:
			r = do_push_config(m, &c);
			break;
		case MON_WORKLOAD_ISSUE:
			r = passed >= 0 ? do_workload_mint(m, &c, passed)
					: attest_fail(ATTEST_E_PARSE, "no workload socket");
			break;
		case MON_WORKLOAD_JWT:
			r = passed >= 0 ? do_workload_jwt(m, &c, passed)
					: attest_fail(ATTEST_E_PARSE, "no workload socket");
			break;
		case MON_WORKLOAD_JWKS:
			r = m->workload_fd >= 0 ? do_workload_jwks(m, &c)
						: attest_fail(ATTEST_E_PARSE, "no workload socket");
			break;
		case MON_WORKLOAD_INFO:
			r = m->workload_fd >= 0 ? do_workload_info(m, &c)
						: attest_fail(ATTEST_E_PARSE, "no workload socket");
			break;
		case MON_FEDERATION:
			r = do_federation(m, &c);
			break;
		case MON_FEDERATE:
			r = do_federate(m, &c, passed);
			break;
		case MON_REFUSAL:
			r = do_refusal(m, &c);
			break;
		case MON_TRUST:
			r = mon_get_end(&c) ? mon_send(m->chan, &m->d->front_trust, -1)
					    : attest_fail(ATTEST_E_PARSE, "trust request malformed");
			break;
		default:
			r = attest_fail(ATTEST_E_PARSE, "unknown op %u", op);
			break;
		}
	}
	if (passed >= 0)
		close(passed);
	if (r != ATTEST_OK) {
		char why[300];

		snprintf(why, sizeof(why), "sent a request outside the protocol (%s)",
			 attest_errdetail());
		front_violation(m, why);
	}
}

/* ---------- start and stop ---------- */

int attestd_monitor_start(struct event_base *base, struct attestd *d,
			  const struct attestd_monitor_config *cfg, struct attestd_monitor **out)
{
	struct attestd_monitor *m = calloc(1, sizeof(*m));
	int r;

	*out = NULL;
	if (m == NULL || (m->buf = malloc(MON_MSG_MAX)) == NULL) {
		free(m);
		return attest_fail(ATTEST_E_NOMEM, "monitor");
	}
	m->d = d;
	m->base = base;
	m->agent_fd = cfg->agent_fd;
	m->admin_fd = cfg->admin_fd;
	m->front_argv = cfg->front_argv;
	m->front_exe = cfg->front_exe;
	m->front = -1;
	m->chan = -1;
	if (strlen(cfg->agent_path) >= sizeof(m->agent_path) ||
	    strlen(cfg->admin_path) >= sizeof(m->admin_path)) {
		attestd_monitor_stop(m);
		return attest_fail(ATTEST_E_INVALID_ARG, "socket path too long");
	}
	memcpy(m->agent_path, cfg->agent_path, strlen(cfg->agent_path) + 1);
	memcpy(m->admin_path, cfg->admin_path, strlen(cfg->admin_path) + 1);
	if (cfg->push_url != NULL) {
		/* the pin is public; the front cannot open files outside /proc */
		if (strlen(cfg->push_url) > ATTEST_PUSH_URL_MAX ||
		    (r = attest_file_read(cfg->push_ca_file, 1024 * 1024, &m->push_ca,
					  &m->push_ca_len)) != ATTEST_OK) {
			char why[300];

			snprintf(why, sizeof(why), "%s", attest_errdetail());
			attestd_monitor_stop(m);
			return attest_fail(ATTEST_E_INVALID_ARG, "--verifier-ca %s: %s",
					   cfg->push_ca_file, why);
		}
		memcpy(m->push_url, cfg->push_url, strlen(cfg->push_url) + 1);
		m->push_timeout_ms = cfg->push_timeout_ms;
	}
	m->workload_fd = cfg->workload_fd;
	if (cfg->workload_fd >= 0) {
		if (cfg->workload_path == NULL ||
		    strlen(cfg->workload_path) >= sizeof(m->workload_path)) {
			attestd_monitor_stop(m);
			return attest_fail(ATTEST_E_INVALID_ARG, "workload socket path too long");
		}
		memcpy(m->workload_path, cfg->workload_path, strlen(cfg->workload_path) + 1);
	}
	if ((m->child_ev = evsignal_new(base, SIGCHLD, on_child, m)) == NULL ||
	    (m->respawn_ev = evtimer_new(base, on_respawn, m)) == NULL ||
	    event_add(m->child_ev, NULL) != 0) {
		attestd_monitor_stop(m);
		return attest_fail(ATTEST_E_NOMEM, "monitor events");
	}
	if ((r = spawn(m)) != ATTEST_OK) {
		attestd_monitor_stop(m);
		return r;
	}
	*out = m;
	return ATTEST_OK;
}

void attestd_monitor_stop(struct attestd_monitor *m)
{
	if (m == NULL)
		return;
	/* requests waiting for an issuer: dropped (their clients see the
	 * connection close) */
	if (m->d != NULL)
		attestd_renew_on_made(m->d->renew, NULL, NULL);
	while (m->parked != NULL) {
		struct parked_mint *p = m->parked;

		m->parked = p->next;
		parked_free(p);
	}
	/* chains still held: dropped when the sync thread answers */
	while (m->held != NULL) {
		struct held_mint *h = m->held;

		held_unlink(m, h);
		h->m = NULL;
	}
	chan_close(m);
	if (m->front > 0) {
		int status;

		kill(m->front, SIGTERM);
		for (int i = 0; i < 200 && waitpid(m->front, &status, WNOHANG) == 0; i++)
			usleep(10000);
		if (waitpid(m->front, &status, WNOHANG) == 0) {
			kill(m->front, SIGKILL);
			(void)waitpid(m->front, &status, 0);
		}
	}
	if (m->child_ev != NULL)
		event_free(m->child_ev);
	if (m->respawn_ev != NULL)
		event_free(m->respawn_ev);
	workload_jwt_free(m->jwt);
	free(m->push_ca);
	free(m->buf);
	free(m);
}

int attestd_monitor_failed(const struct attestd_monitor *m) { return m != NULL && m->failed; }
