/* frontend/tf/tf_ops_sparse.c — the embedding (sparse) gradient path:
 * gathers from variables, Unique, the unsorted segment reductions,
 * scatters into variables and the sparse optimizer updates
 * (docs/training.md "Sparse gradients").
 *
 * Everything lowers onto GATHER and SCATTER (ir/ops.def).  Shapes are
 * static, so Unique's data-dependent output is given a static bound: y has
 * the input's length, the distinct values first (in order of first
 * occurrence, as TensorFlow's) and -1 after them; idx is exact.  Every op
 * TensorFlow's optimizers put after Unique is exact with it: the segment
 * sum gets num_segments = Shape(y)[0] = the bound, so its rows past the
 * count are zero, and the scatters and sparse updates here drop an index
 * outside [0, rows) — the -1s — instead of writing.  (TensorFlow raises
 * InvalidArgument for such an index; Kiln has no run-time error path in a
 * kernel, so a scatter drops it and a gather clamps it: never an access
 * outside a buffer.)
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tf_internal.h"

static ir_node *i64s(imp *c, double v) { return ir_scalar(c->g, KL_I64, v); }

static ir_node *op2(imp *c, const tf_node *n, kl_op op, ir_node *a, ir_node *b)
{
    return a && b ? tf_op(c, n, op, 2, (ir_node *[]){a, b}, NULL, NULL) : NULL;
}

static ir_node *sel(imp *c, const tf_node *n, ir_node *p, ir_node *a, ir_node *b)
{
    return p && a && b ? tf_op(c, n, KL_OP_SELECT, 3, (ir_node *[]){p, a, b}, NULL, NULL) : NULL;
}

static ir_node *reduce(imp *c, const tf_node *n, kl_op op, ir_node *x, int axis)
{
    if (!x) return NULL;
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.reduce.axes = 1u << axis;
    return tf_op(c, n, op, 1, &x, &a, NULL);
}

static ir_node *to_i64(imp *c, const tf_node *n, ir_node *x) { return x ? tf_cast(c, n, x, KL_I64) : NULL; }

/* 0..len-1 (int64) shaped [len] with the given rank/axis layout. */
static ir_node *iota(imp *c, int64_t len, int rank, int axis)
{
    int64_t dims[IR_MAX_RANK];
    for (int i = 0; i < rank; i++) dims[i] = i == axis ? len : 1;
    int64_t *v = kl_calloc(c->d, (size_t)len + 1, sizeof *v, "an index range");
    if (!v) return NULL;
    for (int64_t i = 0; i < len; i++) v[i] = i;
    ir_node *k = ir_const(c->g, ir_type_make(KL_I64, rank, dims), v, NULL);
    free(v);
    return k;
}

/* x of type t broadcast to dims (a constant filler). */
static ir_node *filled(imp *c, const tf_node *n, kl_dtype t, double v, int rank, const int64_t *dims)
{
    int64_t ones[IR_MAX_RANK];
    for (int i = 0; i < rank; i++) ones[i] = 1;
    ir_node *s = tf_reshape(c, n, ir_scalar(c->g, t, v), rank, ones);
    ir_type ty = ir_type_make(t, rank, dims);
    return s ? tf_op(c, n, KL_OP_TILE, 1, &s, NULL, &ty) : NULL;
}

/* Index checks (sparse updates): indices outside [0, rows) become `rows`,
 * which their dropping scatters skip. */
static ir_node *spare_index(imp *c, const tf_node *n, ir_node *idx, int64_t rows)
{
    ir_node *lo = op2(c, n, KL_OP_LESS, idx, i64s(c, 0)), *hi = op2(c, n, KL_OP_GREATER_EQUAL, idx, i64s(c, (double)rows));
    return sel(c, n, op2(c, n, KL_OP_OR, lo, hi), i64s(c, (double)rows), idx);
}

/* data [R, row...] with the update rows of upd ([U, row...], U = numel of
 * idx) combined in order at idx; an index outside [0, R) writes nothing. */
