/* passes/simplify.c — algebraic simplification.
 *
 * requires: types inferred.
 * guarantees: removes no-op nodes whose result equals an operand bit for bit
 * (same type): x+0, x-0, x*1, x/1 with a constant all-zero/one operand that
 * does not broadcast x; reshape to the same shape; reshape of reshape;
 * cast to the same dtype; neg(neg x); copy is kept (it materializes).
 * conv2d(pad(x, zeros on H and W)) becomes conv2d(x) with larger pads.
 * (1x1 convs stay convs: the GEMM path computes them as they are.)
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

/* conv2d(pad(x)) with zeros on H and W only: the conv's own padding, which
 * the indirect GEMM reads as zero rows without materializing the padded
 * input (Keras' ZeroPadding2D before ResNet's stem, "VALID" after pads). */
static bool fold_pad_into_conv(ir_node *n)
{
    if (n->op != KL_OP_CONV2D || n->in[0]->op != KL_OP_PAD) return false;
    const ir_node *p = n->in[0];
    if (p->attr.pad.mode != IR_PAD_CONSTANT || p->attr.pad.value != 0 || p->type.rank != 4) return false;
    const int64_t *lo = p->attr.pad.lo, *hi = p->attr.pad.hi;
    if (lo[0] || hi[0] || lo[3] || hi[3] || lo[1] < 0 || hi[1] < 0 || lo[2] < 0 || hi[2] < 0) return false;
    int64_t top = n->attr.conv.pad_top + lo[1], bottom = n->attr.conv.pad_bottom + hi[1];
    int64_t left = n->attr.conv.pad_left + lo[2], right = n->attr.conv.pad_right + hi[2];
    if (top > 1 << 20 || bottom > 1 << 20 || left > 1 << 20 || right > 1 << 20) return false;
    n->attr.conv.pad_top = (int)top, n->attr.conv.pad_bottom = (int)bottom;
    n->attr.conv.pad_left = (int)left, n->attr.conv.pad_right = (int)right;
    n->in[0] = p->in[0];
    return true;
}

bool pass_simplify(ir_graph *g, pass_ctx *ctx)
{
    bool changed = false;
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        if (fold_pad_into_conv(n)) {
            changed = true;
            pass_count(ctx, "simplify", "pads folded into convs", 1);
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
