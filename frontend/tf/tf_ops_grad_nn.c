/* frontend/tf/tf_ops_grad_nn.c — the gradient ops of convolutions and
 * pools that TensorFlow writes into a CNN's training graph (docs/training.md,
 * "CNN gradient ops").  NHWC only, as the forward importers (tf_ops_nn.c).
 *
 * Every op lowers to existing IR ops, so it folds, fuses and reaches every
 * backend:
 *   Conv2DBackpropFilter   a CONV2D with the roles swapped: the input's
 *                          channels become the batch, its batch the
 *                          reduction channels, out_backprop the filter;
 *                          stride and dilation trade places
 *   DepthwiseConv2dNative  the same as a grouped CONV2D (one group per
 *     BackpropFilter       input channel)
 *   DepthwiseConv2dNative  a grouped CONV2D of out_backprop, dilated by the
 *     BackpropInput        stride (zeros between rows and columns), with the
 *                          flipped filter
 *   Conv2DBackpropInput    the same, ungrouped, at stride 1 (a GEMM); with a
 *                          stride, CONV2D_TRANSPOSE (tf_ops_nn.c)
 *   MaxPoolGrad            patches of the input (constant-index GATHER),
 *                          ARGMAX over each window (the first max, as TF's
 *                          CPU kernel), then per input element a sum over
 *                          the windows covering it of the gradient where
 *                          that window's argmax is this element
 *   AvgPoolGrad            per input element, the sum of grad / count over
 *                          the windows covering it (constant weights)
 *   ShapeN                 constant shapes
 */
#include <stdlib.h>
#include <string.h>

#include "tf_internal.h"

static ir_node *transpose(imp *c, const tf_node *n, ir_node *x, int rank, const int *perm)
{
    if (!x) return NULL;
    ir_attr a;
    memset(&a, 0, sizeof a);
    for (int i = 0; i < rank; i++) a.transpose.perm[i] = (int8_t)perm[i];
    return tf_op(c, n, KL_OP_TRANSPOSE, 1, &x, &a, NULL);
}

static ir_node *gather(imp *c, const tf_node *n, ir_node *params, ir_node *idx, int axis)
{
    if (!params || !idx) return NULL;
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.concat.axis = axis;
    return tf_op(c, n, KL_OP_GATHER, 2, (ir_node *[]){params, idx}, &a, NULL);
}

/* x[:, lo.. , lo.., :] with `cut_*` elements removed at each end of axes 1
 * and 2 (NHWC spatial); x itself when nothing is cut. */
static ir_node *crop_hw(imp *c, const tf_node *n, ir_node *x, int64_t cut_top, int64_t cut_bottom, int64_t cut_left,
                        int64_t cut_right)
{
    if (!x || (!cut_top && !cut_bottom && !cut_left && !cut_right)) return x;
    const int64_t *d = x->type.dims;
    int64_t begin[4] = {0, cut_top, cut_left, 0}, stride[4] = {1, 1, 1, 1};
    int64_t size[4] = {d[0], d[1] - cut_top - cut_bottom, d[2] - cut_left - cut_right, d[3]};
    if (size[1] <= 0 || size[2] <= 0) return tf_err(c, n, "no window reaches the input (padding larger than the window)");
    return tf_slice(c, n, x, begin, size, stride);
}

static bool same_float(imp *c, const tf_node *n, const ir_node *a, const ir_node *b)
{
    if (!kl_dtype_is_float(a->type.dtype) || a->type.dtype != b->type.dtype)
        return tf_err(c, n, "needs floating-point operands of one dtype"), false;
    return true;
}

/* Output extent of a window along one axis (-1 if the window does not fit). */
static int64_t out_extent(int64_t in, int k, int stride, int dilation, int lo, int hi)
{
    int64_t span = (int64_t)(k - 1) * dilation + 1, padded = in + lo + hi;
    return padded < span ? -1 : (padded - span) / stride + 1;
}

/* The gradient's [N, OH, OW, O] matches the forward op of attrs a on an
 * input of [N, H, W, *]. */
