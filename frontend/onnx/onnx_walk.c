/* frontend/onnx/onnx_walk.c — ONNX graph to IR.
 *
 * ONNX nodes come topologically sorted.  The walk marks the nodes the
 * fetches need (back from the fetch names through producers), reports every
 * unsupported op among them at once, then imports them in order through the
 * table in onnx_ops.def.  Values live in a name -> IR node table.
 *
 * All input is untrusted: before anything is imported the walk checks what
 * the importers assume (each tensor produced once, declared outputs, window
 * attributes that fit the IR's int fields, declared input shapes within
 * Kiln's limits) and says which node or input breaks it.
 */
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

static const struct {
    const char *name;
    ox_import_fn fn;
    kl_op op;
} ox_ops[] = {
#define OXOP(name, fn, op) {name, fn, KL_OP_##op},
#include "onnx_ops.def"
#undef OXOP
};

static int find_op(const ox_node *n)
{
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx")) return -1;
    for (size_t i = 0; i < sizeof ox_ops / sizeof *ox_ops; i++)
        if (n->op_type && !strcmp(ox_ops[i].name, n->op_type)) return (int)i;
    return -1;
}

/* ---- the value table ---------------------------------------------------- */

static uint64_t hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 0x100000001b3ull;
    return h;
}

static size_t slot_in(const char *const *keys, size_t cap, const char *name)
{
    size_t s = hash(name) & (cap - 1);
    while (keys[s] && strcmp(keys[s], name)) s = (s + 1) & (cap - 1);
    return s;
}

static size_t slot_of(const ox *c, const char *name) { return slot_in(c->keys, c->cap, name); }

static ir_node *lookup(const ox *c, const char *name)
{
    if (!name || !*name) return NULL;
    size_t s = slot_of(c, name);
    return c->keys[s] ? c->vals[s] : NULL;
}

static void bind(ox *c, const char *name, ir_node *v)
{
    if (!name || !*name) return;
    size_t s = slot_of(c, name);
    c->keys[s] = name;
    c->vals[s] = v;
}

/* ---- feeds and needed nodes --------------------------------------------- */

static const Kiln__Onnx__OxValueInfo *graph_input(const Kiln__Onnx__OxGraph *g, const char *name)
{
    for (size_t i = 0; i < g->n_input; i++)
        if (g->input[i]->name && !strcmp(g->input[i]->name, name)) return g->input[i];
    return NULL;
}

static bool is_initializer(const Kiln__Onnx__OxGraph *g, const char *name)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && !strcmp(g->initializer[i]->name, name)) return true;
    return false;
}

