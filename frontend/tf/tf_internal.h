/* frontend/tf/tf_internal.h — shared between the reader and the importer. */
#ifndef KILN_TF_INTERNAL_H
#define KILN_TF_INTERNAL_H

#include "graph.pb-c.h"
#include "tf.h"

struct tf_model {
    Kiln__Tf__TfGraph *pb;
    char *source;
    int *table; /* open addressing: node index by name, -1 empty */
    size_t table_size;
};

/* Index of the node called name[0..len), or -1. */
int tf_find_node(const tf_model *m, const char *name, size_t len);
const Kiln__Tf__TfAttrValue *tf_attr(const Kiln__Tf__TfNode *n, const char *key);

#endif
