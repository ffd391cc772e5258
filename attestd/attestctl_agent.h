/* attestctl_agent.h - attestctl's agent and certificate commands: they talk
 * to a running attestd over its sockets. */
#ifndef ATTESTCTL_AGENT_H
#define ATTESTCTL_AGENT_H

#include "cli.h"

#define DEFAULT_ADMIN_SOCKET "/run/attestd/admin.sock"

int cmd_agent_register(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_agent_list(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_stats(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_federation_add(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_federation_remove(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_federation_list(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_agent_show(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_agent_revoke(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_agent_remove(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_cert(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_intent_issue(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_intent_delegate(const struct cli_cmd *cmd, int argc, char **argv);
int cmd_intent_show(const struct cli_cmd *cmd, int argc, char **argv);

#endif
