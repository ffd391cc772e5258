/* rp_decide.c - a relying party built against libattest-verify alone
 * (scripts/check-verify-lib.sh): decides one request offline and prints
 * "allow" or "deny <code> <detail>". Links no ESYS, TCTI, libcurl or
 * libevent; the check fails if it needs them.
 *   rp_decide FLEET-ROOT.pem CHAIN.pem ACTION RESOURCE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "attest/decide.h"

/* No fleet view here: every host and agent is unknown (a real relying
 * party asks its inventory). */
static int no_host(void *arg, const char *host, struct attest_host_facts *out)
{
	(void)arg, (void)host, (void)out;
	return ATTEST_E_NOT_FOUND;
}

static int no_agent(void *arg, const char *id, struct attest_agent_facts *out)
{
	(void)arg, (void)id, (void)out;
	return ATTEST_E_NOT_FOUND;
}

int main(int argc, char **argv)
{
	struct attest_facts facts = { no_host, no_agent, NULL };
	struct attest_decider *d = NULL;
	struct attest_intent_trust *trust = NULL; /* no intent issuers */
	struct attest_decision out;
	struct attest_decide_req req;
	X509 *root = NULL;
	FILE *f = NULL;
	char *pem = NULL;
	long n;
	int rc = 2;

	if (argc != 5) {
		fprintf(stderr, "usage: rp_decide FLEET-ROOT.pem CHAIN.pem ACTION RESOURCE\n");
		return 2;
	}
	if ((f = fopen(argv[1], "r")) == NULL || (root = PEM_read_X509(f, NULL, NULL, NULL)) == NULL) {
		fprintf(stderr, "rp_decide: cannot read the fleet root %s\n", argv[1]);
		goto out;
	}
	fclose(f);
	if ((f = fopen(argv[2], "r")) == NULL || fseek(f, 0, SEEK_END) != 0 ||
	    (n = ftell(f)) < 0 || n > ATTEST_DECIDE_PEM_MAX || fseek(f, 0, SEEK_SET) != 0 ||
	    (pem = malloc((size_t)n + 1)) == NULL || fread(pem, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "rp_decide: cannot read the chain %s\n", argv[2]);
		goto out;
	}
	pem[n] = '\0';
	if (attest_intent_trust_new(&trust) != ATTEST_OK ||
	    attest_decider_new(root, trust, &facts, &d) != ATTEST_OK) {
		fprintf(stderr, "rp_decide: %s\n", attest_errdetail());
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.pem = pem;
	req.pem_len = (size_t)n;
	req.action = argv[3];
	req.resource = argv[4];
	if (attest_decide(d, &req, &out) == ATTEST_OK && out.allow) {
		printf("allow\n");
		rc = 0;
	} else {
		printf("deny %s %s\n", attest_errname(out.reason), out.detail);
		rc = 1;
	}
out:
	if (f != NULL)
		fclose(f);
	attest_decider_free(d);
	attest_intent_trust_free(trust);
	X509_free(root);
	free(pem);
	return rc;
}