static bool grad_fits(imp *c, const tf_node *n, const ir_type *dy, int64_t N, int64_t H, int64_t W, int64_t O,
                      const ir_attr *a)
{
    const int64_t oh = out_extent(H, a->conv.kh, a->conv.stride_h, a->conv.dilation_h, a->conv.pad_top, a->conv.pad_bottom);
    const int64_t ow = out_extent(W, a->conv.kw, a->conv.stride_w, a->conv.dilation_w, a->conv.pad_left, a->conv.pad_right);
    if (dy->rank != 4 || dy->dims[0] != N || dy->dims[1] != oh || dy->dims[2] != ow || dy->dims[3] != O) {
        char b[64];
        tf_err(c, n, "the gradient is %s; the forward op gives [%lld,%lld,%lld,%lld]", ir_type_str(dy, b, sizeof b),
               (long long)N, (long long)oh, (long long)ow, (long long)O);
        return false;
    }
    return true;
}

/* TensorFlow's depthwise backprop kernels ignore `dilations` (they give
 * dilation 1's values, not the gradient; tf.nn.depthwise_conv2d with a rate
 * writes SpaceToBatchND instead): refused rather than matched or "fixed". */
static bool dilation_one(imp *c, const tf_node *n)
{
    int64_t dl[4] = {1, 1, 1, 1};
    int k = tf_attr_ints(n, "dilations", dl, 4);
    for (int i = 0; i < k && i < 4; i++)
        if (dl[i] != 1) return tf_err(c, n, "dilations other than 1 are not supported (TensorFlow's kernels ignore them)"), false;
    return true;
}

/* ---- convolution filter gradients ---------------------------------------- */

/* dW[kh,kw,c,o] = sum_{n,oh,ow} x[n, oh*s - pt + kh*d, ow*s - pl + kw*d, c] dy[n,oh,ow,o]:
 * a convolution over (oh, ow) taps with stride d and dilation s whose
 * output pixels are (kh, kw).  The bottom/right padding is what makes the
 * output exactly KH x KW (rows beyond it are never read: cropped). */
static ir_node *filter_conv(imp *c, const tf_node *n, ir_node *x, ir_node *f, int groups, int64_t KH, int64_t KW,
                            const ir_attr *fwd)
{
    const int64_t H = x->type.dims[1], W = x->type.dims[2], OH = f->type.dims[0], OW = f->type.dims[1];
    const int sh = fwd->conv.stride_h, sw = fwd->conv.stride_w, dh = fwd->conv.dilation_h, dw = fwd->conv.dilation_w;
    int64_t pb = (KH - 1) * dh + (OH - 1) * sh + 1 - H - fwd->conv.pad_top;
    int64_t pr = (KW - 1) * dw + (OW - 1) * sw + 1 - W - fwd->conv.pad_left;
    x = crop_hw(c, n, x, 0, pb < 0 ? -pb : 0, 0, pr < 0 ? -pr : 0);
    if (!x) return NULL;
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.conv.kh = (int)OH, a.conv.kw = (int)OW;
    a.conv.stride_h = dh, a.conv.stride_w = dw, a.conv.dilation_h = sh, a.conv.dilation_w = sw;
    a.conv.pad_top = fwd->conv.pad_top, a.conv.pad_left = fwd->conv.pad_left;
    a.conv.pad_bottom = pb > 0 ? (int)pb : 0, a.conv.pad_right = pr > 0 ? (int)pr : 0;
    a.conv.groups = groups;
    return tf_op(c, n, KL_OP_CONV2D, 2, (ir_node *[]){x, f}, &a, NULL);
}

/* Conv2DBackpropFilter(input, filter_sizes, out_backprop) and
 * DepthwiseConv2dNativeBackpropFilter (same operands). */
