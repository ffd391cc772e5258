/* attestctl - attestd's admin CLI on an agent host.
 *
 * host enroll  three steps against the fleet CA (messages travel as files,
 *              or over HTTPS with the verifier: attestctl_host.c)
 * host attest  attestd pushes a quote to the verifier now (attestctl_host.c)
 * host show    the host's identity and its host CA certificate
 * tpm info     EK certificates present and TPM handle usage
 * audit ...    the audit log (attestctl_audit.c)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest/attest.h"
#include "attestctl_agent.h"
#include "attestctl_audit.h"
#include "attestctl_host.h"
#include "cli.h"
#include "enrol/enrol.h"
#include "core/json.h"
#include "tpm/tpm.h"
#include "x509/x509.h"

#define DEFAULT_STATE "/var/lib/attestd"
#define PATH_CAP 4096

static const char *const tcti_help =
	"TPM TCTI (default $ATTEST_TCTI, else " ATTEST_TPM_DEFAULT_TCTI ")";

/* Status lines go to stdout unless stdout carries the message itself. */
static FILE *info(const char *out) { return out != NULL && strcmp(out, "-") == 0 ? stderr : stdout; }

static int enrol_begin(const char *state, const char *host, const char *token, const char *ek,
		       const char *tcti, const char *out)
{
	enum attest_ek_kind kind = ATTEST_EK_NONE;
	struct attest_tpm *t = NULL;
	char *req = NULL;
	int r;

	if (ek != NULL && (kind = attest_ek_kind_parse(ek)) == ATTEST_EK_NONE)
		return cli_usage_error("--ek: \"%s\" is not rsa2048, p256 or p384", ek);
	if (token == NULL && (token = getenv("ATTEST_JOIN_TOKEN")) != NULL && token[0] == '\0')
		token = NULL;
	if ((r = cli_open_tpm(tcti, &t)) != CLI_EXIT_OK)
		return r;
	r = attest_host_enrol_begin(t, state, host, token, kind, &req);
	attest_tpm_close(t);
	if (r != ATTEST_OK)
		return cli_fail(r, "start enrolment of %s", host);
	if ((r = cli_write(out, req, strlen(req))) == CLI_EXIT_OK)
		fprintf(info(out), "enrolment of %s started (%s); send %s to the fleet CA\n", host,
			token != NULL ? "join token" : "allowlisted EK", out);
	free(req);
	return r;
}

/* Answer a CA challenge with the TPM: enrolment or renewal. */
typedef int (*host_answer_fn)(struct attest_tpm *t, const char *state_dir, const void *msg,
			      size_t len, char **out);

static int host_answer(host_answer_fn fn, const char *state, const char *in, const char *tcti,
		       const char *out)
{
	struct attest_tpm *t = NULL;
	uint8_t *msg = NULL;
	char *resp = NULL;
	size_t len;
	int r;

	if ((r = cli_read(in, ATTEST_ENROL_MSG_CAP, &msg, &len)) != CLI_EXIT_OK)
		return r;
	if ((r = cli_open_tpm(tcti, &t)) != CLI_EXIT_OK)
		goto out;
	if ((r = fn(t, state, msg, len, &resp)) != ATTEST_OK) {
		r = cli_fail(r, "answer challenge %s", in);
		goto out;
	}
	if ((r = cli_write(out, resp, strlen(resp))) == CLI_EXIT_OK)
		fprintf(info(out), "challenge answered; send %s to the fleet CA\n", out);
out:
	attest_tpm_close(t);
	free(resp);
	free(msg);
	return r;
}

static int enrol_finish(const char *state, const char *in, const char *root)
{
	uint8_t *msg = NULL;
	size_t len;
	int r;

	if ((r = cli_read(in, ATTEST_ENROL_MSG_CAP, &msg, &len)) != CLI_EXIT_OK)
		return r;
	if ((r = attest_host_enrol_finish(state, msg, len, root)) != ATTEST_OK)
		r = cli_fail(r, "install enrolment result %s", in);
	else
		printf("enrolled: host CA certificate in %s/host-ca.pem, its issuing CA in "
		       "%s/issuing-ca.pem, fleet root in %s/root.pem\n", state, state, state);
	free(msg);
	return r;
}