static ir_node *scatter_rows(imp *c, const tf_node *n, ir_node *data, ir_node *idx, ir_node *upd, ir_scatter_reduce red)
{
    if (!data || !idx || !upd) return NULL;
    const ir_type *t = &data->type;
    if (t->rank < 1) return tf_err(c, n, "cannot scatter into a scalar");
    if (idx->type.dtype != KL_I32 && idx->type.dtype != KL_I64) return tf_err(c, n, "indices must be int32 or int64");
    int64_t rows = t->dims[0], row = rows ? ir_type_numel(t) / rows : 1, u = ir_type_numel(&idx->type);
    int64_t udims[IR_MAX_RANK];
    udims[0] = u;
    for (int i = 1; i < t->rank; i++) udims[i] = t->dims[i];
    if (upd->type.dtype != t->dtype) return tf_err(c, n, "updates of another dtype than the data");
    if (ir_type_numel(&upd->type) == 1 && u * row != 1) /* a scalar update broadcasts */
        upd = op2(c, n, KL_OP_ADD, filled(c, n, t->dtype, 0, t->rank, udims), tf_reshape(c, n, upd, 0, NULL));
    else if (ir_type_numel(&upd->type) != u * row) {
        char a[64], b[64];
        return tf_err(c, n, "updates %s do not fit %lld indices into %s", ir_type_str(&upd->type, a, sizeof a), (long long)u,
                      ir_type_str(t, b, sizeof b));
    } else upd = tf_reshape(c, n, upd, t->rank, udims);
    ir_node *ix = tf_reshape(c, n, to_i64(c, n, idx), 1, &u);
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.scatter.reduce = red;
    a.scatter.drop = true; /* in place of a spare row: no copy of the data (and none of the variable) */
    return ix && upd ? tf_op(c, n, KL_OP_SCATTER, 3, (ir_node *[]){data, ix, upd}, &a, NULL) : NULL;
}

/* ---- reads ---------------------------------------------------------------- */

/* ResourceGather (resource, indices): the variable's rows at indices
 * (batch_dims 0); an out-of-range index is clamped, as GatherV2's. */
ir_node *imp_resource_gather(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    if (tf_attr_int(n, "batch_dims", 0) != 0) return tf_err(c, n, "batch_dims other than 0 is not supported");
    int v = tf_state_var(c, n, in[0], "input 0");
    if (v < 0) return NULL;
    ir_node *x = tf_state_read(c, v);
    if (x->type.rank < 1) return tf_err(c, n, "cannot gather from a scalar variable");
    ir_attr a;
    memset(&a, 0, sizeof a);
    return tf_op(c, n, KL_OP_GATHER, 2, (ir_node *[]){x, in[1]}, &a, NULL);
}

/* VariableShape (resource): the variable's static shape. */
ir_node *imp_variable_shape(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 1)) return NULL;
    int v = tf_state_var(c, n, in[0], "input 0");
    if (v < 0) return NULL;
    const ir_type *t = &tf_state_read(c, v)->type;
    int64_t r = t->rank;
    ir_node *k = ir_const(c->g, ir_type_make(KL_I64, 1, &r), t->dims, NULL);
    return tf_cast(c, n, k, tf_attr_dtype(n, "out_type", KL_I32));
}

/* ---- Unique ----------------------------------------------------------------- */

/* Unique / UniqueWithCounts (x [L]): y [L] = the distinct values in order of
 * first occurrence, then -1 (cast to x's type); idx [L] = the position of
 * x[i] in y (exact); counts [L] = occurrences of y[k] (0 past the distinct
 * count).  O(L^2) compares: eq[i][j] = x[i] == x[j]. */
