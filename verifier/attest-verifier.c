/* attest-verifier - the remote verifier: host attestation from pushed TPM
 * quotes, agent inventory, revocation, point-of-use decisions and policy
 * over HTTPS (docs/verifier.md, docs/verifier-api.md), plus offline tools:
 * policy check/test, check-quote, reference-set signing. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_quote.h"
#include "cli.h"
#include "core/fileio.h"
#include "policy_cli.h"
#include "posture.h"
#include "privdrop.h"
#include "refset_cli.h"
#include "server.h"
#include "store.h"
#include "tlsca.h"

#ifndef ATTEST_SYSCONFDIR
#define ATTEST_SYSCONFDIR "/etc"
#endif
#define VERIFIER_CONF ATTEST_SYSCONFDIR "/attest-verifier/verifier.conf"

static const char default_policy[] =
	"{\"version\": 1, \"rules\": []}\n";

static int cmd_init(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *state = NULL, *name = NULL, *store = NULL;
	const struct cli_opt opts[] = {
		{"state", "DIR", "verifier state directory (created 0700)", 1, &state},
		{"name", "HOST", "DNS name in the server certificate (default localhost)", 0, &name},
		{"store", "URI", "create the store in this PostgreSQL database (postgresql://...; an "
		 "empty database, or one already initialised) instead of STATE/verifier.db", 0, &store},
		{0}};
	char p[PATH_MAX];
	struct vstore *st = NULL;
	int r = cli_parse(cmd, opts, argc, argv);

	if (r != CLI_PARSED)
		return r;
	if (name == NULL)
		name = "localhost";
	if ((r = vf_tlsca_init(state, name)) != ATTEST_OK)
		return cli_fail(r, "create the verifier CA in %s", state);
	if (store != NULL && !vstore_spec_is_pg(store))
		return cli_usage_error("--store: want a postgresql:// URI");
	if ((r = vstore_open_spec(store, state, 1, &st)) != ATTEST_OK)
		return cli_fail(r, "create the store (%s)",
				store != NULL ? "PostgreSQL" : "STATE/verifier.db");
	vstore_close(st);
	(void)snprintf(p, sizeof(p), "%s/policy.json", state);
	r = attest_file_create_atomic(p, default_policy, sizeof(default_policy) - 1, 0644);
	if (r != ATTEST_OK && r != ATTEST_E_EXISTS)
		return cli_fail(r, "write %s", p);
	for (const char *const *sub = (const char *const[]){"intent-issuers", "operators", NULL};
	     *sub != NULL; sub++) {
		(void)snprintf(p, sizeof(p), "%s/%s", state, *sub);
		if ((r = attest_dir_ensure(p, 0700)) != ATTEST_OK)
			return cli_fail(r, "create %s", p);
	}
	printf("verifier state in %s: TLS CA %s/tls/ca.pem, default-deny policy %s/policy.json\n",
	       state, state, state);
	return CLI_EXIT_OK;
}

static int cmd_serve(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *state = NULL, *ca = NULL, *listen = NULL, *port_file = NULL, *policy = NULL,
		   *pcrs = NULL, *nonce_ttl = NULL, *tcti = NULL, *deadline = NULL, *max_conns = NULL,
		   *per_source = NULL, *config = NULL, *print_config = NULL, *user = NULL,
		   *leaf_cache = NULL, *issuer_cache = NULL, *ak_cache = NULL, *rate_caller = NULL,
		   *rate_host = NULL, *store = NULL, *replica_id = NULL, *sync_ms = NULL,
		   *notify = NULL, *heartbeat = NULL, *push_interval = NULL, *dashboard = NULL,
		   *no_detect = NULL, *detect_entities = NULL, *alert_webhook = NULL,
		   *alert_ca = NULL, *alert_syslog = NULL, *posture_window = NULL,
		   *posture_ttl_cap = NULL, *federation = NULL, *federation_max_age = NULL;
	const struct cli_opt opts[] = {
		{"state", "DIR", "verifier state directory (attest-verifier init)", 1, &state},
		{"store", "URI", "the store in PostgreSQL (postgresql://...; made by init --store) "
		 "instead of STATE/verifier.db; put a password in a passfile, not here", 0, &store},
		{"ca", "DIR", "fleet CA directory (attest-provision init)", 1, &ca},
		{"listen", "ADDR:PORT", "address to serve HTTPS on (default 127.0.0.1:8443; port 0: any)",
		 0, &listen},
		{"port-file", "FILE", "write the bound port here once listening", 0, &port_file},
		{"policy", "FILE", "policy file (default STATE/policy.json; SIGHUP reloads)", 0, &policy},
		{"quote-pcrs", "LIST", "PCRs a host quote must select (default 0,1,2,3,4,5,6,7)", 0, &pcrs},
		{"nonce-ttl", "SECONDS", "lifetime of a quote nonce (default 60)", 0, &nonce_ttl},
		{"tcti", "CONF", "TPM for checkpoints of the verifier's audit log (on an enrolled host)",
		 0, &tcti},
		{"request-deadline", "SECONDS",
		 "a connection must deliver each whole request (TLS handshake included) within this "
		 "(default 10)", 0, &deadline},
		{"max-conns", "N", "open connections at most (default 256; a quarter kept for clients "
		 "with a verified certificate)", 0, &max_conns},
		{"per-source", "N", "connections without a client certificate per source address "
		 "(IPv6: per /64; default 16)", 0, &per_source},
		{"leaf-cache", "N", "decision cache: verified leaves kept (default 16384; 8..1048576; "
		 "about 1.2 KB each)", 0, &leaf_cache},
		{"issuer-cache", "N", "decision cache: verified agent CA paths with their TPM evidence "
		 "check (default 16384; 8..1048576; about 0.7 KB each)", 0, &issuer_cache},
		{"ak-cache", "N", "hosts whose AK and reference values are kept in memory (default "
		 "4096; 8..1048576)", 0, &ak_cache},
		{"rate-caller", "N", "decisions per second per resource caller (default 2000; "
		 "1..1000000)", 0, &rate_caller},
		{"rate-host", "N", "requests per second per host address (default 50; 1..100000)", 0,
		 &rate_host},
		{"replica-id", "ID", "this verifier's name among the replicas on one store, in "
		 "decisions, /v1/health and the replicas table (default HOSTNAME:LOG, LOG the first 8 hex digits of its audit log id: stable across restarts of one state directory)", 0, &replica_id},
		{"sync-ms", "MS", "how often the store's change generation is checked, so that a change "
		 "made at another replica reaches this one's caches (default 500; 50..10000)", 0,
		 &sync_ms},
		{"notify", "on|off", "PostgreSQL: LISTEN for other replicas' changes (default on; off: "
		 "the periodic check only)", 0, &notify},
		{"heartbeat", "SECONDS", "heartbeat into the store (default 5; 1..300); a replica is "
		 "stale after 3 missed", 0, &heartbeat},
		{"push-interval", "SECONDS", "the hosts' quote interval: a host whose last good quote is "
		 "older than 3 of them is reported stale (default 60; 1..86400)", 0, &push_interval},
		{"user", "NAME", "started as root: the serving process drops to this user once its "
		 "socket, TLS key, store and audit log are open (default " VF_DEFAULT_USER "; root: "
		 "no drop, not recommended); the signer keeps root and the issuing CA key", 0, &user},
		{"dashboard", "MODE", "the fleet dashboard at /dashboard/ (docs/dashboard.md): loopback "
		 "(default: an admin client certificate, or read-only without one from a loopback "
		 "peer), admin (an admin client certificate only) or off", 0, &dashboard},
		{"no-detect", NULL, "do not score decisions against behaviour baselines "
		 "(docs/detection.md)", 0, &no_detect},
		{"detect-entities", "N", "behaviour baselines kept in memory, agents and users "
		 "(default 4096; 16..262144; about 2.3 KB each; least recently used out)", 0,
		 &detect_entities},
		{"alert-webhook", "URL", "POST each anomaly alert's JSON here (http:// or https://; "
		 "from a worker thread, never blocking decisions)", 0, &alert_webhook},
		{"alert-webhook-ca", "FILE", "CA certificates for an https:// webhook (default: the "
		 "system's)", 0, &alert_ca},
		{"alert-syslog", NULL, "also send each anomaly alert to syslog (authpriv.warning)", 0,
		 &alert_syslog},
		{"posture-attest-window", "SECONDS", "posture: a host without a good quote for longer "
		 "is a finding (default 3600)", 0, &posture_window},
		{"posture-ttl-cap", "SECONDS", "posture: an agent seen with a leaf living this long "
		 "or longer is a finding (default 3600, attestd's default --max-ttl)", 0,
		 &posture_ttl_cap},
		{"federation", "FILE", "federated SPIFFE trust domains whose agents the policy may "
		 "accept: {\"federations\": [{\"trust_domain\", \"bundle_url\" (https), "
		 "\"ca_pem\" (the endpoint's TLS CA)}]}, read at start (docs/spiffe.md)", 0,
		 &federation},
		{"federation-max-age", "SECONDS", "a federated domain whose bundle was last fetched "
		 "longer ago denies its agents (default 3600; 4..604800)", 0, &federation_max_age},
		{"config", "PATH", "configuration file (default " VERIFIER_CONF "; options given "
		 "here override it; verifier.conf(5))", 0, &config},
		{"print-config", NULL, "print the effective configuration in the file's format and exit",
		 0, &print_config},
		{0}};
	struct vf_config cfg = {0};
	long ttl = 60, dl = 10, mc = 256, ps = 16, lc = 16384, ic = 16384, ac = 4096, rc = 2000,
	     rh = 50, sm = 500, hb = 5, pi = 60;
	char list[64];
	static const struct cli_default defs[] = {
		{"listen", "127.0.0.1:8443"}, {"policy", "STATE/policy.json"},
		{"quote-pcrs", "0,1,2,3,4,5,6,7"}, {"nonce-ttl", "60"}, {"request-deadline", "10"},
		{"max-conns", "256"}, {"per-source", "16"}, {"leaf-cache", "16384"},
		{"issuer-cache", "16384"}, {"ak-cache", "4096"}, {"rate-caller", "2000"},
		{"rate-host", "50"}, {"replica-id", "HOSTNAME:LOG"}, {"sync-ms", "500"},
		{"notify", "on"}, {"heartbeat", "5"}, {"push-interval", "60"},
		{"dashboard", "loopback"}, {"federation-max-age", "3600"}, {NULL, NULL}};
	int r;

	cli_config_defaults(defs);
	r = cli_parse_config(cmd, opts, argc, argv, VERIFIER_CONF);

	if (r != CLI_PARSED)
		return r;
	if (listen == NULL)
		listen = "127.0.0.1:8443";
	if (pcrs == NULL)
		pcrs = "0,1,2,3,4,5,6,7";
	if (nonce_ttl != NULL && (r = cli_long("nonce-ttl", nonce_ttl, 5, 3600, &ttl)) != CLI_PARSED)
		return r;
	if ((deadline != NULL &&
	     (r = cli_long("request-deadline", deadline, 1, 300, &dl)) != CLI_PARSED) ||
	    (max_conns != NULL && (r = cli_long("max-conns", max_conns, 8, 65536, &mc)) != CLI_PARSED) ||
	    (per_source != NULL && (r = cli_long("per-source", per_source, 1, 65536, &ps)) != CLI_PARSED))
		return r;
	if ((leaf_cache != NULL &&
	     (r = cli_long("leaf-cache", leaf_cache, 8, 1048576, &lc)) != CLI_PARSED) ||
	    (issuer_cache != NULL &&
	     (r = cli_long("issuer-cache", issuer_cache, 8, 1048576, &ic)) != CLI_PARSED) ||
	    (ak_cache != NULL && (r = cli_long("ak-cache", ak_cache, 8, 1048576, &ac)) != CLI_PARSED) ||
	    (rate_caller != NULL &&
	     (r = cli_long("rate-caller", rate_caller, 1, 1000000, &rc)) != CLI_PARSED) ||
	    (rate_host != NULL && (r = cli_long("rate-host", rate_host, 1, 100000, &rh)) != CLI_PARSED))
		return r;
	if ((sync_ms != NULL && (r = cli_long("sync-ms", sync_ms, 50, 10000, &sm)) != CLI_PARSED) ||
	    (heartbeat != NULL && (r = cli_long("heartbeat", heartbeat, 1, 300, &hb)) != CLI_PARSED) ||
	    (push_interval != NULL &&
	     (r = cli_long("push-interval", push_interval, 1, 86400, &pi)) != CLI_PARSED))
		return r;
	if (notify != NULL && strcmp(notify, "on") != 0 && strcmp(notify, "off") != 0)
		return cli_usage_error("--notify: on or off");
	if (replica_id != NULL && (replica_id[0] == '\0' || strlen(replica_id) >= VSTORE_NAME_MAX))
		return cli_usage_error("--replica-id: 1..%d bytes", VSTORE_NAME_MAX - 1);
	(void)snprintf(list, sizeof(list), "sha256:%s", pcrs);
	if (vf_parse_pcr_list(list, &cfg.quote_mask) != ATTEST_OK || cfg.quote_mask == 0)
		return cli_usage_error("--quote-pcrs: want a list like 0,1,2,7");
	if (store != NULL && store[0] != '\0' && !vstore_spec_is_pg(store))
		return cli_usage_error("--store: want a postgresql:// URI");
	cfg.state = state;
	cfg.store = store != NULL && store[0] != '\0' ? store : NULL;
	cfg.ca_dir = ca;
	cfg.listen = listen;
	cfg.port_file = port_file;
	cfg.policy = policy;
	cfg.nonce_ttl = (int)ttl;
	cfg.tcti = tcti;
	cfg.rate_resource = rc;
	cfg.rate_host = rh;
	cfg.leaf_cache = (size_t)lc;
	cfg.issuer_cache = (size_t)ic;
	cfg.ak_cache = (size_t)ac;
	cfg.request_deadline = (int)dl;
	cfg.max_conns = (unsigned)mc;
	cfg.per_source = (unsigned)ps;
	cfg.user = user;
	cfg.replica_id = replica_id;
	cfg.sync_ms = (int)sm;
	cfg.notify = notify == NULL || strcmp(notify, "on") == 0;
	cfg.heartbeat = (int)hb;
	cfg.push_interval = (int)pi;
	if (dashboard == NULL || strcmp(dashboard, "loopback") == 0)
		cfg.dashboard = VF_DASH_LOOPBACK;
	else if (strcmp(dashboard, "admin") == 0)
		cfg.dashboard = VF_DASH_ADMIN;
	else if (strcmp(dashboard, "off") == 0)
		cfg.dashboard = VF_DASH_OFF;
	else
		return cli_usage_error("--dashboard: loopback, admin or off");
	cfg.detect_off = no_detect != NULL;
	if (detect_entities != NULL) {
		long de;

		if ((r = cli_long("detect-entities", detect_entities, 16, 262144, &de)) != CLI_PARSED)
			return r;
		cfg.detect_entities = (size_t)de;
	}
	if (posture_window != NULL) {
		long pw;

		if ((r = cli_long("posture-attest-window", posture_window, 1, 31536000, &pw)) !=
		    CLI_PARSED)
			return r;
		cfg.posture_window = pw;
	}
	if (posture_ttl_cap != NULL) {
		long tc;

		if ((r = cli_long("posture-ttl-cap", posture_ttl_cap, 1, 31536000, &tc)) != CLI_PARSED)
			return r;
		cfg.posture_ttl_cap = tc;
	}
	cfg.federation = federation != NULL && federation[0] != '\0' ? federation : NULL;
	cfg.federation_max_age = 3600;
	if (federation_max_age != NULL) {
		long fa;

		if ((r = cli_long("federation-max-age", federation_max_age, 4, 604800, &fa)) !=
		    CLI_PARSED)
			return r;
		cfg.federation_max_age = fa;
	}
	if (alert_webhook != NULL && strncmp(alert_webhook, "https://", 8) != 0 &&
	    strncmp(alert_webhook, "http://", 7) != 0)
		return cli_usage_error("--alert-webhook: want an http:// or https:// URL");
	cfg.alert_webhook = alert_webhook;
	cfg.alert_ca = alert_ca;
	cfg.alert_syslog = alert_syslog != NULL;
	if ((r = vf_serve(&cfg)) != ATTEST_OK)
		return cli_fail(r, "serve");
	return CLI_EXIT_OK;
}

static int cmd_caller_add(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *state = NULL, *name = NULL, *role = NULL, *out = NULL, *store = NULL;
	const struct cli_opt opts[] = {
		{"state", "DIR", "verifier state directory", 1, &state},
		{"store", "URI", "the store in PostgreSQL (postgresql://...) instead of "
		 "STATE/verifier.db", 0, &store},
		{"name", "NAME", "caller name (logged with every request it makes)", 1, &name},
		{"role", "ROLE", "resource (may ask for decisions) or admin (also admin endpoints)", 1,
		 &role},
		{"out", "PREFIX", "write PREFIX.pem and PREFIX.key (never overwritten)", 1, &out},
		{0}};
	struct vcaller c = {0};
	struct vstore *st = NULL;
	int r = cli_parse(cmd, opts, argc, argv);

	if (r != CLI_PARSED)
		return r;
	if (strcmp(role, "resource") == 0)
		c.role = VCALLER_RESOURCE;
	else if (strcmp(role, "admin") == 0)
		c.role = VCALLER_ADMIN;
	else
		return cli_usage_error("--role: resource or admin");
	if (strlen(name) == 0 || strlen(name) >= sizeof(c.name))
		return cli_usage_error("--name: 1..%zu bytes", sizeof(c.name) - 1);
	(void)snprintf(c.name, sizeof(c.name), "%s", name);
	if (store != NULL && !vstore_spec_is_pg(store))
		return cli_usage_error("--store: want a postgresql:// URI");
	if ((r = vstore_open_spec(store, state, 0, &st)) != ATTEST_OK)
		return cli_fail(r, "open the store");
	/* the generation bumped: a caller added again under its name gets a
	 * new key, and connections a running verifier kept for the old
	 * certificate must look it up again (and be refused) */
	if ((r = vf_tlsca_issue_client(state, name, out, c.spki_hash)) != ATTEST_OK ||
	    (r = st->ops->caller_put(st, &c)) != ATTEST_OK ||
	    (r = st->ops->generation_bump(st, &(uint64_t){0})) != ATTEST_OK) {
		vstore_close(st);
		return cli_fail(r, "enrol caller %s", name);
	}
	vstore_close(st);
	printf("caller %s (%s): %s.pem, %s.key\n", name, role, out, out);
	return CLI_EXIT_OK;
}

