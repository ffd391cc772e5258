/* fuzz_fixture.c - fixed keys, canonical evidence and a private temp dir
 * for the fuzz targets (see fuzz_fixture.h). */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <tss2/tss2_mu.h>

#include "fuzz_fixture.h"
#include "tpm/templates.h"
#include "tpm/tpmsw.h"
#include "x509/x509.h"
#include "tpm/tpmpolicy.h"
#include "x509/x509agent.h"

/* Test-only keys (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256). */
static const char *const key_pem[FZ_KEY_COUNT] = {
	[FZ_KEY_AK] = "-----BEGIN PRIVATE KEY-----\n"
		      "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgYKq1gyzH+u//CY2h\n"
		      "oFM4UZF25JqfJJk+TFnVoy/+KBmhRANCAARFBGTehaIL0eTeL782VFpS2Cy6+Vdg\n"
		      "rB9kG3xUuXO8x6P2hxvq/Hxzt4Khlmg0+fK1jw+Q2um5YDod9wvhtcjh\n"
		      "-----END PRIVATE KEY-----\n",
	[FZ_KEY_HOST] = "-----BEGIN PRIVATE KEY-----\n"
			"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgao0ltvSaiJuNDG9Q\n"
			"k4sCIcFOjAKV1Qu2G31jnqx0HW+hRANCAAT86E05NjCrDTrSWGn3wUgS5Yj7KdDj\n"
			"P13AOau87/7mIiRSLy2Ogd/sFnjZdftKVkjJHD5+KJfNFPY75Nis6hCD\n"
			"-----END PRIVATE KEY-----\n",
	[FZ_KEY_EK] = "-----BEGIN PRIVATE KEY-----\n"
		      "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg2/EogN9eKe1K2bOW\n"
		      "xkw/4Vg4rIjjxrEKBhAPiyunCQShRANCAAQG75ZxTn1QIuPu9AdZFKYjNy9qDRca\n"
		      "VKheDNz8dF4J6t5cvoLal+CMkgyKajzWUS7rYx6mA7PqGaV22IPqItDe\n"
		      "-----END PRIVATE KEY-----\n",
	[FZ_KEY_ROOT] = "-----BEGIN PRIVATE KEY-----\n"
			"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgyBBUOkiTFKoCBVow\n"
			"GZlGrf+rrgwgbogB1IBOyym5d/ahRANCAARRbLMXM5zA1OQBed7uNQkXrtX3Ag4R\n"
			"gqKC1NqUzbalBeAt3SCy+n/jGatcaYH9NU/SM6MVeNMNk6wwYxjd0IRn\n"
			"-----END PRIVATE KEY-----\n",
	[FZ_KEY_AGENT] = "-----BEGIN PRIVATE KEY-----\n"
			 "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgr7bffhG8D5R0jJfN\n"
			 "m/w8rdGHOm38rxYlDJMltXSRBpKhRANCAASUicKeAlxfzf68JbNeG16JZW1woATJ\n"
			 "ufkf/GRSVw4VEg00vKcyj15EdBzVmq+WNzPQeIfc6e0RSKIYdmIzjAVJ\n"
			 "-----END PRIVATE KEY-----\n",
};

const uint8_t fz_secret[32] = "fuzz: activated credential secr.";
const uint8_t fz_quote_nonce[32] = "fuzz: quote qualifying data ....";
const uint8_t fz_renew_nonce[32] = "fuzz: renewal challenge nonce ..";
/* PCR i = 32 bytes of value i+1: distinct and recognisable in hex dumps. */
const uint8_t fz_pcrs[FZ_PCR_BYTES] = {
#define ROW(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, \
	       v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
	ROW(1), ROW(2), ROW(3), ROW(4), ROW(5), ROW(6), ROW(7), ROW(8),
#undef ROW
};

void fz_die(const char *what)
{
	fprintf(stderr, "fuzz fixture: %s: %s\n", what, attest_errdetail());
	abort();
}

int fz_note(const char *what, int r)
{
	static int verbose = -1;

	if (verbose < 0)
		verbose = getenv("FUZZ_VERBOSE") != NULL;
	if (verbose)
		fprintf(stderr, "  %-36s %s %s\n", what, attest_errname(r),
			r == ATTEST_OK ? "" : attest_errdetail());
	return r;
}

EVP_PKEY *fz_pkey(enum fz_key k)
{
	static EVP_PKEY *cache[FZ_KEY_COUNT];
	BIO *b;

	if ((unsigned)k >= FZ_KEY_COUNT)
		fz_die("bad key index");
	if (cache[k] != NULL)
		return cache[k];
	if ((b = BIO_new_mem_buf(key_pem[k], -1)) == NULL)
		fz_die("BIO_new_mem_buf");
	cache[k] = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (cache[k] == NULL)
		fz_die("PEM_read_bio_PrivateKey");
	return cache[k];
}

