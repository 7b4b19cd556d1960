/* runtime/dist.c — send/recv, fingerprints and allreduce over Open MPI
 * (include/kiln/dist.h, docs/distributed.md).
 *
 * Wire protocol: a value crossing from task A to task B is one message
 * A -> B on MPI_COMM_WORLD with tag = its rendezvous key (the crossing's
 * index, the same in every task's object) and the value's bytes as
 * MPI_BYTE.  MPI keeps messages of one (source, tag) in order, so
 * successive runs match without sequence numbers.  At the first run of an
 * object each rank publishes (fingerprint, task, n_tasks) with one
 * MPI_Iallgather; any difference is an error on every rank.  Every
 * point-to-point wait is MPI_Test in a loop with a deadline (200 spins,
 * sched_yield for the first millisecond, then sleeps growing to 0.1 ms).
 *
 * The gradient allreduce is Open MPI's blocking MPI_Allreduce (its tuned
 * algorithms; the non-blocking MPI_Iallreduce goes through libnbc's slower
 * ones), and its deadline is kept by a watchdog thread started in
 * kiln_rt_dist_init: the calling thread stores "waiting since" (and what:
 * floats, bucket) before the call and clears it after; the watchdog wakes
 * every 50 ms and, past KILN_DIST_TIMEOUT, prints which rank waited on what
 * and ends the process with _exit(1) (mpirun then ends the other ranks).
 * The watchdog makes no MPI call.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kiln/dist.h"

static char err_text[1024];
static double timeout_s = -1;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_text, sizeof err_text, fmt, ap);
    va_end(ap);
    return -1;
}

const char *kiln_rt_dist_error(void) { return err_text; }
void kiln_rt_dist_set_timeout(double seconds) { timeout_s = seconds > 0 ? seconds : -1; }

double kiln_rt_dist_timeout(void)
{
    if (timeout_s > 0) return timeout_s;
    const char *e = getenv("KILN_DIST_TIMEOUT");
    double v = e ? atof(e) : 0;
    return v > 0 ? v : 30.0;
}

#ifdef KILN_HAVE_MPI
#include <mpi.h>

static int rank = -1, size = 0, we_init = 0;
static uint64_t checked_fp;
static int checked;
static MPI_Request *pending;
static int n_pending, cap_pending;
static const char **pending_what;
static int *pending_key, *pending_peer;

/* What this rank waits on, for the SIGTERM mpirun sends when another rank
 * died: the message names it before the process ends. */
static char waiting[600];
static volatile sig_atomic_t in_wait;
static struct sigaction old_term;

static void watch_term_message(void);

static void on_term(int sig)
{
    watch_term_message();
    if (in_wait) {
        static const char a[] = "kiln dist: ended by mpirun (another rank died or failed) while ";
        ssize_t r = write(2, a, sizeof a - 1);
        r = write(2, waiting, strlen(waiting));
        r = write(2, "\n", 1);
        (void)r;
    }
    sigaction(SIGTERM, &old_term, NULL);
    raise(sig);
}

