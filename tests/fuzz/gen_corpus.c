/* gen_corpus.c - writes the software-made seeds of tests/fuzz/corpus:
 *
 *   gen_corpus OUTDIR     (OUTDIR/json, OUTDIR/tpm, OUTDIR/enrol must exist)
 *
 * Enrolment messages shaped as in docs/enrolment.md, addressed to the state
 * fuzz_enrol plants (FZ_* in fuzz_fixture.h), and marshalled TPM structures
 * with the fixture keys. Valid signatures appear only where no target can
 * be made to accept the whole message: the quote in tpm/ (fuzz_tpm checks
 * that nothing else verifies) and the creation evidence of enrol/response
 * (its quote is signed by the wrong key, so the response is still refused).
 * ECDSA is randomised: regenerated seeds differ in their signature bytes.
 * The swtpm-made seeds come from swtpm-seeds.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>

#include <tss2/tss2_mu.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "enrol/enrol.h"
#include "fuzz_fixture.h"
#include "core/json.h"
#include "core/jws.h"
#include "tpm/templates.h"
#include "attestation/eventlog.h"
#include "attestation/refset.h"
#include "attest/intent.h"
#include "audit/audit.h"
#include "audit/auditfmt.h"
#include "audit/merkle.h"
#include "tpm/tpmjson.h"
#include "tpm/tpmsw.h"
#include "x509/x509.h"
#include "x509/crl.h"
#include "x509/x509agent.h"
#include "registry.h"
#include "admin.h"
#include "mint.h"
#include "monproto.h"
#include "federation.h"
#include "pushwire.h"
#include "attestation/hostpush.h"
#include "core/fileio.h"
#include "tpm/tpmpolicy.h"

static const char *outdir;

static void must(int r, const char *what)
{
	if (r != ATTEST_OK)
		fz_die(what);
}

static void seed(const char *target, const char *name, const void *data, size_t len)
{
	char dir[1024], path[1200];

	fz_path(dir, sizeof(dir), outdir, target);
	fz_path(path, sizeof(path), dir, name);
	fz_write(path, data, len);
	if (chmod(path, 0644) != 0) /* seeds are checked in */
		fz_die(path);
}

/* Print obj as a seed of each target in the NULL-terminated list; frees obj. */
static void seed_json(cJSON *obj, const char *name, const char *t1, const char *t2)
{
	char *s = NULL;
	size_t len = 0;

	must(attest_json_print(obj, &s, &len), "print");
	seed(t1, name, s, len);
	if (t2 != NULL)
		seed(t2, name, s, len);
	free(s);
	cJSON_Delete(obj);
}

static cJSON *msg(const char *type)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		fz_die("cJSON_CreateObject");
	must(attest_json_add_str(o, "type", type), "type");
	must(attest_json_add_str(o, "version", "1"), "version");
	return o;
}

static void add_pub(cJSON *o, const char *key, enum fz_key k)
{
	TPM2B_PUBLIC pub;

	fz_public(k, &pub);
	must(attest_json_add_TPM2B_PUBLIC(o, key, &pub), key);
}

/* [u16 BE n][attest][signature], fuzz_tpm's second reading. */
static void seed_split(const char *name, const uint8_t *attest, size_t n,
		       const TPMT_SIGNATURE *sig)
{
	uint8_t buf[2048];
	size_t len;

	if (n > 1024)
		fz_die("attest too long");
	buf[0] = (uint8_t)(n >> 8);
	buf[1] = (uint8_t)n;
	memcpy(buf + 2, attest, n);
	len = 2 + n + fz_sig_bytes(sig, buf + 2 + n, sizeof(buf) - 2 - n);
	seed("tpm", name, buf, len);
}

static void tpm_seeds(void)
{
	uint8_t buf[2048], quote[1024], cert[1024], cdata[512];
	size_t quote_len, cert_len, cdata_len;
	TPMT_SIGNATURE sig;
	TPM2B_PUBLIC pub;
	size_t len;

	seed("tpm", "ak-public", buf, fz_public_bytes(FZ_KEY_AK, buf, sizeof(buf)));
	seed("tpm", "hostkey-public", buf, fz_public_bytes(FZ_KEY_HOST, buf, sizeof(buf)));
	seed("tpm", "ek-p256-public", buf, fz_public_bytes(FZ_KEY_EK, buf, sizeof(buf)));
	/* RSA L-1 EK shape with a made-up modulus (top bit set, odd). */
	attest_template_ek(ATTEST_EK_RSA2048, &pub);
	for (unsigned i = 0; i < 256; i++)
		pub.publicArea.unique.rsa.buffer[i] = (uint8_t)(0xc3 ^ (i * 37));
	pub.publicArea.unique.rsa.buffer[0] |= 0x80;
	pub.publicArea.unique.rsa.buffer[255] |= 1;
	must(attest_tpm2b_public_marshal(&pub, buf, sizeof(buf), &len), "marshal RSA EK");
	seed("tpm", "ek-rsa-public", buf, len);

	quote_len = fz_quote(fz_quote_nonce, sizeof(fz_quote_nonce), fz_pcrs, quote, sizeof(quote));
	cdata_len = fz_creation_data(cdata, sizeof(cdata));
	fz_public(FZ_KEY_HOST, &pub);
	cert_len = fz_certify(&pub, cdata, cdata_len, fz_quote_nonce, sizeof(fz_quote_nonce), cert,
			      sizeof(cert));
	seed("tpm", "quote", quote, quote_len);
	seed("tpm", "certify", cert, cert_len);
	fz_sign(FZ_KEY_AK, quote, quote_len, &sig);
	seed("tpm", "signature-ecdsa", buf, fz_sig_bytes(&sig, buf, sizeof(buf)));
	seed_split("quote-signed", quote, quote_len, &sig);
	fz_sign(FZ_KEY_HOST, quote, quote_len, &sig);
	seed_split("quote-wrong-key", quote, quote_len, &sig);
	fz_sign(FZ_KEY_AK, cert, cert_len, &sig);
	seed_split("certify-signed", cert, cert_len, &sig);

	memset(&sig, 0, sizeof(sig));
	sig.sigAlg = TPM2_ALG_RSASSA;
	sig.signature.rsassa.hash = TPM2_ALG_SHA256;
	sig.signature.rsassa.sig.size = 256;
	memset(sig.signature.rsassa.sig.buffer, 0x5a, 256);
	seed("tpm", "signature-rsassa", buf, fz_sig_bytes(&sig, buf, sizeof(buf)));
}

static char *pem_of(X509 *c)
{
	char *pem = NULL;

	must(attest_x509_to_pem(c, &pem), "PEM");
	return pem;
}

