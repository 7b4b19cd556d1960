/* frontend/onnx/onnx_ops_static.c — ops whose result shape depends on
 * values (Unique, Compress, NonZero, ReverseSequence's lengths): Kiln has
 * static shapes, so those values must be constants (an initializer, a
 * folded expression, or a feed bound with --bind / kiln_model_bind), and
 * the op becomes a gather with constant indices or a constant.  Also the
 * normalizations and resamplings that are short compositions: LRN,
 * MeanVarianceNormalization, Upsample (nearest).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

static double elem(kl_dtype t, const void *p, int64_t i) { return ir_load_double(t, p, i); }

static ir_node *need_const(ox *c, const ox_node *n, ir_node *v, const char *what)
{
    if (v && v->op == KL_OP_CONST) return v;
    return ox_err(c, n, "%s must be a constant (its values decide the result's shape; bind the feed with --bind)", what);
}

static ir_node *i64_const(ox *c, int rank, const int64_t *dims, const int64_t *v)
{
    return ir_const(c->g, ir_type_make(KL_I64, rank, dims), v, NULL);
}

static ir_node *gather(ox *c, const ox_node *n, ir_node *x, int axis, const int64_t *idx, int64_t count)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.concat.axis = axis;
    ir_node *k = i64_const(c, 1, &count, idx);
    return ox_op(c, n, KL_OP_GATHER, 2, (ir_node *[]){x, k}, &a, NULL);
}

/* ---- Unique --------------------------------------------------------------- */

typedef struct slices {
    const ir_node *x;
    int64_t outer, len, inner; /* x viewed as [outer, len, inner]; slice i = x[:, i, :] */
} slices;

static int cmp_slices(const slices *s, int64_t a, int64_t b)
{
    for (int64_t o = 0; o < s->outer; o++)
        for (int64_t j = 0; j < s->inner; j++) {
            double va = elem(s->x->type.dtype, s->x->data, (o * s->len + a) * s->inner + j);
            double vb = elem(s->x->type.dtype, s->x->data, (o * s->len + b) * s->inner + j);
            if (va != vb) return va < vb ? -1 : 1;
        }
    return 0;
}

/* Y, indices, inverse_indices, counts of a constant X (np.unique's). */
ir_node *ox_unique(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need_const(c, n, n_in > 0 ? in[0] : NULL, "the input of Unique");
    if (!x) return NULL;
    bool has_axis = ox_attr_get(n, "axis") != NULL, sorted = ox_attr_int(n, "sorted", 1) != 0;
    int ax = has_axis ? ox_axis(c, n, ox_attr_int(n, "axis", 0), x->type.rank) : 0;
    if (ax < 0) return NULL;
    slices s = {x, 1, has_axis ? x->type.dims[ax] : ir_type_numel(&x->type), 1};
    for (int i = 0; has_axis && i < x->type.rank; i++)
        if (i < ax) s.outer *= x->type.dims[i];
        else if (i > ax) s.inner *= x->type.dims[i];
    int64_t N = s.len, U = 0;
    int64_t *first = malloc(sizeof(int64_t) * (size_t)(3 * N + 1)), *inv = first + N, *cnt = inv + N;
    if (!first) return ox_err(c, n, "out of memory");
    for (int64_t i = 0; i < N; i++) { /* first occurrences, in order */
        int64_t u = 0;
        while (u < U && cmp_slices(&s, first[u], i)) u++;
        if (u == U) first[U] = i, cnt[U++] = 0;
        inv[i] = u, cnt[u]++;
    }
    for (int64_t a = 1; sorted && a < U; a++) /* insertion sort of the uniques, carrying counts */
        for (int64_t b = a; b > 0 && cmp_slices(&s, first[b - 1], first[b]) > 0; b--) {
            int64_t t = first[b]; first[b] = first[b - 1], first[b - 1] = t;
            t = cnt[b], cnt[b] = cnt[b - 1], cnt[b - 1] = t;
        }
    for (int64_t i = 0; i < N; i++) /* inverse: position of x's slice among the (sorted) uniques */
        for (int64_t u = 0; u < U; u++)
            if (!cmp_slices(&s, first[u], i)) { inv[i] = u; break; }
    ir_node *flat = has_axis ? x : ox_reshape(c, n, x, 1, &N);
    c->outs[0] = gather(c, n, flat, ax, first, U);
    c->outs[1] = i64_const(c, 1, &U, first);
    c->outs[2] = i64_const(c, 1, &N, inv);
    c->outs[3] = i64_const(c, 1, &U, cnt);
    c->n_outs = 4;
    free(first);
    return c->outs[0];
}

