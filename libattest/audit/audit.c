/* audit.c - the audit log writer: canonical records, append with group
 * commit, torn-tail repair at open, refusal aggregation, checkpoints,
 * rotation and retention. See audit.h and docs/audit.md. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "audit/audit.h"
#include "audit/auditfmt.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "tpm/tpm.h"

#define PATH_CAP 4096

struct refusal_slot {
	char *source;
	char *reason;
	uint64_t repeats; /* refusals after the first, not recorded one by one */
	int done;         /* flush: already in its source's aggregate */
};

struct attest_audit {
	char dir[PATH_CAP];
	struct attest_audit_opts o;
	uint8_t log_id[ATTEST_AUDIT_LOG_ID_LEN];
	int fd;                 /* current segment, O_APPEND */
	int ckfd;               /* its checkpoint file, -1 until first use */
	int lockfd;             /* DIR/writer.lock: one writer per log */
	/* torn tails cut at open: bytes, and the segment (first record) */
	uint64_t torn_log, torn_ckpt, torn_seg;
	uint64_t seg_first;     /* first record of the current segment */
	uint64_t seg_bytes;     /* bytes of the current segment */
	struct attest_merkle_frontier tree;
	uint64_t synced;        /* records known durable */
	int broken;             /* a failed write could not be cut off, or a sync failed */
	int have_ckpt;
	struct attest_audit_ckpt last;
	uint8_t *frame;         /* header + payload of one record */
	/* refusal aggregation */
	struct refusal_slot *slots;
	size_t nslots, used;
	uint64_t refusal_start;
	uint64_t overflow;
};

static attest_audit_hook_fn audit_hook;
static attest_audit_sync_fn audit_sync_fn;

void attest_audit_set_hook(attest_audit_hook_fn fn) { audit_hook = fn; }
void attest_audit_set_sync_fn(attest_audit_sync_fn fn) { audit_sync_fn = fn; }

int attest_audit_fdatasync(int fd)
{
	return audit_sync_fn != NULL ? audit_sync_fn(fd) : fdatasync(fd);
}

static void hook(int step, uint64_t seq)
{
	if (audit_hook != NULL)
		audit_hook(step, seq);
}

static uint64_t now_s(void) { return (uint64_t)time(NULL); }

/* ---- canonical records ---- */

static int add_opt(cJSON *o, const char *key, const char *v)
{
	if (v == NULL)
		return ATTEST_OK;
	if (strlen(v) > ATTEST_AUDIT_FIELD_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "audit field %s over %d bytes", key,
				   ATTEST_AUDIT_FIELD_MAX);
	return attest_json_add_str(o, key, v);
}

static int add_list(cJSON *o, const char *key, const char *const *v, size_t n)
{
	cJSON *arr;

	if (n == 0)
		return ATTEST_OK;
	if (v == NULL || n > ATTEST_AUDIT_LIST_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "audit field %s: %zu items (max %d)", key, n,
				   ATTEST_AUDIT_LIST_MAX);
	if ((arr = cJSON_AddArrayToObject(o, key)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "audit record");
	for (size_t i = 0; i < n; i++) {
		cJSON *s;

		if (v[i] == NULL || strlen(v[i]) > ATTEST_AUDIT_FIELD_MAX)
			return attest_fail(ATTEST_E_INVALID_ARG, "audit field %s[%zu] missing or too long",
					   key, i);
		if ((s = cJSON_CreateString(v[i])) == NULL)
			return attest_fail(ATTEST_E_NOMEM, "audit record");
		cJSON_AddItemToArray(arr, s);
	}
	return ATTEST_OK;
}

int attest_audit_record(const struct attest_audit_event *ev, char **json, size_t *len)
{
	cJSON *o = NULL, *evid;
	int r;

	*json = NULL;
	if (ev == NULL || ev->type == NULL || ev->type[0] == '\0')
		return attest_fail(ATTEST_E_INVALID_ARG, "audit event without a type");
	if ((o = cJSON_CreateObject()) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "audit record");
	/* The order of docs/audit.md, "Record schema". */
	if ((r = attest_json_add_u64(o, "time", ev->time != 0 ? ev->time : now_s())) != ATTEST_OK ||
	    (r = add_opt(o, "type", ev->type)) != ATTEST_OK ||
	    (r = add_opt(o, "host", ev->host)) != ATTEST_OK ||
	    (r = add_opt(o, "source", ev->source)) != ATTEST_OK ||
	    (r = add_opt(o, "user", ev->user)) != ATTEST_OK ||
	    (r = add_list(o, "agents", ev->agents, ev->nagents)) != ATTEST_OK ||
	    (r = add_opt(o, "purpose", ev->purpose)) != ATTEST_OK ||
	    (r = add_opt(o, "purpose_text", ev->purpose_text)) != ATTEST_OK ||
	    (r = add_opt(o, "subject", ev->subject)) != ATTEST_OK ||
	    (r = add_list(o, "scopes", ev->scopes, ev->nscopes)) != ATTEST_OK ||
	    (r = add_list(o, "dns_names", ev->dns_names, ev->ndns_names)) != ATTEST_OK ||
	    (r = add_opt(o, "action", ev->action)) != ATTEST_OK ||
	    (r = add_opt(o, "resource", ev->resource)) != ATTEST_OK ||
	    (r = add_opt(o, "outcome", ev->outcome)) != ATTEST_OK ||
	    (r = add_opt(o, "reason", ev->reason)) != ATTEST_OK)
		goto out;
	if (ev->cert_serial != NULL || ev->cert_sha256 != NULL || ev->quote_sha256 != NULL) {
		if ((evid = cJSON_AddObjectToObject(o, "evidence")) == NULL) {
			r = attest_fail(ATTEST_E_NOMEM, "audit record");
			goto out;
		}
		if ((r = add_opt(evid, "cert_serial", ev->cert_serial)) != ATTEST_OK ||
		    (r = add_opt(evid, "cert_sha256", ev->cert_sha256)) != ATTEST_OK ||
		    (r = add_opt(evid, "quote_sha256", ev->quote_sha256)) != ATTEST_OK)
			goto out;
	}
	if ((r = attest_json_print(o, json, len)) == ATTEST_OK && *len > ATTEST_AUDIT_RECORD_MAX) {
		free(*json);
		*json = NULL;
		r = attest_fail(ATTEST_E_TOO_LARGE, "audit record of %zu bytes", *len);
	}
out:
	cJSON_Delete(o);
	return r;
}

/* ---- files ---- */

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int open_append(const char *path, int create, int *fd)
{
	int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0);

	if ((*fd = open(path, flags, 0600)) < 0)
		return attest_fail(ATTEST_E_IO, "open %s: %s", path, strerror(errno));
	return ATTEST_OK;
}

