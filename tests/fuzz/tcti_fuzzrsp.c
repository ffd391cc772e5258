/* tcti_fuzzrsp.c - libtss2-tcti-fuzzrsp, the TCTI of fuzz_tpmrsp: loaded by
 * Tss2_TctiLdr from the path the target gives attest_tpm_open, exactly as
 * attestd loads a real TCTI, so every response reaches ESYS and libattest's
 * tpm.c through the production path.
 *
 *   <dir>/libtss2-tcti-fuzzrsp.so            answer each command with the
 *       next response fuzzrsp_next() (exported by the fuzz target) hands
 *       out; none left is an I/O error, as a dead TPM
 *   <dir>/libtss2-tcti-fuzzrsp.so:record=PATH;<child TCTI>   forward to a
 *       real TPM and append each response to PATH as [u16 BE n][n bytes]:
 *       the seeds (swtpm-seeds.sh)
 *
 * Answers whose code asks for a retry (RETRY, YIELDED, TESTING, NV_RATE)
 * are turned into TPM_RC_FAILURE: tpm.c's bounded back-off sleeps up to
 * seconds, and test_tctifault tests it on a real TPM. Test infrastructure,
 * never linked into attestd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_tcti.h>
#include <tss2/tss2_tctildr.h>
#include <tss2/tss2_tpm2_types.h>

#define FUZZRSP_MAGIC 0x66757a7a72737031ULL /* "fuzzrsp1" */
#define RSP_MAX 4096
#define PATH_MAX_ 512

/* In the fuzz target: the next response, or 0 when none is left. */
int fuzzrsp_next(const uint8_t **rsp, size_t *len);

struct rsp_ctx {
	TSS2_TCTI_CONTEXT_COMMON_V2 common;
	TSS2_TCTI_CONTEXT *child; /* record mode */
	char record[PATH_MAX_];
	int pending;
	uint8_t rsp[RSP_MAX];
	size_t rsp_len;
};

static struct rsp_ctx *ctx_of(TSS2_TCTI_CONTEXT *t)
{
	struct rsp_ctx *c = (struct rsp_ctx *)t;

	return c != NULL && c->common.v1.magic == FUZZRSP_MAGIC ? c : NULL;
}

static uint32_t rc_of(const uint8_t *p, size_t n)
{
	return n >= 10 ? (uint32_t)p[6] << 24 | (uint32_t)p[7] << 16 | (uint32_t)p[8] << 8 | p[9]
		       : 0;
}

static void no_retry(struct rsp_ctx *c)
{
	uint32_t rc = rc_of(c->rsp, c->rsp_len);

	if (rc == TPM2_RC_RETRY || rc == TPM2_RC_YIELDED || rc == TPM2_RC_TESTING || rc == TPM2_RC_NV_RATE) {
		c->rsp[6] = 0;
		c->rsp[7] = 0;
		c->rsp[8] = (uint8_t)(TPM2_RC_FAILURE >> 8);
		c->rsp[9] = (uint8_t)(TPM2_RC_FAILURE & 0xff);
	}
}

static TSS2_RC r_transmit(TSS2_TCTI_CONTEXT *t, size_t size, const uint8_t *cmd)
{
	struct rsp_ctx *c = ctx_of(t);
	const uint8_t *p;
	size_t n = RSP_MAX;
	TSS2_RC rc;

	if (c == NULL || cmd == NULL)
		return TSS2_TCTI_RC_BAD_REFERENCE;
	if (c->pending)
		return TSS2_TCTI_RC_BAD_SEQUENCE;
	if (c->child != NULL) {
		FILE *f;
		uint8_t hdr[2];

		if ((rc = Tss2_Tcti_Transmit(c->child, size, cmd)) != TSS2_RC_SUCCESS ||
		    (rc = Tss2_Tcti_Receive(c->child, &n, c->rsp, TSS2_TCTI_TIMEOUT_BLOCK)) !=
			    TSS2_RC_SUCCESS)
			return rc;
		c->rsp_len = n;
		hdr[0] = (uint8_t)(n >> 8);
		hdr[1] = (uint8_t)n;
		if ((f = fopen(c->record, "ab")) == NULL || fwrite(hdr, 1, 2, f) != 2 ||
		    fwrite(c->rsp, 1, n, f) != n) {
			if (f != NULL)
				fclose(f);
			return TSS2_TCTI_RC_IO_ERROR;
		}
		if (fclose(f) != 0)
			return TSS2_TCTI_RC_IO_ERROR;
	} else {
		if (!fuzzrsp_next(&p, &n) || n > RSP_MAX)
			return TSS2_TCTI_RC_IO_ERROR;
		memcpy(c->rsp, p, n);
		c->rsp_len = n;
	}
	no_retry(c);
	c->pending = 1;
	return TSS2_RC_SUCCESS;
}

