/* attestctl_audit.c - audit verify / prove / show / report / ak /
 * checkpoint / append (docs/audit.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "attest/attest.h"
#include "attestctl_audit.h"
#include "audit/audit.h"
#include "core/json.h"
#include "core/num.h"
#include "audit/merkle.h"
#include "tpm/templates.h"
#include "tpm/tpm.h"
#include "tpm/tpmsw.h"

static const char *const tcti_help = "TPM TCTI (default $ATTEST_TCTI, else " ATTEST_TPM_DEFAULT_TCTI ")";
static const char *const log_help = "audit log directory (" DEFAULT_AUDIT_DIR ")";

/* YYYY-MM-DD (UTC; end of that day when end_of_day) or Unix seconds. */
static int parse_date(const char *opt, const char *s, int end_of_day, uint64_t *out)
{
	int64_t t;

	*out = 0;
	if (s == NULL)
		return CLI_PARSED;
	if (strchr(s, '-') == NULL)
		return cli_u64(opt, s, out);
	if (attest_parse_utc(s, 0, &t) != ATTEST_OK)
		return cli_usage_error("--%s: \"%s\" is not YYYY-MM-DD or Unix seconds", opt, s);
	*out = (uint64_t)t + (end_of_day ? 86399 : 0);
	return CLI_PARSED;
}

static void iso_date(uint64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%" PRIu64, t);
}

/* ---- the AK ---- */

/* A P-256 public key (PEM) as the AK's public area: our AK template with
 * the key's point (the AK is always made from that template). */
static int ak_from_pem(const char *path, TPM2B_PUBLIC *ak)
{
	BIO *b = BIO_new_file(path, "r");
	EVP_PKEY *pk = NULL;
	TPM2B_PUBLIC tmpl;
	int r = CLI_EXIT_FAIL;

	if (b == NULL || (pk = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL)) == NULL) {
		ERR_clear_error();
		fprintf(stderr, "attestctl: %s: not a PEM public key\n", path);
		goto out;
	}
	attest_template_ak(&tmpl);
	if (attest_tpm_pub_from_pkey(pk, &tmpl, ak) != ATTEST_OK) {
		fprintf(stderr, "attestctl: %s: the AK is an ECC P-256 key; this is not one (%s)\n",
			path, attest_errdetail());
		goto out;
	}
	r = CLI_EXIT_OK;
out:
	EVP_PKEY_free(pk);
	BIO_free(b);
	return r;
}

static int load_ak(const char *ak_path, struct attest_tpm *t, TPM2B_PUBLIC *ak)
{
	int r;

	if (ak_path != NULL)
		return ak_from_pem(ak_path, ak);
	if ((r = attest_tpm_ak_public(t, ak)) != ATTEST_OK)
		return cli_fail(r, "read the AK public area from the TPM");
	return CLI_EXIT_OK;
}

int cmd_audit_ak(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *out, *tcti;
	const struct cli_opt opts[] = {
		{ "out", "FILE", "write the AK public key here as PEM (- for stdout)", 1, &out },
		{ "tcti", "CONF", tcti_help, 0, &tcti },
		{ 0 },
	};
	struct attest_tpm *t = NULL;
	TPM2B_PUBLIC ak;
	EVP_PKEY *pk = NULL;
	BIO *b = NULL;
	char *pem = NULL;
	long len;
	int r;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED ||
	    (r = cli_open_tpm(tcti, &t)) != CLI_EXIT_OK)
		return r;
	if ((r = attest_tpm_ak_public(t, &ak)) != ATTEST_OK ||
	    (r = attest_tpm_pub_to_pkey(&ak, &pk)) != ATTEST_OK) {
		r = cli_fail(r, "read the AK");
		goto out;
	}
	if ((b = BIO_new(BIO_s_mem())) == NULL || PEM_write_bio_PUBKEY(b, pk) != 1 ||
	    (len = BIO_get_mem_data(b, &pem)) <= 0) {
		r = cli_fail(ATTEST_E_CRYPTO, "encode the AK");
		goto out;
	}
	r = cli_write(out, pem, (size_t)len);
out:
	BIO_free(b);
	EVP_PKEY_free(pk);
	attest_tpm_close(t);
	return r;
}

/* ---- verify ---- */

