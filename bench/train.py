#!/usr/bin/env python3
"""Training step time: Kiln's train entry against TensorFlow (docs/training.md).

    tools/.venv/bin/python bench/train.py --build build [--rounds 7] [--only NAME]

For each row of ROWS (a TF1 training graph with its init and train targets
and its feeds) and each thread count (1 and 2): Kiln's object
(`kiln compile --entry init=... --entry train=...`, -O3, --threads N) timed
in bench/train_driver.c, against TensorFlow graph mode (Session.run of the
train target) and TensorFlow with XLA auto-clustering (ConfigProto
global_jit_level ON_1, with --tf_xla_cpu_global_jit so CPU ops cluster; the
row records whether an XLA cluster actually ran).  Rounds are interleaved
(Kiln batch, TF batch, XLA batch), medians reported, ratios Kiln/peer (lower
is better); also p10s (per round the 10th percentile of its steps, median
over rounds), which other jobs on a shared machine disturb less.  Memory: Kiln's state + temp arena bytes (exact, from the
header) against TensorFlow's step peak: the largest bytes in use of its
allocators during one traced step (RunMetadata step stats,
AllocatorMemoryUsed.allocator_bytes_in_use / peak_bytes; tracked while the
traced step runs, so the step's tensors and not the variables, which both
hold alike), and the bytes of all tensors its ops output in that step (an
allocation volume).  Results go
to bench/results/train.{csv,md}.

Rows are data: add LeNet or transformer training graphs by appending to
ROWS (pb, pins, feeds, init and train targets; or `make`, a function here
that writes the graph and feeds into build/bench-work/train).
"""
import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
WORK = os.path.join(ROOT, "build", "bench-work", "train")

ROWS = [
    dict(name="mlp_b100_adam", pb="tests/train/resource/mlp.pb", init="init_all_vars_op", train="train",
         feeds=[("x", "tests/train/x.npy", "100,32"), ("y", "tests/train/y.npy", "100,8")]),
    # made here (make_*): pb and feeds land in WORK
    dict(name="mlp_b256_784x256x10_xent_adam", make="make_wide_mlp", init="init", train="train",
         feeds=[("x", "x.npy", "256,784"), ("labels", "labels.npy", "256,10")]),
    dict(name="lenet_b32_momentum", pb="tests/train/lenet/lenet/model.pb", init="init_all_vars_op", train="train",
         feeds=[("x", "tests/train/lenet/x.npy", "32,28,28,1"), ("labels", "tests/train/lenet/labels.npy", "32,")]),
    # the batch: the same graph pinned at 64, its feeds the fixture's twice (made here, not committed)
    dict(name="lenet_b64_momentum", make="make_lenet64_feeds", pb="tests/train/lenet/lenet/model.pb",
         init="init_all_vars_op", train="train", feeds=[("x", "x.npy", "64,28,28,1"), ("labels", "labels.npy", "64,")]),
    # the transformer encoder of test_train_xf (2 layers, hidden 128, seq 64, batch 2, Adam); feeds from its .bin files
    dict(name="transformer_b2x64_adam", make="make_transformer_feeds", pb="tests/train/transformer/xf.pb",
         init="init_all_vars_op", train="train",
         feeds=[("ids", "ids.npy", "2,64"), ("mask", "mask.npy", "2,64"), ("target", "target.npy", "2,64,128")]),
]


def make_transformer_feeds(row):
    """tests/train/transformer's raw feeds (tools/gen_train_transformer.py) as .npy."""
    import numpy as np
    d = os.path.join(WORK, row["name"])
    os.makedirs(d, exist_ok=True)
    src = os.path.join(ROOT, "tests", "train", "transformer")
    for name, dt, shape in (("ids", np.int32, (2, 64)), ("mask", np.int32, (2, 64)), ("target", np.float32, (2, 64, 128))):
        np.save(os.path.join(d, name + ".npy"), np.fromfile(os.path.join(src, name + ".bin"), dt).reshape(shape))
    row["feeds"] = [(f, os.path.join(d, p), pin) for f, p, pin in row["feeds"]]


def make_lenet64_feeds(row):
    """tests/train/lenet's batch of 32 twice: a batch of 64 for the same graph."""
    import numpy as np
    d = os.path.join(WORK, row["name"])
    os.makedirs(d, exist_ok=True)
    src = os.path.join(ROOT, "tests", "train", "lenet")
    for name in ("x", "labels"):
        a = np.load(os.path.join(src, name + ".npy"))
        np.save(os.path.join(d, name + ".npy"), np.concatenate([a, a]))
    row["feeds"] = [(f, os.path.join(d, p), pin) for f, p, pin in row["feeds"]]


