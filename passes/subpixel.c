/* passes/subpixel.c — transposed convolutions as stride-1 convolutions
 * (sub-pixel decomposition), called by passes/simplify.c.
 *
 * A conv2d_transpose with stride s (dilation 1, constant filter HWOI) is a
 * scatter: input pixel y reaches output rows y*s + ky - pad_top.  Split the
 * output rows by phase r = oy mod s: row s*q + r receives the taps
 * ky = (r + pad_top) mod s + s*j at input row q + (r + pad_top) div s - j,
 * a stride-1 correlation over the input.  All s*s phases (rows x columns)
 * become the output channels of ONE conv2d (window of the phases' union of
 * input offsets, zero where a phase has no tap), so the transposed conv
 * runs on the GEMM path (codegen/gemm.c: prepacked weights, register
 * tiles, the thread pool), then a depth-to-space:
 *
 *   y = conv2d(x, F)            [N, Q, Qw, s*s*O]   F[ty,tx,i,(ry*s+rx)*O+o]
 *   reshape [N,Q,Qw,s,s,O] -> transpose [0,1,3,2,4,5] -> reshape [N,Q*s,Qw*s,O]
 *   slice to [N, OH, OW, O] when Q*s > OH (output rows no phase reaches
 *   beyond the input are zeros, from the conv's padding)
 *
 * The transposed conv's elementwise consumers that act per output channel
 * (BiasAdd, a scale, ReLU, any unary op: one use each, same type) commute
 * with the depth-to-space and are moved before it, on the conv's
 * s*s*O channels (constants tiled s*s times), so fusion makes them the
 * conv's GEMM epilogue and the data movement is one transpose.
 */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

static ir_node *only_user(const ir_graph *g, const ir_node *v)
{
    ir_node *u = NULL;
    for (int i = 0; i < g->n_results; i++)
        if (g->results[i].node == v) return NULL;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i]->n_in; j++)
            if (g->nodes[i]->in[j] == v) {
                if (u) return NULL; /* a second use (x op x counts twice) */
                u = g->nodes[i];
            }
    return u;
}

/* A float32 constant acting only along the last axis (O channels): a
 * scalar or [1,...,1,O]. */
static bool per_channel_const(const ir_node *c, int rank, int64_t O)
{
    if (c->op != KL_OP_CONST || c->type.dtype != KL_F32 || c->type.rank > rank) return false;
    int64_t numel = ir_type_numel(&c->type);
    return numel == 1 || (c->type.rank > 0 && c->type.dims[c->type.rank - 1] == O && numel == O);
}

/* Per phase of one axis: the first tap k0, the tap count and the input offset
 * c of tap j = 0 (input row q + c - j feeds output row s*q + r). */
typedef struct phase_axis {
    int s, K, pad;
    int k0[64], taps[64], c[64];
    int lo, hi; /* union of offsets c - j over the phases, lo <= 0 <= hi */
} phase_axis;

static bool phases(phase_axis *a, int s, int K, int pad)
{
    if (s < 1 || s > 64 || K < 1) return false;
    a->s = s, a->K = K, a->pad = pad, a->lo = 0, a->hi = 0;
    for (int r = 0; r < s; r++) {
        a->k0[r] = (r + pad) % s;
        a->c[r] = (r + pad) / s;
        a->taps[r] = a->k0[r] < K ? (K - a->k0[r] + s - 1) / s : 0;
        if (!a->taps[r]) continue;
        if (a->c[r] - a->taps[r] + 1 < a->lo) a->lo = a->c[r] - a->taps[r] + 1;
        if (a->c[r] > a->hi) a->hi = a->c[r];
    }
    return true;
}

/* Filter tap of phase r at window position t (offset t + lo), or -1. */
static int tap_of(const phase_axis *a, int r, int t)
{
    int j = a->c[r] - (t + a->lo);
    return j >= 0 && j < a->taps[r] ? a->k0[r] + a->s * j : -1;
}

