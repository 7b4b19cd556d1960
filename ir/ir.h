/* ir/ir.h — Kiln's typed tensor IR.
 *
 * A graph is a list of nodes in topological order; every node produces
 * exactly one value (its `type`), so "node" and "value" are the same thing,
 * as in ggml.  Frontends expand multi-output ops (Split, Unpack, ...) into
 * several single-result nodes.  All nodes, operand arrays, names and constant
 * data live in the graph's arena and die with it.
 *
 *   kl_diag d = {0};
 *   ir_graph *g = ir_graph_new("model.pb");
 *   ir_node *x = ir_param(g, 0, ir_type_make(KL_F32, 2, (int64_t[]){100, 32}), "x");
 *   ir_node *y = ir_unary(g, KL_OP_TANH, x, "y");
 *   ir_graph_add_result(g, y, "y");
 *   ir_print(g, stdout, 0);
 *   ir_graph_free(g);
 *
 * Passes (passes/) annotate nodes in place: `kernel` (which fused kernel
 * computes the node) and `store`/`offset`/`index` (where its value lives);
 * fuse and bufassign gather those into the graph's kernel plan (g->plan,
 * ir/plan.h), which is what codegen reads.
 */
#ifndef KILN_IR_H
#define KILN_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- diagnostics: errors are values carrying a message ------------------ */

/* Collects error lines.  Library code never prints or exits: it appends to a
 * kl_diag and returns failure; the caller decides what to show.  Several
 * errors may accumulate (e.g. every unsupported op of a graph). */
typedef struct kl_diag {
    int n_errors;
    char *text; /* lines joined by '\n', no trailing newline; NULL if none */
    size_t len, cap;
} kl_diag;

