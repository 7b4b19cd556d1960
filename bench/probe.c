/* bench/probe.c — the machine's limits, measured in the same run as the
 * benchmarks: single-core fp32 FMA throughput and memory bandwidth.
 * Built with -O2 -march=native.  Prints "fma_gflops X" and "mem_gbps Y".
 */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* 12 independent FMA chains hide the FMA latency; the widest vector the
 * compiler was allowed (-march=native) is used. */
static double fma_peak(void)
{
#if defined(__AVX512F__)
    typedef __m512 vec;
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define LANES 16
#elif defined(__FMA__)
    typedef __m256 vec;
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define LANES 8
#else
    return 0;
#endif
    /* twelve named accumulators: an array whose address is taken would live in memory */
    vec a0 = SET1(0), a1 = SET1(1), a2 = SET1(2), a3 = SET1(3), a4 = SET1(4), a5 = SET1(5), a6 = SET1(6), a7 = SET1(7),
        a8 = SET1(8), a9 = SET1(9), a10 = SET1(10), a11 = SET1(11), m = SET1(0.999999f), b = SET1(1e-7f);
    long iters = 50000000;
    double t0 = now();
    for (long k = 0; k < iters; k++) {
        a0 = FMA(a0, m, b), a1 = FMA(a1, m, b), a2 = FMA(a2, m, b), a3 = FMA(a3, m, b);
        a4 = FMA(a4, m, b), a5 = FMA(a5, m, b), a6 = FMA(a6, m, b), a7 = FMA(a7, m, b);
        a8 = FMA(a8, m, b), a9 = FMA(a9, m, b), a10 = FMA(a10, m, b), a11 = FMA(a11, m, b);
    }
    double dt = now() - t0;
    vec s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
    float out[LANES];
    memcpy(out, &s, sizeof out);
    if (out[0] == 12345.0f) puts("");
    return (double)iters * 12 * LANES * 2 / dt / 1e9;
}

/* Sum of a 512 MiB array: read bandwidth well outside the caches. */
static double mem_bandwidth(void)
{
    size_t n = (size_t)128 << 20;
    float *x = aligned_alloc(64, n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(i & 7);
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now(), s = 0;
        for (size_t i = 0; i < n; i += 16) {
            float acc = 0;
            for (int k = 0; k < 16; k++) acc += x[i + k];
            s += acc;
        }
        double dt = now() - t0;
        if (s == -1) puts("");
        double gbps = (double)n * sizeof *x / dt / 1e9;
        best = gbps > best ? gbps : best;
    }
    free(x);
    return best;
}

int main(void)
{
    printf("fma_gflops %.1f\n", fma_peak());
    printf("mem_gbps %.1f\n", mem_bandwidth());
    return 0;
}
