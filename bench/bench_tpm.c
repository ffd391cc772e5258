/* bench_tpm.c - attestd's TPM paths on swtpm, each measured against the same
 * TPM work done with tpm2-tools in the same run, printed as ratios
 * (make bench; bench/run-bench.sh sets the environment).
 *
 * Report only: machines are noisy, so nothing here asserts on time. A figure
 * whose run failed prints "n/a" and the process exits 1 at the end (make
 * bench ignores that); every result we time is also checked once, untimed.
 *
 * Two private swtpm instances are copied from one template, so they share
 * seeds: the same EKs and the same SRK. attestd (libattest, in process) uses
 * A; tpm2-tools use B, because swtpm serves one client at a time. B's SRK is
 * persisted at 0x81000001 by libattest before any tool runs, so tpm2_load
 * takes libattest's key blobs there.
 *
 * swtpm has 3 transient object slots and no resource manager, so tpm2-tools
 * leave every object they load behind. The `tpm2_flushcontext -t` that
 * cleans up after such a step runs untimed: on a real host /dev/tpmrm0 does
 * that for free when the process exits. Each timed tool step costs one
 * `sh -c` plus the tool process and its TCTI connect, as in an operator's
 * script.
 *
 * enrolment, per EK kind (P-256, then RSA-2048), one untimed warm-up then
 * ENROL_N rounds, attestd and tpm2-tools alternating:
 *   attestd:    token, begin, CA request, answer, CA response, finish, in
 *               process with one attest_tpm and one CA (initialised once),
 *               a fresh host state dir each round. This includes the CA's
 *               software work (EK chain check, MakeCredential, evidence
 *               checks, X.509 issue) and every fsynced state write.
 *   tpm2-tools: in a fresh dir each round: tpm2_nvread (EK certificate),
 *               tpm2_createek, tpm2_createak, tpm2_create (host key under
 *               the SRK, with creation data), tpm2_makecredential -T none,
 *               tpm2_startauthsession + tpm2_policysecret +
 *               tpm2_activatecredential + tpm2_flushcontext (session),
 *               tpm2_load + tpm2_certifycreation, tpm2_quote of PCRs 0-7 with
 *               PCR values, tpm2_checkquote. Not in it: EK chain check, X.509
 *               issue, JSON, state files. Differences in the TPM work: the
 *               tools' AK is an EK child loaded from a saved context, while
 *               attestd recreates its AK (an endorsement primary) and the EK
 *               with CreatePrimary for each command that needs them.
 * sign:  attest_tpm_sign (Load under the SRK + Sign + Flush, as the seam
 *        does) with a key from attest_tpm_create_signkey, SIGN_N_ATTESTD
 *        times; vs tpm2_sign -c key.ctx -g sha256 -d of that same key blob
 *        (tpm2_load once), SIGN_N_TOOLS times.
 * quote: attest_tpm_quote of PCRs 0-7 (CreatePrimary AK + Quote + Flush),
 *        QUOTE_N_ATTESTD times; vs tpm2_quote -c ak.ctx -l sha256:0,...,7
 *        -q NONCE with a tpm2_createak AK, QUOTE_N_TOOLS times.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <tss2/tss2_mu.h>

#include "enrol/enrol.h"
#include "tpm/templates.h"
#include "tpm/tpm.h"
#include "tpm/tpmsw.h"
#include "../tests/unit/testutil.h"

#define ENROL_N 20
#define ENROL_N_RSA 8
#define SIGN_N_ATTESTD 200
#define SIGN_N_TOOLS 30
#define QUOTE_N_ATTESTD 100
#define QUOTE_N_TOOLS 20
#define WARMUP 3
#define MAX_SAMPLES 200

#define PCRS_0_7 "sha256:0,1,2,3,4,5,6,7"

_Static_assert(ENROL_N <= MAX_SAMPLES && ENROL_N_RSA <= MAX_SAMPLES &&
		       SIGN_N_ATTESTD <= MAX_SAMPLES && SIGN_N_TOOLS <= MAX_SAMPLES &&
		       QUOTE_N_ATTESTD <= MAX_SAMPLES && QUOTE_N_TOOLS <= MAX_SAMPLES,
	       "sample arrays hold MAX_SAMPLES");

struct bench {
	struct tu_tpm a, b;     /* a: libattest, b: tpm2-tools */
	struct attest_tpm *t;   /* open on a */
	struct attest_ca *ca;
	char run[512];          /* scratch dir for state and tool files */
	char log[600];          /* stderr of every tool command */
	int failures;
};

