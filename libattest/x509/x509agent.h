/* x509agent.h - certificates signed by TPM keys: agent CA (signed by the
 * host issuing key), session issuer and leaf (signed by the agent key, or a
 * leaf by the session issuer's software key). Profile: DESIGN.md "Keys and
 * the certificate chain", docs/x509.md.
 *
 * OpenSSL 3 cannot sign with a TPM key through X509_sign, so a certificate
 * is built, both AlgorithmIdentifiers are set to ecdsa-with-SHA256, the
 * SHA-256 of the re-encoded TBS (i2d_re_X509_tbs) is signed by the signer,
 * and the DER ECDSA signature is installed; the result is then verified
 * with the issuer's public key before it is returned. One way for all.
 */
#ifndef LIBATTEST_X509AGENT_H
#define LIBATTEST_X509AGENT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

#include "attest/attest.h"
#include "x509/dnsname.h"
#include "x509/x509.h"

/* Our extensions (non-critical), under ATTEST_OID_ARC: */
#define ATTEST_OID_AGENT_ID ATTEST_OID_ARC ".1.2"    /* UTF8String SPIFFE ID */
#define ATTEST_OID_AGENT_UUID ATTEST_OID_ARC ".1.3"  /* UTF8String, RFC 9562 text */
#define ATTEST_OID_MEASUREMENT ATTEST_OID_ARC ".1.4" /* OCTET STRING, 32 bytes */
#define ATTEST_OID_POLICY ATTEST_OID_ARC ".1.5"      /* OCTET STRING, 32 bytes */
#define ATTEST_OID_CREATION ATTEST_OID_ARC ".1.6"    /* OCTET STRING, TPMS_ATTEST */
#define ATTEST_OID_CREATION_SIG ATTEST_OID_ARC ".1.7" /* OCTET STRING, TPMT_SIGNATURE */
#define ATTEST_OID_TASK_ID ATTEST_OID_ARC ".1.8"     /* UTF8String */
#define ATTEST_OID_SCOPES ATTEST_OID_ARC ".1.9"      /* UTF8String, space-separated */
#define ATTEST_OID_INTENT ATTEST_OID_ARC ".1.10"     /* OCTET STRING (intent chain) */
/* UTF8String "0".."3": delegation hops the agent's registration lets it start */
#define ATTEST_OID_DELEGATE_DEPTH ATTEST_OID_ARC ".1.11"

#define ATTEST_AGENT_CA_MAX_TTL ATTEST_HOST_CA_MAX_TTL /* DESIGN.md: <= 24 h */
#define ATTEST_SESSION_ISSUER_MAX_TTL (15 * 60)
#define ATTEST_LEAF_MAX_TTL ATTEST_HOST_CA_MAX_TTL /* sanity bound; attestd caps lower */
#define ATTEST_TASK_ID_MAX 128
#define ATTEST_SCOPES_MAX 1024
#define ATTEST_INTENT_MAX (16 * 1024)
/* DER bytes of a whole leaf (with its intent chain) */
#define ATTEST_LEAF_DER_MAX (16 * 1024)
/* spiffe:// + 255 (trust domain) + /host/ + 63 + /agent/ + 63 */
#define ATTEST_AGENT_ID_MAX (9 + 255 + 6 + ATTEST_MAX_NAME + 7 + ATTEST_MAX_NAME)

/* Produces a TPM (or software) ECDSA P-256 signature over a SHA-256 digest.
 * sign returns ATTEST_OK or an attest_err (ATTEST_E_TPM_AUTH when the TPM
 * refuses the key's policy); the signature must be TPM2_ALG_ECDSA with
 * SHA-256. The struct borrows arg and pub: both must outlive its use. */
struct attest_signer {
	int (*sign)(void *arg, const uint8_t digest[32], TPMT_SIGNATURE *sig);
	void *arg;
	EVP_PKEY *pub; /* the signer's public key, for the self-check */
	/* 0 (the default of a positional initialiser): the full self-check,
	 * a DER round trip of the certificate verified with pub. 1 (set by
	 * attest_signer_from_pkey): the direct check, the same signature
	 * verified over the TBS digest just signed, and the signature field
	 * re-encoded and compared, without a parse. For signers whose code
	 * runs in this process; a TPM's keeps the full check. */
	int check_direct;
};

