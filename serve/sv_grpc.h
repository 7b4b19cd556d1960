/* serve/sv_grpc.h — TF Serving's gRPC API in `kiln serve` (docs/serving.md):
 *   sv_pb.c    the messages (serve/proto/serving.proto, protobuf-c) <-> the
 *              same model / version / batcher calls the REST routes make;
 *              no gRPC in it (the fuzz target and a build without libgrpc use it)
 *   sv_grpc.c  the transport: gRPC's C core, a completion queue polled by
 *              handler threads; a stub that says so when libgrpc is absent */
#ifndef KILN_SV_GRPC_H
#define KILN_SV_GRPC_H

#include <stddef.h>
#include <stdint.h>

#include "serve/sv.h"

/* gRPC status codes (grpc/status.h's values, which are fixed by the protocol) */
enum {
    SV_G_OK = 0,
    SV_G_INVALID_ARGUMENT = 3,
    SV_G_NOT_FOUND = 5,
    SV_G_RESOURCE_EXHAUSTED = 8,
    SV_G_FAILED_PRECONDITION = 9,
    SV_G_UNIMPLEMENTED = 12,
    SV_G_INTERNAL = 13,
    SV_G_UNAVAILABLE = 14,
};

enum sv_rpc { SV_RPC_PREDICT, SV_RPC_METADATA, SV_RPC_STATUS, SV_RPC_CLASSIFY, SV_RPC_REGRESS, SV_N_RPC };
extern const char *const sv_rpc_path[SV_N_RPC]; /* "/tensorflow.serving.PredictionService/Predict", ... */

/* Answers one serialized request of that RPC (a ModelSpec's version_label is
 * looked up in the model_config_file's version_labels, as REST's /labels/).  Returns a gRPC status code;
 * on SV_G_OK *resp (malloc'ed, *resp_len bytes) is the serialized response,
 * else *msg (to free) says what was wrong. */
int sv_pb_call(sv_server *s, enum sv_rpc rpc, const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len, char **msg);

/* Classify / Regress of a tf.Example input (docs/serving.md: each feed is
 * filled from the examples' feature of its alias), shared by the gRPC RPCs
 * and REST's :classify / :regress.  On SV_G_OK: rows results of cols values
 * (Regress: cols 1), labels[cols] for Classify (to free with
 * sv_infer_free), the version that answered. */
struct Kiln__Serving__ModelSpec;
struct Kiln__Serving__Input;
typedef struct sv_infer {
    int64_t version, rows, cols;
    float *values;          /* rows x cols */
    char **labels;          /* Classify: cols labels */
} sv_infer;
int sv_pb_infer(sv_server *s, bool classify, const struct Kiln__Serving__ModelSpec *ms, const struct Kiln__Serving__Input *in,
                sv_infer *res, char **msg);
void sv_infer_free(sv_infer *r);

/* Whether this build has gRPC (libgrpc-dev was found by CMake). */
int sv_grpc_available(void);
/* Serves the RPCs on 0.0.0.0:port (port 0: any free port) with max_body
 * as the largest request message, on `threads` handler threads (0: 16, or
 * 2 x max_batch_size with batching).  Returns the bound port, or 0 with err. */
int sv_grpc_start(sv_server *s, int port, int threads, char *err, size_t errlen);
/* Cancels calls in flight, waits for the handler threads; no-op when not started. */
void sv_grpc_stop(void);

#endif
