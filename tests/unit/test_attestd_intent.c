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
#include "x509/x509agent.h"
#include "enrol/enrol.h"
#include "testutil.h"
#include "testutil_daemon.h"

#define ALPHA_ID "spiffe://fleet.example/host/web-01/agent/alpha"

/* 64 times the character c (a marker-shaped file name), in a static buffer
 * per character so several can appear in one call. */
static const char *hex64(char c)
{
	static char buf[16][65];
	char *b = buf[(unsigned char)c % 16];

	memset(b, c, 64);
	b[64] = '\0';
	return b;
}

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

/* Restart d trusting `key` as intent issuer "ehr"
 * (STATE/intent-issuers/ehr.pem). */
static void trust_ehr(struct daemon *d, EVP_PKEY *key)
{
	char path[800], *pem;
	BIO *b = BIO_new(BIO_s_mem());
	long len;

	CU_ASSERT_FATAL(b != NULL && PEM_write_bio_PUBKEY(b, key) == 1);
	len = BIO_get_mem_data(b, &pem);
	daemon_stop(d);
	snprintf(path, sizeof(path), "%s/intent-issuers", d->state);
	CU_ASSERT_EQUAL_FATAL(tu_sh("mkdir -p '%s'", path), 0);
	snprintf(path, sizeof(path), "%s/intent-issuers/ehr.pem", d->state);
	tu_write(path, pem, (size_t)len);
	BIO_free(b);
	daemon_start(d, "64");
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

/* A relying party that trusts only the fleet root also needs the fleet's
 * issuing CAs for delegations: their x5c ends at the host CA (issue 12).
 * Without them the chain does not verify; with them it does. */
static void trust_issuing(struct attest_intent_trust *t, const char *ca_dir, const char *tok,
			  const char *aud)
{
	struct attest_ca *ca = NULL;
	struct attest_intent_chain *ch = NULL;
	STACK_OF(X509) *sk = NULL;

	TU_ASSERT_ERR(attest_intent_verify(t, tok, aud, time(NULL), &ch), ATTEST_E_INTENT_CHAIN);
	attest_intent_chain_free(ch);
	CU_ASSERT_FATAL(attest_ca_open(ca_dir, &ca) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_ca_issuing_certs(ca, &sk) == ATTEST_OK);
	for (int i = 0; i < sk_X509_num(sk); i++)
		TU_ASSERT_ERR(attest_intent_trust_add_intermediate(t, sk_X509_value(sk, i)), ATTEST_OK);
	sk_X509_pop_free(sk, X509_free);
	attest_ca_close(ca);
}

static void test_issue_with_intent(void)
{
	struct daemon d;
	char a[700];
	EVP_PKEY *ehr = EVP_EC_gen("P-256"), *rogue = EVP_EC_gen("P-256");
	char *tok;
	int64_t now = (int64_t)time(NULL);

	CU_ASSERT_FATAL(ehr != NULL && rogue != NULL);
	daemon_up(&d);
	trust_ehr(&d, ehr);

	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	register_agent(&d, "alpha", a, "0");

	/* a request refused for its scopes consumes nothing: the same grant
	 * then earns its certificate, whose leaf carries it */
	tok = grant(ehr, "ehr", ALPHA_ID, "ehr:read", "task-1", now, now + 300);
	expect_refused(ask(a, &d, tok, ",\"scopes\":[\"ehr:write\"]"), "ATTEST_E_INTENT_WIDENED");
	/* spent markers: the first one consumed prunes the expired one and a
	 * crash's temp file, and keeps a live one and one it cannot read */
	CU_ASSERT_EQUAL_FATAL(
		tu_sh("cd '%s' && mkdir -m 700 intent-used && cd intent-used && "
		      "printf '100\\n' > %.64s && printf '%lld\\n' > %.64s && "
		      "printf 'soon' > %.64s && printf '1' > %.64s.tmp.0011223344556677",
		      d.state, hex64('a'), (long long)now + 3600, hex64('b'), hex64('c'),
		      hex64('d')),
		0);
	expect_intent_leaf(&d, ask(a, &d, tok, NULL), now + 300);
	CU_ASSERT_EQUAL(tu_sh("cd '%s/intent-used' && ! test -e %.64s && test -e %.64s && "
			      "test -e %.64s && ! ls | grep -q tmp && test $(ls | wc -l) = 3",
			      d.state, hex64('a'), hex64('b'), hex64('c')),
			0);
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

#define BETA_ID "spiffe://fleet.example/host/web-01/agent/beta"
#define DELTA_ID "spiffe://fleet.example/host/web-01/agent/delta"

/* run_agent with room for a large request (a delegation chain, a leaf). */
static cJSON *ask_json(const char *bin, struct daemon *d, const char *json)
{
	size_t n = strlen(json) + 4096;
	char *cmd = malloc(n), *buf = malloc(256 * 1024);
	size_t got;
	FILE *p;
	cJSON *o;

	CU_ASSERT_FATAL(cmd != NULL && buf != NULL);
	snprintf(cmd, n, "'%s' '%s' '%s'", bin, d->sock, json);
	p = popen(cmd, "r");
	CU_ASSERT_FATAL(p != NULL);
	got = fread(buf, 1, 256 * 1024 - 1, p);
	buf[got] = '\0';
	pclose(p);
	o = cJSON_Parse(buf);
	if (o == NULL)
		fprintf(stderr, "  agent printed: %s\n", buf);
	CU_ASSERT_FATAL(o != NULL);
	free(cmd);
	free(buf);
	return o;
}

/* issue for `agent` with string field `field` set to value (plus `extra`,
 * raw JSON members starting with ','). */
static cJSON *ask_with(const char *bin, struct daemon *d, const char *agent, const char *field,
		       const char *value, const char *extra)
{
	cJSON *req = cJSON_CreateObject(), *reply;
	char *json, *full;
	size_t n;

	CU_ASSERT_FATAL(req != NULL);
	cJSON_AddStringToObject(req, "op", "issue");
	cJSON_AddStringToObject(req, "agent", agent);
	cJSON_AddStringToObject(req, field, value);
	json = cJSON_PrintUnformatted(req);
	CU_ASSERT_FATAL(json != NULL);
	n = strlen(json) + (extra != NULL ? strlen(extra) : 0) + 1;
	full = malloc(n);
	CU_ASSERT_FATAL(full != NULL);
	snprintf(full, n, "%.*s%s}", (int)strlen(json) - 1, json, extra != NULL ? extra : "");
	reply = ask_json(bin, d, full);
	free(full);
	free(json);
	cJSON_Delete(req);
	return reply;
}

static cJSON *ask_big(const char *bin, struct daemon *d, const char *agent, const char *token)
{
	return ask_with(bin, d, agent, "intent", token, NULL);
}

/* The reply's leaf key and chain, for signing a delegation in-process. */
static void reply_key_chain(const cJSON *reply, EVP_PKEY **key, STACK_OF(X509) **chain)
{
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(reply, "key");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(reply, "chain");
	BIO *b;
	X509 *x;

	CU_ASSERT_FATAL(cJSON_IsString(k) && cJSON_IsString(c));
	b = BIO_new_mem_buf(k->valuestring, -1);
	*key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	CU_ASSERT_FATAL(*key != NULL);
	*chain = sk_X509_new_null();
	b = BIO_new_mem_buf(c->valuestring, -1);
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		CU_ASSERT_FATAL(sk_X509_push(*chain, x) > 0);
	BIO_free(b);
	CU_ASSERT_FATAL(sk_X509_num(*chain) >= 2);
}

static char *delegate(EVP_PKEY *k, STACK_OF(X509) *chain, const char *parent, const char *aud,
		      const char *scope2, const char *resource, int64_t now, int want)
{
	const char *scopes[] = { "ehr:read", scope2 };
	const char *res[] = { resource };
	struct attest_delegation_claims c = {
		.aud = aud, .scopes = scopes, .nscopes = scope2 != NULL ? 2 : 1,
		.resources = res, .nresources = 1, .iat = (int64_t)time(NULL), .exp = now + 120,
	};
	char *tok = NULL;

	TU_ASSERT_ERR(attest_intent_delegate(k, chain, parent, &c, &tok), want);
	CU_ASSERT_FATAL((want == ATTEST_OK) == (tok != NULL));
	return tok;
}

/* Agent alpha holds the user's grant and delegates a narrower intent to beta
 * on the same host; beta's leaf carries the delegation; its nonce is single
 * use; widenings cannot be made; a delegation for another agent is refused. */
static void test_delegation_two_agents(void)
{
	struct daemon d;
	char a[700], bb[700], cc[700], path[800];
	EVP_PKEY *ehr = EVP_EC_gen("P-256"), *akey = NULL, *dkey = NULL;
	STACK_OF(X509) *achain = NULL, *dchain = NULL;
	struct attest_intent_trust *t = NULL;
	struct attest_intent_chain *ch = NULL;
	X509 *root = NULL;
	BIO *b;
	FILE *f;
	cJSON *reply;
	char *g, *g2, *del, *other, *apem;
	const char *scopes[] = { "ehr:read", "ehr:write" };
	const char *res[] = { "ehr:patient/123/*" };
	int64_t now = (int64_t)time(NULL);
	struct attest_intent_claims c = {
		.sub = "dr.alice@hospital.example", .aud = ALPHA_ID,
		.purpose = ATTEST_PURPOSE_TREATMENT, .purpose_text = "follow-up",
		.scopes = scopes, .nscopes = 2, .resources = res, .nresources = 1,
		.jti = "task-d1", .iat = now, .nbf = now, .exp = now + 300, .max_depth = 1,
	};

	CU_ASSERT_FATAL(ehr != NULL);
	daemon_up(&d);
	trust_ehr(&d, ehr);

	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	make_agent_binary(&d, "agent-b", NULL, bb, sizeof(bb));
	register_agent(&d, "alpha", a, "0");
	register_agent(&d, "beta", bb, "0");

	/* alpha: a leaf with the grant, whose key signs the delegation */
	TU_ASSERT_ERR(attest_intent_grant_make(ehr, "ehr", &c, &g), ATTEST_OK);
	reply = ask(a, &d, g, NULL);
	reply_key_chain(reply, &akey, &achain);
	apem = strdup(cJSON_GetObjectItemCaseSensitive(reply, "chain")->valuestring);
	CU_ASSERT_FATAL(apem != NULL);
	expect_cert(&d, reply, "alpha");

	/* renewal: alpha presents its current leaf instead of the spent grant,
	 * as often as it likes while the chain is valid; the new leaf carries
	 * the same chain */
	for (int i = 0; i < 2; i++) {
		char *in;

		reply = ask_with(a, &d, "alpha", "renew", apem, NULL);
		in = reply_leaf_intent(reply);
		CU_ASSERT(in != NULL && strcmp(in, g) == 0);
		free(in);
		expect_cert(&d, reply, "alpha");
	}
	/* refused: another agent's leaf, a leaf without intent, bytes after the
	 * PEM, and renew together with an intent */
	expect_refused_why(ask_with(bb, &d, "beta", "renew", apem, NULL), "ATTEST_E_DENIED",
			   "is not a current certificate of beta");
	reply = run_agent(NULL, a, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\"}");
	expect_refused_why(ask_with(a, &d, "alpha", "renew",
				    cJSON_GetObjectItemCaseSensitive(reply, "chain")->valuestring, NULL),
			   "ATTEST_E_NOT_FOUND", "carries no intent");
	cJSON_Delete(reply);
	{
		size_t n = strlen(apem) + 8;
		char *junk = malloc(n);

		CU_ASSERT_FATAL(junk != NULL);
		snprintf(junk, n, "%sjunk", apem);
		expect_refused(ask_with(a, &d, "alpha", "renew", junk, NULL), "ATTEST_E_PARSE");
		free(junk);
	}
	expect_refused(ask_with(a, &d, "alpha", "renew", apem, ",\"intent\":\"x.y.z\""),
		       "ATTEST_E_INVALID_ARG");

	del = delegate(akey, achain, g, BETA_ID, NULL, "ehr:patient/123/notes/*", now, ATTEST_OK);
	reply = ask_big(bb, &d, "beta", del);
	{
		const cJSON *chain = cJSON_GetObjectItemCaseSensitive(reply, "chain");
		X509 *leaf;
		time_t end = (time_t)(now + 120);

		CU_ASSERT_FATAL(cJSON_IsString(chain));
		b = BIO_new_mem_buf(chain->valuestring, -1);
		leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
		CU_ASSERT_FATAL(leaf != NULL);
		CU_ASSERT(X509_cmp_time(X509_get0_notAfter(leaf), &end) <= 0);
		X509_free(leaf);
		BIO_free(b);
	}
	expect_cert(&d, reply, "beta");
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && openssl x509 -in chain.pem -noout -text | grep -qF '%s'",
			      d.sw.dir, ATTEST_OID_INTENT), 0);

	/* offline, the chain reads user -> alpha -> beta with beta's scopes */
	snprintf(path, sizeof(path), "%s/root.pem", d.ca);
	f = fopen(path, "r");
	CU_ASSERT_FATAL(f != NULL);
	root = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	CU_ASSERT_FATAL(root != NULL);
	TU_ASSERT_ERR(attest_intent_trust_new(&t), ATTEST_OK);
	TU_ASSERT_ERR(attest_intent_trust_add_issuer(t, "ehr", ehr), ATTEST_OK);
	TU_ASSERT_ERR(attest_intent_trust_set_root(t, root), ATTEST_OK);
	trust_issuing(t, d.ca, del, BETA_ID);
	TU_ASSERT_ERR(attest_intent_verify(t, del, BETA_ID, time(NULL), &ch), ATTEST_OK);
	if (ch != NULL) {
		const char *const *cs;

		CU_ASSERT_EQUAL(attest_intent_chain_depth(ch), 1);
		CU_ASSERT_STRING_EQUAL(attest_intent_chain_agent(ch, 0, NULL), ALPHA_ID);
		CU_ASSERT_STRING_EQUAL(attest_intent_chain_agent(ch, 1, NULL), BETA_ID);
		CU_ASSERT_EQUAL(attest_intent_chain_scopes(ch, &cs), 1);
		CU_ASSERT_STRING_EQUAL(cs[0], "ehr:read");
	}
	attest_intent_chain_free(ch);

	/* the same delegation again: its nonce is spent */
	expect_refused(ask_big(bb, &d, "beta", del), "ATTEST_E_NONCE");
	free(del);

	/* widenings are refused when the delegation is made */
	CU_ASSERT_PTR_NULL(delegate(akey, achain, g, BETA_ID, "ehr:delete",
				    "ehr:patient/123/*", now, ATTEST_E_INTENT_WIDENED));
	CU_ASSERT_PTR_NULL(delegate(akey, achain, g, BETA_ID, NULL, "ehr:patient/*", now,
				    ATTEST_E_INTENT_WIDENED));
	/* a delegation addressed to another agent, presented by beta */
	other = delegate(akey, achain, g, "spiffe://fleet.example/host/web-01/agent/gamma", NULL,
			 "ehr:patient/123/*", now, ATTEST_OK);
	expect_refused(ask_big(bb, &d, "beta", other), "ATTEST_E_INTENT_AUDIENCE");
	free(other);

	/* delta, registered with delegate_depth 0, holds a grant: its leaf
	 * says so, and it cannot delegate with it */
	make_agent_binary(&d, "agent-c", NULL, cc, sizeof(cc));
	register_agent_depth(&d, "delta", cc, "0", 0);
	c.aud = DELTA_ID;
	c.jti = "task-d2";
	TU_ASSERT_ERR(attest_intent_grant_make(ehr, "ehr", &c, &g2), ATTEST_OK);
	reply = ask_big(cc, &d, "delta", g2);
	reply_key_chain(reply, &dkey, &dchain);
	expect_cert(&d, reply, "delta");
	CU_ASSERT_PTR_NULL(delegate(dkey, dchain, g2, BETA_ID, NULL, "ehr:patient/123/*", now,
				    ATTEST_E_INTENT_DEPTH));
	CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "may start 0 delegation hop(s)"));

	/* alpha revoked: a fresh delegation it signs with its still-valid
	 * leaf earns beta nothing */
	TU_ASSERT_ERR(admin_call(&d, "{\"op\":\"revoke\",\"name\":\"alpha\"}", &reply),
		      ATTEST_OK);
	cJSON_Delete(reply);
	other = delegate(akey, achain, g, BETA_ID, NULL, "ehr:patient/123/*", now, ATTEST_OK);
	expect_refused_why(ask_big(bb, &d, "beta", other), "ATTEST_E_REVOKED",
			   "delegating agent " ALPHA_ID " is revoked");
	free(other);
	/* revoked: no renewal either */
	expect_refused(ask_with(a, &d, "alpha", "renew", apem, NULL), "ATTEST_E_REVOKED");
	free(apem);
	sk_X509_pop_free(dchain, X509_free);
	EVP_PKEY_free(dkey);
	free(g2);

	attest_intent_trust_free(t);
	X509_free(root);
	sk_X509_pop_free(achain, X509_free);
	EVP_PKEY_free(akey);
	free(g);
	EVP_PKEY_free(ehr);
	daemon_down(&d);
}

