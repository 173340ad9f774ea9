"""OnnxGraph's live indexes on small hand-built graphs (no MindSpore): every editing helper
keeps producers, consumers and membership equal to a rebuild (og.check()), nodes are read-only
outside the helpers, and the pass pipeline enforces what passes declare they need."""
import copy
import time

import numpy as np
import pytest

from coat_export.converters import passes
from coat_export.converters.errors import ConversionError
from coat_export.converters.onnx_graph import ONode, OnnxGraph, TensorInfo
from coat_export.converters.passes.pattern import Matcher


def _chain():
    """x -> Relu a -> Sigmoid b -> Mul(a, b) c -> output."""
    og = OnnxGraph("g")
    og.inputs.append("x")
    og.info["x"] = TensorInfo(np.dtype(np.float32), (2, 3))
    relu = og.add_node(ONode("Relu", ["x"], ["a"]))
    sig = og.add_node(ONode("Sigmoid", ["a"], ["b"]))
    mul = og.add_node(ONode("Mul", ["a", "b"], ["c"]))
    og.outputs.append("c")
    return og, relu, sig, mul


def _users(og, t):
    return [n.op_type for n in og.users_of(t)]


def test_add_node_indexes_producer_consumers_and_membership():
    og, relu, sig, mul = _chain()
    og.check()
    assert og.producer_of("a") is relu and og.producer_of("c") is mul
    assert og.producer_of("x") is None and og.producer_of("nope") is None
    assert _users(og, "a") == ["Sigmoid", "Mul"] and og.users_of("c") == []
    assert relu in og and og.is_live(mul) and ONode("Relu", ["x"], ["z"]) not in og
    first = og.add_node(ONode("Neg", ["x"], ["n"]), position=0)
    og.check()
    assert og.nodes[0] is first and og.producer_of("n") is first
    with pytest.raises(ValueError):
        og.add_node(first)


def test_set_inputs_and_set_outputs():
    og, relu, sig, mul = _chain()
    og.set_inputs(mul, ["b", "b"])
    og.check()
    assert _users(og, "a") == ["Sigmoid"] and og.users_of("b") == [mul, mul]
    og.set_outputs(sig, ["b2"])
    og.check()
    assert og.producer_of("b2") is sig and og.producer_of("b") is None


def test_replace_uses_rewires_consumers_and_graph_outputs():
    og, relu, sig, mul = _chain()
    og.replace_uses("a", "x")
    og.check()
    assert sorted(_users(og, "x")) == ["Mul", "Relu", "Sigmoid"] and og.users_of("a") == []
    og.replace_uses("c", "b")
    assert og.outputs == ["b"]


def test_rename_tensor_and_rename_all():
    og, relu, sig, mul = _chain()
    og.tensor_origin["b"] = ("sig", 0)
    og.rename_tensor("b", "bee")
    og.check()
    assert og.producer_of("bee") is sig and og.users_of("bee") == [mul]
    assert og.tensor_origin == {"bee": ("sig", 0)} and og.producer_of("b") is None
    og.rename_all({"x": "input", "a": "A", "c": "out"})
    og.check()
    assert og.inputs == ["input"] and og.outputs == ["out"]
    assert og.producer_of("A") is relu and og.users_of("input") == [relu]
    assert og.producer_of("out") is mul and mul.inputs == ["A", "bee"]


def test_remove_nodes_drops_index_entries_and_dead_provenance():
    og, relu, sig, mul = _chain()
    og.tensor_origin["b"] = ("sig", 0)
    og.remove_nodes([sig])
    assert sig not in og and og.producer_of("b") is None and _users(og, "a") == ["Mul"]
    assert "b" not in og.tensor_origin and len(og.nodes) == 2
    og.remove_nodes([sig])  # removing again is a no-op
    og.set_inputs(mul, ["a", "a"])
    og.check()


