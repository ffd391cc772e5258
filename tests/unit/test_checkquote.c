/* test_checkquote.c - `attest-verifier check-quote` on files made by
 * tpm2-tools 5.4 against a private swtpm: accepted with the right selection
 * and nonce; refused with a narrower or wider --pcr-list, a wrong nonce, a
 * tampered message, signature or PCR file; and the case the issue names:
 * a quote over another selection, which `tpm2_checkquote` accepts (shown by
 * running it) and we refuse.
 * Targets: vf_cmd_check_quote, vf_check_quote_files, vf_parse_pcr_list,
 * vf_parse_serialized_pcrs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_mu.h>

#include "check_quote.h"
#include "testutil.h"

#define NONCE "00112233445566778899aabbccddeeff"
#define TT "cd '%s' && export TPM2TOOLS_TCTI='%s' TSS2_LOG=all+none && "

static struct tu_tpm sw;
static char dir[600];
static const uint8_t nonce[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
				   0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };

static void path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

/* One swtpm and one set of tpm2-tools captures for the whole binary. */
static void fixture(void)
{
	if (dir[0] != '\0')
		return;
	tu_tpm_start(&sw);
	snprintf(dir, sizeof(dir), "%s", sw.dir);
	CU_ASSERT_FATAL(tu_sh(TT "tpm2_createek -c ek.ctx -G ecc -u ek.pub >/dev/null && "
			      "tpm2_createak -C ek.ctx -c ak.ctx -G ecc -g sha256 -s ecdsa -u ak.pem "
			      "-f pem -n ak.name >/dev/null && tpm2_flushcontext -t && "
			      "tpm2_quote -c ak.ctx -l sha256:0,1,2 -q " NONCE " -m msg -s sig -o pcrs "
			      "-g sha256 >/dev/null && tpm2_flushcontext -t && "
			      "tpm2_quote -c ak.ctx -l sha256:0,1 -q " NONCE " -m msg01 -s sig01 "
			      "-o pcrs01 -g sha256 >/dev/null && tpm2_flushcontext -t && "
			      "tpm2_quote -c ak.ctx -l sha256:0,1,2 -q " NONCE " -m msgv -s sigv "
			      "-o pcrsv -F values -g sha256 >/dev/null && tpm2_flushcontext -t",
			      dir, sw.tcti) == 0);
}

static int check(const char *msg, const char *sig, const char *pcrs, enum vf_pcrs_format fmt,
		 const char *list, const uint8_t *n, size_t nlen)
{
	char ak[700], m[700], s[700], p[700];
	struct attest_quote_result res;
	uint8_t values[24][32];
	uint32_t mask = 0;

	path(ak, sizeof(ak), "ak.pem");
	path(m, sizeof(m), msg);
	path(s, sizeof(s), sig);
	path(p, sizeof(p), pcrs);
	CU_ASSERT_FATAL(vf_parse_pcr_list(list, &mask) == ATTEST_OK);
	return vf_check_quote_files(ak, m, s, p, fmt, mask, n, nlen, &res, values);
}

/* Copy file `from` to `to` with byte `at` XORed by x (at < 0: from the end);
 * extra > 0 appends that many zero bytes, < 0 truncates. */
static void tamper(const char *from, const char *to, long at, uint8_t x, long extra)
{
	char f[700], t[700];
	size_t n;
	uint8_t *b;

	path(f, sizeof(f), from);
	path(t, sizeof(t), to);
	b = (uint8_t *)tu_slurp(f, &n);
	b = realloc(b, n + 16);
	CU_ASSERT_FATAL(b != NULL);
	if (x != 0)
		b[at >= 0 ? (size_t)at : n - (size_t)(-at)] ^= x;
	if (extra > 0) {
		memset(b + n, 0, (size_t)extra);
		n += (size_t)extra;
	} else {
		n -= (size_t)(-extra);
	}
	tu_write(t, b, n);
	free(b);
}

