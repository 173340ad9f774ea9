"""Passes on small hand-built OnnxGraphs (no MindSpore): each rewrite is checked against ONNX
Runtime running the graph before the pass."""
import numpy as np

from converters.onnx_graph import ONode, OnnxGraph, TensorInfo
from converters.onnx_writer import build_model
from converters.passes import drop_noops, fold_constants, fuse_conv_bias
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
        og.nodes.append(ONode("Div", [ca, cb], ["q"]))
        og.nodes.append(ONode("Add", ["x", "q"], ["y"]))
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
    og.nodes.append(ONode("Div", [ca, cb], ["q"]))
    og.nodes.append(ONode("Add", ["x", "q"], ["y"]))
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
