"""Passes on small hand-built OnnxGraphs (no MindSpore): each rewrite is checked against ONNX
Runtime running the graph before the pass."""
import numpy as np
import pytest

from coat_export.converters.onnx_graph import ONode, OnnxGraph, TensorInfo
from coat_export.converters.onnx_writer import build_model
from coat_export.converters.passes import (drop_noops, fold_constants, fuse_conv_bias, fuse_sibling_matmuls,
                               merge_depthwise_convs, unflatten_matmuls)
from cvt_util import ort_forward, validate


def _graph(x_shape=(2, 3), dtype=np.float32):
    og = OnnxGraph("g")
    og.inputs.append("x")
    og.info["x"] = TensorInfo(np.dtype(dtype), x_shape)
    return og


def _run(og, x, opset=17):
    model = build_model(og, opset)
    validate(model)
    return ort_forward(model, x)


def test_integer_div_folds_toward_zero():
    """ONNX integer Div truncates (-7 / 2 == -3); numpy's // would fold it to -4."""
    a = np.array([-7, 7, -7, 7, 5, -1], np.int64)
    b = np.array([2, -2, -2, 2, 3, 4], np.int64)

    def build():
        og = _graph((6,), np.int64)
        ca, cb = og.add_initializer(a), og.add_initializer(b)
        og.add_node(ONode("Div", [ca, cb], ["q"]))
        og.add_node(ONode("Add", ["x", "q"], ["y"]))
        og.outputs.append("y")
        og.info["y"] = TensorInfo(np.dtype(np.int64), (6,))
        return og

    x = np.zeros(6, np.int64)
    expected = _run(build(), x)
    og = build()
    assert fold_constants.run(og) == 1
    assert [n.op_type for n in og.nodes] == ["Add"]
    np.testing.assert_array_equal(_run(og, x)[0], expected[0])
    np.testing.assert_array_equal(expected[0], [-3, -3, 3, 3, 1, 0])


def test_integer_div_by_zero_not_folded():
    og = _graph((2,), np.int64)
    ca, cb = og.add_initializer(np.array([1, 2], np.int64)), og.add_initializer(
        np.array([0, 1], np.int64))
    og.add_node(ONode("Div", [ca, cb], ["q"]))
    og.add_node(ONode("Add", ["x", "q"], ["y"]))
    og.outputs.append("y")
    assert fold_constants.run(og) == 0


# ----------------------------------------------------------------------------- helpers and passes

class _Origin:
    """Stands in for an ir.Node in provenance (name, op type, scope)."""

    def __init__(self, name, op_type="Op", scope=""):
        self.name, self.op_type, self.scope = name, op_type, scope


def _node(og, op_type, inputs, outputs, origin=None, **attrs):
    n = ONode(op_type, inputs, outputs, attrs, origin=[origin] if origin else [])
    og.add_node(n)
    for o in outputs:
        if origin is not None:
            og.tensor_origin[o] = (origin.name, 0)
    return n


def _float_graph(shape=(2, 3)):
    return _graph(shape)


def _info(og, name, shape=(2, 3), dtype=np.float32):
    og.info[name] = TensorInfo(np.dtype(dtype), shape)


def test_drop_noops_chain_to_output_keeps_provenance():
    """Relu -> Identity -> Reshape(same shape) -> output: both no-ops go, the Relu writes the
    graph output itself and the output keeps the Relu's provenance."""
    og = _float_graph()
    relu = _Origin("relu_node", "ReLU")
    _node(og, "Relu", ["x"], ["r"], relu)
    _info(og, "r")
    _node(og, "Identity", ["r"], ["i"], _Origin("id_node"))
    _info(og, "i")
    shape = og.add_initializer(np.array([2, 3], np.int64))
    _node(og, "Reshape", ["i", shape], ["y"], _Origin("reshape_node"))
    _info(og, "y")
    og.outputs.append("y")
    x = np.random.RandomState(0).randn(2, 3).astype(np.float32)
    expected = _run(og, x)
    assert drop_noops.run(og) == 2
    og.check()
    assert [n.op_type for n in og.nodes] == ["Relu"] and og.nodes[0].outputs == ["y"]
    assert og.tensor_origin["y"] == ("relu_node", 0)
    np.testing.assert_allclose(_run(og, x)[0], expected[0])


