/* test_cursor.c - the one bounded cursor (issue 13 item 1) and the parsers
 * moved onto it: audit segment frames read from memory and in windows,
 * wire frame headers.
 * Targets: libattest/core/cursor.c, libattest/audit/auditfmt.c
 * (attest_auditfmt_parse, _read_mem, _read), libattest/net/wire.c
 * (attest_wire_frame_len). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/auditfmt.h"
#include "audit/merkle.h"
#include "core/cursor.h"
#include "net/wire.h"
#include "testutil.h"

static void test_reads(void)
{
	static const uint8_t b[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
				     0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12,
				     0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b,
				     0x1c, 0x1d, 0x1e };
	struct attest_cur c;
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	attest_cur_init(&c, b, sizeof(b));
	CU_ASSERT(attest_cur_u8(&c, &v8) && v8 == 0x01);
	CU_ASSERT(attest_cur_u16be(&c, &v16) && v16 == 0x0203);
	CU_ASSERT(attest_cur_u16le(&c, &v16) && v16 == 0x0504);
	CU_ASSERT(attest_cur_u32be(&c, &v32) && v32 == 0x06070809u);
	CU_ASSERT(attest_cur_u32le(&c, &v32) && v32 == 0x0d0c0b0au);
	CU_ASSERT(attest_cur_u64be(&c, &v64) && v64 == 0x0e0f101112131415ull);
	CU_ASSERT(attest_cur_pos(&c) == 21 && attest_cur_left(&c) == 9);
	CU_ASSERT(attest_cur_u64le(&c, &v64) && v64 == 0x1d1c1b1a19181716ull);
	CU_ASSERT(!attest_cur_end(&c));
	CU_ASSERT(attest_cur_u8(&c, &v8) && v8 == 0x1e);
	CU_ASSERT(attest_cur_end(&c));
	/* past the end: refused, nothing consumed, output zeroed */
	v8 = 0xaa;
	CU_ASSERT(!attest_cur_u8(&c, &v8) && v8 == 0);
	CU_ASSERT(attest_cur_pos(&c) == sizeof(b));
}

/* Every read one byte short fails, leaves the cursor where it was and
 * zeroes what it would have returned. */
