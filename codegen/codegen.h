/* codegen/codegen.h — LLVM code generation from a planned IR graph.
 *
 * Input contract (what passes/pipeline.c leaves behind):
 *   - nodes are in schedule order (topological);
 *   - g->plan (ir/plan.h) is the kernel plan, and every region graph under
 *     g has its own: the kernels in schedule order, each with its members
 *     (computed inline in its loops: elementwise nodes, fused views, pads
 *     and concats, an output-fused contraction), the materialized inputs in
 *     the order the kernel function takes their pointers, the contraction
 *     and its GEMM plan, its scratch; param, const and alias nodes are in
 *     no kernel.  Codegen takes the kernel structure from the plan only
 *     (node->kernel is the passes' back pointer); hand-planned graphs
 *     (tests/test_codegen.c) call ir_plan_build;
 *   - node->store says where each value lives (ir.h: FEED index, FETCH
 *     index, TEMP offset, CONST data, ALIAS of in[0]); fused members are
 *     IR_STORE_NONE; g->temp_size is the arena size.
 *
 * Generated ABI, for a prefix P (docs/header-api.md):
 *   int P_run(const T0 *feed0, ..., T *fetch0, ..., void *temp);
 *   int P_run_args(void *const *args, void *temp);  // feeds then fetches
 *   Both return 0.  temp is g->temp_size bytes, 64-byte aligned (may be NULL
 *   when the size is 0).  The object references no libm, no malloc: math
 *   functions are inline polynomials (codegen/math.c).
 */
#ifndef KILN_CODEGEN_H
#define KILN_CODEGEN_H

#include "../ir/ir.h"

typedef struct cg_options {
    const char *prefix;   /* symbol prefix, a C identifier */
    const char *target;   /* a row of the target table ("aarch64-linux-gnu", ...); NULL: the host */
    const char *cpu;      /* "native" (the host's, or the target's default CPU), "x86-64-v3", "cortex-m4", ... */
    const char *features; /* extra LLVM feature string or NULL */
    int opt_level;        /* 0..3 */
    bool size;            /* -Os: shared kernels for planned contractions (shared.c), LLVM size pipeline */
    int threads;          /* > 1: large kernels run on libkilnrt's pool */
    const char *source;   /* model file name, for the header comment */
    /* Per-kernel timing (docs/profile.md): the graph function becomes
     * int P_run_profile(void *const *args, void *temp, uint64_t *counters),
     * which adds each top-level kernel j's cycle-counter ticks to
     * counters[2j] and 1 to counters[2j+1]; P_run_args calls it with NULL
     * (no counting).  Off: no timing code at all.  x86-64 only (rdtsc). */
    bool profile;
    /* kiln_options.progress: "codegen" per top-level kernel (k of n), then
     * "llvm-opt" and "llvm-emit" (0, 0).  NULL: none.  Codegen never prints. */
    void (*progress)(void *user, const char *stage, int k, int n);
    void *progress_user;
} cg_options;

typedef struct cg_stats {
    double seconds_ir, seconds_opt, seconds_emit; /* build IR, LLVM opt, object/JIT */
    int64_t object_bytes;
    int64_t const_bytes;
    /* objects only: .text and .rodata bytes, and the deepest stack of the
     * entry point in bytes (memcpy/memset and the runtime not counted; -1: unknown) */
    int64_t code_bytes, rodata_bytes, stack_bytes;
    /* objects only: the symbols the object references but does not define,
     * space-separated as read back from the object ("" when none; what
     * `nm -u` lists); has_undefined: the list was read */
    char undefined[512];
    bool has_undefined;
    int n_kernels;
    /* kernels split over the thread pool (GEMMs included), and the largest
     * kernel's estimated single-thread work in ns (codegen/split.c) */
    int n_split_kernels;
    double max_work_ns;
} cg_stats;

/* The LLVM library's version. */
void cg_llvm_version(unsigned *major, unsigned *minor, unsigned *patch);

/* Entry point in the args form: feeds then fetches. */
typedef int (*cg_entry_fn)(void *const *args, void *temp);

bool cg_emit_object(const ir_graph *g, const cg_options *o, const char *object_path, cg_stats *st, kl_diag *d);
/* Several graphs (the entries of one model, each with its own prefix) in
 * one object: their modules are linked before optimization. */
bool cg_emit_object_multi(const ir_graph *const *gs, const cg_options *os, int n, const char *object_path,
                          cg_stats *st, kl_diag *d);
