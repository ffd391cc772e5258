/* signer.c - see signer.h. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <tss2/tss2_mu.h>

#include "core/cursor.h"
#include "core/err.h"
#include "enrol/enrol.h"
#include "signer.h"
#include "x509/x509.h"

#define REPLY_MAX (16 * 1024)
#define VF_SIGNER_HOST_REQ_MAX 1024 /* a host CA request */
#define DETAIL_MAX 512
/* a local process answers in milliseconds; this only bounds a hung one */
#define REPLY_TIMEOUT_S 30

static void sg_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sg_log(const char *fmt, ...)
{
	va_list ap;
	char ts[32];
	time_t t = time(NULL);
	struct tm tm;
	char line[1024];
	int n;

	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* one line, one write (stderr is unbuffered: issue 17) */
	n = snprintf(line, sizeof(line), "%s attest-verifier signer[%d]: ", ts, (int)getpid());
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line) - 1)
		(void)vsnprintf(line + n, sizeof(line) - 1 - (size_t)n, fmt, ap);
	va_end(ap);
	n = (int)strnlen(line, sizeof(line) - 2);
	line[n++] = '\n';
	(void)fwrite(line, 1, (size_t)n, stderr);
}

/* A reply: code, then the certificate's DER or the detail text. */
static int send_reply(int fd, int code, const uint8_t *data, size_t len)
{
	uint8_t buf[6 + REPLY_MAX];

	if (len > REPLY_MAX)
		len = REPLY_MAX;
	buf[0] = (uint8_t)((uint32_t)code >> 24);
	buf[1] = (uint8_t)((uint32_t)code >> 16);
	buf[2] = (uint8_t)((uint32_t)code >> 8);
	buf[3] = (uint8_t)code;
	buf[4] = (uint8_t)(len >> 8);
	buf[5] = (uint8_t)len;
	if (len > 0)
		memcpy(buf + 6, data, len);
	return send(fd, buf, 6 + len, MSG_NOSIGNAL) == (ssize_t)(6 + len) ? 0 : -1;
}

/* One host name: u8 length, the name. */
static int take_host(struct attest_cur *c, char host[64])
{
	const uint8_t *h;
	uint8_t hlen;

	if (!attest_cur_u8(c, &hlen) || hlen == 0 || hlen > ATTEST_MAX_NAME ||
	    !attest_cur_take(c, hlen, &h))
		return attest_fail(ATTEST_E_PARSE, "host name length");
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (strlen(host) != hlen || !attest_valid_hostname(host))
		return attest_fail(ATTEST_E_PARSE, "host name is not a host name");
	return ATTEST_OK;
}

/* Request type 2, parsed whole: the revoked hosts' names into hosts
 * (ATTEST_CA_CRL_HOSTS_MAX entries of 64 bytes), their number in *n. */
static int parse_crl_request(const uint8_t *buf, size_t len, char (*hosts)[64], size_t *n)
{
	struct attest_cur c;
	uint8_t type;
	uint16_t count;
	int r;

	attest_cur_init(&c, buf, len);
	if (!attest_cur_u8(&c, &type) || type != VF_SIGNER_ISSUING_CRL ||
	    !attest_cur_u16be(&c, &count) || count > ATTEST_CA_CRL_HOSTS_MAX)
		return attest_fail(ATTEST_E_PARSE, "CRL request count");
	for (size_t i = 0; i < count; i++)
		if ((r = take_host(&c, hosts[i])) != ATTEST_OK)
			return r;
	if (!attest_cur_end(&c))
		return attest_fail(ATTEST_E_PARSE, "%zu bytes after the host names", attest_cur_left(&c));
	*n = count;
	return ATTEST_OK;
}

/* Answer request type 2 (crl.h profile, attest_ca_issuing_crl). */
static int answer_crl(int fd, struct attest_ca *ca, char (*hosts)[64], size_t n)
{
	const char *names[ATTEST_CA_CRL_HOSTS_MAX];
	X509_CRL *crl = NULL;
	unsigned char *der = NULL;
	int dlen = 0, r;

	for (size_t i = 0; i < n; i++)
		names[i] = hosts[i];
	r = attest_ca_issuing_crl(ca, names, n, VF_ISSUING_CRL_TTL, &crl);
	if (r == ATTEST_OK && ((dlen = i2d_X509_CRL(crl, &der)) <= 0 || dlen > REPLY_MAX))
		r = attest_fail(ATTEST_E_TOO_LARGE, "issuing CA CRL does not fit a reply");
	if (r == ATTEST_OK) {
		sg_log("signed the issuing CA's CRL (%zu revoked hosts)", n);
		r = send_reply(fd, ATTEST_OK, der, (size_t)dlen);
	} else {
		const char *d = attest_errdetail();

		sg_log("refused to sign the issuing CA's CRL: %s", d);
		r = send_reply(fd, r, (const uint8_t *)d, strnlen(d, DETAIL_MAX));
	}
	OPENSSL_free(der);
	X509_CRL_free(crl);
	ERR_clear_error();
	return r;
}