static void enrol_seeds(void)
{
	uint8_t quote[1024], cert[1024], cdata[512], qual[32];
	size_t quote_len, cert_len, cdata_len;
	TPMT_SIGNATURE sig;
	TPM2B_PUBLIC pub;
	EVP_PKEY *rk = NULL;
	X509 *root = NULL, *hostca = NULL, *ekcert = NULL;
	unsigned char *der = NULL;
	char *root_pem, *hostca_pem;
	int der_len;
	cJSON *o;

	/* Certificates: a fleet root of some other CA, a host CA certificate
	 * for the fixture host key, and an "EK certificate" for the fixture EK
	 * that chains to that root (not to the vendor roots). */
	must(attest_x509_make_root("fuzz.example", 3650, &rk, &root), "root");
	must(attest_x509_make_host_ca(rk, root, "fuzz.example", FZ_HOST, fz_pkey(FZ_KEY_HOST),
				      3600, &hostca), "host CA");
	must(attest_x509_make_host_ca(rk, root, "fuzz.example", "ek", fz_pkey(FZ_KEY_EK), 3600,
				      &ekcert), "EK cert");
	if ((der_len = i2d_X509(ekcert, &der)) <= 0)
		fz_die("i2d_X509");
	seed("enrol", "ek-cert.der", der, (size_t)der_len);
	root_pem = pem_of(root);
	hostca_pem = pem_of(hostca);

	o = msg("enrol-request");
	must(attest_json_add_str(o, "host", FZ_HOST), "host");
	must(attest_json_add_str(o, "ek_kind", "p256"), "ek_kind");
	add_pub(o, "ek_public", FZ_KEY_EK);
	must(attest_json_add_b64(o, "ek_cert", der, (size_t)der_len), "ek_cert");
	add_pub(o, "ak_public", FZ_KEY_AK);
	add_pub(o, "key_public", FZ_KEY_HOST);
	seed_json(cJSON_Duplicate(o, 1), "request-allowlisted", "enrol", "json");
	must(attest_json_add_str(o, "token", FZ_TOKEN), "token");
	seed_json(cJSON_Duplicate(o, 1), "request-token", "enrol", NULL);
	cJSON_ReplaceItemInObjectCaseSensitive(o, "ek_kind", cJSON_CreateString("p384"));
	seed_json(o, "request-wrong-kind", "enrol", NULL);

	o = msg("enrol-challenge");
	must(attest_json_add_str(o, "challenge_id", FZ_ENROL_ID), "id");
	must(attest_json_add_b64(o, "credential_blob", fz_secret, sizeof(fz_secret)), "blob");
	must(attest_json_add_b64(o, "encrypted_secret", fz_secret, sizeof(fz_secret)), "enc");
	must(attest_json_add_u64(o, "expires", FZ_EXPIRES), "expires");
	seed_json(o, "challenge", "json", NULL);

	/* enrol-response to FZ_ENROL_ID: creation evidence valid, quote signed
	 * by the host key instead of the AK. */
	must(attest_enrol_qualifying_data(FZ_ENROL_ID, fz_secret, sizeof(fz_secret), qual), "q");
	cdata_len = fz_creation_data(cdata, sizeof(cdata));
	fz_public(FZ_KEY_HOST, &pub);
	cert_len = fz_certify(&pub, cdata, cdata_len, qual, sizeof(qual), cert, sizeof(cert));
	quote_len = fz_quote(qual, sizeof(qual), fz_pcrs, quote, sizeof(quote));
	o = msg("enrol-response");
	must(attest_json_add_str(o, "challenge_id", FZ_ENROL_ID), "id");
	must(attest_json_add_b64(o, "secret", fz_secret, sizeof(fz_secret)), "secret");
	must(attest_json_add_b64(o, "certify_info", cert, cert_len), "certify_info");
	fz_sign(FZ_KEY_AK, cert, cert_len, &sig);
	must(attest_json_add_TPMT_SIGNATURE(o, "certify_sig", &sig), "certify_sig");
	must(attest_json_add_b64(o, "creation_data", cdata, cdata_len), "creation_data");
	must(attest_json_add_b64(o, "quote", quote, quote_len), "quote");
	fz_sign(FZ_KEY_HOST, quote, quote_len, &sig);
	must(attest_json_add_TPMT_SIGNATURE(o, "quote_sig", &sig), "quote_sig");
	must(attest_json_add_u64(o, "pcr_mask", FZ_PCR_MASK), "pcr_mask");
	must(attest_json_add_b64(o, "pcr_values", fz_pcrs, sizeof(fz_pcrs)), "pcr_values");
	seed_json(cJSON_Duplicate(o, 1), "response", "enrol", "json");
	cJSON_ReplaceItemInObjectCaseSensitive(o, "secret", cJSON_CreateString("AAAA"));
	seed_json(o, "response-wrong-secret", "enrol", NULL);

	o = msg("renew-challenge");
	must(attest_json_add_str(o, "host", FZ_HOST), "host");
	must(attest_json_add_str(o, "challenge_id", FZ_RENEW_ID), "id");
	must(attest_json_add_b64(o, "nonce", fz_renew_nonce, sizeof(fz_renew_nonce)), "nonce");
	must(attest_json_add_u64(o, "pcr_mask", FZ_PCR_MASK), "pcr_mask");
	must(attest_json_add_u64(o, "expires", FZ_EXPIRES), "expires");
	seed_json(o, "renew-challenge", "json", NULL);

	/* renew-response to FZ_RENEW_ID: all checks pass but the signature. */
	quote_len = fz_quote(fz_renew_nonce, sizeof(fz_renew_nonce), fz_pcrs, quote, sizeof(quote));
	o = msg("renew-response");
	must(attest_json_add_str(o, "challenge_id", FZ_RENEW_ID), "id");
	must(attest_json_add_b64(o, "quote", quote, quote_len), "quote");
	fz_sign(FZ_KEY_HOST, quote, quote_len, &sig);
	must(attest_json_add_TPMT_SIGNATURE(o, "quote_sig", &sig), "quote_sig");
	must(attest_json_add_u64(o, "pcr_mask", FZ_PCR_MASK), "pcr_mask");
	must(attest_json_add_b64(o, "pcr_values", fz_pcrs, sizeof(fz_pcrs)), "pcr_values");
	seed_json(o, "renewal", "enrol", "json");

	/* enrol-result for the pending host: right key, unpinned root. */
	o = msg("enrol-result");
	must(attest_json_add_str(o, "host", FZ_HOST), "host");
	must(attest_json_add_str(o, "trust_domain", "fuzz.example"), "td");
	must(attest_json_add_str(o, "host_ca_cert", hostca_pem), "host_ca_cert");
	must(attest_json_add_str(o, "root_cert", root_pem), "root_cert");
	seed_json(o, "result", "enrol", "json");

	free(root_pem);
	free(hostca_pem);
	OPENSSL_free(der);
	X509_free(ekcert);
	X509_free(hostca);
	X509_free(root);
	EVP_PKEY_free(rk);
}

/* Hand-written edge cases of the JSON layer. */
static void json_seeds(void)
{
	static const struct {
		const char *name, *text;
	} s[] = {
		{ "empty-object", "{}" },
		{ "duplicate-key", "{\"type\":\"enrol-request\",\"type\":\"enrol-request\"}" },
		{ "nested-dup", "{\"a\":{\"b\":1,\"b\":2}}" },
		{ "depth-16", "{\"a\":[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]}" },
		{ "depth-17", "{\"a\":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}" },
		{ "trailing", "{\"version\":\"1\"} x" },
		{ "escapes", "{\"host\":\"a\\u0000b\",\"token\":\"\\ud83d\\ude00\\n\"}" },
		{ "numbers", "{\"expires\":\"18446744073709551615\",\"pcr_mask\":\"0255\","
			     "\"x\":-1.5e308,\"y\":1e999}" },
		{ "b64-fields", "{\"secret\":\"QUJD\",\"quote\":\"QQ==\",\"ek_cert\":\"QUI=\","
				"\"pcr_values\":\"====\"}" },
		{ "b64-raw", "QUJDRA==" },
		{ "b64-raw-bad-pad", "QUJD=A==" },
	};

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		seed("json", s[i].name, s[i].text, strlen(s[i].text));
}

/* Crypto-agile event logs: SHA-256 only, SHA-1 + SHA-256 with a
 * StartupLocality event, and one with SHA-384 digests to skip. */
static void eventlog_seeds(void)
{
	static const uint16_t a1[] = { TPM2_ALG_SHA256 };
	static const uint16_t a2[] = { TPM2_ALG_SHA1, TPM2_ALG_SHA256 };
	static const uint16_t a3[] = { TPM2_ALG_SHA384, TPM2_ALG_SHA256, TPM2_ALG_SHA512 };
	static const struct {
		const char *name;
		const uint16_t *algs;
		size_t n;
		int locality;
	} logs[] = { { "sha256", a1, 1, -1 }, { "sha1-sha256-locality3", a2, 2, 3 },
		     { "sha384-sha256-sha512", a3, 3, -1 } };
	struct attest_eventlog_writer w;

	for (size_t i = 0; i < sizeof(logs) / sizeof(logs[0]); i++) {
		must(attest_eventlog_writer_init(&w, logs[i].algs, logs[i].n), "eventlog init");
		if (logs[i].locality >= 0)
			must(attest_eventlog_writer_locality(&w, (uint8_t)logs[i].locality),
			     "eventlog locality");
		must(attest_eventlog_writer_add(&w, 0, 0x00000008u, "CRTM", 4, NULL), "eventlog add");
		must(attest_eventlog_writer_add(&w, 4, 0x80000003u, "grub", 4, NULL), "eventlog add");
		must(attest_eventlog_writer_add(&w, 7, 0x800000e0u, "db", 2, NULL), "eventlog add");
		must(attest_eventlog_writer_add(&w, 4, ATTEST_EV_SEPARATOR, "\0\0\0\0", 4, NULL),
		     "eventlog add");
		seed("eventlog", logs[i].name, w.buf, w.len);
		attest_eventlog_writer_free(&w);
	}
}

