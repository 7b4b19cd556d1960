/* ir/parse.c — reads the IR text format that ir/print.c writes.
 *
 * Nodes are built through the ir.h builders, so result types are inferred
 * and checked against the printed type.  Any error is "SOURCE:LINE:COL:
 * message"; the half-built graph is freed.  `#` starts a comment (plan
 * annotations are comments), and so does `//`.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct parser {
    const char *s, *source;
    int line, col;
    kl_diag *d;
    bool failed;
    ir_graph *g;
    ir_node **by_id; /* textual %id -> node */
    int cap_ids;
} parser;

__attribute__((format(printf, 2, 3))) static bool perr(parser *p, const char *fmt, ...)
{
    if (p->failed) return false;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    kl_diag_error(p->d, "%s:%d:%d: %s", p->source, p->line, p->col, msg);
    p->failed = true;
    return false;
}

static void advance(parser *p)
{
    if (*p->s == '\n') p->line++, p->col = 1;
    else p->col++;
    p->s++;
}

static void skip_space(parser *p)
{
    for (;;) {
        while (*p->s == ' ' || *p->s == '\t' || *p->s == '\r' || *p->s == '\n') advance(p);
        if (*p->s == '#' || (p->s[0] == '/' && p->s[1] == '/'))
            while (*p->s && *p->s != '\n') advance(p);
        else return;
    }
}

static bool accept(parser *p, const char *tok)
{
    skip_space(p);
    size_t n = strlen(tok);
    if (strncmp(p->s, tok, n)) return false;
    for (size_t i = 0; i < n; i++) advance(p);
    return true;
}

static bool expect(parser *p, const char *tok)
{
    return accept(p, tok) || perr(p, "expected '%s'", tok);
}

static bool word(parser *p, char *out, size_t n)
{
    skip_space(p);
    size_t i = 0;
    while ((*p->s == '_' || *p->s == '-' || (*p->s >= 'a' && *p->s <= 'z') || (*p->s >= 'A' && *p->s <= 'Z') ||
            (*p->s >= '0' && *p->s <= '9')) && i + 1 < n)
        out[i++] = *p->s, advance(p);
    out[i] = 0;
    return i > 0 || perr(p, "expected a word");
}

static bool integer(parser *p, long long *v)
{
    skip_space(p);
    char *end;
    errno = 0;
    *v = strtoll(p->s, &end, 10);
    if (end == p->s || errno) return perr(p, "expected an integer");
    while (p->s < end) advance(p);
    return true;
}

static bool quoted(parser *p, char *out, size_t n)
{
    skip_space(p);
    if (*p->s != '"') return perr(p, "expected a quoted string");
    advance(p);
    size_t i = 0;
    while (*p->s && *p->s != '"' && *p->s != '\n') {
        char ch = *p->s;
        if (ch == '\\') {
            advance(p);
            if (*p->s == 'x' && p->s[1] && p->s[2]) {
                char hex[3] = {p->s[1], p->s[2], 0};
                ch = (char)strtol(hex, NULL, 16);
                advance(p), advance(p);
            } else ch = *p->s;
            if (!*p->s) break;
        }
        if (i + 1 < n) out[i++] = ch;
        advance(p);
    }
    out[i] = 0;
    return (*p->s == '"' && (advance(p), true)) || perr(p, "unterminated string");
}

static bool type(parser *p, ir_type *t)
{
    char name[16];
    if (!word(p, name, sizeof name)) return false;
    kl_dtype dt;
    if (!kl_dtype_from_name(name, &dt)) return perr(p, "unknown dtype '%s'", name);
    *t = (ir_type){.dtype = dt};
    if (!expect(p, "[")) return false;
    if (accept(p, "]")) return true;
    do {
        long long v;
        if (!integer(p, &v)) return false;
        if (v < 0 || v > (1ll << 40)) return perr(p, "bad dimension %lld", v);
        if (t->rank == IR_MAX_RANK) return perr(p, "rank above %d", IR_MAX_RANK);
        t->dims[t->rank++] = v;
    } while (accept(p, ","));
    return expect(p, "]");
}

static ir_node *operand(parser *p)
{
    long long id;
    if (!expect(p, "%") || !integer(p, &id)) return NULL;
    if (id < 0 || id >= p->cap_ids || !p->by_id[id]) return perr(p, "%%%lld is not defined before use", id), NULL;
    return p->by_id[id];
}

