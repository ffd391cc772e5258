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
 *
 * Issue 17: decisions over HTTPS on 1 and 16 kept-alive connections (one
 * thread and libcurl handle each), with the same leaf every time
 * (repeated) and with a leaf never seen before per request (new: session
 * leaves attestd issued beforehand), as per second, p50/p99 and ratios to
 * ECDSA P-256 verifies per second measured in this process, same run.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "testutil.h"
#include "testutil_daemon.h"
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

/* ---- issue 17: 1 and 16 connections, repeated and new leaves ---- */

#define CONNS 16
#define REPEAT_PER_CONN 250
#define NEW_PER_CONN 12 /* x CONNS new leaves for 16 connections, as many for 1 */

struct conn_job {
	const char *url, *cacert, *cert, *key;
	char **bodies; /* n bodies (the same pointer n times when repeated) */
	int n;
	double *lat; /* ms, n */
	int rc;
};

static void *conn_main(void *arg)
{
	struct conn_job *j = arg;
	CURL *h = curl_easy_init();
	struct sink s;

	j->rc = -1;
	if (h == NULL)
		return NULL;
	curl_easy_setopt(h, CURLOPT_CAINFO, j->cacert);
	curl_easy_setopt(h, CURLOPT_SSLCERT, j->cert);
	curl_easy_setopt(h, CURLOPT_SSLKEY, j->key);
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
	curl_easy_setopt(h, CURLOPT_URL, j->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, json_hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	/* the handshake, untimed: a health check on the same connection */
	j->rc = 0;
	for (int i = 0; i < j->n && j->rc == 0; i++) {
		double t0 = tu_now_ms();

		s.len = 0;
		s.buf[0] = '\0';
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, j->bodies[i]);
		if (curl_easy_perform(h) != CURLE_OK || strstr(s.buf, "\"allow\"") == NULL) {
			fprintf(stderr, "bench_verifier: decision %d: %s\n", i, s.buf);
			j->rc = -1;
		}
		j->lat[i] = tu_now_ms() - t0;
	}
	curl_easy_cleanup(h);
	return NULL;
}

/* conns connections at once, each deciding its bodies; *per_s over the
 * wall time of the slowest, latencies (ms) pooled into lat. */
static int run_conns(int conns, struct conn_job *proto, char **bodies, int per_conn, int distinct,
		     double *lat, double *per_s)
{
	pthread_t th[CONNS];
	struct conn_job jobs[CONNS];
	char **b[CONNS];
	double t0, t1;
	int rc = 0;

	for (int c = 0; c < conns; c++) {
		jobs[c] = *proto;
		b[c] = calloc((size_t)per_conn, sizeof(char *));
		for (int i = 0; i < per_conn; i++)
			b[c][i] = distinct ? bodies[c * per_conn + i] : bodies[0];
		jobs[c].bodies = b[c];
		jobs[c].n = per_conn;
		jobs[c].lat = lat + c * per_conn;
	}
	t0 = tu_now_ms();
	for (int c = 0; c < conns; c++)
		if (pthread_create(&th[c], NULL, conn_main, &jobs[c]) != 0)
			return -1;
	for (int c = 0; c < conns; c++) {
		pthread_join(th[c], NULL);
		rc |= jobs[c].rc;
		free(b[c]);
	}
	t1 = tu_now_ms();
	*per_s = (double)(conns * per_conn) / ((t1 - t0) / 1000.0);
	tu_sort_doubles(lat, (size_t)(conns * per_conn));
	return rc;
}

/* ECDSA P-256 verifies per second in this process (~1 s). */
static double ecdsa_verify_per_s(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char sig[80], msg[32] = { 1 };
	size_t siglen = sizeof(sig);
	double t0, dt;
	long n = 0;

	if (k == NULL || md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, msg, sizeof(msg)) != 1) {
		EVP_MD_CTX_free(md);
		EVP_PKEY_free(k);
		return 0;
	}
	t0 = tu_now_ms();
	do {
		for (int i = 0; i < 200; i++, n++)
			if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) != 1 ||
			    EVP_DigestVerify(md, sig, siglen, msg, sizeof(msg)) != 1)
				n = -1000000;
		dt = tu_now_ms() - t0;
	} while (dt < 1000.0);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	return n > 0 ? (double)n / (dt / 1000.0) : 0;
}

static void fig_line(const char *name, int ok, double v, int prec, const char *note)
{
	if (ok)
		printf("%-40s %10.*f  %s\n", name, prec, v, note);
	else
		printf("%-40s %10s  %s\n", name, "n/a", note);
}

