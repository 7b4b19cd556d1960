/* kiln/dist.h — distributed execution in libkilnrt (docs/distributed.md).
 *
 * Objects compiled with --split N / --place GLOB=TASK (one object per task)
 * call the functions in the second half; a host program calls the first:
 *
 *   int main(int argc, char **argv) {
 *       if (kiln_rt_dist_init(&argc, &argv)) { fprintf(stderr, "%s\n", kiln_rt_dist_error()); return 1; }
 *       int rc = task_run_args(args, temp);        // the object of task kiln_rt_dist_rank()
 *       if (rc) { fprintf(stderr, "%s\n", kiln_rt_dist_error()); kiln_rt_dist_abort(1); }
 *       return kiln_rt_dist_finalize();
 *   }
 *
 * Transport: Open MPI (MPI_COMM_WORLD; task T is rank T).  Every wait polls
 * with a deadline: a peer that died, never started or is stuck makes the
 * waiting call fail within the timeout with a message naming this task,
 * the peer, the rendezvous key and the value — never a hang.  Timeout:
 * KILN_DIST_TIMEOUT (seconds) in the environment, else 30 s;
 * kiln_rt_dist_set_timeout overrides both.  Built without MPI, every call
 * fails with a message saying so.
 */
#ifndef KILN_DIST_H
#define KILN_DIST_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* MPI_Init unless MPI is initialized already; errors come back as codes. 0 or -1. */
int kiln_rt_dist_init(int *argc, char ***argv);
int kiln_rt_dist_rank(void);
int kiln_rt_dist_size(void);
void kiln_rt_dist_set_timeout(double seconds);
double kiln_rt_dist_timeout(void);
/* The last failure's message ("" if none). */
const char *kiln_rt_dist_error(void);
/* Ends every rank of the job (MPI_Abort): after a failure, since a clean
 * finalize would wait for peers that may be gone. */
void kiln_rt_dist_abort(int code);
int kiln_rt_dist_finalize(void);
/* Sum of n floats over every rank, in place, in one blocking
 * MPI_Allreduce per contiguous buffer (data-parallel training); the
 * deadline is kept by the watchdog thread of kiln_rt_dist_init, which ends
 * the process (exit 1) past KILN_DIST_TIMEOUT, naming the call. */
int kiln_rt_dist_allreduce_f32(float *buf, int64_t n);
/* Waits (deadline) until every rank has called it; what names the place in
 * the messages ("the timed steps"). */
int kiln_rt_dist_barrier(const char *what);
/* Totals since start-up of kiln_rt_dist_allreduce_f32: wall seconds in it,
 * bytes reduced, calls (kiln run --time-steps prints them per step). */
void kiln_rt_dist_allreduce_stats(double *seconds, long long *bytes, long long *calls);
/* Wall seconds the calling thread spent blocked in kiln_rt_allreduce_wait
 * (the communication not hidden behind computation). */
double kiln_rt_dist_allreduce_waited(void);

/* GPU buffers (runtime/nccl.c): the sum over every rank of n floats at the
 * CUDA device address dev, in place, with NCCL's ncclAllReduce on stream
 * (a CUstream; NULL: the default stream), waited for with the deadline.
 * libnccl.so.2 (or $KILN_NCCL) and libcuda.so.1 are opened with dlopen at
 * the first call, which also makes the communicator over MPI_COMM_WORLD
 * (every rank must call it).  0 or -1, message in kiln_rt_nccl_error()
 * (no NCCL: says so and how to install it).  Compile-tested only.
 * kiln_rt_nccl_finalize destroys the communicator (before
 * kiln_rt_dist_finalize). */
int kiln_rt_nccl_allreduce_f32(unsigned long long dev, int64_t n, void *stream);
const char *kiln_rt_nccl_error(void);
void kiln_rt_nccl_finalize(void);

/* ---- called by generated code; 0 or -1 (message in kiln_rt_dist_error) */

/* First call of each object: exchanges (fingerprint, task, n_tasks) with
 * every rank and fails on any difference (task -1: data-parallel, the same
 * graph on any number of ranks). */
int kiln_rt_dist_begin(uint64_t fingerprint, int task, int n_tasks);
/* Non-blocking send of bytes to task peer under key; the buffer stays
 * untouched until kiln_rt_dist_end (buffer assignment guarantees it). */
int kiln_rt_send(const void *buf, int64_t bytes, int peer, int key, const char *what);
/* Blocks (polling, deadline) until the value of key from peer is in buf. */
int kiln_rt_recv(void *buf, int64_t bytes, int peer, int key, const char *what);
/* kiln_rt_recv from whichever rank sends key first; *from gets the rank
 * (parameter-server training). */
int kiln_rt_recv_any(void *buf, int64_t bytes, int key, const char *what, int *from);
/* Completes this run's sends (deadline). */
int kiln_rt_dist_end(void);
/* out = sum over every rank of in (n floats; in == out allowed), one MPI
 * call per buffer; the data-parallel gradient sum. */
int kiln_rt_allreduce_f32(const float *in, float *out, int64_t n, const char *what);
/* Bucketed allreduce overlapped with backprop (docs/distributed.md): start
 * copies in to buf (unless the same) and queues buf's in-place sum for the
 * runtime's communication thread, which performs the queued buckets'
 * MPI_Allreduce calls in order; wait blocks until buf is reduced and copies
 * it to out (unless the same).  buf must stay untouched in between (buffer
 * assignment keeps it live until the wait).  index/count name the bucket. */
int kiln_rt_allreduce_start(const float *in, float *buf, int64_t n, int index, int count, const char *what);
int kiln_rt_allreduce_wait(const float *buf, float *out, int64_t n, int index, int count, const char *what);

#ifdef __cplusplus
}
#endif
#endif
