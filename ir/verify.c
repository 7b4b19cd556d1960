/* ir/verify.c — the IR verifier: invariants every pass must keep.
 *
 * Reports every problem it finds (up to MAX_REPORTS), each naming the graph
 * source and the node.  A failure is a Kiln bug, not a user error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "plan.h"

#define MAX_REPORTS 20

typedef struct vctx {
    const ir_graph *g;
    kl_diag *d;
    int reports;
    const ir_node **at; /* by node id: the node, once it appears in the order */
    int *pos;           /* by node id: its position in the order */
} vctx;

#define BAD(v, n, ...) bad(v, n, __VA_ARGS__)

__attribute__((format(printf, 3, 4))) static void bad(vctx *v, const ir_node *n, const char *fmt, ...)
{
    if (v->reports++ >= MAX_REPORTS) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n) kl_diag_error(v->d, "%s: node %%%d '%s' (%s): %s", v->g->source, n->id, n->name ? n->name : "",
                         (unsigned)n->op < KL_OP_COUNT ? kl_op_name(n->op) : "?", msg);
    else kl_diag_error(v->d, "%s: %s", v->g->source, msg);
}

/* n is a node of the graph (the very pointer, not just its id) seen so far. */
static bool known(const vctx *v, const ir_node *n) { return n && n->id >= 0 && n->id < v->g->next_id && v->at[n->id] == n; }

static void check_node(vctx *v, const ir_node *n)
{
    if ((unsigned)n->op >= KL_OP_COUNT) return BAD(v, n, "bad op %d", (int)n->op);
    int arity = kl_op_table[n->op].arity;
    if (n->n_in < 0 || (n->n_in && !n->in)) return BAD(v, n, "bad operand list");
    if (arity >= 0 && n->n_in != arity) return BAD(v, n, "has %d operands, the op takes %d", n->n_in, arity);
    for (int i = 0; i < n->n_in; i++)
        if (!known(v, n->in[i])) return BAD(v, n, "operand %d not defined before use", i);
    kl_diag quiet = {0};
    ir_type t;
    if (!ir_infer_type(v->g, n, &t, &quiet)) BAD(v, n, "%s", quiet.text ? quiet.text : "shape rule fails");
    else if (!ir_type_equal(&t, &n->type)) {
        char a[160], b[160];
        BAD(v, n, "type %s, shape rule gives %s", ir_type_str(&n->type, a, sizeof a), ir_type_str(&t, b, sizeof b));
    }
    kl_diag_clear(&quiet);
    if (n->op == KL_OP_CONST && !n->data) BAD(v, n, "constant without data");
    if ((n->op == KL_OP_WHILE || n->op == KL_OP_IF) && !n->n_regions) BAD(v, n, "has no regions");
    else if (n->n_regions && n->op != KL_OP_WHILE && n->op != KL_OP_IF) BAD(v, n, "has regions but is not a while or if");
    else if (n->n_regions) { /* regions are graphs of their own: checked whole, then against the node */
        kl_diag inner = {0};
        for (int r = 0; r < n->n_regions; r++)
            if (n->regions[r] && !ir_verify(n->regions[r], &inner)) BAD(v, n, "region %d: %s", r, inner.text);
        if (kl_diag_ok(&inner) && !ir_region_check(v->g, n, &inner)) BAD(v, n, "%s", inner.text);
        kl_diag_clear(&inner);
    }
    if (n->op == KL_OP_PARAM) {
        int i = n->attr.param.index;
        if (i < 0 || i >= v->g->n_params || v->g->params[i] != n) BAD(v, n, "param index %d not in the params list", i);
    }
}

/* Whether n is one of the further outputs of its kernel in g's plan. */
static bool plan_output(const ir_graph *g, const ir_node *n)
{
    const kl_kernel *k = ir_plan_kernel_of(g->plan, n);
    for (int o = 0; k && o < k->n_outputs; o++)
        if (k->outputs[o] == n) return true;
    return false;
}

/* Fused members are computed inside their root's loop, so they must be
 * elementwise (or a GEMM-planned contraction whose epilogue the root's
 * kernel is: output fusion), unstored unless the plan lists them as a
 * further output of the kernel (an elementwise member of an elementwise
 * root), and come before a root that is its own kernel. */
static void check_kernel(vctx *v, const ir_node *n)
{
    const ir_node *k = n->kernel;
    if (!known(v, k)) return BAD(v, n, "kernel is not a node of the graph");
    if (n->scratch_bytes && k->store != IR_STORE_NONE && (n->scratch_offset < 0 || n->scratch_offset % 64 || n->scratch_offset + n->scratch_bytes > v->g->temp_size))
        BAD(v, n, "scratch +%lld (%lld bytes) outside the temp arena", (long long)n->scratch_offset, (long long)n->scratch_bytes);
    if (k == n) return;
    if (n->op == KL_OP_GET) { /* written by its while/if when that runs */
        if (k != n->in[0]) BAD(v, n, "a get belongs to the kernel of its while/if, not %%%d", k->id);
        return;
    }
    if (k->kernel != k) BAD(v, n, "fused into %%%d, which is not a kernel root", k->id);
    if (n->store != IR_STORE_NONE && !plan_output(v->g, n)) BAD(v, n, "fused into %%%d but materialized", k->id);
    if (n->store != IR_STORE_NONE && (!op_is_elementwise(n->op) || !op_is_elementwise(k->op)))
        BAD(v, n, "a further output of kernel %%%d, but it or the root is not elementwise", k->id);
    const kl_kernel *kk = ir_plan_kernel_of(v->g->plan, k);
    if (!op_is_elementwise(n->op) && !(ir_fusable_movement(n) && op_is_elementwise(k->op)) && !(n->gemm && op_is_elementwise(k->op)) &&
        !(kk && kk->contraction && ir_conv_source_member(v->g, kk->contraction, n))) /* a conv's input by index (conv_input.c) */
        BAD(v, n, "fused but not elementwise (nor a GEMM feeding an elementwise epilogue)");
    if (v->pos[k->id] <= v->pos[n->id]) BAD(v, n, "fused into %%%d, which is not later", k->id);
}

