/* tpm.c - every ESYS call of the project, with bounded retries and flushes
 * on every path. See tpm.h for the contract. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_sys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <tss2/tss2_mu.h>

#include "core/err.h"
#include "tpm/tpm.h"
#include "tpm/tpmsw.h"

struct attest_tpm {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	ESYS_TR srk; /* persistent, ESYS_TR_NONE until looked up */
	attest_tpm_policy_hook_fn policy_hook;
	void *policy_hook_arg;
	uint64_t commands; /* TPM commands sent (each attempt counts) */
	/* A policy session kept across attest_tpm_sign_policy calls: after a
	 * successful use with continueSession the TPM resets its policy, so
	 * the next signature needs no StartAuthSession/FlushContext. */
	ESYS_TR policy_sess;
	/* A failure that was not a TPM response code (a malformed or
	 * mismatched response, RC 0xFFFFFFFF, a TCTI error) or a failed flush:
	 * ESYS may be stuck ("called in the wrong order") and objects may be
	 * left in the TPM. The next operation starts with tpm_recover(). */
	int broken;
	char *tcti_conf; /* to reconnect after a TCTI error */
	/* Policy-signing keys kept loaded between attest_tpm_sign_policy
	 * calls (attest_tpm_keep_resident), least recently used evicted: at
	 * most resident_max, so that slots - resident >= 2 before any other
	 * load (the most objects one operation holds at once). */
	struct {
		ESYS_TR h; /* ESYS_TR_NONE: free */
		uint8_t id[32]; /* SHA-256 of the blob (public and private) */
		uint64_t used;
	} res[ATTEST_TPM_RESIDENT_MAX];
	size_t resident_max, slots;
	uint64_t res_clock;
};

uint64_t attest_tpm_command_count(const struct attest_tpm *t) { return t->commands; }

void attest_tpm_set_policy_hook(struct attest_tpm *t, attest_tpm_policy_hook_fn fn, void *arg)
{
	t->policy_hook = fn;
	t->policy_hook_arg = arg;
}

/* Response code without the handle/parameter/session number of format-one
 * errors, for comparing with TPM2_RC_* constants. */
static uint32_t rc_base(TSS2_RC rc)
{
	if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER)
		return rc;
	if (rc & TPM2_RC_FMT1)
		return rc & (TPM2_RC_FMT1 | 0x3f);
	return rc & 0xfff;
}

static int rc_is_auth(TSS2_RC rc)
{
	uint32_t b = rc_base(rc);

	return b == TPM2_RC_AUTH_FAIL || b == TPM2_RC_BAD_AUTH || b == TPM2_RC_LOCKOUT ||
	       b == TPM2_RC_POLICY_FAIL || b == TPM2_RC_AUTH_MISSING ||
	       b == TPM2_RC_AUTH_UNAVAILABLE;
}

int attest_tpm_retry_delay(uint32_t rc, int failures, long *delay_ms)
{
	uint32_t b = rc_base(rc);
	long d;

	*delay_ms = 0;
	if (failures < 1)
		return 0;
	if (b == TPM2_RC_RETRY || b == TPM2_RC_TESTING || b == TPM2_RC_YIELDED) {
		if (failures >= ATTEST_TPM_RETRY_MAX)
			return 0;
		*delay_ms = 10L << (failures - 1);
		return 1;
	}
	/* NV writes rate-limited against wear-out: the TPM needs time, not a
	 * quick resend. Longer, capped back-off, still bounded. */
	if (b == TPM2_RC_NV_RATE) {
		if (failures >= ATTEST_TPM_NV_RATE_RETRY_MAX)
			return 0;
		d = ATTEST_TPM_NV_RATE_FIRST_MS << (failures - 1);
		*delay_ms = d > ATTEST_TPM_NV_RATE_CAP_MS ? ATTEST_TPM_NV_RATE_CAP_MS : d;
		return 1;
	}
	return 0;
}

/* The one retry helper: true if the command should be sent again, after
 * sleeping the back-off attest_tpm_retry_delay gives. */
static int tpm_should_retry(TSS2_RC rc, int *attempt)
{
	struct timespec ts;
	long ms;

	if (rc == TSS2_RC_SUCCESS || !attest_tpm_retry_delay(rc, ++*attempt, &ms))
		return 0;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
	return 1;
}

static int tpm_ready(struct attest_tpm *t);
/* First statement of every operation: recover from an earlier failure. */
#define TPM_READY(t_)                                                              \
	do {                                                                       \
		int ready_ = tpm_ready(t_);                                        \
		if (ready_ != ATTEST_OK)                                           \
			return ready_;                                             \
	} while (0)

/* Remember a failure that may have left ESYS or the connection unusable,
 * or objects in the TPM that ESYS does not know: anything but a TPM's own
 * response code (a malformed, truncated or mismatched answer, RC
 * 0xFFFFFFFF, a TCTI error). The next operation starts with
 * tpm_recover(). A TPM error code is a well-formed answer: ESYS is fine. */
static void tpm_note(struct attest_tpm *t, TSS2_RC rc)
{
	if (rc != TSS2_RC_SUCCESS && (rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER)
		t->broken = 1;
}

/* Run `call_` on context t_, storing its TSS2_RC in `rc_`, retrying while
 * the TPM asks; every attempt is counted. */
static int tpm_free_objects(struct attest_tpm *t, TSS2_RC rc);
/* Every TPM command: the bounded retries of attest_tpm_retry_delay, and one
 * more try after the resident keys are flushed when the TPM had no room for
 * an object (TPM_RC_OBJECT_MEMORY: a command that makes or loads one ran
 * while keys were kept resident). */
#define TPM_CALL(t_, rc_, call_)                                                   \
	do {                                                                       \
		int attempt_ = 0;                                                  \
		do {                                                               \
			(t_)->commands++;                                          \
			(rc_) = (call_);                                           \
		} while (tpm_should_retry((rc_), &attempt_) ||                     \
			 tpm_free_objects((t_), (rc_)));                           \
		tpm_note((t_), (rc_));                                             \
	} while (0)

static int tpm_fail(TSS2_RC rc, const char *what)
{
	if (rc_base(rc) == TPM2_RC_LOCKOUT)
		return attest_fail_tss(ATTEST_E_TPM_AUTH, rc,
				       "%s: TPM in dictionary-attack lockout (a DA-protected "
				       "object was used)",
				       what);
	return attest_fail_tss(rc_is_auth(rc) ? ATTEST_E_TPM_AUTH : ATTEST_E_TPM, rc, "%s",
			       what);
}

int attest_tpm_da_state(struct attest_tpm *t, struct attest_tpm_da *out)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc;
	int r = ATTEST_E_INTERNAL;

	TPM_READY(t);
	memset(out, 0, sizeof(*out));
	TPM_CALL(t, rc, Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					TPM2_CAP_TPM_PROPERTIES, TPM2_PT_PERMANENT, 1, &more,
					&cap));
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(rc, "Esys_GetCapability(TPM2_PT_PERMANENT)");
	if (cap->data.tpmProperties.count != 1 ||
	    cap->data.tpmProperties.tpmProperty[0].property != TPM2_PT_PERMANENT) {
		r = attest_fail(ATTEST_E_TPM, "TPM did not report TPM2_PT_PERMANENT");
		goto out;
	}
	out->in_lockout = (cap->data.tpmProperties.tpmProperty[0].value &
			   TPMA_PERMANENT_INLOCKOUT) != 0;
	Esys_Free(cap);
	cap = NULL;
	/* LOCKOUT_COUNTER, MAX_AUTH_FAIL, LOCKOUT_INTERVAL, LOCKOUT_RECOVERY */
	TPM_CALL(t, rc, Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					TPM2_CAP_TPM_PROPERTIES, TPM2_PT_LOCKOUT_COUNTER, 4, &more,
					&cap));
	if (rc != TSS2_RC_SUCCESS) {
		r = tpm_fail(rc, "Esys_GetCapability(TPM2_PT_LOCKOUT_COUNTER)");
		goto out;
	}
	for (uint32_t i = 0; i < cap->data.tpmProperties.count && i < TPM2_MAX_TPM_PROPERTIES; i++) {
		const TPMS_TAGGED_PROPERTY *p = &cap->data.tpmProperties.tpmProperty[i];

		switch (p->property) {
		case TPM2_PT_LOCKOUT_COUNTER: out->failures = p->value; break;
		case TPM2_PT_MAX_AUTH_FAIL: out->max_tries = p->value; break;
		case TPM2_PT_LOCKOUT_INTERVAL: out->recovery_s = p->value; break;
		case TPM2_PT_LOCKOUT_RECOVERY: out->lockout_recovery_s = p->value; break;
		default: break;
		}
	}
	r = ATTEST_OK;