static void set_waiting(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_waiting(const char *fmt, ...)
{
    in_wait = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(waiting, sizeof waiting, fmt, ap);
    va_end(ap);
    in_wait = 1;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- the watchdog: deadlines of blocking MPI calls (the allreduce) ---- */

static _Atomic long long watch_since_ns; /* 0: no blocking call in progress */
static _Atomic long long watch_floats;
static _Atomic int watch_bucket, watch_buckets; /* -1: the one-call allreduce */
static pthread_t watchdog;
static atomic_int watchdog_stop;
static int watchdog_on;
static int thread_level = MPI_THREAD_SINGLE;

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void watch_begin(long long t_ns, int64_t floats, int bucket, int buckets)
{
    atomic_store_explicit(&watch_floats, floats, memory_order_relaxed);
    atomic_store_explicit(&watch_bucket, bucket, memory_order_relaxed);
    atomic_store_explicit(&watch_buckets, buckets, memory_order_relaxed);
    atomic_store_explicit(&watch_since_ns, t_ns, memory_order_release);
}

static void watch_end(void) { atomic_store_explicit(&watch_since_ns, 0, memory_order_release); }

/* "gradient allreduce of N floats[ (bucket B of K)]", without stdio: also
 * used from the SIGTERM handler. */
static size_t put_str(char *b, size_t at, size_t cap, const char *s)
{
    while (*s && at + 1 < cap) b[at++] = *s++;
    b[at] = 0;
    return at;
}

static size_t put_int(char *b, size_t at, size_t cap, long long v)
{
    char d[24];
    int k = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do d[k++] = (char)('0' + u % 10), u /= 10; while (u);
    if (v < 0) d[k++] = '-';
    while (k && at + 1 < cap) b[at++] = d[--k];
    b[at] = 0;
    return at;
}

static size_t watch_what(char *b, size_t at, size_t cap)
{
    at = put_str(b, at, cap, "gradient allreduce of ");
    at = put_int(b, at, cap, atomic_load(&watch_floats));
    at = put_str(b, at, cap, " floats");
    int k = atomic_load(&watch_bucket), nk = atomic_load(&watch_buckets);
    if (k >= 0) {
        at = put_str(b, at, cap, " (bucket ");
        at = put_int(b, at, cap, k);
        at = put_str(b, at, cap, " of ");
        at = put_int(b, at, cap, nk);
        at = put_str(b, at, cap, ")");
    }
    return at;
}

static void watch_term_message(void)
{
    if (!atomic_load(&watch_since_ns)) return;
    char b[300];
    size_t at = put_str(b, 0, sizeof b, "kiln dist: ended by mpirun (another rank died or failed) while rank ");
    at = put_int(b, at, sizeof b, rank);
    at = put_str(b, at, sizeof b, " was in the ");
    at = watch_what(b, at, sizeof b);
    at = put_str(b, at, sizeof b, "\n");
    ssize_t r = write(2, b, at);
    (void)r;
}

static void *watchdog_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&watchdog_stop)) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        long long since = atomic_load_explicit(&watch_since_ns, memory_order_acquire);
        double limit = kiln_rt_dist_timeout();
        if (!since || (double)(now_ns() - since) * 1e-9 <= limit) continue;
        char what[200];
        watch_what(what, 0, sizeof what);
        fprintf(stderr, "kiln dist: rank %d: %s did not complete within %.1f s: a rank died or is stuck (KILN_DIST_TIMEOUT); "
                        "the watchdog ends this rank (exit 1)\n", rank, what, limit);
        fflush(stderr);
        _exit(1);
    }
    return NULL;
}

static const char *mpi_msg(int code)
{
    static char s[MPI_MAX_ERROR_STRING + 1];
    int n = 0;
    if (MPI_Error_string(code, s, &n) != MPI_SUCCESS) snprintf(s, sizeof s, "MPI error %d", code);
    return s;
}

/* Test hook KILN_DIST_TEST_CLOSE=RANK (tests/sh/dist.sh, the "port closed"
 * case): that rank shuts down every socket it opened after MPI_Init — the
 * connections of Open MPI's tcp BTL to its peers (run with --mca btl
 * tcp,self), not the launcher's, which exist before — and then stays alive
 * without sending, as a process whose peers' port closed would.  Sockets
 * present after MPI_Init are remembered by inode. */
static unsigned long init_socks[256];
static int n_init_socks;

static void list_sockets(void (*each)(int fd, unsigned long inode))
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        struct stat st;
        if (e->d_name[0] == '.' || fstat(fd, &st) || !S_ISSOCK(st.st_mode)) continue;
        each(fd, (unsigned long)st.st_ino);
    }
    closedir(d);
}

static void remember_socket(int fd, unsigned long inode)
{
    (void)fd;
    if (n_init_socks < 256) init_socks[n_init_socks++] = inode;
}

static int n_shut;

static void shut_new_socket(int fd, unsigned long inode)
{
    for (int i = 0; i < n_init_socks; i++)
        if (init_socks[i] == inode) return;
    n_shut += shutdown(fd, SHUT_RDWR) == 0;
}

static int close_rank(void)
{
    static int r = -2;
    if (r == -2) {
        const char *e = getenv("KILN_DIST_TEST_CLOSE");
        r = e && *e ? atoi(e) : -1;
    }
    return r;
}

static void test_close_transport(void)
{
    if (close_rank() != rank) return;
    list_sockets(shut_new_socket);
    fprintf(stderr, "kiln dist: test hook: task %d shut down %d connections to its peers (KILN_DIST_TEST_CLOSE)\n", rank, n_shut);
    sleep(60);
}

