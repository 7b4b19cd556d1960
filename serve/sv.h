/* serve/sv.h — internals of `kiln serve` (serve/serve.h lists the files). */
#ifndef KILN_SV_H
#define KILN_SV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include <jansson.h>

#include "kiln/kiln.h"

#define SV_MAX_RANK 8
#define SV_MAX_IO 32        /* feeds or fetches of a served signature */
#define SV_MAX_PROGS 16     /* compiled batch sizes of a version */
#define SV_MAX_VERSIONS 64  /* versions of a model tracked at once */
#define SV_MAX_BODY (64u << 20)

/* ---- TF's protobuf text format (only what configs need) ----------------- */
typedef struct sv_tp {
    char *name;
    char *value;            /* scalar fields: the text (strings unquoted); NULL for messages */
    struct sv_tp *kids;     /* message fields */
    struct sv_tp *next;
} sv_tp;
/* Parses text; NULL with err filled on a syntax error. */
sv_tp *sv_tp_parse(const char *text, char *err, size_t errlen);
void sv_tp_free(sv_tp *t);
const sv_tp *sv_tp_get(const sv_tp *msg, const char *name);                        /* first field of that name */
const sv_tp *sv_tp_next_named(const sv_tp *after, const char *name);               /* the next one */

/* ---- a served tensor ---------------------------------------------------- */
typedef struct sv_spec {
    char *name;   /* tensor name in the model */
    char *alias;  /* the signature's key (TF Serving's input/output name) */
    kiln_dtype dtype;
    int rank;
    int64_t dims[SV_MAX_RANK]; /* dims[0] == -1: the batch dimension */
} sv_spec;

typedef struct sv_batching {
    bool on;
    int64_t max_batch_size;
    int64_t batch_timeout_micros;
    int64_t max_enqueued_batches;
    int num_batch_threads;
    int n_allowed;
    int64_t allowed[SV_MAX_PROGS];
} sv_batching;

typedef struct sv_batcher sv_batcher;
typedef struct sv_model sv_model;

typedef struct sv_version {
    int64_t version;
    sv_model *owner;
    kiln_model *model;
    int n_feeds, n_fetches;
    sv_spec feeds[SV_MAX_IO], fetches[SV_MAX_IO];
    bool batched;           /* every feed and fetch has the batch dim first */
    int n_progs;
    int64_t batch[SV_MAX_PROGS]; /* ascending */
    kiln_program *prog[SV_MAX_PROGS];
    int n_cached;           /* programs loaded from the compile cache (the others were compiled) */
    bool prebuilt;          /* prog[0] is the version directory's model.so */
    int n_classes;          /* kiln.json's "classes": labels of Classify's score columns (else their index) */
    char **classes;
    sv_batcher *batcher;
    int refs;               /* requests using it; guarded by the owner's mutex */
} sv_version;

enum sv_state { SV_START, SV_LOADING, SV_AVAILABLE, SV_UNLOADING, SV_END };

typedef struct sv_vstatus {
    int64_t version;
    enum sv_state state;
    char *error;            /* load failure, else NULL */
    sv_version *v;          /* AVAILABLE / UNLOADING: the loaded version */
    char *fingerprint;      /* of the directory's files: a changed failed version is retried */
} sv_vstatus;

enum sv_policy { SV_LATEST, SV_ALL, SV_SPECIFIC };

typedef struct sv_hist {
    int n;                  /* bounds, then +Inf */
    const double *bounds;
    uint64_t counts[24];
    double sum;
    uint64_t total;
} sv_hist;

struct sv_model {
    char *name, *base_path;
    enum sv_policy policy;
    int num_versions;       /* SV_LATEST */
    int n_specific;
    int64_t specific[SV_MAX_VERSIONS];
    int n_labels;           /* version_labels of the model_config_file: label -> version */
    char *label[SV_MAX_VERSIONS];
    int64_t label_version[SV_MAX_VERSIONS];
    pthread_mutex_t mu;
    int n_status;
    sv_vstatus status[SV_MAX_VERSIONS];
    /* metrics, under mu */
    uint64_t req_ok, req_err, load_ok, load_fail;
    int64_t in_flight;      /* predict requests between their body's arrival and their answer */
    sv_hist latency_us, batch_rows;
};

typedef struct sv_server {
    int n_models;
    sv_model *models;
    int threads;            /* kiln_options.threads of every compile */
    sv_batching batching;
    int poll_seconds;
    size_t max_body;        /* bytes of a request body (--max_body_bytes) */
    unsigned timeout_s;     /* a connection idle this long is closed (--rest_api_timeout_in_ms) */
    char cache_dir[4096];   /* --compile_cache_dir; "" = no cache */
} sv_server;