static int cmd_enroll(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *state, *host, *token, *ek, *out, *answer, *finish, *root, *tcti, *url, *vca;
	const struct cli_opt opts[] = {
		{ "state", "DIR", "attestd state directory (" DEFAULT_STATE ")", 0, &state },
		{ "host", "NAME", "step 1: start enrolling as NAME", 0, &host },
		{ "token", "T", "step 1: join token (default $ATTEST_JOIN_TOKEN)", 0, &token },
		{ "ek", "KIND", "step 1: rsa2048, p256 or p384 (default: first present)", 0, &ek },
		{ "answer", "FILE", "step 2: answer this enrol-challenge", 0, &answer },
		{ "finish", "FILE", "step 3: install this enrol-result", 0, &finish },
		{ "root", "PEM", "step 3: require this pinned fleet root", 0, &root },
		{ "out", "FILE", "steps 1 and 2: message for the CA (- for stdout)", 0, &out },
		{ "tcti", "CONF", tcti_help, 0, &tcti },
		{ "verifier", "URL", "all steps at once over HTTPS with this verifier", 0, &url },
		{ "verifier-ca", "PEM", "CA of the verifier's TLS certificate (with --verifier)", 0, &vca },
		{ 0 },
	};
	int r;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED)
		return r;
	if (state == NULL)
		state = DEFAULT_STATE;
	if (url != NULL || vca != NULL) {
		enum attest_ek_kind kind = ATTEST_EK_NONE;
		struct attest_tpm *t = NULL;

		if (url == NULL || vca == NULL || host == NULL || answer != NULL || finish != NULL ||
		    out != NULL)
			return cli_usage_error("--verifier takes --verifier-ca and --host, and no "
					       "--answer, --finish or --out");
		if (ek != NULL && (kind = attest_ek_kind_parse(ek)) == ATTEST_EK_NONE)
			return cli_usage_error("--ek: \"%s\" is not rsa2048, p256 or p384", ek);
		if (token == NULL && (token = getenv("ATTEST_JOIN_TOKEN")) != NULL && token[0] == '\0')
			token = NULL;
		if ((r = cli_open_tpm(tcti, &t)) != CLI_EXIT_OK)
			return r;
		r = host_enroll_https(t, state, host, token, kind, root, url, vca);
		attest_tpm_close(t);
		return r;
	}
	if ((host != NULL) + (answer != NULL) + (finish != NULL) != 1)
		return cli_usage_error("give exactly one of --host, --answer or --finish");
	if (host == NULL && (token != NULL || ek != NULL))
		return cli_usage_error("--token and --ek belong to the first step (--host)");
	if (root != NULL && finish == NULL)
		return cli_usage_error("--root belongs to the last step (--finish)");
	if ((finish == NULL) != (out != NULL))
		return cli_usage_error(finish == NULL ? "--out is required" :
							"--finish writes no message; drop --out");
	if (finish != NULL)
		return enrol_finish(state, finish, root);
	if (answer != NULL)
		return host_answer(attest_host_enrol_answer, state, answer, tcti, out);
	return enrol_begin(state, host, token, ek, tcti, out);
}

static int renew_finish(const char *state, const char *in)
{
	uint8_t *msg = NULL;
	size_t len;
	int r;

	if ((r = cli_read(in, ATTEST_ENROL_MSG_CAP, &msg, &len)) != CLI_EXIT_OK)
		return r;
	if ((r = attest_host_renew_finish(state, msg, len)) != ATTEST_OK)
		r = cli_fail(r, "install renewed certificate %s", in);
	else
		printf("renewed: new host CA certificate in %s/host-ca.pem\n", state);
	free(msg);
	return r;
}

static int cmd_renew(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *state, *out, *answer, *finish, *tcti;
	const struct cli_opt opts[] = {
		{ "state", "DIR", "attestd state directory (" DEFAULT_STATE ")", 0, &state },
		{ "answer", "FILE", "step 1: quote for this renew-challenge", 0, &answer },
		{ "finish", "FILE", "step 2: install this enrol-result", 0, &finish },
		{ "out", "FILE", "step 1: message for the CA (- for stdout)", 0, &out },
		{ "tcti", "CONF", tcti_help, 0, &tcti },
		{ 0 },
	};
	int r;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED)
		return r;
	if (state == NULL)
		state = DEFAULT_STATE;
	if ((answer != NULL) + (finish != NULL) != 1)
		return cli_usage_error("give exactly one of --answer or --finish");
	if ((finish == NULL) != (out != NULL))
		return cli_usage_error(finish == NULL ? "--out is required" :
							"--finish writes no message; drop --out");
	if (finish != NULL)
		return renew_finish(state, finish);
	return host_answer(attest_host_renew_answer, state, answer, tcti, out);
}

