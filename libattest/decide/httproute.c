/* httproute.c - the policy's "http_routes": an HTTP method, host and path
 * as a proxy saw them, mapped to the action, resource and context that
 * attest_decide decides on (docs/policy.md "HTTP routes"). Loaded strictly
 * with the rest of the policy; matching allocates nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "attest/policy.h"
#include "core/err.h"
#include "decide/httproute.h"

#define METHOD_MAX 16      /* bytes of a method name */
#define ACTION_MAX 64
#define PREFIX_MAX 256
#define RES_PREFIX_MAX 128
#define HOST_MAX 253

struct http_method {
	char name[METHOD_MAX + 1];
	char action[ACTION_MAX + 1];
};

struct http_route {
	char name[ATTEST_POLICY_NAME_MAX + 1];
	char prefix[PREFIX_MAX + 1];
	char res_prefix[RES_PREFIX_MAX + 1];
	char (*hosts)[HOST_MAX + 1];
	size_t nhosts;
	struct http_method methods[ATTEST_HTTP_METHODS_MAX];
	size_t nmethods;
	char ctx[ATTEST_HTTP_CTX_MAX][ATTEST_HTTP_CTX_KEY_MAX + 1];
	size_t nctx;
};

struct attest_http_routes {
	struct http_route *r;
	size_t n;
};

void attest_http_routes_free(struct attest_http_routes *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n; i++)
		free(h->r[i].hosts);
	free(h->r);
	free(h);
}

static int bad(size_t idx, const char *field, const char *what)
{
	return attest_fail(ATTEST_E_POLICY, "http_routes %zu: field \"%s\": %s", idx, field, what);
}

/* Printable ASCII without space, '*', '%', '?' or '#'. */
static int plain(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c > 0x7e || c == '*' || c == '%' || c == '?' || c == '#')
			return 0;
	}
	return 1;
}

/* '/'-separated segments, none empty, "." or "..". */
static int canonical(const char *s, size_t n)
{
	size_t start = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '/')
			continue;
		size_t len = i - start;
		if (len == 0 || (len == 1 && s[start] == '.') ||
		    (len == 2 && s[start] == '.' && s[start + 1] == '.'))
			return 0;
		start = i + 1;
	}
	return 1;
}

