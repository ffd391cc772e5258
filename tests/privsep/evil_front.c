/* evil_front - a compromised front for test_privsep: attestd started with
 * --front-exec runs this instead of its own front, with the monitor
 * channel on descriptor 3 and the agent socket on 4. It speaks the monitor
 * protocol directly and asks for what a front that an attacker controls
 * would: for each agent connection it accepts, it sends forged orders
 * with that connection and answers the agent with what the monitor said
 * to each ({"ok":true,"probes":{NAME:"ATTEST_E_..." or "ok"}}). After the
 * first connection it breaks the protocol, which must get it killed: the
 * first instance (EVIL_DIR/instances counts them) sends an order without
 * a connection, the second an admin request with a byte after its last
 * field, the third an admin op outside the set.
 *
 * On the admin socket (descriptor 5) it asks the monitor for admin
 * operations with the connection it accepted: with a root connection a
 * harmless one (stats) must work; with a connection of another uid (the
 * test opens the socket's mode), revoke, register, stats and attest must
 * be refused. With an agent's connection and with a socketpair, admin
 * requests must be refused too. The same agent connection passed as a
 * workload's (MON_WORKLOAD_ISSUE, MON_WORKLOAD_JWT) must be refused: the
 * SPIFFE ops take only connections of the workload socket (descriptor 6,
 * which this front leaves alone).
 *
 * With EVIL_PUSH set it answers the monitor's push requests itself
 * (MON_PUSH_JOB, no verifier involved): a nonce of its choice, then
 * quote verdicts carrying a renewed host CA certificate that is not for
 * the host key (a fresh key), then one for the host key (EVIL_HOST_CA) but
 * issued by a CA of its own under the real root's name (EVIL_ROOT), then
 * a plain verdict; then a push reply for a request not in flight, which
 * must get it killed. The first request it gets it does not answer until
 * the monitor has given up on it and sent the next one in that slot.
 *
 * The agents come from the environment attestd was started with:
 * EVIL_ME (the connecting agent's name), EVIL_MY_ID (its ID), EVIL_OTHER
 * and EVIL_OTHER_ID (another registered agent). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/cursor.h"
#include "core/err.h"
#include "admin.h"
#include "mint.h"
#include "pushwire.h"
#include "monproto.h"
#include "net/wire.h"

#define CHAN 3
#define AGENT 4
#define ADMIN 5

static uint8_t buf[MON_MSG_MAX];

/* Send m with fd; the monitor's code ("ok" or the error name). */
static const char *send_ask(struct mon_out *m, int fd)
{
	struct attest_cur c;
	size_t len;
	uint32_t op, code;
	int passed = -1;

	if (mon_send(CHAN, m, fd) != ATTEST_OK || mon_recv(CHAN, buf, &len, &passed) != ATTEST_OK) {
		mon_out_free(m);
		return "no answer";
	}
	mon_out_free(m);
	attest_cur_init(&c, buf, len);
	if (!mon_get_u32(&c, &op) || !mon_get_u32(&c, &code))
		return "malformed answer";
	return code == 0 ? "ok" : attest_errname((int)code);
}

/* Send an order with fd. */
static const char *ask(const struct mint_order *o, int fd)
{
	struct mon_out m;

	mon_out_init(&m, MON_ISSUE);
	mint_order_put(&m, o);
	return send_ask(&m, fd);
}

/* The Workload API's ops (MON_WORKLOAD_ISSUE with a key, MON_WORKLOAD_JWT
 * with an audience) with fd. */
static const char *ask_workload(uint32_t op, const uint8_t *key, size_t keylen, int fd)
{
	struct mon_out m;

	mon_out_init(&m, op);
	if (op == MON_WORKLOAD_ISSUE) {
		mon_put_bytes(&m, key, keylen);
	} else {
		mon_put_u32(&m, 1);
		mon_put_str(&m, "evil");
		mon_put_str(&m, "");
	}
	return send_ask(&m, fd);
}

/* An admin request with fd. */
static const char *ask_admin(const struct admin_req *q, int fd)
{
	struct mon_out m;

	mon_out_init(&m, MON_ADMIN);
	admin_req_put(&m, q);
	return send_ask(&m, fd);
}

