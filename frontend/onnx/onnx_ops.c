/* frontend/onnx/onnx_ops.c — importers of ONNX ops into Kiln's IR.
 *
 * ONNX is NCHW; Kiln's convolutions and pools are NHWC, so those ops are
 * wrapped in transposes (constant weights are transposed at import by
 * folding).  Attributes that moved to inputs across opsets are read from
 * either, by the model's opset.  Omitted optional inputs arrive as NULL.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

static int64_t opset(const ox *c) { return c->m->opset; }

static ir_node *need(ox *c, const ox_node *n, ir_node **in, int n_in, int k)
{
    return k < n_in && in[k] ? in[k] : ox_err(c, n, "input %d is missing", k);
}

static ir_node *sel(ox *c, const ox_node *n, ir_node *cond, ir_node *a, ir_node *b)
{
    return ox_op(c, n, KL_OP_SELECT, 3, (ir_node *[]){cond, a, b}, NULL, NULL);
}

static ir_node *slice_of(ox *c, const ox_node *n, ir_node *x, const int64_t *begin, const int64_t *size, const int64_t *step);

static ir_node *k_like(ox *c, const ir_node *x, double v) { return x ? ox_scalar(c, x->type.dtype, v) : NULL; }

/* ---- elementwise -------------------------------------------------------- */

ir_node *ox_identity(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op) { return need(c, n, in, n_in, 0); }

ir_node *ox_constant(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    const ox_attr *a;
    ir_node *k = NULL;
    if ((a = ox_attr_get(n, "value")) && a->t) return ox_tensor_to_const(c, n, a->t, n->output[0], &k) ? k : NULL;
    if ((a = ox_attr_get(n, "value_float"))) return ox_scalar(c, KL_F32, a->f);
    if ((a = ox_attr_get(n, "value_int"))) return ox_scalar(c, KL_I64, (double)a->i);
    if ((a = ox_attr_get(n, "value_floats"))) {
        int64_t len = (int64_t)a->n_floats;
        return ir_const(c->g, ir_type_make(KL_F32, 1, &len), a->floats, n->output[0]);
    }
    if ((a = ox_attr_get(n, "value_ints"))) {
        int64_t len = (int64_t)a->n_ints;
        return ir_const(c->g, ir_type_make(KL_I64, 1, &len), a->ints, n->output[0]);
    }
    return ox_err(c, n, "unsupported constant form (sparse or string values)");
}

ir_node *ox_unary(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op) { return ox_un(c, n, op, need(c, n, in, n_in, 0)); }

ir_node *ox_binary(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *a = need(c, n, in, n_in, 0), *b = need(c, n, in, n_in, 1);
    if (op == KL_OP_POW && a && b && a->type.dtype != b->type.dtype) b = ox_cast(c, n, b, a->type.dtype);
    return ox_bin(c, n, op, a, b);
}

ir_node *ox_variadic(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *acc = need(c, n, in, n_in, 0);
    for (int i = 1; i < n_in; i++) acc = ox_bin(c, n, op, acc, need(c, n, in, n_in, i));
    if (!strcmp(n->op_type, "Mean")) acc = ox_bin(c, n, KL_OP_DIV, acc, k_like(c, acc, n_in));
    return acc;
}

ir_node *ox_reciprocal(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    return ox_bin(c, n, KL_OP_DIV, k_like(c, x, 1), x);
}

ir_node *ox_softsign(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    return ox_bin(c, n, KL_OP_DIV, x, ox_bin(c, n, KL_OP_ADD, k_like(c, x, 1), ox_un(c, n, KL_OP_ABS, x)));
}

ir_node *ox_sign(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0), *z = k_like(c, x, 0);
    ir_node *neg = sel(c, n, ox_bin(c, n, KL_OP_LESS, x, z), k_like(c, x, -1), z);
    return sel(c, n, ox_bin(c, n, KL_OP_GREATER, x, z), k_like(c, x, 1), neg);
}

/* x > 0 ? x : alpha * (e^(x / scale_in) - 1) */
static ir_node *elu_like(ox *c, const ox_node *n, ir_node *x, double alpha, double scale_in)
{
    ir_node *arg = scale_in == 1 ? x : ox_bin(c, n, KL_OP_DIV, x, k_like(c, x, scale_in));
    ir_node *neg = ox_bin(c, n, KL_OP_MUL, ox_un(c, n, KL_OP_ELU, arg), k_like(c, x, alpha));
    return sel(c, n, ox_bin(c, n, KL_OP_GREATER, x, k_like(c, x, 0)), x, neg);
}

ir_node *ox_elu(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    return elu_like(c, n, need(c, n, in, n_in, 0), ox_attr_float(n, "alpha", 1.0f), 1);
}

ir_node *ox_celu(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    float alpha = ox_attr_float(n, "alpha", 1.0f);
    return elu_like(c, n, need(c, n, in, n_in, 0), alpha, alpha);
}

ir_node *ox_selu(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    double alpha = ox_attr_float(n, "alpha", 1.67326319217681884765625f), gamma = ox_attr_float(n, "gamma", 1.05070102214813232421875f);
    ir_node *x = need(c, n, in, n_in, 0);
    return ox_bin(c, n, KL_OP_MUL, elu_like(c, n, x, alpha, 1), k_like(c, x, gamma));
}

ir_node *ox_leaky_relu(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    ir_node *scaled = ox_bin(c, n, KL_OP_MUL, x, k_like(c, x, ox_attr_float(n, "alpha", 0.01f)));
    return sel(c, n, ox_bin(c, n, KL_OP_LESS, x, k_like(c, x, 0)), scaled, x);
}

ir_node *ox_prelu(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0), *slope = need(c, n, in, n_in, 1);
    if (!x || !slope) return NULL;
    ir_type bt;
    /* PyTorch exports per-channel slopes as [C]: align them with axis 1 */
    if (slope->type.rank == 1 && x->type.rank > 2 && !ir_broadcast_shape(&x->type, &slope->type, &bt) &&
        slope->type.dims[0] == x->type.dims[1]) {
        int64_t dims[IR_MAX_RANK];
        for (int i = 0; i < x->type.rank - 1; i++) dims[i] = i == 0 ? slope->type.dims[0] : 1;
        slope = ox_reshape(c, n, slope, x->type.rank - 1, dims);
    }
    return sel(c, n, ox_bin(c, n, KL_OP_LESS, x, k_like(c, x, 0)), ox_bin(c, n, KL_OP_MUL, x, slope), x);
}

ir_node *ox_thresholded_relu(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    return sel(c, n, ox_bin(c, n, KL_OP_GREATER, x, k_like(c, x, ox_attr_float(n, "alpha", 1.0f))), x, k_like(c, x, 0));
}

static ir_node *clamp01(ox *c, const ox_node *n, ir_node *v)
{
    return ox_bin(c, n, KL_OP_MAX, ox_bin(c, n, KL_OP_MIN, v, k_like(c, v, 1)), k_like(c, v, 0));
}

ir_node *ox_hard_sigmoid(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    ir_node *lin = ox_bin(c, n, KL_OP_ADD, ox_bin(c, n, KL_OP_MUL, x, k_like(c, x, ox_attr_float(n, "alpha", 0.2f))),
                          k_like(c, x, ox_attr_float(n, "beta", 0.5f)));
    return clamp01(c, n, lin);
}

ir_node *ox_hard_swish(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    ir_node *lin = ox_bin(c, n, KL_OP_ADD, ox_bin(c, n, KL_OP_MUL, x, k_like(c, x, 1.0 / 6)), k_like(c, x, 0.5));
    return ox_bin(c, n, KL_OP_MUL, x, clamp01(c, n, lin));
}

ir_node *ox_mish(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    return ox_bin(c, n, KL_OP_MUL, x, ox_un(c, n, KL_OP_TANH, ox_un(c, n, KL_OP_SOFTPLUS, x)));
}

ir_node *ox_gelu(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    char approx[16];
    ir_node *x = need(c, n, in, n_in, 0);
    if (strcmp(ox_attr_str(n, "approximate", approx, sizeof approx), "") && strcmp(approx, "none"))
        return ox_err(c, n, "approximate='%s' is not supported", approx);
    ir_node *e = ox_un(c, n, KL_OP_ERF, ox_bin(c, n, KL_OP_MUL, x, k_like(c, x, M_SQRT1_2)));
    return ox_bin(c, n, KL_OP_MUL, ox_bin(c, n, KL_OP_MUL, x, k_like(c, x, 0.5)), ox_bin(c, n, KL_OP_ADD, e, k_like(c, x, 1)));
}

ir_node *ox_mod(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *a = need(c, n, in, n_in, 0), *b = need(c, n, in, n_in, 1);
    if (!ox_attr_int(n, "fmod", 0)) return ox_bin(c, n, KL_OP_FLOORMOD, a, b);
    /* C fmod: a - trunc(a / b) * b, the sign of the dividend */
    ir_node *q = ox_bin(c, n, KL_OP_DIV, a, b);
    if (a && kl_dtype_is_float(a->type.dtype))
        q = sel(c, n, ox_bin(c, n, KL_OP_LESS, q, k_like(c, q, 0)), ox_un(c, n, KL_OP_CEIL, q), ox_un(c, n, KL_OP_FLOOR, q));
    return ox_bin(c, n, KL_OP_SUB, a, ox_bin(c, n, KL_OP_MUL, q, b));
}

ir_node *ox_where(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    return sel(c, n, need(c, n, in, n_in, 0), need(c, n, in, n_in, 1), need(c, n, in, n_in, 2));
}

