/* frontend/tf/tf_ops_array.c — importers of shape and data-movement ops.
 * Shape-valued operands (shapes, axes, paddings, perms, begin/end) must be
 * constant by import time; the folding builders make computed ones so.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tf_internal.h"

/* A constant of type t from int64 values (shapes, ranges). */
static ir_node *int_const(imp *c, const tf_node *n, kl_dtype t, int rank, const int64_t *dims, const int64_t *v)
{
    ir_type ty = ir_type_make(KL_I64, rank, dims);
    ir_node *k = ir_const(c->g, ty, v, NULL);
    return tf_cast(c, n, k, t);
}

ir_node *imp_reshape(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    int64_t dims[IR_MAX_RANK + 1];
    int rank = tf_read_ints(c, n, in[1], "the shape operand", dims, IR_MAX_RANK);
    if (rank < 0) return NULL;
    int64_t known = 1, total = ir_type_numel(&in[0]->type);
    int infer = -1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] == -1 && infer < 0) infer = i;
        else if (dims[i] < 0) return tf_err(c, n, "bad shape entry %lld", (long long)dims[i]);
        else if (__builtin_mul_overflow(known, dims[i], &known)) return tf_err(c, n, "shape is too large");
    }
    if (infer >= 0) {
        if (known == 0 || total % known) return tf_err(c, n, "cannot infer the -1 dimension");
        dims[infer] = total / known;
    }
    return tf_reshape(c, n, in[0], rank, dims);
}

ir_node *imp_squeeze(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 1)) return NULL;
    const ir_type *t = &in[0]->type;
    int64_t which[IR_MAX_RANK], dims[IR_MAX_RANK];
    int nw = tf_attr_ints(n, "squeeze_dims", which, IR_MAX_RANK), r = 0;
    unsigned drop = 0;
    for (int i = 0; i < nw; i++) {
        int ax = tf_axis(c, n, which[i], t->rank);
        if (ax < 0) return NULL;
        if (t->dims[ax] != 1) return tf_err(c, n, "cannot squeeze dimension %d of size %lld", ax, (long long)t->dims[ax]);
        drop |= 1u << ax;
    }
    for (int i = 0; i < t->rank; i++)
        if (!(nw > 0 ? (drop >> i) & 1 : t->dims[i] == 1)) dims[r++] = t->dims[i];
    return tf_reshape(c, n, in[0], r, dims);
}

ir_node *imp_expand_dims(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    int64_t axis;
    const ir_type *t = &in[0]->type;
    if (tf_read_ints(c, n, in[1], "the axis", &axis, 1) != 1) return NULL;
    if (t->rank >= IR_MAX_RANK) return tf_err(c, n, "rank above %d", IR_MAX_RANK);
    int ax = tf_axis(c, n, axis, t->rank + 1);
    if (ax < 0) return NULL;
    int64_t dims[IR_MAX_RANK];
    for (int i = 0, j = 0; i <= t->rank; i++) dims[i] = i == ax ? 1 : t->dims[j++];
    return tf_reshape(c, n, in[0], t->rank + 1, dims);
}

ir_node *imp_shape(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 1)) return NULL;
    int64_t rank = in[0]->type.rank;
    return int_const(c, n, tf_attr_dtype(n, "out_type", KL_I32), 1, &rank, in[0]->type.dims);
}

ir_node *imp_size(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 1)) return NULL;
    int64_t v = ir_type_numel(&in[0]->type);
    return int_const(c, n, tf_attr_dtype(n, "out_type", KL_I32), 0, NULL, &v);
}

ir_node *imp_rank(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 1)) return NULL;
    int64_t v = in[0]->type.rank;
    return int_const(c, n, KL_I32, 0, NULL, &v);
}

ir_node *imp_transpose(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    int64_t perm[IR_MAX_RANK];
    int r = tf_read_ints(c, n, in[1], "the permutation", perm, IR_MAX_RANK);
    if (r < 0) return NULL;
    if (r != in[0]->type.rank) return tf_err(c, n, "permutation of %d entries for rank %d", r, in[0]->type.rank);
    ir_attr a;
    memset(&a, 0, sizeof a);
    for (int i = 0; i < r; i++) a.transpose.perm[i] = (int8_t)(perm[i] < 0 || perm[i] >= r ? -1 : perm[i]);
    return tf_op(c, n, KL_OP_TRANSPOSE, 1, in, &a, NULL);
}

