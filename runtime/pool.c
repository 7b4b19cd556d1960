/* runtime/pool.c — the thread pool that generated kernels split work over.
 *
 * Objects compiled with --threads N > 1 call kiln_rt_parallel_for for their
 * big kernels; with N = 1 they never reference the runtime at all (the
 * single-thread path has no synchronization of any kind).
 *
 * One process-wide pool of persistent workers, started on first use.  A call
 * publishes the job by bumping a generation counter and cuts the range into
 * one contiguous, equal chunk per thread (finer chunks cost GEMM groups their
 * B reuse, measured on ResNet50).  The caller and the workers take chunks from
 * one shared word that holds the job's sequence number, the next chunk and
 * the chunk count, so a worker can only take a chunk of the job it woke for,
 * and the caller takes every chunk no worker has taken yet.  The caller then
 * waits for the chunks to be *done*, not for the workers to check in: a
 * worker that is asleep or descheduled when the job arrives costs nothing
 * unless it actually took a chunk.  That is what keeps a 2-thread model fast
 * on a loaded machine, where a worker may not run for milliseconds.
 *
 * Waiting, on both sides, is bounded spinning and then sleeping: workers spin
 * for SPIN_NS after a job (kernels of one model run microseconds apart), the
 * second half yielding the core, and then sleep on a condition variable; the
 * caller, waiting for a chunk a worker holds, spins, yields, and after
 * SPIN_NS sleeps until the last chunk's finisher wakes it.  An idle process
 * does not burn a core, and an oversubscribed one does not spin against the
 * very thread it waits for.
 *
 * Calls from several host threads at once are serialized by a mutex: a
 * second model run waits instead of oversubscribing the cores.
 *
 * Placement (Linux): a new worker is created allowed on one CPU other than
 * the caller's, and widens its mask back to the process's as its first act.
 * Left to itself, Linux starts a new thread on its creator's CPU and the
 * load balancer moved it away only after 5-25 ms, during which both threads
 * shared one core: a fresh process's first ~20 calls of a 2-thread U-Net ran
 * at 0.97 ms instead of 0.53 ms (docs/performance.md, 23).  Nothing stays
 * pinned, so a busy machine still moves workers where it likes.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sched_getcpu, pthread_attr_setaffinity_np */
#endif
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "kiln/runtime.h"

#define MAX_WORKERS 256
#define SPIN_NS 100000 /* 100 us of spinning (the second half yielding) before sleeping */

typedef void (*body_fn)(void *ctx, int64_t begin, int64_t end);

/* The chunk word: sequence (32 bits) | next chunk (16) | chunks (16). */
#define TAKE_SEQ(w) ((uint32_t)((w) >> 32))
#define TAKE_NEXT(w) ((int)(((w) >> 16) & 0xffff))
#define TAKE_CHUNKS(w) ((int)((w)&0xffff))

static struct {
    pthread_mutex_t call_lock; /* one parallel_for at a time */
    pthread_mutex_t sleep_lock;
    pthread_cond_t wake; /* workers sleep here */
    pthread_cond_t done; /* the caller sleeps here */
    /* bumped per job: (sequence << 16) | helpers; a worker reads the job and
     * whether it takes part in one load */
    atomic_uint_fast64_t generation;
    atomic_uint_fast64_t take;  /* the chunk word of the current job */
    atomic_int finished;        /* chunks of the current job done */
    atomic_int sleepers;        /* workers asleep on `wake` */
    atomic_int caller_asleep;   /* the caller is asleep on `done` */
    int n_workers;              /* started so far */
    /* the current job (stable while any of its chunks is not done) */
    body_fn body;
    void *ctx;
    int64_t n;
} pool = {.call_lock = PTHREAD_MUTEX_INITIALIZER,
          .sleep_lock = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER};

static atomic_int override_threads; /* kiln_rt_set_threads; 0: none */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One step of a bounded wait that started at *t0 (0: not yet): spins, then
 * yields; returns 0 once SPIN_NS have passed (time to sleep). */
static int wait_step(int64_t *t0, int *spins)
{
    if (++*spins & 63) {
        cpu_relax();
        return 1;
    }
    int64_t t = now_ns();
    if (!*t0) *t0 = t;
    if (t - *t0 > SPIN_NS) return 0;
    if (t - *t0 > SPIN_NS / 2) sched_yield();
    return 1;
}

/* Takes chunks of job `seq` until none are left. */
static void run_chunks(uint32_t seq)
{
    for (;;) {
        uint_fast64_t w = atomic_load_explicit(&pool.take, memory_order_acquire);
        do {
            if (TAKE_SEQ(w) != seq || TAKE_NEXT(w) >= TAKE_CHUNKS(w)) return;
        } while (!atomic_compare_exchange_weak_explicit(&pool.take, &w, w + (1u << 16), memory_order_acq_rel,
                                                        memory_order_acquire));
        /* the chunk is ours, so the job's fields stay put until we finish it */
        int chunk = TAKE_NEXT(w), chunks = TAKE_CHUNKS(w);
        int64_t begin = pool.n * chunk / chunks, end = pool.n * (chunk + 1) / chunks;
        if (begin < end) pool.body(pool.ctx, begin, end);
        if (atomic_fetch_add(&pool.finished, 1) + 1 == chunks && /* seq_cst: see the caller's wait */
            atomic_load(&pool.caller_asleep)) {
            pthread_mutex_lock(&pool.sleep_lock);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.sleep_lock);
        }
    }
}

