/* test_dashboard.c - the fleet dashboard (docs/dashboard.md) against a fleet
 * on swtpm: host web-01 attested and pushing, agent scribe with an intent
 * leaf from an EHR (user dr.alice, purpose TREATMENT), and, put in the
 * store, a never-attested host lab-02 with an agent whose name, scopes and
 * data classes carry markup; decisions whose resources and purpose text
 * carry markup too.
 *  - who may see it: without a certificate only from loopback naming a
 *    loopback Host (DNS rebinding, a proxy's headers and a resource caller
 *    refused), --dashboard admin and off; the headers (CSP, nosniff, frame
 *    ancestors) on every answer;
 *  - revocation from the page: refused without the admin's token, from
 *    another origin, without an admin certificate; done and audited with;
 *  - Debian's headless Chromium (tests/dashboard/drive.py, chromedriver)
 *    renders the hosts, agents (the revoked one as revoked), decisions with
 *    their chain user -> agent, denials and charts, with no console error,
 *    no CSP violation, and the markup shown as text (no element made, no
 *    script run); the screenshot is kept as BUILD/artifacts/dashboard.png.
 * Targets: verifier/dashboard.c, verifier/dashboard/app.js, server.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "testutil.h"
#include "testutil_daemon.h"
#include "testutil_verifier.h"
#include "store.h"
#include "vsrv.h"

#define TD "spiffe://fleet.example/host/"
#define SCRIBE TD "web-01/agent/scribe"
#define XSS_IMG "<img src=x onerror=window.__pwned=1>"
#define XSS_SCRIPT "<script>window.__pwned=1</script>"
#define XSS_SVG "<svg/onload=window.__pwned=1>"
#define EVIL TD "lab-02/agent/" XSS_IMG
#define ALICE "dr.alice@hospital.example"

/* TU_POLICY_RECORDS_READ(30) with the detector's novelty features on
 * after 3 decisions (docs/detection.md): a new purpose is an alert */
static const char policy[] =
	"{\"version\":1,\"detection\":{\"min_events\":3},\"rules\":[{\"name\":\"records-read\","
	"\"effect\":\"allow\",\"resources\":[\"ehr:patient/**\"],\"actions\":[\"read\"],"
	"\"require\":{\"scopes\":[\"ehr:read\"],\"host_attested_within\":30}}]}";

/* ---- the access rules' pieces ---- */

static void test_loopback_rules(void)
{
	CU_ASSERT(vs_dash_loopback_addr("127.0.0.1"));
	CU_ASSERT(vs_dash_loopback_addr("127.8.9.10"));
	CU_ASSERT(vs_dash_loopback_addr("::1"));
	CU_ASSERT(vs_dash_loopback_addr("::ffff:127.0.0.1"));
	CU_ASSERT(!vs_dash_loopback_addr("192.0.2.2"));
	CU_ASSERT(!vs_dash_loopback_addr("10.127.0.1"));
	CU_ASSERT(!vs_dash_loopback_addr("::ffff:10.0.0.1"));
	CU_ASSERT(!vs_dash_loopback_addr("fd00::2"));
	CU_ASSERT(!vs_dash_loopback_addr(""));
	CU_ASSERT(!vs_dash_loopback_addr("localhost"));

	CU_ASSERT(vs_dash_loopback_host("localhost"));
	CU_ASSERT(vs_dash_loopback_host("LOCALHOST:8443"));
	CU_ASSERT(vs_dash_loopback_host("127.0.0.1:443"));
	CU_ASSERT(vs_dash_loopback_host("[::1]:8443"));
	CU_ASSERT(vs_dash_loopback_host("[::1]"));
	CU_ASSERT(!vs_dash_loopback_host(NULL));
	CU_ASSERT(!vs_dash_loopback_host(""));
	CU_ASSERT(!vs_dash_loopback_host("evil.example"));
	CU_ASSERT(!vs_dash_loopback_host("localhost.evil.example"));
	CU_ASSERT(!vs_dash_loopback_host("127.0.0.1.evil.example:80"));
	CU_ASSERT(!vs_dash_loopback_host("localhost:0"));
	CU_ASSERT(!vs_dash_loopback_host("localhost:99999"));
	CU_ASSERT(!vs_dash_loopback_host("localhost:80x"));
	CU_ASSERT(!vs_dash_loopback_host("[::1]x"));
	CU_ASSERT(!vs_dash_loopback_host("[fd00::2]:443"));
	CU_ASSERT(!vs_dash_loopback_host("192.0.2.2"));
}

