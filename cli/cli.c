/* cli.c - shared command-line plumbing for attestctl and attest-provision
 * (cli.h). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attest/attest.h"
#include "cliconf.h"
#include "journal.h"
#include "core/conf.h"
#include "core/fileio.h"
#include "core/num.h"

static const struct cli_prog *cur_prog;
static const struct cli_cmd *cur_cmd;

static const char *prog_name(void) { return cur_prog != NULL ? cur_prog->name : "attest"; }

static void print_words(FILE *f, const struct cli_cmd *cmd)
{
	fprintf(f, "%s%s%s", cmd->words[0], cmd->words[1] != NULL ? " " : "",
		cmd->words[1] != NULL ? cmd->words[1] : "");
}

static void prog_usage(FILE *f)
{
	fprintf(f, "Usage: %s COMMAND [options]\n\n%s\n\nCommands:\n", prog_name(),
		cur_prog->summary);
	for (size_t i = 0; i < cur_prog->ncmds; i++) {
		const struct cli_cmd *c = &cur_prog->cmds[i];
		int w = fprintf(f, "  ");

		print_words(f, c);
		w += (int)strlen(c->words[0]) + (c->words[1] ? (int)strlen(c->words[1]) + 1 : 0);
		fprintf(f, "%*s%s\n", w < 22 ? 22 - w : 1, "", c->summary);
	}
	fprintf(f, "\nGlobal options:\n  -h, --help     this help; COMMAND --help for its options\n"
		   "  --version      print the version\n");
	if (cur_prog->footer != NULL)
		fprintf(f, "\n%s\n", cur_prog->footer);
}

static void cmd_usage(FILE *f, const struct cli_cmd *cmd, const struct cli_opt *opts)
{
	fprintf(f, "Usage: %s ", prog_name());
	print_words(f, cmd);
	fprintf(f, " [options]\n\n%s\n", cmd->summary);
	if (cmd->desc != NULL)
		fprintf(f, "\n%s\n", cmd->desc);
	fprintf(f, "\nOptions:\n");
	for (const struct cli_opt *o = opts; o->name != NULL; o++) {
		int w = fprintf(f, "  --%s%s%s", o->name, o->metavar ? " " : "",
				o->metavar ? o->metavar : "");

		fprintf(f, "%*s%s%s\n", w < 26 ? 26 - w : 1, "", o->help,
			o->required ? " (required)" : "");
	}
	fprintf(f, "  --version%*sprint the version\n", 26 - 11, "");
	fprintf(f, "  -h, --help%*sthis help\n", 26 - 12, "");
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog_name());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cur_cmd != NULL) {
		fprintf(stderr, "\nTry '%s ", prog_name());
		print_words(stderr, cur_cmd);
		fprintf(stderr, " --help'.\n");
	} else {
		fprintf(stderr, "\nTry '%s --help'.\n", prog_name());
	}
	return CLI_EXIT_USAGE;
}

int cli_fail(int code, const char *fmt, ...)
{
	const char *detail = attest_errdetail();
	va_list ap;

	if (journal_stderr())
		fprintf(stderr, "<%d>", JOURNAL_ERR); /* under systemd (serve) */
	fprintf(stderr, "%s: ", prog_name());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s [%s]%s%s\n", attest_strerror(code), attest_errname(code),
		detail[0] != '\0' ? ": " : "", detail);
	return CLI_EXIT_FAIL;
}

int cli_long(const char *opt, const char *s, long min, long max, long *out)
{
	uint64_t v;

	*out = 0;
	if (min < 0 || max < min ||
	    attest_parse_u64(s, (uint64_t)min, (uint64_t)max, &v) != ATTEST_OK)
		return cli_usage_error("--%s: \"%s\" is not a whole number in %ld..%ld (%s)", opt,
				       s, min, max, attest_errdetail());
	*out = (long)v;
	return CLI_PARSED;
}

