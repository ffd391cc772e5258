/* testutil_bench.h - what the software benchmarks share: timed series of
 * calls, their statistics and the `name value note` figure lines. Report
 * only: nothing here asserts on time. */
#ifndef TESTS_TESTUTIL_BENCH_H
#define TESTS_TESTUTIL_BENCH_H

struct tu_series {
	const char *what;
	int kind;      /* the bench's own selector of what one call does */
	int per_round; /* timed calls per round */
	double *v;     /* microseconds per call (the caller allocates) */
	int n, ok;
};

/* One call of series s: 0 on success. */
typedef int (*tu_once_fn)(const struct tu_series *s);

/* warm untimed calls, then s->per_round timed ones into s->v. A failed
 * call marks the series not ok (its figures print n/a) and says so on
 * stderr under prog's name; returns 1 then, else 0. */
int tu_series_run(struct tu_series *s, int warm, tu_once_fn once, const char *prog);

struct tu_stats {
	double mean, p50, p99;
	int ok;
};

/* Mean, median and 99th percentile of the series (sorts s->v). */
struct tu_stats tu_series_stats(struct tu_series *s);

/* One figure line: name, value with prec decimals (n/a unless ok), note. */
void tu_print_fig(const char *name, int ok, double v, int prec, const char *note);

#endif
