"""converters.expose_nodes: the rewritten MINDIR, run by MindSpore's GraphCell, returns the
chosen inner values, equal to what the network's own cells compute (PyNative)."""
import numpy as np
import pytest

import mindspore as ms
from mindspore import nn, ops

from coat_export import converters
from coat_export.converters.mindir_reader import load_mind_ir_pb2
from cvt_util import export, ms_forward


class Chain(nn.Cell):
    """A conv, a two-output Split and a Dense head: single and tuple-valued inner nodes."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, pad_mode="pad", padding=1, has_bias=True)
        self.fc = nn.Dense(2, 5)

    def construct(self, x):
        y = ops.relu(self.conv(x))
        a, b = ops.split(y, 2, axis=1)
        return self.fc(ops.mean(a * b, (2, 3)))


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    ms.set_seed(3)
    net = Chain()
    path = export(net, tmp_path_factory.mktemp("expose") / "chain", (1, 3, 8, 8))
    x = np.random.RandomState(0).randn(1, 3, 8, 8).astype(np.float32)
    return net, path, x


def _node(ir, op_type, scope_part=""):
    (node,) = [n for n in ir.nodes if n.op_type == op_type and scope_part in n.scope]
    return node


def _run(data, tmp_path, x):
    path = tmp_path / "exposed.mindir"
    path.write_bytes(data)
    outs = nn.GraphCell(ms.load(str(path)))(ms.Tensor(x))
    return [tuple(v.asnumpy() for v in o) if isinstance(o, (tuple, list)) else o.asnumpy()
            for o in outs]


def test_exposed_outputs_are_the_networks_intermediate_values(chain, tmp_path):
    net, path, x = chain
    ir = converters.read_mindir(path)
    conv = _node(ir, "BiasAdd", "conv-Conv2d")
    relu, split = _node(ir, "ReLU"), _node(ir, "Split")
    names = [split.name, conv.name, relu.name, "no_such_node"]
    with open(path, "rb") as f:
        exposed = converters.expose_nodes(f.read(), names)
    # graph order, unknown names left out
    assert exposed.nodes == [conv.name, relu.name, split.name]
    final, conv_v, relu_v, split_v = _run(exposed.data, tmp_path, x)

    # the reference: the network's own cells, not the MINDIR
    (want_conv,) = ms_forward(net.conv, x)
    want_relu = np.maximum(want_conv, 0)
    np.testing.assert_allclose(conv_v, want_conv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(relu_v, want_relu, rtol=1e-5, atol=1e-5)
    assert isinstance(split_v, tuple) and len(split_v) == 2
    np.testing.assert_allclose(split_v[0], want_relu[:, :2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(split_v[1], want_relu[:, 2:], rtol=1e-5, atol=1e-5)
    # the original output is output 0, unchanged
    np.testing.assert_allclose(final, ms_forward(net, x)[0], rtol=1e-5, atol=1e-5)


def test_a_parsed_model_is_copied_not_changed(chain, tmp_path):
    net, path, x = chain
    pb = load_mind_ir_pb2()
    model = pb.ModelProto()
    with open(path, "rb") as f:
        data = f.read()
    model.ParseFromString(data)
    relu = _node(converters.read_mindir(path), "ReLU")
    exposed = converters.expose_nodes(model, [relu.name])
    assert model.SerializeToString() == data
    assert exposed.nodes == [relu.name]
    _, relu_v = _run(exposed.data, tmp_path, x)
    (want_conv,) = ms_forward(net.conv, x)
    np.testing.assert_allclose(relu_v, np.maximum(want_conv, 0), rtol=1e-5, atol=1e-5)


def test_unusable_input_is_a_conversion_error(chain):
    _, path, _ = chain
    with pytest.raises(converters.ConversionError, match="not a valid MINDIR"):
        converters.expose_nodes(b"\xff\xff\xff not protobuf", ["x"])
    pb = load_mind_ir_pb2()
    model = pb.ModelProto()
    with open(path, "rb") as f:
        model.ParseFromString(f.read())
    kept = [p for p in model.primitives if p.op_type != "MakeTuple"]
    del model.primitives[:]
    model.primitives.extend(kept)
    with pytest.raises(converters.ConversionError, match="MakeTuple"):
        converters.expose_nodes(model, [])
