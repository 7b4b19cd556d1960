/* tools/kiln/profile.c — kiln run --profile, --profile-json and kiln bench
 * (docs/profile.md).
 *
 * A program compiled with kiln_options.profile counts each kernel's ticks
 * of the time-stamp counter (include/kiln/inspect.h); here they become
 * seconds (the counter's rate is measured against CLOCK_MONOTONIC), and
 * each kernel's FLOPs and bytes from the plan become GFLOP/s, GB/s and a
 * percentage of this machine's measured peak: one core's fp32 FMA rate
 * times the thread count, or one core's read bandwidth, whichever bounds
 * the kernel more (a probe like bench/probe.c, cached per machine).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "npy.h"
#include "tools.h"

tools_flags tool_flags;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

bool tools_option(int argc, char **argv, int *i, int *rc)
{
    const char *a = argv[*i];
    *rc = 0;
    if (!strcmp(a, "--profile")) return tool_flags.profile = true;
    if (!strcmp(a, "--show-consts")) return tool_flags.show_consts = true;
    const char *v = NULL;
    bool json = !strncmp(a, "--profile-json", 14) && (a[14] == '=' || !a[14]);
    bool iters = !strncmp(a, "--iters", 7) && (a[7] == '=' || !a[7]);
    if (!json && !iters) return false;
    size_t n = json ? 14 : 7;
    if (a[n] == '=') v = a + n + 1;
    else if (*i + 1 < argc) v = argv[++*i];
    if (!v || !*v) {
        fprintf(stderr, "kiln: %s wants a value\n", json ? "--profile-json" : "--iters");
        return *rc = 2, true;
    }
    if (json) {
        tool_flags.profile_json = v, tool_flags.profile = true;
        return true;
    }
    char *end;
    long k = strtol(v, &end, 10);
    if (*end || k < 1 || k > 10000000) {
        fprintf(stderr, "kiln: --iters wants a count from 1 to 10000000, not '%s'\n", v);
        return *rc = 2, true;
    }
    tool_flags.iters = (int)k;
    return true;
}

/* ---- feeds ------------------------------------------------------------- */

static bool same_shape(const npy_array *a, const kiln_tensor_info *t)
{
    if ((int)a->dtype != (int)t->dtype || a->rank != t->rank) return false;
    for (int i = 0; i < t->rank; i++)
        if (a->dims[i] != t->dims[i]) return false;
    return true;
}

bool tool_feeds(tool_args *a, kiln_program *p, void ***ins_out, void **state_out)
{
    int n = kiln_program_num_feeds(p);
    void **ins = calloc((size_t)n + 1, sizeof *ins);
    *ins_out = ins, *state_out = NULL;
    if (!ins) return fprintf(stderr, "kiln: out of memory\n"), false;
    uint32_t seed = 12345;
    for (int i = 0; i < n; i++) {
        kiln_tensor_info t = kiln_program_feed(p, i);
        const char *file = i < a->n_feeds ? a->feed_files[i] : NULL;
        if (!(ins[i] = aligned_alloc(64, (t.bytes + 64) & ~(size_t)63))) return fprintf(stderr, "kiln: out of memory\n"), false;
        memset(ins[i], 0, t.bytes);
        if (file) {
            npy_array arr;
            kl_diag d = {0};
            if (!npy_load(file, &arr, &d)) {
                fprintf(stderr, "kiln: %s\n", d.text);
                kl_diag_clear(&d);
                return false;
            }
            bool ok = same_shape(&arr, &t);
            if (ok) memcpy(ins[i], arr.data, t.bytes);
            else fprintf(stderr, "kiln: %s: feed '%s' has another dtype or shape than the file\n", file, t.name);
            npy_free(&arr);
            if (!ok) return false;
        } else if (t.dtype == KILN_F32) {
            float *x = ins[i];
            for (size_t k = 0; k < t.bytes / 4; k++) seed = seed * 1664525u + 1013904223u, x[k] = (float)(seed >> 8) / 8388608.0f - 1.0f;
        } else if (t.dtype == KILN_F64) {
            double *x = ins[i];
            for (size_t k = 0; k < t.bytes / 8; k++) seed = seed * 1664525u + 1013904223u, x[k] = (double)(seed >> 8) / 8388608.0 - 1.0;
        }
    }
    size_t ss = kiln_program_state_size(p);
    if (ss) { /* a benchmark of a stateful graph: zero variables, marked initialized */
        unsigned char *s = aligned_alloc(64, (ss + 63) & ~(size_t)63);
        if (!s) return fprintf(stderr, "kiln: out of memory\n"), false;
        memset(s, 0, ss);
        for (int v = 0; v < kiln_program_num_variables(p); v++) {
            uint32_t one = 1;
            memcpy(s + kiln_program_variable(p, v).flag_offset, &one, 4);
        }
        *state_out = s;
    }
    return true;
}

