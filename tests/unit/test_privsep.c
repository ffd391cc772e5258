/* test_privsep - attestd split in a privileged monitor and an
 * unprivileged front (docs/privsep.md): a compromised front gets no
 * signature the monitor did not check; the front runs without privileges
 * under seccomp; either process killed, the service comes back and keeps
 * what it acknowledged. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <CUnit/CUnit.h>
#include <cjson/cJSON.h>

#include "audit/audit.h"
#include "core/fileio.h"
#include "net/wire.h"
#include "testutil.h"
#include "testutil_daemon.h"
#include "testutil_verifier.h"

#define ISSUE(agent) "{\"op\":\"issue\",\"agent\":\"" agent "\"}"

static int log_count(const struct daemon *d, const char *what)
{
	char cmd[1200];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "grep -c -- '%s' '%s'", what, d->log);
	if ((p = popen(cmd, "r")) != NULL) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

/* wait up to 20 s for `what` to appear at least n times in the log */
static int log_wait(const struct daemon *d, const char *what, int n)
{
	for (int i = 0; i < 200; i++) {
		if (log_count(d, what) >= n)
			return 1;
		usleep(100000);
	}
	return 0;
}

static const char *probe(const cJSON *reply, const char *name)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(reply, "probes"), name);

	return cJSON_IsString(p) ? p->valuestring : "(missing)";
}

#define EXPECT_PROBE(reply, name, want)                                                           \
	do {                                                                                      \
		const char *got_ = probe(reply, name);                                            \
		if (strcmp(got_, want) != 0)                                                      \
			fprintf(stderr, "  probe %s: want %s, got %s\n", name, want, got_);      \
		CU_ASSERT_STRING_EQUAL(got_, want);                                               \
	} while (0)

/* A front that an attacker controls (tests/privsep/evil_front.c) asks the
 * monitor, with a real connection of agent alpha, for: beta's identity, a
 * longer lifetime, an unregistered scope, intents the registration or the
 * audience refuse, weak and trailing-garbage keys, a task id the leaf
 * cannot carry, and a signature for a socket that is not an agent's
 * connection. Each is refused with its reason; the honest order is signed;
 * then an order without a connection gets the front killed and logged,
 * and a new front is started.
 *
 * The admin socket too: the monitor grants an admin op only with a
 * connection of the admin socket whose peer is root (it checks the socket
 * and SO_PEERCRED itself); with another uid's connection, an agent's
 * connection or a socketpair, register, revoke, stats and attest are
 * refused, and an admin request outside its typed shape gets the front
 * killed. Restarted honestly, beta is not revoked and no gamma exists. */
