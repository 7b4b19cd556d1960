/* passes/simplify.c — algebraic simplification.
 *
 * requires: types inferred.
 * guarantees: removes no-op nodes whose result equals an operand bit for bit
 * (same type): x+0, x-0, x*1, x/1 with a constant all-zero/one operand that
 * does not broadcast x; reshape to the same shape; reshape of reshape;
 * cast to the same dtype; neg(neg x); copy is kept (it materializes);
 * transposes of transposes compose into one, or cancel.
 * conv2d(pad(x, zeros on H and W)) becomes conv2d(x) with larger pads.
 * mul(conv2d(x, W), s) and mul(matmul(x, W), s), with constant W and a
 * constant s per output channel (batch norm's scale), become the conv or
 * matmul with W * s computed here; the batch norm's shift stays an add,
 * which fuse makes part of the GEMM's epilogue.
 * (1x1 convs stay convs: the GEMM path computes them as they are.)
 * An if on a constant predicate becomes the branch it takes, inlined.
 * A strided conv2d_transpose with a constant filter becomes a stride-1
 * conv2d (all s*s output phases as its channels) and a depth-to-space,
 * its per-channel consumers moved before it (passes/subpixel.c).
 * Users are rewired; the dead nodes are left for DCE.
 */
#include <stdlib.h>
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

static int uses_of(const ir_graph *g, const ir_node *v)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i]->n_in; j++) n += g->nodes[i]->in[j] == v;
    for (int i = 0; i < g->n_results; i++) n += g->results[i].node == v;
    return n;
}

/* A float32 constant that scales only along the last axis of a rank-r
 * value with `cols` columns: a scalar or [1,...,1,cols]. */
static bool per_column_scale(const ir_node *s, int r, int64_t cols)
{
    if (s->op != KL_OP_CONST || s->type.dtype != KL_F32 || s->type.rank > r) return false;
    int64_t numel = ir_type_numel(&s->type);
    if (numel == 1) return true;
    return s->type.rank > 0 && s->type.dims[s->type.rank - 1] == cols && numel == cols;
}

/* mul(conv(x, W), s) -> conv(x, W * s) for a per-output-channel constant s
 * (inference batch norm's scale), and the same for matmul(x, W) * s[N]:
 * the multiply happens once, at compile time, on the weights.  The conv or
 * matmul must have no other use. */
static ir_node *fold_scale_into_weights(ir_graph *g, ir_node *n)
{
    if (n->op != KL_OP_MUL || n->type.dtype != KL_F32) return NULL;
    for (int side = 0; side < 2; side++) {
        ir_node *c = n->in[side], *s = n->in[1 - side];
        bool conv = c->op == KL_OP_CONV2D, mm = c->op == KL_OP_MATMUL && !c->attr.matmul.transpose_a;
        if (!(conv || mm) || c->type.dtype != KL_F32 || !ir_type_equal(&c->type, &n->type)) continue;
        const ir_node *w = ir_const_source(c->in[1]);
        int64_t cols = c->type.dims[c->type.rank - 1];
        if (!w || w->type.dtype != KL_F32 || !per_column_scale(s, c->type.rank, cols) || uses_of(g, c) != 1) continue;
        int64_t numel = ir_type_numel(&w->type);
        float *scaled = kl_calloc(NULL, (size_t)numel, sizeof(float), "scaled weights");
        const float *wd = w->data, *sd = s->data;
        bool trb = mm && c->attr.matmul.transpose_b, scalar = ir_type_numel(&s->type) == 1;
        int64_t k = mm ? c->in[1]->type.dims[c->in[1]->type.rank - (trb ? 1 : 2)] : 1;
        for (int64_t i = 0; i < numel; i++) {
            /* output column of weight element i: HWIO's last axis, B's last (or, transposed, its row) */
            int64_t col = trb ? (i / k) % cols : i % cols;
            scaled[i] = wd[i] * sd[scalar ? 0 : col];
        }
        ir_node *w2 = ir_const(g, c->in[1]->type, scaled, w->name);
        free(scaled);
        kl_diag d = {0};
        ir_node *c2 = ir_node_new(g, c->op, 2, (ir_node *[]){c->in[0], w2}, &c->attr, &c->type, c->name, &d);
        KL_ASSERT(c2 && kl_diag_ok(&d));
        ir_graph_move_before(g, w2, n);
        ir_graph_move_before(g, c2, n);
        return c2;
    }
    return NULL;
}

