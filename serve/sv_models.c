/* serve/sv_models.c — model directories and their versions.
 *
 * BASE/<version>/ holds the model (model.pb or model.onnx, or the one .pb /
 * .onnx file there) and kiln.json (feeds, fetches, shapes, batch sizes;
 * docs/serving.md).  Every poll lists BASE, decides by the version policy
 * which versions should be served, compiles the new ones through the JIT
 * (off the request path: requests keep using what is AVAILABLE), runs each
 * compiled batch size once (warm-up), then publishes it; versions the
 * policy drops go UNLOADING and are freed once no request holds them.  A
 * version that fails to load is END with its error and never replaces a
 * good one; it is retried when its directory's files change. */
#define _GNU_SOURCE /* asprintf, strndup */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "serve/sv.h"

const char *sv_state_name(enum sv_state st)
{
    switch (st) {
    case SV_START: return "START";
    case SV_LOADING: return "LOADING";
    case SV_AVAILABLE: return "AVAILABLE";
    case SV_UNLOADING: return "UNLOADING";
    case SV_END: return "END";
    }
    return "UNKNOWN";
}


/* ---- kiln.json ----------------------------------------------------------- */

static void spec_free(sv_spec *s)
{
    free(s->name);
    free(s->alias);
    memset(s, 0, sizeof *s);
}

/* One entry of "feeds"/"fetches": "name" or {"name":, "alias":, "shape": [...]}. */
static char *spec_parse(json_t *e, sv_spec *s, bool *has_shape, const char *what, int i)
{
    memset(s, 0, sizeof *s);
    *has_shape = false;
    const char *name = json_is_string(e) ? json_string_value(e) : json_string_value(json_object_get(e, "name"));
    if (!name || !*name) return sv_msg("kiln.json: %s[%d] needs a \"name\"", what, i);
    const char *alias = json_is_object(e) ? json_string_value(json_object_get(e, "alias")) : NULL;
    if (!alias) { /* TF Serving's keys: the tensor name without ":0" */
        size_t n = strlen(name);
        alias = name;
        if (n > 2 && !strcmp(name + n - 2, ":0")) {
            s->alias = strndup(name, n - 2);
            alias = NULL;
        }
    }
    s->name = strdup(name);
    if (alias) s->alias = strdup(alias);
    if (!s->name || !s->alias) return sv_msg("out of memory");
    json_t *shape = json_is_object(e) ? json_object_get(e, "shape") : NULL;
    if (shape) {
        if (!json_is_array(shape) || json_array_size(shape) > SV_MAX_RANK)
            return sv_msg("kiln.json: %s '%s': \"shape\" must be a list of at most %d dims", what, name, SV_MAX_RANK);
        s->rank = (int)json_array_size(shape);
        for (int d = 0; d < s->rank; d++) {
            json_t *v = json_array_get(shape, (size_t)d);
            if (!json_is_integer(v) || json_integer_value(v) < -1 || (d > 0 && json_integer_value(v) < 0))
                return sv_msg("kiln.json: %s '%s': dim %d must be a size >= 0 (or -1 for the batch, dim 0 only)", what,
                           name, d);
            s->dims[d] = json_integer_value(v);
        }
        *has_shape = true;
    }
    return NULL;
}

typedef struct {
    int n_feeds, n_fetches;
    sv_spec feeds[SV_MAX_IO], fetches[SV_MAX_IO];
    bool feed_shape[SV_MAX_IO];
    int n_batch;
    int64_t batch[SV_MAX_PROGS];
    int n_classes;
    char **classes;
} manifest;

static void manifest_free(manifest *m)
{
    for (int i = 0; i < m->n_feeds; i++) spec_free(&m->feeds[i]);
    for (int i = 0; i < m->n_fetches; i++) spec_free(&m->fetches[i]);
    for (int i = 0; i < m->n_classes; i++) free(m->classes[i]);
    free(m->classes);
}