/* ---- HTTPS with curl: any header, the answer's headers kept ---- */

struct resp {
	long status;
	char *body, *headers;
};

static void resp_free(struct resp *r)
{
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

/* curl `extra` (options, already quoted) to path, as admin or without a
 * certificate; the status, body and headers. */
static struct resp http(struct vfleet *e, int admin, const char *extra, const char *path)
{
	struct resp r = {0};
	char f[800], *code;

	CU_ASSERT_FATAL(tu_sh("cd '%s' && curl -s --cacert '%s' %s%s%s%s%s -D dh.txt -o db.txt "
			      "-w '%%{http_code}' %s '%s%s' >dc.txt",
			      e->d.sw.dir, e->v.cacert, admin ? "--cert '" : "",
			      admin ? e->v.admin : "", admin ? ".pem' --key '" : "",
			      admin ? e->v.admin : "", admin ? ".key'" : "", extra, e->v.url,
			      path) == 0);
	snprintf(f, sizeof(f), "%s/dc.txt", e->d.sw.dir);
	code = tu_slurp(f, NULL);
	r.status = tu_leading_num(code);
	free(code);
	snprintf(f, sizeof(f), "%s/db.txt", e->d.sw.dir);
	r.body = tu_slurp(f, NULL);
	snprintf(f, sizeof(f), "%s/dh.txt", e->d.sw.dir);
	r.headers = tu_slurp(f, NULL);
	return r;
}

static int has_header(const struct resp *r, const char *line)
{
	return r->headers != NULL && strcasestr(r->headers, line) != NULL;
}

/* the headers every dashboard answer carries */
static void expect_page_headers(const struct resp *r)
{
	CU_ASSERT(has_header(r, "Content-Security-Policy: default-src 'self'; script-src 'self'; "
				"style-src 'self';"));
	CU_ASSERT(has_header(r, "frame-ancestors 'none'"));
	CU_ASSERT(has_header(r, "X-Content-Type-Options: nosniff"));
	CU_ASSERT(has_header(r, "X-Frame-Options: DENY"));
	CU_ASSERT(!has_header(r, "unsafe-inline"));
}

static cJSON *state_of(struct vfleet *e, int admin)
{
	struct resp r = http(e, admin, "", "/v1/dashboard/state");
	cJSON *o = cJSON_Parse(r.body);

	CU_ASSERT_EQUAL(r.status, 200);
	expect_page_headers(&r);
	resp_free(&r);
	CU_ASSERT_FATAL(o != NULL);
	return o;
}

static const cJSON *find_agent(const cJSON *st, const char *id)
{
	const cJSON *a;

	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(st, "agents"))
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(a, "agent");

		if (cJSON_IsString(n) && strcmp(n->valuestring, id) == 0)
			return a;
	}
	return NULL;
}

/* ---- the fleet ---- */

/* POST /v1/decide: chain in pem_file, resource, patient context; status */
static long decide(struct vfleet *e, const char *pem_file, const char *resource)
{
	char *pem = tu_slurp(pem_file, NULL), *body;
	cJSON *o = cJSON_CreateObject(), *ctx, *rep = NULL;
	long st;

	cJSON_AddStringToObject(o, "chain", pem);
	cJSON_AddStringToObject(o, "action", "read");
	cJSON_AddStringToObject(o, "resource", resource);
	ctx = cJSON_AddObjectToObject(o, "context");
	cJSON_AddStringToObject(ctx, "patient", "123");
	body = cJSON_PrintUnformatted(o);
	st = verifier_call(&e->v, AS_RESOURCE, "/v1/decide", body, &rep);
	if (getenv("ATTEST_DASH_DEBUG") != NULL)
		fprintf(stderr, "  decide %s: %ld %s\n", resource, st, reply_reason(rep));
	cJSON_Delete(rep);
	cJSON_Delete(o);
	cJSON_free(body);
	free(pem);
	return st;
}

/* lab-02 (enrolled, never attested) and its agent with markup in its
 * name, scopes and data classes, straight into the stopped verifier's
 * store: whatever reaches the store reaches the page. */