def make_wide_mlp(row):
    """An MNIST-sized classifier: 784 -> 256 relu -> 10, softmax cross-entropy, Adam, resource variables."""
    import numpy as np
    import tensorflow as tf
    tf1 = tf.compat.v1
    d = os.path.join(WORK, row["name"])
    os.makedirs(d, exist_ok=True)
    g = tf.Graph()
    with g.as_default():
        tf1.set_random_seed(7)
        x = tf1.placeholder(tf.float32, [None, 784], name="x")
        labels = tf1.placeholder(tf.float32, [None, 10], name="labels")
        w1 = tf1.Variable(tf1.truncated_normal([784, 256], stddev=0.05), name="w1", use_resource=True)
        b1 = tf1.Variable(tf1.zeros([256]), name="b1", use_resource=True)
        w2 = tf1.Variable(tf1.truncated_normal([256, 10], stddev=0.05), name="w2", use_resource=True)
        b2 = tf1.Variable(tf1.zeros([10]), name="b2", use_resource=True)
        h = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, w1), b1))
        logits = tf.nn.bias_add(tf.matmul(h, w2), b2)
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits), name="loss")
        tf1.train.AdamOptimizer(1e-3).minimize(loss, name="train")
        tf1.variables_initializer(tf1.global_variables(), name="init")
    open(os.path.join(d, "model.pb"), "wb").write(g.as_graph_def().SerializeToString())
    rng = np.random.default_rng(0)
    np.save(os.path.join(d, "x.npy"), rng.uniform(0, 1, (256, 784)).astype(np.float32))
    np.save(os.path.join(d, "labels.npy"), np.eye(10, dtype=np.float32)[rng.integers(0, 10, 256)])
    row["pb"] = os.path.join(d, "model.pb")
    row["feeds"] = [(f, os.path.join(d, p), pin) for f, p, pin in row["feeds"]]


def path(p):
    return p if os.path.isabs(p) else os.path.join(ROOT, p)


# ---- Kiln ------------------------------------------------------------------------

def kiln_prepare(row, build, threads):
    d = os.path.join(WORK, "%s_t%d" % (row["name"], threads))
    os.makedirs(d, exist_ok=True)
    names = ",".join(f for f, _, _ in row["feeds"])
    cmd = [path(os.path.join(build, "bin", "kiln")), "compile", path(row["pb"]), "--prefix", "model", "-O3",
           "--threads", str(threads), "--entry", "init=::" + row["init"], "--entry", "train=%s::%s" % (names, row["train"]),
           "-o", os.path.join(d, "m.o"), "--header", os.path.join(d, "m.h")]
    for f, _, pin in row["feeds"]:
        cmd += ["--feed", "%s:%s" % (f, pin)]
    t0 = time.perf_counter()
    log = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if log.returncode:
        raise SystemExit("kiln compile failed: " + log.stdout)
    compile_s = time.perf_counter() - t0
    call = "model_train(%s, s, t)" % ", ".join("f[%d]" % i for i in range(len(row["feeds"])))
    exe = os.path.join(d, "train_driver")
    subprocess.check_call(["cc", "-O2", "-std=gnu11", "-include", os.path.join(d, "m.h"), "-DTRAIN_CALL(f,s,t)=" + call,
                           os.path.join(ROOT, "bench", "train_driver.c"), os.path.join(d, "m.o"),
                           path(os.path.join(build, "lib", "libkilnrt.a")), "-lopenblas", "-lpthread", "-lm", "-o", exe])
    kernels = re.search(r"(\d+) kernels", log.stdout)
    return dict(exe=exe, compile_s=compile_s, kernels=int(kernels.group(1)) if kernels else None)


def kiln_time(prep, row, iters):
    out = subprocess.check_output([prep["exe"], "3", str(iters)] + [path(p) for _, p, _ in row["feeds"]], text=True)
    v = dict(zip(out.split()[::2], out.split()[1::2]))
    return float(v["median_ms"]), int(v["state_bytes"]), int(v["temp_bytes"]), float(v["p10_ms"])


def p10(v):
    """The 10th percentile: on a shared machine, closer to the undisturbed step than the median."""
    return statistics.quantiles(v, n=10)[0] if len(v) >= 2 else v[0]


# ---- TensorFlow (a worker process per thread count: threads are per process) -------