ir_node *imp_conv2d_backprop_filter(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 3)) return NULL;
    ir_node *x = in[0], *dy = in[2];
    int64_t fs[4];
    if (tf_read_ints(c, n, in[1], "filter_sizes", fs, 4) != 4) return tf_err(c, n, "filter_sizes must have 4 entries");
    if (x->type.rank != 4 || dy->type.rank != 4) return tf_err(c, n, "input and out_backprop must be rank 4");
    if (!same_float(c, n, x, dy)) return NULL;
    const int64_t N = x->type.dims[0], H = x->type.dims[1], W = x->type.dims[2], C = x->type.dims[3];
    for (int i = 0; i < 4; i++)
        if (fs[i] < 1 || fs[i] > KL_MAX_WINDOW) return tf_err(c, n, "filter_sizes out of range");
    bool depthwise = !strcmp(n->op, "DepthwiseConv2dNativeBackpropFilter");
    if (depthwise && !dilation_one(c, n)) return NULL;
    if (fs[2] != C) return tf_err(c, n, "filter_sizes[2] is %lld, the input has %lld channels (grouped convolutions are not supported)",
                                  (long long)fs[2], (long long)C);
    const int64_t O = depthwise ? C * fs[3] : fs[3];
    ir_attr fwd;
    if (!tf_window_attrs(c, n, H, W, fs[0], fs[1], &fwd) || !grad_fits(c, n, &dy->type, N, H, W, O, &fwd)) return NULL;
    /* out_backprop as the filter: [OH, OW, N, O] */
    ir_node *f = transpose(c, n, dy, 4, (int[]){1, 2, 0, 3});
    if (!depthwise) {
        /* x as [C, H, W, N] (channels are the batch); result [C, KH, KW, O] */
        ir_node *xt = transpose(c, n, x, 4, (int[]){3, 1, 2, 0});
        ir_node *r = xt && f ? filter_conv(c, n, xt, f, 1, fs[0], fs[1], &fwd) : NULL;
        return transpose(c, n, r, 4, (int[]){1, 2, 0, 3});
    }
    /* x as [1, H, W, C*N] (channel c*N + n), C groups of N input channels;
     * output channel c*M + m: result [1, KH, KW, C*M] */
    ir_node *xt = tf_reshape(c, n, transpose(c, n, x, 4, (int[]){1, 2, 3, 0}), 4, (int64_t[]){1, H, W, C * N});
    ir_node *r = xt && f ? filter_conv(c, n, xt, f, (int)C, fs[0], fs[1], &fwd) : NULL;
    return tf_reshape(c, n, r, 4, fs);
}

/* ---- input gradients ----------------------------------------------------- */

/* dx[n,h,w,c] = sum_{kh,kw,o} dy[n,oh,ow,o] W[kh,kw,c,o], h = oh*s - pt + kh*d
 * (depthwise: o = c*M + m, W[kh,kw,c,m]).  With dy dilated by the stride
 * (dyd[y = oh*s] = dy[oh], zeros between), dx is a stride-1 convolution of
 * dyd with the flipped filter as [KH,KW,O,C] (depthwise [KH,KW,M,C], C
 * groups of M), dilation d, top padding (KH-1)*d - pt. */
