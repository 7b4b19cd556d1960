/* tests/support/npy_close.c — `npy_close A.npy B.npy RTOL`: exits 0 when two
 * float32 .npy files of one size agree norm-wise (max |a-b| <= RTOL * max |b|),
 * printing the error; 1 otherwise.  `npy_close --text A.txt B.npy RTOL`: A
 * holds numbers (one a line), compared element-wise (|a-b| <= RTOL * |b|).
 * Built by tests/sh/train.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *load(const char *path, long *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char h[10];
    char dict[4096] = {0};
    float *d = NULL;
    if (f && fread(h, 1, 10, f) == 10 && !memcmp(h, "\x93NUMPY", 6) && h[6] == 1) {
        long hl = h[8] | h[9] << 8, start, end;
        if (hl < (long)sizeof dict && fread(dict, 1, (size_t)hl, f) == (size_t)hl && strstr(dict, "'<f4'")) {
            start = ftell(f), fseek(f, 0, SEEK_END), end = ftell(f), fseek(f, start, SEEK_SET);
            *n = (end - start) / 4;
            if ((d = malloc((size_t)*n * 4 + 4)) && fread(d, 4, (size_t)*n, f) != (size_t)*n) free(d), d = NULL;
        }
    }
    if (f) fclose(f);
    return d;
}

static float *load_text(const char *path, long *n)
{
    FILE *f = fopen(path, "r");
    long cap = 1024;
    float *d = f ? malloc((size_t)cap * sizeof *d) : NULL;
    *n = 0;
    while (d && *n < cap && fscanf(f, "%f", &d[*n]) == 1) ++*n;
    if (f) fclose(f);
    return d;
}

int main(int argc, char **argv)
{
    long na = 0, nb = 0;
    if (argc == 5 && !strcmp(argv[1], "--text")) {
        float *a = load_text(argv[2], &na), *b = load(argv[3], &nb);
        if (!a || !b || na != nb || !na) return fprintf(stderr, "npy_close: cannot compare %s (%ld) and %s (%ld)\n", argv[2], na, argv[3], nb), 2;
        double err = 0;
        for (long i = 0; i < na; i++) err = fmax(err, isnan(a[i]) ? INFINITY : fabs((double)a[i] - b[i]) / fmax(fabs(b[i]), 1e-6));
        printf("%s: %.3g (element-wise, %ld values)\n", argv[2], err, na);
        return err <= atof(argv[4]) ? 0 : 1;
    }
    float *a = argc == 4 ? load(argv[1], &na) : NULL, *b = argc == 4 ? load(argv[2], &nb) : NULL;
    if (!a || !b || na != nb) return fprintf(stderr, "npy_close: cannot compare %s and %s\n", argc > 2 ? argv[1] : "?", argc > 2 ? argv[2] : "?"), 2;
    double big = 1e-6, err = 0;
    for (long i = 0; i < na; i++) big = fmax(big, fabs(b[i])), err = fmax(err, isnan(a[i]) ? INFINITY : fabs((double)a[i] - b[i]));
    printf("%s: %.3g\n", argv[1], err / big);
    return err / big <= atof(argv[3]) ? 0 : 1;
}
