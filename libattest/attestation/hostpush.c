/* hostpush.c - see hostpush.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/err.h"
#include "attestation/hostpush.h"
#include "core/json.h"
#include "core/num.h"
#include "tpm/tpmjson.h"
#include "tpm/tpmsw.h"
#include "x509/x509.h"
#include "x509/x509agent.h"

/* ---------- PCR lists ---------- */

/* One PCR number 0..23 at *p (attest_parse_u64's rules), *p moved past it. */
static int pcr_num(const char **p, unsigned *out)
{
	size_t n = strspn(*p, "0123456789");
	uint64_t v;

	if (attest_parse_u64n(*p, n, 0, 23, &v) != ATTEST_OK)
		return 0;
	*p += n;
	*out = (unsigned)v;
	return 1;
}

int attest_pcr_list_parse(const char *s, uint32_t *mask)
{
	const char *p = s;
	uint32_t m = 0;

	*mask = 0;
	if (s == NULL || *s == '\0')
		return attest_fail(ATTEST_E_PARSE, "empty PCR list");
	for (;;) {
		unsigned lo, hi;

		if (!pcr_num(&p, &lo))
			return attest_fail(ATTEST_E_PARSE, "PCR list \"%.64s\": expected 0..23 at "
					   "offset %td", s, p - s);
		hi = lo;
		if (*p == '-') {
			p++;
			if (!pcr_num(&p, &hi) || hi < lo)
				return attest_fail(ATTEST_E_PARSE, "PCR list \"%.64s\": bad range", s);
		}
		for (unsigned i = lo; i <= hi; i++) {
			if (m & (1u << i))
				return attest_fail(ATTEST_E_PARSE, "PCR list \"%.64s\": PCR %u twice",
						   s, i);
			m |= 1u << i;
		}
		if (*p == '\0')
			break;
		if (*p != ',')
			return attest_fail(ATTEST_E_PARSE, "PCR list \"%.64s\": unexpected character "
					   "at offset %td", s, p - s);
		p++;
	}
	*mask = m;
	return ATTEST_OK;
}

/* ---------- HTTP ---------- */

/* The contract's error body, to a code; ATTEST_E_IO when it is not one. */
static int error_from_body(const char *url, long status, const char *body, size_t len)
{
	static const char *const keys[] = { "error", "code", "message", NULL };
	cJSON *o = NULL;
	const char *name = NULL, *msg = NULL;
	const cJSON *code;
	int r = ATTEST_E_IO;

	attest_errclear();
	if (attest_json_parse(body, len, 4096, &o) == ATTEST_OK &&
	    attest_json_only(o, keys) == ATTEST_OK &&
	    attest_json_str(o, "error", 47, &name) == ATTEST_OK &&
	    attest_json_str(o, "message", 256, &msg) == ATTEST_OK &&
	    cJSON_IsNumber(code = cJSON_GetObjectItemCaseSensitive(o, "code")) &&
	    code->valuedouble > 0 && code->valuedouble < ATTEST_E__COUNT &&
	    code->valuedouble == (double)(int)code->valuedouble &&
	    strcmp(attest_errname((int)code->valuedouble), name) == 0)
		r = (int)code->valuedouble;
	if (r != ATTEST_E_IO || name != NULL)
		r = attest_fail(r, "%s: verifier answered HTTP %ld %s: %s", url, status,
				name != NULL ? name : "", msg != NULL ? msg : "");
	else
		r = attest_fail(r, "%s: verifier answered HTTP %ld without an error body", url,
				status);
	cJSON_Delete(o);
	return r;
}

