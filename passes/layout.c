/* passes/layout.c — layout assignment for contractions.
 *
 * requires: types inferred; runs before fuse (output fusion needs the plan).
 * guarantees: every float32 matmul (A transposed or not: a transposed A,
 *   a weight gradient's X^T dY, is read down its columns) and ungrouped conv2d
 *   whose output has at least 4 columns gets node->gemm: the
 *   register tile and blocking of codegen/gemm.c's micro-kernel for the
 *   target's vector width, and the layout its B operand is read in:
 *     - activations stay NHWC: a conv is an "indirect" GEMM whose rows are
 *       output pixels and whose k runs over (kh, kw, c); each tile row reads
 *       the input pixel of its tap through a pointer (or a zero row in the
 *       padding), so nothing is copied into an im2col buffer;
 *     - B (weights, HWIO filters flattened to [KH*KW*C][O]) is packed into
 *       panels of nr columns, [K][nr] each, zero-padded: at compile time when
 *       constant (codegen packs the bytes), else at run time into the
 *       node's scratch bytes (bufassign reserves them for the kernel);
 *     - a conv with fewer than 32 input channels first copies its input,
 *       padding included, into scratch: then one pointer per tile row and
 *       filter row covers KW*C contiguous k values with no bounds checks
 *       (LeNet's C=1 and ResNet's C=3 stems would otherwise spend more on
 *       per-tap pointer setup than on FMAs);
 *   everything else (integer matmuls, grouped and depthwise
 *   convs, outputs under 4 columns; in size mode transposed A) keeps the
 *   plain loop nests.
 *   The choice is printed in plan dumps as layout=... (ir/print.c).
 * size mode (-Os, ctx->size): every float32 conv2d (grouped and depthwise
 *   too) and every 2-D matmul with A not transposed gets a `shared` plan
 *   instead: codegen/shared.c computes it with the one generic kernel of its
 *   kind, reading its shapes from a const descriptor and B raw in its own
 *   layout (no tile, no packing, no padded copy, no scratch); the plan
 *   still lets fuse make its elementwise consumer the kernel's epilogue.
 *
 * Tiles per vector width (registers: AVX-512 32, AVX2 16):
 *   vl 16: 12 x 32 (24 accumulators + 2 B vectors + broadcasts)
 *   vl 8:   6 x 16 (12 accumulators), vl 4: 6 x 8.
 * group_tiles bounds the bytes of A that one pass over all B panels touches
 * to about 512 KB, so they stay in L2 while each B panel is reused from L1/L2
 * by every tile of the group, and B (the weights) is streamed from memory
 * once per group: for a conv that is its input image's share per tile, so a
 * late ResNet layer (7x7x512 input, 9.4 MB of weights) runs as one group and
 * reads its weights once (docs/performance.md).
 */
#include <string.h>

#include "passes.h"

static int64_t matmul_k(const ir_node *n)
{
    const ir_type *ta = &n->in[0]->type;
    return ta->dims[ta->rank - (n->attr.matmul.transpose_a ? 2 : 1)];
}

/* K and N of the GEMM a node computes, or false if it does not qualify. */
static bool gemm_shape(const ir_node *n, int vl, int64_t *k, int64_t *cols)
{
    if (n->op != KL_OP_MATMUL && n->op != KL_OP_CONV2D) return false;
    if (n->type.dtype != KL_F32 || n->in[0]->type.dtype != KL_F32 || n->in[1]->type.dtype != KL_F32) return false;
    int r = n->type.rank;
    if (n->op == KL_OP_MATMUL) {
        if (r < 2 || n->in[0]->type.rank < 2 || n->in[1]->type.rank < 2) return false;
        *k = matmul_k(n);
    } else if (n->op == KL_OP_CONV2D) {
        if (n->attr.conv.groups != 1 || r != 4) return false;
        const ir_type *tw = &n->in[1]->type;
        *k = tw->dims[0] * tw->dims[1] * tw->dims[2];
    } else {
        return false;
    }
    *cols = n->type.dims[r - 1];
    (void)vl; /* narrow outputs use one masked vector per row; below 4 columns a dot product does better */
    return *cols >= 4 && *k > 0 && ir_type_numel(&n->type) > 0;
}

/* Size mode: what codegen/shared.c's generic kernels compute. */
static bool shared_shape(const ir_node *n)
{
    if (n->op != KL_OP_CONV2D && n->op != KL_OP_MATMUL) return false;
    if (n->type.dtype != KL_F32 || n->in[0]->type.dtype != KL_F32 || n->in[1]->type.dtype != KL_F32) return false;
    if (ir_type_numel(&n->type) == 0 || ir_type_numel(&n->in[0]->type) == 0) return false;
    if (n->op == KL_OP_CONV2D) return n->type.rank == 4;
    return n->op == KL_OP_MATMUL && !n->attr.matmul.transpose_a && !n->attr.matmul.transpose_b && n->type.rank == 2 &&
           n->in[0]->type.rank == 2 && n->in[1]->type.rank == 2;
}

