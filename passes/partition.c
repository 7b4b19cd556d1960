/* passes/partition.c — placement and send/recv pairs (docs/distributed.md).
 *
 * requires: types inferred, dead code removed, node->kernel set (passes/fuse.c:
 *   --split cuts between kernels, so that every task computes its values
 *   exactly as the one-process plan does); ctx->partition set (else no-op).
 * guarantees: every node that computes is placed on one task of
 *   ctx->partition->n_tasks, from (first that applies)
 *     - split > 0: pipeline stages, contiguous runs of kernels in schedule
 *       order, balanced by estimated cost (FLOPs + bytes moved) and, among
 *       cuts within 15% of the balanced point, the one with the fewest bytes
 *       crossing it;
 *     - rules "GLOB=TASK" on node names (fnmatch, first matching rule wins);
 *     - the GraphDef's device fields (/job:J/task:K; tasks numbered by job
 *       name, then K);
 *   a node no rule or device names takes its first placed operand's task,
 *   else its first placed user's, else 0; params and constants are on every
 *   task; a get goes with its while/if.  Then the graph keeps only task
 *   ctx->partition->task: each value computed on task A and read on task B
 *   (fetches count as read on the fetch task, 0 unless pp->fetch_task says
 *   otherwise, which returns every fetch) becomes a
 *   send on A, placed right after the value, and a recv on B, placed right
 *   before its first reader; both carry the same rendezvous key (the
 *   crossing's index in node order, the same in every task) and the peer.
 *   g->dist_task/dist_tasks/dist_fingerprint are set; the fingerprint hashes
 *   the whole graph (ops, types, operands, attributes, constants) and its
 *   placement, so objects from other graphs or placements are caught at
 *   start-up (runtime/dist.c).
 *   Errors (naming nodes): a rule that matches no node, a task out of range,
 *   a cycle between tasks, devices naming another number of tasks than
 *   given, state (variables) in a partitioned graph.
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "../ir/plan.h"
#include "passes.h"

static const char *nm(const ir_node *n) { return n->name ? n->name : "?"; }
static bool placeable(const ir_node *n) { return n->op != KL_OP_PARAM && n->op != KL_OP_CONST; }

/* Operations of one node, the same estimate kiln profile uses. */
static int64_t node_flops(const ir_node *n)
{
    int64_t out = ir_type_numel(&n->type);
    if (n->op == KL_OP_MATMUL) {
        const ir_type *a = &n->in[0]->type;
        return 2 * out * (a->rank >= 2 ? a->dims[n->attr.matmul.transpose_a ? a->rank - 2 : a->rank - 1] : 1);
    }
    if (n->op == KL_OP_CONV2D) return 2 * out * n->in[1]->type.dims[0] * n->in[1]->type.dims[1] * n->in[1]->type.dims[2];
    if (n->op == KL_OP_CONV2D_TRANSPOSE) return 2 * ir_type_numel(&n->in[0]->type) * n->in[1]->type.dims[0] * n->in[1]->type.dims[1] * n->in[1]->type.dims[2];
    if (n->op == KL_OP_MAX_POOL || n->op == KL_OP_AVG_POOL) return out * n->attr.conv.kh * n->attr.conv.kw;
    if (op_is_reduction(n->op) || n->op == KL_OP_SOFTMAX || n->op == KL_OP_LOG_SOFTMAX) return 3 * ir_type_numel(&n->in[0]->type);
    return out;
}

static ir_node *alias_root(ir_node *n)
{
    while (n->op != KL_OP_CONST && n->op != KL_OP_PARAM && op_is_alias(n->op)) n = n->in[0];
    return n;
}

