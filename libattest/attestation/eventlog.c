/* eventlog.c - TCG crypto-agile event log: strict parser, SHA-256 replay,
 * and a small writer for synthetic logs (see eventlog.h). */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "core/cursor.h"
#include "core/err.h"
#include "attestation/eventlog.h"
#include "tpm/tpmsw.h"

static const uint8_t SPEC_ID[16] = "Spec ID Event03";   /* with its NUL */
static const uint8_t STARTUP_LOCALITY[16] = "StartupLocality"; /* with its NUL */

/* The TPM's hash algorithms, and SHA-1: event logs still carry its bank. */
static const EVP_MD *writer_md(uint16_t alg)
{
	return alg == TPM2_ALG_SHA1 ? EVP_sha1() : attest_tpm_md(alg);
}

/* The TCG_PCR_EVENT header and its Spec ID event. */
static int parse_header(struct attest_cur *c, struct attest_eventlog *log)
{
	uint32_t pcr, type, size, nalgs;
	uint8_t minor, major, errata, uintn, vlen;
	const uint8_t *digest, *sig, *vendor;
	struct attest_cur e;
	int have_sha256 = 0;

	if (!attest_cur_u32le(c, &pcr) || !attest_cur_u32le(c, &type) ||
	    !attest_cur_take(c, 20, &digest) || !attest_cur_u32le(c, &size))
		return attest_fail(ATTEST_E_PARSE, "event log: truncated header event");
	if (pcr != 0 || type != ATTEST_EV_NO_ACTION)
		return attest_fail(ATTEST_E_PARSE,
				   "event log: first event is PCR %u type 0x%x, not a Spec ID "
				   "EV_NO_ACTION in PCR 0 (not a crypto-agile log)",
				   pcr, type);
	for (size_t i = 0; i < 20; i++)
		if (digest[i] != 0)
			return attest_fail(ATTEST_E_PARSE, "event log: header event digest not zero");
	if (size > ATTEST_EVENTLOG_DATA_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "event log: header event of %u bytes over cap %d",
				   size, ATTEST_EVENTLOG_DATA_MAX);
	if (!attest_cur_sub(c, size, &e))
		return attest_fail(ATTEST_E_PARSE, "event log: header event of %u bytes truncated", size);
	if (!attest_cur_take(&e, 16, &sig) || memcmp(sig, SPEC_ID, 16) != 0)
		return attest_fail(ATTEST_E_PARSE, "event log: no \"Spec ID Event03\" signature");
	if (!attest_cur_skip(&e, 4) /* platformClass */ || !attest_cur_u8(&e, &minor) ||
	    !attest_cur_u8(&e, &major) || !attest_cur_u8(&e, &errata) ||
	    !attest_cur_u8(&e, &uintn) || !attest_cur_u32le(&e, &nalgs))
		return attest_fail(ATTEST_E_PARSE, "event log: truncated Spec ID event");
	if (major != 2 || minor != 0)
		return attest_fail(ATTEST_E_PARSE, "event log: spec version %u.%u, expected 2.0", major,
				   minor);
	if (uintn != 1 && uintn != 2)
		return attest_fail(ATTEST_E_PARSE, "event log: uintnSize %u", uintn);
	if (nalgs == 0 || nalgs > ATTEST_EVENTLOG_ALGS_MAX)
		return attest_fail(ATTEST_E_PARSE, "event log: %u digest algorithms (1..%d)", nalgs,
				   ATTEST_EVENTLOG_ALGS_MAX);
	for (uint32_t i = 0; i < nalgs; i++) {
		uint16_t alg, dsz;
		size_t want;

		if (!attest_cur_u16le(&e, &alg) || !attest_cur_u16le(&e, &dsz))
			return attest_fail(ATTEST_E_PARSE, "event log: truncated algorithm table");
		want = attest_tcg_digest_size(alg);
		if (dsz == 0 || dsz > sizeof(TPMU_HA) || (want != 0 && dsz != want))
			return attest_fail(ATTEST_E_PARSE,
					   "event log: algorithm 0x%04x declared with %u-byte digests", alg,
					   dsz);
		for (uint32_t j = 0; j < i; j++)
			if (log->algs[j].alg == alg)
				return attest_fail(ATTEST_E_PARSE,
						   "event log: algorithm 0x%04x declared twice", alg);
		log->algs[i].alg = alg;
		log->algs[i].size = dsz;
		have_sha256 |= alg == TPM2_ALG_SHA256;
	}
	log->nalgs = nalgs;
	if (!have_sha256)
		return attest_fail(ATTEST_E_PARSE, "event log: no SHA-256 digests");
	if (!attest_cur_u8(&e, &vlen) || !attest_cur_take(&e, vlen, &vendor))
		return attest_fail(ATTEST_E_PARSE, "event log: truncated vendorInfo");
	if (!attest_cur_end(&e))
		return attest_fail(ATTEST_E_PARSE, "event log: %zu trailing bytes in the Spec ID event",
				   attest_cur_left(&e));
	return ATTEST_OK;
}

