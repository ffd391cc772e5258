/* fuzz_vbody.c - libFuzzer target for every request body the verifier
 * reads (verifier/bodies.c, called by the handlers in hosts.c,
 * inventory.c, decide_http.c and admin.c):
 *   vb_json with the route's cap and keys, then by route
 *   nonce -> vb_str; quote -> vb_quote_parse; checkpoint ->
 *   vb_checkpoint_parse (attest_audit_ckpt_from_json) and
 *   vb_consistency_parse; report -> vb_report_parse (the signed report
 *   text parsed again) and vb_report_agent_parse on each agent (the agent
 *   CA's DER, vs_join_list); decide -> vb_decide_parse; revoke-host,
 *   revoke-agent -> vb_revoke_parse; approve, refset-retire, refset ->
 *   vb_str; settings -> vb_settings_parse; authz (not JSON: the headers
 *   a proxy forwards to /v1/authz, X-Client-Cert, X-Forwarded-Client-Cert
 *   and X-Attest-Context, one per line, an empty line for an absent one)
 *   -> vb_fwd_cert and vb_fwd_ctx; pcrs (not JSON: a tpm2-tools
 *   "serialized" PCR file check-quote reads) -> vf_parse_serialized_pcrs,
 *   and the first line as a PCR list -> vf_parse_pcr_list.
 *   The enrolment bodies go whole to attest_ca_handle_* (fuzz_enrol).
 * Input: the route's name, a newline, the body (gen_corpus writes the
 *   bodies with the hosts' own builders: attest_push_nonce_request,
 *   attest_push_quote_request, attest_agent_report_build/_sign,
 *   attest_audit_ckpt_to_json; the admin ones as attest-verifier's admin
 *   commands send them).
 * Oracles besides the sanitizers: a refused body leaves nothing owned;
 *   what a parse accepts is within the route's caps (lengths, PCR mask,
 *   context entries, agents, proof hashes); an accepted agent entry names
 *   an agent of the report's host and carries one certificate whose DER is
 *   exactly the bytes sent; settings say "off" or "on:" and a list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "bodies.h"
#include "check_quote.h"
#include "core/err.h"
#include "fuzz_fixture.h"
#include "x509/x509agent.h"

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_vbody: %s\n", what);
		abort();
	}
}

static void quote(const cJSON *in)
{
	struct vb_quote q;

	if (fz_note("vb_quote_parse", vb_quote_parse(in, &q)) == ATTEST_OK) {
		check(q.host != NULL && strlen(q.host) <= ATTEST_MAX_NAME, "host");
		check(q.att != NULL && q.att_len <= sizeof(TPMS_ATTEST) && q.sig != NULL &&
			      q.sig_len <= sizeof(TPMT_SIGNATURE) && q.vals != NULL &&
			      q.vals_len <= 24 * 32,
		      "evidence over its caps");
		check(q.mask <= 0xffffffu && (q.nonce == NULL || q.nonce_len <= 64) &&
			      (q.log == NULL || q.log_len <= VB_CAP_LARGE),
		      "mask, nonce or log over its cap");
		vb_quote_clear(&q);
	} else {
		check(q.att == NULL && q.sig == NULL && q.vals == NULL && q.nonce == NULL &&
			      q.log == NULL,
		      "a refused quote kept buffers");
	}
}

static void checkpoint(const cJSON *in)
{
	struct attest_audit_ckpt c;
	attest_merkle_hash proof[ATTEST_MERKLE_MAX_PROOF];
	const char *host = NULL;
	size_t n = 0;

	if (fz_note("vb_checkpoint_parse", vb_checkpoint_parse(in, &host, &c)) == ATTEST_OK)
		check(host != NULL && strlen(host) <= ATTEST_MAX_NAME, "host");
	if (fz_note("vb_consistency_parse", vb_consistency_parse(in, proof, &n)) == ATTEST_OK)
		check(n <= ATTEST_MERKLE_MAX_PROOF, "proof over its cap");
}

static void report(const cJSON *in)
{
	struct vb_report rb;
	const cJSON *it;

	if (fz_note("vb_report_parse", vb_report_parse(in, &rb)) != ATTEST_OK) {
		check(rb.rep == NULL && rb.sig == NULL, "a refused report kept buffers");
		return;
	}
	check(cJSON_IsArray(rb.agents) && cJSON_GetArraySize(rb.agents) <= VB_REPORT_AGENTS_MAX &&
		      rb.sig_len <= 80,
	      "report over its caps");
	cJSON_ArrayForEach(it, rb.agents) {
		struct vb_report_agent a;
		struct attest_agent_id aid;
		unsigned char *der = NULL;
		int n;

		if (fz_note("vb_report_agent_parse", vb_report_agent_parse(it, rb.host, &a)) !=
		    ATTEST_OK) {
			check(a.ca == NULL && a.der == NULL, "a refused agent kept buffers");
			continue;
		}
		check(attest_agent_id_parse(a.id, &aid) == ATTEST_OK &&
			      strcmp(aid.host, rb.host) == 0,
		      "agent of another host accepted");
		check(a.risk_score >= 0 && a.risk_score <= 100 && a.delegate_depth >= 0 &&
			      a.delegate_depth <= 3,
		      "agent fields out of range");
		n = i2d_X509(a.ca, &der);
		check(n > 0 && (size_t)n == a.der_len && memcmp(der, a.der, a.der_len) == 0,
		      "agent CA is not exactly the DER sent");
		OPENSSL_free(der);
		vb_report_agent_clear(&a);
	}
	attest_errclear();
	vb_report_clear(&rb);
}

static void decide(const cJSON *in)
{
	struct vb_decide d;

	if (fz_note("vb_decide_parse", vb_decide_parse(in, &d)) == ATTEST_OK) {
		check(d.nctx <= VB_CTX_MAX && strlen(d.action) <= 64, "decide over its caps");
		for (size_t i = 0; i < d.nctx; i++)
			check(d.ckeys[i] != NULL && d.cvals[i] != NULL && strlen(d.cvals[i]) <= 256,
			      "context entry");
	}
}

static void settings(const cJSON *in)
{
	struct vb_settings s;

	if (fz_note("vb_settings_parse", vb_settings_parse(in, &s)) == ATTEST_OK) {
		check(strcmp(s.capval, "off") == 0 || strncmp(s.capval, "on:", 3) == 0, "capval");
		check(strstr(s.capval, "  ") == NULL, "empty word in the scope cap");
	}
}

struct route {
	const char *name;
	size_t cap;
	const char *const *keys;
};

static const struct route routes[] = {
	{ "nonce", VB_CAP_SMALL, vb_keys_nonce },
	{ "quote", VB_CAP_LARGE, vb_keys_quote },
	{ "checkpoint", VB_CAP_CHECKPOINT, vb_keys_checkpoint },
	{ "report", VB_CAP_LARGE, vb_keys_report },
	{ "decide", VB_CAP_DECIDE, vb_keys_decide },
	{ "revoke-host", VB_CAP_SMALL, vb_keys_revoke_host },
	{ "revoke-agent", VB_CAP_SMALL, vb_keys_revoke_agent },
	{ "approve", VB_CAP_SMALL, vb_keys_approve },
	{ "settings", VB_CAP_SETTINGS, vb_keys_settings },
	{ "refset", VB_CAP_LARGE, vb_keys_refset },
	{ "refset-retire", VB_CAP_SMALL, vb_keys_refset_retire },
};

/* the next line of *p (up to n bytes) as a string, NULL when empty */
static char *line(const uint8_t **p, size_t *n)
{
	const uint8_t *nl = memchr(*p, '\n', *n);
	size_t k = nl != NULL ? (size_t)(nl - *p) : *n;
	char *s = NULL;

	if (k > 0 && memchr(*p, '\0', k) == NULL) {
		check((s = malloc(k + 1)) != NULL, "out of memory");
		memcpy(s, *p, k);
		s[k] = '\0';
	}
	*p += k + (nl != NULL);
	*n -= k + (nl != NULL);
	return s;
}