int attest_verifier_post(const struct attest_httpc_opts *o, const char *base_url,
			 const char *path, const char *body, size_t body_len, char **resp,
			 size_t *resp_len)
{
	char url[ATTEST_PUSH_URL_MAX + 64];
	size_t blen;
	long status = 0;
	char *buf = NULL;
	size_t len = 0;
	int r;

	*resp = NULL;
	*resp_len = 0;
	if (base_url == NULL || path == NULL || body == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "verifier request: missing argument");
	blen = strlen(base_url);
	if (blen > 0 && base_url[blen - 1] == '/')
		blen--;
	if (blen > ATTEST_PUSH_URL_MAX || strlen(path) > 63 || strncmp(base_url, "https://", 8) != 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "verifier URL must be https:// and at most "
				   "%d bytes", ATTEST_PUSH_URL_MAX);
	snprintf(url, sizeof(url), "%.*s%s", (int)blen, base_url, path);
	if ((r = attest_https_request(o, url, body, body_len, &status, &buf, &len)) != ATTEST_OK)
		return r;
	if (status != 200) {
		r = error_from_body(url, status, buf, len);
		free(buf);
		return r;
	}
	*resp = buf;
	*resp_len = len;
	return ATTEST_OK;
}

/* ---------- nonce ---------- */

/* "what: <the detail so far>" (copied first: the detail is the output) */
static int prefix_detail(int r, const char *what)
{
	char why[512];

	snprintf(why, sizeof(why), "%s", attest_errdetail());
	return attest_fail(r, "%s: %s", what, why);
}

static int print_and_free(cJSON *o, char **out, size_t *len)
{
	int r;

	if (o == NULL)
		return attest_fail(ATTEST_E_NOMEM, "JSON message");
	r = attest_json_print(o, out, len);
	cJSON_Delete(o);
	return r;
}

int attest_push_nonce_request(const char *host, char **out)
{
	cJSON *o = cJSON_CreateObject();
	int r;

	*out = NULL;
	if (o != NULL && (r = attest_json_add_str(o, "host", host)) != ATTEST_OK) {
		cJSON_Delete(o);
		return r;
	}
	return print_and_free(o, out, NULL);
}

int attest_push_nonce_parse(const char *body, size_t len, uint8_t *nonce, size_t *nonce_len,
			    uint64_t *expires)
{
	static const char *const keys[] = { "nonce", "expires", NULL };
	cJSON *o = NULL;
	uint8_t *n = NULL;
	size_t nlen = 0;
	int r;

	*nonce_len = 0;
	*expires = 0;
	if ((r = attest_json_parse(body, len, 4096, &o)) != ATTEST_OK ||
	    (r = attest_json_only(o, keys)) != ATTEST_OK ||
	    (r = attest_json_b64(o, "nonce", ATTEST_PUSH_NONCE_MAX, &n, &nlen)) != ATTEST_OK ||
	    (r = attest_json_u64(o, "expires", expires)) != ATTEST_OK)
		goto out;
	memcpy(nonce, n, nlen);
	*nonce_len = nlen;
out:
	if (r != ATTEST_OK)
		r = prefix_detail(r, "nonce answer");
	free(n);
	cJSON_Delete(o);
	return r;
}

/* ---------- quote ---------- */

static size_t pcr_values(uint32_t mask, const struct attest_pcrs *pcrs, uint8_t out[24 * 32])
{
	size_t n = 0;

	for (unsigned i = 0; i < 24; i++)
		if (mask & (1u << i))
			memcpy(out + 32 * n++, pcrs->value[i], 32);
	return n;
}

int attest_push_quote_request(const struct attest_push_quote *q, char **out, size_t *len)
{
	cJSON *o = NULL;
	uint8_t values[24 * 32];
	size_t nvals;
	int r;

	*out = NULL;
	*len = 0;
	if (q->pcr_mask == 0 || q->pcr_mask >> 24 != 0 || (q->pcrs->mask & q->pcr_mask) != q->pcr_mask)
		return attest_fail(ATTEST_E_INVALID_ARG, "quote request: PCR values missing");
	if (q->eventlog != NULL && q->eventlog_len > ATTEST_PUSH_EVENTLOG_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "event log of %zu bytes over %d (the "
				   "verifier's body cap)", q->eventlog_len, ATTEST_PUSH_EVENTLOG_MAX);
	nvals = pcr_values(q->pcr_mask, q->pcrs, values);
	if ((o = cJSON_CreateObject()) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "quote request");
	if ((r = attest_json_add_str(o, "host", q->host)) != ATTEST_OK ||
	    (r = attest_json_add_b64(o, "nonce", q->nonce, q->nonce_len)) != ATTEST_OK ||
	    (r = attest_json_add_b64(o, "attest", q->attest->attestationData, q->attest->size)) != ATTEST_OK ||
	    (r = attest_json_add_TPMT_SIGNATURE(o, "signature", q->sig)) != ATTEST_OK ||
	    (r = attest_json_add_u64(o, "pcr_mask", q->pcr_mask)) != ATTEST_OK ||
	    (r = attest_json_add_b64(o, "pcr_values", values, 32 * nvals)) != ATTEST_OK ||
	    (q->eventlog != NULL && q->eventlog_len > 0 &&
	     (r = attest_json_add_b64(o, "eventlog", q->eventlog, q->eventlog_len)) != ATTEST_OK))
		goto out;
	if (cJSON_AddBoolToObject(o, "renew", q->renew != 0) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "quote request");
		goto out;
	}
	if ((r = attest_json_print(o, out, len)) != ATTEST_OK)
		goto out;
	if (*len > ATTEST_PUSH_BODY_MAX) {
		free(*out);
		*out = NULL;
		*len = 0;
		r = attest_fail(ATTEST_E_TOO_LARGE, "quote request over %d bytes", ATTEST_PUSH_BODY_MAX);
	}
