/* bench/driver.c — times an object made by `kiln compile --prefix model`.
 * Built per model:  cc -O2 -include model.h bench/driver.c model.o
 *
 *   driver WARMUP ITERS FEED.npy...
 *
 * Prints "median_ms M p10_ms A p90_ms B" over ITERS timed calls (each timed
 * alone, after WARMUP untimed ones).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const long long feed_bytes[] = MODEL_FEED_BYTES_LIST, fetch_bytes[] = MODEL_FETCH_BYTES_LIST;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *read_npy(const char *path, long long want)
{
    FILE *f = fopen(path, "rb");
    unsigned char pre[12];
    void *data = NULL;
    if (f && fread(pre, 1, 10, f) == 10) {
        size_t hlen = pre[8] | (size_t)pre[9] << 8;
        if (pre[6] > 1 && fread(pre + 10, 1, 2, f) == 2) hlen |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        fseek(f, (long)(pre[6] > 1 ? 12 : 10) + (long)hlen, SEEK_SET);
        data = malloc((size_t)want + 64);
        if (fread(data, 1, (size_t)want, f) != (size_t)want) free(data), data = NULL;
    }
    if (f) fclose(f);
    return data;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 3 + MODEL_NUM_FEEDS) return fprintf(stderr, "usage: driver WARMUP ITERS FEED.npy x%d\n", MODEL_NUM_FEEDS), 2;
    int warmup = atoi(argv[1]), iters = atoi(argv[2]);
    void *args[MODEL_NUM_FEEDS + MODEL_NUM_FETCHES + 1];
    for (int i = 0; i < MODEL_NUM_FEEDS; i++)
        if (!(args[i] = read_npy(argv[3 + i], feed_bytes[i]))) return fprintf(stderr, "driver: bad feed %s\n", argv[3 + i]), 2;
    for (int i = 0; i < MODEL_NUM_FETCHES; i++) args[MODEL_NUM_FEEDS + i] = aligned_alloc(64, ((size_t)fetch_bytes[i] + 127) & ~(size_t)63);
    void *temp = aligned_alloc(64, (MODEL_TEMP_SIZE + 127) / 64 * 64);
    for (int i = 0; i < warmup; i++) model_run_args(args, temp);
    double *t = malloc(sizeof *t * (size_t)iters);
    for (int i = 0; i < iters; i++) {
        double t0 = now();
        model_run_args(args, temp);
        t[i] = (now() - t0) * 1e3;
    }
    qsort(t, (size_t)iters, sizeof *t, cmp);
    printf("median_ms %.6f p10_ms %.6f p90_ms %.6f\n", t[iters / 2], t[iters / 10], t[iters * 9 / 10]);
    return 0;
}
