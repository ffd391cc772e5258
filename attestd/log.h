/* log.h - attestd's log: one line per event on stderr (journald or the
 * service manager keeps it), UTC timestamp first; under journald the
 * syslog priority instead (cli/journal.h): attestd_log info, attestd_log_err
 * err (attestd cannot start or go on), attestd_log_rl notice (what peers
 * did, aggregated). */
#ifndef ATTESTD_LOG_H
#define ATTESTD_LOG_H

/* The name each line carries after the time (default "attestd"; a
 * string that lives as long as the process). */
void attestd_log_name(const char *name);

void attestd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void attestd_log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Events a peer can repeat at will (refusals, drops): at most one line per
 * key per ATTESTD_LOG_INTERVAL seconds. The first event of a key is logged
 * at once; the ones after it in the same interval are only counted, and
 * when the interval is over one line says how many there were and shows the
 * last of them ("N more like this in 10 s: ..."). Keys name the source and
 * the kind (e.g. "busy uid=1000"); at most ATTESTD_LOG_KEYS keys are
 * tracked at once, events of further keys are counted under one "other
 * sources" line. */
#define ATTESTD_LOG_INTERVAL 10
#define ATTESTD_LOG_KEYS 64
void attestd_log_rl(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Write the summaries of intervals that are over (force: all of them, at
 * stop). Called once a second by the server. */
void attestd_log_flush(int force);

#endif
