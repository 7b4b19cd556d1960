/* tools/kiln/tools.h — kiln viz, kiln bench and the profiler (docs/viz.md,
 * docs/profile.md): their options and commands, hooked into main.c. */
#ifndef KILN_TOOLS_H
#define KILN_TOOLS_H

#include <stdbool.h>
#include <stdint.h>

#include "kiln/inspect.h"

typedef struct tools_flags {
    bool profile;             /* --profile (compile: emit timing; run: print the table; viz: colour by time) */
    const char *profile_json; /* --profile-json FILE (implies --profile for run) */
    int iters;                /* --iters K (bench, profile runs); 0: default */
    bool show_consts;         /* viz --show-consts: draw constant nodes */
} tools_flags;
extern tools_flags tool_flags;

/* What main.c parsed, for the commands below. */
typedef struct tool_args {
    const char *model;
    kiln_model *m;
    kiln_options *opt;        /* feeds, fetches, -O, --threads...; dump_after holds --after */
    const char *out;          /* -o */
    const char *const *feed_files; /* per --feed, NULL where no file was given */
    int n_feeds;
} tool_args;

/* Consumes argv[*i] (and its value) if it is one of the options above:
 * returns true, *rc non-zero on a bad value (message printed). */
bool tools_option(int argc, char **argv, int *i, int *rc);
int cmd_viz(tool_args *a);
int cmd_bench(tool_args *a);

/* Their help text is help.c's table. */

/* ---- profiling (profile.c) ---- */
typedef struct prof_kernel {
    int index;
    double seconds;   /* per run */
    double share;     /* of the sum over kernels */
    double gflops, gbps, peak_pct;
    const char *bound; /* "fma" or "mem": which peak peak_pct is of */
} prof_kernel;

typedef struct prof_result {
    const kiln_plan_info *plan; /* the program's (owned by it) */
    prof_kernel *kernels;       /* plan order */
    int n_kernels, iters;
    double total_seconds, run_seconds; /* sum of kernels, whole run (per run) */
    double peak_gflops, peak_gbps, tsc_hz;
    int threads;
} prof_result;

/* Fills the feeds of p: from the files given (.npy), else deterministic
 * values in [-1, 1) (floats) or zeros.  Returns false with a message. */
bool tool_feeds(tool_args *a, kiln_program *p, void ***ins_out, void **state_out);
void tool_feeds_free(kiln_program *p, void **ins, void *state);
/* Runs p (compiled with profile) iters times after a warm-up; fetches to outs. */
bool profile_measure(kiln_program *p, const void *const *ins, void *const *outs, void *state, int iters, prof_result *r);
void profile_print(const char *model, const prof_result *r, FILE *f);
bool profile_write_json(const char *model, const prof_result *r, const char *path);
void profile_result_free(prof_result *r);
/* kiln run --profile in place of the run (fetches are left in outs). */
int profile_run(const char *model, kiln_program *p, const void *const *ins, void *const *outs, void *state);
/* Measured peak: one core's fp32 FMA GFLOP/s and read GB/s, cached in ~/.cache/kiln. */
void machine_peak(double *gflops, double *gbps);

#endif
