/* serve/sv_pb.c — TF Serving's gRPC messages (serve/proto/serving.proto)
 * against kiln serve's models: PredictionService/Predict, Classify, Regress
 * and GetModelMetadata, ModelService/GetModelStatus.  A request goes through
 * the same sv_find_model / sv_acquire (version refcount: hot swap holds) /
 * batcher or sv_run_rows path and the same metrics as a REST :predict.
 * Request bytes are untrusted: every name, dtype, shape and size is checked
 * before a byte is written.  TensorProto values come as tensor_content
 * (row-major little-endian bytes) or in the typed repeated field of the
 * dtype (float_val, double_val, int_val, int64_val, bool_val), where one
 * value is broadcast to the whole shape as TensorFlow does; outputs go
 * back as tensor_content. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/sv_grpc.h"
#include "serving.pb-c.h"

const char *const sv_rpc_path[SV_N_RPC] = {
    "/tensorflow.serving.PredictionService/Predict",
    "/tensorflow.serving.PredictionService/GetModelMetadata",
    "/tensorflow.serving.ModelService/GetModelStatus",
    "/tensorflow.serving.PredictionService/Classify",
    "/tensorflow.serving.PredictionService/Regress",
};

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec * 1e-3;
}

static int dt_of(kiln_dtype t)
{
    switch (t) {
    case KILN_F32: return KILN__SERVING__DATA_TYPE__DT_FLOAT;
    case KILN_F16: return KILN__SERVING__DATA_TYPE__DT_HALF;
    case KILN_F64: return KILN__SERVING__DATA_TYPE__DT_DOUBLE;
    case KILN_I8: return KILN__SERVING__DATA_TYPE__DT_INT8;
    case KILN_I16: return KILN__SERVING__DATA_TYPE__DT_INT16;
    case KILN_I32: return KILN__SERVING__DATA_TYPE__DT_INT32;
    case KILN_I64: return KILN__SERVING__DATA_TYPE__DT_INT64;
    case KILN_U8: return KILN__SERVING__DATA_TYPE__DT_UINT8;
    case KILN_BOOL: return KILN__SERVING__DATA_TYPE__DT_BOOL;
    }
    return KILN__SERVING__DATA_TYPE__DT_INVALID;
}

/* "DT_FLOAT" for a wire value, "DataType 42" for one this schema does not name */
static const char *dt_name(int d, char *buf, size_t n)
{
    const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(&kiln__serving__data_type__descriptor, d);
    if (e) return e->name;
    snprintf(buf, n, "DataType %d", d);
    return buf;
}

static void shape_text(const int64_t *dims, int rank, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < rank && k < n; i++) k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

/* ---- the model spec ---------------------------------------------------------- */

static int take_spec(sv_server *s, const Kiln__Serving__ModelSpec *ms, sv_model **m, int64_t *version, char **msg)
{
    if (!ms) return *msg = sv_msg("Missing ModelSpec"), SV_G_INVALID_ARGUMENT;
    if (!ms->name || !*ms->name) return *msg = sv_msg("ModelSpec has no model name"), SV_G_INVALID_ARGUMENT;
    const char *label = ms->version_label && *ms->version_label ? ms->version_label : NULL;
    if (label && ms->version) /* one oneof in TF Serving's schema: a real client cannot send both */
        return *msg = sv_msg("ModelSpec gives both version and version_label (one of them)"), SV_G_INVALID_ARGUMENT;
    *version = ms->version ? ms->version->value : -1;
    if (ms->version && *version < 0)
        return *msg = sv_msg("model_spec.version %lld: versions are non-negative", (long long)*version), SV_G_INVALID_ARGUMENT;
    if (!(*m = sv_find_model(s, ms->name)))
        return *msg = sv_msg("Servable not found for request: %s(%s)", *version < 0 && !label ? "Latest" : "Specific", ms->name),
               SV_G_NOT_FOUND;
    /* version_label: the model_config_file's version_labels, as REST's /labels/LABEL (TF Serving: INVALID_ARGUMENT) */
    if (label && !sv_label_version(*m, label, version))
        return *msg = sv_msg("Unrecognized servable version label: %s (model %s)", label, ms->name), SV_G_INVALID_ARGUMENT;
    return SV_G_OK;
}

static int signature_ok(const Kiln__Serving__ModelSpec *ms, char **msg)
{
    const char *sig = ms->signature_name ? ms->signature_name : "";
    if (*sig && strcmp(sig, "serving_default"))
        return *msg = sv_msg("Serving signature name: \"%s\" not found in signature def", sig), SV_G_INVALID_ARGUMENT;
    return SV_G_OK;
}

static int acquire(sv_model *m, int64_t version, sv_version **v, char **msg)
{
    int http;
    char err[512];
    if ((*v = sv_acquire(m, version, &http, err, sizeof err))) return SV_G_OK;
    *msg = sv_msg("%s", err);
    return http == 404 ? SV_G_NOT_FOUND : http == 503 ? SV_G_UNAVAILABLE : SV_G_INTERNAL;
}

static void fill_spec(Kiln__Serving__ModelSpec *ms, Kiln__Serving__Int64Value *iv, const sv_model *m, const sv_version *v)
{
    kiln__serving__model_spec__init(ms);
    kiln__serving__int64_value__init(iv);
    iv->value = v->version;
    ms->name = m->name;
    ms->version = iv;
    ms->signature_name = "serving_default";
}

