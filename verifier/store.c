/* store.c - pick the store a command names (docs/verifier-store.md). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/num.h"
#include "store.h"

int vstore_spec_is_pg(const char *spec)
{
	return spec != NULL &&
	       (strncmp(spec, "postgresql://", 13) == 0 || strncmp(spec, "postgres://", 11) == 0);
}

int vstore_open_spec(const char *spec, const char *state, int create, struct vstore **out)
{
	char p[PATH_MAX];
	int n;

	if (out == NULL)
		return attest_fail(ATTEST_E_INVALID_ARG, "store: no output");
	*out = NULL;
	if (spec != NULL && spec[0] != '\0') {
		if (!vstore_spec_is_pg(spec))
			return attest_fail(ATTEST_E_INVALID_ARG,
					   "store: want a postgresql:// URI (or no store option "
					   "for the SQLite file in the state directory)");
		return create ? vstore_pg_open(spec, out) : vstore_pg_open_existing(spec, out);
	}
	if (state == NULL || state[0] == '\0')
		return attest_fail(ATTEST_E_INVALID_ARG, "store: no state directory");
	n = snprintf(p, sizeof(p), "%s/verifier.db", state);
	if (n < 0 || (size_t)n >= sizeof(p))
		return attest_fail(ATTEST_E_INVALID_ARG, "store: state path too long");
	return create ? vstore_sqlite_open(p, out) : vstore_sqlite_open_existing(p, out);
}

int vstore_generation(struct vstore *s, uint64_t *out)
{
	char v[32];
	int r;

	*out = 0;
	r = s->ops->setting_get(s, VSTORE_GENERATION_KEY, v, sizeof(v));
	if (r == ATTEST_E_NOT_FOUND)
		return ATTEST_OK;
	if (r == ATTEST_E_TOO_LARGE ||
	    (r == ATTEST_OK && attest_parse_u64(v, 0, UINT64_MAX, out) != ATTEST_OK))
		return attest_fail(ATTEST_E_STORE_DAMAGED, "store: stored generation is not a "
							  "decimal 64-bit number");
	return r;
}
