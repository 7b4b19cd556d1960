/* ir/print.c — the IR text format (docs/ir-format.md); ir/parse.c reads it back. */
#include <math.h>
#include <string.h>

#include "plan.h"

static void print_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 32 || *p >= 127) fprintf(f, "\\x%02x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

/* NaN keeps its bits: "nan" and "-nan" are the quiet NaNs (x86's 0/0 is
 * -nan), any other payload is spelled "nan:0xBITS". */
static void print_nan(FILE *f, uint64_t bits, bool wide)
{
    uint64_t sign = wide ? 1ull << 63 : 1ull << 31, quiet = wide ? 0x7ff8000000000000ull : 0x7fc00000ull;
    if ((bits & ~sign) != quiet) fprintf(f, wide ? "nan:0x%016llx" : "nan:0x%08llx", (unsigned long long)bits);
    else fprintf(f, bits & sign ? "-nan" : "nan");
}

/* Floats print with enough digits to read back bit-exactly (%.9g for f32,
 * %.17g for f64); f16 prints its raw bits. */
static void print_number(FILE *f, kl_dtype t, const void *data, int64_t i)
{
    double v = 0;
    switch (t) {
    case KL_F32: {
        float x = ((const float *)data)[i];
        uint32_t b;
        memcpy(&b, &x, 4);
        if (isnan(x)) return print_nan(f, b, false);
        v = x;
        break;
    }
    case KL_F64: {
        uint64_t b;
        memcpy(&b, (const double *)data + i, 8);
        v = ((const double *)data)[i];
        if (isnan(v)) return print_nan(f, b, true);
        break;
    }
    case KL_I8: fprintf(f, "%d", ((const int8_t *)data)[i]); return;
    case KL_I16: fprintf(f, "%d", ((const int16_t *)data)[i]); return;
    case KL_I32: fprintf(f, "%d", ((const int32_t *)data)[i]); return;
    case KL_I64: fprintf(f, "%lld", (long long)((const int64_t *)data)[i]); return;
    case KL_U8: fprintf(f, "%u", ((const uint8_t *)data)[i]); return;
    case KL_BOOL: fprintf(f, "%u", ((const uint8_t *)data)[i] != 0); return;
    case KL_F16: fprintf(f, "0x%04x", ((const uint16_t *)data)[i]); return;
    case KL_DTYPE_COUNT: KL_ASSERT(!"bad dtype");
    }
    if (isinf(v)) fprintf(f, v < 0 ? "-inf" : "inf");
    else if (v == 0 && signbit(v)) fprintf(f, "-0");
    else fprintf(f, t == KL_F32 ? "%.9g" : "%.17g", v);
}

/* Element i as a double, for the summary of an elided constant. */
static bool summary_value(kl_dtype t, const void *data, int64_t i, double *v)
{
    switch (t) {
    case KL_F32: *v = ((const float *)data)[i]; return true;
    case KL_F64: *v = ((const double *)data)[i]; return true;
    case KL_I32: *v = ((const int32_t *)data)[i]; return true;
    case KL_I64: *v = (double)((const int64_t *)data)[i]; return true;
    default: return false;
    }
}

static void print_const(FILE *f, const ir_node *n, unsigned flags)
{
    int64_t count = ir_type_numel(&n->type);
    if (!(flags & IR_PRINT_FULL_CONSTS) && count > 8) {
        double lo = INFINITY, hi = -INFINITY, v;
        bool nan = false;
        for (int64_t i = 0; i < count && summary_value(n->type.dtype, n->data, i, &v); i++) {
            nan |= isnan(v);
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        fprintf(f, " <%lld elements", (long long)count);
        if (lo <= hi) fprintf(f, ", min %.4g max %.4g", lo, hi);
        fprintf(f, "%s>", nan ? ", nan" : "");
        return;
    }
    fprintf(f, " [");
    for (int64_t i = 0; i < count; i++) {
        if (i) fprintf(f, ", ");
        print_number(f, n->type.dtype, n->data, i);
    }
    fprintf(f, "]");
}

static void print_list(FILE *f, const char *key, const int64_t *v, int n)
{
    fprintf(f, "%s=[", key);
    for (int i = 0; i < n; i++) fprintf(f, "%s%lld", i ? "," : "", (long long)v[i]);
    fprintf(f, "]");
}

static void print_window(FILE *f, const ir_attr *a)
{
    fprintf(f, " {window=[%d,%d], strides=[%d,%d], dilations=[%d,%d], pads=[%d,%d,%d,%d], groups=%d}", a->conv.kh,
            a->conv.kw, a->conv.stride_h, a->conv.stride_w, a->conv.dilation_h, a->conv.dilation_w, a->conv.pad_top,
            a->conv.pad_bottom, a->conv.pad_left, a->conv.pad_right, a->conv.groups);
}

/* The attributes of the op's family, the same keys ir/parse.c accepts. */
static void print_attrs(FILE *f, const ir_node *n)
{
    static const char *const pad_modes[] = {"constant", "reflect", "symmetric", "edge"};
    int r = n->type.rank;
    int64_t v[IR_MAX_RANK];
    const ir_attr *a = &n->attr;
    if (op_is_bucket(n->op)) { /* bucket key of peer */
        fprintf(f, " {key=%d, peer=%d}", a->comm.key, a->comm.peer);
        return;
    }
    switch (kl_op_table[n->op].shape) {
    case IR_SHAPE_MATMUL:
        fprintf(f, " {transpose_a=%d, transpose_b=%d}", a->matmul.transpose_a, a->matmul.transpose_b);
        return;
    case IR_SHAPE_REDUCE: case IR_SHAPE_ARG:
        fprintf(f, " {axes=[");
        for (int i = 0, first = 1; i < 32; i++)
            if (a->reduce.axes & (1u << i)) fprintf(f, "%s%d", first ? "" : ",", i), first = 0;
        fprintf(f, "], keep_dims=%d}", a->reduce.keep_dims);
        return;
    case IR_SHAPE_TRANSPOSE:
        for (int i = 0; i < r; i++) v[i] = a->transpose.perm[i];
        fprintf(f, " {"), print_list(f, "perm", v, r), fprintf(f, "}");
        return;
    case IR_SHAPE_PAD:
        fprintf(f, " {"), print_list(f, "lo", a->pad.lo, r), fprintf(f, ", ");
        print_list(f, "hi", a->pad.hi, r);
        fprintf(f, ", mode=%s, value=", (unsigned)a->pad.mode < 4 ? pad_modes[a->pad.mode] : "?");
        print_number(f, KL_F64, &a->pad.value, 0);
        fprintf(f, "}");
        return;
    case IR_SHAPE_CONCAT: case IR_SHAPE_GATHER: case IR_SHAPE_GATHER_ELEMENTS: case IR_SHAPE_SCAN:
        fprintf(f, " {axis=%d}", a->concat.axis);
        return;
    case IR_SHAPE_CONV: case IR_SHAPE_POOL:
        return print_window(f, a);
    case IR_SHAPE_SCATTER:
        fprintf(f, a->scatter.drop ? " {reduce=%d, drop=1}" : " {reduce=%d}", (int)a->scatter.reduce);
        return;
    case IR_SHAPE_GIVEN:
        if (n->op == KL_OP_CONV2D_TRANSPOSE) print_window(f, a);
        if (op_is_comm(n->op)) fprintf(f, " {key=%d, peer=%d}", a->comm.key, a->comm.peer);
        if (n->op != KL_OP_SLICE) return;
        fprintf(f, " {"), print_list(f, "begin", a->slice.begin, r), fprintf(f, ", ");
        print_list(f, "stride", a->slice.stride, r), fprintf(f, "}");
        return;
    case IR_SHAPE_REGION:
        if (n->op == KL_OP_WHILE) fprintf(f, " {carried=%d}", a->region.n_carried);
        return;
    case IR_SHAPE_GET:
        fprintf(f, " {index=%d}", a->region.index);
        return;
    case IR_SHAPE_UNARY: case IR_SHAPE_BCAST: case IR_SHAPE_COMPARE: case IR_SHAPE_SELECT: case IR_SHAPE_DUS:
        return;
    }
}

static void print_plan(FILE *f, const ir_node *n)
{
    static const char *const stores[] = {"none", "feed", "fetch", "temp", "const", "alias"};
    if (!n->kernel && n->store == IR_STORE_NONE && !n->gemm) return;
    fprintf(f, "  #");
    if (n->kernel == n) fprintf(f, " kernel=%%%d", n->id);
    else if (n->kernel && n->op == KL_OP_GET) fprintf(f, " written by %%%d", n->kernel->id);
    else if (n->kernel) fprintf(f, " fused into %%%d", n->kernel->id);
    switch (n->store) {
    case IR_STORE_FEED:
    case IR_STORE_FETCH: fprintf(f, " store=%s %d", stores[n->store], n->index); break;
    case IR_STORE_TEMP: fprintf(f, " store=temp+%lld", (long long)n->offset); break;
    case IR_STORE_CONST:
    case IR_STORE_ALIAS: fprintf(f, " store=%s", stores[n->store]); break;
    case IR_STORE_NONE: break;
    }
    if (n->n_regions && n->scratch_bytes) fprintf(f, " scratch=temp+%lld:%lld", (long long)n->scratch_offset, (long long)n->scratch_bytes);
    if (n->gemm && n->gemm->shared) fprintf(f, " layout=shared");
    else if (n->gemm) {
        const ir_gemm_plan *p = n->gemm;
        fprintf(f, " layout=%s tile=%dx%d vl=%d group=%d B=%s", n->op == KL_OP_CONV2D ? "nhwc-indirect-gemm" : "gemm",
                p->mr, p->nr, p->vl, p->group_tiles, p->pack_b_runtime ? "packed-at-run-time" : "prepacked");
        if (p->pad_copy) fprintf(f, " A=padded-copy");
        else if (p->pad_input) fprintf(f, " A=unpadded");
        if (n->scratch_bytes) fprintf(f, " scratch=temp+%lld:%lld", (long long)n->scratch_offset, (long long)n->scratch_bytes);
    }
}

static void print_body(const ir_graph *g, FILE *f, unsigned flags, int depth);

/* A while's regions are named cond and body, an if's then and else. */
static void print_regions(FILE *f, const ir_node *n, unsigned flags, int depth)
{
    static const char *const names[2][2] = {{"cond", "body"}, {"then", "else"}};
    for (int r = 0; r < n->n_regions; r++) {
        fprintf(f, " %s {\n", names[n->op == KL_OP_IF][r]);
        print_body(n->regions[r], f, flags, depth + 1);
        fprintf(f, "%*s}", 2 * depth, "");
    }
}

static void print_node(FILE *f, const ir_node *n, unsigned flags, int depth)
{
    char tb[160];
    fprintf(f, "%*s%%%d = %s", 2 * depth, "", n->id, kl_op_name(n->op));
    if (n->op == KL_OP_PARAM) fprintf(f, " %d", n->attr.param.index);
    for (int i = 0; i < n->n_in; i++) fprintf(f, "%s %%%d", i ? "," : "", n->in[i]->id);
    print_attrs(f, n);
    fprintf(f, " : %s", ir_type_str(&n->type, tb, sizeof tb));
    if (n->op == KL_OP_CONST) print_const(f, n, flags);
    if (n->name) {
        fprintf(f, " @");
        print_quoted(f, n->name);
    }
    if (n->n_regions) print_regions(f, n, flags, depth);
    if (flags & IR_PRINT_PLAN) print_plan(f, n);
    fputc('\n', f);
}

void ir_print(const ir_graph *g, FILE *f, unsigned flags)
{
    fprintf(f, "graph ");
    print_quoted(f, g->source ? g->source : "");
    fprintf(f, " {\n");
    print_body(g, f, flags, 1);
    fprintf(f, "}\n");
}

static void print_body(const ir_graph *g, FILE *f, unsigned flags, int depth)
{
    if ((flags & IR_PRINT_PLAN) && g->temp_size > 0) fprintf(f, "%*s# temp_size %lld\n", 2 * depth, "", (long long)g->temp_size);
    for (int i = 0; i < g->n_nodes; i++) print_node(f, g->nodes[i], flags, depth);
    for (int i = 0; i < g->n_results; i++) {
        fprintf(f, "%*sresult %%%d", 2 * depth, "", g->results[i].node->id);
        if (g->results[i].name) {
            fprintf(f, " @");
            print_quoted(f, g->results[i].name);
        }
        fputc('\n', f);
    }
    if (flags & IR_PRINT_PLAN) ir_plan_print(g->plan, f, depth);
}