static void evil_rows(struct vfleet *e)
{
	struct vstore *st = NULL;
	struct vhost h;
	struct vagent a;

	memset(&h, 0, sizeof(h));
	memset(&a, 0, sizeof(a));
	snprintf(h.name, sizeof(h.name), "lab-02");
	snprintf(a.id, sizeof(a.id), "%s", EVIL);
	snprintf(a.host, sizeof(a.host), "lab-02");
	snprintf(a.uuid, sizeof(a.uuid), "00000000-0000-4000-8000-000000000002");
	snprintf(a.scopes, sizeof(a.scopes), "ehr:read %s", XSS_SCRIPT);
	snprintf(a.data_classes, sizeof(a.data_classes), "phi %s", XSS_IMG);
	a.risk_tier = 2;
	a.risk_score = 60;
	a.registered = 1;
	CU_ASSERT_FATAL(vstore_open_spec(NULL, e->v.state, 0, &st) == ATTEST_OK);
	CU_ASSERT_FATAL(st->ops->host_put(st, &h) == ATTEST_OK);
	CU_ASSERT_FATAL(st->ops->agent_put(st, &a) == ATTEST_OK);
	vstore_close(st);
}

/* The EHR as intent issuer of attestd and the verifier, lab-02 and its
 * agent in the store, and scribe's leaf carrying alice's TREATMENT grant
 * (its purpose text is markup) in <sw.dir>/treat. */
static void fleet_up(struct vfleet *e)
{
	char scribe[800];

	vfleet_up(e, policy);
	CU_ASSERT_FATAL(tu_sh("cd '%s' && openssl ecparam -name prime256v1 -genkey -noout "
			      "-out ehr.key 2>/dev/null && openssl pkey -in ehr.key -pubout "
			      "-out ehr.pem && mkdir -p '%s/intent-issuers' '%s/intent-issuers' && "
			      "cp ehr.pem '%s/intent-issuers/ehr.pem' && "
			      "cp ehr.pem '%s/intent-issuers/ehr.pem'",
			      e->d.sw.dir, e->d.state, e->v.state, e->d.state, e->v.state) == 0);
	verifier_stop(&e->v);
	evil_rows(e);
	verifier_start(&e->v);
	snprintf(e->d.verifier_url, sizeof(e->d.verifier_url), "%s", e->v.url);
	daemon_stop(&e->d);
	daemon_start(&e->d, "64");
	snprintf(scribe, sizeof(scribe), "%s/scribe", e->d.sw.dir);
	CU_ASSERT_FATAL(tu_sh("cd '%s' && attestctl intent issue --key ehr.key --issuer ehr "
			      "--user " ALICE " --aud " SCRIBE " --purpose TREATMENT --text '%s' "
			      "--scopes ehr:read --resources 'ehr:patient/123/*' --ttl 600 "
			      "--jti treat-1 >treat.jws && '%s' --agent scribe --socket '%s' "
			      "--intent treat.jws --out treat >>agent.log 2>&1",
			      e->d.sw.dir, XSS_IMG, scribe, e->d.sock) == 0);
	/* and bob's RESEARCH grant: a purpose scribe never had */
	CU_ASSERT_FATAL(tu_sh("cd '%s' && attestctl intent issue --key ehr.key --issuer ehr "
			      "--user dr.bob@hospital.example --aud " SCRIBE " --purpose RESEARCH "
			      "--text study --scopes ehr:read --resources 'ehr:patient/123/*' "
			      "--ttl 600 --jti research-1 >research.jws && '%s' --agent scribe "
			      "--socket '%s' --intent research.jws --out research >>agent.log 2>&1",
			      e->d.sw.dir, scribe, e->d.sock) == 0);
}

/* ---- access ---- */

