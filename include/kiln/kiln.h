/* kiln/kiln.h — Kiln's library API: load a model, compile it ahead of time
 * to an object file + C header, or JIT-compile it and run it in-process.
 *
 *   kiln_model *m;
 *   kiln_status *st = kiln_model_load("mlp.pb", &m);
 *   if (st) { fprintf(stderr, "%s\n", kiln_status_message(st)); kiln_status_free(st); return 1; }
 *
 *   kiln_options o;
 *   kiln_options_init(&o);
 *   const char *feeds[] = {"x"}, *fetches[] = {"y_out"};
 *   o.feeds = feeds;     o.n_feeds = 1;
 *   o.fetches = fetches; o.n_fetches = 1;
 *
 *   kiln_program *p;
 *   if ((st = kiln_jit(m, &o, &p))) { ... }
 *   float x[100 * 32], y[100 * 8];
 *   const void *in[] = {x};
 *   void *out[] = {y};
 *   st = kiln_program_run(p, in, out, NULL);   // NULL: the program's own temp buffer
 *   kiln_program_free(p);
 *   kiln_model_free(m);
 *
 * Every call that can fail returns a kiln_status*: NULL on success, else an
 * error whose message names the file, node and op involved.  Nothing here
 * prints, exits or keeps global state.
 */
#ifndef KILN_KILN_H
#define KILN_KILN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Element types; the order is Kiln's internal one (checked at build time). */
typedef enum kiln_dtype {
    KILN_F32, KILN_F16, KILN_F64, KILN_I8, KILN_I16, KILN_I32, KILN_I64, KILN_U8, KILN_BOOL
} kiln_dtype;

typedef enum kiln_code {
    KILN_OK = 0,
    KILN_ERR_IO,          /* a file could not be read or written */
    KILN_ERR_PARSE,       /* the model file is not a valid model */
    KILN_ERR_UNSUPPORTED, /* ops, dtypes or attributes Kiln does not handle */
    KILN_ERR_INVALID,     /* a bad argument: unknown feed name, shape mismatch, ... */
    KILN_ERR_BACKEND,     /* LLVM failed to generate code */
    KILN_ERR_NOMEM,       /* memory for a buffer (e.g. the JIT's temp arena) could not be allocated */
    KILN_ERR_PRECONDITION, /* a run reads a variable the state has not initialized (TF's FailedPrecondition) */
    KILN_ERR_DIST,        /* distributed run: a peer died, timed out or runs another graph (include/kiln/dist.h) */
} kiln_code;

typedef struct kiln_status kiln_status;
kiln_code kiln_status_code(const kiln_status *st);
const char *kiln_status_message(const kiln_status *st); /* one or more lines */
void kiln_status_free(kiln_status *st);

/* ---- models ------------------------------------------------------------- */

typedef struct kiln_model kiln_model;
/* Reads a TensorFlow GraphDef (.pb, binary protobuf). */
kiln_status *kiln_model_load(const char *path, kiln_model **out);
kiln_status *kiln_model_load_buffer(const void *data, size_t size, const char *name, kiln_model **out);
void kiln_model_free(kiln_model *m);
/* Specializes m on one feed's value (XLA's compile-time constants): code
 * compiled from m afterwards computes with `data` (dtype and dims must be
 * the feed's declared ones) wherever the feed is read, so a feed used where
 * Kiln needs a constant (a Reshape shape, TopK's k, CumSum's axis) works.
 * The feed stays in the program's ABI; its buffer is then never read.
 * ONNX models (graph inputs by name); copies data. */
kiln_status *kiln_model_bind(kiln_model *m, const char *feed, kiln_dtype dtype, int rank, const int64_t *dims,
                             const void *data);

/* ---- options ------------------------------------------------------------ */

/* A feed's shape fixed at compile time (tfcompile's config): a placeholder's
 * unknown dims (`None` batch) take these values; its known dims must agree. */
typedef struct kiln_feed_shape {
    const char *name;
    int rank;
    const int64_t *dims;
} kiln_feed_shape;

