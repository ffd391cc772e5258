/* workload.c - see workload.h: the workload socket's transport, HTTP/2
 * by libnghttp2 and gRPC's framing, under caps. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "core/err.h"
#include "log.h"
#include "workload.h"

#define WL_CALLS_MAX 16             /* streams open at once per connection */
#define WL_REQ_MAX (16 * 1024)      /* bytes of one request (prefix and message) */
#define WL_OUT_MAX (1024 * 1024)    /* response bytes queued on one call */
#define WL_HEADERS_MAX 64           /* header fields of one request */
#define WL_READ_CHUNK (16 * 1024)

struct wl_conn;

struct wl_call {
	struct wl_conn *conn;
	int32_t id;
	int method;            /* enum wl_method, -1: unknown path */
	unsigned nheaders;
	uint8_t is_post, grpc_type, metadata, bad_encoding, dispatched;
	uint8_t headers_sent, finishing, finished;
	enum wl_status status;
	char message[256];
	uint8_t *req;
	size_t req_len;
	uint8_t *out; /* response bytes not yet taken by nghttp2 */
	size_t out_len, out_off;
	void *state; /* the service's (workload_api.c) */
	struct wl_call *next;
};

struct wl_conn {
	struct workload_server *srv;
	int fd;
	nghttp2_session *h2;
	struct event *read_ev, *write_ev, *flush_ev, *deadline_ev;
	struct wl_call *calls;
	unsigned ncalls;
	int dead;
	struct wl_conn *prev, *next;
};

struct workload_server {
	struct event_base *base;
	struct workload_config cfg;
	char td[WL_TD_MAX + 1];
	uint8_t *bundle;
	struct event *accept_ev;
	struct wl_conn *conns;
	int nconns;
};

static const char *const method_path[WL_METHOD_COUNT] = {
	[WL_FETCH_X509_SVID] = "/SpiffeWorkloadAPI/FetchX509SVID",
	[WL_FETCH_X509_BUNDLES] = "/SpiffeWorkloadAPI/FetchX509Bundles",
	[WL_FETCH_JWT_SVID] = "/SpiffeWorkloadAPI/FetchJWTSVID",
	[WL_FETCH_JWT_BUNDLES] = "/SpiffeWorkloadAPI/FetchJWTBundles",
	[WL_VALIDATE_JWT_SVID] = "/SpiffeWorkloadAPI/ValidateJWTSVID",
};

/* ---------- connections ---------- */

static void call_free(struct wl_call *c)
{
	if (c == NULL)
		return;
	c->conn->srv->cfg.gone(c);
	free(c->req);
	/* an X509SVIDResponse carries the workload's private key */
	if (c->out != NULL)
		explicit_bzero(c->out, c->out_len);
	free(c->out);
	free(c);
}

static void conn_free(struct wl_conn *k)
{
	struct wl_call *c, *n;

	if (k == NULL)
		return;
	for (c = k->calls; c != NULL; c = n) {
		n = c->next;
		if (k->h2 != NULL) /* nothing of nghttp2's points at it any more */
			(void)nghttp2_session_set_stream_user_data(k->h2, c->id, NULL);
		call_free(c);
	}
	if (k->h2 != NULL)
		nghttp2_session_del(k->h2);
	if (k->read_ev != NULL)
		event_free(k->read_ev);
	if (k->write_ev != NULL)
		event_free(k->write_ev);
	if (k->flush_ev != NULL)
		event_free(k->flush_ev);
	if (k->deadline_ev != NULL)
		event_free(k->deadline_ev);
	if (k->fd >= 0)
		close(k->fd);
	if (k->srv != NULL) {
		if (k->prev != NULL)
			k->prev->next = k->next;
		else
			k->srv->conns = k->next;
		if (k->next != NULL)
			k->next->prev = k->prev;
		k->srv->nconns--;
	}
	free(k);
}

/* Let nghttp2 write what it has; close the connection when it is over
 * (neither side wants more) or broken. Never called from inside an
 * nghttp2 callback. */