static void access_rules(struct vfleet *e)
{
	struct resp r;
	cJSON *st;
	const cJSON *v;

	/* loopback, no certificate: the page and a read-only state */
	r = http(e, 0, "", "/dashboard/");
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT(has_header(&r, "Content-Type: text/html"));
	expect_page_headers(&r);
	CU_ASSERT(r.body != NULL && strstr(r.body, "<script src=\"/dashboard/app.js\"") != NULL);
	resp_free(&r);
	r = http(e, 0, "", "/dashboard/app.js");
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT(has_header(&r, "Content-Type: text/javascript"));
	expect_page_headers(&r);
	/* the script builds the page from text, never from markup */
	CU_ASSERT(r.body != NULL && strstr(r.body, "innerHTML") == NULL &&
		  strstr(r.body, "insertAdjacentHTML") == NULL && strstr(r.body, "eval(") == NULL);
	resp_free(&r);
	st = state_of(e, 0);
	v = cJSON_GetObjectItemCaseSensitive(st, "viewer");
	CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(v, "admin")));
	CU_ASSERT(cJSON_GetObjectItemCaseSensitive(v, "csrf") == NULL);
	cJSON_Delete(st);

	/* a page from another name that resolves here (DNS rebinding) */
	r = http(e, 0, "-H 'Host: evil.example'", "/v1/dashboard/state");
	CU_ASSERT_EQUAL(r.status, 403);
	CU_ASSERT(strstr(r.body, "ATTEST_E_CALLER") != NULL);
	resp_free(&r);
	r = http(e, 0, "-H 'Host: localhost.evil.example:443'", "/dashboard/");
	CU_ASSERT_EQUAL(r.status, 403);
	resp_free(&r);
	/* a proxy on this machine: every peer would look local */
	r = http(e, 0, "-H 'X-Forwarded-For: 198.51.100.7'", "/v1/dashboard/state");
	CU_ASSERT_EQUAL(r.status, 403);
	resp_free(&r);
	r = http(e, 0, "-H 'Forwarded: for=198.51.100.7'", "/dashboard/");
	CU_ASSERT_EQUAL(r.status, 403);
	resp_free(&r);
	/* a resource caller's certificate is no admin's */
	{
		char extra[2000];

		snprintf(extra, sizeof(extra), "--cert '%s.pem' --key '%s.key'", e->v.resource,
			 e->v.resource);
		r = http(e, 0, extra, "/v1/dashboard/state");
		CU_ASSERT_EQUAL(r.status, 403);
		resp_free(&r);
	}
	/* the admin: the state with a token */
	st = state_of(e, 1);
	v = cJSON_GetObjectItemCaseSensitive(st, "viewer");
	CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "admin")));
	CU_ASSERT(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v, "csrf")) &&
		  strlen(cJSON_GetObjectItemCaseSensitive(v, "csrf")->valuestring) == 64);
	cJSON_Delete(st);
}

static void modes(struct vfleet *e)
{
	struct resp r;

	/* admin only: nothing without a certificate, from loopback either */
	verifier_stop(&e->v);
	e->v.serve_args[0] = "--dashboard";
	e->v.serve_args[1] = "admin";
	verifier_start(&e->v);
	r = http(e, 0, "", "/dashboard/");
	CU_ASSERT_EQUAL(r.status, 403);
	resp_free(&r);
	r = http(e, 1, "", "/dashboard/");
	CU_ASSERT_EQUAL(r.status, 200);
	resp_free(&r);
	/* off: not there for anyone */
	verifier_stop(&e->v);
	e->v.serve_args[1] = "off";
	verifier_start(&e->v);
	r = http(e, 0, "", "/dashboard/");
	CU_ASSERT_EQUAL(r.status, 404);
	resp_free(&r);
	r = http(e, 1, "", "/v1/dashboard/state");
	CU_ASSERT_EQUAL(r.status, 404);
	resp_free(&r);
	verifier_stop(&e->v);
	e->v.serve_args[0] = e->v.serve_args[1] = NULL;
	verifier_start(&e->v);
}

/* ---- revocation from the page ---- */

