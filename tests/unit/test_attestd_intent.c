/* test_attestd_intent.c - attestd issues leaves that carry a user's intent
 * grant (issue 4 part 2): trusted issuers from STATE/intent-issuers, the
 * grant verified for the measured agent, scopes within the registration
 * and the grant, notAfter within the grant, single-use jti, and every
 * refusal with its reason.
 * Targets: attestd (daemon.c load_intent_trust, issue.c intent_*). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/intent.h"
#include "x509agent.h"
#include "testutil.h"
#include "testutil_daemon.h"

#define ALPHA_ID "spiffe://fleet.example/host/web-01/agent/alpha"

static char *grant(EVP_PKEY *k, const char *iss, const char *aud, const char *scope,
		   const char *jti, int64_t iat, int64_t exp)
{
	const char *scopes[] = { scope };
	const char *res[] = { "ehr:patient/123/*" };
	struct attest_intent_claims c = {
		.sub = "dr.alice@hospital.example", .aud = aud,
		.purpose = ATTEST_PURPOSE_TREATMENT, .purpose_text = "follow-up",
		.scopes = scopes, .nscopes = 1, .resources = res, .nresources = 1,
		.jti = jti, .iat = iat, .nbf = iat, .exp = exp, .max_depth = 1,
	};
	char *tok = NULL;

	TU_ASSERT_ERR(attest_intent_grant_make(k, iss, &c, &tok), ATTEST_OK);
	CU_ASSERT_FATAL(tok != NULL);
	return tok;
}

static cJSON *ask(const char *bin, struct daemon *d, const char *token, const char *extra)
{
	size_t n = strlen(token) + 512;
	char *json = malloc(n);
	cJSON *reply;

	CU_ASSERT_FATAL(json != NULL);
	snprintf(json, n, "{\"op\":\"issue\",\"agent\":\"alpha\",\"intent\":\"%s\"%s}", token,
		 extra != NULL ? extra : "");
	reply = run_agent(NULL, bin, d->sock, json);
	free(json);
	return reply;
}

/* The leaf carries the intent extension and ends no later than exp. */
static void expect_intent_leaf(struct daemon *d, cJSON *reply, int64_t exp)
{
	const cJSON *chain = cJSON_GetObjectItemCaseSensitive(reply, "chain");
	BIO *b;
	X509 *leaf;
	time_t end = (time_t)exp;

	CU_ASSERT_FATAL(cJSON_IsString(chain));
	b = BIO_new_mem_buf(chain->valuestring, -1);
	leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
	CU_ASSERT_FATAL(leaf != NULL);
	CU_ASSERT(X509_cmp_time(X509_get0_notAfter(leaf), &end) <= 0);
	X509_free(leaf);
	BIO_free(b);
	expect_cert(d, reply, "alpha"); /* writes chain.pem, frees reply */
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && openssl x509 -in chain.pem -noout -text | grep -qF '%s'",
			      d->sw.dir, ATTEST_OID_INTENT), 0);
}

static void test_issue_with_intent(void)
{
	struct daemon d;
	char a[700], path[800];
	EVP_PKEY *ehr = EVP_EC_gen("P-256"), *rogue = EVP_EC_gen("P-256");
	BIO *b;
	char *pem, *tok;
	long len;
	int64_t now = (int64_t)time(NULL);

	CU_ASSERT_FATAL(ehr != NULL && rogue != NULL);
	daemon_up(&d);
	daemon_stop(&d);
	snprintf(path, sizeof(path), "%s/intent-issuers", d.state);
	CU_ASSERT_EQUAL_FATAL(tu_sh("mkdir -p '%s'", path), 0);
	b = BIO_new(BIO_s_mem());
	CU_ASSERT_FATAL(b != NULL && PEM_write_bio_PUBKEY(b, ehr) == 1);
	len = BIO_get_mem_data(b, &pem);
	snprintf(path, sizeof(path), "%s/intent-issuers/ehr.pem", d.state);
	tu_write(path, pem, (size_t)len);
	BIO_free(b);
	daemon_start(&d, "64");

	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	register_agent(&d, "alpha", a, "0");

	/* a request refused for its scopes consumes nothing: the same grant
	 * then earns its certificate, whose leaf carries it */
	tok = grant(ehr, "ehr", ALPHA_ID, "ehr:read", "task-1", now, now + 300);
	expect_refused(ask(a, &d, tok, ",\"scopes\":[\"ehr:write\"]"), "ATTEST_E_INTENT_WIDENED");
	expect_intent_leaf(&d, ask(a, &d, tok, NULL), now + 300);
	/* the jti is single-use */
	expect_refused(ask(a, &d, tok, NULL), "ATTEST_E_INTENT_REPLAY");
	free(tok);
	/* a grant shorter than the agent's TTL cap clamps the leaf */
	tok = grant(ehr, "ehr", ALPHA_ID, "ehr:read", "task-2", now, now + 90);
	expect_intent_leaf(&d, ask(a, &d, tok, ",\"scopes\":[\"ehr:read\"],\"ttl\":600"), now + 90);
	free(tok);

	tok = grant(ehr, "ehr", "spiffe://fleet.example/host/web-01/agent/beta", "ehr:read",
		    "task-3", now, now + 300);
	expect_refused(ask(a, &d, tok, NULL), "ATTEST_E_INTENT_AUDIENCE");
	free(tok);
	tok = grant(ehr, "ehr", ALPHA_ID, "ehr:read", "task-4", now - 7200, now - 3600);
	expect_refused(ask(a, &d, tok, NULL), "ATTEST_E_INTENT_EXPIRED");
	free(tok);
	tok = grant(rogue, "rogue", ALPHA_ID, "ehr:read", "task-5", now, now + 300);
	expect_refused(ask(a, &d, tok, NULL), "ATTEST_E_INTENT_ISSUER");
	free(tok);
	/* a trusted name with another key */
	tok = grant(rogue, "ehr", ALPHA_ID, "ehr:read", "task-6", now, now + 300);
	expect_refused(ask(a, &d, tok, NULL), "ATTEST_E_INTENT_SIGNATURE");
	free(tok);
	/* outside the registration (ehr:read, ehr:write) */
	tok = grant(ehr, "ehr", ALPHA_ID, "ehr:delete", "task-7", now, now + 300);
	expect_refused(ask(a, &d, tok, NULL), "ATTEST_E_SCOPE");
	free(tok);
	/* not a token */
	expect_refused(ask(a, &d, "not.a.token", NULL), "ATTEST_E_PARSE");

	/* still serving, with and without intent; the used jti stays used
	 * across a restart */
	expect_cert(&d, run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\"}"), "alpha");
	daemon_stop(&d);
	daemon_start(&d, "64");
	tok = grant(ehr, "ehr", ALPHA_ID, "ehr:read", "task-1", now, now + 300);
	expect_refused(ask(a, &d, tok, NULL), "ATTEST_E_INTENT_REPLAY");
	free(tok);
	tok = grant(ehr, "ehr", ALPHA_ID, "ehr:read", "task-8", now, now + 300);
	expect_intent_leaf(&d, ask(a, &d, tok, NULL), now + 300);
	free(tok);
	EVP_PKEY_free(ehr);
	EVP_PKEY_free(rogue);
	daemon_down(&d);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "issue with an intent grant: leaf carries it, refusals with reasons",
		  test_issue_with_intent },
		{ NULL, NULL },
	};

	return tu_main("attestd_intent", tests);
}
