/* test_signer.c - CA key custody in the verifier (issue 12, item 3b):
 * the signer process's typed request set, its re-checks, its ledger of
 * the keys it signed for (what records a subverted serving process forged
 * get it) and what a request outside the set does; and a running
 * attest-verifier whose serving process runs as nobody (uid, no
 * capabilities, no_new_privs, not dumpable, EACCES on both CA keys) and
 * holds no CA private key (fds, maps, memory) while enrolment and renewal
 * go through the signer.
 * Targets: verifier/signer.c (vf_signer_*), libattest/enrol/ca.c
 * (attest_ca_pin_*), verifier/privdrop.c (vf_user_*, vf_layout_fix),
 * verifier/server.c (vf_serve forks the signer, drops, notices its
 * death). */
#include <dirent.h>
#include <grp.h>
#include <pwd.h>
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
#include "tpm/tpmjson.h"
#include "tpm/tpmsw.h"
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

/* What a serving process with write access to the records could do:
 * put another key into hosts/<host>.json. */
static void forge_host_key(const char *ca_dir, const char *host, const TPM2B_PUBLIC *key)
{
	char path[900], *text;
	cJSON *rec = NULL;

	snprintf(path, sizeof(path), "%s/hosts/%s.json", ca_dir, host);
	text = tu_slurp(path, NULL);
	CU_ASSERT_FATAL(text != NULL && (rec = cJSON_Parse(text)) != NULL);
	cJSON_DeleteItemFromObjectCaseSensitive(rec, "key_public");
	CU_ASSERT_FATAL(attest_json_add_TPM2B_PUBLIC(rec, "key_public", key) == ATTEST_OK);
	free(text);
	CU_ASSERT_FATAL((text = cJSON_PrintUnformatted(rec)) != NULL);
	unlink(path);
	tu_write(path, text, strlen(text));
	cJSON_free(text);
	cJSON_Delete(rec);
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

	/* The ledger: what a subverted serving process (which writes the
	 * enrolment records) gets by rewriting web-01's record for a key of
	 * its own: the records pass the signer's re-checks, the ledger does
	 * not (the signer signed web-01 for its TPM key above). */
	{
		EVP_PKEY *mine = EVP_EC_gen("P-256");
		TPM2B_PUBLIC forged;
		struct attest_ca *cah = NULL;
		char *tok = NULL;

		CU_ASSERT_FATAL(mine != NULL);
		CU_ASSERT_FATAL(attest_tpm_pub_from_pkey(mine, &id.key.pub, &forged) == ATTEST_OK);
		forge_host_key(ca, "web-01", &forged);
		TU_ASSERT_ERR(vf_signer_start(ca, -1, &sg), ATTEST_OK);
		TU_ASSERT_ERR(vf_signer_sign_host(&sg, "web-01", &forged, &c), ATTEST_E_STATE);
		CU_ASSERT(strstr(attest_errdetail(), "was signed for another host key") != NULL);
		CU_ASSERT_PTR_NULL(c);
		/* the operator issues a join token for web-01 (re-enrolment):
		 * the next key is signed, and pinned in turn */
		CU_ASSERT_FATAL(attest_ca_open(ca, &cah) == ATTEST_OK);
		CU_ASSERT_FATAL(attest_ca_token_issue(cah, "web-01", 600, "ops", &tok) == ATTEST_OK);
		TU_ASSERT_ERR(vf_signer_sign_host(&sg, "web-01", &forged, &c), ATTEST_OK);
		X509_free(c);
		c = NULL;
		forge_host_key(ca, "web-01", &id.key.pub);
		TU_ASSERT_ERR(vf_signer_sign_host(&sg, "web-01", &id.key.pub, &c), ATTEST_E_STATE);
		CU_ASSERT_PTR_NULL(c);
		/* a host name no operator let in, with records made up by the
		 * serving process (host record, both EK bindings): refused;
		 * a token record the serving user wrote (not root's) does not
		 * count; the operator's allowlist entry for its EK does */
		{
			const char *fake = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
			char p1[900], p2[900], *text;
			cJSON *rec = NULL;
			struct passwd *pw = getpwnam("nobody");

			snprintf(p1, sizeof(p1), "%s/hosts/web-01.json", ca);
			text = tu_slurp(p1, NULL);
			CU_ASSERT_FATAL(text != NULL && (rec = cJSON_Parse(text)) != NULL);
			free(text);
			cJSON_ReplaceItemInObjectCaseSensitive(rec, "host", cJSON_CreateString("evil-01"));
			cJSON_ReplaceItemInObjectCaseSensitive(rec, "ek_hash", cJSON_CreateString(fake));
			CU_ASSERT_FATAL((text = cJSON_PrintUnformatted(rec)) != NULL);
			snprintf(p1, sizeof(p1), "%s/hosts/evil-01.json", ca);
			tu_write(p1, text, strlen(text));
			cJSON_free(text);
			cJSON_Delete(rec);
			snprintf(p1, sizeof(p1), "%s/names/evil-01", ca);
			tu_write(p1, fake, strlen(fake));
			snprintf(p1, sizeof(p1), "%s/eks/%s", ca, fake);
			tu_write(p1, "evil-01", 7);
			forge_host_key(ca, "evil-01", &forged);
			TU_ASSERT_ERR(vf_signer_sign_host(&sg, "evil-01", &forged, &c), ATTEST_E_STATE);
			CU_ASSERT(strstr(attest_errdetail(), "no operator authorised host \"evil-01\"") != NULL);
			CU_ASSERT_PTR_NULL(c);
			/* a token record for evil-01 the serving user made */
			CU_ASSERT_FATAL(pw != NULL);
			snprintf(p2, sizeof(p2), "%s/tokens/%s.json", ca, fake);
			{
				char tj[256];

				snprintf(tj, sizeof(tj), "{\"host\":\"evil-01\",\"operator\":\"x\","
					 "\"created\":1,\"expires\":%llu}",
					 (unsigned long long)time(NULL) + 600);
				tu_write(p2, tj, strlen(tj));
			}
			CU_ASSERT_FATAL(chown(p2, pw->pw_uid, pw->pw_gid) == 0);
			TU_ASSERT_ERR(vf_signer_sign_host(&sg, "evil-01", &forged, &c), ATTEST_E_STATE);
			CU_ASSERT_PTR_NULL(c);
			unlink(p2);
			/* the operator's allowlist entry for that EK and name */
			TU_ASSERT_ERR(attest_ca_allow_ek(cah, fake, "evil-01", "ops"), ATTEST_OK);
			TU_ASSERT_ERR(vf_signer_sign_host(&sg, "evil-01", &forged, &c), ATTEST_OK);
			X509_free(c);
			c = NULL;
			TU_ASSERT_ERR(attest_ca_forget_host(cah, "evil-01"), ATTEST_OK);
		}
		vf_signer_stop(&sg);
		/* forget-host releases it too */
		{
			char pin[900];

			snprintf(pin, sizeof(pin), "%s/signed/web-01", ca);
			CU_ASSERT_EQUAL(access(pin, F_OK), 0);
			TU_ASSERT_ERR(attest_ca_forget_host(cah, "web-01"), ATTEST_OK);
			CU_ASSERT_NOT_EQUAL(access(pin, F_OK), 0);
		}
		free(tok);
		attest_ca_close(cah);
		EVP_PKEY_free(mine);
	}

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

/* The value of a /proc/PID/status line ("Uid:" ...), tabs as spaces. */
static void status_line(pid_t pid, const char *key, char *out, size_t n)
{
	char path[64], line[512];
	FILE *f;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	CU_ASSERT_FATAL((f = fopen(path, "r")) != NULL);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, strlen(key)) == 0) {
			char *v = line + strlen(key);

			while (*v == ' ' || *v == '\t')
				v++;
			v[strcspn(v, "\n")] = '\0';
			for (char *c = v; *c != '\0'; c++)
				if (*c == '\t')
					*c = ' ';
			snprintf(out, n, "%s", v);
			break;
		}
	fclose(f);
}