out:
	Esys_Free(cap);
	return r;
}

static void flush(struct attest_tpm *t, ESYS_TR *h)
{
	if (*h != ESYS_TR_NONE) {
		TSS2_RC rc;

		t->commands++;
		rc = Esys_FlushContext(t->esys, *h);
		if (rc != TSS2_RC_SUCCESS) {
			/* still loaded, or we cannot tell: swept by tpm_recover() */
			tpm_note(t, rc);
			t->broken = 1;
		}
		*h = ESYS_TR_NONE;
	}
}

static int flush_all(struct attest_tpm *t, size_t *flushed);
static int count_all(struct attest_tpm *t, size_t *n);

static size_t resident_count(const struct attest_tpm *t)
{
	size_t n = 0;

	for (size_t i = 0; i < ATTEST_TPM_RESIDENT_MAX; i++)
		n += t->res[i].h != ESYS_TR_NONE;
	return n;
}

/* Forget the resident handles without a command (they went with the TPM
 * context, or a sweep flushed them). */
static void resident_forget(struct attest_tpm *t)
{
	for (size_t i = 0; i < ATTEST_TPM_RESIDENT_MAX; i++)
		t->res[i].h = ESYS_TR_NONE;
}

/* Flush least recently used resident keys until at most keep remain. */
static void resident_trim(struct attest_tpm *t, size_t keep)
{
	while (resident_count(t) > keep) {
		size_t lru = ATTEST_TPM_RESIDENT_MAX;

		for (size_t i = 0; i < ATTEST_TPM_RESIDENT_MAX; i++)
			if (t->res[i].h != ESYS_TR_NONE &&
			    (lru == ATTEST_TPM_RESIDENT_MAX || t->res[i].used < t->res[lru].used))
				lru = i;
		if (lru == ATTEST_TPM_RESIDENT_MAX)
			break; /* none loaded (resident_count said otherwise) */
		flush(t, &t->res[lru].h);
	}
}

/* TPM_CALL's second chance: 1 when the TPM said it had no room for an
 * object and resident keys were flushed to make it (at most once per
 * command: none are left after). */
static int tpm_free_objects(struct attest_tpm *t, TSS2_RC rc)
{
	if (rc_base(rc) != TPM2_RC_OBJECT_MEMORY || resident_count(t) == 0)
		return 0;
	resident_trim(t, 0);
	return 1;
}

/* Before loading an object that is not kept resident: room for the two
 * objects an operation may hold at once. */
static void make_room(struct attest_tpm *t)
{
	if (t->resident_max > 0)
		resident_trim(t, t->slots > 2 ? t->slots - 2 : 0);
}

static int key_id(const struct attest_tpm_key *key, uint8_t id[32])
{
	uint8_t buf[sizeof(TPM2B_PUBLIC) + sizeof(TPM2B_PRIVATE)];
	size_t off = 0;

	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&key->pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_PRIVATE_Marshal(&key->priv, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
		return attest_fail(ATTEST_E_INVALID_ARG, "key blob does not marshal");
	SHA256(buf, off, id);
	return ATTEST_OK;
}

/* After a failure tpm_note() or flush() marked: a fresh ESYS context (the
 * old one may refuse every call as out of order), a new connection if the
 * TCTI failed, then every transient object and session swept (their ESYS
 * handles are gone with the old context; behind a resource manager only
 * ours are visible). Called first by every operation, so one bad response
 * costs one operation, not the daemon's TPM for good. */
static int tpm_recover(struct attest_tpm *t)
{
	TSS2_RC rc;
	size_t n;
	int r;

	if (t->esys != NULL)
		Esys_Finalize(&t->esys);
	t->srk = ESYS_TR_NONE;
	t->policy_sess = ESYS_TR_NONE;
	resident_forget(t);
	/* A malformed or mismatched response may leave the connection
	 * mid-message: a new one too, whatever layer failed. */
	if (t->tcti != NULL)
		Tss2_TctiLdr_Finalize(&t->tcti);
	if ((rc = Tss2_TctiLdr_Initialize(t->tcti_conf, &t->tcti)) != TSS2_RC_SUCCESS)
		return attest_fail_tss(ATTEST_E_TPM, rc, "reconnecting to the TPM (\"%s\")",
				       t->tcti_conf);
	if ((rc = Esys_Initialize(&t->esys, t->tcti, NULL)) != TSS2_RC_SUCCESS)
		return attest_fail_tss(ATTEST_E_TPM, rc, "Esys_Initialize after a TPM failure");
	t->broken = 0;
	if ((r = flush_all(t, &n)) != ATTEST_OK) {
		t->broken = 1;
		return attest_fail_wrap(r, "sweeping the TPM after a failure");
	}
	if (t->broken)
		return attest_fail(ATTEST_E_TPM, "sweeping the TPM after a failure: a flush failed");
	/* and check that it is clean: a sweep that believed a corrupted
	 * handle list would leave objects behind for good */
	if ((r = count_all(t, &n)) != ATTEST_OK || n != 0) {
		t->broken = 1;
		return r != ATTEST_OK ? attest_fail_wrap(r, "checking the TPM after a sweep")
				      : attest_fail(ATTEST_E_TPM,
						    "%zu transient objects or sessions survived a sweep",
						    n);
	}
	return ATTEST_OK;
}

static int tpm_ready(struct attest_tpm *t)
{
	return t->broken ? tpm_recover(t) : ATTEST_OK;
}

int attest_tpm_open(const char *tcti_conf, struct attest_tpm **out)
{
	struct attest_tpm *t = NULL;
	TSS2_RC rc;
	int r = ATTEST_E_INTERNAL;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "tpm open");
	t->srk = ESYS_TR_NONE;
	t->policy_sess = ESYS_TR_NONE;
	resident_forget(t);
	if (tcti_conf == NULL || tcti_conf[0] == '\0')
		tcti_conf = ATTEST_TPM_DEFAULT_TCTI;
	if ((t->tcti_conf = strdup(tcti_conf)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "tpm open");
		goto out;
	}
	rc = Tss2_TctiLdr_Initialize(tcti_conf, &t->tcti);
	if (rc != TSS2_RC_SUCCESS) {
		/* the commonest first-run failure: say where a TPM comes from */
		const char *dev = strncmp(tcti_conf, "device:", 7) == 0 ? tcti_conf + 7 : NULL;
		int e = dev != NULL && access(dev, R_OK | W_OK) != 0 ? errno : 0;

		r = attest_fail_tss(ATTEST_E_TPM, rc,
				    "no TPM at TCTI \"%s\"%s%s%s (choose one with --tcti CONF or "
				    "ATTEST_TCTI; without a TPM, swtpm-ci/README.md starts a software "
				    "one)", tcti_conf, e != 0 ? ": " : "", e != 0 ? strerror(e) : "",
				    e == EACCES ? ", the device's group (tss) may use it" : "");
		goto out;
	}
	rc = Esys_Initialize(&t->esys, t->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		r = attest_fail_tss(ATTEST_E_TPM, rc, "Esys_Initialize over \"%s\"", tcti_conf);
		goto out;
	}
	*out = t;
	t = NULL; /* transferred */
	r = ATTEST_OK;
out:
	attest_tpm_close(t);
	return r;
}