static int run_cli(const char *list, const char *nonce_hex, const char *msg)
{
	char ak[700], m[700], s[700], p[700];
	char *argv[] = { "check-quote", "--ak", ak, "--msg", m, "--sig", s, "--pcrs", p,
			 "--pcr-list", (char *)list, "--nonce", (char *)nonce_hex, NULL };

	path(ak, sizeof(ak), "ak.pem");
	path(m, sizeof(m), msg);
	path(s, sizeof(s), "sig");
	path(p, sizeof(p), "pcrs");
	return vf_cmd_check_quote(13, argv);
}

static void test_accepts(void)
{
	fixture();
	TU_ASSERT_ERR(check("msg", "sig", "pcrs", VF_PCRS_SERIALIZED, "sha256:0,1,2", nonce, 16),
		      ATTEST_OK);
	TU_ASSERT_ERR(check("msgv", "sigv", "pcrsv", VF_PCRS_VALUES, "sha256:2,0,1", nonce, 16),
		      ATTEST_OK);
	CU_ASSERT(run_cli("sha256:0,1,2", NONCE, "msg") == 0);
	/* and tpm2_checkquote agrees on the good quote */
	CU_ASSERT(tu_sh(TT "tpm2_checkquote -u ak.pem -m msg -s sig -f pcrs -g sha256 -q " NONCE
			   " >/dev/null 2>&1",
			dir, sw.tcti) == 0);
}

static void test_refuses(void)
{
	uint8_t wrong[16];

	fixture();
	/* required selection narrower / wider than the quote's */
	TU_ASSERT_ERR(check("msg", "sig", "pcrs", VF_PCRS_SERIALIZED, "sha256:0,1", nonce, 16),
		      ATTEST_E_QUOTE_SELECTION);
	TU_ASSERT_ERR(check("msg", "sig", "pcrs", VF_PCRS_SERIALIZED, "sha256:0,1,2,3", nonce, 16),
		      ATTEST_E_QUOTE_SELECTION);
	TU_ASSERT_ERR(check("msgv", "sigv", "pcrsv", VF_PCRS_VALUES, "sha256:0,1,3", nonce, 16),
		      ATTEST_E_QUOTE_SELECTION);
	CU_ASSERT(run_cli("sha256:0,1", NONCE, "msg") == 1);
	/* wrong nonce */
	memcpy(wrong, nonce, 16);
	wrong[15] ^= 1;
	TU_ASSERT_ERR(check("msg", "sig", "pcrs", VF_PCRS_SERIALIZED, "sha256:0,1,2", wrong, 16),
		      ATTEST_E_NONCE);
	TU_ASSERT_ERR(check("msg", "sig", "pcrs", VF_PCRS_SERIALIZED, "sha256:0,1,2", nonce, 15),
		      ATTEST_E_NONCE);
	CU_ASSERT(run_cli("sha256:0,1,2", NONCE "00", "msg") == 1);
	/* tampered message */
	tamper("msg", "msg.bad", -1, 0x01, 0); /* last byte of pcrDigest */
	TU_ASSERT_ERR(check("msg.bad", "sig", "pcrs", VF_PCRS_SERIALIZED, "sha256:0,1,2", nonce, 16),
		      ATTEST_E_QUOTE_DIGEST);
	tamper("msg", "msg.bad2", -50, 0x01, 0); /* inside firmwareVersion/clock */
	TU_ASSERT_ERR(check("msg.bad2", "sig", "pcrs", VF_PCRS_SERIALIZED, "sha256:0,1,2", nonce, 16),
		      ATTEST_E_EVIDENCE_SIGNATURE);
	tamper("msg", "msg.long", 0, 0, 1);
	TU_ASSERT_ERR(check("msg.long", "sig", "pcrs", VF_PCRS_SERIALIZED, "sha256:0,1,2", nonce, 16),
		      ATTEST_E_PARSE);
	/* tampered signature */
	tamper("sig", "sig.bad", -1, 0x01, 0);
	TU_ASSERT_ERR(check("msg", "sig.bad", "pcrs", VF_PCRS_SERIALIZED, "sha256:0,1,2", nonce, 16),
		      ATTEST_E_EVIDENCE_SIGNATURE);
	/* tampered PCR values, and a PCR file one byte long or short */
	tamper("pcrs", "pcrs.bad", -1, 0x80, 0);
	tamper("pcrs", "pcrs.long", 0, 0, 1);
	tamper("pcrs", "pcrs.short", 0, 0, -1);
	TU_ASSERT_ERR(check("msg", "sig", "pcrs.long", VF_PCRS_SERIALIZED, "sha256:0,1,2", nonce, 16),
		      ATTEST_E_PARSE);
	TU_ASSERT_ERR(check("msg", "sig", "pcrs.short", VF_PCRS_SERIALIZED, "sha256:0,1,2", nonce, 16),
		      ATTEST_E_PARSE);
	/* the last digest byte of the serialized file is padding of the
	 * TPML_DIGEST (8 slots): flip the first PCR's first byte instead */
	{
		char p[700];
		size_t n;
		uint8_t *b;

		path(p, sizeof(p), "pcrs");
		b = (uint8_t *)tu_slurp(p, &n);
		b[sizeof(TPML_PCR_SELECTION) + 4 + 4 + 2] ^= 0x80;
		path(p, sizeof(p), "pcrs.bad");
		tu_write(p, b, n);
		free(b);
	}
	TU_ASSERT_ERR(check("msg", "sig", "pcrs.bad", VF_PCRS_SERIALIZED, "sha256:0,1,2", nonce, 16),
		      ATTEST_E_QUOTE_DIGEST);
}

