/* passes/fuse.c — kernel formation and elementwise loop fusion.
 *
 * requires: types inferred; dead code removed.
 * guarantees: node->kernel is set on every node (codegen/codegen.h):
 *   - param, const and alias (reshape) nodes: NULL, they need no code;
 *   - every other node is either a kernel root (kernel == itself) or, at
 *     -O1 and above, a member fused into the elementwise kernel of its
 *     consumers: an elementwise producer whose every use is inside one
 *     elementwise kernel, whose shape equals that kernel's root shape (so it
 *     is evaluated at the same index, never recomputed for broadcasting),
 *     and which is not itself a fetch.  A variable's new value (a state
 *     result, ir.h result_var) may join so too and is then a further output
 *     of that kernel, stored beside its root (ir/plan.h kl_kernel.outputs):
 *     Adam's m and v updates are computed and stored in the loop of the
 *     variable's update, which reads them; no GEMM epilogue gets one;
 *   A chain like BiasAdd -> Tanh or Mul -> Add -> Sigmoid becomes one loop
 *   and one pass over memory;
 *   - a get belongs to the kernel of its while/if, which writes its value;
 *   - transposes, slices, constant pads and concats of the kernel's shape
 *     join it as strided reads of their operands, the last two with the
 *     loop nest split at each operand edge (loop fusion of data movement,
 *     as XLA's), at most IR_MAX_GATED_PIECES loop nests per kernel;
 *   - reduction fusion: elementwise producers of a reduction's operand, of
 *     that operand's shape, join the reduction's kernel (layer norm's
 *     squared difference is computed inside its mean, never stored);
 *   - scatter fusion: elementwise producers of a scatter's data operand,
 *     of its shape, join the scatter's kernel (computed where the data
 *     would be copied into the output; codegen/scatter.c).
 * Output fusion: a matmul or conv with a GEMM plan (passes/layout.c) whose
 * every use is inside one float32 elementwise kernel of its own shape
 * becomes a member of that kernel too; codegen/gemm.c then computes the
 * kernel's expression (bias, batch-norm scale/shift, activation, residual
 * add, ...) on each register tile right after the tile's last FMA, while it
 * is still in L1, instead of in another pass over memory.  One contraction
 * per kernel.
 * Conv input fusion: the concat over channels, nearest upsampling,
 * depth-to-space and per-channel scale multiply between a conv on the
 * indirect GEMM path and the values they read (ir/conv_input.c) join the
 * conv's kernel: codegen/gemm.c points A's row pointers at the source
 * pixels (a U-Net's skip concats and upsampling cost no copy) and scales
 * A's elements as it reads them (squeeze-excite's x * s before the project
 * conv is never stored; only for narrow convs, scale_pays); a padded-copy
 * conv makes its copy from them.
 * Nodes are visited in reverse order, so when a producer is considered all
 * its users already have their kernel.
 * At the end the kernel plan (ir/plan.h: kernels, members, inputs,
 * contractions) is built from these decisions; g->plan points at it.
 */
#include <stdlib.h>

#include "../ir/plan.h"
#include "passes.h"

static bool needs_code(const ir_node *n) { return !op_is_source(n->op) && !op_is_alias(n->op); }

static bool same_dims(const ir_type *a, const ir_type *b)
{
    if (a->rank != b->rank) return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return true;
}

/* users_kernel[id]: the one kernel all users so far belong to; conflict[id]
 * set once users disagree or a user is not a kernel (fetch, alias). */
typedef struct fuse_state {
    ir_node **users_kernel;
    unsigned char *conflict;
    unsigned char *has_contraction; /* by kernel root id */
    int64_t *pieces;                /* by kernel root id: loop nests of its fused pads/concats (0: 1) */
    unsigned char *state_out;       /* by id: a variable's new value that may be a further output of its users' kernel */
    unsigned char *has_outputs;     /* by kernel root id: it stores a fused state result too */
    ir_node **conv_input;           /* by id: the kernel of the conv that reads this node by index arithmetic */
} fuse_state;

