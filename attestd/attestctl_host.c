/* attestctl_host.c - attestctl's commands that talk to the verifier:
 * host enroll over HTTPS (the file-based steps of attestctl.c, with the
 * messages carried by POST /v1/enrol/request and /v1/enrol/response) and
 * host attest (attestd pushes a quote now and relays the verdict). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "attest/attest.h"
#include "attestctl_agent.h"
#include "attestctl_host.h"
#include "net/client.h"
#include "enrol/enrol.h"
#include "attestation/hostpush.h"

int host_enroll_https(struct attest_tpm *t, const char *state, const char *host,
		      const char *token, enum attest_ek_kind kind, const char *root,
		      const char *url, const char *ca)
{
	struct attest_httpc_opts http = { ca, NULL, NULL, 30000, NULL, 0 };
	char *req = NULL, *ch = NULL, *resp = NULL, *res = NULL;
	size_t ch_len = 0, res_len = 0;
	int r;

	if ((r = attest_host_enrol_begin(t, state, host, token, kind, &req)) != ATTEST_OK) {
		r = cli_fail(r, "start enrolment of %s", host);
		goto out;
	}
	if ((r = attest_verifier_post(&http, url, "/v1/enrol/request", req, strlen(req), &ch,
				      &ch_len)) != ATTEST_OK) {
		r = cli_fail(r, "send the enrol-request to %s", url);
		goto out;
	}
	if ((r = attest_host_enrol_answer(t, state, ch, ch_len, &resp)) != ATTEST_OK) {
		r = cli_fail(r, "answer the enrol-challenge");
		goto out;
	}
	if ((r = attest_verifier_post(&http, url, "/v1/enrol/response", resp, strlen(resp), &res,
				      &res_len)) != ATTEST_OK) {
		r = cli_fail(r, "send the enrol-response to %s", url);
		goto out;
	}
	if ((r = attest_host_enrol_finish(state, res, res_len, root)) != ATTEST_OK) {
		r = cli_fail(r, "install the enrol-result");
		goto out;
	}
	printf("enrolled %s through %s: host CA certificate in %s/host-ca.pem, its issuing CA in "
	       "%s/issuing-ca.pem, fleet root in %s/root.pem\n", host, url, state, state, state);
	r = CLI_EXIT_OK;
out:
	free(req);
	free(ch);
	free(resp);
	free(res);
	return r;
}

static const char *str_or(const cJSON *o, const char *key, const char *dflt)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(it) && it->valuestring[0] != '\0' ? it->valuestring : dflt;
}

int cmd_host_attest(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *sock, *renew;
	const struct cli_opt opts[] = {
		{ "renew", NULL, "ask for a new host CA certificate with this quote", 0, &renew },
		{ "admin-socket", "PATH", "attestd admin socket (" DEFAULT_ADMIN_SOCKET ")", 0, &sock },
		{ 0 },
	};
	cJSON *req = NULL, *reply = NULL;
	const char *state;
	int r;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED)
		return r;
	if ((req = cJSON_CreateObject()) == NULL || cJSON_AddStringToObject(req, "op", "attest") == NULL ||
	    (renew != NULL && cJSON_AddTrueToObject(req, "renew") == NULL)) {
		cJSON_Delete(req);
		return cli_fail(ATTEST_E_NOMEM, "request");
	}
	r = attest_client_call(sock != NULL ? sock : DEFAULT_ADMIN_SOCKET, req, -1, &reply);
	cJSON_Delete(req);
	if (r != ATTEST_OK)
		return cli_fail(r, "push a quote to the verifier");
	state = str_or(reply, "state", "?");
	printf("%-8s %s\n%-8s %s\n%-8s %s\n%-8s %s\n%-8s %s\n", "state", state, "reason",
	       str_or(reply, "reason", "?"), "refset", str_or(reply, "refset", "-"), "reboot",
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "reboot")) ? "yes" : "no",
	       "renewed", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "renewed")) ? "yes" : "no");
	r = strcmp(state, "trusted") == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	cJSON_Delete(reply);
	return r;
}
