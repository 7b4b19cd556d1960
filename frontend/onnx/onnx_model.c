/* frontend/onnx/onnx_model.c — reading ModelProto and TensorProto; the
 * helpers every importer uses.  All input is untrusted. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

#define MAX_TENSOR_BYTES ((size_t)1 << 31)

/* The newest ONNX release Kiln knows (1.23): the IR version and the
 * default domain's opset it defines.  Anything newer may change what an op
 * means, so it is refused as ONNX Runtime refuses it. */
#define ONNX_MAX_IR_VERSION 14
#define ONNX_MAX_OPSET 28

/* Reads a varint at *at; false if it runs past the end or over 10 bytes. */
static bool read_varint(const uint8_t *p, size_t size, size_t *at, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70 && *at < size; shift += 7) {
        uint8_t b = p[(*at)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return *out = v, true;
    }
    return false;
}

/* Content detection that survives truncation: the top-level fields are
 * walked as far as they go, and a ModelProto's graph (field 7, bytes) or
 * opset_import (field 8, bytes) marks ONNX.  A GraphDef has neither field
 * (its top level is node = 1, library = 2, version = 3, versions = 4), so a
 * damaged ONNX file is reported as ONNX rather than as "not a GraphDef". */
bool onnx_is_model(const void *data, size_t size)
{
    const uint8_t *p = data;
    size_t at = 0;
    while (at < size) {
        uint64_t key, v;
        if (!read_varint(p, size, &at, &key)) return false;
        unsigned field = (unsigned)(key >> 3), wire = (unsigned)(key & 7);
        if (wire == 2 && (field == 7 || field == 8)) return true;
        if (wire == 0) {
            if (!read_varint(p, size, &at, &v)) return false;
        } else if (wire == 2) {
            if (!read_varint(p, size, &at, &v) || v > size - at) return false;
            at += (size_t)v;
        } else if (wire == 1 || wire == 5) {
            at += wire == 1 ? 8 : 4;
        } else {
            return false;
        }
    }
    return false;
}

static bool check_versions(const Kiln__Onnx__OxModel *pb, const char *source, int64_t *opset, kl_diag *d)
{
    if (pb->ir_version < 1 || pb->ir_version > ONNX_MAX_IR_VERSION)
        return kl_diag_error(d, "%s: ir_version %lld is not one ONNX defines (1 to %d, ONNX 1.23)", source,
                             (long long)pb->ir_version, ONNX_MAX_IR_VERSION), false;
    *opset = 1;
    for (size_t i = 0; i < pb->n_opset_import; i++) {
        const char *dom = pb->opset_import[i]->domain;
        if (dom && *dom && strcmp(dom, "ai.onnx")) continue; /* other domains' ops are reported as unsupported */
        int64_t v = pb->opset_import[i]->version;
        if (v < 1 || v > ONNX_MAX_OPSET)
            return kl_diag_error(d, "%s: default-domain opset %lld is not one ONNX defines (1 to %d, ONNX 1.23)", source,
                                 (long long)v, ONNX_MAX_OPSET), false;
        *opset = v;
    }
    return true;
}

bool onnx_model_load_buffer(const void *data, size_t size, const char *source, onnx_model **out, kl_diag *d)
{
    *out = NULL;
    Kiln__Onnx__OxModel *pb = size ? kiln__onnx__ox_model__unpack(NULL, size, data) : NULL;
    if (!pb || !pb->graph) {
        if (pb) kiln__onnx__ox_model__free_unpacked(pb, NULL);
        kl_diag_error(d, "%s: truncated or invalid ONNX ModelProto (%s)", source,
                      pb ? "it has no graph" : "the protobuf does not parse");
        return false;
    }
    int64_t opset;
    onnx_model *m = NULL;
    if (!check_versions(pb, source, &opset, d) || !(m = kl_calloc(d, 1, sizeof *m, "the ONNX model")) ||
        !(m->source = kl_strdup(d, source))) {
        free(m);
        kiln__onnx__ox_model__free_unpacked(pb, NULL);
        return false;
    }
    m->pb = pb;
    m->opset = opset;
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

/* One message per node: the first error says why the node cannot be
 * imported; whatever its importer reports after that follows from it (a
 * rank check after an operand that was not a constant, say) and would
 * mislead, so it is dropped. */
ir_node *ox_err(ox *c, const ox_node *n, const char *fmt, ...)
{
    if (c->failed == n) return NULL;
    c->failed = n;
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
    out->data = kl_calloc(d, 1, bytes, where);
    if (!out->data) return false;
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

/* Why v cannot serve as a compile-time constant, for messages. */
static const char *not_constant_reason(const ir_node *v, char *buf, size_t size)
{
    if (v->op == KL_OP_PARAM) snprintf(buf, size, "it is the graph input '%s', known only at run time", v->name ? v->name : "?");
    else snprintf(buf, size, "it is computed at run time (by node '%s', %s)", v->name ? v->name : "?", kl_op_name(v->op));
    return buf;
}

bool ox_need_const(ox *c, const ox_node *n, const ir_node *v, const char *what)
{
    if (!v) return false; /* a missing operand: need() has said so */
    if (v->op == KL_OP_CONST) return true;
    char why[256];
    ox_err(c, n, "operand '%s' must be a compile-time constant (Kiln compiles static shapes), but %s",
           strncmp(what, "the ", 4) ? what : what + 4, not_constant_reason(v, why, sizeof why));
    return false;
}

int ox_read_ints(ox *c, const ox_node *n, const ir_node *v, const char *what, int64_t *out, int max)
{
    if (!ox_need_const(c, n, v, what)) return -1;
    const char *name = strncmp(what, "the ", 4) ? what : what + 4;
    char tb[64];
    if ((v->type.dtype != KL_I32 && v->type.dtype != KL_I64) || v->type.rank > 1)
        return ox_err(c, n, "operand '%s' must be an int32 or int64 scalar or vector, got %s", name,
                      ir_type_str(&v->type, tb, sizeof tb)), -1;
    int64_t count = ir_type_numel(&v->type);
    if (count > max) return ox_err(c, n, "operand '%s' has %lld entries, at most %d are allowed", name, (long long)count, max), -1;
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