static const char *ask_attest(int fd)
{
	struct mon_out m;

	mon_out_init(&m, MON_ATTEST);
	mon_put_u8(&m, 0);
	return send_ask(&m, fd);
}

static struct admin_req *admin_q(uint32_t op, const char *name)
{
	static struct admin_req q;

	memset(&q, 0, sizeof(q));
	q.op = op;
	snprintf(q.name, sizeof(q.name), "%s", name);
	if (op == ADMIN_REGISTER) {
		snprintf(q.reg.name, sizeof(q.reg.name), "%s", name);
		snprintf(q.reg.binary, sizeof(q.reg.binary), "/bin/sh");
		snprintf(q.reg.tier, sizeof(q.reg.tier), "low");
		q.reg.uids[0] = 0;
		q.reg.nuids = 1;
		q.reg.max_ttl = 60;
	}
	return &q;
}

/* ---------- push answers of its own ---------- */

static X509 *load_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f != NULL)
		fclose(f);
	return x;
}

/* A certificate for key, named cn, signed by signer (self-signed when
 * NULL) with signer_key; ca: a CA certificate. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *signer, EVP_PKEY *signer_key, int ca)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, signer != NULL ? X509_get_subject_name(signer) : n);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&v3, signer != NULL ? signer : x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
				ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	X509_sign(x, signer_key, EVP_sha256());
	X509_NAME_free(n);
	return x;
}

static char *pem_of(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL, *out = NULL;
	long n;

	if (b != NULL && PEM_write_bio_X509(b, x) == 1 && (n = BIO_get_mem_data(b, &p)) > 0)
		out = strndup(p, (size_t)n);
	BIO_free(b);
	return out;
}

/* The n-th quote verdict: a renewal not for the host key, then one for
 * the host key under a CA of its own, then none. */
static void forge_verdict(int n, struct push_reply *rep)
{
	snprintf(rep->a.state, sizeof(rep->a.state), "trusted");
	snprintf(rep->a.reason_name, sizeof(rep->a.reason_name), "ATTEST_OK");
	if (n > 2)
		return;
	{
		const char *root_path = getenv("EVIL_ROOT"), *host_ca_path = getenv("EVIL_HOST_CA");
		X509 *root = root_path != NULL ? load_cert(root_path) : NULL;
		X509 *real = host_ca_path != NULL ? load_cert(host_ca_path) : NULL;
		EVP_PKEY *k = EVP_EC_gen("P-256"), *ck = EVP_EC_gen("P-256");
		X509 *rogue = make_cert(ck, "rogue issuing CA", NULL, ck, 1);
		X509 *cert = n == 1 ? make_cert(k, "web-01", NULL, k, 1)
				    : make_cert(X509_get0_pubkey(real), "web-01", rogue, ck, 1);

		rep->has_renewal = 1;
		snprintf(rep->renewal.host, sizeof(rep->renewal.host), "web-01");
		snprintf(rep->renewal.trust_domain, sizeof(rep->renewal.trust_domain), "fleet.example");
		rep->renewal.host_ca_cert = pem_of(cert);
		rep->renewal.issuing_ca_cert = pem_of(rogue);
		rep->renewal.root_cert = pem_of(root);
		X509_free(cert);
		X509_free(rogue);
		X509_free(root);
		X509_free(real);
		EVP_PKEY_free(k);
		EVP_PKEY_free(ck);
	}
}

/* A push request from the monitor, answered with what an attacker would
 * say; after the third verdict, an answer for a request not in flight. */
