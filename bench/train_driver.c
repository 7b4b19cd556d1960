/* bench/train_driver.c — times the train entry of an object made by
 *   kiln compile MODEL --prefix model --entry init=::INIT --entry train=FEEDS::TRAIN
 * Built per row by bench/train.py:
 *   cc -O2 -include model.h -D'TRAIN_CALL(f, s, t)=model_train(f[0], ..., s, t)' bench/train_driver.c model.o
 *
 *   train_driver WARMUP ITERS FEED.npy...
 *
 * Runs init once, then WARMUP untimed and ITERS timed train steps (each
 * timed alone; the state carries over, as in training).  Prints
 * "median_ms M p10_ms A p90_ms B state_bytes S temp_bytes T".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef TRAIN_CALL
#error "define TRAIN_CALL(feeds, state, temp)"
#endif
#define MAXV(a, b) ((a) > (b) ? (a) : (b))
#define TEMP_BYTES MAXV(MODEL_INIT_TEMP_SIZE, MODEL_TRAIN_TEMP_SIZE)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The data of a .npy file (any dtype; the entry's types are the header's). */
static void *read_npy(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char pre[12];
    void *data = NULL;
    if (f && fread(pre, 1, 10, f) == 10 && !memcmp(pre, "\x93NUMPY", 6)) {
        size_t hlen = pre[8] | (size_t)pre[9] << 8;
        if (pre[6] > 1 && fread(pre + 10, 1, 2, f) == 2) hlen |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        long start = (long)(pre[6] > 1 ? 12 : 10) + (long)hlen;
        fseek(f, 0, SEEK_END);
        long end = ftell(f);
        fseek(f, start, SEEK_SET);
        if (end > start && (data = malloc((size_t)(end - start) + 64)) && fread(data, 1, (size_t)(end - start), f) != (size_t)(end - start))
            free(data), data = NULL;
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
    if (argc < 3) return fprintf(stderr, "usage: train_driver WARMUP ITERS FEED.npy...\n"), 2;
    int warmup = atoi(argv[1]), iters = atoi(argv[2]);
    void *f[16] = {0};
    for (int i = 3; i < argc && i < 19; i++)
        if (!(f[i - 3] = read_npy(argv[i]))) return fprintf(stderr, "train_driver: bad feed %s\n", argv[i]), 2;
    unsigned char *state = aligned_alloc(MODEL_STATE_ALIGN, (MODEL_STATE_SIZE + 63) / 64 * 64);
    void *temp = aligned_alloc(64, (TEMP_BYTES + 127) / 64 * 64);
    double *t = malloc(sizeof *t * (size_t)(iters > 0 ? iters : 1));
    if (!state || !temp || !t || iters < 1) return 2;
    memset(state, 0, MODEL_STATE_SIZE);
    if (model_init(state, temp)) return fprintf(stderr, "train_driver: init failed\n"), 1;
    for (int i = 0; i < warmup; i++)
        if (TRAIN_CALL(f, state, temp)) return fprintf(stderr, "train_driver: train failed\n"), 1;
    for (int i = 0; i < iters; i++) {
        double t0 = now();
        TRAIN_CALL(f, state, temp);
        t[i] = (now() - t0) * 1e3;
    }
    qsort(t, (size_t)iters, sizeof *t, cmp);
    printf("median_ms %.6f p10_ms %.6f p90_ms %.6f state_bytes %d temp_bytes %d\n", t[iters / 2], t[iters / 10],
           t[iters * 9 / 10], (int)MODEL_STATE_SIZE, (int)MODEL_TRAIN_TEMP_SIZE);
    return 0;
}
