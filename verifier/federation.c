/* federation.c - federated trust domains of the verifier's decisions
 * (docs/spiffe.md "Decisions for federated agents"): the --federation file
 * read at start (as root, before the drop), each domain's SPIFFE bundle
 * fetched on libattest's fedset worker thread (never on the event loop),
 * and the decider's lookup: a domain's X.509 authorities while its bundle
 * is younger than --federation-max-age, ATTEST_E_FED_STALE otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/fileio.h"
#include "net/fedset.h"
#include "vsrv.h"
#include "x509/x509agent.h"

static void fed_log(void *ctx, const char *line)
{
	(void)ctx;
	vs_log("%s", line);
}

/* The decider's lookup (decide.h attest_decider_set_federation), on the
 * loop. */
static int fed_lookup(void *arg, const char *td, const uint8_t **der, size_t *der_len)
{
	struct vsrv *s = arg;
	struct fed_view v;
	const char *err = "";
	int found = fedset_find(s->fed, td, &v, &err);

	*der = NULL;
	*der_len = 0;
	if (found < 0)
		return ATTEST_E_NOT_FOUND;
	if (found == 0)
		return attest_fail(ATTEST_E_FED_STALE, "no bundle fetched yet%s%.200s",
				   err[0] != '\0' ? "; last error: " : "", err);
	if (v.age_s > s->cfg->federation_max_age)
		return attest_fail(ATTEST_E_FED_STALE, "the bundle was last fetched %lld s ago, "
				   "over --federation-max-age %lld s%s%.200s", (long long)v.age_s,
				   (long long)s->cfg->federation_max_age,
				   err[0] != '\0' ? "; last error: " : "", err);
	*der = v.der;
	*der_len = v.der_len;
	return ATTEST_OK;
}

int vs_fed_init(struct vsrv *s)
{
	struct fed_list l = { 0 };
	uint8_t *buf = NULL;
	size_t len = 0;
	char own[256];
	long age;
	int r;

	if (s->cfg->federation == NULL)
		return ATTEST_OK;
	if ((r = attest_x509_ca_trust_domain(s->root, own)) != ATTEST_OK)
		return attest_fail_wrap(r, "federation: the fleet root names no trust domain");
	if ((r = attest_file_read(s->cfg->federation, FED_MAX * (FED_CA_MAX + 2048), &buf,
				  &len)) != ATTEST_OK ||
	    (r = fed_list_parse((const char *)buf, len, s->cfg->federation, &l)) != ATTEST_OK)
		goto out;
	if (fed_list_find(&l, own) != NULL) {
		r = attest_fail(ATTEST_E_PARSE, "%s: %s is this fleet's own trust domain, which "
				"is never federated", s->cfg->federation, own);
		goto out;
	}
	if ((r = fedset_new(s->base, NULL, NULL, &s->fed)) != ATTEST_OK)
		goto out;
	fedset_set_log(s->fed, fed_log, NULL);
	/* a good bundle is confirmed at least twice per max age, a failed
	 * fetch retried four times per max age (within FED_RETRY_S) */
	age = (long)s->cfg->federation_max_age;
	fedset_set_timing(s->fed, age / 2 > 0 ? age / 2 : 1, age / 4 > 0 ? age / 4 : 1);
	if ((r = fedset_configure(s->fed, &l, 0)) != ATTEST_OK ||
	    (r = attest_decider_set_federation(s->decider, own, fed_lookup, s)) != ATTEST_OK)
		goto out;
	for (uint32_t i = 0; i < l.n; i++)
		vs_log("federation: trust domain %s, bundle endpoint %s (stale after %lld s)",
		       l.e[i].td, l.e[i].url, (long long)s->cfg->federation_max_age);
out:
	fed_list_clear(&l);
	free(buf);
	return r;
}

int vs_fed_start(struct vsrv *s)
{
	if (s->fed == NULL)
		return ATTEST_OK;
	if (fedset_start(s->fed) != 0)
		return attest_fail(ATTEST_E_INTERNAL, "federation worker");
	return ATTEST_OK;
}

void vs_fed_free(struct vsrv *s)
{
	fedset_free(s->fed);
	s->fed = NULL;
}

int vs_fed_status(struct vsrv *s, cJSON *arr)
{
	return s->fed != NULL ? fedset_status(s->fed, arr) : ATTEST_OK;
}
