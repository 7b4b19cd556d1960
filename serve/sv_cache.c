/* serve/sv_cache.c — the on-disk compile cache and prebuilt shared objects.
 *
 * Every compiled batch size of a version is a Kiln shared object
 * (kiln_compile_shared, api/shared.c) named by the SHA-256 of everything the
 * code depends on: a format line, Kiln's and LLVM's versions, the host CPU
 * and its features, the model file's bytes, kiln.json's bytes and the
 * compile options (feeds, fetches, pinned shapes with the batch size,
 * threads, optimization level).  A restart, or the same model in another
 * version directory, loads the library instead of compiling.  Entries are
 * written to a temporary name and renamed; kiln_program_load checks each
 * one's SHA-256 trailer and table before dlopen, and an entry that fails
 * is removed and compiled again. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serve/sv.h"

/* mkdir -p */
static bool make_dirs(const char *path)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p) return false;
    for (char *c = p + 1; *c; c++) {
        if (*c != '/') continue;
        *c = 0;
        if (mkdir(p, 0700) && errno != EEXIST) return false;
        *c = '/';
    }
    return !mkdir(p, 0700) || errno == EEXIST;
}

bool sv_cache_default_dir(char *out, size_t n)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg) return snprintf(out, n, "%s/kiln", xdg) < (int)n;
    if (home && *home) return snprintf(out, n, "%s/.cache/kiln", home) < (int)n;
    *out = 0;
    return false;
}

static void put(kiln_sha256_ctx *c, const void *p, size_t n)
{
    uint64_t len = n; /* length-prefixed: no two inputs hash the same stream */
    kiln_sha256_update(c, &len, sizeof len);
    kiln_sha256_update(c, p, n);
}
static void put_s(kiln_sha256_ctx *c, const char *s) { put(c, s ? s : "", s ? strlen(s) : 0); }

void sv_cache_key(const sv_blob *model, const sv_blob *manifest, const kiln_options *o, char hex[65])
{
    kiln_sha256_ctx c;
    kiln_sha256_init(&c);
    unsigned maj, min, pat;
    kiln_llvm_version(&maj, &min, &pat);
    char line[256];
    snprintf(line, sizeof line, "kiln serve cache 1; kiln %s; llvm %u.%u.%u", kiln_version(), maj, min, pat);
    put_s(&c, line);
    put_s(&c, kiln_host_description());
    put(&c, model->data, model->size);
    put(&c, manifest->data, manifest->size);
    snprintf(line, sizeof line, "O%d s%d t%d feeds %d fetches %d shapes %d", o->opt_level, o->optimize_size, o->threads,
             o->n_feeds, o->n_fetches, o->n_feed_shapes);
    put_s(&c, line);
    put_s(&c, o->target_cpu);
    put_s(&c, o->target_features);
    for (int i = 0; i < o->n_feeds; i++) put_s(&c, o->feeds[i]);
    for (int i = 0; i < o->n_fetches; i++) put_s(&c, o->fetches[i]);
    for (int i = 0; i < o->n_feed_shapes; i++) {
        put_s(&c, o->feed_shapes[i].name);
        put(&c, o->feed_shapes[i].dims, sizeof(int64_t) * (size_t)o->feed_shapes[i].rank);
    }
    unsigned char h[32];
    kiln_sha256_final(&c, h);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", h[i]);
}

static char *status_msg(kiln_status *st)
{
    char *m = sv_msg("%s", kiln_status_message(st));
    kiln_status_free(st);
    return m;
}

char *sv_compile(const sv_server *s, const sv_blob *model_bytes, const sv_blob *manifest, const char *model_name,
                 kiln_model **model, const kiln_options *o, kiln_program **out, bool *from_cache)
{
    *out = NULL;
    *from_cache = false;
    char path[4200] = "";
    if (*s->cache_dir) {
        char hex[65];
        sv_cache_key(model_bytes, manifest, o, hex);
        snprintf(path, sizeof path, "%s/%s.so", s->cache_dir, hex);
        if (!access(path, F_OK)) {
            kiln_status *st = kiln_program_load(path, out);
            if (!st) {
                *from_cache = true;
                return NULL;
            }
            fprintf(stderr, "kiln serve: cache entry refused, compiling again: %s\n", kiln_status_message(st));
            kiln_status_free(st);
            unlink(path);
        }
    }
    if (!*model) {
        kiln_status *st = kiln_model_load_buffer(model_bytes->data, model_bytes->size, model_name, model);
        if (st) return status_msg(st);
    }
    static int warned;    /* loads run on the poll thread only */
    static bool no_store; /* no C compiler, a read-only cache, ...: the JIT from then on (no compiling twice) */
    if (*path && !no_store && !make_dirs(s->cache_dir)) {
        no_store = true;
        fprintf(stderr, "kiln serve: compile cache %s not used (cannot create it: %s): compiling in memory\n",
                s->cache_dir, strerror(errno));
    } else if (*path && !no_store) {
        kiln_status *st = kiln_compile_shared(*model, o, path, NULL);
        bool stored = !st;
        if (!st && !(st = kiln_program_load(path, out))) return NULL;
        /* a model the shared path cannot take (variables) says so again below, through the JIT */
        if (stored || kiln_status_code(st) == KILN_ERR_IO) {
            no_store = true;
            if (!warned++)
                fprintf(stderr, "kiln serve: compile cache %s not written (%s): compiling in memory from now on\n",
                        s->cache_dir, kiln_status_message(st));
        }
        kiln_status_free(st);
    }
    kiln_status *st = kiln_jit(*model, o, out);
    return st ? status_msg(st) : NULL;
}