ir_node *imp_unique(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 1)) return NULL;
    ir_node *x = in[0];
    if (x->type.rank != 1) return tf_err(c, n, "needs a vector (UniqueV2's axis form is not supported)");
    int64_t L = x->type.dims[0];
    if (L < 1) return tf_err(c, n, "needs a non-empty vector");
    if (L > 4096) return tf_err(c, n, "more than 4096 values (Unique is O(n^2) here: an n x n compare)");
    kl_dtype it = tf_attr_dtype(n, "out_idx", KL_I32);
    int64_t col[2] = {L, 1}, rowd[2] = {1, L};
    ir_node *eq = op2(c, n, KL_OP_EQUAL, tf_reshape(c, n, x, 2, col), tf_reshape(c, n, x, 2, rowd));
    ir_node *ii = iota(c, L, 2, 0), *jj = iota(c, L, 2, 1);
    ir_node *earlier = op2(c, n, KL_OP_LESS, jj, ii); /* [i][j]: j < i */
    ir_node *dup = reduce(c, n, KL_OP_REDUCE_MAX, to_i64(c, n, op2(c, n, KL_OP_AND, eq, earlier)), 1); /* [L] */
    ir_node *first = op2(c, n, KL_OP_SUB, i64s(c, 1), dup);
    ir_node *incl = first ? ir_scan(c->g, KL_OP_CUMSUM, first, 0, false, false, n->name, c->d) : NULL;
    ir_node *rank = op2(c, n, KL_OP_SUB, incl, first); /* distinct values before i */
    ir_node *count = reduce(c, n, KL_OP_REDUCE_SUM, first, 0);
    /* idx[i] = rank[j] of the first j with x[j] == x[i] */
    ir_node *firstj = tf_reshape(c, n, op2(c, n, KL_OP_GREATER, first, i64s(c, 0)), 2, rowd);
    ir_node *idx = reduce(c, n, KL_OP_REDUCE_SUM, sel(c, n, op2(c, n, KL_OP_AND, eq, firstj), tf_reshape(c, n, rank, 2, rowd), i64s(c, 0)), 1);
    /* y[k] = x[p_k], p_k = #{i : incl[i] <= k} is where the (k+1)-th distinct value first occurs */
    ir_node *pos = reduce(c, n, KL_OP_REDUCE_SUM, to_i64(c, n, op2(c, n, KL_OP_LESS_EQUAL, tf_reshape(c, n, incl, 2, rowd), ii)), 1);
    pos = op2(c, n, KL_OP_MIN, pos, i64s(c, (double)(L - 1)));
    ir_attr a;
    memset(&a, 0, sizeof a);
    ir_node *g = x && pos ? tf_op(c, n, KL_OP_GATHER, 2, (ir_node *[]){x, pos}, &a, NULL) : NULL;
    ir_node *k = iota(c, L, 1, 0);
    ir_node *y = sel(c, n, op2(c, n, KL_OP_LESS, k, count), g, ir_scalar(c->g, x->type.dtype, -1));
    if (!y || !idx) return NULL;
    c->outs[0] = y;
    c->outs[1] = tf_cast(c, n, idx, it);
    c->n_outs = 2;
    if (n->op && !strcmp(n->op, "UniqueWithCounts")) {
        ir_node *hit = op2(c, n, KL_OP_EQUAL, tf_reshape(c, n, idx, 2, rowd), ii); /* [k][i] */
        ir_node *cnt = reduce(c, n, KL_OP_REDUCE_SUM, to_i64(c, n, hit), 1);
        if (!cnt) return NULL;
        c->outs[2] = tf_cast(c, n, cnt, it);
        c->n_outs = 3;
    }
    if (c->n_unique_y < (int)(sizeof c->unique_y / sizeof *c->unique_y)) c->unique_y[c->n_unique_y++] = y;
    return y;
}

/* ---- segment reductions ---------------------------------------------------- */

/* UnsortedSegment{Sum,Prod,Max,Min} (data, segment_ids, num_segments):
 * out[s] combines, in order, the rows of data whose id is s; an empty
 * segment holds 0, 1, the lowest or the highest value (TensorFlow's); a
 * negative id is dropped (as TensorFlow), an id >= num_segments too (TF:
 * InvalidArgument). */
