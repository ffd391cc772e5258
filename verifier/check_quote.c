/* check_quote.c - `attest-verifier check-quote` (see check_quote.h). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "check_quote.h"
#include "cli.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/num.h"
#include "tpm/tpmsw.h"

#define PEM_MAX (16 * 1024)
#define MSG_MAX (sizeof(((TPM2B_ATTEST *)0)->attestationData))
#define SIG_MAX sizeof(TPMT_SIGNATURE)
#define PCRS_MAX (sizeof(TPML_PCR_SELECTION) + 4 + 24 * sizeof(TPML_DIGEST))
#define NONCE_MAX sizeof(TPMU_HA) /* TPM2B_DATA */

static unsigned popcount24(uint32_t m)
{
	unsigned n = 0;

	for (unsigned i = 0; i < 24; i++)
		n += (m >> i) & 1u;
	return n;
}

int vf_parse_pcr_list(const char *s, uint32_t *mask)
{
	const char *p;
	uint32_t m = 0;

	*mask = 0;
	if (s == NULL || strncmp(s, "sha256:", 7) != 0)
		return attest_fail(ATTEST_E_INVALID_ARG,
				   "PCR list \"%.64s\" is not sha256:N[,N...] (only the SHA-256 bank)",
				   s != NULL ? s : "");
	p = s + 7;
	for (;;) {
		size_t n = strspn(p, "0123456789");
		uint64_t v;

		if (attest_parse_u64n(p, n, 0, 23, &v) != ATTEST_OK || (p[n] != ',' && p[n] != '\0'))
			return attest_fail(ATTEST_E_INVALID_ARG,
					   "PCR list \"%.64s\": PCRs are 0..23, comma-separated", s);
		p += n;
		if (m & (1u << v))
			return attest_fail(ATTEST_E_INVALID_ARG, "PCR list \"%.64s\": PCR %u twice", s,
					   (unsigned)v);
		m |= 1u << v;
		if (*p == '\0')
			break;
		p++;
	}
	*mask = m;
	return ATTEST_OK;
}

/* tpm2-tools 5.4 writes the pcrs file as its in-memory structs: a
 * TPML_PCR_SELECTION, a uint32 count, then count TPML_DIGEST, each at its
 * full sizeof with the compiler's padding, little-endian (x86). Read field
 * by field through the cursor, skipping exactly the padding and unused
 * slots that sizeof says are there. */
#define SEL_ENTRY_PAD (sizeof(TPMS_PCR_SELECTION) - 2 - 1 - TPM2_PCR_SELECT_MAX)
#define SEL_HEAD_PAD (offsetof(TPML_PCR_SELECTION, pcrSelections) - 4)
#define DIG_HEAD_PAD (offsetof(TPML_DIGEST, digests) - 4)
#define DIG_ENTRY_PAD (sizeof(TPM2B_DIGEST) - 2 - sizeof(((TPM2B_DIGEST *)0)->buffer))