#if defined(__linux__) && defined(CPU_SET)
#define KILN_PLACE 1
static cpu_set_t process_cpus; /* the caller's mask when the first worker was made */
static int have_cpus;
#endif

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg; /* 1.. : the caller is 0 */
#ifdef KILN_PLACE
    if (have_cpus) sched_setaffinity(0, sizeof process_cpus, &process_cpus); /* placed: free to move again */
#endif
    uint64_t seen = 0;
    for (;;) {
        uint64_t g;
        int64_t t0 = 0;
        int spins = 0;
        while ((g = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen) {
            if (wait_step(&t0, &spins)) continue;
            pthread_mutex_lock(&pool.sleep_lock);
            atomic_fetch_add(&pool.sleepers, 1);
            while ((g = atomic_load(&pool.generation)) == seen)
                pthread_cond_wait(&pool.wake, &pool.sleep_lock);
            atomic_fetch_sub(&pool.sleepers, 1);
            pthread_mutex_unlock(&pool.sleep_lock);
            break;
        }
        seen = g;
        if (id <= (int)(g & 0xffff)) run_chunks((uint32_t)(g >> 16)); /* a helper of this job */
    }
    return NULL;
}

/* Starts workers up to `want` (callers hold call_lock); returns how many run. */
static int ensure_workers(int want)
{
    if (want > MAX_WORKERS) want = MAX_WORKERS;
#ifdef KILN_PLACE
    int cpus[CPU_SETSIZE], n_cpus = 0;
    if (pool.n_workers < want && !have_cpus) have_cpus = !sched_getaffinity(0, sizeof process_cpus, &process_cpus);
    if (have_cpus) {
        int here = sched_getcpu();
        for (int i = 0; i < CPU_SETSIZE; i++)
            if (CPU_ISSET(i, &process_cpus) && i != here) cpus[n_cpus++] = i;
    }
#endif
    while (pool.n_workers < want) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int placed = 0;
#ifdef KILN_PLACE
        if (n_cpus) { /* worker k starts on the k-th of the CPUs other than the caller's, round robin */
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpus[pool.n_workers % n_cpus], &one);
            placed = !pthread_attr_setaffinity_np(&attr, sizeof one, &one);
        }
#endif
        int rc = pthread_create(&t, &attr, worker, (void *)(intptr_t)(pool.n_workers + 1));
        pthread_attr_destroy(&attr);
        if (rc && placed) { /* e.g. a cpuset that forbids the CPU: unplaced, then */
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            rc = pthread_create(&t, &attr, worker, (void *)(intptr_t)(pool.n_workers + 1));
            pthread_attr_destroy(&attr);
        }
        if (rc) break; /* run with the workers we have */
        pool.n_workers++;
    }
    return pool.n_workers;
}

void kiln_rt_set_threads(int n) { atomic_store(&override_threads, n > 0 ? n : 0); }

int kiln_rt_threads(int compiled)
{
    int n = atomic_load(&override_threads);
    if (n <= 0) {
        static atomic_int env_threads = -1;
        int e = atomic_load(&env_threads);
        if (e < 0) {
            const char *s = getenv("KILN_THREADS");
            e = s ? atoi(s) : 0;
            atomic_store(&env_threads, e > 0 ? e : 0);
        }
        n = e > 0 ? e : compiled;
    }
    return n < 1 ? 1 : n;
}

void kiln_rt_parallel_for(void (*body)(void *ctx, int64_t begin, int64_t end), void *ctx, int64_t n, int compiled_threads)
{
    int threads = kiln_rt_threads(compiled_threads);
    if (threads > n) threads = (int)n;
    if (threads > MAX_WORKERS + 1) threads = MAX_WORKERS + 1;
    if (threads <= 1) {
        if (n > 0) body(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&pool.call_lock);
    int workers = ensure_workers(threads - 1);
    if (workers + 1 < threads) threads = workers + 1;
    if (threads <= 1) { /* no worker could be started */
        pthread_mutex_unlock(&pool.call_lock);
        body(ctx, 0, n);
        return;
    }
    /* the previous job is done (every chunk finished), so nobody reads these */
    pool.body = body;
    pool.ctx = ctx;
    pool.n = n;
    atomic_store_explicit(&pool.finished, 0, memory_order_relaxed);
    uint64_t gen = atomic_load_explicit(&pool.generation, memory_order_relaxed);
    uint32_t seq = (uint32_t)(gen >> 16) + 1;
    atomic_store_explicit(&pool.take, ((uint_fast64_t)seq << 32) | (uint_fast64_t)threads, memory_order_release);
    /* seq_cst, like the sleepers count a sleeping worker raises before it
     * reads the generation again: one of the two sees the other */
    atomic_store(&pool.generation, ((uint64_t)seq << 16) | (uint64_t)(threads - 1));
    if (atomic_load(&pool.sleepers)) {
        pthread_mutex_lock(&pool.sleep_lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.sleep_lock);
    }
    run_chunks(seq);
    /* wait for the chunks that workers took */
    int64_t t0 = 0;
    int spins = 0;
    while (atomic_load_explicit(&pool.finished, memory_order_acquire) < threads) {
        if (wait_step(&t0, &spins)) continue;
        pthread_mutex_lock(&pool.sleep_lock);
        atomic_store(&pool.caller_asleep, 1);
        while (atomic_load(&pool.finished) < threads)
            pthread_cond_wait(&pool.done, &pool.sleep_lock);
        atomic_store(&pool.caller_asleep, 0);
        pthread_mutex_unlock(&pool.sleep_lock);
        break;
    }
    pthread_mutex_unlock(&pool.call_lock);
}
