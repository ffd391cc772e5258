/* front.c - attestd's unprivileged front (monitor.h): the agent socket,
 * its frames and JSON, CSRs and intent chains, with every secret-needing
 * step asked of the monitor over the channel. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <seccomp.h>

#include "attest/intent.h"
#include "core/err.h"
#include "core/json.h"
#include "core/num.h"
#include "dispatch.h"
#include "issue.h"
#include "log.h"
#include "monitor.h"
#include "monproto.h"
#include "nodump.h"
#include "server.h"

#define CHAN_FD 3
#define AGENT_FD 4
#define RPC_TIMEOUT_MS 120000

struct front {
	struct event_base *base;
	int chan;
	uint8_t *buf; /* MON_MSG_MAX */
	struct attest_intent_trust *trust;
	struct issue_backend backend;
	int recorded; /* the monitor recorded this request's refusal itself */
};

/* ---------- the channel ---------- */

/* Send req (with fd when >= 0), wait for the answer: ATTEST_OK and *body
 * positioned after the code, or the monitor's code with its detail. */
static int rpc(struct front *f, const struct mon_out *req, int fd, struct attest_cur *body)
{
	struct pollfd p = { f->chan, POLLIN, 0 };
	char detail[1024];
	size_t len;
	uint32_t op, code;
	int passed = -1, r, n;

	if ((r = mon_send(f->chan, req, fd)) != ATTEST_OK)
		goto gone;
	do
		n = poll(&p, 1, RPC_TIMEOUT_MS);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		r = attest_fail(ATTEST_E_IO, "the monitor did not answer within %d s",
				RPC_TIMEOUT_MS / 1000);
		goto gone;
	}
	if ((r = mon_recv(f->chan, f->buf, &len, &passed)) != ATTEST_OK)
		goto gone;
	attest_cur_init(body, f->buf, len);
	if (passed >= 0 || !mon_get_u32(body, &op) || op != MON_REPLY ||
	    !mon_get_u32(body, &code) || code >= ATTEST_E__COUNT) {
		if (passed >= 0)
			close(passed);
		r = attest_fail(ATTEST_E_INTERNAL, "the monitor's answer is malformed");
		goto gone;
	}
	if (code == ATTEST_OK)
		return ATTEST_OK;
	if (!mon_get_str(body, detail, sizeof(detail)) || !mon_get_end(body))
		snprintf(detail, sizeof(detail), "(no detail)");
	return attest_fail((int)code, "%s", detail);
gone:
	/* without its monitor the front can do nothing: it stops once this
	 * request is answered (fail closed) */
	attestd_log("monitor channel: %s; stopping", attest_errdetail());
	event_base_loopbreak(f->base);
	return r;
}

static int rpc_agent_info(void *ctx, const char *name, char id[MINT_ID_MAX + 1], X509 **agent_ca)
{
	struct front *f = ctx;
	struct mon_out req;
	struct attest_cur c;
	const uint8_t *der;
	size_t n;
	int r;

	*agent_ca = NULL;
	mon_out_init(&req, MON_AGENT_INFO);
	mon_put_str(&req, name);
	r = rpc(f, &req, -1, &c);
	mon_out_free(&req);
	if (r != ATTEST_OK)
		return r;
	if (!mon_get_str(&c, id, MINT_ID_MAX + 1) || !mon_get_bytes(&c, MON_MSG_MAX, &der, &n) ||
	    !mon_get_end(&c) || (*agent_ca = d2i_X509(NULL, &der, (long)n)) == NULL)
		return attest_fail(ATTEST_E_INTERNAL, "the monitor's agent info is malformed");
	return ATTEST_OK;
}

static int rpc_mint(void *ctx, const struct attestd_peer *peer, const struct mint_order *o,
		    struct mint_result *res)
{
	struct front *f = ctx;
	struct mon_out req;
	struct attest_cur c;
	int r;

	mon_out_init(&req, MON_ISSUE);
	mint_order_put(&req, o);
	r = rpc(f, &req, peer->fd, &c);
	mon_out_free(&req);
	if (r != ATTEST_OK) {
		f->recorded = 1; /* the monitor records the refusals it makes */
		return r;
	}
	return mint_result_get(&c, res);
}

