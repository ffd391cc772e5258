/* test_x509agent.c - agent CA (host key in the TPM), session issuer and
 * strict-mode leaf (policy-bound agent key in the TPM), session leaf
 * (software key) on swtpm; the chains against openssl verify and a TLS 1.3
 * mTLS handshake; the path rule OpenSSL's name constraints cannot express.
 * Targets: attest_x509_sign_with, attest_signer_from_pkey,
 * attest_x509_make_agent_ca, attest_x509_make_session_issuer,
 * attest_x509_make_leaf, attest_verify_path, attest_x509_verify_cb;
 * the CRLs every level signs for nginx's ssl_crl (issue 15 item 5):
 * attest_crl_make, attest_crl_check, attest_crl_bundle_parse,
 * attest_crl_bundle_check, attest_crl_bundle_pem. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>

#include "attest/verify.h"
#include "enrol/enrol.h"
#include "tpm/tpm.h"
#include "tpm/tpmpolicy.h"
#include "tpm/tpmsw.h"
#include "x509/crl.h"
#include "x509/x509.h"
#include "x509/x509agent.h"
#include "testutil.h"

#define AGENT_PCR 23
#define TD "fleet.example"
#define HOST "web-01"
#define AGENT_ID "spiffe://" TD "/host/" HOST "/agent/billing"
#define OTHER_ID "spiffe://" TD "/host/" HOST "/agent/payroll"
#define OTHER_HOST_ID "spiffe://" TD "/host/db-01/agent/billing"
#define AGENT_UUID "6f1c2b1e-8d7a-4c1f-9a7e-3b2d1c0f9e8d"

struct tpm_signer_arg {
	struct attest_tpm *t;
	const struct attest_tpm_key *key;
	const TPM2B_AUTH *auth;
	int policy; /* agent key: PolicyPCR(23) + PolicyAuthValue + CommandCode */
};

struct env {
	struct tu_tpm sw;
	struct attest_tpm *t;
	char ca_dir[600];
	char state[600];
	struct attest_host_identity id; /* host key blob, host CA, root */
	X509 *root, *host_ca, *issuing; /* borrowed from id */
	X509 *agent_ca;
	struct attest_tpm_key agent_key;
	TPM2B_AUTH auth;
	TPM2B_DIGEST policy;
	TPM2B_ATTEST creation;
	uint8_t csig[sizeof(TPMT_SIGNATURE)];
	size_t csig_len;
	uint8_t measurement[32];
	EVP_PKEY *agent_pub;
	struct tpm_signer_arg hs_arg, as_arg;
	struct attest_signer host_signer, agent_signer;
};

static int tpm_sign_fn(void *arg, const uint8_t digest[32], TPMT_SIGNATURE *sig)
{
	const struct tpm_signer_arg *a = arg;

	if (a->policy)
		return attest_tpm_sign_policy(a->t, a->key, a->auth, 1u << AGENT_PCR, digest, sig);
	return attest_tpm_sign(a->t, a->key, a->auth, digest, sig);
}

static void load_host(struct env *e)
{
	TU_ASSERT_ERR(attest_host_identity_load(e->state, &e->id), ATTEST_OK);
	CU_ASSERT_FATAL(e->id.host_ca != NULL && e->id.root != NULL);
	e->root = e->id.root;
	e->host_ca = e->id.host_ca;
	e->issuing = sk_X509_value(e->id.issuing, 0); /* signed the host CA */
	CU_ASSERT_FATAL(e->issuing != NULL);
	e->hs_arg = (struct tpm_signer_arg){ e->t, &e->id.key, NULL, 0 };
	e->host_signer = (struct attest_signer){ tpm_sign_fn, &e->hs_arg, X509_get0_pubkey(e->host_ca), 0 };
}

/* PCR 23 := extend(0, measurement). */
static void set_pcr(struct env *e, const uint8_t m[32])
{
	CU_ASSERT_FATAL(attest_tpm_pcr_reset(e->t, AGENT_PCR) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_tpm_pcr_extend(e->t, AGENT_PCR, m) == ATTEST_OK);
}

/* The agent's TPM key and its creation evidence, as registration makes them. */
static void make_agent_key(struct env *e)
{
	struct attest_pcrs pcrs;
	struct attest_tpm_creation cr;
	TPMT_SIGNATURE csig;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t qual[32];

	EVP_Digest("billing binary", 14, e->measurement, NULL, EVP_sha256(), NULL);
	e->auth.size = 32;
	CU_ASSERT_FATAL(RAND_bytes(e->auth.buffer, 32) == 1);
	set_pcr(e, e->measurement);
	CU_ASSERT_FATAL(attest_tpm_pcr_read(e->t, 1u << AGENT_PCR, &pcrs) == ATTEST_OK);
	TU_ASSERT_ERR(attest_policy_digest_sign(1u << AGENT_PCR, pcrs.value[AGENT_PCR], 32,
						&e->policy),
		      ATTEST_OK);
	TU_ASSERT_ERR(attest_tpm_create_signkey(e->t, &e->policy, &e->auth, &e->agent_key, &cr),
		      ATTEST_OK);
	/* qualifyingData = SHA-256(agent ID || UUID || measurement) */
	CU_ASSERT_FATAL(md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
			EVP_DigestUpdate(md, AGENT_ID, strlen(AGENT_ID)) == 1 &&
			EVP_DigestUpdate(md, AGENT_UUID, strlen(AGENT_UUID)) == 1 &&
			EVP_DigestUpdate(md, e->measurement, 32) == 1 &&
			EVP_DigestFinal_ex(md, qual, NULL) == 1);
	EVP_MD_CTX_free(md);
	TU_ASSERT_ERR(attest_tpm_certify_creation(e->t, &e->agent_key, &cr, qual, 32, &e->creation,
						  &csig),
		      ATTEST_OK);
	CU_ASSERT_FATAL(Tss2_MU_TPMT_SIGNATURE_Marshal(&csig, e->csig, sizeof(e->csig),
						       &e->csig_len) == TSS2_RC_SUCCESS);
	CU_ASSERT_FATAL(attest_tpm_pub_to_pkey(&e->agent_key.pub, &e->agent_pub) == ATTEST_OK);
	e->as_arg = (struct tpm_signer_arg){ e->t, &e->agent_key, &e->auth, 1 };
	e->agent_signer = (struct attest_signer){ tpm_sign_fn, &e->as_arg, e->agent_pub, 0 };
}

static struct attest_agent_ca_params ca_params(struct env *e, long ttl)
{
	struct attest_agent_ca_params p;

	memset(&p, 0, sizeof(p));
	p.agent_id = AGENT_ID;
	p.agent_uuid = AGENT_UUID;
	p.agent_key = e->agent_pub;
	memcpy(p.measurement, e->measurement, 32);
	memcpy(p.policy, e->policy.buffer, 32);
	p.creation = e->creation.attestationData;
	p.creation_len = e->creation.size;
	p.creation_sig = e->csig;
	p.creation_sig_len = e->csig_len;
	p.ttl = ttl;
	return p;
}

static X509 *agent_ca(struct env *e, long ttl)
{
	struct attest_agent_ca_params p = ca_params(e, ttl);
	X509 *c = NULL;

	TU_ASSERT_ERR(attest_x509_make_agent_ca(e->host_ca, &p, &e->host_signer, &c), ATTEST_OK);
	CU_ASSERT_FATAL(c != NULL);
	return c;
}

/* A private swtpm, an enrolled host (fleet.example, host CA for 1 h), an
 * agent key and its agent CA. */
static void env_up(struct env *e)
{
	memset(e, 0, sizeof(*e));
	tu_tpm_start(&e->sw);
	snprintf(e->ca_dir, sizeof(e->ca_dir), "%s/ca", e->sw.dir);
	snprintf(e->state, sizeof(e->state), "%s/state", e->sw.dir);
	tu_enrol_host(e->sw.tcti, e->ca_dir, e->state, HOST);
	CU_ASSERT_FATAL(attest_tpm_open(e->sw.tcti, &e->t) == ATTEST_OK);
	load_host(e);
	make_agent_key(e);
	e->agent_ca = agent_ca(e, 3600);
}

static void env_down(struct env *e)
{
	size_t objects = 99, sessions = 99;

	/* Nothing of ours stays loaded in the TPM, after successes and refusals
	 * (once the reusable policy session is released). */
	attest_tpm_release_cached(e->t);
	TU_ASSERT_ERR(attest_tpm_count_handles(e->t, &objects, &sessions), ATTEST_OK);
	CU_ASSERT_EQUAL(objects, 0);
	CU_ASSERT_EQUAL(sessions, 0);
	X509_free(e->agent_ca);
	attest_host_identity_clear(&e->id);
	EVP_PKEY_free(e->agent_pub);
	attest_tpm_close(e->t);
	tu_tpm_stop(&e->sw);
}