/* Polls req until done or the deadline; 1 done, 0 timed out, -1 MPI error (*code). */
static int wait_deadline(MPI_Request *req, double seconds, int *code)
{
    double start = now(), end = start + seconds;
    long spins = 0;
    long nap = 1000; /* ns */
    for (;;) {
        int flag = 0;
        int rc = MPI_Test(req, &flag, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return *code = rc, -1;
        if (flag) return 1;
        double t = now();
        if (t > end) return 0;
        if (++spins < 200) continue;
        if (t - start < 1e-3) { /* the first millisecond: yield (to a peer sharing the core), no sleep */
            sched_yield();
            continue;
        }
        struct timespec ts = {0, nap};
        nanosleep(&ts, NULL);
        if (nap < 100000) nap *= 2; /* at most 0.1 ms late */
    }
}

int kiln_rt_dist_init(int *argc, char ***argv)
{
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) { /* serialized: the communication thread of the bucketed allreduce (below) */
        if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &thread_level) != MPI_SUCCESS)
            return fail("kiln dist: MPI_Init_thread failed");
        we_init = 1;
    } else
        MPI_Query_thread(&thread_level);
    if (!watchdog_on) {
        atomic_store(&watchdog_stop, 0);
        if (pthread_create(&watchdog, NULL, watchdog_main, NULL)) return fail("kiln dist: cannot start the watchdog thread");
        watchdog_on = 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, &old_term);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (close_rank() >= 0) list_sockets(remember_socket);
    return 0;
}

int kiln_rt_dist_rank(void) { return rank; }
int kiln_rt_dist_size(void) { return size; }

