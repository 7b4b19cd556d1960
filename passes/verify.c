/* passes/verify.c — the verifier as a pipeline stage (see ir/verify.c).
 *
 * requires: nothing.  changes nothing.  Fails the pipeline if the graph
 * breaks an IR invariant, which is always a Kiln bug, not a user error.
 */
#include "passes.h"

bool pass_verify(ir_graph *g, pass_ctx *ctx)
{
    if (!ir_verify(g, ctx->diag))
        kl_diag_error(ctx->diag, "%s: IR verification failed (a Kiln bug; please report it)", g->source);
    return false;
}
