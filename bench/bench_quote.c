/* bench_quote.c - cost of the verifier's quote appraisal (issue 5,
 * "Benchmark": quote verifications per second; check-quote against
 * tpm2_checkquote on the same quotes). make bench; bench/run-bench.sh sets
 * the environment (ATTEST_TEST_TEMPLATE for swtpm).
 *
 * Report only: nothing asserts on time. Each timed result is checked; a
 * figure whose run failed prints "n/a" and the process exits 1.
 *
 *   appraisal: attest_quote_appraise on one real swtpm quote of SHA-256
 *     PCRs 0-7 (ECDSA P-256 AK), no counters, one reference set, a nonce
 *     callback that accepts; APPRAISE_N calls. Baseline: EVP_PKEY_verify of
 *     one ECDSA P-256 signature over a 32-byte digest, ECDSA_N calls, same
 *     process. The appraisal does one signature check, so the ratio's
 *     ceiling is about 1; what it loses is parsing, hashing, the AK's
 *     conversion to an OpenSSL key (with its public-key check) and the
 *     reference-set compare.
 *   tools: the same tpm2_quote capture (sha256:0,1,2) checked SPAWN_N times
 *     each, alternating: `check-quote` (this binary re-executed with
 *     argv[1] = check-quote, i.e. vf_cmd_check_quote in a fresh process, as
 *     `attest-verifier check-quote` runs) and `tpm2_checkquote`, each
 *     spawned directly (posix_spawn, no shell), output to /dev/null.
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <tss2/tss2_mu.h>

#include "check_quote.h"
#include "core/json.h"
#include "attestation/quote.h"
#include "attestation/refset.h"
#include "testutil.h"
#include "tpm/tpm.h"

#define ECDSA_N 4000
#define APPRAISE_N 4000
#define SPAWN_N 30
#define NONCE_HEX "00112233445566778899aabbccddeeff"

extern char **environ;

static int failures;

static int accept_nonce(void *arg, const uint8_t *nonce, size_t len)
{
	(void)arg;
	(void)nonce;
	(void)len;
	return ATTEST_OK;
}

static void fig(const char *name, int ok, double v, int prec)
{
	if (ok)
		printf("%s: %.*f\n", name, prec, v);
	else
		printf("%s: n/a\n", name);
}

static double ecdsa_per_s(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	EVP_PKEY_CTX *pc = NULL;
	uint8_t dgst[32], sig[80];
	size_t slen = sizeof(sig);
	double t0, ms;
	int ok = 1;

	memset(dgst, 0x5a, sizeof(dgst));
	if (k == NULL || (pc = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL)) == NULL ||
	    EVP_PKEY_sign_init(pc) != 1 || EVP_PKEY_sign(pc, sig, &slen, dgst, 32) != 1)
		ok = 0;
	EVP_PKEY_CTX_free(pc);
	t0 = tu_now_ms();
	for (int i = 0; ok && i < ECDSA_N; i++) {
		pc = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
		if (pc == NULL || EVP_PKEY_verify_init(pc) != 1 ||
		    EVP_PKEY_verify(pc, sig, slen, dgst, 32) != 1)
			ok = 0;
		EVP_PKEY_CTX_free(pc);
	}
	ms = tu_now_ms() - t0;
	EVP_PKEY_free(k);
	if (!ok) {
		failures++;
		return -1;
	}
	return ECDSA_N / (ms / 1e3);
}

/* A one-set policy pinning PCRs 0-7 to the quote's values. */
static struct attest_refset *pin_set(const uint8_t *values, EVP_PKEY *op)
{
	struct attest_refset_operator ops[1] = { { "bench", op } };
	struct attest_refset *s = NULL;
	char json[4096], hex[65], *tok = NULL;
	size_t n;

	n = (size_t)snprintf(json, sizeof(json), "{\"version\":\"1\",\"name\":\"bench\",\"pcrs\":{");
	for (unsigned i = 0; i < 8; i++) {
		attest_hex(values + 32 * i, 32, hex);
		n += (size_t)snprintf(json + n, sizeof(json) - n, "%s\"%u\":\"%s\"", i ? "," : "", i, hex);
	}
	n += (size_t)snprintf(json + n, sizeof(json) - n, "}}");
	if (attest_refset_sign(op, "bench", json, n, &tok) != ATTEST_OK ||
	    attest_refset_verify(tok, strlen(tok), ops, 1, 0, &s) != ATTEST_OK)
		s = NULL;
	free(tok);
	return s;
}

