/* tests/test_partition.c — passes/partition.c and passes/allreduce.c on
 * small IR graphs (docs/distributed.md): each task keeps its nodes, sends
 * follow their value and recvs precede their reader with matching keys,
 * fetches come from task 0, fingerprints agree across tasks and differ
 * across placements, placement errors name the nodes; DCE/CSE/fold leave
 * send/recv alone; one allreduce for several gradients, or buckets each
 * started after its gradient and waited for after every start. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"

/* x -> a = exp(x) -> b = tanh(a) -> c = a + b -> y, named a, b, c.  A
 * node no rule names takes its first placed operand's task (params are on
 * every task, so they do not count), else its first placed user's. */
static const char *chain = "graph \"chain\" {\n"
                           "  %0 = param 0 : f32[8] @\"x\"\n"
                           "  %1 = exp %0 : f32[8] @\"a\"\n"
                           "  %2 = tanh %1 : f32[8] @\"b\"\n"
                           "  %3 = add %1, %2 : f32[8] @\"c\"\n"
                           "  result %3 @\"y\"\n"
                           "}\n";

static ir_graph *place(const char *text, int task, const char *const *rules, int n_rules, kl_diag *d)
{
    ir_graph *g = ir_parse(text, "chain.kir", d);
    cr_assert_not_null(g, "%s", d->text);
    pass_placement pp = {.n_tasks = 2, .task = task, .rules = rules, .n_rules = n_rules};
    pass_ctx ctx = {.diag = d, .opt_level = 0, .verify_each = true, .partition = &pp};
    if (!pass_run_pipeline(g, &ctx)) {
        ir_graph_free(g);
        return NULL;
    }
    return g;
}

static ir_node *find(ir_graph *g, kl_op op, int *pos)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == op) return *pos = i, g->nodes[i];
    return NULL;
}

static bool has_text(const char *hay, const char *needle) { return hay && strstr(hay, needle); }

Test(partition, sends_and_recvs_match_across_tasks)
{
    const char *rules[] = {"a=0", "b=1", "c=1"};
    kl_diag d = {0};
    ir_graph *t0 = place(chain, 0, rules, 3, &d), *t1 = place(chain, 1, rules, 3, &d);
    cr_assert(t0 && t1, "%s", d.text);
    int ps0 = -1, pr0 = -1, ps1 = -1, pr1 = -1;
    ir_node *s0 = find(t0, KL_OP_SEND, &ps0), *r0 = find(t0, KL_OP_RECV, &pr0);
    ir_node *s1 = find(t1, KL_OP_SEND, &ps1), *r1 = find(t1, KL_OP_RECV, &pr1);
    cr_assert(s0 && r0 && s1 && r1, "each task sends one value and receives one");
    /* a crosses 0 -> 1 once (b and c both read it), c crosses back as the fetch */
    cr_assert_eq(s0->attr.comm.key, r1->attr.comm.key);
    cr_assert_eq(s1->attr.comm.key, r0->attr.comm.key);
    cr_assert_neq(s0->attr.comm.key, s1->attr.comm.key);
    cr_assert_eq(s0->attr.comm.peer, 1);
    cr_assert_eq(r1->attr.comm.peer, 0);
    cr_assert_str_eq(s0->in[0]->name, "a");
    cr_assert_str_eq(s1->in[0]->name, "c");
    /* the send right after its value; the recv before its first reader */
    cr_assert_eq(t0->nodes[ps0 - 1], s0->in[0]);
    cr_assert_str_eq(t1->nodes[pr1 + 1]->name, "b");
    /* task 0 returns the fetch (the recv of c); task 1 has none but keeps its nodes */
    cr_assert_eq(t0->n_results, 1);
    ir_node *y = t0->results[0].node;
    cr_assert(y == r0 || (y->op == KL_OP_COPY && y->in[0] == r0), "the fetch is the recv");
    cr_assert_eq(t1->n_results, 0);
    int pb = -1;
    cr_assert_not_null(find(t1, KL_OP_TANH, &pb), "dce kept what the send needs");
    cr_assert_eq(t0->dist_fingerprint, t1->dist_fingerprint);
    cr_assert(t0->dist_tasks == 2 && t0->dist_task == 0 && t1->dist_task == 1);
    const char *other[] = {"a=0", "c=1"};
    ir_graph *t2 = place(chain, 0, other, 2, &d);
    cr_assert_not_null(t2, "%s", d.text);
    cr_assert_neq(t2->dist_fingerprint, t0->dist_fingerprint, "another placement, another fingerprint");
    ir_graph_free(t0), ir_graph_free(t1), ir_graph_free(t2);
}

