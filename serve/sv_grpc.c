/* serve/sv_grpc.c — the gRPC transport of `kiln serve` (gRPC's C core,
 * Debian libgrpc-dev): the RPCs are registered methods whose request
 * message comes with the call; one completion queue is polled by a pool of
 * handler threads.  A thread that takes a new call first asks for the next
 * one, then answers this one synchronously (sv_pb_call: a request waiting
 * for its batch blocks only its own thread, as a REST connection's thread
 * does), and starts the reply batch; its completion frees the call.  With
 * batching on, the pool is large enough (2 x max_batch_size) for a whole
 * batch of concurrent callers to be waiting at once.  Messages larger than
 * --max_body_bytes are refused by gRPC itself with RESOURCE_EXHAUSTED. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/sv_grpc.h"

#ifndef KILN_HAVE_GRPC

int sv_grpc_available(void) { return 0; }
int sv_grpc_start(sv_server *s, int port, int threads, char *err, size_t errlen)
{
    snprintf(err, errlen, "this kiln was built without gRPC (libgrpc-dev was not found by CMake; tools/install-deps.sh "
                          "installs it): serve REST only with --grpc_port 0");
    return 0;
}
void sv_grpc_stop(void) {}

#else

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>

#define MAX_THREADS 512
#define PENDING 16 /* calls asked for per method at once */

typedef struct gcall {
    enum sv_rpc rpc;        /* SV_N_RPC: a method not registered, answered UNIMPLEMENTED */
    grpc_call_details cd;   /* of those */
    bool replying;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload, *reply;
    grpc_slice details;
    bool has_details;
    int cancelled;
} gcall;

