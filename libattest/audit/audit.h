/* audit.h - the tamper-evident, TPM-anchored audit log (docs/audit.md).
 *
 * A log is a directory: log.json (the log ID), then segments
 * seg-<first seq, 16 hex>.log holding records and seg-<...>.ckpt holding
 * the checkpoints made while that segment was current. Records are framed
 * [u32 length BE][first 4 bytes of the record's Merkle leaf hash][bytes]
 * and form one RFC 9162 Merkle tree across all segments (merkle.h). The
 * first record of every segment is a segment_start record carrying the
 * tree's frontier and root before it, which links the segments and lets a
 * log whose oldest segments expired still be verified from there on.
 *
 * Writer: one struct attest_audit per log, used from one thread (an event
 * loop). attest_audit_append writes a record (not yet durable);
 * attest_audit_sync makes every appended record durable (fdatasync) and is
 * the point after which the recorded actions may be acknowledged (group
 * commit: append many, sync once). attest_audit_checkpoint increments the
 * TPM NV counter and stores a TPM2_NV_Certify of it by the AK over the
 * tree's size and root. Nothing here prints or exits.
 */
#ifndef LIBATTEST_AUDIT_H
#define LIBATTEST_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "attest/attest.h"
#include "audit/auditfmt.h" /* ATTEST_AUDIT_LOG_ID_LEN, _RECORD_MAX */
#include "audit/merkle.h"

struct attest_tpm;

#define ATTEST_AUDIT_CKPT_MAX (8 * 1024)     /* bytes of one stored checkpoint */
#define ATTEST_AUDIT_NV_INDEX 0x01800a0du    /* owner range; docs/audit.md */
#define ATTEST_AUDIT_FIELD_MAX 1024          /* bytes of one string field */
#define ATTEST_AUDIT_LIST_MAX 32             /* agents or scopes in a record */

/* Defaults of struct attest_audit_opts (a 0 field takes its default). */
#define ATTEST_AUDIT_CKPT_INTERVAL_S 60
#define ATTEST_AUDIT_CKPT_RECORDS 10000
#define ATTEST_AUDIT_SEGMENT_RECORDS 1000000
#define ATTEST_AUDIT_SEGMENT_BYTES (256u * 1024 * 1024)
#define ATTEST_AUDIT_RETENTION_S (2192ull * 86400) /* six years of days */
#define ATTEST_AUDIT_REFUSAL_INTERVAL_S 60
#define ATTEST_AUDIT_REFUSAL_KEYS 1024 /* (source, reason) pairs tracked */

struct attest_audit_opts {
	uint32_t nv_index;          /* the TPM NV counter */
	uint64_t ckpt_interval_s;   /* checkpoint due after this many seconds ... */
	uint64_t ckpt_records;      /* ... or this many records since the last */
	uint64_t segment_records;   /* rotate before a segment exceeds these */
	uint64_t segment_bytes;
	uint64_t retention_s;       /* attest_audit_expire removes older segments */
	uint64_t refusal_interval_s;
	size_t refusal_keys;
};

/* One event to record. NULL / 0 fields are left out of the record. */
struct attest_audit_event {
	uint64_t time;              /* Unix seconds (UTC); 0 = now */
	const char *type;           /* required: enrol, register, issue, refusal, ... */
	const char *host;
	const char *source;         /* the requesting peer (uid/pid, address) */
	const char *user;           /* the user on whose behalf (intent sub) */
	const char *const *agents;  /* agent chain, first delegator first */
	size_t nagents;
	const char *purpose;        /* purpose code (docs/intent.md) */
	const char *purpose_text;
	const char *subject;        /* whose data (patient ID), for accounting */
	const char *const *scopes;
	size_t nscopes;
	const char *const *dns_names; /* DNS SANs of the certificate or registration */
	size_t ndns_names;
	const char *action;
	const char *resource;
	const char *outcome;        /* ok, allow, deny, error */
	const char *reason;         /* attest_errname() of a refusal, rule name */
	const char *cert_serial;    /* evidence references */
	const char *cert_sha256;
	const char *quote_sha256;
};