static EVP_PKEY *p256(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	CU_ASSERT_FATAL(k != NULL);
	return k;
}

/* c as a relying party holds it: parsed from its DER. */
static X509 *reparsed(X509 *c)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int n = i2d_X509(c, &der);
	X509 *out = NULL;

	p = der;
	CU_ASSERT_FATAL(n > 0 && (out = d2i_X509(NULL, &p, n)) != NULL && p == der + n);
	OPENSSL_free(der);
	return out;
}

static X509 *leaf(X509 *issuer, EVP_PKEY *pub, long ttl, const struct attest_signer *s)
{
	struct attest_leaf_params p = { .pub = pub, .ttl = ttl, .task_id = "task-42",
					.scopes = "invoices:read invoices:write" };
	X509 *c = NULL;

	X509 *out;

	TU_ASSERT_ERR(attest_x509_make_leaf(issuer, &p, s, &c), ATTEST_OK);
	CU_ASSERT_FATAL(c != NULL);
	/* as it is sent: make_leaf's object holds no parsed key */
	out = reparsed(c);
	X509_free(c);
	return out;
}

static X509 *session_issuer(struct env *e, X509 *agent_ca, EVP_PKEY *key, long ttl)
{
	X509 *c = NULL;

	TU_ASSERT_ERR(attest_x509_make_session_issuer(agent_ca, key, ttl, &e->agent_signer, &c),
		      ATTEST_OK);
	CU_ASSERT_FATAL(c != NULL);
	return c;
}

static struct attest_signer sw_signer(EVP_PKEY *key)
{
	struct attest_signer s;

	CU_ASSERT_FATAL(attest_signer_from_pkey(key, &s) == ATTEST_OK);
	return s;
}

/* NULL-terminated certificates as a stack (references taken). */
static STACK_OF(X509) *chain_of(X509 *first, ...)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	va_list ap;

	CU_ASSERT_FATAL(sk != NULL);
	va_start(ap, first);
	for (X509 *c = first; c != NULL; c = va_arg(ap, X509 *))
		CU_ASSERT_FATAL(X509_add_cert(sk, c, X509_ADD_FLAG_UP_REF) == 1);
	va_end(ap);
	return sk;
}

static int path(X509 *first, ...)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	va_list ap;
	int r;

	CU_ASSERT_FATAL(sk != NULL);
	va_start(ap, first);
	for (X509 *c = first; c != NULL; c = va_arg(ap, X509 *))
		CU_ASSERT_FATAL(X509_add_cert(sk, c, X509_ADD_FLAG_UP_REF) == 1);
	va_end(ap);
	r = attest_verify_path(sk);
	sk_X509_pop_free(sk, X509_free);
	return r;
}

/* X509_verify_cert of leaf against root with the untrusted certificates,
 * with or without our callback; *err gets the store's error. */
static int store_verify(X509 *root, X509 *cert, STACK_OF(X509) *untrusted, int with_cb, int *err)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	CU_ASSERT_FATAL(st != NULL && ctx != NULL && X509_STORE_add_cert(st, root) == 1);
	if (with_cb)
		X509_STORE_set_verify_cb(st, attest_x509_verify_cb);
	CU_ASSERT_FATAL(X509_STORE_CTX_init(ctx, st, cert, untrusted) == 1);
	ok = X509_verify_cert(ctx);
	*err = X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return ok;
}

static void write_certs(const char *dir, const char *name, X509 *first, ...)
{
	char p[800];
	FILE *f;
	va_list ap;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	CU_ASSERT_FATAL(f != NULL);
	va_start(ap, first);
	for (X509 *c = first; c != NULL; c = va_arg(ap, X509 *))
		CU_ASSERT_FATAL(PEM_write_X509(f, c) == 1);
	va_end(ap);
	CU_ASSERT_FATAL(fclose(f) == 0);
}

static void write_key(const char *dir, const char *name, EVP_PKEY *k)
{
	char p[800];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_FATAL(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1);
	CU_ASSERT_FATAL(fclose(f) == 0);
}

/* A certificate made outside the profile functions, to show what the path
 * rule refuses. san and agent_id may be NULL. */
