/* samples/common/npy.h — the samples' .npy reader: a float32 array of an
 * exact element count, enough for a sample (tools/kiln/npy.c is the full
 * reader).  Header-only, so a sample stays one `cc main.c model.o` line. */
#ifndef KILN_SAMPLES_NPY_H
#define KILN_SAMPLES_NPY_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads a little-endian float32 .npy (format 1.0) of exactly `count`
 * elements into a fresh malloc'd array; NULL with a message naming `who`
 * and the file otherwise. */
static float *sample_read_npy_f32(const char *who, const char *path, size_t count)
{
    FILE *f = fopen(path, "rb");
    if (!f) return fprintf(stderr, "%s: cannot open %s\n", who, path), (float *)NULL;
    unsigned char head[10];
    float *data = NULL;
    if (fread(head, 1, 10, f) == 10 && !memcmp(head, "\x93NUMPY", 6)) {
        long hlen = head[6] == 1 ? head[8] | head[9] << 8 : -1;
        char dict[4096] = {0};
        if (hlen > 0 && hlen < (long)sizeof dict && fread(dict, 1, (size_t)hlen, f) == (size_t)hlen &&
            strstr(dict, "'<f4'") && !strstr(dict, "'fortran_order': True") &&
            (data = malloc(count * sizeof *data + 1)) && fread(data, sizeof *data, count, f) != count) {
            free(data);
            data = NULL;
        }
    }
    fclose(f);
    if (!data) fprintf(stderr, "%s: %s is not a float32 .npy with %zu elements\n", who, path, count);
    return data;
}

#endif
