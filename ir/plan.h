/* ir/plan.h — the kernel plan: what fusion, layout and buffer assignment
 * decided, as one object codegen reads.
 *
 * The passes annotate nodes (node->kernel, node->gemm, node->store, ...);
 * the plan gathers those annotations per kernel, once, so code generation
 * never rediscovers a kernel by scanning every node of the graph:
 *
 *   - kernels, in schedule order (the order of their roots in g->nodes);
 *   - per kernel: its root, its members in evaluation order (the root last,
 *     except a while/if, whose gets follow it), the materialized values it
 *     reads (in the order codegen passes their pointers), its contraction
 *     (the GEMM-planned member, NULL if none) with the ir_gemm_plan, and the
 *     scratch bytes it uses while it runs and where they are in temp;
 *   - per kernel: its further outputs, members other than the root that it
 *     stores too (ir_plan_is_output: a result, or read by another kernel;
 *     passes/fuse.c fuses only state results that way);
 *   - the graph's temp arena size;
 *   - for every node id, the kernel that computes it (NULL: a param,
 *     constant or alias, which need no code).
 *
 * Who writes it: passes/fuse.c builds it at its end (kernels, members,
 * inputs, contractions from node->gemm, which passes/layout.c set before);
 * passes/bufassign.c rebuilds it at its end (the fetch and state COPY
 * kernels it adds, scratch offsets, temp size).  Each graph has its own
 * (a while/if region too: the passes run on regions first).  Everything
 * lives in the graph's arena.  Who reads it: codegen/ (module.c: kernel
 * list and inputs; kernels.c, gemm.c: members and contraction; control.c:
 * a while/if's gets), ir/print.c (IR_PRINT_PLAN) and ir/verify.c.
 */
#ifndef KILN_IR_PLAN_H
#define KILN_IR_PLAN_H

#include "ir.h"

typedef struct kl_kernel {
    ir_node *root;           /* kernel root (root->kernel == root) */
    int index;               /* position in plan->kernels */
    ir_node **members;       /* nodes computed by this kernel, schedule order; root included */
    int n_members;
    ir_node **inputs;        /* distinct values read from memory: operands of members not computed here */
    int n_inputs;
    ir_node **outputs;       /* members other than the root that the kernel also stores (multi-output
                              * kernels: a fused state update, e.g. Adam's m and v beside the variable) */
    int n_outputs;
    ir_node *contraction;    /* the GEMM-planned member (root or an output-fused matmul/conv), or NULL */
    const ir_gemm_plan *gemm; /* contraction->gemm */
    int64_t scratch_bytes;   /* temp bytes used while the kernel runs (contraction, or a while/if root) */
    int64_t scratch_offset;  /* where buffer assignment put them */
} kl_kernel;

struct kl_plan {
    kl_kernel *kernels; /* schedule order */
    int n_kernels;
    kl_kernel **kernel_of; /* by node id (< n_ids): the kernel computing the node, or NULL */
    int n_ids;
    int64_t temp_size;  /* g->temp_size when the plan was built */
};

/* (Re)builds g's plan from the nodes' annotations (node->kernel, gemm,
 * scratch_bytes/offset, g->temp_size) and sets g->plan.  Regions have
 * their own plans, built by the same passes. */
kl_plan *ir_plan_build(ir_graph *g);

/* The kernel that computes n, or NULL (no code, or not in the plan). */
static inline kl_kernel *ir_plan_kernel_of(const kl_plan *p, const ir_node *n)
{
    return p && n->id >= 0 && n->id < p->n_ids ? p->kernel_of[n->id] : NULL;
}

/* Whether n is computed inside kernel k (a member, not read from memory). */
static inline bool ir_plan_computes(const kl_plan *p, const kl_kernel *k, const ir_node *n)
{
    return ir_plan_kernel_of(p, n) == k;
}

/* By node id (g->next_id + 1 entries, calloc'd; the caller frees it): 1 for
 * each node that is a member, not the root, of its kernel and is stored
 * besides the root (a result of g, or read by a node of another kernel,
 * through aliases).  Roots, gets and nodes outside every kernel: 0.  Used
 * by ir_plan_build and passes/bufassign.c. */
unsigned char *ir_plan_output_marks(const ir_graph *g);

/* The plan as comment lines ("# plan ..."), one per kernel; depth indents. */
void ir_plan_print(const kl_plan *p, FILE *f, int depth);

/* Checks the plan against the graph: every node's kernel is the plan's,
 * every member's kernel is its root, inputs are materialized, kernels in
 * schedule order and none reads a value written by a later kernel. */
bool ir_plan_verify(const ir_graph *g, kl_diag *d);

/* A conv2d's input read through index arithmetic by the indirect GEMM
 * (ir/conv_input.c): a concat over channels of sources, each a value read
 * plain, nearest-upsampled by (fy, fx), or as the depth-to-space of
 * [N, H/fy, W/fx, fy*fx*channels]; a plain one may be multiplied by a
 * per-(image, channel) scale as it is read (squeeze-excite's x * s, s
 * [N or 1, 1, 1, channels]).  No copy of the conv's input exists. */
typedef enum { IR_SRC_PLAIN, IR_SRC_UPSAMPLE, IR_SRC_D2S } ir_src_kind;
typedef struct ir_conv_source {
    ir_node *value;   /* the value read (a kernel input; a reshape reads its operand's memory) */
    ir_src_kind kind;
    int fy, fx;       /* upsampling factors, or the depth-to-space block */
    int64_t h, w;     /* the source's own image height and width */
    int64_t channels; /* channels it supplies */
    int64_t offset;   /* its first channel in the conv's input */
    ir_node *scale;   /* the value's channel scale s (a kernel input), or NULL */
    int64_t scale_image; /* s's stride between images: channels, or 0 (one s for every image) */
} ir_conv_source;
#define IR_MAX_CONV_SOURCES 8

/* The sources of conv's in[0] (their count), or 0 when it is a plain value
 * (nothing to fuse).  members (room for 4 * IR_MAX_CONV_SOURCES + 1, may be
 * NULL): the nodes between, the concat, tiles, gathers, transposes and
 * channel-scale multiplies, which the conv's kernel then computes by index
 * arithmetic (and a multiply per element of A). */
int ir_conv_sources(const ir_graph *g, const ir_node *conv, ir_conv_source *src, ir_node **members, int *n_members);
/* Whether n is one of those members of conv's input. */
bool ir_conv_source_member(const ir_graph *g, const ir_node *conv, const ir_node *n);

#endif
