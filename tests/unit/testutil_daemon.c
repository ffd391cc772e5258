/* testutil_daemon.c - see testutil_daemon.h. */
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "net/client.h"
#include "x509/x509agent.h"
#include "tpm/tpm.h"
#include "testutil_daemon.h"


const char *agents_dir(void)
{
	static char buf[1024];
	const char *e = getenv("ATTEST_TEST_AGENTS");
	const char *src = getenv("ATTEST_SRCDIR"), *b = getenv("BUILD");

	if (e != NULL && e[0] != '\0')
		return e;
	if (b == NULL)
		b = "build";
	/* BUILD as given when absolute (run-bench.sh makes it so) */
	snprintf(buf, sizeof(buf), "%s%s%s/agents", b[0] == '/' ? "" : src ? src : ".",
		 b[0] == '/' ? "" : "/", b);
	return buf;
}

/* Whether a unix stream socket at path accepts a connection now. */
static int accepting(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path)) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

void daemon_start(struct daemon *d, const char *max_clients)
{

	d->pid = fork();
	CU_ASSERT_FATAL(d->pid >= 0);
	if (d->pid == 0) {
		FILE *f = freopen(d->log, "a", stderr);

		(void)f;
		const char *argv[40] = { "attestd", "--state", d->state, "--socket", d->sock,
					 "--admin-socket", d->admin, "--tcti", d->sw.tcti,
					 "--frame-timeout", "700", "--max-clients", max_clients };
		size_t n = 13;

		if (d->verifier_url[0] != '\0') {
			const char *v[] = { "--verifier", d->verifier_url, "--verifier-ca",
					    d->verifier_ca, "--push-interval", "1", "--eventlog",
					    "none" };

			for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
				argv[n++] = v[i];
		}
		for (size_t i = 0; d->extra_args[i] != NULL && n < 39; i++)
			argv[n++] = d->extra_args[i];
		argv[n] = NULL;
		execvp("attestd", (char *const *)argv);
		_exit(127);
	}
	{
		/* for tests/run-tests.sh: a test that dies cannot stop its daemon */
		char pidfile[700], buf[32];

		snprintf(pidfile, sizeof(pidfile), "%s/attestd.pid", d->sw.dir);
		snprintf(buf, sizeof(buf), "%d\n", (int)d->pid);
		tu_write(pidfile, buf, strlen(buf));
	}
	/* up when the admin socket accepts a connection (its file alone may
	 * be left over from an instance that was killed) */
	for (int i = 0; i < 400 && !accepting(d->admin); i++)
		usleep(25000);
	CU_ASSERT_FATAL(accepting(d->admin));
}

pid_t daemon_agent_server(struct daemon *d)
{
	char path[96], buf[64] = "";
	FILE *f;
	long pid = 0;

	/* attestd's front is its only child (attestd --no-privsep has none) */
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)d->pid, (int)d->pid);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(buf, sizeof(buf), f) != NULL)
			pid = tu_leading_num(buf);
		fclose(f);
	}
	return pid > 0 ? (pid_t)pid : d->pid;
}

void daemon_stop(struct daemon *d)
{
	int st;

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		waitpid(d->pid, &st, 0);
		CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) /* say why: the log goes with the dir */
			(void)tu_sh("echo '--- attestd %s %d, log:' >&2; tail -n 40 '%s' >&2",
				    WIFEXITED(st) ? "exited with" : "killed by signal",
				    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), d->log);
		d->pid = 0;
	}
}

void daemon_prepare(struct daemon *d, const char *ca_dir)
{
	memset(d, 0, sizeof(*d));
	tu_tpm_start(&d->sw);
	if (ca_dir != NULL)
		snprintf(d->ca, sizeof(d->ca), "%s", ca_dir);
	else
		snprintf(d->ca, sizeof(d->ca), "%s/ca", d->sw.dir);
	snprintf(d->state, sizeof(d->state), "%s/state", d->sw.dir);
	snprintf(d->sock, sizeof(d->sock), "%s/a.sock", d->sw.dir);
	snprintf(d->admin, sizeof(d->admin), "%s/admin.sock", d->sw.dir);
	snprintf(d->log, sizeof(d->log), "%s/attestd.log", d->sw.dir);
}

void daemon_up(struct daemon *d)
{
	daemon_prepare(d, NULL);
	tu_enrol_host(d->sw.tcti, d->ca, d->state, "web-01");
	daemon_start(d, "64");
}

