/* test_refset.c - operator-signed reference sets and the event-log parser,
 * in software: every refusal with its code.
 * Targets: attest_refset_sign, attest_refset_verify, attest_eventlog_parse,
 * attest_eventlog_replay, vf_cmd_refset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <tss2/tss2_tpm2_types.h>

#include "attestation/eventlog.h"
#include "core/json.h"
#include "core/jws.h"
#include "attestation/refset.h"
#include "refset_cli.h"
#include "testutil.h"

#define H0 "0000000000000000000000000000000000000000000000000000000000000000"
#define HA "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define SET "{\"version\":\"1\",\"name\":\"fw-1\",\"pcrs\":{\"0\":\"" H0 "\",\"7\":\"" HA "\"}," \
	    "\"eventlog\":{\"4\":[\"" HA "\"]},\"not_after\":\"2000\"}"

static int sign(EVP_PKEY *k, const char *kid, const char *json, char **tok)
{
	return attest_refset_sign(k, kid, json, strlen(json), tok);
}

static void test_refset(void)
{
	EVP_PKEY *op = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256");
	struct attest_refset_operator ops[2] = { { "alice", op }, { "bob", other } };
	struct attest_refset *s = NULL;
	char *tok = NULL, *t2 = NULL;
	uint8_t v[32];

	CU_ASSERT_FATAL(op != NULL && other != NULL);
	TU_ASSERT_ERR(sign(op, "alice", SET, &tok), ATTEST_OK);
	TU_ASSERT_ERR(attest_refset_verify(tok, strlen(tok), ops, 2, 1500, &s), ATTEST_OK);
	CU_ASSERT_STRING_EQUAL(attest_refset_name(s), "fw-1");
	CU_ASSERT_STRING_EQUAL(attest_refset_kid(s), "alice");
	CU_ASSERT(attest_refset_mask(s) == 0x81 && attest_refset_allow_mask(s) == 0x10);
	memset(v, 0xaa, 32);
	CU_ASSERT(memcmp(attest_refset_value(s, 7), v, 32) == 0);
	CU_ASSERT(attest_refset_allowed(s, 4, v) == 1 && attest_refset_allowed(s, 5, v) == 0);
	CU_ASSERT(attest_refset_not_after(s) == 2000);
	attest_refset_free(s);
	s = NULL;

	/* expired, unknown operator, another operator's key under this kid */
	TU_ASSERT_ERR(attest_refset_verify(tok, strlen(tok), ops, 2, 2001, &s),
		      ATTEST_E_REFSET_SIGNATURE);
	TU_ASSERT_ERR(attest_refset_verify(tok, strlen(tok), ops + 1, 1, 1500, &s),
		      ATTEST_E_REFSET_SIGNATURE);
	ops[0].key = other;
	TU_ASSERT_ERR(attest_refset_verify(tok, strlen(tok), ops, 2, 1500, &s),
		      ATTEST_E_REFSET_SIGNATURE);
	ops[0].key = op;
	/* a flipped signature character (still canonical base64url) */
	tok[strlen(tok) - 2] = tok[strlen(tok) - 2] == 'A' ? 'B' : 'A';
	TU_ASSERT_ERR(attest_refset_verify(tok, strlen(tok), ops, 2, 1500, &s),
		      ATTEST_E_REFSET_SIGNATURE);
	/* bob signs a set claiming to be alice's: header kid says alice */
	TU_ASSERT_ERR(sign(other, "alice", SET, &t2), ATTEST_OK);
	TU_ASSERT_ERR(attest_refset_verify(t2, strlen(t2), ops, 2, 1500, &s),
		      ATTEST_E_REFSET_SIGNATURE);
	free(t2);
	t2 = NULL;
	CU_ASSERT(s == NULL);

	/* malformed sets are refused at signing and at verification */
	TU_ASSERT_ERR(sign(op, "alice", "{\"version\":\"1\",\"name\":\"x\",\"pcrs\":{}}", &t2),
		      ATTEST_E_PARSE);
	TU_ASSERT_ERR(sign(op, "alice", "{\"version\":\"1\",\"name\":\"x\",\"pcrs\":{\"24\":\"" H0 "\"}}",
			   &t2),
		      ATTEST_E_PARSE);
	TU_ASSERT_ERR(sign(op, "alice", "{\"version\":\"1\",\"name\":\"x\",\"pcrs\":{\"01\":\"" H0 "\"}}",
			   &t2),
		      ATTEST_E_PARSE);
	TU_ASSERT_ERR(sign(op, "alice", "{\"version\":\"1\",\"name\":\"x\",\"pcrs\":{\"0\":\"00\"}}", &t2),
		      ATTEST_E_PARSE);
	TU_ASSERT_ERR(sign(op, "alice", "{\"version\":\"2\",\"name\":\"x\",\"pcrs\":{\"0\":\"" H0 "\"}}",
			   &t2),
		      ATTEST_E_PARSE);
	TU_ASSERT_ERR(sign(op, "alice",
			   "{\"version\":\"1\",\"name\":\"x\",\"pcrs\":{\"0\":\"" H0 "\"},\"extra\":1}", &t2),
		      ATTEST_E_PARSE);
	TU_ASSERT_ERR(sign(op, "alice",
			   "{\"version\":\"1\",\"name\":\"x\",\"pcrs\":{\"0\":\"" H0 "\",\"0\":\"" H0 "\"}}",
			   &t2),
		      ATTEST_E_DUPLICATE_KEY);
	TU_ASSERT_ERR(sign(op, "alice",
			   "{\"version\":\"1\",\"name\":\"x\",\"pcrs\":{\"0\":\"" H0 "\"},"
			   "\"eventlog\":{\"4\":[\"" HA "\",\"" HA "\"]}}",
			   &t2),
		      ATTEST_E_PARSE);
	TU_ASSERT_ERR(sign(op, "../etc", SET, &t2), ATTEST_E_INVALID_ARG);
	/* a token that is not a JWS, and one with a foreign typ */
	TU_ASSERT_ERR(attest_refset_verify("abc.def", 7, ops, 2, 1500, &s), ATTEST_E_PARSE);
	{
		char *fake = NULL;

		CU_ASSERT_FATAL(attest_jws_sign(op, "{\"alg\":\"ES256\",\"typ\":\"attest-intent+jws\","
						    "\"kid\":\"alice\"}",
						SET, 4096, &fake) == ATTEST_OK);
		TU_ASSERT_ERR(attest_refset_verify(fake, strlen(fake), ops, 2, 1500, &s), ATTEST_E_PARSE);
		free(fake);
	}
	free(tok);
	EVP_PKEY_free(op);
	EVP_PKEY_free(other);
}

