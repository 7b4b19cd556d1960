/* ir/scan.c — the builder for running sums and products with TensorFlow's
 * and ONNX's options.  The IR op is the inclusive forward scan; an exclusive
 * scan shifts its operand one step along the axis first (a pad with the
 * identity, then a slice), a reverse one flips its operand and result
 * (negative-stride slices).  The scan is not elementwise, so these stay
 * copies of their own (the flip of the result fuses into an elementwise
 * consumer): an option costs a pass over memory, not a second algorithm. */
#include <string.h>

#include "ir.h"

static ir_node *flip(ir_graph *g, ir_node *x, int axis, const char *name, kl_diag *d)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    for (int i = 0; i < x->type.rank; i++) a.slice.stride[i] = 1;
    a.slice.begin[axis] = x->type.dims[axis] - 1, a.slice.stride[axis] = -1;
    return ir_node_folded(g, KL_OP_SLICE, 1, &x, &a, &x->type, name, d);
}

static ir_node *shift(ir_graph *g, ir_node *x, int axis, double identity, const char *name, kl_diag *d)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.pad.lo[axis] = 1, a.pad.value = identity;
    ir_node *p = ir_node_folded(g, KL_OP_PAD, 1, &x, &a, NULL, name, d);
    if (!p) return NULL;
    memset(&a, 0, sizeof a);
    for (int i = 0; i < x->type.rank; i++) a.slice.stride[i] = 1;
    return ir_node_folded(g, KL_OP_SLICE, 1, &p, &a, &x->type, name, d);
}

ir_node *ir_scan(ir_graph *g, kl_op op, ir_node *x, int axis, bool exclusive, bool reverse, const char *name, kl_diag *d)
{
    KL_ASSERT(op == KL_OP_CUMSUM || op == KL_OP_CUMPROD);
    if (!x) return NULL;
    if (axis < 0 || axis >= x->type.rank) {
        kl_diag_error(d, "%s: node '%s' (%s): axis %d out of range", g->source, name ? name : "", kl_op_name(op), axis);
        return NULL;
    }
    if (x->type.dims[axis] == 0) return x;
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.concat.axis = axis;
    if (reverse) x = flip(g, x, axis, name, d);
    if (exclusive && x) x = shift(g, x, axis, op == KL_OP_CUMPROD ? 1.0 : 0.0, name, d);
    ir_node *y = x ? ir_node_folded(g, op, 1, &x, &a, NULL, name, d) : NULL;
    return reverse && y ? flip(g, y, axis, name, d) : y;
}
