/* fuzz_enrol.c - libFuzzer target for the enrolment message handlers:
 *   attest_ca_handle_request, attest_ca_handle_response and
 *   attest_ca_handle_renewal on the input, against one fleet CA per process
 *   in a private temp dir; attest_host_enrol_finish on a state dir without
 *   a pending enrolment and on one with a pending enrolment (pinned root);
 *   attest_ek_cert_verify on the input as a DER EK certificate.
 *
 * So that the fuzzer gets past the lookups, the CA holds (written once by
 * setup, in the on-disk format of docs/enrolment.md "CA directory"): an
 * allowlist entry for the fixture EK, a join token FZ_TOKEN, an enrolment
 * challenge FZ_ENROL_ID, an enrolled host FZ_HOST and a renewal challenge
 * FZ_RENEW_ID, all with the fixture keys (fuzz_fixture.c). The vendor roots
 * are a self-signed EC certificate whose key is thrown away, so no input can
 * pass the EK chain; the seeds carry evidence whose signatures do not verify.
 * Hence no input may succeed: success would mean forged evidence, and it
 * would change CA state (the run would stop being repeatable). The target
 * aborts on it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "enrol/enrol.h"
#include "fuzz_fixture.h"
#include "core/json.h"
#include "tpm/tpmjson.h"
#include "tpm/tpmsw.h"
#include "x509/x509.h"

static struct {
	struct attest_ca *ca;
	EVP_PKEY *ek;
	char roots[1024], ca_dir[1024], idle[1024], pending[1024];
} fx;

static void must(int r, const char *what)
{
	if (r != ATTEST_OK)
		fz_die(what);
}

static void save(const char *dir, const char *name, cJSON *obj)
{
	char path[1200], *s = NULL;
	size_t len = 0;

	if (obj == NULL)
		fz_die("cJSON_CreateObject");
	must(attest_json_print(obj, &s, &len), "print record");
	fz_path(path, sizeof(path), dir, name);
	fz_write(path, s, len);
	free(s);
	cJSON_Delete(obj);
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
	uint8_t d[32];
	unsigned dlen = 0;

	if (EVP_Digest(data, len, d, &dlen, EVP_sha256(), NULL) != 1)
		fz_die("sha256");
	attest_hex(d, sizeof(d), out);
}

/* Records the CA would have written for an enrolment in progress and for an
 * enrolled host (ca.c: handle_request, handle_response, renew_challenge). */
static void plant_ca_state(void)
{
	TPM2B_PUBLIC ek, ak, key;
	char ek_hash[65], hash[65], dir[1100], name[128];
	cJSON *o;

	fz_public(FZ_KEY_EK, &ek);
	fz_public(FZ_KEY_AK, &ak);
	fz_public(FZ_KEY_HOST, &key);
	must(attest_spki_hash_hex(&ek, ek_hash), "EK hash");
	must(attest_ca_allow_ek(fx.ca, ek_hash, FZ_HOST, FZ_OPERATOR), "allowlist");

	fz_path(dir, sizeof(dir), fx.ca_dir, "tokens");
	sha256_hex(FZ_TOKEN, strlen(FZ_TOKEN), hash);
	snprintf(name, sizeof(name), "%s.json", hash);
	o = cJSON_CreateObject();
	must(attest_json_add_str(o, "host", FZ_HOST), "token");
	must(attest_json_add_str(o, "operator", FZ_OPERATOR), "token");
	must(attest_json_add_u64(o, "created", (uint64_t)FZ_NOW), "token");
	must(attest_json_add_u64(o, "expires", FZ_EXPIRES), "token");
	save(dir, name, o);

	fz_path(dir, sizeof(dir), fx.ca_dir, "challenges");
	sha256_hex(fz_secret, sizeof(fz_secret), hash);
	o = cJSON_CreateObject();
	must(attest_json_add_str(o, "kind", "enrol"), "challenge");
	must(attest_json_add_str(o, "host", FZ_HOST), "challenge");
	must(attest_json_add_str(o, "ek_hash", ek_hash), "challenge");
	must(attest_json_add_str(o, "ek_kind", "p256"), "challenge");
	must(attest_json_add_TPM2B_PUBLIC(o, "ak_public", &ak), "challenge");
	must(attest_json_add_TPM2B_PUBLIC(o, "key_public", &key), "challenge");
	must(attest_json_add_str(o, "secret_sha256", hash), "challenge");
	must(attest_json_add_str(o, "token_sha256", ""), "challenge");
	must(attest_json_add_str(o, "operator", FZ_OPERATOR), "challenge");
	must(attest_json_add_u64(o, "expires", FZ_EXPIRES), "challenge");
	save(dir, FZ_ENROL_ID ".json", o);

	o = cJSON_CreateObject();
	must(attest_json_add_str(o, "kind", "renew"), "renew challenge");
	must(attest_json_add_str(o, "host", FZ_HOST), "renew challenge");
	must(attest_json_add_b64(o, "nonce", fz_renew_nonce, sizeof(fz_renew_nonce)), "renew");
	must(attest_json_add_u64(o, "expires", FZ_EXPIRES), "renew challenge");
	save(dir, FZ_RENEW_ID ".json", o);

	fz_path(dir, sizeof(dir), fx.ca_dir, "hosts");
	o = cJSON_CreateObject();
	must(attest_json_add_str(o, "host", FZ_HOST), "host");
	must(attest_json_add_str(o, "ek_hash", ek_hash), "host");
	must(attest_json_add_str(o, "ek_kind", "p256"), "host");
	must(attest_json_add_TPM2B_PUBLIC(o, "ak_public", &ak), "host");
	must(attest_json_add_TPM2B_PUBLIC(o, "key_public", &key), "host");
	must(attest_json_add_str(o, "approved_by", FZ_OPERATOR), "host");
	must(attest_json_add_u64(o, "enrolled", (uint64_t)FZ_NOW), "host");
	must(attest_json_add_u64(o, "reference_pcr_mask", FZ_PCR_MASK), "host");
	must(attest_json_add_b64(o, "reference_pcr_sha256", fz_pcrs, sizeof(fz_pcrs)), "host");
	must(attest_json_add_str(o, "reference_approved_by", FZ_OPERATOR), "host");
	save(dir, FZ_HOST ".json", o);
}

