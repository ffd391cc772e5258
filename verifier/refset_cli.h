/* refset_cli.h - `attest-verifier refset`: operators sign and inspect
 * reference-value sets (docs/attestation.md).
 *   refset sign --key OPERATOR_KEY.pem --kid NAME --in SET.json --out SET.jws
 *   refset show SET.jws --operators DIR [--now UNIX]
 * DIR holds one PEM public key per operator, named <kid>.pem. */
#ifndef VERIFIER_REFSET_CLI_H
#define VERIFIER_REFSET_CLI_H

#include <stddef.h>

#include "attestation/refset.h"

/* argv[0] == "refset", argv[1] the subcommand. Exit 0 / 1 / 2. */
int vf_cmd_refset(int argc, char **argv);

#define VF_OPERATORS_MAX 64

/* Load DIR/<kid>.pem public keys (kid per attest_refset_kid_ok; other
 * files are ignored) into ops[0..*n). Free with vf_operators_free. */
int vf_operators_load(const char *dir, struct attest_refset_operator *ops,
		      size_t *n) __attribute__((warn_unused_result));
void vf_operators_free(struct attest_refset_operator *ops, size_t n);

#endif
