/* test_enrol.c - host enrolment on swtpm: happy path for the three EK kinds
 * and every refusal, each with its own code and no CA state changed.
 * Targets: attest_ca_handle_request, attest_ca_handle_response,
 * attest_host_enrol_begin/answer/finish. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <tss2/tss2_mu.h>

#include "enrol/enrol.h"
#include "core/fileio.h"
#include "core/json.h"
#include "tpm/tpm.h"
#include "tpm/tpmjson.h"
#include "tpm/tpmsw.h"
#include "testutil.h"

struct env {
	struct tu_tpm sw;
	struct attest_tpm *t;
	struct attest_ca *ca;
	char ca_dir[600];
	char state[600];
};

static void env_up(struct env *e, const char *roots)
{
	char path[700];

	memset(e, 0, sizeof(*e));
	tu_tpm_start(&e->sw);
	CU_ASSERT_FATAL(attest_tpm_open(e->sw.tcti, &e->t) == ATTEST_OK);
	snprintf(e->ca_dir, sizeof(e->ca_dir), "%s/ca", e->sw.dir);
	snprintf(e->state, sizeof(e->state), "%s/state", e->sw.dir);
	if (roots == NULL) {
		snprintf(path, sizeof(path), "%s/vendor-roots.pem", tu_template());
		roots = path;
	}
	TU_ASSERT_ERR(attest_ca_init(e->ca_dir, "fleet.example", roots, 3600), ATTEST_OK);
	CU_ASSERT_FATAL(attest_ca_open(e->ca_dir, &e->ca) == ATTEST_OK);
}

static void env_down(struct env *e)
{
	attest_ca_close(e->ca);
	attest_tpm_close(e->t);
	tu_tpm_stop(&e->sw);
}

static char *token(struct env *e, const char *host)
{
	char *tok = NULL;

	TU_ASSERT_ERR(attest_ca_token_issue(e->ca, host, 600, "alice", &tok), ATTEST_OK);
	CU_ASSERT_FATAL(tok != NULL);
	return tok;
}

/* Fingerprint of every file under the CA dir, to show a refusal changed
 * nothing. */
static void tree_hash(const char *dir, char out[128])
{
	char cmd[1024];
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && find . -type f | LC_ALL=C sort | xargs -r sha256sum | sha256sum", dir);
	p = popen(cmd, "r");
	CU_ASSERT_FATAL(p != NULL);
	if (fgets(out, 128, p) == NULL)
		out[0] = '\0';
	pclose(p);
}

