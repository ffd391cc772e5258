/* test_hostpush.c - the host side of the verifier protocol without a
 * verifier: PCR lists, the agent report and its signature (checked with
 * OpenSSL against the host CA's key, for a software and a TPM signer),
 * nonce and verdict parsing with hostile answers, quote bodies and the
 * local quote/PCR consistency check on swtpm, the push schedule, and
 * attestd with --verifier at a port where nobody listens: issuance goes on,
 * `attestctl host attest` fails with the transport error.
 * Targets: libattest/attestation/hostpush.c, attestd/push.c, attestd/attestd.c options. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tpm/evidence.h"
#include "attestation/hostpush.h"
#include "core/json.h"
#include "tpm/tpm.h"
#include "tpm/tpmjson.h"
#include "tpm/tpmsw.h"
#include "x509/x509.h"
#include "x509/x509agent.h"
#include "testutil.h"
#include "testutil_daemon.h"

#define TD "fleet.example"

static void test_pcr_list(void)
{
	static const char *const bad[] = { "", "24", "7-0", "0,,1", "01", "0-7,3", " 0", "0-",
					   "a", "0,", "-1", "0-24", "100", NULL };
	uint32_t m = 0;

	TU_ASSERT_ERR(attest_pcr_list_parse("0-7", &m), ATTEST_OK);
	CU_ASSERT_EQUAL(m, 0xffu);
	TU_ASSERT_ERR(attest_pcr_list_parse("0,2,4-7", &m), ATTEST_OK);
	CU_ASSERT_EQUAL(m, 0xf5u);
	TU_ASSERT_ERR(attest_pcr_list_parse("23", &m), ATTEST_OK);
	CU_ASSERT_EQUAL(m, 1u << 23);
	TU_ASSERT_ERR(attest_pcr_list_parse("0-23", &m), ATTEST_OK);
	CU_ASSERT_EQUAL(m, 0xffffffu);
	for (size_t i = 0; bad[i] != NULL; i++) {
		TU_ASSERT_ERR(attest_pcr_list_parse(bad[i], &m), ATTEST_E_PARSE);
		CU_ASSERT_EQUAL(m, 0);
	}
}

static EVP_PKEY *p256(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	CU_ASSERT_FATAL(k != NULL);
	return k;
}

/* Check a report body as the verifier will: the signature over the report
 * bytes verifies with the public key of the host CA the body carries. */
static int body_verifies(const char *body, size_t len, char **report_out)
{
	cJSON *o = NULL;
	const char *report, *sig_b64, *pem;
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	X509 *ca = NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = 0;

	if (attest_json_parse(body, len, ATTEST_PUSH_BODY_MAX, &o) == ATTEST_OK &&
	    attest_json_str(o, "report", ATTEST_PUSH_BODY_MAX, &report) == ATTEST_OK &&
	    attest_json_str(o, "signature", 200, &sig_b64) == ATTEST_OK &&
	    attest_json_str(o, "host_ca", 16384, &pem) == ATTEST_OK &&
	    attest_b64_decode(sig_b64, strlen(sig_b64), 128, &sig, &sig_len) == ATTEST_OK &&
	    attest_x509_from_pem(pem, strlen(pem), &ca) == ATTEST_OK && md != NULL &&
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, X509_get0_pubkey(ca)) == 1)
		ok = EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)report,
				      strlen(report)) == 1;
	if (ok && report_out != NULL)
		*report_out = strdup(report);
	EVP_MD_CTX_free(md);
	X509_free(ca);
	free(sig);
	cJSON_Delete(o);
	return ok;
}

static void one_agent(struct attest_report_agent *a, X509 *ca)
{
	static const char *const scopes[] = { "ehr:read", "ehr:write" };
	static const char *const classes[] = { "phi" };

	memset(a, 0, sizeof(*a));
	a->id = "spiffe://" TD "/host/web-01/agent/scribe";
	a->uuid = "0b6c9f4e-3a51-4d2b-9a7e-5f1b2c3d4e5f";
	a->agent_ca = ca;
	a->scopes = scopes;
	a->nscopes = 2;
	a->data_classes = classes;
	a->nclasses = 1;
	a->risk_tier = "high";
	a->risk_score = 57;
	a->delegate_depth = 1;
}

