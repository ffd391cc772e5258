/* ca.c - the fleet CA's side of host enrolment (no TPM needed). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/file.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "enrol/enrol.h"
#include "core/err.h"
#include "tpm/evidence.h"
#include "core/fileio.h"
#include "core/json.h"
#include "tpm/tpmjson.h"
#include "tpm/tpmsw.h"
#include "x509/x509.h"

#define CA_FILE_CAP (64 * 1024)
/* The TPM vendor roots are copied into the CA directory at init, so the CA
 * does not depend on a file elsewhere that may move, change or vanish. */
#define CA_VENDOR_ROOTS "vendor-roots.pem"
#define CA_VENDOR_ROOTS_CAP (1024 * 1024)

struct attest_ca {
	char dir[1024];
	char root_path[1100];
	char trust_domain[256];
	char vendor_roots[1100];
	long host_ca_ttl;
	time_t fixed_now;
};

static time_t ca_now(const struct attest_ca *ca) { return ca->fixed_now ? ca->fixed_now : time(NULL); }

void attest_ca_set_time(struct attest_ca *ca, time_t now) { ca->fixed_now = now; }

const char *attest_ca_root_path(const struct attest_ca *ca) { return ca->root_path; }

static int ca_path(const struct attest_ca *ca, char *out, size_t outsz, const char *sub,
		   const char *name, const char *ext)
{
	int n = snprintf(out, outsz, "%s/%s%s%s%s", ca->dir, sub, sub[0] ? "/" : "", name, ext);

	if (n < 0 || (size_t)n >= outsz)
		return attest_fail(ATTEST_E_INVALID_ARG, "CA path too long");
	return ATTEST_OK;
}

static int is_hex(const char *s, size_t len)
{
	if (strlen(s) != len)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Lower-case hex SHA-256; "" (never a valid hash) if hashing failed. */
static void sha256_hex(const void *data, size_t len, char out[65])
{
	uint8_t d[32];

	if (EVP_Digest(data, len, d, NULL, EVP_sha256(), NULL) != 1) {
		memset(out, 0, 65);
		return;
	}
	attest_hex(d, sizeof(d), out);
}

static int load_json(const char *path, cJSON **out)
{
	uint8_t *buf = NULL;
	size_t len;
	int r;

	*out = NULL;
	if ((r = attest_file_read(path, CA_FILE_CAP, &buf, &len)) != ATTEST_OK)
		return r;
	r = attest_json_parse(buf, len, CA_FILE_CAP, out);
	free(buf);
	return r;
}

static int save_json(const char *path, const cJSON *obj, mode_t mode, int exclusive)
{
	char *s = NULL;
	size_t len;
	int r;

	if ((r = attest_json_print(obj, &s, &len)) != ATTEST_OK)
		return r;
	r = exclusive ? attest_file_create_atomic(path, s, len, mode)
		      : attest_file_write_atomic(path, s, len, mode);
	free(s);
	return r;
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* The vendor roots as one PEM bundle with at least one certificate and
 * nothing else (cap CA_VENDOR_ROOTS_CAP); *out malloc'd. */
static int read_vendor_roots(const char *path, uint8_t **out, size_t *len)
{
	BIO *bio = NULL;
	X509 *x = NULL;
	int r, n = 0;

	if ((r = attest_file_read(path, CA_VENDOR_ROOTS_CAP, out, len)) != ATTEST_OK)
		return r;
	if (*len > INT_MAX || (bio = BIO_new_mem_buf(*out, (int)*len)) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "BIO");
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		X509_free(x);
		n++;
	}
	ERR_clear_error();
	if (n == 0) {
		r = attest_fail(ATTEST_E_PARSE, "TPM vendor roots %s: no PEM certificate", path);
		goto out;
	}
	r = ATTEST_OK;
out:
	BIO_free(bio);
	if (r != ATTEST_OK) {
		free(*out);
		*out = NULL;
		*len = 0;
	}
	return r;
}

int attest_ca_init(const char *dir, const char *trust_domain, const char *vendor_roots,
		   long host_ca_ttl)
{
	struct attest_ca ca = { 0 };
	char path[1200];
	uint8_t *roots = NULL;
	size_t roots_len = 0;
	EVP_PKEY *key = NULL;
	X509 *root = NULL;
	char *pem = NULL;
	cJSON *cfg = NULL;
	static const char *const subdirs[] = { "tokens", "allowlist", "challenges", "eks",
						"names", "hosts" };
	int r;

	if (!attest_valid_trust_domain(trust_domain))
		return attest_fail(ATTEST_E_INVALID_ARG,
				   "trust domain \"%s\" is not a valid DNS-style name", trust_domain);
	if (host_ca_ttl <= 0 || host_ca_ttl > ATTEST_HOST_CA_MAX_TTL)
		return attest_fail(ATTEST_E_INVALID_ARG, "host CA TTL must be 1..%d seconds",
				   ATTEST_HOST_CA_MAX_TTL);
	if (strlen(dir) >= sizeof(ca.dir))
		return attest_fail(ATTEST_E_INVALID_ARG, "path too long");
	snprintf(ca.dir, sizeof(ca.dir), "%s", dir);
	if ((r = ca_path(&ca, path, sizeof(path), "", "config.json", "")) != ATTEST_OK)
		return r;
	if (exists(path))
		return attest_fail(ATTEST_E_EXISTS, "%s already holds a fleet CA", dir);
	if ((r = read_vendor_roots(vendor_roots, &roots, &roots_len)) != ATTEST_OK)
		return r;
	if ((r = attest_dir_ensure(dir, 0700)) != ATTEST_OK)
		goto out;
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		if ((r = ca_path(&ca, path, sizeof(path), "", subdirs[i], "")) != ATTEST_OK ||
		    (r = attest_dir_ensure(path, 0700)) != ATTEST_OK)
			goto out;
	}
	if ((r = ca_path(&ca, path, sizeof(path), "", CA_VENDOR_ROOTS, "")) != ATTEST_OK ||
	    (r = attest_file_write_atomic(path, roots, roots_len, 0644)) != ATTEST_OK)
		goto out;
	if ((r = attest_x509_make_root(trust_domain, 3650, &key, &root)) != ATTEST_OK)
		goto out;
	if ((r = ca_path(&ca, path, sizeof(path), "", "root.key", "")) != ATTEST_OK ||
	    (r = attest_pkey_save(path, key)) != ATTEST_OK)
		goto out;
	if ((r = attest_x509_to_pem(root, &pem)) != ATTEST_OK ||
	    (r = ca_path(&ca, path, sizeof(path), "", "root.pem", "")) != ATTEST_OK ||
	    (r = attest_file_write_atomic(path, pem, strlen(pem), 0644)) != ATTEST_OK)
		goto out;
	/* The lock file exists from the start, so the first locked operation
	 * changes nothing on disk. */
	if ((r = ca_path(&ca, path, sizeof(path), "", "lock", "")) != ATTEST_OK ||
	    (r = attest_file_write_atomic(path, "", 0, 0600)) != ATTEST_OK)
		goto out;
	/* config.json last: its presence marks a complete CA. */
	if ((cfg = cJSON_CreateObject()) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "config");
		goto out;
	}
	if ((r = attest_json_add_str(cfg, "trust_domain", trust_domain)) != ATTEST_OK ||
	    (r = attest_json_add_str(cfg, "vendor_roots", CA_VENDOR_ROOTS)) != ATTEST_OK ||
	    (r = attest_json_add_u64(cfg, "host_ca_ttl", (uint64_t)host_ca_ttl)) != ATTEST_OK)
		goto out;
	if ((r = ca_path(&ca, path, sizeof(path), "", "config.json", "")) != ATTEST_OK ||
	    (r = save_json(path, cfg, 0600, 1)) != ATTEST_OK)
		goto out;
	r = ATTEST_OK;