/* The canonical record for ev: compact JSON (no whitespace), keys in the
 * fixed order of docs/audit.md, strings escaped by cJSON, the time as a
 * decimal string. *json malloc'd, NUL-terminated (not counted in *len). */
int attest_audit_record(const struct attest_audit_event *ev, char **json,
			size_t *len) ATTEST_MUST_CHECK;

struct attest_audit;

/* Open (creating if needed) the log in dir. The writer holds an exclusive
 * lock on dir/writer.lock until attest_audit_close: a second writer (another
 * daemon, attestctl audit append/checkpoint) gets ATTEST_E_STATE_LOCKED
 * naming the holder's pid. The last segment's tail is scanned: a torn last frame (crash during append) is truncated away and
 * fsynced; corruption before the tail is ATTEST_E_STATE (nothing is
 * rewritten). opts may be NULL for the defaults. */
int attest_audit_open(const char *dir, const struct attest_audit_opts *opts,
		      struct attest_audit **out) ATTEST_MUST_CHECK;
/* Close; unsynced appends are synced first (best effort: call
 * attest_audit_sync to know). NULL is fine. */
void attest_audit_close(struct attest_audit *log);

/* Append one record (a JSON object of at most ATTEST_AUDIT_RECORD_MAX
 * bytes, parsed strictly: no duplicate keys, no trailing bytes). Stored as
 * given; hashed as stored. *seq (may be NULL) gets its index in the tree.
 * Written but NOT durable until attest_audit_sync. A failed write is cut
 * off again; if that fails too the log refuses further appends
 * (ATTEST_E_IO) until reopened. Rotates first when the segment is full. */
int attest_audit_append(struct attest_audit *log, const void *json, size_t len,
			uint64_t *seq) ATTEST_MUST_CHECK;
/* Build and append the canonical record of ev. */
int attest_audit_append_event(struct attest_audit *log, const struct attest_audit_event *ev,
			      uint64_t *seq) ATTEST_MUST_CHECK;
/* fdatasync: every record appended so far is durable when this returns OK.
 * A failed fdatasync breaks the log (ATTEST_E_IO for every later append and
 * sync until reopened): the kernel may have dropped the pages it could not
 * write, so a later sync that succeeds would not prove they are on disk. */
int attest_audit_sync(struct attest_audit *log) ATTEST_MUST_CHECK;
/* The same in two halves, for a sync on another thread (auditsync.h): begin
 * gives a duplicate of the current segment's descriptor (*fd, -1 when every
 * record is durable already; the caller closes it) and the record count it
 * will cover (*upto); the other thread calls attest_audit_fdatasync(*fd);
 * end (on the log's thread, err: that call's errno, 0 on success) marks
 * records below upto durable, or breaks the log. A rotation between the
 * two synced the old segment itself, so the count stays right. */
int attest_audit_sync_begin(struct attest_audit *log, int *fd, uint64_t *upto) ATTEST_MUST_CHECK;
int attest_audit_sync_end(struct attest_audit *log, uint64_t upto, int err) ATTEST_MUST_CHECK;
/* fdatasync(fd), or the test seam's function. Thread-safe. */
int attest_audit_fdatasync(int fd) ATTEST_MUST_CHECK;

/* What attest_audit_open cut: the torn tail of the current segment's
 * records (*log_bytes) and of its checkpoint file (*ckpt_bytes), 0 when
 * none; *segment is that segment's first record number (its file is
 * seg-<16 hex>.log/.ckpt). For the caller to log: the cut was an
 * unacknowledged append, but an operator should see it happened. */
void attest_audit_torn(const struct attest_audit *log, uint64_t *log_bytes, uint64_t *ckpt_bytes,
		       uint64_t *segment);
