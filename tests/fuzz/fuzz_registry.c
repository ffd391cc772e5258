/* fuzz_registry.c - libFuzzer target for attestd's agent records
 * (attestd/registry.c, STATE/agents/<name>.json, read at start-up by
 * registry_load):
 *   registry_record_parse (attest_json_parse, then every field: names,
 *   paths, base64 digests of fixed size, the key's TPM2B_PUBLIC and
 *   TPM2B_PRIVATE, its auth value, creation evidence, string lists, uids,
 *   limits, the DNS names, the agent CA's PEM) and registry_record_print of
 *   what it read.
 * Oracles besides the sanitizers: a record that parses prints, and that
 *   print parses again and prints to the same bytes (nothing read is lost
 *   or changed by a round trip); lists stay within their caps; every DNS
 *   name loaded passes attest_dns_name_ok; the fixed
 *   fields are NUL-terminated within their arrays.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/err.h"
#include "fuzz_fixture.h"
#include "registry.h"

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_registry: %s\n", what);
		abort();
	}
}

static void wipe_free(char *s, size_t len)
{
	if (s != NULL)
		OPENSSL_cleanse(s, len);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent *a = agent_new(), *b = NULL;
	char *p1 = NULL, *p2 = NULL;
	size_t n1 = 0, n2 = 0;

	if (a == NULL)
		return 0;
	if (fz_note("registry_record_parse", registry_record_parse(data, size, a)) != ATTEST_OK)
		goto out;
	check(memchr(a->name, '\0', sizeof(a->name)) != NULL &&
		      memchr(a->id, '\0', sizeof(a->id)) != NULL &&
		      memchr(a->uuid, '\0', sizeof(a->uuid)) != NULL &&
		      memchr(a->tier, '\0', sizeof(a->tier)) != NULL,
	      "unterminated field");
	check(a->nscopes <= AGENT_MAX_SCOPES && a->nclasses <= AGENT_MAX_CLASSES &&
		      a->nenv_allow <= AGENT_MAX_ENV_ALLOW && a->nuids <= AGENT_MAX_UIDS &&
		      a->ndns <= AGENT_MAX_DNS,
	      "list over its cap");
	for (size_t i = 0; i < a->ndns; i++)
		check(attest_dns_name_ok(a->dns[i], NULL), "a DNS name the rule refuses loaded");
	check(a->auth.size <= sizeof(a->auth.buffer) && a->creation_len <= sizeof(a->creation) &&
		      a->creation_sig_len <= sizeof(a->creation_sig),
	      "length over its buffer");
	check(a->max_ttl >= 1 && a->max_ttl <= 86400 && a->delegate_depth >= 0 &&
		      a->delegate_depth <= 3 && a->agent_ca != NULL,
	      "limits");
	check(fz_note("registry_record_print", registry_record_print(a, &p1, &n1)) == ATTEST_OK,
	      "a parsed record does not print");
	check((b = agent_new()) != NULL, "agent_new");
	if (registry_record_parse((const uint8_t *)p1, n1, b) != ATTEST_OK) {
		fprintf(stderr, "fuzz_registry: printed record does not parse: %s\n%.*s\n",
			attest_errdetail(), (int)n1, p1);
		abort();
	}
	check(registry_record_print(b, &p2, &n2) == ATTEST_OK, "reparsed record does not print");
	check(n1 == n2 && memcmp(p1, p2, n1) == 0, "record changed in a print/parse round trip");
out:
	attest_errclear();
	wipe_free(p1, n1);
	wipe_free(p2, n2);
	agent_free(a);
	agent_free(b);
	return 0;
}
