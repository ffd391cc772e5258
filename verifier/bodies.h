/* bodies.h - the verifier's request bodies, parsed: bytes (or the parsed
 * JSON) in, a typed struct or an error out; no I/O, no store, no clock, no
 * global state. The handlers (hosts.c, inventory.c, decide_http.c,
 * admin.c) call these, then act on what they return; each is fuzzed alone
 * (tests/fuzz/fuzz_vbody.c). The enrolment bodies go whole to
 * attest_ca_handle_request/_response (tests/fuzz/fuzz_enrol.c).
 *
 * Pointers into the JSON (const char *) live as long as the cJSON they
 * came from; buffers a struct owns are freed by its _clear. */
#ifndef VERIFIER_BODIES_H
#define VERIFIER_BODIES_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>
#include <openssl/x509.h>

#include "attest/attest.h"
#include "attest/decide.h"
#include "audit/audit.h"
#include "audit/merkle.h"
#include "store.h"

/* Body caps of the routes (server.c's table uses these). */
#define VB_CAP_SMALL 4096            /* nonce, revoke, approve, retire a set */
#define VB_CAP_LARGE (256 * 1024)    /* quote, report, reference sets */
#define VB_CAP_CHECKPOINT (64 * 1024)
#define VB_CAP_DECIDE (64 * 1024)
#define VB_CAP_SETTINGS 16384
#define VB_CTX_MAX 16                /* decide: context entries */
#define VB_REPORT_AGENTS_MAX 1024

/* The top-level keys each body may hold (attest_json_only). */
extern const char *const vb_keys_nonce[];
extern const char *const vb_keys_quote[];
extern const char *const vb_keys_checkpoint[];
extern const char *const vb_keys_report[];
extern const char *const vb_keys_report_inner[];
extern const char *const vb_keys_report_agent[];
extern const char *const vb_keys_decide[];
extern const char *const vb_keys_revoke_host[];
extern const char *const vb_keys_revoke_agent[];
extern const char *const vb_keys_approve[];
extern const char *const vb_keys_settings[];
extern const char *const vb_keys_refset[];
extern const char *const vb_keys_refset_retire[];

/* A body: JSON within cap bytes, an object with only keys (NULL: any). */
int vb_json(const char *b, size_t n, size_t cap, const char *const *keys,
	    cJSON **out) ATTEST_MUST_CHECK;

/* A string field of at most max bytes (nonce and checkpoint "host", approve
 * "agent", retire "name", add "jws"). */
int vb_str(const cJSON *in, const char *key, size_t max, const char **out) ATTEST_MUST_CHECK;

/* POST /v1/hosts/quote */
struct vb_quote {
	const char *host;
	uint8_t *att, *sig, *vals, *nonce, *log; /* nonce, log: NULL when absent */
	size_t att_len, sig_len, vals_len, nonce_len, log_len;
	uint32_t mask; /* <= 0xffffff */
	int renew;     /* "renew": true */
};
int vb_quote_parse(const cJSON *in, struct vb_quote *out) ATTEST_MUST_CHECK;
void vb_quote_clear(struct vb_quote *q);

/* POST /v1/audit/checkpoint: the host and its checkpoint; the consistency
 * proof is read by vb_consistency_parse when the tree grew. */
int vb_checkpoint_parse(const cJSON *in, const char **host,
			struct attest_audit_ckpt *c) ATTEST_MUST_CHECK;
/* "consistency": an array of at most ATTEST_MERKLE_MAX_PROOF base64
 * SHA-256 hashes; ATTEST_E_AUDIT_INCONSISTENT when absent or not an
 * array, ATTEST_E_PARSE when malformed. */
int vb_consistency_parse(const cJSON *in, attest_merkle_hash *proof,
			 size_t *n) ATTEST_MUST_CHECK;

/* POST /v1/agents/report: the signed report text, the host CA PEM, the
 * signature, and the report parsed (type agent-report, host, time, at most
 * VB_REPORT_AGENTS_MAX agents). */
