/* tests/test_ir.c — the IR core: text round trips, parser and verifier
 * errors, shape rules, and the reference evaluator on hand-computed cases. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"

static char *print_to_string(const ir_graph *g, unsigned flags)
{
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    ir_print(g, f, flags);
    fclose(f);
    return out;
}

/* A graph with every op, odd constants and names that need escaping. */
static ir_graph *every_op(void)
{
    kl_diag d = {0};
    ir_graph *g = ir_graph_new("every \"op\".pb");
    ir_node *x = ir_param(g, ir_type_make(KL_F32, 2, (int64_t[]){2, 3}), "x:0/in");
    ir_node *i = ir_param(g, ir_type_make(KL_I32, 1, (int64_t[]){3}), "i");
    float odd[] = {NAN, INFINITY, -INFINITY, -0.0f, 1e-45f, 3.4028235e38f};
    ir_node *c = ir_const(g, ir_type_make(KL_F32, 2, (int64_t[]){2, 3}), odd, "odd");
    ir_node *v = ir_binary(g, KL_OP_ADD, x, c, "a", &d);
    kl_op unary[] = {KL_OP_COPY, KL_OP_NEG, KL_OP_ABS, KL_OP_SQUARE, KL_OP_SQRT, KL_OP_RSQRT, KL_OP_EXP,
                     KL_OP_LOG, KL_OP_TANH, KL_OP_SIGMOID, KL_OP_RELU, KL_OP_RELU6, KL_OP_SOFTMAX};
    for (size_t k = 0; k < sizeof unary / sizeof *unary; k++) v = ir_unary(g, unary[k], v, NULL, &d);
    kl_op binary[] = {KL_OP_SUB, KL_OP_MUL, KL_OP_DIV, KL_OP_MAX, KL_OP_MIN};
    for (size_t k = 0; k < sizeof binary / sizeof *binary; k++) v = ir_binary(g, binary[k], v, x, NULL, &d);
    ir_attr mm = {.matmul = {false, true}};
    ir_node *m = ir_node_new(g, KL_OP_MATMUL, 2, (ir_node *[]){v, x}, &mm, NULL, "mm", &d);
    ir_attr red = {.reduce = {1u << 1, true}};
    ir_node *r = ir_node_new(g, KL_OP_REDUCE_SUM, 1, &m, &red, NULL, NULL, &d);
    r = ir_node_new(g, KL_OP_REDUCE_MEAN, 1, &r, &red, NULL, NULL, &d);
    r = ir_node_new(g, KL_OP_REDUCE_MAX, 1, &r, &red, NULL, NULL, &d);
    ir_node *flat = ir_reshape(g, r, 1, (int64_t[]){2}, "flat", &d);
    ir_node *ci = ir_cast(g, i, KL_F32, "cast");
    cr_assert(kl_diag_ok(&d), "%s", d.text);
    ir_graph_add_result(g, flat, "flat");
    ir_graph_add_result(g, ci, "ci");
    return g;
}

Test(ir, print_parse_round_trip)
{
    ir_graph *g = every_op();
    kl_diag d = {0};
    cr_assert(ir_verify(g, &d), "%s", d.text);
    char *a = print_to_string(g, IR_PRINT_FULL_CONSTS);
    ir_graph *h = ir_parse(a, "round-trip", &d);
    cr_assert(h, "%s\n%s", d.text, a);
    char *b = print_to_string(h, IR_PRINT_FULL_CONSTS);
    cr_assert_str_eq(a, b);
    /* bit-exact constants, NaN and -0 included */
    cr_assert_eq(memcmp(g->nodes[2]->data, h->nodes[2]->data, 24), 0);
    free(a), free(b);
    ir_graph_free(g), ir_graph_free(h);
}

static void parse_fails(const char *text, const char *want)
{
    kl_diag d = {0};
    ir_graph *g = ir_parse(text, "t.kir", &d);
    cr_assert_null(g, "parsed: %s", text);
    cr_assert(d.text && strstr(d.text, want) && strstr(d.text, "t.kir:"), "for %s: got '%s', want '%s'", text,
              d.text ? d.text : "", want);
    kl_diag_clear(&d);
}

Test(ir, parse_errors_are_located)
{
    parse_fails("", "expected 'graph'");
    parse_fails("graph \"g\" { %0 = frobnicate : f32[2] }", "unknown op 'frobnicate'");
    parse_fails("graph \"g\" { %1 = exp %0 : f32[2] }", "not defined before use");
    parse_fails("graph \"g\" { %0 = param 0 : f32[2]\n %1 = exp %0 : f32[3] }", "does not match");
    parse_fails("graph \"g\" { %0 = const : f32[20] <20 elements> }", "elided constant");
    parse_fails("graph \"g\" { %0 = param 0 : f33[2] }", "unknown dtype");
    parse_fails("graph \"g\" { %0 = param 0 : f32[2]\n %1 = add %0, %0 : f32[2]", "missing '}'");
    parse_fails("graph \"g\" { %0 = param 0 : f32[2]\n %1 = param 0 : f32[2] }", "numbered");
    parse_fails("graph \"g\" { %0 = param 0 : f32[2]\n %0 = exp %0 : f32[2] }", "defined twice");
    parse_fails("graph \"g\" { %0 = param 0 : f32[2,3]\n %1 = matmul %0, %0 {transpose_a=0, transpose_b=0} : f32[2,3] }",
                "do not fit");
}

