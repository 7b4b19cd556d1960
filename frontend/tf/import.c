/* frontend/tf/import.c — GraphDef nodes to IR, tfcompile style.
 *
 * Walks back from the fetches, stopping at fed tensors, so only what the
 * fetches need is imported; then imports in topological order through the
 * table in tf_ops.def.  Every unsupported op on the way is reported before
 * anything is built.  All input is untrusted: every attribute, operand and
 * tensor is checked before use.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tf_internal.h"

#define MAX_CONST_BYTES ((size_t)1 << 30)

typedef struct imp {
    const tf_model *m;
    ir_graph *g;
    kl_diag *d;
    ir_node **value;      /* by node index: the IR value of output 0 */
    unsigned char *state; /* DFS: 0 new, 1 open, 2 done */
    int *order, n_order;
    bool auto_feeds;
    int *auto_placeholders, n_auto;
} imp;

typedef ir_node *(*imp_fn)(imp *c, const Kiln__Tf__TfNode *n, ir_node **in, int n_in, kl_op op);

#define TFOP(name, fn, op) static ir_node *fn(imp *, const Kiln__Tf__TfNode *, ir_node **, int, kl_op);
#include "tf_ops.def"
#undef TFOP

static const struct {
    const char *name;
    imp_fn fn;
    kl_op op;
} tf_ops[] = {
#define TFOP(name, fn, op) {name, fn, KL_OP_##op},
#include "tf_ops.def"
#undef TFOP
};

static int find_op(const char *name)
{
    for (size_t i = 0; i < sizeof tf_ops / sizeof *tf_ops; i++)
        if (name && !strcmp(tf_ops[i].name, name)) return (int)i;
    return -1;
}

/* Reports "FILE: node 'NAME' (OP): message"; returns NULL for chaining. */
__attribute__((format(printf, 3, 4))) static ir_node *node_err(imp *c, const Kiln__Tf__TfNode *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    kl_diag_error(c->d, "%s: node '%s' (%s): %s", c->m->source, n->name, n->op ? n->op : "?", msg);
    return NULL;
}
#define NODE_ERR node_err

/* ---- tensor names ------------------------------------------------------- */

/* "node", "node:k" -> node index and output; false if no such node. */
static bool parse_tensor(const tf_model *m, const char *s, int *node, int *output)
{
    const char *colon = strrchr(s, ':');
    size_t len = strlen(s);
    *output = 0;
    if (colon && colon[1]) {
        char *end;
        long k = strtol(colon + 1, &end, 10);
        if (!*end && k >= 0 && k < 1 << 20) {
            *output = (int)k;
            len = (size_t)(colon - s);
        }
    }
    *node = tf_find_node(m, s, len);
    return *node >= 0;
}

static bool is_control(const char *input) { return input[0] == '^'; }

/* ---- dtypes, shapes, constants ------------------------------------------ */

