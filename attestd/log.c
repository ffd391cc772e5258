/* log.c - see log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "journal.h"
#include "log.h"

static const char *log_name = "attestd";

void attestd_log_name(const char *name) { log_name = name; }

/* One line in one write: "<prio>" first under journald, else the time.
 * Details can carry bytes a peer chose: one event is one line, and
 * anything unprintable is shown escaped, never interpreted (journal.h). */
static void emit(int prio, const char *line)
{
	journal_line(prio, log_name, line);
}

void attestd_log(const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	emit(JOURNAL_INFO, line);
}

void attestd_log_err(const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	emit(JOURNAL_ERR, line);
}

/* ---------- aggregated events ---------- */

static struct slot {
	char key[96];    /* "" when free */
	time_t start;    /* monotonic second the interval began */
	unsigned long n; /* events after the first in this interval */
	char last[768];  /* the latest of them */
} slots[ATTESTD_LOG_KEYS + 1]; /* the last one: "other sources" */

static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void summarise(struct slot *s)
{
	if (s->n > 0) {
		char line[1024];

		snprintf(line, sizeof(line), "%lu more like this in the last %ld s: %s", s->n,
			 (long)(mono_now() - s->start), s->last);
		emit(JOURNAL_NOTICE, line);
	}
	s->n = 0;
}

void attestd_log_flush(int force)
{
	time_t now = mono_now();

	for (size_t i = 0; i <= ATTESTD_LOG_KEYS; i++) {
		struct slot *s = &slots[i];

		if (s->key[0] == '\0' || (!force && now - s->start < ATTESTD_LOG_INTERVAL))
			continue;
		summarise(s);
		s->key[0] = '\0';
	}
}

void attestd_log_rl(const char *key, const char *fmt, ...)
{
	struct slot *s = NULL, *free_slot = NULL;
	char line[768];
	time_t now = mono_now();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	attestd_log_flush(0); /* frees the slots of intervals that are over */
	for (size_t i = 0; i < ATTESTD_LOG_KEYS && s == NULL; i++) {
		if (slots[i].key[0] == '\0') {
			if (free_slot == NULL)
				free_slot = &slots[i];
		} else if (strncmp(slots[i].key, key, sizeof(slots[i].key) - 1) == 0) {
			s = &slots[i];
		}
	}
	if (s == NULL && free_slot != NULL) {
		s = free_slot;
		snprintf(s->key, sizeof(s->key), "%s", key);
		s->start = now;
		s->n = 0;
		emit(JOURNAL_NOTICE, line);
		return;
	}
	if (s == NULL) {
		/* too many sources at once: one line for all the others */
		s = &slots[ATTESTD_LOG_KEYS];
		if (s->key[0] == '\0') {
			snprintf(s->key, sizeof(s->key), "other sources");
			s->start = now;
			s->n = 0;
			attestd_log("more than %d sources of refusals at once; further ones are "
				    "counted together: %s", ATTESTD_LOG_KEYS, line);
			return;
		}
	}
	s->n++;
	snprintf(s->last, sizeof(s->last), "%s", line);
}