static ir_node *feed_param(ox *c, const char *name)
{
    const Kiln__Onnx__OxValueInfo *vi = graph_input(c->graph, name);
    if (!vi) return kl_diag_error(c->d, "%s: feed '%s' is not a graph input", c->m->source, name), NULL;
    const Kiln__Onnx__OxType *t = vi->type;
    kl_dtype dt;
    if (!t || t->value_case != KILN__ONNX__OX_TYPE__VALUE_TENSOR_TYPE || !ox_map_dtype(t->tensor_type->elem_type, &dt))
        return kl_diag_error(c->d, "%s: input '%s': not a tensor of a supported dtype", c->m->source, name), NULL;
    const Kiln__Onnx__OxShape *s = t->tensor_type->shape;
    if (!s || s->n_dim > IR_MAX_RANK)
        return kl_diag_error(c->d, "%s: input '%s': unknown or too large rank; Kiln needs static shapes", c->m->source, name), NULL;
    int64_t dims[IR_MAX_RANK];
    int64_t bytes = (int64_t)kl_dtype_size(dt);
    const onnx_pin *pin = NULL;
    for (int i = 0; i < c->n_pins; i++)
        if (!strcmp(c->pins[i].name, name)) pin = &c->pins[i];
    if (pin && pin->rank != (int)s->n_dim)
        return kl_diag_error(c->d, "%s: input '%s' has rank %zu; its pinned shape has rank %d", c->m->source, name,
                             s->n_dim, pin->rank), NULL;
    for (size_t i = 0; i < s->n_dim; i++) {
        bool known = s->dim[i]->value_case == KILN__ONNX__OX_DIM__VALUE_DIM_VALUE && s->dim[i]->dim_value >= 0;
        if (pin && known && pin->dims[i] != s->dim[i]->dim_value)
            return kl_diag_error(c->d, "%s: input '%s': dimension %zu is %lld; its pinned shape says %lld", c->m->source,
                                 name, i, (long long)s->dim[i]->dim_value, (long long)pin->dims[i]), NULL;
        if (pin && pin->dims[i] < 0)
            return kl_diag_error(c->d, "%s: input '%s': pinned dimension %zu is negative", c->m->source, name, i), NULL;
        if (!known && !pin)
            return kl_diag_error(c->d, "%s: input '%s': dimension %zu is symbolic; Kiln needs static shapes (pin it: "
                                 "--feed %s:D0,D1,...)", c->m->source, name, i, name), NULL;
        dims[i] = known ? s->dim[i]->dim_value : pin->dims[i];
        if (dims[i] > KL_MAX_BYTES || (dims[i] && bytes > KL_MAX_BYTES / dims[i]))
            return kl_diag_error(c->d, "%s: input '%s': dimension %zu is %lld, which makes the input larger than Kiln's "
                                 "limit of 1 TiB per tensor", c->m->source, name, i, (long long)dims[i]), NULL;
        bytes *= dims[i];
    }
    ir_type ty = ir_type_make(dt, (int)s->n_dim, dims);
    ir_node *p = ir_param(c->g, ty, name);
    for (int i = 0; p && i < c->m->n_binds; i++) { /* onnx_model_bind: the ABI keeps p, the graph reads the value */
        const struct ox_binding *b = &c->m->binds[i];
        if (strcmp(b->name, name)) continue;
        if (!ir_type_equal(&b->t, &ty)) {
            char tb[160], tc[160];
            return kl_diag_error(c->d, "%s: input '%s' is declared %s, bound to a value of %s", c->m->source, name,
                                 ir_type_str(&ty, tb, sizeof tb), ir_type_str(&b->t, tc, sizeof tc)), NULL;
        }
        return ir_const(c->g, ty, b->data, name);
    }
    return p;
}

/* Whether graph g (not counting nested bodies) defines name. */
static bool defines(const Kiln__Onnx__OxGraph *g, const char *name)
{
    if (graph_input(g, name) || is_initializer(g, name)) return true;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_output; k++)
            if (g->node[i]->output[k] && !strcmp(g->node[i]->output[k], name)) return true;
    return false;
}

static int add_name(const char **names, int n, int max, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], name)) return n;
    if (n < max) names[n++] = name;
    return n;
}

/* Names body reads (its nodes' inputs, and its nested bodies' free names)
 * that it does not define itself. */
static int body_reads_at(const Kiln__Onnx__OxGraph *body, const char **names, int max, int depth);

static int body_reads(const Kiln__Onnx__OxGraph *body, const char **names, int max)
{
    return body_reads_at(body, names, max, 0);
}

static int body_reads_at(const Kiln__Onnx__OxGraph *body, const char **names, int max, int depth)
{
    int n = 0;
    if (depth > OX_MAX_NESTING) return 0; /* the import reports the nesting */
    for (size_t i = 0; i < body->n_node; i++) {
        const ox_node *nd = body->node[i];
        for (size_t k = 0; k < nd->n_input; k++)
            if (nd->input[k] && *nd->input[k] && !defines(body, nd->input[k])) n = add_name(names, n, max, nd->input[k]);
        for (size_t a = 0; a < nd->n_attribute; a++) {
            const char *inner[256];
            int m = nd->attribute[a]->g ? body_reads_at(nd->attribute[a]->g, inner, 256, depth + 1) : 0;
            for (int k = 0; k < m; k++)
                if (!defines(body, inner[k])) n = add_name(names, n, max, inner[k]);
        }
    }
    return n;
}

int ox_free_names(ox *c, const Kiln__Onnx__OxGraph *const *graphs, int n_graphs, const char **names, ir_node **vals, int max)
{
    int n = 0;
    for (int g = 0; g < n_graphs; g++) {
        const char *reads[256];
        int m = graphs[g] ? body_reads(graphs[g], reads, 256) : 0;
        for (int k = 0; k < m; k++) {
            ir_node *v = lookup(c, reads[k]);
            int before = n;
            if (v && (n = add_name(names, n, max, reads[k])) > before) vals[n - 1] = v;
        }
    }
    return n;
}

/* The node producing `name`, or -1. */
static int producer(const ox *c, const char *name)
{
    size_t s = slot_in(c->out_keys, c->cap, name);
    return c->out_keys[s] ? c->out_node[s] : -1;
}

