/* err.c - error codes, their text, and the per-thread detail string. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <tss2/tss2_rc.h>

#include "core/err.h"

static _Thread_local char detail[512];

static const struct {
	const char *name;
	const char *text;
} errtab[ATTEST_E__COUNT] = {
#define E(c, t) [c] = { #c, t }
	E(ATTEST_OK, "success"),
	E(ATTEST_E_INTERNAL, "internal error"),
	E(ATTEST_E_NOMEM, "out of memory"),
	E(ATTEST_E_INVALID_ARG, "invalid argument"),
	E(ATTEST_E_IO, "input/output error"),
	E(ATTEST_E_PARSE, "malformed input"),
	E(ATTEST_E_TOO_LARGE, "input exceeds its size cap"),
	E(ATTEST_E_DUPLICATE_KEY, "duplicate JSON key"),
	E(ATTEST_E_TPM, "TPM command failed"),
	E(ATTEST_E_TPM_AUTH, "TPM authorization failed or TPM in lockout (not retried)"),
	E(ATTEST_E_CRYPTO, "cryptographic operation failed"),
	E(ATTEST_E_TOKEN_MISSING, "join token missing"),
	E(ATTEST_E_TOKEN_UNKNOWN, "join token unknown"),
	E(ATTEST_E_TOKEN_EXPIRED, "join token expired"),
	E(ATTEST_E_TOKEN_USED, "join token already used"),
	E(ATTEST_E_TOKEN_HOST, "join token bound to another host name"),
	E(ATTEST_E_EK_UNTRUSTED, "EK certificate does not chain to a trusted TPM vendor root"),
	E(ATTEST_E_EK_MISMATCH, "EK certificate key does not match the EK public area"),
	E(ATTEST_E_EK_CRITICAL_EXT, "EK certificate has an unknown critical extension"),
	E(ATTEST_E_EK_TEMPLATE, "EK public area is not a supported TCG EK template"),
	E(ATTEST_E_AK_TEMPLATE, "AK public area does not have the required attributes"),
	E(ATTEST_E_CHALLENGE_UNKNOWN, "challenge unknown"),
	E(ATTEST_E_CHALLENGE_EXPIRED, "challenge expired"),
	E(ATTEST_E_CHALLENGE_USED, "challenge already answered (replay)"),
	E(ATTEST_E_SECRET_MISMATCH, "activated credential secret does not match"),
	E(ATTEST_E_EVIDENCE_MAGIC, "attestation magic is not TPM_GENERATED_VALUE"),
	E(ATTEST_E_EVIDENCE_TYPE, "attestation structure has the wrong type"),
	E(ATTEST_E_EVIDENCE_NAME, "attested object name does not match the key sent"),
	E(ATTEST_E_EVIDENCE_QUALIFYING, "attestation qualifyingData does not match"),
	E(ATTEST_E_EVIDENCE_SIGNATURE, "attestation signature invalid or not by the expected key"),
	E(ATTEST_E_EVIDENCE_ATTRS, "attested key does not have the required attributes"),
	E(ATTEST_E_EVIDENCE_CREATION, "creation data does not match the attested creation hash"),
	E(ATTEST_E_HOST_EK_CONFLICT, "host name and EK are already bound differently"),
	E(ATTEST_E_EK_NOT_ALLOWED, "EK is not on the allowlist"),
	E(ATTEST_E_NOT_FOUND, "not found"),
	E(ATTEST_E_STATE, "operation not valid in the current state"),
	E(ATTEST_E_EXISTS, "already exists"),
	E(ATTEST_E_QUOTE_DIGEST, "quote PCR digest does not match the reported PCR values"),
	E(ATTEST_E_QUOTE_SELECTION, "quote PCR selection differs from the required one"),
	E(ATTEST_E_NONCE, "nonce missing, wrong, reused or expired"),
	E(ATTEST_E_PCR_MISMATCH, "PCR values differ from the host's reference values"),
	E(ATTEST_E_AGENT_UNKNOWN, "no agent registered for this name or binary"),
	E(ATTEST_E_MEASUREMENT, "running binary or script differs from the registration"),
	E(ATTEST_E_UID, "caller's uid is not allowed for this agent"),
	E(ATTEST_E_TRACED, "caller is being traced"),
	E(ATTEST_E_ENV, "caller's initial environment holds a variable its agent does not allow"),
	E(ATTEST_E_PROC_CHANGED, "caller process changed (exited, exec'd or PID reused) during the request"),
	E(ATTEST_E_REVOKED, "agent or host revoked"),
	E(ATTEST_E_SCOPE, "scope not allowed"),
	E(ATTEST_E_TTL, "requested lifetime above the allowed maximum"),
	E(ATTEST_E_PATH, "certificate path violates the agent ID constraints"),
	E(ATTEST_E_BUSY, "too many concurrent requests"),
	E(ATTEST_E_TIMEOUT, "peer too slow"),
	E(ATTEST_E_DENIED, "permission denied"),
	E(ATTEST_E_CSR, "certificate request invalid or without proof of possession"),
	E(ATTEST_E_INTENT_ISSUER, "intent grant not signed by a trusted intent issuer"),
	E(ATTEST_E_INTENT_EXPIRED, "intent token expired or not yet valid"),
	E(ATTEST_E_INTENT_AUDIENCE, "intent token addressed to another agent"),
	E(ATTEST_E_INTENT_WIDENED, "delegation widens the scopes or resources of its parent"),
	E(ATTEST_E_INTENT_LIFETIME, "delegation outlives its parent or its delegator's certificate"),
	E(ATTEST_E_INTENT_PURPOSE, "delegation changes the purpose of its parent"),
	E(ATTEST_E_INTENT_DEPTH, "intent delegation depth exceeded"),
	E(ATTEST_E_INTENT_SIGNATURE, "intent token signature invalid or not by the expected key"),
	E(ATTEST_E_INTENT_CHAIN, "delegator's certificate chain or the chain of tokens is invalid"),
	E(ATTEST_E_INTENT_REPLAY, "intent grant already used for a certificate"),
	E(ATTEST_E_QUOTE_COUNTER, "TPM reset, restart or clock counter went backwards"),
	E(ATTEST_E_EVENTLOG, "event log malformed or its replay does not match the quoted PCRs"),
	E(ATTEST_E_EVENTLOG_POLICY, "event log holds an event the reference set does not allow"),
	E(ATTEST_E_HOST_UNTRUSTED, "host is not in the trusted attestation state"),
	E(ATTEST_E_HOST_STALE, "host's last good quote is older than the policy allows"),
	E(ATTEST_E_NOT_APPROVED, "agent registration not approved by an operator"),
	E(ATTEST_E_POLICY, "policy document invalid"),
	E(ATTEST_E_POLICY_DENY, "an explicit deny rule matched"),
	E(ATTEST_E_NO_RULE, "no policy rule allows the request"),
	E(ATTEST_E_CERT_EXPIRED, "certificate expired or not yet valid"),
	E(ATTEST_E_HOST_UNKNOWN, "host not enrolled"),
	E(ATTEST_E_CALLER, "caller not enrolled for this endpoint"),
	E(ATTEST_E_RATE, "rate limit exceeded"),
	E(ATTEST_E_AGENT_EVIDENCE, "agent CA evidence inconsistent with its registration"),
	E(ATTEST_E_REFSET_SIGNATURE, "reference-value set not signed by a trusted operator key"),
	E(ATTEST_E_CHAIN_UNTRUSTED, "certificate chain does not verify to the fleet root"),
	E(ATTEST_E_AUDIT_INCONSISTENT, "audit log checkpoint does not extend the last one"),
	E(ATTEST_E_HTTP_METHOD, "method not allowed on this endpoint"),
	E(ATTEST_E_HTTP_MEDIA_TYPE, "request body is not application/json"),
	E(ATTEST_E_HTTP_HEADERS_TOO_LARGE, "request headers too large"),
	E(ATTEST_E_STATE_LOCKED, "state directory in use by another running instance"),
	E(ATTEST_E_STORE_DAMAGED, "verifier store missing, damaged or holding an invalid row"),
	E(ATTEST_E_CLOCK, "wall clock inconsistent with the TPM's clock (jumped)"),
	E(ATTEST_E_AUDIT_UNANCHORED, "audit records unanchored longer than allowed (checkpoints failing)"),
	E(ATTEST_E_FWD_NO_CERT, "forward authorization: no usable client certificate from the proxy"),
	E(ATTEST_E_FWD_NO_ROUTE, "forward authorization: no policy http route maps the request"),
	E(ATTEST_E_ANOMALY, "behaviour anomaly score over the policy's limit"),
	E(ATTEST_E_ANOMALY_FRESH_INTENT, "anomalous behaviour: a freshly issued intent grant is required"),
	E(ATTEST_E_JWT_ALG, "JWT-SVID: algorithm not accepted (ES256 only)"),
	E(ATTEST_E_JWT_KID, "JWT-SVID: signing key (kid) unknown or expired"),
	E(ATTEST_E_JWT_SIGNATURE, "JWT-SVID: signature does not verify"),
	E(ATTEST_E_JWT_EXPIRED, "JWT-SVID: expired or lifetime over one hour"),
	E(ATTEST_E_JWT_AUDIENCE, "JWT-SVID: not for this audience"),
	E(ATTEST_E_JWT_SUBJECT, "JWT-SVID: sub is not an agent of the key's host"),
	E(ATTEST_E_DNS_NAME_INVALID, "not a DNS name an agent's certificate may carry"),
	E(ATTEST_E_DNS_NAME_UNREGISTERED, "DNS name not registered for this agent"),
	E(ATTEST_E_FED_UNKNOWN, "the leaf's trust domain is neither ours nor federated with this verifier"),
	E(ATTEST_E_FED_STALE, "the federated trust domain's bundle is not fetched or older than allowed"),
	E(ATTEST_E_FED_POLICY, "no policy rule accepts agents of this federated trust domain"),
#undef E
};

const char *attest_strerror(int err)
{
	if (err < 0 || err >= ATTEST_E__COUNT || errtab[err].text == NULL)
		return "unknown error";
	return errtab[err].text;
}

const char *attest_errname(int err)
{
	if (err < 0 || err >= ATTEST_E__COUNT || errtab[err].name == NULL)
		return "ATTEST_E_UNKNOWN";
	return errtab[err].name;
}

const char *attest_errdetail(void) { return detail; }

void attest_errclear(void) { detail[0] = '\0'; }

/* Every setter formats into a scratch buffer and only then replaces the
 * detail, so an argument that points into the detail itself (a caller
 * passing attest_errdetail()) reads the old text intact: aliasing cannot
 * garble a message by construction. */
