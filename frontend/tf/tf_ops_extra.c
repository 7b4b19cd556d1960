/* frontend/tf/tf_ops_extra.c — importers for the ops of issue 9: scans,
 * top-k and the other ops Keras applications and tf.nn emit that the
 * family files (tf_ops_basic.c, tf_ops_array.c, tf_ops_nn.c) do not cover. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tf_internal.h"

/* Cumsum / Cumprod (x, axis) with exclusive and reverse attributes. */
ir_node *imp_cumulative(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    int64_t axis;
    if (tf_read_ints(c, n, in[1], "the axis", &axis, 1) != 1) return NULL;
    int ax = tf_axis(c, n, axis, in[0]->type.rank);
    if (ax < 0) return NULL;
    return ir_scan(c->g, op, in[0], ax, tf_attr_bool(n, "exclusive", false), tf_attr_bool(n, "reverse", false), n->name, c->d);
}

/* TopKV2 (input, k): the k largest along the last axis and their indices
 * (index_type, int32 by default), sorted; TensorFlow's order for sorted=False
 * is unspecified, so the sorted one serves both. */
ir_node *imp_top_k(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    int64_t k;
    if (tf_read_ints(c, n, in[1], "k", &k, 1) != 1) return NULL;
    if (in[0]->type.rank < 1) return tf_err(c, n, "needs rank 1 or more");
    kl_dtype it = tf_attr_dtype(n, "index_type", KL_I32);
    if (it != KL_I32 && it != KL_I64) return tf_err(c, n, "index_type must be int32 or int64");
    if (!ir_top_k(c->g, in[0], in[0]->type.rank - 1, k, true, it, n->name, &c->outs[0], &c->outs[1], c->d)) return NULL;
    c->n_outs = 2;
    return c->outs[0];
}

/* ---- gathers and scatters (ir/gather_scatter.c) --------------------------- */

ir_node *imp_gather_nd(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    return ir_gather_nd(c->g, in[0], in[1], (int)tf_attr_int(n, "batch_dims", 0), n->name, c->d);
}

/* TensorScatterUpdate/Add/Max/Min (tensor, indices, updates). */
ir_node *imp_tensor_scatter(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 3)) return NULL;
    const char *t = n->op;
    ir_scatter_reduce r = strstr(t, "Add") ? IR_SCATTER_ADD : strstr(t, "Max") ? IR_SCATTER_MAX
                        : strstr(t, "Min") ? IR_SCATTER_MIN : IR_SCATTER_NONE;
    return ir_scatter_nd(c->g, in[0], in[1], in[2], r, n->name, c->d);
}

/* ScatterNd (indices, updates, shape): zeros of shape, duplicates summed. */
ir_node *imp_scatter_nd(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 3)) return NULL;
    int64_t dims[IR_MAX_RANK];
    int r = tf_read_ints(c, n, in[2], "the shape", dims, IR_MAX_RANK);
    if (r < 0) return NULL;
    ir_type t = ir_type_make(in[1]->type.dtype, r, dims);
    int64_t ones[IR_MAX_RANK];
    for (int i = 0; i < r; i++) ones[i] = 1;
    ir_node *zero = tf_reshape(c, n, tf_scalar(c, t.dtype, 0), r, ones);
    ir_node *z = zero ? tf_op(c, n, KL_OP_TILE, 1, &zero, NULL, &t) : NULL;
    return z ? ir_scatter_nd(c->g, z, in[0], in[1], IR_SCATTER_ADD, n->name, c->d) : NULL;
}

/* ---- image resizing (tf.image.resize, tf.compat.v1.image.resize_*) ---------- */

/* Per axis, a resize is a linear map: y = x M along the axis, M [in, out]
 * (nearest: a gather).  Coordinates follow TensorFlow's kernels:
 * scale = in / out, or (in - 1) / (out - 1) with align_corners; the source
 * of output o is o * scale, or (o + 0.5) * scale - 0.5 with
 * half_pixel_centers ((o + 0.5) * scale for nearest). */
typedef enum { RZ_NEAREST, RZ_BILINEAR, RZ_BICUBIC, RZ_AREA } rz_kind;

static double rz_scale(int64_t in, int64_t out, bool align)
{
    return align && out > 1 ? (double)(in - 1) / (double)(out - 1) : (double)in / (double)out;
}

static int64_t clampi(int64_t v, int64_t hi) { return v < 0 ? 0 : v > hi ? hi : v; }

