/* spiffe_client - a SPIFFE Workload API client in C: what any SPIFFE
 * workload does, with nothing of attestd's own protocol (docs/spiffe.md).
 *
 *   SPIFFE_ENDPOINT_SOCKET=unix:///run/attestd/workload.sock \
 *     spiffe_client [--out DIR] [--count N]
 *
 * It calls FetchX509SVID (gRPC over HTTP/2 by libnghttp2, messages by
 * protobuf-c generated from attestd/workload.proto, with the
 * workload.spiffe.io: true metadata the specification requires), takes
 * the first N responses of the stream (1), checks each SVID's chain
 * against the bundle that came with it (OpenSSL) and that its key is the
 * leaf's, prints the SPIFFE ID and lifetime, and writes the last one as
 * DIR/svid.pem (leaf first), DIR/svid.key (PKCS#8, 0600) and
 * DIR/bundle.pem when --out is given. The workload never names itself:
 * attestd finds which agent it is from its measurement. Exit 0 on
 * success; 1 with the gRPC status and message when refused. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "workload.pb-c.h"

#define BODY_MAX (1024 * 1024)
#define TIMEOUT_MS 60000

struct client {
	int fd;
	int32_t stream;
	uint8_t *body; /* response bytes not yet parsed into messages */
	size_t body_len;
	int want, got;
	int closed;
	int grpc_status; /* -1: none yet */
	char grpc_message[512];
	const char *out;
	int failed;
};

/* ---------- one SVID ---------- */

static STACK_OF(X509) *der_certs(const uint8_t *p, size_t n)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	const unsigned char *q = p, *end = p + n;

	while (sk != NULL && q < end) {
		X509 *x = d2i_X509(NULL, &q, end - q);

		if (x == NULL || !sk_X509_push(sk, x)) {
			X509_free(x);
			sk_X509_pop_free(sk, X509_free);
			return NULL;
		}
	}
	if (sk != NULL && sk_X509_num(sk) == 0) {
		sk_X509_free(sk);
		return NULL;
	}
	return sk;
}

