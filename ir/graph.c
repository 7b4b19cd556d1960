/* ir/graph.c — dtypes, types, the op table, graph building and shape rules. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* ---- dtypes ------------------------------------------------------------- */

static const struct { const char *name; size_t size; bool is_float; } dtype_info[KL_DTYPE_COUNT] = {
#define DT(e, s, n, f, sg) [KL_##e] = {s, n, f},
    KL_DTYPES(DT)
#undef DT
};

const char *kl_dtype_name(kl_dtype t) { return t < KL_DTYPE_COUNT ? dtype_info[t].name : "?"; }
size_t kl_dtype_size(kl_dtype t) { return dtype_info[t].size; }
bool kl_dtype_is_float(kl_dtype t) { return dtype_info[t].is_float; }

bool kl_dtype_from_name(const char *s, kl_dtype *out)
{
    for (int i = 0; i < KL_DTYPE_COUNT; i++)
        if (!strcmp(s, dtype_info[i].name)) {
            *out = (kl_dtype)i;
            return true;
        }
    return false;
}

/* ---- op table ----------------------------------------------------------- */

const kl_op_info kl_op_table[KL_OP_COUNT] = {
#define OP(e, s, ar, sh, fl) [KL_OP_##e] = {s, ar, sh, fl},
#include "ops.def"
#undef OP
};

bool kl_op_from_name(const char *s, kl_op *out)
{
    for (int i = 0; i < KL_OP_COUNT; i++)
        if (!strcmp(s, kl_op_table[i].name)) {
            *out = (kl_op)i;
            return true;
        }
    return false;
}

/* ---- types -------------------------------------------------------------- */

ir_type ir_type_make(kl_dtype dt, int rank, const int64_t *dims)
{
    KL_ASSERT(rank >= 0 && rank <= IR_MAX_RANK);
    ir_type t = {.dtype = dt, .rank = rank};
    for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
    return t;
}

int64_t ir_type_numel(const ir_type *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= t->dims[i];
    return n;
}

size_t ir_type_bytes(const ir_type *t) { return (size_t)ir_type_numel(t) * kl_dtype_size(t->dtype); }

bool ir_type_equal(const ir_type *a, const ir_type *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank) return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return true;
}

char *ir_type_str(const ir_type *t, char *buf, size_t n)
{
    size_t at = (size_t)snprintf(buf, n, "%s[", kl_dtype_name(t->dtype));
    for (int i = 0; i < t->rank && at < n; i++)
        at += (size_t)snprintf(buf + at, n - at, "%s%lld", i ? "," : "", (long long)t->dims[i]);
    if (at < n) snprintf(buf + at, n - at, "]");
    return buf;
}

bool ir_broadcast_shape(const ir_type *a, const ir_type *b, ir_type *out)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    ir_type t = {.dtype = a->dtype, .rank = r};
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) return false;
        t.dims[i] = da == 1 ? db : da;
    }
    *out = t;
    return true;
}

void ir_broadcast_strides(const ir_type *t, int rank, const int64_t *out_dims, int64_t *strides)
{
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        int it = i - (rank - t->rank);
        if (it < 0 || (t->dims[it] == 1 && out_dims[i] != 1)) {
            strides[i] = 0;
        } else {
            strides[i] = s;
            s *= t->dims[it];
        }
    }
}

/* ---- graphs ------------------------------------------------------------- */

ir_graph *ir_graph_new(const char *source)
{
    kl_arena *a = kl_arena_new();
    ir_graph *g = kl_arena_alloc(a, sizeof *g, 8);
    g->arena = a;
    g->source = kl_arena_strdup(a, source ? source : "<graph>");
    return g;
}

void ir_graph_free(ir_graph *g)
{
    if (!g) return;
    free(g->nodes);
    free(g->params);
    free(g->param_names);
    free(g->results);
    for (int i = 0; i < g->n_children; i++) ir_graph_free(g->children[i]);
    free(g->children);
    kl_arena_free(g->arena);
}

static void *grow(void *p, int *cap, int need, size_t elem)
{
    if (need <= *cap) return p;
    int c = *cap ? *cap * 2 : 16;
    while (c < need) c *= 2;
    p = kl_realloc(NULL, p, (size_t)c, elem, "the graph's node list");
    *cap = c;
    return p;
}