def test_drop_noops_inside_graph_rewires_consumers():
    og = _float_graph()
    _node(og, "Relu", ["x"], ["r"], _Origin("relu"))
    _info(og, "r")
    _node(og, "Cast", ["r"], ["c"], _Origin("cast"), to=np.dtype(np.float32))
    _info(og, "c")
    _node(og, "Add", ["c", "c"], ["y"], _Origin("add"))
    _info(og, "y")
    og.outputs.append("y")
    x = np.random.RandomState(1).randn(2, 3).astype(np.float32)
    expected = _run(og, x)
    assert drop_noops.run(og) == 1
    og.check()
    assert og.nodes[-1].inputs == ["r", "r"] and og.users_of("r") == [og.nodes[-1]] * 2
    assert "c" not in og.tensor_origin
    np.testing.assert_allclose(_run(og, x)[0], expected[0])


def test_drop_noops_keeps_identity_of_graph_input():
    og = _float_graph()
    _node(og, "Identity", ["x"], ["y"])
    _info(og, "y")
    og.outputs.append("y")
    assert drop_noops.run(og) == 0
    og.check()


def test_fuse_conv_bias_moves_provenance_to_the_fused_conv():
    og = _graph((1, 2, 4, 4))
    w = og.add_initializer(np.random.RandomState(2).randn(3, 2, 1, 1).astype(np.float32))
    b = og.add_initializer(np.arange(3, dtype=np.float32).reshape(1, 3, 1, 1))
    _node(og, "Conv", ["x", w], ["c"], _Origin("conv", "Conv2D"), kernel_shape=[1, 1])
    _info(og, "c", (1, 3, 4, 4))
    _node(og, "Add", ["c", b], ["y"], _Origin("bias", "BiasAdd"))
    _info(og, "y", (1, 3, 4, 4))
    og.outputs.append("y")
    x = np.random.RandomState(3).randn(1, 2, 4, 4).astype(np.float32)
    expected = _run(og, x)
    assert fuse_conv_bias.run(og) == 1
    og.check()
    (conv,) = og.nodes
    assert conv.op_type == "Conv" and len(conv.inputs) == 3 and conv.outputs == ["y"]
    assert [o.name for o in conv.origin] == ["conv", "bias"]
    assert og.tensor_origin == {"y": ("bias", 0)}  # the Conv's own output is gone
    np.testing.assert_allclose(_run(og, x)[0], expected[0], atol=1e-6)


def test_fold_constants_drops_provenance_of_folded_tensors():
    og = _float_graph()
    a = og.add_initializer(np.ones((2, 3), np.float32))
    _node(og, "Neg", [a], ["n"], _Origin("neg"))
    _node(og, "Add", ["x", "n"], ["y"], _Origin("add"))
    _info(og, "y")
    og.outputs.append("y")
    x = np.random.RandomState(4).randn(2, 3).astype(np.float32)
    expected = _run(og, x)
    assert fold_constants.run(og) == 1
    og.check()
    assert "n" in og.initializers and "n" not in og.tensor_origin
    np.testing.assert_allclose(_run(og, x)[0], expected[0])


def test_helpers_keep_the_consumer_index():
    og = _float_graph()
    _node(og, "Relu", ["x"], ["a"])
    _node(og, "Sigmoid", ["a"], ["b"])
    _node(og, "Mul", ["a", "b"], ["c"])
    og.outputs.append("c")
    og.replace_uses("a", "x")
    og.check()
    assert {n.op_type for n in og.users_of("x")} == {"Relu", "Sigmoid", "Mul"}
    og.rename_tensor("b", "bee")
    og.check()
    assert og.users_of("bee")[0].op_type == "Mul"
    og.remove_nodes([og.nodes[0]])
    og.check()
    assert og.users_of("x") and all(n.op_type != "Relu" for n in og.users_of("x"))


