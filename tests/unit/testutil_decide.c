/* testutil_decide.c - see testutil_decide.h. */
#include <stdio.h>
#include <string.h>

#include "testutil_decide.h"

struct fx_view fx_view;

const char FX_DECIDE_POLICY[] =
	"{\"version\":1,\"rules\":["
	"{\"name\":\"read-records\",\"effect\":\"allow\",\"resources\":[\"ehr:patient/**\"],"
	"\"actions\":[\"read\"],\"require\":{\"scopes\":[\"ehr.read\"],"
	"\"host_attested_within\":300}},"
	"{\"name\":\"no-delete\",\"effect\":\"deny\",\"resources\":[\"**\"],\"actions\":[\"delete\"]}"
	"]}";

static int host_cb(void *arg, const char *host, struct attest_host_facts *out)
{
	(void)arg;
	fx_view.host_calls++;
	for (size_t i = 0; i < fx_view.nhosts; i++) {
		struct fx_host_row *h = &fx_view.hosts[i];

		if (strcmp(h->name, host) == 0) {
			out->revoked = h->revoked;
			out->trusted = h->trusted;
			out->last_good = h->last_good;
			out->ak = h->ak;
			out->ak_len = h->ak_len;
			return ATTEST_OK;
		}
	}
	return ATTEST_E_NOT_FOUND;
}

static int agent_cb(void *arg, const char *id, struct attest_agent_facts *out)
{
	(void)arg;
	for (size_t i = 0; i < fx_view.nagents; i++) {
		struct fx_agent_row *a = &fx_view.agents[i];

		if (strcmp(a->id, id) == 0) {
			out->revoked = a->revoked;
			out->approved = a->approved;
			memcpy(out->uuid, a->uuid, sizeof(out->uuid));
			memcpy(out->measurement, a->measurement, 32);
			out->risk_tier = ATTEST_RISK_TIER_LOW;
			out->risk_score = 10;
			out->scopes = a->scopes;
			out->data_classes = a->classes;
			return ATTEST_OK;
		}
	}
	return ATTEST_E_NOT_FOUND;
}

const struct attest_facts fx_facts = { host_cb, agent_cb, NULL };

struct fx_host_row *fx_host_row(const char *name)
{
	for (size_t i = 0; i < fx_view.nhosts; i++)
		if (strcmp(fx_view.hosts[i].name, name) == 0)
			return &fx_view.hosts[i];
	CU_FAIL_FATAL("no such host row");
	return NULL;
}

struct fx_agent_row *fx_agent_row(const char *id)
{
	for (size_t i = 0; i < fx_view.nagents; i++)
		if (strcmp(fx_view.agents[i].id, id) == 0)
			return &fx_view.agents[i];
	CU_FAIL_FATAL("no such agent row");
	return NULL;
}

void fx_view_add_host(const char *name, const uint8_t *ak, size_t ak_len)
{
	struct fx_host_row *h;

	NEED(fx_view.nhosts < sizeof(fx_view.hosts) / sizeof(fx_view.hosts[0]) &&
	     ak_len <= sizeof(h->ak));
	h = &fx_view.hosts[fx_view.nhosts++];
	memset(h, 0, sizeof(*h));
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->trusted = 1;
	h->last_good = fx.t0 - 10;
	memcpy(h->ak, ak, ak_len);
	h->ak_len = ak_len;
}

void fx_view_add_agent(const char *id, const char *uuid, const uint8_t m[32])
{
	struct fx_agent_row *a;

	NEED(fx_view.nagents < sizeof(fx_view.agents) / sizeof(fx_view.agents[0]));
	a = &fx_view.agents[fx_view.nagents++];
	memset(a, 0, sizeof(*a));
	snprintf(a->id, sizeof(a->id), "%s", id);
	a->approved = 1;
	snprintf(a->uuid, sizeof(a->uuid), "%s", uuid);
	memcpy(a->measurement, m, 32);
	snprintf(a->scopes, sizeof(a->scopes), "ehr.read ehr.write billing.read");
	snprintf(a->classes, sizeof(a->classes), "phi");
}

void fx_view_up(void)
{
	uint8_t ak[sizeof(TPM2B_PUBLIC)];
	size_t n = 0;

	memset(&fx_view, 0, sizeof(fx_view));
	fx_ak_public(fx.ak1, ak, sizeof(ak), &n);
	fx_view_add_host("web-01", ak, n);
	fx_ak_public(fx.ak2, ak, sizeof(ak), &n);
	fx_view_add_host("db-01", ak, n);
	fx_view_add_agent(ID_A, FX_UUID, fx.a.measurement);
	fx_view_add_agent(ID_B, FX_UUID, fx.b.measurement);
	fx_view_add_agent(ID_C, FX_UUID, fx.c.measurement);
}