/* Request type 1, parsed whole with the bounded cursor. */
static int parse_request(const uint8_t *buf, size_t len, char host[64], TPM2B_PUBLIC *pub)
{
	struct attest_cur c;
	const uint8_t *h, *p;
	uint8_t type, hlen;
	uint16_t plen;
	size_t off = 0;

	attest_cur_init(&c, buf, len);
	if (!attest_cur_u8(&c, &type))
		return attest_fail(ATTEST_E_PARSE, "empty request");
	if (type != VF_SIGNER_SIGN_HOST_CA)
		return attest_fail(ATTEST_E_PARSE, "request type %u is not in the request set", type);
	if (len > VF_SIGNER_HOST_REQ_MAX)
		return attest_fail(ATTEST_E_PARSE, "host CA request over %d bytes",
				   VF_SIGNER_HOST_REQ_MAX);
	if (!attest_cur_u8(&c, &hlen) || hlen == 0 || hlen > ATTEST_MAX_NAME ||
	    !attest_cur_take(&c, hlen, &h))
		return attest_fail(ATTEST_E_PARSE, "host name length");
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (strlen(host) != hlen || !attest_valid_hostname(host))
		return attest_fail(ATTEST_E_PARSE, "host name is not a host name");
	if (!attest_cur_u16be(&c, &plen) || plen == 0 || plen > sizeof(TPM2B_PUBLIC) ||
	    !attest_cur_take(&c, plen, &p))
		return attest_fail(ATTEST_E_PARSE, "host key length");
	if (!attest_cur_end(&c))
		return attest_fail(ATTEST_E_PARSE, "%zu bytes after the host key", attest_cur_left(&c));
	memset(pub, 0, sizeof(*pub));
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(p, plen, &off, pub) != TSS2_RC_SUCCESS || off != plen)
		return attest_fail(ATTEST_E_PARSE, "host key is not one TPM2B_PUBLIC");
	return ATTEST_OK;
}

