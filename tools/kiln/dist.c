/* tools/kiln/dist.c — kiln compile/run --split, --place, --task, --tasks,
 * --devices (docs/distributed.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dist.h"
#include "kiln/dist.h"
#include "npy.h"

#define MAX_RULES 256

const char dist_usage[] =
    "Distributed (docs/distributed.md): --split N (pipeline stages by cost) | --place GLOB=TASK... --tasks N |\n"
    "  --devices --tasks N (the GraphDef's device fields); compile takes --task T (one object per task);\n"
    "  mpirun -np N kiln run MODEL --split N ... runs task = rank; fetches come from rank 0.\n"
    "  mpirun -np N kiln run MODEL --state DIR --target train --data-parallel [--steps K] --feed x=X.npy ...:\n"
    "  each rank trains on its rows of every feed, gradients summed (MPI_Allreduce); rank 0 saves the state.\n";

static const char *rules[MAX_RULES];
static int n_rules, tasks_given, task_given = -1;
static bool active, devices, data_parallel;
int dist_steps = 1;
static bool time_steps;
static struct timespec t_steps;
static char shard_path[256][64];
static int n_shards;

static const char *value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n)) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] || *i + 1 >= argc) return NULL;
    return argv[++*i];
}

static int count(const char *opt, const char *v, int lo, int hi, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || !*v || n < lo || n > hi) {
        fprintf(stderr, "kiln: %s wants a number from %d to %d, not '%s'\n", opt, lo, hi, v);
        return 2;
    }
    *out = (int)n;
    return 0;
}

bool dist_option(int argc, char **argv, int *i, kiln_options *o, int *rc)
{
    const char *v;
    *rc = 0;
    if ((v = value(argc, argv, i, "--split"))) {
        if (!(*rc = count("--split", v, 1, 4096, &o->dist_tasks))) o->dist_split = 1, active = true;
    } else if ((v = value(argc, argv, i, "--place"))) {
        if (n_rules == MAX_RULES) {
            fprintf(stderr, "kiln: too many --place rules\n");
            return *rc = 2, true;
        }
        rules[n_rules++] = v;
        o->dist_place = rules, o->n_dist_place = n_rules, active = true;
    } else if ((v = value(argc, argv, i, "--tasks"))) {
        if (!(*rc = count("--tasks", v, 1, 4096, &tasks_given))) active = true;
    } else if ((v = value(argc, argv, i, "--task"))) {
        *rc = count("--task", v, 0, 4095, &task_given);
    } else if (!strcmp(argv[*i], "--devices")) {
        devices = active = true;
    } else if (!strcmp(argv[*i], "--data-parallel") || !strcmp(argv[*i], "--data-parallel=mean")) {
        data_parallel = active = true;
    } else if (!strcmp(argv[*i], "--data-parallel=sum")) { /* the loss sums over the batch */
        data_parallel = active = true;
        o->dist_gradient_sum = 1;
    } else if (!strcmp(argv[*i], "--time-steps")) {
        time_steps = true;
    } else if ((v = value(argc, argv, i, "--steps"))) {
        *rc = count("--steps", v, 1, 100000000, &dist_steps);
    } else {
        return false;
    }
    /* --tasks N: the task count of --place / --devices, or (dump, compile) the ranks of --data-parallel */
    if (!*rc && tasks_given && data_parallel) o->dist_data_parallel = tasks_given, o->dist_tasks = 0;
    else if (!*rc && tasks_given && !o->dist_split) o->dist_tasks = tasks_given;
    if (!*rc && task_given >= 0) o->dist_task = task_given;
    return true;
}

/* Data-parallel: rank r of N feeds rows [r*B/N, (r+1)*B/N) of each feed,
 * written to a file of its own that replaces the feed's. */
static int shard_feeds(const char **files, int n_files, int rank, int size)
{
    for (int i = 0; i < n_files && i < 256; i++) {
        if (!files[i]) continue;
        npy_array a;
        kl_diag d = {0};
        if (!npy_load(files[i], &a, &d)) {
            fprintf(stderr, "kiln: %s\n", d.text);
            kl_diag_clear(&d);
            return 1;
        }
        if (a.rank < 1 || a.dims[0] % size) {
            fprintf(stderr, "kiln: %s: --data-parallel over %d ranks needs a batch (first dim) divisible by %d, not %lld\n",
                    files[i], size, size, a.rank < 1 ? 0LL : (long long)a.dims[0]);
            npy_free(&a);
            return 1;
        }
        size_t row = a.bytes / (size_t)a.dims[0];
        int64_t dims[IR_MAX_RANK];
        memcpy(dims, a.dims, sizeof dims);
        dims[0] /= size;
        snprintf(shard_path[n_shards], sizeof shard_path[n_shards], "/tmp/kiln-dp-%d-%d-%d.npy", (int)getpid(), rank, i);
        bool ok = npy_save(shard_path[n_shards], a.dtype, a.rank, dims, (char *)a.data + row * (size_t)(dims[0] * rank), &d);
        npy_free(&a);
        if (!ok) {
            fprintf(stderr, "kiln: %s\n", d.text);
            kl_diag_clear(&d);
            return 1;
        }
        files[i] = shard_path[n_shards++];
    }
    return 0;
}

int dist_run_begin(kiln_options *o, int *argc, char ***argv, const char **feed_files, int n_feeds)
{
    if (!active) return 0;
    if (kiln_rt_dist_init(argc, argv)) {
        fprintf(stderr, "kiln: %s\n", kiln_rt_dist_error());
        active = false;
        return 1;
    }
    int rank = kiln_rt_dist_rank(), size = kiln_rt_dist_size();
    if (data_parallel) {
        o->dist_data_parallel = size;
        return size > 1 ? shard_feeds(feed_files, n_feeds, rank, size) : 0;
    }
    if (o->dist_tasks && o->dist_tasks != size) {
        fprintf(stderr, "kiln: rank %d: the placement has %d tasks but the job has %d ranks (mpirun -np %d)\n", rank,
                o->dist_tasks, size, o->dist_tasks);
        return 1;
    }
    o->dist_tasks = size;
    o->dist_task = rank;
    /* test hook (tests/sh/dist.sh): this rank stalls before its first run, as one that never starts */
    const char *stall = getenv("KILN_DIST_TEST_STALL");
    if (stall && atoi(stall) == rank) sleep(60);
    return 0;
}

int dist_run_end(int rc)
{
    if (!active) return rc;
    active = false;
    for (int i = 0; i < n_shards; i++) unlink(shard_path[i]);
    fflush(stdout);
    fflush(stderr);
    if (rc) kiln_rt_dist_abort(rc);
    kiln_rt_dist_finalize();
    return rc;
}

bool dist_writer(void) { return !data_parallel || !active || kiln_rt_dist_rank() <= 0; }

int dist_time_steps(int end)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (!end) t_steps = t;
    else if (time_steps) {
        double s = (double)(t.tv_sec - t_steps.tv_sec) + 1e-9 * (double)(t.tv_nsec - t_steps.tv_nsec);
        fprintf(stderr, "kiln: rank %d: %d steps in %.3f s, %.4f ms per step\n", active ? kiln_rt_dist_rank() : 0, dist_steps, s,
                1e3 * s / dist_steps);
    }
    return 0;
}
