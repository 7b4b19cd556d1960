/* tools/kiln/help.c — the one table of kiln's commands and options, from
 * which `kiln --help`, `kiln help CMD`, `kiln CMD --help`, the man page
 * (`kiln help --man` > docs/kiln.1; tests/sh/cli.sh fails when the
 * committed page differs) and the "did you mean" of an unknown option or
 * command are all made.  Add an option here when main.c or tools_option
 * learns one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/kiln.h"
#include "help.h"

enum { C_COMPILE = 1, C_RUN = 2, C_DUMP = 4, C_VIZ = 8, C_BENCH = 16, C_ALL = 31, C_SERVE = 32 };

typedef struct help_cmd {
    const char *name;
    unsigned bit;
    const char *synopsis; /* after "kiln NAME " */
    const char *summary;  /* one line */
    const char *text;     /* paragraphs separated by "\n\n"; filled when printed */
    const char *examples; /* one command a line */
} help_cmd;

typedef struct help_opt {
    const char *name;  /* "--feed", "-o", "-O0..-O3" */
    const char *arg;   /* "NAME", or NULL for a flag */
    unsigned cmds;     /* C_* bits */
    const char *def;   /* the default, or NULL */
    const char *text;
} help_opt;

static const help_cmd cmds[] = {
    {"compile", C_COMPILE, "MODEL [--feed NAME]... [--fetch NAME]... -o OBJ [--header H | --shared] [--prefix P] [options]",
     "compile a model ahead of time into an ELF object and a C header",
     "Writes an object file and a C header (docs/header-api.md) for the subgraph the fetches need. "
     "MODEL is a TensorFlow GraphDef (.pb) or an ONNX model; the format is read from the content. "
     "Prints the object size, kernel count, temp arena size and weight bytes.\n\n"
     "Tensor names are \"node\" (output 0) or \"node:k\". Without --feed every Placeholder the fetches "
     "need is a feed (ONNX: the graph inputs); without --fetch every node whose output nothing reads "
     "is a fetch (ONNX: the graph outputs).",
     "kiln compile mlp.pb --feed x --fetch y_out -o mlp.o --header mlp.h --prefix mlp\n"
     "kiln compile mlp.pb --fetch y_out -o mlp.o --target aarch64-linux-gnu -O3\n"
     "kiln compile model.onnx --threads 4 -o model.o --header model.h\n"
     "kiln compile mlp.pb --feed x:8,4 --fetch y --shared -o models/mlp/1/model.so"},
    {"run", C_RUN, "MODEL --feed NAME=FILE.npy... [--fetch NAME]... [--out-dir DIR] [options]",
     "JIT-compile a model for this machine and run it once",
     "Compiles in-process (LLVM ORC) for the host CPU, runs once, writes each fetch to "
     "DIR/NAME.npy and prints a one-line summary of it (dtype, shape, min, max, mean). A feed file is "
     ".npy or an ONNX TensorProto .pb and must hold the feed's dtype and shape. A model refused as "
     "it stands is compiled again specialized on the values of its small fed files.\n\n"
     "Graphs with variables (training) keep them in --state DIR. With --profile the run prints "
     "where the time goes, kernel by kernel (docs/profile.md).",
     "kiln run mlp.pb --feed x=x.npy --fetch y_out --out-dir out\n"
     "kiln run mlp.pb --state st --feed x=x.npy --feed y=y.npy --fetch cost --target train\n"
     "kiln run model_resnet50/model.pb --feed t=in_0.npy --profile --threads 1"},
    {"dump", C_DUMP, "MODEL [--feed NAME]... [--fetch NAME]... [--after all|import|PASS] [options]",
     "print Kiln's IR after the import and after each pass",
     "Prints the IR (docs/ir-format.md) after the import and after every pass, or after one: "
     "infer, verify, dce, fold, simplify, cse, layout, fuse, bufassign. Kernel and storage "
     "annotations appear once fuse and bufassign have run.",
     "kiln dump mlp.pb --fetch y_out\n"
     "kiln dump mlp.pb --fetch y_out --after fuse -O1"},
    {"viz", C_VIZ, "MODEL [--feed NAME[=FILE.npy]]... [--fetch NAME]... [--after PASS] [--profile] -o PAGE.html",
     "write one self-contained HTML page showing what Kiln did to a model",
     "The graph after PASS (default: the final plan) laid out by Graphviz, fused kernels as "
     "coloured groups with their kind, GEMM tile and thread split, the kernel table and the temp "
     "arena map (every buffer as its offset x its lifetime). The page loads nothing from the "
     "network and works from file://. With --profile the model is run (feeds from the files "
     "given, else generated) and each kernel is coloured by its share of the run time "
     "(docs/viz.md).",
     "kiln viz lenet.pb -o lenet.html\n"
     "kiln viz lenet.pb --after fuse -o fused.html\n"
     "kiln viz lenet.pb --profile --iters 50 -o profile.html"},
    {"bench", C_BENCH, "MODEL [--feed NAME[=FILE.npy]]... [--fetch NAME]... [--threads N] [--iters K] [options]",
     "time the compiled model on this machine (median and spread)",
     "Compiles in-process with the same code generator and options as kiln compile, fills the "
     "feeds from the files given or with deterministic values, warms up (at least 5 runs and "
     "0.2 s) and times K runs, printing median_us, mean_us, min_us, p10_us, p90_us, max_us and "
     "mad_us, one a line (docs/profile.md).",
     "kiln bench mlp.pb --iters 1000\n"
     "kiln bench resnet50.pb --threads 2"},
    {"serve", C_SERVE, "--model_name NAME --model_base_path DIR [--port 8501] [options] | --model_config_file FILE [options]",
     "serve models over TensorFlow Serving's REST and gRPC APIs",
     "A TensorFlow-Serving-compatible REST and gRPC server (docs/serving.md): DIR/<version>/ holds model.pb or "
     "model.onnx (or a prebuilt model.so from kiln compile --shared) and kiln.json (feeds, fetches, shapes with -1 "
     "for the batch, compiled batch sizes). Versions are compiled when they appear (kept in the compile cache by "
     "content hash, --compile_cache_dir), warmed up, then swapped in while requests keep being served; a version "
     "that fails to load never replaces a good one. GET /v1/models/NAME[/versions/V | /labels/L][/metadata], POST "
     "/v1/models/NAME[/versions/V | /labels/L]:predict in the row (instances) and columnar (inputs) formats, "
     ":classify and :regress (tf.Example features feed the inputs of their names), "
     "GET /monitoring/prometheus/metrics; gRPC (--grpc_port, 8500) PredictionService/Predict, Classify, Regress and "
     "GetModelMetadata, ModelService/GetModelStatus with TF Serving's messages (version labels too). Flags are tensorflow_model_server's where they mean the "
     "same (--flag=value or --flag value), but --port is the REST port. SIGINT or SIGTERM stop it.",
     "kiln serve --model_name mlp --model_base_path models/mlp\n"
     "kiln serve --model_config_file models.config --enable_batching --batching_parameters_file batching.txt\n"
     "curl -d '{\"instances\": [[1, 2, 3, 4]]}' localhost:8501/v1/models/mlp:predict"},
    {"help", 0, "[COMMAND | --man]",
     "print this help, a command's help, or the man page",
     "kiln help COMMAND is kiln COMMAND --help. kiln help --man writes the man page "
     "(docs/kiln.1 is generated with it).",
     "kiln help compile\n"
     "kiln help --man > docs/kiln.1"},
};
enum { N_CMDS = sizeof cmds / sizeof *cmds };