void tool_feeds_free(kiln_program *p, void **ins, void *state)
{
    for (int i = 0; ins && i < kiln_program_num_feeds(p); i++) free(ins[i]);
    free(ins);
    free(state);
}

static void **alloc_fetches(kiln_program *p)
{
    int n = kiln_program_num_fetches(p);
    void **outs = calloc((size_t)n + 1, sizeof *outs);
    for (int i = 0; outs && i < n; i++)
        if (!(outs[i] = aligned_alloc(64, (kiln_program_fetch(p, i).bytes + 64) & ~(size_t)63))) {
            for (int k = 0; k < i; k++) free(outs[k]);
            free(outs);
            return NULL;
        }
    return outs;
}

static void free_fetches(kiln_program *p, void **outs)
{
    for (int i = 0; outs && i < kiln_program_num_fetches(p); i++) free(outs[i]);
    free(outs);
}

static bool run_once(kiln_program *p, const void *const *ins, void *const *outs, void *state, uint64_t *counters)
{
    kiln_status *st = counters ? kiln_program_run_profile(p, ins, outs, state, NULL, counters)
                               : kiln_program_run_state(p, ins, outs, state, NULL);
    if (!st) return true;
    fprintf(stderr, "kiln: %s\n", kiln_status_message(st));
    kiln_status_free(st);
    return false;
}

/* ---- the machine ------------------------------------------------------- */

static double tsc_hz(void)
{
    static double hz;
    if (hz) return hz;
    double t0 = now();
    uint64_t c0 = __rdtsc();
    while (now() - t0 < 0.02) {}
    hz = (double)(__rdtsc() - c0) / (now() - t0);
    return hz;
}

#define FMA_BODY(vec, SET1, FMA, LANES)                                                                              \
    vec a0 = SET1(0), a1 = SET1(1), a2 = SET1(2), a3 = SET1(3), a4 = SET1(4), a5 = SET1(5), a6 = SET1(6),           \
        a7 = SET1(7), a8 = SET1(8), a9 = SET1(9), a10 = SET1(10), a11 = SET1(11), m = SET1(0.999999f), b = SET1(1e-7f); \
    long iters = 4000000;                                                                                            \
    double dt = 1e30;                                                                                                \
    for (int rep = 0; rep < 5; rep++) { /* the best of 5: a preempted probe only loses */                            \
        double t0 = now();                                                                                           \
        for (long k = 0; k < iters; k++) {                                                                           \
            a0 = FMA(a0, m, b), a1 = FMA(a1, m, b), a2 = FMA(a2, m, b), a3 = FMA(a3, m, b);                          \
            a4 = FMA(a4, m, b), a5 = FMA(a5, m, b), a6 = FMA(a6, m, b), a7 = FMA(a7, m, b);                          \
            a8 = FMA(a8, m, b), a9 = FMA(a9, m, b), a10 = FMA(a10, m, b), a11 = FMA(a11, m, b);                      \
        }                                                                                                            \
        double d = now() - t0;                                                                                       \
        dt = d < dt ? d : dt;                                                                                        \
    }                                                                                                                \
    vec s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;                                             \
    float out[LANES];                                                                                                \
    memcpy(out, &s, sizeof out);                                                                                     \
    if (out[0] == 12345.0f) puts("");                                                                                \
    return (double)iters * 12 * LANES * 2 / dt / 1e9;

__attribute__((target("avx512f"))) static double fma512(void) { FMA_BODY(__m512, _mm512_set1_ps, _mm512_fmadd_ps, 16) }
__attribute__((target("avx2,fma"))) static double fma256(void) { FMA_BODY(__m256, _mm256_set1_ps, _mm256_fmadd_ps, 8) }

/* Read bandwidth of one core over 256 MiB (well outside the caches). */
static double read_gbps(void)
{
    size_t n = (size_t)64 << 20;
    float *x = aligned_alloc(64, n * sizeof *x);
    if (!x) return 0;
    for (size_t i = 0; i < n; i++) x[i] = (float)(i & 7);
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now(), s = 0;
        for (size_t i = 0; i < n; i += 16) {
            float acc = 0;
            for (int k = 0; k < 16; k++) acc += x[i + k];
            s += acc;
        }
        double dt = now() - t0;
        if (s == -1) puts("");
        double gbps = (double)n * sizeof *x / dt / 1e9;
        best = gbps > best ? gbps : best;
    }
    free(x);
    return best;
}

