/* hostpush.h - the host's side of the verifier protocol
 * (docs/verifier-api.md "Host endpoints"): the messages attestd and
 * attestctl send, the answers they accept, and attestd's push schedule.
 * No TPM and no sockets here: callers quote, sign (through an
 * attest_signer) and send (httpc.h), so every function can be tested alone.
 *
 * Answers come from the network: each is parsed with attest_json_parse
 * (cap, duplicate keys), unknown keys are refused, every field is typed.
 */
#ifndef LIBATTEST_HOSTPUSH_H
#define LIBATTEST_HOSTPUSH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

#include "attest/attest.h"
#include "net/httpc.h"
#include "tpm/tpm.h"
#include "x509/x509agent.h"

#define ATTEST_PUSH_NONCE_MAX 64
/* The verifier takes request bodies up to 256 KiB; base64 and the other
 * fields of a quote must fit beside the event log. */
#define ATTEST_PUSH_BODY_MAX (256 * 1024)
#define ATTEST_PUSH_EVENTLOG_MAX (180 * 1024) /* an event log pushed with a quote */
#define ATTEST_PUSH_DEFAULT_PCRS 0xffu /* boot PCRs 0-7 */
#define ATTEST_PUSH_URL_MAX 512
/* Failed pushes back off: interval doubled per consecutive failure, at most
 * this long (or the interval itself, if longer). */
#define ATTEST_PUSH_BACKOFF_MAX 900

/* "0-7", "0,2,4-7", "23": PCR indexes 0..23, ranges ascending, no
 * duplicates, no spaces. ATTEST_E_PARSE on anything else or an empty set. */
int attest_pcr_list_parse(const char *s, uint32_t *mask) ATTEST_MUST_CHECK;

/* POST base_url + path (base "https://host:port", an optional trailing
 * slash ignored) with a JSON body. ATTEST_OK only for HTTP 200, with the
 * answer in *resp (malloc'd, NUL-terminated). Any other status is turned
 * into the verifier's error code when its body is the contract's
 * {"error","code","message"} (ATTEST_E_IO otherwise), with the status and
 * message as detail. Transport failures as attest_https_request. */
int attest_verifier_post(const struct attest_httpc_opts *o, const char *base_url,
			 const char *path, const char *body, size_t body_len, char **resp,
			 size_t *resp_len) ATTEST_MUST_CHECK;

/* {"host": host} for POST /v1/hosts/nonce; *out malloc'd. */
int attest_push_nonce_request(const char *host, char **out) ATTEST_MUST_CHECK;
/* {"nonce": b64 (1..ATTEST_PUSH_NONCE_MAX bytes), "expires": "<unix>"}. */
int attest_push_nonce_parse(const char *body, size_t len, uint8_t *nonce, size_t *nonce_len,
			    uint64_t *expires) ATTEST_MUST_CHECK;

/* What POST /v1/hosts/quote carries. pcrs must hold every PCR of pcr_mask. */
struct attest_push_quote {
	const char *host;
	const uint8_t *nonce;
	size_t nonce_len;
	const TPM2B_ATTEST *attest;
	const TPMT_SIGNATURE *sig;
	uint32_t pcr_mask;
	const struct attest_pcrs *pcrs;
	const uint8_t *eventlog; /* NULL: none */
	size_t eventlog_len;
	int renew;
};
/* The request body; ATTEST_E_TOO_LARGE over ATTEST_PUSH_BODY_MAX. */
int attest_push_quote_request(const struct attest_push_quote *q, char **out,
			      size_t *len) ATTEST_MUST_CHECK;

/* Whether a quote's pcrDigest is SHA-256 of pcrs' values for pcr_mask (PCRs
 * read next to a quote can have moved in between): ATTEST_OK, or
 * ATTEST_E_QUOTE_DIGEST / ATTEST_E_PARSE. */
int attest_push_quote_matches(const TPM2B_ATTEST *attest, uint32_t pcr_mask,
			      const struct attest_pcrs *pcrs) ATTEST_MUST_CHECK;

