/* codegen/split.c — which kernels split over libkilnrt's pool: one cost rule
 * for every kernel kind (docs/performance.md, "Which kernels split").
 *
 * A kernel's work is estimated as single-thread time from its plan entry:
 * the bytes it moves at SPLIT_BYTES_PER_NS plus its arithmetic at
 * SPLIT_FLOPS_PER_NS (the generic loop nests; a transcendental counts as
 * 16 operations).  It splits when every thread's chunk of that work is at
 * least SPLIT_CHUNK_NS, several times what waking a worker and joining it
 * costs (bench/pool_cost.c), and its split loop has at least two units.
 * GEMM-planned kernels apply the same rule to their contraction
 * (codegen/gemm.c, cg_gemm_units: its flops at SPLIT_GEMM_FLOPS_PER_NS plus
 * the bytes of A, B and the result, cg_gemm_work_ns) and split row tiles or
 * column panels.
 *
 * Which loop splits is decided here too, so that the unit count module.c
 * hands the pool and the loop the emitter restricts to [par_lo, par_hi)
 * always agree: the outermost loop of the kind's nest that has more than
 * one iteration, every loop outside it running once.
 */
#include "cg_internal.h"

#define SPLIT_BYTES_PER_NS 16.0 /* ~16 GB/s: below the 22.7 GB/s one core reads */
#define SPLIT_FLOPS_PER_NS 8.0  /* generic loops, partly vectorized */
#define SPLIT_GEMM_FLOPS_PER_NS 128.0 /* the GEMM micro-kernels: about half the FMA peak */
#define SPLIT_CHUNK_NS 2000.0   /* per thread: ~6x the fork-join (0.2-0.36 us min-p90 on a quiet machine, bench/pool_cost.c) */

double cg_split_chunk_ns(void) { return SPLIT_CHUNK_NS; }

static bool transcendental(kl_op op)
{
    switch (op) {
    case KL_OP_EXP: case KL_OP_LOG: case KL_OP_TANH: case KL_OP_SIGMOID: case KL_OP_ERF: case KL_OP_ERFC:
    case KL_OP_SOFTPLUS: case KL_OP_ELU: case KL_OP_SIN: case KL_OP_COS: case KL_OP_ATAN: case KL_OP_POW:
        return true;
    default: return false;
    }
}

/* Arithmetic of one member, in element operations. */
static double member_flops(const ir_node *n)
{
    double out = (double)ir_type_numel(&n->type);
    const ir_type *t0 = n->n_in ? &n->in[0]->type : &n->type;
    switch (n->op) {
    case KL_OP_SOFTMAX: case KL_OP_LOG_SOFTMAX: return 20 * out; /* an exp and a few passes per element */
    case KL_OP_REDUCE_SUM: case KL_OP_REDUCE_MEAN: case KL_OP_REDUCE_MAX: case KL_OP_REDUCE_MIN:
    case KL_OP_REDUCE_PROD: case KL_OP_ARGMAX: case KL_OP_ARGMIN:
        return (double)ir_type_numel(t0);
    case KL_OP_CUMSUM: case KL_OP_CUMPROD: return out;
    case KL_OP_MATMUL: {
        const ir_type *ta = &n->in[0]->type;
        int64_t k = ta->dims[ta->rank - (n->attr.matmul.transpose_a ? 2 : 1)];
        return 2 * out * (double)k;
    }
    case KL_OP_CONV2D: {
        const ir_type *tw = &n->in[1]->type;
        return 2 * out * (double)(tw->dims[0] * tw->dims[1] * tw->dims[2]);
    }
    case KL_OP_CONV2D_TRANSPOSE: {
        const ir_type *tw = &n->in[1]->type;
        return 2 * (double)ir_type_numel(t0) * (double)(tw->dims[0] * tw->dims[1] * tw->dims[2]);
    }
    case KL_OP_MAX_POOL: case KL_OP_AVG_POOL: return out * (double)(n->attr.conv.kh * n->attr.conv.kw);
    default: break;
    }
    if (op_is_elementwise(n->op)) return transcendental(n->op) ? 16 * out : out;
    return 0; /* data movement: bytes only */
}

double cg_kernel_work_ns(const struct kl_kernel *k)
{
    const ir_node *root = k->root;
    double bytes = (double)ir_type_bytes(&root->type), flops = 0;
    for (int o = 0; o < k->n_outputs; o++) bytes += (double)ir_type_bytes(&k->outputs[o]->type);
    if (root->op == KL_OP_GATHER || root->op == KL_OP_GATHER_ELEMENTS) {
        /* the rows it picks, not the whole table, and the indices */
        bytes = 2 * bytes + (double)ir_type_bytes(&root->in[1]->type);
    } else {
        for (int i = 0; i < k->n_inputs; i++) bytes += (double)ir_type_bytes(&k->inputs[i]->type);
    }
    double gemm_flops = 0;
    for (int m = 0; m < k->n_members; m++) {
        double f = member_flops(k->members[m]);
        if (k->members[m] == k->contraction) gemm_flops += f;
        else flops += f;
    }
    return bytes / SPLIT_BYTES_PER_NS + flops / SPLIT_FLOPS_PER_NS + gemm_flops / SPLIT_GEMM_FLOPS_PER_NS;
}

double cg_gemm_work_ns(double flops, double bytes)
{
    return bytes / SPLIT_BYTES_PER_NS + flops / SPLIT_GEMM_FLOPS_PER_NS;
}

bool cg_split_pays(const cg_options *o, double work_ns, int64_t units)
{
    if (o->threads <= 1 || o->opt_level < 1 || units < 2) return false;
    int64_t chunks = units < o->threads ? units : o->threads;
    return work_ns / (double)chunks >= SPLIT_CHUNK_NS;
}

int cg_outer_split_dim(const ir_type *t)
{
    for (int d = 0; d < t->rank; d++)
        if (t->dims[d] > 1) return d;
    return -1;
}

LLVMValueRef cg_loop_begin_split_if(cg *c, bool split, int64_t n, cg_loop *l)
{
    return split ? cg_loop_begin_split(c, n, l) : cg_loop_begin(c, n, l);
}