Test(partition, placement_errors_name_the_nodes)
{
    struct { const char *rule, *want; } cases[] = {
        {"zzz*=1", "the pattern 'zzz*' matches no node"},
        {"b=5", "task 5 is out of range (0..1 for 2 tasks)"},
        {"b", "a rule is GLOB=TASK"},
        /* b on 1; c reads a (task 0) first, so c is on 0: 0 -> 1 -> 0 */
        {"b=1", "cycle between tasks: task 0 -> task 1 ('a' feeds 'b'), task 1 -> task 0 ('b' feeds 'c')"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        kl_diag d = {0};
        const char *rules[] = {cases[i].rule, "a=0"};
        ir_graph *g = place(chain, 0, rules, 2, &d);
        cr_assert_null(g, "rule %s: accepted", cases[i].rule);
        cr_assert(has_text(d.text, cases[i].want), "rule %s: got '%s'", cases[i].rule, d.text ? d.text : "");
        kl_diag_clear(&d);
    }
}

Test(partition, fold_and_cse_leave_send_and_recv_alone)
{
    const char *text = "graph \"comm\" {\n"
                       "  %0 = const : f32[2] [1, 2]\n"
                       "  %1 = send %0 {key=0, peer=1} : i32[]\n"
                       "  %2 = send %0 {key=0, peer=1} : i32[]\n"
                       "  %3 = recv {key=1, peer=1} : f32[2]\n"
                       "  %4 = recv {key=1, peer=1} : f32[2]\n"
                       "  %5 = add %3, %4 : f32[2]\n"
                       "  result %5 @\"y\"\n"
                       "}\n";
    kl_diag d = {0};
    ir_graph *g = ir_parse(text, "comm.kir", &d);
    cr_assert_not_null(g, "%s", d.text);
    pass_ctx ctx = {.diag = &d, .opt_level = 1};
    pass_fold(g, &ctx), pass_cse(g, &ctx), pass_dce(g, &ctx);
    int sends = 0, recvs = 0;
    for (int i = 0; i < g->n_nodes; i++) sends += g->nodes[i]->op == KL_OP_SEND, recvs += g->nodes[i]->op == KL_OP_RECV;
    cr_assert_eq(sends, 2, "sends are effects: kept, never merged or folded");
    cr_assert_eq(recvs, 2, "recvs are effects: never merged");
    ir_graph_free(g);
}

Test(partition, one_allreduce_for_all_gradients)
{
    const char *text = "graph \"dp\" {\n"
                       "  %0 = param 0 : f32[4,3] @\"g1\"\n"
                       "  %1 = param 1 : f32[5] @\"g2\"\n"
                       "  %2 = allreduce %0 : f32[4,3]\n"
                       "  %3 = allreduce %1 : f32[5]\n"
                       "  %4 = neg %2 : f32[4,3]\n"
                       "  %5 = neg %3 : f32[5]\n"
                       "  result %4 @\"a\"\n"
                       "  result %5 @\"b\"\n"
                       "}\n";
    kl_diag d = {0};
    ir_graph *g = ir_parse(text, "dp.kir", &d);
    cr_assert_not_null(g, "%s", d.text);
    pass_ctx ctx = {.diag = &d, .opt_level = 0, .verify_each = true};
    cr_assert(pass_run_pipeline(g, &ctx), "%s", d.text);
    int n = 0, pos = -1;
    for (int i = 0; i < g->n_nodes; i++) n += g->nodes[i]->op == KL_OP_ALLREDUCE;
    cr_assert_eq(n, 1, "two gradients, one allreduce");
    ir_node *ar = find(g, KL_OP_ALLREDUCE, &pos);
    cr_assert_eq(ar->type.dims[0], 17);
    cr_assert_eq(ar->in[0]->op, KL_OP_CONCAT);
    ir_graph_free(g);
}

/* Buckets (ctx.allreduce_bucket_bytes): gradients g1, g2, g3 computed one
 * after the other (g3 needs g2 needs g1, as backprop's chain); 16-byte
 * buckets put each in its own: a start right after each gradient (before
 * the next is computed), every wait after every start, keys 0..2 of 3. */
Test(partition, buckets_start_after_their_gradient_and_wait_after_every_start)
{
    const char *text = "graph \"dp\" {\n"
                       "  %0 = param 0 : f32[4] @\"x\"\n"
                       "  %1 = exp %0 : f32[4] @\"g1\"\n"
                       "  %2 = tanh %1 : f32[4] @\"g2\"\n"
                       "  %3 = sin %2 : f32[4] @\"g3\"\n"
                       "  %4 = allreduce %1 : f32[4]\n"
                       "  %5 = allreduce %2 : f32[4]\n"
                       "  %6 = allreduce %3 : f32[4]\n"
                       "  %7 = neg %4 : f32[4]\n"
                       "  %8 = neg %5 : f32[4]\n"
                       "  %9 = neg %6 : f32[4]\n"
                       "  result %7 @\"a\"\n"
                       "  result %8 @\"b\"\n"
                       "  result %9 @\"c\"\n"
                       "}\n";
    kl_diag d = {0};
    ir_graph *g = ir_parse(text, "dp.kir", &d);
    cr_assert_not_null(g, "%s", d.text);
    pass_ctx ctx = {.diag = &d, .opt_level = 0, .verify_each = true, .allreduce_bucket_bytes = 16};
    cr_assert(pass_run_pipeline(g, &ctx), "%s", d.text);
    int starts = 0, waits = 0, last_start = -1, first_wait = g->n_nodes, grad_pos[3] = {-1, -1, -1}, start_pos[3] = {-1, -1, -1};
    const char *names[3] = {"g1", "g2", "g3"};
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = g->nodes[i];
        cr_assert_neq(n->op, KL_OP_ALLREDUCE, "no one-call allreduce with buckets");
        if (n->op == KL_OP_ALLREDUCE_START) {
            cr_assert_eq(n->attr.comm.peer, 3);
            cr_assert(n->attr.comm.key >= 0 && n->attr.comm.key < 3);
            start_pos[n->attr.comm.key] = i, last_start = i, starts++;
        }
        if (n->op == KL_OP_ALLREDUCE_WAIT) {
            waits++;
            if (i < first_wait) first_wait = i;
            cr_assert_eq(n->in[0]->op, KL_OP_ALLREDUCE_START, "a wait reads its start");
        }
        for (int k = 0; k < 3; k++)
            if (n->name && !strcmp(n->name, names[k]) && n->op != KL_OP_RESHAPE) grad_pos[k] = i;
    }
    cr_assert_eq(starts, 3);
    cr_assert_eq(waits, 3);
    cr_assert_lt(last_start, first_wait, "every wait after every start");
    for (int k = 0; k < 3; k++) cr_assert(grad_pos[k] >= 0 && start_pos[k] > grad_pos[k], "bucket %d starts after its gradient", k);
    cr_assert_lt(start_pos[0], grad_pos[1], "bucket 0 starts before g2 is computed");
    cr_assert_lt(start_pos[1], grad_pos[2], "bucket 1 starts before g3 is computed");
    ir_graph_free(g);
}