static int write_pem_certs(const char *path, STACK_OF(X509) *sk, int from)
{
	FILE *f = fopen(path, "w");
	int ok = f != NULL;

	for (int i = from; ok && i < sk_X509_num(sk); i++)
		ok = PEM_write_X509(f, sk_X509_value(sk, i)) == 1;
	if (f != NULL && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

static int write_key(const char *path, EVP_PKEY *k)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	int ok = f != NULL && PEM_write_PKCS8PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1;

	if (f != NULL) {
		if (fclose(f) != 0)
			ok = 0;
	} else if (fd >= 0) {
		close(fd);
	}
	return ok ? 0 : -1;
}

/* The chain verifies to the bundle, the key is the leaf's; print it and
 * write it out. */
static int take_svid(struct client *c, const X509SVID *s)
{
	STACK_OF(X509) *chain = der_certs(s->x509_svid.data, s->x509_svid.len);
	STACK_OF(X509) *bundle = der_certs(s->bundle.data, s->bundle.len);
	const unsigned char *kp = s->x509_svid_key.data;
	EVP_PKEY *key = d2i_AutoPrivateKey(NULL, &kp, (long)s->x509_svid_key.len);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = NULL;
	X509 *leaf;
	char path[4096];
	int r = -1;

	if (chain == NULL || bundle == NULL || key == NULL || store == NULL || ctx == NULL) {
		fprintf(stderr, "spiffe_client: the SVID's chain, bundle or key does not parse\n");
		goto out;
	}
	leaf = sk_X509_value(chain, 0);
	for (int i = 0; i < sk_X509_num(bundle); i++)
		if (X509_STORE_add_cert(store, sk_X509_value(bundle, i)) != 1)
			goto out;
	if ((untrusted = sk_X509_dup(chain)) == NULL)
		goto out;
	(void)sk_X509_shift(untrusted); /* the leaf */
	if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1 || X509_verify_cert(ctx) != 1) {
		fprintf(stderr, "spiffe_client: the SVID does not verify to its bundle: %s\n",
			X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		goto out;
	}
	if (X509_check_private_key(leaf, key) != 1) {
		fprintf(stderr, "spiffe_client: the key is not the SVID's\n");
		goto out;
	}
	{
		BIO *b = BIO_new_fp(stdout, BIO_NOCLOSE);

		printf("%s: X.509-SVID %d, %d certificates, verified to the bundle of %d; valid "
		       "until ", s->spiffe_id, c->got + 1, sk_X509_num(chain), sk_X509_num(bundle));
		fflush(stdout);
		if (b != NULL)
			ASN1_TIME_print(b, X509_get0_notAfter(leaf));
		BIO_free(b);
		printf("\n");
		fflush(stdout);
	}
	if (c->out != NULL) {
		snprintf(path, sizeof(path), "%s/svid.pem", c->out);
		if (write_pem_certs(path, chain, 0) != 0)
			goto out;
		snprintf(path, sizeof(path), "%s/bundle.pem", c->out);
		if (write_pem_certs(path, bundle, 0) != 0)
			goto out;
		snprintf(path, sizeof(path), "%s/svid.key", c->out);
		if (write_key(path, key) != 0)
			goto out;
	}
	r = 0;
out:
	ERR_clear_error();
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	EVP_PKEY_free(key);
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(bundle, X509_free);
	return r;
}

/* Whole gRPC messages out of the body: 5-byte prefix, then the message. */
static void parse_messages(struct client *c)
{
	size_t off = 0;

	while (c->body_len - off >= 5) {
		uint32_t n = (uint32_t)c->body[off + 1] << 24 | (uint32_t)c->body[off + 2] << 16 |
			     (uint32_t)c->body[off + 3] << 8 | c->body[off + 4];
		X509SVIDResponse *resp;

		if (c->body[off] != 0 || n > BODY_MAX) {
			c->failed = 1;
			return;
		}
		if (c->body_len - off - 5 < n)
			break;
		resp = x509_svidresponse__unpack(NULL, n, c->body + off + 5);
		off += 5 + n;
		if (resp == NULL || resp->n_svids == 0 || take_svid(c, resp->svids[0]) != 0)
			c->failed = 1;
		else
			c->got++;
		x509_svidresponse__free_unpacked(resp, NULL);
		if (c->failed)
			return;
	}
	memmove(c->body, c->body + off, c->body_len - off);
	c->body_len -= off;
}

/* ---------- nghttp2 ---------- */

static ssize_t h2_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *arg)
{
	struct client *c = arg;
	ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);

	(void)s;
	(void)flags;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? NGHTTP2_ERR_WOULDBLOCK
							 : NGHTTP2_ERR_CALLBACK_FAILURE;
	return n;
}

static int h2_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *arg)
{
	struct client *c = arg;

	(void)s;
	(void)flags;
	if (f->hd.stream_id != c->stream)
		return 0;
	if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
		c->grpc_status = 0;
		for (size_t i = 0; i < valuelen && i < 4; i++)
			c->grpc_status = c->grpc_status * 10 + (value[i] - '0');
	} else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
		snprintf(c->grpc_message, sizeof(c->grpc_message), "%.*s", (int)valuelen,
			 (const char *)value);
	}
	return 0;
}

static int h2_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
		   void *arg)
{
	struct client *c = arg;
	uint8_t *grown;

	(void)s;
	(void)flags;
	if (id != c->stream)
		return 0;
	if (len > BODY_MAX - c->body_len || (grown = realloc(c->body, c->body_len + len)) == NULL)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	c->body = grown;
	memcpy(c->body + c->body_len, data, len);
	c->body_len += len;
	parse_messages(c);
	return 0;
}

static int h2_close(nghttp2_session *s, int32_t id, uint32_t code, void *arg)
{
	struct client *c = arg;

	(void)s;
	(void)code;
	if (id == c->stream)
		c->closed = 1;
	return 0;
}

static ssize_t req_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
			uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	/* one empty X509SVIDRequest: the 5-byte prefix, a zero length */
	(void)s;
	(void)id;
	(void)src;
	(void)arg;
	if (len < 5)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	memset(buf, 0, 5);
	*flags |= NGHTTP2_DATA_FLAG_EOF;
	return 5;
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE }

