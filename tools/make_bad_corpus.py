#!/usr/bin/env python3
"""Writes tests/corpus/: broken GraphDefs, ONNX models and .npy files every reader
must reject cleanly, and small well-formed GraphDefs (tests/corpus/tf/) for the
frontend tests.

    python3 tools/make_bad_corpus.py

Standard library only: protobuf is hand-encoded here, so each file is broken
in exactly the way its name says.  Each .pb has a sibling .txt naming the
fetch to ask for and a substring the error must contain; each bad .onnx a
sibling .txt with the kiln command to run (compile or run) and the substring.
"""
import os
import random
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_PB = os.path.join(ROOT, "tests", "corpus", "bad_pb")
OUT_NPY = os.path.join(ROOT, "tests", "corpus", "bad_npy")
OUT_ONNX = os.path.join(ROOT, "tests", "corpus", "bad_onnx")


def varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    if wire == 2:
        return key + varint(len(payload)) + payload
    if wire == 5:
        return key + payload
    raise ValueError(wire)


def s(num, text):
    return field(num, 2, text.encode() if isinstance(text, str) else text)


def shape(dims):
    return b"".join(field(2, 2, field(1, 0, d)) for d in dims)


def tensor(dtype, dims, content=None, floats=None):
    t = field(1, 0, dtype) + field(2, 2, shape(dims))
    if content is not None:
        t += field(4, 2, content)
    if floats is not None:
        t += field(5, 2, b"".join(struct.pack("<f", f) for f in floats))
    return t


def attr(key, value):
    return field(5, 2, s(1, key) + field(2, 2, value))


def node(name, op, inputs=(), attrs=b""):
    return field(1, 2, s(1, name) + s(2, op) + b"".join(s(3, i) for i in inputs) + attrs)


def placeholder(name, dims):
    return node(name, "Placeholder", (), attr("dtype", field(6, 0, 1)) + attr("shape", field(7, 2, shape(dims))))


def const(name, dims, content=None, floats=None):
    return node(name, "Const", (), attr("dtype", field(6, 0, 1)) +
                attr("value", field(8, 2, tensor(1, dims, content, floats))))


# ---- well-formed graphs for tests/test_tf_frontend.c (tests/corpus/tf/) ----

DT_FLOAT, DT_INT32, DT_INT64, DT_COMPLEX64 = 1, 3, 9, 8


def typed(name, op, inputs, dtype=DT_FLOAT, extra=b""):
    return node(name, op, inputs, attr("T", field(6, 0, dtype)) + extra)


def const_ints(name, dtype, dims, values, packed=True):
    """int32 (int_val, field 7) or int64 (int64_val, field 10) constant."""
    num = 7 if dtype == DT_INT32 else 10
    if packed:
        vals = field(num, 2, b"".join(varint(v) for v in values))
    else:
        vals = b"".join(field(num, 0, v) for v in values)
    t = field(1, 0, dtype) + field(2, 2, shape(dims)) + vals
    return node(name, "Const", (), attr("dtype", field(6, 0, dtype)) + attr("value", field(8, 2, t)))


def const_floats_unpacked(name, dims, values):
    t = field(1, 0, DT_FLOAT) + field(2, 2, shape(dims))
    t += b"".join(field(5, 5, struct.pack("<f", v)) for v in values)
    return node(name, "Const", (), attr("dtype", field(6, 0, DT_FLOAT)) + attr("value", field(8, 2, t)))


def output_shapes(*shapes):
    return attr("_output_shapes", field(1, 2, b"".join(field(7, 2, shape(d)) for d in shapes)))


