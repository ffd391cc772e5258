/* bodies.c - see bodies.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "attest/policy.h"
#include "attest/decide.h"
#include "attestation/hostpush.h"
#include "bodies.h"
#include "core/err.h"
#include "core/json.h"
#include "tpm/tpm.h"
#include "x509/x509agent.h"

const char *const vb_keys_nonce[] = { "host", NULL };
const char *const vb_keys_quote[] = { "host", "nonce", "attest", "signature", "pcr_mask",
				      "pcr_values", "eventlog", "renew", NULL };
const char *const vb_keys_checkpoint[] = { "host", "checkpoint", "consistency", NULL };
const char *const vb_keys_report[] = { "report", "signature", "host_ca", "crls", NULL };
const char *const vb_keys_report_inner[] = { "type", "version", "host", "time", "agents",
					      "jwt_keys", NULL };
const char *const vb_keys_report_agent[] = { "id", "uuid", "agent_ca", "scopes",
					     "data_classes", "risk_tier", "risk_score",
					     "delegate_depth", "revoked", NULL };
const char *const vb_keys_decide[] = { "chain", "action", "resource", "context", NULL };
const char *const vb_keys_revoke_host[] = { "host", "reason", NULL };
const char *const vb_keys_revoke_agent[] = { "agent", "reason", NULL };
const char *const vb_keys_approve[] = { "agent", NULL };
const char *const vb_keys_settings[] = { "approval_required", "scope_cap", NULL };
const char *const vb_keys_refset[] = { "jws", NULL };
const char *const vb_keys_refset_retire[] = { "name", NULL };

int vb_json(const char *b, size_t n, size_t cap, const char *const *keys, cJSON **out)
{
	int r;

	*out = NULL;
	if ((r = attest_json_parse(b, n, cap, out)) == ATTEST_OK && keys != NULL &&
	    (r = attest_json_only(*out, keys)) != ATTEST_OK) {
		cJSON_Delete(*out);
		*out = NULL;
	}
	return r;
}

int vb_str(const cJSON *in, const char *key, size_t max, const char **out)
{
	return attest_json_str(in, key, max, out);
}

void vb_quote_clear(struct vb_quote *q)
{
	free(q->att);
	free(q->sig);
	free(q->vals);
	free(q->nonce);
	free(q->log);
	memset(q, 0, sizeof(*q));
}

int vb_quote_parse(const cJSON *in, struct vb_quote *q)
{
	const cJSON *renew = cJSON_GetObjectItemCaseSensitive(in, "renew");
	uint64_t mask = 0;
	int r;

	memset(q, 0, sizeof(*q));
	if ((r = attest_json_str(in, "host", ATTEST_MAX_NAME, &q->host)) != ATTEST_OK ||
	    (r = attest_json_b64(in, "attest", sizeof(TPMS_ATTEST), &q->att, &q->att_len)) !=
		    ATTEST_OK ||
	    (r = attest_json_b64(in, "signature", sizeof(TPMT_SIGNATURE), &q->sig, &q->sig_len)) !=
		    ATTEST_OK ||
	    (r = attest_json_u64(in, "pcr_mask", &mask)) != ATTEST_OK ||
	    (r = attest_json_b64(in, "pcr_values", 24 * 32, &q->vals, &q->vals_len)) != ATTEST_OK)
		goto out;
	if (cJSON_GetObjectItemCaseSensitive(in, "nonce") != NULL &&
	    (r = attest_json_b64(in, "nonce", 64, &q->nonce, &q->nonce_len)) != ATTEST_OK)
		goto out;
	if (cJSON_GetObjectItemCaseSensitive(in, "eventlog") != NULL &&
	    (r = attest_json_b64(in, "eventlog", VB_CAP_LARGE, &q->log, &q->log_len)) != ATTEST_OK)
		goto out;
	if (mask > 0xffffffu || (renew != NULL && !cJSON_IsBool(renew))) {
		r = attest_fail(ATTEST_E_PARSE, "pcr_mask or renew malformed");
		goto out;
	}
	q->mask = (uint32_t)mask;
	q->renew = cJSON_IsTrue(renew);
	r = ATTEST_OK;
out:
	if (r != ATTEST_OK)
		vb_quote_clear(q);
	return r;
}

int vb_checkpoint_parse(const cJSON *in, const char **host, struct attest_audit_ckpt *c)
{
	const char *text;
	int r;

	*host = NULL;
	if ((r = attest_json_str(in, "host", ATTEST_MAX_NAME, host)) != ATTEST_OK ||
	    (r = attest_json_str(in, "checkpoint", ATTEST_AUDIT_CKPT_MAX, &text)) != ATTEST_OK ||
	    (r = attest_audit_ckpt_from_json(text, strlen(text), c)) != ATTEST_OK)
		*host = NULL;
	return r;
}

int vb_consistency_parse(const cJSON *in, attest_merkle_hash *proof, size_t *n)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(in, "consistency"), *it;

	*n = 0;
	if (!cJSON_IsArray(arr))
		return attest_fail(ATTEST_E_AUDIT_INCONSISTENT, "no consistency proof");
	cJSON_ArrayForEach(it, arr) {
		uint8_t *b = NULL;
		size_t blen = 0;

		if (*n >= ATTEST_MERKLE_MAX_PROOF || !cJSON_IsString(it) ||
		    attest_b64_decode(it->valuestring, strlen(it->valuestring), 32, &b, &blen) !=
			    ATTEST_OK ||
		    blen != 32) {
			free(b);
			return attest_fail(ATTEST_E_PARSE, "consistency proof malformed");
		}
		memcpy(proof[(*n)++], b, 32);
		free(b);
	}
	return ATTEST_OK;
}

void vb_report_clear(struct vb_report *r)
{
	free(r->sig);
	cJSON_Delete(r->rep);
	memset(r, 0, sizeof(*r));
}

int vb_report_parse(const cJSON *in, struct vb_report *o)
{
	const char *type;
	int r;

	memset(o, 0, sizeof(*o));
	if ((r = attest_json_str(in, "report", VB_CAP_LARGE, &o->report)) != ATTEST_OK ||
	    (r = attest_json_str(in, "host_ca", 16384, &o->host_ca)) != ATTEST_OK ||
	    (r = attest_json_b64(in, "signature", 80, &o->sig, &o->sig_len)) != ATTEST_OK ||
	    (r = attest_json_parse(o->report, strlen(o->report), VB_CAP_LARGE, &o->rep)) !=
		    ATTEST_OK ||
	    (r = attest_json_only(o->rep, vb_keys_report_inner)) != ATTEST_OK ||
	    (r = attest_json_str(o->rep, "type", 32, &type)) != ATTEST_OK ||
	    (r = attest_json_str(o->rep, "host", ATTEST_MAX_NAME, &o->host)) != ATTEST_OK ||
	    (r = attest_json_u64(o->rep, "time", &o->time)) != ATTEST_OK)
		goto out;
	/* optional: the host's CRLs, checked with the report (inventory.c) */
	if (cJSON_GetObjectItemCaseSensitive(in, "crls") != NULL &&
	    (r = attest_json_str(in, "crls", VB_CAP_LARGE, &o->crls)) != ATTEST_OK)
		goto out;
	o->agents = cJSON_GetObjectItemCaseSensitive(o->rep, "agents");
	/* optional: the host's JWT-SVID keys, inside the signed report */
	o->jwt_keys = cJSON_GetObjectItemCaseSensitive(o->rep, "jwt_keys");
	if (o->jwt_keys != NULL && (!cJSON_IsArray(o->jwt_keys) ||
				    cJSON_GetArraySize(o->jwt_keys) > ATTEST_REPORT_JWTKEYS_MAX)) {
		r = attest_fail(ATTEST_E_PARSE, "jwt_keys is not an array of at most %d keys",
				ATTEST_REPORT_JWTKEYS_MAX);
		goto out;
	}
	if (strcmp(type, "agent-report") != 0 || !cJSON_IsArray(o->agents) ||
	    cJSON_GetArraySize(o->agents) > VB_REPORT_AGENTS_MAX) {
		r = attest_fail(ATTEST_E_PARSE, "not an agent report");
		goto out;
	}
	r = ATTEST_OK;