uint64_t attest_audit_size(const struct attest_audit *log);   /* records */
uint64_t attest_audit_synced(const struct attest_audit *log); /* durable records */
int attest_audit_root(const struct attest_audit *log, uint8_t root[32]) ATTEST_MUST_CHECK;
void attest_audit_log_id(const struct attest_audit *log, uint8_t id[ATTEST_AUDIT_LOG_ID_LEN]);

/* Refusal-flood aggregation. The first refusal of a (source, reason) pair
 * in an interval is recorded at once (ev may be NULL: a minimal record);
 * repeats are only counted. attest_audit_refusal_flush (call it from a
 * timer; refusal calls it too) writes, per source with counted repeats,
 * one refusal_aggregate record per interval. At most opts.refusal_keys
 * pairs are tracked; further pairs count under source "*". */
int attest_audit_refusal(struct attest_audit *log, const char *source, const char *reason,
			 const struct attest_audit_event *ev, uint64_t now) ATTEST_MUST_CHECK;
/* Write the aggregates of an interval that ended (or all, if force). */
int attest_audit_refusal_flush(struct attest_audit *log, uint64_t now,
			       int force) ATTEST_MUST_CHECK;

/* A checkpoint: the tree of `size` records has `root`; the NV counter had
 * `counter` at Unix time `time`; attest/sig are the AK's NV_Certify. */
struct attest_audit_ckpt {
	uint8_t log_id[ATTEST_AUDIT_LOG_ID_LEN];
	uint64_t size;
	uint8_t root[32];
	uint64_t counter;
	uint64_t time;
	TPM2B_ATTEST attest;
	TPMT_SIGNATURE sig;
};

/* qualifyingData = SHA-256("attestd-audit-v1" || log ID (16) || size (u64
 * BE) || root (32) || counter (u64 BE) || time (u64 BE)). */
int attest_audit_ckpt_qual(const uint8_t log_id[ATTEST_AUDIT_LOG_ID_LEN], uint64_t size,
			   const uint8_t root[32], uint64_t counter, uint64_t time,
			   uint8_t out[32]) ATTEST_MUST_CHECK;
/* One checkpoint on its own, structure before signature: attest parses
 * exactly; magic (ATTEST_E_EVIDENCE_MAGIC); type TPM_ST_ATTEST_NV, offset
 * 0, 8 bytes (ATTEST_E_EVIDENCE_TYPE); index name = our counter at
 * nv_index (ATTEST_E_EVIDENCE_NAME); certified value == counter
 * (ATTEST_E_QUOTE_COUNTER); extraData == the qualifyingData above
 * (ATTEST_E_EVIDENCE_QUALIFYING); signature by ak (ATTEST_E_EVIDENCE_SIGNATURE).
 * For the verifier's push endpoint too. */
int attest_audit_ckpt_verify(const struct attest_audit_ckpt *c, const TPM2B_PUBLIC *ak,
			     uint32_t nv_index) ATTEST_MUST_CHECK;
int attest_audit_ckpt_to_json(const struct attest_audit_ckpt *c, char **json,
			      size_t *len) ATTEST_MUST_CHECK;
/* Strict parse (cap ATTEST_AUDIT_CKPT_MAX, only the known keys). */
int attest_audit_ckpt_from_json(const void *buf, size_t len,
				struct attest_audit_ckpt *c) ATTEST_MUST_CHECK;

/* True when a checkpoint is due at `now`: records were appended since the
 * last one and opts.ckpt_records of them or opts.ckpt_interval_s passed. */
int attest_audit_checkpoint_due(const struct attest_audit *log, uint64_t now);
/* Sync, then checkpoint the whole tree (defines the NV counter on first
 * use). Counter values are consecutive: the TPM counter must equal the last
 * checkpoint's (increment) or exceed it by one (a checkpoint whose
 * increment happened but whose store did not, before a crash: that value is
 * certified now, not skipped). Any other value is ATTEST_E_QUOTE_COUNTER:
 * the log is older than the TPM (restored copy) or the counter is shared.
 * Stored with fdatasync before returning; out may be NULL. */