bool pass_layout(ir_graph *g, pass_ctx *ctx)
{
    /* the target table's numbers; a caller that leaves them out is a bug */
    KL_ASSERT(ctx->vector_floats > 0 && ctx->vector_regs > 0);
    int vl = ctx->vector_floats;
    bool changed = false;
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        int64_t k, cols;
        n->gemm = NULL;
        n->scratch_bytes = 0;
        if (ctx->size && shared_shape(n)) {
            ir_gemm_plan *p = kl_arena_alloc(g->arena, sizeof *p, 8);
            memset(p, 0, sizeof *p);
            p->vl = p->mr = p->nr = p->group_tiles = 1;
            p->shared = true;
            n->gemm = p;
            changed = true;
            pass_count(ctx, "layout", "contractions on shared kernels (-Os)", 1);
            continue;
        }
        if (!gemm_shape(n, vl, &k, &cols)) continue;
        /* -Os keeps A-transposed products (weight gradients) in plain loops */
        if (ctx->size && n->op == KL_OP_MATMUL && n->attr.matmul.transpose_a) continue;
        ir_gemm_plan *p = kl_arena_alloc(g->arena, sizeof *p, 8);
        /* two vectors of columns; rows: as many accumulators as the register
         * file holds next to the two B vectors and one broadcast of A
         * (12 x 32 on AVX-512, 6 x 16 on AVX2, 12 x 8 on NEON, 12 x 2 scalar) */
        int regs = ctx->vector_regs, mr = (regs - 3) / 2;
        p->vl = vl;
        p->mr = mr > 12 ? 12 : mr < 1 ? 1 : mr;
        p->nr = 2 * vl;
        int64_t rows = ir_type_numel(&n->type) / cols, tiles = (rows + p->mr - 1) / p->mr;
        /* spread rows evenly over the tiles: 49 rows (a 7x7 image) run as
         * 10+10+10+10+9, not 4x12 + a 1-row tile whose two accumulators
         * wait on FMA latency; at least 4 rows keep 8 FMAs in flight */
        if (rows > 0 && tiles > 0) {
            int64_t even = (rows + tiles - 1) / tiles;
            p->mr = (int)(even < 4 ? (rows < 4 ? p->mr : 4) : even);
            tiles = (rows + p->mr - 1) / p->mr;
        }
        /* bytes of A one row tile reads: a matmul's rows; a conv's share of
         * its input image (neighbouring pixels read the same input pixels) */
        int64_t a_tile = (int64_t)p->mr * k * 4;
        if (n->op == KL_OP_CONV2D) a_tile = (int64_t)p->mr * (int64_t)ir_type_bytes(&n->in[0]->type) / (rows ? rows : 1) + 1;
        int64_t group = (512 * 1024) / a_tile;
        p->group_tiles = (int)(group < 1 ? 1 : group > tiles ? tiles : group);
        p->pack_b_runtime = !ir_const_source(n->in[1]);
        if (p->pack_b_runtime) {
            int64_t panels = (cols + p->nr - 1) / p->nr;
            n->scratch_bytes = panels * k * p->nr * 4;
        }
        if (n->op == KL_OP_CONV2D && n->in[0]->type.dims[3] < 32 && n->attr.conv.dilation_w == 1) {
            const ir_type *tx = &n->in[0]->type;
            int64_t hp = tx->dims[1] + n->attr.conv.pad_top + n->attr.conv.pad_bottom;
            int64_t wp = tx->dims[2] + n->attr.conv.pad_left + n->attr.conv.pad_right;
            p->pad_input = true;
            /* with no padding every tap is already in range: read the input
             * itself (MobileNet's 1x1 convs: no copy, 73 KB less temp) */
            p->pad_copy = n->attr.conv.pad_top || n->attr.conv.pad_bottom || n->attr.conv.pad_left || n->attr.conv.pad_right;
            if (p->pad_copy) {
                p->pad_offset = (n->scratch_bytes + 63) / 64 * 64;
                n->scratch_bytes = p->pad_offset + tx->dims[0] * hp * wp * tx->dims[3] * 4;
                pass_count(ctx, "layout", "small-C convs on a padded copy", 1);
            } else {
                pass_count(ctx, "layout", "small-C convs on their unpadded input", 1);
            }
        }
        n->gemm = p;
        changed = true;
        pass_count(ctx, "layout", n->op == KL_OP_CONV2D ? "convs as indirect GEMM" : "matmuls as GEMM", 1);
        if (p->pack_b_runtime) pass_count(ctx, "layout", "B packed at run time", 1);
    }
    return changed;
}
