/* bench_nginx.c - decisions through nginx auth_request (issue 15): a real
 * agent (attestd on swtpm, pushing to the verifier) reads through Debian's
 * nginx running examples/nginx/attest.conf (each request: TLS 1.3 from the
 * agent, an auth subrequest to the verifier's /v1/authz over mTLS, the
 * upstream), against direct POST /v1/decide and /v1/authz calls in the
 * same run, interleaved (one of each in turn, so all see the same load),
 * each path on its own kept-alive TLS 1.3 connection: p50/p99 per
 * request, requests per second on one connection, and what the proxy hop
 * adds (nginx p50/p99 minus /v1/decide's).
 *
 * Report only: nothing asserts on time. Each path's answer is checked
 * (an allow) once before timing. Without nginx it prints n/a.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "testutil.h"
#include "testutil_nginx.h"
#include "testutil_verifier.h"

#define N 1000

static const char policy[] =
	"{\"version\":1,\"rules\":[{\"name\":\"records-read\",\"effect\":\"allow\","
	"\"resources\":[\"ehr:patient/**\"],\"actions\":[\"read\"],"
	"\"require\":{\"scopes\":[\"ehr:read\"],\"host_attested_within\":30}}],"
	"\"http_routes\":[{\"name\":\"records\",\"prefix\":\"/records/\","
	"\"methods\":{\"GET\":\"read\"},\"resource_prefix\":\"ehr:\"}]}";

struct sink {
	char buf[4096];
	size_t len;
};

static size_t sink_cb(char *d, size_t sz, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t add = sz * n;

	if (add > sizeof(s->buf) - 1 - s->len)
		add = sizeof(s->buf) - 1 - s->len;
	memcpy(s->buf + s->len, d, add);
	s->len += add;
	s->buf[s->len] = '\0';
	return sz * n;
}

/* n requests on one kept-alive connection; latencies in ms into v; the
 * first answer must be a 200 holding want. */
static int run(CURL *h, const char *url, const char *body, double *v, size_t n, const char *want)
{
	struct sink s;
	long code = 0;

	curl_easy_setopt(h, CURLOPT_URL, url);
	if (body != NULL)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	else
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	for (size_t i = 0; i < n; i++) {
		double t0 = tu_now_ms();

		s.len = 0;
		s.buf[0] = '\0';
		if (curl_easy_perform(h) != CURLE_OK)
			return -1;
		v[i] = tu_now_ms() - t0;
		if (i == 0 && (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK ||
			       code != 200 || (want != NULL && strstr(s.buf, want) == NULL))) {
			fprintf(stderr, "bench_nginx: %s answered %ld %s\n", url, code, s.buf);
			return -1;
		}
	}
	return 0;
}

static CURL *client(const char *cert, const char *key, const char *ca)
{
	CURL *h = curl_easy_init();

	if (h == NULL)
		return NULL;
	curl_easy_setopt(h, CURLOPT_CAINFO, ca);
	curl_easy_setopt(h, CURLOPT_SSLCERT, cert);
	curl_easy_setopt(h, CURLOPT_SSLKEY, key);
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
	return h;
}

static void report(const char *name, double *v)
{
	tu_sort_doubles(v, N);
	printf("%s_ms_p50: %.3f\n", name, v[N / 2]);
	printf("%s_ms_p99: %.3f\n", name, v[N * 99 / 100]);
	printf("%s_per_s_one_connection: %.0f\n", name, 1000.0 / v[N / 2]);
}

static int rc_body;