static int pack_reply(const ProtobufCMessage *msg, uint8_t **resp, size_t *resp_len, char **err)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (!(*resp = malloc(n ? n : 1))) return *err = sv_msg("out of memory"), SV_G_INTERNAL;
    *resp_len = protobuf_c_message_pack(msg, *resp);
    return SV_G_OK;
}

/* ---- TensorProto -> a feed's bytes ------------------------------------------------ */

/* Reads tensor t for feed f.  Batched signatures: dim 0 is the batch, *rows
 * is set (or must match when already >= 0).  Writes a malloc'ed buffer to *out. */
static int read_tensor(const sv_spec *f, bool batched, const Kiln__Serving__TensorProto *t, size_t max_bytes,
                       int64_t *rows, void **out, char **msg)
{
    char a[64], b[64];
    if ((int)t->dtype != dt_of(f->dtype))
        return *msg = sv_msg("input '%s': dtype %s, the signature wants %s", f->alias, dt_name((int)t->dtype, a, sizeof a),
                             dt_name(dt_of(f->dtype), b, sizeof b)),
               SV_G_INVALID_ARGUMENT;
    if (f->dtype == KILN_F16) return *msg = sv_msg("input '%s': float16 inputs are not supported by kiln serve", f->alias), SV_G_INVALID_ARGUMENT;
    const Kiln__Serving__TensorShapeProto *sh = t->tensor_shape;
    char want[160], got[160];
    shape_text(f->dims, f->rank, want, sizeof want);
    if (sh && sh->unknown_rank) return *msg = sv_msg("input '%s': a tensor of unknown rank; the signature's shape is %s", f->alias, want), SV_G_INVALID_ARGUMENT;
    int rank = sh ? (int)sh->n_dim : 0;
    if (rank > SV_MAX_RANK) return *msg = sv_msg("input '%s': rank %d, more than %d", f->alias, rank, SV_MAX_RANK), SV_G_INVALID_ARGUMENT;
    int64_t dims[SV_MAX_RANK];
    for (int d = 0; d < rank; d++) dims[d] = sh->dim[d]->size;
    shape_text(dims, rank, got, sizeof got);
    bool ok = rank == f->rank;
    for (int d = 0; ok && d < rank; d++) ok = dims[d] >= 0 && (dims[d] == f->dims[d] || (d == 0 && batched && f->dims[0] < 0));
    if (!ok) return *msg = sv_msg("input '%s': shape %s, the signature's shape is %s (-1: any batch)", f->alias, got, want), SV_G_INVALID_ARGUMENT;
    if (batched) {
        if (dims[0] == 0) return *msg = sv_msg("input '%s': shape %s has no rows", f->alias, got), SV_G_INVALID_ARGUMENT;
        if (*rows >= 0 && dims[0] != *rows)
            return *msg = sv_msg("input '%s' has %lld rows, the inputs before it %lld: every input of a batched signature "
                                 "needs the same batch", f->alias, (long long)dims[0], (long long)*rows),
                   SV_G_INVALID_ARGUMENT;
        *rows = dims[0];
    }
    size_t es = kiln_dtype_size(f->dtype), n = 1;
    for (int d = 0; d < rank; d++) {
        if (dims[d] && n > max_bytes / es / (size_t)dims[d])
            return *msg = sv_msg("input '%s': shape %s is larger than %zu bytes (--max_body_bytes)", f->alias, got, max_bytes),
                   SV_G_RESOURCE_EXHAUSTED;
        n *= (size_t)dims[d];
    }
    char *p = malloc(n * es + 1);
    if (!p) return *msg = sv_msg("out of memory"), SV_G_INTERNAL;
    if (t->tensor_content.len) {
        if (t->tensor_content.len != n * es) {
            free(p);
            return *msg = sv_msg("input '%s': tensor_content has %zu bytes; shape %s of %s needs %zu", f->alias,
                                 t->tensor_content.len, got, kiln_dtype_name(f->dtype), n * es),
                   SV_G_INVALID_ARGUMENT;
        }
        memcpy(p, t->tensor_content.data, n * es); /* little-endian on the wire and on every target kiln serve runs on */
        *out = p;
        return SV_G_OK;
    }
    size_t have;
    const char *field;
    switch (f->dtype) {
    case KILN_F32: have = t->n_float_val, field = "float_val"; break;
    case KILN_F64: have = t->n_double_val, field = "double_val"; break;
    case KILN_I64: have = t->n_int64_val, field = "int64_val"; break;
    case KILN_BOOL: have = t->n_bool_val, field = "bool_val"; break;
    default: have = t->n_int_val, field = "int_val"; break;
    }
    if (have != n && have != 1) {
        free(p);
        return *msg = sv_msg("input '%s': %zu values in %s (and no tensor_content) for shape %s of %zu elements: give all, or "
                             "one to broadcast", f->alias, have, field, got, n),
               SV_G_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = have == 1 ? 0 : i;
        char *q = p + i * es;
        switch (f->dtype) {
        case KILN_F32: memcpy(q, &t->float_val[k], 4); break;
        case KILN_F64: memcpy(q, &t->double_val[k], 8); break;
        case KILN_I64: memcpy(q, &t->int64_val[k], 8); break;
        case KILN_BOOL: *(uint8_t *)q = t->bool_val[k] != 0; break;
        case KILN_I32: memcpy(q, &t->int_val[k], 4); break;
        default: {
            int32_t x = t->int_val[k];
            int32_t lo = f->dtype == KILN_I8 ? INT8_MIN : f->dtype == KILN_I16 ? INT16_MIN : 0;
            int32_t hi = f->dtype == KILN_I8 ? INT8_MAX : f->dtype == KILN_I16 ? INT16_MAX : UINT8_MAX;
            if (x < lo || x > hi) {
                free(p);
                return *msg = sv_msg("input '%s': int_val %d is out of range for %s", f->alias, x, kiln_dtype_name(f->dtype)),
                       SV_G_INVALID_ARGUMENT;
            }
            if (f->dtype == KILN_I16) {
                int16_t y = (int16_t)x;
                memcpy(q, &y, 2);
            } else {
                *(uint8_t *)q = (uint8_t)x;
            }
        }
        }
    }
    *out = p;
    return SV_G_OK;
}

