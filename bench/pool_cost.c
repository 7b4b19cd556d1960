/* bench/pool_cost.c — the pool's fork-join cost: kiln_rt_parallel_for over
 * N chunks of a known length (busy waits), a gap between calls as between a
 * model's kernels; prints what a call costs beyond one chunk's work (the
 * worker's wake-up and the join), median and tail of 20,000 calls.  The figure codegen/split.c's cost rule is sized by
 * (docs/performance.md, "Which kernels split").
 *
 *   cc -O2 -Iinclude bench/pool_cost.c build/lib/libkilnrt.a -lpthread -ldl -o /tmp/pool_cost
 *   /tmp/pool_cost [threads] [gap_us] [chunk_ns]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kiln/runtime.h"

static double now_ns(void);

/* each index busy-waits `*ctx` ns: a chunk of known length */
static void busy(void *ctx, int64_t lo, int64_t hi)
{
    double w = *(const double *)ctx * (double)(hi - lo), s = now_ns();
    while (now_ns() - s < w) {}
}

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2, gap_us = argc > 2 ? atoi(argv[2]) : 0, n = 20000;
    double chunk_ns = argc > 3 ? atof(argv[3]) : 0;
    double *t = malloc(sizeof *t * (size_t)n);
    if (!t) return 1;
    kiln_rt_parallel_for(busy, &chunk_ns, threads, threads); /* starts the workers */
    for (int i = 0; i < n; i++) {
        double s = now_ns();
        while (gap_us && now_ns() - s < gap_us * 1e3) {} /* a kernel's worth of work in between */
        double a = now_ns();
        kiln_rt_parallel_for(busy, &chunk_ns, threads, threads);
        t[i] = now_ns() - a - chunk_ns; /* what the split costs over one chunk's work */
    }
    qsort(t, (size_t)n, sizeof *t, cmp);
    printf("threads %d gap %d us chunk %.0f ns: beyond one chunk: min %.0f ns, p10 %.0f ns, median %.0f ns, p90 %.0f ns, p99 %.0f ns\n", threads, gap_us, chunk_ns, t[0], t[n / 10], t[n / 2],
           t[n * 9 / 10], t[n * 99 / 100]);
    free(t);
    return 0;
}
