/* codegen/cg_internal.h — shared by the codegen files; not a public header. */
#ifndef KILN_CG_INTERNAL_H
#define KILN_CG_INTERNAL_H

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "../ir/plan.h"
#include "codegen.h"

/* ---- targets (codegen/target.c, docs/targets.md) ------------------------ */

/* What an ISA does natively; without a capability codegen emits its own
 * sequence rather than let LLVM call libm or compiler-rt. */
enum {
    CG_CAP_FMA = 1 << 0,    /* fused multiply-add (else mul + add) */
    CG_CAP_ROUND = 1 << 1,  /* floor/ceil/trunc/rint instructions (else via integer conversion) */
    CG_CAP_F16 = 1 << 2,    /* half <-> float conversion instructions (else bit manipulation) */
    CG_CAP_NO_F64 = 1 << 3, /* no double-precision FPU: f64 values are refused */
    CG_CAP_VEC128 = 1 << 4, /* float vectors of 128 bits */
    CG_CAP_VEC256 = 1 << 5,
    CG_CAP_VEC512 = 1 << 6,
    CG_CAP_REGS32 = 1 << 7, /* 32 vector / FP registers (else 16, or 8 for MVE) */
    CG_CAP_MINNUM = 1 << 8, /* maxnum/minnum (else compare + select) */
    CG_CAP_PTR32 = 1 << 9,  /* 32-bit: 64-bit division and float <-> i64 conversion would be compiler-rt calls */
};

typedef struct cg_cpu {
    const char *name;
    unsigned caps;
} cg_cpu;

enum { CG_MAX_FEATURE_CAPS = 6 };

/* One row of the table. */
struct cg_target {
    const char *name;          /* --target spelling */
    const char *triple;        /* LLVM's */
    const cg_cpu *cpus;        /* accepted --target-cpu names, NULL-terminated */
    const char *default_cpu;   /* "native" only on the host's row */
    const char *base_features; /* always enabled */
    const char *abi;           /* LLVM target ABI (RISC-V hard float), or NULL */
    unsigned base_caps;
    struct {
        const char *feature; /* an LLVM feature whose +/- in the resolved list sets or clears caps */
        unsigned caps;
    } feature_caps[CG_MAX_FEATURE_CAPS];
    LLVMRelocMode reloc;
    bool hosted;  /* an OS: threads and libkilnrt allowed; otherwise firmware (freestanding) */
    bool runtime; /* libkilnrt's thread pool exists for it (--threads N); OpenBLAS only on the host */
    bool device;  /* an accelerator: kernels in a fat binary, run from a host object (codegen/gpu.c) */
    const char *summary;
};

/* A row with its CPU and features resolved. */
typedef struct cg_machine {
    const cg_target *target;
    char *cpu, *features; /* malloc'd; features: base + host (native) + the user's */
    unsigned caps;
    int vector_floats; /* float32 lanes of the widest vector: 16, 8, 4 or 1 */
    int vector_regs;   /* vector registers (FP registers when scalar) */
} cg_machine;

bool cg_machine_resolve(const char *target, const char *cpu, const char *features, cg_machine *m, kl_diag *d);
void cg_machine_free(cg_machine *m);
LLVMTargetMachineRef cg_target_machine(const cg_machine *m, int opt_level, kl_diag *d);
void cg_init_llvm(void);
int cg_target_count(void);
const cg_target *cg_target_at(int i);
const cg_target *cg_target_by_name(const char *name); /* NULL or "host": the host's row */

enum { CG_SHARED_CONV, CG_SHARED_DEPTHWISE, CG_SHARED_BIAS_ACT, CG_SHARED_KINDS };

