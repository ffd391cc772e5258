/* test_examples.c - the agents in examples/ really get certificates from a
 * live attestd on swtpm, as docs/agents.md shows: the C one
 * (examples/agent_client.c on attest_client_issue, strict, session and
 * renewal) and the Python one (standard library only; registered as
 * interpreter + script). The chains they write verify to the fleet root,
 * their keys are 0600 and match the leaf, and the documented refusals
 * (loader and PYTHON* variables, another copy of the script) hold.
 * Targets: examples/, attestd's issue path, docs/agents.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "attest/attest.h"
#include "testutil.h"
#include "testutil_daemon.h"

static const char *srcdir(void)
{
	return getenv("ATTEST_SRCDIR") ? getenv("ATTEST_SRCDIR") : ".";
}

static void register_json(struct daemon *d, const char *name, const char *binary,
			  const char *script)
{
	char json[3000];
	cJSON *reply = NULL;

	snprintf(json, sizeof(json),
		 "{\"op\":\"register\",\"name\":\"%s\",\"binary\":\"%s\"%s%s%s,\"uids\":[%u],"
		 "\"scopes\":[\"ehr:read\",\"ehr:write\"],\"risk_tier\":\"medium\","
		 "\"data_classes\":[\"phi\"],\"max_ttl\":600," TU_ENV_ALLOW_JSON "}",
		 name, binary, script ? ",\"script\":\"" : "", script ? script : "",
		 script ? "\"" : "", (unsigned)getuid());
	TU_ASSERT_ERR(admin_call(d, json, &reply), ATTEST_OK);
	cJSON_Delete(reply);
}

/* dir/cert.pem verifies to the fleet root, its leaf names the agent, and
 * dir/key.pem is 0600 (in a 0700 directory) and holds the leaf's key. */
