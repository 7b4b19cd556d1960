/* frontend/onnx/onnx_ops_nd.c — window ops past Kiln's 2-D ones.
 *
 * 3-D Conv and MaxPool/AveragePool (NCDHW) go to ir/window3d.c (the
 * depth taps unrolled over the 2-D ops) in NDHWC.  ceil_mode becomes extra
 * padding at the end of each axis, which pools ignore, as PyTorch and ONNX
 * Runtime do.  Also TopK, Einsum, GatherND and the scatters, which are
 * builders in ir/ shared with the TensorFlow frontend.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* The padding ceil_mode adds after an axis: the output is
 * ceil((in + lo + hi - span) / s) + 1, less one if the last window would
 * start in the end padding (PyTorch's rule, which ONNX Runtime follows). */
int64_t ox_ceil_extra(int64_t in, int64_t k, int64_t s, int64_t d, int64_t lo, int64_t hi)
{
    int64_t span = (k - 1) * d + 1, room = in + lo + hi - span;
    if (room < 0 || s < 1) return 0;
    int64_t out = (room + s - 1) / s + 1;
    if (out > 1 && (out - 1) * s >= in + lo) out--;
    int64_t need = (out - 1) * s + span - (in + lo + hi);
    return need > 0 ? need : 0;
}

static const char *node_name(const ox_node *n) { return n->name && *n->name ? n->name : n->n_output ? n->output[0] : NULL; }

typedef struct win {
    int64_t st[3], dl[3], lo[3], hi[3], extra[3];
} win;

/* strides, dilations, pads (explicit or auto_pad) and ceil_mode's extras
 * for ns spatial axes. */
static bool window_nd(ox *c, const ox_node *n, int ns, const int64_t *in, const int64_t *k, win *w)
{
    int64_t pads[6] = {0};
    char autopad[16];
    for (int i = 0; i < ns; i++) w->st[i] = 1, w->dl[i] = 1, w->extra[i] = 0;
    int a = ox_attr_ints(n, "strides", w->st, ns), b = ox_attr_ints(n, "dilations", w->dl, ns);
    int p = ox_attr_ints(n, "pads", pads, 2 * ns);
    if ((a >= 0 && a != ns) || (b >= 0 && b != ns) || (p >= 0 && p != 2 * ns))
        return ox_err(c, n, "window attributes do not match the rank"), false;
    ox_attr_str(n, "auto_pad", autopad, sizeof autopad);
    bool same = !strcmp(autopad, "SAME_UPPER") || !strcmp(autopad, "SAME_LOWER");
    for (int i = 0; i < ns; i++) {
        if (w->st[i] < 1 || w->dl[i] < 1 || k[i] < 1) return ox_err(c, n, "bad window attributes"), false;
        w->lo[i] = pads[i], w->hi[i] = pads[ns + i];
        if (same) {
            int64_t out = (in[i] + w->st[i] - 1) / w->st[i], total = (out - 1) * w->st[i] + (k[i] - 1) * w->dl[i] + 1 - in[i];
            if (total < 0) total = 0;
            bool upper = !strcmp(autopad, "SAME_UPPER");
            w->lo[i] = upper ? total / 2 : total - total / 2, w->hi[i] = total - w->lo[i];
        } else if (!strcmp(autopad, "VALID")) {
            w->lo[i] = w->hi[i] = 0;
        }
        if (w->lo[i] < 0 || w->hi[i] < 0) return ox_err(c, n, "negative pads are not supported"), false;
        if (ox_attr_int(n, "ceil_mode", 0)) w->extra[i] = ox_ceil_extra(in[i], k[i], w->st[i], w->dl[i], w->lo[i], w->hi[i]);
    }
    return true;
}

/* Constant padding of the given axes (lo/hi per axis of x). */
static ir_node *pad_const(ox *c, const ox_node *n, ir_node *x, const int64_t *lo, const int64_t *hi, double v)
{
    if (!x) return NULL;
    ir_attr a;
    memset(&a, 0, sizeof a);
    bool any = false;
    for (int i = 0; i < x->type.rank; i++) a.pad.lo[i] = lo[i], a.pad.hi[i] = hi[i], any |= lo[i] || hi[i];
    a.pad.value = v;
    return any ? ox_op(c, n, KL_OP_PAD, 1, &x, &a, NULL) : x;
}

static const int to_ndhwc[5] = {0, 2, 3, 4, 1}, to_ncdhw[5] = {0, 4, 1, 2, 3};

static ir_window3d win3d(const win *w, const int64_t *k)
{
    ir_window3d r;
    for (int i = 0; i < 3; i++)
        r.k[i] = k ? k[i] : 0, r.st[i] = w->st[i], r.dl[i] = w->dl[i], r.lo[i] = w->lo[i], r.hi[i] = w->hi[i] + w->extra[i];
    return r;
}

