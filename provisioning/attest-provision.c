/* attest-provision - the fleet CA's operator tool (DESIGN.md flow 1).
 *
 * Runs on the provisioning host, needs no TPM: creates the fleet CA, issues
 * single-use join tokens or allowlists EKs, and answers the enrolment
 * messages a host's attestctl produces. Every CA state change is made by
 * libattest, crash-safely; this file parses options and reports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli.h"
#include "attest/attest.h"
#include "enrol/enrol.h"
#include "core/json.h"
#include "x509/x509.h"

#define EK_CERT_FILE_CAP (16 * 1024)

/* Who approves: --operator, else the invoking (sudo) user, else the uid. */
static const char *operator_name(const char *given, char *buf, size_t bufsz)
{
	const char *e;

	if (given != NULL)
		return given;
	if ((e = getenv("SUDO_USER")) != NULL && e[0] != '\0')
		return e;
	if ((e = getenv("USER")) != NULL && e[0] != '\0')
		return e;
	snprintf(buf, bufsz, "uid:%lu", (unsigned long)getuid());
	return buf;
}

static int open_ca(const char *dir, struct attest_ca **ca)
{
	int r = attest_ca_open(dir, ca);

	return r == ATTEST_OK ? CLI_EXIT_OK : cli_fail(r, "open fleet CA %s", dir);
}

static int cmd_init(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *dir, *td, *roots, *ttl_s, *days_s, *nc_s;
	const struct cli_opt opts[] = {
		{ "dir", "D", "directory for the new CA (created 0700)", 1, &dir },
		{ "trust-domain", "TD", "SPIFFE trust domain, e.g. example.org", 1, &td },
		{ "vendor-roots", "FILE", "PEM bundle of TPM vendor (EK) roots (copied into DIR)", 1, &roots },
		{ "host-ca-ttl", "SECONDS", "lifetime of host CA certificates (86400)", 0, &ttl_s },
		{ "issuing-days", "DAYS", "lifetime of the online issuing CA (90)", 0, &days_s },
		{ "name-constraints", "on|off",
		  "critical URI name constraint on the fleet's CA certificates (on; docs/x509.md)", 0,
		  &nc_s },
		{ 0 },
	};
	struct attest_ca *ca = NULL;
	long ttl = 86400, days = ATTEST_ISSUING_CA_DEFAULT_DAYS;
	int r;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED ||
	    (ttl_s != NULL &&
	     (r = cli_long("host-ca-ttl", ttl_s, 1, ATTEST_HOST_CA_MAX_TTL, &ttl)) != CLI_PARSED) ||
	    (days_s != NULL &&
	     (r = cli_long("issuing-days", days_s, 1, ATTEST_ISSUING_CA_MAX_DAYS, &days)) != CLI_PARSED))
		return r;
	if (nc_s != NULL && strcmp(nc_s, "on") != 0 && strcmp(nc_s, "off") != 0)
		return cli_usage_error("--name-constraints takes on or off");
	if ((r = attest_ca_init_nc(dir, td, roots, ttl, (int)days,
				   nc_s == NULL || strcmp(nc_s, "on") == 0)) != ATTEST_OK)
		return cli_fail(r, "create fleet CA in %s", dir);
	if ((r = open_ca(dir, &ca)) != CLI_EXIT_OK)
		return r;
	printf("fleet CA for trust domain %s created in %s\nroot certificate: %s\n"
	       "issuing CA (signs host CA certificates, %ld days): %s/issuing/\n"
	       "move %s/root.key to offline storage: it is needed only to rotate the issuing CA\n",
	       td, dir, attest_ca_root_path(ca), days, dir, dir);
	attest_ca_close(ca);
	return CLI_EXIT_OK;
}