/* fuzz_audit: a segment written by attest_audit_append (segment_start and
 * three records), a frame holding a checkpoint as attest_audit_ckpt_to_json
 * prints it, the same torn, and Merkle proofs (3 bytes of tree size,
 * index and old size, then the proof) as the tree gives them. */
static void audit_seeds(void)
{
	static const char *const recs[] = {
		"{\"time\":\"1700000000\",\"type\":\"issue\",\"agent\":\"a\"}",
		"{\"time\":\"1700000001\",\"type\":\"refusal\",\"reason\":\"x\"}",
		"{\"time\":\"1700000002\",\"type\":\"revoke\"}",
	};
	struct attest_audit *log = NULL;
	struct attest_audit_ckpt c;
	attest_merkle_hash leaves[13], proof[ATTEST_MERKLE_MAX_PROOF];
	char dir[1024], path[1200], *json = NULL;
	uint8_t *buf, hdr[AUDIT_FRAME_HDR], leaf[32], *fr;
	size_t len, plen, jlen;
	FILE *f;

	fz_path(dir, sizeof(dir), fz_tmpdir(), "audit-seed");
	must(attest_audit_open(dir, NULL, &log), "audit open");
	for (size_t i = 0; i < 3; i++)
		must(attest_audit_append(log, recs[i], strlen(recs[i]), NULL), "audit append");
	must(attest_audit_sync(log), "audit sync");
	attest_audit_close(log);
	fz_path(path, sizeof(path), dir, "seg-0000000000000000.log");
	if ((f = fopen(path, "rb")) == NULL || (buf = malloc(1 << 16)) == NULL)
		fz_die(path);
	len = fread(buf, 1, 1 << 16, f);
	fclose(f);
	seed("audit", "segment", buf, len);
	seed("audit", "segment-torn", buf, len - 5);
	free(buf);

	memset(&c, 0, sizeof(c));
	memset(c.log_id, 0x11, sizeof(c.log_id));
	c.size = 3;
	memset(c.root, 0x22, 32);
	c.counter = 7;
	c.time = 1700000003;
	c.attest.size = (uint16_t)fz_quote((const uint8_t *)"n", 1, fz_pcrs, c.attest.attestationData,
					   sizeof(c.attest.attestationData));
	fz_sign(FZ_KEY_AK, c.attest.attestationData, c.attest.size, &c.sig);
	must(attest_audit_ckpt_to_json(&c, &json, &jlen), "checkpoint json");
	must(attest_merkle_leaf(json, jlen, leaf), "leaf");
	attest_auditfmt_header(jlen, leaf, hdr);
	if ((fr = malloc(sizeof(hdr) + jlen)) == NULL)
		fz_die("malloc");
	memcpy(fr, hdr, sizeof(hdr));
	memcpy(fr + sizeof(hdr), json, jlen);
	seed("audit", "checkpoint-frame", fr, sizeof(hdr) + jlen);
	free(fr);
	free(json);

	for (uint8_t k = 0; k < 13; k++)
		must(attest_merkle_leaf(&k, 1, leaves[k]), "leaf");
	{
		uint8_t p[3 + sizeof(proof)];

		/* tree of 13 (n8 = 12), index 5, old size 8 (m8 = 7) */
		p[0] = 12;
		p[1] = 5;
		p[2] = 7;
		must(attest_merkle_inclusion_proof(leaves, 13, 5, proof, &plen), "inclusion");
		memcpy(p + 3, proof, plen * 32);
		seed("audit", "inclusion-13-5", p, 3 + plen * 32);
		must(attest_merkle_consistency_proof(leaves, 13, 8, proof, &plen), "consistency");
		memcpy(p + 3, proof, plen * 32);
		seed("audit", "consistency-8-13", p, 3 + plen * 32);
	}
}

/* fuzz_hostpush: the verifier's answers as docs/verifier-api.md gives
 * them, and PCR lists. */
static void hostpush_seeds(void)
{
	static const struct {
		const char *name, *body;
	} s[] = {
		{ "answer-trusted", "{\"state\":\"trusted\",\"reason\":\"ATTEST_OK\",\"reboot\":false,"
				    "\"refset\":\"fleet-2024\"}" },
		{ "answer-untrusted", "{\"state\":\"untrusted\",\"reason\":\"ATTEST_E_QUOTE_DIGEST\","
				      "\"reboot\":true}" },
		{ "nonce", "{\"nonce\":\"q83vEjRWeJCrze8SNFZ4kA==\",\"expires\":\"1700000060\"}" },
		{ "pcr-list", "0,2,4-7,23" },
	};

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		seed("hostpush", s[i].name, s[i].body, strlen(s[i].body));
}

/* fuzz_refset: sets signed by the fixture operator "fuzz-op" with
 * attest_refset_sign, one expired at the target's clock, one by a kid the
 * target does not know. */
static void refset_seeds(void)
{
#define H0 "0000000000000000000000000000000000000000000000000000000000000000"
#define HA "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	static const struct {
		const char *name, *kid, *payload;
	} s[] = {
		{ "set", "fuzz-op",
		  "{\"version\":\"1\",\"name\":\"fw-1\",\"pcrs\":{\"0\":\"" H0 "\",\"7\":\"" HA "\"},"
		  "\"eventlog\":{\"4\":[\"" HA "\"]},\"not_after\":\"1800000000\"}" },
		{ "set-expired", "fuzz-op",
		  "{\"version\":\"1\",\"name\":\"fw-0\",\"pcrs\":{\"0\":\"" H0 "\"},"
		  "\"not_after\":\"2000\"}" },
		{ "set-unknown-kid", "mallory",
		  "{\"version\":\"1\",\"name\":\"fw-2\",\"pcrs\":{\"7\":\"" HA "\"}}" },
	};
	char *tok = NULL;

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		must(attest_refset_sign(fz_pkey(FZ_KEY_HOST), s[i].kid, s[i].payload,
					strlen(s[i].payload), &tok),
		     "refset sign");
		seed("refset", s[i].name, tok, strlen(tok));
		free(tok);
		tok = NULL;
	}
#undef H0
#undef HA
}

/* fuzz_intent: grants made by attest_intent_grant_make with the fixture
 * issuer key for the target's audience (one valid at its clock, one
 * expired), the first followed by a NUL and the fixture EK certificate (a
 * leaf without intent). */
static void intent_seeds(void)
{
	static const char *const scopes[] = { "ehr:read", "ehr:write" };
	static const char *const res[] = { "ehr://patients/123/*" };
	struct attest_intent_claims c = {
		.sub = "user:alice", .aud = "spiffe://fleet.example/host/web-01/agent/fuzz",
		.purpose = ATTEST_PURPOSE_TREATMENT, .purpose_text = "follow-up",
		.scopes = scopes, .nscopes = 2, .resources = res, .nresources = 1,
		.jti = "task-0001", .iat = 1700000000, .nbf = 1700000000, .exp = 1700003600,
		.max_depth = 2,
	};
	char *tok = NULL, *buf;
	uint8_t der[4096];
	size_t n, dlen;
	FILE *f;
	char path[1200];

	must(attest_intent_grant_make(fz_pkey(FZ_KEY_HOST), "idp.example", &c, &tok), "grant");
	seed("intent", "grant", tok, strlen(tok));
	n = strlen(tok);
	snprintf(path, sizeof(path), "%s/enrol/ek-cert.der", outdir);
	if ((f = fopen(path, "rb")) == NULL)
		fz_die(path);
	dlen = fread(der, 1, sizeof(der), f);
	fclose(f);
	if ((buf = malloc(n + 1 + dlen)) == NULL)
		fz_die("malloc");
	memcpy(buf, tok, n + 1);
	memcpy(buf + n + 1, der, dlen);
	seed("intent", "grant-and-cert", buf, n + 1 + dlen);
	free(buf);
	free(tok);
	c.exp = 1700000050;
	c.jti = "task-0002";
	must(attest_intent_grant_make(fz_pkey(FZ_KEY_HOST), "idp.example", &c, &tok), "grant");
	seed("intent", "grant-expired", tok, strlen(tok));
	free(tok);
}

