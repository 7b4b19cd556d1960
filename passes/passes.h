/* passes/passes.h — the passes over the IR and the pipelines that run them.
 *
 * Each pass is one file passes/X.c with one entry point
 *     bool pass_X(ir_graph *g, pass_ctx *ctx)
 * that returns whether it changed the graph, counts its work in ctx->stats
 * and reports bad input into ctx->diag (failure = !kl_diag_ok(ctx->diag)).
 * The contract comment at the top of each file says what it requires and
 * what it guarantees.  Pipelines (passes/pipeline.c) are plain functions,
 * one per -O level, readable top to bottom.
 */
#ifndef KILN_PASSES_H
#define KILN_PASSES_H

#include <stdio.h>

#include "../ir/ir.h"

#define PASS_MAX_STATS 64

typedef struct pass_stat {
    const char *pass, *name;
    long value;
} pass_stat;

/* Distributed execution (passes/partition.c, docs/distributed.md): how the
 * graph is placed on n_tasks tasks, and which task's graph to keep. */
typedef struct pass_partition {
    int n_tasks, task;
    int split;                      /* non-zero: n_tasks pipeline stages by cost */
    const char *const *rules;       /* else "GLOB=TASK" on node names, first match wins */
    int n_rules;
    /* else the model's device fields: the device of a source node by name */
    const char *(*device_of)(void *ctx, const char *name);
    void *device_ctx;
    int fetch_task;                 /* the task that returns every fetch (0; the last for streamed pipelines) */
} pass_placement;

typedef struct pass_ctx {
    kl_diag *diag;
    int opt_level;
    bool size;              /* -Os: contractions get shared-kernel plans (layout.c) */
    const char *dump_after; /* pass name or "all": print IR after it */
    FILE *dump_file;
    FILE *time_file;        /* per-pass wall time, or NULL */
    bool verify_each;       /* run ir_verify after every pass */
    /* Stop the pipeline after the first run of this pass (kiln viz --after):
     * pass_run_pipeline then returns true with ctx->stopped set. */
    const char *stop_after;
    bool stopped;
    /* From the target table row (api/kiln.c: cg_target_plan), required by
     * layout: no pass assumes an ISA. */
    int vector_floats;      /* target's float32 lanes per vector (16 AVX-512, 8 AVX2, 4 SSE/NEON, 1 scalar) */
    int vector_regs;        /* its vector (or FP) registers, for the GEMM register tile */
    const pass_placement *partition; /* NULL: one process */
    /* Data-parallel (passes/allreduce.c): 0, every float32 gradient in one
     * allreduce; > 0, buckets of at least this many bytes, each started as
     * its last gradient is computed and waited for before its first update. */
    int64_t allreduce_bucket_bytes;
    pass_stat stats[PASS_MAX_STATS];
    int n_stats;
    double seconds_total;
    /* kiln_options.progress: called as each pass starts (name, k of n). */
    void (*progress)(void *user, const char *stage, int k, int n);
    void *progress_user;
    int pass_index, n_passes;
} pass_ctx;

/* Add `delta` to the named statistic of `pass`. */
void pass_count(pass_ctx *ctx, const char *pass, const char *name, long delta);

bool pass_infer(ir_graph *g, pass_ctx *ctx);     /* shapes and dtypes, checked */
bool pass_verify(ir_graph *g, pass_ctx *ctx);    /* the verifier as a pass */
bool pass_fold(ir_graph *g, pass_ctx *ctx);      /* constant folding */
bool pass_simplify(ir_graph *g, pass_ctx *ctx);  /* algebraic identities */
/* Called by simplify: a strided conv2d_transpose with a constant filter
 * rewritten as a conv2d and a depth-to-space (passes/subpixel.c); returns
 * the node now standing for n's last absorbed consumer, or NULL. */
ir_node *pass_subpixel_conv_transpose(ir_graph *g, ir_node *n, pass_ctx *ctx);
bool pass_cse(ir_graph *g, pass_ctx *ctx);       /* common subexpressions, shared constants */
bool pass_dce(ir_graph *g, pass_ctx *ctx);       /* drop what no fetch needs */
bool pass_layout(ir_graph *g, pass_ctx *ctx);    /* GEMM tiles and packed layouts of contractions */
bool pass_fuse(ir_graph *g, pass_ctx *ctx);      /* elementwise loop fusion; sets node->kernel */
bool pass_bufassign(ir_graph *g, pass_ctx *ctx); /* liveness, one temp arena; sets node->store */
bool pass_partition(ir_graph *g, pass_ctx *ctx); /* placement, send/recv pairs; keeps one task (ctx->partition) */
bool pass_allreduce(ir_graph *g, pass_ctx *ctx); /* data-parallel gradients: one allreduce per step */
/* 64-bit hash of g (ops, types, operands by position pos[id], attributes,
 * constants, results) and its placement (place[id] per node, or NULL), for
 * the start-up check across ranks (docs/distributed.md). */
uint64_t pass_fingerprint(const ir_graph *g, int n_tasks, const int *place, const int *pos);

typedef bool (*pass_fn)(ir_graph *g, pass_ctx *ctx);
/* The pass with this name ("fuse", ...), or NULL; used by tests and dumps. */
pass_fn pass_by_name(const char *name);
/* Comma-separated names of every pass, for messages. */
const char *pass_names(void);

/* Runs fn on the regions of g's while/if nodes (inside out), then on g;
 * how the pipeline runs every pass. */
bool pass_run_nested(ir_graph *g, pass_ctx *ctx, pass_fn fn);

/* Runs the pipeline for ctx->opt_level.  Returns false on error (ctx->diag). */
bool pass_run_pipeline(ir_graph *g, pass_ctx *ctx);

#endif
