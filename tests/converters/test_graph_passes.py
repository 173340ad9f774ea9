"""Passes on small hand-built OnnxGraphs (no MindSpore): each rewrite is checked against ONNX
Runtime running the graph before the pass."""
import numpy as np
import pytest

from converters.onnx_graph import ONode, OnnxGraph, TensorInfo
from converters.onnx_writer import build_model
from converters.passes import drop_noops, fold_constants, fuse_conv_bias
from cvt_util import ort_forward, session, validate


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
