/* serve/sv_tensor.c — TF Serving's JSON tensors (its REST API document):
 * row format {"instances": [row, ...]} where a row is a value (one input)
 * or an object of named values, answered with {"predictions": [...]};
 * columnar {"inputs": value or {name: value}}, answered with {"outputs":
 * ...}.  A value is a number, a boolean or a nested, rectangular list.
 * Request bodies are untrusted: every shape, type and size is checked
 * before a byte is written. */
#define _GNU_SOURCE /* asprintf, strndup */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/sv.h"

char *sv_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return s ? s : strdup("out of memory");
}

const char *sv_dtype_tf(kiln_dtype t)
{
    switch (t) {
    case KILN_F32: return "DT_FLOAT";
    case KILN_F16: return "DT_HALF";
    case KILN_F64: return "DT_DOUBLE";
    case KILN_I8: return "DT_INT8";
    case KILN_I16: return "DT_INT16";
    case KILN_I32: return "DT_INT32";
    case KILN_I64: return "DT_INT64";
    case KILN_U8: return "DT_UINT8";
    case KILN_BOOL: return "DT_BOOL";
    }
    return "DT_INVALID";
}

size_t sv_row_bytes(const sv_spec *s)
{
    size_t n = kiln_dtype_size(s->dtype);
    for (int i = s->dims[0] < 0 ? 1 : 0; i < s->rank; i++) n *= (size_t)s->dims[i];
    return n;
}

static const char *jtype(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

static char *store(const json_t *v, kiln_dtype t, char *p, const char *what)
{
    if (json_is_object(v) && json_object_get(v, "b64"))
        return sv_msg("%s: {\"b64\": ...} is for DT_STRING tensors; this input is %s", what, kiln_dtype_name(t));
    switch (t) {
    case KILN_F32:
    case KILN_F64: {
        if (!json_is_number(v)) return sv_msg("%s: expected a number, got %s", what, jtype(v));
        double d = json_number_value(v);
        if (t == KILN_F32) {
            float f = (float)d;
            memcpy(p, &f, 4);
        } else {
            memcpy(p, &d, 8);
        }
        return NULL;
    }
    case KILN_BOOL:
        if (!json_is_boolean(v)) return sv_msg("%s: expected true or false, got %s", what, jtype(v));
        *(uint8_t *)p = json_is_true(v);
        return NULL;
    case KILN_F16:
        return sv_msg("%s: float16 inputs are not supported by kiln serve", what);
    default: {
        if (!json_is_integer(v)) return sv_msg("%s: expected an integer (%s), got %s", what, kiln_dtype_name(t), jtype(v));
        json_int_t x = json_integer_value(v);
        int64_t lo = t == KILN_I8 ? INT8_MIN : t == KILN_I16 ? INT16_MIN : t == KILN_I32 ? INT32_MIN : t == KILN_U8 ? 0 : INT64_MIN;
        int64_t hi = t == KILN_I8 ? INT8_MAX : t == KILN_I16 ? INT16_MAX : t == KILN_I32 ? INT32_MAX : t == KILN_U8 ? UINT8_MAX : INT64_MAX;
        if (x < lo || x > hi) return sv_msg("%s: %lld is out of range for %s", what, (long long)x, kiln_dtype_name(t));
        switch (t) {
        case KILN_I8: *(int8_t *)p = (int8_t)x; break;
        case KILN_I16: { int16_t y = (int16_t)x; memcpy(p, &y, 2); break; }
        case KILN_I32: { int32_t y = (int32_t)x; memcpy(p, &y, 4); break; }
        case KILN_U8: *(uint8_t *)p = (uint8_t)x; break;
        default: { int64_t y = x; memcpy(p, &y, 8); break; }
        }
        return NULL;
    }
    }
}

/* v must have shape dims[0..rank); writes its elements row-major at *p. */
static char *fill(const json_t *v, const int64_t *dims, int rank, kiln_dtype t, char **p, const char *what, int depth)
{
    if (json_is_object(v) && json_object_get(v, "b64"))
        return sv_msg("%s: {\"b64\": ...} is for DT_STRING tensors; this input is %s", what, kiln_dtype_name(t));
    if (rank == 0) {
        if (json_is_array(v)) return sv_msg("%s: a list at depth %d, where the shape has %d dims", what, depth, depth);
        char *e = store(v, t, *p, what);
        *p += kiln_dtype_size(t);
        return e;
    }
    if (!json_is_array(v))
        return sv_msg("%s: expected a list of %lld at depth %d, got %s", what, (long long)dims[0], depth, jtype(v));
    if ((int64_t)json_array_size(v) != dims[0])
        return sv_msg("%s: expected a list of %lld at depth %d, got %zu", what, (long long)dims[0], depth, json_array_size(v));
    for (size_t i = 0; i < json_array_size(v); i++) {
        char *e = fill(json_array_get(v, i), dims + 1, rank - 1, t, p, what, depth + 1);
        if (e) return e;
    }
    return NULL;
}

static size_t elems(const int64_t *dims, int rank)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    return n;
}

