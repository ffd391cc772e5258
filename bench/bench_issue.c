/* bench_issue.c - attestd's certificate issuance (issue 3) on swtpm, over
 * its Unix socket, against the same work done with tpm2-tools + openssl
 * CLI in the same run (make bench; bench/run-bench.sh sets the
 * environment).
 *
 * Report only: nothing here asserts on time. A figure whose run failed
 * prints "n/a" and the process exits 1 at the end (make bench ignores
 * that); every result we time is also checked once, untimed (`openssl
 * verify` of a chain from each phase).
 *
 * attestd runs as a child on its own swtpm (A) with an enrolled host
 * (testutil_daemon). The requester is a copy of this binary in the
 * daemon's 0700 test dir (attestd only registers root-owned binaries in
 * root-owned, non-writable directories), registered as three agents
 * (bench-a, bench-b: strict mode; bench-s: session mode) for our uid, and
 * run as `COPY --requester PHASE ...`: it issues sequentially with
 * attest_client_issue (attestd generates the leaf key; no CSR), reads
 * "tpm_commands" with the admin "stats" op before and after, and prints
 * "key value" lines on a pipe to us. attestd's measurement cache only
 * vouches for a file whose ctime is >= 2 s old, so the timed phases start
 * at least 3 s after the copy was made.
 *
 * strict, same agent: N requests for bench-a in a row (PCR 23 already
 *   holds its value after the warm-up, so no reset/extend).
 * strict, alternating: N requests alternating bench-a / bench-b, so every
 *   request resets and extends PCR 23.
 *   issue_strict_ms_p50/p99 are the alternating case: it does the same TPM
 *   work as the baseline. The same-agent latencies print separately.
 * session: requests for bench-s for SESSION_SECONDS with attestd and the
 *   requester pinned to one CPU (sched_setaffinity), then the same
 *   unpinned. TPM commands per 1,000 certificates count from before the
 *   first request, i.e. include making the session issuer (TPM sign) once.
 * wire count: attestd restarted with its TCTI through a TCP proxy in this
 *   process that parses the command stream to swtpm and counts commands by
 *   code, including the FlushContext calls that attestd's own counter (the
 *   stats op) does not count. Printed as *_wire figures plus a breakdown.
 *
 * baseline (swtpm B, tpm2-tools 5 + openssl 3 CLI): setup untimed: SRK
 *   persisted at 0x81000001 (tpm2_createprimary + tpm2_evictcontrol); a
 *   trial session computes PolicyPCR(PCR 23 = SHA-256(0^32 || M)) ||
 *   PolicyAuthValue || PolicyCommandCode(Sign) (checked equal to
 *   attest_policy_digest_sign, i.e. attestd's agent key policy);
 *   tpm2_create of a P-256 signing key with that policy and a 32-byte auth
 *   value, tpm2_load once to key.ctx; an "agent CA" certificate holding
 *   the TPM key's public key, and a stand-in CA with the same subject and a
 *   software key so `openssl x509 -CA` will build leaves. Timed, per
 *   certificate, one `sh issue.sh` (see BASELINE_SCRIPT): openssl genpkey
 *   (leaf key, as attestd makes one) + pkey -pubout; openssl x509 -new
 *   with the leaf profile (SAN URI, EKU, KU, basicConstraints, task and
 *   scopes extensions; no AKI) signed by the stand-in; asn1parse -strparse
 *   takes out the TBS; openssl dgst -sha256; tpm2_pcrreset 23;
 *   tpm2_pcrextend 23:sha256=M; tpm2_startauthsession --policy-session;
 *   tpm2_policypcr; tpm2_policyauthvalue; tpm2_policycommandcode
 *   TPM2_CC_Sign; tpm2_sign -d with session+auth value; tpm2_flushcontext
 *   of the session; DER assembly of tbs || ecdsa-with-SHA256 || signature
 *   (printf/xxd) and openssl x509 to PEM, then the chain file. Untimed
 *   after each: tpm2_flushcontext -t (the transient key.ctx reload that
 *   /dev/tpmrm0 would drop at process exit; swtpm has no resource manager).
 *   The baseline does not Load the key per certificate (key.ctx is a saved
 *   context; tpm2_sign ContextLoads it), attestd does.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "core/json.h"
#include "core/num.h"
#include "net/client.h"
#include "tpm/tpm.h"
#include "tpm/tpmpolicy.h"
#include "testutil_daemon.h"

#define STRICT_N 100
#define STRICT_WIRE_N 10
#define SESSION_SECONDS 2
/* ATTEST_BENCH_ISSUE_SECONDS: each session phase's length, for profiling
 * (bench/README.md, issue 17 item 1); SESSION_SECONDS otherwise */
static int session_seconds = SESSION_SECONDS;
#define SESSION_WIRE_N 300
#define BASELINE_N 15
#define WARMUP 3
#define MAX_SAMPLES 200
#define AGENT_PCR_INDEX 23

_Static_assert(STRICT_N <= MAX_SAMPLES && BASELINE_N <= MAX_SAMPLES, "sample arrays");

static const char *const agent_names[] = { "bench-a", "bench-b", "bench-s" };


/* Nearest-rank percentile of v[0..n) (sorted in place). */
static double pct(double *v, int n, double p)
{
	int k;

	tu_sort_doubles(v, (size_t)n);
	k = (int)(p / 100.0 * n + 0.999999) - 1;
	if (k < 0)
		k = 0;
	if (k >= n)
		k = n - 1;
	return v[k];
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* ================= requester (the registered copy of us) ================= */

static int req_stats(const char *admin, uint64_t *out)
{
	cJSON *req = cJSON_Parse("{\"op\":\"stats\"}"), *rep = NULL;
	int r;

	if (req == NULL)
		return ATTEST_E_NOMEM;
	r = attest_client_call(admin, req, -1, &rep);
	cJSON_Delete(req);
	if (r != ATTEST_OK)
		return r;
	r = attest_json_u64(rep, "tpm_commands", out);
	cJSON_Delete(rep);
	return r;
}

/* A P-256 key and a PEM PKCS#10 request for it (the agent keeps its key). */
static char *make_csr(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509_REQ *req = X509_REQ_new();
	X509_NAME *nm = X509_NAME_new();
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL, *data;
	long n;

	if (k != NULL && req != NULL && nm != NULL && b != NULL &&
	    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"bench", -1,
				       -1, 0) == 1 &&
	    X509_REQ_set_subject_name(req, nm) == 1 && X509_REQ_set_pubkey(req, k) == 1 &&
	    X509_REQ_sign(req, k, EVP_sha256()) > 0 && PEM_write_bio_X509_REQ(b, req) == 1 &&
	    (n = BIO_get_mem_data(b, &data)) > 0)
		out = strndup(data, (size_t)n);
	BIO_free(b);
	X509_NAME_free(nm);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	return out;
}

static const char *req_csr; /* set: requests carry this CSR */

static int req_issue(const char *sock, const char *agent, const char *mode, const char *chain_out)
{
	struct attest_cert_request rq;
	struct attest_cert *c = NULL;
	int r;

	memset(&rq, 0, sizeof(rq));
	rq.agent = agent;
	rq.mode = mode;
	rq.task_id = "bench-task";
	rq.csr_pem = req_csr;
	r = attest_client_issue(sock, &rq, &c);
	if (r != ATTEST_OK) {
		fprintf(stderr, "bench_issue requester: %s %s: %s (%s)\n", mode, agent,
			attest_errname(r), attest_errdetail());
		return r;
	}
	if (chain_out != NULL)
		tu_write(chain_out, c->chain_pem, strlen(c->chain_pem));
	attest_cert_free(c);
	return ATTEST_OK;
}

