/* ir/control.c — structured control flow: while and if nodes owning region
 * graphs, the get nodes that read their results, and the helpers frontends
 * use to build them from TensorFlow-style loops (docs/ir-format.md,
 * "Control flow").
 *
 * A region is an ir_graph of its own, isolated from the graph around it:
 * everything it reads comes in as a param (carried values and invariants),
 * everything it gives back is a result.  Every pass therefore runs on a
 * region exactly as on a whole graph, and codegen compiles a region as a
 * function with the same ABI as the entry point.
 */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

#define ALIGN 64

static int64_t round_up(int64_t v) { return (v + ALIGN - 1) / ALIGN * ALIGN; }

ir_graph *ir_region_new(ir_graph *parent, const char *source)
{
    ir_graph *r = ir_graph_new(source ? source : parent->source);
    ir_graph **c = realloc(parent->children, sizeof *c * (size_t)(parent->n_children + 1));
    if (!c) kl_die(__FILE__, __LINE__, "out of memory");
    parent->children = c;
    parent->children[parent->n_children++] = r;
    return r;
}

static const char *label(const ir_node *n) { return n->name ? n->name : ""; }

/* Region r takes one param of each type in[0..n) (ignoring none). */
static bool params_fit(const ir_graph *g, const ir_node *n, const ir_graph *r, const char *what, ir_node *const *in,
                       int count, kl_diag *d)
{
    char a[160], b[160];
    if (r->n_params != count) {
        kl_diag_error(d, "%s: node '%s' (%s): %s region takes %d params, the node passes %d", g->source, label(n),
                      kl_op_name(n->op), what, r->n_params, count);
        return false;
    }
    for (int i = 0; i < count; i++)
        if (!ir_type_equal(&r->params[i]->type, &in[i]->type)) {
            kl_diag_error(d, "%s: node '%s' (%s): %s region param %d is %s, the operand %s", g->source, label(n),
                          kl_op_name(n->op), what, i, ir_type_str(&r->params[i]->type, a, sizeof a),
                          ir_type_str(&in[i]->type, b, sizeof b));
            return false;
        }
    return true;
}

static bool results_fit(const ir_graph *g, const ir_node *n, const ir_graph *r, const char *what, const ir_type *want,
                        int count, kl_diag *d)
{
    char a[160], b[160];
    if (r->n_results != count) {
        kl_diag_error(d, "%s: node '%s' (%s): %s region returns %d values, wanted %d", g->source, label(n),
                      kl_op_name(n->op), what, r->n_results, count);
        return false;
    }
    for (int i = 0; i < count; i++)
        if (!ir_type_equal(&r->results[i].node->type, &want[i])) {
            kl_diag_error(d, "%s: node '%s' (%s): %s region result %d is %s, wanted %s", g->source, label(n),
                          kl_op_name(n->op), what, i, ir_type_str(&r->results[i].node->type, a, sizeof a),
                          ir_type_str(&want[i], b, sizeof b));
            return false;
        }
    return true;
}

bool ir_region_check(const ir_graph *g, const ir_node *n, kl_diag *d)
{
    if (n->n_regions != 2 || !n->regions || !n->regions[0] || !n->regions[1]) {
        kl_diag_error(d, "%s: node '%s' (%s): needs two regions", g->source, label(n), kl_op_name(n->op));
        return false;
    }
    ir_type *want = malloc(sizeof *want * ((size_t)n->n_in + 1));
    if (!want) kl_die(__FILE__, __LINE__, "out of memory");
    bool ok;
    if (n->op == KL_OP_WHILE) {
        int nc = n->attr.region.n_carried;
        ok = nc >= 0 && nc <= n->n_in;
        if (!ok) kl_diag_error(d, "%s: node '%s' (while): carried=%d of %d operands", g->source, label(n), nc, n->n_in);
        want[0] = ir_type_make(KL_BOOL, 0, NULL);
        for (int i = 0; ok && i < nc; i++) want[i + 1] = n->in[i]->type;
        ok = ok && params_fit(g, n, n->regions[0], "cond", n->in, n->n_in, d) &&
             results_fit(g, n, n->regions[0], "cond", want, 1, d) &&
             params_fit(g, n, n->regions[1], "body", n->in, n->n_in, d) &&
             results_fit(g, n, n->regions[1], "body", want + 1, nc, d);
    } else {
        const ir_graph *t = n->regions[0];
        ok = n->n_in >= 1 && n->in[0]->type.dtype == KL_BOOL && n->in[0]->type.rank == 0;
        if (!ok) kl_diag_error(d, "%s: node '%s' (if): operand 0 must be a bool[] predicate", g->source, label(n));
        for (int i = 0; ok && i < t->n_results; i++) want[i] = t->results[i].node->type;
        ok = ok && params_fit(g, n, t, "then", n->in + 1, n->n_in - 1, d) &&
             params_fit(g, n, n->regions[1], "else", n->in + 1, n->n_in - 1, d) &&
             results_fit(g, n, n->regions[1], "else", want, t->n_results, d);
    }
    free(want);
    return ok;
}

