/* attestctl_host.h - attestctl's host commands that reach the verifier
 * (docs/verifier.md "Hosts"). */
#ifndef ATTESTCTL_HOST_H
#define ATTESTCTL_HOST_H

#include "cli.h"
#include "tpm/templates.h"
#include "tpm/tpm.h"

/* host enroll --verifier: begin, POST /v1/enrol/request, answer, POST
 * /v1/enrol/response, finish (root pinned as in the file steps). Prints
 * failures; returns an exit status. */
int host_enroll_https(struct attest_tpm *t, const char *state, const char *host,
		      const char *token, enum attest_ek_kind kind, const char *root,
		      const char *url, const char *ca);
/* host attest: attestd pushes a quote now; prints the verifier's verdict.
 * Exit 0 when the host is trusted, 1 otherwise. */
int cmd_host_attest(const struct cli_cmd *cmd, int argc, char **argv);

#endif