int cmd_audit_verify(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *dir, *ak_path, *online, *tcti;
	const struct cli_opt opts[] = {
		{ "log", "DIR", log_help, 0, &dir },
		{ "ak", "PEM", "the host's AK public key (default: read from the TPM)", 0, &ak_path },
		{ "online", NULL, "also compare the TPM's counter (fresh NV_Certify over a nonce)", 0,
		  &online },
		{ "tcti", "CONF", tcti_help, 0, &tcti },
		{ 0 },
	};
	struct attest_audit_verify_opts o;
	struct attest_audit_report rep;
	struct attest_tpm *t = NULL;
	TPM2B_PUBLIC ak;
	char id[2 * ATTEST_AUDIT_LOG_ID_LEN + 1], when[32];
	int r;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED)
		return r;
	if (dir == NULL)
		dir = DEFAULT_AUDIT_DIR;
	if ((online != NULL || ak_path == NULL) && (r = cli_open_tpm(tcti, &t)) != CLI_EXIT_OK)
		return r;
	if ((r = load_ak(ak_path, t, &ak)) != CLI_EXIT_OK)
		goto out;
	memset(&o, 0, sizeof(o));
	o.ak = &ak;
	o.tpm = online != NULL ? t : NULL;
	r = attest_audit_verify(dir, &o, &rep);
	attest_hex(rep.log_id, sizeof(rep.log_id), id);
	printf("log %s: %" PRIu64 " records (%" PRIu64 "..%" PRIu64 ") in %" PRIu64
	       " segments, %" PRIu64 " checkpoints verified\n",
	       id, rep.records, rep.first, rep.first + rep.records - (rep.records > 0), rep.segments,
	       rep.checkpoints);
	if (rep.first > 0)
		printf("records before %" PRIu64 " were removed by retention (verified from there on)\n",
		       rep.first);
	if (rep.torn_bytes > 0)
		printf("torn tail of %" PRIu64 " bytes ignored (an unacknowledged append; attestd cuts it)\n",
		       rep.torn_bytes);
	if (r != ATTEST_OK) {
		if (r == ATTEST_E_QUOTE_COUNTER && rep.online && rep.tpm_counter > rep.last_counter)
			printf("ROLLBACK: the TPM's audit counter is %" PRIu64 ", this log ends at "
			       "checkpoint %" PRIu64 ": the records after record %" PRIu64
			       " are missing (an older copy of the log)\n",
			       rep.tpm_counter, rep.last_counter, rep.covered > 0 ? rep.covered - 1 : 0);
		else if (rep.located && rep.bad_ckpt < UINT64_MAX)
			printf("TAMPERING located between records %" PRIu64 " and %" PRIu64
			       " (checkpoint %" PRIu64 ")\n",
			       rep.bad_from, rep.bad_to > rep.bad_from ? rep.bad_to - 1 : rep.bad_from,
			       rep.bad_ckpt);
		r = cli_fail(r, "verify %s", dir);
		goto out;
	}
	if (rep.time_back > 0)
		printf("TIME WENT BACKWARDS: %" PRIu64 " record(s) are dated before the record "
		       "preceding them (first: record %" PRIu64 ", by up to %" PRIu64 " s): the "
		       "writer's clock was set back; their dates cannot be trusted\n",
		       rep.time_back, rep.time_back_first, rep.time_back_max_s);
	if (rep.checkpoints == 0) {
		if (rep.records == 0) {
			printf("empty log: nothing to verify\n");
			r = CLI_EXIT_OK;
		} else {
			/* fail closed: the records agree with each other, which
			 * whoever can write the log can arrange */
			printf("NOT ANCHORED: no TPM checkpoint covers any of the %" PRIu64
			       " records; they were checked only against each other (hashes, "
			       "segment links), which proves nothing about who wrote them\n",
			       rep.records);
			r = CLI_EXIT_FAIL;
		}
		goto out;
	}
	iso_date(rep.last_time, when);
	printf("OK: records 0..%" PRIu64 " are covered by checkpoint counter %" PRIu64 " (%s)\n",
	       rep.covered > 0 ? rep.covered - 1 : 0, rep.last_counter, when);
	if (rep.covered < rep.first + rep.records)
		printf("%" PRIu64 " records after the last checkpoint are not covered yet\n",
		       rep.first + rep.records - rep.covered);
	if (rep.online)
		printf("online: the TPM's counter is %" PRIu64 ", the last checkpoint's: the log is"
		       " current (no rollback)\n",
		       rep.tpm_counter);
	else
		printf("offline: this cannot detect an older copy of the whole log (rollback); use"
		       " --online on the host, or compare with the verifier's latest checkpoint\n");
	r = CLI_EXIT_OK;
