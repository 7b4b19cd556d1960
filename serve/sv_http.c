/* serve/sv_http.c — `kiln serve`: flags (tensorflow_model_server's names),
 * the REST routes of TF Serving's API, errors as {"error": ...}, the
 * Prometheus text endpoint, the poll thread and the HTTP daemon
 * (libmicrohttpd, one thread per connection: a request waiting for its
 * batch blocks only its own connection). */
#define _GNU_SOURCE /* asprintf, strndup */
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "serve/serve.h"
#include "serve/sv.h"
#include "serve/sv_example.h"
#include "serve/sv_grpc.h"

const double sv_latency_bounds[] = {50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};
const int sv_n_latency_bounds = (int)(sizeof sv_latency_bounds / sizeof sv_latency_bounds[0]);
const double sv_batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
const int sv_n_batch_bounds = (int)(sizeof sv_batch_bounds / sizeof sv_batch_bounds[0]);

void sv_hist_add(sv_hist *h, double v)
{
    int i = 0;
    while (i < h->n && v > h->bounds[i]) i++;
    h->counts[i]++;
    h->sum += v;
    h->total++;
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec * 1e-3;
}

/* ---- responses ----------------------------------------------------------- */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, char *text, size_t len, const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *j, size_t flags)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | flags) : NULL;
    json_decref(j);
    if (!s) s = strdup("{\"error\": \"out of memory\"}"), status = 500;
    if (!s) return MHD_NO;
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (t) s = t, s[n++] = '\n', s[n] = 0;
    return send_text(c, status, s, n, "application/json");
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
    char m[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return send_json(c, status, json_pack("{s:s}", "error", m), 0);
}

/* ---- routes -------------------------------------------------------------- */

static json_t *status_json(sv_model *m, int64_t version, bool *found)
{
    json_t *list = json_array();
    *found = false;
    pthread_mutex_lock(&m->mu);
    int order[SV_MAX_VERSIONS];
    for (int i = 0; i < m->n_status; i++) order[i] = i;
    for (int i = 1; i < m->n_status; i++) /* newest first */
        for (int k = i; k > 0 && m->status[order[k]].version > m->status[order[k - 1]].version; k--) {
            int t = order[k];
            order[k] = order[k - 1];
            order[k - 1] = t;
        }
    for (int i = 0; i < m->n_status; i++) {
        const sv_vstatus *vs = &m->status[order[i]];
        if (version >= 0 && vs->version != version) continue;
        *found = true;
        char v[32];
        snprintf(v, sizeof v, "%lld", (long long)vs->version);
        json_array_append_new(list, json_pack("{s:s,s:s,s:{s:s,s:s}}", "version", v, "state", sv_state_name(vs->state),
                                              "status", "error_code", vs->error ? "UNKNOWN" : "OK", "error_message",
                                              vs->error ? vs->error : ""));
    }
    pthread_mutex_unlock(&m->mu);
    return json_pack("{s:o}", "model_version_status", list);
}

static enum MHD_Result metadata(struct MHD_Connection *c, sv_model *m, int64_t version)
{
    int http;
    char err[512];
    sv_version *v = sv_acquire(m, version, &http, err, sizeof err);
    if (!v) return send_error(c, (unsigned)http, "%s", err);
    char vs[32];
    snprintf(vs, sizeof vs, "%lld", (long long)v->version);
    json_t *j = json_pack("{s:{s:s,s:s,s:s},s:{s:{s:{s:o}}}}", "model_spec", "name", m->name, "signature_name", "",
                          "version", vs, "metadata", "signature_def", "signature_def", "serving_default",
                          sv_signature_json(v));
    sv_release(v);
    return send_json(c, 200, j, 0);
}

