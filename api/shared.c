/* api/shared.c — compiled models as shared objects (kiln_compile_shared,
 * kiln_program_load; docs/cli.md `kiln compile --shared`, docs/serving.md).
 *
 * A Kiln shared object is the ELF object kiln_compile_object writes, linked
 * by the system C compiler driver (`cc -shared`, $CC overrides) with a
 * small table, the C string `kiln_shared_meta`: the format's version,
 * Kiln's and LLVM's versions, the CPU the code was generated for (for
 * "native": the host's CPU and features, checked at load), the symbol
 * prefix, the temp size and every feed and fetch (dtype, shape, name).
 * After the ELF image the file carries a 48-byte trailer: "KILNSO\0\1", the
 * image's size (little-endian 64-bit) and its SHA-256, so a truncated or
 * corrupted file is refused before dlopen maps it.  The file is written
 * to a temporary name beside the target and renamed into place. */
#define _GNU_SOURCE /* mkdtemp, strndup */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "internal.h"

#define META_VERSION 1
#define TRAILER_BYTES 48
static const unsigned char trailer_magic[8] = {'K', 'I', 'L', 'N', 'S', 'O', 0, 1};

/* ---- SHA-256 (FIPS 180-4) ------------------------------------------------ */

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
    0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
    0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
    0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha_block(uint32_t h[8], const unsigned char *b)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 | (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + sha_k[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c));
        hh = g, g = f, f = e, e = d + t1, d = c, c = bb, bb = a, a = t1 + t2;
    }
    h[0] += a, h[1] += bb, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

void kiln_sha256_init(kiln_sha256_ctx *c)
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, h0, sizeof h0);
    c->bytes = 0;
}

void kiln_sha256_update(kiln_sha256_ctx *c, const void *data, size_t n)
{
    const unsigned char *p = data;
    size_t have = (size_t)(c->bytes & 63);
    c->bytes += n;
    if (have) {
        size_t take = 64 - have < n ? 64 - have : n;
        memcpy(c->buf + have, p, take);
        p += take, n -= take, have += take;
        if (have < 64) return;
        sha_block(c->h, c->buf);
    }
    for (; n >= 64; p += 64, n -= 64) sha_block(c->h, p);
    memcpy(c->buf, p, n);
}

void kiln_sha256_final(kiln_sha256_ctx *c, unsigned char out[32])
{
    uint64_t bits = c->bytes * 8;
    unsigned char pad[72] = {0x80};
    size_t have = (size_t)(c->bytes & 63), n = have < 56 ? 56 - have : 120 - have;
    kiln_sha256_update(c, pad, n);
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)(bits >> (56 - 8 * i));
    kiln_sha256_update(c, len, 8);
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < 4; k++) out[4 * i + k] = (unsigned char)(c->h[i] >> (24 - 8 * k));
}

void kiln_sha256(const void *data, size_t n, unsigned char out[32])
{
    kiln_sha256_ctx c;
    kiln_sha256_init(&c);
    kiln_sha256_update(&c, data, n);
    kiln_sha256_final(&c, out);
}

/* ---- the host ------------------------------------------------------------ */

static char host_text[4096];
static pthread_once_t host_once = PTHREAD_ONCE_INIT;
static void host_init(void)
{
    char *cpu = LLVMGetHostCPUName(), *features = LLVMGetHostCPUFeatures();
    snprintf(host_text, sizeof host_text, "cpu=%s features=%s", cpu ? cpu : "?", features ? features : "");
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(features);
}

const char *kiln_host_description(void)
{
    pthread_once(&host_once, host_init);
    return host_text;
}

/* ---- the table ----------------------------------------------------------- */

static bool meta_add(char **buf, size_t *len, size_t *cap, kl_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static bool meta_add(char **buf, size_t *len, size_t *cap, kl_diag *d, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0) return kl_diag_error(d, "shared object table: formatting failed"), false;
        if (*len + (size_t)n < *cap) {
            *len += (size_t)n;
            return true;
        }
        char *b = realloc(*buf, *cap * 2 + (size_t)n);
        if (!b) return kl_diag_error(d, "out of memory for the shared object's table"), false;
        *buf = b;
        *cap = *cap * 2 + (size_t)n;
    }
}