static void rpc_refusal(void *arg, const struct attestd_peer *peer, const char *op,
			const char *agent, int code)
{
	struct front *f = arg;
	struct mon_out m;

	mon_out_init(&m, MON_REFUSAL);
	mon_put_u32(&m, peer->uid);
	mon_put_i64(&m, peer->pid);
	mon_put_str(&m, op);
	mon_put_str(&m, agent);
	mon_put_u32(&m, (uint32_t)code);
	if (mon_send(f->chan, &m, -1) != ATTEST_OK)
		attestd_log("refusal not sent to the monitor: %s", attest_errdetail());
	mon_out_free(&m);
}

/* The trust the monitor loaded: the fleet root, then the issuers. */
static int load_trust(struct front *f)
{
	struct mon_out req;
	struct attest_cur c;
	const uint8_t *der;
	size_t n;
	uint32_t more;
	X509 *root = NULL;
	int r;

	mon_out_init(&req, MON_TRUST);
	r = rpc(f, &req, -1, &c);
	mon_out_free(&req);
	if (r != ATTEST_OK || (r = attest_intent_trust_new(&f->trust)) != ATTEST_OK)
		return r;
	if (!mon_get_bytes(&c, MON_MSG_MAX, &der, &n))
		return attest_fail(ATTEST_E_INTERNAL, "trust message malformed");
	if (n > 0 && ((root = d2i_X509(NULL, &der, (long)n)) == NULL ||
		      (r = attest_intent_trust_set_root(f->trust, root)) != ATTEST_OK)) {
		X509_free(root);
		return r != ATTEST_OK ? r : attest_fail(ATTEST_E_INTERNAL, "trust root malformed");
	}
	X509_free(root);
	/* the issuing CAs of the host's identity: delegations' x5c stop at
	 * the host CA (docs/intent.md "Size budget") */
	if (!mon_get_u32(&c, &more) || more > 8)
		return attest_fail(ATTEST_E_INTERNAL, "trust issuing CAs malformed");
	for (uint32_t i = 0; i < more; i++) {
		X509 *ic = NULL;

		if (!mon_get_bytes(&c, MON_MSG_MAX, &der, &n) ||
		    (ic = d2i_X509(NULL, &der, (long)n)) == NULL)
			return attest_fail(ATTEST_E_INTERNAL, "trust issuing CA malformed");
		r = attest_intent_trust_add_intermediate(f->trust, ic);
		X509_free(ic);
		if (r != ATTEST_OK)
			return r;
	}
	while (mon_get_u32(&c, &more) && more == 1) {
		char name[ATTEST_INTENT_ITEM_MAX + 1];
		EVP_PKEY *k = NULL;

		if (!mon_get_str(&c, name, sizeof(name)) || !mon_get_bytes(&c, MON_MSG_MAX, &der, &n) ||
		    (k = d2i_PUBKEY(NULL, &der, (long)n)) == NULL)
			return attest_fail(ATTEST_E_INTERNAL, "trust issuer malformed");
		r = attest_intent_trust_add_issuer(f->trust, name, k);
		EVP_PKEY_free(k);
		if (r != ATTEST_OK)
			return r;
	}
	if (more != 0xffffffffu || !mon_get_end(&c))
		return attest_fail(ATTEST_E_INTERNAL, "trust message malformed");
	return ATTEST_OK;
}

static void on_chan(evutil_socket_t fd, short what, void *arg)
{
	struct front *f = arg;

	(void)fd;
	(void)what;
	/* between requests the monitor says nothing: readable means it is
	 * gone (or broke the protocol) */
	attestd_log("the monitor closed the channel; stopping");
	event_base_loopbreak(f->base);
}

/* ---------- requests ---------- */

static cJSON *front_handle(void *ctx, const struct attestd_peer *peer, const cJSON *req)
{
	struct front *f = ctx;
	cJSON *reply = attestd_ok_reply();
	const char *op = NULL;
	int r;

	attest_errclear();
	f->recorded = 0;
	if (reply == NULL)
		return attestd_error_reply(ATTEST_E_NOMEM);
	if ((r = attest_json_str(req, "op", 16, &op)) == ATTEST_OK) {
		if (strcmp(op, "issue") == 0)
			r = attestd_issue(&f->backend, f->trust, peer, req, reply);
#ifdef ATTESTD_TEST_HOOKS
		else if (strcmp(op, "x-test-syscall") == 0)
			/* a test build's deliberate bad path: a socket the
			 * seccomp filter does not allow kills the front */
			r = socket(AF_INET, SOCK_DGRAM, 0) >= 0 ? ATTEST_OK : ATTEST_E_IO;
#endif
		else if (strcmp(attestd_known_op(op), "request") == 0)
			r = attest_fail(ATTEST_E_PARSE, "unknown op \"%.16s\"", op);
		else
			r = attest_fail(ATTEST_E_DENIED, "%s is for root on the admin socket", op);
	}
	if (r == ATTEST_OK)
		return reply;
	cJSON_Delete(reply);
	return attestd_refused(peer, req, r, f->recorded ? NULL : rpc_refusal, f);
}