int vf_parse_serialized_pcrs(const uint8_t *buf, size_t len, uint32_t *mask, uint8_t *values,
			     size_t *values_len)
{
	struct attest_cur c, sel;
	uint32_t count, nsel, m = 0;
	uint16_t hash = 0;
	uint8_t sizeof_select = 0;
	const uint8_t *select = NULL;
	size_t n = 0, want;

	*mask = 0;
	*values_len = 0;
	attest_cur_init(&c, buf, len);
	if (!attest_cur_sub(&c, sizeof(TPML_PCR_SELECTION), &sel) || !attest_cur_u32le(&c, &count))
		return attest_fail(ATTEST_E_PARSE, "pcrs file of %zu bytes is too short", len);
	if (count == 0 || count > 24)
		return attest_fail(ATTEST_E_PARSE, "pcrs file holds %u digest lists", count);
	want = sizeof(TPML_PCR_SELECTION) + 4 + (size_t)count * sizeof(TPML_DIGEST);
	if (len != want)
		return attest_fail(ATTEST_E_PARSE,
				   "pcrs file of %zu bytes; %u digest lists make %zu (tpm2-tools 5.4 "
				   "serialized format)",
				   len, count, want);
	if (!attest_cur_u32le(&sel, &nsel) || !attest_cur_skip(&sel, SEL_HEAD_PAD))
		return attest_fail(ATTEST_E_PARSE, "pcrs file: selection truncated");
	if (nsel != 1)
		return attest_fail(ATTEST_E_QUOTE_SELECTION, "pcrs file selects %u banks, expected one",
				   nsel);
	if (!attest_cur_u16le(&sel, &hash) || !attest_cur_u8(&sel, &sizeof_select) ||
	    !attest_cur_take(&sel, TPM2_PCR_SELECT_MAX, &select) ||
	    !attest_cur_skip(&sel, SEL_ENTRY_PAD))
		return attest_fail(ATTEST_E_PARSE, "pcrs file: selection truncated");
	/* the 15 unused selection slots are not read */
	if (hash != TPM2_ALG_SHA256)
		return attest_fail(ATTEST_E_QUOTE_SELECTION,
				   "pcrs file selects bank 0x%04x; only SHA-256 is accepted", hash);
	if (sizeof_select > 3)
		return attest_fail(ATTEST_E_PARSE, "pcrs file selection of %u bytes", sizeof_select);
	for (unsigned b = 0; b < 8u * sizeof_select; b++)
		if (select[b / 8] & (1u << (b % 8)))
			m |= 1u << b;
	if (m == 0)
		return attest_fail(ATTEST_E_QUOTE_SELECTION, "pcrs file selects no PCR");
	for (uint32_t j = 0; j < count; j++) {
		struct attest_cur d;
		uint32_t dcount;

		if (!attest_cur_sub(&c, sizeof(TPML_DIGEST), &d) || !attest_cur_u32le(&d, &dcount) ||
		    !attest_cur_skip(&d, DIG_HEAD_PAD))
			return attest_fail(ATTEST_E_PARSE, "pcrs file: digest list %u truncated", j);
		if (dcount == 0 || dcount > 8)
			return attest_fail(ATTEST_E_PARSE, "pcrs file: digest list %u has %u digests", j,
					   dcount);
		for (uint32_t k = 0; k < dcount; k++) {
			const uint8_t *digest;
			uint16_t size;

			if (!attest_cur_u16le(&d, &size) ||
			    !attest_cur_take(&d, sizeof(((TPM2B_DIGEST *)0)->buffer), &digest) ||
			    !attest_cur_skip(&d, DIG_ENTRY_PAD))
				return attest_fail(ATTEST_E_PARSE, "pcrs file: digest %u.%u truncated",
						   j, k);
			if (size != 32)
				return attest_fail(ATTEST_E_PARSE,
						   "pcrs file: digest %u.%u is %u bytes, not SHA-256", j,
						   k, size);
			if (n == popcount24(m))
				return attest_fail(ATTEST_E_PARSE,
						   "pcrs file holds more digests than the %u PCRs it selects",
						   popcount24(m));
			memcpy(values + n * 32, digest, 32);
			n++;
		}
	}
	if (!attest_cur_end(&c) || n != popcount24(m))
		return attest_fail(ATTEST_E_PARSE, "pcrs file holds %zu digests for %u selected PCRs", n,
				   popcount24(m));
	*mask = m;
	*values_len = n * 32;
	return ATTEST_OK;
}

/* A PEM public key (ECC P-256/P-384 or RSA) as the TPM public area that
 * attest_tpm_verify_sig needs. */