int attest_audit_checkpoint(struct attest_audit *log, struct attest_tpm *tpm,
			    struct attest_audit_ckpt *out) ATTEST_MUST_CHECK;
/* The last stored checkpoint; ATTEST_E_NOT_FOUND before the first. */
int attest_audit_last_checkpoint(const struct attest_audit *log,
				 struct attest_audit_ckpt *out) ATTEST_MUST_CHECK;

/* Close the current segment and start the next: a final checkpoint first
 * when tpm is not NULL, then the new segment file (its segment_start
 * record written to a temporary file, fsynced and renamed in). */
int attest_audit_rotate(struct attest_audit *log, struct attest_tpm *tpm) ATTEST_MUST_CHECK;
/* Remove the oldest segments whose successor started before now -
 * retention (never the current one) and record that in a retention record.
 * *removed (may be NULL) gets the number of segments removed. */
int attest_audit_expire(struct attest_audit *log, uint64_t now,
			size_t *removed) ATTEST_MUST_CHECK;

/* Test seam: called at each numbered step (enum below) with the record or
 * checkpoint's sequence number. */
enum attest_audit_step {
	ATTEST_AUDIT_STEP_APPEND_BEGIN = 1,  /* nothing written yet */
	ATTEST_AUDIT_STEP_APPEND_HALF = 2,   /* half the frame written */
	ATTEST_AUDIT_STEP_APPEND_WRITTEN = 3,
	ATTEST_AUDIT_STEP_SYNCED = 4,
	ATTEST_AUDIT_STEP_CKPT_INCREMENTED = 5,
	ATTEST_AUDIT_STEP_CKPT_CERTIFIED = 6,
	ATTEST_AUDIT_STEP_CKPT_STORED = 7,
};
typedef void (*attest_audit_hook_fn)(int step, uint64_t seq);
void attest_audit_set_hook(attest_audit_hook_fn fn);
/* Test seam: the function that makes a segment durable (NULL:
 * fdatasync). It returns 0, or -1 with errno set, like fdatasync; it may be
 * called on the sync thread (auditsync.h). Set it before any log is open. */
typedef int (*attest_audit_sync_fn)(int fd);
void attest_audit_set_sync_fn(attest_audit_sync_fn fn);

/* ---- reading and verifying (tools, verifier; no writer needed) ---- */

/* Called for each record in order; a non-OK return stops the scan and is
 * returned. rec is valid during the call only. */
typedef int (*attest_audit_record_fn)(uint64_t seq, const uint8_t *rec, size_t len,
				      void *arg);
/* Every record of the log in dir (a torn tail of the last segment is
 * skipped, as the writer would cut it). *first (may be NULL) gets the
 * first retained sequence number. */
int attest_audit_scan(const char *dir, attest_audit_record_fn fn, void *arg,
		      uint64_t *first) ATTEST_MUST_CHECK;
/* All leaf hashes (for proofs); needs the whole log (first retained
 * record 0, else ATTEST_E_STATE). *leaves malloc'd. */
int attest_audit_leaves(const char *dir, attest_merkle_hash **leaves,
			uint64_t *n) ATTEST_MUST_CHECK;
/* Every stored checkpoint in order; *out malloc'd. */
int attest_audit_checkpoints(const char *dir, struct attest_audit_ckpt **out,
			     size_t *n) ATTEST_MUST_CHECK;

struct attest_audit_verify_opts {
	const TPM2B_PUBLIC *ak;     /* required: the host's AK public area */
	uint32_t nv_index;          /* 0: ATTEST_AUDIT_NV_INDEX */
	struct attest_tpm *tpm;     /* online mode: the host's TPM; NULL offline */
	const uint8_t *nonce;       /* online: caller's nonce (NULL: random) */
	size_t nonce_len;           /* <= 32 */
};

