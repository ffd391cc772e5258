/* bench_fleet.c - a fleet simulator and the issue 18 benchmark.
 *
 * The simulator (fleet_sim_*) drives thousands of hosts from one process
 * with libcurl's multi interface: each host has its own software
 * attestation key (ECDSA P-256, the template attestd's TPM AK has) and is
 * enrolled in the fleet CA; every push interval it asks a verifier replica
 * for a nonce (POST /v1/hosts/nonce) and pushes a quote over it (POST
 * /v1/hosts/quote): a real TPMS_ATTEST (TPM2_ST_ATTEST_QUOTE, the nonce as
 * extraData, a clock that moves forward, the boot PCRs' selection and
 * digest) signed by its key as a TPMT_SIGNATURE, as libattest's software
 * TPM structures (tpmsw.c) verify it. Replicas are taken round-robin
 * (a host keeps its replica for a nonce and its quote: until issue 18 item
 * 2 each replica MACs nonces under its own key).
 *
 * Enrolment: seeded straight into the fleet CA's host records
 * (hosts/<host>.json: ak_public, key_public, ek_hash, reference PCRs), not
 * through the protocol: enrolment proves the AK is in the TPM whose EK the
 * CA trusts (TPM2_ActivateCredential), which a software key cannot do,
 * and it is paid once per host, not per push interval. The verifier then
 * treats each simulated host as it treats an enrolled one: AK from the
 * record (its AK cache), reference values from the record, host row
 * created at the first quote.
 *
 * Not simulated (yet): inventory reports and audit checkpoints (each
 * needs a host CA and agent certificates; see docs/scaling.md).
 *
 * The benchmark (make bench; report only, nothing asserts on time):
 *   fleet_start_1M_agents_{sqlite,pg}_s   serve started to /v1/health
 *                                         answered, 1M agents stored
 *   fleet_rss_1M_agents_{sqlite,pg}_kb    its VmRSS then, and after the
 *                                         quote run (bounded by caches)
 *   fleet_quickcheck_1M_agents_sqlite_s   what the old start-up check
 *                                         (PRAGMA quick_check of every
 *                                         page) costs on that file
 *   fleet_quotes_per_s_{sqlite,pg}        quotes appraised and stored by
 *                                         one replica, closed loop (32
 *                                         in flight, steady state after
 *                                         a warm-up of first quotes)
 *   fleet_quotes_per_s_pg_3_replicas      the same hosts round-robin
 *                                         over three replicas on the
 *                                         one database (and their CPU)
 *   fleet_cpu_ms_per_push_{sqlite,pg}     the verifier's CPU (user+sys)
 *                                         per nonce+quote cycle; the
 *                                         PostgreSQL server's too
 *   fleet_hosts_per_core_60s_{sqlite,pg}  60 s / that CPU
 *   fleet_decisions_per_s_{1,3}_replicas  POST /v1/decide (allow), three
 *                                         replicas on one PostgreSQL
 * Sizes: ATTEST_FLEET_AGENTS (default 1000000) over
 * ATTEST_FLEET_AGENTS / ATTEST_FLEET_AGENTS_PER_HOST (default 50) stored
 * hosts, ATTEST_FLEET_HOSTS of them simulated (default 2000),
 * ATTEST_FLEET_SECS (default 10) per measured run. The warm-up (each
 * simulated host's first quote) is not bounded by it: about 0.1-0.2 s of
 * wall time per host on a busy 2-core machine.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <tss2/tss2_mu.h>

#include "attest/attest.h"
#include "core/json.h"
#include "core/num.h"
#include "enrol/enrol.h"
#include "testutil.h"
#include "testutil_pg.h"
#include "testutil_verifier.h"
#include "tpm/templates.h"
#include "tpm/tpmjson.h"
#include "tpm/tpmsw.h"
#include "x509/x509agent.h"

#define NEED(x_)                                                                         \
	do {                                                                             \
		if (!(x_)) {                                                             \
			fprintf(stderr, "bench_fleet, line %d: %s failed: %s\n", __LINE__, \
				#x_, attest_errdetail());                                \
			exit(2);                                                         \
		}                                                                        \
	} while (0)

#define BOOT_MASK 0xffu
#define MAX_REPLICAS 8

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);
	uint64_t n = 0;

	if (v == NULL || *v == '\0')
		return def;
	if (attest_parse_u64(v, 1, 1000000000, &n) != ATTEST_OK) {
		fprintf(stderr, "bench_fleet: %s=%s is not a number 1..1e9\n", name, v);
		exit(2);
	}
	return (long)n;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- simulated hosts ---- */

struct sim_host {
	char name[32];
	EVP_PKEY *ak;
	struct attest_signer sig;
	uint64_t clock;
	double due;
};