static void test_compromised_front(void)
{
	static struct daemon d;
	char alpha[700], beta[700], evil[700], id_a[200], id_b[200];
	cJSON *reply;

	daemon_up(&d);
	make_agent_binary(&d, "alpha", NULL, alpha, sizeof(alpha));
	make_agent_binary(&d, "beta", "other", beta, sizeof(beta));
	register_agent(&d, "alpha", alpha, "0");
	{
		char json[2048];

		/* beta serves TLS as beta.fleet.example: a name alpha must not get */
		snprintf(json, sizeof(json),
			 "{\"op\":\"register\",\"name\":\"beta\",\"binary\":\"%s\",\"uids\":[0],"
			 "\"risk_tier\":\"low\",\"dns_names\":[\"beta.fleet.example\"]," TU_ENV_ALLOW_JSON
			 "}", beta);
		TU_ASSERT_ERR(admin_call(&d, json, &reply), ATTEST_OK);
		cJSON_Delete(reply);
	}
	daemon_stop(&d);
	snprintf(evil, sizeof(evil), "%s/../tests/evil_front", agents_dir());
	snprintf(id_a, sizeof(id_a), "spiffe://fleet.example/host/web-01/agent/alpha");
	snprintf(id_b, sizeof(id_b), "spiffe://fleet.example/host/web-01/agent/beta");
	setenv("EVIL_ME", "alpha", 1);
	setenv("EVIL_MY_ID", id_a, 1);
	setenv("EVIL_OTHER", "beta", 1);
	setenv("EVIL_OTHER_ID", id_b, 1);
	setenv("EVIL_DIR", d.sw.dir, 1);
	d.extra_args[0] = "--front-exec";
	d.extra_args[1] = evil;
	daemon_start(&d, "64");
	/* the agent's environment must not carry them (env allowlist) */
	unsetenv("EVIL_ME");
	unsetenv("EVIL_MY_ID");
	unsetenv("EVIL_OTHER");
	unsetenv("EVIL_OTHER_ID");
	unsetenv("EVIL_DIR");
	/* with root's admin connection, a harmless admin op works (and a
	 * push is refused only because there is no verifier) */
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"stats\"}", &reply), ATTEST_OK);
	EXPECT_PROBE(reply, "stats", "ok");
	EXPECT_PROBE(reply, "attest", "ATTEST_E_STATE");
	cJSON_Delete(reply);
	/* with a connection of the admin socket from another uid (its mode
	 * opened for the test): nothing */
	{
		char *envp[] = { NULL };

		CU_ASSERT_FATAL(chmod(d.admin, 0666) == 0);
		reply = run_agent_as(65534, alpha, d.admin, "{\"op\":\"stats\"}", envp);
		CU_ASSERT_PTR_NOT_NULL_FATAL(reply);
		EXPECT_PROBE(reply, "stats", "ATTEST_E_DENIED");
		EXPECT_PROBE(reply, "attest", "ATTEST_E_DENIED");
		EXPECT_PROBE(reply, "revoke", "ATTEST_E_DENIED");
		EXPECT_PROBE(reply, "register", "ATTEST_E_DENIED");
		cJSON_Delete(reply);
		CU_ASSERT(log_wait(&d, "handed over an admin connection of uid 65534", 1));
	}
	reply = run_agent(NULL, alpha, d.sock, ISSUE("alpha"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(reply);
	EXPECT_PROBE(reply, "other_agent", "ATTEST_E_MEASUREMENT");
	EXPECT_PROBE(reply, "long_ttl", "ATTEST_E_TTL");
	EXPECT_PROBE(reply, "extra_scope", "ATTEST_E_SCOPE");
	EXPECT_PROBE(reply, "intent_scope", "ATTEST_E_SCOPE");
	EXPECT_PROBE(reply, "intent_audience", "ATTEST_E_INTENT_AUDIENCE");
	EXPECT_PROBE(reply, "intent_marker", "ATTEST_E_PARSE");
	EXPECT_PROBE(reply, "weak_key", "ATTEST_E_CSR");
	EXPECT_PROBE(reply, "key_trailing", "ATTEST_E_CSR");
	EXPECT_PROBE(reply, "key_off_curve", "ATTEST_E_CSR");
	EXPECT_PROBE(reply, "task_control", "ATTEST_E_INVALID_ARG");
	EXPECT_PROBE(reply, "dns_unregistered", "ATTEST_E_DNS_NAME_UNREGISTERED");
	EXPECT_PROBE(reply, "dns_other_agents", "ATTEST_E_DNS_NAME_UNREGISTERED");
	EXPECT_PROBE(reply, "not_a_caller", "ATTEST_E_DENIED");
	EXPECT_PROBE(reply, "workload_on_agent_conn", "ATTEST_E_DENIED");
	EXPECT_PROBE(reply, "workload_jwt_on_agent_conn", "ATTEST_E_DENIED");
	CU_ASSERT(log_wait(&d, "handed over a descriptor that is no connection", 1));
	EXPECT_PROBE(reply, "honest", "ok");
	/* admin requests with an agent's connection or a socketpair */
	EXPECT_PROBE(reply, "admin_agent_conn", "ATTEST_E_DENIED");
	EXPECT_PROBE(reply, "attest_agent_conn", "ATTEST_E_DENIED");
	EXPECT_PROBE(reply, "admin_socketpair", "ATTEST_E_DENIED");
	CU_ASSERT(log_wait(&d, "no connection of the admin socket", 3));
	cJSON_Delete(reply);
	/* the order without its connection: killed, logged, replaced */
	CU_ASSERT(log_wait(&d, "sent a request outside the protocol", 1));
	CU_ASSERT(log_wait(&d, "front started", 2));
	/* the next fronts: an admin request with a trailing byte, an admin
	 * op outside the set; each killed and replaced */
	for (int i = 0; i < 2; i++) {
		cJSON_Delete(run_agent(NULL, alpha, d.sock, ISSUE("alpha")));
		CU_ASSERT(log_wait(&d, "admin request malformed", i + 1));
		CU_ASSERT(log_wait(&d, "front started", i + 3));
	}
	d.extra_args[0] = d.extra_args[1] = NULL;
	daemon_stop(&d);
	/* nothing was revoked or registered through the compromised front */
	daemon_start(&d, "64");
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"show\",\"name\":\"beta\"}", &reply), ATTEST_OK);
	CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(reply, "agent"), "revoked")));
	cJSON_Delete(reply);
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"show\",\"name\":\"gamma\"}", &reply),
		      ATTEST_E_AGENT_UNKNOWN);
	daemon_down(&d);
}

