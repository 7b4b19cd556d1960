/* frontend/tf/tf_ops_basic.c — helpers every importer uses, constants, and
 * the importers of elementwise ops, contractions, casts and reductions.
 * All input is untrusted: every attribute, operand and tensor is checked.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tf_internal.h"

#define MAX_CONST_BYTES ((size_t)1 << 30)

/* ---- diagnostics and attributes ----------------------------------------- */

ir_node *tf_err(imp *c, const tf_node *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    kl_diag_error(c->d, "%s: node '%s' (%s): %s", c->m->source, n->name, n->op ? n->op : "?", msg);
    return NULL;
}

bool tf_map_dtype(int tf, kl_dtype *out)
{
    /* Reference types (DT_FLOAT_REF = 101, ...) hold the same elements; old
     * frozen graphs still carry them. */
    if (tf > 100) tf -= 100;
    switch (tf) {
    case KILN__TF__TF_DATA_TYPE__DT_FLOAT: *out = KL_F32; return true;
    case KILN__TF__TF_DATA_TYPE__DT_DOUBLE: *out = KL_F64; return true;
    case KILN__TF__TF_DATA_TYPE__DT_INT32: *out = KL_I32; return true;
    case KILN__TF__TF_DATA_TYPE__DT_INT64: *out = KL_I64; return true;
    case KILN__TF__TF_DATA_TYPE__DT_INT16: *out = KL_I16; return true;
    case KILN__TF__TF_DATA_TYPE__DT_INT8: *out = KL_I8; return true;
    case KILN__TF__TF_DATA_TYPE__DT_UINT8: *out = KL_U8; return true;
    case KILN__TF__TF_DATA_TYPE__DT_BOOL: *out = KL_BOOL; return true;
    case KILN__TF__TF_DATA_TYPE__DT_HALF: *out = KL_F16; return true;
    default: return false;
    }
}

const char *tf_dtype_name(int tf, char *buf, size_t size)
{
    int base = tf > 100 ? tf - 100 : tf;
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&kiln__tf__tf_data_type__descriptor, base);
    if (v) snprintf(buf, size, "%s%s", v->name, base != tf ? "_REF" : "");
    else snprintf(buf, size, "DataType %d", tf);
    return buf;
}

bool tf_want_inputs(imp *c, const tf_node *n, int n_in, int want)
{
    if (n_in == want) return true;
    tf_err(c, n, "expects %d inputs, has %d", want, n_in);
    return false;
}

bool tf_attr_bool(const tf_node *n, const char *key, bool dflt)
{
    const tf_attr_value *a = tf_attr(n, key);
    return a && a->value_case == KILN__TF__TF_ATTR_VALUE__VALUE_B ? a->b : dflt;
}

int64_t tf_attr_int(const tf_node *n, const char *key, int64_t dflt)
{
    const tf_attr_value *a = tf_attr(n, key);
    return a && a->value_case == KILN__TF__TF_ATTR_VALUE__VALUE_I ? a->i : dflt;
}

float tf_attr_float(const tf_node *n, const char *key, float dflt)
{
    const tf_attr_value *a = tf_attr(n, key);
    return a && a->value_case == KILN__TF__TF_ATTR_VALUE__VALUE_F ? a->f : dflt;
}

const char *tf_attr_str(const tf_node *n, const char *key, char *buf, size_t size)
{
    const tf_attr_value *a = tf_attr(n, key);
    buf[0] = 0;
    if (a && a->value_case == KILN__TF__TF_ATTR_VALUE__VALUE_S)
        snprintf(buf, size, "%.*s", (int)(a->s.len < size ? a->s.len : size - 1), (const char *)a->s.data);
    return buf;
}

int tf_attr_ints(const tf_node *n, const char *key, int64_t *out, int max)
{
    const tf_attr_value *a = tf_attr(n, key);
    if (!a || a->value_case != KILN__TF__TF_ATTR_VALUE__VALUE_LIST || !a->list) return -1;
    int count = (int)(a->list->n_i < (size_t)max ? a->list->n_i : (size_t)max);
    for (int i = 0; i < count; i++) out[i] = a->list->i[i];
    return count;
}

