/* ir/parse.c — reads the IR text format that ir/print.c writes
 * (docs/ir-format.md has the grammar).
 *
 * Nodes are built through the ir.h builders, so result types are inferred
 * and compared with the printed type.  Any error is one line, "SOURCE:LINE:
 * COL: message", and the half-built graph is freed.  The text is untrusted
 * (pass tests, fuzzers): every number is range-checked before it reaches a
 * builder, sizes are bounded so later arithmetic cannot overflow, and
 * allocations are bounded by the length of the text.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* Largest dimension or byte size a type may have; the builders use the
 * same bound for inferred types (graph.c type_fits). */
#define MAX_EXTENT ((int64_t)1 << 40)
/* Largest |value| of slice/pad offsets and window parameters: small enough
 * that shape rules can add and multiply them without overflow. */
#define MAX_OFFSET ((int64_t)1 << 40)
#define MAX_WINDOW (1 << 24)
#define MAX_ID ((1ll << 31) - 1)
/* Regions inside regions: a bound, so untrusted text cannot exhaust the stack. */
#define MAX_NESTING 64

/* Textual %id -> node, open addressing (ids need not be dense). */
typedef struct id_slot {
    long long id;
    ir_node *node; /* NULL: empty */
} id_slot;

typedef struct parser {
    const char *s, *end, *source; /* end: the text's NUL */
    int line, col;
    kl_diag *d;
    bool failed;
    ir_graph *g;
    id_slot *ids;
    size_t cap_ids, n_ids;
    char *str; /* last quoted string */
    size_t str_cap;
    ir_node **ops; /* operands of the node being read */
    int cap_ops;
    int depth;     /* regions being read, at most MAX_NESTING */
} parser;

/* ---- errors and characters ---------------------------------------------- */

__attribute__((format(printf, 4, 5))) static bool perr_at(parser *p, int line, int col, const char *fmt, ...)
{
    if (p->failed) return false;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    kl_diag_error(p->d, "%s:%d:%d: %s", p->source, line, col, msg);
    p->failed = true;
    return false;
}

#define perr(p, ...) perr_at(p, (p)->line, (p)->col, __VA_ARGS__)

static void advance(parser *p)
{
    if (*p->s == '\n') p->line++, p->col = 1;
    else p->col++;
    p->s++;
}

/* Skip to `end`, which lies on the current line (numbers, words). */
static void advance_to(parser *p, const char *end)
{
    p->col += (int)(end - p->s);
    p->s = end;
}

