/* ir/verify.c — the IR verifier: invariants every pass must keep.
 *
 * Reports every problem it finds (up to MAX_REPORTS), each naming the graph
 * source and the node.  A failure is a Kiln bug, not a user error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "ir.h"

#define MAX_REPORTS 20

typedef struct vctx {
    const ir_graph *g;
    kl_diag *d;
    int reports;
    unsigned char *seen; /* by node id: appears earlier in the order */
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
                         kl_op_name(n->op), msg);
    else kl_diag_error(v->d, "%s: %s", v->g->source, msg);
}

static bool known(const vctx *v, const ir_node *n) { return n && n->id >= 0 && n->id < v->g->next_id && v->seen[n->id]; }

static void check_node(vctx *v, const ir_node *n)
{
    if (n->op >= KL_OP_COUNT) return BAD(v, n, "bad op %d", (int)n->op);
    int arity = kl_op_table[n->op].arity;
    if (arity >= 0 && n->n_in != arity) BAD(v, n, "has %d operands, the op takes %d", n->n_in, arity);
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
    if (n->op == KL_OP_PARAM) {
        int i = n->attr.param.index;
        if (i < 0 || i >= v->g->n_params || v->g->params[i] != n) BAD(v, n, "param index %d not in the params list", i);
    }
}

/* Plan annotations (set by fuse and bufassign) must describe runnable code. */
static void check_plan(vctx *v, const ir_node *n, const int *pos, bool stored)
{
    if (n->kernel && n->kernel != n) {
        if (n->store != IR_STORE_NONE) BAD(v, n, "fused into %%%d but materialized", n->kernel->id);
        if (!op_is_elementwise(n->op)) BAD(v, n, "fused but not elementwise");
        if (pos[n->kernel->id] <= pos[n->id]) BAD(v, n, "fused into %%%d, which is not later", n->kernel->id);
    }
    for (int i = 0; stored && i < n->n_in; i++) {
        const ir_node *p = n->in[i];
        bool inside = n->kernel && p->kernel == n->kernel && p->kernel != p;
        if (!inside && p->store == IR_STORE_NONE && (p->kernel || n->kernel))
            BAD(v, n, "reads %%%d, which is computed inside another kernel and never stored", p->id);
    }
    if (n->store == IR_STORE_TEMP && (n->offset % 64 || n->offset < 0 ||
                                      n->offset + (int64_t)ir_type_bytes(&n->type) > v->g->temp_size))
        BAD(v, n, "temp slot +%lld outside the arena of %lld bytes or misaligned", (long long)n->offset,
            (long long)v->g->temp_size);
    if (op_is_alias(n->op) && n->store != IR_STORE_ALIAS && n->store != IR_STORE_NONE)
        BAD(v, n, "alias op with its own storage");
}

bool ir_verify(const ir_graph *g, kl_diag *d)
{
    vctx v = {g, d, 0, calloc((size_t)g->next_id + 1, 1)};
    int *pos = calloc((size_t)g->next_id + 1, sizeof *pos);
    if (!v.seen || !pos) kl_die(__FILE__, __LINE__, "out of memory");
    bool planned = false, stored = false;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (!n || n->id < 0 || n->id >= g->next_id) {
            BAD(&v, NULL, "node at position %d has a bad id", i);
            continue;
        }
        if (v.seen[n->id]) BAD(&v, n, "appears twice or shares its id");
        check_node(&v, n);
        v.seen[n->id] = 1;
        pos[n->id] = i;
        planned |= n->kernel != NULL;
        stored |= n->store != IR_STORE_NONE;
    }
    for (int i = 0; i < g->n_results; i++)
        if (!known(&v, g->results[i].node)) BAD(&v, NULL, "result %d is not a node of the graph", i);
    for (int i = 0; i < g->n_params; i++)
        if (!g->params[i] || g->params[i]->op != KL_OP_PARAM || !known(&v, g->params[i]))
            BAD(&v, NULL, "param %d is not a param node of the graph", i);
    for (int i = 0; planned && i < g->n_nodes; i++) check_plan(&v, g->nodes[i], pos, stored);
    free(v.seen);
    free(pos);
    return v.reports == 0;
}