kl_dtype tf_attr_dtype(const tf_node *n, const char *key, kl_dtype dflt)
{
    const tf_attr_value *a = tf_attr(n, key);
    kl_dtype t;
    return a && a->value_case == KILN__TF__TF_ATTR_VALUE__VALUE_TYPE && tf_map_dtype(a->type, &t) ? t : dflt;
}

int tf_read_ints(imp *c, const tf_node *n, const ir_node *v, const char *what, int64_t *out, int max)
{
    /* rank 2 for paddings ([rank, 2]), read row-major */
    if (v->op != KL_OP_CONST || (v->type.dtype != KL_I32 && v->type.dtype != KL_I64) || v->type.rank > 2)
        return tf_err(c, n, "%s must be a constant int32/int64 tensor", what), -1;
    int64_t count = ir_type_numel(&v->type);
    if (count > max) return tf_err(c, n, "%s has too many entries (%lld)", what, (long long)count), -1;
    for (int64_t i = 0; i < count; i++)
        out[i] = v->type.dtype == KL_I32 ? ((const int32_t *)v->data)[i] : ((const int64_t *)v->data)[i];
    return (int)count;
}

bool tf_read_scalar(imp *c, const tf_node *n, const ir_node *v, const char *what, double *out)
{
    if (v->op != KL_OP_CONST || ir_type_numel(&v->type) != 1) return tf_err(c, n, "%s must be a constant scalar", what), false;
    ir_node tmp = {.op = KL_OP_CAST, .n_in = 1, .type = ir_type_make(KL_F64, 0, NULL)};
    ir_node *in[1] = {(ir_node *)v};
    tmp.in = in;
    const void *src[1] = {v->data};
    kl_diag quiet = {0};
    bool ok = ir_eval_node(&tmp, src, out, &quiet);
    kl_diag_clear(&quiet);
    return ok || (tf_err(c, n, "cannot read %s", what), false);
}

int tf_axis(imp *c, const tf_node *n, int64_t axis, int rank)
{
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) return tf_err(c, n, "axis %lld out of range for rank %d", (long long)axis, rank), -1;
    return (int)a;
}

/* ---- folding builders --------------------------------------------------- */

ir_node *tf_fold(imp *c, ir_node *n) { return ir_try_fold(c->g, n); }

ir_node *tf_op(imp *c, const tf_node *n, kl_op op, int n_in, ir_node *const *in, const ir_attr *a, const ir_type *t)
{
    return ir_node_folded(c->g, op, n_in, in, a, t, n->name, c->d);
}

ir_node *tf_unary(imp *c, const tf_node *n, kl_op op, ir_node *x) { return x ? tf_op(c, n, op, 1, &x, NULL, NULL) : NULL; }

ir_node *tf_binary(imp *c, const tf_node *n, kl_op op, ir_node *a, ir_node *b)
{
    if (!a || !b) return NULL;
    /* Python scalars reach TF graphs with the other operand's dtype; a
     * constant of another dtype (e.g. an int scale of a float) is cast. */
    if (a->type.dtype != b->type.dtype && b->op == KL_OP_CONST) b = tf_cast(c, n, b, a->type.dtype);
    else if (a->type.dtype != b->type.dtype && a->op == KL_OP_CONST) a = tf_cast(c, n, a, b->type.dtype);
    return tf_op(c, n, op, 2, (ir_node *[]){a, b}, NULL, NULL);
}

ir_node *tf_reshape(imp *c, const tf_node *n, ir_node *x, int rank, const int64_t *dims)
{
    if (!x) return NULL;
    ir_type t = ir_type_make(x->type.dtype, rank, dims);
    return tf_op(c, n, KL_OP_RESHAPE, 1, &x, NULL, &t);
}

ir_node *tf_cast(imp *c, const tf_node *n, ir_node *x, kl_dtype to)
{
    if (!x || x->type.dtype == to) return x;
    ir_type t = x->type;
    t.dtype = to;
    return tf_op(c, n, KL_OP_CAST, 1, &x, NULL, &t);
}