static bool is_word_char(char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Blanks and comments: '#' (plan annotations) and '//' (test directives)
 * run to the end of the line. */
static void skip_space(parser *p)
{
    for (;;) {
        while (*p->s == ' ' || *p->s == '\t' || *p->s == '\r' || *p->s == '\n') advance(p);
        if (*p->s != '#' && !(p->s[0] == '/' && p->s[1] == '/')) return;
        while (*p->s && *p->s != '\n') advance(p);
    }
}

/* Describes the next token for "expected X, found Y" messages. */
static const char *found(const parser *p, char *buf, size_t n)
{
    if (!*p->s) return "end of text";
    size_t i = 0;
    if (is_word_char(*p->s))
        while (is_word_char(p->s[i]) && i < 20) i++;
    else i = 1;
    if ((unsigned char)*p->s < 32 || (unsigned char)*p->s >= 127) snprintf(buf, n, "byte 0x%02x", (unsigned char)*p->s);
    else snprintf(buf, n, "'%.*s'", (int)i, p->s);
    return buf;
}

static bool accept(parser *p, const char *tok)
{
    skip_space(p);
    size_t n = strlen(tok);
    if (strncmp(p->s, tok, n)) return false;
    if (is_word_char(tok[n - 1]) && is_word_char(p->s[n])) return false; /* "graphx" is not "graph" */
    advance_to(p, p->s + n);
    return true;
}

static bool expect(parser *p, const char *tok)
{
    if (accept(p, tok)) return true;
    char fb[32];
    return perr(p, "expected '%s', found %s", tok, found(p, fb, sizeof fb));
}

static bool word(parser *p, const char *what, char *out, size_t n)
{
    skip_space(p);
    size_t i = 0;
    while (is_word_char(p->s[i])) i++;
    char fb[32];
    if (i == 0) return perr(p, "expected %s, found %s", what, found(p, fb, sizeof fb));
    if (i >= n) return perr(p, "%s too long", what);
    memcpy(out, p->s, i);
    out[i] = 0;
    advance_to(p, p->s + i);
    return true;
}

/* A decimal integer in [lo, hi]. */
static bool integer(parser *p, const char *what, long long lo, long long hi, long long *v)
{
    skip_space(p);
    char fb[32];
    if (!(*p->s == '-' || (*p->s >= '0' && *p->s <= '9')))
        return perr(p, "expected %s, found %s", what, found(p, fb, sizeof fb));
    char *end;
    errno = 0;
    *v = strtoll(p->s, &end, 10);
    if (end == p->s) return perr(p, "expected %s, found %s", what, found(p, fb, sizeof fb));
    if (errno || *v < lo || *v > hi) return perr(p, "%s %.*s out of range [%lld, %lld]", what, (int)(end - p->s), p->s, lo, hi);
    advance_to(p, end);
    return true;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static bool str_push(parser *p, size_t at, char c)
{
    if (at + 1 >= p->str_cap) {
        size_t cap = p->str_cap ? p->str_cap * 2 : 64;
        char *s = realloc(p->str, cap);
        if (!s) return perr(p, "out of memory");
        p->str = s, p->str_cap = cap;
    }
    p->str[at] = c;
    p->str[at + 1] = 0;
    return true;
}

/* A C-style quoted string into p->str: escapes \" \\ \n \t \xNN.  A \x00
 * escape would cut a C string short, so it is refused. */
static bool quoted(parser *p)
{
    skip_space(p);
    char fb[32];
    if (*p->s != '"') return perr(p, "expected a quoted string, found %s", found(p, fb, sizeof fb));
    advance(p);
    size_t n = 0;
    if (!str_push(p, 0, 0)) return false;
    while (*p->s != '"') {
        char c = *p->s;
        if (!c || c == '\n') return perr(p, "unterminated string");
        if (c == '\\') {
            advance(p);
            int h1 = hex_digit(p->s[1]), h2 = h1 < 0 ? -1 : hex_digit(p->s[2]);
            switch (*p->s) {
            case '"': case '\\': c = *p->s; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'x':
                if (h2 < 0 || (h1 | h2) == 0) return perr(p, "bad \\x escape: two hex digits, not 00");
                c = (char)(h1 * 16 + h2);
                advance(p), advance(p);
                break;
            default: return perr(p, "unknown escape '\\%c'", *p->s ? *p->s : '0');
            }
        }
        if (!str_push(p, n++, c)) return false;
        advance(p);
    }
    advance(p);
    return true;
}

/* ---- ids ---------------------------------------------------------------- */

static id_slot *id_find(const parser *p, long long id)
{
    if (!p->cap_ids) return NULL;
    size_t mask = p->cap_ids - 1, i = ((size_t)id * 0x9E3779B97F4A7C15ull) & mask;
    while (p->ids[i].node && p->ids[i].id != id) i = (i + 1) & mask;
    return &p->ids[i];
}

static bool id_grow(parser *p)
{
    size_t old = p->cap_ids;
    id_slot *was = p->ids;
    p->cap_ids = old ? old * 2 : 64;
    p->ids = calloc(p->cap_ids, sizeof *p->ids);
    if (!p->ids) {
        p->ids = was, p->cap_ids = old;
        return perr(p, "out of memory");
    }
    for (size_t i = 0; i < old; i++)
        if (was[i].node) *id_find(p, was[i].id) = was[i];
    free(was);
    return true;
}

static bool define(parser *p, long long id, ir_node *n, int line, int col)
{
    if ((p->n_ids + 1) * 2 > p->cap_ids && !id_grow(p)) return false;
    id_slot *s = id_find(p, id);
    if (s->node) return perr_at(p, line, col, "%%%lld defined twice", id);
    *s = (id_slot){id, n};
    p->n_ids++;
    return true;
}

static ir_node *operand(parser *p)
{
    long long id;
    if (!expect(p, "%")) return NULL;
    int line = p->line, col = p->col;
    if (!integer(p, "a node id", 0, MAX_ID, &id)) return NULL;
    id_slot *s = id_find(p, id);
    if (!s || !s->node) return perr_at(p, line, col, "%%%lld is not defined before use", id), NULL;
    return s->node;
}

/* ---- types and constants ------------------------------------------------ */

/* dtype '[' dims ']' with every dim and the byte size (empty dims counted
 * as 1) within MAX_EXTENT, so no size or stride computed later overflows. */
static bool type(parser *p, ir_type *t)
{
    char name[16];
    if (!word(p, "a dtype", name, sizeof name)) return false;
    kl_dtype dt;
    if (!kl_dtype_from_name(name, &dt)) return perr(p, "unknown dtype '%s'", name);
    *t = (ir_type){.dtype = dt};
    if (!expect(p, "[")) return false;
    if (accept(p, "]")) return true;
    int64_t bytes = (int64_t)kl_dtype_size(dt);
    do {
        long long v;
        if (t->rank == IR_MAX_RANK) return perr(p, "rank above %d", IR_MAX_RANK);
        if (!integer(p, "a dimension", 0, MAX_EXTENT, &v)) return false;
        if (v > 1 && bytes > MAX_EXTENT / v) return perr(p, "type larger than 2^40 bytes");
        bytes *= v > 1 ? v : 1;
        t->dims[t->rank++] = v;
    } while (accept(p, ","));
    return expect(p, "]");
}

/* "nan", "-nan" or "nan:0xBITS" (the printer's spellings of NaN bits). */
static bool nan_bits(parser *p, bool wide, uint64_t *bits)
{
    bool neg = *p->s == '-';
    uint64_t sign = wide ? 1ull << 63 : 1ull << 31, exp = wide ? 0x7ff0000000000000ull : 0x7f800000ull,
             frac = wide ? 0x000fffffffffffffull : 0x007fffffull, quiet = wide ? 1ull << 51 : 1ull << 22;
    advance_to(p, p->s + neg + 3);
    *bits = exp | quiet | (neg ? sign : 0);
    if (neg || p->s[0] != ':') return true;
    if (p->s[1] != '0' || p->s[2] != 'x' || hex_digit(p->s[3]) < 0) return perr(p, "expected 0x and hex digits after 'nan:'");
    char *end;
    errno = 0;
    *bits = strtoull(p->s + 3, &end, 16);
    if (errno || *bits > (sign | (sign - 1)) || (*bits & exp) != exp || !(*bits & frac) || is_word_char(*end))
        return perr(p, "'nan:' needs the bits of a NaN");
    advance_to(p, end);
    return true;
}

static bool is_nan_word(const char *s) { return (s[0] == '-' ? !strncmp(s + 1, "nan", 3) : !strncmp(s, "nan", 3)) && !is_word_char(s[(s[0] == '-') + 3]); }

static bool float_element(parser *p, kl_dtype dt, void *data, int64_t i)
{
    if (is_nan_word(p->s)) {
        uint64_t b;
        if (!nan_bits(p, dt == KL_F64, &b)) return false;
        if (dt == KL_F64) memcpy((double *)data + i, &b, 8);
        else {
            uint32_t b32 = (uint32_t)b;
            memcpy((float *)data + i, &b32, 4);
        }
        return true;
    }
    char *end;
    if (dt == KL_F32) ((float *)data)[i] = strtof(p->s, &end);
    else ((double *)data)[i] = strtod(p->s, &end);
    char fb[32];
    if (end == p->s || is_word_char(*end)) return perr(p, "expected a number, found %s", found(p, fb, sizeof fb));
    advance_to(p, end);
    return true;
}

/* One element of a constant: integers exactly (i64 does not pass through
 * double), in range for the dtype; f16 as its raw bits 0xHHHH. */
static bool element(parser *p, kl_dtype dt, void *data, int64_t i)
{
    skip_space(p);
    long long v;
    switch (dt) {
    case KL_F32: case KL_F64: return float_element(p, dt, data, i);
    case KL_F16: {
        char *end;
        if (p->s[0] != '0' || p->s[1] != 'x' || hex_digit(p->s[2]) < 0) return perr(p, "expected f16 bits as 0xHHHH");
        unsigned long b = strtoul(p->s + 2, &end, 16);
        if (end == p->s + 2 || end - p->s > 6 || is_word_char(*end)) return perr(p, "expected f16 bits as 0xHHHH");
        ((uint16_t *)data)[i] = (uint16_t)b;
        advance_to(p, end);
        return true;
    }
    case KL_I8: if (!integer(p, "an i8", INT8_MIN, INT8_MAX, &v)) return false; ((int8_t *)data)[i] = (int8_t)v; return true;
    case KL_I16: if (!integer(p, "an i16", INT16_MIN, INT16_MAX, &v)) return false; ((int16_t *)data)[i] = (int16_t)v; return true;
    case KL_I32: if (!integer(p, "an i32", INT32_MIN, INT32_MAX, &v)) return false; ((int32_t *)data)[i] = (int32_t)v; return true;
    case KL_I64: if (!integer(p, "an i64", INT64_MIN, INT64_MAX, &v)) return false; ((int64_t *)data)[i] = v; return true;
    case KL_U8: if (!integer(p, "a u8", 0, UINT8_MAX, &v)) return false; ((uint8_t *)data)[i] = (uint8_t)v; return true;
    case KL_BOOL: if (!integer(p, "a bool (0 or 1)", 0, 1, &v)) return false; ((uint8_t *)data)[i] = (uint8_t)v; return true;
    case KL_DTYPE_COUNT: break;
    }
    KL_ASSERT(!"bad dtype");
}

/* '[' elements ']' into a malloc'd buffer.  Every element takes at least
 * two characters of text, which bounds the allocation by the text. */
static bool const_data(parser *p, const ir_type *t, void **out)
{
    skip_space(p);
    if (*p->s == '<') return perr(p, "elided constant: print the graph with IR_PRINT_FULL_CONSTS to parse it back");
    int64_t count = ir_type_numel(t);
    if (count > 0 && count - 1 > (p->end - p->s) / 2) return perr(p, "constant has fewer elements than its type's %lld", (long long)count);
    if (!expect(p, "[")) return false;
    *out = calloc((size_t)count + 1, kl_dtype_size(t->dtype));
    if (!*out) return perr(p, "out of memory");
    for (int64_t i = 0; i < count; i++) {
        if (i && accept(p, "]")) return perr(p, "constant has %lld elements, its type %lld", (long long)i, (long long)count);
        if ((i && !expect(p, ",")) || !element(p, t->dtype, *out, i)) return false;
    }
    if (accept(p, ",")) return perr(p, "constant has more elements than its type's %lld", (long long)count);
    return expect(p, "]");
}

/* ---- attributes --------------------------------------------------------- */

/* Which keys an op takes; the printer writes the same ones (print_attrs). */
typedef enum attr_family { AF_NONE, AF_MATMUL, AF_REDUCE, AF_TRANSPOSE, AF_SLICE, AF_PAD, AF_AXIS, AF_WINDOW, AF_SCATTER, AF_CARRIED, AF_INDEX, AF_COMM } attr_family;

static attr_family family_of(kl_op op)
{
    switch (kl_op_table[op].shape) {
    case IR_SHAPE_MATMUL: return AF_MATMUL;
    case IR_SHAPE_REDUCE: case IR_SHAPE_ARG: return AF_REDUCE;
    case IR_SHAPE_TRANSPOSE: return AF_TRANSPOSE;
    case IR_SHAPE_PAD: return AF_PAD;
    case IR_SHAPE_CONCAT: case IR_SHAPE_GATHER: case IR_SHAPE_GATHER_ELEMENTS: case IR_SHAPE_SCAN: return AF_AXIS;
    case IR_SHAPE_CONV: case IR_SHAPE_POOL: return AF_WINDOW;
    case IR_SHAPE_SCATTER: return AF_SCATTER;
    case IR_SHAPE_GIVEN: return op == KL_OP_SLICE ? AF_SLICE : op == KL_OP_CONV2D_TRANSPOSE ? AF_WINDOW : op_is_comm(op) ? AF_COMM : AF_NONE;
    case IR_SHAPE_REGION: return op == KL_OP_WHILE ? AF_CARRIED : AF_NONE;
    case IR_SHAPE_GET: return AF_INDEX;
    case IR_SHAPE_UNARY: return op_is_bucket(op) ? AF_COMM : AF_NONE;
    case IR_SHAPE_BCAST: case IR_SHAPE_COMPARE: case IR_SHAPE_SELECT: case IR_SHAPE_DUS: return AF_NONE;
    }
    return AF_NONE;
}

/* A key, the shape of its value and the range of its numbers. */
typedef enum attr_kind {
    AK_SCALAR,   /* one integer */
    AK_WORD,     /* pad mode */
    AK_NUMBER,   /* pad value: any double */
    AK_SET,      /* list of distinct axes (a bitmask) */
    AK_PER_AXIS, /* list with one value per axis of the result */
    AK_FIXED,    /* list of exactly len values */
} attr_kind;

typedef struct attr_key {
    const char *key;
    attr_family family;
    attr_kind kind;
    int len;
    long long lo, hi;
} attr_key;

static const attr_key attr_keys[] = {
    {"transpose_a", AF_MATMUL, AK_SCALAR, 1, 0, 1},
    {"transpose_b", AF_MATMUL, AK_SCALAR, 1, 0, 1},
    {"axes", AF_REDUCE, AK_SET, IR_MAX_RANK, 0, IR_MAX_RANK - 1},
    {"keep_dims", AF_REDUCE, AK_SCALAR, 1, 0, 1},
    {"perm", AF_TRANSPOSE, AK_PER_AXIS, IR_MAX_RANK, 0, IR_MAX_RANK - 1},
    {"begin", AF_SLICE, AK_PER_AXIS, IR_MAX_RANK, -MAX_OFFSET, MAX_OFFSET},
    {"stride", AF_SLICE, AK_PER_AXIS, IR_MAX_RANK, -MAX_OFFSET, MAX_OFFSET},
    {"lo", AF_PAD, AK_PER_AXIS, IR_MAX_RANK, 0, MAX_OFFSET},
    {"hi", AF_PAD, AK_PER_AXIS, IR_MAX_RANK, 0, MAX_OFFSET},
    {"mode", AF_PAD, AK_WORD, 1, 0, 0},
    {"value", AF_PAD, AK_NUMBER, 1, 0, 0},
    {"axis", AF_AXIS, AK_SCALAR, 1, 0, IR_MAX_RANK - 1},
    {"window", AF_WINDOW, AK_FIXED, 2, 0, MAX_WINDOW},
    {"strides", AF_WINDOW, AK_FIXED, 2, 0, MAX_WINDOW},
    {"dilations", AF_WINDOW, AK_FIXED, 2, 0, MAX_WINDOW},
    {"pads", AF_WINDOW, AK_FIXED, 4, 0, MAX_WINDOW},
    {"groups", AF_WINDOW, AK_SCALAR, 1, 0, MAX_WINDOW},
    {"reduce", AF_SCATTER, AK_SCALAR, 1, IR_SCATTER_NONE, IR_SCATTER_MIN},
    {"drop", AF_SCATTER, AK_SCALAR, 1, 0, 1},
    {"carried", AF_CARRIED, AK_SCALAR, 1, 0, MAX_WINDOW},
    {"index", AF_INDEX, AK_SCALAR, 1, 0, MAX_WINDOW},
    {"key", AF_COMM, AK_SCALAR, 1, 0, 0x7fffffff},
    {"peer", AF_COMM, AK_SCALAR, 1, 0, 0x7fffffff},
};

/* The pad modes as the printer names them, in ir_pad_mode order. */
static const char *const pad_modes[] = {"constant", "reflect", "symmetric", "edge"};

typedef struct attr_lens {
    int per_axis[4]; /* lengths of per-axis lists seen: perm, begin/stride, lo/hi ... */
    const char *keys[4];
    int n;
} attr_lens;

static int list(parser *p, const attr_key *k, long long *v)
{
    int n = 0;
    if (!expect(p, "[")) return -1;
    if (accept(p, "]")) return 0;
    do {
        if (n == k->len) return perr(p, "'%s' takes at most %d values", k->key, k->len), -1;
        if (!integer(p, k->key, k->lo, k->hi, &v[n++])) return -1;
        for (int i = 0; k->kind == AK_SET && i < n - 1; i++)
            if (v[i] == v[n - 1]) return perr(p, "axis %lld listed twice", v[i]), -1;
    } while (accept(p, ","));
    if (!expect(p, "]")) return -1;
    if (k->kind == AK_FIXED && n != k->len) return perr(p, "'%s' takes %d values", k->key, k->len), -1;
    return n;
}

static bool scalar_value(parser *p, const attr_key *k, ir_attr *a)
{
    long long v;
    if (k->kind == AK_WORD) {
        char w[16];
        if (!word(p, "a pad mode", w, sizeof w)) return false;
        for (int i = 0; i < 4; i++)
            if (!strcmp(w, pad_modes[i])) return a->pad.mode = (ir_pad_mode)i, true;
        return perr(p, "unknown pad mode '%s'", w);
    }
    if (k->kind == AK_NUMBER) {
        skip_space(p);
        return float_element(p, KL_F64, &a->pad.value, 0);
    }
    if (!integer(p, k->key, k->lo, k->hi, &v)) return false;
    if (!strcmp(k->key, "transpose_a")) a->matmul.transpose_a = v;
    else if (!strcmp(k->key, "transpose_b")) a->matmul.transpose_b = v;
    else if (!strcmp(k->key, "keep_dims")) a->reduce.keep_dims = v;
    else if (!strcmp(k->key, "axis")) a->concat.axis = (int)v;
    else if (!strcmp(k->key, "reduce")) a->scatter.reduce = (ir_scatter_reduce)v;
    else if (!strcmp(k->key, "drop")) a->scatter.drop = v;
    else if (!strcmp(k->key, "carried")) a->region.n_carried = (int)v;
    else if (!strcmp(k->key, "index")) a->region.index = (int)v;
    else if (!strcmp(k->key, "key")) a->comm.key = (int)v;
    else if (!strcmp(k->key, "peer")) a->comm.peer = (int)v;
    else a->conv.groups = (int)v;
    return true;
}

static bool list_value(parser *p, const attr_key *k, ir_attr *a, attr_lens *lens)
{
    long long v[IR_MAX_RANK];
    int n = list(p, k, v);
    if (n < 0) return false;
    int *c = &a->conv.kh; /* kh kw sh sw dh dw pt pb pl pr: consecutive ints */
    int at = !strcmp(k->key, "window") ? 0 : !strcmp(k->key, "strides") ? 2 : !strcmp(k->key, "dilations") ? 4 : 6;
    for (int i = 0; i < n; i++) {
        if (!strcmp(k->key, "axes")) a->reduce.axes |= 1u << v[i];
        else if (!strcmp(k->key, "perm")) a->transpose.perm[i] = (int8_t)v[i];
        else if (!strcmp(k->key, "begin")) a->slice.begin[i] = v[i];
        else if (!strcmp(k->key, "stride")) a->slice.stride[i] = v[i];
        else if (!strcmp(k->key, "lo")) a->pad.lo[i] = v[i];
        else if (!strcmp(k->key, "hi")) a->pad.hi[i] = v[i];
        else c[at + i] = (int)v[i];
    }
    if (k->kind == AK_PER_AXIS && lens->n < 4) lens->keys[lens->n] = k->key, lens->per_axis[lens->n++] = n;
    return true;
}

/* '{' key '=' value (',' ...)* '}' — only keys of the op's family, each once. */
static bool attrs(parser *p, kl_op op, ir_attr *a, attr_lens *lens)
{
    if (!accept(p, "{")) return true;
    attr_family fam = family_of(op);
    unsigned seen = 0;
    do {
        char key[32];
        skip_space(p);
        int line = p->line, col = p->col;
        if (!word(p, "an attribute name", key, sizeof key)) return false;
        size_t i = 0, nk = sizeof attr_keys / sizeof *attr_keys;
        while (i < nk && strcmp(attr_keys[i].key, key)) i++;
        if (i == nk || attr_keys[i].family != fam)
            return perr_at(p, line, col, "%s takes no attribute '%s'", kl_op_name(op), key);
        if (seen & (1u << i)) return perr_at(p, line, col, "attribute '%s' given twice", key);
        seen |= 1u << i;
        if (!expect(p, "=")) return false;
        bool ok = attr_keys[i].kind <= AK_NUMBER ? scalar_value(p, &attr_keys[i], a) : list_value(p, &attr_keys[i], a, lens);
        if (!ok) return false;
    } while (accept(p, ","));
    return expect(p, "}");
}

/* Per-axis lists must have one value per axis of the result. */
static bool check_lens(parser *p, const attr_lens *lens, const ir_type *t, int line, int col)
{
    for (int i = 0; i < lens->n; i++)
        if (lens->per_axis[i] != t->rank)
            return perr_at(p, line, col, "'%s' has %d values for a result of rank %d", lens->keys[i], lens->per_axis[i], t->rank);
    return true;
}

/* ---- lines -------------------------------------------------------------- */

static bool operands(parser *p, int *n_in)
{
    *n_in = 0;
    skip_space(p);
    if (*p->s != '%') return true;
    do {
        if (*n_in == p->cap_ops) {
            int cap = p->cap_ops ? p->cap_ops * 2 : 16;
            ir_node **o = realloc(p->ops, sizeof *o * (size_t)cap);
            if (!o) return perr(p, "out of memory");
            p->ops = o, p->cap_ops = cap;
        }
        if (!(p->ops[*n_in] = operand(p))) return false;
        ++*n_in;
    } while (accept(p, ","));
    return true;
}

/* Builds the node with the ir.h builders and checks the printed type. */
static ir_node *build(parser *p, kl_op op, long long index, int n_in, const ir_attr *a, const ir_type *t, const void *data,
                      const char *name, ir_graph **regions, int line, int col)
{

    if (op_is_source(op) && n_in) return perr_at(p, line, col, "%s takes no operands", kl_op_name(op)), NULL;
    if (op == KL_OP_PARAM) {
        if (index != p->g->n_params)
            return perr_at(p, line, col, "param %lld out of order: params are numbered 0, 1, ... in order", index), NULL;
        return ir_param(p->g, *t, name);
    }
    if (op == KL_OP_CONST) return ir_const(p->g, *t, data, name);
    kl_diag local = {0};
    ir_node *n = op == KL_OP_WHILE ? ir_while(p->g, n_in, p->ops, a->region.n_carried, regions[0], regions[1], name, &local)
               : op == KL_OP_IF    ? (n_in ? ir_if(p->g, p->ops[0], n_in - 1, p->ops + 1, regions[0], regions[1], name, &local) : NULL)
                                   : ir_node_new(p->g, op, n_in, p->ops, a, t, name, &local);
    if (!n) perr_at(p, line, col, "%s", local.text ? local.text : "bad node");
    kl_diag_clear(&local);
    if (n && !ir_type_equal(&n->type, t)) {
        char want[160], got[160];
        perr_at(p, line, col, "type %s does not match the inferred %s", ir_type_str(t, want, sizeof want),
                ir_type_str(&n->type, got, sizeof got));
        return NULL;
    }
    return n;
}

static bool graph_nodes(parser *p);

/* (cond|then) '{' ... '}' (body|else) '{' ... '}': each region a graph of its
 * own, with its own ids, owned by the graph being read. */
static bool region_list(parser *p, kl_op op, ir_graph **regions)
{
    static const char *const names[2][2] = {{"cond", "body"}, {"then", "else"}};
    int kind = op == KL_OP_IF;
    if (op != KL_OP_WHILE && op != KL_OP_IF) return true;
    for (int r = 0; r < 2; r++) {
        if (!accept(p, names[kind][r])) return perr(p, "%s needs region '%s'", kl_op_name(op), names[kind][r]);
        if (!expect(p, "{")) return false;
        if (p->depth >= MAX_NESTING) return perr(p, "regions nest deeper than %d", MAX_NESTING);
        id_slot *ids = p->ids;
        size_t cap = p->cap_ids, n_ids = p->n_ids;
        ir_graph *outer = p->g;
        p->ids = NULL, p->cap_ids = p->n_ids = 0;
        p->g = regions[r] = ir_region_new(outer, outer->source);
        p->depth++;
        bool ok = graph_nodes(p);
        p->depth--;
        free(p->ids);
        p->ids = ids, p->cap_ids = cap, p->n_ids = n_ids, p->g = outer;
        if (!ok) return false;
    }
    return true;
}

/* '%' ID '=' OP [INDEX] operands [attrs] ':' type [data] ['@' STRING] [regions] */
static bool node_line(parser *p)
{
    int line = p->line, col = p->col;
    long long id, index = 0;
    char opname[32];
    if (!expect(p, "%") || !integer(p, "a node id", 0, MAX_ID, &id) || !expect(p, "=") ||
        !word(p, "an op name", opname, sizeof opname))
        return false;
    kl_op op;
    if (!kl_op_from_name(opname, &op)) return perr(p, "unknown op '%s'", opname);
    if (op == KL_OP_PARAM && !integer(p, "a param index", 0, MAX_ID, &index)) return false;
    ir_attr a;
    memset(&a, 0, sizeof a);
    attr_lens lens = {0};
    ir_type t;
    int n_in;
    if (!operands(p, &n_in) || !attrs(p, op, &a, &lens) || !expect(p, ":") || !type(p, &t) ||
        !check_lens(p, &lens, &t, line, col))
        return false;
    void *data = NULL;
    bool ok = op != KL_OP_CONST || const_data(p, &t, &data);
    bool named = ok && accept(p, "@");
    ok = ok && (!named || quoted(p));
    char *name = ok && named ? strdup(p->str) : NULL;
    ir_node **ops = ok && n_in ? malloc(sizeof *ops * (size_t)n_in) : NULL; /* regions reuse p->ops */
    if (ops) memcpy(ops, p->ops, sizeof *ops * (size_t)n_in);
    ir_graph *regions[2] = {NULL, NULL};
    ok = ok && (!n_in || ops) && (!named || name) && region_list(p, op, regions);
    if (ok && n_in) memcpy(p->ops, ops, sizeof *ops * (size_t)n_in);
    ir_node *n = ok ? build(p, op, index, n_in, &a, &t, data, name, regions, line, col) : NULL;
    free(ops);
    free(name);
    free(data);
    return n && define(p, id, n, line, col);
}

static bool result_line(parser *p)
{
    ir_node *n = operand(p);
    if (!n) return false;
    bool named = accept(p, "@");
    if (named && !quoted(p)) return false;
    ir_graph_add_result(p->g, n, named ? p->str : NULL);
    return true;
}

/* Nodes and results up to the closing '}'. */
static bool graph_nodes(parser *p)
{
    char fb[32];
    while (!p->failed && !accept(p, "}")) {
        skip_space(p);
        if (!*p->s) return perr(p, "unexpected end of text: missing '}'");
        if (accept(p, "result")) result_line(p);
        else if (*p->s == '%') node_line(p);
        else return perr(p, "expected a node, 'result' or '}', found %s", found(p, fb, sizeof fb));
    }
    return !p->failed;
}

static bool graph_body(parser *p)
{
    char fb[32];
    if (!graph_nodes(p)) return false;
    skip_space(p);
    if (*p->s) return perr(p, "unexpected %s after the graph", found(p, fb, sizeof fb));
    return true;
}

ir_graph *ir_parse(const char *text, const char *source, kl_diag *d)
{
    if (!text) text = "";
    parser p = {.s = text, .end = text + strlen(text), .source = source ? source : "<text>", .line = 1, .col = 1, .d = d};
    if (expect(&p, "graph") && quoted(&p) && expect(&p, "{")) {
        p.g = ir_graph_new(p.str);
        graph_body(&p);
    }
    free(p.ids);
    free(p.str);
    free(p.ops);
    if (p.failed) {
        ir_graph_free(p.g);
        return NULL;
    }
    return p.g;
}