void attest_tpm_release_cached(struct attest_tpm *t)
{
	if (!t->broken) {
		flush(t, &t->policy_sess);
		resident_trim(t, 0);
	}
}

void attest_tpm_close(struct attest_tpm *t)
{
	if (t == NULL)
		return;
	if (t->esys != NULL)
		attest_tpm_release_cached(t);
	if (t->esys != NULL)
		Esys_Finalize(&t->esys);
	if (t->tcti != NULL)
		Tss2_TctiLdr_Finalize(&t->tcti);
	free(t->tcti_conf);
	free(t);
}

/* CreatePrimary in `hierarchy`; the caller flushes *h. */
static int create_primary(struct attest_tpm *t, ESYS_TR hierarchy, const TPM2B_PUBLIC *tmpl,
			  ESYS_TR *h, TPM2B_PUBLIC *pub)
{
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION pcrs = { 0 };
	TPM2B_PUBLIC *outpub = NULL;
	TSS2_RC rc;

	*h = ESYS_TR_NONE;
	make_room(t);
	TPM_CALL(t, rc, Esys_CreatePrimary(t->esys, hierarchy, ESYS_TR_PASSWORD, ESYS_TR_NONE,
					ESYS_TR_NONE, &sens, tmpl, &outside, &pcrs, h, &outpub,
					NULL, NULL, NULL));
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(rc, "Esys_CreatePrimary");
	if (pub != NULL)
		*pub = *outpub;
	Esys_Free(outpub);
	return ATTEST_OK;
}

/* Whether a persistent or NV handle exists, asked without touching it, so
 * that looking for an absent handle is not an error anywhere. */
static int handle_exists(struct attest_tpm *t, TPM2_HANDLE handle, int *present)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc;

	*present = 0;
	TPM_CALL(t, rc, Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					TPM2_CAP_HANDLES, handle, 1, &more, &cap));
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(rc, "Esys_GetCapability(handles)");
	*present = cap->data.handles.count > 0 && cap->data.handles.handle[0] == handle;
	Esys_Free(cap);
	return ATTEST_OK;
}

/* The SRK at 0x81000001, created from the TCG template and persisted when
 * absent. The handle stays valid for the context's lifetime. */
static int srk(struct attest_tpm *t, ESYS_TR *out)
{
	TPM2B_PUBLIC tmpl;
	ESYS_TR h = ESYS_TR_NONE, persist = ESYS_TR_NONE;
	TSS2_RC rc;
	int r, present = 0;

	if (t->srk != ESYS_TR_NONE) {
		*out = t->srk;
		return ATTEST_OK;
	}
	if ((r = handle_exists(t, ATTEST_SRK_HANDLE, &present)) != ATTEST_OK)
		return r;
	if (present) {
		t->commands++; /* ReadPublic */
	rc = Esys_TR_FromTPMPublic(t->esys, ATTEST_SRK_HANDLE, ESYS_TR_NONE, ESYS_TR_NONE,
					   ESYS_TR_NONE, &persist);
		tpm_note(t, rc);
		if (rc != TSS2_RC_SUCCESS)
			return tpm_fail(rc, "Esys_TR_FromTPMPublic (SRK 0x81000001)");
	} else {
		attest_template_srk(&tmpl);
		if ((r = create_primary(t, ESYS_TR_RH_OWNER, &tmpl, &h, NULL)) != ATTEST_OK)
			return r;
		TPM_CALL(t, rc, Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, h, ESYS_TR_PASSWORD,
					       ESYS_TR_NONE, ESYS_TR_NONE, ATTEST_SRK_HANDLE,
					       &persist));
		flush(t, &h);
		if (rc != TSS2_RC_SUCCESS)
			return tpm_fail(rc, "Esys_EvictControl (persist SRK at 0x81000001)");
	}
	t->srk = persist;
	*out = persist;
	return ATTEST_OK;
}

static int load_key_as(struct attest_tpm *t, const struct attest_tpm_key *key,
		       const TPM2B_AUTH *auth, int resident, ESYS_TR *h);

static int load_key(struct attest_tpm *t, const struct attest_tpm_key *key,
		    const TPM2B_AUTH *auth, ESYS_TR *h)
{
	return load_key_as(t, key, auth, 0, h);
}

/* resident: the caller made room among the resident keys (make_room would
 * trim them below resident_max). */
static int load_key_as(struct attest_tpm *t, const struct attest_tpm_key *key,
		       const TPM2B_AUTH *auth, int resident, ESYS_TR *h)
{
	ESYS_TR parent;
	TSS2_RC rc;
	int r;

	*h = ESYS_TR_NONE;
	if ((r = srk(t, &parent)) != ATTEST_OK)
		return r;
	if (!resident)
		make_room(t);
	TPM_CALL(t, rc, Esys_Load(t->esys, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
			       &key->priv, &key->pub, h));
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(rc, "Esys_Load");
	if (auth != NULL && (rc = Esys_TR_SetAuth(t->esys, *h, auth)) != TSS2_RC_SUCCESS) {
		flush(t, h);
		return tpm_fail(rc, "Esys_TR_SetAuth");
	}
	return ATTEST_OK;
}

static int load_ak(struct attest_tpm *t, ESYS_TR *h, TPM2B_PUBLIC *pub)
{
	TPM2B_PUBLIC tmpl;

	attest_template_ak(&tmpl);
	return create_primary(t, ESYS_TR_RH_ENDORSEMENT, &tmpl, h, pub);
}

int attest_tpm_ek_cert(struct attest_tpm *t, enum attest_ek_kind kind, uint8_t **der,
		       size_t *len)
{
	uint32_t index = attest_ek_nv_index(kind);
	ESYS_TR nv = ESYS_TR_NONE;
	TPM2B_NV_PUBLIC *nvpub = NULL;
	TPM2B_MAX_NV_BUFFER *chunk = NULL;
	uint8_t *buf = NULL;
	size_t size, got = 0;
	TSS2_RC rc;
	int r = ATTEST_E_INTERNAL, present = 0;

	TPM_READY(t);
	*der = NULL;
	*len = 0;
	if (index == 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "unknown EK kind");
	if ((r = handle_exists(t, index, &present)) != ATTEST_OK)
		return r;
	if (!present)
		return attest_fail(ATTEST_E_NOT_FOUND, "no %s EK certificate at NV 0x%08x",
				   attest_ek_kind_name(kind), index);
	t->commands++; /* ReadPublic */
	rc = Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv);
	tpm_note(t, rc);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(rc, "Esys_TR_FromTPMPublic (EK certificate NV index)");
	TPM_CALL(t, rc, Esys_NV_ReadPublic(t->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					&nvpub, NULL));
	if (rc != TSS2_RC_SUCCESS) {
		r = tpm_fail(rc, "Esys_NV_ReadPublic (EK certificate)");
		goto out;
	}
	size = nvpub->nvPublic.dataSize;
	if (size == 0 || size > 4096) {
		r = attest_fail(ATTEST_E_TOO_LARGE, "EK certificate NV size %zu out of range", size);
		goto out;
	}
	if ((buf = malloc(size)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "EK certificate");
		goto out;
	}
	while (got < size) {
		/* 512 is below every TPM's MAX_NV_BUFFER_SIZE (swtpm: 1024+). */
		uint16_t want = (uint16_t)(size - got > 512 ? 512 : size - got);

		TPM_CALL(t, rc, Esys_NV_Read(t->esys, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE,
					  ESYS_TR_NONE, want, (uint16_t)got, &chunk));
		if (rc != TSS2_RC_SUCCESS) {
			r = tpm_fail(rc, "Esys_NV_Read (EK certificate)");
			goto out;
		}
		if (chunk->size != want) {
			r = attest_fail(ATTEST_E_TPM, "short NV read");
			goto out;
		}
		memcpy(buf + got, chunk->buffer, want);
		got += want;
		Esys_Free(chunk);
		chunk = NULL;
	}
	*der = buf;
	*len = size;
	buf = NULL; /* transferred */
	r = ATTEST_OK;
