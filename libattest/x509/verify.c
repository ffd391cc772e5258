/* verify.c - the attestd path constraint for relying parties; see
 * include/attest/verify.h. Structure only: the callback runs after OpenSSL
 * has verified signatures, validity, basic constraints, path lengths and
 * the trust-domain name constraints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "attest/verify.h"
#include "core/err.h"
#include "x509/x509agent.h"

/* ATTEST_E_PATH naming the rule, with the helper's reason appended (copied
 * first: the detail buffer is the one being written). */
static int path_fail(const char *rule)
{
	char inner[512];

	snprintf(inner, sizeof(inner), "%s", attest_errdetail());
	return attest_fail(ATTEST_E_PATH, "%s%s%s", rule, inner[0] != '\0' ? ": " : "", inner);
}

/* The agent ID extension of cert: ATTEST_OK, ATTEST_E_NOT_FOUND, or
 * another error for a malformed one. */
static int agent_id_of(X509 *cert, char **out) { return attest_x509_ext_utf8(cert, ATTEST_OID_AGENT_ID, out); }

int attest_verify_path(STACK_OF(X509) *chain)
{
	struct attest_agent_id id;
	X509 *leaf, *issuer, *agent_ca, *host_ca;
	char *leaf_uri = NULL, *issuer_id = NULL, *ca_id = NULL, *host = NULL;
	char td[256];
	int n, next, r;

	attest_errclear();
	if (chain == NULL || (n = sk_X509_num(chain)) < 3)
		return attest_fail(ATTEST_E_PATH,
				   "chain of %d certificates: want leaf, agent CA and host CA at least",
				   chain == NULL ? 0 : sk_X509_num(chain));
	leaf = sk_X509_value(chain, 0);
	issuer = sk_X509_value(chain, 1);

	/* Rule 1: the leaf is an end entity and carries exactly one URI SAN,
	 * a SPIFFE ID. */
	if (X509_check_ca(leaf) != 0) {
		r = attest_fail(ATTEST_E_PATH, "leaf is a CA certificate");
		goto out;
	}
	if (attest_x509_one_san_uri(leaf, &leaf_uri) != ATTEST_OK) {
		r = path_fail("leaf must carry exactly one URI SAN");
		goto out;
	}
	if (strncmp(leaf_uri, "spiffe://", 9) != 0) {
		r = attest_fail(ATTEST_E_PATH, "leaf SAN %.300s is not a spiffe:// ID", leaf_uri);
		goto out;
	}
	/* Rule 2: its issuer carries an agent ID, and the leaf's ID is that
	 * ID. Only the direct issuer counts: a leaf is issued by an agent CA
	 * or a session issuer, never through another intermediate. */
	if (agent_id_of(issuer, &issuer_id) != ATTEST_OK) {
		r = path_fail("leaf's issuer carries no valid agent ID");
		goto out;
	}
	if (strcmp(leaf_uri, issuer_id) != 0) {
		r = attest_fail(ATTEST_E_PATH, "leaf ID %.300s is not its issuer's agent ID %.300s",
				leaf_uri, issuer_id);
		goto out;
	}
	/* Rule 3: that issuer is an agent CA (pathlen 1), or a session
	 * issuer (pathlen 0) issued by the agent CA of the same agent. */
	switch (X509_get_pathlen(issuer)) {
	case 1:
		next = 1;
		break;
	case 0:
		next = 2;
		agent_ca = sk_X509_value(chain, 2);
		if (agent_id_of(agent_ca, &ca_id) != ATTEST_OK) {
			r = path_fail("session issuer's issuer carries no valid agent ID");
			goto out;
		}
		if (strcmp(ca_id, issuer_id) != 0) {
			r = attest_fail(ATTEST_E_PATH,
					"session issuer's agent ID %.300s differs from its agent CA's %.300s",
					issuer_id, ca_id);
			goto out;
		}
		if (X509_get_pathlen(agent_ca) != 1) {
			r = attest_fail(ATTEST_E_PATH, "session issuer's issuer is not an agent CA (pathlen 1)");
			goto out;
		}
		break;
	default:
		r = attest_fail(ATTEST_E_PATH,
				"leaf's issuer is neither an agent CA (pathlen 1) nor a session issuer (pathlen 0)");
		goto out;
	}
	if (next + 1 >= n) {
		r = attest_fail(ATTEST_E_PATH, "chain ends at the agent CA: its host CA is missing");
		goto out;
	}
	/* Rule 4: the agent CA's issuer is a host CA: host ID extension and
	 * SAN spiffe://<td>. */
	host_ca = sk_X509_value(chain, next + 1);
	if (attest_x509_ext_utf8(host_ca, ATTEST_OID_HOST_ID, &host) != ATTEST_OK) {
		r = path_fail("agent CA's issuer carries no valid host ID");
		goto out;
	}
	if (attest_x509_ca_trust_domain(host_ca, td) != ATTEST_OK) {
		r = path_fail("host CA's SAN must be exactly spiffe://<trust domain>");
		goto out;
	}
	/* Rule 5: the host CA is issued by the fleet (its issuing CA, or the
	 * root), never by another host CA or an agent CA: a host key must not
	 * mint host CAs for other hosts. OpenSSL's path lengths alone allow
	 * host CA (pathlen 2) -> forged host CA -> agent CA -> leaf. The
	 * issuer is checked when the chain carries it (verified chains always
	 * do: it is the issuing CA or the trust anchor). */
	if (next + 2 < n) {
		X509 *above = sk_X509_value(chain, next + 2);
		char *v = NULL;
		int hr = attest_x509_ext_utf8(above, ATTEST_OID_HOST_ID, &v), ar;

		free(v);
		v = NULL;
		ar = agent_id_of(above, &v);
		free(v);
		if (hr != ATTEST_E_NOT_FOUND || ar != ATTEST_E_NOT_FOUND) {
			r = attest_fail(ATTEST_E_PATH, "host CA %.63s is issued by a host or agent CA, "
					"not by the fleet's issuing CA", host);
			goto out;
		}
	}
	/* Rule 6: the agent ID is spiffe://<td>/host/<host>/agent/<name>. */
	if (attest_agent_id_parse(issuer_id, &id) != ATTEST_OK) {
		r = path_fail("agent ID is not spiffe://<td>/host/<host>/agent/<name>");
		goto out;
	}
	if (strcmp(id.td, td) != 0 || strcmp(id.host, host) != 0) {
		r = attest_fail(ATTEST_E_PATH, "agent ID %.300s is not under host %.63s of %.255s",
				issuer_id, host, td);
		goto out;
	}
	r = ATTEST_OK;
out:
	free(host);
	free(ca_id);
	free(issuer_id);
	free(leaf_uri);
	return r;
}

int attest_x509_verify_cb(int preverify_ok, X509_STORE_CTX *ctx)
{
	/* Keep OpenSSL's verdict on errors; our rule needs the whole chain,
	 * which is final when depth 0 is reported after signatures. */
	if (!preverify_ok || X509_STORE_CTX_get_error_depth(ctx) != 0)
		return preverify_ok;
	if (attest_verify_path(X509_STORE_CTX_get0_chain(ctx)) != ATTEST_OK) {
		X509_STORE_CTX_set_error(ctx, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	return 1;
}