CASES = {
    # name: (bytes, fetch, expected substring)
    "empty": (b"", "y", "empty"),
    "random": (bytes(random.Random(7).getrandbits(8) for _ in range(333)), "y", "GraphDef"),
    "huge_length": (b"\x0a\xff\xff\xff\xff\x0f" + b"\x00" * 10, "y", "GraphDef"),
    "wrong_wire_type": (field(1, 0, 5) + field(2, 0, 7), "y", "GraphDef"),
    "no_nodes": (field(4, 2, field(1, 0, 5)), "y", "no nodes"),
    "short_content": (placeholder("x", [4]) + const("k", [4], content=b"\x00" * 8) +
                      node("y", "AddV2", ["x", "k"]), "y", "tensor_content"),
    "negative_dim": (const("k", [-3], floats=[1.0]) + node("y", "Exp", ["k"]), "y", "not static"),
    "rank40": (const("k", [1] * 40, floats=[1.0]) + node("y", "Exp", ["k"]), "y", "rank"),
    "missing_input": (placeholder("x", [2]) + node("y", "Exp", ["nowhere"]), "y", "names no node"),
    "cycle": (node("a", "Exp", ["b"]) + node("b", "Exp", ["a"]) + node("y", "Exp", ["a"]), "y", "cycle"),
    "duplicate_name": (placeholder("x", [2]) + placeholder("x", [2]), "x", "two nodes"),
    "too_many_values": (const("k", [2], floats=[1.0, 2.0, 3.0]) + node("y", "Exp", ["k"]), "y", "values"),
    "dynamic_placeholder": (placeholder("x", [-1, 3]) + node("y", "Exp", ["x"]), "y", "static"),
    "wrong_arity": (placeholder("x", [2]) + node("y", "AddV2", ["x"]), "y", "expects 2 inputs"),
    "bad_output_index": (placeholder("x", [2]) + node("y", "Exp", ["x:3"]), "y", "output"),
    # A well-formed protobuf of another kind (an ONNX ModelProto's opening
    # fields): the wire types do not fit GraphDef's.
    "not_graphdef": (field(1, 0, 7) + s(2, "onnx-example") + s(3, "1.0"), "y", "GraphDef"),
    "string_const": (node("k", "Const", (), attr("dtype", field(6, 0, 7)) +
                          attr("value", field(8, 2, field(1, 0, 7) + field(2, 2, shape([1])) + s(8, "hi")))) +
                     node("y", "Identity", ["k"]), "y", "DT_STRING"),
    "unknown_dtype": (node("k", "Const", (), attr("dtype", field(6, 0, 7)) +
                           attr("value", field(8, 2, tensor(7, [1])))) + node("y", "Exp", ["k"]), "y", "dtype"),
    "strided_new_axes": (placeholder("x", [2]) + const_ints("z32", DT_INT32, [32], [0] * 32) +
                         const_ints("o32", DT_INT32, [32], [1] * 32) +
                         node("y", "StridedSlice", ["x", "z32", "z32", "o32"],
                              attr("new_axis_mask", field(3, 0, 0xffffffff))), "y", "rank"),
    "slice_huge_begin": (placeholder("x", [2, 3]) + const_ints("b", DT_INT64, [2], [-(1 << 63), 0]) +
                         const_ints("sz", DT_INT64, [2], [-1, -1]) + node("y", "Slice", ["x", "b", "sz"]),
                         "y", "out of range"),
    "tile_overflow": (placeholder("x", [2, 3]) + const_ints("m", DT_INT64, [2], [1 << 62, 1 << 62]) +
                      node("y", "Tile", ["x", "m"]), "y", "large"),
    "huge_placeholder": (placeholder("x", [1 << 45, 1]) + node("y", "Exp", ["x"]), "y", "shape is too large"),
    "reshape_overflow": (placeholder("x", [2, 3]) + const_ints("sh", DT_INT64, [3], [1 << 62, 1 << 62, -1]) +
                         node("y", "Reshape", ["x", "sh"]), "y", "large"),
}