# ----------------------------------------------------------------------------- merge_depthwise_convs

def _mixed_depthwise(widths=(2, 3, 3), kernels=(1, 3, 5), pads=None, strides=(1, 1),
                     split_node=False, order=None, bias=(True, False, True), channels=8):
    """x (1, C, 7, 7) cut into channel groups, a depthwise conv per group, concatenated."""
    rs = np.random.RandomState(5)
    og = _graph((1, channels, 7, 7))
    pads = pads or [[k // 2] * 4 for k in kernels]
    offsets = np.concatenate([[0], np.cumsum(widths)])
    groups = [f"g{i}" for i in range(len(widths))]
    if split_node:
        sizes = og.add_initializer(np.array(widths, np.int64))
        _node(og, "Split", ["x", sizes], groups, _Origin("split", "Split"), axis=1)
    else:
        for i, g in enumerate(groups):
            end = 2 ** 63 - 1 if i == len(groups) - 1 else offsets[i + 1]
            ins = [og.add_initializer(np.array([v], np.int64)) for v in (offsets[i], end, 1)]
            _node(og, "Slice", ["x"] + ins, [g], _Origin(f"slice{i}", "StridedSlice"))
    outs = []
    for i, (w, k, g) in enumerate(zip(widths, kernels, groups)):
        ins = [g, og.add_initializer(rs.randn(w, 1, k, k).astype(np.float32))]
        if bias[i]:
            ins.append(og.add_initializer(rs.randn(w).astype(np.float32)))
        _node(og, "Conv", ins, [f"c{i}"], _Origin(f"conv{i}", "Conv2D"), group=w,
              kernel_shape=[k, k], pads=pads[i], strides=list(strides), dilations=[1, 1])
        outs.append(f"c{i}")
    order = order or list(range(len(outs)))
    _node(og, "Concat", [outs[i] for i in order], ["y"], _Origin("concat", "Concat"), axis=1)
    _info(og, "y", (1, channels, None, None))
    og.outputs.append("y")
    return og


@pytest.mark.parametrize("split_node", [False, True])
@pytest.mark.parametrize("strides", [(1, 1), (2, 2)])
def test_merge_depthwise_convs_matches_onnxruntime(split_node, strides):
    x = np.random.RandomState(6).randn(1, 8, 7, 7).astype(np.float32)
    expected = _run(_mixed_depthwise(split_node=split_node, strides=strides), x)
    og = _mixed_depthwise(split_node=split_node, strides=strides)
    assert merge_depthwise_convs.run(og) == 1
    og.check()
    (conv,) = og.nodes
    assert conv.op_type == "Conv" and conv.attrs["group"] == 8
    assert conv.attrs["kernel_shape"] == [5, 5] and conv.attrs["pads"] == [2, 2, 2, 2]
    assert conv.outputs == ["y"] and og.tensor_origin["y"] == ("concat", 0)
    assert {o.name for o in conv.origin} >= {"conv0", "conv1", "conv2", "concat"}
    np.testing.assert_allclose(_run(og, x)[0], expected[0], atol=1e-5)


@pytest.mark.parametrize("case", ["misaligned", "reordered", "shared_slice", "not_depthwise",
                                  "partial_cover", "odd_difference"])
def test_merge_depthwise_convs_leaves_what_it_cannot_prove(case):
    kw = {}
    if case == "misaligned":      # a 3x3 without padding next to padded ones: outputs differ
        kw = dict(pads=[[0] * 4, [0] * 4, [2] * 4])
    elif case == "reordered":
        kw = dict(order=[1, 0, 2])
    elif case == "odd_difference":
        kw = dict(kernels=(1, 2, 5), pads=[[0] * 4, [1, 1, 0, 0], [2] * 4])
    elif case == "partial_cover":
        kw = dict(channels=9)
    og = _mixed_depthwise(**kw)
    if case == "shared_slice":
        _node(og, "Relu", ["g1"], ["r"])
        og.outputs.append("r")
    if case == "not_depthwise":
        conv = next(n for n in og.nodes if n.outputs == ["c0"])
        conv.attrs["group"] = 1
    before = [n.op_type for n in og.nodes]
    assert merge_depthwise_convs.run(og) == 0
    assert [n.op_type for n in og.nodes] == before


# ----------------------------------------------------------------------------- fuse_sibling_matmuls

def _siblings(kind="Gemm", trans_b=(0, 0, 0), biases=(True, True, False), shape=(6, 4)):
    rs = np.random.RandomState(7)
    og = _graph(shape)
    k = shape[-1]
    for i, (tb, has_bias) in enumerate(zip(trans_b, biases)):
        n = 3 + i
        w = rs.randn(*((n, k) if tb else (k, n))).astype(np.float32)
        ins = ["x", og.add_initializer(w)]
        attrs = {}
        if kind == "Gemm":
            attrs = {"transB": tb} if tb else {}
            if has_bias:
                ins.append(og.add_initializer(rs.randn(n).astype(np.float32)))
        _node(og, kind, ins, [f"p{i}"], _Origin(f"dense{i}", "MatMul"), **attrs)
        _node(og, "Relu", [f"p{i}"], [f"r{i}"])
    _node(og, "Concat", ["r0", "r1", "r2"], ["y"], axis=-1)
    _info(og, "y", shape[:-1] + (12,))
    og.outputs.append("y")
    return og


@pytest.mark.parametrize("kind,trans_b,shape,groups", [
    ("Gemm", (0, 0, 0), (6, 4), 1), ("Gemm", (1, 1, 1), (6, 4), 1),
    ("Gemm", (0, 1, 0), (6, 4), 1), ("MatMul", (0, 0, 0), (2, 6, 4), 1)])
def test_fuse_sibling_matmuls_matches_onnxruntime(kind, trans_b, shape, groups):
    x = np.random.RandomState(8).randn(*shape).astype(np.float32)
    expected = _run(_siblings(kind, trans_b, shape=shape), x)
    og = _siblings(kind, trans_b, shape=shape)
    fused = fuse_sibling_matmuls.run(og)
    og.check()
    ops = [n.op_type for n in og.nodes]
    assert fused == (2 if len(set(trans_b)) > 1 else 3)
    assert ops.count("Split") == groups and ops.count(kind) == (1 if fused == 3 else 2)
    split = next(n for n in og.nodes if n.op_type == "Split")
    assert all(og.tensor_origin.get(o) == (f"dense{int(o[1])}", 0) for o in split.outputs)
    np.testing.assert_allclose(_run(og, x)[0], expected[0], atol=1e-5)


# ----------------------------------------------------------------------------- unflatten_matmuls

def _dense_over_tokens(back_target=(-1, 5, 2, 3), trans_b=0, bias=True, extra_user=False):
    """x (B, 5, 4) -> Reshape(-1, 4) -> Gemm(4 -> 6) -> Reshape(back_target), as MindSpore's
    Dense lowers on a 3-D activation."""
    rs = np.random.RandomState(9)
    og = _graph(("batch", 5, 4))
    flat = og.add_initializer(np.array([-1, 4], np.int64))
    _node(og, "Reshape", ["x", flat], ["f"], _Origin("flatten", "Reshape"))
    _info(og, "f", (None, 4))
    w = rs.randn(*((6, 4) if trans_b else (4, 6))).astype(np.float32)
    ins = ["f", og.add_initializer(w)] + ([og.add_initializer(rs.randn(6).astype(np.float32))]
                                          if bias else [])
    _node(og, "Gemm", ins, ["g"], _Origin("dense", "MatMul"), **({"transB": 1} if trans_b else {}))
    _info(og, "g", (None, 6))
    _node(og, "Reshape", ["g", og.add_initializer(np.array(back_target, np.int64))], ["y"],
          _Origin("restore", "Reshape"))
    _info(og, "y", ("batch",) + tuple(d for d in back_target[1:]))
    og.outputs.append("y")
    if extra_user:
        _node(og, "Relu", ["g"], ["r"])
        _info(og, "r", (None, 6))
        og.outputs.append("r")
    return og


@pytest.mark.parametrize("trans_b,bias,target", [(0, True, (-1, 5, 2, 3)), (1, True, (-1, 5, 6)),
                                                 (0, False, (-1, 30))])
def test_unflatten_matmuls_matches_onnxruntime(trans_b, bias, target):
    x = np.random.RandomState(10).randn(3, 5, 4).astype(np.float32)
    expected = _run(_dense_over_tokens(target, trans_b, bias), x)
    og = _dense_over_tokens(target, trans_b, bias)
    assert unflatten_matmuls.run(og) == 1
    og.remove_unused()
    og.check()
    assert [n.op_type for n in og.nodes] == ["MatMul"] + (["Add"] if bias else []) + ["Reshape"]
    assert og.nodes[0].inputs[0] == "x" and og.shape_of("g") == ("batch", 5, 6)
    assert og.tensor_origin["y"] == ("restore", 0) and og.tensor_origin["g"] == ("dense", 0)
    np.testing.assert_allclose(_run(og, x)[0], expected[0], atol=1e-5)


@pytest.mark.parametrize("case", ["zero_in_target", "other_user"])
def test_unflatten_matmuls_leaves_what_it_cannot_prove(case):
    og = _dense_over_tokens(back_target=(0, 5, 6)) if case == "zero_in_target" \
        else _dense_over_tokens(extra_user=True)
    assert unflatten_matmuls.run(og) == 0


def test_a_failing_pass_names_the_node_it_was_on():
    """A malformed graph that trips a pass is a ConversionError naming the pass, the ONNX node
    and the MindSpore node it came from."""
    from coat_export.converters.errors import ConversionError
    from coat_export.converters.passes import run_passes

    og = _graph((1, 2, 4, 4))
    w = og.add_initializer(np.array(1.0, np.float32))  # a 0-d "weight"
    b = og.add_initializer(np.ones((1, 3, 1, 1), np.float32))
    _node(og, "Conv", ["x", w], ["c"], _Origin("c1", "Conv2D", "Default/stem-Conv2d/Conv2D-op0"))
    _node(og, "Add", ["c", b], ["y"], _Origin("b1", "BiasAdd"))
    _info(og, "y", (1, 3, 4, 4))
    og.outputs.append("y")
    with pytest.raises(ConversionError) as err:
        run_passes(og, 17)
    msg = str(err.value)
    assert "pass fuse_conv_bias failed at Conv node" in msg
    assert "Default/stem-Conv2d/Conv2D-op0" in msg and "\n" not in msg
    assert og.visiting is None


def test_readable_names_is_linear_in_copies_of_one_scope():
    """k nodes sharing one scope: names probed once each (was O(k^2): 20,000 nodes took 95 s,
    100,000 never finished). A generous bound: the quadratic form needs minutes here."""
    import time

    from coat_export.converters.passes import readable_names

    og = _float_graph()
    origin = _Origin("n", "ReLU", "Default/blocks-CellList/0-Block/act-ReLU/ReLU-op1")
    prev, k = "x", 30000
    for i in range(k):
        _node(og, "Relu", [prev], [f"t{i}"], origin=origin)
        prev = f"t{i}"
    og.outputs.append(prev)
    _info(og, prev)
    t0 = time.perf_counter()
    readable_names.run(og)
    assert time.perf_counter() - t0 < 20
    names = [n.name for n in og.nodes]
    assert names[:3] == ["blocks.0.act/Relu", "blocks.0.act/Relu_1", "blocks.0.act/Relu_2"]
    assert names[-1] == f"blocks.0.act/Relu_{k - 1}" and len(set(names)) == k
