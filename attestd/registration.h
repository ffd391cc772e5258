/* registration.h - an agent registration as typed fields (the admin
 * socket's register, admin.h parses it from JSON) and what its values may
 * be: the front's parse and the monitor's register_agent both ask, so a
 * value one side accepts the other accepts too. */
#ifndef ATTESTD_REGISTRATION_H
#define ATTESTD_REGISTRATION_H

#include <stdint.h>

#include "attest/attest.h"
#include "measure/measure.h"
#include "registry.h"
#include "x509/x509.h"

#define ADMIN_PATH_MAX 511
#define ADMIN_TIER_MAX 15
#define ADMIN_SCOPE_MAX 128 /* request.c valid_scope */
#define ADMIN_ENV_MAX (ATTEST_ENV_NAME_MAX + 1) /* a name, or a prefix and '*' */
/* A registration as typed fields (admin.h parses it from JSON). */
struct admin_registration {
	char name[ATTEST_MAX_NAME + 1];
	char binary[ADMIN_PATH_MAX + 1];
	char script[ADMIN_PATH_MAX + 1]; /* "": none */
	char tier[ADMIN_TIER_MAX + 1];
	uint32_t uids[AGENT_MAX_UIDS];
	uint32_t nuids;
	char scopes[AGENT_MAX_SCOPES][ADMIN_SCOPE_MAX + 1];
	uint32_t nscopes;
	char classes[AGENT_MAX_CLASSES][ATTEST_MAX_NAME + 1];
	uint32_t nclasses;
	char env_allow[AGENT_MAX_ENV_ALLOW][ADMIN_ENV_MAX + 1];
	uint32_t nenv_allow;
	char dns[AGENT_MAX_DNS][ATTEST_DNS_NAME_MAX + 1]; /* --dns-name */
	uint32_t ndns;
	int64_t max_ttl;
	int64_t delegate_depth;
};

/* The largest max_ttl a registration can ask for (attestd's --max-ttl may
 * lower it). */
#define ADMIN_TTL_CAP 86400
/* What a typed registration's values may be: the front's parse and the
 * monitor's register_agent (with attestd's --max-ttl) both ask. */
int admin_registration_check(const struct admin_registration *g, long max_ttl) ATTEST_MUST_CHECK;
/* n DNS names (stride bytes apart, each NUL-terminated within it): at most
 * AGENT_MAX_DNS, each one attest_dns_name_ok accepts, none twice;
 * ATTEST_E_DNS_NAME_INVALID naming the name and the reason otherwise. The
 * registration and the issue request both ask. */
int admin_dns_names_check(const char *first, size_t stride, uint32_t n) ATTEST_MUST_CHECK;

#endif