/* The verifier's verdict on a quote. */
struct attest_push_answer {
	char state[16];    /* "trusted", "untrusted", ... */
	int reason;        /* attest_err of reason; ATTEST_E_INTERNAL if unknown */
	char reason_name[48];
	int reboot;
	char refset[128];  /* "" when absent */
	char *host_ca;     /* enrol-result JSON text (malloc'd), or NULL */
	size_t host_ca_len;
	/* agents of this host an operator revoked at the verifier (issue 15):
	 * SPIFFE IDs, malloc'd, at most ATTEST_PUSH_REVOKED_MAX */
	char **revoked_agents;
	size_t nrevoked;
};
#define ATTEST_PUSH_REVOKED_MAX 256
int attest_push_answer_parse(const char *body, size_t len,
			     struct attest_push_answer *a) ATTEST_MUST_CHECK;
void attest_push_answer_clear(struct attest_push_answer *a);

/* One registered agent as the inventory report lists it. */
struct attest_report_agent {
	const char *id;
	const char *uuid;
	X509 *agent_ca;
	const char *const *scopes;
	size_t nscopes;
	const char *const *data_classes;
	size_t nclasses;
	const char *risk_tier;
	int risk_score;     /* 0-100 */
	int delegate_depth; /* 0-3 */
	int revoked;
};
/* The agent-report text (docs/verifier-api.md), *out malloc'd. */
int attest_agent_report_build(const char *host, uint64_t now,
			      const struct attest_report_agent *agents, size_t n, char **out,
			      size_t *len) ATTEST_MUST_CHECK;
/* One JWT-SVID signing key of the host (attestd/workload_jwt.h) as the
 * report carries it: its kid and the certificate the host CA made for it
 * (issue 14). The verifier checks the certificate against the host CA
 * the report is verified with and the kid against the key. */
struct attest_report_jwtkey {
	const char *kid;
	X509 *cert;
};
#define ATTEST_REPORT_JWTKEYS_MAX 4
/* The same report with "jwt_keys" (0 to ATTEST_REPORT_JWTKEYS_MAX), inside
 * the signed text: the host issuing key vouches for the set, and the
 * report's time makes an older set a replay. nkeys 0: no member. */
int attest_agent_report_build_jwt(const char *host, uint64_t now,
				  const struct attest_report_agent *agents, size_t n,
				  const struct attest_report_jwtkey *keys, size_t nkeys, char **out,
				  size_t *len) ATTEST_MUST_CHECK;
/* The body of POST /v1/agents/report: the report text, the host issuing
 * key's DER ECDSA signature over SHA-256(report) (made by `key`, checked
 * against key->pub before it is returned) and host_ca as PEM. */
int attest_agent_report_sign(const char *report, size_t len, const struct attest_signer *key,
			     X509 *host_ca, char **out, size_t *out_len) ATTEST_MUST_CHECK;
/* The same with "crls": the host's CRLs as one PEM bundle (attestd/crl.h),
 * outside the signed report (each CRL is signed itself), or NULL. */
int attest_agent_report_sign_crls(const char *report, size_t len, const struct attest_signer *key,
				  X509 *host_ca, const char *crls, char **out,
				  size_t *out_len) ATTEST_MUST_CHECK;

/* attestd's schedule. Seconds until the next push: the interval after a
 * success (an answer, good or bad, is a success of the push), else the
 * interval doubled per consecutive failure up to max(interval,
 * ATTEST_PUSH_BACKOFF_MAX); a random quarter of it is taken off (jitter in
 * [0, 1) from the caller) so hosts that lost the verifier together do not
 * return together. Never less than 1. */
long attest_push_delay(long interval, unsigned failures, double jitter);
/* 1 when host_ca has less than a third of its lifetime left at `now` (or is
 * unreadable), else 0: time to ask for renewal with the next quote. */
int attest_push_want_renew(X509 *host_ca, time_t now);

#endif