out:
	if (r != ATTEST_OK)
		vb_report_clear(o);
	return r;
}

void vb_report_agent_clear(struct vb_report_agent *a)
{
	free(a->der);
	X509_free(a->ca);
	memset(a, 0, sizeof(*a));
}

int vb_report_agent_parse(const cJSON *j, const char *host, struct vb_report_agent *a)
{
	struct attest_agent_id aid;
	const char *tier;
	const cJSON *score, *depth, *rev;
	const uint8_t *p;
	int r;

	memset(a, 0, sizeof(*a));
	if ((r = attest_json_only(j, vb_keys_report_agent)) != ATTEST_OK ||
	    (r = attest_json_str(j, "id", VSTORE_ID_MAX - 1, &a->id)) != ATTEST_OK ||
	    (r = attest_json_b64(j, "agent_ca", 8192, &a->der, &a->der_len)) != ATTEST_OK ||
	    (r = attest_json_str(j, "risk_tier", 16, &tier)) != ATTEST_OK ||
	    (r = vs_join_list(cJSON_GetObjectItemCaseSensitive(j, "scopes"), a->scopes,
			      sizeof(a->scopes))) != ATTEST_OK ||
	    (r = vs_join_list(cJSON_GetObjectItemCaseSensitive(j, "data_classes"), a->data_classes,
			      sizeof(a->data_classes))) != ATTEST_OK)
		goto out;
	score = cJSON_GetObjectItemCaseSensitive(j, "risk_score");
	depth = cJSON_GetObjectItemCaseSensitive(j, "delegate_depth");
	rev = cJSON_GetObjectItemCaseSensitive(j, "revoked");
	if (!cJSON_IsNumber(score) || score->valuedouble < 0 || score->valuedouble > 100 ||
	    !cJSON_IsNumber(depth) || depth->valuedouble < 0 || depth->valuedouble > 3 ||
	    !cJSON_IsBool(rev) || attest_risk_tier_from_name(tier) == ATTEST_RISK_TIER_UNKNOWN ||
	    attest_agent_id_parse(a->id, &aid) != ATTEST_OK || strcmp(aid.host, host) != 0) {
		r = attest_fail(ATTEST_E_PARSE, "agent entry %.200s malformed", a->id);
		goto out;
	}
	a->risk_tier = attest_risk_tier_from_name(tier);
	a->risk_score = (int)score->valuedouble;
	a->delegate_depth = (int)depth->valuedouble;
	a->revoked = cJSON_IsTrue(rev);
	p = a->der;
	if ((a->ca = d2i_X509(NULL, &p, (long)a->der_len)) == NULL || p != a->der + a->der_len) {
		ERR_clear_error();
		r = attest_fail(ATTEST_E_PARSE, "agent CA of %s is not one DER certificate", a->id);
		goto out;
	}
	r = ATTEST_OK;
out:
	if (r != ATTEST_OK) {
		const char *id = a->id;

		vb_report_agent_clear(a);
		a->id = id; /* for the caller's message */
	}
	return r;
}

