/* tests/support/gpu_driver.c — runs an object of `kiln compile --target cuda
 * --prefix model` on .npy inputs through its host-pointer entry and compares
 * with .npy references (the CPU reference outputs, i.e. TensorFlow's).
 * Built per model with the generated header and libkilnrt's runtime/gpu.c:
 *   cc -include model.h gpu_driver.c runtime/gpu.c model.o -ldl -lpthread -lm
 *   gpu_driver RTOL ATOL FEED.npy... REF.npy...
 * Exit: 0 match, 1 past the tolerance, 2 bad files, 10 + the kiln_gpu_code
 * of a failed init/run (its message on stderr: "no CUDA driver (...)", ...).
 * Fetch buffers start as 0xff bytes (NaN / -1), so an unwritten element shows.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver_npy.h"

static const long long feed_bytes[] = model_FEED_BYTES_LIST, fetch_bytes[] = model_FETCH_BYTES_LIST;

int main(int argc, char **argv)
{
    enum { NF = model_N_FEEDS, NR = model_N_FETCHES };
    if (argc != 3 + NF + NR) return fprintf(stderr, "usage: gpu_driver RTOL ATOL FEED.npy x%d REF.npy x%d\n", NF, NR), 2;
    double rtol = atof(argv[1]), atol = atof(argv[2]);
    void *args[NF + NR + 1], *refs[NR + 1];
    char descr[4 * NR + 8], scratch[8];
    for (int i = 0; i < NF; i++)
        if (!(args[i] = read_npy("gpu_driver", argv[3 + i], feed_bytes[i], scratch))) return 2;
    for (int i = 0; i < NR; i++) {
        if (!(refs[i] = read_npy("gpu_driver", argv[3 + NF + i], fetch_bytes[i], descr + 4 * i))) return 2;
        args[NF + i] = malloc((size_t)fetch_bytes[i] + 1);
        if (!args[NF + i]) return 2;
        memset(args[NF + i], 0xff, (size_t)fetch_bytes[i]);
    }
    model_gpu *m = NULL;
    int rc = model_init(&m, NULL);
    if (rc) return fprintf(stderr, "gpu_driver: init: %s\n", model_error()), 10 + rc;
    if ((rc = model_run_host(m, args))) return fprintf(stderr, "gpu_driver: run: %s\n", model_error()), model_free(m), 10 + rc;
    model_free(m);
    int bad = 0;
    for (int i = 0; i < NR; i++) {
        long long count = fetch_bytes[i] / (descr[4 * i + 2] - '0');
        double worst = 0;
        for (long long k = 0; k < count; k++) {
            double w = npy_element(descr + 4 * i, refs[i], k), g = npy_element(descr + 4 * i, args[NF + i], k), e = fabs(g - w);
            if (e > worst) worst = e;
            if (isinf(w)) e = g == w ? 0 : INFINITY;
            if (!(e <= atol + rtol * fabs(w)) && !(isnan(w) && isnan(g)) && bad++ < 3)
                fprintf(stderr, "gpu_driver: fetch %d element %lld: %.9g vs reference %.9g\n", i, k, g, w);
        }
        printf("fetch %d: max abs error %.3g over %lld values\n", i, worst, count);
    }
    return bad ? 1 : 0;
}