ir_node *imp_unsorted_segment(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 3)) return NULL;
    ir_node *data = in[0], *ids = in[1];
    int64_t ns;
    if (tf_read_ints(c, n, in[2], "num_segments", &ns, 1) != 1) return NULL;
    if (ns < 0) return tf_err(c, n, "num_segments %lld is negative", (long long)ns);
    const ir_type *dt = &data->type, *it = &ids->type;
    if (it->rank > dt->rank) return tf_err(c, n, "segment_ids have a higher rank than the data");
    for (int i = 0; i < it->rank; i++)
        if (it->dims[i] != dt->dims[i]) return tf_err(c, n, "segment_ids' shape is not a prefix of the data's");
    if (dt->rank - it->rank + 1 > IR_MAX_RANK) return tf_err(c, n, "rank too high");
    int64_t dims[IR_MAX_RANK];
    int r = 0;
    dims[r++] = ns;
    for (int i = it->rank; i < dt->rank; i++) dims[r++] = dt->dims[i];
    bool fl = kl_dtype_is_float(dt->dtype);
    ir_scatter_reduce red;
    double init;
    const char *o = n->op;
    if (strstr(o, "Sum")) red = IR_SCATTER_ADD, init = 0;
    else if (strstr(o, "Prod")) red = IR_SCATTER_MUL, init = 1;
    else if (strstr(o, "Max")) {
        red = IR_SCATTER_MAX;
        init = dt->dtype == KL_F32 ? -FLT_MAX : fl ? -DBL_MAX : dt->dtype == KL_I32 ? (double)INT32_MIN : dt->dtype == KL_I64 ? (double)INT64_MIN : 0;
    } else {
        red = IR_SCATTER_MIN;
        init = dt->dtype == KL_F32 ? FLT_MAX : fl ? DBL_MAX : dt->dtype == KL_I32 ? (double)INT32_MAX : dt->dtype == KL_I64 ? (double)INT64_MAX : 0;
    }
    if ((dt->dtype == KL_F16 && (red == IR_SCATTER_MAX || red == IR_SCATTER_MIN)))
        init = red == IR_SCATTER_MAX ? -65504.0 : 65504.0;
    if (!fl && dt->dtype != KL_I32 && dt->dtype != KL_I64) return tf_err(c, n, "unsupported data type");
    ir_node *z = filled(c, n, dt->dtype, init, r, dims);
    return scatter_rows(c, n, z, ids, data, red);
}

/* ---- scatters into variables ------------------------------------------------- */

static ir_scatter_reduce scatter_kind(const char *op, bool *neg)
{
    *neg = strstr(op, "Sub") != NULL;
    return strstr(op, "Add") || *neg ? IR_SCATTER_ADD : strstr(op, "Mul") ? IR_SCATTER_MUL
         : strstr(op, "Max") ? IR_SCATTER_MAX : strstr(op, "Min") ? IR_SCATTER_MIN : IR_SCATTER_NONE;
}

/* Resource/ref Scatter{Add,Sub,Mul,Min,Max,Update} (var, indices, updates):
 * the variable's rows at indices combined with the update rows in order
 * (duplicates accumulate; Update: the last one wins, as TF's CPU kernel). */
ir_node *imp_scatter_var(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 3)) return NULL;
    int v = tf_state_var(c, n, in[0], "input 0");
    if (v < 0) return NULL;
    bool neg;
    ir_scatter_reduce red = scatter_kind(n->op, &neg);
    ir_node *upd = neg ? tf_unary(c, n, KL_OP_NEG, in[2]) : in[2];
    ir_node *y = scatter_rows(c, n, tf_state_read(c, v), in[1], upd, red);
    if (!y || !tf_state_write(c, n, v, y)) return NULL;
    return strncmp(n->op, "Resource", 8) ? in[0] : tf_state_none(c);
}

/* ---- sparse optimizer updates ------------------------------------------------ */

/* TensorFlow's SparseApply* kernels update row indices[i] with grad[i] for
 * i in order, so a repeated index sees the row its earlier occurrence
 * wrote.  Kiln applies them in rounds: round r updates the r-th occurrence
 * of every index (distinct rows: gather, update, scatter), so a repeated
 * index is exact.  Indices that are Unique's y (TF's optimizers dedupe
 * first) or constants without repeats need one round; others get one
 * round per position.  An index outside [0, rows) is dropped. */
typedef struct sparse {
    int var[3], n_var;
    ir_node *cur[3];
} sparse;

typedef ir_node *(*sparse_fn)(imp *c, const tf_node *n, ir_node **rows, ir_node *grad, ir_node **in, ir_node **next);

static bool known_distinct(imp *c, ir_node *idx)
{
    for (int i = 0; i < c->n_unique_y; i++)
        if (c->unique_y[i] == idx) return true;
    if (idx->op != KL_OP_CONST) return false;
    int64_t u = ir_type_numel(&idx->type);
    for (int64_t a = 0; a < u; a++)
        for (int64_t b = 0; b < a; b++) {
            int64_t x = idx->type.dtype == KL_I32 ? ((const int32_t *)idx->data)[a] : ((const int64_t *)idx->data)[a];
            int64_t y = idx->type.dtype == KL_I32 ? ((const int32_t *)idx->data)[b] : ((const int64_t *)idx->data)[b];
            if (x == y && x >= 0) return false;
        }
    return true;
}

