/* ir/einsum.c — Einsum as transposes, reshapes, reductions and batched
 * matmuls (TensorFlow's Einsum and ONNX's share it).
 *
 * The equation is normalized first: "..." becomes one label per broadcast
 * dimension (right-aligned across operands, as numpy does), and without
 * "->" the output is the ellipsis then the letters used once, sorted.
 * Then, per operand, a repeated letter takes the diagonal (the two axes
 * moved last, merged, and sliced with stride n + 1), and a letter no other
 * operand and not the output uses is summed away.  Operands are contracted
 * left to right: letters in both and still needed (by the output or a later
 * operand) are batch, in both only are contracted, in one are free; the
 * pair becomes [batch, M, K] x [batch, K, N].  A last transpose puts the
 * letters in the output's order.
 */
#include <stdio.h>
#include <string.h>

#include "ir.h"

#define MAX_TERMS 8

typedef struct term {
    char l[IR_MAX_RANK];
    int n;
    ir_node *x;
} term;

typedef struct ein {
    ir_graph *g;
    const char *name;
    kl_diag *d;
    term t[MAX_TERMS];
    int nt;
    char out[IR_MAX_RANK];
    int no;
} ein;

static bool fail(ein *e, const char *what, const char *eq)
{
    kl_diag_error(e->d, "%s: node '%s' (einsum): %s in '%s'", e->g->source, e->name ? e->name : "", what, eq);
    return false;
}

static int find(const char *s, int n, char ch)
{
    for (int i = 0; i < n; i++)
        if (s[i] == ch) return i;
    return -1;
}

/* Letters of one side, "..." expanded to the last `ell` of the E labels. */
static bool labels(ein *e, const char *s, const char *end, int rank, int ell_total, char *out, int *n, const char *eq)
{
    int explicit_n = 0;
    bool has_ell = false;
    for (const char *p = s; p < end; p++) {
        if (*p == '.') has_ell = true, p += 2;
        else if (*p != ' ') explicit_n++;
    }
    int ell = rank < 0 ? ell_total : rank - explicit_n; /* rank < 0: the output, every ellipsis label */
    if (ell < 0 || (!has_ell && ell > 0 && rank >= 0)) return fail(e, "operand rank does not match its letters", eq);
    *n = 0;
    for (const char *p = s; p < end; p++) {
        if (*p == ' ') continue;
        if (*p == '.') {
            if (p + 2 >= end || p[1] != '.' || p[2] != '.') return fail(e, "bad ellipsis", eq);
            if (*n + ell > IR_MAX_RANK) return fail(e, "too many letters", eq);
            for (int k = ell_total - ell; k < ell_total; k++) out[(*n)++] = (char)('0' + k);
            p += 2;
        } else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
            if (*n == IR_MAX_RANK) return fail(e, "too many letters", eq);
            out[(*n)++] = *p;
        } else {
            return fail(e, "bad character", eq);
        }
        if (*n > IR_MAX_RANK) return fail(e, "too many letters", eq);
    }
    return true;
}

static bool parse(ein *e, const char *eq, ir_node *const *in, int n_in)
{
    const char *arrow = strstr(eq, "->"), *lhs_end = arrow ? arrow : eq + strlen(eq);
    const char *starts[MAX_TERMS + 1];
    int k = 0;
    starts[k++] = eq;
    for (const char *p = eq; p < lhs_end; p++)
        if (*p == ',') {
            if (k == MAX_TERMS) return fail(e, "too many operands", eq);
            starts[k++] = p + 1;
        }
    if (k != n_in) return fail(e, "the operand count differs from the equation's", eq);
    int ell_total = 0;
    for (int i = 0; i < k; i++) { /* widest ellipsis */
        const char *end = i + 1 < k ? starts[i + 1] - 1 : lhs_end;
        int letters = 0;
        bool has = false;
        for (const char *p = starts[i]; p < end; p++) {
            if (*p == '.') has = true, p += 2;
            else if (*p != ' ') letters++;
        }
        if (has && in[i]->type.rank - letters > ell_total) ell_total = in[i]->type.rank - letters;
    }
    if (ell_total > IR_MAX_RANK) return fail(e, "too many broadcast dimensions", eq);
    e->nt = k;
    for (int i = 0; i < k; i++) {
        const char *end = i + 1 < k ? starts[i + 1] - 1 : lhs_end;
        if (!labels(e, starts[i], end, in[i]->type.rank, ell_total, e->t[i].l, &e->t[i].n, eq)) return false;
        if (e->t[i].n != in[i]->type.rank) return fail(e, "operand rank does not match its letters", eq);
        e->t[i].x = in[i];
    }
    if (arrow) return labels(e, arrow + 2, arrow + strlen(arrow), -1, ell_total, e->out, &e->no, eq);
    e->no = 0; /* implicit: ellipsis, then the letters used once, in order */
    for (int j = 0; j < ell_total; j++) e->out[e->no++] = (char)('0' + j);
    for (int ch = 'A'; ch <= 'z'; ch++) {
        int uses = 0;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < e->t[i].n; j++) uses += e->t[i].l[j] == ch;
        if (uses == 1 && e->no < IR_MAX_RANK) e->out[e->no++] = (char)ch;
    }
    return true;
}