static void bench_body(void)
{
	static double dec[N], az[N], ng[N];
	struct vfleet f;
	struct tnginx n;
	CURL *rs = NULL, *ag = NULL, *az_h = NULL;
	struct curl_slist *hd = NULL, *jh = NULL;
	cJSON *o = NULL;
	char url[300], aurl[300], nurl[300], cert[800], key[800], akey[800], ncert[800], *pem = NULL, *body = NULL;
	char *leaf = NULL, *esc = NULL, *hdr = NULL;
	int rc = 1, ok = 0;

	if (tnginx_bin() == NULL) {
		printf("nginx_authz_ms_p50: n/a (nginx not installed: make deps)\n");
		rc_body = 1;
		return;
	}
	/* the fleet's agent inherits our environment, and attestd refuses an
	 * agent started with a variable its registration does not allow */
	(void)tu_env_keep_only();
	vfleet_up(&f, policy);
	pem = tu_slurp(f.chain, NULL);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "chain", pem);
	cJSON_AddStringToObject(o, "action", "read");
	cJSON_AddStringToObject(o, "resource", "ehr:patient/1/record");
	body = cJSON_PrintUnformatted(o);
	snprintf(cert, sizeof(cert), "%s.pem", f.v.resource);
	snprintf(key, sizeof(key), "%s.key", f.v.resource);
	snprintf(akey, sizeof(akey), "%s/tls/key.pem", f.d.sw.dir);
	/* the host's first push and inventory report landed */
	for (int i = 0; i < 400 && !ok; i++) {
		cJSON *rep = NULL;

		ok = verifier_call(&f.v, AS_RESOURCE, "/v1/decide", body, &rep) == 200;
		cJSON_Delete(rep);
		if (!ok)
			usleep(50000);
	}
	if (!ok || tnginx_start(&n, f.d.ca, &f.v, NULL) != 0) {
		printf("nginx_authz_ms_p50: n/a (fleet or nginx did not start)\n");
		goto out_fleet;
	}
	/* the leaf, URL-escaped as nginx forwards it */
	if (tu_sh("cd '%s' && openssl x509 -in tls/cert.pem -out leaf.pem && python3 -c "
		  "'import urllib.parse as u; print(\"X-Client-Cert: \" + "
		  "u.quote(open(\"leaf.pem\").read(), safe=\"\"))' >leaf.hdr", f.d.sw.dir) != 0)
		goto out;
	{
		char p[800];
		size_t l;

		snprintf(p, sizeof(p), "%s/leaf.hdr", f.d.sw.dir);
		hdr = tu_slurp(p, &l);
		while (l > 0 && (hdr[l - 1] == '\n' || hdr[l - 1] == '\r'))
			hdr[--l] = '\0';
	}
	hd = curl_slist_append(hd, hdr);
	hd = curl_slist_append(hd, "X-Original-Method: GET");
	hd = curl_slist_append(hd, "X-Original-URI: /records/patient/1/record");
	rs = client(cert, key, f.v.cacert);
	az_h = client(cert, key, f.v.cacert);
	snprintf(ncert, sizeof(ncert), "%s/server.pem", n.dir);
	ag = client(f.chain, akey, ncert);
	if (rs == NULL || ag == NULL || az_h == NULL || hd == NULL)
		goto out;
	/* each path checked (an allow) and warmed up, then timed interleaved
	 * (one of each in turn), so that all three see the same load */
	jh = curl_slist_append(jh, "Content-Type: application/json");
	snprintf(url, sizeof(url), "%s/v1/decide", f.v.url);
	snprintf(aurl, sizeof(aurl), "%s/v1/authz", f.v.url);
	snprintf(nurl, sizeof(nurl), "https://127.0.0.1:%u/records/patient/1/record", n.port);
	curl_easy_setopt(rs, CURLOPT_HTTPHEADER, jh);
	if (run(rs, url, body, dec, 20, "\"allow\"") != 0)
		goto out;
	curl_easy_setopt(az_h, CURLOPT_HTTPHEADER, hd);
	if (run(az_h, aurl, NULL, az, 20, "\"allow\"") != 0 ||
	    run(ag, nurl, NULL, ng, 20, "upstream record") != 0)
		goto out;
	for (size_t i = 0; i < N; i++)
		if (run(rs, url, body, dec + i, 1, NULL) != 0 ||
		    run(az_h, aurl, NULL, az + i, 1, NULL) != 0 ||
		    run(ag, nurl, NULL, ng + i, 1, NULL) != 0)
			goto out;
	report("decide_http", dec);
	report("authz_http", az);
	report("nginx_authz", ng);
	printf("nginx_hop_added_ms_p50: %.3f\n", ng[N / 2] - dec[N / 2]);
	printf("nginx_hop_added_ms_p99: %.3f\n", ng[N * 99 / 100] - dec[N * 99 / 100]);
	rc = 0;
out:
	if (rc != 0)
		printf("nginx_authz_ms_p50: n/a\n");
	curl_slist_free_all(hd);
	curl_slist_free_all(jh);
	curl_easy_cleanup(rs);
	curl_easy_cleanup(az_h);
	curl_easy_cleanup(ag);
	tnginx_stop(&n);
out_fleet:
	free(hdr);
	free(leaf);
	free(esc);
	cJSON_free(body);
	cJSON_Delete(o);
	free(pem);
	vfleet_down(&f);
	rc_body = rc;
}

/* The fleet helpers assert with CUnit, so the bench runs as one test. */
int main(void)
{
	unsigned failed = 1;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (CU_initialize_registry() == CUE_SUCCESS) {
		CU_pSuite s = CU_add_suite("bench_nginx", NULL, NULL);

		if (s != NULL && CU_add_test(s, "nginx", bench_body) != NULL)
			(void)CU_run_all_tests();
		failed = CU_get_number_of_failures();
		for (CU_pFailureRecord f = CU_get_failure_list(); f != NULL; f = f->pNext)
			fprintf(stderr, "bench_nginx: %s:%u: %s\n", f->strFileName, f->uiLineNumber,
				f->strCondition);
		CU_cleanup_registry();
	}
	curl_global_cleanup();
	return failed != 0 || rc_body != 0;
}
