/* tools/kiln/npy.c — NumPy .npy files: the format of feeds, fetches and fixtures.
 *
 * Reads versions 1.0-3.0, little-endian, C order; writes 1.0 with the header
 * padded so the data starts at a 64-byte boundary.  Every field of the header
 * is checked: a bad file is an error naming it, never a crash.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"

static const struct {
    const char *descr;
    kl_dtype dtype;
} descrs[] = {
    {"<f4", KL_F32}, {"<f2", KL_F16}, {"<f8", KL_F64}, {"|i1", KL_I8}, {"<i2", KL_I16},
    {"<i4", KL_I32}, {"<i8", KL_I64}, {"|u1", KL_U8}, {"|b1", KL_BOOL},
};

static bool fail(kl_diag *d, const char *path, const char *why)
{
    kl_diag_error(d, "%s: %s", path, why);
    return false;
}

/* The value text after 'key': in the header dict, or NULL. */
static const char *dict_value(const char *dict, const char *key)
{
    const char *k = strstr(dict, key);
    if (!k) return NULL;
    k = strchr(k + strlen(key), ':');
    if (!k) return NULL;
    for (k++; *k == ' '; k++) {}
    return k;
}

/* "()", "(7,)", "(2, 3)": non-negative integers separated by commas. */
static bool parse_shape(const char *s, npy_array *a)
{
    if (!s || *s != '(') return false;
    a->rank = 0;
    for (s++;;) {
        while (*s == ' ') s++;
        if (*s == ')') return true;
        if (*s < '0' || *s > '9' || a->rank == IR_MAX_RANK) return false;
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || v > (1ll << 40)) return false;
        a->dims[a->rank++] = v;
        for (s = end; *s == ' '; s++) {}
        if (*s == ',') s++;
        else if (*s != ')') return false;
    }
}

/* Element count of the shape, or -1 when it overflows or passes `limit`. */
static int64_t checked_numel(const npy_array *a, int64_t limit)
{
    int64_t numel = 1;
    for (int i = 0; i < a->rank; i++) {
        if (a->dims[i] && numel > limit / a->dims[i]) return -1;
        numel *= a->dims[i];
    }
    return numel;
}

/* Bytes left in f after the current position, or -1. */
static int64_t bytes_left(FILE *f)
{
    long at = ftell(f);
    if (at < 0 || fseek(f, 0, SEEK_END)) return -1;
    long end = ftell(f);
    if (end < 0 || fseek(f, at, SEEK_SET)) return -1;
    return (int64_t)end - at;
}

static bool parse_header(const char *dict, npy_array *a, const char *path, kl_diag *d)
{
    const char *descr = dict_value(dict, "'descr'"), *order = dict_value(dict, "'fortran_order'");
    if (!descr || !order) return fail(d, path, "malformed .npy header");
    bool known = false;
    for (size_t i = 0; i < sizeof descrs / sizeof *descrs; i++)
        if (!strncmp(descr + 1, descrs[i].descr, 3) && descr[4] == descr[0]) a->dtype = descrs[i].dtype, known = true;
    if (!known) return fail(d, path, "unsupported .npy dtype (want float32, float16, float64, int8/16/32/64, uint8, bool)");
    if (strncmp(order, "False", 5)) return fail(d, path, "Fortran-order .npy arrays are not supported");
    if (!parse_shape(dict_value(dict, "'shape'"), a)) return fail(d, path, "malformed shape in .npy header");
    return true;
}

/* The data after the header: exactly as many bytes as the shape says.  The
 * size is checked against the file before allocating, so a header that
 * declares a huge shape costs nothing. */
static bool read_data(FILE *f, npy_array *a, const char *path, kl_diag *d)
{
    size_t elem = kl_dtype_size(a->dtype);
    int64_t numel = checked_numel(a, INT64_MAX / (int64_t)elem), left = bytes_left(f);
    if (numel < 0) return fail(d, path, "shape in .npy header is too large");
    a->bytes = (size_t)numel * elem;
    if (left < 0) return fail(d, path, "cannot read the file");
    if ((uint64_t)left < a->bytes) return fail(d, path, "file is shorter than its shape says");
    if ((uint64_t)left > a->bytes) return fail(d, path, "file is longer than its shape says");
    a->data = aligned_alloc(64, (a->bytes + 64) & ~(size_t)63);
    if (!a->data) return fail(d, path, "out of memory");
    if (fread(a->data, 1, a->bytes, f) != a->bytes) return fail(d, path, "cannot read the data");
    return true;
}

bool npy_load(const char *path, npy_array *a, kl_diag *d)
{
    memset(a, 0, sizeof *a);
    FILE *f = fopen(path, "rb");
    if (!f) {
        kl_diag_error(d, "%s: cannot open: %s", path, strerror(errno));
        return false;
    }
    unsigned char pre[12];
    char *dict = NULL;
    bool ok = fread(pre, 1, 10, f) == 10 && !memcmp(pre, "\x93NUMPY", 6) && pre[6] >= 1 && pre[6] <= 3;
    size_t hlen = 0;
    if (ok && pre[6] == 1) hlen = pre[8] | (size_t)pre[9] << 8;
    else if (ok && fread(pre + 10, 1, 2, f) == 2) hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    else ok = false;
    if (!ok || hlen == 0 || hlen > (1 << 20)) {
        fclose(f);
        return fail(d, path, "not a .npy file (bad magic or header)");
    }
    dict = calloc(1, hlen + 1);
    ok = dict && fread(dict, 1, hlen, f) == hlen && parse_header(dict, a, path, d);
    free(dict);
    if (ok) ok = read_data(f, a, path, d);
    else if (kl_diag_ok(d)) {
        fail(d, path, "truncated .npy header");
    }
    fclose(f);
    if (!ok) npy_free(a);
    return ok;
}

bool npy_save(const char *path, kl_dtype dtype, int rank, const int64_t *dims, const void *data, kl_diag *d)
{
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof descrs / sizeof *descrs; i++)
        if (descrs[i].dtype == dtype) descr = descrs[i].descr;
    if (!descr) return fail(d, path, "dtype has no .npy form");
    if (rank < 0 || rank > IR_MAX_RANK) return fail(d, path, "rank out of range");
    for (int i = 0; i < rank; i++)
        if (dims[i] < 0) return fail(d, path, "negative dimension");
    char dict[512], shape[256] = "";
    size_t at = 0;
    int64_t numel = 1;
    for (int i = 0; i < rank; i++) {
        at += (size_t)snprintf(shape + at, sizeof shape - at, "%lld,%s", (long long)dims[i], i + 1 < rank ? " " : "");
        numel *= dims[i];
    }
    if (rank > 1) shape[at - 1] = 0; /* (2, 3) not (2, 3,) */
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape);
    int total = (10 + n + 1 + 63) / 64 * 64; /* magic + dict + '\n', padded */
    memset(dict + n, ' ', (size_t)(total - 10 - n - 1));
    dict[total - 10 - 1] = '\n';
    FILE *f = fopen(path, "wb");
    if (!f) {
        kl_diag_error(d, "%s: cannot write: %s", path, strerror(errno));
        return false;
    }
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(total - 10), (unsigned char)((total - 10) >> 8)};
    size_t bytes = (size_t)numel * kl_dtype_size(dtype);
    bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)(total - 10), f) == (size_t)(total - 10) &&
              fwrite(data, 1, bytes, f) == bytes;
    ok = (fclose(f) == 0) && ok;
    return ok ? true : fail(d, path, "write failed");
}

void npy_free(npy_array *a)
{
    free(a->data);
    a->data = NULL;
}