static void dash_revoke(struct vfleet *e)
{
	cJSON *st = state_of(e, 1);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(st, "viewer");
	const cJSON *a;
	char tok[80], origin[120], extra[1200], body[600], *url_host;
	struct resp r;

	snprintf(tok, sizeof(tok), "%s", cJSON_GetObjectItemCaseSensitive(v, "csrf")->valuestring);
	a = find_agent(st, EVIL);
	CU_ASSERT_FATAL(a != NULL);
	CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(a, "revoked")));
	cJSON_Delete(st);
	url_host = strstr(e->v.url, "://") + 3;
	snprintf(origin, sizeof(origin), "https://%s", url_host);
	/* the name carries no single quote: it fits the shell's quotes */
	snprintf(body, sizeof(body), "{\"agent\":\"%s\",\"reason\":\"dashboard: test\"}", EVIL);

	/* no token; a wrong token; another origin; no Origin; no certificate */
	snprintf(extra, sizeof(extra), "-H 'Content-Type: application/json' -H 'Origin: %s' "
		 "--data-binary '%s'", origin, body);
	r = http(e, 1, extra, "/v1/dashboard/revoke");
	CU_ASSERT_EQUAL(r.status, 403);
	resp_free(&r);
	snprintf(extra, sizeof(extra), "-H 'Content-Type: application/json' -H 'Origin: %s' "
		 "-H 'X-Attest-CSRF: %064d' --data-binary '%s'", origin, 0, body);
	r = http(e, 1, extra, "/v1/dashboard/revoke");
	CU_ASSERT_EQUAL(r.status, 403);
	resp_free(&r);
	snprintf(extra, sizeof(extra), "-H 'Content-Type: application/json' -H 'Origin: "
		 "https://evil.example' -H 'X-Attest-CSRF: %s' --data-binary '%s'", tok, body);
	r = http(e, 1, extra, "/v1/dashboard/revoke");
	CU_ASSERT_EQUAL(r.status, 403);
	resp_free(&r);
	snprintf(extra, sizeof(extra), "-H 'Content-Type: application/json' "
		 "-H 'X-Attest-CSRF: %s' --data-binary '%s'", tok, body);
	r = http(e, 1, extra, "/v1/dashboard/revoke");
	CU_ASSERT_EQUAL(r.status, 403);
	resp_free(&r);
	snprintf(extra, sizeof(extra), "-H 'Content-Type: application/json' -H 'Origin: %s' "
		 "-H 'Sec-Fetch-Site: cross-site' -H 'X-Attest-CSRF: %s' --data-binary '%s'",
		 origin, tok, body);
	r = http(e, 1, extra, "/v1/dashboard/revoke");
	CU_ASSERT_EQUAL(r.status, 403);
	resp_free(&r);
	snprintf(extra, sizeof(extra), "-H 'Content-Type: application/json' -H 'Origin: %s' "
		 "-H 'X-Attest-CSRF: %s' --data-binary '%s'", origin, tok, body);
	r = http(e, 0, extra, "/v1/dashboard/revoke");
	CU_ASSERT_EQUAL(r.status, 403);
	resp_free(&r);
	/* still registered after all of those */
	st = state_of(e, 1);
	CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(find_agent(st, EVIL), "revoked")));
	cJSON_Delete(st);

	/* the admin's same-origin POST with its token: revoked, audited */
	r = http(e, 1, extra, "/v1/dashboard/revoke");
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT(r.body != NULL && strstr(r.body, "revoked") != NULL);
	resp_free(&r);
	st = state_of(e, 0);
	a = find_agent(st, EVIL);
	CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "revoked")));
	CU_ASSERT(strstr(cJSON_GetObjectItemCaseSensitive(a, "revoke_reason")->valuestring,
			 "dashboard: test") != NULL);
	cJSON_Delete(st);
	CU_ASSERT(tu_sh("attestctl audit show --log '%s/audit' --type revocation | "
			"grep -q 'dashboard: test'",
			e->v.state) == 0);
}

/* ---- the browser ---- */

/* the first row (of the array rows) whose data-<key> is val */
static const cJSON *row_where(const cJSON *rows, const char *key, const char *val)
{
	const cJSON *r;

	cJSON_ArrayForEach(r, rows)
	{
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(r, "data"), key);

		if (cJSON_IsString(d) && strcmp(d->valuestring, val) == 0)
			return r;
	}
	return NULL;
}

/* Some row of rows has a cell containing text. */
static int any_cell(const cJSON *rows, const char *text)
{
	const cJSON *r, *c;

	cJSON_ArrayForEach(r, rows)
	{
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(r, "cells"))
		if (cJSON_IsString(c) && strstr(c->valuestring, text) != NULL)
			return 1;
	}
	return 0;
}

static const char *cell_at(const cJSON *row, int i)
{
	const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(row, "cells"), i);

	return cJSON_IsString(c) ? c->valuestring : "";
}

/* decisions denied while the host was not yet attested again */
static int early_denials;