static ir_node *input_grad(imp *c, const tf_node *n, ir_node *w, ir_node *dy, const int64_t *size, const ir_attr *fwd,
                           bool depthwise)
{
    const int64_t N = size[0], H = size[1], W = size[2], O = dy->type.dims[3];
    const int64_t KH = w->type.dims[0], KW = w->type.dims[1];
    const int64_t OH = dy->type.dims[1], OW = dy->type.dims[2];
    const int sh = fwd->conv.stride_h, sw = fwd->conv.stride_w, dh = fwd->conv.dilation_h, dw = fwd->conv.dilation_w;
    ir_node *d = dy;
    if (sh > 1 || sw > 1) { /* [N,OH,1,OW,1,O] padded to [N,OH,sh,OW,sw,O]: zeros after each row and column */
        ir_attr pa;
        memset(&pa, 0, sizeof pa);
        pa.pad.hi[2] = sh - 1, pa.pad.hi[4] = sw - 1, pa.pad.mode = IR_PAD_CONSTANT;
        ir_node *d6 = tf_reshape(c, n, dy, 6, (int64_t[]){N, OH, 1, OW, 1, O});
        d6 = d6 ? tf_op(c, n, KL_OP_PAD, 1, &d6, &pa, NULL) : NULL;
        d = tf_reshape(c, n, d6, 4, (int64_t[]){N, OH * sh, OW * sw, O});
        if (!d) return NULL;
    }
    const int64_t HD = OH * sh, WD = OW * sw;
    int64_t pt = (KH - 1) * dh - fwd->conv.pad_top, pl = (KW - 1) * dw - fwd->conv.pad_left;
    int64_t pb = H - HD + fwd->conv.pad_top, pr = W - WD + fwd->conv.pad_left;
    d = crop_hw(c, n, d, pt < 0 ? -pt : 0, pb < 0 ? -pb : 0, pl < 0 ? -pl : 0, pr < 0 ? -pr : 0);
    /* the filter flipped in both spatial axes, its last two axes swapped */
    ir_attr ra;
    memset(&ra, 0, sizeof ra);
    ra.slice.begin[0] = KH - 1, ra.slice.begin[1] = KW - 1, ra.slice.stride[0] = ra.slice.stride[1] = -1;
    ra.slice.stride[2] = ra.slice.stride[3] = 1;
    ir_node *fl = tf_op(c, n, KL_OP_SLICE, 1, &w, &ra, &w->type);
    fl = transpose(c, n, fl, 4, (int[]){0, 1, 3, 2});
    if (!d || !fl) return NULL;
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.conv.kh = (int)KH, a.conv.kw = (int)KW, a.conv.stride_h = a.conv.stride_w = 1;
    a.conv.dilation_h = dh, a.conv.dilation_w = dw;
    a.conv.pad_top = pt > 0 ? (int)pt : 0, a.conv.pad_bottom = pb > 0 ? (int)pb : 0;
    a.conv.pad_left = pl > 0 ? (int)pl : 0, a.conv.pad_right = pr > 0 ? (int)pr : 0;
    a.conv.groups = depthwise ? (int)size[3] : 1;
    return tf_op(c, n, KL_OP_CONV2D, 2, (ir_node *[]){d, fl}, &a, NULL);
}

/* Conv2DBackpropInput(input_sizes, filter, out_backprop) and the depthwise
 * form: operands checked, then input_grad.  Conv2DBackpropInput with a
 * stride above 1 stays CONV2D_TRANSPOSE (tf_ops_nn.c): the dilated gradient
 * would be mostly zeros (s*s times the work), while at stride 1 the
 * convolution runs as a GEMM (the transposed conv is a plain loop nest). */
static ir_node *backprop_input(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op, bool depthwise)
{
    if (!tf_want_inputs(c, n, n_in, 3)) return NULL;
    int64_t size[4];
    if (tf_read_ints(c, n, in[0], "input_sizes", size, 4) != 4) return tf_err(c, n, "input_sizes must have 4 entries");
    ir_node *w = in[1], *dy = in[2];
    if (depthwise && !dilation_one(c, n)) return NULL;
    if (w->type.rank != 4 || dy->type.rank != 4) return tf_err(c, n, "filter and out_backprop must be rank 4");
    if (!same_float(c, n, w, dy)) return NULL;
    for (int i = 0; i < 4; i++)
        if (size[i] < 1 || size[i] > KL_MAX_WINDOW) return tf_err(c, n, "input_sizes out of range");
    const int64_t N = size[0], H = size[1], W = size[2], C = size[3];
    const int64_t KH = w->type.dims[0], KW = w->type.dims[1], O = depthwise ? C * w->type.dims[3] : w->type.dims[3];
    if (w->type.dims[2] != C)
        return tf_err(c, n, "the filter has %lld input channels, input_sizes %lld (grouped convolutions are not supported)",
                      (long long)w->type.dims[2], (long long)C);
    ir_attr fwd;
    if (!tf_window_attrs(c, n, H, W, KH, KW, &fwd) || !grad_fits(c, n, &dy->type, N, H, W, O, &fwd)) return NULL;
    if (!depthwise && (fwd.conv.stride_h > 1 || fwd.conv.stride_w > 1)) return imp_conv2d_transpose(c, n, in, n_in, op);
    return input_grad(c, n, w, dy, size, &fwd, depthwise);
}

