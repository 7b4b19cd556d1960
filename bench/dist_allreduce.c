/* bench/dist_allreduce.c — the runtime's allreduce (kiln_rt_allreduce_f32:
 * the blocking MPI_Allreduce, its deadline kept by the runtime's watchdog
 * thread) against Open MPI's own MPI_Allreduce called directly on the same
 * sizes; median of 7 rounds of `iters` calls.
 *   mpicc -O2 -Iinclude bench/dist_allreduce.c -Lbuild/lib -lkilnrt -lopenblas -lpthread -lm -o /tmp/ar
 *   mpirun -np 2 /tmp/ar            (docs/distributed.md) */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "kiln/dist.h"

static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

int main(int argc, char **argv)
{
    if (kiln_rt_dist_init(&argc, &argv)) return fprintf(stderr, "%s\n", kiln_rt_dist_error()), 1;
    int rank = kiln_rt_dist_rank();
    static const long sizes[] = {664, 16384, 262144, 4194304};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        long n = sizes[s];
        int iters = n < 100000 ? 2000 : n < 1000000 ? 100 : 10;
        float *a = malloc(sizeof *a * (size_t)n);
        for (long i = 0; i < n; i++) a[i] = (float)(i % 7);
        double t[2][7];
        for (int r = 0; r < 7; r++)
            for (int which = 0; which < 2; which++) {
                MPI_Barrier(MPI_COMM_WORLD);
                double t0 = MPI_Wtime();
                for (int k = 0; k < iters; k++)
                    if (which) MPI_Allreduce(MPI_IN_PLACE, a, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
                    else if (kiln_rt_allreduce_f32(a, a, n, "bench")) return fprintf(stderr, "%s\n", kiln_rt_dist_error()), 1;
                t[which][r] = (MPI_Wtime() - t0) / iters;
            }
        qsort(t[0], 7, sizeof(double), cmp), qsort(t[1], 7, sizeof(double), cmp);
        if (!rank)
            printf("%8ld floats: kiln %9.2f us (%7.1f MB/s)   MPI_Allreduce %9.2f us (%7.1f MB/s)   ratio %.2f\n", n, t[0][3] * 1e6,
                   4.0 * n / t[0][3] / 1e6, t[1][3] * 1e6, 4.0 * n / t[1][3] / 1e6, t[0][3] / t[1][3]);
        free(a);
    }
    return kiln_rt_dist_finalize();
}
