/* tests/support/aot_driver.c — runs any object `kiln compile --prefix model`
 * made, on .npy inputs, and compares with .npy references.  Built per model
 * with the generated header:  cc -include model.h aot_driver.c model.o
 *
 *   aot_driver RTOL ATOL FEED.npy... REF.npy...
 *
 * Prints the max abs error per fetch; exits 1 past the tolerance.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const long long feed_bytes[] = MODEL_FEED_BYTES_LIST, fetch_bytes[] = MODEL_FETCH_BYTES_LIST;

/* The payload of a little-endian .npy (v1-v3) and its dtype code. */
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
            if (fread(data, 1, (size_t)want, f) != (size_t)want) free(data), data = NULL;
        }
        free(h);
    }
    if (f) fclose(f);
    if (!data) fprintf(stderr, "aot_driver: %s: not a .npy of %lld bytes\n", path, want);
    return data;
}

static double element(const char *descr, const void *p, long long i)
{
    if (!strcmp(descr, "<f4")) return ((const float *)p)[i];
    if (!strcmp(descr, "<i4")) return ((const int32_t *)p)[i];
    if (!strcmp(descr, "<i8")) return (double)((const int64_t *)p)[i];
    return ((const uint8_t *)p)[i];
}

static long long elem_size(const char *descr) { return descr[2] - '0'; }

int main(int argc, char **argv)
{
    if (argc != 3 + MODEL_NUM_FEEDS + MODEL_NUM_FETCHES) {
        fprintf(stderr, "usage: aot_driver RTOL ATOL FEED.npy x%d REF.npy x%d\n", MODEL_NUM_FEEDS, MODEL_NUM_FETCHES);
        return 2;
    }
    double rtol = atof(argv[1]), atol = atof(argv[2]);
    void *args[MODEL_NUM_FEEDS + MODEL_NUM_FETCHES + 1];
    char descr[8] = "";
    for (int i = 0; i < MODEL_NUM_FEEDS; i++)
        if (!(args[i] = read_npy(argv[3 + i], feed_bytes[i], descr))) return 2;
    for (int i = 0; i < MODEL_NUM_FETCHES; i++) args[MODEL_NUM_FEEDS + i] = calloc(1, (size_t)fetch_bytes[i] + 64);
    void *temp = aligned_alloc(MODEL_TEMP_ALIGN, (MODEL_TEMP_SIZE + MODEL_TEMP_ALIGN) / MODEL_TEMP_ALIGN * MODEL_TEMP_ALIGN);
    if (model_run_args(args, temp) != 0) return fprintf(stderr, "aot_driver: run failed\n"), 1;
    int bad = 0;
    for (int i = 0; i < MODEL_NUM_FETCHES; i++) {
        void *ref = read_npy(argv[3 + MODEL_NUM_FEEDS + i], fetch_bytes[i], descr);
        if (!ref) return 2;
        long long n = fetch_bytes[i] / elem_size(descr);
        double worst = 0;
        for (long long k = 0; k < n; k++) {
            double w = element(descr, ref, k), g = element(descr, args[MODEL_NUM_FEEDS + i], k);
            double e = fabs(g - w);
            if (e > worst) worst = e;
            if (!(e <= atol + rtol * fabs(w)) && !(isnan(w) && isnan(g)) && bad++ < 3)
                fprintf(stderr, "aot_driver: fetch %d element %lld: %.9g vs reference %.9g\n", i, k, g, w);
        }
        printf("fetch %d: max abs error %.3g over %lld values\n", i, worst, n);
        free(ref);
    }
    return bad ? 1 : 0;
}
