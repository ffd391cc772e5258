/* attestfault.c - libtss2-tcti-attestfault: a TCTI that wraps the real one
 * and injects TPM faults on cue (issue 13 item 4). Test infrastructure,
 * never linked into attestd: it is loaded by Tss2_TctiLdr like any TCTI,
 *
 *   attestfault:<options>;<child>        with $BUILD/tcti on the library path
 *   $BUILD/tcti/libtss2-tcti-attestfault.so.0:<options>;<child>
 *
 * where <child> is the real TCTI's configuration (e.g.
 * swtpm:host=127.0.0.1,port=2321) and <options> a spec:
 *
 *   fault=KIND   none (default), retry, yielded, testing, lockout, nv_rate,
 *                rc_ffffffff (answered without the TPM: a 10-byte response
 *                with that code), short (the TPM's answer cut below the size
 *                its header says), long (16 bytes more than its header
 *                says), other (the answer to an earlier, different command),
 *                drop (the command is sent, then the connection is closed
 *                and the receive fails; the next command reconnects)
 *   cc=0xNNN     only commands with this command code count (default: all)
 *   at=N         the Nth counted command is the first faulted (default 1)
 *   count=K      K counted commands in a row are faulted; 0 = all from the
 *                Nth on (default 1)
 *   seed=S,rate=P  instead of at/count: each counted command is faulted
 *                with probability 1/P, from a xorshift stream seeded S
 *   file=PATH    read the spec from PATH (one line) before every command;
 *                when its content changes, counting starts again. Each
 *                injected fault appends "cc=0x... fault=KIND n=N" to
 *                PATH.log, so a test can tell that it fired.
 *   lat=CMD:MS   latency mode (issue 17): every command CMD is answered MS
 *                milliseconds (0..10000) after the TPM answered it, as a
 *                slow hardware TPM would; CMD is a command code (0x15d) or
 *                a name: sign, load, createloaded, create, createprimary,
 *                quote, certifycreation, nv_certify, pcr_extend, pcr_reset,
 *                policypcr, flush, startauthsession, contextload,
 *                contextsave, or "*" for every command not named otherwise.
 *                Up to 16 lat= entries; combines with fault= (a command
 *                answered here without the TPM is not delayed). The
 *                answer itself is never changed. With file=, each delay
 *                appends "cc=0x... lat=MS" to PATH.log
 *                as it starts and "done 0x..." when it ends. Example of the
 *                slow part issue 17 models: lat=sign:50,lat=load:20,
 *                lat=createloaded:20.
 *   trace=PATH   append "cc=0x..." to PATH for every command sent (before
 *                any fault or delay): a count of the TPM work by type.
 *
 * Every byte of a command is read through the project's bounded cursor.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_tcti.h>
#include <tss2/tss2_tctildr.h>
#include <tss2/tss2_tpm2_types.h>

#include "core/cursor.h"

#define FAULT_MAGIC 0x6174746573746674ULL /* "attestft" */
#define RSP_MAX 4096
#define SPEC_MAX 256
#define CONF_MAX 512

enum kind { K_NONE, K_RETRY, K_YIELDED, K_TESTING, K_LOCKOUT, K_NV_RATE, K_FFFF, K_SHORT,
	    K_LONG, K_OTHER, K_DROP };

static const struct {
	const char *name;
	enum kind kind;
	uint32_t rc;
} kinds[] = {
	{ "none", K_NONE, 0 },
	{ "retry", K_RETRY, TPM2_RC_RETRY },
	{ "yielded", K_YIELDED, TPM2_RC_YIELDED },
	{ "testing", K_TESTING, TPM2_RC_TESTING },
	{ "lockout", K_LOCKOUT, TPM2_RC_LOCKOUT },
	{ "nv_rate", K_NV_RATE, TPM2_RC_NV_RATE },
	{ "rc_ffffffff", K_FFFF, 0xFFFFFFFFu },
	{ "short", K_SHORT, 0 },
	{ "long", K_LONG, 0 },
	{ "other", K_OTHER, 0 },
	{ "drop", K_DROP, 0 },
};