/* if(constant p): the taken branch's nodes replace the if; its gets read
 * the branch's results.  Returns the nodes moved in before n. */
static int inline_constant_if(ir_graph *g, ir_node *n)
{
    const ir_node *p = n->op == KL_OP_IF ? ir_const_source(n->in[0]) : NULL;
    if (!p) return -1;
    bool taken = *(const uint8_t *)p->data != 0;
    const ir_graph *r = n->regions[taken ? 0 : 1];
    ir_node **outs = malloc(sizeof *outs * ((size_t)r->n_results + 1));
    if (!outs) kl_die(__FILE__, __LINE__, "out of memory");
    int moved = ir_inline_region(g, n, taken ? 0 : 1, outs);
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *m = g->nodes[i];
        if (m->op == KL_OP_GET && m->in[0] == n) ir_replace_uses(g, m, outs[m->attr.region.index]);
    }
    int64_t branch = taken;
    ir_node *k = ir_const(g, n->type, &branch, n->name);
    ir_graph_move_before(g, k, n);
    /* the if and its gets leave the graph now: the spent region must not
     * be verified or visited again */
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *m = g->nodes[i];
        m->mark = m != n && !(m->op == KL_OP_GET && m->in[0] == n);
        for (int j = 0; m->mark && j < m->n_in; j++)
            if (m->in[j] == n) m->in[j] = k;
    }
    for (int i = 0; i < g->n_results; i++)
        if (g->results[i].node == n) g->results[i].node = k;
    ir_graph_remove_unmarked(g);
    free(outs);
    return moved + 1;
}

bool pass_simplify(ir_graph *g, pass_ctx *ctx)
{
    bool changed = false;
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        int moved = inline_constant_if(g, n);
        if (moved >= 0) {
            i += moved - 1; /* past the branch (simplified as a region already) and k; n is gone */
            changed = true;
            pass_count(ctx, "simplify", "ifs on constants inlined", 1);
            continue;
        }
        if (pass_subpixel_conv_transpose(g, n, ctx)) { /* new nodes before the last consumer moved (or n); n is left for DCE */
            changed = true;
            continue;
        }
        ir_node *folded = fold_scale_into_weights(g, n);
        if (folded) {
            i += 2; /* n moved down past the two new nodes */
            ir_replace_uses(g, n, folded);
            changed = true;
            pass_count(ctx, "simplify", "scales folded into weights", 1);
            continue;
        }
        if (fold_pad_into_conv(n)) {
            changed = true;
            pass_count(ctx, "simplify", "pads folded into convs", 1);
        }
        /* transpose(transpose(x, p1), p2) -> transpose(x, p1[p2]), or x when
         * that is the identity (ONNX's NCHW<->NHWC pairs between convs) */
        if (n->op == KL_OP_TRANSPOSE && n->in[0]->op == KL_OP_TRANSPOSE) {
            const ir_node *t = n->in[0];
            bool identity = true;
            int8_t perm[IR_MAX_RANK];
            for (int d = 0; d < n->type.rank; d++) {
                perm[d] = t->attr.transpose.perm[n->attr.transpose.perm[d]];
                identity &= perm[d] == d;
            }
            memcpy(n->attr.transpose.perm, perm, (size_t)n->type.rank);
            n->in[0] = t->in[0];
            changed = true;
            pass_count(ctx, "simplify", "transposes composed", 1);
            if (identity && ir_type_equal(&n->type, &n->in[0]->type)) {
                ir_replace_uses(g, n, n->in[0]);
                pass_count(ctx, "simplify", "transposes cancelled", 1);
                continue;
            }
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
