/* api/internal.h — what api/kiln.c and api/inspect.c share (not public). */
#ifndef KILN_API_INTERNAL_H
#define KILN_API_INTERNAL_H

#include "ir/ir.h"
#include "codegen/codegen.h"
#include "kiln/inspect.h"
#include "kiln/kiln.h"

struct kiln_program {
    cg_jit *jit;
    cg_entry_fn entry;
    int n_feeds, n_fetches;
    kiln_tensor_info *info; /* feeds then fetches */
    int64_t *dims;
    char **names;
    void *temp;
    size_t temp_size;
    /* State (docs/training.md): the model's variables, and for each param /
     * result after the user's feeds / fetches the variable it reads / writes. */
    int n_vars;
    kiln_variable_info *vars;
    int64_t *var_dims;
    char **var_names;
    size_t state_size;
    int n_state_in, n_state_out;
    int *state_in, *state_out;
    bool *reads, *writes;
    /* kiln_options.profile: the profiling entry and the plan its counters follow */
    cg_profile_fn profile;
    kiln_plan_info *plan;
    void *dl; /* kiln_program_load: the dlopen handle (api/shared.c) */
};

kiln_status *api_status_new(kiln_code code, const char *msg);
/* kiln_compile_object's work; meta non-NULL: also the table kiln_program_load
 * reads back from a shared object (api/shared.c), to free. */
kiln_status *api_compile_object(kiln_model *m, const kiln_options *o, const char *object_path, const char *header_path,
                                kiln_compile_info *info, char **meta);
/* api/shared.c: the metadata text of a planned graph (NULL with d set), and
 * dlclose of a loaded program's handle (NULL: nothing). */
char *api_shared_meta(const ir_graph *g, const cg_options *co, kl_diag *d);
void api_shared_close(void *dl);

/* Import m and run the pipeline of o (up to pass stop_after, NULL: all). */
kiln_status *api_plan_graph(kiln_model *m, const kiln_options *o, const char *target, const char *cpu,
                            const char *stop_after, ir_graph **out, double *seconds);
/* The description of g (api/inspect.c); NULL with d set on failure. */
kiln_plan_info *api_describe(const ir_graph *g, const kiln_options *o, const char *after, kl_diag *d);

#endif