static void test_refset_cli(void)
{
	char dir[512], path[800], key[700], in[700], out[700], ops[700];
	EVP_PKEY *op = EVP_EC_gen("P-256");
	FILE *f;
	char *argv_sign[] = { "refset", "sign", "--key", key, "--kid", "alice", "--in", in, "--out", out, NULL };
	char *argv_show[] = { "refset", "show", out, "--operators", ops, "--now", "1500", NULL };
	char *argv_late[] = { "refset", "show", out, "--operators", ops, "--now", "2001", NULL };

	tu_mkdtemp(dir, sizeof(dir));
	snprintf(key, sizeof(key), "%s/alice.key", dir);
	snprintf(in, sizeof(in), "%s/set.json", dir);
	snprintf(out, sizeof(out), "%s/set.jws", dir);
	snprintf(ops, sizeof(ops), "%s/operators", dir);
	snprintf(path, sizeof(path), "%s/alice.pem", ops);
	CU_ASSERT_FATAL(tu_sh("mkdir '%s'", ops) == 0);
	f = fopen(key, "w");
	CU_ASSERT_FATAL(f != NULL && PEM_write_PrivateKey(f, op, NULL, NULL, 0, NULL, NULL) == 1);
	fclose(f);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL && PEM_write_PUBKEY(f, op) == 1);
	fclose(f);
	tu_write(in, SET "\n", strlen(SET) + 1);
	CU_ASSERT(vf_cmd_refset(10, argv_sign) == 0);
	CU_ASSERT(vf_cmd_refset(7, argv_show) == 0);
	CU_ASSERT(vf_cmd_refset(7, argv_late) == 1); /* expired */
	/* --now is a number by attest_parse_u64's rules: what strtol let
	 * through (space, sign, trailing byte) is a usage error, exit 2 */
	{
		static const char *const bad[] = { " 1500", "+1500", "1500 ", "1500x", "0x5dc",
						   "01500", "-1", "", "18446744073709551616" };
		char now[32];
		char *argv_bad[] = { "refset", "show", out, "--operators", ops, "--now", now, NULL };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(now, sizeof(now), "%s", bad[i]);
			CU_ASSERT_EQUAL(vf_cmd_refset(7, argv_bad), 2);
		}
	}
	CU_ASSERT(tu_sh("rm '%s'", path) == 0);
	CU_ASSERT(vf_cmd_refset(7, argv_show) == 1); /* operator unknown */
	tu_rmtree(dir);
	EVP_PKEY_free(op);
}

