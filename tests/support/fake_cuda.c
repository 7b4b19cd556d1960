/* tests/support/fake_cuda.c — a stand-in libcuda.so.1 for tests without a
 * GPU (tests/sh/gpu.sh), loaded through KILN_CUDA_DRIVER.  Device memory is
 * host memory; a launch runs nothing but is logged.  FAKE_CUDA selects:
 *   nodevice  cuInit fails with CUDA_ERROR_NO_DEVICE (100)
 *   cc75      the device is sm_75 (older than any fat binary Kiln makes)
 *   oom       every cuMemAlloc fails with CUDA_ERROR_OUT_OF_MEMORY (2)
 *   (unset)   a device sm_90; FAKE_CUDA_LOG names a file that gets one line
 *             per load, allocation, copy and launch
 *   cc -shared -fPIC fake_cuda.c -o libfakecuda.so
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *mode(void) { const char *m = getenv("FAKE_CUDA"); return m ? m : ""; }

static void logf_(const char *fmt, ...)
{
    const char *path = getenv("FAKE_CUDA_LOG");
    if (!path) return;
    FILE *f = fopen(path, "a");
    if (!f) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

int cuInit(unsigned flags) { (void)flags; return strcmp(mode(), "nodevice") ? 0 : 100; }
int cuDeviceGetCount(int *n) { *n = 1; return 0; }
int cuDeviceGet(int *d, int ordinal) { *d = ordinal; return 0; }
int cuDeviceGetAttribute(int *v, int attr, int dev)
{
    (void)dev;
    int cc75 = !strcmp(mode(), "cc75");
    *v = attr == 75 ? (cc75 ? 7 : 9) : attr == 76 ? (cc75 ? 5 : 0) : 0;
    return 0;
}
static int ctx_dummy;
int cuDevicePrimaryCtxRetain(void **ctx, int dev) { (void)dev; *ctx = &ctx_dummy; return 0; }
int cuDevicePrimaryCtxRelease_v2(int dev) { (void)dev; logf_("release"); return 0; }
int cuCtxSetCurrent(void *ctx) { return ctx == &ctx_dummy ? 0 : 201; }
int cuCtxSynchronize(void) { return 0; }

static const unsigned char *image;
int cuModuleLoadData(void **mod, const void *data)
{
    const unsigned char *p = data;
    if (!(p[0] == 0x50 && p[1] == 0xed && p[2] == 0x55 && p[3] == 0xba)) return 200; /* not a fat binary */
    image = p;
    uint64_t size;
    memcpy(&size, p + 8, 8);
    logf_("load fatbin %llu bytes", (unsigned long long)size + 16);
    *mod = (void *)p;
    return 0;
}
int cuModuleUnload(void *mod) { (void)mod; logf_("unload"); return 0; }
int cuModuleGetFunction(void **fn, void *mod, const char *name)
{
    /* the name must be in the fat binary (the PTX's .entry, the cubins' symbols) */
    const unsigned char *p = mod;
    uint64_t size;
    memcpy(&size, p + 8, 8);
    size_t n = strlen(name);
    for (uint64_t i = 0; i + n <= size + 16; i++)
        if (!memcmp(p + i, name, n)) return *fn = strdup(name), 0;
    return 500; /* CUDA_ERROR_NOT_FOUND */
}
int cuMemAlloc_v2(unsigned long long *p, size_t n)
{
    if (!strcmp(mode(), "oom")) return 2;
    void *q = calloc(1, n ? n : 1);
    if (!q) return 2;
    *p = (unsigned long long)(uintptr_t)q;
    logf_("alloc %zu", n);
    return 0;
}
int cuMemFree_v2(unsigned long long p) { free((void *)(uintptr_t)p); return 0; }
int cuMemcpyHtoD_v2(unsigned long long d, const void *s, size_t n) { memcpy((void *)(uintptr_t)d, s, n); logf_("htod %zu", n); return 0; }
int cuMemcpyDtoH_v2(void *d, unsigned long long s, size_t n) { memcpy(d, (void *)(uintptr_t)s, n); logf_("dtoh %zu", n); return 0; }
int cuLaunchKernel(void *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned shmem,
                   void *stream, void **params, void **extra)
{
    (void)gy, (void)gz, (void)by, (void)bz, (void)shmem, (void)stream, (void)extra, (void)params;
    logf_("launch %s grid %u block %u", (const char *)fn, gx, bx);
    return 0;
}
int cuGetErrorString(int r, const char **s)
{
    *s = r == 2 ? "out of memory" : r == 100 ? "no CUDA-capable device is detected" : "fake error";
    return 0;
}