/* Our host ID extension: a DER UTF8String holding a valid host name. */
static void print_host_id(BIO *b, X509_EXTENSION *ext)
{
	const ASN1_OCTET_STRING *data = X509_EXTENSION_get_data(ext);
	const unsigned char *p = ASN1_STRING_get0_data(data);
	const unsigned char *end = p + ASN1_STRING_length(data);
	ASN1_UTF8STRING *s = d2i_ASN1_UTF8STRING(NULL, &p, end - p);
	char name[ATTEST_MAX_NAME + 1];
	int n = s != NULL ? ASN1_STRING_length(s) : -1;

	if (s != NULL && p == end && n > 0 && n <= ATTEST_MAX_NAME &&
	    memchr(ASN1_STRING_get0_data(s), '\0', (size_t)n) == NULL) {
		memcpy(name, ASN1_STRING_get0_data(s), (size_t)n);
		name[n] = '\0';
		if (attest_valid_hostname(name)) {
			BIO_printf(b, "    attestd host ID: %s", name);
			ASN1_UTF8STRING_free(s);
			return;
		}
	}
	ASN1_UTF8STRING_free(s);
	ERR_clear_error();
	BIO_printf(b, "    attestd host ID: (malformed extension)");
}

static int print_cert(X509 *x, const char *label)
{
	ASN1_OBJECT *host_oid = OBJ_txt2obj(ATTEST_OID_HOST_ID, 1);
	BIO *b = BIO_new_fp(stdout, BIO_NOCLOSE);
	int r;

	if (host_oid == NULL || b == NULL) {
		r = cli_fail(ATTEST_E_NOMEM, "print certificate");
		goto out;
	}
	BIO_printf(b, "%s:\n", label);
	X509_print_ex(b, x, XN_FLAG_ONELINE,
		      X509_FLAG_NO_HEADER | X509_FLAG_NO_VERSION | X509_FLAG_NO_SIGNAME |
			      X509_FLAG_NO_PUBKEY | X509_FLAG_NO_EXTENSIONS | X509_FLAG_NO_SIGDUMP |
			      X509_FLAG_NO_AUX);
	BIO_printf(b, "        X509v3 extensions:\n");
	for (int i = 0; i < X509_get_ext_count(x); i++) {
		X509_EXTENSION *ext = X509_get_ext(x, i);
		ASN1_OBJECT *obj = X509_EXTENSION_get_object(ext);

		BIO_printf(b, "            ");
		i2a_ASN1_OBJECT(b, obj);
		BIO_printf(b, ":%s\n", X509_EXTENSION_get_critical(ext) ? " critical" : "");
		if (OBJ_cmp(obj, host_oid) == 0) {
			BIO_printf(b, "            ");
			print_host_id(b, ext);
		} else if (!X509V3_EXT_print(b, ext, 0, 16)) {
			ERR_clear_error();
			BIO_printf(b, "%16s", "");
			ASN1_STRING_print(b, X509_EXTENSION_get_data(ext));
		}
		BIO_printf(b, "\n");
	}
	r = BIO_flush(b) == 1 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
	BIO_free(b);
	ASN1_OBJECT_free(host_oid);
	return r;
}

static int cmd_show(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *state;
	const struct cli_opt opts[] = {
		{ "state", "DIR", "attestd state directory (" DEFAULT_STATE ")", 0, &state },
		{ 0 },
	};
	struct attest_host_identity id;
	int r;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED)
		return r;
	if (state == NULL)
		state = DEFAULT_STATE;
	if ((r = attest_host_identity_load(state, &id)) != ATTEST_OK)
		return cli_fail(r, "load the identity in %s", state);
	printf("%-14s %s\n%-14s %s\n%-14s %s\n", "host", id.host, "trust_domain", id.trust_domain,
	       "ek_kind", id.ek_kind);
	r = print_cert(id.host_ca, "host CA certificate");
	attest_host_identity_clear(&id);
	return r;
}