static const help_opt opts[] = {
    {"--feed", "NAME", C_ALL, NULL,
     "A tensor given at run time (repeatable; \"node\" or \"node:k\"). NAME:D0,D1,... pins a placeholder's "
     "unknown dims (a None batch) at compile time; in run, viz and bench NAME=FILE.npy gives its value."},
    {"--fetch", "NAME", C_ALL, "the graph's sinks",
     "A tensor to compute (repeatable). A fetch naming an op without outputs (NoOp, an assign) is run as a target."},
    {"-o", "FILE", C_COMPILE | C_VIZ, NULL, "The object file to write (compile, required) or the HTML page (viz)."},
    {"--header", "FILE", C_COMPILE, "none", "Also write the C header declaring the entry points."},
    {"--shared", NULL, C_COMPILE, "off",
     "-o is a shared library: the object linked by the system C compiler (cc -shared; $CC names another) with a "
     "table of the signature and a SHA-256 trailer, for kiln serve's version directories (model.so) and "
     "kiln_program_load (docs/serving.md). Host target only; not with --header or --entry."},
    {"--prefix", "P", C_COMPILE, "kiln_model", "The C symbol and macro prefix (P_run, P_TEMP_SIZE)."},
    {"-O0..-O3", NULL, C_ALL, "-O2",
     "Optimization: -O0 one kernel per op and LLVM at O0; -O1 folding, CSE, GEMM layouts and fusion; -O2 and -O3 raise LLVM's level."},
    {"-Os", NULL, C_COMPILE | C_RUN | C_DUMP, NULL,
     "Smallest code (firmware): convs, depthwise convs and 2-D matmuls of one kind share one generic kernel reading "
     "its shapes from a small descriptor, LLVM optimizes for size; not for --target cuda (docs/embedded.md)."},
    {"--threads", "N", C_COMPILE | C_RUN | C_VIZ | C_BENCH | C_SERVE, "1",
     "Split large kernels over N threads of libkilnrt's pool (1: no threads, no runtime library); serve: of every "
     "compiled version."},
    {"--target", "TRIPLE", C_COMPILE | C_DUMP, "host",
     "Where the object runs: x86_64-linux-gnu, aarch64-linux-gnu, riscv64-linux-gnu, thumbv7em-none-eabihf, "
     "thumbv8m.main-none-eabihf, riscv32-none-elf, cuda (docs/targets.md, docs/gpu.md)."},
    {"--target", "NODE", C_RUN, NULL,
     "In kiln run: a node run for its effects, as Session.run's targets (repeatable; elsewhere --run-target)."},
    {"--run-target", "NODE", C_COMPILE | C_DUMP, NULL, "A node run for its effects (repeatable)."},
    {"--target-cpu", "CPU", C_COMPILE | C_DUMP, "native",
     "The CPU to tune for: native, generic, x86-64-v3, znver5, cortex-m4, ... (an unknown one lists the valid names)."},
    {"--target-features", "F", C_COMPILE | C_DUMP, NULL, "Extra LLVM features, e.g. +avx2,-avx512f."},
    {"--gpu-arch", "LIST", C_COMPILE, "sm_80", "With --target cuda: the GPU architectures, e.g. sm_80,sm_90."},
    {"--entry", "NAME=FEEDS:FETCHES:TARGETS", C_COMPILE, NULL,
     "One of several entries in one object (comma lists, any part empty): P_NAME (docs/training.md)."},
    {"--bind", "NAME=FILE.npy", C_ALL, NULL,
     "Compile specialized on that feed's value (ONNX); the feed stays in the signature."},
    {"--state", "DIR", C_RUN, NULL, "The variables of a training graph, one .npy per variable, written back atomically."},
    {"--out-dir", "DIR", C_RUN, ".", "Where the fetches are written as NAME.npy."},
    {"--after", "PASS", C_DUMP | C_VIZ, "all (viz: the final plan)", "Show the graph (dump: the IR) after this pass only; dump also takes all or import."},
    {"--dump-after", "PASS", C_COMPILE | C_RUN, NULL, "Print the IR after this pass (or all) to stdout while compiling."},
    {"--time-passes", NULL, C_COMPILE | C_RUN | C_DUMP, NULL, "Print the time of the import, every pass and the LLVM stages to stderr."},
    {"--profile", NULL, C_COMPILE | C_RUN | C_VIZ, "off",
     "compile: add P_run_profile with per-kernel timing (zero cost when off); run: print the per-kernel table; "
     "viz: colour kernels by their share of the run time."},
    {"--profile-json", "FILE", C_RUN, NULL, "Also write the profile as JSON (implies --profile)."},
    {"--iters", "K", C_RUN | C_VIZ | C_BENCH, "20 (bench: 200)", "Timed runs of --profile or kiln bench."},
    {"--show-consts", NULL, C_VIZ, NULL, "Draw constant nodes too."},
    {"--progress", "auto|always|never", C_ALL, "auto",
     "A progress line (pass, kernel k of n) on stderr: auto shows it on a terminal once a compile has taken "
     "over 2 s (KILN_PROGRESS_DELAY seconds), not with dump, --time-passes or --dump-after; always also when stderr "
     "is not a terminal, from the start."},
    {"--split", "N", C_COMPILE | C_RUN | C_DUMP, NULL,
     "Distributed (docs/distributed.md): cut the graph into N pipeline stages balanced by estimated cost, with "
     "send/recv pairs where they meet; run: under mpirun -np N, task = rank, fetches from rank 0."},
    {"--place", "GLOB=TASK", C_COMPILE | C_RUN | C_DUMP, NULL,
     "Distributed: place the nodes whose names match GLOB on TASK (repeatable, first match wins; with --tasks N)."},
    {"--devices", NULL, C_COMPILE | C_RUN | C_DUMP, NULL, "Distributed: place nodes by the GraphDef's device fields (/job:J/task:K; with --tasks N)."},
    {"--tasks", "N", C_COMPILE | C_RUN | C_DUMP, NULL, "Distributed: the number of tasks of --place or --devices."},
    {"--task", "T", C_COMPILE | C_DUMP, "0", "Distributed: compile task T's object (one object per task)."},
    {"--data-parallel[=sum]", NULL, C_RUN, NULL,
     "Under mpirun: each rank trains on its rows of every feed, gradients summed with MPI_Allreduce (divided by the "
     "ranks for a mean loss; =sum for a summed loss); rank 0 writes the state."},
    {"--allreduce-bucket-bytes", "N", C_COMPILE | C_RUN | C_DUMP, "0",
     "Data-parallel: cut the gradients into buckets of at least N bytes in backprop order, each summed on a "
     "communication thread from its last gradient on, overlapped with the rest of backprop; 0: one allreduce per step."},
    {"--ps[=sync|async|sync-sum]", NULL, C_RUN, NULL,
     "Under mpirun: parameter-server training: rank 0 holds the state and applies the updates, ranks 1..N-1 compute "
     "gradients on their shards (async: updates as they arrive)."},
    {"--steps", "K", C_RUN, "1", "Run the entry K times (training steps), state carried over."},
    {"--time-steps", NULL, C_RUN, NULL,
     "Print the time per step (under mpirun after a barrier; data-parallel: also the allreduce's share)."},
    {"--micro-batches", "M", C_RUN, "1",
     "Cut every feed's batch (first dimension) into M micro-batches, compile for B/M rows and run M times per step; "
     "with --split the micro-batches stream through the stages and the last task writes the fetches. Inference only."},
    {"--model_name", "NAME", C_SERVE, NULL, "serve: the model's name in the URLs (with --model_base_path)."},
    {"--model_base_path", "DIR", C_SERVE, NULL, "serve: the directory of its numbered versions."},
    {"--model_config_file", "FILE", C_SERVE, NULL,
     "serve: TF Serving's model_config_list text file: several models and their version policies (latest, all, "
     "specific); also --config."},
    {"--port", "N", C_SERVE, "8501", "serve: the REST port (also --rest_api_port); 0 picks a free one."},
    {"--port_file", "FILE", C_SERVE, NULL, "serve: write the bound port there once listening."},
    {"--enable_batching", NULL, C_SERVE, "off", "serve: merge concurrent requests into one call (also --batching)."},
    {"--batching_parameters_file", "FILE", C_SERVE, NULL,
     "serve: TF Serving's batching parameters (max_batch_size, batch_timeout_micros, max_enqueued_batches, "
     "num_batch_threads, allowed_batch_sizes); implies --enable_batching."},
    {"--file_system_poll_wait_seconds", "N", C_SERVE, "1", "serve: how often base paths are polled; 0 loads once."},
    {"--compile_cache_dir", "DIR", C_SERVE, "$XDG_CACHE_HOME/kiln",
     "serve: the compile cache: one shared object per compiled batch size, named by the SHA-256 of the model, "
     "kiln.json, the options, Kiln's version and the host CPU (else ~/.cache/kiln; empty: no cache)."},
    {"--max_body_bytes", "N", C_SERVE, "64 MiB", "serve: larger request bodies are answered 413 (gRPC messages: RESOURCE_EXHAUSTED)."},
    {"--rest_api_timeout_in_ms", "N", C_SERVE, "30000", "serve: a connection idle this long is closed (whole seconds)."},
    {"--grpc_port", "N", C_SERVE, "8500",
     "serve: the gRPC port (TF Serving's PredictionService Predict, Classify, Regress, GetModelMetadata; ModelService "
     "GetModelStatus); "
     "0 disables it, -1 picks a free one. The default port in use only warns; a port given must be had."},
    {"--grpc_port_file", "FILE", C_SERVE, NULL, "serve: write the bound gRPC port there once listening."},
    {"--grpc_max_threads", "N", C_SERVE, "16",
     "serve: threads answering gRPC calls (with batching, default 2 x max_batch_size: a batch of callers can wait at once)."},
    {"--help", NULL, C_ALL | C_SERVE, NULL, "Print the command's help (also -h)."},
};
enum { N_OPTS = sizeof opts / sizeof *opts };

