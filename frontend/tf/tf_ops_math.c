/* frontend/tf/tf_ops_math.c — the rest of tf.math and tf.nn that real
 * graphs emit, as compositions of IR ops: trigonometric and hyperbolic
 * functions, log1p/expm1, sign and the is* tests, truncating and "no NaN"
 * divisions, AddN, L2Loss, All/Any, ReverseV2, LRN, depth/space/batch
 * rearrangements, the softmax cross entropies and InTopKV2.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tf_internal.h"

static ir_node *k_of(imp *c, const ir_node *x, double v) { return x ? tf_scalar(c, x->type.dtype, v) : NULL; }

static ir_node *sel3(imp *c, const tf_node *n, ir_node *cond, ir_node *a, ir_node *b)
{
    return cond && a && b ? tf_op(c, n, KL_OP_SELECT, 3, (ir_node *[]){cond, a, b}, NULL, NULL) : NULL;
}

static ir_node *un(imp *c, const tf_node *n, kl_op op, ir_node *x) { return tf_unary(c, n, op, x); }
static ir_node *bin(imp *c, const tf_node *n, kl_op op, ir_node *a, ir_node *b) { return tf_binary(c, n, op, a, b); }

/* ---- elementwise ---------------------------------------------------------- */

/* log(1 + x) = log(u) x / (u - 1), u = 1 + x (Goldberg), x where u rounds to 1. */
static ir_node *log1p_of(imp *c, const tf_node *n, ir_node *x)
{
    ir_node *one = k_of(c, x, 1), *u = bin(c, n, KL_OP_ADD, one, x);
    ir_node *r = bin(c, n, KL_OP_DIV, bin(c, n, KL_OP_MUL, un(c, n, KL_OP_LOG, u), x), bin(c, n, KL_OP_SUB, u, one));
    r = sel3(c, n, bin(c, n, KL_OP_EQUAL, u, one), x, r);
    return sel3(c, n, bin(c, n, KL_OP_EQUAL, u, k_of(c, x, INFINITY)), u, r); /* log(u) / (u - 1) would be inf / inf */
}

/* e^x - 1 = (u - 1) x / log(u), u = e^x (Kahan); x where u rounds to 1, u - 1 past 20. */
static ir_node *expm1_of(imp *c, const tf_node *n, ir_node *x)
{
    ir_node *one = k_of(c, x, 1), *u = un(c, n, KL_OP_EXP, x), *um1 = bin(c, n, KL_OP_SUB, u, one);
    ir_node *r = bin(c, n, KL_OP_DIV, bin(c, n, KL_OP_MUL, um1, x), un(c, n, KL_OP_LOG, u));
    r = sel3(c, n, bin(c, n, KL_OP_EQUAL, u, one), x, r);
    r = sel3(c, n, bin(c, n, KL_OP_GREATER, x, k_of(c, x, 20)), um1, r);
    return sel3(c, n, bin(c, n, KL_OP_LESS, x, k_of(c, x, -20)), k_of(c, x, -1), r);
}

