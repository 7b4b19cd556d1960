/* tests/test_passes.c — pass tests as text files, MLIR style.
 *
 * Each tests/passes/NAME.kir holds IR in the text format (docs/ir-format.md)
 * plus directives in comments:
 *   // RUN: fold,dce            passes to run, in order (-O level: "// OPT: 0")
 *   // CHECK: text             must appear in the printed result, in order
 *   // CHECK-NOT: text         must not appear between the previous CHECK and the next
 *   // ERROR: text             the passes must fail with a message containing text
 * The result is printed with IR_PRINT_PLAN, so plan annotations can be checked.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/plan.h"
#include "passes/passes.h"

#define PASS_DIR KILN_SOURCE_DIR "/tests/passes"

typedef struct kir_case {
    char name[128];
} kir_case;

static int by_name(const void *a, const void *b) { return strcmp(a, b); }

static void free_params(struct criterion_test_params *p) { cr_free(p->params); }

ParameterizedTestParameters(passes, text)
{
    static kir_case found[256];
    int n = 0;
    DIR *d = opendir(PASS_DIR);
    for (struct dirent *e; d && (e = readdir(d)) && n < 256;) {
        size_t len = strlen(e->d_name);
        if (len > 4 && !strcmp(e->d_name + len - 4, ".kir")) snprintf(found[n++].name, 128, "%s", e->d_name);
    }
    if (d) closedir(d);
    qsort(found, (size_t)n, sizeof *found, by_name);
    kir_case *p = cr_malloc(sizeof *p * (size_t)(n + 1));
    memcpy(p, found, sizeof *p * (size_t)n);
    return cr_make_param_array(kir_case, p, (size_t)n, free_params);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    s[fread(s, 1, (size_t)n, f)] = 0;
    fclose(f);
    return s;
}

/* The text after "// KEY: " on the line starting at p, copied to out. */
static bool directive(const char *line, const char *key, char *out, size_t n)
{
    char one[512];
    snprintf(one, sizeof one, "%.*s", (int)strcspn(line, "\n"), line);
    const char *k = strstr(one, key);
    if (!k || strncmp(one, "//", 2)) return false;
    k += strlen(key);
    while (*k == ' ') k++;
    size_t len = strcspn(k, "\n");
    snprintf(out, n, "%.*s", (int)len, k);
    return true;
}

static void run_passes(ir_graph *g, const char *list, pass_ctx *ctx)
{
    char names[256];
    snprintf(names, sizeof names, "%s", list);
    for (char *name = strtok(names, ", "); name; name = strtok(NULL, ", ")) {
        pass_fn fn = pass_by_name(name);
        cr_assert(fn, "unknown pass '%s' (passes: %s)", name, pass_names());
        pass_run_nested(g, ctx, fn);
        if (!kl_diag_ok(ctx->diag)) return;
        cr_assert(ir_verify(g, ctx->diag), "IR invalid after %s: %s", name, ctx->diag->text);
    }
}

