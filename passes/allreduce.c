/* passes/allreduce.c — data-parallel gradients in few MPI calls.
 *
 * requires: types inferred (the frontend wrapped each optimizer update's
 *   gradient in an allreduce: docs/distributed.md).
 * guarantees: with ctx->allreduce_bucket_bytes 0, the float32 allreduce
 *   nodes of the graph (two or more) become one: the gradients flattened
 *   and concatenated, one allreduce over the whole buffer, a slice
 *   (reshaped back) per gradient, so a training step makes one
 *   MPI_Allreduce however many variables it trains.  With a bucket size
 *   B > 0, the gradients, in the order they are computed, are cut into
 *   buckets of at least B bytes (the last one may be smaller); each bucket
 *   is an allreduce_start (placed right after the bucket's last gradient,
 *   so its MPI_Allreduce runs on the runtime's communication thread while
 *   backprop computes the earlier layers' gradients) and an allreduce_wait
 *   (placed before the first node that reads a summed gradient); every
 *   node that depends on a wait (the optimizer updates) runs after every
 *   node that does not, so all starts come before the first wait.  The
 *   node order is topological afterwards.  Regions are left alone.  With
 *   any allreduce, g->dist_fingerprint is set (dist_task -1: any rank), so
 *   ranks running different graphs (or bucket sizes) fail at start-up
 *   instead of mixing gradients of other shapes.
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

/* Bucket b's gradients ar[lo..hi) flattened (and concatenated); result:
 * the summed buffer (allreduce, or start + wait), or NULL on error.
 * group[] gets the nodes made before the wait (reshapes, concat, start). */
static ir_node *reduce_bucket(ir_graph *g, pass_ctx *ctx, ir_node **ar, int lo, int hi, int b, int n_buckets, bool bucketed,
                              ir_node **group, int *n_group)
{
    ir_node **flat = malloc(sizeof *flat * (size_t)(hi - lo));
    if (!flat) kl_die(__FILE__, __LINE__, "out of memory");
    bool ok = true;
    for (int i = lo; ok && i < hi; i++) {
        int64_t n = ir_type_numel(&ar[i]->type);
        flat[i - lo] = ir_reshape(g, ar[i]->in[0], 1, &n, ar[i]->name, ctx->diag);
        ok = flat[i - lo] != NULL;
        if (ok) group[(*n_group)++] = flat[i - lo];
    }
    ir_attr a;
    memset(&a, 0, sizeof a);
    ir_node *cat = !ok ? NULL : hi - lo == 1 ? flat[0] : ir_node_new(g, KL_OP_CONCAT, hi - lo, flat, &a, NULL, "gradients", ctx->diag);
    free(flat);
    if (!cat) return NULL;
    if (cat != group[*n_group - 1]) group[(*n_group)++] = cat;
    if (!bucketed) return ir_unary(g, KL_OP_ALLREDUCE, cat, "gradients", ctx->diag);
    char name[64];
    snprintf(name, sizeof name, "gradients/bucket%d", b);
    a.comm.key = b, a.comm.peer = n_buckets;
    ir_node *start = ir_node_new(g, KL_OP_ALLREDUCE_START, 1, &cat, &a, NULL, name, ctx->diag);
    if (!start) return NULL;
    group[(*n_group)++] = start;
    return ir_node_new(g, KL_OP_ALLREDUCE_WAIT, 1, &start, &a, NULL, name, ctx->diag);
}

/* The order for buckets: the nodes that depend on no wait first, each
 * bucket's group (reshapes, concat, start) right after the last of its
 * gradients; then the nodes that depend on a wait, in their order. */
static void schedule_buckets(ir_graph *g, ir_node **group, const int *group_bucket, int n_group, int n_buckets)
{
    size_t ids = (size_t)g->next_id + 1;
    unsigned char *late = calloc(ids, 1), *in_group = calloc(ids, 1);
    int *pos = calloc(ids, sizeof *pos), *anchor = malloc(sizeof *anchor * (size_t)n_buckets);
    ir_node **order = malloc(sizeof *order * (size_t)g->n_nodes);
    if (!late || !in_group || !pos || !anchor || !order) kl_die(__FILE__, __LINE__, "out of memory");
    for (int i = 0; i < n_group; i++) in_group[group[i]->id] = 1;
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        pos[n->id] = i;
        late[n->id] = n->op == KL_OP_ALLREDUCE_WAIT;
        for (int j = 0; j < n->n_in && !late[n->id]; j++) late[n->id] = late[n->in[j]->id];
    }
    for (int b = 0; b < n_buckets; b++) anchor[b] = -1;
    for (int k = 0; k < n_group; k++) /* the last gradient (operand from outside the group) of each bucket */
        for (int j = 0; j < group[k]->n_in; j++) {
            const ir_node *src = group[k]->in[j];
            if (!in_group[src->id] && pos[src->id] > anchor[group_bucket[k]]) anchor[group_bucket[k]] = pos[src->id];
        }
    int m = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        if (!late[n->id] && !in_group[n->id]) order[m++] = n;
        for (int b = 0; b < n_buckets; b++)
            if (anchor[b] == i)
                for (int k = 0; k < n_group; k++)
                    if (group_bucket[k] == b) order[m++] = group[k];
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (late[g->nodes[i]->id]) order[m++] = g->nodes[i];
    KL_ASSERT(m == g->n_nodes);
    memcpy(g->nodes, order, sizeof *order * (size_t)m);
    free(late), free(in_group), free(pos), free(anchor), free(order);
}