static enum MHD_Result predict(struct MHD_Connection *c, sv_model *m, int64_t version, const char *body, size_t len)
{
    double t0 = now_us();
    int http;
    char err[512];
    sv_version *v = sv_acquire(m, version, &http, err, sizeof err);
    if (!v) {
        pthread_mutex_lock(&m->mu);
        m->req_err++;
        pthread_mutex_unlock(&m->mu);
        return send_error(c, (unsigned)http, "%s", err);
    }
    pthread_mutex_lock(&m->mu);
    m->in_flight++;
    pthread_mutex_unlock(&m->mu);
    bool entered = v->batcher != NULL; /* the batcher waits for this request's rows until it leaves */
    if (entered) sv_batcher_enter(v->batcher);
    json_error_t je;
    sv_request r = {0};
    bool fast = sv_parse_fast(v, body, len, &r); /* {"instances": [numbers]}: no jansson tree */
    json_t *j = fast ? NULL : json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    char *e = NULL;
    unsigned status = 400;
    json_t *res = NULL;
    void *out[SV_MAX_IO] = {0};
    if (!fast && !j) {
        e = NULL;
        if (asprintf(&e, "JSON Parse error: %s at line %d column %d", je.text, je.line, je.column) < 0) e = NULL;
        if (!e) e = strdup("JSON Parse error");
        goto done;
    }
    if (!fast && (e = sv_parse_predict(v, j, &r))) goto done;
    int64_t rows = v->batched ? r.rows : 1;
    for (int i = 0; i < v->n_fetches; i++)
        if (!(out[i] = malloc((size_t)rows * sv_row_bytes(&v->fetches[i]) + 1))) {
            e = strdup("out of memory"), status = 500;
            goto done;
        }
    bool full = false;
    if (v->batcher) {
        entered = false; /* sv_batcher_run ends it */
        e = sv_batcher_run(v->batcher, rows, (const void *const *)r.in, out, &full);
    } else {
        int64_t calls = 0;
        e = sv_run_rows(v, rows, (const void *const *)r.in, out, &calls);
        pthread_mutex_lock(&m->mu);
        sv_hist_add(&m->batch_rows, (double)rows);
        pthread_mutex_unlock(&m->mu);
    }
    if (e) {
        status = full ? 503 : 500;
        goto done;
    }
    if (!(res = sv_make_response(v, &r, out, &e))) status = e ? 400 : 500;
done:
    {
        bool f64 = false;
        for (int i = 0; i < v->n_fetches; i++) f64 |= v->fetches[i].dtype == KILN_F64;
        if (entered) sv_batcher_leave(v->batcher);
        sv_release(v);
        json_decref(j);
        sv_request_free(&r);
        for (int i = 0; i < SV_MAX_IO; i++) free(out[i]);
        pthread_mutex_lock(&m->mu);
        m->in_flight--;
        if (res) m->req_ok++;
        else m->req_err++;
        sv_hist_add(&m->latency_us, now_us() - t0);
        pthread_mutex_unlock(&m->mu);
        if (!res) {
            enum MHD_Result rr = send_error(c, status, "%s", e ? e : "internal error");
            free(e);
            return rr;
        }
        return send_json(c, 200, res, JSON_REAL_PRECISION(f64 ? 17 : 9));
    }
}

/* :classify / :regress: the body becomes the tf.Example Input gRPC carries, and takes gRPC's path (sv_pb_infer). */
static enum MHD_Result infer(struct MHD_Connection *c, sv_server *sv, sv_model *m, int64_t version, bool classify, const char *body, size_t len)
{
    json_error_t je;
    json_t *j = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        pthread_mutex_lock(&m->mu);
        m->req_err++;
        pthread_mutex_unlock(&m->mu);
        return send_error(c, 400, "JSON Parse error: %s at line %d column %d", je.text, je.line, je.column);
    }
    sv_arena a = {0};
    Kiln__Serving__Input in;
    const char *sig;
    char *e = sv_json_input(j, &a, &in, &sig);
    if (e) {
        pthread_mutex_lock(&m->mu);
        m->req_err++;
        pthread_mutex_unlock(&m->mu);
        enum MHD_Result r = send_error(c, 400, "%s", e);
        free(e);
        sv_arena_free(&a);
        json_decref(j);
        return r;
    }
    Kiln__Serving__ModelSpec ms;
    Kiln__Serving__Int64Value iv;
    kiln__serving__model_spec__init(&ms);
    kiln__serving__int64_value__init(&iv);
    ms.name = m->name;
    ms.signature_name = (char *)sig;
    if (version >= 0) iv.value = version, ms.version = &iv;
    sv_infer res;
    int code = sv_pb_infer(sv, classify, &ms, &in, &res, &e);
    sv_arena_free(&a);
    json_decref(j);
    if (code) {
        unsigned st = code == SV_G_INVALID_ARGUMENT ? 400 : code == SV_G_NOT_FOUND ? 404 : code == SV_G_UNAVAILABLE ? 503
                      : code == SV_G_RESOURCE_EXHAUSTED ? 413 : 500;
        enum MHD_Result r = send_error(c, st, "%s", e ? e : "internal error");
        free(e);
        return r;
    }
    json_t *out = sv_infer_json(&res, classify);
    sv_infer_free(&res);
    return send_json(c, out ? 200 : 500, out, JSON_REAL_PRECISION(9));
}

/* ---- metrics -------------------------------------------------------------- */

typedef struct {
    char *b;
    size_t n, cap;
} strbuf;

static void sb_printf(strbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *s, const char *fmt, ...)
{
    if (!s->b && s->cap) return; /* an earlier failure */
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(s->b ? s->b + s->n : NULL, s->b ? s->cap - s->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (s->b && s->n + (size_t)k < s->cap) {
            s->n += (size_t)k;
            return;
        }
        size_t cap = (s->cap ? s->cap : 4096) * 2 + (size_t)k;
        char *t = realloc(s->b, cap);
        if (!t) {
            free(s->b);
            s->b = NULL;
            s->cap = 1;
            return;
        }
        s->b = t;
        s->cap = cap;
    }
}

