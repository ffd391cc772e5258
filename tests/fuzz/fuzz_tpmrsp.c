/* fuzz_tpmrsp.c - libFuzzer target for TPM responses: every byte a TPM (or
 * whatever answers on its TCTI) sends back, through tpm2-tss ESYS into
 * libattest's tpm.c (attest_tpm_*: PCR read, clock, DA state, handle count,
 * AK public and quote, EK public and certificate, signing key creation,
 * sign, certify creation, NV counter define, increment, read and certify),
 * with the bounded retry and recover-after-a-bad-response paths. The responses come through
 * the TCTI loader from libtss2-tcti-fuzzrsp (tcti_fuzzrsp.c), so nothing
 * about the path differs from attestd's (issue 13 item 4).
 *
 * Input: [u8 which operations][u16 BE n][n bytes response]... Each command
 * ESYS sends is answered with the next response; when none is left the TCTI
 * fails like a dead TPM (and a reconnect finds none either).
 * Oracles besides the sanitizers: an operation that succeeds returns values
 * inside their types (a PCR read only of the PCRs asked for, a quote and an
 * NV certification whose TPMS_ATTEST parses whole, an AK public area that
 * marshals and parses back).
 *
 * Seeds: swtpm-seeds.sh records a real swtpm's answers through the same
 * TCTI (FUZZRSP_RECORD=PATH FUZZRSP_CHILD=<tcti> replay_tpmrsp FILE, FILE
 * holding the one operations byte).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "core/cursor.h"
#include "fuzz_fixture.h"
#include "tpm/tpm.h"
#include "tpm/tpmsw.h"

/* exported for the TCTI (the target is linked with --export-dynamic) */
int fuzzrsp_next(const uint8_t **rsp, size_t *len) __attribute__((visibility("default")));

static struct attest_cur stream;

int fuzzrsp_next(const uint8_t **rsp, size_t *len)
{
	uint16_t n;

	if (!attest_cur_u16be(&stream, &n) || !attest_cur_take(&stream, n, rsp))
		return 0;
	*len = n;
	return 1;
}

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_tpmrsp: %s\n", what);
		abort();
	}
}

/* "<dir of this binary>/libtss2-tcti-fuzzrsp.so[:record=PATH;CHILD]" */
static const char *tcti_conf(void)
{
	static char conf[2048];
	char self[1024];
	const char *rec = getenv("FUZZRSP_RECORD"), *child = getenv("FUZZRSP_CHILD");
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;
	int w;

	check(n > 0, "readlink /proc/self/exe");
	self[n] = '\0';
	check((slash = strrchr(self, '/')) != NULL, "no directory");
	*slash = '\0';
	if (rec != NULL && child != NULL)
		w = snprintf(conf, sizeof(conf), "%s/libtss2-tcti-fuzzrsp.so:record=%s;%s", self,
			     rec, child);
	else
		w = snprintf(conf, sizeof(conf), "%s/libtss2-tcti-fuzzrsp.so", self);
	check(w > 0 && (size_t)w < sizeof(conf), "TCTI configuration too long");
	return conf;
}

/* What is checked of a successful operation: only ever its result. */
static void ok_attest(const TPM2B_ATTEST *a)
{
	TPMS_ATTEST s;

	check(a->size <= sizeof(a->attestationData), "attest size");
	check(attest_tpms_attest_parse(a->attestationData, a->size, &s) == ATTEST_OK,
	      "an accepted TPMS_ATTEST does not parse");
}

