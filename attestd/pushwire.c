/* pushwire.c - see pushwire.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "pushwire.h"
#include "x509/x509agent.h"

const char *push_kind_path(uint32_t kind)
{
	switch (kind) {
	case PUSH_NONCE: return "/v1/hosts/nonce";
	case PUSH_QUOTE: return "/v1/hosts/quote";
	case PUSH_REPORT: return "/v1/agents/report";
	case PUSH_CKPT: return "/v1/audit/checkpoint";
	default: return NULL;
	}
}

void push_reply_clear(struct push_reply *rep)
{
	attest_push_answer_clear(&rep->a);
	attest_enrol_result_clear(&rep->renewal);
	memset(rep, 0, sizeof(*rep));
}

void push_reply_parse(uint32_t kind, int r, const char *detail, const char *resp, size_t len,
		      struct push_reply *out)
{
	memset(out, 0, sizeof(*out));
	attest_errclear();
	if (r == ATTEST_OK && kind == PUSH_NONCE)
		r = attest_push_nonce_parse(resp, len, out->nonce, &out->nonce_len, &out->expires);
	else if (r == ATTEST_OK && kind == PUSH_QUOTE &&
		 (r = attest_push_answer_parse(resp, len, &out->a)) == ATTEST_OK &&
		 out->a.host_ca != NULL) {
		/* the renewal as typed fields; its certificates are the
		 * monitor's to check */
		int rr = attest_enrol_result_parse(out->a.host_ca, out->a.host_ca_len, &out->renewal);

		out->has_renewal = rr == ATTEST_OK;
		out->renewal_r = rr;
		if (rr != ATTEST_OK)
			snprintf(out->renewal_detail, sizeof(out->renewal_detail), "%s",
				 attest_errdetail());
		free(out->a.host_ca);
		out->a.host_ca = NULL;
		out->a.host_ca_len = 0;
		attest_errclear();
	}
	out->r = r;
	if (r != ATTEST_OK)
		snprintf(out->detail, sizeof(out->detail), "%s",
			 detail != NULL && detail[0] ? detail : attest_errdetail());
}

/* ---------- on the monitor channel ---------- */

#define GET_STR(c, f) mon_get_str(c, f, sizeof(f))

void push_reply_put(struct mon_out *m, uint32_t kind, const struct push_reply *rep)
{
	mon_put_u32(m, (uint32_t)rep->r);
	mon_put_str(m, rep->detail);
	if (rep->r != ATTEST_OK)
		return;
	if (kind == PUSH_NONCE) {
		mon_put_bytes(m, rep->nonce, rep->nonce_len);
		mon_put_i64(m, (int64_t)rep->expires);
	} else if (kind == PUSH_QUOTE) {
		mon_put_str(m, rep->a.state);
		mon_put_str(m, rep->a.reason_name);
		mon_put_u32(m, (uint32_t)rep->a.reason);
		mon_put_u8(m, rep->a.reboot != 0);
		mon_put_str(m, rep->a.refset);
		mon_put_u32(m, (uint32_t)rep->a.nrevoked);
		for (size_t i = 0; i < rep->a.nrevoked; i++)
			mon_put_str(m, rep->a.revoked_agents[i]);
		mon_put_u32(m, (uint32_t)rep->renewal_r);
		mon_put_str(m, rep->renewal_detail);
		mon_put_u8(m, (uint8_t)rep->has_renewal);
		if (rep->has_renewal) {
			mon_put_str(m, rep->renewal.host);
			mon_put_str(m, rep->renewal.trust_domain);
			mon_put_str(m, rep->renewal.host_ca_cert);
			mon_put_str(m, rep->renewal.issuing_ca_cert);
			mon_put_str(m, rep->renewal.root_cert);
		}
	}
}

/* A string of at most max bytes without NUL, malloc'd. */
static int get_dup(struct attest_cur *c, size_t max, char **out)
{
	const uint8_t *p;
	size_t n;

	if (!mon_get_bytes(c, max, &p, &n) || memchr(p, '\0', n) != NULL ||
	    (*out = strndup((const char *)p, n)) == NULL)
		return 0;
	return 1;
}

int push_reply_get(struct attest_cur *c, uint32_t kind, struct push_reply *rep)
{
	uint32_t code, n, rr;
	int64_t expires;
	uint8_t b;
	const uint8_t *p;
	size_t len;

	memset(rep, 0, sizeof(*rep));
	if (push_kind_path(kind) == NULL || !mon_get_u32(c, &code) || code >= ATTEST_E__COUNT ||
	    !GET_STR(c, rep->detail))
		goto bad;
	rep->r = (int)code;
	if (rep->r != ATTEST_OK || kind == PUSH_REPORT || kind == PUSH_CKPT)
		goto end;
	if (kind == PUSH_NONCE) {
		if (!mon_get_bytes(c, ATTEST_PUSH_NONCE_MAX, &p, &len) || len == 0 ||
		    !mon_get_i64(c, &expires) || expires < 0)
			goto bad;
		memcpy(rep->nonce, p, len);
		rep->nonce_len = len;
		rep->expires = (uint64_t)expires;
		goto end;
	}
	/* the verdict */
	if (!GET_STR(c, rep->a.state) || !GET_STR(c, rep->a.reason_name) || !mon_get_u32(c, &rr) ||
	    rr >= ATTEST_E__COUNT || !mon_get_u8(c, &b) || b > 1 || !GET_STR(c, rep->a.refset) ||
	    !mon_get_u32(c, &n) || n > ATTEST_PUSH_REVOKED_MAX)
		goto bad;
	rep->a.reboot = b;
	rep->a.reason = (int)rr;
	if (n > 0 && (rep->a.revoked_agents = calloc(n, sizeof(char *))) == NULL)
		goto bad;
	for (uint32_t i = 0; i < n; i++) {
		if (!get_dup(c, ATTEST_AGENT_ID_MAX - 1, &rep->a.revoked_agents[i]))
			goto bad;
		rep->a.nrevoked++;
	}
	if (!mon_get_u32(c, &rr) || rr >= ATTEST_E__COUNT || !GET_STR(c, rep->renewal_detail) ||
	    !mon_get_u8(c, &b) || b > 1)
		goto bad;
	rep->renewal_r = (int)rr;
	rep->has_renewal = b;
	if (b && (!GET_STR(c, rep->renewal.host) || !GET_STR(c, rep->renewal.trust_domain) ||
		  !get_dup(c, ATTEST_ENROL_CERT_MAX, &rep->renewal.host_ca_cert) ||
		  !get_dup(c, ATTEST_ENROL_BUNDLE_MAX, &rep->renewal.issuing_ca_cert) ||
		  !get_dup(c, ATTEST_ENROL_CERT_MAX, &rep->renewal.root_cert)))
		goto bad;
end:
	if (mon_get_end(c))
		return ATTEST_OK;
bad:
	push_reply_clear(rep);
	return attest_fail(ATTEST_E_PARSE, "push reply malformed at byte %zu", attest_cur_pos(c));
}
