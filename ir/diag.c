/* ir/diag.c — error values and the invariant trap. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

void kl_diag_error(kl_diag *d, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof line) n = sizeof line - 1;
    size_t need = d->len + (d->len ? 1 : 0) + (size_t)n + 1;
    if (need > d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 256;
        while (cap < need) cap *= 2;
        char *t = realloc(d->text, cap);
        if (!t) { d->n_errors++; return; } /* keep the count even without memory */
        d->text = t;
        d->cap = cap;
    }
    if (d->len) d->text[d->len++] = '\n';
    memcpy(d->text + d->len, line, (size_t)n);
    d->len += (size_t)n;
    d->text[d->len] = 0;
    d->n_errors++;
}

void kl_diag_clear(kl_diag *d)
{
    free(d->text);
    memset(d, 0, sizeof *d);
}

_Noreturn void kl_die(const char *file, int line, const char *what)
{
    fprintf(stderr, "kiln: internal error at %s:%d: %s\n", file, line, what);
    abort();
}
