/* daemon.h - attestd's state and request handling (docs/protocol.md). */
#ifndef ATTESTD_DAEMON_H
#define ATTESTD_DAEMON_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/intent.h"
#include "clock.h"
#include "measure/measure.h"
#include "registry.h"
#include "server.h"
#include "tpm/tpm.h"

#define ATTESTD_HARD_MAX_TTL 3600
/* default --audit-max-unanchored: 15 checkpoint intervals */
#define ATTESTD_MAX_UNANCHORED_S 900

struct attestd_push;
struct attest_audit;
struct event;
/* STATE/intent-used is pruned of expired markers at most this often. */
#define ATTESTD_INTENT_PRUNE_S 3600

struct attestd {
	char state[512];
	int lock_fd; /* STATE/attestd.lock, held while running (-1: not held) */
	char trust_domain[256];
	char host[64];
	struct attest_tpm *tpm; /* NULL while the TPM is unreachable */
	char tcti[256];         /* to reconnect after the TPM went away */
	X509 *host_ca;
	ino_t identity_ino; /* identity.json as loaded, to notice a renewal */
	struct timespec identity_mtime;
	struct attest_tpm_key hostkey;
	EVP_PKEY *hostkey_pub;
	struct registry reg;
	struct attest_measure_cache *cache;
	long hard_max_ttl;
	/* trusted intent issuers (STATE/intent-issuers/NAME.pem) and the
	 * fleet root, for intent grants and delegation chains (issue.c) */
	struct attest_intent_trust *intent_trust;
	unsigned intent_issuers;
	/* when STATE/intent-used was last pruned (issue.c) */
	time_t intent_pruned;
	/* The agent whose value we last put in PCR 23 (NULL: unknown). Only a
	 * hint: a wrong guess costs one failed policy and a retry. */
	const struct agent *pcr_holder;
	/* pushes to the verifier (push.c); NULL without --verifier */
	struct attestd_push *push;
	/* the audit log (auditlog.c) and its once-a-second timer */
	struct attest_audit *audit;
	char audit_dir[600];
	struct event *audit_timer;
	/* records may stay unanchored (no checkpoint covering them) this
	 * long before issuance stops; since when the oldest waits (0: none) */
	uint64_t audit_max_unanchored_s;
	uint64_t unanchored_since;
	int unanchored_stopped; /* logged once per episode */
	/* wall clock checked against the TPM's (clock.c) */
	struct attestd_clock clock;
	/* test seam: called after the caller is measured and before signing */
	void (*before_sign)(void *arg);
	void *before_sign_arg;
};

int attestd_open(struct attestd *d, const char *state_dir, const char *tcti, long hard_max_ttl);
void attestd_close(struct attestd *d);
cJSON *attestd_handle(void *ctx, const struct attestd_peer *peer, const cJSON *req);

#endif
