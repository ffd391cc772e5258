/* httpd.c - see httpd.h. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "err.h"
#include "httpd.h"

struct attest_httpd {
	struct evhttp *http;
	SSL_CTX *ctx;
	unsigned short port;
	unsigned conns;
	unsigned max_conns;
	int dying; /* freed by the caller; the last connection's SSL frees it */
};

/* Live connections are counted through their SSL objects: evhttp frees the
 * bufferevent (and with it the SSL) when a connection ends, and OpenSSL
 * calls the ex_data free hook then. */
static int conn_idx = -1;
static pthread_once_t conn_once = PTHREAD_ONCE_INIT;

static void conn_gone(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
		      void *argp)
{
	struct attest_httpd *h = ptr;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (h == NULL)
		return;
	if (h->conns > 0)
		h->conns--;
	if (h->dying && h->conns == 0)
		free(h);
}

static void conn_index_init(void)
{
	conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_gone);
}

static struct bufferevent *new_conn(struct event_base *base, void *arg)
{
	struct attest_httpd *h = arg;
	SSL *ssl = SSL_new(h->ctx);

	if (ssl == NULL)
		return NULL; /* evhttp falls back to a plain socket: attest_httpd_is_tls refuses it */
	if (h->conns >= h->max_conns) {
		/* Over the limit: a handshake that fails at once (no cipher
		 * suites), never a plaintext connection. */
		(void)SSL_set_ciphersuites(ssl, "");
	} else if (SSL_set_ex_data(ssl, conn_idx, h) == 1) {
		h->conns++;
	}
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					      BEV_OPT_CLOSE_ON_FREE);
}

static int make_ctx(const struct attest_httpd_opts *o, SSL_CTX **out)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int r = ATTEST_E_INTERNAL;

	if (ctx == NULL)
		return attest_fail_ossl(ATTEST_E_NOMEM, "SSL_CTX_new");
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "TLS 1.3 only");
		goto out;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		r = attest_fail_ossl(ATTEST_E_IO, "server certificate %s / key %s", o->cert_file,
				     o->key_file);
		goto out;
	}
	if (o->client_ca_file != NULL) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->client_ca_file);

		if (names == NULL ||
		    SSL_CTX_load_verify_locations(ctx, o->client_ca_file, NULL) != 1) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			r = attest_fail_ossl(ATTEST_E_IO, "client CA %s", o->client_ca_file);
			goto out;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx,
				   SSL_VERIFY_PEER | (o->require_client_cert
							      ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT
							      : 0),
				   o->verify_cb);
		SSL_CTX_set_verify_depth(ctx, 4);
	}
	/* no session tickets to keep: every connection authenticates afresh */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	*out = ctx;
	ctx = NULL;
	r = ATTEST_OK;
out:
	SSL_CTX_free(ctx);
	return r;
}

int attest_httpd_new(struct event_base *base, const struct attest_httpd_opts *o,
		     struct attest_httpd **out)
{
	int r = ATTEST_E_INTERNAL;
	struct attest_httpd *h = NULL;
	struct evhttp_bound_socket *bs;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (base == NULL || o == NULL || o->addr == NULL || o->cert_file == NULL ||
	    o->key_file == NULL || out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "httpd: missing option");
	if (pthread_once(&conn_once, conn_index_init) != 0 || conn_idx < 0)
		return attest_fail_ossl(ATTEST_E_INTERNAL, "SSL ex_data index");
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "httpd");
	h->max_conns = o->max_conns ? o->max_conns : 256;
	if ((r = make_ctx(o, &h->ctx)) != ATTEST_OK)
		goto out;
	if ((h->http = evhttp_new(base)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "evhttp_new");
		goto out;
	}
	evhttp_set_bevcb(h->http, new_conn, h);
	evhttp_set_max_body_size(h->http, (ev_ssize_t)(o->max_body ? o->max_body : 256 * 1024));
	evhttp_set_max_headers_size(h->http,
				    (ev_ssize_t)(o->max_headers ? o->max_headers : 8 * 1024));
	evhttp_set_timeout(h->http, o->timeout_s > 0 ? o->timeout_s : 10);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	if ((bs = evhttp_bind_socket_with_handle(h->http, o->addr, o->port)) == NULL) {
		r = attest_fail(ATTEST_E_IO, "cannot listen on %s:%u", o->addr, o->port);
		goto out;
	}
	/* Replies go out as header and body writes; without TCP_NODELAY
	 * (inherited by accepted sockets on Linux) Nagle holds the second
	 * until the peer's delayed ACK, ~40 ms per request. */
	{
		int one = 1;

		if (setsockopt(evhttp_bound_socket_get_fd(bs), IPPROTO_TCP, TCP_NODELAY, &one,
			       sizeof(one)) != 0) {
			r = attest_fail(ATTEST_E_IO, "TCP_NODELAY");
			goto out;
		}
	}
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) != 0) {
		r = attest_fail(ATTEST_E_IO, "getsockname");
		goto out;
	}
	h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						  : ((struct sockaddr_in *)&ss)->sin_port);
	*out = h;
	h = NULL;
	r = ATTEST_OK;
