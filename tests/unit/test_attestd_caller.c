/* test_attestd_caller.c - how attestd measures and authorizes a caller at
 * issuance, end to end on swtpm (issue 10, items 3, 5, 6 and 7):
 *   - a non-root copy of a registered binary on tmpfs, patched through a
 *     MAP_SHARED mapping between two issuances, is refused the second time
 *     (the measurement cache does not vouch for files others may write);
 *   - the environment allowlist: OPENSSL_CONF, GCONV_PATH, NODE_OPTIONS,
 *     PERL5OPT and unknown variables refused by name, an extension given at
 *     registration accepted (and kept across a restart), loader variables
 *     refused at registration (and a record edited to hold one is not
 *     loaded), records from before env_allow still load, the uid checked
 *     before the environment is read, the environment capped;
 *   - an interpreted agent started in `unshare -Urm` with another script
 *     bind-mounted over the registered one is refused;
 *   - "scopes": [] never yields the registered scopes.
 * Targets: attestd caller.c measure_caller, issue.c do_issue, register.c
 * do_register, registry.c, libattest measure.c. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/err.h"
#include "x509/x509agent.h"
#include "testutil.h"
#include "testutil_daemon.h"

#define ISSUE(agent) "{\"op\":\"issue\",\"agent\":\"" agent "\"}"

/* Run bin SOCK JSON as uid (0: stay root) with exactly envp; the socket
 * and binary are reached through descriptors opened as root (the test
 * directory is 0700). Returns the reply raw_client printed. */
static cJSON *run_as(uid_t uid, const char *bin, const char *sock, const char *json,
		     char *const envp[])
{
	cJSON *o = run_agent_as(uid, bin, sock, json, envp);

	CU_ASSERT_FATAL(o != NULL);
	return o;
}

static int register_raw(struct daemon *d, const char *json, char *why, size_t whysz)
{
	cJSON *reply = NULL;
	int r = admin_call(d, json, &reply);

	snprintf(why, whysz, "%s", r == ATTEST_OK ? "" : attest_errdetail());
	cJSON_Delete(reply);
	return r;
}

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---------- 3. measurement cache ---------- */

/* The registered binary (root-owned, in the test directory) is copied to
 * tmpfs and given to uid 65534, which may run it as agent "nob". After
 * the copy's ctime has settled (the old cache then stored its digest),
 * one byte past the ELF image is patched through a shared mapping, read
 * first so that the write takes no fault: tmpfs moves neither mtime nor
 * ctime. The patched copy must be refused. The registered binary itself,
 * run twice as root, is served both times (cache-eligible). */
