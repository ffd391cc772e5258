/* testutil_intent.c - see testutil_intent.h. */
#include <string.h>

#include <openssl/core_names.h>
#include <tss2/tss2_mu.h>

#include "tpm/templates.h"
#include "tpm/tpmpolicy.h"
#include "tpm/tpmsw.h"
#include "testutil_intent.h"

struct intent_fleet fx;

const char *const scopes3[3] = { "ehr.read", "ehr.write", "billing.read" };
const char *const res2[2] = { "ehr:patient/123/*", "billing:account/9" };
const char *const s_read[1] = { "ehr.read" };
const char *const s_read_bill[2] = { "ehr.read", "billing.read" };
const char *const r_notes[1] = { "ehr:patient/123/notes/*" };
const char *const r_notes7[1] = { "ehr:patient/123/notes/7" };

EVP_PKEY *p256(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	NEED(k != NULL);
	return k;
}

struct attest_signer signer(EVP_PKEY *k)
{
	struct attest_signer s;

	NEED(attest_signer_from_pkey(k, &s) == ATTEST_OK);
	return s;
}

/* A software P-256 key's point as the unique of an ECC public area. */
static void set_unique(EVP_PKEY *k, TPM2B_PUBLIC *pub)
{
	uint8_t pt[65];
	size_t n = 0;

	NEED(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &n) == 1 &&
	     n == 65 && pt[0] == 0x04);
	pub->publicArea.unique.ecc.x.size = 32;
	memcpy(pub->publicArea.unique.ecc.x.buffer, pt + 1, 32);
	pub->publicArea.unique.ecc.y.size = 32;
	memcpy(pub->publicArea.unique.ecc.y.buffer, pt + 33, 32);
}

void fx_ak_public(EVP_PKEY *ak, uint8_t *buf, size_t cap, size_t *len)
{
	TPM2B_PUBLIC pub;

	attest_template_ak(&pub);
	set_unique(ak, &pub);
	NEED(attest_tpm2b_public_marshal(&pub, buf, cap, len) == ATTEST_OK);
}

/* What TPM2_CertifyCreation by ak would say of the agent key: the key's
 * public area (our template with the measurement's PCR 23 policy), named
 * in a creation attestation over qualifyingData = SHA-256(id || uuid ||
 * measurement), signed by ak. p's measurement, policy and evidence are
 * filled; the buffers are the caller's. */
static void software_evidence(struct attest_agent_ca_params *p, EVP_PKEY *ak,
			      uint8_t *creation, size_t ccap, size_t *clen, uint8_t *csig,
			      size_t scap, size_t *slen)
{
	uint8_t zero_m[64] = { 0 }, pcr[32], digest[32];
	TPM2B_DIGEST pol;
	TPM2B_PUBLIC key;
	TPM2B_NAME name;
	TPMS_ATTEST att;
	TPMT_SIGNATURE sig;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct attest_signer s = signer(ak);

	memcpy(zero_m + 32, p->measurement, 32);
	NEED(EVP_Digest(zero_m, sizeof(zero_m), pcr, NULL, EVP_sha256(), NULL) == 1);
	NEED(attest_policy_digest_sign(1u << 23, pcr, 32, &pol) == ATTEST_OK && pol.size == 32);
	memcpy(p->policy, pol.buffer, 32);
	attest_template_signkey(&pol, &key);
	set_unique(p->agent_key, &key);
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
	att.attested.creation.creationHash.size = 32; /* of creation data nobody sees */
	*clen = 0;
	NEED(Tss2_MU_TPMS_ATTEST_Marshal(&att, creation, ccap, clen) == TSS2_RC_SUCCESS);
	NEED(EVP_Digest(creation, *clen, digest, NULL, EVP_sha256(), NULL) == 1);
	memset(&sig, 0, sizeof(sig));
	NEED(s.sign(s.arg, digest, &sig) == ATTEST_OK);
	*slen = 0;
	NEED(Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, csig, scap, slen) == TSS2_RC_SUCCESS);
	p->creation = creation;
	p->creation_len = *clen;
	p->creation_sig = csig;
	p->creation_sig_len = *slen;
}

/* A leaf as a relying party holds it: parsed from its DER (make_leaf's
 * result carries no parsed copy of its key). Consumes c. */