# GraphDefs that import cleanly and are refused by a pass (passes/infer.c's
# limits): tests/corpus/bad_pb_passes/, same .txt format, run by cli.sh.
PASS_CASES = {
    "gather_const_oob": (placeholder("x", [3, 2]) + const_ints("i", DT_INT32, [2], [0, 3]) +
                         const_ints("ax", DT_INT32, [], [0]) + node("y", "GatherV2", ["x", "i", "ax"]),
                         "y", "node 'y' (gather): index 3 is out of range for axis 0 of size 3"),
}


W = [0.5 * i - 2.0 for i in range(12)]
GOOD = {
    # Two unsupported ops on the path to y, a third in a branch nothing
    # fetched needs; b records its shape, so feeding b cuts both away.
    "unsupported": placeholder("x", [2, 3]) +
                   typed("a", "FooBar", ["x"]) +
                   typed("b", "NonMaxSuppressionV9", ["a"], extra=output_shapes([2, 3])) +
                   typed("y", "Exp", ["b"]) +
                   typed("side", "Conv3DBackpropFilterV7", ["x"]) +
                   typed("y2", "Tanh", ["x"]) +
                   typed("y3", "Tanh", ["side"]),
    # Encodings and attributes: packed and unpacked repeated fields, a splat,
    # int64 shape operands with -1, negative and empty reduction axes, a
    # PlaceholderWithDefault, control inputs, an unsupported dtype/format.
    "ops": placeholder("x", [2, 3]) +
           const("w", [3, 4], floats=W) +
           const_floats_unpacked("wu", [3, 4], W) +
           const("half", [2, 4], floats=[0.5]) +
           node("noop", "NoOp") +
           typed("mm", "MatMul", ["x", "w", "^noop"]) +
           typed("mmu", "MatMul", ["x", "wu"]) +
           typed("mmt", "MatMul", ["w", "x"], extra=attr("transpose_a", field(5, 0, 1)) +
                 attr("transpose_b", field(5, 0, 1))) +
           const_ints("shape", DT_INT64, [2], [-1, 2], packed=False) +
           typed("r", "Reshape", ["mm", "shape"]) +
           const_ints("axes", DT_INT32, [2], [-1, 0]) +
           typed("sum", "Sum", ["mm", "axes"], extra=attr("keep_dims", field(5, 0, 1))) +
           const_ints("noaxes", DT_INT32, [0], []) +
           typed("mean", "Mean", ["mm", "noaxes"]) +
           const_ints("ax1", DT_INT32, [], [1]) +
           typed("max", "Max", ["mm", "ax1"]) +
           node("pwd", "PlaceholderWithDefault", ["half"], attr("dtype", field(6, 0, DT_FLOAT)) +
                attr("shape", field(7, 2, shape([2, 4])))) +
           typed("y", "AddV2", ["mm", "pwd", "^noop"]) +
           typed("h", "Tanh", ["x"]) +
           typed("z", "Exp", ["h"]) +
           node("toint", "Cast", ["x"], attr("SrcT", field(6, 0, DT_FLOAT)) + attr("DstT", field(6, 0, DT_INT32))) +
           const("bias4", [4], floats=[1, 2, 3, 4]) +
           typed("biased", "BiasAdd", ["mm", "bias4"], extra=attr("data_format", s(2, "NHWC"))) +
           typed("nchw", "BiasAdd", ["mm", "bias4"], extra=attr("data_format", s(2, "NCHW"))) +
           typed("cplx", "MatMul", ["x", "w"], dtype=DT_COMPLEX64) +
           placeholder("dyn", [-1, 3]) +
           typed("dyn_out", "Relu", ["dyn"]) +
           node("soft", "Softmax", ["mm"], attr("T", field(6, 0, DT_FLOAT))) +
           const_ints("ss_b", DT_INT64, [2], [0, 0]) + const_ints("ss_e", DT_INT64, [2], [2, 3]) +
           const_ints("ss_s", DT_INT64, [2], [1, (1 << 63) - 1]) +
           node("ss", "StridedSlice", ["x", "ss_b", "ss_e", "ss_s"], attr("T", field(6, 0, DT_FLOAT)) +
                attr("Index", field(6, 0, DT_INT64))),
}