/* [8 bytes BE time][PEM certificates...] */
static void seed_chain(const char *name, int64_t now, X509 *const *certs, size_t n)
{
	size_t len = 8, cap = 8;
	char *buf = malloc(cap), *pem;

	if (buf == NULL)
		fz_die("malloc");
	for (int i = 0; i < 8; i++)
		buf[i] = (char)((uint64_t)now >> (56 - 8 * i));
	for (size_t i = 0; i < n; i++) {
		size_t k;

		pem = pem_of(certs[i]);
		k = strlen(pem);
		if ((buf = realloc(buf, cap = len + k)) == NULL)
			fz_die("realloc");
		memcpy(buf + len, pem, k);
		len += k;
		free(pem);
	}
	seed("x509", name, buf, len);
	free(buf);
}

/* fuzz_x509: a chain under the fixture root (host CA for the fixture host
 * key, agent CA for the fixture agent key with evidence by the fixture AK,
 * leaves), at a time inside its windows; the same chain in other orders,
 * shorter, with the root, at a time after it expired, and a session chain
 * (session issuer key = the fixture EK). */
static void x509_seeds(void)
{
	struct attest_leaf_params lp;
	struct attest_signer as, ss;
	X509 *root = fz_root(), *hca = NULL, *aca = NULL, *leaf = NULL, *sess = NULL, *sleaf = NULL;
	int64_t now = (int64_t)time(NULL) + 30;
	static const char intent[] = "not.a.jws";

	fz_agent_ca(&hca, &aca);
	must(attest_signer_from_pkey(fz_pkey(FZ_KEY_AGENT), &as), "agent signer");
	memset(&lp, 0, sizeof(lp));
	lp.pub = fz_pkey(FZ_KEY_AK);
	lp.ttl = 1200;
	lp.scopes = "fuzz.read";
	lp.task_id = "task-1";
	lp.delegate_depth = 1;
	must(attest_x509_make_leaf(aca, &lp, &as, &leaf), "leaf");
	must(attest_x509_make_session_issuer(aca, fz_pkey(FZ_KEY_EK), 900, &as, &sess), "session");
	must(attest_signer_from_pkey(fz_pkey(FZ_KEY_EK), &ss), "session signer");
	lp.intent = (const uint8_t *)intent;
	lp.intent_len = strlen(intent);
	must(attest_x509_make_leaf(sess, &lp, &ss, &sleaf), "session leaf");

	seed_chain("chain", now, (X509 *[]){ leaf, aca, hca }, 3);
	seed_chain("chain-with-root", now, (X509 *[]){ leaf, aca, hca, root }, 4);
	seed_chain("chain-shuffled", now, (X509 *[]){ leaf, hca, aca }, 3);
	seed_chain("chain-expired", now + 86400, (X509 *[]){ leaf, aca, hca }, 3);
	seed_chain("no-host-ca", now, (X509 *[]){ leaf, aca }, 2);
	seed_chain("leaf-only", now, (X509 *[]){ leaf }, 1);
	seed_chain("agent-ca-as-leaf", now, (X509 *[]){ aca, hca }, 2);
	seed_chain("session", now, (X509 *[]){ sleaf, sess, aca, hca }, 4);
	/* CRL bundles (fuzz_x509 reads the same bytes as a host's CRLs): the
	 * agent CA's, empty, and the root's listing the host CA */
	{
		struct attest_signer rs;
		STACK_OF(X509_CRL) *sk = sk_X509_CRL_new_null();
		X509_CRL *c1 = NULL, *c2 = NULL;
		const ASN1_INTEGER *serial = X509_get0_serialNumber(hca);
		char *pem = NULL, *buf;
		size_t plen = 0;

		must(attest_signer_from_pkey(fz_pkey(FZ_KEY_ROOT), &rs), "root signer");
		must(attest_crl_make(aca, NULL, 0, (time_t)now - 60, (time_t)now + 3600, 1, &as, &c1),
		     "agent CA CRL");
		must(attest_crl_make(root, &serial, 1, (time_t)now - 60, (time_t)now + 3600, 2, &rs,
				     &c2),
		     "root CRL");
		if (sk == NULL || sk_X509_CRL_push(sk, c1) <= 0 || sk_X509_CRL_push(sk, c2) <= 0)
			fz_die("CRL stack");
		must(attest_crl_bundle_pem(sk, &pem, &plen), "CRL bundle");
		if ((buf = malloc(8 + plen)) == NULL)
			fz_die("malloc");
		for (int i = 0; i < 8; i++)
			buf[i] = (char)((uint64_t)now >> (56 - 8 * i));
		memcpy(buf + 8, pem, plen);
		seed("x509", "crl-bundle", buf, 8 + plen);
		free(buf);
		free(pem);
		sk_X509_CRL_pop_free(sk, X509_CRL_free);
	}
	X509_free(sleaf);
	X509_free(sess);
	X509_free(leaf);
	X509_free(aca);
	X509_free(hca);
}

/* fuzz_registry: records as registry_save writes them, of an agent made
 * in software (the fixture's agent CA, the fixture host key's public area
 * as its key, an opaque private blob). */
static void registry_seeds(void)
{
	struct agent *a = agent_new();
	X509 *hca = NULL;
	char *s = NULL;
	size_t len = 0;

	if (a == NULL)
		fz_die("agent_new");
	fz_agent_ca(&hca, &a->agent_ca);
	snprintf(a->name, sizeof(a->name), "fz");
	snprintf(a->id, sizeof(a->id), "%s", FZ_AGENT_ID);
	snprintf(a->uuid, sizeof(a->uuid), "%s", FZ_AGENT_UUID);
	snprintf(a->binary, sizeof(a->binary), "/usr/bin/fz-agent");
	snprintf(a->tier, sizeof(a->tier), "medium");
	memset(a->exe_sha256, 0x11, 32);
	a->exe_size = 12345;
	a->uids[a->nuids++] = 1000;
	a->uids[a->nuids++] = 0;
	if ((a->scopes[0] = strdup("fuzz.read")) == NULL || (a->scopes[1] = strdup("fuzz:write/*")) == NULL ||
	    (a->classes[0] = strdup("phi")) == NULL || (a->env_allow[0] = strdup("LC_*")) == NULL)
		fz_die("strdup");
	a->nscopes = 2;
	a->nclasses = 1;
	a->nenv_allow = 1;
	a->max_ttl = 3600;
	a->delegate_depth = 2;
	if (EVP_Digest(FZ_AGENT_ID, strlen(FZ_AGENT_ID), a->measurement, NULL, EVP_sha256(), NULL) != 1)
		fz_die("measurement");
	memset(a->pcr_value, 0x23, 32);
	memset(a->policy, 0x42, 32);
	fz_public(FZ_KEY_HOST, &a->key.pub);
	a->key.priv.size = 126;
	memset(a->key.priv.buffer, 0x5a, a->key.priv.size);
	a->auth.size = 32;
	memset(a->auth.buffer, 0xa5, 32);
	a->creation_len = fz_creation_data(a->creation, sizeof(a->creation));
	a->creation_sig_len = 10;
	memset(a->creation_sig, 0x01, 10);
	must(registry_record_print(a, &s, &len), "record");
	seed("registry", "record", s, len);
	free(s);
	a->revoked = 1;
	a->script[0] = '/';
	must(registry_record_print(a, &s, &len), "record");
	seed("registry", "record-revoked-script", s, len);
	free(s);
	/* an agent that serves TLS: its registered DNS names */
	if ((a->dns[0] = strdup("mcp.fz.fuzz.example")) == NULL ||
	    (a->dns[1] = strdup("xn--bcher-kva.example")) == NULL)
		fz_die("strdup");
	a->ndns = 2;
	must(registry_record_print(a, &s, &len), "record");
	seed("registry", "record-dns-names", s, len);
	free(s);
	agent_free(a);
	X509_free(hca);
}

/* A /proc file of this process as a seed. */
static void proc_seed(const char *path, const char *name)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	must(attest_file_read(path, 64 * 1024, &buf, &len), path);
	seed("procfs", name, buf, len);
	free(buf);
}