@pytest.mark.parametrize("first", [False, True])
def test_replace_nodes(first):
    og, relu, sig, mul = _chain()
    new = ONode("Swish", ["a"], ["c"])
    og.replace_nodes([sig, mul], new, first=first)
    og.check()
    assert og.producer_of("c") is new and og.users_of("a") == [new]
    assert og.producer_of("b") is None and [n.op_type for n in og.nodes] == ["Relu", "Swish"]


def test_take_over_output():
    og, relu, sig, mul = _chain()
    og.tensor_origin.update({"b": ("sig", 0), "c": ("mul", 0)})
    # the Mul absorbs a node that reads only it
    tail = og.add_node(ONode("Neg", ["c"], ["d"]))
    og.outputs[:] = ["d"]
    og.take_over_output(mul, tail)
    og.check()
    assert og.producer_of("d") is mul and og.producer_of("c") is None and tail not in og
    assert "c" not in og.tensor_origin and mul.outputs == ["d"]


def test_bypass_inside_and_at_a_graph_output():
    og, relu, sig, mul = _chain()
    ident = og.add_node(ONode("Identity", ["c"], ["y"]))
    user = og.add_node(ONode("Neg", ["y"], ["z"]))
    og.outputs[:] = ["z"]
    assert og.bypass(ident)
    og.check()
    assert user.inputs == ["c"] and og.users_of("c") == [user] and og.producer_of("y") is None
    out = og.add_node(ONode("Identity", ["z"], ["y2"]))
    og.outputs[:] = ["y2"]
    og.tensor_origin["z"] = ("neg", 0)
    assert og.bypass(out)  # the producer of z now writes the graph output itself
    og.check()
    assert og.producer_of("y2") is user and og.producer_of("z") is None
    assert og.tensor_origin == {"y2": ("neg", 0)}


def test_fold_and_remove_unused():
    og, relu, sig, mul = _chain()
    og.fold(sig, np.zeros((2, 3), np.float32))
    og.check()
    assert "b" in og.initializers and og.producer_of("b") is None and sig not in og
    dead = og.add_node(ONode("Neg", ["a"], ["unused"]))
    assert og.remove_unused() == 1
    og.check()
    assert dead not in og and og.users_of("a") == [mul] and og.producer_of("unused") is None


def test_nodes_are_read_only_outside_the_helpers():
    og, relu, sig, mul = _chain()
    assert isinstance(og.nodes, tuple)
    with pytest.raises(AttributeError):
        og.nodes.append(ONode("Neg", ["c"], ["d"]))
    with pytest.raises(AttributeError):
        og.nodes = []
    with pytest.raises(TypeError):
        mul.inputs[0] = "x"
    with pytest.raises(TypeError):
        mul.outputs.append("d")
    with pytest.raises(AttributeError):
        mul.inputs = ["x", "x"]
    og.check()
    # lists compare, slice and copy as plain lists
    assert mul.inputs == ["a", "b"] and mul.inputs[:1] + ["x"] == ["a", "x"]
    assert copy.deepcopy(mul).inputs == ["a", "b"]
    # a node out of the graph is an ordinary object again
    og.remove_nodes([mul])
    mul.inputs = ["x", "x"]
    mul.outputs.append("d")
    og.check()


def test_check_catches_an_index_left_stale():
    og, relu, sig, mul = _chain()
    mul.__dict__["inputs"] = type(mul.inputs)(["x", "b"])  # behind the helpers' back
    with pytest.raises(AssertionError, match="stale consumer index"):
        og.check()
    og, relu, sig, mul = _chain()
    sig.__dict__["outputs"] = type(sig.outputs)(["b2"])
    with pytest.raises(AssertionError, match="stale producer index"):
        og.check()
    og, relu, sig, mul = _chain()
    og._nodes.remove(sig)
    with pytest.raises(AssertionError, match="membership"):
        og.check()


def test_membership_is_constant_time():
    og = OnnxGraph("long")
    og.inputs.append("t0")
    nodes = [og.add_node(ONode("Relu", [f"t{i}"], [f"t{i + 1}"])) for i in range(20000)]
    t0 = time.perf_counter()
    assert all(n in og for n in nodes) and all(og.producer_of(f"t{i + 1}") is n
                                               for i, n in enumerate(nodes))
    assert time.perf_counter() - t0 < 2  # a scan per lookup takes minutes here


