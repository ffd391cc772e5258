/* workload_api.c - the SpiffeWorkloadAPI service (workload.h): messages
 * by protobuf-c from attestd/workload.proto, SVIDs from the monitor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/err.h"
#include "core/jws.h"
#include "core/json.h"
#include "net/fedset.h"
#include "log.h"
#include "workload.h"
#include "workload.pb-c.h"
#include "workload_jwtv.h"

#define CHAIN_MAX 8 /* certificates in an SVID's chain */
#define ROTATE_MIN_MS 500
#define JWKS_POLL_S 30    /* FetchJWTBundles: how often the bundle is looked at */
#define JWT_IN_MAX 8192   /* bytes of a token to validate */
#define CLAIMS_DEPTH 4

/* What a stream keeps between its messages. */
struct wl_stream {
	struct wl_call *call;
	/* FetchX509SVID: the next rotation; FetchJWTBundles: a look;
	 * FetchX509Bundles: a federated bundle changed */
	struct event *timer;
	char *sent;          /* FetchJWTBundles: the JWKS last sent */
	uint64_t fed_sent;   /* the federated bundles' version last sent */
	int fed_any;         /* something was sent */
	struct wl_stream *prev, *next; /* every open stream (bundle changes) */
};

/* The open streams of this front (one workload server per process). */
static struct wl_stream *streams;

/* The federated trust domains' keys, "spiffe://<td>". */
struct fed_keys {
	char key[FED_MAX][FED_TD_MAX + 16];
	struct fed_view v[FED_MAX];
	size_t n;
};

/* The federated bundles there are now: with der_only, those with X.509
 * authorities; otherwise those with JWT keys. */
static void fed_keys_of(const struct workload_config *cfg, int x509, struct fed_keys *k)
{
	k->n = 0;
	for (uint32_t i = 0; i < fedset_count(cfg->fed) && k->n < FED_MAX; i++) {
		struct fed_view v;

		if (!fedset_get(cfg->fed, i, &v) || (x509 ? v.der == NULL : v.jwks == NULL))
			continue;
		snprintf(k->key[k->n], sizeof(k->key[k->n]), "spiffe://%s", v.td);
		k->v[k->n++] = v;
	}
}

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
	X509SVIDResponse__FederatedBundlesEntry fe[FED_MAX], *fes[FED_MAX];
	struct fed_keys fk;
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
	fed_keys_of(cfg, 1, &fk);
	for (size_t i = 0; i < fk.n; i++) {
		x509_svidresponse__federated_bundles_entry__init(&fe[i]);
		fe[i].key = fk.key[i];
		fe[i].value = (ProtobufCBinaryData){ fk.v[i].der_len, (uint8_t *)fk.v[i].der };
		fes[i] = &fe[i];
	}
	resp.n_federated_bundles = fk.n;
	resp.federated_bundles = fes;
	if ((r = send_packed(c, &resp.base)) == ATTEST_OK) {
		struct wl_stream *st = wl_call_state(c);

		*ttl = res.ttl;
		if (st != NULL)
			st->fed_sent = fedset_version(cfg->fed);
	}
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
	st->next = streams;
	if (streams != NULL)
		streams->prev = st;
	streams = st;
	return st;
}