/* The cache key: the CPU's model name, family, model and stepping, and the
 * vector unit the probe uses (one model name, "AMD EPYC", covers Zen 3 with
 * AVX2 and Zen 4/5 with AVX-512: a peak cached on one must not be read on
 * the other). */
static void cpu_key(char *out, size_t n)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512], name[128] = "unknown";
    int family = -1, model = -1, stepping = -1;
    while (f && fgets(line, sizeof line, f)) {
        const char *v = strchr(line, ':');
        if (!v) continue;
        if (!strncmp(line, "model name", 10) && !strcmp(name, "unknown")) {
            size_t k = 0;
            for (v++; *v == ' '; v++) {}
            for (; *v && *v != '\n' && k + 1 < sizeof name; v++)
                name[k++] = (*v == ' ' || *v == '/' || *v == '(' || *v == ')' || *v == '@') ? '_' : *v;
            name[k] = 0;
        } else if (!strncmp(line, "cpu family", 10) && family < 0) family = atoi(v + 1);
        else if (!strncmp(line, "model\t", 6) && model < 0) model = atoi(v + 1);
        else if (!strncmp(line, "stepping", 8) && stepping < 0) stepping = atoi(v + 1);
        if (!strncmp(line, "processor", 9) && strcmp(name, "unknown") && stepping >= 0) break;
    }
    if (f) fclose(f);
    __builtin_cpu_init();
    snprintf(out, n, "%s-f%d-m%d-s%d-%s", name, family, model, stepping,
             __builtin_cpu_supports("avx512f") ? "avx512" : __builtin_cpu_supports("fma") ? "avx2" : "novec");
}

/* The machine is busy when the 1-minute load average is above half its CPUs:
 * a probe then measures a share of a core, so it is used but not cached. */
static bool machine_busy(void)
{
    double load[1];
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return getloadavg(load, 1) == 1 && load[0] > 0.5 * (double)(cpus > 0 ? cpus : 1);
}

void machine_peak(double *gflops, double *gbps)
{
    char key[160], dir[4096], path[4400];
    cpu_key(key, sizeof key);
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg) snprintf(dir, sizeof dir, "%s/kiln", xdg);
    else snprintf(dir, sizeof dir, "%s/.cache/kiln", home && *home ? home : "/tmp");
    snprintf(path, sizeof path, "%s/peak-%s.txt", dir, key);
    FILE *f = fopen(path, "r");
    if (f) {
        int got = fscanf(f, "fma_gflops %lf mem_gbps %lf", gflops, gbps);
        fclose(f);
        if (got == 2 && *gflops > 0 && *gbps > 0) return;
    }
    __builtin_cpu_init();
    *gflops = __builtin_cpu_supports("avx512f") ? fma512() : __builtin_cpu_supports("fma") ? fma256() : 0;
    *gbps = read_gbps();
    if (machine_busy()) return;
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash) *slash = 0, mkdir(parent, 0755);
    mkdir(dir, 0755);
    if ((f = fopen(path, "w"))) {
        fprintf(f, "fma_gflops %.2f mem_gbps %.2f\n", *gflops, *gbps);
        fclose(f);
    }
}

/* ---- profile ----------------------------------------------------------- */

bool profile_measure(kiln_program *p, const void *const *ins, void *const *outs, void *state, int iters, prof_result *r)
{
    memset(r, 0, sizeof *r);
    const kiln_plan_info *pi = kiln_program_plan(p);
    int nk = kiln_program_num_kernels(p);
    if (!pi) return fprintf(stderr, "kiln: the program was not compiled with profiling\n"), false;
    uint64_t *cnt = calloc(2 * (size_t)nk + 2, sizeof *cnt);
    r->kernels = calloc((size_t)nk + 1, sizeof *r->kernels);
    if (!cnt || !r->kernels) return free(cnt), fprintf(stderr, "kiln: out of memory\n"), false;
    bool stateful = kiln_program_state_size(p) > 0;
    int warm = stateful ? 0 : 3;
    if (stateful) iters = 1; /* each run updates the variables: the one run asked for */
    for (int w = 0; w < warm; w++)
        if (!run_once(p, ins, outs, state, NULL)) return free(cnt), false;
    double t0 = now();
    for (int it = 0; it < iters; it++)
        if (!run_once(p, ins, outs, state, cnt)) return free(cnt), false;
    r->run_seconds = (now() - t0) / iters;
    r->plan = pi, r->n_kernels = nk, r->iters = iters, r->tsc_hz = tsc_hz(), r->threads = pi->threads;
    machine_peak(&r->peak_gflops, &r->peak_gbps);
    for (int k = 0; k < nk; k++) r->total_seconds += (double)cnt[2 * k] / r->tsc_hz / iters;
    for (int k = 0; k < nk; k++) {
        const kiln_kernel_info *ki = &pi->kernels[k];
        prof_kernel *pk = &r->kernels[k];
        pk->index = k;
        pk->seconds = (double)cnt[2 * k] / r->tsc_hz / iters;
        pk->share = r->total_seconds > 0 ? pk->seconds / r->total_seconds : 0;
        pk->gflops = pk->seconds > 0 ? (double)ki->flops / pk->seconds / 1e9 : 0;
        pk->gbps = pk->seconds > 0 ? (double)ki->bytes / pk->seconds / 1e9 : 0;
        double fma = r->peak_gflops > 0 ? pk->gflops / (r->peak_gflops * r->threads) : 0;
        double mem = r->peak_gbps > 0 ? pk->gbps / r->peak_gbps : 0;
        pk->bound = fma >= mem ? "fma" : "mem";
        pk->peak_pct = 100 * (fma >= mem ? fma : mem);
    }
    free(cnt);
    return true;
}

