/* frontend/tf/tf_ops_grad.c — the ops TensorFlow writes into a gradient
 * subgraph (tf.gradients, Optimizer.minimize): activation gradients,
 * BiasAddGrad, and the shape bookkeeping (BroadcastGradientArgs,
 * DynamicStitch, InvertPermutation) that becomes constant once every shape
 * is static.
 *
 * Everything is expressed as existing IR ops, so it folds and fuses like any
 * graph.  Each formula follows TensorFlow's CPU kernel (its operand order and
 * operation order), e.g. cwise_ops_gradients.h for the (y, dy) ops and
 * relu_op_functor.h for the (gradients, features) ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tf_internal.h"

/* ---- activation gradients ----------------------------------------------- */

static ir_node *one(imp *c, const ir_node *like, double v) { return tf_scalar(c, like->type.dtype, v); }

static bool want_float(imp *c, const tf_node *n, ir_node *const *in, int n_in)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return false;
    if (!kl_dtype_is_float(in[0]->type.dtype) || in[0]->type.dtype != in[1]->type.dtype)
        return tf_err(c, n, "needs two floating-point operands of one dtype"), false;
    return true;
}

/* bool mask -> 0/1 of x's dtype */
static ir_node *mask_of(imp *c, const tf_node *n, ir_node *mask, kl_dtype t) { return tf_cast(c, n, mask, t); }

/* The (y, dy) ops of cwise_ops_gradients.h: y is the forward op's output. */
ir_node *imp_grad_y_dy(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!want_float(c, n, in, n_in)) return NULL;
    ir_node *y = in[0], *dy = in[1];
    const char *o = n->op;
    if (!strcmp(o, "TanhGrad")) /* dy * (1 - y*y) */
        return tf_binary(c, n, KL_OP_MUL, dy, tf_binary(c, n, KL_OP_SUB, one(c, y, 1), tf_binary(c, n, KL_OP_MUL, y, y)));
    if (!strcmp(o, "SigmoidGrad")) /* dy * y * (1 - y) */
        return tf_binary(c, n, KL_OP_MUL, tf_binary(c, n, KL_OP_MUL, dy, y), tf_binary(c, n, KL_OP_SUB, one(c, y, 1), y));
    if (!strcmp(o, "RsqrtGrad")) /* -0.5 * (dy * y) * (y * y) */
        return tf_binary(c, n, KL_OP_MUL, tf_binary(c, n, KL_OP_MUL, one(c, y, -0.5), tf_binary(c, n, KL_OP_MUL, dy, y)),
                         tf_binary(c, n, KL_OP_MUL, y, y));
    if (!strcmp(o, "SqrtGrad")) /* 0.5 * dy / y */
        return tf_binary(c, n, KL_OP_DIV, tf_binary(c, n, KL_OP_MUL, one(c, y, 0.5), dy), y);
    /* ReciprocalGrad, InvGrad: -y * y * dy */
    return tf_binary(c, n, KL_OP_MUL, tf_binary(c, n, KL_OP_MUL, tf_unary(c, n, KL_OP_NEG, y), y), dy);
}

/* The (gradients, features-or-outputs) ops of relu_op_functor.h,
 * softplus_op.h and softsign_op.h. */
