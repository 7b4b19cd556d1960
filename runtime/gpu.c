/* runtime/gpu.c — the CUDA driver API behind the host objects of
 * `kiln compile --target cuda` (include/kiln/gpu.h, docs/gpu.md).
 *
 * The driver is opened with dlopen (libcuda.so.1, or $KILN_CUDA_DRIVER):
 * libkilnrt has no link-time CUDA dependency and builds without the CUDA
 * toolkit.  The few driver types are declared here by their ABI (handles
 * are pointers, CUdeviceptr a 64-bit integer, results ints).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/gpu.h"

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext, *CUmodule, *CUfunction, *CUstream;
typedef unsigned long long CUdeviceptr;

enum {
    CU_OUT_OF_MEMORY = 2, CU_NO_DEVICE = 100, CU_INVALID_DEVICE = 101, CU_INVALID_IMAGE = 200,
    CU_NO_BINARY_FOR_GPU = 209, CU_INVALID_PTX = 218, CU_UNSUPPORTED_PTX_VERSION = 222,
    CU_ATTR_CC_MAJOR = 75, CU_ATTR_CC_MINOR = 76,
};

static struct {
    void *lib;
    CUresult (*Init)(unsigned);
    CUresult (*DeviceGetCount)(int *);
    CUresult (*DeviceGet)(CUdevice *, int);
    CUresult (*DeviceGetAttribute)(int *, int, CUdevice);
    CUresult (*DevicePrimaryCtxRetain)(CUcontext *, CUdevice);
    CUresult (*DevicePrimaryCtxRelease)(CUdevice);
    CUresult (*CtxSetCurrent)(CUcontext);
    CUresult (*CtxSynchronize)(void);
    CUresult (*ModuleLoadData)(CUmodule *, const void *);
    CUresult (*ModuleUnload)(CUmodule);
    CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
    CUresult (*MemAlloc)(CUdeviceptr *, size_t);
    CUresult (*MemFree)(CUdeviceptr);
    CUresult (*MemcpyHtoD)(CUdeviceptr, const void *, size_t);
    CUresult (*MemcpyDtoH)(void *, CUdeviceptr, size_t);
    CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                             CUstream, void **, void **);
    CUresult (*GetErrorString)(CUresult, const char **);
    int code;        /* KILN_GPU_OK once loaded */
    char error[512]; /* why loading failed */
} cu;

static _Thread_local char last_error[768];

const char *kiln_rt_gpu_error(void) { return last_error; }

static int fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return code;
}

static const char *cu_message(CUresult r)
{
    const char *s = NULL;
    if (cu.GetErrorString && !cu.GetErrorString(r, &s) && s) return s;
    return "unknown CUDA error";
}

static int cu_fail(CUresult r, int code, const char *prefix, const char *what)
{
    if (r == CU_OUT_OF_MEMORY) code = KILN_GPU_OOM;
    return fail(code, "%s: %s: CUDA error %d (%s)", prefix ? prefix : "kiln", what, r, cu_message(r));
}

static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load_driver(void)
{
    const char *path = getenv("KILN_CUDA_DRIVER");
    if (!path || !*path) path = "libcuda.so.1";
    cu.lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!cu.lib) {
        const char *e = dlerror();
        bool named = e && !strncmp(e, path, strlen(path)); /* dlerror usually starts with the path */
        snprintf(cu.error, sizeof cu.error, "no CUDA driver (%s%s%s)", named ? "" : path, named ? "" : ": ", e ? e : "cannot open");
        cu.code = KILN_GPU_NO_DRIVER;
        return;
    }
    static const struct {
        const char *name;
        size_t offset;
    } fns[] = {
#define F(field, sym) {sym, offsetof(__typeof__(cu), field)}
        F(Init, "cuInit"), F(DeviceGetCount, "cuDeviceGetCount"), F(DeviceGet, "cuDeviceGet"),
        F(DeviceGetAttribute, "cuDeviceGetAttribute"), F(DevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"),
        F(DevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"), F(CtxSetCurrent, "cuCtxSetCurrent"),
        F(CtxSynchronize, "cuCtxSynchronize"), F(ModuleLoadData, "cuModuleLoadData"), F(ModuleUnload, "cuModuleUnload"),
        F(ModuleGetFunction, "cuModuleGetFunction"), F(MemAlloc, "cuMemAlloc_v2"), F(MemFree, "cuMemFree_v2"),
        F(MemcpyHtoD, "cuMemcpyHtoD_v2"), F(MemcpyDtoH, "cuMemcpyDtoH_v2"), F(LaunchKernel, "cuLaunchKernel"),
        F(GetErrorString, "cuGetErrorString"),
#undef F
    };
    for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) {
        void *p = dlsym(cu.lib, fns[i].name);
        if (!p) {
            snprintf(cu.error, sizeof cu.error, "no CUDA driver (%s lacks %s: too old, or not the driver)", path, fns[i].name);
            cu.code = KILN_GPU_NO_DRIVER;
            return;
        }
        memcpy((char *)&cu + fns[i].offset, &p, sizeof p);
    }
    CUresult r = cu.Init(0);
    if (r) {
        snprintf(cu.error, sizeof cu.error, "no CUDA device (cuInit: CUDA error %d, %s)", r, cu_message(r));
        cu.code = KILN_GPU_NO_DEVICE;
        return;
    }
    cu.code = KILN_GPU_OK;
}