/* ---------- confinement ---------- */

static int drop_privileges(const char *user)
{
	struct passwd *pw;

	if (geteuid() != 0) {
		attestd_log("not started as root: the front keeps uid %u", (unsigned)geteuid());
		return 0;
	}
	if ((pw = getpwnam(user)) == NULL || pw->pw_uid == 0) {
		attestd_log("--front-user %s: no such unprivileged user", user);
		return -1;
	}
	if (setgroups(0, NULL) != 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0) {
		attestd_log("cannot become %s: %s", user, strerror(errno));
		return -1;
	}
	/* and no way back: capabilities went with uid 0 */
	if (setuid(0) == 0 || seteuid(0) == 0) {
		attestd_log("could become root again after dropping privileges");
		return -1;
	}
	return 0;
}

/* What the front does once serving: the event loop, its sockets, reading
 * /proc (pinning callers), memory, time, and exiting. Anything else kills
 * it (SIGSYS; the monitor logs it and starts another). */
static int confine(void)
{
	static const int allowed[] = {
		SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
		SCMP_SYS(close), SCMP_SYS(recvmsg), SCMP_SYS(sendmsg), SCMP_SYS(recvfrom),
		SCMP_SYS(sendto), SCMP_SYS(accept4), SCMP_SYS(accept), SCMP_SYS(shutdown),
		SCMP_SYS(getsockopt), SCMP_SYS(setsockopt), SCMP_SYS(getsockname),
		SCMP_SYS(getpeername), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait),
		SCMP_SYS(epoll_ctl), SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(select),
		SCMP_SYS(pselect6), SCMP_SYS(fcntl), SCMP_SYS(fstat), SCMP_SYS(newfstatat),
		SCMP_SYS(statx), SCMP_SYS(lseek), SCMP_SYS(getdents64), SCMP_SYS(mmap),
		SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(mprotect), SCMP_SYS(madvise),
		SCMP_SYS(brk), SCMP_SYS(futex), SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep),
		SCMP_SYS(nanosleep), SCMP_SYS(gettimeofday), SCMP_SYS(time), SCMP_SYS(getpid),
		SCMP_SYS(gettid), SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid),
		SCMP_SYS(getegid), SCMP_SYS(getrandom), SCMP_SYS(rt_sigreturn),
		SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigaction), SCMP_SYS(sched_yield),
		SCMP_SYS(restart_syscall), SCMP_SYS(exit), SCMP_SYS(exit_group),
		SCMP_SYS(pidfd_open), SCMP_SYS(pidfd_send_signal), SCMP_SYS(waitid),
		SCMP_SYS(tgkill), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
		SCMP_SYS(prlimit64), SCMP_SYS(getrlimit), SCMP_SYS(eventfd2), SCMP_SYS(readlink),
		SCMP_SYS(readlinkat), SCMP_SYS(uname), SCMP_SYS(sysinfo), SCMP_SYS(getcwd),
	};
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int r = ctx == NULL ? -ENOMEM : 0;

	for (size_t i = 0; r == 0 && i < sizeof(allowed) / sizeof(allowed[0]); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
	/* files: read only (/proc of callers, /proc/self/fdinfo) */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ,
					     (scmp_datum_t)(O_ACCMODE | O_CREAT | O_TRUNC), 0));
	/* bytes waiting on a socket (libevent's buffers), nothing else */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)FIONREAD));
#if defined(__SANITIZE_ADDRESS__)
	/* sanitizer builds only (make asan): LeakSanitizer stops the world
	 * at exit with a traced clone of the process */
	{
		static const int lsan[] = { SCMP_SYS(clone), SCMP_SYS(clone3), SCMP_SYS(ptrace),
					    SCMP_SYS(wait4), SCMP_SYS(prctl), SCMP_SYS(sigaltstack),
					    SCMP_SYS(sched_getaffinity), SCMP_SYS(getppid),
					    SCMP_SYS(kill), SCMP_SYS(unshare), SCMP_SYS(dup),
					    SCMP_SYS(dup2), SCMP_SYS(dup3), SCMP_SYS(pipe2),
					    SCMP_SYS(open), SCMP_SYS(getdents) };

		for (size_t i = 0; r == 0 && i < sizeof(lsan) / sizeof(lsan[0]); i++)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, lsan[i], 0);
	}