static X509 *forge(X509 *issuer, EVP_PKEY *key, const struct attest_signer *s, int ca_pathlen,
		   const char *san, const char *agent_id)
{
	X509 *c = X509_new();
	char bc[64];

	CU_ASSERT_FATAL(c != NULL && X509_set_version(c, X509_VERSION_3) == 1 &&
			X509_gmtime_adj(X509_getm_notBefore(c), -60) != NULL &&
			X509_gmtime_adj(X509_getm_notAfter(c), 600) != NULL &&
			X509_set_pubkey(c, key) == 1 &&
			X509_set_issuer_name(c, X509_get_subject_name(issuer)) == 1);
	CU_ASSERT_FATAL(attest_x509_random_serial(c) == ATTEST_OK);
	CU_ASSERT_FATAL(attest_x509_set_name(X509_get_subject_name(c), TD, "forged") == ATTEST_OK);
	if (ca_pathlen >= 0) {
		snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%d", ca_pathlen);
		CU_ASSERT_FATAL(attest_x509_add_ext(c, issuer, NID_basic_constraints, bc) == ATTEST_OK);
		CU_ASSERT_FATAL(attest_x509_add_ext(c, issuer, NID_key_usage, "critical,keyCertSign") ==
				ATTEST_OK);
		CU_ASSERT_FATAL(attest_x509_add_ext(c, issuer, NID_name_constraints,
						    "critical,permitted;URI:" TD) == ATTEST_OK);
	} else {
		CU_ASSERT_FATAL(attest_x509_add_ext(c, issuer, NID_basic_constraints,
						    "critical,CA:FALSE") == ATTEST_OK);
		CU_ASSERT_FATAL(attest_x509_add_ext(c, issuer, NID_key_usage,
						    "critical,digitalSignature") == ATTEST_OK);
		CU_ASSERT_FATAL(attest_x509_add_ext(c, issuer, NID_ext_key_usage,
						    "serverAuth,clientAuth") == ATTEST_OK);
	}
	CU_ASSERT_FATAL(attest_x509_add_ext(c, issuer, NID_subject_key_identifier, "hash") == ATTEST_OK);
	CU_ASSERT_FATAL(attest_x509_add_ext(c, issuer, NID_authority_key_identifier, "keyid:always") ==
			ATTEST_OK);
	if (san != NULL)
		CU_ASSERT_FATAL(attest_x509_add_ext(c, issuer, NID_subject_alt_name, san) == ATTEST_OK);
	if (agent_id != NULL)
		CU_ASSERT_FATAL(attest_x509_add_utf8_ext(c, ATTEST_OID_AGENT_ID, agent_id) == ATTEST_OK);
	TU_ASSERT_ERR(attest_x509_sign_with(c, s), ATTEST_OK);
	return c;
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int file_has(const char *dir, const char *file, const char *needle)
{
	return tu_sh("grep -qF -- '%s' '%s/%s'", needle, dir, file) == 0;
}

/* Both modes: openssl verify, attest_verify_path, X509_verify_cert with
 * our callback, and an mTLS 1.3 handshake (strict-mode leaf on the server,
 * session-mode leaf on the client) between openssl s_server and s_client. */
static void test_chains_interop(void)
{
	struct env e;
	EVP_PKEY *ka = p256(), *kb = p256(), *ks = p256();
	struct attest_signer ss;
	X509 *la, *lb, *sess;
	STACK_OF(X509) *ua, *ub;
	const char *d;
	char *s = NULL;
	int err, port, up = 0;

	env_up(&e);
	d = e.sw.dir;
	la = leaf(e.agent_ca, ka, 300, &e.agent_signer);
	sess = session_issuer(&e, e.agent_ca, ks, 600);
	ss = sw_signer(ks);
	lb = leaf(sess, kb, 300, &ss);

	/* The SubjectPublicKeyInfo written from the raw point (issue 17) is
	 * the encoder's, byte for byte; the leaf holds no parsed key, its DER
	 * does. */
	{
		struct attest_leaf_params lp = { .pub = kb, .ttl = 300 };
		X509 *raw = NULL;
		unsigned char *d1 = NULL, *d2 = NULL;
		int n1, n2 = i2d_PUBKEY(kb, &d2);

		TU_ASSERT_ERR(attest_x509_make_leaf(sess, &lp, &ss, &raw), ATTEST_OK);
		CU_ASSERT_FATAL(raw != NULL);
		n1 = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(raw), &d1);
		CU_ASSERT(n1 > 0 && n1 == n2 && memcmp(d1, d2, (size_t)n1) == 0);
		CU_ASSERT_PTR_NULL(X509_get0_pubkey(raw));
		ERR_clear_error();
		CU_ASSERT_EQUAL(EVP_PKEY_eq(X509_get0_pubkey(la), ka), 1);
		CU_ASSERT_EQUAL(EVP_PKEY_eq(X509_get0_pubkey(lb), kb), 1);
		OPENSSL_free(d1);
		OPENSSL_free(d2);
		X509_free(raw);
	}

	/* The profile, read back. */
	TU_ASSERT_ERR(attest_x509_one_san_uri(la, &s), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(s, AGENT_ID);
	free(s);
	TU_ASSERT_ERR(attest_x509_ext_utf8(lb, ATTEST_OID_TASK_ID, &s), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(s, "task-42");
	free(s);
	TU_ASSERT_ERR(attest_x509_ext_utf8(sess, ATTEST_OID_AGENT_UUID, &s), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(s, AGENT_UUID);
	free(s);
	TU_ASSERT_ERR(attest_x509_ext_utf8(la, ATTEST_OID_AGENT_ID, &s), ATTEST_E_NOT_FOUND);
	CU_ASSERT_EQUAL(X509_get_pathlen(e.agent_ca), 1);
	CU_ASSERT_EQUAL(X509_get_pathlen(sess), 0);
	CU_ASSERT_EQUAL(X509_check_ca(la), 0);
	CU_ASSERT_EQUAL(ASN1_STRING_length(X509_get0_serialNumber(la)), 16);

	write_certs(d, "root.pem", e.root, NULL);
	write_certs(d, "leafA.pem", la, NULL);
	write_certs(d, "chainA.pem", e.agent_ca, e.host_ca, e.issuing, NULL);
	write_key(d, "keyA.pem", ka);
	write_certs(d, "leafB.pem", lb, NULL);
	write_certs(d, "chainB.pem", sess, e.agent_ca, e.host_ca, e.issuing, NULL);
	write_key(d, "keyB.pem", kb);

	CU_ASSERT_EQUAL(tu_sh("cd '%s' && openssl verify -CAfile root.pem -untrusted chainA.pem "
			      "leafA.pem >/dev/null", d), 0);
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && openssl verify -CAfile root.pem -untrusted chainB.pem "
			      "leafB.pem >/dev/null", d), 0);
	/* P-384 (raw point) and RSA (X509_set_pubkey) leaf keys: the SPKI is
	 * the encoder's and openssl verifies the chain */
	{
		EVP_PKEY *others[2] = { EVP_EC_gen("P-384"), EVP_RSA_gen(2048) };

		for (int i = 0; i < 2; i++) {
			X509 *l, *rl;

			CU_ASSERT_FATAL(others[i] != NULL);
			l = leaf(sess, others[i], 300, &ss);
			rl = reparsed(l);
			CU_ASSERT_EQUAL(EVP_PKEY_eq(X509_get0_pubkey(rl), others[i]), 1);
			CU_ASSERT_EQUAL(path(rl, sess, e.agent_ca, e.host_ca, e.issuing, NULL), ATTEST_OK);
			write_certs(d, "leafO.pem", l, NULL);
			CU_ASSERT_EQUAL(tu_sh("cd '%s' && openssl verify -CAfile root.pem -untrusted "
					      "chainB.pem leafO.pem >/dev/null", d), 0);
			X509_free(rl);
			X509_free(l);
			EVP_PKEY_free(others[i]);
		}
	}
	/* The extensions, as openssl prints them. */
	CU_ASSERT_EQUAL(tu_sh("openssl x509 -in '%s/leafA.pem' -noout -text | grep -q "
			      "'TLS Web Server Authentication, TLS Web Client Authentication'", d), 0);

	CU_ASSERT_EQUAL(path(la, e.agent_ca, e.host_ca, e.root, NULL), ATTEST_OK);
	CU_ASSERT_EQUAL(path(lb, sess, e.agent_ca, e.host_ca, e.issuing, NULL), ATTEST_OK);
	ua = chain_of(e.agent_ca, e.host_ca, e.issuing, NULL);
	ub = chain_of(sess, e.agent_ca, e.host_ca, e.issuing, NULL);
	CU_ASSERT_EQUAL(store_verify(e.root, la, ua, 1, &err), 1);
	CU_ASSERT_EQUAL(store_verify(e.root, lb, ub, 1, &err), 1);

	/* s_server -rev echoes each line reversed: a reply proves both sides
	 * accepted each other's chain (-verify_return_error on both). -rev
	 * does not read stdin, whose EOF would end the plain server early. */
	port = free_port();
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && (timeout 10 openssl s_server -tls1_3 -Verify 4 "
			      "-verify_return_error -CAfile root.pem -cert leafA.pem -key keyA.pem "
			      "-cert_chain chainA.pem -accept 127.0.0.1:%d -naccept 1 -rev "
			      "</dev/null >srv.log 2>&1 & echo $! >srv.pid)", d, port), 0);
	for (int i = 0; i < 100 && !(up = file_has(d, "srv.log", "ACCEPT")); i++)
		usleep(50 * 1000);
	CU_ASSERT_FATAL(up);
	CU_ASSERT_EQUAL(tu_sh("cd '%s' && (printf 'attestd-ping\\n'; sleep 1) | timeout 10 openssl "
			      "s_client -connect 127.0.0.1:%d -tls1_3 -cert leafB.pem -key keyB.pem "
			      "-cert_chain chainB.pem -CAfile root.pem -verify_return_error "
			      ">cli.log 2>&1", d, port), 0);
	for (int i = 0; i < 100 && !file_has(d, "srv.log", "CONNECTION CLOSED"); i++)
		usleep(50 * 1000);
	(void)tu_sh("cd '%s' && kill $(cat srv.pid) 2>/dev/null", d);
	CU_ASSERT(file_has(d, "cli.log", "Verify return code: 0 (ok)"));
	CU_ASSERT(file_has(d, "cli.log", "New, TLSv1.3"));
	CU_ASSERT(file_has(d, "cli.log", "depth=1 O = " TD ", CN = billing"));
	CU_ASSERT(file_has(d, "cli.log", "gnip-dtsetta"));
	CU_ASSERT(file_has(d, "srv.log", "CONNECTION ESTABLISHED"));
	CU_ASSERT(file_has(d, "srv.log", "Protocol version: TLSv1.3"));
	CU_ASSERT(file_has(d, "srv.log", "Verification: OK"));
	CU_ASSERT(file_has(d, "srv.log", "depth=1 O = " TD ", CN = session issuer billing"));
	if (!file_has(d, "cli.log", "gnip-dtsetta"))
		(void)tu_sh("cat '%s/srv.log' '%s/cli.log' >&2", d, d);

	sk_X509_pop_free(ua, X509_free);
	sk_X509_pop_free(ub, X509_free);
	X509_free(la);
	X509_free(lb);
	X509_free(sess);
	EVP_PKEY_free(ka);
	EVP_PKEY_free(kb);
	EVP_PKEY_free(ks);
	env_down(&e);
}

/* The path rule: what OpenSSL's URI name constraints accept (they compare
 * only the trust domain) and attestd refuses. */
