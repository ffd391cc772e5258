/* httpc.c - see httpc.h. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "core/err.h"
#include "net/httpc.h"

struct sink {
	char *buf;
	size_t len;
	int over;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t sink_write(char *data, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t add = size * n;
	char *nb;

	if (add > ATTEST_HTTPC_RESPONSE_MAX - s->len) {
		s->over = 1;
		return 0; /* aborts the transfer */
	}
	nb = realloc(s->buf, s->len + add + 1);
	if (nb == NULL)
		return 0;
	s->buf = nb;
	memcpy(s->buf + s->len, data, add);
	s->len += add;
	s->buf[s->len] = '\0';
	return add;
}

#define SETOPT(h_, opt_, val_)                                                       \
	do {                                                                         \
		if (curl_easy_setopt((h_), (opt_), (val_)) != CURLE_OK) {            \
			r = attest_fail(ATTEST_E_INTERNAL, "curl option %s", #opt_); \
			goto out;                                                    \
		}                                                                    \
	} while (0)

int attest_https_request(const struct attest_httpc_opts *o, const char *url, const char *body,
			 size_t body_len, long *status, char **resp, size_t *resp_len)
{
	int r = ATTEST_E_INTERNAL;
	CURL *h = NULL;
	struct curl_slist *hdr = NULL;
	struct sink s = {0};
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode cc;

	if (o == NULL || (o->ca_file == NULL) == (o->ca_pem == NULL) || url == NULL ||
	    status == NULL || resp == NULL ||
	    (o->cert_file == NULL) != (o->key_file == NULL))
		return attest_fail(ATTEST_E_INVALID_ARG, "https request: missing argument");
	*resp = NULL;
	if (resp_len != NULL)
		*resp_len = 0;
	if (pthread_once(&curl_once, curl_init) != 0 || curl_init_rc != CURLE_OK)
		return attest_fail(ATTEST_E_INTERNAL, "curl_global_init failed");
	if ((h = curl_easy_init()) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "curl_easy_init");
	SETOPT(h, CURLOPT_URL, url);
	SETOPT(h, CURLOPT_PROTOCOLS_STR, "https");
	SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(h, CURLOPT_NOSIGNAL, 1L);
	SETOPT(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
	if (o->ca_pem != NULL) {
		/* the pin as bytes (a process that cannot open files) */
		struct curl_blob b = { (void *)(uintptr_t)o->ca_pem, o->ca_pem_len, CURL_BLOB_COPY };

		SETOPT(h, CURLOPT_CAINFO, NULL);
		SETOPT(h, CURLOPT_CAINFO_BLOB, &b);
	} else {
		SETOPT(h, CURLOPT_CAINFO, o->ca_file);
	}
	SETOPT(h, CURLOPT_CAPATH, NULL);
	SETOPT(h, CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->cert_file != NULL) {
		SETOPT(h, CURLOPT_SSLCERT, o->cert_file);
		SETOPT(h, CURLOPT_SSLKEY, o->key_file);
	}
	SETOPT(h, CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 5000L);
	SETOPT(h, CURLOPT_WRITEFUNCTION, sink_write);
	SETOPT(h, CURLOPT_WRITEDATA, &s);
	SETOPT(h, CURLOPT_ERRORBUFFER, errbuf);
	if (body != NULL) {
		if ((hdr = curl_slist_append(NULL, "Content-Type: application/json")) == NULL) {
			r = attest_fail(ATTEST_E_NOMEM, "curl header");
			goto out;
		}
		SETOPT(h, CURLOPT_HTTPHEADER, hdr);
		SETOPT(h, CURLOPT_POSTFIELDS, body);
		SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	cc = curl_easy_perform(h);
	if (s.over) {
		r = attest_fail(ATTEST_E_TOO_LARGE, "response from %s over %d bytes", url,
				ATTEST_HTTPC_RESPONSE_MAX);
		goto out;
	}
	if (cc != CURLE_OK) {
		r = attest_fail(cc == CURLE_OPERATION_TIMEDOUT ? ATTEST_E_TIMEOUT : ATTEST_E_IO,
				"%s: %s", url, errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status) != CURLE_OK) {
		r = attest_fail(ATTEST_E_IO, "%s: no status", url);
		goto out;
	}
	if (s.buf == NULL && (s.buf = calloc(1, 1)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "response");
		goto out;
	}
	*resp = s.buf;
	s.buf = NULL; /* transferred */
	if (resp_len != NULL)
		*resp_len = s.len;
	r = ATTEST_OK;
out:
	free(s.buf);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return r;
}