void sv_request_free(sv_request *r)
{
    for (int i = 0; i < SV_MAX_IO; i++) free(r->in[i]), r->in[i] = NULL;
}

/* The value for feed i in obj (an instance or the "inputs" object), or NULL. */
static const json_t *named(const sv_version *v, const json_t *obj, int i, bool *is_named)
{
    *is_named = false;
    if (v->n_feeds == 1 && !(json_is_object(obj) && !json_object_get(obj, "b64"))) return obj;
    *is_named = true;
    return json_is_object(obj) ? json_object_get(obj, v->feeds[i].alias) : NULL;
}

static char *check_names(const sv_version *v, const json_t *obj, const char *where)
{
    /* One input: a value, or an object naming it ({"b64": ...} is a value, reported by fill). */
    if (v->n_feeds == 1 && (!json_is_object(obj) || json_object_get(obj, "b64"))) return NULL;
    if (!json_is_object(obj)) return sv_msg("%s: expected an object of the inputs by name, got %s", where, jtype(obj));
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        bool ok = false;
        for (int i = 0; i < v->n_feeds; i++) ok |= !strcmp(key, v->feeds[i].alias);
        if (!ok) return sv_msg("%s: '%s' is not an input of the signature", where, key);
    }
    for (int i = 0; i < v->n_feeds; i++)
        if (!json_object_get(obj, v->feeds[i].alias)) return sv_msg("%s: missing input '%s'", where, v->feeds[i].alias);
    return NULL;
}

