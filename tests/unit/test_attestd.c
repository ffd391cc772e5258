/* test_attestd.c - attestd end to end on swtpm: registration over the admin
 * socket, measured issuance to real processes (tests/agents/raw_client
 * copies), and every refusal with its reason; the daemon survives bad
 * input and leaves no TPM objects behind.
 * Targets: attestd (register.c, issue.c, caller.c, server.c), attest_client_call. */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "net/client.h"
#include "core/json.h"
#include "tpm/tpm.h"
#include "net/wire.h"
#include "testutil.h"
#include "testutil_daemon.h"
#include "x509/x509.h"

static void test_register_and_issue(void)
{
	struct daemon d;
	char a[700], b[700], json[1024];
	cJSON *reply = NULL;

	daemon_up(&d);
	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	make_agent_binary(&d, "agent-b", "x", b, sizeof(b));
	register_agent(&d, "alpha", a, "0");
	register_agent(&d, "beta", b, "0");
	/* duplicate name */
	snprintf(json, sizeof(json), "{\"op\":\"register\",\"name\":\"alpha\",\"binary\":\"%s\","
		 "\"uids\":[0],\"risk_tier\":\"low\"}", a);
	TU_ASSERT_ERR(admin_call(&d, json, &reply), ATTEST_E_EXISTS);
	/* strict and session certificates */
	expect_cert(&d, run_agent(NULL, a, d.sock,
				  "{\"op\":\"issue\",\"agent\":\"alpha\",\"ttl\":120,\"task_id\":\"t-1\"}"),
		    "alpha");
	expect_cert(&d, run_agent(NULL, b, d.sock, "{\"op\":\"issue\",\"agent\":\"beta\",\"mode\":\"session\"}"),
		    "beta");
	expect_cert(&d, run_agent(NULL, b, d.sock, "{\"op\":\"issue\",\"agent\":\"beta\",\"mode\":\"session\","
				  "\"scopes\":[\"ehr:read\"]}"),
		    "beta");
	/* list shows both; the agent socket cannot register */
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"list\"}", &reply), ATTEST_OK);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(reply, "agents")), 2);
	cJSON_Delete(reply);
	expect_refused(run_agent(NULL, a, d.sock, "{\"op\":\"list\"}"), "ATTEST_E_DENIED");
	daemon_down(&d);
}

static void test_refusals(void)
{
	struct daemon d;
	char a[700], other[700], json[512];
	cJSON *reply = NULL;

	daemon_up(&d);
	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	make_agent_binary(&d, "other", "y", other, sizeof(other));
	register_agent(&d, "alpha", a, "0");
	register_agent(&d, "nobody", a, "4242");

	expect_refused(run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"ghost\"}"),
		       "ATTEST_E_AGENT_UNKNOWN");
	/* a different binary asking under alpha's name */
	expect_refused(run_agent(NULL, other, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\"}"),
		       "ATTEST_E_MEASUREMENT");
	expect_refused(run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"nobody\"}"),
		       "ATTEST_E_UID");
	expect_refused(run_agent(NULL, a, d.sock,
				 "{\"op\":\"issue\",\"agent\":\"alpha\",\"scopes\":[\"ehr:delete\"]}"),
		       "ATTEST_E_SCOPE");
	expect_refused(run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\",\"ttl\":601}"),
		       "ATTEST_E_TTL");
	expect_refused(run_agent("LD_PRELOAD=/nonexistent.so", a, d.sock,
				 "{\"op\":\"issue\",\"agent\":\"alpha\"}"),
		       "ATTEST_E_ENV");
	expect_refused(run_agent("LD_LIBRARY_PATH=/tmp", a, d.sock,
				 "{\"op\":\"issue\",\"agent\":\"alpha\"}"),
		       "ATTEST_E_ENV");
	expect_refused(run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\",\"mode\":\"fast\"}"),
		       "ATTEST_E_PARSE");
	expect_refused(run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\",\"csr\":\"junk\"}"),
		       "ATTEST_E_CSR");
	/* the binary on disk modified after registration (in place: same inode) */
	CU_ASSERT_EQUAL_FATAL(tu_sh("printf 'z' >> '%s'", a), 0);
	expect_refused(run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\"}"),
		       "ATTEST_E_MEASUREMENT");
	/* revoked */
	snprintf(json, sizeof(json), "{\"op\":\"revoke\",\"name\":\"nobody\"}");
	TU_ASSERT_ERR(admin_call(&d, json, &reply), ATTEST_OK);
	cJSON_Delete(reply);
	expect_refused(run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"nobody\"}"),
		       "ATTEST_E_REVOKED");
	/* only a revoked agent can be removed; its name is then free again */
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"remove\",\"name\":\"alpha\"}", &reply), ATTEST_E_STATE);
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"remove\",\"name\":\"nobody\"}", &reply), ATTEST_OK);
	cJSON_Delete(reply);
	register_agent(&d, "nobody", other, "0");
	expect_cert(&d, run_agent(NULL, other, d.sock, "{\"op\":\"issue\",\"agent\":\"nobody\"}"),
		    "nobody");
	daemon_down(&d);
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memcpy(sa.sun_path, path, strlen(path) + 1);
	CU_ASSERT_FATAL(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	return fd;
}

