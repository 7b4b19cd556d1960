/* tests/test_npy.c — .npy round trips and the broken-file corpus. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <string.h>

#include "tools/kiln/npy.h"

Test(npy, round_trip_every_dtype_and_rank)
{
    kl_dtype types[] = {KL_F32, KL_I32, KL_I64, KL_U8, KL_BOOL, KL_F64, KL_I8, KL_I16, KL_F16};
    int64_t shapes[][3] = {{0}, {7}, {2, 3}, {2, 1, 4}};
    int ranks[] = {0, 1, 2, 3};
    unsigned char data[512];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 37);
    for (size_t t = 0; t < sizeof types / sizeof *types; t++)
        for (int s = 0; s < 4; s++) {
            kl_diag d = {0};
            const char *path = KILN_BINARY_DIR "/rt.npy";
            cr_assert(npy_save(path, types[t], ranks[s], shapes[s], data, &d), "%s", d.text);
            npy_array a;
            cr_assert(npy_load(path, &a, &d), "%s", d.text);
            cr_assert(a.dtype == types[t] && a.rank == ranks[s]);
            for (int k = 0; k < ranks[s]; k++) cr_assert_eq(a.dims[k], shapes[s][k]);
            cr_assert_eq(memcmp(a.data, data, a.bytes), 0);
            cr_assert_eq((uintptr_t)a.data % 64, 0);
            npy_free(&a);
        }
}

Test(npy, broken_files_are_rejected_with_their_name)
{
    DIR *dir = opendir(KILN_SOURCE_DIR "/tests/corpus/bad_npy");
    cr_assert(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, KILN_SOURCE_DIR "/tests/corpus/bad_npy/%s", e->d_name);
        npy_array a;
        kl_diag d = {0};
        cr_assert_not(npy_load(path, &a, &d), "%s loaded", e->d_name);
        cr_assert(d.text && strstr(d.text, e->d_name), "%s: %s", e->d_name, d.text);
        kl_diag_clear(&d);
        n++;
    }
    closedir(dir);
    cr_assert_geq(n, 8);
}

/* Writes magic, version, header length (2 or 4 bytes), dict and data. */
static void write_npy(const char *path, int version, const char *dict, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    size_t len = strlen(dict);
    unsigned char pre[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)version, 0,
                             (unsigned char)len, (unsigned char)(len >> 8), 0, 0};
    fwrite(pre, 1, version == 1 ? 10 : 12, f);
    fwrite(dict, 1, len, f);
    fwrite(data, 1, n, f);
    fclose(f);
}

Test(npy, versions_2_and_3_scalars_and_vectors)
{
    const char *path = KILN_BINARY_DIR "/v.npy";
    int32_t v[3] = {1, -2, 3};
    kl_diag d = {0};
    npy_array a;
    write_npy(path, 2, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }\n", v, sizeof v);
    cr_assert(npy_load(path, &a, &d), "%s", d.text);
    cr_assert(a.dtype == KL_I32 && a.rank == 1 && a.dims[0] == 3 && ((int32_t *)a.data)[1] == -2);
    npy_free(&a);
    write_npy(path, 3, "{'descr': '<i4', 'fortran_order': False, 'shape': (), }\n", v, 4);
    cr_assert(npy_load(path, &a, &d), "%s", d.text);
    cr_assert(a.rank == 0 && a.bytes == 4 && ((int32_t *)a.data)[0] == 1);
    npy_free(&a);
    write_npy(path, 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (1, 3), }\n", "\1\0\1", 3);
    cr_assert(npy_load(path, &a, &d), "%s", d.text);
    cr_assert(a.dtype == KL_BOOL && a.rank == 2 && a.dims[1] == 3);
    npy_free(&a);
    write_npy(path, 4, "{'descr': '<i4', 'fortran_order': False, 'shape': (), }\n", v, 4);
    cr_assert_not(npy_load(path, &a, &d), "version 4 loaded");
    cr_assert(strstr(d.text, "v.npy"), "%s", d.text);
    kl_diag_clear(&d);
}

/* npy_save puts the data at a 64-byte boundary, as numpy does. */
Test(npy, saved_header_is_64_byte_aligned)
{
    const char *path = KILN_BINARY_DIR "/aligned.npy";
    float x[6] = {0};
    kl_diag d = {0};
    for (int rank = 0; rank <= 3; rank++) {
        cr_assert(npy_save(path, KL_F32, rank, (int64_t[]){1, 2, 3}, x, &d), "%s", d.text);
        FILE *f = fopen(path, "rb");
        unsigned char pre[10];
        cr_assert_eq(fread(pre, 1, 10, f), 10);
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fclose(f);
        size_t hlen = pre[8] | (size_t)pre[9] << 8;
        cr_assert_eq(pre[6], 1);
        cr_assert_eq((10 + hlen) % 64, 0);
        static const size_t numel[] = {1, 1, 2, 6}; /* products of (1, 2, 3)[:rank] */
        cr_assert_eq((size_t)size, 10 + hlen + numel[rank] * sizeof(float));
    }
    cr_assert_not(npy_save(path, KL_F32, 1, (int64_t[]){-1}, x, &d));
    kl_diag_clear(&d);
}

/* The TensorFlow-made fixture tensors load (numpy wrote them). */
Test(npy, numpy_written_files_load)
{
    DIR *dir = opendir(KILN_SOURCE_DIR "/tests/fixtures/mlp");
    cr_assert(dir, "tests/fixtures missing (they are committed)");
    int n = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".npy")) continue;
        char path[1024];
        snprintf(path, sizeof path, KILN_SOURCE_DIR "/tests/fixtures/mlp/%s", e->d_name);
        npy_array a;
        kl_diag d = {0};
        cr_assert(npy_load(path, &a, &d), "%s", d.text);
        cr_assert(a.dtype == KL_F32 && a.rank == 2);
        npy_free(&a);
        n++;
    }
    closedir(dir);
    cr_assert_geq(n, 2);
}
