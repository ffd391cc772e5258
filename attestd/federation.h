/* federation.h - other trust domains' SPIFFE bundles (docs/spiffe.md
 * "Federation").
 *
 * The operator adds a trust domain with its bundle endpoint (https_web:
 * an https URL and the CA its TLS certificate must chain to) on the admin
 * socket; the monitor checks and keeps the list in STATE/federation.json
 * (root's) and audits each change; the front fetches each bundle with
 * libcurl on a worker thread (libattest net/fedset.c), parses it strictly
 * (libattest x509/spiffebundle.c), and
 * hands the last good one to workloads in `federated_bundles`.
 *
 * The checks and the bundle parser are libattest's (x509/spiffebundle.h,
 * shared with the verifier); this file has the list on the monitor
 * channel and in its file. */
#ifndef ATTESTD_FEDERATION_H
#define ATTESTD_FEDERATION_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"
#include "core/cursor.h"
#include "x509/spiffebundle.h"
#include "monproto.h"

#define FED_FILE "federation.json"

/* On the monitor channel: u32 n, then per entry td, url, ca. */
void fed_list_put(struct mon_out *m, const struct fed_list *l);
int fed_list_get(struct attest_cur *c, struct fed_list *l) ATTEST_MUST_CHECK;

/* STATE/federation.json: none is an empty list. */
int fed_list_load(const char *state_dir, struct fed_list *l) ATTEST_MUST_CHECK;
int fed_list_save(const char *state_dir, const struct fed_list *l) ATTEST_MUST_CHECK;

#endif