static ir_node *append(ir_graph *g, kl_op op, int n_in, ir_node *const *in, const char *name)
{
    ir_node *n = kl_arena_alloc(g->arena, sizeof *n, 8);
    n->op = op;
    n->id = g->next_id++;
    n->n_in = n_in;
    if (n_in) {
        n->in = kl_arena_alloc(g->arena, sizeof(ir_node *) * (size_t)n_in, 8);
        memcpy(n->in, in, sizeof(ir_node *) * (size_t)n_in);
    }
    n->name = kl_arena_strdup(g->arena, name);
    g->nodes = grow(g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes);
    g->nodes[g->n_nodes++] = n;
    return n;
}

ir_node *ir_param(ir_graph *g, ir_type type, const char *name)
{
    ir_node *n = append(g, KL_OP_PARAM, 0, NULL, name);
    n->type = type;
    n->attr.param.index = g->n_params;
    int cap = g->n_params; /* params grow one by one; keep arrays exact */
    g->params = kl_realloc(NULL, g->params, (size_t)cap + 1, sizeof *g->params, "the graph's params");
    g->param_names = kl_realloc(NULL, g->param_names, (size_t)cap + 1, sizeof *g->param_names, "the graph's params");
    g->params[g->n_params] = n;
    g->param_names[g->n_params] = n->name;
    g->n_params++;
    return n;
}

ir_node *ir_const(ir_graph *g, ir_type type, const void *data, const char *name)
{
    ir_node *n = append(g, KL_OP_CONST, 0, NULL, name);
    n->type = type;
    size_t bytes = ir_type_bytes(&type);
    void *p = kl_arena_alloc(g->arena, bytes ? bytes : 1, 64);
    if (bytes) memcpy(p, data, bytes);
    n->data = p;
    return n;
}

ir_node *ir_const_scalar_f32(ir_graph *g, float v, const char *name)
{
    return ir_const(g, ir_type_make(KL_F32, 0, NULL), &v, name);
}

static const char *node_label(const ir_node *n, char *buf, size_t size)
{
    if (n->name) snprintf(buf, size, "node '%s' (%s)", n->name, kl_op_name(n->op));
    else snprintf(buf, size, "node %%%d (%s)", n->id, kl_op_name(n->op));
    return buf;
}

/* Broadcast of every operand (compare: bool result; select: operand 0 is
 * the bool condition, the result has the dtype of operands 1 and 2). */
static bool infer_broadcast_n(const ir_graph *g, const ir_node *n, ir_type *out, kl_diag *d)
{
    char lb[256], ta[64], tb[64];
    bool select = n->op == KL_OP_SELECT;
    int first = select ? 1 : 0;
    if (select && n->in[0]->type.dtype != KL_BOOL) {
        kl_diag_error(d, "%s: %s: condition must be bool", g->source, node_label(n, lb, sizeof lb));
        return false;
    }
    if (n->in[first]->type.dtype != n->in[n->n_in - 1]->type.dtype) {
        kl_diag_error(d, "%s: %s: operand dtypes differ: %s vs %s", g->source, node_label(n, lb, sizeof lb),
                      ir_type_str(&n->in[first]->type, ta, sizeof ta), ir_type_str(&n->in[n->n_in - 1]->type, tb, sizeof tb));
        return false;
    }
    ir_type t = n->in[0]->type;
    for (int i = 1; i < n->n_in; i++)
        if (!ir_broadcast_shape(&t, &n->in[i]->type, &t)) {
            kl_diag_error(d, "%s: %s: shapes %s and %s do not broadcast", g->source, node_label(n, lb, sizeof lb),
                          ir_type_str(&n->in[0]->type, ta, sizeof ta), ir_type_str(&n->in[i]->type, tb, sizeof tb));
            return false;
        }
    t.dtype = select ? n->in[1]->type.dtype : KL_BOOL;
    *out = t;
    return true;
}

/* Start indices of a dynamic slice: an int vector, one per axis of x. */
static bool starts_fit(const ir_type *s, const ir_type *x)
{
    return (s->dtype == KL_I32 || s->dtype == KL_I64) && s->rank == 1 && s->dims[0] == x->rank;
}