void kiln_rt_dist_abort(int code)
{
    if (rank >= 0) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

static void comm_stop(void);
static int drain(void);

int kiln_rt_dist_finalize(void)
{
    comm_stop();
    if (watchdog_on) {
        atomic_store(&watchdog_stop, 1);
        pthread_join(watchdog, NULL);
        watchdog_on = 0;
    }
    free(pending), free(pending_what), free(pending_key), free(pending_peer);
    pending = NULL, pending_what = NULL, pending_key = pending_peer = NULL, n_pending = cap_pending = 0;
    if (we_init) MPI_Finalize();
    we_init = 0, rank = -1;
    return 0;
}

int kiln_rt_dist_begin(uint64_t fingerprint, int task, int n_tasks)
{
    if (rank < 0) return fail("kiln dist: task %d: kiln_rt_dist_init was not called (run under mpirun)", task);
    if (checked && checked_fp == fingerprint) return 0;
    if (task < 0) { /* data-parallel: the same graph on every rank */
        task = rank, n_tasks = size;
    } else if (size != n_tasks)
        return fail("kiln dist: rank %d: the object is task %d of %d tasks but the job has %d ranks (mpirun -np %d)", rank, task,
                    n_tasks, size, n_tasks);
    if (rank != task) return fail("kiln dist: rank %d runs the object of task %d (each rank runs its own task's object)", rank, task);
    uint64_t mine[3] = {fingerprint, (uint64_t)task, (uint64_t)n_tasks};
    uint64_t *all = malloc(sizeof *all * 3 * (size_t)size);
    if (!all) return fail("kiln dist: task %d: out of memory", task);
    MPI_Request req;
    set_waiting("task %d was exchanging graph fingerprints at start-up", task);
    int code = MPI_Iallgather(mine, 3, MPI_UINT64_T, all, 3, MPI_UINT64_T, MPI_COMM_WORLD, &req);
    int done = code == MPI_SUCCESS ? wait_deadline(&req, kiln_rt_dist_timeout(), &code) : -1;
    in_wait = 0;
    if (done <= 0) {
        free(all);
        if (!done)
            return fail("kiln dist: task %d: the start-up exchange of graph fingerprints did not complete within %.1f s: "
                        "a rank died, never started or runs something else (KILN_DIST_TIMEOUT)", task, kiln_rt_dist_timeout());
        return fail("kiln dist: task %d: start-up exchange failed: %s", task, mpi_msg(code));
    }
    for (int r = 0; r < size; r++)
        if (all[3 * r] != fingerprint || all[3 * r + 2] != (uint64_t)n_tasks) {
            int rc = fail("kiln dist: task %d's object (graph fingerprint %016llx, %d tasks) does not match task %d's "
                          "(%016llx, %llu tasks): the objects were compiled from different graphs or placements",
                          r, (unsigned long long)all[3 * r], (int)all[3 * r + 2], task, (unsigned long long)fingerprint,
                          (unsigned long long)n_tasks);
            free(all);
            return rc;
        }
    free(all);
    checked = 1, checked_fp = fingerprint;
    return 0;
}

/* Test hook (tests/sh/dist.sh): KILN_DIST_TEST_HOLD=KEY makes the send of
 * that key wait 60 s first, as a stuck or dying peer would. */
static int hold_key(void)
{
    static int k = -2;
    if (k == -2) {
        const char *e = getenv("KILN_DIST_TEST_HOLD");
        k = e && *e ? atoi(e) : -1;
    }
    return k;
}

int kiln_rt_send(const void *buf, int64_t bytes, int peer, int key, const char *what)
{
    if (key == hold_key()) {
        fprintf(stderr, "kiln dist: test hook: task %d holds key %d for 60 s (KILN_DIST_TEST_HOLD)\n", rank, key);
        sleep(60);
    }
    test_close_transport();
    if (bytes > 0x7fffffff) return fail("kiln dist: task %d: value %s for key %d is %lld bytes, above MPI's 2 GiB per message", rank, what, key, (long long)bytes);
    if (n_pending == cap_pending) {
        int cap = cap_pending ? 2 * cap_pending : 64;
        MPI_Request *p = realloc(pending, sizeof *p * (size_t)cap);
        if (p) pending = p;
        const char **w = realloc(pending_what, sizeof *w * (size_t)cap);
        if (w) pending_what = w;
        int *k = realloc(pending_key, sizeof *k * (size_t)cap);
        if (k) pending_key = k;
        int *q = realloc(pending_peer, sizeof *q * (size_t)cap);
        if (q) pending_peer = q;
        if (!p || !w || !k || !q) return fail("kiln dist: task %d: out of memory for send requests", rank);
        cap_pending = cap;
    }
    int code = MPI_Isend(buf, (int)bytes, MPI_BYTE, peer, key, MPI_COMM_WORLD, &pending[n_pending]);
    if (code != MPI_SUCCESS) return fail("kiln dist: task %d: send of key %d (%s) to task %d failed: %s", rank, key, what, peer, mpi_msg(code));
    pending_what[n_pending] = what, pending_key[n_pending] = key, pending_peer[n_pending] = peer;
    n_pending++;
    return 0;
}

int kiln_rt_recv(void *buf, int64_t bytes, int peer, int key, const char *what)
{
    if (bytes > 0x7fffffff) return fail("kiln dist: task %d: value %s for key %d is %lld bytes, above MPI's 2 GiB per message", rank, what, key, (long long)bytes);
    MPI_Request req;
    int code = MPI_Irecv(buf, (int)bytes, MPI_BYTE, peer, key, MPI_COMM_WORLD, &req);
    set_waiting("task %d was waiting for key %d (%s) from task %d", rank, key, what, peer);
    int done = code == MPI_SUCCESS ? wait_deadline(&req, kiln_rt_dist_timeout(), &code) : -1;
    in_wait = 0;
    if (done > 0) return 0;
    if (!done) {
        MPI_Cancel(&req);
        return fail("kiln dist: task %d: waited %.1f s for key %d (%s, %lld bytes) from task %d: the peer died, never "
                    "started, is stuck or its connection closed (KILN_DIST_TIMEOUT)", rank, kiln_rt_dist_timeout(), key, what, (long long)bytes, peer);
    }
    return fail("kiln dist: task %d: receive of key %d (%s) from task %d failed: %s", rank, key, what, peer, mpi_msg(code));
}

int kiln_rt_recv_any(void *buf, int64_t bytes, int key, const char *what, int *from)
{
    if (bytes > 0x7fffffff) return fail("kiln dist: task %d: value %s for key %d is %lld bytes, above MPI's 2 GiB per message", rank, what, key, (long long)bytes);
    MPI_Request req;
    MPI_Status status;
    int code = MPI_Irecv(buf, (int)bytes, MPI_BYTE, MPI_ANY_SOURCE, key, MPI_COMM_WORLD, &req);
    set_waiting("task %d was waiting for key %d (%s) from any task", rank, key, what);
    double end = now() + kiln_rt_dist_timeout();
    long spins = 0, nap = 1000;
    int flag = 0;
    while (code == MPI_SUCCESS && !(code = MPI_Test(&req, &flag, &status), flag) && code == MPI_SUCCESS && now() <= end) {
        if (++spins < 200) continue;
        struct timespec ts = {0, nap};
        nanosleep(&ts, NULL);
        if (nap < 100000) nap *= 2;
    }
    in_wait = 0;
    if (code != MPI_SUCCESS) return fail("kiln dist: task %d: receive of key %d (%s) failed: %s", rank, key, what, mpi_msg(code));
    if (!flag) {
        MPI_Cancel(&req);
        return fail("kiln dist: task %d: waited %.1f s for key %d (%s, %lld bytes) from any task: the peers died or are stuck "
                    "(KILN_DIST_TIMEOUT)", rank, kiln_rt_dist_timeout(), key, what, (long long)bytes);
    }
    *from = status.MPI_SOURCE;
    return 0;
}

int kiln_rt_dist_end(void)
{
    int rc = 0;
    for (int i = 0; i < n_pending; i++) {
        int code = 0;
        set_waiting("task %d was waiting for task %d to take key %d (%s)", rank, pending_peer[i], pending_key[i], pending_what[i]);
        int done = rc ? 1 : wait_deadline(&pending[i], kiln_rt_dist_timeout(), &code);
        in_wait = 0;
        if (done <= 0 && !rc)
            rc = done ? fail("kiln dist: task %d: send of key %d (%s) to task %d failed: %s", rank, pending_key[i], pending_what[i],
                             pending_peer[i], mpi_msg(code))
                      : fail("kiln dist: task %d: task %d did not take key %d (%s) within %.1f s: the peer died or is stuck "
                             "(KILN_DIST_TIMEOUT)", rank, pending_peer[i], pending_key[i], pending_what[i], kiln_rt_dist_timeout());
    }
    n_pending = 0;
    return rc;
}

int kiln_rt_dist_barrier(const char *what)
{
    if (rank < 0) return fail("kiln dist: kiln_rt_dist_init was not called (run under mpirun)");
    if (drain()) return -1;
    MPI_Request req;
    set_waiting("rank %d was waiting for every rank at %s", rank, what);
    int code = MPI_Ibarrier(MPI_COMM_WORLD, &req);
    int done = code == MPI_SUCCESS ? wait_deadline(&req, kiln_rt_dist_timeout(), &code) : -1;
    in_wait = 0;
    if (!done)
        return fail("kiln dist: rank %d: not every rank reached %s within %.1f s: a rank died or is stuck (KILN_DIST_TIMEOUT)", rank,
                    what, kiln_rt_dist_timeout());
    return done < 0 ? fail("kiln dist: rank %d: barrier at %s failed: %s", rank, what, mpi_msg(code)) : 0;
}

static double ar_seconds, ar_waited; /* in MPI_Allreduce; the caller blocked on buckets: kiln run --time-steps */
static long long ar_bytes, ar_calls;

void kiln_rt_dist_allreduce_stats(double *seconds, long long *bytes, long long *calls)
{
    *seconds = ar_seconds, *bytes = ar_bytes, *calls = ar_calls;
}

double kiln_rt_dist_allreduce_waited(void) { return ar_waited; }

/* Test hook (tests/sh/dist.sh): KILN_DIST_TEST_HOLD_ALLREDUCE=RANK makes
 * that rank's first gradient allreduce wait 60 s first (a stuck rank). */
static void hold_allreduce(void)
{
    static int r = -2;
    if (r == -2) {
        const char *e = getenv("KILN_DIST_TEST_HOLD_ALLREDUCE");
        r = e && *e ? atoi(e) : -1;
        if (r == rank) {
            fprintf(stderr, "kiln dist: test hook: rank %d holds its first gradient allreduce for 60 s (KILN_DIST_TEST_HOLD_ALLREDUCE)\n", rank);
            sleep(60);
        }
    }
}

/* The blocking MPI_Allreduce in place, its deadline kept by the watchdog;
 * 0 or -1 (message in err_text).  bucket -1: the one-call allreduce. */
static int allreduce_blocking(float *buf, int64_t n, int bucket, int buckets)
{
    hold_allreduce();
    long long t0 = now_ns();
    watch_begin(t0, n, bucket, buckets);
    int code = MPI_SUCCESS;
    for (int64_t at = 0; at < n && code == MPI_SUCCESS;) { /* MPI counts are int */
        int part = n - at > (1 << 30) ? (1 << 30) : (int)(n - at);
        code = MPI_Allreduce(MPI_IN_PLACE, buf + at, part, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        at += part;
    }
    watch_end();
    ar_seconds += 1e-9 * (double)(now_ns() - t0);
    ar_calls++, ar_bytes += 4 * (long long)n;
    if (code != MPI_SUCCESS) return fail("kiln dist: rank %d: gradient allreduce of %lld floats failed: %s", rank, (long long)n, mpi_msg(code));
    return 0;
}

/* ---- the communication thread: bucketed allreduces overlapped with backprop
 *
 * kiln_rt_allreduce_start queues a bucket; the thread performs the queued
 * buckets' blocking MPI_Allreduce in order (in a data-parallel step it is
 * the only thread calling MPI, so MPI_THREAD_SERIALIZED suffices);
 * kiln_rt_allreduce_wait blocks until that bucket is reduced.  Every other
 * entry point that calls MPI first waits until the queue is empty (drain). */
enum { MAX_QUEUED = 256 };
typedef struct bucket {
    float *buf;
    int64_t n;
    int index, count;
} bucket;
static bucket queue[MAX_QUEUED];
static long long q_started, q_done; /* buckets queued, buckets reduced (sequence numbers) */
static int q_failed;                 /* a reduction failed: its message in q_err */
static char q_err[sizeof err_text];
static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_work = PTHREAD_COND_INITIALIZER, q_progress = PTHREAD_COND_INITIALIZER;
static pthread_t comm;
static int comm_on, comm_quit;

static void *comm_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&q_mu);
    for (;;) {
        while (q_done == q_started && !comm_quit) pthread_cond_wait(&q_work, &q_mu);
        if (q_done == q_started) break;
        bucket b = queue[q_done % MAX_QUEUED];
        pthread_mutex_unlock(&q_mu);
        int rc = q_failed ? 0 : allreduce_blocking(b.buf, b.n, b.index, b.count);
        pthread_mutex_lock(&q_mu);
        if (rc && !q_failed) q_failed = 1, snprintf(q_err, sizeof q_err, "%s", err_text);
        q_done++;
        pthread_cond_broadcast(&q_progress);
    }
    pthread_mutex_unlock(&q_mu);
    return NULL;
}