static bool number(parser *p, kl_dtype dt, void *data, int64_t i)
{
    skip_space(p);
    double v;
    if (accept(p, "nan")) v = NAN;
    else if (accept(p, "-inf")) v = -INFINITY;
    else if (accept(p, "inf")) v = INFINITY;
    else if (accept(p, "-0") && !(*p->s >= '0' && *p->s <= '9') && *p->s != '.' && *p->s != 'e') v = -0.0;
    else {
        char *end;
        v = strtod(p->s, &end);
        if (end == p->s) return perr(p, "expected a number");
        if (dt == KL_F16 && p->s[0] == '0' && p->s[1] == 'x') v = (double)strtol(p->s, &end, 16);
        while (p->s < end) advance(p);
    }
    switch (dt) {
    case KL_F32: ((float *)data)[i] = (float)v; break;
    case KL_F64: ((double *)data)[i] = v; break;
    case KL_I8: ((int8_t *)data)[i] = (int8_t)v; break;
    case KL_I16: ((int16_t *)data)[i] = (int16_t)v; break;
    case KL_I32: ((int32_t *)data)[i] = (int32_t)v; break;
    case KL_I64: ((int64_t *)data)[i] = (int64_t)v; break;
    case KL_U8: case KL_BOOL: ((uint8_t *)data)[i] = (uint8_t)v; break;
    case KL_F16: ((uint16_t *)data)[i] = (uint16_t)v; break;
    case KL_DTYPE_COUNT: break;
    }
    return true;
}

static bool const_data(parser *p, const ir_type *t, void **out)
{
    skip_space(p);
    if (*p->s == '<') return perr(p, "elided constant: print with IR_PRINT_FULL_CONSTS to parse it back");
    int64_t count = ir_type_numel(t);
    if (count > (1 << 26)) return perr(p, "constant too large for the text format");
    *out = calloc((size_t)count + 1, kl_dtype_size(t->dtype));
    if (!expect(p, "[")) return false;
    for (int64_t i = 0; i < count; i++)
        if ((i && !expect(p, ",")) || !number(p, t->dtype, *out, i)) return false;
    return expect(p, "]");
}

/* "[a,b,...]" into v; returns the count or -1. */
static int int_list(parser *p, int64_t *v, int max)
{
    int n = 0;
    if (!expect(p, "[")) return -1;
    if (accept(p, "]")) return 0;
    do {
        long long x;
        if (n == max) return perr(p, "list too long"), -1;
        if (!integer(p, &x)) return -1;
        v[n++] = x;
    } while (accept(p, ","));
    return expect(p, "]") ? n : -1;
}

static bool list_attr(parser *p, const char *key, ir_attr *a)
{
    int64_t v[IR_MAX_RANK];
    int n = int_list(p, v, IR_MAX_RANK);
    if (n < 0) return false;
    int *c = &a->conv.kh; /* kh kw sh sw dh dw pt pb pl pr: consecutive ints */
    if (!strcmp(key, "perm")) for (int i = 0; i < n; i++) a->transpose.perm[i] = (int8_t)v[i];
    else if (!strcmp(key, "begin")) memcpy(a->slice.begin, v, sizeof(int64_t) * (size_t)n);
    else if (!strcmp(key, "stride")) memcpy(a->slice.stride, v, sizeof(int64_t) * (size_t)n);
    else if (!strcmp(key, "lo")) memcpy(a->pad.lo, v, sizeof(int64_t) * (size_t)n);
    else if (!strcmp(key, "hi")) memcpy(a->pad.hi, v, sizeof(int64_t) * (size_t)n);
    else if (!strcmp(key, "window") && n == 2) c[0] = (int)v[0], c[1] = (int)v[1];
    else if (!strcmp(key, "strides") && n == 2) c[2] = (int)v[0], c[3] = (int)v[1];
    else if (!strcmp(key, "dilations") && n == 2) c[4] = (int)v[0], c[5] = (int)v[1];
    else if (!strcmp(key, "pads") && n == 4) for (int i = 0; i < 4; i++) c[6 + i] = (int)v[i];
    else return perr(p, "bad list attribute '%s'", key);
    return true;
}

static bool attrs(parser *p, kl_op op, ir_attr *a)
{
    if (!accept(p, "{")) return true;
    do {
        char key[32];
        if (!word(p, key, sizeof key) || !expect(p, "=")) return false;
        long long v = 0;
        skip_space(p);
        if (strcmp(key, "axes") && *p->s == '[') {
            if (!list_attr(p, key, a)) return false;
        } else if (!strcmp(key, "value")) {
            char *end;
            a->pad.value = strtod(p->s, &end);
            if (end == p->s) return perr(p, "expected a number");
            while (p->s < end) advance(p);
        } else if (!strcmp(key, "axes")) {
            if (!expect(p, "[")) return false;
            if (!accept(p, "]")) {
                do {
                    if (!integer(p, &v)) return false;
                    if (v < 0 || v >= IR_MAX_RANK) return perr(p, "axis %lld out of range", v);
                    a->reduce.axes |= 1u << v;
                } while (accept(p, ","));
                if (!expect(p, "]")) return false;
            }
        } else if (!integer(p, &v)) return false;
        else if (!strcmp(key, "keep_dims")) a->reduce.keep_dims = v != 0;
        else if (!strcmp(key, "transpose_a")) a->matmul.transpose_a = v != 0;
        else if (!strcmp(key, "transpose_b")) a->matmul.transpose_b = v != 0;
        else if (!strcmp(key, "axis")) a->concat.axis = (int)v;
        else if (!strcmp(key, "mode")) a->pad.mode = (ir_pad_mode)(v < 0 || v > 3 ? 0 : v);
        else if (!strcmp(key, "groups")) a->conv.groups = (int)v;
        else return perr(p, "unknown attribute '%s' for %s", key, kl_op_name(op));
    } while (accept(p, ","));
    return expect(p, "}");
}