out:
	cJSON_Delete(o);
	return r;
}

int attest_push_quote_matches(const TPM2B_ATTEST *attest, uint32_t pcr_mask,
			      const struct attest_pcrs *pcrs)
{
	TPMS_ATTEST a;
	uint8_t values[24 * 32], digest[32];
	size_t n;
	int r;

	if ((pcrs->mask & pcr_mask) != pcr_mask)
		return attest_fail(ATTEST_E_INVALID_ARG, "PCR values missing");
	if ((r = attest_tpms_attest_parse(attest->attestationData, attest->size, &a)) != ATTEST_OK)
		return r;
	if (a.type != TPM2_ST_ATTEST_QUOTE)
		return attest_fail(ATTEST_E_EVIDENCE_TYPE, "not a quote");
	n = pcr_values(pcr_mask, pcrs, values);
	if (EVP_Digest(values, 32 * n, digest, NULL, EVP_sha256(), NULL) != 1)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "SHA-256");
	if (a.attested.quote.pcrDigest.size != 32 ||
	    memcmp(a.attested.quote.pcrDigest.buffer, digest, 32) != 0)
		return attest_fail(ATTEST_E_QUOTE_DIGEST, "PCRs moved between the quote and their read");
	return ATTEST_OK;
}

static int copy_str(const cJSON *o, const char *key, size_t max, char *dst, int required)
{
	const char *s;
	int r;

	if (!required && cJSON_GetObjectItemCaseSensitive(o, key) == NULL)
		return ATTEST_OK;
	if ((r = attest_json_str(o, key, max - 1, &s)) != ATTEST_OK)
		return r;
	memcpy(dst, s, strlen(s) + 1);
	return ATTEST_OK;
}

static int name_to_code(const char *name)
{
	for (int i = 0; i < ATTEST_E__COUNT; i++)
		if (strcmp(attest_errname(i), name) == 0)
			return i;
	return ATTEST_E_INTERNAL;
}

