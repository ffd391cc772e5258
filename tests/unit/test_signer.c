/* test_signer.c - CA key custody in the verifier (issue 12, item 3b):
 * the signer process's typed request set, its re-checks and what a
 * request outside the set does; and a running attest-verifier whose
 * serving process holds no CA private key (fds, maps, memory) while
 * enrolment and renewal go through the signer.
 * Targets: verifier/signer.c (vf_signer_*), verifier/server.c (vf_serve
 * forks the signer, notices its death). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>

#include "enrol/enrol.h"
#include "signer.h"
#include "x509/x509.h"
#include "testutil.h"
#include "testutil_daemon.h"
#include "testutil_verifier.h"

/* CA_DIR/issuing/<current>.key */
static void issuing_key_path(const char *ca_dir, char *out, size_t n)
{
	char cur[700], *serial;

	snprintf(cur, sizeof(cur), "%s/issuing/current", ca_dir);
	serial = tu_slurp(cur, NULL);
	CU_ASSERT_FATAL(serial != NULL && strlen(serial) == 32);
	snprintf(out, n, "%s/issuing/%s.key", ca_dir, serial);
	free(serial);
}

/* The request a serving process sends, built by hand (so that tests can
 * break it): type, host, TPM2B_PUBLIC. */
static size_t request(uint8_t *buf, size_t cap, uint8_t type, const char *host,
		      const TPM2B_PUBLIC *pub)
{
	size_t hl = strlen(host), off = 2 + hl + 2;

	buf[0] = type;
	buf[1] = (uint8_t)hl;
	memcpy(buf + 2, host, hl);
	CU_ASSERT_FATAL(Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, cap, &off) == TSS2_RC_SUCCESS);
	buf[2 + hl] = (uint8_t)((off - 4 - hl) >> 8);
	buf[3 + hl] = (uint8_t)(off - 4 - hl);
	return off;
}

/* Send one malformed request: the signer logs it and exits with 3, and
 * the next honest request fails (ATTEST_E_INTERNAL): nothing signed. */
static void violation(const char *ca_dir, const TPM2B_PUBLIC *pub, const void *bad, size_t len,
		      const char *what)
{
	struct vf_signer sg;
	X509 *c = NULL;
	int st = 0;

	TU_ASSERT_ERR(vf_signer_start(ca_dir, -1, &sg), ATTEST_OK);
	CU_ASSERT_EQUAL(send(sg.fd, bad, len, MSG_NOSIGNAL), (ssize_t)len);
	CU_ASSERT_EQUAL(waitpid(sg.pid, &st, 0), sg.pid);
	if (!(WIFEXITED(st) && WEXITSTATUS(st) == 3))
		fprintf(stderr, "  %s: signer status %d\n", what, st);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 3);
	sg.pid = 0;
	TU_ASSERT_ERR(vf_signer_sign_host(&sg, "web-01", pub, &c), ATTEST_E_INTERNAL);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT(sg.dead);
	vf_signer_stop(&sg);
}

static void test_request_set(void)
{
	struct tu_tpm sw;
	struct attest_host_identity id;
	struct vf_signer sg;
	TPM2B_PUBLIC other;
	char ca[700], state[700], key[900], moved[1000];
	uint8_t req[2 * VF_SIGNER_REQ_MAX];
	X509 *c = NULL;
	size_t n;

	tu_tpm_start(&sw);
	snprintf(ca, sizeof(ca), "%s/ca", sw.dir);
	snprintf(state, sizeof(state), "%s/state", sw.dir);
	tu_enrol_host(sw.tcti, ca, state, "web-01");
	CU_ASSERT_FATAL(attest_host_identity_load(state, &id) == ATTEST_OK);

	/* honest: the enrolled host's recorded key, signed by the current
	 * issuing CA */
	TU_ASSERT_ERR(vf_signer_start(ca, -1, &sg), ATTEST_OK);
	CU_ASSERT(sg.pid > 0 && sg.fd >= 0);
	TU_ASSERT_ERR(vf_signer_sign_host(&sg, "web-01", &id.key.pub, &c), ATTEST_OK);
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_EQUAL(X509_check_issued(sk_X509_value(id.issuing, 0), c), X509_V_OK);
	CU_ASSERT_EQUAL(X509_get_pathlen(c), 2);
	X509_free(c);
	c = NULL;
	/* the signer re-checks the record itself: a host never enrolled, and
	 * another key for web-01, are refused with the CA's reason */
	TU_ASSERT_ERR(vf_signer_sign_host(&sg, "db-01", &id.key.pub, &c), ATTEST_E_NOT_FOUND);
	CU_ASSERT(strstr(attest_errdetail(), "not enrolled") != NULL);
	other = id.key.pub;
	other.publicArea.unique.ecc.x.buffer[0] ^= 1;
	TU_ASSERT_ERR(vf_signer_sign_host(&sg, "web-01", &other, &c), ATTEST_E_STATE);
	CU_ASSERT_PTR_NULL(c);
	/* a refusal is not a violation: the signer still serves */
	TU_ASSERT_ERR(vf_signer_sign_host(&sg, "web-01", &id.key.pub, &c), ATTEST_OK);
	X509_free(c);
	c = NULL;
	vf_signer_stop(&sg);

	/* requests outside the set kill the signer */
	n = request(req, sizeof(req), 9, "web-01", &id.key.pub);
	violation(ca, &id.key.pub, req, n, "unknown type");
	n = request(req, sizeof(req), VF_SIGNER_SIGN_HOST_CA, "web-01", &id.key.pub);
	req[n] = 0;
	violation(ca, &id.key.pub, req, n + 1, "trailing byte");
	req[1] = 63; /* the host name claims the key's bytes */
	violation(ca, &id.key.pub, req, n, "host length");
	memset(req, 'a', sizeof(req));
	req[0] = VF_SIGNER_SIGN_HOST_CA;
	violation(ca, &id.key.pub, req, VF_SIGNER_REQ_MAX + 1, "oversize");
	violation(ca, &id.key.pub, req, 1, "truncated");

	/* no key, no signer: it fails at start, not at the first enrolment */
	issuing_key_path(ca, key, sizeof(key));
	snprintf(moved, sizeof(moved), "%s.away", key);
	CU_ASSERT_FATAL(rename(key, moved) == 0);
	TU_ASSERT_ERR(vf_signer_start(ca, -1, &sg), ATTEST_E_NOT_FOUND);
	CU_ASSERT(sg.pid == 0 && sg.fd < 0);
	CU_ASSERT_FATAL(rename(moved, key) == 0);

	attest_host_identity_clear(&id);
	tu_tpm_stop(&sw);
}