out:
	attest_tpm_close(t);
	return r;
}

/* ---- prove ---- */

static int add_hex(cJSON *o, const char *key, const uint8_t *h)
{
	char hex[65];

	attest_hex(h, 32, hex);
	return attest_json_add_str(o, key, hex) == ATTEST_OK ? 0 : -1;
}

static int add_proof(cJSON *o, const attest_merkle_hash *p, size_t n)
{
	cJSON *arr = cJSON_AddArrayToObject(o, "proof");
	char hex[65];

	if (arr == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		attest_hex(p[i], 32, hex);
		cJSON_AddItemToArray(arr, cJSON_CreateString(hex));
	}
	return 0;
}

/* The checkpoint of exactly this size, if any, as a JSON object. */
static int add_ckpt(cJSON *o, const char *key, const struct attest_audit_ckpt *cks, size_t n,
		    uint64_t size)
{
	for (size_t i = 0; i < n; i++) {
		char *json = NULL;
		size_t len;
		cJSON *c;

		if (cks[i].size != size)
			continue;
		if (attest_audit_ckpt_to_json(&cks[i], &json, &len) != ATTEST_OK)
			return -1;
		c = cJSON_Parse(json);
		free(json);
		if (c == NULL)
			return -1;
		cJSON_AddItemToObject(o, key, c);
		return 0;
	}
	return 0;
}

int cmd_audit_prove(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *dir, *inc, *cons, *size_s;
	const struct cli_opt opts[] = {
		{ "log", "DIR", log_help, 0, &dir },
		{ "inclusion", "N", "prove record N is in the tree of --size records", 0, &inc },
		{ "consistency", "M", "prove the tree of M records is a prefix of --size's", 0, &cons },
		{ "size", "SIZE", "the (larger) tree size", 1, &size_s },
		{ 0 },
	};
	attest_merkle_hash *leaves = NULL, proof[ATTEST_MERKLE_MAX_PROOF];
	struct attest_audit_ckpt *cks = NULL;
	uint8_t r1[32], r2[32];
	uint64_t n = 0, size, a;
	size_t plen = 0, nck = 0;
	cJSON *o = NULL;
	char *s = NULL;
	int r, bad = 0;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED)
		return r;
	if (dir == NULL)
		dir = DEFAULT_AUDIT_DIR;
	if ((inc != NULL) == (cons != NULL))
		return cli_usage_error("give exactly one of --inclusion or --consistency");
	if ((r = cli_u64("size", size_s, &size)) != CLI_PARSED ||
	    (r = cli_u64(inc ? "inclusion" : "consistency", inc ? inc : cons, &a)) != CLI_PARSED)
		return r;
	if ((r = attest_audit_leaves(dir, &leaves, &n)) != ATTEST_OK ||
	    (r = attest_audit_checkpoints(dir, &cks, &nck)) != ATTEST_OK) {
		r = cli_fail(r, "read %s", dir);
		goto out;
	}
	if (size > n) {
		r = cli_fail(ATTEST_E_INVALID_ARG, "the log holds %" PRIu64 " records", n);
		goto out;
	}
	if ((o = cJSON_CreateObject()) == NULL) {
		r = cli_fail(ATTEST_E_NOMEM, "prove");
		goto out;
	}
	if (inc != NULL) {
		if ((r = attest_merkle_inclusion_proof(leaves, size, a, proof, &plen)) != ATTEST_OK ||
		    (r = attest_merkle_root(leaves, size, r2)) != ATTEST_OK) {
			r = cli_fail(r, "inclusion proof");
			goto out;
		}
		bad |= attest_json_add_u64(o, "index", a) != ATTEST_OK;
		bad |= attest_json_add_u64(o, "size", size) != ATTEST_OK;
		bad |= add_hex(o, "leaf_hash", leaves[a]);
		bad |= add_hex(o, "root", r2);
	} else {
		if ((r = attest_merkle_consistency_proof(leaves, size, a, proof, &plen)) != ATTEST_OK ||
		    (r = attest_merkle_root(leaves, a, r1)) != ATTEST_OK ||
		    (r = attest_merkle_root(leaves, size, r2)) != ATTEST_OK) {
			r = cli_fail(r, "consistency proof");
			goto out;
		}
		bad |= attest_json_add_u64(o, "size1", a) != ATTEST_OK;
		bad |= attest_json_add_u64(o, "size2", size) != ATTEST_OK;
		bad |= add_hex(o, "root1", r1);
		bad |= add_hex(o, "root2", r2);
		bad |= add_ckpt(o, "checkpoint1", cks, nck, a);
	}
	bad |= add_proof(o, proof, plen);
	bad |= add_ckpt(o, inc != NULL ? "checkpoint" : "checkpoint2", cks, nck, size);
	if (bad || (s = cJSON_Print(o)) == NULL) {
		r = cli_fail(ATTEST_E_NOMEM, "prove");
		goto out;
	}
	printf("%s\n", s);
	r = CLI_EXIT_OK;