typedef struct kiln_options {
    /* Tensor names, "node" (output 0) or "node:k".  Feeds may name any
     * tensor, not only placeholders; only what the fetches need is compiled.
     * No feeds: every placeholder the fetches need.  No fetches: every node
     * whose output nothing else reads (the graph's sinks, NoOps excluded). */
    const char *const *feeds;
    int n_feeds;
    const char *const *fetches;
    int n_fetches;
    /* Nodes run for their effects, as Session.run's targets (TensorFlow
     * graphs): `init_all_vars_op`, `train`.  Control inputs are followed. */
    const char *const *targets;
    int n_targets;
    const kiln_feed_shape *feed_shapes;
    int n_feed_shapes;
    int opt_level;           /* 0..3; default 2 */
    /* Size mode (`kiln compile -Os`, docs/cli.md, docs/embedded.md): with
     * opt_level 2, convolutions and 2-D matmuls of the same kind share one
     * generic kernel function that reads its shapes from a const descriptor,
     * and LLVM optimizes for size (optsize/minsize, default<Os>).  0: off. */
    int optimize_size;
    /* Threads the compiled code splits its large kernels over (default 1:
     * no threads, no synchronization, no runtime library).  Above 1 the
     * object calls libkilnrt's pool; kiln_rt_set_threads() or KILN_THREADS
     * override the count at run time (include/kiln/runtime.h). */
    int threads;
    /* Where the object runs (docs/targets.md): NULL or "host" (x86_64-linux-gnu,
     * this machine), "aarch64-linux-gnu", "riscv64-linux-gnu",
     * "thumbv7em-none-eabihf" (Cortex-M4/M7), "thumbv8m.main-none-eabihf"
     * (Cortex-M33/M55), "riscv32-none-elf".  The JIT runs on the host only. */
    const char *target;
    const char *target_cpu;  /* "native" (default: the host's CPU, or the target's default), "x86-64-v3", "cortex-m4", ... */
    const char *target_features; /* extra LLVM features ("+avx2,-avx512f"), or NULL */
    const char *prefix;      /* AOT symbol and macro prefix; default "kiln_model" */
    /* Diagnostics: print the IR after the named pass ("all" for every pass)
     * to dump_file (stdout if NULL); report per-pass times to time_file. */
    const char *dump_after;
    FILE *dump_file;
    FILE *time_file;
    int verify;              /* run the IR verifier after every pass (on in debug builds) */
    /* Per-kernel timing (docs/profile.md, include/kiln/inspect.h): the code
     * counts each kernel's time-stamp-counter ticks into a block the caller
     * passes (P_run_profile, kiln_program_run_profile).  0 (default): none. */
    int profile;
    /* Progress of the compile, for a tool's progress line (kiln's on a TTY).
     * Called from the compiling thread: at the start of every pass (stage =
     * the pass name, k = its number from 1, n = the passes in the pipeline),
     * for every top-level kernel code is generated for (stage "codegen",
     * kernel k of n), before LLVM's optimization ("llvm-opt") and emission
     * ("llvm-emit", k = n = 0), and once at the end ("done", also on
     * failure).  It must not call back into Kiln.  NULL (default): none. */
    void (*progress)(void *user, const char *stage, int k, int n);
    void *progress_user;
    /* Distributed execution (docs/distributed.md, include/kiln/dist.h): the
     * graph placed on dist_tasks tasks (0: one process), compiled for task
     * dist_task: dist_split non-zero cuts pipeline stages balanced by cost,
     * else dist_place rules "GLOB=TASK" (node-name globs, first match wins),
     * else the model's device fields (/job:J/task:K).  Every fetch is
     * returned by task 0 (dist_fetch_last non-zero: by the last task,
     * dist_tasks - 1, so that task 0 never waits for the pipeline's end and
     * successive runs stream through the stages: micro-batching); the other
     * tasks' programs have no fetches. */
    int dist_tasks, dist_task, dist_split, dist_fetch_last;
    const char *const *dist_place;
    int n_dist_place;
    /* Data-parallel training over this many ranks (> 1): every optimizer
     * update (Apply* ops) uses the gradient summed over the ranks with
     * kiln_rt_dist_allreduce and divided by their count, so N ranks on
     * batch B/N each train as one process on batch B (a mean loss).
     * dist_gradient_sum non-zero: the loss sums over the batch, so the
     * gradients are summed and not divided. */
    int dist_data_parallel, dist_gradient_sum;
    /* Data-parallel: 0 (default), every float32 gradient of a step in one
     * allreduce after the last gradient; > 0, gradients cut into buckets of
     * at least this many bytes in the order backprop computes them, each
     * reduced on the runtime's communication thread from its last gradient
     * on, overlapped with the rest of backprop (docs/distributed.md). */
    long long dist_allreduce_bucket_bytes;
} kiln_options;