void kl_diag_error(kl_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline bool kl_diag_ok(const kl_diag *d) { return d->n_errors == 0; }
void kl_diag_clear(kl_diag *d);

/* Broken invariants (bugs, not bad input) abort with file:line. */
#define KL_ASSERT(c) ((c) ? (void)0 : kl_die(__FILE__, __LINE__, #c))
_Noreturn void kl_die(const char *file, int line, const char *what);

/* ---- memory -------------------------------------------------------------- */

/* Every heap allocation of the library goes through these (ir/arena.c).
 * With a kl_diag they report failure there ("cannot allocate 64 GiB for the
 * temp arena") and return NULL: use that wherever the size follows from the
 * model (tensors, arenas, per-node tables), and fail the call.  With d NULL
 * the caller has no error channel (arena chunks, graph arrays, diagnostic
 * text); a failure then aborts through kl_die naming the size, instead of
 * writing through NULL.  Counts are multiplied with an overflow check. */
void *kl_malloc(kl_diag *d, size_t size, const char *what);
void *kl_calloc(kl_diag *d, size_t count, size_t size, const char *what);
void *kl_realloc(kl_diag *d, void *p, size_t count, size_t size, const char *what); /* p kept on failure */
void *kl_aligned_alloc(kl_diag *d, size_t size, const char *what); /* 64-byte aligned, size rounded up */
char *kl_strdup(kl_diag *d, const char *s);
/* Test hook (ir/arena.c): the next n allocations that have a kl_diag
 * succeed, the one after fails; n < 0 disarms.  kl_fault_injected says how
 * many failures were injected since arming. */
void kl_fault_fail_after(long n);
long kl_fault_injected(void);
/* "64 GiB", "1.5 MiB", "300 bytes" into buf; returns buf. */
char *kl_format_bytes(char *buf, size_t n, uint64_t bytes);

/* Compile-time limits (docs/architecture.md, "Errors and limits"): a value,
 * a constant or the temp arena above KL_MAX_BYTES is refused with the node
 * named; window attributes (pads, strides, dilations, kernel sizes) must lie
 * in [0, KL_MAX_WINDOW]. */
#define KL_MAX_BYTES ((int64_t)1 << 40)
#define KL_MAX_WINDOW ((int64_t)1 << 24)

/* ---- arena -------------------------------------------------------------- */

typedef struct kl_arena kl_arena;
kl_arena *kl_arena_new(void);
void kl_arena_free(kl_arena *a);
void *kl_arena_alloc(kl_arena *a, size_t size, size_t align); /* zeroed */
char *kl_arena_strdup(kl_arena *a, const char *s);
size_t kl_arena_bytes(const kl_arena *a);

/* ---- dtypes ------------------------------------------------------------- */

/* DT(ENUM, "text", size, is_float, is_signed) */
#define KL_DTYPES(DT)                 \
    DT(F32, "f32", 4, true, true)     \
    DT(F16, "f16", 2, true, true)     \
    DT(F64, "f64", 8, true, true)     \
    DT(I8, "i8", 1, false, true)      \
    DT(I16, "i16", 2, false, true)    \
    DT(I32, "i32", 4, false, true)    \
    DT(I64, "i64", 8, false, true)    \
    DT(U8, "u8", 1, false, false)     \
    DT(BOOL, "bool", 1, false, false)

typedef enum kl_dtype {
#define DT(e, s, n, f, sg) KL_##e,
    KL_DTYPES(DT)
#undef DT
    KL_DTYPE_COUNT
} kl_dtype;

const char *kl_dtype_name(kl_dtype t);
size_t kl_dtype_size(kl_dtype t);
bool kl_dtype_is_float(kl_dtype t);
bool kl_dtype_from_name(const char *s, kl_dtype *out);

/* ---- types -------------------------------------------------------------- */

#define IR_MAX_RANK 8

typedef struct ir_type {
    kl_dtype dtype;
    int rank;
    int64_t dims[IR_MAX_RANK]; /* static; row-major, dims[rank-1] contiguous */
} ir_type;

ir_type ir_type_make(kl_dtype dt, int rank, const int64_t *dims);
int64_t ir_type_numel(const ir_type *t);
size_t ir_type_bytes(const ir_type *t);
bool ir_type_equal(const ir_type *a, const ir_type *b);
/* "f32[100,32]" into buf; returns buf. */
char *ir_type_str(const ir_type *t, char *buf, size_t n);
/* numpy broadcasting of two shapes; false if incompatible. */
bool ir_broadcast_shape(const ir_type *a, const ir_type *b, ir_type *out);
/* Row-major strides of t as seen from a result of rank `rank` under numpy
 * broadcasting: broadcast (size-1 or missing) dims get stride 0. */
void ir_broadcast_strides(const ir_type *t, int rank, const int64_t *out_dims, int64_t *strides);

/* ---- ops ---------------------------------------------------------------- */

typedef enum kl_op {
#define OP(e, s, ar, sh, fl) KL_OP_##e,
#include "ops.def"
#undef OP
    KL_OP_COUNT
} kl_op;

typedef enum ir_shape_rule {
    IR_SHAPE_GIVEN,  /* result type set by the builder (param, const, reshape, cast) */
    IR_SHAPE_UNARY,  /* same as operand 0 */
    IR_SHAPE_BCAST,  /* numpy broadcast of the operands */
    IR_SHAPE_MATMUL, /* [m,k]x[k,n] with transpose attrs */
    IR_SHAPE_REDUCE, /* operand 0 with attr.reduce.axes removed or kept as 1 */
    IR_SHAPE_COMPARE,   /* broadcast, bool result */
    IR_SHAPE_SELECT,    /* broadcast of all three, dtype of operands 1 and 2 */
    IR_SHAPE_ARG,       /* reduce one axis; dtype given (i32 or i64) */
    IR_SHAPE_TRANSPOSE, /* dims permuted by attr.transpose.perm */
    IR_SHAPE_PAD,       /* dims + lo + hi */
    IR_SHAPE_CONCAT,    /* sum along attr.concat.axis */
    IR_SHAPE_GATHER,    /* params[:axis] + indices + params[axis+1:] */
    IR_SHAPE_GATHER_ELEMENTS, /* the indices' shape, the data's dtype */
    IR_SHAPE_CONV,      /* NHWC conv with attr.conv */
    IR_SHAPE_POOL,      /* NHWC pool with attr.conv (ksize in kh, kw) */
    IR_SHAPE_SCAN,      /* operand 0's type; a running sum/product along attr.concat.axis */
    IR_SHAPE_SCATTER,   /* data's type; indices [U] int, updates [U, data.dims[1:]] */
    IR_SHAPE_REGION,    /* while/if: i64[]; regions checked against the operands (ir_region_check) */
    IR_SHAPE_GET,       /* result attr.region.index of the while/if operand */
    IR_SHAPE_DUS,       /* operand 0's type; update (1) fits inside it, start (2) an int vector */
} ir_shape_rule;

enum {
    KL_OPF_SOURCE = 1 << 0,        /* no operands: param, const */
    KL_OPF_ELEMENTWISE = 1 << 1,   /* y[i] depends on operands at i (after broadcasting) */
    KL_OPF_COMMUTATIVE = 1 << 2,   /* binary, a op b == b op a */
    KL_OPF_REDUCTION = 1 << 3,     /* reduces axes of operand 0 */
    KL_OPF_CONTRACTION = 1 << 4,   /* matmul-like */
    KL_OPF_DATA_MOVEMENT = 1 << 5, /* moves elements, computes nothing */
    KL_OPF_ALIAS = 1 << 6,         /* result may share operand 0's memory */
    KL_OPF_FLOAT = 1 << 7,         /* defined on floating dtypes only */
};

typedef struct kl_op_info {
    const char *name;
    int arity;
    ir_shape_rule shape;
    unsigned flags;
} kl_op_info;

extern const kl_op_info kl_op_table[KL_OP_COUNT];
static inline const char *kl_op_name(kl_op op) { return kl_op_table[op].name; }
static inline bool op_is_elementwise(kl_op op) { return kl_op_table[op].flags & KL_OPF_ELEMENTWISE; }
static inline bool op_is_reduction(kl_op op) { return kl_op_table[op].flags & KL_OPF_REDUCTION; }
static inline bool op_is_commutative(kl_op op) { return kl_op_table[op].flags & KL_OPF_COMMUTATIVE; }
static inline bool op_is_source(kl_op op) { return kl_op_table[op].flags & KL_OPF_SOURCE; }
static inline bool op_is_alias(kl_op op) { return kl_op_table[op].flags & KL_OPF_ALIAS; }
/* send/recv/allreduce: side effects (never folded, merged, moved across each other or removed). */
static inline bool op_is_comm(kl_op op)
{
    return op == KL_OP_SEND || op == KL_OP_RECV || op == KL_OP_ALLREDUCE || op == KL_OP_ALLREDUCE_START || op == KL_OP_ALLREDUCE_WAIT;
}
/* The bucketed allreduce's pair (passes/allreduce.c): {key=bucket, peer=bucket count}. */
static inline bool op_is_bucket(kl_op op) { return op == KL_OP_ALLREDUCE_START || op == KL_OP_ALLREDUCE_WAIT; }
/* Data movement that is an affine view of its operand (fusable as a strided read). */
static inline bool op_is_view(kl_op op) { return op == KL_OP_TRANSPOSE || op == KL_OP_SLICE; }
bool kl_op_from_name(const char *s, kl_op *out);

/* Per-op-family attributes.  Which member is meaningful follows from op. */
typedef enum ir_pad_mode { IR_PAD_CONSTANT, IR_PAD_REFLECT, IR_PAD_SYMMETRIC, IR_PAD_EDGE } ir_pad_mode;

/* How SCATTER combines an update with the element it lands on. */
typedef enum ir_scatter_reduce { IR_SCATTER_NONE, IR_SCATTER_ADD, IR_SCATTER_MUL, IR_SCATTER_MAX, IR_SCATTER_MIN } ir_scatter_reduce;

typedef union ir_attr {
    struct { int index; } param;                       /* PARAM: position among feeds */
    struct { bool transpose_a, transpose_b; } matmul;  /* MATMUL */
    struct { uint32_t axes; bool keep_dims; } reduce;  /* REDUCE_*, ARG*: bit i = reduce axis i */
    struct { int8_t perm[IR_MAX_RANK]; } transpose;    /* TRANSPOSE */
    struct { int64_t begin[IR_MAX_RANK], stride[IR_MAX_RANK]; } slice; /* SLICE; dims from the type */
    struct { int64_t lo[IR_MAX_RANK], hi[IR_MAX_RANK]; double value; ir_pad_mode mode; } pad; /* PAD */
    struct { int axis; } concat;                       /* CONCAT, GATHER, GATHER_ELEMENTS, CUMSUM, CUMPROD */
    struct { ir_scatter_reduce reduce; bool drop; } scatter; /* SCATTER; drop: an index outside [0, rows) writes nothing */
    struct {                                           /* CONV2D, CONV2D_TRANSPOSE, *_POOL */
        int kh, kw;                /* pool window (conv: from the filter) */
        int stride_h, stride_w, dilation_h, dilation_w;
        int pad_top, pad_bottom, pad_left, pad_right;
        int groups;                /* conv: input channels / filter's I */
    } conv;
    struct { int n_carried, index; } region;           /* WHILE: n_carried; GET: index */
    struct { int key, peer; } comm;                    /* SEND, RECV: rendezvous key, the other task */
} ir_attr;

/* ---- nodes and graphs --------------------------------------------------- */

/* Where a node's value lives after buffer assignment (passes/bufassign.c). */
typedef enum ir_store {
    IR_STORE_NONE,  /* not materialized: computed inside its kernel (fused) */
    IR_STORE_FEED,  /* caller's feed buffer `index` */
    IR_STORE_FETCH, /* caller's fetch buffer `index` */
    IR_STORE_TEMP,  /* temp arena at byte `offset` */
    IR_STORE_CONST, /* read-only data of the object (node->data) */
    IR_STORE_ALIAS, /* same memory as in[0] (reshape) */
} ir_store;

/* How a contraction (matmul, conv2d) is computed, chosen by passes/layout.c
 * for the target and read by codegen/gemm.c.  The output is a matrix of
 * rows x cols (matmul: M x N per batch; conv: output pixels x channels)
 * computed in register tiles of mr rows x nr columns from B packed into
 * panels of nr columns ([K][nr] each, zero-padded): constant B at compile
 * time, other B into the node's scratch at run time. */
typedef struct ir_gemm_plan {
    int vl;            /* floats per vector register */
    int mr, nr;        /* register tile */
    int group_tiles;   /* row tiles that share one pass over the B panels (L2 block) */
    bool pack_b_runtime;
    /* conv with few input channels: the input is first copied with its
     * padding into scratch (at scratch_offset + pad_offset bytes), so every
     * tap is in range and one pointer per tile row and filter row covers
     * KW*C contiguous k values (not C: the per-tap setup would dominate). */
    bool pad_input;
    bool pad_copy;      /* the copy is needed: the conv has padding (without, the input is its own copy) */
    int64_t pad_offset;
    /* size mode (-Os): computed by the shared generic kernel of its kind
     * (codegen/shared.c) from a const descriptor, B read raw in its own
     * layout; no tile, no packing, no copy, no scratch. */
    bool shared;
} ir_gemm_plan;

typedef struct ir_node ir_node;
struct ir_graph;
struct ir_node {
    kl_op op;
    int id;          /* unique in the graph, stable; printed as %id */
    ir_type type;
    int n_in;
    ir_node **in;
    ir_attr attr;
    const void *data; /* CONST: ir_type_bytes(type) bytes, 64-byte aligned */
    const char *name; /* source node name for errors and dumps (may be NULL) */
    /* WHILE: {cond, body}; IF: {then, else}.  Each region is a graph of its
     * own (isolated: it sees only its params), owned by this node's graph. */
    struct ir_graph **regions;
    int n_regions;

    /* Set by passes. */
    int n_uses;       /* operand uses + result uses (ir_graph_count_uses) */
    ir_node *kernel;  /* root of the kernel that computes this node; self if
                         a root; NULL for nodes needing no code (param, const,
                         alias) — set by passes/fuse.c; a back pointer for
                         passes: codegen reads the plan (ir/plan.h) */
    ir_store store;
    int index;        /* FEED/FETCH index */
    int64_t offset;   /* TEMP byte offset */
    ir_gemm_plan *gemm;     /* GEMM micro-kernel plan (passes/layout.c) or NULL */
    int64_t scratch_bytes;  /* temp bytes the kernel needs while it runs */
    int64_t scratch_offset; /* where bufassign put them */
    int mark;         /* scratch for a single pass; no meaning between passes */
};

/* The constant whose bytes n's value is (n itself, or through reshapes), or NULL. */
static inline const ir_node *ir_const_source(const ir_node *n)
{
    while (n->op != KL_OP_CONST && op_is_alias(n->op)) n = n->in[0];
    return n->op == KL_OP_CONST ? n : NULL;
}

/* Data movement an elementwise loop can compute in place (passes/fuse.c,
 * codegen/kernels.c): views (strided reads), constant-mode pads and concats
 * of up to 64 operands (the loop nest is split at each operand edge). */
static inline bool ir_fusable_movement(const ir_node *n)
{
    return op_is_view(n->op) || (n->op == KL_OP_PAD && n->attr.pad.mode == IR_PAD_CONSTANT) ||
           (n->op == KL_OP_CONCAT && n->n_in <= 64);
}

/* A kernel with fused pads and concats is emitted as one loop nest per
 * segment between operand edges (codegen/kernels.c emit_gated): at most
 * this many, as counted by ir_gated_pieces, or the body's code would grow
 * past what fusion saves. */
enum { IR_MAX_GATED_PIECES = 96 };

/* Loop nests a fused pad or concat splits its kernel into, on its own:
 * per padded dim up to 3 (below, inside, above), a concat one per operand. */
static inline int64_t ir_gated_pieces(const ir_node *n)
{
    int64_t p = 1;
    if (n->op == KL_OP_CONCAT) return n->n_in;
    if (n->op != KL_OP_PAD) return 1;
    for (int d = 0; d < n->type.rank; d++) p *= 1 + (n->attr.pad.lo[d] > 0) + (n->attr.pad.hi[d] > 0);
    return p;
}

typedef struct kl_plan kl_plan; /* ir/plan.h */

typedef struct ir_result {
    ir_node *node;
    const char *name; /* fetch name as the user gave it */
} ir_result;

typedef struct ir_graph {
    kl_arena *arena;
    const char *source; /* file the graph came from, for errors */
    ir_node **nodes;    /* topological order */
    int n_nodes, cap_nodes;
    int next_id;
    ir_node **params;   /* params[i]->attr.param.index == i */
    const char **param_names;
    int n_params;
    ir_result *results;
    int n_results, cap_results;
    int64_t temp_size;  /* set by buffer assignment */
    /* Training state (docs/training.md): param i reads variable param_var[i]
     * and result j writes variable result_var[j] (-1: an ordinary feed or
     * fetch; NULL arrays: no state).  A variable read and written by one
     * graph has one buffer, the caller's state: bufassign orders or copies
     * so the write never lands before the last read of the old value. */
    int *param_var;
    int *result_var;
    struct ir_graph **children; /* regions of this graph's nodes, freed with it */
    int n_children;
    kl_plan *plan;      /* the kernel plan (ir/plan.h), built by fuse and bufassign; in the arena */
    /* Distributed execution (passes/partition.c, docs/distributed.md): this
     * graph is task dist_task of dist_tasks (0 tasks: not partitioned); the
     * fingerprint of the whole graph and its placement, checked across
     * ranks at start-up.  Data-parallel graphs (passes/allreduce.c): a
     * fingerprint with dist_task -1 and dist_tasks 0 (any rank, any size). */
    int dist_task, dist_tasks;
    uint64_t dist_fingerprint;
} ir_graph;

ir_graph *ir_graph_new(const char *source);
void ir_graph_free(ir_graph *g);

/* Builders append in order, so operands must already be in the graph.  The
 * result type of a node with shape rule GIVEN is taken from `type`; others
 * are inferred here (and checked by the verifier); builders return NULL and
 * report into d when shapes do not fit. */
ir_node *ir_param(ir_graph *g, ir_type type, const char *name);
ir_node *ir_const(ir_graph *g, ir_type type, const void *data, const char *name); /* copies data */
ir_node *ir_const_scalar_f32(ir_graph *g, float v, const char *name);
ir_node *ir_node_new(ir_graph *g, kl_op op, int n_in, ir_node *const *in, const ir_attr *attr,
                     const ir_type *type, const char *name, kl_diag *d);
ir_node *ir_unary(ir_graph *g, kl_op op, ir_node *x, const char *name, kl_diag *d);
ir_node *ir_binary(ir_graph *g, kl_op op, ir_node *a, ir_node *b, const char *name, kl_diag *d);
ir_node *ir_reshape(ir_graph *g, ir_node *x, int rank, const int64_t *dims, const char *name, kl_diag *d);
ir_node *ir_cast(ir_graph *g, ir_node *x, kl_dtype to, const char *name);
void ir_graph_add_result(ir_graph *g, ir_node *n, const char *name);

/* attr with only the member op uses kept, every other byte zero. */
ir_attr ir_attr_normalize(kl_op op, const ir_attr *a);

/* Infer n's result type from its operands and attrs (shape rules above).
 * Returns false and reports (naming the node) if they do not fit. */
bool ir_infer_type(const ir_graph *g, const ir_node *n, ir_type *out, kl_diag *d);

/* Rewrite every use of `from` (operands and results) to `to`. */
void ir_replace_uses(ir_graph *g, ir_node *from, ir_node *to);
/* Drop nodes for which keep[node->mark]... see passes; removes nodes with
 * mark == 0 from the list (they stay in the arena). */
void ir_graph_remove_unmarked(ir_graph *g);
void ir_graph_count_uses(ir_graph *g);
/* Insert n (already created at the end) right before `before` in the order. */
void ir_graph_move_before(ir_graph *g, ir_node *n, ir_node *before);

/* ---- control flow (ir/control.c) ---------------------------------------- */

/* A new empty region graph owned (and freed) by `parent`. */
ir_graph *ir_region_new(ir_graph *parent, const char *source);
/* while: in[0..n_carried) are the carried values' initial values, the rest
 * invariants.  cond takes one param per operand (their types) and returns
 * one bool[]; body takes the same params and returns the n_carried next
 * values.  Returns the while node (i64[] trip count); ir_get reads results. */
ir_node *ir_while(ir_graph *g, int n_in, ir_node *const *in, int n_carried, ir_graph *cond, ir_graph *body,
                  const char *name, kl_diag *d);
/* if: pred is bool[]; both regions take one param per in[i] and return
 * values of the same types. */
ir_node *ir_if(ir_graph *g, ir_node *pred, int n_in, ir_node *const *in, ir_graph *then_g, ir_graph *else_g,
               const char *name, kl_diag *d);
ir_node *ir_get(ir_graph *g, ir_node *ctl, int index, kl_diag *d);
/* A TensorFlow-style loop (every loop variable carried, cond and body
 * taking all of them, the body returning all of them) as a while: loop
 * variables the body returns unchanged become invariants, constant
 * invariants are copied into the regions; outs[k] is the final value of
 * loop variable k.  cond/body are regions of g with n params each. */
bool ir_while_functional(ir_graph *g, int n, ir_node *const *in, ir_graph *cond, ir_graph *body, const char *name,
                         ir_node **outs, kl_diag *d);
/* A TensorFlow-style conditional: constant operands copied into both
 * branches; outs[k] is result k. */
bool ir_if_functional(ir_graph *g, ir_node *pred, int n, ir_node *const *in, ir_graph *then_g, ir_graph *else_g,
                      const char *name, ir_node **outs, kl_diag *d);
/* Moves region r of n into g right before n, its params reading n's
 * operands; outs[k] gets the value of the region's result k.  The region
 * is spent (its nodes now belong to g).  Returns how many nodes moved. */
int ir_inline_region(ir_graph *g, ir_node *n, int r, ir_node **outs);
/* Whether regions of n fit its operands (signature rules above). */
bool ir_region_check(const ir_graph *g, const ir_node *n, kl_diag *d);
/* Carried value k of a while is updated in place (one buffer, no double
 * buffering): body result k is a dynamic_update_slice of param k, the only
 * use of param k in the body. */
bool ir_loop_in_place(const ir_node *w, int k);
/* Scratch layout of a while (after its regions' bufassign): carried
 * buffers cur[k] and next[k] (equal when in place), the regions' temp and
 * the cond's bool; returns the bytes. Arrays have n_carried entries. */
int64_t ir_loop_scratch(const ir_node *w, int64_t *cur, int64_t *next, int64_t *region_temp, int64_t *cond_out);
/* Scratch of an if: a slot per result that has no get (dead results still
 * need somewhere to go) and the branches' temp. */
int64_t ir_if_scratch(const ir_node *n, const ir_graph *g, int64_t *dead, int64_t *region_temp);

/* ---- text format (ir/print.c, ir/parse.c) ------------------------------- */

enum {
    IR_PRINT_FULL_CONSTS = 1 << 0, /* print every constant element (parseable) */
    IR_PRINT_PLAN = 1 << 1,        /* print kernel and storage annotations */
};
void ir_print(const ir_graph *g, FILE *f, unsigned flags);
/* Parse the text format; `source` names the text in errors. */
ir_graph *ir_parse(const char *text, const char *source, kl_diag *d);

/* ---- verifier and reference evaluation ---------------------------------- */

/* Checks: operand counts, operands defined earlier in the order, types equal
 * what the shape rules give, params/results well formed. */
bool ir_verify(const ir_graph *g, kl_diag *d);

/* Reference evaluation of one node, used by constant folding and as an
 * oracle in tests: `in[i]` point to operand data, `out` to result storage. */
bool ir_eval_node(const ir_node *n, const void *const *in, void *out, kl_diag *d);
/* For frontends: ir_node_new that is NULL-safe (a NULL operand means an
 * earlier step failed and reported; NULL is returned) and folds the result
 * when every operand is constant (ir_try_fold). */
ir_node *ir_node_folded(ir_graph *g, kl_op op, int n_in, ir_node *const *in, const ir_attr *a, const ir_type *t,
                        const char *name, kl_diag *d);
/* A constant scalar of dtype t holding v (converted as a cast would). */
ir_node *ir_scalar(ir_graph *g, kl_dtype t, double v);

/* If every operand of n is a constant (and n is small), a new constant
 * holding n's value, else n itself.  Frontends fold shape arithmetic with it
 * while importing; NULL stays NULL. */
/* Running sum or product (KL_OP_CUMSUM / KL_OP_CUMPROD) along axis, with
 * TensorFlow's and ONNX's exclusive and reverse options (ir/scan.c). */
ir_node *ir_scan(ir_graph *g, kl_op op, ir_node *x, int axis, bool exclusive, bool reverse, const char *name, kl_diag *d);
/* The k largest (or smallest) values along axis, sorted, and their indices
 * (index_type i32 or i64); lower indices first among equal values
 * (ir/topk.c).  False with an error in d. */
bool ir_top_k(ir_graph *g, ir_node *x, int axis, int64_t k, bool largest, kl_dtype index_type, const char *name,
              ir_node **values, ir_node **indices, kl_diag *d);
/* Einsum over n_in operands as transposes, reductions and batched matmuls;
 * ellipses, repeated letters (diagonals) and implicit outputs included
 * (ir/einsum.c). */
ir_node *ir_einsum(ir_graph *g, const char *equation, ir_node *const *in, int n_in, const char *name, kl_diag *d);
/* GatherND (batch_dims leading axes shared), ScatterND and ScatterElements
 * as GATHER / SCATTER on linear indices (ir/gather_scatter.c). */
ir_node *ir_gather_nd(ir_graph *g, ir_node *data, ir_node *indices, int batch_dims, const char *name, kl_diag *d);
ir_node *ir_scatter_nd(ir_graph *g, ir_node *data, ir_node *indices, ir_node *updates, ir_scatter_reduce red,
                       const char *name, kl_diag *d);
ir_node *ir_scatter_elements(ir_graph *g, ir_node *data, ir_node *indices, ir_node *updates, int axis,
                             ir_scatter_reduce red, const char *name, kl_diag *d);
/* 3-D windows (ir/window3d.c): x NDHWC, conv filter DHWIO (I = C/groups).
 * k: window (pools; a conv takes it from the filter), hi includes any
 * ceil_mode padding.  Pools ignore padding (average: over real elements). */
typedef struct ir_window3d {
    int64_t k[3], st[3], dl[3], lo[3], hi[3];
} ir_window3d;
ir_node *ir_conv3d(ir_graph *g, ir_node *x, ir_node *w, const ir_window3d *win, int groups, const char *name, kl_diag *d);
ir_node *ir_pool3d(ir_graph *g, kl_op op, ir_node *x, const ir_window3d *win, const char *name, kl_diag *d);
ir_node *ir_try_fold(ir_graph *g, ir_node *n);

/* Element i of a dense array of dtype t, as a double (f16 decoded). */
double ir_load_double(kl_dtype t, const void *p, int64_t i);

/* Evaluate a whole graph: feeds[i] for params, fetches[i] for results. */
bool ir_eval_graph(const ir_graph *g, const void *const *feeds, void *const *fetches, kl_diag *d);

#endif
