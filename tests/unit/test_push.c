/* test_push.c - attestd pushing to a real attest-verifier (swtpm + attestd +
 * verifier on loopback): enrolment over HTTPS, the first push makes the
 * host trusted, `attestctl host attest` relays the verdict, --renew installs
 * a new host CA certificate, the inventory is reported, and after PCR 0 is
 * extended the next push is untrusted with ATTEST_E_PCR_MISMATCH.
 * Skipped (with a message) only while build/attest-verifier has no `serve`.
 * Targets: attestd/push.c, attestd/attestctl_host.c, libattest/hostpush.c. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/sha.h>

#include "enrol.h"
#include "tpm.h"
#include "testutil.h"
#include "testutil_daemon.h"

struct fleet {
	struct daemon d;
	char vstate[640], vlog[700], portfile[700], vca[700], root[700], url[64];
	pid_t verifier;
};

static int verifier_has_serve(void)
{
	return tu_sh("attest-verifier serve --help >/dev/null 2>&1") == 0;
}

static void start_verifier(struct fleet *f)
{
	char pidfile[800], buf[32];

	CU_ASSERT_FATAL(tu_sh("attest-verifier init --state %s >>%s 2>&1", f->vstate, f->vlog) ==
			0);
	f->verifier = fork();
	CU_ASSERT_FATAL(f->verifier >= 0);
	if (f->verifier == 0) {
		FILE *o = freopen(f->vlog, "a", stderr);

		(void)o;
		execlp("attest-verifier", "attest-verifier", "serve", "--state", f->vstate, "--ca",
		       f->d.ca, "--listen", "127.0.0.1:0", "--port-file", f->portfile, (char *)NULL);
		_exit(127);
	}
	/* for tests/run-tests.sh, should this test die before it stops it */
	snprintf(pidfile, sizeof(pidfile), "%s/verifier.pid", f->d.sw.dir);
	snprintf(buf, sizeof(buf), "%d\n", (int)f->verifier);
	tu_write(pidfile, buf, strlen(buf));
	for (int i = 0; i < 400; i++) {
		if (access(f->portfile, F_OK) == 0) {
			size_t n = 0;
			char *s = tu_slurp(f->portfile, &n);
			long port = strtol(s, NULL, 10);

			free(s);
			if (port > 0 && port < 65536) {
				snprintf(f->url, sizeof(f->url), "https://127.0.0.1:%ld", port);
				return;
			}
		}
		usleep(25000);
	}
	CU_FAIL_FATAL("attest-verifier wrote no port file");
}

static void stop_verifier(struct fleet *f)
{
	int st;

	if (f->verifier > 0) {
		kill(f->verifier, SIGTERM);
		waitpid(f->verifier, &st, 0);
		f->verifier = 0;
	}
}

static void start_attestd(struct fleet *f)
{
	struct daemon *d = &f->d;
	cJSON *reply = NULL;

	d->pid = fork();
	CU_ASSERT_FATAL(d->pid >= 0);
	if (d->pid == 0) {
		FILE *o = freopen(d->log, "a", stderr);

		(void)o;
		execlp("attestd", "attestd", "--state", d->state, "--socket", d->sock,
		       "--admin-socket", d->admin, "--tcti", d->sw.tcti, "--verifier", f->url,
		       "--verifier-ca", f->vca, "--push-interval", "1", "--quote-pcrs", "0-7",
		       "--eventlog", "none", (char *)NULL);
		_exit(127);
	}
	{
		char pidfile[800], buf[32];

		snprintf(pidfile, sizeof(pidfile), "%s/attestd.pid", d->sw.dir);
		snprintf(buf, sizeof(buf), "%d\n", (int)d->pid);
		tu_write(pidfile, buf, strlen(buf));
	}
	for (int i = 0; i < 400; i++) {
		if (admin_call(d, "{\"op\":\"stats\"}", &reply) == ATTEST_OK) {
			cJSON_Delete(reply);
			return;
		}
		usleep(25000);
	}
	CU_FAIL_FATAL("attestd did not come up");
}

/* The first line of the daemon's log that contains `prefix`, waited for
 * (bounded); its text from prefix on, or "" if none came. */
static void first_line(struct daemon *d, const char *prefix, char *out, size_t outsz)
{
	out[0] = '\0';
	for (int i = 0; i < 600; i++) {
		size_t n = 0;
		char *s = tu_slurp(d->log, &n), *p = strstr(s, prefix);

		if (p != NULL) {
			size_t len = strcspn(p, "\n");

			snprintf(out, outsz, "%.*s", (int)len, p);
			free(s);
			return;
		}
		free(s);
		usleep(25000);
	}
}