out:
	free(roots);
	cJSON_Delete(cfg);
	free(pem);
	X509_free(root);
	EVP_PKEY_free(key);
	return r;
}

int attest_ca_open(const char *dir, struct attest_ca **out)
{
	struct attest_ca *ca = NULL;
	char path[1200];
	cJSON *cfg = NULL;
	const char *td, *roots;
	uint64_t ttl;
	int r;

	*out = NULL;
	if ((ca = calloc(1, sizeof(*ca))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "CA");
	if (strlen(dir) >= sizeof(ca->dir)) {
		r = attest_fail(ATTEST_E_INVALID_ARG, "CA dir path too long");
		goto out;
	}
	snprintf(ca->dir, sizeof(ca->dir), "%s", dir);
	if ((r = ca_path(ca, path, sizeof(path), "", "config.json", "")) != ATTEST_OK)
		goto out;
	if ((r = load_json(path, &cfg)) != ATTEST_OK) {
		if (r == ATTEST_E_NOT_FOUND)
			r = attest_fail(ATTEST_E_NOT_FOUND,
					"%s holds no fleet CA (run attest-provision init)", dir);
		goto out;
	}
	if ((r = attest_json_str(cfg, "trust_domain", 255, &td)) != ATTEST_OK ||
	    (r = attest_json_str(cfg, "vendor_roots", sizeof(ca->vendor_roots) - 1, &roots)) !=
		    ATTEST_OK ||
	    (r = attest_json_u64(cfg, "host_ca_ttl", &ttl)) != ATTEST_OK)
		goto out;
	if (ttl == 0 || ttl > ATTEST_HOST_CA_MAX_TTL) {
		r = attest_fail(ATTEST_E_PARSE, "config host_ca_ttl out of range");
		goto out;
	}
	snprintf(ca->trust_domain, sizeof(ca->trust_domain), "%s", td);
	/* a plain name is the CA's own copy (since issue 16); an absolute path
	 * is what older CAs recorded */
	if (roots[0] == '/') {
		if (strlen(roots) >= sizeof(ca->vendor_roots)) {
			r = attest_fail(ATTEST_E_PARSE, "config vendor_roots too long");
			goto out;
		}
		snprintf(ca->vendor_roots, sizeof(ca->vendor_roots), "%s", roots);
	} else if (strchr(roots, '/') != NULL || roots[0] == '.' || roots[0] == '\0') {
		r = attest_fail(ATTEST_E_PARSE, "config vendor_roots \"%s\" is no file of the CA",
				roots);
		goto out;
	} else if ((r = ca_path(ca, ca->vendor_roots, sizeof(ca->vendor_roots), "", roots, "")) !=
		   ATTEST_OK) {
		goto out;
	}
	ca->host_ca_ttl = (long)ttl;
	if ((r = ca_path(ca, ca->root_path, sizeof(ca->root_path), "", "root.pem", "")) != ATTEST_OK)
		goto out;
	*out = ca;
	ca = NULL; /* transferred */
	r = ATTEST_OK;
out:
	cJSON_Delete(cfg);
	free(ca);
	return r;
}

void attest_ca_close(struct attest_ca *ca) { free(ca); }

static int new_record(cJSON **out)
{
	if ((*out = cJSON_CreateObject()) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "JSON object");
	return ATTEST_OK;
}

int attest_ca_token_issue(struct attest_ca *ca, const char *host, long ttl,
			  const char *operator_name, char **token)
{
	uint8_t rnd[32];
	char hex[65], tok[80], hash[65], path[1200];
	cJSON *rec = NULL;
	int r;

	*token = NULL;
	if (!attest_valid_hostname(host))
		return attest_fail(ATTEST_E_INVALID_ARG,
				   "host name \"%.64s\" must be " ATTEST_NAME_RULE, host);
	if (ttl <= 0 || ttl > ATTEST_TOKEN_MAX_TTL)
		return attest_fail(ATTEST_E_INVALID_ARG, "token TTL must be 1..%d seconds",
				   ATTEST_TOKEN_MAX_TTL);
	if (operator_name == NULL || strlen(operator_name) == 0 || strlen(operator_name) > 128)
		return attest_fail(ATTEST_E_INVALID_ARG, "operator name required (<= 128 bytes)");
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "RAND_bytes");
	attest_hex(rnd, sizeof(rnd), hex);
	OPENSSL_cleanse(rnd, sizeof(rnd));
	snprintf(tok, sizeof(tok), "ajt1.%s", hex);
	sha256_hex(tok, strlen(tok), hash);
	if ((r = new_record(&rec)) != ATTEST_OK)
		goto out;
	if ((r = attest_json_add_str(rec, "host", host)) != ATTEST_OK ||
	    (r = attest_json_add_str(rec, "operator", operator_name)) != ATTEST_OK ||
	    (r = attest_json_add_u64(rec, "created", (uint64_t)ca_now(ca))) != ATTEST_OK ||
	    (r = attest_json_add_u64(rec, "expires", (uint64_t)(ca_now(ca) + ttl))) != ATTEST_OK)
		goto out;
	if ((r = ca_path(ca, path, sizeof(path), "tokens", hash, ".json")) != ATTEST_OK ||
	    (r = save_json(path, rec, 0600, 1)) != ATTEST_OK)
		goto out;
	if ((*token = strdup(tok)) == NULL)
		r = attest_fail(ATTEST_E_NOMEM, "token");
out:
	OPENSSL_cleanse(tok, sizeof(tok));
	OPENSSL_cleanse(hex, sizeof(hex));
	cJSON_Delete(rec);
	return r;
}

int attest_ca_allow_ek(struct attest_ca *ca, const char *ek_hash_hex, const char *host,
		       const char *operator_name)
{
	char path[1200];
	cJSON *rec = NULL;
	int r;

	if (!is_hex(ek_hash_hex, 64))
		return attest_fail(ATTEST_E_INVALID_ARG,
				   "EK hash must be 64 lower-case hex digits (SHA-256 of the SPKI)");
	if (!attest_valid_hostname(host))
		return attest_fail(ATTEST_E_INVALID_ARG, "bad host name");
	if (operator_name == NULL || strlen(operator_name) == 0 || strlen(operator_name) > 128)
		return attest_fail(ATTEST_E_INVALID_ARG, "operator name required");
	if ((r = new_record(&rec)) != ATTEST_OK)
		return r;
	if ((r = attest_json_add_str(rec, "host", host)) == ATTEST_OK &&
	    (r = attest_json_add_str(rec, "operator", operator_name)) == ATTEST_OK &&
	    (r = ca_path(ca, path, sizeof(path), "allowlist", ek_hash_hex, ".json")) == ATTEST_OK)
		r = save_json(path, rec, 0600, 0);
	cJSON_Delete(rec);
	return r;
}

