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
#include "cliconf.h"
#include "core/conf.h"
#include "core/fileio.h"
#include "core/num.h"
#include "daemon.h"
#include "dispatch.h"
#include "attestation/hostpush.h"
#include "log.h"
#include "monitor.h"
#include "nodump.h"
#include "push.h"
#include "register.h"
#include "renew.h"
#include "sdnotify.h"
#include "server.h"
#include "x509/x509agent.h"

#ifndef ATTEST_VERSION
#define ATTEST_VERSION "0.1.0-dev" /* the Makefile passes VERSION */
#endif
#ifndef ATTEST_SYSCONFDIR
#define ATTEST_SYSCONFDIR "/etc"
#endif
#define ATTESTD_CONF ATTEST_SYSCONFDIR "/attestd/attestd.conf"
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
		"  --workload-socket PATH\n"
		"                       the SPIFFE Workload API (docs/spiffe.md), mode 0660\n"
		"                       and --group like the agent socket; default\n"
		"                       workload.sock beside --socket\n"
		"                       (/run/attestd/workload.sock); none: off. Clients\n"
		"                       find it as SPIFFE_ENDPOINT_SOCKET=unix://PATH.\n"
		"                       Served by the front (not with --no-privsep)\n"
		"  --group NAME         group that may use the agent socket (default: root's;\n"
		"                       installed: attestd-agents, from attestd.conf)\n"
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
		"  --push-interval S    seconds between quotes (60, at least 1); failures back off;\n"
		"                       each answer brings the verifier's agent revocations\n"
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
		"  --session-renew-ahead S|auto\n"
		"                       renew a session issuer in use S seconds before it\n"
		"                       expires, in the background (TPM work off the request\n"
		"                       path); auto: the agent's TTL cap + 60, at most 450;\n"
		"                       0: off (docs/protocol.md \"Session issuers\")\n"
		"  --no-privsep         one process (for comparison and debugging): without\n"
		"                       it the agent and admin sockets are served by an\n"
		"                       unprivileged front under seccomp that asks this\n"
		"                       privileged monitor for each signature and admin\n"
		"                       operation (docs/privsep.md)\n"
		"  --front-user USER    the front's user (nobody); it holds no secret\n"
		"  --front-exec PATH    run PATH as the front (tests of the monitor: a\n"
		"                       compromised front); default attestd itself\n"
		"  --config PATH        configuration file (" ATTESTD_CONF "; a missing\n"
		"                       default is no error): key = value per line, keys\n"
		"                       the long options above with a value (not\n"
		"                       --front-exec); the command line overrides it\n"
		"                       (attestd.conf(5))\n"
		"  --print-config       print the effective configuration in that format, exit\n"
		"  --version            print the version\n"
		"  -h, --help           this help\n\n"
		"Logs go to stderr, one line per event; refusals a peer can repeat are\n"
		"aggregated (one line per source every 10 s, with a count). attestd is not\n"
		"dumpable and sets RLIMIT_CORE to 0. SIGTERM or SIGINT stops it.\n"
		"Pushes: docs/verifier.md \"Hosts\"; 'attestctl host attest' pushes now.\n",
		ATTESTD_HARD_MAX_TTL);
}

/* the configuration file while its settings are parsed, for their errors */
static const struct attest_conf *src_conf;
static const char *src_path;

static int parse_long(const char *opt, const char *s, long min, long max, long *out)
{
	uint64_t v;

	if (attest_parse_u64(s, (uint64_t)min, (uint64_t)max, &v) != ATTEST_OK) {
		unsigned line = attest_conf_line(src_conf, opt);

		fprintf(stderr, "attestd: --%s: \"%s\" is not a number in %ld..%ld", opt, s, min, max);
		if (line > 0)
			fprintf(stderr, " (%s line %u)", src_path, line);
		fprintf(stderr, "\n");
		return -1;
	}
	*out = (long)v;
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
	(void)sdn_notify("STOPPING=1");
	event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--front") == 0)
		return attestd_front_main(argc, argv);
	return attestd_main(argc, argv);
}