static ir_node *sparse_apply(imp *c, const tf_node *n, ir_node **in, int n_in, int want, int n_var, int grad_at, int idx_at,
                             sparse_fn fn)
{
    if (!tf_want_inputs(c, n, n_in, want)) return NULL;
    sparse s = {.n_var = n_var};
    for (int k = 0; k < n_var; k++) {
        char what[32];
        snprintf(what, sizeof what, "input %d", k);
        if ((s.var[k] = tf_state_var(c, n, in[k], what)) < 0) return NULL;
        s.cur[k] = tf_state_read(c, s.var[k]);
        if (!ir_type_equal(&s.cur[k]->type, &s.cur[0]->type)) return tf_err(c, n, "the slots differ in type from the variable");
    }
    ir_node *grad = in[grad_at], *idx = in[idx_at];
    const ir_type *t = &s.cur[0]->type;
    if (t->rank < 1) return tf_err(c, n, "needs a variable of rank >= 1");
    if (idx->type.rank != 1 || (idx->type.dtype != KL_I32 && idx->type.dtype != KL_I64)) return tf_err(c, n, "indices must be an int vector");
    int64_t rows = t->dims[0], u = idx->type.dims[0], gd[IR_MAX_RANK];
    gd[0] = u;
    for (int i = 1; i < t->rank; i++) gd[i] = t->dims[i];
    ir_type gt = ir_type_make(t->dtype, t->rank, gd);
    if (!ir_type_equal(&grad->type, &gt)) return tf_err(c, n, "grad does not have the rows of the indices");
    ir_node *ix = spare_index(c, n, to_i64(c, n, idx), rows);
    int rounds = known_distinct(c, idx) ? 1 : (int)u;
    if (rounds > 256) return tf_err(c, n, "indices of unknown repeats longer than 256 (deduplicate them first)");
    ir_node *occ = NULL; /* occurrence number of each position: #{j < i : idx[j] == idx[i]} */
    if (rounds > 1) {
        int64_t col[2] = {u, 1}, rowd[2] = {1, u};
        ir_node *eq = op2(c, n, KL_OP_EQUAL, tf_reshape(c, n, ix, 2, col), tf_reshape(c, n, ix, 2, rowd));
        ir_node *earlier = op2(c, n, KL_OP_LESS, iota(c, u, 2, 1), iota(c, u, 2, 0));
        occ = reduce(c, n, KL_OP_REDUCE_SUM, to_i64(c, n, op2(c, n, KL_OP_AND, eq, earlier)), 1);
    }
    /* each variable updated by dropping scatters: index `rows` (an index
     * outside the variable, or not this round's) writes nothing, and its
     * gathered row (clamped) is computed but never written */
    ir_node *ext[3];
    for (int k = 0; k < n_var; k++) ext[k] = s.cur[k];
    for (int r = 0; r < rounds; r++) {
        ir_node *at = rounds > 1 ? sel(c, n, op2(c, n, KL_OP_EQUAL, occ, i64s(c, r)), ix, i64s(c, (double)rows)) : ix;
        ir_node *cur[3], *next[3] = {0};
        ir_attr ga;
        memset(&ga, 0, sizeof ga);
        for (int k = 0; k < n_var; k++)
            cur[k] = ext[k] && at ? tf_op(c, n, KL_OP_GATHER, 2, (ir_node *[]){ext[k], at}, &ga, NULL) : NULL;
        if (!cur[0] || (n_var > 1 && !cur[1]) || (n_var > 2 && !cur[2])) return NULL;
        if (!fn(c, n, cur, grad, in, next)) return NULL;
        ir_attr sa;
        memset(&sa, 0, sizeof sa);
        sa.scatter.reduce = IR_SCATTER_NONE;
        sa.scatter.drop = true;
        for (int k = 0; k < n_var; k++)
            ext[k] = next[k] ? tf_op(c, n, KL_OP_SCATTER, 3, (ir_node *[]){ext[k], at, next[k]}, &sa, NULL) : NULL;
    }
    for (int k = 0; k < n_var; k++)
        if (!ext[k] || !tf_state_write(c, n, s.var[k], ext[k])) return NULL;
    return strncmp(n->op, "Resource", 8) ? in[0] : tf_state_none(c);
}