/* A host state dir waiting for its enrol-result (host.c: enrol.json and
 * enrol-key.json as attest_host_enrol_begin leaves them). */
static void plant_pending_host(void)
{
	TPM2B_PUBLIC key;
	TPM2B_PRIVATE priv;
	cJSON *o;

	if (mkdir(fx.pending, 0700) != 0)
		fz_die("mkdir pending");
	o = cJSON_CreateObject();
	must(attest_json_add_str(o, "host", FZ_HOST), "enrol.json");
	must(attest_json_add_str(o, "ek_kind", "p256"), "enrol.json");
	save(fx.pending, "enrol.json", o);

	fz_public(FZ_KEY_HOST, &key);
	memset(&priv, 0, sizeof(priv));
	priv.size = 16;
	memset(priv.buffer, 0xa5, priv.size);
	o = cJSON_CreateObject();
	must(attest_json_add_TPM2B_PUBLIC(o, "public", &key), "enrol-key.json");
	must(attest_json_add_TPM2B_PRIVATE(o, "private", &priv), "enrol-key.json");
	save(fx.pending, "enrol-key.json", o);
}

static void setup(void)
{
	const char *tmp = fz_tmpdir();
	EVP_PKEY *vkey = NULL;
	X509 *vroot = NULL;
	char *pem = NULL;
	TPM2B_PUBLIC ek;

	/* TPM vendor roots: a self-signed EC certificate, key discarded. */
	fz_path(fx.roots, sizeof(fx.roots), tmp, "vendor-roots.pem");
	must(attest_x509_make_root("tpm-vendor.fuzz.invalid", 3650, &vkey, &vroot), "vendor root");
	must(attest_x509_to_pem(vroot, &pem), "vendor root PEM");
	fz_write(fx.roots, pem, strlen(pem));
	free(pem);
	X509_free(vroot);
	EVP_PKEY_free(vkey);

	fz_path(fx.ca_dir, sizeof(fx.ca_dir), tmp, "ca");
	must(attest_ca_init(fx.ca_dir, "fuzz.example", fx.roots, 3600), "attest_ca_init");
	must(attest_ca_open(fx.ca_dir, &fx.ca), "attest_ca_open");
	attest_ca_set_time(fx.ca, FZ_NOW);
	plant_ca_state();

	fz_path(fx.idle, sizeof(fx.idle), tmp, "host-idle");
	if (mkdir(fx.idle, 0700) != 0)
		fz_die("mkdir idle");
	fz_path(fx.pending, sizeof(fx.pending), tmp, "host-pending");
	plant_pending_host();

	fz_public(FZ_KEY_EK, &ek);
	must(attest_tpm_pub_to_pkey(&ek, &fx.ek), "EK key");
	attest_errclear();
}

static void refused(int r, const char *what, char *out)
{
	if (fz_note(what, r) != ATTEST_OK && out == NULL)
		return;
	fprintf(stderr, "fuzz_enrol: %s returned %s with output %p: no input may pass\n", what,
		attest_errname(r), (void *)out);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *out = NULL;

	if (fx.ca == NULL)
		setup();
	refused(attest_ca_handle_request(fx.ca, data, size, &out), "attest_ca_handle_request", out);
	refused(attest_ca_handle_response(fx.ca, data, size, &out), "attest_ca_handle_response", out);
	refused(attest_ca_handle_renewal(fx.ca, data, size, &out), "attest_ca_handle_renewal", out);
	refused(attest_host_enrol_finish(fx.idle, data, size, NULL), "attest_host_enrol_finish",
		NULL);
	refused(attest_host_enrol_finish(fx.pending, data, size, fx.roots),
		"attest_host_enrol_finish (pending)", NULL);
	refused(attest_ek_cert_verify(data, size, fx.roots, fx.ek), "attest_ek_cert_verify", NULL);
	attest_errclear();
	return 0;
}