ir_node *imp_conv2d_backprop_input(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    return backprop_input(c, n, in, n_in, op, false);
}

ir_node *imp_depthwise_backprop_input(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    return backprop_input(c, n, in, n_in, op, true);
}

/* ---- pool gradients ------------------------------------------------------ */

/* The windows of a pool over H x W: for output p, its real (unpadded) taps
 * in row-major order, as flat input indices h*W + w; a window's list is
 * filled up to K with its first tap (never a strict max after it).  And per
 * input element q the outputs covering it: cover[q*R + r] = p, slot[] = the
 * tap's position in p's list (-1 where q has fewer than R windows). */
typedef struct windows {
    int64_t P, K, R, HW;
    int32_t *tap;   /* [P*K] */
    int32_t *count; /* [P]: real taps */
    int32_t *cover; /* [HW*R] */
    int32_t *slot;  /* [HW*R] */
} windows;

static void windows_free(windows *w)
{
    free(w->tap), free(w->count), free(w->cover), free(w->slot);
}

static bool windows_make(imp *c, const tf_node *n, int64_t H, int64_t W, int64_t OH, int64_t OW, const ir_attr *a, windows *w)
{
    memset(w, 0, sizeof *w);
    const int kh = a->conv.kh, kw = a->conv.kw, sh = a->conv.stride_h, sw = a->conv.stride_w;
    w->P = OH * OW, w->K = (int64_t)kh * kw, w->HW = H * W;
    /* windows covering one element: at most ceil(k / s) per axis */
    w->R = ((kh + sh - 1) / sh) * (int64_t)((kw + sw - 1) / sw);
    if (w->P * w->K > (1 << 26) || w->HW * w->R > (1 << 26)) return tf_err(c, n, "pool too large for its gradient"), false;
    /* kl_calloc reports a failure into c->d ("cannot allocate ...") */
    w->tap = kl_calloc(c->d, (size_t)(w->P * w->K + 1), sizeof *w->tap, "a pool gradient's windows");
    w->count = w->tap ? kl_calloc(c->d, (size_t)(w->P + 1), sizeof *w->count, "a pool gradient's windows") : NULL;
    w->cover = w->count ? kl_calloc(c->d, (size_t)(w->HW * w->R + 1), sizeof *w->cover, "a pool gradient's windows") : NULL;
    w->slot = w->cover ? kl_calloc(c->d, (size_t)(w->HW * w->R + 1), sizeof *w->slot, "a pool gradient's windows") : NULL;
    int32_t *used = w->slot ? kl_calloc(c->d, (size_t)w->HW + 1, sizeof *used, "a pool gradient's windows") : NULL;
    if (!used) {
        windows_free(w);
        return tf_err(c, n, "out of memory"), false;
    }
    for (int64_t i = 0; i < w->HW * w->R; i++) w->cover[i] = 0, w->slot[i] = -1;
    for (int64_t oy = 0; oy < OH; oy++)
        for (int64_t ox = 0; ox < OW; ox++) {
            int64_t p = oy * OW + ox, k = 0;
            for (int ky = 0; ky < kh; ky++)
                for (int kx = 0; kx < kw; kx++) {
                    int64_t iy = oy * sh - a->conv.pad_top + ky, ix = ox * sw - a->conv.pad_left + kx;
                    if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                    int64_t q = iy * W + ix;
                    w->tap[p * w->K + k] = (int32_t)q;
                    if (used[q] < w->R) { /* outputs reach q in increasing p: TF's order of accumulation */
                        w->cover[q * w->R + used[q]] = (int32_t)p, w->slot[q * w->R + used[q]] = (int32_t)k;
                        used[q]++;
                    }
                    k++;
                }
            w->count[p] = (int32_t)k;
            for (int64_t j = k; j < w->K; j++) w->tap[p * w->K + j] = k ? w->tap[p * w->K] : 0;
        }
    free(used);
    return true;
}