int attest_push_answer_parse(const char *body, size_t len, struct attest_push_answer *a)
{
	static const char *const keys[] = { "state", "reason", "reboot", "refset", "host_ca",
					    "revoked_agents", NULL };
	cJSON *o = NULL;
	const cJSON *it;
	int r;

	memset(a, 0, sizeof(*a));
	if ((r = attest_json_parse(body, len, ATTEST_HTTPC_RESPONSE_MAX, &o)) != ATTEST_OK ||
	    (r = attest_json_only(o, keys)) != ATTEST_OK ||
	    (r = copy_str(o, "state", sizeof(a->state), a->state, 1)) != ATTEST_OK ||
	    (r = copy_str(o, "reason", sizeof(a->reason_name), a->reason_name, 1)) != ATTEST_OK ||
	    (r = copy_str(o, "refset", sizeof(a->refset), a->refset, 0)) != ATTEST_OK)
		goto out;
	for (const char *p = a->state; *p != '\0'; p++)
		if (*p < 'a' || *p > 'z') {
			r = attest_fail(ATTEST_E_PARSE, "state is not a lower-case word");
			goto out;
		}
	a->reason = name_to_code(a->reason_name);
	if ((it = cJSON_GetObjectItemCaseSensitive(o, "reboot")) != NULL) {
		if (!cJSON_IsBool(it)) {
			r = attest_fail(ATTEST_E_PARSE, "field \"reboot\" is not a boolean");
			goto out;
		}
		a->reboot = cJSON_IsTrue(it);
	}
	if ((it = cJSON_GetObjectItemCaseSensitive(o, "host_ca")) != NULL) {
		/* the enrol-result, as JSON text (a nested object is taken too) */
		if (cJSON_IsString(it)) {
			a->host_ca_len = strlen(it->valuestring);
			a->host_ca = strdup(it->valuestring);
		} else if (cJSON_IsObject(it)) {
			if ((r = attest_json_print(it, &a->host_ca, &a->host_ca_len)) != ATTEST_OK)
				goto out;
		} else {
			r = attest_fail(ATTEST_E_PARSE, "field \"host_ca\" is not an enrol-result");
			goto out;
		}
		if (a->host_ca == NULL) {
			r = attest_fail(ATTEST_E_NOMEM, "host_ca");
			goto out;
		}
	}
	if ((it = cJSON_GetObjectItemCaseSensitive(o, "revoked_agents")) != NULL) {
		const cJSON *e;
		int n = cJSON_GetArraySize(it);

		if (!cJSON_IsArray(it) || n > ATTEST_PUSH_REVOKED_MAX) {
			r = attest_fail(ATTEST_E_PARSE, "field \"revoked_agents\" is not an array of "
					"at most %d agent IDs", ATTEST_PUSH_REVOKED_MAX);
			goto out;
		}
		if (n > 0 && (a->revoked_agents = calloc((size_t)n, sizeof(char *))) == NULL) {
			r = attest_fail(ATTEST_E_NOMEM, "revoked_agents");
			goto out;
		}
		cJSON_ArrayForEach(e, it) {
			struct attest_agent_id aid;

			if (!cJSON_IsString(e) || strlen(e->valuestring) >= ATTEST_AGENT_ID_MAX ||
			    attest_agent_id_parse(e->valuestring, &aid) != ATTEST_OK) {
				r = attest_fail(ATTEST_E_PARSE, "field \"revoked_agents\": an entry is "
						"not an agent ID");
				goto out;
			}
			if ((a->revoked_agents[a->nrevoked] = strdup(e->valuestring)) == NULL) {
				r = attest_fail(ATTEST_E_NOMEM, "revoked_agents");
				goto out;
			}
			a->nrevoked++;
		}
	}
	r = ATTEST_OK;
out:
	if (r != ATTEST_OK) {
		r = prefix_detail(r, "quote answer");
		attest_push_answer_clear(a);
	}
	cJSON_Delete(o);
	return r;
}

void attest_push_answer_clear(struct attest_push_answer *a)
{
	for (size_t i = 0; i < a->nrevoked; i++)
		free(a->revoked_agents[i]);
	free(a->revoked_agents);
	free(a->host_ca);
	memset(a, 0, sizeof(*a));
}

/* ---------- inventory report ---------- */

static int add_str_array(cJSON *o, const char *key, const char *const *v, size_t n)
{
	cJSON *arr = cJSON_AddArrayToObject(o, key);

	if (arr == NULL)
		return attest_fail(ATTEST_E_NOMEM, "report");
	for (size_t i = 0; i < n; i++) {
		cJSON *s = cJSON_CreateString(v[i]);

		if (s == NULL || !cJSON_AddItemToArray(arr, s)) {
			cJSON_Delete(s);
			return attest_fail(ATTEST_E_NOMEM, "report");
		}
	}
	return ATTEST_OK;
}