out:
	free(s);
	cJSON_Delete(o);
	free(cks);
	free(leaves);
	return r;
}

/* ---- show ---- */

static int show_one(const struct attest_audit_view *v, void *arg)
{
	(void)arg;
	printf("%" PRIu64 " %.*s\n", v->seq, (int)v->rawlen, (const char *)v->raw);
	return ATTEST_OK;
}

int cmd_audit_show(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *dir, *type, *from, *to, *agent, *user, *subject;
	const struct cli_opt opts[] = {
		{ "log", "DIR", log_help, 0, &dir },
		{ "type", "T", "only records of this type (decision, issue, refusal, ...)", 0, &type },
		{ "from", "DATE", "from this day (YYYY-MM-DD, UTC) or Unix time", 0, &from },
		{ "to", "DATE", "to the end of this day or this Unix time", 0, &to },
		{ "agent", "GLOB", "an agent of the chain matches", 0, &agent },
		{ "user", "GLOB", "the user matches", 0, &user },
		{ "subject", "GLOB", "the subject (else the resource) matches", 0, &subject },
		{ 0 },
	};
	struct attest_audit_query q;
	int r;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED)
		return r;
	memset(&q, 0, sizeof(q));
	if ((r = parse_date("from", from, 0, &q.from)) != CLI_PARSED ||
	    (r = parse_date("to", to, to != NULL && strchr(to, '-') != NULL, &q.to)) != CLI_PARSED)
		return r;
	q.type = type;
	q.agent = agent;
	q.user = user;
	q.subject = subject;
	if ((r = attest_audit_query(dir != NULL ? dir : DEFAULT_AUDIT_DIR, &q, show_one, NULL)) !=
	    ATTEST_OK)
		return cli_fail(r, "read the audit log");
	return CLI_EXIT_OK;
}

/* ---- report ---- */

/* One CSV cell: quoted, quotes doubled; a leading = + - @ is prefixed with
 * ' so a spreadsheet does not run it as a formula. */