char *sv_parse_predict(const sv_version *v, const json_t *body, sv_request *r)
{
    memset(r, 0, sizeof *r);
    if (!json_is_object(body)) return sv_msg("the request body must be a JSON object");
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)body, key, val) {
        if (strcmp(key, "instances") && strcmp(key, "inputs") && strcmp(key, "signature_name"))
            return sv_msg("unknown key '%s' in the request (instances, inputs, signature_name)", key);
    }
    const json_t *sig = json_object_get(body, "signature_name");
    if (sig && (!json_is_string(sig) || (strcmp(json_string_value(sig), "serving_default") && *json_string_value(sig))))
        return sv_msg("Serving signature name: \"%s\" not found in signature def", json_is_string(sig) ? json_string_value(sig) : "?");
    const json_t *inst = json_object_get(body, "instances"), *inputs = json_object_get(body, "inputs");
    if (inst && inputs) return sv_msg("Not both 'instances' and 'inputs' may be given");
    if (!inst && !inputs) return sv_msg("Missing 'inputs' or 'instances' key");
    char what[512];
    if (inst) {
        r->row_format = true;
        if (!json_is_array(inst) || !json_array_size(inst)) return sv_msg("'instances' must be a non-empty list");
        int64_t rows = (int64_t)json_array_size(inst);
        if (!v->batched)
            for (int i = 0; i < v->n_feeds; i++)
                if (v->feeds[i].rank < 1 || v->feeds[i].dims[0] != rows)
                    return sv_msg("input '%s' has a fixed shape (no batch dimension: kiln.json has no -1) of %lld rows; "
                               "'instances' has %lld", v->feeds[i].alias,
                               (long long)(v->feeds[i].rank ? v->feeds[i].dims[0] : 0), (long long)rows);
        r->rows = rows;
        for (int i = 0; i < v->n_feeds; i++) {
            size_t rb = elems(v->feeds[i].dims + 1, v->feeds[i].rank - 1) * kiln_dtype_size(v->feeds[i].dtype);
            if (rb && (size_t)rows > SV_MAX_BODY / rb) return sv_msg("too many instances");
            if (!(r->in[i] = malloc((size_t)rows * rb + 1))) return sv_request_free(r), sv_msg("out of memory");
        }
        for (int64_t k = 0; k < rows; k++) {
            const json_t *row = json_array_get(inst, (size_t)k);
            snprintf(what, sizeof what, "instance %lld", (long long)k);
            char *e = check_names(v, row, what);
            if (e) return sv_request_free(r), e;
            for (int i = 0; i < v->n_feeds; i++) {
                bool is_named;
                const json_t *x = named(v, row, i, &is_named);
                size_t rb = elems(v->feeds[i].dims + 1, v->feeds[i].rank - 1) * kiln_dtype_size(v->feeds[i].dtype);
                char *p = (char *)r->in[i] + (size_t)k * rb;
                snprintf(what, sizeof what, "instance %lld, input '%s'", (long long)k, v->feeds[i].alias);
                if ((e = fill(x, v->feeds[i].dims + 1, v->feeds[i].rank - 1, v->feeds[i].dtype, &p, what, 1)))
                    return sv_request_free(r), e;
            }
        }
        return NULL;
    }
    char *e = check_names(v, inputs, "'inputs'");
    if (e) return e;
    r->rows = v->batched ? -1 : 1;
    for (int i = 0; i < v->n_feeds; i++) {
        bool is_named;
        const json_t *x = named(v, inputs, i, &is_named);
        int64_t dims[SV_MAX_RANK];
        memcpy(dims, v->feeds[i].dims, sizeof dims);
        if (v->batched) {
            if (!json_is_array(x) || !json_array_size(x))
                return sv_request_free(r), sv_msg("input '%s': expected a non-empty list (its first dimension is the batch)",
                                               v->feeds[i].alias);
            dims[0] = (int64_t)json_array_size(x);
            if (r->rows >= 0 && dims[0] != r->rows)
                return sv_request_free(r), sv_msg("input '%s' has %lld rows, the inputs before it %lld: every input of a "
                                               "batched signature needs the same batch", v->feeds[i].alias,
                                               (long long)dims[0], (long long)r->rows);
            r->rows = dims[0];
        }
        size_t rb = elems(dims + 1, v->feeds[i].rank - 1) * kiln_dtype_size(v->feeds[i].dtype);
        if (rb && (size_t)dims[0] > SV_MAX_BODY / rb) return sv_request_free(r), sv_msg("input '%s' is too large", v->feeds[i].alias);
        size_t bytes = elems(dims, v->feeds[i].rank) * kiln_dtype_size(v->feeds[i].dtype);
        if (!(r->in[i] = malloc(bytes + 1))) return sv_request_free(r), sv_msg("out of memory");
        char *p = r->in[i];
        snprintf(what, sizeof what, "input '%s'", v->feeds[i].alias);
        if ((e = fill(x, dims, v->feeds[i].rank, v->feeds[i].dtype, &p, what, 0))) return sv_request_free(r), e;
    }
    return NULL;
}

static json_t *value(const char **p, const int64_t *dims, int rank, kiln_dtype t)
{
    if (rank == 0) {
        const char *q = *p;
        *p += kiln_dtype_size(t);
        switch (t) {
        case KILN_F32: { float f; memcpy(&f, q, 4); return isfinite(f) ? json_real(f) : json_null(); }
        case KILN_F64: { double d; memcpy(&d, q, 8); return isfinite(d) ? json_real(d) : json_null(); }
        case KILN_F16: return json_null();
        case KILN_BOOL: return json_boolean(*(const uint8_t *)q);
        case KILN_I8: return json_integer(*(const int8_t *)q);
        case KILN_U8: return json_integer(*(const uint8_t *)q);
        case KILN_I16: { int16_t x; memcpy(&x, q, 2); return json_integer(x); }
        case KILN_I32: { int32_t x; memcpy(&x, q, 4); return json_integer(x); }
        case KILN_I64: { int64_t x; memcpy(&x, q, 8); return json_integer(x); }
        }
        return json_null();
    }
    json_t *a = json_array();
    for (int64_t i = 0; a && i < dims[0]; i++)
        if (json_array_append_new(a, value(p, dims + 1, rank - 1, t))) return json_decref(a), NULL;
    return a;
}

