/* kiln/runtime.h — what generated code may call: libkilnrt.
 *
 * Objects from `kiln compile` reference these symbols only when a kernel
 * uses them (today: large float32 matrix products go to OpenBLAS, see
 * docs/performance.md); the generated header then says to link
 *     cc main.c model.o -lkilnrt -lopenblas
 * The runtime keeps no global state beyond BLAS's own thread setting, builds
 * without LLVM or protobuf, and never allocates on the caller's behalf.
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

#ifdef __cplusplus
}
#endif
#endif
