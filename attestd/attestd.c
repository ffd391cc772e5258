/* attestd - the host daemon: owns the TPM, registers agents, measures
 * callers and issues attested short-lived certificates (DESIGN.md flows 2
 * and 3). Single-threaded on libevent; every TPM command runs on the loop,
 * so TPM use is serialised without locks. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "attest/attest.h"
#include "auditlog.h"
#include "core/fileio.h"
#include "daemon.h"
#include "dispatch.h"
#include "attestation/hostpush.h"
#include "log.h"
#include "monitor.h"
#include "nodump.h"
#include "push.h"
#include "server.h"

#define DEFAULT_EVENTLOG "/sys/kernel/security/tpm0/binary_bios_measurements"

/* auditlog.h's checkpointed hook: each checkpoint goes to the verifier */
static void push_checkpoint(void *arg, const struct attest_audit_ckpt *c)
{
	attestd_push_checkpoint(arg, c);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: attestd [options]\n\n"
		"Host daemon of attestd: registers agents and issues them attested,\n"
		"short-lived certificates over a Unix socket (docs/protocol.md).\n\n"
		"Options:\n"
		"  --state DIR          attestd state directory (/var/lib/attestd), enrolled\n"
		"                       with 'attestctl host enroll'\n"
		"  --socket PATH        agent socket (/run/attestd/attestd.sock), mode 0660\n"
		"  --admin-socket PATH  admin socket for root (/run/attestd/admin.sock), 0600\n"
		"  --group NAME         group that may use the agent socket (default: root's)\n"
		"  --tcti CONF          TPM (default $ATTEST_TCTI, else device:/dev/tpmrm0)\n"
		"  --max-clients N      concurrent agent-socket clients before refusing (64),\n"
		"                       shared fairly by uid, at most N/8 per process\n"
		"                       (docs/protocol.md \"Client limit and fair shares\")\n"
		"  --frame-timeout MS   time a client has to send a whole frame (5000)\n"
		"  --max-ttl SECONDS    hard cap on certificate lifetimes (%d)\n"
		"  --verifier URL       push quotes and the agent inventory to this verifier\n"
		"                       (https://HOST:PORT); without it attestd pushes nothing\n"
		"  --verifier-ca PEM    CA the verifier's TLS certificate must chain to (required\n"
		"                       with --verifier)\n"
		"  --push-interval S    seconds between quotes (60, at least 1); failures back off\n"
		"  --quote-pcrs LIST    PCRs to quote, e.g. 0-7 or 0,2,4-7 (0-7)\n"
		"  --eventlog PATH      TCG event log sent with quotes, or none (default\n"
		"                       " DEFAULT_EVENTLOG "\n"
		"                       when readable, else none)\n"
		"  --audit-dir DIR      the audit log (STATE/audit): every registration,\n"
		"                       revocation, certificate, refusal and quote verdict;\n"
		"                       replies wait until their record is on disk, and a\n"
		"                       request whose record cannot be written fails\n"
		"  --audit-checkpoint S seconds between TPM checkpoints of the log (60; also\n"
		"                       after 10000 records, at start and at stop); with\n"
		"                       --verifier each is pushed to it (docs/audit.md)\n"
		"  --audit-max-unanchored S\n"
		"                       longest a record may wait for a checkpoint (900);\n"
		"                       past it issue and register are refused until a\n"
		"                       checkpoint succeeds (ATTEST_E_AUDIT_UNANCHORED)\n"
		"  --no-privsep         one process (for comparison and debugging): without\n"
		"                       it the agent socket is served by an unprivileged\n"
		"                       front under seccomp that asks this privileged\n"
		"                       monitor for each signature (docs/privsep.md)\n"
		"  --front-user USER    the front's user (nobody); it holds no secret\n"
		"  --front-exec PATH    run PATH as the front (tests of the monitor: a\n"
		"                       compromised front); default attestd itself\n"
		"  -h, --help           this help\n\n"
		"Logs go to stderr, one line per event; refusals a peer can repeat are\n"
		"aggregated (one line per source every 10 s, with a count). attestd is not\n"
		"dumpable and sets RLIMIT_CORE to 0. SIGTERM or SIGINT stops it.\n"
		"Pushes: docs/verifier.md \"Hosts\"; 'attestctl host attest' pushes now.\n",
		ATTESTD_HARD_MAX_TTL);
}