static double appraise_per_s(struct tu_tpm *sw)
{
	struct attest_tpm *t = NULL;
	TPM2B_PUBLIC ak;
	TPM2B_ATTEST at;
	TPMT_SIGNATURE sig;
	struct attest_pcrs pcrs;
	uint8_t sbuf[sizeof(TPMT_SIGNATURE)], values[8 * 32], nonce[16] = { 1, 2, 3 };
	size_t slen = 0;
	EVP_PKEY *op = EVP_EC_gen("P-256");
	struct attest_refset *set = NULL;
	struct attest_quote_evidence ev;
	struct attest_quote_policy p;
	struct attest_quote_result res;
	double t0, ms, rate = -1;
	int ok = 1;

	if (attest_tpm_open(sw->tcti, &t) != ATTEST_OK || attest_tpm_ak_public(t, &ak) != ATTEST_OK ||
	    attest_tpm_quote(t, 0xff, nonce, sizeof(nonce), &at, &sig) != ATTEST_OK ||
	    attest_tpm_pcr_read(t, 0xff, &pcrs) != ATTEST_OK ||
	    Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, sbuf, sizeof(sbuf), &slen) != TSS2_RC_SUCCESS) {
		fprintf(stderr, "bench_quote: swtpm quote: %s\n", attest_errdetail());
		ok = 0;
		goto out;
	}
	for (unsigned i = 0; i < 8; i++)
		memcpy(values + 32 * i, pcrs.value[i], 32);
	if (op == NULL || (set = pin_set(values, op)) == NULL) {
		ok = 0;
		goto out;
	}
	memset(&ev, 0, sizeof(ev));
	ev.attest = at.attestationData;
	ev.attest_len = at.size;
	ev.sig = sbuf;
	ev.sig_len = slen;
	ev.pcr_mask = 0xff;
	ev.pcr_values = values;
	ev.pcr_values_len = sizeof(values);
	memset(&p, 0, sizeof(p));
	p.required_mask = 0xff;
	p.nonce_take = accept_nonce;
	p.sets = &set;
	p.nsets = 1;
	t0 = tu_now_ms();
	for (int i = 0; ok && i < APPRAISE_N; i++)
		if (attest_quote_appraise(&ak, &ev, &p, &res) != ATTEST_OK) {
			fprintf(stderr, "bench_quote: appraise: %s\n", attest_errdetail());
			ok = 0;
		}
	ms = tu_now_ms() - t0;
	if (ok)
		rate = APPRAISE_N / (ms / 1e3);
out:
	if (!ok)
		failures++;
	attest_refset_free(set);
	EVP_PKEY_free(op);
	attest_tpm_close(t);
	return rate;
}

/* Spawn argv with stdout/stderr to /dev/null; ms, or -1 on a non-zero exit. */
static double spawn_ms(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st = 0;
	double t0 = tu_now_ms(), ms;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	ms = tu_now_ms() - t0;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? ms : -1;
}

static void tools(struct tu_tpm *sw, const char *self)
{
	char ak[700], msg[700], sig[700], pcrs[700];
	char *ours[] = { (char *)self, "check-quote", "--ak", ak, "--msg", msg, "--sig", sig,
			 "--pcrs", pcrs, "--pcr-list", "sha256:0,1,2", "--nonce", NONCE_HEX, NULL };
	char *theirs[] = { "tpm2_checkquote", "-u", ak, "-m", msg, "-s", sig, "-f", pcrs, "-g",
			   "sha256", "-q", NONCE_HEX, NULL };
	double a[SPAWN_N], b[SPAWN_N];
	int ok = 1;

	if (tu_sh("cd '%s' && export TPM2TOOLS_TCTI='%s' TSS2_LOG=all+none && "
		  "tpm2_createek -c ek.ctx -G ecc -u ek.pub >/dev/null && "
		  "tpm2_createak -C ek.ctx -c ak.ctx -G ecc -g sha256 -s ecdsa -u ak.pem -f pem "
		  "-n ak.name >/dev/null && tpm2_flushcontext -t && "
		  "tpm2_quote -c ak.ctx -l sha256:0,1,2 -q " NONCE_HEX " -m msg -s sig -o pcrs "
		  "-g sha256 >/dev/null && tpm2_flushcontext -t",
		  sw->dir, sw->tcti) != 0) {
		fprintf(stderr, "bench_quote: tpm2-tools capture failed\n");
		ok = 0;
	}
	snprintf(ak, sizeof(ak), "%s/ak.pem", sw->dir);
	snprintf(msg, sizeof(msg), "%s/msg", sw->dir);
	snprintf(sig, sizeof(sig), "%s/sig", sw->dir);
	snprintf(pcrs, sizeof(pcrs), "%s/pcrs", sw->dir);
	for (int i = 0; ok && i < SPAWN_N; i++) {
		a[i] = spawn_ms(ours);
		b[i] = spawn_ms(theirs);
		if (a[i] < 0 || b[i] < 0) {
			fprintf(stderr, "bench_quote: run %d: %s failed\n", i,
				a[i] < 0 ? "check-quote" : "tpm2_checkquote");
			ok = 0;
		}
	}
	if (!ok)
		failures++;
	if (ok) {
		tu_sort_doubles(a, SPAWN_N);
		tu_sort_doubles(b, SPAWN_N);
	}
	fig("check_quote_p50_ms", ok, ok ? a[SPAWN_N / 2] : 0, 2);
	fig("tpm2_checkquote_p50_ms", ok, ok ? b[SPAWN_N / 2] : 0, 2);
	fig("check_quote_over_tpm2_checkquote_p50_ratio", ok && b[SPAWN_N / 2] > 0,
	    ok ? a[SPAWN_N / 2] / b[SPAWN_N / 2] : 0, 2);
}

int main(int argc, char **argv)
{
	struct tu_tpm sw;
	char self[4096];
	ssize_t n;
	double e, q;

	if (argc > 1 && strcmp(argv[1], "check-quote") == 0)
		return vf_cmd_check_quote(argc - 1, argv + 1);
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0) {
		perror("bench_quote: /proc/self/exe");
		return 1;
	}
	self[n] = '\0';
	printf("# bench_quote: quote appraisal (swtpm quote, software checks) and check-quote vs "
	       "tpm2_checkquote (process spawn each, n=%d)\n", SPAWN_N);
	tu_tpm_start(&sw);
	e = ecdsa_per_s();
	q = appraise_per_s(&sw);
	fig("ecdsa_p256_verifies_per_s", e > 0, e, 0);
	fig("quote_appraisals_per_s", q > 0, q, 0);
	fig("quote_appraisal_over_ecdsa_ratio", e > 0 && q > 0, q / e, 3);
	tools(&sw, self);
	tu_tpm_stop(&sw);
	return failures == 0 ? 0 : 1;
}
