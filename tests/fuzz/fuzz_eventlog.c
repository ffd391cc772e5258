/* fuzz_eventlog.c - libFuzzer target for libattest/attestation/eventlog.c:
 *   attest_eventlog_parse on the raw input (the TCG crypto-agile log a host
 *   sends with its quote), then on an accepted log attest_eventlog_next over
 *   every event and attest_eventlog_replay.
 * Oracles besides the sanitizers: iteration yields exactly the number of
 * events the parser counted, every event's PCR is 0..23 and its data lies
 * inside the input; a log is accepted only within the caps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attestation/eventlog.h"
#include "fuzz_fixture.h"

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_eventlog: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct attest_eventlog log;
	struct attest_eventlog_event ev;
	uint8_t pcrs[24][32];
	uint32_t ext = 0;
	size_t cursor = 0, n = 0;

	if (attest_eventlog_parse(data, size, &log) != ATTEST_OK) {
		attest_errclear();
		return 0;
	}
	check(size <= ATTEST_EVENTLOG_MAX && log.nevents <= ATTEST_EVENTLOG_EVENTS_MAX,
	      "accepted a log over a cap");
	while (attest_eventlog_next(&log, &cursor, &ev)) {
		check(ev.pcr <= 23, "event PCR over 23");
		check(ev.sha256 >= data && ev.sha256 + 32 <= data + size, "digest outside the input");
		check(ev.data_len <= ATTEST_EVENTLOG_DATA_MAX &&
			      (ev.data_len == 0 || (ev.data >= data && ev.data + ev.data_len <= data + size)),
		      "event data outside the input");
		n++;
	}
	check(n == log.nevents, "iteration and parse disagree on the event count");
	check(attest_eventlog_replay(&log, pcrs, &ext) == ATTEST_OK, "replay of an accepted log failed");
	return 0;
}
