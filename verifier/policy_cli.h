/* policy_cli.h - `attest-verifier policy`: check a policy file and evaluate
 * a sample request against it (docs/policy.md, "Command line"). */
#ifndef VERIFIER_POLICY_CLI_H
#define VERIFIER_POLICY_CLI_H

#define VF_POLICY_REQUEST_MAX (64 * 1024) /* bytes of a REQUEST.json */

/* argv[0] is "policy". Exit status: `check` 0 valid, 1 refused (the error
 * and its location on stderr); `test` 0 allow, 1 deny, 2 usage error or a
 * bad policy or request file; 2 for any other usage error. */
int vf_cmd_policy(int argc, char **argv);

#endif
