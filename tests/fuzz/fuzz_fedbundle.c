/* fuzz_fedbundle.c - libFuzzer target for libattest/x509/spiffebundle.c:
 *   fed_bundle_parse (a federated trust domain's SPIFFE bundle, fetched
 *   by attestd's front from a remote bundle endpoint: JSON, JWKs, x5c
 *   DER certificates). The input is the body the endpoint sent.
 * Oracles besides the sanitizers: an accepted bundle is within every cap
 *   (authorities, DER bytes, JWT keys, refresh hint), its DER is exactly
 *   nx509 whole CA certificates, its JWT bundle is a JSON object whose
 *   "keys" are njwt objects with a unique kid and use jwt-svid, and a
 *   second parse of the same bytes gives the same bundle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/err.h"
#include "x509/spiffebundle.h"
#include "fuzz_fixture.h"

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_fedbundle: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fed_bundle b, again;
	const unsigned char *p;
	cJSON *j, *keys, *k;
	uint32_t n = 0;

	if (fed_bundle_parse((const char *)data, size, &b) != ATTEST_OK) {
		attest_errclear();
		return 0;
	}
	check(b.nx509 <= FED_X509_MAX && b.der_len <= FED_DER_MAX, "authority caps");
	check(b.nx509 + b.njwt > 0, "a bundle with no key");
	check(b.refresh_s >= FED_REFRESH_MIN && b.refresh_s <= FED_REFRESH_MAX, "refresh hint");
	check((b.der_len == 0) == (b.nx509 == 0), "DER without authorities");
	if (b.der != NULL) { /* none for a bundle of JWT keys only */
		for (p = b.der; p < b.der + b.der_len; n++) {
			X509 *x = d2i_X509(NULL, &p, (long)(b.der + b.der_len - p));

			check(x != NULL && X509_check_ca(x) >= 1,
			      "an authority that is no CA certificate");
			X509_free(x);
		}
		check(p == b.der + b.der_len, "DER is not whole certificates");
	}
	check(n == b.nx509, "DER is not nx509 certificates");
	check(b.jwks != NULL && strlen(b.jwks) <= FED_JWKS_MAX, "JWT bundle");
	j = cJSON_Parse(b.jwks);
	keys = cJSON_GetObjectItemCaseSensitive(j, "keys");
	check(cJSON_IsArray(keys) && (uint32_t)cJSON_GetArraySize(keys) == b.njwt, "JWT keys");
	cJSON_ArrayForEach(k, keys)
	{
		const cJSON *kid = cJSON_GetObjectItemCaseSensitive(k, "kid"), *o;
		int same = 0;

		check(cJSON_IsString(kid) && kid->valuestring[0] != '\0', "kid");
		check(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(k, "use")) &&
			      strcmp(cJSON_GetObjectItemCaseSensitive(k, "use")->valuestring,
				     "jwt-svid") == 0, "use");
		cJSON_ArrayForEach(o, keys)
			same += strcmp(cJSON_GetObjectItemCaseSensitive(o, "kid")->valuestring,
				       kid->valuestring) == 0;
		check(same == 1, "kid twice");
	}
	cJSON_Delete(j);
	check(fed_bundle_parse((const char *)data, size, &again) == ATTEST_OK &&
		      fed_bundle_same(&b, &again) && again.seq == b.seq &&
		      again.refresh_s == b.refresh_s, "a second parse differs");
	fed_bundle_clear(&again);
	fed_bundle_clear(&b);
	return 0;
}
