/* cliconf.c - printing a configuration in the file format (cliconf.h). */
#include "cliconf.h"

#include <string.h>

static int bare_ok(const char *v)
{
	if (v[0] == '\0')
		return 0;
	for (const char *p = v; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '#')
			return 0;
	return 1;
}

static int quoted_ok(const char *v)
{
	for (const char *p = v; *p != '\0'; p++)
		if (*p < 0x20 || *p >= 0x7f || *p == '"')
			return 0;
	return 1;
}

void cliconf_print(FILE *f, const char *key, const char *value, const char *def)
{
	if (value == NULL) {
		if (def != NULL)
			fprintf(f, "# %s = %s (default)\n", key, def);
		else
			fprintf(f, "# %s (not set)\n", key);
	} else if (bare_ok(value)) {
		fprintf(f, "%s = %s\n", key, value);
	} else if (quoted_ok(value)) {
		fprintf(f, "%s = \"%s\"\n", key, value);
	} else {
		fprintf(f, "# %s: set to a value the file format cannot hold\n", key);
	}
}
