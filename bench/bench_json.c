/* bench_json.c - attest_json_parse must cost time linear in its input
 * (issue 10 item 9: 32k keys in one object stalled the verifier for 2.2 s,
 * before any authentication). Report only: nothing asserts on time.
 *
 * Two documents of the same size (256 KiB): one object of 1k keys with long
 * values, one of 32k keys with short ones. Each parse is timed against
 * reading the same bytes (a memcpy of the document), so the figure is a
 * ratio, comparable across noisy machines:
 *   json_parse_ratio_1k_keys        parse / read, 1k keys (accepted)
 *   json_parse_ratio_32k_keys       parse / read, 32k keys: the production
 *                                   parser refuses it at the member cap
 *   json_32k_over_1k                the two ratios divided (target <= 2)
 *   json_parse_ratio_32k_uncapped   parse / read with the member cap raised
 *                                   to 32k: the duplicate check itself
 *                                   (sorting, not pairwise) on 32k keys
 * Each figure is the median of ROUNDS rounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"

#define DOC_BYTES (256 * 1024)
#define ROUNDS 9
#define REPS 20

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* One object of nkeys distinct 3-character keys whose values pad it to
 * about DOC_BYTES: ,"abc":0 (8 bytes a member for 32k keys) or a string. */
static char *make_doc(size_t nkeys, size_t *len)
{
	static const char digits[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
	size_t member = DOC_BYTES / nkeys, n = 0;
	char *s = malloc(nkeys * (member + 16) + 16);

	if (s == NULL)
		return NULL;
	s[n++] = '{';
	for (size_t i = 0; i < nkeys; i++) {
		if (i > 0)
			s[n++] = ',';
		s[n++] = '"';
		s[n++] = digits[(i >> 12) & 63];
		s[n++] = digits[(i >> 6) & 63];
		s[n++] = digits[i & 63];
		s[n++] = '"';
		s[n++] = ':';
		if (member <= 10) {
			s[n++] = '0';
			continue;
		}
		s[n++] = '"';
		memset(s + n, 'v', member - 10);
		n += member - 10;
		s[n++] = '"';
	}
	s[n++] = '}';
	*len = n;
	return s;
}

/* Median over ROUNDS of (REPS parses) / (REPS copies); *rc gets the parse
 * result. */
static double ratio(const char *doc, size_t len, size_t members, int *rc, double *parse_ms)
{
	double t[ROUNDS], ms[ROUNDS];
	char *copy = malloc(len);
	volatile char sink = 0;

	if (copy == NULL)
		return -1;
	for (int k = 0; k < ROUNDS; k++) {
		double t0 = now_ns(), t1, t2;

		for (int i = 0; i < REPS; i++) {
			memcpy(copy, doc, len);
			sink = (char)(sink ^ copy[i % len]);
		}
		t1 = now_ns();
		for (int i = 0; i < REPS; i++) {
			cJSON *o = NULL;

			*rc = attest_json_parse_limited(doc, len, DOC_BYTES + 64, members, &o);
			cJSON_Delete(o);
		}
		t2 = now_ns();
		t[k] = (t2 - t1) / (t1 - t0);
		ms[k] = (t2 - t1) / REPS / 1e6;
	}
	free(copy);
	qsort(t, ROUNDS, sizeof(t[0]), cmp);
	qsort(ms, ROUNDS, sizeof(ms[0]), cmp);
	*parse_ms = ms[ROUNDS / 2];
	return t[ROUNDS / 2];
}

int main(void)
{
	size_t len1 = 0, len32 = 0;
	char *d1 = make_doc(1024, &len1), *d32 = make_doc(32768, &len32);
	int rc1 = -1, rc32 = -1, rcu = -1;
	double r1, r32, ru, ms1 = 0, ms32 = 0, msu = 0;
	char note[160];

	if (d1 == NULL || d32 == NULL) {
		fprintf(stderr, "bench_json: out of memory\n");
		return 1;
	}
	r1 = ratio(d1, len1, ATTEST_JSON_MAX_MEMBERS, &rc1, &ms1);
	r32 = ratio(d32, len32, ATTEST_JSON_MAX_MEMBERS, &rc32, &ms32);
	ru = ratio(d32, len32, 32768, &rcu, &msu);
	snprintf(note, sizeof(note), "(%zu bytes, 1024 keys: %s, %.2f ms)", len1, attest_errname(rc1), ms1);
	printf("%-44s %10.1f  %s\n", "json_parse_ratio_1k_keys", r1, note);
	snprintf(note, sizeof(note), "(%zu bytes, 32768 keys: %s at the member cap, %.3f ms)",
		 len32, attest_errname(rc32), ms32);
	printf("%-44s %10.1f  %s\n", "json_parse_ratio_32k_keys", r32, note);
	printf("%-44s %10.2f  %s\n", "json_32k_over_1k", r32 / r1,
	       "(target <= 2: linear, not quadratic)");
	snprintf(note, sizeof(note), "(member cap raised to 32768: %s, %.2f ms; %.2fx the 1k ratio)",
		 attest_errname(rcu), msu, ru / r1);
	printf("%-44s %10.1f  %s\n", "json_parse_ratio_32k_uncapped", ru, note);
	free(d1);
	free(d32);
	return rc1 == ATTEST_OK && rc32 == ATTEST_E_TOO_LARGE && rcu == ATTEST_OK ? 0 : 1;
}
