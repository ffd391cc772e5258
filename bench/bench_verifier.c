/* bench_verifier.c - the verifier's HTTP decision endpoint on loopback
 * (issue 5): p50/p99 of POST /v1/decide for a real agent chain (attestd on
 * swtpm, pushing to the verifier), where every reply waits for its audit
 * record's group commit (fdatasync), against GET /v1/health on the same
 * kept-alive TLS 1.3 connection in the same run (the HTTP + TLS floor).
 *
 * Issue 19: the same decision with behaviour scoring on and off
 * (docs/detection.md), interleaved rounds in one run.
 *
 * Report only: nothing asserts on time. Each decision's answer is checked
 * (allow) once before timing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "testutil.h"
#include "testutil_verifier.h"

#define N 2000

static const char policy[] = TU_POLICY_RECORDS_READ(30);

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

/* Content-Type of a POST: the verifier refuses a body without it. */
static struct curl_slist *json_hdr;

/* n requests on one kept-alive connection; latencies in ms into v. */
static int run(CURL *h, const char *url, const char *body, double *v, size_t n, const char *want)
{
	struct sink s;

	curl_easy_setopt(h, CURLOPT_URL, url);
	if (body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, json_hdr);
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	for (size_t i = 0; i < n; i++) {
		double t0 = tu_now_ms();

		s.len = 0;
		s.buf[0] = '\0';
		if (curl_easy_perform(h) != CURLE_OK)
			return -1;
		v[i] = tu_now_ms() - t0;
		if (i == 0 && want != NULL && strstr(s.buf, want) == NULL) {
			fprintf(stderr, "bench_verifier: unexpected answer %s\n", s.buf);
			return -1;
		}
	}
	return 0;
}

static int rc_body;