static TSS2_RC r_receive(TSS2_TCTI_CONTEXT *t, size_t *size, uint8_t *rsp, int32_t timeout)
{
	struct rsp_ctx *c = ctx_of(t);

	(void)timeout;
	if (c == NULL || size == NULL)
		return TSS2_TCTI_RC_BAD_REFERENCE;
	if (!c->pending)
		return TSS2_TCTI_RC_BAD_SEQUENCE;
	if (rsp == NULL) {
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
	return TSS2_RC_SUCCESS;
}

static void r_finalize(TSS2_TCTI_CONTEXT *t)
{
	struct rsp_ctx *c = ctx_of(t);

	if (c != NULL && c->child != NULL)
		Tss2_TctiLdr_Finalize(&c->child);
}

static TSS2_RC r_cancel(TSS2_TCTI_CONTEXT *t)
{
	(void)t;
	return TSS2_TCTI_RC_NOT_IMPLEMENTED;
}

static TSS2_RC r_poll(TSS2_TCTI_CONTEXT *t, TSS2_TCTI_POLL_HANDLE *h, size_t *n)
{
	(void)t;
	(void)h;
	(void)n;
	return TSS2_TCTI_RC_NOT_IMPLEMENTED;
}

static TSS2_RC r_locality(TSS2_TCTI_CONTEXT *t, uint8_t loc)
{
	(void)t;
	(void)loc;
	return TSS2_TCTI_RC_NOT_IMPLEMENTED;
}

static TSS2_RC r_sticky(TSS2_TCTI_CONTEXT *t, TPM2_HANDLE *h, uint8_t sticky)
{
	(void)t;
	(void)h;
	(void)sticky;
	return TSS2_TCTI_RC_NOT_IMPLEMENTED;
}

static TSS2_RC r_init(TSS2_TCTI_CONTEXT *t, size_t *size, const char *conf)
{
	struct rsp_ctx *c = (struct rsp_ctx *)t;

	if (size == NULL)
		return TSS2_TCTI_RC_BAD_VALUE;
	if (t == NULL) {
		*size = sizeof(struct rsp_ctx);
		return TSS2_RC_SUCCESS;
	}
	if (*size < sizeof(struct rsp_ctx))
		return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
	memset(c, 0, sizeof(*c));
	if (conf != NULL && conf[0] != '\0') {
		const char *semi = strchr(conf, ';');
		size_t n;

		if (strncmp(conf, "record=", 7) != 0 || semi == NULL ||
		    (n = (size_t)(semi - conf - 7)) == 0 || n >= sizeof(c->record))
			return TSS2_TCTI_RC_BAD_VALUE;
		memcpy(c->record, conf + 7, n);
		if (Tss2_TctiLdr_Initialize(semi + 1, &c->child) != TSS2_RC_SUCCESS)
			return TSS2_TCTI_RC_IO_ERROR;
	}
	c->common.v1.magic = FUZZRSP_MAGIC;
	c->common.v1.version = 2;
	c->common.v1.transmit = r_transmit;
	c->common.v1.receive = r_receive;
	c->common.v1.finalize = r_finalize;
	c->common.v1.cancel = r_cancel;
	c->common.v1.getPollHandles = r_poll;
	c->common.v1.setLocality = r_locality;
	c->common.makeSticky = r_sticky;
	return TSS2_RC_SUCCESS;
}

static const TSS2_TCTI_INFO info = {
	.version = 2,
	.name = "tcti-fuzzrsp",
	.description = "attestd fuzz TCTI: responses from the fuzz input, or recorded from a TPM",
	.config_help = "[record=PATH;<child TCTI>]",
	.init = r_init,
};

const TSS2_TCTI_INFO *Tss2_Tcti_Info(void) __attribute__((visibility("default")));
const TSS2_TCTI_INFO *Tss2_Tcti_Info(void)
{
	return &info;
}
