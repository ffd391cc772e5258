/* cli.h - what attestctl, attest-provision and attest-verifier share: one subcommand table,
 * table-driven option parsing with generated --help, one error printer, and
 * bounded number and file handling. Tools only: libattest never prints.
 *
 * Exit status: 0 success, 1 a failure or refusal (printed as
 *   prog: <what>: <attest_strerror> [<ATTEST_E_NAME>]: <attest_errdetail>),
 * 2 a usage error.
 */
#ifndef ATTEST_CLI_H
#define ATTEST_CLI_H

#include <stddef.h>
#include <stdint.h>

#ifndef ATTEST_VERSION
#define ATTEST_VERSION "0.1.0-dev" /* until attest.h carries one */
#endif

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2
#define CLI_PARSED (-1) /* cli_parse: options parsed, carry on */
#define CLI_MAX_OPTS 48

/* One long option. metavar NULL makes it a flag (*dest set to "1").
 * Each option may be given once; a required one must be given. */
struct cli_opt {
	const char *name;
	const char *metavar;
	const char *help;
	int required;
	const char **dest;
};

struct cli_cmd;
typedef int (*cli_run_fn)(const struct cli_cmd *cmd, int argc, char **argv);

/* A subcommand of one or two words ("init", "host enroll"). */
struct cli_cmd {
	const char *words[2];
	cli_run_fn run;
	const char *summary; /* one line, for the program's --help */
	const char *desc;    /* paragraph for the command's --help; may be NULL */
};

struct cli_prog {
	const char *name;
	const char *summary;
	const char *footer; /* environment etc. for the program's --help; may be NULL */
	const struct cli_cmd *cmds;
	size_t ncmds;
};

/* Dispatch argv to the matching command; handles --help, --version and
 * unknown commands. Returns the process exit status. */
int cli_main(const struct cli_prog *prog, int argc, char **argv);

/* Parse the command's options (opts ends with a zeroed entry). Returns
 * CLI_PARSED, or an exit status when the command must stop now (--help: 0,
 * usage error: 2). Positional arguments are refused. */
int cli_parse(const struct cli_cmd *cmd, const struct cli_opt *opts, int argc, char **argv);

/* cli_parse for a daemon command with a configuration file
 * (libattest/core/conf.h): opts must hold {"config", "PATH", ...} and
 * {"print-config", NULL, ...}. Every option with a value is also a key of
 * the file, read from --config PATH or else default_path (a missing
 * default file is no error; a missing --config file is). Flags given on
 * the command line override the file; --required options may come from
 * either. --print-config prints the effective configuration in the file
 * format and returns CLI_EXIT_OK. Values from the file stay valid until the
 * process ends. */
int cli_parse_config(const struct cli_cmd *cmd, const struct cli_opt *opts, int argc,
		     char **argv, const char *default_path);
/* The default --print-config shows for an unset option (NULL: none); set
 * before cli_parse_config, for the options of its opts. */
struct cli_default {
	const char *name;
	const char *value;
};
void cli_config_defaults(const struct cli_default *defs); /* ends with {NULL, NULL} */

/* Report a usage error for the running command; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Report a libattest failure: "<what>" from fmt, then the code's text, name
 * and the thread's error detail. Returns CLI_EXIT_FAIL. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Option `opt` (named without its "--") as a number in [min, max], min >= 0:
 * attest_parse_u64's rules (digits only: no sign, space, "0x", leading zero
 * or trailing byte). CLI_PARSED, or a usage error printed and
 * CLI_EXIT_USAGE returned. */
int cli_long(const char *opt, const char *s, long min, long max, long *out);
/* The same for any unsigned 64-bit value. */
int cli_u64(const char *opt, const char *s, uint64_t *out);

struct attest_tpm;
/* The TPM at tcti, else $ATTEST_TCTI, else the default device: CLI_EXIT_OK,
 * or CLI_EXIT_FAIL with the error printed. */
int cli_open_tpm(const char *tcti, struct attest_tpm **t);

/* Read a whole file ("-" = stdin) of at most cap bytes; *buf malloc'd and
 * NUL-terminated. On failure the error is printed and CLI_EXIT_FAIL returned. */
int cli_read(const char *path, size_t cap, uint8_t **buf, size_t *len);
/* Write crash-safely (mode 0600), or to stdout for "-". Same returns. */
int cli_write(const char *path, const void *data, size_t len);

#endif