static void conn_io(struct wl_conn *k)
{
	if (!k->dead && nghttp2_session_send(k->h2) != 0)
		k->dead = 1;
	if (!k->dead && !nghttp2_session_want_read(k->h2) && !nghttp2_session_want_write(k->h2))
		k->dead = 1;
	if (k->dead) {
		conn_free(k);
		return;
	}
	/* the socket took less than nghttp2 had: wait until it is writable */
	if (nghttp2_session_want_write(k->h2))
		(void)event_add(k->write_ev, NULL);
	else
		(void)event_del(k->write_ev);
}

/* From the service's timers and handlers: flush once control is back in
 * the loop (outside nghttp2's callbacks). */
static void conn_kick(struct wl_conn *k)
{
	event_active(k->flush_ev, EV_TIMEOUT, 0);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_io(arg);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_io(arg);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct wl_conn *k = arg;

	(void)fd;
	(void)what;
	attestd_log("workload socket: a client sent no whole request within %d ms: closed",
		    k->srv->cfg.request_timeout_ms);
	conn_free(k);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct wl_conn *k = arg;
	uint8_t buf[WL_READ_CHUNK];
	ssize_t n;

	(void)what;
	do
		n = recv(fd, buf, sizeof(buf), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0 || nghttp2_session_mem_recv(k->h2, buf, (size_t)n) != n)
		k->dead = 1; /* gone, or broke HTTP/2 (nghttp2 queued the GOAWAY) */
	conn_io(k);
}

/* ---------- nghttp2's callbacks ---------- */