static struct {
    sv_server *s;
    grpc_server *server;
    grpc_completion_queue *cq;
    void *method[SV_N_RPC];
    int n_threads;
    pthread_t th[MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int busy; /* threads inside answer(): the queue is shut down only after they started their batches */
    bool stopping, shut_down, started;
} G = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
static char shutdown_tag;

int sv_grpc_available(void) { return 1; }

static void free_call(gcall *c)
{
    if (c->call) grpc_call_unref(c->call);
    grpc_metadata_array_destroy(&c->md);
    if (c->payload) grpc_byte_buffer_destroy(c->payload);
    if (c->reply) grpc_byte_buffer_destroy(c->reply);
    if (c->has_details) grpc_slice_unref(c->details);
    if (c->rpc == SV_N_RPC) grpc_call_details_destroy(&c->cd);
    free(c);
}

static void ask(enum sv_rpc rpc)
{
    gcall *c = calloc(1, sizeof *c);
    if (!c) {
        fprintf(stderr, "kiln serve: gRPC: out of memory asking for a %s call\n", sv_rpc_path[rpc]);
        return;
    }
    c->rpc = rpc;
    grpc_metadata_array_init(&c->md);
    if (rpc == SV_N_RPC) { /* any other method: without someone asking, such calls would wait for their deadline */
        grpc_call_details_init(&c->cd);
        if (grpc_server_request_call(G.server, &c->call, &c->cd, &c->md, G.cq, G.cq, c) != GRPC_CALL_OK) {
            fprintf(stderr, "kiln serve: gRPC: cannot ask for calls of other methods\n");
            free_call(c);
        }
        return;
    }
    if (grpc_server_request_registered_call(G.server, G.method[rpc], &c->call, &c->deadline, &c->md, &c->payload, G.cq, G.cq,
                                            c) != GRPC_CALL_OK) {
        fprintf(stderr, "kiln serve: gRPC: cannot ask for a %s call\n", sv_rpc_path[rpc]);
        free_call(c);
    }
}

static void answer(gcall *c)
{
    uint8_t *resp = NULL;
    size_t n = 0;
    char *msg = NULL;
    int code;
    if (c->rpc == SV_N_RPC) {
        char *m = grpc_slice_to_c_string(c->cd.method);
        code = SV_G_UNIMPLEMENTED;
        msg = sv_msg("kiln serve does not serve %s (it serves %s, %s, %s, %s and %s)", m ? m : "that method", sv_rpc_path[0],
                     sv_rpc_path[1], sv_rpc_path[2], sv_rpc_path[3], sv_rpc_path[4]);
        gpr_free(m);
    } else if (!c->payload) {
        code = SV_G_INVALID_ARGUMENT, msg = sv_msg("the call carries no request message");
    } else {
        grpc_byte_buffer_reader r;
        if (!grpc_byte_buffer_reader_init(&r, c->payload)) {
            code = SV_G_INVALID_ARGUMENT, msg = sv_msg("cannot read the request message (compressed with an unknown algorithm?)");
        } else {
            grpc_slice sl = grpc_byte_buffer_reader_readall(&r);
            grpc_byte_buffer_reader_destroy(&r);
            code = sv_pb_call(G.s, c->rpc, GRPC_SLICE_START_PTR(sl), GRPC_SLICE_LENGTH(sl), &resp, &n, &msg);
            grpc_slice_unref(sl);
        }
    }
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    int k = 0;
    ops[k++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (code == SV_G_OK) {
        grpc_slice sl = grpc_slice_new(resp, n, free);
        c->reply = grpc_raw_byte_buffer_create(&sl, 1);
        grpc_slice_unref(sl);
        ops[k].op = GRPC_OP_SEND_MESSAGE;
        ops[k++].data.send_message.send_message = c->reply;
    } else {
        free(resp);
        c->details = grpc_slice_from_copied_string(msg ? msg : "error");
        c->has_details = true;
    }
    free(msg);
    ops[k].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[k].data.send_status_from_server.status = (grpc_status_code)code;
    ops[k++].data.send_status_from_server.status_details = c->has_details ? &c->details : NULL;
    ops[k].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[k++].data.recv_close_on_server.cancelled = &c->cancelled;
    c->replying = true;
    if (grpc_call_start_batch(c->call, ops, (size_t)k, c, NULL) != GRPC_CALL_OK) free_call(c);
}

static void *handler_thread(void *arg)
{
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(G.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
        if (ev.type != GRPC_OP_COMPLETE) continue;
        if (ev.tag == &shutdown_tag) {
            pthread_mutex_lock(&G.mu);
            G.shut_down = true;
            pthread_cond_broadcast(&G.cv);
            pthread_mutex_unlock(&G.mu);
            continue;
        }
        gcall *c = ev.tag;
        if (c->replying || !ev.success) { /* the reply went (or the call was cancelled), or the server is stopping */
            free_call(c);
            continue;
        }
        pthread_mutex_lock(&G.mu);
        bool stopping = G.stopping;
        G.busy++;
        pthread_mutex_unlock(&G.mu);
        if (!stopping) ask(c->rpc);
        answer(c);
        pthread_mutex_lock(&G.mu);
        G.busy--;
        pthread_cond_broadcast(&G.cv);
        pthread_mutex_unlock(&G.mu);
    }
    return NULL;
}

int sv_grpc_start(sv_server *s, int port, int threads, char *err, size_t errlen)
{
    grpc_init();
    G.s = s;
    grpc_arg args[3];
    memset(args, 0, sizeof args);
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = s->max_body > INT_MAX ? INT_MAX : (int)s->max_body;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[1].value.integer = -1;
    args[2].type = GRPC_ARG_INTEGER; /* a second server on a port in use fails instead of sharing it */
    args[2].key = GRPC_ARG_ALLOW_REUSEPORT;
    args[2].value.integer = 0;
    grpc_channel_args ca = {.num_args = 3, .args = args};
    G.server = grpc_server_create(&ca, NULL);
    G.cq = grpc_completion_queue_create_for_next(NULL);
    if (!G.server || !G.cq) {
        snprintf(err, errlen, "gRPC: cannot create the server");
        return 0;
    }
    grpc_server_register_completion_queue(G.server, G.cq, NULL);
    for (int r = 0; r < SV_N_RPC; r++)
        G.method[r] = grpc_server_register_method(G.server, sv_rpc_path[r], NULL, GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    char addr[64];
    snprintf(addr, sizeof addr, "0.0.0.0:%d", port);
    grpc_server_credentials *cr = grpc_insecure_server_credentials_create();
    int bound = grpc_server_add_http2_port(G.server, addr, cr);
    grpc_server_credentials_release(cr);
    if (!bound) {
        snprintf(err, errlen, "gRPC: cannot listen on %s (in use?)", addr);
        grpc_server_destroy(G.server);
        grpc_completion_queue_shutdown(G.cq);
        while (grpc_completion_queue_next(G.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN) {}
        grpc_completion_queue_destroy(G.cq);
        grpc_shutdown();
        memset(G.method, 0, sizeof G.method);
        G.server = NULL, G.cq = NULL;
        return 0;
    }
    grpc_server_start(G.server);
    for (int r = 0; r <= SV_N_RPC; r++)
        for (int k = 0; k < (r == SV_N_RPC ? 2 : PENDING); k++) ask((enum sv_rpc)r);
    int want = threads > 0 ? threads : 16;
    if (threads <= 0 && s->batching.on && 2 * s->batching.max_batch_size > want)
        want = s->batching.max_batch_size > MAX_THREADS / 2 ? MAX_THREADS : (int)(2 * s->batching.max_batch_size);
    if (want > MAX_THREADS) want = MAX_THREADS;
    for (G.n_threads = 0; G.n_threads < want; G.n_threads++)
        if (pthread_create(&G.th[G.n_threads], NULL, handler_thread, NULL)) break;
    if (!G.n_threads) {
        snprintf(err, errlen, "gRPC: cannot start a handler thread");
        G.started = true;
        sv_grpc_stop();
        return 0;
    }
    G.started = true;
    return bound;
}

void sv_grpc_stop(void)
{
    if (!G.started) return;
    pthread_mutex_lock(&G.mu);
    G.stopping = true;
    pthread_mutex_unlock(&G.mu);
    grpc_server_shutdown_and_notify(G.server, G.cq, &shutdown_tag);
    grpc_server_cancel_all_calls(G.server);
    if (G.n_threads) {
        pthread_mutex_lock(&G.mu);
        while (!G.shut_down || G.busy) pthread_cond_wait(&G.cv, &G.mu);
        pthread_mutex_unlock(&G.mu);
    } else {
        for (;;) {
            grpc_event ev = grpc_completion_queue_next(G.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
            if (ev.type == GRPC_OP_COMPLETE && ev.tag == &shutdown_tag) break;
            if (ev.type == GRPC_OP_COMPLETE) free_call(ev.tag);
        }
    }
    grpc_completion_queue_shutdown(G.cq);
    for (int i = 0; i < G.n_threads; i++) pthread_join(G.th[i], NULL);
    if (!G.n_threads)
        while (grpc_completion_queue_next(G.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN) {}
    grpc_server_destroy(G.server);
    grpc_completion_queue_destroy(G.cq);
    grpc_shutdown();
    G.started = false;
}

#endif