/* `part` fits inside `x` (same dtype and rank, no dim larger). */
static bool part_fits(const ir_type *part, const ir_type *x)
{
    if (part->rank != x->rank || part->dtype != x->dtype) return false;
    for (int i = 0; i < x->rank; i++)
        if (part->dims[i] > x->dims[i]) return false;
    return true;
}

/* Slices stay inside their operand; tiles repeat whole copies of it. */
static bool given_fits(const ir_node *n)
{
    const ir_type *x = &n->in[0]->type, *o = &n->type;
    if (n->op == KL_OP_DYNAMIC_SLICE) return part_fits(o, x) && starts_fit(&n->in[1]->type, x);
    if (n->op == KL_OP_CONV2D_TRANSPOSE) { /* dy NHWI, filter HWOI, result NHWO */
        const ir_type *w = &n->in[1]->type;
        return x->rank == 4 && w->rank == 4 && o->rank == 4 && x->dtype == w->dtype && o->dtype == x->dtype &&
               w->dims[3] == x->dims[3] && w->dims[2] == o->dims[3] && o->dims[0] == x->dims[0] &&
               n->attr.conv.stride_h > 0 && n->attr.conv.stride_w > 0;
    }
    if (x->rank != o->rank || x->dtype != o->dtype) return false;
    for (int i = 0; i < o->rank; i++) {
        if (n->op == KL_OP_TILE) {
            if (x->dims[i] == 0 ? o->dims[i] != 0 : o->dims[i] % x->dims[i]) return false;
            continue;
        }
        int64_t b = n->attr.slice.begin[i], last = b + (o->dims[i] - 1) * n->attr.slice.stride[i];
        if (o->dims[i] > 0 && (b < 0 || b >= x->dims[i] || last < 0 || last >= x->dims[i])) return false;
    }
    return true;
}

/* Output extent of a window op along one axis. */
static int64_t window_out(int64_t in, int k, int stride, int dilation, int lo, int hi)
{
    int64_t span = (int64_t)(k - 1) * dilation + 1, padded = in + lo + hi;
    return padded < span || stride < 1 ? -1 : (padded - span) / stride + 1;
}

static bool infer_window(const ir_graph *g, const ir_node *n, ir_type *out, kl_diag *d)
{
    char lb[256], ta[64], tb[64];
    const ir_type *x = &n->in[0]->type;
    ir_attr a = n->attr;
    int64_t oc = x->rank == 4 ? x->dims[3] : 0;
    bool conv = n->op == KL_OP_CONV2D, ok = x->rank == 4 && a.conv.stride_h > 0 && a.conv.stride_w > 0;
    if (conv) {
        const ir_type *w = &n->in[1]->type;
        ok = ok && w->rank == 4 && w->dtype == x->dtype && a.conv.groups > 0 && x->dims[3] % a.conv.groups == 0 &&
             x->dims[3] / a.conv.groups == w->dims[2] && w->dims[3] % a.conv.groups == 0 &&
             w->dims[0] <= KL_MAX_WINDOW && w->dims[1] <= KL_MAX_WINDOW; /* checked math: no product, kh fits int */
        if (ok) a.conv.kh = (int)w->dims[0], a.conv.kw = (int)w->dims[1], oc = w->dims[3];
        if (!ok) {
            kl_diag_error(d, "%s: %s: input %s and filter %s do not fit (groups %d)", g->source, node_label(n, lb, sizeof lb),
                          ir_type_str(x, ta, sizeof ta), ir_type_str(w, tb, sizeof tb), a.conv.groups);
            return false;
        }
    }
    int64_t oh = ok ? window_out(x->dims[1], a.conv.kh, a.conv.stride_h, a.conv.dilation_h > 0 ? a.conv.dilation_h : 1, a.conv.pad_top, a.conv.pad_bottom) : -1;
    int64_t ow = ok ? window_out(x->dims[2], a.conv.kw, a.conv.stride_w, a.conv.dilation_w > 0 ? a.conv.dilation_w : 1, a.conv.pad_left, a.conv.pad_right) : -1;
    if (oh < 0 || ow < 0) {
        kl_diag_error(d, "%s: %s: window does not fit %s", g->source, node_label(n, lb, sizeof lb), ir_type_str(x, ta, sizeof ta));
        return false;
    }
    *out = ir_type_make(x->dtype, 4, (int64_t[]){x->dims[0], oh, ow, oc});
    return true;
}