Test(ir, shape_rules)
{
    kl_diag d = {0};
    ir_graph *g = ir_graph_new("shapes");
    ir_node *a = ir_param(g, ir_type_make(KL_F32, 3, (int64_t[]){4, 1, 3}), "a");
    ir_node *b = ir_param(g, ir_type_make(KL_F32, 2, (int64_t[]){5, 1}), "b");
    ir_node *s = ir_binary(g, KL_OP_MAX, a, b, "s", &d);
    cr_assert(s && s->type.rank == 3 && s->type.dims[0] == 4 && s->type.dims[1] == 5 && s->type.dims[2] == 3);
    ir_node *c = ir_param(g, ir_type_make(KL_F32, 1, (int64_t[]){4}), "c");
    cr_assert_null(ir_binary(g, KL_OP_ADD, a, c, "bad", &d)); /* [4,1,3] vs [4] */
    cr_assert(strstr(d.text, "node 'bad' (add)") && strstr(d.text, "do not broadcast"), "%s", d.text);
    kl_diag_clear(&d);
    ir_node *i = ir_param(g, ir_type_make(KL_I32, 1, (int64_t[]){4}), "i");
    cr_assert_null(ir_unary(g, KL_OP_EXP, i, "e", &d));
    cr_assert(strstr(d.text, "floating-point"), "%s", d.text);
    kl_diag_clear(&d);
    cr_assert_null(ir_reshape(g, a, 1, (int64_t[]){13}, "r", &d));
    kl_diag_clear(&d);
    ir_graph_free(g);
}

Test(ir, verifier_finds_broken_graphs)
{
    kl_diag d = {0};
    ir_graph *g = ir_graph_new("broken");
    ir_node *x = ir_param(g, ir_type_make(KL_F32, 1, (int64_t[]){4}), "x");
    ir_node *e = ir_unary(g, KL_OP_EXP, x, "e", &d);
    ir_node *t = ir_unary(g, KL_OP_TANH, e, "t", &d);
    ir_graph_add_result(g, t, "t");
    cr_assert(ir_verify(g, &d));
    e->type.dims[0] = 5;                   /* wrong type */
    g->nodes[1] = t, g->nodes[2] = e;      /* use before definition */
    cr_assert_not(ir_verify(g, &d));
    cr_assert(strstr(d.text, "not defined before use") && strstr(d.text, "shape rule"), "%s", d.text);
    kl_diag_clear(&d);
    ir_graph_free(g);
}

static void eval1(ir_node *n, const void *a, const void *b, void *out)
{
    kl_diag d = {0};
    const void *in[2] = {a, b};
    cr_assert(ir_eval_node(n, in, out, &d), "%s", d.text);
}

Test(ir, evaluator)
{
    kl_diag d = {0};
    ir_graph *g = ir_graph_new("eval");
    ir_node *a = ir_param(g, ir_type_make(KL_F32, 2, (int64_t[]){2, 3}), "a");
    ir_node *b = ir_param(g, ir_type_make(KL_F32, 2, (int64_t[]){2, 1}), "b");
    float av[] = {1, 2, 3, 4, 5, 6}, bv[] = {10, 20}, out[16];
    eval1(ir_binary(g, KL_OP_ADD, a, b, "add", &d), av, bv, out);
    float want_add[] = {11, 12, 13, 24, 25, 26};
    cr_assert_arr_eq(out, want_add, sizeof want_add);
    ir_attr tb = {.matmul = {false, true}};
    eval1(ir_node_new(g, KL_OP_MATMUL, 2, (ir_node *[]){a, a}, &tb, NULL, "mm", &d), av, av, out);
    float want_mm[] = {14, 32, 32, 77};
    cr_assert_arr_eq(out, want_mm, sizeof want_mm);
    ir_attr r0 = {.reduce = {1u, true}};
    ir_node *s = ir_node_new(g, KL_OP_REDUCE_MAX, 1, &a, &r0, NULL, "max0", &d);
    cr_assert(s->type.rank == 2 && s->type.dims[0] == 1 && s->type.dims[1] == 3);
    eval1(s, av, NULL, out);
    float want_max[] = {4, 5, 6};
    cr_assert_arr_eq(out, want_max, sizeof want_max);
    eval1(ir_unary(g, KL_OP_SOFTMAX, a, "sm", &d), av, NULL, out);
    cr_assert_float_eq(out[0] + out[1] + out[2], 1.0f, 1e-6);
    cr_assert_float_eq(out[2], expf(1) / (1 + expf(-1) + expf(1)) * expf(-1) * expf(1), 1e-6);
    float big[] = {3e9f, -3e9f, NAN, -2.7f};
    ir_node *f = ir_param(g, ir_type_make(KL_F32, 1, (int64_t[]){4}), "f");
    int32_t ints[4];
    eval1(ir_cast(g, f, KL_I32, "c"), big, NULL, ints);
    cr_assert(ints[0] == INT32_MAX && ints[1] == INT32_MIN && ints[2] == 0 && ints[3] == -2);
    ir_graph_free(g);
}

/* ---- every op, every dtype ---------------------------------------------- */

static ir_node *must(ir_node *n, kl_diag *d)
{
    cr_assert(n, "%s", d->text ? d->text : "builder failed");
    return n;
}

/* while sum(x) < 10: x = x * 2 + 1 (regions of their own). */
static ir_node *small_loop(ir_graph *g, ir_node *x, kl_diag *d)
{
    ir_graph *cond = ir_region_new(g, "cond"), *body = ir_region_new(g, "body");
    ir_node *c = ir_param(cond, x->type, "x");
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.reduce.axes = 3;
    ir_node *s = ir_node_new(cond, KL_OP_REDUCE_SUM, 1, &c, &a, NULL, "sum", d);
    ir_graph_add_result(cond, ir_binary(cond, KL_OP_LESS, s, ir_const_scalar_f32(cond, 10, "ten"), "go", d), "go");
    ir_node *p = ir_param(body, x->type, "x");
    ir_node *y = ir_binary(body, KL_OP_ADD, ir_binary(body, KL_OP_MUL, p, ir_const_scalar_f32(body, 2, NULL), NULL, d),
                           ir_const_scalar_f32(body, 1, NULL), "next", d);
    ir_graph_add_result(body, y, "next");
    return ir_while(g, 1, &x, 1, cond, body, "loop", d);
}

