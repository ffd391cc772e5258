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
#include <dirent.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "enrol/enrol.h"
#include "core/err.h"
#include "tpm/evidence.h"
#include "core/fileio.h"
#include "core/json.h"
#include "tpm/tpmjson.h"
#include "tpm/tpmsw.h"
#include "x509/crl.h"
#include "x509/x509.h"
#include "x509/x509agent.h"

#define CA_FILE_CAP (64 * 1024)
/* issuing CA certificates in one bundle (the signing one and those it
 * replaced that have not expired yet) */
#define ISSUING_BUNDLE_MAX 8
/* The TPM vendor roots are copied into the CA directory at init, so the CA
 * does not depend on a file elsewhere that may move, change or vanish. */
#define CA_VENDOR_ROOTS "vendor-roots.pem"
#define CA_VENDOR_ROOTS_CAP (1024 * 1024)
/* operator records the signer reads at most per check, host records it
 * pins at most when it seeds its ledger */
#define CA_TOKENS_SCAN_MAX 100000

struct attest_ca {
	char dir[1024];
	char root_path[1100];
	char trust_domain[256];
	char vendor_roots[1100];
	long host_ca_ttl;
	int name_constraints; /* the fleet option (config.json; absent: on) */
	time_t fixed_now;
	/* the issuing CA loaded to sign (attest_ca_sign_host), by serial */
	char issuing_serial[33];
	X509 *issuing;
	EVP_PKEY *issuing_key;
	/* who signs host CA certificates: NULL = attest_ca_sign_host here */
	attest_ca_sign_fn sign;
	void *sign_arg;
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

/* A record written by root (attest-provision token, allow-ek,
 * forget-host) in a directory another user owns: the verifier's serving
 * user owns the record directories once attest-verifier serve has dropped
 * to it (docs/verifier.md "Key custody"), so the new file is that user's
 * too, or the serving process could not read or replace it. The link is
 * not followed. */
static int follow_dir_owner(const char *path)
{
	char dir[1200];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (geteuid() != 0 || slash == NULL || (size_t)(slash - path) >= sizeof(dir))
		return ATTEST_OK;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (stat(dir[0] != '\0' ? dir : "/", &st) != 0 || st.st_uid == 0)
		return ATTEST_OK;
	if (lchown(path, st.st_uid, st.st_gid) != 0)
		return attest_fail(ATTEST_E_IO, "give %s to uid %u: %s", path, (unsigned)st.st_uid,
				   strerror(errno));
	return ATTEST_OK;
}

static int pin_drop(struct attest_ca *ca, const char *host);

static int save_json_as(const char *path, const cJSON *obj, mode_t mode, int exclusive,
			int adopt)
{
	char *s = NULL;
	size_t len;
	int r;

	if ((r = attest_json_print(obj, &s, &len)) != ATTEST_OK)
		return r;
	r = exclusive ? attest_file_create_atomic(path, s, len, mode)
		      : attest_file_write_atomic(path, s, len, mode);
	free(s);
	return r == ATTEST_OK && adopt ? follow_dir_owner(path) : r;
}

static int save_json(const char *path, const cJSON *obj, mode_t mode, int exclusive)
{
	return save_json_as(path, obj, mode, exclusive, 1);
}

/* An operator's authorisation (a join token's record, an allowlist
 * entry): it stays its writer's (root's, for the verifier's signer to tell
 * it from a record the serving process wrote) and is readable (it holds
 * no secret: a token is stored as its hash). */
static int save_operator_json(const char *path, const cJSON *obj, int exclusive)
{
	return save_json_as(path, obj, 0644, exclusive, 0);
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Serial of an issuing CA certificate as 32 lower-case hex digits (our
 * serials are 16 bytes, the first non-zero). */
static int serial_hex(X509 *c, char out[33])
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c), NULL);
	char *h = bn != NULL ? BN_bn2hex(bn) : NULL;
	int r = ATTEST_OK;

	if (h == NULL || strlen(h) != 32) {
		r = attest_fail(ATTEST_E_PARSE, "issuing CA serial is not 16 bytes");
	} else {
		for (size_t i = 0; i < 32; i++)
			out[i] = (char)(h[i] >= 'A' && h[i] <= 'F' ? h[i] - 'A' + 'a' : h[i]);
		out[32] = '\0';
	}
	OPENSSL_free(h);
	BN_free(bn);
	ERR_clear_error();
	return r;
}

/* A new issuing CA signed by (root_key, root): issuing/<serial>.key
 * (0600) and .pem (0644), then issuing/current names it (one rename). */