static void serve_push(void)
{
	static int quotes;
	static uint32_t held_slot, held_kind, held_seq;
	struct attest_cur c;
	struct push_reply rep;
	struct mon_out m;
	size_t len;
	uint32_t op, slot, kind, seq;
	int passed = -1;

	if (mon_recv(CHAN, buf, &len, &passed) != ATTEST_OK)
		exit(1); /* the monitor is gone */
	attest_cur_init(&c, buf, len);
	if (!mon_get_u32(&c, &op) || op != MON_PUSH_JOB || !mon_get_u32(&c, &slot) ||
	    !mon_get_u32(&c, &kind) || !mon_get_u32(&c, &seq))
		return;
	/* the first request is held past its deadline; its answer goes
	 * out late, just before the answer to the next one in that slot */
	if (held_seq == 0) {
		held_slot = slot;
		held_kind = kind;
		held_seq = seq;
		return;
	}
	if (held_seq > 0 && held_seq != UINT32_MAX && slot == held_slot) {
		memset(&rep, 0, sizeof(rep));
		rep.r = ATTEST_E_IO;
		mon_out_init(&m, MON_PUSH_DONE);
		mon_put_u32(&m, held_slot);
		mon_put_u32(&m, held_kind);
		mon_put_u32(&m, held_seq);
		push_reply_put(&m, held_kind, &rep);
		(void)!mon_send(CHAN, &m, -1);
		mon_out_free(&m);
		held_seq = UINT32_MAX; /* done */
	}
	memset(&rep, 0, sizeof(rep));
	if (kind == PUSH_NONCE) {
		memcpy(rep.nonce, "chosen by the front", 19);
		rep.nonce_len = 19;
		rep.expires = (uint64_t)time(NULL) + 60;
	} else if (kind == PUSH_QUOTE) {
		forge_verdict(++quotes, &rep);
	} else {
		rep.r = ATTEST_E_IO;
		snprintf(rep.detail, sizeof(rep.detail), "not today");
	}
	mon_out_init(&m, MON_PUSH_DONE);
	mon_put_u32(&m, slot);
	mon_put_u32(&m, kind);
	mon_put_u32(&m, seq);
	push_reply_put(&m, kind, &rep);
	if (mon_send(CHAN, &m, -1) != ATTEST_OK)
		fprintf(stderr, "evil_front: push answer not sent\n");
	mon_out_free(&m);
	push_reply_clear(&rep);
	if (quotes == 3 && kind == PUSH_QUOTE) {
		/* outside the protocol: the same answer again, not in flight */
		memset(&rep, 0, sizeof(rep));
		forge_verdict(3, &rep);
		mon_out_init(&m, MON_PUSH_DONE);
		mon_put_u32(&m, slot);
		mon_put_u32(&m, kind);
		mon_put_u32(&m, seq);
		push_reply_put(&m, kind, &rep);
		(void)!mon_send(CHAN, &m, -1);
		mon_out_free(&m);
		pause(); /* killed */
	}
}

/* Which start of the front this is (1, 2, ...): a counter in EVIL_DIR. */
static int instance(void)
{
	const char *dir = getenv("EVIL_DIR");
	char path[600];
	FILE *f;
	int n = 0;

	if (dir == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/instances", dir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%d", &n) != 1)
			n = 0;
		fclose(f);
	}
	if ((f = fopen(path, "w")) != NULL) {
		fprintf(f, "%d\n", n + 1);
		fclose(f);
	}
	return n + 1;
}

static void reply_probes(int c, cJSON *probes)
{
	cJSON *reply = cJSON_CreateObject();

	cJSON_AddTrueToObject(reply, "ok");
	cJSON_AddItemToObject(reply, "probes", probes);
	if (attest_wire_send(c, reply) != ATTEST_OK)
		fprintf(stderr, "evil_front: reply not sent\n");
	cJSON_Delete(reply);
}

/* An admin connection: what the monitor grants with it. */
static void serve_admin(int c, const char *other)
{
	cJSON *req = NULL, *probes = cJSON_CreateObject();
	struct ucred cred;
	socklen_t cl = sizeof(cred);

	if (attest_wire_recv(c, 10000, &req) == ATTEST_OK)
		cJSON_Delete(req);
	if (getenv("EVIL_PUSH") != NULL) { /* the channel is the push script's */
		reply_probes(c, probes);
		close(c);
		return;
	}
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0)
		cred.uid = 0;
	cJSON_AddStringToObject(probes, "stats", ask_admin(admin_q(ADMIN_STATS, ""), c));
	cJSON_AddStringToObject(probes, "attest", ask_attest(c));
	if (cred.uid != 0) { /* root's connection could do these: not tried */
		cJSON_AddStringToObject(probes, "revoke", ask_admin(admin_q(ADMIN_REVOKE, other), c));
		cJSON_AddStringToObject(probes, "register",
					ask_admin(admin_q(ADMIN_REGISTER, "gamma"), c));
	}
	reply_probes(c, probes);
	close(c);
}

