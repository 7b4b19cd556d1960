/* ir/topk.c — the builder for top-k (TensorFlow's TopKV2, ONNX's TopK).
 *
 * A composition, k rounds of one arg-reduction: round j takes the first
 * index of the best value still in play (argmax/argmin return the lowest
 * index among equals, which is the tie order TensorFlow and ONNX specify),
 * gathers its value, and masks it with -inf (+inf for the smallest) for
 * the next round.  The cost is k passes over the axis, fine for the k of
 * real models (top-1/5 classes, beam widths); k is capped so graphs stay
 * small.  An input that holds the fill value itself (-inf when taking the
 * largest) may repeat an index among those tied values.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

#define MAX_TOP_K 256

static ir_node *iota_along(ir_graph *g, const ir_type *x, int axis, kl_dtype it)
{
    int64_t dims[IR_MAX_RANK], len = x->dims[axis];
    for (int i = 0; i < x->rank; i++) dims[i] = i == axis ? len : 1;
    double *v = malloc(sizeof *v * (size_t)(len ? len : 1));
    if (!v) return NULL;
    for (int64_t i = 0; i < len; i++) v[i] = (double)i;
    ir_node *k = ir_const(g, ir_type_make(KL_F64, x->rank, dims), v, NULL);
    free(v);
    ir_type t = ir_type_make(it, x->rank, dims);
    kl_diag quiet = {0};
    ir_node *r = ir_node_folded(g, KL_OP_CAST, 1, &k, NULL, &t, NULL, &quiet);
    kl_diag_clear(&quiet);
    return r;
}

/* The value no real element beats: -inf / +inf, or the integer extremes. */
static double fill_value(kl_dtype t, bool largest)
{
    if (kl_dtype_is_float(t)) return largest ? -INFINITY : INFINITY;
    switch (kl_dtype_size(t)) {
    case 1: return t == KL_U8 ? (largest ? 0 : 255) : (largest ? -128 : 127);
    case 2: return largest ? -32768 : 32767;
    case 4: return largest ? -2147483648.0 : 2147483647.0;
    default: return largest ? -9223372036854775808.0 : 9223372036854775807.0;
    }
}

bool ir_top_k(ir_graph *g, ir_node *x, int axis, int64_t k, bool largest, kl_dtype index_type, const char *name,
              ir_node **values, ir_node **indices, kl_diag *d)
{
    *values = *indices = NULL;
    if (!x) return false;
    const ir_type *t = &x->type;
    if (axis < 0 || axis >= t->rank || k < 1 || k > t->dims[axis] || k > MAX_TOP_K || t->dtype == KL_BOOL) {
        kl_diag_error(d, "%s: node '%s' (top_k): k = %lld on axis %d of a dim-%lld axis is not supported (1 <= k <= %d)",
                      g->source, name ? name : "", (long long)k, axis, axis >= 0 && axis < t->rank ? (long long)t->dims[axis] : 0LL,
                      MAX_TOP_K);
        return false;
    }
    int64_t keep[IR_MAX_RANK];
    for (int i = 0; i < t->rank; i++) keep[i] = i == axis ? 1 : t->dims[i];
    ir_node **vs = malloc(sizeof *vs * (size_t)k * 2), **is = vs ? vs + k : NULL;
    ir_node *iota = iota_along(g, t, axis, index_type), *fill = ir_scalar(g, t->dtype, fill_value(t->dtype, largest));
    ir_node *cur = x;
    ir_attr ra, ca;
    memset(&ra, 0, sizeof ra), memset(&ca, 0, sizeof ca);
    ra.reduce.axes = 1u << axis, ca.concat.axis = axis;
    ir_type it = {.dtype = index_type};
    bool ok = vs && iota && fill;
    for (int64_t j = 0; ok && j < k; j++) {
        ir_node *a = ir_node_folded(g, largest ? KL_OP_ARGMAX : KL_OP_ARGMIN, 1, &cur, &ra, &it, name, d);
        ir_type kt = ir_type_make(index_type, t->rank, keep);
        ir_node *idx = a ? ir_node_folded(g, KL_OP_RESHAPE, 1, &a, NULL, &kt, name, d) : NULL;
        ir_node *v = idx ? ir_node_folded(g, KL_OP_GATHER_ELEMENTS, 2, (ir_node *[]){x, idx}, &ca, NULL, name, d) : NULL;
        vs[j] = v, is[j] = idx, ok = v != NULL;
        if (ok && j + 1 < k) {
            ir_node *taken = ir_node_folded(g, KL_OP_EQUAL, 2, (ir_node *[]){iota, idx}, NULL, NULL, name, d);
            cur = taken ? ir_node_folded(g, KL_OP_SELECT, 3, (ir_node *[]){taken, fill, cur}, NULL, NULL, name, d) : NULL;
            ok = cur != NULL;
        }
    }
    if (ok) {
        *values = k == 1 ? vs[0] : ir_node_folded(g, KL_OP_CONCAT, (int)k, vs, &ca, NULL, name, d);
        *indices = k == 1 ? is[0] : ir_node_folded(g, KL_OP_CONCAT, (int)k, is, &ca, NULL, name, d);
        ok = *values && *indices;
    } else if (!vs && kl_diag_ok(d)) {
        kl_diag_error(d, "%s: node '%s' (top_k): out of memory", g->source, name ? name : "");
    }
    free(vs);
    return ok;
}
