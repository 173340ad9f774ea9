"""Patterns from MindCV's zoo that the batch analysis must follow: timm-style attention (qkv
permuted (2, 0, 3, 1, 4) then unstacked), ShuffleNet's channel shuffle, XCiT/EdgeNeXt Fourier
position encoding (cumsum, floor division) and cosine attention (L2 normalisation). Each is
exported at batch 1, converted static and with --dynamic_batch, and compared with MindSpore at
batch 1 (static) and 1, 3, 8 (dynamic)."""
import math

import numpy as np
import pytest

import mindspore as ms
from mindspore import nn, ops

from coat_export import converters
from cvt_util import assert_close, export, ms_forward, ort_forward, session, validate


class QkvAttention(nn.Cell):
    def __init__(self, dim=16, heads=2):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Dense(dim, dim * 3)
        self.proj = nn.Dense(dim, dim)

    def construct(self, x):
        b, n, c = x.shape
        qkv = ops.transpose(ops.reshape(self.qkv(x), (b, n, 3, self.heads, c // self.heads)),
                            (2, 0, 3, 1, 4))
        q, k, v = ops.unstack(qkv, 0)
        attn = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * self.scale, -1)
        return self.proj(ops.reshape(ops.transpose(ops.matmul(attn, v), (0, 2, 1, 3)), (b, n, c)))


class ChannelShuffle(nn.Cell):
    def __init__(self, groups=2):
        super().__init__()
        self.groups = groups
        self.conv = nn.Conv2d(8, 8, 1, has_bias=True)

    def construct(self, x):
        b, c, h, w = x.shape
        y = ops.reshape(self.conv(x), (b, self.groups, c // self.groups, h, w))
        y = ops.reshape(ops.transpose(y, (0, 2, 1, 3, 4)), (b, c, h, w))
        # ShuffleNetV2's other form: split channels by a reshape with the batch folded in
        z = ops.transpose(ops.reshape(y, (b * c // 2, 2, h * w)), (1, 0, 2))
        z = ops.reshape(z, (2, -1, c // 2, h, w))
        return z[0] + z[1]


class FourierPosition(nn.Cell):
    """XCiT / EdgeNeXt PositionalEncodingFourier: cumsum over a mask, floor division."""

    def __init__(self, hidden=8, dim=16, temperature=10000):
        super().__init__()
        self.hidden, self.temperature = hidden, temperature
        self.proj = nn.Conv2d(hidden * 2, dim, 1, has_bias=True)

    def construct(self, x):
        b, c, h, w = x.shape
        mask = ops.ones((b, h, w), ms.float32)
        y_embed = ops.cumsum(mask, 1)
        x_embed = ops.cumsum(mask, 2)
        eps, scale = 1e-6, 2 * math.pi
        y_embed = y_embed / (y_embed[:, -1:, :] + eps) * scale
        x_embed = x_embed / (x_embed[:, :, -1:] + eps) * scale
        dim_t = ops.arange(self.hidden, dtype=ms.float32)
        dim_t = self.temperature ** (2 * ops.floor_divide(dim_t, 2) / self.hidden)
        pos_x = ops.expand_dims(x_embed, -1) / dim_t
        pos_y = ops.expand_dims(y_embed, -1) / dim_t
        pos_x = ops.stack((ops.sin(pos_x[:, :, :, 0::2]), ops.cos(pos_x[:, :, :, 1::2])), 4)
        pos_y = ops.stack((ops.sin(pos_y[:, :, :, 0::2]), ops.cos(pos_y[:, :, :, 1::2])), 4)
        pos = ops.concat((ops.flatten(pos_y, start_dim=3), ops.flatten(pos_x, start_dim=3)), 3)
        return x + self.proj(ops.transpose(pos, (0, 3, 1, 2)))


class CosineAttention(nn.Cell):
    """XCA (XCiT / EdgeNeXt): attention over channels of L2-normalised q and k."""

    def __init__(self, dim=16, heads=2):
        super().__init__()
        self.heads = heads
        self.temperature = ms.Parameter(ms.Tensor(np.full((heads, 1, 1), 0.7, np.float32)))
        self.qkv = nn.Dense(dim, dim * 3)
        self.norm = ops.L2Normalize(axis=-1)

    def construct(self, x):
        b, n, c = x.shape
        qkv = ops.transpose(ops.reshape(self.qkv(x), (b, n, 3, self.heads, c // self.heads)),
                            (2, 0, 3, 4, 1))
        q, k, v = ops.unstack(qkv, 0)
        q, k = self.norm(q), self.norm(k)
        attn = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * self.temperature, -1)
        return ops.reshape(ops.transpose(ops.matmul(attn, v), (0, 3, 1, 2)), (b, n, c))


PATTERNS = {
    "qkv_attention": (QkvAttention, (8, 5, 16), {"Transpose", "Unstack"}),
    "channel_shuffle": (ChannelShuffle, (8, 8, 4, 6), {"Transpose"}),
    "fourier_position": (FourierPosition, (8, 16, 5, 7), {"CumSum", "FloorDiv"}),
    "cosine_attention": (CosineAttention, (8, 6, 16), {"L2Normalize", "Unstack"}),
}


@pytest.fixture(scope="module", params=sorted(PATTERNS))
def pattern(request, exports_dir):
    cls, shape, primitives = PATTERNS[request.param]
    ms.set_seed(2)
    net = cls()
    net.set_train(False)
    x = np.random.RandomState(4).randn(*shape).astype(np.float32)
    path = export(net, exports_dir / f"pattern_{request.param}", (1,) + shape[1:])
    expected = [ms_forward(net, x[:b])[0] for b in (1, 3, 8)]
    return request.param, path, x, expected, primitives


def test_pattern_primitives_present(pattern):
    name, path, _, _, primitives = pattern
    assert primitives <= set(converters.read_mindir(path).op_counts())


@pytest.mark.parametrize("opset", [13, 17, 21])
def test_pattern_static_and_dynamic(pattern, opset):
    name, path, x, expected, _ = pattern
    static = converters.convert_to_model(path, opset=opset)
    validate(static)
    assert_close(ort_forward(static, x[:1]), [expected[0]], what=f"{name} static")
    dynamic = converters.convert_to_model(path, opset=opset, dynamic_batch=True)
    validate(dynamic)
    s = session(dynamic)
    for i, b in enumerate((1, 3, 8)):
        assert_close(ort_forward(s, x[:b]), [expected[i]], what=f"{name} dynamic batch {b}")