static void test_path_refusals(void)
{
	struct env e;
	EVP_PKEY *ks = p256(), *kl = p256(), *kx = p256(), *ky = p256();
	struct attest_signer ss, sx, sy;
	X509 *sess, *evil, *two, *nonspiffe, *other_ca, *other_leaf, *bad_sess, *bad_leaf, *good;
	STACK_OF(X509) *u;
	int err;

	env_up(&e);
	sess = session_issuer(&e, e.agent_ca, ks, 600);
	ss = sw_signer(ks);
	good = leaf(sess, kl, 300, &ss);

	/* Another agent's ID on the same host, signed by a real issuer in
	 * software: OpenSSL accepts the chain, our callback does not. */
	evil = forge(sess, kl, &ss, -1, "URI:" OTHER_ID, NULL);
	u = chain_of(sess, e.agent_ca, e.host_ca, e.issuing, NULL);
	CU_ASSERT_EQUAL(store_verify(e.root, evil, u, 0, &err), 1);
	CU_ASSERT_EQUAL(err, X509_V_OK);
	CU_ASSERT_EQUAL(store_verify(e.root, evil, u, 1, &err), 0);
	CU_ASSERT_EQUAL(err, X509_V_ERR_APPLICATION_VERIFICATION);
	CU_ASSERT(strstr(attest_errdetail(), OTHER_ID) != NULL);
	CU_ASSERT_EQUAL(store_verify(e.root, good, u, 1, &err), 1);
	sk_X509_pop_free(u, X509_free);
	TU_ASSERT_ERR(path(evil, sess, e.agent_ca, e.host_ca, e.issuing, NULL), ATTEST_E_PATH);

	/* A DNS name beside the one URI is an X.509-SVID (issue 14 item 5);
	 * two URIs, or an IP beside it, are not; a SAN that is not a SPIFFE ID. */
	two = forge(sess, kl, &ss, -1, "URI:" AGENT_ID ",DNS:billing." TD, NULL);
	TU_ASSERT_ERR(path(two, sess, e.agent_ca, e.host_ca, e.issuing, NULL), ATTEST_OK);
	X509_free(two);
	two = forge(sess, kl, &ss, -1, "URI:" AGENT_ID ",URI:" OTHER_ID, NULL);
	TU_ASSERT_ERR(path(two, sess, e.agent_ca, e.host_ca, e.issuing, NULL), ATTEST_E_PATH);
	CU_ASSERT(strstr(attest_errdetail(), "exactly one URI") != NULL);
	CU_ASSERT(strstr(attest_errdetail(), "more than one URI") != NULL);
	X509_free(two);
	two = forge(sess, kl, &ss, -1, "URI:" AGENT_ID ",IP:10.0.0.1", NULL);
	TU_ASSERT_ERR(path(two, sess, e.agent_ca, e.host_ca, e.issuing, NULL), ATTEST_E_PATH);
	nonspiffe = forge(sess, kl, &ss, -1, "URI:https://" TD "/host/" HOST "/agent/billing", NULL);
	TU_ASSERT_ERR(path(nonspiffe, sess, e.agent_ca, e.host_ca, e.issuing, NULL), ATTEST_E_PATH);
	CU_ASSERT(strstr(attest_errdetail(), "spiffe://") != NULL);

	/* An agent CA (signed by the real host key) whose agent ID is under
	 * another host: its leaf names that ID, OpenSSL accepts, we refuse. */
	other_ca = forge(e.host_ca, kx, &e.host_signer, 1, "URI:spiffe://" TD, OTHER_HOST_ID);
	sx = sw_signer(kx);
	other_leaf = leaf(other_ca, kl, 300, &sx);
	u = chain_of(other_ca, e.host_ca, e.issuing, NULL);
	CU_ASSERT_EQUAL(store_verify(e.root, other_leaf, u, 0, &err), 1);
	CU_ASSERT_EQUAL(store_verify(e.root, other_leaf, u, 1, &err), 0);
	sk_X509_pop_free(u, X509_free);
	TU_ASSERT_ERR(path(other_leaf, other_ca, e.host_ca, e.root, NULL), ATTEST_E_PATH);
	CU_ASSERT(strstr(attest_errdetail(), "not under host") != NULL);

	/* A session issuer (signed by the real agent key) naming another
	 * agent than its agent CA. */
	bad_sess = forge(e.agent_ca, ky, &e.agent_signer, 0, "URI:spiffe://" TD, OTHER_ID);
	sy = sw_signer(ky);
	bad_leaf = leaf(bad_sess, kl, 300, &sy);
	TU_ASSERT_ERR(path(bad_leaf, bad_sess, e.agent_ca, e.host_ca, e.issuing, NULL), ATTEST_E_PATH);
	CU_ASSERT(strstr(attest_errdetail(), "differs") != NULL);

	/* Shapes: too short, a CA presented as the leaf, host CA missing or
	 * replaced by the root. */
	TU_ASSERT_ERR(path(good, sess, NULL), ATTEST_E_PATH);
	TU_ASSERT_ERR(path(e.agent_ca, e.host_ca, e.root, NULL), ATTEST_E_PATH);
	TU_ASSERT_ERR(path(sess, e.agent_ca, e.host_ca, e.root, NULL), ATTEST_E_PATH);
	TU_ASSERT_ERR(path(good, sess, e.agent_ca, NULL), ATTEST_E_PATH);
	TU_ASSERT_ERR(path(good, sess, e.agent_ca, e.root, NULL), ATTEST_E_PATH);
	TU_ASSERT_ERR(attest_verify_path(NULL), ATTEST_E_PATH);
	CU_ASSERT_EQUAL(path(good, sess, e.agent_ca, e.host_ca, e.root, NULL), ATTEST_OK);

	/* The profile functions issue nothing the rule would refuse, and
	 * refuse a signer that is not the issuer. */
	{
		struct attest_leaf_params p = { .pub = kl, .ttl = 60 };
		struct attest_agent_ca_params cp = ca_params(&e, 600);
		X509 *c = NULL;

		cp.agent_id = OTHER_HOST_ID;
		TU_ASSERT_ERR(attest_x509_make_agent_ca(e.host_ca, &cp, &e.host_signer, &c),
			      ATTEST_E_INVALID_ARG);
		cp.agent_id = "spiffe://other.example/host/" HOST "/agent/billing";
		TU_ASSERT_ERR(attest_x509_make_agent_ca(e.host_ca, &cp, &e.host_signer, &c),
			      ATTEST_E_INVALID_ARG);
		cp.agent_id = AGENT_ID "/x";
		TU_ASSERT_ERR(attest_x509_make_agent_ca(e.host_ca, &cp, &e.host_signer, &c),
			      ATTEST_E_INVALID_ARG);
		cp.agent_id = AGENT_ID;
		TU_ASSERT_ERR(attest_x509_make_agent_ca(e.host_ca, &cp, &e.agent_signer, &c),
			      ATTEST_E_INVALID_ARG);
		cp.creation_len = 10;
		TU_ASSERT_ERR(attest_x509_make_agent_ca(e.host_ca, &cp, &e.host_signer, &c),
			      ATTEST_E_INVALID_ARG);

		TU_ASSERT_ERR(attest_x509_make_leaf(e.agent_ca, &p, &ss, &c), ATTEST_E_INVALID_ARG);
		TU_ASSERT_ERR(attest_x509_make_leaf(e.host_ca, &p, &e.host_signer, &c),
			      ATTEST_E_INVALID_ARG);
		TU_ASSERT_ERR(attest_x509_make_session_issuer(sess, kl, 60, &ss, &c),
			      ATTEST_E_INVALID_ARG);
		CU_ASSERT_PTR_NULL(c);
	}

	X509_free(sess);
	X509_free(good);
	X509_free(evil);
	X509_free(two);
	X509_free(nonspiffe);
	X509_free(other_ca);
	X509_free(other_leaf);
	X509_free(bad_sess);
	X509_free(bad_leaf);
	EVP_PKEY_free(ks);
	EVP_PKEY_free(kl);
	EVP_PKEY_free(kx);
	EVP_PKEY_free(ky);
	env_down(&e);
}

static long window(X509 *c)
{
	int days = 0, secs = 0;

	CU_ASSERT(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(c), X509_get0_notAfter(c)) == 1);
	return (long)days * 86400 + secs;
}

