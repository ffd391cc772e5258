/* cli_tpm.c - the TPM for a command (cli.h), apart from cli.c so that a tool
 * or test using only the option and file plumbing does not link ESYS. */
#include <stdlib.h>

#include "attest/attest.h"
#include "cli.h"
#include "tpm/tpm.h"

int cli_open_tpm(const char *tcti, struct attest_tpm **t)
{
	const char *conf = tcti != NULL ? tcti : getenv("ATTEST_TCTI");
	int r;

	if (conf != NULL && conf[0] == '\0')
		conf = NULL;
	if ((r = attest_tpm_open(conf, t)) != ATTEST_OK)
		return cli_fail(r, "open TPM %s", conf != NULL ? conf : ATTEST_TPM_DEFAULT_TCTI);
	return CLI_EXIT_OK;
}