/* fuzz_procfs: this process's own stat and status under a hostile comm
 * (spaces, parentheses, a newline: what any process may call itself), the
 * fdinfo of a pidfd of it, and cmdline and environ shaped as the kernel
 * shows them (written here: this process's own would carry the caller's
 * environment into the repository). */
static void procfs_seeds(void)
{
	static const char cmd[] = "/usr/bin/python3\0-I\0" "/opt/agent/run.py\0--flag\0";
	static const char cmd_opt[] = "/usr/bin/python3\0-c\0" "/opt/agent/run.py\0";
	static const char env[] = "PATH=/usr/bin:/bin\0LANG=C.UTF-8\0LC_ALL=C\0HOME=/home/fz\0"
				  "FZ_MODE=a=b\0";
	static const char env_bad[] = "PATH=/usr/bin\0LD_PRELOAD=/tmp/x.so\0";
	char path[64];
	int fd;

	if (prctl(PR_SET_NAME, "fz) S 1 (x\n", 0, 0, 0) != 0)
		fz_die("PR_SET_NAME");
	proc_seed("/proc/self/stat", "stat-hostile-comm");
	proc_seed("/proc/self/status", "status-hostile-comm");
	if ((fd = (int)syscall(SYS_pidfd_open, getpid(), 0)) < 0)
		fz_die("pidfd_open");
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	proc_seed(path, "fdinfo-pidfd");
	close(fd);
	seed("procfs", "cmdline-script", cmd, sizeof(cmd) - 1);
	seed("procfs", "cmdline-option", cmd_opt, sizeof(cmd_opt) - 1);
	seed("procfs", "environ", env, sizeof(env) - 1);
	seed("procfs", "environ-ld-preload", env_bad, sizeof(env_bad) - 1);
}

/* A PEM PKCS#10 request for key pub, signed by key sig. */
static char *csr_pem(EVP_PKEY *pub, EVP_PKEY *sig)
{
	X509_REQ *req = X509_REQ_new();
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	if (req == NULL || b == NULL || X509_REQ_set_version(req, 0) != 1 ||
	    X509_REQ_set_pubkey(req, pub) != 1 ||
	    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_ASC,
				       (const unsigned char *)"fz", -1, -1, 0) != 1 ||
	    X509_REQ_sign(req, sig, EVP_sha256()) <= 0 || PEM_write_bio_X509_REQ(b, req) != 1 ||
	    (n = BIO_get_mem_data(b, &data)) <= 0 || (out = strndup(data, (size_t)n)) == NULL)
		fz_die("CSR");
	BIO_free(b);
	X509_REQ_free(req);
	return out;
}

/* [8 bytes BE time][CSR PEM] NUL [renewal PEM...] */
static void seed_csr(const char *name, int64_t now, const char *csr, X509 *const *certs, size_t n,
		     const char *tail)
{
	char *buf, *pem;
	size_t len = 8, k;

	if ((buf = malloc(8 + strlen(csr) + 1)) == NULL)
		fz_die("malloc");
	for (int i = 0; i < 8; i++)
		buf[i] = (char)((uint64_t)now >> (56 - 8 * i));
	memcpy(buf + len, csr, strlen(csr));
	len += strlen(csr);
	if (certs != NULL || tail != NULL)
		buf[len++] = '\0';
	for (size_t i = 0; certs != NULL && i < n; i++) {
		pem = pem_of(certs[i]);
		k = strlen(pem);
		if ((buf = realloc(buf, len + k)) == NULL)
			fz_die("realloc");
		memcpy(buf + len, pem, k);
		len += k;
		free(pem);
	}
	if (tail != NULL) {
		if ((buf = realloc(buf, len + strlen(tail))) == NULL)
			fz_die("realloc");
		memcpy(buf + len, tail, strlen(tail));
		len += strlen(tail);
	}
	seed("csr", name, buf, len);
	free(buf);
}

/* fuzz_csr: CSRs signed by the fixture keys (and one whose signature is by
 * another key than it carries), each with a renewal leaf under the fixture
 * agent CA (strict, and session with its issuer) carrying an intent. */
static void csr_seeds(void)
{
	static const char intent[] = "eyJhbGciOiJFUzI1NiJ9.e30.c2ln~eyJhbGciOiJFUzI1NiJ9.e30.c2ln";
	struct attest_leaf_params lp;
	struct attest_signer as, ss;
	X509 *hca = NULL, *aca = NULL, *leaf = NULL, *sess = NULL, *sleaf = NULL, *noint = NULL;
	int64_t now = (int64_t)time(NULL) + 30;
	char *c_host = csr_pem(fz_pkey(FZ_KEY_HOST), fz_pkey(FZ_KEY_HOST));
	char *c_ak = csr_pem(fz_pkey(FZ_KEY_AK), fz_pkey(FZ_KEY_AK));
	char *c_bad = csr_pem(fz_pkey(FZ_KEY_AK), fz_pkey(FZ_KEY_HOST));

	fz_agent_ca(&hca, &aca);
	must(attest_signer_from_pkey(fz_pkey(FZ_KEY_AGENT), &as), "agent signer");
	memset(&lp, 0, sizeof(lp));
	lp.pub = fz_pkey(FZ_KEY_HOST);
	lp.ttl = 1200;
	lp.scopes = "fuzz.read";
	must(attest_x509_make_leaf(aca, &lp, &as, &noint), "leaf without intent");
	lp.intent = (const uint8_t *)intent;
	lp.intent_len = strlen(intent);
	must(attest_x509_make_leaf(aca, &lp, &as, &leaf), "leaf");
	must(attest_x509_make_session_issuer(aca, fz_pkey(FZ_KEY_EK), 900, &as, &sess), "session");
	must(attest_signer_from_pkey(fz_pkey(FZ_KEY_EK), &ss), "session signer");
	must(attest_x509_make_leaf(sess, &lp, &ss, &sleaf), "session leaf");

	seed_csr("csr-host-key", now, c_host, NULL, 0, NULL);
	seed_csr("csr-wrong-signer", now, c_bad, NULL, 0, NULL);
	seed_csr("renew-strict", now, c_ak, (X509 *[]){ leaf }, 1, NULL);
	seed_csr("renew-session", now, c_host, (X509 *[]){ sleaf, sess }, 2, NULL);
	seed_csr("renew-no-intent", now, c_host, (X509 *[]){ noint }, 1, NULL);
	seed_csr("renew-expired", now + 86400, c_host, (X509 *[]){ leaf }, 1, NULL);
	seed_csr("renew-trailing", now, c_host, (X509 *[]){ leaf }, 1, "junk\n");
	seed_csr("renew-full-chain", now, c_host, (X509 *[]){ sleaf, sess, aca, hca }, 4, NULL);
	free(c_host);
	free(c_ak);
	free(c_bad);
	X509_free(noint);
	X509_free(sleaf);
	X509_free(sess);
	X509_free(leaf);
	X509_free(aca);
	X509_free(hca);
}

/* A JSON text as a seed of target t. */
static void seed_text(const char *t, const char *name, const char *json)
{
	cJSON *o = cJSON_Parse(json);

	if (o == NULL)
		fz_die(name);
	seed_json(o, name, t, NULL);
}

/* fuzz_attestd: the requests of docs/protocol.md as attestctl sends them
 * (issue in both modes, with a CSR, with an intent, a renewal; register
 * with every field; revoke, remove, show, list, stats) and refusals
 * (unknown field, both intent and renew, empty scopes). */