void daemon_up_in_fleet(struct daemon *d, const char *ca_dir, const char *host)
{
	daemon_prepare(d, ca_dir);
	tu_enrol_host_in(d->sw.tcti, d->ca, d->state, host);
	daemon_start(d, "64");
}

void daemon_down(struct daemon *d)
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
void make_agent_binary(struct daemon *d, const char *name, const char *extra, char *out,
			      size_t outsz)
{
	snprintf(out, outsz, "%s/%s", d->sw.dir, name);
	CU_ASSERT_EQUAL_FATAL(tu_sh("cp '%s/raw_client' '%s' && chmod 0755 '%s'", agents_dir(), out,
				    out), 0);
	if (extra != NULL)
		CU_ASSERT_EQUAL_FATAL(tu_sh("printf '%s' >> '%s'", extra, out), 0);
}

int admin_call(struct daemon *d, const char *json, cJSON **reply)
{
	cJSON *req = cJSON_Parse(json);
	int r;

	CU_ASSERT_FATAL(req != NULL);
	r = attest_client_call(d->admin, req, -1, reply);
	cJSON_Delete(req);
	return r;
}

void register_agent(struct daemon *d, const char *name, const char *binary, const char *uids)
{
	register_agent_depth(d, name, binary, uids, 1);
}

void register_agent_depth(struct daemon *d, const char *name, const char *binary,
			  const char *uids, int delegate_depth)
{
	char json[2048];
	cJSON *reply = NULL;

	snprintf(json, sizeof(json),
		 "{\"op\":\"register\",\"name\":\"%s\",\"binary\":\"%s\",\"uids\":[%s],"
		 "\"scopes\":[\"ehr:read\",\"ehr:write\"],\"risk_tier\":\"high\","
		 "\"data_classes\":[\"phi\"],\"max_ttl\":600,\"delegate_depth\":%d," TU_ENV_ALLOW_JSON "}",
		 name, binary, uids, delegate_depth);
	TU_ASSERT_ERR(admin_call(d, json, &reply), ATTEST_OK);
	CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItemCaseSensitive(reply, "agent_ca"));
	cJSON_Delete(reply);
}

/* Run `env? binary socket json` and return the parsed reply. */
cJSON *run_agent(const char *env, const char *binary, const char *sock, const char *json)
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

cJSON *run_agent_as(uid_t uid, const char *bin, const char *sock, const char *json,
		    char *const envp[])
{
	int p[2], st;
	pid_t pid;
	static char buf[65536];
	size_t len = 0;
	cJSON *o;

	CU_ASSERT_FATAL(pipe(p) == 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		int bfd = open(bin, O_PATH | O_CLOEXEC), sfd = open(sock, O_PATH);
		char spath[64];
		char *argv[4];

		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		snprintf(spath, sizeof(spath), "/proc/self/fd/%d", sfd);
		argv[0] = (char *)bin;
		argv[1] = spath;
		argv[2] = (char *)json;
		argv[3] = NULL;
		if (bfd < 0 || sfd < 0)
			_exit(125);
		if (uid != 0 && (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 ||
				 setresuid(uid, uid, uid) != 0))
			_exit(126);
		fexecve(bfd, argv, envp);
		_exit(127);
	}
	close(p[1]);
	for (ssize_t n; (n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0;)
		len += (size_t)n;
	close(p[0]);
	buf[len] = '\0';
	waitpid(pid, &st, 0);
	o = cJSON_Parse(buf);
	if (o == NULL)
		fprintf(stderr, "  agent as uid %u (status %d) printed: %s\n", (unsigned)uid, st, buf);
	return o;
}

void python_interpreter(char *py, size_t pysz)
{
	FILE *p = popen("env -i PATH=\"$PATH\" python3 -c 'import os,sys; "
			"print(os.path.realpath(sys.executable))'", "r");

	py[0] = '\0';
	CU_ASSERT_FATAL(p != NULL);
	if (fgets(py, (int)pysz, p) != NULL)
		py[strcspn(py, "\n")] = '\0';
	pclose(p);
	CU_ASSERT_FATAL(py[0] == '/');
}

void expect_refused(cJSON *reply, const char *name)
{
	expect_refused_why(reply, name, NULL);
}

void expect_refused_why(cJSON *reply, const char *name, const char *why)
{
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(reply, "error");
	const cJSON *detail = cJSON_GetObjectItemCaseSensitive(reply, "detail");
	int ok = cJSON_IsString(err) && strcmp(err->valuestring, name) == 0 &&
		 cJSON_IsString(detail) &&
		 (why == NULL || strstr(detail->valuestring, why) != NULL);

	CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(reply, "ok")));
	CU_ASSERT(ok);
	if (!ok) {
		char *got = cJSON_PrintUnformatted(reply);

		fprintf(stderr, "  want %s (%s), got %s\n", name, why != NULL ? why : "any detail",
			got != NULL ? got : "?");
		free(got);
	}
	cJSON_Delete(reply);
}