X509 *fz_root(void)
{
	static X509 *root;
	EVP_PKEY *k = fz_pkey(FZ_KEY_ROOT);
	X509 *c;

	if (root != NULL)
		return root;
	if ((c = X509_new()) == NULL || !X509_set_version(c, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(c), 1) ||
	    ASN1_TIME_set(X509_getm_notBefore(c), FZ_ROOT_NOT_BEFORE) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(c), FZ_ROOT_NOT_AFTER) == NULL ||
	    !X509_set_pubkey(c, k) ||
	    attest_x509_set_name(X509_get_subject_name(c), FZ_TD, "attestd fuzz fleet root") !=
		    ATTEST_OK ||
	    !X509_set_issuer_name(c, X509_get_subject_name(c)) ||
	    attest_x509_add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE") != ATTEST_OK ||
	    attest_x509_add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") != ATTEST_OK ||
	    attest_x509_add_ext(c, c, NID_subject_key_identifier, "hash") != ATTEST_OK ||
	    attest_x509_add_ext(c, c, NID_subject_alt_name, "URI:spiffe://" FZ_TD) != ATTEST_OK ||
	    X509_sign(c, k, EVP_sha256()) <= 0)
		fz_die("fixture root certificate");
	root = c;
	return root;
}

/* The agent CA evidence the way attestd makes it, in software: the agent
 * key (FZ_KEY_AGENT) as our signing template with the authPolicy of
 * PCR 23 extended by the measurement, in a creation attestation over
 * SHA-256(ID || UUID || measurement) signed by the fixture AK. */
static void must(int r, const char *what)
{
	if (r != ATTEST_OK)
		fz_die(what);
}

static void agent_evidence(struct attest_agent_ca_params *p, uint8_t *creation, size_t ccap,
			   uint8_t *csig, size_t scap)
{
	uint8_t zero_m[64] = { 0 }, pcr[32];
	TPM2B_DIGEST pol;
	TPM2B_PUBLIC key;
	TPM2B_NAME name;
	TPMS_ATTEST att;
	TPMT_SIGNATURE sig;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY *ak_like;
	size_t clen = 0, slen = 0;

	memcpy(zero_m + 32, p->measurement, 32);
	if (EVP_Digest(zero_m, sizeof(zero_m), pcr, NULL, EVP_sha256(), NULL) != 1)
		fz_die("PCR 23");
	must(attest_policy_digest_sign(1u << 23, pcr, 32, &pol), "policy digest");
	memcpy(p->policy, pol.buffer, 32);
	attest_template_signkey(&pol, &key);
	/* the agent key's point, through the fixture's public-area helper */
	ak_like = fz_pkey(FZ_KEY_AGENT);
	{
		uint8_t pt[65];
		size_t n = 0;

		if (EVP_PKEY_get_octet_string_param(ak_like, "pub", pt, sizeof(pt), &n) != 1 || n != 65)
			fz_die("agent key point");
		key.publicArea.unique.ecc.x.size = 32;
		memcpy(key.publicArea.unique.ecc.x.buffer, pt + 1, 32);
		key.publicArea.unique.ecc.y.size = 32;
		memcpy(key.publicArea.unique.ecc.y.buffer, pt + 33, 32);
	}
	must(attest_tpm_name(&key, &name), "name");
	memset(&att, 0, sizeof(att));
	att.magic = TPM2_GENERATED_VALUE;
	att.type = TPM2_ST_ATTEST_CREATION;
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, p->agent_id, strlen(p->agent_id)) != 1 ||
	    EVP_DigestUpdate(md, p->agent_uuid, strlen(p->agent_uuid)) != 1 ||
	    EVP_DigestUpdate(md, p->measurement, 32) != 1 ||
	    EVP_DigestFinal_ex(md, att.extraData.buffer, NULL) != 1)
		fz_die("qualifying data");
	EVP_MD_CTX_free(md);
	att.extraData.size = 32;
	att.attested.creation.objectName = name;
	att.attested.creation.creationHash.size = 32;
	if (Tss2_MU_TPMS_ATTEST_Marshal(&att, creation, ccap, &clen) != TSS2_RC_SUCCESS)
		fz_die("marshal creation");
	fz_sign(FZ_KEY_AK, creation, clen, &sig);
	slen = fz_sig_bytes(&sig, csig, scap);
	p->creation = creation;
	p->creation_len = clen;
	p->creation_sig = csig;
	p->creation_sig_len = slen;
}

void fz_agent_ca(X509 **hca, X509 **aca)
{
	fz_agent_ca_under(fz_pkey(FZ_KEY_ROOT), fz_root(), hca, aca);
}