void profile_result_free(prof_result *r) { free(r->kernels); }

static int by_time(const void *a, const void *b)
{
    const prof_kernel *x = a, *y = b;
    return x->seconds < y->seconds ? 1 : x->seconds > y->seconds ? -1 : x->index - y->index;
}

static const char *si(char *buf, size_t n, double v)
{
    const char *u[] = {"", "K", "M", "G", "T"};
    int k = 0;
    while (v >= 1000 && k < 4) v /= 1000, k++;
    snprintf(buf, n, k ? "%.1f%s" : "%.0f%s", v, u[k]);
    return buf;
}

void profile_print(const char *model, const prof_result *r, FILE *f)
{
    prof_kernel *s = malloc(sizeof *s * ((size_t)r->n_kernels + 1));
    if (!s) return;
    memcpy(s, r->kernels, sizeof *s * (size_t)r->n_kernels);
    qsort(s, (size_t)r->n_kernels, sizeof *s, by_time);
    fprintf(f, "kiln: profile of %s: %d kernels, %d thread%s, %d run%s; per run %.1f us in kernels (%.1f us wall)\n",
            model, r->n_kernels, r->threads, r->threads == 1 ? "" : "s", r->iters, r->iters == 1 ? "" : "s",
            r->total_seconds * 1e6, r->run_seconds * 1e6);
    fprintf(f, "kiln: peak of this machine: %.1f GFLOP/s fp32 FMA per core x %d, %.1f GB/s read\n", r->peak_gflops,
            r->threads, r->peak_gbps);
    fprintf(f, "%4s  %-28s %-14s %-34s %8s %8s %10s %6s %8s %7s %9s\n", "#", "kernel", "kind", "ops", "FLOPs", "bytes",
            "time(us)", "%time", "GFLOP/s", "GB/s", "%peak");
    for (int k = 0; k < r->n_kernels; k++) {
        const kiln_kernel_info *ki = &r->plan->kernels[s[k].index];
        char fl[32], by[32], ops[40], nm[32];
        snprintf(ops, sizeof ops, "%s", ki->ops);
        if (strlen(ki->ops) > 33) strcpy(ops + 30, "...");
        snprintf(nm, sizeof nm, "%s", ki->name);
        if (strlen(ki->name) > 28) memcpy(nm, "..", 2), snprintf(nm + 2, sizeof nm - 2, "%s", ki->name + strlen(ki->name) - 26);
        fprintf(f, "%4d  %-28s %-14s %-34s %8s %8s %10.2f %6.2f %8.2f %7.2f %5.1f %s\n", ki->index, nm, ki->kind, ops,
                si(fl, sizeof fl, (double)ki->flops), si(by, sizeof by, (double)ki->bytes), s[k].seconds * 1e6,
                100 * s[k].share, s[k].gflops, s[k].gbps, s[k].peak_pct, s[k].bound);
    }
    free(s);
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++)
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 32) fprintf(f, "\\u%04x", *s);
        else fputc(*s, f);
    fputc('"', f);
}

