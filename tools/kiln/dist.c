/* tools/kiln/dist.c — kiln compile/run --split, --place, --task, --tasks,
 * --devices (docs/distributed.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist.h"
#include "kiln/dist.h"

#define MAX_RULES 256

const char dist_usage[] =
    "Distributed (docs/distributed.md): --split N (pipeline stages by cost) | --place GLOB=TASK... --tasks N |\n"
    "  --devices --tasks N (the GraphDef's device fields); compile takes --task T (one object per task);\n"
    "  mpirun -np N kiln run MODEL --split N ... runs task = rank; fetches come from rank 0.\n";

static const char *rules[MAX_RULES];
static int n_rules, tasks_given, task_given = -1;
static bool active, devices;

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
    } else {
        return false;
    }
    if (!*rc && tasks_given && !o->dist_split) o->dist_tasks = tasks_given;
    if (!*rc && task_given >= 0) o->dist_task = task_given;
    return true;
}

int dist_run_begin(kiln_options *o, int *argc, char ***argv)
{
    if (!active) return 0;
    if (kiln_rt_dist_init(argc, argv)) {
        fprintf(stderr, "kiln: %s\n", kiln_rt_dist_error());
        active = false;
        return 1;
    }
    int rank = kiln_rt_dist_rank(), size = kiln_rt_dist_size();
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
    fflush(stdout);
    fflush(stderr);
    if (rc) kiln_rt_dist_abort(rc);
    kiln_rt_dist_finalize();
    return rc;
}
