/* tests/support/fixture.c — load fixtures, run them through the JIT, compare. */
#include "fixture.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "tools/kiln/npy.h"

static int cmp_names(const void *a, const void *b) { return strcmp(a, b); }

int fixture_names(char names[][128], int max)
{
    DIR *d = opendir(KILN_SOURCE_DIR "/tests/fixtures");
    int n = 0;
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d)) && n < max;) {
        char path[1024];
        snprintf(path, sizeof path, KILN_SOURCE_DIR "/tests/fixtures/%s/fixture.txt", e->d_name);
        FILE *f = e->d_name[0] != '.' ? fopen(path, "r") : NULL;
        if (!f) continue;
        fclose(f);
        snprintf(names[n++], 128, "%s", e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, 128, cmp_names);
    return n;
}

static bool parse_line(fixture *f, char *line)
{
    char *words[4] = {0};
    int n = 0;
    for (char *tok = strtok(line, " \t\r"); tok && n < 4; tok = strtok(NULL, " \t\r")) words[n++] = tok;
    if (n == 0 || words[0][0] == '#') return true;
    if (!strcmp(words[0], "feed") && n == 3 && f->n_feeds < FIXTURE_MAX) {
        f->feeds[f->n_feeds] = words[1];
        f->feed_files[f->n_feeds++] = words[2];
    } else if (!strcmp(words[0], "fetch") && n == 3 && f->n_fetches < FIXTURE_MAX) {
        f->fetches[f->n_fetches] = words[1];
        f->fetch_files[f->n_fetches++] = words[2];
    } else if (!strcmp(words[0], "tol") && n == 3) {
        f->rtol = atof(words[1]);
        f->atol = atof(words[2]);
    } else if (!strcmp(words[0], "expect_error") && n >= 2) {
        /* the rest of the line, strtok cut it: rejoin */
        for (int i = 2; i < n; i++) words[i][-1] = ' ';
        f->expect_error = words[1];
    } else {
        return false;
    }
    return true;
}

bool fixture_load(const char *name, fixture *f, char *err, size_t n)
{
    char dir[512];
    snprintf(dir, sizeof dir, KILN_SOURCE_DIR "/tests/fixtures/%s", name);
    return fixture_load_dir(dir, f, err, n);
}

bool fixture_load_dir(const char *dir, fixture *f, char *err, size_t n)
{
    memset(f, 0, sizeof *f);
    const char *slash = strrchr(dir, '/');
    snprintf(f->name, sizeof f->name, "%s", slash && slash[1] ? slash + 1 : dir);
    snprintf(f->dir, sizeof f->dir, "%s", dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/fixture.txt", f->dir);
    FILE *fp = fopen(path, "r");
    if (!fp) return snprintf(err, n, "%s: cannot open", path), false;
    size_t len = fread(f->text, 1, sizeof f->text - 1, fp);
    fclose(fp);
    f->text[len] = 0;
    f->rtol = 1e-5;
    f->atol = 1e-6;
    for (char *line = f->text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        char copy[512];
        snprintf(copy, sizeof copy, "%s", line);
        if (!parse_line(f, line)) return snprintf(err, n, "%s: bad line: %s", path, copy), false;
    }
    return true;
}

static double half_to_double(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m | 1024, e - 25);
    return (h & 0x8000) ? -v : v;
}

/* Element i of a dense array of dtype t, as double. */
static double element(kl_dtype t, const void *p, int64_t i)
{
    switch (t) {
    case KL_F32: return ((const float *)p)[i];
    case KL_F64: return ((const double *)p)[i];
    case KL_F16: return half_to_double(((const uint16_t *)p)[i]);
    case KL_I8: return ((const int8_t *)p)[i];
    case KL_I16: return ((const int16_t *)p)[i];
    case KL_I32: return ((const int32_t *)p)[i];
    case KL_I64: return (double)((const int64_t *)p)[i];
    case KL_U8: case KL_BOOL: return ((const uint8_t *)p)[i];
    case KL_DTYPE_COUNT: break;
    }
    return NAN;
}

/* Worst error of one fetch, and whether it is within tolerance. */
static bool compare(const fixture *f, const npy_array *want, const void *got, double *max_abs, double *max_rel,
                    char *msg, size_t n)
{
    int64_t count = (int64_t)(want->bytes / kl_dtype_size(want->dtype));
    bool ok = true;
    for (int64_t i = 0; i < count; i++) {
        double w = element(want->dtype, want->data, i), g = element(want->dtype, got, i);
        if (isnan(w) && isnan(g)) continue;
        double e = fabs(g - w);
        if (isinf(w)) e = g == w ? 0 : INFINITY; /* atol + rtol*inf would accept anything */
        if (e > *max_abs) *max_abs = e;
        if (w != 0 && e / fabs(w) > *max_rel) *max_rel = e / fabs(w);
        if (!(e <= f->atol + f->rtol * fabs(w) && !(isinf(w) && g != w)) && ok) {
            snprintf(msg, n, "element %lld: kiln %.9g, tensorflow %.9g (|err| %.3g > atol %.3g + rtol %.3g*|tf|)",
                     (long long)i, g, w, e, f->atol, f->rtol);
            ok = false;
        }
    }
    return ok;
}

static fixture_result result_fail(const char *fmt, const char *a, const char *b)
{
    fixture_result r = {0};
    snprintf(r.message, sizeof r.message, fmt, a, b);
    return r;
}

static bool load_npy(const fixture *f, const char *file, npy_array *a, fixture_result *r)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", f->dir, file);
    kl_diag d = {0};
    if (npy_load(path, a, &d)) return true;
    *r = result_fail("%s%s", d.text, "");
    kl_diag_clear(&d);
    return false;
}

