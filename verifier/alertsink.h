/* alertsink.h - anomaly alerts out of the verifier: a webhook (libcurl
 * POST of the alert's JSON) and/or syslog, from one worker thread fed by
 * a bounded queue. The event loop only enqueues (a mutex held for a
 * memcpy); a full queue drops the alert and counts it; a failed delivery
 * is counted, never retried in the loop (docs/detection.md "Alerts"). */
#ifndef VERIFIER_ALERTSINK_H
#define VERIFIER_ALERTSINK_H

#include <stddef.h>

#include "attest/attest.h"

#define VA_QUEUE_MAX 256   /* alerts waiting for delivery */
#define VA_BODY_MAX 2048   /* bytes of one alert's JSON */
#define VA_TIMEOUT_S 5     /* a webhook POST's whole time */

struct vas_stats {
	unsigned long queued, sent, failed, dropped;
};

struct vas_sink;

/* url NULL: no webhook (http:// or https://; https verifies the peer
 * against ca_file, or the system store when NULL); use_syslog: also
 * syslog(LOG_WARNING, facility LOG_AUTHPRIV). Neither: *out NULL, nothing
 * to do. Starts the worker thread. */
int vas_start(const char *url, const char *ca_file, int use_syslog,
	     struct vas_sink **out) ATTEST_MUST_CHECK;
/* Queue one alert (JSON text, copied); never blocks on delivery. */
void vas_post(struct vas_sink *k, const char *json);
void vas_stats(struct vas_sink *k, struct vas_stats *out);
/* Stops the thread after at most the delivery in progress; the queue
 * left is dropped (counted). NULL is fine. */
void vas_stop(struct vas_sink *k);

#endif