bool ir_infer_type(const ir_graph *g, const ir_node *n, ir_type *out, kl_diag *d)
{
    char lb[256], ta[64], tb[64], tc[64];
    const kl_op_info *info = &kl_op_table[n->op];
    if (info->arity >= 0 && n->n_in != info->arity) {
        kl_diag_error(d, "%s: %s: expects %d operands, has %d", g->source, node_label(n, lb, sizeof lb),
                      info->arity, n->n_in);
        return false;
    }
    if ((info->flags & KL_OPF_FLOAT) && n->n_in && !kl_dtype_is_float(n->in[0]->type.dtype)) {
        kl_diag_error(d, "%s: %s: needs a floating-point operand, got %s", g->source,
                      node_label(n, lb, sizeof lb), ir_type_str(&n->in[0]->type, ta, sizeof ta));
        return false;
    }
    /* the logical ops are defined on bool only (ir/ops.def) */
    bool logical = n->op == KL_OP_NOT || n->op == KL_OP_AND || n->op == KL_OP_OR;
    for (int i = 0; logical && i < n->n_in; i++)
        if (n->in[i]->type.dtype != KL_BOOL) {
            kl_diag_error(d, "%s: %s: needs bool operands, got %s", g->source, node_label(n, lb, sizeof lb),
                          ir_type_str(&n->in[i]->type, ta, sizeof ta));
            return false;
        }
    switch (info->shape) {
    case IR_SHAPE_GIVEN:
        *out = n->type;
        if (n->op == KL_OP_RESHAPE && ir_type_numel(out) != ir_type_numel(&n->in[0]->type)) {
            kl_diag_error(d, "%s: %s: cannot reshape %s to %s", g->source, node_label(n, lb, sizeof lb),
                          ir_type_str(&n->in[0]->type, ta, sizeof ta), ir_type_str(out, tb, sizeof tb));
            return false;
        }
        if (n->op == KL_OP_RESHAPE && out->dtype != n->in[0]->type.dtype) {
            kl_diag_error(d, "%s: %s: reshape changes dtype", g->source, node_label(n, lb, sizeof lb));
            return false;
        }
        if ((n->op == KL_OP_SLICE || n->op == KL_OP_TILE || n->op == KL_OP_CONV2D_TRANSPOSE || n->op == KL_OP_DYNAMIC_SLICE) && !given_fits(n)) {
            kl_diag_error(d, "%s: %s: %s does not fit its operand %s", g->source, node_label(n, lb, sizeof lb),
                          ir_type_str(out, tb, sizeof tb), ir_type_str(&n->in[0]->type, ta, sizeof ta));
            return false;
        }
        return true;
    case IR_SHAPE_UNARY:
        *out = n->in[0]->type;
        return true;
    case IR_SHAPE_BCAST: {
        const ir_type *a = &n->in[0]->type, *b = &n->in[1]->type;
        if (a->dtype != b->dtype) {
            kl_diag_error(d, "%s: %s: operand dtypes differ: %s vs %s", g->source, node_label(n, lb, sizeof lb),
                          ir_type_str(a, ta, sizeof ta), ir_type_str(b, tb, sizeof tb));
            return false;
        }
        if (!ir_broadcast_shape(a, b, out)) {
            kl_diag_error(d, "%s: %s: shapes %s and %s do not broadcast", g->source,
                          node_label(n, lb, sizeof lb), ir_type_str(a, ta, sizeof ta), ir_type_str(b, tb, sizeof tb));
            return false;
        }
        return true;
    }
    case IR_SHAPE_MATMUL: {
        const ir_type *a = &n->in[0]->type, *b = &n->in[1]->type;
        if (a->rank < 2 || b->rank < 2 || a->dtype != b->dtype) {
            kl_diag_error(d, "%s: %s: needs two operands of rank >= 2 and one dtype, got %s and %s", g->source,
                          node_label(n, lb, sizeof lb), ir_type_str(a, ta, sizeof ta), ir_type_str(b, tb, sizeof tb));
            return false;
        }
        int ra = a->rank, rb = b->rank;
        int64_t m = n->attr.matmul.transpose_a ? a->dims[ra - 1] : a->dims[ra - 2];
        int64_t ka = n->attr.matmul.transpose_a ? a->dims[ra - 2] : a->dims[ra - 1];
        int64_t kb = n->attr.matmul.transpose_b ? b->dims[rb - 1] : b->dims[rb - 2];
        int64_t nn = n->attr.matmul.transpose_b ? b->dims[rb - 2] : b->dims[rb - 1];
        ir_type ba = ir_type_make(a->dtype, ra - 2, a->dims), bb = ir_type_make(b->dtype, rb - 2, b->dims), bo;
        if (ka != kb || !ir_broadcast_shape(&ba, &bb, &bo)) {
            kl_diag_error(d, "%s: %s: operands do not fit: %s x %s (transpose_a=%d, transpose_b=%d)",
                          g->source, node_label(n, lb, sizeof lb), ir_type_str(a, ta, sizeof ta),
                          ir_type_str(b, tb, sizeof tb), n->attr.matmul.transpose_a, n->attr.matmul.transpose_b);
            return false;
        }
        *out = bo;
        out->dims[out->rank++] = m;
        out->dims[out->rank++] = nn;
        return true;
    }
    case IR_SHAPE_REDUCE: {
        const ir_type *a = &n->in[0]->type;
        uint32_t axes = n->attr.reduce.axes;
        if (a->rank < 32 && (axes >> a->rank) != 0) {
            kl_diag_error(d, "%s: %s: reduction axis out of range for %s", g->source,
                          node_label(n, lb, sizeof lb), ir_type_str(a, ta, sizeof ta));
            return false;
        }
        ir_type t = {.dtype = a->dtype};
        for (int i = 0; i < a->rank; i++) {
            if (!(axes & (1u << i))) t.dims[t.rank++] = a->dims[i];
            else if (n->attr.reduce.keep_dims) t.dims[t.rank++] = 1;
        }
        *out = t;
        return true;
    }
    case IR_SHAPE_COMPARE:
    case IR_SHAPE_SELECT:
        return infer_broadcast_n(g, n, out, d);
    case IR_SHAPE_ARG: {
        const ir_type *a = &n->in[0]->type;
        uint32_t axes = n->attr.reduce.axes;
        if (__builtin_popcount(axes) != 1 || axes >> a->rank || (n->type.dtype != KL_I32 && n->type.dtype != KL_I64)) {
            kl_diag_error(d, "%s: %s: needs one axis of %s and an i32/i64 result", g->source,
                          node_label(n, lb, sizeof lb), ir_type_str(a, ta, sizeof ta));
            return false;
        }
        ir_type t = {.dtype = n->type.dtype};
        for (int i = 0; i < a->rank; i++)
            if (!(axes & (1u << i))) t.dims[t.rank++] = a->dims[i];
        *out = t;
        return true;
    }
    case IR_SHAPE_TRANSPOSE: {
        const ir_type *a = &n->in[0]->type;
        ir_type t = {.dtype = a->dtype, .rank = a->rank};
        unsigned seen = 0;
        for (int i = 0; i < a->rank; i++) {
            int p = n->attr.transpose.perm[i];
            if (p < 0 || p >= a->rank || (seen & (1u << p))) {
                kl_diag_error(d, "%s: %s: bad permutation for rank %d", g->source, node_label(n, lb, sizeof lb), a->rank);
                return false;
            }
            seen |= 1u << p;
            t.dims[i] = a->dims[p];
        }
        *out = t;
        return true;
    }
    case IR_SHAPE_PAD: {
        const ir_type *a = &n->in[0]->type;
        ir_type t = *a;
        for (int i = 0; i < a->rank; i++) {
            int64_t lo = n->attr.pad.lo[i], hi = n->attr.pad.hi[i];
            bool reflect = n->attr.pad.mode == IR_PAD_REFLECT || n->attr.pad.mode == IR_PAD_SYMMETRIC;
            int64_t lim = n->attr.pad.mode == IR_PAD_REFLECT ? a->dims[i] - 1 : a->dims[i];
            if (lo < 0 || hi < 0 || lo > KL_MAX_BYTES || hi > KL_MAX_BYTES || (reflect && (lo > lim || hi > lim))) {
                kl_diag_error(d, "%s: %s: bad padding %lld/%lld on axis %d of %s", g->source, node_label(n, lb, sizeof lb),
                              (long long)lo, (long long)hi, i, ir_type_str(a, ta, sizeof ta));
                return false;
            }
            t.dims[i] += lo + hi;
        }
        *out = t;
        return true;
    }
    case IR_SHAPE_CONCAT: {
        if (n->n_in < 1) return kl_diag_error(d, "%s: %s: no operands", g->source, node_label(n, lb, sizeof lb)), false;
        ir_type t = n->in[0]->type;
        int ax = n->attr.concat.axis;
        if (ax < 0 || ax >= t.rank) return kl_diag_error(d, "%s: %s: axis %d out of range", g->source, node_label(n, lb, sizeof lb), ax), false;
        for (int k = 1; k < n->n_in; k++) {
            const ir_type *b = &n->in[k]->type;
            bool fits = b->rank == t.rank && b->dtype == t.dtype;
            for (int i = 0; fits && i < t.rank; i++) fits = i == ax || b->dims[i] == t.dims[i];
            if (!fits) {
                kl_diag_error(d, "%s: %s: cannot concatenate %s and %s on axis %d", g->source, node_label(n, lb, sizeof lb),
                              ir_type_str(&t, ta, sizeof ta), ir_type_str(b, tb, sizeof tb), ax);
                return false;
            }
            t.dims[ax] += b->dims[ax];
        }
        *out = t;
        return true;
    }
    case IR_SHAPE_GATHER: {
        const ir_type *p = &n->in[0]->type, *ix = &n->in[1]->type;
        int ax = n->attr.concat.axis;
        if (ax < 0 || ax >= p->rank || (ix->dtype != KL_I32 && ix->dtype != KL_I64) || p->rank - 1 + ix->rank > IR_MAX_RANK) {
            kl_diag_error(d, "%s: %s: bad gather of %s by %s on axis %d", g->source, node_label(n, lb, sizeof lb),
                          ir_type_str(p, ta, sizeof ta), ir_type_str(ix, tb, sizeof tb), ax);
            return false;
        }
        ir_type t = {.dtype = p->dtype};
        for (int i = 0; i < ax; i++) t.dims[t.rank++] = p->dims[i];
        for (int i = 0; i < ix->rank; i++) t.dims[t.rank++] = ix->dims[i];
        for (int i = ax + 1; i < p->rank; i++) t.dims[t.rank++] = p->dims[i];
        *out = t;
        return true;
    }
    case IR_SHAPE_SCATTER: {
        const ir_type *a = &n->in[0]->type, *ix = &n->in[1]->type, *u = &n->in[2]->type;
        bool ok = a->rank >= 1 && ix->rank == 1 && (ix->dtype == KL_I32 || ix->dtype == KL_I64) && u->dtype == a->dtype &&
                  u->rank == a->rank && u->dims[0] == ix->dims[0] && (unsigned)n->attr.scatter.reduce <= IR_SCATTER_MIN &&
                  (n->attr.scatter.reduce == IR_SCATTER_NONE || a->dtype != KL_BOOL);
        for (int i = 1; ok && i < a->rank; i++) ok = u->dims[i] == a->dims[i];
        if (!ok) {
            kl_diag_error(d, "%s: %s: cannot scatter %s at %s into %s", g->source, node_label(n, lb, sizeof lb),
                          ir_type_str(u, tb, sizeof tb), ir_type_str(ix, tc, sizeof tc), ir_type_str(a, ta, sizeof ta));
            return false;
        }
        *out = *a;
        return true;
    }
    case IR_SHAPE_SCAN: {
        const ir_type *a = &n->in[0]->type;
        int ax = n->attr.concat.axis;
        if (ax < 0 || ax >= a->rank || a->dtype == KL_BOOL) {
            kl_diag_error(d, "%s: %s: cannot scan %s along axis %d", g->source, node_label(n, lb, sizeof lb),
                          ir_type_str(a, ta, sizeof ta), ax);
            return false;
        }
        *out = *a;
        return true;
    }
    case IR_SHAPE_GATHER_ELEMENTS: {
        const ir_type *p = &n->in[0]->type, *ix = &n->in[1]->type;
        int ax = n->attr.concat.axis;
        bool ok = p->rank == ix->rank && ax >= 0 && ax < p->rank && (ix->dtype == KL_I32 || ix->dtype == KL_I64);
        for (int i = 0; ok && i < p->rank; i++) ok = i == ax || ix->dims[i] <= p->dims[i];
        if (!ok) {
            kl_diag_error(d, "%s: %s: bad gather of %s by %s on axis %d", g->source, node_label(n, lb, sizeof lb),
                          ir_type_str(p, ta, sizeof ta), ir_type_str(ix, tb, sizeof tb), ax);
            return false;
        }
        *out = *ix;
        out->dtype = p->dtype;
        return true;
    }
    case IR_SHAPE_CONV:
    case IR_SHAPE_POOL:
        return infer_window(g, n, out, d);
    case IR_SHAPE_REGION:
        *out = ir_type_make(KL_I64, 0, NULL); /* trip count, or the branch taken */
        return true;
    case IR_SHAPE_GET: {
        const ir_node *c = n->in[0];
        int k = n->attr.region.index;
        const ir_graph *r = (c->op == KL_OP_WHILE || c->op == KL_OP_IF) && c->n_regions == 2 ? c->regions[c->op == KL_OP_WHILE] : NULL;
        if (!r || k < 0 || k >= r->n_results) {
            kl_diag_error(d, "%s: %s: no result %d of %%%d (%s)", g->source, node_label(n, lb, sizeof lb), k, c->id,
                          kl_op_name(c->op));
            return false;
        }
        *out = r->results[k].node->type;
        return true;
    }
    case IR_SHAPE_DUS: {
        const ir_type *x = &n->in[0]->type, *u = &n->in[1]->type;
        if (!part_fits(u, x) || !starts_fit(&n->in[2]->type, x)) {
            kl_diag_error(d, "%s: %s: update %s does not fit %s, or start %s is not one int per axis", g->source,
                          node_label(n, lb, sizeof lb), ir_type_str(u, ta, sizeof ta), ir_type_str(x, tb, sizeof tb),
                          ir_type_str(&n->in[2]->type, ta, sizeof ta));
            return false;
        }
        *out = *x;
        return true;
    }
    }
    KL_ASSERT(!"bad shape rule");
}

