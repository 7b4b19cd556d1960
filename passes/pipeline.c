/* passes/pipeline.c — the pass manager: one readable pipeline per -O level.
 *
 * Every pass is timed, optionally verified (ctx->verify_each) and optionally
 * dumped (ctx->dump_after = its name or "all").
 */
#include <string.h>
#include <time.h>

#include "passes.h"

void pass_count(pass_ctx *ctx, const char *pass, const char *name, long delta)
{
    for (int i = 0; i < ctx->n_stats; i++)
        if (!strcmp(ctx->stats[i].pass, pass) && !strcmp(ctx->stats[i].name, name)) {
            ctx->stats[i].value += delta;
            return;
        }
    if (ctx->n_stats < PASS_MAX_STATS) ctx->stats[ctx->n_stats++] = (pass_stat){pass, name, delta};
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Every pass, by the name dumps and pass tests use. */
static const struct { const char *name; pass_fn fn; } passes[] = {
    {"infer", pass_infer}, {"verify", pass_verify},     {"dce", pass_dce},   {"fold", pass_fold},
    {"simplify", pass_simplify}, {"cse", pass_cse}, {"layout", pass_layout}, {"fuse", pass_fuse}, {"bufassign", pass_bufassign},
    {"partition", pass_partition}, {"allreduce", pass_allreduce},
};

pass_fn pass_by_name(const char *name)
{
    for (size_t i = 0; i < sizeof passes / sizeof *passes; i++)
        if (!strcmp(passes[i].name, name)) return passes[i].fn;
    return NULL;
}

const char *pass_names(void) { return "infer, verify, dce, fold, simplify, cse, layout, fuse, bufassign, partition, allreduce"; }

static bool wants_dump(const pass_ctx *ctx, const char *name)
{
    return ctx->dump_after && (!strcmp(ctx->dump_after, "all") || !strcmp(ctx->dump_after, name));
}

/* A pass runs on the regions of a graph's while/if nodes first (inside
 * out, so a loop's bufassign sees its body's temp size), then on the graph:
 * a region is a graph like any other. */
bool pass_run_nested(ir_graph *g, pass_ctx *ctx, pass_fn fn)
{
    bool changed = false;
    for (int i = 0; i < g->n_nodes; i++)
        for (int r = 0; r < g->nodes[i]->n_regions; r++) changed |= pass_run_nested(g->nodes[i]->regions[r], ctx, fn);
    return fn(g, ctx) | changed;
}

/* Runs one pass with the manager's duties around it; false on error. */
static bool run_at(ir_graph *g, pass_ctx *ctx, const char *name, pass_fn fn, bool nested)
{
    if (ctx->progress) ctx->progress(ctx->progress_user, name, ++ctx->pass_index, ctx->n_passes);
    double t0 = now();
    bool changed = nested ? pass_run_nested(g, ctx, fn) : fn(g, ctx);
    double dt = now() - t0;
    ctx->seconds_total += dt;
    if (ctx->time_file)
        fprintf(ctx->time_file, "  %-10s %8.3f ms  %s\n", name, dt * 1e3, changed ? "changed" : "");
    if (!kl_diag_ok(ctx->diag)) return false;
    if (ctx->verify_each && !ir_verify(g, ctx->diag)) {
        kl_diag_error(ctx->diag, "%s: IR invalid after pass '%s' (a Kiln bug)", g->source, name);
        return false;
    }
    if (wants_dump(ctx, name)) {
        FILE *f = ctx->dump_file ? ctx->dump_file : stdout;
        fprintf(f, "// ---- after %s%s\n", name, changed ? "" : " (no change)");
        ir_print(g, f, IR_PRINT_PLAN);
    }
    return true;
}

static bool run(ir_graph *g, pass_ctx *ctx, const char *name, pass_fn fn) { return run_at(g, ctx, name, fn, true); }

#define RUN(pass)                                       \
    if (!run(g, ctx, #pass, pass_##pass)) return false; \
    if (ctx->stop_after && !strcmp(ctx->stop_after, #pass)) return ctx->stopped = true

bool pass_run_pipeline(ir_graph *g, pass_ctx *ctx)
{
    ctx->pass_index = 0;
    ctx->n_passes = ctx->opt_level >= 1 ? 11 : 6; /* the RUNs below */
    RUN(infer);
    RUN(verify);
    RUN(dce);
    if (ctx->opt_level >= 1) {
        RUN(fold);
        RUN(simplify);
        RUN(cse);
        RUN(dce);
        RUN(layout);
    }
    bool data_parallel = false;
    for (int i = 0; i < g->n_nodes; i++) data_parallel |= g->nodes[i]->op == KL_OP_ALLREDUCE;
    if (data_parallel) { /* docs/distributed.md: the step's gradients in one MPI call */
        if (!run_at(g, ctx, "allreduce", pass_allreduce, false)) return false;
        RUN(dce);
    }
    if (ctx->partition) { /* distributed: placed on the one-process kernels, then this task's graph is planned */
        RUN(fuse);
        if (!run_at(g, ctx, "partition", pass_partition, false)) return false; /* the top graph: regions stay whole */
        RUN(dce);
    }
    RUN(fuse); /* at -O0 every op is its own kernel */
    RUN(bufassign);
    RUN(verify);
    return true;
}