/* Cut a file back to its last whole frame: ftruncate + fsync; the frames
 * before stay as they are. */
static int cut_tail(const char *path, uint64_t good_end)
{
	int fd, r = ATTEST_OK;

	if ((fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return attest_fail(ATTEST_E_IO, "open %s: %s", path, strerror(errno));
	if (ftruncate(fd, (off_t)good_end) != 0 || fsync(fd) != 0)
		r = attest_fail(ATTEST_E_IO, "truncate torn tail of %s: %s", path, strerror(errno));
	close(fd);
	return r;
}

/* Frame payload into log->frame; *flen its length. */
static int frame(struct attest_audit *log, const void *payload, size_t len, size_t *flen,
		 uint8_t leaf[32])
{
	int r;

	if ((r = attest_merkle_leaf(payload, len, leaf)) != ATTEST_OK)
		return r;
	attest_auditfmt_header(len, leaf, log->frame);
	memcpy(log->frame + AUDIT_FRAME_HDR, payload, len);
	*flen = AUDIT_FRAME_HDR + len;
	return ATTEST_OK;
}

/* ---- opening ---- */

static int create_log_id(const char *dir, uint8_t id[ATTEST_AUDIT_LOG_ID_LEN])
{
	char path[PATH_CAP], *json = NULL;
	uint8_t fresh[ATTEST_AUDIT_LOG_ID_LEN];
	cJSON *o = cJSON_CreateObject();
	size_t len;
	int r, n;

	if (o == NULL)
		return attest_fail(ATTEST_E_NOMEM, "log.json");
	n = snprintf(path, sizeof(path), "%s/%s", dir, AUDIT_LOG_FILE);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "audit path too long");
		goto out;
	}
	if (RAND_bytes(fresh, sizeof(fresh)) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "log ID");
		goto out;
	}
	{
		char hex[2 * ATTEST_AUDIT_LOG_ID_LEN + 1];

		attest_hex(fresh, sizeof(fresh), hex);
		if ((r = attest_json_add_str(o, "v", "1")) != ATTEST_OK ||
		    (r = attest_json_add_str(o, "log_id", hex)) != ATTEST_OK ||
		    (r = attest_json_add_u64(o, "created", now_s())) != ATTEST_OK ||
		    (r = attest_json_print(o, &json, &len)) != ATTEST_OK)
			goto out;
	}
	r = attest_file_create_atomic(path, json, len, 0600);
	if (r == ATTEST_E_EXISTS) /* created meanwhile: use that one */
		r = attest_auditfmt_log_id(dir, id);
	else if (r == ATTEST_OK)
		memcpy(id, fresh, sizeof(fresh));
out:
	free(json);
	cJSON_Delete(o);
	return r;
}

/* Write the segment that starts at log->tree.size: its segment_start
 * record goes into a temporary file that is fsynced and linked into place,
 * so the segment exists whole or not at all. Switches log->fd to it. */