int attest_spki_hash_hex(const TPM2B_PUBLIC *pub, char out[65])
{
	EVP_PKEY *pk = NULL;
	unsigned char *der = NULL;
	int len, r;

	if ((r = attest_tpm_pub_to_pkey(pub, &pk)) != ATTEST_OK)
		return r;
	len = i2d_PUBKEY(pk, &der);
	EVP_PKEY_free(pk);
	if (len <= 0)
		return attest_fail_ossl(ATTEST_E_CRYPTO, "encode SPKI");
	sha256_hex(der, (size_t)len, out);
	OPENSSL_free(der);
	return ATTEST_OK;
}

/* Who may enrol: a valid, unused, unexpired token for this host, or an
 * allowlist entry for this EK and host. The operator who approved is
 * returned in *operator_out (malloc'd), the token hash in token_hash ("" when
 * allowlisted). */
static int check_authorisation(struct attest_ca *ca, const cJSON *req, const char *host,
			       const char *ek_hash, char token_hash[65], char **operator_out)
{
	const cJSON *tok_item = cJSON_GetObjectItemCaseSensitive(req, "token");
	char path[1200];
	cJSON *rec = NULL;
	const char *tok, *bound, *op;
	uint64_t expires;
	int r;

	token_hash[0] = '\0';
	*operator_out = NULL;
	if (tok_item == NULL) {
		if ((r = ca_path(ca, path, sizeof(path), "allowlist", ek_hash, ".json")) != ATTEST_OK)
			return r;
		r = load_json(path, &rec);
		if (r == ATTEST_E_NOT_FOUND)
			return attest_fail(ATTEST_E_TOKEN_MISSING,
					   "no join token, and EK %.16s... is not on the allowlist",
					   ek_hash);
		if (r != ATTEST_OK)
			return r;
		if ((r = attest_json_str(rec, "host", ATTEST_MAX_NAME, &bound)) != ATTEST_OK ||
		    (r = attest_json_str(rec, "operator", 128, &op)) != ATTEST_OK)
			goto out;
		if (strcmp(bound, host) != 0) {
			r = attest_fail(ATTEST_E_EK_NOT_ALLOWED,
					"EK is allowlisted for another host name");
			goto out;
		}
		goto approved;
	}
	if ((r = attest_json_str(req, "token", 128, &tok)) != ATTEST_OK)
		return r;
	sha256_hex(tok, strlen(tok), token_hash);
	if ((r = ca_path(ca, path, sizeof(path), "tokens", token_hash, ".json")) != ATTEST_OK)
		return r;
	r = load_json(path, &rec);
	if (r == ATTEST_E_NOT_FOUND)
		return attest_fail(ATTEST_E_TOKEN_UNKNOWN, "join token not issued by this CA");
	if (r != ATTEST_OK)
		return r;
	if ((r = attest_json_str(rec, "host", ATTEST_MAX_NAME, &bound)) != ATTEST_OK ||
	    (r = attest_json_str(rec, "operator", 128, &op)) != ATTEST_OK ||
	    (r = attest_json_u64(rec, "expires", &expires)) != ATTEST_OK)
		goto out;
	if ((r = ca_path(ca, path, sizeof(path), "tokens", token_hash, ".used")) != ATTEST_OK)
		goto out;
	if (exists(path)) {
		r = attest_fail(ATTEST_E_TOKEN_USED, "join token was already used");
		goto out;
	}
	if ((uint64_t)ca_now(ca) >= expires) {
		r = attest_fail(ATTEST_E_TOKEN_EXPIRED, "join token expired");
		goto out;
	}
	if (strcmp(bound, host) != 0) {
		r = attest_fail(ATTEST_E_TOKEN_HOST, "join token is for host \"%s\", not \"%s\"",
				bound, host);
		goto out;
	}
approved:
	if ((*operator_out = strdup(op)) == NULL)
		r = attest_fail(ATTEST_E_NOMEM, "operator");
	else
		r = ATTEST_OK;
out:
	cJSON_Delete(rec);
	return r;
}

/* Read a binding file (one line, no newline) into buf; "" when absent. */
static int read_binding(struct attest_ca *ca, const char *sub, const char *name, char *buf,
			size_t bufsz)
{
	char path[1200];
	uint8_t *data = NULL;
	size_t len;
	int r;

	buf[0] = '\0';
	if ((r = ca_path(ca, path, sizeof(path), sub, name, "")) != ATTEST_OK)
		return r;
	r = attest_file_read(path, bufsz - 1, &data, &len);
	if (r == ATTEST_E_NOT_FOUND)
		return ATTEST_OK;
	if (r != ATTEST_OK)
		return r;
	memcpy(buf, data, len + 1);
	free(data);
	return ATTEST_OK;
}

/* One EK holds one host name, one host name one EK: eks/<ek hash> names
 * the host and names/<host> the EK hash, each created exclusively. */
static int check_binding(struct attest_ca *ca, const char *host, const char *ek_hash)
{
	char bound[128];
	int r;

	if ((r = read_binding(ca, "eks", ek_hash, bound, sizeof(bound))) != ATTEST_OK)
		return r;
	if (bound[0] != '\0' && strcmp(bound, host) != 0)
		return attest_fail(ATTEST_E_HOST_EK_CONFLICT,
				   "this EK is already enrolled under another host name");
	if ((r = read_binding(ca, "names", host, bound, sizeof(bound))) != ATTEST_OK)
		return r;
	if (bound[0] != '\0' && strcmp(bound, ek_hash) != 0)
		return attest_fail(ATTEST_E_HOST_EK_CONFLICT,
				   "host \"%s\" is already enrolled with another EK", host);
	return ATTEST_OK;
}

/* Serialise every state-changing CA operation: checks and writes of one
 * enrolment must not interleave with another's (two EKs racing for one
 * name). An advisory lock on CA_DIR/lock; released on close. */
static int ca_lock(struct attest_ca *ca, int *fd_out)
{
	char path[1200];
	int fd, r;

	*fd_out = -1;
	if ((r = ca_path(ca, path, sizeof(path), "", "lock", "")) != ATTEST_OK)
		return r;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return attest_fail(ATTEST_E_IO, "open %s: %s", path, strerror(errno));
	while (flock(fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			r = attest_fail(ATTEST_E_IO, "lock %s: %s", path, strerror(errno));
			close(fd);
			return r;
		}
	}
	*fd_out = fd;
	return ATTEST_OK;
}

