/* bench_storm.c - a launch storm on a slow TPM (issue 17 item 6). Report
 * only: nothing here asserts on time.
 *
 * The TPM: swtpm behind libtss2-tcti-attestfault in latency mode
 * (tests/tcti/attestfault.c): every TPM2_Sign answered 50 ms late, every
 * TPM2_Load and TPM2_CreateLoaded 20 ms late, the rest at swtpm's speed:
 * the slow end of hardware TPMs' signing (17-190 ms). The TPM executes one
 * command at a time (the TCTI sleeps inside attestd's one connection), as
 * a real one does.
 *
 * The agents: N registrations (ATTEST_BENCH_STORM, default 100; 1000 for
 * the figure), each its own binary (a copy of tests/agents/
 * raw_client with its index appended: a distinct file, hash and PCR 23
 * value), its own TPM key, registered for our uid on the fast TCTI. Then
 * attestd is restarted on the slow TCTI: as after a reboot, it holds no
 * session issuer and no transient object. Storm: all N agents are launched
 * as real processes (STORM_PAR at a time, each one connection asking for a
 * session-mode certificate; a refusal "busy" is launched again); the
 * figure is the seconds from the first launch until the last agent holds
 * its chain, against the floor of N TPM signatures (N x 50 ms: each
 * agent's key is bound to its own PCR 23 value, so one Sign per agent),
 * and against N x (Sign + Load), the floor once each distinct key must be
 * loaded after a TPM reset.
 *
 * Steady state: then STEADY_N launches one after the other (agents taken
 * in turn), each timed from fork to the exit of the process holding its
 * chain (exec, connect, measurement, issuance, durable audit record):
 * p50/p99 against the goal of 10 ms, and how many of them made a session
 * issuer on the request path (attestctl stats' session_issuers_on_demand:
 * a launch that waited for the TPM), goal 0. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <cjson/cJSON.h>
#include <openssl/sha.h>

#include "core/err.h"
#include "core/json.h"
#include "core/num.h"
#include "testutil.h"
#include "testutil_bench.h"
#include "testutil_daemon.h"
#include "tpm/tpm.h"
#include "tpm/tpmpolicy.h"

#define STORM_DEFAULT 100
#define STORM_MAX 1000
#define STORM_PAR 32
#define STEADY_N 300
#define SIGN_MS 50.0
#define LOAD_MS 20.0
#define SLOW_SPEC "lat=sign:50,lat=load:20,lat=createloaded:20"

struct launch {
	pid_t pid;
	int fd; /* its stdout */
	int agent;
	double t0;
};

static struct {
	struct daemon d;
	int n, failures;
	char (*bin)[700];
	double storm_s, p50, p99, mean;
	int storm_ok, steady_ok, relaunched;
	uint64_t tpm_storm, demand_storm, demand_steady, renewed;
	double tpm_agent_ms; /* same-run baseline: one agent's TPM work alone */
	int tpm_ok;
	char trace[256];
	long tr0, tr1; /* trace lines before and after the storm */
} g;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#define BASE_KEYS 40

/* Same-run baseline: the TPM work of one agent's first signature alone,
 * in process on its own swtpm through the same slow TCTI (PCR 23 reset +
 * extend with the agent's value, Load, the policy commands, Sign, Flush),
 * for BASE_KEYS distinct keys: what this machine's swtpm plus the modelled
 * latency cost per agent with no attestd around it. */
/* The slow-TPM TCTI over child: BUILD as given when absolute (make bench
 * passes it so), else under the source tree. snprintf's count. */
static int slow_tcti(char *out, size_t n, const char *src, const char *build, const char *child,
		     const char *trace)
{
	const char *b = build != NULL ? build : "build";

	return snprintf(out, n, "%s%s%s/tcti/libtss2-tcti-attestfault.so.0:" SLOW_SPEC "%s%s;%s",
			b[0] == '/' ? "" : src != NULL ? src : ".", b[0] == '/' ? "" : "/", b,
			trace != NULL ? ",trace=" : "", trace != NULL ? trace : "", child);
}

/* Where the TPM time goes: the commands attestd sent (the TCTI's trace=
 * file, one "cc=0x..." line each) from line `from` to line `to`, counted by
 * type and printed per agent as a comment line. Returns the line count. */
