/* tests/support/serve_grpc_client.c — a small gRPC client (gRPC's C core)
 * for `kiln serve`'s gRPC API (tests/sh/serve_grpc.sh, bench/serve.py).
 *
 *   serve_grpc_client HOST:PORT RPC REQUEST_FILE
 *       sends the serialized request (made by TF Serving's own Python
 *       package, tools/gen_serve_grpc.py) once and prints, as one JSON
 *       object, the status code and message and the decoded response:
 *       predict  {"code", "message", "model_spec": {...}, "outputs": {NAME: {"dtype", "shape", "values"}}}
 *       metadata {"code", "message", "model_spec", "type_url", "signature": {"inputs", "outputs", "method_name"}}
 *       status   {"code", "message", "versions": [{"version", "state", "error_code", "error_message"}]}
 *   serve_grpc_client --load CLIENTS SECONDS HOST:PORT RPC REQUEST_FILE
 *       CLIENTS threads, each with its own channel (connection), send the
 *       request back to back for SECONDS; prints {"requests", "errors",
 *       "rps", "p50_us", "p99_us", "codes": {CODE: COUNT}}.
 *       classify {"code", "message", "model_spec", "results": [[[LABEL, SCORE], ...], ...]}
 *       regress  {"code", "message", "model_spec", "results": [VALUE, ...]}
 * RPC is predict, metadata, status, classify, regress or multiinference (not served: to check the answer).  Exit status 0 when the call (every
 * call, with --load) got an answer with a status; 2 on usage or transport
 * failure. */
#define _GNU_SOURCE
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serving.pb-c.h"

static const char *const paths[] = {"/tensorflow.serving.PredictionService/Predict",
                                    "/tensorflow.serving.PredictionService/GetModelMetadata",
                                    "/tensorflow.serving.ModelService/GetModelStatus",
                                    "/tensorflow.serving.PredictionService/Classify",
                                    "/tensorflow.serving.PredictionService/Regress",
                                    "/tensorflow.serving.PredictionService/MultiInference"};
static const char *const rpcs[] = {"predict", "metadata", "status", "classify", "regress", "multiinference"};
enum { N_RPCS = 6 };

typedef struct {
    int code;
    char *message;
    uint8_t *resp;
    size_t resp_len;
} result;

/* One unary call on ch; false on a transport failure (no status came). */
static bool call(grpc_channel *ch, grpc_completion_queue *cq, const char *path, const uint8_t *req, size_t len, result *r)
{
    memset(r, 0, sizeof *r);
    grpc_slice method = grpc_slice_from_static_string(path);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_seconds(30, GPR_TIMESPAN));
    grpc_call *c = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL, deadline, NULL);
    if (!c) return false;
    grpc_slice body = grpc_slice_from_copied_buffer((const char *)req, len);
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&body, 1), *recv = NULL;
    grpc_slice_unref(body);
    grpc_metadata_array initial, trailing;
    grpc_metadata_array_init(&initial);
    grpc_metadata_array_init(&trailing);
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    bool ok = grpc_call_start_batch(c, ops, 6, c, NULL) == GRPC_CALL_OK;
    if (ok) {
        grpc_event ev = grpc_completion_queue_pluck(cq, c, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        ok = ev.type == GRPC_OP_COMPLETE && ev.success;
    }
    if (ok) {
        r->code = (int)status;
        r->message = grpc_slice_to_c_string(details);
        if (recv) {
            grpc_byte_buffer_reader rd;
            if (grpc_byte_buffer_reader_init(&rd, recv)) {
                grpc_slice s = grpc_byte_buffer_reader_readall(&rd);
                r->resp_len = GRPC_SLICE_LENGTH(s);
                r->resp = malloc(r->resp_len + 1);
                if (r->resp) memcpy(r->resp, GRPC_SLICE_START_PTR(s), r->resp_len);
                grpc_slice_unref(s);
                grpc_byte_buffer_reader_destroy(&rd);
            }
        }
    }
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
    grpc_byte_buffer_destroy(send);
    if (recv) grpc_byte_buffer_destroy(recv);
    grpc_call_unref(c);
    return ok;
}

static const char *dt_name(int d)
{
    const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(&kiln__serving__data_type__descriptor, d);
    return e ? e->name : "?";
}

static json_t *shape_json(const Kiln__Serving__TensorShapeProto *sh)
{
    json_t *a = json_array();
    for (size_t i = 0; sh && i < sh->n_dim; i++) json_array_append_new(a, json_integer(sh->dim[i]->size));
    return a;
}