static int connect_endpoint(const char *addr)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = addr;
	int fd;

	/* SPIFFE_ENDPOINT_SOCKET: unix:///path or unix:/path */
	if (strncmp(path, "unix://", 7) == 0)
		path += 7;
	else if (strncmp(path, "unix:", 5) == 0)
		path += 5;
	else {
		fprintf(stderr, "spiffe_client: %s is not a unix: address\n", addr);
		return -1;
	}
	if (path[0] != '/' || strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "spiffe_client: %s: not an absolute socket path\n", addr);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "spiffe_client: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	static const nghttp2_nv hdrs[] = {
		NV(":method", "POST"),
		NV(":scheme", "http"),
		NV(":authority", "localhost"),
		NV(":path", "/SpiffeWorkloadAPI/FetchX509SVID"),
		NV("content-type", "application/grpc"),
		NV("te", "trailers"),
		NV("workload.spiffe.io", "true"),
	};
	struct client c = { .fd = -1, .want = 1, .grpc_status = -1 };
	nghttp2_session_callbacks *cb = NULL;
	nghttp2_session *h2 = NULL;
	nghttp2_data_provider body = { .read_callback = req_body };
	const char *ep = getenv("SPIFFE_ENDPOINT_SOCKET");
	int status = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
			c.out = argv[++i];
		} else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
			char *end;
			long n = strtol(argv[++i], &end, 10);

			if (*end != '\0' || n < 1 || n > 100) {
				fprintf(stderr, "spiffe_client: --count 1..100\n");
				return 2;
			}
			c.want = (int)n;
		} else {
			fprintf(stderr, "usage: SPIFFE_ENDPOINT_SOCKET=unix:///PATH spiffe_client "
				"[--out DIR] [--count N]\n");
			return 2;
		}
	}
	if (ep == NULL) {
		fprintf(stderr, "spiffe_client: SPIFFE_ENDPOINT_SOCKET is not set\n");
		return 2;
	}
	if ((c.fd = connect_endpoint(ep)) < 0)
		return 1;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		goto out;
	nghttp2_session_callbacks_set_send_callback(cb, h2_send);
	nghttp2_session_callbacks_set_on_header_callback(cb, h2_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_close);
	if (nghttp2_session_client_new(&h2, cb, &c) != 0 ||
	    nghttp2_submit_settings(h2, NGHTTP2_FLAG_NONE, NULL, 0) != 0 ||
	    (c.stream = nghttp2_submit_request(h2, NULL, hdrs, sizeof(hdrs) / sizeof(hdrs[0]),
					       &body, NULL)) < 0)
		goto out;
	while (!c.closed && !c.failed && c.got < c.want) {
		struct pollfd p = { c.fd, POLLIN, 0 };
		uint8_t buf[16384];
		ssize_t n;

		if (nghttp2_session_send(h2) != 0)
			break;
		if (nghttp2_session_want_write(h2))
			p.events |= POLLOUT;
		if (poll(&p, 1, TIMEOUT_MS) <= 0) {
			fprintf(stderr, "spiffe_client: no answer within %d s\n", TIMEOUT_MS / 1000);
			break;
		}
		if (!(p.revents & (POLLIN | POLLHUP)))
			continue;
		if ((n = recv(c.fd, buf, sizeof(buf), 0)) <= 0 ||
		    nghttp2_session_mem_recv(h2, buf, (size_t)n) != n)
			break;
	}
	if (c.got >= c.want && !c.failed)
		status = 0;
	else if (c.grpc_status > 0)
		fprintf(stderr, "spiffe_client: refused: gRPC status %d: %s\n", c.grpc_status,
			c.grpc_message);
	else if (!c.failed)
		fprintf(stderr, "spiffe_client: the stream ended after %d of %d SVIDs\n", c.got,
			c.want);
out:
	nghttp2_session_del(h2);
	nghttp2_session_callbacks_del(cb);
	free(c.body);
	close(c.fd);
	return status;
}