def worker(args):
    os.environ["TF_XLA_FLAGS"] = (os.environ.get("TF_XLA_FLAGS", "") + " --tf_xla_cpu_global_jit").strip()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf
    tf1 = tf.compat.v1
    tf1.disable_eager_execution()
    threads = args.worker
    results = {}
    for row in json.load(open(args.models)):
        gd = tf1.GraphDef()
        gd.ParseFromString(open(path(row["pb"]), "rb").read())
        feeds_np = [np.load(path(p)) for _, p, _ in row["feeds"]]
        sessions = {}
        for mode in ("tensorflow", "xla"):
            g = tf.Graph()
            with g.as_default():
                tf1.import_graph_def(gd, name="")
            cfg = tf1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=1)
            if mode == "xla":
                cfg.graph_options.optimizer_options.global_jit_level = tf1.OptimizerOptions.ON_1
            s = tf1.Session(graph=g, config=cfg)
            s.run(row["init"])
            feed = {g.get_tensor_by_name(f + ":0"): v for (f, _, _), v in zip(row["feeds"], feeds_np)}
            train = g.get_operation_by_name(row["train"])
            for _ in range(5):
                s.run(train, feed)
            meta = tf1.RunMetadata()
            s.run(train, feed, options=tf1.RunOptions(trace_level=tf1.RunOptions.FULL_TRACE), run_metadata=meta)
            volume, xla_ran, in_use = 0, False, {}
            for dev in meta.step_stats.dev_stats:
                for ns in dev.node_stats:
                    xla_ran |= "= _XlaRun(" in ns.timeline_label
                    # the bytes of every tensor the step's ops output (an allocation volume)
                    volume += sum(o.tensor_description.allocation_description.requested_bytes for o in ns.output)
                    # the peak: each allocator's bytes in use after each op (AllocatorMemoryUsed,
                    # tracked while the traced step runs: its tensors, not the variables made
                    # before), the largest per allocator, summed over allocators
                    for m in ns.memory:
                        in_use[m.allocator_name] = max(in_use.get(m.allocator_name, 0), m.allocator_bytes_in_use, m.peak_bytes)
            sessions[mode] = (s, train, feed, volume, xla_ran, sum(in_use.values()))
        times = {k: [] for k in sessions}
        lows = {k: [] for k in sessions}
        kiln, kiln_low = [], []
        prep = row["kiln"][str(threads)]
        for _ in range(args.rounds):
            kt = kiln_time(prep, row, row["iters"])
            kiln.append(kt[0])
            kiln_low.append(kt[3])
            for k, (s, train, feed, _, _, _) in sessions.items():
                one = []
                for _ in range(row["iters"]):
                    t0 = time.perf_counter()
                    s.run(train, feed)
                    one.append((time.perf_counter() - t0) * 1e3)
                times[k] += one
                lows[k].append(p10(one))
        # medians of all steps; p10: per round the 10th percentile of its steps, median over rounds
        r = {k + "_ms": statistics.median(v) for k, v in times.items()}
        r.update({k + "_p10_ms": statistics.median(v) for k, v in lows.items()})
        r["kiln_ms"] = statistics.median(kiln)
        r["kiln_p10_ms"] = statistics.median(kiln_low)
        r["tf_step_output_bytes"] = sessions["tensorflow"][3]
        r["xla_step_output_bytes"] = sessions["xla"][3]
        r["xla_clustered"] = sessions["xla"][4]
        r["tf_step_peak_bytes"] = sessions["tensorflow"][5]
        r["xla_step_peak_bytes"] = sessions["xla"][5]
        results[row["name"]] = r
        print("worker t=%d %s %s" % (threads, row["name"], r), file=sys.stderr, flush=True)
    json.dump(results, open(args.out, "w"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--only")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--worker", type=int)
    ap.add_argument("--models")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    load_start = os.getloadavg()[0]
    os.makedirs(WORK, exist_ok=True)
    os.makedirs(RESULTS, exist_ok=True)
    rows = [r for r in ROWS if not args.only or args.only in r["name"]]
    if not rows:
        raise SystemExit("bench/train.py: no row matches --only %s (rows: %s)" % (args.only, ", ".join(r["name"] for r in ROWS)))
    for r in rows:
        if "make" in r:
            globals()[r.pop("make")](r)
    threads_list = [1, 2]
    for r in rows:
        r["kiln"] = {str(t): kiln_prepare(r, args.build, t) for t in threads_list}
        t, state, temp, _ = kiln_time(r["kiln"]["1"], r, 20)
        r["iters"] = max(5, min(500, int(20 / max(t, 1e-3))))  # about 20 ms of Kiln time per batch
        r["state_bytes"], r["temp_bytes"] = state, temp
    out_rows = []
    for threads in threads_list:
        spec = os.path.join(WORK, "rows.json")
        json.dump(rows, open(spec, "w"))
        outp = os.path.join(WORK, "tf_%d.json" % threads)
        if subprocess.call([sys.executable, __file__, "--worker", str(threads), "--models", spec, "--out", outp,
                            "--rounds", str(args.rounds)]) != 0:
            raise SystemExit("bench/train.py: worker for %d threads failed" % threads)
        res = json.load(open(outp))
        for r in rows:
            v = res[r["name"]]
            out_rows.append(dict(model=r["name"], threads=threads, kiln_ms=v["kiln_ms"], tensorflow_ms=v["tensorflow_ms"],
                                 xla_ms=v["xla_ms"], **{"kiln/tensorflow": v["kiln_ms"] / v["tensorflow_ms"],
                                                        "kiln/xla": v["kiln_ms"] / v["xla_ms"]},
                                 kiln_p10_ms=v["kiln_p10_ms"], tensorflow_p10_ms=v["tensorflow_p10_ms"],
                                 xla_p10_ms=v["xla_p10_ms"], **{"kiln/xla p10": v["kiln_p10_ms"] / v["xla_p10_ms"]},
                                 xla_clustered=v["xla_clustered"], kiln_state_bytes=r["state_bytes"],
                                 kiln_temp_bytes=r["temp_bytes"], tf_step_output_bytes=v["tf_step_output_bytes"],
                                 xla_step_output_bytes=v["xla_step_output_bytes"], tf_step_peak_bytes=v["tf_step_peak_bytes"],
                                 xla_step_peak_bytes=v["xla_step_peak_bytes"], kernels=r["kiln"][str(threads)]["kernels"],
                                 compile_s=r["kiln"][str(threads)]["compile_s"]))
    keys = list(out_rows[0].keys())
    with open(os.path.join(RESULTS, "train.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, keys)
        w.writeheader()
        w.writerows(out_rows)
    with open(os.path.join(RESULTS, "train.md"), "w") as f:
        f.write("# Training step: Kiln vs TensorFlow graph mode and XLA auto-clustering\n\n"
                "One train step (forward, TensorFlow's gradient subgraph, optimizer update), medians in ms, interleaved "
                "rounds; ratios Kiln / peer (lower is better). Memory: Kiln's state + temp arena (exact); TensorFlow's "
                "step peak is the largest bytes in use of its allocators during one traced step (step stats "
                "AllocatorMemoryUsed: the step's tensors, not the variables, which both hold alike: compare it with "
                "Kiln's temp), and its step outputs the bytes of every tensor its ops output (an allocation volume). "
                "Host: %d CPUs (shared while measured).\n\n" % (os.cpu_count() or 0))
        f.write("p10: per round the 10th percentile of its steps, the median over rounds (less disturbed by other "
                "jobs on a shared machine than the median). Load average (1 min) at the start %.1f, at the end %.1f.\n\n"
                % (load_start, os.getloadavg()[0]))
        f.write("| model | threads | kiln ms | tf ms | xla ms | kiln/tf | kiln/xla | kiln p10 | tf p10 | xla p10 | kiln/xla p10 | "
                "xla clustered | kiln state+temp B | "
                "tf step peak B | xla step peak B | tf step outputs B | xla step outputs B | kernels (init + train) |\n"
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
        for r in out_rows:
            f.write("| %s | %d | %.4f | %.4f | %.4f | %.3f | %.3f | %.4f | %.4f | %.4f | %.3f | %s | %d + %d | %d | %d | %d | %d | %s |\n" % (
                r["model"], r["threads"], r["kiln_ms"], r["tensorflow_ms"], r["xla_ms"], r["kiln/tensorflow"],
                r["kiln/xla"], r["kiln_p10_ms"], r["tensorflow_p10_ms"], r["xla_p10_ms"], r["kiln/xla p10"],
                "yes" if r["xla_clustered"] else "no", r["kiln_state_bytes"], r["kiln_temp_bytes"],
                r["tf_step_peak_bytes"], r["xla_step_peak_bytes"], r["tf_step_output_bytes"], r["xla_step_output_bytes"],
                r["kernels"]))
    print(open(os.path.join(RESULTS, "train.md")).read())


if __name__ == "__main__":
    main()