/* 1 when the needle occurs in a readable mapping of pid (regions over
 * 1 GiB, sanitizer shadow, are skipped). */
static int in_memory(pid_t pid, const uint8_t *needle, size_t nlen)
{
	char path[64], line[512];
	FILE *maps;
	int mem, found = 0;
	static uint8_t buf[(1 << 20) + 64];

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	CU_ASSERT_FATAL((maps = fopen(path, "r")) != NULL);
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	mem = open(path, O_RDONLY | O_CLOEXEC);
	CU_ASSERT_FATAL(mem >= 0);
	while (!found && fgets(line, sizeof(line), maps) != NULL) {
		unsigned long lo, hi;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r' ||
		    hi - lo > (1ul << 30) || strstr(line, "[vvar]") != NULL ||
		    strstr(line, "[vsyscall]") != NULL)
			continue;
		for (unsigned long a = lo; a < hi && !found; a += 1 << 20) {
			/* chunks overlap by nlen - 1 bytes: no match is split */
			size_t want = (1ul << 20) + nlen - 1;
			ssize_t got;

			if (want > hi - a)
				want = hi - a;
			got = pread(mem, buf, want, (off_t)a);

			if (got < (ssize_t)nlen)
				continue;
			for (ssize_t i = 0; i + (ssize_t)nlen <= got; i++)
				if (buf[i] == needle[0] && memcmp(buf + i, needle, nlen) == 0) {
					found = 1;
					break;
				}
		}
	}
	close(mem);
	fclose(maps);
	return found;
}

/* The signer: the one child of the serving process (PPid in
 * /proc/N/status). */
static pid_t child_of(pid_t pid)
{
	struct dirent *e;
	DIR *d = opendir("/proc");
	pid_t found = 0;

	CU_ASSERT_FATAL(d != NULL);
	while (found == 0 && (e = readdir(d)) != NULL) {
		char path[300], line[256];
		FILE *f;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue; /* gone meanwhile */
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, "PPid:", 5) == 0) {
				if (tu_leading_num(line + 5) == (long)pid)
					found = (pid_t)tu_leading_num(e->d_name);
				break;
			}
		fclose(f);
	}
	closedir(d);
	return found;
}

/* No open file of pid names a key file (*.key) under dir. */
static int fds_name_key(pid_t pid, const char *dir)
{
	char path[64], link[1024], target[1024];
	struct dirent *e;
	DIR *d;
	int hits = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	CU_ASSERT_FATAL((d = opendir(path)) != NULL);
	while ((e = readdir(d)) != NULL) {
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", path, e->d_name);
		if ((n = readlink(link, target, sizeof(target) - 1)) <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, dir, strlen(dir)) == 0 && n > 4 && strcmp(target + n - 4, ".key") == 0) {
			fprintf(stderr, "  fd %s -> %s\n", e->d_name, target);
			hits++;
		}
	}
	closedir(d);
	return hits;
}