ir_node *ox_clip(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0), *lo, *hi;
    if (opset(c) < 11) {
        lo = ox_attr_get(n, "min") ? k_like(c, x, ox_attr_float(n, "min", 0)) : NULL;
        hi = ox_attr_get(n, "max") ? k_like(c, x, ox_attr_float(n, "max", 0)) : NULL;
    } else {
        lo = n_in > 1 ? in[1] : NULL;
        hi = n_in > 2 ? in[2] : NULL;
    }
    if (lo) x = ox_bin(c, n, KL_OP_MAX, x, lo);
    if (hi) x = ox_bin(c, n, KL_OP_MIN, x, hi);
    return x;
}

ir_node *ox_cast_op(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    kl_dtype to;
    if (!ox_map_dtype((int)ox_attr_int(n, "to", 0), &to)) return ox_err(c, n, "unsupported target type %lld", (long long)ox_attr_int(n, "to", 0));
    return ox_cast(c, n, need(c, n, in, n_in, 0), to);
}

ir_node *ox_cast_like(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *like = need(c, n, in, n_in, 1);
    return like ? ox_cast(c, n, need(c, n, in, n_in, 0), like->type.dtype) : NULL;
}

/* ---- contractions ------------------------------------------------------- */

ir_node *ox_matmul(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *a = need(c, n, in, n_in, 0), *b = need(c, n, in, n_in, 1);
    if (!a || !b) return NULL;
    int ra = a->type.rank, rb = b->type.rank;
    if (ra == 1) a = ox_reshape(c, n, a, 2, (int64_t[]){1, a->type.dims[0]});
    if (rb == 1) b = ox_reshape(c, n, b, 2, (int64_t[]){b->type.dims[0], 1});
    ir_node *r = ox_op(c, n, KL_OP_MATMUL, 2, (ir_node *[]){a, b}, NULL, NULL);
    if (!r || (ra > 1 && rb > 1)) return r;
    int64_t dims[IR_MAX_RANK];
    int k = 0; /* drop the dimensions the 1-D operands gained */
    for (int i = 0; i < r->type.rank; i++)
        if (!((ra == 1 && i == r->type.rank - 2) || (rb == 1 && i == r->type.rank - 1))) dims[k++] = r->type.dims[i];
    return ox_reshape(c, n, r, k, dims);
}

ir_node *ox_gemm(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.matmul.transpose_a = ox_attr_int(n, "transA", 0) != 0;
    a.matmul.transpose_b = ox_attr_int(n, "transB", 0) != 0;
    ir_node *y = ox_op(c, n, KL_OP_MATMUL, 2, (ir_node *[]){need(c, n, in, n_in, 0), need(c, n, in, n_in, 1)}, &a, NULL);
    float alpha = ox_attr_float(n, "alpha", 1.0f), beta = ox_attr_float(n, "beta", 1.0f);
    if (alpha != 1.0f) y = ox_bin(c, n, KL_OP_MUL, y, k_like(c, y, alpha));
    if (n_in > 2 && in[2]) {
        ir_node *bias = beta == 1.0f ? in[2] : ox_bin(c, n, KL_OP_MUL, in[2], k_like(c, in[2], beta));
        y = ox_bin(c, n, KL_OP_ADD, y, bias);
    }
    return y;
}

/* ---- softmax and reductions --------------------------------------------- */

static ir_node *move_axis_last(ox *c, const ox_node *n, ir_node *x, int ax, bool back)
{
    if (!x) return NULL; /* an earlier step failed and reported */
    int r = x->type.rank, perm[IR_MAX_RANK];
    if (ax == r - 1) return x;
    for (int i = 0, k = 0; i < r; i++)
        if (i != ax) perm[k++] = i;
    perm[r - 1] = ax;
    if (back) { /* inverse permutation */
        int inv[IR_MAX_RANK];
        for (int i = 0; i < r; i++) inv[perm[i]] = i;
        return ox_transpose(c, n, x, inv);
    }
    return ox_transpose(c, n, x, perm);
}

ir_node *ox_softmax(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x) return NULL;
    int r = x->type.rank;
    int ax = ox_axis(c, n, ox_attr_int(n, "axis", opset(c) < 13 ? 1 : -1), r);
    if (ax < 0) return NULL;
    if (opset(c) < 13) { /* coerced to 2-D at axis */
        int64_t rows = 1, cols = 1;
        for (int i = 0; i < r; i++) i < ax ? (rows *= x->type.dims[i]) : (cols *= x->type.dims[i]);
        ir_node *s = ox_un(c, n, op, ox_reshape(c, n, x, 2, (int64_t[]){rows, cols}));
        return ox_reshape(c, n, s, r, x->type.dims);
    }
    ir_node *t = move_axis_last(c, n, x, ax, false);
    return t ? move_axis_last(c, n, ox_un(c, n, op, t), ax, true) : NULL;
}

ir_node *ox_reduce(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x) return NULL;
    int64_t axes[IR_MAX_RANK * 2];
    int na;
    bool input_axes = opset(c) >= 18 || (opset(c) >= 13 && !strcmp(n->op_type, "ReduceSum"));
    if (input_axes) na = n_in > 1 && in[1] ? ox_read_ints(c, n, in[1], "axes", axes, IR_MAX_RANK * 2) : 0;
    else na = ox_attr_ints(n, "axes", axes, IR_MAX_RANK * 2);
    if (na < 0 && input_axes) return NULL;
    if (na <= 0 && ox_attr_int(n, "noop_with_empty_axes", 0)) return x;
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.reduce.keep_dims = ox_attr_int(n, "keepdims", 1) != 0;
    for (int i = 0; i < na; i++) {
        int ax = ox_axis(c, n, axes[i], x->type.rank);
        if (ax < 0) return NULL;
        a.reduce.axes |= 1u << ax;
    }
    if (na <= 0) a.reduce.axes = x->type.rank ? (1u << x->type.rank) - 1 : 0;
    if (!a.reduce.axes) return x;
    /* the composite reductions: a map before a sum, a function after */
    switch (op) {
    case KL_OP_ABS: return ox_op(c, n, KL_OP_REDUCE_SUM, 1, (ir_node *[]){ox_un(c, n, KL_OP_ABS, x)}, &a, NULL);
    case KL_OP_SQUARE: return ox_op(c, n, KL_OP_REDUCE_SUM, 1, (ir_node *[]){ox_un(c, n, KL_OP_SQUARE, x)}, &a, NULL);
    case KL_OP_SQRT: return ox_un(c, n, KL_OP_SQRT, ox_op(c, n, KL_OP_REDUCE_SUM, 1, (ir_node *[]){ox_un(c, n, KL_OP_SQUARE, x)}, &a, NULL));
    case KL_OP_LOG: return ox_un(c, n, KL_OP_LOG, ox_op(c, n, KL_OP_REDUCE_SUM, 1, &x, &a, NULL));
    case KL_OP_EXP: { /* log(sum(exp(x - max))) + max */
        ir_attr k = a;
        k.reduce.keep_dims = true;
        ir_node *m = ox_op(c, n, KL_OP_REDUCE_MAX, 1, &x, &k, NULL);
        ir_node *s = ox_op(c, n, KL_OP_REDUCE_SUM, 1, (ir_node *[]){ox_un(c, n, KL_OP_EXP, ox_bin(c, n, KL_OP_SUB, x, m))}, &k, NULL);
        ir_node *r = ox_bin(c, n, KL_OP_ADD, ox_un(c, n, KL_OP_LOG, s), m);
        if (!r || a.reduce.keep_dims) return r;
        ir_node *shape = ox_op(c, n, KL_OP_REDUCE_SUM, 1, &x, &a, NULL); /* only for its type */
        return shape ? ox_reshape(c, n, r, shape->type.rank, shape->type.dims) : NULL;
    }
    default: return ox_op(c, n, op, 1, &x, &a, NULL);
    }
}

ir_node *ox_arg(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x) return NULL;
    int ax = ox_axis(c, n, ox_attr_int(n, "axis", 0), x->type.rank);
    if (ax < 0) return NULL;
    bool last = ox_attr_int(n, "select_last_index", 0) != 0;
    int64_t dim = x->type.dims[ax];
    if (last) { /* the first extreme of the reversed axis is the last one */
        int64_t begin[IR_MAX_RANK] = {0}, size[IR_MAX_RANK], step[IR_MAX_RANK];
        for (int i = 0; i < x->type.rank; i++) size[i] = x->type.dims[i], step[i] = 1;
        begin[ax] = dim - 1, step[ax] = -1;
        x = slice_of(c, n, x, begin, size, step);
    }
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.reduce.axes = 1u << ax;
    ir_type t = {.dtype = KL_I64};
    ir_node *r = ox_op(c, n, op, 1, &x, &a, &t);
    if (last && r) r = ox_bin(c, n, KL_OP_SUB, ox_scalar(c, KL_I64, (double)(dim - 1)), r);
    x = in[0];
    if (!r || !ox_attr_int(n, "keepdims", 1)) return r;
    int64_t dims[IR_MAX_RANK];
    for (int i = 0; i < x->type.rank; i++) dims[i] = i == ax ? 1 : x->type.dims[i];
    return ox_reshape(c, n, r, x->type.rank, dims);
}

/* ---- shapes and data movement ------------------------------------------- */

ir_node *ox_reshape_op(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    int64_t dims[IR_MAX_RANK + 1];
    int r = ox_read_ints(c, n, need(c, n, in, n_in, 1), "the shape", dims, IR_MAX_RANK);
    if (!x || r < 0) return NULL;
    int64_t known = 1, total = ir_type_numel(&x->type);
    int infer = -1;
    for (int i = 0; i < r; i++) {
        if (dims[i] == 0 && !ox_attr_int(n, "allowzero", 0)) dims[i] = i < x->type.rank ? x->type.dims[i] : 0;
        if (dims[i] == -1 && infer < 0) infer = i;
        else if (dims[i] < 0) return ox_err(c, n, "bad shape entry %lld", (long long)dims[i]);
        else if (dims[i] > KL_MAX_BYTES || (dims[i] && known > KL_MAX_BYTES / dims[i]))
            return ox_err(c, n, "shape entry %lld makes the result larger than Kiln's limit of 1 TiB", (long long)dims[i]);
        else known *= dims[i];
    }
    if (infer >= 0) {
        if (!known || total % known) return ox_err(c, n, "cannot infer the -1 dimension");
        dims[infer] = total / known;
    }
    return ox_reshape(c, n, x, r, dims);
}