#define LAT_MAX 16
#define LAT_MS_MAX 10000
#define LAT_ANY 0xFFFFFFFFu /* "*" */

static const struct {
	const char *name;
	uint32_t cc;
} cmds[] = {
	{ "sign", TPM2_CC_Sign },
	{ "load", TPM2_CC_Load },
	{ "createloaded", TPM2_CC_CreateLoaded },
	{ "create", TPM2_CC_Create },
	{ "createprimary", TPM2_CC_CreatePrimary },
	{ "quote", TPM2_CC_Quote },
	{ "certifycreation", TPM2_CC_CertifyCreation },
	{ "nv_certify", TPM2_CC_NV_Certify },
	{ "pcr_extend", TPM2_CC_PCR_Extend },
	{ "pcr_reset", TPM2_CC_PCR_Reset },
	{ "policypcr", TPM2_CC_PolicyPCR },
	{ "flush", TPM2_CC_FlushContext },
	{ "startauthsession", TPM2_CC_StartAuthSession },
	{ "contextload", TPM2_CC_ContextLoad },
	{ "contextsave", TPM2_CC_ContextSave },
	{ "*", LAT_ANY },
};

struct spec {
	size_t kind; /* index into kinds */
	int have_cc, random;
	uint32_t cc;
	uint64_t at, count, seed, rate;
	size_t nlat; /* latency mode: lat_cc[i] answered lat_ms[i] ms late */
	uint32_t lat_cc[LAT_MAX];
	uint32_t lat_ms[LAT_MAX];
};

struct fault_ctx {
	TSS2_TCTI_CONTEXT_COMMON_V2 common;
	TSS2_TCTI_CONTEXT *child;
	char child_conf[CONF_MAX];
	char file[SPEC_MAX];
	char trace[SPEC_MAX]; /* trace=: every command's code appended here */
	char text[SPEC_MAX]; /* the spec in force, as read */
	struct spec spec;
	uint64_t counted, rng;
	/* the exchange in flight */
	int pending;        /* a command was sent; its response not delivered */
	size_t kind;        /* the fault of that command */
	uint32_t cc;
	int fetched;        /* rsp holds its (possibly altered) response */
	uint8_t rsp[RSP_MAX + 16];
	size_t rsp_len;
	/* the last real response and its command, for "other" */
	uint8_t last[RSP_MAX];
	size_t last_len;
	uint32_t last_cc;
};

/* A decimal or 0x-hex unsigned number filling all of s[0..n). */
static int num(const char *s, size_t n, uint64_t *v)
{
	char buf[32], *end;
	unsigned long long x;

	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (buf[0] == '-' || buf[0] == '+' || buf[0] == ' ')
		return 0;
	errno = 0;
	x = strtoull(buf, &end, 0);
	if (errno != 0 || *end != '\0')
		return 0;
	*v = x;
	return 1;
}

/* "CMD:MS" of lat= into sp (a name of cmds[] or a number, then ms). */
static int parse_lat(const char *s, size_t n, struct spec *sp)
{
	const char *colon = memchr(s, ':', n);
	size_t clen, i;
	uint64_t cc = 0, ms = 0;

	if (colon == NULL || sp->nlat >= LAT_MAX)
		return 0;
	clen = (size_t)(colon - s);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strlen(cmds[i].name) == clen && memcmp(cmds[i].name, s, clen) == 0)
			break;
	if (i < sizeof(cmds) / sizeof(cmds[0]))
		cc = cmds[i].cc;
	else if (!num(s, clen, &cc) || cc >= LAT_ANY)
		return 0;
	if (!num(colon + 1, n - clen - 1, &ms) || ms > LAT_MS_MAX)
		return 0;
	sp->lat_cc[sp->nlat] = (uint32_t)cc;
	sp->lat_ms[sp->nlat] = (uint32_t)ms;
	sp->nlat++;
	return 1;
}

