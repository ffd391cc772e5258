/* journal.c - priority prefixes for journald (journal.h). */
#include "journal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int journal = -1;

int journal_stderr(void)
{
	const char *js;
	char *end = NULL;
	unsigned long long dev, ino;
	struct stat st;

	if (journal >= 0)
		return journal;
	journal = 0;
	/* "DEV:INO" of the stream systemd connected; stderr redirected since
	 * (by a wrapper, a test) is not the journal */
	if ((js = getenv("JOURNAL_STREAM")) == NULL || js[0] < '0' || js[0] > '9')
		return journal;
	errno = 0;
	dev = strtoull(js, &end, 10);
	if (errno != 0 || end == NULL || *end != ':' || end[1] < '0' || end[1] > '9')
		return journal;
	ino = strtoull(end + 1, &end, 10);
	if (errno != 0 || end == NULL || *end != '\0')
		return journal;
	if (fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino)
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