ir_node *imp_pad(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    bool v2 = !strcmp(n->op, "PadV2"), mirror = !strcmp(n->op, "MirrorPad");
    if (!tf_want_inputs(c, n, n_in, v2 ? 3 : 2)) return NULL;
    int64_t p[2 * IR_MAX_RANK];
    int r = in[0]->type.rank;
    if (tf_read_ints(c, n, in[1], "the paddings", p, 2 * IR_MAX_RANK) != 2 * r)
        return tf_err(c, n, "paddings must be [%d, 2]", r);
    ir_attr a;
    memset(&a, 0, sizeof a);
    for (int i = 0; i < r; i++) a.pad.lo[i] = p[2 * i], a.pad.hi[i] = p[2 * i + 1];
    if (v2 && !tf_read_scalar(c, n, in[2], "the constant value", &a.pad.value)) return NULL;
    if (mirror) {
        char mode[16];
        tf_attr_str(n, "mode", mode, sizeof mode);
        if (!strcmp(mode, "REFLECT")) a.pad.mode = IR_PAD_REFLECT;
        else if (!strcmp(mode, "SYMMETRIC")) a.pad.mode = IR_PAD_SYMMETRIC;
        else return tf_err(c, n, "unsupported mirror mode '%s'", mode);
    }
    return tf_op(c, n, KL_OP_PAD, 1, in, &a, NULL);
}

static ir_node *concat(imp *c, const tf_node *n, ir_node **parts, int count, int axis)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.concat.axis = axis;
    return count == 1 ? parts[0] : tf_op(c, n, KL_OP_CONCAT, count, parts, &a, NULL);
}

ir_node *imp_concat(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (n_in < 2) return tf_err(c, n, "needs values and an axis");
    int64_t axis;
    if (tf_read_ints(c, n, in[n_in - 1], "the axis", &axis, 1) != 1) return NULL;
    int ax = tf_axis(c, n, axis, in[0]->type.rank);
    return ax < 0 ? NULL : concat(c, n, in, n_in - 1, ax);
}

ir_node *imp_pack(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (n_in < 1) return tf_err(c, n, "nothing to pack");
    const ir_type *t = &in[0]->type;
    if (t->rank >= IR_MAX_RANK) return tf_err(c, n, "rank above %d", IR_MAX_RANK);
    int ax = tf_axis(c, n, tf_attr_int(n, "axis", 0), t->rank + 1);
    if (ax < 0) return NULL;
    int64_t dims[IR_MAX_RANK];
    for (int i = 0, j = 0; i <= t->rank; i++) dims[i] = i == ax ? 1 : t->dims[j++];
    ir_node **parts = kl_calloc(NULL, (size_t)n_in, sizeof *parts, "a pack");
    bool ok = true;
    for (int i = 0; i < n_in && ok; i++) ok = (parts[i] = tf_reshape(c, n, in[i], t->rank + 1, dims)) != NULL;
    ir_node *r = ok ? concat(c, n, parts, n_in, ax) : NULL;
    free(parts);
    return r;
}

/* Pieces of x along axis with the given sizes: c->outs. */
static ir_node *split_along(imp *c, const tf_node *n, ir_node *x, int ax, const int64_t *sizes, int count, bool drop_axis)
{
    const ir_type *t = &x->type;
    if (count < 1 || count > 256) return tf_err(c, n, "bad number of pieces %d", count);
    int64_t begin[IR_MAX_RANK] = {0}, size[IR_MAX_RANK], at = 0;
    for (int i = 0; i < t->rank; i++) size[i] = t->dims[i];
    for (int k = 0; k < count; k++) {
        begin[ax] = at, size[ax] = sizes[k];
        if (sizes[k] < 0 || at + sizes[k] > t->dims[ax]) return tf_err(c, n, "pieces exceed dimension %d", ax);
        ir_node *s = tf_slice(c, n, x, begin, size, NULL);
        if (s && drop_axis) {
            int64_t dims[IR_MAX_RANK];
            for (int i = 0, j = 0; i < t->rank; i++)
                if (i != ax) dims[j++] = t->dims[i];
            s = tf_reshape(c, n, s, t->rank - 1, dims);
        }
        if (!s) return NULL;
        c->outs[k] = s;
        at += sizes[k];
    }
    c->n_outs = count;
    return c->outs[0];
}

ir_node *imp_unpack(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 1)) return NULL;
    int ax = tf_axis(c, n, tf_attr_int(n, "axis", 0), in[0]->type.rank);
    if (ax < 0) return NULL;
    int64_t count = in[0]->type.dims[ax], sizes[256];
    if (count > 256) return tf_err(c, n, "more than 256 outputs");
    for (int i = 0; i < count; i++) sizes[i] = 1;
    return split_along(c, n, in[0], ax, sizes, (int)count, true);
}