static ssize_t h2_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *arg)
{
	struct wl_conn *k = arg;
	ssize_t n;

	(void)s;
	(void)flags;
	do
		n = send(k->fd, data, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? NGHTTP2_ERR_WOULDBLOCK
							       : NGHTTP2_ERR_CALLBACK_FAILURE;
	return n;
}

static struct wl_call *call_of(nghttp2_session *s, int32_t id)
{
	return nghttp2_session_get_stream_user_data(s, id);
}

static int h2_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
	struct wl_conn *k = arg;
	struct wl_call *c;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	/* over the cap (the SETTINGS say it too): RST_STREAM */
	if (k->ncalls >= WL_CALLS_MAX || (c = calloc(1, sizeof(*c))) == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	c->conn = k;
	c->id = f->hd.stream_id;
	c->method = -1;
	c->next = k->calls;
	k->calls = c;
	k->ncalls++;
	if (nghttp2_session_set_stream_user_data(s, c->id, c) != 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int hdr_is(const uint8_t *p, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(p, s, n) == 0;
}

static int h2_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *arg)
{
	struct wl_call *c;

	(void)flags;
	(void)arg;
	if (f->hd.type != NGHTTP2_HEADERS || (c = call_of(s, f->hd.stream_id)) == NULL ||
	    f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0; /* trailers of a request: nothing we read */
	if (++c->nheaders > WL_HEADERS_MAX)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM */
	if (hdr_is(name, namelen, ":method")) {
		c->is_post = hdr_is(value, valuelen, "POST");
	} else if (hdr_is(name, namelen, ":path")) {
		for (int m = 0; m < WL_METHOD_COUNT; m++)
			if (hdr_is(value, valuelen, method_path[m]))
				c->method = m;
	} else if (hdr_is(name, namelen, "content-type")) {
		/* application/grpc, application/grpc+proto, application/grpc;... */
		c->grpc_type = valuelen >= 16 && memcmp(value, "application/grpc", 16) == 0 &&
			       (valuelen == 16 || value[16] == '+' || value[16] == ';');
	} else if (hdr_is(name, namelen, "workload.spiffe.io")) {
		c->metadata = hdr_is(value, valuelen, "true");
	} else if (hdr_is(name, namelen, "grpc-encoding")) {
		c->bad_encoding = !hdr_is(value, valuelen, "identity");
	}
	return 0;
}

static int h2_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
		   void *arg)
{
	struct wl_call *c = call_of(s, id);
	uint8_t *grown;

	(void)flags;
	(void)arg;
	if (c == NULL || c->dispatched)
		return 0;
	if (len > WL_REQ_MAX - c->req_len) {
		wl_finish(c, WL_RESOURCE_EXHAUSTED, "request over 16 KiB");
		c->dispatched = 1;
		return 0;
	}
	if ((grown = realloc(c->req, c->req_len + len + 1)) == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	c->req = grown;
	memcpy(c->req + c->req_len, data, len);
	c->req_len += len;
	return 0;
}

/* The request is whole: check it as gRPC and the Workload API want it,
 * then hand its one message to the service. */
static void dispatch(struct wl_call *c)
{
	struct wl_conn *k = c->conn;
	uint32_t mlen;

	c->dispatched = 1;
	if (k->deadline_ev != NULL)
		(void)event_del(k->deadline_ev);
	if (!c->is_post || !c->grpc_type) {
		/* not gRPC at all: HTTP 415 (gRPC over HTTP/2, "Requests") */
		static const nghttp2_nv h[] = {
			{ (uint8_t *)":status", (uint8_t *)"415", 7, 3, NGHTTP2_NV_FLAG_NONE },
		};

		c->finished = 1;
		(void)nghttp2_submit_response(k->h2, c->id, h, 1, NULL);
		return;
	}
	/* the Workload API specification: a request without the metadata
	 * header is refused with InvalidArgument, before anything else */
	if (!c->metadata) {
		wl_finish(c, WL_INVALID_ARGUMENT, "security header missing from request");
		return;
	}
	if (c->method < 0) {
		wl_finish(c, WL_UNIMPLEMENTED, "unknown method");
		return;
	}
	if (c->bad_encoding) {
		wl_finish(c, WL_UNIMPLEMENTED, "only the identity message encoding is supported");
		return;
	}
	/* exactly one message: flag 0 (uncompressed), a big-endian length,
	 * those bytes, nothing after */
	if (c->req_len < 5 || c->req[0] != 0) {
		wl_finish(c, c->req_len >= 5 ? WL_UNIMPLEMENTED : WL_INVALID_ARGUMENT,
			  c->req_len >= 5 ? "compressed messages are not supported"
					  : "the request carries no message");
		return;
	}
	mlen = (uint32_t)c->req[1] << 24 | (uint32_t)c->req[2] << 16 | (uint32_t)c->req[3] << 8 |
	       c->req[4];
	if (mlen != c->req_len - 5) {
		wl_finish(c, WL_INVALID_ARGUMENT, "the request is not exactly one message");
		return;
	}
	k->srv->cfg.call(c, (enum wl_method)c->method, c->req + 5, mlen);
}

static int h2_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
	struct wl_call *c;

	(void)arg;
	if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
	    !(f->hd.flags & NGHTTP2_FLAG_END_STREAM) || (c = call_of(s, f->hd.stream_id)) == NULL ||
	    c->dispatched)
		return 0;
	dispatch(c);
	return 0;
}

static int h2_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *arg)
{
	struct wl_conn *k = arg;
	struct wl_call *c = call_of(s, id), **pp;

	(void)code;
	if (c == NULL)
		return 0;
	for (pp = &k->calls; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			k->ncalls--;
			break;
		}
	(void)nghttp2_session_set_stream_user_data(s, id, NULL);
	call_free(c);
	return 0;
}

/* The response body: the queued messages; when the call is finishing and
 * all went, the trailers. */
static ssize_t out_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
			uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct wl_call *c = src->ptr;
	size_t n = c->out_len - c->out_off;

	(void)arg;
	if (n > 0) {
		if (n > len)
			n = len;
		memcpy(buf, c->out + c->out_off, n);
		c->out_off += n;
		if (c->out_off == c->out_len) {
			explicit_bzero(c->out, c->out_len); /* it held a private key */
			c->out_off = c->out_len = 0;
		}
		return (ssize_t)n;
	}
	if (!c->finishing)
		return NGHTTP2_ERR_DEFERRED;
	{
		char code[12];
		nghttp2_nv t[2] = {
			{ (uint8_t *)"grpc-status", (uint8_t *)code, 11, 0, NGHTTP2_NV_FLAG_NONE },
			{ (uint8_t *)"grpc-message", (uint8_t *)c->message, 12, strlen(c->message),
			  NGHTTP2_NV_FLAG_NONE },
		};

		t[0].valuelen = (size_t)snprintf(code, sizeof(code), "%d", (int)c->status);
		*flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
		c->finished = 1;
		if (nghttp2_submit_trailer(s, id, t, c->message[0] ? 2 : 1) != 0)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	return 0;
}