/* One run with every feed, fetch and the temp buffer placed by `pl` against
 * guard pages (tests/support/guard.h): a stray access faults, a stray write
 * into the slack is reported; feeds are read-only. */
static fixture_result run_guarded(const fixture *f, kiln_program *p, const npy_array *ins, const npy_array *want,
                                  guard_place pl)
{
    fixture_result r = {.ok = true};
    guard_buf in_b[FIXTURE_MAX] = {0}, out_b[FIXTURE_MAX] = {0}, temp_b = {0};
    const void *in_ptrs[FIXTURE_MAX];
    void *outs[FIXTURE_MAX];
    const char *where = guard_place_name(pl);
    guard_place temp_pl = pl == GUARD_START ? GUARD_START : GUARD_END_ALIGNED; /* temp must be 64-byte aligned */
    bool ok = guard_alloc(&temp_b, kiln_program_temp_size(p), temp_pl, 64);
    for (int i = 0; ok && i < f->n_feeds; i++) {
        ok = guard_alloc(&in_b[i], ins[i].bytes, pl, 64);
        if (ok) memcpy(in_b[i].p, ins[i].data, ins[i].bytes), ok = guard_seal(&in_b[i]), in_ptrs[i] = in_b[i].p;
    }
    for (int i = 0; ok && i < f->n_fetches; i++) {
        ok = guard_alloc(&out_b[i], kiln_program_fetch(p, i).bytes, pl, 64);
        if (ok) memset(out_b[i].p, 0xff, out_b[i].n), outs[i] = out_b[i].p; /* NaN / -1: unwritten shows */
    }
    if (!ok) r = result_fail("guard (%s): cannot map buffers%s", where, "");
    if (r.ok) {
        kiln_status *st = kiln_program_run(p, in_ptrs, outs, temp_b.p);
        if (st) r = result_fail("run: %s%s", kiln_status_message(st), ""), kiln_status_free(st);
    }
    for (int i = 0; r.ok && i < f->n_fetches; i++) {
        char msg[512];
        if (want[i].bytes != kiln_program_fetch(p, i).bytes || (int)want[i].dtype != (int)kiln_program_fetch(p, i).dtype) {
            r = result_fail("fetch %s: dtype or size differs from TensorFlow's %s", f->fetches[i], "");
        } else if (!compare(f, &want[i], outs[i], &r.max_abs, &r.max_rel, msg, sizeof msg)) {
            r.ok = false;
            snprintf(r.message, sizeof r.message, "fetch %s (buffers %s): %s", f->fetches[i], where, msg);
        } else if (!guard_intact(&out_b[i])) {
            r = result_fail("fetch %s: a write outside its buffer (placement %s)", f->fetches[i], where);
        }
    }
    if (r.ok && !guard_intact(&temp_b)) r = result_fail("a write outside the temp buffer (placement %s)%s", where, "");
    for (int i = 0; i < FIXTURE_MAX; i++) guard_free(&in_b[i]), guard_free(&out_b[i]);
    guard_free(&temp_b);
    return r;
}

/* Every placement in turn; the worst errors over all of them. */
static fixture_result run_program(const fixture *f, kiln_program *p)
{
    fixture_result r = {.ok = true};
    npy_array ins[FIXTURE_MAX] = {0}, want[FIXTURE_MAX] = {0};
    for (int i = 0; r.ok && i < f->n_feeds; i++) load_npy(f, f->feed_files[i], &ins[i], &r);
    for (int i = 0; r.ok && i < f->n_fetches; i++) load_npy(f, f->fetch_files[i], &want[i], &r);
    for (int pl = 0; r.ok && pl < GUARD_PLACE_COUNT; pl++) {
        fixture_result one = run_guarded(f, p, ins, want, (guard_place)pl);
        if (one.max_abs > r.max_abs) r.max_abs = one.max_abs;
        if (one.max_rel > r.max_rel) r.max_rel = one.max_rel;
        if (!one.ok) r = one;
    }
    for (int i = 0; i < FIXTURE_MAX; i++) npy_free(&ins[i]), npy_free(&want[i]);
    return r;
}

fixture_result fixture_run_jit(const fixture *f, int opt_level) { return fixture_run_jit_threads(f, opt_level, 1); }

fixture_result fixture_run_jit_threads(const fixture *f, int opt_level, int threads)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/model.pb", f->dir);
    kiln_model *m;
    kiln_status *st = kiln_model_load(path, &m);
    if (st) {
        fixture_result r = result_fail("load: %s%s", kiln_status_message(st), "");
        r.ok = f->expect_error && strstr(kiln_status_message(st), f->expect_error);
        kiln_status_free(st);
        return r;
    }
    kiln_options o;
    kiln_options_init(&o);
    o.feeds = f->feeds;
    o.n_feeds = f->n_feeds;
    o.fetches = f->fetches;
    o.n_fetches = f->n_fetches;
    o.opt_level = opt_level;
    o.threads = threads;
    o.verify = 1;
    kiln_program *p;
    st = kiln_jit(m, &o, &p);
    fixture_result r;
    if (st) {
        r = result_fail("compile: %s%s", kiln_status_message(st), "");
        r.ok = f->expect_error && strstr(kiln_status_message(st), f->expect_error);
        kiln_status_free(st);
    } else if (f->expect_error) {
        r = result_fail("compiled, but an error containing '%s' was expected%s", f->expect_error, "");
        kiln_program_free(p);
    } else {
        r = run_program(f, p);
        kiln_program_free(p);
    }
    kiln_model_free(m);
    return r;
}
