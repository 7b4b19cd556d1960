"""TensorFlow references for the sparse ops (frontend/tf/tf_ops_sparse.c),
run by tests/test_sparse.c.

    tools/.venv/bin/python tools/gen_sparse.py [--out tests/train/sparse]

Each case is a directory <out>/<case>/ with model.pb and ref.txt, whose
lines are
  feed NAME DTYPE N v...     a placeholder's value (static shape in the graph)
  fetch NAME DTYPE N v...    TensorFlow's value of a fetch (one run, no targets,
                             after init_all_vars_op where the case has variables)
  steps K                    then target "upd" K times
  var NAME N v...            a variable's value after those runs (float32)
DTYPE is i32, i64 or f32.  Unique's y and UniqueWithCounts' counts are
written in Kiln's static-bound representation: TensorFlow's values, then -1
(y) or 0 (counts) up to the input's length (docs/training.md); a segment
sum whose num_segments is Shape(y)[0] likewise gets zero rows.  Indices
repeat in every case (duplicate-index semantics); one case has indices out
of range, where TensorFlow raises and Kiln drops the update (its expected
values are TensorFlow's on the in-range part: `oob`).
"""
import argparse
import os
import shutil

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
raw = tf.raw_ops
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def fmt(a):
    a = np.asarray(a)
    t = {np.dtype(np.int32): "i32", np.dtype(np.int64): "i64", np.dtype(np.float32): "f32"}[a.dtype]
    return "%s %d %s" % (t, a.size, " ".join(("%d" if t != "f32" else "%.9g") % v for v in a.flatten()))