static ir_node *place(ir_graph *g, ir_node *n, ir_node *before)
{
    KL_ASSERT(n);
    ir_graph_move_before(g, n, before);
    return n;
}

ir_node *pass_subpixel_conv_transpose(ir_graph *g, ir_node *n, pass_ctx *ctx)
{
    if (n->op != KL_OP_CONV2D_TRANSPOSE || n->type.dtype != KL_F32) return NULL;
    /* a rewritten one is left for DCE, after its replacement when it had no
     * consumer chain (the new nodes go before it): never rewrite it twice */
    bool used = false;
    for (int i = 0; i < g->n_results && !used; i++) used = g->results[i].node == n;
    for (int i = 0; i < g->n_nodes && !used; i++)
        for (int j = 0; j < g->nodes[i]->n_in; j++) used |= g->nodes[i]->in[j] == n;
    if (!used) return NULL;
    const ir_attr *at = &n->attr;
    const ir_node *w = ir_const_source(n->in[1]);
    if (!w || w->type.dtype != KL_F32 || at->conv.dilation_h != 1 || at->conv.dilation_w != 1) return NULL;
    const ir_type *tx = &n->in[0]->type, *tw = &n->in[1]->type, *to = &n->type;
    int64_t N = tx->dims[0], H = tx->dims[1], W = tx->dims[2], I = tx->dims[3];
    int64_t KH = tw->dims[0], KW = tw->dims[1], O = to->dims[3], OH = to->dims[1], OW = to->dims[2];
    int sh = at->conv.stride_h, sw = at->conv.stride_w;
    if (sh == 1 && sw == 1) return NULL; /* TF imports the stride-1 case as a conv2d already */
    phase_axis ay, ax;
    if (KH > 4096 || KW > 4096 || !phases(&ay, sh, (int)KH, at->conv.pad_top) || !phases(&ax, sw, (int)KW, at->conv.pad_left))
        return NULL;
    int64_t TH = ay.hi - ay.lo + 1, TW = ax.hi - ax.lo + 1;
    int64_t Q = (OH + sh - 1) / sh, QW = (OW + sw - 1) / sw;
    int64_t pb = Q - 1 + ay.hi - (H - 1), pr = QW - 1 + ax.hi - (W - 1);
    if (pb < 0) pb = 0;
    if (pr < 0) pr = 0;
    int64_t QC = H + pb - ay.hi, QCW = W + pr - ax.hi; /* conv output rows, >= Q */
    int64_t C = (int64_t)sh * sw * O;
    /* the merged filter must not be much larger than the scatter's work:
     * a window of phases that barely overlap multiplies the zero taps */
    if (TH * TW * sh * sw > 4 * KH * KW || C > (1 << 20) || TH * TW * I * C > ((int64_t)1 << 28)) return NULL;
    if (N < 1 || QC < Q || QCW < QW) return NULL;

    /* F [TH, TW, I, s*s*O] (HWIO) from w [KH, KW, O, I] (HWOI) */
    float *f = kl_calloc(NULL, (size_t)(TH * TW * I * C) + 1, sizeof(float), "sub-pixel filter");
    const float *wd = w->data;
    for (int ry = 0; ry < sh; ry++)
        for (int rx = 0; rx < sw; rx++)
            for (int ty = 0; ty < TH; ty++)
                for (int tx2 = 0; tx2 < TW; tx2++) {
                    int ky = tap_of(&ay, ry, ty), kx = tap_of(&ax, rx, tx2);
                    if (ky < 0 || kx < 0) continue;
                    for (int64_t i = 0; i < I; i++)
                        for (int64_t o = 0; o < O; o++)
                            f[((ty * TW + tx2) * I + i) * C + (ry * sw + rx) * O + o] = wd[((ky * KW + kx) * O + o) * I + i];
                }
    kl_diag d = {0};
    ir_node *fc = ir_const(g, ir_type_make(KL_F32, 4, (int64_t[]){TH, TW, I, C}), f, w->name);
    free(f);
    ir_attr ca;
    memset(&ca, 0, sizeof ca);
    ca.conv.kh = (int)TH, ca.conv.kw = (int)TW, ca.conv.stride_h = ca.conv.stride_w = 1;
    ca.conv.dilation_h = ca.conv.dilation_w = 1, ca.conv.groups = 1;
    ca.conv.pad_top = -ay.lo, ca.conv.pad_left = -ax.lo, ca.conv.pad_bottom = (int)pb, ca.conv.pad_right = (int)pr;
    ir_type ct = ir_type_make(KL_F32, 4, (int64_t[]){N, QC, QCW, C});
    ir_node *tail = n, *before = n;
    /* the consumers moved before the depth-to-space: find the chain first */
    ir_node *chain[16];
    int n_chain = 0;
    for (ir_node *u = only_user(g, n); u && n_chain < 16; u = only_user(g, u)) {
        if (!op_is_elementwise(u->op) || u->type.dtype != KL_F32 || !ir_type_equal(&u->type, &tail->type)) break;
        if (u->n_in == 2) {
            ir_node *other = u->in[0] == tail ? u->in[1] : u->in[0];
            if (!per_channel_const(other, 4, O)) break;
        } else if (u->n_in != 1) {
            break;
        }
        chain[n_chain++] = tail = u;
    }
    before = tail;
    place(g, fc, before);
    ir_node *y = place(g, ir_node_new(g, KL_OP_CONV2D, 2, (ir_node *[]){n->in[0], fc}, &ca, &ct, n->name, &d), before);
    for (int k = 0; k < n_chain; k++) {
        ir_node *u = chain[k], *prev = k ? chain[k - 1] : n;
        if (u->n_in == 1) {
            y = place(g, ir_node_new(g, u->op, 1, &y, &u->attr, &ct, u->name, &d), before);
            continue;
        }
        int side = u->in[0] == prev ? 0 : 1;
        ir_node *cst = u->in[1 - side];
        if (ir_type_numel(&cst->type) != 1) { /* [O] -> [s*s*O]: the same channel in every phase */
            float *t = kl_calloc(NULL, (size_t)C, sizeof(float), "sub-pixel constant");
            for (int64_t p = 0; p < C; p++) t[p] = ((const float *)cst->data)[p % O];
            cst = place(g, ir_const(g, ir_type_make(KL_F32, 1, &C), t, cst->name), before);
            free(t);
        }
        ir_node *ops[2];
        ops[side] = y, ops[1 - side] = cst;
        y = place(g, ir_node_new(g, u->op, 2, ops, &u->attr, &ct, u->name, &d), before);
    }
    ir_node *r6 = place(g, ir_reshape(g, y, 6, (int64_t[]){N, QC, QCW, sh, sw, O}, n->name, &d), before);
    ir_attr ta;
    memset(&ta, 0, sizeof ta);
    const int8_t perm[6] = {0, 1, 3, 2, 4, 5};
    memcpy(ta.transpose.perm, perm, sizeof perm);
    ir_node *tr = place(g, ir_node_new(g, KL_OP_TRANSPOSE, 1, &r6, &ta, NULL, n->name, &d), before);
    ir_node *r4 = place(g, ir_reshape(g, tr, 4, (int64_t[]){N, QC * sh, QCW * sw, O}, n->name, &d), before);
    if (QC * sh != OH || QCW * sw != OW) {
        ir_attr sa;
        memset(&sa, 0, sizeof sa);
        for (int i = 0; i < 4; i++) sa.slice.stride[i] = 1;
        r4 = place(g, ir_node_new(g, KL_OP_SLICE, 1, &r4, &sa, &tail->type, n->name, &d), before);
    }
    KL_ASSERT(kl_diag_ok(&d));
    ir_replace_uses(g, tail, r4);
    pass_count(ctx, "simplify", "transposed convs as sub-pixel convs", 1);
    pass_count(ctx, "simplify", "epilogue ops moved before a depth-to-space", n_chain);
    return r4;
}
