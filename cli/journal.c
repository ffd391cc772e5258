/* journal.c - priority prefixes for journald (journal.h). */
#include "journal.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
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

void journal_line(int prio, const char *prog, const char *msg)
{
	static const char hex[] = "0123456789abcdef";
	char buf[64 + 256 + JOURNAL_LINE_MAX + 8];
	size_t n, cap;
	int k;

	if (journal_stderr()) {
		k = snprintf(buf, sizeof(buf), "<%d>", prio);
	} else {
		char ts[32];
		struct tm tm;
		time_t now = time(NULL);

		gmtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		k = snprintf(buf, sizeof(buf), "%s %.255s: ", ts, prog);
	}
	n = k > 0 ? (size_t)k : 0;
	cap = n + JOURNAL_LINE_MAX;
	for (const unsigned char *p = (const unsigned char *)msg; *p != '\0'; p++) {
		if (n + 4 > cap) {
			buf[n++] = '.';
			buf[n++] = '.';
			buf[n++] = '.';
			break;
		}
		if (*p >= 0x20 && *p < 0x7f && *p != '\\') {
			buf[n++] = (char)*p;
		} else {
			buf[n++] = '\\';
			buf[n++] = 'x';
			buf[n++] = hex[*p >> 4];
			buf[n++] = hex[*p & 0x0f];
		}
	}
	buf[n++] = '\n';
	/* one write; a short one (a full pipe) goes on from where it stopped */
	for (size_t off = 0; off < n;) {
		ssize_t w = write(STDERR_FILENO, buf + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}
