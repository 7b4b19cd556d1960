/* serve/sv_example.h — REST's :classify / :regress JSON <-> the tf.Example
 * Input message of gRPC's Classify / Regress (serve/sv_example.c). */
#ifndef KILN_SV_EXAMPLE_H
#define KILN_SV_EXAMPLE_H

#include <jansson.h>

#include "serve/sv_grpc.h"
#include "serving.pb-c.h"

/* Every block of a converted message, freed at once. */
typedef struct sv_arena {
    void **blocks;
    size_t n, cap;
} sv_arena;
void *sv_arena_alloc(sv_arena *a, size_t n); /* zeroed; NULL when out of memory */
void sv_arena_free(sv_arena *a);

/* A :classify / :regress body into *in (its blocks in a, its strings the
 * body's: keep body alive); *signature is its signature_name ("" if none).
 * NULL, or a message (HTTP 400) to free. */
char *sv_json_input(const json_t *body, sv_arena *a, Kiln__Serving__Input *in, const char **signature);
/* {"results": [[[label, score], ...], ...]} (Classify) or {"results": [value, ...]} (Regress); NULL when out of memory. */
json_t *sv_infer_json(const sv_infer *r, bool classify);

#endif
