/* sdnotify.h - systemd's service notification protocol for attestd and
 * attest-verifier serve (Type=notify units, dist/systemd/): one datagram
 * per state change to $NOTIFY_SOCKET, as sd_notify(3) documents, without
 * linking libsystemd. Without $NOTIFY_SOCKET every call does nothing. */
#ifndef ATTEST_SDNOTIFY_H
#define ATTEST_SDNOTIFY_H

#include <stdint.h>

struct event_base;
struct event;

/* Send state ("READY=1\nSTATUS=...", "STOPPING=1", "WATCHDOG=1"): 0 when
 * sent or when not under systemd; -1 with errno when it could not be sent
 * (the caller logs it; a daemon keeps running). */
int sdn_notify(const char *state);

/* The watchdog interval systemd asked for in microseconds
 * ($WATCHDOG_USEC, for this pid when $WATCHDOG_PID is set), 0 for none. */
uint64_t sdn_watchdog_usec(void);

/* When systemd asked for a watchdog: a persistent timer on base sending
 * WATCHDOG=1 every half interval, so a loop that stops turning (a TPM
 * command or a peer wedging it) gets the service restarted. *ev is the
 * timer (NULL when none was asked for), freed by the caller with
 * event_free. 0, or -1 when the timer could not be made. */
int sdn_watchdog_start(struct event_base *base, struct event **ev);

#endif