static void attestd_seeds(void)
{
	char *csr = csr_pem(fz_pkey(FZ_KEY_HOST), fz_pkey(FZ_KEY_HOST));
	cJSON *o = cJSON_CreateObject(), *sc = cJSON_CreateArray();

	if (o == NULL || sc == NULL)
		fz_die("cJSON");
	cJSON_AddItemToArray(sc, cJSON_CreateString("fuzz.read"));
	cJSON_AddItemToArray(sc, cJSON_CreateString("fuzz:write/*"));
	must(attest_json_add_str(o, "op", "issue"), "op");
	must(attest_json_add_str(o, "agent", "fz"), "agent");
	must(attest_json_add_str(o, "mode", "session"), "mode");
	if (cJSON_AddNumberToObject(o, "ttl", 600) == NULL)
		fz_die("ttl");
	cJSON_AddItemToObject(o, "scopes", sc);
	must(attest_json_add_str(o, "task_id", "task-1"), "task");
	must(attest_json_add_str(o, "csr", csr), "csr");
	cJSON_AddTrueToObject(o, "parent");
	seed_json(o, "issue-session-csr", "attestd", NULL);
	free(csr);
	seed_text("attestd", "issue-strict", "{\"op\":\"issue\",\"agent\":\"fz\"}");
	seed_text("attestd", "issue-intent",
		  "{\"op\":\"issue\",\"agent\":\"fz\",\"mode\":\"strict\",\"intent\":"
		  "\"eyJhbGciOiJFUzI1NiJ9.e30.c2ln\"}");
	seed_text("attestd", "issue-renew",
		  "{\"op\":\"issue\",\"agent\":\"fz\",\"renew\":\"-----BEGIN CERTIFICATE-----\\n"
		  "-----END CERTIFICATE-----\\n\"}");
	seed_text("attestd", "issue-intent-and-renew",
		  "{\"op\":\"issue\",\"agent\":\"fz\",\"intent\":\"a\",\"renew\":\"b\"}");
	seed_text("attestd", "issue-empty-scopes", "{\"op\":\"issue\",\"agent\":\"fz\",\"scopes\":[]}");
	seed_text("attestd", "issue-dns-names",
		  "{\"op\":\"issue\",\"agent\":\"fz\",\"dns_names\":[\"mcp.fz.fuzz.example\","
		  "\"a2a.fuzz.example\"]}");
	seed_text("attestd", "issue-dns-wildcard",
		  "{\"op\":\"issue\",\"agent\":\"fz\",\"dns_names\":[\"*.fuzz.example\"]}");
	seed_text("attestd", "issue-unknown-field", "{\"op\":\"issue\",\"agent\":\"fz\",\"x\":1}");
	seed_text("attestd", "register",
		  "{\"op\":\"register\",\"name\":\"fz\",\"binary\":\"/usr/bin/python3\","
		  "\"script\":\"/opt/agent/run.py\",\"uids\":[1000,0],\"scopes\":[\"fuzz.read\","
		  "\"fuzz:write/*\"],\"risk_tier\":\"high\",\"data_classes\":[\"phi\"],"
		  "\"max_ttl\":3600,\"delegate_depth\":2,\"env_allow\":[\"LC_*\",\"FZ_MODE\"]}");
	seed_text("attestd", "register-dns-names",
		  "{\"op\":\"register\",\"name\":\"fz\",\"binary\":\"/bin/true\",\"uids\":[0],"
		  "\"risk_tier\":\"low\",\"dns_names\":[\"mcp.fz.fuzz.example\",\"010.1.1.1\"]}");
	seed_text("attestd", "register-ld-preload",
		  "{\"op\":\"register\",\"name\":\"fz\",\"binary\":\"/bin/true\",\"uids\":[0],"
		  "\"risk_tier\":\"low\",\"env_allow\":[\"LD_*\"]}");
	seed_text("attestd", "revoke", "{\"op\":\"revoke\",\"name\":\"fz\"}");
	seed_text("attestd", "remove", "{\"op\":\"remove\",\"name\":\"fz\"}");
	seed_text("attestd", "show", "{\"op\":\"show\",\"name\":\"fz\"}");
	seed_text("attestd", "list", "{\"op\":\"list\"}");
	seed_text("attestd", "stats", "{\"op\":\"stats\"}");
}

/* "route\nbody" as a seed of fuzz_vbody. */
static void seed_body(const char *name, const char *route, const char *body, size_t len)
{
	size_t k = strlen(route);
	char *buf = malloc(k + 1 + len);

	if (buf == NULL)
		fz_die("malloc");
	memcpy(buf, route, k);
	buf[k] = '\n';
	memcpy(buf + k + 1, body, len);
	seed("vbody", name, buf, k + 1 + len);
	free(buf);
}

static void seed_body_json(const char *name, const char *route, cJSON *o)
{
	char *s = NULL;
	size_t len = 0;

	must(attest_json_print(o, &s, &len), "print");
	seed_body(name, route, s, len);
	free(s);
	cJSON_Delete(o);
}

/* fuzz_vbody: each route's body as the hosts' own code builds it (nonce,
 * quote, inventory report, audit checkpoint), a decision request with a
 * chain under the fixture root, and the admin bodies. */
static void vbody_seeds(void)
{
	static const char *const scopes[] = { "fuzz.read", "fuzz:write/*" };
	static const char *const classes[] = { "phi" };
	static const char *const adm[][3] = {
		{ "revoke-host", "revoke-host", "{\"host\":\"fuzz-host\",\"reason\":\"stolen\"}" },
		{ "revoke-agent", "revoke-agent", "{\"agent\":\"" FZ_AGENT_ID "\"}" },
		{ "approve", "approve", "{\"agent\":\"" FZ_AGENT_ID "\"}" },
		{ "settings", "settings", "{\"approval_required\":true,\"scope_cap\":[\"fuzz.read\",\"b\"]}" },
		{ "settings-lift", "settings", "{\"scope_cap\":null}" },
		{ "refset", "refset", "{\"jws\":\"eyJhbGciOiJFUzI1NiJ9.e30.c2ln\"}" },
		{ "refset-retire", "refset-retire", "{\"name\":\"base\"}" },
	};
	struct attest_push_quote pq;
	struct attest_pcrs pcrs;
	struct attest_report_agent ra;
	struct attest_audit_ckpt c;
	struct attest_signer hs;
	TPM2B_ATTEST att;
	TPMT_SIGNATURE sig;
	X509 *hca = NULL, *aca = NULL;
	char *body = NULL, *report = NULL, *json = NULL, *pem;
	size_t len = 0, rlen = 0, jlen = 0;
	cJSON *o, *arr;
	uint8_t h[32];

	must(attest_push_nonce_request(FZ_HOST, &body), "nonce request");
	seed_body("nonce", "nonce", body, strlen(body));
	free(body);

	memset(&pq, 0, sizeof(pq));
	memset(&pcrs, 0, sizeof(pcrs));
	pcrs.mask = FZ_PCR_MASK;
	memcpy(pcrs.value, fz_pcrs, sizeof(fz_pcrs));
	att.size = (uint16_t)fz_quote(fz_quote_nonce, sizeof(fz_quote_nonce), fz_pcrs,
				      att.attestationData, sizeof(att.attestationData));
	fz_sign(FZ_KEY_AK, att.attestationData, att.size, &sig);
	pq.host = FZ_HOST;
	pq.nonce = fz_quote_nonce;
	pq.nonce_len = sizeof(fz_quote_nonce);
	pq.attest = &att;
	pq.sig = &sig;
	pq.pcr_mask = FZ_PCR_MASK;
	pq.pcrs = &pcrs;
	pq.eventlog = (const uint8_t *)"not an event log";
	pq.eventlog_len = 16;
	pq.renew = 1;
	must(attest_push_quote_request(&pq, &body, &len), "quote request");
	seed_body("quote", "quote", body, len);
	free(body);

	fz_agent_ca(&hca, &aca);
	memset(&ra, 0, sizeof(ra));
	ra.id = FZ_AGENT_ID;
	ra.uuid = FZ_AGENT_UUID;
	ra.agent_ca = aca;
	ra.scopes = scopes;
	ra.nscopes = 2;
	ra.data_classes = classes;
	ra.nclasses = 1;
	ra.risk_tier = "medium";
	ra.risk_score = 40;
	ra.delegate_depth = 1;
	must(attest_agent_report_build(FZ_HOST, 1700000000, &ra, 1, &report, &rlen), "report");
	must(attest_signer_from_pkey(fz_pkey(FZ_KEY_HOST), &hs), "host signer");
	must(attest_agent_report_sign(report, rlen, &hs, hca, &body, &len), "report sign");
	seed_body("report", "report", body, len);
	free(body);
	free(report);

	memset(&c, 0, sizeof(c));
	memset(c.log_id, 0x11, sizeof(c.log_id));
	c.size = 3;
	memset(c.root, 0x22, 32);
	c.counter = 7;
	c.time = 1700000003;
	c.attest = att;
	c.sig = sig;
	must(attest_audit_ckpt_to_json(&c, &json, &jlen), "checkpoint json");
	if ((o = cJSON_CreateObject()) == NULL || (arr = cJSON_CreateArray()) == NULL)
		fz_die("cJSON");
	must(attest_json_add_str(o, "host", FZ_HOST), "host");
	must(attest_json_add_str(o, "checkpoint", json), "checkpoint");
	memset(h, 0x33, sizeof(h));
	for (int i = 0; i < 2; i++) {
		char *b = NULL;

		must(attest_b64_encode(h, sizeof(h), &b), "b64");
		cJSON_AddItemToArray(arr, cJSON_CreateString(b));
		free(b);
	}
	cJSON_AddItemToObject(o, "consistency", arr);
	seed_body_json("checkpoint", "checkpoint", o);
	free(json);

	if ((o = cJSON_CreateObject()) == NULL)
		fz_die("cJSON");
	pem = pem_of(aca);
	must(attest_json_add_str(o, "chain", pem), "chain");
	free(pem);
	must(attest_json_add_str(o, "action", "read"), "action");
	must(attest_json_add_str(o, "resource", "fuzz:doc"), "resource");
	cJSON_AddItemToObject(o, "context", cJSON_Parse("{\"purpose\":\"TREATMENT\",\"k\":\"v\"}"));
	seed_body_json("decide", "decide", o);

	for (size_t i = 0; i < sizeof(adm) / sizeof(adm[0]); i++)
		seed_body(adm[i][0], adm[i][1], adm[i][2], strlen(adm[i][2]));
	X509_free(aca);
	X509_free(hca);
}

