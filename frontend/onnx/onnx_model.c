/* frontend/onnx/onnx_model.c — reading ModelProto and TensorProto; the
 * helpers every importer uses.  All input is untrusted. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

#define MAX_TENSOR_BYTES ((size_t)1 << 31)

bool onnx_is_model(const void *data, size_t size)
{
    if (!size) return false;
    Kiln__Onnx__OxModel *pb = kiln__onnx__ox_model__unpack(NULL, size, data);
    bool ok = pb && pb->graph && pb->ir_version > 0;
    if (pb) kiln__onnx__ox_model__free_unpacked(pb, NULL);
    return ok;
}

bool onnx_model_load_buffer(const void *data, size_t size, const char *source, onnx_model **out, kl_diag *d)
{
    *out = NULL;
    Kiln__Onnx__OxModel *pb = size ? kiln__onnx__ox_model__unpack(NULL, size, data) : NULL;
    if (!pb || !pb->graph) {
        if (pb) kiln__onnx__ox_model__free_unpacked(pb, NULL);
        kl_diag_error(d, "%s: not an ONNX model (protobuf parse failed or no graph)", source);
        return false;
    }
    onnx_model *m = calloc(1, sizeof *m);
    m->pb = pb;
    m->source = strdup(source);
    m->opset = 1;
    for (size_t i = 0; i < pb->n_opset_import; i++) {
        const char *dom = pb->opset_import[i]->domain;
        if (!dom || !*dom || !strcmp(dom, "ai.onnx")) m->opset = pb->opset_import[i]->version;
    }
    *out = m;
    return true;
}

void onnx_model_free(onnx_model *m)
{
    if (!m) return;
    kiln__onnx__ox_model__free_unpacked(m->pb, NULL);
    for (int i = 0; i < m->n_binds; i++) free(m->binds[i].name), free(m->binds[i].data);
    free(m->binds);
    free(m->source);
    free(m);
}

bool onnx_model_bind(onnx_model *m, const char *name, ir_type t, const void *data, kl_diag *d)
{
    size_t bytes = ir_type_bytes(&t);
    struct ox_binding *b = realloc(m->binds, sizeof *b * (size_t)(m->n_binds + 1));
    if (!b) return kl_diag_error(d, "%s: out of memory binding '%s'", m->source, name), false;
    m->binds = b;
    b = &m->binds[m->n_binds];
    b->name = strdup(name), b->t = t, b->data = malloc(bytes ? bytes : 1);
    if (!b->name || !b->data) {
        free(b->name), free(b->data);
        return kl_diag_error(d, "%s: out of memory binding '%s'", m->source, name), false;
    }
    memcpy(b->data, data, bytes);
    m->n_binds++;
    return true;
}

int onnx_model_feeds(const onnx_model *m, const char **names, int max)
{
    const Kiln__Onnx__OxGraph *g = m->pb->graph;
    int n = 0;
    for (size_t i = 0; i < g->n_input; i++) {
        const char *name = g->input[i]->name;
        bool init = false;
        for (size_t j = 0; name && j < g->n_initializer; j++) init |= g->initializer[j]->name && !strcmp(g->initializer[j]->name, name);
        if (name && !init && n < max) names[n++] = name;
    }
    return n;
}

ir_node *ox_err(ox *c, const ox_node *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *name = n->name && *n->name ? n->name : n->n_output ? n->output[0] : "?";
    kl_diag_error(c->d, "%s: node '%s' (%s): %s", c->m->source, name, n->op_type ? n->op_type : "?", msg);
    return NULL;
}

/* ONNX TensorProto.DataType numbers. */
bool ox_map_dtype(int t, kl_dtype *out)
{
    switch (t) {
    case 1: *out = KL_F32; return true;
    case 2: *out = KL_U8; return true;
    case 3: *out = KL_I8; return true;
    case 5: *out = KL_I16; return true;
    case 6: *out = KL_I32; return true;
    case 7: *out = KL_I64; return true;
    case 9: *out = KL_BOOL; return true;
    case 10: *out = KL_F16; return true;
    case 11: *out = KL_F64; return true;
    default: return false;
    }
}