static void hist_text(strbuf *s, const char *metric, const char *model, const sv_hist *h)
{
    uint64_t cum = 0;
    for (int i = 0; i <= h->n; i++) {
        cum += h->counts[i];
        if (i < h->n) sb_printf(s, "%s_bucket{model_name=\"%s\",le=\"%g\"} %llu\n", metric, model, h->bounds[i], (unsigned long long)cum);
        else sb_printf(s, "%s_bucket{model_name=\"%s\",le=\"+Inf\"} %llu\n", metric, model, (unsigned long long)cum);
    }
    sb_printf(s, "%s_sum{model_name=\"%s\"} %.17g\n%s_count{model_name=\"%s\"} %llu\n", metric, model, h->sum, metric, model,
              (unsigned long long)h->total);
}

/* Each metric family: its TYPE line, then one printer per model under the model's lock. */
static void requests_text(strbuf *s, const sv_model *m)
{
    sb_printf(s, "kiln_serve_request_count{model_name=\"%s\",status=\"OK\"} %llu\n", m->name, (unsigned long long)m->req_ok);
    sb_printf(s, "kiln_serve_request_count{model_name=\"%s\",status=\"error\"} %llu\n", m->name, (unsigned long long)m->req_err);
}
static void latency_text(strbuf *s, const sv_model *m)
{
    hist_text(s, "kiln_serve_request_latency_microseconds", m->name, &m->latency_us);
}
static void batch_text(strbuf *s, const sv_model *m) { hist_text(s, "kiln_serve_batch_size", m->name, &m->batch_rows); }
static void loads_text(strbuf *s, const sv_model *m)
{
    sb_printf(s, "kiln_serve_load_attempt_count{model_name=\"%s\",status=\"OK\"} %llu\n", m->name, (unsigned long long)m->load_ok);
    sb_printf(s, "kiln_serve_load_attempt_count{model_name=\"%s\",status=\"error\"} %llu\n", m->name, (unsigned long long)m->load_fail);
}
static void in_flight_text(strbuf *s, const sv_model *m)
{
    sb_printf(s, "kiln_serve_requests_in_flight{model_name=\"%s\"} %lld\n", m->name, (long long)m->in_flight);
}
static void available_text(strbuf *s, const sv_model *m)
{
    for (int k = 0; k < m->n_status; k++)
        sb_printf(s, "kiln_serve_model_version_available{model_name=\"%s\",version=\"%lld\"} %d\n", m->name,
                  (long long)m->status[k].version, m->status[k].state == SV_AVAILABLE);
}

static enum MHD_Result metrics(struct MHD_Connection *c, sv_server *sv)
{
    static const struct {
        const char *type;
        void (*print)(strbuf *, const sv_model *);
    } families[] = {
        {"kiln_serve_request_count counter", requests_text},
        {"kiln_serve_request_latency_microseconds histogram", latency_text},
        {"kiln_serve_batch_size histogram", batch_text},
        {"kiln_serve_load_attempt_count counter", loads_text},
        {"kiln_serve_model_version_available gauge", available_text},
        {"kiln_serve_requests_in_flight gauge", in_flight_text},
    };
    strbuf s = {0};
    for (size_t f = 0; f < sizeof families / sizeof *families; f++) {
        sb_printf(&s, "# TYPE %s\n", families[f].type);
        for (int i = 0; i < sv->n_models; i++) {
            sv_model *m = &sv->models[i];
            pthread_mutex_lock(&m->mu);
            families[f].print(&s, m);
            pthread_mutex_unlock(&m->mu);
        }
    }
    if (!s.b) return send_error(c, 500, "out of memory");
    return send_text(c, 200, s.b, s.n, "text/plain; version=0.0.4");
}

/* ---- the handler ---------------------------------------------------------- */

typedef struct {
    char *body;
    size_t n, cap;
    bool too_big;
} upload;

