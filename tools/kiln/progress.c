/* tools/kiln/progress.c — kiln's progress line for long compiles: the
 * compiler calls kiln_options.progress (pass k of n, codegen kernel k of
 * n, LLVM stages); on a terminal, once the compile has run over 2 s, the
 * line "kiln: 3.1 s  codegen: kernel 57 of 120" is redrawn in place on
 * stderr and erased at the end.  Quiet when stderr is not a terminal or
 * the compile is fast, so logs and pipes see nothing.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "help.h"

static struct {
    bool tty, shown, always;
    double t0, delay, last;
    char last_stage[32];
} pr;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void progress_end(void)
{
    if (pr.shown && pr.tty) fputs("\r\033[K", stderr);
    fflush(stderr);
    pr.shown = false;
}

static void on_progress(void *user, const char *stage, int k, int n)
{
    (void)user;
    if (!strcmp(stage, "done")) {
        progress_end();
        pr.t0 = now(); /* kiln run compiles again on a retry: its own 2 s */
        return;
    }
    double t = now(), dt = t - pr.t0;
    if (dt < pr.delay) return;
    /* at most 10 redraws a second, but every new stage and the last kernel */
    bool new_stage = strcmp(stage, pr.last_stage) != 0;
    if (!new_stage && k != n && t - pr.last < 0.1) return;
    snprintf(pr.last_stage, sizeof pr.last_stage, "%s", stage);
    pr.last = t;
    char what[96];
    if (!strcmp(stage, "codegen")) snprintf(what, sizeof what, "codegen: kernel %d of %d", k, n);
    else if (n) snprintf(what, sizeof what, "pass %s (%d of %d)", stage, k, n);
    else snprintf(what, sizeof what, "%s", stage);
    if (pr.tty) fprintf(stderr, "\r\033[Kkiln: %.1f s  %s", dt, what);
    else if (new_stage || k == n) fprintf(stderr, "kiln: %.1f s  %s\n", dt, what); /* --progress always, to a file */
    fflush(stderr);
    pr.shown = true;
}

bool progress_setup(kiln_options *o, const char *mode)
{
    if (strcmp(mode, "auto") && strcmp(mode, "always") && strcmp(mode, "never")) return false;
    pr.tty = isatty(2);
    pr.always = !strcmp(mode, "always");
    pr.t0 = now();
    pr.delay = 2.0;
    const char *env = getenv("KILN_PROGRESS_DELAY");
    if (env && *env) {
        char *end;
        double d = strtod(env, &end);
        if (!*end && d >= 0) pr.delay = d;
    }
    if (pr.always) pr.delay = 0;
    bool on = pr.always || (!strcmp(mode, "auto") && pr.tty);
    o->progress = on ? on_progress : NULL;
    o->progress_user = NULL;
    return true;
}