/* --split: stage of each kernel of the fused plan. */
static bool place_split(ir_graph *g, const pass_placement *pp, int *place, pass_ctx *ctx)
{
    const kl_plan *p = g->plan;
    int K = p ? p->n_kernels : 0, N = pp->n_tasks;
    if (K < N) {
        kl_diag_error(ctx->diag, "%s: --split %d: the graph has only %d kernels to place", g->source, N, K);
        return false;
    }
    double *prefix = calloc((size_t)K + 1, sizeof *prefix), *cross = calloc((size_t)K + 2, sizeof *cross);
    int *kof = calloc((size_t)g->next_id + 1, sizeof *kof), *cut = calloc((size_t)N + 1, sizeof *cut);
    if (!prefix || !cross || !kof || !cut) kl_die(__FILE__, __LINE__, "out of memory");
    for (int i = 0; i <= g->next_id; i++) kof[i] = -1;
    for (int j = 0; j < K; j++) {
        const kl_kernel *k = &p->kernels[j];
        double c = (double)ir_type_bytes(&k->root->type);
        for (int m = 0; m < k->n_members; m++) c += (double)node_flops(k->members[m]), kof[k->members[m]->id] = j;
        for (int i = 0; i < k->n_inputs; i++) c += (double)ir_type_bytes(&k->inputs[i]->type);
        prefix[j + 1] = prefix[j] + c;
    }
    /* bytes live across the cut before kernel c: values defined by a kernel < c, read by one >= c */
    int *last = calloc((size_t)g->next_id + 1, sizeof *last);
    if (!last) kl_die(__FILE__, __LINE__, "out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        int at = kof[n->id];
        if (at < 0) continue;
        for (int k = 0; k < n->n_in; k++) {
            ir_node *s = alias_root(n->in[k]);
            if (kof[s->id] >= 0 && kof[s->id] != at && at > last[s->id]) last[s->id] = at;
        }
    }
    for (int j = 0; j < K; j++) {
        ir_node *r = p->kernels[j].root;
        if (last[r->id] > j) cross[j + 1] += (double)ir_type_bytes(&r->type), cross[last[r->id] + 1] -= (double)ir_type_bytes(&r->type);
    }
    for (int c = 1; c <= K; c++) cross[c] += cross[c - 1];
    double total = prefix[K], stage = total / N;
    cut[0] = 0, cut[N] = K;
    for (int b = 1; b < N; b++) {
        double ideal = stage * b;
        int best = -1;
        for (int c = cut[b - 1] + 1; c <= K - (N - b); c++) {
            double off = prefix[c] > ideal ? prefix[c] - ideal : ideal - prefix[c];
            if (off > 0.15 * stage) continue;
            if (best < 0 || cross[c] < cross[best]) best = c;
        }
        if (best < 0) { /* no cut near the ideal point: the closest one */
            for (int c = cut[b - 1] + 1; c <= K - (N - b); c++) {
                double off = prefix[c] > ideal ? prefix[c] - ideal : ideal - prefix[c];
                double ob = best < 0 ? 0 : prefix[best] > ideal ? prefix[best] - ideal : ideal - prefix[best];
                if (best < 0 || off < ob) best = c;
            }
        }
        cut[b] = best;
        pass_count(ctx, "partition", "bytes across cuts", (long)cross[best]);
    }
    for (int b = 0; b < N; b++)
        for (int j = cut[b]; j < cut[b + 1]; j++)
            for (int m = 0; m < p->kernels[j].n_members; m++) place[p->kernels[j].members[m]->id] = b;
    free(prefix), free(cross), free(kof), free(cut), free(last);
    return true;
}

static bool place_rules(ir_graph *g, const pass_placement *pp, int *place, pass_ctx *ctx)
{
    bool ok = true;
    for (int r = 0; r < pp->n_rules; r++) {
        const char *rule = pp->rules[r], *eq = strrchr(rule, '=');
        char *end = NULL;
        long t = eq ? strtol(eq + 1, &end, 10) : -1;
        if (!eq || eq == rule || !eq[1] || *end) {
            kl_diag_error(ctx->diag, "--place '%s': a rule is GLOB=TASK (node-name pattern, task index)", rule);
            ok = false;
            continue;
        }
        if (t < 0 || t >= pp->n_tasks) {
            kl_diag_error(ctx->diag, "--place '%s': task %ld is out of range (0..%d for %d tasks)", rule, t, pp->n_tasks - 1, pp->n_tasks);
            ok = false;
            continue;
        }
        char *pat = strndup(rule, (size_t)(eq - rule));
        if (!pat) kl_die(__FILE__, __LINE__, "out of memory");
        int matched = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            ir_node *n = g->nodes[i];
            if (!n->name || fnmatch(pat, n->name, 0)) continue;
            matched++;
            if (placeable(n) && place[n->id] < 0) place[n->id] = (int)t;
        }
        if (!matched) {
            kl_diag_error(ctx->diag, "%s: --place '%s': the pattern '%s' matches no node of the graph", g->source, rule, pat);
            ok = false;
        }
        free(pat);
    }
    return ok;
}

/* "/job:worker/task:1/device:CPU:0" -> "worker" and 1; false without a task. */
static bool parse_device(const char *dev, char *job, size_t jn, long *task)
{
    const char *j = strstr(dev, "/job:"), *t = strstr(dev, "/task:");
    if (!t) return false;
    *task = strtol(t + 6, NULL, 10);
    size_t n = 0;
    if (j)
        for (j += 5; j[n] && j[n] != '/' && n + 1 < jn; n++) job[n] = j[n];
    job[n] = 0;
    return true;
}