/* fuzz_jwtsvid: JWT-SVIDs as attestd signs them (ES256, kid, sub, aud,
 * exp, iat), by the fixture host key under kid "fuzz-kid": one valid at
 * the target's clock for its audience, one expired, one for another
 * audience, one under a kid the bundle lacks, one with aud a string; and
 * three only the verifier refuses (lifetime over an hour, no iat, exp not
 * a whole number). */
static void jwtsvid_seeds(void)
{
	static const struct {
		const char *name, *kid, *payload;
	} s[] = {
		{ "valid", "fuzz-kid",
		  "{\"aud\":[\"fuzz\",\"other\"],\"exp\":1700000600,\"iat\":1700000000,"
		  "\"sub\":\"spiffe://fleet.example/host/web-01/agent/a\"}" },
		{ "expired", "fuzz-kid",
		  "{\"aud\":[\"fuzz\"],\"exp\":1699999999,\"iat\":1699999000,"
		  "\"sub\":\"spiffe://fleet.example/host/web-01/agent/a\"}" },
		{ "other-aud", "fuzz-kid",
		  "{\"aud\":[\"billing\"],\"exp\":1700000600,\"iat\":1700000000,"
		  "\"sub\":\"spiffe://fleet.example/host/web-01/agent/a\"}" },
		{ "unknown-kid", "mallory",
		  "{\"aud\":[\"fuzz\"],\"exp\":1700000600,\"iat\":1700000000,"
		  "\"sub\":\"spiffe://fleet.example/host/web-01/agent/a\"}" },
		{ "aud-string", "fuzz-kid",
		  "{\"aud\":\"fuzz\",\"exp\":1700000600,\"iat\":1700000000,"
		  "\"sub\":\"spiffe://fleet.example/host/web-01/agent/b\",\"x\":{\"y\":[1,true,null]}}" },
		/* the verifier's stricter checks (verifier/jwtsvid.c): over an
		 * hour between iat and exp, no iat, exp not a whole number */
		{ "long-lived", "fuzz-kid",
		  "{\"aud\":[\"fuzz\"],\"exp\":1700007200,\"iat\":1700000000,"
		  "\"sub\":\"spiffe://fleet.example/host/web-01/agent/a\"}" },
		{ "no-iat", "fuzz-kid",
		  "{\"aud\":[\"fuzz\"],\"exp\":1700000600,"
		  "\"sub\":\"spiffe://fleet.example/host/web-01/agent/a\"}" },
		{ "exp-fraction", "fuzz-kid",
		  "{\"aud\":[\"fuzz\"],\"exp\":1700000600.5,\"iat\":1700000000,"
		  "\"sub\":\"spiffe://fleet.example/host/web-01/agent/a\"}" },
	};
	char hdr[128], *tok = NULL;

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"JWT\"}",
			 s[i].kid);
		must(attest_jws_sign(fz_pkey(FZ_KEY_HOST), hdr, s[i].payload, 8192, &tok), "jws");
		seed("jwtsvid", s[i].name, tok, strlen(tok));
		free(tok);
		tok = NULL;
	}
}

static int argc_g;
static char **argv_g;

/* gen_corpus OUTDIR [TARGET...]: only those targets' seeds when named. */
/* fuzz_fedbundle: SPIFFE bundles as a bundle endpoint serves them: the
 * fixture root as an x509-svid authority (its JWK and x5c), the fixture
 * host key as a jwt-svid key, sequence and refresh hint; and one key of
 * another use only (refused: nothing of ours). */
static void fedbundle_seeds(void)
{
	char buf[8192], *x5c = NULL, *rx = NULL, *ry = NULL, *hx = NULL, *hy = NULL;
	unsigned char *der = NULL;
	int n = i2d_X509(fz_root(), &der);
	const struct {
		EVP_PKEY *k;
		char **x, **y;
	} pts[] = { { fz_pkey(FZ_KEY_ROOT), &rx, &ry }, { fz_pkey(FZ_KEY_HOST), &hx, &hy } };

	if (n <= 0 || attest_b64_encode(der, (size_t)n, &x5c) != ATTEST_OK)
		fz_die("root DER");
	for (size_t i = 0; i < 2; i++) {
		BIGNUM *bx = NULL, *by = NULL;
		uint8_t bin[32];

		if (EVP_PKEY_get_bn_param(pts[i].k, "qx", &bx) != 1 ||
		    EVP_PKEY_get_bn_param(pts[i].k, "qy", &by) != 1 ||
		    BN_bn2binpad(bx, bin, 32) != 32 || attest_b64url_encode(bin, 32, pts[i].x) != 0 ||
		    BN_bn2binpad(by, bin, 32) != 32 || attest_b64url_encode(bin, 32, pts[i].y) != 0)
			fz_die("coordinates");
		BN_free(bx);
		BN_free(by);
	}
	snprintf(buf, sizeof(buf),
		 "{\"keys\":[{\"use\":\"x509-svid\",\"kty\":\"EC\",\"crv\":\"P-256\","
		 "\"x\":\"%s\",\"y\":\"%s\",\"x5c\":[\"%s\"]},{\"use\":\"jwt-svid\","
		 "\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"k1\",\"x\":\"%s\",\"y\":\"%s\"}],"
		 "\"spiffe_sequence\":7,\"spiffe_refresh_hint\":300}",
		 rx, ry, x5c, hx, hy);
	seed("fedbundle", "good", buf, strlen(buf));
	snprintf(buf, sizeof(buf),
		 "{\"keys\":[{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"crv\":\"P-256\","
		 "\"kid\":\"k1\",\"x\":\"%s\",\"y\":\"%s\"},{\"use\":\"jwt-svid\","
		 "\"kty\":\"RSA\",\"kid\":\"r\",\"n\":\"AQ\",\"e\":\"AQAB\"}]}", hx, hy);
	seed("fedbundle", "jwt-rsa-short", buf, strlen(buf));
	snprintf(buf, sizeof(buf), "{\"keys\":[{\"use\":\"other\",\"kty\":\"oct\","
		 "\"k\":\"c2VjcmV0\"}],\"spiffe_sequence\":1.5}");
	seed("fedbundle", "other-use", buf, strlen(buf));
	OPENSSL_free(der);
	free(x5c);
	free(rx);
	free(ry);
	free(hx);
	free(hy);
}

static int want(const char *t)
{
	if (argc_g <= 2)
		return 1;
	for (int i = 2; i < argc_g; i++)
		if (strcmp(argv_g[i], t) == 0)
			return 1;
	return 0;
}