static void check_out(struct daemon *d, const char *dir, const char *agent)
{
	char path[800];
	struct stat st;

	CU_ASSERT_EQUAL(tu_sh("openssl verify -CAfile '%s/root.pem' -untrusted '%s/cert.pem' "
			      "'%s/cert.pem' >/dev/null", d->ca, dir, dir), 0);
	CU_ASSERT_EQUAL(tu_sh("openssl x509 -in '%s/cert.pem' -noout -ext subjectAltName | "
			      "grep -qx '    URI:spiffe://fleet.example/host/web-01/agent/%s'",
			      dir, agent), 0);
	CU_ASSERT_EQUAL(tu_sh("a=$(openssl x509 -in '%s/cert.pem' -noout -pubkey) && "
			      "b=$(openssl pkey -in '%s/key.pem' -pubout) && [ \"$a\" = \"$b\" ]",
			      dir, dir), 0);
	/* not fatal: the daemon must still be stopped by daemon_down */
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	CU_ASSERT(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
	CU_ASSERT(stat(dir, &st) == 0 && (st.st_mode & 077) == 0);
}

/* Run cmd (with a clean environment plus env) and return its exit status;
 * its output goes to <dir>/run.log, which is printed on a surprise. */
static int run(struct daemon *d, int want, const char *env, const char *cmd)
{
	int rc = tu_sh("cd '%s' && env -i PATH=/usr/bin:/bin %s %s >run.log 2>&1", d->sw.dir,
		       env ? env : "", cmd);

	if (rc != want) {
		fprintf(stderr, "  %s: exit %d, want %d; output:\n", cmd, rc, want);
		(void)tu_sh("cat '%s/run.log' >&2", d->sw.dir);
	}
	return rc;
}

static int log_has(struct daemon *d, const char *what)
{
	return tu_sh("grep -q '%s' '%s/run.log'", what, d->sw.dir) == 0;
}

static void test_c_example(void)
{
	struct daemon d;
	char bin[700], cmd[2000], out[800];

	daemon_up(&d);
	/* a copy of its own: what attestd measures must not change under us */
	snprintf(bin, sizeof(bin), "%s/agent_client", d.sw.dir);
	if (tu_sh("cp '%s/agent_client' '%s' && chmod 0755 '%s'", tu_examples_dir(), bin, bin) != 0) {
		CU_FAIL("examples/agent_client is not built (set ATTEST_EXAMPLES)");
		daemon_down(&d);
		return;
	}
	register_json(&d, "cexample", bin, NULL);

	snprintf(cmd, sizeof(cmd), "'%s' --agent cexample --socket '%s' --out strict", bin, d.sock);
	CU_ASSERT_EQUAL(run(&d, 0, NULL, cmd), 0);
	snprintf(out, sizeof(out), "%s/strict", d.sw.dir);
	check_out(&d, out, "cexample");

	snprintf(cmd, sizeof(cmd), "'%s' --agent cexample --socket '%s' --mode session --ttl 120 "
		 "--out session", bin, d.sock);
	CU_ASSERT_EQUAL(run(&d, 0, NULL, cmd), 0);
	snprintf(out, sizeof(out), "%s/session", d.sw.dir);
	check_out(&d, out, "cexample");

	/* renewal: 3-second certificates, asked for again before each expires */
	snprintf(cmd, sizeof(cmd), "timeout 4 '%s' --agent cexample --socket '%s' --ttl 3 --renew "
		 "--out renew", bin, d.sock);
	CU_ASSERT_EQUAL(run(&d, 124, NULL, cmd), 124);
	CU_ASSERT_EQUAL(tu_sh("[ $(grep -c 'renew/key.pem, valid' '%s/run.log') -ge 2 ]", d.sw.dir), 0);
	/* (the last one may have expired by now: no verify here) */
	CU_ASSERT_EQUAL(tu_sh("cd '%s/renew' && [ \"$(stat -c %%a key.pem cert.pem | tr -d '\\n')\" "
			      "= 600600 ]", d.sw.dir), 0);

	/* with an intent grant: the first leaf spends it, renewals present the
	 * current leaf (attestd logs "(renewed)") */
	daemon_stop(&d);
	CU_ASSERT_EQUAL_FATAL(
		tu_sh("cd '%s' && mkdir -p '%s/intent-issuers' && "
		      "openssl ecparam -genkey -name prime256v1 -noout -out ehr.key 2>/dev/null && "
		      "openssl pkey -in ehr.key -pubout -out '%s/intent-issuers/ehr.pem' && "
		      "attestctl intent issue --key ehr.key --issuer ehr --user u@example --aud "
		      "spiffe://fleet.example/host/web-01/agent/cexample --purpose TREATMENT "
		      "--scopes ehr:read --resources 'ehr:patient/1/*' --ttl 120 --jti t-1 >grant.jws",
		      d.sw.dir, d.state, d.state),
		0);
	daemon_start(&d, "64");
	snprintf(cmd, sizeof(cmd), "timeout 6 '%s' --agent cexample --socket '%s' --ttl 3 --renew "
		 "--intent grant.jws --out intent", bin, d.sock);
	CU_ASSERT_EQUAL(run(&d, 124, NULL, cmd), 124);
	CU_ASSERT_EQUAL(tu_sh("[ $(grep -c 'intent/key.pem, valid' '%s/run.log') -ge 2 ]", d.sw.dir), 0);
	CU_ASSERT_EQUAL(tu_sh("grep -q 'intent of user u@example (granted)' '%s' && "
			      "grep -q 'intent of user u@example (renewed)' '%s'", d.log, d.log),
			0);

	/* the example relying party: TLS 1.3 with the intent leaf is ALLOWED
	 * with the chain described; TLS 1.2 is refused at the handshake */
	CU_ASSERT_EQUAL_FATAL(
		tu_sh("cd '%s' && attestctl intent issue --key ehr.key --issuer ehr --user u@example "
		      "--aud spiffe://fleet.example/host/web-01/agent/cexample --purpose TREATMENT "
		      "--scopes ehr:read --resources 'ehr:patient/1/*' --ttl 120 --jti t-2 >grant2.jws "
		      "&& '%s' --agent cexample --socket '%s' --intent grant2.jws --out tls >/dev/null "
		      "&& openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		      "-subj /CN=localhost -days 1 -keyout srv.key -out srv.pem 2>/dev/null",
		      d.sw.dir, bin, d.sock),
		0);
	CU_ASSERT_EQUAL_FATAL(
		tu_sh("cd '%s' && ('%s/intent_server' --cert srv.pem --key srv.key --root '%s/root.pem' "
		      "--issuer 'ehr=%s/intent-issuers/ehr.pem' >srv.out 2>&1 & echo $! >srv.pid) && "
		      "for i in $(seq 100); do grep -q listening srv.out && break; sleep 0.05; done && "
		      "port=$(sed -n 's/^listening on 127.0.0.1://p' srv.out) && "
		      "timeout 10 openssl s_client -connect 127.0.0.1:$port -tls1_3 -ign_eof "
		      "-cert tls/cert.pem -cert_chain tls/cert.pem -key tls/key.pem "
		      "</dev/null >cli13.log 2>&1; "
		      "timeout 10 openssl s_client -connect 127.0.0.1:$port -tls1_2 "
		      "-cert tls/cert.pem -cert_chain tls/cert.pem -key tls/key.pem "
		      "</dev/null >cli12.log 2>&1; "
		      "for i in $(seq 100); do grep -q '^refused' srv.out && break; sleep 0.05; done; "
		      "kill $(cat srv.pid)",
		      d.sw.dir, tu_examples_dir(), d.ca, d.state),
		0);
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && grep -q '^TLSv1.3 ALLOWED spiffe://fleet.example/host/web-01/"
			      "agent/cexample' srv.out && grep -q 'intent of user u@example' cli13.log "
			      "&& grep -q '^refused: TLS handshake failed' srv.out "
			      "|| { cat srv.out; tail -5 cli13.log; } >&2; exit $?",
			      d.sw.dir),
			0);

	/* attestctl cert show reads the same leaf's chain offline */
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && attestctl cert show --in tls/cert.pem --root '%s/root.pem' "
			      "--issuer 'ehr=%s/intent-issuers/ehr.pem' | grep -q "
			      "'intent of user u@example, granted by ehr'",
			      d.sw.dir, d.ca, d.state),
			0);

	/* refusals come back with the daemon's reason */
	snprintf(cmd, sizeof(cmd), "'%s' --agent cexample --socket '%s' --out env", bin, d.sock);
	CU_ASSERT_EQUAL(run(&d, 1, "LD_LIBRARY_PATH=/nonexistent", cmd), 1);
	CU_ASSERT(log_has(&d, "ATTEST_E_ENV"));
	snprintf(cmd, sizeof(cmd), "'%s' --agent cexample --socket '%s' --ttl 601 --out ttl", bin,
		 d.sock);
	CU_ASSERT_EQUAL(run(&d, 1, NULL, cmd), 1);
	CU_ASSERT(log_has(&d, "ATTEST_E_TTL"));
	daemon_down(&d);
}