/* Sign a fully populated certificate as described above. Sign before
 * anything inspects the certificate (X509_check_*, X509_digest, chain
 * building): OpenSSL caches a hash of the whole certificate on first
 * inspection. The self-check verifies the result with s->pub (a DER
 * round trip, or directly when s->check_direct); ATTEST_E_CRYPTO if it
 * fails, the signer's code if it refused. */
int attest_x509_sign_with(X509 *cert, const struct attest_signer *s) ATTEST_MUST_CHECK;

/* The one signing step under attest_x509_sign_with and attest_crl_make:
 * SHA-256 of tbs into digest, signed by s, the DER ECDSA signature
 * installed in bits (whole bytes); *der_out (malloc'd, the caller frees)
 * holds the same signature for a self-check. */
int attest_sign_tbs_into(const unsigned char *tbs, size_t tbs_len,
			 const struct attest_signer *s, ASN1_BIT_STRING *bits, uint8_t digest[32],
			 uint8_t **der_out, size_t *der_len) ATTEST_MUST_CHECK;

/* A signer for a software ECDSA P-256 private key (a session issuer's),
 * producing the same TPMT_SIGNATURE a TPM would, so one signing path serves
 * both. Borrows key (no reference taken): it must outlive *out. */
int attest_signer_from_pkey(EVP_PKEY *key, struct attest_signer *out) ATTEST_MUST_CHECK;

struct attest_agent_ca_params {
	const char *agent_id;   /* spiffe://<td>/host/<host>/agent/<name> */
	const char *agent_uuid; /* 36-char lower-case RFC 9562 text */
	EVP_PKEY *agent_key;    /* public key of the agent's TPM key */
	uint8_t measurement[32];
	uint8_t policy[32];
	const uint8_t *creation; /* TPMS_ATTEST bytes of TPM2_CertifyCreation */
	size_t creation_len;
	const uint8_t *creation_sig; /* marshalled TPMT_SIGNATURE */
	size_t creation_sig_len;
	long ttl; /* 1..ATTEST_AGENT_CA_MAX_TTL, clamped to the host CA's notAfter */
};
/* CA:TRUE pathlen:1, keyCertSign, SAN URI spiffe://<td>, name constraint
 * permitted URI:<td>, the extensions above; issued by host_ca. Refuses
 * (ATTEST_E_INVALID_ARG) an agent ID that is not under host_ca's trust
 * domain and host ID, a host_key that is not host_ca's key, and evidence
 * that does not parse as a creation attestation; ATTEST_E_TTL for a TTL out
 * of range or an expired issuer. *out is the caller's (X509_free). */
int attest_x509_make_agent_ca(X509 *host_ca, const struct attest_agent_ca_params *p,
			      const struct attest_signer *host_key, X509 **out) ATTEST_MUST_CHECK;

/* Session issuer: CA:TRUE pathlen:0, keyCertSign, SAN URI spiffe://<td>,
 * name constraint permitted URI:<td>, the agent CA's agent ID and UUID
 * extensions, ttl 1..15 minutes clamped to the agent CA's notAfter, for a
 * software key. agent_ca must be an agent CA (pathlen 1, agent ID) whose
 * key is agent_key's. *out is the caller's. */
int attest_x509_make_session_issuer(X509 *agent_ca, EVP_PKEY *session_key, long ttl,
				    const struct attest_signer *agent_key,
				    X509 **out) ATTEST_MUST_CHECK;