ir_node *imp_math_unary(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 1)) return NULL;
    ir_node *x = in[0], *one = k_of(c, x, 1), *half = k_of(c, x, 0.5);
    const char *f = n->op;
    if (!strcmp(f, "Tan")) return bin(c, n, KL_OP_DIV, un(c, n, KL_OP_SIN, x), un(c, n, KL_OP_COS, x));
    if (!strcmp(f, "Asin") || !strcmp(f, "Acos")) {
        ir_node *as = un(c, n, KL_OP_ATAN, bin(c, n, KL_OP_DIV, x, un(c, n, KL_OP_SQRT, bin(c, n, KL_OP_SUB, one, un(c, n, KL_OP_SQUARE, x)))));
        return f[1] == 's' ? as : bin(c, n, KL_OP_SUB, k_of(c, x, M_PI_2), as);
    }
    if (!strcmp(f, "Sinh") || !strcmp(f, "Cosh")) {
        ir_node *e = un(c, n, KL_OP_EXP, x), *ei = un(c, n, KL_OP_EXP, un(c, n, KL_OP_NEG, x));
        return bin(c, n, KL_OP_MUL, bin(c, n, f[0] == 'S' ? KL_OP_SUB : KL_OP_ADD, e, ei), half);
    }
    if (!strcmp(f, "Atanh")) /* 0.5 (log1p(x) - log1p(-x)) keeps small x accurate */
        return bin(c, n, KL_OP_MUL, bin(c, n, KL_OP_SUB, log1p_of(c, n, x), log1p_of(c, n, un(c, n, KL_OP_NEG, x))), half);
    if (!strcmp(f, "Acosh"))
        return un(c, n, KL_OP_LOG, bin(c, n, KL_OP_ADD, x, un(c, n, KL_OP_SQRT, bin(c, n, KL_OP_SUB, un(c, n, KL_OP_SQUARE, x), one))));
    if (!strcmp(f, "Asinh")) { /* odd: sign(x) log(|x| + sqrt(x^2 + 1)) */
        ir_node *ax = un(c, n, KL_OP_ABS, x);
        ir_node *r = un(c, n, KL_OP_LOG, bin(c, n, KL_OP_ADD, ax, un(c, n, KL_OP_SQRT, bin(c, n, KL_OP_ADD, un(c, n, KL_OP_SQUARE, x), one))));
        return sel3(c, n, bin(c, n, KL_OP_LESS, x, k_of(c, x, 0)), un(c, n, KL_OP_NEG, r), r);
    }
    if (!strcmp(f, "Log1p")) return log1p_of(c, n, x);
    if (!strcmp(f, "Expm1")) return expm1_of(c, n, x);
    if (!strcmp(f, "Reciprocal") || !strcmp(f, "Inv")) return bin(c, n, KL_OP_DIV, one, x);
    if (!strcmp(f, "Sign")) {
        ir_node *zero = k_of(c, x, 0);
        return sel3(c, n, bin(c, n, KL_OP_GREATER, x, zero), one, sel3(c, n, bin(c, n, KL_OP_LESS, x, zero), k_of(c, x, -1), x));
    }
    if (!strcmp(f, "IsNan")) return bin(c, n, KL_OP_NOT_EQUAL, x, x);
    if (!strcmp(f, "IsInf")) return bin(c, n, KL_OP_EQUAL, un(c, n, KL_OP_ABS, x), k_of(c, x, INFINITY));
    if (!strcmp(f, "IsFinite")) return bin(c, n, KL_OP_LESS, un(c, n, KL_OP_ABS, x), k_of(c, x, INFINITY));
    return tf_err(c, n, "no composition for this op");
}

/* C-style truncation toward zero of a float quotient. */
static ir_node *trunc_of(imp *c, const tf_node *n, ir_node *q)
{
    return sel3(c, n, bin(c, n, KL_OP_LESS, q, k_of(c, q, 0)), un(c, n, KL_OP_CEIL, q), un(c, n, KL_OP_FLOOR, q));
}

ir_node *imp_math_binary(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    ir_node *a = in[0], *b = in[1];
    const char *f = n->op;
    bool fl = kl_dtype_is_float(a->type.dtype);
    if (!strcmp(f, "TruncateDiv")) return fl ? trunc_of(c, n, bin(c, n, KL_OP_DIV, a, b)) : bin(c, n, KL_OP_DIV, a, b);
    if (!strcmp(f, "TruncateMod") || !strcmp(f, "Mod")) { /* a - trunc(a / b) b: C's fmod / % */
        ir_node *q = fl ? trunc_of(c, n, bin(c, n, KL_OP_DIV, a, b)) : bin(c, n, KL_OP_DIV, a, b);
        return bin(c, n, KL_OP_SUB, a, bin(c, n, KL_OP_MUL, q, b));
    }
    ir_node *zero = k_of(c, a, 0);
    if (!strcmp(f, "DivNoNan")) return sel3(c, n, bin(c, n, KL_OP_EQUAL, b, zero), zero, bin(c, n, KL_OP_DIV, a, b));
    if (!strcmp(f, "MulNoNan")) return sel3(c, n, bin(c, n, KL_OP_EQUAL, b, zero), zero, bin(c, n, KL_OP_MUL, a, b));
    if (!strcmp(f, "Xlogy")) return sel3(c, n, bin(c, n, KL_OP_EQUAL, a, zero), zero, bin(c, n, KL_OP_MUL, a, un(c, n, KL_OP_LOG, b)));
    if (!strcmp(f, "Xdivy")) return sel3(c, n, bin(c, n, KL_OP_EQUAL, a, zero), zero, bin(c, n, KL_OP_DIV, a, b));
    if (!strcmp(f, "Atan2")) { /* atan(a / b), moved to the quadrant of (b, a) */
        ir_node *t = un(c, n, KL_OP_ATAN, bin(c, n, KL_OP_DIV, a, b)), *pi = k_of(c, a, M_PI);
        ir_node *fix = sel3(c, n, bin(c, n, KL_OP_LESS, a, zero), un(c, n, KL_OP_NEG, pi), pi);
        ir_node *r = sel3(c, n, bin(c, n, KL_OP_LESS, b, zero), bin(c, n, KL_OP_ADD, t, fix), t);
        ir_node *axis = sel3(c, n, bin(c, n, KL_OP_LESS, a, zero), k_of(c, a, -M_PI_2), k_of(c, a, M_PI_2));
        r = sel3(c, n, bin(c, n, KL_OP_EQUAL, b, zero), sel3(c, n, bin(c, n, KL_OP_EQUAL, a, zero), zero, axis), r);
        return r;
    }
    return tf_err(c, n, "no composition for this op");
}

