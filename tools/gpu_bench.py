#!/usr/bin/env python3
"""GPU microbenchmark of Kiln's cuda objects (run by tools/gpu-check.sh on the
device machine; needs cupy, no TensorFlow):

    python3 tools/gpu_bench.py DIR     # DIR holds libkiln_chain.so, libkiln_add.so

Each library is bench/gpu/{chain,add}.pb compiled with --target cuda (N = 2^24
float32) and linked with runtime/gpu.c.  Inputs are made on the GPU by cupy,
the model runs through P_run_device on cupy's stream (same primary context),
its output is checked against numpy, then timed with CUDA events (median of
50 runs) and reported as GB/s of bytes read + written, next to a
device-to-device copy of the same size (cudaMemcpyAsync) and cupy's own
fused elementwise kernel for the same expression.
"""
import ctypes
import sys

import cupy as cp
import numpy as np

N = 1 << 24


def timed(fn, reps=50):
    fn()
    cp.cuda.get_current_stream().synchronize()
    start, end = cp.cuda.Event(), cp.cuda.Event()
    times = []
    for _ in range(reps):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, end) * 1e-3)
    return float(np.median(times))


def load(d, name):
    lib = ctypes.CDLL(f"{d}/libkiln_{name}.so")
    init = getattr(lib, f"{name}_init")
    init.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
    run = getattr(lib, f"{name}_run_device")
    run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    err = getattr(lib, f"{name}_error")
    err.restype = ctypes.c_char_p
    g = ctypes.c_void_p()
    rc = init(ctypes.byref(g), None)
    if rc:
        raise SystemExit(f"{name}_init: {rc}: {err().decode()}")
    return g, run, err


def main():
    d = sys.argv[1]
    cp.cuda.Device(0).use()
    rng = cp.random.default_rng(1)
    stream = cp.cuda.get_current_stream().ptr
    ok = True
    results = []
    for name, n_in in (("chain", 1), ("add", 2)):
        g, run, err = load(d, name)
        xs = [rng.standard_normal(N, dtype=cp.float32) for _ in range(n_in)]
        out = cp.full(N, cp.nan, dtype=cp.float32)
        args = (ctypes.c_void_p * (n_in + 1))(*[x.data.ptr for x in xs], out.data.ptr)

        def kiln():
            rc = run(g, args, stream)
            if rc:
                raise SystemExit(f"{name}_run_device: {rc}: {err().decode()}")

        kiln()
        cp.cuda.get_current_stream().synchronize()
        hx = [cp.asnumpy(x).astype(np.float64) for x in xs]
        if name == "chain":
            ref = np.tanh(hx[0] * 1.5 + 0.25) / (1 + np.exp(-hx[0])) - np.maximum(hx[0], 0) / 3
            cupy_fn = lambda: cp.subtract(cp.tanh(xs[0] * 1.5 + 0.25) / (1 + cp.exp(-xs[0])), cp.maximum(xs[0], 0) / 3)  # noqa: E731
        else:
            ref = hx[0] + hx[1]
            cupy_fn = lambda: cp.add(xs[0], xs[1])  # noqa: E731
        e = float(np.max(np.abs(cp.asnumpy(out) - ref)))
        good = e <= 1e-5 * 4
        ok &= good
        moved = (n_in + 1) * N * 4
        t_kiln = timed(kiln)
        t_cupy = timed(cupy_fn)
        src, dst = xs[0], cp.empty_like(xs[0])
        t_copy = timed(lambda: cp.cuda.runtime.memcpyAsync(dst.data.ptr, src.data.ptr, N * 4, 3, stream))
        results.append((name, e, good, moved / t_kiln / 1e9, moved / t_cupy / 1e9, 2 * N * 4 / t_copy / 1e9, t_kiln))
    for name, e, good, bw, bw_cupy, bw_copy, t in results:
        print(f"bench {name}: N=2^24 float32, max abs error vs numpy {e:.3g} ({'ok' if good else 'BAD'}); "
              f"kiln {bw:.0f} GB/s ({t * 1e6:.0f} us), cupy elementwise {bw_cupy:.0f} GB/s, "
              f"device-to-device copy {bw_copy:.0f} GB/s; kiln/copy {bw / bw_copy:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