/* ONNX graphs are SSA: a tensor is a graph input, an initializer or the
 * output of one node.  Fills the producer table; a second definition is an
 * error naming both (importing it would silently pick one). */
static bool index_producers(ox *c)
{
    const Kiln__Onnx__OxGraph *g = c->graph;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_output; k++) {
            const char *name = g->node[i]->output[k];
            if (!name || !*name) continue; /* an omitted optional output */
            size_t s = slot_in(c->out_keys, c->cap, name);
            if (c->out_keys[s]) {
                const ox_node *first = g->node[c->out_node[s]];
                ox_err(c, g->node[i], "output '%s' is also produced by node '%s' (%s)", name,
                       first->name && *first->name ? first->name : first->output[0], first->op_type ? first->op_type : "?");
                return false;
            }
            if (graph_input(g, name) || is_initializer(g, name)) {
                ox_err(c, g->node[i], "output '%s' is also a graph %s", name, graph_input(g, name) ? "input" : "initializer");
                return false;
            }
            c->out_keys[s] = name;
            c->out_node[s] = (int)i;
        }
    return true;
}

static void mark_needed(ox *c, const char *name, unsigned char *needed)
{
    const Kiln__Onnx__OxGraph *g = c->graph;
    if (!name || !*name || lookup(c, name)) return;
    int p = producer(c, name);
    if (p < 0 || needed[p]) return;
    needed[p] = 1;
    /* nodes are sorted, so walking inputs recursively stays shallow in
     * practice; the depth is bounded by the graph's node count */
    for (size_t k = 0; k < g->node[p]->n_input; k++) mark_needed(c, g->node[p]->input[k], needed);
    /* a Loop/If/Scan also needs what its bodies read from this graph */
    for (size_t a = 0; a < g->node[p]->n_attribute; a++) {
        const ox_attr *at = g->node[p]->attribute[a];
        const Kiln__Onnx__OxGraph *body = at->g;
        const char *names[256];
        int n = body ? body_reads(body, names, 256) : 0;
        for (int k = 0; k < n; k++) mark_needed(c, names[k], needed);
    }
}

/* Window ops keep pads, strides, dilations and kernel sizes in the IR's int
 * fields: a value outside [lo, KL_MAX_WINDOW] would be truncated by the
 * conversion (2^33 becomes 0) or make shapes negative, so it is refused
 * here, before the importer converts it. */
static bool window_attrs_fit(ox *c, const ox_node *n)
{
    static const struct { const char *name; int64_t lo; } attrs[] = {
        {"pads", 0}, {"strides", 1}, {"dilations", 1}, {"kernel_shape", 1}, {"output_padding", 0}, {"group", 1},
    };
    for (size_t i = 0; i < sizeof attrs / sizeof *attrs; i++) {
        const ox_attr *a = ox_attr_get(n, attrs[i].name);
        if (!a) continue;
        size_t count = a->n_ints ? a->n_ints : 1;
        for (size_t k = 0; k < count; k++) {
            int64_t v = a->n_ints ? a->ints[k] : a->i;
            if (v < attrs[i].lo || v > KL_MAX_WINDOW)
                return ox_err(c, n, "attribute '%s' has value %lld; it must lie in [%lld, %lld]", attrs[i].name,
                              (long long)v, (long long)attrs[i].lo, (long long)KL_MAX_WINDOW) != NULL;
        }
    }
    return true;
}

static bool import_node(ox *c, const ox_node *n)
{
    ir_node *in[64] = {0};
    if (n->n_input > 64) return ox_err(c, n, "too many inputs") != NULL;
    for (size_t k = 0; k < n->n_input; k++) {
        if (!n->input[k] || !*n->input[k]) continue; /* an omitted optional input */
        if (!(in[k] = lookup(c, n->input[k]))) return ox_err(c, n, "input '%s' is not defined before use", n->input[k]) != NULL;
    }
    int op = find_op(n);
    ox_import_fn fn = ox_ops[op].fn;
    if ((fn == ox_conv || fn == ox_pool || fn == ox_conv_transpose) && !window_attrs_fit(c, n)) return false;
    c->n_outs = 0;
    ir_node *r = ox_ops[op].fn(c, n, in, (int)n->n_input, ox_ops[op].op);
    if (!r) {
        if (kl_diag_ok(c->d)) ox_err(c, n, "import failed");
        return false;
    }
    bind(c, n->n_output ? n->output[0] : NULL, r);
    for (int k = 1; k < c->n_outs && (size_t)k < n->n_output; k++) bind(c, n->output[k], c->outs[k]);
    return true;
}