/* The protocol broken, per instance; then killed. */
static void violate(int n, int c)
{
	struct mon_out m;

	if (n == 1) { /* an order without its connection */
		struct mint_order o;

		memset(&o, 0, sizeof(o));
		snprintf(o.name, sizeof(o.name), "x");
		o.ttl = -1;
		mon_out_init(&m, MON_ISSUE);
		mint_order_put(&m, &o);
		c = -1;
	} else if (n == 2) { /* an admin request with a byte after its last field */
		mon_out_init(&m, MON_ADMIN);
		admin_req_put(&m, admin_q(ADMIN_STATS, ""));
		mon_put_u8(&m, 0);
	} else { /* an admin op outside the set */
		mon_out_init(&m, MON_ADMIN);
		mon_put_u32(&m, 99);
	}
	if (mon_send(CHAN, &m, c) != ATTEST_OK)
		fprintf(stderr, "evil_front: violation not sent\n");
	mon_out_free(&m);
	pause(); /* killed */
}

static size_t spki(EVP_PKEY *k, uint8_t *out, size_t outsz)
{
	unsigned char *p = out;
	int n = i2d_PUBKEY(k, NULL);

	if (n <= 0 || (size_t)n > outsz || i2d_PUBKEY(k, &p) != n)
		return 0;
	return (size_t)n;
}

static void base_order(struct mint_order *o, const char *name, const uint8_t *key, size_t keylen)
{
	memset(o, 0, sizeof(*o));
	snprintf(o->name, sizeof(o->name), "%s", name);
	o->ttl = -1;
	o->spki = key;
	o->spki_len = keylen;
}

