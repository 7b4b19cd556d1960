/* ir/plan.c — building, printing and checking the kernel plan (ir/plan.h). */
#include <stdlib.h>

#include "plan.h"

static const ir_node *alias_root(const ir_node *n)
{
    while (n->op != KL_OP_CONST && n->op != KL_OP_PARAM && op_is_alias(n->op)) n = n->in[0];
    return n;
}

static bool is_member(const ir_node *n) { return n->kernel && n->kernel != n && n->op != KL_OP_GET; }

unsigned char *ir_plan_output_marks(const ir_graph *g)
{
    unsigned char *out = kl_calloc(NULL, (size_t)g->next_id + 1, 1, "the kernel plan");
    if (!out) kl_die(__FILE__, __LINE__, "out of memory");
    for (int i = 0; i < g->n_results; i++) {
        const ir_node *r = alias_root(g->results[i].node);
        if (is_member(r)) out[r->id] = 1;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (!n->kernel) continue;
        for (int j = 0; j < n->n_in; j++) {
            const ir_node *x = alias_root(n->in[j]);
            if (is_member(x) && x->kernel != n->kernel) out[x->id] = 1;
        }
    }
    return out;
}

kl_plan *ir_plan_build(ir_graph *g)
{
    kl_arena *a = g->arena;
    kl_plan *p = kl_arena_alloc(a, sizeof *p, 8);
    p->n_ids = g->next_id;
    p->kernel_of = kl_arena_alloc(a, sizeof *p->kernel_of * ((size_t)p->n_ids + 1), 8);
    p->temp_size = g->temp_size;
    /* kernels in the order of their roots */
    for (int i = 0; i < g->n_nodes; i++) p->n_kernels += g->nodes[i]->kernel == g->nodes[i];
    p->kernels = kl_arena_alloc(a, sizeof *p->kernels * ((size_t)p->n_kernels + 1), 8);
    int nk = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        if (n->kernel != n) continue;
        kl_kernel *k = &p->kernels[nk];
        k->root = n;
        k->index = nk++;
        p->kernel_of[n->id] = k;
    }
    /* members: every node whose kernel is a root, in schedule order */
    int *count = kl_calloc(NULL, (size_t)p->n_kernels + 1, sizeof *count, "the kernel plan");
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        kl_kernel *k = n->kernel ? ir_plan_kernel_of(p, n->kernel) : NULL;
        if (!k || k->root != n->kernel) continue;
        p->kernel_of[n->id] = k;
        count[k->index]++;
    }
    for (int j = 0; j < p->n_kernels; j++) {
        p->kernels[j].members = kl_arena_alloc(a, sizeof(ir_node *) * ((size_t)count[j] + 1), 8);
        p->kernels[j].outputs = kl_arena_alloc(a, sizeof(ir_node *) * ((size_t)count[j] + 1), 8);
    }
    unsigned char *outs = ir_plan_output_marks(g);
    for (int i = 0; i < g->n_nodes; i++) {
        kl_kernel *k = ir_plan_kernel_of(p, g->nodes[i]);
        if (k) k->members[k->n_members++] = g->nodes[i];
        if (k && outs[g->nodes[i]->id]) k->outputs[k->n_outputs++] = g->nodes[i];
    }
    free(outs);
    free(count);
    /* inputs: operands of members computed elsewhere, first use first;
     * the contraction: the root if GEMM-planned, else its first planned member */
    for (int j = 0; j < p->n_kernels; j++) {
        kl_kernel *k = &p->kernels[j];
        int max = 0;
        for (int m = 0; m < k->n_members; m++) max += k->members[m]->n_in;
        k->inputs = kl_arena_alloc(a, sizeof(ir_node *) * ((size_t)max + 1), 8);
        for (int m = 0; m < k->n_members; m++) {
            ir_node *n = k->members[m];
            for (int o = 0; o < n->n_in; o++) {
                ir_node *x = n->in[o], *r = x;
                if (ir_plan_kernel_of(p, x) == k) continue;
                /* a reshape of a member (a conv input's upsampling chain, ir/conv_input.c) */
                while (op_is_alias(r->op) && r->op != KL_OP_CONST && !ir_plan_kernel_of(p, r)) r = r->in[0];
                if (r != x && ir_plan_kernel_of(p, r) == k) continue;
                bool seen = false;
                for (int s = 0; s < k->n_inputs && !seen; s++) seen = k->inputs[s] == x;
                if (!seen) k->inputs[k->n_inputs++] = x;
            }
            if (!k->contraction && n->gemm) k->contraction = n;
        }
        if (k->root->gemm) k->contraction = k->root;
        ir_node *s = k->contraction ? k->contraction : k->root;
        k->gemm = k->contraction ? k->contraction->gemm : NULL;
        k->scratch_bytes = s->scratch_bytes;
        k->scratch_offset = s->scratch_offset;
    }
    g->plan = p;
    return p;
}

