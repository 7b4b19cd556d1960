/* ir/conv_input.c — a conv2d's input read through index arithmetic
 * (ir/plan.h, ir_conv_sources): the skip concat, nearest upsampling and
 * depth-to-space that feed a U-Net's convs are never materialized; the
 * indirect GEMM (codegen/gemm.c) points each tile row's A at the source
 * pixel instead.
 *
 * Recognized, for a conv whose in[0] is x [N, H, W, C]:
 *   x = concat(s0, s1, ..., axis 3)        sources side by side in the channels
 *   s = plain value [N, H, W, Cs]
 *   s = nearest upsample of v [N, H/fy, W/fx, Cs]: Keras UpSampling2D's
 *       reshape [N,h,1,w,C] -> tile [N,h,fy,w,C] -> reshape [N,H,w,1,C] ->
 *       tile [N,H,w,fx,C] -> reshape [N,H,W,C]; or ResizeNearestNeighbor's
 *       constant gathers along H then W with index o / f
 *   s = depth-to-space of v [N, H/sy, W/sx, sy*sx*Cs]: reshape
 *       [N,h,w,sy,sx,C] -> transpose [0,1,3,2,4,5] -> reshape [N,H,W,C]
 *       (passes/subpixel.c's transposed conv)
 *   s = v * c or c * v, v plain [N, H, W, Cs], c a channel scale that
 *       broadcasts as [N or 1, 1, 1, Cs] (squeeze-excite: EfficientNet's
 *       excite multiply before the project conv); A's elements are
 *       multiplied by c as the GEMM reads them
 * Every node between the conv and the sources (the concat, tiles, gathers,
 * transposes; reshapes are aliases) has one use, and is no result.
 */
#include "plan.h"

static int uses(const ir_graph *g, const ir_node *v)
{
    int n = 0;
    for (int i = 0; i < g->n_results; i++) n += 2 * (g->results[i].node == v); /* a result is never fused away */
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i]->n_in; j++) n += g->nodes[i]->in[j] == v;
    return n;
}

static bool dims_are(const ir_node *n, int rank, const int64_t *d)
{
    if (n->type.rank != rank) return false;
    for (int i = 0; i < rank; i++)
        if (n->type.dims[i] != d[i]) return false;
    return true;
}

typedef struct walk {
    const ir_graph *g;
    ir_node **members;
    int n_members, max_members;
} walk;

static bool take(walk *w, ir_node *n)
{
    if (uses(w->g, n) != 1 || w->n_members >= w->max_members) return false;
    w->members[w->n_members++] = n;
    return true;
}

/* x = reshape(tile(reshape(tile(reshape(v))))) as Keras UpSampling2D writes it. */
static ir_node *keras_upsample(walk *w, ir_node *x, int *fy, int *fx)
{
    const int64_t *d = x->type.dims;
    if (x->op != KL_OP_RESHAPE || uses(w->g, x) != 1) return NULL;
    ir_node *t2 = x->in[0];
    if (t2->op != KL_OP_TILE || t2->type.rank != 5 || t2->in[0]->op != KL_OP_RESHAPE) return NULL;
    const int64_t *d2 = t2->type.dims;
    int64_t f2 = d2[3], w1 = d2[2];
    if (!dims_are(t2->in[0], 5, (int64_t[]){d[0], d[1], w1, 1, d[3]}) || w1 * f2 != d[2]) return NULL;
    ir_node *t1 = t2->in[0]->in[0];
    if (t1->op != KL_OP_TILE || t1->type.rank != 5 || t1->in[0]->op != KL_OP_RESHAPE) return NULL;
    int64_t h1 = t1->type.dims[1], f1 = t1->type.dims[2];
    if (!dims_are(t1, 5, (int64_t[]){d[0], h1, f1, w1, d[3]}) || h1 * f1 != d[1]) return NULL;
    if (!dims_are(t1->in[0], 5, (int64_t[]){d[0], h1, 1, w1, d[3]})) return NULL;
    ir_node *v = t1->in[0]->in[0];
    if (!dims_are(v, 4, (int64_t[]){d[0], h1, w1, d[3]}) || f1 > (1 << 16) || f2 > (1 << 16)) return NULL;
    if (uses(w->g, t2->in[0]) != 1 || uses(w->g, t1->in[0]) != 1 || !take(w, t2) || !take(w, t1)) return NULL;
    *fy = (int)f1, *fx = (int)f2;
    return t1->in[0]; /* the tile's operand is the kernel input (a reshape of v) */
}

/* Constant gather along `axis` with index o / f: the factor, or 0. */
static int nearest_factor(const ir_node *gth, int axis)
{
    if (gth->op != KL_OP_GATHER || gth->attr.concat.axis != axis || gth->type.rank != 4) return 0;
    const ir_node *k = ir_const_source(gth->in[1]);
    int64_t in = gth->in[0]->type.dims[axis], out = gth->type.dims[axis];
    if (!k || (k->type.dtype != KL_I64 && k->type.dtype != KL_I32) || ir_type_numel(&k->type) != out || in < 1 ||
        out % in || out / in > (1 << 16))
        return 0;
    int64_t f = out / in;
    for (int64_t o = 0; o < out; o++) {
        int64_t v = k->type.dtype == KL_I64 ? ((const int64_t *)k->data)[o] : ((const int32_t *)k->data)[o];
        if (v != o / f) return 0;
    }
    return (int)f;
}

