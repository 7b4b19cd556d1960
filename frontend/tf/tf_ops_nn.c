/* frontend/tf/tf_ops_nn.c — importers of convolutions, pools, batch norm
 * and Einsum.  NHWC only (TF's CPU kernels are NHWC too).
 */
#include <stdlib.h>
#include <string.h>

#include "tf_internal.h"

/* Pads (before, after) of one spatial axis for TF's SAME / VALID. */
static void same_pads(int64_t in, int64_t k, int64_t stride, int64_t dilation, bool same, int *lo, int *hi)
{
    if (!same) {
        *lo = *hi = 0;
        return;
    }
    int64_t out = (in + stride - 1) / stride, span = (k - 1) * dilation + 1;
    int64_t total = (out - 1) * stride + span - in;
    if (total < 0) total = 0;
    *lo = (int)(total / 2);
    *hi = (int)(total - total / 2);
}

/* strides, dilations, padding and data_format of a conv or pool node. */
bool tf_window_attrs(imp *c, const tf_node *n, int64_t in_h, int64_t in_w, int64_t kh, int64_t kw, ir_attr *a)
{
    char pad[16], fmt[16];
    int64_t st[4] = {1, 1, 1, 1}, dl[4] = {1, 1, 1, 1}, ex[8] = {0};
    memset(a, 0, sizeof *a);
    if (tf_attr_str(n, "data_format", fmt, sizeof fmt)[0] && strcmp(fmt, "NHWC"))
        return tf_err(c, n, "unsupported data_format %s (only NHWC)", fmt), false;
    if (tf_attr_ints(n, "strides", st, 4) != 4 || st[0] != 1 || st[3] != 1 || st[1] < 1 || st[2] < 1)
        return tf_err(c, n, "strides must be [1, h, w, 1]"), false;
    int nd = tf_attr_ints(n, "dilations", dl, 4);
    if (nd >= 0 && (nd != 4 || dl[0] != 1 || dl[3] != 1 || dl[1] < 1 || dl[2] < 1))
        return tf_err(c, n, "dilations must be [1, h, w, 1]"), false;
    /* Beyond this no window makes sense, and int arithmetic stays exact. */
    const int64_t big = 1 << 20;
    if (st[1] > big || st[2] > big || dl[1] > big || dl[2] > big || kh > big || kw > big)
        return tf_err(c, n, "window, strides or dilations are too large"), false;
    tf_attr_str(n, "padding", pad, sizeof pad);
    a->conv.kh = (int)kh, a->conv.kw = (int)kw;
    a->conv.stride_h = (int)st[1], a->conv.stride_w = (int)st[2];
    a->conv.dilation_h = (int)dl[1], a->conv.dilation_w = (int)dl[2];
    a->conv.groups = 1;
    if (!strcmp(pad, "EXPLICIT")) {
        if (tf_attr_ints(n, "explicit_paddings", ex, 8) != 8) return tf_err(c, n, "explicit_paddings needs 8 entries"), false;
        for (int i = 2; i < 6; i++)
            if (ex[i] < 0 || ex[i] > big) return tf_err(c, n, "explicit_paddings out of range"), false;
        a->conv.pad_top = (int)ex[2], a->conv.pad_bottom = (int)ex[3], a->conv.pad_left = (int)ex[4], a->conv.pad_right = (int)ex[5];
        return true;
    }
    if (strcmp(pad, "SAME") && strcmp(pad, "VALID")) return tf_err(c, n, "unsupported padding '%s'", pad), false;
    bool same = !strcmp(pad, "SAME");
    same_pads(in_h, kh, st[1], dl[1], same, &a->conv.pad_top, &a->conv.pad_bottom);
    same_pads(in_w, kw, st[2], dl[2], same, &a->conv.pad_left, &a->conv.pad_right);
    return true;
}

ir_node *imp_conv2d(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    const ir_type *x = &in[0]->type, *w = &in[1]->type;
    if (x->rank != 4 || w->rank != 4) return tf_err(c, n, "input and filter must be rank 4");
    ir_attr a;
    if (!tf_window_attrs(c, n, x->dims[1], x->dims[2], w->dims[0], w->dims[1], &a)) return NULL;
    ir_node *filter = in[1];
    if (!strcmp(n->op, "DepthwiseConv2dNative")) {
        /* [H, W, C, M] is a grouped conv with C groups of one input channel:
         * output channel c*M + m, filter [H, W, 1, C*M]. */
        int64_t dims[4] = {w->dims[0], w->dims[1], 1, w->dims[2] * w->dims[3]};
        filter = tf_reshape(c, n, filter, 4, dims);
        a.conv.groups = (int)w->dims[2];
    } else if (w->dims[2] > 0 && x->dims[3] % w->dims[2] == 0) {
        a.conv.groups = (int)(x->dims[3] / w->dims[2]); /* grouped convs carry it in the shapes */
    }
    return filter ? tf_op(c, n, KL_OP_CONV2D, 2, (ir_node *[]){in[0], filter}, &a, NULL) : NULL;
}