ir_node *ox_flatten(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x) return NULL;
    int64_t ax = ox_attr_int(n, "axis", 1), r = x->type.rank, a = ax < 0 ? ax + r : ax, rows = 1, cols = 1;
    if (a < 0 || a > r) return ox_err(c, n, "axis %lld out of range", (long long)ax);
    for (int i = 0; i < r; i++) i < a ? (rows *= x->type.dims[i]) : (cols *= x->type.dims[i]);
    return ox_reshape(c, n, x, 2, (int64_t[]){rows, cols});
}

/* Axes from the attribute (old opsets) or the second input (13+). */
static int axes_of(ox *c, const ox_node *n, ir_node **in, int n_in, int64_t *axes)
{
    if (opset(c) >= 13) return n_in > 1 && in[1] ? ox_read_ints(c, n, in[1], "axes", axes, IR_MAX_RANK) : 0;
    int k = ox_attr_ints(n, "axes", axes, IR_MAX_RANK);
    return k < 0 ? 0 : k;
}

ir_node *ox_squeeze(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    int64_t axes[IR_MAX_RANK], dims[IR_MAX_RANK];
    int na = axes_of(c, n, in, n_in, axes), r = 0;
    if (!x || na < 0) return NULL;
    unsigned drop = 0;
    for (int i = 0; i < na; i++) {
        int ax = ox_axis(c, n, axes[i], x->type.rank);
        if (ax < 0) return NULL;
        drop |= 1u << ax;
    }
    for (int i = 0; i < x->type.rank; i++)
        if (!(na ? (drop >> i) & 1 : x->type.dims[i] == 1)) dims[r++] = x->type.dims[i];
    return ox_reshape(c, n, x, r, dims);
}

ir_node *ox_unsqueeze(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    int64_t axes[IR_MAX_RANK], dims[IR_MAX_RANK];
    int na = axes_of(c, n, in, n_in, axes);
    if (!x || na < 0) return NULL;
    int r = x->type.rank + na;
    if (r > IR_MAX_RANK) return ox_err(c, n, "rank above %d", IR_MAX_RANK);
    unsigned add = 0;
    for (int i = 0; i < na; i++) {
        int ax = ox_axis(c, n, axes[i], r);
        if (ax < 0) return NULL;
        add |= 1u << ax;
    }
    for (int i = 0, j = 0; i < r; i++) dims[i] = (add >> i) & 1 ? 1 : x->type.dims[j++];
    return ox_reshape(c, n, x, r, dims);
}

ir_node *ox_transpose_op(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x) return NULL;
    int64_t p[IR_MAX_RANK];
    int perm[IR_MAX_RANK], k = ox_attr_ints(n, "perm", p, IR_MAX_RANK), r = x->type.rank;
    if (k >= 0 && k != r) return ox_err(c, n, "perm has %d entries for rank %d", k, r);
    for (int i = 0; i < r; i++) perm[i] = k >= 0 ? (int)(p[i] < 0 || p[i] >= r ? -1 : p[i]) : r - 1 - i;
    return ox_transpose(c, n, x, perm);
}

ir_node *ox_concat(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    if (n_in < 1 || !in[0]) return ox_err(c, n, "no inputs");
    int ax = ox_axis(c, n, ox_attr_int(n, "axis", 0), in[0]->type.rank);
    if (ax < 0) return NULL;
    if (n_in == 1) return in[0];
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.concat.axis = ax;
    return ox_op(c, n, KL_OP_CONCAT, n_in, in, &a, NULL);
}

static ir_node *slice_of(ox *c, const ox_node *n, ir_node *x, const int64_t *begin, const int64_t *size, const int64_t *step)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    ir_type t = x->type;
    for (int i = 0; i < t.rank; i++) {
        a.slice.begin[i] = size[i] ? begin[i] : 0;
        a.slice.stride[i] = step ? step[i] : 1;
        t.dims[i] = size[i];
    }
    return ox_op(c, n, KL_OP_SLICE, 1, &x, &a, &t);
}

ir_node *ox_split(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x) return NULL;
    int ax = ox_axis(c, n, ox_attr_int(n, "axis", 0), x->type.rank);
    int64_t sizes[64];
    int count = (int)n->n_output;
    if (ax < 0 || count < 1 || count > 64) return ax < 0 ? NULL : ox_err(c, n, "bad output count");
    int given = opset(c) >= 13 ? (n_in > 1 && in[1] ? ox_read_ints(c, n, in[1], "split", sizes, 64) : 0)
                               : ox_attr_ints(n, "split", sizes, 64);
    if (given < 0 && opset(c) >= 13) return NULL;
    int64_t dim = x->type.dims[ax];
    if (given <= 0) {
        for (int i = 0; i < count; i++) sizes[i] = dim / count + (i < dim % count ? 1 : 0);
        if (dim % count) /* ONNX 18 gives the remainder to the last; older opsets require even splits */
            for (int i = 0; i < count; i++) sizes[i] = i < count - 1 ? (dim + count - 1) / count : dim - (dim + count - 1) / count * (count - 1);
    } else if (given != count) {
        return ox_err(c, n, "split has %d sizes for %d outputs", given, count);
    }
    int64_t begin[IR_MAX_RANK] = {0}, size[IR_MAX_RANK], at = 0;
    for (int i = 0; i < x->type.rank; i++) size[i] = x->type.dims[i];
    for (int k = 0; k < count; k++) {
        if (sizes[k] < 0 || at + sizes[k] > dim) return ox_err(c, n, "split sizes exceed the dimension");
        begin[ax] = at, size[ax] = sizes[k], at += sizes[k];
        if (!(c->outs[k] = slice_of(c, n, x, begin, size, NULL))) return NULL;
    }
    c->n_outs = count;
    return c->outs[0];
}

ir_node *ox_slice(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x) return NULL;
    int r = x->type.rank;
    int64_t st[IR_MAX_RANK], en[IR_MAX_RANK], ax[IR_MAX_RANK], sp[IR_MAX_RANK];
    int ns, ne, na = -1, nsp = -1;
    if (opset(c) < 10) {
        ns = ox_attr_ints(n, "starts", st, IR_MAX_RANK), ne = ox_attr_ints(n, "ends", en, IR_MAX_RANK);
        na = ox_attr_ints(n, "axes", ax, IR_MAX_RANK);
    } else {
        ns = ox_read_ints(c, n, need(c, n, in, n_in, 1), "starts", st, IR_MAX_RANK);
        ne = ox_read_ints(c, n, need(c, n, in, n_in, 2), "ends", en, IR_MAX_RANK);
        if (n_in > 3 && in[3]) na = ox_read_ints(c, n, in[3], "axes", ax, IR_MAX_RANK);
        if (n_in > 4 && in[4]) nsp = ox_read_ints(c, n, in[4], "steps", sp, IR_MAX_RANK);
    }
    if (ns < 0 || ne != ns || (na >= 0 && na != ns) || (nsp >= 0 && nsp != ns)) return ox_err(c, n, "starts, ends, axes and steps must match");
    int64_t begin[IR_MAX_RANK] = {0}, size[IR_MAX_RANK], step[IR_MAX_RANK];
    for (int i = 0; i < r; i++) size[i] = x->type.dims[i], step[i] = 1;
    for (int k = 0; k < ns; k++) {
        int a = ox_axis(c, n, na >= 0 ? ax[k] : k, r);
        if (a < 0) return NULL;
        int64_t dim = x->type.dims[a], s = nsp >= 0 ? sp[k] : 1, b = st[k], e = en[k];
        if (s == 0) return ox_err(c, n, "step 0");
        if (b < 0) b += dim;
        if (e < 0) e += dim;
        b = s > 0 ? (b < 0 ? 0 : b > dim ? dim : b) : (b < 0 ? -1 : b > dim - 1 ? dim - 1 : b);
        e = s > 0 ? (e < 0 ? 0 : e > dim ? dim : e) : (e < -1 ? -1 : e > dim - 1 ? dim - 1 : e);
        int64_t len = s > 0 ? (e - b + s - 1) / s : (b - e + (-s) - 1) / (-s);
        begin[a] = b, size[a] = len < 0 ? 0 : len, step[a] = s;
    }
    return slice_of(c, n, x, begin, size, step);
}

ir_node *ox_gather(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0), *idx = need(c, n, in, n_in, 1);
    if (!x || !idx) return NULL;
    int ax = ox_axis(c, n, ox_attr_int(n, "axis", 0), x->type.rank);
    if (ax < 0) return NULL;
    /* negative indices count from the end */
    ir_node *dim = k_like(c, idx, (double)x->type.dims[ax]);
    idx = sel(c, n, ox_bin(c, n, KL_OP_LESS, idx, k_like(c, idx, 0)), ox_bin(c, n, KL_OP_ADD, idx, dim), idx);
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.concat.axis = ax;
    return ox_op(c, n, KL_OP_GATHER, 2, (ir_node *[]){x, idx}, &a, NULL);
}

ir_node *ox_shape(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x) return NULL;
    int64_t r = x->type.rank, s = ox_attr_int(n, "start", 0), e = ox_attr_int(n, "end", r);
    if (s < 0) s += r;
    if (e < 0) e += r;
    s = s < 0 ? 0 : s > r ? r : s, e = e < 0 ? 0 : e > r ? r : e;
    int64_t len = e > s ? e - s : 0;
    return ir_const(c->g, ir_type_make(KL_I64, 1, &len), x->type.dims + s, NULL);
}

