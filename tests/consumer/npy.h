/* tests/consumer/npy.h — a float32 .npy of an exact element count into a
 * fresh malloc'd array (NULL with a message otherwise); C and C++. */
#ifndef CONSUMER_NPY_H
#define CONSUMER_NPY_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *consumer_read_npy(const char *path, size_t count)
{
    FILE *f = fopen(path, "rb");
    unsigned char head[10];
    char dict[4096] = {0};
    float *data = NULL;
    if (!f) {
        fprintf(stderr, "consumer: cannot open %s\n", path);
        return NULL;
    }
    if (fread(head, 1, 10, f) == 10 && !memcmp(head, "\x93NUMPY\x01", 7)) {
        size_t hlen = (size_t)(head[8] | head[9] << 8);
        if (hlen < sizeof dict && fread(dict, 1, hlen, f) == hlen && strstr(dict, "'<f4'") &&
            (data = (float *)malloc(count * sizeof *data + 1)) != NULL && fread(data, sizeof *data, count, f) != count) {
            free(data);
            data = NULL;
        }
    }
    fclose(f);
    if (!data) fprintf(stderr, "consumer: %s is not a float32 .npy of %zu elements\n", path, count);
    return data;
}

/* Largest |got - want| over n; counts elements beyond atol + rtol * |want|. */
static double consumer_max_err(const float *got, const float *want, size_t n, double rtol, double atol, int *bad)
{
    double worst = 0;
    *bad = 0;
    for (size_t i = 0; i < n; i++) {
        double e = got[i] > want[i] ? (double)got[i] - want[i] : (double)want[i] - got[i];
        double lim = atol + rtol * (want[i] < 0 ? -(double)want[i] : (double)want[i]);
        if (!(e <= lim)) (*bad)++;
        if (e > worst || e != e) worst = e;
    }
    return worst;
}
#endif
