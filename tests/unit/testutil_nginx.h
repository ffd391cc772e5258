/* testutil_nginx.h - run Debian's nginx for a test, the way the tests run
 * swtpm: a private prefix in a temp dir, its own config, pid and error log,
 * a free loopback port (another one tried if the bind fails). The server
 * is examples/nginx/attest.conf itself, its paths and ports rewritten to
 * the test's fleet; the upstream is a second server of the same nginx
 * answering a fixed body (with the X-Attest-Agent it got). */
#ifndef TESTS_TESTUTIL_NGINX_H
#define TESTS_TESTUTIL_NGINX_H

#include <sys/types.h>

#include "testutil_verifier.h"

struct tnginx {
	char dir[700];
	unsigned port;    /* the TLS front */
	unsigned up_port; /* the upstream */
	pid_t pid;
};

/* The nginx binary, or NULL when it is not installed (make deps). */
const char *tnginx_bin(void);
/* Start nginx in front of verifier v for the fleet whose CA is ca_dir
 * (root.pem): the proxy is v's resource caller. extra: more directives
 * for the server block (or NULL). 0 on success. */
int tnginx_start(struct tnginx *n, const char *ca_dir, const struct verifier *v,
		 const char *extra);
void tnginx_stop(struct tnginx *n);
/* curl (TLS 1.3) method path through n with the client certificate chain
 * cert and key (both NULL: none). The HTTP status, 0 when no HTTP answer
 * came (handshake refused); the body in n->dir/body. */
int tnginx_call(struct tnginx *n, const char *cert, const char *key, const char *method,
		const char *path);
/* n->dir/body holds s */
int tnginx_body_has(const struct tnginx *n, const char *s);

#endif