/* What uid can do with the verifier's files: a child becomes it (no
 * groups but gid) and tries. Returns a bit per surprise (0: as wanted). */
static int try_as(uid_t uid, gid_t gid, const char *ca_dir, const char *state)
{
	char p[6][900];
	int st = 0;
	pid_t pid;

	issuing_key_path(ca_dir, p[0], sizeof(p[0]));
	snprintf(p[1], sizeof(p[1]), "%s/tls/ca.key", state);
	snprintf(p[2], sizeof(p[2]), "%s/config.json", ca_dir);
	snprintf(p[3], sizeof(p[3]), "%s/hosts/probe.json", ca_dir);
	snprintf(p[4], sizeof(p[4]), "%s/signed/web-01", ca_dir);
	snprintf(p[5], sizeof(p[5]), "%s/signed/evil-01", ca_dir);
	CU_ASSERT_FATAL((pid = fork()) >= 0);
	if (pid == 0) {
		int bits = 0, fd;

		if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
			_exit(0x80);
		/* the issuing CA key, the TLS CA key: EACCES */
		if ((fd = open(p[0], O_RDONLY)) >= 0 || errno != EACCES)
			bits |= 1;
		if ((fd = open(p[1], O_RDONLY)) >= 0 || errno != EACCES)
			bits |= 2;
		/* the CA's config: readable, not writable */
		if ((fd = open(p[2], O_WRONLY)) >= 0 || errno != EACCES)
			bits |= 4;
		if ((fd = open(p[2], O_RDONLY)) < 0)
			bits |= 8;
		/* a host record: writable (the serving process enrols) */
		if ((fd = open(p[3], O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0 || unlink(p[3]) != 0)
			bits |= 16;
		/* the signer's ledger: neither read nor written */
		if ((fd = open(p[4], O_RDONLY)) >= 0 || errno != EACCES)
			bits |= 32;
		if ((fd = open(p[5], O_WRONLY | O_CREAT, 0600)) >= 0 || errno != EACCES)
			bits |= 64;
		_exit(bits);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT_FATAL(WIFEXITED(st));
	return WEXITSTATUS(st);
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

	/* the host enrols over HTTPS through the verifier, whose serving
	 * process runs as nobody: the signer signed */
	tu_verifier_user = "nobody";
	vfleet_host_up(&f, NULL);
	tu_verifier_user = NULL;
	srv = f.v.pid;
	sgn = child_of(srv);
	CU_ASSERT_FATAL(sgn > 0);
	issuing_key_path(d->ca, key, sizeof(key));
	snprintf(tlsca, sizeof(tlsca), "%s/tls/ca.key", f.v.state);

	/* the serving process: nobody's uid and gid, no groups, no
	 * capability left (not even in the bounding set), no_new_privs, not
	 * dumpable (its /proc/PID files are root's); the signer stays root */
	{
		struct passwd *pw = getpwnam("nobody");
		char v[256], want[128];
		struct stat pst;

		CU_ASSERT_FATAL(pw != NULL);
		snprintf(want, sizeof(want), "%u %u %u %u", (unsigned)pw->pw_uid,
			 (unsigned)pw->pw_uid, (unsigned)pw->pw_uid, (unsigned)pw->pw_uid);
		status_line(srv, "Uid:", v, sizeof(v));
		CU_ASSERT_STRING_EQUAL(v, want);
		snprintf(want, sizeof(want), "%u %u %u %u", (unsigned)pw->pw_gid,
			 (unsigned)pw->pw_gid, (unsigned)pw->pw_gid, (unsigned)pw->pw_gid);
		status_line(srv, "Gid:", v, sizeof(v));
		CU_ASSERT_STRING_EQUAL(v, want);
		status_line(srv, "Groups:", v, sizeof(v));
		CU_ASSERT_STRING_EQUAL(v, "");
		for (const char *const *ck = (const char *const[]){"CapInh:", "CapPrm:", "CapEff:",
								     "CapBnd:", "CapAmb:", NULL};
		     *ck != NULL; ck++) {
			status_line(srv, *ck, v, sizeof(v));
			if (strcmp(v, "0000000000000000") != 0)
				fprintf(stderr, "  %s %s\n", *ck, v);
			CU_ASSERT_STRING_EQUAL(v, "0000000000000000");
		}
		status_line(srv, "NoNewPrivs:", v, sizeof(v));
		CU_ASSERT_STRING_EQUAL(v, "1");
		snprintf(want, sizeof(want), "/proc/%d/status", (int)srv);
		CU_ASSERT(stat(want, &pst) == 0 && pst.st_uid == 0);
		status_line(sgn, "Uid:", v, sizeof(v));
		CU_ASSERT_STRING_EQUAL(v, "0 0 0 0");
		CU_ASSERT_EQUAL(tu_sh("grep -q 'serving as nobody (uid %u' '%s'", (unsigned)pw->pw_uid,
				      f.v.log), 0);
		/* as that uid: neither CA key opens (EACCES), the CA's config
		 * reads but does not write, a host record writes, the signer's
		 * ledger is out of reach */
		CU_ASSERT_EQUAL(try_as(pw->pw_uid, pw->pw_gid, d->ca, f.v.state), 0);
	}

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

	/* who serves: a user that does not exist, the packaged default when
	 * it is missing, a TLS directory the serving user could have planted:
	 * each refused at start, nothing listening */
	{
		char cmd[2400], rlog[800];

		snprintf(rlog, sizeof(rlog), "%s/refused.log", f.v.dir);
		snprintf(cmd, sizeof(cmd), "timeout 60 attest-verifier serve --state '%s' --ca '%s' "
			 "--listen 127.0.0.1:0 --port-file '%s/port-refused'", f.v.state, d->ca, f.v.dir);
		CU_ASSERT_EQUAL(tu_sh("%s --user no-such-user-x9 >'%s' 2>&1", cmd, rlog), 1);
		CU_ASSERT_EQUAL(tu_sh("grep -q -- '--user no-such-user-x9: no such user' '%s'", rlog), 0);
		if (getpwnam("attest-verifier") == NULL) {
			CU_ASSERT_EQUAL(tu_sh("%s >'%s' 2>&1", cmd, rlog), 1);
			CU_ASSERT_EQUAL(tu_sh("grep -q 'system user attest-verifier, which does not "
					      "exist.*--user NAME' '%s'", rlog), 0);
		}
		CU_ASSERT_EQUAL(tu_sh("chown nobody '%s/tls'", f.v.state), 0);
		CU_ASSERT_EQUAL(tu_sh("%s --user nobody >'%s' 2>&1", cmd, rlog), 1);
		CU_ASSERT_EQUAL(tu_sh("grep -q 'tls belongs to uid [0-9]*, not root' '%s'", rlog), 0);
		CU_ASSERT_EQUAL(tu_sh("test ! -e '%s/port-refused'", f.v.dir), 0);
		CU_ASSERT_EQUAL(tu_sh("chown root '%s/tls'", f.v.state), 0);
		/* nor is anything of the CA that must be root's given to root
		 * at start: a CA directory or an issuing key the serving user
		 * could have placed is refused, never chowned into trust */
		CU_ASSERT_EQUAL(tu_sh("chown nobody '%s'", d->ca), 0);
		CU_ASSERT_EQUAL(tu_sh("%s --user nobody >'%s' 2>&1", cmd, rlog), 1);
		CU_ASSERT_EQUAL(tu_sh("grep -q '/. belongs to uid [0-9]*, not root' '%s'", rlog), 0);
		CU_ASSERT_EQUAL(tu_sh("chown root '%s'", d->ca), 0);
		CU_ASSERT_EQUAL(tu_sh("chown nobody \"$(ls '%s'/issuing/*.key | head -n 1)\"",
				      d->ca), 0);
		CU_ASSERT_EQUAL(tu_sh("%s --user nobody >'%s' 2>&1", cmd, rlog), 1);
		CU_ASSERT_EQUAL(tu_sh("grep -q 'issuing/.*key belongs to uid [0-9]*, not root' '%s'",
				      rlog), 0);
		CU_ASSERT_EQUAL(tu_sh("test ! -e '%s/port-refused'", f.v.dir), 0);
		CU_ASSERT_EQUAL(tu_sh("chown root '%s'/issuing/*.key", d->ca), 0);
	}

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