static bool map_dtype(int tf, kl_dtype *out)
{
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

/* A static shape, or an error naming what is wrong with it. */
static bool read_shape(imp *c, const Kiln__Tf__TfNode *n, const Kiln__Tf__TfShape *s, kl_dtype dt, ir_type *out)
{
    if (!s || s->unknown_rank) return NODE_ERR(c, n, "shape has unknown rank; Kiln needs static shapes"), false;
    if (s->n_dim > IR_MAX_RANK) return NODE_ERR(c, n, "rank %zu exceeds Kiln's limit of %d", s->n_dim, IR_MAX_RANK), false;
    ir_type t = {.dtype = dt, .rank = (int)s->n_dim};
    int64_t numel = 1;
    for (size_t i = 0; i < s->n_dim; i++) {
        int64_t v = s->dim[i]->size;
        if (v < 0) return NODE_ERR(c, n, "shape dimension %zu is not static (%lld)", i, (long long)v), false;
        if (v > 0 && numel > (int64_t)(MAX_CONST_BYTES * 4) / v)
            return NODE_ERR(c, n, "shape is too large"), false;
        numel *= v;
        t.dims[i] = v;
    }
    *out = t;
    return true;
}

/* Copy `count` typed values into dst, replicating the last one (TF's rule). */
static void fill_values(void *dst, size_t elem, int64_t numel, const void *vals, size_t count, size_t val_size,
                        kl_dtype dt)
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

static ir_node *import_tensor(imp *c, const Kiln__Tf__TfNode *n, const Kiln__Tf__TfTensor *t)
{
    kl_dtype dt;
    if (!t) return NODE_ERR(c, n, "missing 'value' tensor");
    if (!map_dtype(t->dtype, &dt)) return NODE_ERR(c, n, "unsupported tensor dtype %d", (int)t->dtype);
    ir_type ty;
    if (!read_shape(c, n, t->tensor_shape, dt, &ty)) return NULL;
    size_t elem = kl_dtype_size(dt), bytes = ir_type_bytes(&ty);
    if (bytes > MAX_CONST_BYTES) return NODE_ERR(c, n, "constant of %zu bytes is too large", bytes);
    unsigned char *buf = calloc(1, bytes ? bytes : 1);
    if (!buf) return NODE_ERR(c, n, "out of memory");
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
    ir_node *out = NULL;
    if (t->tensor_content.len) {
        if (t->tensor_content.len != bytes)
            NODE_ERR(c, n, "tensor_content has %zu bytes, shape needs %zu", t->tensor_content.len, bytes);
        else memcpy(buf, t->tensor_content.data, bytes), out = (ir_node *)1;
    } else if (count > (size_t)numel) {
        NODE_ERR(c, n, "tensor has %zu values for %lld elements", count, (long long)numel);
    } else {
        if (count) fill_values(buf, elem, numel, vals, count, vsize, dt);
        out = (ir_node *)1;
    }
    if (out) out = ir_const(c->g, ty, buf, n->name);
    free(buf);
    return out;
}

/* ---- attributes and constant operands ----------------------------------- */

static bool attr_bool(const Kiln__Tf__TfNode *n, const char *key, bool dflt)
{
    const Kiln__Tf__TfAttrValue *a = tf_attr(n, key);
    return a && a->value_case == KILN__TF__TF_ATTR_VALUE__VALUE_B ? a->b : dflt;
}

/* The integers of a constant operand (shape, axes), or an error. */
static int read_ints(imp *c, const Kiln__Tf__TfNode *n, const ir_node *v, const char *what, int64_t *out, int max)
{
    if (v->op != KL_OP_CONST || (v->type.dtype != KL_I32 && v->type.dtype != KL_I64) || v->type.rank > 1)
        return NODE_ERR(c, n, "%s must be a constant int32/int64 scalar or vector", what), -1;
    int64_t count = ir_type_numel(&v->type);
    if (count > max) return NODE_ERR(c, n, "%s has too many entries (%lld)", what, (long long)count), -1;
    for (int64_t i = 0; i < count; i++)
        out[i] = v->type.dtype == KL_I32 ? ((const int32_t *)v->data)[i] : ((const int64_t *)v->data)[i];
    return (int)count;
}

/* ---- the import functions (tf_ops.def) ---------------------------------- */

static bool want_inputs(imp *c, const Kiln__Tf__TfNode *n, int n_in, int want)
{
    if (n_in == want) return true;
    NODE_ERR(c, n, "expects %d inputs, has %d", want, n_in);
    return false;
}

static ir_node *imp_identity(imp *c, const Kiln__Tf__TfNode *n, ir_node **in, int n_in, kl_op op)
{
    return want_inputs(c, n, n_in, 1) ? in[0] : NULL;
}

static ir_node *imp_const(imp *c, const Kiln__Tf__TfNode *n, ir_node **in, int n_in, kl_op op)
{
    const Kiln__Tf__TfAttrValue *v = tf_attr(n, "value");
    if (!v || v->value_case != KILN__TF__TF_ATTR_VALUE__VALUE_TENSOR) return NODE_ERR(c, n, "no 'value' tensor attribute");
    return import_tensor(c, n, v->tensor);
}

static ir_node *imp_unary(imp *c, const Kiln__Tf__TfNode *n, ir_node **in, int n_in, kl_op op)
{
    return want_inputs(c, n, n_in, 1) ? ir_unary(c->g, op, in[0], n->name, c->d) : NULL;
}

static ir_node *imp_binary(imp *c, const Kiln__Tf__TfNode *n, ir_node **in, int n_in, kl_op op)
{
    return want_inputs(c, n, n_in, 2) ? ir_binary(c->g, op, in[0], in[1], n->name, c->d) : NULL;
}

static ir_node *imp_bias_add(imp *c, const Kiln__Tf__TfNode *n, ir_node **in, int n_in, kl_op op)
{
    if (!want_inputs(c, n, n_in, 2)) return NULL;
    const Kiln__Tf__TfAttrValue *f = tf_attr(n, "data_format");
    if (f && f->value_case == KILN__TF__TF_ATTR_VALUE__VALUE_S && !(f->s.len == 4 && !memcmp(f->s.data, "NHWC", 4)))
        return NODE_ERR(c, n, "unsupported data_format (only NHWC)");
    if (in[1]->type.rank != 1 || in[0]->type.rank < 1 || in[0]->type.dims[in[0]->type.rank - 1] != in[1]->type.dims[0])
        return NODE_ERR(c, n, "bias must be a vector as long as the last dimension of the value");
    return ir_binary(c->g, KL_OP_ADD, in[0], in[1], n->name, c->d);
}

static ir_node *imp_matmul(imp *c, const Kiln__Tf__TfNode *n, ir_node **in, int n_in, kl_op op)
{
    if (!want_inputs(c, n, n_in, 2)) return NULL;
    ir_attr a = {.matmul = {attr_bool(n, "transpose_a", false), attr_bool(n, "transpose_b", false)}};
    return ir_node_new(c->g, KL_OP_MATMUL, 2, in, &a, NULL, n->name, c->d);
}

static ir_node *imp_reshape(imp *c, const Kiln__Tf__TfNode *n, ir_node **in, int n_in, kl_op op)
{
    if (!want_inputs(c, n, n_in, 2)) return NULL;
    int64_t dims[IR_MAX_RANK];
    int rank = read_ints(c, n, in[1], "the shape operand", dims, IR_MAX_RANK);
    if (rank < 0) return NULL;
    int64_t known = 1, total = ir_type_numel(&in[0]->type);
    int infer = -1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] == -1 && infer < 0) infer = i;
        else if (dims[i] < 0) return NODE_ERR(c, n, "bad shape entry %lld", (long long)dims[i]);
        else known *= dims[i];
    }
    if (infer >= 0) {
        if (known == 0 || total % known) return NODE_ERR(c, n, "cannot infer the -1 dimension");
        dims[infer] = total / known;
    }
    return ir_reshape(c->g, in[0], rank, dims, n->name, c->d);
}