/* ---- the compile cache (sv_cache.c) -------------------------------------- */
typedef struct sv_blob {
    unsigned char *data;
    size_t size;
} sv_blob;
/* $XDG_CACHE_HOME/kiln, else $HOME/.cache/kiln; false (and "") when neither is set. */
bool sv_cache_default_dir(char *out, size_t n);
/* The hex SHA-256 naming a cache entry. */
void sv_cache_key(const sv_blob *model, const sv_blob *manifest, const kiln_options *o, char hex[65]);
/* One compiled size: from the cache by key, else compiled (*model loaded
 * from model_bytes on first need) into the cache and loaded, else (no cache,
 * no C compiler) by the JIT.  NULL or an error message to free. */
char *sv_compile(const sv_server *s, const sv_blob *model_bytes, const sv_blob *manifest, const char *model_name,
                 kiln_model **model, const kiln_options *o, kiln_program **out, bool *from_cache);

/* ---- models (sv_models.c) ------------------------------------------------ */
/* One pass over every model's base path: loads new versions the policy
 * wants, unloads the others, frees unloaded ones nobody uses.  Returns how
 * many versions are AVAILABLE in all. */
int sv_poll(sv_server *s, bool verbose);
sv_model *sv_find_model(sv_server *s, const char *name);
/* The version a label names, or false (an unknown label). */
bool sv_label_version(const sv_model *m, const char *label, int64_t *version);
/* A reference to the version to serve (version < 0: the newest AVAILABLE),
 * or NULL with *http and err set (404 / 503). */
sv_version *sv_acquire(sv_model *m, int64_t version, int *http, char *err, size_t errlen);
void sv_release(sv_version *v);
void sv_shutdown(sv_server *s);
const char *sv_state_name(enum sv_state st);
const char *sv_dtype_tf(kiln_dtype t);   /* "DT_FLOAT" */

/* Runs rows of a batched version (or exactly one call of an unbatched one):
 * in[i] holds rows x feeds[i]'s row bytes, out[i] gets rows x fetches[i]'s.
 * Splits and pads to the compiled batch sizes.  Returns NULL or an error
 * message to free. */
char *sv_run_rows(sv_version *v, int64_t rows, const void *const *in, void *const *out, int64_t *batches_run);
size_t sv_row_bytes(const sv_spec *s);  /* bytes of one row (dims after the first), or the whole tensor if unbatched */
/* The fetch Classify answers from (the one aliased "scores", else the first)
 * and Regress (aliased "outputs", else the first); in sv_pb.c. */
int sv_classify_fetch(const sv_version *v);
int sv_regress_fetch(const sv_version *v);

/* ---- the batcher (sv_batch.c) ------------------------------------------- */
sv_batcher *sv_batcher_start(sv_version *v, const sv_batching *b, char *err, size_t errlen);
/* A request for the version arrived (before its body is parsed) / left
 * without sv_batcher_run (a bad body): a request alone in flight runs at
 * once, without the batch thread.  sv_batcher_run ends the request itself. */
void sv_batcher_enter(sv_batcher *b);
void sv_batcher_leave(sv_batcher *b);
/* Queues rows and waits for them to be run with other requests' rows.
 * Returns NULL or an error message to free; *queue_full on max_enqueued_batches. */
char *sv_batcher_run(sv_batcher *b, int64_t rows, const void *const *in, void *const *out, bool *queue_full);
void sv_batcher_stop(sv_batcher *b);

/* A message to free (printf-style; "out of memory" when even that fails). */
char *sv_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- JSON <-> tensors (sv_tensor.c) ------------------------------------- */
typedef struct sv_request {
    bool row_format;        /* "instances" (answered with "predictions"), else "inputs" ("outputs") */
    int64_t rows;           /* batched: rows of every feed; unbatched: dim 0 of the feeds in row format, else 1 */
    void *in[SV_MAX_IO];    /* in the version's feed order */
} sv_request;
/* Reads a :predict body against v's signature; NULL or a message (HTTP 400) to free. */
char *sv_parse_predict(const sv_version *v, const json_t *body, sv_request *r);
void sv_request_free(sv_request *r);
/* The fast path of the common body {"instances": [row, ...]} for a batched
 * signature of one float32 / float64 input: parsed straight into the
 * tensor, no jansson tree.  True with r filled exactly as jansson and
 * sv_parse_predict would fill it; false for anything else (other keys,
 * formats, dtypes, any shape or syntax surprise): then the caller parses
 * with jansson, which also gives the error messages. */
/* m x 10^e rounded as strtod would (false: ask strtod); sv_tensor.c. */
bool sv_decimal_to_double(uint64_t m, int e, bool neg, double *out);
bool sv_parse_fast(const sv_version *v, const char *body, size_t len, sv_request *r);
/* The response body for outputs out[] (in v's fetch order), or NULL with *err (400). */
json_t *sv_make_response(const sv_version *v, const sv_request *r, void *const *out, char **err);
/* The signature_def of v as TF Serving's metadata gives it. */
json_t *sv_signature_json(const sv_version *v);

/* ---- metrics ------------------------------------------------------------- */
void sv_hist_add(sv_hist *h, double v);
extern const double sv_latency_bounds[];
extern const int sv_n_latency_bounds;
extern const double sv_batch_bounds[];
extern const int sv_n_batch_bounds;

#endif