/* The signer process: load the key, report, answer until EOF. */
static void __attribute__((noreturn)) signer_main(int fd, const char *ca_dir)
{
	struct rlimit no_core = { 0, 0 };
	struct attest_ca *ca = NULL;
	static uint8_t req[VF_SIGNER_REQ_MAX + 1];
	static char hosts[ATTEST_CA_CRL_HOSTS_MAX][64];
	size_t nhosts = 0;
	char host[64];
	TPM2B_PUBLIC pub;
	int r;

	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	(void)prctl(PR_SET_DUMPABLE, 0);
	(void)setrlimit(RLIMIT_CORE, &no_core);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN); /* the serving process reloads on SIGHUP; we do not */
	signal(SIGINT, SIG_IGN);
	if ((r = attest_ca_open(ca_dir, &ca)) != ATTEST_OK ||
	    (r = attest_ca_load_issuing(ca)) != ATTEST_OK ||
	    (r = attest_ca_pin_seed(ca)) != ATTEST_OK) {
		const char *d = attest_errdetail();

		(void)send_reply(fd, r, (const uint8_t *)d, strnlen(d, DETAIL_MAX));
		_exit(1);
	}
	if (send_reply(fd, ATTEST_OK, NULL, 0) != 0)
		_exit(1);
	sg_log("holding the issuing CA key of %s", ca_dir);
	for (;;) {
		ssize_t n = recv(fd, req, sizeof(req), 0);
		X509 *cert = NULL;
		unsigned char *der = NULL;
		int dlen;

		if (n == 0)
			break; /* the serving process closed its end */
		if (n < 0) {
			if (errno == EINTR)
				continue;
			sg_log("receive: %s; exiting", strerror(errno));
			_exit(1);
		}
		if ((size_t)n > VF_SIGNER_REQ_MAX) {
			sg_log("protocol violation: request over %d bytes; exiting", VF_SIGNER_REQ_MAX);
			_exit(3);
		}
		attest_errclear();
		if (n > 0 && req[0] == VF_SIGNER_ISSUING_CRL) {
			if (parse_crl_request(req, (size_t)n, hosts, &nhosts) != ATTEST_OK) {
				sg_log("protocol violation: %s; exiting", attest_errdetail());
				_exit(3);
			}
			if (answer_crl(fd, ca, hosts, nhosts) != 0) {
				sg_log("send: %s; exiting", strerror(errno));
				_exit(1);
			}
			continue;
		}
		if (parse_request(req, (size_t)n, host, &pub) != ATTEST_OK) {
			sg_log("protocol violation: %s; exiting", attest_errdetail());
			_exit(3);
		}
		/* the records are the serving process's; the ledger is ours:
		 * a host signed for keeps its key until an operator says */
		if ((r = attest_ca_pin_check(ca, host, &pub)) == ATTEST_OK &&
		    (r = attest_ca_sign_host(ca, host, &pub, &cert)) == ATTEST_OK)
			r = attest_ca_pin_record(ca, host, &pub);
		if (r == ATTEST_OK && (dlen = i2d_X509(cert, &der)) > 0 && dlen <= REPLY_MAX) {
			sg_log("signed a host CA certificate for %s", host);
			r = send_reply(fd, ATTEST_OK, der, (size_t)dlen);
		} else {
			const char *d;

			if (r == ATTEST_OK)
				r = attest_fail(ATTEST_E_CRYPTO, "encode the host CA certificate");
			d = attest_errdetail();
			sg_log("refused to sign for %s: %s", host, d);
			r = send_reply(fd, r, (const uint8_t *)d, strnlen(d, DETAIL_MAX));
		}
		OPENSSL_free(der);
		X509_free(cert);
		ERR_clear_error();
		if (r != 0) {
			sg_log("send: %s; exiting", strerror(errno));
			_exit(1);
		}
	}
	attest_ca_close(ca);
	_exit(0);
}

/* One reply: *code, and the payload copied into buf (at most cap bytes). */
static int recv_reply(struct vf_signer *sg, int *code, uint8_t *buf, size_t cap, size_t *len)
{
	uint8_t raw[6 + REPLY_MAX];
	struct attest_cur c;
	const uint8_t *p;
	uint32_t u;
	uint16_t n16;
	ssize_t n;

	do
		n = recv(sg->fd, raw, sizeof(raw), 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		sg->dead = 1;
		return attest_fail(ATTEST_E_INTERNAL, "the signer process is gone (%s)",
				   n == 0 ? "closed" : strerror(errno));
	}
	attest_cur_init(&c, raw, (size_t)n);
	if (!attest_cur_u32be(&c, &u) || !attest_cur_u16be(&c, &n16) ||
	    !attest_cur_take(&c, n16, &p) || !attest_cur_end(&c) || n16 > cap) {
		sg->dead = 1;
		return attest_fail(ATTEST_E_INTERNAL, "malformed reply from the signer process");
	}
	memcpy(buf, p, n16);
	*len = n16;
	*code = (int)u;
	return ATTEST_OK;
}

/* One exchange with the signer: req sent (none when NULL), its reply
 * read into rep (cap bytes, one more for a NUL); a code other than
 * ATTEST_OK is returned with the signer's detail. */
static int signer_call(struct vf_signer *sg, const uint8_t *req, size_t reqlen, uint8_t *rep,
		       size_t cap, size_t *len)
{
	int code = ATTEST_E_INTERNAL, r;

	if (req != NULL && send(sg->fd, req, reqlen, MSG_NOSIGNAL) != (ssize_t)reqlen) {
		sg->dead = 1;
		return attest_fail(ATTEST_E_INTERNAL, "the signer process is gone (%s)", strerror(errno));
	}
	if ((r = recv_reply(sg, &code, rep, cap, len)) != ATTEST_OK)
		return r;
	if (code != ATTEST_OK) {
		rep[*len] = '\0';
		return attest_fail(code, "signer: %s", (const char *)rep);
	}
	return ATTEST_OK;
}