static int issuing_create(struct attest_ca *ca, EVP_PKEY *root_key, X509 *root, int days,
			  char serial[33])
{
	char path[1200], *pem = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int r;

	if ((r = attest_x509_make_issuing_ca_nc(root_key, root, ca->trust_domain, days,
						ca->name_constraints, &key, &cert)) != ATTEST_OK ||
	    (r = serial_hex(cert, serial)) != ATTEST_OK ||
	    (r = attest_x509_to_pem(cert, &pem)) != ATTEST_OK)
		goto out;
	if ((r = ca_path(ca, path, sizeof(path), "issuing", serial, ".key")) != ATTEST_OK ||
	    (r = attest_pkey_save(path, key)) != ATTEST_OK ||
	    (r = ca_path(ca, path, sizeof(path), "issuing", serial, ".pem")) != ATTEST_OK ||
	    (r = attest_file_create_atomic(path, pem, strlen(pem), 0644)) != ATTEST_OK ||
	    (r = ca_path(ca, path, sizeof(path), "issuing", "current", "")) != ATTEST_OK ||
	    (r = attest_file_write_atomic(path, serial, 32, 0644)) != ATTEST_OK)
		goto out;
	r = ATTEST_OK;
out:
	free(pem);
	EVP_PKEY_free(key);
	X509_free(cert);
	return r;
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
	return attest_ca_init_ex(dir, trust_domain, vendor_roots, host_ca_ttl,
				 ATTEST_ISSUING_CA_DEFAULT_DAYS);
}

int attest_ca_init_ex(const char *dir, const char *trust_domain, const char *vendor_roots,
		      long host_ca_ttl, int issuing_days)
{
	return attest_ca_init_nc(dir, trust_domain, vendor_roots, host_ca_ttl, issuing_days, 1);
}

int attest_ca_init_nc(const char *dir, const char *trust_domain, const char *vendor_roots,
		      long host_ca_ttl, int issuing_days, int name_constraints)
{
	char serial[33];
	struct attest_ca ca = { 0 };
	char path[1200];
	uint8_t *roots = NULL;
	size_t roots_len = 0;
	EVP_PKEY *key = NULL;
	X509 *root = NULL;
	char *pem = NULL;
	cJSON *cfg = NULL;
	static const char *const subdirs[] = { "tokens", "allowlist", "challenges", "eks",
						"names", "hosts", "issuing" };
	int r;

	if (!attest_valid_trust_domain(trust_domain))
		return attest_fail(ATTEST_E_INVALID_ARG,
				   "trust domain \"%s\" is not a valid DNS-style name", trust_domain);
	if (host_ca_ttl <= 0 || host_ca_ttl > ATTEST_HOST_CA_MAX_TTL)
		return attest_fail(ATTEST_E_INVALID_ARG, "host CA TTL must be 1..%d seconds",
				   ATTEST_HOST_CA_MAX_TTL);
	if (issuing_days <= 0 || issuing_days > ATTEST_ISSUING_CA_MAX_DAYS)
		return attest_fail(ATTEST_E_INVALID_ARG, "issuing CA validity must be 1..%d days",
				   ATTEST_ISSUING_CA_MAX_DAYS);
	if (strlen(dir) >= sizeof(ca.dir))
		return attest_fail(ATTEST_E_INVALID_ARG, "path too long");
	snprintf(ca.dir, sizeof(ca.dir), "%s", dir);
	snprintf(ca.trust_domain, sizeof(ca.trust_domain), "%s", trust_domain);
	ca.name_constraints = name_constraints != 0;
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
	/* The online issuing CA: from here on root.key is needed only to
	 * rotate it (attest_ca_issuing_rotate) and may be moved offline. */
	if ((r = issuing_create(&ca, key, root, issuing_days, serial)) != ATTEST_OK)
		goto out;
	/* the root's CRL (root-crl.pem), made again at each rotation */
	if ((r = ca_path(&ca, ca.root_path, sizeof(ca.root_path), "", "root.pem", "")) !=
		    ATTEST_OK ||
	    (r = attest_ca_root_crl(&ca, NULL, issuing_days)) != ATTEST_OK)
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
	    (r = attest_json_add_u64(cfg, "host_ca_ttl", (uint64_t)host_ca_ttl)) != ATTEST_OK ||
	    cJSON_AddBoolToObject(cfg, "name_constraints", ca.name_constraints) == NULL)
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
	{
		/* absent (a CA made before the option): on, as it was */
		const cJSON *nc = cJSON_GetObjectItemCaseSensitive(cfg, "name_constraints");

		if (nc != NULL && !cJSON_IsBool(nc)) {
			r = attest_fail(ATTEST_E_PARSE, "config name_constraints must be true or false");
			goto out;
		}
		ca->name_constraints = nc == NULL || cJSON_IsTrue(nc);
	}
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

void attest_ca_close(struct attest_ca *ca)
{
	if (ca == NULL)
		return;
	X509_free(ca->issuing);
	EVP_PKEY_free(ca->issuing_key);
	free(ca);
}

void attest_ca_set_signer(struct attest_ca *ca, attest_ca_sign_fn fn, void *arg)
{
	ca->sign = fn;
	ca->sign_arg = arg;
}

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
	    (r = save_operator_json(path, rec, 1)) != ATTEST_OK)
		goto out;
	/* the operator authorises (re-)enrolment: a new host key may be
	 * signed for this host (the signer's ledger) */
	if ((r = pin_drop(ca, host)) != ATTEST_OK)
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
		r = save_operator_json(path, rec, 0);
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

	if ((r = ca_path(ca, path, sizeof(path), sub, name, ext)) != ATTEST_OK ||
	    (r = attest_file_create_atomic(path, content, strlen(content), 0600)) != ATTEST_OK)
		return r;
	return follow_dir_owner(path);
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