/* attestd's settings: from the configuration file (attestd.conf(5)), then
 * the command line, which overrides it. */
struct opts {
	const char *state, *sock, *admin, *group, *tcti, *verifier, *verifier_ca, *quote_pcrs,
		*eventlog, *audit_dir, *front_user, *front_exe, *config, *workload;
	long renew_ahead; /* --session-renew-ahead: seconds, or ATTESTD_RENEW_AUTO */
	long max_clients, timeout_ms, max_ttl, push_interval, audit_ckpt, max_unanchored;
	int privsep, print_config;
};

static const struct option long_opts[] = {
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
	{ "front-user", required_argument, NULL, 'W' },
	{ "workload-socket", required_argument, NULL, 'w' },
	{ "session-renew-ahead", required_argument, NULL, 'R' },
	/* the keys of attestd.conf end here */
	{ "no-privsep", no_argument, NULL, 'N' },
	{ "front-exec", required_argument, NULL, 'X' },
	{ "config", required_argument, NULL, 'c' },
	{ "print-config", no_argument, NULL, 'p' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 },
};
/* the keys of attestd.conf: the options with a value before --no-privsep
 * (not --front-exec, a test hook, nor --config) */
#define NCONF_KEYS 19

static void opts_default(struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->state = "/var/lib/attestd";
	o->sock = "/run/attestd/attestd.sock";
	o->admin = "/run/attestd/admin.sock";
	o->tcti = getenv("ATTEST_TCTI");
	o->max_clients = 64;
	o->timeout_ms = 5000;
	o->max_ttl = ATTESTD_HARD_MAX_TTL;
	o->push_interval = 60;
	o->max_unanchored = ATTESTD_MAX_UNANCHORED_S;
	o->front_user = "nobody";
	o->privsep = 1;
	o->renew_ahead = ATTESTD_RENEW_AUTO;
}

/* Parse argv into o. 0: carry on; 1: exit 0 (help, version); 2: usage error. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	int c;

	opterr = 1;
	optind = 0; /* a fresh scan each time (glibc) */
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		switch (c) {
		case 's': o->state = optarg; break;
		case 'S': o->sock = optarg; break;
		case 'A': o->admin = optarg; break;
		case 'g': o->group = optarg; break;
		case 't': o->tcti = optarg; break;
		case 'm': if (parse_long("max-clients", optarg, 1, 10000, &o->max_clients)) return 2; break;
		case 'f': if (parse_long("frame-timeout", optarg, 10, 600000, &o->timeout_ms)) return 2; break;
		case 'T': if (parse_long("max-ttl", optarg, 1, 86400, &o->max_ttl)) return 2; break;
		case 'V': o->verifier = optarg; break;
		case 'C': o->verifier_ca = optarg; break;
		case 'i': if (parse_long("push-interval", optarg, 1, 86400, &o->push_interval)) return 2; break;
		case 'P': o->quote_pcrs = optarg; break;
		case 'E': o->eventlog = optarg; break;
		case 'D': o->audit_dir = optarg; break;
		case 'K': if (parse_long("audit-checkpoint", optarg, 1, 86400, &o->audit_ckpt)) return 2; break;
		case 'U':
			if (parse_long("audit-max-unanchored", optarg, 1, 7 * 86400, &o->max_unanchored))
				return 2;
			break;
		case 'W': o->front_user = optarg; break;
		case 'w': o->workload = optarg; break;
		case 'R':
			if (strcmp(optarg, "auto") == 0)
				o->renew_ahead = ATTESTD_RENEW_AUTO;
			else if (parse_long("session-renew-ahead", optarg, 0,
					    ATTEST_SESSION_ISSUER_MAX_TTL - 1, &o->renew_ahead))
				return 2;
			break;
		case 'N': o->privsep = 0; break;
		case 'X': o->front_exe = optarg; break;
		case 'c': o->config = optarg; break;
		case 'p': o->print_config = 1; break;
		case 'h': usage(stdout); return 1;
		case 'v': printf("attestd %s\n", ATTEST_VERSION); return 1;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	return 0;
}