static ir_node *gather_upsample(walk *w, ir_node *x, int *fy, int *fx)
{
    *fy = *fx = 1;
    int f = nearest_factor(x, 2);
    if (f) {
        if (!take(w, x)) return NULL;
        *fx = f, x = x->in[0];
    }
    f = nearest_factor(x, 1);
    if (f) {
        if (!take(w, x)) return NULL;
        *fy = f, x = x->in[0];
    }
    return *fy > 1 || *fx > 1 ? x : NULL;
}

/* x = reshape(transpose(reshape(v), [0,1,3,2,4,5])). */
static ir_node *depth_to_space(walk *w, ir_node *x, int *sy, int *sx)
{
    static const int8_t perm[6] = {0, 1, 3, 2, 4, 5};
    if (x->op != KL_OP_RESHAPE || uses(w->g, x) != 1) return NULL;
    ir_node *t = x->in[0];
    if (t->op != KL_OP_TRANSPOSE || t->type.rank != 6) return NULL;
    for (int i = 0; i < 6; i++)
        if (t->attr.transpose.perm[i] != perm[i]) return NULL;
    const int64_t *d = t->in[0]->type.dims; /* [N, h, w, sy, sx, C] */
    if (d[5] != x->type.dims[3] || d[1] * d[3] != x->type.dims[1] || d[2] * d[4] != x->type.dims[2] || d[3] > (1 << 16) ||
        d[4] > (1 << 16) || !take(w, t))
        return NULL;
    *sy = (int)d[3], *sx = (int)d[4];
    return t->in[0];
}

static bool source_kind(walk *w, ir_node *x, ir_conv_source *s)
{
    int n0 = w->n_members;
    s->fy = s->fx = 1;
    s->channels = x->type.dims[3];
    if ((s->value = keras_upsample(w, x, &s->fy, &s->fx))) {
        s->kind = IR_SRC_UPSAMPLE;
        return true;
    }
    w->n_members = n0;
    if ((s->value = gather_upsample(w, x, &s->fy, &s->fx))) {
        s->kind = IR_SRC_UPSAMPLE;
        return true;
    }
    w->n_members = n0;
    if ((s->value = depth_to_space(w, x, &s->fy, &s->fx))) {
        s->kind = IR_SRC_D2S;
        return true;
    }
    w->n_members = n0;
    s->value = x, s->kind = IR_SRC_PLAIN;
    return false;
}

/* x = v * c with c broadcast over H and W only: c, and v in *v; else NULL. */
static ir_node *channel_scale(walk *w, ir_node *x, ir_node **v, int64_t *image)
{
    if (x->op != KL_OP_MUL || x->type.dtype != KL_F32 || x->type.rank != 4) return NULL;
    const int64_t *d = x->type.dims;
    for (int i = 0; i < 2; i++) {
        ir_node *a = x->in[i], *c = x->in[1 - i];
        if (!dims_are(a, 4, d) || c->type.dtype != KL_F32 || c->type.rank < 1 || c->type.dims[c->type.rank - 1] != d[3])
            continue;
        int64_t st[IR_MAX_RANK];
        ir_broadcast_strides(&c->type, 4, d, st);
        if (st[1] || st[2] || st[3] != 1 || (st[0] && st[0] != d[3])) continue;
        if (!take(w, x)) return NULL;
        *v = a, *image = d[0] > 1 ? st[0] : 0;
        return c;
    }
    return NULL;
}

static bool source(walk *w, ir_node *x, ir_conv_source *s)
{
    ir_node *v = NULL;
    s->scale = channel_scale(w, x, &v, &s->scale_image);
    if (s->scale) { /* the scaled value is read plain */
        s->value = v, s->kind = IR_SRC_PLAIN, s->fy = s->fx = 1, s->channels = v->type.dims[3];
        s->h = v->type.dims[1], s->w = v->type.dims[2];
        return true;
    }
    s->scale_image = 0;
    bool ok = source_kind(w, x, s);
    const int64_t *d = s->value->type.dims;
    s->h = d[1], s->w = s->kind == IR_SRC_UPSAMPLE && s->value->type.rank == 5 ? d[3] : d[2];
    return ok;
}

int ir_conv_sources(const ir_graph *g, const ir_node *conv, ir_conv_source *src, ir_node **members, int *n_members)
{
    ir_node *members_local[4 * IR_MAX_CONV_SOURCES + 1];
    walk w = {g, members ? members : members_local, 0, 4 * IR_MAX_CONV_SOURCES + 1};
    if (n_members) *n_members = 0;
    if (conv->op != KL_OP_CONV2D || conv->type.dtype != KL_F32 || conv->attr.conv.groups != 1 || conv->in[0]->type.rank != 4)
        return 0;
    ir_node *x = conv->in[0];
    int n = 0;
    bool virtual_ = false;
    if (x->op == KL_OP_CONCAT && x->attr.concat.axis == 3 && x->n_in <= IR_MAX_CONV_SOURCES && take(&w, x)) {
        int64_t at = 0;
        for (int i = 0; i < x->n_in; i++) {
            source(&w, x->in[i], &src[n]);
            src[n].offset = at;
            at += src[n++].channels;
        }
        virtual_ = true;
    } else {
        virtual_ = source(&w, x, &src[0]);
        src[0].offset = 0;
        n = 1;
    }
    if (!virtual_) return 0;
    if (n_members) *n_members = w.n_members;
    return n;
}

bool ir_conv_source_member(const ir_graph *g, const ir_node *conv, const ir_node *n)
{
    ir_conv_source src[IR_MAX_CONV_SOURCES];
    ir_node *members[4 * IR_MAX_CONV_SOURCES + 1];
    int nm = 0;
    if (!ir_conv_sources(g, conv, src, members, &nm)) return false;
    for (int i = 0; i < nm; i++)
        if (members[i] == n) return true;
    return false;
}
