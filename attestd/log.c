/* log.c - see log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "log.h"

void attestd_log(const char *fmt, ...)
{
	char ts[32], line[2048];
	struct tm tm;
	time_t now = time(NULL);
	va_list ap;

	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s attestd: ", ts);
	/* Details can carry bytes a peer chose: one event is one line, and
	 * anything unprintable is shown escaped, never interpreted. */
	for (const unsigned char *p = (const unsigned char *)line; *p != '\0'; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\')
			fputc(*p, stderr);
		else
			fprintf(stderr, "\\x%02x", *p);
	}
	fputc('\n', stderr);
}