struct vb_report {
	const char *report, *host_ca;
	const char *crls; /* the host's CRLs (PEM bundle), NULL when absent */
	uint8_t *sig;
	size_t sig_len;
	cJSON *rep; /* owned */
	const char *host;
	uint64_t time;
	const cJSON *agents; /* in rep */
	const cJSON *jwt_keys; /* in rep: an array, NULL when absent */
};
int vb_report_parse(const cJSON *in, struct vb_report *out) ATTEST_MUST_CHECK;
void vb_report_clear(struct vb_report *r);
/* One entry of "agents": its fields, an ID on host, the agent CA as one
 * DER certificate (no byte after it). */
struct vb_report_agent {
	const char *id;
	int risk_tier, risk_score, delegate_depth, revoked;
	char scopes[VSTORE_LIST_MAX], data_classes[VSTORE_LIST_MAX];
	uint8_t *der; /* owned */
	size_t der_len;
	X509 *ca;     /* owned */
};
int vb_report_agent_parse(const cJSON *j, const char *host,
			  struct vb_report_agent *out) ATTEST_MUST_CHECK;
void vb_report_agent_clear(struct vb_report_agent *a);

/* POST /v1/decide */
struct vb_decide {
	const char *chain, *action, *resource;
	const char *ckeys[VB_CTX_MAX], *cvals[VB_CTX_MAX];
	size_t nctx;
};
int vb_decide_parse(const cJSON *in, struct vb_decide *out) ATTEST_MUST_CHECK;

/* POST /v1/hosts/revoke (host 1) and /v1/agents/revoke: the name and the
 * reason ("revoked by operator" when absent). */
int vb_revoke_parse(const cJSON *in, int host, const char **name,
		    const char **reason) ATTEST_MUST_CHECK;

/* POST /v1/settings: what changes. capval is "off" (null: the cap lifted)
 * or "on:<scopes space-separated>". */
struct vb_settings {
	int has_ap, ap;
	int has_cap;
	char capval[VSTORE_LIST_MAX + 4];
};
int vb_settings_parse(const cJSON *in, struct vb_settings *out) ATTEST_MUST_CHECK;

/* An array of words (no space, not empty) joined by one space into out;
 * NULL is the empty list. */
int vs_join_list(const cJSON *arr, char *out, size_t outsz) ATTEST_MUST_CHECK;

/* /v1/authz (authz_http.c): the headers a proxy forwards, each NULL when
 * absent or empty. The client's leaf (and, from Envoy's Chain=, the whole
 * chain), malloc'd PEM: X-Client-Cert (nginx $ssl_client_escaped_cert,
 * %XX-escaped, at most VB_FWD_CERT_MAX bytes decoded) or the last element
 * of X-Forwarded-Client-Cert (the one the nearest proxy added: ";"-
 * separated key=value pairs, values optionally quoted). Both at once is a
 * misconfiguration: refused. ATTEST_E_FWD_NO_CERT when there is no usable
 * certificate. */
#define VB_FWD_CTX_MAX 16
#define VB_FWD_CERT_MAX (40 * 1024) /* a leaf (with its intent chain), PEM */
#define VB_FWD_CHAIN_MAX ATTEST_DECIDE_PEM_MAX
int vb_fwd_cert(const char *x_client_cert, const char *xfcc, char **leaf, char **chain)
	ATTEST_MUST_CHECK;
/* X-Attest-Context: "k=v&k2=v2", each %XX-escaped (keys printable, at most
 * 64 bytes; values without control characters, at most 256), appended
 * after the *n entries already in keys/vals (the path's context; a key
 * given there already is refused); the strings are copied into store. */
int vb_fwd_ctx(const char *hdr, char *store, size_t storesz, const char **keys,
	       const char **vals, size_t *n) ATTEST_MUST_CHECK;

#endif
