/* agent_client - a small agent that gets its certificate from attestd
 * (docs/agents.md, "Getting a certificate in C").
 *
 *   agent_client --agent NAME [--socket PATH] [--mode strict|session]
 *                [--ttl SECONDS] [--out DIR] [--renew] [--intent FILE]
 *
 * attestd measures THIS process (its binary, uid, environment), so register
 * this binary as the agent first:
 *   attestctl agent register --name NAME --binary /path/to/agent_client ...
 * It writes DIR/cert.pem (leaf, then its issuers up to but not including
 * the fleet root) and DIR/key.pem (the leaf's private key), both 0600, in a
 * 0700 directory. With --renew it keeps renewing when a third of each
 * certificate's lifetime is left (a real agent would use the files
 * in between). --intent FILE presents the intent chain in FILE (a grant,
 * or a grant and its delegations; docs/intent.md); the leaf carries it,
 * and renewals present the current leaf instead (the token is single-use).
 *
 * Build against the installed library (make install, or libattest-dev):
 *   cc -std=c11 -o agent_client agent_client.c $(pkg-config --cflags --libs attest)
 * (tests/install/test-install.sh does exactly this).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_CLOEXEC, getopt_long under -std=c11 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/client.h"

/* Write data to dir/name with mode 0600, crash-safely (temp file, fsync,
 * rename), so a reader never sees half a key. */
static int write_file(const char *dir, const char *name, const char *data)
{
	char path[4096], tmp[4200];
	size_t len = strlen(data), off = 0;
	int fd, ok;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return -1;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	ok = off == len && fsync(fd) == 0;
	ok = close(fd) == 0 && ok && rename(tmp, path) == 0;
	if (!ok)
		unlink(tmp);
	return ok ? 0 : -1;
}

/* Seconds until the leaf (the first certificate of the chain) expires. */
static long seconds_left(const char *chain_pem)
{
	BIO *b = BIO_new_mem_buf(chain_pem, -1);
	X509 *leaf = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	int days = 0, secs = 0;
	long left = -1;

	if (leaf != NULL && ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(leaf)) == 1)
		left = (long)days * 86400 + secs;
	X509_free(leaf);
	BIO_free(b);
	return left;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: agent_client --agent NAME [--socket PATH] [--mode strict|session]\n"
		   "                    [--ttl SECONDS] [--out DIR] [--renew] [--intent FILE]\n"
		   "  --socket  attestd's agent socket (" ATTEST_DEFAULT_SOCKET ")\n"
		   "  --out     where cert.pem and key.pem go (.)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "agent", required_argument, NULL, 'a' }, { "socket", required_argument, NULL, 's' },
		{ "mode", required_argument, NULL, 'm' },  { "ttl", required_argument, NULL, 't' },
		{ "out", required_argument, NULL, 'o' },   { "renew", no_argument, NULL, 'r' },
		{ "intent", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },	   { NULL, 0, NULL, 0 },
	};
	struct attest_cert_request req = { 0 };
	const char *sock = NULL, *out = ".";
	const char *intent_path = NULL;
	static char intent[16 * 1024 + 2];
	static char current[ATTEST_RENEW_PEM_MAX]; /* the leaf to renew with */
	int c, renew = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': req.agent = optarg; break;
		case 's': sock = optarg; break;
		case 'm': req.mode = optarg; break;
		case 'o': out = optarg; break;
		case 'r': renew = 1; break;
		case 'i': intent_path = optarg; break;
		case 't': {
			char *end;

			errno = 0;
			req.ttl = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || req.ttl <= 0) {
				fprintf(stderr, "agent_client: --ttl must be a positive number\n");
				return 2;
			}
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (req.agent == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (intent_path != NULL) {
		FILE *f = fopen(intent_path, "r");
		size_t n = f != NULL ? fread(intent, 1, sizeof(intent) - 1, f) : 0;

		if (f == NULL || ferror(f) || !feof(f) || n == 0) {
			fprintf(stderr, "agent_client: --intent %s: unreadable, empty or too large\n",
				intent_path);
			if (f != NULL)
				fclose(f);
			return 1;
		}
		fclose(f);
		while (n > 0 && (intent[n - 1] == '\n' || intent[n - 1] == '\r'))
			n--;
		intent[n] = '\0';
		req.intent = intent;
	}
	/* The private key goes here: keep the directory ours alone. */
	if (mkdir(out, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "agent_client: mkdir %s: %s\n", out, strerror(errno));
		return 1;
	}
	for (;;) {
		struct attest_cert *cert = NULL;
		int r = attest_client_issue(sock, &req, &cert);
		long left;

		if (r != ATTEST_OK) {
			/* e.g. "attestd refused: ...: pid 42 runs a binary other than ..." */
			fprintf(stderr, "agent_client: %s [%s]: %s\n", attest_strerror(r),
				attest_errname(r), attest_errdetail());
			return 1;
		}
		if (cert->key_pem == NULL || write_file(out, "key.pem", cert->key_pem) != 0 ||
		    write_file(out, "cert.pem", cert->chain_pem) != 0) {
			fprintf(stderr, "agent_client: cannot write %s/cert.pem and key.pem\n", out);
			attest_cert_free(cert);
			return 1;
		}
		left = seconds_left(cert->chain_pem);
		printf("%s: %s/cert.pem and %s/key.pem, valid %ld s more\n", cert->id, out, out, left);
		fflush(stdout);
		if (req.intent != NULL || req.renew_pem != NULL) {
			/* the grant or delegation was spent on the first leaf: from
			 * now on renew by presenting the current one */
			snprintf(current, sizeof(current), "%s", cert->chain_pem);
			req.intent = NULL;
			req.renew_pem = current;
		}
		attest_cert_free(cert);
		if (!renew)
			return 0;
		/* Renew with a third of the lifetime left: just ask again. */
		sleep(left > 3 ? (unsigned)(left - left / 3) : 1);
	}
}