/* The field of /proc/PID/status named key (the rest of its line). */
static int status_field(pid_t pid, const char *key, char *out, size_t outsz)
{
	char path[64], line[256];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':') {
			const char *v = line + strlen(key) + 1;

			v += strspn(v, " \t");
			snprintf(out, outsz, "%.*s", (int)strcspn(v, "\n"), v);
			found = 1;
		}
	}
	fclose(f);
	return found;
}

/* The front: uid nobody, no capabilities, no_new_privs, a seccomp filter,
 * no descriptor of the state directory, and as its user it cannot open the
 * state's files; the monitor is another process. */
static void test_front_confined(void)
{
	static struct daemon d;
	char v[128], path[700], fddir[64];
	pid_t front;
	struct stat st;

	daemon_up(&d);
	CU_ASSERT_FATAL(log_wait(&d, "seccomp filter on", 1)); /* confined by now */
	front = daemon_agent_server(&d);
	CU_ASSERT_FATAL(front != d.pid);
	CU_ASSERT(status_field(front, "Uid", v, sizeof(v)) && strcmp(v, "65534\t65534\t65534\t65534") == 0);
	CU_ASSERT(status_field(front, "CapPrm", v, sizeof(v)) && strcmp(v, "0000000000000000") == 0);
	CU_ASSERT(status_field(front, "CapEff", v, sizeof(v)) && strcmp(v, "0000000000000000") == 0);
	CU_ASSERT(status_field(front, "NoNewPrivs", v, sizeof(v)) && strcmp(v, "1") == 0);
	CU_ASSERT(status_field(front, "Seccomp", v, sizeof(v)) && strcmp(v, "2") == 0);
	/* no descriptor of the state directory */
	snprintf(fddir, sizeof(fddir), "/proc/%d/fd", (int)front);
	CU_ASSERT_EQUAL(tu_sh("for f in %s/*; do readlink \"$f\"; done | grep -q '^%s' && exit 1; "
			      "exit 0", fddir, d.state), 0);
	/* and its user cannot open the state's files */
	snprintf(path, sizeof(path), "%s/identity.json", d.state);
	CU_ASSERT_FATAL(stat(path, &st) == 0);
	{
		pid_t pid = fork();
		int status;

		CU_ASSERT_FATAL(pid >= 0);
		if (pid == 0) {
			if (setgid(65534) != 0 || setuid(65534) != 0)
				_exit(2);
			_exit(open(path, O_RDONLY) < 0 && errno == EACCES ? 0 : 1);
		}
		CU_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
			  WEXITSTATUS(status) == 0);
	}
	daemon_down(&d);
}