out:
	Esys_Free(chunk);
	Esys_Free(nvpub);
	free(buf);
	if (nv != ESYS_TR_NONE)
		(void)Esys_TR_Close(t->esys, &nv);
	return r;
}

int attest_tpm_ek_public(struct attest_tpm *t, enum attest_ek_kind kind, TPM2B_PUBLIC *pub)
{
	TPM2B_PUBLIC tmpl;
	ESYS_TR h;
	int r;

	TPM_READY(t);
	if (attest_ek_nv_index(kind) == 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "unknown EK kind");
	attest_template_ek(kind, &tmpl);
	r = create_primary(t, ESYS_TR_RH_ENDORSEMENT, &tmpl, &h, pub);
	flush(t, &h);
	return r;
}

int attest_tpm_ek_detect(struct attest_tpm *t, enum attest_ek_kind *kind)
{
	static const enum attest_ek_kind order[] = { ATTEST_EK_P256, ATTEST_EK_RSA2048,
						     ATTEST_EK_P384 };
	int r, present;

	TPM_READY(t);
	*kind = ATTEST_EK_NONE;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if ((r = handle_exists(t, attest_ek_nv_index(order[i]), &present)) != ATTEST_OK)
			return r;
		if (present) {
			*kind = order[i];
			return ATTEST_OK;
		}
	}
	return attest_fail(ATTEST_E_NOT_FOUND,
			   "no EK certificate at NV 0x01c0000a, 0x01c00002 or 0x01c00016");
}

int attest_tpm_ak_public(struct attest_tpm *t, TPM2B_PUBLIC *pub)
{
	ESYS_TR h;
	int r;

	TPM_READY(t);
	r = load_ak(t, &h, pub);
	flush(t, &h);
	return r;
}

int attest_tpm_create_signkey(struct attest_tpm *t, const TPM2B_DIGEST *policy,
			      const TPM2B_AUTH *auth, struct attest_tpm_key *key,
			      struct attest_tpm_creation *creation)
{
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_PUBLIC tmpl;
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION pcrs = { 0 };
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	TPM2B_CREATION_DATA *cdata = NULL;
	TPM2B_DIGEST *chash = NULL;
	TPMT_TK_CREATION *ticket = NULL;
	ESYS_TR parent;
	TSS2_RC rc;
	int r;

	TPM_READY(t);
	if ((r = srk(t, &parent)) != ATTEST_OK)
		return r;
	attest_template_signkey(policy, &tmpl);
	if (auth != NULL)
		sens.sensitive.userAuth = *auth;
	make_room(t); /* Create holds the new object in a slot while it works */
	TPM_CALL(t, rc, Esys_Create(t->esys, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				 &sens, &tmpl, &outside, &pcrs, &priv, &pub, &cdata, &chash,
				 &ticket));
	OPENSSL_cleanse(&sens, sizeof(sens));
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(rc, "Esys_Create (signing key)");
	key->pub = *pub;
	key->priv = *priv;
	if (creation != NULL) {
		creation->data = *cdata;
		creation->hash = *chash;
		creation->ticket = *ticket;
	}
	Esys_Free(priv);
	Esys_Free(pub);
	Esys_Free(cdata);
	Esys_Free(chash);
	Esys_Free(ticket);
	return ATTEST_OK;
}

/* What a TPM answered to an attesting command (Quote, CertifyCreation,
 * NV_Certify), taken only if it is what was asked for: a TPMS_ATTEST that
 * parses whole, TPM_GENERATED_VALUE, the command's attestation type, and
 * our qualifyingData echoed. A TPM (or whatever answers on the TCTI) that
 * returns anything else fails here, named, not later at a verifier that
 * can only say the evidence is bad (found by fuzz_tpmrsp). */
static int take_attest(const TPM2B_ATTEST *att, const TPMT_SIGNATURE *s, TPM2_ST type,
		       const TPM2B_DATA *qual, const char *what, TPM2B_ATTEST *attest,
		       TPMT_SIGNATURE *sig)
{
	TPMS_ATTEST a;

	if (att->size > sizeof(att->attestationData) ||
	    attest_tpms_attest_parse(att->attestationData, att->size, &a) != ATTEST_OK)
		return attest_fail(ATTEST_E_TPM, "%s: the TPM's attestation structure is malformed",
				   what);
	if (a.magic != TPM2_GENERATED_VALUE || a.type != type ||
	    a.extraData.size != qual->size ||
	    (qual->size > 0 && memcmp(a.extraData.buffer, qual->buffer, qual->size) != 0))
		return attest_fail(ATTEST_E_TPM,
				   "%s: the TPM answered with another attestation (magic 0x%08x, "
				   "type 0x%04x, qualifyingData %s)", what, a.magic, a.type,
				   a.extraData.size == qual->size ? "differs" : "of another size");
	*attest = *att;
	*sig = *s;
	return ATTEST_OK;
}

int attest_tpm_certify_creation(struct attest_tpm *t, const struct attest_tpm_key *key,
				const struct attest_tpm_creation *creation,
				const uint8_t *qual, size_t qual_len, TPM2B_ATTEST *attest,
				TPMT_SIGNATURE *sig)
{
	ESYS_TR ak = ESYS_TR_NONE, obj = ESYS_TR_NONE;
	TPM2B_DATA q = { 0 };
	TPMT_SIG_SCHEME null_scheme = { .scheme = TPM2_ALG_NULL };
	TPM2B_ATTEST *att = NULL;
	TPMT_SIGNATURE *s = NULL;
	TSS2_RC rc;
	int r;

	TPM_READY(t);
	if (qual_len > sizeof(q.buffer))
		return attest_fail(ATTEST_E_INVALID_ARG, "qualifyingData too long");
	q.size = (uint16_t)qual_len;
	if (qual_len > 0)
		memcpy(q.buffer, qual, qual_len);
	if ((r = load_key(t, key, NULL, &obj)) != ATTEST_OK)
		goto out;
	if ((r = load_ak(t, &ak, NULL)) != ATTEST_OK)
		goto out;
	TPM_CALL(t, rc, Esys_CertifyCreation(t->esys, ak, obj, ESYS_TR_PASSWORD, ESYS_TR_NONE,
					  ESYS_TR_NONE, &q, &creation->hash, &null_scheme,
					  &creation->ticket, &att, &s));
	if (rc != TSS2_RC_SUCCESS) {
		r = tpm_fail(rc, "Esys_CertifyCreation");
		goto out;
	}
	r = take_attest(att, s, TPM2_ST_ATTEST_CREATION, &q, "CertifyCreation", attest, sig);
out:
	Esys_Free(att);
	Esys_Free(s);
	flush(t, &ak);
	flush(t, &obj);
	return r;
}