static void emit_latency(double *v, int n)
{
	double sum = 0;

	for (int i = 0; i < n; i++)
		sum += v[i];
	printf("n %d\nmean %.4f\n", n, sum / n);
	printf("p50 %.4f\n", pct(v, n, 50));
	printf("p99 %.4f\n", pct(v, n, 99));
	printf("max %.4f\n", v[n - 1]);
}

/* Decimal int in [min, max] (attest_parse_u64, min >= 0); -1 on anything else. */
static int parse_int(const char *s, int min, int max)
{
	uint64_t v;

	if (attest_parse_u64(s, (uint64_t)min, (uint64_t)max, &v) != ATTEST_OK)
		return -1;
	return (int)v;
}

/* argv: --requester PHASE SOCK ADMIN N CHAIN_OUT CPU SECONDS */
static int requester_main(int argc, char **argv)
{
	const char *phase, *sock, *admin, *chain;
	double v[MAX_SAMPLES], t0;
	uint64_t c0, c1;
	int n, cpu;

	if (argc != 9 || (session_seconds = parse_int(argv[8], 1, 600)) < 0)
		return 2;
	phase = argv[2];
	sock = argv[3];
	admin = argv[4];
	n = parse_int(argv[5], 0, 1000000); /* 0: run for a fixed time */
	chain = argv[6];
	cpu = strcmp(argv[7], "-1") == 0 ? -1 : parse_int(argv[7], 0, 1023);
	if (n < 0 || (cpu < 0 && strcmp(argv[7], "-1") != 0))
		return 2;
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0)
			return 3;
	}
	if (strcmp(phase, "strict-same") == 0 || strcmp(phase, "strict-alt") == 0) {
		int alt = strcmp(phase, "strict-alt") == 0;

		if (n < 1 || n > MAX_SAMPLES)
			return 2;
		/* warm-up; the alternating one ends on bench-b */
		for (int i = 0; i < WARMUP; i++)
			if (req_issue(sock, alt && i % 2 == 0 ? "bench-b" : "bench-a", "strict", NULL) !=
			    ATTEST_OK)
				return 1;
		if (req_stats(admin, &c0) != ATTEST_OK)
			return 1;
		for (int i = 0; i < n; i++) {
			const char *who = alt && i % 2 == 1 ? "bench-b" : "bench-a";

			t0 = tu_now_ms();
			if (req_issue(sock, who, "strict", i == n - 1 ? chain : NULL) != ATTEST_OK)
				return 1;
			v[i] = tu_now_ms() - t0;
		}
		if (req_stats(admin, &c1) != ATTEST_OK)
			return 1;
		printf("certs %d\ntpm_cmds %llu\n", n, (unsigned long long)(c1 - c0));
		emit_latency(v, n);
		return 0;
	}
	if (strcmp(phase, "session-csr") == 0) {
		if ((req_csr = make_csr()) == NULL)
			return 1;
		phase = "session";
	}
	if (strcmp(phase, "session") == 0 || strcmp(phase, "session-conc") == 0) {
		/* n > 0: exactly n requests; n == 0: for SESSION_SECONDS.
		 * session-conc (16 at once): no stats calls, whose admin
		 * connections the admin socket's small client cap refused
		 * (the concurrent figure printed n/a) */
		int stats = strcmp(phase, "session") == 0;
		double first, start, end, lat_sum = 0;
		long certs = 0;

		c0 = c1 = 0;
		if (stats && req_stats(admin, &c0) != ATTEST_OK)
			return 1;
		t0 = tu_now_ms();
		if (req_issue(sock, "bench-s", "session", chain) != ATTEST_OK)
			return 1;
		first = tu_now_ms() - t0;
		start = tu_now_ms();
		for (;;) {
			double t = tu_now_ms();

			if (n > 0 ? certs >= n : t - start >= session_seconds * 1e3)
				break;
			if (req_issue(sock, "bench-s", "session", NULL) != ATTEST_OK)
				return 1;
			certs++;
			lat_sum += tu_now_ms() - t;
		}
		end = tu_now_ms();
		if (stats && req_stats(admin, &c1) != ATTEST_OK)
			return 1;
		printf("first_ms %.4f\ncerts %ld\nseconds %.4f\ntpm_cmds %llu\nmean %.4f\n", first,
		       certs, (end - start) / 1e3, (unsigned long long)(c1 - c0),
		       certs ? lat_sum / (double)certs : 0.0);
		{
			/* the requester's own CPU over the whole phase (issue 17
			 * item 1: CPU per certificate, client side) */
			struct timespec ts;

			if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0)
				printf("cpu_ms %.4f\n", (double)ts.tv_sec * 1e3 + ts.tv_nsec / 1e6);
		}
		return 0;
	}
	return 2;
}

/* ================= TPM command counting proxy ================= */

struct wire_counts {
	uint64_t total;
	uint64_t by_cc[0x200]; /* index cc - TPM2_CC_FIRST */
};

struct proxy {
	pid_t pid;
	int port; /* data port; control is port + 1 */
	struct wire_counts *counts; /* shared with the proxy process */
};

struct pconn {
	int cfd, ufd, data;
	uint8_t hdr[10];
	int hdr_got;
	uint32_t skip;
};

static int listen_on(int port, int *out_port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		close(fd);
		return -1;
	}
	*out_port = ntohs(sa.sin_port);
	return fd;
}

