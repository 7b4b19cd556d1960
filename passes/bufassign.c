/* passes/bufassign.c — buffer assignment: where every value lives.
 *
 * requires: node->kernel set (passes/fuse.c); nodes in schedule order.
 * guarantees: node->store/index/offset set (ir.h) and g->temp_size:
 *   - feeds and fetches live in the caller's buffers; a fetch that is a
 *     param, constant, alias or a second fetch of the same node first gets
 *     a COPY kernel, so every fetch buffer is written by exactly one kernel;
 *   - every other kernel result gets a 64-byte aligned slot of one temp
 *     arena.  Slots are reused: a value is live from its kernel to the last
 *     kernel that reads it (through aliases), and buffers whose lifetimes
 *     overlap never overlap in memory (greedy interval colouring, largest
 *     first).  A kernel's output never shares bytes with its inputs;
 *   - a node's scratch_bytes (passes/layout.c: operands packed at run time;
 *     a while's carried buffers and its regions' temp) get a slot live only
 *     while its kernel runs (node->scratch_offset);
 *   - a get lives from its while/if, which writes it;
 *   - a value a send reads lives to the end of the graph: the transfer is
 *     asynchronous and completes when the entry returns (docs/distributed.md);
 *   - a variable's update (g->result_var) shares the caller's buffer with
 *     its old value (g->param_var) when no read of the old value follows
 *     it, else it is copied there by a final COPY kernel.  That holds for a
 *     further output of a kernel (passes/fuse.c) too; one that is copied
 *     is stored in temp by its kernel, like a root.
 *   The kernel plan (ir/plan.h) is rebuilt at the end: the COPY kernels
 *   added here, scratch offsets and the temp size.
 */
#include <stdlib.h>

#include "../ir/plan.h"
#include "passes.h"

#define ALIGN 64

static ir_node *alias_root(ir_node *n)
{
    while (n->op != KL_OP_CONST && n->op != KL_OP_PARAM && op_is_alias(n->op)) n = n->in[0];
    return n;
}

/* Give each fetch its own computed node, adding COPY kernels where needed. */
static void separate_fetches(ir_graph *g, pass_ctx *ctx)
{
    for (int i = 0; i < g->n_nodes; i++) g->nodes[i]->mark = 0;
    for (int i = 0; i < g->n_results; i++) {
        ir_node *r = g->results[i].node;
        /* a get's while/if writes the fetch itself, a further output of a
         * kernel (passes/fuse.c: a state result) its kernel */
        if (!r->kernel || r->mark) {
            kl_diag none = {0};
            ir_node *c = ir_unary(g, KL_OP_COPY, r, g->results[i].name, &none);
            KL_ASSERT(c && kl_diag_ok(&none));
            c->kernel = c;
            g->results[i].node = c;
            r = c;
            pass_count(ctx, "bufassign", "fetch copies", 1);
        }
        r->mark = 1;
    }
}

/* Whether w, v's new value, may be written into v's buffer, the one its
 * param p has: every kernel but w's reading p runs before w's kernel K,
 * and K reads p only elementwise at the index it writes (p read directly by
 * elementwise members, p, the reader and K's root all of w's type: K's
 * outputs are stored after every load at that index), or as the data of
 * a scatter root (which then starts from the buffer as it is). */
static bool update_in_place(const ir_graph *g, const ir_node *p, const ir_node *w, const int *pos)
{
    const ir_node *K = w->kernel;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (!n->kernel) continue;
        /* a scatter may take the variable as its data: out starts as it */
        bool scatter_data = n == K && n->op == KL_OP_SCATTER && n->in[0] == p;
        if (n->kernel == K && !op_is_elementwise(n->op) && n->op != KL_OP_COPY) {
            for (int k = scatter_data ? 1 : 0; k < n->n_in; k++)
                if (alias_root(n->in[k]) == p) return false;
        }
        for (int k = 0; k < n->n_in; k++) {
            if (alias_root(n->in[k]) != p) continue;
            if (n->kernel != K && pos[n->kernel->id] >= pos[K->id]) return false;
            if (n->kernel == K && (n->in[k] != p || !ir_type_equal(&p->type, &w->type) || !ir_type_equal(&n->type, &w->type) ||
                                   !ir_type_equal(&K->type, &w->type)))
                return false;
        }
    }
    return true;
}