/* One TCG_PCR_EVENT2 at c (a cursor over the rest of the log). */
static int read_event(const struct attest_eventlog *log, struct attest_cur *c,
		      struct attest_eventlog_event *ev)
{
	uint32_t count, size;
	uint32_t seen = 0;

	ev->sha256 = NULL;
	if (!attest_cur_u32le(c, &ev->pcr) || !attest_cur_u32le(c, &ev->type) || !attest_cur_u32le(c, &count))
		return attest_fail(ATTEST_E_PARSE, "event log: event %zu truncated", ev->index);
	if (ev->pcr > 23)
		return attest_fail(ATTEST_E_PARSE, "event log: event %zu extends PCR %u", ev->index,
				   ev->pcr);
	if (count != log->nalgs)
		return attest_fail(ATTEST_E_PARSE,
				   "event log: event %zu has %u digests, the header declares %u",
				   ev->index, count, log->nalgs);
	for (uint32_t i = 0; i < count; i++) {
		uint16_t alg;
		uint32_t k;
		const uint8_t *d;

		if (!attest_cur_u16le(c, &alg))
			return attest_fail(ATTEST_E_PARSE, "event log: event %zu truncated", ev->index);
		for (k = 0; k < log->nalgs && log->algs[k].alg != alg; k++)
			;
		if (k == log->nalgs)
			return attest_fail(ATTEST_E_PARSE,
					   "event log: event %zu has a digest of undeclared algorithm 0x%04x",
					   ev->index, alg);
		if (seen & (1u << k))
			return attest_fail(ATTEST_E_PARSE,
					   "event log: event %zu has two digests of algorithm 0x%04x",
					   ev->index, alg);
		seen |= 1u << k;
		if (!attest_cur_take(c, log->algs[k].size, &d))
			return attest_fail(ATTEST_E_PARSE, "event log: event %zu truncated", ev->index);
		if (alg == TPM2_ALG_SHA256)
			ev->sha256 = d;
	}
	if (!attest_cur_u32le(c, &size))
		return attest_fail(ATTEST_E_PARSE, "event log: event %zu truncated", ev->index);
	if (size > ATTEST_EVENTLOG_DATA_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "event log: event %zu has %u bytes of data, cap %d",
				   ev->index, size, ATTEST_EVENTLOG_DATA_MAX);
	if (!attest_cur_take(c, size, &ev->data))
		return attest_fail(ATTEST_E_PARSE, "event log: event %zu data truncated", ev->index);
	ev->data_len = size;
	return ATTEST_OK;
}

static int is_startup_locality(const struct attest_eventlog_event *ev)
{
	return ev->type == ATTEST_EV_NO_ACTION && ev->data_len == 17 &&
	       memcmp(ev->data, STARTUP_LOCALITY, 16) == 0;
}

