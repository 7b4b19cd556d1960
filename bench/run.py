#!/usr/bin/env python3
"""`make bench`: Kiln against TensorFlow, TensorFlow+XLA and ONNX Runtime.

    tools/.bench-venv/bin/python bench/run.py --build build [--quick] [--only NAME]

For each model and thread count (1 and all cores), in one run and
interleaved round by round: Kiln's AOT object in a C timing driver
(bench/driver.c), TF graph mode (Session), TF with XLA
(tf.function(jit_compile=True)) and ONNX Runtime on the tf2onnx export, all
on the same inputs.  The machine's FMA peak and memory bandwidth are
measured in the same run (bench/probe.c).  Medians are reported, with ratios
Kiln/peer (lower is better), to bench/results/{results.csv,results.md,ratios.png}.
Kiln's compile time, the compiler's peak memory and the temp arena are
recorded too.  Thread counts are applied per process, so each count runs in
its own worker process (same run, same inputs).
"""
import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
WORK = os.path.join(ROOT, "build", "bench-work")


def fixture_model(name, dirname):
    d = dirname if os.path.isabs(dirname) else os.path.join(ROOT, dirname)
    lines = open(os.path.join(d, "fixture.txt")).read().splitlines()
    feeds = [(l.split()[1], os.path.join(d, l.split()[2])) for l in lines if l.startswith("feed ")]
    fetches = [l.split()[1] for l in lines if l.startswith("fetch ")]
    return dict(name=name, pb=os.path.join(d, "model.pb"), feeds=feeds, fetches=fetches, flops=None)


def micro_models(quick):
    """Single-op graphs made here with TF: sgemm sizes, the MLP layer, conv, depthwise, softmax, layernorm."""
    import numpy as np
    import tensorflow as tf
    tf1 = tf.compat.v1
    rng = np.random.default_rng(0)
    out = []
    sizes = [64, 256, 1024] if quick else [64, 256, 1024, 2048]

    def save(name, build, inputs, flops):
        d = os.path.join(WORK, name)
        os.makedirs(d, exist_ok=True)
        g = tf.Graph()
        with g.as_default():
            phs = [tf1.placeholder(tf.float32, v.shape, name="in%d" % i) for i, v in enumerate(inputs)]
            y = tf.identity(build(*phs), name="y")
        open(os.path.join(d, "model.pb"), "wb").write(g.as_graph_def().SerializeToString())
        feeds = []
        for i, v in enumerate(inputs):
            p = os.path.join(d, "in%d.npy" % i)
            np.save(p, v)
            feeds.append(("in%d" % i, p))
        out.append(dict(name=name, pb=os.path.join(d, "model.pb"), feeds=feeds, fetches=["y"], flops=flops))

    for n in sizes:
        w = rng.standard_normal((n, n)).astype(np.float32)
        save("sgemm_%d" % n, lambda a, w=w: tf.matmul(a, tf.constant(w)), [rng.standard_normal((n, n)).astype(np.float32)], 2 * n ** 3)
    w16 = rng.standard_normal((32, 16)).astype(np.float32)
    save("mlp_layer_100x32x16", lambda a: tf.matmul(a, tf.constant(w16)), [rng.standard_normal((100, 32)).astype(np.float32)], 2 * 100 * 32 * 16)
    k = rng.standard_normal((3, 3, 64, 64)).astype(np.float32) * 0.1
    save("conv3x3_56x56x64", lambda a: tf.nn.conv2d(a, tf.constant(k), 1, "SAME"), [rng.standard_normal((1, 56, 56, 64)).astype(np.float32)],
         2 * 56 * 56 * 64 * 64 * 9)
    dk = rng.standard_normal((3, 3, 128, 1)).astype(np.float32)
    save("depthwise3x3_56x56x128", lambda a: tf.nn.depthwise_conv2d(a, tf.constant(dk), [1, 1, 1, 1], "SAME"),
         [rng.standard_normal((1, 56, 56, 128)).astype(np.float32)], 2 * 56 * 56 * 128 * 9)
    save("softmax_64x1000", lambda a: tf.nn.softmax(a), [rng.standard_normal((64, 1000)).astype(np.float32)], None)

    def layernorm(a):
        m = tf.reduce_mean(a, -1, keepdims=True)
        v = tf.reduce_mean(tf.math.squared_difference(a, m), -1, keepdims=True)
        return (a - m) * tf.math.rsqrt(v + 1e-6) * tf.constant(np.ones(768, np.float32))

    save("layernorm_128x768", layernorm, [rng.standard_normal((128, 768)).astype(np.float32)], None)
    return out