static void browser(struct vfleet *e)
{
	const char *src = getenv("ATTEST_SRCDIR") != NULL ? getenv("ATTEST_SRCDIR") : ".";
	const char *build = getenv("BUILD") != NULL ? getenv("BUILD") : "build";
	char f[800], shot[800];
	char *out;
	cJSON *o, *rows, *c;
	const cJSON *row;
	int nerr = 0;

	snprintf(shot, sizeof(shot), "%s/%s/artifacts/dashboard.png", src, build);
	if (build[0] == '/')
		snprintf(shot, sizeof(shot), "%s/artifacts/dashboard.png", build);
	CU_ASSERT_FATAL(tu_sh("python3 '%s/tests/dashboard/drive.py' '%s/dashboard/' '%s' '%s' "
			      ">'%s/dom.json' 2>'%s/drive.log' || { cat '%s/drive.log' >&2; exit 1; }",
			      src, e->v.url, shot, e->d.sw.dir, e->d.sw.dir, e->d.sw.dir,
			      e->d.sw.dir) == 0);
	snprintf(f, sizeof(f), "%s/dom.json", e->d.sw.dir);
	out = tu_slurp(f, NULL);
	o = cJSON_Parse(out);
	if (getenv("ATTEST_DASH_DEBUG") != NULL)
		fprintf(stderr, "%s\n", out);
	CU_ASSERT_FATAL(o != NULL);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(o, "status")->valuestring, "ready");

	/* no console error, no CSP violation, no element or script made from
	 * data, no handler attribute, the payloads never ran */
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(o, "console"))
	{
		const char *lv = cJSON_GetObjectItemCaseSensitive(c, "level")->valuestring;

		/* errors fail (a failed load, a CSP refusal, an exception);
		 * anything else is shown */
		fprintf(stderr, "  console: %s %s\n", lv,
			cJSON_GetObjectItemCaseSensitive(c, "message")->valuestring);
		nerr += strcmp(lv, "SEVERE") == 0;
	}
	CU_ASSERT_EQUAL(nerr, 0);
	CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(o, "violations")->valueint, 0);
	CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(o, "imgs")->valueint, 0);
	CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(o, "scripts")->valueint, 1);
	CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(o, "handlers")->valueint, 0);
	CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "pwned")));
	CU_ASSERT(cJSON_GetObjectItemCaseSensitive(o, "screenshot_bytes")->valueint > 1000);
	CU_ASSERT(strstr(cJSON_GetObjectItemCaseSensitive(o, "viewer")->valuestring, "read-only") !=
		  NULL);
	CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(o, "revokeButtons")->valueint, 0);

	/* hosts: web-01 attested, lab-02 never */
	rows = cJSON_GetObjectItemCaseSensitive(o, "hosts");
	row = row_where(rows, "host", "web-01");
	CU_ASSERT(row != NULL && strncmp(cell_at(row, 1), "trusted", 7) == 0 &&
		  strstr(cell_at(row, 2), "ago") != NULL);
	row = row_where(rows, "host", "lab-02");
	CU_ASSERT(row != NULL && strcmp(cell_at(row, 1), "new") == 0 &&
		  strcmp(cell_at(row, 2), "never") == 0);

	/* agents: scribe registered with ehr:read used; the other revoked,
	 * its name, scopes and classes shown as the text they are */
	rows = cJSON_GetObjectItemCaseSensitive(o, "agents");
	row = row_where(rows, "agent", SCRIBE);
	CU_ASSERT(row != NULL && strcmp(cell_at(row, 0), "scribe") == 0);
	snprintf(f, sizeof(f), "6 allowed, %d denied", early_denials + 2);
	CU_ASSERT(row != NULL && strstr(cell_at(row, 5), "ehr:read") != NULL &&
		  strstr(cell_at(row, 6), f) != NULL);
	row = row_where(rows, "agent", EVIL);
	CU_ASSERT(row != NULL && strcmp(cell_at(row, 0), XSS_IMG) == 0);
	CU_ASSERT(row != NULL && strncmp(cell_at(row, 2), "revoked", 7) == 0 &&
		  strstr(cell_at(row, 2), "dashboard: test") != NULL);
	CU_ASSERT(row != NULL && strstr(cell_at(row, 5), XSS_SCRIPT) != NULL);
	CU_ASSERT(row != NULL && strstr(cell_at(row, 4), XSS_IMG) != NULL);

	/* decisions: the chain user -> agent, the purpose and its text, the
	 * resources as text */
	rows = cJSON_GetObjectItemCaseSensitive(o, "decisions");
	CU_ASSERT(any_cell(rows, ALICE " \xe2\x86\x92 scribe"));
	CU_ASSERT(any_cell(rows, "TREATMENT" XSS_IMG));
	CU_ASSERT(any_cell(rows, "ehr:patient/123/" XSS_SCRIPT));
	CU_ASSERT(any_cell(rows, "ehr:billing/" XSS_IMG));
	CU_ASSERT(any_cell(rows, "ehr:patient/123/record"));
	rows = cJSON_GetObjectItemCaseSensitive(o, "denials");
	CU_ASSERT(any_cell(rows, "ehr:billing/" XSS_IMG));
	CU_ASSERT(any_cell(rows, "ehr:billing/invoice-9") && any_cell(rows, "ATTEST_E_NO_RULE"));
	/* the charts: bars for this minute, one per denial reason */
	CU_ASSERT(cJSON_GetObjectItemCaseSensitive(o, "chartBars")->valueint >= 2);
	CU_ASSERT(cJSON_GetObjectItemCaseSensitive(o, "reasonBars")->valueint >= 2);
	/* the detector's parts: the alert for the new purpose, its reason,
	 * its resource as text; the posture report is there */
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(
				       cJSON_GetObjectItemCaseSensitive(o, "alertsNote"), "available")
				       ->valuestring,
			       "yes");
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(
				       cJSON_GetObjectItemCaseSensitive(o, "postureNote"), "available")
				       ->valuestring,
			       "yes");
	rows = cJSON_GetObjectItemCaseSensitive(o, "alerts");
	row = row_where(rows, "agent", SCRIBE);
	CU_ASSERT(row != NULL && strcmp(cell_at(row, 1), "scribe") == 0 &&
		  strcmp(cell_at(row, 2), "dr.bob@hospital.example") == 0 &&
		  strstr(cell_at(row, 4), "new_purpose") != NULL &&
		  strcmp(cell_at(row, 6), "ehr:patient/123/" XSS_SVG) == 0);
	CU_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "findings")) >= 1);
	CU_ASSERT(access(shot, R_OK) == 0);
	cJSON_Delete(o);
	free(out);
}

