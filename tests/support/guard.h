/* tests/support/guard.h — buffers flush against PROT_NONE pages, for the
 * guard-page harness: generated code must never read or write a byte
 * outside the buffers it is given (DEVELOPERS.md, "Correctness rules").
 *
 *   guard_buf b;
 *   if (!guard_alloc(&b, bytes, GUARD_END_EXACT, 1)) ...   // b.p: `bytes` bytes ending at a guard page
 *   memcpy(b.p, data, bytes); guard_seal(&b);               // a feed: read-only from now on
 *   run(...);                                               // a stray access faults (SIGSEGV)
 *   if (!guard_intact(&b)) ...                              // a stray write into the slack
 *   guard_free(&b);
 *
 * Every placement keeps the bytes of the mapping outside [p, p + n) filled
 * with a canary, so writes that land there (too close to fault) are caught
 * by guard_intact.  Linked into the Criterion tests (the JIT path) and into
 * each AOT driver (tests/sh/guard.sh).
 */
#ifndef KILN_TEST_GUARD_H
#define KILN_TEST_GUARD_H

#include <stdbool.h>
#include <stddef.h>

typedef enum guard_place {
    GUARD_END_EXACT,   /* the last byte is right before a guard page (start aligned only to the element) */
    GUARD_END_ALIGNED, /* start aligned to `align` (64), the end as close to a guard page as that allows */
    GUARD_START,       /* the first byte is right after a guard page (page aligned); a guard after the end too */
    GUARD_PLACE_COUNT
} guard_place;

typedef struct guard_buf {
    unsigned char *map; /* the whole mapping, guard pages included */
    size_t map_len;
    size_t lead;        /* bytes of guard before the usable part (GUARD_START) */
    unsigned char *p;   /* the buffer */
    size_t n;
} guard_buf;

const char *guard_place_name(guard_place pl);
/* n may be 0 (p then points at the guard page or right after one). */
bool guard_alloc(guard_buf *b, size_t n, guard_place pl, size_t align);
/* Makes the buffer and its slack read-only (feeds). */
bool guard_seal(guard_buf *b);
/* Whether the slack around the buffer still holds the canary. */
bool guard_intact(const guard_buf *b);
void guard_free(guard_buf *b);

#endif