static bool fuse_allreduces(ir_graph *g, pass_ctx *ctx)
{
    int64_t bucket_bytes = ctx->allreduce_bucket_bytes;
    bool bucketed = bucket_bytes > 0;
    int n_ar = 0;
    for (int i = 0; i < g->n_nodes; i++) n_ar += g->nodes[i]->op == KL_OP_ALLREDUCE && g->nodes[i]->type.dtype == KL_F32;
    if (n_ar < (bucketed ? 1 : 2)) return false;
    ir_node **ar = malloc(sizeof *ar * (size_t)n_ar);
    int *pos = calloc((size_t)g->next_id + 1, sizeof *pos), *first = malloc(sizeof *first * ((size_t)n_ar + 1));
    if (!ar || !pos || !first) kl_die(__FILE__, __LINE__, "out of memory");
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        pos[g->nodes[i]->id] = i;
        if (g->nodes[i]->op == KL_OP_ALLREDUCE && g->nodes[i]->type.dtype == KL_F32) ar[k++] = g->nodes[i];
    }
    /* buckets: gradients in the order they are computed; one bucket unless bucketed */
    for (int i = 1; bucketed && i < n_ar; i++) /* by the position of the gradient (stable) */
        for (int j = i; j > 0 && pos[ar[j - 1]->in[0]->id] > pos[ar[j]->in[0]->id]; j--) {
            ir_node *t = ar[j];
            ar[j] = ar[j - 1], ar[j - 1] = t;
        }
    int n_buckets = 0;
    int64_t bytes = 0, total = 0;
    for (int i = 0; i < n_ar; i++) {
        if (i == 0 || (bucketed && bytes >= bucket_bytes)) first[n_buckets++] = i, bytes = 0;
        bytes += (int64_t)ir_type_bytes(&ar[i]->type);
        total += ir_type_numel(&ar[i]->type);
    }
    first[n_buckets] = n_ar;
    ir_node **group = malloc(sizeof *group * (2 * (size_t)n_ar + 2 * (size_t)n_buckets));
    int *group_bucket = malloc(sizeof *group_bucket * (2 * (size_t)n_ar + 2 * (size_t)n_buckets)), n_group = 0;
    if (!group || !group_bucket) kl_die(__FILE__, __LINE__, "out of memory");
    bool ok = true;
    for (int b = 0; ok && b < n_buckets; b++) {
        int g0 = n_group;
        ir_node *sum = reduce_bucket(g, ctx, ar, first[b], first[b + 1], b, n_buckets, bucketed, group, &n_group);
        for (int i = g0; i < n_group; i++) group_bucket[i] = b;
        ok = sum != NULL;
        int64_t at = 0;
        for (int i = first[b]; ok && i < first[b + 1]; i++) {
            int64_t n = ir_type_numel(&ar[i]->type);
            ir_attr a;
            memset(&a, 0, sizeof a);
            a.slice.begin[0] = at, a.slice.stride[0] = 1;
            ir_type t = ir_type_make(KL_F32, 1, &n);
            ir_node *s = ir_node_new(g, KL_OP_SLICE, 1, &sum, &a, &t, ar[i]->name, ctx->diag);
            ir_node *back = s ? ir_reshape(g, s, ar[i]->type.rank, ar[i]->type.dims, ar[i]->name, ctx->diag) : NULL;
            if (!back) {
                ok = false;
                break;
            }
            ir_replace_uses(g, ar[i], back);
            at += n;
        }
    }
    if (ok) {
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
        if (bucketed) schedule_buckets(g, group, group_bucket, n_group, n_buckets);
        pass_count(ctx, "allreduce", "gradients in one call", bucketed ? 0 : n_ar);
        pass_count(ctx, "allreduce", "gradients in buckets", bucketed ? n_ar : 0);
        pass_count(ctx, "allreduce", "buckets", bucketed ? n_buckets : 0);
        pass_count(ctx, "allreduce", "floats per step", (long)total);
    }
    free(ar), free(pos), free(first), free(group), free(group_bucket);
    return ok;
}