/* if p: x + x else: -x */
static ir_node *small_if(ir_graph *g, ir_node *x, kl_diag *d)
{
    ir_graph *t = ir_region_new(g, "then"), *e = ir_region_new(g, "else");
    ir_node *a = ir_param(t, x->type, "x"), *b = ir_param(e, x->type, "x");
    ir_graph_add_result(t, ir_binary(t, KL_OP_ADD, a, a, NULL, d), NULL);
    ir_graph_add_result(e, ir_unary(e, KL_OP_NEG, b, NULL, d), NULL);
    uint8_t yes = 1;
    return ir_if(g, ir_const(g, ir_type_make(KL_BOOL, 0, NULL), &yes, "p"), 1, &x, t, e, "branch", d);
}

/* One node of op on small operands (x f32[2,3], w f32[3,3], i i32[2,3],
 * b bool[2,3], img f32[1,4,4,2], filt f32[2,2,2,2]).  No default: a new op
 * in ops.def must be added here, so the round trip covers it. */
static ir_node *one_op(ir_graph *g, kl_op op, ir_node **v, kl_diag *d)
{
    ir_node *x = v[0], *w = v[1], *i = v[2], *b = v[3], *img = v[4], *filt = v[5];
    ir_attr a;
    memset(&a, 0, sizeof a);
    ir_type t;
    switch (op) {
    case KL_OP_PARAM: case KL_OP_CONST: return x; /* built by the caller */
    case KL_OP_SEND: a.comm.key = 3, a.comm.peer = 1, t = ir_type_make(KL_I32, 0, NULL); return ir_node_new(g, op, 1, &x, &a, &t, "s", d);
    case KL_OP_ALLREDUCE: return ir_unary(g, op, x, "ar", d);
    case KL_OP_ALLREDUCE_START: case KL_OP_ALLREDUCE_WAIT: a.comm.key = 1, a.comm.peer = 2; return ir_node_new(g, op, 1, &x, &a, NULL, "bucket", d);
    case KL_OP_RECV: a.comm.key = 4, a.comm.peer = 2; return ir_node_new(g, op, 0, NULL, &a, &x->type, "r", d);
    case KL_OP_CAST: return ir_cast(g, x, KL_I32, "cast");
    case KL_OP_COPY: case KL_OP_NEG: case KL_OP_ABS: case KL_OP_SQUARE: case KL_OP_SQRT: case KL_OP_RSQRT:
    case KL_OP_EXP: case KL_OP_LOG: case KL_OP_TANH: case KL_OP_SIGMOID: case KL_OP_RELU: case KL_OP_RELU6:
    case KL_OP_FLOOR: case KL_OP_CEIL: case KL_OP_ROUND: case KL_OP_ERF: case KL_OP_ERFC: case KL_OP_SOFTPLUS: case KL_OP_ELU:
    case KL_OP_SIN: case KL_OP_COS: case KL_OP_ATAN: case KL_OP_SOFTMAX: case KL_OP_LOG_SOFTMAX:
        return ir_unary(g, op, x, NULL, d);
    case KL_OP_NOT: return ir_unary(g, op, b, NULL, d);
    case KL_OP_AND: case KL_OP_OR: return ir_binary(g, op, b, b, NULL, d);
    case KL_OP_ADD: case KL_OP_SUB: case KL_OP_MUL: case KL_OP_DIV: case KL_OP_MAX: case KL_OP_MIN: case KL_OP_POW:
    case KL_OP_FLOORDIV: case KL_OP_FLOORMOD: case KL_OP_LESS: case KL_OP_LESS_EQUAL: case KL_OP_GREATER:
    case KL_OP_GREATER_EQUAL: case KL_OP_EQUAL: case KL_OP_NOT_EQUAL:
        return ir_binary(g, op, x, x, NULL, d);
    case KL_OP_SELECT: return ir_node_new(g, op, 3, (ir_node *[]){b, x, x}, NULL, NULL, NULL, d);
    case KL_OP_MATMUL: a.matmul.transpose_b = true; return ir_node_new(g, op, 2, (ir_node *[]){x, w}, &a, NULL, "mm", d);
    case KL_OP_REDUCE_SUM: case KL_OP_REDUCE_MEAN: case KL_OP_REDUCE_MAX: case KL_OP_REDUCE_MIN: case KL_OP_REDUCE_PROD:
        a.reduce.axes = 2, a.reduce.keep_dims = op == KL_OP_REDUCE_SUM;
        return ir_node_new(g, op, 1, &x, &a, NULL, NULL, d);
    case KL_OP_ARGMAX: case KL_OP_ARGMIN:
        a.reduce.axes = 1, t = ir_type_make(KL_I32, 0, NULL);
        return ir_node_new(g, op, 1, &i, &a, &t, NULL, d);
    case KL_OP_RESHAPE: return ir_reshape(g, x, 3, (int64_t[]){3, 1, 2}, "r", d);
    case KL_OP_TRANSPOSE: a.transpose.perm[0] = 1; return ir_node_new(g, op, 1, &x, &a, NULL, NULL, d);
    case KL_OP_SLICE:
        a.slice.begin[0] = 1, a.slice.begin[1] = 2, a.slice.stride[0] = 1, a.slice.stride[1] = -2;
        t = ir_type_make(KL_F32, 2, (int64_t[]){1, 2});
        return ir_node_new(g, op, 1, &x, &a, &t, NULL, d);
    case KL_OP_PAD:
        a.pad.lo[1] = 2, a.pad.hi[0] = 1, a.pad.mode = IR_PAD_REFLECT, a.pad.value = -0.5;
        return ir_node_new(g, op, 1, &x, &a, NULL, NULL, d);
    case KL_OP_CONCAT: a.concat.axis = 1; return ir_node_new(g, op, 3, (ir_node *[]){x, x, x}, &a, NULL, NULL, d);
    case KL_OP_TILE: t = ir_type_make(KL_F32, 2, (int64_t[]){4, 3}); return ir_node_new(g, op, 1, &x, &a, &t, NULL, d);
    case KL_OP_GATHER: a.concat.axis = 1; return ir_node_new(g, op, 2, (ir_node *[]){x, i}, &a, NULL, NULL, d);
    case KL_OP_GATHER_ELEMENTS: return ir_node_new(g, op, 2, (ir_node *[]){x, i}, &a, NULL, NULL, d);
    case KL_OP_CONV2D:
        a.conv = (typeof(a.conv)){.kh = 2, .kw = 2, .stride_h = 1, .stride_w = 2, .dilation_h = 1, .dilation_w = 1,
                                  .pad_top = 1, .pad_right = 1, .groups = 1};
        return ir_node_new(g, op, 2, (ir_node *[]){img, filt}, &a, NULL, NULL, d);
    case KL_OP_CONV2D_TRANSPOSE:
        a.conv = (typeof(a.conv)){.kh = 2, .kw = 2, .stride_h = 2, .stride_w = 2, .dilation_h = 1, .dilation_w = 1};
        t = ir_type_make(KL_F32, 4, (int64_t[]){1, 8, 8, 2});
        return ir_node_new(g, op, 2, (ir_node *[]){img, filt}, &a, &t, NULL, d);
    case KL_OP_MAX_POOL: case KL_OP_AVG_POOL:
        a.conv = (typeof(a.conv)){.kh = 3, .kw = 3, .stride_h = 2, .stride_w = 2, .pad_bottom = 1, .pad_right = 1};
        return ir_node_new(g, op, 1, &img, &a, NULL, NULL, d);
    case KL_OP_CUMSUM: case KL_OP_CUMPROD: a.concat.axis = 1; return ir_node_new(g, op, 1, &x, &a, NULL, NULL, d);
    case KL_OP_SCATTER: {
        ir_node *rows = ir_reshape(g, i, 1, (int64_t[]){ir_type_numel(&i->type)}, NULL, d);
        ir_node *upd = ir_node_new(g, KL_OP_TILE, 1, &x, NULL, (ir_type[]){ir_type_make(KL_F32, 2, (int64_t[]){rows->type.dims[0], 3})}, NULL, d);
        a.scatter.reduce = IR_SCATTER_ADD;
        return ir_node_new(g, op, 3, (ir_node *[]){x, rows, upd}, &a, NULL, NULL, d);
    }
    case KL_OP_WHILE: return small_loop(g, x, d);
    case KL_OP_IF: return small_if(g, x, d);
    case KL_OP_GET: return ir_get(g, small_loop(g, x, d), 0, d);
    case KL_OP_DYNAMIC_SLICE: case KL_OP_DYNAMIC_UPDATE_SLICE: {
        ir_node *st = ir_const(g, ir_type_make(KL_I32, 1, (int64_t[]){2}), (int32_t[]){1, 5}, "start");
        t = ir_type_make(KL_F32, 2, (int64_t[]){1, 2});
        if (op == KL_OP_DYNAMIC_SLICE) return ir_node_new(g, op, 2, (ir_node *[]){x, st}, NULL, &t, NULL, d);
        ir_node *u = ir_const(g, t, (float[]){7, 8}, "update");
        return ir_node_new(g, op, 3, (ir_node *[]){x, u, st}, NULL, NULL, NULL, d);
    }
    case KL_OP_COUNT: break;
    }
    cr_assert_fail("bad op");
    return NULL;
}