ir_node *imp_add_n(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (n_in < 1) return tf_err(c, n, "needs inputs");
    ir_node *s = in[0];
    for (int i = 1; i < n_in && s; i++) s = bin(c, n, KL_OP_ADD, s, in[i]);
    return s;
}

static ir_attr all_axes(int rank)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.reduce.axes = rank ? (1u << rank) - 1 : 0;
    return a;
}

ir_node *imp_l2_loss(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 1)) return NULL;
    ir_attr a = all_axes(in[0]->type.rank);
    ir_node *sq = un(c, n, KL_OP_SQUARE, in[0]);
    ir_node *s = in[0]->type.rank ? tf_op(c, n, KL_OP_REDUCE_SUM, 1, &sq, &a, NULL) : sq;
    return bin(c, n, KL_OP_MUL, s, k_of(c, in[0], 0.5));
}

/* All / Any (input bool, axes): min / max of the input as uint8. */
ir_node *imp_all_any(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    int64_t axes[IR_MAX_RANK];
    int na = tf_read_ints(c, n, in[1], "the axes", axes, IR_MAX_RANK);
    if (na < 0) return NULL;
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.reduce.keep_dims = tf_attr_bool(n, "keep_dims", false);
    for (int i = 0; i < na; i++) {
        int ax = tf_axis(c, n, axes[i], in[0]->type.rank);
        if (ax < 0) return NULL;
        a.reduce.axes |= 1u << ax;
    }
    ir_node *u = tf_cast(c, n, in[0], KL_U8);
    ir_node *r = a.reduce.axes ? tf_op(c, n, !strcmp(n->op, "All") ? KL_OP_REDUCE_MIN : KL_OP_REDUCE_MAX, 1, &u, &a, NULL) : u;
    return tf_cast(c, n, r, KL_BOOL);
}

/* ReverseV2 (x, axes): a slice with stride -1 on each axis. */
ir_node *imp_reverse(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    int64_t axes[IR_MAX_RANK];
    int na = tf_read_ints(c, n, in[1], "the axes", axes, IR_MAX_RANK);
    if (na < 0) return NULL;
    ir_node *x = in[0];
    ir_attr a;
    memset(&a, 0, sizeof a);
    for (int i = 0; i < x->type.rank; i++) a.slice.stride[i] = 1;
    for (int i = 0; i < na; i++) {
        int ax = tf_axis(c, n, axes[i], x->type.rank);
        if (ax < 0) return NULL;
        a.slice.begin[ax] = x->type.dims[ax] ? x->type.dims[ax] - 1 : 0, a.slice.stride[ax] = -1;
    }
    return tf_op(c, n, KL_OP_SLICE, 1, &x, &a, &x->type);
}

