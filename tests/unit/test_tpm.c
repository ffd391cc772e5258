/* test_tpm.c - the TPM seam on swtpm: policy-bound signing (PolicyPCR +
 * PolicyAuthValue + PolicyCommandCode), the PCR_CHANGED restart bound,
 * auth failures not retried, errors decoded, nothing left loaded.
 * Targets: attest_tpm_sign_policy, attest_policy_digest_sign, attest_tpm_open. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "tpm/tpm.h"
#include "tpm/tpmpolicy.h"
#include "tpm/tpmsw.h"
#include "testutil.h"

#define AGENT_PCR 23

struct hook_state {
	int calls;
	int extend_until; /* extend PCR 0 on attempts < this */
};

static void pcr_mover(struct attest_tpm *t, int attempt, void *arg)
{
	struct hook_state *h = arg;
	uint8_t d[32] = { 0x42 };

	h->calls++;
	if (attempt < h->extend_until)
		CU_ASSERT(attest_tpm_pcr_extend(t, 0, d) == ATTEST_OK);
}

static void make_policy_key(struct attest_tpm *t, const TPM2B_AUTH *auth,
			    struct attest_tpm_key *key)
{
	struct attest_pcrs pcrs;
	TPM2B_DIGEST policy;
	uint8_t m[32];

	memset(m, 0xa5, sizeof(m));
	CU_ASSERT_FATAL(attest_tpm_pcr_reset(t, AGENT_PCR) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_tpm_pcr_extend(t, AGENT_PCR, m) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_tpm_pcr_read(t, 1u << AGENT_PCR, &pcrs) == ATTEST_OK);
	TU_ASSERT_ERR(attest_policy_digest_sign(1u << AGENT_PCR, pcrs.value[AGENT_PCR], 32, &policy),
		      ATTEST_OK);
	TU_ASSERT_ERR(attest_tpm_create_signkey(t, &policy, auth, key, NULL), ATTEST_OK);
	/* The TPM recorded exactly the policy we computed offline. */
	CU_ASSERT(key->pub.publicArea.authPolicy.size == 32 &&
		  memcmp(key->pub.publicArea.authPolicy.buffer, policy.buffer, 32) == 0);
	CU_ASSERT((key->pub.publicArea.objectAttributes & TPMA_OBJECT_USERWITHAUTH) == 0);
	CU_ASSERT((key->pub.publicArea.objectAttributes & TPMA_OBJECT_ADMINWITHPOLICY) == 0);
}

static void test_policy_sign(void)
{
	struct tu_tpm sw;
	struct attest_tpm *t = NULL;
	struct attest_tpm_key key;
	TPM2B_AUTH auth = { .size = 32 }, wrong;
	TPMT_SIGNATURE sig;
	uint8_t digest[32], moved[32] = { 7 };
	struct hook_state hs = { 0, 0 };
	size_t objects = 9, sessions = 9;

	memset(auth.buffer, 0x3c, 32);
	wrong = auth;
	wrong.buffer[0] ^= 1;
	EVP_Digest("to be signed", 12, digest, NULL, EVP_sha256(), NULL);
	tu_tpm_start(&sw);
	CU_ASSERT_FATAL(attest_tpm_open(sw.tcti, &t) == ATTEST_OK);
	make_policy_key(t, &auth, &key);

	/* Measurement in place and the secret known: the TPM signs. */
	TU_ASSERT_ERR(attest_tpm_sign_policy(t, &key, &auth, 1u << AGENT_PCR, digest, &sig), ATTEST_OK);
	/* tpm2-tss signs the digest as given; verify_sig hashes its input, so
	 * check via OpenSSL directly with the raw digest. */
	{
		EVP_PKEY *pk = NULL;
		EVP_PKEY_CTX *ctx;
		uint8_t *der = NULL;
		size_t der_len;

		CU_ASSERT_FATAL(attest_tpm_pub_to_pkey(&key.pub, &pk) == ATTEST_OK);
		CU_ASSERT_FATAL(attest_tpm_sig_to_der(&sig, &der, &der_len) == ATTEST_OK);
		ctx = EVP_PKEY_CTX_new(pk, NULL);
		CU_ASSERT(EVP_PKEY_verify_init(ctx) == 1 &&
			  EVP_PKEY_verify(ctx, der, der_len, digest, 32) == 1);
		EVP_PKEY_CTX_free(ctx);
		EVP_PKEY_free(pk);
		free(der);
	}
	/* The policy session is kept and reused: the next signature costs
	 * Load, PolicyPCR, PolicyAuthValue, PolicyCommandCode, Sign and the
	 * key's FlushContext, six commands. */
	{
		uint64_t before = attest_tpm_command_count(t);
		size_t objs = 9, sess = 9;

		TU_ASSERT_ERR(attest_tpm_sign_policy(t, &key, &auth, 1u << AGENT_PCR, digest, &sig),
			      ATTEST_OK);
		CU_ASSERT_EQUAL(attest_tpm_command_count(t) - before, 6);
		TU_ASSERT_ERR(attest_tpm_count_handles(t, &objs, &sess), ATTEST_OK);
		CU_ASSERT(objs == 0 && sess == 1);
		attest_tpm_release_cached(t);
		TU_ASSERT_ERR(attest_tpm_count_handles(t, &objs, &sess), ATTEST_OK);
		CU_ASSERT(objs == 0 && sess == 0);
	}
	/* The password alone (no policy) cannot use the key. */
	TU_ASSERT_ERR(attest_tpm_sign(t, &key, &auth, digest, &sig), ATTEST_E_TPM_AUTH);
	/* Wrong secret: an auth failure, reported as such and not retried. */
	TU_ASSERT_ERR(attest_tpm_sign_policy(t, &key, &wrong, 1u << AGENT_PCR, digest, &sig),
		      ATTEST_E_TPM_AUTH);
	CU_ASSERT(strstr(attest_errdetail(), "Esys_Sign") != NULL);
	/* A PCR moved between PolicyPCR and Sign once: restarted, then signed. */
	hs.extend_until = 1;
	attest_tpm_set_policy_hook(t, pcr_mover, &hs);
	TU_ASSERT_ERR(attest_tpm_sign_policy(t, &key, &auth, 1u << AGENT_PCR, digest, &sig), ATTEST_OK);
	CU_ASSERT_EQUAL(hs.calls, 2);
	/* PCRs that never settle: bounded at 3 restarts, then an error. */
	hs.calls = 0;
	hs.extend_until = 100;
	TU_ASSERT_ERR(attest_tpm_sign_policy(t, &key, &auth, 1u << AGENT_PCR, digest, &sig),
		      ATTEST_E_TPM);
	CU_ASSERT_EQUAL(hs.calls, 1 + ATTEST_TPM_POLICY_RESTART_MAX);
	CU_ASSERT(strstr(attest_errdetail(), "kept changing") != NULL);
	attest_tpm_set_policy_hook(t, NULL, NULL);
	/* Another binary's measurement in PCR 23: the policy no longer holds. */
	CU_ASSERT_FATAL(attest_tpm_pcr_extend(t, AGENT_PCR, moved) == ATTEST_OK);
	TU_ASSERT_ERR(attest_tpm_sign_policy(t, &key, &auth, 1u << AGENT_PCR, digest, &sig),
		      ATTEST_E_TPM_AUTH);
	/* Nothing of ours stays loaded after success or failure. */
	TU_ASSERT_ERR(attest_tpm_count_handles(t, &objects, &sessions), ATTEST_OK);
	CU_ASSERT_EQUAL(objects, 0);
	CU_ASSERT_EQUAL(sessions, 0);
	attest_tpm_close(t);
	tu_tpm_stop(&sw);
}