# ---- ONNX ModelProto (field numbers from frontend/onnx/onnx.proto) ----------

OX_FLOAT, OX_INT64 = 1, 7


def ox_value_info(name, elem, dims):
    tt = field(1, 0, elem) + field(2, 2, b"".join(field(1, 2, field(1, 0, d)) for d in dims))
    return s(1, name) + field(2, 2, field(1, 2, tt))


def ox_ints_attr(name, values):
    return field(5, 2, s(1, name) + b"".join(field(8, 0, v) for v in values) + field(20, 0, 7))


def ox_node(op, inputs, outputs, name=None, attrs=b""):
    body = b"".join(s(1, i) for i in inputs) + b"".join(s(2, o) for o in outputs)
    return field(1, 2, body + s(3, name or outputs[0]) + s(4, op) + attrs)


def ox_tensor(name, elem, dims, raw):
    return field(5, 2, b"".join(field(1, 0, d) for d in dims) + field(2, 0, elem) + s(8, name) + field(9, 2, raw))


def ox_int64s(name, values):
    return ox_tensor(name, OX_INT64, [len(values)], b"".join(struct.pack("<q", v) for v in values))


def ox_floats(name, dims, values):
    return ox_tensor(name, OX_FLOAT, dims, b"".join(struct.pack("<f", v) for v in values))


def ox_model(graph, ir_version=8, opset=13, inputs=(), outputs=()):
    g = graph + s(2, "g") + b"".join(field(11, 2, ox_value_info(*i)) for i in inputs)
    g += b"".join(field(12, 2, ox_value_info(*o)) for o in outputs)
    return field(1, 0, ir_version) + s(2, "make_bad_corpus") + field(7, 2, g) + field(8, 2, s(1, "") + field(2, 0, opset))


def conv_model(pads):
    return ox_model(ox_floats("w", [1, 1, 1, 1], [1.0]) +
                    ox_node("Conv", ["x", "w"], ["y"], "conv", ox_ints_attr("pads", pads)),
                    inputs=[("x", OX_FLOAT, [1, 1, 3, 3])], outputs=[("y", OX_FLOAT, [])])


ADD = ox_model(ox_node("Add", ["x", "x"], ["y"], "add"), inputs=[("x", OX_FLOAT, [2, 3])],
               outputs=[("y", OX_FLOAT, [2, 3])])
