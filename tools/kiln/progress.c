/* tools/kiln/progress.c — kiln's progress line for long compiles: the
 * compiler calls kiln_options.progress (pass k of n, codegen kernel k of
 * n, LLVM stages, done); on a terminal, once the command has run for 2 s,
 * the line "kiln: 3.1 s  codegen: kernel 57 of 120" is redrawn in place on
 * stderr and erased when the compile ends.  A small thread redraws it
 * every quarter second, so the line appears on time and its clock moves
 * during a long stage (LLVM's optimization of a large model calls back
 * only when it ends).  Quiet when stderr is not a terminal or the compile
 * is fast, so logs and pipes see nothing.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "help.h"

static struct {
    pthread_mutex_t mu;
    bool tty, always, auto_mode, active, shown, ticking;
    double t0, delay, last_draw;
    char stage[32], what[96];
} pr = {.mu = PTHREAD_MUTEX_INITIALIZER};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* With pr.mu held. */
static void draw(double t)
{
    double dt = t - pr.t0;
    if (!pr.active || dt < pr.delay || !pr.what[0]) return;
    fprintf(stderr, "\r\033[Kkiln: %.1f s  %s", dt, pr.what);
    fflush(stderr);
    pr.shown = true;
    pr.last_draw = t;
}

static void *ticker(void *arg)
{
    (void)arg;
    for (;;) {
        nanosleep(&(struct timespec){0, 250 * 1000 * 1000}, NULL);
        pthread_mutex_lock(&pr.mu);
        draw(now());
        pthread_mutex_unlock(&pr.mu);
    }
    return NULL;
}

static void end_locked(void)
{
    if (pr.shown && pr.tty) fputs("\r\033[K", stderr);
    fflush(stderr);
    pr.shown = pr.active = false;
    pr.what[0] = pr.stage[0] = 0;
}

void progress_end(void)
{
    pthread_mutex_lock(&pr.mu);
    end_locked();
    pthread_mutex_unlock(&pr.mu);
}

static void on_progress(void *user, const char *stage, int k, int n)
{
    (void)user;
    pthread_mutex_lock(&pr.mu);
    if (!strcmp(stage, "done")) {
        end_locked();
        pr.t0 = now(); /* kiln run compiles again on a retry: its own 2 s */
        pthread_mutex_unlock(&pr.mu);
        return;
    }
    pr.active = true;
    bool new_stage = strcmp(stage, pr.stage) != 0;
    snprintf(pr.stage, sizeof pr.stage, "%s", stage);
    if (!strcmp(stage, "codegen")) snprintf(pr.what, sizeof pr.what, "codegen: kernel %d of %d", k, n);
    else if (n) snprintf(pr.what, sizeof pr.what, "pass %s (%d of %d)", stage, k, n);
    else snprintf(pr.what, sizeof pr.what, "%s", stage);
    double t = now();
    if (!pr.tty) { /* --progress always into a file: a line per stage, and the last kernel */
        if (new_stage || k == n) fprintf(stderr, "kiln: %.1f s  %s\n", t - pr.t0, pr.what);
    } else {
        if (!pr.ticking) {
            pthread_t th;
            pr.ticking = !pthread_create(&th, NULL, ticker, NULL) && !pthread_detach(th);
        }
        if (new_stage || k == n || t - pr.last_draw >= 0.1) draw(t); /* at most 10 redraws a second */
    }
    pthread_mutex_unlock(&pr.mu);
}

bool progress_setup(kiln_options *o, const char *mode)
{
    if (strcmp(mode, "auto") && strcmp(mode, "always") && strcmp(mode, "never")) return false;
    pthread_mutex_lock(&pr.mu);
    pr.tty = isatty(2);
    pr.always = !strcmp(mode, "always");
    pr.auto_mode = !strcmp(mode, "auto");
    pr.t0 = now();
    pr.delay = 2.0;
    const char *env = getenv("KILN_PROGRESS_DELAY");
    if (env && *env) {
        char *end;
        double d = strtod(env, &end);
        if (!*end && d >= 0) pr.delay = d;
    }
    if (pr.always) pr.delay = 0;
    bool on = pr.always || (pr.auto_mode && pr.tty);
    pthread_mutex_unlock(&pr.mu);
    o->progress = on ? on_progress : NULL;
    o->progress_user = NULL;
    return true;
}

void progress_auto_off(kiln_options *o)
{
    if (pr.auto_mode) o->progress = NULL;
}