/* Send raw bytes; return the error name of the reply ("" if none came). */
static void raw_exchange(const char *sock, const void *data, size_t len, const char *want)
{
	int fd = connect_to(sock);
	cJSON *reply = NULL;
	const cJSON *err;

	if (len > 0)
		CU_ASSERT(send(fd, data, len, MSG_NOSIGNAL) == (ssize_t)len);
	TU_ASSERT_ERR(attest_wire_recv(fd, 5000, &reply), ATTEST_OK);
	err = cJSON_GetObjectItemCaseSensitive(reply, "error");
	CU_ASSERT(cJSON_IsString(err) && strcmp(err->valuestring, want) == 0);
	if (!cJSON_IsString(err) || strcmp(err->valuestring, want) != 0)
		fprintf(stderr, "  want %s, got %s\n", want, reply ? cJSON_PrintUnformatted(reply) : "nothing");
	cJSON_Delete(reply);
	close(fd);
}

static void frame(const char *json, uint8_t *out, size_t *len)
{
	size_t n = strlen(json);

	out[0] = (uint8_t)(n >> 24);
	out[1] = (uint8_t)(n >> 16);
	out[2] = (uint8_t)(n >> 8);
	out[3] = (uint8_t)n;
	memcpy(out + 4, json, n);
	*len = n + 4;
}

static void test_bad_frames(void)
{
	struct daemon d;
	uint8_t buf[256];
	size_t len;
	char a[700];

	daemon_up(&d);
	raw_exchange(d.sock, "\xff\xff\xff\xff", 4, "ATTEST_E_TOO_LARGE");
	raw_exchange(d.sock, "\0\0\0\0", 4, "ATTEST_E_PARSE");
	frame("{\"op\":\"list\",\"op\":\"issue\"}", buf, &len);
	raw_exchange(d.sock, buf, len, "ATTEST_E_DUPLICATE_KEY");
	frame("{\"op\":\"issue\"} trailing", buf, &len);
	raw_exchange(d.sock, buf, len, "ATTEST_E_PARSE");
	frame("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", buf, &len);
	raw_exchange(d.sock, buf, len, "ATTEST_E_PARSE");
	frame("{\"op\":\"format-disk\"}", buf, &len);
	raw_exchange(d.sock, buf, len, "ATTEST_E_PARSE");
	/* a slow client: half a header, then silence past the frame deadline */
	raw_exchange(d.sock, "\0\0", 2, "ATTEST_E_TIMEOUT");
	/* still serving */
	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	register_agent(&d, "alpha", a, "0");
	expect_cert(&d, run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\"}"), "alpha");
	daemon_down(&d);
}

static void test_client_limit(void)
{
	struct daemon d;
	int fds[4];

	memset(&d, 0, sizeof(d));
	daemon_up(&d);
	daemon_stop(&d);
	daemon_start(&d, "3");
	for (int i = 0; i < 3; i++)
		fds[i] = connect_to(d.sock);
	usleep(100000);
	/* the fourth is told the daemon is busy and hung up on */
	raw_exchange(d.sock, NULL, 0, "ATTEST_E_BUSY");
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	usleep(100000);
	fds[3] = connect_to(d.sock);
	close(fds[3]);
	daemon_down(&d);
}

