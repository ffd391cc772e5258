/* fuzz_tpm.c - libFuzzer target for the TPM structure parsers and the
 * evidence checks that consume them:
 *   attest_tpm2b_public_parse, attest_tpms_attest_parse,
 *   attest_tpmt_signature_parse on the whole input; on a parsed public area
 *   its consumers (attest_tpm_name, attest_tpm_pub_to_pkey,
 *   attest_spki_hash_hex, attest_ek_classify, attest_ak_check,
 *   attest_signkey_check); on a parsed signature attest_tpm_sig_to_der;
 *   attest_verify_quote and attest_verify_creation with a fixed ECC P-256 AK
 *   (fuzz_fixture.c), the input as attest bytes and a fixed signature that
 *   is valid for the seed quote/creation evidence in the corpus.
 * A second reading of the input reaches the signature code with fuzzed
 * signatures: [u16 BE n][n bytes TPMS_ATTEST][TPMT_SIGNATURE].
 * Oracle besides the sanitizers: evidence that verifies must be exactly the
 * evidence the fixture signed (nobody else holds the AK).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "enrol/enrol.h"
#include "tpm/evidence.h"
#include "fuzz_fixture.h"
#include "tpm/templates.h"
#include "tpm/tpmsw.h"

static struct {
	int ready;
	TPM2B_PUBLIC ak, key;
	TPMT_SIGNATURE quote_sig, certify_sig;
	uint8_t quote[1024], certify[1024], cdata[512];
	size_t quote_len, certify_len, cdata_len;
} fx;

static void setup(void)
{
	fz_public(FZ_KEY_AK, &fx.ak);
	fz_public(FZ_KEY_HOST, &fx.key);
	fx.quote_len = fz_quote(fz_quote_nonce, sizeof(fz_quote_nonce), fz_pcrs, fx.quote,
				sizeof(fx.quote));
	fz_sign(FZ_KEY_AK, fx.quote, fx.quote_len, &fx.quote_sig);
	fx.cdata_len = fz_creation_data(fx.cdata, sizeof(fx.cdata));
	fx.certify_len = fz_certify(&fx.key, fx.cdata, fx.cdata_len, fz_quote_nonce,
				    sizeof(fz_quote_nonce), fx.certify, sizeof(fx.certify));
	fz_sign(FZ_KEY_AK, fx.certify, fx.certify_len, &fx.certify_sig);
	fx.ready = 1;
}

static void accepted(const char *what, const uint8_t *got, size_t len, const uint8_t *signed_,
		     size_t signed_len)
{
	if (len == signed_len && memcmp(got, signed_, len) == 0)
		return;
	fprintf(stderr, "fuzz_tpm: %s accepted evidence the AK never signed\n", what);
	abort();
}

static void public_area(const uint8_t *data, size_t size)
{
	TPM2B_PUBLIC pub;
	TPM2B_NAME name;
	EVP_PKEY *pk = NULL;
	enum attest_ek_kind kind;
	char hash[65];
	int ok = 0;

	if (fz_note("attest_tpm2b_public_parse", attest_tpm2b_public_parse(data, size, &pub)) !=
	    ATTEST_OK)
		return;
	ok += attest_tpm_name(&pub, &name) == ATTEST_OK;
	if (attest_tpm_pub_to_pkey(&pub, &pk) == ATTEST_OK) {
		ok++;
		EVP_PKEY_free(pk);
	}
	ok += attest_spki_hash_hex(&pub, hash) == ATTEST_OK;
	ok += attest_ek_classify(&pub, &kind) == ATTEST_OK;
	ok += attest_ak_check(&pub) == ATTEST_OK;
	ok += attest_signkey_check(&pub) == ATTEST_OK;
	(void)ok;
}

static void signature(const uint8_t *data, size_t size)
{
	TPMT_SIGNATURE sig;
	uint8_t *der = NULL;
	size_t len = 0;

	if (fz_note("attest_tpmt_signature_parse", attest_tpmt_signature_parse(data, size, &sig)) !=
	    ATTEST_OK)
		return;
	if (attest_tpm_sig_to_der(&sig, &der, &len) == ATTEST_OK)
		free(der);
}

static void evidence(const uint8_t *attest, size_t len, const TPMT_SIGNATURE *qsig,
		     const TPMT_SIGNATURE *csig)
{
	TPMS_CLOCK_INFO clock;

	if (fz_note("attest_verify_quote",
		    attest_verify_quote(&fx.ak, attest, len, qsig, fz_quote_nonce,
					sizeof(fz_quote_nonce), FZ_PCR_MASK, fz_pcrs,
					sizeof(fz_pcrs), &clock)) == ATTEST_OK)
		accepted("attest_verify_quote", attest, len, fx.quote, fx.quote_len);
	if (fz_note("attest_verify_creation",
		    attest_verify_creation(&fx.ak, &fx.key, attest, len, csig, fx.cdata,
					   fx.cdata_len, fz_quote_nonce,
					   sizeof(fz_quote_nonce))) == ATTEST_OK)
		accepted("attest_verify_creation", attest, len, fx.certify, fx.certify_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	TPMS_ATTEST a;
	TPMT_SIGNATURE sig;
	size_t n;

	if (!fx.ready)
		setup();
	public_area(data, size);
	if (fz_note("attest_tpms_attest_parse", attest_tpms_attest_parse(data, size, &a)) !=
	    ATTEST_OK)
		attest_errclear();
	signature(data, size);
	evidence(data, size, &fx.quote_sig, &fx.certify_sig);

	/* [u16 n][attest][signature]: fuzzed signatures reach the verifier. */
	if (size >= 2 && (n = (size_t)data[0] << 8 | data[1]) <= size - 2 &&
	    attest_tpmt_signature_parse(data + 2 + n, size - 2 - n, &sig) == ATTEST_OK)
		evidence(data + 2, n, &sig, &sig);
	attest_errclear();
	return 0;
}