static bool parse_version(const char *s, size_t n, int64_t *out)
{
    if (!n || n > 18) return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *ver, const char *data, size_t *data_size, void **con_cls)
{
    sv_server *sv = cls;
    upload *u = *con_cls;
    if (!u) {
        if (!(u = calloc(1, sizeof *u))) return MHD_NO;
        *con_cls = u;
        return MHD_YES;
    }
    if (*data_size) {
        if (!u->too_big) {
            if (u->n + *data_size > sv->max_body) {
                u->too_big = true;
            } else {
                if (u->n + *data_size + 1 > u->cap) {
                    size_t cap = (u->n + *data_size + 1) * 2;
                    char *t = realloc(u->body, cap);
                    if (!t) return MHD_NO;
                    u->body = t;
                    u->cap = cap;
                }
                memcpy(u->body + u->n, data, *data_size);
                u->n += *data_size;
                u->body[u->n] = 0;
            }
        }
        *data_size = 0;
        return MHD_YES;
    }
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (!strcmp(url, "/monitoring/prometheus/metrics")) {
        if (!get) return send_error(c, 405, "use GET for %s", url);
        return metrics(c, sv);
    }
    const char *pre = "/v1/models/";
    if (strncmp(url, pre, strlen(pre))) return send_error(c, 404, "Malformed request: %s %s", method, url);
    const char *p = url + strlen(pre);
    size_t nl = strcspn(p, "/:");
    char name[256];
    if (!nl || nl >= sizeof name) return send_error(c, 404, "Malformed request: %s %s", method, url);
    memcpy(name, p, nl);
    name[nl] = 0;
    p += nl;
    int64_t version = -1;
    if (!strncmp(p, "/versions/", 10)) {
        p += 10;
        size_t vl = strcspn(p, "/:");
        if (!parse_version(p, vl, &version)) return send_error(c, 400, "Malformed request: bad version in %s", url);
        p += vl;
    }
    char label[128] = "";
    if (!strncmp(p, "/labels/", 8)) { /* TF Serving's version labels (model_config_file's version_labels) */
        p += 8;
        size_t ll = strcspn(p, "/:");
        if (!ll || ll >= sizeof label) return send_error(c, 400, "Malformed request: bad label in %s", url);
        memcpy(label, p, ll);
        label[ll] = 0;
        p += ll;
    }
    sv_model *m = sv_find_model(sv, name);
    if (!m) return send_error(c, 404, "Servable not found for request: %s(%s)", version < 0 ? "Latest" : "Specific", name);
    if (*label && !sv_label_version(m, label, &version))
        return send_error(c, 400, "Unrecognized servable version label: %s (model %s)", label, name); /* TF Serving: INVALID_ARGUMENT */
    if (!*p) {
        if (!get) return send_error(c, 405, "use GET for model status");
        bool found;
        json_t *st = status_json(m, version, &found);
        if (!found && *label) { /* the label's version is not loaded: say so in its status */
            json_decref(st);
            char v[32], msg[512];
            snprintf(v, sizeof v, "%lld", (long long)version);
            snprintf(msg, sizeof msg, "label '%s' points to version %lld of model %s, which is not loaded (no such version "
                     "directory, or the version policy does not serve it)", label, (long long)version, name);
            st = json_pack("{s:[{s:s,s:s,s:{s:s,s:s}}]}", "model_version_status", "version", v, "state", "END", "status",
                           "error_code", "NOT_FOUND", "error_message", msg);
        } else if (!found && version >= 0) {
            json_decref(st);
            return send_error(c, 404, "Could not find version %lld of model %s", (long long)version, name);
        }
        return send_json(c, 200, st, 0);
    }
    if (!strcmp(p, "/metadata")) {
        if (!get) return send_error(c, 405, "use GET for metadata");
        return metadata(c, m, version);
    }
    if (!strcmp(p, ":predict")) {
        if (!post) return send_error(c, 405, "use POST for :predict");
        if (u->too_big) return send_error(c, 413, "the request body is larger than %zu bytes (--max_body_bytes)", sv->max_body);
        return predict(c, m, version, u->body, u->n);
    }
    if (!strcmp(p, ":classify") || !strcmp(p, ":regress")) {
        if (!post) return send_error(c, 405, "use POST for %s", p);
        if (u->too_big) return send_error(c, 413, "the request body is larger than %zu bytes (--max_body_bytes)", sv->max_body);
        return infer(c, sv, m, version, p[1] == 'c', u->body, u->n);
    }
    return send_error(c, 404, "Malformed request: %s %s", method, url);
}

/* Each answer goes out at once: without TCP_NODELAY a keep-alive answer sent in two writes (headers, body) waits for
 * the client's delayed ACK of the first (up to 40 ms on Linux), which showed as a p99 of 2-80 ms at 1 connection. */
static void connection_started(void *cls, struct MHD_Connection *c, void **socket_ctx, enum MHD_ConnectionNotificationCode code)
{
    (void)cls, (void)socket_ctx;
    if (code != MHD_CONNECTION_NOTIFY_STARTED) return;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    int one = 1;
    if (ci) setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* a failure only costs latency */
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    upload *u = *con_cls;
    if (u) {
        free(u->body);
        free(u);
        *con_cls = NULL;
    }
}

/* ---- configuration --------------------------------------------------------- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    for (;;) {
        if (!b) break;
        size_t r = fread(b + n, 1, cap - n - 1, f);
        n += r;
        if (n + 1 < cap) break;
        if (cap > (1u << 24)) { free(b); b = NULL; break; }
        char *t = realloc(b, cap *= 2);
        if (!t) { free(b); b = NULL; break; }
        b = t;
    }
    fclose(f);
    if (b) b[n] = 0;
    return b;
}

static bool tp_int(const sv_tp *f, int64_t *out, const char *file, char *err, size_t errlen)
{
    const char *s = f->value;
    if (!s) {
        const sv_tp *v = sv_tp_get(f, "value"); /* google.protobuf wrappers: name { value: N } */
        s = v ? v->value : NULL;
    }
    char *end;
    long long x = s ? strtoll(s, &end, 10) : 0;
    if (!s || *end || x < 0) return snprintf(err, errlen, "%s: '%s' needs a non-negative integer", file, f->name), false;
    *out = x;
    return true;
}

