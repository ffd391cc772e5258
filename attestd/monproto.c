/* monproto.c - see monproto.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "monproto.h"

static void put(struct mon_out *o, const void *p, size_t n)
{
	if (o->err)
		return;
	if (n > MON_MSG_MAX - o->len) {
		o->err = ATTEST_E_TOO_LARGE;
		return;
	}
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		uint8_t *b;

		while (cap < o->len + n)
			cap *= 2;
		if ((b = realloc(o->buf, cap)) == NULL) {
			o->err = ATTEST_E_NOMEM;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	if (n > 0)
		memcpy(o->buf + o->len, p, n);
	o->len += n;
}

void mon_put_u32(struct mon_out *o, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	put(o, b, sizeof(b));
}

void mon_out_init(struct mon_out *o, uint32_t op)
{
	memset(o, 0, sizeof(*o));
	mon_put_u32(o, op);
}

void mon_out_free(struct mon_out *o)
{
	free(o->buf);
	memset(o, 0, sizeof(*o));
}

void mon_put_u8(struct mon_out *o, uint8_t v) { put(o, &v, 1); }

void mon_put_i64(struct mon_out *o, int64_t v)
{
	uint64_t u = (uint64_t)v;

	mon_put_u32(o, (uint32_t)(u >> 32));
	mon_put_u32(o, (uint32_t)u);
}

void mon_put_bytes(struct mon_out *o, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		o->err = ATTEST_E_TOO_LARGE;
		return;
	}
	mon_put_u32(o, (uint32_t)n);
	put(o, p, n);
}

void mon_put_str(struct mon_out *o, const char *s)
{
	mon_put_bytes(o, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

int mon_get_u8(struct attest_cur *c, uint8_t *v) { return attest_cur_u8(c, v); }
int mon_get_u32(struct attest_cur *c, uint32_t *v) { return attest_cur_u32be(c, v); }

int mon_get_i64(struct attest_cur *c, int64_t *v)
{
	uint64_t u;

	if (!attest_cur_u64be(c, &u))
		return 0;
	*v = (int64_t)u;
	return 1;
}

int mon_get_bytes(struct attest_cur *c, size_t max, const uint8_t **p, size_t *n)
{
	struct attest_cur save = *c;
	uint32_t len;

	if (!attest_cur_u32be(c, &len) || len > max || !attest_cur_take(c, len, p)) {
		*c = save;
		return 0;
	}
	*n = len;
	return 1;
}

int mon_get_str(struct attest_cur *c, char *dst, size_t dstsz)
{
	struct attest_cur save = *c;
	const uint8_t *p;
	size_t n;

	if (dstsz == 0 || !mon_get_bytes(c, dstsz - 1, &p, &n) || memchr(p, '\0', n) != NULL) {
		*c = save;
		return 0;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 1;
}

int mon_get_end(struct attest_cur *c) { return attest_cur_end(c); }

int mon_send(int sock, const struct mon_out *o, int fd)
{
	struct iovec iov = { o->buf, o->len };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (o->err != 0)
		return attest_fail(o->err, "monitor message over %d bytes or out of memory",
				   MON_MSG_MAX);
	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		m.msg_control = u.buf;
		m.msg_controllen = sizeof(u.buf);
		CMSG_FIRSTHDR(&m)->cmsg_level = SOL_SOCKET;
		CMSG_FIRSTHDR(&m)->cmsg_type = SCM_RIGHTS;
		CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&m)), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 || (size_t)n != o->len)
		return attest_fail(ATTEST_E_IO, "monitor channel: send: %s",
				   n < 0 ? strerror(errno) : "short");
	return ATTEST_OK;
}

int mon_recv(int sock, uint8_t *buf, size_t *len, int *fd)
{
	struct iovec iov = { buf, MON_MSG_MAX };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *h;
	int bad = 0;
	ssize_t n;

	*fd = -1;
	*len = 0;
	do
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return attest_fail(ATTEST_E_IO, "monitor channel: receive: %s", strerror(errno));
	for (h = CMSG_FIRSTHDR(&m); h != NULL; h = CMSG_NXTHDR(&m, h)) {
		size_t nfd;

		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) {
			bad = 1;
			continue;
		}
		nfd = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int x;

			memcpy(&x, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
			if (*fd < 0 && !bad)
				*fd = x;
			else {
				close(x);
				bad = 1;
			}
		}
	}
	if (bad || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return attest_fail(ATTEST_E_PARSE, "monitor channel: message truncated or with "
				   "more than one descriptor");
	}
	if (n == 0)
		return attest_fail(ATTEST_E_STATE, "monitor channel closed");
	*len = (size_t)n;
	return ATTEST_OK;
}