/* Keys' cubic kernel (a = -0.5 with half-pixel centers, TF's legacy -0.75 otherwise). */
static double cubic(double t, double a)
{
    t = fabs(t);
    if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
    if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
    return 0;
}

static void rz_matrix(rz_kind k, int64_t in, int64_t out, bool align, bool half, double *m)
{
    double s = rz_scale(in, out, align);
    for (int64_t o = 0; o < out; o++) {
        double x = half ? ((double)o + 0.5) * s - 0.5 : (double)o * s;
        if (k == RZ_BILINEAR) {
            double f = floor(x), lerp = x - f;
            int64_t lo = clampi((int64_t)f, in - 1), hi = clampi((int64_t)ceil(x), in - 1);
            m[lo * out + o] += 1 - lerp, m[hi * out + o] += lerp;
        } else if (k == RZ_BICUBIC) {
            /* TensorFlow samples the kernel from a table of 1024 steps per unit: the
             * fractional position is rounded to 1/1024 (computed in float, as there) */
            float xf = half ? ((float)o + 0.5f) * (float)s - 0.5f : (float)o * (float)s;
            double f = floorf(xf), w[4], sum = 0, a = half ? -0.5 : -0.75;
            double q = (double)lrintf((xf - (float)f) * 1024.0f) / 1024.0;
            for (int j = 0; j < 4; j++) {
                int64_t i = (int64_t)f - 1 + j;
                w[j] = cubic(q - (double)(j - 1), a);
                if (half && (i < 0 || i >= in)) w[j] = 0; /* Keys: taps outside are dropped, the rest renormalized */
                sum += w[j];
            }
            for (int j = 0; j < 4; j++) m[clampi((int64_t)f - 1 + j, in - 1) * out + o] += half && sum != 0 ? w[j] / sum : w[j];
        } else { /* area: overlap of [o s, (o + 1) s) with each input cell, over s */
            double a0 = (double)o * s, a1 = (double)(o + 1) * s;
            for (int64_t i = (int64_t)floor(a0); i < (int64_t)ceil(a1); i++) {
                double lo = a0 > (double)i ? a0 : (double)i, hi = a1 < (double)(i + 1) ? a1 : (double)(i + 1);
                m[clampi(i, in - 1) * out + o] += (hi - lo) / s;
            }
        }
    }
}

/* x NHWC, resized along axis (1 or 2) to out. */
static ir_node *rz_axis(imp *c, const tf_node *n, ir_node *x, int axis, int64_t out, rz_kind k, bool align, bool half)
{
    int64_t in = x->type.dims[axis];
    if (k == RZ_NEAREST) {
        int64_t *idx = malloc(sizeof *idx * (size_t)(out + 1));
        if (!idx) return tf_err(c, n, "out of memory");
        double s = rz_scale(in, out, align);
        for (int64_t o = 0; o < out; o++) {
            double src = half ? ((double)o + 0.5) * s : (double)o * s;
            idx[o] = clampi(align ? (int64_t)roundf((float)src) : (int64_t)floorf((float)src), in - 1);
        }
        ir_node *kx = ir_const(c->g, ir_type_make(KL_I64, 1, &out), idx, NULL);
        free(idx);
        ir_attr a;
        memset(&a, 0, sizeof a);
        a.concat.axis = axis;
        return tf_op(c, n, KL_OP_GATHER, 2, (ir_node *[]){x, kx}, &a, NULL);
    }
    if (in < 1 || out > ((int64_t)1 << 26) / in) return tf_err(c, n, "the resize is too large for its interpolation matrix");
    double *m = calloc((size_t)(in * out + 1), sizeof *m);
    if (!m) return tf_err(c, n, "out of memory");
    rz_matrix(k, in, out, align, half, m);
    ir_node *mat = tf_cast(c, n, ir_const(c->g, ir_type_make(KL_F64, 2, (int64_t[]){in, out}), m, NULL), KL_F32);
    free(m);
    int perm[4] = {0, 1, 2, 3};
    perm[axis] = 3, perm[3] = axis;
    ir_attr t;
    memset(&t, 0, sizeof t);
    for (int i = 0; i < 4; i++) t.transpose.perm[i] = (int8_t)perm[i];
    ir_node *xt = tf_op(c, n, KL_OP_TRANSPOSE, 1, &x, &t, NULL);
    ir_node *y = tf_op(c, n, KL_OP_MATMUL, 2, (ir_node *[]){xt, mat}, NULL, NULL);
    return tf_op(c, n, KL_OP_TRANSPOSE, 1, &y, &t, NULL);
}