static void test_short(void)
{
	static const uint8_t b[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct attest_cur c;
	uint16_t v16 = 1;
	uint32_t v32 = 1;
	uint64_t v64 = 1;
	const uint8_t *p = b;
	uint8_t dst[8];

	attest_cur_init(&c, b, 1);
	CU_ASSERT(!attest_cur_u16be(&c, &v16) && v16 == 0 && attest_cur_pos(&c) == 0);
	CU_ASSERT(!attest_cur_u16le(&c, &v16) && v16 == 0 && attest_cur_pos(&c) == 0);
	attest_cur_init(&c, b, 3);
	CU_ASSERT(!attest_cur_u32be(&c, &v32) && v32 == 0 && attest_cur_pos(&c) == 0);
	CU_ASSERT(!attest_cur_u32le(&c, &v32) && v32 == 0 && attest_cur_pos(&c) == 0);
	attest_cur_init(&c, b, 7);
	CU_ASSERT(!attest_cur_u64be(&c, &v64) && v64 == 0 && attest_cur_pos(&c) == 0);
	CU_ASSERT(!attest_cur_u64le(&c, &v64) && v64 == 0 && attest_cur_pos(&c) == 0);
	CU_ASSERT(!attest_cur_take(&c, 8, &p) && p == NULL && attest_cur_pos(&c) == 0);
	memset(dst, 0x55, sizeof(dst));
	CU_ASSERT(!attest_cur_copy(&c, dst, 8) && dst[0] == 0 && dst[7] == 0);
	CU_ASSERT(!attest_cur_skip(&c, 8) && attest_cur_pos(&c) == 0);
	/* a length near SIZE_MAX does not wrap the bound check */
	CU_ASSERT(attest_cur_skip(&c, 1));
	CU_ASSERT(!attest_cur_take(&c, SIZE_MAX, &p) && attest_cur_pos(&c) == 1);
	CU_ASSERT(!attest_cur_take(&c, SIZE_MAX - 5, &p) && attest_cur_pos(&c) == 1);
	CU_ASSERT(attest_cur_take(&c, 6, &p) && p == b + 1 && attest_cur_end(&c));
	/* an empty or NULL input */
	attest_cur_init(&c, NULL, 5);
	CU_ASSERT(attest_cur_left(&c) == 0 && attest_cur_end(&c));
	CU_ASSERT(attest_cur_take(&c, 0, &p));
	CU_ASSERT(!attest_cur_u32be(&c, &v32));
}

static void test_sub_tpm2b(void)
{
	static const uint8_t b[] = { 0x00, 0x03, 'a', 'b', 'c', 0x00, 0x05, 'x', 'y' };
	struct attest_cur c, s;
	const uint8_t *d;
	uint16_t n;
	uint8_t v8;

	attest_cur_init(&c, b, sizeof(b));
	CU_ASSERT(!attest_cur_tpm2b(&c, 2, &d, &n) && d == NULL && n == 0); /* over max */
	CU_ASSERT(attest_cur_pos(&c) == 0);
	CU_ASSERT(attest_cur_tpm2b(&c, 3, &d, &n) && n == 3 && memcmp(d, "abc", 3) == 0);
	/* size 5 but 2 bytes left: refused, the size is not consumed either */
	CU_ASSERT(!attest_cur_tpm2b(&c, 64, &d, &n) && attest_cur_pos(&c) == 5);
	CU_ASSERT(attest_cur_sub(&c, 4, &s) && attest_cur_end(&c));
	CU_ASSERT(attest_cur_left(&s) == 4);
	CU_ASSERT(attest_cur_skip(&s, 2) && attest_cur_u8(&s, &v8) && v8 == 'x');
	CU_ASSERT(attest_cur_u8(&s, &v8) && v8 == 'y');
	CU_ASSERT(attest_cur_end(&s) && !attest_cur_u8(&s, &v8));
	attest_cur_init(&c, b, 2);
	CU_ASSERT(!attest_cur_sub(&c, 3, &s) && attest_cur_left(&s) == 0 && attest_cur_pos(&c) == 0);
}

static void test_wire_len(void)
{
	static const uint8_t ok[4] = { 0, 0, 1, 0 }, zero[4] = { 0 }, big[4] = { 0xff, 0, 0, 0 };
	size_t n = 1;

	CU_ASSERT(attest_wire_frame_len(ok, &n) == ATTEST_OK && n == 256);
	TU_ASSERT_ERR(attest_wire_frame_len(zero, &n), ATTEST_E_PARSE);
	CU_ASSERT(n == 0);
	TU_ASSERT_ERR(attest_wire_frame_len(big, &n), ATTEST_E_TOO_LARGE);
}

/* ---- audit frames ---- */

struct img {
	uint8_t *b;
	size_t len, cap;
};

static void put_frame(struct img *m, const uint8_t *payload, size_t len)
{
	uint8_t leaf[32], hdr[AUDIT_FRAME_HDR];

	CU_ASSERT_FATAL(attest_merkle_leaf(payload, len, leaf) == ATTEST_OK);
	attest_auditfmt_header(len, leaf, hdr);
	if (m->len + sizeof(hdr) + len > m->cap) {
		m->cap = 2 * (m->len + sizeof(hdr) + len);
		m->b = realloc(m->b, m->cap);
		CU_ASSERT_FATAL(m->b != NULL);
	}
	memcpy(m->b + m->len, hdr, sizeof(hdr));
	memcpy(m->b + m->len + sizeof(hdr), payload, len);
	m->len += sizeof(hdr) + len;
}

struct seen {
	uint64_t n, bytes;
};

static int count_frame(void *arg, uint64_t index, const uint8_t *payload, size_t len,
		       const uint8_t leaf[32])
{
	struct seen *s = arg;

	(void)payload;
	(void)leaf;
	CU_ASSERT(index == s->n);
	s->n++;
	s->bytes += len;
	return ATTEST_OK;
}

/* n frames of 1..cap bytes (a fixed pattern of sizes). */
static void build(struct img *m, int n, size_t cap)
{
	uint8_t *p = malloc(cap);

	CU_ASSERT_FATAL(p != NULL);
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < n; i++) {
		size_t len = 1 + ((size_t)i * 7919u) % cap;

		memset(p, 'a' + i % 26, len);
		put_frame(m, p, len);
	}
	free(p);
}