/* A config file in TF's text format, or NULL with err naming the file. */
static sv_tp *read_textproto(const char *file, char *err, size_t errlen)
{
    char *text = slurp(file);
    if (!text) return snprintf(err, errlen, "%s: %s", file, strerror(errno)), NULL;
    char perr[256];
    sv_tp *root = sv_tp_parse(text, perr, sizeof perr);
    free(text);
    if (!root) snprintf(err, errlen, "%s: %s", file, perr[0] ? perr : "out of memory");
    return root;
}

static bool read_batching(const char *file, sv_batching *b, char *err, size_t errlen)
{
    sv_tp *root = read_textproto(file, err, errlen);
    if (!root) return false;
    bool ok = true;
    b->n_allowed = 0;
    for (const sv_tp *f = root->kids; f && ok; f = f->next) {
        int64_t x = 0;
        if (!strcmp(f->name, "pad_variable_length_inputs") || !strcmp(f->name, "enable_large_batch_splitting")) continue;
        if (!(ok = tp_int(f, &x, file, err, errlen))) break;
        if (!strcmp(f->name, "max_batch_size")) b->max_batch_size = x;
        else if (!strcmp(f->name, "batch_timeout_micros")) b->batch_timeout_micros = x;
        else if (!strcmp(f->name, "max_enqueued_batches")) b->max_enqueued_batches = x;
        else if (!strcmp(f->name, "num_batch_threads")) b->num_batch_threads = (int)(x > 64 ? 64 : x);
        else if (!strcmp(f->name, "allowed_batch_sizes")) {
            if (b->n_allowed == SV_MAX_PROGS) ok = false, snprintf(err, errlen, "%s: at most %d allowed_batch_sizes", file, SV_MAX_PROGS);
            else b->allowed[b->n_allowed++] = x;
        } else {
            ok = false;
            snprintf(err, errlen, "%s: unknown batching parameter '%s'", file, f->name);
        }
    }
    sv_tp_free(root);
    if (!ok) return false;
    if (b->max_batch_size < 1 || b->max_batch_size > (1 << 20))
        return snprintf(err, errlen, "%s: max_batch_size must be 1 to 2^20", file), false;
    for (int i = 0; i < b->n_allowed; i++)
        if (b->allowed[i] < 1 || (i && b->allowed[i] <= b->allowed[i - 1]))
            return snprintf(err, errlen, "%s: allowed_batch_sizes must be ascending and positive", file), false;
    if (b->n_allowed && b->allowed[b->n_allowed - 1] != b->max_batch_size)
        return snprintf(err, errlen, "%s: the last allowed_batch_sizes entry must equal max_batch_size (%lld), as in TF Serving",
                        file, (long long)b->max_batch_size), false;
    if (b->max_enqueued_batches < 1) return snprintf(err, errlen, "%s: max_enqueued_batches must be >= 1", file), false;
    return true;
}

static bool add_model(sv_server *s, const char *name, const char *base, char *err, size_t errlen)
{
    for (int i = 0; i < s->n_models; i++)
        if (!strcmp(s->models[i].name, name)) return snprintf(err, errlen, "model '%s' is configured twice", name), false;
    if (strlen(base) > 2048) return snprintf(err, errlen, "model '%s': base path longer than 2048 bytes", name), false;
    if (!*name || strlen(name) > 200 || strpbrk(name, "/:\"\\ "))
        return snprintf(err, errlen, "model name '%s': use 1-200 characters without / : \" \\ or spaces", name), false;
    sv_model *t = realloc(s->models, (size_t)(s->n_models + 1) * sizeof *t);
    if (!t) return snprintf(err, errlen, "out of memory"), false;
    s->models = t;
    sv_model *m = &s->models[s->n_models];
    memset(m, 0, sizeof *m);
    m->name = strdup(name);
    m->base_path = strdup(base);
    if (!m->name || !m->base_path) return free(m->name), free(m->base_path), snprintf(err, errlen, "out of memory"), false;
    m->policy = SV_LATEST;
    m->num_versions = 1;
    pthread_mutex_init(&m->mu, NULL);
    m->latency_us = (sv_hist){.n = sv_n_latency_bounds, .bounds = sv_latency_bounds};
    m->batch_rows = (sv_hist){.n = sv_n_batch_bounds, .bounds = sv_batch_bounds};
    s->n_models++;
    return true;
}

/* TF Serving's model_config_file (text format):
 *   model_config_list { config { name: 'a' base_path: '/m/a' model_platform: 'tensorflow'
 *       model_version_policy { specific { versions: 1 versions: 2 } } } } */