typedef struct devtask {
    char job[64];
    long task;
} devtask;

static int devtask_cmp(const void *a, const void *b)
{
    const devtask *x = a, *y = b;
    int c = strcmp(x->job, y->job);
    return c ? c : (x->task > y->task) - (x->task < y->task);
}

static bool place_devices(ir_graph *g, const pass_placement *pp, int *place, pass_ctx *ctx)
{
    devtask *dt = calloc((size_t)g->n_nodes + 1, sizeof *dt);
    int *which = calloc((size_t)g->next_id + 1, sizeof *which);
    if (!dt || !which) kl_die(__FILE__, __LINE__, "out of memory");
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *x = g->nodes[i];
        which[x->id] = -1;
        const char *dev = placeable(x) && x->name ? pp->device_of(pp->device_ctx, x->name) : NULL;
        devtask d = {{0}, 0};
        if (!dev || !*dev || !parse_device(dev, d.job, sizeof d.job, &d.task)) continue;
        int k = 0;
        while (k < n && devtask_cmp(&dt[k], &d)) k++;
        if (k == n) dt[n++] = d;
        which[x->id] = k;
    }
    bool ok = true;
    if (!n) {
        kl_diag_error(ctx->diag, "%s: no node the fetches need has a device field naming a task (/job:J/task:K): "
                                 "place with --place GLOB=TASK or --split N", g->source);
        ok = false;
    } else if (n != pp->n_tasks) {
        char list[512] = "";
        for (int k = 0; k < n && strlen(list) < 400; k++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s/job:%s/task:%ld", k ? ", " : "", dt[k].job, dt[k].task);
        kl_diag_error(ctx->diag, "%s: the device fields name %d tasks (%s) but the run has %d", g->source, n, list, pp->n_tasks);
        ok = false;
    }
    if (ok) {
        devtask *sorted = malloc(sizeof *sorted * (size_t)n);
        int *rank = malloc(sizeof *rank * (size_t)n);
        if (!sorted || !rank) kl_die(__FILE__, __LINE__, "out of memory");
        memcpy(sorted, dt, sizeof *sorted * (size_t)n);
        qsort(sorted, (size_t)n, sizeof *sorted, devtask_cmp);
        for (int k = 0; k < n; k++)
            for (int s = 0; s < n; s++)
                if (!devtask_cmp(&dt[k], &sorted[s])) rank[k] = s;
        for (int i = 0; i < g->n_nodes; i++)
            if (which[g->nodes[i]->id] >= 0) place[g->nodes[i]->id] = rank[which[g->nodes[i]->id]];
        free(sorted), free(rank);
    }
    free(dt), free(which);
    return ok;
}

/* Nodes no rule placed: first placed operand, else first placed user, else 0. */
static void inherit(ir_graph *g, int *place)
{
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        if (!placeable(n) || place[n->id] >= 0) continue;
        for (int k = 0; k < n->n_in && place[n->id] < 0; k++) place[n->id] = place[n->in[k]->id];
    }
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        ir_node *n = g->nodes[i];
        for (int k = 0; k < n->n_in; k++) {
            ir_node *o = n->in[k];
            if (placeable(o) && place[o->id] < 0 && place[n->id] >= 0) place[o->id] = place[n->id];
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        if (placeable(n) && place[n->id] < 0) place[n->id] = 0;
        if (n->op == KL_OP_GET) place[n->id] = place[n->in[0]->id]; /* written by its while/if */
    }
}