ir_node *imp_split(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    bool v = !strcmp(n->op, "SplitV");
    if (!tf_want_inputs(c, n, n_in, v ? 3 : 2)) return NULL;
    ir_node *x = v ? in[0] : in[1], *axis_node = v ? in[2] : in[0];
    int64_t axis, sizes[256];
    if (tf_read_ints(c, n, axis_node, "the axis", &axis, 1) != 1) return NULL;
    int ax = tf_axis(c, n, axis, x->type.rank);
    if (ax < 0) return NULL;
    int count;
    if (v) {
        count = tf_read_ints(c, n, in[1], "the sizes", sizes, 256);
        if (count < 0) return NULL;
        int64_t known = 0, infer = -1;
        for (int i = 0; i < count; i++) {
            if (sizes[i] < -1 || sizes[i] > x->type.dims[ax]) return tf_err(c, n, "bad split size %lld", (long long)sizes[i]);
            if (sizes[i] == -1) infer = i;
            else known += sizes[i]; /* each at most dims[ax], 256 of them: no overflow */
        }
        if (infer >= 0) sizes[infer] = x->type.dims[ax] - known;
    } else {
        count = (int)tf_attr_int(n, "num_split", 1);
        if (count < 1 || count > 256 || x->type.dims[ax] % count) return tf_err(c, n, "cannot split %lld into %d", (long long)x->type.dims[ax], count);
        for (int i = 0; i < count; i++) sizes[i] = x->type.dims[ax] / count;
    }
    return split_along(c, n, x, ax, sizes, count, false);
}

ir_node *imp_slice(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 3)) return NULL;
    int64_t begin[IR_MAX_RANK], size[IR_MAX_RANK];
    int r = in[0]->type.rank;
    if (tf_read_ints(c, n, in[1], "begin", begin, IR_MAX_RANK) != r || tf_read_ints(c, n, in[2], "size", size, IR_MAX_RANK) != r)
        return tf_err(c, n, "begin and size must have %d entries", r);
    for (int i = 0; i < r; i++) {
        int64_t dim = in[0]->type.dims[i];
        if (begin[i] < 0 || begin[i] > dim) return tf_err(c, n, "slice out of range on axis %d", i);
        if (size[i] == -1) size[i] = dim - begin[i];
        if (size[i] < 0 || size[i] > dim - begin[i]) return tf_err(c, n, "slice out of range on axis %d", i);
    }
    return tf_slice(c, n, in[0], begin, size, NULL);
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* StridedSlice: masks turn the sparse spec into one entry per input
 * dimension (ellipsis expands, new_axis inserts a 1, shrink removes), then
 * it is one SLICE and a reshape. */