/* The configuration file's settings as "--key=value" arguments put before
 * the command line's, so the command line overrides them (a later option
 * wins). *merged and *strs are malloc'd; 0, or 2 after printing the error. */
static int merge_config(const struct opts *given, int argc, char **argv, struct attest_conf **conf,
			int *mergedc, char ***merged, char **strs)
{
	const char *known[NCONF_KEYS + 1], *path = given->config ? given->config : ATTESTD_CONF;
	size_t n = 0, need = 0;
	char **m = NULL, *s = NULL;
	int r;

	for (size_t i = 0; i < NCONF_KEYS; i++)
		known[i] = long_opts[i].name;
	known[NCONF_KEYS] = NULL;
	*conf = NULL;
	if ((r = attest_conf_load(path, known, conf)) != ATTEST_OK) {
		if (r == ATTEST_E_NOT_FOUND && given->config == NULL) {
			attest_errclear();
			*conf = NULL;
		} else {
			fprintf(stderr, "attestd: configuration: %s [%s]: %s\n", attest_strerror(r),
				attest_errname(r), attest_errdetail());
			return 2;
		}
	}
	for (size_t i = 0; i < NCONF_KEYS; i++) {
		const char *v = attest_conf_get(*conf, known[i]);

		if (v != NULL) {
			need += strlen(known[i]) + strlen(v) + 4;
			n++;
		}
	}
	if ((m = calloc((size_t)argc + n + 1, sizeof(*m))) == NULL ||
	    (s = malloc(need + 1)) == NULL) {
		free(m);
		fprintf(stderr, "attestd: out of memory\n");
		return 2;
	}
	m[0] = argv[0];
	n = 1;
	for (size_t i = 0, off = 0; i < NCONF_KEYS; i++) {
		const char *v = attest_conf_get(*conf, known[i]);

		if (v == NULL)
			continue;
		m[n++] = s + off;
		off += (size_t)snprintf(s + off, need + 1 - off, "--%s=%s", known[i], v) + 1;
	}
	for (int i = 1; i < argc; i++)
		m[n++] = argv[i];
	*mergedc = (int)n;
	*merged = m;
	*strs = s;
	return 0;
}

static void print_config(const struct opts *o, const struct attest_conf *conf)
{
	char num[32];

	printf("# attestd: the effective configuration (command line over %s%s)\n",
	       o->config ? o->config : ATTESTD_CONF, conf == NULL ? ", which does not exist" : "");
	cliconf_print(stdout, "state", o->state, NULL);
	cliconf_print(stdout, "socket", o->sock, NULL);
	cliconf_print(stdout, "admin-socket", o->admin, NULL);
	cliconf_print(stdout, "group", o->group, "root's");
	cliconf_print(stdout, "tcti", o->tcti, ATTEST_TPM_DEFAULT_TCTI);
#define NUM(key, v) (snprintf(num, sizeof(num), "%ld", (v)), cliconf_print(stdout, key, num, NULL))
	NUM("max-clients", o->max_clients);
	NUM("frame-timeout", o->timeout_ms);
	NUM("max-ttl", o->max_ttl);
	cliconf_print(stdout, "verifier", o->verifier, NULL);
	cliconf_print(stdout, "verifier-ca", o->verifier_ca, NULL);
	NUM("push-interval", o->push_interval);
	cliconf_print(stdout, "quote-pcrs", o->quote_pcrs, "0-7");
	cliconf_print(stdout, "eventlog", o->eventlog, DEFAULT_EVENTLOG " when readable");
	cliconf_print(stdout, "audit-dir", o->audit_dir, "STATE/audit");
	if (o->audit_ckpt > 0)
		NUM("audit-checkpoint", o->audit_ckpt);
	else
		cliconf_print(stdout, "audit-checkpoint", NULL, "60");
	NUM("audit-max-unanchored", o->max_unanchored);
	cliconf_print(stdout, "front-user", o->front_user, NULL);
	cliconf_print(stdout, "workload-socket", o->workload, "workload.sock beside socket");
	if (o->renew_ahead == ATTESTD_RENEW_AUTO)
		cliconf_print(stdout, "session-renew-ahead", "auto", NULL);
	else
		NUM("session-renew-ahead", o->renew_ahead);
	if (!o->privsep)
		printf("# no-privsep: given on the command line (not a file setting)\n");
#undef NUM
}