ir_node *imp_grad_dy_x(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!want_float(c, n, in, n_in)) return NULL;
    ir_node *dy = in[0], *x = in[1];
    kl_dtype t = x->type.dtype;
    const char *o = n->op;
    if (!strcmp(o, "ReluGrad")) /* dy * (x > 0) */
        return tf_binary(c, n, KL_OP_MUL, dy, mask_of(c, n, tf_binary(c, n, KL_OP_GREATER, x, one(c, x, 0)), t));
    if (!strcmp(o, "Relu6Grad")) /* dy * ((x > 0) * (x < 6)) */
        return tf_binary(c, n, KL_OP_MUL, dy,
                         tf_binary(c, n, KL_OP_MUL, mask_of(c, n, tf_binary(c, n, KL_OP_GREATER, x, one(c, x, 0)), t),
                                   mask_of(c, n, tf_binary(c, n, KL_OP_LESS, x, one(c, x, 6)), t)));
    if (!strcmp(o, "LeakyReluGrad")) { /* x > 0 ? dy : dy * alpha */
        ir_node *gt = tf_binary(c, n, KL_OP_GREATER, x, one(c, x, 0));
        ir_node *scaled = tf_binary(c, n, KL_OP_MUL, dy, one(c, x, tf_attr_float(n, "alpha", 0.2f)));
        return gt && scaled ? tf_op(c, n, KL_OP_SELECT, 3, (ir_node *[]){gt, dy, scaled}, NULL, NULL) : NULL;
    }
    if (!strcmp(o, "EluGrad")) { /* y < 0 ? (y + 1) * dy : dy */
        ir_node *lt = tf_binary(c, n, KL_OP_LESS, x, one(c, x, 0));
        ir_node *neg = tf_binary(c, n, KL_OP_MUL, tf_binary(c, n, KL_OP_ADD, x, one(c, x, 1)), dy);
        return lt && neg ? tf_op(c, n, KL_OP_SELECT, 3, (ir_node *[]){lt, neg, dy}, NULL, NULL) : NULL;
    }
    if (!strcmp(o, "SeluGrad")) { /* y < 0 ? dy * (y + scale*alpha) : dy * scale */
        const double scale = 1.0507009873554804934193349852946, scale_alpha = 1.7580993408473768599402175208123;
        ir_node *lt = tf_binary(c, n, KL_OP_LESS, x, one(c, x, 0));
        ir_node *neg = tf_binary(c, n, KL_OP_MUL, dy, tf_binary(c, n, KL_OP_ADD, x, one(c, x, scale_alpha)));
        ir_node *pos = tf_binary(c, n, KL_OP_MUL, dy, one(c, x, scale));
        return lt && neg && pos ? tf_op(c, n, KL_OP_SELECT, 3, (ir_node *[]){lt, neg, pos}, NULL, NULL) : NULL;
    }
    if (!strcmp(o, "SoftplusGrad")) /* dy / (exp(-x) + 1) */
        return tf_binary(c, n, KL_OP_DIV, dy, tf_binary(c, n, KL_OP_ADD, tf_unary(c, n, KL_OP_EXP, tf_unary(c, n, KL_OP_NEG, x)), one(c, x, 1)));
    /* SoftsignGrad: dy / (1 + |x|)^2 */
    return tf_binary(c, n, KL_OP_DIV, dy, tf_unary(c, n, KL_OP_SQUARE, tf_binary(c, n, KL_OP_ADD, tf_unary(c, n, KL_OP_ABS, x), one(c, x, 1))));
}

/* BiasAddGrad: the sum over every axis but the channel axis (the last for
 * NHWC, axis 1 for NCHW, as TF's BiasGradOp). */
ir_node *imp_bias_add_grad(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    char fmt[16];
    if (!tf_want_inputs(c, n, n_in, 1)) return NULL;
    int rank = in[0]->type.rank;
    if (rank < 2) return tf_err(c, n, "out_backprop must be at least 2-D, is %d-D", rank);
    tf_attr_str(n, "data_format", fmt, sizeof fmt);
    int ch;
    if (!fmt[0] || !strcmp(fmt, "NHWC")) ch = rank - 1;
    else if (!strcmp(fmt, "NCHW")) ch = 1;
    else return tf_err(c, n, "unsupported data_format %s (NHWC or NCHW)", fmt);
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.reduce.axes = ((1u << rank) - 1) & ~(1u << ch);
    return tf_op(c, n, KL_OP_REDUCE_SUM, 1, in, &a, NULL);
}

/* ---- shape bookkeeping (constant after pinning) ------------------------- */

/* A constant int vector of dtype t (I32 or I64). */
static ir_node *int_vector(imp *c, const tf_node *n, kl_dtype t, const int64_t *v, int count, const char *name)
{
    int64_t dim = count;
    ir_type ty = ir_type_make(t, 1, &dim);
    size_t es = t == KL_I64 ? 8 : 4;
    void *buf = kl_calloc(c->d, count ? (size_t)count : 1, es, "a constant vector");
    if (!buf) return NULL;
    for (int i = 0; i < count; i++) {
        if (t == KL_I64) ((int64_t *)buf)[i] = v[i];
        else ((int32_t *)buf)[i] = (int32_t)v[i];
    }
    ir_node *r = ir_const(c->g, ty, buf, name);
    free(buf);
    if (!r) tf_err(c, n, "out of memory");
    return r;
}