struct kiln_gpu {
    const kiln_gpu_plan *plan;
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CUfunction *fns;
    CUdeviceptr weights, arena, *io; /* io: device buffers of run_host, allocated on first use */
    CUdeviceptr *ptrs;               /* one launch's argument values */
    void **params;                   /* pointers to them, as cuLaunchKernel wants */
    int64_t max_args;
};

void kiln_rt_gpu_free(kiln_gpu *g)
{
    if (!g) return;
    if (g->ctx && cu.CtxSetCurrent(g->ctx) == 0) {
        if (g->io)
            for (int64_t i = 0; i < g->plan->n_feeds + g->plan->n_fetches; i++)
                if (g->io[i]) cu.MemFree(g->io[i]);
        if (g->weights) cu.MemFree(g->weights);
        if (g->arena) cu.MemFree(g->arena);
        if (g->mod) cu.ModuleUnload(g->mod);
        cu.DevicePrimaryCtxRelease(g->dev);
    }
    free(g->io), free(g->fns), free(g->ptrs), free(g->params), free(g);
}

int kiln_rt_gpu_init(const kiln_gpu_plan *plan, kiln_gpu **out, const kiln_gpu_options *opt)
{
    if (!out) return fail(KILN_GPU_INVALID, "kiln_rt_gpu_init: out is NULL");
    *out = NULL;
    if (!plan || plan->version != KILN_GPU_PLAN_VERSION)
        return fail(KILN_GPU_INVALID, "kiln_rt_gpu_init: the object's plan is version %lld, this libkilnrt reads %d",
                    plan ? (long long)plan->version : -1LL, KILN_GPU_PLAN_VERSION);
    const char *P = plan->prefix;
    pthread_once(&load_once, load_driver);
    if (cu.code) return fail(cu.code, "%s: %s", P, cu.error);
    int ordinal = opt ? opt->device : 0, count = 0;
    CUresult r = cu.DeviceGetCount(&count);
    if (r) return cu_fail(r, KILN_GPU_NO_DEVICE, P, "cuDeviceGetCount");
    if (count == 0) return fail(KILN_GPU_NO_DEVICE, "%s: no CUDA device", P);
    if (ordinal < 0 || ordinal >= count)
        return fail(KILN_GPU_NO_DEVICE, "%s: no CUDA device %d (this machine has %d)", P, ordinal, count);
    kiln_gpu *g = calloc(1, sizeof *g);
    if (!g) return fail(KILN_GPU_OOM, "%s: out of host memory", P);
    g->plan = plan;
    int major = 0, minor = 0;
    if ((r = cu.DeviceGet(&g->dev, ordinal)) || (r = cu.DeviceGetAttribute(&major, CU_ATTR_CC_MAJOR, g->dev)) ||
        (r = cu.DeviceGetAttribute(&minor, CU_ATTR_CC_MINOR, g->dev))) {
        free(g);
        return cu_fail(r, KILN_GPU_NO_DEVICE, P, "cuDeviceGet");
    }
    if (major * 10 + minor < plan->min_arch) {
        free(g);
        return fail(KILN_GPU_ARCH, "%s: device %d is sm_%d%d; the object was compiled for %s (Kiln's cuda target needs sm_80 or newer)",
                    P, ordinal, major, minor, plan->archs);
    }
    if ((r = cu.DevicePrimaryCtxRetain(&g->ctx, g->dev))) {
        free(g);
        return cu_fail(r, KILN_GPU_NO_DEVICE, P, "cuDevicePrimaryCtxRetain");
    }
    int code = KILN_GPU_OK;
    if ((r = cu.CtxSetCurrent(g->ctx))) code = cu_fail(r, KILN_GPU_NO_DEVICE, P, "cuCtxSetCurrent");
    if (!code && (r = cu.ModuleLoadData(&g->mod, plan->fatbin))) {
        g->mod = NULL;
        code = r == CU_NO_BINARY_FOR_GPU || r == CU_INVALID_PTX || r == CU_UNSUPPORTED_PTX_VERSION || r == CU_INVALID_IMAGE
                   ? fail(KILN_GPU_ARCH, "%s: the fat binary (%s) does not load on sm_%d%d: CUDA error %d (%s)", P, plan->archs,
                          major, minor, r, cu_message(r))
                   : cu_fail(r, KILN_GPU_LAUNCH, P, "cuModuleLoadData");
    }
    int64_t n_io = plan->n_feeds + plan->n_fetches;
    g->fns = calloc((size_t)plan->n_launches + 1, sizeof *g->fns);
    g->io = calloc((size_t)n_io + 1, sizeof *g->io);
    if (!code && (!g->fns || !g->io)) code = fail(KILN_GPU_OOM, "%s: out of host memory", P);
    for (int64_t i = 0; !code && i < plan->n_launches; i++) {
        if ((r = cu.ModuleGetFunction(&g->fns[i], g->mod, plan->kernel_names[i])))
            code = cu_fail(r, KILN_GPU_LAUNCH, P, plan->kernel_names[i]);
        if (plan->launches[i][2] > g->max_args) g->max_args = plan->launches[i][2];
    }
    g->ptrs = calloc((size_t)g->max_args + 1, sizeof *g->ptrs);
    g->params = calloc((size_t)g->max_args + 1, sizeof *g->params);
    if (!code && (!g->ptrs || !g->params)) code = fail(KILN_GPU_OOM, "%s: out of host memory", P);
    for (int64_t i = 0; !code && i < g->max_args; i++) g->params[i] = &g->ptrs[i];
    if (!code && plan->weights_bytes > 0) {
        if ((r = cu.MemAlloc(&g->weights, (size_t)plan->weights_bytes))) g->weights = 0, code = cu_fail(r, KILN_GPU_OOM, P, "weights");
        else if ((r = cu.MemcpyHtoD(g->weights, plan->weights, (size_t)plan->weights_bytes)))
            code = cu_fail(r, KILN_GPU_LAUNCH, P, "uploading the weights");
    }
    if (!code && plan->arena_bytes > 0 && (r = cu.MemAlloc(&g->arena, (size_t)plan->arena_bytes)))
        g->arena = 0, code = cu_fail(r, KILN_GPU_OOM, P, "the arena");
    if (code) {
        kiln_rt_gpu_free(g);
        return code;
    }
    *out = g;
    return KILN_GPU_OK;
}

