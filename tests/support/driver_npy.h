/* tests/support/driver_npy.h — the .npy reading the generated-object drivers
 * share (aot_driver.c on every hosted target, gpu_driver.c): header-only, so
 * each driver stays one file any C compiler builds with -include model.h. */
#ifndef KILN_DRIVER_NPY_H
#define KILN_DRIVER_NPY_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The payload of a little-endian .npy (v1-v3) of `want` bytes and its
 * dtype code ("<f4", 3 characters) into descr; NULL (reported as `who`)
 * if the file is not that. */
static void *read_npy(const char *who, const char *path, long long want, char *descr)
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
    if (!data) fprintf(stderr, "%s: %s: not a .npy of %lld bytes\n", who, path, want);
    return data;
}

static double npy_half(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m | 1024, e - 25);
    return (h & 0x8000) ? -v : v;
}

/* Element i of an array of dtype code descr, as double. */
static double npy_element(const char *descr, const void *p, long long i)
{
    if (!strcmp(descr, "<f4")) return ((const float *)p)[i];
    if (!strcmp(descr, "<f8")) return ((const double *)p)[i];
    if (!strcmp(descr, "<f2")) return npy_half(((const uint16_t *)p)[i]);
    if (!strcmp(descr, "<i2")) return ((const int16_t *)p)[i];
    if (!strcmp(descr, "<i4")) return ((const int32_t *)p)[i];
    if (!strcmp(descr, "<i8")) return (double)((const int64_t *)p)[i];
    if (!strcmp(descr, "|i1")) return ((const int8_t *)p)[i];
    return ((const uint8_t *)p)[i];
}

#endif