/* LRN (NHWC): x / (bias + alpha * sum of x^2 over channels c - r .. c + r)^beta. */
ir_node *imp_lrn(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 1)) return NULL;
    ir_node *x = in[0];
    int r = x->type.rank;
    int64_t rad = tf_attr_int(n, "depth_radius", 5);
    if (r < 1 || rad < 0 || rad > 512) return tf_err(c, n, "depth_radius must be 0 to 512, on rank 1 or more");
    double bias = tf_attr_float(n, "bias", 1), alpha = tf_attr_float(n, "alpha", 1), beta = tf_attr_float(n, "beta", 0.5);
    ir_node *sq = un(c, n, KL_OP_SQUARE, x);
    ir_attr p;
    memset(&p, 0, sizeof p);
    p.pad.lo[r - 1] = rad, p.pad.hi[r - 1] = rad;
    ir_node *padded = tf_op(c, n, KL_OP_PAD, 1, &sq, &p, NULL), *sum = NULL;
    for (int64_t k = 0; padded && k <= 2 * rad; k++) {
        ir_attr s;
        memset(&s, 0, sizeof s);
        for (int i = 0; i < r; i++) s.slice.stride[i] = 1;
        s.slice.begin[r - 1] = k;
        ir_node *sl = tf_op(c, n, KL_OP_SLICE, 1, &padded, &s, &x->type);
        sum = sum ? bin(c, n, KL_OP_ADD, sum, sl) : sl;
    }
    ir_node *den = bin(c, n, KL_OP_ADD, k_of(c, x, bias), bin(c, n, KL_OP_MUL, sum, k_of(c, x, alpha)));
    return bin(c, n, KL_OP_DIV, x, bin(c, n, KL_OP_POW, den, k_of(c, x, beta)));
}

/* ---- rearrangements: DepthToSpace, SpaceToDepth, SpaceToBatchND, BatchToSpaceND --- */

static ir_node *reshape(imp *c, const tf_node *n, ir_node *x, int rank, const int64_t *dims) { return tf_reshape(c, n, x, rank, dims); }

static ir_node *transpose(imp *c, const tf_node *n, ir_node *x, int rank, const int *perm)
{
    if (!x) return NULL;
    ir_attr a;
    memset(&a, 0, sizeof a);
    for (int i = 0; i < rank; i++) a.transpose.perm[i] = (int8_t)perm[i];
    return tf_op(c, n, KL_OP_TRANSPOSE, 1, &x, &a, NULL);
}

static bool nhwc(imp *c, const tf_node *n, const ir_node *x)
{
    char fmt[16];
    if (tf_attr_str(n, "data_format", fmt, sizeof fmt)[0] && strcmp(fmt, "NHWC"))
        return tf_err(c, n, "unsupported data_format %s (only NHWC)", fmt), false;
    if (x->type.rank != 4) return tf_err(c, n, "needs an NHWC input"), false;
    return true;
}

ir_node *imp_depth_to_space(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 1) || !nhwc(c, n, in[0])) return NULL;
    const int64_t *d = in[0]->type.dims, b = tf_attr_int(n, "block_size", 2);
    if (b < 2 || b > 4096 || d[3] % (b * b)) return tf_err(c, n, "depth must be a multiple of block_size^2 (block_size 2 to 4096)");
    int64_t co = d[3] / (b * b);
    ir_node *x = reshape(c, n, in[0], 6, (int64_t[]){d[0], d[1], d[2], b, b, co});
    x = transpose(c, n, x, 6, (int[]){0, 1, 3, 2, 4, 5});
    return reshape(c, n, x, 4, (int64_t[]){d[0], d[1] * b, d[2] * b, co});
}

ir_node *imp_space_to_depth(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 1) || !nhwc(c, n, in[0])) return NULL;
    const int64_t *d = in[0]->type.dims, b = tf_attr_int(n, "block_size", 2);
    if (b < 2 || b > 4096 || d[1] % b || d[2] % b) return tf_err(c, n, "height and width must be multiples of block_size (2 to 4096)");
    ir_node *x = reshape(c, n, in[0], 6, (int64_t[]){d[0], d[1] / b, b, d[2] / b, b, d[3]});
    x = transpose(c, n, x, 6, (int[]){0, 1, 3, 2, 4, 5});
    return reshape(c, n, x, 4, (int64_t[]){d[0], d[1] / b, d[2] / b, b * b * d[3]});
}