struct attest_audit_report {
	uint8_t log_id[ATTEST_AUDIT_LOG_ID_LEN];
	uint64_t first;             /* first retained record (> 0 after expiry) */
	uint64_t records;           /* records read (first..first+records) */
	uint64_t segments;
	uint64_t checkpoints;       /* checkpoints that verified */
	uint64_t covered;           /* records covered by the last good checkpoint */
	uint64_t last_counter, last_time;
	uint64_t torn_bytes;        /* unacknowledged torn tail (not an error) */
	int online;                 /* 1 if the TPM counter was compared */
	uint64_t tpm_counter;       /* online: the freshly certified value */
	/* On failure: the first failing checkpoint and its interval of
	 * records [bad_from, bad_to), when it could be located. */
	int located;
	uint64_t bad_ckpt;
	uint64_t bad_from, bad_to;
	/* Record times that go backwards (not a failure of the chain, but
	 * the host's clock was set back, or records were written by a clock
	 * that jumped): how many records are older than the one before,
	 * the first such record and the largest step back in seconds. */
	uint64_t time_back, time_back_first, time_back_max_s;
};

/* Verify the log in dir: recompute the tree across segments; check every
 * checkpoint (attest_audit_ckpt_verify, log ID, counters consecutive, size
 * and time never decreasing, root == the recomputed root at its size);
 * check the segment links. Returns the first failure, located in *rep:
 * records that do not hash to a checkpoint's root (edited, deleted,
 * inserted, reordered, truncated) ATTEST_E_EVIDENCE_QUALIFYING; a skipped
 * or repeated counter ATTEST_E_QUOTE_COUNTER; a bad signature
 * ATTEST_E_EVIDENCE_SIGNATURE; a broken frame or segment link
 * ATTEST_E_STATE. Online (o->tpm): then a fresh NV_Certify over the nonce
 * must verify and show the last checkpoint's counter, else
 * ATTEST_E_QUOTE_COUNTER (a restored older log). Offline verification
 * cannot detect such a rollback; rep->online says which was done. */
int attest_audit_verify(const char *dir, const struct attest_audit_verify_opts *o,
			struct attest_audit_report *rep) ATTEST_MUST_CHECK;

/* ---- queries and the HIPAA accounting of disclosures ---- */

/* One record as the tools read it: pointers into the parsed record, valid
 * during the callback only. Absent fields are NULL. */
struct attest_audit_view {
	uint64_t seq, time;
	const char *type, *host, *source, *user, *purpose, *purpose_text, *subject;
	const char *action, *resource, *outcome, *reason;
	const char *agents[ATTEST_AUDIT_LIST_MAX];
	size_t nagents;
	const uint8_t *raw;         /* the record's bytes as stored */
	size_t rawlen;
};
typedef int (*attest_audit_view_fn)(const struct attest_audit_view *v, void *arg);

/* Filters; NULL / 0 match everything. Patterns are fnmatch(3) globs. */
struct attest_audit_query {
	const char *type;           /* exact */
	uint64_t from, to;          /* time in [from, to] */
	const char *agent;          /* any agent of the chain */
	const char *user;
	const char *subject;        /* the subject, or the resource if none */
};

/* Records of the log matching q, in order (a record that is not a valid
 * record object is ATTEST_E_PARSE). */
int attest_audit_query(const char *dir, const struct attest_audit_query *q,
		       attest_audit_view_fn fn, void *arg) ATTEST_MUST_CHECK;

/* 1 if the purpose code is exempt from the accounting of disclosures by
 * 45 CFR 164.528(a)(1)(i) (treatment, payment, health care operations):
 * TREATMENT, PAYMENT, OPERATIONS. RESEARCH, PUBLIC_HEALTH, OTHER and
 * unknown codes are accounted for (docs/audit.md says why). */
int attest_audit_purpose_exempt(const char *code);

/* The accounting of disclosures for q (q->subject required): allowed
 * accesses (type "decision" with outcome "allow", or type "disclosure")
 * in the period whose purpose is not exempt; with include_exempt every
 * allowed access (an access report). */
int attest_audit_accounting(const char *dir, const struct attest_audit_query *q,
			    int include_exempt, attest_audit_view_fn fn,
			    void *arg) ATTEST_MUST_CHECK;

#endif
