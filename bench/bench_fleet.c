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
 * Inventory reports and audit checkpoints: each host has a host CA
 * certificate, signed by the fleet CA (attest_ca_sign_host, as the
 * verifier's signer signs it) for its enrolled key (the simulated host's
 * key_public is its AK: one software key), and its agents are the ones
 * the store holds for it, each with an agent CA under the host CA whose
 * creation evidence the AK signs (as attestd's TPM2_CertifyCreation). A
 * report (POST /v1/agents/report) is attest_agent_report_build/_sign as
 * attestd's push makes it; a checkpoint (POST /v1/audit/checkpoint) is a
 * Merkle tree of SIM_CKPT_RECORDS more records each time, the NV counter
 * +1 certified by the AK (a TPMS_ATTEST of type NV, as TPM2_NV_Certify)
 * and the RFC 9162 consistency proof from the last accepted tree. The
 * first ATTEST_FLEET_REPORT_HOSTS (default 40) simulated hosts report and
 * checkpoint (closed loop, 8 in flight, after one of each per host).
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
 *   fleet_reports_per_s_{sqlite,pg}       inventory reports accepted
 *                                         (ATTEST_FLEET_AGENTS / stored
 *                                         hosts agents each)
 *   fleet_cpu_ms_per_report_{sqlite,pg}   the verifier's CPU a report;
 *                                         fleet_pg_cpu_ms_per_report_pg
 *   fleet_checkpoints_per_s_{sqlite,pg}   audit checkpoints accepted
 *   fleet_cpu_ms_per_checkpoint_{sqlite,pg}  and their CPU (and pg's)
 *   fleet_cpu_ms_per_host_60s_{sqlite,pg} one host's minute at attestd's
 *                                         defaults: push + checkpoint +
 *                                         report (a report every minute:
 *                                         an upper bound; attestd reports
 *                                         when its inventory changes)
 *   fleet_hosts_per_core_60s_{sqlite,pg}  60 s / that CPU
 *   fleet_decisions_per_s_{1,3}_replicas  POST /v1/decide (allow), three
 *                                         replicas on one PostgreSQL
 *   quotes_https_per_s_{1,16}             issue 17 item 4: nonce + quote
 *                                         cycles over HTTPS from 1 and 16
 *                                         hosts, SQLite, with the goal ratio
 *                                         (2,500/s), store commits and audit
 *                                         syncs per quote (/metrics) and the
 *                                         verifier's CPU; _baseline figures
 *                                         of ATTEST_BENCH_QUOTE_BASELINE's
 *                                         attest-verifier first when set
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
#include "attestation/hostpush.h"
#include "audit/audit.h"
#include "audit/merkle.h"
#include "core/json.h"
#include "core/num.h"
#include "enrol/enrol.h"
#include "testutil.h"
#include "testutil_bench.h"
#include "testutil_pg.h"
#include "testutil_verifier.h"
#include "tpm/templates.h"
#include "tpm/tpmjson.h"
#include "tpm/tpmpolicy.h"
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

struct sim_agent {
	char id[96];
	char uuid[37];
};

struct sim_host {
	char name[32];
	EVP_PKEY *ak;
	struct attest_signer sig;
	uint64_t clock;
	double due;
	/* the inventory: its host CA (signed by the fleet CA for the enrolled
	 * key) and its agents, each with an agent CA under it */
	X509 *hca;
	EVP_PKEY *agent_key; /* one for the host's agents: only its public half travels */
	struct sim_agent *ag;
	struct attest_report_agent *ra;
	size_t nag;
	uint64_t rtime; /* the last report's time: strictly increasing */
	/* the audit log: its leaf hashes, its NV counter, the tree the
	 * verifier last accepted (the consistency proof starts there) */
	uint8_t log_id[ATTEST_AUDIT_LOG_ID_LEN];
	attest_merkle_hash *leaves;
	uint64_t nleaves, capleaves, counter, acked_size, pend_size;
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

/* The CA's host record of an enrolled host (see the top comment), its EK
 * binding both ways (names/, eks/, as enrolment claims them) and its host
 * CA certificate, signed by the fleet CA for the recorded key as the
 * verifier's signer signs it (attest_ca_sign_host checks the record and
 * the binding first). The simulated host's key_public is its AK: one
 * software key signs its quotes, reports and agent CAs. */
static void sim_enrol(const char *ca_dir, struct attest_ca *c, struct sim_host *h)
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
	snprintf(path, sizeof(path), "%s/names/%s", ca_dir, h->name);
	tu_write(path, ek_hex, strlen(ek_hex));
	NEED(chmod(path, 0600) == 0);
	snprintf(path, sizeof(path), "%s/eks/%s", ca_dir, ek_hex);
	tu_write(path, h->name, strlen(h->name));
	NEED(chmod(path, 0600) == 0);
	NEED(attest_ca_sign_host(c, h->name, &ak, &h->hca) == ATTEST_OK);
	free(txt);
	cJSON_Delete(rec);
}

/* The agent CA evidence as attestd makes it (TPM2_CertifyCreation of the
 * agent's key, signed by the AK), in software, as the fuzz fixture does:
 * the agent key with our signing template and the authPolicy of PCR 23
 * extended by the measurement, in a creation attestation over
 * SHA-256(ID || UUID || measurement) signed by the host's AK. */
static void sim_agent_evidence(struct sim_host *h, struct attest_agent_ca_params *p,
			       uint8_t *creation, size_t ccap, uint8_t *csig, size_t scap)
{
	uint8_t zero_m[64] = { 0 }, pcr[32], pt[65], digest[32];
	TPM2B_DIGEST pol;
	TPM2B_PUBLIC key;
	TPM2B_NAME name;
	TPMS_ATTEST att;
	TPMT_SIGNATURE sig;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t clen = 0, slen = 0, n = 0;

	memcpy(zero_m + 32, p->measurement, 32);
	NEED(EVP_Digest(zero_m, sizeof(zero_m), pcr, NULL, EVP_sha256(), NULL) == 1);
	NEED(attest_policy_digest_sign(1u << 23, pcr, 32, &pol) == ATTEST_OK);
	memcpy(p->policy, pol.buffer, 32);
	attest_template_signkey(&pol, &key);
	NEED(EVP_PKEY_get_octet_string_param(p->agent_key, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt),
					     &n) == 1 &&
	     n == 65);
	key.publicArea.unique.ecc.x.size = 32;
	memcpy(key.publicArea.unique.ecc.x.buffer, pt + 1, 32);
	key.publicArea.unique.ecc.y.size = 32;
	memcpy(key.publicArea.unique.ecc.y.buffer, pt + 33, 32);
	NEED(attest_tpm_name(&key, &name) == ATTEST_OK);
	memset(&att, 0, sizeof(att));
	att.magic = TPM2_GENERATED_VALUE;
	att.type = TPM2_ST_ATTEST_CREATION;
	NEED(md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(md, p->agent_id, strlen(p->agent_id)) == 1 &&
	     EVP_DigestUpdate(md, p->agent_uuid, strlen(p->agent_uuid)) == 1 &&
	     EVP_DigestUpdate(md, p->measurement, 32) == 1 &&
	     EVP_DigestFinal_ex(md, att.extraData.buffer, NULL) == 1);
	EVP_MD_CTX_free(md);
	att.extraData.size = 32;
	att.attested.creation.objectName = name;
	att.attested.creation.creationHash.size = 32;
	NEED(Tss2_MU_TPMS_ATTEST_Marshal(&att, creation, ccap, &clen) == TSS2_RC_SUCCESS);
	NEED(EVP_Digest(creation, clen, digest, NULL, EVP_sha256(), NULL) == 1);
	memset(&sig, 0, sizeof(sig));
	NEED(h->sig.sign(h->sig.arg, digest, &sig) == ATTEST_OK);
	NEED(Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, csig, scap, &slen) == TSS2_RC_SUCCESS);
	p->creation = creation;
	p->creation_len = clen;
	p->creation_sig = csig;
	p->creation_sig_len = slen;
}