/* block shape [M] and paddings / crops [M, 2] of the (Space|Batch)ToBatchND ops. */
static int block_args(imp *c, const tf_node *n, ir_node **in, const ir_node *x, int64_t *block, int64_t *pads)
{
    int m = tf_read_ints(c, n, in[1], "block_shape", block, IR_MAX_RANK);
    if (m < 0) return -1;
    if (tf_read_ints(c, n, in[2], "paddings", pads, 2 * IR_MAX_RANK) != 2 * m) return tf_err(c, n, "paddings must be [M, 2]"), -1;
    if (m < 1 || 2 * m + 2 > IR_MAX_RANK || x->type.rank < m + 1) return tf_err(c, n, "too many block dimensions"), -1;
    for (int i = 0; i < m; i++)
        if (block[i] < 1 || pads[2 * i] < 0 || pads[2 * i + 1] < 0) return tf_err(c, n, "bad block_shape or paddings"), -1;
    return m;
}

/* [N, S1..SM, R..] -> pad -> [N, S1/b1, b1, .., SM/bM, bM, R] -> [b1..bM, N, S1/b1.., R] -> [b N, ...] */
ir_node *imp_space_to_batch(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 3)) return NULL;
    int64_t block[IR_MAX_RANK], pads[2 * IR_MAX_RANK];
    ir_node *x = in[0];
    int m = block_args(c, n, in, x, block, pads), r = x->type.rank;
    if (m < 0) return NULL;
    ir_attr p;
    memset(&p, 0, sizeof p);
    for (int i = 0; i < m; i++) p.pad.lo[1 + i] = pads[2 * i], p.pad.hi[1 + i] = pads[2 * i + 1];
    x = tf_op(c, n, KL_OP_PAD, 1, &x, &p, NULL);
    if (!x) return NULL;
    int64_t rest = 1, dims[IR_MAX_RANK], nb = x->type.dims[0], prod = 1;
    for (int i = m + 1; i < r; i++) rest *= x->type.dims[i];
    int k = 0;
    dims[k++] = nb;
    for (int i = 0; i < m; i++) {
        if (x->type.dims[1 + i] % block[i]) return tf_err(c, n, "padded dims must be multiples of block_shape");
        dims[k++] = x->type.dims[1 + i] / block[i], dims[k++] = block[i], prod *= block[i];
    }
    dims[k++] = rest;
    int perm[IR_MAX_RANK], q = 0;
    for (int i = 0; i < m; i++) perm[q++] = 2 + 2 * i; /* the blocks */
    perm[q++] = 0;
    for (int i = 0; i < m; i++) perm[q++] = 1 + 2 * i;
    perm[q++] = 2 * m + 1;
    ir_node *y = transpose(c, n, reshape(c, n, x, k, dims), k, perm);
    int64_t out[IR_MAX_RANK];
    out[0] = prod * nb;
    for (int i = 0; i < m; i++) out[1 + i] = dims[1 + 2 * i];
    for (int i = m + 1; i < r; i++) out[i] = x->type.dims[i];
    return reshape(c, n, y, r, out);
}

/* The inverse: [b N, S1.., R] -> [b1..bM, N, S1.., R] -> [N, S1, b1, .., R] -> [N, S1 b1, ..] -> crop. */
ir_node *imp_batch_to_space(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 3)) return NULL;
    int64_t block[IR_MAX_RANK], crops[2 * IR_MAX_RANK];
    ir_node *x = in[0];
    int m = block_args(c, n, in, x, block, crops), r = x->type.rank;
    if (m < 0) return NULL;
    int64_t prod = 1, rest = 1, dims[IR_MAX_RANK];
    for (int i = 0; i < m; i++) prod *= block[i];
    if (x->type.dims[0] % prod) return tf_err(c, n, "batch must be a multiple of the block size");
    for (int i = m + 1; i < r; i++) rest *= x->type.dims[i];
    int k = 0;
    for (int i = 0; i < m; i++) dims[k++] = block[i];
    dims[k++] = x->type.dims[0] / prod;
    for (int i = 0; i < m; i++) dims[k++] = x->type.dims[1 + i];
    dims[k++] = rest;
    int perm[IR_MAX_RANK], q = 0;
    perm[q++] = m;
    for (int i = 0; i < m; i++) perm[q++] = m + 1 + i, perm[q++] = i;
    perm[q++] = 2 * m + 1;
    ir_node *y = transpose(c, n, reshape(c, n, x, k, dims), k, perm);
    int64_t full[IR_MAX_RANK], begin[IR_MAX_RANK] = {0}, size[IR_MAX_RANK];
    full[0] = x->type.dims[0] / prod;
    for (int i = 0; i < m; i++) full[1 + i] = x->type.dims[1 + i] * block[i];
    for (int i = m + 1; i < r; i++) full[i] = x->type.dims[i];
    y = reshape(c, n, y, r, full);
    for (int i = 0; i < r; i++) size[i] = full[i];
    for (int i = 0; i < m; i++) {
        begin[1 + i] = crops[2 * i], size[1 + i] = full[1 + i] - crops[2 * i] - crops[2 * i + 1];
        if (size[1 + i] < 0) return tf_err(c, n, "crops larger than the output");
    }
    return y ? tf_slice(c, n, y, begin, size, NULL) : NULL;
}