static char *manifest_read(const char *dir, manifest *mf)
{
    memset(mf, 0, sizeof *mf);
    char path[8192];
    if (snprintf(path, sizeof path, "%s/kiln.json", dir) >= (int)sizeof path) return sv_msg("%s: path too long", dir);
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j) return errno == ENOENT && je.line < 0 ? sv_msg("%s: missing (feeds and fetches of the model)", path)
                                                  : sv_msg("%s:%d: %s", path, je.line, je.text);
    char *err = NULL;
    const char *key;
    json_t *val;
    json_object_foreach(j, key, val) {
        if (strcmp(key, "feeds") && strcmp(key, "fetches") && strcmp(key, "batch_sizes") && strcmp(key, "classes") &&
            strcmp(key, "comment")) {
            err = sv_msg("%s: unknown key \"%s\" (feeds, fetches, batch_sizes, classes)", path, key);
            goto out;
        }
    }
    json_t *feeds = json_object_get(j, "feeds"), *fetches = json_object_get(j, "fetches");
    if (!json_is_array(feeds) || !json_array_size(feeds) || json_array_size(feeds) > SV_MAX_IO ||
        !json_is_array(fetches) || !json_array_size(fetches) || json_array_size(fetches) > SV_MAX_IO) {
        err = sv_msg("%s: \"feeds\" and \"fetches\" must be lists of 1 to %d tensors", path, SV_MAX_IO);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(feeds); i++, mf->n_feeds++)
        if ((err = spec_parse(json_array_get(feeds, i), &mf->feeds[i], &mf->feed_shape[i], "feeds", (int)i))) goto out;
    bool dummy;
    for (size_t i = 0; i < json_array_size(fetches); i++, mf->n_fetches++)
        if ((err = spec_parse(json_array_get(fetches, i), &mf->fetches[i], &dummy, "fetches", (int)i))) goto out;
    json_t *bs = json_object_get(j, "batch_sizes");
    if (bs) {
        if (!json_is_array(bs) || !json_array_size(bs) || json_array_size(bs) > SV_MAX_PROGS) {
            err = sv_msg("%s: \"batch_sizes\" must be a list of 1 to %d sizes", path, SV_MAX_PROGS);
            goto out;
        }
        for (size_t i = 0; i < json_array_size(bs); i++) {
            json_t *v = json_array_get(bs, i);
            if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > (1 << 20) ||
                (i && json_integer_value(v) <= mf->batch[i - 1])) {
                err = sv_msg("%s: \"batch_sizes\" must be ascending sizes from 1 to 2^20", path);
                goto out;
            }
            mf->batch[mf->n_batch++] = json_integer_value(v);
        }
    }
    json_t *cl = json_object_get(j, "classes"); /* Classify's labels of the score columns */
    if (cl) {
        size_t n = json_array_size(cl);
        if (!json_is_array(cl) || !n || n > (1u << 20) || !(mf->classes = calloc(n, sizeof *mf->classes))) {
            err = sv_msg("%s: \"classes\" must be a list of 1 to 2^20 labels (strings)", path);
            goto out;
        }
        for (size_t i = 0; i < n; i++, mf->n_classes++) {
            const char *l = json_string_value(json_array_get(cl, i));
            if (!l) {
                err = sv_msg("%s: \"classes\"[%zu] is not a string", path, i);
                goto out;
            }
            if (!(mf->classes[i] = strdup(l))) {
                err = sv_msg("out of memory");
                goto out;
            }
        }
    }
out:
    json_decref(j);
    return err;
}

/* ---- loading ------------------------------------------------------------- */

static char *model_file(const char *dir)
{
    char path[8192];
    const char *names[] = {"model.pb", "model.onnx"};
    struct stat st;
    for (int i = 0; i < 2; i++) {
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path) return NULL;
        if (!stat(path, &st) && S_ISREG(st.st_mode)) return strdup(path);
    }
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char *found = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if ((l > 3 && !strcmp(e->d_name + l - 3, ".pb")) || (l > 5 && !strcmp(e->d_name + l - 5, ".onnx"))) {
            if (!strcmp(e->d_name, "saved_model.pb")) continue;
            n++;
            free(found);
            found = snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path ? strdup(path) : NULL;
        }
    }
    closedir(d);
    if (n != 1) {
        free(found);
        return NULL;
    }
    return found;
}

static void version_free(sv_version *v)
{
    if (!v) return;
    if (v->batcher) sv_batcher_stop(v->batcher);
    for (int i = 0; i < v->n_progs; i++) kiln_program_free(v->prog[i]);
    for (int i = 0; i < v->n_feeds; i++) spec_free(&v->feeds[i]);
    for (int i = 0; i < v->n_fetches; i++) spec_free(&v->fetches[i]);
    for (int i = 0; i < v->n_classes; i++) free(v->classes[i]);
    free(v->classes);
    kiln_model_free(v->model);
    free(v);
}

static void shape_str(const int64_t *d, int r, char *b, size_t n)
{
    size_t k = (size_t)snprintf(b, n, "[");
    for (int i = 0; i < r && k < n; i++) k += (size_t)snprintf(b + k, n - k, "%s%lld", i ? "," : "", (long long)d[i]);
    if (k < n) snprintf(b + k, n - k, "]");
}