/* x NCDHW, w [M, C/group, KD, KH, KW], optional bias [M] (ir/window3d.c on NDHWC). */
ir_node *ox_conv3d(ox *c, const ox_node *n, ir_node *x, ir_node *w, ir_node *bias)
{
    if (w->type.rank != 5) return ox_err(c, n, "the weights of a 3-D convolution must have rank 5");
    win wn;
    if (!window_nd(c, n, 3, x->type.dims + 2, w->type.dims + 2, &wn)) return NULL;
    ir_window3d w3 = win3d(&wn, NULL);
    ir_node *wt = ox_transpose(c, n, w, (int[]){2, 3, 4, 1, 0}); /* -> [KD, KH, KW, C/group, M] */
    ir_node *y = ir_conv3d(c->g, ox_transpose(c, n, x, to_ndhwc), wt, &w3, (int)ox_attr_int(n, "group", 1), node_name(n), c->d);
    if (bias) y = ox_bin(c, n, KL_OP_ADD, y, bias);
    return ox_transpose(c, n, y, to_ncdhw);
}

/* x NCDHW; op max_pool or avg_pool. */
ir_node *ox_pool3d(ox *c, const ox_node *n, ir_node *x, kl_op op)
{
    int64_t k[3];
    if (ox_attr_ints(n, "kernel_shape", k, 3) != 3) return ox_err(c, n, "kernel_shape must have 3 entries");
    win wn;
    if (!window_nd(c, n, 3, x->type.dims + 2, k, &wn)) return NULL;
    if (op == KL_OP_AVG_POOL && ox_attr_int(n, "count_include_pad", 0)) { /* explicit pads count: make them real zeros */
        int64_t lo[5] = {0, 0, wn.lo[0], wn.lo[1], wn.lo[2]}, hi[5] = {0, 0, wn.hi[0], wn.hi[1], wn.hi[2]};
        x = pad_const(c, n, x, lo, hi, 0);
        for (int i = 0; i < 3; i++) wn.lo[i] = wn.hi[i] = 0;
        if (!x) return NULL;
    }
    ir_window3d w3 = win3d(&wn, k);
    return ox_transpose(c, n, ir_pool3d(c->g, op, ox_transpose(c, n, x, to_ndhwc), &w3, node_name(n), c->d), to_ncdhw);
}

/* TopK (X, K) with axis, largest and sorted (outputs are always sorted,
 * which sorted=0 allows); Indices are int64. */
ir_node *ox_top_k(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = n_in > 0 ? in[0] : NULL;
    int64_t k;
    if (!x) return ox_err(c, n, "needs an input");
    if (c->m->opset < 10) k = ox_attr_int(n, "k", -1);
    else if (n_in < 2 || ox_read_ints(c, n, in[1], "k", &k, 1) != 1) return NULL;
    int ax = ox_axis(c, n, ox_attr_int(n, "axis", -1), x->type.rank);
    if (ax < 0) return NULL;
    if (!ir_top_k(c->g, x, ax, k, ox_attr_int(n, "largest", 1) != 0, KL_I64, node_name(n), &c->outs[0], &c->outs[1], c->d)) return NULL;
    c->n_outs = 2;
    return c->outs[0];
}

ir_node *ox_einsum(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    char eq[256];
    ox_attr_str(n, "equation", eq, sizeof eq);
    return ir_einsum(c->g, eq, in, n_in, node_name(n), c->d);
}

/* ---- gathers and scatters (ir/gather_scatter.c) --------------------------- */

static bool reduction_of(ox *c, const ox_node *n, ir_scatter_reduce *r)
{
    char s[16];
    ox_attr_str(n, "reduction", s, sizeof s);
    if (!s[0] || !strcmp(s, "none")) *r = IR_SCATTER_NONE;
    else if (!strcmp(s, "add")) *r = IR_SCATTER_ADD;
    else if (!strcmp(s, "mul")) *r = IR_SCATTER_MUL;
    else if (!strcmp(s, "max")) *r = IR_SCATTER_MAX;
    else if (!strcmp(s, "min")) *r = IR_SCATTER_MIN;
    else return ox_err(c, n, "reduction '%s' is not supported", s), false;
    return true;
}

ir_node *ox_gather_nd(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    if (n_in < 2 || !in[0] || !in[1]) return ox_err(c, n, "needs data and indices");
    return ir_gather_nd(c->g, in[0], in[1], (int)ox_attr_int(n, "batch_dims", 0), node_name(n), c->d);
}

ir_node *ox_scatter_nd(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_scatter_reduce r;
    if (n_in < 3 || !in[0] || !in[1] || !in[2]) return ox_err(c, n, "needs data, indices and updates");
    return reduction_of(c, n, &r) ? ir_scatter_nd(c->g, in[0], in[1], in[2], r, node_name(n), c->d) : NULL;
}

/* ScatterElements, and Scatter (its older name, opsets 9-10). */
ir_node *ox_scatter_elements(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_scatter_reduce r;
    if (n_in < 3 || !in[0] || !in[1] || !in[2]) return ox_err(c, n, "needs data, indices and updates");
    int ax = ox_axis(c, n, ox_attr_int(n, "axis", 0), in[0]->type.rank);
    if (ax < 0 || !reduction_of(c, n, &r)) return NULL;
    return ir_scatter_elements(c->g, in[0], in[1], in[2], ax, r, node_name(n), c->d);
}