/* ---- Compress, NonZero ------------------------------------------------------ */

ir_node *ox_compress(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = n_in > 0 ? in[0] : NULL, *cond = need_const(c, n, n_in > 1 ? in[1] : NULL, "Compress's condition");
    if (!x || !cond) return NULL;
    bool has_axis = ox_attr_get(n, "axis") != NULL;
    int ax = has_axis ? ox_axis(c, n, ox_attr_int(n, "axis", 0), x->type.rank) : 0;
    if (ax < 0) return NULL;
    int64_t len = has_axis ? x->type.dims[ax] : ir_type_numel(&x->type), nc = ir_type_numel(&cond->type), k = 0;
    if (!has_axis) x = ox_reshape(c, n, x, 1, &len);
    int64_t *idx = malloc(sizeof *idx * (size_t)(len + 1));
    if (!idx) return ox_err(c, n, "out of memory");
    for (int64_t i = 0; i < len && i < nc; i++)
        if (elem(cond->type.dtype, cond->data, i) != 0) idx[k++] = i;
    ir_node *y = gather(c, n, x, ax, idx, k);
    free(idx);
    return y;
}

ir_node *ox_nonzero(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = need_const(c, n, n_in > 0 ? in[0] : NULL, "the input of NonZero");
    if (!x) return NULL;
    int r = x->type.rank;
    int64_t total = ir_type_numel(&x->type), nz = 0;
    for (int64_t i = 0; i < total; i++) nz += elem(x->type.dtype, x->data, i) != 0;
    int64_t *v = malloc(sizeof *v * (size_t)(r * nz + 1));
    if (!v) return ox_err(c, n, "out of memory");
    for (int64_t i = 0, k = 0; i < total; i++) {
        if (elem(x->type.dtype, x->data, i) == 0) continue;
        for (int64_t d = r - 1, rest = i; d >= 0; d--) v[d * nz + k] = rest % x->type.dims[d], rest /= x->type.dims[d];
        k++;
    }
    ir_node *y = i64_const(c, 2, (int64_t[]){r, nz}, v);
    free(v);
    return y;
}

/* y[t, b] = t < len[b] ? x[len[b] - 1 - t, b] : x[t, b] along the time axis. */
ir_node *ox_reverse_sequence(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = n_in > 0 ? in[0] : NULL, *lens = need_const(c, n, n_in > 1 ? in[1] : NULL, "sequence_lens");
    if (!x || !lens) return NULL;
    int ta = (int)ox_attr_int(n, "time_axis", 0), ba = (int)ox_attr_int(n, "batch_axis", 1);
    if (x->type.rank < 2 || ta == ba || ta < 0 || ba < 0 || ta > 1 || ba > 1 || ir_type_numel(&lens->type) != x->type.dims[ba])
        return ox_err(c, n, "bad time/batch axes or sequence_lens");
    int64_t total = ir_type_numel(&x->type);
    if (total == 0) return x;
    int64_t *idx = malloc(sizeof *idx * (size_t)(total + 1)), inner = total / (x->type.dims[0] * x->type.dims[1]);
    if (!idx) return ox_err(c, n, "out of memory");
    for (int64_t i = 0; i < total; i++) {
        int64_t a0 = i / inner / x->type.dims[1], a1 = i / inner % x->type.dims[1];
        int64_t t = ta == 0 ? a0 : a1, b = ta == 0 ? a1 : a0, len = (int64_t)elem(lens->type.dtype, lens->data, b);
        idx[i] = t < len ? len - 1 - t : t;
    }
    ir_node *k = ir_const(c->g, ir_type_make(KL_I64, x->type.rank, x->type.dims), idx, NULL);
    free(idx);
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.concat.axis = ta;
    return ox_op(c, n, KL_OP_GATHER_ELEMENTS, 2, (ir_node *[]){x, k}, &a, NULL);
}

