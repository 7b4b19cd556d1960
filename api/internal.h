/* api/internal.h — what api/kiln.c and api/inspect.c share (not public). */
#ifndef KILN_API_INTERNAL_H
#define KILN_API_INTERNAL_H

#include "ir/ir.h"
#include "kiln/inspect.h"

/* Import m and run the pipeline of o (up to pass stop_after, NULL: all). */
kiln_status *api_plan_graph(kiln_model *m, const kiln_options *o, const char *target, const char *cpu,
                            const char *stop_after, ir_graph **out, double *seconds);
/* The description of g (api/inspect.c); NULL with d set on failure. */
kiln_plan_info *api_describe(const ir_graph *g, const kiln_options *o, const char *after, kl_diag *d);

#endif