void ir_plan_print(const kl_plan *p, FILE *f, int depth)
{
    if (!p) return;
    fprintf(f, "%*s# plan: %d kernels, temp %lld bytes\n", 2 * depth, "", p->n_kernels, (long long)p->temp_size);
    for (int j = 0; j < p->n_kernels; j++) {
        const kl_kernel *k = &p->kernels[j];
        fprintf(f, "%*s# plan k%d %%%d:", 2 * depth, "", j, k->root->id);
        if (k->n_members > 1) {
            fprintf(f, " members");
            for (int m = 0; m < k->n_members; m++) fprintf(f, " %%%d", k->members[m]->id);
        }
        if (k->n_inputs) {
            fprintf(f, "%s reads", k->n_members > 1 ? ";" : "");
            for (int i = 0; i < k->n_inputs; i++) fprintf(f, " %%%d", k->inputs[i]->id);
        }
        if (k->n_outputs) {
            fprintf(f, "; writes %%%d", k->root->id);
            for (int o = 0; o < k->n_outputs; o++) fprintf(f, " %%%d", k->outputs[o]->id);
        }
        if (k->contraction) fprintf(f, "; gemm %%%d", k->contraction->id);
        if (k->scratch_bytes) fprintf(f, "; scratch +%lld:%lld", (long long)k->scratch_offset, (long long)k->scratch_bytes);
        fputc('\n', f);
    }
}

#define PLAN_BAD(n, ...)                                                                                          \
    do {                                                                                                          \
        if (bad++ < 10) {                                                                                         \
            char m_[256];                                                                                         \
            snprintf(m_, sizeof m_, __VA_ARGS__);                                                                 \
            kl_diag_error(d, "%s: node %%%d '%s' (%s): plan: %s", g->source, (n)->id, (n)->name ? (n)->name : "", \
                          kl_op_name((n)->op), m_);                                                               \
        }                                                                                                         \
    } while (0)

bool ir_plan_verify(const ir_graph *g, kl_diag *d)
{
    const kl_plan *p = g->plan;
    int bad = 0;
    if (!p) return true;
    if (p->n_ids > g->next_id) {
        kl_diag_error(d, "%s: plan: built for %d node ids, the graph has %d", g->source, p->n_ids, g->next_id);
        return false;
    }
    int *pos = kl_calloc(NULL, (size_t)g->next_id + 1, sizeof *pos, "the verifier");
    bool stored = false; /* stores are checked once buffer assignment ran */
    for (int i = 0; i < g->next_id; i++) pos[i] = -1;
    for (int i = 0; i < g->n_nodes; i++) pos[g->nodes[i]->id] = i, stored |= g->nodes[i]->store != IR_STORE_NONE;
    /* every node's kernel is the plan's, and every member's kernel is its root */
    int roots = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        const kl_kernel *k = ir_plan_kernel_of(p, n);
        roots += n->kernel == n;
        if (!n->kernel && k) PLAN_BAD(n, "in kernel %%%d but needs no code", k->root->id);
        else if (n->kernel && !k) PLAN_BAD(n, "computed by %%%d but in no kernel of the plan", n->kernel->id);
        else if (k && k->root != n->kernel) PLAN_BAD(n, "in the plan's kernel %%%d, fused into %%%d", k->root->id, n->kernel->id);
    }
    if (roots != p->n_kernels) PLAN_BAD(g->nodes[0], "%d kernels, the graph has %d roots", p->n_kernels, roots);
    int prev = -1;
    for (int j = 0; j < p->n_kernels; j++) {
        const kl_kernel *k = &p->kernels[j];
        const ir_node *r = k->root;
        int at = r->id < g->next_id ? pos[r->id] : -1;
        if (at < 0 || g->nodes[at] != r) {
            PLAN_BAD(r, "kernel root is not a node of the graph");
            continue;
        }
        if (at <= prev) PLAN_BAD(r, "kernel %d out of schedule order", j);
        prev = at;
        for (int m = 0; m < k->n_members; m++) {
            const ir_node *n = k->members[m];
            if (n->kernel != r) PLAN_BAD(n, "member of kernel %%%d, but its kernel is %s", r->id, n->kernel ? "another" : "none");
            if (m && pos[n->id] <= pos[k->members[m - 1]->id]) PLAN_BAD(n, "member out of evaluation order");
        }
        for (int i = 0; i < k->n_inputs; i++) {
            const ir_node *x = k->inputs[i];
            const kl_kernel *w = ir_plan_kernel_of(p, x);
            if (stored && x->store == IR_STORE_NONE && w) PLAN_BAD(r, "reads %%%d, which is never stored", x->id);
            if (w == k) PLAN_BAD(r, "reads %%%d from memory but computes it", x->id);
            /* a value is written when its kernel runs: before this one */
            if (w && w->index >= k->index) PLAN_BAD(r, "reads %%%d, written by a later kernel %%%d", x->id, w->root->id);
        }
        for (int o = 0; o < k->n_outputs; o++) {
            const ir_node *x = k->outputs[o];
            if (stored && x->store == IR_STORE_NONE) PLAN_BAD(x, "an output of kernel %%%d that is never stored", r->id);
            if (x->kernel != r || x == r) PLAN_BAD(x, "listed as a further output of kernel %%%d", r->id);
        }
        if (k->contraction && (!k->contraction->gemm || k->contraction->kernel != r))
            PLAN_BAD(r, "contraction %%%d is not a GEMM-planned member", k->contraction->id);
    }
    free(pos);
    return bad == 0;
}
