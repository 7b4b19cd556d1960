/* bench/cblas_layer.c — the MLP layer's GEMM (100x32 times 32x16, float32)
 * as one cblas_sgemm call on one thread: the reference the issue compares
 * Kiln's compiled layer against.  Prints "cblas_ms MEDIAN". */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    enum { M = 100, K = 32, N = 16, BATCH = 200, ROUNDS = 101 };
    static float a[M * K], b[K * N], c[M * N];
    for (int i = 0; i < M * K; i++) a[i] = (float)(i % 7) - 3;
    for (int i = 0; i < K * N; i++) b[i] = (float)(i % 5) - 2;
    openblas_set_num_threads(1);
    double t[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now();
        for (int i = 0; i < BATCH; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
        t[r] = (now() - t0) * 1e3 / BATCH;
    }
    qsort(t, ROUNDS, sizeof *t, cmp);
    printf("cblas_ms %.6f\n", t[ROUNDS / 2]);
    return c[0] == 12345.0f; /* keep the result alive */
}