static ir_node *imp_reduce(imp *c, const Kiln__Tf__TfNode *n, ir_node **in, int n_in, kl_op op)
{
    if (!want_inputs(c, n, n_in, 2)) return NULL;
    int64_t axes[IR_MAX_RANK * 4];
    int count = read_ints(c, n, in[1], "the reduction axes", axes, IR_MAX_RANK * 4);
    if (count < 0) return NULL;
    int rank = in[0]->type.rank;
    ir_attr a = {.reduce = {0, attr_bool(n, "keep_dims", false)}};
    for (int i = 0; i < count; i++) {
        int64_t ax = axes[i] < 0 ? axes[i] + rank : axes[i];
        if (ax < 0 || ax >= rank) return NODE_ERR(c, n, "axis %lld out of range for rank %d", (long long)axes[i], rank);
        a.reduce.axes |= 1u << ax;
    }
    return ir_node_new(c->g, op, 1, in, &a, NULL, n->name, c->d);
}

static ir_node *imp_cast(imp *c, const Kiln__Tf__TfNode *n, ir_node **in, int n_in, kl_op op)
{
    if (!want_inputs(c, n, n_in, 1)) return NULL;
    const Kiln__Tf__TfAttrValue *a = tf_attr(n, "DstT");
    kl_dtype to;
    if (!a || a->value_case != KILN__TF__TF_ATTR_VALUE__VALUE_TYPE || !map_dtype(a->type, &to))
        return NODE_ERR(c, n, "missing or unsupported DstT");
    return ir_cast(c->g, in[0], to, n->name);
}

/* ---- walking the graph -------------------------------------------------- */

static const Kiln__Tf__TfNode *node_at(const imp *c, int i) { return c->m->pb->node[i]; }

static bool is_placeholder(const Kiln__Tf__TfNode *n) { return n->op && !strcmp(n->op, "Placeholder"); }

/* Resolve a data input string to a node index, reporting a bad reference. */
static int input_node(imp *c, const Kiln__Tf__TfNode *n, const char *input)
{
    int node, output;
    if (!parse_tensor(c->m, input, &node, &output)) {
        NODE_ERR(c, n, "input '%s' names no node of the graph", input);
        return -1;
    }
    if (output != 0) {
        NODE_ERR(c, n, "input '%s': only output 0 of '%s' is supported", input, node_at(c, node)->name);
        return -1;
    }
    return node;
}