json_t *sv_make_response(const sv_version *v, const sv_request *r, void *const *out, char **err)
{
    *err = NULL;
    if (r->row_format) {
        int64_t rows = r->rows;
        if (!v->batched)
            for (int i = 0; i < v->n_fetches; i++)
                if (v->fetches[i].rank < 1 || v->fetches[i].dims[0] != rows)
                    return *err = sv_msg("output '%s' does not have %lld rows as the instances do; ask with \"inputs\" "
                                      "(columnar) instead", v->fetches[i].alias, (long long)rows), NULL;
        json_t *preds = json_array();
        for (int64_t k = 0; preds && k < rows; k++) {
            json_t *row = v->n_fetches == 1 ? NULL : json_object();
            for (int i = 0; i < v->n_fetches; i++) {
                const sv_spec *s = &v->fetches[i];
                size_t rb = elems(s->dims + 1, s->rank - 1) * kiln_dtype_size(s->dtype);
                const char *p = (const char *)out[i] + (size_t)k * rb;
                json_t *x = value(&p, s->dims + 1, s->rank - 1, s->dtype);
                if (v->n_fetches == 1) row = x;
                else json_object_set_new(row, s->alias, x);
            }
            json_array_append_new(preds, row);
        }
        json_t *res = json_object();
        json_object_set_new(res, "predictions", preds);
        return res;
    }
    json_t *outs = v->n_fetches == 1 ? NULL : json_object();
    for (int i = 0; i < v->n_fetches; i++) {
        const sv_spec *s = &v->fetches[i];
        int64_t dims[SV_MAX_RANK];
        memcpy(dims, s->dims, sizeof dims);
        if (v->batched) dims[0] = r->rows;
        const char *p = out[i];
        json_t *x = value(&p, dims, s->rank, s->dtype);
        if (v->n_fetches == 1) outs = x;
        else json_object_set_new(outs, s->alias, x);
    }
    json_t *res = json_object();
    json_object_set_new(res, "outputs", outs);
    return res;
}

static json_t *tensor_info(const sv_spec *s)
{
    json_t *dim = json_array();
    for (int d = 0; d < s->rank; d++) {
        char b[32];
        snprintf(b, sizeof b, "%lld", (long long)s->dims[d]);
        json_array_append_new(dim, json_pack("{s:s,s:s}", "size", b, "name", ""));
    }
    char name[1024];
    snprintf(name, sizeof name, "%s%s", s->name, strchr(s->name, ':') ? "" : ":0");
    return json_pack("{s:s,s:{s:o,s:b},s:s}", "dtype", sv_dtype_tf(s->dtype), "tensor_shape", "dim", dim,
                     "unknown_rank", 0, "name", name);
}

json_t *sv_signature_json(const sv_version *v)
{
    json_t *in = json_object(), *out = json_object();
    for (int i = 0; i < v->n_feeds; i++) json_object_set_new(in, v->feeds[i].alias, tensor_info(&v->feeds[i]));
    for (int i = 0; i < v->n_fetches; i++) json_object_set_new(out, v->fetches[i].alias, tensor_info(&v->fetches[i]));
    return json_pack("{s:o,s:o,s:s}", "inputs", in, "outputs", out, "method_name", "tensorflow/serving/predict");
}

/* ---- the fast path for numeric row-format bodies ------------------------- */