ir_node *imp_strided_slice(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 4)) return NULL;
    const ir_type *t = &in[0]->type;
    int64_t b[32], e[32], s[32];
    int nb = tf_read_ints(c, n, in[1], "begin", b, 32), ne = tf_read_ints(c, n, in[2], "end", e, 32), ns = tf_read_ints(c, n, in[3], "strides", s, 32);
    if (nb < 0 || ne != nb || ns != nb) return tf_err(c, n, "begin, end and strides must have one length");
    int64_t bm = tf_attr_int(n, "begin_mask", 0), em = tf_attr_int(n, "end_mask", 0), elm = tf_attr_int(n, "ellipsis_mask", 0);
    int64_t nam = tf_attr_int(n, "new_axis_mask", 0), sam = tf_attr_int(n, "shrink_axis_mask", 0);
    int real = 0; /* sparse entries that consume an input dimension */
    for (int i = 0; i < nb; i++) real += !((nam >> i) & 1) && !((elm >> i) & 1);
    /* out: one entry per spec entry (at most 32) plus the full ranges (at
     * most the rank); checked against IR_MAX_RANK at the end. */
    int64_t begin[IR_MAX_RANK], size[IR_MAX_RANK], stride[IR_MAX_RANK], out[32 + IR_MAX_RANK];
    int d = 0, ro = 0;
    bool ellipsis_seen = false;
    for (int i = 0; i <= nb && d <= t->rank; i++) {
        bool is_ell = i < nb && ((elm >> i) & 1), implicit_end = i == nb && !ellipsis_seen;
        if (is_ell || implicit_end) { /* full ranges */
            int cover = is_ell ? t->rank - real : t->rank - d;
            ellipsis_seen |= is_ell;
            for (int k = 0; k < cover && d < t->rank; k++, d++)
                begin[d] = 0, size[d] = t->dims[d], stride[d] = 1, out[ro++] = t->dims[d];
            continue;
        }
        if (i == nb) break;
        if ((nam >> i) & 1) { out[ro++] = 1; continue; }
        if (d >= t->rank) return tf_err(c, n, "slice spec longer than the rank %d", t->rank);
        int64_t dim = t->dims[d], st = s[i];
        if (st == 0) return tf_err(c, n, "stride 0");
        /* A stride past the dimension takes one element at most; bounding it
         * keeps the length arithmetic below from overflowing. */
        if (st > dim + 1) st = dim + 1;
        if (st < -(dim + 1)) st = -(dim + 1);
        if ((sam >> i) & 1) {
            int64_t x = b[i] < 0 ? b[i] + dim : b[i];
            if (x < 0 || x >= dim) return tf_err(c, n, "index %lld out of range for dimension %lld", (long long)b[i], (long long)dim);
            begin[d] = x, size[d] = 1, stride[d] = 1, d++;
            continue;
        }
        int64_t lo = st > 0 ? 0 : -1, hi = st > 0 ? dim : dim - 1;
        int64_t x = (bm >> i) & 1 ? (st > 0 ? 0 : dim - 1) : clamp64(b[i] < 0 ? b[i] + dim : b[i], lo, hi);
        int64_t y = (em >> i) & 1 ? (st > 0 ? dim : -1) : clamp64(e[i] < 0 ? e[i] + dim : e[i], lo, hi);
        int64_t len = st > 0 ? (y - x + st - 1) / st : (x - y + (-st) - 1) / (-st);
        if (len < 0) len = 0;
        begin[d] = x, size[d] = len, stride[d] = st, out[ro++] = len, d++;
    }
    if (ro > IR_MAX_RANK) return tf_err(c, n, "result rank above %d", IR_MAX_RANK);
    ir_node *r = tf_slice(c, n, in[0], begin, size, stride);
    return tf_reshape(c, n, r, ro, out);
}

ir_node *imp_tile(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    int64_t m[IR_MAX_RANK];
    ir_type t = in[0]->type;
    if (tf_read_ints(c, n, in[1], "the multiples", m, IR_MAX_RANK) != t.rank) return tf_err(c, n, "multiples must have %d entries", t.rank);
    for (int i = 0; i < t.rank; i++) {
        if (m[i] < 0) return tf_err(c, n, "negative multiple");
        if (__builtin_mul_overflow(t.dims[i], m[i], &t.dims[i])) return tf_err(c, n, "result is too large");
    }
    return tf_op(c, n, KL_OP_TILE, 1, in, NULL, &t);
}

/* x repeated to `dims` under numpy broadcasting (rank may grow). */
static ir_node *broadcast_to(imp *c, const tf_node *n, ir_node *x, int rank, const int64_t *dims)
{
    int64_t xd[IR_MAX_RANK];
    if (rank < x->type.rank) return tf_err(c, n, "cannot broadcast to a lower rank");
    for (int i = 0; i < rank; i++) {
        int j = i - (rank - x->type.rank);
        xd[i] = j >= 0 ? x->type.dims[j] : 1;
        if (xd[i] != dims[i] && xd[i] != 1) return tf_err(c, n, "cannot broadcast dimension %d", i);
    }
    ir_node *r = tf_reshape(c, n, x, rank, xd);
    ir_type t = ir_type_make(x->type.dtype, rank, dims);
    return r ? tf_op(c, n, KL_OP_TILE, 1, &r, NULL, &t) : NULL;
}

ir_node *imp_broadcast_to(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    int64_t dims[IR_MAX_RANK];
    int r = tf_read_ints(c, n, in[1], "the shape", dims, IR_MAX_RANK);
    return r < 0 ? NULL : broadcast_to(c, n, in[0], r, dims);
}

ir_node *imp_fill(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    int64_t dims[IR_MAX_RANK];
    int r = tf_read_ints(c, n, in[0], "the dims", dims, IR_MAX_RANK);
    return r < 0 ? NULL : broadcast_to(c, n, in[1], r, dims);
}

ir_node *imp_like(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 1)) return NULL;
    ir_node *one = tf_scalar(c, in[0]->type.dtype, strcmp(n->op, "OnesLike") ? 0.0 : 1.0);
    return one ? broadcast_to(c, n, one, in[0]->type.rank, in[0]->type.dims) : NULL;
}