/* The state layout of a model with variables (docs/training.md). */
typedef struct cg_state_var {
    const char *name;
    ir_type type;
    int64_t offset, flag_offset;
} cg_state_var;
/* The header of a multi-entry object: the state layout, and per entry
 * (prefix os[i].prefix, named names[i]) the raw entry points and a typed
 * wrapper `int P_NAME(feeds..., fetches..., void *state, void *temp)` that
 * checks the variables it reads are initialized (else returns 1 + the
 * variable's index, P_VAR_NAMES[rc - 1] naming it) and marks those it writes. */
bool cg_emit_entries_header(const ir_graph *const *gs, const cg_options *os, const char *const *names, int n,
                            const char *prefix, const cg_state_var *vars, int n_vars, int64_t state_size,
                            const char *undefined, const char *header_path, kl_diag *d);
/* st: the object's cg_stats (its footprint goes into the header), or NULL. */
bool cg_emit_header(const ir_graph *g, const cg_options *o, const cg_stats *st, const char *header_path, kl_diag *d);

typedef struct cg_jit cg_jit;
bool cg_jit_compile(const ir_graph *g, const cg_options *o, cg_jit **out, cg_stats *st, kl_diag *d);
cg_entry_fn cg_jit_entry(const cg_jit *j);
/* The profiling entry of a program compiled with o->profile, else NULL. */
typedef int (*cg_profile_fn)(void *const *args, void *temp, uint64_t *counters);
cg_profile_fn cg_jit_profile_entry(const cg_jit *j);
/* For each kernel of g's plan, the work units the thread pool splits it
 * into with o->threads (0: it runs on the calling thread), as module.c
 * decides when it emits the call (kiln viz shows the split). */
void cg_kernel_splits(const ir_graph *g, const cg_options *o, int64_t *units);
struct kl_kernel; /* ir/plan.h */
/* The split cost rule (codegen/split.c): a kernel's estimated single-thread
 * time in ns, and the work each thread's chunk must reach for it to split. */
double cg_kernel_work_ns(const struct kl_kernel *k);
double cg_split_chunk_ns(void);
void cg_jit_free(cg_jit *j);

/* The GEMM strategy's cost rule: does this matmul call OpenBLAS through
 * kiln_rt_sgemm (include/kiln/runtime.h) instead of inline loops?  Large
 * float32 products do: m, n and k all >= 64 (docs/performance.md), on the
 * host only (libkilnrt is built for it alone). */
bool cg_matmul_uses_blas(const cg_options *o, const ir_node *n);
/* Whether the object calls libkilnrt (BLAS at -O0, the pool with threads > 1). */
bool cg_graph_uses_runtime(const ir_graph *g, const cg_options *o);
/* Targets (codegen/target.c, docs/targets.md). */
typedef struct cg_target cg_target;
/* What the passes need from target + cpu + features: float32 lanes of the
 * widest vector (16 AVX-512, 8 AVX2, 4 SSE/NEON/MVE, 1 scalar), vector (or
 * FP) registers for the GEMM tile, and whether it is firmware.  False with
 * a message for an unknown target or CPU. */
bool cg_target_plan(const char *target, const char *cpu, const char *features, int *vector_floats, int *vector_regs,
                    bool *freestanding, kl_diag *d);
int cg_target_vector_floats(const char *target, const char *cpu, const char *features);
bool cg_target_is_host(const char *target); /* NULL, "host" or the host's row name */
const char *cg_target_host_name(void);      /* "x86_64-linux-gnu" */
const char *cg_target_names(void);          /* "x86_64-linux-gnu, aarch64-linux-gnu, ..." */
bool cg_target_is_device(const char *target); /* a GPU row ("cuda"): compile with cg_emit_cuda */

/* The GPU backend (codegen/gpu.c, docs/gpu.md): o->cpu lists the
 * architectures ("sm_80,sm_90"); the object is an x86-64 host object holding
 * the fat binary (a cubin per architecture plus PTX) and the schedule, the
 * header declares P_init / P_run_device / P_run / P_free.  Kernels it cannot
 * run yet fail with "FILE: node 'NAME' (OP): not yet on cuda ...". */
bool cg_emit_cuda(const ir_graph *g, const cg_options *o, const char *object_path, const char *header_path,
                  cg_stats *st, kl_diag *d);

/* Printable LLVM IR of the module (for `kiln dump --llvm`); caller frees. */
char *cg_module_text(const ir_graph *g, const cg_options *o, kl_diag *d);

#endif