static bool define(parser *p, long long id, ir_node *n)
{
    if (id < 0 || id > (1 << 24)) return perr(p, "bad node id %lld", id);
    if (id >= p->cap_ids) {
        int cap = p->cap_ids ? p->cap_ids : 64;
        while (cap <= id) cap *= 2;
        ir_node **b = realloc(p->by_id, sizeof *b * (size_t)cap);
        if (!b) return perr(p, "out of memory");
        memset(b + p->cap_ids, 0, sizeof *b * (size_t)(cap - p->cap_ids));
        p->by_id = b;
        p->cap_ids = cap;
    }
    if (p->by_id[id]) return perr(p, "%%%lld defined twice", id);
    p->by_id[id] = n;
    return true;
}

static bool node_line(parser *p)
{
    long long id;
    char opname[32], name[256] = "";
    if (!integer(p, &id) || !expect(p, "=") || !word(p, opname, sizeof opname)) return false;
    kl_op op;
    if (!kl_op_from_name(opname, &op)) return perr(p, "unknown op '%s'", opname);
    long long index = 0;
    if (op == KL_OP_PARAM && !integer(p, &index)) return false;
    ir_node *in[16];
    int n_in = 0;
    skip_space(p);
    while (*p->s == '%') {
        if (n_in == 16 || !(in[n_in++] = operand(p))) return n_in == 16 ? perr(p, "too many operands") : false;
        if (!accept(p, ",")) break;
        skip_space(p);
    }
    ir_attr a = {0};
    ir_type t;
    void *data = NULL;
    if (!attrs(p, op, &a) || !expect(p, ":") || !type(p, &t)) return false;
    if (op == KL_OP_CONST && !const_data(p, &t, &data)) return free(data), false;
    if (accept(p, "@") && !quoted(p, name, sizeof name)) return free(data), false;
    ir_node *n;
    if (op == KL_OP_PARAM) {
        if (index != p->g->n_params) return perr(p, "params must be numbered 0, 1, ... in order");
        n = ir_param(p->g, t, name);
    } else if (op == KL_OP_CONST) {
        n = ir_const(p->g, t, data, name[0] ? name : NULL);
    } else {
        kl_diag local = {0};
        n = ir_node_new(p->g, op, n_in, in, &a, &t, name[0] ? name : NULL, &local);
        if (!n) {
            perr(p, "%s", local.text ? local.text : "bad node");
            kl_diag_clear(&local);
            return false;
        }
        if (!ir_type_equal(&n->type, &t)) {
            char want[128], got[128];
            return perr(p, "type %s does not match the inferred %s", ir_type_str(&t, want, sizeof want),
                        ir_type_str(&n->type, got, sizeof got));
        }
    }
    free(data);
    return define(p, id, n);
}

static bool result_line(parser *p)
{
    ir_node *n = operand(p);
    char name[256] = "";
    if (!n || (accept(p, "@") && !quoted(p, name, sizeof name))) return false;
    ir_graph_add_result(p->g, n, name);
    return true;
}

ir_graph *ir_parse(const char *text, const char *source, kl_diag *d)
{
    parser p = {.s = text, .source = source ? source : "<text>", .line = 1, .col = 1, .d = d};
    char gname[256] = "";
    if (!expect(&p, "graph") || !quoted(&p, gname, sizeof gname) || !expect(&p, "{")) return NULL;
    p.g = ir_graph_new(gname);
    while (!p.failed && !accept(&p, "}")) {
        if (!*p.s) perr(&p, "unexpected end of text: missing '}'");
        else if (accept(&p, "result")) result_line(&p);
        else if (accept(&p, "%")) node_line(&p);
        else perr(&p, "expected a node, 'result' or '}'");
    }
    free(p.by_id);
    if (p.failed) {
        ir_graph_free(p.g);
        return NULL;
    }
    return p.g;
}