static const char *const sim_scopes[] = { "ehr:read" };
static const char *const sim_classes[] = { "phi" };

/* Host k's agents: the ones the store holds for it (load_*: agent i on
 * host i % store_hosts, named a<i>), each with an agent CA under the
 * host CA, at most SIM_REPORT_AGENTS (the verifier's cap a report). */
#define SIM_REPORT_AGENTS 1024
static void sim_agents(struct sim_host *h, long k, long store_hosts, long nagents)
{
	long first = k == 0 ? store_hosts : k;
	size_t cap = 0;

	for (long i = first; i <= nagents && cap < SIM_REPORT_AGENTS; i += store_hosts)
		cap++;
	h->nag = 0;
	NEED((h->agent_key = EVP_EC_gen("P-256")) != NULL &&
	     (h->ag = calloc(cap + 1, sizeof(*h->ag))) != NULL &&
	     (h->ra = calloc(cap + 1, sizeof(*h->ra))) != NULL);
	for (long i = first; i <= nagents && h->nag < cap; i += store_hosts) {
		struct sim_agent *a = &h->ag[h->nag];
		struct attest_report_agent *ra = &h->ra[h->nag];
		struct attest_agent_ca_params p;
		uint8_t creation[sizeof(TPMS_ATTEST)], csig[sizeof(TPMT_SIGNATURE)], u[16];

		snprintf(a->id, sizeof(a->id), "spiffe://fleet.example/host/%s/agent/a%ld",
			 h->name, i);
		NEED(RAND_bytes(u, sizeof(u)) == 1);
		u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
		u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
		snprintf(a->uuid, sizeof(a->uuid),
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
			 u[12], u[13], u[14], u[15]);
		memset(&p, 0, sizeof(p));
		p.agent_id = a->id;
		p.agent_uuid = a->uuid;
		p.agent_key = h->agent_key;
		NEED(EVP_Digest(a->id, strlen(a->id), p.measurement, NULL, EVP_sha256(), NULL) ==
		     1);
		sim_agent_evidence(h, &p, creation, sizeof(creation), csig, sizeof(csig));
		p.ttl = 3600;
		memset(ra, 0, sizeof(*ra));
		NEED(attest_x509_make_agent_ca(h->hca, &p, &h->sig, &ra->agent_ca) == ATTEST_OK);
		ra->id = a->id;
		ra->uuid = a->uuid;
		ra->scopes = sim_scopes;
		ra->nscopes = 1;
		ra->data_classes = sim_classes;
		ra->nclasses = 1;
		ra->risk_tier = "low";
		ra->risk_score = 10;
		h->nag++;
	}
}