static void test_frames_mem(void)
{
	struct img m;
	struct seen s = { 0 };
	uint64_t good, torn;
	size_t whole;

	build(&m, 20, 300);
	whole = m.len;
	CU_ASSERT(attest_auditfmt_read_mem(m.b, m.len, 300, count_frame, &s, &good, &torn) ==
		  ATTEST_OK);
	CU_ASSERT(s.n == 20 && good == whole && torn == 0);
	/* every cut inside the last frame is a torn tail, never an error */
	for (size_t cut = 1; cut < whole; cut += 97) {
		memset(&s, 0, sizeof(s));
		CU_ASSERT(attest_auditfmt_read_mem(m.b, cut, 300, count_frame, &s, &good, &torn) ==
			  ATTEST_OK);
		CU_ASSERT(good <= cut && good + torn == cut);
	}
	/* a zero-filled tail is torn; a zero header with data after it is not */
	m.b = realloc(m.b, whole + 64);
	CU_ASSERT_FATAL(m.b != NULL);
	memset(m.b + whole, 0, 64);
	CU_ASSERT(attest_auditfmt_read_mem(m.b, whole + 64, 300, NULL, NULL, &good, &torn) ==
		  ATTEST_OK);
	CU_ASSERT(good == whole && torn == 64);
	m.b[whole + 63] = 1;
	TU_ASSERT_ERR(attest_auditfmt_read_mem(m.b, whole + 64, 300, NULL, NULL, &good, &torn),
		      ATTEST_E_STATE);
	/* a frame over the cap; a bad check followed by more data */
	TU_ASSERT_ERR(attest_auditfmt_read_mem(m.b, whole, 10, NULL, NULL, &good, &torn),
		      ATTEST_E_STATE);
	m.b[AUDIT_FRAME_HDR] ^= 1;
	TU_ASSERT_ERR(attest_auditfmt_read_mem(m.b, whole, 300, NULL, NULL, &good, &torn),
		      ATTEST_E_STATE);
	m.b[AUDIT_FRAME_HDR] ^= 1;
	/* a bad check on the last frame only: torn */
	m.b[whole - 1] ^= 1;
	CU_ASSERT(attest_auditfmt_read_mem(m.b, whole, 300, NULL, NULL, &good, &torn) == ATTEST_OK);
	CU_ASSERT(good > 0 && good < whole && good + torn == whole);
	free(m.b);
}

/* The file reader works in windows of cap + 64 KiB: frames straddling
 * windows, a torn tail and a zero tail past the first window give the
 * same answers as the whole image in memory. */
static void test_frames_file(void)
{
	char dir[512], path[600];
	struct img m;
	struct seen s1 = { 0 }, s2 = { 0 };
	uint64_t g1, t1, g2, t2;
	size_t cap = 1000, whole;

	tu_mkdtemp(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/seg", dir);
	build(&m, 400, cap); /* ~200 KB: several windows */
	whole = m.len;
	CU_ASSERT_FATAL(whole > 3 * (64 * 1024 + cap));
	tu_write(path, m.b, m.len);
	CU_ASSERT(attest_auditfmt_read(path, cap, count_frame, &s1, &g1, &t1) == ATTEST_OK);
	CU_ASSERT(attest_auditfmt_read_mem(m.b, m.len, cap, count_frame, &s2, &g2, &t2) ==
		  ATTEST_OK);
	CU_ASSERT(s1.n == 400 && s1.n == s2.n && s1.bytes == s2.bytes && g1 == whole && t1 == 0 &&
		  g2 == g1 && t2 == 0);
	/* torn in the middle of the last frame */
	tu_write(path, m.b, whole - 3);
	CU_ASSERT(attest_auditfmt_read(path, cap, NULL, NULL, &g1, &t1) == ATTEST_OK);
	CU_ASSERT(attest_auditfmt_read_mem(m.b, whole - 3, cap, NULL, NULL, &g2, &t2) == ATTEST_OK);
	CU_ASSERT(g1 == g2 && t1 == t2 && t1 > 0);
	/* a zero tail longer than a window: still torn */
	m.b = realloc(m.b, whole + 200 * 1024);
	CU_ASSERT_FATAL(m.b != NULL);
	memset(m.b + whole, 0, 200 * 1024);
	tu_write(path, m.b, whole + 200 * 1024);
	CU_ASSERT(attest_auditfmt_read(path, cap, NULL, NULL, &g1, &t1) == ATTEST_OK);
	CU_ASSERT(g1 == whole && t1 == 200 * 1024);
	/* ... unless a byte far after it (beyond the window) is not zero */
	m.b[whole + 200 * 1024 - 1] = 7;
	tu_write(path, m.b, whole + 200 * 1024);
	TU_ASSERT_ERR(attest_auditfmt_read(path, cap, NULL, NULL, &g1, &t1), ATTEST_E_STATE);
	/* a frame corrupted in the middle of the file */
	m.b[whole / 2] ^= 0x40;
	tu_write(path, m.b, whole);
	TU_ASSERT_ERR(attest_auditfmt_read(path, cap, NULL, NULL, &g1, &t1), ATTEST_E_STATE);
	free(m.b);
	tu_rmtree(dir);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "cursor: u8..u64 in both byte orders, end exactly", test_reads },
		{ "cursor: short reads refused, nothing consumed, output zeroed", test_short },
		{ "cursor: sub-cursors and TPM2B with a max", test_sub_tpm2b },
		{ "wire frame header through the cursor", test_wire_len },
		{ "audit frames from memory: torn, zero tail, corrupted", test_frames_mem },
		{ "audit frames from a file in windows agree with memory", test_frames_file },
		{ NULL, NULL },
	};

	return tu_main("cursor", tests);
}