/* Post-order DFS from `root` without recursion; stops at fed nodes. */
static bool visit(imp *c, int root)
{
    if (c->state[root] == 2 || c->value[root]) return true;
    size_t n_nodes = c->m->pb->n_node;
    int *stack = malloc(sizeof *stack * n_nodes * 2), sp = 0;
    size_t *next = calloc(n_nodes, sizeof *next);
    bool ok = stack && next;
    if (ok) stack[sp++] = root, c->state[root] = 1;
    while (ok && sp) {
        int i = stack[sp - 1];
        const Kiln__Tf__TfNode *n = node_at(c, i);
        if (next[i] < n->n_input) {
            const char *input = n->input[next[i]++];
            if (!input || is_control(input)) continue;
            int j = input_node(c, n, input);
            if (j < 0) ok = false;
            else if (c->value[j] || c->state[j] == 2) continue;
            else if (c->state[j] == 1) ok = NODE_ERR(c, n, "is part of a cycle") != NULL;
            else c->state[j] = 1, stack[sp++] = j;
            continue;
        }
        c->state[i] = 2;
        sp--;
        if (is_placeholder(n) && c->auto_feeds) c->auto_placeholders[c->n_auto++] = i;
        else c->order[c->n_order++] = i;
    }
    free(stack);
    free(next);
    return ok;
}

/* Report every needed op without an import rule, all at once. */
static bool check_supported(imp *c)
{
    int bad = 0;
    for (int k = 0; k < c->n_order; k++) {
        const Kiln__Tf__TfNode *n = node_at(c, c->order[k]);
        if (is_placeholder(n)) {
            NODE_ERR(c, n, "is needed by the fetches but not fed (add --feed %s)", n->name);
            bad++;
        } else if (find_op(n->op) < 0) {
            kl_diag_error(c->d, "%s: node '%s': unsupported op %s", c->m->source, n->name, n->op ? n->op : "?");
            bad++;
        }
    }
    return bad == 0;
}

static bool import_node(imp *c, int i)
{
    const Kiln__Tf__TfNode *n = node_at(c, i);
    ir_node *in[64];
    int n_in = 0;
    for (size_t k = 0; k < n->n_input; k++) {
        if (!n->input[k] || is_control(n->input[k])) continue;
        if (n_in == 64) return NODE_ERR(c, n, "too many inputs") != NULL;
        int j = input_node(c, n, n->input[k]);
        if (j < 0) return false;
        if (!c->value[j]) return NODE_ERR(c, n, "input '%s' produces no value", n->input[k]) != NULL;
        in[n_in++] = c->value[j];
    }
    const Kiln__Tf__TfAttrValue *t = tf_attr(n, "T");
    kl_dtype dt;
    if (t && t->value_case == KILN__TF__TF_ATTR_VALUE__VALUE_TYPE && !map_dtype(t->type, &dt))
        return NODE_ERR(c, n, "unsupported dtype (TF DataType %d)", (int)t->type) != NULL;
    int op = find_op(n->op);
    c->value[i] = tf_ops[op].fn(c, n, in, n_in, tf_ops[op].op);
    return c->value[i] != NULL;
}

/* ---- feeds and fetches -------------------------------------------------- */

static ir_node *placeholder_param(imp *c, const Kiln__Tf__TfNode *n, const char *feed_name)
{
    const Kiln__Tf__TfAttrValue *dt = tf_attr(n, "dtype"), *sh = tf_attr(n, "shape");
    kl_dtype t;
    if (!dt || dt->value_case != KILN__TF__TF_ATTR_VALUE__VALUE_TYPE || !map_dtype(dt->type, &t))
        return NODE_ERR(c, n, "feed '%s': missing or unsupported dtype", feed_name);
    ir_type ty;
    if (!sh || sh->value_case != KILN__TF__TF_ATTR_VALUE__VALUE_SHAPE ||
        !read_shape(c, n, sh->shape, t, &ty))
        return NODE_ERR(c, n, "feed '%s': shape is not static; Kiln needs static shapes", feed_name);
    return ir_param(c->g, ty, feed_name);
}

/* A fed tensor that is not a placeholder: its type comes from importing the
 * subgraph that produces it into a scratch graph. */
static ir_node *internal_param(imp *c, const char *feed_name)
{
    kl_diag d = {0};
    ir_graph *g = tf_import(c->m, NULL, 0, &feed_name, 1, &d);
    if (!g) {
        kl_diag_error(c->d, "%s: feed '%s': cannot determine its type, as computing it fails: %s", c->m->source,
                      feed_name, d.text ? d.text : "");
        kl_diag_clear(&d);
        return NULL;
    }
    ir_node *p = ir_param(c->g, g->results[0].node->type, feed_name);
    ir_graph_free(g);
    return p;
}

