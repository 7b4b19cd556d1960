#!/usr/bin/env python3
"""Distributed execution: pipeline throughput and the gradient allreduce (docs/distributed.md).

    tools/.bench-venv/bin/python bench/dist.py --build build [--rounds 5] [--batch 16] [--micro 16]
        [--only pipeline|allreduce] [--baseline-lib OLD/build/lib] [--baseline-kiln OLD/build/bin/kiln]

(--baseline-*: an older build, timed interleaved with this one: the
allreduce rows linked against its libkilnrt, the data-parallel step run
with its kiln, one call per step.)

Pipeline: the transformer with an unknown batch (tools/gen_models.py
--dist-bench writes build/large-fixtures/model_transformer_dyn), fed the
same `--batch` rows in every configuration: one process on 1 thread, one
process on 2 threads, one process cut into `--micro` micro-batches, and
`mpirun -np 2 --bind-to core kiln run --split 2 --micro-batches M` (each
rank 1 thread), plus the split without micro-batches.  Each run is
`kiln run --steps S --time-steps` (time per step after a barrier, without
the compile; the slowest rank's); rounds interleave the configurations,
medians are reported, with each rank's CPU time per batch (getrusage:
where a loaded machine steals the cores, the CPU time still shows each
stage's work and the polling's cost).  The split's output is compared with `cmp` against
the one-process output.

Allreduce: bench/dist_allreduce.c (kiln_rt_allreduce_f32 against Open
MPI's MPI_Allreduce on the same sizes, 2 ranks), and the allreduce's share
of a data-parallel training step (kiln run --data-parallel --time-steps
prints the time spent in it) for the MLP and LeNet, 2 ranks, with one call
per step and with buckets (--allreduce-bucket-bytes: the time the step
waited for the buckets is the communication not overlapped with backprop);
the rounds interleave the configurations.

Results: bench/results/dist.md (with the load average before and after).
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")
STEP = re.compile(r"rank (\d+): \d+ steps in [0-9.]+ s, ([0-9.]+) ms per step \(cpu ([0-9.]+) ms per step\)")
AR = re.compile(r"rank (\d+): allreduce ([0-9.]+) ms per step \(([0-9.]+)% of the step\), (\d+) calls, (\d+) bytes")
WAITED = re.compile(r"rank (\d+): allreduce .*waited for buckets ([0-9.]+) ms per step \(([0-9.]+)% of the step\)")


def run(cmd, timeout=600):
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)
    if p.returncode:
        sys.exit("bench/dist.py: %s failed (%d):\n%s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p.stdout + p.stderr


def step_ms(out, cpu=None):
    """The slowest rank's wall ms per step; cpu (a list) gets each rank's CPU ms per step, by rank."""
    ms = sorted((int(m.group(1)), float(m.group(2)), float(m.group(3))) for m in STEP.finditer(out))
    if not ms:
        sys.exit("bench/dist.py: no step time in:\n" + out)
    if cpu is not None:
        cpu.append([c for _, _, c in ms])
    return max(t for _, t, _ in ms)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def pipeline(args, kiln, work):
    fx = os.path.join(args.build, "large-fixtures", "model_transformer_dyn")
    if not os.path.exists(os.path.join(fx, "model.pb")):
        run([sys.executable if args.gen_python is None else args.gen_python, os.path.join(ROOT, "tools", "gen_models.py"),
             "--dist-bench", "--out", os.path.join(args.build, "large-fixtures")])
    ids, mask = np.load(os.path.join(fx, "in_0.npy")), np.load(os.path.join(fx, "in_1.npy"))
    reps = -(-args.batch // ids.shape[0])
    np.save(os.path.join(work, "ids.npy"), np.concatenate([ids] * reps)[:args.batch])
    np.save(os.path.join(work, "mask.npy"), np.concatenate([mask] * reps)[:args.batch])
    base = [kiln, "run", os.path.join(fx, "model.pb"), "--feed", "ids=" + os.path.join(work, "ids.npy"), "--feed",
            "mask=" + os.path.join(work, "mask.npy"), "--fetch", "Identity", "--steps", str(args.steps), "--time-steps"]
    mpi = ["mpirun", "-np", "2", "--bind-to", "core"]
    M = args.micro
    configs = [
        ("one process, 1 thread", base + ["--threads", "1", "--out-dir", os.path.join(work, "one")]),
        ("one process, 2 threads", base + ["--threads", "2", "--out-dir", os.path.join(work, "two")]),
        ("one process, %d micro-batches" % M, base + ["--micro-batches", str(M), "--out-dir", os.path.join(work, "onem")]),
        ("--split 2, 2 ranks, no micro-batches", mpi + base + ["--split", "2", "--out-dir", os.path.join(work, "s2")]),
        ("--split 2, 2 ranks, %d micro-batches" % M, mpi + base + ["--split", "2", "--micro-batches", str(M),
                                                                     "--out-dir", os.path.join(work, "s2m")]),
    ]
    times = {name: [] for name, _ in configs}
    cpus = {name: [] for name, _ in configs}
    for r in range(args.rounds):
        for name, cmd in configs:
            times[name].append(step_ms(run(cmd), cpus[name]))
        print("round %d: %s" % (r + 1, ", ".join("%.2f" % times[n][-1] for n, _ in configs)), flush=True)
    ref = open(os.path.join(work, "one", "Identity.npy"), "rb").read()
    same = {d: open(os.path.join(work, d, "Identity.npy"), "rb").read() == ref for d in ("two", "onem", "s2", "s2m")}
    return configs, times, same, cpus


def allreduce(args, kiln, work):
    libs = [("", os.path.join(args.build, "lib"))] + ([(" (baseline)", args.baseline_lib)] if args.baseline_lib else [])
    exes = []
    for tag, lib in libs:
        exe = os.path.join(work, "dist_allreduce" + ("_baseline" if tag else ""))
        subprocess.run(["mpicc", "-O2", "-I" + os.path.join(ROOT, "include"), os.path.join(ROOT, "bench", "dist_allreduce.c"),
                        "-L" + lib, "-lkilnrt", "-lopenblas", "-lpthread", "-lm", "-o", exe], check=True)
        exes.append((tag, exe))
    rows = []
    for r in range(args.ar_runs):
        for tag, exe in exes:  # interleaved
            out = run(["mpirun", "-np", "2", "--bind-to", "core", exe])
            for m in re.finditer(r"(\d+) floats: kiln +([0-9.]+) us \( *([0-9.]+) MB/s\) +MPI_Allreduce +([0-9.]+) us \( *([0-9.]+) MB/s\) +ratio ([0-9.]+)", out):
                rows.append(("%d%s" % (r + 1, tag), int(m.group(1)), float(m.group(2)), float(m.group(3)), float(m.group(4)), float(m.group(5))))
    T = os.path.join(ROOT, "tests", "train")
    models = [("MLP (batch 100, Adam, 664 floats)", os.path.join(T, "ref", "mlp.pb"), "cost", "--data-parallel=sum",
               ["x=" + os.path.join(T, "x.npy"), "y=" + os.path.join(T, "y.npy")]),
              ("LeNet small (batch 32, Momentum)", os.path.join(T, "lenet", "small", "model.pb"), "loss", "--data-parallel",
               ["x=" + os.path.join(T, "lenet", "x.npy"), "labels=" + os.path.join(T, "lenet", "labels.npy")])]
    steps = []
    for (name, pb, fetch, mode, feeds), buckets in zip(models, (1, 4096)):
        st = os.path.join(work, "state_" + fetch)
        shutil.rmtree(st, ignore_errors=True)
        run([kiln, "run", pb, "--state", st, "--fetch", "init_all_vars_op", "--out-dir", work])
        feed = sum([["--feed", f] for f in feeds], [])
        confs = [("one call", kiln, []), ("buckets of %d bytes" % buckets, kiln, ["--allreduce-bucket-bytes", str(buckets)])]
        if args.baseline_kiln:
            confs.insert(0, ("one call, " + args.baseline_kiln, args.baseline_kiln, []))
        one, dp, ar, waited = [], {c: [] for c, _, _ in confs}, {c: [] for c, _, _ in confs}, {c: [] for c, _, _ in confs}
        calls = {}
        for r in range(args.rounds):
            one.append(step_ms(run([kiln, "run", pb, "--state", st, "--fetch", fetch, "--target", "train", "--steps", "200",
                                    "--time-steps", "--out-dir", work] + feed)))
            for c, exe, extra in confs:
                out = run(["mpirun", "-np", "2", "--bind-to", "core", exe, "run", pb, "--state", st, "--fetch", fetch, "--target",
                           "train", "--steps", "200", "--time-steps", mode, "--out-dir", work] + feed + extra)
                dp[c].append(step_ms(out))
                a = [m for m in AR.finditer(out)]
                ar[c].append(max(float(m.group(3)) for m in a))
                w = [float(m.group(3)) for m in WAITED.finditer(out)]
                waited[c].append(max(w) if w else ar[c][-1])
                calls[c] = (int(a[0].group(4)) // 200, int(a[0].group(5)) // 200)
        for c, _, _ in confs:
            steps.append((name, c, statistics.median(one), statistics.median(dp[c]), statistics.median(ar[c]),
                          statistics.median(waited[c]), calls[c][0], calls[c][1]))
    return rows, steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--micro", type=int, default=16)
    ap.add_argument("--ar-runs", type=int, default=2)
    ap.add_argument("--gen-python", help="the TensorFlow venv's python for tools/gen_models.py")
    ap.add_argument("--only", choices=["pipeline", "allreduce"])
    ap.add_argument("--baseline-lib", help="another build's lib directory (libkilnrt.a) for the allreduce rows, interleaved")
    ap.add_argument("--baseline-kiln", help="another kiln binary (an older build) to time the data-parallel step with, interleaved")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    kiln = os.path.join(args.build, "bin", "kiln")
    work = os.path.join(args.build, "bench-work", "dist")
    os.makedirs(work, exist_ok=True)
    load0 = loadavg()
    lines = ["# Distributed execution (bench/dist.py)", "",
             "%d cores; load average %s before" % (os.cpu_count(), load0)]
    if args.only != "allreduce":
        configs, times, same, cpus = pipeline(args, kiln, work)
        ref = statistics.median(times[configs[0][0]])
        two = statistics.median(times[configs[1][0]])
        lines += ["", "Pipeline: transformer (2 layers, hidden 128, seq 64), batch %d, median of %d rounds of %d steps" %
                  (args.batch, args.rounds, args.steps), "",
                  "| configuration | ms per batch (median) | rows/s | vs 1 thread | vs 2 threads | CPU ms per batch, per rank (median) | rounds (ms) | output |",
                  "|---|---|---|---|---|---|---|---|"]
        out_dir = {1: "two", 2: "onem", 3: "s2", 4: "s2m"}
        for i, (name, _) in enumerate(configs):
            t = statistics.median(times[name])
            cpu = " + ".join("%.2f" % statistics.median(c[k] for c in cpus[name]) for k in range(len(cpus[name][0])))
            lines.append("| %s | %.2f | %.0f | %.2fx | %.2fx | %s | %s | %s |" % (
                name, t, args.batch / t * 1e3, ref / t, two / t, cpu, " ".join("%.2f" % x for x in times[name]),
                "reference" if i == 0 else ("identical" if same[out_dir[i]] else "DIFFERS")))
    if args.only != "pipeline":
        rows, steps = allreduce(args, kiln, work)
        lines += ["", "Allreduce, 2 ranks (bench/dist_allreduce.c: median of 7 rounds; %d runs)" % args.ar_runs, "",
                  "| floats | run | kiln_rt_allreduce_f32 us | MB/s | MPI_Allreduce us | MB/s | kiln bytes/s / MPI's |", "|---|---|---|---|---|---|---|"]
        for r, n, kt, kb, mt, mb in rows:
            lines.append("| %d | %s | %.1f | %.0f | %.1f | %.0f | %.2f |" % (n, r, kt, kb, mt, mb, kb / mb))
        lines += ["", "Data-parallel training step, 2 ranks (median of %d rounds of 200 steps; the slowest rank's)" % args.rounds, "",
                  "| model | allreduce | one process ms/step | 2 ranks ms/step | time in MPI_Allreduce, share of the step | step blocked on the allreduce | calls per step | bytes per step |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, c, one, dp, ar, w, n, b in steps:
            lines.append("| %s | %s | %.4f | %.4f | %.1f%% | %.1f%% | %d | %d |" % (name, c, one, dp, ar, w, n, b))
    lines += ["", "load average after: %s" % loadavg()]
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "dist.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