/* ---- the issuing CA ---- */

/* issuing/current: the serial of the issuing CA that signs. */
static int issuing_current(struct attest_ca *ca, char serial[33])
{
	char buf[64];
	int r;

	if ((r = read_binding(ca, "issuing", "current", buf, sizeof(buf))) != ATTEST_OK)
		return r;
	if (buf[0] == '\0')
		return attest_fail(ATTEST_E_STATE, "%s/issuing/current missing: the CA has no issuing "
				   "CA (attest-provision issuing-ca rotate)", ca->dir);
	if (!is_hex(buf, 32))
		return attest_fail(ATTEST_E_PARSE, "%s/issuing/current is not a 32-digit serial", ca->dir);
	memcpy(serial, buf, 33);
	return ATTEST_OK;
}

/* The issuing CA certificate with this serial, refused when its name or
 * its file's name do not match. */
static int issuing_cert(struct attest_ca *ca, const char *serial, X509 **out)
{
	char path[1200], got[33];
	int r;

	*out = NULL;
	if ((r = ca_path(ca, path, sizeof(path), "issuing", serial, ".pem")) != ATTEST_OK ||
	    (r = attest_x509_load(path, out)) != ATTEST_OK)
		return r;
	if ((r = serial_hex(*out, got)) != ATTEST_OK || strcmp(got, serial) != 0) {
		X509_free(*out);
		*out = NULL;
		return r != ATTEST_OK ? r : attest_fail(ATTEST_E_STATE, "%s holds another serial", path);
	}
	return ATTEST_OK;
}

/* Load the current issuing CA and its key into ca (kept until the current
 * one changes: a rotation is picked up by the next signature). */
static int issuing_load(struct attest_ca *ca)
{
	char serial[33], path[1200];
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	int r;

	if ((r = issuing_current(ca, serial)) != ATTEST_OK)
		return r;
	if (ca->issuing != NULL && strcmp(serial, ca->issuing_serial) == 0)
		return ATTEST_OK;
	if ((r = issuing_cert(ca, serial, &cert)) != ATTEST_OK ||
	    (r = ca_path(ca, path, sizeof(path), "issuing", serial, ".key")) != ATTEST_OK ||
	    (r = attest_pkey_load(path, &key)) != ATTEST_OK)
		goto out;
	if (X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		r = attest_fail(ATTEST_E_STATE, "issuing CA %s: key and certificate differ", serial);
		goto out;
	}
	X509_free(ca->issuing);
	EVP_PKEY_free(ca->issuing_key);
	ca->issuing = cert;
	ca->issuing_key = key;
	cert = NULL; /* transferred */
	key = NULL;
	memcpy(ca->issuing_serial, serial, 33);
	r = ATTEST_OK;
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	return r;
}

int attest_ca_load_issuing(struct attest_ca *ca)
{
	if (ca == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "CA: NULL");
	return issuing_load(ca);
}

int attest_ca_issuing_certs(struct attest_ca *ca, STACK_OF(X509) **out)
{
	STACK_OF(X509) *sk = NULL;
	char serial[33], path[1200];
	X509 *c = NULL;
	DIR *dir = NULL;
	struct dirent *de;
	time_t now = ca_now(ca);
	int r;

	*out = NULL;
	if ((r = issuing_current(ca, serial)) != ATTEST_OK ||
	    (r = issuing_cert(ca, serial, &c)) != ATTEST_OK)
		return r;
	if ((sk = sk_X509_new_null()) == NULL || !sk_X509_push(sk, c)) {
		r = attest_fail(ATTEST_E_NOMEM, "issuing CAs");
		goto out;
	}
	c = NULL; /* transferred */
	if ((r = ca_path(ca, path, sizeof(path), "issuing", "", "")) != ATTEST_OK)
		goto out;
	if ((dir = opendir(path)) == NULL) {
		r = attest_fail(ATTEST_E_IO, "open %s: %s", path, strerror(errno));
		goto out;
	}
	/* the ones rotation replaced, while they may still have issued host
	 * CA certificates that are valid */
	while ((de = readdir(dir)) != NULL && sk_X509_num(sk) < ISSUING_BUNDLE_MAX) {
		char name[33];

		if (strlen(de->d_name) != 36 || strcmp(de->d_name + 32, ".pem") != 0)
			continue;
		memcpy(name, de->d_name, 32);
		name[32] = '\0';
		if (!is_hex(name, 32) || strcmp(name, serial) == 0)
			continue;
		if ((r = issuing_cert(ca, name, &c)) != ATTEST_OK)
			goto out;
		if (X509_cmp_time(X509_get0_notAfter(c), &now) <= 0) {
			X509_free(c);
			c = NULL;
			continue;
		}
		if (!sk_X509_push(sk, c)) {
			r = attest_fail(ATTEST_E_NOMEM, "issuing CAs");
			goto out;
		}
		c = NULL;
	}
	*out = sk;
	sk = NULL; /* transferred */
	r = ATTEST_OK;
out:
	if (dir != NULL)
		closedir(dir);
	X509_free(c);
	sk_X509_pop_free(sk, X509_free);
	return r;
}