/* Runs rows through v (its batcher, else the compiled code): SV_G_OK, or a code with *msg. */
static int run_version(sv_model *m, sv_version *v, int64_t rows, void *const *in, void *const *out, char **msg)
{
    char *e;
    bool full = false;
    if (v->batcher) {
        /* counted in flight as a REST request is (sv_batcher_run ends it): a
         * lone call then runs at once instead of waiting batch_timeout_micros */
        sv_batcher_enter(v->batcher);
        e = sv_batcher_run(v->batcher, rows, (const void *const *)in, out, &full);
    } else {
        int64_t calls = 0;
        e = sv_run_rows(v, rows, (const void *const *)in, out, &calls);
        pthread_mutex_lock(&m->mu);
        sv_hist_add(&m->batch_rows, (double)rows);
        pthread_mutex_unlock(&m->mu);
    }
    if (!e) return SV_G_OK;
    *msg = e;
    return full ? SV_G_UNAVAILABLE : SV_G_INTERNAL;
}

/* ---- Predict ------------------------------------------------------------------------ */

/* A gRPC call's outcome and latency in its model's metrics (m: NULL when
 * the model was not found). */
static void count_request(sv_model *m, int code, double t0)
{
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    if (code == SV_G_OK) m->req_ok++;
    else m->req_err++;
    sv_hist_add(&m->latency_us, now_us() - t0);
    pthread_mutex_unlock(&m->mu);
}

static int predict(sv_server *s, const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len, char **msg)
{
    Kiln__Serving__PredictRequest *pr = kiln__serving__predict_request__unpack(NULL, len, req);
    if (!pr) return *msg = sv_msg("could not parse the PredictRequest message"), SV_G_INVALID_ARGUMENT;
    double t0 = now_us();
    sv_model *m = NULL;
    sv_version *v = NULL;
    int64_t version;
    void *in[SV_MAX_IO] = {0}, *out[SV_MAX_IO] = {0};
    int code = take_spec(s, pr->model_spec, &m, &version, msg);
    if (code || (code = signature_ok(pr->model_spec, msg)) || (code = acquire(m, version, &v, msg))) goto done;
    /* inputs by name: each in the signature, once; every feed given */
    int64_t rows = v->batched ? -1 : 1;
    for (size_t k = 0; k < pr->n_inputs; k++) {
        const Kiln__Serving__NamedTensor *nt = pr->inputs[k];
        const char *key = nt->key ? nt->key : "";
        int i = 0;
        while (i < v->n_feeds && strcmp(v->feeds[i].alias, key)) i++;
        if (i == v->n_feeds) {
            char names[512] = "";
            for (int f = 0; f < v->n_feeds; f++) {
                size_t used = strlen(names);
                snprintf(names + used, sizeof names - used, "%s'%s'", f ? ", " : "", v->feeds[f].alias);
            }
            *msg = sv_msg("input '%s' is not in the signature (its inputs: %s)", key, names);
            code = SV_G_INVALID_ARGUMENT;
            goto done;
        }
        if (in[i]) {
            *msg = sv_msg("input '%s' is given twice", key), code = SV_G_INVALID_ARGUMENT;
            goto done;
        }
        if (!nt->value) {
            *msg = sv_msg("input '%s' has no tensor", key), code = SV_G_INVALID_ARGUMENT;
            goto done;
        }
        if ((code = read_tensor(&v->feeds[i], v->batched, nt->value, s->max_body, &rows, &in[i], msg))) goto done;
    }
    for (int i = 0; i < v->n_feeds; i++)
        if (!in[i]) {
            *msg = sv_msg("missing input '%s'", v->feeds[i].alias), code = SV_G_INVALID_ARGUMENT;
            goto done;
        }
    bool want[SV_MAX_IO] = {0};
    for (size_t k = 0; k < pr->n_output_filter; k++) {
        int i = 0;
        while (i < v->n_fetches && strcmp(v->fetches[i].alias, pr->output_filter[k])) i++;
        if (i == v->n_fetches || want[i]) {
            *msg = sv_msg(i == v->n_fetches ? "output_filter: '%s' is not an output of the signature" : "output_filter: '%s' twice",
                          pr->output_filter[k]);
            code = SV_G_INVALID_ARGUMENT;
            goto done;
        }
        want[i] = true;
    }
    for (int i = 0; i < v->n_fetches; i++) {
        want[i] |= !pr->n_output_filter;
        if (!(out[i] = malloc((size_t)rows * sv_row_bytes(&v->fetches[i]) + 1))) {
            *msg = sv_msg("out of memory"), code = SV_G_INTERNAL;
            goto done;
        }
    }
    if ((code = run_version(m, v, rows, in, out, msg))) goto done;
    Kiln__Serving__PredictResponse res = KILN__SERVING__PREDICT_RESPONSE__INIT;
    Kiln__Serving__ModelSpec ms;
    Kiln__Serving__Int64Value iv;
    fill_spec(&ms, &iv, m, v);
    res.model_spec = &ms;
    Kiln__Serving__NamedTensor nts[SV_MAX_IO], *ntp[SV_MAX_IO];
    Kiln__Serving__TensorProto tps[SV_MAX_IO];
    Kiln__Serving__TensorShapeProto shs[SV_MAX_IO];
    Kiln__Serving__TensorShapeProto__Dim dms[SV_MAX_IO][SV_MAX_RANK], *dmp[SV_MAX_IO][SV_MAX_RANK];
    for (int i = 0; i < v->n_fetches; i++) {
        if (!want[i]) continue;
        const sv_spec *f = &v->fetches[i];
        int k = (int)res.n_outputs++;
        kiln__serving__named_tensor__init(&nts[k]);
        kiln__serving__tensor_proto__init(&tps[k]);
        kiln__serving__tensor_shape_proto__init(&shs[k]);
        for (int d = 0; d < f->rank; d++) {
            kiln__serving__tensor_shape_proto__dim__init(&dms[k][d]);
            dms[k][d].size = d == 0 && v->batched ? rows : f->dims[d];
            dmp[k][d] = &dms[k][d];
        }
        shs[k].n_dim = (size_t)f->rank;
        shs[k].dim = dmp[k];
        tps[k].dtype = (Kiln__Serving__DataType)dt_of(f->dtype);
        tps[k].tensor_shape = &shs[k];
        tps[k].tensor_content.len = (size_t)rows * sv_row_bytes(f);
        tps[k].tensor_content.data = out[i];
        nts[k].key = f->alias;
        nts[k].value = &tps[k];
        ntp[k] = &nts[k];
    }
    res.outputs = ntp;
    code = pack_reply(&res.base, resp, resp_len, msg);
done:
    if (v) sv_release(v);
    for (int i = 0; i < SV_MAX_IO; i++) free(in[i]), free(out[i]);
    kiln__serving__predict_request__free_unpacked(pr, NULL);
    count_request(m, code, t0);
    return code;
}