/* A test build's front (attestd-hooks) makes a system call outside its
 * filter on request: the kernel kills it (SIGSYS), the monitor says so
 * and starts another, and agents are served again. */
static void test_seccomp_kill(void)
{
	static struct daemon d;
	char bin[700], hooks[700];
	cJSON *reply;

	daemon_up(&d);
	make_agent_binary(&d, "alpha", NULL, bin, sizeof(bin));
	register_agent(&d, "alpha", bin, "0");
	daemon_stop(&d);
	snprintf(hooks, sizeof(hooks), "%s/../tests/attestd-hooks", agents_dir());
	d.extra_args[0] = "--front-exec";
	d.extra_args[1] = hooks;
	daemon_start(&d, "64");
	{
		/* no answer: the front dies */
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		cJSON *req = cJSON_Parse("{\"op\":\"x-test-syscall\"}");
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		memcpy(sa.sun_path, d.sock, strlen(d.sock) + 1);
		CU_ASSERT_FATAL(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
		CU_ASSERT_EQUAL(attest_wire_send(fd, req), ATTEST_OK);
		reply = NULL;
		CU_ASSERT_NOT_EQUAL(attest_wire_recv(fd, 20000, &reply), ATTEST_OK);
		cJSON_Delete(reply);
		cJSON_Delete(req);
		close(fd);
	}
	CU_ASSERT(log_wait(&d, "seccomp filter", 2)); /* "filter on" at start, then the kill */
	CU_ASSERT(log_wait(&d, "killed by signal 31", 1));
	CU_ASSERT(log_wait(&d, "front started", 2));
	for (int i = 0; i < 50; i++) {
		reply = run_agent(NULL, bin, d.sock, ISSUE("alpha"));
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")))
			break;
		cJSON_Delete(reply);
		reply = NULL;
		usleep(200000);
	}
	expect_cert(&d, reply, "alpha");
	d.extra_args[0] = d.extra_args[1] = NULL;
	daemon_down(&d);
}

/* pid runs (a zombie waiting for init to reap it has exited) */
static int alive(pid_t pid)
{
	char v[64];

	return status_field(pid, "State", v, sizeof(v)) && v[0] != 'Z' && v[0] != 'X';
}

static int count_issues(const struct attest_audit_view *v, void *arg)
{
	(void)v;
	(*(int *)arg)++;
	return ATTEST_OK;
}

static int issue_records(const struct daemon *d)
{
	struct attest_audit_query q = { 0 };
	char dir[700];
	int n = 0;

	q.type = "issue";
	snprintf(dir, sizeof(dir), "%s/audit", d->state);
	CU_ASSERT_EQUAL(attest_audit_query(dir, &q, count_issues, &n), ATTEST_OK);
	return n;
}

/* kill -9 of the front: the monitor notices and starts another; agents
 * are served again. kill -9 of the monitor: the front notices its channel
 * closed and exits; attestd started again has every registration and
 * every acknowledged issuance's record. */
static void test_kill_either(void)
{
	static struct daemon d;
	char bin[700];
	pid_t front;
	cJSON *reply = NULL;
	int st;

	daemon_up(&d);
	make_agent_binary(&d, "alpha", NULL, bin, sizeof(bin));
	register_agent(&d, "alpha", bin, "0");
	expect_cert(&d, run_agent(NULL, bin, d.sock, ISSUE("alpha")), "alpha");
	front = daemon_agent_server(&d);
	CU_ASSERT_FATAL(front != d.pid);
	CU_ASSERT_FATAL(kill(front, SIGKILL) == 0);
	CU_ASSERT(log_wait(&d, "killed by signal 9", 1));
	for (int i = 0; i < 50; i++) {
		reply = run_agent(NULL, bin, d.sock, ISSUE("alpha"));
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")))
			break;
		cJSON_Delete(reply);
		reply = NULL;
		usleep(200000);
	}
	expect_cert(&d, reply, "alpha");
	/* the monitor */
	front = daemon_agent_server(&d);
	CU_ASSERT_FATAL(front != d.pid);
	CU_ASSERT_FATAL(kill(d.pid, SIGKILL) == 0);
	CU_ASSERT(waitpid(d.pid, &st, 0) == d.pid);
	d.pid = 0;
	for (int i = 0; i < 200 && alive(front); i++)
		usleep(100000);
	CU_ASSERT(!alive(front)); /* the front is gone too */
	daemon_start(&d, "64");
	CU_ASSERT_EQUAL(issue_records(&d), 2);
	expect_cert(&d, run_agent(NULL, bin, d.sock, ISSUE("alpha")), "alpha");
	daemon_down(&d);
}

/* The admin socket is served by the front, each op asked of the monitor
 * as a typed request: register (more agents than one list answer holds),
 * list, show, revoke, remove, stats and issue on the admin socket work,
 * and list and show say byte for byte what attestd --no-privsep says. A
 * non-root peer of the admin socket is refused. */
static void test_admin_through_front(void)
{
	static struct daemon d;
	char bin[700], name[16], *list_split = NULL, *show_split = NULL, *s;
	cJSON *reply = NULL;
	int n = 14; /* > ADMIN_LIST_PAGE; 13 after one is removed */

	daemon_up(&d);
	make_agent_binary(&d, "alpha", NULL, bin, sizeof(bin));
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "a%02d", i);
		register_agent(&d, name, bin, "0");
	}
	/* (restarted: the registry's order is the order it loads in) */
	daemon_stop(&d);
	daemon_start(&d, "64");
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"list\"}", &reply), ATTEST_OK);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(reply, "agents")), n);
	list_split = cJSON_PrintUnformatted(reply);
	cJSON_Delete(reply);
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"show\",\"name\":\"a05\"}", &reply), ATTEST_OK);
	CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItemCaseSensitive(reply, "agent_ca"));
	show_split = cJSON_PrintUnformatted(reply);
	cJSON_Delete(reply);
	/* the same answers from one process */
	d.extra_args[0] = "--no-privsep";
	daemon_stop(&d);
	daemon_start(&d, "64");
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"list\"}", &reply), ATTEST_OK);
	s = cJSON_PrintUnformatted(reply);
	CU_ASSERT(s != NULL && list_split != NULL && strcmp(s, list_split) == 0);
	free(s);
	cJSON_Delete(reply);
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"show\",\"name\":\"a05\"}", &reply), ATTEST_OK);
	s = cJSON_PrintUnformatted(reply);
	CU_ASSERT(s != NULL && show_split != NULL && strcmp(s, show_split) == 0);
	free(s);
	cJSON_Delete(reply);
	free(list_split);
	free(show_split);
	d.extra_args[0] = NULL;
	daemon_stop(&d);
	daemon_start(&d, "64");
	/* revoke, remove, stats */
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"remove\",\"name\":\"a05\"}", &reply),
		      ATTEST_E_STATE);
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"revoke\",\"name\":\"a05\"}", &reply), ATTEST_OK);
	CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(reply, "agent"), "revoked")));
	cJSON_Delete(reply);
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"remove\",\"name\":\"a05\"}", &reply), ATTEST_OK);
	cJSON_Delete(reply);
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"stats\"}", &reply), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(reply, "agents")),
			       "13");
	cJSON_Delete(reply);
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"register\",\"name\":\"x\",\"binary\":\"/bin/sh\","
				     "\"uids\":[0],\"risk_tier\":\"low\",\"max_ttl\":999999}", &reply),
		      ATTEST_E_PARSE);
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"register\",\"name\":\"x\",\"binary\":\"/bin/sh\","
				     "\"uids\":[0],\"risk_tier\":\"low\",\"max_ttl\":3601}", &reply),
		      ATTEST_E_PARSE); /* over attestd's --max-ttl: the monitor's check */
	/* issue on the admin socket: root's caller measured as usual */
	expect_cert(&d, run_agent(NULL, bin, d.admin, ISSUE("a00")), "a00");
	/* a non-root peer of the admin socket */
	{
		char *envp[] = { NULL };

		CU_ASSERT_FATAL(chmod(d.admin, 0666) == 0);
		expect_refused(run_agent_as(65534, bin, d.admin, "{\"op\":\"list\"}", envp),
			       "ATTEST_E_DENIED");
	}
	daemon_down(&d);
}