static json_t *spec_json(const Kiln__Serving__ModelSpec *ms)
{
    if (!ms) return json_null();
    return json_pack("{s:s,s:I,s:s}", "name", ms->name ? ms->name : "", "version",
                     (json_int_t)(ms->version ? ms->version->value : -1), "signature_name",
                     ms->signature_name ? ms->signature_name : "");
}

/* A TensorProto's values (tensor_content or the typed field) as a flat list. */
static json_t *values_json(const Kiln__Serving__TensorProto *t)
{
    json_t *a = json_array();
    const uint8_t *p = t->tensor_content.data;
    size_t n = t->tensor_content.len;
    switch (t->dtype) {
    case KILN__SERVING__DATA_TYPE__DT_FLOAT:
        for (size_t i = 0; i + 4 <= n; i += 4) { float f; memcpy(&f, p + i, 4); json_array_append_new(a, json_real(f)); }
        for (size_t i = 0; i < t->n_float_val; i++) json_array_append_new(a, json_real(t->float_val[i]));
        break;
    case KILN__SERVING__DATA_TYPE__DT_DOUBLE:
        for (size_t i = 0; i + 8 <= n; i += 8) { double d; memcpy(&d, p + i, 8); json_array_append_new(a, json_real(d)); }
        for (size_t i = 0; i < t->n_double_val; i++) json_array_append_new(a, json_real(t->double_val[i]));
        break;
    case KILN__SERVING__DATA_TYPE__DT_INT32:
        for (size_t i = 0; i + 4 <= n; i += 4) { int32_t x; memcpy(&x, p + i, 4); json_array_append_new(a, json_integer(x)); }
        for (size_t i = 0; i < t->n_int_val; i++) json_array_append_new(a, json_integer(t->int_val[i]));
        break;
    case KILN__SERVING__DATA_TYPE__DT_INT64:
        for (size_t i = 0; i + 8 <= n; i += 8) { int64_t x; memcpy(&x, p + i, 8); json_array_append_new(a, json_integer(x)); }
        for (size_t i = 0; i < t->n_int64_val; i++) json_array_append_new(a, json_integer(t->int64_val[i]));
        break;
    default:
        break;
    }
    return a;
}

