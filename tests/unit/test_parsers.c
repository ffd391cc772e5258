/* test_parsers.c - the pure parse functions split out of the handlers for
 * the fuzz targets (issue 13 items 2-3), and what their fuzzing found:
 *   libattest/core/num.c attest_parse_utc (the sscanf("%4d-%2d-%2d") it
 *     replaces took "+1", " 1" and, in the policy tool, "2024-+2-01");
 *   libattest/measure/measure.c: the /proc parsers over bytes (a hostile
 *     comm, a cmdline whose script is not NUL-terminated, the environ
 *     scanner in any read size, fdinfo);
 *   attestd/reqparse.c attestd_renewal_leaf (fuzz_csr found that a
 *     certificate that does not parse ended the PEM loop silently, the
 *     rest of the field ignored) and the admin socket's register parse
 *     (admin_handle);
 *   verifier/bodies.c: caps of the quote, decide and report bodies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>

#include "admin.h"
#include "bodies.h"
#include "core/err.h"
#include "core/json.h"
#include "core/num.h"
#include "measure/measure.h"
#include "reqparse.h"
#include "request.h"
#include "testutil.h"
#include "fuzz_fixture.h"
#include "x509/x509agent.h"

static void test_utc(void)
{
	int64_t t = -1;

	TU_ASSERT_ERR(attest_parse_utc("2024-02-29", 0, &t), ATTEST_OK);
	CU_ASSERT(t == 1709164800);
	TU_ASSERT_ERR(attest_parse_utc("2024-02-29T23:59:59Z", 1, &t), ATTEST_OK);
	CU_ASSERT(t == 1709251199);
	TU_ASSERT_ERR(attest_parse_utc("1970-01-01", 0, &t), ATTEST_OK);
	CU_ASSERT(t == 0);
	/* what sscanf's %2d took */
	TU_ASSERT_ERR(attest_parse_utc("2024-+2-01", 0, &t), ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_parse_utc("2024- 2-01", 0, &t), ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_parse_utc("2024--1-01", 0, &t), ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_parse_utc("2024-02-+1T00:00:00Z", 1, &t), ATTEST_E_PARSE);
	/* no such day, out of range, other shapes */
	TU_ASSERT_ERR(attest_parse_utc("2023-02-29", 0, &t), ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_parse_utc("2024-04-31", 0, &t), ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_parse_utc("1969-12-31", 0, &t), ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_parse_utc("2024-02-29T24:00:00Z", 1, &t), ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_parse_utc("2024-02-29 ", 0, &t), ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_parse_utc("2024-02-29", 1, &t), ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_parse_utc("2024-02-29T00:00:00", 1, &t), ATTEST_E_PARSE);
	CU_ASSERT(t == 0);
}

static void test_proc_stat_status(void)
{
	/* the process named itself "x) S 1 (y\n": the last ')' ends comm */
	static const char stat[] = "4242 (x) S 1 (y\n) R 1 4242 4242 0 -1 4194304 100 0 0 0 0 0 0 0 "
				   "20 0 1 0 987654 1000 10";
	static const char status[] = "Name:\tx) S 1 (y\nState:\tS (sleeping)\nPPid:\t1\n"
				     "TracerPid:\t0\nUid:\t1000\t1000\t1000\t1000";
	struct attest_proc_info info;
	uint64_t start = 0;

	TU_ASSERT_ERR(attest_proc_stat_parse(stat, sizeof(stat) - 1, 4242, &start), ATTEST_OK);
	CU_ASSERT(start == 987654);
	TU_ASSERT_ERR(attest_proc_stat_parse(stat, sizeof(stat) - 1, 4243, &start), ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_proc_stat_parse(stat, 30, 4242, &start), ATTEST_E_PARSE);
	/* a status without a final newline: read to its end, no further */
	memset(&info, 0, sizeof(info));
	TU_ASSERT_ERR(attest_proc_status_parse(status, sizeof(status) - 1, 4242, &info), ATTEST_OK);
	CU_ASSERT(info.ppid == 1 && info.tracer_pid == 0 && info.ruid == 1000 && info.euid == 1000);
	TU_ASSERT_ERR(attest_proc_status_parse(status, sizeof(status) - 6, 4242, &info),
		      ATTEST_E_PARSE); /* "Uid:" with three numbers */
}