static ir_node *i32_const(imp *c, int rank, const int64_t *dims, const int32_t *v)
{
    return ir_const(c->g, ir_type_make(KL_I32, rank, dims), v, NULL);
}

/* Pool attributes and the checks both pool gradients share: ksize and
 * strides [1, h, w, 1], the gradient the forward pool's shape. */
static bool pool_attrs(imp *c, const tf_node *n, const int64_t *x, const ir_type *dy, ir_attr *a)
{
    int64_t k[4];
    if (tf_attr_ints(n, "ksize", k, 4) != 4 || k[0] != 1 || k[3] != 1 || k[1] < 1 || k[2] < 1)
        return tf_err(c, n, "ksize must be [1, h, w, 1]"), false;
    if (!tf_window_attrs(c, n, x[1], x[2], k[1], k[2], a)) return false;
    if (a->conv.dilation_h != 1 || a->conv.dilation_w != 1) return tf_err(c, n, "dilated pools are not supported"), false;
    return grad_fits(c, n, dy, x[0], x[1], x[2], x[3], a);
}

/* Per input element q: sum over its covering windows r of v[n, cover[q,r], c]
 * where keep (bool [N, HW, R, C] or NULL: all) holds, times weight [HW, R, 1]
 * (NULL: 1); v is [N, P, C].  Result [N, H, W, C]. */
static ir_node *sum_covering(imp *c, const tf_node *n, const windows *w, ir_node *v, ir_node *keep, ir_node *weight,
                             const int64_t *x)
{
    const int64_t N = x[0], C = x[3];
    ir_node *cov = i32_const(c, 1, (int64_t[]){w->HW * w->R}, w->cover);
    ir_node *g = tf_reshape(c, n, gather(c, n, v, cov, 1), 4, (int64_t[]){N, w->HW, w->R, C});
    if (keep && g) g = tf_op(c, n, KL_OP_SELECT, 3, (ir_node *[]){keep, g, tf_scalar(c, g->type.dtype, 0)}, NULL, NULL);
    if (weight) g = tf_binary(c, n, KL_OP_MUL, g, weight);
    if (!g) return NULL;
    ir_node *s = g;
    if (w->R > 1) {
        ir_attr a;
        memset(&a, 0, sizeof a);
        a.reduce.axes = 1u << 2;
        s = tf_op(c, n, KL_OP_REDUCE_SUM, 1, &g, &a, NULL);
    }
    return tf_reshape(c, n, s, 4, x);
}

/* MaxPoolGrad(orig_input, orig_output, grad): TF's CPU kernel recomputes the
 * argmax (the first maximum of each window in row-major order, padding never
 * taking part) and adds each window's gradient at its argmax. */