/* State (ir.h: param_var/result_var): the caller passes one buffer for a
 * variable's param and its result, so the update is in place.  Where a
 * reader of the old value would run after the write (or the writing
 * kernel reads it out of step), the new value goes to temp and a COPY at
 * the very end writes the variable, after every read. */
static void order_state_updates(ir_graph *g, pass_ctx *ctx)
{
    if (!g->result_var || !g->param_var) return;
    int *pos = kl_calloc(NULL, (size_t)g->next_id + 1, sizeof *pos, "buffer assignment");
    for (int i = 0; i < g->n_nodes; i++) pos[g->nodes[i]->id] = i;
    for (int j = 0; j < g->n_results; j++) {
        int v = g->result_var[j];
        const ir_node *p = NULL;
        for (int i = 0; v >= 0 && i < g->n_params; i++)
            if (g->param_var[i] == v) p = g->params[i];
        ir_node *w = g->results[j].node;
        if (!p || update_in_place(g, p, w, pos)) {
            pass_count(ctx, "bufassign", "state updates in place", p != NULL);
            continue;
        }
        kl_diag none = {0};
        ir_node *c = ir_unary(g, KL_OP_COPY, w, g->results[j].name, &none);
        KL_ASSERT(c && kl_diag_ok(&none));
        c->kernel = c;
        g->results[j].node = c;
        pass_count(ctx, "bufassign", "state updates copied after the last read", 1);
    }
    free(pos);
}

typedef struct buf {
    ir_node *node;
    int64_t *at;   /* &node->offset, or &node->scratch_offset for kernel scratch */
    int def, last; /* schedule positions */
    int64_t size;
} buf;

static int by_size_desc(const void *a, const void *b)
{
    const buf *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return x->def - y->def;
}

static bool lifetimes_overlap(const buf *a, const buf *b) { return !(a->last < b->def || b->last < a->def); }

/* Lowest aligned offset where b fits beside the placed buffers it overlaps in time. */
static int64_t first_fit(const buf *b, const buf *placed, int n_placed)
{
    int64_t at = 0;
    for (bool moved = true; moved;) {
        moved = false;
        for (int i = 0; i < n_placed; i++) {
            const buf *p = &placed[i];
            if (!lifetimes_overlap(b, p)) continue;
            int64_t p0 = *p->at, p1 = p0 + p->size;
            if (at < p1 && p0 < at + b->size) {
                at = (p1 + ALIGN - 1) / ALIGN * ALIGN;
                moved = true;
            }
        }
    }
    return at;
}

/* A while keeps its carried values in scratch (two buffers each, or one
 * when the body updates it in place: ir_loop_in_place) beside its regions'
 * temp; an if needs slots for results nobody reads.  Regions were assigned
 * first (passes/pipeline.c), so their temp sizes are known. */
static void control_scratch(ir_graph *g, pass_ctx *ctx)
{
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        if (n->op != KL_OP_WHILE && n->op != KL_OP_IF) continue;
        int64_t *a = calloc((size_t)n->n_in + 1, sizeof *a), *b = calloc((size_t)n->n_in + 1, sizeof *b), t, c;
        if (!a || !b) kl_die(__FILE__, __LINE__, "out of memory");
        n->scratch_bytes = n->op == KL_OP_WHILE ? ir_loop_scratch(n, a, b, &t, &c) : ir_if_scratch(n, g, a, &t);
        for (int k = 0; n->op == KL_OP_WHILE && k < n->attr.region.n_carried; k++)
            if (a[k] == b[k]) pass_count(ctx, "bufassign", "loop values updated in place", 1);
        free(a);
        free(b);
    }
}