static int add_agent(cJSON *arr, const struct attest_report_agent *a)
{
	cJSON *o = cJSON_CreateObject();
	unsigned char *der = NULL;
	int derlen, r;

	if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
		cJSON_Delete(o);
		return attest_fail(ATTEST_E_NOMEM, "report");
	}
	if (a->risk_score < 0 || a->risk_score > 100 || a->delegate_depth < 0 ||
	    a->delegate_depth > 3 || a->agent_ca == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "agent %s: field out of range", a->id);
	if ((derlen = i2d_X509(a->agent_ca, &der)) <= 0)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "agent CA to DER");
	if ((r = attest_json_add_str(o, "id", a->id)) != ATTEST_OK ||
	    (r = attest_json_add_str(o, "uuid", a->uuid)) != ATTEST_OK ||
	    (r = attest_json_add_b64(o, "agent_ca", der, (size_t)derlen)) != ATTEST_OK ||
	    (r = add_str_array(o, "scopes", a->scopes, a->nscopes)) != ATTEST_OK ||
	    (r = add_str_array(o, "data_classes", a->data_classes, a->nclasses)) != ATTEST_OK ||
	    (r = attest_json_add_str(o, "risk_tier", a->risk_tier)) != ATTEST_OK)
		goto out;
	if (cJSON_AddNumberToObject(o, "risk_score", a->risk_score) == NULL ||
	    cJSON_AddNumberToObject(o, "delegate_depth", a->delegate_depth) == NULL ||
	    cJSON_AddBoolToObject(o, "revoked", a->revoked != 0) == NULL)
		r = attest_fail(ATTEST_E_NOMEM, "report");
out:
	OPENSSL_free(der);
	return r;
}

int attest_agent_report_build(const char *host, uint64_t now,
			      const struct attest_report_agent *agents, size_t n, char **out,
			      size_t *len)
{
	return attest_agent_report_build_jwt(host, now, agents, n, NULL, 0, out, len);
}

static int add_jwtkey(cJSON *arr, const struct attest_report_jwtkey *k)
{
	cJSON *o = cJSON_CreateObject();
	unsigned char *der = NULL;
	int derlen, r;

	if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
		cJSON_Delete(o);
		return attest_fail(ATTEST_E_NOMEM, "report");
	}
	if (k->kid == NULL || k->cert == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "report: JWT key without kid or certificate");
	if ((derlen = i2d_X509(k->cert, &der)) <= 0)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "JWT key certificate to DER");
	if ((r = attest_json_add_str(o, "kid", k->kid)) == ATTEST_OK)
		r = attest_json_add_b64(o, "cert", der, (size_t)derlen);
	OPENSSL_free(der);
	return r;
}

int attest_agent_report_build_jwt(const char *host, uint64_t now,
				  const struct attest_report_agent *agents, size_t n,
				  const struct attest_report_jwtkey *keys, size_t nkeys, char **out,
				  size_t *len)
{
	cJSON *o = cJSON_CreateObject(), *arr;
	int r;

	*out = NULL;
	*len = 0;
	if (o == NULL)
		return attest_fail(ATTEST_E_NOMEM, "report");
	if ((r = attest_json_add_str(o, "type", "agent-report")) != ATTEST_OK ||
	    (r = attest_json_add_str(o, "version", "1")) != ATTEST_OK ||
	    (r = attest_json_add_str(o, "host", host)) != ATTEST_OK ||
	    (r = attest_json_add_u64(o, "time", now)) != ATTEST_OK)
		goto out;
	if ((arr = cJSON_AddArrayToObject(o, "agents")) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "report");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if ((r = add_agent(arr, &agents[i])) != ATTEST_OK)
			goto out;
	if (nkeys > ATTEST_REPORT_JWTKEYS_MAX) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "report: over %d JWT keys",
				ATTEST_REPORT_JWTKEYS_MAX);
		goto out;
	}
	if (nkeys > 0) {
		if ((arr = cJSON_AddArrayToObject(o, "jwt_keys")) == NULL) {
			r = attest_fail(ATTEST_E_NOMEM, "report");
			goto out;
		}
		for (size_t i = 0; i < nkeys; i++)
			if ((r = add_jwtkey(arr, &keys[i])) != ATTEST_OK)
				goto out;
	}
	r = attest_json_print(o, out, len);
out:
	cJSON_Delete(o);
	return r;
}

int attest_agent_report_sign(const char *report, size_t len, const struct attest_signer *key,
			     X509 *host_ca, char **out, size_t *out_len)
{
	return attest_agent_report_sign_crls(report, len, key, host_ca, NULL, out, out_len);
}

