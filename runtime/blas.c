/* runtime/blas.c — the GEMM strategy that hands large float32 products to
 * OpenBLAS (the cost rule that picks it lives in codegen/kernels.c). */
#include <cblas.h>
#include <pthread.h>

#include "kiln/runtime.h"

static pthread_once_t one_thread = PTHREAD_ONCE_INIT;

/* Kiln decides parallelism itself; OpenBLAS would otherwise take every core. */
static void set_one_thread(void) { openblas_set_num_threads(1); }

void kiln_rt_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float *c, int64_t ldc)
{
    pthread_once(&one_thread, set_one_thread);
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n,
                (int)k, 1.0f, a, (int)lda, b, (int)ldb, 0.0f, c, (int)ldc);
}