/* The host's signed inventory report (POST /v1/agents/report), as
 * attestd's push builds it: one a second at most (the verifier takes
 * only reports newer than the last). */
static char *sim_report_body(struct sim_host *h)
{
	uint64_t now = (uint64_t)time(NULL);
	char *report = NULL, *body = NULL;
	size_t rlen = 0, blen = 0;

	/* a host reporting faster than once a second (the closed loop)
	 * runs ahead of the clock, within the verifier's skew */
	h->rtime = h->rtime + 1 > now - 200 ? h->rtime + 1 : now - 200;
	NEED(attest_agent_report_build(h->name, h->rtime, h->ra, h->nag, &report, &rlen) ==
	     ATTEST_OK);
	NEED(attest_agent_report_sign(report, rlen, &h->sig, h->hca, &body, &blen) == ATTEST_OK);
	free(report);
	return body;
}

/* Audit records a simulated host appends between two checkpoints: what
 * a host whose agents renew their certificates every few minutes writes
 * in a minute (issue, renew, quote verdict, report...). */
#define SIM_CKPT_RECORDS 20

/* The audit counter's NV name, as the verifier computes it. */
static void sim_counter_name(TPM2B_NAME *name)
{
	TPM2B_NV_PUBLIC pub;
	uint8_t buf[sizeof(TPMS_NV_PUBLIC)];
	size_t off = 0;

	attest_nv_counter_public(ATTEST_AUDIT_NV_INDEX, 1, &pub);
	NEED(Tss2_MU_TPMS_NV_PUBLIC_Marshal(&pub.nvPublic, buf, sizeof(buf), &off) ==
	     TSS2_RC_SUCCESS);
	name->size = 2 + 32;
	name->name[0] = (uint8_t)(TPM2_ALG_SHA256 >> 8);
	name->name[1] = (uint8_t)TPM2_ALG_SHA256;
	NEED(EVP_Digest(buf, off, name->name + 2, NULL, EVP_sha256(), NULL) == 1);
}

/* The host's next audit checkpoint (POST /v1/audit/checkpoint), as
 * attestd's log makes and pushes it: SIM_CKPT_RECORDS more records in its
 * Merkle tree, the NV counter incremented and certified by the AK
 * (TPM2_NV_Certify: a TPMS_ATTEST of type NV, the counter's 8 bytes,
 * extraData the checkpoint's qualifying data), and the RFC 9162
 * consistency proof from the tree the verifier last accepted. */