static bool add_feeds(imp *c, const char *const *feeds, int n_feeds)
{
    for (int f = 0; f < n_feeds; f++) {
        int node, output;
        if (!feeds[f] || !parse_tensor(c->m, feeds[f], &node, &output))
            return kl_diag_error(c->d, "%s: feed '%s' names no node of the graph", c->m->source, feeds[f] ? feeds[f] : ""), false;
        if (output != 0)
            return kl_diag_error(c->d, "%s: feed '%s': only output 0 can be fed", c->m->source, feeds[f]), false;
        if (c->value[node])
            return kl_diag_error(c->d, "%s: feed '%s' is given twice", c->m->source, feeds[f]), false;
        const Kiln__Tf__TfNode *n = node_at(c, node);
        c->value[node] = is_placeholder(n) ? placeholder_param(c, n, feeds[f]) : internal_param(c, feeds[f]);
        if (!c->value[node]) return false;
    }
    return true;
}

static int by_index(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* Nodes whose output no other node reads: the default fetches. */
static int sink_nodes(const tf_model *m, const char ***out)
{
    size_t n = m->pb->n_node;
    unsigned char *used = calloc(n, 1);
    *out = calloc(n + 1, sizeof **out);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < m->pb->node[i]->n_input; k++) {
            const char *in = m->pb->node[i]->input[k];
            int node, output;
            if (in && !is_control(in) && parse_tensor(m, in, &node, &output)) used[node] = 1;
        }
    int count = 0;
    for (size_t i = 0; i < n; i++)
        if (!used[i] && m->pb->node[i]->op && strcmp(m->pb->node[i]->op, "NoOp")) (*out)[count++] = m->pb->node[i]->name;
    free(used);
    return count;
}

static bool import_all(imp *c, const char *const *feeds, int n_feeds, const char *const *fetches, int n_fetches,
                       int *fetch_nodes)
{
    if (!add_feeds(c, feeds, n_feeds)) return false;
    for (int f = 0; f < n_fetches; f++) {
        int output;
        if (!fetches[f] || !parse_tensor(c->m, fetches[f], &fetch_nodes[f], &output))
            return kl_diag_error(c->d, "%s: fetch '%s' names no node of the graph", c->m->source, fetches[f] ? fetches[f] : ""), false;
        if (output != 0)
            return kl_diag_error(c->d, "%s: fetch '%s': only output 0 is supported", c->m->source, fetches[f]), false;
        if (!visit(c, fetch_nodes[f])) return false;
    }
    qsort(c->auto_placeholders, (size_t)c->n_auto, sizeof(int), by_index);
    for (int k = 0; k < c->n_auto; k++) {
        const Kiln__Tf__TfNode *n = node_at(c, c->auto_placeholders[k]);
        if (!(c->value[c->auto_placeholders[k]] = placeholder_param(c, n, n->name))) return false;
    }
    if (!check_supported(c)) return false;
    for (int k = 0; k < c->n_order; k++)
        if (!import_node(c, c->order[k])) return false;
    return true;
}

ir_graph *tf_import(const tf_model *m, const char *const *feeds, int n_feeds, const char *const *fetches,
                    int n_fetches, kl_diag *d)
{
    size_t n = m->pb->n_node;
    const char **sinks = NULL;
    if (n_fetches == 0) {
        n_fetches = sink_nodes(m, &sinks);
        fetches = sinks;
    }
    imp c = {
        .m = m,
        .g = ir_graph_new(m->source),
        .d = d,
        .value = calloc(n, sizeof(ir_node *)),
        .state = calloc(n, 1),
        .order = calloc(n, sizeof(int)),
        .auto_feeds = n_feeds == 0,
        .auto_placeholders = calloc(n, sizeof(int)),
    };
    int *fetch_nodes = calloc((size_t)n_fetches + 1, sizeof(int));
    bool ok = c.value && c.state && c.order && c.auto_placeholders && fetch_nodes &&
              import_all(&c, feeds, n_feeds, fetches, n_fetches, fetch_nodes);
    for (int f = 0; ok && f < n_fetches; f++) ir_graph_add_result(c.g, c.value[fetch_nodes[f]], fetches[f]);
    free(c.value);
    free(c.state);
    free(c.order);
    free(c.auto_placeholders);
    free(fetch_nodes);
    free(sinks);
    if (!ok) {
        if (kl_diag_ok(d)) kl_diag_error(d, "%s: import failed", m->source);
        ir_graph_free(c.g);
        return NULL;
    }
    return c.g;
}
