/* frontend/tf/tf.h — TensorFlow GraphDef reader.
 *
 * Knows protobuf (protobuf-c, schema frontend/tf/graph.proto written from
 * TensorFlow's wire format) and the IR; nothing else.
 *
 *   tf_model *m;
 *   if (!tf_model_load("mlp.pb", &m, &d)) ...
 *   ir_graph *g = tf_import(m, (const char*[]){"x"}, 1, (const char*[]){"y_out"}, 1, &d);
 */
#ifndef KILN_FRONTEND_TF_H
#define KILN_FRONTEND_TF_H

#include "../../ir/ir.h"

typedef struct tf_model tf_model;

/* Parse a binary GraphDef.  Errors name the file. */
bool tf_model_load(const char *path, tf_model **out, kl_diag *d);
bool tf_model_load_buffer(const void *data, size_t size, const char *source, tf_model **out, kl_diag *d);
void tf_model_free(tf_model *m);
int tf_model_num_nodes(const tf_model *m);
/* Name of the i-th NodeDef (GraphDef order), or NULL when i is out of range. */
const char *tf_model_node_name(const tf_model *m, int i);

/* Import the subgraph that computes `fetches` given `feeds`, tfcompile
 * style: tensor names are "node" (output 0) or "node:k"; a feed may cut the
 * graph at any tensor, and only nodes the fetches need are imported.  With
 * n_feeds == 0 every Placeholder the fetches need becomes a feed, in
 * GraphDef order.  The returned graph's params are the feeds in order
 * (param names = the feed names as given) and its results the fetches.
 * On failure returns NULL; every problem is reported — all unsupported ops
 * of the needed subgraph, each with its node name — not just the first. */
ir_graph *tf_import(const tf_model *m, const char *const *feeds, int n_feeds, const char *const *fetches,
                    int n_fetches, kl_diag *d);


/* ---- training graphs: pinned feed shapes, targets, variables as state ---- */

/* A feed's shape fixed at compile time (tfcompile's config): unknown dims
 * of the placeholder take these values; known ones must agree. */
typedef struct tf_pin {
    const char *name;
    int rank;
    const int64_t *dims;
} tf_pin;

/* One Session.run-style entry: feeds, fetches and targets (nodes run for
 * their effects: NoOp groups, assigns, optimizer updates).  Control inputs
 * (`^node`) are followed, so a target pulls in everything it depends on.
 * When the model has variables (VarHandleOp, VariableV2), each variable the
 * entry reads becomes a param after the feeds and each one it writes a
 * result after the fetches; g->param_var / g->result_var name them
 * (docs/training.md). */
typedef struct tf_entry {
    const char *const *feeds;
    int n_feeds;
    const char *const *fetches;
    int n_fetches;
    const char *const *targets;
    int n_targets;
    const tf_pin *pins;
    int n_pins;
    /* Data-parallel training over this many ranks (docs/distributed.md): each
     * optimizer update's gradient is summed over the ranks and divided by
     * the count (the mean of the shards' mean-loss gradients; allreduce_sum:
 * not divided, for a loss that sums over the batch).  0 or 1: none. */
    int allreduce_ranks;
    bool allreduce_sum; /* the loss sums over the batch: sum, no division */
} tf_entry;

typedef struct tf_var {
    const char *name; /* the variable's node name */
    ir_type type;
} tf_var;

/* The model's variables in GraphDef order: the state layout every entry of
 * the model shares.  false with an error for a variable without a static
 * shape or with a dtype Kiln lacks. */
int tf_model_num_variables(const tf_model *m);
bool tf_model_variable(const tf_model *m, int i, tf_var *out, kl_diag *d);
/* The op of the node called name, or NULL. */
const char *tf_model_node_op(const tf_model *m, const char *name);
/* The device field of the node called name ("/job:worker/task:1"), or NULL if empty or no such node. */
const char *tf_model_node_device(const tf_model *m, const char *name);
/* The gradient inputs of the model's dense optimizer updates (Apply* and
 * ResourceApply* ops), in GraphDef order: up to cap names; returns the count. */
int tf_model_gradients(const tf_model *m, const char **names, int cap);
ir_graph *tf_import_entry(const tf_model *m, const tf_entry *e, kl_diag *d);
#endif