static int parse_long(const char *opt, const char *s, long min, long max, long *out)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "attestd: --%s: \"%s\" is not a number in %ld..%ld\n", opt, s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* The verifier options: all or nothing beyond --verifier. 0 or -1 (printed). */
static int push_options(const char *url, const char *ca, long interval, const char *pcrs,
			const char *eventlog, struct attestd_push_config *out)
{
	uint32_t mask = ATTEST_PUSH_DEFAULT_PCRS;

	if (url == NULL) {
		if (ca != NULL || pcrs != NULL || eventlog != NULL || interval != 60) {
			fprintf(stderr, "attestd: --verifier-ca, --push-interval, --quote-pcrs and "
				"--eventlog need --verifier\n");
			return -1;
		}
		return 0;
	}
	if (ca == NULL) {
		fprintf(stderr, "attestd: --verifier needs --verifier-ca\n");
		return -1;
	}
	if (strncmp(url, "https://", 8) != 0 || strlen(url) > ATTEST_PUSH_URL_MAX) {
		fprintf(stderr, "attestd: --verifier: \"%s\" is not an https:// URL\n", url);
		return -1;
	}
	if (pcrs != NULL && attest_pcr_list_parse(pcrs, &mask) != ATTEST_OK) {
		fprintf(stderr, "attestd: --quote-pcrs: %s\n", attest_errdetail());
		return -1;
	}
	if (eventlog == NULL)
		eventlog = access(DEFAULT_EVENTLOG, R_OK) == 0 ? DEFAULT_EVENTLOG : NULL;
	else if (strcmp(eventlog, "none") == 0)
		eventlog = NULL;
	out->url = url;
	out->ca_file = ca;
	out->interval = interval;
	out->pcr_mask = mask;
	out->eventlog = eventlog;
	out->timeout_ms = 5000;
	return 0;
}

static int attestd_main(int argc, char **argv);

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	attestd_log("signal %d: stopping", (int)sig);
	event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--front") == 0)
		return attestd_front_main(argc, argv);
	return attestd_main(argc, argv);
}

