/* tools/kiln/dist.c — kiln compile/run --split, --place, --task, --tasks,
 * --devices (docs/distributed.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "dist.h"
#include "kiln/dist.h"
#include "npy.h"
#include "state.h"

#define MAX_RULES 256

const char dist_usage[] =
    "Distributed (docs/distributed.md): --split N (pipeline stages by cost) | --place GLOB=TASK... --tasks N |\n"
    "  --devices --tasks N (the GraphDef's device fields); compile takes --task T (one object per task);\n"
    "  mpirun -np N kiln run MODEL --split N ... runs task = rank; fetches come from rank 0.\n"
    "  mpirun -np N kiln run MODEL --state DIR --target train --data-parallel [--steps K] --feed x=X.npy ...:\n"
    "  each rank trains on its rows of every feed, gradients summed (MPI_Allreduce); rank 0 saves the state.\n"
    "  --micro-batches M (kiln run): every feed's batch (first dim) cut into M micro-batches, compiled for B/M rows,\n"
    "  streamed through the stages; the last task returns the fetches (and writes them).\n";

static const char *rules[MAX_RULES];
static int n_rules, tasks_given, task_given = -1;
static bool active, devices, data_parallel;
static int ps_mode; /* 1 sync, 2 async */
int dist_steps = 1;
int dist_micro_batches = 1;
static bool time_steps;
static struct timespec t_steps;
static double cpu_steps;

