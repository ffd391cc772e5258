/* refset_cli.c - `attest-verifier refset sign|show` (see refset_cli.h). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>

#include "cli.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "refset_cli.h"
#include "x509/x509.h"

#define PEM_MAX (16 * 1024)

void vf_operators_free(struct attest_refset_operator *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)ops[i].kid);
		EVP_PKEY_free(ops[i].key);
		ops[i].kid = NULL;
		ops[i].key = NULL;
	}
}

static int load_pub(const char *path, EVP_PKEY **out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	BIO *b = NULL;
	int r;

	*out = NULL;
	if ((r = attest_file_read(path, PEM_MAX, &buf, &len)) != ATTEST_OK)
		return r;
	if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL ||
	    (*out = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL)) == NULL)
		r = attest_fail_ossl(ATTEST_E_PARSE, "%s: not a PEM public key", path);
	BIO_free(b);
	free(buf);
	return r;
}

int vf_operators_load(const char *dir, struct attest_refset_operator *ops, size_t *n)
{
	DIR *d = NULL;
	struct dirent *de;
	char path[4096], kid[ATTEST_REFSET_KID_MAX + 1];
	int r = ATTEST_OK;

	*n = 0;
	if ((d = opendir(dir)) == NULL)
		return attest_fail(ATTEST_E_IO, "operators: cannot open directory %s", dir);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len < 5 || len - 4 > ATTEST_REFSET_KID_MAX ||
		    strcmp(de->d_name + len - 4, ".pem") != 0)
			continue;
		memcpy(kid, de->d_name, len - 4);
		kid[len - 4] = '\0';
		if (!attest_refset_kid_ok(kid))
			continue;
		if (*n == VF_OPERATORS_MAX) {
			r = attest_fail(ATTEST_E_TOO_LARGE, "operators: more than %d keys in %s",
					VF_OPERATORS_MAX, dir);
			break;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((r = load_pub(path, &ops[*n].key)) != ATTEST_OK)
			break;
		if ((ops[*n].kid = strdup(kid)) == NULL) {
			EVP_PKEY_free(ops[*n].key);
			ops[*n].key = NULL;
			r = attest_fail(ATTEST_E_NOMEM, "operators");
			break;
		}
		(*n)++;
	}
	closedir(d);
	if (r != ATTEST_OK) {
		vf_operators_free(ops, *n);
		*n = 0;
	}
	return r;
}

static int cmd_sign(int argc, char **argv)
{
	static const struct cli_cmd cmd = { { "refset", "sign" }, NULL,
					    "sign a reference-value set as an operator",
					    "SET.json is the payload of docs/attestation.md; it is "
					    "checked, then signed as\nthe bytes given (ES256)." };
	const char *key_path = NULL, *kid = NULL, *in = NULL, *outp = NULL;
	const struct cli_opt opts[] = {
		{ "key", "OPERATOR_KEY.pem", "the operator's P-256 private key", 1, &key_path },
		{ "kid", "NAME", "the operator's name (its public key is NAME.pem)", 1, &kid },
		{ "in", "SET.json", "the set", 1, &in },
		{ "out", "SET.jws", "where to write the signed set", 1, &outp },
		{ NULL, NULL, NULL, 0, NULL },
	};
	EVP_PKEY *key = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	char *tok = NULL;
	int r, rc;

	if ((rc = cli_parse(&cmd, opts, argc, argv)) != CLI_PARSED)
		return rc;
	if ((r = attest_pkey_load(key_path, &key)) != ATTEST_OK) {
		rc = cli_fail(r, "refset sign: %s", key_path);
		goto out;
	}
	if ((r = attest_file_read(in, ATTEST_REFSET_TOKEN_MAX, &buf, &len)) != ATTEST_OK ||
	    (r = attest_refset_sign(key, kid, (const char *)buf, len, &tok)) != ATTEST_OK) {
		rc = cli_fail(r, "refset sign: %s", in);
		goto out;
	}
	if ((rc = cli_write(outp, tok, strlen(tok))) != CLI_EXIT_OK)
		goto out;
	fprintf(stderr, "refset sign: %s signed by operator \"%s\" -> %s\n", in, kid, outp);
	rc = CLI_EXIT_OK;
out:
	free(tok);
	free(buf);
	EVP_PKEY_free(key);
	return rc;
}

static int cmd_show(int argc, char **argv)
{
	static const struct cli_cmd cmd = { { "refset", "show" }, NULL,
					    "verify a signed reference-value set and print it",
					    "Usage: refset show SET.jws --operators DIR [--now UNIX]" };
	const char *dir = NULL, *now_s = NULL;
	const struct cli_opt opts[] = {
		{ "operators", "DIR", "operator public keys, one NAME.pem each", 1, &dir },
		{ "now", "UNIX", "check validity at this time instead of now", 0, &now_s },
		{ NULL, NULL, NULL, 0, NULL },
	};
	struct attest_refset_operator ops[VF_OPERATORS_MAX];
	struct attest_refset *s = NULL;
	size_t nops = 0;
	uint8_t *buf = NULL;
	size_t len = 0;
	long now = (long)time(NULL);
	char hex[65];
	const char *set;
	int r, rc;

	memset(ops, 0, sizeof(ops));
	/* refset show SET.jws [options]: SET comes first, then the options. */
	if (argc >= 2 && strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-h") != 0 &&
	    argv[1][0] != '-') {
		set = argv[1];
		argc--;
		argv++;
	} else {
		set = NULL;
	}
	if ((rc = cli_parse(&cmd, opts, argc, argv)) != CLI_PARSED)
		return rc;
	if (set == NULL)
		return cli_usage_error("SET.jws is required (refset show SET.jws --operators DIR)");
	if (now_s != NULL && (rc = cli_long("now", now_s, 0, 9007199254740991L, &now)) != CLI_PARSED)
		return rc;
	if ((r = vf_operators_load(dir, ops, &nops)) != ATTEST_OK) {
		rc = cli_fail(r, "refset show: %s", dir);
		goto out;
	}
	if ((r = attest_file_read(set, ATTEST_REFSET_TOKEN_MAX, &buf, &len)) != ATTEST_OK) {
		rc = cli_fail(r, "refset show: %s", set);
		goto out;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if ((r = attest_refset_verify((const char *)buf, len, ops, nops, now, &s)) != ATTEST_OK) {
		rc = cli_fail(r, "refset show: %s", set);
		goto out;
	}
	printf("set:       %s\noperator:  %s (signature verified)\n", attest_refset_name(s),
	       attest_refset_kid(s));
	if (attest_refset_not_after(s) != 0)
		printf("not_after: %llu\n", (unsigned long long)attest_refset_not_after(s));
	else
		printf("not_after: (none)\n");
	for (unsigned i = 0; i < 24; i++) {
		if (attest_refset_value(s, i) == NULL)
			continue;
		attest_hex(attest_refset_value(s, i), 32, hex);
		printf("pcr %-2u    %s\n", i, hex);
	}
	for (unsigned i = 0; i < 24; i++)
		if (attest_refset_allow_mask(s) & (1u << i))
			printf("eventlog allowlist pcr %u: %zu digests\n", i,
			       attest_refset_allow_count(s, i));
	rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
	attest_refset_free(s);
	vf_operators_free(ops, nops);
	free(buf);
	return rc;
}

int vf_cmd_refset(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "sign") == 0)
		return cmd_sign(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "show") == 0)
		return cmd_show(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		puts("usage: attest-verifier refset sign --key OPERATOR_KEY.pem --kid NAME --in "
		     "SET.json --out SET.jws\n"
		     "       attest-verifier refset show SET.jws --operators DIR [--now UNIX]");
		return CLI_EXIT_OK;
	}
	return cli_usage_error("refset needs a subcommand: sign or show");
}