static void vset(const char *tail, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void vset(const char *tail, const char *fmt, va_list ap)
{
	char buf[sizeof(detail)];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	if (n < 0)
		buf[0] = '\0';
	if (tail != NULL && tail[0] != '\0') {
		size_t used = strlen(buf);

		if (used < sizeof(buf) - 1)
			snprintf(buf + used, sizeof(buf) - used, ": %s", tail);
	}
	memcpy(detail, buf, strlen(buf) + 1);
}

static void append(const char *s)
{
	size_t n = strlen(detail);

	if (n < sizeof(detail) - 1)
		snprintf(detail + n, sizeof(detail) - n, "%s", s);
}

int attest_fail(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(NULL, fmt, ap);
	va_end(ap);
	return code;
}

int attest_fail_wrap(int code, const char *fmt, ...)
{
	char inner[sizeof(detail)];
	va_list ap;

	memcpy(inner, detail, sizeof(inner));
	va_start(ap, fmt);
	vset(inner, fmt, ap);
	va_end(ap);
	return code;
}

int attest_fail_tss(int code, uint32_t rc, const char *fmt, ...)
{
	va_list ap;
	char buf[160];

	va_start(ap, fmt);
	vset(NULL, fmt, ap);
	va_end(ap);
	snprintf(buf, sizeof(buf), ": %s (0x%x)", Tss2_RC_Decode(rc), (unsigned)rc);
	append(buf);
	return code;
}

int attest_fail_ossl(int code, const char *fmt, ...)
{
	va_list ap;
	unsigned long e;
	char buf[256];
	int first = 1;

	va_start(ap, fmt);
	vset(NULL, fmt, ap);
	va_end(ap);
	while ((e = ERR_get_error()) != 0) {
		if (first) {
			append(": ");
			first = 0;
		} else {
			append("; ");
		}
		ERR_error_string_n(e, buf, sizeof(buf));
		append(buf);
	}
	return code;
}
