/* ir/window3d.c — 3-D convolution and pooling (NDHWC) as compositions of
 * the 2-D ones, shared by the TensorFlow (Conv3D, MaxPool3D, AvgPool3D) and
 * ONNX (Conv, MaxPool, AveragePool on NCDHW) importers.
 *
 * The depth axis of the window is unrolled (kernel depth is small: 1 to 5
 * in real models): each depth tap is a strided slice of the input along D
 * whose output depths fold into the batch, and the taps are summed (conv),
 * maxed (max pool), or summed and divided by the count of real depths in
 * each window (average pool: the 2-D pool already averages over the real
 * elements of its H x W window, and that count is the same for every tap).
 * Padding of D is a real pad (zeros, or -inf for max); H and W padding stay
 * the 2-D op's, which pools ignore.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct ctx {
    ir_graph *g;
    const char *name;
    kl_diag *d;
} ctx;

static ir_node *op1(ctx *c, kl_op op, ir_node *x, const ir_attr *a, const ir_type *t)
{
    return x ? ir_node_folded(c->g, op, 1, &x, a, t, c->name, c->d) : NULL;
}

static ir_node *op2(ctx *c, kl_op op, ir_node *x, ir_node *y, const ir_attr *a)
{
    return x && y ? ir_node_folded(c->g, op, 2, (ir_node *[]){x, y}, a, NULL, c->name, c->d) : NULL;
}

static ir_node *reshape(ctx *c, ir_node *x, int rank, const int64_t *dims)
{
    if (!x) return NULL;
    ir_type t = ir_type_make(x->type.dtype, rank, dims);
    return op1(c, KL_OP_RESHAPE, x, NULL, &t);
}

static ir_node *slice_axis(ctx *c, ir_node *x, int axis, int64_t begin, int64_t size, int64_t step)
{
    if (!x) return NULL;
    ir_attr a;
    memset(&a, 0, sizeof a);
    ir_type t = x->type;
    for (int i = 0; i < t.rank; i++) a.slice.stride[i] = 1;
    a.slice.begin[axis] = size ? begin : 0, a.slice.stride[axis] = step, t.dims[axis] = size;
    return op1(c, KL_OP_SLICE, x, &a, &t);
}

static ir_node *pad_depth(ctx *c, ir_node *x, int64_t lo, int64_t hi, double v)
{
    if (!x || (!lo && !hi)) return x;
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.pad.lo[1] = lo, a.pad.hi[1] = hi, a.pad.value = v;
    return op1(c, KL_OP_PAD, x, &a, NULL);
}

static ir_attr hw_attr(const ir_window3d *w, int groups)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.conv.kh = (int)w->k[1], a.conv.kw = (int)w->k[2], a.conv.groups = groups;
    a.conv.stride_h = (int)w->st[1], a.conv.stride_w = (int)w->st[2];
    a.conv.dilation_h = (int)w->dl[1], a.conv.dilation_w = (int)w->dl[2];
    a.conv.pad_top = (int)w->lo[1], a.conv.pad_bottom = (int)w->hi[1];
    a.conv.pad_left = (int)w->lo[2], a.conv.pad_right = (int)w->hi[2];
    return a;
}

static bool fail(ctx *c, const char *what)
{
    kl_diag_error(c->d, "%s: node '%s' (3-D window): %s", c->g->source, c->name ? c->name : "", what);
    return false;
}

/* Output depths after padding, or 0 with an error. */
static int64_t depth_out(ctx *c, const ir_node *xp, const ir_window3d *w)
{
    int64_t od = (xp->type.dims[1] - ((w->k[0] - 1) * w->dl[0] + 1)) / w->st[0] + 1;
    if (od < 1 || w->st[0] < 1 || w->dl[0] < 1) return fail(c, "the window is larger than the padded input"), 0;
    return od;
}