static int ak_from_pem(const char *path, TPM2B_PUBLIC *pub)
{
	uint8_t *buf = NULL;
	BIO *b = NULL;
	EVP_PKEY *k = NULL;
	size_t len = 0;
	int r;

	memset(pub, 0, sizeof(*pub));
	if ((r = attest_file_read(path, PEM_MAX, &buf, &len)) != ATTEST_OK)
		goto out;
	if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL ||
	    (k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL)) == NULL) {
		r = attest_fail_ossl(ATTEST_E_PARSE, "%s: not a PEM public key", path);
		goto out;
	}
	if ((r = attest_tpm_pub_from_pkey(k, NULL, pub)) != ATTEST_OK)
		r = attest_fail_wrap(r, "%s", path);
out:
	EVP_PKEY_free(k);
	BIO_free(b);
	free(buf);
	return r;
}

struct nonce_want {
	const uint8_t *nonce;
	size_t len;
};

static int nonce_equal(void *arg, const uint8_t *nonce, size_t len)
{
	const struct nonce_want *w = arg;

	if (len != w->len || CRYPTO_memcmp(nonce, w->nonce, len) != 0)
		return attest_fail(ATTEST_E_NONCE, "quote extraData is not the nonce given (--nonce)");
	return ATTEST_OK;
}

int vf_check_quote_files(const char *ak_pem, const char *msg, const char *sig, const char *pcrs,
			 enum vf_pcrs_format fmt, uint32_t required_mask, const uint8_t *nonce,
			 size_t nonce_len, struct attest_quote_result *res, uint8_t values[24][32])
{
	TPM2B_PUBLIC ak;
	uint8_t *mbuf = NULL, *sbuf = NULL, *pbuf = NULL;
	size_t mlen = 0, slen = 0, plen = 0;
	struct nonce_want want = { nonce, nonce_len };
	struct attest_quote_evidence ev;
	struct attest_quote_policy pol;
	int r;

	memset(res, 0, sizeof(*res));
	memset(&ev, 0, sizeof(ev));
	memset(&pol, 0, sizeof(pol));
	if ((r = ak_from_pem(ak_pem, &ak)) != ATTEST_OK ||
	    (r = attest_file_read(msg, MSG_MAX, &mbuf, &mlen)) != ATTEST_OK ||
	    (r = attest_file_read(sig, SIG_MAX, &sbuf, &slen)) != ATTEST_OK ||
	    (r = attest_file_read(pcrs, PCRS_MAX, &pbuf, &plen)) != ATTEST_OK)
		goto out;
	if (fmt == VF_PCRS_SERIALIZED) {
		if ((r = vf_parse_serialized_pcrs(pbuf, plen, &ev.pcr_mask, &values[0][0],
						  &ev.pcr_values_len)) != ATTEST_OK)
			goto out;
	} else {
		if (plen != (size_t)popcount24(required_mask) * 32) {
			r = attest_fail(ATTEST_E_PARSE,
					"pcrs file of %zu bytes; %u PCRs of --pcr-list need %u (values format)",
					plen, popcount24(required_mask), popcount24(required_mask) * 32);
			goto out;
		}
		memcpy(values, pbuf, plen);
		ev.pcr_mask = required_mask;
		ev.pcr_values_len = plen;
	}
	ev.attest = mbuf;
	ev.attest_len = mlen;
	ev.sig = sbuf;
	ev.sig_len = slen;
	ev.pcr_values = &values[0][0];
	pol.required_mask = required_mask;
	pol.nonce_take = nonce_equal;
	pol.nonce_arg = &want;
	r = attest_quote_appraise(&ak, &ev, &pol, res);
out:
	free(mbuf);
	free(sbuf);
	free(pbuf);
	return r;
}

static int hex_nonce(const char *s, uint8_t *out, size_t *len)
{
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		n -= 2;
	}
	if (n == 0 || n % 2 != 0 || n / 2 > NONCE_MAX)
		return 0;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v = 0;

		for (int j = 0; j < 2; j++) {
			char c = s[2 * i + (size_t)j];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v |= (unsigned)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				v |= (unsigned)(c - 'A' + 10);
			else
				return 0;
		}
		out[i] = (uint8_t)v;
	}
	*len = n / 2;
	return 1;
}