static void test_proc_cmdline_fdinfo(void)
{
	static const char ok[] = "/usr/bin/python3\0-I\0/opt/a.py\0--x";
	static const char opt[] = "/usr/bin/python3\0-c\0/opt/a.py";
	static const char fd[] = "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1\nPid:\t4242\n";
	static const char gone[] = "pos:\t0\nPid:\t-1\n";
	static const char torn[] = "pos:\t0\nPid:\t4242";
	pid_t pid = 7;

	TU_ASSERT_ERR(attest_proc_cmdline_script(ok, sizeof(ok) - 1, "/opt/a.py"), ATTEST_OK);
	TU_ASSERT_ERR(attest_proc_cmdline_script(opt, sizeof(opt), "/opt/a.py"),
		      ATTEST_E_MEASUREMENT);
	/* the script as the last argument without its NUL (a process that
	 * rewrote its arguments): not a whole argument, refused; the old
	 * code's strcmp read up to the NUL attest_file_read added after len */
	TU_ASSERT_ERR(attest_proc_cmdline_script(ok, 29, "/opt/a.py"), ATTEST_E_MEASUREMENT);
	TU_ASSERT_ERR(attest_proc_cmdline_script(ok, 30, "/opt/a.py"), ATTEST_OK);
	TU_ASSERT_ERR(attest_proc_cmdline_script("", 0, "/opt/a.py"), ATTEST_E_MEASUREMENT);
	TU_ASSERT_ERR(attest_fdinfo_pid(fd, sizeof(fd) - 1, &pid), ATTEST_OK);
	CU_ASSERT(pid == 4242);
	TU_ASSERT_ERR(attest_fdinfo_pid(gone, sizeof(gone) - 1, &pid), ATTEST_OK);
	CU_ASSERT(pid == -1);
	TU_ASSERT_ERR(attest_fdinfo_pid(torn, sizeof(torn) - 1, &pid), ATTEST_OK);
	CU_ASSERT(pid == 0);
	TU_ASSERT_ERR(attest_fdinfo_pid("Pid:\t5\n", 7, &pid), ATTEST_OK);
	CU_ASSERT(pid == 0); /* never the first line */
}

static void test_proc_environ(void)
{
	static const char *const allow[] = { "PATH", "LC_*" };
	static const char good[] = "PATH=/bin\0LC_ALL=C=D\0LC_X=";
	static const char bad[] = "PATH=/bin\0LD_PRELOAD=/x.so\0";
	static const char noeq[] = "PATH=/bin\0LC_ALL";

	for (size_t chunk = 1; chunk <= sizeof(good); chunk++) {
		TU_ASSERT_ERR(attest_proc_environ_scan(good, sizeof(good) - 1, chunk, 1, allow, 2),
			      ATTEST_OK);
		TU_ASSERT_ERR(attest_proc_environ_scan(bad, sizeof(bad) - 1, chunk, 1, allow, 2),
			      ATTEST_E_ENV);
		TU_ASSERT_ERR(attest_proc_environ_scan(noeq, sizeof(noeq) - 1, chunk, 1, allow, 2),
			      ATTEST_E_ENV);
	}
}

static char *pem_cat(X509 *const *c, size_t n, const char *tail)
{
	char *out = strdup(""), *p = NULL;

	for (size_t i = 0; i < n && out != NULL; i++) {
		char *m;

		CU_ASSERT_FATAL(attest_x509_to_pem(c[i], &p) == ATTEST_OK);
		m = malloc(strlen(out) + strlen(p) + 1);
		CU_ASSERT_FATAL(m != NULL);
		memcpy(m, out, strlen(out));
		memcpy(m + strlen(out), p, strlen(p) + 1);
		free(out);
		free(p);
		out = m;
	}
	if (tail != NULL) {
		char *m = malloc(strlen(out) + strlen(tail) + 1);

		CU_ASSERT_FATAL(m != NULL);
		memcpy(m, out, strlen(out));
		memcpy(m + strlen(out), tail, strlen(tail) + 1);
		free(out);
		out = m;
	}
	return out;
}

/* The fuzz fixture's agent CA (tests/fuzz/fuzz_fixture.c) and a leaf
 * under it carrying intent. */