static void note_use(fuse_state *s, ir_node *operand, ir_node *kernel)
{
    int id = operand->id;
    if (!kernel) s->conflict[id] = 1;
    else if (!s->users_kernel[id]) s->users_kernel[id] = kernel;
    else if (s->users_kernel[id] != kernel) s->conflict[id] = 1;
}

static bool can_join(const fuse_state *s, const ir_node *n)
{
    ir_node *k = s->users_kernel[n->id];
    if (s->conflict[n->id] || !k) return false;
    /* transposes, slices, pads and concats are read through strides (and
     * bounds checks) inside an elementwise loop */
    if (ir_fusable_movement(n))
        return op_is_elementwise(k->op) && same_dims(&n->type, &k->type) &&
               (s->pieces[k->id] ? s->pieces[k->id] : 1) * ir_gated_pieces(n) <= IR_MAX_GATED_PIECES;
    if (!op_is_elementwise(n->op)) return false;
    /* a variable's new value is stored by the kernel too: only beside an
     * elementwise root, at the root's index, and never in a GEMM epilogue */
    if (s->state_out[n->id])
        return op_is_elementwise(k->op) && same_dims(&n->type, &k->type) && !s->has_contraction[k->id];
    if (op_is_elementwise(k->op)) return same_dims(&n->type, &k->type);
    /* scatter fusion: the data operand's producers are computed where the
     * scatter would copy the data (an Adam slot's decay before its sparse
     * add), never its indices or updates */
    if (k->op == KL_OP_SCATTER) return same_dims(&n->type, &k->type) && n != k->in[1] && n != k->in[2];
    /* reduction fusion: the reduced operand's elements are computed where
     * the reduction reads them (codegen/kernels.c emit_reduce) */
    return op_is_reduction(k->op) && same_dims(&n->type, &k->in[0]->type);
}

static bool can_join_as_epilogue(const fuse_state *s, const ir_node *n)
{
    ir_node *k = s->users_kernel[n->id];
    return !s->conflict[n->id] && k && n->gemm && op_is_elementwise(k->op) && k->type.dtype == KL_F32 &&
           same_dims(&n->type, &k->type) && !s->has_contraction[k->id] && !s->has_outputs[k->id];
}

/* A channel-scaled source (squeeze-excite's x * s) costs the conv's tiles
 * nv multiplies per k and panel (B's row scaled), about cols / mr times the
 * multiplies of storing x * s once; that store's traffic is worth ~4 of
 * them (EfficientNetB0 at 1 thread, docs/performance.md: the 16- and
 * 24-column project convs gain, 40 is even, 80-320 lose up to 20%). */
static bool scale_pays(const ir_node *conv, const ir_conv_source *src, int ns)
{
    for (int i = 0; i < ns; i++)
        if (src[i].scale && conv->type.dims[3] > 4 * (int64_t)conv->gemm->mr) return false;
    return true;
}