ir_node *ox_size(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    return x ? ox_scalar(c, KL_I64, (double)ir_type_numel(&x->type)) : NULL;
}

/* x broadcast (numpy rules, both ways) with `dims`, as a TILE. */
static ir_node *expand_to(ox *c, const ox_node *n, ir_node *x, int rank, const int64_t *dims)
{
    if (!x) return NULL;
    ir_type want = ir_type_make(x->type.dtype, rank, dims), out;
    if (!ir_broadcast_shape(&x->type, &want, &out)) return ox_err(c, n, "shapes do not broadcast");
    int64_t xd[IR_MAX_RANK];
    for (int i = 0; i < out.rank; i++) {
        int j = i - (out.rank - x->type.rank);
        xd[i] = j >= 0 ? x->type.dims[j] : 1;
    }
    ir_node *r = ox_reshape(c, n, x, out.rank, xd);
    return ox_op(c, n, KL_OP_TILE, 1, &r, NULL, &out);
}

ir_node *ox_expand(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    int64_t dims[IR_MAX_RANK];
    int r = ox_read_ints(c, n, need(c, n, in, n_in, 1), "the shape", dims, IR_MAX_RANK);
    return x && r >= 0 ? expand_to(c, n, x, r, dims) : NULL;
}

ir_node *ox_constant_of_shape(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    int64_t dims[IR_MAX_RANK];
    int r = ox_read_ints(c, n, need(c, n, in, n_in, 0), "the shape", dims, IR_MAX_RANK);
    if (r < 0) return NULL;
    const ox_attr *a = ox_attr_get(n, "value");
    ir_node *v = NULL;
    if (a && a->t) {
        if (!ox_tensor_to_const(c, n, a->t, NULL, &v)) return NULL;
        v = ox_reshape(c, n, v, 0, NULL);
    } else {
        v = ox_scalar(c, KL_F32, 0);
    }
    return v ? expand_to(c, n, v, r, dims) : NULL;
}

ir_node *ox_tile(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    int64_t m[IR_MAX_RANK];
    if (!x) return NULL;
    if (ox_read_ints(c, n, need(c, n, in, n_in, 1), "repeats", m, IR_MAX_RANK) != x->type.rank) return ox_err(c, n, "repeats must match the rank");
    ir_type t = x->type;
    for (int i = 0; i < t.rank; i++) {
        int64_t k = m[i] < 0 ? 0 : m[i];
        if (k && t.dims[i] > KL_MAX_BYTES / k) return ox_err(c, n, "repeats %lld make the result larger than Kiln's limit", (long long)k);
        t.dims[i] *= k;
    }
    return ox_op(c, n, KL_OP_TILE, 1, &x, NULL, &t);
}

static bool scalar_of(ox *c, const ox_node *n, ir_node *v, double *out)
{
    if (!ox_need_const(c, n, v, v && v->op == KL_OP_PARAM && v->name ? v->name : "scalar")) return false;
    if (ir_type_numel(&v->type) != 1) return ox_err(c, n, "needs constant scalars"), false;
    ir_node *d = ox_cast(c, n, v, KL_F64);
    if (!d || d->op != KL_OP_CONST) return false;
    *out = *(const double *)d->data;
    return true;
}

ir_node *ox_range(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    double s, l, dl;
    if (!scalar_of(c, n, need(c, n, in, n_in, 0), &s) || !scalar_of(c, n, need(c, n, in, n_in, 1), &l) ||
        !scalar_of(c, n, need(c, n, in, n_in, 2), &dl))
        return NULL;
    if (dl == 0 || !(fabs((l - s) / dl) <= (1 << 24))) return ox_err(c, n, "bad range"); /* NaN too */
    int64_t count = (int64_t)ceil((l - s) / dl);
    if (count < 0) count = 0;
    double *v = kl_calloc(c->d, (size_t)count + 1, sizeof *v, "a range");
    if (!v) return NULL;
    for (int64_t i = 0; i < count; i++) v[i] = s + (double)i * dl;
    ir_node *r = ir_const(c->g, ir_type_make(KL_F64, 1, &count), v, NULL);
    free(v);
    return ox_cast(c, n, r, in[0]->type.dtype);
}

ir_node *ox_pad(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x) return NULL;
    int r = x->type.rank;
    int64_t p[2 * IR_MAX_RANK];
    int np = opset(c) < 11 ? ox_attr_ints(n, "pads", p, 2 * IR_MAX_RANK) : ox_read_ints(c, n, need(c, n, in, n_in, 1), "pads", p, 2 * IR_MAX_RANK);
    if (np != 2 * r) return ox_err(c, n, "pads must have %d entries", 2 * r);
    if (opset(c) >= 18 && n_in > 3 && in[3]) return ox_err(c, n, "the axes input is not supported");
    char mode[16];
    ox_attr_str(n, "mode", mode, sizeof mode);
    ir_attr a;
    memset(&a, 0, sizeof a);
    if (!strcmp(mode, "reflect")) a.pad.mode = IR_PAD_REFLECT;
    else if (!strcmp(mode, "edge")) a.pad.mode = IR_PAD_EDGE;
    else if (mode[0] && strcmp(mode, "constant")) return ox_err(c, n, "pad mode '%s' is not supported", mode);
    for (int i = 0; i < r; i++) {
        a.pad.lo[i] = p[i], a.pad.hi[i] = p[r + i];
        if (p[i] < 0 || p[r + i] < 0) return ox_err(c, n, "negative pads are not supported");
    }
    if (opset(c) < 11) a.pad.value = ox_attr_float(n, "value", 0);
    else if (n_in > 2 && in[2] && !scalar_of(c, n, in[2], &a.pad.value)) return NULL;
    return ox_op(c, n, KL_OP_PAD, 1, &x, &a, NULL);
}

ir_node *ox_one_hot(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *idx = need(c, n, in, n_in, 0), *values = need(c, n, in, n_in, 2);
    double depth;
    if (!idx || !values || !scalar_of(c, n, need(c, n, in, n_in, 1), &depth)) return NULL;
    if (!(depth >= 0 && depth <= (1 << 24)) || ir_type_numel(&values->type) != 2) return ox_err(c, n, "bad depth or values");
    const ir_type *t = &idx->type;
    if (t->rank >= IR_MAX_RANK) return ox_err(c, n, "rank too large");
    int ax = ox_axis(c, n, ox_attr_int(n, "axis", -1), t->rank + 1);
    if (ax < 0) return NULL;
    int64_t d = (int64_t)depth, idims[IR_MAX_RANK], rdims[IR_MAX_RANK];
    for (int i = 0, j = 0; i <= t->rank; i++) idims[i] = i == ax ? 1 : t->dims[j++], rdims[i] = i == ax ? d : 1;
    int64_t *v = kl_calloc(c->d, (size_t)d + 1, sizeof *v, "a one-hot table");
    if (!v) return NULL;
    for (int64_t i = 0; i < d; i++) v[i] = i;
    ir_node *range = ir_const(c->g, ir_type_make(KL_I64, t->rank + 1, rdims), v, NULL);
    free(v);
    ir_node *i64 = ox_cast(c, n, idx, KL_I64);
    i64 = sel(c, n, ox_bin(c, n, KL_OP_LESS, i64, k_like(c, i64, 0)), ox_bin(c, n, KL_OP_ADD, i64, k_like(c, i64, (double)d)), i64);
    ir_node *eq = ox_bin(c, n, KL_OP_EQUAL, ox_reshape(c, n, i64, t->rank + 1, idims), range);
    int64_t b0[1] = {0}, b1[1] = {1}, one[1] = {1};
    ir_node *flat = ox_reshape(c, n, values, 1, (int64_t[]){2});
    ir_node *off = ox_reshape(c, n, slice_of(c, n, flat, b0, one, NULL), 0, NULL), *on = ox_reshape(c, n, slice_of(c, n, flat, b1, one, NULL), 0, NULL);
    return sel(c, n, eq, on, off);
}

/* ---- convolution, pooling, normalization (NCHW) -------------------------- */

/* pads and strides of a 2-D window op; auto_pad SAME_* pads like TF's SAME. */
static bool window(ox *c, const ox_node *n, int64_t h, int64_t w, int kh, int kw, bool one_d, ir_attr *a)
{
    int64_t st[2] = {1, 1}, dl[2] = {1, 1}, pads[4] = {0, 0, 0, 0};
    char autopad[16];
    memset(a, 0, sizeof *a);
    if (one_d) { /* a 1-D window is a 2-D one of height 1: its attributes apply to W */
        int64_t p2[2] = {0, 0};
        ox_attr_ints(n, "strides", st + 1, 1), ox_attr_ints(n, "dilations", dl + 1, 1);
        if (ox_attr_ints(n, "pads", p2, 2) == 2) pads[1] = p2[0], pads[3] = p2[1];
    } else {
        if (ox_attr_ints(n, "strides", st, 2) == 1 || ox_attr_ints(n, "dilations", dl, 2) == 1) return ox_err(c, n, "window attributes do not match the rank"), false;
        ox_attr_ints(n, "pads", pads, 4);
    }
    ox_attr_str(n, "auto_pad", autopad, sizeof autopad);
    a->conv.kh = kh, a->conv.kw = kw, a->conv.stride_h = (int)st[0], a->conv.stride_w = (int)st[1];
    a->conv.dilation_h = (int)dl[0], a->conv.dilation_w = (int)dl[1], a->conv.groups = 1;
    if (!strcmp(autopad, "SAME_UPPER") || !strcmp(autopad, "SAME_LOWER")) {
        int64_t in[2] = {h, w}, k[2] = {kh, kw};
        for (int i = 0; i < 2; i++) {
            int64_t out = (in[i] + st[i] - 1) / st[i], total = (out - 1) * st[i] + (k[i] - 1) * dl[i] + 1 - in[i];
            if (total < 0) total = 0;
            int64_t small = total / 2, big = total - small;
            bool upper = !strcmp(autopad, "SAME_UPPER");
            pads[i] = upper ? small : big, pads[i + 2] = upper ? big : small;
        }
    } else if (!strcmp(autopad, "VALID")) {
        memset(pads, 0, sizeof pads);
    }
    a->conv.pad_top = (int)pads[0], a->conv.pad_left = (int)pads[1], a->conv.pad_bottom = (int)pads[2], a->conv.pad_right = (int)pads[3];
    return true;
}

