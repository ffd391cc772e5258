/* fedfetch.h - the front's federated bundles (federation.h): one worker
 * thread fetches each configured bundle endpoint with libcurl (TLS to the
 * operator's CA for that endpoint, never the system store), parses it,
 * and the event loop installs it; a bundle that fails to fetch or parse,
 * or goes back in spiffe_sequence, leaves the last good one in place. */
#ifndef ATTESTD_FEDFETCH_H
#define ATTESTD_FEDFETCH_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "attest/attest.h"
#include "federation.h"

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
};
uint32_t fedset_count(const struct fedset *s);
int fedset_get(const struct fedset *s, uint32_t i, struct fed_view *v); /* 1: a good bundle */
uint64_t fedset_version(const struct fedset *s);
/* Each trust domain with its URL and state, as admin JSON objects added
 * to arr (the admin "federation" op). */
int fedset_status(const struct fedset *s, cJSON *arr) ATTEST_MUST_CHECK;

#endif
