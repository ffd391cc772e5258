/* workload_jwt.h - JWT-SVIDs for the SPIFFE Workload API (docs/spiffe.md),
 * the monitor's half.
 *
 * JWT-SVIDs are ES256 tokens signed by the host's JWT key: a P-256 key in
 * the monitor's memory (never on disk, like the session issuers), whose
 * certificate the host CA's TPM key signs (CA:FALSE, digitalSignature only,
 * 24 hours at most, never past the host CA), so the key chains to the
 * fleet root through the host's TPM-rooted chain. A new key is made when
 * the current one has less than 2 hours left; the previous one stays in
 * the JWT bundle until it expires (a token lives at most 1 hour). The JWT
 * bundle is the SPIFFE bundle format's JWKS: each key with its kid (the
 * RFC 7638 thumbprint), "use": "jwt-svid" and x5c (its certificate, the
 * host CA, the issuing CA). */
#ifndef ATTESTD_WORKLOAD_JWT_H
#define ATTESTD_WORKLOAD_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"
#include "attestation/hostpush.h"
#include "daemon.h"
#include "mint.h"
#include "monproto.h"
#include "server.h"

#define JWT_AUD_MAX 8        /* audiences of one token */
#define JWT_AUD_LEN 255      /* bytes of one audience */
#define JWT_TTL_MAX 3600     /* a token lives at most an hour */
#define JWT_TOKEN_MAX 4096
#define JWT_KEYS_MAX 2       /* current and previous */

struct workload_jwt;

int workload_jwt_new(struct workload_jwt **out) ATTEST_MUST_CHECK;
void workload_jwt_free(struct workload_jwt *j);

struct jwt_order {
	char aud[JWT_AUD_MAX][JWT_AUD_LEN + 1];
	uint32_t naud; /* 1..JWT_AUD_MAX */
	char want_id[MINT_ID_MAX + 1]; /* "": the caller's, whatever it is */
};

/* A JWT-SVID for the caller on peer (identified as for X.509-SVIDs:
 * workload_mon.h): sub its agent's ID, aud the order's, iat now, exp now +
 * min(agent's max_ttl, --max-ttl, 1 hour). *token malloc'd. */
int workload_jwt_mint(struct workload_jwt *j, struct attestd *d, const struct attestd_peer *peer,
		      const struct jwt_order *o, char id[MINT_ID_MAX + 1],
		      char **token) ATTEST_MUST_CHECK;

/* The JWT bundle as a MON_REPLY body: the JWKS document (string), then
 * the number of keys and each key's kid and DER SubjectPublicKeyInfo (for
 * the front's ValidateJWTSVID: no JWK parsing there). */
int workload_jwt_bundle_put(struct workload_jwt *j, struct attestd *d,
			    struct mon_out *m) ATTEST_MUST_CHECK;

/* The keys for the inventory report (push.h jwt_keys): the current and
 * previous key that have not expired, kid and certificate borrowed from
 * j (valid until the next mint or bundle call). Returns how many. */
size_t workload_jwt_report_keys(struct workload_jwt *j, struct attest_report_jwtkey *out,
				size_t max);

#endif