static bool bind_initializers(ox *c)
{
    const Kiln__Onnx__OxGraph *g = c->graph;
    for (size_t i = 0; i < g->n_initializer; i++) {
        ir_node *k;
        if (!ox_tensor_to_const(c, NULL, g->initializer[i], g->initializer[i]->name, &k)) return false;
        bind(c, g->initializer[i]->name, k);
    }
    return true;
}

/* Imports the nodes the fetches need (their inputs bound already). */
static bool import_needed(ox *c, const char *const *fetches, int n_fetches)
{
    const Kiln__Onnx__OxGraph *g = c->graph;
    unsigned char *needed = kl_calloc(c->d, g->n_node + 1, 1, "the ONNX node table");
    if (!needed) return false;
    for (int f = 0; f < n_fetches; f++) {
        if (!lookup(c, fetches[f]) && producer(c, fetches[f]) < 0) {
            free(needed);
            return kl_diag_error(c->d, "%s: fetch '%s' is produced by no node", c->m->source, fetches[f]), false;
        }
        mark_needed(c, fetches[f], needed);
    }
    int bad = 0;
    for (size_t i = 0; i < g->n_node; i++)
        if (needed[i] && find_op(g->node[i]) < 0) {
            const ox_node *n = g->node[i];
            kl_diag_error(c->d, "%s: node '%s': unsupported op %s%s%s", c->m->source,
                          n->name && *n->name ? n->name : n->n_output ? n->output[0] : "?", n->domain && *n->domain ? n->domain : "",
                          n->domain && *n->domain ? "." : "", n->op_type ? n->op_type : "?");
            bad++;
        }
    for (size_t i = 0; !bad && i < g->n_node; i++)
        if (needed[i] && !import_node(c, g->node[i])) bad++;
    free(needed);
    return bad == 0;
}

static bool import_all(ox *c, const char *const *feeds, int n_feeds, const char *const *fetches, int n_fetches)
{
    if (!bind_initializers(c)) return false;
    for (int f = 0; f < n_feeds; f++) {
        ir_node *p = feed_param(c, feeds[f]);
        if (!p) return false;
        bind(c, feeds[f], p); /* a fed initializer is overridden */
    }
    return import_needed(c, fetches, n_fetches);
}

static size_t table_size(const Kiln__Onnx__OxGraph *g, size_t extra)
{
    size_t cap = 64, names = g->n_initializer + g->n_input + extra + 1;
    for (size_t i = 0; i < g->n_node; i++) names += g->node[i]->n_output;
    while (cap < names * 2) cap *= 2;
    return cap;
}

bool ox_import_body(ox *c, const Kiln__Onnx__OxGraph *body, ir_graph *region, ir_node *const *inputs, int n_inputs,
                    const char *const *cap_names, ir_node *const *caps, int n_caps, ir_node **outs)
{
    if ((size_t)n_inputs != body->n_input) {
        kl_diag_error(c->d, "%s: body '%s' takes %zu inputs, %d given", c->m->source, body->name ? body->name : "",
                      body->n_input, n_inputs);
        return false;
    }
    if (c->depth >= OX_MAX_NESTING) {
        kl_diag_error(c->d, "%s: bodies nest deeper than %d", c->m->source, OX_MAX_NESTING);
        return false;
    }
    size_t cap = table_size(body, (size_t)n_caps);
    ox b = {.m = c->m, .graph = body, .g = region, .d = c->d, .cap = cap, .depth = c->depth + 1,
            .keys = kl_calloc(c->d, cap, sizeof(char *), "the ONNX value table"),
            .vals = kl_calloc(c->d, cap, sizeof(ir_node *), "the ONNX value table"),
            .out_keys = kl_calloc(c->d, cap, sizeof(char *), "the ONNX value table"),
            .out_node = kl_calloc(c->d, cap, sizeof(int), "the ONNX value table")};
    const char **fetches = kl_calloc(c->d, body->n_output + 1, sizeof *fetches, "the body's outputs");
    bool ok = b.keys && b.vals && b.out_keys && b.out_node && fetches && index_producers(&b);
    for (int k = 0; ok && k < n_caps; k++) bind(&b, cap_names[k], caps[k]);
    ok = ok && bind_initializers(&b);
    for (int k = 0; ok && k < n_inputs; k++) bind(&b, body->input[k]->name, inputs[k]);
    for (size_t k = 0; ok && k < body->n_output; k++) fetches[k] = body->output[k]->name;
    ok = ok && import_needed(&b, fetches, (int)body->n_output);
    for (size_t k = 0; ok && k < body->n_output; k++)
        if (!(outs[k] = lookup(&b, fetches[k])))
            ok = (kl_diag_error(c->d, "%s: body output '%s' has no value", c->m->source, fetches[k]), false);
    free(b.keys), free(b.vals), free(b.out_keys), free(b.out_node), free(fetches);
    return ok;
}