static void test_cache_poisoning(void)
{
	static struct daemon d;
	char a[700], shm[64] = "/dev/shm/attest-test-caller.XXXXXX", copy[128];
	char *envp[] = { "PATH=/usr/bin:/bin", NULL };
	struct stat st0, st1;
	unsigned char *map;
	int fd;

	daemon_up(&d);
	make_agent_binary(&d, "agent-a", "ZZZZ", a, sizeof(a));
	register_agent(&d, "nob", a, "65534");
	register_agent(&d, "alpha", a, "0");
	CU_ASSERT_FATAL(chmod(d.sock, 0666) == 0);
	CU_ASSERT_FATAL(mkdtemp(shm) != NULL);
	snprintf(copy, sizeof(copy), "%s/agent", shm);
	CU_ASSERT_FATAL(tu_sh("cp '%s' '%s' && chmod 0755 '%s' && chown 65534:65534 '%s'", a, copy,
			      copy, copy) == 0);
	pause_ms(2500); /* older than the cache's racy-ctime window */

	expect_cert(&d, run_as(65534, copy, d.sock, ISSUE("nob"), envp), "nob");

	CU_ASSERT_FATAL(stat(copy, &st0) == 0);
	fd = open(copy, O_RDWR | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0);
	map = mmap(NULL, (size_t)st0.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CU_ASSERT_FATAL(map != MAP_FAILED);
	CU_ASSERT(((volatile unsigned char *)map)[st0.st_size - 1] == 'Z');
	((volatile unsigned char *)map)[st0.st_size - 1] = 'Y';
	CU_ASSERT(munmap(map, (size_t)st0.st_size) == 0);
	close(fd);
	CU_ASSERT_FATAL(stat(copy, &st1) == 0);
	/* the attack's premise: the old cache key did not move */
	CU_ASSERT(st0.st_size == st1.st_size && st0.st_mtim.tv_sec == st1.st_mtim.tv_sec &&
		  st0.st_mtim.tv_nsec == st1.st_mtim.tv_nsec &&
		  st0.st_ctim.tv_sec == st1.st_ctim.tv_sec &&
		  st0.st_ctim.tv_nsec == st1.st_ctim.tv_nsec);

	expect_refused_why(run_as(65534, copy, d.sock, ISSUE("nob"), envp), "ATTEST_E_MEASUREMENT",
			   "other than agent nob's");
	/* the honest, root-owned binary: served again and again */
	expect_cert(&d, run_as(0, a, d.sock, ISSUE("alpha"), envp), "alpha");
	expect_cert(&d, run_as(0, a, d.sock, ISSUE("alpha"), envp), "alpha");
	CU_ASSERT(unlink(copy) == 0 && rmdir(shm) == 0);
	daemon_down(&d);
}

/* ---------- 5. environment allowlist ---------- */

static void test_env_allowlist(void)
{
	static struct daemon d;
	static const char *const refused[][2] = {
		{ "OPENSSL_CONF=/tmp/evil.cnf", "OPENSSL_CONF" },
		{ "GCONV_PATH=/tmp", "GCONV_PATH" },
		{ "NODE_OPTIONS=--require=/tmp/x.js", "NODE_OPTIONS" },
		{ "PERL5OPT=-Mevil", "PERL5OPT" },
		{ "LD_PRELOAD=", "LD_PRELOAD" }, /* set, even empty */
		{ "PYTHONPATH=/tmp", "PYTHONPATH" },
		{ "SOME_UNKNOWN_VARIABLE=1", "SOME_UNKNOWN_VARIABLE" },
		{ "MY_AGENT_MODE=fast", "MY_AGENT_MODE" }, /* allowed for beta, not alpha */
	};
	static const char *const bad_allow[] = { "LD_PRELOAD", "OPENSSL_CONF", "OPENSSL_*",
						 "GCONV_PATH", "PYTHONUNBUFFERED", "NODE_OPTIONS",
						 "PERL5OPT", "L*", "*", "BAD-NAME", "A*B", "" };
	char a[700], json[2048], why[1024];
	char *clean[] = { "PATH=/usr/bin:/bin", "HOME=/", "LANG=C.UTF-8", "LC_ALL=C", "TZ=UTC",
			  NULL };
	char *extended[] = { "PATH=/usr/bin:/bin", "MY_AGENT_MODE=fast", "MY_AGENT_X=1",
			     "FOO=2", NULL };

	daemon_up(&d);
	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	register_agent(&d, "alpha", a, "0");
	snprintf(json, sizeof(json),
		 "{\"op\":\"register\",\"name\":\"beta\",\"binary\":\"%s\",\"uids\":[0],"
		 "\"risk_tier\":\"low\",\"env_allow\":[\"MY_AGENT_*\",\"FOO\"]}", a);
	TU_ASSERT_ERR(register_raw(&d, json, why, sizeof(why)), ATTEST_OK);

	/* the default set passes; each variable outside it is refused by name */
	expect_cert(&d, run_as(0, a, d.sock, ISSUE("alpha"), clean), "alpha");
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char *envp[] = { "PATH=/usr/bin:/bin", (char *)refused[i][0], NULL };

		expect_refused_why(run_as(0, a, d.sock, ISSUE("alpha"), envp), "ATTEST_E_ENV",
				   refused[i][1]);
	}
	/* an extension given at registration, kept across a restart */
	expect_cert(&d, run_as(0, a, d.sock, ISSUE("beta"), extended), "beta");
	daemon_stop(&d);
	unlink(d.admin);
	unlink(d.sock);
	daemon_start(&d, "64");
	expect_cert(&d, run_as(0, a, d.sock, ISSUE("beta"), extended), "beta");
	{
		char *envp[] = { "PATH=/usr/bin:/bin", "FOO=1", "OPENSSL_CONF=/tmp/x", NULL };

		expect_refused_why(run_as(0, a, d.sock, ISSUE("beta"), envp), "ATTEST_E_ENV",
				   "OPENSSL_CONF");
	}

	/* the allowlist cannot be extended to loader or runtime variables */
	for (size_t i = 0; i < sizeof(bad_allow) / sizeof(bad_allow[0]); i++) {
		int r;

		snprintf(json, sizeof(json),
			 "{\"op\":\"register\",\"name\":\"bad%zu\",\"binary\":\"%s\",\"uids\":[0],"
			 "\"risk_tier\":\"low\",\"env_allow\":[\"OK_NAME\",\"%s\"]}", i, a,
			 bad_allow[i]);
		r = register_raw(&d, json, why, sizeof(why));
		if (r == ATTEST_OK)
			fprintf(stderr, "  env_allow \"%s\" was accepted\n", bad_allow[i]);
		CU_ASSERT(r == ATTEST_E_ENV || r == ATTEST_E_PARSE);
	}
	snprintf(json, sizeof(json),
		 "{\"op\":\"register\",\"name\":\"bad-ld\",\"binary\":\"%s\",\"uids\":[0],"
		 "\"risk_tier\":\"low\",\"env_allow\":[\"LD_PRELOAD\"]}", a);
	TU_ASSERT_ERR(register_raw(&d, json, why, sizeof(why)), ATTEST_E_ENV);
	CU_ASSERT(strstr(why, "LD_PRELOAD") != NULL && strstr(why, "loader") != NULL);
	daemon_down(&d);
}

