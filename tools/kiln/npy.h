/* tools/kiln/npy.h — NumPy .npy files (format 1.0/2.0/3.0, little-endian, C order). */
#ifndef KILN_NPY_H
#define KILN_NPY_H

#include "../../ir/ir.h"

typedef struct npy_array {
    kl_dtype dtype;
    int rank;
    int64_t dims[IR_MAX_RANK];
    void *data; /* 64-byte aligned, free with npy_free */
    size_t bytes;
} npy_array;

bool npy_load(const char *path, npy_array *out, kl_diag *d);
bool npy_save(const char *path, kl_dtype dtype, int rank, const int64_t *dims, const void *data, kl_diag *d);
void npy_free(npy_array *a);

#endif
