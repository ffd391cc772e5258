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
#include "daemon.h"
#include "fileio.h"
#include "log.h"
#include "server.h"

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
		"  --max-clients N      concurrent clients before refusing (64)\n"
		"  --frame-timeout MS   time a client has to send a whole frame (5000)\n"
		"  --max-ttl SECONDS    hard cap on certificate lifetimes (%d)\n"
		"  -h, --help           this help\n\n"
		"Logs go to stderr, one line per event. SIGTERM or SIGINT stops it.\n",
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

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	attestd_log("signal %d: stopping", (int)sig);
	event_base_loopbreak(arg);
}

int main(int argc, char **argv)
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state = "/var/lib/attestd", *sock = "/run/attestd/attestd.sock";
	const char *admin = "/run/attestd/admin.sock", *group = NULL, *tcti = getenv("ATTEST_TCTI");
	long max_clients = 64, timeout_ms = 5000, max_ttl = ATTESTD_HARD_MAX_TTL;
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
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (setenv("TSS2_LOG", "all+none", 0) != 0)
		return 1;
	if ((r = attestd_open(&d, state, tcti, max_ttl)) != ATTEST_OK) {
		attestd_log("cannot start: %s [%s]: %s", attest_strerror(r), attest_errname(r),
			    attest_errdetail());
		return 1;
	}
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
	cfg.agent_socket = sock;
	cfg.admin_socket = admin;
	cfg.max_clients = (int)max_clients;
	cfg.frame_timeout_ms = (int)timeout_ms;
	cfg.handler = attestd_handle;
	cfg.handler_ctx = &d;
	if (attestd_server_start(base, &cfg, &srv) != ATTEST_OK)
		goto out;
	if (group != NULL) {
		struct group *g = getgrnam(group);

		if (g == NULL || chown(sock, (uid_t)-1, g->gr_gid) != 0) {
			attestd_log("cannot give %s to group %s", sock, group);
			goto out;
		}
	}
	sigint = evsignal_new(base, SIGINT, on_signal, base);
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	if (sigint == NULL || sigterm == NULL || event_add(sigint, NULL) != 0 ||
	    event_add(sigterm, NULL) != 0)
		goto out;
	attestd_log("ready: host %s in %s, %zu agents, agent socket %s, admin socket %s", d.host,
		    d.trust_domain, d.reg.n, sock, admin);
	event_base_dispatch(base);
	status = 0;
out:
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	attestd_server_stop(srv);
	if (base != NULL)
		event_base_free(base);
	attestd_close(&d);
	return status;
}