static int ek_policy_session(struct attest_tpm *t, ESYS_TR *sess)
{
	TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
	TSS2_RC rc;

	TPM_CALL(t, rc, Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					   ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_POLICY,
					   &sym, TPM2_ALG_SHA256, sess));
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(rc, "Esys_StartAuthSession (EK policy)");
	TPM_CALL(t, rc, Esys_PolicySecret(t->esys, ESYS_TR_RH_ENDORSEMENT, *sess,
				       ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, NULL, NULL,
				       NULL, 0, NULL, NULL));
	if (rc != TSS2_RC_SUCCESS) {
		flush(t, sess);
		return tpm_fail(rc, "Esys_PolicySecret(TPM_RH_ENDORSEMENT)");
	}
	return ATTEST_OK;
}

int attest_tpm_activate_credential(struct attest_tpm *t, enum attest_ek_kind kind,
				   const TPM2B_ID_OBJECT *blob,
				   const TPM2B_ENCRYPTED_SECRET *enc, TPM2B_DIGEST *secret)
{
	TPM2B_PUBLIC tmpl;
	ESYS_TR ak = ESYS_TR_NONE, ek = ESYS_TR_NONE, sess = ESYS_TR_NONE;
	ESYS_TR ek_auth = ESYS_TR_PASSWORD;
	TPM2B_DIGEST *out = NULL;
	TSS2_RC rc;
	int r;

	TPM_READY(t);
	if (attest_ek_nv_index(kind) == 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "unknown EK kind");
	attest_template_ek(kind, &tmpl);
	if ((r = load_ak(t, &ak, NULL)) != ATTEST_OK)
		goto out;
	if ((r = create_primary(t, ESYS_TR_RH_ENDORSEMENT, &tmpl, &ek, NULL)) != ATTEST_OK)
		goto out;
	/* L-1/L-2 EKs have userWithAuth clear: only their PolicySecret works. */
	if (!(tmpl.publicArea.objectAttributes & TPMA_OBJECT_USERWITHAUTH)) {
		if ((r = ek_policy_session(t, &sess)) != ATTEST_OK)
			goto out;
		ek_auth = sess;
	}
	TPM_CALL(t, rc, Esys_ActivateCredential(t->esys, ak, ek, ESYS_TR_PASSWORD, ek_auth,
					     ESYS_TR_NONE, blob, enc, &out));
	if (rc != TSS2_RC_SUCCESS) {
		r = tpm_fail(rc, "Esys_ActivateCredential");
		goto out;
	}
	*secret = *out;
	r = ATTEST_OK;
out:
	if (out != NULL) {
		OPENSSL_cleanse(out, sizeof(*out));
		Esys_Free(out);
	}
	flush(t, &sess);
	flush(t, &ek);
	flush(t, &ak);
	return r;
}

int attest_tpm_sign(struct attest_tpm *t, const struct attest_tpm_key *key,
		    const TPM2B_AUTH *auth, const uint8_t digest[32], TPMT_SIGNATURE *sig)
{
	ESYS_TR h = ESYS_TR_NONE;
	TPM2B_DIGEST d = { .size = 32 };
	TPMT_SIG_SCHEME null_scheme = { .scheme = TPM2_ALG_NULL };
	TPMT_TK_HASHCHECK check = { .tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL };
	TPMT_SIGNATURE *s = NULL;
	TSS2_RC rc;
	int r;

	TPM_READY(t);
	memcpy(d.buffer, digest, 32);
	if ((r = load_key(t, key, auth, &h)) != ATTEST_OK)
		return r;
	TPM_CALL(t, rc, Esys_Sign(t->esys, h, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &d,
			       &null_scheme, &check, &s));
	flush(t, &h);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(rc, "Esys_Sign");
	*sig = *s;
	Esys_Free(s);
	return ATTEST_OK;
}

int attest_tpm_quote(struct attest_tpm *t, uint32_t pcr_mask, const uint8_t *qual,
		     size_t qual_len, TPM2B_ATTEST *attest, TPMT_SIGNATURE *sig)
{
	ESYS_TR ak = ESYS_TR_NONE;
	TPM2B_DATA q = { 0 };
	TPMT_SIG_SCHEME null_scheme = { .scheme = TPM2_ALG_NULL };
	TPML_PCR_SELECTION sel;
	TPM2B_ATTEST *att = NULL;
	TPMT_SIGNATURE *s = NULL;
	TSS2_RC rc;
	int r;

	TPM_READY(t);
	if (qual_len > sizeof(q.buffer) || pcr_mask == 0 || (pcr_mask >> 24) != 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "quote: bad nonce or PCR mask");
	q.size = (uint16_t)qual_len;
	if (qual_len > 0)
		memcpy(q.buffer, qual, qual_len);
	attest_pcr_selection(pcr_mask, &sel);
	if ((r = load_ak(t, &ak, NULL)) != ATTEST_OK)
		return r;
	TPM_CALL(t, rc, Esys_Quote(t->esys, ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &q,
				&null_scheme, &sel, &att, &s));
	flush(t, &ak);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(rc, "Esys_Quote");
	r = take_attest(att, s, TPM2_ST_ATTEST_QUOTE, &q, "Quote", attest, sig);
	Esys_Free(att);
	Esys_Free(s);
	return r;
}

int attest_tpm_pcr_read(struct attest_tpm *t, uint32_t pcr_mask, struct attest_pcrs *out)
{
	memset(out, 0, sizeof(*out));
	TPM_READY(t);
	/* PCR_Read returns at most 8 digests per call: read in rounds until
	 * every requested PCR has its value. */
	while (out->mask != pcr_mask) {
		TPML_PCR_SELECTION sel, *got_sel = NULL;
		TPML_DIGEST *vals = NULL;
		uint32_t counter, got = 0;
		unsigned n = 0;
		TSS2_RC rc;

		attest_pcr_selection(pcr_mask & ~out->mask, &sel);
		TPM_CALL(t, rc, Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel,
					   &counter, &got_sel, &vals));
		if (rc != TSS2_RC_SUCCESS)
			return tpm_fail(rc, "Esys_PCR_Read");
		for (unsigned i = 0; i < 24 && got_sel->count == 1; i++) {
			if (!(got_sel->pcrSelections[0].pcrSelect[i / 8] & (1u << (i % 8))))
				continue;
			if (n >= vals->count || vals->digests[n].size != 32)
				break;
			memcpy(out->value[i], vals->digests[n].buffer, 32);
			got |= 1u << i;
			n++;
		}
		Esys_Free(got_sel);
		Esys_Free(vals);
		if (got == 0 || (got & ~pcr_mask) != 0)
			return attest_fail(ATTEST_E_TPM, "PCR_Read returned an unexpected selection");
		out->mask |= got;
	}
	return ATTEST_OK;
}

int attest_tpm_pcr_extend(struct attest_tpm *t, unsigned pcr, const uint8_t digest[32])
{
	TPML_DIGEST_VALUES v = { .count = 1 };
	TSS2_RC rc;

	TPM_READY(t);
	if (pcr > 23)
		return attest_fail(ATTEST_E_INVALID_ARG, "PCR %u out of range", pcr);
	v.digests[0].hashAlg = TPM2_ALG_SHA256;
	memcpy(v.digests[0].digest.sha256, digest, 32);
	TPM_CALL(t, rc, Esys_PCR_Extend(t->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				     ESYS_TR_NONE, &v));
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(rc, "Esys_PCR_Extend");
	return ATTEST_OK;
}

/* Count handles of the capability range starting at `first`; sessions are
 * reported with HMAC (0x02) or policy (0x03) handle types in either range. */