/* The pushes run in the front: a compromised front answers the monitor's
 * push requests itself (tests/privsep/evil_front.c, EVIL_PUSH). It gets a
 * quote over a nonce of its choice (as any verifier would), but the
 * renewed host CA certificates it hands over are checked by the monitor
 * against the pinned root and the host key: one for another key and one
 * for the host key under a CA of its own are refused and identity.json is
 * unchanged; a request it does not answer is given up on after its
 * deadline (its late answer dropped); an answer for a request not in
 * flight gets it killed. */
static void test_compromised_push(void)
{
	static struct daemon d;
	char evil[700], idpath[700], hostca[700], root[700], bin[700];
	uint8_t *before = NULL, *after = NULL;
	size_t nbefore = 0, nafter = 0;

	daemon_up(&d);
	make_agent_binary(&d, "alpha", NULL, bin, sizeof(bin));
	register_agent(&d, "alpha", bin, "0");
	daemon_stop(&d);
	snprintf(evil, sizeof(evil), "%s/../tests/evil_front", agents_dir());
	snprintf(idpath, sizeof(idpath), "%s/identity.json", d.state);
	snprintf(hostca, sizeof(hostca), "%s/host-ca.pem", d.state);
	snprintf(root, sizeof(root), "%s/root.pem", d.state);
	TU_ASSERT_ERR(attest_file_read(idpath, 1 << 20, &before, &nbefore), ATTEST_OK);
	snprintf(d.verifier_url, sizeof(d.verifier_url), "https://127.0.0.1:1");
	snprintf(d.verifier_ca, sizeof(d.verifier_ca), "%s", root);
	setenv("EVIL_ME", "alpha", 1);
	setenv("EVIL_MY_ID", "x", 1);
	setenv("EVIL_OTHER", "alpha", 1);
	setenv("EVIL_OTHER_ID", "x", 1);
	setenv("EVIL_PUSH", "1", 1);
	setenv("EVIL_HOST_CA", hostca, 1);
	setenv("EVIL_ROOT", root, 1);
	d.extra_args[0] = "--front-exec";
	d.extra_args[1] = evil;
	daemon_start(&d, "64");
	unsetenv("EVIL_ME");
	unsetenv("EVIL_MY_ID");
	unsetenv("EVIL_OTHER");
	unsetenv("EVIL_OTHER_ID");
	unsetenv("EVIL_PUSH");
	unsetenv("EVIL_HOST_CA");
	unsetenv("EVIL_ROOT");
	/* the request it held: given up on, its late answer dropped */
	for (int i = 0; i < 3 && !log_wait(&d, "the front did not answer request", 1); i++)
		;
	CU_ASSERT(log_count(&d, "the front did not answer request") >= 1);
	CU_ASSERT(log_wait(&d, "a late answer to request [0-9]* dropped", 1));
	CU_ASSERT(log_wait(&d, "renewed host CA certificate refused: .*not for our host issuing key",
			   1));
	CU_ASSERT(log_wait(&d, "renewed host CA certificate refused: .*issuing CA certificate", 1));
	CU_ASSERT(log_wait(&d, "push: state trusted", 3));
	CU_ASSERT(log_wait(&d, "sent a request outside the protocol (a push answer for slot", 1));
	CU_ASSERT(log_wait(&d, "front started", 2));
	CU_ASSERT_EQUAL(log_count(&d, "renew done"), 0); /* nothing renewed */
	d.extra_args[0] = d.extra_args[1] = NULL;
	d.verifier_url[0] = '\0';
	daemon_stop(&d);
	TU_ASSERT_ERR(attest_file_read(idpath, 1 << 20, &after, &nafter), ATTEST_OK);
	CU_ASSERT(nbefore == nafter && before != NULL && after != NULL &&
		  memcmp(before, after, nbefore) == 0);
	free(before);
	free(after);
	/* the host's identity is intact: leaves still chain to the fleet */
	daemon_start(&d, "64");
	expect_cert(&d, run_agent(NULL, bin, d.sock, ISSUE("alpha")), "alpha");
	daemon_down(&d);
}

