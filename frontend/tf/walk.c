/* frontend/tf/walk.c — GraphDef nodes to IR, tfcompile style.
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

static const struct {
    const char *name;
    tf_import_fn fn;
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

#define NODE_ERR tf_err

/* ---- tensor names ------------------------------------------------------- */

/* Ops with several output args: their names in OpDef order.  Others
 * (one output arg, a list or not) count outputs from 0. */
static const struct { const char *op, *args[6]; } multi_output_args[] = {
    {"FusedBatchNorm", {"y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"}},
    {"FusedBatchNormV2", {"y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"}},
    {"FusedBatchNormV3", {"y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2", "reserve_space_3"}},
    {"TopKV2", {"values", "indices"}},
    {"Unique", {"y", "idx"}},
    {"TensorListPopBack", {"output_handle", "tensor"}},
};

int tf_output_base(const char *op, const char *arg, size_t len)
{
    for (size_t i = 0; op && i < sizeof multi_output_args / sizeof *multi_output_args; i++) {
        if (strcmp(multi_output_args[i].op, op)) continue;
        for (int k = 0; k < 6 && multi_output_args[i].args[k]; k++)
            if (strlen(multi_output_args[i].args[k]) == len && !memcmp(multi_output_args[i].args[k], arg, len)) return k;
    }
    return 0;
}

/* Inside a function: "arg", "node:output_arg:k" (k-th value of that
 * output arg). */