static int handle_in_range(uint32_t first, uint32_t h)
{
	if ((first >> 24) == TPM2_HT_TRANSIENT)
		return (h >> 24) == TPM2_HT_TRANSIENT;
	return (h >> 24) == TPM2_HT_HMAC_SESSION || (h >> 24) == TPM2_HT_POLICY_SESSION;
}

/* One run of the policy sequence and the Sign it authorises. Returns the
 * raw TSS2_RC of the first failing command in *rc_out. */
static int policy_sign_once(struct attest_tpm *t, ESYS_TR key, uint32_t pcr_mask,
			    const TPM2B_DIGEST *d, int attempt, TPMT_SIGNATURE **s,
			    TSS2_RC *rc_out)
{
	TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
	TPMT_SIG_SCHEME null_scheme = { .scheme = TPM2_ALG_NULL };
	TPMT_TK_HASHCHECK check = { .tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL };
	TPM2B_DIGEST empty = { 0 };
	TPML_PCR_SELECTION sel;
	TSS2_RC rc = TSS2_RC_SUCCESS;
	const char *what = "Esys_StartAuthSession (agent policy)";

	attest_pcr_selection(pcr_mask, &sel);
	if (t->policy_sess == ESYS_TR_NONE) {
		TPM_CALL(t, rc, Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE,
						      ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL,
						      TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256,
						      &t->policy_sess));
		if (rc == TSS2_RC_SUCCESS &&
		    (rc = Esys_TRSess_SetAttributes(t->esys, t->policy_sess,
						    TPMA_SESSION_CONTINUESESSION,
						    TPMA_SESSION_CONTINUESESSION)) != TSS2_RC_SUCCESS)
			what = "Esys_TRSess_SetAttributes";
	}
	if (rc == TSS2_RC_SUCCESS) {
		what = "Esys_PolicyPCR";
		TPM_CALL(t, rc, Esys_PolicyPCR(t->esys, t->policy_sess, ESYS_TR_NONE, ESYS_TR_NONE,
					       ESYS_TR_NONE, &empty, &sel));
	}
	if (rc == TSS2_RC_SUCCESS) {
		what = "Esys_PolicyAuthValue";
		TPM_CALL(t, rc, Esys_PolicyAuthValue(t->esys, t->policy_sess, ESYS_TR_NONE,
						     ESYS_TR_NONE, ESYS_TR_NONE));
	}
	if (rc == TSS2_RC_SUCCESS) {
		what = "Esys_PolicyCommandCode(TPM2_CC_Sign)";
		TPM_CALL(t, rc, Esys_PolicyCommandCode(t->esys, t->policy_sess, ESYS_TR_NONE,
						       ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CC_Sign));
	}
	if (rc == TSS2_RC_SUCCESS) {
		if (t->policy_hook != NULL)
			t->policy_hook(t, attempt, t->policy_hook_arg);
		what = "Esys_Sign (policy)";
		TPM_CALL(t, rc, Esys_Sign(t->esys, key, t->policy_sess, ESYS_TR_NONE, ESYS_TR_NONE, d,
					  &null_scheme, &check, s));
	}
	/* A failed sequence leaves the session in an unknown policy state:
	 * drop it; the next call starts a fresh one. */
	if (rc != TSS2_RC_SUCCESS)
		flush(t, &t->policy_sess);
	*rc_out = rc;
	return rc == TSS2_RC_SUCCESS ? ATTEST_OK : tpm_fail(rc, what);
}

int attest_tpm_sign_policy(struct attest_tpm *t, const struct attest_tpm_key *key,
			   const TPM2B_AUTH *auth, uint32_t pcr_mask, const uint8_t digest[32],
			   TPMT_SIGNATURE *sig)
{
	static const TPM2B_AUTH no_auth = { 0 };
	TPM2B_DIGEST d = { .size = 32 };
	TPMT_SIGNATURE *s = NULL;
	ESYS_TR h = ESYS_TR_NONE;
	TSS2_RC rc = TSS2_RC_SUCCESS;
	int r, attempt = 0;
	size_t slot = ATTEST_TPM_RESIDENT_MAX; /* the resident entry of h, if any */
	uint8_t id[32];

	TPM_READY(t);
	if (pcr_mask == 0 || (pcr_mask >> 24) != 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "policy sign: bad PCR mask");
	memcpy(d.buffer, digest, 32);
	if (auth == NULL)
		auth = &no_auth;
	if (t->resident_max > 0) {
		if ((r = key_id(key, id)) != ATTEST_OK)
			return r;
		for (size_t i = 0; i < ATTEST_TPM_RESIDENT_MAX && slot == ATTEST_TPM_RESIDENT_MAX; i++)
			if (t->res[i].h != ESYS_TR_NONE && CRYPTO_memcmp(t->res[i].id, id, 32) == 0)
				slot = i;
	}
	if (slot != ATTEST_TPM_RESIDENT_MAX) {
		/* loaded already: no TPM2_Load; the auth value set again */
		h = t->res[slot].h;
		if ((rc = Esys_TR_SetAuth(t->esys, h, auth)) != TSS2_RC_SUCCESS) {
			flush(t, &t->res[slot].h);
			return tpm_fail(rc, "Esys_TR_SetAuth");
		}
	} else if (t->resident_max > 0) {
		resident_trim(t, t->resident_max - 1);
		for (slot = 0; t->res[slot].h != ESYS_TR_NONE; slot++)
			;
		if ((r = load_key_as(t, key, auth, 1, &h)) != ATTEST_OK)
			return r;
		t->res[slot].h = h;
		memcpy(t->res[slot].id, id, 32);
	} else if ((r = load_key(t, key, auth, &h)) != ATTEST_OK) {
		return r;
	}
	if (slot != ATTEST_TPM_RESIDENT_MAX)
		t->res[slot].used = ++t->res_clock;
	for (;;) {
		r = policy_sign_once(t, h, pcr_mask, &d, attempt, &s, &rc);
		if (r == ATTEST_OK || rc_base(rc) != TPM2_RC_PCR_CHANGED ||
		    attempt >= ATTEST_TPM_POLICY_RESTART_MAX)
			break;
		attempt++;
	}
	if (slot == ATTEST_TPM_RESIDENT_MAX)
		flush(t, &h);
	else if (r != ATTEST_OK && !t->broken)
		flush(t, &t->res[slot].h); /* a failed key does not stay */
	if (r != ATTEST_OK) {
		if (rc_base(rc) == TPM2_RC_PCR_CHANGED)
			return attest_fail_tss(ATTEST_E_TPM, rc,
					       "PCRs kept changing during the policy (%d restarts)",
					       attempt);
		return r;
	}
	*sig = *s;
	Esys_Free(s);
	return ATTEST_OK;
}

int attest_tpm_read_clock(struct attest_tpm *t, struct attest_tpm_clock *out)
{
	TPMS_TIME_INFO *ti = NULL;
	TSS2_RC rc;

	TPM_READY(t);
	memset(out, 0, sizeof(*out));
	TPM_CALL(t, rc, Esys_ReadClock(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &ti));
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(rc, "Esys_ReadClock");
	out->clock_ms = ti->clockInfo.clock;
	out->reset_count = ti->clockInfo.resetCount;
	out->restart_count = ti->clockInfo.restartCount;
	out->safe = ti->clockInfo.safe == TPM2_YES;
	Esys_Free(ti);
	return ATTEST_OK;
}

int attest_tpm_pcr_reset(struct attest_tpm *t, unsigned pcr)
{
	TSS2_RC rc;

	TPM_READY(t);
	if (pcr > 23)
		return attest_fail(ATTEST_E_INVALID_ARG, "PCR %u out of range", pcr);
	TPM_CALL(t, rc, Esys_PCR_Reset(t->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				    ESYS_TR_NONE));
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(rc, "Esys_PCR_Reset");
	return ATTEST_OK;
}