static void test_report_software_key(void)
{
	EVP_PKEY *root_key = NULL, *host = p256(), *other = p256();
	X509 *root = NULL, *hca = NULL;
	struct attest_report_agent ag;
	struct attest_signer s, wrong;
	char *report = NULL, *body = NULL, *back = NULL;
	size_t rlen = 0, blen = 0;
	cJSON *o = NULL;
	const cJSON *agents, *a0;

	CU_ASSERT_FATAL(attest_x509_make_root(TD, 1, &root_key, &root) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_x509_make_host_ca(root_key, root, TD, "web-01", host, 3600, &hca) ==
			ATTEST_OK);
	one_agent(&ag, hca);
	TU_ASSERT_ERR(attest_agent_report_build("web-01", 1700000000, &ag, 1, &report, &rlen),
		      ATTEST_OK);
	/* the contract's fields, 64-bit time as a string */
	TU_ASSERT_ERR(attest_json_parse(report, rlen, ATTEST_PUSH_BODY_MAX, &o), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(o, "type")->valuestring, "agent-report");
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(o, "version")->valuestring, "1");
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(o, "host")->valuestring, "web-01");
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(o, "time")->valuestring, "1700000000");
	agents = cJSON_GetObjectItem(o, "agents");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(agents), 1);
	a0 = cJSON_GetArrayItem(agents, 0);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(a0, "id")->valuestring, ag.id);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(a0, "risk_tier")->valuestring, "high");
	CU_ASSERT_EQUAL(cJSON_GetObjectItem(a0, "risk_score")->valueint, 57);
	CU_ASSERT_EQUAL(cJSON_GetObjectItem(a0, "delegate_depth")->valueint, 1);
	CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(a0, "revoked")));
	CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItem(a0, "scopes")), 2);
	{
		/* agent_ca is the DER of the certificate */
		uint8_t *der = NULL;
		size_t dlen = 0;
		const unsigned char *p;
		X509 *x;

		TU_ASSERT_ERR(attest_json_b64(a0, "agent_ca", 8192, &der, &dlen), ATTEST_OK);
		p = der;
		x = d2i_X509(NULL, &p, (long)dlen);
		CU_ASSERT(x != NULL && p == der + dlen && X509_cmp(x, hca) == 0);
		X509_free(x);
		free(der);
	}
	cJSON_Delete(o);

	TU_ASSERT_ERR(attest_signer_from_pkey(host, &s), ATTEST_OK);
	TU_ASSERT_ERR(attest_agent_report_sign(report, rlen, &s, hca, &body, &blen), ATTEST_OK);
	CU_ASSERT(body_verifies(body, blen, &back));
	CU_ASSERT(back != NULL && strcmp(back, report) == 0); /* the bytes signed travel as is */
	free(back);
	{
		/* one byte of the report changed: the signature no longer holds */
		char *flip = strstr(body, "web-01");

		CU_ASSERT_FATAL(flip != NULL);
		flip[4] = '9';
		CU_ASSERT(!body_verifies(body, blen, NULL));
	}
	free(body);
	body = NULL;
	/* a key that is not the host CA's */
	TU_ASSERT_ERR(attest_signer_from_pkey(other, &wrong), ATTEST_OK);
	TU_ASSERT_ERR(attest_agent_report_sign(report, rlen, &wrong, hca, &body, &blen), ATTEST_E_STATE);
	CU_ASSERT(body == NULL);
	/* a signer whose signatures are not by the public key it claims */
	wrong.pub = host;
	TU_ASSERT_ERR(attest_agent_report_sign(report, rlen, &wrong, hca, &body, &blen), ATTEST_E_CRYPTO);
	CU_ASSERT(body == NULL);
	/* fields out of range are not reported */
	ag.risk_score = 101;
	free(report);
	report = NULL;
	TU_ASSERT_ERR(attest_agent_report_build("web-01", 1, &ag, 1, &report, &rlen),
		      ATTEST_E_INVALID_ARG);
	CU_ASSERT(report == NULL);
	/* an empty registry is a report too */
	TU_ASSERT_ERR(attest_agent_report_build("web-01", 1, NULL, 0, &report, &rlen), ATTEST_OK);
	CU_ASSERT(strstr(report, "\"agents\":[]") != NULL);
	free(report);
	X509_free(hca);
	X509_free(root);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(host);
	EVP_PKEY_free(other);
}