/* Waits until the bucket with sequence number seq is reduced (every queued
 * one: seq = q_started - 1); the time blocked counts as exposed communication. */
static int comm_wait(long long seq)
{
    if (!comm_on) return 0;
    long long t0 = now_ns();
    pthread_mutex_lock(&q_mu);
    while (q_done <= seq) pthread_cond_wait(&q_progress, &q_mu);
    int failed = q_failed;
    if (failed) snprintf(err_text, sizeof err_text, "%s", q_err);
    pthread_mutex_unlock(&q_mu);
    ar_waited += 1e-9 * (double)(now_ns() - t0);
    return failed ? -1 : 0;
}

static int drain(void) { return comm_on ? comm_wait(q_started - 1) : 0; }

static void comm_stop(void)
{
    if (!comm_on) return;
    pthread_mutex_lock(&q_mu);
    comm_quit = 1;
    pthread_cond_signal(&q_work);
    pthread_mutex_unlock(&q_mu);
    pthread_join(comm, NULL);
    comm_on = comm_quit = 0;
}

static const char *level_name(int level)
{
    return level == MPI_THREAD_SINGLE ? "MPI_THREAD_SINGLE" : level == MPI_THREAD_FUNNELED ? "MPI_THREAD_FUNNELED"
         : level == MPI_THREAD_SERIALIZED ? "MPI_THREAD_SERIALIZED" : "MPI_THREAD_MULTIPLE";
}