int vb_decide_parse(const cJSON *in, struct vb_decide *d)
{
	const cJSON *ctx, *it;
	int r;

	memset(d, 0, sizeof(*d));
	if ((r = attest_json_str(in, "chain", ATTEST_DECIDE_PEM_MAX, &d->chain)) != ATTEST_OK ||
	    (r = attest_json_str(in, "action", 64, &d->action)) != ATTEST_OK ||
	    (r = attest_json_str(in, "resource", ATTEST_POLICY_RESOURCE_MAX, &d->resource)) !=
		    ATTEST_OK)
		return r;
	ctx = cJSON_GetObjectItemCaseSensitive(in, "context");
	if (ctx == NULL)
		return ATTEST_OK;
	if (!cJSON_IsObject(ctx) || cJSON_GetArraySize(ctx) > VB_CTX_MAX)
		return attest_fail(ATTEST_E_PARSE, "context must be an object of <= %d strings",
				   VB_CTX_MAX);
	cJSON_ArrayForEach(it, ctx) {
		/* the size check above counted these same entries */
		if (!cJSON_IsString(it) || strlen(it->valuestring) > 256 || d->nctx >= VB_CTX_MAX)
			return attest_fail(ATTEST_E_PARSE, "context values are strings <= 256");
		d->ckeys[d->nctx] = it->string;
		d->cvals[d->nctx++] = it->valuestring;
	}
	return ATTEST_OK;
}

int vb_revoke_parse(const cJSON *in, int host, const char **name, const char **reason)
{
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(in, "reason");
	int r;

	*reason = "revoked by operator";
	if ((r = attest_json_str(in, host ? "host" : "agent", VSTORE_ID_MAX - 1, name)) !=
	    ATTEST_OK)
		return r;
	if (cJSON_IsString(rs))
		*reason = rs->valuestring;
	return ATTEST_OK;
}