ir_node *tf_scalar(imp *c, kl_dtype t, double v) { return ir_scalar(c->g, t, v); }

ir_node *tf_slice(imp *c, const tf_node *n, ir_node *x, const int64_t *begin, const int64_t *size, const int64_t *stride)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    ir_type t = x->type;
    for (int i = 0; i < t.rank; i++) {
        a.slice.begin[i] = size[i] ? begin[i] : 0;
        a.slice.stride[i] = stride ? stride[i] : 1;
        t.dims[i] = size[i];
    }
    return tf_op(c, n, KL_OP_SLICE, 1, &x, &a, &t);
}

/* ---- constants ---------------------------------------------------------- */

/* A static shape, or an error naming what is wrong with it. */
static bool read_shape(imp *c, const tf_node *n, const Kiln__Tf__TfShape *s, kl_dtype dt, ir_type *out)
{
    if (!s || s->unknown_rank) return tf_err(c, n, "shape has unknown rank; Kiln needs static shapes"), false;
    if (s->n_dim > IR_MAX_RANK) return tf_err(c, n, "rank %zu exceeds Kiln's limit of %d", s->n_dim, IR_MAX_RANK), false;
    ir_type t = {.dtype = dt, .rank = (int)s->n_dim};
    int64_t numel = 1;
    for (size_t i = 0; i < s->n_dim; i++) {
        int64_t v = s->dim[i]->size;
        if (v < 0) return tf_err(c, n, "shape dimension %zu is not static (%lld)", i, (long long)v), false;
        if (v > 0 && numel > (int64_t)(MAX_CONST_BYTES * 4) / v) return tf_err(c, n, "shape is too large"), false;
        numel *= v;
        t.dims[i] = v;
    }
    *out = t;
    return true;
}

bool tf_read_shape(imp *c, const tf_node *n, const Kiln__Tf__TfShape *s, kl_dtype dt, ir_type *out)
{
    return read_shape(c, n, s, dt, out);
}

/* Copy `count` typed values into dst, replicating the last one (TF's rule). */
static void fill_values(void *dst, size_t elem, int64_t numel, const void *vals, size_t count, size_t val_size, kl_dtype dt)
{
    for (int64_t i = 0; i < numel; i++) {
        size_t from = (size_t)i < count ? (size_t)i : count - 1;
        const unsigned char *v = (const unsigned char *)vals + from * val_size;
        unsigned char *o = (unsigned char *)dst + (size_t)i * elem;
        if (val_size == elem) memcpy(o, v, elem);
        else if (dt == KL_BOOL) *o = *(const protobuf_c_boolean *)v != 0;
        else if (dt == KL_I16) { int16_t x = (int16_t)*(const int32_t *)v; memcpy(o, &x, 2); }
        else if (dt == KL_F16) { uint16_t x = (uint16_t)*(const int32_t *)v; memcpy(o, &x, 2); }
        else *o = (unsigned char)*(const int32_t *)v; /* i8, u8 stored in int_val */
    }
}