static void test_serving_holds_no_key(void)
{
	struct vfleet f;
	struct daemon *d = &f.d;
	char key[900], tlsca[900], maps[64], out[800];
	uint8_t be[32], le[32];
	EVP_PKEY *k = NULL;
	BIGNUM *priv = NULL;
	pid_t srv, sgn;
	int st = 0, exited = 0;

	/* the host enrols over HTTPS through the verifier: the signer signed */
	vfleet_host_up(&f, NULL);
	srv = f.v.pid;
	sgn = child_of(srv);
	CU_ASSERT_FATAL(sgn > 0);
	issuing_key_path(d->ca, key, sizeof(key));
	snprintf(tlsca, sizeof(tlsca), "%s/tls/ca.key", f.v.state);

	/* the key files: 0600, the root key not online at all */
	CU_ASSERT_EQUAL(tu_sh("test \"$(stat -c %%a '%s')\" = 600 && test \"$(stat -c %%a '%s')\" = 600 "
			      "&& test ! -e '%s/root.key'", key, tlsca, d->ca), 0);
	/* no key file open in the serving process, none mapped */
	CU_ASSERT_EQUAL(fds_name_key(srv, d->ca), 0);
	CU_ASSERT_EQUAL(fds_name_key(srv, f.v.state), 0);
	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)srv);
	CU_ASSERT_EQUAL(tu_sh("grep -q '[.]key' %s", maps), 1);
	CU_ASSERT_EQUAL(tu_sh("grep -q 'libcrypto' %s", maps), 0); /* the check reads maps */
	/* the issuing CA's private scalar: in the signer's memory (OpenSSL's
	 * BIGNUM, little-endian limbs), nowhere in the serving process's, in
	 * either byte order */
	CU_ASSERT_FATAL(attest_pkey_load(key, &k) == ATTEST_OK);
	CU_ASSERT_FATAL(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &priv) == 1);
	CU_ASSERT_FATAL(BN_bn2binpad(priv, be, 32) == 32);
	for (int i = 0; i < 32; i++)
		le[i] = be[31 - i];
	CU_ASSERT(in_memory(sgn, le, 32) || in_memory(sgn, be, 32));
	CU_ASSERT(!in_memory(srv, le, 32));
	CU_ASSERT(!in_memory(srv, be, 32));
	/* nor the verifier's TLS CA key (only `attest-verifier caller add`,
	 * an operator command, reads it) */
	{
		EVP_PKEY *tk = NULL;
		BIGNUM *tp = NULL;
		uint8_t tb[32], tl[32];

		CU_ASSERT_FATAL(attest_pkey_load(tlsca, &tk) == ATTEST_OK);
		CU_ASSERT_FATAL(EVP_PKEY_get_bn_param(tk, OSSL_PKEY_PARAM_PRIV_KEY, &tp) == 1);
		CU_ASSERT_FATAL(BN_bn2binpad(tp, tb, 32) == 32);
		for (int i = 0; i < 32; i++)
			tl[i] = tb[31 - i];
		CU_ASSERT(!in_memory(srv, tl, 32));
		CU_ASSERT(!in_memory(srv, tb, 32));
		BN_free(tp);
		EVP_PKEY_free(tk);
	}

	/* renewal through the verifier after a good quote: the signer signs */
	snprintf(out, sizeof(out), "%s/attest.out", d->sw.dir);
	CU_ASSERT_EQUAL(tu_sh("attestctl host attest --renew --admin-socket %s >%s 2>&1", d->admin,
			      out), 0);
	CU_ASSERT_EQUAL(tu_sh("grep -q '^renewed *yes$' %s", out), 0);
	CU_ASSERT_EQUAL(tu_sh("test $(grep -c 'signer.*signed a host CA certificate for web-01' '%s') -ge 2",
			      f.v.log), 0);
	CU_ASSERT_EQUAL(tu_sh("openssl verify -CAfile %s/root.pem -untrusted %s/issuing-ca.pem "
			      "%s/host-ca.pem >/dev/null", d->ca, d->state, d->state), 0);
	/* still nothing in the serving process after signing twice */
	CU_ASSERT(!in_memory(srv, le, 32));
	CU_ASSERT_EQUAL(fds_name_key(srv, d->ca), 0);

	/* the signer killed: the serving process notices and stops */
	CU_ASSERT_EQUAL(kill(sgn, SIGKILL), 0);
	for (int i = 0; i < 200 && !exited; i++) {
		if (waitpid(srv, &st, WNOHANG) == srv)
			exited = 1;
		else
			usleep(100 * 1000);
	}
	CU_ASSERT(exited);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) != 0);
	CU_ASSERT_EQUAL(tu_sh("grep -q 'the signer process exited' '%s'", f.v.log), 0);
	if (exited)
		f.v.pid = 0;

	BN_free(priv);
	EVP_PKEY_free(k);
	vfleet_down(&f);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "signer: the request set, its re-checks, violations kill it", test_request_set },
		{ "verifier: the serving process holds no CA key", test_serving_holds_no_key },
		{ NULL, NULL },
	};

	return tu_main("signer", tests);
}
