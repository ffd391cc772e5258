/* mintwire.c - the issue order and its result on the monitor channel
 * (mint.h, monproto.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "mint.h"
#include "monproto.h"
#include "request.h"

void mint_order_put(struct mon_out *m, const struct mint_order *o)
{
	mon_put_str(m, o->name);
	mon_put_u8(m, o->session);
	mon_put_u8(m, o->parent);
	mon_put_u8(m, o->renew);
	mon_put_i64(m, o->ttl);
	mon_put_u32(m, o->nwant);
	for (uint32_t i = 0; i < o->nwant; i++)
		mon_put_str(m, o->want[i]);
	mon_put_str(m, o->task_id);
	mon_put_u32(m, o->ndns);
	for (uint32_t i = 0; i < o->ndns && i < AGENT_MAX_DNS; i++)
		mon_put_str(m, o->dns[i]);
	mon_put_bytes(m, o->spki, o->spki_len);
	mon_put_u8(m, (uint8_t)o->has_intent);
	if (!o->has_intent)
		return;
	mon_put_bytes(m, o->in.token, o->in.token_len);
	mon_put_u32(m, o->in.nscopes);
	for (uint32_t i = 0; i < o->in.nscopes; i++)
		mon_put_str(m, o->in.scopes[i]);
	mon_put_i64(m, o->in.expiry);
	mon_put_str(m, o->in.marker_kind);
	mon_put_str(m, o->in.marker_iss);
	mon_put_str(m, o->in.marker_value);
	mon_put_str(m, o->in.user);
	mon_put_str(m, o->in.purpose);
	mon_put_str(m, o->in.purpose_text);
	mon_put_u32(m, o->in.depth);
	for (uint32_t i = 0; i <= o->in.depth && i < MINT_AGENTS_MAX; i++)
		mon_put_str(m, o->in.agents[i]);
}

#define GET_STR(c, f) mon_get_str(c, f, sizeof(f))

int mint_order_get(struct attest_cur *c, struct mint_order *o)
{
	uint8_t hi;

	memset(o, 0, sizeof(*o));
	if (!GET_STR(c, o->name) || !mon_get_u8(c, &o->session) || o->session > 1 ||
	    !mon_get_u8(c, &o->parent) || o->parent > 1 || !mon_get_u8(c, &o->renew) ||
	    o->renew > 1 || !mon_get_i64(c, &o->ttl) || o->ttl < -1 ||
	    !mon_get_u32(c, &o->nwant) || o->nwant > AGENT_MAX_SCOPES)
		goto bad;
	for (uint32_t i = 0; i < o->nwant; i++)
		if (!GET_STR(c, o->want[i]) || !valid_scope(o->want[i]))
			goto bad;
	if (!GET_STR(c, o->task_id) || !mon_get_u32(c, &o->ndns) || o->ndns > AGENT_MAX_DNS)
		goto bad;
	for (uint32_t i = 0; i < o->ndns; i++)
		if (!GET_STR(c, o->dns[i]) || !attest_dns_name_ok(o->dns[i], NULL))
			goto bad;
	if (!mon_get_bytes(c, MINT_SPKI_MAX, &o->spki, &o->spki_len) ||
	    !mon_get_u8(c, &hi) || hi > 1)
		goto bad;
	o->has_intent = hi;
	if (o->has_intent) {
		struct mint_intent *in = &o->in;

		if (!mon_get_bytes(c, ATTEST_INTENT_TOKEN_MAX, &in->token, &in->token_len) ||
		    in->token_len == 0 || !mon_get_u32(c, &in->nscopes) ||
		    in->nscopes > AGENT_MAX_SCOPES)
			goto bad;
		for (uint32_t i = 0; i < in->nscopes; i++)
			if (!GET_STR(c, in->scopes[i]) || !valid_scope(in->scopes[i]))
				goto bad;
		if (!mon_get_i64(c, &in->expiry) || !GET_STR(c, in->marker_kind) ||
		    !GET_STR(c, in->marker_iss) || !GET_STR(c, in->marker_value) ||
		    !GET_STR(c, in->user) || !GET_STR(c, in->purpose) ||
		    !GET_STR(c, in->purpose_text) || !mon_get_u32(c, &in->depth) ||
		    in->depth >= MINT_AGENTS_MAX)
			goto bad;
		for (uint32_t i = 0; i <= in->depth; i++)
			if (!GET_STR(c, in->agents[i]))
				goto bad;
	}
	if (!mon_get_end(c))
		goto bad;
	return ATTEST_OK;
bad:
	return attest_fail(ATTEST_E_PARSE, "issue order malformed at byte %zu", attest_cur_pos(c));
}

void mint_result_put(struct mon_out *m, const struct mint_result *res)
{
	mon_put_str(m, res->chain);
	mon_put_str(m, res->id);
	mon_put_i64(m, res->ttl);
	mon_put_str(m, res->scopes);
	mon_put_i64(m, res->pid);
}

int mint_result_get(struct attest_cur *c, struct mint_result *res)
{
	const uint8_t *p;
	size_t n;
	int64_t ttl, pid;

	memset(res, 0, sizeof(*res));
	if (!mon_get_bytes(c, MON_MSG_MAX, &p, &n) || n == 0 || memchr(p, '\0', n) != NULL ||
	    !GET_STR(c, res->id) || !mon_get_i64(c, &ttl) || ttl < 1 || ttl > 86400 ||
	    !GET_STR(c, res->scopes) || !mon_get_i64(c, &pid) || pid < 1 || pid > INT32_MAX ||
	    !mon_get_end(c))
		return attest_fail(ATTEST_E_PARSE, "issue result malformed");
	if ((res->chain = strndup((const char *)p, n)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "chain");
	res->ttl = (long)ttl;
	res->pid = (pid_t)pid;
	return ATTEST_OK;
}
