/* auditfmt.h - the audit log's on-disk format, shared by the writer
 * (audit.c) and the readers (auditverify.c). See docs/audit.md. */
#ifndef LIBATTEST_AUDITFMT_H
#define LIBATTEST_AUDITFMT_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"
#include "audit/merkle.h"

#define ATTEST_AUDIT_LOG_ID_LEN 16
#define ATTEST_AUDIT_RECORD_MAX (64 * 1024) /* bytes of one record */

#define AUDIT_FRAME_HDR 8
#define AUDIT_LOG_FILE "log.json"
#define AUDIT_QUAL_TAG "attestd-audit-v1"

/* Called for each whole frame: index in the file, payload, and the payload's
 * Merkle leaf hash (already computed for the frame check). */
typedef int (*attest_auditfmt_frame_fn)(void *arg, uint64_t index, const uint8_t *payload,
					size_t len, const uint8_t leaf[32]);

/* Read every frame of path (payloads of at most cap bytes). A torn last
 * frame (short header or payload at end of file, a bad check on the last
 * frame, or a zero-filled tail) ends the scan: *good_end is where the last
 * whole frame ends and *torn the bytes after it. A bad frame followed by
 * more data is ATTEST_E_STATE. The file is read in windows of one frame
 * cap plus 64 KiB through attest_auditfmt_parse (no FILE *, bounded
 * memory whatever the segment size), up to its size when opened. */
int attest_auditfmt_read(const char *path, size_t cap, attest_auditfmt_frame_fn fn, void *arg,
			 uint64_t *good_end, uint64_t *torn) ATTEST_MUST_CHECK;
/* The same on a whole file image in memory: pure, no I/O (fuzz target
 * `audit`). */
int attest_auditfmt_read_mem(const uint8_t *buf, size_t len, size_t cap,
			     attest_auditfmt_frame_fn fn, void *arg, uint64_t *good_end,
			     uint64_t *torn) ATTEST_MUST_CHECK;

/* The frame parser both read on: frames of buf[0..len), which begins at
 * byte s->off of the file (s->off and s->index advance over each whole
 * frame, which is handed to s->fn). final says whether buf ends where the
 * file ends. *stop says why it stopped:
 *   END   final, and every byte was whole frames;
 *   TORN  final, and a torn tail begins at s->off;
 *   MORE  not final, and buf ends inside the frame at s->off;
 *   ZERO  not final, and the frame at s->off has an all-zero header: a torn
 *         tail if the rest of the file is zero, corruption otherwise.
 * A bad frame that is not a possible torn tail is ATTEST_E_STATE; an error
 * of s->fn is returned as is. Every read is through the bounded cursor. */
enum { ATTEST_AUDITFMT_END, ATTEST_AUDITFMT_TORN, ATTEST_AUDITFMT_MORE, ATTEST_AUDITFMT_ZERO };
struct attest_auditfmt_scan {
	size_t cap;                  /* payload cap */
	attest_auditfmt_frame_fn fn; /* may be NULL */
	void *arg;
	const char *name; /* for messages */
	uint64_t index;   /* frames so far */
	uint64_t off;     /* bytes of whole frames so far */
};
int attest_auditfmt_parse(struct attest_auditfmt_scan *s, const uint8_t *buf, size_t len,
			  int final, int *stop) ATTEST_MUST_CHECK;
/* Frame header for payload whose leaf hash is leaf. */
void attest_auditfmt_header(size_t len, const uint8_t leaf[32], uint8_t hdr[AUDIT_FRAME_HDR]);

/* Segment first-sequence numbers in dir, ascending; *firsts malloc'd. */
int attest_auditfmt_segments(const char *dir, uint64_t **firsts, size_t *n) ATTEST_MUST_CHECK;
/* DIR/seg-<first as 16 hex>.<ext> */
int attest_auditfmt_seg_path(const char *dir, uint64_t first, const char *ext, char *out,
			     size_t outsz) ATTEST_MUST_CHECK;
int attest_auditfmt_log_id(const char *dir, uint8_t id[ATTEST_AUDIT_LOG_ID_LEN]) ATTEST_MUST_CHECK;

/* The segment_start record that begins every segment. */
struct attest_auditfmt_start {
	uint64_t time;
	uint64_t first;
	uint8_t prev_root[32];
	struct attest_merkle_frontier frontier; /* the tree before this record */
};
int attest_auditfmt_start_build(const uint8_t log_id[ATTEST_AUDIT_LOG_ID_LEN],
				const struct attest_merkle_frontier *f, uint64_t time,
				char **json, size_t *len) ATTEST_MUST_CHECK;
/* Parse and check: type, log ID, segment == first, frontier shape,
 * prev_root == the frontier's root. */
int attest_auditfmt_start_parse(const uint8_t *rec, size_t len,
				const uint8_t log_id[ATTEST_AUDIT_LOG_ID_LEN], uint64_t first,
				struct attest_auditfmt_start *out) ATTEST_MUST_CHECK;



#endif