/* Rewrite STATE/agents/NAME.json with its env_allow member removed
 * (allow == NULL: a record written before env_allow existed) or replaced. */
static void edit_record(struct daemon *d, const char *name, const char *allow_json)
{
	char path[800];
	char *text, *out;
	size_t n;
	cJSON *o;

	snprintf(path, sizeof(path), "%s/agents/%s.json", d->state, name);
	text = tu_slurp(path, &n);
	o = cJSON_ParseWithLength(text, n);
	CU_ASSERT_FATAL(o != NULL);
	cJSON_DeleteItemFromObjectCaseSensitive(o, "env_allow");
	if (allow_json != NULL)
		cJSON_AddItemToObject(o, "env_allow", cJSON_Parse(allow_json));
	out = cJSON_PrintUnformatted(o);
	CU_ASSERT_FATAL(out != NULL);
	tu_write(path, out, strlen(out));
	free(out);
	free(text);
	cJSON_Delete(o);
}

/* A record from before env_allow loads with the default set only; a
 * record whose env_allow names a loader variable (edited on disk) is not
 * loaded at all: that agent is unknown until registered again. */
static void test_env_allow_records(void)
{
	static struct daemon d;
	char a[700], json[2048], why[512];
	char *clean[] = { "PATH=/usr/bin:/bin", NULL };
	char *mine[] = { "PATH=/usr/bin:/bin", "MY_AGENT_MODE=1", NULL };

	daemon_up(&d);
	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	snprintf(json, sizeof(json),
		 "{\"op\":\"register\",\"name\":\"old\",\"binary\":\"%s\",\"uids\":[0],"
		 "\"risk_tier\":\"low\",\"env_allow\":[\"MY_AGENT_*\"]}", a);
	TU_ASSERT_ERR(register_raw(&d, json, why, sizeof(why)), ATTEST_OK);
	snprintf(json, sizeof(json),
		 "{\"op\":\"register\",\"name\":\"planted\",\"binary\":\"%s\",\"uids\":[0],"
		 "\"risk_tier\":\"low\"}", a);
	TU_ASSERT_ERR(register_raw(&d, json, why, sizeof(why)), ATTEST_OK);
	expect_cert(&d, run_as(0, a, d.sock, ISSUE("old"), mine), "old");
	daemon_stop(&d);
	edit_record(&d, "old", NULL);
	edit_record(&d, "planted", "[\"LD_PRELOAD\"]");
	unlink(d.admin);
	unlink(d.sock);
	daemon_start(&d, "64");
	expect_cert(&d, run_as(0, a, d.sock, ISSUE("old"), clean), "old");
	expect_refused_why(run_as(0, a, d.sock, ISSUE("old"), mine), "ATTEST_E_ENV",
			   "MY_AGENT_MODE");
	expect_refused(run_as(0, a, d.sock, ISSUE("planted"), clean), "ATTEST_E_AGENT_UNKNOWN");
	CU_ASSERT(tu_sh("grep -q 'planted.json unusable.*env_allow entry \"LD_PRELOAD\"' '%s'",
			d.log) == 0);
	daemon_down(&d);
}

