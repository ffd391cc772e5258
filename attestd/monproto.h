/* monproto.h - the messages between attestd's front and its monitor
 * (docs/privsep.md).
 *
 * One SOCK_SEQPACKET socketpair; each message is one packet of at most
 * MON_MSG_MAX bytes, optionally with one descriptor (SCM_RIGHTS): a
 * big-endian u32 op, then the op's fields in a fixed order, each a u8, a
 * u32, an i64, or a u32 length and that many bytes. Strings carry no NUL
 * and have a cap per field; a message with a field missing, over its cap,
 * or with bytes after its last field is refused whole (ATTEST_E_PARSE).
 * Written with struct mon_out, read with the bounded cursor (core/cursor.h). */
#ifndef ATTESTD_MONPROTO_H
#define ATTESTD_MONPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"
#include "core/cursor.h"

/* a quote with its event log (hostpush.h ATTEST_PUSH_BODY_MAX) fits */
#define MON_MSG_MAX (320 * 1024)

enum mon_op {
	MON_AGENT_INFO = 1, /* front: name -> the agent's ID and agent CA (public) */
	MON_ISSUE = 2,      /* front: a measured issuance (with the connection) */
	MON_REFUSAL = 3,    /* front: a request it refused, for the audit log */
	MON_TRUST = 4,      /* front: the intent trust (fleet root, issuing CAs, issuers' keys) */
	MON_ADMIN = 5,      /* front: a typed admin request (admin.h), with the admin connection */
	MON_ATTEST = 6,     /* front: push now (u8 renew), with the admin connection -> u32 token */
	MON_PUSH_CONFIG = 7, /* front: the verifier's URL and CA pin (public) for the pushes */
	MON_PUSH_DONE = 8,  /* front, unanswered: slot, kind, number, the typed reply (pushwire.h) */
	MON_WORKLOAD_ISSUE = 9,  /* front: an X.509-SVID for a workload connection (with it) */
	MON_WORKLOAD_INFO = 10,  /* front: the trust domain, for the Workload API */
	MON_WORKLOAD_JWT = 11,   /* front: a JWT-SVID for a workload connection (with it) */
	MON_WORKLOAD_JWKS = 12,  /* front: the JWT bundle (JWKS, and each key's kid and SPKI) */
	MON_FEDERATION = 13,     /* front: the federated trust domains (federation.h) */
	MON_FEDERATE = 14,       /* front: add, remove or list them, with the admin connection */
	MON_REPLY = 100,    /* monitor: u32 code, then the op's answer or a detail */
	/* monitor, between answers: the end of a push MON_ATTEST asked for:
	 * u32 token, u32 code, detail, state, reason, refset, u8 reboot,
	 * u8 renewed */
	MON_ATTEST_DONE = 101,
	/* monitor, between answers: run a push request: u32 slot, u32 kind,
	 * u32 number (echoed in its MON_PUSH_DONE), the body (pushwire.h) */
	MON_PUSH_JOB = 102,
};

struct mon_out {
	uint8_t *buf;
	size_t len, cap;
	int err; /* a put failed (too large, out of memory): the message is void */
};

void mon_out_init(struct mon_out *o, uint32_t op);
void mon_out_free(struct mon_out *o);
void mon_put_u8(struct mon_out *o, uint8_t v);
void mon_put_u32(struct mon_out *o, uint32_t v);
void mon_put_i64(struct mon_out *o, int64_t v);
void mon_put_bytes(struct mon_out *o, const void *p, size_t n);
/* s may be NULL: written as an empty string */
void mon_put_str(struct mon_out *o, const char *s);

int mon_get_u8(struct attest_cur *c, uint8_t *v) ATTEST_MUST_CHECK;
int mon_get_u32(struct attest_cur *c, uint32_t *v) ATTEST_MUST_CHECK;
int mon_get_i64(struct attest_cur *c, int64_t *v) ATTEST_MUST_CHECK;
/* at most max bytes; *p points into the message */
int mon_get_bytes(struct attest_cur *c, size_t max, const uint8_t **p,
		  size_t *n) ATTEST_MUST_CHECK;
/* a string of at most dstsz - 1 bytes, no NUL, copied into dst */
int mon_get_str(struct attest_cur *c, char *dst, size_t dstsz) ATTEST_MUST_CHECK;
/* every byte read */
int mon_get_end(struct attest_cur *c) ATTEST_MUST_CHECK;

/* Send o (and fd when >= 0) on sock: ATTEST_E_IO when it did not go whole. */
int mon_send(int sock, const struct mon_out *o, int fd) ATTEST_MUST_CHECK;
/* Receive one message into buf[MON_MSG_MAX]: *len its size, *fd the
 * descriptor it carried or -1 (CLOEXEC; a second one is closed and the
 * message refused). ATTEST_E_IO with errno-derived detail on failure,
 * ATTEST_E_STATE when the other side closed. A truncated message (over
 * MON_MSG_MAX) is refused. */
int mon_recv(int sock, uint8_t *buf, size_t *len, int *fd) ATTEST_MUST_CHECK;

#endif