int vf_signer_start(const char *ca_dir, int close_fd, struct vf_signer *sg)
{
	struct timeval tv = { REPLY_TIMEOUT_S, 0 };
	uint8_t detail[DETAIL_MAX + 1];
	size_t len = 0;
	int sv[2], r;
	pid_t pid;

	sg->pid = 0;
	sg->fd = -1;
	sg->dead = 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return attest_fail(ATTEST_E_IO, "signer socketpair: %s", strerror(errno));
	fflush(stderr);
	if ((pid = fork()) < 0) {
		close(sv[0]);
		close(sv[1]);
		return attest_fail(ATTEST_E_IO, "fork the signer: %s", strerror(errno));
	}
	if (pid == 0) {
		close(sv[0]);
		if (close_fd >= 0)
			close(close_fd);
		signer_main(sv[1], ca_dir);
	}
	close(sv[1]);
	sg->pid = pid;
	sg->fd = sv[0];
	(void)setsockopt(sg->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if ((r = signer_call(sg, NULL, 0, detail, DETAIL_MAX, &len)) != ATTEST_OK)
		vf_signer_stop(sg);
	return r;
}

void vf_signer_stop(struct vf_signer *sg)
{
	if (sg->fd >= 0)
		close(sg->fd);
	sg->fd = -1;
	if (sg->pid > 0)
		while (waitpid(sg->pid, NULL, 0) < 0 && errno == EINTR)
			;
	sg->pid = 0;
}

int vf_signer_sign_host(void *arg, const char *host, const TPM2B_PUBLIC *key, X509 **out)
{
	struct vf_signer *sg = arg;
	uint8_t req[VF_SIGNER_REQ_MAX], rep[REPLY_MAX];
	const unsigned char *p = rep;
	size_t hlen, off = 0, len = 0;
	int r;

	*out = NULL;
	if (sg == NULL || sg->fd < 0 || sg->dead)
		return attest_fail(ATTEST_E_INTERNAL, "no signer process");
	hlen = strlen(host);
	if (hlen == 0 || hlen > ATTEST_MAX_NAME)
		return attest_fail(ATTEST_E_INVALID_ARG, "host name length");
	req[0] = VF_SIGNER_SIGN_HOST_CA;
	req[1] = (uint8_t)hlen;
	memcpy(req + 2, host, hlen);
	off = 2 + hlen + 2;
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(key, req, sizeof(req), &off) != TSS2_RC_SUCCESS)
		return attest_fail(ATTEST_E_INVALID_ARG, "host key does not marshal");
	req[2 + hlen] = (uint8_t)((off - 4 - hlen) >> 8);
	req[3 + hlen] = (uint8_t)(off - 4 - hlen);
	if ((r = signer_call(sg, req, off, rep, sizeof(rep) - 1, &len)) != ATTEST_OK)
		return r;
	if ((*out = d2i_X509(NULL, &p, (long)len)) == NULL || p != rep + len) {
		X509_free(*out);
		*out = NULL;
		ERR_clear_error();
		sg->dead = 1;
		return attest_fail(ATTEST_E_INTERNAL, "the signer's certificate is not one DER certificate");
	}
	return ATTEST_OK;
}

int vf_signer_issuing_crl(struct vf_signer *sg, const char *const *hosts, size_t n,
			  X509_CRL **out)
{
	static uint8_t req[VF_SIGNER_REQ_MAX];
	uint8_t rep[REPLY_MAX];
	const unsigned char *p = rep;
	size_t off = 3, len = 0;
	int r;

	*out = NULL;
	if (sg == NULL || sg->fd < 0 || sg->dead)
		return attest_fail(ATTEST_E_INTERNAL, "no signer process");
	if (n > ATTEST_CA_CRL_HOSTS_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "%zu revoked hosts (at most %d)", n,
				   ATTEST_CA_CRL_HOSTS_MAX);
	req[0] = VF_SIGNER_ISSUING_CRL;
	req[1] = (uint8_t)(n >> 8);
	req[2] = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		size_t hlen = strlen(hosts[i]);

		if (hlen == 0 || hlen > ATTEST_MAX_NAME)
			return attest_fail(ATTEST_E_INVALID_ARG, "host name length");
		req[off++] = (uint8_t)hlen;
		memcpy(req + off, hosts[i], hlen);
		off += hlen;
	}
	if ((r = signer_call(sg, req, off, rep, sizeof(rep) - 1, &len)) != ATTEST_OK)
		return r;
	if ((*out = d2i_X509_CRL(NULL, &p, (long)len)) == NULL || p != rep + len) {
		X509_CRL_free(*out);
		*out = NULL;
		ERR_clear_error();
		sg->dead = 1;
		return attest_fail(ATTEST_E_INTERNAL, "the signer's CRL is not one DER CRL");
	}
	return ATTEST_OK;
}