struct stats {
	double p50, mean;
	int ok;
};


/* Sorts v in place. */
static struct stats stats_of(double *v, int n)
{
	struct stats s = { 0 };
	double sum = 0;

	if (n <= 0)
		return s;
	tu_sort_doubles(v, (size_t)n);
	for (int i = 0; i < n; i++)
		sum += v[i];
	s.mean = sum / n;
	s.p50 = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	s.ok = 1;
	return s;
}

static void print_ms(const char *name, int ok, double v, const char *note)
{
	if (ok)
		printf("%-44s %10.3f  %s\n", name, v, note);
	else
		printf("%-44s %10s  %s\n", name, "n/a", note);
}

/* ratio = tools / attestd, so > 1 means attestd is faster. */
static void print_ratio(const char *name, int ok, double tools, double attestd)
{
	if (ok && attestd > 0)
		printf("%-44s %10.2f\n", name, tools / attestd);
	else
		printf("%-44s %10s\n", name, "n/a");
}

static void lib_failed(struct bench *b, const char *what, int r)
{
	fprintf(stderr, "bench_tpm: %s: %s (%s)\n", what, attest_errname(r), attest_errdetail());
	b->failures++;
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

static int random_bytes(struct bench *b, uint8_t *p, int n)
{
	if (RAND_bytes(p, n) != 1) {
		fprintf(stderr, "bench_tpm: RAND_bytes failed\n");
		b->failures++;
		return -1;
	}
	return 0;
}

static int make_dir(struct bench *b, char *out, size_t outsz, const char *name, int i)
{
	if ((size_t)snprintf(out, outsz, "%s/%s-%d", b->run, name, i) >= outsz ||
	    mkdir(out, 0700) != 0) {
		fprintf(stderr, "bench_tpm: cannot create %s/%s-%d\n", b->run, name, i);
		b->failures++;
		return -1;
	}
	return 0;
}

static void teardown(struct bench *b)
{
	attest_ca_close(b->ca);
	b->ca = NULL;
	attest_tpm_close(b->t);
	b->t = NULL;
	tu_tpm_stop(&b->a);
	tu_tpm_stop(&b->b);
	tu_rmtree(b->run);
}

/* Runs `cmd` in `dir` with stdout discarded and stderr appended to the log;
 * adds its wall time to *ms unless ms is NULL. 0 on exit status 0.
 * system() ignores SIGINT in the caller while the command runs, so a ^C
 * shows up here as a child killed by it: stop the swtpms and leave. */
static int step_run(struct bench *b, const char *dir, double *ms, const char *cmd)
{
	char full[3072];
	double t0;
	int n, st;

	n = snprintf(full, sizeof(full), "cd '%s' && %s >/dev/null 2>>'%s'", dir, cmd, b->log);
	if (n < 0 || (size_t)n >= sizeof(full))
		return -1;
	t0 = tu_now_ms();
	st = system(full);
	if (ms != NULL)
		*ms += tu_now_ms() - t0;
	if (st != -1 && ((WIFSIGNALED(st) && (WTERMSIG(st) == SIGINT || WTERMSIG(st) == SIGQUIT)) ||
			 (WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGINT))) {
		fprintf(stderr, "bench_tpm: interrupted\n");
		teardown(b);
		exit(130);
	}
	st = st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	if (st != 0) {
		fprintf(stderr, "bench_tpm: in %s: '%s' exited %d; end of %s:\n", dir, cmd, st,
			b->log);
		(void)tu_sh("tail -n 4 '%s' >&2", b->log);
		b->failures++;
	}
	return st;
}

/* A command that needs no TPM connection (its own -T none, if any). */
static int step(struct bench *b, const char *dir, double *ms, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int step(struct bench *b, const char *dir, double *ms, const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -1;
	return step_run(b, dir, ms, cmd);
}

/* A tpm2-tools command against swtpm B: `prog -T TCTI args`. */
static int tool(struct bench *b, const char *dir, double *ms, const char *prog, const char *fmt,
		...) __attribute__((format(printf, 5, 6)));
static int tool(struct bench *b, const char *dir, double *ms, const char *prog, const char *fmt,
		...)
{
	char args[1536], cmd[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(args))
		return -1;
	n = snprintf(cmd, sizeof(cmd), "%s -T '%s' %s", prog, b->b.tcti, args);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -1;
	return step_run(b, dir, ms, cmd);
}

/* Untimed: what the kernel resource manager would do at process exit. */
static int flush_transients(struct bench *b, const char *dir)
{
	return tool(b, dir, NULL, "tpm2_flushcontext", "-t");
}

/* Untimed, before a tool phase and after a failed round: drop whatever an
 * earlier step left in B's object and session slots. */
static void tools_reset(struct bench *b, const char *dir)
{
	(void)tool(b, dir, NULL, "tpm2_flushcontext", "-t");
	(void)tool(b, dir, NULL, "tpm2_flushcontext", "-l");
	(void)tool(b, dir, NULL, "tpm2_flushcontext", "-s");
}

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[900];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -1;
	tu_write(path, data, len);
	return 0;
}

/* ---- enrolment ---- */

static int attestd_enrol_once(struct bench *b, enum attest_ek_kind kind, const char *host,
			      int round, double *ms)
{
	char state[700];
	char *tok = NULL, *req = NULL, *ch = NULL, *resp = NULL, *res = NULL;
	const char *what = "state dir";
	double t0;
	int r = ATTEST_E_INTERNAL;

	if ((size_t)snprintf(state, sizeof(state), "%s/state-%s-%d", b->run,
			     attest_ek_kind_name(kind), round) >= sizeof(state))
		goto out;
	t0 = tu_now_ms();
	if ((r = attest_ca_token_issue(b->ca, host, 600, "bench", &tok)) != ATTEST_OK) {
		what = "attest_ca_token_issue";
		goto out;
	}
	if ((r = attest_host_enrol_begin(b->t, state, host, tok, kind, &req)) != ATTEST_OK) {
		what = "attest_host_enrol_begin";
		goto out;
	}
	if ((r = attest_ca_handle_request(b->ca, req, strlen(req), &ch)) != ATTEST_OK) {
		what = "attest_ca_handle_request";
		goto out;
	}
	if ((r = attest_host_enrol_answer(b->t, state, ch, strlen(ch), &resp)) != ATTEST_OK) {
		what = "attest_host_enrol_answer";
		goto out;
	}
	if ((r = attest_ca_handle_response(b->ca, resp, strlen(resp), &res)) != ATTEST_OK) {
		what = "attest_ca_handle_response";
		goto out;
	}
	if ((r = attest_host_enrol_finish(state, res, strlen(res), attest_ca_root_path(b->ca))) !=
	    ATTEST_OK) {
		what = "attest_host_enrol_finish";
		goto out;
	}
	*ms = tu_now_ms() - t0;
out:
	if (r != ATTEST_OK)
		lib_failed(b, what, r);
	free(tok);
	free(req);
	free(ch);
	free(resp);
	free(res);
	return r;
}

static int tools_enrol_once(struct bench *b, enum attest_ek_kind kind, int round, double *ms)
{
	const char *ekalg = kind == ATTEST_EK_RSA2048 ? "rsa" : "ecc";
	char dir[700], qual_hex[65], name_hex[2 * sizeof(TPM2B_NAME) + 1];
	uint8_t secret[32], qual[32];
	char path[900], *name = NULL, *got = NULL;
	size_t name_len, got_len;
	int r = -1;

	*ms = 0;
	if (make_dir(b, dir, sizeof(dir), kind == ATTEST_EK_RSA2048 ? "tools-rsa2048" :
					   "tools-p256", round) != 0 ||
	    random_bytes(b, secret, sizeof(secret)) != 0 ||
	    random_bytes(b, qual, sizeof(qual)) != 0 ||
	    write_file(dir, "secret.bin", secret, sizeof(secret)) != 0)
		return -1;
	hex(qual, sizeof(qual), qual_hex);

	if (tool(b, dir, ms, "tpm2_nvread", "0x%08x -C o -o ek.crt",
		 (unsigned)attest_ek_nv_index(kind)) != 0 ||
	    tool(b, dir, ms, "tpm2_createek", "-c ek.ctx -G %s -u ek.pub", ekalg) != 0 ||
	    flush_transients(b, dir) != 0 ||
	    tool(b, dir, ms, "tpm2_createak",
		 "-C ek.ctx -c ak.ctx -G ecc -g sha256 -s ecdsa -u ak.pub -n ak.name") != 0 ||
	    flush_transients(b, dir) != 0 ||
	    tool(b, dir, ms, "tpm2_create",
		 "-C 0x%08x -G ecc_nist_p256:ecdsa-sha256:null "
		 "-a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign' "
		 "-u key.pub -r key.priv --creation-data key.cdata "
		 "--creation-ticket key.ticket --creation-hash key.chash",
		 (unsigned)ATTEST_SRK_HANDLE) != 0)
		goto out;

	/* The CA's MakeCredential, with the AK name read back (untimed). */
	snprintf(path, sizeof(path), "%s/ak.name", dir);
	name = tu_slurp(path, &name_len);
	if (name_len == 0 || name_len > sizeof(TPM2B_NAME)) {
		fprintf(stderr, "bench_tpm: %s has %zu bytes\n", path, name_len);
		b->failures++;
		goto out;
	}
	hex((const uint8_t *)name, name_len, name_hex);

	if (step(b, dir, ms, "tpm2_makecredential -T none -u ek.pub -s secret.bin -n %s "
		 "-o cred.blob", name_hex) != 0 ||
	    tool(b, dir, ms, "tpm2_startauthsession", "--policy-session -S session.ctx") != 0 ||
	    tool(b, dir, ms, "tpm2_policysecret", "-S session.ctx -c e") != 0 ||
	    tool(b, dir, ms, "tpm2_activatecredential",
		 "-c ak.ctx -C ek.ctx -i cred.blob -o secret.out -P session:session.ctx") != 0 ||
	    flush_transients(b, dir) != 0 ||
	    tool(b, dir, ms, "tpm2_flushcontext", "session.ctx") != 0 ||
	    tool(b, dir, ms, "tpm2_load", "-C 0x%08x -u key.pub -r key.priv -c key.ctx",
		 (unsigned)ATTEST_SRK_HANDLE) != 0 ||
	    flush_transients(b, dir) != 0 ||
	    tool(b, dir, ms, "tpm2_certifycreation",
		 "-C ak.ctx -c key.ctx -d key.chash -t key.ticket -g sha256 -f plain "
		 "-o certify.sig --attestation certify.attest -q %s", qual_hex) != 0 ||
	    flush_transients(b, dir) != 0 ||
	    tool(b, dir, ms, "tpm2_quote",
		 "-c ak.ctx -l " PCRS_0_7 " -q %s -g sha256 -m quote.msg -s quote.sig "
		 "-o quote.pcrs", qual_hex) != 0 ||
	    flush_transients(b, dir) != 0 ||
	    step(b, dir, ms, "tpm2_checkquote -u ak.pub -m quote.msg -s quote.sig "
		 "-f quote.pcrs -g sha256 -q %s", qual_hex) != 0)
		goto out;

	/* The activated secret must be the one MakeCredential protected. */
	snprintf(path, sizeof(path), "%s/secret.out", dir);
	got = tu_slurp(path, &got_len);
	if (got_len != sizeof(secret) || memcmp(got, secret, sizeof(secret)) != 0) {
		fprintf(stderr, "bench_tpm: tpm2_activatecredential returned another secret\n");
		b->failures++;
		goto out;
	}
	r = 0;
out:
	if (r != 0)
		tools_reset(b, dir);
	free(name);
	free(got);
	return r;
}

static void enrol_note(char *out, size_t outsz, enum attest_ek_kind kind, struct stats s, int n)
{
	if (s.ok)
		snprintf(out, outsz, "%s EK, mean of %d, p50 %.1f", attest_ek_kind_name(kind), n,
			 s.p50);
	else
		snprintf(out, outsz, "%s EK", attest_ek_kind_name(kind));
}

static void bench_enrol(struct bench *b, enum attest_ek_kind kind, const char *host, int n,
			const char *prefix)
{
	double va[MAX_SAMPLES], vt[MAX_SAMPLES], ms;
	int na = 0, nt = 0, ok_a = 1, ok_t = 1;
	char name[96], note[96];
	struct stats sa, st;

	/* Round 0 is the warm-up (page cache, first connections). */
	for (int i = 0; i <= n && (ok_a || ok_t); i++) {
		if (ok_a) {
			if (attestd_enrol_once(b, kind, host, i, &ms) != ATTEST_OK)
				ok_a = 0;
			else if (i > 0)
				va[na++] = ms;
		}
		if (ok_t) {
			if (tools_enrol_once(b, kind, i, &ms) != 0)
				ok_t = 0;
			else if (i > 0)
				vt[nt++] = ms;
		}
	}
	sa = stats_of(va, ok_a ? na : 0);
	st = stats_of(vt, ok_t ? nt : 0);
	enrol_note(note, sizeof(note), kind, sa, na);
	snprintf(name, sizeof(name), "%s_ms_attestd", prefix);
	print_ms(name, sa.ok, sa.mean, note);
	enrol_note(note, sizeof(note), kind, st, nt);
	snprintf(name, sizeof(name), "%s_ms_tpm2tools", prefix);
	print_ms(name, st.ok, st.mean, note);
	snprintf(name, sizeof(name), "%s_ratio_tpm2tools_over_attestd", prefix);
	print_ratio(name, sa.ok && st.ok, st.mean, sa.mean);
}

/* ---- sign ---- */

static void print_latency(const char *op, struct stats sa, int na, struct stats st, int nt)
{
	char name[96], note[64];

	snprintf(note, sizeof(note), "n=%d", na);
	snprintf(name, sizeof(name), "%s_ms_p50_attestd", op);
	print_ms(name, sa.ok, sa.p50, note);
	snprintf(name, sizeof(name), "%s_ms_mean_attestd", op);
	print_ms(name, sa.ok, sa.mean, note);
	snprintf(note, sizeof(note), "n=%d", nt);
	snprintf(name, sizeof(name), "%s_ms_p50_tpm2tools", op);
	print_ms(name, st.ok, st.p50, note);
	snprintf(name, sizeof(name), "%s_ms_mean_tpm2tools", op);
	print_ms(name, st.ok, st.mean, note);
	snprintf(name, sizeof(name), "%s_ratio_p50_tpm2tools_over_attestd", op);
	print_ratio(name, sa.ok && st.ok, st.p50, sa.p50);
	snprintf(name, sizeof(name), "%s_ratio_mean_tpm2tools_over_attestd", op);
	print_ratio(name, sa.ok && st.ok, st.mean, sa.mean);
}

/* key.pub / key.priv in tpm2-tools' "tss" format (marshalled TPM2B). */
static int marshal_key(const struct attest_tpm_key *key, const char *dir)
{
	uint8_t buf[sizeof(TPM2B_PUBLIC) + sizeof(TPM2B_PRIVATE)];
	size_t off = 0;

	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&key->pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS ||
	    write_file(dir, "key.pub", buf, off) != 0)
		goto fail;
	off = 0;
	if (Tss2_MU_TPM2B_PRIVATE_Marshal(&key->priv, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS ||
	    write_file(dir, "key.priv", buf, off) != 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "bench_tpm: cannot write the key blob to %s\n", dir);
	return -1;
}

/* tpm2_sign's output (TPMT_SIGNATURE, tss format) must verify with our key. */
static int check_tool_sig(struct bench *b, const char *dir, const char *file,
			  const TPM2B_PUBLIC *pub, const uint8_t *msg, size_t len)
{
	char path[900], *raw;
	size_t raw_len;
	TPMT_SIGNATURE sig;
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	raw = tu_slurp(path, &raw_len);
	if ((r = attest_tpmt_signature_parse((const uint8_t *)raw, raw_len, &sig)) != ATTEST_OK ||
	    (r = attest_tpm_verify_sig(pub, msg, len, &sig)) != ATTEST_OK)
		lib_failed(b, "tpm2_sign signature check", r);
	free(raw);
	return r;
}

static void bench_sign(struct bench *b)
{
	static const char msg[] = "attestd bench: sign this";
	double va[MAX_SAMPLES], vt[MAX_SAMPLES], t0;
	struct attest_tpm_key key;
	uint8_t digest[32];
	TPMT_SIGNATURE sig;
	char dir[700];
	int na = 0, nt = 0, r;

	if (EVP_Digest(msg, strlen(msg), digest, NULL, EVP_sha256(), NULL) != 1) {
		fprintf(stderr, "bench_tpm: SHA-256 failed\n");
		b->failures++;
		goto report;
	}
	/* The tpm2-tools side signs with this key too, so without it neither runs. */
	if ((r = attest_tpm_create_signkey(b->t, NULL, NULL, &key, NULL)) != ATTEST_OK) {
		lib_failed(b, "attest_tpm_create_signkey", r);
		goto report;
	}
	for (int i = 0; i < WARMUP + SIGN_N_ATTESTD; i++) {
		t0 = tu_now_ms();
		if ((r = attest_tpm_sign(b->t, &key, NULL, digest, &sig)) != ATTEST_OK) {
			lib_failed(b, "attest_tpm_sign", r);
			na = 0;
			break;
		}
		if (i >= WARMUP)
			va[na++] = tu_now_ms() - t0;
	}
	if (na > 0 && (r = attest_tpm_verify_sig(&key.pub, (const uint8_t *)msg, strlen(msg),
						 &sig)) != ATTEST_OK) {
		lib_failed(b, "attest_tpm_sign signature check", r);
		na = 0;
	}

	/* The same key blob, loaded by tpm2-tools under B's (identical) SRK. */
	if (make_dir(b, dir, sizeof(dir), "sign", 0) != 0)
		goto report;
	tools_reset(b, dir);
	if (marshal_key(&key, dir) != 0) {
		b->failures++;
		goto report;
	}
	if (write_file(dir, "digest.bin", digest, sizeof(digest)) != 0 ||
	    tool(b, dir, NULL, "tpm2_load", "-C 0x%08x -u key.pub -r key.priv -c key.ctx",
		 (unsigned)ATTEST_SRK_HANDLE) != 0 ||
	    flush_transients(b, dir) != 0)
		goto report;
	for (int i = 0; i < WARMUP + SIGN_N_TOOLS; i++) {
		double ms = 0;

		if (tool(b, dir, &ms, "tpm2_sign", "-c key.ctx -g sha256 -d -o sig.bin digest.bin") !=
			    0 ||
		    flush_transients(b, dir) != 0) {
			nt = 0;
			goto report;
		}
		if (i >= WARMUP)
			vt[nt++] = ms;
	}
	if (check_tool_sig(b, dir, "sig.bin", &key.pub, (const uint8_t *)msg, strlen(msg)) !=
	    ATTEST_OK)
		nt = 0;
report:
	{
		struct stats sa = stats_of(va, na), st = stats_of(vt, nt);

		print_latency("sign", sa, na, st, nt);
	}
}

/* ---- quote ---- */

static void bench_quote(struct bench *b)
{
	double va[MAX_SAMPLES], vt[MAX_SAMPLES], t0;
	TPM2B_PUBLIC ak;
	TPM2B_ATTEST att;
	TPMT_SIGNATURE sig;
	uint8_t nonce[32];
	char nonce_hex[65], dir[700];
	int na = 0, nt = 0, r;

	if (random_bytes(b, nonce, sizeof(nonce)) != 0)
		return;
	hex(nonce, sizeof(nonce), nonce_hex);
	if ((r = attest_tpm_ak_public(b->t, &ak)) != ATTEST_OK) {
		lib_failed(b, "attest_tpm_ak_public", r);
		goto tools;
	}
	for (int i = 0; i < WARMUP + QUOTE_N_ATTESTD; i++) {
		t0 = tu_now_ms();
		if ((r = attest_tpm_quote(b->t, ATTEST_ENROL_PCR_MASK, nonce, sizeof(nonce), &att,
					  &sig)) != ATTEST_OK) {
			lib_failed(b, "attest_tpm_quote", r);
			na = 0;
			goto tools;
		}
		if (i >= WARMUP)
			va[na++] = tu_now_ms() - t0;
	}
	if ((r = attest_tpm_verify_sig(&ak, att.attestationData, att.size, &sig)) != ATTEST_OK) {
		lib_failed(b, "attest_tpm_quote signature check", r);
		na = 0;
	}
tools:
	if (make_dir(b, dir, sizeof(dir), "quote", 0) != 0)
		goto report;
	tools_reset(b, dir);
	if (tool(b, dir, NULL, "tpm2_createek", "-c ek.ctx -G ecc -u ek.pub") != 0 ||
	    flush_transients(b, dir) != 0 ||
	    tool(b, dir, NULL, "tpm2_createak",
		 "-C ek.ctx -c ak.ctx -G ecc -g sha256 -s ecdsa -u ak.pub -n ak.name") != 0 ||
	    flush_transients(b, dir) != 0)
		goto report;
	for (int i = 0; i < WARMUP + QUOTE_N_TOOLS; i++) {
		double ms = 0;

		if (tool(b, dir, &ms, "tpm2_quote", "-c ak.ctx -l " PCRS_0_7 " -q %s "
			 "-m quote.msg -s quote.sig", nonce_hex) != 0 ||
		    flush_transients(b, dir) != 0) {
			nt = 0;
			goto report;
		}
		if (i >= WARMUP)
			vt[nt++] = ms;
	}
	if (step(b, dir, NULL, "tpm2_checkquote -u ak.pub -m quote.msg -s quote.sig -g sha256 "
		 "-q %s", nonce_hex) != 0)
		nt = 0;
report:
	{
		struct stats sa = stats_of(va, na), st = stats_of(vt, nt);

		print_latency("quote", sa, na, st, nt);
	}
}

/* ---- setup ---- */

/* Persist libattest's SRK at 0x81000001 on B, as attestd would on first use,
 * so tpm2_create/tpm2_load have the same parent there. */
static int srk_on_b(struct bench *b)
{
	struct attest_tpm *t = NULL;
	struct attest_tpm_key key;
	int r;

	if ((r = attest_tpm_open(b->b.tcti, &t)) != ATTEST_OK ||
	    (r = attest_tpm_create_signkey(t, NULL, NULL, &key, NULL)) != ATTEST_OK)
		lib_failed(b, "SRK on the tpm2-tools swtpm", r);
	attest_tpm_close(t); /* disconnect: swtpm serves one client */
	return r;
}

int main(void)
{
	struct bench b;
	char ca_dir[700], roots[700];
	double t0 = tu_now_ms();
	int r;

	memset(&b, 0, sizeof(b));
	setvbuf(stdout, NULL, _IOLBF, 0);
	tu_mkdtemp(b.run, sizeof(b.run));
	snprintf(b.log, sizeof(b.log), "%s/tpm2-tools.log", b.run);
	snprintf(ca_dir, sizeof(ca_dir), "%s/ca", b.run);
	snprintf(roots, sizeof(roots), "%s/vendor-roots.pem", tu_template());
	tu_tpm_start(&b.a);
	tu_tpm_start(&b.b);

	printf("# bench_tpm on swtpm: ms per operation; ratio = tpm2-tools time / attestd time "
	       "(>1 = attestd faster); report only, nothing asserted\n");
	if ((r = attest_tpm_open(b.a.tcti, &b.t)) != ATTEST_OK) {
		lib_failed(&b, "attest_tpm_open", r);
		goto out;
	}
	if ((r = attest_ca_init(ca_dir, "bench.example", roots, 3600)) != ATTEST_OK ||
	    (r = attest_ca_open(ca_dir, &b.ca)) != ATTEST_OK) {
		lib_failed(&b, "fleet CA", r);
		goto out;
	}
	if (srk_on_b(&b) != ATTEST_OK)
		goto out;

	bench_enrol(&b, ATTEST_EK_P256, "bench-p256", ENROL_N, "enrol");
	bench_enrol(&b, ATTEST_EK_RSA2048, "bench-rsa2048", ENROL_N_RSA, "enrol_rsa2048");
	bench_sign(&b);
	bench_quote(&b);
out:
	printf("# bench_tpm: %.1f s, %d failure(s)\n", (tu_now_ms() - t0) / 1e3, b.failures);
	teardown(&b);
	return b.failures == 0 ? 0 : 1;
}