#define FLEET_ALPHA "spiffe://fleet.example/host/web-01/agent/alpha"
#define FLEET_BETA "spiffe://fleet.example/host/db-01/agent/beta"
#define FLEET_GAMMA "spiffe://fleet.example/host/web-01/agent/gamma"

/* Two hosts of one fleet (one fleet CA), each with its own swtpm and
 * attestd: alpha on web-01 holds the user's grant (depth 0) and delegates
 * to beta on db-01 (depth 1), which delegates to gamma on web-01 (depth 2).
 * Each attestd accepts a delegator's chain from the other host, and each
 * leaf's intent verifies offline with the hosts in order. */
static void test_chain_across_two_hosts(void)
{
	struct daemon web, db;
	struct daemon *hosts[2] = { &web, &db };
	char fleet[512], ca[600], a[700], bb[700], cc[700], path[800];
	EVP_PKEY *ehr = EVP_EC_gen("P-256"), *akey = NULL, *bkey = NULL;
	STACK_OF(X509) *achain = NULL, *bchain = NULL;
	struct attest_intent_trust *t = NULL;
	struct attest_intent_chain *ch = NULL;
	X509 *root = NULL;
	FILE *f;
	cJSON *reply;
	char *g = NULL, *d1, *d2 = NULL, *in_a, *in_b, *in_c;
	const char *scopes[] = { "ehr:read", "ehr:write" };
	const char *res[] = { "ehr:patient/123/*" };
	const char *narrow[] = { "ehr:patient/123/notes/*" };
	const char *host = NULL;
	int64_t now = (int64_t)time(NULL);
	struct attest_intent_claims c = {
		.sub = "dr.alice@hospital.example", .aud = FLEET_ALPHA,
		.purpose = ATTEST_PURPOSE_TREATMENT, .purpose_text = "follow-up",
		.scopes = scopes, .nscopes = 2, .resources = res, .nresources = 1,
		.jti = "task-x1", .iat = now, .nbf = now, .exp = now + 300, .max_depth = 2,
	};
	struct attest_delegation_claims dc = {
		.aud = FLEET_GAMMA, .scopes = scopes, .nscopes = 1, .resources = narrow,
		.nresources = 1, .exp = now + 100,
	};

	CU_ASSERT_FATAL(ehr != NULL);
	tu_mkdtemp(fleet, sizeof(fleet));
	snprintf(ca, sizeof(ca), "%s/ca", fleet);
	daemon_up_in_fleet(&web, ca, "web-01");
	daemon_up_in_fleet(&db, ca, "db-01");
	/* both trust the same intent issuer */
	for (int i = 0; i < 2; i++)
		trust_ehr(hosts[i], ehr);

	make_agent_binary(&web, "agent-a", NULL, a, sizeof(a));
	make_agent_binary(&db, "agent-b", NULL, bb, sizeof(bb));
	make_agent_binary(&web, "agent-c", NULL, cc, sizeof(cc));
	register_agent_depth(&web, "alpha", a, "0", 2); /* starts the 2 hops to gamma */
	register_agent(&db, "beta", bb, "0");
	register_agent(&web, "gamma", cc, "0");

	/* depth 0: alpha on web-01 with the grant */
	TU_ASSERT_ERR(attest_intent_grant_make(ehr, "ehr", &c, &g), ATTEST_OK);
	reply = ask(a, &web, g, NULL);
	reply_key_chain(reply, &akey, &achain);
	in_a = reply_leaf_intent(reply);
	expect_cert_at(&web, reply, "web-01", "alpha");

	/* depth 1: alpha delegates to beta on db-01 */
	d1 = delegate(akey, achain, g, FLEET_BETA, NULL, "ehr:patient/123/notes/*", now,
		      ATTEST_OK);
	reply = ask_big(bb, &db, "beta", d1);
	in_b = reply_leaf_intent(reply);
	expect_cert_at(&db, reply, "db-01", "beta");
	/* beta signs its delegation with a plain leaf of its own: its intent
	 * leaf embeds d1, so as x5c it would carry the chain twice
	 * (docs/intent.md, "Size budget") */
	reply = run_agent(NULL, bb, db.sock, "{\"op\":\"issue\",\"agent\":\"beta\"}");
	reply_key_chain(reply, &bkey, &bchain);
	expect_cert_at(&db, reply, "db-01", "beta");

	/* depth 2: beta delegates to gamma back on web-01 */
	dc.iat = (int64_t)time(NULL);
	TU_ASSERT_ERR(attest_intent_delegate(bkey, bchain, d1, &dc, &d2), ATTEST_OK);
	CU_ASSERT_FATAL(d2 != NULL);
	reply = ask_big(cc, &web, "gamma", d2);
	in_c = reply_leaf_intent(reply);
	expect_cert_at(&web, reply, "web-01", "gamma");

	/* each leaf carries its token; offline, with only the fleet root and
	 * the issuer's key, the chains read as expected */
	CU_ASSERT_FATAL(in_a != NULL && in_b != NULL && in_c != NULL);
	CU_ASSERT_STRING_EQUAL(in_a, g);
	CU_ASSERT_STRING_EQUAL(in_b, d1);
	CU_ASSERT_STRING_EQUAL(in_c, d2);
	snprintf(path, sizeof(path), "%s/root.pem", ca);
	f = fopen(path, "r");
	CU_ASSERT_FATAL(f != NULL);
	root = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	CU_ASSERT_FATAL(root != NULL);
	TU_ASSERT_ERR(attest_intent_trust_new(&t), ATTEST_OK);
	TU_ASSERT_ERR(attest_intent_trust_add_issuer(t, "ehr", ehr), ATTEST_OK);
	TU_ASSERT_ERR(attest_intent_trust_set_root(t, root), ATTEST_OK);
	trust_issuing(t, ca, in_b, FLEET_BETA);

	TU_ASSERT_ERR(attest_intent_verify(t, in_a, FLEET_ALPHA, time(NULL), &ch), ATTEST_OK);
	if (ch != NULL) {
		CU_ASSERT_EQUAL(attest_intent_chain_depth(ch), 0);
		CU_ASSERT_EQUAL(attest_intent_chain_remaining(ch), 2);
		CU_ASSERT_STRING_EQUAL(attest_intent_chain_user(ch), "dr.alice@hospital.example");
		CU_ASSERT_STRING_EQUAL(attest_intent_chain_agent(ch, 0, &host), FLEET_ALPHA);
		CU_ASSERT(host != NULL && strcmp(host, "web-01") == 0);
	}
	attest_intent_chain_free(ch);
	ch = NULL;

	TU_ASSERT_ERR(attest_intent_verify(t, in_b, FLEET_BETA, time(NULL), &ch), ATTEST_OK);
	if (ch != NULL) {
		CU_ASSERT_EQUAL(attest_intent_chain_depth(ch), 1);
		CU_ASSERT_EQUAL(attest_intent_chain_remaining(ch), 1);
		CU_ASSERT_STRING_EQUAL(attest_intent_chain_agent(ch, 0, &host), FLEET_ALPHA);
		CU_ASSERT(host != NULL && strcmp(host, "web-01") == 0);
		CU_ASSERT_STRING_EQUAL(attest_intent_chain_agent(ch, 1, &host), FLEET_BETA);
		CU_ASSERT(host != NULL && strcmp(host, "db-01") == 0);
	}
	attest_intent_chain_free(ch);
	ch = NULL;

	TU_ASSERT_ERR(attest_intent_verify(t, in_c, FLEET_GAMMA, time(NULL), &ch), ATTEST_OK);
	if (ch != NULL) {
		const char *const *cs;

		CU_ASSERT_EQUAL(attest_intent_chain_depth(ch), 2);
		CU_ASSERT_EQUAL(attest_intent_chain_remaining(ch), 0);
		CU_ASSERT_STRING_EQUAL(attest_intent_chain_user(ch), "dr.alice@hospital.example");
		CU_ASSERT_STRING_EQUAL(attest_intent_chain_agent(ch, 0, &host), FLEET_ALPHA);
		CU_ASSERT(host != NULL && strcmp(host, "web-01") == 0);
		CU_ASSERT_STRING_EQUAL(attest_intent_chain_agent(ch, 1, &host), FLEET_BETA);
		CU_ASSERT(host != NULL && strcmp(host, "db-01") == 0);
		CU_ASSERT_STRING_EQUAL(attest_intent_chain_agent(ch, 2, &host), FLEET_GAMMA);
		CU_ASSERT(host != NULL && strcmp(host, "web-01") == 0);
		CU_ASSERT_EQUAL(attest_intent_chain_scopes(ch, &cs), 1);
		CU_ASSERT_STRING_EQUAL(cs[0], "ehr:read");
		CU_ASSERT_EQUAL(attest_intent_chain_resources(ch, &cs), 1);
		CU_ASSERT_STRING_EQUAL(cs[0], "ehr:patient/123/notes/*");
		CU_ASSERT(attest_intent_chain_expiry(ch) <= now + 100);
	}
	attest_intent_chain_free(ch);

	attest_intent_trust_free(t);
	X509_free(root);
	sk_X509_pop_free(achain, X509_free);
	sk_X509_pop_free(bchain, X509_free);
	EVP_PKEY_free(akey);
	EVP_PKEY_free(bkey);
	free(in_a);
	free(in_b);
	free(in_c);
	free(d1);
	free(d2);
	free(g);
	EVP_PKEY_free(ehr);
	daemon_down(&web);
	daemon_down(&db);
	if (getenv("ATTEST_TEST_KEEP") == NULL)
		tu_rmtree(fleet);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "issue with an intent grant: leaf carries it, refusals with reasons",
		  test_issue_with_intent },
		{ "delegation alpha -> beta: beta's leaf carries it, nonce single-use, widening refused",
		  test_delegation_two_agents },
		{ "chain alpha@web-01 -> beta@db-01 -> gamma@web-01: depths 0, 1, 2 across two hosts",
		  test_chain_across_two_hosts },
		{ NULL, NULL },
	};

	return tu_main("attestd_intent", tests);
}