static int cmd_tpm_info(const struct cli_cmd *cmd, int argc, char **argv)
{
	static const enum attest_ek_kind kinds[] = { ATTEST_EK_RSA2048, ATTEST_EK_P256,
						     ATTEST_EK_P384 };
	const char *tcti;
	const struct cli_opt opts[] = {
		{ "tcti", "CONF", tcti_help, 0, &tcti },
		{ 0 },
	};
	struct attest_tpm *t = NULL;
	enum attest_ek_kind kind;
	size_t objects, sessions;
	int r, status = CLI_EXIT_OK;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED ||
	    (r = cli_open_tpm(tcti, &t)) != CLI_EXIT_OK)
		return r;
	printf("EK certificates:\n");
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		uint8_t *der = NULL;
		const unsigned char *p;
		size_t len = 0;
		X509 *x;

		printf("  %-8s NV 0x%08x  ", attest_ek_kind_name(kinds[i]),
		       attest_ek_nv_index(kinds[i]));
		r = attest_tpm_ek_cert(t, kinds[i], &der, &len);
		if (r == ATTEST_E_NOT_FOUND) {
			printf("absent\n");
			continue;
		}
		if (r != ATTEST_OK) {
			printf("unreadable\n");
			status = cli_fail(r, "read %s EK certificate", attest_ek_kind_name(kinds[i]));
			continue;
		}
		p = der;
		x = d2i_X509(NULL, &p, (long)len);
		printf("present, %zu bytes", len);
		if (x != NULL) {
			printf(", issuer ");
			X509_NAME_print_ex_fp(stdout, X509_get_issuer_name(x), 0, XN_FLAG_ONELINE);
		} else {
			printf(", not parseable DER");
			ERR_clear_error();
		}
		printf("\n");
		X509_free(x);
		free(der);
	}
	if ((r = attest_tpm_ek_detect(t, &kind)) == ATTEST_OK)
		printf("enrolment uses: %s EK\n", attest_ek_kind_name(kind));
	else
		status = cli_fail(r, "choose an EK");
	if ((r = attest_tpm_count_handles(t, &objects, &sessions)) == ATTEST_OK)
		printf("transient objects: %zu\nsessions: %zu\n", objects, sessions);
	else
		status = cli_fail(r, "count TPM handles");
	attest_tpm_close(t);
	return status;
}