static int attestd_main(int argc, char **argv)
{
	struct opts o;
	struct attest_conf *conf = NULL;
	char **margv = NULL, *mstrs = NULL;
	int margc = 0;
	const char *state, *sock, *admin, *group, *tcti;
	long max_clients, timeout_ms, max_ttl, audit_ckpt, max_unanchored;
	const char *audit_dir;
	struct attestd_push_config pcfg;
	struct attestd_push *push = NULL;
	struct attestd d;
	struct attestd_server *srv = NULL;
	struct event_base *base = NULL;
	struct event *sigint = NULL, *sigterm = NULL, *wd = NULL;
	const char *front_user, *front_exe;
	int privsep, agent_fd = -1, admin_fd = -1, workload_fd = -1;
	char workload[600] = "";
	struct attestd_monitor *mon = NULL;
	char front_clients[24], front_timeout[24];
	char *front_argv[] = { "attestd", "--front", "--front-user", NULL, "--max-clients",
			       front_clients, "--frame-timeout", front_timeout, NULL };
	struct attestd_server_config cfg;
	int r, status = 1;

	/* the command line alone first (--config, --help, its errors), then the
	 * file's settings under it */
	opts_default(&o);
	if ((r = parse_args(argc, argv, &o)) != 0)
		return r == 1 ? 0 : 2;
	{
		const char *path = o.config;

		if ((r = merge_config(&o, argc, argv, &conf, &margc, &margv, &mstrs)) != 0)
			return r;
		opts_default(&o);
		src_conf = conf; /* pass 1 checked the command line: an error is the file's */
		src_path = path != NULL ? path : ATTESTD_CONF;
		if ((r = parse_args(margc, margv, &o)) != 0) {
			attest_conf_free(conf);
			free(margv);
			free(mstrs);
			return r == 1 ? 0 : 2;
		}
		src_conf = NULL;
		o.config = path;
	}
	if (o.print_config) {
		print_config(&o, conf);
		status = fflush(stdout) == 0 ? 0 : 1;
		attest_conf_free(conf);
		free(margv);
		free(mstrs);
		return status;
	}
	state = o.state, sock = o.sock, admin = o.admin, group = o.group, tcti = o.tcti;
	max_clients = o.max_clients, timeout_ms = o.timeout_ms, max_ttl = o.max_ttl;
	audit_ckpt = o.audit_ckpt, max_unanchored = o.max_unanchored, audit_dir = o.audit_dir;
	front_user = o.front_user, front_exe = o.front_exe, privsep = o.privsep;
	memset(&pcfg, 0, sizeof(pcfg));
	if (push_options(o.verifier, o.verifier_ca, o.push_interval, o.quote_pcrs, o.eventlog,
			 &pcfg) != 0) {
		attest_conf_free(conf);
		free(margv);
		free(mstrs);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (attestd_nodump() != 0) { /* before any secret is loaded */
		attestd_log_err("cannot keep secrets out of core dumps: %s", strerror(errno));
		return 1;
	}
	if (setenv("TSS2_LOG", "all+none", 0) != 0)
		return 1;
	if ((r = attestd_open(&d, state, tcti, max_ttl)) != ATTEST_OK) {
		attestd_log_err("cannot start: %s [%s]: %s", attest_strerror(r), attest_errname(r),
			    attest_errdetail());
		return 1;
	}
	if (max_unanchored < (audit_ckpt > 0 ? audit_ckpt : 60))
		attestd_log("warning: --audit-max-unanchored %ld is below the checkpoint interval: "
			    "issuance will stop between checkpoints", max_unanchored);
	if ((r = attestd_audit_open(&d.log, &d.host, &d.clock, audit_dir, (uint64_t)audit_ckpt)) !=
	    ATTEST_OK) {
		attestd_log_err("cannot open the audit log: %s [%s]: %s", attest_strerror(r),
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
				attestd_log_err("cannot create %s: %s", dir, attest_errdetail());
				goto out;
			}
		}
	}
	if ((base = event_base_new()) == NULL) {
		attestd_log_err("event_base_new failed");
		goto out;
	}
	/* before any socket accepts: a stop asked for at once is a clean stop */
	sigint = evsignal_new(base, SIGINT, on_signal, base);
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	if (sigint == NULL || sigterm == NULL || event_add(sigint, NULL) != 0 ||
	    event_add(sigterm, NULL) != 0)
		goto out;
	/* the SPIFFE Workload API's socket: bound here, served by the front;
	 * before the agent and admin sockets, so that a client (or a test)
	 * that finds the admin socket accepting finds this one bound too */
	if (o.workload == NULL || strcmp(o.workload, "none") != 0) {
		const char *slash = strrchr(sock, '/');
		int no_rights;

		if (o.workload != NULL)
			snprintf(workload, sizeof(workload), "%s", o.workload);
		else
			snprintf(workload, sizeof(workload), "%.*sworkload.sock",
				 slash != NULL ? (int)(slash - sock + 1) : 0, sock);
		if (!privsep) {
			if (o.workload != NULL) {
				attestd_log_err("--workload-socket needs the front: not with "
						"--no-privsep");
				goto out;
			}
			workload[0] = '\0';
		} else if (attestd_listen_unix(workload, 0660, &workload_fd, &no_rights) !=
			   ATTEST_OK) {
			attestd_log_err("%s", attest_errdetail());
			workload[0] = '\0';
			goto out;
		}
	}
	if (privsep) {
		/* both sockets are bound here (root) and served by the front */
		int no_rights;

		if (attestd_listen_unix(sock, 0660, &agent_fd, &no_rights) != ATTEST_OK ||
		    attestd_listen_unix(admin, 0600, &admin_fd, &no_rights) != ATTEST_OK) {
			attestd_log("%s", attest_errdetail());
			goto out;
		}
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.agent_socket = privsep ? NULL : sock;
	cfg.agent_fd = -1;
	cfg.admin_socket = privsep ? NULL : admin;
	cfg.admin_fd = -1;
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

		if (g == NULL) {
			attestd_log_err("--group %s: no such group (the packages create "
					"attestd-agents; else addgroup --system %s)", group, group);
			goto out;
		}
		if (chown(sock, (uid_t)-1, g->gr_gid) != 0 ||
		    (workload_fd >= 0 && chown(workload, (uid_t)-1, g->gr_gid) != 0)) {
			attestd_log_err("cannot give %s to group %s: %s", sock, group, strerror(errno));
			goto out;
		}
	}
	if (privsep) {
		struct attestd_monitor_config mcfg = {
			.agent_path = sock,
			.agent_fd = agent_fd,
			.admin_path = admin,
			.admin_fd = admin_fd,
			.front_argv = front_argv,
			.front_exe = front_exe,
			.push_url = pcfg.url,
			.push_ca_file = pcfg.ca_file,
			.push_timeout_ms = pcfg.timeout_ms,
			.workload_path = workload,
			.workload_fd = workload_fd,
		};

		front_argv[3] = (char *)front_user;
		snprintf(front_clients, sizeof(front_clients), "%ld", max_clients);
		snprintf(front_timeout, sizeof(front_timeout), "%ld", timeout_ms);
		if (attestd_monitor_start(base, &d, &mcfg, &mon) != ATTEST_OK) {
			attestd_log_err("cannot start the front: %s", attest_errdetail());
			goto out;
		}
	}
	if (pcfg.url != NULL) {
		pcfg.revoked = attestd_revoke_by_verifier;
		pcfg.revoked_arg = &d;
		if (privsep) { /* the front runs libcurl and reads the answers */
			pcfg.send = attestd_monitor_push_send;
			pcfg.send_ctx = mon;
			pcfg.jwt_keys = attestd_monitor_jwt_keys;
			pcfg.jwt_keys_arg = mon;
		}
		if (attestd_push_start(base, &d.host, &d.log, &d.reg, &pcfg, &push) != ATTEST_OK) {
			attestd_log_err("cannot push to %s: %s", pcfg.url, attest_errdetail());
			goto out;
		}
		d.push = push;
		d.log.checkpointed = push_checkpoint;
		d.log.checkpointed_arg = push;
		/* the stored checkpoints the verifier has not answered first, in
		 * order (made at stop, or before a crash or while it was down) */
		attestd_push_resume(push);
	}
	if (o.renew_ahead != 0 &&
	    (r = attestd_renew_start(base, &d, o.renew_ahead, &d.renew)) != ATTEST_OK) {
		attestd_log_err("session issuer renewal: %s", attest_errdetail());
		goto out;
	}
	if ((r = attestd_audit_start(base, &d.log)) != ATTEST_OK) {
		attestd_log_err("audit: start-up checkpoint failed: %s [%s]: %s", attest_strerror(r),
			    attest_errname(r), attest_errdetail());
		goto out;
	}
	attestd_log("ready: host %s in %s, %zu agents, agent socket %s, admin socket %s%s, audit "
		    "log %s, workload socket %s", d.host.name, d.host.trust_domain, d.reg.n, sock, admin,
		    privsep ? " (both served by the unprivileged front)" : "", d.log.dir,
		    workload_fd >= 0 ? workload : "none");
	/* systemd (Type=notify): ready now; the watchdog pings come from the
	 * loop every TPM command runs on, so a wedged loop is restarted */
	if (sdn_watchdog_start(base, &wd) != 0) {
		attestd_log_err("cannot start the watchdog timer");
		goto out;
	}
	{
		char st[200];

		(void)snprintf(st, sizeof(st), "READY=1\nSTATUS=host %s, %zu agents", d.host.name,
			       d.reg.n);
		if (sdn_notify(st) != 0)
			attestd_log("cannot notify systemd ($NOTIFY_SOCKET): %s", strerror(errno));
	}
	event_base_dispatch(base);
	status = attestd_monitor_failed(mon) ? 1 : 0;
out:
	/* a push's waiting admin clients are answered through the front:
	 * the pushes stop first */
	d.log.checkpointed = NULL;
	d.push = NULL;
	attestd_push_stop(push);
	push = NULL;
	/* the renewal thread's TPM command ends before anything closes */
	attestd_renew_stop(d.renew);
	d.renew = NULL;
	attestd_monitor_stop(mon);
	if (agent_fd >= 0) {
		close(agent_fd);
		unlink(sock);
	}
	if (workload_fd >= 0) {
		close(workload_fd);
		unlink(workload);
	}
	if (admin_fd >= 0) {
		close(admin_fd);
		unlink(admin);
	}
	if (wd != NULL)
		event_free(wd);
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
	attest_conf_free(conf); /* the settings point into it */
	free(margv);
	free(mstrs);
	return status;
}
