/* serve/sv_textproto.c — the protobuf text format, as far as TF Serving's
 * config files use it: fields `name: scalar`, `name { ... }` and
 * `name: { ... }`, strings in ' or " with \-escapes, # comments.  No
 * schema: the tree keeps names and texts; sv_models.c reads the fields it
 * knows and rejects the others. */
#define _GNU_SOURCE /* asprintf, strndup */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/sv.h"

typedef struct {
    const char *p;
    int line;
    char *err;
    size_t errlen;
    int depth;
} lexer;

static void skip(lexer *l)
{
    for (;;) {
        while (*l->p && isspace((unsigned char)*l->p)) {
            if (*l->p == '\n') l->line++;
            l->p++;
        }
        if (*l->p != '#') return;
        while (*l->p && *l->p != '\n') l->p++;
    }
}

static bool fail(lexer *l, const char *what)
{
    if (l->err && !l->err[0]) snprintf(l->err, l->errlen, "line %d: %s", l->line, what);
    return false;
}

static char *ident(lexer *l)
{
    const char *s = l->p;
    while (isalnum((unsigned char)*l->p) || *l->p == '_' || *l->p == '.' || *l->p == '-' || *l->p == '+') l->p++;
    if (l->p == s) return NULL;
    char *r = strndup(s, (size_t)(l->p - s));
    return r;
}

static char *string(lexer *l)
{
    char q = *l->p++;
    size_t cap = 64, n = 0;
    char *r = malloc(cap);
    if (!r) return NULL;
    while (*l->p && *l->p != q) {
        char c = *l->p++;
        if (c == '\n') break;
        if (c == '\\' && *l->p) {
            c = *l->p++;
            c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
        }
        if (n + 2 > cap) {
            char *t = realloc(r, cap *= 2);
            if (!t) return free(r), NULL;
            r = t;
        }
        r[n++] = c;
    }
    if (*l->p != q) return free(r), NULL;
    l->p++;
    r[n] = 0;
    return r;
}

static sv_tp *message(lexer *l, char close);

static sv_tp *field(lexer *l)
{
    sv_tp *f = calloc(1, sizeof *f);
    if (!f) return fail(l, "out of memory"), NULL;
    if (!(f->name = ident(l))) return free(f), fail(l, "expected a field name"), NULL;
    skip(l);
    bool colon = *l->p == ':';
    if (colon) l->p++, skip(l);
    if (*l->p == '{' || *l->p == '<') {
        char close = *l->p == '{' ? '}' : '>';
        l->p++;
        if (++l->depth > 32) return sv_tp_free(f), fail(l, "nested too deep"), NULL;
        f->kids = message(l, close);
        l->depth--;
        if (l->err && l->err[0]) return sv_tp_free(f), NULL;
        if (*l->p != close) return sv_tp_free(f), fail(l, "unclosed message"), NULL;
        l->p++;
        if (!f->kids) f->kids = NULL;
        f->value = NULL;
        return f;
    }
    if (!colon) return sv_tp_free(f), fail(l, "expected ':' or '{' after a field name"), NULL;
    if (*l->p == '"' || *l->p == '\'') {
        if (!(f->value = string(l))) return sv_tp_free(f), fail(l, "unterminated string"), NULL;
        skip(l);
        while (*l->p == '"' || *l->p == '\'') { /* adjacent strings concatenate */
            char *more = string(l);
            if (!more) return sv_tp_free(f), fail(l, "unterminated string"), NULL;
            char *cat = malloc(strlen(f->value) + strlen(more) + 1);
            if (!cat) return free(more), sv_tp_free(f), fail(l, "out of memory"), NULL;
            strcpy(cat, f->value);
            strcat(cat, more);
            free(f->value);
            free(more);
            f->value = cat;
            skip(l);
        }
    } else if (!(f->value = ident(l))) {
        return sv_tp_free(f), fail(l, "expected a value"), NULL;
    }
    return f;
}

/* Fields up to `close` (0: end of text); a message with no field is an empty list. */
static sv_tp *message(lexer *l, char close)
{
    sv_tp *head = NULL, **tail = &head;
    for (;;) {
        skip(l);
        if (!*l->p || *l->p == close) break;
        if (*l->p == '}' || *l->p == '>') return sv_tp_free(head), fail(l, "unexpected closing brace"), NULL;
        sv_tp *f = field(l);
        if (!f) return sv_tp_free(head), NULL;
        *tail = f;
        tail = &f->next;
        skip(l);
        if (*l->p == ',' || *l->p == ';') l->p++;
    }
    if (!close && *l->p) return sv_tp_free(head), fail(l, "trailing text"), NULL;
    if (close && *l->p != close) return sv_tp_free(head), fail(l, "unclosed message"), NULL;
    return head;
}

sv_tp *sv_tp_parse(const char *text, char *err, size_t errlen)
{
    lexer l = {text, 1, err, errlen, 0};
    if (err && errlen) err[0] = 0;
    /* The root is a message node whose kids are the top-level fields. */
    sv_tp *root = calloc(1, sizeof *root);
    if (!root) return NULL;
    root->kids = message(&l, 0);
    if (err && err[0]) return sv_tp_free(root), NULL;
    return root;
}

void sv_tp_free(sv_tp *t)
{
    while (t) {
        sv_tp *n = t->next;
        sv_tp_free(t->kids);
        free(t->name);
        free(t->value);
        free(t);
        t = n;
    }
}

const sv_tp *sv_tp_get(const sv_tp *msg, const char *name)
{
    for (const sv_tp *k = msg ? msg->kids : NULL; k; k = k->next)
        if (k->name && !strcmp(k->name, name)) return k;
    return NULL;
}

const sv_tp *sv_tp_next_named(const sv_tp *after, const char *name)
{
    for (const sv_tp *k = after ? after->next : NULL; k; k = k->next)
        if (k->name && !strcmp(k->name, name)) return k;
    return NULL;
}
