/* testutil_bench.c - see testutil_bench.h. */
#include <stdio.h>

#include "testutil.h"
#include "testutil_bench.h"

int tu_series_run(struct tu_series *s, int warm, tu_once_fn once, const char *prog)
{
	double t0;

	if (!s->ok)
		return 0;
	for (int i = 0; i < warm; i++)
		if (once(s) != 0)
			goto fail;
	for (int i = 0; i < s->per_round; i++) {
		t0 = tu_now_ms();
		if (once(s) != 0)
			goto fail;
		s->v[s->n++] = (tu_now_ms() - t0) * 1e3;
	}
	return 0;
fail:
	fprintf(stderr, "%s: %s failed; its figures are n/a\n", prog, s->what);
	s->ok = 0;
	return 1;
}

struct tu_stats tu_series_stats(struct tu_series *s)
{
	struct tu_stats st = { 0, 0, 0, 0 };
	double sum = 0;
	int n = s->n;

	if (!s->ok || n <= 0)
		return st;
	tu_sort_doubles(s->v, (size_t)n);
	for (int i = 0; i < n; i++)
		sum += s->v[i];
	st.mean = sum / n;
	st.p50 = n % 2 ? s->v[n / 2] : (s->v[n / 2 - 1] + s->v[n / 2]) / 2;
	st.p99 = s->v[(size_t)((n - 1) * 0.99)];
	st.ok = 1;
	return st;
}

void tu_print_fig(const char *name, int ok, double v, int prec, const char *note)
{
	if (ok)
		printf("%-44s %10.*f  %s\n", name, prec, v, note);
	else
		printf("%-44s %10s  %s\n", name, "n/a", note);
}