/* monproto: [reader][argument][body], the body as the writers of each
 * message put it (the bytes after the op word) */
static void seed_mon(const char *name, uint8_t which, uint8_t arg, const struct mon_out *m)
{
	uint8_t *b = malloc(m->len - 4 + 2);

	if (b == NULL || m->err != 0 || m->len < 4)
		fz_die("monproto seed");
	b[0] = which;
	b[1] = arg;
	memcpy(b + 2, m->buf + 4, m->len - 4);
	seed("monproto", name, b, m->len - 4 + 2);
	free(b);
}

static void monproto_seeds(void)
{
	static const uint8_t spki[91] = { 0x30, 0x59 };
	struct mint_order o;
	struct admin_req q;
	struct push_reply rep;
	struct mint_result res;
	struct admin_result ares;
	struct agent_view v;
	struct mon_out m;

	memset(&o, 0, sizeof(o));
	snprintf(o.name, sizeof(o.name), "fz");
	o.session = 1;
	o.ttl = 300;
	o.nwant = 1;
	snprintf(o.want[0], sizeof(o.want[0]), "fuzz.read");
	o.ndns = 1;
	snprintf(o.dns[0], sizeof(o.dns[0]), "mcp.fz.fuzz.example");
	o.spki = spki;
	o.spki_len = sizeof(spki);
	mon_out_init(&m, MON_ISSUE);
	mint_order_put(&m, &o);
	seed_mon("order-plain", 0, 0, &m);
	mon_out_free(&m);
	o.has_intent = 1;
	o.in.token = (const uint8_t *)"eyJhbGciOiJFUzI1NiJ9.e30.c2ln";
	o.in.token_len = strlen((const char *)o.in.token);
	o.in.nscopes = 1;
	snprintf(o.in.scopes[0], sizeof(o.in.scopes[0]), "fuzz.read");
	o.in.expiry = FZ_NOW + 600;
	snprintf(o.in.marker_kind, sizeof(o.in.marker_kind), "jti");
	snprintf(o.in.user, sizeof(o.in.user), "dr.who");
	snprintf(o.in.purpose, sizeof(o.in.purpose), "treatment");
	o.in.depth = 1;
	snprintf(o.in.agents[0], sizeof(o.in.agents[0]), "spiffe://fuzz/a");
	snprintf(o.in.agents[1], sizeof(o.in.agents[1]), "spiffe://fuzz/b");
	mon_out_init(&m, MON_ISSUE);
	mint_order_put(&m, &o);
	seed_mon("order-intent", 0, 0, &m);
	mon_out_free(&m);

	memset(&q, 0, sizeof(q));
	q.op = ADMIN_REGISTER;
	snprintf(q.reg.name, sizeof(q.reg.name), "fz");
	snprintf(q.reg.binary, sizeof(q.reg.binary), "/usr/bin/python3");
	snprintf(q.reg.script, sizeof(q.reg.script), "/opt/agent/run.py");
	snprintf(q.reg.tier, sizeof(q.reg.tier), "high");
	q.reg.nuids = 1;
	q.reg.uids[0] = 1000;
	q.reg.nscopes = 1;
	snprintf(q.reg.scopes[0], sizeof(q.reg.scopes[0]), "fuzz.read");
	q.reg.nclasses = 1;
	snprintf(q.reg.classes[0], sizeof(q.reg.classes[0]), "phi");
	q.reg.nenv_allow = 1;
	snprintf(q.reg.env_allow[0], sizeof(q.reg.env_allow[0]), "LC_*");
	q.reg.ndns = 1;
	snprintf(q.reg.dns[0], sizeof(q.reg.dns[0]), "mcp.fz.fuzz.example");
	q.reg.max_ttl = 600;
	q.reg.delegate_depth = 1;
	mon_out_init(&m, MON_ADMIN);
	admin_req_put(&m, &q);
	seed_mon("admin-register", 1, 0, &m);
	mon_out_free(&m);
	memset(&q, 0, sizeof(q));
	q.op = ADMIN_LIST;
	q.offset = 12;
	mon_out_init(&m, MON_ADMIN);
	admin_req_put(&m, &q);
	seed_mon("admin-list", 1, 0, &m);
	mon_out_free(&m);

	memset(&rep, 0, sizeof(rep));
	rep.nonce_len = 16;
	memset(rep.nonce, 0xab, 16);
	rep.expires = FZ_NOW + 60;
	mon_out_init(&m, MON_PUSH_DONE);
	push_reply_put(&m, PUSH_NONCE, &rep);
	seed_mon("push-nonce", 2, PUSH_NONCE, &m);
	mon_out_free(&m);
	memset(&rep, 0, sizeof(rep));
	rep.r = ATTEST_E_QUOTE_DIGEST;
	snprintf(rep.detail, sizeof(rep.detail), "digest differs");
	mon_out_init(&m, MON_PUSH_DONE);
	push_reply_put(&m, PUSH_QUOTE, &rep);
	seed_mon("push-quote-refused", 2, PUSH_QUOTE, &m);
	mon_out_free(&m);

	memset(&res, 0, sizeof(res));
	res.chain = (char *)"-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n";
	snprintf(res.id, sizeof(res.id), "spiffe://fuzz/agent/fz");
	res.ttl = 300;
	snprintf(res.scopes, sizeof(res.scopes), "fuzz.read");
	res.pid = 4242;
	mon_out_init(&m, MON_REPLY);
	mint_result_put(&m, &res);
	seed_mon("result-issue", 3, 0, &m);
	mon_out_free(&m);

	memset(&ares, 0, sizeof(ares));
	memset(&v, 0, sizeof(v));
	snprintf(v.name, sizeof(v.name), "fz");
	snprintf(v.tier, sizeof(v.tier), "low");
	v.nuids = 1;
	ares.op = ADMIN_SHOW;
	ares.agents = &v;
	ares.nagents = 1;
	ares.agent_ca = (uint8_t *)"\x30\x03\x02\x01\x01";
	ares.agent_ca_len = 5;
	mon_out_init(&m, MON_REPLY);
	admin_result_put(&m, &ares);
	seed_mon("result-show", 4, ADMIN_SHOW, &m);
	mon_out_free(&m);
	ares.op = ADMIN_STATS;
	ares.nagents = 0;
	ares.agents = NULL;
	ares.agent_ca = NULL;
	ares.agent_ca_len = 0;
	ares.stats.agents = 3;
	mon_out_init(&m, MON_REPLY);
	admin_result_put(&m, &ares);
	seed_mon("result-stats", 4, ADMIN_STATS, &m);
	mon_out_free(&m);

	{
		static uint8_t ca[] = "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n";
		struct fed_list l;

		memset(&l, 0, sizeof(l));
		l.n = 1;
		snprintf(l.e[0].td, sizeof(l.e[0].td), "partner.example");
		snprintf(l.e[0].url, sizeof(l.e[0].url), "https://127.0.0.1:8443/v1/spiffe/bundle");
		l.e[0].ca = ca;
		l.e[0].ca_len = sizeof(ca) - 1;
		mon_out_init(&m, MON_REPLY);
		fed_list_put(&m, &l);
		seed_mon("result-federation", 5, 0, &m);
		mon_out_free(&m);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s OUTDIR [TARGET...]\n", argv[0]);
		return 2;
	}
	argc_g = argc;
	argv_g = argv;
	outdir = argv[1];
	if (want("tpm"))
		tpm_seeds();
	if (want("enrol"))
		enrol_seeds();
	if (want("json"))
		json_seeds();
	if (want("eventlog"))
		eventlog_seeds();
	if (want("audit"))
		audit_seeds();
	if (want("hostpush"))
		hostpush_seeds();
	if (want("refset"))
		refset_seeds();
	if (want("intent"))
		intent_seeds();
	if (want("x509"))
		x509_seeds();
	if (want("registry"))
		registry_seeds();
	if (want("procfs"))
		procfs_seeds();
	if (want("csr"))
		csr_seeds();
	if (want("attestd"))
		attestd_seeds();
	if (want("vbody"))
		vbody_seeds();
	if (want("jwtsvid"))
		jwtsvid_seeds();
	if (want("monproto"))
		monproto_seeds();
	if (want("fedbundle"))
		fedbundle_seeds();
	return 0;
}