static json_t *decode(int rpc, const result *r)
{
    json_t *j = json_pack("{s:i,s:s}", "code", r->code, "message", r->message ? r->message : "");
    if (r->code || !r->resp) return j;
    if (rpc == 0) {
        Kiln__Serving__PredictResponse *p = kiln__serving__predict_response__unpack(NULL, r->resp_len, r->resp);
        if (!p) return json_object_set_new(j, "error", json_string("undecodable PredictResponse")), j;
        json_object_set_new(j, "model_spec", spec_json(p->model_spec));
        json_t *outs = json_object();
        for (size_t i = 0; i < p->n_outputs; i++) {
            const Kiln__Serving__TensorProto *t = p->outputs[i]->value;
            if (!t) continue;
            json_object_set_new(outs, p->outputs[i]->key, json_pack("{s:s,s:o,s:o,s:I}", "dtype", dt_name((int)t->dtype), "shape",
                                                                   shape_json(t->tensor_shape), "values", values_json(t),
                                                                   "content_bytes", (json_int_t)t->tensor_content.len));
        }
        json_object_set_new(j, "outputs", outs);
        kiln__serving__predict_response__free_unpacked(p, NULL);
    } else if (rpc == 1) {
        Kiln__Serving__GetModelMetadataResponse *m = kiln__serving__get_model_metadata_response__unpack(NULL, r->resp_len, r->resp);
        if (!m) return json_object_set_new(j, "error", json_string("undecodable GetModelMetadataResponse")), j;
        json_object_set_new(j, "model_spec", spec_json(m->model_spec));
        for (size_t i = 0; i < m->n_metadata; i++) {
            const Kiln__Serving__Any *any = m->metadata[i]->value;
            if (strcmp(m->metadata[i]->key, "signature_def") || !any) continue;
            json_object_set_new(j, "type_url", json_string(any->type_url ? any->type_url : ""));
            Kiln__Serving__SignatureDefMap *sm = kiln__serving__signature_def_map__unpack(NULL, any->value.len, any->value.data);
            if (!sm) continue;
            for (size_t s = 0; s < sm->n_signature_def; s++) {
                const Kiln__Serving__SignatureDef *sd = sm->signature_def[s]->value;
                if (!sd) continue;
                json_t *io[2] = {json_object(), json_object()};
                for (int k = 0; k < 2; k++) {
                    size_t n = k ? sd->n_outputs : sd->n_inputs;
                    Kiln__Serving__SignatureDef__IoEntry **e = k ? sd->outputs : sd->inputs;
                    for (size_t q = 0; q < n; q++) {
                        const Kiln__Serving__TensorInfo *ti = e[q]->value;
                        if (ti)
                            json_object_set_new(io[k], e[q]->key, json_pack("{s:s,s:s,s:o}", "name", ti->name ? ti->name : "", "dtype",
                                                                          dt_name((int)ti->dtype), "shape", shape_json(ti->tensor_shape)));
                    }
                }
                json_object_set_new(j, "signature_key", json_string(sm->signature_def[s]->key));
                json_object_set_new(j, "signature", json_pack("{s:o,s:o,s:s}", "inputs", io[0], "outputs", io[1], "method_name",
                                                              sd->method_name ? sd->method_name : ""));
            }
            kiln__serving__signature_def_map__free_unpacked(sm, NULL);
        }
        kiln__serving__get_model_metadata_response__free_unpacked(m, NULL);
    } else if (rpc == 3) {
        Kiln__Serving__ClassificationResponse *c = kiln__serving__classification_response__unpack(NULL, r->resp_len, r->resp);
        if (!c) return json_object_set_new(j, "error", json_string("undecodable ClassificationResponse")), j;
        json_object_set_new(j, "model_spec", spec_json(c->model_spec));
        json_t *res = json_array();
        for (size_t i = 0; c->result && i < c->result->n_classifications; i++) {
            const Kiln__Serving__Classifications *cl = c->result->classifications[i];
            json_t *row = json_array();
            for (size_t k = 0; k < cl->n_classes; k++)
                json_array_append_new(row, json_pack("[s,f]", cl->classes[k]->label ? cl->classes[k]->label : "",
                                                     (double)cl->classes[k]->score));
            json_array_append_new(res, row);
        }
        json_object_set_new(j, "results", res);
        kiln__serving__classification_response__free_unpacked(c, NULL);
    } else if (rpc == 4) {
        Kiln__Serving__RegressionResponse *g = kiln__serving__regression_response__unpack(NULL, r->resp_len, r->resp);
        if (!g) return json_object_set_new(j, "error", json_string("undecodable RegressionResponse")), j;
        json_object_set_new(j, "model_spec", spec_json(g->model_spec));
        json_t *res = json_array();
        for (size_t i = 0; g->result && i < g->result->n_regressions; i++)
            json_array_append_new(res, json_real(g->result->regressions[i]->value));
        json_object_set_new(j, "results", res);
        kiln__serving__regression_response__free_unpacked(g, NULL);
    } else {
        Kiln__Serving__GetModelStatusResponse *s = kiln__serving__get_model_status_response__unpack(NULL, r->resp_len, r->resp);
        if (!s) return json_object_set_new(j, "error", json_string("undecodable GetModelStatusResponse")), j;
        json_t *vs = json_array();
        for (size_t i = 0; i < s->n_model_version_status; i++) {
            const Kiln__Serving__ModelVersionStatus *v = s->model_version_status[i];
            const ProtobufCEnumValue *st =
                protobuf_c_enum_descriptor_get_value(&kiln__serving__model_version_status__state__descriptor, (int)v->state);
            json_array_append_new(vs, json_pack("{s:I,s:s,s:i,s:s}", "version", (json_int_t)v->version, "state",
                                                st ? st->name : "?", "error_code", v->status ? v->status->error_code : 0,
                                                "error_message", v->status && v->status->error_message ? v->status->error_message : ""));
        }
        json_object_set_new(j, "versions", vs);
        kiln__serving__get_model_status_response__free_unpacked(s, NULL);
    }
    return j;
}

/* ---- --load ------------------------------------------------------------------ */

typedef struct {
    const char *target, *path;
    const uint8_t *req;
    size_t len;
    double seconds;
    double *lat;
    size_t n, cap;
    size_t errors, failed;
    size_t codes[17];
} loader;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *load_thread(void *arg)
{
    loader *l = arg;
    grpc_channel_credentials *cr = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(l->target, cr, NULL);
    grpc_channel_credentials_release(cr);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    double end = now_s() + l->seconds;
    while (now_s() < end) {
        double t0 = now_s();
        result r;
        if (!call(ch, cq, l->path, l->req, l->len, &r)) {
            l->failed++;
            continue;
        }
        double us = (now_s() - t0) * 1e6;
        if (r.code) l->errors++;
        l->codes[r.code >= 0 && r.code < 17 ? r.code : 2]++;
        free(r.message);
        free(r.resp);
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 4096;
            double *t = realloc(l->lat, cap * sizeof *t);
            if (!t) break;
            l->lat = t, l->cap = cap;
        }
        l->lat[l->n++] = us;
    }
    grpc_completion_queue_shutdown(cq); /* every call was plucked: nothing is pending */
    grpc_completion_queue_destroy(cq);
    grpc_channel_destroy(ch);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint8_t *slurp(const char *file, size_t *len)
{
    FILE *f = fopen(file, "rb");
    if (!f) return NULL;
    uint8_t *b = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            uint8_t *t = realloc(b, cap = cap ? cap * 2 : 65536);
            if (!t) return fclose(f), free(b), NULL;
            b = t;
        }
        size_t k = fread(b + n, 1, cap - n, f);
        if (!k) break;
        n += k;
    }
    fclose(f);
    *len = n;
    return b;
}