static char *status_text(kiln_status *st)
{
    char *m = strdup(kiln_status_message(st));
    kiln_status_free(st);
    if (!m) return strdup("out of memory");
    size_t n = strlen(m);
    while (n && m[n - 1] == '\n') m[--n] = 0;
    return m;
}

/* Moves a kiln.json entry into the version's signature with the compiled
 * program's dtype and shape (the batch dim as -1). */
static char *take_spec(sv_spec *dst, sv_spec *src, kiln_tensor_info t, bool batched)
{
    if (t.rank > SV_MAX_RANK) return sv_msg("'%s' has rank %d (kiln serve takes at most %d)", t.name, t.rank, SV_MAX_RANK);
    *dst = *src;
    memset(src, 0, sizeof *src);
    dst->dtype = t.dtype;
    dst->rank = t.rank;
    for (int d = 0; d < t.rank; d++) dst->dims[d] = t.dims[d];
    if (batched) dst->dims[0] = -1;
    return NULL;
}

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = malloc(cap);
    for (size_t got; b && (got = fread(b + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n < cap) continue;
        unsigned char *t = realloc(b, cap *= 2);
        if (!t) free(b);
        b = t;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        errno = EIO;
        return NULL;
    }
    *size = n;
    return b;
}

/* "x:0" and "x" name one tensor. */
static bool same_tensor(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 2 && !strcmp(a + la - 2, ":0")) la -= 2;
    if (lb > 2 && !strcmp(b + lb - 2, ":0")) lb -= 2;
    return la == lb && !strncmp(a, b, la);
}

/* A prebuilt DIR/model.so (`kiln compile --shared`): one program, its
 * table checked against kiln.json (names, ranks, dims; the batch dim is
 * the library's dim 0, its only batch size). */
static char *prebuilt_load(sv_version *v, const manifest *mf, const char *path)
{
    kiln_program *p;
    kiln_status *st = kiln_program_load(path, &p);
    if (st) return status_text(st);
    v->prog[0] = p;
    v->n_progs = 1;
    if (kiln_program_num_feeds(p) != mf->n_feeds || kiln_program_num_fetches(p) != mf->n_fetches)
        return sv_msg("%s has %d feeds and %d fetches, kiln.json names %d and %d", path, kiln_program_num_feeds(p),
                      kiln_program_num_fetches(p), mf->n_feeds, mf->n_fetches);
    int n_batched = 0;
    for (int i = 0; i < mf->n_feeds; i++) n_batched += mf->feed_shape[i] && mf->feeds[i].rank > 0 && mf->feeds[i].dims[0] < 0;
    if (n_batched && n_batched != mf->n_feeds) return sv_msg("kiln.json: either every feed has the batch dimension (-1) first or none has");
    v->batched = n_batched > 0;
    int64_t b = 0;
    for (int i = 0; i < mf->n_feeds + mf->n_fetches; i++) {
        bool feed = i < mf->n_feeds;
        const sv_spec *want = feed ? &mf->feeds[i] : &mf->fetches[i - mf->n_feeds];
        kiln_tensor_info t = feed ? kiln_program_feed(p, i) : kiln_program_fetch(p, i - mf->n_feeds);
        char have[160], exp[160];
        shape_str(t.dims, t.rank, have, sizeof have);
        if (!same_tensor(t.name, want->name))
            return sv_msg("%s: %s %d is '%s', kiln.json says '%s'", path, feed ? "feed" : "fetch", feed ? i : i - mf->n_feeds,
                          t.name, want->name);
        if (v->batched) {
            if (t.rank < 1 || (b && t.dims[0] != b))
                return sv_msg("%s: '%s' is %s: its first dimension is not the batch (%lld)", path, t.name, have, (long long)b);
            b = t.dims[0];
        }
        if (feed && mf->feed_shape[i]) {
            bool same = want->rank == t.rank;
            for (int d = 0; same && d < t.rank; d++) same = want->dims[d] == t.dims[d] || (d == 0 && v->batched);
            if (!same) {
                shape_str(want->dims, want->rank, exp, sizeof exp);
                return sv_msg("%s: feed '%s' is %s, kiln.json's shape is %s", path, t.name, have, exp);
            }
        }
    }
    if (v->batched && mf->n_batch && (mf->n_batch != 1 || mf->batch[0] != b))
        return sv_msg("%s is compiled for batch size %lld only: kiln.json's \"batch_sizes\" must be [%lld] or absent", path,
                      (long long)b, (long long)b);
    v->batch[0] = v->batched ? b : 0;
    return NULL;
}