static int count_range(struct attest_tpm *t, uint32_t first, size_t *n)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more = TPM2_YES;
	uint32_t next = first;
	TSS2_RC rc;

	*n = 0;
	while (more == TPM2_YES) {
		TPM_CALL(t, rc, Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
						TPM2_CAP_HANDLES, next, 64, &more, &cap));
		if (rc != TSS2_RC_SUCCESS)
			return tpm_fail(rc, "Esys_GetCapability(handles)");
		const TPML_HANDLE *hl = &cap->data.handles;
		uint32_t count = 0;

		for (uint32_t i = 0; i < hl->count; i++) {
			if (!handle_in_range(first, hl->handle[i]))
				break;
			count++;
			next = hl->handle[i] + 1;
		}
		*n += count;
		if (count < hl->count || hl->count == 0)
			more = TPM2_NO;
		Esys_Free(cap);
		cap = NULL;
	}
	return ATTEST_OK;
}

/* Flush every handle of a capability range (first = range start). */
static int flush_range(struct attest_tpm *t, uint32_t first, size_t *flushed);
static int flush_range(struct attest_tpm *t, uint32_t first, size_t *flushed)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TSS2_SYS_CONTEXT *sys = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc;

	if ((rc = Esys_GetSysContext(t->esys, &sys)) != TSS2_RC_SUCCESS)
		return tpm_fail(rc, "Esys_GetSysContext");

	TPM_CALL(t, rc, Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					   TPM2_CAP_HANDLES, first, 64, &more, &cap));
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(rc, "Esys_GetCapability(handles)");
	for (uint32_t i = 0; i < cap->data.handles.count; i++) {
		uint32_t h = cap->data.handles.handle[i];
		if (!handle_in_range(first, h))
			break;
		/* Raw handles of a previous owner have no ESYS resource: flush
		 * them through the SAPI context beneath ESYS. */
		t->commands++;
		if (Tss2_Sys_FlushContext(sys, h) == TSS2_RC_SUCCESS)
			(*flushed)++;
		else
			t->broken = 1; /* maybe still there: sweep again next time */
	}
	Esys_Free(cap);
	return ATTEST_OK;
}

static int flush_all(struct attest_tpm *t, size_t *flushed)
{
	int r;

	*flushed = 0;
	if (!t->broken)
		flush(t, &t->policy_sess);
	resident_forget(t); /* flushed by the sweep below */
	if ((r = flush_range(t, (uint32_t)TPM2_HT_TRANSIENT << 24, flushed)) != ATTEST_OK ||
	    (r = flush_range(t, (uint32_t)TPM2_HT_LOADED_SESSION << 24, flushed)) != ATTEST_OK ||
	    (r = flush_range(t, (uint32_t)TPM2_HT_SAVED_SESSION << 24, flushed)) != ATTEST_OK)
		return r;
	return ATTEST_OK;
}

int attest_tpm_flush_all(struct attest_tpm *t, size_t *flushed)
{
	int r;

	*flushed = 0;
	if ((r = tpm_ready(t)) != ATTEST_OK)
		return r;
	return flush_all(t, flushed);
}

/* Transient objects plus loaded and saved sessions. */
static int count_all(struct attest_tpm *t, size_t *n)
{
	size_t a = 0, b = 0, c = 0;
	int r;

	*n = 0;
	if ((r = count_range(t, (uint32_t)TPM2_HT_TRANSIENT << 24, &a)) != ATTEST_OK ||
	    (r = count_range(t, (uint32_t)TPM2_HT_LOADED_SESSION << 24, &b)) != ATTEST_OK ||
	    (r = count_range(t, (uint32_t)TPM2_HT_SAVED_SESSION << 24, &c)) != ATTEST_OK)
		return r;
	*n = a + b + c;
	return ATTEST_OK;
}

int attest_tpm_count_handles(struct attest_tpm *t, size_t *objects, size_t *sessions)
{
	size_t loaded = 0, saved = 0;
	int r;

	TPM_READY(t);
	/* tss2's TPM2_*_FIRST macros shift a signed int into the sign bit. */
	if ((r = count_range(t, (uint32_t)TPM2_HT_TRANSIENT << 24, objects)) != ATTEST_OK ||
	    (r = count_range(t, (uint32_t)TPM2_HT_LOADED_SESSION << 24, &loaded)) != ATTEST_OK ||
	    (r = count_range(t, (uint32_t)TPM2_HT_SAVED_SESSION << 24, &saved)) != ATTEST_OK)
		return r;
	/* A session shows in the loaded or the saved range; count the larger. */
	*sessions = loaded > saved ? loaded : saved;
	return ATTEST_OK;
}

/* ---- NV counter of the audit log (docs/audit.md, "TPM anchor") ---- */

/* ESYS object for an NV index that exists; NOT_FOUND if it does not. The
 * caller closes it with Esys_TR_Close (it is metadata, not a TPM handle). */
static int nv_open(struct attest_tpm *t, uint32_t index, ESYS_TR *nv)
{
	TSS2_RC rc;
	int r, present = 0;

	*nv = ESYS_TR_NONE;
	if ((index >> 24) != TPM2_HT_NV_INDEX)
		return attest_fail(ATTEST_E_INVALID_ARG, "0x%08x is not an NV index", index);
	if ((r = handle_exists(t, index, &present)) != ATTEST_OK)
		return r;
	if (!present)
		return attest_fail(ATTEST_E_NOT_FOUND, "no NV index 0x%08x", index);
	t->commands++; /* NV_ReadPublic */
	rc = Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, nv);
	tpm_note(t, rc);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(rc, "Esys_TR_FromTPMPublic (NV counter)");
	return ATTEST_OK;
}

static void nv_close(struct attest_tpm *t, ESYS_TR *nv)
{
	if (*nv != ESYS_TR_NONE)
		(void)Esys_TR_Close(t->esys, nv);
	*nv = ESYS_TR_NONE;
}

/* The index must be our counter exactly: attributes (but WRITTEN), hash,
 * size and an empty policy; anything else at that handle is refused. */
static int nv_check_public(struct attest_tpm *t, ESYS_TR nv, uint32_t index, int *written)
{
	TPM2B_NV_PUBLIC *pub = NULL, want;
	TSS2_RC rc;
	int r = ATTEST_OK;

	TPM_CALL(t, rc, Esys_NV_ReadPublic(t->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					   &pub, NULL));
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(rc, "Esys_NV_ReadPublic (NV counter)");
	attest_nv_counter_public(index, 0, &want);
	if ((pub->nvPublic.attributes & ~TPMA_NV_WRITTEN) != want.nvPublic.attributes ||
	    pub->nvPublic.nameAlg != want.nvPublic.nameAlg ||
	    pub->nvPublic.dataSize != want.nvPublic.dataSize || pub->nvPublic.authPolicy.size != 0)
		r = attest_fail(ATTEST_E_STATE,
				"NV index 0x%08x is not the audit counter (attributes 0x%08x, size %u)",
				index, (unsigned)pub->nvPublic.attributes,
				(unsigned)pub->nvPublic.dataSize);
	if (written != NULL)
		*written = (pub->nvPublic.attributes & TPMA_NV_WRITTEN) != 0;
	Esys_Free(pub);
	return r;
}

