/* ir/arena.c — the checked allocation functions, and the bump allocator:
 * everything of one graph is freed at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* ---- checked allocation ------------------------------------------------- */

char *kl_format_bytes(char *buf, size_t n, uint64_t bytes)
{
    static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, n, "%llu bytes", (unsigned long long)bytes);
        return buf;
    }
    double v = (double)bytes / 1024;
    int u = 0;
    while (v >= 1024 && u < 5) v /= 1024, u++;
    snprintf(buf, n, v == (double)(uint64_t)v ? "%.0f %s" : "%.1f %s", v, unit[u]);
    return buf;
}

/* Fault injection for tests (tests/test_faults.c): when armed, the checked
 * allocations that have an error channel (d non-NULL) succeed `left` more
 * times, then fail once, as if the system were out of memory.  Allocations
 * without one (d NULL: arena chunks, diagnostic text) abort on failure by
 * design and are not injected.  Process-global and not thread-safe: a test
 * hook, never armed by the library itself. */
static long inject_left = -1;
static long injected;

void kl_fault_fail_after(long n)
{
    inject_left = n;
    injected = 0;
}

long kl_fault_injected(void) { return injected; }

static bool inject(const kl_diag *d)
{
    if (!d || inject_left < 0) return false;
    if (inject_left-- > 0) return false;
    injected++;
    return true;
}

static void *failed(kl_diag *d, size_t size, const char *what)
{
    char b[32];
    kl_format_bytes(b, sizeof b, size);
    if (!d) {
        char msg[160];
        snprintf(msg, sizeof msg, "out of memory: cannot allocate %s for %s", b, what);
        kl_die(__FILE__, __LINE__, msg);
    }
    kl_diag_error(d, "cannot allocate %s for %s (out of memory)", b, what);
    return NULL;
}

/* count * size, or SIZE_MAX on overflow (which no allocator grants). */
static size_t product(size_t count, size_t size)
{
    return size && count > SIZE_MAX / size ? SIZE_MAX : count * size;
}

void *kl_malloc(kl_diag *d, size_t size, const char *what)
{
    void *p = inject(d) ? NULL : malloc(size ? size : 1);
    return p ? p : failed(d, size, what);
}

void *kl_calloc(kl_diag *d, size_t count, size_t size, const char *what)
{
    size_t bytes = product(count, size);
    void *p = bytes == SIZE_MAX || inject(d) ? NULL : calloc(count ? count : 1, size ? size : 1);
    return p ? p : failed(d, bytes, what);
}

void *kl_realloc(kl_diag *d, void *p, size_t count, size_t size, const char *what)
{
    size_t bytes = product(count, size);
    void *q = bytes == SIZE_MAX || inject(d) ? NULL : realloc(p, bytes ? bytes : 1);
    return q ? q : failed(d, bytes, what);
}

void *kl_aligned_alloc(kl_diag *d, size_t size, const char *what)
{
    void *p = size > SIZE_MAX - 64 || inject(d) ? NULL : aligned_alloc(64, (size + 63) & ~(size_t)63);
    return p ? p : failed(d, size, what);
}

char *kl_strdup(kl_diag *d, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = kl_malloc(d, n, "a string");
    return p ? memcpy(p, s, n) : NULL;
}

/* ---- arena -------------------------------------------------------------- */

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
    return kl_calloc(NULL, 1, sizeof(kl_arena), "a graph arena");
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
        KL_ASSERT(csize < SIZE_MAX / 2); /* callers bound their sizes (KL_MAX_BYTES) */
        c = kl_aligned_alloc(NULL, sizeof(chunk) + csize, "graph nodes and constants");
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