static void set_stores(ir_graph *g)
{
    unsigned char *outs = ir_plan_output_marks(g);
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        if (n->op == KL_OP_PARAM) n->store = IR_STORE_FEED, n->index = n->attr.param.index;
        else if (n->op == KL_OP_CONST) n->store = IR_STORE_CONST;
        else if (op_is_alias(n->op)) n->store = IR_STORE_ALIAS;
        else if (n->kernel != n && n->op != KL_OP_GET && !outs[n->id]) n->store = IR_STORE_NONE;
        else n->store = IR_STORE_TEMP; /* a root, a get, or a further output of its kernel */
    }
    free(outs);
    for (int i = 0; i < g->n_results; i++) {
        g->results[i].node->store = IR_STORE_FETCH;
        g->results[i].node->index = i;
    }
}

bool pass_bufassign(ir_graph *g, pass_ctx *ctx)
{
    separate_fetches(g, ctx);
    order_state_updates(g, ctx);
    set_stores(g);
    control_scratch(g, ctx);
    int *pos = kl_calloc(ctx->diag, (size_t)g->next_id + 1, sizeof *pos, "buffer assignment");
    int *last = kl_calloc(ctx->diag, (size_t)g->next_id + 1, sizeof *last, "buffer assignment");
    buf *bufs = kl_calloc(ctx->diag, 2 * (size_t)g->n_nodes + 1, sizeof *bufs, "buffer assignment");
    if (!pos || !last || !bufs) {
        free(pos), free(last), free(bufs);
        return false;
    }
    for (int i = 0; i < g->n_nodes; i++) pos[g->nodes[i]->id] = i, last[g->nodes[i]->id] = i;
    /* A value is read when the kernel of any computing user runs. */
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        if (!n->kernel) continue;
        for (int j = 0; j < n->n_in; j++) {
            ir_node *src = alias_root(n->in[j]);
            int at = pos[n->kernel->id];
            if (at > last[src->id]) last[src->id] = at;
        }
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == KL_OP_SEND) last[alias_root(g->nodes[i]->in[0])->id] = g->n_nodes;
    int nb = 0;
    int64_t unshared = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        if (n->store != IR_STORE_TEMP) continue;
        int64_t size = ((int64_t)ir_type_bytes(&n->type) + ALIGN - 1) / ALIGN * ALIGN;
        /* a get is written when its while/if runs */
        bufs[nb++] = (buf){n, &n->offset, pos[n->kernel->id], last[n->id], size};
        unshared += size;
    }
    /* Scratch (packed operands) lives only while its kernel runs. */
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        if (!n->kernel || n->scratch_bytes <= 0) continue;
        int at = pos[n->kernel->id];
        int64_t size = (n->scratch_bytes + ALIGN - 1) / ALIGN * ALIGN;
        bufs[nb++] = (buf){n, &n->scratch_offset, at, at, size};
        unshared += size;
    }
    qsort(bufs, (size_t)nb, sizeof *bufs, by_size_desc);
    int64_t top = 0;
    for (int i = 0; i < nb; i++) {
        *bufs[i].at = first_fit(&bufs[i], bufs, i);
        if (*bufs[i].at + bufs[i].size > top) top = *bufs[i].at + bufs[i].size;
    }
    g->temp_size = top;
    if (top > KL_MAX_BYTES) { /* each value is within the limit (passes/infer.c), their sum need not be */
        char b[32];
        kl_diag_error(ctx->diag, "%s: the temp arena would need %s, above Kiln's limit of 1 TiB (largest buffer: "
                                 "node '%s', %lld bytes)", g->source, kl_format_bytes(b, sizeof b, (uint64_t)top),
                      bufs[0].node->name ? bufs[0].node->name : "?", (long long)bufs[0].size);
    }
    pass_count(ctx, "bufassign", "temp buffers", nb);
    pass_count(ctx, "bufassign", "temp bytes", (long)top);
    pass_count(ctx, "bufassign", "bytes without reuse", (long)unshared);
    free(pos);
    free(last);
    free(bufs);
    ir_plan_build(g);
    return true;
}