static void test_open_errors_decoded(void)
{
	struct attest_tpm *t = NULL;

	/* Nothing listens on port 1: a clear TPM error with decoded text. */
	TU_ASSERT_ERR(attest_tpm_open("swtpm:host=127.0.0.1,port=1", &t), ATTEST_E_TPM);
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT(strstr(attest_errdetail(), "swtpm:host=127.0.0.1,port=1") != NULL);
	CU_ASSERT(strstr(attest_errdetail(), "(0x") != NULL &&
		  strstr(attest_errdetail(), ": ") != NULL);
	TU_ASSERT_ERR(attest_tpm_open("nosuchtcti:", &t), ATTEST_E_TPM);
	/* issue 16: a missing TPM says how to choose one and where a software
	 * one comes from, and for a device why it could not be used */
	TU_ASSERT_ERR(attest_tpm_open("device:/nonexistent/tpmrm9", &t), ATTEST_E_TPM);
	CU_ASSERT(strstr(attest_errdetail(), "--tcti") != NULL);
	CU_ASSERT(strstr(attest_errdetail(), "ATTEST_TCTI") != NULL);
	CU_ASSERT(strstr(attest_errdetail(), "swtpm-ci") != NULL);
	CU_ASSERT(strstr(attest_errdetail(), "No such file or directory") != NULL);
}

static void test_policy_digest_known(void)
{
	TPM2B_DIGEST d1, d2;
	uint8_t zeros[64] = { 0 }, other[32] = { 1 };

	TU_ASSERT_ERR(attest_policy_digest_sign(1u << 23, zeros, 32, &d1), ATTEST_OK);
	TU_ASSERT_ERR(attest_policy_digest_sign(1u << 23, other, 32, &d2), ATTEST_OK);
	CU_ASSERT(memcmp(d1.buffer, d2.buffer, 32) != 0);
	TU_ASSERT_ERR(attest_policy_digest_sign(3, zeros, 64, &d2), ATTEST_OK);
	CU_ASSERT(memcmp(d1.buffer, d2.buffer, 32) != 0);
	TU_ASSERT_ERR(attest_policy_digest_sign(3, zeros, 32, &d2), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(attest_policy_digest_sign(0, zeros, 0, &d2), ATTEST_E_INVALID_ARG);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "policy-bound signing and PCR_CHANGED restarts", test_policy_sign },
		{ "TCTI errors are decoded", test_open_errors_decoded },
		{ "offline policy digest", test_policy_digest_known },
		{ NULL, NULL },
	};

	return tu_main("tpm", tests);
}