static int check_type(const cJSON *msg, const char *want)
{
	const char *type, *ver;
	int r;

	if ((r = attest_json_str(msg, "type", 32, &type)) != ATTEST_OK ||
	    (r = attest_json_str(msg, "version", 8, &ver)) != ATTEST_OK)
		return r;
	if (strcmp(type, want) != 0)
		return attest_fail(ATTEST_E_PARSE, "message type \"%s\", expected \"%s\"", type, want);
	if (strcmp(ver, "1") != 0)
		return attest_fail(ATTEST_E_PARSE, "unsupported message version \"%s\"", ver);
	return ATTEST_OK;
}

static int handle_request_locked(struct attest_ca *ca, const void *msg, size_t len, char **out)
{
	static const char *const keys[] = { "type", "version", "host", "token", "ek_kind",
					    "ek_public", "ek_cert", "ak_public", "key_public",
					    NULL };
	cJSON *req = NULL, *ch = NULL, *rec = NULL;
	const char *host, *kind_name;
	TPM2B_PUBLIC ek, ak, key;
	TPM2B_NAME ak_name;
	TPM2B_ID_OBJECT blob;
	TPM2B_ENCRYPTED_SECRET enc;
	enum attest_ek_kind kind;
	uint8_t *cert = NULL, secret[32], id[16];
	size_t cert_len;
	char ek_hash[65], token_hash[65], id_hex[33], secret_hash[65], path[1200];
	char *operator_name = NULL;
	EVP_PKEY *ek_pkey = NULL;
	int r;

	*out = NULL;
	if ((r = attest_json_parse(msg, len, ATTEST_ENROL_MSG_CAP, &req)) != ATTEST_OK ||
	    (r = attest_json_only(req, keys)) != ATTEST_OK ||
	    (r = check_type(req, "enrol-request")) != ATTEST_OK)
		goto out;
	if ((r = attest_json_str(req, "host", ATTEST_MAX_NAME, &host)) != ATTEST_OK)
		goto out;
	if (!attest_valid_hostname(host)) {
		r = attest_fail(ATTEST_E_PARSE, "host name \"%s\" is not valid", host);
		goto out;
	}
	if ((r = attest_json_str(req, "ek_kind", 16, &kind_name)) != ATTEST_OK ||
	    (r = attest_json_get_TPM2B_PUBLIC(req, "ek_public", &ek)) != ATTEST_OK ||
	    (r = attest_json_b64(req, "ek_cert", 4096, &cert, &cert_len)) != ATTEST_OK ||
	    (r = attest_json_get_TPM2B_PUBLIC(req, "ak_public", &ak)) != ATTEST_OK ||
	    (r = attest_json_get_TPM2B_PUBLIC(req, "key_public", &key)) != ATTEST_OK)
		goto out;
	/* Structure first, then who is asking, then the crypto. */
	if ((r = attest_ek_classify(&ek, &kind)) != ATTEST_OK)
		goto out;
	if (kind != attest_ek_kind_parse(kind_name)) {
		r = attest_fail(ATTEST_E_EK_TEMPLATE, "EK public area is %s, message says %s",
				attest_ek_kind_name(kind), kind_name);
		goto out;
	}
	if ((r = attest_ak_check(&ak)) != ATTEST_OK || (r = attest_signkey_check(&key)) != ATTEST_OK)
		goto out;
	if ((r = attest_spki_hash_hex(&ek, ek_hash)) != ATTEST_OK)
		goto out;
	if ((r = check_authorisation(ca, req, host, ek_hash, token_hash, &operator_name)) != ATTEST_OK)
		goto out;
	if ((r = attest_tpm_pub_to_pkey(&ek, &ek_pkey)) != ATTEST_OK ||
	    (r = attest_ek_cert_verify(cert, cert_len, ca->vendor_roots, ek_pkey)) != ATTEST_OK)
		goto out;
	if ((r = check_binding(ca, host, ek_hash)) != ATTEST_OK)
		goto out;
	if ((r = attest_tpm_name(&ak, &ak_name)) != ATTEST_OK)
		goto out;
	if (RAND_bytes(secret, sizeof(secret)) != 1 || RAND_bytes(id, sizeof(id)) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "RAND_bytes");
		goto out;
	}
	if ((r = attest_make_credential(&ek, &ak_name, secret, sizeof(secret), &blob, &enc)) != ATTEST_OK)
		goto out;
	attest_hex(id, sizeof(id), id_hex);
	sha256_hex(secret, sizeof(secret), secret_hash);
	/* The pending challenge keeps only the secret's hash. */
	if ((r = new_record(&rec)) != ATTEST_OK)
		goto out;
	if ((r = attest_json_add_str(rec, "kind", "enrol")) != ATTEST_OK ||
	    (r = attest_json_add_str(rec, "host", host)) != ATTEST_OK ||
	    (r = attest_json_add_str(rec, "ek_hash", ek_hash)) != ATTEST_OK ||
	    (r = attest_json_add_str(rec, "ek_kind", attest_ek_kind_name(kind))) != ATTEST_OK ||
	    (r = attest_json_add_TPM2B_PUBLIC(rec, "ak_public", &ak)) != ATTEST_OK ||
	    (r = attest_json_add_TPM2B_PUBLIC(rec, "key_public", &key)) != ATTEST_OK ||
	    (r = attest_json_add_str(rec, "secret_sha256", secret_hash)) != ATTEST_OK ||
	    (r = attest_json_add_str(rec, "token_sha256", token_hash)) != ATTEST_OK ||
	    (r = attest_json_add_str(rec, "operator", operator_name)) != ATTEST_OK ||
	    (r = attest_json_add_u64(rec, "expires",
				     (uint64_t)(ca_now(ca) + ATTEST_CHALLENGE_TTL))) != ATTEST_OK)
		goto out;
	if ((r = ca_path(ca, path, sizeof(path), "challenges", id_hex, ".json")) != ATTEST_OK ||
	    (r = save_json(path, rec, 0600, 1)) != ATTEST_OK)
		goto out;
	if ((r = new_record(&ch)) != ATTEST_OK)
		goto out;
	if ((r = attest_json_add_str(ch, "type", "enrol-challenge")) != ATTEST_OK ||
	    (r = attest_json_add_str(ch, "version", "1")) != ATTEST_OK ||
	    (r = attest_json_add_str(ch, "challenge_id", id_hex)) != ATTEST_OK ||
	    (r = attest_json_add_TPM2B_ID_OBJECT(ch, "credential_blob", &blob)) != ATTEST_OK ||
	    (r = attest_json_add_TPM2B_ENCRYPTED_SECRET(ch, "encrypted_secret", &enc)) != ATTEST_OK ||
	    (r = attest_json_add_u64(ch, "expires",
				     (uint64_t)(ca_now(ca) + ATTEST_CHALLENGE_TTL))) != ATTEST_OK ||
	    (r = attest_json_print(ch, out, NULL)) != ATTEST_OK)
		goto out;
	r = ATTEST_OK;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	EVP_PKEY_free(ek_pkey);
	free(operator_name);
	free(cert);
	cJSON_Delete(rec);
	cJSON_Delete(ch);
	cJSON_Delete(req);
	return r;
}