/* ---- GetModelMetadata ------------------------------------------------------------------ */

typedef struct {
    Kiln__Serving__SignatureDef__IoEntry e;
    Kiln__Serving__TensorInfo ti;
    Kiln__Serving__TensorShapeProto sh;
    Kiln__Serving__TensorShapeProto__Dim dim[SV_MAX_RANK], *dimp[SV_MAX_RANK];
    char name[1024];
} io_info;

static void fill_info(io_info *x, const sv_spec *s)
{
    kiln__serving__signature_def__io_entry__init(&x->e);
    kiln__serving__tensor_info__init(&x->ti);
    kiln__serving__tensor_shape_proto__init(&x->sh);
    for (int d = 0; d < s->rank; d++) {
        kiln__serving__tensor_shape_proto__dim__init(&x->dim[d]);
        x->dim[d].size = s->dims[d];
        x->dimp[d] = &x->dim[d];
    }
    x->sh.n_dim = (size_t)s->rank;
    x->sh.dim = x->dimp;
    snprintf(x->name, sizeof x->name, "%s%s", s->name, strchr(s->name, ':') ? "" : ":0");
    x->ti.name = x->name;
    x->ti.dtype = (Kiln__Serving__DataType)dt_of(s->dtype);
    x->ti.tensor_shape = &x->sh;
    x->e.key = s->alias;
    x->e.value = &x->ti;
}