/* ---- LRN, MeanVarianceNormalization, Upsample ---------------------------------- */

/* x / (bias + alpha / size * sum of x^2 over the channel window)^beta (NCHW). */
ir_node *ox_lrn(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = n_in > 0 ? in[0] : NULL;
    int64_t size = ox_attr_int(n, "size", 0);
    if (!x || x->type.rank < 3 || size < 1 || size > 1024) return ox_err(c, n, "needs an NC... input and a size from 1 to 1024");
    double alpha = ox_attr_float(n, "alpha", 1e-4f), beta = ox_attr_float(n, "beta", 0.75f), bias = ox_attr_float(n, "bias", 1.0f);
    ir_node *sq = ox_bin(c, n, KL_OP_MUL, x, x);
    ir_attr p;
    memset(&p, 0, sizeof p);
    p.pad.lo[1] = (size - 1) / 2, p.pad.hi[1] = size - 1 - (size - 1) / 2;
    ir_node *padded = ox_op(c, n, KL_OP_PAD, 1, &sq, &p, NULL), *sum = NULL;
    for (int64_t k = 0; padded && k < size; k++) {
        ir_attr s;
        memset(&s, 0, sizeof s);
        for (int i = 0; i < x->type.rank; i++) s.slice.stride[i] = 1;
        s.slice.begin[1] = k;
        ir_node *sl = ox_op(c, n, KL_OP_SLICE, 1, &padded, &s, &x->type);
        sum = sum ? ox_bin(c, n, KL_OP_ADD, sum, sl) : sl;
    }
    kl_dtype t = x->type.dtype;
    ir_node *den = ox_bin(c, n, KL_OP_ADD, ox_scalar(c, t, bias), ox_bin(c, n, KL_OP_MUL, sum, ox_scalar(c, t, alpha / (double)size)));
    return ox_bin(c, n, KL_OP_DIV, x, ox_bin(c, n, KL_OP_POW, den, ox_scalar(c, t, beta)));
}

/* ONNX's function body: (x - E[x]) / (sqrt(E[x^2] - E[x]^2) + 1e-9). */
ir_node *ox_mvn(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = n_in > 0 ? in[0] : NULL;
    if (!x) return ox_err(c, n, "needs an input");
    int64_t axes[IR_MAX_RANK] = {0, 2, 3};
    int na = ox_attr_ints(n, "axes", axes, IR_MAX_RANK);
    if (na < 0) na = 3;
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.reduce.keep_dims = true;
    for (int i = 0; i < na; i++) {
        int ax = ox_axis(c, n, axes[i], x->type.rank);
        if (ax < 0) return NULL;
        a.reduce.axes |= 1u << ax;
    }
    ir_node *sq = ox_bin(c, n, KL_OP_MUL, x, x);
    ir_node *mean = ox_op(c, n, KL_OP_REDUCE_MEAN, 1, &x, &a, NULL), *msq = ox_op(c, n, KL_OP_REDUCE_MEAN, 1, &sq, &a, NULL);
    ir_node *sd = ox_un(c, n, KL_OP_SQRT, ox_bin(c, n, KL_OP_SUB, msq, ox_bin(c, n, KL_OP_MUL, mean, mean)));
    sd = ox_bin(c, n, KL_OP_ADD, sd, ox_scalar(c, x->type.dtype, 1e-9));
    return ox_bin(c, n, KL_OP_DIV, ox_bin(c, n, KL_OP_SUB, x, mean), sd);
}

