#!/usr/bin/env python3
"""Regenerates every committed TensorFlow fixture and the sample MLP.

    sh tools/setup-venv.sh && tools/.venv/bin/python tools/gen_fixtures.py [--only NAME]... [--list] [--table]

Each fixture is tests/fixtures/NAME/ with model.pb (binary GraphDef), input
and reference-output .npy files made by TensorFlow itself, and fixture.txt
(format in docs/fixtures.md).  Deterministic: every fixture has its own
seed, TensorFlow runs on one thread and model.pb is serialized with sorted
maps, so a rerun rewrites identical bytes.  Every fixture is read back and
rerun after writing.  A full run also rewrites the table in
docs/fixtures.md.  TensorFlow is the oracle; nothing here is used by the
compiler.
"""
import argparse
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf1 = tf.compat.v1

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
REGISTRY = {}  # fixture name -> function writing it, in generation order


def fixture(fn):
    REGISTRY[fn.__name__] = fn
    return fn


def safe(name):
    return name.replace("/", "_").replace(":", "_")


class Case:
    """Collects a graph, feeds and fetches; writes the fixture directory."""

    def __init__(self, name, doc, seed):
        self.name, self.doc = name, doc
        self.rng = np.random.default_rng(seed)
        self.graph = tf.Graph()
        self.feeds = []  # (name, placeholder tensor or tensor, value)
        self.fetches = []  # (name, tensor)
        self.tol = "1e-5 1e-6"
        self.expect_error = None
        self.edit = None  # function(graph_def) applied before writing

    def rand(self, *shape, lo=-1.0, hi=1.0):
        return self.rng.uniform(lo, hi, size=shape).astype(np.float32)

    def const(self, *shape, lo=-1.0, hi=1.0, name=None):
        return tf.constant(self.rand(*shape, lo=lo, hi=hi), name=name)

    def placeholder(self, name, shape, dtype=tf.float32, value=None, lo=-1.0, hi=1.0):
        p = tf1.placeholder(dtype, shape, name=name)
        if value is None:
            value = self.rand(*shape, lo=lo, hi=hi) if dtype == tf.float32 else \
                self.rng.integers(-50, 50, size=shape).astype(np.int32)
        self.feeds.append((name, p, value))
        return p

    def feed_tensor(self, name, tensor, value):
        self.feeds.append((name, tensor, value))

    def fetch(self, tensor, name=None):
        self.fetches.append((name or tensor.op.name, tensor))

    def write(self):
        d = os.path.join(FIXTURES, self.name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        gd = self.graph.as_graph_def()
        lines = ["# " + line for line in self.doc.strip().splitlines()]
        outs = run_session(self.graph, [t for _, t in self.fetches],
                           {t: v for _, t, v in self.feeds}) if self.expect_error is None else None
        files = {}
        for name, _, value in self.feeds:
            fn = "in_%s.npy" % safe(name)
            files[fn] = value
            lines.append("feed %s %s" % (name, fn))
        for i, (name, _) in enumerate(self.fetches):
            fn = "-"
            if outs is not None:
                fn = "out_%s.npy" % safe(name)
                files[fn] = outs[i]
            lines.append("fetch %s %s" % (name, fn))
        assert len(files) == len(self.feeds) + (len(self.fetches) if outs is not None else 0), \
            "%s: two tensors map to one file name" % self.name
        lines.append("expect_error %s" % self.expect_error if self.expect_error else "tol %s" % self.tol)
        if self.edit:
            self.edit(gd)
        # deterministic=True sorts the attr maps, so a regeneration is byte-identical.
        pb = gd.SerializeToString(deterministic=True)
        with open(os.path.join(d, "model.pb"), "wb") as f:
            f.write(pb)
        for fn, value in files.items():
            np.save(os.path.join(d, fn), value)
        with open(os.path.join(d, "fixture.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        self.check(d)
        size = sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))
        assert size < 100_000, "%s: %d bytes, keep fixtures small" % (self.name, size)
        print("%-26s %7d bytes  %s" % (self.name, size, self.doc.strip().splitlines()[0]))

    def check(self, d):
        """Reads the written fixture back as the C side will: parse model.pb,
        import it into a fresh graph, feed and fetch by the names in
        fixture.txt and compare with the saved outputs bit for bit."""
        gd = tf1.GraphDef()
        with open(os.path.join(d, "model.pb"), "rb") as f:
            gd.ParseFromString(f.read())
        feeds, fetches = [], []
        for line in open(os.path.join(d, "fixture.txt")):
            w = line.split()
            if w and w[0] == "feed":
                feeds.append((tname(w[1]), np.load(os.path.join(d, w[2]))))
            elif w and w[0] == "fetch":
                fetches.append((tname(w[1]), w[2]))
        g = tf.Graph()
        with g.as_default():
            try:
                tf1.import_graph_def(gd, name="")
            except ValueError:
                if self.edit:  # an invalid GraphDef made on purpose
                    return
                raise
        assert not self.edit, "%s: the edited GraphDef still imports; TensorFlow should reject it" % self.name
        if self.expect_error:
            return
        outs = run_session(g, [n for n, _ in fetches], {n: v for n, v in feeds})
        for (n, fn), out in zip(fetches, outs):
            want = np.load(os.path.join(d, fn))
            assert out.dtype == want.dtype and out.shape == want.shape and \
                np.array_equal(out, want, equal_nan=True), "%s: %s differs on re-import" % (self.name, n)


def tname(name):
    """A fixture.txt tensor name ("h", "h:0", "scope/h") as TF's "node:index"."""
    return name if ":" in name else name + ":0"


def run_session(graph, fetches, feeds):
    # One thread: TensorFlow's reductions and matmuls then sum in one order.
    config = tf1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    with tf1.Session(graph=graph, config=config) as s:
        return s.run(fetches, feeds)


def mlp_graph(c):
    """The classic tutorial MLP: x[100,32] -> tanh(xW1+b1) -> tanh(.W2+b2) -> y_out."""
    x = c.placeholder("x", [100, 32])
    w1 = tf.constant(c.rng.normal(0, 0.5, (32, 16)).astype(np.float32), name="W1")
    b1 = tf.constant(c.rng.normal(0, 0.5, (16,)).astype(np.float32), name="b1")
    w2 = tf.constant(c.rng.normal(0, 0.5, (16, 8)).astype(np.float32), name="W2")
    b2 = tf.constant(c.rng.normal(0, 0.5, (8,)).astype(np.float32), name="b2")
    h = tf.tanh(tf.nn.bias_add(tf.matmul(x, w1), b1), name="h")
    return tf.tanh(tf.nn.bias_add(tf.matmul(h, w2), b2), name="y_out")


@fixture
def mlp():
    c = Case("mlp", "The sample MLP (samples/mlp): MatMul, BiasAdd, Tanh.", 1)
    with c.graph.as_default():
        c.fetch(mlp_graph(c))
    c.write()
    sample = os.path.join(ROOT, "samples", "mlp")
    shutil.copy(os.path.join(FIXTURES, "mlp", "model.pb"), os.path.join(sample, "mlp.pb"))
    shutil.copy(os.path.join(FIXTURES, "mlp", "in_x.npy"), os.path.join(sample, "x.npy"))
    shutil.copy(os.path.join(FIXTURES, "mlp", "out_y_out.npy"), os.path.join(sample, "y_ref.npy"))


@fixture
def mlp_feed_internal():
    c = Case("mlp_feed_internal", "The MLP fed at the internal tensor h (a Tanh), not at the placeholder.", 1)
    with c.graph.as_default():
        y = mlp_graph(c)
        c.feeds.clear()
        h = c.graph.get_tensor_by_name("h:0")
        c.feed_tensor("h", h, c.rand(100, 16))
        c.fetch(y)
    c.write()


@fixture
def matmul_transposes():
    c = Case("matmul_transposes", "MatMul with all four transpose_a/transpose_b combinations.", 2)
    with c.graph.as_default():
        a = c.placeholder("a", [6, 5])
        b = c.placeholder("b", [5, 7])
        at = c.placeholder("at", [5, 6])
        bt = c.placeholder("bt", [7, 5])
        c.fetch(tf.matmul(a, b, name="nn"))
        c.fetch(tf.matmul(at, b, transpose_a=True, name="tn"))
        c.fetch(tf.matmul(a, bt, transpose_b=True, name="nt"))
        c.fetch(tf.matmul(at, bt, transpose_a=True, transpose_b=True, name="tt"))
    c.write()


@fixture
def binary_ops():
    c = Case("binary_ops", "Add, AddV2, Sub, Mul, RealDiv, Maximum, Minimum on equal shapes.", 3)
    with c.graph.as_default():
        a = c.placeholder("a", [4, 9])
        b = c.placeholder("b", [4, 9], value=c.rand(4, 9, lo=0.5, hi=2.0) * np.where(c.rng.random((4, 9)) < 0.5, -1, 1).astype(np.float32))
        for op, name in [(tf.raw_ops.Add, "add"), (tf.raw_ops.AddV2, "addv2"), (tf.raw_ops.Sub, "sub"),
                         (tf.raw_ops.Mul, "mul"), (tf.raw_ops.RealDiv, "div"), (tf.raw_ops.Maximum, "max"),
                         (tf.raw_ops.Minimum, "min")]:
            c.fetch(op(x=a, y=b, name=name))
    c.write()


@fixture
def unary_ops():
    c = Case("unary_ops", "Neg, Abs, Square, Relu, Relu6, Tanh, Sigmoid, Exp on mixed-sign inputs.", 4)
    with c.graph.as_default():
        x = c.placeholder("x", [3, 40], lo=-8, hi=8)
        for op, name in [(tf.raw_ops.Neg, "neg"), (tf.raw_ops.Abs, "abs"), (tf.raw_ops.Square, "square"),
                         (tf.raw_ops.Relu, "relu"), (tf.raw_ops.Relu6, "relu6"), (tf.raw_ops.Tanh, "tanh"),
                         (tf.raw_ops.Sigmoid, "sigmoid"), (tf.raw_ops.Exp, "exp")]:
            c.fetch(op(x=x, name=name) if name not in ("relu", "relu6") else op(features=x, name=name))
    c.write()


@fixture
def unary_positive():
    c = Case("unary_positive", "Sqrt, Rsqrt, Log on positive inputs.", 5)
    with c.graph.as_default():
        x = c.placeholder("x", [5, 33], lo=0.01, hi=50)
        c.fetch(tf.raw_ops.Sqrt(x=x, name="sqrt"))
        c.fetch(tf.raw_ops.Rsqrt(x=x, name="rsqrt"))
        c.fetch(tf.raw_ops.Log(x=x, name="log"))
    c.write()


MATH_N = 4096
SPECIAL = [0.0, -0.0, 1e-30, -1e-30, 1e-7, -1e-7, 1e-3, -1e-3, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0]


def math_inputs(rng, lo, hi, log_spaced):
    """4096 float32 inputs: a dense grid over [lo, hi] (in powers of ten when
    log_spaced), 512 values where relative accuracy is hardest (linear
    scales: magnitudes in [1e-8, 1] with random signs, where tanh(x) ~ x;
    log scales: a dense grid over [0.5, 2] around log's root), the special
    values inside [lo, hi], and uniform random values for the rest.  Sorted,
    so a failing index is easy to read."""
    if log_spaced:
        grid = 10.0 ** np.linspace(np.log10(lo), np.log10(hi), 2048)
        rand = lambda n: 10.0 ** rng.uniform(np.log10(lo), np.log10(hi), n)  # noqa: E731
        small = np.linspace(0.5, 2.0, 512)
    else:
        grid = np.linspace(lo, hi, 2048)
        rand = lambda n: rng.uniform(lo, hi, n)  # noqa: E731
        small = 10.0 ** rng.uniform(-8, 0, 512) * np.where(rng.random(512) < 0.5, -1.0, 1.0)
        if lo >= 0:
            small = np.abs(small)
    special = [v for v in SPECIAL if lo <= v <= hi] + [lo, hi]
    v = np.concatenate([grid, small, special]).astype(np.float32)
    v = np.concatenate([v, rand(MATH_N - len(v)).astype(np.float32)])
    v = np.clip(v, np.float32(lo), np.float32(hi))
    return np.sort(v, kind="stable")


def math_fixture(fn_name, op, lo, hi, seed, log_spaced=False):
    @fixture
    def gen():
        c = Case("math_" + fn_name,
                 "Accuracy of %s over [%g, %g], %d values (dense grid, small magnitudes, random).\n"
                 "Checks Kiln's polynomial approximations against TensorFlow: rtol 2e-6 is ~16 ULP;\n"
                 "tests/test_math.c also reads in_x.npy/out_%s.npy and counts ULPs itself."
                 % (fn_name, lo, hi, MATH_N, fn_name), seed)
        with c.graph.as_default():
            x = c.placeholder("x", [MATH_N], value=math_inputs(c.rng, lo, hi, log_spaced))
            c.fetch(op(x=x, name=fn_name))
            c.tol = "2e-6 0"
        c.write()
    gen.__name__ = "math_" + fn_name
    REGISTRY["math_" + fn_name] = REGISTRY.pop("gen")


math_fixture("exp", tf.raw_ops.Exp, -87, 88, 10)
math_fixture("log", tf.raw_ops.Log, 1e-30, 1e30, 11, log_spaced=True)
math_fixture("tanh", tf.raw_ops.Tanh, -20, 20, 12)
math_fixture("sigmoid", tf.raw_ops.Sigmoid, -20, 20, 13)
math_fixture("sqrt", tf.raw_ops.Sqrt, 0, 1e6, 14)
math_fixture("rsqrt", tf.raw_ops.Rsqrt, 1e-6, 1e6, 15, log_spaced=True)


@fixture
def broadcasting():
    c = Case("broadcasting", "numpy broadcasting: scalar both sides, row [n] with [m,n], [m,1] with [1,n], [4,1,3] with [5,1].", 6)
    with c.graph.as_default():
        m = c.placeholder("m", [4, 6])
        row = c.placeholder("row", [6])
        col = c.placeholder("col", [4, 1])
        r1 = c.placeholder("r1", [1, 6])
        t3 = c.placeholder("t3", [4, 1, 3])
        t2 = c.placeholder("t2", [5, 1])
        s = tf.constant(np.float32(2.5), name="s")
        c.fetch(tf.raw_ops.Mul(x=s, y=m, name="scalar_left"))
        c.fetch(tf.raw_ops.Sub(x=m, y=s, name="scalar_right"))
        c.fetch(tf.raw_ops.AddV2(x=m, y=row, name="row_add"))
        c.fetch(tf.raw_ops.Sub(x=row, y=m, name="row_sub_left"))
        c.fetch(tf.raw_ops.Mul(x=col, y=r1, name="outer"))
        c.fetch(tf.raw_ops.Maximum(x=t3, y=t2, name="rank_expand"))
        c.fetch(tf.raw_ops.RealDiv(x=m, y=tf.abs(col) + 1.0, name="col_div"))
    c.write()


@fixture
def fusion_chains():
    c = Case("fusion_chains", "Fusion: BiasAdd->Tanh, Mul->Add->Sigmoid, a chain of 7, a diamond, a fetched intermediate.", 7)
    with c.graph.as_default():
        x = c.placeholder("x", [16, 24])
        y = c.placeholder("y", [16, 24])
        b = c.const(24, name="bias")
        c.fetch(tf.tanh(tf.nn.bias_add(x, b), name="bias_tanh"))
        c.fetch(tf.sigmoid(tf.raw_ops.AddV2(x=tf.raw_ops.Mul(x=x, y=y), y=b), name="mul_add_sigmoid"))
        t = x
        for i, op in enumerate([tf.tanh, tf.abs, tf.sqrt, tf.negative, tf.exp, tf.square, tf.sigmoid]):
            t = op(t, name="chain%d" % i)
        c.fetch(t)
        d = tf.exp(x * 0.5, name="diamond_src")
        c.fetch(tf.raw_ops.Sub(x=tf.tanh(d), y=tf.square(d), name="diamond"))
        mid = tf.raw_ops.Relu(features=x - y, name="mid")
        c.fetch(mid)
        c.fetch(tf.raw_ops.Relu6(features=mid * 7.0, name="after_mid"))
    c.write()


@fixture
def reductions():
    c = Case("reductions", "Sum, Mean, Max: one axis, several axes, negative axis, all axes, keep_dims true/false.", 8)
    with c.graph.as_default():
        x = c.placeholder("x", [3, 4, 5])
        c.fetch(tf.raw_ops.Sum(input=x, axis=[1], keep_dims=False, name="sum_1"))
        c.fetch(tf.raw_ops.Sum(input=x, axis=[0, 2], keep_dims=True, name="sum_02_keep"))
        c.fetch(tf.raw_ops.Mean(input=x, axis=-1, keep_dims=False, name="mean_neg1"))
        c.fetch(tf.raw_ops.Mean(input=x, axis=[0, 1, 2], keep_dims=False, name="mean_all"))
        c.fetch(tf.raw_ops.Max(input=x, axis=[2, 0], keep_dims=False, name="max_20"))
        c.fetch(tf.raw_ops.Max(input=x, axis=1, keep_dims=True, name="max_1_keep"))
        c.fetch(tf.raw_ops.Sum(input=x, axis=np.array([], np.int32), keep_dims=False, name="sum_none"))
        c.fetch(tf.raw_ops.Sum(input=x, axis=[-2], keep_dims=True, name="sum_neg2_keep"))
        c.fetch(tf.raw_ops.Mean(input=x, axis=[0, 2], keep_dims=True, name="mean_02_keep"))
        c.fetch(tf.raw_ops.Max(input=x, axis=[0, 1, 2], keep_dims=True, name="max_all_keep"))
    c.write()


@fixture
def softmax():
    c = Case("softmax", "Softmax on rank 1, 2, 3; rows of large magnitude (stability).", 9)
    with c.graph.as_default():
        v = c.rand(6, 10, lo=-3, hi=3)
        v[2] += 80.0
        v[3] *= 30.0
        x = c.placeholder("x", [6, 10], value=v)
        c.fetch(tf.nn.softmax(x, name="sm2"))
        r1 = c.placeholder("r1", [17])
        c.fetch(tf.nn.softmax(r1, name="sm1"))
        r3 = c.placeholder("r3", [2, 3, 7], lo=-5, hi=5)
        c.fetch(tf.nn.softmax(r3, name="sm3"))
    c.write()


@fixture
def reshape_cast():
    c = Case("reshape_cast", "Reshape (with -1), Cast float32<->int32 (truncation toward zero).", 10)
    with c.graph.as_default():
        x = c.placeholder("x", [4, 6], lo=-20, hi=20)
        r = tf.reshape(x, [2, -1, 3], name="r")
        c.fetch(tf.tanh(r, name="r_tanh"))
        c.fetch(tf.reshape(x, [24], name="flat"))
        i = tf.cast(x, tf.int32, name="to_int")
        c.fetch(i)
        c.fetch(tf.cast(i * 3, tf.float32, name="back"))
    c.write()


@fixture
def int32_ops():
    c = Case("int32_ops", "int32 arithmetic: add/sub/mul/max/min/neg/abs/square, Sum/Max, int MatMul.", 11)
    with c.graph.as_default():
        a = c.placeholder("a", [5, 6], dtype=tf.int32)
        b = c.placeholder("b", [6], dtype=tf.int32)
        c.fetch(tf.raw_ops.AddV2(x=a, y=b, name="iadd"))
        c.fetch(tf.raw_ops.Sub(x=a, y=b, name="isub"))
        c.fetch(tf.raw_ops.Mul(x=a, y=b, name="imul"))
        c.fetch(tf.raw_ops.Maximum(x=a, y=b, name="imax"))
        c.fetch(tf.raw_ops.Minimum(x=a, y=b, name="imin"))
        c.fetch(tf.raw_ops.Neg(x=a, name="ineg"))
        c.fetch(tf.raw_ops.Abs(x=a, name="iabs"))
        c.fetch(tf.raw_ops.Square(x=a, name="isquare"))
        c.fetch(tf.raw_ops.Sum(input=a, axis=[0], name="isum"))
        c.fetch(tf.raw_ops.Max(input=a, axis=[1], keep_dims=True, name="imaxr"))
        m = c.placeholder("m", [6, 3], dtype=tf.int32)
        c.fetch(tf.matmul(a, m, name="imatmul"))
        c.tol = "0 0"
    c.write()


@fixture
def const_fold_cse():
    c = Case("const_fold_cse", "Constant subgraph (folded), duplicate subexpressions and constants (CSE).\n"
             "k = Exp(Const k0) * Const half is computed from constants only; w_a and w_b are\n"
             "identical constants, so dup1/dup2 become identical once they merge; same1/same2 are\n"
             "the same op on the same inputs outright.", 12)
    with c.graph.as_default():
        x = c.placeholder("x", [8, 8])
        k = tf.raw_ops.Mul(x=tf.exp(tf.constant(c.rand(8), name="k0"), name="k_exp"),
                           y=tf.constant(np.float32(0.5), name="half"), name="k")
        w1 = tf.constant(np.full((8,), 0.25, np.float32), name="w_a")
        w2 = tf.constant(np.full((8,), 0.25, np.float32), name="w_b")
        s1 = tf.tanh(tf.raw_ops.Mul(x=x, y=w1, name="xw_a"), name="dup1")
        s2 = tf.tanh(tf.raw_ops.Mul(x=x, y=w2, name="xw_b"), name="dup2")
        e1 = tf.raw_ops.Sigmoid(x=x, name="same1")
        e2 = tf.raw_ops.Sigmoid(x=x, name="same2")
        t = tf.raw_ops.AddV2(x=tf.raw_ops.AddV2(x=s1, y=s2, name="dups"), y=k, name="t")
        c.fetch(tf.raw_ops.AddV2(x=t, y=tf.raw_ops.Mul(x=e1, y=e2, name="sames"), name="y"))
    c.write()


@fixture
def pruning():
    c = Case("pruning", "Pruning: unsupported ops (Cumsum, MatrixDeterminant) on a branch y does not need.\n"
             "The branch hangs off a live value (h), so compiling y must prune it, not fail.", 13)
    with c.graph.as_default():
        x = c.placeholder("x", [4, 4])
        h = tf.tanh(x, name="h")
        dead = tf.linalg.det(tf.math.cumsum(h, axis=1, name="unneeded_cumsum"), name="unneeded_det")
        tf.raw_ops.AddV2(x=dead, y=tf.constant(1.0), name="unneeded_sink")
        c.fetch(tf.sigmoid(h, name="y"))
    c.write()


@fixture
def placeholders():
    c = Case("placeholders", "PlaceholderWithDefault (unfed: its default), Identity, NoOp control deps, fetch by name:0.", 14)
    with c.graph.as_default():
        x = c.placeholder("x", [3, 4])
        d = tf1.placeholder_with_default(tf.constant(c.rand(3, 4), name="dflt"), [3, 4], name="pwd")
        with tf.control_dependencies([tf.no_op(name="noop")]):
            i = tf.identity(x * 2.0, name="ident")
        y = tf.raw_ops.AddV2(x=i, y=d, name="y")
        c.fetches.append(("y:0", y))
    c.write()


@fixture
def scoped_names():
    c = Case("scoped_names", "Tensor names with '/' (name scopes) and ':' (fed and fetched as \"name:0\").", 19)
    with c.graph.as_default():
        with tf.name_scope("input"):
            x = tf1.placeholder(tf.float32, [2, 5], name="x")
        c.feed_tensor("input/x:0", x, c.rand(2, 5))
        with tf.name_scope("dense"):
            h = tf.nn.bias_add(tf.matmul(x, c.const(5, 3, name="w")), c.const(3, name="b"), name="pre")
            y = tf.tanh(h, name="out")
        c.fetch(y, "dense/out:0")
        c.fetch(h, "dense/pre")
    c.write()


@fixture
def placeholder_default_fed():
    c = Case("placeholder_default_fed", "PlaceholderWithDefault fed with a value (overrides the default).", 15)
    with c.graph.as_default():
        d = tf1.placeholder_with_default(tf.constant(c.rand(2, 3), name="dflt"), [2, 3], name="pwd")
        c.feed_tensor("pwd", d, c.rand(2, 3))
        c.fetch(tf.exp(d, name="y"))
    c.write()


@fixture
def two_layer_relu():
    c = Case("two_layer_relu", "Dense layers with Relu and Relu6, Mean and Softmax head: the ops together.", 16)
    with c.graph.as_default():
        x = c.placeholder("x", [10, 20])
        h = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, c.const(20, 30)), c.const(30)), name="h1")
        h = tf.nn.relu6(tf.nn.bias_add(tf.matmul(h, c.const(30, 12), transpose_b=False), c.const(12)) * 4.0, name="h2")
        c.fetch(tf.nn.softmax(h, name="probs"))
        c.fetch(tf.reduce_mean(h, axis=0, name="mean_h"))
    c.write()