out:
	attest_httpd_free(h);
	return r;
}

void attest_httpd_free(struct attest_httpd *h)
{
	if (h == NULL)
		return;
	if (h->http != NULL)
		evhttp_free(h->http);
	h->http = NULL;
	SSL_CTX_free(h->ctx); /* each SSL keeps its own reference */
	h->ctx = NULL;
	/* evhttp_free leaves open connections' bufferevents to be freed with
	 * the event base, later: their SSL's ex_data free hook (conn_gone)
	 * still counts on h, so the last of them frees it */
	if (h->conns > 0) {
		h->dying = 1;
		return;
	}
	free(h);
}

struct evhttp *attest_httpd_http(struct attest_httpd *h)
{
	return h->http;
}

unsigned short attest_httpd_port(const struct attest_httpd *h)
{
	return h->port;
}

unsigned attest_httpd_conns(const struct attest_httpd *h)
{
	return h->conns;
}

static SSL *req_ssl(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	struct bufferevent *bev = c != NULL ? evhttp_connection_get_bufferevent(c) : NULL;

	return bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;
}

int attest_httpd_is_tls(struct evhttp_request *req)
{
	return req_ssl(req) != NULL;
}

X509 *attest_httpd_peer(struct evhttp_request *req)
{
	SSL *ssl = req_ssl(req);

	if (ssl == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
		return NULL;
	return SSL_get0_peer_certificate(ssl);
}

STACK_OF(X509) *attest_httpd_peer_chain(struct evhttp_request *req)
{
	SSL *ssl = req_ssl(req);

	if (ssl == NULL || SSL_get_verify_result(ssl) != X509_V_OK ||
	    SSL_get0_peer_certificate(ssl) == NULL)
		return NULL;
	return SSL_get0_verified_chain(ssl);
}

const char *attest_httpd_peer_addr(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	const char *addr = NULL;
	ev_uint16_t port = 0;

	if (c == NULL)
		return "";
	evhttp_connection_get_peer(c, (char **)&addr, &port);
	return addr != NULL ? addr : "";
}

int attest_httpd_body(struct evhttp_request *req, size_t cap, char **out, size_t *len)
{
	struct evbuffer *b = evhttp_request_get_input_buffer(req);
	size_t n = b != NULL ? evbuffer_get_length(b) : 0;
	char *buf;

	*out = NULL;
	if (n > cap)
		return attest_fail(ATTEST_E_TOO_LARGE, "body of %zu bytes over %zu", n, cap);
	if ((buf = malloc(n + 1)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "body");
	if (n > 0 && evbuffer_copyout(b, buf, n) != (ev_ssize_t)n) {
		free(buf);
		return attest_fail(ATTEST_E_IO, "body copy");
	}
	buf[n] = '\0';
	*out = buf;
	if (len != NULL)
		*len = n;
	return ATTEST_OK;
}

void attest_httpd_reply(struct evhttp_request *req, int status, const char *json, size_t len)
{
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *hd = evhttp_request_get_output_headers(req);

	(void)evhttp_add_header(hd, "Content-Type", "application/json");
	(void)evhttp_add_header(hd, "Cache-Control", "no-store");
	if (b != NULL && json != NULL)
		(void)evbuffer_add(b, json, len);
	evhttp_send_reply(req, status, NULL, b);
	if (b != NULL)
		evbuffer_free(b);
}