static int name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static const char *str_of(const cJSON *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static int get_route(const cJSON *o, size_t idx, struct http_route *rt,
		     const struct http_route *prev)
{
	static const char *const keys[] = { "name", "description", "hosts", "prefix", "methods",
					    "resource_prefix", "context_from_path", NULL };
	const char *name = str_of(o, "name"), *prefix = str_of(o, "prefix"),
		   *rp = str_of(o, "resource_prefix");
	const cJSON *it, *hosts, *methods, *ctx, *desc;
	size_t n;

	if (!cJSON_IsObject(o))
		return bad(idx, "http_routes", "not an object");
	for (it = o->child; it != NULL; it = it->next) {
		const char *const *k;

		for (k = keys; *k != NULL && strcmp(*k, it->string) != 0; k++)
			;
		if (*k == NULL)
			return attest_fail(ATTEST_E_POLICY, "http_routes %zu: unknown field \"%.64s\"",
					   idx, it->string);
	}
	if (name == NULL || !name_ok(name, ATTEST_POLICY_NAME_MAX))
		return bad(idx, "name", "missing, or not 1..63 of A-Z a-z 0-9 . _ -");
	for (size_t i = 0; i < idx; i++)
		if (strcmp(prev[i].name, name) == 0)
			return bad(idx, "name", "another route has the same name");
	memcpy(rt->name, name, strlen(name) + 1);
	desc = cJSON_GetObjectItemCaseSensitive(o, "description");
	if (desc != NULL && (!cJSON_IsString(desc) || strlen(desc->valuestring) > 1024))
		return bad(idx, "description", "must be a string of at most 1024 bytes");
	/* "/a/b/": starts and ends with '/', canonical between */
	if (prefix == NULL || (n = strlen(prefix)) < 1 || n > PREFIX_MAX || prefix[0] != '/' ||
	    prefix[n - 1] != '/' || !plain(prefix, n) ||
	    (n > 1 && !canonical(prefix + 1, n - 2)))
		return bad(idx, "prefix", "must be \"/\" or a canonical path \"/a/b/\" (1..256 "
			   "printable bytes, no '%', '*', '?', '#', empty, \".\" or \"..\" segment)");
	memcpy(rt->prefix, prefix, n + 1);
	if (rp == NULL || (n = strlen(rp)) < 1 || n > RES_PREFIX_MAX || !plain(rp, n))
		return bad(idx, "resource_prefix", "must be 1..128 printable bytes without spaces, "
			   "'%', '*', '?' or '#'");
	memcpy(rt->res_prefix, rp, n + 1);
	methods = cJSON_GetObjectItemCaseSensitive(o, "methods");
	if (!cJSON_IsObject(methods) || cJSON_GetArraySize(methods) < 1 ||
	    cJSON_GetArraySize(methods) > ATTEST_HTTP_METHODS_MAX)
		return bad(idx, "methods", "must be an object of 1..16 METHOD: action");
	cJSON_ArrayForEach(it, methods) {
		struct http_method *m = &rt->methods[rt->nmethods];
		size_t mn = strlen(it->string), an;

		for (size_t i = 0; i < mn; i++)
			if (it->string[i] < 'A' || it->string[i] > 'Z')
				mn = 0;
		if (mn == 0 || mn > METHOD_MAX)
			return bad(idx, "methods", "a method is 1..16 of A-Z");
		if (!cJSON_IsString(it) || (an = strlen(it->valuestring)) == 0 || an > ACTION_MAX ||
		    !plain(it->valuestring, an))
			return bad(idx, "methods", "an action is 1..64 printable bytes without spaces "
				   "or '*'");
		memcpy(m->name, it->string, mn + 1);
		memcpy(m->action, it->valuestring, an + 1);
		rt->nmethods++;
	}
	hosts = cJSON_GetObjectItemCaseSensitive(o, "hosts");
	if (hosts != NULL) {
		if (!cJSON_IsArray(hosts) || cJSON_GetArraySize(hosts) < 1 ||
		    cJSON_GetArraySize(hosts) > ATTEST_POLICY_LIST_MAX)
			return bad(idx, "hosts", "must be an array of 1..64 host names");
		if ((rt->hosts = calloc((size_t)cJSON_GetArraySize(hosts), sizeof(*rt->hosts))) == NULL)
			return attest_fail(ATTEST_E_NOMEM, "http_routes hosts");
		cJSON_ArrayForEach(it, hosts) {
			if (!cJSON_IsString(it) || !name_ok(it->valuestring, HOST_MAX))
				return bad(idx, "hosts", "a host is 1..253 of A-Z a-z 0-9 . _ - "
					   "(no port)");
			memcpy(rt->hosts[rt->nhosts++], it->valuestring, strlen(it->valuestring) + 1);
		}
	}
	ctx = cJSON_GetObjectItemCaseSensitive(o, "context_from_path");
	if (ctx != NULL) {
		if (!cJSON_IsArray(ctx) || cJSON_GetArraySize(ctx) < 1 ||
		    cJSON_GetArraySize(ctx) > ATTEST_HTTP_CTX_MAX)
			return bad(idx, "context_from_path", "must be an array of 1..4 names");
		cJSON_ArrayForEach(it, ctx) {
			if (!cJSON_IsString(it) || !name_ok(it->valuestring, ATTEST_HTTP_CTX_KEY_MAX))
				return bad(idx, "context_from_path",
					   "a name is 1..64 of A-Z a-z 0-9 . _ -");
			memcpy(rt->ctx[rt->nctx++], it->valuestring, strlen(it->valuestring) + 1);
		}
	}
	return ATTEST_OK;
}

int attest_http_routes_load(const cJSON *arr, struct attest_http_routes **out)
{
	struct attest_http_routes *h = NULL;
	int n, r;

	*out = NULL;
	if (!cJSON_IsArray(arr))
		return attest_fail(ATTEST_E_POLICY, "field \"http_routes\": not an array");
	n = cJSON_GetArraySize(arr);
	if (n > ATTEST_HTTP_ROUTES_MAX)
		return attest_fail(ATTEST_E_POLICY, "field \"http_routes\": %d routes, at most %d", n,
				   ATTEST_HTTP_ROUTES_MAX);
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (n > 0 && (h->r = calloc((size_t)n, sizeof(*h->r))) == NULL)) {
		attest_http_routes_free(h);
		return attest_fail(ATTEST_E_NOMEM, "http_routes");
	}
	for (const cJSON *o = arr->child; o != NULL; o = o->next) {
		h->n++; /* counted first, so a failure frees its parts */
		if ((r = get_route(o, h->n - 1, &h->r[h->n - 1], h->r)) != ATTEST_OK) {
			attest_http_routes_free(h);
			return r;
		}
	}
	*out = h;
	return ATTEST_OK;
}