/* A cycle among tasks, named by one producer/consumer pair per edge. */
static bool check_cycles(ir_graph *g, int N, const int *place, pass_ctx *ctx)
{
    ir_node **ex_from = calloc((size_t)N * N, sizeof *ex_from), **ex_to = calloc((size_t)N * N, sizeof *ex_to);
    int *state = calloc((size_t)N, sizeof *state), *stack = calloc((size_t)N + 1, sizeof *stack), *it = calloc((size_t)N, sizeof *it);
    if (!ex_from || !ex_to || !state || !stack || !it) kl_die(__FILE__, __LINE__, "out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *u = g->nodes[i];
        if (!placeable(u)) continue;
        for (int k = 0; k < u->n_in; k++) {
            ir_node *p = u->in[k];
            if (!placeable(p) || place[p->id] == place[u->id]) continue;
            int e = place[p->id] * N + place[u->id];
            if (!ex_from[e]) ex_from[e] = p, ex_to[e] = u;
        }
    }
    bool ok = true;
    for (int s = 0; s < N && ok; s++) { /* iterative DFS; state 1 = on the stack */
        if (state[s]) continue;
        int sp = 0;
        stack[sp++] = s, state[s] = 1, it[s] = 0;
        while (sp && ok) {
            int v = stack[sp - 1];
            if (it[v] == N) {
                state[v] = 2, sp--;
                continue;
            }
            int w = it[v]++;
            if (!ex_from[v * N + w]) continue;
            if (state[w] == 1) {
                char msg[1024];
                size_t at = 0;
                int from = 0;
                while (stack[from] != w) from++;
                for (int q = from; q < sp && at < 800; q++) {
                    int a = stack[q], b = q + 1 < sp ? stack[q + 1] : w;
                    at += (size_t)snprintf(msg + at, sizeof msg - at, "%stask %d -> task %d ('%s' feeds '%s')", q > from ? ", " : "",
                                           a, b, nm(ex_from[a * N + b]), nm(ex_to[a * N + b]));
                }
                kl_diag_error(ctx->diag, "%s: the placement has a cycle between tasks: %s; place these nodes so values flow one way", g->source, msg);
                ok = false;
            } else if (!state[w]) {
                stack[sp++] = w, state[w] = 1, it[w] = 0;
            }
        }
    }
    free(ex_from), free(ex_to), free(state), free(stack), free(it);
    return ok;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) { /* word at a time: weights are large */
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

uint64_t pass_fingerprint(const ir_graph *g, int N, const int *place, const int *pos)
{
    uint64_t h = fnv(0xcbf29ce484222325ull, &N, sizeof N);
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        int head[4] = {(int)n->op, (int)n->type.dtype, n->type.rank, place && placeable(n) ? place[n->id] : -1};
        h = fnv(h, head, sizeof head);
        h = fnv(h, n->type.dims, sizeof(int64_t) * (size_t)n->type.rank);
        ir_attr a = ir_attr_normalize(n->op, &n->attr);
        h = fnv(h, &a, sizeof a);
        for (int k = 0; k < n->n_in; k++) h = fnv(h, &pos[n->in[k]->id], sizeof(int));
        if (n->op == KL_OP_CONST) h = fnv(h, n->data, ir_type_bytes(&n->type));
    }
    for (int i = 0; i < g->n_results; i++) h = fnv(h, &pos[g->results[i].node->id], sizeof(int));
    return h;
}

typedef struct crossing {
    ir_node *value, *recv, *send;
    int src, dst, key, first_user; /* first_user: position of the first reader on dst (n_nodes: a fetch only) */
} crossing;

