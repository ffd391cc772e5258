/* alertsink.c - the alert delivery thread (alertsink.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <curl/curl.h>

#include "alertsink.h"
#include "core/err.h"

struct vas_sink {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int started, stop;
	char *url, *ca;
	int use_syslog;
	char (*q)[VA_BODY_MAX];
	size_t head, n;
	struct vas_stats st;
};

static size_t discard(char *p, size_t sz, size_t n, void *arg)
{
	(void)p, (void)arg;
	return sz * n;
}

static int deliver(struct vas_sink *k, CURL *c, const char *body)
{
	struct curl_slist *h = NULL;
	long code = 0;
	int ok;

	if (k->use_syslog)
		syslog(LOG_AUTHPRIV | LOG_WARNING, "attest-verifier anomaly alert: %s", body);
	if (k->url == NULL)
		return 1;
	curl_easy_reset(c);
	h = curl_slist_append(h, "Content-Type: application/json");
	ok = h != NULL && curl_easy_setopt(c, CURLOPT_URL, k->url) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_HTTPHEADER, h) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_POSTFIELDS, body) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)VA_TIMEOUT_S) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard) == CURLE_OK &&
	     (k->ca == NULL || curl_easy_setopt(c, CURLOPT_CAINFO, k->ca) == CURLE_OK) &&
	     curl_easy_perform(c) == CURLE_OK &&
	     curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code >= 200 &&
	     code < 300;
	curl_slist_free_all(h);
	return ok;
}

static void *worker(void *arg)
{
	struct vas_sink *k = arg;
	char *body = malloc(VA_BODY_MAX);
	CURL *c = k->url != NULL ? curl_easy_init() : NULL;

	pthread_mutex_lock(&k->mu);
	for (;;) {
		while (!k->stop && k->n == 0)
			pthread_cond_wait(&k->cv, &k->mu);
		if (k->stop)
			break;
		if (body != NULL)
			memcpy(body, k->q[k->head], VA_BODY_MAX);
		k->head = (k->head + 1) % VA_QUEUE_MAX;
		k->n--;
		pthread_mutex_unlock(&k->mu);
		{
			int ok = body != NULL && (k->url == NULL || c != NULL) && deliver(k, c, body);

			pthread_mutex_lock(&k->mu);
			if (ok)
				k->st.sent++;
			else
				k->st.failed++;
		}
	}
	k->st.dropped += k->n;
	k->n = 0;
	pthread_mutex_unlock(&k->mu);
	if (c != NULL)
		curl_easy_cleanup(c);
	free(body);
	return NULL;
}

int vas_start(const char *url, const char *ca_file, int use_syslog, struct vas_sink **out)
{
	struct vas_sink *k;

	*out = NULL;
	if (url == NULL && !use_syslog)
		return ATTEST_OK;
	if (url != NULL && strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "alert webhook: want an http(s):// URL");
	if ((k = calloc(1, sizeof(*k))) == NULL || (k->q = calloc(VA_QUEUE_MAX, VA_BODY_MAX)) == NULL ||
	    (url != NULL && (k->url = strdup(url)) == NULL) ||
	    (ca_file != NULL && (k->ca = strdup(ca_file)) == NULL)) {
		if (k != NULL) {
			free(k->q);
			free(k->url);
			free(k);
		}
		return attest_fail(ATTEST_E_NOMEM, "alert sink");
	}
	k->use_syslog = use_syslog;
	if (pthread_mutex_init(&k->mu, NULL) != 0 || pthread_cond_init(&k->cv, NULL) != 0 ||
	    pthread_create(&k->th, NULL, worker, k) != 0) {
		free(k->q);
		free(k->url);
		free(k->ca);
		free(k);
		return attest_fail(ATTEST_E_INTERNAL, "alert sink thread");
	}
	k->started = 1;
	*out = k;
	return ATTEST_OK;
}

void vas_post(struct vas_sink *k, const char *json)
{
	size_t n;

	if (k == NULL || json == NULL)
		return;
	n = strlen(json);
	pthread_mutex_lock(&k->mu);
	if (k->n >= VA_QUEUE_MAX || n >= VA_BODY_MAX) {
		k->st.dropped++;
	} else {
		memcpy(k->q[(k->head + k->n) % VA_QUEUE_MAX], json, n + 1);
		k->n++;
		k->st.queued++;
		pthread_cond_signal(&k->cv);
	}
	pthread_mutex_unlock(&k->mu);
}

void vas_stats(struct vas_sink *k, struct vas_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (k == NULL)
		return;
	pthread_mutex_lock(&k->mu);
	*out = k->st;
	pthread_mutex_unlock(&k->mu);
}

void vas_stop(struct vas_sink *k)
{
	if (k == NULL)
		return;
	pthread_mutex_lock(&k->mu);
	k->stop = 1;
	pthread_cond_signal(&k->cv);
	pthread_mutex_unlock(&k->mu);
	if (k->started)
		(void)pthread_join(k->th, NULL);
	pthread_mutex_destroy(&k->mu);
	pthread_cond_destroy(&k->cv);
	free(k->q);
	free(k->url);
	free(k->ca);
	free(k);
}