int kiln_rt_allreduce_start(const float *in, float *buf, int64_t n, int index, int count, const char *what)
{
    if (rank < 0) return fail("kiln dist: kiln_rt_dist_init was not called (run under mpirun)");
    if (!comm_on) {
        if (thread_level < MPI_THREAD_SERIALIZED)
            return fail("kiln dist: rank %d: the bucketed gradient allreduce (%s) needs MPI_THREAD_SERIALIZED, but MPI was "
                        "initialized with %s: initialize it with MPI_Init_thread(..., MPI_THREAD_SERIALIZED, ...) or let "
                        "kiln_rt_dist_init do it, or compile with one bucket (--allreduce-bucket-bytes 0)",
                        rank, what, level_name(thread_level));
        if (pthread_create(&comm, NULL, comm_main, NULL)) return fail("kiln dist: rank %d: cannot start the communication thread", rank);
        comm_on = 1;
    }
    if (in != buf) memcpy(buf, in, sizeof *buf * (size_t)n);
    pthread_mutex_lock(&q_mu);
    while (q_started - q_done >= MAX_QUEUED) pthread_cond_wait(&q_progress, &q_mu);
    queue[q_started % MAX_QUEUED] = (bucket){buf, n, index, count};
    q_started++;
    pthread_cond_signal(&q_work);
    pthread_mutex_unlock(&q_mu);
    return 0;
}