static int start_segment(struct attest_audit *log)
{
	char path[PATH_CAP], *json = NULL;
	uint8_t leaf[32];
	size_t len, flen;
	int fd = -1, r;

	if ((r = attest_auditfmt_start_build(log->log_id, &log->tree, now_s(), &json, &len)) !=
		    ATTEST_OK ||
	    (r = frame(log, json, len, &flen, leaf)) != ATTEST_OK ||
	    (r = attest_auditfmt_seg_path(log->dir, log->tree.size, "log", path, sizeof(path))) !=
		    ATTEST_OK ||
	    (r = attest_file_create_atomic(path, log->frame, flen, 0600)) != ATTEST_OK ||
	    (r = open_append(path, 0, &fd)) != ATTEST_OK)
		goto out;
	if (log->fd >= 0)
		close(log->fd);
	if (log->ckfd >= 0)
		close(log->ckfd);
	log->ckfd = -1;
	log->fd = fd;
	log->seg_first = log->tree.size;
	log->seg_bytes = flen;
	if ((r = attest_merkle_frontier_append(&log->tree, leaf)) != ATTEST_OK)
		goto out;
	log->synced = log->tree.size; /* durable: fsynced before the link */
out:
	free(json);
	return r;
}

struct open_scan {
	struct attest_audit *log;
	int started;
};

static int open_scan_record(void *arg, uint64_t index, const uint8_t *rec, size_t len,
			    const uint8_t leaf[32])
{
	struct open_scan *s = arg;
	struct attest_auditfmt_start st;
	int r;

	if (index == 0) {
		if ((r = attest_auditfmt_start_parse(rec, len, s->log->log_id, s->log->seg_first,
						     &st)) != ATTEST_OK)
			return r;
		s->log->tree = st.frontier;
		s->started = 1;
	}
	return attest_merkle_frontier_append(&s->log->tree, leaf);
}

static int ckpt_scan_record(void *arg, uint64_t index, const uint8_t *rec, size_t len,
			    const uint8_t leaf[32])
{
	struct attest_audit *log = arg;
	int r;

	(void)index;
	(void)leaf;
	if ((r = attest_audit_ckpt_from_json(rec, len, &log->last)) != ATTEST_OK)
		return r;
	log->have_ckpt = 1;
	return ATTEST_OK;
}

/* The latest stored checkpoint: from the newest segment that has one. A
 * torn tail of the current segment's checkpoint file is cut. */
static int load_last_ckpt(struct attest_audit *log, const uint64_t *firsts, size_t n)
{
	char path[PATH_CAP];
	uint64_t good, torn;
	int r;

	for (size_t i = n; i-- > 0;) {
		if ((r = attest_auditfmt_seg_path(log->dir, firsts[i], "ckpt", path, sizeof(path))) !=
		    ATTEST_OK)
			return r;
		r = attest_auditfmt_read(path, ATTEST_AUDIT_CKPT_MAX, ckpt_scan_record, log, &good,
					 &torn);
		if (r == ATTEST_E_NOT_FOUND)
			continue;
		if (r != ATTEST_OK)
			return r;
		if (torn > 0 && i == n - 1) {
			if ((r = cut_tail(path, good)) != ATTEST_OK)
				return r;
			log->torn_ckpt = torn;
		}
		if (log->have_ckpt)
			return ATTEST_OK;
	}
	return ATTEST_OK;
}

static void opts_default(struct attest_audit_opts *o, const struct attest_audit_opts *in)
{
	if (in != NULL)
		*o = *in;
	else
		memset(o, 0, sizeof(*o));
	if (o->nv_index == 0)
		o->nv_index = ATTEST_AUDIT_NV_INDEX;
	if (o->ckpt_interval_s == 0)
		o->ckpt_interval_s = ATTEST_AUDIT_CKPT_INTERVAL_S;
	if (o->ckpt_records == 0)
		o->ckpt_records = ATTEST_AUDIT_CKPT_RECORDS;
	if (o->segment_records == 0)
		o->segment_records = ATTEST_AUDIT_SEGMENT_RECORDS;
	if (o->segment_bytes == 0)
		o->segment_bytes = ATTEST_AUDIT_SEGMENT_BYTES;
	if (o->retention_s == 0)
		o->retention_s = ATTEST_AUDIT_RETENTION_S;
	if (o->refusal_interval_s == 0)
		o->refusal_interval_s = ATTEST_AUDIT_REFUSAL_INTERVAL_S;
	if (o->refusal_keys == 0)
		o->refusal_keys = ATTEST_AUDIT_REFUSAL_KEYS;
}

int attest_audit_open(const char *dir, const struct attest_audit_opts *opts,
		      struct attest_audit **out)
{
	struct attest_audit *log = NULL;
	struct open_scan scan = { 0 };
	uint64_t *firsts = NULL, good, torn;
	char path[PATH_CAP];
	size_t n = 0;
	int r = ATTEST_E_INTERNAL;