static ir_graph *all_ops(void)
{
    kl_diag d = {0};
    ir_graph *g = ir_graph_new("all ops");
    ir_node *v[6];
    v[0] = ir_param(g, ir_type_make(KL_F32, 2, (int64_t[]){2, 3}), "x");
    float w[9] = {1, -2, 3.5f, 0.25f, -0.5f, 1e-40f, 6, 7, 8};
    v[1] = ir_const(g, ir_type_make(KL_F32, 2, (int64_t[]){3, 3}), w, "w");
    v[2] = ir_const(g, ir_type_make(KL_I32, 2, (int64_t[]){2, 3}), (int32_t[]){0, 1, 2, 2, 1, INT32_MIN}, "i");
    v[3] = ir_param(g, ir_type_make(KL_BOOL, 2, (int64_t[]){2, 3}), NULL);
    v[4] = ir_param(g, ir_type_make(KL_F32, 4, (int64_t[]){1, 4, 4, 2}), "img");
    float f[16];
    for (int k = 0; k < 16; k++) f[k] = (float)k / 3;
    v[5] = ir_const(g, ir_type_make(KL_F32, 4, (int64_t[]){2, 2, 2, 2}), f, NULL);
    for (int op = 0; op < KL_OP_COUNT; op++) ir_graph_add_result(g, must(one_op(g, (kl_op)op, v, &d), &d), kl_op_name((kl_op)op));
    /* a constant of every dtype, with the values each finds hardest */
    int64_t one[1] = {4};
    ir_const(g, ir_type_make(KL_F64, 1, one), (double[]){-0.0, 5e-324, -NAN, 0.1}, "f64");
    ir_const(g, ir_type_make(KL_F16, 1, one), (uint16_t[]){0x3c00, 0x8000, 0x7e00, 0xfc00}, "f16");
    ir_const(g, ir_type_make(KL_I8, 1, one), (int8_t[]){-128, 127, 0, -1}, "i8");
    ir_const(g, ir_type_make(KL_I16, 1, one), (int16_t[]){-32768, 32767, 0, -1}, "i16");
    ir_const(g, ir_type_make(KL_I64, 1, one), (int64_t[]){INT64_MIN, INT64_MAX, 9007199254740993ll, -1}, "i64");
    ir_const(g, ir_type_make(KL_U8, 1, one), (uint8_t[]){0, 255, 7, 128}, "u8");
    ir_const(g, ir_type_make(KL_BOOL, 1, one), (uint8_t[]){0, 1, 1, 0}, "bool");
    cr_assert(kl_diag_ok(&d), "%s", d.text);
    return g;
}

