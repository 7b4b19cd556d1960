/* api/inspect.c — the planned graph described for tools (include/kiln/inspect.h):
 * nodes, kernels with their kind, GEMM tile, thread split, FLOPs and bytes,
 * and the temp arena's buffers with their lifetimes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/codegen.h"
#include "internal.h"
#include "ir/plan.h"

static char *pool_str(kl_arena *a, const char *s) { return kl_arena_strdup(a, s ? s : ""); }

static ir_node *alias_root(ir_node *n)
{
    while (n->store == IR_STORE_ALIAS && n->n_in > 0) n = n->in[0];
    return n;
}

/* Operations of one run of node n (multiply-adds count two). */
static int64_t node_flops(const ir_node *n)
{
    int64_t out = ir_type_numel(&n->type);
    switch (n->op) {
    case KL_OP_MATMUL: {
        const ir_type *a = &n->in[0]->type;
        int64_t k = a->rank >= 2 ? a->dims[n->attr.matmul.transpose_a ? a->rank - 2 : a->rank - 1] : 1;
        return 2 * out * k;
    }
    case KL_OP_CONV2D: { /* filter [KH, KW, C/groups, O] */
        const ir_type *f = &n->in[1]->type;
        return 2 * out * f->dims[0] * f->dims[1] * f->dims[2];
    }
    case KL_OP_CONV2D_TRANSPOSE: {
        const ir_type *x = &n->in[0]->type, *f = &n->in[1]->type;
        int64_t c = x->rank ? x->dims[x->rank - 1] : 1;
        return c ? 2 * ir_type_numel(x) * (ir_type_numel(f) / c) : 0;
    }
    case KL_OP_MAX_POOL:
    case KL_OP_AVG_POOL: return out * n->attr.conv.kh * n->attr.conv.kw;
    case KL_OP_SOFTMAX:
    case KL_OP_LOG_SOFTMAX: return 5 * out;
    case KL_OP_CUMSUM:
    case KL_OP_CUMPROD: return out;
    default: break;
    }
    if (op_is_reduction(n->op)) return ir_type_numel(&n->in[0]->type);
    if (op_is_elementwise(n->op) && n->op != KL_OP_CAST) return out;
    return 0;
}

static const char *kernel_kind(const kl_kernel *k)
{
    ir_node *r = k->root, *c = k->contraction;
    bool epilogue = c && c != r;
    if (r->op == KL_OP_WHILE || r->op == KL_OP_IF) return "control";
    if (r->op == KL_OP_COPY) return "copy";
    if (c && (c->op == KL_OP_CONV2D || c->op == KL_OP_CONV2D_TRANSPOSE)) return epilogue ? "conv+epilogue" : "conv";
    if (c) return epilogue ? "gemm+epilogue" : "gemm";
    if (r->op == KL_OP_MATMUL) return "gemm";
    if (r->op == KL_OP_CONV2D || r->op == KL_OP_CONV2D_TRANSPOSE) return "conv";
    if (op_is_reduction(r->op) || r->op == KL_OP_SOFTMAX || r->op == KL_OP_LOG_SOFTMAX) return "reduction";
    if (op_is_elementwise(r->op)) return "loop";
    if (kl_op_table[r->op].flags & KL_OPF_DATA_MOVEMENT) return "movement";
    return kl_op_name(r->op);
}

static const char *store_name(const ir_node *n, bool assigned)
{
    if (!assigned) return "";
    switch (n->store) {
    case IR_STORE_NONE: return "fused";
    case IR_STORE_FEED: return "feed";
    case IR_STORE_FETCH: return "fetch";
    case IR_STORE_TEMP: return "temp";
    case IR_STORE_CONST: return "const";
    case IR_STORE_ALIAS: return "alias";
    }
    return "";
}