/* /v1/authz's forwarded headers: an accepted certificate is a string
 * within its cap; the context stays within its entries and store, keys
 * printable and unique, values without control characters */
static void authz(const uint8_t *p, size_t n)
{
	char *xc = line(&p, &n), *xf = line(&p, &n), *cx = line(&p, &n);
	char *leaf = NULL, *chain = NULL, store[2048];
	const char *keys[VB_FWD_CTX_MAX], *vals[VB_FWD_CTX_MAX];
	size_t nctx = 1;

	if (fz_note("vb_fwd_cert", vb_fwd_cert(xc, xf, &leaf, &chain)) == ATTEST_OK)
		check(leaf != NULL && leaf[0] != '\0' && strlen(leaf) <= VB_FWD_CERT_MAX &&
			      (chain == NULL || strlen(chain) <= VB_FWD_CHAIN_MAX),
		      "a forwarded certificate over its cap");
	else
		check(leaf == NULL && chain == NULL, "a refused certificate was returned");
	keys[0] = "path";
	vals[0] = "/a";
	if (fz_note("vb_fwd_ctx", vb_fwd_ctx(cx, store, sizeof(store), keys, vals, &nctx)) ==
	    ATTEST_OK) {
		check(nctx >= 1 && nctx <= VB_FWD_CTX_MAX, "context entries over their cap");
		for (size_t i = 1; i < nctx; i++) {
			check(keys[i] >= store && keys[i] < store + sizeof(store) && vals[i] >= store &&
				      vals[i] < store + sizeof(store),
			      "context outside its store");
			for (const char *k = keys[i]; *k != '\0'; k++)
				check((unsigned char)*k > 0x20 && (unsigned char)*k < 0x7f,
				      "unprintable context key");
			for (const char *v = vals[i]; *v != '\0'; v++)
				check((unsigned char)*v >= 0x20 && *v != 0x7f, "control character");
			for (size_t j = 0; j < i; j++)
				check(strcmp(keys[i], keys[j]) != 0, "a context key twice");
		}
	}
	free(leaf);
	free(chain);
	free(xc);
	free(xf);
	free(cx);
}