static const int to_nhwc[4] = {0, 2, 3, 1}, to_nchw[4] = {0, 3, 1, 2};

ir_node *ox_conv(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0), *w = need(c, n, in, n_in, 1);
    if (!x || !w) return NULL;
    if (x->type.rank == 5) return ox_conv3d(c, n, x, w, n_in > 2 ? in[2] : NULL);
    bool one_d = x->type.rank == 3;
    if (one_d) { /* [N,C,W] as [N,C,1,W] */
        x = ox_reshape(c, n, x, 4, (int64_t[]){x->type.dims[0], x->type.dims[1], 1, x->type.dims[2]});
        w = ox_reshape(c, n, w, 4, (int64_t[]){w->type.dims[0], w->type.dims[1], 1, w->type.dims[2]});
    }
    if (!x || !w || x->type.rank != 4 || w->type.rank != 4) return ox_err(c, n, "only 1-D and 2-D convolutions are supported");
    ir_attr a;
    if (!window(c, n, x->type.dims[2], x->type.dims[3], (int)w->type.dims[2], (int)w->type.dims[3], one_d, &a)) return NULL;
    a.conv.groups = (int)ox_attr_int(n, "group", 1);
    ir_node *wt = ox_transpose(c, n, w, (int[]){2, 3, 1, 0}); /* OIHW -> HWIO */
    ir_node *y = ox_op(c, n, KL_OP_CONV2D, 2, (ir_node *[]){ox_transpose(c, n, x, to_nhwc), wt}, &a, NULL);
    if (n_in > 2 && in[2]) y = ox_bin(c, n, KL_OP_ADD, y, in[2]);
    y = ox_transpose(c, n, y, to_nchw);
    if (one_d && y) y = ox_reshape(c, n, y, 3, (int64_t[]){y->type.dims[0], y->type.dims[1], y->type.dims[3]});
    return y;
}

ir_node *ox_pool(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    int64_t k[2] = {1, 1};
    if (!x) return NULL;
    if (n->n_output > 1 && n->output[1] && *n->output[1]) return ox_err(c, n, "the Indices output is not supported");
    if (x->type.rank == 5) return ox_pool3d(c, n, x, op);
    bool one_d = x->type.rank == 3;
    if (one_d) { /* [N,C,W] as [N,C,1,W] */
        if (ox_attr_ints(n, "kernel_shape", k + 1, 1) != 1) return ox_err(c, n, "kernel_shape must have 1 entry");
        x = ox_reshape(c, n, x, 4, (int64_t[]){x->type.dims[0], x->type.dims[1], 1, x->type.dims[2]});
    } else if (x->type.rank != 4 || ox_attr_ints(n, "kernel_shape", k, 2) != 2) {
        return ox_err(c, n, "only 1-D and 2-D pools are supported");
    }
    ir_attr a;
    if (!window(c, n, x->type.dims[2], x->type.dims[3], (int)k[0], (int)k[1], one_d, &a)) return NULL;
    if ((a.conv.dilation_h != 1 || a.conv.dilation_w != 1) && op == KL_OP_AVG_POOL) return ox_err(c, n, "dilated average pools are not supported");
    bool pads = a.conv.pad_top || a.conv.pad_bottom || a.conv.pad_left || a.conv.pad_right;
    if (op == KL_OP_AVG_POOL && pads && ox_attr_int(n, "count_include_pad", 0)) {
        /* explicit pads count in the mean: make them real zeros (the pool then only ignores ceil_mode's) */
        ir_attr p;
        memset(&p, 0, sizeof p);
        p.pad.lo[2] = a.conv.pad_top, p.pad.hi[2] = a.conv.pad_bottom, p.pad.lo[3] = a.conv.pad_left, p.pad.hi[3] = a.conv.pad_right;
        if (!(x = ox_op(c, n, KL_OP_PAD, 1, &x, &p, NULL))) return NULL;
        a.conv.pad_top = a.conv.pad_bottom = a.conv.pad_left = a.conv.pad_right = 0;
    }
    if (ox_attr_int(n, "ceil_mode", 0)) { /* extra end padding, which pools ignore */
        a.conv.pad_bottom += (int)ox_ceil_extra(x->type.dims[2], k[0], a.conv.stride_h, a.conv.dilation_h, a.conv.pad_top, a.conv.pad_bottom);
        a.conv.pad_right += (int)ox_ceil_extra(x->type.dims[3], k[1], a.conv.stride_w, a.conv.dilation_w, a.conv.pad_left, a.conv.pad_right);
    }
    kl_dtype dt = x->type.dtype; /* small integers max-pool exactly in float */
    bool small_int = op == KL_OP_MAX_POOL && (dt == KL_U8 || dt == KL_I8 || dt == KL_I16);
    if (small_int) x = ox_cast(c, n, x, KL_F32);
    ir_node *y = ox_transpose(c, n, ox_op(c, n, op, 1, (ir_node *[]){ox_transpose(c, n, x, to_nhwc)}, &a, NULL), to_nchw);
    if (one_d && y) y = ox_reshape(c, n, y, 3, (int64_t[]){y->type.dims[0], y->type.dims[1], y->type.dims[3]});
    return small_int ? ox_cast(c, n, y, dt) : y;
}

/* A keep_dims reduction over the spatial axes 2.. of an NC... tensor. */
static ir_attr spatial_axes(const ir_node *x)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.reduce.keep_dims = true;
    for (int i = 2; i < x->type.rank; i++) a.reduce.axes |= 1u << i;
    return a;
}

ir_node *ox_global_pool(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x || x->type.rank < 3) return x ? ox_err(c, n, "needs rank 3 or more") : NULL;
    ir_attr a = spatial_axes(x);
    return ox_op(c, n, op, 1, &x, &a, NULL);
}

ir_node *ox_batch_norm(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x || x->type.rank < 2) return x ? ox_err(c, n, "needs rank 2 or more") : NULL;
    if (ox_attr_int(n, "training_mode", 0)) return ox_batch_norm_training(c, n, in, n_in);
    int64_t dims[IR_MAX_RANK];
    for (int i = 0; i < x->type.rank - 1; i++) dims[i] = i == 0 ? x->type.dims[1] : 1;
    ir_node *p[4];
    for (int i = 0; i < 4; i++) p[i] = ox_reshape(c, n, need(c, n, in, n_in, i + 1), x->type.rank - 1, dims);
    ir_node *eps = k_like(c, p[3], ox_attr_float(n, "epsilon", 1e-5f));
    ir_node *s = ox_bin(c, n, KL_OP_MUL, p[0], ox_un(c, n, KL_OP_RSQRT, ox_bin(c, n, KL_OP_ADD, p[3], eps)));
    ir_node *shift = ox_bin(c, n, KL_OP_SUB, p[1], ox_bin(c, n, KL_OP_MUL, p[2], s));
    return ox_bin(c, n, KL_OP_ADD, ox_bin(c, n, KL_OP_MUL, x, ox_cast(c, n, s, x->type.dtype)), ox_cast(c, n, shift, x->type.dtype));
}

/* ---- more: losses, normalization, masks --------------------------------- */

ir_node *ox_dropout(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x) return NULL;
    if (n_in > 2 && in[2]) { /* training_mode: random unless provably off */
        double on;
        ir_node *t = ox_cast(c, n, in[2], KL_F64);
        if (!t || t->op != KL_OP_CONST) return ox_err(c, n, "training_mode must be a constant (training dropout is random)");
        on = *(const double *)t->data;
        double ratio = 0.5;
        if (on && n_in > 1 && in[1]) {
            ir_node *r = ox_cast(c, n, in[1], KL_F64);
            if (r && r->op == KL_OP_CONST) ratio = *(const double *)r->data;
        }
        if (on && ratio != 0) return ox_err(c, n, "training-mode dropout is random; not supported");
    }
    if (n->n_output > 1) { /* mask: all kept */
        ir_node *one = ox_scalar(c, KL_BOOL, 1);
        c->outs[0] = x;
        c->outs[1] = one ? expand_to(c, n, one, x->type.rank, x->type.dims) : NULL;
        if (!c->outs[1]) return NULL;
        c->n_outs = 2;
    }
    return x;
}

ir_node *ox_gather_elements(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0), *idx = need(c, n, in, n_in, 1);
    if (!x || !idx) return NULL;
    int ax = ox_axis(c, n, ox_attr_int(n, "axis", 0), x->type.rank);
    if (ax < 0) return NULL;
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.concat.axis = ax;
    return ox_op(c, n, KL_OP_GATHER_ELEMENTS, 2, (ir_node *[]){x, idx}, &a, NULL);
}

/* loss[n, d...] = -input[n, t, d...] * w[t], t = target[n, d...]; ignored
 * targets weigh 0; mean divides by the sum of the weights. */
