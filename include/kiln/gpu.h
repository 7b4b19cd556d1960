/* include/kiln/gpu.h — libkilnrt's GPU runtime (runtime/gpu.c), what the
 * host objects of `kiln compile --target cuda` call (docs/gpu.md).
 *
 * The host object holds a kiln_gpu_plan: the fat binary, the weights, and
 * the schedule (one row of int64 per kernel launch).  Its generated
 * P_init / P_run_device / P_run / P_free call the functions below with it.
 * The CUDA driver is loaded at run time with dlopen("libcuda.so.1") (the
 * environment variable KILN_CUDA_DRIVER names another file, for tests):
 * nothing links against CUDA.  Every function returns a kiln_gpu_code and
 * never aborts; kiln_rt_gpu_error() is the message of this thread's last
 * failure.
 */
#ifndef KILN_GPU_H
#define KILN_GPU_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kiln_gpu_code {
    KILN_GPU_OK = 0,
    KILN_GPU_NO_DRIVER = 1, /* libcuda.so.1 cannot be loaded, or lacks a function */
    KILN_GPU_NO_DEVICE = 2, /* cuInit failed or the device number does not exist */
    KILN_GPU_ARCH = 3,      /* the fat binary has no code for the device's architecture */
    KILN_GPU_OOM = 4,       /* device (or host) memory exhausted */
    KILN_GPU_LAUNCH = 5,    /* a launch, copy or synchronization failed */
    KILN_GPU_INVALID = 6,   /* a bad argument (NULL pointer, plan of another version) */
} kiln_gpu_code;

enum { KILN_GPU_PLAN_VERSION = 1 };

/* Where a kernel argument points (kernel rows of the plan). */
enum { KILN_GPU_ARG_IO = 0, KILN_GPU_ARG_TEMP = 1, KILN_GPU_ARG_WEIGHTS = 2 };

/* Every field 8 bytes: codegen/gpu.c emits it as an LLVM struct. */
typedef struct kiln_gpu_plan {
    int64_t version;                 /* KILN_GPU_PLAN_VERSION */
    const char *prefix;              /* the model's prefix, for messages */
    const unsigned char *fatbin;     /* cubins (one per architecture) + PTX */
    int64_t fatbin_bytes;
    const unsigned char *weights;    /* every constant a kernel reads, 256-aligned each */
    int64_t weights_bytes;
    int64_t arena_bytes;             /* device scratch for intermediate values */
    int64_t n_feeds, n_fetches;
    const int64_t *io_bytes;         /* bytes of each feed, then each fetch */
    int64_t n_launches;
    const char *const *kernel_names; /* per launch: the kernel's symbol in the fat binary */
    /* per launch: blocks, threads per block, n_args, then n_args pairs
     * (kind KILN_GPU_ARG_*, slot or byte offset) */
    const int64_t *const *launches;
    int64_t min_arch;                /* lowest compute capability in the fat binary, major*10+minor */
    const char *archs;               /* "sm_80,sm_90" */
} kiln_gpu_plan;

typedef struct kiln_gpu_options {
    int device;  /* CUDA device ordinal (0: the first) */
    int reserved;
} kiln_gpu_options;

typedef struct kiln_gpu kiln_gpu;

/* Loads the driver (once per process), creates the module from the fat
 * binary on the device's primary context, uploads the weights, allocates
 * the arena.  opt may be NULL (device 0). */
int kiln_rt_gpu_init(const kiln_gpu_plan *plan, kiln_gpu **out, const kiln_gpu_options *opt);
/* args: device pointers, feeds then fetches; stream: a CUstream or NULL
 * (the default stream).  Enqueues the launches and returns: no sync. */
int kiln_rt_gpu_run_device(kiln_gpu *g, void *const *args, void *stream);
/* args: host pointers, feeds then fetches: copies in, runs, copies out, synchronizes. */
int kiln_rt_gpu_run_host(kiln_gpu *g, void *const *args);
void kiln_rt_gpu_free(kiln_gpu *g);
/* The last failure's message on this thread ("" if none). */
const char *kiln_rt_gpu_error(void);

#ifdef __cplusplus
}
#endif
#endif