/* Appends a node that owns two regions, once they fit its operands. */
static ir_node *control_node(ir_graph *g, kl_op op, int n_in, ir_node *const *in, int n_carried, ir_graph *r0,
                             ir_graph *r1, const char *name, kl_diag *d)
{
    for (int i = 0; i < n_in; i++)
        if (!in[i]) return NULL;
    ir_graph *regions[2] = {r0, r1};
    ir_node tmp = {.op = op, .n_in = n_in, .in = (ir_node **)in, .name = name, .regions = regions, .n_regions = 2};
    tmp.attr.region.n_carried = op == KL_OP_WHILE ? n_carried : 0;
    if (!ir_region_check(g, &tmp, d)) return NULL;
    ir_node *n = ir_node_new(g, op, n_in, in, &tmp.attr, NULL, name, d);
    if (!n) return NULL;
    n->regions = kl_arena_alloc(g->arena, sizeof *n->regions * 2, 8);
    n->regions[0] = r0, n->regions[1] = r1;
    n->n_regions = 2;
    return n;
}

ir_node *ir_while(ir_graph *g, int n_in, ir_node *const *in, int n_carried, ir_graph *cond, ir_graph *body,
                  const char *name, kl_diag *d)
{
    return control_node(g, KL_OP_WHILE, n_in, in, n_carried, cond, body, name, d);
}

ir_node *ir_if(ir_graph *g, ir_node *pred, int n_in, ir_node *const *in, ir_graph *then_g, ir_graph *else_g,
               const char *name, kl_diag *d)
{
    ir_node **all = malloc(sizeof *all * ((size_t)n_in + 1));
    if (!all) kl_die(__FILE__, __LINE__, "out of memory");
    all[0] = pred;
    memcpy(all + 1, in, sizeof *all * (size_t)n_in);
    ir_node *n = pred ? control_node(g, KL_OP_IF, n_in + 1, all, 0, then_g, else_g, name, d) : NULL;
    free(all);
    return n;
}

ir_node *ir_get(ir_graph *g, ir_node *ctl, int index, kl_diag *d)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.region.index = index;
    return ir_node_new(g, KL_OP_GET, 1, &ctl, &a, NULL, ctl ? ctl->name : NULL, d);
}

/* ---- regions from TensorFlow-style loops and conditionals --------------- */

/* Removes param i of region r (it must be unused); later params move down. */
static void drop_param(ir_graph *r, int i)
{
    ir_node *p = r->params[i];
    int k = 0;
    for (int j = 0; j < r->n_nodes; j++)
        if (r->nodes[j] != p) r->nodes[k++] = r->nodes[j];
    r->n_nodes = k;
    for (int j = i; j + 1 < r->n_params; j++) {
        r->params[j] = r->params[j + 1];
        r->param_names[j] = r->param_names[j + 1];
        r->params[j]->attr.param.index = j;
    }
    r->n_params--;
}

/* Uses of param i of r read a copy of constant c instead. */
static void bind_const(ir_graph *r, int i, const ir_node *c)
{
    ir_node *k = ir_const(r, c->type, c->data, c->name);
    ir_graph_move_before(r, k, r->nodes[0]);
    ir_replace_uses(r, r->params[i], k);
}

