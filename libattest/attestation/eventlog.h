/* eventlog.h - the TCG PC Client crypto-agile event log (TCG PC Client
 * Platform Firmware Profile, section 10): what Linux exposes as
 * /sys/kernel/security/tpm0/binary_bios_measurements. Internal to libattest.
 *
 * Layout (all integers little-endian):
 *   TCG_PCR_EVENT      pcrIndex u32 (0), eventType u32 (EV_NO_ACTION),
 *                      digest[20] (zero), eventSize u32, event =
 *                      TCG_EfiSpecIDEvent: signature "Spec ID Event03\0",
 *                      platformClass u32, specVersionMinor u8 (0),
 *                      specVersionMajor u8 (2), specErrata u8, uintnSize u8,
 *                      numberOfAlgorithms u32, {algorithmId u16,
 *                      digestSize u16} x n, vendorInfoSize u8, vendorInfo
 *   TCG_PCR_EVENT2...  pcrIndex u32, eventType u32, count u32, {hashAlg u16,
 *                      digest[size declared in the header]} x count,
 *                      eventSize u32, event[eventSize]
 *
 * The parser is strict: caps below are checked before reading, every event
 * carries exactly one digest for each algorithm the header declares (in any
 * order, each once), digests of algorithms other than SHA-256 are skipped
 * by their declared size, pcrIndex <= 23, and the log ends exactly after
 * its last event. A malformed log is ATTEST_E_PARSE, one over a cap
 * ATTEST_E_TOO_LARGE.
 *
 * Replay (SHA-256 bank): PCRs start at their TPM2_Startup value: zero,
 * except PCR 0 = locality (last byte) when a StartupLocality EV_NO_ACTION
 * event says so (H-CRTM or locality-3 startup), and the D-RTM PCRs 17-22
 * which start as all ones. EV_NO_ACTION events are never extended; every
 * other event extends pcr = SHA-256(pcr || its SHA-256 digest). The
 * digests are taken as logged: the log is only trusted after its replay
 * equals PCR values a TPM signed.
 */
#ifndef LIBATTEST_EVENTLOG_H
#define LIBATTEST_EVENTLOG_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"

#define ATTEST_EVENTLOG_MAX (1024 * 1024)      /* bytes of a whole log */
#define ATTEST_EVENTLOG_DATA_MAX (64 * 1024)   /* bytes of one event's data */
#define ATTEST_EVENTLOG_EVENTS_MAX 10000       /* TCG_PCR_EVENT2 records */
#define ATTEST_EVENTLOG_ALGS_MAX 16            /* algorithms in the header */

#define ATTEST_EV_NO_ACTION 0x00000003u
#define ATTEST_EV_SEPARATOR 0x00000004u
#define ATTEST_EV_POST_CODE 0x00000001u

/* A parsed log. Pointers go into the caller's buffer, which must outlive it. */
struct attest_eventlog {
	const uint8_t *buf;
	size_t len;
	size_t first;     /* offset of the first TCG_PCR_EVENT2 */
	size_t nevents;   /* TCG_PCR_EVENT2 records */
	uint32_t nalgs;
	struct {
		uint16_t alg, size;
	} algs[ATTEST_EVENTLOG_ALGS_MAX];
	uint8_t locality; /* from StartupLocality, else 0 */
};

/* One TCG_PCR_EVENT2; pointers into the log. */
struct attest_eventlog_event {
	size_t index;          /* 0-based among TCG_PCR_EVENT2 records */
	size_t offset;         /* byte offset in the log */
	uint32_t pcr, type;
	const uint8_t *sha256; /* 32 bytes */
	const uint8_t *data;
	uint32_t data_len;
};

/* Parse and check the whole log (header and every event). */
int attest_eventlog_parse(const uint8_t *buf, size_t len,
			  struct attest_eventlog *out) ATTEST_MUST_CHECK;
/* Iterate a parsed log: *cursor starts at 0; returns 1 with ev filled, 0
 * at the end. Cannot fail on a log attest_eventlog_parse accepted. */
int attest_eventlog_next(const struct attest_eventlog *log, size_t *cursor,
			 struct attest_eventlog_event *ev);
/* Replay into the SHA-256 bank; *extended gets a bit per PCR that at least
 * one event extended. */
int attest_eventlog_replay(const struct attest_eventlog *log, uint8_t pcrs[24][32],
			   uint32_t *extended) ATTEST_MUST_CHECK;

/* ---- writer: builds synthetic logs for tests, fuzz seeds and demos ----
 * A log for the given algorithms (TPM_ALG_* values with a known digest;
 * SHA-256 must be among them). Each added event gets H_alg(data) for every
 * algorithm (zeros for EV_NO_ACTION), unless sha256 is given, which then
 * replaces the SHA-256 digest (events whose digest is not the hash of
 * their data, as firmware logs have). buf is malloc'd; free it with
 * attest_eventlog_writer_free. */
struct attest_eventlog_writer {
	uint8_t *buf;
	size_t len, cap;
	uint32_t nalgs;
	uint16_t algs[ATTEST_EVENTLOG_ALGS_MAX];
};

int attest_eventlog_writer_init(struct attest_eventlog_writer *w, const uint16_t *algs,
				size_t nalgs) ATTEST_MUST_CHECK;
int attest_eventlog_writer_add(struct attest_eventlog_writer *w, uint32_t pcr, uint32_t type,
			       const void *data, size_t len,
			       const uint8_t sha256[32]) ATTEST_MUST_CHECK;
/* EV_NO_ACTION "StartupLocality" in PCR 0: the TPM was started from locality. */
int attest_eventlog_writer_locality(struct attest_eventlog_writer *w,
				    uint8_t locality) ATTEST_MUST_CHECK;
void attest_eventlog_writer_free(struct attest_eventlog_writer *w);

#endif