static int attestd_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "socket", required_argument, NULL, 'S' },
		{ "admin-socket", required_argument, NULL, 'A' },
		{ "group", required_argument, NULL, 'g' },
		{ "tcti", required_argument, NULL, 't' },
		{ "max-clients", required_argument, NULL, 'm' },
		{ "frame-timeout", required_argument, NULL, 'f' },
		{ "max-ttl", required_argument, NULL, 'T' },
		{ "verifier", required_argument, NULL, 'V' },
		{ "verifier-ca", required_argument, NULL, 'C' },
		{ "push-interval", required_argument, NULL, 'i' },
		{ "quote-pcrs", required_argument, NULL, 'P' },
		{ "eventlog", required_argument, NULL, 'E' },
		{ "audit-dir", required_argument, NULL, 'D' },
		{ "audit-checkpoint", required_argument, NULL, 'K' },
		{ "audit-max-unanchored", required_argument, NULL, 'U' },
		{ "no-privsep", no_argument, NULL, 'N' },
		{ "front-user", required_argument, NULL, 'W' },
		{ "front-exec", required_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *front_user = "nobody", *front_exe = NULL;
	int privsep = 1, agent_fd = -1;
	struct attestd_monitor *mon = NULL;
	char front_clients[24], front_timeout[24];
	char *front_argv[] = { "attestd", "--front", "--front-user", NULL, "--max-clients",
			       front_clients, "--frame-timeout", front_timeout, NULL };
	const char *state = "/var/lib/attestd", *sock = "/run/attestd/attestd.sock";
	const char *admin = "/run/attestd/admin.sock", *group = NULL, *tcti = getenv("ATTEST_TCTI");
	long max_clients = 64, timeout_ms = 5000, max_ttl = ATTESTD_HARD_MAX_TTL;
	const char *verifier = NULL, *verifier_ca = NULL, *quote_pcrs = NULL, *eventlog = NULL;
	long push_interval = 60, audit_ckpt = 0, max_unanchored = ATTESTD_MAX_UNANCHORED_S;
	const char *audit_dir = NULL;
	struct attestd_push_config pcfg;
	struct attestd_push *push = NULL;
	struct attestd d;
	struct attestd_server *srv = NULL;
	struct event_base *base = NULL;
	struct event *sigint = NULL, *sigterm = NULL;
	struct attestd_server_config cfg;
	int c, r, status = 1;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': state = optarg; break;
		case 'S': sock = optarg; break;
		case 'A': admin = optarg; break;
		case 'g': group = optarg; break;
		case 't': tcti = optarg; break;
		case 'm': if (parse_long("max-clients", optarg, 1, 10000, &max_clients)) return 2; break;
		case 'f': if (parse_long("frame-timeout", optarg, 10, 600000, &timeout_ms)) return 2; break;
		case 'T': if (parse_long("max-ttl", optarg, 1, 86400, &max_ttl)) return 2; break;
		case 'V': verifier = optarg; break;
		case 'C': verifier_ca = optarg; break;
		case 'i': if (parse_long("push-interval", optarg, 1, 86400, &push_interval)) return 2; break;
		case 'P': quote_pcrs = optarg; break;
		case 'E': eventlog = optarg; break;
		case 'D': audit_dir = optarg; break;
		case 'K': if (parse_long("audit-checkpoint", optarg, 1, 86400, &audit_ckpt)) return 2; break;
		case 'U':
			if (parse_long("audit-max-unanchored", optarg, 1, 7 * 86400, &max_unanchored))
				return 2;
			break;
		case 'N': privsep = 0; break;
		case 'W': front_user = optarg; break;
		case 'X': front_exe = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	memset(&pcfg, 0, sizeof(pcfg));
	if (push_options(verifier, verifier_ca, push_interval, quote_pcrs, eventlog, &pcfg) != 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	if (attestd_nodump() != 0) { /* before any secret is loaded */
		attestd_log("cannot keep secrets out of core dumps: %s", strerror(errno));
		return 1;
	}
	if (setenv("TSS2_LOG", "all+none", 0) != 0)
		return 1;
	if ((r = attestd_open(&d, state, tcti, max_ttl)) != ATTEST_OK) {
		attestd_log("cannot start: %s [%s]: %s", attest_strerror(r), attest_errname(r),
			    attest_errdetail());
		return 1;
	}
	if (max_unanchored < (audit_ckpt > 0 ? audit_ckpt : 60))
		attestd_log("warning: --audit-max-unanchored %ld is below the checkpoint interval: "
			    "issuance will stop between checkpoints", max_unanchored);
	if ((r = attestd_audit_open(&d.log, &d.host, &d.clock, audit_dir, (uint64_t)audit_ckpt)) !=
	    ATTEST_OK) {
		attestd_log("cannot open the audit log: %s [%s]: %s", attest_strerror(r),
			    attest_errname(r), attest_errdetail());
		goto out;
	}
	d.log.max_unanchored_s = (uint64_t)max_unanchored;
	{
		/* the socket directories: /run/attestd by default */
		char dir[600];
		const char *paths[] = { sock, admin };

		for (int i = 0; i < 2; i++) {
			const char *slash = strrchr(paths[i], '/');

			if (slash == NULL || slash == paths[i])
				continue;
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - paths[i]), paths[i]);
			if (access(dir, F_OK) != 0 && attest_dir_ensure(dir, 0755) != ATTEST_OK) {
				attestd_log("cannot create %s: %s", dir, attest_errdetail());
				goto out;
			}
		}
	}
	if ((base = event_base_new()) == NULL) {
		attestd_log("event_base_new failed");
		goto out;
	}
	/* before any socket accepts: a stop asked for at once is a clean stop */
	sigint = evsignal_new(base, SIGINT, on_signal, base);
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	if (sigint == NULL || sigterm == NULL || event_add(sigint, NULL) != 0 ||
	    event_add(sigterm, NULL) != 0)
		goto out;
	if (privsep) {
		/* the agent socket is bound here (root) and served by the front */
		int no_rights;

		if (attestd_listen_unix(sock, 0660, &agent_fd, &no_rights) != ATTEST_OK) {
			attestd_log("%s", attest_errdetail());
			goto out;
		}
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.agent_socket = privsep ? NULL : sock;
	cfg.agent_fd = -1;
	cfg.admin_socket = admin;
	cfg.max_clients = (int)max_clients;
	cfg.frame_timeout_ms = (int)timeout_ms;
	cfg.handler = attestd_handle;
	cfg.handler_ctx = &d;
	cfg.unsynced = attestd_audit_unsynced;
	cfg.commit = attestd_audit_commit;
	cfg.gate_ctx = &d.log;
	if (attestd_server_start(base, &cfg, &srv) != ATTEST_OK)
		goto out;
	if (group != NULL) {
		struct group *g = getgrnam(group);

		if (g == NULL || chown(sock, (uid_t)-1, g->gr_gid) != 0) {
			attestd_log("cannot give %s to group %s", sock, group);
			goto out;
		}
	}
	if (privsep) {
		struct attestd_monitor_config mcfg = { sock, agent_fd, front_argv, front_exe };

		front_argv[3] = (char *)front_user;
		snprintf(front_clients, sizeof(front_clients), "%ld", max_clients);
		snprintf(front_timeout, sizeof(front_timeout), "%ld", timeout_ms);
		if (attestd_monitor_start(base, &d, &mcfg, &mon) != ATTEST_OK) {
			attestd_log("cannot start the front: %s", attest_errdetail());
			goto out;
		}
	}
	if (pcfg.url != NULL) {
		if (attestd_push_start(base, &d.host, &d.log, &d.reg, &pcfg, &push) != ATTEST_OK) {
			attestd_log("cannot push to %s: %s", pcfg.url, attest_errdetail());
			goto out;
		}
		d.push = push;
		d.log.checkpointed = push_checkpoint;
		d.log.checkpointed_arg = push;
		/* the stored checkpoints the verifier has not answered first, in
		 * order (made at stop, or before a crash or while it was down) */
		attestd_push_resume(push);
	}
	if ((r = attestd_audit_start(base, &d.log)) != ATTEST_OK) {
		attestd_log("audit: start-up checkpoint failed: %s [%s]: %s", attest_strerror(r),
			    attest_errname(r), attest_errdetail());
		goto out;
	}
	attestd_log("ready: host %s in %s, %zu agents, agent socket %s%s, admin socket %s, audit "
		    "log %s", d.host.name, d.host.trust_domain, d.reg.n, sock,
		    privsep ? " (served by the unprivileged front)" : "", admin, d.log.dir);
	event_base_dispatch(base);
	status = attestd_monitor_failed(mon) ? 1 : 0;
out:
	attestd_monitor_stop(mon);
	if (agent_fd >= 0) {
		close(agent_fd);
		unlink(sock);
	}
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	d.log.checkpointed = NULL;
	d.push = NULL;
	attestd_push_stop(push); /* answers admin clients still waiting */
	attestd_audit_stop(&d.log); /* last checkpoint (pushed at the next start) */
	attestd_server_stop(srv);
	if (base != NULL)
		event_base_free(base);
	attestd_close(&d);
	return status;
}