	*out = NULL;
	if (dir == NULL || strlen(dir) >= PATH_CAP - 64)
		return attest_fail(ATTEST_E_INVALID_ARG, "audit directory missing or too long");
	if ((log = calloc(1, sizeof(*log))) == NULL ||
	    (log->frame = malloc(AUDIT_FRAME_HDR + ATTEST_AUDIT_RECORD_MAX)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "audit open");
		goto out;
	}
	log->fd = log->ckfd = log->lockfd = -1;
	memcpy(log->dir, dir, strlen(dir) + 1);
	opts_default(&log->o, opts);
	if (log->o.segment_bytes > UINT32_MAX || log->o.refusal_keys > 1u << 20) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "audit options out of range");
		goto out;
	}
	log->nslots = 2 * log->o.refusal_keys;
	if ((log->slots = calloc(log->nslots, sizeof(*log->slots))) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "audit open");
		goto out;
	}
	if ((r = attest_dir_ensure(dir, 0700)) != ATTEST_OK)
		goto out;
	/* Two writers appending to one segment would interleave frames and
	 * the log would verify as tampered for ever: one writer at a time. */
	(void)snprintf(path, sizeof(path), "%s/writer.lock", dir);
	if ((r = attest_lock_file(path, &log->lockfd)) != ATTEST_OK)
		goto out;
	r = attest_auditfmt_log_id(dir, log->log_id);
	if (r == ATTEST_E_NOT_FOUND)
		r = create_log_id(dir, log->log_id);
	if (r != ATTEST_OK || (r = attest_auditfmt_segments(dir, &firsts, &n)) != ATTEST_OK)
		goto out;
	attest_merkle_frontier_init(&log->tree);
	if (n == 0) {
		r = start_segment(log);
		goto out;
	}
	/* Only the current (last) segment is read: its segment_start record
	 * carries the tree before it. */
	log->seg_first = firsts[n - 1];
	scan.log = log;
	if ((r = attest_auditfmt_seg_path(dir, log->seg_first, "log", path, sizeof(path))) !=
		    ATTEST_OK ||
	    (r = attest_auditfmt_read(path, ATTEST_AUDIT_RECORD_MAX, open_scan_record, &scan, &good,
				      &torn)) != ATTEST_OK)
		goto out;
	if (!scan.started) {
		/* Created by link(2) whole, so never empty unless tampered with. */
		r = attest_fail(ATTEST_E_STATE, "%s has no segment_start record", path);
		goto out;
	}
	if (torn > 0) {
		if ((r = cut_tail(path, good)) != ATTEST_OK)
			goto out;
		log->torn_log = torn;
	}
	log->torn_seg = log->seg_first;
	log->seg_bytes = good;
	log->synced = log->tree.size;
	if ((r = open_append(path, 0, &log->fd)) != ATTEST_OK ||
	    (r = load_last_ckpt(log, firsts, n)) != ATTEST_OK)
		goto out;
	if (log->have_ckpt && log->last.size > log->tree.size) {
		r = attest_fail(ATTEST_E_STATE,
				"last checkpoint covers %" PRIu64 " records, the log holds %" PRIu64,
				log->last.size, log->tree.size);
		goto out;
	}
	r = ATTEST_OK;
out:
	free(firsts);
	if (r == ATTEST_OK) {
		*out = log;
		log = NULL; /* transferred */
	}
	attest_audit_close(log);
	return r;
}

static void refusal_clear(struct attest_audit *log)
{
	for (size_t i = 0; i < log->nslots; i++) {
		free(log->slots[i].source);
		free(log->slots[i].reason);
		memset(&log->slots[i], 0, sizeof(log->slots[i]));
	}
	log->used = 0;
	log->overflow = 0;
}

void attest_audit_close(struct attest_audit *log)
{
	if (log == NULL)
		return;
	if (log->fd >= 0) {
		if (log->synced != log->tree.size)
			(void)fdatasync(log->fd);
		close(log->fd);
	}
	if (log->ckfd >= 0)
		close(log->ckfd);
	if (log->lockfd >= 0)
		close(log->lockfd); /* after the last write */
	if (log->slots != NULL)
		refusal_clear(log);
	free(log->slots);
	free(log->frame);
	OPENSSL_cleanse(log, sizeof(*log));
	free(log);
}

void attest_audit_torn(const struct attest_audit *log, uint64_t *log_bytes, uint64_t *ckpt_bytes,
		       uint64_t *segment)
{
	*log_bytes = log->torn_log;
	*ckpt_bytes = log->torn_ckpt;
	*segment = log->torn_seg;
}

uint64_t attest_audit_size(const struct attest_audit *log) { return log->tree.size; }
uint64_t attest_audit_synced(const struct attest_audit *log) { return log->synced; }