static int connect_port(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Count the commands in a client->TPM byte stream chunk. */
static void count_stream(struct pconn *c, const uint8_t *p, size_t n, struct wire_counts *w)
{
	while (n > 0) {
		if (c->skip > 0) {
			size_t k = n < c->skip ? n : c->skip;

			c->skip -= (uint32_t)k;
			p += k;
			n -= k;
			continue;
		}
		c->hdr[c->hdr_got++] = *p++;
		n--;
		if (c->hdr_got == 10) {
			uint32_t size = (uint32_t)c->hdr[2] << 24 | (uint32_t)c->hdr[3] << 16 |
					(uint32_t)c->hdr[4] << 8 | c->hdr[5];
			uint32_t cc = (uint32_t)c->hdr[6] << 24 | (uint32_t)c->hdr[7] << 16 |
				      (uint32_t)c->hdr[8] << 8 | c->hdr[9];

			__atomic_add_fetch(&w->total, 1, __ATOMIC_SEQ_CST);
			if (cc >= TPM2_CC_FIRST && cc - TPM2_CC_FIRST < 0x200)
				__atomic_add_fetch(&w->by_cc[cc - TPM2_CC_FIRST], 1, __ATOMIC_SEQ_CST);
			c->skip = size > 10 ? size - 10 : 0;
			c->hdr_got = 0;
		}
	}
}

#define PROXY_MAX_CONNS 16

static void proxy_loop(int la, int lb, int up, struct wire_counts *w)
{
	struct pconn conns[PROXY_MAX_CONNS];
	struct pollfd pfd[2 + 2 * PROXY_MAX_CONNS];
	uint8_t buf[8192];

	for (int i = 0; i < PROXY_MAX_CONNS; i++)
		conns[i].cfd = -1;
	for (;;) {
		int np = 0;

		pfd[np++] = (struct pollfd){ .fd = la, .events = POLLIN };
		pfd[np++] = (struct pollfd){ .fd = lb, .events = POLLIN };
		for (int i = 0; i < PROXY_MAX_CONNS; i++) {
			pfd[np++] = (struct pollfd){ .fd = conns[i].cfd, .events = POLLIN };
			pfd[np++] = (struct pollfd){ .fd = conns[i].cfd < 0 ? -1 : conns[i].ufd,
						     .events = POLLIN };
		}
		if (poll(pfd, (nfds_t)np, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		for (int l = 0; l < 2; l++) {
			int fd, slot = -1;

			if (!(pfd[l].revents & POLLIN))
				continue;
			if ((fd = accept4(pfd[l].fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
				continue;
			for (int i = 0; i < PROXY_MAX_CONNS && slot < 0; i++)
				if (conns[i].cfd < 0)
					slot = i;
			if (slot < 0) {
				close(fd);
				continue;
			}
			memset(&conns[slot], 0, sizeof(conns[0]));
			if ((conns[slot].ufd = connect_port(up + l)) < 0) {
				close(fd);
				conns[slot].cfd = -1;
				continue;
			}
			conns[slot].cfd = fd;
			conns[slot].data = l == 0;
		}
		for (int i = 0; i < PROXY_MAX_CONNS; i++) {
			struct pconn *c = &conns[i];
			int drop = 0;

			if (c->cfd < 0)
				continue;
			for (int dir = 0; dir < 2 && !drop; dir++) {
				struct pollfd *p = &pfd[2 + 2 * i + dir];
				int from = dir == 0 ? c->cfd : c->ufd, to = dir == 0 ? c->ufd : c->cfd;
				ssize_t got;

				if (!(p->revents & (POLLIN | POLLHUP | POLLERR)))
					continue;
				got = read(from, buf, sizeof(buf));
				if (got <= 0) {
					drop = 1;
					break;
				}
				if (dir == 0 && c->data)
					count_stream(c, buf, (size_t)got, w);
				for (ssize_t off = 0; off < got;) {
					ssize_t wr = write(to, buf + off, (size_t)(got - off));

					if (wr <= 0) {
						drop = 1;
						break;
					}
					off += wr;
				}
			}
			if (drop) {
				close(c->cfd);
				close(c->ufd);
				c->cfd = -1;
			}
		}
	}
}

/* A proxy on two consecutive loopback ports in front of swtpm at `up`. */
static int proxy_start(int up, struct proxy *p)
{
	int la = -1, lb = -1;

	memset(p, 0, sizeof(*p));
	p->counts = mmap(NULL, sizeof(*p->counts), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p->counts == MAP_FAILED) {
		p->counts = NULL;
		return -1;
	}
	for (int i = 0; i < 50 && lb < 0; i++) {
		int pb;

		if ((la = listen_on(0, &p->port)) < 0)
			break;
		if (p->port < 65535 && (lb = listen_on(p->port + 1, &pb)) >= 0)
			break;
		close(la);
		la = -1;
	}
	if (la < 0 || lb < 0) {
		if (la >= 0)
			close(la);
		return -1;
	}
	if ((p->pid = fork()) < 0) {
		close(la);
		close(lb);
		return -1;
	}
	if (p->pid == 0) {
		proxy_loop(la, lb, up, p->counts);
		_exit(0);
	}
	close(la);
	close(lb);
	return 0;
}

static void proxy_stop(struct proxy *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
	if (p->counts != NULL)
		munmap(p->counts, sizeof(*p->counts));
	p->counts = NULL;
}

static const struct {
	uint32_t cc;
	const char *name;
} cc_names[] = {
	{ TPM2_CC_Load, "Load" },
	{ TPM2_CC_StartAuthSession, "StartAuthSession" },
	{ TPM2_CC_PolicyPCR, "PolicyPCR" },
	{ TPM2_CC_PolicyAuthValue, "PolicyAuthValue" },
	{ TPM2_CC_PolicyCommandCode, "PolicyCommandCode" },
	{ TPM2_CC_PolicyRestart, "PolicyRestart" },
	{ TPM2_CC_Sign, "Sign" },
	{ TPM2_CC_FlushContext, "FlushContext" },
	{ TPM2_CC_PCR_Reset, "PCR_Reset" },
	{ TPM2_CC_PCR_Extend, "PCR_Extend" },
	{ TPM2_CC_ReadPublic, "ReadPublic" },
	{ TPM2_CC_GetCapability, "GetCapability" },
	{ TPM2_CC_ContextLoad, "ContextLoad" },
	{ TPM2_CC_ContextSave, "ContextSave" },
	{ TPM2_CC_CreatePrimary, "CreatePrimary" },
};

/* "Name xN.NN, ..." per certificate, for the commands that moved. */
static void wire_breakdown(const struct wire_counts *before, const struct wire_counts *after,
			   double certs, char *out, size_t outsz)
{
	size_t len = 0;

	out[0] = '\0';
	for (uint32_t i = 0; i < 0x200; i++) {
		uint64_t dlt = after->by_cc[i] - before->by_cc[i];
		const char *name = NULL;
		char unk[16];

		if (dlt == 0)
			continue;
		for (size_t k = 0; k < sizeof(cc_names) / sizeof(cc_names[0]); k++)
			if (cc_names[k].cc == i + TPM2_CC_FIRST)
				name = cc_names[k].name;
		if (name == NULL) {
			snprintf(unk, sizeof(unk), "cc0x%03x", (unsigned)(i + TPM2_CC_FIRST));
			name = unk;
		}
		if (len < outsz)
			len += (size_t)snprintf(out + len, outsz - len, "%s%s %.2f", len ? ", " : "",
						name, (double)dlt / certs);
	}
}

/* ================= parent ================= */

#define MAX_KV 16

struct kv {
	int n;
	char key[MAX_KV][32];
	double val[MAX_KV];
	int ok;
};

static double kv_get(const struct kv *k, const char *key)
{
	for (int i = 0; i < k->n; i++)
		if (strcmp(k->key[i], key) == 0)
			return k->val[i];
	return -1;
}

/* CPU of attestd's monitor and front over a phase (ms, all threads) */
struct cpu_mark {
	double mon, front;
};

struct bench {
	struct daemon d;
	struct tu_tpm b;
	char copy[700];   /* the registered requester binary */
	char run[600];    /* baseline scratch dir */
	char root[700];   /* fleet root certificate */
	char chain[3][800];
	int failures;
	/* results */
	struct kv same, alt, sess, sess_free, sess_csr, w_same, w_alt, w_sess;
	struct kv np_alt, np_sess; /* attestd --no-privsep, same run */
	double conc_rate;          /* CONCURRENT session requesters: certs/s, summed */
	double conc_certs;         /* their certificates, summed */
	struct cpu_mark sess_cpu[2], conc_cpu[2]; /* attestd's CPU before/after */
	struct wire_counts wc0, wc1, wc2, wc3;
	struct proxy px;
	double ecdsa, base_p50;
	int cpu, wire_ok;
};

/* One global: CUnit asserts in testutil_daemon may longjmp out of the
 * bench body, and main still reports and cleans up what it started. */
static struct bench g;

static void write_pidfile(struct bench *b)
{
	char path[700], buf[32];

	snprintf(path, sizeof(path), "%s/attestd.pid", b->d.sw.dir);
	snprintf(buf, sizeof(buf), "%d\n", (int)b->d.pid);
	tu_write(path, buf, strlen(buf));
}

/* In a child: become the requester copy for phase, writing to wfd. */
static void exec_requester(struct bench *b, const char *phase, const char *nbuf, const char *chain,
			   const char *cpubuf, int wfd)
{
	char secs[16];
	char *argv[] = { b->copy, "--requester", (char *)phase, b->d.sock, b->d.admin,
			 (char *)nbuf, (char *)chain, (char *)cpubuf, secs, NULL };

	snprintf(secs, sizeof(secs), "%d", session_seconds);

	dup2(wfd, 1);
	if (wfd != 1)
		close(wfd);
	/* attestd refuses callers whose initial environment sets these */
	unsetenv("LD_PRELOAD");
	unsetenv("LD_AUDIT");
	unsetenv("LD_LIBRARY_PATH");
	execv(b->copy, argv);
	_exit(127);
}

/* Issue 17: CONCURRENT session requesters at once for SESSION_SECONDS
 * each, unpinned; the sum of their certificates/s, or -1 if one failed. */
#define CONCURRENT 16
static double run_concurrent(struct bench *b)
{
	pid_t pid[CONCURRENT];
	FILE *f[CONCURRENT];
	double rate = 0;
	int failed = 0;

	fflush(stdout);
	for (int i = 0; i < CONCURRENT; i++) {
		char chain[800];
		int pfd[2];

		pid[i] = -1;
		f[i] = NULL;
		snprintf(chain, sizeof(chain), "%s/chain-c%d.pem", b->d.sw.dir, i);
		if (pipe(pfd) != 0 || (pid[i] = fork()) < 0) {
			failed = 1;
			break;
		}
		if (pid[i] == 0) {
			close(pfd[0]);
			exec_requester(b, "session-conc", "0", chain, "-1", pfd[1]);
		}
		close(pfd[1]);
		f[i] = fdopen(pfd[0], "r");
	}
	for (int i = 0; i < CONCURRENT; i++) {
		char line[256], key[32];
		double v, certs = -1, secs = -1;
		int st = 0;

		while (f[i] != NULL && fgets(line, sizeof(line), f[i]) != NULL)
			if (sscanf(line, "%31s %lf", key, &v) == 2) {
				if (strcmp(key, "certs") == 0)
					certs = v;
				else if (strcmp(key, "seconds") == 0)
					secs = v;
			}
		if (f[i] != NULL)
			fclose(f[i]);
		if (pid[i] > 0)
			waitpid(pid[i], &st, 0);
		if (pid[i] <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || certs < 0 || secs <= 0)
			failed = 1;
		else {
			rate += certs / secs;
			b->conc_certs += certs;
		}
	}
	if (failed) {
		fprintf(stderr, "bench_issue: a concurrent session requester failed; attestd log: %s\n",
			b->d.log);
		b->failures++;
		return -1;
	}
	return rate;
}

/* Run the requester copy for one phase; its "key value" lines into *out. */
static int run_requester(struct bench *b, const char *phase, int n, const char *chain, int cpu,
			 struct kv *out)
{
	char nbuf[16], cpubuf[16];
	int pfd[2], st;
	pid_t pid;
	FILE *f;
	char line[256];

	memset(out, 0, sizeof(*out));
	snprintf(nbuf, sizeof(nbuf), "%d", n);
	snprintf(cpubuf, sizeof(cpubuf), "%d", cpu);
	if (pipe(pfd) != 0)
		return -1;
	fflush(stdout);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		close(pfd[0]);
		exec_requester(b, phase, nbuf, chain, cpubuf, pfd[1]);
	}
	close(pfd[1]);
	f = fdopen(pfd[0], "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL && out->n < MAX_KV) {
		if (sscanf(line, "%31s %lf", out->key[out->n], &out->val[out->n]) == 2)
			out->n++;
	}
	if (f != NULL)
		fclose(f);
	else
		close(pfd[0]);
	waitpid(pid, &st, 0);
	out->ok = WIFEXITED(st) && WEXITSTATUS(st) == 0 && out->n > 0;
	if (!out->ok) {
		fprintf(stderr, "bench_issue: requester phase %s failed (status %d); attestd log: %s\n",
			phase, st, b->d.log);
		(void)tu_sh("tail -n 5 '%s' >&2", b->d.log);
		b->failures++;
	}
	return out->ok ? 0 : -1;
}

/* The chain a phase saved verifies to the fleet root (untimed). */
static int check_chain(struct bench *b, const char *chain, const char *what)
{
	if (tu_sh("openssl verify -CAfile '%s' -untrusted '%s' '%s' >/dev/null 2>&1", b->root, chain,
		  chain) != 0) {
		fprintf(stderr, "bench_issue: %s chain does not verify\n", what);
		b->failures++;
		return -1;
	}
	return 0;
}

static void print_val(const char *name, int ok, double v, int decimals, const char *note)
{
	if (ok) {
		char num[64];

		snprintf(num, sizeof(num), "%.*f", decimals, v);
		printf("%-44s %10s  %s\n", name, num, note);
	} else {
		printf("%-44s %10s  %s\n", name, "n/a", note);
	}
}

static int copy_self(struct bench *b)
{
	char self[700];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return -1;
	self[n] = '\0';
	snprintf(b->copy, sizeof(b->copy), "%s/bench_issue_agent", b->d.sw.dir);
	return tu_sh("cp '%s' '%s' && chmod 0755 '%s'", self, b->copy, b->copy);
}

static int register_all(struct bench *b)
{
	for (size_t i = 0; i < sizeof(agent_names) / sizeof(agent_names[0]); i++) {
		char json[1200];
		cJSON *rep = NULL;
		int r;

		snprintf(json, sizeof(json),
			 "{\"op\":\"register\",\"name\":\"%s\",\"binary\":\"%s\",\"uids\":[%u],"
			 "\"scopes\":[\"ehr:read\",\"ehr:write\"],\"risk_tier\":\"high\","
			 "\"data_classes\":[\"phi\"],\"max_ttl\":600,\"delegate_depth\":1,"
			 TU_ENV_ALLOW_JSON "}",
			 agent_names[i], b->copy, (unsigned)getuid());
		if ((r = admin_call(&b->d, json, &rep)) != ATTEST_OK) {
			fprintf(stderr, "bench_issue: register %s: %s (%s)\n", agent_names[i],
				attest_errname(r), attest_errdetail());
			b->failures++;
			return -1;
		}
		cJSON_Delete(rep);
	}
	return 0;
}

/* ---- openssl speed ---- */

static double openssl_sign_rate(struct bench *b)
{
	FILE *p = popen("openssl speed -seconds 2 ecdsap256 2>/dev/null", "r");
	char line[512];
	double rate = -1;

	if (p == NULL)
		goto fail;
	while (fgets(line, sizeof(line), p) != NULL) {
		const char *q = strstr(line, "ecdsa (nistp256)");
		double ts, tv, sps, vps;

		if (q != NULL && sscanf(q + strlen("ecdsa (nistp256)"), " %lfs %lfs %lf %lf", &ts, &tv,
					&sps, &vps) == 4)
			rate = sps;
	}
	if (pclose(p) != 0 || rate <= 0)
		goto fail;
	return rate;
fail:
	fprintf(stderr, "bench_issue: could not read a sign/s figure from openssl speed\n");
	b->failures++;
	return -1;
}

/* ---- baseline: tpm2-tools + openssl CLI ---- */

/* Per certificate; $1 = round. Expects vars.sh (TPM2TOOLS_TCTI, M, AUTH,
 * SUBJ, SAN) and the setup's files in the current directory. */
static const char BASELINE_SCRIPT[] =
	"set -e\n"
	". ./vars.sh\n"
	"derlen() { if [ \"$1\" -lt 128 ]; then printf '%02x' \"$1\"; "
	"elif [ \"$1\" -lt 256 ]; then printf '81%02x' \"$1\"; else printf '82%04x' \"$1\"; fi; }\n"
	"openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf.key\n"
	"openssl pkey -in leaf.key -pubout -out leaf.pub\n"
	"openssl x509 -new -subj \"$SUBJ\" -force_pubkey leaf.pub -CA standin.pem "
	"-CAkey standin.key -days 1 -extfile leaf.cnf -extensions leaf -outform DER -out pre.der\n"
	"openssl asn1parse -inform DER -in pre.der -strparse 4 -noout -out tbs.der\n"
	"openssl dgst -sha256 -binary -out tbs.sha256 tbs.der\n"
	"tpm2_pcrreset 23\n"
	"tpm2_pcrextend 23:sha256=$M\n"
	"tpm2_startauthsession --policy-session -S s.ctx\n"
	"tpm2_policypcr -S s.ctx -l sha256:23\n"
	"tpm2_policyauthvalue -S s.ctx\n"
	"tpm2_policycommandcode -S s.ctx TPM2_CC_Sign\n"
	"tpm2_sign -c key.ctx -p \"session:s.ctx+hex:$AUTH\" -g sha256 -d -f plain -o sig.der "
	"tbs.sha256\n"
	"tpm2_flushcontext s.ctx\n"
	"sl=$(wc -c < sig.der)\n"
	"body=\"$(xxd -p tbs.der | tr -d '\\n')300a06082a8648ce3d04030203$(derlen $((sl + 1)))00"
	"$(xxd -p sig.der | tr -d '\\n')\"\n"
	"printf '30%s%s' \"$(derlen $((${#body} / 2)))\" \"$body\" | xxd -r -p > cert.der\n"
	"openssl x509 -inform DER -in cert.der -out leaf.pem\n"
	"cat leaf.pem agentca.pem > chain.pem\n";

static const char BASELINE_SETUP[] =
	"set -e\n"
	". ./vars.sh\n"
	"tpm2_createprimary -C o -g sha256 -G ecc -c srk.ctx\n"
	"tpm2_evictcontrol -C o -c srk.ctx 0x81000001\n"
	"tpm2_flushcontext -t\n"
	"tpm2_startauthsession -S trial.ctx\n"
	"tpm2_policypcr -S trial.ctx -l sha256:23 -f pcr.bin\n"
	"tpm2_policyauthvalue -S trial.ctx\n"
	"tpm2_policycommandcode -S trial.ctx -L policy.bin TPM2_CC_Sign\n"
	"tpm2_flushcontext trial.ctx\n"
	"tpm2_create -C 0x81000001 -G ecc_nist_p256:ecdsa-sha256:null "
	"-a 'fixedtpm|fixedparent|sensitivedataorigin|sign' -L policy.bin -p hex:$AUTH "
	"-u key.pub -r key.priv\n"
	"tpm2_flushcontext -t\n"
	"tpm2_load -C 0x81000001 -u key.pub -r key.priv -c key.ctx\n"
	"tpm2_flushcontext -t\n"
	"tpm2_readpublic -c key.ctx -f pem -o key.pem\n"
	"tpm2_flushcontext -t\n"
	"openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out standin.key\n"
	"openssl x509 -new -subj \"$CASUBJ\" -key standin.key -force_pubkey key.pem -days 1 "
	"-out agentca.pem\n"
	"openssl x509 -new -subj \"$CASUBJ\" -key standin.key -days 1 -out standin.pem\n";

static const char LEAF_CNF[] =
	"[leaf]\n"
	"basicConstraints = critical, CA:FALSE\n"
	"keyUsage = critical, digitalSignature\n"
	"extendedKeyUsage = serverAuth, clientAuth\n"
	"subjectAltName = URI:spiffe://fleet.example/host/web-01/agent/bench-a\n"
	"subjectKeyIdentifier = hash\n"
	"authorityKeyIdentifier = none\n"
	"2.25.93251439453096883299713058207005317158.1.8 = ASN1:UTF8String:bench-task\n"
	"2.25.93251439453096883299713058207005317158.1.9 = ASN1:UTF8String:ehr:read ehr:write\n";

static int sh_in(struct bench *b, const char *dir, const char *cmd, double *ms)
{
	double t0 = tu_now_ms();
	int st = tu_sh("cd '%s' && %s >/dev/null 2>>'%s/baseline.log'", dir, cmd, dir);

	if (ms != NULL)
		*ms = tu_now_ms() - t0;
	if (st != 0) {
		fprintf(stderr, "bench_issue: baseline '%s' exited %d; end of %s/baseline.log:\n", cmd,
			st, dir);
		(void)tu_sh("tail -n 4 '%s/baseline.log' >&2", dir);
		b->failures++;
	}
	return st;
}

static int write_in(const char *dir, const char *name, const void *data, size_t len)
{
	char path[900];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -1;
	tu_write(path, data, len);
	return 0;
}

/* p50 of BASELINE_N certificates in ms; -1 on failure. */
static double baseline(struct bench *b)
{
	uint8_t m[32], auth[32], buf[64], pcr[32];
	char mh[65], ah[65], vars[1400], dir[700], *pol = NULL;
	double v[MAX_SAMPLES], ms;
	TPM2B_DIGEST want;
	size_t pol_len = 0;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/baseline", b->run);
	if (mkdir(dir, 0700) != 0 || RAND_bytes(m, 32) != 1 || RAND_bytes(auth, 32) != 1)
		goto fail;
	hex(m, 32, mh);
	hex(auth, 32, ah);
	memset(buf, 0, 32);
	memcpy(buf + 32, m, 32);
	if (EVP_Digest(buf, sizeof(buf), pcr, NULL, EVP_sha256(), NULL) != 1 ||
	    attest_policy_digest_sign(1u << AGENT_PCR_INDEX, pcr, 32, &want) != ATTEST_OK)
		goto fail;
	snprintf(vars, sizeof(vars),
		 "export TPM2TOOLS_TCTI='%s'\nM=%s\nAUTH=%s\n"
		 "CASUBJ='/O=fleet.example/CN=bench-a'\n"
		 "SUBJ='/O=fleet.example/CN=spiffe:\\/\\/fleet.example\\/host\\/web-01\\/agent\\/"
		 "bench-a'\n",
		 b->b.tcti, mh, ah);
	if (write_in(dir, "vars.sh", vars, strlen(vars)) != 0 ||
	    write_in(dir, "pcr.bin", pcr, 32) != 0 ||
	    write_in(dir, "setup.sh", BASELINE_SETUP, sizeof(BASELINE_SETUP) - 1) != 0 ||
	    write_in(dir, "issue.sh", BASELINE_SCRIPT, sizeof(BASELINE_SCRIPT) - 1) != 0 ||
	    write_in(dir, "leaf.cnf", LEAF_CNF, sizeof(LEAF_CNF) - 1) != 0)
		goto fail;
	if (sh_in(b, dir, "sh setup.sh", NULL) != 0)
		return -1;
	{
		char path[800];

		snprintf(path, sizeof(path), "%s/policy.bin", dir);
		pol = tu_slurp(path, &pol_len);
		if (pol_len != want.size || memcmp(pol, want.buffer, pol_len) != 0) {
			fprintf(stderr, "bench_issue: the baseline key's policy differs from "
					"attest_policy_digest_sign's\n");
			free(pol);
			goto fail;
		}
		free(pol);
	}
	for (int i = 0; i < WARMUP + BASELINE_N; i++) {
		if (sh_in(b, dir, "sh issue.sh", &ms) != 0 ||
		    sh_in(b, dir, ". ./vars.sh && tpm2_flushcontext -t", NULL) != 0)
			return -1;
		if (i >= WARMUP)
			v[n++] = ms;
	}
	/* the last certificate verifies with the TPM key as its issuer's key */
	if (sh_in(b, dir, "openssl verify -partial_chain -CAfile agentca.pem leaf.pem", NULL) != 0)
		return -1;
	return pct(v, n, 50);
fail:
	fprintf(stderr, "bench_issue: baseline setup failed\n");
	b->failures++;
	return -1;
}

/* Wait until the copy's ctime is old enough for attestd's measurement cache. */
static void wait_cacheable(const char *path)
{
	struct stat st;
	struct timespec now;

	if (stat(path, &st) != 0)
		return;
	for (;;) {
		clock_gettime(CLOCK_REALTIME, &now);
		if (now.tv_sec > st.st_ctim.tv_sec + 3)
			return;
		usleep(100000);
	}
}

static int daemon_ok(struct bench *b)
{
	struct stat st;

	if (b->d.pid <= 0 || stat(b->d.admin, &st) != 0 || waitpid(b->d.pid, NULL, WNOHANG) != 0) {
		fprintf(stderr, "bench_issue: attestd did not start; log %s\n", b->d.log);
		(void)tu_sh("tail -n 5 '%s' >&2", b->d.log);
		b->failures++;
		return 0;
	}
	write_pidfile(b);
	return 1;
}

/* daemon_stop without its CUnit assertion (main calls this outside the run). */
static void stop_attestd(struct bench *b)
{
	int st;

	if (b->d.pid > 0) {
		kill(b->d.pid, SIGTERM);
		if (waitpid(b->d.pid, &st, 0) == b->d.pid && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
			fprintf(stderr, "bench_issue: attestd exited with status %d\n", st);
			b->failures++;
		}
		b->d.pid = 0;
	}
}

static int set_affinity(pid_t pid, int cpu, const cpu_set_t *restore)
{
	cpu_set_t set;

	if (restore != NULL)
		return sched_setaffinity(pid, sizeof(*restore), restore);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(pid, sizeof(set), &set);
}

/* Everything that talks to attestd and the TPMs; runs as a CUnit test
 * because testutil_daemon's helpers assert with CUnit. */
/* CPU time of every thread of pid so far, in ms (the first field of
 * /proc/PID/task/TID/schedstat, ns on a CPU); -1 if unreadable. */
static double proc_cpu_ms(pid_t pid)
{
	char path[96], line[128];
	double sum = 0;
	DIR *dir;
	struct dirent *e;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (pid <= 0 || (dir = opendir(path)) == NULL)
		return -1;
	while ((e = readdir(dir)) != NULL) {
		FILE *f;
		uint64_t ns;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.20s/schedstat", (int)pid, e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue; /* a thread that just exited */
		if (fgets(line, sizeof(line), f) != NULL &&
		    attest_parse_u64n(line, strcspn(line, " \n"), 0, UINT64_MAX, &ns) == ATTEST_OK)
			sum += (double)ns / 1e6;
		fclose(f);
	}
	closedir(dir);
	return sum;
}

/* attestd's front: the monitor's child (its first one listed), or 0 */
static pid_t front_of(pid_t monitor)
{
	char path[64], buf[64];
	uint64_t v;
	FILE *f;
	size_t n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)monitor, (int)monitor);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) != NULL)
		n = strcspn(buf, " \n");
	fclose(f);
	if (n == 0 || attest_parse_u64n(buf, n, 1, INT32_MAX, &v) != ATTEST_OK)
		return 0;
	return (pid_t)v;
}

static void cpu_mark(const struct bench *b, struct cpu_mark *m)
{
	m->mon = proc_cpu_ms(b->d.pid);
	m->front = proc_cpu_ms(front_of(b->d.pid));
}

/* ATTEST_BENCH_ISSUE_SESSION_ONLY=1: only the session phases (for
 * profiling attestd under them: bench/README.md, issue 17 item 1). */
static int session_only;

static void bench_body(void)
{
	struct bench *b = &g;
	char saved_tcti[256];
	cpu_set_t orig;
	int up_port = 0;

	daemon_up(&b->d);
	if ((size_t)snprintf(b->root, sizeof(b->root), "%s/root.pem", b->d.ca) >= sizeof(b->root))
		return;
	for (int i = 0; i < 3; i++)
		if ((size_t)snprintf(b->chain[i], sizeof(b->chain[i]), "%s/chain-%d.pem", b->d.sw.dir,
				     i) >= sizeof(b->chain[i]))
			return;
	if (!daemon_ok(b))
		return;
	if (copy_self(b) != 0) {
		fprintf(stderr, "bench_issue: cannot copy /proc/self/exe to %s\n", b->copy);
		b->failures++;
		return;
	}
	if (register_all(b) != 0)
		return;

	/* While the copy's ctime ages past attestd's racy-cache window: the
	 * openssl speed reference and the tpm2-tools baseline. */
	b->ecdsa = openssl_sign_rate(b);
	if (!session_only) {
		tu_tpm_start(&b->b);
		b->base_p50 = baseline(b);
		tu_tpm_stop(&b->b);
	}
	wait_cacheable(b->copy);

	/* strict mode */
	if (!session_only &&
	    run_requester(b, "strict-same", STRICT_N, b->chain[0], -1, &b->same) == 0)
		check_chain(b, b->chain[0], "strict same-agent");
	if (!session_only &&
	    run_requester(b, "strict-alt", STRICT_N, b->chain[1], -1, &b->alt) == 0)
		check_chain(b, b->chain[1], "strict alternating");

	/* session mode, attestd and the requester on one CPU */
	b->cpu = -1;
	if (sched_getaffinity(0, sizeof(orig), &orig) == 0)
		for (int i = 0; i < CPU_SETSIZE; i++)
			if (CPU_ISSET(i, &orig))
				b->cpu = i;
	if (b->cpu >= 0 && set_affinity(b->d.pid, b->cpu, NULL) != 0)
		b->cpu = -1;
	cpu_mark(b, &b->sess_cpu[0]);
	if (run_requester(b, "session", 0, b->chain[2], b->cpu, &b->sess) == 0)
		check_chain(b, b->chain[2], "session");
	cpu_mark(b, &b->sess_cpu[1]);
	if (b->cpu >= 0)
		(void)set_affinity(b->d.pid, 0, &orig);
	(void)run_requester(b, "session", 0, b->chain[2], -1, &b->sess_free);
	cpu_mark(b, &b->conc_cpu[0]);
	b->conc_rate = run_concurrent(b);
	cpu_mark(b, &b->conc_cpu[1]);
	/* the agent sends a CSR: attestd verifies it instead of making a key */
	if (b->cpu >= 0 && set_affinity(b->d.pid, b->cpu, NULL) != 0)
		b->cpu = -1;
	if (run_requester(b, "session-csr", 0, b->chain[2], b->cpu, &b->sess_csr) == 0)
		check_chain(b, b->chain[2], "session with CSR");
	if (b->cpu >= 0)
		(void)set_affinity(b->d.pid, 0, &orig);

	if (session_only)
		return;
	/* wire count: attestd restarted behind the counting proxy */
	memcpy(saved_tcti, b->d.sw.tcti, sizeof(saved_tcti));
	{
		const char *p = strstr(saved_tcti, "port=");

		up_port = p != NULL ? parse_int(p + 5, 1, 65535) : 0;
	}
	stop_attestd(b);
	if (up_port > 0 && proxy_start(up_port, &b->px) == 0) {
		struct kv warm;
		int ok = 1;

		snprintf(b->d.sw.tcti, sizeof(b->d.sw.tcti), "swtpm:host=127.0.0.1,port=%d",
			 b->px.port);
		daemon_start(&b->d, "64");
		memcpy(b->d.sw.tcti, saved_tcti, sizeof(saved_tcti));
		if (!daemon_ok(b))
			return;
		/* first use after a start (SRK lookup, PCR load) stays out of it;
		 * the phases' own warm-ups cost what their steady state costs */
		ok &= run_requester(b, "strict-same", 1, b->chain[0], -1, &warm) == 0;
		b->wc0 = *b->px.counts;
		ok &= run_requester(b, "strict-same", STRICT_WIRE_N, b->chain[0], -1, &b->w_same) == 0;
		b->wc1 = *b->px.counts;
		ok &= run_requester(b, "strict-alt", STRICT_WIRE_N, b->chain[1], -1, &b->w_alt) == 0;
		b->wc2 = *b->px.counts;
		ok &= run_requester(b, "session", SESSION_WIRE_N, b->chain[2], -1, &b->w_sess) == 0;
		b->wc3 = *b->px.counts;
		b->wire_ok = ok;
	} else {
		fprintf(stderr, "bench_issue: could not start the TPM command proxy\n");
		b->failures++;
	}
	/* the cost of privilege separation: the same strict and session
	 * phases with attestd --no-privsep (one process) */
	stop_attestd(b);
	b->d.extra_args[0] = "--no-privsep";
	daemon_start(&b->d, "64");
	b->d.extra_args[0] = NULL;
	if (!daemon_ok(b))
		return;
	if (run_requester(b, "strict-alt", STRICT_N, b->chain[1], -1, &b->np_alt) == 0)
		check_chain(b, b->chain[1], "strict alternating, --no-privsep");
	(void)run_requester(b, "session", 0, b->chain[2], -1, &b->np_sess);
}

/* attestd split (monitor + front, the default) against --no-privsep */
static void report_privsep(struct bench *b)
{
	const struct kv *a = &b->alt, *na = &b->np_alt, *s1 = &b->sess_free, *s0 = &b->np_sess;
	double r1 = s1->ok ? kv_get(s1, "certs") / kv_get(s1, "seconds") : 0;
	double r0 = s0->ok ? kv_get(s0, "certs") / kv_get(s0, "seconds") : 0;
	char note[160];

	snprintf(note, sizeof(note), "strict alternating, n=%d, attestd --no-privsep", STRICT_N);
	print_val("issue_strict_ms_p50_noprivsep", na->ok, kv_get(na, "p50"), 3, note);
	print_val("issue_strict_privsep_cost_ratio", a->ok && na->ok && kv_get(na, "p50") > 0,
		  a->ok && na->ok ? kv_get(a, "p50") / kv_get(na, "p50") : 0, 3,
		  "p50 split / p50 one process (1.0 = free)");
	print_val("issue_session_certs_per_s_noprivsep", s0->ok, r0, 0,
		  "unpinned, attestd --no-privsep");
	print_val("issue_session_privsep_rate_ratio", s1->ok && s0->ok && r0 > 0,
		  r0 > 0 ? r1 / r0 : 0, 3, "certs/s split / one process, unpinned (1.0 = free)");
}

static void report(struct bench *b)
{
	char note[256], bd[512];
	const struct kv *same = &b->same, *alt = &b->alt, *sess = &b->sess;
	double per_same = same->ok ? kv_get(same, "tpm_cmds") / kv_get(same, "certs") : 0;
	double per_alt = alt->ok ? kv_get(alt, "tpm_cmds") / kv_get(alt, "certs") : 0;
	double s_rate = sess->ok ? kv_get(sess, "certs") / kv_get(sess, "seconds") : 0;
	double s_free = b->sess_free.ok ? kv_get(&b->sess_free, "certs") /
						  kv_get(&b->sess_free, "seconds")
					: 0;
	double s_per1000 = sess->ok ? kv_get(sess, "tpm_cmds") * 1000.0 / (kv_get(sess, "certs") + 1)
				    : 0;

	snprintf(note, sizeof(note), "stats op delta / %d certs, PCR 23 already ours", STRICT_N);
	print_val("issue_strict_tpm_cmds_same_agent", same->ok, per_same, 2, note);
	snprintf(note, sizeof(note), "stats op delta / %d certs, 2 agents alternating", STRICT_N);
	print_val("issue_strict_tpm_cmds_alternating", alt->ok, per_alt, 2, note);
	snprintf(note, sizeof(note), "alternating (reset+extend each), n=%d, max %.2f", STRICT_N,
		 alt->ok ? kv_get(alt, "max") : 0);
	print_val("issue_strict_ms_p50", alt->ok, kv_get(alt, "p50"), 3, note);
	print_val("issue_strict_ms_p99", alt->ok, kv_get(alt, "p99"), 3, note);
	snprintf(note, sizeof(note), "same agent, n=%d, max %.2f", STRICT_N,
		 same->ok ? kv_get(same, "max") : 0);
	print_val("issue_strict_same_agent_ms_p50", same->ok, kv_get(same, "p50"), 3, note);
	print_val("issue_strict_same_agent_ms_p99", same->ok, kv_get(same, "p99"), 3, note);
	snprintf(note, sizeof(note), "tpm2-tools + openssl CLI, one sh script per cert, n=%d",
		 BASELINE_N);
	print_val("issue_strict_baseline_ms_p50", b->base_p50 > 0, b->base_p50, 3, note);
	print_val("issue_strict_speedup_vs_tpm2tools", b->base_p50 > 0 && alt->ok,
		  alt->ok ? b->base_p50 / kv_get(alt, "p50") : 0, 1,
		  "baseline p50 / alternating p50 (target >= 20)");
	snprintf(note, sizeof(note), "attestd + requester pinned to CPU %d, %.1f s, sequential",
		 b->cpu, (double)session_seconds);
	print_val("issue_session_certs_per_s", sess->ok, s_rate, 0, note);
	print_val("openssl_ecdsap256_sign_per_s", b->ecdsa > 0, b->ecdsa, 0,
		  "openssl speed -seconds 2 ecdsap256");
	print_val("issue_session_ratio_vs_ecdsa_sign", sess->ok && b->ecdsa > 0,
		  b->ecdsa > 0 ? s_rate / b->ecdsa : 0, 3,
		  "1 requester, pinned: goal >= 0.1 (issue 17)");
	print_val("issue_session_unpinned_ratio_vs_ecdsa_sign", b->sess_free.ok && b->ecdsa > 0,
		  b->ecdsa > 0 ? s_free / b->ecdsa : 0, 3,
		  "1 requester, unpinned: goal >= 0.1 (issue 17)");
	snprintf(note, sizeof(note), "%d requesters at once, unpinned, %.1f s each, summed",
		 CONCURRENT, (double)session_seconds);
	print_val("issue_session_16_certs_per_s", b->conc_rate > 0, b->conc_rate, 0, note);
	print_val("issue_session_16_ratio_vs_ecdsa_sign", b->conc_rate > 0 && b->ecdsa > 0,
		  b->ecdsa > 0 ? b->conc_rate / b->ecdsa : 0, 3,
		  "16 requesters: goal >= 0.3 (issue 17)");
	snprintf(note, sizeof(note), "stats op, over %.0f certs incl. making the session issuer",
		 sess->ok ? kv_get(sess, "certs") + 1 : 0);
	print_val("issue_session_tpm_cmds_per_1000", sess->ok, s_per1000, 2, note);
	{
		/* issue 17 item 1: where a certificate's CPU goes (schedstat of
		 * every thread; bench/README.md has the profile behind it) */
		double n1 = sess->ok ? kv_get(sess, "certs") + 1 : 0, n16 = b->conc_certs;
		const struct cpu_mark *s0 = &b->sess_cpu[0], *s1 = &b->sess_cpu[1];
		const struct cpu_mark *c0 = &b->conc_cpu[0], *c1 = &b->conc_cpu[1];

		print_val("issue_session_cpu_us_per_cert_monitor", n1 > 0 && s0->mon >= 0 && s1->mon >= 0,
			  n1 > 0 ? (s1->mon - s0->mon) * 1e3 / n1 : 0, 1,
			  "1 requester, pinned: root monitor, all threads");
		print_val("issue_session_cpu_us_per_cert_front",
			  n1 > 0 && s0->front >= 0 && s1->front >= 0,
			  n1 > 0 ? (s1->front - s0->front) * 1e3 / n1 : 0, 1,
			  "1 requester, pinned: unprivileged front");
		print_val("issue_session_cpu_us_per_cert_requester", n1 > 0 && kv_get(sess, "cpu_ms") > 0,
			  n1 > 0 ? kv_get(sess, "cpu_ms") * 1e3 / n1 : 0, 1,
			  "1 requester, pinned: the client (connect, JSON, PEM)");
		print_val("issue_session_16_cpu_us_per_cert_monitor",
			  n16 > 0 && c0->mon >= 0 && c1->mon >= 0,
			  n16 > 0 ? (c1->mon - c0->mon) * 1e3 / n16 : 0, 1, "16 requesters");
		print_val("issue_session_16_cpu_us_per_cert_front",
			  n16 > 0 && c0->front >= 0 && c1->front >= 0,
			  n16 > 0 ? (c1->front - c0->front) * 1e3 / n16 : 0, 1, "16 requesters");
	}
	print_val("issue_session_certs_per_s_unpinned", b->sess_free.ok, s_free, 0,
		  "same, no CPU pinning (issuer already made)");
	print_val("issue_session_csr_certs_per_s", b->sess_csr.ok,
		  b->sess_csr.ok ? kv_get(&b->sess_csr, "certs") / kv_get(&b->sess_csr, "seconds") : 0,
		  0, "pinned, the request carries a CSR (attestd verifies it, makes no key)");
	print_val("issue_session_ms_mean", sess->ok, kv_get(sess, "mean"), 4,
		  "per request, pinned run");
	print_val("issue_session_first_ms", sess->ok, kv_get(sess, "first_ms"), 3,
		  "first request: makes the session issuer (TPM sign)");

	/* wire counts, FlushContext included */
	if (b->wire_ok) {
		double cs = kv_get(&b->w_same, "certs") + WARMUP, ca = kv_get(&b->w_alt, "certs") + WARMUP;
		double css = kv_get(&b->w_sess, "certs") + 1;

		snprintf(note, sizeof(note), "at the swtpm socket, %.0f certs; stats op: %.2f", cs,
			 kv_get(&b->w_same, "tpm_cmds") / kv_get(&b->w_same, "certs"));
		print_val("issue_strict_tpm_cmds_same_agent_wire", 1,
			  (double)(b->wc1.total - b->wc0.total) / cs, 2, note);
		snprintf(note, sizeof(note), "at the swtpm socket, %.0f certs; stats op: %.2f", ca,
			 kv_get(&b->w_alt, "tpm_cmds") / kv_get(&b->w_alt, "certs"));
		print_val("issue_strict_tpm_cmds_alternating_wire", 1,
			  (double)(b->wc2.total - b->wc1.total) / ca, 2, note);
		snprintf(note, sizeof(note), "at the swtpm socket, %.0f certs incl. the issuer", css);
		print_val("issue_session_tpm_cmds_per_1000_wire", 1,
			  (double)(b->wc3.total - b->wc2.total) * 1000.0 / css, 2, note);
		wire_breakdown(&b->wc0, &b->wc1, cs, bd, sizeof(bd));
		printf("# TPM commands per strict cert, same agent: %s\n", bd);
		wire_breakdown(&b->wc1, &b->wc2, ca, bd, sizeof(bd));
		printf("# TPM commands per strict cert, alternating: %s\n", bd);
		wire_breakdown(&b->wc2, &b->wc3, css / 1000.0, bd, sizeof(bd));
		printf("# TPM commands per 1000 session certs: %s\n", bd);
	} else {
		print_val("issue_strict_tpm_cmds_same_agent_wire", 0, 0, 2, "");
		print_val("issue_strict_tpm_cmds_alternating_wire", 0, 0, 2, "");
		print_val("issue_session_tpm_cmds_per_1000_wire", 0, 0, 2, "");
	}
}

int main(int argc, char **argv)
{
	double t0 = tu_now_ms();
	unsigned asserts_failed = 0;

	if (argc > 1 && strcmp(argv[1], "--requester") == 0)
		return requester_main(argc, argv);

	setvbuf(stdout, NULL, _IOLBF, 0);
	{
		const char *so = getenv("ATTEST_BENCH_ISSUE_SESSION_ONLY");

		const char *secs = getenv("ATTEST_BENCH_ISSUE_SECONDS");

		session_only = so != NULL && strcmp(so, "1") == 0;
		if (secs != NULL && (session_seconds = parse_int(secs, 1, 600)) < 0)
			session_seconds = SESSION_SECONDS;
	}
	/* the requesters inherit our environment, and attestd refuses an agent
	 * started with a variable its registration does not allow */
	(void)tu_env_keep_only();
	{
		/* attestd comes from $ATTEST_SRCDIR/$BUILD, as in run-tests.sh */
		const char *src = getenv("ATTEST_SRCDIR"), *bd = getenv("BUILD"), *path = getenv("PATH");
		char np[4096];
		int abs = bd != NULL && bd[0] == '/';

		snprintf(np, sizeof(np), "%s%s%s:%s", abs ? "" : src ? src : ".", abs ? "" : "/",
			 bd ? bd : "build", path ? path : "/usr/bin:/bin");
		setenv("PATH", np, 1);
	}
	printf("# bench_issue on swtpm: attestd issuance over its Unix socket vs tpm2-tools + "
	       "openssl CLI; report only, nothing asserted\n");
	g.ecdsa = g.base_p50 = -1;
	g.cpu = -1;
	tu_mkdtemp(g.run, sizeof(g.run));
	if (CU_initialize_registry() == CUE_SUCCESS) {
		CU_pSuite s = CU_add_suite("bench_issue", NULL, NULL);

		if (s != NULL && CU_add_test(s, "issue", bench_body) != NULL)
			(void)CU_run_all_tests();
		asserts_failed = CU_get_number_of_failures();
		CU_cleanup_registry();
	}
	if (asserts_failed != 0) {
		fprintf(stderr, "bench_issue: %u testutil assertion(s) failed; attestd log %s\n",
			asserts_failed, g.d.log);
		g.failures++;
	}
	report(&g);
	report_privsep(&g);
	{
		/* nothing of ours left in the TPM after attestd stopped (stop it
		 * before the counting proxy it may be talking through) */
		struct attest_tpm *t = NULL;
		size_t objects = 0, sessions = 0;

		stop_attestd(&g);
		proxy_stop(&g.px);
		if (g.d.sw.tcti[0] != '\0' && attest_tpm_open(g.d.sw.tcti, &t) == ATTEST_OK &&
		    attest_tpm_count_handles(t, &objects, &sessions) == ATTEST_OK &&
		    (objects != 0 || sessions != 0)) {
			fprintf(stderr, "bench_issue: attestd left %zu objects, %zu sessions in the TPM\n",
				objects, sessions);
			g.failures++;
		}
		attest_tpm_close(t);
		tu_tpm_stop(&g.d.sw);
	}
	tu_tpm_stop(&g.b);
	tu_rmtree(g.run);
	printf("# bench_issue: %.1f s, %d failure(s)\n", (tu_now_ms() - t0) / 1e3, g.failures);
	return g.failures == 0 ? 0 : 1;
}