static int cmd_issuing_rotate(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *dir, *days_s, *root_key;
	const struct cli_opt opts[] = {
		{ "dir", "D", "fleet CA directory", 1, &dir },
		{ "root-key", "FILE", "the offline fleet root key (default D/root.key)", 0, &root_key },
		{ "days", "DAYS", "lifetime of the new issuing CA (90)", 0, &days_s },
		{ 0 },
	};
	struct attest_ca *ca = NULL;
	long days = ATTEST_ISSUING_CA_DEFAULT_DAYS;
	char serial[33];
	int r;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED ||
	    (days_s != NULL &&
	     (r = cli_long("days", days_s, 1, ATTEST_ISSUING_CA_MAX_DAYS, &days)) != CLI_PARSED) ||
	    (r = open_ca(dir, &ca)) != CLI_EXIT_OK)
		return r;
	r = attest_ca_issuing_rotate(ca, root_key, (int)days, serial);
	attest_ca_close(ca);
	if (r != ATTEST_OK)
		return cli_fail(r, "rotate the issuing CA of %s", dir);
	printf("issuing CA %s (%ld days) now signs host CA certificates; host CA certificates of "
	       "the previous one stay valid until they expire, renewals get the new one\n",
	       serial, days);
	return CLI_EXIT_OK;
}

static int cmd_token(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *dir, *host, *ttl_s, *op;
	const struct cli_opt opts[] = {
		{ "dir", "D", "fleet CA directory", 1, &dir },
		{ "host", "NAME", "host name the token is bound to", 1, &host },
		{ "ttl", "SECONDS", "validity (3600)", 0, &ttl_s },
		{ "operator", "NAME", "approving operator ($SUDO_USER, $USER or uid)", 0, &op },
		{ 0 },
	};
	struct attest_ca *ca = NULL;
	char opbuf[32], *token = NULL;
	long ttl = ATTEST_TOKEN_DEFAULT_TTL;
	int r;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED ||
	    (ttl_s != NULL &&
	     (r = cli_long("ttl", ttl_s, 1, ATTEST_TOKEN_MAX_TTL, &ttl)) != CLI_PARSED) ||
	    (r = open_ca(dir, &ca)) != CLI_EXIT_OK)
		return r;
	r = attest_ca_token_issue(ca, host, ttl, operator_name(op, opbuf, sizeof(opbuf)), &token);
	attest_ca_close(ca);
	if (r != ATTEST_OK)
		return cli_fail(r, "issue join token for %s", host);
	printf("%s\n", token);
	OPENSSL_cleanse(token, strlen(token));
	free(token);
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static int cmd_allow_ek(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *dir, *hash, *host, *op;
	const struct cli_opt opts[] = {
		{ "dir", "D", "fleet CA directory", 1, &dir },
		{ "ek-hash", "HEX", "SHA-256 of the EK's SubjectPublicKeyInfo (see ek-hash)", 1,
		  &hash },
		{ "host", "NAME", "the only host name this EK may enrol as", 1, &host },
		{ "operator", "NAME", "approving operator ($SUDO_USER, $USER or uid)", 0, &op },
		{ 0 },
	};
	struct attest_ca *ca = NULL;
	char opbuf[32];
	int r;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED ||
	    (r = open_ca(dir, &ca)) != CLI_EXIT_OK)
		return r;
	r = attest_ca_allow_ek(ca, hash, host, operator_name(op, opbuf, sizeof(opbuf)));
	attest_ca_close(ca);
	if (r != ATTEST_OK)
		return cli_fail(r, "allowlist EK for %s", host);
	printf("EK %s may enrol as %s without a token\n", hash, host);
	return CLI_EXIT_OK;
}

/* enrol-request and enrol-response: one message in, one out. */
typedef int (*ca_step_fn)(struct attest_ca *ca, const void *msg, size_t len, char **out);

