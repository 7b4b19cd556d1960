/* frontend/tf/tf_internal.h — shared by the reader, the graph walk and the
 * op importers (tf_ops_*.c); not a public header. */
#ifndef KILN_TF_INTERNAL_H
#define KILN_TF_INTERNAL_H

#include "graph.pb-c.h"
#include "tf.h"

typedef Kiln__Tf__TfNode tf_node;
typedef Kiln__Tf__TfAttrValue tf_attr_value;

struct tf_model {
    Kiln__Tf__TfGraph *pb;
    char *source;
    int *table; /* open addressing: node index by name, -1 empty */
    size_t table_size;
    /* The GraphDef's function library (shared by the models of its
     * functions), and for a function's model (tf_function_model) the
     * function: its nodes are one _Arg per argument, then its node_defs,
     * and inputs name "node:output_arg:index" (OpDef output names). */
    const Kiln__Tf__TfFunctionLibrary *lib;
    const Kiln__Tf__TfFunction *fn;
    tf_node *args;
};

/* Import state of one tf_import call. */
typedef struct imp {
    const tf_model *m;
    ir_graph *g;
    kl_diag *d;
    ir_node **value;      /* by node index: the IR value of output 0 */
    ir_node ***more;      /* by node index: all outputs of multi-output nodes */
    int *n_more;
    unsigned char *state; /* DFS: 0 new, 1 open, 2 done */
    int *order, n_order;
    bool auto_feeds;
    int *auto_placeholders, n_auto;
    int depth;            /* nesting of the functions and loop bodies being imported */
    ir_node *outs[256];   /* set by a multi-output importer for the node at hand */
    int n_outs;
    /* Training graphs (tf_state.c): NULL for a graph without variables. */
    struct tf_state *st;
    bool follow_control;  /* visit `^node` inputs too (entries with targets or state) */
    const tf_pin *pins;
    int n_pins;
    int allreduce_ranks; /* tf_entry's */
    bool allreduce_sum;
    /* Unique's first outputs (tf_ops_sparse.c): padded with -1 after the
     * distinct values, so distinct where not -1. */
    ir_node *unique_y[16];
    int n_unique_y;
} imp;

/* ---- variables and state (tf_state.c) ----------------------------------- */
/* Per-import variable tracking: variable handles are marker values (never
 * graph nodes); a read gives the variable's current value (first a param,
 * the value the caller's state holds), a write makes a new current value. */
typedef struct tf_state tf_state;
tf_state *tf_state_new(imp *c);
void tf_state_free(tf_state *s);
/* Whether v is a variable handle or the "no value" of a NoOp/assign. */
bool tf_is_marker(const imp *c, const ir_node *v);
/* Operands of node n before its importer runs: a ref variable used as a
 * value (Identity of it, or any op that is not a state op) is read. */
bool tf_state_operands(imp *c, const tf_node *n, ir_node **in, int n_in);
/* A fetch's value: a ref variable's current value; NULL (reported) for an
 * op with no output. */
ir_node *tf_state_fetch(imp *c, const char *name, ir_node *v);
/* After the import: a result per written variable, param_var/result_var set. */
bool tf_state_finish(imp *c);
/* For importers of other files (tf_ops_sparse.c): the variable a handle or
 * ref names (-1 with an error naming `what`), its current value, a write
 * (false with an error if the type differs), the value of an op without
 * outputs. */
int tf_state_var(imp *c, const tf_node *n, ir_node *h, const char *what);
ir_node *tf_state_read(imp *c, int v);
bool tf_state_write(imp *c, const tf_node *n, int v, ir_node *value);
ir_node *tf_state_none(imp *c);

/* An importer returns output 0 (and, for several outputs, fills c->outs). */
typedef ir_node *(*tf_import_fn)(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op);

/* A function of m's library as a model of its own (free with
 * tf_model_free), or NULL with an error. */
tf_model *tf_function_model(const tf_model *m, const char *name, kl_diag *d);
/* Imports into g what fetches (tensor names of m) need, nodes
 * bound_at[i] (NULL: the first n_bound nodes, a function's arguments)
 * already having the value bound[i] (every output of them); outs[f] is
 * fetch f's value. */
bool tf_import_into(const imp *outer, const tf_model *m, ir_graph *g, const int *bound_at, ir_node *const *bound,
                    int n_bound, const char *const *fetches, int n_fetches, ir_node **outs);
/* How deep loops, conditionals and calls may nest (a library whose
 * function calls itself must not exhaust the stack). */
#define TF_MAX_NESTING 32
/* The value an input string names, or NULL with an error. */
ir_node *tf_input_value(imp *c, const tf_node *n, const char *input);
/* TF1 control flow (tf_ops_control.c): builds the while of the frame that
 * Exit node i leaves, setting the value of every Exit of the frame. */