static bool meta_tensor(char **b, size_t *l, size_t *c, kl_diag *d, const char *what, const char *name, const ir_type *t)
{
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return kl_diag_error(d, "%s '%s': a control character in the name (not in a shared object's table)", what, name), false;
    if (!meta_add(b, l, c, d, "%s %d %d", what, (int)t->dtype, t->rank)) return false;
    for (int i = 0; i < t->rank; i++)
        if (!meta_add(b, l, c, d, " %lld", (long long)t->dims[i])) return false;
    return meta_add(b, l, c, d, " %s\n", name);
}

char *api_shared_meta(const ir_graph *g, const cg_options *co, kl_diag *d)
{
    for (int i = 0; g->param_var && i < g->n_params; i++)
        if (g->param_var[i] >= 0) return kl_diag_error(d, "%s: the model has variables: not in a shared object (serve a frozen graph)", g->source), NULL;
    for (int i = 0; g->result_var && i < g->n_results; i++)
        if (g->result_var[i] >= 0) return kl_diag_error(d, "%s: the model has variables: not in a shared object (serve a frozen graph)", g->source), NULL;
    size_t cap = 1024, len = 0;
    char *b = malloc(cap);
    if (!b) return kl_diag_error(d, "out of memory for the shared object's table"), NULL;
    unsigned maj, min, pat;
    cg_llvm_version(&maj, &min, &pat);
    bool native = !co->cpu || !strcmp(co->cpu, "native");
    bool ok = meta_add(&b, &len, &cap, d, "kiln-shared %d\nkiln %s\nllvm %u.%u.%u\n", META_VERSION, KILN_VERSION, maj, min, pat) &&
              meta_add(&b, &len, &cap, d, "cpu %s\nfeatures %s\n", native ? "native" : co->cpu, co->features ? co->features : "") &&
              (!native || meta_add(&b, &len, &cap, d, "host %s\n", kiln_host_description())) &&
              meta_add(&b, &len, &cap, d, "prefix %s\nthreads %d\ntemp %lld\n", co->prefix, co->threads, (long long)g->temp_size);
    for (int i = 0; ok && i < g->n_params; i++) ok = meta_tensor(&b, &len, &cap, d, "feed", g->param_names[i], &g->params[i]->type);
    for (int i = 0; ok && i < g->n_results; i++) ok = meta_tensor(&b, &len, &cap, d, "fetch", g->results[i].name, &g->results[i].node->type);
    if (!ok) free(b);
    return ok ? b : NULL;
}

/* ---- writing ------------------------------------------------------------- */

static kiln_status *fail(kiln_code code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static kiln_status *fail(kiln_code code, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return api_status_new(code, msg);
}

static bool write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        c += w, n -= (size_t)w;
    }
    return true;
}

