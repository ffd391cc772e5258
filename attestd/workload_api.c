/* workload_api.c - the SpiffeWorkloadAPI service (workload.h): messages
 * by protobuf-c from attestd/workload.proto, SVIDs from the monitor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/err.h"
#include "log.h"
#include "workload.h"
#include "workload.pb-c.h"

#define CHAIN_MAX 8 /* certificates in an SVID's chain */
#define ROTATE_MIN_MS 500

/* What a stream keeps between its messages. */
struct wl_stream {
	struct wl_call *call;
	struct event *timer; /* FetchX509SVID: the next rotation */
};

/* ---------- errors ---------- */

static enum wl_status status_of(int code)
{
	switch (code) {
	case ATTEST_E_AGENT_UNKNOWN:
	case ATTEST_E_MEASUREMENT:
	case ATTEST_E_UID:
	case ATTEST_E_TRACED:
	case ATTEST_E_ENV:
	case ATTEST_E_PROC_CHANGED:
	case ATTEST_E_REVOKED:
	case ATTEST_E_DENIED:
	case ATTEST_E_CALLER:
		return WL_PERMISSION_DENIED;
	case ATTEST_E_BUSY:
	case ATTEST_E_TIMEOUT:
	case ATTEST_E_TPM:
	case ATTEST_E_IO:
	case ATTEST_E_CLOCK:
	case ATTEST_E_AUDIT_UNANCHORED:
	case ATTEST_E_RATE:
		return WL_UNAVAILABLE;
	default:
		return WL_INTERNAL;
	}
}

/* Finish c with the status for code and "ATTEST_E_X: detail" (our reason,
 * as the issue asks: PermissionDenied says why). */
static void finish_err(struct wl_call *c, int code)
{
	char msg[240];

	snprintf(msg, sizeof(msg), "%s: %s", attest_errname(code), attest_errdetail());
	wl_finish(c, status_of(code), msg);
}

/* ---------- encodings ---------- */

/* PEM certificates (at most CHAIN_MAX) -> their DER, concatenated. */
static int pem_chain_der(const char *pem, uint8_t **out, size_t *outlen)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = NULL;
	uint8_t *buf = NULL, *grown;
	size_t len = 0;
	int n, count = 0, r = ATTEST_OK;

	*out = NULL;
	*outlen = 0;
	if (b == NULL)
		return attest_fail(ATTEST_E_NOMEM, "chain");
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		unsigned char *p;

		if (++count > CHAIN_MAX || (n = i2d_X509(x, NULL)) <= 0 ||
		    (grown = realloc(buf, len + (size_t)n)) == NULL) {
			r = attest_fail(ATTEST_E_CRYPTO, "the chain does not convert to DER");
			break;
		}
		buf = grown;
		p = buf + len;
		if (i2d_X509(x, &p) != n) {
			r = attest_fail(ATTEST_E_CRYPTO, "chain certificate encoding");
			break;
		}
		len += (size_t)n;
		X509_free(x);
		x = NULL;
	}
	X509_free(x);
	BIO_free(b);
	ERR_clear_error(); /* the end of the PEM */
	if (r == ATTEST_OK && len == 0)
		r = attest_fail(ATTEST_E_PARSE, "the chain holds no certificate");
	if (r != ATTEST_OK) {
		free(buf);
		return r;
	}
	*out = buf;
	*outlen = len;
	return ATTEST_OK;
}

/* A new P-256 key: its SubjectPublicKeyInfo and unencrypted PKCS#8 (DER;
 * the caller cleanses and frees *pkcs8). */
static int new_key(uint8_t **spki, size_t *spki_len, uint8_t **pkcs8, size_t *pkcs8_len)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	unsigned char *a = NULL, *b = NULL;
	int na, nb, r = ATTEST_OK;

	*spki = *pkcs8 = NULL;
	if (k == NULL || (na = i2d_PUBKEY(k, &a)) <= 0 || (p8 = EVP_PKEY2PKCS8(k)) == NULL ||
	    (nb = i2d_PKCS8_PRIV_KEY_INFO(p8, &b)) <= 0) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "the SVID's key");
		OPENSSL_free(a);
		goto out;
	}
	*spki = a;
	*spki_len = (size_t)na;
	*pkcs8 = b;
	*pkcs8_len = (size_t)nb;
out:
	PKCS8_PRIV_KEY_INFO_free(p8);
	EVP_PKEY_free(k);
	return r;
}

static int send_packed(struct wl_call *c, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n > 0 ? n : 1);
	int r;

	if (buf == NULL)
		return attest_fail(ATTEST_E_NOMEM, "response");
	if (protobuf_c_message_pack(m, buf) != n) {
		free(buf);
		return attest_fail(ATTEST_E_INTERNAL, "response packing");
	}
	r = wl_send(c, buf, n);
	OPENSSL_cleanse(buf, n); /* an X509SVIDResponse holds the private key */
	free(buf);
	return r;
}

/* ---------- FetchX509SVID ---------- */

static void schedule_rotation(struct wl_stream *st, long ttl);

/* One X.509-SVID for the caller: a key made here, the certificate from
 * the monitor (which measures the caller on the connection), sent as an
 * X509SVIDResponse. Its lifetime in *ttl. */
