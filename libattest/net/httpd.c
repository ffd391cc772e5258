/* httpd.c - see httpd.h. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/err.h"
#include "net/httpd.h"

/* Connection admission (docs/verifier.md "Connections"):
 * - a whole-request deadline: from accept (TLS handshake included) to the
 *   complete request, then again from each reply to the next complete
 *   request on a kept-alive connection; a connection that has not
 *   delivered a whole request by then is shut down, however steadily it
 *   trickles bytes (evhttp's own timeout is per read);
 * - per-source caps: connections that have not authenticated (handshake
 *   not done, or done without a verified client certificate) count
 *   against their source address (IPv6: its /64), at most per_source;
 * - a reserve for authenticated callers: unauthenticated connections hold
 *   at most max_conns - auth_reserve slots; a connection whose handshake
 *   verified a client certificate leaves that pool. When the pool (or the
 *   whole table) is full, a new connection takes the slot of the oldest
 *   unauthenticated, idle connection of the source holding the most, so a
 *   flood displaces itself before anyone else, and a caller whose
 *   handshake is under way is not starved by connections already held. */
struct src_count {
	uint8_t key[17]; /* family, then 4 (IPv4) or 8 (IPv6 /64) address bytes */
	unsigned n;
};

struct conn;

struct attest_httpd {
	struct evhttp *http;
	SSL_CTX *ctx;
	unsigned short port;
	unsigned conns, unauth; /* counted (live, not shut) connections */
	unsigned max_conns, reserve, per_source;
	uint64_t seq;
	struct timeval deadline;
	struct src_count *srcs; /* max_conns entries; n == 0 is free */
	struct conn *live;      /* every connection not yet freed */
	struct attest_httpd_stats st;
	void (*handler)(struct evhttp_request *, void *);
	void *handler_arg;
};

struct conn {
	struct attest_httpd *h;
	struct conn *prev, *next;
	struct bufferevent *bev;
	struct event *timer;
	struct src_count *src; /* counted against this source, or NULL */
	uint64_t seq;          /* accept order */
	unsigned counted : 1, admitted : 1, authed : 1, busy : 1;
	/* the application's per-connection bytes (attest_httpd_conn_app),
	 * zero until it writes them, freed with the connection */
	union {
		unsigned char b[ATTEST_HTTPD_CONN_APP];
		max_align_t align;
	} app;
};

/* Live connections are tracked through their SSL objects: evhttp frees the
 * bufferevent (and with it the SSL) when a connection ends, and OpenSSL
 * calls the ex_data free hook then. */
static int conn_idx = -1;
static pthread_once_t conn_once = PTHREAD_ONCE_INIT;

/* c stops counting against the caps (shut, or gone). */
static void conn_uncount(struct conn *c)
{
	if (!c->counted || c->h == NULL)
		return;
	c->counted = 0;
	if (c->h->conns > 0)
		c->h->conns--;
	if (!c->authed && c->h->unauth > 0)
		c->h->unauth--;
	if (c->src != NULL && c->src->n > 0)
		c->src->n--;
	c->src = NULL;
}

static void conn_gone(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
		      void *argp)
{
	struct conn *c = ptr;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (c == NULL)
		return;
	if (c->h != NULL) {
		conn_uncount(c);
		if (c->prev != NULL)
			c->prev->next = c->next;
		else
			c->h->live = c->next;
		if (c->next != NULL)
			c->next->prev = c->prev;
	}
	if (c->timer != NULL)
		event_free(c->timer);
	free(c);
}

static void conn_index_init(void)
{
	conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_gone);
}

/* Shut the socket: evhttp sees the end of the stream and frees the
 * connection (and, through the SSL, c). Its slot is free at once. */
static void conn_kill(struct conn *c)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	conn_uncount(c);
	(void)evtimer_del(c->timer);
	if (fd >= 0)
		(void)shutdown(fd, SHUT_RDWR);
}