/* Parse "k=v,k=v" (up to a ';' or the end) into sp; file= into file. */
static int parse_spec(const char *s, size_t n, struct spec *sp, char *file, size_t filesz,
		      char *trace)
{
	memset(sp, 0, sizeof(*sp));
	sp->at = 1;
	sp->count = 1;
	while (n > 0) {
		const char *comma = memchr(s, ',', n), *eq;
		size_t len = comma != NULL ? (size_t)(comma - s) : n, klen;
		uint64_t v = 0;

		if ((eq = memchr(s, '=', len)) == NULL)
			return 0;
		klen = (size_t)(eq - s);
		if (klen == 5 && memcmp(s, "fault", 5) == 0) {
			size_t i;

			for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
				if (strlen(kinds[i].name) == len - 6 &&
				    memcmp(kinds[i].name, eq + 1, len - 6) == 0)
					break;
			if (i == sizeof(kinds) / sizeof(kinds[0]))
				return 0;
			sp->kind = i;
		} else if (klen == 3 && memcmp(s, "lat", 3) == 0) {
			if (!parse_lat(eq + 1, len - 4, sp))
				return 0;
		} else if (klen == 4 && memcmp(s, "file", 4) == 0 && file != NULL) {
			if (len - 5 == 0 || len - 5 >= filesz)
				return 0;
			memcpy(file, eq + 1, len - 5);
			file[len - 5] = '\0';
		} else if (klen == 5 && memcmp(s, "trace", 5) == 0 && trace != NULL) {
			if (len - 6 == 0 || len - 6 >= filesz)
				return 0;
			memcpy(trace, eq + 1, len - 6);
			trace[len - 6] = '\0';
		} else {
			if (!num(eq + 1, len - klen - 1, &v))
				return 0;
			if (klen == 2 && memcmp(s, "cc", 2) == 0 && v <= UINT32_MAX) {
				sp->have_cc = 1;
				sp->cc = (uint32_t)v;
			} else if (klen == 2 && memcmp(s, "at", 2) == 0 && v >= 1) {
				sp->at = v;
			} else if (klen == 5 && memcmp(s, "count", 5) == 0) {
				sp->count = v;
			} else if (klen == 4 && memcmp(s, "seed", 4) == 0) {
				sp->seed = v;
				sp->random = 1;
			} else if (klen == 4 && memcmp(s, "rate", 4) == 0 && v >= 1) {
				sp->rate = v;
				sp->random = 1;
			} else {
				return 0;
			}
		}
		s += len;
		n -= len;
		if (n > 0) { /* the comma */
			s++;
			n--;
		}
	}
	if (sp->random && sp->rate == 0)
		sp->rate = 2;
	return 1;
}

static struct fault_ctx *ctx_of(TSS2_TCTI_CONTEXT *t)
{
	struct fault_ctx *c = (struct fault_ctx *)t;

	return c != NULL && c->common.v1.magic == FAULT_MAGIC ? c : NULL;
}

/* Re-read the control file; a changed spec restarts the count. An
 * unreadable or malformed file means no fault. */