int main(int argc, char **argv)
{
    int clients = 0;
    double seconds = 0;
    if (argc == 7 && !strcmp(argv[1], "--load")) {
        clients = atoi(argv[2]), seconds = atof(argv[3]);
        argv += 3, argc -= 3;
        if (clients < 1 || clients > 1024 || seconds <= 0) return fprintf(stderr, "serve_grpc_client: --load CLIENTS(1-1024) SECONDS\n"), 2;
    }
    if (argc != 4) {
        fprintf(stderr, "usage: serve_grpc_client [--load CLIENTS SECONDS] HOST:PORT predict|metadata|status|classify|regress|multiinference REQUEST_FILE\n");
        return 2;
    }
    int rpc = -1;
    for (int i = 0; i < N_RPCS; i++)
        if (!strcmp(argv[2], rpcs[i])) rpc = i;
    if (rpc < 0)
        return fprintf(stderr, "serve_grpc_client: unknown RPC '%s' (predict, metadata, status, classify, regress, multiinference)\n",
                       argv[2]), 2;
    size_t len = 0;
    uint8_t *req = slurp(argv[3], &len);
    if (!req) return fprintf(stderr, "serve_grpc_client: cannot read %s\n", argv[3]), 2;
    grpc_init();
    int rc = 0;
    if (clients) {
        loader *l = calloc((size_t)clients, sizeof *l);
        pthread_t *th = calloc((size_t)clients, sizeof *th);
        if (!l || !th) return fprintf(stderr, "serve_grpc_client: out of memory\n"), 2;
        for (int i = 0; i < clients; i++) {
            l[i] = (loader){.target = argv[1], .path = paths[rpc], .req = req, .len = len, .seconds = seconds};
            pthread_create(&th[i], NULL, load_thread, &l[i]);
        }
        size_t n = 0, errors = 0, failed = 0, codes[17] = {0};
        for (int i = 0; i < clients; i++) {
            pthread_join(th[i], NULL);
            n += l[i].n, errors += l[i].errors, failed += l[i].failed;
            for (int c = 0; c < 17; c++) codes[c] += l[i].codes[c];
        }
        double *all = malloc((n ? n : 1) * sizeof *all);
        size_t k = 0;
        for (int i = 0; all && i < clients; i++) memcpy(all + k, l[i].lat, l[i].n * sizeof *all), k += l[i].n, free(l[i].lat);
        if (all) qsort(all, n, sizeof *all, cmp_d);
        json_t *cj = json_object();
        for (int c = 0; c < 17; c++)
            if (codes[c]) {
                char b[8];
                snprintf(b, sizeof b, "%d", c);
                json_object_set_new(cj, b, json_integer((json_int_t)codes[c]));
            }
        json_t *j = json_pack("{s:I,s:I,s:I,s:f,s:f,s:f,s:o}", "requests", (json_int_t)n, "errors", (json_int_t)errors,
                              "transport_failures", (json_int_t)failed, "rps", (double)n / seconds, "p50_us",
                              n && all ? all[n / 2] : 0.0, "p99_us", n && all ? all[(size_t)((double)n * 0.99)] : 0.0, "codes", cj);
        char *s = json_dumps(j, JSON_COMPACT);
        puts(s);
        free(s);
        json_decref(j);
        free(all), free(l), free(th);
        rc = failed ? 2 : 0;
    } else {
        grpc_channel_credentials *cr = grpc_insecure_credentials_create();
        grpc_channel *ch = grpc_channel_create(argv[1], cr, NULL);
        grpc_channel_credentials_release(cr);
        grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
        result r;
        if (!call(ch, cq, paths[rpc], req, len, &r)) {
            fprintf(stderr, "serve_grpc_client: the call to %s failed (no status)\n", argv[1]);
            rc = 2;
        } else {
            json_t *j = decode(rpc, &r);
            char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9));
            puts(s);
            free(s);
            json_decref(j);
            free(r.message), free(r.resp);
        }
        grpc_completion_queue_shutdown(cq);
        grpc_completion_queue_destroy(cq);
        grpc_channel_destroy(ch);
    }
    free(req);
    grpc_shutdown();
    return rc;
}