static const struct cli_cmd cmds[] = {
	{ { "host", "enroll" }, cmd_enroll, "enrol this host with the fleet CA (3 steps)",
	  "  1. --host NAME [--token T] --out request.json   send request.json to the CA\n"
	  "  2. --answer challenge.json --out response.json  send response.json to the CA\n"
	  "  3. --finish result.json [--root PINNED.pem]     installs host-ca.pem\n"
	  "Or all three over HTTPS with the verifier that runs the fleet CA:\n"
	  "  --host NAME [--token T] --root PINNED.pem --verifier URL --verifier-ca PEM\n"
	  "Steps 1 and 2 use the TPM; the host issuing key never leaves it." },
	{ { "host", "attest" }, cmd_host_attest,
	  "attestd pushes a quote to the verifier now; prints its verdict",
	  "Exit status 0 when the verifier holds the host trusted, 1 otherwise.\n"
	  "--renew also asks for a new host CA certificate (given after a good quote)." },
	{ { "host", "renew" }, cmd_renew, "renew the host CA certificate with a fresh quote",
	  "  1. --answer renew-challenge.json --out renew-response.json  (quotes boot PCRs)\n"
	  "  2. --finish result.json   installs the new host-ca.pem (root pinned at enrolment)" },
	{ { "host", "show" }, cmd_show, "show this host's identity and host CA certificate",
	  NULL },
	{ { "tpm", "info" }, cmd_tpm_info, "show EK certificates and TPM handle usage", NULL },
	{ { "agent", "register" }, cmd_agent_register,
	  "register an agent: TPM key bound to its measured binary, agent CA certificate",
	  "Root only, over attestd's admin socket. The binary (and script) must be root-owned\n"
	  "and not writable by others; its SHA-256 is bound into the key's TPM policy." },
	{ { "agent", "list" }, cmd_agent_list, "list registered agents", NULL },
	{ { "stats", NULL }, cmd_stats, "attestd's counters: TPM commands, agents, audit anchoring, clock",
	  "audit_unanchored_records and audit_unanchored_age_s: records no TPM checkpoint\n"
	  "covers yet and how long the oldest has waited; past audit_max_unanchored_s attestd\n"
	  "refuses issue and register (ATTEST_E_AUDIT_UNANCHORED) until a checkpoint succeeds.\n"
	  "clock: \"ok\", or why issuance stopped (ATTEST_E_CLOCK, docs/protocol.md \"Time\")." },
	{ { "agent", "show" }, cmd_agent_show, "show one agent and its agent CA certificate", NULL },
	{ { "agent", "revoke" }, cmd_agent_revoke, "revoke an agent: it gets nothing more", NULL },
	{ { "agent", "remove" }, cmd_agent_remove,
	  "forget a revoked agent so its name can be registered again", NULL },
	{ { "federation", "add" }, cmd_federation_add,
	  "federate another SPIFFE trust domain: its bundle reaches workloads",
	  "attestd fetches the domain's SPIFFE bundle from --bundle-url (https, TLS to --ca\n"
	  "only), refreshes it per its spiffe_refresh_hint, keeps the last good one, and\n"
	  "hands it to Workload API clients in federated_bundles (docs/spiffe.md)." },
	{ { "federation", "remove" }, cmd_federation_remove,
	  "stop federating a trust domain: its bundle leaves the workloads' streams", NULL },
	{ { "federation", "list" }, cmd_federation_list,
	  "federated trust domains and the state of each bundle", NULL },
	{ { "cert", "show" }, cmd_intent_show,
	  "verify a leaf's intent chain and print it readably (as intent show)",
	  "The chain is verified now, for the leaf's own URI SAN, against the fleet\n"
	  "root and the trusted issuers' public keys (--issuer ehr=ehr.pem,...)." },
	{ { "cert", NULL }, cmd_cert, "get a certificate for the agent that runs this command",
	  "Run by the agent itself (e.g. from its start script): attestd measures this\n"
	  "command's parent, which must be the registered agent binary (the request\n"
	  "says \"parent\": true; attestd pins the parent itself)." },
	{ { "intent", "issue" }, cmd_intent_issue,
	  "sign an intent grant with a local issuer key and print it (tests, demos)",
	  "A real grant comes from the IdP, EHR or ticketing app the user used;\n"
	  "attestd trusts the issuer's public key as STATE/intent-issuers/NAME.pem." },
	{ { "intent", "delegate" }, cmd_intent_delegate,
	  "delegate the intent addressed to this agent to another agent (prints the token)",
	  "Signed with this agent's leaf key; the leaf and its issuers travel as x5c.\n"
	  "Scopes, resources, expiry and depth may only narrow: a widening is refused." },
	{ { "intent", "show" }, cmd_intent_show,
	  "verify the intent chain in a leaf and print it readably",
	  "Verifies the leaf's intent extension now, for the leaf's own URI SAN, against\n"
	  "the fleet root and the trusted issuers' public keys (--issuer ehr=ehr.pem,...)." },
	{ { "audit", "verify" }, cmd_audit_verify,
	  "verify the audit log: tree, checkpoints, counter; locate tampering",
	  "Recomputes the Merkle tree over every record and checks each checkpoint's\n"
	  "NV_Certify (AK signature, counter sequence, qualifyingData). --online also asks\n"
	  "the TPM for a fresh NV_Certify of the counter: only that (or the verifier's\n"
	  "latest checkpoint) detects an older copy of the whole log." },
	{ { "audit", "prove" }, cmd_audit_prove, "inclusion or consistency proof as JSON",
	  "  --inclusion N --size M     record N is in the tree of the first M records\n"
	  "  --consistency M --size N   the tree of M records is a prefix of the tree of N\n"
	  "The matching checkpoint (if one has that size) is included." },
	{ { "audit", "show" }, cmd_audit_show, "print records (seq, then the stored JSON)", NULL },
	{ { "audit", "report" }, cmd_audit_report,
	  "HIPAA accounting of disclosures for a subject (CSV or JSON)",
	  "Allowed accesses to the subject's data in the period whose purpose is not\n"
	  "exempt under 45 CFR 164.528(a)(1) (TREATMENT, PAYMENT, OPERATIONS are);\n"
	  "--include-exempt lists every allowed access (an access report)." },
	{ { "audit", "ak" }, cmd_audit_ak, "export the AK public key (PEM) for offline verify", NULL },
	{ { "audit", "checkpoint" }, cmd_audit_checkpoint,
	  "checkpoint the log now (TPM NV counter + NV_Certify)", NULL },
	{ { "audit", "append" }, cmd_audit_append, "append one record (operators, demos)", NULL },
};

int main(int argc, char **argv)
{
	static const struct cli_prog prog = {
		"attestctl",
		"Administer attestd on this host: enrolment, identity, TPM.",
		"Environment: ATTEST_TCTI (TPM), ATTEST_JOIN_TOKEN (host enroll).\n"
		"Exit status: 0 done, 1 failed or refused, 2 usage error.",
		cmds,
		sizeof(cmds) / sizeof(cmds[0]),
	};

	/* Failures are reported once, decoded, by cli_fail; tpm2-tss's own
	 * logging of expected probes (e.g. a missing SRK) is noise. */
	if (setenv("TSS2_LOG", "all+none", 0) != 0)
		return cli_fail(ATTEST_E_INTERNAL, "setenv TSS2_LOG");
	return cli_main(&prog, argc, argv);
}
