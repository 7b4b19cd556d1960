/* serve/sv_batch.c — request batching, as TF Serving's basic batch
 * scheduler: requests for one version queue up; a batch thread takes the
 * queue's head when max_batch_size rows are waiting or the head has waited
 * batch_timeout_micros, concatenates as many whole requests as fit in
 * max_batch_size (a larger request runs alone), runs them as one call of
 * the smallest compiled (allowed) batch size that holds them, padding the
 * rest, and hands each request its rows back.  At most
 * max_enqueued_batches x max_batch_size rows wait; more is refused
 * (HTTP 503) rather than queued without bound.
 *
 * Two things TF Serving's scheduler does not do, both for latency: a
 * request that arrives while no other request for the version is in flight
 * (from the arrival of its body to its answer), the queue is empty and no
 * batch runs, runs at once on its own connection's thread (nothing could
 * join it, and a lone client is not held for batch_timeout_micros); and
 * each queued request sleeps on its own condition variable, so a finished
 * batch wakes exactly its requests (no herd of every waiting connection
 * thread on one broadcast). */
#define _GNU_SOURCE /* asprintf, strndup */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/sv.h"

typedef struct task {
    int64_t rows;
    const void *const *in;
    void *const *out;
    char *err;
    bool done;
    pthread_cond_t cv;      /* signalled when done */
    struct timespec enq;
    struct task *next;
} task;

struct sv_batcher {
    sv_version *v;
    sv_batching b;
    pthread_mutex_t mu;
    pthread_cond_t work;
    task *head, *tail;
    int64_t queued_rows;
    int queued;             /* tasks in the queue */
    int in_flight;          /* requests entered (sv_batcher_enter) and not answered */
    int running;            /* batches being run by the batch threads */
    bool stop;
    int n_threads;
    pthread_t th[64];
};

static double since(const struct timespec *t)
{
    struct timespec n;
    clock_gettime(CLOCK_MONOTONIC, &n);
    return (double)(n.tv_sec - t->tv_sec) * 1e6 + (double)(n.tv_nsec - t->tv_nsec) * 1e-3;
}

static void run_batch(sv_batcher *bt, task **tasks, int n, int64_t rows)
{
    sv_version *v = bt->v;
    char *err = NULL;
    void *in[SV_MAX_IO] = {0}, *out[SV_MAX_IO] = {0};
    if (n == 1) { /* nothing to concatenate */
        err = sv_run_rows(v, rows, tasks[0]->in, tasks[0]->out, NULL);
    } else {
        for (int i = 0; i < v->n_feeds && !err; i++) {
            size_t rb = sv_row_bytes(&v->feeds[i]);
            if (!(in[i] = malloc((size_t)rows * rb + 1))) err = strdup("out of memory");
            size_t off = 0;
            for (int t = 0; t < n && !err; t++) {
                memcpy((char *)in[i] + off, tasks[t]->in[i], (size_t)tasks[t]->rows * rb);
                off += (size_t)tasks[t]->rows * rb;
            }
        }
        for (int i = 0; i < v->n_fetches && !err; i++)
            if (!(out[i] = malloc((size_t)rows * sv_row_bytes(&v->fetches[i]) + 1))) err = strdup("out of memory");
        if (!err) err = sv_run_rows(v, rows, (const void *const *)in, out, NULL);
        for (int i = 0; i < v->n_fetches && !err; i++) {
            size_t rb = sv_row_bytes(&v->fetches[i]), off = 0;
            for (int t = 0; t < n; t++) {
                memcpy(tasks[t]->out[i], (char *)out[i] + off, (size_t)tasks[t]->rows * rb);
                off += (size_t)tasks[t]->rows * rb;
            }
        }
        for (int i = 0; i < SV_MAX_IO; i++) free(in[i]), free(out[i]);
    }
    pthread_mutex_lock(&v->owner->mu);
    sv_hist_add(&v->owner->batch_rows, (double)rows);
    pthread_mutex_unlock(&v->owner->mu);
    pthread_mutex_lock(&bt->mu);
    for (int t = 0; t < n; t++) {
        tasks[t]->err = err ? strdup(err) : NULL;
        tasks[t]->done = true;
        pthread_cond_signal(&tasks[t]->cv);
    }
    bt->in_flight -= n;
    pthread_mutex_unlock(&bt->mu);
    free(err);
}