def test_each_skips_removed_nodes_and_the_matcher_sees_edits():
    og, relu, sig, mul = _chain()
    m = Matcher(og)
    assert m.only_user("b") is mul and m.users("a") == [sig, mul]
    seen = []
    for n in og.each():
        seen.append(n.op_type)
        if n is relu:
            og.remove_nodes([sig])
    assert seen == ["Relu", "Mul"]
    assert m.only_user("a") is mul and m.producer("b") is None  # no rebuild needed


# ----------------------------------------------------------------------------- pass pipeline

def _by_name():
    return {p.name: p for p in passes.DEFAULT + passes.LAST + list(passes.OPTIONAL.values())}


def test_declared_pipeline_is_in_order():
    for opset in (13, 17, 20):
        names = [p.name for p in passes.optimization_passes(opset, tuple(passes.OPTIONAL))]
        assert names[0] == "fold_constants" and names[-1] == "dedup_initializers"
        assert ("fuse_gelu" in names) == (opset >= 20)
    p = _by_name()
    assert p["fuse_gemm"].requires == ("fold_constants",)
    assert p["unflatten_matmuls"].requires == ("fuse_gemm",)
    assert p["merge_depthwise_convs"].requires == ("fuse_conv_bias",)


def test_a_pass_listed_before_its_prerequisite_raises():
    p = _by_name()
    order = [p["fold_constants"], p["unflatten_matmuls"], p["fuse_gemm"]]
    with pytest.raises(ConversionError, match="unflatten_matmuls is listed before fuse_gemm"):
        passes.check_order(order)
    with pytest.raises(ConversionError, match="needs fuse_gemm, which is not in the pipeline"):
        passes.check_order([p["fold_constants"], p["unflatten_matmuls"]])
    passes.check_order([p["fold_constants"], p["fuse_gemm"], p["unflatten_matmuls"]])


def test_reordering_the_pipeline_raises(monkeypatch):
    swapped = list(passes.DEFAULT)
    i, j = [k for k, q in enumerate(swapped) if q.name in ("fuse_gemm", "unflatten_matmuls")]
    swapped[i], swapped[j] = swapped[j], swapped[i]
    monkeypatch.setattr(passes, "DEFAULT", swapped)
    og, *_ = _chain()
    with pytest.raises(ConversionError, match="listed before fuse_gemm"):
        passes.run_passes(og, 17)


def test_skipping_a_prerequisite_of_a_kept_pass_raises():
    with pytest.raises(ConversionError, match="fuse_gemm needs fold_constants, which skip"):
        passes.optimization_passes(17, skip=("fold_constants",))
    kept = passes.optimization_passes(17, skip=("fold_constants", "fuse_gemm",
                                                "unflatten_matmuls"))
    assert "fold_constants" not in [p.name for p in kept]
    passes.optimization_passes(17, skip=("merge_depthwise_convs",))  # nothing needs it


@pytest.mark.parametrize("how", ["argument", "env"])
def test_check_each_pass_names_the_pass_that_broke_the_graph(monkeypatch, how):
    def sloppy(og):  # rewires a node behind the helpers' back
        n = og.nodes[-1]
        n.__dict__["inputs"] = type(n.inputs)(["x"] * len(n.inputs))
        return 1

    monkeypatch.setattr(passes, "LAST", passes.LAST + [passes.Pass("sloppy", sloppy)])
    monkeypatch.setenv(passes.CHECK_ENV, "1" if how == "env" else "0")
    og, *_ = _chain()
    with pytest.raises(AssertionError, match="after pass sloppy: stale consumer index"):
        passes.run_passes(og, 17, check_each_pass=True if how == "argument" else None)
    og, *_ = _chain()
    passes.run_passes(og, 17, check_each_pass=False)  # off: nothing looks