/* Atomically claim a single-use marker; ATTEST_E_EXISTS if already claimed. */
static int claim(struct attest_ca *ca, const char *sub, const char *name, const char *ext,
		 const char *content)
{
	char path[1200];
	int r;

	if ((r = ca_path(ca, path, sizeof(path), sub, name, ext)) != ATTEST_OK)
		return r;
	return attest_file_create_atomic(path, content, strlen(content), 0600);
}

/* A token that may still be spent: not used, not expired. */
static int token_usable(struct attest_ca *ca, const char *token_hash)
{
	char path[1200];
	cJSON *rec = NULL;
	uint64_t expires;
	int r;

	if ((r = ca_path(ca, path, sizeof(path), "tokens", token_hash, ".used")) != ATTEST_OK)
		return r;
	if (exists(path))
		return attest_fail(ATTEST_E_TOKEN_USED, "join token was already used");
	if ((r = ca_path(ca, path, sizeof(path), "tokens", token_hash, ".json")) != ATTEST_OK ||
	    (r = load_json(path, &rec)) != ATTEST_OK)
		return r == ATTEST_E_NOT_FOUND ? attest_fail(ATTEST_E_TOKEN_UNKNOWN, "join token gone") : r;
	if ((r = attest_json_u64(rec, "expires", &expires)) == ATTEST_OK && (uint64_t)ca_now(ca) >= expires)
		r = attest_fail(ATTEST_E_TOKEN_EXPIRED, "join token expired during enrolment");
	cJSON_Delete(rec);
	return r;
}

/* A host enrolled before keeps its approved reference PCRs: re-enrolment
 * (a new token, an allowlisted EK) must not replace them unapproved. */
static int check_reference(struct attest_ca *ca, const char *host, const uint8_t *pcrs,
			   size_t pcrs_len)
{
	char path[1200];
	cJSON *rec = NULL;
	uint8_t *ref = NULL;
	size_t ref_len = 0;
	int r;

	if ((r = ca_path(ca, path, sizeof(path), "hosts", host, ".json")) != ATTEST_OK)
		return r;
	r = load_json(path, &rec);
	if (r == ATTEST_E_NOT_FOUND)
		return ATTEST_OK; /* first enrolment: these values become the reference */
	if (r != ATTEST_OK)
		return r;
	if ((r = attest_json_b64(rec, "reference_pcr_sha256", 24 * 32, &ref, &ref_len)) == ATTEST_OK &&
	    (ref_len != pcrs_len || CRYPTO_memcmp(ref, pcrs, ref_len) != 0))
		r = attest_fail(ATTEST_E_PCR_MISMATCH,
				"re-enrolment of \"%s\" quotes boot PCRs other than its approved "
				"reference values (attest-provision forget-host to start over)", host);
	free(ref);
	cJSON_Delete(rec);
	return r;
}

/* Sign a host CA certificate for `key`, store it in the host record
 * (hosts/<host>.json, written crash-safely) and build the enrol-result. */
static int issue_host_cert(struct attest_ca *ca, const char *host, const TPM2B_PUBLIC *key,
			   cJSON *hostrec, char **out)
{
	char path[1200], *cert_pem = NULL, *root_pem = NULL;
	EVP_PKEY *root_key = NULL, *host_key = NULL;
	X509 *root = NULL, *cert = NULL;
	cJSON *res = NULL;
	int r;

	*out = NULL;
	if ((r = ca_path(ca, path, sizeof(path), "", "root.key", "")) != ATTEST_OK ||
	    (r = attest_pkey_load(path, &root_key)) != ATTEST_OK ||
	    (r = attest_x509_load(ca->root_path, &root)) != ATTEST_OK ||
	    (r = attest_tpm_pub_to_pkey(key, &host_key)) != ATTEST_OK ||
	    (r = attest_x509_make_host_ca(root_key, root, ca->trust_domain, host, host_key,
					  ca->host_ca_ttl, &cert)) != ATTEST_OK ||
	    (r = attest_x509_to_pem(cert, &cert_pem)) != ATTEST_OK ||
	    (r = attest_x509_to_pem(root, &root_pem)) != ATTEST_OK)
		goto out;
	cJSON_DeleteItemFromObjectCaseSensitive(hostrec, "host_ca_pem");
	cJSON_DeleteItemFromObjectCaseSensitive(hostrec, "issued");
	if ((r = attest_json_add_str(hostrec, "host_ca_pem", cert_pem)) != ATTEST_OK ||
	    (r = attest_json_add_u64(hostrec, "issued", (uint64_t)ca_now(ca))) != ATTEST_OK ||
	    (r = ca_path(ca, path, sizeof(path), "hosts", host, ".json")) != ATTEST_OK ||
	    (r = save_json(path, hostrec, 0600, 0)) != ATTEST_OK)
		goto out;
	if ((r = new_record(&res)) != ATTEST_OK)
		goto out;
	if ((r = attest_json_add_str(res, "type", "enrol-result")) != ATTEST_OK ||
	    (r = attest_json_add_str(res, "version", "1")) != ATTEST_OK ||
	    (r = attest_json_add_str(res, "host", host)) != ATTEST_OK ||
	    (r = attest_json_add_str(res, "trust_domain", ca->trust_domain)) != ATTEST_OK ||
	    (r = attest_json_add_str(res, "host_ca_cert", cert_pem)) != ATTEST_OK ||
	    (r = attest_json_add_str(res, "root_cert", root_pem)) != ATTEST_OK)
		goto out;
	r = attest_json_print(res, out, NULL);
out:
	free(cert_pem);
	free(root_pem);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(host_key);
	X509_free(root);
	X509_free(cert);
	cJSON_Delete(res);
	return r;
}

/* A pending challenge of `kind` ("enrol" or "renew"): it exists, was not
 * answered yet and has not expired. */
static int load_challenge(struct attest_ca *ca, const char *id_hex, const char *kind,
			  cJSON **out)
{
	char path[1200];
	cJSON *ch = NULL;
	const char *got;
	uint64_t expires;
	int r;

	*out = NULL;
	if (!is_hex(id_hex, 32))
		return attest_fail(ATTEST_E_PARSE, "challenge_id is not 32 hex digits");
	if ((r = ca_path(ca, path, sizeof(path), "challenges", id_hex, ".json")) != ATTEST_OK)
		return r;
	r = load_json(path, &ch);
	if (r == ATTEST_E_NOT_FOUND)
		return attest_fail(ATTEST_E_CHALLENGE_UNKNOWN, "no such challenge");
	if (r != ATTEST_OK)
		return r;
	if ((r = attest_json_str(ch, "kind", 8, &got)) != ATTEST_OK ||
	    (r = attest_json_u64(ch, "expires", &expires)) != ATTEST_OK)
		goto out;
	if (strcmp(got, kind) != 0) {
		r = attest_fail(ATTEST_E_CHALLENGE_UNKNOWN, "challenge is not an %s challenge", kind);
		goto out;
	}
	if ((r = ca_path(ca, path, sizeof(path), "challenges", id_hex, ".done")) != ATTEST_OK)
		goto out;
	if (exists(path)) {
		r = attest_fail(ATTEST_E_CHALLENGE_USED, "challenge was already answered");
		goto out;
	}
	if ((uint64_t)ca_now(ca) >= expires) {
		r = attest_fail(ATTEST_E_CHALLENGE_EXPIRED, "challenge expired");
		goto out;
	}
	*out = ch;
	ch = NULL; /* transferred */
out:
	cJSON_Delete(ch);
	return r;
}

