/* wire.c - length-prefixed JSON frames (see wire.h, docs/protocol.md). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "core/cursor.h"
#include "core/err.h"
#include "core/json.h"
#include "net/wire.h"

int attest_wire_frame_len(const uint8_t hdr[ATTEST_WIRE_HDR], size_t *len)
{
	struct attest_cur c;
	uint32_t n;

	*len = 0;
	attest_cur_init(&c, hdr, ATTEST_WIRE_HDR);
	if (!attest_cur_u32be(&c, &n) || n == 0)
		return attest_fail(ATTEST_E_PARSE, "empty frame");
	if (n > ATTEST_WIRE_MAX_FRAME)
		return attest_fail(ATTEST_E_TOO_LARGE, "frame of %u bytes over cap %d", (unsigned)n,
				   ATTEST_WIRE_MAX_FRAME);
	*len = n;
	return ATTEST_OK;
}

int attest_wire_encode(const cJSON *obj, uint8_t **out, size_t *outlen)
{
	char *s = NULL;
	size_t n;
	uint8_t *buf;
	int r;

	*out = NULL;
	*outlen = 0;
	if ((r = attest_json_print(obj, &s, &n)) != ATTEST_OK)
		return r;
	if (n == 0 || n > ATTEST_WIRE_MAX_FRAME) {
		free(s);
		return attest_fail(ATTEST_E_TOO_LARGE, "message of %zu bytes over frame cap", n);
	}
	if ((buf = malloc(ATTEST_WIRE_HDR + n)) == NULL) {
		free(s);
		return attest_fail(ATTEST_E_NOMEM, "frame");
	}
	buf[0] = (uint8_t)(n >> 24);
	buf[1] = (uint8_t)(n >> 16);
	buf[2] = (uint8_t)(n >> 8);
	buf[3] = (uint8_t)n;
	memcpy(buf + ATTEST_WIRE_HDR, s, n);
	free(s);
	*out = buf;
	*outlen = ATTEST_WIRE_HDR + n;
	return ATTEST_OK;
}

int attest_wire_send(int fd, const cJSON *obj)
{
	uint8_t *buf = NULL;
	size_t len, off = 0;
	int r;

	if ((r = attest_wire_encode(obj, &buf, &len)) != ATTEST_OK)
		return r;
	while (off < len) {
		ssize_t w = send(fd, buf + off, len - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r = attest_fail(ATTEST_E_IO, "send: %s", w < 0 ? strerror(errno) : "closed");
			break;
		}
		off += (size_t)w;
	}
	free(buf);
	return r;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read exactly len bytes before the deadline. */
static int read_full(int fd, uint8_t *buf, size_t len, long long deadline)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - now_ms();
		ssize_t n;
		int pr;

		if (left <= 0)
			return attest_fail(ATTEST_E_TIMEOUT, "no complete frame in time");
		pr = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return attest_fail(ATTEST_E_IO, "poll: %s", strerror(errno));
		if (pr == 0)
			continue;
		n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return attest_fail(ATTEST_E_IO, "read: %s", strerror(errno));
		if (n == 0)
			return attest_fail(ATTEST_E_IO, "connection closed mid-frame");
		got += (size_t)n;
	}
	return ATTEST_OK;
}

int attest_wire_recv(int fd, int timeout_ms, cJSON **out)
{
	uint8_t hdr[ATTEST_WIRE_HDR], *body = NULL;
	long long deadline = now_ms() + timeout_ms;
	size_t len;
	int r;

	*out = NULL;
	if ((r = read_full(fd, hdr, sizeof(hdr), deadline)) != ATTEST_OK ||
	    (r = attest_wire_frame_len(hdr, &len)) != ATTEST_OK)
		return r;
	if ((body = malloc(len)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "frame");
	if ((r = read_full(fd, body, len, deadline)) == ATTEST_OK)
		r = attest_json_parse(body, len, ATTEST_WIRE_MAX_FRAME, out);
	free(body);
	return r;
}
