/* passes/allreduce.c — data-parallel gradients in one MPI call.
 *
 * requires: types inferred (the frontend wrapped each optimizer update's
 *   gradient in an allreduce: docs/distributed.md).
 * guarantees: the float32 allreduce nodes of the graph (two or more) become
 *   one: the gradients flattened and concatenated, one allreduce over the
 *   whole buffer, a slice (reshaped back) per gradient, so a training step
 *   makes one MPI_Allreduce however many variables it trains.  The node
 *   order is topological again afterwards (each node after its operands,
 *   otherwise the order it had).  Regions are left alone.  With any
 *   allreduce, g->dist_fingerprint is set (dist_task -1: any rank), so
 *   ranks running different graphs fail at start-up instead of mixing
 *   gradients of other shapes.
 */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

static void visit(ir_node *n, ir_node **order, int *k, unsigned char *done)
{
    if (done[n->id]) return;
    done[n->id] = 1;
    for (int i = 0; i < n->n_in; i++) visit(n->in[i], order, k, done);
    order[(*k)++] = n;
}

static void set_fingerprint(ir_graph *g)
{
    int *pos = calloc((size_t)g->next_id + 1, sizeof *pos);
    if (!pos) kl_die(__FILE__, __LINE__, "out of memory");
    for (int i = 0; i < g->n_nodes; i++) pos[g->nodes[i]->id] = i;
    g->dist_fingerprint = pass_fingerprint(g, 0, NULL, pos);
    g->dist_task = -1, g->dist_tasks = 0;
    free(pos);
}

static bool fuse_allreduces(ir_graph *g, pass_ctx *ctx);

bool pass_allreduce(ir_graph *g, pass_ctx *ctx)
{
    bool changed = fuse_allreduces(g, ctx);
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == KL_OP_ALLREDUCE) {
            set_fingerprint(g);
            break;
        }
    return changed;
}

static bool fuse_allreduces(ir_graph *g, pass_ctx *ctx)
{
    int n_ar = 0;
    for (int i = 0; i < g->n_nodes; i++) n_ar += g->nodes[i]->op == KL_OP_ALLREDUCE && g->nodes[i]->type.dtype == KL_F32;
    if (n_ar < 2) return false;
    ir_node **ar = malloc(sizeof *ar * (size_t)n_ar), **flat = malloc(sizeof *flat * (size_t)n_ar);
    if (!ar || !flat) kl_die(__FILE__, __LINE__, "out of memory");
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == KL_OP_ALLREDUCE && g->nodes[i]->type.dtype == KL_F32) ar[k++] = g->nodes[i];
    int64_t total = 0;
    bool ok = true;
    for (int i = 0; ok && i < n_ar; i++) {
        int64_t n = ir_type_numel(&ar[i]->type);
        flat[i] = ir_reshape(g, ar[i]->in[0], 1, &n, ar[i]->name, ctx->diag);
        ok = flat[i] != NULL;
        total += n;
    }
    ir_attr a;
    memset(&a, 0, sizeof a);
    ir_node *cat = ok ? ir_node_new(g, KL_OP_CONCAT, n_ar, flat, &a, NULL, "gradients", ctx->diag) : NULL;
    ir_node *sum = cat ? ir_unary(g, KL_OP_ALLREDUCE, cat, "gradients", ctx->diag) : NULL;
    int64_t at = 0;
    for (int i = 0; sum && i < n_ar; i++) {
        int64_t n = ir_type_numel(&ar[i]->type);
        memset(&a, 0, sizeof a);
        a.slice.begin[0] = at, a.slice.stride[0] = 1;
        ir_type t = ir_type_make(KL_F32, 1, &n);
        ir_node *s = ir_node_new(g, KL_OP_SLICE, 1, &sum, &a, &t, ar[i]->name, ctx->diag);
        ir_node *back = s ? ir_reshape(g, s, ar[i]->type.rank, ar[i]->type.dims, ar[i]->name, ctx->diag) : NULL;
        if (!back) {
            sum = NULL;
            break;
        }
        ir_replace_uses(g, ar[i], back);
        at += n;
    }
    if (sum) {
        /* topological again: each node after its operands, else in its old order */
        ir_node **order = malloc(sizeof *order * (size_t)g->n_nodes);
        unsigned char *done = calloc((size_t)g->next_id + 1, 1);
        if (!order || !done) kl_die(__FILE__, __LINE__, "out of memory");
        int m = 0;
        for (int i = 0; i < g->n_nodes; i++) done[g->nodes[i]->id] = 0;
        for (int i = 0; i < n_ar; i++) done[ar[i]->id] = 1; /* unused now: dropped */
        for (int i = 0; i < g->n_nodes; i++) visit(g->nodes[i], order, &m, done);
        memcpy(g->nodes, order, sizeof *order * (size_t)m);
        g->n_nodes = m;
        free(order), free(done);
        pass_count(ctx, "allreduce", "gradients in one call", n_ar);
        pass_count(ctx, "allreduce", "floats per call", (long)total);
    }
    free(ar), free(flat);
    return sum != NULL;
}