ir_node *tf_import_tensor(imp *c, const tf_node *n, const Kiln__Tf__TfTensor *t)
{
    kl_dtype dt;
    if (!t) return tf_err(c, n, "missing 'value' tensor");
    if (!tf_map_dtype(t->dtype, &dt)) {
        char name[48];
        return tf_err(c, n, "unsupported tensor dtype %s", tf_dtype_name(t->dtype, name, sizeof name));
    }
    ir_type ty;
    if (!read_shape(c, n, t->tensor_shape, dt, &ty)) return NULL;
    size_t elem = kl_dtype_size(dt), bytes = ir_type_bytes(&ty);
    if (bytes > MAX_CONST_BYTES) return tf_err(c, n, "constant of %zu bytes is too large", bytes);
    unsigned char *buf = calloc(1, bytes ? bytes : 1);
    if (!buf) return tf_err(c, n, "out of memory");
    int64_t numel = ir_type_numel(&ty);
    const void *vals = NULL;
    size_t count = 0, vsize = 0;
    switch (dt) {
    case KL_F32: vals = t->float_val, count = t->n_float_val, vsize = sizeof(float); break;
    case KL_F64: vals = t->double_val, count = t->n_double_val, vsize = sizeof(double); break;
    case KL_I64: vals = t->int64_val, count = t->n_int64_val, vsize = sizeof(int64_t); break;
    case KL_BOOL: vals = t->bool_val, count = t->n_bool_val, vsize = sizeof(protobuf_c_boolean); break;
    case KL_F16: vals = t->half_val, count = t->n_half_val, vsize = sizeof(int32_t); break;
    case KL_I32: case KL_I16: case KL_I8: case KL_U8: vals = t->int_val, count = t->n_int_val, vsize = sizeof(int32_t); break;
    case KL_DTYPE_COUNT: break;
    }
    bool ok = true;
    if (t->tensor_content.len) {
        if (t->tensor_content.len != bytes) ok = tf_err(c, n, "tensor_content has %zu bytes, shape needs %zu", t->tensor_content.len, bytes) != NULL;
        else memcpy(buf, t->tensor_content.data, bytes);
    } else if (count > (size_t)numel) {
        ok = tf_err(c, n, "tensor has %zu values for %lld elements", count, (long long)numel) != NULL;
    } else if (count) {
        fill_values(buf, elem, numel, vals, count, vsize, dt);
    }
    ir_node *out = ok ? ir_const(c->g, ty, buf, n->name) : NULL;
    free(buf);
    return out;
}

/* ---- importers: identity, constants ------------------------------------- */

ir_node *imp_identity(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    return tf_want_inputs(c, n, n_in, 1) ? in[0] : NULL;
}

ir_node *imp_identity_n(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (n_in < 1 || n_in > 256) return tf_err(c, n, "bad input count %d", n_in);
    for (int i = 0; i < n_in; i++) c->outs[i] = in[i];
    c->n_outs = n_in;
    return in[0];
}

ir_node *imp_const(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    const tf_attr_value *v = tf_attr(n, "value");
    if (!v || v->value_case != KILN__TF__TF_ATTR_VALUE__VALUE_TENSOR) return tf_err(c, n, "no 'value' tensor attribute");
    return tf_import_tensor(c, n, v->tensor);
}

/* ---- importers: elementwise --------------------------------------------- */

ir_node *imp_unary(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    return tf_want_inputs(c, n, n_in, 1) ? tf_unary(c, n, op, in[0]) : NULL;
}

ir_node *imp_binary(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    /* TF's Div on integers truncates like C; on floats it is RealDiv. */
    return tf_binary(c, n, op, in[0], in[1]);
}

ir_node *imp_squared_difference(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    return tf_unary(c, n, KL_OP_SQUARE, tf_binary(c, n, KL_OP_SUB, in[0], in[1]));
}

ir_node *imp_select(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 3)) return NULL;
    ir_node *cond = in[0];
    /* Select (v1) takes a vector condition that picks whole rows. */
    if (!strcmp(n->op, "Select") && cond->type.rank == 1 && in[1]->type.rank > 1) {
        int64_t dims[IR_MAX_RANK] = {cond->type.dims[0]};
        for (int i = 1; i < in[1]->type.rank; i++) dims[i] = 1;
        cond = tf_reshape(c, n, cond, in[1]->type.rank, dims);
    }
    return tf_op(c, n, KL_OP_SELECT, 3, (ir_node *[]){cond, in[1], in[2]}, NULL, NULL);
}

ir_node *imp_selu(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    const double scale = 1.0507009873554804934193349852946, alpha = 1.6732632423543772848170429916717;
    if (!tf_want_inputs(c, n, n_in, 1)) return NULL;
    kl_dtype t = in[0]->type.dtype;
    ir_node *pos = tf_binary(c, n, KL_OP_MUL, in[0], tf_scalar(c, t, scale));
    ir_node *neg = tf_binary(c, n, KL_OP_MUL, tf_unary(c, n, KL_OP_ELU, in[0]), tf_scalar(c, t, scale * alpha));
    ir_node *gt = tf_binary(c, n, KL_OP_GREATER, in[0], tf_scalar(c, t, 0));
    return gt && pos && neg ? tf_op(c, n, KL_OP_SELECT, 3, (ir_node *[]){gt, pos, neg}, NULL, NULL) : NULL;
}

