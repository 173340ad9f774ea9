"""The converter stays linear in the node count: a 20,000-node MINDIR whose nodes share one
scope (what a Python loop in `construct` exports) converts through every pass and the gate
within seconds, and computes what the chain computes."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from mindspore import nn, ops

from coat_export.converters.mindir_reader import load_mind_ir_pb2
from cvt_util import export

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = 6667            # ReLU, Muls, Add per step: 20,001 nodes


class Step(nn.Cell):
    """x -> relu(x) * 1.0001 + 0.001: after k steps the value depends on k (no fixed point
    within 20,000 nodes), so a converter that dropped part of the chain would be caught."""

    def construct(self, x):
        return ops.relu(x) * 1.0001 + 0.001


def _repeat_first_step(src: str, dst: str, steps: int) -> int:
    """`src` is one Step; write a MINDIR that chains `steps` copies of its nodes, every copy
    keeping the first one's scope. Returns the node count."""
    pb2 = load_mind_ir_pb2()
    model = pb2.ModelProto()
    with open(src, "rb") as f:
        model.ParseFromString(f.read())
    graph = model.graph
    consts = [n for n in graph.node if n.op_type == "Constant"]
    ops_ = [n for n in graph.node if n.op_type != "Constant"]
    assert [n.op_type.split(":")[2] for n in ops_] == ["ReLU", "Muls", "Add"]
    first_in, last_out = ops_[0].input[0], ops_[-1].output[0]
    template = [pb2.NodeProto() for _ in ops_]
    for t, n in zip(template, ops_):
        t.CopyFrom(n)
    del graph.node[:]
    for c in consts:
        graph.node.add().CopyFrom(c)
    prev = first_in
    for i in range(steps):
        renamed = {}
        for t in template:
            n = graph.node.add()
            n.CopyFrom(t)
            for j, name in enumerate(n.input):
                n.input[j] = prev if name == first_in else renamed.get(name, name)
            out = f"{t.output[0]}_s{i}"
            renamed[t.output[0]] = out
            n.output[0] = out
            n.name = out
        prev = renamed[last_out]
    graph.output[0].name = prev
    with open(dst, "wb") as f:
        f.write(model.SerializeToString())
    return len(graph.node) - len(consts)


@pytest.fixture(scope="module")
def long_chain(tmp_path_factory):
    d = tmp_path_factory.mktemp("chain")
    one = export(Step(), d / "step", (2, 8))
    path = str(d / "chain.mindir")
    nodes = _repeat_first_step(one, path, STEPS)
    assert nodes == 3 * STEPS >= 20000
    return path


def test_twenty_thousand_nodes_convert_in_seconds(long_chain, tmp_path):
    import onnxruntime as ort

    out = tmp_path / "chain.onnx"
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "coat_export.converters", long_chain, str(out)], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    # measured 12 s here on 2 cores (read 4, build 3, gate 2.5); the quadratic form of
    # a single pass took 95 s for this size
    assert seconds < 90, seconds
    x = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    expected = x
    for _ in range(STEPS):
        expected = np.maximum(expected, 0) * np.float32(1.0001) + np.float32(0.001)
    import onnx

    assert len(onnx.load(str(out)).graph.node) >= 3 * STEPS   # every step kept
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