ONNX_CASES = {
    # name: (bytes, "compile"|"run", expected substring)
    "expand_huge": (ox_model(ox_floats("one", [1, 1], [1.0]) + ox_int64s("shape", [1 << 19, 1 << 18]) +
                             ox_node("Expand", ["one", "shape"], ["e"], "expand") +
                             ox_node("ReduceSum", ["e"], ["y"], "sum"), outputs=[("y", OX_FLOAT, [])]),
                    "run", "temp arena of 512 GiB cannot be allocated"),
    "conv_pads_2e30": (conv_model([1 << 30] * 4), "compile", "node 'conv' (Conv): attribute 'pads'"),
    "conv_pads_2e33": (conv_model([1 << 33] * 4), "compile", "node 'conv' (Conv): attribute 'pads'"),
    "conv_pads_negative": (conv_model([-1, 0, 0, 0]), "compile", "node 'conv' (Conv): attribute 'pads'"),
    "conv_strides_zero": (ox_model(ox_floats("w", [1, 1, 1, 1], [1.0]) +
                                   ox_node("Conv", ["x", "w"], ["y"], "conv", ox_ints_attr("strides", [0, 1])),
                                   inputs=[("x", OX_FLOAT, [1, 1, 3, 3])], outputs=[("y", OX_FLOAT, [])]),
                          "compile", "node 'conv' (Conv): attribute 'strides'"),
    "duplicate_producer": (ox_model(ox_node("Relu", ["x"], ["y"], "first") + ox_node("Neg", ["x"], ["y"], "second"),
                                    inputs=[("x", OX_FLOAT, [2])], outputs=[("y", OX_FLOAT, [2])]),
                           "compile", "node 'second' (Neg): output 'y' is also produced by node 'first'"),
    "no_outputs": (ox_model(ox_node("Relu", ["x"], ["y"], "relu"), inputs=[("x", OX_FLOAT, [2])]),
                   "compile", "the graph declares no outputs"),
    "ir_version_999": (ox_model(ox_node("Relu", ["x"], ["y"], "relu"), ir_version=999,
                                inputs=[("x", OX_FLOAT, [2])], outputs=[("y", OX_FLOAT, [2])]),
                       "compile", "ir_version 999"),
    "opset_999": (ox_model(ox_node("Relu", ["x"], ["y"], "relu"), opset=999,
                           inputs=[("x", OX_FLOAT, [2])], outputs=[("y", OX_FLOAT, [2])]),
                  "compile", "opset 999"),
    "gather_const_oob": (ox_model(ox_int64s("idx", [0, 5]) + ox_node("Gather", ["x", "idx"], ["y"], "gather"),
                                  inputs=[("x", OX_FLOAT, [3, 2])], outputs=[("y", OX_FLOAT, [2, 2])]),
                         "compile", "node 'gather' (gather): index 5 is out of range"),
    "truncated": (ADD[: len(ADD) * 2 // 3], "compile", "truncated or invalid ONNX ModelProto"),
    "reshape_runtime_shape": (ox_model(ox_node("Reshape", ["x", "shape"], ["y"], "reshape"),
                                       inputs=[("x", OX_FLOAT, [2, 3]), ("shape", OX_INT64, [2])],
                                       outputs=[("y", OX_FLOAT, [3, 2])]),
                              "compile", "node 'reshape' (Reshape): operand 'shape' must be a compile-time constant"),
    "slice_runtime_starts": (ox_model(ox_int64s("ends", [2]) + ox_node("Slice", ["x", "starts", "ends"], ["y"], "slice"),
                                      inputs=[("x", OX_FLOAT, [4]), ("starts", OX_INT64, [1])],
                                      outputs=[("y", OX_FLOAT, [2])]),
                             "compile", "node 'slice' (Slice): operand 'starts' must be a compile-time constant"),
    "huge_input_dim": (ox_model(ox_floats("w", [1, 1, 1, 1], [1.0]) + ox_node("Conv", ["x", "w"], ["y"], "conv"),
                                inputs=[("x", OX_FLOAT, [1, 1, 1 << 45, 1])], outputs=[("y", OX_FLOAT, [])]),
                       "compile", "input 'x': dimension 2 is 35184372088832"),
}
# Well-formed ONNX models for tests/test_api.c (tests/corpus/onnx/).
GOOD_ONNX = {
    # Gather with the indices fed at run time: out-of-range indices are
    # clamped (docs/header-api.md), never read outside the data.
    "gather_fed": ox_model(ox_node("Gather", ["x", "idx"], ["y"], "gather"),
                           inputs=[("x", OX_FLOAT, [3, 2]), ("idx", OX_INT64, [5])],
                           outputs=[("y", OX_FLOAT, [5, 2])]),
}

# Crashers found by fuzzing, kept as they were found (not regenerated here):
# the command and message their .txt gets.
ONNX_KEPT = {
    "softmax_null_operand": ("compile", "node 'y' (softmax): needs a floating-point operand"),
    "reshape_shape_overflow": ("compile", "(Reshape): shape entry 9223372036854775807 makes the result larger"),
}


def npy(header, data=b"", magic=b"\x93NUMPY\x01\x00"):
    return magic + struct.pack("<H", len(header)) + header + data


NPY = {
    "truncated_data": npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }\n", b"\x00" * 12),
    "fortran": npy(b"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }\n", b"\x00" * 16),
    "bad_magic": b"\x93NUMPX\x01\x00" + b"\x00" * 30,
    "big_endian": npy(b"{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }\n", b"\x00" * 4),
    "object": npy(b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n", b"\x00" * 8),
    "huge_header_len": b"\x93NUMPY\x02\x00\xff\xff\xff\x7f",
    "bad_shape": npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (a, b), }\n"),
    "huge_shape": npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776, 1099511627776), }\n", b"\x00" * 4),
    "negative_dim": npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }\n", b"\x00" * 4),
    "no_commas": npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (1 1), }\n", b"\x00" * 4),
    "rank9": npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }\n", b"\x00" * 4),
    "v2_truncated_len": b"\x93NUMPY\x02\x00\x10\x00",
    "no_descr": npy(b"{'fortran_order': False, 'shape': (1,), }\n", b"\x00" * 4),
    "trailing": npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n", b"\x00" * 8),
}


