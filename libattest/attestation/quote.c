/* quote.c - the verifier's appraisal of a host quote (see quote.h). The
 * structural steps are evidence.c's, shared with attest_verify_quote. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/err.h"
#include "attestation/eventlog.h"
#include "tpm/evidence.h"
#include "core/json.h"
#include "attestation/quote.h"
#include "tpm/tpmsw.h"

/* The reported value of PCR `pcr` (in mask) inside index-ordered values. */
static const uint8_t *reported(const struct attest_quote_evidence *ev, unsigned pcr)
{
	unsigned k = 0;

	for (unsigned i = 0; i < pcr; i++)
		k += (ev->pcr_mask >> i) & 1u;
	return ev->pcr_values + (size_t)k * 32;
}

static int check_nonce(const TPMS_ATTEST *a, const struct attest_quote_policy *p)
{
	int r;

	if (a->extraData.size == 0)
		return attest_fail(ATTEST_E_NONCE, "quote carries no nonce (empty extraData)");
	attest_errclear();
	r = p->nonce_take(p->nonce_arg, a->extraData.buffer, a->extraData.size);
	if (r == ATTEST_OK)
		return ATTEST_OK;
	if (attest_errdetail()[0] == '\0')
		return attest_fail(r, "quote nonce was not issued, has expired or was used already");
	return r;
}

static int check_eventlog(const struct attest_eventlog *log, const struct attest_quote_evidence *ev,
			  uint32_t mask)
{
	uint8_t pcrs[24][32];
	char want[65], got[65];
	uint32_t extended = 0;
	int r;

	if ((r = attest_eventlog_replay(log, pcrs, &extended)) != ATTEST_OK)
		return r;
	for (unsigned i = 0; i < 24; i++) {
		if (!(mask & (1u << i)))
			continue;
		if (CRYPTO_memcmp(pcrs[i], reported(ev, i), 32) != 0) {
			attest_hex(pcrs[i], 32, want);
			attest_hex(reported(ev, i), 32, got);
			return attest_fail(ATTEST_E_EVENTLOG,
					   "PCR %u: event-log replay gives %s (%s), the quote reports %s",
					   i, want,
					   (extended >> i) & 1u ? "from its events" : "no events: reset value",
					   got);
		}
	}
	return ATTEST_OK;
}

static int check_counters(const TPMS_CLOCK_INFO *c, const struct attest_quote_counters *prev,
			  struct attest_quote_result *out)
{
	out->now.have = 1;
	out->now.reset_count = c->resetCount;
	out->now.restart_count = c->restartCount;
	out->now.clock = c->clock;
	out->safe = c->safe == TPM2_YES;
	if (prev == NULL || !prev->have)
		return ATTEST_OK;
	if (c->resetCount < prev->reset_count)
		return attest_fail(ATTEST_E_QUOTE_COUNTER, "resetCount went back from %u to %u",
				   prev->reset_count, c->resetCount);
	if (c->resetCount > prev->reset_count) {
		out->reboot = 1;
		return ATTEST_OK;
	}
	if (c->restartCount < prev->restart_count)
		return attest_fail(ATTEST_E_QUOTE_COUNTER,
				   "restartCount went back from %u to %u within resetCount %u",
				   prev->restart_count, c->restartCount, c->resetCount);
	if (c->restartCount == prev->restart_count && c->clock < prev->clock)
		return attest_fail(ATTEST_E_QUOTE_COUNTER,
				   "clock went back from %llu to %llu ms within resetCount %u "
				   "restartCount %u",
				   (unsigned long long)prev->clock, (unsigned long long)c->clock,
				   c->resetCount, c->restartCount);
	return ATTEST_OK;
}

/* Event-log allowlist of set s: every extending event of a PCR it covers
 * must carry an allowed SHA-256 digest. */
static int check_allowlist(const struct attest_refset *s, const struct attest_eventlog *log,
			   uint32_t mask)
{
	struct attest_eventlog_event e;
	uint32_t allow = attest_refset_allow_mask(s);
	size_t cursor = 0, idx = 0;
	char hex[65];

	if (allow == 0)
		return ATTEST_OK;
	if (log == NULL)
		return attest_fail(ATTEST_E_EVENTLOG_POLICY,
				   "reference set \"%s\" has an event-log allowlist but no event log "
				   "was sent",
				   attest_refset_name(s));
	if ((allow & ~mask) != 0)
		return attest_fail(ATTEST_E_EVENTLOG_POLICY,
				   "reference set \"%s\" has an allowlist for PCRs 0x%06x the quote "
				   "does not cover (required 0x%06x)",
				   attest_refset_name(s), (unsigned)(allow & ~mask), (unsigned)mask);
	for (; attest_eventlog_next(log, &cursor, &e); idx++) {
		if (e.type == ATTEST_EV_NO_ACTION || !(allow & (1u << e.pcr)))
			continue;
		if (!attest_refset_allowed(s, e.pcr, e.sha256)) {
			attest_hex(e.sha256, 32, hex);
			return attest_fail(ATTEST_E_EVENTLOG_POLICY,
					   "event %zu (PCR %u, type 0x%08x, SHA-256 %s) is not in the "
					   "allowlist of reference set \"%s\"",
					   idx, e.pcr, e.type, hex, attest_refset_name(s));
		}
	}
	return ATTEST_OK;
}

/* Number of PCRs set s pins that differ from (or are missing in) the
 * report; *first the lowest of them. */
static unsigned set_distance(const struct attest_refset *s, const struct attest_quote_evidence *ev,
			     unsigned *first)
{
	uint32_t pins = attest_refset_mask(s);
	unsigned n = 0;

	*first = 24;
	for (unsigned i = 0; i < 24; i++) {
		if (!(pins & (1u << i)))
			continue;
		if (!(ev->pcr_mask & (1u << i)) ||
		    CRYPTO_memcmp(attest_refset_value(s, i), reported(ev, i), 32) != 0) {
			if (*first == 24)
				*first = i;
			n++;
		}
	}
	return n;
}