/* ---- losses and InTopKV2 ------------------------------------------------------ */

static ir_node *last_axis(imp *c, const tf_node *n, kl_op op, ir_node *x, bool keep)
{
    if (!x) return NULL; /* an operand that failed (reported) */
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.reduce.axes = 1u << (x->type.rank - 1), a.reduce.keep_dims = keep;
    return tf_op(c, n, op, 1, &x, &a, NULL);
}

/* (features [B, C], labels [B, C]) -> loss [B] = -sum labels log_softmax, backprop = softmax - labels */
ir_node *imp_softmax_xent(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    ir_node *f = in[0], *lab = in[1];
    if (f->type.rank != 2) return tf_err(c, n, "needs [batch, classes] features");
    if (!strcmp(n->op, "SparseSoftmaxCrossEntropyWithLogits")) { /* labels [B] int: one-hot */
        int64_t cls = f->type.dims[1];
        double *v = calloc((size_t)cls + 1, sizeof *v);
        if (!v) return tf_err(c, n, "out of memory");
        for (int64_t i = 0; i < cls; i++) v[i] = (double)i;
        ir_node *k = tf_cast(c, n, ir_const(c->g, ir_type_make(KL_F64, 2, (int64_t[]){1, cls}), v, NULL), lab->type.dtype);
        free(v);
        ir_node *l2 = tf_reshape(c, n, lab, 2, (int64_t[]){lab->type.dims[0], 1});
        lab = tf_cast(c, n, bin(c, n, KL_OP_EQUAL, l2, k), f->type.dtype);
        if (!lab) return NULL;
    }
    ir_node *ls = un(c, n, KL_OP_LOG_SOFTMAX, f), *sm = un(c, n, KL_OP_SOFTMAX, f);
    c->outs[0] = un(c, n, KL_OP_NEG, last_axis(c, n, KL_OP_REDUCE_SUM, bin(c, n, KL_OP_MUL, lab, ls), false));
    c->outs[1] = bin(c, n, KL_OP_SUB, sm, lab);
    c->n_outs = 2;
    return c->outs[0] && c->outs[1] ? c->outs[0] : NULL;
}

/* InTopKV2 (predictions [B, C], targets [B], k): fewer than k classes score
 * strictly above the target's (ties with the boundary count as in, as in
 * TensorFlow); a non-finite target score is never in. */
ir_node *imp_in_top_k(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 3)) return NULL;
    ir_node *p = in[0], *t = in[1];
    double k;
    if (p->type.rank != 2 || t->type.rank != 1 || !tf_read_scalar(c, n, in[2], "k", &k)) return p->type.rank == 2 ? NULL : tf_err(c, n, "needs [batch, classes] predictions");
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.concat.axis = 1;
    ir_node *t2 = tf_reshape(c, n, t, 2, (int64_t[]){t->type.dims[0], 1});
    ir_node *tv = t2 ? tf_op(c, n, KL_OP_GATHER_ELEMENTS, 2, (ir_node *[]){p, t2}, &a, NULL) : NULL;
    ir_node *above = tf_cast(c, n, bin(c, n, KL_OP_GREATER, p, tv), KL_I32);
    ir_node *cnt = above ? last_axis(c, n, KL_OP_REDUCE_SUM, above, false) : NULL;
    ir_node *in_k = bin(c, n, KL_OP_LESS, cnt, tf_scalar(c, KL_I32, k));
    ir_node *fin = tv ? bin(c, n, KL_OP_LESS, un(c, n, KL_OP_ABS, tf_reshape(c, n, tv, 1, t->type.dims)), k_of(c, tv, INFINITY)) : NULL;
    return in_k && fin ? bin(c, n, KL_OP_AND, in_k, fin) : NULL;
}