static void bench_body(void)
{
	struct vfleet f;
	CURL *h;
	char url[200], cert[800], key[800], *pem, *body;
	cJSON *o;
	static double dec[N], hl[N];
	int rc = 0;

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
	/* wait until the host's first push and the inventory report landed */
	for (int i = 0; i < 200; i++) {
		cJSON *rep = NULL;

		if (verifier_call(&f.v, AS_RESOURCE, "/v1/decide", body, &rep) == 200 &&
		    strcmp(reply_reason(rep), "ATTEST_OK") == 0) {
			cJSON_Delete(rep);
			break;
		}
		cJSON_Delete(rep);
		usleep(50000);
	}
	snprintf(cert, sizeof(cert), "%s.pem", f.v.resource);
	snprintf(key, sizeof(key), "%s.key", f.v.resource);
	h = curl_easy_init();
	json_hdr = curl_slist_append(NULL, "Content-Type: application/json");
	CU_ASSERT_FATAL(h != NULL && json_hdr != NULL);
	curl_easy_setopt(h, CURLOPT_CAINFO, f.v.cacert);
	curl_easy_setopt(h, CURLOPT_SSLCERT, cert);
	curl_easy_setopt(h, CURLOPT_SSLKEY, key);
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
	snprintf(url, sizeof(url), "%s/v1/decide", f.v.url);
	if (run(h, url, body, dec, 50, "\"allow\"") != 0 || run(h, url, body, dec, N, NULL) != 0) {
		printf("decide_http_ms_p50: n/a\n");
		rc = 1;
	}
	/* issue 19: the same repeated-chain decision with behaviour scoring on
	 * and off, interleaved in rounds in this one process (the policy's
	 * detection.enabled, reloaded between rounds), over 200 patients */
	if (rc == 0) {
		static double on[N], off[N], tmp[N / 5];
		size_t non = 0, noff = 0;
		char pol[1024], path[800];
		char *bodies[8];

		for (int b = 0; b < 8; b++) {
			cJSON *ctx;
			char res[64], pid[16];

			snprintf(res, sizeof(res), "ehr:patient/%d/record", b * 25);
			snprintf(pid, sizeof(pid), "%d", b * 25);
			cJSON_ReplaceItemInObject(o, "resource", cJSON_CreateString(res));
			cJSON_DeleteItemFromObject(o, "context");
			ctx = cJSON_AddObjectToObject(o, "context");
			cJSON_AddStringToObject(ctx, "patient", pid);
			bodies[b] = cJSON_PrintUnformatted(o);
		}
		snprintf(path, sizeof(path), "%s/policy.json", f.v.state);
		for (int round = 0; round < 10 && rc == 0; round++) {
			int scoring = round % 2 == 0;

			snprintf(pol, sizeof(pol),
				 "{\"version\":1,\"detection\":{\"enabled\":%s},\"rules\":[{\"name\":"
				 "\"records-read\",\"effect\":\"allow\",\"resources\":[\"ehr:patient/**\"],"
				 "\"actions\":[\"read\"],\"require\":{\"scopes\":[\"ehr:read\"],"
				 "\"host_attested_within\":30,\"max_anomaly\":1}}]}",
				 scoring ? "true" : "false");
			tu_write(path, pol, strlen(pol));
			if (verifier_call(&f.v, AS_ADMIN, "/v1/policy/reload", "{}", NULL) != 200) {
				rc = 1;
				break;
			}
			snprintf(url, sizeof(url), "%s/v1/decide", f.v.url);
			for (size_t i = 0; i < N / 5 && rc == 0; i++)
				if (run(h, url, bodies[i % 8], &tmp[i], 1, i == 0 ? "\"allow\"" : NULL) != 0)
					rc = 1;
			if (rc == 0 && scoring)
				for (size_t i = 0; i < N / 5; i++)
					on[non++] = tmp[i];
			else if (rc == 0)
				for (size_t i = 0; i < N / 5; i++)
					off[noff++] = tmp[i];
		}
		for (int b = 0; b < 8; b++)
			cJSON_free(bodies[b]);
		if (rc != 0 || non == 0 || noff == 0) {
			printf("decide_scoring_on_ms_p50: n/a\n");
			rc = 1;
		} else {
			tu_sort_doubles(on, non);
			tu_sort_doubles(off, noff);
			printf("decide_scoring_off_ms_p50: %.3f\n", off[noff / 2]);
			printf("decide_scoring_on_ms_p50: %.3f\n", on[non / 2]);
			printf("decide_scoring_off_ms_p99: %.3f\n", off[noff * 99 / 100]);
			printf("decide_scoring_on_ms_p99: %.3f\n", on[non * 99 / 100]);
			printf("decide_scoring_added_p50_percent: %.1f\n",
			       100.0 * (on[non / 2] - off[noff / 2]) / off[noff / 2]);
		}
	}
	snprintf(url, sizeof(url), "%s/v1/health", f.v.url);
	if (rc == 0 && run(h, url, NULL, hl, N, "\"ok\"") != 0) {
		printf("health_http_ms_p50: n/a\n");
		rc = 1;
	}
	if (rc == 0) {
		tu_sort_doubles(dec, N);
		tu_sort_doubles(hl, N);
		printf("decide_http_ms_p50: %.3f\n", dec[N / 2]);
		printf("decide_http_ms_p99: %.3f\n", dec[N * 99 / 100]);
		printf("health_http_ms_p50: %.3f\n", hl[N / 2]);
		printf("health_http_ms_p99: %.3f\n", hl[N * 99 / 100]);
		printf("decide_over_health_p50_ratio: %.2f\n", dec[N / 2] / hl[N / 2]);
		printf("decide_http_per_s_one_connection: %.0f\n", 1000.0 / dec[N / 2]);
	}
	curl_easy_cleanup(h);
	curl_slist_free_all(json_hdr);
	json_hdr = NULL;
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

	if (CU_initialize_registry() == CUE_SUCCESS) {
		CU_pSuite s = CU_add_suite("bench_verifier", NULL, NULL);

		if (s != NULL && CU_add_test(s, "decide", bench_body) != NULL)
			(void)CU_run_all_tests();
		failed = CU_get_number_of_failures();
		CU_cleanup_registry();
	}
	return failed != 0 || rc_body != 0;
}
