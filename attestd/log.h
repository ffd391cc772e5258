/* log.h - attestd's log: one line per event on stderr (journald or the
 * service manager keeps it), UTC timestamp first. */
#ifndef ATTESTD_LOG_H
#define ATTESTD_LOG_H

void attestd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