#define B(op, a, b) op2(c, n, KL_OP_##op, a, b)

/* Momentum (var, accum,
 * lr, grad, indices, momentum): accum = accum * momentum + grad;
 * var -= nesterov ? grad * lr + accum * momentum * lr : accum * lr */
static ir_node *f_momentum(imp *c, const tf_node *n, ir_node **row, ir_node *grad, ir_node **in, ir_node **next)
{
    ir_node *lr = in[2], *mom = in[5];
    ir_node *accum = B(ADD, B(MUL, row[1], mom), grad);
    ir_node *step = tf_attr_bool(n, "use_nesterov", false) ? B(ADD, B(MUL, grad, lr), B(MUL, B(MUL, accum, mom), lr)) : B(MUL, accum, lr);
    next[0] = B(SUB, row[0], step), next[1] = accum;
    return next[0];
}

/* Adagrad (var, accum, lr, grad, indices): accum += grad^2 (update_slots);
 * var -= lr * grad * rsqrt(accum).  V2 (var, accum, lr, epsilon, grad,
 * indices): var -= lr * grad / (sqrt(accum) + epsilon). */
static ir_node *f_adagrad(imp *c, const tf_node *n, ir_node **row, ir_node *grad, ir_node **in, ir_node **next)
{
    bool v2 = strstr(n->op, "V2") != NULL;
    ir_node *lr = in[2];
    ir_node *accum = tf_attr_bool(n, "update_slots", true) ? B(ADD, row[1], tf_unary(c, n, KL_OP_SQUARE, grad)) : row[1];
    ir_node *step = v2 ? B(DIV, B(MUL, lr, grad), B(ADD, tf_unary(c, n, KL_OP_SQRT, accum), in[3]))
                       : B(MUL, B(MUL, lr, grad), tf_unary(c, n, KL_OP_RSQRT, accum));
    next[0] = B(SUB, row[0], step), next[1] = accum;
    return next[0];
}

/* RMSProp (var, ms, mom, lr, rho, momentum, epsilon, grad, indices):
 * ms = ms * rho + grad^2 * (1 - rho); mom = mom * momentum + rsqrt(ms + epsilon) * lr * grad; var -= mom */
static ir_node *f_rmsprop(imp *c, const tf_node *n, ir_node **row, ir_node *grad, ir_node **in, ir_node **next)
{
    ir_node *lr = in[3], *rho = in[4], *momentum = in[5], *eps = in[6];
    ir_node *one = ir_scalar(c->g, row[0]->type.dtype, 1.0);
    ir_node *ms = B(ADD, B(MUL, row[1], rho), B(MUL, tf_unary(c, n, KL_OP_SQUARE, grad), B(SUB, one, rho)));
    ir_node *mom = B(ADD, B(MUL, row[2], momentum), B(MUL, B(MUL, tf_unary(c, n, KL_OP_RSQRT, B(ADD, ms, eps)), lr), grad));
    next[0] = B(SUB, row[0], mom), next[1] = ms, next[2] = mom;
    return next[0];
}

ir_node *imp_sparse_apply(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    const char *o = n->op + (strncmp(n->op, "Resource", 8) ? 0 : 8);
    if (!strcmp(o, "SparseApplyMomentum")) return sparse_apply(c, n, in, n_in, 6, 2, 3, 4, f_momentum);
    if (!strcmp(o, "SparseApplyAdagrad")) return sparse_apply(c, n, in, n_in, 5, 2, 3, 4, f_adagrad);
    if (!strcmp(o, "SparseApplyAdagradV2")) return sparse_apply(c, n, in, n_in, 6, 2, 4, 5, f_adagrad);
    if (!strcmp(o, "SparseApplyRMSProp")) return sparse_apply(c, n, in, n_in, 9, 3, 7, 8, f_rmsprop);
    return tf_err(c, n, "unsupported sparse update");
}
