/* journal.c - priority prefixes for journald (journal.h). */
#include "journal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attest/attest.h"
#include "core/num.h"

static int journal = -1;

int journal_stderr(void)
{
	const char *js, *colon;
	uint64_t dev, ino;
	struct stat st;

	if (journal >= 0)
		return journal;
	journal = 0;
	/* "DEV:INO" of the stream systemd connected; stderr redirected since
	 * (by a wrapper, a test) is not the journal */
	if ((js = getenv("JOURNAL_STREAM")) == NULL || (colon = strchr(js, ':')) == NULL)
		return journal;
	if (attest_parse_u64n(js, (size_t)(colon - js), 0, UINT64_MAX, &dev) != ATTEST_OK ||
	    attest_parse_u64(colon + 1, 0, UINT64_MAX, &ino) != ATTEST_OK) {
		attest_errclear();
		return journal;
	}
	if (fstat(STDERR_FILENO, &st) == 0 && (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino)
		journal = 1;
	return journal;
}

void journal_line_start(FILE *f, int prio, const char *prog)
{
	char ts[32];
	struct tm tm;
	time_t now;

	if (journal_stderr()) {
		fprintf(f, "<%d>", prio);
		return;
	}
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "%s %s: ", ts, prog);
}