/* ResizeNearestNeighbor / ResizeBilinear / ResizeBicubic / ResizeArea (images, size). */
ir_node *imp_resize(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    int64_t size[2];
    if (tf_read_ints(c, n, in[1], "the size", size, 2) != 2) return NULL;
    ir_node *x = in[0];
    if (x->type.rank != 4 || size[0] < 1 || size[1] < 1 || size[0] > (1 << 24) || size[1] > (1 << 24))
        return tf_err(c, n, "needs NHWC images and a size from 1 to 2^24");
    rz_kind k = !strcmp(n->op, "ResizeNearestNeighbor") ? RZ_NEAREST : !strcmp(n->op, "ResizeBilinear") ? RZ_BILINEAR
              : !strcmp(n->op, "ResizeBicubic") ? RZ_BICUBIC : RZ_AREA;
    bool align = tf_attr_bool(n, "align_corners", false), half = tf_attr_bool(n, "half_pixel_centers", false);
    if (k != RZ_NEAREST) x = tf_cast(c, n, x, KL_F32); /* TF's interpolating resizes output float32 */
    for (int ax = 1; ax <= 2 && x; ax++)
        if (size[ax - 1] != x->type.dims[ax]) x = rz_axis(c, n, x, ax, size[ax - 1], k, align, half);
    return x;
}

/* ---- 3-D windows (ir/window3d.c), softsign ----------------------------------- */

/* strides, dilations and SAME/VALID pads of a Conv3D / *Pool3D (NDHWC). */
static bool window3d_attrs(imp *c, const tf_node *n, const ir_node *x, const int64_t *k, ir_window3d *w)
{
    char pad[16], fmt[16];
    int64_t st[5] = {1, 1, 1, 1, 1}, dl[5] = {1, 1, 1, 1, 1};
    if (tf_attr_str(n, "data_format", fmt, sizeof fmt)[0] && strcmp(fmt, "NDHWC"))
        return tf_err(c, n, "unsupported data_format %s (only NDHWC)", fmt), false;
    if (tf_attr_ints(n, "strides", st, 5) != 5) return tf_err(c, n, "strides needs 5 entries"), false;
    tf_attr_ints(n, "dilations", dl, 5);
    tf_attr_str(n, "padding", pad, sizeof pad);
    if (strcmp(pad, "SAME") && strcmp(pad, "VALID")) return tf_err(c, n, "unsupported padding '%s'", pad), false;
    for (int i = 0; i < 3; i++) {
        int64_t in = x->type.dims[1 + i], s = st[1 + i], dd = dl[1 + i];
        if (s < 1 || dd < 1 || k[i] < 1) return tf_err(c, n, "bad window"), false;
        int64_t out = (in + s - 1) / s, total = !strcmp(pad, "SAME") ? (out - 1) * s + (k[i] - 1) * dd + 1 - in : 0;
        if (total < 0) total = 0;
        w->k[i] = k[i], w->st[i] = s, w->dl[i] = dd, w->lo[i] = total / 2, w->hi[i] = total - total / 2;
    }
    return true;
}

ir_node *imp_conv3d(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    ir_node *x = in[0], *f = in[1];
    if (x->type.rank != 5 || f->type.rank != 5 || f->type.dims[3] < 1 || x->type.dims[4] % f->type.dims[3])
        return tf_err(c, n, "needs an NDHWC input and a DHWIO filter");
    ir_window3d w;
    if (!window3d_attrs(c, n, x, f->type.dims, &w)) return NULL;
    return ir_conv3d(c->g, x, f, &w, (int)(x->type.dims[4] / f->type.dims[3]), n->name, c->d);
}

ir_node *imp_pool3d(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 1)) return NULL;
    int64_t ks[5];
    if (tf_attr_ints(n, "ksize", ks, 5) != 5 || ks[0] != 1 || ks[4] != 1) return tf_err(c, n, "ksize must be [1, d, h, w, 1]");
    ir_window3d w;
    if (in[0]->type.rank != 5) return tf_err(c, n, "needs an NDHWC input");
    if (!window3d_attrs(c, n, in[0], ks + 1, &w)) return NULL;
    return ir_pool3d(c->g, op, in[0], &w, n->name, c->d);
}

/* x / (1 + |x|) */
ir_node *imp_softsign(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 1)) return NULL;
    ir_node *d = tf_binary(c, n, KL_OP_ADD, tf_unary(c, n, KL_OP_ABS, in[0]), tf_scalar(c, in[0]->type.dtype, 1));
    return tf_binary(c, n, KL_OP_DIV, in[0], d);
}