static void setup(struct fleet *f)
{
	struct attest_ca *ca = NULL;
	char roots[800], *tok = NULL;
	struct daemon *d = &f->d;

	memset(f, 0, sizeof(*f));
	tu_tpm_start(&d->sw);
	snprintf(d->ca, sizeof(d->ca), "%s/ca", d->sw.dir);
	snprintf(d->state, sizeof(d->state), "%s/state", d->sw.dir);
	snprintf(d->sock, sizeof(d->sock), "%s/a.sock", d->sw.dir);
	snprintf(d->admin, sizeof(d->admin), "%s/admin.sock", d->sw.dir);
	snprintf(d->log, sizeof(d->log), "%s/attestd.log", d->sw.dir);
	snprintf(f->vstate, sizeof(f->vstate), "%s/verifier", d->sw.dir);
	snprintf(f->vlog, sizeof(f->vlog), "%s/verifier.log", d->sw.dir);
	snprintf(f->portfile, sizeof(f->portfile), "%s/verifier.port", d->sw.dir);
	snprintf(f->vca, sizeof(f->vca), "%s/tls/ca.pem", f->vstate);
	snprintf(roots, sizeof(roots), "%s/vendor-roots.pem", tu_template());
	CU_ASSERT_FATAL(attest_ca_init(d->ca, "fleet.example", roots, 3600) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_ca_open(d->ca, &ca) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_ca_token_issue(ca, "web-01", 600, "test", &tok) == ATTEST_OK);
	snprintf(f->root, sizeof(f->root), "%s", attest_ca_root_path(ca));
	attest_ca_close(ca);
	start_verifier(f);
	/* enrolment through the verifier, which runs the fleet CA */
	CU_ASSERT_FATAL(tu_sh("attestctl host enroll --state %s --host web-01 --token %s --ek p256 "
			      "--root %s --verifier %s --verifier-ca %s --tcti '%s' >>%s 2>&1",
			      d->state, tok, f->root, f->url, f->vca, d->sw.tcti, d->log) == 0);
	free(tok);
	start_attestd(f);
}

static char *sha256_file_hex(const char *path)
{
	size_t n = 0;
	char *s = tu_slurp(path, &n), *hex = malloc(65);
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)s, n, md);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	free(s);
	return hex;
}

static void test_push_to_verifier(void)
{
	struct fleet f;
	struct daemon *d = &f.d;
	char line[512], out[800], hca[800], a[700], *before, *after;

	if (!verifier_has_serve()) {
		fprintf(stderr, "SKIP test_push: build/attest-verifier has no `serve` command yet "
			"(the verifier is not merged); nothing was tested\n");
		return;
	}
	setup(&f);
	snprintf(out, sizeof(out), "%s/attest.out", d->sw.dir);
	snprintf(hca, sizeof(hca), "%s/host-ca.pem", d->state);

	/* the first push makes the enrolled host trusted */
	first_line(d, "push: state ", line, sizeof(line));
	CU_ASSERT(strncmp(line, "push: state trusted reason ATTEST_OK", 36) == 0);
	if (strncmp(line, "push: state trusted", 19) != 0)
		fprintf(stderr, "  first push: \"%s\"\n", line);
	/* on demand, with the verdict printed */
	CU_ASSERT_EQUAL(tu_sh("attestctl host attest --admin-socket %s >%s 2>&1", d->admin, out), 0);
	CU_ASSERT_EQUAL(tu_sh("grep -q '^state *trusted$' %s && grep -q '^reason *ATTEST_OK$' %s",
			      out, out), 0);
	/* renewal after a good quote: a new host CA certificate, same fleet root */
	before = sha256_file_hex(hca);
	CU_ASSERT_EQUAL(tu_sh("attestctl host attest --renew --admin-socket %s >%s 2>&1", d->admin,
			      out), 0);
	CU_ASSERT_EQUAL(tu_sh("grep -q '^renewed *yes$' %s", out), 0);
	after = sha256_file_hex(hca);
	CU_ASSERT(strcmp(before, after) != 0);
	CU_ASSERT_EQUAL(tu_sh("openssl verify -CAfile %s %s >/dev/null 2>&1", f.root, hca), 0);
	free(before);
	free(after);
	/* the inventory follows a registration, signed by the host key */
	make_agent_binary(d, "agent-a", NULL, a, sizeof(a));
	register_agent(d, "alpha", a, "0");
	first_line(d, "report: 1 agents reported", line, sizeof(line));
	CU_ASSERT(line[0] != '\0');
	/* and certificates are issued under the renewed host CA */
	expect_cert(d, run_agent(NULL, a, d->sock, "{\"op\":\"issue\",\"agent\":\"alpha\"}"), "alpha");

	/* a boot PCR changes: the next push is untrusted, at once */
	daemon_stop(d);
	{
		struct attest_tpm *t = NULL;
		uint8_t evil[32] = { 0xee };

		CU_ASSERT_FATAL(attest_tpm_open(d->sw.tcti, &t) == ATTEST_OK);
		TU_ASSERT_ERR(attest_tpm_pcr_extend(t, 0, evil), ATTEST_OK);
		attest_tpm_close(t);
	}
	tu_write(d->log, "", 0); /* a fresh log for the restarted daemon */
	start_attestd(&f);
	first_line(d, "push: state ", line, sizeof(line));
	CU_ASSERT(strncmp(line, "push: state untrusted reason ATTEST_E_PCR_MISMATCH", 50) == 0);
	if (strncmp(line, "push: state untrusted", 21) != 0)
		fprintf(stderr, "  push after extend: \"%s\"\n", line);
	CU_ASSERT_EQUAL(tu_sh("attestctl host attest --admin-socket %s >%s 2>&1", d->admin, out), 1);
	CU_ASSERT_EQUAL(tu_sh("grep -q '^state *untrusted$' %s && "
			      "grep -q '^reason *ATTEST_E_PCR_MISMATCH$' %s", out, out), 0);
	/* no renewal for an untrusted host */
	CU_ASSERT_EQUAL(tu_sh("attestctl host attest --renew --admin-socket %s >%s 2>&1", d->admin,
			      out), 1);
	CU_ASSERT_EQUAL(tu_sh("grep -q '^renewed *no$' %s", out), 0);

	daemon_down(d);
	stop_verifier(&f);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "attestd pushes to attest-verifier", test_push_to_verifier },
		{ NULL, NULL },
	};

	return tu_main("push", tests);
}
