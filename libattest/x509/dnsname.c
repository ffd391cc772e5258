/* dnsname.c - see dnsname.h. */
#include <string.h>

#include "x509/dnsname.h"

static int fail(const char **why, const char *reason)
{
	if (why != NULL)
		*why = reason;
	return 0;
}

/* Whether label [s, s + n) reads as a number to an address parser
 * (inet_aton, WHATWG URL): all decimal digits, or 0x followed by hex. */
static int numeric_label(const char *s, size_t n)
{
	size_t i = 0;

	if (n >= 2 && s[0] == '0' && s[1] == 'x') {
		for (i = 2; i < n; i++)
			if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
				return 0;
		return 1;
	}
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return n > 0;
}

int attest_dns_name_ok(const char *name, const char **why)
{
	size_t len, start = 0;

	if (name == NULL || name[0] == '\0')
		return fail(why, "is empty");
	len = strnlen(name, ATTEST_DNS_NAME_MAX + 1);
	if (len > ATTEST_DNS_NAME_MAX)
		return fail(why, "is longer than 253 bytes");
	if (strchr(name, '*') != NULL)
		return fail(why, "is a wildcard: register each name the agent serves");
	if (strchr(name, ':') != NULL || name[0] == '[')
		return fail(why, "is an IPv6 address literal: DNS names only");
	if (name[len - 1] == '.')
		return fail(why, "ends with a dot: give the name without the trailing dot");
	for (size_t i = 0; i < len; i++)
		if (name[i] >= 'A' && name[i] <= 'Z')
			return fail(why, "has upper-case letters: give the name in lower case");
	while (start <= len) {
		const char *l = name + start;
		size_t n = strcspn(l, ".");

		if (n == 0)
			return fail(why, "has an empty label");
		if (n > ATTEST_DNS_LABEL_MAX)
			return fail(why, "has a label over 63 bytes");
		for (size_t i = 0; i < n; i++)
			if (!((l[i] >= 'a' && l[i] <= 'z') || (l[i] >= '0' && l[i] <= '9') ||
			      l[i] == '-'))
				return fail(why, "has a character other than a-z, 0-9, '-' and '.'");
		if (l[0] == '-' || l[n - 1] == '-')
			return fail(why, "has a label that starts or ends with '-'");
		if (start + n == len && numeric_label(l, n))
			return fail(why, "is an IP address literal (its last label is numeric)");
		start += n + 1;
	}
	return 1;
}