static X509 *fixture_leaf(X509 **aca, X509 **hca, const char *intent)
{
	struct attest_leaf_params lp;
	struct attest_signer as;
	X509 *leaf = NULL;

	fz_agent_ca(hca, aca);
	CU_ASSERT_FATAL(attest_signer_from_pkey(fz_pkey(FZ_KEY_AGENT), &as) == ATTEST_OK);
	memset(&lp, 0, sizeof(lp));
	lp.pub = fz_pkey(FZ_KEY_HOST);
	lp.ttl = 600;
	lp.intent = (const uint8_t *)intent;
	lp.intent_len = strlen(intent);
	CU_ASSERT_FATAL(attest_x509_make_leaf(*aca, &lp, &as, &leaf) == ATTEST_OK);
	return leaf;
}

static void test_renewal_leaf(void)
{
	static const char broken[] = "-----BEGIN CERTIFICATE-----\nMIIB!!!!\n"
				     "-----END CERTIFICATE-----\n";
	X509 *aca = NULL, *hca = NULL, *leaf = fixture_leaf(&aca, &hca, "grant~hop");
	char *pem, *tok = NULL;

	pem = pem_cat(&leaf, 1, NULL);
	TU_ASSERT_ERR(attestd_renewal_leaf("fz", FZ_AGENT_ID, aca, pem, time(NULL), &tok), ATTEST_OK);
	CU_ASSERT(tok != NULL && strcmp(tok, "grant~hop") == 0);
	free(tok);
	tok = NULL;
	TU_ASSERT_ERR(attestd_renewal_leaf("fz", "spiffe://fuzz.example/host/fuzz-host/agent/b",
					   aca, pem, time(NULL), &tok),
		      ATTEST_E_DENIED);
	free(pem);
	/* found by fuzz_csr: a certificate that does not parse stopped the
	 * loop and the rest of the field was ignored; now refused */
	pem = pem_cat(&leaf, 1, broken);
	TU_ASSERT_ERR(attestd_renewal_leaf("fz", FZ_AGENT_ID, aca, pem, time(NULL), &tok),
		      ATTEST_E_PARSE);
	CU_ASSERT(tok == NULL);
	free(pem);
	X509_free(leaf);
	X509_free(aca);
	X509_free(hca);
}

static cJSON *parse(const char *s)
{
	cJSON *o = NULL;

	CU_ASSERT_FATAL(attest_json_parse(s, strlen(s), 65536, &o) == ATTEST_OK);
	return o;
}

/* stands for the monitor: keeps what the front parsed, runs nothing */
static int keep_req(void *ctx, const struct admin_req *q, struct admin_result *res)
{
	(void)res;
	memcpy(ctx, q, sizeof(*q));
	return attest_fail(ATTEST_E_DENIED, "not run");
}

static void test_register_parse(void)
{
	struct admin_req *q = calloc(1, sizeof(*q));
	cJSON *o, *reply = cJSON_CreateObject();

	CU_ASSERT_FATAL(q != NULL && reply != NULL);
	o = parse("{\"op\":\"register\",\"name\":\"fz\",\"binary\":\"/bin/true\",\"uids\":[0,1000],"
		  "\"risk_tier\":\"high\",\"scopes\":[\"a.read\"],\"env_allow\":[\"LC_*\"],"
		  "\"max_ttl\":600,\"delegate_depth\":2}");
	TU_ASSERT_ERR(admin_handle(o, "register", keep_req, q, reply), ATTEST_E_DENIED);
	CU_ASSERT(q->op == ADMIN_REGISTER && strcmp(q->reg.name, "fz") == 0 && q->reg.nuids == 2 &&
		  q->reg.max_ttl == 600 && q->reg.delegate_depth == 2 && q->reg.nscopes == 1 &&
		  q->reg.script[0] == '\0' && strcmp(q->reg.binary, "/bin/true") == 0);
	cJSON_Delete(o);
	/* found by fuzz_attestd: a number far outside long's range was cast
	 * before the range check (undefined; UBSan aborts the old code) */
	memset(q, 0, sizeof(*q));
	o = parse("{\"op\":\"register\",\"name\":\"fz\",\"binary\":\"/bin/true\",\"uids\":[0],"
		  "\"risk_tier\":\"low\",\"max_ttl\":3.9e86}");
	TU_ASSERT_ERR(admin_handle(o, "register", keep_req, q, reply), ATTEST_E_PARSE);
	CU_ASSERT(q->op == 0); /* never reached the runner */
	cJSON_Delete(o);
	/* found by fuzz_attestd: the front passed any risk_tier (and any value
	 * the monitor then refused) to the monitor; values are now checked on
	 * both sides by one function (admin_registration_check) */
	{
		static const char *const bad[] = {
			"\"risk_tier\":\"namhigh\"",
			"\"risk_tier\":\"low\",\"name\":\"a b\"",
			"\"risk_tier\":\"low\",\"binary\":\"\"",
		};
		static const char *const why[] = { "risk_tier", "agent name", "binary" };
		char body[512];

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			int n = snprintf(body, sizeof(body),
					 "{\"op\":\"register\",\"uids\":[0],%s%s}", bad[i],
					 strstr(bad[i], "\"name\"") ? ",\"binary\":\"/bin/true\""
					 : strstr(bad[i], "\"binary\"") ? ",\"name\":\"fz\""
					 : ",\"name\":\"fz\",\"binary\":\"/bin/true\"");

			CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof(body));
			memset(q, 0, sizeof(*q));
			o = parse(body);
			TU_ASSERT_ERR(admin_handle(o, "register", keep_req, q, reply), ATTEST_E_PARSE);
			CU_ASSERT(q->op == 0);
			CU_ASSERT(strstr(attest_errdetail(), why[i]) != NULL);
			cJSON_Delete(o);
		}
	}
	cJSON_Delete(reply);
	free(q);
	{
		long ttl = -1;

		o = parse("{\"ttl\":-1e300}");
		TU_ASSERT_ERR(int_field(o, "ttl", 1, 86400, &ttl), ATTEST_E_PARSE);
		CU_ASSERT(ttl == -1);
		cJSON_Delete(o);
	}
}