static ir_node *nll(ox *c, const ox_node *n, ir_node *input, ir_node *target, ir_node *weight)
{
    if (!input || !target) return NULL;
    const ir_type *ti = &input->type, *tt = &target->type;
    if (ti->rank < 2 || tt->rank != ti->rank - 1) return ox_err(c, n, "input and target ranks do not fit");
    char red[16];
    ox_attr_str(n, "reduction", red, sizeof red);
    const ox_attr *ig = ox_attr_get(n, "ignore_index");
    ir_node *t = ox_cast(c, n, target, KL_I64), *mask = NULL;
    if (ig) {
        mask = ox_bin(c, n, KL_OP_NOT_EQUAL, t, ox_scalar(c, KL_I64, (double)ig->i));
        t = sel(c, n, mask, t, ox_scalar(c, KL_I64, 0));
    }
    int64_t dims[IR_MAX_RANK];
    for (int i = 0, j = 0; i < ti->rank; i++) dims[i] = i == 1 ? 1 : tt->dims[j++];
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.concat.axis = 1;
    ir_node *picked = ox_op(c, n, KL_OP_GATHER_ELEMENTS, 2, (ir_node *[]){input, ox_reshape(c, n, t, ti->rank, dims)}, &a, NULL);
    picked = ox_reshape(c, n, picked, tt->rank, tt->dims);
    ir_node *w;
    if (weight) {
        memset(&a, 0, sizeof a);
        w = ox_op(c, n, KL_OP_GATHER, 2, (ir_node *[]){weight, t}, &a, NULL);
    } else {
        w = expand_to(c, n, k_like(c, input, 1), tt->rank, tt->dims);
    }
    if (mask) w = sel(c, n, mask, w, k_like(c, input, 0));
    ir_node *loss = ox_un(c, n, KL_OP_NEG, ox_bin(c, n, KL_OP_MUL, picked, w));
    if (!strcmp(red, "none")) return loss;
    memset(&a, 0, sizeof a);
    a.reduce.axes = (1u << tt->rank) - 1;
    ir_node *sum = ox_op(c, n, KL_OP_REDUCE_SUM, 1, &loss, &a, NULL);
    if (!strcmp(red, "sum")) return sum;
    return ox_bin(c, n, KL_OP_DIV, sum, ox_op(c, n, KL_OP_REDUCE_SUM, 1, &w, &a, NULL));
}

ir_node *ox_nll_loss(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    return nll(c, n, need(c, n, in, n_in, 0), need(c, n, in, n_in, 1), n_in > 2 ? in[2] : NULL);
}

ir_node *ox_softmax_ce_loss(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x || x->type.rank < 2) return x ? ox_err(c, n, "scores need rank 2 or more") : NULL;
    ir_node *t = move_axis_last(c, n, x, 1, false);
    ir_node *lp = t ? move_axis_last(c, n, ox_un(c, n, KL_OP_LOG_SOFTMAX, t), 1, true) : NULL;
    ir_node *loss = nll(c, n, lp, need(c, n, in, n_in, 1), n_in > 2 ? in[2] : NULL);
    if (loss && n->n_output > 1) {
        c->outs[0] = loss, c->outs[1] = lp;
        c->n_outs = 2;
    }
    return loss;
}

ir_node *ox_layer_norm(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0), *scale = need(c, n, in, n_in, 1);
    if (!x || !scale) return NULL;
    int ax = ox_axis(c, n, ox_attr_int(n, "axis", -1), x->type.rank);
    if (ax < 0) return NULL;
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.reduce.keep_dims = true;
    for (int i = ax; i < x->type.rank; i++) a.reduce.axes |= 1u << i;
    ir_node *mean = ox_op(c, n, KL_OP_REDUCE_MEAN, 1, &x, &a, NULL);
    ir_node *dev = ox_bin(c, n, KL_OP_SUB, x, mean);
    ir_node *var = ox_op(c, n, KL_OP_REDUCE_MEAN, 1, (ir_node *[]){ox_un(c, n, KL_OP_SQUARE, dev)}, &a, NULL);
    ir_node *inv = ox_un(c, n, KL_OP_RSQRT, ox_bin(c, n, KL_OP_ADD, var, k_like(c, x, ox_attr_float(n, "epsilon", 1e-5f))));
    ir_node *y = ox_bin(c, n, KL_OP_MUL, ox_bin(c, n, KL_OP_MUL, dev, inv), scale);
    if (n_in > 2 && in[2]) y = ox_bin(c, n, KL_OP_ADD, y, in[2]);
    if (y && n->n_output > 1) {
        c->outs[0] = y, c->outs[1] = mean, c->outs[2] = inv;
        c->n_outs = 3;
    }
    return y;
}

ir_node *ox_trilu(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x || x->type.rank < 2) return x ? ox_err(c, n, "needs rank 2 or more") : NULL;
    int64_t k = 0;
    if (n_in > 1 && in[1] && ox_read_ints(c, n, in[1], "k", &k, 1) != 1) return NULL;
    bool upper = ox_attr_int(n, "upper", 1) != 0;
    int64_t rows = x->type.dims[x->type.rank - 2], cols = x->type.dims[x->type.rank - 1];
    if (cols && rows > (1 << 24) / cols) return ox_err(c, n, "matrix too large");
    uint8_t *m = kl_calloc(c->d, (size_t)(rows * cols + 1), 1, "a triangle mask");
    if (!m) return NULL;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) m[i * cols + j] = upper ? j - i >= k : j - i <= k;
    ir_node *mask = ir_const(c->g, ir_type_make(KL_BOOL, 2, (int64_t[]){rows, cols}), m, NULL);
    free(m);
    return sel(c, n, mask, x, k_like(c, x, 0));
}

ir_node *ox_hardmax(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x) return NULL;
    int r = x->type.rank;
    int ax = ox_axis(c, n, ox_attr_int(n, "axis", opset(c) < 13 ? 1 : -1), r);
    if (ax < 0) return NULL;
    ir_node *v = x;
    int vax = ax;
    if (opset(c) < 13) { /* coerced to 2-D at axis */
        int64_t rows = 1, cols = 1;
        for (int i = 0; i < r; i++) i < ax ? (rows *= x->type.dims[i]) : (cols *= x->type.dims[i]);
        v = ox_reshape(c, n, x, 2, (int64_t[]){rows, cols});
        vax = 1;
    }
    if (!v) return NULL;
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.reduce.axes = 1u << vax;
    ir_type t = {.dtype = KL_I64};
    ir_node *am = ox_op(c, n, KL_OP_ARGMAX, 1, &v, &a, &t);
    int64_t kd[IR_MAX_RANK], rd[IR_MAX_RANK], dim = v->type.dims[vax];
    for (int i = 0; i < v->type.rank; i++) kd[i] = i == vax ? 1 : v->type.dims[i], rd[i] = i == vax ? dim : 1;
    int64_t *iota = kl_calloc(c->d, (size_t)dim + 1, sizeof *iota, "an index table");
    if (!iota) return NULL;
    for (int64_t i = 0; i < dim; i++) iota[i] = i;
    ir_node *range = ir_const(c->g, ir_type_make(KL_I64, v->type.rank, rd), iota, NULL);
    free(iota);
    ir_node *hot = ox_cast(c, n, ox_bin(c, n, KL_OP_EQUAL, ox_reshape(c, n, am, v->type.rank, kd), range), x->type.dtype);
    return hot ? ox_reshape(c, n, hot, r, x->type.dims) : NULL;
}

ir_node *ox_isnan(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    return ox_bin(c, n, KL_OP_NOT_EQUAL, x, x);
}

ir_node *ox_isinf(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    bool pos = ox_attr_int(n, "detect_positive", 1) != 0, neg = ox_attr_int(n, "detect_negative", 1) != 0;
    ir_node *p = ox_bin(c, n, KL_OP_EQUAL, x, k_like(c, x, INFINITY)), *m = ox_bin(c, n, KL_OP_EQUAL, x, k_like(c, x, -INFINITY));
    if (pos && neg) return ox_bin(c, n, KL_OP_OR, p, m);
    if (pos) return p;
    if (neg) return m;
    return ox_bin(c, n, KL_OP_AND, p, m); /* neither: all false */
}

ir_node *ox_shrink(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    double l = ox_attr_float(n, "lambd", 0.5f), b = ox_attr_float(n, "bias", 0.0f);
    ir_node *hi = sel(c, n, ox_bin(c, n, KL_OP_GREATER, x, k_like(c, x, l)), ox_bin(c, n, KL_OP_SUB, x, k_like(c, x, b)), k_like(c, x, 0));
    return sel(c, n, ox_bin(c, n, KL_OP_LESS, x, k_like(c, x, -l)), ox_bin(c, n, KL_OP_ADD, x, k_like(c, x, b)), hi);
}

ir_node *ox_eye_like(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x || x->type.rank != 2) return x ? ox_err(c, n, "needs a 2-D input") : NULL;
    kl_dtype dt = x->type.dtype;
    const ox_attr *d = ox_attr_get(n, "dtype");
    if (d && !ox_map_dtype((int)d->i, &dt)) return ox_err(c, n, "unsupported dtype");
    int64_t rows = x->type.dims[0], cols = x->type.dims[1], k = ox_attr_int(n, "k", 0);
    if (cols && rows > (1 << 24) / cols) return ox_err(c, n, "matrix too large");
    double *v = kl_calloc(c->d, (size_t)(rows * cols + 1), sizeof *v, "an identity matrix");
    if (!v) return NULL;
    for (int64_t i = 0; i < rows; i++)
        if (i + k >= 0 && i + k < cols) v[i * cols + i + k] = 1;
    ir_node *e = ir_const(c->g, ir_type_make(KL_F64, 2, x->type.dims), v, NULL);
    free(v);
    return ox_cast(c, n, e, dt);
}

