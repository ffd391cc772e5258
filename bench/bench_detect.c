/* bench_detect.c - the behaviour detector's cost per decision (issue 19,
 * docs/detection.md): vd_score + vd_learn of one decision in process, on
 * synthetic traffic of 64 agents and 32 users over 5000 patients (entities
 * warm, past their cold start), in ns per decision: the part of a
 * decision's cost that scoring adds, to set beside bench_decide's
 * repeated-chain decision and bench_verifier's on/off HTTPS comparison.
 * Report only. */
#include <stdio.h>
#include <stdlib.h>

#include "detect.h"
#include "testutil.h"

#define WARM 200000
#define N 1000000

static uint64_t rng = 88172645463325252ull;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static void step(struct vd *d, int64_t t, struct vd_score *sc)
{
	char agent[96], user[32], res[64], subj[16];
	struct vd_obs o;
	unsigned p = rnd(5000);

	(void)snprintf(agent, sizeof(agent), "spiffe://fleet.example/host/web-%02u/agent/scribe", rnd(64));
	(void)snprintf(user, sizeof(user), "dr.%u", rnd(32));
	(void)snprintf(res, sizeof(res), "ehr:patient/%u/record", p);
	(void)snprintf(subj, sizeof(subj), "%u", p);
	o.agent = agent;
	o.user = user;
	o.purpose = "TREATMENT";
	o.resource = res;
	o.subject = subj;
	o.now = t;
	o.leaf_life = 300;
	vd_score(d, &o, sc);
	vd_learn(d, &o, 1, NULL, 0, NULL, 0);
}

int main(void)
{
	struct vd_config c;
	struct vd *d = NULL;
	struct vd_score sc;
	double t0, ms;
	int64_t t = 1796083200 + 9 * 3600;

	vd_config_default(&c);
	if (vd_new(&c, 0, &d) != ATTEST_OK) {
		printf("detect_ns_per_decision: n/a\n");
		return 1;
	}
	for (long i = 0; i < WARM; i++)
		step(d, t + i / 100, &sc);
	t += WARM / 100;
	t0 = tu_now_ms();
	for (long i = 0; i < N; i++)
		step(d, t + i / 100, &sc);
	ms = tu_now_ms() - t0;
	printf("detect_ns_per_decision: %.0f (score + learn, agent and user, n=%d, %zu entities)\n",
	       ms * 1e6 / N, N, vd_count(d));
	vd_free(d);
	return 0;
}
