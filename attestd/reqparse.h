/* reqparse.h - the pure parse steps of attestd's request handlers: a
 * request (cJSON from a frame, attest_json_parse) or a PEM field in, a
 * typed struct or an error out; no I/O, no registry, no TPM, no global
 * state. The handlers (issue.c, register.c) call these, then act; each is
 * fuzzed alone (tests/fuzz/fuzz_attestd.c, fuzz_csr.c). */
#ifndef ATTESTD_REQPARSE_H
#define ATTESTD_REQPARSE_H

#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/attest.h"
#include "mint.h"
#include "registry.h"

/* The "csr" field: PEM PKCS#10, at most this many bytes. */
#define ATTESTD_CSR_MAX 16384

/* issue: the request's fields into o (name, mode, ttl, scopes, task_id,
 * parent, renew, dns_names); *mode ("strict" when absent), *csr, *intent and *renew
 * point into req. */
int attestd_issue_parse(const cJSON *req, struct mint_order *o, const char **mode,
			const char **csr, const char **intent,
			const char **renew) ATTEST_MUST_CHECK;

/* The "csr" field: one PEM PKCS#10 request (len bytes, at most
 * ATTESTD_CSR_MAX) signed by the key it carries (proof of possession), the
 * key ECDSA P-256/P-384 or RSA >= 2048; *pub gets a reference to it.
 * ATTEST_E_CSR otherwise. */
int attestd_csr_key(const char *pem, size_t len, EVP_PKEY **pub) ATTEST_MUST_CHECK;

/* The "renew" field (NUL-terminated): the agent's current leaf, optionally
 * followed by the rest of the chain attestd returned (at most 5
 * certificates, every one of which parses), and nothing after the last.
 * It must verify at now to agent_ca (the only anchor) and name agent id;
 * *token gets the intent chain of its extension (malloc'd). name is for
 * messages. */
int attestd_renewal_leaf(const char *name, const char *id, X509 *agent_ca, const char *pem,
			 time_t now, char **token) ATTEST_MUST_CHECK;

#endif