int kiln_rt_allreduce_wait(const float *buf, float *out, int64_t n, int index, int count, const char *what)
{
    if (!comm_on) return fail("kiln dist: rank %d: wait for gradient bucket %d of %d (%s) that was never started (a Kiln bug)", rank, index, count, what);
    long long seq = -1;
    pthread_mutex_lock(&q_mu);
    for (long long s = q_started - 1; s >= 0 && s >= q_started - MAX_QUEUED && seq < 0; s--)
        if (queue[s % MAX_QUEUED].buf == buf) seq = s;
    pthread_mutex_unlock(&q_mu);
    if (seq < 0) return fail("kiln dist: rank %d: wait for gradient bucket %d of %d (%s) that was never started (a Kiln bug)", rank, index, count, what);
    if (comm_wait(seq)) {
        char msg[sizeof err_text];
        snprintf(msg, sizeof msg, "%s (%s)", err_text, what);
        snprintf(err_text, sizeof err_text, "%s", msg);
        return -1;
    }
    if (out != buf) memcpy(out, buf, sizeof *out * (size_t)n);
    return 0;
}

int kiln_rt_dist_allreduce_f32(float *buf, int64_t n)
{
    if (rank < 0) return fail("kiln dist: kiln_rt_dist_init was not called (run under mpirun)");
    if (drain()) return -1;
    return allreduce_blocking(buf, n, -1, 0);
}

int kiln_rt_allreduce_f32(const float *in, float *out, int64_t n, const char *what)
{
    if (in != out) memcpy(out, in, sizeof *out * (size_t)n);
    if (kiln_rt_dist_allreduce_f32(out, n)) {
        char msg[sizeof err_text];
        snprintf(msg, sizeof msg, "%s (%s)", err_text, what);
        snprintf(err_text, sizeof err_text, "%s", msg);
        return -1;
    }
    return 0;
}

#else /* built without MPI: every call says so */

#define NO_MPI fail("kiln dist: this libkilnrt was built without MPI: install Open MPI (libopenmpi-dev, tools/install-deps.sh) and rebuild Kiln")
int kiln_rt_dist_init(int *argc, char ***argv) { return NO_MPI; }
int kiln_rt_dist_rank(void) { return -1; }
int kiln_rt_dist_size(void) { return 0; }
void kiln_rt_dist_abort(int code) { exit(code); }
int kiln_rt_dist_finalize(void) { return 0; }
int kiln_rt_dist_begin(uint64_t fingerprint, int task, int n_tasks) { return NO_MPI; }
int kiln_rt_send(const void *buf, int64_t bytes, int peer, int key, const char *what) { return NO_MPI; }
int kiln_rt_recv(void *buf, int64_t bytes, int peer, int key, const char *what) { return NO_MPI; }
int kiln_rt_dist_end(void) { return NO_MPI; }
int kiln_rt_recv_any(void *buf, int64_t bytes, int key, const char *what, int *from) { return NO_MPI; }
int kiln_rt_dist_allreduce_f32(float *buf, int64_t n) { return NO_MPI; }
int kiln_rt_dist_barrier(const char *what) { return NO_MPI; }
void kiln_rt_dist_allreduce_stats(double *seconds, long long *bytes, long long *calls) { *seconds = 0, *bytes = *calls = 0; }
int kiln_rt_allreduce_f32(const float *in, float *out, int64_t n, const char *what) { return NO_MPI; }
int kiln_rt_allreduce_start(const float *in, float *buf, int64_t n, int index, int count, const char *what) { return NO_MPI; }
int kiln_rt_allreduce_wait(const float *buf, float *out, int64_t n, int index, int count, const char *what) { return NO_MPI; }
double kiln_rt_dist_allreduce_waited(void) { return 0; }
#endif