static void test_python_example(void)
{
	struct daemon d;
	char py[1024] = "", dir[700], script[800], cmd[4000], out[800];
	char *real = NULL;

	if (tu_sh("command -v python3 >/dev/null 2>&1") != 0) {
		fprintf(stderr, "  no python3: Python example not tested\n");
		return;
	}
	if (getuid() != 0) {
		fprintf(stderr, "  not root: cannot make a root-owned script; Python example not tested\n");
		return;
	}
	/* The interpreter binary itself (python3 may be a symlink or a shim
	 * script that execs it): that is what /proc/PID/exe will show. */
	python_interpreter(py, sizeof(py));

	daemon_up(&d);
	/* root-owned, nobody else may write the script or its directory */
	snprintf(dir, sizeof(dir), "%s/pyagent", d.sw.dir);
	snprintf(script, sizeof(script), "%s/agent_client.py", dir);
	if (tu_sh("mkdir -m 0755 '%s' && install -o 0 -g 0 -m 0644 '%s/examples/agent_client.py' "
		  "'%s' && cp -p '%s' '%s/copy.py'", dir, srcdir(), script, script, dir) != 0 ||
	    (real = realpath(script, NULL)) == NULL) {
		CU_FAIL("cannot install examples/agent_client.py (set ATTEST_SRCDIR)");
		daemon_down(&d);
		return;
	}
	register_json(&d, "pyexample", py, real);

	snprintf(cmd, sizeof(cmd), "'%s' '%s' --agent pyexample --socket '%s' --out py", py, real,
		 d.sock);
	CU_ASSERT_EQUAL(run(&d, 0, NULL, cmd), 0);
	snprintf(out, sizeof(out), "%s/py", d.sw.dir);
	check_out(&d, out, "pyexample");

	snprintf(cmd, sizeof(cmd), "'%s' '%s' --agent pyexample --socket '%s' --mode session "
		 "--ttl 60 --out pysession", py, real, d.sock);
	CU_ASSERT_EQUAL(run(&d, 0, NULL, cmd), 0);
	snprintf(out, sizeof(out), "%s/pysession", d.sw.dir);
	check_out(&d, out, "pyexample");

	/* isolated mode (-I: no user site, no PYTHON* variables) is allowed
	 * before the script; an option that runs other code (-c) is not */
	snprintf(cmd, sizeof(cmd), "'%s' -I '%s' --agent pyexample --socket '%s' --out pyiso", py,
		 real, d.sock);
	CU_ASSERT_EQUAL(run(&d, 0, NULL, cmd), 0);
	snprintf(out, sizeof(out), "%s/pyiso", d.sw.dir);
	check_out(&d, out, "pyexample");
	snprintf(cmd, sizeof(cmd), "'%s' -W ignore '%s' --agent pyexample --socket '%s' --out pyw",
		 py, real, d.sock);
	CU_ASSERT_EQUAL(run(&d, 1, NULL, cmd), 1);
	/* PYTHONPATH could load other code before the script: refused */
	snprintf(cmd, sizeof(cmd), "'%s' '%s' --agent pyexample --socket '%s' --out pyenv", py,
		 real, d.sock);
	CU_ASSERT_EQUAL(run(&d, 1, "PYTHONPATH=/nonexistent", cmd), 1);
	CU_ASSERT(log_has(&d, "ATTEST_E_ENV"));
	/* the same bytes at another path are not the registered script */
	snprintf(cmd, sizeof(cmd), "'%s' '%s/copy.py' --agent pyexample --socket '%s' --out pycopy",
		 py, dir, d.sock);
	CU_ASSERT_EQUAL(run(&d, 1, NULL, cmd), 1);
	CU_ASSERT(log_has(&d, "ATTEST_E_MEASUREMENT"));
	free(real);
	daemon_down(&d);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "C example agent: strict, session, renewal, refusals", test_c_example },
		{ "Python example agent (interpreter + script): certificate, PYTHON* refused",
		  test_python_example },
		{ NULL, NULL },
	};

	return tu_main("examples", tests);
}