/* One module being built. */
typedef struct cg {
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    LLVMTypeRef i1, i8, i32, i64, f32, ptr, void_t;
    const ir_graph *g;
    const cg_options *o;
    cg_machine m;               /* the target row, CPU and features resolved */
    const char *cpu, *features; /* m.cpu, m.features */
    /* Target instructions without which LLVM would call libm/compiler-rt:
     * codegen emits its own sequences instead (math.c); from m.caps. */
    bool has_fma, has_round, has_f16, has_minnum;
    kl_diag *d;
    LLVMValueRef *consts;       /* by node id: global of a CONST node */
    int64_t const_bytes;
    int n_kernels;
    int n_split;        /* kernels whose call splits over the pool */
    double max_work_ns; /* the largest kernel's estimated work (codegen/split.c) */
    /* While a split kernel (cg_kernel_units > 0, not a GEMM) is emitted: its
     * work range [par_lo, par_hi), which cg_loop_begin_split iterates. */
    LLVMValueRef par_lo, par_hi;
    /* While a kernel with further outputs (ir/plan.h kl_kernel.outputs) is
     * emitted: where each of them is stored, in the plan's order. */
    LLVMValueRef *out_ptrs;
    /* The graph function being emitted (module.c): its args and temp
     * pointers, read by cg_storage; regions get functions of their own. */
    LLVMValueRef cur_args, cur_temp;
    const char *base_prefix; /* the user's prefix (c->o->prefix is a region's inside one) */
    LLVMValueRef copy_fn;    /* P_copy, made on first use (control.c) */
    LLVMValueRef shared_fn[CG_SHARED_KINDS]; /* -Os: the generic kernels, made on first use (shared.c) */
    /* GEMM register tiles as functions shared by every kernel whose tile
     * has the same shape and constants (gemm.c: tile_fn), made on first use. */
    struct cg_tile_fn *tile_fns;
    int n_tile_fns, cap_tile_fns;
} cg;

/* The loop emitted by cg_loop_begin/cg_loop_end: for (iv = 0; iv < n; iv++). */
typedef struct cg_loop {
    LLVMBasicBlockRef header, exit;
    LLVMValueRef iv;
} cg_loop;

LLVMValueRef cg_loop_begin(cg *c, int64_t n, cg_loop *l);
LLVMValueRef cg_loop_begin_v(cg *c, LLVMValueRef n, cg_loop *l); /* n: an i64 value */
/* The loop a split kernel divides among threads: [par_lo, par_hi) of
 * [0, n) when the kernel is split, all of it otherwise. */
LLVMValueRef cg_loop_begin_split(cg *c, int64_t n, cg_loop *l);
/* Work units of root's kernel over the thread pool (its split loop's trip
 * count, or the GEMM's row tiles / panels); 0: it runs on the calling
 * thread (one thread compiled, or too little work to wake a worker). */
int64_t cg_kernel_units(cg *c, ir_node *root, ir_node **in_nodes, int n_in);
/* codegen/split.c: the cost rule (work against the pool's fork-join cost)
 * and the split loop each kind's emitter restricts. */
bool cg_split_pays(const cg_options *o, double work_ns, int64_t units);
int cg_outer_split_dim(const ir_type *t); /* first dim of extent > 1, or -1 */
int cg_movement_split_dim(const ir_node *n); /* codegen/movement.c */
/* cg_loop_begin_split when `split` (the kernel is split at this loop), else cg_loop_begin */
LLVMValueRef cg_loop_begin_split_if(cg *c, bool split, int64_t n, cg_loop *l);
void cg_loop_end(cg *c, cg_loop *l);
void cg_loop_end_scalar(cg *c, cg_loop *l); /* ... and LLVM must not vectorize it */
void cg_loop_end_rolled(cg *c, cg_loop *l); /* ... and LLVM must not unroll it */
LLVMValueRef cg_i64(cg *c, int64_t v);
LLVMValueRef cg_f32(cg *c, double v);
LLVMTypeRef cg_elem_type(cg *c, kl_dtype t);    /* storage type */
LLVMTypeRef cg_compute_type(cg *c, kl_dtype t); /* arithmetic type (f16 -> f32) */
bool cg_dtype_ok(cg *c, const ir_node *n);
LLVMValueRef cg_load(cg *c, kl_dtype t, LLVMValueRef base, LLVMValueRef index);   /* in compute type */
void cg_store(cg *c, kl_dtype t, LLVMValueRef v, LLVMValueRef base, LLVMValueRef index);
LLVMValueRef cg_entry_alloca(cg *c, LLVMTypeRef t, const char *name);
LLVMValueRef cg_const_global(cg *c, const char *name, LLVMValueRef init); /* private, read-only, 64-aligned */
LLVMValueRef cg_zero_floats(cg *c, int64_t n);                            /* n zero floats, read-only */
int cg_vector_floats(const cg *c); /* float lanes of the target's widest vector: 16, 8 or 4 */
LLVMValueRef cg_fadd_reassoc(cg *c, LLVMValueRef a, LLVMValueRef b);
/* A fresh codegen context: module, builder, types (module.c). */
void cg_context_init(cg *c, LLVMContextRef ctx, const ir_graph *g, const cg_options *o, kl_diag *d);

