/* test_vpartition.c - the verifier gives each resource caller its own
 * decision-cache partition (verifier/decide_http.c vs_caller_partition), so
 * that the decider's per-partition shares (test_decide "cache keys and
 * shares") hold per caller: issue 10 item 16, "one caller cannot evict
 * another's share". Hashing names into partitions let two callers share one.
 */
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "vsrv.h"

static struct vsrv s; /* only its partition table is used */

static void test_one_partition_per_caller(void)
{
	unsigned seen[VS_PARTS + 1] = { 0 };
	char name[32];

	for (unsigned i = 0; i < VS_PARTS; i++) {
		unsigned p;

		snprintf(name, sizeof(name), "ehr-api-%u", i);
		p = vs_caller_partition(&s, name);
		CU_ASSERT_FATAL(p >= 1 && p <= VS_PARTS);
		CU_ASSERT(seen[p] == 0); /* nobody else's */
		seen[p] = i + 1;
	}
	/* the same caller keeps its partition */
	for (unsigned i = 0; i < VS_PARTS; i++) {
		unsigned p;

		snprintf(name, sizeof(name), "ehr-api-%u", i);
		p = vs_caller_partition(&s, name);
		CU_ASSERT(p >= 1 && p <= VS_PARTS && seen[p] == i + 1);
	}
	/* a 64th caller takes the partition of the one unseen for longest
	 * (ehr-api-0 answered first in the loop above), and no live caller's */
	{
		unsigned p0 = vs_caller_partition(&s, "ehr-api-0");
		unsigned p1, pn;

		for (unsigned i = 1; i < VS_PARTS; i++) {
			snprintf(name, sizeof(name), "ehr-api-%u", i);
			(void)vs_caller_partition(&s, name);
		}
		pn = vs_caller_partition(&s, "billing-api");
		CU_ASSERT(pn == p0);
		p1 = vs_caller_partition(&s, "ehr-api-1");
		CU_ASSERT(p1 != pn);
	}
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "one decision-cache partition per caller", test_one_partition_per_caller },
		{ NULL, NULL },
	};

	return tu_main("vpartition", tests);
}