static void *batch_thread(void *arg)
{
    sv_batcher *bt = arg;
    pthread_mutex_lock(&bt->mu);
    for (;;) {
        while (!bt->head && !bt->stop) pthread_cond_wait(&bt->work, &bt->mu);
        if (!bt->head && bt->stop) break;
        /* Wait for a full batch or the head's deadline. */
        while (!bt->stop && bt->queued_rows < bt->b.max_batch_size) {
            double left = (double)bt->b.batch_timeout_micros - since(&bt->head->enq);
            if (left <= 0) break;
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            int64_t ns = dl.tv_nsec + (int64_t)(left * 1e3);
            dl.tv_sec += ns / 1000000000;
            dl.tv_nsec = ns % 1000000000;
            pthread_cond_timedwait(&bt->work, &bt->mu, &dl);
            if (!bt->head) break;
        }
        if (!bt->head) continue;
        task *tasks[1024];
        int n = 0;
        int64_t rows = 0;
        while (bt->head && n < 1024 && (n == 0 || rows + bt->head->rows <= bt->b.max_batch_size)) {
            task *t = bt->head;
            bt->head = t->next;
            if (!bt->head) bt->tail = NULL;
            rows += t->rows;
            tasks[n++] = t;
        }
        bt->queued_rows -= rows;
        bt->queued -= n;
        bt->running++;
        pthread_mutex_unlock(&bt->mu);
        run_batch(bt, tasks, n, rows);
        pthread_mutex_lock(&bt->mu);
        bt->running--;
    }
    pthread_mutex_unlock(&bt->mu);
    return NULL;
}

sv_batcher *sv_batcher_start(sv_version *v, const sv_batching *b, char *err, size_t errlen)
{
    sv_batcher *bt = calloc(1, sizeof *bt);
    if (!bt) return snprintf(err, errlen, "out of memory"), NULL;
    bt->v = v;
    bt->b = *b;
    pthread_mutex_init(&bt->mu, NULL);
    pthread_cond_init(&bt->work, NULL);
    int n = b->num_batch_threads < 1 ? 1 : b->num_batch_threads > 64 ? 64 : b->num_batch_threads;
    for (int i = 0; i < n; i++) {
        if (pthread_create(&bt->th[i], NULL, batch_thread, bt)) {
            snprintf(err, errlen, "cannot start batch thread %d: %s", i, strerror(errno));
            sv_batcher_stop(bt);
            return NULL;
        }
        bt->n_threads++;
    }
    return bt;
}

void sv_batcher_enter(sv_batcher *bt)
{
    pthread_mutex_lock(&bt->mu);
    bt->in_flight++;
    pthread_mutex_unlock(&bt->mu);
}

void sv_batcher_leave(sv_batcher *bt)
{
    pthread_mutex_lock(&bt->mu);
    bt->in_flight--;
    pthread_mutex_unlock(&bt->mu);
}

char *sv_batcher_run(sv_batcher *bt, int64_t rows, const void *const *in, void *const *out, bool *queue_full)
{
    *queue_full = false;
    task t = {.rows = rows, .in = in, .out = out};
    clock_gettime(CLOCK_MONOTONIC, &t.enq);
    pthread_mutex_lock(&bt->mu);
    if (bt->queued_rows + rows > bt->b.max_enqueued_batches * bt->b.max_batch_size && bt->head) {
        bt->in_flight--;
        pthread_mutex_unlock(&bt->mu);
        *queue_full = true;
        char *m = NULL;
        if (asprintf(&m, "the batching queue is full (max_enqueued_batches %lld of max_batch_size %lld)",
                     (long long)bt->b.max_enqueued_batches, (long long)bt->b.max_batch_size) < 0)
            m = NULL;
        return m ? m : strdup("the batching queue is full");
    }
    if (!bt->head && !bt->running && bt->in_flight == 1) {
        /* alone: no other request to wait for, none to hand the rows to */
        pthread_mutex_unlock(&bt->mu);
        char *err = sv_run_rows(bt->v, rows, in, out, NULL);
        pthread_mutex_lock(&bt->v->owner->mu);
        sv_hist_add(&bt->v->owner->batch_rows, (double)rows);
        pthread_mutex_unlock(&bt->v->owner->mu);
        pthread_mutex_lock(&bt->mu);
        bt->in_flight--;
        pthread_mutex_unlock(&bt->mu);
        return err;
    }
    pthread_cond_init(&t.cv, NULL);
    if (bt->tail) bt->tail->next = &t;
    else bt->head = &t;
    bt->tail = &t;
    bt->queued_rows += rows;
    bt->queued++;
    /* the batch thread sleeps until the first task, then until the batch is full or the head's timeout */
    if (bt->queued == 1 || bt->queued_rows >= bt->b.max_batch_size) pthread_cond_signal(&bt->work);
    while (!t.done) pthread_cond_wait(&t.cv, &bt->mu);
    pthread_mutex_unlock(&bt->mu);
    pthread_cond_destroy(&t.cv);
    return t.err;
}

void sv_batcher_stop(sv_batcher *bt)
{
    if (!bt) return;
    pthread_mutex_lock(&bt->mu);
    bt->stop = true;
    pthread_cond_broadcast(&bt->work);
    pthread_mutex_unlock(&bt->mu);
    for (int i = 0; i < bt->n_threads; i++) pthread_join(bt->th[i], NULL);
    pthread_cond_destroy(&bt->work);
    pthread_mutex_destroy(&bt->mu);
    free(bt);
}