int vf_cmd_check_quote(int argc, char **argv)
{
	static const struct cli_cmd cmd = {
		{ "check-quote", NULL }, NULL,
		"verify a tpm2_quote capture against an AK, a required PCR selection and a nonce",
		"Checks files written by tpm2-tools 5.4\n"
		"  tpm2_quote -c AK -l sha256:0,1,2 -q NONCE -m MSG -s SIG -o PCRS -g sha256\n"
		"in the verifier's order: exact parse, magic, type, nonce, PCR selection\n"
		"(exactly --pcr-list, SHA-256 bank only), PCR digest, signature by the AK\n"
		"(PEM from tpm2_readpublic -f pem). Unlike tpm2_checkquote, a quote over any\n"
		"other selection is refused. --pcrs-format: serialized (tpm2_quote -o default)\n"
		"or values (tpm2_quote -F values). Exit 0 accepted, 1 refused, 2 usage."
	};
	const char *ak = NULL, *msg = NULL, *sig = NULL, *pcrs = NULL, *fmt = NULL, *list = NULL,
		   *nonce_hex = NULL;
	const struct cli_opt opts[] = {
		{ "ak", "AK.pem", "AK public key (PEM, ECC or RSA)", 1, &ak },
		{ "msg", "MSG", "quoted TPMS_ATTEST (tpm2_quote -m)", 1, &msg },
		{ "sig", "SIG", "TPMT_SIGNATURE (tpm2_quote -s)", 1, &sig },
		{ "pcrs", "PCRS", "PCR values (tpm2_quote -o)", 1, &pcrs },
		{ "pcrs-format", "FMT", "serialized (default) or values", 0, &fmt },
		{ "pcr-list", "sha256:N,...", "the required selection", 1, &list },
		{ "nonce", "HEX", "the qualifying data given to tpm2_quote -q", 1, &nonce_hex },
		{ NULL, NULL, NULL, 0, NULL },
	};
	struct attest_quote_result res;
	uint8_t nonce[NONCE_MAX], values[24][32];
	size_t nonce_len = 0;
	uint32_t mask = 0;
	enum vf_pcrs_format f = VF_PCRS_SERIALIZED;
	char hex[65];
	int r;

	if ((r = cli_parse(&cmd, opts, argc, argv)) != CLI_PARSED)
		return r;
	if (fmt != NULL) {
		if (strcmp(fmt, "serialized") == 0)
			f = VF_PCRS_SERIALIZED;
		else if (strcmp(fmt, "values") == 0)
			f = VF_PCRS_VALUES;
		else
			return cli_usage_error("--pcrs-format is serialized or values, not \"%s\"", fmt);
	}
	if (vf_parse_pcr_list(list, &mask) != ATTEST_OK)
		return cli_usage_error("--pcr-list: %s", attest_errdetail());
	if (!hex_nonce(nonce_hex, nonce, &nonce_len))
		return cli_usage_error("--nonce is 1..%zu bytes of hex", NONCE_MAX);
	r = vf_check_quote_files(ak, msg, sig, pcrs, f, mask, nonce, nonce_len, &res, values);
	if (r != ATTEST_OK) {
		printf("check-quote: REFUSED: %s [%s]: %s\n", attest_strerror(r), attest_errname(r),
		       attest_errdetail());
		fflush(stdout);
		return CLI_EXIT_FAIL;
	}
	printf("check-quote: OK: quote by %s over %s with the given nonce; resetCount %u, "
	       "restartCount %u, clock %llu ms, safe %s\n",
	       ak, list, res.now.reset_count, res.now.restart_count,
	       (unsigned long long)res.now.clock, res.safe ? "yes" : "no");
	for (unsigned i = 0, k = 0; i < 24; i++) {
		if (!(mask & (1u << i)))
			continue;
		attest_hex(values[k++], 32, hex);
		printf("  sha256 PCR %-2u %s\n", i, hex);
	}
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