/* 1 when the two public areas name the same TPM object (name = hash of
 * the whole public area: type, attributes, policy and key). */
static int same_public(const TPM2B_PUBLIC *a, const TPM2B_PUBLIC *b)
{
	TPM2B_NAME na, nb;

	if (attest_tpm_name(a, &na) != ATTEST_OK || attest_tpm_name(b, &nb) != ATTEST_OK)
		return 0;
	return na.size == nb.size && CRYPTO_memcmp(na.name, nb.name, na.size) == 0;
}

int attest_ca_sign_host(struct attest_ca *ca, const char *host, const TPM2B_PUBLIC *key,
			X509 **out)
{
	cJSON *rec = NULL;
	TPM2B_PUBLIC recorded;
	EVP_PKEY *host_key = NULL;
	const char *ek_hash;
	char bound[128];
	time_t now;
	int r;

	if (out == NULL || ca == NULL || host == NULL || key == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "sign host CA: NULL argument");
	*out = NULL;
	now = ca_now(ca);
	/* What the key holder checks itself, whoever asks: the host is
	 * enrolled, its record names this key and its EK binding both ways. */
	if ((r = load_host(ca, host, &rec)) != ATTEST_OK)
		goto out;
	if ((r = attest_json_get_TPM2B_PUBLIC(rec, "key_public", &recorded)) != ATTEST_OK ||
	    (r = attest_json_str(rec, "ek_hash", 64, &ek_hash)) != ATTEST_OK)
		goto out;
	if (!same_public(&recorded, key)) {
		r = attest_fail(ATTEST_E_STATE, "host \"%s\" is enrolled with another host key", host);
		goto out;
	}
	if ((r = read_binding(ca, "names", host, bound, sizeof(bound))) != ATTEST_OK)
		goto out;
	if (strcmp(bound, ek_hash) != 0) {
		r = attest_fail(ATTEST_E_STATE, "names/%s does not bind the host's EK", host);
		goto out;
	}
	if ((r = read_binding(ca, "eks", ek_hash, bound, sizeof(bound))) != ATTEST_OK)
		goto out;
	if (strcmp(bound, host) != 0) {
		r = attest_fail(ATTEST_E_STATE, "the EK of \"%s\" is not bound to it", host);
		goto out;
	}
	if ((r = issuing_load(ca)) != ATTEST_OK)
		goto out;
	if (X509_cmp_time(X509_get0_notAfter(ca->issuing), &now) <= 0) {
		r = attest_fail(ATTEST_E_STATE, "issuing CA %s expired (attest-provision issuing-ca "
				"rotate)", ca->issuing_serial);
		goto out;
	}
	if ((r = attest_tpm_pub_to_pkey(key, &host_key)) != ATTEST_OK ||
	    (r = attest_x509_make_host_ca(ca->issuing_key, ca->issuing, ca->trust_domain, host,
					  host_key, ca->host_ca_ttl, out)) != ATTEST_OK)
		goto out;
	r = ATTEST_OK;
out:
	EVP_PKEY_free(host_key);
	cJSON_Delete(rec);
	return r;
}

/* ---- the signer's ledger: signed/<host> ----
 *
 * The TPM name (hex) of the host key the verifier's signer last signed a
 * host CA certificate for. The directory is root's (0700) while the
 * serving process that writes the enrolment records runs as its own user
 * (docs/verifier.md "Key custody"), so records it forged cannot move a
 * host the signer already signed for to another key. An operator's join
 * token for the host (attest_ca_token_issue) or forget-host releases the
 * entry: the next signature for that host pins its key afresh. */

static int pin_read(struct attest_ca *ca, const char *host, char hex[2 * sizeof(TPMU_NAME) + 1])
{
	char buf[2 * sizeof(TPMU_NAME) + 8];
	int r;

	hex[0] = '\0';
	if ((r = read_binding(ca, "signed", host, buf, sizeof(buf))) != ATTEST_OK)
		return r;
	buf[strcspn(buf, "\n")] = '\0';
	if (buf[0] != '\0' && !is_hex(buf, strlen(buf)))
		return attest_fail(ATTEST_E_STATE, "signed/%s is corrupt", host);
	memcpy(hex, buf, strlen(buf) + 1);
	return ATTEST_OK;
}

static int name_hex(const TPM2B_PUBLIC *key, char hex[2 * sizeof(TPMU_NAME) + 1])
{
	TPM2B_NAME n;
	int r;

	if ((r = attest_tpm_name(key, &n)) != ATTEST_OK)
		return r;
	attest_hex(n.name, n.size, hex);
	return ATTEST_OK;
}

/* An operator's record: a regular file (no link followed) written by
 * this process's user (root for the verifier's signer: the serving
 * process, another user, cannot have made it), parsed. ATTEST_E_NOT_FOUND
 * when absent or someone else's. */