int cli_u64(const char *opt, const char *s, uint64_t *out)
{
	if (attest_parse_u64(s, 0, UINT64_MAX, out) != ATTEST_OK)
		return cli_usage_error("--%s: \"%s\" is not a number (%s)", opt, s,
				       attest_errdetail());
	return CLI_PARSED;
}

static int parse_opts(const struct cli_cmd *cmd, const struct cli_opt *opts, int argc,
		      char **argv, int check_required)
{
	struct option lo[CLI_MAX_OPTS + 3];
	size_t n = 0;
	int c;

	cur_cmd = cmd;
	for (; opts[n].name != NULL; n++) {
		if (n == CLI_MAX_OPTS)
			return cli_fail(ATTEST_E_INTERNAL, "too many options for one command");
		lo[n] = (struct option){ opts[n].name,
					 opts[n].metavar ? required_argument : no_argument, NULL,
					 256 + (int)n };
		*opts[n].dest = NULL;
	}
	lo[n] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[n + 1] = (struct option){ "version", no_argument, NULL, 'V' };
	lo[n + 2] = (struct option){ NULL, 0, NULL, 0 };
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		if (c == 'h') {
			cmd_usage(stdout, cmd, opts);
			return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
		}
		if (c == 'V') { /* every command answers --version */
			printf("%s %s\n", prog_name(), ATTEST_VERSION);
			return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
		}
		if (c == ':')
			return cli_usage_error("option %s needs a value", argv[optind - 1]);
		if (c < 256 || (size_t)(c - 256) >= n)
			return cli_usage_error("unknown option %s", argv[optind - 1]);
		const struct cli_opt *o = &opts[c - 256];
		if (*o->dest != NULL)
			return cli_usage_error("--%s given twice", o->name);
		*o->dest = o->metavar ? optarg : "1";
	}
	if (optind < argc)
		return cli_usage_error("unexpected argument \"%s\"", argv[optind]);
	for (size_t i = 0; check_required && i < n; i++)
		if (opts[i].required && *opts[i].dest == NULL)
			return cli_usage_error("--%s is required", opts[i].name);
	return CLI_PARSED;
}

int cli_parse(const struct cli_cmd *cmd, const struct cli_opt *opts, int argc, char **argv)
{
	return parse_opts(cmd, opts, argc, argv, 1);
}

/* the file's values live as long as the process: options point into them */
static struct attest_conf *cur_conf;
static const struct cli_default *cur_defs;

void cli_config_defaults(const struct cli_default *defs) { cur_defs = defs; }

static const char *default_of(const char *name)
{
	for (const struct cli_default *d = cur_defs; d != NULL && d->name != NULL; d++)
		if (strcmp(d->name, name) == 0)
			return d->value;
	return NULL;
}