/* Every notAfter <= its issuer's; TTL caps; validity windows. */
static void test_ttl_clamp(void)
{
	struct env e;
	EVP_PKEY *ks = p256(), *kl = p256();
	struct attest_signer ss;
	X509 *short_ca, *sess, *l1, *l2, *big = NULL;

	env_up(&e);
	/* The host CA lives 1 h: a 24 h agent CA ends when it does. */
	{
		X509 *day = agent_ca(&e, ATTEST_AGENT_CA_MAX_TTL);

		CU_ASSERT_EQUAL(ASN1_TIME_compare(X509_get0_notAfter(day), X509_get0_notAfter(e.host_ca)),
				0);
		X509_free(day);
	}
	short_ca = agent_ca(&e, 120);
	CU_ASSERT_EQUAL(window(short_ca), 120); /* no backdating at <= 10 min */

	sess = session_issuer(&e, short_ca, ks, ATTEST_SESSION_ISSUER_MAX_TTL);
	CU_ASSERT_EQUAL(ASN1_TIME_compare(X509_get0_notAfter(sess), X509_get0_notAfter(short_ca)), 0);
	ss = sw_signer(ks);
	l1 = leaf(sess, kl, 3600, &ss);
	CU_ASSERT_EQUAL(ASN1_TIME_compare(X509_get0_notAfter(l1), X509_get0_notAfter(sess)), 0);
	l2 = leaf(short_ca, kl, 3600, &e.agent_signer);
	CU_ASSERT_EQUAL(ASN1_TIME_compare(X509_get0_notAfter(l2), X509_get0_notAfter(short_ca)), 0);
	{
		struct attest_agent_ca_params cp = ca_params(&e, ATTEST_AGENT_CA_MAX_TTL + 1);

		TU_ASSERT_ERR(attest_x509_make_agent_ca(e.host_ca, &cp, &e.host_signer, &big),
			      ATTEST_E_TTL);
	}
	TU_ASSERT_ERR(attest_x509_make_session_issuer(short_ca, ks, ATTEST_SESSION_ISSUER_MAX_TTL + 1,
						      &e.agent_signer, &big),
		      ATTEST_E_TTL);
	{
		struct attest_leaf_params p = { .pub = kl, .ttl = 0 };

		TU_ASSERT_ERR(attest_x509_make_leaf(sess, &p, &ss, &big), ATTEST_E_TTL);
		p.ttl = 60;
		p.task_id = "bad\ntask";
		TU_ASSERT_ERR(attest_x509_make_leaf(sess, &p, &ss, &big), ATTEST_E_INVALID_ARG);
		/* an intent as large as allowed makes a leaf over 16 KiB */
		{
			static uint8_t chain[ATTEST_INTENT_MAX];

			memset(chain, 'A', sizeof(chain));
			p.task_id = NULL;
			p.intent = chain;
			p.intent_len = sizeof(chain);
			TU_ASSERT_ERR(attest_x509_make_leaf(sess, &p, &ss, &big), ATTEST_E_TOO_LARGE);
			p.intent_len = ATTEST_INTENT_MAX - 2048;
			TU_ASSERT_ERR(attest_x509_make_leaf(sess, &p, &ss, &big), ATTEST_OK);
			CU_ASSERT(big != NULL && i2d_X509(big, NULL) <= ATTEST_LEAF_DER_MAX);
			X509_free(big);
			big = NULL;
		}
	}
	CU_ASSERT_PTR_NULL(big);
	/* A long TTL under a long-lived issuer: backdated 60 s, window = TTL. */
	{
		X509 *s2 = session_issuer(&e, e.agent_ca, ks, ATTEST_SESSION_ISSUER_MAX_TTL);
		X509 *l3 = leaf(s2, kl, 700, &ss);

		CU_ASSERT_EQUAL(window(s2), ATTEST_SESSION_ISSUER_MAX_TTL);
		CU_ASSERT_EQUAL(window(l3), 700);
		CU_ASSERT(X509_cmp_current_time(X509_get0_notBefore(l3)) < 0);
		X509_free(l3);
		X509_free(s2);
	}

	X509_free(short_ca);
	X509_free(sess);
	X509_free(l1);
	X509_free(l2);
	EVP_PKEY_free(ks);
	EVP_PKEY_free(kl);
	env_down(&e);
}

/* The clock outside the issuer's window (set back a day, or forward past
 * its notAfter), shown by moving the issuer's window instead of the clock:
 * no certificate, ATTEST_E_CERT_EXPIRED (not ATTEST_E_TTL); and the
 * skew backdating never starts a certificate before its issuer. */
static void test_clock_outside_issuer(void)
{
	struct env e;
	EVP_PKEY *ks = p256(), *kl = p256();
	struct attest_signer ss;
	struct attest_leaf_params p = { .pub = kl, .ttl = 60 };
	X509 *sess, *moved, *out = NULL;

	env_up(&e);
	sess = session_issuer(&e, e.agent_ca, ks, ATTEST_SESSION_ISSUER_MAX_TTL);
	ss = sw_signer(ks);
	/* the clock a day behind the issuer: it starts tomorrow */
	CU_ASSERT_FATAL((moved = X509_dup(sess)) != NULL);
	CU_ASSERT_FATAL(X509_gmtime_adj(X509_getm_notBefore(moved), 86400) != NULL);
	CU_ASSERT_FATAL(X509_gmtime_adj(X509_getm_notAfter(moved), 86400 + 900) != NULL);
	TU_ASSERT_ERR(attest_x509_make_leaf(moved, &p, &ss, &out), ATTEST_E_CERT_EXPIRED);
	CU_ASSERT(strstr(attest_errdetail(), "not valid yet") != NULL);
	CU_ASSERT_PTR_NULL(out);
	/* the clock past the issuer's notAfter */
	CU_ASSERT_FATAL(X509_gmtime_adj(X509_getm_notBefore(moved), -7200) != NULL);
	CU_ASSERT_FATAL(X509_gmtime_adj(X509_getm_notAfter(moved), -3600) != NULL);
	TU_ASSERT_ERR(attest_x509_make_leaf(moved, &p, &ss, &out), ATTEST_E_CERT_EXPIRED);
	CU_ASSERT_PTR_NULL(out);
	/* an issuer that started 10 s ago: a 700 s leaf (backdated 60 s)
	 * starts with it, not before */
	CU_ASSERT_FATAL(X509_gmtime_adj(X509_getm_notBefore(moved), -10) != NULL);
	CU_ASSERT_FATAL(X509_gmtime_adj(X509_getm_notAfter(moved), 3600) != NULL);
	p.ttl = 700;
	TU_ASSERT_ERR(attest_x509_make_leaf(moved, &p, &ss, &out), ATTEST_OK);
	if (out != NULL)
		CU_ASSERT_EQUAL(ASN1_TIME_compare(X509_get0_notBefore(out),
						  X509_get0_notBefore(moved)), 0);
	X509_free(out);
	X509_free(moved);
	X509_free(sess);
	EVP_PKEY_free(ks);
	EVP_PKEY_free(kl);
	env_down(&e);
}

/* The binding is the TPM's: another value in PCR 23 and the agent key no
 * longer signs, through the certificate path too. */
static void test_pcr_binding(void)
{
	struct env e;
	EVP_PKEY *kl = p256();
	TPMT_SIGNATURE sig;
	uint8_t digest[32] = { 1 }, other[32];
	X509 *c = NULL, *ok;
	struct attest_leaf_params p = { .pub = kl, .ttl = 60 };

	env_up(&e);
	EVP_Digest("another binary", 14, other, NULL, EVP_sha256(), NULL);
	set_pcr(&e, other);
	TU_ASSERT_ERR(attest_tpm_sign_policy(e.t, &e.agent_key, &e.auth, 1u << AGENT_PCR, digest, &sig),
		      ATTEST_E_TPM_AUTH);
	TU_ASSERT_ERR(attest_x509_make_leaf(e.agent_ca, &p, &e.agent_signer, &c), ATTEST_E_TPM_AUTH);
	CU_ASSERT_PTR_NULL(c);
	/* The agent's own measurement back: it signs again. */
	set_pcr(&e, e.measurement);
	ok = leaf(e.agent_ca, kl, 60, &e.agent_signer);
	X509_free(ok);
	EVP_PKEY_free(kl);
	env_down(&e);
}

/* A signer that signs with the real key and then spoils one bit of S:
 * what a faulty signer (or a fault in the signature's path) returns. */
static int spoiling_sign(void *arg, const uint8_t digest[32], TPMT_SIGNATURE *sig)
{
	const struct attest_signer *inner = arg;
	int r = inner->sign(inner->arg, digest, sig);

	if (r == ATTEST_OK)
		sig->signature.ecdsa.signatureS.buffer[31] ^= 0x01;
	return r;
}

/* Software only: the self-check (direct for a software signer, the DER
 * round trip for others) catches a signer whose key is not the one it
 * claims and a spoiled signature, and the software signer takes only
 * P-256. Issue 17: the direct check replaced the round trip for software
 * signers; every signature it accepts verifies after DER. */