void workload_api_bundles_changed(void)
{
	static const struct timeval now = { 0, 0 };

	/* each stream's own timer sends it, on the loop's next turn (a
	 * send that fails ends the stream, which must not happen while this
	 * walks the list) */
	for (struct wl_stream *st = streams; st != NULL; st = st->next) {
		const struct workload_config *cfg = wl_call_config(st->call);

		if (st->timer != NULL && st->fed_sent != fedset_version(cfg->fed))
			(void)evtimer_add(st->timer, &now);
	}
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

/* The trust domain's bundle and the federated ones, when they changed
 * since the last sent (or none was). */
static int send_x509_bundles(struct wl_stream *st)
{
	const struct workload_config *cfg = wl_call_config(st->call);
	X509BundlesResponse resp = X509_BUNDLES_RESPONSE__INIT;
	X509BundlesResponse__BundlesEntry e[1 + FED_MAX], *es[1 + FED_MAX];
	char key[WL_TD_MAX + 16];
	struct fed_keys fk;
	uint64_t ver = fedset_version(cfg->fed);
	int r;

	if (st->fed_any && st->fed_sent == ver)
		return ATTEST_OK;
	fed_keys_of(cfg, 1, &fk);
	snprintf(key, sizeof(key), "spiffe://%s", cfg->trust_domain);
	for (size_t i = 0; i <= fk.n; i++) {
		x509_bundles_response__bundles_entry__init(&e[i]);
		es[i] = &e[i];
	}
	e[0].key = key;
	e[0].value = (ProtobufCBinaryData){ cfg->bundle_len, (uint8_t *)cfg->bundle };
	for (size_t i = 0; i < fk.n; i++) {
		e[i + 1].key = fk.key[i];
		e[i + 1].value = (ProtobufCBinaryData){ fk.v[i].der_len, (uint8_t *)fk.v[i].der };
	}
	resp.n_bundles = 1 + fk.n;
	resp.bundles = es;
	if ((r = send_packed(st->call, &resp.base)) == ATTEST_OK) {
		st->fed_sent = ver;
		st->fed_any = 1;
	}
	return r;
}

static void on_x509_bundles(evutil_socket_t fd, short what, void *arg)
{
	struct wl_stream *st = arg;
	int r;

	(void)fd;
	(void)what;
	attest_errclear();
	if ((r = send_x509_bundles(st)) != ATTEST_OK)
		finish_err(st->call, r);
}

static void fetch_x509_bundles(struct wl_call *c, const uint8_t *msg, size_t len)
{
	X509BundlesRequest *req = x509_bundles_request__unpack(NULL, len, msg);
	struct wl_stream *st;
	int r;

	if (req == NULL) {
		wl_finish(c, WL_INVALID_ARGUMENT, "X509BundlesRequest malformed");
		return;
	}
	x509_bundles_request__free_unpacked(req, NULL);
	if ((st = stream_new(c, on_x509_bundles)) == NULL) {
		wl_finish(c, WL_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	/* a stream: it stays open, and a federated bundle that comes,
	 * changes or goes is sent on it (workload_api_bundles_changed) */
	attest_errclear();
	if ((r = send_x509_bundles(st)) != ATTEST_OK)
		finish_err(c, r);
}

/* ---------- FetchJWTSVID ---------- */

static void fetch_jwt_svid(struct wl_call *c, const uint8_t *msg, size_t len)
{
	const struct workload_config *cfg = wl_call_config(c);
	JWTSVIDRequest *req = jwtsvidrequest__unpack(NULL, len, msg);
	JWTSVIDResponse resp = JWTSVIDRESPONSE__INIT;
	JWTSVID svid = JWTSVID__INIT;
	JWTSVID *svids[1] = { &svid };
	char (*aud)[WL_AUD_LEN + 1] = NULL;
	char *id = NULL, *token = NULL;
	int r;

	if (req == NULL) {
		wl_finish(c, WL_INVALID_ARGUMENT, "JWTSVIDRequest malformed");
		return;
	}
	if (req->n_audience < 1 || req->n_audience > WL_AUD_MAX) {
		wl_finish(c, WL_INVALID_ARGUMENT, "audience must be specified (1 to 8)");
		goto out;
	}
	if ((aud = calloc(req->n_audience, sizeof(*aud))) == NULL) {
		wl_finish(c, WL_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < req->n_audience; i++) {
		size_t n = strlen(req->audience[i]);

		if (n == 0 || n > WL_AUD_LEN) {
			wl_finish(c, WL_INVALID_ARGUMENT, "an audience is empty or over 255 bytes");
			goto out;
		}
		memcpy(aud[i], req->audience[i], n + 1);
	}
	if (strlen(req->spiffe_id) > MINT_ID_MAX) {
		wl_finish(c, WL_INVALID_ARGUMENT, "spiffe_id too long");
		goto out;
	}
	attest_errclear();
	if ((r = cfg->backend.jwt(cfg->backend.ctx, wl_call_fd(c), aud,
				  (uint32_t)req->n_audience, req->spiffe_id, &id, &token)) !=
	    ATTEST_OK) {
		attestd_log("workload: FetchJWTSVID refused: %s: %s", attest_errname(r),
			    attest_errdetail());
		finish_err(c, r);
		goto out;
	}
	svid.spiffe_id = id;
	svid.svid = token;
	resp.n_svids = 1;
	resp.svids = svids;
	if ((r = send_packed(c, &resp.base)) != ATTEST_OK)
		finish_err(c, r);
	else
		wl_finish(c, WL_OK, NULL);
out:
	free(aud);
	free(id);
	free(token);
	jwtsvidrequest__free_unpacked(req, NULL);
}

/* ---------- FetchJWTBundles ---------- */

/* Send the JWT bundles (ours and the federated ones) when they differ
 * from the last sent (or none was). */
static int send_jwks(struct wl_stream *st)
{
	const struct workload_config *cfg = wl_call_config(st->call);
	JWTBundlesResponse resp = JWTBUNDLES_RESPONSE__INIT;
	JWTBundlesResponse__BundlesEntry e[1 + FED_MAX], *es[1 + FED_MAX];
	struct wl_jwks k;
	struct fed_keys fk;
	uint64_t ver = fedset_version(cfg->fed);
	char key[WL_TD_MAX + 16];
	int r;

	if ((r = cfg->backend.jwks(cfg->backend.ctx, &k)) != ATTEST_OK)
		return r;
	if (st->sent != NULL && strcmp(st->sent, k.json) == 0 && st->fed_sent == ver) {
		wl_jwks_clear(&k);
		return ATTEST_OK;
	}
	fed_keys_of(cfg, 0, &fk);
	for (size_t i = 0; i <= fk.n; i++) {
		jwtbundles_response__bundles_entry__init(&e[i]);
		es[i] = &e[i];
	}
	snprintf(key, sizeof(key), "spiffe://%s", cfg->trust_domain);
	e[0].key = key;
	e[0].value = (ProtobufCBinaryData){ strlen(k.json), (uint8_t *)k.json };
	for (size_t i = 0; i < fk.n; i++) {
		e[i + 1].key = fk.key[i];
		e[i + 1].value = (ProtobufCBinaryData){ strlen(fk.v[i].jwks), (uint8_t *)fk.v[i].jwks };
	}
	resp.n_bundles = 1 + fk.n;
	resp.bundles = es;
	if ((r = send_packed(st->call, &resp.base)) == ATTEST_OK) {
		free(st->sent);
		st->sent = k.json;
		k.json = NULL; /* kept */
		st->fed_sent = ver;
	}
	wl_jwks_clear(&k);
	return r;
}

static void on_jwks_poll(evutil_socket_t fd, short what, void *arg)
{
	struct wl_stream *st = arg;
	struct timeval tv = { JWKS_POLL_S, 0 };
	int r;

	(void)fd;
	(void)what;
	attest_errclear();
	if ((r = send_jwks(st)) != ATTEST_OK) {
		finish_err(st->call, r);
		return;
	}
	(void)evtimer_add(st->timer, &tv);
}

static void fetch_jwt_bundles(struct wl_call *c, const uint8_t *msg, size_t len)
{
	JWTBundlesRequest *req = jwtbundles_request__unpack(NULL, len, msg);
	struct wl_stream *st;
	struct timeval tv = { JWKS_POLL_S, 0 };
	int r;

	if (req == NULL) {
		wl_finish(c, WL_INVALID_ARGUMENT, "JWTBundlesRequest malformed");
		return;
	}
	jwtbundles_request__free_unpacked(req, NULL);
	if ((st = stream_new(c, on_jwks_poll)) == NULL) {
		wl_finish(c, WL_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	attest_errclear();
	if ((r = send_jwks(st)) != ATTEST_OK) {
		finish_err(c, r);
		return;
	}
	/* a new key (rotation) reaches the stream within JWKS_POLL_S */
	if (evtimer_add(st->timer, &tv) != 0)
		wl_finish(c, WL_INTERNAL, "bundle timer");
}

/* ---------- ValidateJWTSVID ---------- */

static void struct_free(Google__Protobuf__Struct *s);

static void value_free(Google__Protobuf__Value *v)
{
	if (v == NULL)
		return;
	if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE)
		free(v->string_value);
	else if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE)
		struct_free(v->struct_value);
	else if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE && v->list_value) {
		for (size_t i = 0; i < v->list_value->n_values; i++)
			value_free(v->list_value->values[i]);
		free(v->list_value->values);
		free(v->list_value);
	}
	free(v);
}

static void struct_free(Google__Protobuf__Struct *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n_fields; i++) {
		free(s->fields[i]->key);
		value_free(s->fields[i]->value);
		free(s->fields[i]);
	}
	free(s->fields);
	free(s);
}

static Google__Protobuf__Struct *struct_of(const cJSON *o, int depth);

/* A JSON value as a google.protobuf.Value (NULL: out of memory or too deep). */
static Google__Protobuf__Value *value_of(const cJSON *j, int depth)
{
	Google__Protobuf__Value *v = calloc(1, sizeof(*v));
	static const Google__Protobuf__Value init = GOOGLE__PROTOBUF__VALUE__INIT;

	if (v == NULL || depth > CLAIMS_DEPTH) {
		free(v);
		return NULL;
	}
	*v = init;
	if (cJSON_IsString(j)) {
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
		if ((v->string_value = strdup(j->valuestring)) == NULL)
			goto fail;
	} else if (cJSON_IsNumber(j)) {
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
		v->number_value = j->valuedouble;
	} else if (cJSON_IsBool(j)) {
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
		v->bool_value = cJSON_IsTrue(j);
	} else if (cJSON_IsNull(j)) {
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
		v->null_value = GOOGLE__PROTOBUF__NULL_VALUE__NULL_VALUE;
	} else if (cJSON_IsObject(j)) {
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
		if ((v->struct_value = struct_of(j, depth + 1)) == NULL)
			goto fail;
	} else if (cJSON_IsArray(j)) {
		static const Google__Protobuf__ListValue linit = GOOGLE__PROTOBUF__LIST_VALUE__INIT;
		size_t n = (size_t)cJSON_GetArraySize(j), i = 0;
		const cJSON *e;

		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
		if ((v->list_value = malloc(sizeof(*v->list_value))) == NULL)
			goto fail;
		*v->list_value = linit;
		if (n > 0 && (v->list_value->values = calloc(n, sizeof(*v->list_value->values))) ==
				     NULL)
			goto fail;
		cJSON_ArrayForEach(e, j)
		{
			if ((v->list_value->values[i] = value_of(e, depth + 1)) == NULL)
				goto fail;
			v->list_value->n_values = ++i;
		}
	} else {
		goto fail;
	}
	return v;
fail:
	value_free(v);
	return NULL;
}

static Google__Protobuf__Struct *struct_of(const cJSON *o, int depth)
{
	static const Google__Protobuf__Struct init = GOOGLE__PROTOBUF__STRUCT__INIT;
	static const Google__Protobuf__Struct__FieldsEntry finit =
		GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT;
	Google__Protobuf__Struct *s = malloc(sizeof(*s));
	size_t n = (size_t)cJSON_GetArraySize(o);
	const cJSON *e;

	if (s == NULL || depth > CLAIMS_DEPTH) {
		free(s);
		return NULL;
	}
	*s = init;
	if (n > 0 && (s->fields = calloc(n, sizeof(*s->fields))) == NULL)
		goto fail;
	cJSON_ArrayForEach(e, o)
	{
		Google__Protobuf__Struct__FieldsEntry *f = malloc(sizeof(*f));

		if (f == NULL)
			goto fail;
		*f = finit;
		s->fields[s->n_fields++] = f;
		if ((f->key = strdup(e->string)) == NULL || (f->value = value_of(e, depth + 1)) == NULL)
			goto fail;
	}
	return s;
fail:
	struct_free(s);
	return NULL;
}

static void validate_jwt_svid(struct wl_call *c, const uint8_t *msg, size_t len)
{
	const struct workload_config *cfg = wl_call_config(c);
	ValidateJWTSVIDRequest *req = validate_jwtsvidrequest__unpack(NULL, len, msg);
	ValidateJWTSVIDResponse resp = VALIDATE_JWTSVIDRESPONSE__INIT;
	struct wl_jwks k = { 0 };
	struct fed_keys fk;
	struct wl_fedjwt fed[FED_MAX];
	cJSON *claims = NULL;
	char msgbuf[240];
	int r;

	if (req == NULL) {
		wl_finish(c, WL_INVALID_ARGUMENT, "ValidateJWTSVIDRequest malformed");
		return;
	}
	if (req->audience[0] == '\0' || req->svid[0] == '\0' ||
	    strlen(req->svid) > JWT_IN_MAX) {
		wl_finish(c, WL_INVALID_ARGUMENT, req->audience[0] == '\0'
							  ? "audience must be specified"
							  : "svid must be specified (at most 8 KiB)");
		goto out;
	}
	attest_errclear();
	if ((r = cfg->backend.jwks(cfg->backend.ctx, &k)) != ATTEST_OK) {
		finish_err(c, r);
		goto out;
	}
	fed_keys_of(cfg, 0, &fk);
	for (size_t i = 0; i < fk.n; i++)
		fed[i] = (struct wl_fedjwt){ fk.v[i].td, fk.v[i].jwks };
	if ((r = wl_jwt_validate(cfg->trust_domain, &k, fed, fk.n, req->svid, req->audience,
				 time(NULL), &claims)) != ATTEST_OK) {
		snprintf(msgbuf, sizeof(msgbuf), "%s: %s", attest_errname(r), attest_errdetail());
		wl_finish(c, WL_INVALID_ARGUMENT, msgbuf);
		goto out;
	}
	resp.spiffe_id = cJSON_GetObjectItemCaseSensitive(claims, "sub")->valuestring;
	if ((resp.claims = struct_of(claims, 0)) == NULL) {
		wl_finish(c, WL_INVALID_ARGUMENT, "claims nested too deep");
		goto out;
	}
	if ((r = send_packed(c, &resp.base)) != ATTEST_OK)
		finish_err(c, r);
	else
		wl_finish(c, WL_OK, NULL);
out:
	struct_free(resp.claims);
	cJSON_Delete(claims);
	wl_jwks_clear(&k);
	validate_jwtsvidrequest__free_unpacked(req, NULL);
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
	case WL_FETCH_JWT_SVID:
		fetch_jwt_svid(c, msg, len);
		break;
	case WL_FETCH_JWT_BUNDLES:
		fetch_jwt_bundles(c, msg, len);
		break;
	case WL_VALIDATE_JWT_SVID:
		validate_jwt_svid(c, msg, len);
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
	if (st->prev != NULL)
		st->prev->next = st->next;
	else if (streams == st)
		streams = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	if (st->timer != NULL)
		event_free(st->timer);
	free(st->sent);
	free(st);
	wl_call_set_state(c, NULL);
}