/* The PCR values every simulated host reports (its "firmware"): fixed,
 * recorded as the enrolment reference. */
static uint8_t sim_pcrs[8][32];

static void sim_host_key(struct sim_host *h, TPM2B_PUBLIC *pub)
{
	uint8_t pt[65];
	size_t n = 0;

	NEED((h->ak = EVP_EC_gen("P-256")) != NULL);
	NEED(attest_signer_from_pkey(h->ak, &h->sig) == ATTEST_OK);
	attest_template_ak(pub);
	NEED(EVP_PKEY_get_octet_string_param(h->ak, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &n) ==
		     1 &&
	     n == 65 && pt[0] == 0x04);
	pub->publicArea.unique.ecc.x.size = 32;
	memcpy(pub->publicArea.unique.ecc.x.buffer, pt + 1, 32);
	pub->publicArea.unique.ecc.y.size = 32;
	memcpy(pub->publicArea.unique.ecc.y.buffer, pt + 33, 32);
}

/* The CA's host record of an enrolled host (see the top comment). */
static void sim_enrol(const char *ca_dir, struct sim_host *h)
{
	cJSON *rec = cJSON_CreateObject();
	TPM2B_PUBLIC ak;
	uint8_t ek[32];
	char ek_hex[65], path[1200], *txt = NULL;

	sim_host_key(h, &ak);
	NEED(RAND_bytes(ek, sizeof(ek)) == 1);
	attest_hex(ek, sizeof(ek), ek_hex);
	NEED(rec != NULL && attest_json_add_str(rec, "host", h->name) == ATTEST_OK &&
	     attest_json_add_str(rec, "ek_hash", ek_hex) == ATTEST_OK &&
	     attest_json_add_TPM2B_PUBLIC(rec, "ak_public", &ak) == ATTEST_OK &&
	     attest_json_add_TPM2B_PUBLIC(rec, "key_public", &ak) == ATTEST_OK &&
	     attest_json_add_u64(rec, "reference_pcr_mask", BOOT_MASK) == ATTEST_OK &&
	     attest_json_add_b64(rec, "reference_pcr_sha256", sim_pcrs, sizeof(sim_pcrs)) ==
		     ATTEST_OK &&
	     attest_json_print(rec, &txt, NULL) == ATTEST_OK);
	snprintf(path, sizeof(path), "%s/hosts/%s.json", ca_dir, h->name);
	tu_write(path, txt, strlen(txt));
	NEED(chmod(path, 0600) == 0);
	free(txt);
	cJSON_Delete(rec);
}

/* A quote over nonce as the host's TPM would sign it. */
static char *sim_quote_body(struct sim_host *h, const uint8_t *nonce, size_t nlen)
{
	TPMS_ATTEST a;
	TPMT_SIGNATURE sig;
	uint8_t att[sizeof(TPMS_ATTEST)], sigbuf[sizeof(TPMT_SIGNATURE)], digest[32];
	size_t alen = 0, slen = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	cJSON *o = cJSON_CreateObject();
	char *out = NULL;

	memset(&a, 0, sizeof(a));
	a.magic = TPM2_GENERATED_VALUE;
	a.type = TPM2_ST_ATTEST_QUOTE;
	NEED(nlen <= sizeof(a.extraData.buffer));
	a.extraData.size = (UINT16)nlen;
	memcpy(a.extraData.buffer, nonce, nlen);
	h->clock += 1000;
	a.clockInfo.clock = h->clock;
	a.clockInfo.resetCount = 1;
	a.clockInfo.restartCount = 0;
	a.clockInfo.safe = 1;
	a.firmwareVersion = 0x20240101;
	attest_pcr_selection(BOOT_MASK, &a.attested.quote.pcrSelect);
	NEED(md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(md, sim_pcrs, sizeof(sim_pcrs)) == 1 &&
	     EVP_DigestFinal_ex(md, a.attested.quote.pcrDigest.buffer, NULL) == 1);
	EVP_MD_CTX_free(md);
	a.attested.quote.pcrDigest.size = 32;
	NEED(Tss2_MU_TPMS_ATTEST_Marshal(&a, att, sizeof(att), &alen) == TSS2_RC_SUCCESS);
	NEED(EVP_Digest(att, alen, digest, NULL, EVP_sha256(), NULL) == 1);
	memset(&sig, 0, sizeof(sig));
	NEED(h->sig.sign(h->sig.arg, digest, &sig) == ATTEST_OK);
	NEED(Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, sigbuf, sizeof(sigbuf), &slen) ==
	     TSS2_RC_SUCCESS);
	NEED(o != NULL && attest_json_add_str(o, "host", h->name) == ATTEST_OK &&
	     attest_json_add_b64(o, "nonce", nonce, nlen) == ATTEST_OK &&
	     attest_json_add_b64(o, "attest", att, alen) == ATTEST_OK &&
	     attest_json_add_b64(o, "signature", sigbuf, slen) == ATTEST_OK &&
	     attest_json_add_u64(o, "pcr_mask", BOOT_MASK) == ATTEST_OK &&
	     attest_json_add_b64(o, "pcr_values", sim_pcrs, sizeof(sim_pcrs)) == ATTEST_OK &&
	     attest_json_print(o, &out, NULL) == ATTEST_OK);
	cJSON_Delete(o);
	return out;
}

