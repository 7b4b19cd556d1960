/* passes/fold.c — constant folding.
 *
 * requires: types inferred.
 * guarantees: no computing node has only constant operands (unless its
 * result would exceed FOLD_MAX_BYTES, or the reference evaluator cannot
 * evaluate it — folding is an optimization, never a reason to fail).  Folded
 * nodes are left unused for DCE.  Evaluation is ir_eval_node, the same
 * reference semantics the tests hold codegen to.
 */
#include <stdlib.h>

#include "passes.h"

#define FOLD_MAX_BYTES (64 << 20)

static bool all_const(const ir_node *n)
{
    if (n->n_in == 0 || op_is_comm(n->op)) return false; /* a send of a constant still sends */
    for (int i = 0; i < n->n_in; i++)
        if (n->in[i]->op != KL_OP_CONST) return false;
    return true;
}

bool pass_fold(ir_graph *g, pass_ctx *ctx)
{
    bool changed = false;
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        if (!all_const(n) || ir_type_bytes(&n->type) > FOLD_MAX_BYTES) continue;
        const void *in[64];
        if (n->n_in > 64) continue;
        for (int j = 0; j < n->n_in; j++) in[j] = n->in[j]->data;
        size_t bytes = ir_type_bytes(&n->type);
        void *out = aligned_alloc(64, (bytes + 63) & ~(size_t)63); /* bytes <= FOLD_MAX_BYTES */
        if (!out) continue; /* no memory to fold: the node is computed at run time instead */
        kl_diag quiet = {0};
        if (!ir_eval_node(n, in, out, &quiet)) {
            kl_diag_clear(&quiet); /* leave it to codegen, which reports properly */
            free(out);
            continue;
        }
        ir_node *c = ir_const(g, n->type, out, n->name);
        free(out);
        ir_graph_move_before(g, c, n);
        i++; /* n moved one place down */
        ir_replace_uses(g, n, c);
        changed = true;
        pass_count(ctx, "fold", "nodes folded", 1);
    }
    return changed;
}