ParameterizedTest(kir_case *c, passes, text)
{
    char path[512], run[256] = "", opt[16] = "2", want_error[256] = "";
    snprintf(path, sizeof path, PASS_DIR "/%s", c->name);
    char *text = read_file(path);
    cr_assert(text, "cannot read %s", path);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        directive(l, "RUN:", run, sizeof run);
        directive(l, "OPT:", opt, sizeof opt);
        directive(l, "ERROR:", want_error, sizeof want_error);
    }
    kl_diag d = {0};
    ir_graph *g = ir_parse(text, c->name, &d);
    cr_assert(g, "%s: parse failed: %s", c->name, d.text);
    /* the golden plans are AVX-512's: 16 lanes, 32 registers */
    pass_ctx ctx = {.diag = &d, .opt_level = atoi(opt), .vector_floats = 16, .vector_regs = 32};
    run_passes(g, run, &ctx);
    if (want_error[0]) {
        cr_assert(!kl_diag_ok(&d) && strstr(d.text, want_error), "%s: expected error '%s', got: %s", c->name,
                  want_error, d.text ? d.text : "(none)");
        ir_graph_free(g);
        free(text);
        kl_diag_clear(&d);
        return;
    }
    cr_assert(kl_diag_ok(&d), "%s: %s", c->name, d.text);
    char *out = NULL;
    size_t out_len = 0;
    FILE *mem = open_memstream(&out, &out_len);
    ir_print(g, mem, IR_PRINT_PLAN | IR_PRINT_FULL_CONSTS);
    fclose(mem);
    const char *at = out, *not_text = NULL;
    char want[512];
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (directive(l, "CHECK-NOT:", want, sizeof want)) {
            not_text = strdup(want);
        } else if (directive(l, "CHECK:", want, sizeof want)) {
            const char *hit = strstr(at, want);
            cr_assert(hit, "%s: CHECK not found after position %ld: '%s'\n--- output:\n%s", c->name, (long)(at - out),
                      want, out);
            if (not_text) {
                char *region = strndup(at, (size_t)(hit - at));
                cr_assert(!strstr(region, not_text), "%s: CHECK-NOT '%s' found\n--- output:\n%s", c->name, not_text, out);
                free(region);
                free((void *)not_text);
                not_text = NULL;
            }
            at = hit + strlen(want);
        }
    }
    if (not_text) {
        cr_assert(!strstr(at, not_text), "%s: CHECK-NOT '%s' found\n--- output:\n%s", c->name, not_text, out);
        free((void *)not_text);
    }
    free(out);
    ir_graph_free(g);
    free(text);
    kl_diag_clear(&d);
}

/* The plan (ir/plan.h) is what codegen reads, so the verifier holds it to
 * the nodes: a kernel changed without rebuilding the plan is caught. */
Test(passes, the_plan_follows_the_nodes_and_a_stale_one_is_caught)
{
    kl_diag d = {0};
    ir_graph *g = ir_parse("graph \"stale\" {\n  %0 = param 0 : f32[16]\n  %1 = exp %0 : f32[16]\n"
                           "  %2 = tanh %1 : f32[16]\n  result %2\n}\n", "stale", &d);
    cr_assert(g, "%s", d.text);
    pass_ctx ctx = {.diag = &d, .opt_level = 2, .vector_floats = 16, .vector_regs = 32};
    pass_fuse(g, &ctx);
    pass_bufassign(g, &ctx);
    cr_assert(ir_verify(g, &d), "%s", d.text);
    const kl_plan *p = g->plan;
    cr_assert(p && p->n_kernels == 1, "one kernel: exp fused into tanh");
    const kl_kernel *k = &p->kernels[0];
    cr_assert(k->root == g->nodes[2] && k->n_members == 2 && k->members[0] == g->nodes[1] && k->members[1] == g->nodes[2]);
    cr_assert(k->n_inputs == 1 && k->inputs[0] == g->nodes[0] && !k->contraction);
    cr_assert(ir_plan_kernel_of(p, g->nodes[1]) == k && !ir_plan_kernel_of(p, g->nodes[0]));
    /* exp made a kernel of its own, stored, but the plan not rebuilt */
    ir_node *e = g->nodes[1];
    e->kernel = e, e->store = IR_STORE_TEMP, e->offset = 0, g->temp_size = 64;
    cr_assert(!ir_verify(g, &d));
    cr_assert(strstr(d.text, "node %1 '' (exp): plan: in the plan's kernel %2, fused into %1"), "%s", d.text);
    cr_assert(strstr(d.text, "plan: 1 kernels, the graph has 2 roots"), "%s", d.text);
    kl_diag_clear(&d);
    ir_plan_build(g);
    cr_assert(ir_verify(g, &d), "%s", d.text);
    cr_assert(g->plan->n_kernels == 2 && g->plan->kernels[1].n_inputs == 1 && g->plan->kernels[1].inputs[0] == e);
    ir_graph_free(g);
    kl_diag_clear(&d);
}