static int load_host(struct attest_ca *ca, const char *host, cJSON **out)
{
	char path[1200];
	int r;

	*out = NULL;
	if (!attest_valid_hostname(host))
		return attest_fail(ATTEST_E_INVALID_ARG, "bad host name");
	if ((r = ca_path(ca, path, sizeof(path), "hosts", host, ".json")) != ATTEST_OK)
		return r;
	r = load_json(path, out);
	if (r == ATTEST_E_NOT_FOUND)
		return attest_fail(ATTEST_E_NOT_FOUND, "host \"%s\" is not enrolled", host);
	return r;
}

static int renew_challenge_locked(struct attest_ca *ca, const char *host, char **out)
{
	cJSON *hostrec = NULL, *rec = NULL, *ch = NULL;
	uint8_t id[16], nonce[32];
	char id_hex[33], path[1200];
	uint64_t mask, expires = (uint64_t)(ca_now(ca) + ATTEST_CHALLENGE_TTL);
	int r;

	*out = NULL;
	if ((r = load_host(ca, host, &hostrec)) != ATTEST_OK ||
	    (r = attest_json_u64(hostrec, "reference_pcr_mask", &mask)) != ATTEST_OK)
		goto out;
	if (RAND_bytes(id, sizeof(id)) != 1 || RAND_bytes(nonce, sizeof(nonce)) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "RAND_bytes");
		goto out;
	}
	attest_hex(id, sizeof(id), id_hex);
	if ((r = new_record(&rec)) != ATTEST_OK || (r = new_record(&ch)) != ATTEST_OK)
		goto out;
	if ((r = attest_json_add_str(rec, "kind", "renew")) != ATTEST_OK ||
	    (r = attest_json_add_str(rec, "host", host)) != ATTEST_OK ||
	    (r = attest_json_add_b64(rec, "nonce", nonce, sizeof(nonce))) != ATTEST_OK ||
	    (r = attest_json_add_u64(rec, "expires", expires)) != ATTEST_OK ||
	    (r = ca_path(ca, path, sizeof(path), "challenges", id_hex, ".json")) != ATTEST_OK ||
	    (r = save_json(path, rec, 0600, 1)) != ATTEST_OK)
		goto out;
	if ((r = attest_json_add_str(ch, "type", "renew-challenge")) != ATTEST_OK ||
	    (r = attest_json_add_str(ch, "version", "1")) != ATTEST_OK ||
	    (r = attest_json_add_str(ch, "host", host)) != ATTEST_OK ||
	    (r = attest_json_add_str(ch, "challenge_id", id_hex)) != ATTEST_OK ||
	    (r = attest_json_add_b64(ch, "nonce", nonce, sizeof(nonce))) != ATTEST_OK ||
	    (r = attest_json_add_u64(ch, "pcr_mask", mask)) != ATTEST_OK ||
	    (r = attest_json_add_u64(ch, "expires", expires)) != ATTEST_OK)
		goto out;
	r = attest_json_print(ch, out, NULL);
out:
	cJSON_Delete(hostrec);
	cJSON_Delete(rec);
	cJSON_Delete(ch);
	return r;
}

static int handle_renewal_locked(struct attest_ca *ca, const void *msg, size_t len, char **out)
{
	static const char *const keys[] = { "type", "version", "challenge_id", "quote",
					    "quote_sig", "pcr_mask", "pcr_values", NULL };
	cJSON *resp = NULL, *ch = NULL, *hostrec = NULL;
	const char *id_hex, *host;
	TPM2B_PUBLIC ak, key;
	TPMT_SIGNATURE qsig;
	uint8_t *quote = NULL, *pcrs = NULL, *nonce = NULL, *ref = NULL, qual[32];
	size_t quote_len, pcrs_len, nonce_len, ref_len;
	uint64_t mask, ref_mask;
	int r;

	*out = NULL;
	if ((r = attest_json_parse(msg, len, ATTEST_ENROL_MSG_CAP, &resp)) != ATTEST_OK ||
	    (r = attest_json_only(resp, keys)) != ATTEST_OK ||
	    (r = check_type(resp, "renew-response")) != ATTEST_OK ||
	    (r = attest_json_str(resp, "challenge_id", 32, &id_hex)) != ATTEST_OK ||
	    (r = attest_json_b64(resp, "quote", ATTEST_MAX_ATTEST_SIZE, &quote, &quote_len)) != ATTEST_OK ||
	    (r = attest_json_get_TPMT_SIGNATURE(resp, "quote_sig", &qsig)) != ATTEST_OK ||
	    (r = attest_json_u64(resp, "pcr_mask", &mask)) != ATTEST_OK ||
	    (r = attest_json_b64(resp, "pcr_values", 24 * 32, &pcrs, &pcrs_len)) != ATTEST_OK)
		goto out;
	if ((r = load_challenge(ca, id_hex, "renew", &ch)) != ATTEST_OK ||
	    (r = attest_json_str(ch, "host", ATTEST_MAX_NAME, &host)) != ATTEST_OK ||
	    (r = attest_json_b64(ch, "nonce", 64, &nonce, &nonce_len)) != ATTEST_OK ||
	    (r = load_host(ca, host, &hostrec)) != ATTEST_OK)
		goto out;
	if ((r = attest_json_get_TPM2B_PUBLIC(hostrec, "ak_public", &ak)) != ATTEST_OK ||
	    (r = attest_json_get_TPM2B_PUBLIC(hostrec, "key_public", &key)) != ATTEST_OK ||
	    (r = attest_json_u64(hostrec, "reference_pcr_mask", &ref_mask)) != ATTEST_OK ||
	    (r = attest_json_b64(hostrec, "reference_pcr_sha256", 24 * 32, &ref, &ref_len)) != ATTEST_OK)
		goto out;
	if (mask != ref_mask) {
		r = attest_fail(ATTEST_E_QUOTE_SELECTION, "renewal quote must cover PCR mask 0x%06x",
				(unsigned)ref_mask);
		goto out;
	}
	if ((r = attest_renew_qualifying_data(nonce, nonce_len, qual)) != ATTEST_OK ||
	    (r = attest_verify_quote(&ak, quote, quote_len, &qsig, qual, sizeof(qual),
				     (uint32_t)mask, pcrs, pcrs_len, NULL)) != ATTEST_OK)
		goto out;
	if (pcrs_len != ref_len || CRYPTO_memcmp(pcrs, ref, ref_len) != 0) {
		r = attest_fail(ATTEST_E_PCR_MISMATCH,
				"quoted boot PCRs of \"%s\" differ from its reference values", host);
		goto out;
	}
	if ((r = claim(ca, "challenges", id_hex, ".done", host)) != ATTEST_OK) {
		if (r == ATTEST_E_EXISTS)
			r = attest_fail(ATTEST_E_CHALLENGE_USED, "challenge was already answered");
		goto out;
	}
	r = issue_host_cert(ca, host, &key, hostrec, out);
out:
	free(quote);
	free(pcrs);
	free(nonce);
	free(ref);
	cJSON_Delete(hostrec);
	cJSON_Delete(ch);
	cJSON_Delete(resp);
	return r;
}