def models(args):
    ms = [fixture_model("mlp_b100", "tests/fixtures/mlp"), fixture_model("lenet_b1", "tests/fixtures/model_lenet"),
          fixture_model("transformer_b1", "tests/fixtures/model_transformer")]
    large = os.path.join(ROOT, args.build, "large-fixtures")
    for name, d in [("lenet_b64", "model_lenet_b64"), ("mobilenetv2_b1", "model_mobilenetv2_1000"), ("resnet50_b1", "model_resnet50")]:
        if os.path.exists(os.path.join(large, d, "fixture.txt")):
            ms.append(fixture_model(name, os.path.join(large, d)))
        elif not args.quick:
            print("bench: %s missing: run `make conformance` first (it generates the large models)" % d, file=sys.stderr)
    ms += micro_models(args.quick)
    return [m for m in ms if not args.only or args.only in m["name"]]


# ---- Kiln ---------------------------------------------------------------------

def kiln_prepare(m, build, threads):
    d = os.path.join(WORK, "kiln_%s_t%d" % (m["name"], threads))
    os.makedirs(d, exist_ok=True)
    kiln = os.path.join(ROOT, build, "bin", "kiln")
    cmd = [kiln, "compile", m["pb"], "-o", os.path.join(d, "m.o"), "--header", os.path.join(d, "m.h"), "--prefix", "model", "-O3",
           "--threads", str(threads)]
    for f, _ in m["feeds"]:
        cmd += ["--feed", f]
    for f in m["fetches"]:
        cmd += ["--fetch", f]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(p.pid, 0)
    compile_s = time.perf_counter() - t0
    log = p.stdout.read().decode()
    if status != 0:
        raise RuntimeError("kiln compile failed: " + log)
    temp = int(re.search(r"temp arena (\d+)", log).group(1))
    exe = os.path.join(d, "driver")
    subprocess.check_call(["cc", "-O2", "-std=gnu11", "-include", os.path.join(d, "m.h"), os.path.join(ROOT, "bench", "driver.c"),
                           os.path.join(d, "m.o"), os.path.join(ROOT, build, "lib", "libkilnrt.a"), "-lopenblas", "-lpthread",
                           "-o", exe])
    # the compiler's own peak (getrusage in kiln): a child's ru_maxrss would
    # include this TF-laden Python process's pages from before exec
    peak = float(re.search(r"peak memory (\d+) MB", log).group(1))
    return dict(exe=exe, compile_s=compile_s, peak_rss_mb=peak, temp_bytes=temp)


def kiln_time(prep, m, iters):
    out = subprocess.check_output([prep["exe"], "3", str(iters)] + [p for _, p in m["feeds"]]).decode()
    return float(re.search(r"median_ms ([\d.]+)", out).group(1))


# ---- peers (in a worker process per thread count) ------------------------------

