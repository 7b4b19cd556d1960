/* ir/gather_scatter.c — builders for GatherND, ScatterND and
 * ScatterElements (ONNX and TensorFlow), on GATHER and SCATTER.
 *
 * Each turns its multi-dimensional indices into one linear index per
 * update into the data with its leading axes merged: sum over index
 * components of component * (product of the merged dims after it), each
 * component wrapped once if negative.  The index arithmetic is int64
 * elementwise code (it folds away when the indices are constants); the
 * gather or scatter then moves whole rows.
 */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct bld {
    ir_graph *g;
    const char *name;
    kl_diag *d;
} bld;

static ir_node *op2(bld *b, kl_op op, ir_node *x, ir_node *y)
{
    return x && y ? ir_node_folded(b->g, op, 2, (ir_node *[]){x, y}, NULL, NULL, b->name, b->d) : NULL;
}

static ir_node *reshape(bld *b, ir_node *x, int rank, const int64_t *dims)
{
    if (!x) return NULL;
    ir_type t = ir_type_make(x->type.dtype, rank, dims);
    return ir_node_folded(b->g, KL_OP_RESHAPE, 1, &x, NULL, &t, b->name, b->d);
}

static ir_node *i64(bld *b, double v) { return ir_scalar(b->g, KL_I64, v); }

/* idx < 0 ? idx + dim : idx */
static ir_node *wrap(bld *b, ir_node *idx, int64_t dim)
{
    ir_node *neg = op2(b, KL_OP_LESS, idx, i64(b, 0));
    ir_node *sh = op2(b, KL_OP_ADD, idx, i64(b, (double)dim));
    return neg && sh ? ir_node_folded(b->g, KL_OP_SELECT, 3, (ir_node *[]){neg, sh, idx}, NULL, NULL, b->name, b->d) : NULL;
}

/* 0..dims[axis]-1 along axis, shaped [1, .., dims[axis], .., 1] (int64). */
static ir_node *iota(bld *b, int rank, const int64_t *dims, int axis)
{
    int64_t shape[IR_MAX_RANK], n = dims[axis];
    for (int i = 0; i < rank; i++) shape[i] = i == axis ? n : 1;
    int64_t *v = malloc(sizeof *v * (size_t)(n ? n : 1));
    if (!v) return kl_diag_error(b->d, "%s: out of memory", b->g->source), NULL;
    for (int64_t i = 0; i < n; i++) v[i] = i;
    ir_node *k = ir_const(b->g, ir_type_make(KL_I64, rank, shape), v, NULL);
    free(v);
    return k;
}

/* Component j of indices [..., K] as [...] (int64, wrapped into dim). */
static ir_node *component(bld *b, ir_node *idx, int j, int64_t dim)
{
    const ir_type *t = &idx->type;
    ir_attr a;
    memset(&a, 0, sizeof a);
    ir_type st = *t;
    for (int i = 0; i < t->rank; i++) a.slice.stride[i] = 1;
    a.slice.begin[t->rank - 1] = j, st.dims[t->rank - 1] = 1;
    ir_node *s = ir_node_folded(b->g, KL_OP_SLICE, 1, &idx, &a, &st, b->name, b->d);
    return wrap(b, reshape(b, s, t->rank - 1, t->dims), dim);
}

/* Linear index into data's first nb + K axes merged, for indices
 * [B (nb axes)..., M..., K]: batch positions from iotas, then the K
 * components.  Shape: the indices' without the last axis. */
static ir_node *linear_nd(bld *b, const ir_type *data, ir_node *idx, int nb)
{
    int K = (int)idx->type.dims[idx->type.rank - 1], r = idx->type.rank - 1;
    int64_t stride[IR_MAX_RANK], s = 1;
    for (int a = nb + K - 1; a >= 0; a--) stride[a] = s, s *= data->dims[a];
    ir_node *lin = i64(b, 0);
    for (int a = 0; a < nb; a++)
        lin = op2(b, KL_OP_ADD, lin, op2(b, KL_OP_MUL, iota(b, r, idx->type.dims, a), i64(b, (double)stride[a])));
    for (int j = 0; j < K; j++)
        lin = op2(b, KL_OP_ADD, lin, op2(b, KL_OP_MUL, component(b, idx, j, data->dims[nb + j]), i64(b, (double)stride[nb + j])));
    if (!lin) return NULL;
    ir_type full = ir_type_make(KL_I64, r, idx->type.dims); /* K = 0: broadcast the batch part */
    if (ir_type_equal(&lin->type, &full)) return lin;
    if (lin->type.rank != r) {
        int64_t ones[IR_MAX_RANK];
        for (int i = 0; i < r; i++) ones[i] = 1;
        lin = reshape(b, lin, r, ones);
    }
    return lin ? ir_node_folded(b->g, KL_OP_TILE, 1, &lin, NULL, &full, b->name, b->d) : NULL;
}

static ir_node *to_i64(bld *b, ir_node *x)
{
    ir_type t = x->type;
    t.dtype = KL_I64;
    return ir_node_folded(b->g, KL_OP_CAST, 1, &x, NULL, &t, b->name, b->d);
}

