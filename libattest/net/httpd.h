/* httpd.h - HTTPS server plumbing on libevent (evhttp over OpenSSL
 * bufferevents), shared by attest-verifier and the example resource server.
 * TLS 1.3 only. With a client CA the server asks for a client certificate
 * and verifies it against that CA (a bad one fails the handshake; none is
 * allowed, and handlers decide per endpoint; verify_cb adds a check of
 * its own). Caps: body, headers, an idle timeout per read, a whole-request
 * deadline per connection (accept to complete request, handshake
 * included; reply to next complete request on a kept-alive connection),
 * a limit of open connections, of unauthenticated connections per source
 * address, and a reserve of connections only clients that presented a
 * verified certificate can hold (over a limit, new handshakes fail at once
 * or the connection is shut, so the connections being served keep being
 * served). */
#ifndef LIBATTEST_HTTPD_H
#define LIBATTEST_HTTPD_H

#include <stddef.h>

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/x509.h>

#include "attest/attest.h"

struct attest_httpd_opts {
	const char *addr;           /* e.g. "127.0.0.1" */
	unsigned short port;        /* 0: any free port (see attest_httpd_port) */
	const char *cert_file;      /* server chain PEM (leaf first) */
	const char *key_file;
	const char *client_ca_file; /* NULL: no client certificates asked */
	int require_client_cert;    /* fail the handshake without one */
	size_t max_body;            /* 0: 256 KiB */
	size_t max_headers;         /* 0: 8 KiB */
	int timeout_s;              /* idle, per read; 0: 10 */
	int deadline_s;             /* whole request; 0: 10 */
	unsigned max_conns;         /* 0: 256 */
	unsigned auth_reserve;      /* slots anonymous clients cannot take; 0: max_conns/4 */
	unsigned per_source;        /* unauthenticated connections per address; 0: 16 */
	/* With client_ca_file: an extra check of client chains, run by
	 * OpenSSL as its verify callback (SSL_CTX_set_verify), e.g.
	 * attest_x509_verify_cb for attestd's path rule; a failure fails the
	 * handshake. NULL: OpenSSL's chain verification alone. */
	int (*verify_cb)(int preverify_ok, X509_STORE_CTX *ctx);
};

struct attest_httpd;

/* Counters since start, and the connections open now. */
struct attest_httpd_stats {
	unsigned long refused_full;    /* over max_conns or the anonymous pool */
	unsigned long refused_source;  /* over the per-source cap */
	unsigned long deadline_closed; /* no whole request before the deadline */
	unsigned long evicted;         /* shut to make room for a new connection */
	unsigned conns, unauth;
};

int attest_httpd_new(struct event_base *base, const struct attest_httpd_opts *o,
		     struct attest_httpd **out) ATTEST_MUST_CHECK;
void attest_httpd_free(struct attest_httpd *h);
/* The evhttp to register callbacks on (owned by h). */
struct evhttp *attest_httpd_http(struct attest_httpd *h);
unsigned short attest_httpd_port(const struct attest_httpd *h);
unsigned attest_httpd_conns(const struct attest_httpd *h);
void attest_httpd_get_stats(const struct attest_httpd *h, struct attest_httpd_stats *out);
/* The handler of every complete request (instead of evhttp_set_gencb,
 * which the deadline bookkeeping owns). */
void attest_httpd_set_handler(struct attest_httpd *h,
			      void (*cb)(struct evhttp_request *req, void *arg), void *arg);

/* The verified client certificate of req's connection and its verified
 * chain (leaf first), borrowed from the TLS session; NULL when the client
 * sent none. */
X509 *attest_httpd_peer(struct evhttp_request *req);
STACK_OF(X509) *attest_httpd_peer_chain(struct evhttp_request *req);
/* Bytes of req's TLS connection kept for the application between its
 * requests (e.g. what the peer certificate resolved to): ATTEST_HTTPD_CONN_APP
 * bytes, suitably aligned, all zero on a new connection, gone with it.
 * NULL when req has no TLS connection. One connection is one peer
 * certificate (TLS 1.3, no renegotiation or post-handshake auth). */
#define ATTEST_HTTPD_CONN_APP 192
void *attest_httpd_conn_app(struct evhttp_request *req);
/* 1 when req came over TLS. libevent 2.1 serves a plain socket when the
 * bufferevent callback cannot make a TLS one (out of memory): handlers
 * refuse such requests. */
int attest_httpd_is_tls(struct evhttp_request *req);
/* The peer's address text ("127.0.0.1"), "" when unknown. */
const char *attest_httpd_peer_addr(struct evhttp_request *req);

/* The request body, at most cap bytes, NUL-terminated copy (*out malloc'd). */
int attest_httpd_body(struct evhttp_request *req, size_t cap, char **out,
		      size_t *len) ATTEST_MUST_CHECK;
/* Send a JSON reply (Content-Type application/json, no caching). */
void attest_httpd_reply(struct evhttp_request *req, int status, const char *json, size_t len);

#endif