static int ca_step(const struct cli_cmd *cmd, int argc, char **argv, ca_step_fn step,
		   const char *what)
{
	const char *dir, *in, *out;
	const struct cli_opt opts[] = {
		{ "dir", "D", "fleet CA directory", 1, &dir },
		{ "in", "FILE", "message from the host (- for stdin)", 1, &in },
		{ "out", "FILE", "answer for the host (- for stdout)", 1, &out },
		{ 0 },
	};
	struct attest_ca *ca = NULL;
	uint8_t *msg = NULL;
	char *answer = NULL;
	size_t len;
	int r;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED ||
	    (r = cli_read(in, ATTEST_ENROL_MSG_CAP, &msg, &len)) != CLI_EXIT_OK)
		return r;
	if ((r = open_ca(dir, &ca)) != CLI_EXIT_OK)
		goto out;
	if ((r = step(ca, msg, len, &answer)) != ATTEST_OK) {
		r = cli_fail(r, "%s %s refused", what, in);
		goto out;
	}
	if ((r = cli_write(out, answer, strlen(answer))) == CLI_EXIT_OK && strcmp(out, "-") != 0)
		printf("%s accepted; answer written to %s\n", what, out);
out:
	attest_ca_close(ca);
	free(answer);
	free(msg);
	return r;
}

static int cmd_request(const struct cli_cmd *cmd, int argc, char **argv)
{
	return ca_step(cmd, argc, argv, attest_ca_handle_request, "enrol-request");
}

static int cmd_response(const struct cli_cmd *cmd, int argc, char **argv)
{
	return ca_step(cmd, argc, argv, attest_ca_handle_response, "enrol-response");
}

static int cmd_renew_response(const struct cli_cmd *cmd, int argc, char **argv)
{
	return ca_step(cmd, argc, argv, attest_ca_handle_renewal, "renew-response");
}

static int cmd_renew_challenge(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *dir, *host, *out;
	const struct cli_opt opts[] = {
		{ "dir", "D", "fleet CA directory", 1, &dir },
		{ "host", "NAME", "enrolled host whose host CA certificate to renew", 1, &host },
		{ "out", "FILE", "renew-challenge for the host (- for stdout)", 1, &out },
		{ 0 },
	};
	struct attest_ca *ca = NULL;
	char *ch = NULL;
	int r;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED ||
	    (r = open_ca(dir, &ca)) != CLI_EXIT_OK)
		return r;
	if ((r = attest_ca_renew_challenge(ca, host, &ch)) != ATTEST_OK)
		r = cli_fail(r, "renewal challenge for %s", host);
	else if ((r = cli_write(out, ch, strlen(ch))) == CLI_EXIT_OK && strcmp(out, "-") != 0)
		printf("renewal challenge for %s written to %s\n", host, out);
	attest_ca_close(ca);
	free(ch);
	return r;
}

static int cmd_forget_host(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *dir, *host;
	const struct cli_opt opts[] = {
		{ "dir", "D", "fleet CA directory", 1, &dir },
		{ "host", "NAME", "enrolled host to forget", 1, &host },
		{ 0 },
	};
	struct attest_ca *ca = NULL;
	int r;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED ||
	    (r = open_ca(dir, &ca)) != CLI_EXIT_OK)
		return r;
	r = attest_ca_forget_host(ca, host);
	attest_ca_close(ca);
	if (r != ATTEST_OK)
		return cli_fail(r, "forget host %s", host);
	printf("forgot %s: its EK binding and reference PCRs are gone; it may enrol afresh\n", host);
	return CLI_EXIT_OK;
}