/* check-quote's inputs: values for exactly the PCRs of the mask, inside
 * the buffer; a PCR list's mask is within PCRs 0..23 */
static void pcrs(const uint8_t *p, size_t n)
{
	static uint8_t values[24 * 32];
	uint32_t mask = 0;
	size_t vlen = 0, bits = 0;
	char list[64];
	const uint8_t *nl = memchr(p, '\n', n < sizeof(list) ? n : sizeof(list));

	if (fz_note("vf_parse_serialized_pcrs",
		    vf_parse_serialized_pcrs(p, n, &mask, values, &vlen)) == ATTEST_OK) {
		for (uint32_t m = mask; m != 0; m &= m - 1)
			bits++;
		check((mask >> 24) == 0 && vlen == bits * 32, "PCR values do not match the mask");
	}
	if (nl != NULL && memchr(p, '\0', (size_t)(nl - p)) == NULL) {
		memcpy(list, p, (size_t)(nl - p));
		list[nl - p] = '\0';
		mask = 0;
		if (fz_note("vf_parse_pcr_list", vf_parse_pcr_list(list, &mask)) == ATTEST_OK)
			check(mask != 0 && (mask >> 24) == 0, "a PCR list outside 0..23");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size < 32 ? size : 32);
	const struct route *rt = NULL;
	const char *name = NULL, *reason = NULL;
	cJSON *in = NULL;
	size_t k;

	if (nl == NULL)
		return 0;
	k = (size_t)(nl - data);
	if (k == 4 && memcmp(data, "pcrs", 4) == 0) {
		pcrs(nl + 1, size - k - 1);
		return 0;
	}
	if (k == 5 && memcmp(data, "authz", 5) == 0) {
		authz(nl + 1, size - k - 1);
		return 0;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strlen(routes[i].name) == k && memcmp(routes[i].name, data, k) == 0)
			rt = &routes[i];
	if (rt == NULL)
		return 0;
	if (fz_note("vb_json", vb_json((const char *)nl + 1, size - k - 1, rt->cap, rt->keys, &in)) !=
	    ATTEST_OK) {
		check(in == NULL, "a refused body was returned");
		goto out;
	}
	if (strcmp(rt->name, "nonce") == 0) {
		if (vb_str(in, "host", ATTEST_MAX_NAME, &name) == ATTEST_OK)
			check(strlen(name) <= ATTEST_MAX_NAME, "host over its cap");
	} else if (strcmp(rt->name, "quote") == 0) {
		quote(in);
	} else if (strcmp(rt->name, "checkpoint") == 0) {
		checkpoint(in);
	} else if (strcmp(rt->name, "report") == 0) {
		report(in);
	} else if (strcmp(rt->name, "decide") == 0) {
		decide(in);
	} else if (strncmp(rt->name, "revoke-", 7) == 0) {
		if (fz_note("vb_revoke_parse", vb_revoke_parse(in, rt->name[7] == 'h', &name,
							       &reason)) == ATTEST_OK)
			check(strlen(name) < VSTORE_ID_MAX && reason != NULL, "revoke");
	} else if (strcmp(rt->name, "approve") == 0) {
		if (vb_str(in, "agent", VSTORE_ID_MAX - 1, &name) == ATTEST_OK)
			check(strlen(name) < VSTORE_ID_MAX, "agent over its cap");
	} else if (strcmp(rt->name, "settings") == 0) {
		settings(in);
	} else if (strcmp(rt->name, "refset") == 0) {
		(void)fz_note("vb_str", vb_str(in, "jws", VB_CAP_LARGE, &name));
	} else {
		if (vb_str(in, "name", VSTORE_NAME_MAX - 1, &name) == ATTEST_OK)
			check(strlen(name) < VSTORE_NAME_MAX, "name over its cap");
	}
out:
	attest_errclear();
	cJSON_Delete(in);
	return 0;
}
