/* kiln/runtime.h — what generated code may call: libkilnrt.
 *
 * Objects from `kiln compile` reference these symbols only when a kernel
 * uses them: compiled with --threads N > 1 their large kernels split work
 * over the thread pool; at -O0 large float32 matrix products go to OpenBLAS
 * (docs/performance.md).  The generated header then says to link
 *     cc main.c model.o -lkilnrt -lopenblas -lpthread
 * The runtime builds without LLVM or protobuf and never allocates on the
 * caller's behalf; its only state is the pool of worker threads (started on
 * first parallel call) and the thread-count override.
 */
#ifndef KILN_RUNTIME_H
#define KILN_RUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* C[m,n] = op(A)[m,k] * op(B)[k,n], row major; op = transpose when trans_*
 * is non-zero.  lda/ldb/ldc are row strides in elements.  Runs OpenBLAS on
 * one thread (Kiln's own thread pool will decide parallelism). */
void kiln_rt_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float *c, int64_t ldc);

/* Runs body(ctx, begin, end) over [0, n) split into contiguous chunks, one
 * per thread (the caller runs one); returns when all are done.  The thread
 * count is kiln_rt_threads(compiled_threads). */
void kiln_rt_parallel_for(void (*body)(void *ctx, int64_t begin, int64_t end), void *ctx, int64_t n,
                          int compiled_threads);

/* Threads a model compiled for `compiled` threads runs on: the last
 * kiln_rt_set_threads(n > 0), else the environment's KILN_THREADS, else
 * `compiled`.  Programs compiled for one thread never ask. */
int kiln_rt_threads(int compiled);
/* Run-time override of every model's thread count; 0 removes it. */
void kiln_rt_set_threads(int n);

#ifdef __cplusplus
}
#endif
#endif