struct tpm_signer {
	struct attest_tpm *t;
	struct attest_tpm_key key;
};

static int tpm_sign(void *arg, const uint8_t digest[32], TPMT_SIGNATURE *sig)
{
	struct tpm_signer *ts = arg;

	return attest_tpm_sign(ts->t, &ts->key, NULL, digest, sig);
}

/* The TPM's r and s become a DER signature OpenSSL accepts with the host
 * CA's key; and a quote's digest is checked against the PCRs read. */
static void test_tpm_signature_and_quote(void)
{
	struct tu_tpm sw;
	struct tpm_signer ts;
	struct attest_tpm_creation cr;
	EVP_PKEY *root_key = NULL, *pub = NULL;
	X509 *root = NULL, *hca = NULL;
	struct attest_signer s;
	struct attest_report_agent ag;
	char *report = NULL, *body = NULL;
	size_t rlen = 0, blen = 0;
	uint8_t nonce[32] = { 1, 2, 3 };
	TPM2B_ATTEST attest;
	TPMT_SIGNATURE qsig;
	struct attest_pcrs pcrs;

	tu_tpm_start(&sw);
	CU_ASSERT_FATAL(attest_tpm_open(sw.tcti, &ts.t) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_tpm_create_signkey(ts.t, NULL, NULL, &ts.key, &cr) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_tpm_pub_to_pkey(&ts.key.pub, &pub) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_x509_make_root(TD, 1, &root_key, &root) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_x509_make_host_ca(root_key, root, TD, "web-01", pub, 3600, &hca) ==
			ATTEST_OK);
	one_agent(&ag, hca);
	s.sign = tpm_sign;
	s.arg = &ts;
	s.pub = pub;
	TU_ASSERT_ERR(attest_agent_report_build("web-01", (uint64_t)time(NULL), &ag, 1, &report, &rlen),
		      ATTEST_OK);
	for (int i = 0; i < 4; i++) { /* r or s with a high bit or a leading zero byte */
		TU_ASSERT_ERR(attest_agent_report_sign(report, rlen, &s, hca, &body, &blen), ATTEST_OK);
		CU_ASSERT(body_verifies(body, blen, NULL));
		free(body);
		body = NULL;
	}

	TU_ASSERT_ERR(attest_tpm_pcr_read(ts.t, 0xff, &pcrs), ATTEST_OK);
	TU_ASSERT_ERR(attest_tpm_quote(ts.t, 0xff, nonce, sizeof(nonce), &attest, &qsig), ATTEST_OK);
	TU_ASSERT_ERR(attest_push_quote_matches(&attest, 0xff, &pcrs), ATTEST_OK);
	{
		struct attest_push_quote q = { "web-01", nonce, sizeof(nonce), &attest, &qsig, 0xff,
					       &pcrs, NULL, 0, 1 };
		cJSON *o = NULL;
		uint8_t *vals = NULL, *n = NULL;
		size_t vlen = 0, nlen = 0;
		uint64_t mask = 0;
		TPMT_SIGNATURE back;

		TU_ASSERT_ERR(attest_push_quote_request(&q, &body, &blen), ATTEST_OK);
		TU_ASSERT_ERR(attest_json_parse(body, blen, ATTEST_PUSH_BODY_MAX, &o), ATTEST_OK);
		TU_ASSERT_ERR(attest_json_u64(o, "pcr_mask", &mask), ATTEST_OK);
		CU_ASSERT_EQUAL(mask, 255);
		TU_ASSERT_ERR(attest_json_b64(o, "pcr_values", 24 * 32, &vals, &vlen), ATTEST_OK);
		CU_ASSERT_EQUAL(vlen, 8 * 32);
		TU_ASSERT_ERR(attest_json_b64(o, "nonce", 64, &n, &nlen), ATTEST_OK);
		CU_ASSERT(nlen == 32 && memcmp(n, nonce, 32) == 0);
		TU_ASSERT_ERR(attest_json_get_TPMT_SIGNATURE(o, "signature", &back), ATTEST_OK);
		CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(o, "renew")));
		CU_ASSERT(cJSON_GetObjectItem(o, "eventlog") == NULL);
		/* what the verifier will check, here with the AK */
		{
			TPM2B_PUBLIC ak;

			TU_ASSERT_ERR(attest_tpm_ak_public(ts.t, &ak), ATTEST_OK);
			TU_ASSERT_ERR(attest_verify_quote(&ak, attest.attestationData, attest.size,
							  &back, nonce, 32, 0xff, vals, vlen, NULL),
				      ATTEST_OK);
		}
		free(vals);
		free(n);
		cJSON_Delete(o);
		free(body);
		body = NULL;
		/* an event log over what the verifier's body cap leaves room for */
		{
			uint8_t *big = calloc(1, ATTEST_PUSH_EVENTLOG_MAX + 1);

			q.eventlog = big;
			q.eventlog_len = ATTEST_PUSH_EVENTLOG_MAX + 1;
			TU_ASSERT_ERR(attest_push_quote_request(&q, &body, &blen), ATTEST_E_TOO_LARGE);
			q.eventlog_len = 1000;
			TU_ASSERT_ERR(attest_push_quote_request(&q, &body, &blen), ATTEST_OK);
			CU_ASSERT(strstr(body, "\"eventlog\":\"AAAA") != NULL);
			free(body);
			body = NULL;
			free(big);
		}
		/* values not read for the whole selection */
		q.pcr_mask = 0x1ff;
		TU_ASSERT_ERR(attest_push_quote_request(&q, &body, &blen), ATTEST_E_INVALID_ARG);
	}
	/* a PCR that moved after the read */
	pcrs.value[3][0] ^= 1;
	TU_ASSERT_ERR(attest_push_quote_matches(&attest, 0xff, &pcrs), ATTEST_E_QUOTE_DIGEST);

	free(report);
	X509_free(hca);
	X509_free(root);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(pub);
	attest_tpm_close(ts.t);
	tu_tpm_stop(&sw);
}