static int metadata(sv_server *s, const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len, char **msg)
{
    Kiln__Serving__GetModelMetadataRequest *mr = kiln__serving__get_model_metadata_request__unpack(NULL, len, req);
    if (!mr) return *msg = sv_msg("could not parse the GetModelMetadataRequest message"), SV_G_INVALID_ARGUMENT;
    sv_model *m;
    sv_version *v = NULL;
    int64_t version;
    io_info *io = NULL;
    uint8_t *packed = NULL;
    int code = take_spec(s, mr->model_spec, &m, &version, msg);
    if (code) goto done;
    if (!mr->n_metadata_field) {
        *msg = sv_msg("GetModelMetadataRequest must specify at least one metadata_field"), code = SV_G_INVALID_ARGUMENT;
        goto done;
    }
    for (size_t k = 0; k < mr->n_metadata_field; k++)
        if (strcmp(mr->metadata_field[k], "signature_def")) {
            *msg = sv_msg("Metadata field %s is not supported (signature_def is)", mr->metadata_field[k]);
            code = SV_G_INVALID_ARGUMENT;
            goto done;
        }
    if ((code = acquire(m, version, &v, msg))) goto done;
    if (!(io = calloc((size_t)(v->n_feeds + v->n_fetches), sizeof *io))) {
        *msg = sv_msg("out of memory"), code = SV_G_INTERNAL;
        goto done;
    }
    Kiln__Serving__SignatureDef__IoEntry *ins[SV_MAX_IO], *outs[SV_MAX_IO];
    for (int i = 0; i < v->n_feeds; i++) fill_info(&io[i], &v->feeds[i]), ins[i] = &io[i].e;
    for (int i = 0; i < v->n_fetches; i++) fill_info(&io[v->n_feeds + i], &v->fetches[i]), outs[i] = &io[v->n_feeds + i].e;
    Kiln__Serving__SignatureDef sd = KILN__SERVING__SIGNATURE_DEF__INIT;
    sd.n_inputs = (size_t)v->n_feeds, sd.inputs = ins;
    sd.n_outputs = (size_t)v->n_fetches, sd.outputs = outs;
    sd.method_name = "tensorflow/serving/predict";
    Kiln__Serving__SignatureDefMap__Entry se = KILN__SERVING__SIGNATURE_DEF_MAP__ENTRY__INIT, *sep = &se;
    se.key = "serving_default";
    se.value = &sd;
    Kiln__Serving__SignatureDefMap map = KILN__SERVING__SIGNATURE_DEF_MAP__INIT;
    map.n_signature_def = 1, map.signature_def = &sep;
    size_t plen;
    if ((code = pack_reply(&map.base, &packed, &plen, msg))) goto done;
    Kiln__Serving__Any any = KILN__SERVING__ANY__INIT;
    any.type_url = "type.googleapis.com/tensorflow.serving.SignatureDefMap";
    any.value.len = plen, any.value.data = packed;
    Kiln__Serving__GetModelMetadataResponse__Entry me = KILN__SERVING__GET_MODEL_METADATA_RESPONSE__ENTRY__INIT, *mep = &me;
    me.key = "signature_def";
    me.value = &any;
    Kiln__Serving__GetModelMetadataResponse res = KILN__SERVING__GET_MODEL_METADATA_RESPONSE__INIT;
    Kiln__Serving__ModelSpec ms;
    Kiln__Serving__Int64Value iv;
    fill_spec(&ms, &iv, m, v);
    ms.signature_name = "";
    res.model_spec = &ms;
    res.n_metadata = 1, res.metadata = &mep;
    code = pack_reply(&res.base, resp, resp_len, msg);
done:
    if (v) sv_release(v);
    free(io);
    free(packed);
    kiln__serving__get_model_metadata_request__free_unpacked(mr, NULL);
    return code;
}

/* ---- GetModelStatus ---------------------------------------------------------------------- */

static int status(sv_server *s, const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len, char **msg)
{
    Kiln__Serving__GetModelStatusRequest *sr = kiln__serving__get_model_status_request__unpack(NULL, len, req);
    if (!sr) return *msg = sv_msg("could not parse the GetModelStatusRequest message"), SV_G_INVALID_ARGUMENT;
    sv_model *m;
    int64_t version;
    int code = take_spec(s, sr->model_spec, &m, &version, msg);
    if (code) {
        kiln__serving__get_model_status_request__free_unpacked(sr, NULL);
        return code;
    }
    static const Kiln__Serving__ModelVersionStatus__State states[] = {
        [SV_START] = KILN__SERVING__MODEL_VERSION_STATUS__STATE__START,
        [SV_LOADING] = KILN__SERVING__MODEL_VERSION_STATUS__STATE__LOADING,
        [SV_AVAILABLE] = KILN__SERVING__MODEL_VERSION_STATUS__STATE__AVAILABLE,
        [SV_UNLOADING] = KILN__SERVING__MODEL_VERSION_STATUS__STATE__UNLOADING,
        [SV_END] = KILN__SERVING__MODEL_VERSION_STATUS__STATE__END,
    };
    Kiln__Serving__ModelVersionStatus vs[SV_MAX_VERSIONS], *vsp[SV_MAX_VERSIONS];
    Kiln__Serving__StatusProto st[SV_MAX_VERSIONS];
    Kiln__Serving__GetModelStatusResponse res = KILN__SERVING__GET_MODEL_STATUS_RESPONSE__INIT;
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->n_status; i++) {
        const sv_vstatus *x = &m->status[i];
        if (version >= 0 && x->version != version) continue;
        size_t k = res.n_model_version_status++;
        kiln__serving__model_version_status__init(&vs[k]);
        kiln__serving__status_proto__init(&st[k]);
        st[k].error_code = x->error ? 2 /* UNKNOWN */ : 0;
        st[k].error_message = x->error ? x->error : "";
        vs[k].version = x->version;
        vs[k].state = states[x->state];
        vs[k].status = &st[k];
        vsp[k] = &vs[k];
    }
    res.model_version_status = vsp;
    if (!res.n_model_version_status && version >= 0)
        *msg = sv_msg("Could not find version %lld of model %s", (long long)version, m->name), code = SV_G_NOT_FOUND;
    else code = pack_reply(&res.base, resp, resp_len, msg); /* under the lock: the error strings are the model's */
    pthread_mutex_unlock(&m->mu);
    kiln__serving__get_model_status_request__free_unpacked(sr, NULL);
    return code;
}

/* ---- Classify / Regress --------------------------------------------------------------- */