static int handle_response_locked(struct attest_ca *ca, const void *msg, size_t len, char **out)
{
	static const char *const keys[] = { "type", "version", "challenge_id", "secret",
					    "certify_info", "certify_sig", "creation_data",
					    "quote", "quote_sig", "pcr_mask", "pcr_values", NULL };
	cJSON *resp = NULL, *ch = NULL, *hostrec = NULL;
	const char *id_hex, *host, *ek_hash, *ek_kind, *secret_hash, *token_hash, *op;
	TPM2B_PUBLIC ak, key;
	TPMT_SIGNATURE csig, qsig;
	uint8_t *secret = NULL, *cinfo = NULL, *cdata = NULL, *quote = NULL, *pcrs = NULL;
	size_t secret_len, cinfo_len, cdata_len, quote_len, pcrs_len;
	uint64_t pcr_mask;
	uint8_t qual[32];
	char got_hash[65];
	int r;

	*out = NULL;
	if ((r = attest_json_parse(msg, len, ATTEST_ENROL_MSG_CAP, &resp)) != ATTEST_OK ||
	    (r = attest_json_only(resp, keys)) != ATTEST_OK ||
	    (r = check_type(resp, "enrol-response")) != ATTEST_OK)
		goto out;
	if ((r = attest_json_str(resp, "challenge_id", 32, &id_hex)) != ATTEST_OK)
		goto out;
	if ((r = attest_json_b64(resp, "secret", 64, &secret, &secret_len)) != ATTEST_OK ||
	    (r = attest_json_b64(resp, "certify_info", ATTEST_MAX_ATTEST_SIZE, &cinfo, &cinfo_len)) != ATTEST_OK ||
	    (r = attest_json_get_TPMT_SIGNATURE(resp, "certify_sig", &csig)) != ATTEST_OK ||
	    (r = attest_json_b64(resp, "creation_data", sizeof(TPMS_CREATION_DATA), &cdata, &cdata_len)) != ATTEST_OK ||
	    (r = attest_json_b64(resp, "quote", ATTEST_MAX_ATTEST_SIZE, &quote, &quote_len)) != ATTEST_OK ||
	    (r = attest_json_get_TPMT_SIGNATURE(resp, "quote_sig", &qsig)) != ATTEST_OK ||
	    (r = attest_json_u64(resp, "pcr_mask", &pcr_mask)) != ATTEST_OK ||
	    (r = attest_json_b64(resp, "pcr_values", 24 * 32, &pcrs, &pcrs_len)) != ATTEST_OK)
		goto out;
	if ((r = load_challenge(ca, id_hex, "enrol", &ch)) != ATTEST_OK)
		goto out;
	if ((r = attest_json_str(ch, "host", ATTEST_MAX_NAME, &host)) != ATTEST_OK ||
	    (r = attest_json_str(ch, "ek_hash", 64, &ek_hash)) != ATTEST_OK ||
	    (r = attest_json_str(ch, "ek_kind", 16, &ek_kind)) != ATTEST_OK ||
	    (r = attest_json_get_TPM2B_PUBLIC(ch, "ak_public", &ak)) != ATTEST_OK ||
	    (r = attest_json_get_TPM2B_PUBLIC(ch, "key_public", &key)) != ATTEST_OK ||
	    (r = attest_json_str(ch, "secret_sha256", 64, &secret_hash)) != ATTEST_OK ||
	    (r = attest_json_str(ch, "token_sha256", 64, &token_hash)) != ATTEST_OK ||
	    (r = attest_json_str(ch, "operator", 128, &op)) != ATTEST_OK)
		goto out;
	sha256_hex(secret, secret_len, got_hash);
	if (!is_hex(secret_hash, 64) || CRYPTO_memcmp(got_hash, secret_hash, 64) != 0) {
		r = attest_fail(ATTEST_E_SECRET_MISMATCH,
				"activated secret differs: the AK is not in the TPM holding this EK");
		goto out;
	}
	if ((r = attest_enrol_qualifying_data(id_hex, secret, secret_len, qual)) != ATTEST_OK)
		goto out;
	if ((r = attest_verify_creation(&ak, &key, cinfo, cinfo_len, &csig, cdata, cdata_len,
					qual, sizeof(qual))) != ATTEST_OK)
		goto out;
	if (pcr_mask != ATTEST_ENROL_PCR_MASK) {
		r = attest_fail(ATTEST_E_QUOTE_SELECTION, "enrolment quote must cover PCRs 0-7");
		goto out;
	}
	if ((r = attest_verify_quote(&ak, quote, quote_len, &qsig, qual, sizeof(qual),
				     (uint32_t)pcr_mask, pcrs, pcrs_len, NULL)) != ATTEST_OK)
		goto out;
	/* Under the CA lock nothing moved since the request was checked unless
	 * another enrolment committed: check token and binding again, and a
	 * re-enrolment must show the reference PCRs already approved. */
	if (token_hash[0] != '\0' && (r = token_usable(ca, token_hash)) != ATTEST_OK)
		goto out;
	if ((r = check_binding(ca, host, ek_hash)) != ATTEST_OK ||
	    (r = check_reference(ca, host, pcrs, pcrs_len)) != ATTEST_OK)
		goto out;
	if ((r = new_record(&hostrec)) != ATTEST_OK)
		goto out;
	if ((r = attest_json_add_str(hostrec, "host", host)) != ATTEST_OK ||
	    (r = attest_json_add_str(hostrec, "ek_hash", ek_hash)) != ATTEST_OK ||
	    (r = attest_json_add_str(hostrec, "ek_kind", ek_kind)) != ATTEST_OK ||
	    (r = attest_json_add_TPM2B_PUBLIC(hostrec, "ak_public", &ak)) != ATTEST_OK ||
	    (r = attest_json_add_TPM2B_PUBLIC(hostrec, "key_public", &key)) != ATTEST_OK ||
	    (r = attest_json_add_str(hostrec, "approved_by", op)) != ATTEST_OK ||
	    (r = attest_json_add_u64(hostrec, "enrolled", (uint64_t)ca_now(ca))) != ATTEST_OK ||
	    (r = attest_json_add_u64(hostrec, "reference_pcr_mask", pcr_mask)) != ATTEST_OK ||
	    (r = attest_json_add_b64(hostrec, "reference_pcr_sha256", pcrs, pcrs_len)) != ATTEST_OK ||
	    (r = attest_json_add_str(hostrec, "reference_approved_by", op)) != ATTEST_OK)
		goto out;
	/* Commit, each step crash-safe and the order such that a crash at any
	 * point leaves a state a retry of this response completes: bind EK and
	 * name (exclusive creates; already ours is fine), write the host record
	 * with its certificate, then spend the token and the challenge. */
	if ((r = claim(ca, "eks", ek_hash, "", host)) != ATTEST_OK && r != ATTEST_E_EXISTS)
		goto out;
	if ((r = claim(ca, "names", host, "", ek_hash)) != ATTEST_OK && r != ATTEST_E_EXISTS)
		goto out;
	if ((r = issue_host_cert(ca, host, &key, hostrec, out)) != ATTEST_OK)
		goto out;
	if (token_hash[0] != '\0' && (r = claim(ca, "tokens", token_hash, ".used", host)) != ATTEST_OK &&
	    r != ATTEST_E_EXISTS)
		goto out;
	if ((r = claim(ca, "challenges", id_hex, ".done", host)) != ATTEST_OK && r != ATTEST_E_EXISTS)
		goto out;
	r = ATTEST_OK;
out:
	OPENSSL_cleanse(qual, sizeof(qual));
	if (secret != NULL)
		OPENSSL_cleanse(secret, secret_len);
	free(secret);
	free(cinfo);
	free(cdata);
	free(quote);
	free(pcrs);
	cJSON_Delete(hostrec);
	cJSON_Delete(ch);
	cJSON_Delete(resp);
	return r;
}