static void test_dashboard(void)
{
	struct vfleet e;
	char treat[800], plain[800], research[800];
	int ok = 0;

	fleet_up(&e);
	snprintf(treat, sizeof(treat), "%s/treat/cert.pem", e.d.sw.dir);
	snprintf(plain, sizeof(plain), "%s", e.chain);
	snprintf(research, sizeof(research), "%s/research/cert.pem", e.d.sw.dir);
	/* the host attested again after the restarts: alice's read allowed */
	for (int i = 0; i < 200 && !ok; i++) {
		long st = decide(&e, treat, "ehr:patient/123/record");

		if (!(ok = st == 200)) {
			early_denials += st == 403;
			usleep(50000);
		}
	}
	CU_ASSERT_FATAL(ok);
	/* alice's usual reads: scribe's baseline */
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(decide(&e, treat, "ehr:patient/123/record"), 200);
	/* markup in resources: inside alice's grant (allowed), and refused
	 * (no policy name has those bytes); a plain denial: no rule */
	CU_ASSERT_EQUAL(decide(&e, treat, "ehr:patient/123/" XSS_SCRIPT), 200);
	/* a new purpose: allowed (no rule bounds the score), an alert */
	CU_ASSERT_EQUAL(decide(&e, research, "ehr:patient/123/" XSS_SVG), 200);
	CU_ASSERT_EQUAL(decide(&e, plain, "ehr:billing/" XSS_IMG), 403);
	CU_ASSERT_EQUAL(decide(&e, plain, "ehr:billing/invoice-9"), 403);

	access_rules(&e);
	dash_revoke(&e);
	/* the ring lives in the serving process: the browser runs before
	 * modes() restarts it */
	browser(&e);
	modes(&e);
	vfleet_down(&e);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{"loopback and Host rules", test_loopback_rules},
		{"fleet dashboard: access, revocation, Chromium", test_dashboard},
		{NULL, NULL}};

	return tu_main("dashboard", tests);
}
