/* frontend/tf/model.c — reading a GraphDef file and indexing its nodes.
 *
 * Everything read here is untrusted: protobuf-c checks the wire format, and
 * this file checks what the format cannot (unique, non-empty node names).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tf_internal.h"

#define MAX_FILE_BYTES ((size_t)2 << 30) /* protobuf's own limit */

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

int tf_find_node(const tf_model *m, const char *name, size_t len)
{
    size_t mask = m->table_size - 1;
    for (size_t slot = hash_str(name, len) & mask;; slot = (slot + 1) & mask) {
        int i = m->table[slot];
        if (i < 0) return -1;
        const char *s = m->pb->node[i]->name;
        if (strlen(s) == len && !memcmp(s, name, len)) return i;
    }
}

static bool index_nodes(tf_model *m, kl_diag *d)
{
    size_t n = m->pb->n_node;
    m->table_size = 16;
    while (m->table_size < n * 2) m->table_size *= 2;
    m->table = kl_calloc(d, m->table_size, sizeof *m->table, "the GraphDef index");
    if (!m->table) return false;
    memset(m->table, 0xff, sizeof *m->table * m->table_size);
    for (size_t i = 0; i < n; i++) {
        const char *name = m->pb->node[i]->name;
        if (!name || !*name) return kl_diag_error(d, "%s: node #%zu has no name", m->source, i), false;
        if (tf_find_node(m, name, strlen(name)) >= 0)
            return kl_diag_error(d, "%s: two nodes are named '%s'", m->source, name), false;
        size_t slot = hash_str(name, strlen(name)) & (m->table_size - 1);
        while (m->table[slot] >= 0) slot = (slot + 1) & (m->table_size - 1);
        m->table[slot] = (int)i;
    }
    return true;
}

bool tf_model_load_buffer(const void *data, size_t size, const char *source, tf_model **out, kl_diag *d)
{
    *out = NULL;
    if (size == 0) return kl_diag_error(d, "%s: empty file, not a TensorFlow GraphDef", source), false;
    Kiln__Tf__TfGraph *pb = kiln__tf__tf_graph__unpack(NULL, size, data);
    if (!pb) return kl_diag_error(d, "%s: not a TensorFlow GraphDef (protobuf parse failed)", source), false;
    if (pb->n_node == 0) {
        kiln__tf__tf_graph__free_unpacked(pb, NULL);
        return kl_diag_error(d, "%s: GraphDef has no nodes", source), false;
    }
    tf_model *m = kl_calloc(d, 1, sizeof *m, "the GraphDef index");
    if (!m) {
        kiln__tf__tf_graph__free_unpacked(pb, NULL);
        return false;
    }
    m->pb = pb;
    m->lib = pb->library;
    if (!(m->source = kl_strdup(d, source)) || !index_nodes(m, d)) {
        tf_model_free(m);
        return false;
    }
    *out = m;
    return true;
}

bool tf_model_load(const char *path, tf_model **out, kl_diag *d)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return kl_diag_error(d, "%s: cannot open: %s", path, strerror(errno)), false;
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = kl_malloc(d, cap, "the model file");
    for (size_t got; buf && (got = fread(buf + len, 1, cap - len, f)) > 0;) {
        len += got;
        if (len == cap && cap < MAX_FILE_BYTES) {
            unsigned char *b = kl_realloc(d, buf, cap *= 2, 1, "the model file");
            if (!b) free(buf);
            buf = b;
        } else if (len == cap) {
            break;
        }
    }
    bool err = ferror(f);
    fclose(f);
    if (!buf || err) {
        free(buf);
        return kl_diag_error(d, "%s: cannot read the file", path), false;
    }
    bool ok = tf_model_load_buffer(buf, len, path, out, d);
    free(buf);
    return ok;
}

tf_model *tf_function_model(const tf_model *m, const char *name, kl_diag *d)
{
    const Kiln__Tf__TfFunction *fn = NULL;
    for (size_t i = 0; m->lib && i < m->lib->n_function && !fn; i++) {
        const Kiln__Tf__TfFunction *f = m->lib->function[i];
        if (f && f->signature && f->signature->name && !strcmp(f->signature->name, name)) fn = f;
    }
    if (!fn) return kl_diag_error(d, "%s: function '%s' is not in the graph's library", m->source, name), NULL;
    size_t n_args = fn->signature->n_input_arg, n = n_args + fn->n_node_def;
    tf_model *f = calloc(1, sizeof *f);
    Kiln__Tf__TfGraph *pb = calloc(1, sizeof *pb);
    tf_node **nodes = calloc(n + 1, sizeof *nodes);
    tf_node *args = calloc(n_args + 1, sizeof *args);
    size_t len = strlen(m->source) + strlen(name) + 16;
    char *source = malloc(len);
    if (!f || !pb || !nodes || !args || !source) {
        free(f), free(pb), free(nodes), free(args), free(source);
        return kl_diag_error(d, "%s: out of memory", m->source), NULL;
    }
    snprintf(source, len, "%s: function %s", m->source, name);
    for (size_t i = 0; i < n_args; i++) {
        kiln__tf__tf_node__init(&args[i]);
        args[i].name = fn->signature->input_arg[i]->name;
        args[i].op = "_Arg";
        nodes[i] = &args[i];
    }
    for (size_t i = 0; i < fn->n_node_def; i++) nodes[n_args + i] = fn->node_def[i];
    pb->node = nodes;
    pb->n_node = n;
    *f = (tf_model){.pb = pb, .source = source, .lib = m->lib, .fn = fn, .args = args};
    if (!index_nodes(f, d)) {
        tf_model_free(f);
        return NULL;
    }
    return f;
}

void tf_model_free(tf_model *m)
{
    if (!m) return;
    if (m->fn) { /* nodes borrowed from the library */
        free(m->pb->node);
        free(m->pb);
        free(m->args);
        m->pb = NULL;
    }
    if (m->pb) kiln__tf__tf_graph__free_unpacked(m->pb, NULL);
    free(m->table);
    free(m->source);
    free(m);
}

int tf_model_num_nodes(const tf_model *m) { return (int)m->pb->n_node; }

const char *tf_model_node_name(const tf_model *m, int i)
{
    return i >= 0 && (size_t)i < m->pb->n_node ? m->pb->node[i]->name : NULL;
}

const Kiln__Tf__TfAttrValue *tf_attr(const Kiln__Tf__TfNode *n, const char *key)
{
    for (size_t i = 0; i < n->n_attr; i++)
        if (n->attr[i] && n->attr[i]->key && !strcmp(n->attr[i]->key, key)) return n->attr[i]->value;
    return NULL;
}