/* Kiln has no DT_STRING, so no signature takes serialized tf.Examples: each
 * feed of the (batched) signature is filled from the examples' feature of
 * its alias, one example per row (docs/serving.md).  Classify answers from
 * the scores fetch [batch, classes], Regress from a fetch [batch] or
 * [batch, 1]. */

int sv_classify_fetch(const sv_version *v)
{
    for (int i = 0; i < v->n_fetches; i++)
        if (!strcmp(v->fetches[i].alias, "scores")) return i;
    return 0;
}

int sv_regress_fetch(const sv_version *v)
{
    for (int i = 0; i < v->n_fetches; i++)
        if (!strcmp(v->fetches[i].alias, "outputs")) return i;
    return 0;
}

static const Kiln__Serving__Feature empty_feature = KILN__SERVING__FEATURE__INIT;

/* The example's feature of that name (the last entry of the key: a map's last one wins), or NULL. */
static const Kiln__Serving__Feature *feature_of(const Kiln__Serving__Example *ex, const char *name)
{
    const Kiln__Serving__Feature *f = NULL;
    if (!ex || !ex->features) return NULL;
    for (size_t k = 0; k < ex->features->n_feature; k++) {
        const Kiln__Serving__Features__Entry *e = ex->features->feature[k];
        if (e->key && !strcmp(e->key, name)) f = e->value ? e->value : &empty_feature;
    }
    return f;
}

/* Fills feed f's rows (one per example; a feature the example lacks is taken from the context). */
static int fill_feed(const sv_spec *f, size_t n_ex, Kiln__Serving__Example *const *ex, const Kiln__Serving__Example *ctx,
                     char *out, char **msg)
{
    size_t es = kiln_dtype_size(f->dtype), per = sv_row_bytes(f) / es;
    char want[160];
    shape_text(f->dims + 1, f->rank - 1, want, sizeof want);
    bool fl = f->dtype == KILN_F32 || f->dtype == KILN_F64;
    for (size_t r = 0; r < n_ex; r++) {
        const Kiln__Serving__Feature *ft = feature_of(ex[r], f->alias);
        if (!ft) ft = feature_of(ctx, f->alias);
        if (!ft)
            return *msg = sv_msg("example %zu: feature '%s' (%zu values of %s, the shape %s of input '%s' per example) is "
                                 "required but could not be found", r, f->alias, per, kiln_dtype_name(f->dtype), want, f->alias),
                   SV_G_INVALID_ARGUMENT;
        if ((ft->bytes_list != NULL) + (ft->float_list != NULL) + (ft->int64_list != NULL) > 1)
            return *msg = sv_msg("example %zu: feature '%s' has more than one kind of list", r, f->alias), SV_G_INVALID_ARGUMENT;
        if (ft->bytes_list)
            return *msg = sv_msg("example %zu: feature '%s' is a bytes_list; kiln serve has no string tensors (input '%s' is %s: "
                                 "give a %s)", r, f->alias, f->alias, kiln_dtype_name(f->dtype), fl ? "float_list" : "int64_list"),
                   SV_G_INVALID_ARGUMENT;
        const float *fv = ft->float_list ? ft->float_list->value : NULL;
        const int64_t *iv = ft->int64_list ? ft->int64_list->value : NULL;
        size_t n = ft->float_list ? ft->float_list->n_value : ft->int64_list ? ft->int64_list->n_value : 0;
        if (ft->float_list && !fl)
            return *msg = sv_msg("example %zu: feature '%s' is a float_list; input '%s' is %s (give an int64_list)", r, f->alias,
                                 f->alias, kiln_dtype_name(f->dtype)),
                   SV_G_INVALID_ARGUMENT;
        if (n != per)
            return *msg = sv_msg("example %zu: feature '%s' has %zu values; input '%s' takes %zu per example (shape %s after "
                                 "the batch)", r, f->alias, n, f->alias, per, want),
                   SV_G_INVALID_ARGUMENT;
        char *q = out + r * per * es;
        for (size_t k = 0; k < per; k++, q += es) {
            switch (f->dtype) {
            case KILN_F32: {
                float x = fv ? fv[k] : (float)iv[k];
                memcpy(q, &x, 4);
                break;
            }
            case KILN_F64: {
                double x = fv ? (double)fv[k] : (double)iv[k];
                memcpy(q, &x, 8);
                break;
            }
            case KILN_I64: memcpy(q, &iv[k], 8); break;
            default: {
                int64_t x = iv[k];
                int64_t lo = f->dtype == KILN_I8 ? INT8_MIN : f->dtype == KILN_I16 ? INT16_MIN : f->dtype == KILN_I32 ? INT32_MIN : 0;
                int64_t hi = f->dtype == KILN_I8 ? INT8_MAX : f->dtype == KILN_I16 ? INT16_MAX : f->dtype == KILN_I32 ? INT32_MAX
                             : f->dtype == KILN_BOOL ? 1 : UINT8_MAX;
                if (x < lo || x > hi)
                    return *msg = sv_msg("example %zu: feature '%s': %lld is out of range for %s", r, f->alias, (long long)x,
                                         kiln_dtype_name(f->dtype)),
                           SV_G_INVALID_ARGUMENT;
                if (f->dtype == KILN_I32) {
                    int32_t y = (int32_t)x;
                    memcpy(q, &y, 4);
                } else if (f->dtype == KILN_I16) {
                    int16_t y = (int16_t)x;
                    memcpy(q, &y, 2);
                } else {
                    *(uint8_t *)q = (uint8_t)x;
                }
            }
            }
        }
    }
    return SV_G_OK;
}