kiln_plan_info *api_describe(const ir_graph *g, const kiln_options *o, const char *after, kl_diag *d)
{
    kl_arena *a = kl_arena_new();
    kiln_plan_info *pi = kl_arena_alloc(a, sizeof *pi, 8);
    pi->priv_ = a;
    pi->source = pool_str(a, g->source);
    pi->after = pool_str(a, after ? after : "bufassign");
    pi->opt_level = o->opt_level;
    pi->threads = o->threads < 1 ? 1 : o->threads;
    const kl_plan *plan = g->plan;
    pi->planned = plan != NULL;
    pi->assigned = plan && (!after || !strcmp(after, "bufassign")); /* "verify" stops at the first, before fusion */
    pi->n_nodes = g->n_nodes;
    pi->nodes = kl_arena_alloc(a, sizeof *pi->nodes * ((size_t)g->n_nodes + 1), 8);
    int *kidx = kl_arena_alloc(a, sizeof *kidx * ((size_t)g->next_id + 1), 8); /* node id -> kernel index */
    for (int i = 0; i <= g->next_id; i++) kidx[i] = -1;
    if (plan)
        for (int i = 0; i < g->n_nodes; i++) {
            const kl_kernel *k = ir_plan_kernel_of(plan, g->nodes[i]);
            if (k) kidx[g->nodes[i]->id] = k->index;
        }
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        kiln_node_info *ni = &pi->nodes[i];
        char t[160];
        ni->id = n->id;
        ni->op = kl_op_name(n->op);
        ni->name = pool_str(a, n->name);
        ni->type = pool_str(a, ir_type_str(&n->type, t, sizeof t));
        ni->kernel = kidx[n->id];
        ni->n_in = n->n_in;
        int *in = kl_arena_alloc(a, sizeof *in * ((size_t)n->n_in + 1), 8);
        for (int j = 0; j < n->n_in; j++) in[j] = n->in[j]->id;
        ni->in = in;
        ni->store = store_name(n, pi->assigned);
        ni->offset = pi->assigned && n->store == IR_STORE_TEMP ? n->offset : 0;
        ni->bytes = (int64_t)ir_type_bytes(&n->type);
        if (n->op == KL_OP_CONST) pi->const_bytes += ni->bytes;
        if (n->op == KL_OP_PARAM && (!g->param_var || g->param_var[n->attr.param.index] < 0)) pi->feed_bytes += ni->bytes;
        if (n->op == KL_OP_PARAM && g->param_var && g->param_var[n->attr.param.index] >= 0) pi->state_bytes += ni->bytes;
    }
    for (int r = 0; r < g->n_results; r++)
        if (!g->result_var || g->result_var[r] < 0) pi->fetch_bytes += (int64_t)ir_type_bytes(&g->results[r].node->type);
    if (!plan) return pi;
    pi->temp_size = pi->assigned ? g->temp_size : 0;
    pi->n_kernels = plan->n_kernels;
    pi->kernels = kl_arena_alloc(a, sizeof *pi->kernels * ((size_t)plan->n_kernels + 1), 8);
    int64_t *units = kl_calloc(d, (size_t)plan->n_kernels + 1, sizeof *units, "the kernel table");
    if (!units) {
        kiln_plan_info_free(pi);
        return NULL;
    }
    if (pi->assigned) {
        cg_options co = {.prefix = "kiln_inspect", .target = o->target, .cpu = o->target_cpu, .opt_level = o->opt_level,
                         .threads = pi->threads, .source = g->source};
        cg_kernel_splits(g, &co, units);
    }
    for (int j = 0; j < plan->n_kernels; j++) {
        const kl_kernel *k = &plan->kernels[j];
        kiln_kernel_info *ki = &pi->kernels[j];
        char name[32];
        snprintf(name, sizeof name, "k%d", j);
        ki->index = j;
        ki->root = k->root->id;
        ki->name = pool_str(a, k->root->name && *k->root->name ? k->root->name : name);
        ki->kind = kernel_kind(k);
        ki->n_members = k->n_members;
        int *mem = kl_arena_alloc(a, sizeof *mem * ((size_t)k->n_members + 1), 8);
        size_t len = 1;
        for (int m = 0; m < k->n_members; m++) len += strlen(kl_op_name(k->members[m]->op)) + 1;
        char *ops = kl_arena_alloc(a, len, 1);
        for (int m = 0; m < k->n_members; m++) {
            const ir_node *n = k->members[m];
            mem[m] = n->id;
            if (m) strcat(ops, "+");
            strcat(ops, kl_op_name(n->op));
            ki->flops += node_flops(n);
            if (n->scratch_bytes > ki->scratch_bytes) ki->scratch_bytes = n->scratch_bytes, ki->scratch_offset = n->scratch_offset;
        }
        if (k->root->op == KL_OP_WHILE || k->root->op == KL_OP_IF) ki->flops = 0; /* trip count unknown here */
        ki->members = mem;
        ki->ops = ops;
        for (int i = 0; i < k->n_inputs; i++) ki->bytes += (int64_t)ir_type_bytes(&k->inputs[i]->type);
        ki->bytes += (int64_t)ir_type_bytes(&k->root->type);
        for (int o = 0; o < k->n_outputs; o++) ki->bytes += (int64_t)ir_type_bytes(&k->outputs[o]->type); /* further outputs */
        if (k->gemm) {
            ki->mr = k->gemm->mr, ki->nr = k->gemm->nr, ki->vl = k->gemm->vl, ki->group_tiles = k->gemm->group_tiles;
            ki->pack_b_runtime = k->gemm->pack_b_runtime, ki->pad_input = k->gemm->pad_input;
        }
        ki->split_units = units[j];
        ki->threads = pi->threads;
    }
    free(units);
    if (!pi->assigned) return pi;
    /* buffers: every temp value from its kernel to its last reader; scratch during its kernel */
    int *last = kl_arena_alloc(a, sizeof *last * ((size_t)g->next_id + 1), 8);
    for (int i = 0; i <= g->next_id; i++) last[i] = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        int at = kidx[n->id];
        if (at < 0) continue;
        for (int j = 0; j < n->n_in; j++) {
            ir_node *src = alias_root(n->in[j]);
            if (at > last[src->id]) last[src->id] = at;
        }
    }
    pi->buffers = kl_arena_alloc(a, sizeof *pi->buffers * (2 * (size_t)g->n_nodes + 1), 8);
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        int at = kidx[n->id];
        if (n->store == IR_STORE_TEMP && at >= 0)
            pi->buffers[pi->n_buffers++] = (kiln_buffer_info){n->id, pool_str(a, n->name), false, n->offset,
                                                              (int64_t)ir_type_bytes(&n->type), at,
                                                              last[n->id] > at ? last[n->id] : at};
        if (n->scratch_bytes > 0 && at >= 0)
            pi->buffers[pi->n_buffers++] = (kiln_buffer_info){n->id, pool_str(a, n->name), true, n->scratch_offset,
                                                              n->scratch_bytes, at, at};
    }
    return pi;
}

void kiln_plan_info_free(kiln_plan_info *pi)
{
    if (pi) kl_arena_free(pi->priv_);
}