/* Compiles dir's model for every batch size and warms each program up. */
static char *version_load(sv_server *s, sv_model *owner, int64_t version, const char *dir, sv_version **out)
{
    *out = NULL;
    manifest mf;
    char *err = manifest_read(dir, &mf);
    if (err) return manifest_free(&mf), err;
    sv_version *v = calloc(1, sizeof *v);
    char prebuilt[4200];
    snprintf(prebuilt, sizeof prebuilt, "%s/model.so", dir);
    struct stat pst;
    bool has_so = !stat(prebuilt, &pst) && S_ISREG(pst.st_mode);
    char *file = has_so ? NULL : model_file(dir);
    sv_blob model_bytes = {0}, manifest_bytes = {0};
    if (!v || (!has_so && !file)) {
        free(v);
        manifest_free(&mf);
        return v ? sv_msg("%s: no model.so, model.pb or model.onnx (or no single .pb/.onnx file)", dir) : sv_msg("out of memory");
    }
    v->version = version;
    v->owner = owner;
    if (has_so) {
        v->prebuilt = true;
        err = prebuilt_load(v, &mf, prebuilt);
        if (err) goto fail;
        goto signature;
    }
    {
        char mpath[4200];
        snprintf(mpath, sizeof mpath, "%s/kiln.json", dir);
        if (!(model_bytes.data = read_all(file, &model_bytes.size)) || !(manifest_bytes.data = read_all(mpath, &manifest_bytes.size))) {
            err = sv_msg("%s: cannot read: %s", model_bytes.data ? mpath : file, strerror(errno));
            goto fail;
        }
    }
    /* Batched when every feed's shape says -1 first; a feed without a shape
     * takes the model's declared (static) one. */
    int n_batched = 0, n_shaped = 0;
    for (int i = 0; i < mf.n_feeds; i++) {
        n_shaped += mf.feed_shape[i];
        n_batched += mf.feed_shape[i] && mf.feeds[i].rank > 0 && mf.feeds[i].dims[0] < 0;
    }
    if (n_batched && n_batched != mf.n_feeds) {
        err = sv_msg("%s/kiln.json: either every feed has the batch dimension (-1) first or none has", dir);
        goto fail;
    }
    v->batched = n_batched > 0;
    int64_t sizes[SV_MAX_PROGS];
    int n_sizes = 0;
    if (v->batched) {
        if (s->batching.on && s->batching.n_allowed) {
            for (int i = 0; i < s->batching.n_allowed; i++) sizes[n_sizes++] = s->batching.allowed[i];
        } else if (mf.n_batch) {
            for (int i = 0; i < mf.n_batch; i++) sizes[n_sizes++] = mf.batch[i];
        } else {
            sizes[n_sizes++] = 1;
        }
        if (s->batching.on && sizes[n_sizes - 1] < s->batching.max_batch_size && n_sizes < SV_MAX_PROGS)
            sizes[n_sizes++] = s->batching.max_batch_size; /* a full batch runs in one call */
    } else {
        sizes[n_sizes++] = 0;
    }
    const char *feed_names[SV_MAX_IO], *fetch_names[SV_MAX_IO];
    for (int i = 0; i < mf.n_feeds; i++) feed_names[i] = mf.feeds[i].name;
    for (int i = 0; i < mf.n_fetches; i++) fetch_names[i] = mf.fetches[i].name;
    for (int k = 0; k < n_sizes; k++) {
        kiln_options o;
        kiln_options_init(&o);
        o.feeds = feed_names;
        o.n_feeds = mf.n_feeds;
        o.fetches = fetch_names;
        o.n_fetches = mf.n_fetches;
        o.threads = s->threads;
        int64_t dims[SV_MAX_IO][SV_MAX_RANK];
        kiln_feed_shape fs[SV_MAX_IO];
        int n_fs = 0;
        for (int i = 0; i < mf.n_feeds; i++) {
            if (!mf.feed_shape[i]) continue;
            memcpy(dims[i], mf.feeds[i].dims, sizeof dims[i]);
            if (v->batched) dims[i][0] = sizes[k];
            fs[n_fs++] = (kiln_feed_shape){mf.feeds[i].name, mf.feeds[i].rank, dims[i]};
        }
        o.feed_shapes = fs;
        o.n_feed_shapes = n_fs;
        kiln_program *p;
        bool hit;
        char *m = sv_compile(s, &model_bytes, &manifest_bytes, file, &v->model, &o, &p, &hit);
        if (m) {
            if (v->batched) err = sv_msg("batch size %lld: %s", (long long)sizes[k], m), free(m);
            else err = m;
            goto fail;
        }
        v->n_cached += hit;
        v->prog[v->n_progs] = p;
        v->batch[v->n_progs++] = sizes[k];
        if (kiln_program_state_size(p)) {
            err = sv_msg("%s: the model has variables; serve a frozen graph (variables as constants)", dir);
            goto fail;
        }
        for (int i = 0; i < mf.n_fetches; i++) {
            kiln_tensor_info t = kiln_program_fetch(p, i);
            if (v->batched && (t.rank < 1 || t.dims[0] != sizes[k])) {
                char b[160];
                shape_str(t.dims, t.rank, b, sizeof b);
                err = sv_msg("fetch '%s' is %s at batch size %lld: its first dimension is not the batch", t.name, b,
                          (long long)sizes[k]);
                goto fail;
            }
            if (t.rank > SV_MAX_RANK) {
                err = sv_msg("fetch '%s' has rank %d (at most %d)", t.name, t.rank, SV_MAX_RANK);
                goto fail;
            }
        }
    }
signature:;
    /* The signature, from the first program (the batch dim as -1). */
    kiln_program *p0 = v->prog[0];
    for (int i = 0; i < mf.n_feeds; i++, v->n_feeds++)
        if ((err = take_spec(&v->feeds[i], &mf.feeds[i], kiln_program_feed(p0, i), v->batched))) goto fail;
    for (int i = 0; i < mf.n_fetches; i++, v->n_fetches++)
        if ((err = take_spec(&v->fetches[i], &mf.fetches[i], kiln_program_fetch(p0, i), v->batched))) goto fail;
    for (int i = 0; i < v->n_feeds + v->n_fetches; i++) {
        const sv_spec *a = i < v->n_feeds ? &v->feeds[i] : &v->fetches[i - v->n_feeds];
        for (int j = 0; j < i; j++) {
            const sv_spec *b = j < v->n_feeds ? &v->feeds[j] : &v->fetches[j - v->n_feeds];
            if ((i < v->n_feeds) == (j < v->n_feeds) && !strcmp(a->alias, b->alias)) {
                err = sv_msg("%s/kiln.json: two %s named '%s'", dir, i < v->n_feeds ? "feeds" : "fetches", a->alias);
                goto fail;
            }
        }
    }
    if (mf.n_classes) { /* Classify's labels: as many as the scores fetch has columns */
        const sv_spec *sc = &v->fetches[sv_classify_fetch(v)];
        if (!v->batched || sc->rank != 2 || sc->dims[1] != mf.n_classes) {
            char b[160];
            shape_str(sc->dims, sc->rank, b, sizeof b);
            err = sv_msg("%s/kiln.json: \"classes\" names %d labels; the scores fetch '%s' (Classify's: aliased \"scores\", "
                         "else the first) is %s, not [-1, %d]", dir, mf.n_classes, sc->alias, b, mf.n_classes);
            goto fail;
        }
        v->n_classes = mf.n_classes, v->classes = mf.classes;
        mf.n_classes = 0, mf.classes = NULL;
    }
    /* Warm-up: one run of each compiled size on zeros. */
    for (int k = 0; k < v->n_progs; k++) {
        int64_t rows = v->batched ? v->batch[k] : 1;
        void *in[SV_MAX_IO] = {0}, *outb[SV_MAX_IO] = {0};
        bool ok = true;
        for (int i = 0; i < v->n_feeds; i++) ok = ok && (in[i] = calloc((size_t)rows, sv_row_bytes(&v->feeds[i]) + 1));
        for (int i = 0; i < v->n_fetches; i++) ok = ok && (outb[i] = calloc((size_t)rows, sv_row_bytes(&v->fetches[i]) + 1));
        char *e = ok ? sv_run_rows(v, rows, (const void *const *)in, outb, NULL) : sv_msg("out of memory");
        for (int i = 0; i < SV_MAX_IO; i++) free(in[i]), free(outb[i]);
        if (e) {
            err = sv_msg("warm-up: %s", e);
            free(e);
            goto fail;
        }
    }
    if (s->batching.on && v->batched) {
        char e[256];
        if (!(v->batcher = sv_batcher_start(v, &s->batching, e, sizeof e))) {
            err = sv_msg("batcher: %s", e);
            goto fail;
        }
    }
    manifest_free(&mf);
    free(file), free(model_bytes.data), free(manifest_bytes.data);
    *out = v;
    return NULL;
fail:
    manifest_free(&mf);
    free(file), free(model_bytes.data), free(manifest_bytes.data);
    version_free(v);
    return err;
}