ir_node *ox_conv_transpose(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0), *w = need(c, n, in, n_in, 1);
    if (!x || !w) return NULL;
    bool one_d = x->type.rank == 3 && w->type.rank == 3; /* [N,C,W] as [N,C,1,W]; attributes apply to W */
    if (one_d) {
        x = ox_reshape(c, n, x, 4, (int64_t[]){x->type.dims[0], x->type.dims[1], 1, x->type.dims[2]});
        w = ox_reshape(c, n, w, 4, (int64_t[]){w->type.dims[0], w->type.dims[1], 1, w->type.dims[2]});
        if (!x || !w) return NULL;
    }
    if (x->type.rank != 4 || w->type.rank != 4) return ox_err(c, n, "only 1-D and 2-D transposed convolutions are supported");
    if (ox_attr_int(n, "group", 1) != 1) return ox_err(c, n, "grouped transposed convolution is not supported");
    int64_t st[2] = {1, 1}, dl[2] = {1, 1}, pads[4] = {0, 0, 0, 0}, op_[2] = {0, 0}, oshape[2] = {1, 1}, p2[2];
    int sp = one_d ? 1 : 0, ns = one_d ? 1 : 2;
    ox_attr_ints(n, "strides", st + sp, ns), ox_attr_ints(n, "dilations", dl + sp, ns), ox_attr_ints(n, "output_padding", op_ + sp, ns);
    if (one_d && ox_attr_ints(n, "pads", p2, 2) == 2) pads[1] = p2[0], pads[3] = p2[1];
    else if (!one_d) ox_attr_ints(n, "pads", pads, 4);
    int64_t kh = w->type.dims[2], kw = w->type.dims[3], in_hw[2] = {x->type.dims[2], x->type.dims[3]}, k[2] = {kh, kw}, out[2];
    char autopad[16];
    ox_attr_str(n, "auto_pad", autopad, sizeof autopad);
    bool given = ox_attr_ints(n, "output_shape", oshape + sp, ns) == ns;
    for (int i = 0; i < 2; i++) {
        int64_t full = st[i] * (in_hw[i] - 1) + op_[i] + (k[i] - 1) * dl[i] + 1;
        if (given || !strncmp(autopad, "SAME", 4)) {
            out[i] = given ? oshape[i] : in_hw[i] * st[i];
            int64_t total = full - out[i];
            if (total < 0) total = 0;
            bool upper = strcmp(autopad, "SAME_LOWER") != 0;
            pads[i] = upper ? total / 2 : total - total / 2, pads[i + 2] = total - pads[i];
        } else {
            out[i] = full - pads[i] - pads[i + 2];
        }
    }
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.conv.kh = (int)kh, a.conv.kw = (int)kw, a.conv.stride_h = (int)st[0], a.conv.stride_w = (int)st[1];
    a.conv.dilation_h = (int)dl[0], a.conv.dilation_w = (int)dl[1], a.conv.groups = 1;
    a.conv.pad_top = (int)pads[0], a.conv.pad_left = (int)pads[1], a.conv.pad_bottom = (int)pads[2], a.conv.pad_right = (int)pads[3];
    ir_type t = ir_type_make(x->type.dtype, 4, (int64_t[]){x->type.dims[0], out[0], out[1], w->type.dims[1]});
    ir_node *wt = ox_transpose(c, n, w, (int[]){2, 3, 1, 0}); /* [I, O, kH, kW] -> [kH, kW, O, I] */
    ir_node *y = ox_op(c, n, KL_OP_CONV2D_TRANSPOSE, 2, (ir_node *[]){ox_transpose(c, n, x, to_nhwc), wt}, &a, &t);
    if (n_in > 2 && in[2]) y = ox_bin(c, n, KL_OP_ADD, y, in[2]);
    y = ox_transpose(c, n, y, to_nchw);
    if (one_d && y) y = ox_reshape(c, n, y, 3, (int64_t[]){y->type.dims[0], y->type.dims[1], y->type.dims[3]});
    return y;
}

/* ---- composites: hyperbolic functions, cumsum, resize, ... -------------- */

ir_node *ox_hyperbolic(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x) return NULL;
    const char *f = n->op_type;
    ir_node *one = k_like(c, x, 1), *half = k_like(c, x, 0.5);
    if (!strcmp(f, "Sinh") || !strcmp(f, "Cosh")) {
        ir_node *e = ox_un(c, n, KL_OP_EXP, x), *ei = ox_un(c, n, KL_OP_EXP, ox_un(c, n, KL_OP_NEG, x));
        return ox_bin(c, n, KL_OP_MUL, ox_bin(c, n, f[0] == 'S' ? KL_OP_SUB : KL_OP_ADD, e, ei), half);
    }
    if (!strcmp(f, "Atanh")) /* 0.5 log((1 + x) / (1 - x)) */
        return ox_bin(c, n, KL_OP_MUL, ox_un(c, n, KL_OP_LOG, ox_bin(c, n, KL_OP_DIV, ox_bin(c, n, KL_OP_ADD, one, x), ox_bin(c, n, KL_OP_SUB, one, x))), half);
    if (!strcmp(f, "Acosh")) /* log(x + sqrt(x^2 - 1)) */
        return ox_un(c, n, KL_OP_LOG, ox_bin(c, n, KL_OP_ADD, x, ox_un(c, n, KL_OP_SQRT, ox_bin(c, n, KL_OP_SUB, ox_un(c, n, KL_OP_SQUARE, x), one))));
    /* asinh, odd: sign(x) log(|x| + sqrt(x^2 + 1)) avoids cancellation for x < 0 */
    ir_node *ax = ox_un(c, n, KL_OP_ABS, x);
    ir_node *r = ox_un(c, n, KL_OP_LOG, ox_bin(c, n, KL_OP_ADD, ax, ox_un(c, n, KL_OP_SQRT, ox_bin(c, n, KL_OP_ADD, ox_un(c, n, KL_OP_SQUARE, x), one))));
    return sel(c, n, ox_bin(c, n, KL_OP_LESS, x, k_like(c, x, 0)), ox_un(c, n, KL_OP_NEG, r), r);
}

/* x contracted along `ax` with a constant [in, out] matrix m: moves the axis
 * last, multiplies, moves it back.  Resizing is such a linear map along
 * one axis. */
static ir_node *apply_along(ox *c, const ox_node *n, ir_node *x, int ax, int64_t out, const double *m)
{
    int64_t d = x->type.dims[ax];
    ir_node *mat = ox_cast(c, n, ir_const(c->g, ir_type_make(KL_F64, 2, (int64_t[]){d, out}), m, NULL), x->type.dtype);
    ir_node *t = move_axis_last(c, n, x, ax, false);
    ir_node *y = ox_op(c, n, KL_OP_MATMUL, 2, (ir_node *[]){t, mat}, NULL, NULL);
    return y ? move_axis_last(c, n, y, ax, true) : NULL;
}

ir_node *ox_cumsum(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    int64_t axis;
    if (!x || ox_read_ints(c, n, need(c, n, in, n_in, 1), "axis", &axis, 1) != 1) return NULL;
    int ax = ox_axis(c, n, axis, x->type.rank);
    if (ax < 0) return NULL;
    bool excl = ox_attr_int(n, "exclusive", 0) != 0, rev = ox_attr_int(n, "reverse", 0) != 0;
    return ir_scan(c->g, KL_OP_CUMSUM, x, ax, excl, rev, n->name && *n->name ? n->name : n->n_output ? n->output[0] : NULL, c->d);
}

/* The input coordinate of output coordinate o along an axis (ONNX Resize). */
static double source_coord(const char *mode, double o, double scale, int64_t in, int64_t out, double roi_lo, double roi_hi)
{
    /* the resized length is in * scale, unrounded (ONNX's reference; equal to out when sizes are given) */
    if (!strcmp(mode, "align_corners")) return out == 1 ? 0 : o * (double)(in - 1) / ((double)in * scale - 1);
    if (!strcmp(mode, "asymmetric")) return o / scale;
    if (!strcmp(mode, "tf_half_pixel_for_nn")) return (o + 0.5) / scale;
    if (!strcmp(mode, "pytorch_half_pixel")) return out > 1 ? (o + 0.5) / scale - 0.5 : 0;
    if (!strcmp(mode, "tf_crop_and_resize"))
        return out > 1 ? roi_lo * (double)(in - 1) + o * (roi_hi - roi_lo) * (double)(in - 1) / (double)(out - 1)
                       : 0.5 * (roi_lo + roi_hi) * (double)(in - 1);
    return (o + 0.5) / scale - 0.5; /* half_pixel */
}

static double cubic_weight(double t, double a)
{
    t = fabs(t);
    if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
    if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
    return 0;
}