static char *sim_ckpt_body(struct sim_host *h)
{
	struct attest_audit_ckpt c;
	TPMS_ATTEST a;
	attest_merkle_hash proof[ATTEST_MERKLE_MAX_PROOF];
	uint8_t qual[32], digest[32];
	size_t alen = 0, plen = 0, jlen = 0;
	char *json = NULL, *out = NULL;
	cJSON *o = cJSON_CreateObject(), *arr;

	if (h->nleaves == 0)
		NEED(RAND_bytes(h->log_id, sizeof(h->log_id)) == 1);
	if (h->nleaves + SIM_CKPT_RECORDS > h->capleaves) {
		attest_merkle_hash *nl;

		h->capleaves = h->capleaves ? h->capleaves * 2 : 64;
		NEED((nl = realloc(h->leaves, h->capleaves * sizeof(*nl))) != NULL);
		h->leaves = nl;
	}
	for (int i = 0; i < SIM_CKPT_RECORDS; i++) {
		char rec[128];
		int n = snprintf(rec, sizeof(rec),
				 "{\"type\":\"issue\",\"host\":\"%s\",\"seq\":%llu}", h->name,
				 (unsigned long long)h->nleaves);

		NEED(attest_merkle_leaf(rec, (size_t)n, h->leaves[h->nleaves]) == ATTEST_OK);
		h->nleaves++;
	}
	memset(&c, 0, sizeof(c));
	memcpy(c.log_id, h->log_id, sizeof(c.log_id));
	c.size = h->nleaves;
	NEED(attest_merkle_root((const attest_merkle_hash *)h->leaves, c.size, c.root) ==
	     ATTEST_OK);
	c.counter = ++h->counter;
	c.time = (uint64_t)time(NULL);
	NEED(attest_audit_ckpt_qual(c.log_id, c.size, c.root, c.counter, c.time, qual) ==
	     ATTEST_OK);
	memset(&a, 0, sizeof(a));
	a.magic = TPM2_GENERATED_VALUE;
	a.type = TPM2_ST_ATTEST_NV;
	a.extraData.size = 32;
	memcpy(a.extraData.buffer, qual, 32);
	h->clock += 1000;
	a.clockInfo.clock = h->clock;
	a.clockInfo.resetCount = 1;
	a.clockInfo.safe = 1;
	a.firmwareVersion = 0x20240101;
	sim_counter_name(&a.attested.nv.indexName);
	a.attested.nv.offset = 0;
	a.attested.nv.nvContents.size = 8;
	for (int i = 0; i < 8; i++)
		a.attested.nv.nvContents.buffer[i] = (uint8_t)(c.counter >> (56 - 8 * i));
	NEED(Tss2_MU_TPMS_ATTEST_Marshal(&a, c.attest.attestationData,
					 sizeof(c.attest.attestationData), &alen) ==
	     TSS2_RC_SUCCESS);
	c.attest.size = (UINT16)alen;
	NEED(EVP_Digest(c.attest.attestationData, alen, digest, NULL, EVP_sha256(), NULL) == 1);
	NEED(h->sig.sign(h->sig.arg, digest, &c.sig) == ATTEST_OK);
	NEED(attest_audit_ckpt_to_json(&c, &json, &jlen) == ATTEST_OK);
	NEED(o != NULL && attest_json_add_str(o, "host", h->name) == ATTEST_OK &&
	     attest_json_add_str(o, "checkpoint", json) == ATTEST_OK);
	if (h->acked_size > 0 && h->acked_size < c.size) {
		NEED(attest_merkle_consistency_proof((const attest_merkle_hash *)h->leaves, c.size,
						     h->acked_size, proof, &plen) == ATTEST_OK);
		NEED((arr = cJSON_AddArrayToObject(o, "consistency")) != NULL);
		for (size_t i = 0; i < plen; i++) {
			char *b64 = NULL;

			NEED(attest_b64_encode(proof[i], 32, &b64) == ATTEST_OK);
			NEED(cJSON_AddItemToArray(arr, cJSON_CreateString(b64)));
			free(b64);
		}
	}
	NEED(attest_json_print(o, &out, NULL) == ATTEST_OK);
	h->pend_size = c.size;
	free(json);
	cJSON_Delete(o);
	return out;
}