/* Upsample (opsets 7-9), nearest: y[o] = x[floor(o / scale)] per axis. */
ir_node *ox_upsample(ox *c, const ox_node *n, ir_node **in, int n_in, kl_op op)
{
    ir_node *x = n_in > 0 ? in[0] : NULL;
    char mode[16];
    ox_attr_str(n, "mode", mode, sizeof mode);
    if (!x) return ox_err(c, n, "needs an input");
    if (mode[0] && strcmp(mode, "nearest")) return ox_err(c, n, "Upsample mode '%s' is not supported", mode);
    double scales[IR_MAX_RANK];
    int r = x->type.rank, ns = 0;
    const ox_attr *sa = ox_attr_get(n, "scales");
    ir_node *sc = n_in > 1 ? need_const(c, n, in[1], "scales") : NULL;
    if (sa) for (size_t i = 0; i < sa->n_floats && ns < IR_MAX_RANK; i++) scales[ns++] = sa->floats[i];
    else if (sc) for (int64_t i = 0; i < ir_type_numel(&sc->type) && ns < IR_MAX_RANK; i++) scales[ns++] = elem(sc->type.dtype, sc->data, i);
    else return NULL;
    if (ns != r) return ox_err(c, n, "scales must have one entry per axis");
    for (int d = 0; d < r && x; d++) {
        double want = floor((double)x->type.dims[d] * scales[d]);
        if (!(want >= 1 && want <= (1 << 24))) return ox_err(c, n, "scale %g gives no or too large an output", scales[d]);
        int64_t out = (int64_t)want;
        if (out == x->type.dims[d]) continue;
        int64_t *idx = malloc(sizeof *idx * (size_t)(out + 1));
        if (!idx) return ox_err(c, n, "out of memory");
        for (int64_t o = 0; o < out; o++) {
            int64_t i = (int64_t)floor((double)o / scales[d]);
            idx[o] = i < x->type.dims[d] ? i : x->type.dims[d] - 1;
        }
        x = gather(c, n, x, d, idx, out);
        free(idx);
    }
    return x;
}

/* BatchNormalization, training_mode=1: normalized with the batch's mean and
 * (population) variance over every axis but 1; outputs 1 and 2 are the
 * running statistics moved by momentum towards them. */
ir_node *ox_batch_norm_training(ox *c, const ox_node *n, ir_node **in, int n_in)
{
    if (n_in < 5) return ox_err(c, n, "needs X, scale, B, input_mean and input_var");
    for (int i = 0; i < 5; i++)
        if (!in[i]) return ox_err(c, n, "needs X, scale, B, input_mean and input_var");
    ir_node *x = in[0];
    int r = x->type.rank;
    kl_dtype t = x->type.dtype;
    int64_t dims[IR_MAX_RANK], ch = x->type.dims[1];
    for (int i = 0; i < r; i++) dims[i] = i == 1 ? ch : 1;
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.reduce.keep_dims = true;
    for (int i = 0; i < r; i++)
        if (i != 1) a.reduce.axes |= 1u << i;
    ir_node *mean = ox_op(c, n, KL_OP_REDUCE_MEAN, 1, &x, &a, NULL), *dev = ox_bin(c, n, KL_OP_SUB, x, mean);
    ir_node *sq = ox_bin(c, n, KL_OP_MUL, dev, dev), *var = ox_op(c, n, KL_OP_REDUCE_MEAN, 1, &sq, &a, NULL);
    ir_node *eps = ox_scalar(c, t, ox_attr_float(n, "epsilon", 1e-5f)), *mom = ox_scalar(c, t, ox_attr_float(n, "momentum", 0.9f));
    ir_node *inv = ox_un(c, n, KL_OP_RSQRT, ox_bin(c, n, KL_OP_ADD, var, eps));
    ir_node *y = ox_bin(c, n, KL_OP_MUL, dev, ox_bin(c, n, KL_OP_MUL, inv, ox_reshape(c, n, in[1], r, dims)));
    c->outs[0] = ox_bin(c, n, KL_OP_ADD, y, ox_reshape(c, n, in[2], r, dims));
    ir_node *one_minus = ox_bin(c, n, KL_OP_SUB, ox_scalar(c, t, 1), mom);
    ir_node *m1 = ox_reshape(c, n, mean, 1, &ch), *v1 = ox_reshape(c, n, var, 1, &ch);
    c->outs[1] = ox_bin(c, n, KL_OP_ADD, ox_bin(c, n, KL_OP_MUL, in[3], mom), ox_bin(c, n, KL_OP_MUL, m1, one_minus));
    c->outs[2] = ox_bin(c, n, KL_OP_ADD, ox_bin(c, n, KL_OP_MUL, in[4], mom), ox_bin(c, n, KL_OP_MUL, v1, one_minus));
    c->n_outs = 3;
    return c->outs[0] && c->outs[1] && c->outs[2] ? c->outs[0] : NULL;
}
