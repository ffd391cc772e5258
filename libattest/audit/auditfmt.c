/* auditfmt.c - frames, segment files and segment_start records of the
 * audit log (docs/audit.md, "File format"). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "audit/auditfmt.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"

void attest_auditfmt_header(size_t len, const uint8_t leaf[32], uint8_t hdr[AUDIT_FRAME_HDR])
{
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	memcpy(hdr + 4, leaf, 4);
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

int attest_auditfmt_parse(struct attest_auditfmt_scan *s, const uint8_t *buf, size_t len,
			  int final, int *stop)
{
	struct attest_cur c;
	uint8_t leaf[32];
	int r;

	*stop = ATTEST_AUDITFMT_END;
	if (buf == NULL && len > 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "audit frames: NULL buffer");
	attest_cur_init(&c, buf, len);
	for (;;) {
		struct attest_cur f = c;
		const uint8_t *check, *payload;
		uint32_t plen;

		if (attest_cur_end(&c)) {
			*stop = final ? ATTEST_AUDITFMT_END : ATTEST_AUDITFMT_MORE;
			return ATTEST_OK;
		}
		if (!attest_cur_u32be(&f, &plen) || !attest_cur_take(&f, 4, &check)) {
			*stop = final ? ATTEST_AUDITFMT_TORN : ATTEST_AUDITFMT_MORE; /* header cut short */
			return ATTEST_OK;
		}
		if (plen == 0 || plen > s->cap) {
			/* A zero-filled tail is a torn append; anything else here
			 * is not ours to cut. */
			if (plen == 0 && all_zero(check, 4)) {
				if (!final) {
					*stop = ATTEST_AUDITFMT_ZERO;
					return ATTEST_OK;
				}
				if (all_zero(attest_cur_ptr(&f), attest_cur_left(&f))) {
					*stop = ATTEST_AUDITFMT_TORN;
					return ATTEST_OK;
				}
			}
			return attest_fail(ATTEST_E_STATE,
					   "%s: frame %" PRIu64 " at byte %" PRIu64
					   " has length %u (cap %zu): corrupted",
					   s->name, s->index, s->off, (unsigned)plen, s->cap);
		}
		if (!attest_cur_take(&f, plen, &payload)) {
			*stop = final ? ATTEST_AUDITFMT_TORN : ATTEST_AUDITFMT_MORE; /* payload cut short */
			return ATTEST_OK;
		}
		if ((r = attest_merkle_leaf(payload, plen, leaf)) != ATTEST_OK)
			return r;
		if (CRYPTO_memcmp(leaf, check, 4) != 0) {
			if (final && attest_cur_end(&f)) {
				*stop = ATTEST_AUDITFMT_TORN; /* the last frame, half on disk */
				return ATTEST_OK;
			}
			return attest_fail(ATTEST_E_STATE,
					   "%s: frame %" PRIu64 " at byte %" PRIu64
					   " fails its check and more data follows: corrupted",
					   s->name, s->index, s->off);
		}
		if (s->fn != NULL && (r = s->fn(s->arg, s->index, payload, plen, leaf)) != ATTEST_OK)
			return r;
		c = f;
		s->off += AUDIT_FRAME_HDR + plen;
		s->index++;
	}
}

int attest_auditfmt_read_mem(const uint8_t *buf, size_t len, size_t cap,
			     attest_auditfmt_frame_fn fn, void *arg, uint64_t *good_end,
			     uint64_t *torn)
{
	struct attest_auditfmt_scan s = { .cap = cap, .fn = fn, .arg = arg, .name = "audit frames" };
	int stop, r;

	*good_end = 0;
	*torn = 0;
	if ((r = attest_auditfmt_parse(&s, buf, len, 1, &stop)) != ATTEST_OK)
		return r;
	*good_end = s.off;
	*torn = stop == ATTEST_AUDITFMT_TORN ? len - s.off : 0;
	return ATTEST_OK;
}

/* Fill buf with up to n bytes of fd from off; the count read (short only
 * at end of file), or -1 on a read error. */