/* ---------- the service's side ---------- */

static const nghttp2_nv grpc_headers[] = {
	{ (uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE },
	{ (uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE },
	{ (uint8_t *)"grpc-accept-encoding", (uint8_t *)"identity", 20, 8, NGHTTP2_NV_FLAG_NONE },
};

int wl_send(struct wl_call *c, const uint8_t *msg, size_t len)
{
	uint8_t *grown;
	size_t need;

	if (c->finishing || c->finished)
		return attest_fail(ATTEST_E_STATE, "the call is over");
	if (len > WL_OUT_MAX - 5 || c->out_len > WL_OUT_MAX - 5 - len)
		return attest_fail(ATTEST_E_TOO_LARGE, "the client does not read its responses");
	need = c->out_len + 5 + len;
	/* not realloc: the old buffer may hold a private key, wiped first */
	if ((grown = malloc(need)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "response");
	if (c->out != NULL) {
		memcpy(grown, c->out, c->out_len);
		explicit_bzero(c->out, c->out_len);
		free(c->out);
	}
	c->out = grown;
	grown += c->out_len;
	grown[0] = 0;
	grown[1] = (uint8_t)(len >> 24);
	grown[2] = (uint8_t)(len >> 16);
	grown[3] = (uint8_t)(len >> 8);
	grown[4] = (uint8_t)len;
	if (len > 0)
		memcpy(grown + 5, msg, len);
	c->out_len = need;
	if (!c->headers_sent) {
		nghttp2_data_provider p = { .source.ptr = c, .read_callback = out_read };

		c->headers_sent = 1;
		if (nghttp2_submit_response(c->conn->h2, c->id, grpc_headers, 3, &p) != 0)
			return attest_fail(ATTEST_E_INTERNAL, "HTTP/2 response");
	} else if (nghttp2_session_resume_data(c->conn->h2, c->id) != 0 &&
		   !nghttp2_session_find_stream(c->conn->h2, c->id)) {
		return attest_fail(ATTEST_E_STATE, "the stream is closed");
	}
	conn_kick(c->conn);
	return ATTEST_OK;
}

/* grpc-message is percent-encoded: bytes outside 0x20-0x7e, and '%' */
static void pct_encode(const char *in, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < outsz; p++) {
		if (*p >= 0x20 && *p <= 0x7e && *p != '%') {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
}

void wl_finish(struct wl_call *c, enum wl_status st, const char *message)
{
	if (c->finishing || c->finished)
		return;
	c->finishing = 1;
	c->status = st;
	pct_encode(message != NULL ? message : "", c->message, sizeof(c->message));
	if (!c->headers_sent) {
		/* Trailers-Only: one HEADERS frame with the status, ending the stream */
		char code[12];
		nghttp2_nv h[5];
		size_t n = 0;

		memcpy(h, grpc_headers, sizeof(grpc_headers));
		n = 3;
		h[n++] = (nghttp2_nv){ (uint8_t *)"grpc-status", (uint8_t *)code, 11,
				       (size_t)snprintf(code, sizeof(code), "%d", (int)st),
				       NGHTTP2_NV_FLAG_NONE };
		if (c->message[0])
			h[n++] = (nghttp2_nv){ (uint8_t *)"grpc-message", (uint8_t *)c->message, 12,
					       strlen(c->message), NGHTTP2_NV_FLAG_NONE };
		c->headers_sent = 1;
		c->finished = 1;
		(void)nghttp2_submit_response(c->conn->h2, c->id, h, n, NULL);
	} else {
		(void)nghttp2_session_resume_data(c->conn->h2, c->id);
	}
	conn_kick(c->conn);
}

int wl_call_fd(const struct wl_call *c) { return c->conn->fd; }
const struct workload_config *wl_call_config(const struct wl_call *c) { return &c->conn->srv->cfg; }
struct event_base *wl_call_base(const struct wl_call *c) { return c->conn->srv->base; }
void wl_call_set_state(struct wl_call *c, void *state) { c->state = state; }
void *wl_call_state(const struct wl_call *c) { return c->state; }

/* ---------- accepting ---------- */

static int conn_start(struct workload_server *srv, int fd)
{
	struct wl_conn *k = calloc(1, sizeof(*k));
	nghttp2_session_callbacks *cb = NULL;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, WL_CALLS_MAX },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 16 * 1024 },
	};
	struct timeval tv = { srv->cfg.request_timeout_ms / 1000,
			      (srv->cfg.request_timeout_ms % 1000) * 1000 };
	int r = ATTEST_E_NOMEM;

	if (k == NULL) {
		close(fd);
		return r;
	}
	k->fd = fd;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		goto out;
	nghttp2_session_callbacks_set_send_callback(cb, h2_send);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, h2_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, h2_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, h2_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_stream_close);
	if (nghttp2_session_server_new(&k->h2, cb, k) != 0 ||
	    nghttp2_submit_settings(k->h2, NGHTTP2_FLAG_NONE, iv, 2) != 0)
		goto out;
	k->read_ev = event_new(srv->base, fd, EV_READ | EV_PERSIST, on_read, k);
	k->write_ev = event_new(srv->base, fd, EV_WRITE, on_write, k);
	k->flush_ev = event_new(srv->base, -1, 0, on_flush, k);
	k->deadline_ev = evtimer_new(srv->base, on_deadline, k);
	if (k->read_ev == NULL || k->write_ev == NULL || k->flush_ev == NULL ||
	    k->deadline_ev == NULL || event_add(k->read_ev, NULL) != 0 ||
	    evtimer_add(k->deadline_ev, &tv) != 0)
		goto out;
	k->srv = srv;
	k->next = srv->conns;
	if (k->next != NULL)
		k->next->prev = k;
	srv->conns = k;
	srv->nconns++;
	k = NULL;
	r = ATTEST_OK;
	conn_kick(srv->conns); /* the server's SETTINGS */
out:
	nghttp2_session_callbacks_del(cb);
	conn_free(k);
	return r;
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct workload_server *srv = arg;
	int fd;

	(void)what;
	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (srv->nconns >= srv->cfg.max_clients) {
			attestd_log("workload socket: %d clients already: one refused",
				    srv->nconns);
			close(fd);
			continue;
		}
		if (conn_start(srv, fd) != ATTEST_OK)
			attestd_log("workload socket: cannot serve a client (out of memory)");
	}
}

