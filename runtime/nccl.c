/* runtime/nccl.c — the gradient allreduce for GPU buffers through NCCL
 * (include/kiln/dist.h, docs/distributed.md).
 *
 * NCCL is opened with dlopen at the first call (libnccl.so.2, or $KILN_NCCL),
 * as runtime/gpu.c opens the CUDA driver: libkilnrt has no link-time NCCL
 * or CUDA dependency.  The few NCCL types are declared here by their ABI
 * (ncclUniqueId 128 bytes, handles pointers, results and enums ints).  The
 * communicator spans MPI_COMM_WORLD: rank 0's ncclGetUniqueId is broadcast
 * with MPI_Bcast, then ncclCommInitRank on every rank (once).  A call
 * reduces in place on the given CUDA stream (NULL: the default stream) and
 * waits for it by polling cuStreamQuery against the same deadline as every
 * other distributed wait; past it the communicator is aborted
 * (ncclCommAbort) and the call fails naming the rank and the size.
 *
 * Compile-tested only: no machine with a GPU and NCCL was available.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln/dist.h"

static char nccl_err[768];

static int nfail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int nfail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(nccl_err, sizeof nccl_err, fmt, ap);
    va_end(ap);
    return -1;
}

const char *kiln_rt_nccl_error(void) { return nccl_err; }

#ifdef KILN_HAVE_MPI
#include <mpi.h>

typedef struct { char internal[128]; } nccl_unique_id;
typedef void *nccl_comm;
enum { NCCL_FLOAT32 = 7, NCCL_SUM = 0, CU_NOT_READY = 600 };

static struct {
    void *lib, *cuda;
    int (*GetUniqueId)(nccl_unique_id *);
    int (*CommInitRank)(nccl_comm *, int, nccl_unique_id, int);
    int (*AllReduce)(const void *, void *, size_t, int, int, nccl_comm, void *);
    int (*CommAbort)(nccl_comm);
    int (*CommDestroy)(nccl_comm);
    const char *(*GetErrorString)(int);
    int (*StreamQuery)(void *); /* cuStreamQuery, from the CUDA driver */
    nccl_comm comm;
    int state; /* 0 not tried, 1 ready, -1 failed (nccl_err says why) */
} nc;

static const char *nmsg(int r) { return nc.GetErrorString ? nc.GetErrorString(r) : "unknown NCCL error"; }

static int load(void)
{
    if (nc.state) return nc.state > 0 ? 0 : -1;
    nc.state = -1;
    const char *path = getenv("KILN_NCCL");
    if (!path || !*path) path = "libnccl.so.2";
    if (!(nc.lib = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
        const char *e = dlerror();
        return nfail("kiln dist: no NCCL for GPU buffers (%s): install NCCL (libnccl2) or set KILN_NCCL to libnccl.so.2's path",
                     e ? e : path);
    }
    const char *cuda = getenv("KILN_CUDA_DRIVER");
    if (!(nc.cuda = dlopen(cuda && *cuda ? cuda : "libcuda.so.1", RTLD_NOW | RTLD_LOCAL)))
        return nfail("kiln dist: NCCL needs the CUDA driver (%s)", dlerror());
    static const struct {
        const char *name;
        size_t offset;
        int cuda;
    } fns[] = {
#define F(field, sym, cu) {sym, offsetof(__typeof__(nc), field), cu}
        F(GetUniqueId, "ncclGetUniqueId", 0), F(CommInitRank, "ncclCommInitRank", 0), F(AllReduce, "ncclAllReduce", 0),
        F(CommAbort, "ncclCommAbort", 0), F(CommDestroy, "ncclCommDestroy", 0), F(GetErrorString, "ncclGetErrorString", 0),
        F(StreamQuery, "cuStreamQuery", 1),
#undef F
    };
    for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) {
        void *p = dlsym(fns[i].cuda ? nc.cuda : nc.lib, fns[i].name);
        if (!p) return nfail("kiln dist: %s lacks %s (too old an NCCL or CUDA driver)", fns[i].cuda ? "libcuda" : path, fns[i].name);
        memcpy((char *)&nc + fns[i].offset, &p, sizeof p);
    }
    int rank = kiln_rt_dist_rank(), size = kiln_rt_dist_size();
    if (rank < 0) return nfail("kiln dist: kiln_rt_dist_init was not called (run under mpirun)");
    nccl_unique_id id;
    memset(&id, 0, sizeof id);
    int r = rank == 0 ? nc.GetUniqueId(&id) : 0;
    if (r) return nfail("kiln dist: rank 0: ncclGetUniqueId: NCCL error %d (%s)", r, nmsg(r));
    if (MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
        return nfail("kiln dist: rank %d: broadcast of the NCCL id failed", rank);
    if ((r = nc.CommInitRank(&nc.comm, size, id, rank)))
        return nfail("kiln dist: rank %d: ncclCommInitRank (%d ranks): NCCL error %d (%s)", rank, size, r, nmsg(r));
    nc.state = 1;
    return 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int kiln_rt_nccl_allreduce_f32(unsigned long long dev, int64_t n, void *stream)
{
    if (load()) return -1;
    int rank = kiln_rt_dist_rank();
    int r = nc.AllReduce((const void *)(uintptr_t)dev, (void *)(uintptr_t)dev, (size_t)n, NCCL_FLOAT32, NCCL_SUM, nc.comm, stream);
    if (r) return nfail("kiln dist: rank %d: ncclAllReduce of %lld floats: NCCL error %d (%s)", rank, (long long)n, r, nmsg(r));
    double end = now() + kiln_rt_dist_timeout();
    long nap = 1000;
    while ((r = nc.StreamQuery(stream)) == CU_NOT_READY) {
        if (now() > end) {
            nc.CommAbort(nc.comm), nc.state = -1;
            return nfail("kiln dist: rank %d: NCCL allreduce of %lld floats did not complete within %.1f s: a rank died or is "
                         "stuck (KILN_DIST_TIMEOUT); the communicator was aborted", rank, (long long)n, kiln_rt_dist_timeout());
        }
        struct timespec ts = {0, nap};
        nanosleep(&ts, NULL);
        if (nap < 100000) nap *= 2;
    }
    if (r) return nfail("kiln dist: rank %d: NCCL allreduce of %lld floats: cuStreamQuery: CUDA error %d", rank, (long long)n, r);
    return 0;
}

void kiln_rt_nccl_finalize(void)
{
    if (nc.state > 0) nc.CommDestroy(nc.comm);
    nc.state = 0;
}

#else
int kiln_rt_nccl_allreduce_f32(unsigned long long dev, int64_t n, void *stream)
{
    (void)dev, (void)n, (void)stream;
    return nfail("kiln dist: this libkilnrt was built without MPI: install Open MPI (libopenmpi-dev, tools/install-deps.sh) and rebuild Kiln");
}
void kiln_rt_nccl_finalize(void) {}
#endif