/* Reorders the params of r: new position j holds old param perm[j]. */
static void permute_params(ir_graph *r, const int *perm)
{
    int n = r->n_params;
    ir_node **old = malloc(sizeof *old * (size_t)n);
    const char **names = malloc(sizeof *names * (size_t)n);
    if (!old || !names) kl_die(__FILE__, __LINE__, "out of memory");
    memcpy(old, r->params, sizeof *old * (size_t)n);
    memcpy(names, r->param_names, sizeof *names * (size_t)n);
    for (int j = 0; j < n; j++) {
        r->params[j] = old[perm[j]];
        r->param_names[j] = names[perm[j]];
        r->params[j]->attr.param.index = j;
    }
    /* params first, in index order (the text format lists them so; they
     * read nothing), then every other node in its order */
    int k = 0;
    ir_node **order = malloc(sizeof *order * (size_t)(r->n_nodes + 1));
    if (!order) kl_die(__FILE__, __LINE__, "out of memory");
    for (int j = 0; j < n; j++) order[k++] = r->params[j];
    for (int i = 0; i < r->n_nodes; i++)
        if (r->nodes[i]->op != KL_OP_PARAM) order[k++] = r->nodes[i];
    memcpy(r->nodes, order, sizeof *order * (size_t)k);
    free(order);
    free(old);
    free(names);
}

/* Constant operands of a control node become constants inside its regions. */
static int inline_consts(ir_graph **regions, int n_regions, ir_node **ops, int n, int first)
{
    for (int i = n - 1; i >= first; i--) {
        if (ops[i]->op != KL_OP_CONST) continue;
        for (int r = 0; r < n_regions; r++) {
            bind_const(regions[r], i, ops[i]);
            drop_param(regions[r], i);
        }
        memmove(ops + i, ops + i + 1, sizeof *ops * (size_t)(n - i - 1));
        n--;
    }
    return n;
}

bool ir_while_functional(ir_graph *g, int n, ir_node *const *in, ir_graph *cond, ir_graph *body, const char *name,
                         ir_node **outs, kl_diag *d)
{
    for (int i = 0; i < n; i++)
        if (!in[i]) return false;
    if (body->n_results != n || body->n_params != n || cond->n_params != n) {
        kl_diag_error(d, "%s: while '%s': cond and body must take (and the body return) all %d loop variables",
                      g->source, name ? name : "", n);
        return false;
    }
    int *perm = calloc((size_t)n + 1, sizeof *perm), nc = 0;
    ir_node **ops = malloc(sizeof *ops * (size_t)n + 1);
    if (!perm || !ops) kl_die(__FILE__, __LINE__, "out of memory");
    for (int pass = 0; pass < 2; pass++) /* carried first, then invariants */
        for (int i = 0; i < n; i++) {
            bool invariant = body->results[i].node == body->params[i];
            if (invariant == (pass == 1)) perm[nc] = i, ops[nc++] = in[i];
        }
    int n_carried = 0;
    for (int i = 0; i < n; i++) n_carried += body->results[i].node != body->params[i];
    /* body results of invariants go; the carried ones follow perm */
    ir_result *kept = malloc(sizeof *kept * (size_t)n + 1);
    if (!kept) kl_die(__FILE__, __LINE__, "out of memory");
    for (int j = 0; j < n_carried; j++) kept[j] = body->results[perm[j]];
    memcpy(body->results, kept, sizeof *kept * (size_t)n_carried);
    body->n_results = n_carried;
    free(kept);
    permute_params(cond, perm);
    permute_params(body, perm);
    ir_graph *regions[2] = {cond, body};
    int n_ops = inline_consts(regions, 2, ops, n, n_carried);
    ir_node *w = ir_while(g, n_ops, ops, n_carried, cond, body, name, d);
    for (int j = 0; w && j < n; j++) {
        int i = perm[j];
        outs[i] = j < n_carried ? ir_get(g, w, j, d) : in[i];
    }
    free(perm);
    free(ops);
    return w != NULL;
}

bool ir_if_functional(ir_graph *g, ir_node *pred, int n, ir_node *const *in, ir_graph *then_g, ir_graph *else_g,
                      const char *name, ir_node **outs, kl_diag *d)
{
    for (int i = 0; i < n; i++)
        if (!in[i]) return false;
    ir_node **ops = malloc(sizeof *ops * (size_t)n + 1);
    if (!ops) kl_die(__FILE__, __LINE__, "out of memory");
    memcpy(ops, in, sizeof *ops * (size_t)n);
    ir_graph *regions[2] = {then_g, else_g};
    int n_ops = inline_consts(regions, 2, ops, n, 0);
    ir_node *f = ir_if(g, pred, n_ops, ops, then_g, else_g, name, d);
    for (int k = 0; f && k < then_g->n_results; k++) outs[k] = ir_get(g, f, k, d);
    free(ops);
    return f != NULL;
}