static char *set_str(const char *json, const char *key, const char *val)
{
	cJSON *o = cJSON_Parse(json);
	char *s;

	CU_ASSERT_FATAL(o != NULL);
	cJSON_DeleteItemFromObjectCaseSensitive(o, key);
	if (val != NULL)
		cJSON_AddStringToObject(o, key, val);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static const char *get_str(const char *json, const char *key, char *buf, size_t n)
{
	cJSON *o = cJSON_Parse(json);
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	CU_ASSERT_FATAL(cJSON_IsString(it));
	snprintf(buf, n, "%s", it->valuestring);
	cJSON_Delete(o);
	return buf;
}

enum ca_step { CA_REQUEST, CA_RESPONSE, CA_RENEWAL };

/* Expect the CA to refuse `msg` with `code` and to change no state. */
static void expect_refusal(struct env *e, enum ca_step step, const char *msg, size_t len, int code)
{
	char before[128], after[128];
	char *out = NULL;
	int r;

	tree_hash(e->ca_dir, before);
	r = step == CA_RENEWAL	  ? attest_ca_handle_renewal(e->ca, msg, len, &out)
	    : step == CA_RESPONSE ? attest_ca_handle_response(e->ca, msg, len, &out)
				  : attest_ca_handle_request(e->ca, msg, len, &out);
	TU_ASSERT_ERR(r, code);
	CU_ASSERT_PTR_NULL(out);
	CU_ASSERT(strlen(attest_errdetail()) > 0);
	free(out);
	tree_hash(e->ca_dir, after);
	CU_ASSERT_STRING_EQUAL(before, after);
}

static void expect_request_refused(struct env *e, const char *req, int code)
{
	expect_refusal(e, CA_REQUEST, req, strlen(req), code);
}

static void expect_response_refused(struct env *e, const char *resp, int code)
{
	expect_refusal(e, CA_RESPONSE, resp, strlen(resp), code);
}

static char *begin(struct env *e, const char *host, const char *tok, enum attest_ek_kind kind)
{
	char *req = NULL;

	TU_ASSERT_ERR(attest_host_enrol_begin(e->t, e->state, host, tok, kind, &req), ATTEST_OK);
	CU_ASSERT_FATAL(req != NULL);
	return req;
}

static char *challenge(struct env *e, const char *req)
{
	char *ch = NULL;

	TU_ASSERT_ERR(attest_ca_handle_request(e->ca, req, strlen(req), &ch), ATTEST_OK);
	CU_ASSERT_FATAL(ch != NULL);
	return ch;
}

static char *answer(struct env *e, const char *ch)
{
	char *resp = NULL;

	TU_ASSERT_ERR(attest_host_enrol_answer(e->t, e->state, ch, strlen(ch), &resp), ATTEST_OK);
	CU_ASSERT_FATAL(resp != NULL);
	return resp;
}

static void enrol_ok(struct env *e, const char *host, enum attest_ek_kind kind)
{
	char *tok = token(e, host), *req = begin(e, host, tok, kind), *ch = challenge(e, req);
	char *resp = answer(e, ch), *res = NULL;

	TU_ASSERT_ERR(attest_ca_handle_response(e->ca, resp, strlen(resp), &res), ATTEST_OK);
	CU_ASSERT_FATAL(res != NULL);
	TU_ASSERT_ERR(attest_host_enrol_finish(e->state, res, strlen(res), attest_ca_root_path(e->ca)),
		      ATTEST_OK);
	/* The chain is real X.509 that OpenSSL's own tool accepts. */
	CU_ASSERT_EQUAL(tu_sh("openssl verify -CAfile '%s' '%s/host-ca.pem' >/dev/null",
			      attest_ca_root_path(e->ca), e->state), 0);
	CU_ASSERT_EQUAL(tu_sh("openssl x509 -in '%s/host-ca.pem' -noout -text | "
			      "grep -q 'CA:TRUE, pathlen:2'", e->state), 0);
	free(tok);
	free(req);
	free(ch);
	free(resp);
	free(res);
}

static void test_enrol_kind(enum attest_ek_kind kind)
{
	struct env e;

	env_up(&e, NULL);
	enrol_ok(&e, "web-01", kind);
	env_down(&e);
}

static void test_enrol_rsa2048(void) { test_enrol_kind(ATTEST_EK_RSA2048); }
static void test_enrol_p256(void) { test_enrol_kind(ATTEST_EK_P256); }
static void test_enrol_p384(void) { test_enrol_kind(ATTEST_EK_P384); }

/* issue 16: the CA keeps its own copy of the vendor roots. Old code stored
 * the path given to init; moving or deleting that file broke enrolment. */
static void test_vendor_roots_copied(void)
{
	struct env e;
	char cfgpath[700], roots[700];
	uint8_t *cfg = NULL;
	size_t len = 0;

	snprintf(roots, sizeof(roots), "%s/roots-given.pem", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	CU_ASSERT_FATAL(tu_sh("cp '%s/vendor-roots.pem' '%s'", tu_template(), roots) == 0);
	env_up(&e, roots);
	CU_ASSERT_EQUAL(unlink(roots), 0); /* the operator's file goes away */
	snprintf(cfgpath, sizeof(cfgpath), "%s/config.json", e.ca_dir);
	TU_ASSERT_ERR(attest_file_read(cfgpath, 4096, &cfg, &len), ATTEST_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr((char *)cfg, "\"vendor_roots\":\"vendor-roots.pem\""));
	free(cfg);
	CU_ASSERT_EQUAL(tu_sh("cmp -s '%s/vendor-roots.pem' '%s/vendor-roots.pem'", tu_template(),
			      e.ca_dir), 0);
	/* a fresh open of the CA still verifies EK chains */
	attest_ca_close(e.ca);
	CU_ASSERT_FATAL(attest_ca_open(e.ca_dir, &e.ca) == ATTEST_OK);
	enrol_ok(&e, "web-01", ATTEST_EK_P256);
	env_down(&e);
}

/* a vendor-roots file without a certificate is refused at init */
static void test_vendor_roots_not_pem(void)
{
	char dir[600], roots[700];
	const char *t = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(dir, sizeof(dir), "%s/ca-notpem", t);
	snprintf(roots, sizeof(roots), "%s/notpem.pem", t);
	TU_ASSERT_ERR(attest_file_write_atomic(roots, "hello\n", 6, 0600), ATTEST_OK);
	TU_ASSERT_ERR(attest_ca_init(dir, "fleet.example", roots, 3600), ATTEST_E_PARSE);
	CU_ASSERT(access(dir, F_OK) != 0); /* nothing created */
}

static void test_token_refusals(void)
{
	struct env e;
	char *tok, *other, *req, *bad, *ch, *resp, *res = NULL;

	env_up(&e, NULL);
	tok = token(&e, "web-01");
	other = token(&e, "db-01");
	req = begin(&e, "web-01", tok, ATTEST_EK_P256);

	bad = set_str(req, "token", NULL);
	expect_request_refused(&e, bad, ATTEST_E_TOKEN_MISSING);
	free(bad);
	bad = set_str(req, "token", "ajt1.0000000000000000000000000000000000000000000000000000000000000000");
	expect_request_refused(&e, bad, ATTEST_E_TOKEN_UNKNOWN);
	free(bad);
	bad = set_str(req, "token", other);
	expect_request_refused(&e, bad, ATTEST_E_TOKEN_HOST);
	free(bad);
	attest_ca_set_time(e.ca, time(NULL) + 601);
	expect_request_refused(&e, req, ATTEST_E_TOKEN_EXPIRED);
	attest_ca_set_time(e.ca, 0);

	/* Use it once, then it is spent. */
	ch = challenge(&e, req);
	resp = answer(&e, ch);
	TU_ASSERT_ERR(attest_ca_handle_response(e.ca, resp, strlen(resp), &res), ATTEST_OK);
	expect_request_refused(&e, req, ATTEST_E_TOKEN_USED);

	free(tok);
	free(other);
	free(req);
	free(ch);
	free(resp);
	free(res);
	env_down(&e);
}

static void test_allowlist(void)
{
	struct env e;
	TPM2B_PUBLIC ek;
	char hash[65], *req, *ch, *resp, *res = NULL;

	env_up(&e, NULL);
	req = begin(&e, "web-02", NULL, ATTEST_EK_P256);
	expect_request_refused(&e, req, ATTEST_E_TOKEN_MISSING);
	TU_ASSERT_ERR(attest_tpm_ek_public(e.t, ATTEST_EK_P256, &ek), ATTEST_OK);
	TU_ASSERT_ERR(attest_spki_hash_hex(&ek, hash), ATTEST_OK);
	TU_ASSERT_ERR(attest_ca_allow_ek(e.ca, hash, "web-03", "bob"), ATTEST_OK);
	expect_request_refused(&e, req, ATTEST_E_EK_NOT_ALLOWED);
	TU_ASSERT_ERR(attest_ca_allow_ek(e.ca, hash, "web-02", "bob"), ATTEST_OK);
	ch = challenge(&e, req);
	resp = answer(&e, ch);
	TU_ASSERT_ERR(attest_ca_handle_response(e.ca, resp, strlen(resp), &res), ATTEST_OK);
	free(req);
	free(ch);
	free(resp);
	free(res);
	env_down(&e);
}

static void test_ek_refusals(void)
{
	struct env e, untrusted;
	char roots[700], *tok, *req, *bad, *rsa_req;
	char buf[8192];

	/* A CA whose vendor roots do not include swtpm's local CA. */
	snprintf(roots, sizeof(roots), "%s/p256ca/cert.pem", tu_template());
	env_up(&untrusted, roots);
	tok = token(&untrusted, "web-01");
	req = begin(&untrusted, "web-01", tok, ATTEST_EK_RSA2048);
	expect_request_refused(&untrusted, req, ATTEST_E_EK_UNTRUSTED);
	free(req);

	/* An intermediate alone is no trust anchor: a bundle holding only
	 * swtpm's local CA intermediate does not make its EK certs trusted. */
	{
		struct env inter;
		char only[700], *tk, *rq;

		snprintf(only, sizeof(only), "%s/localca/issuercert.pem", tu_template());
		env_up(&inter, only);
		tk = token(&inter, "web-01");
		rq = begin(&inter, "web-01", tk, ATTEST_EK_RSA2048);
		expect_request_refused(&inter, rq, ATTEST_E_EK_UNTRUSTED);
		free(rq);
		free(tk);
		env_down(&inter);
	}
	/* The P-256 EK public with the RSA EK's (valid) certificate. */
	rsa_req = begin(&untrusted, "web-01", tok, ATTEST_EK_RSA2048);
	req = begin(&untrusted, "web-01", tok, ATTEST_EK_P256);
	bad = set_str(req, "ek_cert", get_str(rsa_req, "ek_cert", buf, sizeof(buf)));
	env_down(&untrusted);

	env_up(&e, NULL);
	free(tok);
	tok = token(&e, "web-01");
	{
		char *b2 = set_str(bad, "token", tok);

		expect_request_refused(&e, b2, ATTEST_E_EK_MISMATCH);
		free(b2);
	}
	free(bad);
	free(req);
	free(rsa_req);

	/* An EK certificate with an unknown critical extension, otherwise
	 * valid and issued by a trusted CA for the right key. */
	req = begin(&e, "web-01", tok, ATTEST_EK_P256);
	CU_ASSERT_EQUAL_FATAL(
		tu_sh("cd '%s' && printf 'basicConstraints=critical,CA:FALSE\\n"
		      "1.3.6.1.4.1.99999.1=critical,DER:05:00\\n' > crit.cnf && "
		      "openssl req -new -key '%s/p256ca/key.pem' -subj /CN=ek 2>/dev/null | "
		      "openssl x509 -req -force_pubkey '%s/ek/nistp256-L2.pub.pem' "
		      "-CA '%s/p256ca/cert.pem' -CAkey '%s/p256ca/key.pem' -days 30 "
		      "-extfile crit.cnf -outform DER -out crit.der 2>/dev/null",
		      e.sw.dir, tu_template(), tu_template(), tu_template(), tu_template()),
		0);
	{
		size_t n;
		char path[700], *der, *b64 = NULL;

		snprintf(path, sizeof(path), "%s/crit.der", e.sw.dir);
		der = tu_slurp(path, &n);
		CU_ASSERT_FATAL(attest_b64_encode(der, n, &b64) == ATTEST_OK);
		bad = set_str(req, "ek_cert", b64);
		expect_request_refused(&e, bad, ATTEST_E_EK_CRITICAL_EXT);
		free(bad);
		free(b64);
		free(der);
	}
	/* EK public area that is no TCG template: clear adminWithPolicy. */
	{
		cJSON *o = cJSON_Parse(req);
		TPM2B_PUBLIC ek;
		char *s;

		CU_ASSERT_FATAL(attest_json_get_TPM2B_PUBLIC(o, "ek_public", &ek) == ATTEST_OK);
		ek.publicArea.objectAttributes &= ~TPMA_OBJECT_ADMINWITHPOLICY;
		cJSON_DeleteItemFromObjectCaseSensitive(o, "ek_public");
		CU_ASSERT_FATAL(attest_json_add_TPM2B_PUBLIC(o, "ek_public", &ek) == ATTEST_OK);
		s = cJSON_PrintUnformatted(o);
		expect_request_refused(&e, s, ATTEST_E_EK_TEMPLATE);
		free(s);
		cJSON_Delete(o);
	}
	free(req);
	free(tok);
	env_down(&e);
}

static char *with_attr_cleared(const char *req, const char *field, TPMA_OBJECT bit)
{
	cJSON *o = cJSON_Parse(req);
	TPM2B_PUBLIC pub;
	char *s;

	CU_ASSERT_FATAL(attest_json_get_TPM2B_PUBLIC(o, field, &pub) == ATTEST_OK);
	pub.publicArea.objectAttributes &= ~bit;
	cJSON_DeleteItemFromObjectCaseSensitive(o, field);
	CU_ASSERT_FATAL(attest_json_add_TPM2B_PUBLIC(o, field, &pub) == ATTEST_OK);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static void test_ak_refusals(void)
{
	struct env e;
	char *tok, *req, *bad;

	env_up(&e, NULL);
	tok = token(&e, "web-01");
	req = begin(&e, "web-01", tok, ATTEST_EK_P256);
	bad = with_attr_cleared(req, "ak_public", TPMA_OBJECT_FIXEDTPM);
	expect_request_refused(&e, bad, ATTEST_E_AK_TEMPLATE);
	free(bad);
	bad = with_attr_cleared(req, "ak_public", TPMA_OBJECT_RESTRICTED);
	expect_request_refused(&e, bad, ATTEST_E_AK_TEMPLATE);
	free(bad);
	bad = with_attr_cleared(req, "key_public", TPMA_OBJECT_FIXEDPARENT);
	expect_request_refused(&e, bad, ATTEST_E_EVIDENCE_ATTRS);
	free(bad);
	free(req);
	free(tok);
	env_down(&e);
}

/* Replace a base64 field holding TPMS_ATTEST bytes, with one byte changed. */
static char *with_byte_changed(const char *resp, const char *field, size_t at, uint8_t xor)
{
	cJSON *o = cJSON_Parse(resp);
	uint8_t *buf = NULL;
	size_t len;
	char *s;

	CU_ASSERT_FATAL(attest_json_b64(o, field, 4096, &buf, &len) == ATTEST_OK && at < len);
	buf[at] ^= xor;
	cJSON_DeleteItemFromObjectCaseSensitive(o, field);
	CU_ASSERT_FATAL(attest_json_add_b64(o, field, buf, len) == ATTEST_OK);
	s = cJSON_PrintUnformatted(o);
	free(buf);
	cJSON_Delete(o);
	return s;
}

static char *copy_fields(const char *dst, const char *src, const char *const *fields)
{
	char *cur = strdup(dst), *next;
	char buf[16384];

	for (; *fields != NULL; fields++) {
		next = set_str(cur, *fields, get_str(src, *fields, buf, sizeof(buf)));
		free(cur);
		cur = next;
	}
	return cur;
}

static void test_response_refusals(void)
{
	struct env e;
	char *tok, *req, *ch_a, *ch_b, *resp_a, *resp_b, *bad, *res = NULL;
	static const char *const evidence[] = { "certify_info", "certify_sig", "creation_data",
						NULL };

	env_up(&e, NULL);
	tok = token(&e, "web-01");
	req = begin(&e, "web-01", tok, ATTEST_EK_P256);
	ch_a = challenge(&e, req);
	ch_b = challenge(&e, req);
	resp_a = answer(&e, ch_a);
	resp_b = answer(&e, ch_b);

	/* Wrong activation secret. */
	bad = set_str(resp_a, "secret", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
	expect_response_refused(&e, bad, ATTEST_E_SECRET_MISMATCH);
	free(bad);
	/* Unknown challenge. */
	bad = set_str(resp_a, "challenge_id", "00000000000000000000000000000000");
	expect_response_refused(&e, bad, ATTEST_E_CHALLENGE_UNKNOWN);
	free(bad);
	bad = set_str(resp_a, "challenge_id", "../../../../etc/passwd0000000000");
	expect_response_refused(&e, bad, ATTEST_E_PARSE);
	free(bad);
	/* Creation evidence: wrong magic, wrong type. */
	bad = with_byte_changed(resp_a, "certify_info", 0, 0x01);
	expect_response_refused(&e, bad, ATTEST_E_EVIDENCE_MAGIC);
	free(bad);
	/* A genuine AK-signed quote presented as creation evidence. */
	{
		char *q = set_str(resp_a, "certify_info", get_str(resp_a, "quote", (char[8192]){ 0 }, 8192));

		bad = set_str(q, "certify_sig", get_str(resp_a, "quote_sig", (char[4096]){ 0 }, 4096));
		expect_response_refused(&e, bad, ATTEST_E_EVIDENCE_TYPE);
		free(bad);
		free(q);
	}
	/* Evidence from challenge A presented with challenge B's secret. */
	bad = copy_fields(resp_b, resp_a, evidence);
	expect_response_refused(&e, bad, ATTEST_E_EVIDENCE_QUALIFYING);
	free(bad);
	/* Signature by another key (the quote signature, by the AK over other bytes,
	 * and a signature by the host key itself). */
	{
		char buf[4096];

		bad = set_str(resp_a, "certify_sig", get_str(resp_a, "quote_sig", buf, sizeof(buf)));
		expect_response_refused(&e, bad, ATTEST_E_EVIDENCE_SIGNATURE);
		free(bad);
	}
	{
		cJSON *o = cJSON_Parse(resp_a);
		struct attest_tpm_key other;
		TPMT_SIGNATURE sig;
		uint8_t *info = NULL, d[32];
		size_t n;
		char *s;

		TU_ASSERT_ERR(attest_tpm_create_signkey(e.t, NULL, NULL, &other, NULL), ATTEST_OK);
		CU_ASSERT_FATAL(attest_json_b64(o, "certify_info", 4096, &info, &n) == ATTEST_OK);
		EVP_Digest(info, n, d, NULL, EVP_sha256(), NULL);
		TU_ASSERT_ERR(attest_tpm_sign(e.t, &other, NULL, d, &sig), ATTEST_OK);
		cJSON_DeleteItemFromObjectCaseSensitive(o, "certify_sig");
		CU_ASSERT_FATAL(attest_json_add_TPMT_SIGNATURE(o, "certify_sig", &sig) == ATTEST_OK);
		s = cJSON_PrintUnformatted(o);
		expect_response_refused(&e, s, ATTEST_E_EVIDENCE_SIGNATURE);
		free(s);
		free(info);
		cJSON_Delete(o);
	}
	/* Quote: PCR values that do not match the quoted digest. */
	bad = with_byte_changed(resp_a, "pcr_values", 3, 0x80);
	expect_response_refused(&e, bad, ATTEST_E_QUOTE_DIGEST);
	free(bad);
	/* Expired challenge. */
	attest_ca_set_time(e.ca, time(NULL) + ATTEST_CHALLENGE_TTL + 1);
	expect_response_refused(&e, resp_a, ATTEST_E_CHALLENGE_EXPIRED);
	attest_ca_set_time(e.ca, 0);

	/* The genuine answer is accepted once; its replay is refused. */
	TU_ASSERT_ERR(attest_ca_handle_response(e.ca, resp_a, strlen(resp_a), &res), ATTEST_OK);
	expect_response_refused(&e, resp_a, ATTEST_E_CHALLENGE_USED);
	/* Challenge B is still open but the token is now spent. */
	expect_response_refused(&e, resp_b, ATTEST_E_TOKEN_USED);

	free(tok);
	free(req);
	free(ch_a);
	free(ch_b);
	free(resp_a);
	free(resp_b);
	free(res);
	env_down(&e);
}

static void test_evidence_other_key_name(void)
{
	struct env e;
	char *tok, *req, *bad, *ch, *resp;
	struct attest_tpm_key other;
	cJSON *o;

	env_up(&e, NULL);
	tok = token(&e, "web-01");
	req = begin(&e, "web-01", tok, ATTEST_EK_P256);
	/* The request claims another key than the one the host certifies. */
	TU_ASSERT_ERR(attest_tpm_create_signkey(e.t, NULL, NULL, &other, NULL), ATTEST_OK);
	o = cJSON_Parse(req);
	cJSON_DeleteItemFromObjectCaseSensitive(o, "key_public");
	CU_ASSERT_FATAL(attest_json_add_TPM2B_PUBLIC(o, "key_public", &other.pub) == ATTEST_OK);
	bad = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	ch = challenge(&e, bad);
	resp = answer(&e, ch);
	expect_response_refused(&e, resp, ATTEST_E_EVIDENCE_NAME);
	free(tok);
	free(req);
	free(bad);
	free(ch);
	free(resp);
	env_down(&e);
}

static void test_malformed_messages(void)
{
	struct env e;
	char *tok, *req, *big, *dup;
	size_t n;

	env_up(&e, NULL);
	tok = token(&e, "web-01");
	req = begin(&e, "web-01", tok, ATTEST_EK_P256);
	n = strlen(req);
	expect_refusal(&e, CA_REQUEST, req, n - 7, ATTEST_E_PARSE);                 /* truncated */
	big = malloc(ATTEST_ENROL_MSG_CAP + 2);
	memcpy(big, req, n);
	memset(big + n, ' ', ATTEST_ENROL_MSG_CAP + 1 - n);
	big[ATTEST_ENROL_MSG_CAP + 1] = '\0';
	expect_refusal(&e, CA_REQUEST, big, ATTEST_ENROL_MSG_CAP + 1, ATTEST_E_TOO_LARGE); /* oversized */
	memcpy(big, req, n);
	memcpy(big + n, "{}", 3);
	expect_refusal(&e, CA_REQUEST, big, n + 2, ATTEST_E_PARSE);                 /* trailing bytes */
	free(big);
	dup = malloc(n + 32);
	snprintf(dup, n + 32, "{\"host\":\"db-01\",%s", req + 1);
	expect_request_refused(&e, dup, ATTEST_E_DUPLICATE_KEY);           /* duplicate key */
	free(dup);
	big = set_str(req, "extra", "x");
	expect_request_refused(&e, big, ATTEST_E_PARSE);                   /* unknown field */
	free(big);
	big = set_str(req, "host", "WEB_01");
	expect_request_refused(&e, big, ATTEST_E_PARSE);                   /* bad host name */
	free(big);
	free(req);
	free(tok);
	env_down(&e);
}

static void test_one_ek_one_name(void)
{
	struct env e;
	char *tok, *req;

	env_up(&e, NULL);
	enrol_ok(&e, "web-01", ATTEST_EK_P256);
	/* The same name from another EK of ... another TPM is refused; the
	 * RSA EK of this TPM is another EK as far as the CA is concerned. */
	tok = token(&e, "web-01");
	req = begin(&e, "web-01", tok, ATTEST_EK_RSA2048);
	expect_request_refused(&e, req, ATTEST_E_HOST_EK_CONFLICT);
	free(req);
	free(tok);
	/* The enrolled EK under another name is refused too. */
	tok = token(&e, "web-99");
	req = begin(&e, "web-99", tok, ATTEST_EK_P256);
	expect_request_refused(&e, req, ATTEST_E_HOST_EK_CONFLICT);
	free(req);
	free(tok);
	/* Re-enrolling the same name with the same EK is a renewal: allowed. */
	enrol_ok(&e, "web-01", ATTEST_EK_P256);
	env_down(&e);
}

/* After a full enrolment and 100 signatures the TPM holds nothing of ours. */
static void test_no_leaked_handles(void)
{
	struct env e;
	struct attest_tpm_key key;
	TPMT_SIGNATURE sig;
	uint8_t digest[32] = { 1, 2, 3 };
	size_t objects = 99, sessions = 99;
	cJSON *o;
	char path[700], *s;

	env_up(&e, NULL);
	enrol_ok(&e, "web-01", ATTEST_EK_RSA2048);
	snprintf(path, sizeof(path), "%s/identity.json", e.state);
	s = tu_slurp(path, NULL);
	o = cJSON_Parse(s);
	CU_ASSERT_FATAL(attest_json_get_TPM2B_PUBLIC(o, "key_public", &key.pub) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_json_get_TPM2B_PRIVATE(o, "key_private", &key.priv) == ATTEST_OK);
	for (int i = 0; i < 100; i++) {
		digest[31] = (uint8_t)i;
		TU_ASSERT_ERR(attest_tpm_sign(e.t, &key, NULL, digest, &sig), ATTEST_OK);
	}
	TU_ASSERT_ERR(attest_tpm_verify_sig(&key.pub, (const uint8_t *)"x", 1, &sig),
		      ATTEST_E_EVIDENCE_SIGNATURE);
	TU_ASSERT_ERR(attest_tpm_count_handles(e.t, &objects, &sessions), ATTEST_OK);
	CU_ASSERT_EQUAL(objects, 0);
	CU_ASSERT_EQUAL(sessions, 0);
	cJSON_Delete(o);
	free(s);
	env_down(&e);
}

/* tpm2-tools' software MakeCredential output is accepted by our activation
 * path, and ours by the TPM, for each EK kind. */
static void test_makecredential_interop(void)
{
	static const struct {
		enum attest_ek_kind kind;
		const char *file;
	} eks[] = { { ATTEST_EK_RSA2048, "rsa2048-L1" }, { ATTEST_EK_P256, "nistp256-L2" },
		    { ATTEST_EK_P384, "secp384r1-H3" } };
	struct tu_tpm sw;
	struct attest_tpm *t = NULL;

	tu_tpm_start(&sw);
	CU_ASSERT_FATAL(attest_tpm_open(sw.tcti, &t) == ATTEST_OK);
	for (size_t i = 0; i < sizeof(eks) / sizeof(eks[0]); i++) {
		TPM2B_PUBLIC ek, ak;
		TPM2B_NAME name;
		TPM2B_ID_OBJECT blob;
		TPM2B_ENCRYPTED_SECRET enc;
		TPM2B_DIGEST got;
		uint8_t secret[32];
		char hex[2 * sizeof(name.name) + 1], path[700];
		char *file;
		size_t n, off = 8;

		for (size_t j = 0; j < sizeof(secret); j++)
			secret[j] = (uint8_t)(i * 31 + j);
		TU_ASSERT_ERR(attest_tpm_ek_public(t, eks[i].kind, &ek), ATTEST_OK);
		TU_ASSERT_ERR(attest_tpm_ak_public(t, &ak), ATTEST_OK);
		TU_ASSERT_ERR(attest_tpm_name(&ak, &name), ATTEST_OK);
		/* ours -> TPM */
		TU_ASSERT_ERR(attest_make_credential(&ek, &name, secret, sizeof(secret), &blob, &enc),
			      ATTEST_OK);
		TU_ASSERT_ERR(attest_tpm_activate_credential(t, eks[i].kind, &blob, &enc, &got),
			      ATTEST_OK);
		CU_ASSERT(got.size == sizeof(secret) && memcmp(got.buffer, secret, sizeof(secret)) == 0);
		/* tpm2_makecredential -T none -> our activation */
		attest_hex(name.name, name.size, hex);
		snprintf(path, sizeof(path), "%s/secret.bin", sw.dir);
		tu_write(path, secret, sizeof(secret));
		CU_ASSERT_EQUAL_FATAL(
			tu_sh("cd '%s' && tpm2_makecredential -T none -u '%s/ek/%s.tpm2b_public' "
			      "-s secret.bin -n %s -o cred.out >/dev/null 2>&1",
			      sw.dir, tu_template(), eks[i].file, hex),
			0);
		snprintf(path, sizeof(path), "%s/cred.out", sw.dir);
		file = tu_slurp(path, &n);
		/* tpm2-tools file: magic BADCC0DE, version 1, ID object, secret. */
		CU_ASSERT_FATAL(n > 8 && (uint8_t)file[0] == 0xba && (uint8_t)file[3] == 0xde);
		CU_ASSERT_FATAL(Tss2_MU_TPM2B_ID_OBJECT_Unmarshal((uint8_t *)file, n, &off, &blob) == 0);
		CU_ASSERT_FATAL(Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal((uint8_t *)file, n, &off, &enc) == 0);
		CU_ASSERT_EQUAL(off, n);
		memset(&got, 0, sizeof(got));
		TU_ASSERT_ERR(attest_tpm_activate_credential(t, eks[i].kind, &blob, &enc, &got),
			      ATTEST_OK);
		CU_ASSERT(got.size == sizeof(secret) && memcmp(got.buffer, secret, sizeof(secret)) == 0);
		/* A credential for another object name is refused by the TPM. */
		name.name[name.size - 1] ^= 1;
		TU_ASSERT_ERR(attest_make_credential(&ek, &name, secret, sizeof(secret), &blob, &enc),
			      ATTEST_OK);
		CU_ASSERT_NOT_EQUAL(attest_tpm_activate_credential(t, eks[i].kind, &blob, &enc, &got),
				    ATTEST_OK);
		free(file);
	}
	attest_tpm_close(t);
	tu_tpm_stop(&sw);
}

static char *renew_challenge(struct env *e, const char *host)
{
	char *ch = NULL;

	TU_ASSERT_ERR(attest_ca_renew_challenge(e->ca, host, &ch), ATTEST_OK);
	CU_ASSERT_FATAL(ch != NULL);
	return ch;
}

static char *renew_answer(struct env *e, const char *ch)
{
	char *resp = NULL;

	TU_ASSERT_ERR(attest_host_renew_answer(e->t, e->state, ch, strlen(ch), &resp), ATTEST_OK);
	CU_ASSERT_FATAL(resp != NULL);
	return resp;
}

/* Host CA certificates live <= 24 h; a fresh quote of the reference PCRs
 * renews them, anything else is refused. */
static void test_renewal(void)
{
	struct env e;
	char path[700], *before, *after, *ch, *ch2, *resp, *resp2, *bad, *res = NULL;
	uint8_t boot[32] = { 0xee };

	env_up(&e, NULL);
	enrol_ok(&e, "web-01", ATTEST_EK_P256);
	snprintf(path, sizeof(path), "%s/host-ca.pem", e.state);
	before = tu_slurp(path, NULL);
	/* A re-enrolment started (new key pending) does not disturb the
	 * identity in use: renewal still works with the enrolled key. */
	free(begin(&e, "web-01", NULL, ATTEST_EK_P256));

	ch = renew_challenge(&e, "web-01");
	ch2 = renew_challenge(&e, "web-01");
	resp = renew_answer(&e, ch);
	resp2 = renew_answer(&e, ch2);
	/* The quote for challenge 1 presented as the answer to challenge 2. */
	{
		char id[64];

		bad = set_str(resp, "challenge_id", get_str(resp2, "challenge_id", id, sizeof(id)));
		expect_refusal(&e, CA_RENEWAL, bad, strlen(bad), ATTEST_E_NONCE);
		free(bad);
	}
	TU_ASSERT_ERR(attest_ca_handle_renewal(e.ca, resp, strlen(resp), &res), ATTEST_OK);
	TU_ASSERT_ERR(attest_host_renew_finish(e.state, res, strlen(res)), ATTEST_OK);
	after = tu_slurp(path, NULL);
	CU_ASSERT(strcmp(before, after) != 0);
	CU_ASSERT_EQUAL(tu_sh("openssl verify -CAfile '%s' '%s' >/dev/null",
			      attest_ca_root_path(e.ca), path), 0);
	/* Replayed renewal; a renewal is no enrolment response. */
	expect_refusal(&e, CA_RENEWAL, resp, strlen(resp), ATTEST_E_CHALLENGE_USED);
	expect_refusal(&e, CA_RESPONSE, resp2, strlen(resp2), ATTEST_E_PARSE);
	/* Unknown host. */
	{
		char *out = NULL;

		TU_ASSERT_ERR(attest_ca_renew_challenge(e.ca, "web-99", &out), ATTEST_E_NOT_FOUND);
		CU_ASSERT_PTR_NULL(out);
	}
	/* A boot PCR moved since enrolment (the host booted something else):
	 * the quote is genuine, the values are not the reference ones. */
	TU_ASSERT_ERR(attest_tpm_pcr_extend(e.t, 0, boot), ATTEST_OK);
	free(resp2);
	free(ch2);
	ch2 = renew_challenge(&e, "web-01");
	resp2 = renew_answer(&e, ch2);
	expect_refusal(&e, CA_RENEWAL, resp2, strlen(resp2), ATTEST_E_PCR_MISMATCH);
	free(before);
	free(after);
	free(ch);
	free(ch2);
	free(resp);
	free(resp2);
	free(res);
	env_down(&e);
}

static int finish_kill_at, finish_writes;

/* Every JSON state file present parses. */
static void assert_json_whole(const char *dir)
{
	static const char *const files[] = { "identity.json", "enrol.json" };
	char path[700];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		cJSON *o = NULL;
		char *buf;
		size_t n;

		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if (access(path, F_OK) != 0)
			continue;
		buf = tu_slurp(path, &n);
		TU_ASSERT_ERR(attest_json_parse(buf, n, 65536, &o), ATTEST_OK);
		cJSON_Delete(o);
		free(buf);
	}
}

static void finish_crash_hook(int step)
{
	/* Count steps across the several files finish writes. */
	(void)step;
	if (++finish_writes == finish_kill_at)
		raise(SIGKILL);
}

/* kill -9 at every write step of the host's finish: afterwards the state
 * is either still pending (finish can be run again) or fully enrolled,
 * and every file present is whole. */
static void test_finish_crash_safe(void)
{
	struct env e;
	char *tok, *req, *ch, *resp, *res = NULL, path[700];
	int step;

	env_up(&e, NULL);
	tok = token(&e, "web-01");
	req = begin(&e, "web-01", tok, ATTEST_EK_P256);
	ch = challenge(&e, req);
	resp = answer(&e, ch);
	TU_ASSERT_ERR(attest_ca_handle_response(e.ca, resp, strlen(resp), &res), ATTEST_OK);
	for (step = 1;; step++) {
		pid_t pid;
		int st;

		CU_ASSERT_EQUAL_FATAL(tu_sh("rm -rf '%s.copy' && cp -a '%s' '%s.copy'", e.state,
					    e.state, e.state), 0);
		pid = fork();
		CU_ASSERT_FATAL(pid >= 0);
		if (pid == 0) {
			finish_kill_at = step;
			attest_fileio_set_hook(finish_crash_hook);
			_exit(attest_host_enrol_finish(e.state, res, strlen(res),
						       attest_ca_root_path(e.ca)));
		}
		CU_ASSERT_FATAL(waitpid(pid, &st, 0) == pid);
		snprintf(path, sizeof(path), "%s/enrol.json", e.state);
		if (WIFEXITED(st)) {
			CU_ASSERT_EQUAL(WEXITSTATUS(st), 0);
			break; /* ran to the end without reaching the kill step */
		}
		CU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		/* Interrupted: still pending, every file whole (PEM/JSON parse),
		 * and running finish again completes the enrolment. */
		CU_ASSERT(access(path, F_OK) == 0);
		CU_ASSERT_EQUAL(tu_sh("cd '%s' && for f in *.pem; do [ -e \"$f\" ] || continue; "
				      "openssl x509 -in \"$f\" -noout || exit 1; done", e.state), 0);
		assert_json_whole(e.state);
		TU_ASSERT_ERR(attest_host_enrol_finish(e.state, res, strlen(res),
						       attest_ca_root_path(e.ca)), ATTEST_OK);
		CU_ASSERT(access(path, F_OK) != 0);
		CU_ASSERT_EQUAL_FATAL(tu_sh("rm -rf '%s' && mv '%s.copy' '%s'", e.state, e.state,
					    e.state), 0);
	}
	CU_ASSERT(step > 10); /* three files, five steps each */
	free(tok);
	free(req);
	free(ch);
	free(resp);
	free(res);
	env_down(&e);
}

/* Re-enrolment (a new token, or an allowlisted EK again) cannot reset the
 * approved reference PCRs; forgetting the host starts over. */
static void test_reenrol_keeps_reference(void)
{
	struct env e;
	TPM2B_PUBLIC ek;
	char hash[65], *req, *ch, *resp, *res = NULL;
	uint8_t boot[32] = { 0x66 };

	env_up(&e, NULL);
	TU_ASSERT_ERR(attest_tpm_ek_public(e.t, ATTEST_EK_P256, &ek), ATTEST_OK);
	TU_ASSERT_ERR(attest_spki_hash_hex(&ek, hash), ATTEST_OK);
	TU_ASSERT_ERR(attest_ca_allow_ek(e.ca, hash, "web-01", "bob"), ATTEST_OK);
	req = begin(&e, "web-01", NULL, ATTEST_EK_P256);
	ch = challenge(&e, req);
	resp = answer(&e, ch);
	TU_ASSERT_ERR(attest_ca_handle_response(e.ca, resp, strlen(resp), &res), ATTEST_OK);
	free(req);
	free(ch);
	free(resp);
	free(res);
	res = NULL;
	/* the host boots other code, then simply enrols again */
	TU_ASSERT_ERR(attest_tpm_pcr_extend(e.t, 0, boot), ATTEST_OK);
	req = begin(&e, "web-01", NULL, ATTEST_EK_P256);
	ch = challenge(&e, req);
	resp = answer(&e, ch);
	expect_response_refused(&e, resp, ATTEST_E_PCR_MISMATCH);
	/* an operator who approves the change forgets the host first */
	TU_ASSERT_ERR(attest_ca_forget_host(e.ca, "web-01"), ATTEST_OK);
	TU_ASSERT_ERR(attest_ca_forget_host(e.ca, "web-01"), ATTEST_E_NOT_FOUND);
	free(ch);
	free(resp);
	ch = challenge(&e, req);
	resp = answer(&e, ch);
	TU_ASSERT_ERR(attest_ca_handle_response(e.ca, resp, strlen(resp), &res), ATTEST_OK);
	free(req);
	free(ch);
	free(resp);
	free(res);
	env_down(&e);
}

/* Two EKs with a token each for the same name: only the first to commit
 * gets it, even though both passed the request step. */
static void test_two_eks_one_name(void)
{
	struct env e;
	char state2[700], *tok1, *tok2, *req1, *req2, *ch1, *ch2, *resp1, *resp2, *res = NULL;

	env_up(&e, NULL);
	snprintf(state2, sizeof(state2), "%s/state2", e.sw.dir);
	tok1 = token(&e, "web-01");
	tok2 = token(&e, "web-01");
	req1 = begin(&e, "web-01", tok1, ATTEST_EK_P256);
	TU_ASSERT_ERR(attest_host_enrol_begin(e.t, state2, "web-01", tok2, ATTEST_EK_RSA2048, &req2),
		      ATTEST_OK);
	ch1 = challenge(&e, req1);
	ch2 = challenge(&e, req2);
	resp1 = answer(&e, ch1);
	TU_ASSERT_ERR(attest_host_enrol_answer(e.t, state2, ch2, strlen(ch2), &resp2), ATTEST_OK);
	TU_ASSERT_ERR(attest_ca_handle_response(e.ca, resp1, strlen(resp1), &res), ATTEST_OK);
	expect_response_refused(&e, resp2, ATTEST_E_HOST_EK_CONFLICT);
	free(tok1);
	free(tok2);
	free(req1);
	free(req2);
	free(ch1);
	free(ch2);
	free(resp1);
	free(resp2);
	free(res);
	env_down(&e);
}

/* Malformed responses and renewals are refused like malformed requests. */
static void test_malformed_responses(void)
{
	struct env e;
	char *tok, *req, *ch, *resp, *dup;
	size_t n;

	env_up(&e, NULL);
	tok = token(&e, "web-01");
	req = begin(&e, "web-01", tok, ATTEST_EK_P256);
	ch = challenge(&e, req);
	resp = answer(&e, ch);
	n = strlen(resp);
	for (enum ca_step step = CA_RESPONSE; step <= CA_RENEWAL; step++) {
		expect_refusal(&e, step, resp, n - 9, ATTEST_E_PARSE);
		dup = malloc(n + 40);
		snprintf(dup, n + 40, "{\"challenge_id\":\"00\",%s", resp + 1);
		expect_refusal(&e, step, dup, strlen(dup), ATTEST_E_DUPLICATE_KEY);
		snprintf(dup, n + 40, "%s 1", resp);
		expect_refusal(&e, step, dup, strlen(dup), ATTEST_E_PARSE);
		free(dup);
		{
			static const char nul[] =
				"{\"type\":\"enrol-response\",\"version\":\"1\",\"x\":\"a\\u0000b\"}";

			expect_refusal(&e, step, nul, strlen(nul), ATTEST_E_PARSE);
		}
	}
	free(tok);
	free(req);
	free(ch);
	free(resp);
	env_down(&e);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "enrol with RSA-2048 EK (L-1)", test_enrol_rsa2048 },
		{ "enrol with ECC P-256 EK (L-2)", test_enrol_p256 },
		{ "enrol with ECC P-384 EK (H-3)", test_enrol_p384 },
		{ "join token refusals", test_token_refusals },
		{ "EK allowlist instead of a token", test_allowlist },
		{ "EK certificate refusals", test_ek_refusals },
		{ "AK and host key attribute refusals", test_ak_refusals },
		{ "challenge response refusals", test_response_refusals },
		{ "creation evidence naming another key", test_evidence_other_key_name },
		{ "malformed messages", test_malformed_messages },
		{ "one EK holds one host name", test_one_ek_one_name },
		{ "no transient objects or sessions leak", test_no_leaked_handles },
		{ "MakeCredential interop with the TPM and tpm2-tools", test_makecredential_interop },
		{ "host CA renewal with a fresh quote", test_renewal },
		{ "kill -9 at each write of enrolment finish", test_finish_crash_safe },
		{ "re-enrolment keeps the approved reference PCRs", test_reenrol_keeps_reference },
		{ "two EKs racing for one name", test_two_eks_one_name },
		{ "malformed responses and renewals", test_malformed_responses },
		{ "the CA keeps a copy of the vendor roots", test_vendor_roots_copied },
		{ "vendor roots without a certificate refused", test_vendor_roots_not_pem },
		{ NULL, NULL },
	};

	return tu_main("enrol", tests);
}