/* The default feeds (declared inputs that are not initializers) and fetches
 * (declared outputs), in arrays the caller frees. */
static bool default_names(const Kiln__Onnx__OxGraph *g, const char *source, const char ***feeds, int *n_feeds,
                          const char ***fetches, int *n_fetches, kl_diag *d)
{
    if (*n_feeds == 0) {
        const char **f = kl_calloc(d, g->n_input + 1, sizeof *f, "the feed list");
        if (!f) return false;
        for (size_t i = 0; i < g->n_input; i++)
            if (g->input[i]->name && !is_initializer(g, g->input[i]->name)) f[(*n_feeds)++] = g->input[i]->name;
        *feeds = f;
    }
    if (*n_fetches == 0) {
        if (g->n_output == 0)
            return kl_diag_error(d, "%s: the graph declares no outputs; name the tensors to compute as fetches "
                                    "(kiln --fetch NAME)", source), false;
        const char **f = kl_calloc(d, g->n_output + 1, sizeof *f, "the fetch list");
        if (!f) return false;
        for (size_t i = 0; i < g->n_output; i++) f[(*n_fetches)++] = g->output[i]->name ? g->output[i]->name : "";
        *fetches = f;
    }
    return true;
}

ir_graph *onnx_import(const onnx_model *m, const char *const *feeds, int n_feeds, const char *const *fetches,
                      int n_fetches, kl_diag *d)
{
    return onnx_import_pinned(m, feeds, n_feeds, fetches, n_fetches, NULL, 0, d);
}

ir_graph *onnx_import_pinned(const onnx_model *m, const char *const *feeds, int n_feeds, const char *const *fetches,
                             int n_fetches, const onnx_pin *pins, int n_pins, kl_diag *d)
{
    const Kiln__Onnx__OxGraph *g = m->pb->graph;
    const char **dflt_feeds = NULL, **dflt_fetches = NULL;
    bool own_feeds = n_feeds == 0, own_fetches = n_fetches == 0;
    bool ok = default_names(g, m->source, &dflt_feeds, &n_feeds, &dflt_fetches, &n_fetches, d);
    if (own_feeds) feeds = dflt_feeds;
    if (own_fetches) fetches = dflt_fetches;
    size_t cap = table_size(g, 0);
    ox c = {.m = m, .graph = g, .g = ir_graph_new(m->source), .d = d, .cap = cap, .pins = pins, .n_pins = n_pins};
    for (int i = 0; ok && i < n_pins; i++)
        if (!graph_input(g, pins[i].name))
            kl_diag_error(d, "%s: pinned feed '%s' is not a graph input", m->source, pins[i].name), ok = false;
    if (ok) {
        c.keys = kl_calloc(d, cap, sizeof(char *), "the ONNX value table");
        c.vals = kl_calloc(d, cap, sizeof(ir_node *), "the ONNX value table");
        c.out_keys = kl_calloc(d, cap, sizeof(char *), "the ONNX value table");
        c.out_node = kl_calloc(d, cap, sizeof(int), "the ONNX value table");
        ok = c.keys && c.vals && c.out_keys && c.out_node && index_producers(&c);
    }
    ok = ok && import_all(&c, feeds, n_feeds, fetches, n_fetches);
    for (int f = 0; ok && f < n_fetches; f++) {
        ir_node *v = lookup(&c, fetches[f]);
        if (!v) kl_diag_error(d, "%s: fetch '%s' has no value", m->source, fetches[f]), ok = false;
        else ir_graph_add_result(c.g, v, fetches[f]);
    }
    free(c.keys);
    free(c.vals);
    free(c.out_keys);
    free(c.out_node);
    free(dflt_feeds);
    free(dflt_fetches);
    if (!ok) {
        ir_graph_free(c.g);
        return NULL;
    }
    return c.g;
}