/* BroadcastGradientArgs(s0, s1) -> (r0, r1): the axes of the broadcast
 * result each operand's gradient sums over, as TF's BCast computes them
 * (equal shapes: none; otherwise, shapes right-aligned, an axis where an
 * operand is 1, or missing, and the other is not; an axis where both are 1
 * goes to both). */
ir_node *imp_broadcast_gradient_args(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    int64_t s[2][IR_MAX_RANK * 2];
    int r[2];
    for (int k = 0; k < 2; k++) {
        if (in[k]->op != KL_OP_CONST)
            return tf_err(c, n, "shape s%d is not constant: Kiln needs static shapes here (pin the unknown dims, e.g. --feed x:100,32)", k);
        if (in[k]->type.rank != 1) return tf_err(c, n, "shape s%d must be a vector", k);
        r[k] = tf_read_ints(c, n, in[k], k ? "s1" : "s0", s[k], IR_MAX_RANK * 2);
        if (r[k] < 0) return NULL;
    }
    int rank = r[0] > r[1] ? r[0] : r[1];
    bool same = r[0] == r[1];
    for (int j = 0; same && j < r[0]; j++) same = s[0][j] == s[1][j];
    if (same) rank = 0; /* equal shapes: nothing to reduce, as BCast's early out */
    int64_t idx[2][IR_MAX_RANK * 2];
    int cnt[2] = {0, 0};
    for (int j = 0; j < rank; j++) {
        int64_t a = j - (rank - r[0]) >= 0 ? s[0][j - (rank - r[0])] : 1;
        int64_t b = j - (rank - r[1]) >= 0 ? s[1][j - (rank - r[1])] : 1;
        if (a < 0 || b < 0) return tf_err(c, n, "negative dimension in the shapes");
        if (a == b) {
            if (a == 1) idx[0][cnt[0]++] = idx[1][cnt[1]++] = j;
        } else if (a == 1) {
            idx[0][cnt[0]++] = j;
        } else if (b == 1) {
            idx[1][cnt[1]++] = j;
        } else {
            return tf_err(c, n, "incompatible shapes: dimension %d is %lld and %lld", j, (long long)a, (long long)b);
        }
    }
    kl_dtype t = in[0]->type.dtype;
    char name[512];
    for (int k = 0; k < 2; k++) {
        snprintf(name, sizeof name, "%s:%d", n->name, k);
        if (!(c->outs[k] = int_vector(c, n, t, idx[k], cnt[k], name))) return NULL;
    }
    c->n_outs = 2;
    return c->outs[0];
}

/* InvertPermutation of a constant permutation: y[x[i]] = i. */
ir_node *imp_invert_permutation(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 1)) return NULL;
    enum { MAX = 1 << 16 };
    if (in[0]->op != KL_OP_CONST) return tf_err(c, n, "the permutation must be constant");
    if (in[0]->type.rank != 1) return tf_err(c, n, "the permutation must be a vector");
    int64_t count = ir_type_numel(&in[0]->type);
    if (count > MAX) return tf_err(c, n, "permutation longer than %d", MAX);
    int64_t *x = kl_calloc(c->d, (size_t)count + 1, 2 * sizeof *x, "a permutation");
    if (!x) return NULL;
    int64_t *y = x + count + 1;
    ir_node *r = NULL;
    if (tf_read_ints(c, n, in[0], "the permutation", x, (int)count) != count) goto out;
    for (int64_t i = 0; i < count; i++) y[i] = -1;
    for (int64_t i = 0; i < count; i++) {
        if (x[i] < 0 || x[i] >= count || y[x[i]] >= 0) {
            tf_err(c, n, "not a permutation: %lld at %lld", (long long)x[i], (long long)i);
            goto out;
        }
        y[x[i]] = i;
    }
    r = int_vector(c, n, in[0]->type.dtype, y, (int)count, n->name);
out:
    free(x);
    return r;
}