/* Where the value lives must exist and fit (after buffer assignment). */
static void check_store(vctx *v, const ir_node *n)
{
    int64_t bytes = (int64_t)ir_type_bytes(&n->type), size = v->g->temp_size;
    switch (n->store) {
    case IR_STORE_TEMP:
        if (n->offset < 0 || n->offset % 64 || n->offset > size || bytes > size - n->offset)
            BAD(v, n, "temp slot +%lld (%lld bytes) outside the arena of %lld bytes or not 64-aligned",
                (long long)n->offset, (long long)bytes, (long long)size);
        break;
    case IR_STORE_FEED:
        if (n->index < 0 || n->index >= v->g->n_params) BAD(v, n, "feed %d does not exist", n->index);
        break;
    case IR_STORE_FETCH:
        if (n->index < 0 || n->index >= v->g->n_results || v->g->results[n->index].node != n)
            BAD(v, n, "fetch %d is not this node's result", n->index);
        break;
    case IR_STORE_ALIAS:
        if (!op_is_alias(n->op)) BAD(v, n, "stored as an alias but the op cannot alias");
        break;
    case IR_STORE_CONST:
        if (n->op != KL_OP_CONST) BAD(v, n, "stored as a constant but not a constant");
        break;
    case IR_STORE_NONE:
        break;
    }
    if (op_is_alias(n->op) && n->store != IR_STORE_ALIAS && n->store != IR_STORE_NONE && n->kernel != n)
        BAD(v, n, "alias op with its own storage but no kernel to fill it");
}

/* Plan annotations (set by fuse and bufassign) must describe runnable code.
 * Stores are checked only once buffer assignment ran (`stored`). */
static void check_plan(vctx *v, const ir_node *n, bool stored)
{
    if (n->kernel) check_kernel(v, n);
    if (!stored) return;
    check_store(v, n);
    for (int i = 0; i < n->n_in; i++) {
        const ir_node *p = n->in[i];
        bool inside = n->kernel && p->kernel == n->kernel && p->kernel != p;
        if (!inside && p->store == IR_STORE_NONE && !n->kernel && op_is_alias(n->op) && p->kernel) {
            /* a reshape between members of a conv's input chain (ir/conv_input.c) */
            const kl_kernel *pk = ir_plan_kernel_of(v->g->plan, p->kernel);
            inside = pk && pk->contraction && ir_conv_source_member(v->g, pk->contraction, p);
        }
        if (!inside && p->store == IR_STORE_NONE)
            BAD(v, n, "reads %%%d from outside its kernel, but %%%d is never stored", p->id, p->id);
    }
}

static void check_lists(vctx *v)
{
    const ir_graph *g = v->g;
    for (int i = 0; i < g->n_results; i++)
        if (!known(v, g->results[i].node)) BAD(v, NULL, "result %d is not a node of the graph", i);
    for (int i = 0; i < g->n_params; i++) {
        const ir_node *p = g->params[i];
        if (!known(v, p) || p->op != KL_OP_PARAM) BAD(v, NULL, "param %d is not a param node of the graph", i);
        else if (p->attr.param.index != i) BAD(v, p, "listed as param %d but has index %d", i, p->attr.param.index);
    }
}

bool ir_verify(const ir_graph *g, kl_diag *d)
{
    vctx v = {g, d, 0, kl_calloc(NULL, (size_t)g->next_id + 1, sizeof *v.at, "the verifier"),
              kl_calloc(NULL, (size_t)g->next_id + 1, sizeof *v.pos, "the verifier")};
    bool planned = false, stored = false;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (!n || n->id < 0 || n->id >= g->next_id) {
            BAD(&v, NULL, "node at position %d is missing or has a bad id", i);
            continue;
        }
        if (v.at[n->id]) BAD(&v, n, "appears twice or shares its id");
        check_node(&v, n);
        v.at[n->id] = n;
        v.pos[n->id] = i;
        planned |= n->kernel != NULL;
        stored |= n->store != IR_STORE_NONE;
    }
    check_lists(&v);
    for (int i = 0; planned && i < g->n_nodes; i++)
        if (known(&v, g->nodes[i])) check_plan(&v, g->nodes[i], stored);
    for (int i = 0; planned && stored && i < g->n_results; i++)
        if (known(&v, g->results[i].node) && g->results[i].node->store == IR_STORE_NONE)
            BAD(&v, g->results[i].node, "result %d is never stored", i);
    if (g->plan && !ir_plan_verify(g, d)) v.reports++;
    if (v.reports > MAX_REPORTS) kl_diag_error(d, "%s: ... and %d more problems", g->source, v.reports - MAX_REPORTS);
    free(v.at);
    free(v.pos);
    return v.reports == 0;
}
