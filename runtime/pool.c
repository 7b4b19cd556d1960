/* runtime/pool.c — the thread pool that generated kernels split work over.
 *
 * Objects compiled with --threads N > 1 call kiln_rt_parallel_for for their
 * big kernels; with N = 1 they never reference the runtime at all (the
 * single-thread path has no synchronization of any kind).
 *
 * One process-wide pool of persistent workers, started on first use.  A
 * call publishes the job by bumping a generation counter; workers spin on
 * it for a while (kernels of one model run back to back, microseconds
 * apart) and then sleep on a condition variable, so an idle process does
 * not burn a core.  The range is cut into one contiguous, equal chunk per
 * thread; the caller and the workers take chunks from a shared counter until
 * none are left (so a worker still waking up does not hold the caller: the
 * caller takes its chunk too), then the caller spins until all are done.
 * Calls from
 * several host threads at once are serialized by a mutex: a second model
 * run waits instead of oversubscribing the cores.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "kiln/runtime.h"

#define MAX_WORKERS 256
#define SPIN_ROUNDS 200000 /* ~ tens of microseconds of pause instructions */

typedef void (*body_fn)(void *ctx, int64_t begin, int64_t end);

static struct {
    pthread_mutex_t call_lock;            /* one parallel_for at a time */
    pthread_mutex_t sleep_lock;
    pthread_cond_t wake;
    /* bumped per job: (sequence << 16) | helpers, so a worker reads the job
     * and whether it takes part in one load (a worker that lagged through a
     * whole job must not mistake the next job's helper count for this one's) */
    atomic_uint_fast64_t generation;
    atomic_int pending;                   /* workers still on this job */
    atomic_int next_chunk;                /* the next chunk to take */
    int n_workers;                        /* started so far */
    /* the current job */
    body_fn body;
    void *ctx;
    int64_t n;
    int chunks;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static atomic_int override_threads; /* kiln_rt_set_threads; 0: none */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Takes chunks until there are none left. */
static void run_chunks(void)
{
    for (;;) {
        int chunk = atomic_fetch_add_explicit(&pool.next_chunk, 1, memory_order_relaxed);
        if (chunk >= pool.chunks) return;
        int64_t begin = pool.n * chunk / pool.chunks, end = pool.n * (chunk + 1) / pool.chunks;
        if (begin < end) pool.body(pool.ctx, begin, end);
    }
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg; /* 1.. : chunk 0 is the caller's */
    uint64_t seen = 0;
    for (;;) {
        uint64_t g;
        int spins = 0;
        while ((g = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen) {
            if (++spins < SPIN_ROUNDS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&pool.sleep_lock);
            while ((g = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen)
                pthread_cond_wait(&pool.wake, &pool.sleep_lock);
            pthread_mutex_unlock(&pool.sleep_lock);
            break;
        }
        seen = g;
        if (id <= (int)(g & 0xffff)) { /* a helper of this job */
            run_chunks();
            atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_acq_rel);
        }
    }
    return NULL;
}

/* Starts workers up to `want` (callers hold call_lock); returns how many run. */
static int ensure_workers(int want)
{
    if (want > MAX_WORKERS) want = MAX_WORKERS;
    while (pool.n_workers < want) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &attr, worker, (void *)(intptr_t)(pool.n_workers + 1));
        pthread_attr_destroy(&attr);
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
    if (threads <= 1) {
        if (n > 0) body(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&pool.call_lock);
    int workers = ensure_workers(threads - 1);
    if (workers + 1 < threads) threads = workers + 1;
    pool.body = body;
    pool.ctx = ctx;
    pool.n = n;
    pool.chunks = threads; /* finer chunks cost GEMM groups their B reuse (measured on ResNet50) */
    atomic_store_explicit(&pool.next_chunk, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.pending, threads - 1, memory_order_relaxed);
    pthread_mutex_lock(&pool.sleep_lock);
    uint64_t next = ((atomic_load_explicit(&pool.generation, memory_order_relaxed) >> 16) + 1) << 16;
    atomic_store_explicit(&pool.generation, next | (uint64_t)(threads - 1), memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.sleep_lock);
    run_chunks();
    /* workers beyond `threads` see the job too but take no part and do not count */
    while (atomic_load_explicit(&pool.pending, memory_order_acquire) > 0) cpu_relax();
    pthread_mutex_unlock(&pool.call_lock);
}