/* A name other than localhost (curl resolves that one itself) that
 * resolves to 127.0.0.1 here: this host's name when /etc/hosts says so. */
static int loopback_name(char *name, size_t namesz)
{
	struct addrinfo hints = { .ai_family = AF_INET }, *res = NULL;
	int ok = 0;

	if (gethostname(name, namesz) != 0 || strcmp(name, "localhost") == 0 ||
	    getaddrinfo(name, NULL, &hints, &res) != 0)
		return 0;
	for (struct addrinfo *a = res; a != NULL; a = a->ai_next)
		ok |= ((struct sockaddr_in *)a->ai_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
	freeaddrinfo(res);
	return ok;
}

/* The front runs the pushes (libcurl, TLS to the pinned CA it got from
 * the monitor as bytes, the verifier's answers): to a real verifier named
 * by DNS (this host's name when it is loopback: glibc's resolver and
 * curl's resolver thread run under the front's seccomp filter; else
 * localhost), verdicts come back and the front is never killed. */
static void test_front_pushes(void)
{
	static struct vfleet f;
	struct daemon *d = &f.d;
	char *colon, name[40];
	int before;

	if (!loopback_name(name, sizeof(name))) {
		fprintf(stderr, "  (no loopback name but localhost: curl resolves that itself)\n");
		snprintf(name, sizeof(name), "localhost");
	}
	setenv("ATTEST_TEST_VERIFIER_NAME", name, 1);
	vfleet_host_up(&f, NULL);
	unsetenv("ATTEST_TEST_VERIFIER_NAME");
	CU_ASSERT(log_wait(d, "push: state trusted", 1));
	daemon_stop(d);
	colon = strrchr(d->verifier_url, ':');
	CU_ASSERT_FATAL(colon != NULL && strncmp(d->verifier_url, "https://127.0.0.1:", 18) == 0);
	{
		char port[16];

		snprintf(port, sizeof(port), "%s", colon + 1);
		snprintf(d->verifier_url, sizeof(d->verifier_url), "https://%s:%s", name, port);
	}
	before = log_count(d, "push: state trusted");
	daemon_start(d, "64");
	CU_ASSERT(log_wait(d, "push: state trusted", before + 2));
	CU_ASSERT(log_wait(d, "report: 0 agents reported", 1));
	CU_ASSERT_EQUAL(log_count(d, "killed by signal"), 0);
	CU_ASSERT_EQUAL(log_count(d, "front started"), 2); /* once per start */
	vfleet_down(&f);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "a compromised front gets no signature the monitor did not check",
		  test_compromised_front },
		{ "the front: nobody, no capabilities, no_new_privs, seccomp, no state",
		  test_front_confined },
		{ "a system call outside the filter kills the front; another serves",
		  test_seccomp_kill },
		{ "kill -9 of either process: noticed, service back, nothing lost",
		  test_kill_either },
		{ "the admin socket through the front: every op, as without the split",
		  test_admin_through_front },
		{ "a compromised front cannot install a host CA the monitor did not check",
		  test_compromised_push },
		{ "the front pushes to the verifier, by DNS name, under its filter",
		  test_front_pushes },
		{ NULL, NULL },
	};

	return tu_main("privsep", tests);
}
