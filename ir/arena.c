/* ir/arena.c — bump allocator: everything of one graph is freed at once. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    _Alignas(64) unsigned char data[];
} chunk;

struct kl_arena {
    chunk *head;
    size_t total;
};

kl_arena *kl_arena_new(void)
{
    kl_arena *a = calloc(1, sizeof *a);
    if (!a) kl_die(__FILE__, __LINE__, "out of memory");
    return a;
}

void kl_arena_free(kl_arena *a)
{
    if (!a) return;
    for (chunk *c = a->head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    free(a);
}

void *kl_arena_alloc(kl_arena *a, size_t size, size_t align)
{
    if (align < 8) align = 8;
    KL_ASSERT((align & (align - 1)) == 0 && align <= 64);
    chunk *c = a->head;
    size_t at = c ? (c->used + align - 1) & ~(align - 1) : 0;
    if (!c || at + size > c->size) {
        size_t csize = size > (1u << 20) ? size : (1u << 20);
        c = aligned_alloc(64, (sizeof(chunk) + csize + 63) & ~(size_t)63);
        if (!c) kl_die(__FILE__, __LINE__, "out of memory");
        c->size = csize;
        c->used = 0;
        c->next = a->head;
        a->head = c;
        at = 0;
    }
    c->used = at + size;
    a->total += size;
    void *p = c->data + at;
    memset(p, 0, size);
    return p;
}

char *kl_arena_strdup(kl_arena *a, const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    return memcpy(kl_arena_alloc(a, n, 1), s, n);
}

size_t kl_arena_bytes(const kl_arena *a) { return a->total; }
