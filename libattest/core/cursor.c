/* cursor.c - the bounded cursor (see cursor.h). */
#include <string.h>

#include "core/cursor.h"

void attest_cur_init(struct attest_cur *c, const uint8_t *buf, size_t len)
{
	c->base = buf;
	c->len = buf != NULL ? len : 0;
	c->pos = 0;
}

size_t attest_cur_left(const struct attest_cur *c)
{
	return c->len - c->pos;
}

size_t attest_cur_pos(const struct attest_cur *c)
{
	return c->pos;
}

const uint8_t *attest_cur_ptr(const struct attest_cur *c)
{
	return c->base != NULL ? c->base + c->pos : NULL;
}

int attest_cur_end(const struct attest_cur *c)
{
	return c->pos == c->len;
}

int attest_cur_take(struct attest_cur *c, size_t n, const uint8_t **out)
{
	*out = NULL;
	if (n > c->len - c->pos)
		return 0;
	*out = c->base + c->pos;
	c->pos += n;
	return 1;
}

int attest_cur_copy(struct attest_cur *c, void *dst, size_t n)
{
	const uint8_t *p;

	if (!attest_cur_take(c, n, &p)) {
		memset(dst, 0, n);
		return 0;
	}
	if (n > 0)
		memcpy(dst, p, n);
	return 1;
}

int attest_cur_skip(struct attest_cur *c, size_t n)
{
	const uint8_t *p;

	return attest_cur_take(c, n, &p);
}

int attest_cur_sub(struct attest_cur *c, size_t n, struct attest_cur *sub)
{
	const uint8_t *p;

	if (!attest_cur_take(c, n, &p)) {
		attest_cur_init(sub, NULL, 0);
		return 0;
	}
	attest_cur_init(sub, p, n);
	return 1;
}

/* n (<= 8) bytes as an unsigned integer, most significant first (be) or
 * last. */
static int uint_n(struct attest_cur *c, size_t n, int be, uint64_t *v)
{
	const uint8_t *p;
	uint64_t x = 0;

	*v = 0;
	if (!attest_cur_take(c, n, &p))
		return 0;
	for (size_t i = 0; i < n; i++)
		x |= (uint64_t)p[i] << (8 * (be ? n - 1 - i : i));
	*v = x;
	return 1;
}

int attest_cur_u8(struct attest_cur *c, uint8_t *v)
{
	uint64_t x;
	int ok = uint_n(c, 1, 1, &x);

	*v = (uint8_t)x;
	return ok;
}

int attest_cur_u16be(struct attest_cur *c, uint16_t *v)
{
	uint64_t x;
	int ok = uint_n(c, 2, 1, &x);

	*v = (uint16_t)x;
	return ok;
}

int attest_cur_u16le(struct attest_cur *c, uint16_t *v)
{
	uint64_t x;
	int ok = uint_n(c, 2, 0, &x);

	*v = (uint16_t)x;
	return ok;
}

int attest_cur_u32be(struct attest_cur *c, uint32_t *v)
{
	uint64_t x;
	int ok = uint_n(c, 4, 1, &x);

	*v = (uint32_t)x;
	return ok;
}

int attest_cur_u32le(struct attest_cur *c, uint32_t *v)
{
	uint64_t x;
	int ok = uint_n(c, 4, 0, &x);

	*v = (uint32_t)x;
	return ok;
}

int attest_cur_u64be(struct attest_cur *c, uint64_t *v)
{
	return uint_n(c, 8, 1, v);
}

int attest_cur_u64le(struct attest_cur *c, uint64_t *v)
{
	return uint_n(c, 8, 0, v);
}

int attest_cur_tpm2b(struct attest_cur *c, size_t max, const uint8_t **data, uint16_t *size)
{
	struct attest_cur t = *c;
	uint16_t n;

	*data = NULL;
	*size = 0;
	if (!attest_cur_u16be(&t, &n) || n > max || !attest_cur_take(&t, n, data)) {
		*data = NULL;
		return 0;
	}
	*size = n;
	*c = t;
	return 1;
}