/* PEM, else DER with no trailing bytes. */
static X509 *parse_cert(const uint8_t *buf, size_t len)
{
	const unsigned char *p = buf;
	BIO *bio = BIO_new_mem_buf(buf, (int)len);
	X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	if (x != NULL)
		return x;
	ERR_clear_error();
	x = d2i_X509(NULL, &p, (long)len);
	if (x != NULL && p != buf + len) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

static int cmd_ek_hash(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *path;
	const struct cli_opt opts[] = {
		{ "cert", "FILE", "EK certificate, PEM or DER (- for stdin)", 1, &path },
		{ 0 },
	};
	uint8_t *buf = NULL, *der = NULL, md[32];
	unsigned mdlen = 0;
	char hex[65];
	size_t blen = 0;
	X509 *x = NULL;
	int r, len;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED ||
	    (r = cli_read(path, EK_CERT_FILE_CAP, &buf, &blen)) != CLI_EXIT_OK)
		return r;
	attest_errclear();
	/* Same encoding as the CA: i2d_PUBKEY of the key, not the stored bytes. */
	if ((x = parse_cert(buf, blen)) == NULL) {
		r = cli_fail(ATTEST_E_PARSE, "%s: not a PEM or DER certificate", path);
		goto out;
	}
	if ((len = i2d_PUBKEY(X509_get0_pubkey(x), &der)) <= 0 ||
	    EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		r = cli_fail(ATTEST_E_CRYPTO, "%s: hash the SubjectPublicKeyInfo", path);
		goto out;
	}
	attest_hex(md, 32, hex);
	printf("%s\n", hex);
	r = CLI_EXIT_OK;
out:
	OPENSSL_free(der);
	X509_free(x);
	free(buf);
	return r;
}

static const struct cli_cmd cmds[] = {
	{ { "init", NULL }, cmd_init,
	  "create a fleet CA (root, online issuing CA, config, state folders)",
	  "The root key signs only issuing CA certificates: after init, move D/root.key to\n"
	  "offline storage. The issuing CA (D/issuing/) signs host CA certificates." },
	{ { "issuing-ca", "rotate" }, cmd_issuing_rotate,
	  "make a new issuing CA, signed by the offline root, the one that signs from now on",
	  "Needs the root key (--root-key FILE, brought from offline storage). Hosts are not\n"
	  "re-enrolled: their current host CA certificates stay valid until they expire\n"
	  "(<= 24 h) and their next renewal is signed by the new issuing CA. Restart\n"
	  "attest-verifier afterwards so its signer loads the new key." },
	{ { "token", NULL }, cmd_token, "issue a single-use join token bound to a host name",
	  "Prints the token, and only the token, on stdout. The CA keeps only its SHA-256." },
	{ { "allow-ek", NULL }, cmd_allow_ek, "let one EK enrol as one host without a token",
	  NULL },
	{ { "enrol-request", NULL }, cmd_request, "check a host's enrol-request, write a challenge",
	  "Validates the EK certificate chain, the AK and the token or allowlist entry, and "
	  "answers\nwith a credential only that TPM can activate." },
	{ { "enrol-response", NULL }, cmd_response,
	  "check a host's enrol-response, write the host CA certificate",
	  "Checks the activated secret, the host key's creation evidence and the quote,\n"
	  "then issues the host CA certificate." },
	{ { "renew-challenge", NULL }, cmd_renew_challenge,
	  "write a nonce an enrolled host must quote to renew its host CA certificate",
	  "Host CA certificates live at most 24 h; renewal needs a fresh quote of the\n"
	  "reference boot PCRs recorded at enrolment, signed by the enrolled AK." },
	{ { "renew-response", NULL }, cmd_renew_response,
	  "check a host's renew-response, write a new host CA certificate",
	  "Checks nonce, PCR selection and digest, the AK signature and the reference\n"
	  "PCR values; refuses with ATTEST_E_PCR_MISMATCH when the host booted other code." },
	{ { "forget-host", NULL }, cmd_forget_host,
	  "forget an enrolled host (EK binding, reference PCRs) so it can enrol afresh",
	  "Use after approving a change of boot PCRs, or to move a name to a new TPM.\n"
	  "Host CA certificates already issued stay valid until they expire (<= 24 h)." },
	{ { "ek-hash", NULL }, cmd_ek_hash, "print the SHA-256 of an EK certificate's public key",
	  "The value allow-ek takes: SHA-256 of the DER SubjectPublicKeyInfo, as hex." },
};

int main(int argc, char **argv)
{
	static const struct cli_prog prog = {
		"attest-provision",
		"Fleet CA and host enrolment for attestd (no TPM needed on this side).",
		"Exit status: 0 done, 1 failed or refused, 2 usage error.",
		cmds,
		sizeof(cmds) / sizeof(cmds[0]),
	};

	return cli_main(&prog, argc, argv);
}
