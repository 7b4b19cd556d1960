/* ir/print.c — the IR text format (docs/ir-format.md); ir/parse.c reads it back. */
#include <math.h>
#include <string.h>

#include "ir.h"

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

static void print_number(FILE *f, kl_dtype t, const void *data, int64_t i)
{
    double v;
    switch (t) {
    case KL_F32: v = ((const float *)data)[i]; break;
    case KL_F64: v = ((const double *)data)[i]; break;
    case KL_I8: fprintf(f, "%d", ((const int8_t *)data)[i]); return;
    case KL_I16: fprintf(f, "%d", ((const int16_t *)data)[i]); return;
    case KL_I32: fprintf(f, "%d", ((const int32_t *)data)[i]); return;
    case KL_I64: fprintf(f, "%lld", (long long)((const int64_t *)data)[i]); return;
    case KL_U8: fprintf(f, "%u", ((const uint8_t *)data)[i]); return;
    case KL_BOOL: fprintf(f, "%u", ((const uint8_t *)data)[i] != 0); return;
    case KL_F16: fprintf(f, "0x%04x", ((const uint16_t *)data)[i]); return; /* raw bits */
    case KL_DTYPE_COUNT: KL_ASSERT(!"bad dtype");
    }
    if (isnan(v)) fprintf(f, "nan");
    else if (isinf(v)) fprintf(f, v < 0 ? "-inf" : "inf");
    else if (v == 0 && signbit(v)) fprintf(f, "-0");
    else fprintf(f, t == KL_F32 ? "%.9g" : "%.17g", v);
}

static void print_const(FILE *f, const ir_node *n, unsigned flags)
{
    int64_t count = ir_type_numel(&n->type);
    if (!(flags & IR_PRINT_FULL_CONSTS) && count > 8) {
        double lo = INFINITY, hi = -INFINITY;
        for (int64_t i = 0; i < count && n->type.dtype == KL_F32; i++) {
            float v = ((const float *)n->data)[i];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        if (n->type.dtype == KL_F32) fprintf(f, " <%lld elements, min %.4g max %.4g>", (long long)count, lo, hi);
        else fprintf(f, " <%lld elements>", (long long)count);
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

static void print_attrs(FILE *f, const ir_node *n)
{
    int r = n->type.rank;
    int64_t v[IR_MAX_RANK];
    const struct { int kh, kw, sh, sw, dh, dw, pt, pb, pl, pr, g; } *c = (const void *)&n->attr.conv;
    switch (n->op) {
    case KL_OP_TRANSPOSE:
        for (int i = 0; i < r; i++) v[i] = n->attr.transpose.perm[i];
        fprintf(f, " {"), print_list(f, "perm", v, r), fprintf(f, "}");
        return;
    case KL_OP_SLICE:
        fprintf(f, " {"), print_list(f, "begin", n->attr.slice.begin, r), fprintf(f, ", ");
        print_list(f, "stride", n->attr.slice.stride, r), fprintf(f, "}");
        return;
    case KL_OP_PAD:
        fprintf(f, " {"), print_list(f, "lo", n->attr.pad.lo, r), fprintf(f, ", ");
        print_list(f, "hi", n->attr.pad.hi, r);
        fprintf(f, ", mode=%d, value=%.17g}", (int)n->attr.pad.mode, n->attr.pad.value);
        return;
    case KL_OP_CONCAT: case KL_OP_GATHER: case KL_OP_GATHER_ELEMENTS:
        fprintf(f, " {axis=%d}", n->attr.concat.axis);
        return;
    case KL_OP_CONV2D: case KL_OP_CONV2D_TRANSPOSE: case KL_OP_MAX_POOL: case KL_OP_AVG_POOL:
        fprintf(f, " {window=[%d,%d], strides=[%d,%d], dilations=[%d,%d], pads=[%d,%d,%d,%d], groups=%d}", c->kh, c->kw,
                c->sh, c->sw, c->dh, c->dw, c->pt, c->pb, c->pl, c->pr, c->g);
        return;
    default:
        break;
    }
    if (n->op == KL_OP_MATMUL) {
        fprintf(f, " {transpose_a=%d, transpose_b=%d}", n->attr.matmul.transpose_a, n->attr.matmul.transpose_b);
    } else if (op_is_reduction(n->op)) {
        fprintf(f, " {axes=[");
        bool first = true;
        for (int i = 0; i < 32; i++)
            if (n->attr.reduce.axes & (1u << i)) fprintf(f, "%s%d", first ? "" : ",", i), first = false;
        fprintf(f, "], keep_dims=%d}", n->attr.reduce.keep_dims);
    }
}

static void print_plan(FILE *f, const ir_node *n)
{
    static const char *const stores[] = {"none", "feed", "fetch", "temp", "const", "alias"};
    if (!n->kernel && n->store == IR_STORE_NONE) return;
    fprintf(f, "  #");
    if (n->kernel == n) fprintf(f, " kernel=%%%d", n->id);
    else if (n->kernel) fprintf(f, " fused into %%%d", n->kernel->id);
    switch (n->store) {
    case IR_STORE_FEED:
    case IR_STORE_FETCH: fprintf(f, " store=%s %d", stores[n->store], n->index); break;
    case IR_STORE_TEMP: fprintf(f, " store=temp+%lld", (long long)n->offset); break;
    case IR_STORE_CONST:
    case IR_STORE_ALIAS: fprintf(f, " store=%s", stores[n->store]); break;
    case IR_STORE_NONE: break;
    }
}

static void print_node(FILE *f, const ir_node *n, unsigned flags)
{
    char tb[160];
    fprintf(f, "  %%%d = %s", n->id, kl_op_name(n->op));
    if (n->op == KL_OP_PARAM) fprintf(f, " %d", n->attr.param.index);
    for (int i = 0; i < n->n_in; i++) fprintf(f, "%s %%%d", i ? "," : "", n->in[i]->id);
    print_attrs(f, n);
    fprintf(f, " : %s", ir_type_str(&n->type, tb, sizeof tb));
    if (n->op == KL_OP_CONST) print_const(f, n, flags);
    if (n->name) {
        fprintf(f, " @");
        print_quoted(f, n->name);
    }
    if (flags & IR_PRINT_PLAN) print_plan(f, n);
    fputc('\n', f);
}

void ir_print(const ir_graph *g, FILE *f, unsigned flags)
{
    fprintf(f, "graph ");
    print_quoted(f, g->source);
    fprintf(f, " {\n");
    if ((flags & IR_PRINT_PLAN) && g->temp_size > 0) fprintf(f, "  # temp_size %lld\n", (long long)g->temp_size);
    for (int i = 0; i < g->n_nodes; i++) print_node(f, g->nodes[i], flags);
    for (int i = 0; i < g->n_results; i++) {
        fprintf(f, "  result %%%d", g->results[i].node->id);
        if (g->results[i].name) {
            fprintf(f, " @");
            print_quoted(f, g->results[i].name);
        }
        fputc('\n', f);
    }
    fprintf(f, "}\n");
}