static void csv_cell(const char *s, int last)
{
	putchar('"');
	if (s != NULL && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@'))
		putchar('\'');
	for (const char *p = s != NULL ? s : ""; *p; p++) {
		if (*p == '"')
			putchar('"');
		putchar(*p);
	}
	putchar('"');
	putchar(last ? '\n' : ',');
}

struct report_ctx {
	int json;
	cJSON *arr;
	int fail;
};

static void recipient(const struct attest_audit_view *v, char *out, size_t sz)
{
	size_t off = 0;
	int n = snprintf(out, sz, "user %s", v->user != NULL ? v->user : "(none)");

	off = n > 0 ? (size_t)n : 0;
	for (size_t i = 0; i < v->nagents && off < sz; i++) {
		n = snprintf(out + off, sz - off, "%s%s", i == 0 ? " via " : " -> ", v->agents[i]);
		off += n > 0 ? (size_t)n : 0;
	}
	if (off < sz)
		snprintf(out + off, sz - off, " on host %s", v->host != NULL ? v->host : "(none)");
}

static int report_one(const struct attest_audit_view *v, void *arg)
{
	struct report_ctx *c = arg;
	char date[32], who[4096], what[2048], why[1200];

	iso_date(v->time, date);
	if (c->json) {
		cJSON *o = cJSON_CreateObject(), *rcp, *agents;

		if (o == NULL) {
			c->fail = 1;
			return ATTEST_E_NOMEM;
		}
		cJSON_AddItemToArray(c->arr, o);
		c->fail |= attest_json_add_u64(o, "seq", v->seq) != ATTEST_OK;
		cJSON_AddStringToObject(o, "date", date);
		if ((rcp = cJSON_AddObjectToObject(o, "recipient")) == NULL) {
			c->fail = 1;
			return ATTEST_E_NOMEM;
		}
		if (v->user != NULL)
			cJSON_AddStringToObject(rcp, "user", v->user);
		agents = cJSON_AddArrayToObject(rcp, "agents");
		for (size_t i = 0; agents != NULL && i < v->nagents; i++)
			cJSON_AddItemToArray(agents, cJSON_CreateString(v->agents[i]));
		if (v->host != NULL)
			cJSON_AddStringToObject(rcp, "host", v->host);
		if (v->action != NULL)
			cJSON_AddStringToObject(o, "action", v->action);
		if (v->resource != NULL)
			cJSON_AddStringToObject(o, "resource", v->resource);
		if (v->subject != NULL)
			cJSON_AddStringToObject(o, "subject", v->subject);
		if (v->purpose != NULL)
			cJSON_AddStringToObject(o, "purpose", v->purpose);
		if (v->purpose_text != NULL)
			cJSON_AddStringToObject(o, "purpose_text", v->purpose_text);
		return ATTEST_OK;
	}
	recipient(v, who, sizeof(who));
	snprintf(what, sizeof(what), "%s %s%s%s%s", v->action != NULL ? v->action : "access",
		 v->resource != NULL ? v->resource : "(resource not recorded)",
		 v->subject != NULL ? " (subject " : "", v->subject != NULL ? v->subject : "",
		 v->subject != NULL ? ")" : "");
	snprintf(why, sizeof(why), "%s%s%s", v->purpose != NULL ? v->purpose : "(none)",
		 v->purpose_text != NULL ? ": " : "", v->purpose_text != NULL ? v->purpose_text : "");
	csv_cell(date, 0);
	csv_cell(who, 0);
	csv_cell(what, 0);
	csv_cell(why, 1);
	return ATTEST_OK;
}

int cmd_audit_report(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *dir, *acct, *subject, *from, *to, *exempt, *format;
	const struct cli_opt opts[] = {
		{ "log", "DIR", log_help, 0, &dir },
		{ "accounting", NULL, "HIPAA 164.528 accounting of disclosures", 1, &acct },
		{ "subject", "GLOB", "the patient or resource pattern", 1, &subject },
		{ "from", "DATE", "period start (YYYY-MM-DD, UTC, or Unix time)", 1, &from },
		{ "to", "DATE", "period end (inclusive)", 1, &to },
		{ "include-exempt", NULL, "include treatment, payment, operations (access report)", 0,
		  &exempt },
		{ "format", "FMT", "csv (default) or json", 0, &format },
		{ 0 },
	};
	struct attest_audit_query q;
	struct report_ctx c = { 0, NULL, 0 };
	char *s = NULL;
	int r;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED)
		return r;
	(void)acct;
	if (format != NULL && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)
		return cli_usage_error("--format: csv or json");
	memset(&q, 0, sizeof(q));
	if ((r = parse_date("from", from, 0, &q.from)) != CLI_PARSED ||
	    (r = parse_date("to", to, strchr(to, '-') != NULL, &q.to)) != CLI_PARSED)
		return r;
	if (q.to < q.from)
		return cli_usage_error("--to is before --from");
	q.subject = subject;
	c.json = format != NULL && strcmp(format, "json") == 0;
	if (c.json && (c.arr = cJSON_CreateArray()) == NULL)
		return cli_fail(ATTEST_E_NOMEM, "report");
	if (!c.json)
		printf("date,recipient,description,purpose\n");
	r = attest_audit_accounting(dir != NULL ? dir : DEFAULT_AUDIT_DIR, &q, exempt != NULL,
				    report_one, &c);
	if (r != ATTEST_OK) {
		r = cli_fail(r, "accounting of disclosures");
		goto out;
	}
	if (c.json) {
		if (c.fail || (s = cJSON_Print(c.arr)) == NULL) {
			r = cli_fail(ATTEST_E_NOMEM, "report");
			goto out;
		}
		printf("%s\n", s);
	}
	r = CLI_EXIT_OK;
out:
	free(s);
	cJSON_Delete(c.arr);
	return r;
}

/* ---- checkpoint, append (operators and demos; attestd does both itself) ---- */