static int load_operator_json(int dirfd, const char *name, cJSON **out)
{
	uint8_t buf[4096];
	struct stat st;
	ssize_t n;
	int fd, r;

	*out = NULL;
	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0)
		return attest_fail(ATTEST_E_NOT_FOUND, "no %s", name);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_size <= 0 || (size_t)st.st_size >= sizeof(buf)) {
		close(fd);
		return attest_fail(ATTEST_E_NOT_FOUND, "%s is no operator's record", name);
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n != (ssize_t)st.st_size)
		return attest_fail(ATTEST_E_IO, "read %s", name);
	r = attest_json_parse(buf, (size_t)n, sizeof(buf), out);
	return r;
}

/* 1 when an operator authorised host to enrol: an allowlist entry for the
 * EK its record names, or a join token for it that has not expired. Only
 * records this process's user wrote count (load_operator_json). */
static int operator_authorised(struct attest_ca *ca, const char *host, const char *ek_hash)
{
	char path[1200], name[80];
	const char *bound;
	struct dirent *e;
	uint64_t expires;
	cJSON *rec = NULL;
	DIR *d = NULL;
	int fd, ok = 0, seen = 0;

	if (is_hex(ek_hash, 64) && ca_path(ca, path, sizeof(path), "", "allowlist", "") == ATTEST_OK &&
	    (fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) >= 0) {
		(void)snprintf(name, sizeof(name), "%s.json", ek_hash);
		if (load_operator_json(fd, name, &rec) == ATTEST_OK &&
		    attest_json_str(rec, "host", ATTEST_MAX_NAME, &bound) == ATTEST_OK &&
		    strcmp(bound, host) == 0)
			ok = 1;
		cJSON_Delete(rec);
		rec = NULL;
		close(fd);
	}
	if (ok || ca_path(ca, path, sizeof(path), "", "tokens", "") != ATTEST_OK ||
	    (fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return ok;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return 0;
	}
	while (!ok && (e = readdir(d)) != NULL && seen++ < CA_TOKENS_SCAN_MAX) {
		if (strlen(e->d_name) != 69 || strcmp(e->d_name + 64, ".json") != 0)
			continue;
		if (load_operator_json(dirfd(d), e->d_name, &rec) == ATTEST_OK &&
		    attest_json_str(rec, "host", ATTEST_MAX_NAME, &bound) == ATTEST_OK &&
		    strcmp(bound, host) == 0 && attest_json_u64(rec, "expires", &expires) == ATTEST_OK &&
		    (uint64_t)ca_now(ca) < expires)
			ok = 1;
		cJSON_Delete(rec);
		rec = NULL;
	}
	closedir(d);
	attest_errclear();
	return ok;
}

int attest_ca_pin_check(struct attest_ca *ca, const char *host, const TPM2B_PUBLIC *key)
{
	char pinned[2 * sizeof(TPMU_NAME) + 1], want[2 * sizeof(TPMU_NAME) + 1];
	const char *ek_hash;
	cJSON *rec = NULL;
	int r;

	if (ca == NULL || host == NULL || key == NULL || !attest_valid_hostname(host))
		return attest_fail(ATTEST_E_INVALID_ARG, "pin check: bad argument");
	if ((r = pin_read(ca, host, pinned)) != ATTEST_OK || (r = name_hex(key, want)) != ATTEST_OK)
		return r;
	if (pinned[0] != '\0') {
		if (strlen(pinned) != strlen(want) || CRYPTO_memcmp(pinned, want, strlen(want)) != 0)
			return attest_fail(ATTEST_E_STATE,
					   "host \"%s\" was signed for another host key: a new key "
					   "needs the operator first (attest-provision token --host "
					   "%s, or forget-host)", host, host);
		return ATTEST_OK;
	}
	/* a first signature for this name: an operator must have let it in */
	if ((r = load_host(ca, host, &rec)) != ATTEST_OK)
		return r;
	if ((r = attest_json_str(rec, "ek_hash", 64, &ek_hash)) == ATTEST_OK &&
	    !operator_authorised(ca, host, ek_hash))
		r = attest_fail(ATTEST_E_STATE,
				"no operator authorised host \"%s\" (a join token of theirs that has "
				"not expired, or an allowlist entry for its EK)", host);
	cJSON_Delete(rec);
	return r;
}

int attest_ca_pin_seed(struct attest_ca *ca)
{
	char dir[1200], tmp[1200], path[1600], hex[2 * sizeof(TPMU_NAME) + 2];
	struct dirent *e;
	struct stat st;
	DIR *d = NULL;
	int r = ATTEST_OK, n = 0;

	if ((r = ca_path(ca, dir, sizeof(dir), "", "signed", "")) != ATTEST_OK ||
	    (r = ca_path(ca, tmp, sizeof(tmp), "", "signed.seed", "")) != ATTEST_OK)
		return r;
	if (lstat(dir, &st) == 0)
		return S_ISDIR(st.st_mode) ? ATTEST_OK
					   : attest_fail(ATTEST_E_STATE, "%s is not a directory", dir);
	/* a seed a crash interrupted starts over */
	if (lstat(tmp, &st) == 0 && S_ISDIR(st.st_mode) &&
	    (d = opendir(tmp)) != NULL) {
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.' &&
			    snprintf(path, sizeof(path), "%s/%s", tmp, e->d_name) < (int)sizeof(path))
				(void)unlink(path);
		closedir(d);
		d = NULL;
		(void)rmdir(tmp);
	}
	if ((r = attest_dir_ensure(tmp, 0700)) != ATTEST_OK ||
	    (r = ca_path(ca, path, sizeof(path), "", "hosts", "")) != ATTEST_OK)
		return r;
	if ((d = opendir(path)) != NULL) {
		while (r == ATTEST_OK && (e = readdir(d)) != NULL && n < CA_TOKENS_SCAN_MAX) {
			size_t len = strlen(e->d_name);
			char host[ATTEST_MAX_NAME + 1];
			cJSON *rec = NULL;
			TPM2B_PUBLIC key;

			if (len <= 5 || len - 5 > ATTEST_MAX_NAME || strcmp(e->d_name + len - 5, ".json") != 0)
				continue;
			memcpy(host, e->d_name, len - 5);
			host[len - 5] = '\0';
			if (!attest_valid_hostname(host) || load_host(ca, host, &rec) != ATTEST_OK ||
			    attest_json_get_TPM2B_PUBLIC(rec, "key_public", &key) != ATTEST_OK ||
			    name_hex(&key, hex) != ATTEST_OK) {
				cJSON_Delete(rec);
				attest_errclear();
				continue; /* not a record this CA wrote: not pinned */
			}
			cJSON_Delete(rec);
			len = strlen(hex);
			hex[len++] = '\n';
			(void)snprintf(path, sizeof(path), "%s/%s", tmp, host);
			r = attest_file_write_atomic(path, hex, len, 0600);
			n++;
		}
		closedir(d);
	}
	if (r != ATTEST_OK)
		return r;
	if (rename(tmp, dir) != 0)
		return attest_fail(ATTEST_E_IO, "rename %s: %s", tmp, strerror(errno));
	return attest_dir_sync(dir);
}