void sv_infer_free(sv_infer *r)
{
    if (r->labels)
        for (int64_t j = 0; j < r->cols; j++) free(r->labels[j]);
    free(r->labels);
    free(r->values);
    memset(r, 0, sizeof *r);
}

int sv_pb_infer(sv_server *s, bool classify, const Kiln__Serving__ModelSpec *ms, const Kiln__Serving__Input *inp, sv_infer *res,
                char **msg)
{
    memset(res, 0, sizeof *res);
    double t0 = now_us();
    sv_model *m = NULL;
    sv_version *v = NULL;
    int64_t version;
    void *in[SV_MAX_IO] = {0}, *out[SV_MAX_IO] = {0};
    const char *what = classify ? "Classify" : "Regress";
    int code = take_spec(s, ms, &m, &version, msg);
    if (code || (code = signature_ok(ms, msg)) || (code = acquire(m, version, &v, msg))) goto done;
    size_t n_ex = 0;
    Kiln__Serving__Example *const *ex = NULL;
    const Kiln__Serving__Example *ctx = NULL;
    if (inp && inp->example_list && inp->example_list_with_context) {
        *msg = sv_msg("Input has both example_list and example_list_with_context (one of them)"), code = SV_G_INVALID_ARGUMENT;
        goto done;
    }
    if (inp && inp->example_list) {
        n_ex = inp->example_list->n_examples, ex = inp->example_list->examples;
    } else if (inp && inp->example_list_with_context) {
        n_ex = inp->example_list_with_context->n_examples, ex = inp->example_list_with_context->examples;
        ctx = inp->example_list_with_context->context;
    }
    if (!n_ex) {
        *msg = sv_msg("Input is empty."), code = SV_G_INVALID_ARGUMENT; /* TF Serving's words */
        goto done;
    }
    if (!v->batched) {
        *msg = sv_msg("%s needs a batched signature (every feed of kiln.json with -1 first): each example is a row", what);
        code = SV_G_INVALID_ARGUMENT;
        goto done;
    }
    int fi = classify ? sv_classify_fetch(v) : sv_regress_fetch(v);
    const sv_spec *o = &v->fetches[fi];
    char sh[160];
    shape_text(o->dims, o->rank, sh, sizeof sh);
    if (o->dtype != KILN_F32 && o->dtype != KILN_F64) {
        *msg = sv_msg("%s answers from fetch '%s', which is %s (float32 or float64 are)", what, o->alias, kiln_dtype_name(o->dtype));
        code = SV_G_INVALID_ARGUMENT;
        goto done;
    }
    if (classify && o->rank != 2) {
        *msg = sv_msg("Expected Tensor shape: [batch_size num_classes] but got %s (fetch '%s')", sh, o->alias);
        code = SV_G_INVALID_ARGUMENT;
        goto done;
    }
    if (!classify && o->rank != 1 && !(o->rank == 2 && o->dims[1] == 1)) {
        *msg = sv_msg("Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got %s (fetch '%s')", sh,
                      o->alias);
        code = SV_G_INVALID_ARGUMENT;
        goto done;
    }
    int64_t rows = (int64_t)n_ex;
    for (int i = 0; i < v->n_feeds; i++) {
        const sv_spec *f = &v->feeds[i];
        if (f->dtype == KILN_F16) {
            *msg = sv_msg("input '%s': float16 inputs are not supported by kiln serve", f->alias), code = SV_G_INVALID_ARGUMENT;
            goto done;
        }
        size_t rb = sv_row_bytes(f);
        if (rb && n_ex > s->max_body / rb) {
            *msg = sv_msg("input '%s': %zu examples of %zu bytes are more than %zu bytes (--max_body_bytes)", f->alias, n_ex, rb,
                          s->max_body);
            code = SV_G_RESOURCE_EXHAUSTED;
            goto done;
        }
        if (!(in[i] = malloc(n_ex * rb + 1))) {
            *msg = sv_msg("out of memory"), code = SV_G_INTERNAL;
            goto done;
        }
        if ((code = fill_feed(f, n_ex, ex, ctx, in[i], msg))) goto done;
    }
    for (int i = 0; i < v->n_fetches; i++)
        if (!(out[i] = malloc((size_t)rows * sv_row_bytes(&v->fetches[i]) + 1))) {
            *msg = sv_msg("out of memory"), code = SV_G_INTERNAL;
            goto done;
        }
    if ((code = run_version(m, v, rows, in, out, msg))) goto done;
    int64_t cols = classify ? o->dims[1] : 1;
    if (!(res->values = malloc((size_t)(rows * cols) * sizeof(float) + 1)) ||
        (classify && !(res->labels = calloc((size_t)cols + 1, sizeof *res->labels)))) {
        *msg = sv_msg("out of memory"), code = SV_G_INTERNAL;
        goto done;
    }
    res->rows = rows, res->cols = cols, res->version = v->version;
    for (int64_t k = 0; k < rows * cols; k++)
        res->values[k] = o->dtype == KILN_F32 ? ((const float *)out[fi])[k] : (float)((const double *)out[fi])[k];
    for (int64_t j = 0; classify && j < cols; j++) {
        if (v->classes) res->labels[j] = strdup(v->classes[j]);
        else if (asprintf(&res->labels[j], "%lld", (long long)j) < 0) res->labels[j] = NULL;
        if (!res->labels[j]) {
            *msg = sv_msg("out of memory"), code = SV_G_INTERNAL;
            goto done;
        }
    }
done:
    if (code) sv_infer_free(res);
    if (v) sv_release(v);
    for (int i = 0; i < SV_MAX_IO; i++) free(in[i]), free(out[i]);
    count_request(m, code, t0);
    return code;
}