static void le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void test_eventlog_parser(void)
{
	const uint16_t algs[] = { TPM2_ALG_SHA1, TPM2_ALG_SHA256 };
	struct attest_eventlog_writer w;
	struct attest_eventlog log;
	uint8_t pcrs[24][32], want[32], buf[4096], zero[32] = { 0 };
	uint32_t ext;
	size_t hdr, len;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t d[32];

	TU_ASSERT_ERR(attest_eventlog_writer_init(&w, algs, 2), ATTEST_OK);
	hdr = w.len;
	TU_ASSERT_ERR(attest_eventlog_writer_add(&w, 4, 0x80000003u, "abc", 3, NULL), ATTEST_OK);
	len = w.len;
	CU_ASSERT_FATAL(len < sizeof(buf));
	memcpy(buf, w.buf, len);
	TU_ASSERT_ERR(attest_eventlog_parse(buf, len, &log), ATTEST_OK);
	CU_ASSERT(log.nevents == 1 && log.nalgs == 2);
	/* replay by hand: PCR 4 = SHA-256(0 || SHA-256("abc")) */
	TU_ASSERT_ERR(attest_eventlog_replay(&log, pcrs, &ext), ATTEST_OK);
	CU_ASSERT(ext == 0x10);
	CU_ASSERT(EVP_Digest("abc", 3, d, NULL, EVP_sha256(), NULL) == 1);
	CU_ASSERT(EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(md, zero, 32) == 1 &&
		  EVP_DigestUpdate(md, d, 32) == 1 && EVP_DigestFinal_ex(md, want, NULL) == 1);
	CU_ASSERT(memcmp(pcrs[4], want, 32) == 0);
	CU_ASSERT(memcmp(pcrs[5], zero, 32) == 0 && pcrs[17][0] == 0xff);
	EVP_MD_CTX_free(md);

	/* trailing byte, truncation, header only (no events) */
	buf[len] = 0;
	TU_ASSERT_ERR(attest_eventlog_parse(buf, len + 1, &log), ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_eventlog_parse(buf, len - 1, &log), ATTEST_E_PARSE);
	TU_ASSERT_ERR(attest_eventlog_parse(buf, hdr, &log), ATTEST_OK);
	/* a legacy (SHA-1 format) log: no Spec ID signature */
	buf[32 + 3] ^= 0x20;
	TU_ASSERT_ERR(attest_eventlog_parse(buf, len, &log), ATTEST_E_PARSE);
	buf[32 + 3] ^= 0x20;
	/* PCR index 24 */
	le32(buf + hdr, 24);
	TU_ASSERT_ERR(attest_eventlog_parse(buf, len, &log), ATTEST_E_PARSE);
	le32(buf + hdr, 4);
	/* a digest count that differs from the header's */
	le32(buf + hdr + 8, 1);
	TU_ASSERT_ERR(attest_eventlog_parse(buf, len, &log), ATTEST_E_PARSE);
	le32(buf + hdr + 8, 2);
	/* an algorithm the header did not declare (SHA-1 -> SHA-384 id) */
	buf[hdr + 12] = 0x0c;
	TU_ASSERT_ERR(attest_eventlog_parse(buf, len, &log), ATTEST_E_PARSE);
	/* the same algorithm twice */
	buf[hdr + 12] = 0x0b;
	TU_ASSERT_ERR(attest_eventlog_parse(buf, len, &log), ATTEST_E_PARSE);
	buf[hdr + 12] = 0x04;
	TU_ASSERT_ERR(attest_eventlog_parse(buf, len, &log), ATTEST_OK);
	/* event data size over the cap, and over the buffer */
	le32(buf + len - 3 - 4, ATTEST_EVENTLOG_DATA_MAX + 1);
	TU_ASSERT_ERR(attest_eventlog_parse(buf, len, &log), ATTEST_E_TOO_LARGE);
	le32(buf + len - 3 - 4, 0xffffffffu);
	TU_ASSERT_ERR(attest_eventlog_parse(buf, len, &log), ATTEST_E_TOO_LARGE);
	le32(buf + len - 3 - 4, 4);
	TU_ASSERT_ERR(attest_eventlog_parse(buf, len, &log), ATTEST_E_PARSE);
	/* whole-log cap */
	TU_ASSERT_ERR(attest_eventlog_parse(buf, ATTEST_EVENTLOG_MAX + 1, &log), ATTEST_E_TOO_LARGE);
	attest_eventlog_writer_free(&w);

	/* too many events */
	{
		const uint16_t a1[] = { TPM2_ALG_SHA256 };

		TU_ASSERT_ERR(attest_eventlog_writer_init(&w, a1, 1), ATTEST_OK);
		for (int i = 0; i <= ATTEST_EVENTLOG_EVENTS_MAX; i++)
			TU_ASSERT_ERR(attest_eventlog_writer_add(&w, 8, 0xd, NULL, 0, NULL), ATTEST_OK);
		TU_ASSERT_ERR(attest_eventlog_parse(w.buf, w.len, &log), ATTEST_E_TOO_LARGE);
		attest_eventlog_writer_free(&w);
	}
	/* StartupLocality: sets PCR 0's start; refused after PCR 0 was extended */
	TU_ASSERT_ERR(attest_eventlog_writer_init(&w, algs, 2), ATTEST_OK);
	TU_ASSERT_ERR(attest_eventlog_writer_locality(&w, 3), ATTEST_OK);
	TU_ASSERT_ERR(attest_eventlog_parse(w.buf, w.len, &log), ATTEST_OK);
	TU_ASSERT_ERR(attest_eventlog_replay(&log, pcrs, &ext), ATTEST_OK);
	CU_ASSERT(pcrs[0][31] == 3 && ext == 0);
	TU_ASSERT_ERR(attest_eventlog_writer_add(&w, 0, 8, "x", 1, NULL), ATTEST_OK);
	TU_ASSERT_ERR(attest_eventlog_writer_locality(&w, 3), ATTEST_OK);
	TU_ASSERT_ERR(attest_eventlog_parse(w.buf, w.len, &log), ATTEST_E_PARSE);
	attest_eventlog_writer_free(&w);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "reference sets: sign, verify, refusals", test_refset },
		{ "refset sign/show commands", test_refset_cli },
		{ "event log parser caps and replay", test_eventlog_parser },
		{ NULL, NULL },
	};

	return tu_main("refset", tests);
}
