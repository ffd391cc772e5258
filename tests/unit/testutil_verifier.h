/* testutil_verifier.h - run attest-verifier for a test: state in a temp
 * dir, a fleet CA given by the test, an admin and a resource caller, the
 * service as a child process on a free loopback port, and HTTPS calls. */
#ifndef TESTS_TESTUTIL_VERIFIER_H
#define TESTS_TESTUTIL_VERIFIER_H

#include <sys/types.h>

#include <cjson/cJSON.h>

#include "testutil_daemon.h"

struct verifier {
	char dir[600];   /* state, certificates, log */
	char state[700], ca[600], log[700], url[64], cacert[800];
	char admin[700], resource[700]; /* prefixes of PREFIX.pem/.key */
	char tcti[256]; /* set before verifier_start: checkpoints with this TPM */
	const char *serve_args[8]; /* set before verifier_start: more serve options */
	char store[700]; /* a postgresql:// URI (verifier_up_store), or "" for SQLite */
	pid_t pid;
};

enum vcall_as { AS_NONE, AS_RESOURCE, AS_ADMIN };

/* serve's --user for the verifiers tests start: NULL (the default) is
 * "root", no drop; a test that sets another user before verifier_up gets
 * the serving process dropped to it (the state and CA directories'
 * ancestors are then made traversable, 0711, for it). */
extern const char *tu_verifier_user;

/* Init a verifier state for the fleet CA ca_dir with policy_json (NULL:
 * default deny) and start it; aborts the test on failure. */
void verifier_up(struct verifier *v, const char *ca_dir, const char *policy_json);
/* The same with the store in the PostgreSQL database at store_uri (init,
 * caller add and serve get --store). */
void verifier_up_store(struct verifier *v, const char *ca_dir, const char *policy_json,
		       const char *store_uri);
void verifier_start(struct verifier *v);
void verifier_stop(struct verifier *v);
void verifier_down(struct verifier *v);
/* POST body (GET when NULL) to path as the given caller. Returns the HTTP
 * status (or -attest_err on a transport failure); *reply the parsed JSON
 * body or NULL. */
long verifier_call(struct verifier *v, enum vcall_as as, const char *path, const char *body,
		   cJSON **reply);
/* The policy a vfleet's resource caller decides under (test_e2e,
 * test_verifier, bench_verifier): read on patient records needs scope
 * ehr:read (the scribe agent has it) and a host attested within `secs`
 * seconds (a decimal literal); nothing else is allowed. */
#define TU_POLICY_RECORDS_READ(secs)                                                \
	"{\"version\":1,\"rules\":[{\"name\":\"records-read\",\"effect\":\"allow\","      \
	"\"resources\":[\"ehr:patient/**\"],\"actions\":[\"read\"],"                     \
	"\"require\":{\"scopes\":[\"ehr:read\"],\"host_attested_within\":" #secs "}}]}"

/* A whole fleet on swtpm: a fleet CA, a verifier with `policy` running it,
 * host web-01 enrolled through the verifier, attestd pushing to it every
 * second, and agent "scribe" (the C example agent, scopes ehr:read and
 * ehr:write, data class phi) with a certificate in chain (leaf, agent CA,
 * host CA; its key beside it as key.pem). */
struct vfleet {
	struct daemon d;
	struct verifier v;
	char chain[800];
};
void vfleet_up(struct vfleet *e, const char *policy);
/* The store of the verifiers vfleet_up starts: NULL (the default) its
 * SQLite file, else a postgresql:// URI (bench_fleet's replicas). */
extern const char *tu_vfleet_store;
/* The same without the agent: fleet CA, verifier, web-01 enrolled through
 * it, attestd pushing (e->chain stays empty). */
void vfleet_host_up(struct vfleet *e, const char *policy);
void vfleet_down(struct vfleet *e);

/* The "error" (or "reason") field of a reply, "" if absent. */
const char *reply_reason(const cJSON *reply);

#endif
