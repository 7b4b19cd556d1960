/* passes/dce.c — dead-code elimination from the fetches.
 *
 * requires: nothing.
 * guarantees: every node left is a param (the feeds are the caller's ABI and
 * stay, used or not), a send (a side effect: docs/distributed.md) or is
 * needed by some result or send.
 */
#include "passes.h"

bool pass_dce(ir_graph *g, pass_ctx *ctx)
{
    for (int i = 0; i < g->n_nodes; i++) g->nodes[i]->mark = g->nodes[i]->op == KL_OP_PARAM || g->nodes[i]->op == KL_OP_SEND || op_is_bucket(g->nodes[i]->op);
    for (int i = 0; i < g->n_results; i++) g->results[i].node->mark = 1;
    /* Reverse topological order: a node's users are decided before it. */
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        ir_node *n = g->nodes[i];
        if (!n->mark) continue;
        for (int j = 0; j < n->n_in; j++) n->in[j]->mark = 1;
    }
    int before = g->n_nodes;
    ir_graph_remove_unmarked(g);
    pass_count(ctx, "dce", "nodes removed", before - g->n_nodes);
    return g->n_nodes != before;
}
