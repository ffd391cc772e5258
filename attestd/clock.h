/* clock.h - attestd's wall clock checked against the TPM's Clock.
 *
 * Certificates are only as right as the wall clock that dates them. The
 * TPM's Clock (TPM2_ReadClock) advances only while the TPM is powered and
 * never goes back, so a reference pair (wall ms, TPM ms, resetCount), kept
 * in STATE/clock, says how far wall time may have moved since: within one
 * TPM reset (no reboot) both advance alike; across one, wall time may
 * have advanced more (the machine was off), never less. A jump beyond the
 * tolerance stops issuance and registration (ATTEST_E_CLOCK) until the
 * two agree again; the reference is not moved while they disagree.
 * Checked at start, at each audit checkpoint, and before an issuance or a
 * registration when wall time moved against CLOCK_MONOTONIC (a cheap test
 * that needs no TPM command) or while issuance is stopped. */
#ifndef ATTESTD_CLOCK_H
#define ATTESTD_CLOCK_H

#include <stdint.h>

/* allowed disagreement: this much plus 1% of the TPM time elapsed */
#define ATTESTD_CLOCK_TOLERANCE_MS 120000
/* wall minus monotonic moving more than this triggers a TPM check */
#define ATTESTD_CLOCK_STEP_MS 2000

struct attestd_clock {
	int have_ref;
	uint64_t ref_wall_ms, ref_tpm_ms;
	uint32_t ref_reset;
	int64_t offset_ms;  /* CLOCK_REALTIME - CLOCK_MONOTONIC at the last check */
	int have_offset;
	int bad;            /* issuance stopped */
	uint64_t last_bad_check_ms; /* monotonic: re-checks while bad, at most 1/s */
	char why[256];
};

struct attestd_host;
/* Read h's TPM clock and compare (when: "start", "checkpoint", ...); the
 * reference lives in h->state. Logs a line when the state changes.
 * ATTEST_OK also when the clock is found inconsistent (k->bad says so); an
 * error only when the TPM could not be asked. */
int attestd_clock_check(struct attestd_clock *k, struct attestd_host *h, const char *when);
/* Before issuing or registering: ATTEST_OK, or ATTEST_E_CLOCK naming the
 * jump. */
int attestd_clock_ok(struct attestd_clock *k, struct attestd_host *h);

#endif