/* DynamicStitch / ParallelDynamicStitch(indices[N], data[N]):
 * merged[indices[m][i...]] = data[m][i..., :], later m winning (TF's
 * DynamicStitch order; ParallelDynamicStitch leaves duplicates unspecified).
 * Indices must be constant; data may be anything: the result is a GATHER
 * of the data's rows (concatenated) at constant positions, which folds when
 * the data are constant too.  Rows no index names are 0. */
ir_node *imp_dynamic_stitch(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    enum { MAX_ROWS = 1 << 20, MAX_PARTS = 128 };
    if (n_in < 2 || n_in % 2) return tf_err(c, n, "expects N indices and N data inputs, has %d inputs", n_in);
    int parts = n_in / 2;
    if (parts > MAX_PARTS) return tf_err(c, n, "more than %d partitions", MAX_PARTS);
    ir_node **idx = in, **data = in + parts;
    const ir_type *d0 = &data[0]->type, *i0 = &idx[0]->type;
    int rest_rank = d0->rank - i0->rank;
    if (rest_rank < 0 || rest_rank + 1 > IR_MAX_RANK) return tf_err(c, n, "data 0's rank does not fit indices 0's");
    const int64_t *rest = d0->dims + i0->rank;
    int64_t total = 0, first = 0;
    for (int m = 0; m < parts; m++) {
        const ir_type *it = &idx[m]->type, *dt = &data[m]->type;
        if (idx[m]->op != KL_OP_CONST || (it->dtype != KL_I32 && it->dtype != KL_I64))
            return tf_err(c, n, "indices %d must be a constant int32/int64 tensor (Kiln stitches at compile-time positions)", m);
        if (dt->dtype != d0->dtype) return tf_err(c, n, "data %d has another dtype than data 0", m);
        bool ok = dt->rank == it->rank + rest_rank;
        for (int k = 0; ok && k < it->rank; k++) ok = dt->dims[k] == it->dims[k];
        for (int k = 0; ok && k < rest_rank; k++) ok = dt->dims[it->rank + k] == rest[k];
        if (!ok) return tf_err(c, n, "data %d's shape must be indices %d's shape followed by data 0's trailing shape", m, m);
        int64_t cnt = ir_type_numel(it);
        if (cnt > MAX_ROWS || total + cnt > MAX_ROWS) return tf_err(c, n, "more than %d indices", MAX_ROWS);
        for (int64_t i = 0; i < cnt; i++) {
            int64_t v = it->dtype == KL_I32 ? ((const int32_t *)idx[m]->data)[i] : ((const int64_t *)idx[m]->data)[i];
            if (v < 0 || v >= MAX_ROWS) return tf_err(c, n, "index %lld out of range", (long long)v);
            if (v + 1 > first) first = v + 1;
        }
        total += cnt;
    }
    /* position of each output row among the concatenated rows; total = a zero row */
    int64_t *pos = kl_calloc(c->d, (size_t)first + 1, sizeof *pos, "stitch positions");
    if (!pos) return NULL;
    for (int64_t j = 0; j < first; j++) pos[j] = -1;
    int64_t at = 0;
    for (int m = 0; m < parts; m++) {
        int64_t cnt = ir_type_numel(&idx[m]->type);
        for (int64_t i = 0; i < cnt; i++) {
            int64_t v = idx[m]->type.dtype == KL_I32 ? ((const int32_t *)idx[m]->data)[i] : ((const int64_t *)idx[m]->data)[i];
            pos[v] = at + i;
        }
        at += cnt;
    }
    bool gaps = false;
    for (int64_t j = 0; j < first; j++)
        if (pos[j] < 0) pos[j] = total, gaps = true;
    ir_node *pieces[MAX_PARTS + 1], *r = NULL;
    int n_pieces = 0;
    int64_t dims[IR_MAX_RANK];
    memcpy(dims + 1, rest, (size_t)rest_rank * sizeof *dims);
    for (int m = 0; m < parts; m++) {
        dims[0] = ir_type_numel(&idx[m]->type);
        if (dims[0] == 0) continue;
        if (!(pieces[n_pieces++] = tf_reshape(c, n, data[m], rest_rank + 1, dims))) goto out;
    }
    if (gaps || n_pieces == 0) {
        dims[0] = 1;
        ir_type zt = ir_type_make(d0->dtype, rest_rank + 1, dims);
        void *zero = kl_calloc(c->d, (size_t)ir_type_numel(&zt) + 1, kl_dtype_size(d0->dtype), "a zero row");
        if (!zero) goto out;
        pieces[n_pieces] = ir_const(c->g, zt, zero, n->name);
        free(zero);
        if (!pieces[n_pieces++]) {
            tf_err(c, n, "out of memory");
            goto out;
        }
    }
    ir_attr a;
    memset(&a, 0, sizeof a);
    ir_node *rows = n_pieces == 1 ? pieces[0] : tf_op(c, n, KL_OP_CONCAT, n_pieces, pieces, &a, NULL);
    ir_node *at_ = int_vector(c, n, KL_I64, pos, (int)first, n->name);
    if (rows && at_) r = tf_op(c, n, KL_OP_GATHER, 2, (ir_node *[]){rows, at_}, &a, NULL);
out:
    free(pos);
    return r;
}

