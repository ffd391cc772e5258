/* test_attestd.c - attestd end to end on swtpm: registration over the admin
 * socket, measured issuance to real processes (tests/agents/raw_client
 * copies), and every refusal with its reason; the daemon survives bad
 * input and leaves no TPM objects behind.
 * Targets: attestd (ops.c, server.c), attest_client_call. */
#include <errno.h>
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

#include "client.h"
#include "json.h"
#include "tpm.h"
#include "wire.h"
#include "testutil.h"

struct daemon {
	struct tu_tpm sw;
	char ca[600], state[600], sock[600], admin[600], log[600];
	pid_t pid;
};

static const char *agents_dir(void)
{
	static char buf[1024];
	const char *e = getenv("ATTEST_TEST_AGENTS");

	if (e != NULL && e[0] != '\0')
		return e;
	snprintf(buf, sizeof(buf), "%s/%s/agents", getenv("ATTEST_SRCDIR") ? getenv("ATTEST_SRCDIR") : ".",
		 getenv("BUILD") ? getenv("BUILD") : "build");
	return buf;
}

static void daemon_start(struct daemon *d, const char *max_clients)
{
	struct stat st;

	d->pid = fork();
	CU_ASSERT_FATAL(d->pid >= 0);
	if (d->pid == 0) {
		FILE *f = freopen(d->log, "a", stderr);

		(void)f;
		execlp("attestd", "attestd", "--state", d->state, "--socket", d->sock,
		       "--admin-socket", d->admin, "--tcti", d->sw.tcti, "--frame-timeout", "700",
		       "--max-clients", max_clients, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200 && stat(d->admin, &st) != 0; i++)
		usleep(25000);
	CU_ASSERT_FATAL(stat(d->admin, &st) == 0);
}

static void daemon_stop(struct daemon *d)
{
	int st;

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		waitpid(d->pid, &st, 0);
		CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		d->pid = 0;
	}
}

static void daemon_up(struct daemon *d)
{
	memset(d, 0, sizeof(*d));
	tu_tpm_start(&d->sw);
	snprintf(d->ca, sizeof(d->ca), "%s/ca", d->sw.dir);
	snprintf(d->state, sizeof(d->state), "%s/state", d->sw.dir);
	snprintf(d->sock, sizeof(d->sock), "%s/a.sock", d->sw.dir);
	snprintf(d->admin, sizeof(d->admin), "%s/admin.sock", d->sw.dir);
	snprintf(d->log, sizeof(d->log), "%s/attestd.log", d->sw.dir);
	tu_enrol_host(d->sw.tcti, d->ca, d->state, "web-01");
	daemon_start(d, "64");
}

static void daemon_down(struct daemon *d)
{
	struct attest_tpm *t = NULL;
	size_t objects = 9, sessions = 9;

	daemon_stop(d);
	/* Nothing of ours is left loaded in the TPM. */
	CU_ASSERT_FATAL(attest_tpm_open(d->sw.tcti, &t) == ATTEST_OK);
	TU_ASSERT_ERR(attest_tpm_count_handles(t, &objects, &sessions), ATTEST_OK);
	CU_ASSERT_EQUAL(objects, 0);
	CU_ASSERT_EQUAL(sessions, 0);
	attest_tpm_close(t);
	if (getenv("ATTEST_TEST_KEEP") == NULL)
		tu_tpm_stop(&d->sw);
}

/* Copy raw_client to dir/name (0755); extra != NULL appends bytes, making
 * a different binary. */
static void make_agent_binary(struct daemon *d, const char *name, const char *extra, char *out,
			      size_t outsz)
{
	snprintf(out, outsz, "%s/%s", d->sw.dir, name);
	CU_ASSERT_EQUAL_FATAL(tu_sh("cp '%s/raw_client' '%s' && chmod 0755 '%s'", agents_dir(), out,
				    out), 0);
	if (extra != NULL)
		CU_ASSERT_EQUAL_FATAL(tu_sh("printf '%s' >> '%s'", extra, out), 0);
}