/* Clients that send requests and never read the replies cannot hold slots
 * or memory: one request is in flight per connection and a reply not taken
 * within the frame deadline ends the connection. The admin socket keeps its
 * own slots meanwhile. */
static void test_flood_without_reading(void)
{
	struct daemon d;
	char a[700], req[128];
	uint8_t frame[160];
	int fds[2];
	cJSON *reply = NULL;
	size_t n;

	daemon_up(&d);
	daemon_stop(&d);
	daemon_start(&d, "2");
	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	register_agent(&d, "alpha", a, "0");
	snprintf(req, sizeof(req), "{\"op\":\"issue\",\"agent\":\"nosuch\"}");
	n = strlen(req);
	frame[0] = frame[1] = frame[2] = 0;
	frame[3] = (uint8_t)n;
	memcpy(frame + 4, req, n);
	for (int i = 0; i < 2; i++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		memcpy(sa.sun_path, d.sock, strlen(d.sock) + 1);
		CU_ASSERT_FATAL(fds[i] >= 0 && connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) == 0);
		for (int k = 0; k < 2000; k++)
			if (send(fds[i], frame, n + 4, MSG_NOSIGNAL) < 0)
				break; /* the kernel buffer is full: attestd stopped reading */
	}
	/* both agent slots are taken, yet root can still act */
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"list\"}", &reply), ATTEST_OK);
	cJSON_Delete(reply);
	/* Once their receive buffers are full and a deadline (700 ms here)
	 * has passed without them taking a reply, the flooders are dropped and
	 * their slots are free again (bounded: 10 s). */
	{
		int served = 0;

		for (int tries = 0; tries < 20 && !served; tries++) {
			cJSON *o;

			usleep(500000);
			o = run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\"}");
			served = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"));
			if (served)
				expect_cert(&d, o, "alpha");
			else
				cJSON_Delete(o);
		}
		CU_ASSERT(served);
	}
	for (int i = 0; i < 2; i++)
		close(fds[i]);
	daemon_down(&d);
}

/* issue 16: a refused agent name gets a reason that covers it ("a..b" is
 * 1-63 of a-z 0-9 . -, which is all the old text said) */
static void test_name_rule_text(void)
{
	struct daemon d;
	char a[700], json[1024];
	static const char *const bad[] = { "a..b", ".a", "a.", "-a", "A" };
	cJSON *reply = NULL;

	daemon_up(&d);
	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(json, sizeof(json), "{\"op\":\"register\",\"name\":\"%s\",\"binary\":\"%s\","
			 "\"uids\":[0],\"risk_tier\":\"low\"}", bad[i], a);
		TU_ASSERT_ERR(admin_call(&d, json, &reply), ATTEST_E_PARSE);
		CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), ATTEST_NAME_RULE));
	}
	daemon_down(&d);
}

/* issue 16: an agent whose uid may not use the socket hears why (the
 * socket's group), not "is attestd running?"; a missing socket still asks
 * that. The socket is 0660 root:root here, the client uid 65534. */
static void test_socket_permission_hint(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	cJSON *req = cJSON_Parse("{\"op\":\"issue\",\"agent\":\"x\"}"), *reply = NULL;
	int fd, status = -1;
	pid_t pid;

	CU_ASSERT_FATAL(req != NULL);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/nosuch.sock", tmp);
	TU_ASSERT_ERR(attest_client_call(sa.sun_path, req, -1, &reply), ATTEST_E_IO);
	CU_ASSERT(strstr(attest_errdetail(), "is attestd running?") != NULL);
	if (geteuid() != 0) {
		fprintf(stderr, "test_socket_permission_hint: not root, the uid switch is skipped\n");
		cJSON_Delete(req);
		return;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/perm.sock", tmp);
	(void)unlink(sa.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
			chmod(sa.sun_path, 0660) == 0 && listen(fd, 4) == 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		int r;

		if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
			_exit(3);
		r = attest_client_call(sa.sun_path, req, -1, &reply);
		_exit(r == ATTEST_E_IO && strstr(attest_errdetail(), "attestd --group") != NULL &&
			      strstr(attest_errdetail(), "is attestd running") == NULL
		      ? 0 : 1);
	}
	CU_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fd);
	(void)unlink(sa.sun_path);
	cJSON_Delete(req);
}

