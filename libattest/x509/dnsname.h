/* dnsname.h - the DNS names an agent's leaf may carry besides its SPIFFE
 * ID (issue 14 item 5; docs/x509.md "DNS names"): the one rule attestd's
 * registration, its issuance and every relying party's leaf check apply. */
#ifndef LIBATTEST_DNSNAME_H
#define LIBATTEST_DNSNAME_H

#include "attest/attest.h"

#define ATTEST_DNS_NAME_MAX 253 /* bytes of a name (RFC 1035 text form) */
#define ATTEST_DNS_LABEL_MAX 63
#define ATTEST_LEAF_DNS_MAX 16  /* DNS names in one leaf (and one registration) */

/* 1 when name is a DNS name a leaf may carry: lower-case LDH labels of
 * 1-63 bytes (letters, digits, '-' not first or last), at most 253 bytes,
 * no trailing dot, no wildcard, and not an IP address in any spelling (the
 * last label neither all digits nor 0x-hex, which also refuses 1.2.3,
 * 010.1.1.1 and 0x7f000001; any ':' is refused as an IPv6 literal). Else 0
 * and *why (when why is not NULL) a constant reason ("is a wildcard ..."),
 * to be written after the name. */
int attest_dns_name_ok(const char *name, const char **why);

#endif