@fixture
def unsupported_ops():
    c = Case("unsupported_ops", "Two unsupported ops (Digamma, Lgamma) on the fetch path: both must be listed in one error.", 17)
    with c.graph.as_default():
        x = c.placeholder("x", [1, 8, 8, 3])
        at = tf.math.digamma(x, name="digamma")
        cs = tf.math.lgamma(at, name="lgamma")
        c.fetch(tf.tanh(cs, name="y"))
        c.expect_error = "unsupported op"
    c.write()


@fixture
def shape_mismatch():
    c = Case("shape_mismatch", "A GraphDef edited so that an Add of f32[3] and f32[4] cannot broadcast.", 18)
    with c.graph.as_default():
        x = c.placeholder("x", [3])
        k = tf.constant(c.rand(3), name="k")
        c.fetch(tf.raw_ops.AddV2(x=x, y=k, name="y"))
        c.expect_error = "broadcast"

        def edit(gd):
            for n in gd.node:
                if n.name == "k":
                    t = n.attr["value"].tensor
                    t.tensor_shape.dim[0].size = 4
                    t.tensor_content = np.arange(4, dtype=np.float32).tobytes()
        c.edit = edit
    c.write()


DOC = os.path.join(ROOT, "docs", "fixtures.md")
DOC_BEGIN, DOC_END = "<!-- gen_fixtures.py: table begin -->", "<!-- gen_fixtures.py: table end -->"