int attest_audit_root(const struct attest_audit *log, uint8_t root[32])
{
	return attest_merkle_frontier_root(&log->tree, root);
}

void attest_audit_log_id(const struct attest_audit *log, uint8_t id[ATTEST_AUDIT_LOG_ID_LEN])
{
	memcpy(id, log->log_id, ATTEST_AUDIT_LOG_ID_LEN);
}

/* ---- appending ---- */

/* A record is a JSON object with at least a "type" and a decimal "time". */
static int check_record(const void *json, size_t len)
{
	cJSON *o = NULL;
	const char *type;
	uint64_t t;
	int r;

	if ((r = attest_json_parse(json, len, ATTEST_AUDIT_RECORD_MAX, &o)) != ATTEST_OK)
		return r;
	if (!cJSON_IsObject(o))
		r = attest_fail(ATTEST_E_PARSE, "audit record is not a JSON object");
	else if ((r = attest_json_str(o, "type", ATTEST_AUDIT_FIELD_MAX, &type)) == ATTEST_OK)
		r = attest_json_u64(o, "time", &t);
	cJSON_Delete(o);
	return r;
}

#define BROKEN_MSG "audit log refuses writes after a failed cut or sync; reopen it"

int attest_audit_sync(struct attest_audit *log)
{
	if (log->broken)
		return attest_fail(ATTEST_E_IO, BROKEN_MSG);
	if (log->synced == log->tree.size)
		return ATTEST_OK;
	if (attest_audit_fdatasync(log->fd) != 0) {
		/* the kernel may have dropped the pages it could not write:
		 * a later sync that succeeds would not prove they are on disk */
		log->broken = 1;
		return attest_fail(ATTEST_E_IO, "fdatasync audit segment: %s", strerror(errno));
	}
	log->synced = log->tree.size;
	hook(ATTEST_AUDIT_STEP_SYNCED, log->synced);
	return ATTEST_OK;
}