/* Dense values of a TensorProto: raw_data, or the typed repeated field. */
static bool decode_tensor(const ox_tensor *t, const char *where, onnx_tensor *out, kl_diag *d)
{
    memset(out, 0, sizeof *out);
    if (!ox_map_dtype(t->data_type, &out->dtype))
        return kl_diag_error(d, "%s: tensor '%s': unsupported data type %d", where, t->name ? t->name : "", t->data_type), false;
    if (t->n_dims > IR_MAX_RANK) return kl_diag_error(d, "%s: tensor '%s': rank %zu above %d", where, t->name, t->n_dims, IR_MAX_RANK), false;
    if (t->data_location == 1) return kl_diag_error(d, "%s: tensor '%s': external data is not supported", where, t->name), false;
    int64_t numel = 1;
    out->rank = (int)t->n_dims;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || (t->dims[i] && numel > (int64_t)MAX_TENSOR_BYTES / t->dims[i]))
            return kl_diag_error(d, "%s: tensor '%s': bad dimension %lld", where, t->name, (long long)t->dims[i]), false;
        out->dims[i] = t->dims[i];
        numel *= t->dims[i];
    }
    size_t es = kl_dtype_size(out->dtype), bytes = (size_t)numel * es;
    if (bytes > MAX_TENSOR_BYTES) return kl_diag_error(d, "%s: tensor '%s' too large", where, t->name), false;
    out->bytes = bytes;
    out->data = calloc(1, bytes ? bytes : 1);
    if (!out->data) return kl_diag_error(d, "%s: out of memory", where), false;
    if (t->raw_data.len) {
        if (t->raw_data.len != bytes) {
            free(out->data);
            return kl_diag_error(d, "%s: tensor '%s': raw_data has %zu bytes, shape needs %zu", where, t->name, t->raw_data.len, bytes), false;
        }
        memcpy(out->data, t->raw_data.data, bytes);
        return true;
    }
    size_t count = out->dtype == KL_F32 ? t->n_float_data : out->dtype == KL_F64 ? t->n_double_data
                 : out->dtype == KL_I64 ? t->n_int64_data : t->n_int32_data;
    if (count != (size_t)numel) {
        free(out->data);
        return kl_diag_error(d, "%s: tensor '%s': %zu values for %lld elements", where, t->name, count, (long long)numel), false;
    }
    for (int64_t i = 0; i < numel; i++) {
        unsigned char *o = (unsigned char *)out->data + (size_t)i * es;
        switch (out->dtype) {
        case KL_F32: memcpy(o, &t->float_data[i], 4); break;
        case KL_F64: memcpy(o, &t->double_data[i], 8); break;
        case KL_I64: memcpy(o, &t->int64_data[i], 8); break;
        case KL_I32: memcpy(o, &t->int32_data[i], 4); break;
        case KL_I16: case KL_F16: { uint16_t v = (uint16_t)t->int32_data[i]; memcpy(o, &v, 2); break; }
        default: *o = (unsigned char)t->int32_data[i]; break; /* i8, u8, bool */
        }
    }
    return true;
}

bool onnx_tensor_load(const void *data, size_t size, const char *source, onnx_tensor *out, kl_diag *d)
{
    ox_tensor *t = kiln__onnx__ox_tensor__unpack(NULL, size, data);
    if (!t) return kl_diag_error(d, "%s: not an ONNX TensorProto", source), false;
    bool ok = decode_tensor(t, source, out, d);
    kiln__onnx__ox_tensor__free_unpacked(t, NULL);
    return ok;
}

bool ox_tensor_to_const(ox *c, const ox_node *n, const ox_tensor *t, const char *name, ir_node **out)
{
    onnx_tensor v;
    char where[512];
    snprintf(where, sizeof where, "%s: %s '%s'", c->m->source, n ? "node" : "initializer",
             n ? (n->name && *n->name ? n->name : n->n_output ? n->output[0] : "?") : name);
    if (!decode_tensor(t, where, &v, c->d)) return false;
    *out = ir_const(c->g, ir_type_make(v.dtype, v.rank, v.dims), v.data, name);
    free(v.data);
    return true;
}

/* ---- attributes --------------------------------------------------------- */