int vb_settings_parse(const cJSON *in, struct vb_settings *s)
{
	const cJSON *ap = cJSON_GetObjectItemCaseSensitive(in, "approval_required");
	const cJSON *cap = cJSON_GetObjectItemCaseSensitive(in, "scope_cap");
	char capbuf[VSTORE_LIST_MAX];
	int r;

	memset(s, 0, sizeof(*s));
	if (ap != NULL && !cJSON_IsBool(ap))
		return attest_fail(ATTEST_E_PARSE, "approval_required is true or false");
	s->has_ap = ap != NULL;
	s->ap = cJSON_IsTrue(ap);
	s->has_cap = cap != NULL;
	/* null lifts the cap; a list (even empty) sets it */
	if (cap != NULL && !cJSON_IsNull(cap)) {
		if ((r = vs_join_list(cap, capbuf, sizeof(capbuf))) != ATTEST_OK)
			return r;
		(void)snprintf(s->capval, sizeof(s->capval), "on:%s", capbuf);
	} else {
		(void)snprintf(s->capval, sizeof(s->capval), "off");
	}
	return ATTEST_OK;
}

int vs_join_list(const cJSON *arr, char *out, size_t outsz)
{
	const cJSON *it;
	size_t used = 0;

	out[0] = '\0';
	if (arr == NULL)
		return ATTEST_OK;
	if (!cJSON_IsArray(arr))
		return attest_fail(ATTEST_E_PARSE, "list is not an array");
	cJSON_ArrayForEach(it, arr) {
		int n;

		if (!cJSON_IsString(it) || it->valuestring[0] == '\0' ||
		    strchr(it->valuestring, ' ') != NULL)
			return attest_fail(ATTEST_E_PARSE, "list entry is not a word");
		n = snprintf(out + used, outsz - used, "%s%s", used ? " " : "", it->valuestring);
		if (n < 0 || (size_t)n >= outsz - used)
			return attest_fail(ATTEST_E_TOO_LARGE, "list too long");
		used += (size_t)n;
	}
	return ATTEST_OK;
}

/* ---- /v1/authz: the headers a proxy forwards (authz_http.c) */

static int fwd_hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* %XX-decode n bytes of in (a '+' stays a '+': PEM's base64 holds them)
 * into a NUL-terminated malloc'd string of at most cap bytes. */
static int fwd_unescape(const char *in, size_t n, size_t cap, char **out)
{
	char *o;
	size_t k = 0;

	*out = NULL;
	if ((o = malloc(n + 1)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "unescape");
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '%') {
			int h, l;

			if (i + 2 >= n || (h = fwd_hexval(in[i + 1])) < 0 || (l = fwd_hexval(in[i + 2])) < 0) {
				free(o);
				return attest_fail(ATTEST_E_PARSE, "bad %%-escape");
			}
			o[k++] = (char)(h << 4 | l);
			i += 2;
		} else {
			o[k++] = in[i];
		}
		if (o[k - 1] == '\0' || k > cap) {
			free(o);
			return attest_fail(k > cap ? ATTEST_E_TOO_LARGE : ATTEST_E_PARSE,
					   k > cap ? "escaped value over its cap" : "NUL in value");
		}
	}
	o[k] = '\0';
	*out = o;
	return ATTEST_OK;
}

/* The value of key in one X-Forwarded-Client-Cert element (";"-separated
 * key=value pairs, values optionally in double quotes). */
static int fwd_xfcc_get(const char *el, size_t elen, const char *key, const char **v, size_t *vlen)
{
	size_t i = 0, kl = strlen(key);

	*v = NULL;
	*vlen = 0;
	while (i < elen) {
		size_t ks = i, ve;
		int q;

		while (i < elen && el[i] != '=' && el[i] != ';')
			i++;
		if (i >= elen || el[i] != '=')
			return attest_fail(ATTEST_E_PARSE, "x-forwarded-client-cert: pair without '='");
		q = i + 1 < elen && el[i + 1] == '"';
		ve = i + 1 + (size_t)q;
		while (ve < elen && (q ? el[ve] != '"' : el[ve] != ';'))
			ve++;
		if (q && ve >= elen)
			return attest_fail(ATTEST_E_PARSE, "x-forwarded-client-cert: open quote");
		if (i - ks == kl && strncasecmp(el + ks, key, kl) == 0) {
			if (*v != NULL)
				return attest_fail(ATTEST_E_PARSE, "x-forwarded-client-cert: %s twice", key);
			*v = el + i + 1 + q;
			*vlen = ve - (i + 1 + (size_t)q);
		}
		i = ve + (size_t)q;
		if (i < elen && el[i] != ';')
			return attest_fail(ATTEST_E_PARSE, "x-forwarded-client-cert: junk after a value");
		i++;
	}
	return ATTEST_OK;
}