/* ---- the engine: slots of curl handles over the hosts ---- */

struct slot {
	CURL *h;
	int replica;
	struct sim_host *host; /* NULL while idle */
	int step;              /* 0 nonce, 1 quote */
	char *body;
	char resp[2048];
	size_t rlen;
	int busy;
};

struct sim {
	struct sim_host *hosts;
	size_t nhosts;
	const char *urls[MAX_REPLICAS];
	int nurls;
	const char *cacert;
	double interval; /* 0: closed loop, as fast as answered */
	size_t next;     /* round-robin over hosts */
	struct curl_slist *hdr;
	unsigned long ok, refused, errors;
	unsigned long stop_after; /* sim_run returns once ok reaches it (0: never) */
	size_t conc;              /* transfers in flight at most */
	CURLM *multi;             /* made by the first sim_run, ended by sim_end */
	struct slot *slots;
	char first_error[512];
};

static size_t sink(char *d, size_t sz, size_t n, void *arg)
{
	struct slot *s = arg;
	size_t add = sz * n;

	if (add > sizeof(s->resp) - 1 - s->rlen)
		add = sizeof(s->resp) - 1 - s->rlen;
	memcpy(s->resp + s->rlen, d, add);
	s->rlen += add;
	s->resp[s->rlen] = '\0';
	return sz * n;
}

static void slot_send(struct sim *m, struct slot *s, const char *path, char *body)
{
	char url[160];

	free(s->body);
	s->body = body;
	s->rlen = 0;
	s->resp[0] = '\0';
	snprintf(url, sizeof(url), "%s%s", m->urls[s->replica], path);
	curl_easy_setopt(s->h, CURLOPT_URL, url);
	curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, m->hdr);
	curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->h, CURLOPT_CAINFO, m->cacert);
	curl_easy_setopt(s->h, CURLOPT_SSL_VERIFYHOST, 0L); /* 127.0.0.1 is in it; names vary */
	curl_easy_setopt(s->h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
	s->busy = 1;
}

/* The next host due, or NULL. */
static struct sim_host *due_host(struct sim *m, double t)
{
	for (size_t k = 0; k < m->nhosts; k++) {
		struct sim_host *h = &m->hosts[m->next];

		m->next = (m->next + 1) % m->nhosts;
		if (h->due <= t && h->due >= 0) {
			h->due = -1; /* in flight */
			return h;
		}
	}
	return NULL;
}

static void slot_start(struct sim *m, struct slot *s, double t)
{
	char body[96];
	struct sim_host *h = due_host(m, t);

	if (h == NULL)
		return;
	s->host = h;
	s->step = 0;
	snprintf(body, sizeof(body), "{\"host\":\"%s\"}", h->name);
	slot_send(m, s, "/v1/hosts/nonce", strdup(body));
}

static void note_error(struct sim *m, const char *what, const char *detail)
{
	if (m->first_error[0] == '\0')
		snprintf(m->first_error, sizeof(m->first_error), "%s: %.400s", what, detail);
}

/* A transfer ended: the next step of that host's cycle. */
static void slot_done(struct sim *m, struct slot *s, CURLcode rc, double t)
{
	long status = 0;
	cJSON *o = NULL;
	struct sim_host *h = s->host;

	s->busy = 0;
	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK || status != 200) {
		if (rc != CURLE_OK) {
			m->errors++;
			note_error(m, "transport", curl_easy_strerror(rc));
		} else {
			m->refused++;
			note_error(m, s->step ? "quote" : "nonce", s->resp);
		}
		h->due = t + (m->interval > 0 ? m->interval : 0.05);
		s->host = NULL;
		return;
	}
	o = cJSON_Parse(s->resp);
	if (s->step == 0) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "nonce");
		uint8_t *nonce = NULL;
		size_t nlen = 0;

		if (!cJSON_IsString(n) ||
		    attest_b64_decode(n->valuestring, strlen(n->valuestring), 64, &nonce, &nlen) !=
			    ATTEST_OK) {
			m->refused++;
			note_error(m, "nonce answer", s->resp);
			h->due = t + 1;
			s->host = NULL;
		} else {
			s->step = 1;
			slot_send(m, s, "/v1/hosts/quote", sim_quote_body(h, nonce, nlen));
		}
		free(nonce);
	} else {
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "state");

		if (cJSON_IsString(st) && strcmp(st->valuestring, "trusted") == 0) {
			m->ok++;
		} else {
			m->refused++;
			note_error(m, "quote answer", s->resp);
		}
		h->due = m->interval > 0 ? t + m->interval : t;
		s->host = NULL;
	}
	cJSON_Delete(o);
}