static void assert_round_trip(const ir_graph *g, unsigned flags)
{
    kl_diag d = {0};
    char *a = print_to_string(g, flags | IR_PRINT_FULL_CONSTS);
    ir_graph *h = ir_parse(a, "round-trip", &d);
    cr_assert(h, "%s\n%s", d.text, a);
    cr_assert(ir_verify(h, &d), "%s", d.text);
    char *b = print_to_string(h, IR_PRINT_FULL_CONSTS);
    char *a0 = print_to_string(g, IR_PRINT_FULL_CONSTS);
    cr_assert_str_eq(a0, b);
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == KL_OP_CONST)
            cr_assert_eq(memcmp(g->nodes[i]->data, h->nodes[i]->data, ir_type_bytes(&g->nodes[i]->type)), 0,
                         "constant %%%d differs", g->nodes[i]->id);
    free(a), free(b), free(a0);
    ir_graph_free(h);
}

Test(ir, every_op_and_dtype_round_trips)
{
    ir_graph *g = all_ops();
    kl_diag d = {0};
    cr_assert(ir_verify(g, &d), "%s", d.text);
    assert_round_trip(g, 0);
    char *text = print_to_string(g, IR_PRINT_FULL_CONSTS);
    for (int op = 0; op < KL_OP_COUNT; op++) {
        char want[64];
        snprintf(want, sizeof want, "= %s ", kl_op_name((kl_op)op));
        cr_assert(strstr(text, want), "op %s missing from\n%s", kl_op_name((kl_op)op), text);
    }
    for (int t = 0; t < KL_DTYPE_COUNT; t++) {
        char want[32];
        snprintf(want, sizeof want, ": %s[", kl_dtype_name((kl_dtype)t));
        cr_assert(strstr(text, want), "dtype %s missing", kl_dtype_name((kl_dtype)t));
    }
    cr_assert(strstr(text, "mode=reflect, value=-0.5"), "%s", text);
    free(text);
    ir_graph_free(g);
}

Test(ir, float_spellings_round_trip_bit_exactly)
{
    ir_graph *g = ir_graph_new("floats");
    uint32_t bits[] = {0x7fc00000, 0xffc00000, 0x7f800001, 0xffbfffff, 0x80000000, 0x00000001, 0xbf000000, 0x3eaaaaab};
    ir_const(g, ir_type_make(KL_F32, 1, (int64_t[]){8}), bits, "odd\n\"name\"\x01");
    assert_round_trip(g, 0);
    char *text = print_to_string(g, IR_PRINT_FULL_CONSTS);
    cr_assert(strstr(text, "[nan, -nan, nan:0x7f800001, nan:0xffbfffff, -0, 1.40129846e-45, -0.5, 0.333333343]"), "%s", text);
    cr_assert(strstr(text, "@\"odd\\x0a\\\"name\\\"\\x01\""), "%s", text);
    free(text);
    text = print_to_string(g, 0); /* 8 elements: still printed in full */
    cr_assert(strstr(text, "-0.5"), "%s", text);
    free(text);
    ir_graph_free(g);
}

Test(ir, long_names_sparse_ids_and_many_operands)
{
    char name[2000];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = 0;
    kl_diag d = {0};
    ir_graph *g = ir_graph_new(name);
    ir_node *x = ir_param(g, ir_type_make(KL_F32, 1, (int64_t[]){2}), name);
    ir_node *many[40];
    for (int i = 0; i < 40; i++) many[i] = x;
    ir_attr a = {.concat = {0}};
    ir_node *c = must(ir_node_new(g, KL_OP_CONCAT, 40, many, &a, NULL, "", &d), &d);
    ir_graph_add_result(g, c, NULL);
    ir_graph_add_result(g, x, "");
    assert_round_trip(g, 0);
    ir_graph_free(g);
    ir_graph *h = ir_parse("graph \"g\" {\n  %7 = param 0 : f32[2]\n  %1000000 = exp %7 : f32[2]\n"
                           "  %3 = add %1000000, %7 : f32[2]\n  result %3\n}\n", "sparse", &d);
    cr_assert(h, "%s", d.text);
    cr_assert_eq(h->n_nodes, 3);
    cr_assert_null(h->results[0].name);
    ir_graph_free(h);
}

