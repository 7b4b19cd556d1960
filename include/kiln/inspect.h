/* kiln/inspect.h — what Kiln did to a model, for tools: the planned graph
 * (nodes, fused kernels, buffers in the temp arena) and per-kernel timing.
 * `kiln viz` (docs/viz.md) and `kiln run --profile` (docs/profile.md) are
 * built on it.
 *
 *   kiln_plan_info *pi;
 *   kiln_status *st = kiln_inspect(m, &o, NULL, &pi);   // NULL: the final plan
 *   for (int k = 0; k < pi->n_kernels; k++) printf("%s %s\n", pi->kernels[k].name, pi->kernels[k].kind);
 *   kiln_plan_info_free(pi);
 *
 * Only the top-level graph is described: a while or if is one kernel
 * (kind "control"); its regions' kernels run inside it.
 */
#ifndef KILN_INSPECT_H
#define KILN_INSPECT_H

#include "kiln.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_node_info {
    int id;            /* the IR node id (%id in kiln dump) */
    const char *op;    /* IR op name: "conv2d", "add", ... */
    const char *name;  /* the model's node name ("" if none) */
    const char *type;  /* "f32[1,28,28,6]" */
    int kernel;        /* index in kernels, or -1 (param, const, alias, or no plan yet) */
    int n_in;
    const int *in;     /* operand node ids */
    const char *store; /* "feed", "fetch", "temp", "const", "alias", "fused", or "" before bufassign */
    int64_t offset;    /* temp: byte offset in the arena */
    int64_t bytes;
} kiln_node_info;

typedef struct kiln_kernel_info {
    int index;
    int root;          /* node id of the kernel's root */
    const char *name;  /* the root's model node name, or "k<index>" */
    /* "loop", "reduction", "gemm", "gemm+epilogue", "conv", "conv+epilogue",
     * "movement", "copy", "control", or another op name (pool, scan, ...) */
    const char *kind;
    const char *ops;   /* the fused ops in evaluation order: "conv2d+add+relu" */
    int n_members;
    const int *members; /* node ids, evaluation order */
    /* GEMM plan of the contraction (mr == 0: none): register tile mr x nr
     * floats, vl floats per vector, row tiles per L2 group */
    int mr, nr, vl, group_tiles;
    bool pack_b_runtime, pad_input;
    int64_t split_units; /* chunks the thread pool splits it into (0: runs on the calling thread) */
    int threads;         /* the options' thread count */
    int64_t flops;       /* floating-point (or integer) operations of one run */
    int64_t bytes;       /* bytes read (materialized inputs, weights included) and written */
    int64_t scratch_bytes, scratch_offset;
} kiln_kernel_info;

/* A range of the temp arena and when it is live, in schedule steps
 * (kernel indices, first..last inclusive). */
typedef struct kiln_buffer_info {
    int node;          /* the node whose value it holds; for scratch the kernel's root */
    const char *name;
    bool scratch;      /* a kernel's scratch (packed B, padded copy, loop buffers) */
    int64_t offset, bytes;
    int first, last;
} kiln_buffer_info;

typedef struct kiln_plan_info {
    const char *source;  /* the model file */
    const char *after;   /* the pass the graph is shown after ("bufassign": the final plan) */
    bool planned;        /* kernels exist (after fuse) */
    bool assigned;       /* buffers exist (after bufassign) */
    int n_nodes;
    kiln_node_info *nodes;   /* schedule order */
    int n_kernels;
    kiln_kernel_info *kernels;
    int n_buffers;
    kiln_buffer_info *buffers;
    int64_t temp_size, const_bytes, feed_bytes, fetch_bytes, state_bytes;
    int opt_level, threads;
    void *priv_;
} kiln_plan_info;

/* Runs the import and the pipeline of o (up to and including pass `after`,
 * NULL: all of it) and describes the graph.  No code is generated (the
 * thread split is asked of codegen without emitting). */
kiln_status *kiln_inspect(kiln_model *m, const kiln_options *o, const char *after, kiln_plan_info **out);
void kiln_plan_info_free(kiln_plan_info *pi);

/* ---- profiling (docs/profile.md) -----------------------------------------
 * A program JIT-compiled with o->profile set runs its kernels between
 * reads of the time-stamp counter: kiln_program_run_profile adds kernel k's
 * ticks to counters[2k] and 1 to counters[2k+1] (2 * n_kernels uint64_t,
 * zeroed by the caller), otherwise as kiln_program_run_state. */
int kiln_program_num_kernels(const kiln_program *p); /* 0: not compiled with profile */
/* The plan of a program compiled with profile (the kernels in counter order), or NULL. */
const kiln_plan_info *kiln_program_plan(const kiln_program *p);
kiln_status *kiln_program_run_profile(kiln_program *p, const void *const *feeds, void *const *fetches, void *state,
                                      void *temp, uint64_t *counters);

#ifdef __cplusplus
}
#endif
#endif