/* Dims non-negative and at most 2^40 bytes in all: sizes from untrusted
 * shape operands must not overflow later arithmetic. */
static bool type_fits(const ir_type *t)
{
    int64_t bytes = (int64_t)kl_dtype_size(t->dtype);
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] < 0) return false;
        if (t->dims[i] && bytes > ((int64_t)1 << 40) / t->dims[i]) return false;
        bytes *= t->dims[i];
    }
    return true;
}

/* Only the member the op uses survives, the rest is zero: attributes can
 * then be compared and hashed as bytes (passes/cse.c). */
ir_attr ir_attr_normalize(kl_op op, const ir_attr *a)
{
    ir_attr r;
    memset(&r, 0, sizeof r);
    if (!a) return r;
    switch (kl_op_table[op].shape) {
    case IR_SHAPE_MATMUL: r.matmul = a->matmul; break;
    case IR_SHAPE_REDUCE: case IR_SHAPE_ARG: r.reduce = a->reduce; break;
    case IR_SHAPE_TRANSPOSE: memcpy(r.transpose.perm, a->transpose.perm, sizeof r.transpose.perm); break;
    case IR_SHAPE_PAD: r.pad = a->pad; break;
    case IR_SHAPE_CONCAT: case IR_SHAPE_GATHER: case IR_SHAPE_GATHER_ELEMENTS: case IR_SHAPE_SCAN: r.concat = a->concat; break;
    case IR_SHAPE_SCATTER: r.scatter = a->scatter; break;
    case IR_SHAPE_CONV: case IR_SHAPE_POOL: r.conv = a->conv; break;
    case IR_SHAPE_GIVEN:
        if (op == KL_OP_SLICE) r.slice = a->slice;
        else if (op == KL_OP_CONV2D_TRANSPOSE) r.conv = a->conv;
        else if (op == KL_OP_PARAM) r.param = a->param;
        else if (op_is_comm(op)) r.comm = a->comm;
        break;
    case IR_SHAPE_REGION: case IR_SHAPE_GET: r.region = a->region; break;
    case IR_SHAPE_UNARY:
        if (op_is_bucket(op)) r.comm = a->comm;
        break;
    case IR_SHAPE_BCAST: case IR_SHAPE_COMPARE: case IR_SHAPE_SELECT: case IR_SHAPE_DUS: break;
    }
    return r;
}