void fz_agent_ca_under(EVP_PKEY *issuer_key, X509 *issuer, X509 **hca, X509 **aca)
{
	static uint8_t creation[sizeof(TPMS_ATTEST)], csig[sizeof(TPMT_SIGNATURE)];
	struct attest_agent_ca_params p;
	struct attest_signer hs;

	must(attest_x509_make_host_ca(issuer_key, issuer, FZ_TD, FZ_HOST, fz_pkey(FZ_KEY_HOST),
				      3600, hca), "host CA");
	memset(&p, 0, sizeof(p));
	p.agent_id = FZ_AGENT_ID;
	p.agent_uuid = FZ_AGENT_UUID;
	p.agent_key = fz_pkey(FZ_KEY_AGENT);
	if (EVP_Digest(FZ_AGENT_ID, strlen(FZ_AGENT_ID), p.measurement, NULL, EVP_sha256(), NULL) != 1)
		fz_die("measurement");
	agent_evidence(&p, creation, sizeof(creation), csig, sizeof(csig));
	p.ttl = 3600;
	must(attest_signer_from_pkey(fz_pkey(FZ_KEY_HOST), &hs), "host signer");
	must(attest_x509_make_agent_ca(*hca, &p, &hs, aca), "agent CA");
}

static void coord(EVP_PKEY *pk, const char *name, TPM2B_ECC_PARAMETER *out)
{
	BIGNUM *bn = NULL;

	if (EVP_PKEY_get_bn_param(pk, name, &bn) != 1 || BN_bn2binpad(bn, out->buffer, 32) != 32)
		fz_die("EC public coordinate");
	out->size = 32;
	BN_free(bn);
}

void fz_public(enum fz_key k, TPM2B_PUBLIC *out)
{
	EVP_PKEY *pk = fz_pkey(k);

	switch (k) {
	case FZ_KEY_AK:
		attest_template_ak(out);
		break;
	case FZ_KEY_HOST:
		attest_template_signkey(NULL, out);
		break;
	case FZ_KEY_EK:
		attest_template_ek(ATTEST_EK_P256, out);
		break;
	default:
		fz_die("bad key index");
	}
	coord(pk, OSSL_PKEY_PARAM_EC_PUB_X, &out->publicArea.unique.ecc.x);
	coord(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &out->publicArea.unique.ecc.y);
}

size_t fz_public_bytes(enum fz_key k, uint8_t *buf, size_t bufsz)
{
	TPM2B_PUBLIC pub;
	size_t len = 0;

	fz_public(k, &pub);
	if (attest_tpm2b_public_marshal(&pub, buf, bufsz, &len) != ATTEST_OK)
		fz_die("marshal public");
	return len;
}

void fz_sign(enum fz_key k, const uint8_t *data, size_t len, TPMT_SIGNATURE *sig)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	uint8_t der[80];
	const uint8_t *p = der;
	size_t dlen = sizeof(der);
	ECDSA_SIG *es;
	TPMS_SIGNATURE_ECDSA *e = &sig->signature.ecdsa;

	if (m == NULL || EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, fz_pkey(k)) != 1 ||
	    EVP_DigestSign(m, der, &dlen, data, len) != 1)
		fz_die("ECDSA sign");
	EVP_MD_CTX_free(m);
	if ((es = d2i_ECDSA_SIG(NULL, &p, (long)dlen)) == NULL)
		fz_die("d2i_ECDSA_SIG");
	memset(sig, 0, sizeof(*sig));
	sig->sigAlg = TPM2_ALG_ECDSA;
	e->hash = TPM2_ALG_SHA256;
	if (BN_bn2binpad(ECDSA_SIG_get0_r(es), e->signatureR.buffer, 32) != 32 ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(es), e->signatureS.buffer, 32) != 32)
		fz_die("ECDSA signature size");
	e->signatureR.size = e->signatureS.size = 32;
	ECDSA_SIG_free(es);
}

size_t fz_sig_bytes(const TPMT_SIGNATURE *sig, uint8_t *buf, size_t bufsz)
{
	size_t off = 0;

	if (Tss2_MU_TPMT_SIGNATURE_Marshal(sig, buf, bufsz, &off) != TSS2_RC_SUCCESS)
		fz_die("marshal signature");
	return off;
}