/* ---- running ------------------------------------------------------------- */

/* Each thread that runs compiled code (a connection's, a batcher's) keeps
 * one temp arena, grown as needed and freed when the thread ends: no
 * allocation (and no fresh page faults) per request. */
static pthread_key_t temp_key;
static pthread_once_t temp_once = PTHREAD_ONCE_INIT;
typedef struct {
    void *p;
    size_t cap;
} temp_cache;
static void temp_free(void *x)
{
    temp_cache *t = x;
    free(t->p);
    free(t);
}
static void temp_init(void) { pthread_key_create(&temp_key, temp_free); }
static void *thread_temp(size_t bytes)
{
    if (!bytes) return NULL;
    pthread_once(&temp_once, temp_init);
    temp_cache *t = pthread_getspecific(temp_key);
    if (!t) {
        if (!(t = calloc(1, sizeof *t))) return NULL;
        if (pthread_setspecific(temp_key, t)) return free(t), NULL;
    }
    if (t->cap < bytes) {
        free(t->p);
        t->cap = 0;
        size_t cap = (bytes + 4095) & ~(size_t)4095;
        if (!(t->p = aligned_alloc(64, cap))) return NULL;
        t->cap = cap;
    }
    return t->p;
}

char *sv_run_rows(sv_version *v, int64_t rows, const void *const *in, void *const *out, int64_t *batches_run)
{
    if (!v->batched) {
        kiln_program *p = v->prog[0];
        void *temp = NULL;
        size_t ts = kiln_program_temp_size(p);
        if (ts && !(temp = thread_temp(ts))) return sv_msg("out of memory for the temp arena");
        kiln_status *st = kiln_program_run(p, in, (void *const *)out, temp);
        if (batches_run) *batches_run = 1;
        return st ? status_text(st) : NULL;
    }
    int64_t done = 0, calls = 0;
    char *err = NULL;
    void *pin[SV_MAX_IO] = {0}, *pout[SV_MAX_IO] = {0}, *temp = NULL;
    while (done < rows && !err) {
        int64_t left = rows - done;
        int k = 0;
        while (k + 1 < v->n_progs && v->batch[k] < left) k++; /* the smallest size that holds the rest, else the largest */
        int64_t b = v->batch[k], take = left < b ? left : b;
        kiln_program *p = v->prog[k];
        const void *cin[SV_MAX_IO];
        void *cout[SV_MAX_IO];
        for (int i = 0; i < v->n_feeds && !err; i++) {
            size_t rb = sv_row_bytes(&v->feeds[i]);
            if (take == b) {
                cin[i] = (const char *)in[i] + (size_t)done * rb;
            } else { /* pad with zero rows */
                free(pin[i]);
                if (!(pin[i] = calloc((size_t)b, rb ? rb : 1))) err = sv_msg("out of memory");
                else memcpy(pin[i], (const char *)in[i] + (size_t)done * rb, (size_t)take * rb);
                cin[i] = pin[i];
            }
        }
        for (int i = 0; i < v->n_fetches && !err; i++) {
            size_t rb = sv_row_bytes(&v->fetches[i]);
            if (take == b) {
                cout[i] = (char *)out[i] + (size_t)done * rb;
            } else {
                free(pout[i]);
                if (!(pout[i] = malloc((size_t)b * (rb ? rb : 1)))) err = sv_msg("out of memory");
                cout[i] = pout[i];
            }
        }
        size_t ts = kiln_program_temp_size(p);
        if (!err && ts && !(temp = thread_temp(ts))) err = sv_msg("out of memory for the temp arena");
        if (err) break;
        kiln_status *st = kiln_program_run(p, cin, cout, ts ? temp : NULL);
        calls++;
        if (st) {
            err = status_text(st);
            break;
        }
        if (take != b)
            for (int i = 0; i < v->n_fetches; i++) {
                size_t rb = sv_row_bytes(&v->fetches[i]);
                memcpy((char *)out[i] + (size_t)done * rb, pout[i], (size_t)take * rb);
            }
        done += take;
    }
    for (int i = 0; i < SV_MAX_IO; i++) free(pin[i]), free(pout[i]);
    if (batches_run) *batches_run = calls;
    return err;
}

