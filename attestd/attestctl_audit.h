/* attestctl_audit.h - attestctl's audit log commands (docs/audit.md). They
 * read the log directory directly; verify --online, ak and checkpoint use
 * the TPM (so run them where attestd does not hold a swtpm's only
 * connection). */
#ifndef ATTESTCTL_AUDIT_H
#define ATTESTCTL_AUDIT_H

#include "cli.h"

#define DEFAULT_AUDIT_DIR "/var/lib/attestd/audit"

int cmd_audit_verify(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_audit_prove(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_audit_show(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_audit_report(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_audit_ak(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_audit_checkpoint(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_audit_append(const struct cli_cmd *cmd, int argc, char **argv);

#endif