bool pass_partition(ir_graph *g, pass_ctx *ctx)
{
    const pass_placement *pp = ctx->partition;
    if (!pp || pp->n_tasks < 1) return false;
    int N = pp->n_tasks, T = pp->task;
    for (int i = 0; g->result_var && i < g->n_results; i++)
        if (g->result_var[i] >= 0) {
            kl_diag_error(ctx->diag, "%s: the graph writes variables: pipeline placement of training graphs is not "
                                     "supported; train data-parallel (kiln run --data-parallel, docs/distributed.md)", g->source);
            return false;
        }
    if (T < 0 || T >= N) {
        kl_diag_error(ctx->diag, "%s: --task %d is out of range (0..%d for %d tasks)", g->source, T, N - 1, N);
        return false;
    }
    size_t ids = (size_t)g->next_id + 1;
    int *place = malloc(ids * sizeof *place), *pos = malloc(ids * sizeof *pos);
    if (!place || !pos) kl_die(__FILE__, __LINE__, "out of memory");
    for (size_t i = 0; i < ids; i++) place[i] = -1;
    for (int i = 0; i < g->n_nodes; i++) pos[g->nodes[i]->id] = i;
    bool ok = pp->split ? place_split(g, pp, place, ctx)
              : pp->n_rules ? place_rules(g, pp, place, ctx)
              : pp->device_of ? place_devices(g, pp, place, ctx)
              : (kl_diag_error(ctx->diag, "%s: distributed run without a placement: give --split N, --place GLOB=TASK or "
                                          "devices in the graph", g->source), false);
    if (ok) inherit(g, place);
    if (ok) ok = check_cycles(g, N, place, ctx);
    if (!ok) {
        free(place), free(pos);
        return false;
    }
    int F = pp->fetch_task;
    if (F < 0 || F >= N) {
        kl_diag_error(ctx->diag, "%s: the fetches' task %d is out of range (0..%d for %d tasks)", g->source, F, N - 1, N);
        free(place), free(pos);
        return false;
    }
    g->dist_fingerprint = pass_fingerprint(g, N, place, pos);
    if (F) g->dist_fingerprint = fnv(g->dist_fingerprint, &F, sizeof F); /* task 0 (the default) keeps the old fingerprints */
    g->dist_task = T, g->dist_tasks = N;

    /* Crossings in node order, then destination task: the same list on every task. */
    int n0 = g->n_nodes, nc = 0, cap = 16;
    crossing *cr = malloc(sizeof *cr * (size_t)cap);
    unsigned char *reads = calloc((size_t)N, 1);
    int *first = malloc(sizeof *first * (size_t)N);
    if (!cr || !reads || !first) kl_die(__FILE__, __LINE__, "out of memory");
    for (int i = 0; i < n0; i++) {
        ir_node *p = g->nodes[i];
        if (!placeable(p)) continue;
        memset(reads, 0, (size_t)N);
        for (int t = 0; t < N; t++) first[t] = n0;
        for (int j = i + 1; j < n0; j++) {
            ir_node *u = g->nodes[j];
            if (!placeable(u) || place[u->id] == place[p->id]) continue;
            for (int k = 0; k < u->n_in; k++)
                if (u->in[k] == p && !reads[place[u->id]]) reads[place[u->id]] = 1, first[place[u->id]] = j;
        }
        for (int r = 0; r < g->n_results; r++)
            if (g->results[r].node == p && place[p->id] != F) reads[F] = 1;
        for (int t = 0; t < N; t++) {
            if (!reads[t]) continue;
            if (nc == cap) {
                crossing *m = realloc(cr, sizeof *cr * (size_t)(cap *= 2));
                if (!m) kl_die(__FILE__, __LINE__, "out of memory");
                cr = m;
            }
            cr[nc] = (crossing){p, NULL, NULL, place[p->id], t, nc, first[t]};
            nc++;
        }
    }
    free(reads), free(first);
    pass_count(ctx, "partition", "crossing values", nc);

    /* This task's sends and recvs. */
    long sent = 0;
    for (int c = 0; c < nc; c++) {
        crossing *x = &cr[c];
        ir_attr a;
        memset(&a, 0, sizeof a);
        a.comm.key = x->key;
        if (x->src == T) {
            a.comm.peer = x->dst;
            ir_type tok = ir_type_make(KL_I32, 0, NULL);
            x->send = ir_node_new(g, KL_OP_SEND, 1, &x->value, &a, &tok, x->value->name, ctx->diag);
            sent += (long)ir_type_bytes(&x->value->type);
            pass_count(ctx, "partition", "sends", 1);
        } else if (x->dst == T) {
            a.comm.peer = x->src;
            x->recv = ir_node_new(g, KL_OP_RECV, 0, NULL, &a, &x->value->type, x->value->name, ctx->diag);
            pass_count(ctx, "partition", "recvs", 1);
        }
        if ((x->src == T && !x->send) || (x->dst == T && !x->recv)) ok = false;
    }
    pass_count(ctx, "partition", "bytes sent", sent);
    if (ok) {
        /* readers on this task read the recv; fetches are task F's */
        for (int c = 0; c < nc; c++) {
            crossing *x = &cr[c];
            if (!x->recv) continue;
            for (int j = 0; j < n0; j++) {
                ir_node *u = g->nodes[j];
                if (!placeable(u) || place[u->id] != T) continue;
                for (int k = 0; k < u->n_in; k++)
                    if (u->in[k] == x->value) u->in[k] = x->recv;
            }
            for (int r = 0; T == F && r < g->n_results; r++)
                if (g->results[r].node == x->value) g->results[r].node = x->recv;
        }
        if (T != F) g->n_results = 0;
        /* New order: recvs right before their first reader, sends right after their value. */
        ir_node **order = malloc(sizeof *order * (size_t)g->n_nodes);
        if (!order) kl_die(__FILE__, __LINE__, "out of memory");
        int k = 0;
        for (int j = 0; j <= n0; j++) {
            for (int c = 0; c < nc; c++)
                if (cr[c].recv && cr[c].first_user == j) order[k++] = cr[c].recv;
            if (j == n0) break;
            ir_node *n = g->nodes[j];
            if (placeable(n) && place[n->id] != T) continue;
            order[k++] = n;
            for (int c = 0; c < nc; c++)
                if (cr[c].send && cr[c].value == n) order[k++] = cr[c].send;
        }
        memcpy(g->nodes, order, sizeof *order * (size_t)k);
        g->n_nodes = k;
        free(order);
        for (int j = 0; j < g->n_nodes; j++) g->nodes[j]->kernel = NULL; /* fuse plans this task afresh */
        g->plan = NULL;
    }
    free(cr), free(place), free(pos);
    return ok;
}