static X509 *as_received(X509 *c)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	X509 *out = NULL;
	int n = i2d_X509(c, &der);

	p = der;
	NEED(n > 0 && (out = d2i_X509(NULL, &p, n)) != NULL && p == der + n);
	OPENSSL_free(der);
	X509_free(c);
	return out;
}

void make_agent(struct agent *ag, X509 *hca, EVP_PKEY *host_key, EVP_PKEY *ak, const char *id,
		int delegate_depth)
{
	uint8_t creation[sizeof(TPMS_ATTEST)], csig[sizeof(TPMT_SIGNATURE)];
	size_t clen = 0, slen = 0;
	struct attest_agent_ca_params p;
	struct attest_leaf_params lp;
	struct attest_signer hs = signer(host_key), as;

	ag->ca_key = p256();
	ag->leaf_key = p256();
	NEED(EVP_Digest(id, strlen(id), ag->measurement, NULL, EVP_sha256(), NULL) == 1);
	memset(&p, 0, sizeof(p));
	p.agent_id = id;
	p.agent_uuid = FX_UUID;
	p.agent_key = ag->ca_key;
	memcpy(p.measurement, ag->measurement, 32);
	software_evidence(&p, ak, creation, sizeof(creation), &clen, csig, sizeof(csig), &slen);
	p.ttl = 3600;
	NEED(attest_x509_make_agent_ca(hca, &p, &hs, &ag->ca) == ATTEST_OK);
	as = signer(ag->ca_key);
	memset(&lp, 0, sizeof(lp));
	lp.pub = ag->leaf_key;
	lp.ttl = 1200; /* notBefore = now - 60, notAfter = now + 1140 */
	lp.delegate_depth = delegate_depth;
	NEED(attest_x509_make_leaf(ag->ca, &lp, &as, &ag->leaf) == ATTEST_OK);
	NEED(ag->ca != NULL && ag->leaf != NULL);
	ag->leaf = as_received(ag->leaf);
	ag->chain = sk_X509_new_null();
	NEED(ag->chain != NULL && X509_add_cert(ag->chain, ag->leaf, X509_ADD_FLAG_UP_REF) == 1 &&
	     X509_add_cert(ag->chain, ag->ca, X509_ADD_FLAG_UP_REF) == 1 &&
	     X509_add_cert(ag->chain, hca, X509_ADD_FLAG_UP_REF) == 1);
}

void free_agent(struct agent *ag)
{
	sk_X509_pop_free(ag->chain, X509_free);
	X509_free(ag->leaf);
	X509_free(ag->ca);
	EVP_PKEY_free(ag->leaf_key);
	EVP_PKEY_free(ag->ca_key);
	memset(ag, 0, sizeof(*ag));
}

X509 *make_leaf(const struct agent *ag, const char *scopes, const char *intent)
{
	struct attest_leaf_params lp;
	struct attest_signer as = signer(ag->ca_key);
	X509 *leaf = NULL;

	memset(&lp, 0, sizeof(lp));
	lp.pub = ag->leaf_key;
	lp.ttl = 1200;
	lp.scopes = scopes;
	lp.intent = (const uint8_t *)intent;
	lp.intent_len = intent != NULL ? strlen(intent) : 0;
	lp.delegate_depth = 3;
	NEED(attest_x509_make_leaf(ag->ca, &lp, &as, &leaf) == ATTEST_OK && leaf != NULL);
	return as_received(leaf);
}

STACK_OF(X509) *chain_of(const struct agent *ag, X509 *leaf)
{
	STACK_OF(X509) *sk = sk_X509_new_null();

	NEED(sk != NULL && X509_add_cert(sk, leaf, X509_ADD_FLAG_UP_REF) == 1);
	for (int i = 1; i < sk_X509_num(ag->chain); i++)
		NEED(X509_add_cert(sk, sk_X509_value(ag->chain, i), X509_ADD_FLAG_UP_REF) == 1);
	return sk;
}