static void run(struct attest_tpm *t, uint8_t ops)
{
	static const uint8_t qual[32] = "fuzz: tpm response qualifying";
	uint8_t digest[32] = { 1, 2, 3 };
	TPM2B_ATTEST att;
	TPMT_SIGNATURE sig;
	TPM2B_PUBLIC pub;

	if (ops & 0x01) {
		struct attest_pcrs p;

		if (fz_note("pcr_read", attest_tpm_pcr_read(t, 0x00ffffff, &p)) == ATTEST_OK)
			check((p.mask & ~0x00ffffffu) == 0, "PCRs read that were not asked for");
	}
	if (ops & 0x02) {
		struct attest_tpm_clock c;
		struct attest_tpm_da da;
		size_t o, s;

		(void)fz_note("read_clock", attest_tpm_read_clock(t, &c));
		(void)fz_note("da_state", attest_tpm_da_state(t, &da));
		(void)fz_note("count_handles", attest_tpm_count_handles(t, &o, &s));
	}
	if (ops & 0x04) {
		if (fz_note("ak_public", attest_tpm_ak_public(t, &pub)) == ATTEST_OK) {
			uint8_t buf[sizeof(TPM2B_PUBLIC)];
			size_t n;
			TPM2B_PUBLIC back;

			check(attest_tpm2b_public_marshal(&pub, buf, sizeof(buf), &n) == ATTEST_OK &&
				      attest_tpm2b_public_parse(buf, n, &back) == ATTEST_OK,
			      "an accepted AK public area does not round-trip");
		}
		if (fz_note("quote", attest_tpm_quote(t, 0xff, qual, sizeof(qual), &att, &sig)) ==
		    ATTEST_OK)
			ok_attest(&att);
	}
	if (ops & 0x08) {
		uint8_t *der = NULL;
		size_t len = 0;

		(void)fz_note("ek_public", attest_tpm_ek_public(t, ATTEST_EK_P256, &pub));
		if (fz_note("ek_cert", attest_tpm_ek_cert(t, ATTEST_EK_P256, &der, &len)) ==
		    ATTEST_OK)
			check(der != NULL && len > 0, "an EK certificate of no bytes");
		free(der);
	}
	if (ops & 0x10) {
		struct attest_tpm_key key;
		struct attest_tpm_creation cr;

		memset(&key, 0, sizeof(key));
		if (fz_note("create_signkey", attest_tpm_create_signkey(t, NULL, NULL, &key, &cr)) ==
		    ATTEST_OK) {
			(void)fz_note("sign", attest_tpm_sign(t, &key, NULL, digest, &sig));
			if (fz_note("certify_creation",
				    attest_tpm_certify_creation(t, &key, &cr, qual, sizeof(qual), &att,
								&sig)) == ATTEST_OK)
				ok_attest(&att);
		}
	}
	if (ops & 0x20) {
		uint64_t v;
		int created;

		(void)fz_note("nv_counter_define",
			      attest_tpm_nv_counter_define(t, ATTEST_AUDIT_NV_INDEX, &created));
		(void)fz_note("nv_counter_increment",
			      attest_tpm_nv_counter_increment(t, ATTEST_AUDIT_NV_INDEX, &v));
		(void)fz_note("nv_counter_read",
			      attest_tpm_nv_counter_read(t, ATTEST_AUDIT_NV_INDEX, &v));
		if (fz_note("nv_certify", attest_tpm_nv_certify(t, ATTEST_AUDIT_NV_INDEX, qual,
								sizeof(qual), &att, &sig)) == ATTEST_OK)
			ok_attest(&att);
	}
	if (ops & 0x40) {
		size_t n;

		(void)fz_note("flush_all", attest_tpm_flush_all(t, &n));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct attest_tpm *t = NULL;
	const char *rec = getenv("FUZZRSP_RECORD");

	if (size < 1)
		return 0;
	/* tpm2-tss logs every failed command to stderr: nearly all of them here */
	(void)setenv("TSS2_LOG", "all+NONE", 0);
	attest_cur_init(&stream, data + 1, size - 1);
	if (rec != NULL) { /* seeds: the operations byte, then what the TPM says */
		FILE *f = fopen(rec, "wb");

		check(f != NULL && fwrite(data, 1, 1, f) == 1 && fclose(f) == 0,
		      "cannot write the recording");
	}
	if (fz_note("open", attest_tpm_open(tcti_conf(), &t)) != ATTEST_OK)
		return 0;
	run(t, data[0]);
	attest_tpm_close(t);
	return 0;
}