static void test_sign_with_selfcheck(void)
{
	EVP_PKEY *k1 = p256(), *k2 = p256(), *k384 = EVP_EC_gen("P-384");
	struct attest_signer s, inner, bad;
	X509 *c = X509_new();

	CU_ASSERT_FATAL(k384 != NULL && c != NULL);
	TU_ASSERT_ERR(attest_signer_from_pkey(k384, &s), ATTEST_E_INVALID_ARG);
	CU_ASSERT_FATAL(X509_set_version(c, X509_VERSION_3) == 1 &&
			X509_gmtime_adj(X509_getm_notBefore(c), 0) != NULL &&
			X509_gmtime_adj(X509_getm_notAfter(c), 60) != NULL && X509_set_pubkey(c, k1) == 1);
	CU_ASSERT_FATAL(attest_x509_set_name(X509_get_subject_name(c), TD, "self") == ATTEST_OK);
	CU_ASSERT_FATAL(X509_set_issuer_name(c, X509_get_subject_name(c)) == 1);
	s = sw_signer(k1);
	CU_ASSERT_EQUAL(s.check_direct, 1);
	s.pub = k2;
	TU_ASSERT_ERR(attest_x509_sign_with(c, &s), ATTEST_E_CRYPTO);
	s.check_direct = 0;
	TU_ASSERT_ERR(attest_x509_sign_with(c, &s), ATTEST_E_CRYPTO);
	/* a spoiled signature, refused by either check */
	inner = sw_signer(k1);
	bad = (struct attest_signer){ spoiling_sign, &inner, k1, 1 };
	TU_ASSERT_ERR(attest_x509_sign_with(c, &bad), ATTEST_E_CRYPTO);
	CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "does not verify"));
	bad.check_direct = 0;
	TU_ASSERT_ERR(attest_x509_sign_with(c, &bad), ATTEST_E_CRYPTO);
	/* Many signatures, so some end in zero bits: each one the direct
	 * check accepts survives DER and verifies as a relying party sees it. */
	s = sw_signer(k1);
	for (int i = 0; i < 64; i++) {
		X509 *copy;

		TU_ASSERT_ERR(attest_x509_sign_with(c, &s), ATTEST_OK);
		copy = reparsed(c);
		CU_ASSERT_EQUAL(X509_verify(copy, k1), 1);
		X509_free(copy);
	}
	X509_free(c);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k384);
}

/* ---- CRLs (issue 15 item 5) ---- */

static EVP_PKEY *read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	CU_ASSERT_FATAL(f != NULL);
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	CU_ASSERT_FATAL(k != NULL);
	return k;
}

/* The fleet's software CA keys: the root's (moved offline by the test
 * enrolment) and the current issuing CA's. */
static void ca_keys(struct env *e, EVP_PKEY **root_key, EVP_PKEY **issuing_key)
{
	char p[800], serial[64] = "";
	FILE *f;

	snprintf(p, sizeof(p), "%s.offline-root.key", e->ca_dir); /* tu_root_offline */
	*root_key = read_key(p);
	snprintf(p, sizeof(p), "%s/issuing/current", e->ca_dir);
	CU_ASSERT_FATAL((f = fopen(p, "r")) != NULL);
	CU_ASSERT_FATAL(fgets(serial, sizeof(serial), f) != NULL);
	fclose(f);
	serial[strcspn(serial, "\r\n")] = '\0';
	snprintf(p, sizeof(p), "%s/issuing/%s.key", e->ca_dir, serial);
	*issuing_key = read_key(p);
}

static X509_CRL *crl_of(X509 *issuer, const struct attest_signer *s, X509 *revoked)
{
	const ASN1_INTEGER *sn[1];
	X509_CRL *c = NULL;
	time_t now = time(NULL);

	if (revoked != NULL)
		sn[0] = X509_get0_serialNumber(revoked);
	TU_ASSERT_ERR(attest_crl_make(issuer, sn, revoked != NULL ? 1 : 0, now - 60, now + 3600,
				      (uint64_t)now, s, &c),
		      ATTEST_OK);
	CU_ASSERT_FATAL(c != NULL);
	return c;
}

static void write_crls(const char *dir, const char *name, X509_CRL *first, ...)
{
	STACK_OF(X509_CRL) *sk = sk_X509_CRL_new_null();
	char p[800], *pem = NULL;
	size_t len = 0;
	va_list ap;
	FILE *f;

	CU_ASSERT_FATAL(sk != NULL);
	va_start(ap, first);
	for (X509_CRL *c = first; c != NULL; c = va_arg(ap, X509_CRL *))
		CU_ASSERT_FATAL(sk_X509_CRL_push(sk, c) > 0);
	va_end(ap);
	TU_ASSERT_ERR(attest_crl_bundle_pem(sk, &pem, &len), ATTEST_OK);
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	CU_ASSERT_FATAL((f = fopen(p, "w")) != NULL);
	CU_ASSERT_FATAL(fwrite(pem, 1, len, f) == len);
	CU_ASSERT_FATAL(fclose(f) == 0);
	free(pem);
	sk_X509_CRL_free(sk); /* borrowed */
}

/* openssl verify with every CRL checked, as nginx's ssl_crl does; 0 when
 * the chain is accepted; the output in dir/v.log. */
static int verify_crl(const char *dir, const char *chain, const char *leaf_pem, const char *crls)
{
	return tu_sh("cd '%s' && openssl verify -crl_check_all -CAfile root.pem -untrusted %s "
		     "-CRLfile %s %s >v.log 2>&1", dir, chain, crls, leaf_pem);
}

/* Every CA of both chain shapes signs its CRL: the root and the issuing
 * CA with software keys, the host CA with the host's TPM key, the agent
 * CA with the agent's policy-bound TPM key, the session issuer with its
 * software key. With all of them openssl verify -crl_check_all (nginx's
 * flags) and an s_server handshake with -crl_check_all accept both
 * chains; without one level they refuse; the host CA's CRL listing the
 * agent CA refuses that agent CA's leaves only; the issuing CA's listing
 * the host CA refuses everything below it. */
/* Issue 17: a P-256 key's SPKI is encoded from its raw point through
 * X509_PUBKEY, not OpenSSL's per-call provider encoder: the bytes must be
 * exactly the encoder's (the agent parses the key with any library), for
 * every key; other keys, and every private key PEM, keep the encoders. */