void fixture_up(void)
{
	fx.t0 = time(NULL);
	NEED(attest_x509_make_root(TD, 1, &fx.root_key, &fx.root) == ATTEST_OK);
	NEED(attest_x509_make_root(TD, 1, &fx.other_root_key, &fx.other_root) == ATTEST_OK);
	fx.h1 = p256();
	fx.h2 = p256();
	fx.h3 = p256();
	fx.ak1 = p256();
	fx.ak2 = p256();
	fx.ak3 = p256();
	NEED(attest_x509_make_host_ca(fx.root_key, fx.root, TD, "web-01", fx.h1, 7200, &fx.hca1) ==
	     ATTEST_OK);
	NEED(attest_x509_make_host_ca(fx.root_key, fx.root, TD, "db-01", fx.h2, 7200, &fx.hca2) ==
	     ATTEST_OK);
	NEED(attest_x509_make_host_ca(fx.other_root_key, fx.other_root, TD, "web-01", fx.h3, 7200,
				      &fx.hca_other) == ATTEST_OK);
	make_agent(&fx.a, fx.hca1, fx.h1, fx.ak1, ID_A, 3);
	make_agent(&fx.b, fx.hca2, fx.h2, fx.ak2, ID_B, 3);
	make_agent(&fx.c, fx.hca1, fx.h1, fx.ak1, ID_C, 3);
	make_agent(&fx.foreign, fx.hca_other, fx.h3, fx.ak3, ID_A, 3);
	make_agent(&fx.a1, fx.hca1, fx.h1, fx.ak1, ID_A, 1);
	fx.issuer = p256();
	fx.rogue = p256();
	NEED(attest_intent_trust_new(&fx.trust) == ATTEST_OK);
	NEED(attest_intent_trust_add_issuer(fx.trust, ISS, fx.issuer) == ATTEST_OK);
	NEED(attest_intent_trust_add_issuer(fx.trust, ISS, fx.rogue) == ATTEST_E_EXISTS);
	NEED(attest_intent_trust_set_root(fx.trust, fx.root) == ATTEST_OK);
}

void fixture_down(void)
{
	attest_intent_trust_free(fx.trust);
	free_agent(&fx.a);
	free_agent(&fx.b);
	free_agent(&fx.c);
	free_agent(&fx.foreign);
	free_agent(&fx.a1);
	X509_free(fx.hca1);
	X509_free(fx.hca2);
	X509_free(fx.hca_other);
	X509_free(fx.root);
	X509_free(fx.other_root);
	EVP_PKEY_free(fx.root_key);
	EVP_PKEY_free(fx.other_root_key);
	EVP_PKEY_free(fx.h1);
	EVP_PKEY_free(fx.h2);
	EVP_PKEY_free(fx.h3);
	EVP_PKEY_free(fx.ak1);
	EVP_PKEY_free(fx.ak2);
	EVP_PKEY_free(fx.ak3);
	EVP_PKEY_free(fx.issuer);
	EVP_PKEY_free(fx.rogue);
	memset(&fx, 0, sizeof(fx));
}

struct attest_intent_claims claims(const char *aud, int max_depth)
{
	struct attest_intent_claims c;

	memset(&c, 0, sizeof(c));
	c.sub = USER;
	c.aud = aud;
	c.purpose = ATTEST_PURPOSE_TREATMENT;
	c.purpose_text = "follow-up of patient 123";
	c.scopes = scopes3;
	c.nscopes = 3;
	c.resources = res2;
	c.nresources = 2;
	c.jti = "task-42";
	c.iat = fx.t0 - 60;
	c.nbf = fx.t0 - 60;
	c.exp = fx.t0 + 3600;
	c.max_depth = max_depth;
	return c;
}

char *grant_with(const struct attest_intent_claims *c)
{
	char *t = NULL;

	TU_ASSERT_ERR(attest_intent_grant_make(fx.issuer, ISS, c, &t), ATTEST_OK);
	CU_ASSERT_FATAL(t != NULL);
	return t;
}

char *grant(const char *aud, int max_depth)
{
	struct attest_intent_claims c = claims(aud, max_depth);

	return grant_with(&c);
}

struct attest_delegation_claims dclaims(const char *aud, const char *const *scopes, size_t ns,
					const char *const *res, size_t nr)
{
	struct attest_delegation_claims d;

	memset(&d, 0, sizeof(d));
	d.aud = aud;
	d.scopes = scopes;
	d.nscopes = ns;
	d.resources = res;
	d.nresources = nr;
	d.iat = fx.t0;
	d.exp = fx.t0 + 900;
	return d;
}

char *delegate(struct agent *from, const char *parent, const struct attest_delegation_claims *d)
{
	char *t = NULL;

	TU_ASSERT_ERR(attest_intent_delegate(from->leaf_key, from->chain, parent, d, &t), ATTEST_OK);
	CU_ASSERT_FATAL(t != NULL);
	return t;
}