static ssize_t pread_full(int fd, uint8_t *buf, size_t n, uint64_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = pread(fd, buf + got, n - got, (off_t)(off + got));

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

/* 1 if fd holds only zero bytes from off to its end: the shape a file
 * system leaves when it extended the file but the data never made it to
 * disk; 0 if not; -1 on a read error. */
static int rest_is_zero(int fd, uint64_t off, uint8_t *buf, size_t bufsz)
{
	for (;;) {
		ssize_t n = pread_full(fd, buf, bufsz, off);

		if (n < 0)
			return -1;
		if (n == 0)
			return 1;
		if (!all_zero(buf, (size_t)n))
			return 0;
		off += (uint64_t)n;
	}
}

/* Bytes read per window beyond one whole frame. */
#define AUDIT_READ_WINDOW (64 * 1024)

int attest_auditfmt_read(const char *path, size_t cap, attest_auditfmt_frame_fn fn, void *arg,
			 uint64_t *good_end, uint64_t *torn)
{
	struct attest_auditfmt_scan s = { .cap = cap, .fn = fn, .arg = arg, .name = path };
	struct stat st;
	uint8_t *buf = NULL;
	uint64_t fsize;
	size_t win;
	int fd, stop, r = ATTEST_E_INTERNAL;

	*good_end = 0;
	*torn = 0;
	if (cap == 0 || cap > UINT32_MAX)
		return attest_fail(ATTEST_E_INVALID_ARG, "audit frame cap %zu", cap);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return attest_fail(errno == ENOENT ? ATTEST_E_NOT_FOUND : ATTEST_E_IO, "open %s: %s",
				   path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		r = attest_fail(ATTEST_E_IO, "%s: not a regular file", path);
		goto out;
	}
	fsize = (uint64_t)st.st_size;
	/* A window always holds at least one whole frame, so each read
	 * either consumes a frame or ends the scan. */
	win = AUDIT_FRAME_HDR + cap + AUDIT_READ_WINDOW;
	if ((buf = malloc(win)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "audit read buffer");
		goto out;
	}
	for (;;) {
		uint64_t base = s.off;
		size_t want = fsize - base < win ? (size_t)(fsize - base) : win;
		ssize_t n = pread_full(fd, buf, want, base);

		if (n < 0) {
			r = attest_fail(ATTEST_E_IO, "read %s: %s", path, strerror(errno));
			goto out;
		}
		if ((size_t)n < want)
			fsize = base + (uint64_t)n; /* cut while we read: its end is here */
		if ((r = attest_auditfmt_parse(&s, buf, (size_t)n, base + (uint64_t)n == fsize,
					       &stop)) != ATTEST_OK)
			goto out;
		if (stop == ATTEST_AUDITFMT_MORE)
			continue;
		if (stop == ATTEST_AUDITFMT_ZERO) {
			int z = rest_is_zero(fd, s.off, buf, win);

			if (z < 0) {
				r = attest_fail(ATTEST_E_IO, "read %s: %s", path, strerror(errno));
				goto out;
			}
			if (z == 0) {
				r = attest_fail(ATTEST_E_STATE,
						"%s: frame %" PRIu64 " at byte %" PRIu64
						" has length 0 (cap %zu): corrupted",
						path, s.index, s.off, cap);
				goto out;
			}
			stop = ATTEST_AUDITFMT_TORN;
		}
		break;
	}
	*good_end = s.off;
	*torn = stop == ATTEST_AUDITFMT_TORN ? fsize - s.off : 0;
	r = ATTEST_OK;
out:
	free(buf);
	close(fd);
	return r;
}

int attest_auditfmt_seg_path(const char *dir, uint64_t first, const char *ext, char *out,
			     size_t outsz)
{
	int n = snprintf(out, outsz, "%s/seg-%016" PRIx64 ".%s", dir, first, ext);

	if (n < 0 || (size_t)n >= outsz)
		return attest_fail(ATTEST_E_INVALID_ARG, "audit path too long");
	return ATTEST_OK;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* "seg-" 16 lower-case hex ".log" exactly. */
static int seg_name(const char *name, uint64_t *first)
{
	uint64_t v = 0;

	if (strlen(name) != 4 + 16 + 4 || strncmp(name, "seg-", 4) != 0 ||
	    strcmp(name + 20, ".log") != 0)
		return 0;
	for (int i = 4; i < 20; i++) {
		char c = name[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return 0;
	}
	*first = v;
	return 1;
}

int attest_auditfmt_segments(const char *dir, uint64_t **firsts, size_t *n)
{
	DIR *d;
	struct dirent *e;
	uint64_t *v = NULL, first;
	size_t cap = 0, cnt = 0;
	int r = ATTEST_OK;

	*firsts = NULL;
	*n = 0;
	if ((d = opendir(dir)) == NULL)
		return attest_fail(errno == ENOENT ? ATTEST_E_NOT_FOUND : ATTEST_E_IO,
				   "open audit directory %s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (!seg_name(e->d_name, &first))
			continue;
		if (cnt == cap) {
			uint64_t *nv;

			cap = cap ? 2 * cap : 16;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				r = attest_fail(ATTEST_E_NOMEM, "segment list");
				break;
			}
			v = nv;
		}
		v[cnt++] = first;
	}
	closedir(d);
	if (r != ATTEST_OK) {
		free(v);
		return r;
	}
	if (cnt > 0)
		qsort(v, cnt, sizeof(*v), cmp_u64);
	*firsts = v;
	*n = cnt;
	return ATTEST_OK;
}

int attest_auditfmt_log_id(const char *dir, uint8_t id[ATTEST_AUDIT_LOG_ID_LEN])
{
	static const char *const keys[] = { "v", "log_id", "created", NULL };
	char path[4096];
	uint8_t *buf = NULL;
	size_t len;
	cJSON *o = NULL;
	const char *s;
	int r, n = snprintf(path, sizeof(path), "%s/%s", dir, AUDIT_LOG_FILE);

	if (n < 0 || (size_t)n >= sizeof(path))
		return attest_fail(ATTEST_E_INVALID_ARG, "audit path too long");
	if ((r = attest_file_read(path, 4096, &buf, &len)) != ATTEST_OK)
		return r;
	if ((r = attest_json_parse(buf, len, 4096, &o)) != ATTEST_OK ||
	    (r = attest_json_only(o, keys)) != ATTEST_OK ||
	    (r = attest_json_str(o, "log_id", 2 * ATTEST_AUDIT_LOG_ID_LEN, &s)) != ATTEST_OK ||
	    (r = attest_unhex(s, id, ATTEST_AUDIT_LOG_ID_LEN)) != ATTEST_OK)
		r = attest_fail_wrap(r, "%s", path);
	cJSON_Delete(o);
	free(buf);
	return r;
}

static int add_hex(cJSON *o, const char *key, const uint8_t *data, size_t n)
{
	char hex[2 * 64 + 1];

	attest_hex(data, n, hex);
	return attest_json_add_str(o, key, hex);
}

int attest_auditfmt_start_build(const uint8_t log_id[ATTEST_AUDIT_LOG_ID_LEN],
				const struct attest_merkle_frontier *f, uint64_t time,
				char **json, size_t *len)
{
	uint8_t root[32];
	char hex[65];
	cJSON *o = cJSON_CreateObject(), *arr;
	int r;

	if (o == NULL)
		return attest_fail(ATTEST_E_NOMEM, "segment_start record");
	if ((r = attest_json_add_u64(o, "time", time)) != ATTEST_OK ||
	    (r = attest_json_add_str(o, "type", "segment_start")) != ATTEST_OK ||
	    (r = add_hex(o, "log_id", log_id, ATTEST_AUDIT_LOG_ID_LEN)) != ATTEST_OK ||
	    (r = attest_json_add_u64(o, "segment", f->size)) != ATTEST_OK ||
	    (r = attest_merkle_frontier_root(f, root)) != ATTEST_OK ||
	    (r = add_hex(o, "prev_root", root, 32)) != ATTEST_OK)
		goto out;
	if ((arr = cJSON_AddArrayToObject(o, "frontier")) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "segment_start record");
		goto out;
	}
	/* Perfect subtrees from the left (largest) to the right. */
	for (int i = 63; i >= 0; i--) {
		if (!((f->size >> i) & 1))
			continue;
		attest_hex(f->node[i], 32, hex);
		cJSON_AddItemToArray(arr, cJSON_CreateString(hex));
	}
	r = attest_json_print(o, json, len);
out:
	cJSON_Delete(o);
	return r;
}

int attest_auditfmt_start_parse(const uint8_t *rec, size_t len,
				const uint8_t log_id[ATTEST_AUDIT_LOG_ID_LEN], uint64_t first,
				struct attest_auditfmt_start *out)
{
	static const char *const keys[] = { "time", "type", "log_id", "segment", "prev_root",
					    "frontier", NULL };
	uint8_t id[ATTEST_AUDIT_LOG_ID_LEN], root[32];
	const cJSON *arr, *it;
	const char *s;
	cJSON *o = NULL;
	int r, i = 63;

	memset(out, 0, sizeof(*out));
	if ((r = attest_json_parse(rec, len, ATTEST_AUDIT_RECORD_MAX, &o)) != ATTEST_OK ||
	    (r = attest_json_only(o, keys)) != ATTEST_OK ||
	    (r = attest_json_str(o, "type", 32, &s)) != ATTEST_OK)
		goto out;
	if (strcmp(s, "segment_start") != 0) {
		r = attest_fail(ATTEST_E_STATE, "segment does not begin with a segment_start record");
		goto out;
	}
	if ((r = attest_json_u64(o, "time", &out->time)) != ATTEST_OK ||
	    (r = attest_json_u64(o, "segment", &out->first)) != ATTEST_OK ||
	    (r = attest_json_str(o, "log_id", 32, &s)) != ATTEST_OK ||
	    (r = attest_unhex(s, id, sizeof(id))) != ATTEST_OK ||
	    (r = attest_json_str(o, "prev_root", 64, &s)) != ATTEST_OK ||
	    (r = attest_unhex(s, out->prev_root, 32)) != ATTEST_OK)
		goto out;
	if (CRYPTO_memcmp(id, log_id, sizeof(id)) != 0 || out->first != first) {
		r = attest_fail(ATTEST_E_STATE,
				"segment %016" PRIx64 " names another log or position (%" PRIu64 ")",
				first, out->first);
		goto out;
	}
	arr = cJSON_GetObjectItemCaseSensitive(o, "frontier");
	if (!cJSON_IsArray(arr)) {
		r = attest_fail(ATTEST_E_PARSE, "segment_start: frontier is not an array");
		goto out;
	}
	out->frontier.size = first;
	cJSON_ArrayForEach(it, arr)
	{
		while (i >= 0 && !((first >> i) & 1))
			i--;
		if (i < 0 || !cJSON_IsString(it) ||
		    attest_unhex(it->valuestring, out->frontier.node[i], 32) != ATTEST_OK) {
			r = attest_fail(ATTEST_E_STATE, "segment_start: frontier does not fit %" PRIu64,
					first);
			goto out;
		}
		i--;
	}
	while (i >= 0 && !((first >> i) & 1))
		i--;
	if (i >= 0) {
		r = attest_fail(ATTEST_E_STATE, "segment_start: frontier too short for %" PRIu64, first);
		goto out;
	}
	if ((r = attest_merkle_frontier_root(&out->frontier, root)) != ATTEST_OK)
		goto out;
	if (CRYPTO_memcmp(root, out->prev_root, 32) != 0) {
		r = attest_fail(ATTEST_E_STATE, "segment_start: prev_root is not the frontier's root");
		goto out;
	}
	r = ATTEST_OK;
out:
	cJSON_Delete(o);
	return r;
}