/* The request's host without a port, compared case-insensitively. */
static int host_matches(const struct http_route *rt, const char *host)
{
	size_t n;

	if (rt->nhosts == 0)
		return 1;
	if (host == NULL)
		return 0;
	n = strcspn(host, ":");
	for (size_t i = 0; i < rt->nhosts; i++)
		if (strlen(rt->hosts[i]) == n && strncasecmp(rt->hosts[i], host, n) == 0)
			return 1;
	return 0;
}

int attest_http_routes_map(const struct attest_http_routes *h, const char *method,
			   const char *host, const char *uri, struct attest_http_target *out)
{
	size_t plen, rlen;
	const char *rest;

	memset(out, 0, sizeof(*out));
	if (method == NULL || uri == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "http route: no method or path");
	if (h == NULL || h->n == 0)
		return attest_fail(ATTEST_E_FWD_NO_ROUTE, "the policy has no http_routes");
	/* the path without its query; then nothing a second reader could
	 * decode or normalise differently */
	plen = strcspn(uri, "?");
	if (plen == 0 || uri[0] != '/' || plen > ATTEST_POLICY_RESOURCE_MAX || !plain(uri, plen) ||
	    (plen > 1 && !canonical(uri + 1, uri[plen - 1] == '/' ? plen - 2 : plen - 1)))
		return attest_fail(ATTEST_E_FWD_NO_ROUTE, "path is not canonical (no '%%', '*', '#', "
				   "empty, \".\" or \"..\" segment)");
	for (size_t i = 0; i < h->n; i++) {
		const struct http_route *rt = &h->r[i];
		size_t pre = strlen(rt->prefix);

		if (!host_matches(rt, host) || plen <= pre || strncmp(uri, rt->prefix, pre) != 0)
			continue;
		rest = uri + pre;
		rlen = plen - pre;
		if (rest[rlen - 1] == '/')
			rlen--; /* "/records/a/" is "/records/a" */
		if (rlen == 0)
			continue;
		for (size_t m = 0; m < rt->nmethods; m++) {
			if (strcmp(rt->methods[m].name, method) != 0)
				continue;
			if (strlen(rt->res_prefix) + rlen > ATTEST_POLICY_RESOURCE_MAX)
				return attest_fail(ATTEST_E_FWD_NO_ROUTE, "resource over %d bytes",
						   ATTEST_POLICY_RESOURCE_MAX);
			(void)snprintf(out->route, sizeof(out->route), "%s", rt->name);
			(void)snprintf(out->action, sizeof(out->action), "%s", rt->methods[m].action);
			(void)snprintf(out->resource, sizeof(out->resource), "%s%.*s", rt->res_prefix,
				       (int)rlen, rest);
			/* context: the segment after the first segment named k */
			for (size_t c = 0; c < rt->nctx; c++) {
				size_t kl = strlen(rt->ctx[c]), at = 0;

				while (at < rlen) {
					size_t sl = strcspn(rest + at, "/");

					if (sl > rlen - at)
						sl = rlen - at;
					if (sl == kl && strncmp(rest + at, rt->ctx[c], kl) == 0 &&
					    at + sl + 1 < rlen) {
						size_t vs = at + sl + 1, vl = strcspn(rest + vs, "/");

						if (vl > rlen - vs)
							vl = rlen - vs;
						if (vl > ATTEST_HTTP_CTX_VALUE_MAX)
							break;
						memcpy(out->ctx_keys[out->nctx], rt->ctx[c], kl + 1);
						memcpy(out->ctx_values[out->nctx], rest + vs, vl);
						out->ctx_values[out->nctx][vl] = '\0';
						out->nctx++;
						break;
					}
					at += sl + 1;
				}
			}
			return ATTEST_OK;
		}
		return attest_fail(ATTEST_E_FWD_NO_ROUTE, "route %s does not take method %.16s",
				   rt->name, method);
	}
	return attest_fail(ATTEST_E_FWD_NO_ROUTE, "no http route for this host and path");
}