static bool nd_ok(bld *b, const ir_node *data, const ir_node *idx, int nb, const char *what)
{
    bool ok = data && idx && idx->type.rank >= 1 && (idx->type.dtype == KL_I32 || idx->type.dtype == KL_I64) && nb >= 0 &&
              nb < idx->type.rank && nb + idx->type.dims[idx->type.rank - 1] <= data->type.rank && idx->type.dims[idx->type.rank - 1] >= 0;
    for (int i = 0; ok && i < nb; i++) ok = idx->type.dims[i] == data->type.dims[i];
    if (!ok && data && idx)
        kl_diag_error(b->d, "%s: node '%s' (%s): indices do not fit the data", b->g->source, b->name ? b->name : "", what);
    return ok;
}

ir_node *ir_gather_nd(ir_graph *g, ir_node *data, ir_node *indices, int batch_dims, const char *name, kl_diag *d)
{
    bld b = {g, name, d};
    if (!nd_ok(&b, data, indices, batch_dims, "gather_nd")) return NULL;
    const ir_type *t = &data->type;
    int K = (int)indices->type.dims[indices->type.rank - 1], m = batch_dims + K;
    ir_node *idx = to_i64(&b, indices);
    ir_node *lin = linear_nd(&b, t, idx, batch_dims);
    int64_t dims[IR_MAX_RANK + 1], lead = 1;
    for (int i = 0; i < m; i++) lead *= t->dims[i];
    dims[0] = lead;
    for (int i = m; i < t->rank; i++) dims[1 + i - m] = t->dims[i];
    ir_node *flat = reshape(&b, data, 1 + t->rank - m, dims);
    ir_attr a;
    memset(&a, 0, sizeof a);
    return flat && lin ? ir_node_folded(g, KL_OP_GATHER, 2, (ir_node *[]){flat, lin}, &a, NULL, name, d) : NULL;
}

/* data viewed as [rows, row], updates as [U, row], linear row indices [U]. */
static ir_node *scatter_rows(bld *b, ir_node *data, ir_node *lin, ir_node *updates, int64_t rows, ir_scatter_reduce red)
{
    int64_t total = ir_type_numel(&data->type), row = rows ? total / rows : 0, u = lin ? ir_type_numel(&lin->type) : 0;
    if (ir_type_numel(&updates->type) != u * row)
        return kl_diag_error(b->d, "%s: node '%s' (scatter): updates do not fit the indices", b->g->source, b->name ? b->name : ""), NULL;
    ir_node *d2 = reshape(b, data, 2, (int64_t[]){rows, row}), *u2 = reshape(b, updates, 2, (int64_t[]){u, row});
    ir_node *l1 = reshape(b, lin, 1, &u);
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.scatter.reduce = red;
    ir_node *y = d2 && u2 && l1 ? ir_node_folded(b->g, KL_OP_SCATTER, 3, (ir_node *[]){d2, l1, u2}, &a, NULL, b->name, b->d) : NULL;
    return reshape(b, y, data->type.rank, data->type.dims);
}

ir_node *ir_scatter_nd(ir_graph *g, ir_node *data, ir_node *indices, ir_node *updates, ir_scatter_reduce red,
                       const char *name, kl_diag *d)
{
    bld b = {g, name, d};
    if (!updates || !nd_ok(&b, data, indices, 0, "scatter_nd")) return NULL;
    int K = (int)indices->type.dims[indices->type.rank - 1];
    int64_t rows = 1;
    for (int i = 0; i < K; i++) rows *= data->type.dims[i];
    ir_node *lin = linear_nd(&b, &data->type, to_i64(&b, indices), 0);
    return lin ? scatter_rows(&b, data, lin, updates, rows, red) : NULL;
}

ir_node *ir_scatter_elements(ir_graph *g, ir_node *data, ir_node *indices, ir_node *updates, int axis,
                             ir_scatter_reduce red, const char *name, kl_diag *d)
{
    bld b = {g, name, d};
    if (!data || !indices || !updates) return NULL;
    const ir_type *t = &data->type, *it = &indices->type;
    bool ok = it->rank == t->rank && axis >= 0 && axis < t->rank && ir_type_numel(&updates->type) == ir_type_numel(it) &&
              (it->dtype == KL_I32 || it->dtype == KL_I64);
    for (int i = 0; ok && i < t->rank; i++) ok = i == axis || it->dims[i] <= t->dims[i];
    if (!ok) return kl_diag_error(d, "%s: node '%s' (scatter_elements): indices do not fit the data", g->source, name ? name : ""), NULL;
    ir_node *idx = wrap(&b, to_i64(&b, indices), t->dims[axis]), *lin = i64(&b, 0);
    int64_t s = 1;
    for (int a = t->rank - 1; a >= 0; a--) {
        ir_node *pos = a == axis ? idx : iota(&b, it->rank, it->dims, a);
        lin = op2(&b, KL_OP_ADD, lin, op2(&b, KL_OP_MUL, pos, i64(&b, (double)s)));
        s *= t->dims[a];
    }
    return scatter_rows(&b, data, lin, updates, ir_type_numel(t), red);
}