void kiln_options_init(kiln_options *o);

/* ---- ahead-of-time compilation ------------------------------------------ */

typedef struct kiln_compile_info {
    int64_t temp_size;    /* bytes of temp buffer the entry point needs */
    int64_t const_bytes;  /* bytes of weights in the object */
    int64_t object_bytes; /* size of the written object file */
    int n_kernels;        /* kernels after fusion */
    double compile_seconds;
    /* The thread pool (docs/performance.md, "Which kernels split"): kernels
     * whose calls split over the pool's threads (0 with --threads 1), the
     * largest kernel's estimated single-thread work and the work each
     * thread's chunk must reach for a kernel to split, in ns. */
    int threads;
    int n_split_kernels;
    double max_work_ns;
    double split_chunk_ns;
} kiln_compile_info;

/* Writes an ELF object and a C header (docs/header-api.md). info may be NULL. */
kiln_status *kiln_compile_object(kiln_model *m, const kiln_options *o, const char *object_path,
                                 const char *header_path, kiln_compile_info *info);

/* Several Session.run-style entries of one model in one object (training:
 * init, a cost, a train step).  Each is compiled from its own subgraph;
 * symbols are PREFIX_NAME (o->prefix, entries[i].name); the header gives
 * the shared state layout and each entry's wrapper (docs/training.md).
 * o's feeds/fetches are ignored; its feed_shapes apply to every entry. */
typedef struct kiln_entry {
    const char *name; /* a C identifier */
    const char *const *feeds;
    int n_feeds;
    const char *const *fetches;
    int n_fetches;
    const char *const *targets;
    int n_targets;
} kiln_entry;
kiln_status *kiln_compile_entries(kiln_model *m, const kiln_options *o, const kiln_entry *entries, int n_entries,
                                  const char *object_path, const char *header_path, kiln_compile_info *info);

typedef struct kiln_program kiln_program;

/* ---- shared objects (docs/cli.md `kiln compile --shared`) --------------
 * kiln_compile_object's object linked into a shared library by the system
 * C compiler driver (`cc -shared`; $CC names another), with a table of the
 * signature and a SHA-256 trailer; written to a temporary name and renamed
 * to so_path.  Host targets only; no variables, no profile. */
kiln_status *kiln_compile_shared(kiln_model *m, const kiln_options *o, const char *so_path, kiln_compile_info *info);
/* A program from such a library (dlopen), used as kiln_jit's.  Refused with
 * a message: a truncated or corrupted file (the trailer), another Kiln
 * version or table format, code for "native" compiled on another CPU. */
kiln_status *kiln_program_load(const char *so_path, kiln_program **out);
/* What code compiled for "native" depends on here: "cpu=NAME features=+a,-b,..." */
const char *kiln_host_description(void);
typedef struct kiln_sha256_ctx {
    uint32_t h[8];
    uint64_t bytes;
    unsigned char buf[64];
} kiln_sha256_ctx;
void kiln_sha256_init(kiln_sha256_ctx *c);
void kiln_sha256_update(kiln_sha256_ctx *c, const void *data, size_t n);
void kiln_sha256_final(kiln_sha256_ctx *c, unsigned char out[32]);
void kiln_sha256(const void *data, size_t n, unsigned char out[32]);