static long trace_tally(const char *path, long from, long to, const char *what, int per)
{
	static const struct {
		uint32_t cc;
		const char *name;
	} names[] = { { 0x15d, "Sign" }, { 0x157, "Load" }, { 0x191, "CreateLoaded" },
		      { 0x153, "Create" }, { 0x131, "CreatePrimary" }, { 0x13d, "PCR_Reset" },
		      { 0x182, "PCR_Extend" }, { 0x17f, "PolicyPCR" }, { 0x176, "StartAuthSession" },
		      { 0x165, "FlushContext" }, { 0x173, "ReadPublic" }, { 0x17e, "PCR_Read" },
		      { 0x161, "ContextLoad" }, { 0x162, "ContextSave" }, { 0x17a, "GetCapability" },
		      { 0x16b, "PolicyAuthValue" }, { 0x16c, "PolicyCommandCode" },
		      { 0x184, "NV_Certify" }, { 0x134, "NV_Increment" }, { 0x181, "ReadClock" },
		      { 0x14e, "NV_Read" } };
	unsigned long cnt[sizeof(names) / sizeof(names[0]) + 1] = { 0 };
	char line[64];
	long n = 0;
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long cc = 0;
		size_t i, k;

		n++;
		if (n <= from || (to >= 0 && n > to) || strncmp(line, "cc=0x", 5) != 0)
			continue;
		/* "cc=0x<hex>\n", as the TCTI writes it */
		for (k = 5; k < 13 && strchr("0123456789abcdef", line[k]) != NULL && line[k] != '\0';
		     k++)
			cc = cc * 16 + (unsigned long)(line[k] <= '9' ? line[k] - '0' : line[k] - 'a' + 10);
		if (k == 5)
			continue;
		for (i = 0; i < sizeof(names) / sizeof(names[0]) && names[i].cc != cc; i++)
			;
		cnt[i]++;
	}
	fclose(f);
	if (what != NULL && per > 0) {
		printf("# %s, TPM commands per agent:", what);
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (cnt[i] != 0)
				printf(" %s %.2f", names[i].name, (double)cnt[i] / per);
		if (cnt[sizeof(names) / sizeof(names[0])] != 0)
			printf(" other %.2f", (double)cnt[sizeof(names) / sizeof(names[0])] / per);
		printf("\n");
	}
	return n;
}

static void tpm_baseline(void)
{
	const char *src = getenv("ATTEST_SRCDIR"), *build = getenv("BUILD");
	static const uint8_t digest[32] = "storm baseline digest 0123456789";
	struct tu_tpm sw;
	struct attest_tpm *t = NULL;
	struct attest_tpm_key *keys = calloc(BASE_KEYS, sizeof(*keys));
	struct attest_tpm_creation cr;
	TPM2B_AUTH auth = { .size = 16, .buffer = "agent auth value" };
	uint8_t m[BASE_KEYS][32];
	char conf[1700];
	double t0;
	int ok = keys != NULL;

	tu_tpm_start(&sw);
	(void)slow_tcti(conf, sizeof(conf), src, build, sw.tcti, NULL);
	ok = ok && attest_tpm_open(conf, &t) == ATTEST_OK;
	for (int i = 0; ok && i < BASE_KEYS; i++) {
		uint8_t pcr[64] = { 0 };
		TPM2B_DIGEST policy;

		memset(m[i], i + 1, 32);
		memcpy(pcr + 32, m[i], 32);
		SHA256(pcr, 64, pcr); /* PCR 23 after reset + extend(m) */
		ok = attest_policy_digest_sign(1u << 23, pcr, 32, &policy) == ATTEST_OK &&
		     attest_tpm_create_signkey(t, &policy, &auth, &keys[i], &cr) == ATTEST_OK;
	}
	t0 = now_ms();
	for (int i = 0; ok && i < BASE_KEYS; i++) {
		TPMT_SIGNATURE sig;

		ok = attest_tpm_pcr_reset(t, 23) == ATTEST_OK &&
		     attest_tpm_pcr_extend(t, 23, m[i]) == ATTEST_OK &&
		     attest_tpm_sign_policy(t, &keys[i], &auth, 1u << 23, digest, &sig) == ATTEST_OK;
	}
	if (ok) {
		g.tpm_agent_ms = (now_ms() - t0) / BASE_KEYS;
		g.tpm_ok = 1;
	} else {
		fprintf(stderr, "bench_storm: TPM baseline failed: %s\n", attest_errdetail());
	}
	attest_tpm_close(t);
	tu_tpm_stop(&sw);
	free(keys);
}

