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
static bool window_attrs(imp *c, const tf_node *n, int64_t in_h, int64_t in_w, int64_t kh, int64_t kw, ir_attr *a)
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
    if (!window_attrs(c, n, x->dims[1], x->dims[2], w->dims[0], w->dims[1], &a)) return NULL;
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
    ir_attr a;
    if (!window_attrs(c, n, size[1], size[2], w->dims[0], w->dims[1], &a)) return NULL;
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
    if (!window_attrs(c, n, x->dims[1], x->dims[2], k[1], k[2], &a)) return NULL;
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

/* Two-operand contractions become transpose + reshape + batched matmul:
 * letters in both inputs and the output are batch, in both inputs only are
 * contracted, in one input and the output are free.  One operand: a
 * transpose, or sums over dropped letters. */
typedef struct ein {
    char a[IR_MAX_RANK + 1], b[IR_MAX_RANK + 1], o[IR_MAX_RANK + 1];
    int na, nb, no, n_ops;
} ein;

static bool parse_equation(const char *eq, ein *e)
{
    memset(e, 0, sizeof *e);
    const char *arrow = strstr(eq, "->");
    if (!arrow || strchr(eq, '.')) return false;
    const char *comma = memchr(eq, ',', (size_t)(arrow - eq));
    e->n_ops = comma ? 2 : 1;
    for (const char *p = eq; p < (comma ? comma : arrow); p++)
        if (*p != ' ' && e->na < IR_MAX_RANK) e->a[e->na++] = *p;
    for (const char *p = comma ? comma + 1 : arrow; comma && p < arrow; p++)
        if (*p != ' ' && e->nb < IR_MAX_RANK) e->b[e->nb++] = *p;
    for (const char *p = arrow + 2; *p; p++)
        if (*p != ' ' && e->no < IR_MAX_RANK) e->o[e->no++] = *p;
    return true;
}

static int find(const char *s, int n, char ch)
{
    for (int i = 0; i < n; i++)
        if (s[i] == ch) return i;
    return -1;
}

static ir_node *transpose_to(imp *c, const tf_node *n, ir_node *x, const char *have, int nh, const char *want)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    bool id = true;
    for (int i = 0; i < nh; i++) {
        a.transpose.perm[i] = (int8_t)find(have, nh, want[i]);
        id &= a.transpose.perm[i] == i;
    }
    return id ? x : tf_op(c, n, KL_OP_TRANSPOSE, 1, &x, &a, NULL);
}

static int64_t dim_of(const ir_node *x, const char *labels, int nl, char ch)
{
    int i = find(labels, nl, ch);
    return i < 0 ? 1 : x->type.dims[i];
}

ir_node *imp_einsum(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    char eq[128];
    ein e;
    if (!parse_equation(tf_attr_str(n, "equation", eq, sizeof eq), &e) || e.n_ops != n_in || e.na != in[0]->type.rank ||
        (n_in == 2 && e.nb != in[1]->type.rank))
        return tf_err(c, n, "unsupported equation '%s' (ellipses and repeated letters are not supported)", eq);
    if (n_in == 1) { /* sum letters missing from the output, then permute */
        ir_attr r;
        memset(&r, 0, sizeof r);
        char kept[IR_MAX_RANK + 1];
        int nk = 0;
        for (int i = 0; i < e.na; i++) {
            if (find(e.o, e.no, e.a[i]) < 0) r.reduce.axes |= 1u << i;
            else kept[nk++] = e.a[i];
        }
        ir_node *x = r.reduce.axes ? tf_op(c, n, KL_OP_REDUCE_SUM, 1, in, &r, NULL) : in[0];
        return nk == e.no && x ? transpose_to(c, n, x, kept, nk, e.o) : tf_err(c, n, "unsupported equation '%s'", eq);
    }
    char batch[IR_MAX_RANK], con[IR_MAX_RANK], fa[IR_MAX_RANK], fb[IR_MAX_RANK];
    int nbt = 0, nc = 0, nfa = 0, nfb = 0;
    for (int i = 0; i < e.na; i++) {
        bool inb = find(e.b, e.nb, e.a[i]) >= 0, ino = find(e.o, e.no, e.a[i]) >= 0;
        if (inb && ino) batch[nbt++] = e.a[i];
        else if (inb) con[nc++] = e.a[i];
        else if (ino) fa[nfa++] = e.a[i];
        else return tf_err(c, n, "equation '%s': letter '%c' is summed in one operand only (unsupported)", eq, e.a[i]);
    }
    for (int i = 0; i < e.nb; i++) {
        bool ina = find(e.a, e.na, e.b[i]) >= 0, ino = find(e.o, e.no, e.b[i]) >= 0;
        if (!ina && ino) fb[nfb++] = e.b[i];
        else if (!ina) return tf_err(c, n, "equation '%s': letter '%c' is summed in one operand only (unsupported)", eq, e.b[i]);
    }
    /* A as [batch..., M, K], B as [batch..., K, N] */
    char wa[IR_MAX_RANK * 2], wb[IR_MAX_RANK * 2], res[IR_MAX_RANK * 2];
    int64_t M = 1, N = 1, K = 1, dims[IR_MAX_RANK + 2], rdims[IR_MAX_RANK * 2];
    int k = 0;
    for (int i = 0; i < nbt; i++) wa[k++] = batch[i];
    for (int i = 0; i < nfa; i++) wa[k++] = fa[i], M *= dim_of(in[0], e.a, e.na, fa[i]);
    for (int i = 0; i < nc; i++) wa[k++] = con[i], K *= dim_of(in[0], e.a, e.na, con[i]);
    k = 0;
    for (int i = 0; i < nbt; i++) wb[k++] = batch[i];
    for (int i = 0; i < nc; i++) wb[k++] = con[i];
    for (int i = 0; i < nfb; i++) wb[k++] = fb[i], N *= dim_of(in[1], e.b, e.nb, fb[i]);
    if (nbt + 2 > IR_MAX_RANK) return tf_err(c, n, "too many batch letters");
    for (int i = 0; i < nbt; i++) dims[i] = dim_of(in[0], e.a, e.na, batch[i]);
    ir_node *a = transpose_to(c, n, in[0], e.a, e.na, wa), *b = transpose_to(c, n, in[1], e.b, e.nb, wb);
    dims[nbt] = M, dims[nbt + 1] = K;
    a = tf_reshape(c, n, a, nbt + 2, dims);
    dims[nbt] = K, dims[nbt + 1] = N;
    b = tf_reshape(c, n, b, nbt + 2, dims);
    if (!a || !b) return NULL;
    ir_node *mm = tf_op(c, n, KL_OP_MATMUL, 2, (ir_node *[]){a, b}, NULL, NULL);
    k = 0;
    for (int i = 0; i < nbt; i++) res[k] = batch[i], rdims[k++] = dims[i];
    for (int i = 0; i < nfa; i++) res[k] = fa[i], rdims[k++] = dim_of(in[0], e.a, e.na, fa[i]);
    for (int i = 0; i < nfb; i++) res[k] = fb[i], rdims[k++] = dim_of(in[1], e.b, e.nb, fb[i]);
    if (k != e.no || k > IR_MAX_RANK) return tf_err(c, n, "unsupported equation '%s'", eq);
    mm = tf_reshape(c, n, mm, k, rdims);
    return mm ? transpose_to(c, n, mm, res, k, e.o) : NULL;
}