static int admin_call(struct daemon *d, const char *json, cJSON **reply)
{
	cJSON *req = cJSON_Parse(json);
	int r;

	CU_ASSERT_FATAL(req != NULL);
	r = attest_client_call(d->admin, req, -1, reply);
	cJSON_Delete(req);
	return r;
}

static void register_agent(struct daemon *d, const char *name, const char *binary, const char *uids)
{
	char json[2048];
	cJSON *reply = NULL;

	snprintf(json, sizeof(json),
		 "{\"op\":\"register\",\"name\":\"%s\",\"binary\":\"%s\",\"uids\":[%s],"
		 "\"scopes\":[\"ehr:read\",\"ehr:write\"],\"risk_tier\":\"high\","
		 "\"data_classes\":[\"phi\"],\"max_ttl\":600,\"delegate_depth\":1}",
		 name, binary, uids);
	TU_ASSERT_ERR(admin_call(d, json, &reply), ATTEST_OK);
	CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItemCaseSensitive(reply, "agent_ca"));
	cJSON_Delete(reply);
}

/* Run `env? binary socket json` and return the parsed reply. */
static cJSON *run_agent(const char *env, const char *binary, const char *sock, const char *json)
{
	char cmd[4096], buf[65536];
	size_t n;
	FILE *p;
	cJSON *o;

	snprintf(cmd, sizeof(cmd), "%s '%s' '%s' '%s'", env ? env : "", binary, sock, json);
	p = popen(cmd, "r");
	CU_ASSERT_FATAL(p != NULL);
	n = fread(buf, 1, sizeof(buf) - 1, p);
	buf[n] = '\0';
	pclose(p);
	o = cJSON_Parse(buf);
	if (o == NULL)
		fprintf(stderr, "  agent printed: %s\n", buf);
	CU_ASSERT_FATAL(o != NULL);
	return o;
}

static void expect_refused(cJSON *reply, const char *name)
{
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(reply, "error");

	CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(reply, "ok")));
	CU_ASSERT(cJSON_IsString(err) && strcmp(err->valuestring, name) == 0);
	if (!cJSON_IsString(err) || strcmp(err->valuestring, name) != 0)
		fprintf(stderr, "  want %s, got %s\n", name, cJSON_PrintUnformatted(reply));
	CU_ASSERT(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(reply, "detail")));
	cJSON_Delete(reply);
}

/* The chain verifies with openssl against the fleet root and the leaf's
 * SAN is the agent ID. */
static void expect_cert(struct daemon *d, cJSON *reply, const char *agent)
{
	const cJSON *chain = cJSON_GetObjectItemCaseSensitive(reply, "chain");
	char path[700], want[512];

	CU_ASSERT_FATAL(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")));
	CU_ASSERT_FATAL(cJSON_IsString(chain));
	snprintf(path, sizeof(path), "%s/chain.pem", d->sw.dir);
	tu_write(path, chain->valuestring, strlen(chain->valuestring));
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && openssl verify -CAfile ca/root.pem -untrusted chain.pem "
			      "chain.pem >/dev/null", d->sw.dir), 0);
	snprintf(want, sizeof(want), "URI:spiffe://fleet.example/host/web-01/agent/%s", agent);
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && openssl x509 -in chain.pem -noout -ext subjectAltName | "
			      "grep -qx '    %s'", d->sw.dir, want), 0);
	cJSON_Delete(reply);
}

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

int main(void)
{
	static const struct tu_test tests[] = {
		{ "register agents and issue strict and session certificates", test_register_and_issue },
		{ "issuance refusals with their reasons", test_refusals },
		{ "bad frames, slow clients: refused, daemon keeps serving", test_bad_frames },
		{ "client limit answers busy", test_client_limit },
		{ NULL, NULL },
	};

	return tu_main("attestd", tests);
}