static int check_sets(const struct attest_quote_policy *p, const struct attest_quote_evidence *ev,
		      const struct attest_eventlog *log, struct attest_quote_result *out)
{
	char policy_detail[768] = "";
	size_t best = p->nsets;
	unsigned best_dist = 25, best_first = 24;
	char want[65], got[65];

	for (size_t i = 0; i < p->nsets; i++) {
		const struct attest_refset *s = p->sets[i];
		unsigned first, dist = set_distance(s, ev, &first);

		if (dist == 0) {
			if (check_allowlist(s, log, p->required_mask) != ATTEST_OK) {
				if (policy_detail[0] == '\0')
					snprintf(policy_detail, sizeof(policy_detail), "%s",
						 attest_errdetail());
				continue;
			}
			snprintf(out->refset, sizeof(out->refset), "%s", attest_refset_name(s));
			return ATTEST_OK;
		}
		if (dist < best_dist) {
			best = i;
			best_dist = dist;
			best_first = first;
		}
	}
	if (policy_detail[0] != '\0')
		return attest_fail(ATTEST_E_EVENTLOG_POLICY, "%s", policy_detail);
	if (best == p->nsets)
		return attest_fail(ATTEST_E_PCR_MISMATCH, "no reference set matches");
	if (!(ev->pcr_mask & (1u << best_first)))
		return attest_fail(ATTEST_E_PCR_MISMATCH,
				   "closest reference set \"%s\" pins PCR %u, which the quote does not "
				   "report (%u of its PCRs differ; %zu sets active)",
				   attest_refset_name(p->sets[best]), best_first, best_dist, p->nsets);
	attest_hex(attest_refset_value(p->sets[best], best_first), 32, want);
	attest_hex(reported(ev, best_first), 32, got);
	return attest_fail(ATTEST_E_PCR_MISMATCH,
			   "PCR %u is %s, closest reference set \"%s\" has %s (%u of its PCRs "
			   "differ; %zu sets active)",
			   best_first, got, attest_refset_name(p->sets[best]), want, best_dist,
			   p->nsets);
}

int attest_quote_appraise(const TPM2B_PUBLIC *ak, const struct attest_quote_evidence *ev,
			  const struct attest_quote_policy *p, struct attest_quote_result *out)
{
	TPMS_ATTEST a;
	TPMT_SIGNATURE sig;
	struct attest_eventlog log;
	const struct attest_eventlog *logp = NULL;
	int r = ATTEST_E_INTERNAL;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (ak == NULL || ev == NULL || p == NULL || out == NULL || p->nonce_take == NULL ||
	    (p->nsets > 0 && p->sets == NULL) || ev->attest == NULL || ev->sig == NULL) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "quote appraisal: NULL argument");
		goto out;
	}
	for (size_t i = 0; i < p->nsets; i++)
		if (p->sets[i] == NULL) {
			r = attest_fail(ATTEST_E_INVALID_ARG, "quote appraisal: NULL reference set");
			goto out;
		}
	/* 1. structure of everything sent, before any state changes */
	if ((r = attest_quote_parse(ev->attest, ev->attest_len, &a)) != ATTEST_OK)
		goto out;
	if ((r = attest_tpmt_signature_parse(ev->sig, ev->sig_len, &sig)) != ATTEST_OK)
		goto out;
	if (ev->eventlog != NULL) {
		if ((r = attest_eventlog_parse(ev->eventlog, ev->eventlog_len, &log)) != ATTEST_OK) {
			char inner[512];

			snprintf(inner, sizeof(inner), "%s", attest_errdetail());
			r = attest_fail(ATTEST_E_EVENTLOG, "malformed (%s): %s", attest_errname(r),
					inner);
			goto out;
		}
		logp = &log;
	}
	/* 2. selection, in the quote and in the report */
	if ((r = attest_quote_selection(&a, p->required_mask)) != ATTEST_OK)
		goto out;
	if (ev->pcr_mask != p->required_mask) {
		r = attest_fail(ATTEST_E_QUOTE_SELECTION,
				"values reported for PCRs 0x%06x, required 0x%06x",
				(unsigned)ev->pcr_mask, (unsigned)p->required_mask);
		goto out;
	}
	/* 3. digest of the reported values */
	if ((r = attest_quote_digest(&a, ev->pcr_mask, ev->pcr_values, ev->pcr_values_len)) !=
	    ATTEST_OK)
		goto out;
	/* 4. event log replay */
	if (logp != NULL) {
		if ((r = check_eventlog(logp, ev, ev->pcr_mask)) != ATTEST_OK)
			goto out;
		out->eventlog_pcrs = ev->pcr_mask;
	}
	/* 5. signature */
	if ((r = attest_tpm_verify_sig(ak, ev->attest, ev->attest_len, &sig)) != ATTEST_OK)
		goto out;
	/* 6. nonce, consumed: only once the AK signed it, so that a forged
	 * quote neither burns a nonce nor makes the caller write anything
	 * (nonces are free to obtain; consuming one records it) */
	if ((r = check_nonce(&a, p)) != ATTEST_OK)
		goto out;
	/* 7. counters */
	if ((r = check_counters(&a.clockInfo, p->prev, out)) != ATTEST_OK)
		goto out;
	/* 8. reference values */
	if (p->nsets > 0 && (r = check_sets(p, ev, logp, out)) != ATTEST_OK)
		goto out;
	r = ATTEST_OK;
out:
	if (r != ATTEST_OK && out != NULL)
		memset(out, 0, sizeof(*out));
	return r;
}