ir_node *ir_node_new(ir_graph *g, kl_op op, int n_in, ir_node *const *in, const ir_attr *attr,
                     const ir_type *type, const char *name, kl_diag *d)
{
    for (int i = 0; i < n_in; i++)
        if (!in[i]) {
            kl_diag_error(d, "%s: node '%s' (%s): operand %d is missing", g->source, name ? name : "", kl_op_name(op), i);
            return NULL;
        }
    ir_node tmp = {.op = op, .n_in = n_in, .in = (ir_node **)in, .name = name};
    tmp.attr = ir_attr_normalize(op, attr);
    if (type) tmp.type = *type;
    ir_type t;
    if (!ir_infer_type(g, &tmp, &t, d)) return NULL;
    if (!type_fits(&t)) {
        char tb[160];
        kl_diag_error(d, "%s: node '%s' (%s): result %s has a negative or too large dimension", g->source,
                      name ? name : "", kl_op_name(op), ir_type_str(&t, tb, sizeof tb));
        return NULL;
    }
    ir_node *n = append(g, op, n_in, in, name);
    n->attr = tmp.attr;
    n->type = t;
    return n;
}

ir_node *ir_unary(ir_graph *g, kl_op op, ir_node *x, const char *name, kl_diag *d)
{
    return ir_node_new(g, op, 1, &x, NULL, NULL, name, d);
}