static void test_nonce_answer(void)
{
	uint8_t n[ATTEST_PUSH_NONCE_MAX];
	size_t nlen = 0;
	uint64_t exp = 0;
	char *req = NULL;
	const char *good = "{\"nonce\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\","
			   "\"expires\":\"1700000060\"}";

	TU_ASSERT_ERR(attest_push_nonce_request("web-01", &req), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(req, "{\"host\":\"web-01\"}");
	free(req);
	TU_ASSERT_ERR(attest_push_nonce_parse(good, strlen(good), n, &nlen, &exp), ATTEST_OK);
	CU_ASSERT(nlen == 32 && n[31] == 31 && exp == 1700000060);
#define BAD(json_, code_) TU_ASSERT_ERR(attest_push_nonce_parse(json_, strlen(json_), n, &nlen, &exp), code_)
	BAD("{\"nonce\":\"AAAA\",\"expires\":\"1\",\"nonce\":\"AAAA\"}", ATTEST_E_DUPLICATE_KEY);
	BAD("{\"nonce\":\"AAAA\",\"expires\":\"1\",\"extra\":1}", ATTEST_E_PARSE);
	BAD("{\"nonce\":\"AAAA\",\"expires\":1}", ATTEST_E_PARSE);
	BAD("{\"nonce\":\"AAAA\"}", ATTEST_E_PARSE);
	BAD("{\"nonce\":\"\",\"expires\":\"1\"}", ATTEST_E_PARSE);
	BAD("{\"nonce\":\"not base64!\",\"expires\":\"1\"}", ATTEST_E_PARSE);
	{
		/* 66 bytes: more than a TPM2B_DATA of a SHA-256 quote can carry */
		char big[200];

		snprintf(big, sizeof(big), "{\"nonce\":\"%.88s\",\"expires\":\"1\"}",
			 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
		BAD(big, ATTEST_E_TOO_LARGE);
	}
	BAD("[1]", ATTEST_E_PARSE);
	BAD("{\"nonce\":\"AAAA\",\"expires\":\"1\"} x", ATTEST_E_PARSE);
#undef BAD
	CU_ASSERT_EQUAL(nlen, 0);
}

static void test_verdict_answer(void)
{
	struct attest_push_answer a;
	const char *good = "{\"state\":\"trusted\",\"reason\":\"ATTEST_OK\",\"reboot\":false,"
			   "\"refset\":\"fleet-2026-11\",\"host_ca\":\"{\\\"type\\\":\\\"enrol-result\\\"}\"}";
	const char *bad_pcr = "{\"state\":\"untrusted\",\"reason\":\"ATTEST_E_PCR_MISMATCH\",\"reboot\":true}";
	const char *nested = "{\"state\":\"trusted\",\"reason\":\"ATTEST_OK\",\"host_ca\":{\"type\":\"enrol-result\"}}";

	TU_ASSERT_ERR(attest_push_answer_parse(good, strlen(good), &a), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(a.state, "trusted");
	CU_ASSERT_EQUAL(a.reason, ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(a.refset, "fleet-2026-11");
	CU_ASSERT(!a.reboot);
	CU_ASSERT(a.host_ca != NULL && strcmp(a.host_ca, "{\"type\":\"enrol-result\"}") == 0);
	attest_push_answer_clear(&a);
	TU_ASSERT_ERR(attest_push_answer_parse(bad_pcr, strlen(bad_pcr), &a), ATTEST_OK);
	CU_ASSERT_EQUAL(a.reason, ATTEST_E_PCR_MISMATCH);
	CU_ASSERT(a.reboot && a.host_ca == NULL && a.refset[0] == '\0');
	attest_push_answer_clear(&a);
	TU_ASSERT_ERR(attest_push_answer_parse(nested, strlen(nested), &a), ATTEST_OK);
	CU_ASSERT(a.host_ca != NULL && strstr(a.host_ca, "enrol-result") != NULL);
	attest_push_answer_clear(&a);
#define BAD(json_, code_) TU_ASSERT_ERR(attest_push_answer_parse(json_, strlen(json_), &a), code_)
	BAD("{\"state\":\"trusted\",\"reason\":\"ATTEST_OK\",\"state\":\"trusted\"}", ATTEST_E_DUPLICATE_KEY);
	BAD("{\"state\":\"trusted\",\"reason\":\"ATTEST_OK\",\"admin\":true}", ATTEST_E_PARSE);
	BAD("{\"state\":\"trusted\",\"reason\":\"ATTEST_OK\",\"reboot\":\"no\"}", ATTEST_E_PARSE);
	BAD("{\"state\":\"Trusted\\n\",\"reason\":\"ATTEST_OK\"}", ATTEST_E_PARSE);
	BAD("{\"state\":\"trusted\"}", ATTEST_E_PARSE);
	BAD("{\"state\":\"trusted\",\"reason\":\"ATTEST_OK\",\"host_ca\":7}", ATTEST_E_PARSE);
	BAD("{\"state\":\"averyveryverylongstate\",\"reason\":\"ATTEST_OK\"}", ATTEST_E_TOO_LARGE);
	/* revocations delivered with the answer (issue 15): agent IDs only */
	BAD("{\"state\":\"trusted\",\"reason\":\"ATTEST_OK\",\"revoked_agents\":\"x\"}",
	    ATTEST_E_PARSE);
	BAD("{\"state\":\"trusted\",\"reason\":\"ATTEST_OK\",\"revoked_agents\":[\"scribe\"]}",
	    ATTEST_E_PARSE);
	BAD("{\"state\":\"trusted\",\"reason\":\"ATTEST_OK\",\"revoked_agents\":[7]}",
	    ATTEST_E_PARSE);
	CU_ASSERT(a.revoked_agents == NULL && a.nrevoked == 0);
#undef BAD
	CU_ASSERT(a.host_ca == NULL);
	{
		const char *rev = "{\"state\":\"trusted\",\"reason\":\"ATTEST_OK\",\"revoked_agents\":"
				  "[\"spiffe://fleet.example/host/web-01/agent/scribe\","
				  "\"spiffe://fleet.example/host/web-01/agent/aux\"]}";
		char big[300 * 64];
		size_t o = 0;

		TU_ASSERT_ERR(attest_push_answer_parse(rev, strlen(rev), &a), ATTEST_OK);
		CU_ASSERT_EQUAL(a.nrevoked, 2);
		if (a.nrevoked == 2) {
			CU_ASSERT_STRING_EQUAL(a.revoked_agents[0],
					       "spiffe://fleet.example/host/web-01/agent/scribe");
			CU_ASSERT_STRING_EQUAL(a.revoked_agents[1],
					       "spiffe://fleet.example/host/web-01/agent/aux");
		}
		attest_push_answer_clear(&a);
		/* over the cap of 256 */
		o += (size_t)snprintf(big, sizeof(big), "{\"state\":\"trusted\",\"reason\":"
				      "\"ATTEST_OK\",\"revoked_agents\":[");
		for (int i = 0; i < 257; i++)
			o += (size_t)snprintf(big + o, sizeof(big) - o,
					      "%s\"spiffe://f.example/host/h/agent/a%d\"", i ? "," : "", i);
		(void)snprintf(big + o, sizeof(big) - o, "]}");
		TU_ASSERT_ERR(attest_push_answer_parse(big, strlen(big), &a), ATTEST_E_PARSE);
		CU_ASSERT(a.revoked_agents == NULL);
	}
	/* a reason we do not know is not taken for success */
	{
		const char *unknown = "{\"state\":\"untrusted\",\"reason\":\"ATTEST_E_NEW\"}";

		TU_ASSERT_ERR(attest_push_answer_parse(unknown, strlen(unknown), &a), ATTEST_OK);
	}
	CU_ASSERT_EQUAL(a.reason, ATTEST_E_INTERNAL);
	attest_push_answer_clear(&a);
}

static void test_schedule(void)
{
	EVP_PKEY *root_key = NULL, *host = p256();
	X509 *root = NULL, *hca = NULL;
	time_t now = time(NULL);
	long prev = 0;

	CU_ASSERT_EQUAL(attest_push_delay(60, 0, 0), 60);
	CU_ASSERT_EQUAL(attest_push_delay(60, 1, 0), 120);
	CU_ASSERT_EQUAL(attest_push_delay(60, 40, 0), ATTEST_PUSH_BACKOFF_MAX);
	CU_ASSERT_EQUAL(attest_push_delay(1, 0, 0), 1);
	CU_ASSERT_EQUAL(attest_push_delay(1, 3, 0), 8);
	CU_ASSERT_EQUAL(attest_push_delay(3600, 5, 0), 3600); /* never beyond a long interval */
	CU_ASSERT_EQUAL(attest_push_delay(0, 0, 0), 1);
	/* jitter takes at most a quarter off */
	CU_ASSERT(attest_push_delay(60, 0, 0.999) >= 45 && attest_push_delay(60, 0, 0.999) < 60);
	for (unsigned f = 0; f < 64; f++) {
		long d = attest_push_delay(5, f, 0);

		CU_ASSERT(d >= prev && d <= ATTEST_PUSH_BACKOFF_MAX);
		prev = d;
	}
	/* renew in the last third of the host CA's life */
	CU_ASSERT_FATAL(attest_x509_make_root(TD, 1, &root_key, &root) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_x509_make_host_ca(root_key, root, TD, "web-01", host, 3600, &hca) ==
			ATTEST_OK);
	CU_ASSERT_EQUAL(attest_push_want_renew(hca, now), 0);
	CU_ASSERT_EQUAL(attest_push_want_renew(hca, now + 1000), 0);
	CU_ASSERT_EQUAL(attest_push_want_renew(hca, now + 2500), 1);
	CU_ASSERT_EQUAL(attest_push_want_renew(hca, now + 7200), 1);
	CU_ASSERT_EQUAL(attest_push_want_renew(NULL, now), 1);
	X509_free(hca);
	X509_free(root);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(host);
}

/* attestd's verifier options: refused combinations exit 2 before anything. */
static void test_options(void)
{
	static const char *const bad[] = {
		"--verifier https://127.0.0.1:1",                                /* no CA */
		"--verifier http://127.0.0.1:1 --verifier-ca /dev/null",         /* not https */
		"--verifier-ca /dev/null",                                       /* no verifier */
		"--push-interval 5",                                             /* no verifier */
		"--verifier https://x --verifier-ca c --push-interval 0",
		"--verifier https://x --verifier-ca c --push-interval 1s",
		"--verifier https://x --verifier-ca c --quote-pcrs 0-24",
		"--verifier https://x --verifier-ca c --quote-pcrs 7-0",
		NULL,
	};

	for (size_t i = 0; bad[i] != NULL; i++) {
		int st = tu_sh("attestd --state /nonexistent %s >/dev/null 2>&1", bad[i]);

		if (st != 2)
			fprintf(stderr, "  attestd %s: exit %d, want 2\n", bad[i], st);
		CU_ASSERT_EQUAL(st, 2);
	}
	CU_ASSERT_EQUAL(tu_sh("attestd --help | grep -q -- '--quote-pcrs LIST'"), 0);
}

/* attestd as daemon_start runs it, with extra options (at most 12 words). */
static void start_with(struct daemon *d, const char *const *extra)
{
	const char *argv[40];
	size_t n = 0;

	d->pid = fork();
	CU_ASSERT_FATAL(d->pid >= 0);
	if (d->pid == 0) {
		FILE *f = freopen(d->log, "a", stderr);

		(void)f;
		argv[n++] = "attestd";
		argv[n++] = "--state";
		argv[n++] = d->state;
		argv[n++] = "--socket";
		argv[n++] = d->sock;
		argv[n++] = "--admin-socket";
		argv[n++] = d->admin;
		argv[n++] = "--tcti";
		argv[n++] = d->sw.tcti;
		for (size_t i = 0; extra[i] != NULL && i < 12; i++)
			argv[n++] = extra[i];
		argv[n] = NULL;
		execvp("attestd", (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 400 && access(d->admin, F_OK) != 0; i++)
		usleep(25000);
	for (int i = 0; i < 400; i++) {
		cJSON *reply = NULL;

		if (admin_call(d, "{\"op\":\"stats\"}", &reply) == ATTEST_OK) {
			cJSON_Delete(reply);
			return;
		}
		usleep(25000);
	}
	CU_FAIL_FATAL("attestd did not come up");
}

/* Wait (bounded) for a line containing `what` in the daemon's log. */
static int log_has(struct daemon *d, const char *what)
{
	for (int i = 0; i < 400; i++) {
		size_t n = 0;
		char *s = tu_slurp(d->log, &n);
		int found = strstr(s, what) != NULL;

		free(s);
		if (found)
			return 1;
		usleep(25000);
	}
	return 0;
}

/* A verifier that is down: issuance is unaffected, pushes fail with the
 * transport error and back off, `attestctl host attest` says why. */
static void test_verifier_down(void)
{
	struct daemon d;
	char a[700], ca[700], out[800];
	cJSON *reply = NULL;
	const char *extra[] = { "--verifier", "https://127.0.0.1:1", "--verifier-ca", ca,
				"--push-interval", "1", "--eventlog", "none", NULL };

	daemon_up(&d);
	/* without --verifier there is nothing to push to */
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"attest\"}", &reply), ATTEST_E_STATE);
	daemon_stop(&d);
	snprintf(ca, sizeof(ca), "%s/root.pem", d.state);
	start_with(&d, extra);
	CU_ASSERT(log_has(&d, "pushing to https://127.0.0.1:1 every 1 s: PCR mask 0x0000ff, event log none"));
	CU_ASSERT(log_has(&d, "push: failed: input/output error [ATTEST_E_IO]"));
	CU_ASSERT(log_has(&d, "report: failed: input/output error [ATTEST_E_IO]"));
	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	register_agent(&d, "alpha", a, "0");
	expect_cert(&d, run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\"}"), "alpha");
	/* on demand: the transport error, with curl's words */
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"attest\"}", &reply), ATTEST_E_IO);
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"attest\",\"renew\":1}", &reply), ATTEST_E_PARSE);
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"attest\",\"force\":true}", &reply), ATTEST_E_PARSE);
	snprintf(out, sizeof(out), "%s/attest.out", d.sw.dir);
	CU_ASSERT_EQUAL(tu_sh("attestctl host attest --renew --admin-socket %s >%s 2>&1", d.admin, out), 1);
	CU_ASSERT_EQUAL(tu_sh("grep -q 'ATTEST_E_IO' %s", out), 0);
	/* still issuing after all that */
	expect_cert(&d, run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\"}"), "alpha");
	daemon_down(&d);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "PCR lists", test_pcr_list },
		{ "agent report signed by a software key", test_report_software_key },
		{ "TPM report signature and quote body", test_tpm_signature_and_quote },
		{ "nonce answers", test_nonce_answer },
		{ "verdict answers", test_verdict_answer },
		{ "push schedule and renewal point", test_schedule },
		{ "attestd verifier options", test_options },
		{ "verifier down: issuance goes on", test_verifier_down },
		{ NULL, NULL },
	};

	return tu_main("hostpush", tests);
}