/* ---- the version table --------------------------------------------------- */

sv_model *sv_find_model(sv_server *s, const char *name)
{
    for (int i = 0; i < s->n_models; i++)
        if (!strcmp(s->models[i].name, name)) return &s->models[i];
    return NULL;
}

bool sv_label_version(const sv_model *m, const char *label, int64_t *version)
{
    for (int i = 0; i < m->n_labels; i++)
        if (!strcmp(m->label[i], label)) return *version = m->label_version[i], true;
    return false;
}

sv_version *sv_acquire(sv_model *m, int64_t version, int *http, char *err, size_t errlen)
{
    pthread_mutex_lock(&m->mu);
    sv_version *best = NULL;
    bool known = false;
    for (int i = 0; i < m->n_status; i++) {
        sv_vstatus *vs = &m->status[i];
        if (version >= 0 && vs->version != version) continue;
        known = true;
        if (vs->state == SV_AVAILABLE && (!best || vs->version > best->version)) best = vs->v;
    }
    if (best) best->refs++;
    pthread_mutex_unlock(&m->mu);
    if (!best) {
        if (version >= 0 && !known) {
            *http = 404;
            snprintf(err, errlen, "Servable not found for request: Specific(%s, %lld)", m->name, (long long)version);
        } else if (version >= 0) {
            *http = 503;
            snprintf(err, errlen, "Version %lld of model %s is not available (see GET /v1/models/%s)", (long long)version,
                     m->name, m->name);
        } else {
            *http = 503;
            snprintf(err, errlen, "Servable not found for request: Latest(%s): no version is available yet", m->name);
        }
    }
    return best;
}