/* Op semantics, the one place (codegen/scalar.c): one elementwise op on
 * compute-type values of its operands (v[i] for n->in[i]); float ops on
 * scalars, or on float vectors where cg_float_op_vector_ok(op) (GEMM
 * epilogues); b NULL for a unary op. */
LLVMValueRef cg_elementwise_op(cg *c, const ir_node *n, LLVMValueRef *v);
LLVMValueRef cg_float_op(cg *c, kl_op op, LLVMValueRef a, LLVMValueRef b);
bool cg_float_op_vector_ok(kl_op op);
LLVMValueRef cg_int_op(cg *c, kl_op op, kl_dtype dt, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cg_fmax_nan(cg *c, LLVMValueRef a, LLVMValueRef b, bool is_max); /* NaN wins, as TF's max/min */
LLVMValueRef cg_convert(cg *c, LLVMValueRef v, kl_dtype from, kl_dtype to);
bool cg_is_unsigned(kl_dtype t);
LLVMValueRef cg_intrinsic(cg *c, const char *name, LLVMTypeRef type, LLVMValueRef *args, int n);
/* Pointer to element `index` (i64) of a buffer of dtype t. */
LLVMValueRef cg_elem_ptr(cg *c, kl_dtype t, LLVMValueRef base, LLVMValueRef index);

/* Kernels (codegen/kernels.c): emit the body of kernel function `fn` for
 * root node `root`; `out` is the output pointer and inputs[i] the pointer of
 * the materialized node in_nodes[i]. */
bool cg_emit_kernel(cg *c, LLVMValueRef fn, ir_node *root, LLVMValueRef out, ir_node **in_nodes,
                    LLVMValueRef *inputs, int n_inputs);

/* Value of elementwise kernel `root` at one element, where `seed` (a member
 * computed elsewhere: the GEMM of an output-fused kernel) has value
 * seed_val and offsets[i] is the element index into inputs[i]. */
LLVMValueRef cg_kernel_value(cg *c, ir_node *root, ir_node *seed, LLVMValueRef seed_val, ir_node **in_nodes,
                             LLVMValueRef *inputs, LLVMValueRef *offsets, int n_in);

/* Reductions' identity and step (sum, mean, max, min, prod; kernels.c), and
 * the value of `member` of root's kernel at one element (for the GPU backend). */
LLVMValueRef cg_reduce_init(cg *c, kl_op op, kl_dtype dt);
LLVMValueRef cg_reduce_step(cg *c, kl_op op, kl_dtype dt, LLVMValueRef acc, LLVMValueRef v);
LLVMValueRef cg_kernel_member_value(cg *c, ir_node *root, ir_node *member, ir_node **in_nodes, LLVMValueRef *inputs,
                                    LLVMValueRef *offsets, int n_in);

/* GEMM micro-kernels (codegen/gemm.c): contraction n (n->gemm set), with
 * the elementwise kernel `epi` applied to each tile when n is fused into it
 * (else NULL); out is the kernel's output, scratch the node's scratch bytes,
 * packed the kernel's pointer to cg_gemm_packed_b's panels (a parameter, so
 * kernels of equal shapes are equal functions that module.c merges). */
bool cg_emit_gemm(cg *c, ir_node *n, ir_node *epi, LLVMValueRef out, ir_node **in_nodes, LLVMValueRef *inputs,
                  int n_in, LLVMValueRef scratch, LLVMValueRef packed, LLVMValueRef lo, LLVMValueRef hi);
/* The constant B of GEMM n packed into panels at compile time (a new
 * global per call: one weight may be read transposed by another GEMM), or
 * NULL when B is packed at run time. */
LLVMValueRef cg_gemm_packed_b(cg *c, ir_node *n);
/* Work units (row tiles, or column panels when by_cols) a GEMM's kernel
 * splits over the thread pool, [lo, hi) per call; 0: it runs on the
 * calling thread only (one thread compiled, too small, runtime-packed B). */
double cg_gemm_work_ns(double flops, double bytes); /* split.c: a contraction's estimated work */
int64_t cg_gemm_units(const cg_options *o, const ir_node *n, bool *by_cols);
/* The GEMM-planned member of root's kernel (root itself or an output-fused
 * contraction), or NULL: the plan's (ir/plan.h). */
ir_node *cg_kernel_contraction(const ir_graph *g, ir_node *root);
/* The kernel of the graph being emitted that computes n (its plan), or NULL. */
static inline const kl_kernel *cg_kernel_of(const cg *c, const ir_node *n) { return ir_plan_kernel_of(c->g->plan, n); }
/* Whether n is computed inside root's kernel (a member, not one of its inputs). */
static inline bool cg_in_kernel(const cg *c, const ir_node *root, const ir_node *n)
{
    const kl_kernel *k = cg_kernel_of(c, root);
    return k && cg_kernel_of(c, n) == k;
}
/* Whether constant node k is read only as a prepacked B operand (then its
 * raw bytes are not emitted). */
bool cg_const_only_prepacked(const ir_graph *g, const ir_node *k);

/* Math (codegen/math.c): inline polynomial approximations, branch-free. */
LLVMValueRef cg_exp(cg *c, LLVMValueRef x);
LLVMValueRef cg_log(cg *c, LLVMValueRef x);
LLVMValueRef cg_tanh(cg *c, LLVMValueRef x);
LLVMValueRef cg_sigmoid(cg *c, LLVMValueRef x);
LLVMValueRef cg_erf(cg *c, LLVMValueRef x);
LLVMValueRef cg_erfc(cg *c, LLVMValueRef x);
LLVMValueRef cg_sincos(cg *c, LLVMValueRef x, bool cosine);
LLVMValueRef cg_atan(cg *c, LLVMValueRef x);
LLVMValueRef cg_softplus(cg *c, LLVMValueRef x);
LLVMValueRef cg_elu(cg *c, LLVMValueRef x);
LLVMValueRef cg_pow(cg *c, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cg_ipow(cg *c, LLVMValueRef a, LLVMValueRef b);

/* Operations LLVM lowers to library calls on baseline x86-64 (floorf,
 * fmaf, fmodf, __extendhfsf2, ...): instructions where the target has them,
 * else inline sequences.  Scalar float or double operands. */
typedef enum cg_rounding { CG_FLOOR, CG_CEIL, CG_TRUNC, CG_ROUND_EVEN } cg_rounding;
LLVMValueRef cg_round(cg *c, LLVMValueRef x, cg_rounding mode);
LLVMValueRef cg_fma(cg *c, LLVMValueRef a, LLVMValueRef b, LLVMValueRef d); /* a*b+d, fused if the target can */
LLVMValueRef cg_fmod(cg *c, LLVMValueRef a, LLVMValueRef b);              /* C fmod */
LLVMValueRef cg_maxnum(cg *c, LLVMValueRef a, LLVMValueRef b);            /* the non-NaN one */
LLVMValueRef cg_minnum(cg *c, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cg_half_to_float(cg *c, LLVMValueRef h);                     /* half -> float */
LLVMValueRef cg_float_to_half(cg *c, LLVMValueRef f);                     /* float -> half, nearest even */

/* Data movement (codegen/movement.c) and windows (codegen/conv.c); ops[i]
 * is the pointer of operand i. */
bool cg_emit_movement(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef *ops);
bool cg_emit_window(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef *ops);
/* A conv's shape as i64 values (conv.c): constants of one layer
 * (cg_conv_fields), or a shared kernel's descriptor fields (shared.c);
 * cg_emit_conv_nest is the one direct loop nest over either. */
enum { CG_CONV_N, CG_CONV_H, CG_CONV_W, CG_CONV_C, CG_CONV_OH, CG_CONV_OW, CG_CONV_O, CG_CONV_KH, CG_CONV_KW, CG_CONV_G,
       CG_CONV_ICG, CG_CONV_OCG, CG_CONV_SH, CG_CONV_SW, CG_CONV_DH, CG_CONV_DW, CG_CONV_PT, CG_CONV_PL, CG_CONV_FIELDS };
typedef struct cg_conv_shape {
    LLVMValueRef f[CG_CONV_FIELDS];
} cg_conv_shape;
void cg_conv_fields(const ir_node *n, int64_t *v); /* CG_CONV_FIELDS values of a conv2d */
void cg_emit_conv_nest(cg *c, const cg_conv_shape *s, kl_dtype t, bool depthwise, bool ocg_div, LLVMValueRef out,
                       LLVMValueRef x, LLVMValueRef w);
bool cg_emit_scan(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef in); /* cumsum, cumprod (scan.c) */
bool cg_emit_scatter(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef *ops, ir_node **in_nodes, LLVMValueRef *inputs,
                     int n_in); /* scatter.c */
/* A float32 conv with one filter per channel: the vector depthwise kernel
 * (conv.c), which the pool may split by image rows (kernels.c). */
bool cg_is_depthwise_f32(const ir_node *n);

/* Size mode (codegen/shared.c, -Os): kernel k of the graph being emitted,
 * whose contraction has a shared plan, as calls of the generic kernels of
 * its kind with a const descriptor each, at the builder's position. */
bool cg_emit_shared(cg *c, const kl_kernel *k);
/* Function attributes of every function codegen makes (module.c). */
void cg_function_attrs(cg *c, LLVMValueRef fn);

/* Footprint (codegen/footprint.c): the deepest stack of the entry point,
 * collected while the object is emitted (begin before, end after: -1 if
 * unknown), and the code / read-only data bytes of an object. */
typedef struct {
    char run[128], run_args[128], tile[128];
    int64_t f_run, f_args, f_kernel, f_tile, slot;
    bool failed;
    LLVMDiagnosticHandler old;
    void *old_ctx;
} cg_stack_probe;
void cg_stack_probe_begin(cg *c, cg_stack_probe *p);
int64_t cg_stack_probe_end(cg *c, cg_stack_probe *p, bool emitted);
void cg_object_sections(LLVMContextRef ctx, LLVMMemoryBufferRef obj, int64_t *code, int64_t *rodata);
/* Undefined symbols of an object in memory, space-separated (footprint.c);
 * false: unreadable, or more than n bytes. */
bool cg_object_undefined(LLVMContextRef ctx, LLVMMemoryBufferRef obj, char *out, size_t n);

/* Control flow (codegen/control.c): a while/if node in the graph function
 * being emitted, calling its regions' functions (module.c made them). */
bool cg_emit_while(cg *c, ir_node *n, LLVMValueRef cond_fn, LLVMValueRef body_fn);
bool cg_emit_if(cg *c, ir_node *n, LLVMValueRef then_fn, LLVMValueRef else_fn);
/* dynamic_slice / dynamic_update_slice kernels; ops[i] point to operand i. */
bool cg_emit_dynamic(cg *c, ir_node *n, LLVMValueRef out, LLVMValueRef *ops);
/* Pointer to n's storage inside the graph function being emitted (module.c). */
LLVMValueRef cg_storage(cg *c, ir_node *n);


/* C identifier for a tensor name, unique within the list (header.c). */
void cg_c_names(const ir_graph *g, char (*names)[64]);
bool cg_check_prefix(const cg_options *o, kl_diag *d);
const char *cg_c_type(kl_dtype t); /* C element type of a pointer parameter (header.c) */

#endif