/* DNS names in the three places they are read (issue 14 item 5): the
 * register request (front and monitor: admin_registration_check), the
 * issue request (attestd_issue_parse), and the agent record on disk
 * (registry_record_parse: a record edited to hold a name the rule
 * refuses does not load). */
static void test_dns_names_parse(void)
{
	struct admin_req *q = calloc(1, sizeof(*q));
	struct mint_order *mo = calloc(1, sizeof(*mo));
	cJSON *o, *reply = cJSON_CreateObject();
	const char *mode, *csr, *intent, *renew;
	char path[600], *rec, *edited;
	size_t len;
	struct agent *a;

	CU_ASSERT_FATAL(q != NULL && mo != NULL && reply != NULL);
	o = parse("{\"op\":\"register\",\"name\":\"fz\",\"binary\":\"/bin/true\",\"uids\":[0],"
		  "\"risk_tier\":\"low\",\"dns_names\":[\"mcp.fz.example\",\"a2a.fz.example\"]}");
	TU_ASSERT_ERR(admin_handle(o, "register", keep_req, q, reply), ATTEST_E_DENIED);
	CU_ASSERT(q->reg.ndns == 2 && strcmp(q->reg.dns[1], "a2a.fz.example") == 0);
	cJSON_Delete(o);
	memset(q, 0, sizeof(*q));
	o = parse("{\"op\":\"register\",\"name\":\"fz\",\"binary\":\"/bin/true\",\"uids\":[0],"
		  "\"risk_tier\":\"low\",\"dns_names\":[\"mcp.fz.example\",\"010.1.1.1\"]}");
	TU_ASSERT_ERR(admin_handle(o, "register", keep_req, q, reply), ATTEST_E_DNS_NAME_INVALID);
	CU_ASSERT(strstr(attest_errdetail(), "\"010.1.1.1\" is an IP address literal") != NULL);
	CU_ASSERT(q->op == 0); /* never reached the runner */
	cJSON_Delete(o);

	o = parse("{\"op\":\"issue\",\"agent\":\"fz\",\"dns_names\":[\"mcp.fz.example\"]}");
	TU_ASSERT_ERR(attestd_issue_parse(o, mo, &mode, &csr, &intent, &renew), ATTEST_OK);
	CU_ASSERT(mo->ndns == 1 && strcmp(mo->dns[0], "mcp.fz.example") == 0);
	cJSON_Delete(o);
	o = parse("{\"op\":\"issue\",\"agent\":\"fz\",\"dns_names\":[\"mcp.fz.example.\"]}");
	TU_ASSERT_ERR(attestd_issue_parse(o, mo, &mode, &csr, &intent, &renew),
		      ATTEST_E_DNS_NAME_INVALID);
	CU_ASSERT(strstr(attest_errdetail(), "trailing dot") != NULL);
	cJSON_Delete(o);
	o = parse("{\"op\":\"issue\",\"agent\":\"fz\",\"dns_names\":\"mcp.fz.example\"}");
	TU_ASSERT_ERR(attestd_issue_parse(o, mo, &mode, &csr, &intent, &renew), ATTEST_E_PARSE);
	cJSON_Delete(o);

	/* the record gen_corpus wrote for an agent with DNS names */
	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/registry/record-dns-names",
		 getenv("ATTEST_SRCDIR") ? getenv("ATTEST_SRCDIR") : ".");
	CU_ASSERT_PTR_NOT_NULL_FATAL(rec = tu_slurp(path, &len));
	CU_ASSERT_PTR_NOT_NULL_FATAL(a = agent_new());
	TU_ASSERT_ERR(registry_record_parse((const uint8_t *)rec, len, a), ATTEST_OK);
	CU_ASSERT(a->ndns == 2 && strcmp(a->dns[0], "mcp.fz.fuzz.example") == 0);
	agent_free(a);
	{
		static const char *const bad[][2] = {
			{ "*.fz.fuzz.example", "wildcard" },
			{ "MCP.fz.fuzz.example", "lower case" },
			{ "10.1.1.1", "IP address" },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char *at = strstr(rec, "\"mcp.fz.fuzz.example\"");

			CU_ASSERT_PTR_NOT_NULL_FATAL(at);
			CU_ASSERT_FATAL((edited = malloc(len + 64)) != NULL);
			snprintf(edited, len + 64, "%.*s\"%s\"%s", (int)(at - rec), rec, bad[i][0],
				 at + strlen("\"mcp.fz.fuzz.example\""));
			CU_ASSERT_PTR_NOT_NULL_FATAL(a = agent_new());
			TU_ASSERT_ERR(registry_record_parse((const uint8_t *)edited, strlen(edited), a),
				      ATTEST_E_PARSE);
			CU_ASSERT(strstr(attest_errdetail(), bad[i][1]) != NULL);
			agent_free(a);
			free(edited);
		}
	}
	free(rec);
	cJSON_Delete(reply);
	free(mo);
	free(q);
}