static int send_svid(struct wl_call *c, long *ttl)
{
	const struct workload_config *cfg = wl_call_config(c);
	struct mint_result res = { 0 };
	uint8_t *spki = NULL, *pkcs8 = NULL, *chain = NULL;
	size_t spki_len = 0, pkcs8_len = 0, chain_len = 0;
	X509SVID svid = X509_SVID__INIT;
	X509SVID *svids[1] = { &svid };
	X509SVIDResponse resp = X509_SVIDRESPONSE__INIT;
	int r;

	if ((r = new_key(&spki, &spki_len, &pkcs8, &pkcs8_len)) != ATTEST_OK)
		goto out;
	if ((r = cfg->backend.issue(cfg->backend.ctx, wl_call_fd(c), spki, spki_len, &res)) !=
	    ATTEST_OK)
		goto out;
	if ((r = pem_chain_der(res.chain, &chain, &chain_len)) != ATTEST_OK)
		goto out;
	svid.spiffe_id = res.id;
	svid.x509_svid = (ProtobufCBinaryData){ chain_len, chain };
	svid.x509_svid_key = (ProtobufCBinaryData){ pkcs8_len, pkcs8 };
	svid.bundle = (ProtobufCBinaryData){ cfg->bundle_len, (uint8_t *)cfg->bundle };
	resp.n_svids = 1;
	resp.svids = svids;
	if ((r = send_packed(c, &resp.base)) == ATTEST_OK)
		*ttl = res.ttl;
out:
	if (pkcs8 != NULL)
		OPENSSL_clear_free(pkcs8, pkcs8_len);
	OPENSSL_free(spki);
	free(chain);
	mint_result_clear(&res);
	return r;
}

static void on_rotate(evutil_socket_t fd, short what, void *arg)
{
	struct wl_stream *st = arg;
	long ttl = 0;
	int r;

	(void)fd;
	(void)what;
	attest_errclear();
	if ((r = send_svid(st->call, &ttl)) != ATTEST_OK) {
		attestd_log("workload: rotation refused: %s: %s", attest_errname(r),
			    attest_errdetail());
		finish_err(st->call, r);
		return;
	}
	schedule_rotation(st, ttl);
}

/* The next SVID before this one is half through its life (at 45% of it). */
static void schedule_rotation(struct wl_stream *st, long ttl)
{
	long ms = ttl * 450;
	struct timeval tv;

	if (ms < ROTATE_MIN_MS)
		ms = ROTATE_MIN_MS;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if (evtimer_add(st->timer, &tv) != 0)
		wl_finish(st->call, WL_INTERNAL, "rotation timer");
}

static struct wl_stream *stream_new(struct wl_call *c, event_callback_fn timer_cb)
{
	struct wl_stream *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return NULL;
	st->call = c;
	if (timer_cb != NULL && (st->timer = evtimer_new(wl_call_base(c), timer_cb, st)) == NULL) {
		free(st);
		return NULL;
	}
	wl_call_set_state(c, st);
	return st;
}

static void fetch_x509_svid(struct wl_call *c, const uint8_t *msg, size_t len)
{
	X509SVIDRequest *req = x509_svidrequest__unpack(NULL, len, msg);
	struct wl_stream *st;
	long ttl = 0;
	int r;

	if (req == NULL) {
		wl_finish(c, WL_INVALID_ARGUMENT, "X509SVIDRequest malformed");
		return;
	}
	x509_svidrequest__free_unpacked(req, NULL);
	if ((st = stream_new(c, on_rotate)) == NULL) {
		wl_finish(c, WL_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	attest_errclear();
	if ((r = send_svid(c, &ttl)) != ATTEST_OK) {
		attestd_log("workload: FetchX509SVID refused: %s: %s", attest_errname(r),
			    attest_errdetail());
		finish_err(c, r);
		return;
	}
	schedule_rotation(st, ttl);
}

/* ---------- FetchX509Bundles ---------- */

static void fetch_x509_bundles(struct wl_call *c, const uint8_t *msg, size_t len)
{
	const struct workload_config *cfg = wl_call_config(c);
	X509BundlesRequest *req = x509_bundles_request__unpack(NULL, len, msg);
	X509BundlesResponse resp = X509_BUNDLES_RESPONSE__INIT;
	X509BundlesResponse__BundlesEntry e = X509_BUNDLES_RESPONSE__BUNDLES_ENTRY__INIT;
	X509BundlesResponse__BundlesEntry *es[1] = { &e };
	char key[WL_TD_MAX + 16];
	int r;

	if (req == NULL) {
		wl_finish(c, WL_INVALID_ARGUMENT, "X509BundlesRequest malformed");
		return;
	}
	x509_bundles_request__free_unpacked(req, NULL);
	snprintf(key, sizeof(key), "spiffe://%s", cfg->trust_domain);
	e.key = key;
	e.value = (ProtobufCBinaryData){ cfg->bundle_len, (uint8_t *)cfg->bundle };
	resp.n_bundles = 1;
	resp.bundles = es;
	/* a stream: it stays open for the changes to come (docs/spiffe.md) */
	if ((r = send_packed(c, &resp.base)) != ATTEST_OK)
		finish_err(c, r);
}

/* ---------- the table ---------- */

void workload_api_call(struct wl_call *c, enum wl_method m, const uint8_t *msg, size_t len)
{
	switch (m) {
	case WL_FETCH_X509_SVID:
		fetch_x509_svid(c, msg, len);
		break;
	case WL_FETCH_X509_BUNDLES:
		fetch_x509_bundles(c, msg, len);
		break;
	default:
		wl_finish(c, WL_UNIMPLEMENTED, "not implemented by attestd (docs/spiffe.md)");
		break;
	}
}

void workload_api_gone(struct wl_call *c)
{
	struct wl_stream *st = wl_call_state(c);

	if (st == NULL)
		return;
	if (st->timer != NULL)
		event_free(st->timer);
	free(st);
	wl_call_set_state(c, NULL);
}