/* ---- public entry points: each state-changing step under the CA lock ---- */

#define RETURN_LOCKED(ca_, call_)                                                    \
	do {                                                                       \
		int lockfd_, r_;                                                   \
		if ((r_ = ca_lock((ca_), &lockfd_)) != ATTEST_OK)                  \
			return r_;                                                 \
		r_ = (call_);                                                      \
		close(lockfd_);                                                    \
		return r_;                                                         \
	} while (0)

int attest_ca_handle_request(struct attest_ca *ca, const void *msg, size_t len, char **out)
{
	*out = NULL;
	RETURN_LOCKED(ca, handle_request_locked(ca, msg, len, out));
}

int attest_ca_handle_response(struct attest_ca *ca, const void *msg, size_t len, char **out)
{
	*out = NULL;
	RETURN_LOCKED(ca, handle_response_locked(ca, msg, len, out));
}

int attest_ca_renew_challenge(struct attest_ca *ca, const char *host, char **out)
{
	*out = NULL;
	RETURN_LOCKED(ca, renew_challenge_locked(ca, host, out));
}

int attest_ca_handle_renewal(struct attest_ca *ca, const void *msg, size_t len, char **out)
{
	*out = NULL;
	RETURN_LOCKED(ca, handle_renewal_locked(ca, msg, len, out));
}

static int unlink_durable(struct attest_ca *ca, const char *sub, const char *name, const char *ext)
{
	char path[1200];
	int r;

	if ((r = ca_path(ca, path, sizeof(path), sub, name, ext)) != ATTEST_OK)
		return r;
	if (unlink(path) != 0 && errno != ENOENT)
		return attest_fail(ATTEST_E_IO, "remove %s: %s", path, strerror(errno));
	return attest_dir_sync(path);
}

static int forget_host_locked(struct attest_ca *ca, const char *host)
{
	char ek[128];
	int r;

	if (!attest_valid_hostname(host))
		return attest_fail(ATTEST_E_INVALID_ARG, "bad host name");
	if ((r = read_binding(ca, "names", host, ek, sizeof(ek))) != ATTEST_OK)
		return r;
	if (ek[0] == '\0')
		return attest_fail(ATTEST_E_NOT_FOUND, "host \"%s\" is not enrolled", host);
	if (!is_hex(ek, 64))
		return attest_fail(ATTEST_E_PARSE, "names/%s is corrupt", host);
	/* The name's binding goes last: until then the EK still holds it. */
	if ((r = unlink_durable(ca, "hosts", host, ".json")) != ATTEST_OK ||
	    (r = unlink_durable(ca, "eks", ek, "")) != ATTEST_OK ||
	    (r = unlink_durable(ca, "names", host, "")) != ATTEST_OK)
		return r;
	return ATTEST_OK;
}

static int host_info_locked(struct attest_ca *ca, const char *host, TPM2B_PUBLIC *ak,
			    uint32_t *ref_mask, uint8_t *ref, size_t ref_cap, size_t *ref_len)
{
	cJSON *rec = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	uint64_t mask = 0;
	int r;

	if ((r = load_host(ca, host, &rec)) != ATTEST_OK)
		goto out;
	if ((r = attest_json_get_TPM2B_PUBLIC(rec, "ak_public", ak)) != ATTEST_OK ||
	    (r = attest_json_u64(rec, "reference_pcr_mask", &mask)) != ATTEST_OK ||
	    (r = attest_json_b64(rec, "reference_pcr_sha256", 24 * 32, &buf, &len)) != ATTEST_OK)
		goto out;
	if (len > ref_cap || mask > 0xffffffu) {
		r = attest_fail(ATTEST_E_STATE, "host record of \"%s\": reference values", host);
		goto out;
	}
	memcpy(ref, buf, len);
	*ref_len = len;
	*ref_mask = (uint32_t)mask;
	r = ATTEST_OK;
out:
	free(buf);
	cJSON_Delete(rec);
	return r;
}

int attest_ca_host_info(struct attest_ca *ca, const char *host, TPM2B_PUBLIC *ak,
			uint32_t *ref_mask, uint8_t *ref, size_t ref_cap, size_t *ref_len)
{
	if (ca == NULL || host == NULL || ak == NULL || ref_mask == NULL || ref == NULL ||
	    ref_len == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "host info: NULL argument");
	RETURN_LOCKED(ca, host_info_locked(ca, host, ak, ref_mask, ref, ref_cap, ref_len));
}

static int reissue_locked(struct attest_ca *ca, const char *host, char **out)
{
	cJSON *rec = NULL;
	TPM2B_PUBLIC key;
	int r;

	if ((r = load_host(ca, host, &rec)) == ATTEST_OK &&
	    (r = attest_json_get_TPM2B_PUBLIC(rec, "key_public", &key)) == ATTEST_OK)
		r = issue_host_cert(ca, host, &key, rec, out);
	cJSON_Delete(rec);
	return r;
}

int attest_ca_host_path(const struct attest_ca *ca, const char *host, char *out, size_t outsz)
{
	if (ca == NULL || host == NULL || !attest_valid_hostname(host))
		return attest_fail(ATTEST_E_INVALID_ARG, "bad host name");
	return ca_path(ca, out, outsz, "hosts", host, ".json");
}

int attest_ca_reissue_host(struct attest_ca *ca, const char *host, char **out)
{
	if (ca == NULL || host == NULL || out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "reissue: NULL argument");
	*out = NULL;
	RETURN_LOCKED(ca, reissue_locked(ca, host, out));
}

int attest_ca_forget_host(struct attest_ca *ca, const char *host)
{
	RETURN_LOCKED(ca, forget_host_locked(ca, host));
}
