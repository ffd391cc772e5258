/* httpc.h - HTTPS client for JSON requests (libcurl): attestd's pushes to
 * the verifier, attestctl's enrolment over HTTPS, the example resource
 * server's decision calls. TLS 1.3 only, https only, no redirects, the
 * server verified against ca_file (never the system store: the verifier has
 * its own CA), responses capped. */
#ifndef LIBATTEST_HTTPC_H
#define LIBATTEST_HTTPC_H

#include <stddef.h>

#include "attest/attest.h"

#define ATTEST_HTTPC_RESPONSE_MAX (256 * 1024)

struct attest_httpc_opts {
	const char *ca_file;   /* PEM CA the server must chain to (this or ca_pem) */
	const char *cert_file; /* client certificate PEM, or NULL */
	const char *key_file;  /* its key PEM, or NULL */
	long timeout_ms;       /* whole request; 0 = 5000 */
	const char *ca_pem;    /* or that CA as PEM bytes (ca_file NULL) */
	size_t ca_pem_len;
};

/* POST body (JSON) to url, or GET when body is NULL. On ATTEST_OK the
 * request completed: *status is the HTTP status and *resp (malloc'd,
 * NUL-terminated, *resp_len bytes) the body, whatever the status. Transport
 * failures (connect, TLS, timeout, response over the cap) are ATTEST_E_IO /
 * ATTEST_E_TIMEOUT / ATTEST_E_TOO_LARGE with curl's message as detail. */
int attest_https_request(const struct attest_httpc_opts *o, const char *url, const char *body,
			 size_t body_len, long *status, char **resp,
			 size_t *resp_len) ATTEST_MUST_CHECK;

#endif