ir_node *imp_leaky_relu(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 1)) return NULL;
    kl_dtype t = in[0]->type.dtype;
    ir_node *scaled = tf_binary(c, n, KL_OP_MUL, in[0], tf_scalar(c, t, tf_attr_float(n, "alpha", 0.2f)));
    ir_node *gt = tf_binary(c, n, KL_OP_GREATER, in[0], tf_scalar(c, t, 0));
    return gt && scaled ? tf_op(c, n, KL_OP_SELECT, 3, (ir_node *[]){gt, in[0], scaled}, NULL, NULL) : NULL;
}

ir_node *imp_clip(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 3)) return NULL;
    return tf_binary(c, n, KL_OP_MIN, tf_binary(c, n, KL_OP_MAX, in[0], in[1]), in[2]);
}

ir_node *imp_bias_add(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    char fmt[16];
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    if (tf_attr_str(n, "data_format", fmt, sizeof fmt)[0] && strcmp(fmt, "NHWC"))
        return tf_err(c, n, "unsupported data_format %s (only NHWC)", fmt);
    if (in[1]->type.rank != 1 || in[0]->type.rank < 1 || in[0]->type.dims[in[0]->type.rank - 1] != in[1]->type.dims[0])
        return tf_err(c, n, "bias must be a vector as long as the last dimension of the value");
    return tf_binary(c, n, KL_OP_ADD, in[0], in[1]);
}

ir_node *imp_cast(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 1)) return NULL;
    const tf_attr_value *a = tf_attr(n, "DstT");
    kl_dtype to;
    char name[48];
    if (!a || a->value_case != KILN__TF__TF_ATTR_VALUE__VALUE_TYPE) return tf_err(c, n, "missing DstT");
    if (!tf_map_dtype(a->type, &to)) return tf_err(c, n, "unsupported DstT %s", tf_dtype_name(a->type, name, sizeof name));
    return tf_cast(c, n, in[0], to);
}

/* ---- importers: contractions and reductions ----------------------------- */

ir_node *imp_matmul(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    bool batch = strncmp(n->op, "BatchMatMul", 11) == 0;
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.matmul.transpose_a = tf_attr_bool(n, batch ? "adj_x" : "transpose_a", false);
    a.matmul.transpose_b = tf_attr_bool(n, batch ? "adj_y" : "transpose_b", false);
    return tf_op(c, n, KL_OP_MATMUL, 2, in, &a, NULL);
}

ir_node *imp_reduce(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    int64_t axes[IR_MAX_RANK * 4];
    int count = tf_read_ints(c, n, in[1], "the reduction axes", axes, IR_MAX_RANK * 4);
    if (count < 0) return NULL;
    int rank = in[0]->type.rank;
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.reduce.keep_dims = tf_attr_bool(n, "keep_dims", false);
    for (int i = 0; i < count; i++) {
        int ax = tf_axis(c, n, axes[i], rank);
        if (ax < 0) return NULL;
        a.reduce.axes |= 1u << ax;
    }
    if (!a.reduce.axes) return in[0]; /* no axes: the identity, as in TF */
    return tf_op(c, n, op, 1, in, &a, NULL);
}

ir_node *imp_argminmax(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op)
{
    if (!tf_want_inputs(c, n, n_in, 2)) return NULL;
    int64_t axis;
    if (tf_read_ints(c, n, in[1], "the dimension", &axis, 1) != 1) return NULL;
    int ax = tf_axis(c, n, axis, in[0]->type.rank);
    if (ax < 0) return NULL;
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.reduce.axes = 1u << ax;
    ir_type t = {.dtype = tf_attr_dtype(n, "output_type", KL_I64)};
    return tf_op(c, n, op, 1, in, &a, &t);
}