ir_node *imp_max_pool_grad(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 3)) return NULL;
    ir_node *x = in[0], *dy = in[2];
    if (x->type.rank != 4) return tf_err(c, n, "orig_input must be rank 4");
    if (!same_float(c, n, x, dy)) return NULL;
    const int64_t *xd = x->type.dims, N = xd[0], H = xd[1], W = xd[2], C = xd[3];
    ir_attr a;
    if (!pool_attrs(c, n, xd, &dy->type, &a)) return NULL;
    windows w;
    if (!windows_make(c, n, H, W, dy->type.dims[1], dy->type.dims[2], &a, &w)) return NULL;
    /* patches [N, P, K, C]; argmax over K: the window's winning tap */
    ir_node *taps = i32_const(c, 1, (int64_t[]){w.P * w.K}, w.tap);
    ir_node *xs = tf_reshape(c, n, x, 3, (int64_t[]){N, H * W, C});
    ir_node *patches = tf_reshape(c, n, gather(c, n, xs, taps, 1), 4, (int64_t[]){N, w.P, w.K, C});
    ir_node *win = NULL;
    if (patches) {
        ir_attr r;
        memset(&r, 0, sizeof r);
        r.reduce.axes = 1u << 2;
        ir_type t = {.dtype = KL_I32};
        win = tf_op(c, n, KL_OP_ARGMAX, 1, &patches, &r, &t); /* [N, P, C] */
    }
    /* element q receives window p's gradient where p's argmax is q's slot */
    ir_node *won = win ? gather(c, n, win, i32_const(c, 1, (int64_t[]){w.HW * w.R}, w.cover), 1) : NULL;
    won = tf_reshape(c, n, won, 4, (int64_t[]){N, w.HW, w.R, C});
    ir_node *slot = i32_const(c, 3, (int64_t[]){w.HW, w.R, 1}, w.slot);
    ir_node *keep = tf_binary(c, n, KL_OP_EQUAL, won, slot);
    ir_node *g = tf_reshape(c, n, dy, 3, (int64_t[]){N, w.P, C});
    ir_node *r = keep && g ? sum_covering(c, n, &w, g, keep, NULL, xd) : NULL;
    windows_free(&w);
    return r;
}

/* AvgPoolGrad(orig_input_shape, grad): each window adds grad * (1 / count)
 * to its real elements (TF's CPU kernel multiplies by 1/count). */
ir_node *imp_avg_pool_grad(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    int64_t xd[4];
    if (tf_read_ints(c, n, in[0], "orig_input_shape", xd, 4) != 4) return tf_err(c, n, "orig_input_shape must have 4 entries");
    for (int i = 0; i < 4; i++)
        if (xd[i] < 1 || xd[i] > KL_MAX_WINDOW) return tf_err(c, n, "orig_input_shape out of range");
    ir_node *dy = in[1];
    if (!kl_dtype_is_float(dy->type.dtype)) return tf_err(c, n, "needs a floating-point gradient");
    ir_attr a;
    if (!pool_attrs(c, n, xd, &dy->type, &a)) return NULL;
    windows w;
    if (!windows_make(c, n, xd[1], xd[2], dy->type.dims[1], dy->type.dims[2], &a, &w)) return NULL;
    float *wt = kl_calloc(c->d, (size_t)(w.HW * w.R + 1), sizeof *wt, "an average pool gradient's weights");
    if (!wt) return windows_free(&w), tf_err(c, n, "out of memory");
    for (int64_t i = 0; i < w.HW * w.R; i++) wt[i] = w.slot[i] < 0 ? 0.0f : (float)(1.0 / w.count[w.cover[i]]);
    ir_node *weight = tf_cast(c, n, ir_const(c->g, ir_type_make(KL_F32, 3, (int64_t[]){w.HW, w.R, 1}), wt, NULL), dy->type.dtype);
    free(wt);
    ir_node *g = tf_reshape(c, n, dy, 3, (int64_t[]){xd[0], w.P, xd[3]});
    ir_node *r = g && weight ? sum_covering(c, n, &w, g, NULL, weight, xd) : NULL;
    windows_free(&w);
    return r;
}

/* ---- ShapeN ---------------------------------------------------------------- */

ir_node *imp_shape_n(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (n_in < 1 || n_in > (int)(sizeof c->outs / sizeof *c->outs)) return tf_err(c, n, "needs 1 to 256 inputs");
    kl_dtype t = tf_attr_dtype(n, "out_type", KL_I32);
    if (t != KL_I32 && t != KL_I64) return tf_err(c, n, "out_type must be int32 or int64");
    for (int i = 0; i < n_in; i++) {
        int64_t rank = in[i]->type.rank;
        ir_node *k = ir_const(c->g, ir_type_make(KL_I64, 1, &rank), in[i]->type.dims, NULL);
        if (!(c->outs[i] = tf_cast(c, n, k, t))) return NULL;
    }
    c->n_outs = n_in;
    return c->outs[0];
}
