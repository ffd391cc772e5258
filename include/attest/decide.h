/* decide.h - point-of-use access decisions (docs/verifier.md "Decisions").
 *
 * attest_decide() takes an agent's certificate chain (the mTLS peer chain,
 * or PEM a resource server forwarded), an action, a resource and context,
 * and decides from: the chain to the fleet root with the attestd path rule,
 * validity windows, the fleet view of hosts and agents (revoked, approved,
 * attested), the agent CA's TPM evidence, the intent chain the leaf
 * carries, and the declarative policy (include/attest/policy.h). Default
 * deny. The verifier serves it over HTTPS; a resource server can link it
 * and supply the fleet view itself.
 *
 * What the caller supplies as the fleet view (struct attest_facts) is read
 * on every decision, so revocations and host state changes apply at once.
 * Verified certificates are cached: a leaf seen before is not verified
 * again (only its validity, the fleet view and the policy are), and a new
 * leaf under an already verified issuer costs one signature check for the
 * leaf (plus its intent chain's). attest_decider_flush() empties the caches
 * (the verifier calls it on every revocation).
 *
 * A decider is used by one thread at a time.
 */
#ifndef ATTEST_DECIDE_H
#define ATTEST_DECIDE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "attest/attest.h"
#include "attest/intent.h"
#include "attest/policy.h"

#define ATTEST_DECIDE_PEM_MAX (64 * 1024) /* PEM chain bytes */
#define ATTEST_DECIDE_CHAIN_MAX 6         /* certificates in a presented chain */

/* A host as the fleet view knows it. Pointers are borrowed until the next
 * callback on the same attest_facts. */
struct attest_host_facts {
	int revoked;
	int trusted;           /* last quote good (not untrusted, not never attested) */
	int64_t last_good;     /* Unix time of the last good quote */
	const uint8_t *ak;     /* marshalled TPM2B_PUBLIC of the enrolled AK */
	size_t ak_len;
};

struct attest_agent_facts {
	int revoked;
	int approved;             /* 1 when approved or approval is not required */
	char uuid[40];            /* registration's UUID */
	uint8_t measurement[32];  /* registration's measurement */
	int risk_tier;            /* enum attest_risk_tier (policy.h) */
	int risk_score;           /* 0..100 */
	const char *scopes;       /* allowed scopes, space-separated: registered,
				   * within the fleet-wide cap */
	const char *data_classes; /* space-separated */
};

/* Each returns ATTEST_OK, ATTEST_E_NOT_FOUND (unknown) or another code
 * (the decision then denies with that code). */
struct attest_facts {
	int (*host)(void *arg, const char *host, struct attest_host_facts *out);
	int (*agent)(void *arg, const char *agent_id, struct attest_agent_facts *out);
	void *arg;
};

struct attest_decider;

/* fleet_root: a reference is taken. trust (intent issuers) and facts are
 * borrowed and must outlive the decider. */
ATTEST_API int attest_decider_new(X509 *fleet_root, const struct attest_intent_trust *trust,
				  const struct attest_facts *facts,
				  struct attest_decider **out) ATTEST_MUST_CHECK;
ATTEST_API void attest_decider_free(struct attest_decider *d);
/* The policy to decide with (borrowed; swap it on reload). Without one
 * every request is denied with ATTEST_E_NO_RULE. */
ATTEST_API void attest_decider_set_policy(struct attest_decider *d, const struct attest_policy *p);
/* Forget every cached verification (revocation, new fleet root). */
ATTEST_API void attest_decider_flush(struct attest_decider *d);
/* Forget the cached leaves of one host's agents (the verifier: after the
 * host's inventory report or a new AK). Its issuers stay: their checks are
 * of certificate bytes, and an agent CA's evidence is checked again when
 * the host's AK in the facts differs from the one it was checked with. */
ATTEST_API void attest_decider_forget_host(struct attest_decider *d, const char *host);
/* The caches' sizes in entries, each 8..1048576 (rounded up to a multiple
 * of 8): leaves (a presented leaf with what was verified of it) and
 * issuers (a CA certificate's verified path and its agent CA's TPM
 * evidence check). Each is set-associative: an entry may sit in either of
 * two sets of 8 ways chosen by its key, the least recently used of the 16
 * replaced. Defaults 16384 and 16384 (about 20 MB at most
 * when full). Empties the caches. ATTEST_E_INVALID_ARG out of range,
 * ATTEST_E_NOMEM (the old caches then stay). */
ATTEST_API int attest_decider_set_cache(struct attest_decider *d, size_t leaves,
					size_t issuers) ATTEST_MUST_CHECK;