int attest_agent_report_sign_crls(const char *report, size_t len, const struct attest_signer *key,
				  X509 *host_ca, const char *crls, char **out, size_t *out_len)
{
	uint8_t digest[32], *der = NULL;
	size_t derlen = 0;
	TPMT_SIGNATURE sig;
	EVP_MD_CTX *md = NULL;
	cJSON *o = NULL;
	char *pem = NULL;
	int r;

	*out = NULL;
	*out_len = 0;
	if (key == NULL || key->pub == NULL || host_ca == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "report signing: missing key or host CA");
	if (EVP_Digest(report, len, digest, NULL, EVP_sha256(), NULL) != 1)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "SHA-256");
	memset(&sig, 0, sizeof(sig));
	if ((r = key->sign(key->arg, digest, &sig)) != ATTEST_OK)
		return r;
	if (sig.sigAlg != TPM2_ALG_ECDSA || sig.signature.ecdsa.hash != TPM2_ALG_SHA256)
		return attest_fail(ATTEST_E_CRYPTO, "report signature is not ECDSA with SHA-256");
	/* r and s to DER with OpenSSL's ECDSA_SIG (tpmsw.c), then checked as
	 * the verifier will check it: over the report bytes, with the key */
	if ((r = attest_tpm_sig_to_der(&sig, &der, &derlen)) != ATTEST_OK)
		return r;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key->pub) != 1 ||
	    EVP_DigestVerify(md, der, derlen, (const unsigned char *)report, len) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "report signature does not verify with the "
				     "host issuing key");
		goto out;
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(host_ca), key->pub) != 1) {
		r = attest_fail(ATTEST_E_STATE, "host CA certificate is not for the signing key");
		goto out;
	}
	if ((r = attest_x509_to_pem(host_ca, &pem)) != ATTEST_OK)
		goto out;
	if ((o = cJSON_CreateObject()) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "report");
		goto out;
	}
	if ((r = attest_json_add_str(o, "report", report)) != ATTEST_OK ||
	    (r = attest_json_add_b64(o, "signature", der, derlen)) != ATTEST_OK ||
	    (r = attest_json_add_str(o, "host_ca", pem)) != ATTEST_OK ||
	    (crls != NULL && (r = attest_json_add_str(o, "crls", crls)) != ATTEST_OK) ||
	    (r = attest_json_print(o, out, out_len)) != ATTEST_OK)
		goto out;
	if (*out_len > ATTEST_PUSH_BODY_MAX) {
		free(*out);
		*out = NULL;
		*out_len = 0;
		r = attest_fail(ATTEST_E_TOO_LARGE, "agent report over %d bytes", ATTEST_PUSH_BODY_MAX);
	}
out:
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	cJSON_Delete(o);
	free(pem);
	free(der);
	return r;
}

/* ---------- schedule ---------- */

long attest_push_delay(long interval, unsigned failures, double jitter)
{
	long cap = interval > ATTEST_PUSH_BACKOFF_MAX ? interval : ATTEST_PUSH_BACKOFF_MAX;
	long d = interval < 1 ? 1 : interval;

	if (failures > 0) {
		for (unsigned i = 0; i < failures && d < cap; i++)
			d *= 2;
		if (d > cap)
			d = cap;
	}
	if (jitter > 0 && jitter < 1)
		d -= (long)((double)(d / 4) * jitter);
	return d < 1 ? 1 : d;
}

int attest_push_want_renew(X509 *host_ca, time_t now)
{
	const ASN1_TIME *nb, *na;
	int days = 0, secs = 0;
	long life, left;
	ASN1_TIME *t = NULL;

	if (host_ca == NULL || (nb = X509_get0_notBefore(host_ca)) == NULL ||
	    (na = X509_get0_notAfter(host_ca)) == NULL ||
	    ASN1_TIME_diff(&days, &secs, nb, na) != 1)
		return 1;
	life = (long)days * 86400 + secs;
	if ((t = ASN1_TIME_set(NULL, now)) == NULL || ASN1_TIME_diff(&days, &secs, t, na) != 1) {
		ASN1_TIME_free(t);
		return 1;
	}
	ASN1_TIME_free(t);
	left = (long)days * 86400 + secs;
	return left * 3 < life;
}