int attest_ca_pin_record(struct attest_ca *ca, const char *host, const TPM2B_PUBLIC *key)
{
	char hex[2 * sizeof(TPMU_NAME) + 2], path[1200];
	size_t n;
	int r;

	if (ca == NULL || host == NULL || key == NULL || !attest_valid_hostname(host))
		return attest_fail(ATTEST_E_INVALID_ARG, "pin record: bad argument");
	if ((r = name_hex(key, hex)) != ATTEST_OK ||
	    (r = ca_path(ca, path, sizeof(path), "", "signed", "")) != ATTEST_OK ||
	    (r = attest_dir_ensure(path, 0700)) != ATTEST_OK ||
	    (r = ca_path(ca, path, sizeof(path), "signed", host, "")) != ATTEST_OK)
		return r;
	n = strlen(hex);
	hex[n++] = '\n';
	return attest_file_write_atomic(path, hex, n, 0600);
}

/* An operator released host: its next signature pins its key afresh. */
static int pin_drop(struct attest_ca *ca, const char *host)
{
	char path[1200];
	int r;

	if ((r = ca_path(ca, path, sizeof(path), "signed", host, "")) != ATTEST_OK)
		return r;
	if (unlink(path) != 0) {
		if (errno == ENOENT)
			return ATTEST_OK; /* never signed, or a CA without a ledger */
		return attest_fail(ATTEST_E_IO, "remove %s: %s", path, strerror(errno));
	}
	return attest_dir_sync(path);
}

/* The issuing CA bundle as PEM, the issuer of cert first. */
static int issuing_bundle_pem(struct attest_ca *ca, X509 *cert, char **out)
{
	STACK_OF(X509) *sk = NULL;
	BIO *b = NULL;
	int first = -1, r;

	*out = NULL;
	if ((r = attest_ca_issuing_certs(ca, &sk)) != ATTEST_OK)
		return r;
	for (int i = 0; i < sk_X509_num(sk) && first < 0; i++)
		if (X509_check_issued(sk_X509_value(sk, i), cert) == X509_V_OK &&
		    X509_verify(cert, X509_get0_pubkey(sk_X509_value(sk, i))) == 1)
			first = i;
	ERR_clear_error();
	if (first < 0) {
		r = attest_fail(ATTEST_E_STATE, "the host CA certificate's issuer is not an issuing "
				"CA of %s", ca->dir);
		goto out;
	}
	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509(b, sk_X509_value(sk, first)) != 1) {
		r = attest_fail_ossl(ATTEST_E_CRYPTO, "issuing CA bundle");
		goto out;
	}
	for (int i = 0; i < sk_X509_num(sk); i++)
		if (i != first && PEM_write_bio_X509(b, sk_X509_value(sk, i)) != 1) {
			r = attest_fail_ossl(ATTEST_E_CRYPTO, "issuing CA bundle");
			goto out;
		}
	{
		char *data;
		long n = BIO_get_mem_data(b, &data);

		if (n <= 0 || (*out = strndup(data, (size_t)n)) == NULL) {
			r = attest_fail(ATTEST_E_NOMEM, "issuing CA bundle");
			goto out;
		}
	}
	r = ATTEST_OK;