static const struct cli_opt *find_opt(const struct cli_opt *opts, const char *name)
{
	for (const struct cli_opt *o = opts; o->name != NULL; o++)
		if (strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

static int is_conf_key(const struct cli_opt *o)
{
	return o->metavar != NULL && strcmp(o->name, "config") != 0;
}

int cli_parse_config(const struct cli_cmd *cmd, const struct cli_opt *opts, int argc,
		     char **argv, const char *default_path)
{
	const struct cli_opt *cfg = find_opt(opts, "config"), *print = find_opt(opts, "print-config");
	const char *known[CLI_MAX_OPTS + 1], *path;
	size_t nk = 0;
	int r;

	if (cfg == NULL || print == NULL)
		return cli_fail(ATTEST_E_INTERNAL, "no --config or --print-config option");
	if ((r = parse_opts(cmd, opts, argc, argv, 0)) != CLI_PARSED)
		return r;
	for (const struct cli_opt *o = opts; o->name != NULL; o++)
		if (is_conf_key(o))
			known[nk++] = o->name;
	known[nk] = NULL;
	path = *cfg->dest != NULL ? *cfg->dest : default_path;
	attest_conf_free(cur_conf);
	cur_conf = NULL;
	if ((r = attest_conf_load(path, known, &cur_conf)) != ATTEST_OK) {
		if (r != ATTEST_E_NOT_FOUND || *cfg->dest != NULL) {
			(void)cli_fail(r, "configuration");
			return CLI_EXIT_USAGE; /* like a bad flag, as attestd does */
		}
		attest_errclear(); /* no default file: flags and defaults only */
	}
	for (const struct cli_opt *o = opts; o->name != NULL; o++)
		if (is_conf_key(o) && *o->dest == NULL)
			*o->dest = attest_conf_get(cur_conf, o->name);
	if (*print->dest != NULL) {
		printf("# %s %s%s%s: the effective configuration (command line over %s%s)\n",
		       prog_name(), cmd->words[0], cmd->words[1] != NULL ? " " : "",
		       cmd->words[1] != NULL ? cmd->words[1] : "", path,
		       cur_conf == NULL ? ", which does not exist" : "");
		for (const struct cli_opt *o = opts; o->name != NULL; o++) {
			if (!is_conf_key(o))
				continue;
			if (o->required && *o->dest == NULL)
				printf("# %s (required, not set)\n", o->name);
			else
				cliconf_print(stdout, o->name, *o->dest, default_of(o->name));
		}
		return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	}
	for (const struct cli_opt *o = opts; o->name != NULL; o++)
		if (o->required && *o->dest == NULL)
			return cli_usage_error("--%s is required (or \"%s = ...\" in %s)", o->name,
					       o->name, path);
	return CLI_PARSED;
}

static int is_help(const char *a) { return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 || strcmp(a, "help") == 0; }

int cli_main(const struct cli_prog *prog, int argc, char **argv)
{
	int group = 0;

	cur_prog = prog;
	if (argc < 2) {
		prog_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (is_help(argv[1])) {
		prog_usage(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("%s %s\n", prog->name, ATTEST_VERSION);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < prog->ncmds; i++) {
		const struct cli_cmd *c = &prog->cmds[i];

		if (strcmp(argv[1], c->words[0]) != 0)
			continue;
		if (c->words[1] == NULL)
			return c->run(c, argc - 1, argv + 1);
		group = 1;
		if (argc > 2 && strcmp(argv[2], c->words[1]) == 0)
			return c->run(c, argc - 2, argv + 2);
	}
	if (group && argc > 2 && is_help(argv[2])) {
		prog_usage(stdout);
		return CLI_EXIT_OK;
	}
	if (group && argc == 2)
		return cli_usage_error("\"%s\" needs a subcommand", argv[1]);
	return cli_usage_error("unknown command \"%s%s%s\"", argv[1], group ? " " : "",
			       group ? argv[2] : "");
}

static int read_stdin(size_t cap, uint8_t **buf, size_t *len)
{
	uint8_t *b = malloc(cap + 2);
	size_t got = 0, n;

	if (b == NULL)
		return cli_fail(ATTEST_E_NOMEM, "read standard input");
	while ((n = fread(b + got, 1, cap + 1 - got, stdin)) > 0 && got + n <= cap)
		got += n;
	if (n > 0 || ferror(stdin)) {
		free(b);
		attest_errclear();
		return cli_fail(n > 0 ? ATTEST_E_TOO_LARGE : ATTEST_E_IO,
				"read standard input (cap %zu bytes)", cap);
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	return CLI_EXIT_OK;
}

int cli_read(const char *path, size_t cap, uint8_t **buf, size_t *len)
{
	int r;

	*buf = NULL;
	*len = 0;
	if (strcmp(path, "-") == 0)
		return read_stdin(cap, buf, len);
	if ((r = attest_file_read(path, cap, buf, len)) != ATTEST_OK)
		return cli_fail(r, "read %s", path);
	return CLI_EXIT_OK;
}

int cli_write(const char *path, const void *data, size_t len)
{
	int r;

	if (strcmp(path, "-") == 0) {
		if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
			attest_errclear();
			return cli_fail(ATTEST_E_IO, "write standard output");
		}
		return CLI_EXIT_OK;
	}
	if ((r = attest_file_write_atomic(path, data, len, 0600)) != ATTEST_OK)
		return cli_fail(r, "write %s", path);
	return CLI_EXIT_OK;
}