/* Runs the hosts for secs seconds (or until stop_after pushes were good)
 * with m->conc transfers at most in flight, slot i on replica i % nurls.
 * The transfers in flight stay in flight across calls (the next call's
 * window starts with the pipeline full: a steady state, not a ramp);
 * sim_end stops them. */
static void sim_run(struct sim *m, double secs)
{
	double t0 = now_s(), t;
	int running = 0;

	if (m->multi == NULL) {
		NEED((m->multi = curl_multi_init()) != NULL &&
		     (m->slots = calloc(m->conc, sizeof(*m->slots))) != NULL);
		curl_multi_setopt(m->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)m->conc);
		for (size_t i = 0; i < m->conc; i++) {
			NEED((m->slots[i].h = curl_easy_init()) != NULL);
			m->slots[i].replica = (int)(i % (size_t)m->nurls);
		}
		for (size_t i = 0; i < m->nhosts; i++)
			m->hosts[i].due =
				t0 + (m->interval > 0 ? m->interval * (double)i / (double)m->nhosts
						      : 0);
	}
	while ((t = now_s()) < t0 + secs && (m->stop_after == 0 || m->ok < m->stop_after)) {
		CURLMsg *msg;
		int left;

		for (size_t i = 0; i < m->conc; i++)
			if (!m->slots[i].busy) {
				slot_start(m, &m->slots[i], t);
				if (m->slots[i].busy)
					curl_multi_add_handle(m->multi, m->slots[i].h);
			}
		curl_multi_perform(m->multi, &running);
		while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
			struct slot *s = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			curl_multi_remove_handle(m->multi, s->h);
			slot_done(m, s, msg->data.result, now_s());
			if (s->busy)
				curl_multi_add_handle(m->multi, s->h);
		}
		curl_multi_poll(m->multi, NULL, 0, 10, NULL);
	}
}

static void sim_end(struct sim *m)
{
	for (size_t i = 0; m->slots != NULL && i < m->conc; i++) {
		if (m->slots[i].busy)
			curl_multi_remove_handle(m->multi, m->slots[i].h);
		curl_easy_cleanup(m->slots[i].h);
		free(m->slots[i].body);
	}
	free(m->slots);
	m->slots = NULL;
	if (m->multi != NULL)
		curl_multi_cleanup(m->multi);
	m->multi = NULL;
}

/* ---- processes ---- */

/* Field k (1-based, as proc(5) numbers them) of /proc/PID/stat, as a
 * number; -1 when absent. Fields after the command's ")" split on spaces. */
static long long stat_field(pid_t pid, int k)
{
	char path[64], buf[1024], *p;
	uint64_t v = 0;
	FILE *f;
	int field = 3;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (p == NULL || (p = strrchr(buf, ')')) == NULL)
		return -1;
	p += 2; /* ") " */
	while (*p != '\0') {
		size_t n = strcspn(p, " \n");

		if (field == k)
			return attest_parse_u64n(p, n, 0, INT64_MAX, &v) == ATTEST_OK
				       ? (long long)v
				       : (attest_errclear(), -1);
		p += n;
		if (*p == '\0' || *p == '\n')
			break;
		p++;
		field++;
	}
	return -1;
}

/* user+system CPU seconds of pid (utime and stime: fields 14, 15) */
static double cpu_of(pid_t pid)
{
	long long ut = stat_field(pid, 14), st = stat_field(pid, 15);

	if (ut < 0 || st < 0)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static pid_t parent_of(pid_t pid)
{
	long long pp = stat_field(pid, 4);

	return pp > 0 ? (pid_t)pp : 0;
}

/* CPU of pid and all its children (one level: the postmaster's backends) */
static double cpu_tree(pid_t pid)
{
	double c = cpu_of(pid);
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (d == NULL)
		return c;
	while ((e = readdir(d)) != NULL) {
		uint64_t q = 0;

		if (attest_parse_u64(e->d_name, 1, INT32_MAX, &q) != ATTEST_OK) {
			attest_errclear();
			continue;
		}
		if (parent_of((pid_t)q) == pid)
			c += cpu_of((pid_t)q);
	}
	closedir(d);
	return c;
}

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0) {
			const char *d = line + 6;
			uint64_t v = 0;

			d += strspn(d, " \t");
			if (attest_parse_u64n(d, strspn(d, "0123456789"), 0, INT64_MAX, &v) ==
			    ATTEST_OK)
				kb = (long)v;
			else
				attest_errclear();
		}
	fclose(f);
	return kb;
}