ir_node *imp_conv2d_transpose(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 3)) return NULL;
    int64_t size[4];
    if (tf_read_ints(c, n, in[0], "input_sizes", size, 4) != 4) return tf_err(c, n, "input_sizes must have 4 entries");
    const ir_type *w = &in[1]->type;
    if (w->rank != 4) return tf_err(c, n, "filter must be rank 4");
    if (w->dims[2] != size[3])
        return tf_err(c, n, "the filter has %lld input channels, input_sizes %lld (grouped convolutions are not supported)",
                      (long long)w->dims[2], (long long)size[3]);
    if (in[2]->type.rank != 4 || in[2]->type.dims[3] != w->dims[3])
        return tf_err(c, n, "out_backprop must be rank 4 with the filter's %lld output channels", (long long)w->dims[3]);
    ir_attr a;
    if (!tf_window_attrs(c, n, size[1], size[2], w->dims[0], w->dims[1], &a)) return NULL;
    ir_type t = ir_type_make(in[2]->type.dtype, 4, size);
    return tf_op(c, n, KL_OP_CONV2D_TRANSPOSE, 2, (ir_node *[]){in[2], in[1]}, &a, &t);
}

ir_node *imp_pool(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 1)) return NULL;
    int64_t k[4];
    if (tf_attr_ints(n, "ksize", k, 4) != 4 || k[0] != 1 || k[3] != 1) return tf_err(c, n, "ksize must be [1, h, w, 1]");
    const ir_type *x = &in[0]->type;
    if (x->rank != 4) return tf_err(c, n, "input must be rank 4");
    ir_attr a;
    if (!tf_window_attrs(c, n, x->dims[1], x->dims[2], k[1], k[2], &a)) return NULL;
    return tf_op(c, n, op, 1, in, &a, NULL);
}

/* Inference batch norm: y = x * s + (offset - mean * s), s = scale / sqrt(var + eps).
 * With constant statistics the folding builders make s and the shift constants. */
ir_node *imp_batch_norm(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 5)) return NULL;
    if (tf_attr_bool(n, "is_training", true)) return tf_err(c, n, "training mode (is_training=true) is not supported");
    char fmt[16];
    if (tf_attr_str(n, "data_format", fmt, sizeof fmt)[0] && strcmp(fmt, "NHWC"))
        return tf_err(c, n, "unsupported data_format %s (only NHWC)", fmt);
    kl_dtype pt = in[1]->type.dtype;
    ir_node *eps = tf_scalar(c, pt, tf_attr_float(n, "epsilon", 0.0001f));
    ir_node *s = tf_binary(c, n, KL_OP_MUL, in[1], tf_unary(c, n, KL_OP_RSQRT, tf_binary(c, n, KL_OP_ADD, in[4], eps)));
    ir_node *shift = tf_binary(c, n, KL_OP_SUB, in[2], tf_binary(c, n, KL_OP_MUL, in[3], s));
    s = tf_cast(c, n, s, in[0]->type.dtype);
    shift = tf_cast(c, n, shift, in[0]->type.dtype);
    ir_node *y = tf_binary(c, n, KL_OP_ADD, tf_binary(c, n, KL_OP_MUL, in[0], s), shift);
    if (!y) return NULL;
    /* outputs 1..5 (batch statistics) exist only for training graphs */
    c->outs[0] = y;
    for (int i = 1; i < 6; i++) c->outs[i] = i < 3 ? in[2 + i] : in[3];
    c->n_outs = 6;
    return y;
}

/* ---- Einsum ------------------------------------------------------------- */

/* Transposes, reductions and batched matmuls (ir/einsum.c, shared with ONNX). */
ir_node *imp_einsum(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    char eq[128];
    return ir_einsum(c->g, tf_attr_str(n, "equation", eq, sizeof eq), in, n_in, n->name, c->d);
}