/* StridedSliceGrad(shape, begin, end, strides, dy): zeros of `shape` with dy
 * where StridedSlice took its elements.  The slice of a constant iota of
 * `shape` (StridedSlice's own importer, folded) gives the linear position of
 * each dy element; the result is a GATHER of [dy..., 0] at constant
 * positions, so it fuses as data movement. */
ir_node *imp_strided_slice_grad(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    enum { MAX_ELEMS = 1 << 24 };
    if (!tf_want_inputs(c, n, n_in, 5)) return NULL;
    int64_t dims[IR_MAX_RANK];
    int rank = tf_read_ints(c, n, in[0], "the shape", dims, IR_MAX_RANK);
    if (rank < 0) return NULL;
    int64_t numel = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0 || __builtin_mul_overflow(numel, dims[i], &numel) || numel > MAX_ELEMS)
            return tf_err(c, n, "bad or too large shape (at most %d elements)", MAX_ELEMS);
    }
    ir_node *dy = in[4];
    int64_t m = ir_type_numel(&dy->type);
    ir_type it = ir_type_make(KL_I32, rank, dims);
    int32_t *iota = kl_calloc(c->d, (size_t)numel + 1, sizeof *iota, "slice positions");
    int64_t *pos = iota ? kl_calloc(c->d, (size_t)numel + 1, sizeof *pos, "slice positions") : NULL;
    ir_node *r = NULL;
    if (!pos) goto out;
    for (int64_t i = 0; i < numel; i++) iota[i] = (int32_t)i, pos[i] = m;
    ir_node *sin[4] = {ir_const(c->g, it, iota, n->name), in[1], in[2], in[3]};
    if (!sin[0]) {
        tf_err(c, n, "out of memory");
        goto out;
    }
    ir_node *taken = imp_strided_slice(c, n, sin, 4, KL_OP_SLICE);
    if (!taken) goto out;
    if (taken->op != KL_OP_CONST || ir_type_numel(&taken->type) != m) {
        tf_err(c, n, "dy has %lld elements, the slice %lld", (long long)m, (long long)ir_type_numel(&taken->type));
        goto out;
    }
    for (int64_t k = 0; k < m; k++) pos[((const int32_t *)taken->data)[k]] = k;
    int64_t one_ = 1, flat = m;
    ir_type zt = ir_type_make(dy->type.dtype, 1, &one_);
    void *zero = kl_calloc(c->d, 2, kl_dtype_size(dy->type.dtype), "a zero");
    if (!zero) goto out;
    ir_node *z = ir_const(c->g, zt, zero, n->name);
    free(zero);
    ir_node *src = tf_reshape(c, n, dy, 1, &flat);
    ir_attr a;
    memset(&a, 0, sizeof a);
    ir_node *rows = z && src ? tf_op(c, n, KL_OP_CONCAT, 2, (ir_node *[]){src, z}, &a, NULL) : NULL;
    ir_node *at = int_vector(c, n, KL_I64, pos, (int)numel, n->name);
    ir_node *g = rows && at ? tf_op(c, n, KL_OP_GATHER, 2, (ir_node *[]){rows, at}, &a, NULL) : NULL;
    r = tf_reshape(c, n, g, rank, dims);
out:
    free(iota);
    free(pos);
    return r;
}