static void reload(struct fault_ctx *c)
{
	char buf[SPEC_MAX];
	size_t n;
	FILE *f;

	if (c->file[0] == '\0')
		return;
	buf[0] = '\0';
	n = 0;
	if ((f = fopen(c->file, "re")) != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	if (strcmp(buf, c->text) == 0)
		return;
	memcpy(c->text, buf, n + 1);
	c->counted = 0;
	if (!parse_spec(buf, n, &c->spec, NULL, 0, NULL))
		memset(&c->spec, 0, sizeof(c->spec));
	c->rng = c->spec.seed ? c->spec.seed : 0x9e3779b97f4a7c15ULL;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* The fault for a command with code cc (K_NONE index 0 if none). */
static size_t pick(struct fault_ctx *c, uint32_t cc)
{
	const struct spec *sp = &c->spec;

	if (sp->kind == 0 || (sp->have_cc && cc != sp->cc))
		return 0;
	c->counted++;
	if (sp->random)
		return xorshift(&c->rng) % sp->rate == 0 ? sp->kind : 0;
	if (c->counted >= sp->at && (sp->count == 0 || c->counted - sp->at < sp->count))
		return sp->kind;
	return 0;
}

static void note(struct fault_ctx *c, uint32_t cc, size_t kind)
{
	char path[SPEC_MAX + 8];
	FILE *f;

	if (c->file[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s.log", c->file);
	if ((f = fopen(path, "ae")) != NULL) {
		fprintf(f, "cc=0x%x fault=%s n=%llu\n", cc, kinds[kind].name,
			(unsigned long long)c->counted);
		fclose(f);
	}
}

/* The latency of command cc: its own lat= entry, else "*", else none. */
static uint32_t latency_ms(const struct spec *sp, uint32_t cc)
{
	uint32_t any = 0;

	for (size_t i = 0; i < sp->nlat; i++) {
		if (sp->lat_cc[i] == cc)
			return sp->lat_ms[i];
		if (sp->lat_cc[i] == LAT_ANY)
			any = sp->lat_ms[i];
	}
	return any;
}

/* Sleep the command's latency (at least ms: nanosleep resumed after a
 * signal with what is left). */
static void delay(struct fault_ctx *c, uint32_t cc)
{
	uint32_t ms = latency_ms(&c->spec, cc);
	struct timespec ts, left;

	if (ms == 0)
		return;
	/* logged first: a test can tell that a slow command is under way */
	if (c->file[0] != '\0') {
		char path[SPEC_MAX + 8];
		FILE *f;

		snprintf(path, sizeof(path), "%s.log", c->file);
		if ((f = fopen(path, "ae")) != NULL) {
			fprintf(f, "cc=0x%x lat=%u\n", cc, ms);
			fclose(f);
		}
	}
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &left) != 0 && errno == EINTR)
		ts = left;
	/* and its end: "done 0x..." (a test orders events around it) */
	if (c->file[0] != '\0') {
		char path[SPEC_MAX + 8];
		FILE *f;

		snprintf(path, sizeof(path), "%s.log", c->file);
		if ((f = fopen(path, "ae")) != NULL) {
			fprintf(f, "done 0x%x\n", cc);
			fclose(f);
		}
	}
}

static void put_be(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static TSS2_RC connect_child(struct fault_ctx *c)
{
	if (c->child != NULL)
		return TSS2_RC_SUCCESS;
	return Tss2_TctiLdr_Initialize(c->child_conf, &c->child) == TSS2_RC_SUCCESS
		       ? TSS2_RC_SUCCESS
		       : TSS2_TCTI_RC_IO_ERROR;
}

static void drop_child(struct fault_ctx *c)
{
	if (c->child != NULL)
		Tss2_TctiLdr_Finalize(&c->child);
	c->child = NULL;
}

static TSS2_RC f_transmit(TSS2_TCTI_CONTEXT *t, size_t size, const uint8_t *cmd)
{
	struct fault_ctx *c = ctx_of(t);
	struct attest_cur cur;
	uint16_t tag;
	uint32_t len, cc = 0;
	TSS2_RC rc;

	if (c == NULL || cmd == NULL)
		return TSS2_TCTI_RC_BAD_REFERENCE;
	if (c->pending)
		return TSS2_TCTI_RC_BAD_SEQUENCE;
	attest_cur_init(&cur, cmd, size);
	if (!attest_cur_u16be(&cur, &tag) || !attest_cur_u32be(&cur, &len) ||
	    !attest_cur_u32be(&cur, &cc))
		cc = 0;
	reload(c);
	if (c->trace[0] != '\0') {
		FILE *f = fopen(c->trace, "ae");

		if (f != NULL) {
			fprintf(f, "cc=0x%x\n", cc);
			fclose(f);
		}
	}
	c->kind = pick(c, cc);
	c->cc = cc;
	c->fetched = 0;
	if (c->kind != 0)
		note(c, cc, c->kind);
	if (kinds[c->kind].rc != 0) {
		/* answered here; the TPM never sees the command */
		put_be(c->rsp, TPM2_ST_NO_SESSIONS, 2);
		put_be(c->rsp + 2, 10, 4);
		put_be(c->rsp + 6, kinds[c->kind].rc, 4);
		c->rsp_len = 10;
		c->fetched = 1;
		c->pending = 1;
		return TSS2_RC_SUCCESS;
	}
	if ((rc = connect_child(c)) != TSS2_RC_SUCCESS)
		return rc;
	if ((rc = Tss2_Tcti_Transmit(c->child, size, cmd)) != TSS2_RC_SUCCESS) {
		drop_child(c);
		return rc;
	}
	if (kinds[c->kind].kind == K_DROP)
		drop_child(c); /* sent, then the line goes dead */
	c->pending = 1;
	return TSS2_RC_SUCCESS;
}

/* The response of the command in flight into c->rsp, altered as its fault
 * says. */
static TSS2_RC fetch(struct fault_ctx *c, int32_t timeout)
{
	size_t n = RSP_MAX;
	TSS2_RC rc;

	if (c->fetched)
		return TSS2_RC_SUCCESS;
	if (kinds[c->kind].kind == K_DROP || c->child == NULL) {
		c->pending = 0;
		return TSS2_TCTI_RC_IO_ERROR;
	}
	rc = Tss2_Tcti_Receive(c->child, &n, c->rsp, timeout);
	if (rc == TSS2_TCTI_RC_TRY_AGAIN)
		return rc;
	if (rc != TSS2_RC_SUCCESS) {
		c->pending = 0;
		drop_child(c);
		return rc;
	}
	delay(c, c->cc);
	c->rsp_len = n;
	switch (kinds[c->kind].kind) {
	case K_SHORT: /* keep the header's size, deliver less */
		c->rsp_len = n > 10 ? 10 + (n - 10) / 2 : n > 0 ? n - 1 : 0;
		break;
	case K_LONG:
		memset(c->rsp + n, 0xa5, 16);
		c->rsp_len = n + 16;
		break;
	case K_OTHER:
		if (c->last_len > 0 && c->last_cc != c->cc) {
			memcpy(c->rsp, c->last, c->last_len);
			c->rsp_len = c->last_len;
		} else { /* a TPM2_GetRandom answer of 8 bytes */
			static const uint8_t gr[20] = { 0x80, 0x01, 0, 0, 0, 20, 0, 0, 0, 0,
							0,    8,    1, 2, 3, 4,  5, 6, 7, 8 };
			memcpy(c->rsp, gr, sizeof(gr));
			c->rsp_len = sizeof(gr);
		}
		break;
	default:
		memcpy(c->last, c->rsp, n);
		c->last_len = n;
		c->last_cc = c->cc;
		break;
	}
	c->fetched = 1;
	return TSS2_RC_SUCCESS;
}

static TSS2_RC f_receive(TSS2_TCTI_CONTEXT *t, size_t *size, uint8_t *rsp, int32_t timeout)
{
	struct fault_ctx *c = ctx_of(t);
	TSS2_RC rc;

	if (c == NULL || size == NULL)
		return TSS2_TCTI_RC_BAD_REFERENCE;
	if (!c->pending)
		return TSS2_TCTI_RC_BAD_SEQUENCE;
	if ((rc = fetch(c, timeout)) != TSS2_RC_SUCCESS)
		return rc;
	if (rsp == NULL) { /* size query */
		*size = c->rsp_len;
		return TSS2_RC_SUCCESS;
	}
	if (*size < c->rsp_len) {
		*size = c->rsp_len;
		return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
	}
	memcpy(rsp, c->rsp, c->rsp_len);
	*size = c->rsp_len;
	c->pending = 0;
	c->fetched = 0;
	return TSS2_RC_SUCCESS;
}

static void f_finalize(TSS2_TCTI_CONTEXT *t)
{
	struct fault_ctx *c = ctx_of(t);

	if (c != NULL)
		drop_child(c);
}

static TSS2_RC f_cancel(TSS2_TCTI_CONTEXT *t)
{
	struct fault_ctx *c = ctx_of(t);

	if (c == NULL)
		return TSS2_TCTI_RC_BAD_REFERENCE;
	return c->child != NULL ? Tss2_Tcti_Cancel(c->child) : TSS2_TCTI_RC_IO_ERROR;
}

static TSS2_RC f_poll(TSS2_TCTI_CONTEXT *t, TSS2_TCTI_POLL_HANDLE *h, size_t *n)
{
	struct fault_ctx *c = ctx_of(t);

	if (c == NULL)
		return TSS2_TCTI_RC_BAD_REFERENCE;
	return c->child != NULL ? Tss2_Tcti_GetPollHandles(c->child, h, n)
				: TSS2_TCTI_RC_NOT_IMPLEMENTED;
}

static TSS2_RC f_locality(TSS2_TCTI_CONTEXT *t, uint8_t loc)
{
	struct fault_ctx *c = ctx_of(t);

	if (c == NULL)
		return TSS2_TCTI_RC_BAD_REFERENCE;
	return c->child != NULL ? Tss2_Tcti_SetLocality(c->child, loc) : TSS2_TCTI_RC_IO_ERROR;
}

static TSS2_RC f_sticky(TSS2_TCTI_CONTEXT *t, TPM2_HANDLE *h, uint8_t sticky)
{
	struct fault_ctx *c = ctx_of(t);

	if (c == NULL)
		return TSS2_TCTI_RC_BAD_REFERENCE;
	return c->child != NULL ? Tss2_Tcti_MakeSticky(c->child, h, sticky)
				: TSS2_TCTI_RC_NOT_IMPLEMENTED;
}

static TSS2_RC f_init(TSS2_TCTI_CONTEXT *t, size_t *size, const char *conf)
{
	struct fault_ctx *c = (struct fault_ctx *)t;
	const char *semi;
	char file[SPEC_MAX] = "", trace[SPEC_MAX] = "";
	struct spec sp;

	if (size == NULL)
		return TSS2_TCTI_RC_BAD_VALUE;
	if (t == NULL) {
		*size = sizeof(struct fault_ctx);
		return TSS2_RC_SUCCESS;
	}
	if (*size < sizeof(struct fault_ctx))
		return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
	if (conf == NULL || (semi = strchr(conf, ';')) == NULL || strlen(semi + 1) == 0 ||
	    strlen(semi + 1) >= CONF_MAX)
		return TSS2_TCTI_RC_BAD_VALUE; /* "<options>;<child>" */
	if (!parse_spec(conf, (size_t)(semi - conf), &sp, file, sizeof(file), trace))
		return TSS2_TCTI_RC_BAD_VALUE;
	memset(c, 0, sizeof(*c));
	c->spec = sp;
	c->rng = sp.seed ? sp.seed : 0x9e3779b97f4a7c15ULL;
	memcpy(c->file, file, sizeof(file));
	memcpy(c->trace, trace, sizeof(trace));
	memcpy(c->child_conf, semi + 1, strlen(semi + 1) + 1);
	if (c->file[0] != '\0')
		reload(c);
	if (connect_child(c) != TSS2_RC_SUCCESS)
		return TSS2_TCTI_RC_IO_ERROR;
	c->common.v1.magic = FAULT_MAGIC;
	c->common.v1.version = 2;
	c->common.v1.transmit = f_transmit;
	c->common.v1.receive = f_receive;
	c->common.v1.finalize = f_finalize;
	c->common.v1.cancel = f_cancel;
	c->common.v1.getPollHandles = f_poll;
	c->common.v1.setLocality = f_locality;
	c->common.makeSticky = f_sticky;
	return TSS2_RC_SUCCESS;
}

static const TSS2_TCTI_INFO info = {
	.version = 2,
	.name = "tcti-attestfault",
	.description = "attestd test TCTI: wraps another TCTI, injects TPM faults or latency",
	.config_help = "fault=KIND[,cc=0xNNN][,at=N][,count=K][,seed=S,rate=P][,lat=CMD:MS]..."
		       "[,file=PATH][,trace=PATH];<child TCTI>",
	.init = f_init,
};

const TSS2_TCTI_INFO *Tss2_Tcti_Info(void) __attribute__((visibility("default")));
const TSS2_TCTI_INFO *Tss2_Tcti_Info(void)
{
	return &info;
}
