/* tests/support/guard.c — see guard.h. */
#define _DEFAULT_SOURCE
#include "guard.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { CANARY = 0xA5 };

const char *guard_place_name(guard_place pl)
{
    static const char *names[] = {"end-exact", "end-aligned", "start"};
    return pl < GUARD_PLACE_COUNT ? names[pl] : "?";
}

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }
static size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

/* The bytes of the mapping that are not guard pages. */
static unsigned char *usable(const guard_buf *b, size_t *len)
{
    *len = b->map_len - page_size() - b->lead;
    return b->map + b->lead;
}

bool guard_alloc(guard_buf *b, size_t n, guard_place pl, size_t align)
{
    size_t pg = page_size();
    if (align == 0 || (align & (align - 1)) || align > pg) align = 1;
    memset(b, 0, sizeof *b);
    size_t body = round_up((n ? n : 1) + align, pg);
    b->map_len = body + pg + (pl == GUARD_START ? pg : 0);
    void *m = mmap(NULL, b->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return b->map = NULL, false;
    b->map = m;
    b->n = n;
    if (pl == GUARD_START) {
        memset(b->map + pg, CANARY, body);
        b->p = b->map + pg;
        b->lead = pg;
        if (mprotect(b->map, pg, PROT_NONE) || mprotect(b->map + pg + body, pg, PROT_NONE)) return guard_free(b), false;
        return true;
    }
    memset(b->map, CANARY, body);
    uintptr_t end = (uintptr_t)(b->map + body), start = end - n;
    if (pl == GUARD_END_ALIGNED) start &= ~(uintptr_t)(align - 1);
    b->p = (unsigned char *)start;
    if (mprotect(b->map + body, pg, PROT_NONE)) return guard_free(b), false;
    return true;
}

bool guard_seal(guard_buf *b)
{
    size_t len;
    unsigned char *u = usable(b, &len);
    return mprotect(u, len, PROT_READ) == 0;
}

bool guard_intact(const guard_buf *b)
{
    size_t len;
    const unsigned char *u = usable(b, &len);
    for (const unsigned char *q = u; q < u + len; q++)
        if ((q < b->p || q >= b->p + b->n) && *q != CANARY) return false;
    return true;
}

void guard_free(guard_buf *b)
{
    if (b->map) munmap(b->map, b->map_len);
    memset(b, 0, sizeof *b);
}
