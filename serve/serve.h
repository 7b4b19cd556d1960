/* serve/serve.h — `kiln serve`: a TensorFlow-Serving-compatible model server
 * (REST and gRPC) over models compiled by Kiln's JIT (docs/serving.md).
 *
 * Layering: serve/ sits beside tools/kiln, above api/: it uses only
 * include/kiln/kiln.h, libmicrohttpd (HTTP), jansson (JSON), protobuf-c and gRPC's C core.
 *
 *   sv_textproto.c  TF's protobuf text format (model_config_file, batching parameters)
 *   sv_models.c     model directories, kiln.json, version policy, load / warm-up / swap / unload
 *   sv_tensor.c     JSON <-> tensors: TF Serving's row ("instances") and columnar ("inputs") formats
 *   sv_batch.c      the request batcher (max_batch_size, batch_timeout_micros, allowed_batch_sizes, ...)
 *   sv_http.c       routes, errors, Prometheus metrics, the daemon and `kiln serve`'s flags
 *   sv_pb.c         TF Serving's gRPC messages (proto/serving.proto, protobuf-c) <-> the same calls (sv_grpc.h);
 *                   Classify / Regress: tf.Example features -> the feeds of their names
 *   sv_example.c    REST's :classify / :regress JSON <-> the Input message of sv_pb.c
 *   sv_grpc.c       the gRPC transport (gRPC's C core, libgrpc-dev), or a stub that says it is absent
 */
#ifndef KILN_SERVE_H
#define KILN_SERVE_H

/* `kiln serve ARGS...` (argv[0] is "serve"); returns the process exit code. */
int kiln_serve_main(int argc, char **argv);

#endif