def worker(args):
    threads = args.worker
    import numpy as np
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import onnxruntime as ort
    import tf2onnx
    tf1 = tf.compat.v1
    results = {}
    for m in json.load(open(args.models)):
        gd = tf1.GraphDef()
        gd.ParseFromString(open(m["pb"], "rb").read())
        inputs = [np.load(p) for _, p in m["feeds"]]
        in_names = [f if ":" in f else f + ":0" for f, _ in m["feeds"]]
        out_names = [f if ":" in f else f + ":0" for f in m["fetches"]]
        g = tf.Graph()
        with g.as_default():
            tf1.import_graph_def(gd, name="")
        sess = tf1.Session(graph=g, config=tf1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=1))
        feed = {g.get_tensor_by_name(n): v for n, v in zip(in_names, inputs)}
        fetch = [g.get_tensor_by_name(n) for n in out_names]

        def tf_run():
            sess.run(fetch, feed)

        wrapped = tf1.wrap_function(lambda: tf1.import_graph_def(gd, name=""), [])
        pruned = wrapped.prune([wrapped.graph.get_tensor_by_name(n) for n in in_names],
                               [wrapped.graph.get_tensor_by_name(n) for n in out_names])
        xla = tf.function(lambda *a: pruned(*a), jit_compile=True)
        targs = [tf.constant(v) for v in inputs]

        def xla_run():
            r = xla(*targs)
            (r[0] if isinstance(r, (list, tuple)) else r).numpy()

        onnx_model, _ = tf2onnx.convert.from_graph_def(gd, input_names=in_names, output_names=out_names, opset=17)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess_ort = ort.InferenceSession(onnx_model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        ort_feed = {n: v for n, v in zip(in_names, inputs)}

        def ort_run():
            sess_ort.run(None, ort_feed)

        peers = {"tensorflow": tf_run, "xla": xla_run, "onnxruntime": ort_run}
        for fn in peers.values():  # warm up, compile
            for _ in range(3):
                fn()
        times = {k: [] for k in peers}
        kiln = []
        # interleaved in time, never concurrent: each round runs a batch of
        # Kiln (its C driver times each call) and then a batch of each peer
        for _ in range(args.rounds):
            kiln.append(kiln_time(m["kiln"], m, m["kiln_iters"]))
            for k, fn in peers.items():
                for _ in range(max(1, int(m.get("batch_iters", 5)))):
                    t0 = time.perf_counter()
                    fn()
                    times[k].append((time.perf_counter() - t0) * 1e3)
        results[m["name"]] = {k: statistics.median(v) for k, v in times.items()}
        results[m["name"]]["kiln"] = statistics.median(kiln)
        print("worker t=%d %s %s" % (threads, m["name"], results[m["name"]]), file=sys.stderr, flush=True)
    json.dump(results, open(args.out, "w"))


# ---- the run --------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--worker", type=int)
    ap.add_argument("--models")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    os.makedirs(WORK, exist_ok=True)
    os.makedirs(RESULTS, exist_ok=True)
    probe = os.path.join(WORK, "probe")
    subprocess.check_call(["cc", "-O2", "-march=native", os.path.join(ROOT, "bench", "probe.c"), "-o", probe])
    peak = dict(l.split() for l in subprocess.check_output([probe]).decode().splitlines())
    cblas = os.path.join(WORK, "cblas_layer")
    subprocess.check_call(["cc", "-O2", os.path.join(ROOT, "bench", "cblas_layer.c"), "-o", cblas, "-lopenblas"])
    fma, bw = float(peak["fma_gflops"]), float(peak["mem_gbps"])
    print("machine: FMA peak %.1f GFLOP/s (1 core), memory %.1f GB/s" % (fma, bw))
    ms = models(args)
    threads_list = [1, os.cpu_count() or 2]
    preps = {t: {m["name"]: kiln_prepare(m, args.build, t) for m in ms} for t in threads_list}
    for m in ms:  # iterations per batch: about 20 ms of Kiln time
        t = kiln_time(preps[1][m["name"]], m, 5)
        m["batch_iters"] = max(1, min(200, int(20 / max(t, 1e-3))))
        m["kiln_iters"] = max(5, m["batch_iters"])
    rows = []
    for threads in threads_list:
        for m in ms:
            m["kiln"] = preps[threads][m["name"]]
        spec = os.path.join(WORK, "models_%d.json" % threads)
        json.dump(ms, open(spec, "w"))
        outp = os.path.join(WORK, "peers_%d.json" % threads)
        if subprocess.call([sys.executable, __file__, "--worker", str(threads), "--models", spec, "--out", outp,
                            "--rounds", str(args.rounds)]) != 0:
            raise SystemExit("bench: worker for %d threads failed" % threads)
        peers = json.load(open(outp))
        for m in ms:
            k = peers[m["name"]].pop("kiln")
            p = preps[threads][m["name"]]
            row = dict(model=m["name"], threads=threads, kiln_ms=k, kiln_threads=threads, compile_s=p["compile_s"],
                       compiler_peak_mb=p["peak_rss_mb"], temp_bytes=p["temp_bytes"])
            for peer, t in peers[m["name"]].items():
                row[peer + "_ms"] = t
                row["kiln/" + peer] = k / t
            if m["flops"]:
                row["kiln_gflops"] = m["flops"] / (k * 1e-3) / 1e9
                row["fraction_of_peak"] = row["kiln_gflops"] / (fma * threads)
            rows.append(row)
    keys = ["model", "threads", "kiln_ms", "tensorflow_ms", "xla_ms", "onnxruntime_ms", "kiln/tensorflow", "kiln/xla",
            "kiln/onnxruntime", "kiln_gflops", "fraction_of_peak", "compile_s", "compiler_peak_mb", "temp_bytes", "kiln_threads"]
    with open(os.path.join(RESULTS, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in keys})
    with open(os.path.join(RESULTS, "results.md"), "w") as f:
        f.write("# Kiln vs TensorFlow, XLA, ONNX Runtime\n\nMachine: FMA peak %.1f GFLOP/s (one core, measured), memory "
                "%.1f GB/s (measured). Medians in ms; ratios are Kiln / peer (lower is better). Every system runs on the "
                "row's thread count (Kiln: the object compiled with --threads N). %% peak is of N cores.\n\n" % (fma, bw))
        f.write("| model | threads | kiln | tf | xla | ort | kiln/tf | kiln/xla | kiln/ort | kiln GFLOP/s (% peak) | compile s | compiler MB | temp KB |\n")
        f.write("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            gf = "%.1f (%.0f%%)" % (r["kiln_gflops"], 100 * r["fraction_of_peak"]) if "kiln_gflops" in r else "-"
            f.write("| %s | %d | %.4f | %.4f | %.4f | %.4f | %.2f | %.2f | %.2f | %s | %.2f | %.0f | %.1f |\n" % (
                r["model"], r["threads"], r["kiln_ms"], r["tensorflow_ms"], r["xla_ms"], r["onnxruntime_ms"],
                r["kiln/tensorflow"], r["kiln/xla"], r["kiln/onnxruntime"], gf, r["compile_s"], r["compiler_peak_mb"],
                r["temp_bytes"] / 1024))
        layer = [r for r in rows if r["model"] == "mlp_layer_100x32x16" and r["threads"] == 1]
        if layer:  # the same shape as one cblas_sgemm call, timed right after the peers
            cb = float(subprocess.check_output([cblas]).decode().split()[1])
            f.write("\nMLP layer 100x32x16: Kiln %.5f ms (compiled layer, one thread) vs one cblas_sgemm call %.5f ms "
                    "(OpenBLAS, one thread): cblas/Kiln = %.1fx.\n" % (layer[0]["kiln_ms"], cb, cb / layer[0]["kiln_ms"]))
    print(open(os.path.join(RESULTS, "results.md")).read())
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(len(threads_list), 1, figsize=(12, 5 * len(threads_list)))
        for ax, threads in zip(axes, threads_list):
            one = [r for r in rows if r["threads"] == threads]
            x = range(len(one))
            for i, peer in enumerate(["tensorflow", "xla", "onnxruntime"]):
                ax.bar([v + i * 0.27 for v in x], [r["kiln/" + peer] for r in one], width=0.27, label="Kiln / " + peer)
            ax.axhline(1.0, color="black", linewidth=0.8)
            ax.set_xticks([v + 0.27 for v in x])
            ax.set_xticklabels([r["model"] for r in one], rotation=30, ha="right")
            ax.set_yscale("log")
            ax.set_ylabel("time ratio (lower is better), %d thread%s" % (threads, "s" if threads > 1 else ""))
            ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(RESULTS, "ratios.png"), dpi=110)
    except ImportError:
        print("bench: matplotlib missing, no chart", file=sys.stderr)


if __name__ == "__main__":
    main()