def doc_table():
    """The fixture table of docs/fixtures.md, from the written fixture.txt files."""
    rows = ["| fixture | exercises | feeds -> fetches | check |", "|---|---|---|---|"]
    for name in REGISTRY:
        text = open(os.path.join(FIXTURES, name, "fixture.txt")).read().splitlines()
        words = [ln.split() for ln in text]
        about = [ln[2:] for ln in text if ln.startswith("# ")][0].replace("|", "\\|")
        feeds = ", ".join("`%s`" % w[1] for w in words if w and w[0] == "feed") or "none"
        fetches = ", ".join("`%s`" % w[1] for w in words if w and w[0] == "fetch")
        tol = [w for w in words if w and w[0] in ("tol", "expect_error")][0]
        check = "rtol %s, atol %s" % (tol[1], tol[2]) if tol[0] == "tol" else \
            "error containing \"%s\"" % " ".join(tol[1:])
        rows.append("| %s | %s | %s -> %s | %s |" % (name, about, feeds, fetches, check))
    return "\n".join(rows)


def update_doc():
    text = open(DOC).read()
    if DOC_BEGIN not in text:
        print("docs/fixtures.md has no table markers; table not updated", file=sys.stderr)
        return
    head, rest = text.split(DOC_BEGIN, 1)
    tail = rest.split(DOC_END, 1)[1]
    with open(DOC, "w") as f:
        f.write(head + DOC_BEGIN + "\n" + doc_table() + "\n" + DOC_END + tail)


def main():
    ap = argparse.ArgumentParser(description="Regenerate the TensorFlow fixtures under tests/fixtures.")
    ap.add_argument("--only", action="append", metavar="NAME", help="only this fixture (repeatable)")
    ap.add_argument("--list", action="store_true", help="print the fixture names and exit")
    ap.add_argument("--table", action="store_true", help="print the docs/fixtures.md table and exit")
    args = ap.parse_args()
    if args.list:
        print("\n".join(REGISTRY))
        return 0
    if args.table:
        print(doc_table())
        return 0
    unknown = [n for n in args.only or [] if n not in REGISTRY]
    if unknown:
        ap.error("unknown fixture %s (see --list)" % ", ".join(unknown))
    tf1.disable_eager_execution()
    os.makedirs(FIXTURES, exist_ok=True)
    for name, fn in REGISTRY.items():
        if not args.only or name in args.only:
            fn()
    if not args.only:
        update_doc()
    return 0


if __name__ == "__main__":
    sys.exit(main())