int attest_audit_sync_begin(struct attest_audit *log, int *fd, uint64_t *upto)
{
	*fd = -1;
	*upto = log->synced;
	if (log->broken)
		return attest_fail(ATTEST_E_IO, BROKEN_MSG);
	if (log->synced == log->tree.size)
		return ATTEST_OK;
	if ((*fd = fcntl(log->fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return attest_fail(ATTEST_E_IO, "dup audit segment: %s", strerror(errno));
	*upto = log->tree.size;
	return ATTEST_OK;
}

int attest_audit_sync_end(struct attest_audit *log, uint64_t upto, int err)
{
	if (err != 0) {
		log->broken = 1;
		return attest_fail(ATTEST_E_IO, "fdatasync audit segment: %s", strerror(err));
	}
	if (log->broken)
		return attest_fail(ATTEST_E_IO, BROKEN_MSG);
	if (upto > log->synced && upto <= log->tree.size) {
		log->synced = upto;
		hook(ATTEST_AUDIT_STEP_SYNCED, log->synced);
	}
	return ATTEST_OK;
}

int attest_audit_append(struct attest_audit *log, const void *json, size_t len, uint64_t *seq)
{
	uint8_t leaf[32];
	size_t flen, half;
	uint64_t s;
	int r;

	if (log->broken)
		return attest_fail(ATTEST_E_IO, BROKEN_MSG);
	if (json == NULL || len == 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "empty audit record");
	if ((r = check_record(json, len)) != ATTEST_OK)
		return r;
	if (log->tree.size - log->seg_first >= log->o.segment_records ||
	    log->seg_bytes + AUDIT_FRAME_HDR + len > log->o.segment_bytes) {
		/* The old segment's records must be durable before its
		 * successor exists. */
		if ((r = attest_audit_sync(log)) != ATTEST_OK ||
		    (r = attest_audit_rotate(log, NULL)) != ATTEST_OK)
			return r;
	}
	s = log->tree.size;
	if ((r = frame(log, json, len, &flen, leaf)) != ATTEST_OK)
		return r;
	hook(ATTEST_AUDIT_STEP_APPEND_BEGIN, s);
	/* With a hook (tests) the frame goes out in two writes, so a kill can
	 * land between them; otherwise in one. */
	half = audit_hook != NULL ? flen / 2 : flen;
	if (write_all(log->fd, log->frame, half) != 0 ||
	    (hook(ATTEST_AUDIT_STEP_APPEND_HALF, s), 0) ||
	    write_all(log->fd, log->frame + half, flen - half) != 0) {
		int e = errno;

		/* Cut the partial frame off so the segment stays whole. */
		if (ftruncate(log->fd, (off_t)log->seg_bytes) != 0)
			log->broken = 1;
		return attest_fail(ATTEST_E_IO, "append audit record: %s", strerror(e));
	}
	if ((r = attest_merkle_frontier_append(&log->tree, leaf)) != ATTEST_OK)
		return r;
	log->seg_bytes += flen;
	hook(ATTEST_AUDIT_STEP_APPEND_WRITTEN, s);
	if (seq != NULL)
		*seq = s;
	return ATTEST_OK;
}

int attest_audit_append_event(struct attest_audit *log, const struct attest_audit_event *ev,
			      uint64_t *seq)
{
	char *json = NULL;
	size_t len;
	int r;

	if ((r = attest_audit_record(ev, &json, &len)) != ATTEST_OK)
		return r;
	r = attest_audit_append(log, json, len, seq);
	free(json);
	return r;
}

/* ---- refusal aggregation ---- */

static uint64_t fnv1a(const char *a, const char *b)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const char *p = a; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	h = (h ^ 0xff) * 0x100000001b3ull;
	for (const char *p = b; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	return h;
}

static int aggregate_source(struct attest_audit *log, size_t first, uint64_t now)
{
	const char *source = log->slots[first].source;
	cJSON *o = cJSON_CreateObject(), *counts;
	char *json = NULL;
	uint64_t total = 0;
	size_t len;
	int r;

	if (o == NULL)
		return attest_fail(ATTEST_E_NOMEM, "refusal aggregate");
	if ((r = attest_json_add_u64(o, "time", now)) != ATTEST_OK ||
	    (r = attest_json_add_str(o, "type", "refusal_aggregate")) != ATTEST_OK ||
	    (r = attest_json_add_str(o, "source", source)) != ATTEST_OK ||
	    (r = attest_json_add_u64(o, "from", log->refusal_start)) != ATTEST_OK ||
	    (r = attest_json_add_u64(o, "to", now)) != ATTEST_OK)
		goto out;
	if ((counts = cJSON_AddObjectToObject(o, "repeats")) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "refusal aggregate");
		goto out;
	}
	for (size_t i = first; i < log->nslots; i++) {
		struct refusal_slot *s = &log->slots[i];

		if (s->source == NULL || s->done || strcmp(s->source, source) != 0)
			continue;
		s->done = 1;
		if (s->repeats == 0)
			continue;
		total += s->repeats;
		if ((r = attest_json_add_u64(counts, s->reason, s->repeats)) != ATTEST_OK)
			goto out;
	}
	if (total == 0) {
		r = ATTEST_OK;
		goto out;
	}
	if ((r = attest_json_add_u64(o, "total", total)) != ATTEST_OK ||
	    (r = attest_json_print(o, &json, &len)) != ATTEST_OK)
		goto out;
	r = attest_audit_append(log, json, len, NULL);
out:
	free(json);
	cJSON_Delete(o);
	return r;
}

int attest_audit_refusal_flush(struct attest_audit *log, uint64_t now, int force)
{
	int r;

	if (log->refusal_start == 0 ||
	    (!force && now < log->refusal_start + log->o.refusal_interval_s))
		return ATTEST_OK;
	for (size_t i = 0; i < log->nslots; i++)
		if (log->slots[i].source != NULL && !log->slots[i].done &&
		    (r = aggregate_source(log, i, now)) != ATTEST_OK)
			return r;
	if (log->overflow > 0) {
		struct attest_audit_event ev = { .time = now, .type = "refusal_aggregate",
						 .source = "*", .outcome = "deny" };
		char reason[64];

		snprintf(reason, sizeof(reason), "%" PRIu64 " refusals beyond %zu tracked keys",
			 log->overflow, log->o.refusal_keys);
		ev.reason = reason;
		if ((r = attest_audit_append_event(log, &ev, NULL)) != ATTEST_OK)
			return r;
	}
	refusal_clear(log);
	log->refusal_start = 0;
	return ATTEST_OK;
}

int attest_audit_refusal(struct attest_audit *log, const char *source, const char *reason,
			 const struct attest_audit_event *ev, uint64_t now)
{
	struct attest_audit_event e;
	struct refusal_slot *slot;
	size_t i;
	int r;

	if (source == NULL || reason == NULL || strlen(source) > 256 || strlen(reason) > 256)
		return attest_fail(ATTEST_E_INVALID_ARG, "refusal: source and reason of 0-256 bytes");
	if (now == 0)
		now = now_s();
	if ((r = attest_audit_refusal_flush(log, now, 0)) != ATTEST_OK)
		return r;
	if (log->refusal_start == 0)
		log->refusal_start = now;
	i = (size_t)(fnv1a(source, reason) % log->nslots);
	for (;;) {
		slot = &log->slots[i];
		if (slot->source == NULL)
			break;
		if (strcmp(slot->source, source) == 0 && strcmp(slot->reason, reason) == 0) {
			slot->repeats++;
			return ATTEST_OK;
		}
		i = (i + 1) % log->nslots;
	}
	if (log->used >= log->o.refusal_keys) {
		log->overflow++;
		return ATTEST_OK;
	}
	if ((slot->source = strdup(source)) == NULL || (slot->reason = strdup(reason)) == NULL) {
		free(slot->source);
		slot->source = NULL;
		return attest_fail(ATTEST_E_NOMEM, "refusal");
	}
	log->used++;
	/* The first of its kind in this interval: recorded in full now. */
	if (ev != NULL)
		e = *ev;
	else
		memset(&e, 0, sizeof(e));
	e.time = now;
	if (e.type == NULL)
		e.type = "refusal";
	if (e.outcome == NULL)
		e.outcome = "deny";
	e.source = source;
	e.reason = reason;
	return attest_audit_append_event(log, &e, NULL);
}

/* ---- checkpoints ---- */

int attest_audit_checkpoint_due(const struct attest_audit *log, uint64_t now)
{
	uint64_t since = log->have_ckpt ? log->last.size : 0;
	uint64_t fresh = log->tree.size - since;

	if (fresh == 0)
		return 0;
	if (!log->have_ckpt || fresh >= log->o.ckpt_records)
		return 1;
	return now >= log->last.time + log->o.ckpt_interval_s;
}

int attest_audit_last_checkpoint(const struct attest_audit *log, struct attest_audit_ckpt *out)
{
	if (!log->have_ckpt)
		return attest_fail(ATTEST_E_NOT_FOUND, "no checkpoint yet");
	*out = log->last;
	return ATTEST_OK;
}

/* The counter value for this checkpoint; docs/audit.md, "Counter". */
static int next_counter(struct attest_audit *log, struct attest_tpm *tpm, uint64_t *value)
{
	uint64_t cur = 0;
	int r;

	if ((r = attest_tpm_nv_counter_define(tpm, log->o.nv_index, NULL)) != ATTEST_OK)
		return r;
	r = attest_tpm_nv_counter_read(tpm, log->o.nv_index, &cur);
	if (r == ATTEST_E_STATE && !log->have_ckpt) /* defined, never incremented */
		r = ATTEST_OK;
	if (r != ATTEST_OK)
		return r;
	if (log->have_ckpt && cur == log->last.counter + 1) {
		/* Incremented before a crash, checkpoint never stored: certify
		 * this value now instead of skipping it. */
		*value = cur;
		return ATTEST_OK;
	}
	if (log->have_ckpt && cur != log->last.counter)
		return attest_fail(ATTEST_E_QUOTE_COUNTER,
				   "TPM counter 0x%08x is %" PRIu64 ", the log's last checkpoint has %" PRIu64
				   ": the log is older than the TPM (a restored copy) or the counter"
				   " is shared",
				   log->o.nv_index, cur, log->last.counter);
	if ((r = attest_tpm_nv_counter_increment(tpm, log->o.nv_index, value)) != ATTEST_OK)
		return r;
	hook(ATTEST_AUDIT_STEP_CKPT_INCREMENTED, *value);
	if (log->have_ckpt && *value != log->last.counter + 1)
		return attest_fail(ATTEST_E_QUOTE_COUNTER,
				   "TPM counter moved to %" PRIu64 " during the checkpoint", *value);
	return ATTEST_OK;
}

static int store_ckpt(struct attest_audit *log, const struct attest_audit_ckpt *c)
{
	char path[PATH_CAP], *json = NULL;
	uint8_t leaf[32];
	size_t len, flen;
	int r, created = 0;

	if ((r = attest_audit_ckpt_to_json(c, &json, &len)) != ATTEST_OK ||
	    (r = frame(log, json, len, &flen, leaf)) != ATTEST_OK ||
	    (r = attest_auditfmt_seg_path(log->dir, log->seg_first, "ckpt", path, sizeof(path))) !=
		    ATTEST_OK)
		goto out;
	if (log->ckfd < 0) {
		created = access(path, F_OK) != 0;
		if ((r = open_append(path, 1, &log->ckfd)) != ATTEST_OK)
			goto out;
	}
	if (write_all(log->ckfd, log->frame, flen) != 0 || fdatasync(log->ckfd) != 0) {
		r = attest_fail(ATTEST_E_IO, "store checkpoint in %s: %s", path, strerror(errno));
		goto out;
	}
	if (created && (r = attest_dir_sync(path)) != ATTEST_OK)
		goto out;
	r = ATTEST_OK;
out:
	free(json);
	return r;
}

int attest_audit_checkpoint(struct attest_audit *log, struct attest_tpm *tpm,
			    struct attest_audit_ckpt *out)
{
	struct attest_audit_ckpt c;
	uint8_t qual[32];
	int r;

	if (tpm == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "checkpoint needs the TPM");
	/* Only durable records are ever checkpointed. */
	if ((r = attest_audit_sync(log)) != ATTEST_OK)
		return r;
	memset(&c, 0, sizeof(c));
	memcpy(c.log_id, log->log_id, sizeof(c.log_id));
	c.size = log->tree.size;
	c.time = now_s();
	if (log->have_ckpt && c.time < log->last.time)
		c.time = log->last.time; /* the wall clock stepped back: never go back */
	if ((r = attest_merkle_frontier_root(&log->tree, c.root)) != ATTEST_OK ||
	    (r = next_counter(log, tpm, &c.counter)) != ATTEST_OK ||
	    (r = attest_audit_ckpt_qual(c.log_id, c.size, c.root, c.counter, c.time, qual)) !=
		    ATTEST_OK ||
	    (r = attest_tpm_nv_certify(tpm, log->o.nv_index, qual, sizeof(qual), &c.attest,
				       &c.sig)) != ATTEST_OK)
		return r;
	hook(ATTEST_AUDIT_STEP_CKPT_CERTIFIED, c.counter);
	if ((r = store_ckpt(log, &c)) != ATTEST_OK)
		return r;
	hook(ATTEST_AUDIT_STEP_CKPT_STORED, c.counter);
	log->last = c;
	log->have_ckpt = 1;
	if (out != NULL)
		*out = c;
	return ATTEST_OK;
}

/* ---- rotation and retention ---- */

int attest_audit_rotate(struct attest_audit *log, struct attest_tpm *tpm)
{
	int r;

	if ((r = attest_audit_sync(log)) != ATTEST_OK)
		return r;
	if (tpm != NULL && (r = attest_audit_checkpoint(log, tpm, NULL)) != ATTEST_OK)
		return r;
	return start_segment(log);
}

struct first_time {
	uint64_t time;
	int got;
};

static int first_record_time(void *arg, uint64_t index, const uint8_t *rec, size_t len,
			     const uint8_t leaf[32])
{
	struct first_time *ft = arg;
	cJSON *o = NULL;
	int r;

	(void)leaf;
	if (index > 0)
		return ATTEST_E_EXISTS; /* stop: only the first record is wanted */
	if ((r = attest_json_parse(rec, len, ATTEST_AUDIT_RECORD_MAX, &o)) == ATTEST_OK &&
	    (r = attest_json_u64(o, "time", &ft->time)) == ATTEST_OK)
		ft->got = 1;
	cJSON_Delete(o);
	return r;
}

int attest_audit_expire(struct attest_audit *log, uint64_t now, size_t *removed)
{
	uint64_t *firsts = NULL, good, torn, cutoff;
	char path[PATH_CAP];
	size_t n = 0, gone = 0;
	int r;

	if (removed != NULL)
		*removed = 0;
	if (now == 0)
		now = now_s();
	cutoff = now > log->o.retention_s ? now - log->o.retention_s : 0;
	if ((r = attest_auditfmt_segments(log->dir, &firsts, &n)) != ATTEST_OK)
		return r;
	/* Segment i ended when segment i+1 started; never the current one. */
	for (size_t i = 0; i + 1 < n; i++) {
		struct first_time ft = { 0, 0 };

		if ((r = attest_auditfmt_seg_path(log->dir, firsts[i + 1], "log", path,
						  sizeof(path))) != ATTEST_OK)
			goto out;
		r = attest_auditfmt_read(path, ATTEST_AUDIT_RECORD_MAX, first_record_time, &ft, &good,
					 &torn);
		if (r != ATTEST_OK && r != ATTEST_E_EXISTS)
			goto out;
		if (!ft.got || ft.time >= cutoff)
			break;
		if ((r = attest_auditfmt_seg_path(log->dir, firsts[i], "ckpt", path,
						  sizeof(path))) != ATTEST_OK)
			goto out;
		if (unlink(path) != 0 && errno != ENOENT) {
			r = attest_fail(ATTEST_E_IO, "remove %s: %s", path, strerror(errno));
			goto out;
		}
		/* The log file last: a crash leaves a segment without
		 * checkpoints, which verify reports, never checkpoints
		 * without records. */
		if ((r = attest_auditfmt_seg_path(log->dir, firsts[i], "log", path, sizeof(path))) !=
			    ATTEST_OK)
			goto out;
		if (unlink(path) != 0) {
			r = attest_fail(ATTEST_E_IO, "remove %s: %s", path, strerror(errno));
			goto out;
		}
		gone++;
	}
	if (gone > 0) {
		struct attest_audit_event ev = { .time = now, .type = "retention", .outcome = "ok" };
		char reason[96];

		snprintf(reason, sizeof(reason), "removed %zu segments before record %" PRIu64, gone,
			 firsts[gone]);
		ev.reason = reason;
		if ((r = attest_dir_sync(path)) != ATTEST_OK ||
		    (r = attest_audit_append_event(log, &ev, NULL)) != ATTEST_OK)
			goto out;
	}
	r = ATTEST_OK;
out:
	if (removed != NULL)
		*removed = gone;
	free(firsts);
	return r;
}
