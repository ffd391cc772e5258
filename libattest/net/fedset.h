/* fedset.h - federated trust domains' bundles (x509/spiffebundle.h), as
 * attestd's front (for workloads) and the verifier (for decisions) hold
 * them: one worker thread fetches each configured bundle endpoint with
 * libcurl (TLS to the operator's CA for that endpoint, never the system
 * store), parses it, and the event loop installs it; a bundle that fails
 * to fetch or parse, or goes back in spiffe_sequence, leaves the last
 * good one in place. The event loop never waits on a peer. */
#ifndef LIBATTEST_FEDSET_H
#define LIBATTEST_FEDSET_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "attest/attest.h"
#include "x509/spiffebundle.h"

struct event_base;
struct fedset;

#define FED_RETRY_S 30 /* s after a failed fetch before the next try */

/* changed(ctx) runs on the loop when a bundle was installed or dropped. */
int fedset_new(struct event_base *base, void (*changed)(void *ctx), void *ctx,
	       struct fedset **out) ATTEST_MUST_CHECK;
/* The worker (after the front is confined: its thread is born under the
 * filter). 0 or -1. */
int fedset_start(struct fedset *s);
void fedset_free(struct fedset *s);

/* The operator's list (from the monitor): entries whose trust domain, URL
 * and CA are unchanged keep their bundle (and, with refetch, are fetched
 * again now: an operator's federate of an unchanged entry); others are
 * fetched now; a removed trust domain's bundle is dropped (changed()
 * runs). Loop only. */
int fedset_configure(struct fedset *s, const struct fed_list *l, int refetch) ATTEST_MUST_CHECK;

/* Reading, on the loop: the trust domains with a good bundle. version
 * moves on with every change. */
struct fed_view {
	const char *td;
	const uint8_t *der; /* X.509 authorities, DER, concatenated (NULL: none) */
	size_t der_len;
	const char *jwks;   /* JWT bundle (NULL: none) */
	int64_t age_s;      /* seconds since a fetch last gave or confirmed it */
};
uint32_t fedset_count(const struct fedset *s);
int fedset_get(const struct fedset *s, uint32_t i, struct fed_view *v); /* 1: a good bundle */
uint64_t fedset_version(const struct fedset *s);
/* Each trust domain with its URL and state, as admin JSON objects added
 * to arr (the admin "federation" op). */
int fedset_status(const struct fedset *s, cJSON *arr) ATTEST_MUST_CHECK;

/* Where its lines go (NULL, the default: nowhere; libattest never prints):
 * each install, change and failed fetch. Before fedset_start. */
void fedset_set_log(struct fedset *s, void (*log)(void *ctx, const char *line), void *ctx);
/* Timing: a good bundle is fetched again after its spiffe_refresh_hint
 * but at most refresh_max seconds (1..FED_REFRESH_MAX, the default), a
 * failed fetch retried after retry_s (1..FED_RETRY_S, the default). */
void fedset_set_timing(struct fedset *s, long refresh_max, long retry_s);
/* Trust domain td: 1 and *v (a good bundle; v->age_s seconds since a
 * fetch last gave or confirmed it), 0 configured without a good bundle
 * yet, -1 not configured. *err: the last failure ("" none), borrowed. */
int fedset_find(const struct fedset *s, const char *td, struct fed_view *v,
		const char **err) ATTEST_MUST_CHECK;

#endif
