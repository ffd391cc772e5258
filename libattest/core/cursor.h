/* cursor.h - the one bounded cursor for untrusted bytes.
 *
 * Every binary parser of bytes someone else wrote (event logs, audit
 * segment frames, wire frame headers, the pcrs file of check-quote, TCG
 * NV headers) reads through a struct attest_cur and never indexes the
 * buffer by hand. Each read checks what is left first and advances only on
 * success; on failure it returns 0, leaves the cursor where it was and
 * zeroes the output, so a caller that forgot a check still reads no
 * uninitialised or out-of-bounds byte. Every read is ATTEST_MUST_CHECK.
 *
 * The cursor reports only "enough bytes or not" (1 / 0); the parser owns
 * the error code and the message, with its own context:
 *
 *     struct attest_cur c;
 *     uint32_t n;
 *     attest_cur_init(&c, buf, len);
 *     if (!attest_cur_u32be(&c, &n) || !attest_cur_take(&c, n, &payload))
 *             return attest_fail(ATTEST_E_PARSE, "frame truncated");
 *     if (!attest_cur_end(&c))
 *             return attest_fail(ATTEST_E_PARSE, "%zu trailing bytes", attest_cur_left(&c));
 */
#ifndef LIBATTEST_CURSOR_H
#define LIBATTEST_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"

struct attest_cur {
	const uint8_t *base; /* first byte of the input */
	size_t len;          /* bytes of input */
	size_t pos;          /* bytes consumed; always <= len */
};

/* A cursor over buf[0..len). buf may be NULL only when len is 0. */
void attest_cur_init(struct attest_cur *c, const uint8_t *buf, size_t len);

/* Bytes not consumed yet / consumed so far. */
size_t attest_cur_left(const struct attest_cur *c);
size_t attest_cur_pos(const struct attest_cur *c);
/* The next unread byte (valid for attest_cur_left bytes; may point one past
 * the end when nothing is left, never to be dereferenced then). */
const uint8_t *attest_cur_ptr(const struct attest_cur *c);
/* 1 when every byte has been consumed: the "end exactly" check that
 * refuses trailing bytes. */
int attest_cur_end(const struct attest_cur *c) ATTEST_MUST_CHECK;

/* n bytes: *out points into the input. */
int attest_cur_take(struct attest_cur *c, size_t n, const uint8_t **out) ATTEST_MUST_CHECK;
/* n bytes copied into dst. */
int attest_cur_copy(struct attest_cur *c, void *dst, size_t n) ATTEST_MUST_CHECK;
int attest_cur_skip(struct attest_cur *c, size_t n) ATTEST_MUST_CHECK;
/* The next n bytes as a cursor of their own (a length-delimited body);
 * c moves past them. */
int attest_cur_sub(struct attest_cur *c, size_t n, struct attest_cur *sub) ATTEST_MUST_CHECK;

int attest_cur_u8(struct attest_cur *c, uint8_t *v) ATTEST_MUST_CHECK;
int attest_cur_u16be(struct attest_cur *c, uint16_t *v) ATTEST_MUST_CHECK;
int attest_cur_u16le(struct attest_cur *c, uint16_t *v) ATTEST_MUST_CHECK;
int attest_cur_u32be(struct attest_cur *c, uint32_t *v) ATTEST_MUST_CHECK;
int attest_cur_u32le(struct attest_cur *c, uint32_t *v) ATTEST_MUST_CHECK;
int attest_cur_u64be(struct attest_cur *c, uint64_t *v) ATTEST_MUST_CHECK;
int attest_cur_u64le(struct attest_cur *c, uint64_t *v) ATTEST_MUST_CHECK;

/* A TPM2B: a big-endian uint16 size, then that many bytes, refused (and
 * nothing consumed) when the size is over max or the bytes are not there.
 * *data points into the input. */
int attest_cur_tpm2b(struct attest_cur *c, size_t max, const uint8_t **data,
		     uint16_t *size) ATTEST_MUST_CHECK;

#endif