/* ---- building blocks ------------------------------------------------------ */

static ir_node *transpose_to(ein *e, term *t, const char *want)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    bool id = true;
    for (int i = 0; i < t->n; i++) {
        a.transpose.perm[i] = (int8_t)find(t->l, t->n, want[i]);
        id &= a.transpose.perm[i] == i;
    }
    memcpy(t->l, want, (size_t)t->n);
    return id ? t->x : (t->x = ir_node_folded(e->g, KL_OP_TRANSPOSE, 1, &t->x, &a, NULL, e->name, e->d));
}

static ir_node *reshape(ein *e, ir_node *x, int rank, const int64_t *dims)
{
    if (!x) return NULL;
    ir_type t = ir_type_make(x->type.dtype, rank, dims);
    return ir_node_folded(e->g, KL_OP_RESHAPE, 1, &x, NULL, &t, e->name, e->d);
}

/* Whether letter ch is needed beyond term `skip` and `skip2` (another term or the output). */
static bool needed(const ein *e, char ch, int skip, int skip2)
{
    if (find(e->out, e->no, ch) >= 0) return true;
    for (int i = 0; i < e->nt; i++)
        if (i != skip && i != skip2 && find(e->t[i].l, e->t[i].n, ch) >= 0) return true;
    return false;
}

/* x[..., i, ..., i, ...] -> x[..., i] for each repeated letter. */
static bool diagonals(ein *e, term *t)
{
    for (int p = 0; p < t->n; p++)
        for (int q = p + 1; q < t->n; q++) {
            if (t->l[p] != t->l[q]) continue;
            int64_t n = t->x->type.dims[p];
            if (t->x->type.dims[q] != n) return fail(e, "a repeated letter has two sizes", "");
            char want[IR_MAX_RANK], ch = t->l[p];
            int k = 0;
            for (int i = 0; i < t->n; i++)
                if (i != p && i != q) want[k++] = t->l[i];
            want[k] = ch, want[k + 1] = ch;
            /* transpose_to finds the first match: give the two their own names while moving */
            t->l[q] = 1, want[k + 1] = 1;
            if (!transpose_to(e, t, want)) return false;
            int64_t dims[IR_MAX_RANK];
            for (int i = 0; i < k; i++) dims[i] = t->x->type.dims[i];
            dims[k] = n * n;
            ir_node *flat = reshape(e, t->x, k + 1, dims);
            if (!flat) return false;
            ir_attr a;
            memset(&a, 0, sizeof a);
            for (int i = 0; i <= k; i++) a.slice.stride[i] = 1;
            a.slice.stride[k] = n + 1;
            dims[k] = n;
            ir_type ty = ir_type_make(flat->type.dtype, k + 1, dims);
            if (!(t->x = ir_node_folded(e->g, KL_OP_SLICE, 1, &flat, &a, &ty, e->name, e->d))) return false;
            t->n = k + 1, t->l[k] = ch;
            p = -1; /* start over: positions moved */
            break;
        }
    return true;
}

/* Sums the letters of term i that nothing else needs. */
static bool sum_unused(ein *e, int i, int other)
{
    term *t = &e->t[i];
    ir_attr r;
    memset(&r, 0, sizeof r);
    char kept[IR_MAX_RANK];
    int nk = 0;
    for (int j = 0; j < t->n; j++) {
        if (!needed(e, t->l[j], i, -1) && (other < 0 || find(e->t[other].l, e->t[other].n, t->l[j]) < 0)) r.reduce.axes |= 1u << j;
        else kept[nk++] = t->l[j];
    }
    if (!r.reduce.axes) return true;
    t->x = ir_node_folded(e->g, KL_OP_REDUCE_SUM, 1, &t->x, &r, NULL, e->name, e->d);
    memcpy(t->l, kept, (size_t)nk), t->n = nk;
    return t->x != NULL;
}

