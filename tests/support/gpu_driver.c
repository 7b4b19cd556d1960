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

static const long long feed_bytes[] = model_FEED_BYTES_LIST, fetch_bytes[] = model_FETCH_BYTES_LIST;

static void *read_npy(const char *path, long long want, char *descr)
{
    FILE *f = fopen(path, "rb");
    unsigned char pre[12];
    void *data = NULL;
    if (f && fread(pre, 1, 10, f) == 10 && !memcmp(pre, "\x93NUMPY", 6)) {
        size_t hlen = pre[8] | (size_t)pre[9] << 8;
        if (pre[6] > 1 && fread(pre + 10, 1, 2, f) == 2) hlen |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        char *h = calloc(1, hlen + 1);
        if (h && fread(h, 1, hlen, f) == hlen) {
            char *d = strstr(h, "'descr': '");
            if (d) memcpy(descr, d + 10, 3), descr[3] = 0;
            data = malloc((size_t)want + 64);
            if (data && fread(data, 1, (size_t)want, f) != (size_t)want) free(data), data = NULL;
        }
        free(h);
    }
    if (f) fclose(f);
    if (!data) fprintf(stderr, "gpu_driver: %s: not a .npy of %lld bytes\n", path, want);
    return data;
}

static double half(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m | 1024, e - 25);
    return (h & 0x8000) ? -v : v;
}

static double element(const char *descr, const void *p, long long i)
{
    if (!strcmp(descr, "<f4")) return ((const float *)p)[i];
    if (!strcmp(descr, "<f8")) return ((const double *)p)[i];
    if (!strcmp(descr, "<f2")) return half(((const uint16_t *)p)[i]);
    if (!strcmp(descr, "<i2")) return ((const int16_t *)p)[i];
    if (!strcmp(descr, "<i4")) return ((const int32_t *)p)[i];
    if (!strcmp(descr, "<i8")) return (double)((const int64_t *)p)[i];
    if (!strcmp(descr, "|i1")) return ((const int8_t *)p)[i];
    return ((const uint8_t *)p)[i];
}

int main(int argc, char **argv)
{
    enum { NF = model_N_FEEDS, NR = model_N_FETCHES };
    if (argc != 3 + NF + NR) return fprintf(stderr, "usage: gpu_driver RTOL ATOL FEED.npy x%d REF.npy x%d\n", NF, NR), 2;
    double rtol = atof(argv[1]), atol = atof(argv[2]);
    void *args[NF + NR + 1], *refs[NR + 1];
    char descr[4 * NR + 8], scratch[8];
    for (int i = 0; i < NF; i++)
        if (!(args[i] = read_npy(argv[3 + i], feed_bytes[i], scratch))) return 2;
    for (int i = 0; i < NR; i++) {
        if (!(refs[i] = read_npy(argv[3 + NF + i], fetch_bytes[i], descr + 4 * i))) return 2;
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
            double w = element(descr + 4 * i, refs[i], k), g = element(descr + 4 * i, args[NF + i], k), e = fabs(g - w);
            if (e > worst) worst = e;
            if (isinf(w)) e = g == w ? 0 : INFINITY;
            if (!(e <= atol + rtol * fabs(w)) && !(isnan(w) && isnan(g)) && bad++ < 3)
                fprintf(stderr, "gpu_driver: fetch %d element %lld: %.9g vs reference %.9g\n", i, k, g, w);
        }
        printf("fetch %d: max abs error %.3g over %lld values\n", i, worst, count);
    }
    return bad ? 1 : 0;
}