struct attest_leaf_params {
	EVP_PKEY *pub;       /* the agent's key (from a verified CSR) or ours */
	long ttl;            /* clamped to the issuer's notAfter */
	const char *task_id; /* may be NULL */
	const char *scopes;  /* space-separated, may be NULL */
	const uint8_t *intent; /* may be NULL: the intent extension is then absent */
	size_t intent_len;
	int delegate_depth;  /* 0..3: the registration's delegate_depth */
	/* DNS names after the URI SAN (attest_dns_name_ok each, none twice, at
	 * most ATTEST_LEAF_DNS_MAX): the caller checked them against the
	 * agent's registration; ndns 0 for none */
	const char *const *dns;
	size_t ndns;
};
/* Leaf: CA:FALSE, digitalSignature, EKU serverAuth+clientAuth, exactly one
 * URI SAN = the issuer's agent ID (then p->dns as DNS SANs),
 * task/scopes/intent extensions. issuer
 * is an agent CA (strict mode) or a session issuer, and s signs with its
 * key. task_id and scopes are printable ASCII up to ATTEST_TASK_ID_MAX and
 * ATTEST_SCOPES_MAX, the intent up to ATTEST_INTENT_MAX bytes. *out is the
 * caller's, made to be encoded (i2d_X509, PEM) and sent: an EC p->pub goes
 * into the SubjectPublicKeyInfo from its raw point, without OpenSSL 3's
 * encoder/decoder round trip, so *out holds no parsed copy of the key and
 * X509_get0_pubkey(*out) is NULL. A relying party parses the DER, which
 * has it (issue 17). */
int attest_x509_make_leaf(X509 *issuer, const struct attest_leaf_params *p,
			  const struct attest_signer *s, X509 **out) ATTEST_MUST_CHECK;

/* A UTF8String extension's value by OID text; *out malloc'd. ATTEST_E_NOT_FOUND
 * when absent, ATTEST_E_PARSE when it appears twice, is not exactly one
 * UTF8String, holds a NUL or is longer than 1024 bytes. */
int attest_x509_ext_utf8(X509 *cert, const char *oid, char **out) ATTEST_MUST_CHECK;
/* 1 when the space-separated scope list has scope s (as the scopes
 * extension and registrations write them), else 0. */
int attest_scopes_has(const char *scopes, const char *s);
/* An OCTET STRING extension's bytes (at most cap); *out malloc'd, *len its
 * length. ATTEST_E_NOT_FOUND when absent, ATTEST_E_PARSE otherwise. */
int attest_x509_ext_octets(X509 *cert, const char *oid, size_t cap, uint8_t **out,
			   size_t *len) ATTEST_MUST_CHECK;
/* The intent chain a leaf carries (ATTEST_OID_INTENT: one OCTET STRING of
 * at most ATTEST_INTENT_MAX bytes, no NUL); *out malloc'd. The same codes. */
int attest_x509_ext_intent(X509 *cert, char **out) ATTEST_MUST_CHECK;
/* The leaf's delegation rights (ATTEST_OID_DELEGATE_DEPTH) into *out;
 * ATTEST_E_NOT_FOUND when absent, ATTEST_E_PARSE unless "0".."3". */
int attest_x509_delegate_depth(X509 *cert, int *out) ATTEST_MUST_CHECK;

/* ---- shared with verify.c ---- */

/* An agent ID spiffe://<td>/host/<host>/agent/<name>, split. */
struct attest_agent_id {
	char td[256];
	char host[ATTEST_MAX_NAME + 1];
	char name[ATTEST_MAX_NAME + 1];
};
/* Exactly that shape: <td> a valid trust domain, <host> and <name> valid
 * host-style names (attest_valid_hostname), nothing before or after.
 * ATTEST_E_PARSE with the reason otherwise. */
int attest_agent_id_parse(const char *id, struct attest_agent_id *out) ATTEST_MUST_CHECK;
/* The one URI (without NUL bytes) of a leaf's subjectAltName, which holds
 * exactly one URI and, beside it, at most ATTEST_LEAF_DNS_MAX DNS names
 * that attest_dns_name_ok accepts, and no other name (the X.509-SVID rule:
 * one URI SAN, DNS SANs allowed; docs/x509.md "DNS names"); *out malloc'd.
 * ATTEST_E_NOT_FOUND when there is no SAN, ATTEST_E_PARSE (with the
 * reason) otherwise. */
int attest_x509_one_san_uri(X509 *cert, char **out) ATTEST_MUST_CHECK;
/* <td> of a signing certificate whose only SAN (no DNS name beside it) is
 * URI spiffe://<td>. */
int attest_x509_ca_trust_domain(X509 *cert, char td[256]) ATTEST_MUST_CHECK;

#endif