Test(ir, plan_annotations_print_and_are_ignored_by_the_parser)
{
    kl_diag d = {0};
    ir_graph *g = ir_graph_new("plan");
    ir_node *x = ir_param(g, ir_type_make(KL_F32, 1, (int64_t[]){16}), "x");
    ir_node *e = ir_unary(g, KL_OP_EXP, x, "e", &d);
    ir_node *t = ir_unary(g, KL_OP_TANH, e, "t", &d);
    ir_node *r = ir_reshape(g, t, 2, (int64_t[]){4, 4}, "r", &d);
    ir_node *s = ir_unary(g, KL_OP_NEG, r, "s", &d);
    ir_graph_add_result(g, s, "y");
    x->store = IR_STORE_FEED;
    e->kernel = t, t->kernel = t, t->store = IR_STORE_TEMP, t->offset = 64;
    r->store = IR_STORE_ALIAS, s->kernel = s, s->store = IR_STORE_FETCH;
    g->temp_size = 128;
    cr_assert(ir_verify(g, &d), "%s", d.text);
    char *text = print_to_string(g, IR_PRINT_PLAN);
    cr_assert(strstr(text, "# temp_size 128\n"), "%s", text);
    cr_assert(strstr(text, "@\"x\"  # store=feed 0\n"), "%s", text);
    cr_assert(strstr(text, "@\"e\"  # fused into %2\n"), "%s", text);
    cr_assert(strstr(text, "# kernel=%2 store=temp+64\n"), "%s", text);
    cr_assert(strstr(text, "# store=alias\n") && strstr(text, "# kernel=%4 store=fetch 0\n"), "%s", text);
    free(text);
    assert_round_trip(g, IR_PRINT_PLAN);
    ir_graph_free(g);
}

/* ---- parser errors -------------------------------------------------------- */

Test(ir, more_parse_errors_are_located)
{
    const char *hdr = "graph \"g\" {\n  %0 = param 0 : f32[2,3]\n";
    struct { const char *body, *want; } cases[] = {
        {"  %1 = exp %0 {axis=1} : f32[2,3]\n}", "t.kir:3:16: exp takes no attribute 'axis'"},
        {"  %1 = reduce_sum %0 {axes=[1,1], keep_dims=0} : f32[2]\n}", "axis 1 listed twice"},
        {"  %1 = reduce_sum %0 {axes=[1], keep_dims=2} : f32[2]\n}", "keep_dims 2 out of range"},
        {"  %1 = transpose %0 {perm=[1]} : f32[3,2]\n}", "t.kir:3:3: 'perm' has 1 values for a result of rank 2"},
        {"  %1 = pad %0 {lo=[0,0], hi=[0,0], mode=wrap, value=0} : f32[2,3]\n}", "unknown pad mode 'wrap'"},
        {"  %1 = const : i8[2] [1, 200]\n}", "t.kir:3:26: an i8 200 out of range"},
        {"  %1 = const : f32[3] [1, 2]\n}", "has 2 elements"},
        {"  %1 = const : f32[2] [1, 2, 3]\n}", "more elements"},
        {"  %1 = const : f32[1000000] [1]\n}", "fewer elements"},
        {"  %1 = const : f32[1] [1x]\n}", "expected a number"},
        {"  %1 = const : f32[1] [nan:0x3f800000]\n}", "bits of a NaN"},
        {"  %1 = const : f16[1] [1.0]\n}", "0xHHHH"},
        {"  %1 = param 1 : f32[1099511627776,1099511627776]\n}", "larger than 2^40"},
        {"  %1 = param 1 : f32[-1]\n}", "dimension -1 out of range"},
        {"  %1 = param 1 %0 : f32[2]\n}", "param takes no operands"},
        {"  %1 = add %0 : f32[2,3]\n}", "expects 2 operands"},
        {"  %1 = exp %0 : f32[2,3] @\"unterminated\n}", "unterminated string"},
        {"  %1 = exp %0 : f32[2,3] @\"\\q\"\n}", "unknown escape"},
        {"  %1 = exp %0 : f32[2,3]\n  result %9\n}", "t.kir:4:11: %9 is not defined before use"},
        {"  %1 = exp %0 : f32[2,3]\n}\ntrailing", "t.kir:5:1: unexpected 'trailing' after the graph"},
        {"  \x01\n}", "found byte 0x01"},
        {"  %99999999999 = exp %0 : f32[2,3]\n}", "out of range"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[512];
        snprintf(text, sizeof text, "%s%s", hdr, cases[i].body);
        parse_fails(text, cases[i].want);
    }
}

/* Mutated texts must parse or fail with one located error: no crash, no
 * leak (run under ASan), no abort. */
Test(ir, parser_survives_mutations)
{
    ir_graph *g = all_ops();
    char *orig = print_to_string(g, IR_PRINT_FULL_CONSTS | IR_PRINT_PLAN);
    ir_graph_free(g);
    size_t n = strlen(orig);
    char *buf = malloc(n + 16);
    unsigned seed = 12345;
    const char alphabet[] = "%[]{}=,:@\"\\#-0123456789e.nx \n";
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, orig, n + 1);
        for (int k = 0; k < 1 + iter % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % n;
            seed = seed * 1103515245u + 12345u;
            switch ((seed >> 16) % 4) {
            case 0: buf[at] = alphabet[(seed >> 4) % (sizeof alphabet - 1)]; break;
            case 1: memmove(buf + at, buf + at + 1, n - at); break;        /* delete */
            case 2: buf[at] = (char)(seed >> 9); if (!buf[at]) buf[at] = 1; break;
            case 3: buf[(seed >> 3) % n] = 0; break;                          /* truncate */
            }
        }
        kl_diag d = {0};
        ir_graph *h = ir_parse(buf, "m", &d);
        if (h) {
            cr_assert(ir_verify(h, &d), "%s\n%s", d.text, buf);
            ir_graph_free(h);
        } else {
            cr_assert(d.n_errors == 1 && !strncmp(d.text, "m:", 2), "%s", d.text);
        }
        kl_diag_clear(&d);
    }
    free(buf);
    free(orig);
}