/* ---- inlining ----------------------------------------------------------- */

int ir_inline_region(ir_graph *g, ir_node *n, int r, ir_node **outs)
{
    const ir_graph *reg = n->regions[r];
    int first = n->op == KL_OP_IF; /* an if's operand 0 is its predicate */
    int at = -1, moved = 0;
    for (int i = 0; i < g->n_nodes && at < 0; i++)
        if (g->nodes[i] == n) at = i;
    KL_ASSERT(at >= 0);
    ir_node **nodes = malloc(sizeof *nodes * (size_t)(g->n_nodes + reg->n_nodes + 1));
    if (!nodes) kl_die(__FILE__, __LINE__, "out of memory");
    memcpy(nodes, g->nodes, sizeof *nodes * (size_t)at);
    for (int i = 0; i < reg->n_nodes; i++) {
        ir_node *m = reg->nodes[i];
        if (m->op == KL_OP_PARAM) continue;
        for (int j = 0; j < m->n_in; j++) /* params read the node's operands */
            if (m->in[j]->op == KL_OP_PARAM) m->in[j] = n->in[first + m->in[j]->attr.param.index];
        m->id = g->next_id++;
        nodes[at + moved++] = m;
    }
    memcpy(nodes + at + moved, g->nodes + at, sizeof *nodes * (size_t)(g->n_nodes - at));
    free(g->nodes);
    g->nodes = nodes;
    g->n_nodes += moved;
    g->cap_nodes = g->n_nodes;
    for (int k = 0; k < reg->n_results; k++) {
        ir_node *v = reg->results[k].node;
        outs[k] = v->op == KL_OP_PARAM ? n->in[first + v->attr.param.index] : v;
    }
    return moved;
}

/* ---- buffers of loops --------------------------------------------------- */

bool ir_loop_in_place(const ir_node *w, int k)
{
    const ir_graph *body = w->regions[1];
    const ir_node *r = body->results[k].node, *p = body->params[k];
    if (r->op != KL_OP_DYNAMIC_UPDATE_SLICE || r->in[0] != p) return false;
    int uses = 0;
    for (int i = 0; i < body->n_nodes; i++)
        for (int j = 0; j < body->nodes[i]->n_in; j++) uses += body->nodes[i]->in[j] == p;
    for (int i = 0; i < body->n_results; i++) uses += body->results[i].node == p;
    return uses == 1;
}

int64_t ir_loop_scratch(const ir_node *w, int64_t *cur, int64_t *next, int64_t *region_temp, int64_t *cond_out)
{
    int64_t at = 0;
    for (int k = 0; k < w->attr.region.n_carried; k++) {
        int64_t bytes = round_up((int64_t)ir_type_bytes(&w->in[k]->type));
        cur[k] = at, at += bytes;
        if (ir_loop_in_place(w, k)) next[k] = cur[k];
        else next[k] = at, at += bytes;
    }
    *cond_out = at, at += ALIGN;
    int64_t t0 = w->regions[0]->temp_size, t1 = w->regions[1]->temp_size;
    *region_temp = at;
    return at + round_up(t0 > t1 ? t0 : t1);
}

int64_t ir_if_scratch(const ir_node *n, const ir_graph *g, int64_t *dead, int64_t *region_temp)
{
    const ir_graph *t = n->regions[0];
    int64_t at = 0;
    for (int k = 0; k < t->n_results; k++) {
        bool used = false;
        for (int i = 0; i < g->n_nodes; i++) used |= g->nodes[i]->op == KL_OP_GET && g->nodes[i]->in[0] == n &&
                                                     g->nodes[i]->attr.region.index == k;
        dead[k] = used ? -1 : at;
        if (!used) at += round_up((int64_t)ir_type_bytes(&t->results[k].node->type));
    }
    int64_t t0 = n->regions[0]->temp_size, t1 = n->regions[1]->temp_size;
    *region_temp = at;
    return at + round_up(t0 > t1 ? t0 : t1);
}