ir_node *imp_range(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 3)) return NULL;
    double start, limit, delta;
    if (!tf_read_scalar(c, n, in[0], "start", &start) || !tf_read_scalar(c, n, in[1], "limit", &limit) ||
        !tf_read_scalar(c, n, in[2], "delta", &delta))
        return NULL;
    double steps = (limit - start) / delta;
    if (delta == 0 || !isfinite(steps) || steps > (1 << 24)) return tf_err(c, n, "bad range");
    int64_t count = (int64_t)((limit - start) / delta + 0.999999999);
    if (count < 0) count = 0;
    double *v = kl_calloc(NULL, (size_t)count + 1, sizeof *v, "a range");
    for (int64_t i = 0; i < count; i++) v[i] = start + (double)i * delta;
    ir_node *d = ir_const(c->g, ir_type_make(KL_F64, 1, &count), v, NULL);
    free(v);
    return tf_cast(c, n, d, tf_attr_dtype(n, "Tidx", in[0]->type.dtype));
}

ir_node *imp_gather(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 3)) return NULL;
    if (tf_attr_int(n, "batch_dims", 0) != 0) return tf_err(c, n, "batch_dims other than 0 is not supported");
    int64_t axis;
    if (tf_read_ints(c, n, in[2], "the axis", &axis, 1) != 1) return NULL;
    int ax = tf_axis(c, n, axis, in[0]->type.rank);
    if (ax < 0) return NULL;
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.concat.axis = ax;
    return tf_op(c, n, KL_OP_GATHER, 2, in, &a, NULL);
}

/* OneHot: (indices expanded at axis) == range(depth) placed at axis, then
 * select on/off.  Broadcasting builds the full shape. */
ir_node *imp_one_hot(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 4)) return NULL;
    int64_t depth;
    if (tf_read_ints(c, n, in[1], "depth", &depth, 1) != 1 || depth < 0 || depth > (1 << 24)) return tf_err(c, n, "bad depth");
    const ir_type *t = &in[0]->type;
    if (t->rank >= IR_MAX_RANK) return tf_err(c, n, "rank above %d", IR_MAX_RANK);
    int ax = tf_axis(c, n, tf_attr_int(n, "axis", -1), t->rank + 1);
    if (ax < 0) return NULL;
    int64_t idims[IR_MAX_RANK], rdims[IR_MAX_RANK];
    for (int i = 0, j = 0; i <= t->rank; i++) {
        idims[i] = i == ax ? 1 : t->dims[j++];
        rdims[i] = i == ax ? depth : 1;
    }
    int64_t *v = kl_calloc(NULL, (size_t)depth + 1, sizeof *v, "a one-hot table");
    for (int64_t i = 0; i < depth; i++) v[i] = i;
    ir_node *range = int_const(c, n, t->dtype, t->rank + 1, rdims, v);
    free(v);
    ir_node *eq = tf_binary(c, n, KL_OP_EQUAL, tf_reshape(c, n, in[0], t->rank + 1, idims), range);
    return eq ? tf_op(c, n, KL_OP_SELECT, 3, (ir_node *[]){eq, in[2], in[3]}, NULL, NULL) : NULL;
}

/* Where(condition): the coordinates of true elements, [count, rank] int64.
 * Its shape depends on the data, so it is only static (and folded here)
 * when the condition is a constant. */
ir_node *imp_where(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 1)) return NULL;
    ir_node *b = tf_cast(c, n, in[0], KL_BOOL);
    if (!b || b->op != KL_OP_CONST)
        return tf_err(c, n, "the output shape depends on the values of a non-constant condition; Kiln needs static shapes "
                            "(the 3-input form, SelectV2, is supported)");
    const ir_type *t = &b->type;
    int64_t count = 0, total = ir_type_numel(t), idx[IR_MAX_RANK] = {0};
    const uint8_t *v = b->data;
    for (int64_t i = 0; i < total; i++) count += v[i] != 0;
    int64_t *out = kl_calloc(NULL, (size_t)(count * t->rank + 1), sizeof *out, "the indices of Where"), k = 0;
    for (int64_t i = 0; i < total; i++) {
        if (v[i]) memcpy(out + k++ * t->rank, idx, sizeof *out * (size_t)t->rank);
        for (int d = t->rank - 1; d >= 0 && ++idx[d] == t->dims[d]; d--) idx[d] = 0;
    }
    int64_t dims[2] = {count, t->rank};
    ir_node *r = ir_const(c->g, ir_type_make(KL_I64, 2, dims), out, n->name);
    free(out);
    return r;
}