/* ---- verifier ----------------------------------------------------------- */

static void verify_fails(const ir_graph *g, const char *want)
{
    kl_diag d = {0};
    cr_assert_not(ir_verify(g, &d), "verified, wanted '%s'", want);
    cr_assert(strstr(d.text, want), "got '%s', want '%s'", d.text, want);
    kl_diag_clear(&d);
}

Test(ir, verifier_checks_lists_and_plans)
{
    kl_diag d = {0};
    ir_graph *g = ir_graph_new("v.pb");
    ir_node *x = ir_param(g, ir_type_make(KL_F32, 1, (int64_t[]){16}), "x");
    ir_node *y = ir_param(g, ir_type_make(KL_F32, 1, (int64_t[]){16}), "y");
    ir_node *s = ir_binary(g, KL_OP_ADD, x, y, "s", &d);
    ir_node *m = ir_node_new(g, KL_OP_REDUCE_SUM, 1, &s, &(ir_attr){.reduce = {1, false}}, NULL, "m", &d);
    ir_graph_add_result(g, m, "m");
    cr_assert(ir_verify(g, &d), "%s", d.text);

    g->params[0] = y; /* params list out of step with the indices */
    verify_fails(g, "listed as param 0 but has index 1");
    g->params[0] = x;

    ir_node stranger = *s; /* same id, not the graph's node */
    m->in[0] = &stranger;
    verify_fails(g, "v.pb: node %3 'm' (reduce_sum): operand 0 not defined before use");
    m->in[0] = s;

    /* plan: s fused into m's loop needs no storage; as a kernel of its own it does */
    s->kernel = m, m->kernel = m;
    cr_assert(ir_verify(g, &d), "%s", d.text); /* before buffer assignment: kernels only */
    x->store = y->store = IR_STORE_FEED, y->index = 1, m->store = IR_STORE_FETCH;
    cr_assert(ir_verify(g, &d), "%s", d.text);
    s->kernel = s;
    verify_fails(g, "node %3 'm' (reduce_sum): reads %2 from outside its kernel, but %2 is never stored");
    s->store = IR_STORE_TEMP, s->offset = 32;
    g->temp_size = 64;
    verify_fails(g, "temp slot +32 (64 bytes) outside the arena of 64 bytes or not 64-aligned");
    s->offset = 0;
    cr_assert(ir_verify(g, &d), "%s", d.text);
    m->kernel = s;
    verify_fails(g, "node %3 'm' (reduce_sum): fused but not elementwise");
    m->kernel = m, s->kernel = y;
    verify_fails(g, "fused into %1, which is not a kernel root");
    s->kernel = s, m->index = 1;
    verify_fails(g, "fetch 1 is not this node's result");
    ir_graph_free(g);
}

Test(ir, verifier_reports_every_problem_bounded)
{
    kl_diag d = {0};
    ir_graph *g = ir_graph_new("many");
    ir_node *x = ir_param(g, ir_type_make(KL_F32, 1, (int64_t[]){4}), "x");
    for (int i = 0; i < 30; i++) ir_unary(g, KL_OP_EXP, x, NULL, &d)->type.dims[0] = 5;
    cr_assert_not(ir_verify(g, &d));
    cr_assert_eq(d.n_errors, 21, "%s", d.text);
    cr_assert(strstr(d.text, "many: ... and 10 more problems"), "%s", d.text);
    kl_diag_clear(&d);
    ir_graph_free(g);
}

/* ---- evaluator ---------------------------------------------------------- */

Test(ir, evaluator_integers_wrap_and_report)
{
    kl_diag d = {0};
    ir_graph *g = ir_graph_new("ints");
    ir_node *a = ir_param(g, ir_type_make(KL_I32, 2, (int64_t[]){2, 2}), "a");
    ir_node *b = ir_param(g, ir_type_make(KL_I32, 1, (int64_t[]){2}), "b");
    int32_t av[] = {INT32_MAX, -7, 7, INT32_MIN}, bv[] = {1, 2}, out[4];
    eval1(ir_binary(g, KL_OP_ADD, a, b, "add", &d), av, bv, out);
    cr_assert(out[0] == INT32_MIN && out[1] == -5 && out[2] == 8 && out[3] == INT32_MIN + 2);
    eval1(ir_binary(g, KL_OP_MUL, a, b, "mul", &d), av, bv, out);
    cr_assert(out[0] == INT32_MAX && out[1] == -14 && out[3] == 0); /* INT32_MIN * 2 wraps to 0 */
    eval1(ir_binary(g, KL_OP_DIV, a, b, "div", &d), av, bv, out);
    cr_assert(out[1] == -3 && out[2] == 7); /* truncating */
    ir_node *dv = ir_binary(g, KL_OP_DIV, b, a, "zero", &d);
    int32_t zeros[4] = {0};
    cr_assert_not(ir_eval_node(dv, (const void *[]){bv, zeros}, out, &d));
    cr_assert(strstr(d.text, "division by zero"), "%s", d.text);
    kl_diag_clear(&d);
    ir_attr r = {.reduce = {2, true}};
    eval1(ir_node_new(g, KL_OP_REDUCE_MEAN, 1, &a, &r, NULL, "mean", &d), (int32_t[]){3, 4, -3, -4}, NULL, out);
    cr_assert(out[0] == 3 && out[1] == -3, "%d %d", out[0], out[1]); /* 7/2, -7/2 truncate */
    eval1(ir_node_new(g, KL_OP_REDUCE_SUM, 1, &a, &r, NULL, "sum", &d), av, NULL, out);
    cr_assert(out[0] == INT32_MAX - 7 && out[1] == INT32_MIN + 7);
    eval1(ir_node_new(g, KL_OP_REDUCE_PROD, 1, &a, &r, NULL, "prod", &d), (int32_t[]){65536, 65536, 3, 5}, NULL, out);
    cr_assert(out[0] == 0 && out[1] == 15);
    ir_graph_free(g);
}

