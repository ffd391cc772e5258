/* test_push.c - attestd pushing to a real attest-verifier (swtpm + attestd +
 * verifier on loopback): enrolment over HTTPS, the first push makes the
 * host trusted, `attestctl host attest` relays the verdict, --renew installs
 * a new host CA certificate, the inventory is reported, and after PCR 0 is
 * extended the next push is untrusted with ATTEST_E_PCR_MISMATCH.
 * Targets: attestd/push.c, attestd/attestctl_host.c, libattest/attestation/hostpush.c. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/sha.h>

#include "enrol/enrol.h"
#include "core/json.h"
#include "tpm/tpm.h"
#include "testutil.h"
#include "testutil_daemon.h"
#include "testutil_verifier.h"

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

static char *sha256_file_hex(const char *path)
{
	size_t n = 0;
	char *s = tu_slurp(path, &n), *hex = malloc(65);
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)s, n, md);
	attest_hex(md, sizeof(md), hex);
	free(s);
	return hex;
}

static void test_push_to_verifier(void)
{
	struct vfleet f;
	struct daemon *d = &f.d;
	char line[512], out[800], hca[800], a[700], root[800], *before, *after;

	vfleet_host_up(&f, NULL);
	snprintf(root, sizeof(root), "%s/root.pem", d->ca);
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
	CU_ASSERT_EQUAL(tu_sh("openssl verify -CAfile %s -untrusted %s/issuing-ca.pem %s >/dev/null 2>&1",
			      root, d->state, hca), 0);
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
	daemon_start(d, "64");
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

	vfleet_down(&f);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "attestd pushes to attest-verifier", test_push_to_verifier },
		{ NULL, NULL },
	};

	return tu_main("push", tests);
}