struct attest_decider_cache_info {
	uint64_t leaf_hits, leaf_misses, leaf_evictions;
	uint64_t issuer_hits, issuer_misses, issuer_evictions; /* on leaf misses */
	size_t leaf_entries, leaf_used, issuer_entries, issuer_used;
};
/* Counts since the decider was made (evictions: entries replaced by
 * others, not attest_decider_flush), sizes and entries in use. */
ATTEST_API void attest_decider_cache_info(const struct attest_decider *d,
					  struct attest_decider_cache_info *out);
/* Leaf cache lookups since the decider was made: found, and verified
 * afresh. */
ATTEST_API void attest_decider_cache_stats(const struct attest_decider *d, uint64_t *hits,
					   uint64_t *misses);

struct attest_decide_req {
	STACK_OF(X509) *chain;     /* leaf first, then its issuers; or NULL and: */
	const char *pem;           /* PEM certificates, leaf first */
	size_t pem_len;
	const char *action;        /* 1..64 printable ASCII */
	const char *resource;      /* 1..256 printable ASCII */
	const char *const *ctx_keys; /* optional context for the policy */
	const char *const *ctx_values;
	size_t nctx;
	int64_t now;               /* Unix time; 0 = the clock */
	unsigned partition;        /* cache share of the caller (e.g. one per
				    * resource server): its cached leaves are
				    * not evicted by another partition while
				    * within a fair share of the slots; 0 for
				    * a decider with one caller */
	/* optional: the behaviour anomaly score (0..1) of this request for
	 * the policy (max_anomaly, min_anomaly, anomaly_fresh_intent), asked
	 * once the chain, intent and facts are checked, just before the
	 * policy; agent is the caller, user and purpose NULL without intent.
	 * NULL: every request scores 0. */
	double (*anomaly)(void *arg, const char *agent, const char *user, const char *purpose,
			  const char *resource);
	void *anomaly_arg;
};

struct attest_decision {
	int allow;            /* 1 allow, 0 deny */
	int reason;           /* ATTEST_OK, or the first check that denied */
	char rule[64];        /* the policy rule that decided, "" if none */
	char detail[256];     /* readable detail (for logs, not for the agent) */
	char agent[400];      /* the leaf's agent ID, "" if the chain did not parse */
	char host[64];
	/* the verified intent chain, NULL without one; borrowed from the
	 * decider, valid until its next call */
	const struct attest_intent_chain *intent;
};

/* Federated trust domains (docs/spiffe.md "Decisions for federated
 * agents"). With this set, a leaf whose one URI SAN is a SPIFFE ID of
 * another trust domain than own_td is decided apart: lookup(arg, td, &der,
 * &der_len) gives that domain's X.509 authorities (DER certificates one
 * after the other, borrowed for the call) and ATTEST_OK, ATTEST_E_NOT_FOUND
 * when td is not federated (denied ATTEST_E_FED_UNKNOWN), or another code
 * with attest_fail's detail (e.g. ATTEST_E_FED_STALE: denied with it). The
 * presented chain must verify to those authorities only (never the fleet
 * root), the leaf be an X.509-SVID leaf, and an allow rule of the policy
 * accept the domain (attest_policy_eval_federated). No fleet view, no TPM
 * evidence, no cache. Without it every leaf must chain to the fleet root
 * (the default). ATTEST_E_INVALID_ARG when own_td is no trust domain. */
ATTEST_API int attest_decider_set_federation(struct attest_decider *d, const char *own_td,
					     int (*lookup)(void *arg, const char *td,
							   const uint8_t **der, size_t *der_len),
					     void *arg) ATTEST_MUST_CHECK;
/* The trust domain of the last attest_decide call's caller when that was
 * a federated agent (whatever the verdict), else NULL. */
ATTEST_API const char *attest_decider_federated(const struct attest_decider *d);

/* Decide. Returns out->reason: ATTEST_OK to allow, else why not (docs/
 * verifier.md lists the order of checks and the code of each). */
ATTEST_API int attest_decide(struct attest_decider *d, const struct attest_decide_req *req,
			     struct attest_decision *out) ATTEST_MUST_CHECK;
/* The validity span in seconds (notAfter - notBefore) of the leaf of the
 * last attest_decide call on d, when that call got as far as a verified
 * leaf (allowed, or denied after the chain was verified); else 0. The
 * verifier's posture report uses it for leaves at the TTL cap. */
ATTEST_API int64_t attest_decider_leaf_lifetime(const struct attest_decider *d);

#endif