int cmd_audit_checkpoint(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *dir, *tcti;
	const struct cli_opt opts[] = {
		{ "log", "DIR", log_help, 0, &dir },
		{ "tcti", "CONF", tcti_help, 0, &tcti },
		{ 0 },
	};
	struct attest_audit *log = NULL;
	struct attest_audit_ckpt c;
	struct attest_tpm *t = NULL;
	char when[32];
	int r;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED ||
	    (r = cli_open_tpm(tcti, &t)) != CLI_EXIT_OK)
		return r;
	if ((r = attest_audit_open(dir != NULL ? dir : DEFAULT_AUDIT_DIR, NULL, &log)) != ATTEST_OK ||
	    (r = attest_audit_checkpoint(log, t, &c)) != ATTEST_OK) {
		r = cli_fail(r, "checkpoint");
		goto out;
	}
	iso_date(c.time, when);
	printf("checkpoint: %" PRIu64 " records, counter %" PRIu64 ", %s\n", c.size, c.counter, when);
	r = CLI_EXIT_OK;
out:
	attest_audit_close(log);
	attest_tpm_close(t);
	return r;
}

/* "a,b" -> up to ATTEST_AUDIT_LIST_MAX pointers into a copy. */
static int split_list(const char *csv, char **copy, const char **v, size_t *n)
{
	char *p, *save = NULL;

	*n = 0;
	*copy = NULL;
	if (csv == NULL)
		return CLI_PARSED;
	if ((*copy = strdup(csv)) == NULL)
		return cli_fail(ATTEST_E_NOMEM, "list");
	for (p = strtok_r(*copy, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save)) {
		if (*n >= ATTEST_AUDIT_LIST_MAX)
			return cli_usage_error("at most %d list items", ATTEST_AUDIT_LIST_MAX);
		v[(*n)++] = p;
	}
	return CLI_PARSED;
}

int cmd_audit_append(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *dir, *type, *host, *user, *agents, *purpose, *text, *subject, *action,
		*resource, *outcome, *reason, *time_s;
	const struct cli_opt opts[] = {
		{ "log", "DIR", log_help, 0, &dir },
		{ "type", "T", "event type", 1, &type },
		{ "time", "SECONDS", "Unix time (default now)", 0, &time_s },
		{ "host", "NAME", "host", 0, &host },
		{ "user", "USER", "user on whose behalf", 0, &user },
		{ "agents", "ID,ID", "agent chain, first delegator first", 0, &agents },
		{ "purpose", "CODE", "purpose code", 0, &purpose },
		{ "purpose-text", "TEXT", "purpose text", 0, &text },
		{ "subject", "ID", "whose data (patient)", 0, &subject },
		{ "action", "A", "action", 0, &action },
		{ "resource", "R", "resource", 0, &resource },
		{ "outcome", "O", "allow, deny, ok, error", 0, &outcome },
		{ "reason", "R", "reason", 0, &reason },
		{ 0 },
	};
	const char *chain[ATTEST_AUDIT_LIST_MAX];
	struct attest_audit_event ev;
	struct attest_audit *log = NULL;
	char *copy = NULL;
	uint64_t seq;
	int r;

	if ((r = cli_parse(cmd, opts, argc, argv)) != CLI_PARSED)
		return r;
	memset(&ev, 0, sizeof(ev));
	if ((time_s != NULL && (r = cli_u64("time", time_s, &ev.time)) != CLI_PARSED) ||
	    (r = split_list(agents, &copy, chain, &ev.nagents)) != CLI_PARSED)
		goto out;
	ev.type = type;
	ev.host = host;
	ev.user = user;
	ev.agents = chain;
	ev.purpose = purpose;
	ev.purpose_text = text;
	ev.subject = subject;
	ev.action = action;
	ev.resource = resource;
	ev.outcome = outcome;
	ev.reason = reason;
	if ((r = attest_audit_open(dir != NULL ? dir : DEFAULT_AUDIT_DIR, NULL, &log)) != ATTEST_OK ||
	    (r = attest_audit_append_event(log, &ev, &seq)) != ATTEST_OK ||
	    (r = attest_audit_sync(log)) != ATTEST_OK) {
		r = cli_fail(r, "append");
		goto out;
	}
	printf("%" PRIu64 "\n", seq);
	r = CLI_EXIT_OK;
out:
	attest_audit_close(log);
	free(copy);
	return r;
}