#endif
	/* every thread (the descriptor closer too) */
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r != 0)
		attestd_log("seccomp: %s", strerror(-r));
	return r == 0 ? 0 : -1;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	attestd_log("signal %d: stopping", (int)sig);
	event_base_loopbreak(arg);
}

int attestd_front_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "front", no_argument, NULL, 'F' },
		{ "front-user", required_argument, NULL, 'u' },
		{ "max-clients", required_argument, NULL, 'm' },
		{ "frame-timeout", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *user = "nobody";
	long max_clients = 64, timeout_ms = 5000;
	struct front f;
	struct attestd_server *srv = NULL;
	struct attestd_server_config cfg;
	struct event *chan_ev = NULL, *sigterm = NULL, *sigint = NULL;
	struct stat st;
	int c, status = 1;

	attestd_log_name("attestd-front");
	(void)prctl(PR_SET_NAME, "attestd-front", 0, 0, 0);
	memset(&f, 0, sizeof(f));
	f.chan = CHAN_FD;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'F': break;
		case 'u': user = optarg; break;
		case 'm':
		case 'f': {
			uint64_t v;

			if (attest_parse_u64(optarg, 1, 600000, &v) != ATTEST_OK)
				return 2;
			if (c == 'm')
				max_clients = (long)v;
			else
				timeout_ms = (long)v;
			break;
		}
		default: return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (attestd_nodump() != 0 || fstat(CHAN_FD, &st) != 0 || !S_ISSOCK(st.st_mode) ||
	    fstat(AGENT_FD, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		attestd_log("started without its monitor (descriptors 3 and 4): attestd starts the "
			    "front itself");
		return 2;
	}
	(void)fcntl(CHAN_FD, F_SETFD, FD_CLOEXEC);
	(void)fcntl(AGENT_FD, F_SETFD, FD_CLOEXEC);
	f.backend = (struct issue_backend){ rpc_agent_info, rpc_mint, &f };
	if ((f.buf = malloc(MON_MSG_MAX)) == NULL || (f.base = event_base_new()) == NULL)
		goto out;
	if (load_trust(&f) != ATTEST_OK) {
		attestd_log("no intent trust from the monitor: %s", attest_errdetail());
		goto out;
	}
	{
		/* load OpenSSL's providers and make the keygen context now,
		 * while files can be opened */
		EVP_PKEY *k = NULL;

		if (attest_p256_keygen(&k) != ATTEST_OK)
			attest_errclear();
		EVP_PKEY_free(k);
	}
	if (drop_privileges(user) != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		goto out;
	memset(&cfg, 0, sizeof(cfg));
	cfg.agent_fd = AGENT_FD;
	cfg.max_clients = (int)max_clients;
	cfg.frame_timeout_ms = (int)timeout_ms;
	cfg.handler = front_handle;
	cfg.handler_ctx = &f;
	if (attestd_server_start(f.base, &cfg, &srv) != ATTEST_OK)
		goto out;
	chan_ev = event_new(f.base, f.chan, EV_READ | EV_PERSIST, on_chan, &f);
	sigterm = evsignal_new(f.base, SIGTERM, on_signal, f.base);
	sigint = evsignal_new(f.base, SIGINT, on_signal, f.base);
	if (chan_ev == NULL || sigterm == NULL || sigint == NULL || event_add(chan_ev, NULL) != 0 ||
	    event_add(sigterm, NULL) != 0 || event_add(sigint, NULL) != 0)
		goto out;
	if (confine() != 0)
		goto out;
	attestd_log("serving the agent socket as uid %u, no capabilities, seccomp filter on",
		    (unsigned)geteuid());
	event_base_dispatch(f.base);
	status = 0;
out:
	if (chan_ev != NULL)
		event_free(chan_ev);
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	attestd_server_stop(srv);
	if (f.base != NULL)
		event_base_free(f.base);
	attest_intent_trust_free(f.trust);
	free(f.buf);
	return status;
}