/* Interpolation matrix [in, out] of one axis. */
static bool resize_matrix(ox *c, const ox_node *n, int64_t in, int64_t out, double scale, double roi_lo, double roi_hi, double *m)
{
    char mode[32], ct[32], nm[32];
    ox_attr_str(n, "mode", mode, sizeof mode);
    ox_attr_str(n, "coordinate_transformation_mode", ct, sizeof ct);
    ox_attr_str(n, "nearest_mode", nm, sizeof nm);
    double a = ox_attr_float(n, "cubic_coeff_a", -0.75f);
    bool exclude = ox_attr_int(n, "exclude_outside", 0) != 0;
    if (!mode[0]) snprintf(mode, sizeof mode, "nearest");
    if (!ct[0]) snprintf(ct, sizeof ct, "half_pixel");
    for (int64_t o = 0; o < out; o++) {
        double x = source_coord(ct, (double)o, scale, in, out, roi_lo, roi_hi);
        if (!strcmp(ct, "tf_crop_and_resize") && (x < 0 || x > (double)(in - 1))) continue; /* extrapolated: row stays 0 */
        if (!strcmp(mode, "nearest")) {
            double r = !strcmp(nm, "floor") ? floor(x) : !strcmp(nm, "ceil") ? ceil(x)
                     : !strcmp(nm, "round_prefer_ceil") ? floor(x + 0.5) : ceil(x - 0.5); /* round_prefer_floor */
            int64_t i = (int64_t)r;
            i = i < 0 ? 0 : i >= in ? in - 1 : i;
            m[i * out + o] = 1;
        } else if (!strcmp(mode, "linear")) {
            double xc = x < 0 ? 0 : x > (double)(in - 1) ? (double)(in - 1) : x;
            int64_t i0 = (int64_t)floor(xc), i1 = i0 + 1 < in ? i0 + 1 : i0;
            double f = xc - (double)i0;
            m[i0 * out + o] += 1 - f;
            m[i1 * out + o] += f;
        } else if (!strcmp(mode, "cubic")) {
            int64_t base = (int64_t)floor(x);
            double w[4], sum = 0;
            for (int k = 0; k < 4; k++) {
                int64_t i = base - 1 + k;
                w[k] = cubic_weight(x - (double)i, a);
                if (exclude && (i < 0 || i >= in)) w[k] = 0;
                sum += w[k];
            }
            for (int k = 0; k < 4; k++) {
                int64_t i = base - 1 + k;
                i = i < 0 ? 0 : i >= in ? in - 1 : i;
                m[i * out + o] += exclude && sum != 0 ? w[k] / sum : w[k];
            }
        } else {
            return ox_err(c, n, "resize mode '%s' is not supported", mode), false;
        }
    }
    return true;
}

ir_node *ox_resize(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x) return NULL;
    int r = x->type.rank;
    double scales[IR_MAX_RANK], roi[2 * IR_MAX_RANK];
    int64_t sizes[IR_MAX_RANK];
    bool have_sizes = false;
    for (int i = 0; i < r; i++) scales[i] = 1, roi[i] = 0, roi[r + i] = 1, sizes[i] = x->type.dims[i];
    int si = opset(c) < 11 ? 1 : 2; /* Resize-10: (X, scales); 11+: (X, roi, scales, sizes) */
    ir_node *sc = n_in > si ? in[si] : NULL, *sz = opset(c) >= 11 && n_in > 3 ? in[3] : NULL, *ro = opset(c) >= 11 && n_in > 1 ? in[1] : NULL;
    if (sz && ir_type_numel(&sz->type) > 0) {
        if (ox_read_ints(c, n, sz, "sizes", sizes, IR_MAX_RANK) != r) return ox_err(c, n, "sizes must have %d entries", r);
        for (int i = 0; i < r; i++)
            if (sizes[i] < 0 || sizes[i] > (1 << 24)) return ox_err(c, n, "size %lld is out of range", (long long)sizes[i]);
        have_sizes = true;
    } else if (sc && ir_type_numel(&sc->type) > 0) {
        ir_node *d = ox_need_const(c, n, sc, "scales") ? ox_cast(c, n, sc, KL_F64) : NULL;
        if (!d || d->op != KL_OP_CONST || ir_type_numel(&d->type) != r) return ox_err(c, n, "scales must be a constant of %d entries", r);
        for (int i = 0; i < r; i++) {
            scales[i] = ((const double *)d->data)[i];
            double out = floor((double)x->type.dims[i] * scales[i]);
            if (!(out >= 0 && out <= (1 << 24))) return ox_err(c, n, "scale %g gives an out-of-range size", scales[i]);
            sizes[i] = (int64_t)out;
        }
    } else {
        return ox_err(c, n, "needs constant scales or sizes");
    }
    if (ro && ir_type_numel(&ro->type) == 2 * r) {
        ir_node *d = ox_cast(c, n, ro, KL_F64);
        if (!d || d->op != KL_OP_CONST) return ox_err(c, n, "roi must be a constant");
        memcpy(roi, d->data, sizeof(double) * (size_t)(2 * r));
    }
    if (ox_attr_get(n, "antialias") && ox_attr_int(n, "antialias", 0)) return ox_err(c, n, "antialias is not supported");
    char ct[32];
    bool crop = !strcmp(ox_attr_str(n, "coordinate_transformation_mode", ct, sizeof ct), "tf_crop_and_resize");
    ir_node *y = x, *inside = NULL;
    for (int ax = 0; ax < r && y; ax++) {
        int64_t din = x->type.dims[ax], dout = sizes[ax];
        double scale = have_sizes ? (double)dout / (double)din : scales[ax];
        if (dout == din && scale == 1 && !crop) continue;
        if (dout && din > (1 << 24) / dout) return ox_err(c, n, "resize too large for the matrix form");
        double *m = kl_calloc(c->d, (size_t)(din * dout + 1), sizeof *m, "a resize matrix");
        if (!m) return NULL;
        bool ok = resize_matrix(c, n, din, dout, scale, roi[ax], roi[r + ax], m);
        if (ok) y = apply_along(c, n, y, ax, dout, m);
        if (ok && crop) { /* rows left empty are extrapolated positions */
            uint8_t *keep = kl_calloc(NULL, (size_t)dout, 1, "a crop mask");
            for (int64_t o = 0; o < dout; o++) {
                keep[o] = 0;
                for (int64_t i = 0; i < din; i++) keep[o] |= m[i * dout + o] != 0;
            }
            int64_t kd[IR_MAX_RANK];
            for (int i = 0; i < r; i++) kd[i] = i == ax ? dout : 1;
            ir_node *k = ir_const(c->g, ir_type_make(KL_BOOL, r, kd), keep, NULL);
            inside = inside ? ox_bin(c, n, KL_OP_AND, inside, k) : k;
            free(keep);
        }
        free(m);
        if (!ok) return NULL;
    }
    if (inside && y) y = sel(c, n, inside, y, k_like(c, y, ox_attr_float(n, "extrapolation_value", 0)));
    return y;
}

ir_node *ox_instance_norm(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x || x->type.rank < 3) return x ? ox_err(c, n, "needs rank 3 or more") : NULL;
    ir_attr a = spatial_axes(x);
    ir_node *mean = ox_op(c, n, KL_OP_REDUCE_MEAN, 1, &x, &a, NULL), *dev = ox_bin(c, n, KL_OP_SUB, x, mean);
    ir_node *var = ox_op(c, n, KL_OP_REDUCE_MEAN, 1, (ir_node *[]){ox_un(c, n, KL_OP_SQUARE, dev)}, &a, NULL);
    ir_node *inv = ox_un(c, n, KL_OP_RSQRT, ox_bin(c, n, KL_OP_ADD, var, k_like(c, x, ox_attr_float(n, "epsilon", 1e-5f))));
    int64_t dims[IR_MAX_RANK];
    for (int i = 0; i < x->type.rank - 1; i++) dims[i] = i == 0 ? x->type.dims[1] : 1;
    ir_node *s = ox_reshape(c, n, need(c, n, in, n_in, 1), x->type.rank - 1, dims), *b = ox_reshape(c, n, need(c, n, in, n_in, 2), x->type.rank - 1, dims);
    return ox_bin(c, n, KL_OP_ADD, ox_bin(c, n, KL_OP_MUL, ox_bin(c, n, KL_OP_MUL, dev, inv), s), b);
}

/* DepthToSpace / SpaceToDepth: a reshape, a transpose and a reshape. */
ir_node *ox_depth_space(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x || x->type.rank != 4) return x ? ox_err(c, n, "needs a 4-D input") : NULL;
    int64_t b = ox_attr_int(n, "blocksize", 0), N = x->type.dims[0], C = x->type.dims[1], H = x->type.dims[2], W = x->type.dims[3];
    char mode[8];
    ox_attr_str(n, "mode", mode, sizeof mode);
    if (b < 1) return ox_err(c, n, "bad blocksize");
    if (!strcmp(n->op_type, "DepthToSpace")) {
        if (C % (b * b)) return ox_err(c, n, "channels not divisible by blocksize^2");
        bool crd = !strcmp(mode, "CRD");
        int64_t d6[6] = {N, b, b, C / (b * b), H, W}, c6[6] = {N, C / (b * b), b, b, H, W};
        ir_node *t = ox_reshape(c, n, x, 6, crd ? c6 : d6);
        int perm_dcr[6] = {0, 3, 4, 1, 5, 2}, perm_crd[6] = {0, 1, 4, 2, 5, 3};
        return ox_reshape(c, n, ox_transpose(c, n, t, crd ? perm_crd : perm_dcr), 4, (int64_t[]){N, C / (b * b), H * b, W * b});
    }
    if (H % b || W % b) return ox_err(c, n, "spatial size not divisible by blocksize");
    ir_node *t = ox_reshape(c, n, x, 6, (int64_t[]){N, C, H / b, b, W / b, b});
    return ox_reshape(c, n, ox_transpose(c, n, t, (int[]){0, 3, 5, 1, 2, 4}), 4, (int64_t[]){N, C * b * b, H / b, W / b});
}

/* tan = sin / cos; asin = atan(x / sqrt(1 - x^2)); acos = pi/2 - asin. */
ir_node *ox_trig(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need(c, n, in, n_in, 0);
    if (!x) return NULL;
    if (!strcmp(n->op_type, "Tan")) return ox_bin(c, n, KL_OP_DIV, ox_un(c, n, KL_OP_SIN, x), ox_un(c, n, KL_OP_COS, x));
    ir_node *root = ox_un(c, n, KL_OP_SQRT, ox_bin(c, n, KL_OP_SUB, k_like(c, x, 1), ox_un(c, n, KL_OP_SQUARE, x)));
    ir_node *as = ox_un(c, n, KL_OP_ATAN, ox_bin(c, n, KL_OP_DIV, x, root));
    return !strcmp(n->op_type, "Asin") ? as : ox_bin(c, n, KL_OP_SUB, k_like(c, x, M_PI_2), as);
}
