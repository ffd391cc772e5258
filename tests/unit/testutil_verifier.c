/* testutil_verifier.c - see testutil_verifier.h. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "enrol/enrol.h"
#include "net/httpc.h"
#include "testutil.h"
#include "testutil_daemon.h"
#include "testutil_verifier.h"

const char *tu_verifier_user;

/* Every ancestor of path that we own and others cannot traverse gets
 * o+x and g+x (a dropped serving process must reach its directories). */
static void traversable(const char *path)
{
	char p[800];
	char *slash;
	struct stat st;

	snprintf(p, sizeof(p), "%s", path);
	while ((slash = strrchr(p, '/')) != NULL && slash != p) {
		*slash = '\0';
		if (stat(p, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 0011) != 0011)
			CU_ASSERT(chmod(p, (st.st_mode & 07777) | 0011) == 0);
	}
}

void verifier_up(struct verifier *v, const char *ca_dir, const char *policy_json)
{
	verifier_up_store(v, ca_dir, policy_json, NULL);
}

void verifier_up_store(struct verifier *v, const char *ca_dir, const char *policy_json,
		       const char *store_uri)
{
	char p[800], opt[760] = "";

	memset(v, 0, sizeof(*v));
	if (store_uri != NULL) {
		CU_ASSERT_FATAL((size_t)snprintf(v->store, sizeof(v->store), "%s", store_uri) <
				sizeof(v->store));
		snprintf(opt, sizeof(opt), "--store '%s'", store_uri);
	}
	tu_mkdtemp(v->dir, sizeof(v->dir));
	snprintf(v->state, sizeof(v->state), "%s/vs", v->dir);
	snprintf(v->ca, sizeof(v->ca), "%s", ca_dir);
	snprintf(v->log, sizeof(v->log), "%s/verifier.log", v->dir);
	snprintf(v->cacert, sizeof(v->cacert), "%s/tls/ca.pem", v->state);
	snprintf(v->admin, sizeof(v->admin), "%s/admin", v->dir);
	snprintf(v->resource, sizeof(v->resource), "%s/ehr", v->dir);
	/* $ATTEST_TEST_VERIFIER_NAME: the DNS name of its TLS certificate
	 * (default localhost; 127.0.0.1 is in it either way) */
	CU_ASSERT_FATAL(tu_sh("attest-verifier init --state %s %s%s%s >/dev/null", v->state, opt,
			      getenv("ATTEST_TEST_VERIFIER_NAME") ? " --name " : "",
			      getenv("ATTEST_TEST_VERIFIER_NAME") ? getenv("ATTEST_TEST_VERIFIER_NAME")
								  : "") == 0);
	CU_ASSERT_FATAL(tu_sh("attest-verifier caller add --state %s %s --name ops --role admin "
			      "--out %s >/dev/null",
			      v->state, opt, v->admin) == 0);
	CU_ASSERT_FATAL(tu_sh("attest-verifier caller add --state %s %s --name ehr-api --role "
			      "resource --out %s >/dev/null",
			      v->state, opt, v->resource) == 0);
	if (policy_json != NULL) {
		snprintf(p, sizeof(p), "%s/policy.json", v->state);
		unlink(p);
		tu_write(p, policy_json, strlen(policy_json));
	}
	verifier_start(v);
}

void verifier_start(struct verifier *v)
{
	char portfile[800], pidfile[800], buf[32];
	char *port = NULL;

	snprintf(portfile, sizeof(portfile), "%s/port", v->dir);
	unlink(portfile);
	if (tu_verifier_user != NULL && strcmp(tu_verifier_user, "root") != 0) {
		char p[800];

		snprintf(p, sizeof(p), "%s/x", v->state);
		traversable(p);
		snprintf(p, sizeof(p), "%s/x", v->ca);
		traversable(p);
	}
	v->pid = fork();
	CU_ASSERT_FATAL(v->pid >= 0);
	if (v->pid == 0) {
		FILE *f = freopen(v->log, "a", stderr);
		const char *argv[32] = {"attest-verifier", "serve", "--state", v->state, "--ca",
					v->ca, "--listen", "127.0.0.1:0", "--port-file", portfile,
					"--user", tu_verifier_user != NULL ? tu_verifier_user : "root"};
		size_t n = 12;

		(void)f;
		if (v->tcti[0] != '\0') {
			argv[n++] = "--tcti";
			argv[n++] = v->tcti;
		}
		if (v->store[0] != '\0') {
			argv[n++] = "--store";
			argv[n++] = v->store;
		}
		for (size_t i = 0; i < 8 && v->serve_args[i] != NULL; i++)
			argv[n++] = v->serve_args[i];
		argv[n] = NULL;
		execvp("attest-verifier", (char *const *)argv);
		_exit(127);
	}
	/* for tests/run-tests.sh: a test that dies cannot stop its verifier */
	snprintf(pidfile, sizeof(pidfile), "%s/verifier.pid", v->dir);
	snprintf(buf, sizeof(buf), "%d\n", (int)v->pid);
	tu_write(pidfile, buf, strlen(buf));
	for (int i = 0; i < 400 && access(portfile, F_OK) != 0; i++)
		usleep(25000);
	CU_ASSERT_FATAL(access(portfile, F_OK) == 0);
	port = tu_slurp(portfile, NULL);
	port[strcspn(port, "\n")] = '\0';
	snprintf(v->url, sizeof(v->url), "https://127.0.0.1:%s", port);
	free(port);
}