int attest_eventlog_parse(const uint8_t *buf, size_t len, struct attest_eventlog *out)
{
	struct attest_eventlog log;
	struct attest_eventlog_event ev;
	struct attest_cur c;
	int r, pcr0_extended = 0, have_locality = 0;

	if (buf == NULL || out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "event log: NULL argument");
	if (len > ATTEST_EVENTLOG_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "event log of %zu bytes over cap %d", len,
				   ATTEST_EVENTLOG_MAX);
	memset(&log, 0, sizeof(log));
	log.buf = buf;
	log.len = len;
	attest_cur_init(&c, buf, len);
	if ((r = parse_header(&c, &log)) != ATTEST_OK)
		return r;
	log.first = attest_cur_pos(&c);
	while (!attest_cur_end(&c)) {
		if (log.nevents == ATTEST_EVENTLOG_EVENTS_MAX)
			return attest_fail(ATTEST_E_TOO_LARGE, "event log: over %d events",
					   ATTEST_EVENTLOG_EVENTS_MAX);
		ev.index = log.nevents;
		ev.offset = attest_cur_pos(&c);
		if ((r = read_event(&log, &c, &ev)) != ATTEST_OK)
			return r;
		if (is_startup_locality(&ev)) {
			uint8_t loc = ev.data[16];

			if (ev.pcr != 0 || have_locality || pcr0_extended)
				return attest_fail(ATTEST_E_PARSE,
						   "event log: event %zu: StartupLocality not in PCR 0, "
						   "repeated, or after PCR 0 was extended", ev.index);
			if (loc != 0 && loc != 3 && loc != 4)
				return attest_fail(ATTEST_E_PARSE,
						   "event log: event %zu: startup locality %u", ev.index,
						   loc);
			log.locality = loc;
			have_locality = 1;
		} else if (ev.type != ATTEST_EV_NO_ACTION && ev.pcr == 0) {
			pcr0_extended = 1;
		}
		log.nevents++;
	}
	*out = log;
	return ATTEST_OK;
}

int attest_eventlog_next(const struct attest_eventlog *log, size_t *cursor,
			 struct attest_eventlog_event *ev)
{
	struct attest_cur c;

	if (*cursor == 0)
		*cursor = log->first;
	if (*cursor >= log->len)
		return 0;
	attest_cur_init(&c, log->buf + *cursor, log->len - *cursor);
	ev->offset = *cursor;
	ev->index = 0; /* unknown here; callers count */
	if (read_event(log, &c, ev) != ATTEST_OK) {
		attest_errclear();
		*cursor = log->len;
		return 0;
	}
	*cursor += attest_cur_pos(&c);
	return 1;
}

int attest_eventlog_replay(const struct attest_eventlog *log, uint8_t pcrs[24][32],
			   uint32_t *extended)
{
	struct attest_eventlog_event ev;
	EVP_MD_CTX *md = NULL;
	size_t cursor = 0;
	unsigned dlen;
	uint32_t ext = 0;
	int r = ATTEST_E_INTERNAL;

	memset(pcrs, 0, 24 * 32);
	for (unsigned i = 17; i <= 22; i++)
		memset(pcrs[i], 0xff, 32);
	pcrs[0][31] = log->locality;
	if ((md = EVP_MD_CTX_new()) == NULL) {
		r = attest_fail_ossl(ATTEST_E_NOMEM, "event log replay");
		goto out;
	}
	while (attest_eventlog_next(log, &cursor, &ev)) {
		if (ev.type == ATTEST_EV_NO_ACTION)
			continue;
		if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
		    EVP_DigestUpdate(md, pcrs[ev.pcr], 32) != 1 ||
		    EVP_DigestUpdate(md, ev.sha256, 32) != 1 ||
		    EVP_DigestFinal_ex(md, pcrs[ev.pcr], &dlen) != 1) {
			r = attest_fail_ossl(ATTEST_E_CRYPTO, "event log replay: SHA-256");
			goto out;
		}
		ext |= 1u << ev.pcr;
	}
	if (extended != NULL)
		*extended = ext;
	r = ATTEST_OK;
out:
	EVP_MD_CTX_free(md);
	return r;
}

/* ---- writer ---- */

static int put(struct attest_eventlog_writer *w, const void *data, size_t n)
{
	if (n > ATTEST_EVENTLOG_MAX || w->len > ATTEST_EVENTLOG_MAX - n)
		return attest_fail(ATTEST_E_TOO_LARGE, "event log writer: over %d bytes",
				   ATTEST_EVENTLOG_MAX);
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 1024;
		uint8_t *nb;

		while (cap < w->len + n)
			cap *= 2;
		if ((nb = realloc(w->buf, cap)) == NULL)
			return attest_fail(ATTEST_E_NOMEM, "event log writer");
		w->buf = nb;
		w->cap = cap;
	}
	if (n > 0)
		memcpy(w->buf + w->len, data, n);
	w->len += n;
	return ATTEST_OK;
}

static int put16(struct attest_eventlog_writer *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	return put(w, b, 2);
}

static int put32(struct attest_eventlog_writer *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	return put(w, b, 4);
}