/* The chain verifies with openssl against the fleet root and the leaf's
 * SAN is the agent ID. */
void expect_cert(struct daemon *d, cJSON *reply, const char *agent)
{
	const cJSON *chain = cJSON_GetObjectItemCaseSensitive(reply, "chain");
	char path[700], want[512];

	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok"))) {
		char *txt = cJSON_PrintUnformatted(reply);

		fprintf(stderr, "  not a certificate: %s\n", txt != NULL ? txt : "?");
		cJSON_free(txt);
	}
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


void expect_cert_at(struct daemon *d, cJSON *reply, const char *host, const char *agent)
{
	const cJSON *chain = cJSON_GetObjectItemCaseSensitive(reply, "chain");
	char path[700], want[512];

	CU_ASSERT_FATAL(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")));
	CU_ASSERT_FATAL(cJSON_IsString(chain));
	snprintf(path, sizeof(path), "%s/chain.pem", d->sw.dir);
	tu_write(path, chain->valuestring, strlen(chain->valuestring));
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && openssl verify -CAfile '%s/root.pem' -untrusted chain.pem "
			      "chain.pem >/dev/null", d->sw.dir, d->ca), 0);
	snprintf(want, sizeof(want), "URI:spiffe://fleet.example/host/%s/agent/%s", host, agent);
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && openssl x509 -in chain.pem -noout -ext subjectAltName | "
			      "grep -qx '    %s'", d->sw.dir, want), 0);
	cJSON_Delete(reply);
}

char *reply_leaf_intent(const cJSON *reply)
{
	const cJSON *chain = cJSON_GetObjectItemCaseSensitive(reply, "chain");
	ASN1_OBJECT *obj = OBJ_txt2obj(ATTEST_OID_INTENT, 1);
	ASN1_OCTET_STRING *inner = NULL;
	const unsigned char *p;
	const ASN1_OCTET_STRING *v;
	X509 *leaf = NULL;
	BIO *b = NULL;
	char *out = NULL;
	int i;

	if (!cJSON_IsString(chain) || obj == NULL)
		goto done;
	b = BIO_new_mem_buf(chain->valuestring, -1);
	if (b == NULL || (leaf = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL)
		goto done;
	if ((i = X509_get_ext_by_OBJ(leaf, obj, -1)) < 0)
		goto done;
	v = X509_EXTENSION_get_data(X509_get_ext(leaf, i));
	p = ASN1_STRING_get0_data(v);
	if ((inner = d2i_ASN1_OCTET_STRING(NULL, &p, ASN1_STRING_length(v))) == NULL)
		goto done;
	out = malloc((size_t)ASN1_STRING_length(inner) + 1);
	if (out != NULL) {
		memcpy(out, ASN1_STRING_get0_data(inner), (size_t)ASN1_STRING_length(inner));
		out[ASN1_STRING_length(inner)] = '\0';
	}
done:
	ASN1_OCTET_STRING_free(inner);
	X509_free(leaf);
	BIO_free(b);
	ASN1_OBJECT_free(obj);
	return out;
}

void daemon_example_agent(struct daemon *d, const char *name, const char *outdir)
{
	char bin[800], uids[32];

	snprintf(bin, sizeof(bin), "%s/%s", d->sw.dir, name);
	CU_ASSERT_FATAL(tu_sh("cp '%s/agent_client' '%s' && chmod 0755 '%s'", tu_examples_dir(),
			      bin, bin) == 0);
	snprintf(uids, sizeof(uids), "%u", (unsigned)getuid());
	register_agent(d, name, bin, uids);
	CU_ASSERT_FATAL(tu_sh("cd '%s' && './%s' --agent %s --socket '%s' --out %s >agent.log 2>&1",
			      d->sw.dir, name, name, d->sock, outdir) == 0);
}
