/* tests/fuzz/serve_fuzz.c — the request parser of `kiln serve` (untrusted
 * bytes from the network): JSON -> sv_parse_predict -> sv_make_response
 * against a batched two-input and an unbatched one-input signature, the
 * same bytes as a text-format config (sv_tp_parse), and differentially the
 * fast path (sv_parse_fast) against jansson + sv_parse_predict for two
 * one-input float signatures and a two-input one (float32 and float64):
 * whatever the fast path takes, jansson must take too, in the same format,
 * with the same rows and the same bytes of every input, else abort.
 *   libFuzzer: `cmake --build B --target fuzz_serve`, then
 *              `B/bin/fuzz_serve -runs=1000000 CORPUS tests/serve/requests`
 *   ctest serve_asan: this file with -DSERVE_FUZZ_MAIN under ASan/UBSan runs
 *              the seed requests and deterministic mutations of them. */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/sv.h"

/* The two dtype helpers of the API, so the harness needs no compiler. */
size_t kiln_dtype_size(kiln_dtype t)
{
    static const size_t s[] = {4, 2, 8, 1, 2, 4, 8, 1, 1};
    return (unsigned)t < 9 ? s[t] : 0;
}
const char *kiln_dtype_name(kiln_dtype t)
{
    static const char *n[] = {"float32", "float16", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"};
    return (unsigned)t < 9 ? n[t] : "?";
}

static sv_version batched, fixed, single, flat, duo;

static void setup(void)
{
    static bool done;
    if (done) return;
    done = true;
    batched.batched = true;
    batched.n_feeds = 2;
    batched.feeds[0] = (sv_spec){"x", "x", KILN_F32, 2, {-1, 4}};
    batched.feeds[1] = (sv_spec){"k", "k", KILN_I32, 3, {-1, 2, 2}};
    batched.n_fetches = 2;
    batched.fetches[0] = (sv_spec){"y", "y", KILN_F32, 2, {-1, 3}};
    batched.fetches[1] = (sv_spec){"b", "b", KILN_BOOL, 1, {-1}};
    fixed.n_feeds = 1;
    fixed.feeds[0] = (sv_spec){"x", "x", KILN_U8, 2, {3, 2}};
    fixed.n_fetches = 1;
    fixed.fetches[0] = (sv_spec){"y", "y", KILN_I64, 2, {3, 1}};
    single.batched = flat.batched = true;
    single.n_feeds = flat.n_feeds = single.n_fetches = flat.n_fetches = 1;
    single.feeds[0] = (sv_spec){"x", "x", KILN_F32, 3, {-1, 2, 2}};
    single.fetches[0] = (sv_spec){"y", "y", KILN_F32, 2, {-1, 3}};
    flat.feeds[0] = (sv_spec){"x", "x", KILN_F64, 1, {-1}};
    flat.fetches[0] = (sv_spec){"y", "y", KILN_F64, 1, {-1}};
    duo.batched = true; /* two float inputs of different dtypes and ranks: the fast path's named forms */
    duo.n_feeds = 2, duo.n_fetches = 1;
    duo.feeds[0] = (sv_spec){"x", "x", KILN_F32, 2, {-1, 2}};
    duo.feeds[1] = (sv_spec){"dd", "d", KILN_F64, 3, {-1, 1, 2}};
    duo.fetches[0] = (sv_spec){"y", "y", KILN_F32, 1, {-1}};
}

/* The fast path against jansson's: true when the fast path took the body. */
static bool diff(const sv_version *v, const uint8_t *data, size_t size)
{
    sv_request f;
    if (!sv_parse_fast(v, (const char *)data, size, &f)) return false;
    json_error_t je;
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (!j) abort(); /* the fast path took what jansson refuses */
    sv_request r;
    char *e = sv_parse_predict(v, j, &r);
    if (e) abort();
    if (f.row_format != r.row_format || f.rows != r.rows || f.rows < 1) abort();
    for (int i = 0; i < v->n_feeds; i++)
        if (memcmp(f.in[i], r.in[i], (size_t)f.rows * sv_row_bytes(&v->feeds[i]))) abort();
    json_decref(j);
    sv_request_free(&r);
    sv_request_free(&f);
    return true;
}

static void one(const sv_version *v, const json_t *j)
{
    sv_request r;
    char *e = sv_parse_predict(v, j, &r);
    if (e) {
        if (!*e) abort(); /* an error without a message */
        free(e);
        return;
    }
    int64_t rows = v->batched ? r.rows : 1;
    if (rows < 1 || rows > (1 << 24)) abort();
    void *out[SV_MAX_IO] = {0};
    for (int i = 0; i < v->n_fetches; i++) {
        out[i] = calloc((size_t)rows, sv_row_bytes(&v->fetches[i]) + 1);
        if (!out[i]) abort();
    }
    char *err = NULL;
    json_t *res = sv_make_response(v, &r, out, &err);
    char *s = res ? json_dumps(res, JSON_COMPACT) : NULL;
    if (!res && !err) abort();
    free(s);
    free(err);
    json_decref(res);
    for (int i = 0; i < SV_MAX_IO; i++) free(out[i]);
    sv_request_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    diff(&single, data, size);
    diff(&flat, data, size);
    diff(&duo, data, size);
    json_error_t je;
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (j) {
        one(&batched, j);
        one(&fixed, j);
        json_decref(j);
    }
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    char err[256];
    sv_tp *t = sv_tp_parse(text, err, sizeof err);
    if (!t && !err[0]) abort();
    sv_tp_free(t);
    free(text);
    return 0;
}

#ifdef SERVE_FUZZ_MAIN
/* Seeds, then deterministic mutations of them: byte flips, inserts of JSON
 * punctuation, truncations, splices. */
static const char *seeds[] = {
    "{\"instances\": [{\"x\": [1,2,3,4], \"k\": [[1,2],[3,4]]}, {\"x\": [0.5,-1,1e30,4], \"k\": [[0,0],[0,-7]]}]}",
    "{\"inputs\": {\"x\": [[1,2,3,4]], \"k\": [[[1,2],[3,4]]]}, \"signature_name\": \"serving_default\"}",
    "{\"instances\": [[1,2],[3,4],[5,6]]}",
    "{\"inputs\": [[1,2],[3,4],[255,0]]}",
    "{\"inputs\": {\"x\": [[1,2],[3,4],[5,6]]}}",
    "{\"instances\": [{\"b64\": \"AAAA\"}]}",
    "model_config_list { config { name: 'a' base_path: \"/m\" model_version_policy { specific { versions: 1 } } } }",
    "max_batch_size { value: 8 }\nallowed_batch_sizes: 4 # c\n",
    "{\"instances\": [[[1,2],[3,4]], [[-0.5e3, 1E-2], [0.1, -0]]]}",
    " {\n\"instances\" :\t[ 1.5 , -2 , 3e-320 , 123456789012345678 , 0.30000000000000004 ] } ",
    "{\"signature_name\": \"\", \"inputs\": {\"d\": [[[1, 2]], [[3, 4.5]]], \"x\": [[5, 6], [7, -8e-3]]}}",
    "{\"instances\": [{\"x\": [1, 2], \"d\": [[3, 4]]}, {\"d\": [[0.5, 6]], \"x\": [-7, 8]}]}",
};

/* Bodies the fast path must take (and give jansson's bytes for), and ones it must leave to jansson. */
static const char *fast_yes[] = {
    "{\"instances\": [[[1,2],[3,4]]]}",
    "{\"instances\":[[[1.25,-2],[3e2,4E-1]],[[0,-0],[-0.0,1e-400]]]}",
    "{\"instances\": [[[1,2],[3,4]]], \"signature_name\": \"\"}",
    "{\"signature_name\": \"serving_default\", \"instances\": [[[1,2],[3,4]]]}",
    "{\"instances\": [{\"x\": [[1,2],[3,4]]}]}",
    "{\"inputs\": [[[1,2],[3,4]]]}",
    "{\"inputs\": {\"x\": [[[1,2],[3,4]], [[5,6],[7,8]]]}}",
};
/* The same for the two-input signature (x [-1,2] float32, d [-1,1,2] float64). */
static const char *fast_yes_duo[] = {
    "{\"inputs\": {\"x\": [[1,2],[3,4]], \"d\": [[[5,6]],[[7,8]]]}}",
    "{\"instances\": [{\"d\": [[5,6]], \"x\": [1,2]}]}",
};
static const char *fast_no_duo[] = {
    "{\"inputs\": {\"x\": [[1,2],[3,4]], \"d\": [[[5,6]]]}}",                    /* rows differ */
    "{\"inputs\": {\"x\": [[1,2]]}}",                                              /* d missing */
    "{\"inputs\": {\"x\": [[1,2]], \"d\": [[[5,6]]], \"x\": [[1,2]]}}",          /* a duplicate key */
    "{\"inputs\": {\"x\": [[1,2]], \"dd\": [[[5,6]]]}}",                          /* the tensor name, not the alias */
    "{\"inputs\": [[1,2]]}",                                                       /* two inputs, not named */
    "{\"instances\": [{\"x\": [1,2], \"d\": [[5,6]]}, {\"x\": [1,2]}]}",          /* a row without d */
    "{\"inputs\": {\"x\": [], \"d\": []}}",
};
static const char *fast_no[] = {
    "{\"instances\": [[[1,2],[3,4]]], \"signature_name\": \"other\"}", /* jansson's error */
    "{\"instances\": [[[1,2],[3,4]]], \"signature_name\": \"\", \"signature_name\": \"\"}",
    "{\"instances\": [[[1,2],[3,4]]], \"inputs\": [[[1,2],[3,4]]]}",
    "{\"\\u0069nstances\": [[[1,2],[3,4]]]}",                     /* an escape: jansson decodes it */
    "{\"instances\": [[[1,2],[3,4]]], \"other\": 1}",
    "{\"inputs\": []}",
    "{\"inputs\": {\"x\": []}}",
    "{\"instances\": [{\"x\": [[1,2],[3,4]], \"b64\": \"AAAA\"}]}",
    "{\"instances\": [[[1,2],[3,01]]]}",                          /* a leading zero: jansson's error */
    "{\"instances\": [[[1,2],[3,1e400]]]}",                       /* overflow: jansson's error */
    "{\"instances\": [[[1,2],[3,1234567890123456789]]]}",         /* 19 digits: jansson decides */
    "{\"instances\": [[[1,2],[3,0x10]]]}",
    "{\"instances\": [[[1,2],[3,4]]]",
    "{\"instances\": [[[1,2],[3,4]]]} x",
    "{\"instances\": []}",
    "{\"instances\": [[[1,2],[3,4,5]]]}",
    "{\"instances\": [[[1,2],[3,-]]]}",
    "{\"instances\": [[[1,2],[3,.5]]]}",
    "{\"instances\": [[[1,2],[3,NaN]]]}",
};

/* sv_decimal_to_double against strtod: random m x 10^e, and as request bodies (the flat float64 signature, through
 * diff(): fast path vs jansson) random doubles and floats printed at every precision, exact ties between two doubles
 * (which it must leave to strtod) and their neighbours.  Returns 0 when all agree. */
static uint64_t rnd(uint64_t *st) { return *st ^= *st << 13, *st ^= *st >> 7, *st ^= *st << 17; }

static int numbers_check(long iters)
{
    uint64_t st = 0x9E3779B97F4A7C15ull;
    long taken = 0, tried = 0;
    for (long i = 0; i < iters; i++) {
        uint64_t m = rnd(&st) >> (rnd(&st) % 64);
        int e = (int)(rnd(&st) % 55) - 27;
        bool neg = rnd(&st) & 1;
        char tok[64];
        snprintf(tok, sizeof tok, "%s%llue%d", neg ? "-" : "", (unsigned long long)m, e);
        double want = strtod(tok, NULL), got;
        tried++;
        if (!sv_decimal_to_double(m, e, neg, &got)) continue;
        taken++;
        if (memcmp(&want, &got, sizeof got)) {
            fprintf(stderr, "serve_fuzz: %s: strtod %.17g, sv_decimal_to_double %.17g\n", tok, want, got);
            return 1;
        }
    }
    if (taken < tried * 99 / 100) { /* the fast conversion must be the common case, or it is not tested */
        fprintf(stderr, "serve_fuzz: sv_decimal_to_double took only %ld of %ld\n", taken, tried);
        return 1;
    }
    long ties = 0;
    for (int k = 0; k <= 3; k++) /* (2^53 + odd) / 2^k with k+1 fraction digits at most: exactly between two doubles */
        for (int j = 0; j < 200; j++) {
            uint64_t n = (1ull << 53) + 2 * (rnd(&st) % (1ull << 40)) + 1;
            char tok[64];
            /* n / 2^k printed exactly: n * 5^k / 10^k */
            uint64_t p5 = 1;
            for (int q = 0; q < k; q++) p5 *= 5;
            snprintf(tok, sizeof tok, "%llue-%d", (unsigned long long)(n * p5), k);
            double got, want = strtod(tok, NULL);
            if (sv_decimal_to_double(n * p5, -k, false, &got)) {
                if (memcmp(&want, &got, sizeof got)) {
                    fprintf(stderr, "serve_fuzz: tie %s: strtod %.17g, got %.17g\n", tok, want, got);
                    return 1;
                }
            } else
                ties++;
        }
    if (!ties) {
        fprintf(stderr, "serve_fuzz: no tie was left to strtod\n");
        return 1;
    }
    char body[8192];
    for (long b = 0; b < iters / 64; b++) {
        size_t n = (size_t)snprintf(body, sizeof body, "{\"instances\": [");
        for (int i = 0; i < 64; i++) {
            uint64_t r = rnd(&st), bits = rnd(&st);
            double d;
            float f;
            char tok[64];
            bool printed = false;
            switch (r % 4) {
            case 0: memcpy(&d, &bits, 8); break;
            case 1: memcpy(&f, &bits, 4), d = f; break;
            case 2: { /* a tie of two doubles or its neighbours, as a decimal */
                uint64_t t = (1ull << 53) + 2 * (bits % (1ull << 40)) + 1 + (r >> 8) % 3 - 1;
                snprintf(tok, sizeof tok, "%llu.%s", (unsigned long long)t, (r >> 12) & 1 ? "0" : "5");
                printed = true;
                break;
            }
            default: d = (double)(int64_t)(bits % 2000001) / (double)(1 + (r >> 8) % 1000); break;
            }
            if (!printed) {
                if (d != d || isinf(d)) d = 1.5;
                if (fabs(d) > 1e300) d = 2.25; /* jansson refuses what overflows */
                snprintf(tok, sizeof tok, "%.*g", 1 + (int)((r >> 20) % 19), d);
                if (!strpbrk(tok, ".e") && strlen(tok) > 18) strcat(tok, ".0"); /* an integer token past int64's 18 digits is jansson's */
            }
            n += (size_t)snprintf(body + n, sizeof body - n, "%s%s", i ? ", " : "", tok);
        }
        n += (size_t)snprintf(body + n, sizeof body - n, "]}");
        if (!diff(&flat, (const uint8_t *)body, n)) { /* every token is a JSON number: the fast path must take it */
            fprintf(stderr, "serve_fuzz: the fast path refused %.200s...\n", body);
            return 1;
        }
    }
    printf("serve_fuzz: numbers: %ld of %ld converted without strtod, all equal to it; %ld ties left to strtod; %ld "
           "bodies of 64 numbers equal to jansson's\n", taken, tried, ties, iters / 64);
    return 0;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 200000;
    const char punct[] = "{}[],:\"0123456789.-e ntfb";
    uint64_t st = 88172645463325252ull;
    char buf[4096];
    size_t ns = sizeof seeds / sizeof seeds[0];
    setup();
    if (numbers_check(iters * 5)) return 1;
    for (size_t i = 0; i < sizeof fast_yes / sizeof *fast_yes; i++)
        if (!diff(&single, (const uint8_t *)fast_yes[i], strlen(fast_yes[i]))) {
            fprintf(stderr, "serve_fuzz: the fast path refused %s\n", fast_yes[i]);
            return 1;
        }
    for (size_t i = 0; i < sizeof fast_no / sizeof *fast_no; i++)
        if (diff(&single, (const uint8_t *)fast_no[i], strlen(fast_no[i]))) {
            fprintf(stderr, "serve_fuzz: the fast path took %s\n", fast_no[i]);
            return 1;
        }
    for (size_t i = 0; i < sizeof fast_yes_duo / sizeof *fast_yes_duo; i++)
        if (!diff(&duo, (const uint8_t *)fast_yes_duo[i], strlen(fast_yes_duo[i]))) {
            fprintf(stderr, "serve_fuzz: the fast path refused %s\n", fast_yes_duo[i]);
            return 1;
        }
    for (size_t i = 0; i < sizeof fast_no_duo / sizeof *fast_no_duo; i++)
        if (diff(&duo, (const uint8_t *)fast_no_duo[i], strlen(fast_no_duo[i]))) {
            fprintf(stderr, "serve_fuzz: the fast path took %s\n", fast_no_duo[i]);
            return 1;
        }
    for (size_t i = 0; i < ns; i++) LLVMFuzzerTestOneInput((const uint8_t *)seeds[i], strlen(seeds[i]));
    for (long it = 0; it < iters; it++) {
        st ^= st << 13, st ^= st >> 7, st ^= st << 17;
        const char *s = seeds[st % ns];
        size_t n = strlen(s);
        memcpy(buf, s, n);
        int muts = 1 + (int)((st >> 8) % 4);
        for (int m = 0; m < muts; m++) {
            st ^= st << 13, st ^= st >> 7, st ^= st << 17;
            size_t at = n ? (st >> 16) % n : 0;
            switch ((st >> 4) % 5) {
            case 0: buf[at] = (char)(st >> 24); break;
            case 1: buf[at] = punct[(st >> 32) % (sizeof punct - 1)]; break;
            case 2: if (n + 1 < sizeof buf) { memmove(buf + at + 1, buf + at, n - at); buf[at] = punct[(st >> 40) % (sizeof punct - 1)]; n++; } break;
            case 3: n = at; break;
            case 4: { const char *o = seeds[(st >> 48) % ns]; size_t on = strlen(o), from = (st >> 20) % (on ? on : 1);
                      size_t k = on - from; if (at + k < sizeof buf) { memcpy(buf + at, o + from, k); n = at + k; } break; }
            }
        }
        LLVMFuzzerTestOneInput((const uint8_t *)buf, n);
    }
    printf("serve_fuzz: %ld mutated inputs, no crash\n", iters + (long)ns);
    return 0;
}
#endif
