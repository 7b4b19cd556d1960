/* passes/infer.c — shape and dtype inference.
 *
 * requires: nodes in topological order.
 * guarantees: every node's type is what the shape rules (ir/ops.def) give
 * for its operands; a node whose operands do not fit is reported, naming it.
 * Builders already infer as they build; this pass re-derives types after
 * rewrites and after parsing, and is where the checks for the whole graph
 * happen in one place.
 */
#include "passes.h"

bool pass_infer(ir_graph *g, pass_ctx *ctx)
{
    bool changed = false;
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        ir_type t;
        if (!ir_infer_type(g, n, &t, ctx->diag)) continue; /* report every bad node */
        if (!ir_type_equal(&t, &n->type)) {
            n->type = t;
            changed = true;
            pass_count(ctx, "infer", "types changed", 1);
        }
    }
    return changed;
}