ir_node *ir_conv3d(ir_graph *g, ir_node *x, ir_node *w, const ir_window3d *win, int groups, const char *name, kl_diag *d)
{
    ctx c = {g, name, d};
    if (!x || !w) return NULL;
    if (x->type.rank != 5 || w->type.rank != 5) return fail(&c, "needs NDHWC input and DHWIO filter"), NULL;
    ir_window3d wn = *win;
    for (int i = 0; i < 3; i++) wn.k[i] = w->type.dims[i];
    const int64_t *xd = x->type.dims, *wd = w->type.dims;
    ir_node *xp = pad_depth(&c, x, wn.lo[0], wn.hi[0], 0);
    int64_t od = xp ? depth_out(&c, xp, &wn) : 0;
    if (!od) return NULL;
    ir_attr a = hw_attr(&wn, groups);
    ir_node *acc = NULL;
    for (int64_t kd = 0; kd < wd[0]; kd++) {
        ir_node *s = reshape(&c, slice_axis(&c, xp, 1, kd * wn.dl[0], od, wn.st[0]), 4, (int64_t[]){xd[0] * od, xd[2], xd[3], xd[4]});
        ir_node *wk = reshape(&c, slice_axis(&c, w, 0, kd, 1, 1), 4, (int64_t[]){wd[1], wd[2], wd[3], wd[4]});
        ir_node *y = op2(&c, KL_OP_CONV2D, s, wk, &a);
        acc = acc ? op2(&c, KL_OP_ADD, acc, y, NULL) : y;
        if (!acc) return NULL;
    }
    return reshape(&c, acc, 5, (int64_t[]){xd[0], od, acc->type.dims[1], acc->type.dims[2], wd[4]});
}

/* Per output depth, how many taps of the window fall on real depths. */
static ir_node *depth_counts(ctx *c, const ir_window3d *w, int64_t d, int64_t od, kl_dtype t)
{
    double *cnt = malloc(sizeof *cnt * (size_t)od);
    if (!cnt) return fail(c, "out of memory"), NULL;
    for (int64_t o = 0; o < od; o++) {
        cnt[o] = 0;
        for (int64_t k = 0; k < w->k[0]; k++) {
            int64_t i = o * w->st[0] + k * w->dl[0] - w->lo[0];
            cnt[o] += i >= 0 && i < d;
        }
    }
    ir_node *k = ir_const(c->g, ir_type_make(KL_F64, 5, (int64_t[]){1, od, 1, 1, 1}), cnt, NULL);
    free(cnt);
    ir_type ty = k->type;
    ty.dtype = t;
    return op1(c, KL_OP_CAST, k, NULL, &ty);
}

ir_node *ir_pool3d(ir_graph *g, kl_op op, ir_node *x, const ir_window3d *wn, const char *name, kl_diag *d)
{
    ctx c = {g, name, d};
    KL_ASSERT(op == KL_OP_MAX_POOL || op == KL_OP_AVG_POOL);
    if (!x) return NULL;
    if (x->type.rank != 5) return fail(&c, "needs an NDHWC input"), NULL;
    bool avg = op == KL_OP_AVG_POOL;
    if (avg && (wn->dl[0] != 1 || wn->dl[1] != 1 || wn->dl[2] != 1)) return fail(&c, "dilated average pools are not supported"), NULL;
    int64_t nb = x->type.dims[0], depth = x->type.dims[1], ch = x->type.dims[4];
    ir_node *xp = pad_depth(&c, x, wn->lo[0], wn->hi[0], avg ? 0 : -INFINITY);
    int64_t od = xp ? depth_out(&c, xp, wn) : 0;
    if (!od) return NULL;
    ir_attr a = hw_attr(wn, 1);
    ir_node *acc = NULL;
    for (int64_t kd = 0; kd < wn->k[0]; kd++) {
        ir_node *s = reshape(&c, slice_axis(&c, xp, 1, kd * wn->dl[0], od, wn->st[0]), 4,
                             (int64_t[]){nb * od, x->type.dims[2], x->type.dims[3], ch});
        ir_node *y = op1(&c, op, s, &a, NULL);
        acc = acc ? op2(&c, avg ? KL_OP_ADD : KL_OP_MAX, acc, y, NULL) : y;
        if (!acc) return NULL;
    }
    acc = reshape(&c, acc, 5, (int64_t[]){nb, od, acc->type.dims[1], acc->type.dims[2], ch});
    return avg ? op2(&c, KL_OP_DIV, acc, depth_counts(&c, wn, depth, od, x->type.dtype), NULL) : acc;
}