/* The case: a quote over sha256:0,1 when 0,1,2 is required. */
static void test_other_selection(void)
{
	fixture();
	/* tpm2_checkquote 5.4 takes the selection from the PCR file the quoter
	 * wrote and has no notion of a required one: it accepts */
	CU_ASSERT(tu_sh(TT "tpm2_checkquote -u ak.pem -m msg01 -s sig01 -f pcrs01 -g sha256 -q " NONCE
			   " >/dev/null 2>&1",
			dir, sw.tcti) == 0);
	/* we refuse it for the required selection */
	TU_ASSERT_ERR(check("msg01", "sig01", "pcrs01", VF_PCRS_SERIALIZED, "sha256:0,1,2", nonce, 16),
		      ATTEST_E_QUOTE_SELECTION);
	/* and accept it only when 0,1 is what is required */
	TU_ASSERT_ERR(check("msg01", "sig01", "pcrs01", VF_PCRS_SERIALIZED, "sha256:0,1", nonce, 16),
		      ATTEST_OK);
}

static void test_usage(void)
{
	uint32_t m;
	char *argv[] = { "check-quote", "--ak", "x", NULL };

	fixture();
	CU_ASSERT(vf_cmd_check_quote(3, argv) == 2);
	CU_ASSERT(run_cli("sha1:0,1,2", NONCE, "msg") == 2);
	CU_ASSERT(run_cli("sha256:0,1,2", "0g", "msg") == 2);
	TU_ASSERT_ERR(vf_parse_pcr_list("sha256:0,24", &m), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(vf_parse_pcr_list("sha256:0,0", &m), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(vf_parse_pcr_list("sha256:01", &m), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(vf_parse_pcr_list("sha256:", &m), ATTEST_E_INVALID_ARG);
	TU_ASSERT_ERR(vf_parse_pcr_list("sha256:23,0", &m), ATTEST_OK);
	CU_ASSERT(m == 0x800001u);
}

static void stop(void)
{
	if (dir[0] != '\0')
		tu_tpm_stop(&sw);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "tpm2-tools quote accepted", test_accepts },
		{ "selection, nonce, message, signature, PCR file refused", test_refuses },
		{ "other selection: tpm2_checkquote accepts, we refuse", test_other_selection },
		{ "usage errors", test_usage },
		{ NULL, NULL },
	};

	atexit(stop);
	return tu_main("checkquote", tests);
}
