/* serve/sv_example.c — REST's :classify / :regress bodies (TF Serving's
 * JSON: {"signature_name", "context", "examples": [{feature: value}, ...]})
 * into the tf.Example Input message that gRPC's Classify / Regress carry
 * (serve/proto/serving.proto), so that both APIs take one path
 * (sv_pb_infer); and the answer back into {"results": ...}.  A value is a
 * number, a string ({"b64": ...} too) or a flat list of them: integers make
 * an int64_list, a list holding any other number a float_list, strings a
 * bytes_list (which Kiln cannot feed: the error comes from sv_pb_infer). */
#define _GNU_SOURCE
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/sv_example.h"

void *sv_arena_alloc(sv_arena *a, size_t n)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        void **t = realloc(a->blocks, cap * sizeof *t);
        if (!t) return NULL;
        a->blocks = t, a->cap = cap;
    }
    void *p = calloc(1, n ? n : 1);
    if (p) a->blocks[a->n++] = p;
    return p;
}

void sv_arena_free(sv_arena *a)
{
    for (size_t i = 0; i < a->n; i++) free(a->blocks[i]);
    free(a->blocks);
    memset(a, 0, sizeof *a);
}

/* One feature value into f; NULL or a message to free. */
static char *feature_json(sv_arena *a, const char *name, const json_t *val, Kiln__Serving__Feature *f)
{
    kiln__serving__feature__init(f);
    const json_t *one[1] = {val};
    const json_t *const *items = one;
    size_t n = 1;
    json_t **list = NULL;
    if (json_is_array(val)) {
        n = json_array_size(val);
        if (!(list = sv_arena_alloc(a, (n + 1) * sizeof *list))) return sv_msg("out of memory");
        for (size_t i = 0; i < n; i++) list[i] = json_array_get(val, i);
        items = (const json_t *const *)list;
    }
    int ints = 0, reals = 0, strings = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *x = items[i];
        if (json_is_integer(x)) ints++;
        else if (json_is_real(x)) reals++;
        else if (json_is_string(x) || (json_is_object(x) && json_object_size(x) == 1 && json_is_string(json_object_get(x, "b64"))))
            strings++;
        else
            return sv_msg("feature '%s': a value is a number, a string, {\"b64\": string} or a flat list of one of them", name);
    }
    if (strings && (ints || reals)) return sv_msg("feature '%s': a list mixes strings and numbers", name);
    if (strings) {
        Kiln__Serving__BytesList *b = sv_arena_alloc(a, sizeof *b);
        ProtobufCBinaryData *d = sv_arena_alloc(a, (n + 1) * sizeof *d);
        if (!b || !d) return sv_msg("out of memory");
        kiln__serving__bytes_list__init(b);
        for (size_t i = 0; i < n; i++) {
            const json_t *x = json_is_object(items[i]) ? json_object_get(items[i], "b64") : items[i];
            d[i].data = (uint8_t *)json_string_value(x); /* kept as sent: Kiln feeds no bytes */
            d[i].len = json_string_length(x);
        }
        b->n_value = n, b->value = d;
        f->bytes_list = b;
    } else if (reals) {
        Kiln__Serving__FloatList *l = sv_arena_alloc(a, sizeof *l);
        float *v = sv_arena_alloc(a, (n + 1) * sizeof *v);
        if (!l || !v) return sv_msg("out of memory");
        kiln__serving__float_list__init(l);
        for (size_t i = 0; i < n; i++) {
            double x = json_number_value(items[i]);
            if (isfinite(x) && fabs(x) > FLT_MAX)
                return sv_msg("feature '%s': %g loses precision as a float (a float_list holds 32-bit floats)", name, x);
            v[i] = (float)x;
        }
        l->n_value = n, l->value = v;
        f->float_list = l;
    } else {
        Kiln__Serving__Int64List *l = sv_arena_alloc(a, sizeof *l);
        int64_t *v = sv_arena_alloc(a, (n + 1) * sizeof *v);
        if (!l || !v) return sv_msg("out of memory");
        kiln__serving__int64_list__init(l);
        for (size_t i = 0; i < n; i++) v[i] = (int64_t)json_integer_value(items[i]);
        l->n_value = n, l->value = v;
        f->int64_list = l;
    }
    return NULL;
}