/* A decision body for each of n new session leaves of agent "alpha" (a
 * raw_client copy registered like scribe), issued by attestd now. */
static int new_leaves(struct vfleet *f, char **bodies, int n)
{
	char bin[700];
	static const char issue[] = "{\"op\":\"issue\",\"agent\":\"alpha\",\"mode\":\"session\",\"ttl\":600}";

	make_agent_binary(&f->d, "bench-alpha", NULL, bin, sizeof(bin));
	register_agent(&f->d, "alpha", bin, "0");
	for (int i = 0; i < n; i++) {
		cJSON *rep = run_agent(NULL, bin, f->d.sock, issue), *o;
		const cJSON *chain = cJSON_GetObjectItemCaseSensitive(rep, "chain");

		if (!cJSON_IsString(chain)) {
			cJSON_Delete(rep);
			return -1;
		}
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "chain", chain->valuestring);
		cJSON_AddStringToObject(o, "action", "read");
		cJSON_AddStringToObject(o, "resource", "ehr:patient/1/record");
		bodies[i] = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		cJSON_Delete(rep);
	}
	return 0;
}

static void bench_conns(struct vfleet *f, char *body, const char *url, const char *cert,
			const char *key)
{
	static double lat[CONNS * REPEAT_PER_CONN];
	static char *fresh[2 * CONNS * NEW_PER_CONN];
	struct conn_job proto = { url, f->v.cacert, cert, key, NULL, 0, NULL, 0 };
	char *one[1] = { body }, note[160];
	double ev = ecdsa_verify_per_s(), ps;
	int nfresh = 2 * CONNS * NEW_PER_CONN, have_new, rc;

	fig_line("ecdsa_p256_verify_per_s", ev > 0, ev, 0, "in this process, same run");
	/* new leaves first issued (untimed) */
	have_new = new_leaves(f, fresh, nfresh) == 0;
	for (int conns = 1; conns <= CONNS; conns += CONNS - 1) {
		char name[64];

		rc = run_conns(conns, &proto, one, REPEAT_PER_CONN, 0, lat, &ps);
		snprintf(name, sizeof(name), "decide_https_%dconn_repeated_per_s", conns);
		fig_line(name, rc == 0, ps, 0, "TLS 1.3 keep-alive, same leaf, durable audit record");
		snprintf(name, sizeof(name), "decide_https_%dconn_repeated_ratio", conns);
		fig_line(name, rc == 0 && ev > 0, ev > 0 ? ps / ev : 0, 3,
			 conns == CONNS ? "of ECDSA verify/s: goal >= 1.0 (issue 17)"
					: "of ECDSA verify/s");
		snprintf(name, sizeof(name), "decide_https_%dconn_repeated_ms_p50", conns);
		fig_line(name, rc == 0, lat[conns * REPEAT_PER_CONN / 2], 3, "");
		snprintf(name, sizeof(name), "decide_https_%dconn_repeated_ms_p99", conns);
		fig_line(name, rc == 0, lat[conns * REPEAT_PER_CONN * 99 / 100], 3,
			 conns == 1 ? "goal <= 2 ms (issue 17)" : "");
		snprintf(note, sizeof(note), "%d new session leaves per connection", NEW_PER_CONN);
		rc = have_new ? run_conns(conns, &proto, fresh + (conns == 1 ? 0 : CONNS * NEW_PER_CONN),
					  conns == 1 ? CONNS * NEW_PER_CONN : NEW_PER_CONN, 1, lat, &ps)
			      : -1;
		snprintf(name, sizeof(name), "decide_https_%dconn_new_per_s", conns);
		fig_line(name, rc == 0, ps, 0, note);
		snprintf(name, sizeof(name), "decide_https_%dconn_new_ratio", conns);
		fig_line(name, rc == 0 && ev > 0, ev > 0 ? ps / ev : 0, 3, "of ECDSA verify/s");
		snprintf(name, sizeof(name), "decide_https_%dconn_new_ms_p50", conns);
		fig_line(name, rc == 0, lat[CONNS * NEW_PER_CONN / 2], 3, "");
		snprintf(name, sizeof(name), "decide_https_%dconn_new_ms_p99", conns);
		fig_line(name, rc == 0, lat[CONNS * NEW_PER_CONN * 99 / 100], 3, "");
	}
	for (int i = 0; i < nfresh; i++)
		cJSON_free(fresh[i]);
}

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
	if (rc == 0) {
		snprintf(url, sizeof(url), "%s/v1/decide", f.v.url);
		bench_conns(&f, body, url, cert, key);
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