static void sim_host_free(struct sim_host *h)
{
	free(h->leaves);
	for (size_t i = 0; i < h->nag; i++)
		X509_free(h->ra[i].agent_ca);
	free(h->ra);
	free(h->ag);
	X509_free(h->hca);
	EVP_PKEY_free(h->agent_key);
	EVP_PKEY_free(h->ak);
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

/* What a host does when due (struct sim.what) and where its slot is. */
enum sim_what { SIM_PUSH, SIM_REPORT, SIM_CKPT };
enum sim_step { STEP_NONCE, STEP_QUOTE, STEP_REPORT, STEP_CKPT };

struct slot {
	CURL *h;
	int replica;
	struct sim_host *host; /* NULL while idle */
	int step;              /* enum sim_step */
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
	enum sim_what what;
	size_t next;     /* round-robin over hosts */
	struct curl_slist *hdr;
	unsigned long ok, refused, errors;
	unsigned long stop_after; /* sim_run returns once ok reaches it (0: never) */
	size_t conc;              /* transfers in flight at most */
	size_t fixed_conc;        /* measure(): this many in flight (0: its default) */
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
	if (m->what == SIM_REPORT) {
		s->step = STEP_REPORT;
		slot_send(m, s, "/v1/agents/report", sim_report_body(h));
		return;
	}
	if (m->what == SIM_CKPT) {
		s->step = STEP_CKPT;
		slot_send(m, s, "/v1/audit/checkpoint", sim_ckpt_body(h));
		return;
	}
	s->step = STEP_NONCE;
	snprintf(body, sizeof(body), "{\"host\":\"%s\"}", h->name);
	slot_send(m, s, "/v1/hosts/nonce", strdup(body));
}

static const char *const step_name[] = { "nonce", "quote", "report", "checkpoint" };

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
			note_error(m, step_name[s->step], s->resp);
		}
		h->due = t + (m->interval > 0 ? m->interval : 0.05);
		s->host = NULL;
		return;
	}
	o = cJSON_Parse(s->resp);
	if (s->step == STEP_REPORT || s->step == STEP_CKPT) {
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");

		if (cJSON_IsString(st) && strcmp(st->valuestring, "ok") == 0) {
			m->ok++;
			if (s->step == STEP_CKPT)
				h->acked_size = h->pend_size;
		} else {
			m->refused++;
			note_error(m, step_name[s->step], s->resp);
		}
		h->due = m->interval > 0 ? t + m->interval : t;
		s->host = NULL;
	} else if (s->step == STEP_NONCE) {
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
			s->step = STEP_QUOTE;
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

/* What one measured run cost: answers accepted, wall seconds, the
 * replicas' CPU and the PostgreSQL server's (0 on SQLite). */
struct cost {
	unsigned long ok;
	double secs, cpu, pgcpu;
};

/* The hosts doing m->what against n replicas (vs[0] is r's), round-robin,
 * closed loop (32 in flight); with warm, first one of each per host (a
 * quote: the host row made, its AK recorded, which flushes the decision
 * cache; a report: the store's agents of the host re-registered; a
 * checkpoint: the log's first, without a proof), not measured. 0 when
 * nothing was accepted (the reason printed as name's n/a). */
static int measure(struct run *r, struct verifier **vs, int n, struct sim *m, double secs,
		   int warm, const char *name, const char *suffix, struct cost *k)
{
	static const char *const what[] = { "quote", "report", "checkpoint" };
	double c0 = 0, p0, t0;

	memset(k, 0, sizeof(*k));
	for (int i = 0; i < n; i++)
		m->urls[i] = vs[i]->url;
	m->nurls = n;
	m->interval = 0;
	/* 32 pushes in flight; 8 reports or checkpoints (a report's answer
	 * takes a second or more: 32 would queue longer than the window) */
	m->conc = m->fixed_conc ? m->fixed_conc : m->what == SIM_PUSH ? 32 : 8;
	if (warm) {
		m->ok = m->refused = m->errors = 0;
		m->first_error[0] = '\0';
		m->stop_after = m->nhosts;
		t0 = now_s();
		sim_run(m, 600);
		printf("# %s: warm-up, each host's first %s: %lu in %.1f s\n", r->label,
		       what[m->what], m->ok, now_s() - t0);
	}
	m->stop_after = 0;
	m->ok = m->refused = m->errors = 0;
	m->first_error[0] = '\0';
	for (int i = 0; i < n; i++)
		c0 += cpu_of(vs[i]->pid);
	p0 = r->pg_pid ? cpu_tree(r->pg_pid) : 0;
	t0 = now_s();
	sim_run(m, secs);
	/* reports and checkpoints are slower (each agent of a report and each
	 * checkpoint is a durable write): at least 20 answers, so the work
	 * still in flight at either end of the window does not skew the CPU
	 * per answer, within 4 * secs */
	while (m->what != SIM_PUSH && m->ok < 20 && now_s() - t0 < 4 * secs)
		sim_run(m, 1);
	k->secs = now_s() - t0;
	for (int i = 0; i < n; i++)
		k->cpu += cpu_of(vs[i]->pid);
	k->cpu -= c0;
	k->pgcpu = r->pg_pid ? cpu_tree(r->pg_pid) - p0 : 0;
	sim_end(m);
	k->ok = m->ok;
	if (m->ok == 0) {
		printf("fleet_%s_per_s_%s%s n/a (%lu refused, %lu errors: %s)\n", name, r->label,
		       suffix, m->refused, m->errors, m->first_error);
		return 0;
	}
	if (m->refused || m->errors)
		printf("# %s%s %s: %lu refused, %lu transport errors; first: %s\n", r->label,
		       suffix, name, m->refused, m->errors, m->first_error);
	return 1;
}

/* The quote figures (nonce+quote cycles); the push's cost in *push_ms. */
static void quotes(struct run *r, struct verifier **vs, int n, struct sim *m, double secs,
		   int warm, const char *suffix, double *push_ms, double *push_pg)
{
	struct cost k;

	m->what = SIM_PUSH;
	*push_ms = *push_pg = 0;
	if (!measure(r, vs, n, m, secs, warm, "quotes", suffix, &k))
		return;
	*push_ms = k.cpu * 1000 / (double)k.ok;
	*push_pg = k.pgcpu * 1000 / (double)k.ok;
	printf("fleet_quotes_per_s_%s%s %.0f\n", r->label, suffix, (double)k.ok / k.secs);
	printf("fleet_cpu_ms_per_push_%s%s %.3f\n", r->label, suffix, *push_ms);
	if (r->pg_pid)
		printf("fleet_pg_cpu_ms_per_push_%s%s %.3f\n", r->label, suffix, *push_pg);
}

/* Reports (what = SIM_REPORT) or checkpoints (SIM_CKPT) at one replica:
 * accepted per second and the CPU of one; *ms it, *pg_ms PostgreSQL's. */
static void others(struct run *r, struct verifier **vs, struct sim *m, double secs,
		   enum sim_what what, double *ms, double *pg_ms)
{
	const char *name = what == SIM_REPORT ? "reports" : "checkpoints";
	const char *one = what == SIM_REPORT ? "report" : "checkpoint";
	struct cost k;

	m->what = what;
	*ms = *pg_ms = 0;
	if (!measure(r, vs, 1, m, secs, 1, name, "", &k))
		return;
	*ms = k.cpu * 1000 / (double)k.ok;
	*pg_ms = k.pgcpu * 1000 / (double)k.ok;
	printf("fleet_%s_per_s_%s %.0f\n", name, r->label, (double)k.ok / k.secs);
	printf("fleet_cpu_ms_per_%s_%s %.3f\n", one, r->label, *ms);
	if (r->pg_pid)
		printf("fleet_pg_cpu_ms_per_%s_%s %.3f\n", one, r->label, *pg_ms);
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
	/* the hosts that also report and checkpoint (the first of the
	 * simulated ones): a report's first answer takes a second or more,
	 * so their warm-up is bounded by their number, not by secs */
	size_t inv_hosts = (size_t)env_long("ATTEST_FLEET_REPORT_HOSTS", 40);
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
	if (inv_hosts > m.nhosts)
		inv_hosts = m.nhosts;
	NEED((m.hosts = calloc(m.nhosts, sizeof(*m.hosts))) != NULL);
	{
		double t0 = now_s(), t1;
		size_t nag = 0;

		NEED(attest_ca_open(ca, &c) == ATTEST_OK);
		for (size_t i = 0; i < m.nhosts; i++) {
			snprintf(m.hosts[i].name, sizeof(m.hosts[i].name), "sim-%zu", i);
			sim_enrol(ca, c, &m.hosts[i]);
		}
		attest_ca_close(c);
		t1 = now_s();
		for (size_t i = 0; i < inv_hosts; i++) {
			sim_agents(&m.hosts[i], (long)i, store_hosts, nagents);
			nag += m.hosts[i].nag;
		}
		printf("# %ld software hosts enrolled (CA records, host CAs) in %.1f s; %ld agents "
		       "over %ld stored hosts (%ld each); %zu agent CAs of the %zu reporting hosts made "
		       "in %.1f s; %.0f s per run\n",
		       nhosts, t1 - t0, nagents, store_hosts, nagents / store_hosts, nag,
		       inv_hosts, now_s() - t1, secs);
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
			double push = 0, push_pg = 0, rep_ms = 0, rep_pg = 0, ck_ms = 0, ck_pg = 0;
			double push3 = 0, push3_pg = 0;
			double host_ms;

			quotes(r, vs, 1, &m, secs, 1, "", &push, &push_pg);
			printf("fleet_rss_after_quotes_%s_kb %ld\n", r->label, rss_kb(r->v.pid));
			m.nhosts = inv_hosts;
			others(r, vs, &m, secs, SIM_REPORT, &rep_ms, &rep_pg);
			others(r, vs, &m, secs, SIM_CKPT, &ck_ms, &ck_pg);
			m.nhosts = (size_t)nhosts;
			/* one host's minute at attestd's defaults: a quote
			 * (--push-interval 60), a checkpoint (--audit-checkpoint
			 * 60, records were appended) and, counted every minute
			 * (an upper bound: attestd reports at start and when its
			 * inventory changes), a report */
			host_ms = push + rep_ms + ck_ms;
			if (push > 0 && rep_ms > 0 && ck_ms > 0) {
				printf("fleet_cpu_ms_per_host_60s_%s %.3f\n", r->label, host_ms);
				if (r->pg_pid)
					printf("fleet_pg_cpu_ms_per_host_60s_%s %.3f\n", r->label,
					       push_pg + rep_pg + ck_pg);
				printf("fleet_hosts_per_core_60s_%s %.0f\n", r->label,
				       60000.0 / host_ms);
			} else {
				printf("fleet_hosts_per_core_60s_%s n/a (a run above failed)\n",
				       r->label);
			}
			if (r->pg_pid) {
				/* three replicas on the one database, hosts
				 * round-robin over them */
				replicas_up(&r->v, rep);
				vs[1] = &rep[0];
				vs[2] = &rep[1];
				quotes(r, vs, 3, &m, secs, 0, "_3_replicas", &push3, &push3_pg);
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
		sim_host_free(&m.hosts[i]);
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

/* ---- issue 17 item 4: quote ingestion over HTTPS ---- */

static size_t msink(char *d, size_t sz, size_t n, void *arg)
{
	char *buf = arg;
	size_t have = strlen(buf), add = sz * n;

	if (add > 65535 - have)
		add = 65535 - have;
	memcpy(buf + have, d, add);
	buf[have + add] = '\0';
	return sz * n;
}

/* A counter of v's /metrics ("name value" on its own line); -1 when the
 * verifier does not report it (a baseline build from before it did). */
static double metric(struct verifier *v, const char *name)
{
	CURL *h = curl_easy_init();
	char url[200], key[160], *buf = calloc(1, 65536), *at;
	double val = -1;
	uint64_t n = 0;

	NEED(h != NULL && buf != NULL);
	snprintf(url, sizeof(url), "%s/metrics", v->url);
	snprintf(key, sizeof(key), "\n%s ", name);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CAINFO, v->cacert);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, msink);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, buf);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	if (curl_easy_perform(h) == CURLE_OK && (at = strstr(buf, key)) != NULL) {
		at += strlen(key);
		if (attest_parse_u64n(at, strspn(at, "0123456789"), 0, UINT64_MAX, &n) == ATTEST_OK)
			val = (double)n;
		else
			attest_errclear();
	}
	curl_easy_cleanup(h);
	free(buf);
	return val;
}

#define QUOTES_GOAL 2500.0 /* quotes/s: Keylime's published figure (issue 17) */

/* POST /v1/hosts/nonce then POST /v1/hosts/quote, closed loop, TLS 1.3
 * kept alive (curl's connection cache), conc software hosts with their own
 * AKs each with one push in flight, one verifier on SQLite: quotes
 * accepted per second against the goal, and the durable writes each took
 * (store commits and audit group commits, from the verifier's /metrics). */
static void quotes_https(struct run *r, struct sim *m, size_t conc, double secs, const char *tag)
{
	struct verifier *vs[1] = { &r->v };
	double c0 = metric(&r->v, "attest_verifier_store_commits_total");
	double a0 = metric(&r->v, "attest_verifier_audit_syncs_total");
	double c1, a1, qps;
	char name[96], note[160];
	struct cost k;

	m->what = SIM_PUSH;
	m->nhosts = conc;
	m->fixed_conc = conc;
	if (!measure(r, vs, 1, m, secs, 0, "quotes", tag, &k))
		return;
	c1 = metric(&r->v, "attest_verifier_store_commits_total");
	a1 = metric(&r->v, "attest_verifier_audit_syncs_total");
	qps = (double)k.ok / k.secs;
	snprintf(name, sizeof(name), "quotes_https_per_s_%zu", conc);
	snprintf(note, sizeof(note), "(goal >= %.0f/s; %zu host%s, nonce + quote each, %s)",
		 QUOTES_GOAL, conc, conc == 1 ? "" : "s", r->label);
	tu_print_fig(name, 1, qps, 0, note);
	snprintf(name, sizeof(name), "quotes_https_per_s_%zu_over_goal", conc);
	tu_print_fig(name, 1, qps / QUOTES_GOAL, 3, "(>= 1.0 meets 2,500/s)");
	snprintf(name, sizeof(name), "quotes_https_store_commits_per_quote_%zu", conc);
	tu_print_fig(name, c0 >= 0 && c1 >= 0, (c1 - c0) / (double)k.ok, 2,
		     "(1.00: the used nonce and the host row in one transaction)");
	snprintf(name, sizeof(name), "quotes_https_audit_syncs_per_quote_%zu", conc);
	tu_print_fig(name, a0 >= 0 && a1 >= 0, (a1 - a0) / (double)k.ok, 2,
		     "(audit group commits: < 1 when batches form)");
	snprintf(name, sizeof(name), "quotes_https_cpu_ms_per_quote_%zu", conc);
	tu_print_fig(name, 1, k.cpu * 1000 / (double)k.ok, 3, "(the verifier's user+sys)");
}

/* ATTEST_BENCH_QUOTE_BASELINE: the build dir of another tree (a git
 * worktree of the commit before) whose attest-verifier is measured the
 * same way first, in this run ("_baseline" figures). */
static void bench_quotes_https(void)
{
	const char *base = getenv("ATTEST_BENCH_QUOTE_BASELINE");
	double secs = (double)env_long("ATTEST_FLEET_SECS", 10);
	char tmp[500], ca[600], roots[800];
	struct attest_ca *c = NULL;
	struct sim m;
	struct run r;

	printf("\n");
	memset(&m, 0, sizeof(m));
	NEED(RAND_bytes(&sim_pcrs[0][0], sizeof(sim_pcrs)) == 1);
	tu_mkdtemp(tmp, sizeof(tmp));
	snprintf(ca, sizeof(ca), "%s/ca", tmp);
	snprintf(roots, sizeof(roots), "%s/vendor-roots.pem", tu_template());
	NEED(attest_ca_init(ca, "fleet.example", roots, 3600) == ATTEST_OK);
	NEED((m.hdr = curl_slist_append(NULL, "Content-Type: application/json")) != NULL);
	m.nhosts = 16;
	NEED((m.hosts = calloc(m.nhosts, sizeof(*m.hosts))) != NULL);
	for (int pass = base != NULL && *base != '\0' ? 0 : 1; pass < 2; pass++) {
		char *oldpath = NULL;
		const char *tag = pass == 0 ? "_baseline" : "";

		if (pass == 0) {
			char p[1400];

			oldpath = strdup(getenv("PATH"));
			NEED(oldpath != NULL);
			snprintf(p, sizeof(p), "%s:%s", base, oldpath);
			setenv("PATH", p, 1);
			printf("# baseline: attest-verifier from %s\n", base);
		}
		memset(&r, 0, sizeof(r));
		r.label = "sqlite";
		verifier_up(&r.v, ca, NULL);
		verifier_stop(&r.v);
		/* enrolled after the first start, as bench_body does */
		NEED(attest_ca_open(ca, &c) == ATTEST_OK);
		for (size_t i = 0; i < 16; i++) {
			sim_host_free(&m.hosts[i]);
			memset(&m.hosts[i], 0, sizeof(m.hosts[i]));
			snprintf(m.hosts[i].name, sizeof(m.hosts[i].name), "q%d-%zu", pass, i);
			sim_enrol(ca, c, &m.hosts[i]);
		}
		attest_ca_close(c);
		(void)start_timed(&r.v);
		m.cacert = r.v.cacert;
		m.urls[0] = r.v.url;
		m.nurls = 1;
		/* each host's first quote (its row made, its AK cached) */
		m.what = SIM_PUSH;
		m.nhosts = 16;
		m.conc = m.fixed_conc = 16;
		m.ok = m.refused = m.errors = 0;
		m.stop_after = m.nhosts;
		sim_run(&m, 600);
		sim_end(&m);
		printf("# %s: each host's first quote: %lu of 16 (%lu refused, %lu errors)\n",
		       pass == 0 ? "baseline" : "this tree", m.ok, m.refused, m.errors);
		m.stop_after = 0;
		if (pass == 0) {
			struct cost k;
			struct verifier *vs[1] = { &r.v };

			/* the old verifier: figures only, no commit counter */
			for (size_t conc = 1; conc <= 16; conc += 15) {
				char name[96];

				m.nhosts = conc;
				m.fixed_conc = conc;
				if (!measure(&r, vs, 1, &m, secs, 0, "quotes", "_baseline", &k))
					continue;
				snprintf(name, sizeof(name), "quotes_https_per_s_%zu%s", conc, tag);
				tu_print_fig(name, 1, (double)k.ok / k.secs, 0,
					     "(the baseline build, same hosts and load)");
				snprintf(name, sizeof(name), "quotes_https_cpu_ms_per_quote_%zu%s", conc,
					 tag);
				tu_print_fig(name, 1, k.cpu * 1000 / (double)k.ok, 3, "");
			}
		} else {
			quotes_https(&r, &m, 1, secs, "_https_1");
			quotes_https(&r, &m, 16, secs, "_https_16");
		}
		verifier_down(&r.v);
		if (oldpath != NULL) {
			setenv("PATH", oldpath, 1);
			free(oldpath);
		}
	}
	for (size_t i = 0; i < 16; i++)
		sim_host_free(&m.hosts[i]);
	free(m.hosts);
	curl_slist_free_all(m.hdr);
	tu_rmtree(tmp);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "fleet: start with 1M agents, quotes/s SQLite vs PostgreSQL", bench_body },
		{ "fleet: decisions/s at one and three replicas on PostgreSQL", bench_decisions },
		{ "quotes over HTTPS with the nonce round trip: 1 and 16 hosts, SQLite",
		  bench_quotes_https },
		{ NULL, NULL },
	};

	setvbuf(stdout, NULL, _IOLBF, 0); /* figures as they come, into a file too */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return tu_main("bench_fleet", tests);
}