static int64_t dim_of(const term *t, char ch)
{
    int i = find(t->l, t->n, ch);
    return i < 0 ? 1 : t->x->type.dims[i];
}

/* Terms 0 and 1 -> one term (in slot 0), the rest shifted down. */
static bool contract(ein *e)
{
    term *a = &e->t[0], *b = &e->t[1];
    char batch[IR_MAX_RANK], con[IR_MAX_RANK], fa[IR_MAX_RANK], fb[IR_MAX_RANK];
    int nbt = 0, nc = 0, nfa = 0, nfb = 0;
    for (int i = 0; i < a->n; i++) {
        bool inb = find(b->l, b->n, a->l[i]) >= 0;
        if (inb && needed(e, a->l[i], 0, 1)) batch[nbt++] = a->l[i];
        else if (inb) con[nc++] = a->l[i];
        else fa[nfa++] = a->l[i];
    }
    for (int i = 0; i < b->n; i++)
        if (find(a->l, a->n, b->l[i]) < 0) fb[nfb++] = b->l[i];
    if (nbt + 2 > IR_MAX_RANK || nbt + nfa + nfb > IR_MAX_RANK) return fail(e, "too many letters", "");
    char wa[IR_MAX_RANK], wb[IR_MAX_RANK], res[IR_MAX_RANK];
    int64_t M = 1, N = 1, K = 1, da[IR_MAX_RANK], db[IR_MAX_RANK], rd[IR_MAX_RANK];
    int k = 0;
    for (int i = 0; i < nbt; i++) wa[k++] = batch[i];
    for (int i = 0; i < nfa; i++) wa[k++] = fa[i], M *= dim_of(a, fa[i]);
    for (int i = 0; i < nc; i++) wa[k++] = con[i], K *= dim_of(a, con[i]);
    k = 0;
    for (int i = 0; i < nbt; i++) wb[k++] = batch[i];
    for (int i = 0; i < nc; i++) wb[k++] = con[i];
    for (int i = 0; i < nfb; i++) wb[k++] = fb[i], N *= dim_of(b, fb[i]);
    for (int i = 0; i < nbt; i++) da[i] = dim_of(a, batch[i]), db[i] = dim_of(b, batch[i]);
    if (!transpose_to(e, a, wa) || !transpose_to(e, b, wb)) return false;
    da[nbt] = M, da[nbt + 1] = K, db[nbt] = K, db[nbt + 1] = N;
    ir_node *x = reshape(e, a->x, nbt + 2, da), *y = reshape(e, b->x, nbt + 2, db);
    ir_node *mm = x && y ? ir_node_folded(e->g, KL_OP_MATMUL, 2, (ir_node *[]){x, y}, NULL, NULL, e->name, e->d) : NULL;
    if (!mm) return false;
    k = 0;
    for (int i = 0; i < nbt; i++) res[k] = batch[i], rd[k++] = mm->type.dims[i];
    for (int i = 0; i < nfa; i++) res[k] = fa[i], rd[k++] = dim_of(a, fa[i]);
    for (int i = 0; i < nfb; i++) res[k] = fb[i], rd[k++] = dim_of(b, fb[i]);
    if (!(a->x = reshape(e, mm, k, rd))) return false;
    memcpy(a->l, res, (size_t)k), a->n = k;
    for (int i = 1; i + 1 < e->nt; i++) e->t[i] = e->t[i + 1];
    e->nt--;
    return true;
}

ir_node *ir_einsum(ir_graph *g, const char *eq, ir_node *const *in, int n_in, const char *name, kl_diag *d)
{
    ein e = {.g = g, .name = name, .d = d};
    for (int i = 0; i < n_in; i++)
        if (!in[i]) return NULL;
    if (n_in < 1 || n_in > MAX_TERMS || !parse(&e, eq, in, n_in)) return n_in < 1 || n_in > MAX_TERMS ? (fail(&e, "bad operand count", eq), NULL) : NULL;
    for (int i = 0; i < e.nt; i++)
        if (!diagonals(&e, &e.t[i]) || !sum_unused(&e, i, -1)) return NULL;
    while (e.nt > 1)
        if (!sum_unused(&e, 0, 1) || !sum_unused(&e, 1, 0) || !contract(&e)) return NULL;
    term *t = &e.t[0];
    for (int j = 0; j < t->n; j++)
        if (find(e.out, e.no, t->l[j]) < 0) return fail(&e, "an output letter is missing", eq), NULL;
    if (t->n != e.no) return fail(&e, "an output letter is in no operand", eq), NULL;
    return transpose_to(&e, t, e.out);
}
