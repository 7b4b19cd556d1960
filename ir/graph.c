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
    kl_arena_free(g->arena);
}

static void *grow(void *p, int *cap, int need, size_t elem)
{
    if (need <= *cap) return p;
    int c = *cap ? *cap * 2 : 16;
    while (c < need) c *= 2;
    p = realloc(p, (size_t)c * elem);
    if (!p) kl_die(__FILE__, __LINE__, "out of memory");
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
    g->params = realloc(g->params, sizeof *g->params * (size_t)(cap + 1));
    g->param_names = realloc(g->param_names, sizeof *g->param_names * (size_t)(cap + 1));
    if (!g->params || !g->param_names) kl_die(__FILE__, __LINE__, "out of memory");
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

bool ir_infer_type(const ir_graph *g, const ir_node *n, ir_type *out, kl_diag *d)
{
    char lb[256], ta[64], tb[64];
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
        if (a->rank != 2 || b->rank != 2 || a->dtype != b->dtype) {
            kl_diag_error(d, "%s: %s: needs two rank-2 operands of one dtype, got %s and %s", g->source,
                          node_label(n, lb, sizeof lb), ir_type_str(a, ta, sizeof ta), ir_type_str(b, tb, sizeof tb));
            return false;
        }
        int64_t m = n->attr.matmul.transpose_a ? a->dims[1] : a->dims[0];
        int64_t ka = n->attr.matmul.transpose_a ? a->dims[0] : a->dims[1];
        int64_t kb = n->attr.matmul.transpose_b ? b->dims[1] : b->dims[0];
        int64_t nn = n->attr.matmul.transpose_b ? b->dims[0] : b->dims[1];
        if (ka != kb) {
            kl_diag_error(d, "%s: %s: inner dimensions differ: %s x %s (transpose_a=%d, transpose_b=%d)",
                          g->source, node_label(n, lb, sizeof lb), ir_type_str(a, ta, sizeof ta),
                          ir_type_str(b, tb, sizeof tb), n->attr.matmul.transpose_a, n->attr.matmul.transpose_b);
            return false;
        }
        *out = ir_type_make(a->dtype, 2, (int64_t[]){m, nn});
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
    }
    KL_ASSERT(!"bad shape rule");
}

ir_node *ir_node_new(ir_graph *g, kl_op op, int n_in, ir_node *const *in, const ir_attr *attr,
                     const ir_type *type, const char *name, kl_diag *d)
{
    ir_node tmp = {.op = op, .n_in = n_in, .in = (ir_node **)in, .name = name};
    if (attr) tmp.attr = *attr;
    if (type) tmp.type = *type;
    ir_type t;
    if (!ir_infer_type(g, &tmp, &t, d)) return NULL;
    ir_node *n = append(g, op, n_in, in, name);
    if (attr) n->attr = *attr;
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
