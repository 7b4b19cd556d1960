/* passes/cse.c — common subexpression elimination.
 *
 * requires: nodes in topological order.
 * guarantees: no two nodes compute the same value: same op, same operands
 * (in either order for commutative ops), same attributes and type.  Equal
 * constants (same type and bytes) are shared too, so the object holds each
 * weight once.  Params are never merged: each is a separate feed, nor are
 * while/if nodes (their regions are not compared).
 */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull; }

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = mix(h, b[i]);
    return h;
}

/* Builders normalize attributes (ir_attr_normalize), so bytes compare. */
static bool attrs_equal(const ir_node *a, const ir_node *b) { return !memcmp(&a->attr, &b->attr, sizeof a->attr); }

static bool operands_equal(const ir_node *a, const ir_node *b)
{
    if (a->n_in != b->n_in) return false;
    bool same = true;
    for (int i = 0; i < a->n_in; i++) same = same && a->in[i] == b->in[i];
    if (same) return true;
    return op_is_commutative(a->op) && a->n_in == 2 && a->in[0] == b->in[1] && a->in[1] == b->in[0];
}

static bool same_value(const ir_node *a, const ir_node *b)
{
    if (a->op != b->op || !ir_type_equal(&a->type, &b->type)) return false;
    if (a->op == KL_OP_CONST) return !memcmp(a->data, b->data, ir_type_bytes(&a->type));
    return operands_equal(a, b) && attrs_equal(a, b);
}

static uint64_t hash_node(const ir_node *n)
{
    uint64_t h = mix(0xcbf29ce484222325ull, (uint64_t)n->op);
    h = hash_bytes(h, n->type.dims, sizeof(int64_t) * (size_t)n->type.rank);
    if (n->op == KL_OP_CONST) return hash_bytes(h, n->data, ir_type_bytes(&n->type));
    uint64_t ops = 0;
    for (int i = 0; i < n->n_in; i++) /* order-free sum keeps commutative pairs equal */
        ops += (uint64_t)n->in[i]->id * 0x9e3779b97f4a7c15ull;
    return mix(h, ops);
}

bool pass_cse(ir_graph *g, pass_ctx *ctx)
{
    size_t cap = 16;
    while (cap < (size_t)g->n_nodes * 2) cap *= 2;
    ir_node **table = kl_calloc(ctx->diag, cap, sizeof *table, "common subexpression elimination");
    if (!table) return false;
    bool changed = false;
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        if (n->op == KL_OP_PARAM || n->n_regions || op_is_comm(n->op)) continue; /* loops with equal operands may differ in body; send/recv are effects */
        size_t slot = hash_node(n) & (cap - 1);
        while (table[slot] && !same_value(table[slot], n)) slot = (slot + 1) & (cap - 1);
        if (!table[slot]) {
            table[slot] = n;
            continue;
        }
        /* An earlier node computes the same value: use it instead.  Later
         * nodes are rewired before they are hashed, so chains collapse in
         * one sweep. */
        ir_replace_uses(g, n, table[slot]);
        changed = true;
        pass_count(ctx, "cse", n->op == KL_OP_CONST ? "constants shared" : "nodes merged", 1);
    }
    free(table);
    return changed;
}
