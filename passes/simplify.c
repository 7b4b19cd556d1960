/* passes/simplify.c — algebraic simplification.
 *
 * requires: types inferred.
 * guarantees: removes no-op nodes whose result equals an operand bit for bit
 * (same type): x+0, x-0, x*1, x/1 with a constant all-zero/one operand that
 * does not broadcast x; reshape to the same shape; reshape of reshape;
 * cast to the same dtype; neg(neg x); copy is kept (it materializes).
 * A 1x1, stride-1, unpadded, ungrouped conv2d with at least 64 pixels, input
 * and output channels is a matmul big enough for the GEMM strategy: it
 * becomes reshape -> matmul -> reshape.
 * Users are rewired; the dead nodes are left for DCE.
 */
#include <string.h>

#include "passes.h"

/* Is n a constant whose every element equals v (f32 or i32)? */
static bool const_all(const ir_node *n, double v)
{
    if (n->op != KL_OP_CONST) return false;
    int64_t count = ir_type_numel(&n->type);
    for (int64_t i = 0; i < count; i++) {
        double e;
        if (n->type.dtype == KL_F32) e = ((const float *)n->data)[i];
        else if (n->type.dtype == KL_I32) e = ((const int32_t *)n->data)[i];
        else return false;
        if (e != v) return false;
    }
    return true;
}

/* The operand equal to n's result, or NULL. */
static ir_node *identity_of(ir_node *n)
{
    ir_node *a = n->n_in > 0 ? n->in[0] : NULL, *b = n->n_in > 1 ? n->in[1] : NULL;
    switch (n->op) {
    case KL_OP_ADD:
        if (const_all(b, 0) && ir_type_equal(&a->type, &n->type)) return a;
        if (const_all(a, 0) && ir_type_equal(&b->type, &n->type)) return b;
        return NULL;
    case KL_OP_SUB:
        return const_all(b, 0) && ir_type_equal(&a->type, &n->type) ? a : NULL;
    case KL_OP_MUL:
        if (const_all(b, 1) && ir_type_equal(&a->type, &n->type)) return a;
        if (const_all(a, 1) && ir_type_equal(&b->type, &n->type)) return b;
        return NULL;
    case KL_OP_DIV:
        return const_all(b, 1) && ir_type_equal(&a->type, &n->type) ? a : NULL;
    case KL_OP_RESHAPE:
    case KL_OP_CAST:
        return ir_type_equal(&a->type, &n->type) ? a : NULL;
    case KL_OP_NEG:
        return a->op == KL_OP_NEG ? a->in[0] : NULL;
    default:
        return NULL;
    }
}

/* NHWC x [1,1,C,O] -> [N*H*W, C] x [C, O], reshaped back. */
static ir_node *pointwise_conv_as_matmul(ir_graph *g, ir_node *n)
{
    if (n->op != KL_OP_CONV2D) return NULL;
    const ir_type *x = &n->in[0]->type, *w = &n->in[1]->type;
    ir_attr a = n->attr;
    /* only where the product is big enough for the GEMM strategy (m, n, k >= 64):
     * smaller pointwise convs run faster as the direct conv loop */
    if (x->dims[0] * x->dims[1] * x->dims[2] < 64 || x->dims[3] < 64 || w->dims[3] < 64) return NULL;
    if (w->dims[0] != 1 || w->dims[1] != 1 || a.conv.groups != 1 || a.conv.stride_h != 1 ||
        a.conv.stride_w != 1 || a.conv.pad_top || a.conv.pad_bottom || a.conv.pad_left || a.conv.pad_right)
        return NULL;
    kl_diag d = {0};
    int64_t pixels = x->dims[0] * x->dims[1] * x->dims[2];
    ir_node *xs = ir_reshape(g, n->in[0], 2, (int64_t[]){pixels, x->dims[3]}, n->name, &d);
    ir_node *ws = ir_reshape(g, n->in[1], 2, (int64_t[]){w->dims[2], w->dims[3]}, n->name, &d);
    ir_node *mm = xs && ws ? ir_binary(g, KL_OP_MATMUL, xs, ws, n->name, &d) : NULL;
    ir_node *y = mm ? ir_reshape(g, mm, 4, n->type.dims, n->name, &d) : NULL;
    KL_ASSERT(y && kl_diag_ok(&d)); /* shapes follow from the conv's own */
    ir_node *made[4] = {xs, ws, mm, y};
    for (int k = 0; k < 4; k++) ir_graph_move_before(g, made[k], n); /* keep the order topological */
    return y;
}

bool pass_simplify(ir_graph *g, pass_ctx *ctx)
{
    bool changed = false;
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        ir_node *mm = pointwise_conv_as_matmul(g, n);
        if (mm) {
            i += 4; /* n moved down past the four new nodes */
            ir_replace_uses(g, n, mm);
            changed = true;
            pass_count(ctx, "simplify", "1x1 convs as matmuls", 1);
            continue;
        }
        /* reshape(reshape(x)) -> reshape(x): only the last shape matters. */
        if (n->op == KL_OP_RESHAPE && n->in[0]->op == KL_OP_RESHAPE) {
            n->in[0] = n->in[0]->in[0];
            changed = true;
            pass_count(ctx, "simplify", "reshapes merged", 1);
        }
        ir_node *same = identity_of(n);
        if (same) {
            ir_replace_uses(g, n, same);
            changed = true;
            pass_count(ctx, "simplify", "no-ops removed", 1);
        }
    }
    return changed;
}