Test(ir, evaluator_contractions_and_windows)
{
    kl_diag d = {0};
    ir_graph *g = ir_graph_new("win");
    ir_node *a = ir_param(g, ir_type_make(KL_F32, 2, (int64_t[]){3, 2}), "a"); /* a^T is [2,3] */
    ir_node *b = ir_param(g, ir_type_make(KL_F32, 2, (int64_t[]){2, 3}), "b"); /* b^T is [3,2] */
    float av[] = {1, 2, 3, 4, 5, 6}, bv[] = {1, 0, -1, 2, 1, 0}, out[32];
    ir_attr tt = {.matmul = {true, true}};
    eval1(ir_node_new(g, KL_OP_MATMUL, 2, (ir_node *[]){a, b}, &tt, NULL, "mm", &d), av, bv, out);
    /* a^T = [[1,3,5],[2,4,6]], b^T = [[1,2],[0,1],[-1,0]] */
    float want_mm[] = {-4, 5, -4, 8};
    cr_assert_arr_eq(out, want_mm, sizeof want_mm);

    ir_node *img = ir_param(g, ir_type_make(KL_F32, 4, (int64_t[]){1, 3, 3, 1}), "img");
    float iv[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    ir_attr pool = {.conv = {.kh = 2, .kw = 2, .stride_h = 2, .stride_w = 2, .pad_bottom = 1, .pad_right = 1}};
    ir_node *avg = ir_node_new(g, KL_OP_AVG_POOL, 1, &img, &pool, NULL, "avg", &d);
    cr_assert(avg && avg->type.dims[1] == 2 && avg->type.dims[2] == 2, "%s", d.text);
    eval1(avg, iv, NULL, out);
    float want_avg[] = {3, 4.5f, 7.5f, 9}; /* padding not counted */
    cr_assert_arr_eq(out, want_avg, sizeof want_avg);
    eval1(ir_node_new(g, KL_OP_MAX_POOL, 1, &img, &pool, NULL, "max", &d), iv, NULL, out);
    float want_max[] = {5, 6, 8, 9};
    cr_assert_arr_eq(out, want_max, sizeof want_max);

    ir_node *filt = ir_param(g, ir_type_make(KL_F32, 4, (int64_t[]){2, 2, 1, 1}), "f");
    float fv[] = {1, 10, 100, 1000};
    ir_attr cv = {.conv = {.stride_h = 1, .stride_w = 1, .dilation_h = 1, .dilation_w = 1, .groups = 1}};
    eval1(ir_node_new(g, KL_OP_CONV2D, 2, (ir_node *[]){img, filt}, &cv, NULL, "conv", &d), iv, fv, out);
    float want_conv[] = {5421, 6532, 8754, 9865};
    cr_assert_arr_eq(out, want_conv, sizeof want_conv);

    /* transpose of a stride-2 conv: each input scatters a 2x2 block */
    ir_node *dy = ir_param(g, ir_type_make(KL_F32, 4, (int64_t[]){1, 1, 2, 1}), "dy");
    ir_attr ct = {.conv = {.stride_h = 2, .stride_w = 2, .dilation_h = 1, .dilation_w = 1}};
    ir_type tt4 = ir_type_make(KL_F32, 4, (int64_t[]){1, 2, 4, 1});
    eval1(ir_node_new(g, KL_OP_CONV2D_TRANSPOSE, 2, (ir_node *[]){dy, filt}, &ct, &tt4, "ct", &d), (float[]){1, 2}, fv, out);
    float want_ct[] = {1, 10, 2, 20, 100, 1000, 200, 2000};
    cr_assert_arr_eq(out, want_ct, sizeof want_ct);
    ir_graph_free(g);
}

Test(ir, evaluator_whole_graph)
{
    kl_diag d = {0};
    ir_graph *g = ir_graph_new("whole");
    ir_node *x = ir_param(g, ir_type_make(KL_F32, 2, (int64_t[]){2, 2}), "x");
    ir_node *c = ir_const(g, ir_type_make(KL_F32, 1, (int64_t[]){2}), (float[]){-1, 1}, "c");
    ir_node *s = ir_binary(g, KL_OP_ADD, x, c, "s", &d);
    ir_node *r = ir_node_new(g, KL_OP_REDUCE_MAX, 1, &s, &(ir_attr){.reduce = {3, false}}, NULL, "r", &d);
    ir_node *i = ir_cast(g, s, KL_I32, "i");
    ir_graph_add_result(g, r, "r");
    ir_graph_add_result(g, i, "i");
    ir_graph_add_result(g, x, "x");
    float xv[] = {1.5f, 2, -3.75f, 4}, rv, xo[4];
    int32_t iv[4];
    cr_assert(ir_eval_graph(g, (const void *[]){xv}, (void *[]){&rv, iv, xo}, &d), "%s", d.text);
    cr_assert_float_eq(rv, 5, 0);
    cr_assert(iv[0] == 0 && iv[1] == 3 && iv[2] == -4 && iv[3] == 5); /* 0.5, 3, -4.75, 5 truncated */
    cr_assert_arr_eq(xo, xv, sizeof xv);
    ir_graph_free(g);
}