int attest_tpm_nv_counter_define(struct attest_tpm *t, uint32_t index, int *created)
{
	TPM2B_NV_PUBLIC pub;
	TPM2B_AUTH empty = { 0 };
	ESYS_TR nv = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	TPM_READY(t);
	if (created != NULL)
		*created = 0;
	r = nv_open(t, index, &nv);
	if (r == ATTEST_OK) {
		r = nv_check_public(t, nv, index, NULL);
		nv_close(t, &nv);
		return r;
	}
	if (r != ATTEST_E_NOT_FOUND)
		return r;
	attest_nv_counter_public(index, 0, &pub);
	/* Owner authorisation (empty on a fresh TPM and swtpm; a TPM whose
	 * owner has an auth value needs the operator to define it). */
	TPM_CALL(t, rc, Esys_NV_DefineSpace(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
					    ESYS_TR_NONE, ESYS_TR_NONE, &empty, &pub, &nv));
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(rc, "Esys_NV_DefineSpace (audit counter)");
	nv_close(t, &nv);
	if (created != NULL)
		*created = 1;
	return ATTEST_OK;
}

int attest_tpm_nv_counter_read(struct attest_tpm *t, uint32_t index, uint64_t *value)
{
	TPM2B_MAX_NV_BUFFER *data = NULL;
	ESYS_TR nv = ESYS_TR_NONE;
	TSS2_RC rc;
	int r, written = 0;

	TPM_READY(t);
	*value = 0;
	if ((r = nv_open(t, index, &nv)) != ATTEST_OK)
		return r;
	if ((r = nv_check_public(t, nv, index, &written)) != ATTEST_OK)
		goto out;
	if (!written) {
		r = attest_fail(ATTEST_E_STATE, "NV counter 0x%08x never incremented", index);
		goto out;
	}
	TPM_CALL(t, rc, Esys_NV_Read(t->esys, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				     8, 0, &data));
	if (rc != TSS2_RC_SUCCESS) {
		r = tpm_fail(rc, "Esys_NV_Read (audit counter)");
		goto out;
	}
	if (data->size != 8) {
		r = attest_fail(ATTEST_E_TPM, "NV counter read returned %u bytes", data->size);
		goto out;
	}
	for (int i = 0; i < 8; i++)
		*value = (*value << 8) | data->buffer[i];
	r = ATTEST_OK;
out:
	Esys_Free(data);
	nv_close(t, &nv);
	return r;
}

int attest_tpm_nv_counter_increment(struct attest_tpm *t, uint32_t index, uint64_t *value)
{
	ESYS_TR nv = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	TPM_READY(t);
	if ((r = nv_open(t, index, &nv)) != ATTEST_OK)
		return r;
	if ((r = nv_check_public(t, nv, index, NULL)) != ATTEST_OK)
		goto out;
	/* TPM_RC_NV_RATE is retried by TPM_CALL with its own back-off. */
	TPM_CALL(t, rc, Esys_NV_Increment(t->esys, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE,
					  ESYS_TR_NONE));
	if (rc != TSS2_RC_SUCCESS) {
		r = tpm_fail(rc, "Esys_NV_Increment (audit counter)");
		goto out;
	}
	nv_close(t, &nv);
	return value != NULL ? attest_tpm_nv_counter_read(t, index, value) : ATTEST_OK;
out:
	nv_close(t, &nv);
	return r;
}

int attest_tpm_nv_certify(struct attest_tpm *t, uint32_t index, const uint8_t *qual,
			  size_t qual_len, TPM2B_ATTEST *attest, TPMT_SIGNATURE *sig)
{
	ESYS_TR ak = ESYS_TR_NONE, nv = ESYS_TR_NONE;
	TPM2B_DATA q = { 0 };
	TPMT_SIG_SCHEME null_scheme = { .scheme = TPM2_ALG_NULL };
	TPM2B_ATTEST *att = NULL;
	TPMT_SIGNATURE *s = NULL;
	TSS2_RC rc;
	int r;

	TPM_READY(t);
	if (qual_len > sizeof(q.buffer))
		return attest_fail(ATTEST_E_INVALID_ARG, "qualifyingData too long");
	q.size = (uint16_t)qual_len;
	if (qual_len > 0)
		memcpy(q.buffer, qual, qual_len);
	if ((r = nv_open(t, index, &nv)) != ATTEST_OK)
		return r;
	if ((r = nv_check_public(t, nv, index, NULL)) != ATTEST_OK ||
	    (r = load_ak(t, &ak, NULL)) != ATTEST_OK)
		goto out;
	/* size 8, offset 0: TPM_ST_ATTEST_NV carrying the counter's 8 bytes
	 * (size 0 would give TPM_ST_ATTEST_NV_DIGEST, a hash of them). */
	TPM_CALL(t, rc, Esys_NV_Certify(t->esys, ak, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_PASSWORD,
					ESYS_TR_NONE, &q, &null_scheme, 8, 0, &att, &s));
	if (rc != TSS2_RC_SUCCESS) {
		r = tpm_fail(rc, "Esys_NV_Certify (audit counter)");
		goto out;
	}
	r = take_attest(att, s, TPM2_ST_ATTEST_NV, &q, "NV_Certify", attest, sig);
out:
	Esys_Free(att);
	Esys_Free(s);
	flush(t, &ak);
	nv_close(t, &nv);
	return r;
}

int attest_tpm_nv_undefine(struct attest_tpm *t, uint32_t index)
{
	ESYS_TR nv = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	TPM_READY(t);
	if ((r = nv_open(t, index, &nv)) != ATTEST_OK)
		return r;
	TPM_CALL(t, rc, Esys_NV_UndefineSpace(t->esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD,
					      ESYS_TR_NONE, ESYS_TR_NONE));
	if (rc != TSS2_RC_SUCCESS) {
		nv_close(t, &nv);
		return tpm_fail(rc, "Esys_NV_UndefineSpace");
	}
	/* UndefineSpace invalidates the ESYS object itself. */
	return ATTEST_OK;
}

int attest_tpm_keep_resident(struct attest_tpm *t, int on)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc;
	uint32_t slots = 0;

	TPM_READY(t);
	if (!on) {
		resident_trim(t, 0);
		t->resident_max = 0;
		return ATTEST_OK;
	}
	TPM_CALL(t, rc, Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					TPM2_CAP_TPM_PROPERTIES, TPM2_PT_HR_TRANSIENT_MIN, 1,
					&more, &cap));
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(rc, "Esys_GetCapability(TPM2_PT_HR_TRANSIENT_MIN)");
	if (cap->data.tpmProperties.count == 1 &&
	    cap->data.tpmProperties.tpmProperty[0].property == TPM2_PT_HR_TRANSIENT_MIN)
		slots = cap->data.tpmProperties.tpmProperty[0].value;
	Esys_Free(cap);
	if (slots < 3) { /* no room beyond what one operation needs */
		t->resident_max = 0;
		return ATTEST_OK;
	}
	t->slots = slots;
	t->resident_max = slots - 1 < ATTEST_TPM_RESIDENT_MAX ? slots - 1 : ATTEST_TPM_RESIDENT_MAX;
	resident_trim(t, t->resident_max);
	return ATTEST_OK;
}

size_t attest_tpm_resident(const struct attest_tpm *t)
{
	return t != NULL ? resident_count(t) : 0;
}

void attest_tpm_evict(struct attest_tpm *t, const struct attest_tpm_key *key)
{
	uint8_t id[32];

	if (t == NULL || t->broken || t->resident_max == 0 || key_id(key, id) != ATTEST_OK) {
		attest_errclear();
		return;
	}
	for (size_t i = 0; i < ATTEST_TPM_RESIDENT_MAX; i++)
		if (t->res[i].h != ESYS_TR_NONE && CRYPTO_memcmp(t->res[i].id, id, 32) == 0)
			flush(t, &t->res[i].h);
}