bool profile_write_json(const char *model, const prof_result *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) return fprintf(stderr, "kiln: %s: cannot write: %s\n", path, strerror(errno)), false;
    fprintf(f, "{\"model\": ");
    json_str(f, model);
    fprintf(f, ", \"threads\": %d, \"iterations\": %d, \"tsc_hz\": %.0f, \"kernel_seconds\": %.9g, \"run_seconds\": %.9g,\n",
            r->threads, r->iters, r->tsc_hz, r->total_seconds, r->run_seconds);
    fprintf(f, " \"peak\": {\"fma_gflops_per_core\": %.2f, \"mem_gbps\": %.2f},\n \"kernels\": [", r->peak_gflops, r->peak_gbps);
    for (int k = 0; k < r->n_kernels; k++) {
        const kiln_kernel_info *ki = &r->plan->kernels[k];
        const prof_kernel *pk = &r->kernels[k];
        fprintf(f, "%s\n  {\"index\": %d, \"name\": ", k ? "," : "", k);
        json_str(f, ki->name);
        fprintf(f, ", \"kind\": \"%s\", \"ops\": ", ki->kind);
        json_str(f, ki->ops);
        fprintf(f, ", \"flops\": %lld, \"bytes\": %lld, \"seconds\": %.9g, \"share\": %.6f, \"gflops\": %.4f, "
                   "\"gbps\": %.4f, \"peak_pct\": %.3f, \"bound\": \"%s\"}",
                (long long)ki->flops, (long long)ki->bytes, pk->seconds, pk->share, pk->gflops, pk->gbps, pk->peak_pct, pk->bound);
    }
    fprintf(f, "\n ]}\n");
    if (fclose(f)) return fprintf(stderr, "kiln: %s: cannot write: %s\n", path, strerror(errno)), false;
    return true;
}

/* ---- bench ------------------------------------------------------------- */

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double quantile(const double *s, int n, double q)
{
    double at = q * (n - 1);
    int lo = (int)at;
    return lo + 1 < n ? s[lo] + (at - lo) * (s[lo + 1] - s[lo]) : s[lo];
}

int cmd_bench(tool_args *a)
{
    kiln_program *p;
    a->opt->profile = 0;
    kiln_status *st = kiln_jit(a->m, a->opt, &p);
    if (st) {
        fprintf(stderr, "kiln: %s\n", kiln_status_message(st));
        kiln_status_free(st);
        return 1;
    }
    void **ins, *state, **outs = alloc_fetches(p);
    int rc = 1, iters = tool_flags.iters ? tool_flags.iters : 200;
    double *t = calloc((size_t)iters + 1, sizeof *t);
    if (!outs || !t) fprintf(stderr, "kiln: out of memory\n");
    else if (tool_feeds(a, p, &ins, &state)) {
        /* warm-up: at least 5 runs and 0.2 s, at most 1000 runs */
        double w0 = now();
        int warm = 0;
        bool ok = true;
        while (ok && (warm < 5 || (now() - w0 < 0.2 && warm < 1000))) ok = run_once(p, (const void *const *)ins, outs, state, NULL), warm++;
        for (int i = 0; ok && i < iters; i++) {
            double t0 = now();
            ok = run_once(p, (const void *const *)ins, outs, state, NULL);
            t[i] = (now() - t0) * 1e6;
        }
        if (ok) {
            double mean = 0, dev[iters];
            for (int i = 0; i < iters; i++) mean += t[i] / iters;
            qsort(t, (size_t)iters, sizeof *t, by_double);
            double med = quantile(t, iters, 0.5);
            for (int i = 0; i < iters; i++) dev[i] = fabs(t[i] - med);
            qsort(dev, (size_t)iters, sizeof *dev, by_double);
            printf("kiln: bench %s: %d threads, %d runs after %d warm-up\n", a->model, a->opt->threads, iters, warm);
            printf("median_us %.3f\nmean_us %.3f\nmin_us %.3f\np10_us %.3f\np90_us %.3f\nmax_us %.3f\nmad_us %.3f\n", med, mean,
                   t[0], quantile(t, iters, 0.1), quantile(t, iters, 0.9), t[iters - 1], quantile(dev, iters, 0.5));
            rc = 0;
        }
        tool_feeds_free(p, ins, state);
    }
    free(t);
    free_fetches(p, outs);
    kiln_program_free(p);
    return rc;
}

/* kiln run --profile: called by main.c's cmd_run in place of the one run. */
int profile_run(const char *model, kiln_program *p, const void *const *ins, void *const *outs, void *state)
{
    prof_result r;
    if (!profile_measure(p, ins, outs, state, tool_flags.iters ? tool_flags.iters : 20, &r)) return 1;
    profile_print(model, &r, stdout);
    bool ok = !tool_flags.profile_json || profile_write_json(model, &r, tool_flags.profile_json);
    profile_result_free(&r);
    return ok ? 0 : 1;
}