void sv_release(sv_version *v)
{
    sv_model *m = v->owner;
    pthread_mutex_lock(&m->mu);
    v->refs--;
    pthread_mutex_unlock(&m->mu);
}

static bool is_version(const char *s, int64_t *out)
{
    if (!*s || strlen(s) > 18) return false;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return true;
}

/* Names, sizes and times of a version directory's files: a failed version is
 * retried when this changes. */
static char *fingerprint(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return strdup("");
    size_t cap = 256, n = 0;
    char *f = calloc(1, cap);
    struct dirent *e;
    while (f && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096], line[4400];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st)) continue;
        int l = snprintf(line, sizeof line, "%s:%lld:%lld.%09ld;", e->d_name, (long long)st.st_size,
                         (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        if (n + (size_t)l + 1 > cap) {
            char *t = realloc(f, cap = 2 * (n + (size_t)l + 1));
            if (!t) { free(f); f = NULL; break; }
            f = t;
        }
        memcpy(f + n, line, (size_t)l + 1);
        n += (size_t)l;
    }
    closedir(d);
    return f ? f : strdup("");
}

static int cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static sv_vstatus *status_of(sv_model *m, int64_t version)
{
    for (int i = 0; i < m->n_status; i++)
        if (m->status[i].version == version) return &m->status[i];
    return NULL;
}