/* ---- the stores, loaded in bulk ---- */

/* nagents agents over nhosts hosts sim-0..sim-(nhosts-1), one transaction
 * (SQLite: one INSERT ... SELECT from a recursive counter; PostgreSQL: one
 * INSERT ... SELECT from generate_series, server-side). */
static void load_sqlite(const char *db, long nhosts, long nagents)
{
	sqlite3 *d = NULL;
	char sql[2048], *err = NULL;

	NEED(sqlite3_open_v2(db, &d, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
	snprintf(sql, sizeof(sql),
		 "BEGIN;"
		 "WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < %ld) "
		 "INSERT OR IGNORE INTO hosts SELECT 'sim-' || i, 0, 0, '', 0, 0, 0, 0, 0, '0', "
		 "'0', 0, '', 0, '' FROM g;"
		 "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < %ld) "
		 "INSERT INTO agents SELECT 'spiffe://fleet.example/host/sim-' || (i %% %ld) || "
		 "'/agent/a' || i, 'sim-' || (i %% %ld), lower(hex(randomblob(16))), "
		 "randomblob(32), randomblob(32), randomblob(32), 'ehr:read', 'phi', 1, 10, 0, 0, "
		 "1, 0, '' FROM g;"
		 "COMMIT;",
		 nhosts - 1, nagents, nhosts, nhosts);
	if (sqlite3_exec(d, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "bench_fleet: load: %s\n", err != NULL ? err : "?");
		exit(2);
	}
	sqlite3_close(d);
}

static void load_pg(const char *uri, long nhosts, long nagents)
{
	char sql[2048];

	snprintf(sql, sizeof(sql),
		 "BEGIN;"
		 "INSERT INTO hosts SELECT 'sim-' || g, 0, 0, '', 0, 0, FALSE, 0, 0, '0', '0', "
		 "FALSE, '', FALSE, '' FROM generate_series(0, %ld) g ON CONFLICT DO NOTHING;"
		 "INSERT INTO agents SELECT 'spiffe://fleet.example/host/sim-' || (g %% %ld) || "
		 "'/agent/a' || g, 'sim-' || (g %% %ld), md5(g::text), sha256(int8send(g)), "
		 "sha256(int8send(g + 1)), sha256(int8send(g + 2)), 'ehr:read', 'phi', 1, 10, 0, "
		 "0, TRUE, FALSE, '' FROM generate_series(1, %ld) g;"
		 "COMMIT; ANALYZE;",
		 nhosts - 1, nhosts, nhosts, nagents);
	NEED(tu_pg_exec(uri, sql) == 0);
}

/* ---- one verifier ---- */

struct run {
	struct verifier v;
	const char *label;
	pid_t pg_pid; /* the postmaster, for its CPU; 0 on SQLite */
};

static const char *serve_extra[] = { "--rate-host", "100000", "--per-source", "1024",
				     "--max-conns", "4096", NULL };

/* Seconds from starting serve to its first /v1/health answer. */
static double start_timed(struct verifier *v)
{
	double t0 = now_s(), t;

	for (size_t i = 0; serve_extra[i] != NULL; i++)
		v->serve_args[i] = serve_extra[i];
	verifier_start(v);
	while (verifier_call(v, AS_NONE, "/v1/health", NULL, NULL) != 200)
		usleep(10000);
	t = now_s() - t0;
	return t;
}

/* The hosts against n replicas (vs[0] is r's), round-robin; with warm,
 * first each host's first quote (its row made, its AK recorded: a new AK
 * flushes the decision cache), not measured. */
static void quotes(struct run *r, struct verifier **vs, int n, struct sim *m, double secs,
		   int warm, const char *suffix)
{
	double c0 = 0, p0, t0, t1, cpu = 0, pgcpu;

	for (int i = 0; i < n; i++)
		m->urls[i] = vs[i]->url;
	m->nurls = n;
	m->interval = 0;
	m->conc = 32;
	if (warm) {
		m->ok = m->refused = m->errors = 0;
		m->first_error[0] = '\0';
		m->stop_after = m->nhosts;
		t0 = now_s();
		sim_run(m, 600);
		printf("# %s: warm-up, each host's first quote: %lu in %.1f s\n", r->label, m->ok,
		       now_s() - t0);
	}
	m->stop_after = 0;
	m->ok = m->refused = m->errors = 0;
	m->first_error[0] = '\0';
	for (int i = 0; i < n; i++)
		c0 += cpu_of(vs[i]->pid);
	p0 = r->pg_pid ? cpu_tree(r->pg_pid) : 0;
	t0 = now_s();
	sim_run(m, secs);
	t1 = now_s();
	for (int i = 0; i < n; i++)
		cpu += cpu_of(vs[i]->pid);
	cpu -= c0;
	pgcpu = r->pg_pid ? cpu_tree(r->pg_pid) - p0 : 0;
	sim_end(m);
	if (m->ok == 0) {
		printf("fleet_quotes_per_s_%s%s n/a (%lu refused, %lu errors: %s)\n", r->label,
		       suffix, m->refused, m->errors, m->first_error);
		return;
	}
	printf("fleet_quotes_per_s_%s%s %.0f\n", r->label, suffix, (double)m->ok / (t1 - t0));
	printf("fleet_cpu_ms_per_push_%s%s %.3f\n", r->label, suffix, cpu * 1000 / (double)m->ok);
	if (r->pg_pid)
		printf("fleet_pg_cpu_ms_per_push_%s%s %.3f\n", r->label, suffix,
		       pgcpu * 1000 / (double)m->ok);
	printf("fleet_hosts_per_core_60s_%s%s %.0f\n", r->label, suffix,
	       60.0 / (cpu / (double)m->ok));
	if (m->refused || m->errors)
		printf("# %s%s: %lu refused, %lu transport errors; first: %s\n", r->label, suffix,
		       m->refused, m->errors, m->first_error);
}

/* Two more replicas of v on copies of its state directory (its store,
 * callers and TLS identity; its own audit log), started. */
static void replicas_up(struct verifier *v, struct verifier rep[2])
{
	for (int i = 0; i < 2; i++) {
		rep[i] = *v;
		NEED((size_t)snprintf(rep[i].dir, sizeof(rep[i].dir), "%s.r%d", v->dir, i + 2) <
		     sizeof(rep[i].dir));
		NEED((size_t)snprintf(rep[i].state, sizeof(rep[i].state), "%s/vs", rep[i].dir) <
		     sizeof(rep[i].state));
		NEED((size_t)snprintf(rep[i].log, sizeof(rep[i].log), "%s/verifier.log",
				      rep[i].dir) < sizeof(rep[i].log));
		NEED(tu_sh("cp -a '%s' '%s' && rm -rf '%s/audit' '%s/verifier.lock'", v->dir,
			   rep[i].dir, rep[i].state, rep[i].state) == 0);
		verifier_start(&rep[i]);
	}
}

static void replicas_down(struct verifier rep[2])
{
	for (int i = 0; i < 2; i++) {
		verifier_stop(&rep[i]);
		tu_rmtree(rep[i].dir);
	}
}

static void bench_body(void)
{
	long nhosts = env_long("ATTEST_FLEET_HOSTS", 2000);
	long nagents = env_long("ATTEST_FLEET_AGENTS", 1000000);
	/* the store's hosts: the agents spread ATTEST_FLEET_AGENTS_PER_HOST
	 * (default 50, the 500,000 over 10,000) a host; the first
	 * nhosts of them are simulated */
	long per_host = env_long("ATTEST_FLEET_AGENTS_PER_HOST", 50);
	long store_hosts = nagents / per_host > nhosts ? nagents / per_host : nhosts;
	double secs = (double)env_long("ATTEST_FLEET_SECS", 10);
	char tmp[500], ca[600], roots[800], uri[600], db[800];
	struct attest_ca *c = NULL;
	struct tu_pg pg;
	struct sim m;
	struct run runs[2];
	int have_pg = tu_pg_available();

	printf("\n"); /* off CUnit's "Test: ..." line: a figure a line */
	memset(&m, 0, sizeof(m));
	memset(runs, 0, sizeof(runs));
	NEED(RAND_bytes(&sim_pcrs[0][0], sizeof(sim_pcrs)) == 1);
	/* a fleet CA with nhosts enrolled software hosts */
	tu_mkdtemp(tmp, sizeof(tmp));
	snprintf(ca, sizeof(ca), "%s/ca", tmp);
	snprintf(roots, sizeof(roots), "%s/vendor-roots.pem", tu_template());
	NEED(attest_ca_init(ca, "fleet.example", roots, 3600) == ATTEST_OK);
	NEED(attest_ca_open(ca, &c) == ATTEST_OK);
	attest_ca_close(c);
	NEED((m.hdr = curl_slist_append(NULL, "Content-Type: application/json")) != NULL);

	/* SQLite, then PostgreSQL: the same CA, hosts and agents */
	runs[0].label = "sqlite";
	verifier_up(&runs[0].v, ca, NULL);
	verifier_stop(&runs[0].v);
	snprintf(db, sizeof(db), "%s/verifier.db", runs[0].v.state);
	if (have_pg) {
		tu_pg_start(&pg);
		tu_pg_newdb(&pg, uri, sizeof(uri));
		runs[1].label = "pg";
		runs[1].pg_pid = pg.pid;
		verifier_up_store(&runs[1].v, ca, NULL, uri);
		verifier_stop(&runs[1].v);
	}
	/* the hosts enrolled after the verifiers' first start: the signer's
	 * ledger (attest_ca_pin_seed) is seeded from the records there at
	 * the first start, one fsynced file each, once per CA */
	m.nhosts = (size_t)nhosts;
	NEED((m.hosts = calloc(m.nhosts, sizeof(*m.hosts))) != NULL);
	{
		double t0 = now_s();

		for (size_t i = 0; i < m.nhosts; i++) {
			snprintf(m.hosts[i].name, sizeof(m.hosts[i].name), "sim-%zu", i);
			sim_enrol(ca, &m.hosts[i]);
		}
		printf("# %ld software hosts enrolled (CA records) in %.1f s; %ld agents over "
		       "%ld stored hosts (%ld each); %.0f s per run\n",
		       nhosts, now_s() - t0, nagents, store_hosts, nagents / store_hosts, secs);
	}
	for (int i = 0; i < 1 + have_pg; i++) {
		struct run *r = &runs[i];
		double t0 = now_s(), st;

		if (i == 0)
			load_sqlite(db, store_hosts, nagents);
		else
			load_pg(uri, store_hosts, nagents);
		printf("# %s: %ld agents loaded in %.1f s (one transaction)\n", r->label, nagents,
		       now_s() - t0);
		if (i == 0) {
			sqlite3 *d = NULL;
			double q0 = now_s();

			NEED(sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
			NEED(sqlite3_exec(d, "PRAGMA quick_check", NULL, NULL, NULL) == SQLITE_OK);
			sqlite3_close(d);
			printf("fleet_quickcheck_%ld_agents_sqlite_s %.2f\n", nagents, now_s() - q0);
		}
		st = start_timed(&r->v);
		printf("fleet_start_%ld_agents_%s_s %.2f\n", nagents, r->label, st);
		printf("fleet_rss_%ld_agents_%s_kb %ld\n", nagents, r->label, rss_kb(r->v.pid));
		m.cacert = r->v.cacert;
		{
			struct verifier *vs[3] = { &r->v, NULL, NULL };
			struct verifier rep[2];

			quotes(r, vs, 1, &m, secs, 1, "");
			printf("fleet_rss_after_quotes_%s_kb %ld\n", r->label, rss_kb(r->v.pid));
			if (r->pg_pid) {
				/* three replicas on the one database, hosts
				 * round-robin over them */
				replicas_up(&r->v, rep);
				vs[1] = &rep[0];
				vs[2] = &rep[1];
				quotes(r, vs, 3, &m, secs, 0, "_3_replicas");
				replicas_down(rep);
			}
		}
		verifier_stop(&r->v);
	}
	for (int i = 0; i < 1 + have_pg; i++)
		verifier_down(&runs[i].v);
	if (have_pg)
		tu_pg_stop(&pg);
	for (size_t i = 0; i < m.nhosts; i++)
		EVP_PKEY_free(m.hosts[i].ak);
	free(m.hosts);
	curl_slist_free_all(m.hdr);
}

/* ---- decisions at 1 and 3 replicas ---- */

struct dslot {
	CURL *h;
	char resp[1024];
	size_t rlen;
};

static size_t dsink(char *d, size_t sz, size_t n, void *arg)
{
	struct dslot *s = arg;
	size_t add = sz * n;

	if (add > sizeof(s->resp) - 1 - s->rlen)
		add = sizeof(s->resp) - 1 - s->rlen;
	memcpy(s->resp + s->rlen, d, add);
	s->rlen += add;
	s->resp[s->rlen] = '\0';
	return sz * n;
}

/* POST body to /v1/decide for secs seconds from conc kept-alive mTLS
 * connections, connection i to replica i % n; allow answers per second. */
static double decide_load(struct verifier **vs, int n, const char *body, size_t conc,
			  double secs, unsigned long *other)
{
	CURLM *multi = curl_multi_init();
	struct dslot *slots = calloc(conc, sizeof(*slots));
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	char url[200], cert[800], key[800];
	unsigned long allow = 0;
	double t0 = now_s(), t1;
	int running;

	NEED(multi != NULL && slots != NULL && hdr != NULL);
	snprintf(cert, sizeof(cert), "%s.pem", vs[0]->resource);
	snprintf(key, sizeof(key), "%s.key", vs[0]->resource);
	*other = 0;
	for (size_t i = 0; i < conc; i++) {
		struct dslot *s = &slots[i];

		NEED((s->h = curl_easy_init()) != NULL);
		snprintf(url, sizeof(url), "%s/v1/decide", vs[i % (size_t)n]->url);
		curl_easy_setopt(s->h, CURLOPT_URL, url);
		curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(s->h, CURLOPT_CAINFO, vs[0]->cacert);
		curl_easy_setopt(s->h, CURLOPT_SSLCERT, cert);
		curl_easy_setopt(s->h, CURLOPT_SSLKEY, key);
		curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, dsink);
		curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
		curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
		curl_easy_setopt(s->h, CURLOPT_TIMEOUT, 60L);
		curl_multi_add_handle(multi, s->h);
	}
	while (now_s() < t0 + secs) {
		CURLMsg *msg;
		int left;

		curl_multi_perform(multi, &running);
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			struct dslot *s = NULL;
			long status = 0;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
			if (msg->data.result == CURLE_OK && status == 200 &&
			    strstr(s->resp, "\"allow\"") != NULL)
				allow++;
			else
				(*other)++;
			curl_multi_remove_handle(multi, s->h);
			s->rlen = 0;
			s->resp[0] = '\0';
			curl_multi_add_handle(multi, s->h);
		}
		curl_multi_poll(multi, NULL, 0, 10, NULL);
	}
	t1 = now_s();
	for (size_t i = 0; i < conc; i++) {
		curl_multi_remove_handle(multi, slots[i].h);
		curl_easy_cleanup(slots[i].h);
	}
	free(slots);
	curl_slist_free_all(hdr);
	curl_multi_cleanup(multi);
	return (double)allow / (t1 - t0);
}

static const char decide_policy[] = TU_POLICY_RECORDS_READ(30);

/* A vfleet (attestd on swtpm with its agent) on PostgreSQL; then two more
 * replicas on copies of the state directory and the same database. */
static void bench_decisions(void)
{
	double secs = (double)env_long("ATTEST_FLEET_SECS", 10);
	struct vfleet f;
	struct verifier rep[2], *vs[3];
	struct tu_pg pg;
	char uri[600], *pem, *body;
	cJSON *o;
	unsigned long other = 0;
	int ready = 0;

	printf("\n"); /* off CUnit's "Test: ..." line */
	if (!tu_pg_available()) {
		printf("fleet_decisions_per_s_1_replica n/a (no PostgreSQL)\n");
		return;
	}
	(void)tu_env_keep_only();
	tu_pg_start(&pg);
	tu_pg_newdb(&pg, uri, sizeof(uri));
	tu_vfleet_store = uri;
	vfleet_up(&f, decide_policy);
	tu_vfleet_store = NULL;
	pem = tu_slurp(f.chain, NULL);
	NEED((o = cJSON_CreateObject()) != NULL);
	cJSON_AddStringToObject(o, "chain", pem);
	cJSON_AddStringToObject(o, "action", "read");
	cJSON_AddStringToObject(o, "resource", "ehr:patient/1/record");
	body = cJSON_PrintUnformatted(o);
	for (int i = 0; i < 400 && !ready; i++) {
		cJSON *r = NULL;

		ready = verifier_call(&f.v, AS_RESOURCE, "/v1/decide", body, &r) == 200 &&
			strcmp(reply_reason(r), "ATTEST_OK") == 0;
		cJSON_Delete(r);
		if (!ready)
			usleep(50000);
	}
	if (!ready) {
		printf("fleet_decisions_per_s_1_replica n/a (no allow)\n");
		goto out;
	}
	vs[0] = &f.v;
	replicas_up(&f.v, rep);
	vs[1] = &rep[0];
	vs[2] = &rep[1];
	printf("fleet_decisions_per_s_1_replica %.0f\n",
	       decide_load(vs, 1, body, 12, secs, &other));
	if (other)
		printf("# 1 replica: %lu answers not allow\n", other);
	printf("fleet_decisions_per_s_3_replicas %.0f\n",
	       decide_load(vs, 3, body, 12, secs, &other));
	if (other)
		printf("# 3 replicas: %lu answers not allow\n", other);
	printf("# decisions: one agent's chain (its leaf cached), 12 mTLS connections, %ld CPUs "
	       "online shared by everything here\n",
	       sysconf(_SC_NPROCESSORS_ONLN));
	replicas_down(rep);
out:
	cJSON_free(body);
	cJSON_Delete(o);
	free(pem);
	vfleet_down(&f);
	tu_pg_stop(&pg);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "fleet: start with 1M agents, quotes/s SQLite vs PostgreSQL", bench_body },
		{ "fleet: decisions/s at one and three replicas on PostgreSQL", bench_decisions },
		{ NULL, NULL },
	};

	setvbuf(stdout, NULL, _IOLBF, 0); /* figures as they come, into a file too */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return tu_main("bench_fleet", tests);
}
