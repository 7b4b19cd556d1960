/* passes/infer.c — shape and dtype inference, and Kiln's size limits.
 *
 * requires: nodes in topological order.
 * guarantees: every node's type is what the shape rules (ir/ops.def) give
 * for its operands; a node whose operands do not fit is reported, naming it.
 * Builders already infer as they build; this pass re-derives types after
 * rewrites and after parsing, and is where the checks for the whole graph
 * happen in one place.  It also refuses, naming the node, what would make
 * later stages overflow or read outside a buffer: a value above
 * KL_MAX_BYTES (params too, which no shape rule builds), window attributes
 * outside [0, KL_MAX_WINDOW] (negative pads, zero strides), and constant
 * gather indices outside their axis (TensorFlow and ONNX Runtime report
 * those; the generated code would clamp them).
 */
#include <stdio.h>

#include "passes.h"

static const char *label(const ir_node *n, char *buf, size_t size)
{
    if (n->name) snprintf(buf, size, "node '%s' (%s)", n->name, kl_op_name(n->op));
    else snprintf(buf, size, "node %%%d (%s)", n->id, kl_op_name(n->op));
    return buf;
}

/* Bytes of t with overflow checked, or -1 when negative or above the limit. */
static int64_t checked_bytes(const ir_type *t)
{
    int64_t bytes = (int64_t)kl_dtype_size(t->dtype);
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] < 0 || (t->dims[i] && bytes > KL_MAX_BYTES / t->dims[i])) return -1;
        bytes *= t->dims[i];
    }
    return bytes;
}

static bool size_fits(const ir_graph *g, const ir_node *n, kl_diag *d)
{
    if (checked_bytes(&n->type) >= 0) return true;
    char lb[256], tb[160];
    kl_diag_error(d, "%s: %s: value %s is larger than Kiln's limit of 1 TiB per value (or has a negative dimension)",
                  g->source, label(n, lb, sizeof lb), ir_type_str(&n->type, tb, sizeof tb));
    return false;
}

static bool window_fits(const ir_graph *g, const ir_node *n, kl_diag *d)
{
    if (n->op != KL_OP_CONV2D && n->op != KL_OP_CONV2D_TRANSPOSE && n->op != KL_OP_MAX_POOL && n->op != KL_OP_AVG_POOL)
        return true;
    const struct { const char *what; int v, lo; } f[] = {
        {"pad_top", n->attr.conv.pad_top, 0},       {"pad_bottom", n->attr.conv.pad_bottom, 0},
        {"pad_left", n->attr.conv.pad_left, 0},     {"pad_right", n->attr.conv.pad_right, 0},
        {"stride_h", n->attr.conv.stride_h, 1},     {"stride_w", n->attr.conv.stride_w, 1},
        {"dilation_h", n->attr.conv.dilation_h, 1}, {"dilation_w", n->attr.conv.dilation_w, 1},
    };
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        if (f[i].v < f[i].lo || f[i].v > KL_MAX_WINDOW) {
            char lb[256];
            kl_diag_error(d, "%s: %s: %s is %d; it must lie in [%d, %lld]", g->source, label(n, lb, sizeof lb), f[i].what,
                          f[i].v, f[i].lo, (long long)KL_MAX_WINDOW);
            return false;
        }
    return true;
}

/* Gathers: constant indices within the axis (gather_elements also takes
 * [-size, 0), which it wraps), and no gather from an empty axis into a
 * non-empty result (nothing there to read). */
static bool gather_fits(const ir_graph *g, const ir_node *n, kl_diag *d)
{
    if (n->op != KL_OP_GATHER && n->op != KL_OP_GATHER_ELEMENTS) return true;
    char lb[256];
    int ax = n->attr.concat.axis;
    int64_t size = n->in[0]->type.dims[ax], count = ir_type_numel(&n->in[1]->type);
    if (size == 0 && ir_type_numel(&n->type) > 0) {
        kl_diag_error(d, "%s: %s: gathers from axis %d of size 0", g->source, label(n, lb, sizeof lb), ax);
        return false;
    }
    const ir_node *k = ir_const_source(n->in[1]);
    if (!k) return true;
    int64_t lo = n->op == KL_OP_GATHER_ELEMENTS ? -size : 0;
    for (int64_t i = 0; i < count; i++) {
        int64_t v = k->type.dtype == KL_I32 ? ((const int32_t *)k->data)[i] : ((const int64_t *)k->data)[i];
        if (v < lo || v >= size) {
            kl_diag_error(d, "%s: %s: index %lld is out of range for axis %d of size %lld", g->source,
                          label(n, lb, sizeof lb), (long long)v, ax, (long long)size);
            return false;
        }
    }
    return true;
}

bool pass_infer(ir_graph *g, pass_ctx *ctx)
{
    bool changed = false;
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        ir_type t;
        if (!size_fits(g, n, ctx->diag)) continue; /* report every bad node */
        if (!ir_infer_type(g, n, &t, ctx->diag)) continue;
        if (!ir_type_equal(&t, &n->type)) {
            n->type = t;
            changed = true;
            pass_count(ctx, "infer", "types changed", 1);
        }
        if (window_fits(g, n, ctx->diag)) gather_fits(g, n, ctx->diag);
    }
    return changed;
}