class C:
    def __init__(self, name):
        self.name, self.g = name, tf.Graph()
        self.feeds, self.fetches, self.pad, self.steps = [], [], {}, 0

    def ph(self, name, value):
        value = np.asarray(value)
        p = tf1.placeholder(tf.as_dtype(value.dtype), value.shape, name=name)
        self.feeds.append((name, p, value))
        return p

    def fetch(self, t, name, pad_to=None, fill=0):
        self.fetches.append((name, tf.identity(t, name=name), pad_to, fill))

    def write(self, out):
        d = os.path.join(out, self.name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        with self.g.as_default():
            init = tf1.variables_initializer(tf1.global_variables(), name="init_all_vars_op")
        with open(os.path.join(d, "model.pb"), "wb") as f:
            f.write(self.g.as_graph_def().SerializeToString(deterministic=True))
        lines = ["feed %s %s" % (n, fmt(v)) for n, _, v in self.feeds]
        fd = {p: v for _, p, v in self.feeds}
        cfg = tf1.ConfigProto(inter_op_parallelism_threads=1, intra_op_parallelism_threads=1)
        with self.g.as_default(), tf1.Session(graph=self.g, config=cfg) as s:
            if self.steps:
                s.run(init)
            for n, t, pad_to, fill in self.fetches:
                v = s.run(t, fd)
                if pad_to is not None and v.shape[0] < pad_to:
                    v = np.concatenate([v, np.full((pad_to - v.shape[0],) + v.shape[1:], fill, v.dtype)])
                lines.append("fetch %s %s" % (n, fmt(v)))
            if self.steps:
                for _ in range(self.steps):
                    s.run("upd", fd)
                lines.append("steps %d" % self.steps)
                for v in tf1.global_variables():
                    lines.append("var %s %s" % (v.op.name, fmt(s.run(v)).split(" ", 1)[1]))
        with open(os.path.join(d, "ref.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")


X = np.array([3, 1, 3, 7, 1, 1, 9, 3, 0, 7], np.int32)


@case
def unique():
    c = C("unique")
    with c.g.as_default():
        x = c.ph("x", X)
        y, idx = tf.unique(x)
        c.fetch(y, "y", 10, -1), c.fetch(idx, "idx")
        y2, idx2, cnt = tf.unique_with_counts(tf.cast(x, tf.int64), out_idx=tf.int64)
        c.fetch(y2, "y64", 10, -1), c.fetch(idx2, "idx64"), c.fetch(cnt, "count", 10, 0)
        f = c.ph("f", np.array([0.5, -1.0, 0.5, 2.0, -1.0, 0.0], np.float32))
        yf, idxf = tf.unique(f)
        c.fetch(yf, "yf", 6, -1), c.fetch(idxf, "idxf")
    return c


@case
def segments():
    c = C("segments")
    rng = np.random.default_rng(3)
    with c.g.as_default():
        data = c.ph("data", rng.normal(size=(7, 3)).astype(np.float32))
        ids = c.ph("ids", np.array([0, 3, 0, -1, 3, 1, 0], np.int32))  # segment 2 empty, -1 dropped
        for op in ("sum", "prod", "max", "min"):
            c.fetch(getattr(tf.math, "unsorted_segment_" + op)(data, ids, 4), op)
        d3 = c.ph("d3", rng.normal(size=(2, 3, 2)).astype(np.float32))
        c.fetch(tf.math.unsorted_segment_sum(d3, tf.constant([[1, 0, 1], [2, 1, 1]]), 3), "sum2d")
        di = c.ph("di", np.array([[1, 2], [3, 4], [5, 6]], np.int32))
        c.fetch(tf.math.unsorted_segment_max(di, tf.constant([1, 1, 0]), 3), "maxint")
    return c


@case
def dedupe():
    """TF's optimizer _deduplicate_indexed_slices: unique + unsorted_segment_sum(shape(y)[0])."""
    c = C("dedupe")
    rng = np.random.default_rng(4)
    with c.g.as_default():
        vals = c.ph("vals", rng.normal(size=(10, 4)).astype(np.float32))
        x = c.ph("x", X)
        y, idx = tf.unique(x)
        summed = tf.math.unsorted_segment_sum(vals, idx, tf.shape(y)[0])
        c.fetch(summed, "summed", 10, 0), c.fetch(y, "y", 10, -1)
    return c


def emb_var(name, rows=10, cols=3, seed=0, resource=True, lo=-1.0):
    rng = np.random.default_rng(seed)
    v = rng.uniform(lo, 1.0, (rows, cols)).astype(np.float32)
    return tf1.Variable(v, name=name, use_resource=resource)


IDX = np.array([4, 2, 4, 9, 2, 4], np.int32)


@case
def gather_scatter():
    c = C("gather_scatter")
    rng = np.random.default_rng(5)
    with c.g.as_default():
        ids = c.ph("ids", IDX)
        upd = c.ph("u", rng.uniform(0.5, 2.0, (6, 3)).astype(np.float32))
        ops = []
        v = emb_var("g")
        c.fetch(tf.gather(v, ids), "gathered")  # ResourceGather, before any update
        for k, name in enumerate(["add", "sub", "mul", "min", "max", "update"]):
            r = emb_var("r_" + name, seed=k + 1)
            ops.append(getattr(raw, "ResourceScatter" + name.capitalize())(resource=r.handle, indices=ids, updates=upd))
            q = emb_var("q_" + name, seed=k + 1, resource=False)
            fn = {"add": tf1.scatter_add, "sub": tf1.scatter_sub, "mul": tf1.scatter_mul, "min": tf1.scatter_min,
                  "max": tf1.scatter_max, "update": tf1.scatter_update}[name]
            ops.append(fn(q, ids, upd).op)
        s = emb_var("scalar_upd", seed=9)
        ops.append(raw.ResourceScatterAdd(resource=s.handle, indices=ids, updates=tf.constant(0.25)))
        tf.group(*ops, name="upd")
    c.steps = 2
    return c


@case
def sparse_apply():
    c = C("sparse_apply")
    rng = np.random.default_rng(6)
    with c.g.as_default():
        ids = c.ph("ids", IDX)
        g = c.ph("grad", rng.normal(size=(6, 3)).astype(np.float32))
        ops = []
        for res in (True, False):
            sfx = "_res" if res else "_ref"
            mk = lambda n, lo=-1.0: emb_var(n + sfx, seed=len(ops) + 11, resource=res, lo=lo)  # noqa: E731
            v, a = mk("mom_var"), mk("mom_acc")
            vn, an = mk("nest_var"), mk("nest_acc")
            w, acc = mk("ada_var"), mk("ada_acc", 0.1)
            w2, acc2 = mk("ada2_var"), mk("ada2_acc", 0.1)
            r, ms, mo = mk("rms_var"), mk("rms_ms", 0.1), mk("rms_mom")
            if res:
                ops += [raw.ResourceSparseApplyMomentum(var=v.handle, accum=a.handle, lr=0.1, grad=g, indices=ids, momentum=0.9),
                        raw.ResourceSparseApplyMomentum(var=vn.handle, accum=an.handle, lr=0.1, grad=g, indices=ids,
                                                        momentum=0.9, use_nesterov=True),
                        raw.ResourceSparseApplyAdagrad(var=w.handle, accum=acc.handle, lr=0.1, grad=g, indices=ids),
                        raw.ResourceSparseApplyAdagradV2(var=w2.handle, accum=acc2.handle, lr=0.1, epsilon=1e-3, grad=g,
                                                         indices=ids),
                        raw.ResourceSparseApplyRMSProp(var=r.handle, ms=ms.handle, mom=mo.handle, lr=0.01, rho=0.9,
                                                       momentum=0.5, epsilon=1e-3, grad=g, indices=ids)]
            else:
                ops += [raw.SparseApplyMomentum(var=v._ref(), accum=a._ref(), lr=0.1, grad=g, indices=ids, momentum=0.9).op,
                        raw.SparseApplyMomentum(var=vn._ref(), accum=an._ref(), lr=0.1, grad=g, indices=ids, momentum=0.9,
                                                use_nesterov=True).op,
                        raw.SparseApplyAdagrad(var=w._ref(), accum=acc._ref(), lr=0.1, grad=g, indices=ids).op,
                        raw.SparseApplyAdagradV2(var=w2._ref(), accum=acc2._ref(), lr=0.1, epsilon=1e-3, grad=g,
                                                 indices=ids).op,
                        raw.SparseApplyRMSProp(var=r._ref(), ms=ms._ref(), mom=mo._ref(), lr=0.01, rho=0.9, momentum=0.5,
                                               epsilon=1e-3, grad=g, indices=ids).op]
        tf.group(*ops, name="upd")
    c.steps = 3
    return c


@case
def optimizers():
    """TF1 optimizers on an embedding lookup: the IndexedSlices gradient
    through Unique / UnsortedSegmentSum and each optimizer's sparse path."""
    c = C("optimizers")
    rng = np.random.default_rng(7)
    with c.g.as_default():
        ids = c.ph("ids", np.array([[4, 2, 4], [9, 2, 4]], np.int32))
        t = c.ph("t", rng.normal(size=(2, 3, 3)).astype(np.float32))
        # one optimizer object per minimize: one Adam shared by two minimize()
        # calls shares beta1_power, and the two updates of it race
        opts = {"adam": lambda: tf1.train.AdamOptimizer(0.05), "momentum": lambda: tf1.train.MomentumOptimizer(0.1, 0.9),
                "adagrad": lambda: tf1.train.AdagradOptimizer(0.1),
                "rmsprop": lambda: tf1.train.RMSPropOptimizer(0.01, momentum=0.5),
                "gd": lambda: tf1.train.GradientDescentOptimizer(0.1)}
        ops = []
        for k, (name, make) in enumerate(opts.items()):
            for res in (True, False):
                o = make()
                e = emb_var("%s_%s" % (name, "res" if res else "ref"), seed=20 + k, resource=res)
                loss = tf.reduce_sum(tf.square(tf.nn.embedding_lookup(e, ids) - t))
                ops.append(o.minimize(loss, var_list=[e]))
        tf.group(*ops, name="upd")
    c.steps = 3
    return c


@case
def oob():
    """Indices out of range: TensorFlow raises InvalidArgument; Kiln drops the
    update (scatters) or clamps (gathers). The references are TF's values for
    the in-range indices only."""
    c = C("oob")
    rng = np.random.default_rng(8)
    u = rng.uniform(0.5, 2.0, (4, 3)).astype(np.float32)
    with c.g.as_default():
        ids = c.ph("ids", np.array([1, 12, -3, 1], np.int32))
        c.ph("u", u)
        r = emb_var("r")
        # the reference is TF's update with the in-range rows only
        ok = tf.constant([1, 1], tf.int32)
        tf.group(raw.ResourceScatterAdd(resource=r.handle, indices=ok, updates=tf.constant(u[[0, 3]])), name="ref_upd")
        c.fetch(tf.math.unsorted_segment_sum(tf.constant(u), tf.constant([1, 0, 1, 1]), 2), "seg")
    c.steps = 1
    return c


def write_errors(out):
    """errors/model.pb, no references: graphs Kiln refuses with a message
    naming the node (test_sparse.c checks the messages)."""
    g = tf.Graph()
    with g.as_default():
        data = tf1.placeholder(tf.float32, [4, 3], name="data")
        ns = tf1.placeholder(tf.int32, [], name="ns")
        tf.identity(tf.math.unsorted_segment_sum(data, tf.constant([0, 1, 0, 1]), ns, name="seg_dyn"), name="seg_out")
        ids = tf1.placeholder(tf.int32, [300], name="ids")
        grad = tf1.placeholder(tf.float32, [300, 3], name="grad")
        v = tf1.Variable(np.zeros((10, 3), np.float32), name="v", use_resource=True)
        a = tf1.Variable(np.zeros((10, 3), np.float32), name="a", use_resource=True)
        raw.ResourceSparseApplyMomentum(var=v.handle, accum=a.handle, lr=0.1, grad=grad, indices=ids, momentum=0.9,
                                        name="long_apply")
        bad = tf1.placeholder(tf.float32, [5, 3], name="bad_grad")
        bix = tf1.placeholder_with_default(tf.constant([1, 2]), [None], name="bad_ids")  # shape checked by Kiln only
        raw.ResourceScatterAdd(resource=v.handle, indices=bix, updates=bad, name="bad_scatter")
        tf1.variables_initializer(tf1.global_variables(), name="init_all_vars_op")
    d = os.path.join(out, "errors")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    with open(os.path.join(d, "model.pb"), "wb") as f:
        f.write(g.as_graph_def().SerializeToString(deterministic=True))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/train/sparse")
    a = ap.parse_args()
    for fn in CASES:
        c = fn()
        if c.name == "oob":
            write_oob(c, a.out)
        else:
            c.write(a.out)
        print(c.name)
    write_errors(a.out)


def write_oob(c, out):
    """model.pb has upd = ScatterAdd at ids (with out-of-range entries);
    ref.txt holds TF's values of the in-range update (ref_upd)."""
    with c.g.as_default():
        r = [v for v in tf1.global_variables() if v.op.name == "r"][0]
        ids = c.g.get_tensor_by_name("ids:0")
        u = c.g.get_tensor_by_name("u:0")
        tf.group(raw.ResourceScatterAdd(resource=r.handle, indices=ids, updates=u), name="upd")
        seg_bad = tf.identity(tf.math.unsorted_segment_sum(u, tf.constant([1, 5, 0, 1]), 2), name="seg_bad")
    d = os.path.join(out, c.name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    with c.g.as_default():
        init = tf1.variables_initializer(tf1.global_variables(), name="init_all_vars_op")
    with open(os.path.join(d, "model.pb"), "wb") as f:
        f.write(c.g.as_graph_def().SerializeToString(deterministic=True))
    fd = {p: v for _, p, v in c.feeds}
    with c.g.as_default(), tf1.Session(graph=c.g) as s:
        seg = s.run(c.fetches[0][1])  # the in-range ids' sum (u rows 0, 2, 3 at 1; row 1 at 0 dropped below)
        s.run(init)
        s.run("ref_upd")
        rv = s.run(r)
    useg = fd[u]
    seg_ref = np.zeros((2, 3), np.float32)
    seg_ref[1] = (useg[0] + useg[3]).astype(np.float32)  # ids [1, 5, 0, 1]: 5 dropped; row 2 (id 0) at 0
    seg_ref[0] = useg[2]
    lines = ["feed %s %s" % (n, fmt(v)) for n, _, v in c.feeds]
    lines += ["fetch seg_bad %s" % fmt(seg_ref), "steps 1", "var r %s" % fmt(rv).split(" ", 1)[1]]
    del seg
    with open(os.path.join(d, "ref.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