static char *example_json(sv_arena *a, const json_t *obj, const char *what, Kiln__Serving__Example **out)
{
    if (!json_is_object(obj)) return sv_msg("%s must be an object of features ({\"name\": value, ...})", what);
    Kiln__Serving__Example *ex = sv_arena_alloc(a, sizeof *ex);
    Kiln__Serving__Features *fs = sv_arena_alloc(a, sizeof *fs);
    size_t n = json_object_size(obj);
    Kiln__Serving__Features__Entry *e = sv_arena_alloc(a, (n + 1) * sizeof *e), **ep = sv_arena_alloc(a, (n + 1) * sizeof *ep);
    Kiln__Serving__Feature *f = sv_arena_alloc(a, (n + 1) * sizeof *f);
    if (!ex || !fs || !e || !ep || !f) return sv_msg("out of memory");
    kiln__serving__example__init(ex);
    kiln__serving__features__init(fs);
    size_t k = 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        kiln__serving__features__entry__init(&e[k]);
        char *err = feature_json(a, key, val, &f[k]);
        if (err) {
            char *m = sv_msg("%s: %s", what, err);
            free(err);
            return m;
        }
        e[k].key = (char *)key, e[k].value = &f[k], ep[k] = &e[k];
        k++;
    }
    fs->n_feature = k, fs->feature = ep;
    ex->features = fs;
    *out = ex;
    return NULL;
}

char *sv_json_input(const json_t *body, sv_arena *a, Kiln__Serving__Input *in, const char **signature)
{
    kiln__serving__input__init(in);
    *signature = "";
    if (!json_is_object(body)) return sv_msg("the request body must be a JSON object with \"examples\"");
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)body, key, val) {
        if (strcmp(key, "examples") && strcmp(key, "context") && strcmp(key, "signature_name"))
            return sv_msg("unknown key \"%s\" (examples, context, signature_name)", key);
    }
    json_t *sig = json_object_get(body, "signature_name");
    if (sig && !json_is_string(sig)) return sv_msg("'signature_name' key must be a string value.");
    if (sig) *signature = json_string_value(sig);
    json_t *exs = json_object_get(body, "examples"), *ctx = json_object_get(body, "context");
    if (!json_is_array(exs)) return sv_msg("'examples' key must be an array of objects (the tf.Examples)");
    size_t n = json_array_size(exs);
    Kiln__Serving__Example **ep = sv_arena_alloc(a, (n + 1) * sizeof *ep);
    if (!ep) return sv_msg("out of memory");
    for (size_t i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof what, "examples[%zu]", i);
        char *err = example_json(a, json_array_get(exs, i), what, &ep[i]);
        if (err) return err;
    }
    if (ctx) {
        Kiln__Serving__ExampleListWithContext *l = sv_arena_alloc(a, sizeof *l);
        if (!l) return sv_msg("out of memory");
        kiln__serving__example_list_with_context__init(l);
        char *err = example_json(a, ctx, "context", &l->context);
        if (err) return err;
        l->n_examples = n, l->examples = ep;
        in->example_list_with_context = l;
    } else {
        Kiln__Serving__ExampleList *l = sv_arena_alloc(a, sizeof *l);
        if (!l) return sv_msg("out of memory");
        kiln__serving__example_list__init(l);
        l->n_examples = n, l->examples = ep;
        in->example_list = l;
    }
    return NULL;
}

static json_t *num(float x) { return isfinite(x) ? json_real(x) : json_null(); } /* JSON has no NaN or infinities */

json_t *sv_infer_json(const sv_infer *r, bool classify)
{
    json_t *res = json_array();
    for (int64_t i = 0; res && i < r->rows; i++) {
        if (!classify) {
            if (json_array_append_new(res, num(r->values[i]))) goto oom;
            continue;
        }
        json_t *row = json_array();
        if (json_array_append_new(res, row)) goto oom;
        for (int64_t j = 0; j < r->cols; j++)
            if (json_array_append_new(row, json_pack("[s,o]", r->labels[j], num(r->values[i * r->cols + j])))) goto oom;
    }
    return res ? json_pack("{s:o}", "results", res) : NULL;
oom:
    json_decref(res);
    return NULL;
}
