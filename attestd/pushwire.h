/* pushwire.h - the verifier's answers to attestd's pushes, typed
 * (docs/privsep.md "The pushes").
 *
 * Whoever runs the HTTPS request parses its answer (push_reply_parse):
 * attestd's front, or the worker thread of attestd --no-privsep. What
 * push.c acts on is only the typed reply: a nonce, a verdict with the
 * revoked agents' IDs and a renewed host CA as typed PEM fields (which the
 * monitor checks against its pinned root and host key before it installs
 * them), or a code. On the monitor channel the job goes out as
 * MON_PUSH_JOB (slot, kind, body) and its reply comes back as
 * MON_PUSH_DONE (slot, kind, reply); the path is the kind's, never the
 * front's choice. */
#ifndef ATTESTD_PUSHWIRE_H
#define ATTESTD_PUSHWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"
#include "attestation/hostpush.h"
#include "core/cursor.h"
#include "enrol/enrol.h"
#include "monproto.h"

enum push_kind {
	PUSH_NONCE = 1,  /* POST /v1/hosts/nonce */
	PUSH_QUOTE = 2,  /* POST /v1/hosts/quote */
	PUSH_REPORT = 3, /* POST /v1/agents/report */
	PUSH_CKPT = 4,   /* POST /v1/audit/checkpoint */
};
#define PUSH_SLOTS 3 /* attestation, inventory, checkpoints: one job each */

struct push_reply {
	int r; /* ATTEST_OK, or why the request or its answer failed */
	char detail[512];
	/* PUSH_NONCE */
	uint8_t nonce[ATTEST_PUSH_NONCE_MAX];
	size_t nonce_len;
	uint64_t expires;
	/* PUSH_QUOTE: the verdict (a.host_ca stays NULL) and, when the
	 * verifier renewed the host CA, the result typed; renewal_r says why
	 * a renewal it sent could not be read (the verdict still counts) */
	struct attest_push_answer a;
	int has_renewal;
	struct attest_enrol_result renewal;
	int renewal_r;
	char renewal_detail[256];
};

/* The path of kind, NULL for none. */
const char *push_kind_path(uint32_t kind);
/* r: the request's code (detail its detail); resp: the answer's body. */
void push_reply_parse(uint32_t kind, int r, const char *detail, const char *resp, size_t len,
		      struct push_reply *out);
void push_reply_clear(struct push_reply *rep);

void push_reply_put(struct mon_out *m, uint32_t kind, const struct push_reply *rep);
int push_reply_get(struct attest_cur *c, uint32_t kind, struct push_reply *rep)
	ATTEST_MUST_CHECK;

#endif
