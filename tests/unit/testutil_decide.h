/* testutil_decide.h - what in-process decisions are made against, for
 * tests/unit/test_decide.c and bench/bench_decide.c: an in-memory fleet view
 * (a table of hosts and agents the tests change, behind struct
 * attest_facts) and the decision policy, on top of the software fleet of
 * testutil_intent.h (call fixture_up() first). */
#ifndef TESTS_TESTUTIL_DECIDE_H
#define TESTS_TESTUTIL_DECIDE_H

#include <stddef.h>
#include <stdint.h>

#include "attest/decide.h"
#include "tpm/tpmsw.h"
#include "testutil_intent.h"

struct fx_host_row {
	char name[64];
	int revoked, trusted;
	int64_t last_good;
	uint8_t ak[sizeof(TPM2B_PUBLIC)];
	size_t ak_len;
};

struct fx_agent_row {
	char id[400];
	int revoked, approved;
	char uuid[40];
	uint8_t measurement[32];
	char scopes[256], classes[64];
};

struct fx_view {
	struct fx_host_row hosts[4];
	size_t nhosts;
	struct fx_agent_row agents[16];
	size_t nagents;
	int host_calls; /* host facts looked up so far */
};

/* The view fx_facts answers from; memset it to empty it. */
extern struct fx_view fx_view;
/* host and agent facts from fx_view (risk tier low, score 10). */
extern const struct attest_facts fx_facts;

/* read on patient records needs ehr.read and a host attested within 300 s;
 * delete is denied everywhere. */
extern const char FX_DECIDE_POLICY[];

/* The row named so; a missing one fails the running CUnit test (fatal). */
struct fx_host_row *fx_host_row(const char *name);
struct fx_agent_row *fx_agent_row(const char *id);

/* Append a trusted host attested 10 s before fx.t0 with the AK ak. */
void fx_view_add_host(const char *name, const uint8_t *ak, size_t ak_len);
/* Append an approved agent with scopes "ehr.read ehr.write billing.read"
 * and data class phi. */
void fx_view_add_agent(const char *id, const char *uuid, const uint8_t m[32]);

/* The software view: web-01 and db-01 trusted, attested 10 s ago, with
 * their software AKs; A, B and C registered, approved, not revoked. */
void fx_view_up(void);

#endif