static const help_cmd *find_cmd(const char *name)
{
    for (int i = 0; i < N_CMDS; i++)
        if (!strcmp(cmds[i].name, name)) return &cmds[i];
    return NULL;
}

/* Prints text filled to `width` columns, each line indented by `indent`
 * (the first by `first`, which may already be written). */
static void fill(FILE *f, const char *text, int first, int indent, int width)
{
    int col = first;
    const char *p = text;
    while (*p) {
        if (p[0] == '\n' && p[1] == '\n') {
            fprintf(f, "\n\n%*s", indent, "");
            col = indent;
            p += 2;
            continue;
        }
        while (*p == ' ' || *p == '\n') p++;
        const char *w = p;
        while (*p && *p != ' ' && *p != '\n') p++;
        int n = (int)(p - w);
        if (!n) break;
        if (col > indent && col + 1 + n > width) fprintf(f, "\n%*s", indent, ""), col = indent;
        else if (col > indent) fputc(' ', f), col++;
        fprintf(f, "%.*s", n, w);
        col += n;
    }
    fputc('\n', f);
}

static void print_opt(FILE *f, const help_opt *o)
{
    char head[96];
    snprintf(head, sizeof head, "  %s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    fputs(head, f);
    int col = (int)strlen(head);
    if (col > 24) fprintf(f, "\n%*s", 26, ""), col = 26;
    else fprintf(f, "%*s", 26 - col, ""), col = 26;
    char text[1024];
    snprintf(text, sizeof text, "%s%s%s%s", o->text, o->def ? " Default: " : "", o->def ? o->def : "", o->def ? "." : "");
    fill(f, text, col, 26, 100);
}

void help_usage(FILE *f)
{
    fprintf(f, "usage: kiln COMMAND MODEL [options]      (kiln help COMMAND, kiln COMMAND --help)\n\n");
    for (int i = 0; i < N_CMDS; i++) fprintf(f, "  %-9s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(f, "\n  kiln --version  prints Kiln's and LLVM's versions.  See docs/cli.md, man docs/kiln.1.\n");
}

void help_version(FILE *f)
{
    unsigned a, b, c;
    kiln_llvm_version(&a, &b, &c);
    fprintf(f, "kiln %s (LLVM %u.%u.%u)\n", kiln_version(), a, b, c);
}

int help_command(FILE *f, const char *name)
{
    const help_cmd *c = find_cmd(name);
    if (!c) {
        const char *near = help_nearest_command(name);
        fprintf(stderr, "kiln: unknown command '%s'", name);
        if (near) fprintf(stderr, "; did you mean '%s'?", near);
        fprintf(stderr, " (kiln --help lists them)\n");
        return 2;
    }
    fprintf(f, "usage: kiln %s %s\n\n", c->name, c->synopsis);
    fill(f, c->text, 0, 0, 100);
    if (c->bit) {
        fprintf(f, "\noptions:\n");
        for (int i = 0; i < N_OPTS; i++)
            if (opts[i].cmds & c->bit) print_opt(f, &opts[i]);
    }
    fprintf(f, "\nexamples:\n");
    for (const char *e = c->examples; *e;) {
        const char *nl = strchr(e, '\n');
        int n = nl ? (int)(nl - e) : (int)strlen(e);
        fprintf(f, "  %.*s\n", n, e);
        e += n + (nl ? 1 : 0);
    }
    return 0;
}

void help_all(FILE *f)
{
    help_usage(f);
    fprintf(f, "\nExit status: 0 on success, 1 on an error, 2 on a usage error, 3 when the model uses "
               "unsupported ops.\n");
}

/* ---- the man page ---- */

/* Text for roff: backslashes and hyphens escaped, no line starting with '.' or '\''. */
static void roff(FILE *f, const char *s, int n)
{
    for (int i = 0; i < n && s[i]; i++) {
        if (s[i] == '\\') fputs("\\e", f);
        else if (s[i] == '-') fputs("\\-", f);
        else if ((s[i] == '.' || s[i] == '\'') && (i == 0 || s[i - 1] == '\n')) fprintf(f, "\\&%c", s[i]);
        else fputc(s[i], f);
    }
}

static void roff_s(FILE *f, const char *s) { roff(f, s, (int)strlen(s)); }

/* Paragraphs ("\n\n") as .PP. */
static void roff_paras(FILE *f, const char *s)
{
    while (*s) {
        const char *end = strstr(s, "\n\n");
        int n = end ? (int)(end - s) : (int)strlen(s);
        roff(f, s, n);
        fputc('\n', f);
        s += n;
        if (end) fputs(".PP\n", f), s += 2;
    }
}

void help_man(FILE *f)
{
    fprintf(f, ".\\\" Generated by `kiln help --man` from tools/kiln/help.c; do not edit.\n");
    fprintf(f, ".TH KILN 1 \"\" \"kiln %s\" \"User Commands\"\n", KILN_VERSION);
    fprintf(f, ".SH NAME\nkiln \\- ahead\\-of\\-time compiler for TensorFlow and ONNX graphs\n.SH SYNOPSIS\n");
    for (int i = 0; i < N_CMDS; i++) {
        fprintf(f, ".B kiln %s\n", cmds[i].name);
        roff_s(f, cmds[i].synopsis);
        fputs("\n.br\n", f);
    }
    fputs(".B kiln \\-\\-version\n.SH DESCRIPTION\n", f);
    fputs("Kiln compiles a TensorFlow GraphDef or an ONNX model into native code through LLVM: an object file "
          "and a C header for your program, or in\\-process code it runs at once. Every error is printed as "
          "one or more lines starting with \"kiln:\" that name the file, node and op.\n",
          f);
    fputs(".SH COMMANDS\n", f);
    for (int i = 0; i < N_CMDS; i++) {
        const help_cmd *c = &cmds[i];
        fprintf(f, ".SS kiln %s\n", c->name);
        roff_s(f, c->summary);
        fputs(".\n.PP\n", f);
        roff_paras(f, c->text);
        if (c->bit) {
            fputs(".PP\nOptions:\n", f);
            for (int k = 0; k < N_OPTS; k++) {
                const help_opt *o = &opts[k];
                if (!(o->cmds & c->bit)) continue;
                fputs(".TP\n.B ", f);
                roff_s(f, o->name);
                if (o->arg) fputs(" ", f), fputs("\\fI", f), roff_s(f, o->arg), fputs("\\fR", f);
                fputc('\n', f);
                roff_s(f, o->text);
                if (o->def) fputs(" Default: ", f), roff_s(f, o->def), fputc('.', f);
                fputc('\n', f);
            }
        }
        fputs(".PP\nExamples:\n.PP\n.nf\n.RS\n", f);
        roff_s(f, c->examples);
        fputs("\n.RE\n.fi\n", f);
    }
    fputs(".SH ENVIRONMENT\n.TP\n.B KILN_THREADS\nOverrides the thread count of code compiled with \\-\\-threads above 1.\n"
          ".TP\n.B KILN_PROGRESS_DELAY\nSeconds a compile runs before the progress line appears on a terminal (default 2).\n"
          ".SH EXIT STATUS\n0 on success, 1 on an error, 2 on a usage error, 3 when the model uses unsupported ops.\n"
          ".SH SEE ALSO\ndocs/cli.md, docs/header\\-api.md, docs/targets.md, docs/viz.md, docs/profile.md, docs/serving.md in Kiln's sources.\n",
          f);
}

/* ---- did you mean ---- */

static int distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63) return 99;
    int row[64];
    for (int j = 0; j <= lb; j++) row[j] = j;
    for (int i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

/* Near enough to suggest: a third of the word, at least 1, at most 3 edits. */
static bool near_enough(int d, const char *word)
{
    int limit = (int)strlen(word) / 3;
    return d <= (limit < 1 ? 1 : limit > 3 ? 3 : limit);
}

const char *help_nearest_option(const char *arg, const char *cmd)
{
    char word[64];
    snprintf(word, sizeof word, "%s", arg);
    char *eq = strchr(word, '=');
    if (eq) *eq = 0;
    const help_cmd *c = find_cmd(cmd ? cmd : "");
    const char *best = NULL;
    int best_d = 99;
    for (int pass = 0; pass < 2 && !best; pass++) /* the command's options first, then any */
        for (int i = 0; i < N_OPTS; i++) {
            if (opts[i].name[1] != '-' || (pass == 0 && c && !(opts[i].cmds & c->bit))) continue;
            int d = distance(word, opts[i].name);
            if (d < best_d && near_enough(d, word)) best = opts[i].name, best_d = d;
        }
    return best;
}

const char *help_nearest_command(const char *word)
{
    const char *best = NULL;
    int best_d = 99;
    for (int i = 0; i < N_CMDS; i++) {
        int d = distance(word, cmds[i].name);
        if (d < best_d && near_enough(d, word)) best = cmds[i].name, best_d = d;
    }
    return best;
}

bool help_is_command(const char *name) { return find_cmd(name) != NULL; }
