/* test_verifier.c - attest-verifier as a service: host quotes pushed over
 * HTTPS change host state (and only quotes the host's TPM signed can
 * demote it), callers are authenticated per endpoint, malformed input
 * leaves the service serving, and a bad policy never replaces a good one.
 * Quotes are made here with the TPM seam, exactly as attestd makes them. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <openssl/rand.h>

#include <tss2/tss2_mu.h>

#include "enrol.h"
#include "audit.h"
#include "merkle.h"
#include "json.h"
#include "testutil.h"
#include "testutil_verifier.h"
#include "tpm.h"

#define BOOT_MASK 0xffu

struct fleet {
	struct tu_tpm sw;
	char ca[600], state[600];
	struct verifier v;
};

static void fleet_up(struct fleet *f, const char *policy)
{
	memset(f, 0, sizeof(*f));
	tu_tpm_start(&f->sw);
	snprintf(f->ca, sizeof(f->ca), "%s/ca", f->sw.dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->sw.dir);
	tu_enrol_host(f->sw.tcti, f->ca, f->state, "web-01");
	verifier_up(&f->v, f->ca, policy);
}

static void fleet_down(struct fleet *f)
{
	verifier_down(&f->v);
	tu_tpm_stop(&f->sw);
}

static char *get_nonce(struct fleet *f, const char *host, uint8_t nonce[32])
{
	char body[128];
	cJSON *rep = NULL;
	uint8_t *n = NULL;
	size_t nlen = 0;
	char *b64 = NULL;

	snprintf(body, sizeof(body), "{\"host\":\"%s\"}", host);
	CU_ASSERT_FATAL(verifier_call(&f->v, AS_NONE, "/v1/hosts/nonce", body, &rep) == 200);
	CU_ASSERT_FATAL(attest_json_b64(rep, "nonce", 64, &n, &nlen) == ATTEST_OK && nlen == 32);
	memcpy(nonce, n, 32);
	b64 = strdup(cJSON_GetObjectItem(rep, "nonce")->valuestring);
	free(n);
	cJSON_Delete(rep);
	return b64;
}

/* A quote over mask with qualifyingData = nonce, as the push body. */
static char *quote_body(struct fleet *f, const char *host, const uint8_t *nonce, size_t nlen,
			uint32_t mask, int renew)
{
	struct attest_tpm *t = NULL;
	TPM2B_ATTEST att;
	TPMT_SIGNATURE sig;
	struct attest_pcrs pcrs;
	uint8_t sigbuf[sizeof(TPMT_SIGNATURE)], vals[24 * 32];
	size_t off = 0, nvals = 0;
	cJSON *o = cJSON_CreateObject();
	char *out = NULL;

	CU_ASSERT_FATAL(attest_tpm_open(f->sw.tcti, &t) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_tpm_quote(t, mask, nonce, nlen, &att, &sig) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_tpm_pcr_read(t, mask, &pcrs) == ATTEST_OK);
	attest_tpm_close(t);
	CU_ASSERT_FATAL(Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, sigbuf, sizeof(sigbuf), &off) ==
			TSS2_RC_SUCCESS);
	CU_ASSERT_FATAL(attest_json_add_str(o, "host", host) == ATTEST_OK);
	if (nlen > 0)
		CU_ASSERT_FATAL(attest_json_add_b64(o, "nonce", nonce, nlen) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_json_add_b64(o, "attest", att.attestationData, att.size) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_json_add_b64(o, "signature", sigbuf, off) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_json_add_u64(o, "pcr_mask", mask) == ATTEST_OK);
	for (unsigned i = 0; i < 24; i++)
		if (mask & (1u << i))
			memcpy(vals + 32 * nvals++, pcrs.value[i], 32);
	CU_ASSERT_FATAL(attest_json_add_b64(o, "pcr_values", vals, nvals * 32) == ATTEST_OK);
	if (renew)
		cJSON_AddBoolToObject(o, "renew", 1);
	CU_ASSERT_FATAL(attest_json_print(o, &out, NULL) == ATTEST_OK);
	cJSON_Delete(o);
	return out;
}