out:
	BIO_free(b);
	sk_X509_pop_free(sk, X509_free);
	return r;
}

/* Record the host (hosts/<host>.json, crash-safely: the signer checks the
 * key against it), have its host CA certificate signed by the issuing CA
 * (the signer process when one is set), record the certificate and build
 * the enrol-result: host CA, issuing CA bundle (its issuer first), root. */
static int issue_host_cert(struct attest_ca *ca, const char *host, const TPM2B_PUBLIC *key,
			   cJSON *hostrec, char **out)
{
	char path[1200], *cert_pem = NULL, *root_pem = NULL, *issuing_pem = NULL;
	X509 *root = NULL, *cert = NULL;
	cJSON *res = NULL;
	int r;

	*out = NULL;
	if ((r = ca_path(ca, path, sizeof(path), "hosts", host, ".json")) != ATTEST_OK ||
	    (r = save_json(path, hostrec, 0600, 0)) != ATTEST_OK)
		goto out;
	r = ca->sign != NULL ? ca->sign(ca->sign_arg, host, key, &cert)
			     : attest_ca_sign_host(ca, host, key, &cert);
	if (r != ATTEST_OK)
		goto out;
	if ((r = attest_x509_load(ca->root_path, &root)) != ATTEST_OK ||
	    (r = attest_x509_to_pem(cert, &cert_pem)) != ATTEST_OK ||
	    (r = attest_x509_to_pem(root, &root_pem)) != ATTEST_OK ||
	    (r = issuing_bundle_pem(ca, cert, &issuing_pem)) != ATTEST_OK)
		goto out;
	cJSON_DeleteItemFromObjectCaseSensitive(hostrec, "host_ca_pem");
	cJSON_DeleteItemFromObjectCaseSensitive(hostrec, "issued");
	if ((r = attest_json_add_str(hostrec, "host_ca_pem", cert_pem)) != ATTEST_OK ||
	    (r = attest_json_add_u64(hostrec, "issued", (uint64_t)ca_now(ca))) != ATTEST_OK ||
	    (r = save_json(path, hostrec, 0600, 0)) != ATTEST_OK)
		goto out;
	if ((r = new_record(&res)) != ATTEST_OK)
		goto out;
	if ((r = attest_json_add_str(res, "type", "enrol-result")) != ATTEST_OK ||
	    (r = attest_json_add_str(res, "version", "1")) != ATTEST_OK ||
	    (r = attest_json_add_str(res, "host", host)) != ATTEST_OK ||
	    (r = attest_json_add_str(res, "trust_domain", ca->trust_domain)) != ATTEST_OK ||
	    (r = attest_json_add_str(res, "host_ca_cert", cert_pem)) != ATTEST_OK ||
	    (r = attest_json_add_str(res, "issuing_ca_cert", issuing_pem)) != ATTEST_OK ||
	    (r = attest_json_add_str(res, "root_cert", root_pem)) != ATTEST_OK)
		goto out;
	r = attest_json_print(res, out, NULL);
out:
	free(cert_pem);
	free(root_pem);
	free(issuing_pem);
	X509_free(root);
	X509_free(cert);
	cJSON_Delete(res);
	return r;
}