static void test_key_encodings(void)
{
	uint8_t spki[600], *p;
	size_t n;
	char *pem = NULL;

	for (int i = 0; i < 200; i++) {
		EVP_PKEY *k = NULL, *back = NULL;
		BIO *b = BIO_new(BIO_s_mem());
		char *data;
		long bl;
		int dn;
		const unsigned char *q;

		CU_ASSERT_FATAL(b != NULL && attest_p256_keygen(&k) == ATTEST_OK);
		TU_ASSERT_ERR(attest_spki_der(k, spki, sizeof(spki), &n), ATTEST_OK);
		dn = i2d_PUBKEY(k, NULL);
		CU_ASSERT_FATAL(dn == 91 && (size_t)dn == n);
		{
			uint8_t want[91];

			p = want;
			CU_ASSERT(i2d_PUBKEY(k, &p) == dn && memcmp(want, spki, n) == 0);
		}
		TU_ASSERT_ERR(attest_private_key_pem(k, &pem), ATTEST_OK);
		CU_ASSERT_FATAL(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1);
		bl = BIO_get_mem_data(b, &data);
		CU_ASSERT(pem != NULL && bl > 0 && strlen(pem) == (size_t)bl &&
			  memcmp(pem, data, (size_t)bl) == 0);
		/* and it parses back to the same key */
		BIO_free(b);
		b = BIO_new_mem_buf(pem, -1);
		CU_ASSERT(b != NULL && (back = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) != NULL &&
			  EVP_PKEY_eq(back, k) == 1);
		q = spki;
		EVP_PKEY_free(back);
		CU_ASSERT((back = d2i_PUBKEY(NULL, &q, (long)n)) != NULL && EVP_PKEY_eq(back, k) == 1);
		EVP_PKEY_free(back);
		BIO_free(b);
		OPENSSL_cleanse(pem, strlen(pem));
		free(pem);
		pem = NULL;
		EVP_PKEY_free(k);
	}
	/* other keys: the encoders' output, whatever it is */
	{
		EVP_PKEY *k = EVP_EC_gen("P-384");
		BIO *b = BIO_new(BIO_s_mem());
		char *data;
		long bl;

		CU_ASSERT_FATAL(k != NULL && b != NULL);
		TU_ASSERT_ERR(attest_spki_der(k, spki, sizeof(spki), &n), ATTEST_OK);
		CU_ASSERT(n == (size_t)i2d_PUBKEY(k, NULL) && n != 91);
		TU_ASSERT_ERR(attest_spki_der(k, spki, 50, &n), ATTEST_E_CRYPTO); /* too small */
		TU_ASSERT_ERR(attest_private_key_pem(k, &pem), ATTEST_OK);
		CU_ASSERT_FATAL(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1);
		bl = BIO_get_mem_data(b, &data);
		CU_ASSERT(pem != NULL && strlen(pem) == (size_t)bl && memcmp(pem, data, (size_t)bl) == 0);
		free(pem);
		BIO_free(b);
		EVP_PKEY_free(k);
	}
	TU_ASSERT_ERR(attest_spki_der(NULL, spki, sizeof(spki), &n), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(attest_private_key_pem(NULL, &pem), ATTEST_E_INVALID_ARG);
}

static void test_crl_levels(void)
{
	struct env e;
	EVP_PKEY *root_key, *iss_key, *ka = p256(), *kb = p256(), *ks = p256(), *kc = p256();
	struct attest_signer rs, is, ss;
	X509_CRL *c_root, *c_iss, *c_host, *c_agent, *c_sess, *c_host_rev, *c_iss_rev;
	X509 *la, *lb, *sess, *ca2, *lc;
	STACK_OF(X509_CRL) *sk = NULL;
	STACK_OF(X509) *cas;
	const char *d;
	char *pem = NULL;
	size_t len = 0;
	int port, up = 0;

	env_up(&e);
	d = e.sw.dir;
	ca_keys(&e, &root_key, &iss_key);
	rs = sw_signer(root_key);
	is = sw_signer(iss_key);
	ss = sw_signer(ks);
	la = leaf(e.agent_ca, ka, 300, &e.agent_signer);
	sess = session_issuer(&e, e.agent_ca, ks, 600);
	lb = leaf(sess, kb, 300, &ss);
	/* the same agent key certified again (a renewal: new serial) */
	ca2 = agent_ca(&e, 3600);
	lc = leaf(ca2, kc, 300, &e.agent_signer);

	c_root = crl_of(e.root, &rs, NULL);
	c_iss = crl_of(e.issuing, &is, NULL);
	c_host = crl_of(e.host_ca, &e.host_signer, NULL);
	c_agent = crl_of(e.agent_ca, &e.agent_signer, NULL);
	c_sess = crl_of(sess, &ss, NULL);
	c_host_rev = crl_of(e.host_ca, &e.host_signer, e.agent_ca);
	c_iss_rev = crl_of(e.issuing, &is, e.host_ca);
	/* the profile, read back */
	CU_ASSERT_EQUAL(X509_CRL_get_version(c_host), X509_CRL_VERSION_2);
	CU_ASSERT_EQUAL(X509_CRL_get_signature_nid(c_host), NID_ecdsa_with_SHA256);
	CU_ASSERT_EQUAL(attest_crl_is_for(c_agent, e.agent_ca), 1);
	CU_ASSERT_EQUAL(attest_crl_is_for(c_agent, sess), 0);
	TU_ASSERT_ERR(attest_crl_check(c_host_rev, e.host_ca, time(NULL)), ATTEST_OK);
	CU_ASSERT_EQUAL(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(c_host_rev)), 1);
	/* the signer must be the issuer's key */
	{
		X509_CRL *c = NULL;

		TU_ASSERT_ERR(attest_crl_make(e.host_ca, NULL, 0, time(NULL), time(NULL) + 60, 1,
					      &e.agent_signer, &c),
			      ATTEST_E_INVALID_ARG);
		CU_ASSERT_PTR_NULL(c);
	}

	write_certs(d, "root.pem", e.root, NULL);
	write_certs(d, "leafA.pem", la, NULL);
	write_certs(d, "chainA.pem", e.agent_ca, e.host_ca, e.issuing, NULL);
	write_key(d, "keyA.pem", ka);
	write_certs(d, "leafB.pem", lb, NULL);
	write_certs(d, "chainB.pem", sess, e.agent_ca, e.host_ca, e.issuing, NULL);
	write_key(d, "keyB.pem", kb);
	write_certs(d, "leafC.pem", lc, NULL);
	write_certs(d, "chainC.pem", ca2, e.host_ca, e.issuing, NULL);

	/* all levels: the bundle checks against the CAs and openssl accepts */
	/* one CRL per agent key serves all its agent CAs (same name and key:
	 * renewals) */
	write_crls(d, "all.pem", c_root, c_iss, c_host, c_agent, c_sess, NULL);
	cas = chain_of(e.root, e.issuing, e.host_ca, e.agent_ca, ca2, sess, NULL);
	{
		char p[800], *buf = NULL;
		size_t n = 0;

		snprintf(p, sizeof(p), "%s/all.pem", d);
		CU_ASSERT_FATAL((buf = tu_slurp(p, &n)) != NULL);
		TU_ASSERT_ERR(attest_crl_bundle_parse(buf, n, &sk), ATTEST_OK);
		CU_ASSERT_EQUAL(sk_X509_CRL_num(sk), 5);
		TU_ASSERT_ERR(attest_crl_bundle_check(sk, cas, time(NULL)), ATTEST_OK);
		free(buf);
	}
	CU_ASSERT_EQUAL(verify_crl(d, "chainA.pem", "leafA.pem", "all.pem"), 0);
	CU_ASSERT_EQUAL(verify_crl(d, "chainB.pem", "leafB.pem", "all.pem"), 0);
	CU_ASSERT_EQUAL(verify_crl(d, "chainC.pem", "leafC.pem", "all.pem"), 0);
	/* one level missing (the agent CA's own CRL): refused, which is why
	 * every CA signs one */
	write_crls(d, "noagent.pem", c_root, c_iss, c_host, c_sess, NULL);
	CU_ASSERT_NOT_EQUAL(verify_crl(d, "chainA.pem", "leafA.pem", "noagent.pem"), 0);
	CU_ASSERT(file_has(d, "v.log", "unable to get certificate CRL"));
	/* the root's own CRL missing: refused too (CRL_CHECK_ALL covers it) */
	write_crls(d, "noroot.pem", c_iss, c_host, c_agent, c_sess, NULL);
	CU_ASSERT_NOT_EQUAL(verify_crl(d, "chainA.pem", "leafA.pem", "noroot.pem"), 0);

	/* the agent revoked: its host CA's CRL lists the agent CA; its leaves
	 * (strict and session) are refused; the same key's other agent CA is
	 * not listed and its leaf still passes (so a host lists every
	 * unexpired agent CA of a revoked agent, not only the current one) */
	write_crls(d, "agentrev.pem", c_root, c_iss, c_host_rev, c_agent, c_sess, NULL);
	CU_ASSERT_NOT_EQUAL(verify_crl(d, "chainA.pem", "leafA.pem", "agentrev.pem"), 0);
	CU_ASSERT(file_has(d, "v.log", "certificate revoked"));
	CU_ASSERT_NOT_EQUAL(verify_crl(d, "chainB.pem", "leafB.pem", "agentrev.pem"), 0);
	CU_ASSERT(file_has(d, "v.log", "certificate revoked"));
	CU_ASSERT_EQUAL(verify_crl(d, "chainC.pem", "leafC.pem", "agentrev.pem"), 0);
	/* the host revoked: the issuing CA's CRL lists the host CA */
	write_crls(d, "hostrev.pem", c_root, c_iss_rev, c_host, c_agent, c_sess, NULL);
	CU_ASSERT_NOT_EQUAL(verify_crl(d, "chainA.pem", "leafA.pem", "hostrev.pem"), 0);
	CU_ASSERT(file_has(d, "v.log", "certificate revoked"));
	CU_ASSERT_NOT_EQUAL(verify_crl(d, "chainC.pem", "leafC.pem", "hostrev.pem"), 0);

	/* a TLS 1.3 handshake with the server checking every CRL (nginx's
	 * flags): accepted with all.pem, refused with agentrev.pem. s_server's
	 * -CRL reads one CRL; its -CAfile lookup reads every certificate and
	 * CRL of a PEM file, as nginx's ssl_crl does. */
	for (int round = 0; round < 2; round++) {
		const char *crls = round == 0 ? "all.pem" : "agentrev.pem";

		up = 0;
		port = free_port();
		CU_ASSERT_EQUAL(tu_sh("cd '%s' && cat root.pem %s >trust.pem && (timeout 10 "
				      "openssl s_server -tls1_3 -Verify 5 -verify_return_error "
				      "-crl_check_all -CAfile trust.pem -cert leafA.pem -key keyA.pem "
				      "-cert_chain chainA.pem -accept 127.0.0.1:%d -naccept 1 -rev "
				      "</dev/null >srv.log 2>&1 & echo $! >srv.pid)", d, crls, port),
				0);
		for (int i = 0; i < 100 && !(up = file_has(d, "srv.log", "ACCEPT")); i++)
			usleep(50 * 1000);
		CU_ASSERT_FATAL(up);
		(void)tu_sh("cd '%s' && (printf 'crl-ping\\n'; sleep 1) | timeout 10 openssl "
			    "s_client -connect 127.0.0.1:%d -tls1_3 -cert leafB.pem -key keyB.pem "
			    "-cert_chain chainB.pem -CAfile root.pem >cli.log 2>&1", d, port);
		for (int i = 0; i < 100 && !file_has(d, "srv.log", "CONNECTION CLOSED") &&
				!file_has(d, "srv.log", "ERROR");
		     i++)
			usleep(50 * 1000);
		(void)tu_sh("cd '%s' && kill $(cat srv.pid) 2>/dev/null", d);
		if (round == 0) {
			CU_ASSERT(file_has(d, "cli.log", "gnip-lrc"));
			CU_ASSERT(file_has(d, "srv.log", "Verification: OK"));
		} else {
			CU_ASSERT(!file_has(d, "cli.log", "gnip-lrc"));
			CU_ASSERT(file_has(d, "srv.log", "certificate revoked"));
		}
	}

	/* the bundle's refusals */
	{
		EVP_PKEY *evil = p256();
		struct attest_signer es = sw_signer(evil);
		X509 *fake_host = forge(e.issuing, evil, &is, 2, "URI:spiffe://" TD, NULL);
		X509_CRL *forged = NULL, *stale = NULL, *c;
		STACK_OF(X509) *fk;
		time_t now = time(NULL);

		/* a CRL naming the host CA (name and key identifier copied from a
		 * certificate with the same subject) signed by another key */
		CU_ASSERT_FATAL(X509_set_subject_name(fake_host, X509_get_subject_name(e.host_ca)));
		{
			ASN1_OCTET_STRING *skid = ASN1_OCTET_STRING_dup(X509_get0_subject_key_id(e.host_ca));
			int loc = X509_get_ext_by_NID(fake_host, NID_subject_key_identifier, -1);

			X509_EXTENSION_free(X509_delete_ext(fake_host, loc));
			CU_ASSERT_FATAL(X509_add1_ext_i2d(fake_host, NID_subject_key_identifier, skid, 0,
							  X509V3_ADD_DEFAULT) == 1);
			ASN1_OCTET_STRING_free(skid);
		}
		TU_ASSERT_ERR(attest_x509_sign_with(fake_host, &is), ATTEST_OK);
		{
			X509 *parsed = reparsed(fake_host);

			X509_free(fake_host);
			fake_host = parsed;
		}
		TU_ASSERT_ERR(attest_crl_make(fake_host, NULL, 0, now - 60, now + 3600, 1, &es, &forged),
			      ATTEST_OK);
		TU_ASSERT_ERR(attest_crl_check(forged, e.host_ca, now), ATTEST_E_CRYPTO);
		CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "does not verify"));
		/* the parsed bundle's CRLs are ours; later entries are borrowed */
		while (sk_X509_CRL_num(sk) > 0)
			X509_CRL_free(sk_X509_CRL_pop(sk));
		CU_ASSERT_FATAL(sk_X509_CRL_push(sk, forged) > 0);
		TU_ASSERT_ERR(attest_crl_bundle_check(sk, cas, now), ATTEST_E_CRYPTO);
		CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "CRL 0"));
		/* a CRL of a CA the checker does not know */
		fk = chain_of(e.root, e.issuing, NULL);
		sk_X509_CRL_zero(sk);
		CU_ASSERT_FATAL(sk_X509_CRL_push(sk, c_host) > 0);
		TU_ASSERT_ERR(attest_crl_bundle_check(sk, fk, now), ATTEST_E_CHAIN_UNTRUSTED);
		/* two CRLs of one CA */
		CU_ASSERT_FATAL(sk_X509_CRL_push(sk, c_host_rev) > 0);
		TU_ASSERT_ERR(attest_crl_bundle_check(sk, cas, now), ATTEST_E_DUPLICATE_KEY);
		/* stale: past its nextUpdate; and one from the future */
		TU_ASSERT_ERR(attest_crl_make(e.host_ca, NULL, 0, now - 7200, now - 3600, 1,
					      &e.host_signer, &stale),
			      ATTEST_OK);
		TU_ASSERT_ERR(attest_crl_check(stale, e.host_ca, now), ATTEST_E_CERT_EXPIRED);
		X509_CRL_free(stale);
		stale = NULL;
		TU_ASSERT_ERR(attest_crl_make(e.host_ca, NULL, 0, now + 3600, now + 7200, 1,
					      &e.host_signer, &stale),
			      ATTEST_OK);
		TU_ASSERT_ERR(attest_crl_check(stale, e.host_ca, now), ATTEST_E_CERT_EXPIRED);
		X509_CRL_free(stale);
		/* over the entry cap, at making */
		c = NULL;
		TU_ASSERT_ERR(attest_crl_make(e.host_ca, (const ASN1_INTEGER *const *)&c,
					      ATTEST_CRL_ENTRIES_MAX + 1, now, now + 60, 1,
					      &e.host_signer, &c),
			      ATTEST_E_TOO_LARGE);
		X509_CRL_free(forged);
		X509_free(fake_host);
		sk_X509_pop_free(fk, X509_free);
		EVP_PKEY_free(evil);
	}
	/* parse refusals: over the count cap, over the byte cap, not a CRL,
	 * nothing; and bad input leaves nothing behind */
	{
		STACK_OF(X509_CRL) *one = sk_X509_CRL_new_null(), *got = NULL;
		char *big;
		size_t n1, total;

		CU_ASSERT_FATAL(one != NULL && sk_X509_CRL_push(one, c_root) > 0);
		TU_ASSERT_ERR(attest_crl_bundle_pem(one, &pem, &len), ATTEST_OK);
		n1 = len;
		total = n1 * (ATTEST_CRL_BUNDLE_MAX + 1);
		CU_ASSERT_FATAL(total <= ATTEST_CRL_BUNDLE_BYTES_MAX);
		CU_ASSERT_FATAL((big = malloc(total + 1)) != NULL);
		for (size_t i = 0; i < ATTEST_CRL_BUNDLE_MAX + 1; i++)
			memcpy(big + i * n1, pem, n1);
		TU_ASSERT_ERR(attest_crl_bundle_parse(big, total, &got), ATTEST_E_TOO_LARGE);
		CU_ASSERT_PTR_NULL(got);
		TU_ASSERT_ERR(attest_crl_bundle_parse(big, ATTEST_CRL_BUNDLE_BYTES_MAX + 1, &got),
			      ATTEST_E_TOO_LARGE);
		free(big);
		big = NULL;
		TU_ASSERT_ERR(attest_crl_bundle_parse("", 0, &got), ATTEST_E_PARSE);
		{
			char *certs = NULL;
			size_t cl;
			BIO *b = BIO_new(BIO_s_mem());
			BUF_MEM *m;

			CU_ASSERT_FATAL(b != NULL && PEM_write_bio_X509(b, e.root) == 1);
			BIO_get_mem_ptr(b, &m);
			cl = m->length;
			CU_ASSERT_FATAL((certs = malloc(cl + n1)) != NULL);
			memcpy(certs, pem, n1);
			memcpy(certs + n1, m->data, cl);
			TU_ASSERT_ERR(attest_crl_bundle_parse(certs, n1 + cl, &got), ATTEST_E_PARSE);
			CU_ASSERT_PTR_NOT_NULL(strstr(attest_errdetail(), "not a plain X509 CRL"));
			CU_ASSERT_PTR_NULL(got);
			/* a damaged block (not base64) */
			memcpy(certs, pem, n1);
			certs[n1 / 2] = '*';
			TU_ASSERT_ERR(attest_crl_bundle_parse(certs, n1, &got), ATTEST_E_PARSE);
			free(certs);
			BIO_free(b);
		}
		sk_X509_CRL_free(one);
	}

	free(pem);
	sk_X509_CRL_free(sk);
	sk_X509_pop_free(cas, X509_free);
	X509_CRL_free(c_root);
	X509_CRL_free(c_iss);
	X509_CRL_free(c_host);
	X509_CRL_free(c_agent);
	X509_CRL_free(c_sess);
	X509_CRL_free(c_host_rev);
	X509_CRL_free(c_iss_rev);
	X509_free(la);
	X509_free(lb);
	X509_free(lc);
	X509_free(ca2);
	X509_free(sess);
	EVP_PKEY_free(ka);
	EVP_PKEY_free(kb);
	EVP_PKEY_free(kc);
	EVP_PKEY_free(ks);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(iss_key);
	env_down(&e);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "sign_with self-check and software signer", test_sign_with_selfcheck },
		{ "strict and session chains: openssl verify, mTLS, path rule", test_chains_interop },
		{ "path rule refusals OpenSSL accepts", test_path_refusals },
		{ "TTLs clamped to the issuer", test_ttl_clamp },
		{ "clock outside the issuer's window: ATTEST_E_CERT_EXPIRED, no certificate",
		  test_clock_outside_issuer },
		{ "agent key bound to PCR 23 by the TPM", test_pcr_binding },
		{ "CRLs at every level: crl_check_all, revocation, bundle refusals", test_crl_levels },
		{ "P-256 SPKI through X509_PUBKEY and the key PEM: the encoders' bytes", test_key_encodings },
		{ NULL, NULL },
	};

	return tu_main("x509agent", tests);
}
