/* posture.h - the fleet's posture report (docs/detection.md "Posture"):
 * findings over the store (hosts, agents, callers, reference sets,
 * registration changes), the detector's usage facts (scopes used,
 * decisions seen, delegation used) and the intent issuers' keys. Used by
 * GET /v1/posture, /metrics and `attest-verifier posture`. */
#ifndef VERIFIER_POSTURE_H
#define VERIFIER_POSTURE_H

#include <stdint.h>

#include <cJSON.h>

#include "attest/attest.h"
#include "detect.h"
#include "store.h"

struct vp_opts {
	int64_t now;
	int64_t days;          /* least-privilege window, days (30) */
	int64_t attest_window; /* seconds a host may go without a good quote (3600) */
	int64_t key_age_days;  /* intent issuer keys older than this (365) */
	uint64_t churn;        /* registration changes that make "often" (3) */
	int64_t ttl_cap;       /* a leaf lifetime at or over it is at the cap (VP_TTL_CAP_DEFAULT) */
	const char *state;     /* STATE (intent-issuers/), NULL: not checked */
};

void vp_opts_default(struct vp_opts *o);

/* attestd's default --max-ttl (ATTESTD_HARD_MAX_TTL in attestd/daemon.h):
 * the longest leaf lifetime any agent gets from a default attestd */
#define VP_TTL_CAP_DEFAULT 3600

/* Kinds and their severities, in report order. */
#define VP_KINDS 13
extern const char *const vp_kind[VP_KINDS];
extern const char *const vp_severity[VP_KINDS];

/* {"generated": RFC3339, "findings": [{id, severity, subject, evidence,
 * fix}]} into *out (the caller's); counts[k] findings of kind k. */
int vp_posture(struct vstore *st, struct vd *d, const struct vp_opts *o, cJSON **out,
	       unsigned counts[VP_KINDS]) ATTEST_MUST_CHECK;

/* The report as CSV: id,severity,subject,evidence,fix (RFC 4180 quoting;
 * a cell that starts with = + - @ gets a leading ' against formula
 * injection). malloc'd. */
char *vp_csv(const cJSON *report);

/* `attest-verifier posture` */
struct cli_cmd;
int vp_cmd_posture(const struct cli_cmd *cmd, int argc, char **argv);

#endif
