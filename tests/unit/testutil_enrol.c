/* testutil_enrol.c - enrol a host on a private swtpm in-process, for tests
 * that need an enrolled host (agents, daemon). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "enrol/enrol.h"
#include "tpm/tpm.h"
#include "testutil.h"

#define CHECK(expr_, what_)                                                        \
	do {                                                                       \
		if ((expr_) != ATTEST_OK) {                                        \
			fprintf(stderr, "tu_enrol_host: %s: %s: %s\n", (what_),       \
				attest_errname(expr_), attest_errdetail());            \
			exit(2);                                                   \
		}                                                                  \
	} while (0)

static void enrol(const char *tcti, const char *ca_dir, const char *state_dir, const char *host,
		  int reuse)
{
	struct attest_tpm *t = NULL;
	struct attest_ca *ca = NULL;
	char roots[1024], cfg[1024], *tok = NULL, *req = NULL, *ch = NULL, *resp = NULL, *res = NULL;
	enum attest_ek_kind ek = ATTEST_EK_P256;
	int r;

	snprintf(roots, sizeof(roots), "%s/vendor-roots.pem", tu_template());
	CHECK(r = attest_tpm_open(tcti, &t), "open TPM");
	snprintf(cfg, sizeof(cfg), "%s/config.json", ca_dir);
	if (!reuse || access(cfg, F_OK) != 0)
	{
		CHECK(r = attest_ca_init(ca_dir, "fleet.example", roots, 3600), "CA init");
		tu_root_offline(ca_dir);
	}
	else
		ek = ATTEST_EK_RSA2048; /* joining: see tu_enrol_host_in */
	CHECK(r = attest_ca_open(ca_dir, &ca), "CA open");
	CHECK(r = attest_ca_token_issue(ca, host, 600, "test", &tok), "token");
	CHECK(r = attest_host_enrol_begin(t, state_dir, host, tok, ek, &req), "begin");
	CHECK(r = attest_ca_handle_request(ca, req, strlen(req), &ch), "request");
	CHECK(r = attest_host_enrol_answer(t, state_dir, ch, strlen(ch), &resp), "answer");
	CHECK(r = attest_ca_handle_response(ca, resp, strlen(resp), &res), "response");
	CHECK(r = attest_host_enrol_finish(state_dir, res, strlen(res), attest_ca_root_path(ca)),
	      "finish");
	free(tok);
	free(req);
	free(ch);
	free(resp);
	free(res);
	attest_ca_close(ca);
	attest_tpm_close(t);
}

void tu_enrol_host(const char *tcti, const char *ca_dir, const char *state_dir, const char *host)
{
	enrol(tcti, ca_dir, state_dir, host, 0);
}

void tu_enrol_host_in(const char *tcti, const char *ca_dir, const char *state_dir,
		      const char *host)
{
	enrol(tcti, ca_dir, state_dir, host, 1);
}