static double cpu_seconds(void) /* this process's user + system time */
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}
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
    } else if (!strcmp(argv[*i], "--ps") || !strcmp(argv[*i], "--ps=sync") || !strcmp(argv[*i], "--ps=async") ||
               !strcmp(argv[*i], "--ps=sync-sum")) {
        ps_mode = strstr(argv[*i], "async") ? 2 : 1;
        o->dist_gradient_sum = strstr(argv[*i], "sum") != NULL;
        active = true;
    } else if ((v = value(argc, argv, i, "--allreduce-bucket-bytes"))) {
        char *end;
        long long n = strtoll(v, &end, 10);
        if (*end || !*v || n < 0) {
            fprintf(stderr, "kiln: --allreduce-bucket-bytes wants a byte count (0: one allreduce per step), not '%s'\n", v);
            *rc = 2;
        } else
            o->dist_allreduce_bucket_bytes = n;
    } else if (!strcmp(argv[*i], "--time-steps")) {
        time_steps = true;
    } else if ((v = value(argc, argv, i, "--steps"))) {
        *rc = count("--steps", v, 1, 100000000, &dist_steps);
    } else if ((v = value(argc, argv, i, "--micro-batches"))) {
        *rc = count("--micro-batches", v, 1, 65536, &dist_micro_batches);
        o->dist_fetch_last = !*rc && dist_micro_batches > 1; /* the last stage returns the fetches: stage 0 never waits */
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
    if (ps_mode) { /* rank 0 holds the variables; workers 1..N-1 share the batch */
        if (size < 2) {
            fprintf(stderr, "kiln: --ps needs a parameter server and at least one worker (mpirun -np 2 or more)\n");
            return 1;
        }
        return rank ? shard_feeds(feed_files, n_feeds, rank - 1, size - 1) : 0;
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
    if (!end && time_steps && active && kiln_rt_dist_barrier("the timed steps")) { /* every rank compiled: time the steps alone */
        fprintf(stderr, "kiln: %s\n", kiln_rt_dist_error());
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (!end) t_steps = t, cpu_steps = cpu_seconds();
    else if (time_steps) {
        double s = (double)(t.tv_sec - t_steps.tv_sec) + 1e-9 * (double)(t.tv_nsec - t_steps.tv_nsec);
        fprintf(stderr, "kiln: rank %d: %d steps in %.3f s, %.4f ms per step (cpu %.4f ms per step)\n", active ? kiln_rt_dist_rank() : 0,
                dist_steps, s, 1e3 * s / dist_steps, 1e3 * (cpu_seconds() - cpu_steps) / dist_steps);
        double ar;
        long long bytes, calls;
        kiln_rt_dist_allreduce_stats(&ar, &bytes, &calls);
        double waited = kiln_rt_dist_allreduce_waited();
        if (calls) /* data-parallel: the gradient allreduce's share of the step (buckets: and the part not overlapped) */
            fprintf(stderr, "kiln: rank %d: allreduce %.4f ms per step (%.1f%% of the step), %lld calls, %lld bytes, %.1f MB/s%s",
                    kiln_rt_dist_rank(), 1e3 * ar / dist_steps, 100 * ar / s, calls, bytes, ar > 0 ? bytes / ar / 1e6 : 0.0,
                    waited > 0 ? "" : "\n");
        if (calls && waited > 0)
            fprintf(stderr, "; waited for buckets %.4f ms per step (%.1f%% of the step)\n", 1e3 * waited / dist_steps, 100 * waited / s);
    }
    return 0;
}

/* ---- parameter-server training (docs/distributed.md) ------------------- */

bool dist_ps(void) { return ps_mode != 0; }

enum { TAG_STATE = 30000, TAG_GRAD = 30001 };

static int ps_fail(const char *what)
{
    fprintf(stderr, "kiln: %s%s%s\n", what, *kiln_rt_dist_error() ? ": " : "", kiln_rt_dist_error());
    return 1;
}

/* Rank 0: the state and the update entry (the gradients fed); workers: the
 * gradient entry (the shard fed, the gradients and the user's fetches
 * fetched).  Sync: each step the server sends the state to every worker,
 * sums their gradients in rank order (divided by the worker count unless
 * --ps=sync-sum) and applies them once.  Async: the server applies each
 * worker's gradient as it arrives and answers that worker with the state
 * as it is then. */
int dist_ps_run(kiln_model *m, const kiln_options *o, const char *const *feed_files, const char *state_dir)
{
    int rank = kiln_rt_dist_rank(), workers = kiln_rt_dist_size() - 1;
    const char *grads[256];
    int n_grads = kiln_model_gradients(m, grads, 256);
    if (n_grads < 1 || n_grads > 256) {
        fprintf(stderr, "kiln: --ps: the model has %s dense optimizer updates (Apply* ops) to serve\n", n_grads ? "too many" : "no");
        return 1;
    }
    if (!state_dir) {
        fprintf(stderr, "kiln: --ps: give --state DIR (created by --fetch init_all_vars_op)\n");
        return 1;
    }
    kiln_options po = *o;
    const char *fetches[256 + 64];
    if (rank == 0) {
        po.feeds = grads, po.n_feeds = n_grads, po.fetches = NULL, po.n_fetches = 0;
    } else {
        if (o->n_fetches > 64) return fprintf(stderr, "kiln: --ps: at most 64 fetches\n"), 1;
        for (int i = 0; i < n_grads; i++) fetches[i] = grads[i];
        for (int i = 0; i < o->n_fetches; i++) fetches[n_grads + i] = o->fetches[i];
        po.fetches = fetches, po.n_fetches = n_grads + o->n_fetches, po.targets = NULL, po.n_targets = 0;
    }
    kiln_program *p;
    kiln_status *st = kiln_jit(m, &po, &p);
    if (st) {
        fprintf(stderr, "kiln: rank %d (%s): %s\n", rank, rank ? "worker" : "parameter server", kiln_status_message(st));
        kiln_status_free(st);
        return 1;
    }
    int rc = 0;
    size_t state_bytes = kiln_program_state_size(p), gbytes = 0;
    size_t goff[256];
    for (int i = 0; i < n_grads; i++) {
        goff[i] = gbytes;
        kiln_tensor_info t = rank ? kiln_program_fetch(p, i) : kiln_program_feed(p, i);
        gbytes += (t.bytes + 63) & ~(size_t)63;
    }
    void *state = rank ? aligned_alloc(64, (state_bytes + 63) & ~(size_t)63) : state_load(state_dir, p);
    float *g = aligned_alloc(64, gbytes + 64), *sum = aligned_alloc(64, gbytes + 64);
    npy_array in[64] = {{0}};
    void *outs[256 + 64] = {0};
    const void *ins[256];
    if (!state || !g || !sum) rc = 1, fprintf(stderr, "kiln: --ps: out of memory or no state\n");
    for (int i = 0; !rc && rank && i < o->n_feeds && i < 64; i++) {
        kl_diag d = {0};
        if (!feed_files[i] || !npy_load(feed_files[i], &in[i], &d)) rc = 1, fprintf(stderr, "kiln: %s\n", d.text ? d.text : "--ps: a feed needs a file");
        kl_diag_clear(&d);
        ins[i] = in[i].data;
    }
    for (int i = 0; !rc && rank && i < o->n_fetches; i++)
        if (!(outs[n_grads + i] = aligned_alloc(64, (kiln_program_fetch(p, n_grads + i).bytes + 64) & ~(size_t)63))) rc = 1;
    for (int i = 0; i < n_grads; i++) outs[i] = (char *)g + goff[i];
    if (rank == 0) for (int i = 0; i < n_grads; i++) ins[i] = (char *)sum + goff[i];
    dist_time_steps(0);
    if (!rc && rank == 0 && ps_mode == 1) { /* sync server */
        for (int s = 0; !rc && s < dist_steps; s++) {
            for (int w = 1; !rc && w <= workers; w++) rc = kiln_rt_send(state, (int64_t)state_bytes, w, TAG_STATE, "the variables");
            if (!rc) rc = kiln_rt_dist_end();
            memset(sum, 0, gbytes);
            for (int w = 1; !rc && w <= workers; w++) {
                rc = kiln_rt_recv(g, (int64_t)gbytes, w, TAG_GRAD, "the gradients");
                for (size_t k = 0; !rc && k < gbytes / 4; k++) sum[k] += g[k];
            }
            float scale = o->dist_gradient_sum ? 1.0f : 1.0f / (float)workers;
            for (size_t k = 0; !rc && scale != 1.0f && k < gbytes / 4; k++) sum[k] *= scale;
            if (!rc && (st = kiln_program_run_state(p, ins, NULL, state, NULL))) rc = 1, fprintf(stderr, "kiln: %s\n", kiln_status_message(st)), kiln_status_free(st);
        }
        if (rc) ps_fail("parameter server");
    } else if (!rc && rank == 0) { /* async server: one update per gradient, as it comes */
        int *left = calloc((size_t)workers + 1, sizeof *left);
        if (!left) rc = 1;
        for (int w = 1; !rc && w <= workers; w++) left[w] = dist_steps, rc = kiln_rt_send(state, (int64_t)state_bytes, w, TAG_STATE, "the variables");
        if (!rc) rc = kiln_rt_dist_end();
        for (long todo = (long)dist_steps * workers; !rc && todo > 0; todo--) {
            int from = -1;
            rc = kiln_rt_recv_any(sum, (int64_t)gbytes, TAG_GRAD, "a gradient", &from);
            if (!rc && (st = kiln_program_run_state(p, ins, NULL, state, NULL))) rc = 1, fprintf(stderr, "kiln: %s\n", kiln_status_message(st)), kiln_status_free(st);
            if (!rc && --left[from] > 0) rc = kiln_rt_send(state, (int64_t)state_bytes, from, TAG_STATE, "the variables");
            if (!rc) rc = kiln_rt_dist_end(); /* the next update writes the state */
        }
        free(left);
        if (rc) ps_fail("parameter server");
    } else if (!rc) { /* worker */
        for (int s = 0; !rc && s < dist_steps; s++) {
            rc = kiln_rt_recv(state, (int64_t)state_bytes, 0, TAG_STATE, "the variables");
            if (!rc && (st = kiln_program_run_state(p, ins, outs, state, NULL))) rc = 1, fprintf(stderr, "kiln: %s\n", kiln_status_message(st)), kiln_status_free(st);
            if (!rc) rc = kiln_rt_send(g, (int64_t)gbytes, 0, TAG_GRAD, "the gradients");
            if (!rc) rc = kiln_rt_dist_end();
        }
        if (rc) ps_fail("worker");
        for (int i = 0; !rc && i < o->n_fetches; i++) {
            kiln_tensor_info t = kiln_program_fetch(p, n_grads + i);
            if (t.rank == 0 && t.dtype == KILN_F32) printf("%s = %.9g (worker %d, last step)\n", t.name, *(float *)outs[n_grads + i], rank);
        }
    }
    dist_time_steps(1);
    if (!rc && rank == 0) rc = state_save(state_dir, p, state);
    for (int i = 0; i < 64; i++) npy_free(&in[i]);
    for (int i = n_grads; i < n_grads + 64; i++) free(outs[i]);
    free(state), free(g), free(sum);
    kiln_program_free(p);
    return rc;
}