static bool parse_function_tensor(const tf_model *m, const char *s, int *node, int *output)
{
    const char *c1 = strchr(s, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    *output = 0;
    *node = tf_find_node(m, s, c1 ? (size_t)(c1 - s) : strlen(s));
    if (*node < 0 || !c1) return *node >= 0;
    char *end;
    long k = strtol(c2 ? c2 + 1 : c1 + 1, &end, 10);
    if (*end || k < 0 || k >= 1 << 20) return false;
    *output = (int)k + (c2 ? tf_output_base(m->pb->node[*node]->op, c1 + 1, (size_t)(c2 - c1 - 1)) : 0);
    return true;
}

/* "node", "node:k" -> node index and output; false if no such node. */
static bool parse_tensor(const tf_model *m, const char *s, int *node, int *output)
{
    if (m->fn) return parse_function_tensor(m, s, node, output);
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

bool tf_parse_tensor(const tf_model *m, const char *s, int *node, int *output) { return parse_tensor(m, s, node, output); }

static bool is_control(const char *input) { return input[0] == '^'; }

/* ---- walking the graph -------------------------------------------------- */

static bool is_exit(const tf_node *n) { return n->op && !strcmp(n->op, "Exit"); }

static const tf_node *node_at(const imp *c, int i) { return c->m->pb->node[i]; }

static bool is_placeholder(const tf_node *n) { return n->op && !strcmp(n->op, "Placeholder"); }

/* Resolve a data input string to a node index, reporting a bad reference. */
static int input_node(imp *c, const tf_node *n, const char *input, int *output)
{
    int node;
    if (!parse_tensor(c->m, input, &node, output)) {
        NODE_ERR(c, n, "input '%s' names no node of the graph", input);
        return -1;
    }
    return node;
}

/* The IR value of output k of node j, or NULL. */
static ir_node *value_of(const imp *c, int j, int k)
{
    if (c->more[j]) return k < c->n_more[j] ? c->more[j][k] : NULL;
    return k == 0 ? c->value[j] : NULL;
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
        const tf_node *n = node_at(c, i);
        if (is_exit(n) && next[i] == 0) { /* a TF1 loop: what enters its frame, not its cycle */
            next[i] = n->n_input;
            int deps[256], nd = tf_v1_frame_inputs(c->m, i, deps, 256);
            if (nd < 0) ok = NODE_ERR(c, n, "is not the exit of a while loop (Exit <- Switch <- Merge <- Enter)") != NULL;
            for (int k = 0; ok && k < nd; k++) {
                int j = deps[k];
                if (c->value[j] || c->state[j] == 2) continue;
                if (c->state[j] == 1) ok = NODE_ERR(c, n, "is part of a cycle") != NULL;
                else c->state[j] = 1, stack[sp++] = j;
            }
            continue;
        }
        if (next[i] < n->n_input) {
            const char *input = n->input[next[i]++];
            if (!input || (is_control(input) && !c->follow_control)) continue;
            int out_k, j = input_node(c, n, is_control(input) ? input + 1 : input, &out_k);
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

/* The element type attribute T names a dtype Kiln has no IR type for. */
static bool bad_element_type(const tf_node *n, int *tf)
{
    const tf_attr_value *t = tf_attr(n, "T");
    kl_dtype dt;
    *tf = t && t->value_case == KILN__TF__TF_ATTR_VALUE__VALUE_TYPE ? (int)t->type : 0;
    /* variants are TensorLists, which become plain tensors (tf_ops_control.c) */
    return t && t->value_case == KILN__TF__TF_ATTR_VALUE__VALUE_TYPE && *tf != KILN__TF__TF_DATA_TYPE__DT_VARIANT &&
           !tf_map_dtype(*tf, &dt);
}

/* "N unsupported ops: A, B" with each op type once, so a user sees at a
 * glance what a model needs before the per-node lines. */
static void summarize_unsupported(imp *c, int n_bad)
{
    char list[512] = "";
    size_t len = 0;
    for (int k = 0; k < c->n_order && len < sizeof list - 1; k++) {
        const tf_node *n = node_at(c, c->order[k]);
        const char *op = n->op ? n->op : "?";
        int tf;
        if (is_placeholder(n) || (find_op(n->op) >= 0 && !bad_element_type(n, &tf))) continue;
        bool seen = false;
        for (int j = 0; j < k && !seen; j++) {
            const tf_node *p = node_at(c, c->order[j]);
            seen = p->op && !strcmp(p->op, op) && (find_op(p->op) < 0 || bad_element_type(p, &tf));
        }
        if (!seen) len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", op);
    }
    kl_diag_error(c->d, "%s: %d unsupported op%s: %s", c->m->source, n_bad, n_bad == 1 ? "" : "s", list);
}

/* Report every needed op without an import rule (or on a dtype Kiln lacks)
 * and every unfed placeholder, all at once, before anything is built. */
static bool check_supported(imp *c)
{
    int n_bad = 0, n_unfed = 0, tf;
    for (int k = 0; k < c->n_order; k++) {
        const tf_node *n = node_at(c, c->order[k]);
        n_unfed += is_placeholder(n);
        n_bad += !is_placeholder(n) && (find_op(n->op) < 0 || bad_element_type(n, &tf));
    }
    if (n_bad > 1) summarize_unsupported(c, n_bad);
    for (int k = 0; k < c->n_order; k++) {
        const tf_node *n = node_at(c, c->order[k]);
        const char *op = n->op ? n->op : "?";
        char name[48];
        if (is_placeholder(n))
            NODE_ERR(c, n, "is needed by the fetches but not fed (add --feed %s)", n->name);
        else if (find_op(n->op) < 0)
            kl_diag_error(c->d, "%s: node '%s': unsupported op %s", c->m->source, n->name, op);
        else if (bad_element_type(n, &tf))
            kl_diag_error(c->d, "%s: node '%s': unsupported op %s on %s", c->m->source, n->name, op,
                          tf_dtype_name(tf, name, sizeof name));
    }
    return n_bad + n_unfed == 0;
}

static bool import_node(imp *c, int i)
{
    const tf_node *n = node_at(c, i);
    if (c->value[i]) return true; /* an Exit whose loop an earlier Exit built */
    if (is_exit(n)) return tf_v1_loop(c, i) && c->value[i];
    ir_node *in[256];
    int n_in = 0;
    for (size_t k = 0; k < n->n_input; k++) {
        if (!n->input[k] || is_control(n->input[k])) continue;
        if (n_in == 256) return NODE_ERR(c, n, "too many inputs") != NULL;
        int out_k, j = input_node(c, n, n->input[k], &out_k);
        if (j < 0) return false;
        if (!(in[n_in++] = value_of(c, j, out_k)))
            return NODE_ERR(c, n, "input '%s' names an output its node does not have", n->input[k]) != NULL;
    }
    int op = find_op(n->op); /* check_supported made sure there is one */
    c->n_outs = 0;
    if (!tf_state_operands(c, n, in, n_in)) return false;
    ir_node *r = tf_ops[op].fn(c, n, in, n_in, tf_ops[op].op);
    c->value[i] = tf_is_marker(c, r) ? r : tf_fold(c, r);
    if (c->value[i] && c->n_outs > 0) {
        c->more[i] = kl_arena_alloc(c->g->arena, sizeof(ir_node *) * (size_t)c->n_outs, 8);
        for (int k = 0; k < c->n_outs; k++) c->more[i][k] = tf_fold(c, c->outs[k]);
        c->n_more[i] = c->n_outs;
    }
    return c->value[i] != NULL;
}

ir_node *tf_input_value(imp *c, const tf_node *n, const char *input)
{
    int out_k, j = input_node(c, n, input, &out_k);
    if (j < 0) return NULL;
    ir_node *v = value_of(c, j, out_k);
    if (!v) NODE_ERR(c, n, "input '%s' has no value (yet)", input);
    return v;
}

/* ---- feeds and fetches -------------------------------------------------- */

/* "[?,32]" (unknown dims as ?), or "unknown rank". */
static const char *shape_str(const Kiln__Tf__TfShape *s, char *buf, size_t size)
{
    if (!s || s->unknown_rank) return snprintf(buf, size, "unknown rank"), buf;
    size_t len = (size_t)snprintf(buf, size, "[");
    for (size_t i = 0; i < s->n_dim && len < size; i++) {
        int64_t v = s->dim[i]->size;
        len += v < 0 ? (size_t)snprintf(buf + len, size - len, "%s?", i ? "," : "")
                     : (size_t)snprintf(buf + len, size - len, "%s%lld", i ? "," : "", (long long)v);
    }
    if (len < size) snprintf(buf + len, size - len, "]");
    return buf;
}

static bool shape_is_dynamic(const Kiln__Tf__TfShape *s)
{
    if (!s || s->unknown_rank) return true;
    for (size_t i = 0; i < s->n_dim; i++)
        if (s->dim[i]->size < 0) return true;
    return false;
}

/* "1,32" for [?,32]: the command-line form of a pin, unknown dims as 1. */
static const char *pin_example(const Kiln__Tf__TfShape *s, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = 0;
    for (size_t i = 0; s && !s->unknown_rank && i < s->n_dim && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%lld", i ? "," : "", (long long)(s->dim[i]->size < 0 ? 1 : s->dim[i]->size));
    if (!s || s->unknown_rank) snprintf(buf, size, "D0,D1,...");
    else if (s->n_dim == 1 && len + 1 < size) strcat(buf, ","); /* "x:32," (the CLI reads "x:32" as output 32) */
    return buf;
}

/* A feed whose shape the caller pinned: the placeholder's known dims must agree. */
static ir_node *pinned_param(imp *c, const char *feed_name, kl_dtype t, const Kiln__Tf__TfShape *sh, const tf_pin *pin)
{
    char buf[160];
    bool known_rank = sh && !sh->unknown_rank;
    if (pin->rank < 0 || pin->rank > IR_MAX_RANK || (known_rank && (size_t)pin->rank != sh->n_dim)) {
        kl_diag_error(c->d, "%s: feed '%s': pinned shape has rank %d, the placeholder's is %s", c->m->source, feed_name,
                      pin->rank, shape_str(sh, buf, sizeof buf));
        return NULL;
    }
    for (int k = 0; k < pin->rank; k++) {
        int64_t have = known_rank ? sh->dim[k]->size : -1;
        if (pin->dims[k] < 0 || (have >= 0 && have != pin->dims[k])) {
            kl_diag_error(c->d, "%s: feed '%s': pinned dim %d is %lld, the placeholder's shape is %s", c->m->source,
                          feed_name, k, (long long)pin->dims[k], shape_str(sh, buf, sizeof buf));
            return NULL;
        }
    }
    return ir_param(c->g, ir_type_make(t, pin->rank, pin->dims), feed_name);
}

/* A param typed by a dtype and a shape attribute (Placeholder's dtype/shape,
 * or T/dtype and one entry of _output_shapes). */
static ir_node *typed_param(imp *c, const tf_node *n, const char *feed_name, const tf_attr_value *dt,
                            const Kiln__Tf__TfShape *sh)
{
    kl_dtype t;
    char buf[160];
    if (!dt || dt->value_case != KILN__TF__TF_ATTR_VALUE__VALUE_TYPE)
        return NODE_ERR(c, n, "feed '%s': missing dtype", feed_name);
    if (!tf_map_dtype(dt->type, &t))
        return NODE_ERR(c, n, "feed '%s': unsupported dtype %s", feed_name, tf_dtype_name(dt->type, buf, sizeof buf));
    const tf_pin *pin = NULL;
    for (int k = 0; k < c->n_pins; k++)
        if (c->pins[k].name && !strcmp(c->pins[k].name, feed_name)) pin = &c->pins[k];
    if (pin && shape_is_dynamic(sh)) return pinned_param(c, feed_name, t, sh, pin); /* a static shape stands */
    char ex[96];
    if (shape_is_dynamic(sh)) {
        kl_diag_error(c->d, "%s: feed '%s': shape is not static (%s); pin it at compile time, e.g. --feed %s:%s "
                            "(kiln_options.feed_shapes)", c->m->source, feed_name, shape_str(sh, buf, sizeof buf),
                      feed_name, pin_example(sh, ex, sizeof ex));
        return NULL;
    }
    ir_type ty;
    return tf_read_shape(c, n, sh, t, &ty) ? ir_param(c->g, ty, feed_name) : NULL;
}

static ir_node *placeholder_param(imp *c, const tf_node *n, const char *feed_name)
{
    const tf_attr_value *sh = tf_attr(n, "shape");
    bool has_shape = sh && sh->value_case == KILN__TF__TF_ATTR_VALUE__VALUE_SHAPE;
    return typed_param(c, n, feed_name, tf_attr(n, "dtype"), has_shape ? sh->shape : NULL);
}

/* Output k's shape from the `_output_shapes` attribute some exporters
 * write, or NULL. */
static const Kiln__Tf__TfShape *recorded_shape(const tf_node *n, int k)
{
    const tf_attr_value *a = tf_attr(n, "_output_shapes");
    if (!a || a->value_case != KILN__TF__TF_ATTR_VALUE__VALUE_LIST || !a->list) return NULL;
    return (size_t)k < a->list->n_shape ? a->list->shape[k] : NULL;
}

/* A fed tensor that is not a placeholder: its type comes from importing the
 * subgraph that produces it into a scratch graph, or, where that fails (an
 * unsupported op upstream is a good reason to cut the graph there), from
 * the `_output_shapes` attribute. */
static ir_node *internal_param(imp *c, const tf_node *n, const char *feed_name)
{
    kl_diag d = {0};
    /* the entry's pinned shapes hold here too: a gradient's type follows the pinned batch */
    tf_entry e = {.fetches = &feed_name, .n_fetches = 1, .pins = c->pins, .n_pins = c->n_pins};
    ir_graph *g = tf_import_entry(c->m, &e, &d);
    const Kiln__Tf__TfShape *recorded = recorded_shape(n, 0);
    const tf_attr_value *dt = tf_attr(n, "T") ? tf_attr(n, "T") : tf_attr(n, "dtype");
    if (!g && recorded && dt) {
        kl_diag_clear(&d);
        return typed_param(c, n, feed_name, dt, recorded);
    }
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

/* A fed PlaceholderWithDefault takes the type its attributes state, as a
 * Placeholder does; without a static shape attribute, its default's. */
static ir_node *feed_param(imp *c, const tf_node *n, const char *feed_name)
{
    if (is_placeholder(n)) return placeholder_param(c, n, feed_name);
    const tf_attr_value *sh = tf_attr(n, "shape");
    if (n->op && !strcmp(n->op, "PlaceholderWithDefault") && sh &&
        sh->value_case == KILN__TF__TF_ATTR_VALUE__VALUE_SHAPE && !shape_is_dynamic(sh->shape))
        return placeholder_param(c, n, feed_name);
    return internal_param(c, n, feed_name);
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
        const tf_node *n = node_at(c, node);
        c->value[node] = feed_param(c, n, feeds[f]);
        if (!c->value[node]) return false;
    }
    return true;
}

static int by_index(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* Nodes whose output no other node reads: the default fetches. */
static int sink_nodes(const tf_model *m, const char ***out)
{
    size_t n = m->pb->n_node;
    unsigned char *used = kl_calloc(NULL, n, 1, "the sink list");
    *out = kl_calloc(NULL, n + 1, sizeof **out, "the sink list");
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
                       int *fetch_nodes, int *fetch_outs, const char *const *targets, int n_targets)
{
    if (!add_feeds(c, feeds, n_feeds)) return false;
    for (int t = 0; t < n_targets; t++) {
        int node, output;
        if (!targets[t] || !parse_tensor(c->m, targets[t], &node, &output))
            return kl_diag_error(c->d, "%s: target '%s' names no node of the graph", c->m->source, targets[t] ? targets[t] : ""), false;
        if (!visit(c, node)) return false;
    }
    for (int f = 0; f < n_fetches; f++) {
        int output;
        if (!fetches[f] || !parse_tensor(c->m, fetches[f], &fetch_nodes[f], &output))
            return kl_diag_error(c->d, "%s: fetch '%s' names no node of the graph", c->m->source, fetches[f] ? fetches[f] : ""), false;
        fetch_outs[f] = output;
        if (!visit(c, fetch_nodes[f])) return false;
    }
    qsort(c->auto_placeholders, (size_t)c->n_auto, sizeof(int), by_index);
    for (int k = 0; k < c->n_auto; k++) {
        const tf_node *n = node_at(c, c->auto_placeholders[k]);
        if (!(c->value[c->auto_placeholders[k]] = placeholder_param(c, n, n->name))) return false;
    }
    if (!check_supported(c)) return false;
    for (int k = 0; k < c->n_order; k++)
        if (!import_node(c, c->order[k])) return false;
    for (int f = 0; f < n_fetches; f++)
        if (!value_of(c, fetch_nodes[f], fetch_outs[f]))
            return kl_diag_error(c->d, "%s: fetch '%s': the node has no such output", c->m->source, fetches[f]), false;
    return true;
}

/* The importer's per-GraphDef-node tables (n nodes), allocated through the
 * checked allocator: false, reported in c->d, when one cannot be had. */
static bool imp_tables_new(imp *c, size_t n)
{
    c->value = kl_calloc(c->d, n + 1, sizeof(ir_node *), "the import tables");
    c->more = kl_calloc(c->d, n + 1, sizeof(ir_node **), "the import tables");
    c->n_more = kl_calloc(c->d, n + 1, sizeof(int), "the import tables");
    c->state = kl_calloc(c->d, n + 1, 1, "the import tables");
    c->order = kl_calloc(c->d, n + 1, sizeof(int), "the import tables");
    c->auto_placeholders = kl_calloc(c->d, n + 1, sizeof(int), "the import tables");
    return c->value && c->more && c->n_more && c->state && c->order && c->auto_placeholders;
}

static void imp_tables_free(imp *c)
{
    free(c->value), free(c->more), free(c->n_more), free(c->state), free(c->order), free(c->auto_placeholders);
}

ir_graph *tf_import(const tf_model *m, const char *const *feeds, int n_feeds, const char *const *fetches,
                    int n_fetches, kl_diag *d)
{
    tf_entry e = {.feeds = feeds, .n_feeds = n_feeds, .fetches = fetches, .n_fetches = n_fetches};
    return tf_import_entry(m, &e, d);
}

ir_graph *tf_import_entry(const tf_model *m, const tf_entry *e, kl_diag *d)
{
    const char *const *feeds = e->feeds, *const *fetches = e->fetches;
    int n_feeds = e->n_feeds, n_fetches = e->n_fetches;
    size_t n = m->pb->n_node;
    const char **sinks = NULL;
    if (n_fetches == 0 && e->n_targets == 0) {
        n_fetches = sink_nodes(m, &sinks);
        fetches = sinks;
    }
    imp c = {
        .m = m,
        .g = ir_graph_new(m->source),
        .d = d,
        .auto_feeds = n_feeds == 0,
        .pins = e->pins,
        .n_pins = e->n_pins,
        .allreduce_ranks = e->allreduce_ranks,
        .allreduce_sum = e->allreduce_sum,
    };
    bool tables = imp_tables_new(&c, n);
    if (tables) c.st = tf_state_new(&c);
    c.follow_control = c.st || e->n_targets > 0;
    int *fetch_nodes = calloc((size_t)n_fetches + 1, sizeof(int)), *fetch_outs = calloc((size_t)n_fetches + 1, sizeof(int));
    bool ok = tables && kl_diag_ok(d) && fetch_nodes && fetch_outs &&
              import_all(&c, feeds, n_feeds, fetches, n_fetches, fetch_nodes, fetch_outs, e->targets, e->n_targets);
    for (int f = 0; ok && f < n_fetches; f++) {
        ir_node *v = tf_state_fetch(&c, fetches[f], value_of(&c, fetch_nodes[f], fetch_outs[f]));
        if (v) ir_graph_add_result(c.g, v, fetches[f]);
        else ok = false;
    }
    ok = ok && tf_state_finish(&c);
    free(fetch_outs);
    tf_state_free(c.st);
    imp_tables_free(&c);
    free(fetch_nodes);
    free(sinks);
    if (!ok) {
        if (kl_diag_ok(d)) kl_diag_error(d, "%s: import failed", m->source);
        ir_graph_free(c.g);
        return NULL;
    }
    return c.g;
}

bool tf_import_into(const imp *outer, const tf_model *m, ir_graph *g, const int *bound_at, ir_node *const *bound,
                    int n_bound, const char *const *fetches, int n_fetches, ir_node **outs)
{
    kl_diag *d = outer->d;
    if (outer->depth >= TF_MAX_NESTING) {
        kl_diag_error(d, "%s: loops, conditionals and calls nest deeper than %d", m->source, TF_MAX_NESTING);
        return false;
    }
    size_t n = m->pb->n_node;
    imp c = {
        .m = m,
        .g = g,
        .d = d,
        .depth = outer->depth + 1,
    };
    bool tables = imp_tables_new(&c, n);
    int *nodes = calloc((size_t)n_fetches + 1, sizeof(int)), *outputs = calloc((size_t)n_fetches + 1, sizeof(int));
    bool ok = tables && nodes && outputs;
    for (int i = 0; ok && i < n_bound; i++) {
        int at = bound_at ? bound_at[i] : i;
        if (at < 0 || (size_t)at >= n) continue;
        c.value[at] = bound[i];
        c.more[at] = kl_arena_alloc(g->arena, sizeof(ir_node *) * 2, 8); /* a Switch's both outputs */
        c.more[at][0] = c.more[at][1] = bound[i];
        c.n_more[at] = 2;
    }
    for (int f = 0; ok && f < n_fetches; f++) {
        if (!fetches[f] || !parse_tensor(m, fetches[f], &nodes[f], &outputs[f]))
            ok = (kl_diag_error(d, "%s: result '%s' names no node", m->source, fetches[f] ? fetches[f] : ""), false);
        else ok = visit(&c, nodes[f]);
    }
    ok = ok && check_supported(&c);
    for (int k = 0; ok && k < c.n_order; k++) ok = import_node(&c, c.order[k]);
    for (int f = 0; ok && f < n_fetches; f++)
        if (!(outs[f] = value_of(&c, nodes[f], outputs[f])))
            ok = (kl_diag_error(d, "%s: result '%s': the node has no such output", m->source, fetches[f]), false);
    imp_tables_free(&c);
    free(nodes), free(outputs);
    return ok;
}
