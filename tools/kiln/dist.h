/* tools/kiln/dist.h — the distributed options of kiln compile / kiln run
 * (docs/distributed.md), hooked into main.c. */
#ifndef KILN_TOOLS_DIST_H
#define KILN_TOOLS_DIST_H

#include <stdbool.h>

#include "kiln/kiln.h"

/* Consumes argv[*i] (and its value) if it is --split N, --place GLOB=TASK,
 * --tasks N, --task T, --devices, --data-parallel or --steps K: returns true, *rc non-zero on a bad
 * value (message printed). */
bool dist_option(int argc, char **argv, int *i, kiln_options *o, int *rc);
/* kiln run: under mpirun with a placement, joins the job and compiles for
 * this rank's task.  Non-zero: failed (message printed). */
int dist_run_begin(kiln_options *o, int *argc, char ***argv, const char **feed_files, int n_feeds);
/* --steps K: kiln run repeats the run K times (training steps on one state). */
extern int dist_steps;
/* --micro-batches M: kiln run cuts every feed's first dimension into M
 * micro-batches, compiles for B/M rows and runs the program M times per
 * step, each fetch's rows written in place; in a pipeline the last task
 * returns (and writes) the fetches (kiln_options.dist_fetch_last). */
extern int dist_micro_batches;
/* --time-steps: dist_time_steps(0) before the steps, (1) after them prints
 * this rank's time per step to stderr (in a job, after a barrier: every
 * rank compiled).  Returns 0, or 1 when the barrier failed (message printed). */
int dist_time_steps(int end);
/* --data-parallel: rank 0 alone writes fetches and state. */
bool dist_writer(void);
/* kiln run's exit: rc non-zero in a distributed run ends every rank
 * (MPI_Abort) after the message; else MPI is finalized.  Returns rc. */
int dist_run_end(int rc);
/* --ps[=sync|async|sync-sum]: parameter-server training instead of one run. */
bool dist_ps(void);
int dist_ps_run(kiln_model *m, const kiln_options *o, const char *const *feed_files, const char *state_dir);
extern const char dist_usage[];

#endif