struct caller_find {
	const char *name;
	struct vcaller c;
	int found;
};

static int caller_find_cb(void *arg, const struct vcaller *c)
{
	struct caller_find *f = arg;

	if (strcmp(c->name, f->name) == 0) {
		f->c = *c;
		f->found = 1;
	}
	return 0;
}

/* Revoke a caller: its row marked revoked and the change generation
 * bumped, so a running verifier (every replica) drops the callers its
 * open connections keep and refuses this one's next request. */
static int cmd_caller_revoke(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *state = NULL, *name = NULL, *store = NULL;
	const struct cli_opt opts[] = {
		{"state", "DIR", "verifier state directory", 1, &state},
		{"store", "URI", "the store in PostgreSQL (postgresql://...) instead of "
		 "STATE/verifier.db", 0, &store},
		{"name", "NAME", "the caller to revoke", 1, &name},
		{0}};
	struct caller_find f;
	struct vstore *st = NULL;
	uint64_t g = 0;
	int r = cli_parse(cmd, opts, argc, argv);

	if (r != CLI_PARSED)
		return r;
	if (store != NULL && !vstore_spec_is_pg(store))
		return cli_usage_error("--store: want a postgresql:// URI");
	memset(&f, 0, sizeof(f));
	f.name = name;
	if ((r = vstore_open_spec(store, state, 0, &st)) != ATTEST_OK)
		return cli_fail(r, "open the store");
	if ((r = st->ops->caller_list(st, caller_find_cb, &f)) == ATTEST_OK && !f.found)
		r = attest_fail(ATTEST_E_NOT_FOUND, "no caller %s", name);
	if (r == ATTEST_OK) {
		f.c.revoked = 1;
		if ((r = st->ops->caller_put(st, &f.c)) == ATTEST_OK)
			r = st->ops->generation_bump(st, &g);
	}
	vstore_close(st);
	if (r != ATTEST_OK)
		return cli_fail(r, "revoke caller %s", name);
	printf("caller %s revoked (change generation %llu)\n", name, (unsigned long long)g);
	return CLI_EXIT_OK;
}

