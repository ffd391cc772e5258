/* clock.c - see clock.h. */

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/num.h"
#include "host.h"
#include "log.h"

#define CLOCK_FILE "clock"

static uint64_t now_ms(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* STATE/clock: "<wall ms> <TPM clock ms> <resetCount>\n" */
static void ref_save(const struct attestd_clock *k, const char *state)
{
	char path[700], buf[96];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64 " %" PRIu64 " %" PRIu32 "\n",
			 k->ref_wall_ms, k->ref_tpm_ms, k->ref_reset);

	snprintf(path, sizeof(path), "%s/" CLOCK_FILE, state);
	if (n <= 0 || (size_t)n >= sizeof(buf) ||
	    attest_file_write_atomic(path, buf, (size_t)n, 0600) != ATTEST_OK)
		attestd_log("clock: %s not written: %s", path, attest_errdetail());
}

static void ref_load(struct attestd_clock *k, const char *state)
{
	char path[700];
	uint8_t *buf = NULL;
	size_t len = 0;
	uint64_t w = 0, t = 0, rc = 0;
	const char *f[3];
	size_t n[3];
	int r;

	snprintf(path, sizeof(path), "%s/" CLOCK_FILE, state);
	if ((r = attest_file_read(path, 256, &buf, &len)) != ATTEST_OK) {
		if (r != ATTEST_E_NOT_FOUND && r != ATTEST_E_IO)
			attestd_log("clock: %s unreadable: %s", path, attest_errdetail());
		return;
	}
	/* "<wall ms> <TPM ms> <resetCount>\n" */
	if (len > 0 && buf[len - 1] == '\n' &&
	    attest_fields((const char *)buf, len - 1, f, n, 3) == 3 &&
	    attest_parse_u64n(f[0], n[0], 1, UINT64_MAX, &w) == ATTEST_OK &&
	    attest_parse_u64n(f[1], n[1], 0, UINT64_MAX, &t) == ATTEST_OK &&
	    attest_parse_u64n(f[2], n[2], 0, UINT32_MAX, &rc) == ATTEST_OK) {
		k->ref_wall_ms = w;
		k->ref_tpm_ms = t;
		k->ref_reset = (uint32_t)rc;
		k->have_ref = 1;
	} else {
		attestd_log("clock: %s malformed; taking the clock as it is now", path);
	}
	free(buf);
}

int attestd_clock_check(struct attestd_clock *k, struct attestd_host *h, const char *when)
{
	struct attest_tpm_clock tc;
	uint64_t wall, mono;
	int64_t dw, dt, tol;
	int bad = 0, r;

	if (h->tpm == NULL)
		return attest_fail(ATTEST_E_TPM, "TPM unreachable");
	attestd_host_lock(h);
	r = attest_tpm_read_clock(h->tpm, &tc);
	attestd_host_unlock(h);
	if (r != ATTEST_OK)
		return r;
	wall = now_ms(CLOCK_REALTIME);
	mono = now_ms(CLOCK_MONOTONIC);
	k->offset_ms = (int64_t)(wall - mono);
	k->have_offset = 1;
	if (!k->have_ref)
		ref_load(k, h->state);
	if (k->have_ref && tc.clock_ms >= k->ref_tpm_ms) {
		dw = (int64_t)(wall - k->ref_wall_ms);
		dt = (int64_t)(tc.clock_ms - k->ref_tpm_ms);
		tol = ATTESTD_CLOCK_TOLERANCE_MS + dt / 100;
		if (dw < dt - tol) {
			bad = 1;
			snprintf(k->why, sizeof(k->why),
				 "wall clock went back %" PRId64 " s against the TPM clock (%s)",
				 (dt - dw) / 1000, when);
		} else if (tc.reset_count == k->ref_reset && dw > dt + tol) {
			bad = 1;
			snprintf(k->why, sizeof(k->why),
				 "wall clock jumped %" PRId64 " s ahead of the TPM clock without a "
				 "reboot (%s)",
				 (dw - dt) / 1000, when);
		}
	} else if (k->have_ref) {
		/* TPM clock below the reference: TPM2_Clear, or another TPM */
		attestd_log("clock: the TPM clock is behind the recorded one (TPM cleared or "
			    "replaced?): taking the clock as it is now");
	}
	if (bad) {
		if (!k->bad)
			attestd_log("clock: %s; issuance and registration stop until it agrees "
				    "again (docs/protocol.md \"Time\")",
				    k->why);
		k->bad = 1;
		k->last_bad_check_ms = mono;
		return ATTEST_OK; /* the reference stays where it was */
	}
	if (k->bad)
		attestd_log("clock: wall clock agrees with the TPM clock again (%s); issuance "
			    "resumes", when);
	k->bad = 0;
	k->why[0] = '\0';
	k->ref_wall_ms = wall;
	k->ref_tpm_ms = tc.clock_ms;
	k->ref_reset = tc.reset_count;
	k->have_ref = 1;
	ref_save(k, h->state);
	return ATTEST_OK;
}

int attestd_clock_ok(struct attestd_clock *k, struct attestd_host *h)
{
	uint64_t wall = now_ms(CLOCK_REALTIME), mono = now_ms(CLOCK_MONOTONIC);
	int64_t off = (int64_t)(wall - mono), step;
	int r;

	step = k->have_offset ? off - k->offset_ms : 0;
	if (step < 0)
		step = -step;
	if (!k->have_offset || step > ATTESTD_CLOCK_STEP_MS ||
	    (k->bad && mono - k->last_bad_check_ms >= 1000)) {
		if ((r = attestd_clock_check(k, h, k->bad ? "re-check" : "wall clock stepped")) !=
		    ATTEST_OK) {
			char why[300];

			snprintf(why, sizeof(why), "%s", attest_errdetail());
			return attest_fail(ATTEST_E_CLOCK, "wall clock cannot be checked: %s", why);
		}
	}
	if (k->bad)
		return attest_fail(ATTEST_E_CLOCK, "%s", k->why);
	return ATTEST_OK;
}