static void header(TPMS_ATTEST *a, TPMI_ST_ATTEST type, const uint8_t *qual, size_t qual_len)
{
	TPM2B_PUBLIC ak;

	memset(a, 0, sizeof(*a));
	a->magic = TPM2_GENERATED_VALUE;
	a->type = type;
	fz_public(FZ_KEY_AK, &ak);
	if (attest_tpm_name(&ak, &a->qualifiedSigner) != ATTEST_OK)
		fz_die("AK name");
	if (qual_len > sizeof(a->extraData.buffer))
		fz_die("qualifyingData too long");
	a->extraData.size = (UINT16)qual_len;
	memcpy(a->extraData.buffer, qual, qual_len);
	a->clockInfo.clock = 123456789;
	a->clockInfo.resetCount = 3;
	a->clockInfo.restartCount = 1;
	a->clockInfo.safe = TPM2_YES;
	a->firmwareVersion = 0x2019101600000000ULL;
}

static size_t marshal_attest(const TPMS_ATTEST *a, uint8_t *buf, size_t bufsz)
{
	size_t off = 0;

	if (Tss2_MU_TPMS_ATTEST_Marshal(a, buf, bufsz, &off) != TSS2_RC_SUCCESS)
		fz_die("marshal TPMS_ATTEST");
	return off;
}

size_t fz_quote(const uint8_t *nonce, size_t nonce_len, const uint8_t *pcrs, uint8_t *buf,
		size_t bufsz)
{
	TPMS_ATTEST a;
	TPMS_QUOTE_INFO *q = &a.attested.quote;
	unsigned dlen = 0;

	header(&a, TPM2_ST_ATTEST_QUOTE, nonce, nonce_len);
	q->pcrSelect.count = 1;
	q->pcrSelect.pcrSelections[0].hash = TPM2_ALG_SHA256;
	q->pcrSelect.pcrSelections[0].sizeofSelect = 3;
	q->pcrSelect.pcrSelections[0].pcrSelect[0] = (uint8_t)FZ_PCR_MASK;
	if (EVP_Digest(pcrs, FZ_PCR_BYTES, q->pcrDigest.buffer, &dlen, EVP_sha256(), NULL) != 1)
		fz_die("PCR digest");
	q->pcrDigest.size = (UINT16)dlen;
	return marshal_attest(&a, buf, bufsz);
}

size_t fz_creation_data(uint8_t *buf, size_t bufsz)
{
	TPMS_CREATION_DATA cd;
	static const uint8_t owner[4] = { 0x40, 0x00, 0x00, 0x01 }; /* TPM_RH_OWNER */
	size_t off = 0;

	memset(&cd, 0, sizeof(cd));
	cd.locality = TPMA_LOCALITY_TPM2_LOC_ZERO;
	cd.parentNameAlg = TPM2_ALG_NULL;
	cd.parentName.size = sizeof(owner);
	memcpy(cd.parentName.name, owner, sizeof(owner));
	cd.parentQualifiedName = cd.parentName;
	if (Tss2_MU_TPMS_CREATION_DATA_Marshal(&cd, buf, bufsz, &off) != TSS2_RC_SUCCESS)
		fz_die("marshal TPMS_CREATION_DATA");
	return off;
}

size_t fz_certify(const TPM2B_PUBLIC *key, const uint8_t *cdata, size_t cdata_len,
		  const uint8_t *qual, size_t qual_len, uint8_t *buf, size_t bufsz)
{
	TPMS_ATTEST a;
	TPMS_CREATION_INFO *c = &a.attested.creation;
	unsigned dlen = 0;

	header(&a, TPM2_ST_ATTEST_CREATION, qual, qual_len);
	if (attest_tpm_name(key, &c->objectName) != ATTEST_OK)
		fz_die("key name");
	if (EVP_Digest(cdata, cdata_len, c->creationHash.buffer, &dlen, EVP_sha256(), NULL) != 1)
		fz_die("creation hash");
	c->creationHash.size = (UINT16)dlen;
	return marshal_attest(&a, buf, bufsz);
}

static char tmpdir[512];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	(void)remove(path); /* best effort; keep walking */
	return 0;
}

static void rm_tmpdir(void)
{
	if (tmpdir[0] != '\0')
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fz_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	int n;

	if (tmpdir[0] != '\0')
		return tmpdir;
	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	n = snprintf(tmpdir, sizeof(tmpdir), "%s/attest-fuzz.XXXXXX", base);
	if (n < 0 || (size_t)n >= sizeof(tmpdir) || mkdtemp(tmpdir) == NULL) {
		tmpdir[0] = '\0';
		fz_die("mkdtemp");
	}
	atexit(rm_tmpdir);
	return tmpdir;
}

void fz_path(char *out, size_t outsz, const char *dir, const char *name)
{
	int n = snprintf(out, outsz, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= outsz)
		fz_die("path too long");
}

void fz_write(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	const uint8_t *p = data;

	if (fd < 0)
		fz_die(path);
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w <= 0) {
			close(fd);
			fz_die(path);
		}
		p += w;
		len -= (size_t)w;
	}
	if (close(fd) != 0)
		fz_die(path);
}