bool tf_v1_loop(imp *c, int i);
/* The frame an Exit node leaves: the node indices of the values entering
 * it (the Enters' inputs); returns their count, -1 if not a loop. */
int tf_v1_frame_inputs(const tf_model *m, int exit, int *out, int max);
/* Position of output argument `arg` among the outputs of a node of op
 * `op` (OpDef output_arg order, for ops with several output args; 0 for
 * the rest), so "node:arg:k" is output base + k. */
int tf_output_base(const char *op, const char *arg, size_t len);

/* "node", "node:k" (inside a function also "node:output_arg:k") -> node
 * index and output; false if no such node. */
bool tf_parse_tensor(const tf_model *m, const char *s, int *node, int *output);

/* Index of the node called name[0..len), or -1. */
int tf_find_node(const tf_model *m, const char *name, size_t len);
const tf_attr_value *tf_attr(const tf_node *n, const char *key);

/* "FILE: node 'NAME' (OP): message"; returns NULL for chaining. */
ir_node *tf_err(imp *c, const tf_node *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool tf_map_dtype(int tf, kl_dtype *out);
/* "DT_COMPLEX64", "DT_FLOAT_REF", or "DataType 77" for values the schema
 * does not know; into buf, returned. */
const char *tf_dtype_name(int tf, char *buf, size_t size);
bool tf_want_inputs(imp *c, const tf_node *n, int n_in, int want);
bool tf_attr_bool(const tf_node *n, const char *key, bool dflt);
int64_t tf_attr_int(const tf_node *n, const char *key, int64_t dflt);
float tf_attr_float(const tf_node *n, const char *key, float dflt);
/* Copies a string attribute into buf ("" if absent); returns buf. */
const char *tf_attr_str(const tf_node *n, const char *key, char *buf, size_t size);
/* Integer list attribute into out (at most max); returns the count, -1 if absent. */
int tf_attr_ints(const tf_node *n, const char *key, int64_t *out, int max);
kl_dtype tf_attr_dtype(const tf_node *n, const char *key, kl_dtype dflt);
/* The integers of a constant operand (shapes, axes), or -1 with an error. */
int tf_read_ints(imp *c, const tf_node *n, const ir_node *v, const char *what, int64_t *out, int max);
/* A scalar constant operand as double, or false with an error. */
bool tf_read_scalar(imp *c, const tf_node *n, const ir_node *v, const char *what, double *out);
ir_node *tf_import_tensor(imp *c, const tf_node *n, const Kiln__Tf__TfTensor *t);
bool tf_read_shape(imp *c, const tf_node *n, const Kiln__Tf__TfShape *s, kl_dtype dt, ir_type *out);

/* Builders that fold at once when every operand is constant, so shape
 * arithmetic (Shape -> StridedSlice -> Pack -> Reshape) is constant by the
 * time an importer needs its value.  Names are the TF node's. */
ir_node *tf_fold(imp *c, ir_node *n);
ir_node *tf_op(imp *c, const tf_node *n, kl_op op, int n_in, ir_node *const *in, const ir_attr *a, const ir_type *t);
ir_node *tf_unary(imp *c, const tf_node *n, kl_op op, ir_node *x);
ir_node *tf_binary(imp *c, const tf_node *n, kl_op op, ir_node *a, ir_node *b);
ir_node *tf_reshape(imp *c, const tf_node *n, ir_node *x, int rank, const int64_t *dims);
ir_node *tf_cast(imp *c, const tf_node *n, ir_node *x, kl_dtype to);
ir_node *tf_scalar(imp *c, kl_dtype t, double v);
ir_node *tf_slice(imp *c, const tf_node *n, ir_node *x, const int64_t *begin, const int64_t *size, const int64_t *stride);
/* Normalized axis in [0, rank), or -1 with an error. */
int tf_axis(imp *c, const tf_node *n, int64_t axis, int rank);

/* NHWC window attributes of a conv or pool node (strides, dilations,
 * SAME/VALID/EXPLICIT padding for an input of in_h x in_w and a kh x kw
 * window) into a->conv; false with an error (tf_ops_nn.c). */
bool tf_window_attrs(imp *c, const tf_node *n, int64_t in_h, int64_t in_w, int64_t kh, int64_t kw, ir_attr *a);
/* Conv2DBackpropInput as CONV2D_TRANSPOSE (tf_ops_nn.c; the strided case of
 * imp_conv2d_backprop_input). */
ir_node *imp_conv2d_transpose(imp *c, const tf_node *n, ir_node **in, int n_in, kl_op op);

/* The table (tf_ops.def) and every importer. */
#define TFOP(name, fn, op) ir_node *fn(imp *, const tf_node *, ir_node **, int, kl_op);
#include "tf_ops.def"
#undef TFOP

#endif