static int rotate_locked(struct attest_ca *ca, const char *root_key_path, int days,
			 char serial[33])
{
	char path[1200];
	EVP_PKEY *root_key = NULL;
	X509 *root = NULL;
	int r;

	if (root_key_path == NULL) {
		if ((r = ca_path(ca, path, sizeof(path), "", "root.key", "")) != ATTEST_OK)
			return r;
		root_key_path = path;
	}
	if ((r = attest_pkey_load(root_key_path, &root_key)) != ATTEST_OK) {
		if (r == ATTEST_E_NOT_FOUND)
			r = attest_fail(ATTEST_E_NOT_FOUND, "%s: rotating the issuing CA needs the "
					"offline fleet root key (--root-key FILE)", root_key_path);
		goto out;
	}
	if ((r = attest_x509_load(ca->root_path, &root)) != ATTEST_OK ||
	    (r = issuing_create(ca, root_key, root, days, serial)) != ATTEST_OK ||
	    (r = attest_ca_root_crl(ca, root_key_path, days)) != ATTEST_OK)
		goto out;
	r = ATTEST_OK;
out:
	EVP_PKEY_free(root_key);
	X509_free(root);
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
	return pin_drop(ca, host);
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

int attest_ca_issuing_rotate(struct attest_ca *ca, const char *root_key_path, int days,
			     char serial[33])
{
	if (ca == NULL || serial == NULL || days <= 0 || days > ATTEST_ISSUING_CA_MAX_DAYS)
		return attest_fail(ATTEST_E_INVALID_ARG, "issuing CA validity must be 1..%d days",
				   ATTEST_ISSUING_CA_MAX_DAYS);
	RETURN_LOCKED(ca, rotate_locked(ca, root_key_path, days, serial));
}

/* ---- CRLs (issue 15 item 5, docs/relying-parties.md) ---- */

int attest_ca_issuing_crl(struct attest_ca *ca, const char *const *hosts, size_t n, long ttl,
			  X509_CRL **out)
{
	ASN1_INTEGER **serials = NULL;
	struct attest_signer s;
	size_t ns = 0;
	time_t now;
	int r;

	*out = NULL;
	if (n > ATTEST_CA_CRL_HOSTS_MAX)
		return attest_fail(ATTEST_E_TOO_LARGE, "issuing CA CRL: %zu revoked hosts (at most %d)",
				   n, ATTEST_CA_CRL_HOSTS_MAX);
	if (ttl < 60 || ttl > ATTEST_CA_CRL_TTL_MAX)
		return attest_fail(ATTEST_E_INVALID_ARG, "issuing CA CRL validity %ld s", ttl);
	if ((r = issuing_load(ca)) != ATTEST_OK || (r = attest_signer_from_pkey(ca->issuing_key, &s)) !=
	    ATTEST_OK)
		return r;
	if ((serials = calloc(n + 1, sizeof(*serials))) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "issuing CA CRL");
	for (size_t i = 0; i < n; i++) {
		cJSON *rec = NULL;
		const cJSON *pem;
		X509 *c = NULL;

		/* the host CA certificate last issued to the host, as its
		 * record holds it; a host never issued one has nothing to list */
		if ((r = load_host(ca, hosts[i], &rec)) != ATTEST_OK) {
			if (r == ATTEST_E_NOT_FOUND)
				continue;
			goto out;
		}
		pem = cJSON_GetObjectItemCaseSensitive(rec, "host_ca_pem");
		if (cJSON_IsString(pem) &&
		    attest_x509_from_pem(pem->valuestring, strlen(pem->valuestring), &c) == ATTEST_OK &&
		    X509_check_issued(ca->issuing, c) == X509_V_OK &&
		    (serials[ns] = ASN1_INTEGER_dup(X509_get0_serialNumber(c))) != NULL)
			ns++;
		attest_errclear();
		X509_free(c);
		cJSON_Delete(rec);
	}
	now = ca_now(ca);
	r = attest_crl_make(ca->issuing, (const ASN1_INTEGER *const *)serials, ns, now - 60, now + ttl,
			    (uint64_t)now, &s, out);
out:
	for (size_t i = 0; i < ns; i++)
		ASN1_INTEGER_free(serials[i]);
	free(serials);
	return r;
}

int attest_ca_root_crl(struct attest_ca *ca, const char *root_key_path, int days)
{
	char path[1200], *pem = NULL;
	STACK_OF(X509_CRL) *sk = NULL;
	EVP_PKEY *root_key = NULL;
	X509_CRL *crl = NULL;
	X509 *root = NULL;
	struct attest_signer s;
	size_t len = 0;
	time_t now = ca_now(ca);
	int r;

	if (days < 1 || days > ATTEST_ISSUING_CA_MAX_DAYS)
		return attest_fail(ATTEST_E_INVALID_ARG, "root CRL validity must be 1..%d days",
				   ATTEST_ISSUING_CA_MAX_DAYS);
	if (root_key_path == NULL) {
		if ((r = ca_path(ca, path, sizeof(path), "", "root.key", "")) != ATTEST_OK)
			return r;
		root_key_path = path;
	}
	if ((r = attest_pkey_load(root_key_path, &root_key)) != ATTEST_OK) {
		if (r == ATTEST_E_NOT_FOUND)
			r = attest_fail(ATTEST_E_NOT_FOUND, "%s: the root's CRL needs the offline fleet "
					"root key (--root-key FILE)", root_key_path);
		goto out;
	}
	if ((r = attest_x509_load(ca->root_path, &root)) != ATTEST_OK ||
	    (r = attest_signer_from_pkey(root_key, &s)) != ATTEST_OK)
		goto out;
	/* empty: the root revokes an issuing CA by rotating it and letting the
	 * old one's certificates expire (docs/relying-parties.md) */
	if ((r = attest_crl_make(root, NULL, 0, now - 60, now + (time_t)days * 86400, (uint64_t)now,
				 &s, &crl)) != ATTEST_OK)
		goto out;
	if ((sk = sk_X509_CRL_new_null()) == NULL || !sk_X509_CRL_push(sk, crl)) {
		r = attest_fail(ATTEST_E_NOMEM, "root CRL");
		goto out;
	}
	crl = NULL; /* transferred */
	if ((r = attest_crl_bundle_pem(sk, &pem, &len)) != ATTEST_OK ||
	    (r = ca_path(ca, path, sizeof(path), "", "root-crl.pem", "")) != ATTEST_OK ||
	    (r = attest_file_write_atomic(path, pem, len, 0644)) != ATTEST_OK)
		goto out;
	r = ATTEST_OK;
out:
	free(pem);
	sk_X509_CRL_pop_free(sk, X509_CRL_free);
	X509_CRL_free(crl);
	X509_free(root);
	EVP_PKEY_free(root_key);
	return r;
}