/* Registration refuses scope sets no certificate could carry, and bytes
 * a peer chose never start a line of their own in the log. */
static void test_scopes_cap_and_log_escaping(void)
{
	struct daemon d;
	char a[700], json[4096], *p, *log;
	cJSON *reply = NULL;

	daemon_up(&d);
	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	p = json + snprintf(json, sizeof(json), "{\"op\":\"register\",\"name\":\"wide\",\"binary\":\"%s\","
			    "\"uids\":[0],\"risk_tier\":\"low\",\"scopes\":[", a);
	for (int i = 0; i < 9; i++)
		p += snprintf(p, sizeof(json) - (size_t)(p - json), "%s\"s%d%0126d\"", i ? "," : "", i, 0);
	snprintf(p, sizeof(json) - (size_t)(p - json), "]}");
	TU_ASSERT_ERR(admin_call(&d, json, &reply), ATTEST_E_SCOPE);
	expect_refused(run_agent(NULL, a, d.sock,
				 "{\"op\":\"issue\",\"agent\":\"x\\nFORGED attestd: issued\"}"),
		       "ATTEST_E_AGENT_UNKNOWN");
	daemon_stop(&d);
	log = tu_slurp(d.log, NULL);
	CU_ASSERT(strstr(log, "\nFORGED") == NULL);
	CU_ASSERT(strstr(log, "\\x0aFORGED") != NULL);
	free(log);
	daemon_start(&d, "64");
	daemon_down(&d);
}

/* The TPM goes away under attestd (swtpm restarted on the same port with
 * its state, as after a TPM reset): requests fail while it is gone, and
 * attestd serves again once it is back, without a restart. */
static void test_tpm_comes_back(void)
{
	struct daemon d;
	char a[700], port[16];
	const char *colon;

	daemon_up(&d);
	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	register_agent(&d, "alpha", a, "0");
	expect_cert(&d, run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\"}"), "alpha");
	colon = strstr(d.sw.tcti, "port=");
	CU_ASSERT_FATAL(colon != NULL);
	snprintf(port, sizeof(port), "%s", colon + 5);
	CU_ASSERT_EQUAL_FATAL(tu_sh("'%s/swtpm-ci/swtpm-stop.sh' '%s/tpm' >/dev/null 2>&1",
				    getenv("ATTEST_SRCDIR"), d.sw.dir), 0);
	expect_refused(run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\"}"),
		       "ATTEST_E_TPM");
	CU_ASSERT_EQUAL_FATAL(tu_sh("SWTPM_CI_PORT=%s SWTPM_CI_START_TRIES=100 "
				    "'%s/swtpm-ci/swtpm-start.sh' --keep-state '%s' '%s/tpm' >/dev/null",
				    port,
				    getenv("ATTEST_SRCDIR"), tu_template(), d.sw.dir), 0);
	expect_cert(&d, run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\"}"), "alpha");
	expect_cert(&d, run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\",\"mode\":\"session\"}"),
		    "alpha");
	daemon_down(&d);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "register agents and issue strict and session certificates", test_register_and_issue },
		{ "a refused agent name gets the whole rule", test_name_rule_text },
		{ "a uid outside the socket's group is told so", test_socket_permission_hint },
		{ "issuance refusals with their reasons", test_refusals },
		{ "bad frames, slow clients: refused, daemon keeps serving", test_bad_frames },
		{ "client limit answers busy", test_client_limit },
		{ "clients that never read are dropped", test_flood_without_reading },
		{ "scope cap at registration, log escaping", test_scopes_cap_and_log_escaping },
		{ "the TPM goes away and comes back", test_tpm_comes_back },
		{ NULL, NULL },
	};

	return tu_main("attestd", tests);
}