int main(int argc, char **argv)
{
	const char *me, *other, *other_id, *my_id;
	uint8_t good[MINT_SPKI_MAX], weak[MINT_SPKI_MAX], junk[MINT_SPKI_MAX];
	size_t ngood, nweak, njunk;
	EVP_PKEY *ec = EVP_EC_gen("P-256"), *rsa = EVP_RSA_gen(1024);
	struct mint_order o;
	int n = instance();

	(void)argc;
	(void)argv;
	me = getenv("EVIL_ME");
	my_id = getenv("EVIL_MY_ID");
	other = getenv("EVIL_OTHER");
	other_id = getenv("EVIL_OTHER_ID");
	if (me == NULL || my_id == NULL || other == NULL || other_id == NULL || ec == NULL ||
	    rsa == NULL)
		return 2;
	ngood = spki(ec, good, sizeof(good));
	nweak = spki(rsa, weak, sizeof(weak));
	memcpy(junk, good, ngood);
	junk[ngood] = 0; /* one byte after the key */
	njunk = ngood + 1;
	for (;;) {
		struct pollfd pf[3] = { { AGENT, POLLIN, 0 }, { ADMIN, POLLIN, 0 }, { CHAN, POLLIN, 0 } };
		int c, sp[2];
		cJSON *req = NULL, *probes;

		if (poll(pf, getenv("EVIL_PUSH") != NULL ? 3 : 2, -1) < 0)
			continue;
		if (pf[2].revents & (POLLIN | POLLHUP)) {
			serve_push();
			continue;
		}
		if (pf[1].revents & POLLIN) {
			if ((c = accept(ADMIN, NULL, NULL)) >= 0)
				serve_admin(c, other);
			continue;
		}
		if ((c = accept(AGENT, NULL, NULL)) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return 1;
		}
		if (attest_wire_recv(c, 10000, &req) == ATTEST_OK)
			cJSON_Delete(req);
		probes = cJSON_CreateObject();
		if (n > 1) { /* the later instances only break the protocol */
			reply_probes(c, probes);
			violate(n, c);
		}
		/* another agent's identity for this caller */
		base_order(&o, other, good, ngood);
		cJSON_AddStringToObject(probes, "other_agent", ask(&o, c));
		/* a lifetime over the agent's cap */
		base_order(&o, me, good, ngood);
		o.ttl = 100000;
		cJSON_AddStringToObject(probes, "long_ttl", ask(&o, c));
		/* a scope not registered */
		base_order(&o, me, good, ngood);
		snprintf(o.want[0], sizeof(o.want[0]), "admin:all");
		o.nwant = 1;
		cJSON_AddStringToObject(probes, "extra_scope", ask(&o, c));
		/* an "intent" whose scopes the registration lacks */
		base_order(&o, me, good, ngood);
		o.has_intent = 1;
		o.in.token = (const uint8_t *)"forged";
		o.in.token_len = 6;
		snprintf(o.in.scopes[0], sizeof(o.in.scopes[0]), "admin:all");
		o.in.nscopes = 1;
		o.in.expiry = (int64_t)time(NULL) + 600;
		snprintf(o.in.marker_kind, sizeof(o.in.marker_kind), "jti");
		snprintf(o.in.marker_value, sizeof(o.in.marker_value), "j-1");
		snprintf(o.in.agents[0], sizeof(o.in.agents[0]), "%s", my_id);
		cJSON_AddStringToObject(probes, "intent_scope", ask(&o, c));
		/* an intent for another agent */
		snprintf(o.in.scopes[0], sizeof(o.in.scopes[0]), "ehr:read");
		snprintf(o.in.agents[0], sizeof(o.in.agents[0]), "%s", other_id);
		cJSON_AddStringToObject(probes, "intent_audience", ask(&o, c));
		/* an intent with an unknown single-use kind */
		snprintf(o.in.agents[0], sizeof(o.in.agents[0]), "%s", my_id);
		snprintf(o.in.marker_kind, sizeof(o.in.marker_kind), "none");
		cJSON_AddStringToObject(probes, "intent_marker", ask(&o, c));
		/* a weak key, a key with a byte after it */
		base_order(&o, me, weak, nweak);
		cJSON_AddStringToObject(probes, "weak_key", ask(&o, c));
		base_order(&o, me, junk, njunk);
		cJSON_AddStringToObject(probes, "key_trailing", ask(&o, c));
		/* a P-256 key whose point is off the curve (the monitor's
		 * raw-point import, issue 17, must refuse it as d2i did) */
		memcpy(junk, good, ngood);
		junk[ngood - 1] ^= 1;
		base_order(&o, me, junk, ngood);
		cJSON_AddStringToObject(probes, "key_off_curve", ask(&o, c));
		/* a task id the leaf cannot carry */
		base_order(&o, me, good, ngood);
		snprintf(o.task_id, sizeof(o.task_id), "a\nb");
		cJSON_AddStringToObject(probes, "task_control", ask(&o, c));
		/* DNS names: one nobody registered, and the other agent's (the
		 * monitor checks its own registry, whatever the order says) */
		base_order(&o, me, good, ngood);
		snprintf(o.dns[0], sizeof(o.dns[0]), "evil.fleet.example");
		o.ndns = 1;
		cJSON_AddStringToObject(probes, "dns_unregistered", ask(&o, c));
		snprintf(o.dns[0], sizeof(o.dns[0]), "%s.fleet.example", other);
		cJSON_AddStringToObject(probes, "dns_other_agents", ask(&o, c));
		/* a connection the monitor did not accept for an agent */
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0) {
			base_order(&o, me, good, ngood);
			cJSON_AddStringToObject(probes, "not_a_caller", ask(&o, sp[0]));
			close(sp[0]);
			close(sp[1]);
		}
		/* an agent-socket connection passed as a workload's: the SPIFFE
		 * ops take only connections of the workload socket */
		cJSON_AddStringToObject(probes, "workload_on_agent_conn",
					ask_workload(MON_WORKLOAD_ISSUE, good, ngood, c));
		cJSON_AddStringToObject(probes, "workload_jwt_on_agent_conn",
					ask_workload(MON_WORKLOAD_JWT, NULL, 0, c));
		/* admin requests with an agent's connection, with a socketpair */
		cJSON_AddStringToObject(probes, "admin_agent_conn",
					ask_admin(admin_q(ADMIN_REVOKE, other), c));
		cJSON_AddStringToObject(probes, "attest_agent_conn", ask_attest(c));
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0) {
			cJSON_AddStringToObject(probes, "admin_socketpair",
						ask_admin(admin_q(ADMIN_REVOKE, other), sp[0]));
			close(sp[0]);
			close(sp[1]);
		}
		/* the honest order still works: the harness is not broken */
		base_order(&o, me, good, ngood);
		cJSON_AddStringToObject(probes, "honest", ask(&o, c));
		reply_probes(c, probes);
		violate(n, -1);
	}
}