static int infer_rpc(sv_server *s, bool classify, const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len, char **msg)
{
    Kiln__Serving__ClassificationRequest *cr = NULL;
    Kiln__Serving__RegressionRequest *rr = NULL;
    const Kiln__Serving__ModelSpec *ms;
    const Kiln__Serving__Input *inp;
    if (classify) {
        if (!(cr = kiln__serving__classification_request__unpack(NULL, len, req)))
            return *msg = sv_msg("could not parse the ClassificationRequest message"), SV_G_INVALID_ARGUMENT;
        ms = cr->model_spec, inp = cr->input;
    } else {
        if (!(rr = kiln__serving__regression_request__unpack(NULL, len, req)))
            return *msg = sv_msg("could not parse the RegressionRequest message"), SV_G_INVALID_ARGUMENT;
        ms = rr->model_spec, inp = rr->input;
    }
    sv_infer r;
    int code = sv_pb_infer(s, classify, ms, inp, &r, msg);
    if (code == SV_G_OK) {
        Kiln__Serving__ModelSpec os;
        Kiln__Serving__Int64Value iv;
        kiln__serving__model_spec__init(&os);
        kiln__serving__int64_value__init(&iv);
        iv.value = r.version;
        os.name = ms->name, os.version = &iv, os.signature_name = "serving_default";
        size_t n = (size_t)(r.rows * r.cols);
        if (classify) {
            Kiln__Serving__Classifications *cl = calloc((size_t)r.rows, sizeof *cl), **clp = calloc((size_t)r.rows, sizeof *clp);
            Kiln__Serving__Class *c = calloc(n + 1, sizeof *c), **cp = calloc(n + 1, sizeof *cp);
            if (cl && clp && c && cp) {
                for (int64_t i = 0; i < r.rows; i++) {
                    kiln__serving__classifications__init(&cl[i]);
                    for (int64_t j = 0; j < r.cols; j++) {
                        size_t k = (size_t)(i * r.cols + j);
                        kiln__serving__class__init(&c[k]);
                        c[k].label = r.labels[j], c[k].score = r.values[k];
                        cp[k] = &c[k];
                    }
                    cl[i].n_classes = (size_t)r.cols, cl[i].classes = cp + i * r.cols;
                    clp[i] = &cl[i];
                }
                Kiln__Serving__ClassificationResult cres = KILN__SERVING__CLASSIFICATION_RESULT__INIT;
                cres.n_classifications = (size_t)r.rows, cres.classifications = clp;
                Kiln__Serving__ClassificationResponse res = KILN__SERVING__CLASSIFICATION_RESPONSE__INIT;
                res.result = &cres, res.model_spec = &os;
                code = pack_reply(&res.base, resp, resp_len, msg);
            } else {
                *msg = sv_msg("out of memory"), code = SV_G_INTERNAL;
            }
            free(cl), free(clp), free(c), free(cp);
        } else {
            Kiln__Serving__Regression *g = calloc(n + 1, sizeof *g), **gp = calloc(n + 1, sizeof *gp);
            if (g && gp) {
                for (size_t k = 0; k < n; k++) kiln__serving__regression__init(&g[k]), g[k].value = r.values[k], gp[k] = &g[k];
                Kiln__Serving__RegressionResult rres = KILN__SERVING__REGRESSION_RESULT__INIT;
                rres.n_regressions = n, rres.regressions = gp;
                Kiln__Serving__RegressionResponse res = KILN__SERVING__REGRESSION_RESPONSE__INIT;
                res.result = &rres, res.model_spec = &os;
                code = pack_reply(&res.base, resp, resp_len, msg);
            } else {
                *msg = sv_msg("out of memory"), code = SV_G_INTERNAL;
            }
            free(g), free(gp);
        }
    }
    sv_infer_free(&r);
    if (cr) kiln__serving__classification_request__free_unpacked(cr, NULL);
    if (rr) kiln__serving__regression_request__free_unpacked(rr, NULL);
    return code;
}

int sv_pb_call(sv_server *s, enum sv_rpc rpc, const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len, char **msg)
{
    *resp = NULL, *resp_len = 0, *msg = NULL;
    switch (rpc) {
    case SV_RPC_PREDICT: return predict(s, req, len, resp, resp_len, msg);
    case SV_RPC_METADATA: return metadata(s, req, len, resp, resp_len, msg);
    case SV_RPC_STATUS: return status(s, req, len, resp, resp_len, msg);
    case SV_RPC_CLASSIFY: return infer_rpc(s, true, req, len, resp, resp_len, msg);
    case SV_RPC_REGRESS: return infer_rpc(s, false, req, len, resp, resp_len, msg);
    case SV_N_RPC: break;
    }
    *msg = sv_msg("unknown method");
    return SV_G_UNIMPLEMENTED;
}