typedef struct {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static bool take(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* m x 10^e (m < 2^64, |e| <= 27) as strtod rounds it, when one long double
 * operation gives it: m and 10^e (5^27 < 2^64) are exact in a 64-bit
 * mantissa, so the product or quotient is rounded once, and rounding that to
 * double is strtod's answer unless it landed exactly on a halfway point
 * between two doubles (then the first rounding may have made the tie: false,
 * and the caller asks strtod).  glibc's strtod takes ~150 ns on the 17-digit
 * reals Python writes for float32 data (its multi-precision path); this is
 * ~10 ns, and LeNet's 784-number request spent half its server time there. */
bool sv_decimal_to_double(uint64_t m, int e, bool neg, double *out)
{
#if LDBL_MANT_DIG >= 64
    static const long double p10[28] = {1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
                                        1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
                                        1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
    if (e < -27 || e > 27) return false;
    if (!m) {
        *out = neg ? -0.0 : 0.0;
        return true;
    }
    if (m < (1ull << 53) && e >= -22 && e <= 22) { /* Clinger: both exact in double, one rounding */
        static const double d10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                       1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
        double d = e >= 0 ? (double)m * d10[e] : (double)m / d10[-e];
        *out = neg ? -d : d;
        return true;
    }
    long double r = e >= 0 ? (long double)m * p10[e] : (long double)m / p10[-e];
    double d = (double)r;
#if LDBL_MANT_DIG == 64 && (defined(__x86_64__) || defined(__i386__))
    uint64_t mant; /* x87: the 64-bit mantissa, explicit leading bit, in the first 8 bytes; d is never subnormal here */
    memcpy(&mant, &r, 8);
    if ((mant & 0x7ff) == 0x400) return false; /* r is halfway between two doubles */
#else
    long double diff = r - (long double)d; /* exact: d is r rounded */
    if (diff != 0) {
        double nb = nextafter(d, diff > 0 ? INFINITY : -INFINITY);
        if (2 * diff == (long double)nb - (long double)d) return false; /* r is a tie */
    }
#endif
    *out = neg ? -d : d;
    return true;
#else
    (void)m, (void)e, (void)neg, (void)out;
    return false; /* long double is double here: strtod */
#endif
}

/* One JSON number (RFC 8259's grammar, exactly) converted as jansson does:
 * an integer token (no fraction, no exponent) through int64 then double, a
 * real through strtod (or sv_decimal_to_double, which gives strtod's bits).
 * False for anything jansson would refuse (an integer beyond int64: here any
 * of more than 18 digits; a real that overflows) or read otherwise: the
 * caller falls back to jansson. */
/* Eight ASCII digits at once (little-endian word v of the bytes): true and
 * their value when all eight are digits.  Pairs, then fours, then eight, by
 * multiplies on the whole word. */
static bool eight_digits(const char *q, uint64_t *out)
{
    uint64_t v;
    memcpy(&v, q, 8);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    if ((v & 0xF0F0F0F0F0F0F0F0ull) != 0x3030303030303030ull ||
        ((v + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull) != 0x3030303030303030ull)
        return false;
    v -= 0x3030303030303030ull;                            /* byte i: digit i (first digit lowest) */
    v = (v * 10 + (v >> 8)) & 0x00FF00FF00FF00FFull;      /* 16-bit lanes: two-digit numbers */
    v = (v * 100 + (v >> 16)) & 0x0000FFFF0000FFFFull;    /* 32-bit lanes: four-digit numbers */
    *out = (v & 0xFFFFFFFFull) * 10000 + (v >> 32);
    return true;
}

/* The digits at q into m (the first 19 significant ones) and e (m x 10^e is
 * their value; frac: they follow the decimal point); exact stays true while
 * no nonzero digit is dropped. */
static const char *digits(const char *q, const char *end, uint64_t *m, int *sig, int *e, bool *exact, int frac)
{
    uint64_t mm = *m, v;
    int s = *sig, ee = *e;
    bool ex = *exact;
    while (s <= 11 && end - q >= 8 && eight_digits(q, &v)) {
        mm = mm * 100000000 + v;
        s += 8, ee -= 8 * frac, q += 8;
    }
    for (; q < end && is_digit(*q); q++) {
        unsigned dg = (unsigned)(*q - '0');
        if (s < 19) {
            mm = mm * 10 + dg, s++;
            ee -= frac;
        } else {
            ex &= dg == 0;
            ee += 1 - frac;
        }
    }
    *m = mm, *sig = s, *e = ee, *exact = ex;
    return q;
}

/* One JSON number (RFC 8259's grammar, exactly) converted as jansson does:
 * an integer token (no fraction, no exponent) through int64 then double, a
 * real through strtod (or sv_decimal_to_double, which gives strtod's bits).
 * False for anything jansson would refuse (an integer beyond int64: here any
 * of more than 18 digits; a real that overflows) or read otherwise: the
 * caller falls back to jansson. */
static bool number(cursor *c, double *out)
{
    skip_ws(c);
    const char *s = c->p, *q = s;
    bool neg = q < c->end && *q == '-';
    if (neg) q++;
    if (q >= c->end || !is_digit(*q)) return false;
    uint64_t m = 0;
    int sig = 0, e = 0; /* significant digits taken into m (after leading zeros); the value is m x 10^e */
    bool exact = true;  /* every nonzero digit is in m */
    if (*q == '0') q++;
    else q = digits(q, c->end, &m, &sig, &e, &exact, 0); /* starts with a nonzero digit */
    bool real = false;
    if (q < c->end && *q == '.') {
        q++, real = true;
        if (q >= c->end || !is_digit(*q)) return false;
        if (!m)
            for (; q < c->end && *q == '0'; q++) e--; /* leading zeros of 0.00123 */
        q = digits(q, c->end, &m, &sig, &e, &exact, 1);
    }
    if (q < c->end && (*q == 'e' || *q == 'E')) {
        q++, real = true;
        bool eneg = q < c->end && *q == '-';
        if (q < c->end && (*q == '+' || *q == '-')) q++;
        if (q >= c->end || !is_digit(*q)) return false;
        int x = 0;
        for (; q < c->end && is_digit(*q); q++)
            if (x < 100000) x = x * 10 + (*q - '0'); /* beyond that strtod decides (0 or overflow) */
        e += eneg ? -x : x;
        exact &= x < 100000;
    }
    size_t n = (size_t)(q - s);
    if (real) {
        double d;
        if (!exact || !sv_decimal_to_double(m, e, neg, &d)) {
            char tok[72];
            if (n >= sizeof tok) return false; /* jansson's own buffer handles it */
            memcpy(tok, s, n);
            tok[n] = 0; /* strtod sees the token alone (no hex, inf or nan past it) */
            d = strtod(tok, NULL);
            if (isinf(d)) return false; /* jansson: "real number overflow" */
        }
        *out = d;
    } else {
        if (n - neg > 18) return false;           /* maybe beyond int64: jansson's "too big integer" */
        *out = (double)(neg ? -(int64_t)m : (int64_t)m); /* "-0" is the integer 0, as in jansson */
    }
    c->p = q;
    return true;
}

static bool fast_value(cursor *c, const int64_t *dims, int rank, kiln_dtype t, char **p)
{
    if (rank == 0) {
        double d;
        if (!number(c, &d)) return false;
        if (t == KILN_F32) {
            float f = (float)d;
            memcpy(*p, &f, 4);
            *p += 4;
        } else {
            memcpy(*p, &d, 8);
            *p += 8;
        }
        return true;
    }
    if (!take(c, '[')) return false;
    for (int64_t i = 0; i < dims[0]; i++) {
        if (i && !take(c, ',')) return false;
        if (!fast_value(c, dims + 1, rank - 1, t, p)) return false;
    }
    return take(c, ']');
}

/* A JSON string with no escape and no control character (what jansson
 * would decode otherwise is left to jansson): its bytes [*s, *s + *n). */
static bool plain_string(cursor *c, const char **s, size_t *n)
{
    if (!take(c, '"')) return false;
    const char *q = c->p;
    while (q < c->end && *q != '"') {
        if (*q == '\\' || (unsigned char)*q < 0x20) return false;
        q++;
    }
    if (q >= c->end) return false;
    *s = c->p, *n = (size_t)(q - c->p);
    c->p = q + 1;
    return true;
}

static bool is_key(const char *s, size_t n, const char *key) { return strlen(key) == n && !memcmp(s, key, n); }

/* The feed whose alias is the key, or -1. */
static int feed_of(const sv_version *v, const char *s, size_t n)
{
    for (int i = 0; i < v->n_feeds; i++)
        if (is_key(s, n, v->feeds[i].alias)) return i;
    return -1;
}

typedef struct {
    char *buf[SV_MAX_IO];
    size_t cap[SV_MAX_IO];
    int64_t rows[SV_MAX_IO];   /* rows filled per feed */
} fast_bufs;

/* Room for one more row of feed i, then that row parsed into it. */
static bool fast_row(const sv_version *v, cursor *c, fast_bufs *b, int i)
{
    const sv_spec *s = &v->feeds[i];
    size_t rb = sv_row_bytes(s);
    if ((size_t)(b->rows[i] + 1) * rb > SV_MAX_BODY) return false; /* jansson's "too many" / "too large" */
    if ((size_t)(b->rows[i] + 1) * rb + 1 > b->cap[i]) {
        size_t nc = b->cap[i] ? b->cap[i] * 2 : rb * 8 + 1;
        char *t = realloc(b->buf[i], nc);
        if (!t) return false;
        b->buf[i] = t, b->cap[i] = nc;
    }
    char *p = b->buf[i] + (size_t)b->rows[i] * rb;
    if (!fast_value(c, s->dims + 1, s->rank - 1, s->dtype, &p)) return false;
    b->rows[i]++;
    return true;
}

/* {"name": ..., ...} naming every feed once; each value one row (row
 * format) or a non-empty list of rows (columnar). */
static bool fast_named(const sv_version *v, cursor *c, fast_bufs *b, bool rows_list)
{
    bool seen[SV_MAX_IO] = {0};
    int n = 0;
    if (!take(c, '{')) return false;
    do {
        const char *k;
        size_t kn;
        if (!plain_string(c, &k, &kn) || !take(c, ':')) return false;
        int i = feed_of(v, k, kn);
        if (i < 0 || seen[i]) return false; /* not an input, or a duplicate key: jansson's error */
        seen[i] = true, n++;
        if (!rows_list) {
            if (!fast_row(v, c, b, i)) return false;
            continue;
        }
        if (!take(c, '[')) return false;
        do {
            if (!fast_row(v, c, b, i)) return false;
        } while (take(c, ','));
        if (!take(c, ']')) return false;
    } while (take(c, ','));
    return n == v->n_feeds && take(c, '}');
}

static bool peek(cursor *c, char ch)
{
    skip_ws(c);
    return c->p < c->end && *c->p == ch;
}

bool sv_parse_fast(const sv_version *v, const char *body, size_t len, sv_request *r)
{
    memset(r, 0, sizeof *r);
    if (!body || !v->batched) return false;
    for (int i = 0; i < v->n_feeds; i++)
        if ((v->feeds[i].dtype != KILN_F32 && v->feeds[i].dtype != KILN_F64) || !strcmp(v->feeds[i].alias, "b64")) return false;
    fast_bufs b = {0};
    cursor c = {body, body + len};
    bool inst = false, cols = false, sig = false;
    if (!take(&c, '{')) return false;
    do {
        const char *k;
        size_t kn;
        if (!plain_string(&c, &k, &kn) || !take(&c, ':')) goto fallback;
        if (is_key(k, kn, "signature_name")) {
            const char *sv;
            size_t sn;
            if (sig || !plain_string(&c, &sv, &sn) || (sn && !is_key(sv, sn, "serving_default"))) goto fallback;
            sig = true;
        } else if (is_key(k, kn, "instances") && !inst && !cols) {
            inst = true; /* [row, ...]: each row a value (one input) or an object naming every input */
            if (!take(&c, '[')) goto fallback;
            int64_t rows = 0;
            do {
                if (peek(&c, '{') ? !fast_named(v, &c, &b, false) : v->n_feeds != 1 || !fast_row(v, &c, &b, 0)) goto fallback;
                rows++;
            } while (take(&c, ','));
            if (!take(&c, ']')) goto fallback;
            for (int i = 0; i < v->n_feeds; i++)
                if (b.rows[i] != rows) goto fallback;
        } else if (is_key(k, kn, "inputs") && !inst && !cols) {
            cols = true; /* a list of rows (one input) or an object of such lists by name, all of one batch */
            if (peek(&c, '{')) {
                if (!fast_named(v, &c, &b, true)) goto fallback;
            } else {
                if (v->n_feeds != 1 || !take(&c, '[')) goto fallback;
                do {
                    if (!fast_row(v, &c, &b, 0)) goto fallback;
                } while (take(&c, ','));
                if (!take(&c, ']')) goto fallback;
            }
            for (int i = 1; i < v->n_feeds; i++)
                if (b.rows[i] != b.rows[0]) goto fallback; /* jansson says which */
        } else {
            goto fallback; /* another key, or instances / inputs twice */
        }
    } while (take(&c, ','));
    if (!take(&c, '}') || (!inst && !cols)) goto fallback;
    skip_ws(&c);
    if (c.p != c.end || b.rows[0] < 1) goto fallback;
    r->row_format = inst;
    r->rows = b.rows[0];
    for (int i = 0; i < v->n_feeds; i++) r->in[i] = b.buf[i];
    return true;
fallback:
    for (int i = 0; i < SV_MAX_IO; i++) free(b.buf[i]);
    return false;
}