/* The uid is checked before the environment is read: a process of a uid
 * the agent does not allow is refused for its uid even when its
 * environment is over the cap (which the same environment under the
 * right uid is refused for). */
static void test_env_after_uid(void)
{
	static struct daemon d;
	char a[700];
	/* three allowed variables of 100 KiB (one string may not pass 128 KiB) */
	size_t big = 100 * 1024;
	char *v1 = malloc(big + 8), *v2 = malloc(big + 8), *v3 = malloc(big + 8);
	char *envp[] = { "PATH=/usr/bin:/bin", v1, v2, v3, NULL };

	CU_ASSERT_FATAL(v1 != NULL && v2 != NULL && v3 != NULL);
	memcpy(v1, "HOME=", 5);
	memcpy(v2, "LANG=", 5);
	memcpy(v3, "TERM=", 5);
	for (char **v = envp + 1; *v != NULL; v++) {
		memset(*v + 5, 'x', big);
		(*v)[big + 5] = '\0';
	}
	daemon_up(&d);
	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	register_agent(&d, "alpha", a, "0");
	CU_ASSERT_FATAL(chmod(d.sock, 0666) == 0);
	expect_refused_why(run_as(0, a, d.sock, ISSUE("alpha"), envp), "ATTEST_E_ENV", "cap");
	expect_refused(run_as(65534, a, d.sock, ISSUE("alpha"), envp), "ATTEST_E_UID");
	{
		char *envp2[] = { "PATH=/usr/bin:/bin", "OPENSSL_CONF=/tmp/x", NULL };

		expect_refused(run_as(65534, a, d.sock, ISSUE("alpha"), envp2), "ATTEST_E_UID");
	}
	free(v1);
	free(v2);
	free(v3);
	daemon_down(&d);
}

/* ---------- 6. mount namespace of an interpreted agent ---------- */

/* python3 running examples/agent_client.py, registered as interpreter +
 * script. The same interpreter in `unshare -Urm` with another script
 * bind-mounted over the registered path (it reads the other one) is
 * refused; the same command outside the namespace is served. */
static void test_mount_namespace(void)
{
	static struct daemon d;
	char py[1024] = "", dir[700], script[800], other[800], json[4096], why[512];
	char *real = NULL;

	if (tu_sh("command -v python3 >/dev/null 2>&1") != 0 ||
	    tu_sh("unshare -Urm true >/dev/null 2>&1") != 0) {
		fprintf(stderr, "  no python3 or no unshare -Urm: mount namespace case not tested\n");
		return;
	}
	python_interpreter(py, sizeof(py));

	daemon_up(&d);
	snprintf(dir, sizeof(dir), "%s/pyagent", d.sw.dir);
	snprintf(script, sizeof(script), "%s/agent_client.py", dir);
	snprintf(other, sizeof(other), "%s/other.py", dir);
	CU_ASSERT_FATAL(tu_sh("mkdir -m 0755 '%s' && install -o 0 -g 0 -m 0644 "
			      "'%s/examples/agent_client.py' '%s' && "
			      "{ cat '%s'; echo '# another script'; } > '%s'",
			      dir, getenv("ATTEST_SRCDIR") ? getenv("ATTEST_SRCDIR") : ".", script,
			      script, other) == 0);
	CU_ASSERT_FATAL((real = realpath(script, NULL)) != NULL);
	snprintf(json, sizeof(json),
		 "{\"op\":\"register\",\"name\":\"pyx\",\"binary\":\"%s\",\"script\":\"%s\","
		 "\"uids\":[0],\"risk_tier\":\"low\"}", py, real);
	TU_ASSERT_ERR(register_raw(&d, json, why, sizeof(why)), ATTEST_OK);

	CU_ASSERT_EQUAL(tu_sh("cd '%s' && env -i PATH=/usr/bin:/bin '%s' '%s' --agent pyx "
			      "--socket '%s' --out ok >run.log 2>&1", d.sw.dir, py, real, d.sock),
			0);
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && env -i PATH=/usr/bin:/bin unshare -Urm sh -c "
			      "\"mount --bind '%s' '%s' && exec '%s' '%s' --agent pyx --socket '%s' "
			      "--out ns\" >run.log 2>&1", d.sw.dir, other, real, py, real, d.sock),
			1);
	if (tu_sh("grep -q 'ATTEST_E_MEASUREMENT' '%s/run.log' && grep -q 'mount namespace' "
		  "'%s/run.log'", d.sw.dir, d.sw.dir) != 0) {
		CU_FAIL("the agent in another mount namespace was not refused for it");
		(void)tu_sh("cat '%s/run.log' >&2", d.sw.dir);
	}
	free(real);
	daemon_down(&d);
}