bool pass_fuse(ir_graph *g, pass_ctx *ctx)
{
    size_t ids = (size_t)g->next_id + 1;
    fuse_state s = {kl_calloc(ctx->diag, ids, sizeof(ir_node *), "fusion"), kl_calloc(ctx->diag, ids, 1, "fusion"),
                    kl_calloc(ctx->diag, ids, 1, "fusion"), kl_calloc(ctx->diag, ids, sizeof(int64_t), "fusion"),
                    kl_calloc(ctx->diag, ids, 1, "fusion"), kl_calloc(ctx->diag, ids, 1, "fusion"),
                    kl_calloc(ctx->diag, ids, sizeof(ir_node *), "fusion")};
    if (!s.users_kernel || !s.conflict || !s.has_contraction || !s.pieces || !s.state_out || !s.has_outputs || !s.conv_input) {
        free(s.users_kernel), free(s.conflict), free(s.has_contraction), free(s.pieces), free(s.state_out), free(s.has_outputs);
        free(s.conv_input);
        return false;
    }
    bool fusing = ctx->opt_level >= 1;
    /* Results are stored: a fetch stays a kernel root.  A variable's new
     * value (g->result_var) that is a result once may instead be a further
     * output of its users' kernel (a multi-output kernel: Adam's m and v
     * updates beside the variable's, which reads both), so the gradient and
     * slots are read once. */
    for (int i = 0; i < g->n_results; i++) {
        ir_node *r = g->results[i].node;
        bool once = true;
        for (int j = 0; j < g->n_results; j++) once &= j == i || g->results[j].node != r;
        if (fusing && once && g->result_var && g->result_var[i] >= 0 && op_is_elementwise(r->op)) s.state_out[r->id] = 1;
        else s.conflict[r->id] = 1;
    }
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        ir_node *n = g->nodes[i];
        if (!needs_code(n)) n->kernel = NULL;
        else if (n->op == KL_OP_GET) n->kernel = n->in[0]; /* the while/if writes it */
        else if (s.conv_input[n->id]) {
            n->kernel = s.conv_input[n->id];
            pass_count(ctx, "fuse", "conv inputs read by index (concat, upsampling, depth-to-space, channel scale)", 1);
        } else if (fusing && can_join(&s, n)) {
            n->kernel = s.users_kernel[n->id];
            if (s.state_out[n->id]) {
                s.has_outputs[n->kernel->id] = 1;
                pass_count(ctx, "fuse", "state updates as further kernel outputs", 1);
            }
            if (ir_fusable_movement(n)) s.pieces[n->kernel->id] = (s.pieces[n->kernel->id] ? s.pieces[n->kernel->id] : 1) * ir_gated_pieces(n);
            pass_count(ctx, "fuse", "ops fused", 1);
        } else if (fusing && can_join_as_epilogue(&s, n)) {
            n->kernel = s.users_kernel[n->id];
            s.has_contraction[n->kernel->id] = 1;
            pass_count(ctx, "fuse", "GEMM epilogues", 1);
        } else {
            n->kernel = n;
            pass_count(ctx, "fuse", "kernels", 1);
        }
        /* a contraction reads its operands from memory, even when it is an
         * epilogue's member, and so does a fused view */
        ir_node *reader = n->gemm || (ir_fusable_movement(n) && n->kernel != n) || s.conv_input[n->id] ? NULL : n->kernel;
        for (int j = 0; j < n->n_in; j++) note_use(&s, n->in[j], reader);
        /* the concat, upsampling and depth-to-space feeding an indirect-GEMM
         * conv join its kernel as index arithmetic on A's row pointers
         * (ir/conv_input.c, codegen/gemm.c); their sources are stored */
        const ir_gemm_plan *p = n->gemm;
        if (fusing && n->op == KL_OP_CONV2D && p && !p->shared && !p->pack_b_runtime && (!p->pad_input || p->pad_copy)) {
            ir_conv_source src[IR_MAX_CONV_SOURCES];
            ir_node *members[4 * IR_MAX_CONV_SOURCES + 1];
            int nm = 0;
            int ns = ir_conv_sources(g, n, src, members, &nm);
            if (ns && scale_pays(n, src, ns))
                for (int m = 0; m < nm; m++) s.conv_input[members[m]->id] = n->kernel;
            else if (ns)
                pass_count(ctx, "fuse", "channel scales kept out of wide convs", 1);
        }
    }
    /* GEMM epilogues read their inputs by broadcast offsets only: a view
     * that joined such a kernel becomes a kernel of its own again */
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        if (n->kernel && n->kernel != n && ir_fusable_movement(n) && s.has_contraction[n->kernel->id] && !s.conv_input[n->id]) {
            n->kernel = n;
            pass_count(ctx, "fuse", "views kept out of GEMM epilogues", 1);
        }
    }
    free(s.users_kernel);
    free(s.conflict);
    free(s.has_contraction);
    free(s.pieces);
    free(s.state_out);
    free(s.has_outputs);
    free(s.conv_input);
    ir_plan_build(g);
    return true;
}