const ox_attr *ox_attr_get(const ox_node *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i] && n->attribute[i]->name && !strcmp(n->attribute[i]->name, name)) return n->attribute[i];
    return NULL;
}

int64_t ox_attr_int(const ox_node *n, const char *name, int64_t dflt)
{
    const ox_attr *a = ox_attr_get(n, name);
    return a ? a->i : dflt;
}

float ox_attr_float(const ox_node *n, const char *name, float dflt)
{
    const ox_attr *a = ox_attr_get(n, name);
    return a ? a->f : dflt;
}

int ox_attr_ints(const ox_node *n, const char *name, int64_t *out, int max)
{
    const ox_attr *a = ox_attr_get(n, name);
    if (!a) return -1;
    int k = (int)(a->n_ints < (size_t)max ? a->n_ints : (size_t)max);
    for (int i = 0; i < k; i++) out[i] = a->ints[i];
    return k;
}

const char *ox_attr_str(const ox_node *n, const char *name, char *buf, size_t size)
{
    const ox_attr *a = ox_attr_get(n, name);
    buf[0] = 0;
    if (a && a->s.len) snprintf(buf, size, "%.*s", (int)(a->s.len < size ? a->s.len : size - 1), (const char *)a->s.data);
    return buf;
}

/* ---- folding builders --------------------------------------------------- */

ir_node *ox_op(ox *c, const ox_node *n, kl_op op, int n_in, ir_node *const *in, const ir_attr *a, const ir_type *t)
{
    const char *name = n->name && *n->name ? n->name : n->n_output ? n->output[0] : NULL;
    return ir_node_folded(c->g, op, n_in, in, a, t, name, c->d);
}

ir_node *ox_un(ox *c, const ox_node *n, kl_op op, ir_node *x) { return ox_op(c, n, op, 1, &x, NULL, NULL); }
ir_node *ox_bin(ox *c, const ox_node *n, kl_op op, ir_node *a, ir_node *b) { return ox_op(c, n, op, 2, (ir_node *[]){a, b}, NULL, NULL); }

ir_node *ox_reshape(ox *c, const ox_node *n, ir_node *x, int rank, const int64_t *dims)
{
    if (!x) return NULL;
    ir_type t = ir_type_make(x->type.dtype, rank, dims);
    return ox_op(c, n, KL_OP_RESHAPE, 1, &x, NULL, &t);
}

ir_node *ox_cast(ox *c, const ox_node *n, ir_node *x, kl_dtype to)
{
    if (!x || x->type.dtype == to) return x;
    ir_type t = x->type;
    t.dtype = to;
    return ox_op(c, n, KL_OP_CAST, 1, &x, NULL, &t);
}

ir_node *ox_scalar(ox *c, kl_dtype t, double v) { return ir_scalar(c->g, t, v); }

ir_node *ox_transpose(ox *c, const ox_node *n, ir_node *x, const int *perm)
{
    if (!x) return NULL;
    ir_attr a;
    memset(&a, 0, sizeof a);
    for (int i = 0; i < x->type.rank; i++) a.transpose.perm[i] = (int8_t)perm[i];
    return ox_op(c, n, KL_OP_TRANSPOSE, 1, &x, &a, NULL);
}

int ox_read_ints(ox *c, const ox_node *n, const ir_node *v, const char *what, int64_t *out, int max)
{
    if (!v || v->op != KL_OP_CONST || (v->type.dtype != KL_I32 && v->type.dtype != KL_I64) || v->type.rank > 1)
        return ox_err(c, n, "%s must be a constant int tensor (Kiln needs static shapes)", what), -1;
    int64_t count = ir_type_numel(&v->type);
    if (count > max) return ox_err(c, n, "%s has too many entries", what), -1;
    for (int64_t i = 0; i < count; i++)
        out[i] = v->type.dtype == KL_I32 ? ((const int32_t *)v->data)[i] : ((const int64_t *)v->data)[i];
    return (int)count;
}

int ox_axis(ox *c, const ox_node *n, int64_t axis, int rank)
{
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) return ox_err(c, n, "axis %lld out of range for rank %d", (long long)axis, rank), -1;
    return (int)a;
}
