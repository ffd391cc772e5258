/* workload.h - the SPIFFE Workload API on attestd's workload socket
 * (docs/spiffe.md), served by the unprivileged front.
 *
 * workload.c is the transport: HTTP/2 by libnghttp2 on a libevent loop,
 * gRPC's framing (the 5-byte message prefix, the application/grpc
 * content type, grpc-status and grpc-message trailers), the
 * `workload.spiffe.io: true` metadata check, and per-connection caps.
 * workload_api.c is the service: protobuf-c messages generated from
 * attestd/workload.proto at build time, one handler per method. What
 * needs a secret (an SVID) is asked of the monitor through the backend,
 * with the workload's connection, so the monitor measures the caller
 * itself (docs/privsep.md, MON_WORKLOAD_ISSUE). */
#ifndef ATTESTD_WORKLOAD_H
#define ATTESTD_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"
#include "mint.h"
#include "workload_jwtv.h"

struct event_base;
struct workload_server;
struct wl_call;
struct fedset;

/* gRPC status codes (grpc/doc/statuscodes.md) */
enum wl_status {
	WL_OK = 0,
	WL_CANCELLED = 1,
	WL_UNKNOWN = 2,
	WL_INVALID_ARGUMENT = 3,
	WL_NOT_FOUND = 5,
	WL_PERMISSION_DENIED = 7,
	WL_RESOURCE_EXHAUSTED = 8,
	WL_UNIMPLEMENTED = 12,
	WL_INTERNAL = 13,
	WL_UNAVAILABLE = 14,
};

#define WL_BUNDLE_MAX (64 * 1024) /* DER bytes of the trust bundle */
#define WL_TD_MAX 255

#define WL_AUD_MAX 8      /* audiences of one JWT-SVID request */
#define WL_AUD_LEN 255
/* What the front asks of the monitor. */
struct workload_backend {
	/* An X.509-SVID for the process connected on fd (the monitor finds
	 * which registered agent it is), for the key spki (DER
	 * SubjectPublicKeyInfo). ATTEST_OK and res filled, or a code. */
	int (*issue)(void *ctx, int fd, const uint8_t *spki, size_t spki_len,
		     struct mint_result *res);
	/* A JWT-SVID for the process connected on fd, for the audiences (and
	 * the SPIFFE ID asked for, "" for any): *id and *token malloc'd. */
	int (*jwt)(void *ctx, int fd, char (*aud)[WL_AUD_LEN + 1], uint32_t naud,
		   const char *want_id, char **id, char **token);
	/* The current JWT bundle. */
	int (*jwks)(void *ctx, struct wl_jwks *out);
	void *ctx;
};

enum wl_method {
	WL_FETCH_X509_SVID,
	WL_FETCH_X509_BUNDLES,
	WL_FETCH_JWT_SVID,
	WL_FETCH_JWT_BUNDLES,
	WL_VALIDATE_JWT_SVID,
	WL_METHOD_COUNT,
};

struct workload_config {
	int listen_fd;       /* the workload socket, listening (kept open by the caller) */
	/* the service (workload_api_call, workload_api_gone: the transport
	 * does not call the service's file, which calls it) */
	void (*call)(struct wl_call *c, enum wl_method m, const uint8_t *msg, size_t len);
	void (*gone)(struct wl_call *c);
	int max_clients;     /* connections at once */
	int request_timeout_ms; /* from accept to a first whole request */
	struct workload_backend backend;
	/* the trust domain ("fleet.example") and its X.509 bundle: the fleet
	 * root, DER (copied) */
	const char *trust_domain;
	const uint8_t *bundle;
	size_t bundle_len;
	/* federated trust domains' bundles (net/fedset.h; NULL: none) */
	struct fedset *fed;
};

int workload_start(struct event_base *base, const struct workload_config *cfg,
		   struct workload_server **out) ATTEST_MUST_CHECK;
/* Close every connection and free. NULL is fine. */
void workload_stop(struct workload_server *s);

/* ---------- between the transport and the service ---------- */

/* The service's handler of a whole request (its one message, prefix
 * removed). It answers with wl_send / wl_finish now or later (a stream
 * stays open until wl_finish, or until the client goes). */
void workload_api_call(struct wl_call *c, enum wl_method m, const uint8_t *msg, size_t len);
/* The call is going away (the client reset it or left): free what the
 * service hung on it (wl_call_set_state). */
void workload_api_gone(struct wl_call *c);
/* A federated bundle came, changed or went: every open stream is sent
 * what changed for it (soon, from the loop: not from inside this call). */
void workload_api_bundles_changed(void);

/* One response message (protobuf bytes; the transport adds the prefix).
 * ATTEST_OK, or an error when the call's output is over its cap. */
int wl_send(struct wl_call *c, const uint8_t *msg, size_t len) ATTEST_MUST_CHECK;
/* The end of the call: grpc-status and grpc-message (NULL: none). */
void wl_finish(struct wl_call *c, enum wl_status st, const char *message);
/* The connection's descriptor, for the monitor to measure its peer. */
int wl_call_fd(const struct wl_call *c);
const struct workload_config *wl_call_config(const struct wl_call *c);
struct event_base *wl_call_base(const struct wl_call *c);
void wl_call_set_state(struct wl_call *c, void *state);
void *wl_call_state(const struct wl_call *c);

#endif