static unsigned char *slurp(const char *path, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    unsigned char *b = NULL;
    if (!fstat(fd, &st) && S_ISREG(st.st_mode) && (b = malloc((size_t)st.st_size + 1))) {
        size_t got = 0;
        while (got < (size_t)st.st_size) {
            ssize_t r = read(fd, b + got, (size_t)st.st_size - got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += (size_t)r;
        }
        if (got != (size_t)st.st_size) free(b), b = NULL;
        else *size = got;
    }
    close(fd);
    return b;
}

/* The C source of the table: the text as a string of octal escapes where needed. */
static bool write_meta_source(const char *path, const char *meta)
{
    FILE *f = fopen(path, "w");
    if (!f) return false;
    fprintf(f, "/* written by kiln compile --shared */\n__attribute__((visibility(\"default\"))) const char kiln_shared_meta[] =\n\"");
    for (const unsigned char *p = (const unsigned char *)meta; *p; p++) {
        if (*p == '\n') fputs("\\n\"\n\"", f);
        else if (*p == '"' || *p == '\\' || *p == '?' || *p < 0x20 || *p >= 0x7f) fprintf(f, "\\%03o", *p);
        else fputc(*p, f);
    }
    fputs("\";\n", f);
    return fclose(f) == 0;
}

/* Runs argv with stdout and stderr into log_path; the exit status, or -1. */
static int run_tool(char *const *argv, const char *log_path)
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
        execvp(argv[0], argv);
        dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int wst;
    while (waitpid(pid, &wst, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(wst) ? WEXITSTATUS(wst) : -1;
}

static void rm_tree(const char *dir, const char *const *names, int n)
{
    char p[4400];
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

kiln_status *kiln_compile_shared(kiln_model *m, const kiln_options *o, const char *so_path, kiln_compile_info *info)
{
    if (!cg_target_is_host(o->target))
        return fail(KILN_ERR_UNSUPPORTED, "--shared: only for the host (target %s: link its object with that target's toolchain)", o->target);
    if (o->profile) return fail(KILN_ERR_UNSUPPORTED, "--shared: not with --profile");
    const char *tmpdir = getenv("TMPDIR");
    char dir[4096], obj[4200], src[4200], lib[4200], log[4200];
    snprintf(dir, sizeof dir, "%s/kiln-shared-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(dir)) return fail(KILN_ERR_IO, "%s: cannot make a temporary directory: %s", dir, strerror(errno));
    snprintf(obj, sizeof obj, "%s/model.o", dir);
    snprintf(src, sizeof src, "%s/meta.c", dir);
    snprintf(lib, sizeof lib, "%s/model.so", dir);
    snprintf(log, sizeof log, "%s/cc.log", dir);
    const char *tmp_names[] = {"model.o", "meta.c", "model.so", "cc.log"};
    char *meta = NULL;
    kiln_status *st = api_compile_object(m, o, obj, NULL, info, &meta);
    if (!st && !write_meta_source(src, meta)) st = fail(KILN_ERR_IO, "%s: cannot write", src);
    free(meta);
    if (!st) {
        const char *cc = getenv("CC");
        char *argv[] = {(char *)(cc && *cc ? cc : "cc"), "-shared", "-fPIC", "-Wl,-Bsymbolic", "-Wl,-z,noexecstack",
                        "-o", lib, obj, src, NULL};
        int rc = run_tool(argv, log);
        if (rc != 0) {
            size_t n = 0;
            unsigned char *text = slurp(log, &n);
            if (text) text[n > 1500 ? 1500 : n] = 0;
            st = fail(KILN_ERR_IO, "--shared: linking with `%s -shared` failed (exit %d; $CC names another compiler driver): %s",
                      argv[0], rc, text ? (char *)text : "");
            free(text);
        }
    }
    size_t n = 0;
    unsigned char *image = st ? NULL : slurp(lib, &n);
    if (!st && !image) st = fail(KILN_ERR_IO, "%s: cannot read the linked library", lib);
    if (!st) { /* trailer, then tmp + rename beside the target */
        unsigned char tr[TRAILER_BYTES];
        memcpy(tr, trailer_magic, 8);
        for (int i = 0; i < 8; i++) tr[8 + i] = (unsigned char)((uint64_t)n >> (8 * i));
        kiln_sha256(image, n, tr + 16);
        size_t pl = strlen(so_path);
        char *tmp = malloc(pl + 16);
        if (!tmp) st = fail(KILN_ERR_NOMEM, "out of memory");
        int fd = -1;
        if (tmp) {
            snprintf(tmp, pl + 16, "%s.tmpXXXXXX", so_path);
            fd = mkstemp(tmp);
            if (fd < 0) st = fail(KILN_ERR_IO, "%s: cannot create a temporary file beside it: %s", so_path, strerror(errno));
        }
        if (fd >= 0) {
            bool ok = write_all(fd, image, n) && write_all(fd, tr, sizeof tr) && fchmod(fd, 0644) == 0 && fsync(fd) == 0;
            ok = close(fd) == 0 && ok;
            if (!ok || rename(tmp, so_path)) {
                st = fail(KILN_ERR_IO, "%s: cannot write: %s", so_path, strerror(errno));
                unlink(tmp);
            }
        }
        free(tmp);
    }
    free(image);
    rm_tree(dir, tmp_names, 4);
    if (!st && info) info->object_bytes = (int64_t)(n + TRAILER_BYTES);
    if (o->progress) o->progress(o->progress_user, "done", 0, 0);
    return st;
}

/* ---- loading ------------------------------------------------------------- */

void api_shared_close(void *dl)
{
    if (dl) dlclose(dl);
}

/* The next line of *p (without its newline), advancing *p; NULL at the end. */
static char *next_line(char **p)
{
    if (!**p) return NULL;
    char *l = *p, *e = strchr(l, '\n');
    if (e) *e = 0, *p = e + 1;
    else *p = l + strlen(l);
    return l;
}

static kiln_status *parse_tensor(kiln_program *p, int i, char *rest, const char *path)
{
    char *end;
    long dt = strtol(rest, &end, 10), rank = strtol(end, &end, 10);
    if (dt < 0 || dt >= KL_DTYPE_COUNT || rank < 0 || rank > IR_MAX_RANK)
        return fail(KILN_ERR_INVALID, "%s: a bad tensor line in the shared object's table", path);
    int64_t *dims = p->dims + (size_t)i * IR_MAX_RANK;
    size_t elems = 1;
    for (long k = 0; k < rank; k++) {
        dims[k] = strtoll(end, &end, 10);
        if (dims[k] < 0) return fail(KILN_ERR_INVALID, "%s: a bad tensor line in the shared object's table", path);
        elems *= (size_t)dims[k];
    }
    if (*end != ' ') return fail(KILN_ERR_INVALID, "%s: a bad tensor line in the shared object's table", path);
    if (!(p->names[i] = strdup(end + 1))) return fail(KILN_ERR_NOMEM, "out of memory");
    p->info[i] = (kiln_tensor_info){.name = p->names[i], .dtype = (kiln_dtype)dt, .rank = (int)rank, .dims = dims,
                                    .bytes = elems * kl_dtype_size((kl_dtype)dt)};
    return NULL;
}

kiln_status *kiln_program_load(const char *so_path, kiln_program **out)
{
    *out = NULL;
    size_t n = 0;
    unsigned char *image = slurp(so_path, &n);
    if (!image) return fail(KILN_ERR_IO, "%s: cannot read: %s", so_path, strerror(errno));
    /* the trailer: a truncated or altered file is refused before dlopen maps it */
    uint64_t size = 0;
    if (n >= TRAILER_BYTES && !memcmp(image + n - TRAILER_BYTES, trailer_magic, 8))
        for (int i = 0; i < 8; i++) size |= (uint64_t)image[n - TRAILER_BYTES + 8 + i] << (8 * i);
    unsigned char h[32];
    bool good = n >= TRAILER_BYTES && size == n - TRAILER_BYTES;
    if (good) kiln_sha256(image, (size_t)size, h);
    good = good && !memcmp(h, image + n - 32, 32);
    free(image);
    if (!good)
        return fail(KILN_ERR_INVALID, "%s: not a Kiln shared object, or truncated or corrupted (its SHA-256 trailer does "
                                      "not match; recompile with `kiln compile --shared`)", so_path);
    void *dl = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) return fail(KILN_ERR_INVALID, "%s: dlopen: %s", so_path, dlerror());
    const char *meta = dlsym(dl, "kiln_shared_meta");
    if (!meta) {
        dlclose(dl);
        return fail(KILN_ERR_INVALID, "%s: no kiln_shared_meta table: not written by `kiln compile --shared`", so_path);
    }
    char *text = strdup(meta), *cur = text, *line;
    kiln_program *p = calloc(1, sizeof *p);
    kiln_status *st = text && p ? NULL : fail(KILN_ERR_NOMEM, "out of memory");
    if (p) p->dl = dl;
    else dlclose(dl);
    int version = -1, n_feeds = 0, n_fetches = 0;
    char prefix[128] = "", cpu[128] = "", host[4096] = "", kv[64] = "";
    long long temp = -1;
    /* first pass: the header lines and the counts */
    for (char *q = text; !st && q && *q;) {
        char *l = next_line(&q);
        if (!strncmp(l, "feed ", 5)) n_feeds++;
        else if (!strncmp(l, "fetch ", 6)) n_fetches++;
        else if (sscanf(l, "kiln-shared %d", &version) == 1) continue;
        else if (!strncmp(l, "kiln ", 5)) snprintf(kv, sizeof kv, "%s", l + 5);
        else if (!strncmp(l, "prefix ", 7)) snprintf(prefix, sizeof prefix, "%s", l + 7);
        else if (!strncmp(l, "cpu ", 4)) snprintf(cpu, sizeof cpu, "%s", l + 4);
        else if (!strncmp(l, "host ", 5)) snprintf(host, sizeof host, "%s", l + 5);
        else if (sscanf(l, "temp %lld", &temp) == 1) continue;
    }
    free(text);
    text = cur = st ? NULL : strdup(meta);
    if (!st && !text) st = fail(KILN_ERR_NOMEM, "out of memory");
    if (!st && version != META_VERSION)
        st = fail(KILN_ERR_INVALID, "%s: table version %d, this Kiln reads %d: recompile with `kiln compile --shared`", so_path, version, META_VERSION);
    if (!st && strcmp(kv, KILN_VERSION))
        st = fail(KILN_ERR_INVALID, "%s: compiled by Kiln %s, this is %s: recompile", so_path, kv, KILN_VERSION);
    if (!st && !strcmp(cpu, "native") && strcmp(host, kiln_host_description()))
        st = fail(KILN_ERR_INVALID, "%s: compiled for another CPU (%.200s), this host is %.200s: recompile here or with --cpu", so_path,
                  host, kiln_host_description());
    if (!st && (!*prefix || temp < 0 || !n_fetches))
        st = fail(KILN_ERR_INVALID, "%s: an incomplete table (prefix, temp, fetches)", so_path);
    if (!st) {
        int nt = n_feeds + n_fetches;
        p->info = calloc((size_t)nt + 1, sizeof *p->info);
        p->dims = calloc((size_t)nt * IR_MAX_RANK + 1, sizeof *p->dims);
        p->names = calloc((size_t)nt + 1, sizeof *p->names);
        if (!p->info || !p->dims || !p->names) st = fail(KILN_ERR_NOMEM, "out of memory");
    }
    int fi = 0, fo = 0;
    while (!st && (line = next_line(&cur))) {
        if (!strncmp(line, "feed ", 5)) {
            if (!(st = parse_tensor(p, fi, line + 5, so_path))) p->n_feeds = ++fi;
        } else if (!strncmp(line, "fetch ", 6)) {
            if (!(st = parse_tensor(p, n_feeds + fo, line + 6, so_path))) p->n_fetches = ++fo;
        }
    }
    free(text);
    if (!st) {
        char sym[200];
        snprintf(sym, sizeof sym, "%s_run_args", prefix);
        if (!(p->entry = (cg_entry_fn)(uintptr_t)dlsym(p->dl, sym))) st = fail(KILN_ERR_INVALID, "%s: no symbol %s", so_path, sym);
    }
    if (!st && (p->temp_size = (size_t)temp) && !(p->temp = aligned_alloc(64, (p->temp_size + 63) & ~(size_t)63)))
        st = fail(KILN_ERR_NOMEM, "%s: out of memory for the temp arena", so_path);
    if (st) {
        if (p && p->names) /* every name set (feeds and fetches are counted apart) */
            for (int i = 0; i < n_feeds + n_fetches; i++) free(p->names[i]), p->names[i] = NULL;
        kiln_program_free(p);
        return st;
    }
    *out = p;
    return NULL;
}