def main():
    os.makedirs(OUT_PB, exist_ok=True)
    os.makedirs(OUT_NPY, exist_ok=True)
    for name, (data, fetch, want) in CASES.items():
        with open(os.path.join(OUT_PB, name + ".pb"), "wb") as f:
            f.write(data)
        with open(os.path.join(OUT_PB, name + ".txt"), "w") as f:
            f.write("%s %s\n" % (fetch, want))
    out_passes = os.path.join(ROOT, "tests", "corpus", "bad_pb_passes")
    os.makedirs(out_passes, exist_ok=True)
    for name, (data, fetch, want) in PASS_CASES.items():
        with open(os.path.join(out_passes, name + ".pb"), "wb") as f:
            f.write(data)
        with open(os.path.join(out_passes, name + ".txt"), "w") as f:
            f.write("%s %s\n" % (fetch, want))
    mlp = os.path.join(ROOT, "samples", "mlp", "mlp.pb")
    if os.path.exists(mlp):
        data = open(mlp, "rb").read()
        with open(os.path.join(OUT_PB, "truncated.pb"), "wb") as f:
            f.write(data[: len(data) // 2])
        with open(os.path.join(OUT_PB, "truncated.txt"), "w") as f:
            f.write("y_out GraphDef\n")
    out_good = os.path.join(ROOT, "tests", "corpus", "tf")
    os.makedirs(out_good, exist_ok=True)
    for name, data in GOOD.items():
        with open(os.path.join(out_good, name + ".pb"), "wb") as f:
            f.write(data)
    os.makedirs(OUT_ONNX, exist_ok=True)
    for name, (data, cmd, want) in ONNX_CASES.items():
        with open(os.path.join(OUT_ONNX, name + ".onnx"), "wb") as f:
            f.write(data)
        with open(os.path.join(OUT_ONNX, name + ".txt"), "w") as f:
            f.write("%s %s\n" % (cmd, want))
    out_good_onnx = os.path.join(ROOT, "tests", "corpus", "onnx")
    os.makedirs(out_good_onnx, exist_ok=True)
    for name, data in GOOD_ONNX.items():
        with open(os.path.join(out_good_onnx, name + ".onnx"), "wb") as f:
            f.write(data)
    for name, (cmd, want) in ONNX_KEPT.items():
        with open(os.path.join(OUT_ONNX, name + ".txt"), "w") as f:
            f.write("%s %s\n" % (cmd, want))
    for name, data in NPY.items():
        with open(os.path.join(OUT_NPY, name + ".npy"), "wb") as f:
            f.write(data)
    print("wrote %d bad .pb, %d bad .onnx, %d good .pb, %d good .onnx and %d .npy files" %
          (len(CASES) + 1, len(ONNX_CASES), len(GOOD), len(GOOD_ONNX), len(NPY)))


if __name__ == "__main__":
    main()