static int cmd_policy(const struct cli_cmd *cmd, int argc, char **argv)
{
	(void)cmd;
	return vf_cmd_policy(argc, argv);
}

static int cmd_check_quote(const struct cli_cmd *cmd, int argc, char **argv)
{
	(void)cmd;
	return vf_cmd_check_quote(argc, argv);
}

static int cmd_refset(const struct cli_cmd *cmd, int argc, char **argv)
{
	(void)cmd;
	return vf_cmd_refset(argc, argv);
}

int main(int argc, char **argv)
{
	static const struct cli_cmd cmds[] = {
		{{"init", NULL}, cmd_init, "create the state: TLS CA, server certificate, store, policy",
		 NULL},
		{{"serve", NULL}, cmd_serve, "run the HTTPS service (docs/verifier-api.md)",
		 "Serves host enrolment, nonces, quotes, inventory reports, decisions and the admin "
		 "API. Intent issuers trusted for decisions are STATE/intent-issuers/NAME.pem, "
		 "operator keys for reference sets STATE/operators/NAME.pem. SIGHUP reloads the "
		 "policy; a bad policy is refused and the running one stays."},
		{{"caller", "add"}, cmd_caller_add, "issue a client certificate for a resource server or operator",
		 NULL},
		{{"caller", "revoke"}, cmd_caller_revoke,
		 "revoke a caller: refused from its next request, on connections already open too",
		 "Marks the caller revoked in the store and bumps the change generation; a running "
		 "verifier applies it within --sync-ms and refuses the caller's next request, also "
		 "on a kept-alive connection."},
		{{"policy", NULL}, cmd_policy, "policy check FILE | policy test FILE REQUEST.json",
		 NULL},
		{{"check-quote", NULL}, cmd_check_quote,
		 "verify a tpm2_quote capture with our checks (stricter than tpm2_checkquote)", NULL},
		{{"posture", NULL}, vp_cmd_posture,
		 "the fleet's posture report: weaknesses with evidence and fix (JSON or CSV)",
		 "Reads the store (hosts, agents, callers, reference sets, registration changes, "
		 "the behaviour baselines decisions left) and STATE/intent-issuers. Kinds, "
		 "severities and what each means: docs/detection.md \"Posture\". Exit 0 with the "
		 "report (findings or none), 1 when the store cannot be read."},
		{{"refset", NULL}, cmd_refset, "refset sign | refset show: operator-signed reference values",
		 NULL},
	};
	static const struct cli_prog prog = {
		"attest-verifier",
		"Remote verifier for attestd fleets: host attestation, inventory, point-of-use decisions.",
		"Exit status: 0 done (or allowed), 1 failed, refused or denied, 2 usage error.",
		cmds, sizeof(cmds) / sizeof(cmds[0])};

	return cli_main(&prog, argc, argv);
}
