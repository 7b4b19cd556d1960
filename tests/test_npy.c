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