int vb_fwd_cert(const char *xc, const char *xf, char **leaf, char **chain)
{
	const char *el, *v, *cv;
	size_t vlen, cvlen;
	int r, inq = 0;

	*leaf = *chain = NULL;
	if (xc != NULL && xf != NULL)
		return attest_fail(ATTEST_E_PARSE, "both X-Client-Cert and X-Forwarded-Client-Cert");
	if (xc != NULL)
		return fwd_unescape(xc, strlen(xc), VB_FWD_CERT_MAX, leaf) == ATTEST_OK
			       ? ATTEST_OK
			       : attest_fail_wrap(ATTEST_E_FWD_NO_CERT, "X-Client-Cert");
	if (xf == NULL)
		return attest_fail(ATTEST_E_FWD_NO_CERT, "no client certificate header");
	el = xf;
	for (const char *p = xf; *p != '\0'; p++) {
		if (*p == '"')
			inq = !inq;
		else if (*p == ',' && !inq)
			el = p + 1;
	}
	if ((r = fwd_xfcc_get(el, strlen(el), "Cert", &v, &vlen)) != ATTEST_OK ||
	    (r = fwd_xfcc_get(el, strlen(el), "Chain", &cv, &cvlen)) != ATTEST_OK)
		return r;
	if (v == NULL || vlen == 0)
		return attest_fail(ATTEST_E_FWD_NO_CERT, "x-forwarded-client-cert without Cert=");
	if (fwd_unescape(v, vlen, VB_FWD_CERT_MAX, leaf) != ATTEST_OK)
		return attest_fail_wrap(ATTEST_E_FWD_NO_CERT, "Cert=");
	if (cv != NULL && cvlen > 0 &&
	    (r = fwd_unescape(cv, cvlen, VB_FWD_CHAIN_MAX, chain)) != ATTEST_OK) {
		free(*leaf);
		*leaf = NULL;
		return r;
	}
	return ATTEST_OK;
}

int vb_fwd_ctx(const char *c, char *store, size_t storesz, const char **keys, const char **vals,
	       size_t *n)
{
	size_t used = 0;

	if (c == NULL)
		return ATTEST_OK;
	while (*c != '\0') {
		size_t pl = strcspn(c, "&"), kl = strcspn(c, "=");
		char *k = NULL, *v = NULL;
		int r;

		if (kl >= pl || kl == 0 || *n >= VB_FWD_CTX_MAX)
			return attest_fail(ATTEST_E_PARSE, "X-Attest-Context: k=v pairs, at most %d",
					   VB_FWD_CTX_MAX);
		if ((r = fwd_unescape(c, kl, 64, &k)) != ATTEST_OK ||
		    (r = fwd_unescape(c + kl + 1, pl - kl - 1, 256, &v)) != ATTEST_OK) {
			free(k);
			return r;
		}
		for (size_t i = 0; k[i] != '\0'; i++)
			if ((unsigned char)k[i] <= 0x20 || (unsigned char)k[i] >= 0x7f)
				r = attest_fail(ATTEST_E_PARSE, "X-Attest-Context: key not printable");
		for (size_t i = 0; v[i] != '\0'; i++)
			if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
				r = attest_fail(ATTEST_E_PARSE, "X-Attest-Context: control character");
		for (size_t i = 0; i < *n && r == ATTEST_OK; i++)
			if (strcmp(keys[i], k) == 0)
				r = attest_fail(ATTEST_E_PARSE, "X-Attest-Context: %.64s given twice", k);
		if (r == ATTEST_OK && used + strlen(k) + strlen(v) + 2 > storesz)
			r = attest_fail(ATTEST_E_TOO_LARGE, "X-Attest-Context too long");
		if (r == ATTEST_OK) {
			keys[*n] = memcpy(store + used, k, strlen(k) + 1);
			used += strlen(k) + 1;
			vals[(*n)++] = memcpy(store + used, v, strlen(v) + 1);
			used += strlen(v) + 1;
		}
		free(k);
		free(v);
		if (r != ATTEST_OK)
			return r;
		c += pl;
		if (*c == '&')
			c++;
	}
	return ATTEST_OK;
}