static int src_key(evutil_socket_t fd, uint8_t key[17])
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	memset(key, 0, 17);
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
		return -1;
	if (ss.ss_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			key[0] = 4;
			memcpy(key + 1, a6->s6_addr + 12, 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, a6->s6_addr, 8); /* one /64 is one source */
		}
	} else {
		key[0] = 0xff; /* other families: one shared source */
	}
	return 0;
}

/* The slot counting key's connections, a free one, or NULL. */
static struct src_count *src_find(struct attest_httpd *h, const uint8_t key[17])
{
	struct src_count *spare = NULL;

	for (unsigned i = 0; i < h->max_conns; i++) {
		struct src_count *e = &h->srcs[i];

		if (e->n > 0 && memcmp(e->key, key, sizeof(e->key)) == 0)
			return e;
		if (e->n == 0 && spare == NULL)
			spare = e;
	}
	if (spare != NULL)
		memcpy(spare->key, key, sizeof(spare->key));
	return spare;
}

/* Make room for one connection: shut the oldest idle unauthenticated
 * connection of the source that holds the most. 0 if there is none. */
static int evict_one(struct attest_httpd *h)
{
	struct conn *v = NULL;

	for (struct conn *c = h->live; c != NULL; c = c->next) {
		if (!c->counted || c->authed || c->busy || c->src == NULL)
			continue;
		if (v == NULL || c->src->n > v->src->n ||
		    (c->src->n == v->src->n && c->seq < v->seq))
			v = c;
	}
	if (v == NULL)
		return 0;
	h->st.evicted++;
	conn_kill(v);
	return 1;
}

static void conn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct attest_httpd *h = c->h;
	uint8_t key[17];

	(void)fd, (void)what;
	if (!c->counted)
		return;
	if (!c->admitted) {
		/* first turn after accept: evhttp has given the bufferevent
		 * its socket, so the peer's address is known */
		c->admitted = 1;
		if (!c->authed) {
			struct src_count *e = NULL;

			if (src_key(bufferevent_getfd(c->bev), key) != 0 ||
			    (e = src_find(h, key)) == NULL || e->n >= h->per_source) {
				h->st.refused_source++;
				conn_kill(c);
				return;
			}
			e->n++;
			c->src = e;
		}
		(void)evtimer_add(c->timer, &h->deadline);
		return;
	}
	if (c->busy) /* a request is being answered: its reply re-arms */
		return;
	h->st.deadline_closed++;
	conn_kill(c);
}

/* The handshake's end: a verified client certificate moves the connection
 * out of the anonymous pool (and off its source's count). */