/* ---- JIT ---------------------------------------------------------------- */


typedef struct kiln_tensor_info {
    const char *name;
    kiln_dtype dtype;
    int rank;
    const int64_t *dims;
    size_t bytes;
} kiln_tensor_info;

kiln_status *kiln_jit(kiln_model *m, const kiln_options *o, kiln_program **out);
int kiln_program_num_feeds(const kiln_program *p);
int kiln_program_num_fetches(const kiln_program *p);
kiln_tensor_info kiln_program_feed(const kiln_program *p, int i);
kiln_tensor_info kiln_program_fetch(const kiln_program *p, int i);
size_t kiln_program_temp_size(const kiln_program *p);
/* feeds[i] / fetches[i] hold the tensors in the order of the options (row
 * major, dense).  temp: kiln_program_temp_size bytes aligned to 64, or NULL
 * to use a buffer the program owns (then runs must not overlap). */
kiln_status *kiln_program_run(kiln_program *p, const void *const *feeds, void *const *fetches, void *temp);
void kiln_program_free(kiln_program *p);

/* ---- training state (docs/training.md) -----------------------------------
 * A TensorFlow graph with variables (VarHandleOp, VariableV2) keeps them in a
 * *state* block the caller owns: kiln_program_state_size bytes, 64-byte
 * aligned, zero-filled before first use.  Every program compiled from one
 * model has the same state layout (the model's variables in GraphDef order),
 * so an init program and a train program share one block.  Each variable has
 * its bytes at `offset` and a 32-bit "initialized" word at `flag_offset`: a
 * run that reads a variable whose word is 0 fails with KILN_ERR_PRECONDITION
 * naming it; a run that writes a variable sets its word.  Updates are in
 * place (no copy of the state per step).
 *
 *   kiln_program *init, *train;         // targets init_all_vars_op / train
 *   void *state = aligned_alloc(64, kiln_program_state_size(init));
 *   memset(state, 0, kiln_program_state_size(init));
 *   kiln_program_run_state(init, NULL, NULL, state, NULL);
 *   for (...) kiln_program_run_state(train, (const void *[]){x, y}, (void *[]){&cost}, state, NULL);
 */
typedef struct kiln_variable_info {
    const char *name;
    kiln_dtype dtype;
    int rank;
    const int64_t *dims;
    size_t bytes;
    size_t offset;      /* of its value in the state block */
    size_t flag_offset; /* of its uint32 "initialized" word */
} kiln_variable_info;

size_t kiln_program_state_size(const kiln_program *p); /* 0: the model has no variables */
int kiln_program_num_variables(const kiln_program *p);
kiln_variable_info kiln_program_variable(const kiln_program *p, int i);
/* Which variables the program reads / writes (for tools). */
bool kiln_program_reads_variable(const kiln_program *p, int i);
bool kiln_program_writes_variable(const kiln_program *p, int i);
/* kiln_program_run for a program with state: feeds/fetches as there (NULL
 * when there are none), state as above. */
kiln_status *kiln_program_run_state(kiln_program *p, const void *const *feeds, void *const *fetches, void *state,
                                    void *temp);
/* The tensors the model's dense optimizer updates read as gradients
 * (TensorFlow Apply* ops, GraphDef order), names into the model: up to cap
 * of them in names; returns how many there are (parameter-server training,
 * docs/distributed.md). */
int kiln_model_gradients(const kiln_model *m, const char **names, int cap);
/* The op type of a model's node ("NoOp", "Placeholder"), or NULL. */
const char *kiln_model_node_op(const kiln_model *m, const char *name);

const char *kiln_dtype_name(kiln_dtype t);
/* Kiln's version ("0.1.0"), and the LLVM it generates code with (major,
 * minor, patch of the library linked in). */
#define KILN_VERSION "0.1.0"
const char *kiln_version(void);
void kiln_llvm_version(unsigned *major, unsigned *minor, unsigned *patch);
size_t kiln_dtype_size(kiln_dtype t);

#ifdef __cplusplus
}
#endif
#endif
