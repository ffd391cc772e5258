/* federation.c - federated trust domains: the list on the channel and on
 * disk (federation.h); the checks and the bundle parser are libattest's
 * (x509/spiffebundle.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "federation.h"


/* ---------- the list on the channel ---------- */

void fed_list_put(struct mon_out *m, const struct fed_list *l)
{
	mon_put_u32(m, l->n);
	for (uint32_t i = 0; i < l->n; i++) {
		mon_put_str(m, l->e[i].td);
		mon_put_str(m, l->e[i].url);
		mon_put_bytes(m, l->e[i].ca, l->e[i].ca_len);
	}
}

int fed_list_get(struct attest_cur *c, struct fed_list *l)
{
	uint32_t n;

	memset(l, 0, sizeof(*l));
	if (!mon_get_u32(c, &n) || n > FED_MAX)
		return attest_fail(ATTEST_E_PARSE, "federation list malformed");
	for (uint32_t i = 0; i < n; i++) {
		struct fed_conf *e = &l->e[i];
		const uint8_t *p;
		size_t len;

		if (!mon_get_str(c, e->td, sizeof(e->td)) || !mon_get_str(c, e->url, sizeof(e->url)) ||
		    !mon_get_bytes(c, FED_CA_MAX, &p, &len) || len == 0 ||
		    (e->ca = malloc(len)) == NULL) {
			fed_list_clear(l);
			return attest_fail(ATTEST_E_PARSE, "federation entry malformed");
		}
		memcpy(e->ca, p, len);
		e->ca_len = len;
		l->n = i + 1;
	}
	return ATTEST_OK;
}

/* ---------- the list on disk ---------- */

static int file_path(const char *state_dir, char *out, size_t outsz)
{
	if ((size_t)snprintf(out, outsz, "%s/" FED_FILE, state_dir) >= outsz)
		return attest_fail(ATTEST_E_INVALID_ARG, "state path too long");
	return ATTEST_OK;
}

int fed_list_load(const char *state_dir, struct fed_list *l)
{
	char path[600];
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	memset(l, 0, sizeof(*l));
	if ((r = file_path(state_dir, path, sizeof(path))) != ATTEST_OK)
		return r;
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return ATTEST_OK; /* none yet */
	if ((r = attest_file_read(path, FED_MAX * (FED_CA_MAX + 2048), &buf, &len)) != ATTEST_OK)
		return r;
	r = fed_list_parse((const char *)buf, len, path, l);
	free(buf);
	return r;
}

int fed_list_save(const char *state_dir, const struct fed_list *l)
{
	char path[600], *text = NULL;
	size_t len = 0;
	cJSON *root = cJSON_CreateObject(), *arr;
	int r = ATTEST_OK;

	if (root == NULL || (arr = cJSON_AddArrayToObject(root, "federations")) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "federation");
		goto out;
	}
	for (uint32_t i = 0; i < l->n; i++) {
		cJSON *o = cJSON_CreateObject();
		char *ca = strndup((const char *)l->e[i].ca, l->e[i].ca_len);

		if (o != NULL && !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			o = NULL;
		}
		if (o == NULL || ca == NULL ||
		    cJSON_AddStringToObject(o, "trust_domain", l->e[i].td) == NULL ||
		    cJSON_AddStringToObject(o, "bundle_url", l->e[i].url) == NULL ||
		    cJSON_AddStringToObject(o, "ca_pem", ca) == NULL) {
			free(ca);
			r = attest_fail(ATTEST_E_NOMEM, "federation");
			goto out;
		}
		free(ca);
	}
	if ((r = file_path(state_dir, path, sizeof(path))) == ATTEST_OK &&
	    (r = attest_json_print(root, &text, &len)) == ATTEST_OK)
		r = attest_file_write_atomic(path, text, len, 0600);
out:
	free(text);
	cJSON_Delete(root);
	return r;
}