ir_node *ir_binary(ir_graph *g, kl_op op, ir_node *a, ir_node *b, const char *name, kl_diag *d)
{
    return ir_node_new(g, op, 2, (ir_node *[]){a, b}, NULL, NULL, name, d);
}

ir_node *ir_reshape(ir_graph *g, ir_node *x, int rank, const int64_t *dims, const char *name, kl_diag *d)
{
    ir_type t = ir_type_make(x->type.dtype, rank, dims);
    return ir_node_new(g, KL_OP_RESHAPE, 1, &x, NULL, &t, name, d);
}

ir_node *ir_cast(ir_graph *g, ir_node *x, kl_dtype to, const char *name)
{
    ir_type t = x->type;
    t.dtype = to;
    return ir_node_new(g, KL_OP_CAST, 1, &x, NULL, &t, name, NULL);
}

void ir_graph_add_result(ir_graph *g, ir_node *n, const char *name)
{
    g->results = grow(g->results, &g->cap_results, g->n_results + 1, sizeof *g->results);
    g->results[g->n_results++] = (ir_result){n, kl_arena_strdup(g->arena, name)};
}

/* ---- rewriting helpers -------------------------------------------------- */

void ir_replace_uses(ir_graph *g, ir_node *from, ir_node *to)
{
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j] == from) n->in[j] = to;
    }
    for (int i = 0; i < g->n_results; i++)
        if (g->results[i].node == from) g->results[i].node = to;
}

void ir_graph_remove_unmarked(ir_graph *g)
{
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->mark) g->nodes[k++] = g->nodes[i];
    g->n_nodes = k;
}

void ir_graph_count_uses(ir_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) g->nodes[i]->n_uses = 0;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i]->n_in; j++) g->nodes[i]->in[j]->n_uses++;
    for (int i = 0; i < g->n_results; i++) g->results[i].node->n_uses++;
}

void ir_graph_move_before(ir_graph *g, ir_node *n, ir_node *before)
{
    int at = -1, from = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i] == before) at = i;
        if (g->nodes[i] == n) from = i;
    }
    KL_ASSERT(at >= 0 && from >= 0 && from > at);
    memmove(g->nodes + at + 1, g->nodes + at, sizeof *g->nodes * (size_t)(from - at));
    g->nodes[at] = n;
}