int kiln_rt_gpu_run_device(kiln_gpu *g, void *const *args, void *stream)
{
    if (!g || (!args && g->plan->n_feeds + g->plan->n_fetches > 0))
        return fail(KILN_GPU_INVALID, "kiln_rt_gpu_run_device: NULL %s", g ? "args" : "model");
    const kiln_gpu_plan *p = g->plan;
    CUresult r = cu.CtxSetCurrent(g->ctx);
    if (r) return cu_fail(r, KILN_GPU_LAUNCH, p->prefix, "cuCtxSetCurrent");
    for (int64_t i = 0; i < p->n_launches; i++) {
        const int64_t *l = p->launches[i];
        for (int64_t a = 0; a < l[2]; a++) {
            int64_t kind = l[3 + 2 * a], v = l[4 + 2 * a];
            g->ptrs[a] = kind == KILN_GPU_ARG_IO ? (CUdeviceptr)(uintptr_t)args[v]
                         : kind == KILN_GPU_ARG_TEMP ? g->arena + (CUdeviceptr)v
                                                     : g->weights + (CUdeviceptr)v;
        }
        if ((r = cu.LaunchKernel(g->fns[i], (unsigned)l[0], 1, 1, (unsigned)l[1], 1, 1, 0, (CUstream)stream, g->params, NULL)))
            return cu_fail(r, KILN_GPU_LAUNCH, p->prefix, p->kernel_names[i]);
    }
    return KILN_GPU_OK;
}

int kiln_rt_gpu_run_host(kiln_gpu *g, void *const *args)
{
    if (!g) return fail(KILN_GPU_INVALID, "kiln_rt_gpu_run_host: NULL model");
    const kiln_gpu_plan *p = g->plan;
    int64_t n_io = p->n_feeds + p->n_fetches;
    if (!args && n_io > 0) return fail(KILN_GPU_INVALID, "%s: run: NULL args", p->prefix);
    CUresult r = cu.CtxSetCurrent(g->ctx);
    if (r) return cu_fail(r, KILN_GPU_LAUNCH, p->prefix, "cuCtxSetCurrent");
    void *dev[n_io > 0 ? n_io : 1];
    for (int64_t i = 0; i < n_io; i++) {
        if (!g->io[i] && p->io_bytes[i] > 0 && (r = cu.MemAlloc(&g->io[i], (size_t)p->io_bytes[i])))
            return g->io[i] = 0, cu_fail(r, KILN_GPU_OOM, p->prefix, i < p->n_feeds ? "a feed's buffer" : "a fetch's buffer");
        dev[i] = (void *)(uintptr_t)g->io[i];
        if (i < p->n_feeds && p->io_bytes[i] > 0 && (r = cu.MemcpyHtoD(g->io[i], args[i], (size_t)p->io_bytes[i])))
            return cu_fail(r, KILN_GPU_LAUNCH, p->prefix, "copying a feed in");
    }
    int code = kiln_rt_gpu_run_device(g, dev, NULL);
    if (code) return code;
    for (int64_t i = p->n_feeds; i < n_io; i++)
        if (p->io_bytes[i] > 0 && (r = cu.MemcpyDtoH(args[i], g->io[i], (size_t)p->io_bytes[i])))
            return cu_fail(r, KILN_GPU_LAUNCH, p->prefix, "copying a fetch out (or an earlier kernel failed)");
    if ((r = cu.CtxSynchronize())) return cu_fail(r, KILN_GPU_LAUNCH, p->prefix, "cuCtxSynchronize");
    return KILN_GPU_OK;
}