static int stat_u64(const char *key, uint64_t *v)
{
	cJSON *rep = NULL;
	int r;

	if ((r = admin_call(&g.d, "{\"op\":\"stats\"}", &rep)) != ATTEST_OK)
		return r;
	r = attest_json_u64(rep, key, v);
	cJSON_Delete(rep);
	return r;
}

/* N copies of raw_client, each with its index appended (distinct files). */
static int make_binaries(void)
{
	char src[700];
	uint8_t *body = NULL;
	size_t len = 0;
	FILE *f;

	snprintf(src, sizeof(src), "%s/raw_client", agents_dir());
	if ((f = fopen(src, "rb")) == NULL)
		return -1;
	body = malloc(1 << 20);
	if (body != NULL)
		len = fread(body, 1, 1 << 20, f);
	fclose(f);
	if (body == NULL || len == 0 || len == 1 << 20) {
		free(body);
		return -1;
	}
	for (int i = 0; i < g.n; i++) {
		char tail[32];
		int fd, k = snprintf(tail, sizeof(tail), "storm-%d", i);

		snprintf(g.bin[i], sizeof(g.bin[i]), "%s/storm-%d", g.d.sw.dir, i);
		if ((fd = open(g.bin[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755)) < 0 ||
		    write(fd, body, len) != (ssize_t)len || write(fd, tail, (size_t)k) != k ||
		    fchmod(fd, 0755) != 0 || close(fd) != 0) {
			free(body);
			return -1;
		}
	}
	free(body);
	return 0;
}

static int register_all(void)
{
	for (int i = 0; i < g.n; i++) {
		char json[1400];
		cJSON *rep = NULL;
		int r;

		snprintf(json, sizeof(json),
			 "{\"op\":\"register\",\"name\":\"storm-%d\",\"binary\":\"%s\",\"uids\":[%u],"
			 "\"scopes\":[\"ehr:read\"],\"risk_tier\":\"low\",\"data_classes\":[],"
			 "\"max_ttl\":600,\"delegate_depth\":0," TU_ENV_ALLOW_JSON "}",
			 i, g.bin[i], (unsigned)getuid());
		if ((r = admin_call(&g.d, json, &rep)) != ATTEST_OK) {
			fprintf(stderr, "bench_storm: register storm-%d: %s (%s)\n", i,
				attest_errname(r), attest_errdetail());
			return -1;
		}
		cJSON_Delete(rep);
	}
	return 0;
}

static int spawn(int agent, struct launch *l)
{
	char json[200];
	int p[2];

	snprintf(json, sizeof(json),
		 "{\"op\":\"issue\",\"agent\":\"storm-%d\",\"mode\":\"session\",\"ttl\":300}", agent);
	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	l->agent = agent;
	l->t0 = now_ms();
	if ((l->pid = fork()) < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (l->pid == 0) {
		char *argv[] = { g.bin[agent], g.d.sock, json, NULL };

		if (dup2(p[1], 1) != 1)
			_exit(127);
		execv(g.bin[agent], argv);
		_exit(127);
	}
	close(p[1]);
	l->fd = p[0];
	return 0;
}

/* Wait for one launch of the set; 1 if it got a chain, 0 if it should be
 * launched again (busy), -1 if it failed. *which: its index in ls. */
static int reap(struct launch *ls, int nl, int *which, double *ms)
{
	static char buf[65536];
	int st;
	pid_t pid = waitpid(-1, &st, 0);

	for (int i = 0; i < nl; i++) {
		size_t len = 0;
		ssize_t k;

		if (ls[i].pid != pid)
			continue;
		*ms = now_ms() - ls[i].t0;
		while (len < sizeof(buf) - 1 && (k = read(ls[i].fd, buf + len, sizeof(buf) - 1 - len)) > 0)
			len += (size_t)k;
		buf[len] = '\0';
		close(ls[i].fd);
		ls[i].pid = 0;
		*which = i;
		if (strstr(buf, "\"chain\"") != NULL)
			return 1;
		if (strstr(buf, "BUSY") != NULL || strstr(buf, "busy") != NULL)
			return 0;
		fprintf(stderr, "bench_storm: storm-%d: %.300s\n", ls[i].agent, buf);
		return -1;
	}
	return -1;
}

/* Launch every agent, STORM_PAR at a time, until each holds a chain. */
static int storm(void)
{
	struct launch ls[STORM_PAR];
	int done = 0, running = 0, *queue, qh = 0, qt = 0;
	double t0;

	memset(ls, 0, sizeof(ls));
	if ((queue = calloc((size_t)g.n * 4 + 1, sizeof(*queue))) == NULL)
		return -1;
	for (int i = 0; i < g.n; i++)
		queue[qt++] = i;
	t0 = now_ms();
	while (done < g.n) {
		int which = -1, r;
		double ms;

		while (running < STORM_PAR && qh < qt) {
			int slot = 0;

			while (ls[slot].pid != 0)
				slot++;
			if (spawn(queue[qh++], &ls[slot]) != 0) {
				free(queue);
				return -1;
			}
			running++;
		}
		r = reap(ls, STORM_PAR, &which, &ms);
		if (which < 0) {
			free(queue);
			return -1;
		}
		running--;
		if (r == 1) {
			done++;
		} else if (r == 0 && qt < g.n * 4) {
			queue[qt++] = ls[which].agent;
			g.relaunched++;
		} else {
			free(queue);
			return -1;
		}
	}
	g.storm_s = (now_ms() - t0) / 1e3;
	free(queue);
	return 0;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int steady(void)
{
	double v[STEADY_N], sum = 0;

	for (int i = 0; i < STEADY_N; i++) {
		struct launch l;
		int which, r;

		if (spawn(i % g.n, &l) != 0)
			return -1;
		if ((r = reap(&l, 1, &which, &v[i])) != 1)
			return -1;
		sum += v[i];
	}
	qsort(v, STEADY_N, sizeof(v[0]), cmp_d);
	g.mean = sum / STEADY_N;
	g.p50 = v[STEADY_N / 2];
	g.p99 = v[(STEADY_N * 99) / 100 - 1 + (STEADY_N * 99 % 100 != 0)];
	return 0;
}

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

static void bench_body(void)
{
	const char *src = getenv("ATTEST_SRCDIR"), *build = getenv("BUILD");
	char tcti[sizeof(g.d.sw.tcti)];
	uint64_t tpm0 = 0, tpm1 = 0, d0 = 0, d1 = 0, d2 = 0;
	int n;

	tpm_baseline();
	daemon_up(&g.d);
	if (make_binaries() != 0 || register_all() != 0) {
		g.failures++;
		return;
	}
	wait_cacheable(g.bin[g.n - 1]);
	/* "reboot": attestd again, on the slow TPM, nothing in memory */
	daemon_stop(&g.d);
	if ((size_t)snprintf(g.trace, sizeof(g.trace), "%.200s/storm.trace", g.d.sw.dir) >= sizeof(g.trace))
		g.trace[0] = 0;
	n = slow_tcti(tcti, sizeof(tcti), src, build, g.d.sw.tcti, g.trace[0] != 0 ? g.trace : NULL);
	if (n <= 0 || (size_t)n >= sizeof(tcti)) {
		g.failures++;
		return;
	}
	memcpy(g.d.sw.tcti, tcti, (size_t)n + 1);
	daemon_start(&g.d, "256");
	if (stat_u64("tpm_commands", &tpm0) != ATTEST_OK ||
	    stat_u64("session_issuers_on_demand", &d0) != ATTEST_OK)
		g.failures++;
	g.tr0 = trace_tally(g.trace, 0, -1, NULL, 0);
	if (storm() == 0) {
		g.storm_ok = 1;
	} else {
		fprintf(stderr, "bench_storm: the storm failed; attestd log %s\n", g.d.log);
		g.failures++;
	}
	if (stat_u64("tpm_commands", &tpm1) == ATTEST_OK &&
	    stat_u64("session_issuers_on_demand", &d1) == ATTEST_OK) {
		g.tpm_storm = tpm1 - tpm0;
		g.demand_storm = d1 - d0;
	}
	g.tr1 = trace_tally(g.trace, 0, -1, NULL, 0);
	if (g.storm_ok && steady() == 0 &&
	    stat_u64("session_issuers_on_demand", &d2) == ATTEST_OK &&
	    stat_u64("session_issuers_renewed", &g.renewed) == ATTEST_OK) {
		g.steady_ok = 1;
		g.demand_steady = d2 - d1;
	} else if (g.storm_ok) {
		fprintf(stderr, "bench_storm: steady-state launches failed\n");
		g.failures++;
	}
	if (g.storm_ok)
		(void)trace_tally(g.trace, g.tr0, g.tr1, "storm", g.n);
	if (g.steady_ok)
		(void)trace_tally(g.trace, g.tr1, -1, "steady state (incl. background renewals)",
				  STEADY_N);
	daemon_down(&g.d);
}

int main(void)
{
	const char *e = getenv("ATTEST_BENCH_STORM");
	char note[200];
	double floor_s, floor2_s;
	unsigned failed = 0;

	g.n = STORM_DEFAULT;
	if (e != NULL && e[0] != '\0') {
		uint64_t v;

		if (attest_parse_u64(e, 2, STORM_MAX, &v) != ATTEST_OK) {
			fprintf(stderr, "bench_storm: ATTEST_BENCH_STORM must be 2..%d\n", STORM_MAX);
			return 2;
		}
		g.n = (int)v;
	}
	if ((g.bin = calloc((size_t)g.n, sizeof(*g.bin))) == NULL)
		return 1;
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
	printf("# bench_storm: %d agents launched after a restart on a slow TPM (%s; "
	       "ATTEST_BENCH_STORM=1000 for the issue's figure); report only, nothing asserted\n",
	       g.n, SLOW_SPEC);
	if (CU_initialize_registry() == CUE_SUCCESS) {
		CU_pSuite s = CU_add_suite("bench_storm", NULL, NULL);

		if (s != NULL && CU_add_test(s, "storm", bench_body) != NULL)
			(void)CU_run_all_tests();
		failed = CU_get_number_of_failures();
		CU_cleanup_registry();
	}
	if (failed != 0) {
		fprintf(stderr, "bench_storm: %u testutil assertion(s) failed; attestd log %s\n",
			failed, g.d.log);
		g.failures++;
	}
	floor_s = g.n * SIGN_MS / 1e3;
	floor2_s = g.n * (SIGN_MS + LOAD_MS) / 1e3;
	tu_print_fig("storm_agents", 1, g.n, 0, "agents launched (ATTEST_BENCH_STORM)");
	snprintf(note, sizeof(note), "s until all %d hold certificates (floor %.1f s = %d x 50 ms Sign)",
		 g.n, floor_s, g.n);
	tu_print_fig("storm_seconds", g.storm_ok, g.storm_s, 2, note);
	tu_print_fig("storm_vs_sign_floor", g.storm_ok, g.storm_s / floor_s, 2, "goal <= 1.2");
	tu_print_fig("storm_vs_sign_load_floor", g.storm_ok, g.storm_s / floor2_s, 2,
		     "against N x (50 ms Sign + 20 ms Load): each distinct key loaded once");
	tu_print_fig("storm_tpm_ms_per_agent_alone", g.tpm_ok, g.tpm_agent_ms, 1,
		     "same run: one agent's TPM work alone through the slow TCTI (40 keys)");
	tu_print_fig("storm_vs_same_run_tpm_floor", g.storm_ok && g.tpm_ok,
		     g.storm_s * 1e3 / (g.n * g.tpm_agent_ms), 2,
		     "storm against N x that: what attestd adds beyond the TPM");
	tu_print_fig("storm_tpm_commands_per_agent", g.storm_ok, (double)g.tpm_storm / g.n, 1,
		     "TPM commands (without FlushContext) per agent in the storm");
	tu_print_fig("storm_relaunched", g.storm_ok, g.relaunched, 0,
		     "launches refused busy and launched again");
	tu_print_fig("steady_launch_ms_p50", g.steady_ok, g.p50, 2,
		     "fork to exit of a process holding its chain, one at a time");
	tu_print_fig("steady_launch_ms_p99", g.steady_ok, g.p99, 2, "goal <= 10");
	tu_print_fig("steady_tpm_waits", g.steady_ok, (double)g.demand_steady, 0,
		     "steady launches that made a session issuer (waited for the TPM); goal 0");
	free(g.bin);
	return g.failures != 0;
}