static bool read_models(const char *file, sv_server *s, char *err, size_t errlen)
{
    sv_tp *root = read_textproto(file, err, errlen);
    if (!root) return false;
    bool ok = true;
    const sv_tp *list = sv_tp_get(root, "model_config_list");
    if (!list || list->value) ok = false, snprintf(err, errlen, "%s: no model_config_list { config { ... } }", file);
    for (const sv_tp *cfg = list ? list->kids : NULL; ok && cfg; cfg = cfg->next) {
        if (strcmp(cfg->name, "config") || cfg->value) {
            ok = false, snprintf(err, errlen, "%s: unexpected '%s' in model_config_list", file, cfg->name);
            break;
        }
        const sv_tp *name = sv_tp_get(cfg, "name"), *base = sv_tp_get(cfg, "base_path");
        if (!name || !name->value || !base || !base->value) {
            ok = false, snprintf(err, errlen, "%s: every config needs name and base_path", file);
            break;
        }
        if (!(ok = add_model(s, name->value, base->value, err, errlen))) break;
        sv_model *m = &s->models[s->n_models - 1];
        for (const sv_tp *f = cfg->kids; ok && f; f = f->next) {
            if (!strcmp(f->name, "name") || !strcmp(f->name, "base_path")) continue;
            if (!strcmp(f->name, "model_platform")) {
                if (!f->value || (strcmp(f->value, "tensorflow") && strcmp(f->value, "onnx") && strcmp(f->value, "kiln")))
                    ok = false, snprintf(err, errlen, "%s: model %s: model_platform '%s' (tensorflow, onnx or kiln)", file,
                                         m->name, f->value ? f->value : "?");
                continue;
            }
            if (!strcmp(f->name, "version_labels")) { /* version_labels { key: "stable" value: 1 } */
                const sv_tp *k = sv_tp_get(f, "key"), *v = sv_tp_get(f, "value");
                int64_t x = 0;
                if (f->value || !k || !k->value || !*k->value || !v || strlen(k->value) >= 128 ||
                    strspn(k->value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != strlen(k->value)) {
                    ok = false, snprintf(err, errlen, "%s: model %s: version_labels { key: \"LABEL\" value: VERSION } "
                                         "(a label of letters, digits, _ - .)", file, m->name);
                    break;
                }
                if (!(ok = tp_int(v, &x, file, err, errlen))) break;
                int64_t old;
                if (sv_label_version(m, k->value, &old)) {
                    ok = false, snprintf(err, errlen, "%s: model %s: label '%s' is given twice", file, m->name, k->value);
                    break;
                }
                if (m->n_labels == SV_MAX_VERSIONS) {
                    ok = false, snprintf(err, errlen, "%s: model %s: at most %d labels", file, m->name, SV_MAX_VERSIONS);
                    break;
                }
                if (!(m->label[m->n_labels] = strdup(k->value))) {
                    ok = false, snprintf(err, errlen, "out of memory");
                    break;
                }
                m->label_version[m->n_labels++] = x;
                continue;
            }
            if (strcmp(f->name, "model_version_policy") || f->value || !f->kids || f->kids->next) {
                ok = false, snprintf(err, errlen, "%s: model %s: '%s' is not supported (name, base_path, model_platform, "
                                     "model_version_policy { latest | all | specific }, version_labels)", file, m->name, f->name);
                break;
            }
            const sv_tp *pol = f->kids;
            if (!strcmp(pol->name, "all")) {
                m->policy = SV_ALL;
            } else if (!strcmp(pol->name, "latest")) {
                m->policy = SV_LATEST;
                const sv_tp *nv = sv_tp_get(pol, "num_versions");
                int64_t x = 1;
                if (nv && !(ok = tp_int(nv, &x, file, err, errlen))) break;
                m->num_versions = x < 1 ? 1 : x > SV_MAX_VERSIONS ? SV_MAX_VERSIONS : (int)x;
            } else if (!strcmp(pol->name, "specific")) {
                m->policy = SV_SPECIFIC;
                for (const sv_tp *v = pol->kids; ok && v; v = v->next) {
                    int64_t x;
                    if (strcmp(v->name, "versions")) ok = false, snprintf(err, errlen, "%s: specific { versions: N ... }", file);
                    else if ((ok = tp_int(v, &x, file, err, errlen)) && m->n_specific < SV_MAX_VERSIONS) m->specific[m->n_specific++] = x;
                }
                if (ok && !m->n_specific) ok = false, snprintf(err, errlen, "%s: model %s: specific policy lists no versions", file, m->name);
            } else {
                ok = false, snprintf(err, errlen, "%s: model %s: unknown version policy '%s' (latest, all, specific)", file,
                                     m->name, pol->name);
            }
        }
    }
    if (ok && !s->n_models) ok = false, snprintf(err, errlen, "%s: no models configured", file);
    sv_tp_free(root);
    return ok;
}

/* ---- `kiln serve` ------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f, "usage: kiln serve --model_name NAME --model_base_path DIR [--port 8501] [options]\n"
               "       kiln serve --model_config_file FILE [options]\n"
               "(kiln help serve lists the options; docs/serving.md)\n");
}

/* A flag's integer value in [lo, hi], or a message naming the flag. */
static bool flag_int(const char *key, const char *val, long long lo, long long hi, long long *out)
{
    char *end;
    long long v = strtoll(val, &end, 10);
    if (!*val || *end || v < lo || v > hi) {
        fprintf(stderr, "kiln serve: %s '%s': an integer from %lld to %lld\n", key, val, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

/* Writes the port to file (through a rename: a reader never sees half of it). */
static bool write_port(const char *file, unsigned port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", file);
    FILE *f = fopen(tmp, "w");
    bool ok = f && fprintf(f, "%u\n", port) >= 0;
    if (f && fclose(f)) ok = false;
    if (!ok || rename(tmp, file)) {
        fprintf(stderr, "kiln serve: cannot write %s\n", file);
        return false;
    }
    return true;
}

static volatile sig_atomic_t stop_flag;
static void *poll_thread(void *arg)
{
    sv_server *s = arg;
    while (!stop_flag) {
        for (int i = 0; i < s->poll_seconds * 10 && !stop_flag; i++) usleep(100000);
        if (!stop_flag) sv_poll(s, true);
    }
    return NULL;
}

int kiln_serve_main(int argc, char **argv)
{
    sv_server s = {.threads = 1, .poll_seconds = 1, .max_body = SV_MAX_BODY, .timeout_s = 30};
    s.batching = (sv_batching){.max_batch_size = 32, .batch_timeout_micros = 1000, .max_enqueued_batches = 100,
                               .num_batch_threads = 1};
    const char *name = NULL, *base = NULL, *config = NULL, *batch_file = NULL, *port_file = NULL, *grpc_port_file = NULL,
               *cache_dir = NULL;
    long long port = 8501;
    long long grpc_port = sv_grpc_available() ? 8500 : 0; /* tensorflow_model_server's default; -1: any free port */
    long long grpc_threads = 0;
    bool grpc_given = false;
    char err[1024];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char key[64] = "";
        const char *val = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strncmp(a, "--", 2)) { /* --flag=value or --flag value */
            const char *eq = strchr(a, '=');
            size_t n = eq ? (size_t)(eq - a) : strlen(a);
            if (n >= sizeof key) n = sizeof key - 1;
            memcpy(key, a, n);
            key[n] = 0;
            val = eq ? eq + 1 : NULL;
        } else {
            fprintf(stderr, "kiln serve: unexpected argument '%s'\n", a);
            return 2;
        }
        if (!strcmp(key, "--enable_batching") || !strcmp(key, "--batching")) {
            s.batching.on = !val || !strcmp(val, "true") || !strcmp(val, "1");
            continue;
        }
        static const char *const known[] = {"--model_name", "--model_base_path", "--model_config_file", "--config",
                                            "--batching_parameters_file", "--port_file", "--port", "--rest_api_port",
                                            "--grpc_port", "--grpc_port_file", "--grpc_max_threads", "--max_body_bytes", "--rest_api_timeout_in_ms", "--threads",
                                            "--file_system_poll_wait_seconds", "--compile_cache_dir"};
        bool is_known = false;
        for (size_t k = 0; k < sizeof known / sizeof *known; k++) is_known |= !strcmp(key, known[k]);
        if (!is_known) {
            fprintf(stderr, "kiln serve: unknown option '%s' (kiln help serve)\n", key);
            return 2;
        }
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "kiln serve: %s needs a value\n", key);
                return 2;
            }
            val = argv[++i];
        }
        long long num;
        if (!strcmp(key, "--model_name")) name = val;
        else if (!strcmp(key, "--model_base_path")) base = val;
        else if (!strcmp(key, "--model_config_file") || !strcmp(key, "--config")) config = val;
        else if (!strcmp(key, "--batching_parameters_file")) batch_file = val, s.batching.on = true;
        else if (!strcmp(key, "--port_file")) port_file = val;
        else if (!strcmp(key, "--compile_cache_dir")) cache_dir = val;
        else if (!strcmp(key, "--port") || !strcmp(key, "--rest_api_port")) {
            if (!flag_int(key, val, 0, 65535, &port)) return 2;
        } else if (!strcmp(key, "--grpc_port")) {
            if (!flag_int(key, val, -1, 65535, &grpc_port)) return 2;
            grpc_given = true;
        } else if (!strcmp(key, "--grpc_port_file")) {
            grpc_port_file = val;
        } else if (!strcmp(key, "--grpc_max_threads")) {
            if (!flag_int(key, val, 1, 512, &grpc_threads)) return 2;
        } else if (!strcmp(key, "--max_body_bytes")) {
            if (!flag_int(key, val, 1024, 1ll << 32, &num)) return 2;
            s.max_body = (size_t)num;
        } else if (!strcmp(key, "--rest_api_timeout_in_ms")) {
            if (!flag_int(key, val, 1, 86400000, &num)) return 2;
            s.timeout_s = (unsigned)((num + 999) / 1000);
        } else if (!strcmp(key, "--threads")) {
            if (!flag_int(key, val, 1, 256, &num)) return 2;
            s.threads = (int)num;
        } else if (!strcmp(key, "--file_system_poll_wait_seconds")) {
            if (!flag_int(key, val, 0, 86400, &num)) return 2;
            s.poll_seconds = (int)num;
        } else {
            fprintf(stderr, "kiln serve: unknown option '%s' (kiln serve --help)\n", key);
            return 2;
        }
    }
    if (config && (name || base)) {
        fprintf(stderr, "kiln serve: give --model_config_file or --model_name/--model_base_path, not both\n");
        return 2;
    }
    if (!config && (!name || !base)) {
        usage(stderr);
        return 2;
    }
    if (grpc_given && grpc_port && !sv_grpc_available()) {
        char e[512];
        sv_grpc_start(&s, 0, 0, e, sizeof e);
        fprintf(stderr, "kiln serve: --grpc_port %lld: %s\n", grpc_port, e);
        return 2;
    }
    if (cache_dir ? snprintf(s.cache_dir, sizeof s.cache_dir, "%s", cache_dir) >= (int)sizeof s.cache_dir
                  : !sv_cache_default_dir(s.cache_dir, sizeof s.cache_dir) && *s.cache_dir) {
        fprintf(stderr, "kiln serve: --compile_cache_dir: the path is too long\n");
        return 2;
    }
    if (batch_file && !read_batching(batch_file, &s.batching, err, sizeof err)) {
        fprintf(stderr, "kiln serve: %s\n", err);
        return 2;
    }
    if (config ? !read_models(config, &s, err, sizeof err) : !add_model(&s, name, base, err, sizeof err)) {
        fprintf(stderr, "kiln serve: %s\n", err);
        sv_shutdown(&s);
        return 2;
    }
    /* Signals go to sigwait below, not to the daemon's or the batchers' threads. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    sv_poll(&s, true); /* the first load happens before the port opens */
    for (int i = 0; i < s.n_models; i++) { /* labels of versions that did not load: said here and in their status */
        sv_model *m = &s.models[i];
        for (int k = 0; k < m->n_labels; k++) {
            int avail = 0;
            pthread_mutex_lock(&m->mu);
            for (int j = 0; j < m->n_status; j++)
                avail |= m->status[j].version == m->label_version[k] && m->status[j].state == SV_AVAILABLE;
            pthread_mutex_unlock(&m->mu);
            if (!avail)
                fprintf(stderr, "kiln serve: model %s: label '%s' points to version %lld, which is not available\n", m->name,
                        m->label[k], (long long)m->label_version[k]);
        }
    }
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                                MHD_USE_ERROR_LOG,
                                            (uint16_t)port, NULL, NULL, handler, &s, MHD_OPTION_NOTIFY_COMPLETED,
                                            completed, NULL, MHD_OPTION_NOTIFY_CONNECTION, connection_started, NULL,
                                            MHD_OPTION_CONNECTION_TIMEOUT, s.timeout_s,
                                            MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "kiln serve: cannot listen on port %lld: %s\n", port, strerror(errno));
        sv_shutdown(&s);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = info ? info->port : (unsigned)port;
    fprintf(stderr, "kiln serve: REST API on port %u\n", bound);
    if (port_file && !write_port(port_file, bound)) {
        MHD_stop_daemon(d);
        sv_shutdown(&s);
        return 1;
    }
    if (grpc_port) {
        /* The default port busy (another server) costs gRPC only; a port asked for must be had. */
        int gp = sv_grpc_start(&s, grpc_port < 0 ? 0 : (int)grpc_port, (int)grpc_threads, err, sizeof err);
        if (!gp && grpc_given) {
            fprintf(stderr, "kiln serve: --grpc_port %lld: %s\n", grpc_port, err);
            MHD_stop_daemon(d);
            sv_shutdown(&s);
            return 1;
        }
        if (gp) fprintf(stderr, "kiln serve: gRPC API on port %d\n", gp);
        else fprintf(stderr, "kiln serve: %s; serving REST only\n", err);
        if (gp && grpc_port_file && !write_port(grpc_port_file, (unsigned)gp)) {
            sv_grpc_stop();
            MHD_stop_daemon(d);
            sv_shutdown(&s);
            return 1;
        }
    }
    pthread_t poller;
    bool polling = s.poll_seconds > 0 && !pthread_create(&poller, NULL, poll_thread, &s);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "kiln serve: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    stop_flag = 1;
    sv_grpc_stop();     /* cancels the calls in flight, waits for its handlers */
    MHD_stop_daemon(d); /* waits for the connections' threads */
    if (polling) pthread_join(poller, NULL);
    sv_shutdown(&s);
    return 0;
}