int attest_eventlog_writer_init(struct attest_eventlog_writer *w, const uint16_t *algs,
				size_t nalgs)
{
	static const uint8_t zero20[20];
	int have_sha256 = 0, r;

	memset(w, 0, sizeof(*w));
	if (algs == NULL || nalgs == 0 || nalgs > ATTEST_EVENTLOG_ALGS_MAX)
		return attest_fail(ATTEST_E_INVALID_ARG, "event log writer: %zu algorithms", nalgs);
	for (size_t i = 0; i < nalgs; i++) {
		if (writer_md(algs[i]) == NULL)
			return attest_fail(ATTEST_E_INVALID_ARG,
					   "event log writer: algorithm 0x%04x", algs[i]);
		have_sha256 |= algs[i] == TPM2_ALG_SHA256;
		w->algs[i] = algs[i];
	}
	if (!have_sha256)
		return attest_fail(ATTEST_E_INVALID_ARG, "event log writer: no SHA-256");
	w->nalgs = (uint32_t)nalgs;
	/* TCG_PCR_EVENT: PCR 0, EV_NO_ACTION, zero SHA-1 digest, Spec ID event */
	if ((r = put32(w, 0)) != ATTEST_OK || (r = put32(w, ATTEST_EV_NO_ACTION)) != ATTEST_OK ||
	    (r = put(w, zero20, 20)) != ATTEST_OK ||
	    (r = put32(w, (uint32_t)(16 + 4 + 4 + 4 + 4 * nalgs + 1))) != ATTEST_OK ||
	    (r = put(w, SPEC_ID, 16)) != ATTEST_OK || (r = put32(w, 0)) != ATTEST_OK ||
	    (r = put(w, "\0\x02\0\x02", 4)) != ATTEST_OK || /* 2.0, errata 0, uintn 8 bytes */
	    (r = put32(w, (uint32_t)nalgs)) != ATTEST_OK)
		goto out;
	for (size_t i = 0; i < nalgs; i++)
		if ((r = put16(w, algs[i])) != ATTEST_OK ||
		    (r = put16(w, (uint16_t)attest_tcg_digest_size(algs[i]))) != ATTEST_OK)
			goto out;
	r = put(w, "", 1); /* vendorInfoSize 0 */
out:
	if (r != ATTEST_OK)
		attest_eventlog_writer_free(w);
	return r;
}

int attest_eventlog_writer_add(struct attest_eventlog_writer *w, uint32_t pcr, uint32_t type,
			       const void *data, size_t len, const uint8_t sha256[32])
{
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned dlen;
	int r;

	if (w->nalgs == 0 || pcr > 23 || len > ATTEST_EVENTLOG_DATA_MAX || (data == NULL && len > 0))
		return attest_fail(ATTEST_E_INVALID_ARG, "event log writer: bad event");
	if ((r = put32(w, pcr)) != ATTEST_OK || (r = put32(w, type)) != ATTEST_OK ||
	    (r = put32(w, w->nalgs)) != ATTEST_OK)
		return r;
	for (uint32_t i = 0; i < w->nalgs; i++) {
		dlen = (unsigned)attest_tcg_digest_size(w->algs[i]);
		if (type == ATTEST_EV_NO_ACTION)
			memset(d, 0, dlen);
		else if (sha256 != NULL && w->algs[i] == TPM2_ALG_SHA256)
			memcpy(d, sha256, 32);
		else if (EVP_Digest(data, len, d, &dlen, writer_md(w->algs[i]), NULL) != 1)
			return attest_fail_ossl(ATTEST_E_CRYPTO, "event log writer: digest");
		if ((r = put16(w, w->algs[i])) != ATTEST_OK || (r = put(w, d, dlen)) != ATTEST_OK)
			return r;
	}
	if ((r = put32(w, (uint32_t)len)) != ATTEST_OK)
		return r;
	return put(w, data, len);
}

int attest_eventlog_writer_locality(struct attest_eventlog_writer *w, uint8_t locality)
{
	uint8_t ev[17];

	memcpy(ev, STARTUP_LOCALITY, 16);
	ev[16] = locality;
	return attest_eventlog_writer_add(w, 0, ATTEST_EV_NO_ACTION, ev, sizeof(ev), NULL);
}

void attest_eventlog_writer_free(struct attest_eventlog_writer *w)
{
	if (w == NULL)
		return;
	free(w->buf);
	memset(w, 0, sizeof(*w));
}