void verifier_stop(struct verifier *v)
{
	int st = 0;

	if (v->pid > 0) {
		kill(v->pid, SIGTERM);
		waitpid(v->pid, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			(void)tu_sh("echo '  verifier exit status %d; its log ends:' >&2; tail -40 '%s' >&2",
				    st, v->log);
		CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		v->pid = 0;
	}
}

void verifier_down(struct verifier *v)
{
	verifier_stop(v);
	tu_rmtree(v->dir);
}

long verifier_call(struct verifier *v, enum vcall_as as, const char *path, const char *body,
		   cJSON **reply)
{
	char url[300], cert[800], key[800];
	struct attest_httpc_opts o = {0};
	char *resp = NULL;
	size_t len = 0;
	long status = 0;
	int r;

	if (reply != NULL)
		*reply = NULL;
	snprintf(url, sizeof(url), "%s%s", v->url, path);
	o.ca_file = v->cacert;
	if (as != AS_NONE) {
		const char *prefix = as == AS_ADMIN ? v->admin : v->resource;

		snprintf(cert, sizeof(cert), "%s.pem", prefix);
		snprintf(key, sizeof(key), "%s.key", prefix);
		o.cert_file = cert;
		o.key_file = key;
	}
	r = attest_https_request(&o, url, body, body != NULL ? strlen(body) : 0, &status, &resp,
				 &len);
	if (r != ATTEST_OK)
		return -r;
	if (reply != NULL)
		*reply = cJSON_ParseWithLength(resp, len);
	free(resp);
	return status;
}

const char *reply_reason(const cJSON *reply)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(reply, "error");

	if (!cJSON_IsString(e))
		e = cJSON_GetObjectItemCaseSensitive(reply, "reason");
	return cJSON_IsString(e) ? e->valuestring : "";
}

const char *tu_vfleet_store;

void vfleet_host_up(struct vfleet *e, const char *policy)
{
	struct daemon *d = &e->d;
	struct attest_ca *ca = NULL;
	char roots[800], *tok = NULL;

	memset(e, 0, sizeof(*e));
	daemon_prepare(d, NULL);
	snprintf(roots, sizeof(roots), "%s/vendor-roots.pem", tu_template());
	CU_ASSERT_FATAL(attest_ca_init(d->ca, "fleet.example", roots, 3600) == ATTEST_OK);
	tu_root_offline(d->ca);
	CU_ASSERT_FATAL(attest_ca_open(d->ca, &ca) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_ca_token_issue(ca, "web-01", 600, "test", &tok) == ATTEST_OK);
	attest_ca_close(ca);
	verifier_up_store(&e->v, d->ca, policy, tu_vfleet_store);
	/* enrolment over HTTPS, through the verifier that runs the fleet CA */
	CU_ASSERT_FATAL(tu_sh("attestctl host enroll --state %s --host web-01 --token %s --ek p256 "
			      "--root %s/root.pem --verifier %s --verifier-ca %s --tcti '%s' >>%s 2>&1",
			      d->state, tok, d->ca, e->v.url, e->v.cacert, d->sw.tcti, d->log) == 0);
	free(tok);
	snprintf(d->verifier_url, sizeof(d->verifier_url), "%s", e->v.url);
	snprintf(d->verifier_ca, sizeof(d->verifier_ca), "%s", e->v.cacert);
	daemon_start(d, "64");
}

void vfleet_up(struct vfleet *e, const char *policy)
{
	vfleet_host_up(e, policy);
	daemon_example_agent(&e->d, "scribe", "tls");
	snprintf(e->chain, sizeof(e->chain), "%s/tls/cert.pem", e->d.sw.dir);
}

void vfleet_down(struct vfleet *e)
{
	(void)tu_sh("cd '%s' && [ -f srv.pid ] && kill $(cat srv.pid); true", e->d.sw.dir);
	verifier_down(&e->v);
	daemon_down(&e->d);
}

