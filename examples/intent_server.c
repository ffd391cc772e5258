/* intent_server.c - an example relying party: a TLS 1.3-only server that
 * accepts agents' client certificates and decides, per connection, from the
 * intent chain the leaf carries (docs/intent.md, docs/agents.md).
 *
 *   intent_server --cert FILE --key FILE --root FILE --issuer NAME=KEY.pem
 *                 [--once]
 *
 * It listens on 127.0.0.1 on a free port and prints "listening on
 * 127.0.0.1:PORT". Each client must complete a TLS 1.3 handshake (TLS 1.2
 * sends client certificates in clear, so it is refused) with a chain that
 * verifies to the fleet root and passes attestd's path rule
 * (attest_x509_verify_cb). The server then takes the intent chain from the
 * leaf, verifies it with attest_intent_verify for the leaf's agent ID now,
 * and answers "ALLOWED" with the chain described, or "DENIED CODE: reason".
 * Every decision is also printed on stdout. --once serves one connection.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "attest/intent.h"
#include "attest/verify.h"

static void usage(void)
{
	fprintf(stderr, "usage: intent_server --cert FILE --key FILE --root FILE "
			"--issuer NAME=KEY.pem [--once]\n");
}

static struct attest_intent_trust *load_trust(const char *root_path, const char *issuer)
{
	struct attest_intent_trust *t = NULL;
	const char *eq = strchr(issuer, '=');
	char name[257];
	FILE *f;
	X509 *root = NULL;
	EVP_PKEY *k = NULL;
	int ok;

	if (eq == NULL || (size_t)(eq - issuer) >= sizeof(name) || eq == issuer)
		return NULL;
	snprintf(name, sizeof(name), "%.*s", (int)(eq - issuer), issuer);
	if ((f = fopen(root_path, "r")) != NULL) {
		root = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if ((f = fopen(eq + 1, "r")) != NULL) {
		k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
		fclose(f);
	}
	ok = root != NULL && k != NULL && attest_intent_trust_new(&t) == ATTEST_OK &&
	     attest_intent_trust_add_issuer(t, name, k) == ATTEST_OK &&
	     attest_intent_trust_set_root(t, root) == ATTEST_OK;
	X509_free(root);
	EVP_PKEY_free(k);
	if (!ok) {
		attest_intent_trust_free(t);
		return NULL;
	}
	return t;
}

/* The decision for one verified TLS peer, as the line(s) sent back. */
static void decide(struct attest_intent_trust *t, SSL *ssl, char *out, size_t outsz)
{
	struct attest_intent_chain *c = NULL;
	char *tok = NULL, *id = NULL, *text = NULL;
	STACK_OF(X509) *verified = SSL_get0_verified_chain(ssl);
	int r = attest_intent_from_cert(SSL_get0_peer_certificate(ssl), &tok, &id);

	/* Delegations' x5c stop at the host CA: the fleet's issuing CA that
	 * this peer's verified chain went through helps place them (an
	 * intermediate, not an anchor; a full list of 16 only stops learning). */
	for (int i = 1; i < sk_X509_num(verified); i++)
		if (X509_check_ca(sk_X509_value(verified, i)) != 0 &&
		    X509_self_signed(sk_X509_value(verified, i), 0) != 1 &&
		    attest_intent_trust_add_intermediate(t, sk_X509_value(verified, i)) != ATTEST_OK)
			break;
	ERR_clear_error();

	if (r == ATTEST_OK)
		r = attest_intent_verify(t, tok, id, time(NULL), &c);
	if (r == ATTEST_OK && attest_intent_chain_describe(c, &text) == ATTEST_OK)
		snprintf(out, outsz, "ALLOWED %s\n%s", id, text);
	else
		snprintf(out, outsz, "DENIED %s: %s\n", attest_errname(r), attest_errdetail());
	free(text);
	attest_intent_chain_free(c);
	free(tok);
	free(id);
}

int main(int argc, char **argv)
{
	const char *cert = NULL, *key = NULL, *root = NULL, *issuer = NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	struct attest_intent_trust *t;
	SSL_CTX *ctx;
	int once = 0, lfd;

	for (int i = 1; i < argc; i++) {
		const char **slot = strcmp(argv[i], "--cert") == 0     ? &cert
				    : strcmp(argv[i], "--key") == 0    ? &key
				    : strcmp(argv[i], "--root") == 0   ? &root
				    : strcmp(argv[i], "--issuer") == 0 ? &issuer
								       : NULL;

		if (strcmp(argv[i], "--once") == 0) {
			once = 1;
		} else if (strcmp(argv[i], "--help") == 0) {
			usage();
			return 0;
		} else if (slot == NULL || i + 1 == argc) {
			usage();
			return 2;
		} else {
			*slot = argv[++i];
		}
	}
	if (cert == NULL || key == NULL || root == NULL || issuer == NULL) {
		usage();
		return 2;
	}
	if ((t = load_trust(root, issuer)) == NULL) {
		fprintf(stderr, "intent_server: cannot load --root %s or --issuer %s\n", root, issuer);
		return 1;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, root, NULL) != 1) {
		fprintf(stderr, "intent_server: TLS setup: ");
		ERR_print_errors_fp(stderr);
		return 1;
	}
	/* a client certificate is required and must pass attestd's path rule */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			   attest_x509_verify_cb);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 16) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) != 0) {
		perror("intent_server: listen");
		return 1;
	}
	printf("listening on 127.0.0.1:%u\n", (unsigned)ntohs(sa.sin_port));
	fflush(stdout);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		SSL *ssl = fd >= 0 ? SSL_new(ctx) : NULL;
		char answer[16384];

		if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
			perror("intent_server: accept");
		} else if (SSL_accept(ssl) != 1) {
			unsigned long e = ERR_peek_last_error();

			printf("refused: TLS handshake failed: %s\n",
			       e != 0 ? ERR_reason_error_string(e) : "connection closed");
			ERR_clear_error();
		} else {
			decide(t, ssl, answer, sizeof(answer));
			printf("%s %s", SSL_get_version(ssl), answer);
			if (SSL_write(ssl, answer, (int)strlen(answer)) <= 0)
				ERR_clear_error();
			SSL_shutdown(ssl);
		}
		fflush(stdout);
		SSL_free(ssl);
		if (fd >= 0)
			close(fd);
		if (once)
			break;
	}
	close(lfd);
	SSL_CTX_free(ctx);
	attest_intent_trust_free(t);
	return 0;
}