static void test_bodies(void)
{
	struct vb_quote q;
	struct vb_decide d;
	cJSON *o;
	char ctx[2048];
	size_t n = 0;

	o = parse("{\"host\":\"h\",\"attest\":\"AAAA\",\"signature\":\"AAAA\",\"pcr_mask\":"
		  "\"16777216\",\"pcr_values\":\"AAAA\"}");
	TU_ASSERT_ERR(vb_quote_parse(o, &q), ATTEST_E_PARSE); /* mask over 24 PCRs */
	CU_ASSERT(q.att == NULL && q.sig == NULL && q.vals == NULL);
	cJSON_Delete(o);
	o = parse("{\"host\":\"h\",\"attest\":\"AAAA\",\"signature\":\"AAAA\",\"pcr_mask\":"
		  "\"255\",\"pcr_values\":\"AAAA\",\"renew\":true}");
	TU_ASSERT_ERR(vb_quote_parse(o, &q), ATTEST_OK);
	CU_ASSERT(q.mask == 255 && q.renew == 1 && q.att_len == 3 && q.nonce == NULL);
	vb_quote_clear(&q);
	cJSON_Delete(o);
	/* 17 context entries: refused */
	n = (size_t)snprintf(ctx, sizeof(ctx), "{\"chain\":\"x\",\"action\":\"a\",\"resource\":\"r\","
					       "\"context\":{");
	for (int i = 0; i < 17; i++)
		n += (size_t)snprintf(ctx + n, sizeof(ctx) - n, "%s\"k%d\":\"v\"", i ? "," : "", i);
	snprintf(ctx + n, sizeof(ctx) - n, "}}");
	o = parse(ctx);
	TU_ASSERT_ERR(vb_decide_parse(o, &d), ATTEST_E_PARSE);
	cJSON_Delete(o);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "attest_parse_utc: fixed digits only (no sign, no space)", test_utc },
		{ "proc stat and status over bytes: hostile comm, no final newline",
		  test_proc_stat_status },
		{ "proc cmdline script must be a whole argument; fdinfo Pid", test_proc_cmdline_fdinfo },
		{ "proc environ: the same answer for every read size", test_proc_environ },
		{ "renewal leaf: a certificate that does not parse is refused", test_renewal_leaf },
		{ "register request parsed alone", test_register_parse },
		{ "DNS names: register and issue requests, the agent record on disk",
		  test_dns_names_parse },
		{ "verifier bodies: quote mask, decide context caps", test_bodies },
		{ NULL, NULL },
	};
	return tu_main("parsers", tests);
}
