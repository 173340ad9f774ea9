"""The ONNX side of localisation on a hand-made graph: dependency order of unsorted nodes,
intermediate tensors read back, the batch of the first input."""
import numpy as np
from onnx import TensorProto, helper

from coat_export.host.onnx_intermediates import (onnx_batch_info, onnx_intermediates,
                                                 topological_order)


def _model(batch):
    # deliberately out of order: Relu reads what Add writes later in the file
    nodes = [helper.make_node("Relu", ["s"], ["r"], name="relu"),
             helper.make_node("Mul", ["r", "two"], ["y"], name="mul"),
             helper.make_node("Add", ["x", "x"], ["s"], name="add")]
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     [batch, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3])],
                          [two])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_nodes_come_in_dependency_order_then_file_order():
    m = _model(2)
    assert [n.name for n in topological_order(list(m.graph.node))] == ["add", "relu", "mul"]
    # a cycle (a broken candidate): the nodes on it follow in file order
    cyc = [helper.make_node("Neg", ["b"], ["a"], name="n1"),
           helper.make_node("Neg", ["a"], ["b"], name="n2"),
           helper.make_node("Neg", ["x"], ["c"], name="n0")]
    assert [n.name for n in topological_order(cyc)] == ["n0", "n1", "n2"]


def test_intermediates_are_read_back():
    m = _model(2)
    x = np.array([[-1.0, 0.5, 2.0], [3.0, -4.0, 0.0]], np.float32)
    values = onnx_intermediates(m, ["s", "r"], x)
    np.testing.assert_array_equal(values["s"], x + x)
    np.testing.assert_array_equal(values["r"], np.maximum(x + x, 0))
    np.testing.assert_array_equal(values["y"], 2 * np.maximum(x + x, 0))
    assert [o.name for o in m.graph.output] == ["y"]  # the caller's model is not changed


def test_batch_info():
    assert onnx_batch_info(_model(2)) == (2, False)
    assert onnx_batch_info(_model("batch")) == (None, True)