int workload_start(struct event_base *base, const struct workload_config *cfg,
		   struct workload_server **out)
{
	struct workload_server *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return attest_fail(ATTEST_E_NOMEM, "workload server");
	s->base = base;
	s->cfg = *cfg;
	if (cfg->call == NULL || cfg->gone == NULL || cfg->trust_domain == NULL ||
	    strlen(cfg->trust_domain) > WL_TD_MAX ||
	    cfg->bundle_len == 0 || cfg->bundle_len > WL_BUNDLE_MAX) {
		free(s);
		return attest_fail(ATTEST_E_INVALID_ARG, "workload server: trust domain or bundle");
	}
	memcpy(s->td, cfg->trust_domain, strlen(cfg->trust_domain) + 1);
	s->cfg.trust_domain = s->td;
	if ((s->bundle = malloc(cfg->bundle_len)) == NULL) {
		free(s);
		return attest_fail(ATTEST_E_NOMEM, "workload server");
	}
	memcpy(s->bundle, cfg->bundle, cfg->bundle_len);
	s->cfg.bundle = s->bundle;
	if ((s->accept_ev = event_new(base, cfg->listen_fd, EV_READ | EV_PERSIST, on_accept, s)) ==
		    NULL ||
	    event_add(s->accept_ev, NULL) != 0) {
		workload_stop(s);
		return attest_fail(ATTEST_E_NOMEM, "workload server");
	}
	*out = s;
	return ATTEST_OK;
}

void workload_stop(struct workload_server *s)
{
	if (s == NULL)
		return;
	while (s->conns != NULL)
		conn_free(s->conns);
	if (s->accept_ev != NULL)
		event_free(s->accept_ev);
	free(s->bundle);
	free(s);
}
