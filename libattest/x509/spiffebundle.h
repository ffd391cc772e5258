/* spiffebundle.h - other trust domains' SPIFFE bundles (docs/spiffe.md
 * "Federation"): the operator's entry (a trust domain, its https_web
 * bundle endpoint and the CA that endpoint's TLS certificate must chain
 * to), the strict parser of a fetched bundle, and the list of entries as
 * JSON. One parser for both daemons: attestd's front hands federated
 * bundles to workloads, the verifier decides for federated agents
 * (docs/policy.md "Federated trust domains"). No state, no I/O. */
#ifndef LIBATTEST_SPIFFEBUNDLE_H
#define LIBATTEST_SPIFFEBUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "attest/attest.h"

#define FED_MAX 8                 /* federated trust domains */
#define FED_TD_MAX 255            /* bytes of a trust domain name */
#define FED_URL_MAX 512           /* bytes of a bundle endpoint URL */
#define FED_CA_MAX (64 * 1024)    /* PEM bytes of an endpoint's CA */
#define FED_BUNDLE_MAX (256 * 1024) /* bytes of a fetched bundle (httpc's cap) */
#define FED_KEYS_MAX 32           /* keys of a fetched bundle */
#define FED_X509_MAX 16           /* X.509 authorities kept of one bundle */
#define FED_DER_MAX (64 * 1024)   /* DER bytes of those (WL_BUNDLE_MAX) */
#define FED_JWKS_MAX (64 * 1024)  /* bytes of the JWT bundle kept */
#define FED_REFRESH_DEFAULT 300   /* s, without spiffe_refresh_hint */
#define FED_REFRESH_MIN 30        /* s: a hint below is raised to this */
#define FED_REFRESH_MAX 86400     /* s: a hint above is lowered to this */

/* One federated trust domain as the operator configured it. */
struct fed_conf {
	char td[FED_TD_MAX + 1];   /* "partner.example" (no scheme) */
	char url[FED_URL_MAX + 1]; /* https://... */
	uint8_t *ca;               /* PEM, malloc'd */
	size_t ca_len;
};

struct fed_list {
	struct fed_conf e[FED_MAX];
	uint32_t n;
};
void fed_list_clear(struct fed_list *l);

/* A trust domain name as the SPIFFE ID specification allows: 1-255 of
 * [a-z0-9.-_], no scheme. */
int fed_td_ok(const char *td) ATTEST_MUST_CHECK;
/* The whole entry: the name, an https URL without spaces, userinfo or
 * fragment, a CA of 1-16 PEM certificates that parse. ATTEST_OK or
 * ATTEST_E_PARSE with the reason. */
int fed_conf_check(const struct fed_conf *c) ATTEST_MUST_CHECK;

/* A fetched bundle, parsed (docs/spiffe.md "strict"). */
struct fed_bundle {
	uint8_t *der;     /* the x509-svid authorities, DER, concatenated */
	size_t der_len;
	uint32_t nx509;
	char *jwks;       /* {"keys":[...]}: the jwt-svid keys, as received members only */
	uint32_t njwt;
	uint64_t seq;     /* spiffe_sequence (0: none) */
	int has_seq;
	long refresh_s;   /* spiffe_refresh_hint, within FED_REFRESH_MIN..MAX */
};
void fed_bundle_clear(struct fed_bundle *b);
/* Parse a SPIFFE bundle (a JWKS with use x509-svid / jwt-svid keys):
 * ATTEST_OK and *out, or ATTEST_E_PARSE / ATTEST_E_TOO_LARGE /
 * ATTEST_E_DUPLICATE_KEY / ATTEST_E_CRYPTO with the reason. Keys of
 * another `use` are ignored, as the specification says; a bundle with no
 * key of ours is refused. */
int fed_bundle_parse(const char *json, size_t len, struct fed_bundle *out) ATTEST_MUST_CHECK;
/* The EC public key of a JWK's crv ("P-256", "P-384", "P-521"), x and y
 * (base64url), checked on its curve: ATTEST_OK and *out (EVP_PKEY_free),
 * or ATTEST_E_PARSE. */
int fed_jwk_ec_key(const char *crv, const char *x, const char *y,
		   EVP_PKEY **out) ATTEST_MUST_CHECK;
/* The P-256 key kid names in a kept JWT bundle (fed_bundle.jwks):
 * ATTEST_OK and *out (EVP_PKEY_free); ATTEST_E_NOT_FOUND when no key has
 * that kid, ATTEST_E_DENIED when it is no P-256 key (ES256 only). */
int fed_jwks_p256(const char *jwks, const char *kid, EVP_PKEY **out) ATTEST_MUST_CHECK;
/* Whether a and b carry the same keys. */
int fed_bundle_same(const struct fed_bundle *a, const struct fed_bundle *b);

/* The list as JSON: {"federations": [{"trust_domain", "bundle_url",
 * "ca_pem"}, ...]} (attestd's STATE/federation.json, the verifier's
 * --federation file), every entry checked (fed_conf_check), a trust
 * domain at most once. where names the source in the error. ATTEST_OK or
 * ATTEST_E_STATE / ATTEST_E_PARSE with the entry and the reason. */
int fed_list_parse(const char *json, size_t len, const char *where,
		   struct fed_list *l) ATTEST_MUST_CHECK;
/* The entry of trust domain td, or NULL. */
const struct fed_conf *fed_list_find(const struct fed_list *l, const char *td);

#endif
