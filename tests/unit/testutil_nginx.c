/* testutil_nginx.c - see testutil_nginx.h. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "testutil.h"
#include "testutil_nginx.h"

const char *tnginx_bin(void)
{
	static const char *const where[] = {"/usr/sbin/nginx", "/usr/local/sbin/nginx",
					    "/usr/bin/nginx", NULL};

	for (int i = 0; where[i] != NULL; i++)
		if (access(where[i], X_OK) == 0)
			return where[i];
	return NULL;
}

/* A loopback port nothing listens on right now (bound, then let go). */
static unsigned free_port(void)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned p = 0;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &al) == 0)
		p = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return p;
}

static int try_start(struct tnginx *n, const char *ca_dir, const struct verifier *v,
		     const char *extra)
{
	const char *vport = strrchr(v->url, ':');

	n->port = free_port();
	n->up_port = free_port();
	if (n->port == 0 || n->up_port == 0 || vport == NULL || n->port == n->up_port)
		return -1;
	/* examples/nginx/attest.conf, its paths and ports rewritten; the
	 * extra directives go into its server block */
	if (tu_sh("cd '%s' && mkdir -p tmp logs && cp '%s/root.pem' fleet-root.pem && "
		  "cp '%s.pem' caller.pem && cp '%s.key' caller.key && "
		  "cp '%s' verifier-ca.pem && "
		  "sed -e 's|/etc/attest/|%s/|g' -e 's|listen 443 ssl;|listen 127.0.0.1:%u ssl;|' "
		  "-e 's|verifier.example:8443|127.0.0.1%s|' -e 's|verifier.example|localhost|' "
		  "-e 's|127.0.0.1:8080|127.0.0.1:%u|' "
		  "-e 's|^    ssl_verify_depth 4;|&\\n%s|' "
		  "'%s/examples/nginx/attest.conf' >attest.conf && "
		  "cat >nginx.conf <<EOF\n"
		  "daemon off;\n"
		  "worker_processes 1;\n"
		  "pid %s/nginx.pid;\n"
		  "error_log %s/logs/error.log info;\n"
		  "%s"
		  "events { worker_connections 256; }\n"
		  "http {\n"
		  "  access_log %s/logs/access.log;\n"
		  "  log_format attest '\\$status \\$request_method \\$request_uri "
		  "reason=\\$attest_reason agent=\\$attest_agent user=\\$attest_user "
		  "purpose=\\$attest_purpose';\n"
		  "  client_body_temp_path %s/tmp/body;\n"
		  "  proxy_temp_path %s/tmp/proxy;\n"
		  "  fastcgi_temp_path %s/tmp/fastcgi;\n"
		  "  uwsgi_temp_path %s/tmp/uwsgi;\n"
		  "  scgi_temp_path %s/tmp/scgi;\n"
		  "  include %s/attest.conf;\n"
		  "  server {\n"
		  "    listen 127.0.0.1:%u;\n"
		  "    location / { default_type text/plain;\n"
		  "      return 200 'upstream record for [\\$http_x_attest_agent] "
		  "rule [\\$http_x_attest_rule]\\n'; }\n"
		  "  }\n"
		  "}\n"
		  "EOF\n",
		  n->dir, ca_dir, v->resource, v->resource, v->cacert, n->dir, n->port, vport,
		  n->up_port, extra != NULL ? extra : "", getenv("ATTEST_SRCDIR") ? getenv("ATTEST_SRCDIR") : ".",
		  n->dir, n->dir, geteuid() == 0 ? "user root;\n" : "", n->dir, n->dir, n->dir,
		  n->dir, n->dir, n->dir, n->dir, n->up_port) != 0)
		return -1;
	{
		/* nginx as our own child (daemon off), so that waitpid sees it */
		char conf[800], errl[800], out[800];
		pid_t pid;
		int st;

		snprintf(conf, sizeof(conf), "%s/nginx.conf", n->dir);
		snprintf(errl, sizeof(errl), "%s/logs/error.log", n->dir);
		snprintf(out, sizeof(out), "%s/logs/stderr", n->dir);
		fflush(NULL);
		if ((pid = fork()) < 0)
			return -1;
		if (pid == 0) {
			int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0600);

			if (fd >= 0) {
				(void)dup2(fd, 1);
				(void)dup2(fd, 2);
				close(fd);
			}
			execl(tnginx_bin(), "nginx", "-p", n->dir, "-c", conf, "-e", errl, (char *)NULL);
			_exit(127);
		}
		n->pid = pid;
		for (int i = 0; i < 200; i++) {
			if (waitpid(pid, &st, WNOHANG) == pid) {
				n->pid = 0;
				(void)tu_sh("cat '%s/logs/stderr' '%s/logs/error.log' >&2", n->dir, n->dir);
				return -1; /* exited: the port was taken, or a bad config */
			}
			if (tu_sh("curl -s -o /dev/null --max-time 2 http://127.0.0.1:%u/", n->up_port) == 0)
				return 0;
			usleep(50000);
		}
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, &st, 0);
		n->pid = 0;
		return -1;
	}
}

int tnginx_start(struct tnginx *n, const char *ca_dir, const struct verifier *v,
		 const char *extra)
{
	memset(n, 0, sizeof(*n));
	tu_mkdtemp(n->dir, sizeof(n->dir));
	/* the proxy's server certificate (clients pin it) */
	if (tu_sh("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		  "-nodes -subj /CN=proxy -days 1 -addext subjectAltName=IP:127.0.0.1 "
		  "-keyout server.key -out server.pem 2>/dev/null", n->dir) != 0)
		return -1;
	for (int i = 0; i < 5; i++) /* another port when the bind lost a race */
		if (try_start(n, ca_dir, v, extra) == 0)
			return 0;
	return -1;
}

void tnginx_stop(struct tnginx *n)
{
	if (n->pid > 0) {
		int st;

		/* SIGTERM: nginx stops its worker and exits; SIGKILL past 10 s */
		(void)kill(n->pid, SIGTERM);
		for (int i = 0; i < 200 && waitpid(n->pid, &st, WNOHANG) == 0; i++)
			usleep(50000);
		if (waitpid(n->pid, &st, WNOHANG) == 0) {
			(void)kill(n->pid, SIGKILL);
			(void)waitpid(n->pid, &st, 0);
		}
		n->pid = 0;
	}
	if (n->dir[0] != '\0')
		tu_rmtree(n->dir);
	n->dir[0] = '\0';
}

int tnginx_call(struct tnginx *n, const char *cert, const char *key, const char *method,
		const char *path)
{
	char f[800], *s;
	int code;

	if (tu_sh("cd '%s' && rm -f body code && curl -s --path-as-is --tlsv1.3 --max-time 20 "
		  "--cacert server.pem %s%s%s%s%s -X %s -o body -w '%%{http_code}' "
		  "'https://127.0.0.1:%u%s' >code; true",
		  n->dir, cert != NULL ? "--cert '" : "", cert != NULL ? cert : "",
		  cert != NULL ? "' --key '" : "", key != NULL ? key : "", cert != NULL ? "'" : "",
		  method, n->port, path) != 0)
		return -1;
	snprintf(f, sizeof(f), "%s/code", n->dir);
	s = tu_slurp(f, NULL);
	code = (int)tu_leading_num(s);
	free(s);
	return code;
}

int tnginx_body_has(const struct tnginx *n, const char *s)
{
	return tu_sh("grep -qF -- '%s' '%s/body'", s, n->dir) == 0;
}