static void poll_model(sv_server *s, sv_model *m, bool verbose)
{
    int64_t found[SV_MAX_VERSIONS * 4];
    int n_found = 0;
    DIR *d = opendir(m->base_path);
    if (d) {
        struct dirent *e;
        int64_t v;
        while ((e = readdir(d)) && n_found < (int)(sizeof found / sizeof found[0]))
            if (is_version(e->d_name, &v)) found[n_found++] = v;
        closedir(d);
    } else if (verbose) {
        fprintf(stderr, "kiln serve: model %s: cannot read base path %s: %s\n", m->name, m->base_path, strerror(errno));
    }
    qsort(found, (size_t)n_found, sizeof found[0], cmp_desc);
    /* What the policy wants, newest first.  Latest skips versions that failed
     * with their current files: a bad new version never displaces a good one. */
    int64_t want[SV_MAX_VERSIONS];
    int n_want = 0;
    for (int i = 0; i < n_found && n_want < SV_MAX_VERSIONS; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%lld", m->base_path, (long long)found[i]);
        if (m->policy == SV_SPECIFIC) {
            bool listed = false;
            for (int k = 0; k < m->n_specific; k++) listed |= m->specific[k] == found[i];
            if (!listed) continue;
        }
        if (m->policy == SV_LATEST) {
            pthread_mutex_lock(&m->mu);
            sv_vstatus *vs = status_of(m, found[i]);
            bool failed = false;
            if (vs && vs->state == SV_END && vs->error) {
                char *fp = fingerprint(dir);
                failed = fp && vs->fingerprint && !strcmp(fp, vs->fingerprint);
                free(fp);
            }
            pthread_mutex_unlock(&m->mu);
            if (failed) continue;
            if (n_want >= m->num_versions) break;
        }
        want[n_want++] = found[i];
    }
    /* Load what is wanted and not loaded (or failed with other files). */
    for (int i = 0; i < n_want; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%lld", m->base_path, (long long)want[i]);
        char *fp = fingerprint(dir);
        pthread_mutex_lock(&m->mu);
        sv_vstatus *vs = status_of(m, want[i]);
        bool load = !vs || (vs->state == SV_END && (!vs->error || !vs->fingerprint || !fp || strcmp(fp, vs->fingerprint)));
        if (load && !vs) {
            if (m->n_status == SV_MAX_VERSIONS) { /* forget the oldest END entry */
                for (int k = 0; k < m->n_status; k++)
                    if (m->status[k].state == SV_END) {
                        free(m->status[k].error);
                        free(m->status[k].fingerprint);
                        m->status[k] = m->status[--m->n_status];
                        break;
                    }
            }
            if (m->n_status < SV_MAX_VERSIONS) {
                vs = &m->status[m->n_status++];
                memset(vs, 0, sizeof *vs);
                vs->version = want[i];
            } else {
                load = false;
            }
        }
        if (load) {
            vs->state = SV_LOADING;
            free(vs->error);
            vs->error = NULL;
        }
        pthread_mutex_unlock(&m->mu);
        if (!load) {
            free(fp);
            continue;
        }
        if (verbose) fprintf(stderr, "kiln serve: model %s: loading version %lld\n", m->name, (long long)want[i]);
        sv_version *v = NULL;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        char *err = version_load(s, m, want[i], dir, &v);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        pthread_mutex_lock(&m->mu);
        vs = status_of(m, want[i]);
        free(vs->fingerprint);
        vs->fingerprint = fp;
        if (err) {
            vs->state = SV_END;
            vs->error = err;
            m->load_fail++;
        } else {
            vs->state = SV_AVAILABLE;
            vs->v = v;
            m->load_ok++;
        }
        pthread_mutex_unlock(&m->mu);
        if (verbose) {
            if (err) fprintf(stderr, "kiln serve: model %s: version %lld failed to load: %s\n", m->name, (long long)want[i], err);
            else if (v->prebuilt)
                fprintf(stderr, "kiln serve: model %s: version %lld available (prebuilt model.so, loaded in %.1f ms)\n", m->name,
                        (long long)want[i], ms);
            else
                fprintf(stderr, "kiln serve: model %s: version %lld available (%d of %d compiled sizes from the compile cache, loaded in %.1f ms)\n",
                        m->name, (long long)want[i], v->n_cached, v->n_progs, ms);
        }
    }
    /* Unload what the policy dropped, once nothing uses it. */
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->n_status; i++) {
        sv_vstatus *vs = &m->status[i];
        bool wanted = false;
        for (int k = 0; k < n_want; k++) wanted |= want[k] == vs->version;
        if (vs->state == SV_AVAILABLE && !wanted) {
            vs->state = SV_UNLOADING;
            if (verbose) fprintf(stderr, "kiln serve: model %s: unloading version %lld\n", m->name, (long long)vs->version);
        }
        if (vs->state == SV_UNLOADING && vs->v && vs->v->refs == 0) {
            sv_version *v = vs->v;
            vs->v = NULL;
            vs->state = SV_END;
            pthread_mutex_unlock(&m->mu);
            version_free(v); /* no request holds it, none can acquire it */
            pthread_mutex_lock(&m->mu);
        }
    }
    pthread_mutex_unlock(&m->mu);
}

int sv_poll(sv_server *s, bool verbose)
{
    int avail = 0;
    for (int i = 0; i < s->n_models; i++) {
        sv_model *m = &s->models[i];
        poll_model(s, m, verbose);
        pthread_mutex_lock(&m->mu);
        for (int k = 0; k < m->n_status; k++) avail += m->status[k].state == SV_AVAILABLE;
        pthread_mutex_unlock(&m->mu);
    }
    return avail;
}

void sv_shutdown(sv_server *s)
{
    for (int i = 0; i < s->n_models; i++) {
        sv_model *m = &s->models[i];
        for (int k = 0; k < m->n_status; k++) {
            version_free(m->status[k].v);
            free(m->status[k].error);
            free(m->status[k].fingerprint);
        }
        for (int k = 0; k < m->n_labels; k++) free(m->label[k]);
        pthread_mutex_destroy(&m->mu);
        free(m->name);
        free(m->base_path);
    }
    free(s->models);
    s->models = NULL;
    s->n_models = 0;
}
