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
 * not burn a core.  The caller runs chunk 0 itself and spins until the
 * others are done.  Work is split into contiguous, equal chunks of the unit
 * range (GEMM row tiles or column panels: equal work each).  Calls from
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
    atomic_uint_fast64_t generation;      /* bumped per job */
    atomic_int pending;                   /* chunks not finished */
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

static void run_chunk(int chunk)
{
    int64_t begin = pool.n * chunk / pool.chunks, end = pool.n * (chunk + 1) / pool.chunks;
    if (begin < end) pool.body(pool.ctx, begin, end);
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
        if (id < pool.chunks) {
            run_chunk(id);
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
    pool.chunks = threads;
    atomic_store_explicit(&pool.pending, threads - 1, memory_order_relaxed);
    pthread_mutex_lock(&pool.sleep_lock);
    atomic_fetch_add_explicit(&pool.generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.sleep_lock);
    run_chunk(0);
    /* workers beyond `threads` see the job too but have no chunk and do not count */
    while (atomic_load_explicit(&pool.pending, memory_order_acquire) > 0) cpu_relax();
    pthread_mutex_unlock(&pool.call_lock);
}