static long push(struct fleet *f, const char *body, cJSON **rep)
{
	return verifier_call(&f->v, AS_NONE, "/v1/hosts/quote", body, rep);
}

static const char *str_of(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

/* The admin view of a host's state. */
static void expect_host_state(struct fleet *f, const char *host, const char *state,
			      const char *reason)
{
	cJSON *rep = NULL, *h;
	int found = 0;

	CU_ASSERT_FATAL(verifier_call(&f->v, AS_ADMIN, "/v1/hosts", NULL, &rep) == 200);
	cJSON_ArrayForEach(h, rep) {
		if (strcmp(str_of(h, "host"), host) != 0)
			continue;
		found = 1;
		if (strcmp(str_of(h, "state"), state) != 0 || strcmp(str_of(h, "reason"), reason) != 0)
			fprintf(stderr, "  host %s: state %s reason %s, want %s %s\n", host,
				str_of(h, "state"), str_of(h, "reason"), state, reason);
		CU_ASSERT_STRING_EQUAL(str_of(h, "state"), state);
		CU_ASSERT_STRING_EQUAL(str_of(h, "reason"), reason);
	}
	CU_ASSERT(found);
	cJSON_Delete(rep);
}

/* rep is read only here, after the call in the first argument returned */
static void expect_http_refused(long status, cJSON **repp, long want_status, const char *reason)
{
	cJSON *rep = *repp;

	if (status != want_status || strcmp(reply_reason(rep), reason) != 0)
		fprintf(stderr, "  got %ld %s, want %ld %s\n", status, reply_reason(rep), want_status,
			reason);
	CU_ASSERT_EQUAL(status, want_status);
	CU_ASSERT_STRING_EQUAL(reply_reason(rep), reason);
	cJSON_Delete(rep);
	*repp = NULL;
}

static void test_quote_push(void)
{
	struct fleet f;
	uint8_t nonce[32], other[32];
	char *b64, *body, *again;
	cJSON *rep = NULL;
	struct attest_tpm *t = NULL;
	uint8_t ext[32] = {0x42};

	fleet_up(&f, NULL);
	expect_http_refused(verifier_call(&f.v, AS_NONE, "/v1/hosts/nonce", "{\"host\":\"nohost\"}",
				     &rep),
		       &rep, 404, "ATTEST_E_HOST_UNKNOWN");

	/* a good quote makes the enrolled host trusted */
	b64 = get_nonce(&f, "web-01", nonce);
	free(b64);
	body = quote_body(&f, "web-01", nonce, 32, BOOT_MASK, 0);
	CU_ASSERT_EQUAL(push(&f, body, &rep), 200);
	CU_ASSERT_STRING_EQUAL(str_of(rep, "state"), "trusted");
	CU_ASSERT_STRING_EQUAL(str_of(rep, "refset"), "enrolment");
	cJSON_Delete(rep);
	expect_host_state(&f, "web-01", "trusted", "");

	/* replayed: the nonce was used; refused, and the host stays trusted
	 * (anyone can send bytes; only what the TPM signed may demote it) */
	again = strdup(body);
	expect_http_refused(push(&f, again, &rep), &rep, 403, "ATTEST_E_NONCE");
	expect_host_state(&f, "web-01", "trusted", "");
	free(again);
	free(body);

	/* a nonce the verifier never issued; and none at all */
	CU_ASSERT_FATAL(RAND_bytes(other, 32) == 1);
	body = quote_body(&f, "web-01", other, 32, BOOT_MASK, 0);
	expect_http_refused(push(&f, body, &rep), &rep, 403, "ATTEST_E_NONCE");
	free(body);
	body = quote_body(&f, "web-01", NULL, 0, BOOT_MASK, 0);
	expect_http_refused(push(&f, body, &rep), &rep, 403, "ATTEST_E_NONCE");
	free(body);

	/* selection: a subset of the boot PCRs */
	free(get_nonce(&f, "web-01", nonce));
	body = quote_body(&f, "web-01", nonce, 32, 0x7fu, 0);
	expect_http_refused(push(&f, body, &rep), &rep, 403, "ATTEST_E_QUOTE_SELECTION");
	free(body);
	expect_host_state(&f, "web-01", "trusted", "");

	/* malformed pushes: bad JSON, unknown field */
	expect_http_refused(push(&f, "{\"host\":", &rep), &rep, 400, "ATTEST_E_PARSE");
	expect_http_refused(push(&f, "{\"host\":\"web-01\",\"x\":1}", &rep), &rep, 400, "ATTEST_E_PARSE");

	/* a boot PCR changes: the next signed quote demotes the host at once */
	CU_ASSERT_FATAL(attest_tpm_open(f.sw.tcti, &t) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_tpm_pcr_extend(t, 0, ext) == ATTEST_OK);
	attest_tpm_close(t);
	free(get_nonce(&f, "web-01", nonce));
	body = quote_body(&f, "web-01", nonce, 32, BOOT_MASK, 0);
	CU_ASSERT_EQUAL(push(&f, body, &rep), 200);
	CU_ASSERT_STRING_EQUAL(str_of(rep, "state"), "untrusted");
	CU_ASSERT_STRING_EQUAL(str_of(rep, "reason"), "ATTEST_E_PCR_MISMATCH");
	cJSON_Delete(rep);
	free(body);
	expect_host_state(&f, "web-01", "untrusted", "ATTEST_E_PCR_MISMATCH");

	/* a revoked host gets no nonce */
	CU_ASSERT_EQUAL(verifier_call(&f.v, AS_ADMIN, "/v1/hosts/revoke",
				      "{\"host\":\"web-01\",\"reason\":\"compromised\"}", NULL),
			200);
	expect_http_refused(verifier_call(&f.v, AS_NONE, "/v1/hosts/nonce", "{\"host\":\"web-01\"}",
				     &rep),
		       &rep, 403, "ATTEST_E_REVOKED");
	fleet_down(&f);
}

static void test_renew_after_good_quote(void)
{
	struct fleet f;
	uint8_t nonce[32];
	char *body;
	cJSON *rep = NULL, *res = NULL;
	const char *hostca;

	fleet_up(&f, NULL);
	free(get_nonce(&f, "web-01", nonce));
	body = quote_body(&f, "web-01", nonce, 32, BOOT_MASK, 1);
	CU_ASSERT_EQUAL(push(&f, body, &rep), 200);
	free(body);
	hostca = str_of(rep, "host_ca");
	CU_ASSERT_FATAL(hostca[0] != '\0');
	/* the same enrol-result the fleet CA sends; the host installs it */
	CU_ASSERT_FATAL(attest_json_parse(hostca, strlen(hostca), 65536, &res) == ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(str_of(res, "type"), "enrol-result");
	CU_ASSERT_EQUAL(attest_host_renew_finish(f.state, hostca, strlen(hostca)), ATTEST_OK);
	cJSON_Delete(res);
	cJSON_Delete(rep);
	fleet_down(&f);
}

static void test_callers(void)
{
	struct fleet f;
	cJSON *rep = NULL;
	char other[700], cmd[4096];
	long st;

	fleet_up(&f, NULL);
	/* admin endpoints: no certificate, a resource server's, an admin's */
	expect_http_refused(verifier_call(&f.v, AS_NONE, "/v1/hosts", NULL, &rep), &rep, 403, "ATTEST_E_CALLER");
	expect_http_refused(verifier_call(&f.v, AS_RESOURCE, "/v1/hosts", NULL, &rep), &rep, 403,
		       "ATTEST_E_CALLER");
	CU_ASSERT_EQUAL(verifier_call(&f.v, AS_ADMIN, "/v1/hosts", NULL, NULL), 200);
	/* decisions: an unenrolled caller is refused before anything is parsed */
	expect_http_refused(verifier_call(&f.v, AS_NONE, "/v1/decide",
				     "{\"chain\":\"x\",\"action\":\"read\",\"resource\":\"r\"}", &rep),
		       &rep, 403, "ATTEST_E_CALLER");
	st = verifier_call(&f.v, AS_RESOURCE, "/v1/decide",
			   "{\"chain\":\"x\",\"action\":\"read\",\"resource\":\"r\"}", &rep);
	CU_ASSERT_EQUAL(st, 200);
	CU_ASSERT_STRING_EQUAL(str_of(rep, "decision"), "deny");
	CU_ASSERT_STRING_EQUAL(reply_reason(rep), "ATTEST_E_PARSE");
	cJSON_Delete(rep);
	/* a client certificate from another CA fails the handshake */
	snprintf(other, sizeof(other), "%s/other", f.v.dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-keyout %s.key -out %s.pem -subj /CN=intruder -days 1 2>/dev/null && "
		 "curl -s -o /dev/null --cacert %s --cert %s.pem --key %s.key %s/v1/hosts",
		 other, other, f.v.cacert, other, other, f.v.url);
	CU_ASSERT_NOT_EQUAL(tu_sh("%s", cmd), 0);
	fleet_down(&f);
}

static int raw_connect(const char *url)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	const char *port = strrchr(url, ':') + 1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_port = htons((uint16_t)strtoul(port, NULL, 10));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void expect_healthy(struct fleet *f)
{
	cJSON *rep = NULL;

	CU_ASSERT_EQUAL(verifier_call(&f->v, AS_NONE, "/v1/health", NULL, &rep), 200);
	CU_ASSERT_STRING_EQUAL(str_of(rep, "status"), "ok");
	cJSON_Delete(rep);
}

static void test_malformed_input(void)
{
	struct fleet f;
	cJSON *rep = NULL;
	size_t big = 300 * 1024;
	char *body = malloc(big + 1), cmd[1200];
	int fds[300];
	long st;

	fleet_up(&f, NULL);
	/* oversize body */
	memset(body, 'a', big);
	body[big] = '\0';
	memcpy(body, "{\"host\":\"", 9);
	st = verifier_call(&f.v, AS_NONE, "/v1/hosts/quote", body, &rep);
	CU_ASSERT(st == 413 || st < 0); /* evhttp answers 413 or closes */
	cJSON_Delete(rep);
	expect_healthy(&f);
	/* bad JSON, duplicate keys, trailing bytes */
	expect_http_refused(push(&f, "{\"host\":\"web-01\",\"host\":\"web-01\"}", &rep), &rep, 400,
		       "ATTEST_E_DUPLICATE_KEY");
	expect_http_refused(push(&f, "{} x", &rep), &rep, 400, "ATTEST_E_PARSE");
	expect_http_refused(push(&f, "[", &rep), &rep, 400, "ATTEST_E_PARSE");
	/* huge headers */
	snprintf(cmd, sizeof(cmd),
		 "curl -s -o /dev/null -w '%%{http_code}' --cacert %s "
		 "-H \"X-Big: $(head -c 20000 /dev/zero | tr '\\0' a)\" %s/v1/health | grep -qv '^200$'",
		 f.v.cacert, f.v.url);
	CU_ASSERT_EQUAL(tu_sh("%s", cmd), 0);
	expect_healthy(&f);
	/* unknown endpoint and method */
	expect_http_refused(verifier_call(&f.v, AS_NONE, "/v1/nope", NULL, &rep), &rep, 404, "ATTEST_E_NOT_FOUND");
	/* many idle connections: the service keeps serving others, and
	 * connections over its limit fail their handshake at once */
	for (size_t i = 0; i < 300; i++)
		fds[i] = raw_connect(f.v.url);
	for (size_t i = 0; i < 300; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	usleep(200000);
	expect_healthy(&f);
	for (size_t i = 0; i < 100; i++)
		fds[i] = raw_connect(f.v.url);
	expect_healthy(&f);
	for (size_t i = 0; i < 100; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(body);
	fleet_down(&f);
}

static void test_policy_reload(void)
{
	struct fleet f;
	cJSON *rep = NULL;
	char path[800], v1[80], v2[80];
	static const char bad[] = "{\"version\":1,\"rules\":[{\"name\":\"r\",\"effect\":\"maybe\"}]}";
	static const char good[] =
		"{\"version\":1,\"rules\":[{\"name\":\"r\",\"effect\":\"allow\","
		"\"resources\":[\"x\"],\"actions\":[\"read\"]}]}";

	fleet_up(&f, NULL);
	CU_ASSERT_EQUAL(verifier_call(&f.v, AS_NONE, "/v1/health", NULL, &rep), 200);
	snprintf(v1, sizeof(v1), "%s", str_of(rep, "policy"));
	cJSON_Delete(rep);
	snprintf(path, sizeof(path), "%s/policy.json", f.v.state);
	/* a bad policy is refused, on the API and on SIGHUP; the old one stays */
	unlink(path);
	tu_write(path, bad, strlen(bad));
	expect_http_refused(verifier_call(&f.v, AS_ADMIN, "/v1/policy/reload", "{}", &rep), &rep, 400,
		       "ATTEST_E_POLICY");
	kill(f.v.pid, SIGHUP);
	usleep(200000);
	CU_ASSERT_EQUAL(verifier_call(&f.v, AS_NONE, "/v1/health", NULL, &rep), 200);
	CU_ASSERT_STRING_EQUAL(str_of(rep, "policy"), v1);
	cJSON_Delete(rep);
	/* a good one replaces it */
	unlink(path);
	tu_write(path, good, strlen(good));
	CU_ASSERT_EQUAL(verifier_call(&f.v, AS_ADMIN, "/v1/policy/reload", "{}", NULL), 200);
	CU_ASSERT_EQUAL(verifier_call(&f.v, AS_NONE, "/v1/health", NULL, &rep), 200);
	snprintf(v2, sizeof(v2), "%s", str_of(rep, "policy"));
	CU_ASSERT_STRING_NOT_EQUAL(v2, v1);
	cJSON_Delete(rep);
	/* a policy test call rejects the bad file with its location */
	unlink(path);
	tu_write(path, bad, strlen(bad));
	CU_ASSERT_EQUAL(tu_sh("attest-verifier policy check %s >/dev/null 2>&1", path), 1);
	fleet_down(&f);
}

/* The push body; with a log dir and size1, an RFC 9162 consistency proof
 * from the tree of size1 records (the verifier's last checkpoint). */
static char *ckpt_body(const struct attest_audit_ckpt *c, const char *dir, uint64_t size1)
{
	char *text = NULL, *out = NULL;
	size_t len = 0;
	cJSON *o = cJSON_CreateObject();

	CU_ASSERT_FATAL(attest_audit_ckpt_to_json(c, &text, &len) == ATTEST_OK);
	cJSON_AddStringToObject(o, "host", "web-01");
	cJSON_AddStringToObject(o, "checkpoint", text);
	if (dir != NULL) {
		attest_merkle_hash *leaves = NULL, proof[ATTEST_MERKLE_MAX_PROOF];
		uint64_t n = 0;
		size_t plen = 0;
		cJSON *arr = cJSON_AddArrayToObject(o, "consistency");

		CU_ASSERT_FATAL(attest_audit_leaves(dir, &leaves, &n) == ATTEST_OK);
		CU_ASSERT_FATAL(attest_merkle_consistency_proof(leaves, c->size, size1, proof,
								&plen) == ATTEST_OK);
		for (size_t i = 0; i < plen; i++) {
			char *b64 = NULL;

			CU_ASSERT_FATAL(attest_b64_encode(proof[i], 32, &b64) == ATTEST_OK);
			cJSON_AddItemToArray(arr, cJSON_CreateString(b64));
			free(b64);
		}
		free(leaves);
	}
	out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	free(text);
	return out;
}

/* A host's audit checkpoints: the verifier keeps the latest per log and
 * takes only the next counter value, with an NV_Certify by the host's AK. */
static void test_checkpoints(void)
{
	struct fleet f;
	struct attest_audit *log = NULL;
	struct attest_tpm *t = NULL;
	struct attest_audit_ckpt c1, c2, forged;
	struct attest_audit_event ev = {.type = "issue", .outcome = "ok"};
	char dir[800], *b;
	cJSON *rep = NULL;

	fleet_up(&f, NULL);
	snprintf(dir, sizeof(dir), "%s/audit", f.sw.dir);
	CU_ASSERT_FATAL(attest_audit_open(dir, NULL, &log) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_tpm_open(f.sw.tcti, &t) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_audit_append_event(log, &ev, NULL) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_audit_sync(log) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_audit_checkpoint(log, t, &c1) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_audit_append_event(log, &ev, NULL) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_audit_sync(log) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_audit_checkpoint(log, t, &c2) == ATTEST_OK);
	attest_tpm_close(t);
	attest_audit_close(log);

	b = ckpt_body(&c1, NULL, 0);
	CU_ASSERT_EQUAL(verifier_call(&f.v, AS_NONE, "/v1/audit/checkpoint", b, &rep), 200);
	cJSON_Delete(rep);
	/* the same again (a host that crashed before recording the answer):
	 * idempotent, nothing changes */
	CU_ASSERT_EQUAL(verifier_call(&f.v, AS_NONE, "/v1/audit/checkpoint", b, &rep), 200);
	CU_ASSERT_STRING_EQUAL(str_of(rep, "status"), "duplicate");
	cJSON_Delete(rep);
	free(b);
	/* a checkpoint whose tree size was changed: qualifyingData breaks */
	forged = c2;
	forged.size++;
	b = ckpt_body(&forged, NULL, 0);
	expect_http_refused(verifier_call(&f.v, AS_NONE, "/v1/audit/checkpoint", b, &rep), &rep,
			    403, "ATTEST_E_EVIDENCE_QUALIFYING");
	free(b);
	/* the tree grew: without a consistency proof from the last root it
	 * could be another history */
	b = ckpt_body(&c2, NULL, 0);
	expect_http_refused(verifier_call(&f.v, AS_NONE, "/v1/audit/checkpoint", b, &rep), &rep,
			    403, "ATTEST_E_AUDIT_INCONSISTENT");
	free(b);
	b = ckpt_body(&c2, dir, c1.size);
	CU_ASSERT_EQUAL(verifier_call(&f.v, AS_NONE, "/v1/audit/checkpoint", b, &rep), 200);
	CU_ASSERT_STRING_EQUAL(str_of(rep, "status"), "ok");
	cJSON_Delete(rep);
	free(b);
	fleet_down(&f);
}

/* A missed checkpoint does not wedge the chain: a later one is taken with
 * a consistency proof from the last ACCEPTED tree, and the gap is recorded
 * (reply, the verifier's audit log); without that proof it is refused. */
static void test_checkpoint_gap(void)
{
	struct fleet f;
	struct attest_audit *log = NULL;
	struct attest_tpm *t = NULL;
	struct attest_audit_ckpt c[3];
	struct attest_audit_event ev = {.type = "issue", .outcome = "ok"};
	char dir[800], *b;
	cJSON *rep = NULL;

	fleet_up(&f, NULL);
	snprintf(dir, sizeof(dir), "%s/audit", f.sw.dir);
	CU_ASSERT_FATAL(attest_audit_open(dir, NULL, &log) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_tpm_open(f.sw.tcti, &t) == ATTEST_OK);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_FATAL(attest_audit_append_event(log, &ev, NULL) == ATTEST_OK);
		CU_ASSERT_FATAL(attest_audit_sync(log) == ATTEST_OK);
		CU_ASSERT_FATAL(attest_audit_checkpoint(log, t, &c[i]) == ATTEST_OK);
	}
	attest_tpm_close(t);
	attest_audit_close(log);

	b = ckpt_body(&c[0], NULL, 0);
	CU_ASSERT_EQUAL(verifier_call(&f.v, AS_NONE, "/v1/audit/checkpoint", b, &rep), 200);
	CU_ASSERT_STRING_EQUAL(str_of(rep, "missed"), "0");
	cJSON_Delete(rep);
	free(b);
	/* c[1] never arrives. c[2] without a proof, or with one from the
	 * missed tree, could be another history: refused */
	b = ckpt_body(&c[2], NULL, 0);
	expect_http_refused(verifier_call(&f.v, AS_NONE, "/v1/audit/checkpoint", b, &rep), &rep,
			    403, "ATTEST_E_AUDIT_INCONSISTENT");
	free(b);
	b = ckpt_body(&c[2], dir, c[1].size);
	expect_http_refused(verifier_call(&f.v, AS_NONE, "/v1/audit/checkpoint", b, &rep), &rep,
			    403, "ATTEST_E_AUDIT_INCONSISTENT");
	free(b);
	/* with the proof from the last accepted tree: taken, gap recorded */
	b = ckpt_body(&c[2], dir, c[0].size);
	CU_ASSERT_EQUAL(verifier_call(&f.v, AS_NONE, "/v1/audit/checkpoint", b, &rep), 200);
	CU_ASSERT_STRING_EQUAL(str_of(rep, "counter"), "3");
	CU_ASSERT_STRING_EQUAL(str_of(rep, "missed"), "1");
	CU_ASSERT_STRING_EQUAL(str_of(rep, "missed_total"), "1");
	cJSON_Delete(rep);
	free(b);
	/* the missed one, late: older than the record, refused */
	b = ckpt_body(&c[1], dir, c[0].size);
	expect_http_refused(verifier_call(&f.v, AS_NONE, "/v1/audit/checkpoint", b, &rep), &rep,
			    403, "ATTEST_E_QUOTE_COUNTER");
	free(b);
	verifier_stop(&f.v);
	CU_ASSERT_EQUAL(tu_sh("attestctl audit show --log %s/audit --type audit_checkpoint | grep -q "
			      "'gap: counters 2..2 missed'",
			      f.v.state),
			0);
	verifier_start(&f.v);
	fleet_down(&f);
}

/* A verifier on a host with a TPM checkpoints its own audit log: after a
 * quote verdict and a decision, the log verifies offline with that TPM's
 * AK and online against its counter. */
static void test_own_checkpoints(void)
{
	struct fleet f;
	struct tu_tpm vt;
	uint8_t nonce[32];
	char *body, ak[900];
	cJSON *rep = NULL;

	fleet_up(&f, NULL);
	tu_tpm_start(&vt);
	verifier_stop(&f.v);
	snprintf(f.v.tcti, sizeof(f.v.tcti), "%s", vt.tcti);
	verifier_start(&f.v);
	free(get_nonce(&f, "web-01", nonce));
	body = quote_body(&f, "web-01", nonce, 32, BOOT_MASK, 0);
	CU_ASSERT_EQUAL(push(&f, body, &rep), 200);
	cJSON_Delete(rep);
	free(body);
	verifier_stop(&f.v); /* a last checkpoint on the way out */
	snprintf(ak, sizeof(ak), "%s/verifier-ak.pem", f.v.dir);
	CU_ASSERT_EQUAL(tu_sh("attestctl audit ak --tcti '%s' --out %s >/dev/null", vt.tcti, ak), 0);
	CU_ASSERT_EQUAL(tu_sh("attestctl audit verify --log %s/audit --ak %s >/dev/null", f.v.state,
			      ak), 0);
	CU_ASSERT_EQUAL(tu_sh("attestctl audit verify --online --log %s/audit --tcti '%s' >/dev/null",
			      f.v.state, vt.tcti), 0);
	CU_ASSERT_EQUAL(tu_sh("attestctl audit show --log %s/audit --type host_quote | grep -q "
			      "'\"outcome\":\"trusted\"'", f.v.state), 0);
	tu_tpm_stop(&vt);
	fleet_down(&f);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{"quote push: trusted, replay/foreign nonce/selection refused, PCR change demotes",
		 test_quote_push},
		{"host CA renewed only in the answer to a good quote", test_renew_after_good_quote},
		{"callers: per-endpoint roles, unenrolled and foreign certificates", test_callers},
		{"malformed input, huge headers, many connections: still serving",
		 test_malformed_input},
		{"policy reload: bad file refused, good one replaces it", test_policy_reload},
		{"audit checkpoints: next counter only, NV_Certify by the host's AK",
		 test_checkpoints},
		{"a missed checkpoint: the next one is taken with a proof from the last accepted "
		 "tree, and the gap recorded", test_checkpoint_gap},
		{"the verifier's own log, checkpointed with its TPM, verifies offline and online",
		 test_own_checkpoints},
		{NULL, NULL}};

	return tu_main("verifier", tests);
}