/* ---------- 7. empty scope list ---------- */

/* The leaf's scopes extension (space-separated), "" when it has none. */
static char *leaf_scopes(const cJSON *reply)
{
	const cJSON *chain = cJSON_GetObjectItemCaseSensitive(reply, "chain");
	static char out[2048];
	char *s = NULL;
	X509 *leaf = NULL;
	BIO *b;

	out[0] = '\0';
	CU_ASSERT_FATAL(cJSON_IsString(chain));
	b = BIO_new_mem_buf(chain->valuestring, -1);
	CU_ASSERT_FATAL(b != NULL && (leaf = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL);
	if (attest_x509_ext_utf8(leaf, ATTEST_OID_SCOPES, &s) == ATTEST_OK)
		snprintf(out, sizeof(out), "%s", s);
	free(s);
	X509_free(leaf);
	BIO_free(b);
	return out;
}

static void test_empty_scopes(void)
{
	static struct daemon d;
	char a[700];
	char *envp[] = { "PATH=/usr/bin:/bin", NULL };
	cJSON *reply;

	daemon_up(&d);
	make_agent_binary(&d, "agent-a", NULL, a, sizeof(a));
	register_agent(&d, "alpha", a, "0"); /* scopes ehr:read, ehr:write */
	expect_refused_why(run_as(0, a, d.sock,
				  "{\"op\":\"issue\",\"agent\":\"alpha\",\"scopes\":[]}", envp),
			   "ATTEST_E_SCOPE", "empty");
	expect_refused_why(run_as(0, a, d.sock,
				  "{\"op\":\"issue\",\"agent\":\"alpha\",\"mode\":\"session\","
				  "\"scopes\":[]}", envp),
			   "ATTEST_E_SCOPE", "empty");
	/* one asked: that one only */
	reply = run_as(0, a, d.sock, "{\"op\":\"issue\",\"agent\":\"alpha\",\"scopes\":[\"ehr:read\"]}",
		       envp);
	{
		const char *text = leaf_scopes(reply);

		CU_ASSERT(strcmp(text, "ehr:read") == 0);
	}
	expect_cert(&d, reply, "alpha");
	/* absent: the registration's scopes (the documented default) */
	reply = run_as(0, a, d.sock, ISSUE("alpha"), envp);
	{
		const char *text = leaf_scopes(reply);

		CU_ASSERT(strcmp(text, "ehr:read ehr:write") == 0);
	}
	expect_cert(&d, reply, "alpha");
	daemon_down(&d);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "cache: tmpfs copy patched through MAP_SHARED refused", test_cache_poisoning },
		{ "environment allowlist: refusals by name, extension, registration rules",
		  test_env_allowlist },
		{ "environment allowlist: old records, a planted loader entry", test_env_allow_records },
		{ "environment read only after the uid check, and capped", test_env_after_uid },
		{ "interpreted agent in another mount namespace refused", test_mount_namespace },
		{ "\"scopes\": [] never yields the registered scopes", test_empty_scopes },
		{ NULL, NULL },
	};

	return tu_main("attestd_caller", tests);
}