static void conn_info(const SSL *ssl, int where, int ret)
{
	struct conn *c;

	(void)ret;
	if (!(where & SSL_CB_HANDSHAKE_DONE) || (c = SSL_get_ex_data(ssl, conn_idx)) == NULL ||
	    c->authed || !c->counted)
		return;
	if (SSL_get0_peer_certificate(ssl) == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
		return;
	conn_uncount(c);
	c->authed = 1;
	c->counted = 1;
	c->h->conns++;
}

static struct bufferevent *new_conn(struct event_base *base, void *arg)
{
	struct attest_httpd *h = arg;
	SSL *ssl = SSL_new(h->ctx);
	struct conn *c = NULL;
	struct bufferevent *bev;
	static const struct timeval now = {0, 0};
	int room;

	if (ssl == NULL)
		return NULL; /* evhttp falls back to a plain socket: attest_httpd_is_tls refuses it */
	room = (h->conns < h->max_conns || evict_one(h)) &&
	       (h->unauth < h->max_conns - h->reserve || evict_one(h));
	if (room && (c = calloc(1, sizeof(*c))) != NULL &&
	    (c->timer = evtimer_new(base, conn_timer, c)) == NULL) {
		free(c);
		c = NULL;
	}
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (c != NULL && (bev == NULL || SSL_set_ex_data(ssl, conn_idx, c) != 1 ||
			  evtimer_add(c->timer, &now) != 0)) {
		(void)SSL_set_ex_data(ssl, conn_idx, NULL);
		event_free(c->timer);
		free(c);
		c = NULL;
	}
	if (c == NULL) {
		/* No room: a handshake that fails at once (no cipher
		 * suites), never a plaintext connection. */
		h->st.refused_full++;
		(void)SSL_set_ciphersuites(ssl, "");
		return bev;
	}
	c->h = h;
	c->bev = bev;
	c->seq = h->seq++;
	c->counted = 1;
	c->next = h->live;
	if (h->live != NULL)
		h->live->prev = c;
	h->live = c;
	h->conns++;
	h->unauth++;
	SSL_set_info_callback(ssl, conn_info);
	return bev;
}

static struct conn *conn_of(struct evhttp_request *req);

static void req_done(struct evhttp_request *req, void *arg)
{
	struct conn *c = arg;

	(void)req;
	c->busy = 0;
	if (c->counted)
		(void)evtimer_add(c->timer, &c->h->deadline); /* for the next request */
}

/* A whole request has arrived: its connection's deadline stops until the
 * reply is sent. */
static void on_request(struct evhttp_request *req, void *arg)
{
	struct attest_httpd *h = arg;
	struct conn *c = conn_of(req);

	if (c != NULL) {
		c->busy = 1;
		(void)evtimer_del(c->timer);
		evhttp_request_set_on_complete_cb(req, req_done, c);
	}
	if (h->handler != NULL)
		h->handler(req, h->handler_arg);
	else
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
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
	h->reserve = o->auth_reserve ? o->auth_reserve : h->max_conns / 4;
	h->per_source = o->per_source ? o->per_source : 16;
	h->deadline.tv_sec = o->deadline_s > 0 ? o->deadline_s : 10;
	if (h->reserve >= h->max_conns) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "httpd: reserve %u of %u connections",
				h->reserve, h->max_conns);
		goto out;
	}
	if ((h->srcs = calloc(h->max_conns, sizeof(*h->srcs))) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "httpd");
		goto out;
	}
	if ((r = make_ctx(o, &h->ctx)) != ATTEST_OK)
		goto out;
	if ((h->http = evhttp_new(base)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "evhttp_new");
		goto out;
	}
	evhttp_set_bevcb(h->http, new_conn, h);
	evhttp_set_gencb(h->http, on_request, h);
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
	/* A bufferevent's SSL can be freed later than evhttp_free (deferred
	 * finalisation, up to event_base_free): such connections are cut
	 * loose from h now, their timers freed while the base lives. */
	for (struct conn *c = h->live, *next; c != NULL; c = next) {
		next = c->next;
		if (c->timer != NULL)
			event_free(c->timer);
		c->timer = NULL;
		c->h = NULL;
		c->src = NULL;
		c->counted = 0;
		c->prev = c->next = NULL;
	}
	h->live = NULL;
	SSL_CTX_free(h->ctx);
	free(h->srcs);
	free(h);
}

void attest_httpd_set_handler(struct attest_httpd *h,
			      void (*cb)(struct evhttp_request *req, void *arg), void *arg)
{
	h->handler = cb;
	h->handler_arg = arg;
}

void attest_httpd_get_stats(const struct attest_httpd *h, struct attest_httpd_stats *out)
{
	*out = h->st;
	out->conns = h->conns;
	out->unauth = h->unauth;
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

static struct conn *conn_of(struct evhttp_request *req)
{
	SSL *ssl = req_ssl(req);

	return ssl != NULL ? SSL_get_ex_data(ssl, conn_idx) : NULL;
}

void *attest_httpd_conn_app(struct evhttp_request *req)
{
	struct conn *c = conn_of(req);

	return c != NULL ? c->app.b : NULL;
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
