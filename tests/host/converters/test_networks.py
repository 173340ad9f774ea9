"""Non-CoaT networks built here: ResNet-style, MobileNet-style (hard-swish, squeeze-excite) and
ViT-style (patch conv, class token, softmax attention, LayerNorm, GELU, a hand-written LayerNorm
for the fusion pass). Static, --dynamic_batch from the static MINDIR, and several opsets."""
import numpy as np
import pytest

import mindspore as ms
from mindspore import nn, ops

from coat_export import converters
from cvt_util import assert_close, export, ms_forward, ort_forward, session, validate


class BasicBlock(nn.Cell):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, pad_mode="pad", padding=1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, pad_mode="same")
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = nn.SequentialCell([nn.Conv2d(cin, cout, 1, stride), nn.BatchNorm2d(cout)]) \
            if stride != 1 or cin != cout else None
        self.relu = nn.ReLU()

    def construct(self, x):
        identity = x if self.down is None else self.down(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + identity)


class TinyResNet(nn.Cell):
    def __init__(self, classes=7):
        super().__init__()
        self.stem = nn.SequentialCell([nn.Conv2d(3, 16, 7, 2, pad_mode="pad", padding=3),
                                       nn.BatchNorm2d(16), nn.ReLU()])
        self.pool = nn.MaxPool2d(3, 2, pad_mode="same")
        self.layer1 = BasicBlock(16, 16, 1)
        self.layer2 = BasicBlock(16, 32, 2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Dense(32, classes)

    def construct(self, x):
        x = self.layer2(self.layer1(self.pool(self.stem(x))))
        return self.fc(self.flatten(self.gap(x)))


class SqueezeExcite(nn.Cell):
    def __init__(self, c, r=4):
        super().__init__()
        self.fc1 = nn.Conv2d(c, c // r, 1, has_bias=True)
        self.fc2 = nn.Conv2d(c // r, c, 1, has_bias=True)
        self.act = nn.ReLU()
        self.gate = nn.HSigmoid()

    def construct(self, x):
        s = ops.mean(x, (2, 3), keep_dims=True)
        return x * self.gate(self.fc2(self.act(self.fc1(s))))


class InvertedResidual(nn.Cell):
    def __init__(self, cin, hidden, cout, stride, se):
        super().__init__()
        self.expand = nn.SequentialCell([nn.Conv2d(cin, hidden, 1), nn.BatchNorm2d(hidden),
                                         nn.HSwish()])
        self.dw = nn.SequentialCell([nn.Conv2d(hidden, hidden, 3, stride, pad_mode="same",
                                               group=hidden), nn.BatchNorm2d(hidden), nn.HSwish()])
        self.se = SqueezeExcite(hidden) if se else None
        self.project = nn.SequentialCell([nn.Conv2d(hidden, cout, 1), nn.BatchNorm2d(cout)])
        self.residual = stride == 1 and cin == cout

    def construct(self, x):
        y = self.dw(self.expand(x))
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return x + y if self.residual else y


class TinyMobileNet(nn.Cell):
    def __init__(self, classes=5):
        super().__init__()
        self.stem = nn.SequentialCell([nn.Conv2d(3, 16, 3, 2, pad_mode="same"),
                                       nn.BatchNorm2d(16), nn.HSwish()])
        self.blocks = nn.SequentialCell([InvertedResidual(16, 32, 16, 1, True),
                                         InvertedResidual(16, 48, 24, 2, False),
                                         InvertedResidual(24, 72, 24, 1, True)])
        self.head = nn.Dense(24, classes)

    def construct(self, x):
        x = self.blocks(self.stem(x))
        return self.head(ops.mean(x, (2, 3)))


class HandLayerNorm(nn.Cell):
    """LayerNorm written out: what the LayerNorm fusion pass looks for."""

    def __init__(self, dim):
        super().__init__()
        self.gamma = ms.Parameter(ms.Tensor(np.linspace(0.5, 1.5, dim).astype(np.float32)), "g")
        self.beta = ms.Parameter(ms.Tensor(np.linspace(-0.1, 0.1, dim).astype(np.float32)), "b")

    def construct(self, x):
        mean = ops.mean(x, -1, keep_dims=True)
        d = x - mean
        var = ops.mean(d * d, -1, keep_dims=True)
        return d / ops.sqrt(var + 1e-5) * self.gamma + self.beta


class Attention(nn.Cell):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.hd = heads, dim // heads
        self.qkv = nn.Dense(dim, dim * 3)
        self.proj = nn.Dense(dim, dim)
        self.scale = self.hd ** -0.5

    def construct(self, x):
        n, c = x.shape[1], x.shape[2]
        qkv = ops.transpose(ops.reshape(self.qkv(x), (-1, n, 3, self.heads, self.hd)),
                            (2, 0, 3, 1, 4))
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * self.scale, -1)
        y = ops.reshape(ops.transpose(ops.matmul(attn, v), (0, 2, 1, 3)), (-1, n, c))
        return self.proj(y)


class TinyViT(nn.Cell):
    def __init__(self, dim=32, classes=6):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, 8, 8, has_bias=True)
        self.cls = ms.Parameter(ms.Tensor(np.random.RandomState(2).randn(1, 1, dim)
                                          .astype(np.float32) * 0.02), "cls")
        self.pos = ms.Parameter(ms.Tensor(np.random.RandomState(3).randn(1, 17, dim)
                                          .astype(np.float32) * 0.02), "pos")
        self.norm1 = nn.LayerNorm((dim,), epsilon=1e-6)
        self.attn = Attention(dim, 4)
        self.norm2 = HandLayerNorm(dim)
        self.fc1, self.fc2 = nn.Dense(dim, dim * 2), nn.Dense(dim * 2, dim)
        self.gelu = nn.GELU(approximate=False)
        self.norm = nn.LayerNorm((dim,))
        self.head = nn.Dense(dim, classes)

    def construct(self, x):
        x = ops.transpose(ops.flatten(self.patch(x), start_dim=2), (0, 2, 1))
        cls = ops.broadcast_to(self.cls, (x.shape[0], -1, -1))
        x = ops.concat((cls, x), axis=1) + self.pos
        x = x + self.attn(self.norm1(x))
        x = x + self.fc2(self.gelu(self.fc1(self.norm2(x))))
        return self.head(self.norm(x)[:, 0])


NETWORKS = {"resnet": (TinyResNet, (1, 3, 32, 32)), "mobilenet": (TinyMobileNet, (1, 3, 32, 32)),
            "vit": (TinyViT, (1, 3, 32, 32))}


@pytest.fixture(scope="module", params=sorted(NETWORKS))
def network(request, exports_dir):
    cls, shape = NETWORKS[request.param]
    ms.set_seed(3)
    net = cls()
    net.set_train(False)
    x = np.random.RandomState(4).randn(8, *shape[1:]).astype(np.float32)
    path = export(net, exports_dir / f"net_{request.param}", shape)
    return request.param, net, path, x, ms_forward(net, x)


@pytest.mark.parametrize("opset", [13, 17, 21])
def test_static(network, opset):
    name, _, path, x, expected = network
    model = converters.convert_to_model(path, opset=opset)
    validate(model)
    assert_close(ort_forward(model, x[:1]), [e[:1] for e in expected], what=f"{name}")


def test_dynamic_batch_from_static_mindir(network):
    """Route 1: a static MINDIR, made dynamic by the batch analysis. timm-style attention
    (qkv.permute(2, 0, 3, 1, 4) then unstack) moves the batch off axis 0 and back."""
    name, net, path, x, expected = network
    model = converters.convert_to_model(path, opset=17, dynamic_batch=True)
    validate(model)
    s = session(model)
    for b in (1, 3, 8):
        assert_close(ort_forward(s, x[:b]), [e[:b] for e in expected], what=f"{name} batch {b}")


def test_dynamic_batch_from_symbolic_mindir(network, exports_dir):
    """Route 2: a MINDIR exported with a symbolic batch converts to a dynamic ONNX as well."""
    name, net, _, x, expected = network
    path = export(net, exports_dir / f"net_{name}_symbolic", (1,) + x.shape[1:],
                  dynamic_batch=True)
    model = converters.convert_to_model(path, opset=17, dynamic_batch=True)
    validate(model)
    s = session(model)
    for b in (1, 3):
        assert_close(ort_forward(s, x[:b]), [e[:b] for e in expected], what=f"{name} batch {b}")


def test_fusions_on_networks(network):
    name, _, path, _, _ = network
    ops17 = [n.op_type for n in converters.convert_to_model(path, opset=17).graph.node]
    ops21 = [n.op_type for n in converters.convert_to_model(path, opset=21).graph.node]
    assert "Add" not in ops17 or name != "resnet" or ops17.count("Add") == 2  # residuals only
    if name == "vit":
        # the built-in and the hand-written LayerNorm both become LayerNormalization
        assert ops17.count("LayerNormalization") == 3
        assert "Gelu" in ops21 and "ReduceMean" not in ops17
    if name == "mobilenet":
        assert "HardSwish" in ops17 and "HardSigmoid" in ops17
    assert "BatchNormalization" in ops17 or name == "vit"
    assert "Gemm" in ops17
