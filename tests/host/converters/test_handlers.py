"""Per-handler parity: one small Cell per op family (several ops and edge attributes each),
exported to MINDIR once, converted at several opsets and run in ONNX Runtime against MindSpore."""
import numpy as np
import pytest

import mindspore as ms
from mindspore import nn, ops

from coat_export import converters
from cvt_util import assert_close, export, ms_forward, ort_forward, validate

OPSETS = [13, 17, 21]


class ConvFamily(nn.Cell):
    def __init__(self):
        super().__init__()
        self.pad = nn.Conv2d(4, 6, 3, pad_mode="pad", padding=(1, 2, 0, 1), has_bias=True)
        self.same = nn.Conv2d(4, 6, 4, stride=2, pad_mode="same", has_bias=True)
        self.valid = nn.Conv2d(4, 6, 3, stride=(2, 1), pad_mode="valid", dilation=2)
        self.group = nn.Conv2d(4, 8, 3, pad_mode="same", group=2, has_bias=True)
        self.depthwise = nn.Conv2d(4, 4, 5, pad_mode="pad", padding=2, group=4, has_bias=True)
        self.conv1d = nn.Conv1d(4, 3, 3, pad_mode="same", has_bias=True)

    def construct(self, x):
        return (self.pad(x), self.same(x), self.valid(x), self.group(x), self.depthwise(x),
                self.conv1d(x[:, :, 0, :]))


class PoolNormFamily(nn.Cell):
    def __init__(self):
        super().__init__()
        self.max_same = nn.MaxPool2d(3, 2, pad_mode="same")
        self.max_valid = nn.MaxPool2d(2, 2)
        self.avg_same = nn.AvgPool2d(3, 2, pad_mode="same")
        self.avg_valid = nn.AvgPool2d(2, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.ap23 = nn.AdaptiveAvgPool2d((2, 3))
        self.bn = nn.BatchNorm2d(4)
        self.bn.moving_mean.set_data(ms.Tensor(np.array([0.1, -0.2, 0.3, 0.0], np.float32)))
        self.bn.moving_variance.set_data(ms.Tensor(np.array([1.5, 0.5, 2.0, 1.0], np.float32)))
        self.bn.gamma.set_data(ms.Tensor(np.array([1.0, 2.0, 0.5, -1.0], np.float32)))
        self.ln = nn.LayerNorm((6, 12), begin_norm_axis=2, begin_params_axis=2, epsilon=1e-5)
        self.gn = nn.GroupNorm(2, 4)

    def construct(self, x):
        return (self.max_same(x), self.max_valid(x), self.avg_same(x), self.avg_valid(x),
                self.gap(x), self.ap23(x), self.bn(x), self.ln(x), self.gn(x))


class ElementwiseFamily(nn.Cell):
    def __init__(self):
        super().__init__()
        self.gelu_tanh = nn.GELU()
        self.gelu_erf = nn.GELU(approximate=False)
        self.hswish, self.hsig, self.relu6 = nn.HSwish(), nn.HSigmoid(), nn.ReLU6()
        self.silu = nn.SiLU()

    def construct(self, x):
        pos = ops.abs(x) + 0.5
        return (ops.relu(x), self.relu6(x * 4), ops.sigmoid(x), self.hswish(x * 3),
                self.hsig(x * 3), self.silu(x), self.gelu_tanh(x), self.gelu_erf(x), ops.erf(x),
                ops.tanh(x), ops.softmax(x, -2), ops.log_softmax(x, 1),
                x + 1.5, x - pos, x * 2.0, x / pos, ops.div(2.0, pos), ops.pow(pos, 1.7),
                ops.sqrt(pos), ops.rsqrt(pos), ops.exp(x), ops.log(pos), ops.neg(x), ops.abs(x),
                ops.maximum(x, 0.2), ops.minimum(x, pos * 0.3), ops.square(x),
                ops.clamp(x, -0.5, 0.7), ops.cast(x, ms.float16).astype(ms.float32),
                ops.zeros_like(x) + 3.0, ops.ones_like(x) * x)


class ReduceFamily(nn.Cell):
    def construct(self, x):
        return (ops.mean(x, (2, 3), keep_dims=True), ops.mean(x, -1), ops.sum(x, (1, -1)),
                ops.sum(x, 2, keepdim=True), ops.amax(x, axis=-3, keepdims=True),
                ops.amax(x, axis=(1, 2)), ops.ReduceMean(keep_dims=False)(x, ()),
                ops.argmax(x, -1), ops.ReduceMin(keep_dims=True)(x, 1))


class ShapeFamily(nn.Cell):
    def construct(self, x):
        pieces = ops.split(x, 2, axis=1)
        stacked = ops.stack([pieces[0], pieces[1] * 2], axis=2)
        unstacked = ops.unstack(stacked, axis=2)
        y = ops.concat((x, x * 2), axis=-1)
        idx = ms.Tensor(np.array([3, 0, 2], np.int32))
        return (ops.reshape(x, (2, -1, 3)), ops.transpose(x, (0, 2, 3, 1)), ops.flatten(x),
                ops.expand_dims(x, -1), ops.squeeze(x[:, :1], 1), y, pieces[1],
                ops.split(x, (1, 3), axis=1)[1], stacked, unstacked[1] + unstacked[0],
                x[..., None, 1:3, ::2], x[:, -1], x[1:, :, ::-2], x[:, 1:3, 2, :4],
                ops.gather(x, idx, 1), ops.gather(x, idx, -1),
                ops.broadcast_to(x[:, :, :1], (2, 4, 6, 12)), ops.broadcast_to(x[:1], (-1, 4, 6, 12)),
                ops.tile(x[:, :2], (1, 2, 1, 2)), ops.tile(x, (2, 1, 1, 1, 1)),
                ops.pad(x, (1, 2, 0, 3)), ops.pad(x, (1, 2, 2, 1), mode="reflect"),
                ops.pad(x, (1, 0, 0, 2), mode="replicate"), ops.pad(x, (2, 2), value=1.5))


class ResizeFamily(nn.Cell):
    def construct(self, x):
        return (ops.interpolate(x, size=(9, 17), mode="bilinear", align_corners=True),
                ops.interpolate(x, size=(3, 5), mode="bilinear", align_corners=True),
                ops.ResizeBilinearV2(align_corners=False)(x, (9, 17)),
                ops.interpolate(x, size=(12, 24), mode="nearest"),
                ops.interpolate(x, size=(4, 7), mode="nearest"),
                ops.ResizeNearestNeighbor((9, 17), align_corners=True)(x),
                ops.ResizeNearestNeighborV2(align_corners=True)(x, (3, 5)))


class MatMulFamily(nn.Cell):
    def __init__(self):
        super().__init__()
        self.dense = nn.Dense(12, 5)
        self.dense3 = nn.Dense(12, 7, has_bias=False)
        self.w = ms.Parameter(ms.Tensor(np.random.RandomState(3).randn(12, 6).astype(np.float32)),
                              name="w")

    def construct(self, x):
        a = x[:, 0]                                   # (2, 6, 12)
        return (ops.matmul(a, self.w), ops.BatchMatMul(transpose_b=True)(a, a),
                ops.BatchMatMul(transpose_a=True)(a, a), ops.matmul(a[0], self.w),
                ops.MatMul(transpose_a=True)(a[0], a[1]), self.dense(a[0]), self.dense(a),
                self.dense3(a), a @ ops.transpose(a, (0, 2, 1)))


FAMILIES = {
    "conv": (ConvFamily, (2, 4, 11, 13)),
    "pool_norm": (PoolNormFamily, (2, 4, 6, 12)),
    "elementwise": (ElementwiseFamily, (2, 4, 6, 12)),
    "reduce": (ReduceFamily, (2, 4, 6, 12)),
    "shape": (ShapeFamily, (2, 4, 6, 12)),
    "resize": (ResizeFamily, (2, 3, 6, 12)),
    "matmul": (MatMulFamily, (2, 4, 6, 12)),
}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request, exports_dir):
    cls, shape = FAMILIES[request.param]
    ms.set_seed(5)
    net = cls()
    net.set_train(False)
    x = np.random.RandomState(11).randn(*shape).astype(np.float32)
    path = export(net, exports_dir / f"family_{request.param}", shape)
    return request.param, path, x, ms_forward(net, x)


@pytest.mark.parametrize("opset", OPSETS)
def test_family_matches_mindspore(family, opset):
    name, path, x, expected = family
    model = converters.convert_to_model(path, opset=opset)
    validate(model)
    assert_close(ort_forward(model, x), expected, atol=1e-4, what=f"{name} opset {opset}")


def test_families_cover_their_primitives(family):
    """Guard against MindSpore optimising the op under test away before export."""
    name, path, _, _ = family
    ops_seen = set(converters.read_mindir(path).op_counts())
    must = {"conv": {"Conv2D", "BiasAdd"},
            "pool_norm": {"MaxPool", "AvgPool", "AdaptiveAvgPool2D", "BatchNorm", "LayerNorm",
                          "GroupNorm"},
            "elementwise": {"ReLU", "ReLU6", "Sigmoid", "HSwish", "HSigmoid", "SiLU", "GeLU",
                            "Erf", "Tanh", "Softmax", "LogSoftmax", "Pow", "Sqrt", "Rsqrt",
                            "Exp", "Log", "Neg", "Abs", "Maximum", "Minimum", "Cast"},
            "reduce": {"ReduceMean", "ReduceMax"},
            "shape": {"Reshape", "Transpose", "Flatten", "ExpandDims", "Squeeze", "Concat",
                      "StridedSlice", "Gather", "BroadcastTo", "Tile", "PadV3"},
            "resize": {"ResizeBilinearV2", "ResizeNearestNeighborV2"},
            "matmul": {"MatMul", "BatchMatMul", "BiasAdd"}}[name]
    assert must <= ops_seen, f"{name}: missing {must - ops_seen}"


class SameConvAfterPool(nn.Cell):
    """pad_mode='same', stride 2, on a tensor whose spatial size the MINDIR leaves unknown (after
    MaxPool and Pad with only the batch symbolic) and on the input (static H, W)."""

    def __init__(self):
        super().__init__()
        self.first = nn.Conv2d(3, 4, 3, stride=2, pad_mode="same", has_bias=True)
        self.pool = nn.MaxPool2d(2, 2)
        self.second = nn.Conv2d(4, 5, 3, stride=2, pad_mode="same", dilation=2)
        self.third = nn.Conv2d(4, 5, 4, stride=2, pad_mode="same")

    def construct(self, x):
        y = self.pool(self.first(x))
        return (self.second(y), self.third(ops.pad(y, (1, 0, 1, 0))))


@pytest.mark.parametrize("opset", [13, 21])
def test_same_conv_with_symbolic_batch(tmp_path, opset):
    net = SameConvAfterPool()
    path = export(net, tmp_path / "same", (1, 3, 30, 30), dynamic_batch=True)
    model = converters.convert_to_model(path, opset=opset, dynamic_batch=True)
    validate(model)
    # explicit pads where the MINDIR records H and W, run-time SAME_UPPER where it does not
    conv_attrs = [{a.name for a in n.attribute} for n in model.graph.node if n.op_type == "Conv"]
    assert any("auto_pad" in a for a in conv_attrs) and any("pads" in a for a in conv_attrs)
    for batch in (1, 3):
        x = np.random.RandomState(batch).randn(batch, 3, 30, 30).astype(np.float32)
        assert_close(ort_forward(model, x), ms_forward(net, x), what=f"batch {batch}")


class LstmStack(nn.Cell):
    """nn.LSTM without an initial state: its zeros (L*D, N, H) have a run-time shape in a
    symbolic-batch MINDIR; the conversion leaves ONNX LSTM's default zero state instead."""

    def __init__(self):
        super().__init__()
        self.m = nn.LSTM(6, 4, num_layers=2, batch_first=True, bidirectional=True)

    def construct(self, x):
        y, (h, c) = self.m(x)
        return (y, h, c)


@pytest.mark.parametrize("opset", [13, 21])
def test_lstm_with_symbolic_batch(tmp_path, opset):
    net = LstmStack()
    path = export(net, tmp_path / "lstm", (1, 5, 6), dynamic_batch=True)
    model = converters.convert_to_model(path, opset=opset, dynamic_batch=True)
    validate(model)
    lstms = [n for n in model.graph.node if n.op_type == "LSTM"]
    assert len(lstms) == 4 and all(len(n.input) <= 4 for n in lstms)  # no initial_h / initial_c
    for batch in (1, 3):
        x = np.random.RandomState(batch).randn(batch, 5, 6).astype(np.float32)
        assert_close(ort_forward(model, x), ms_forward(net, x), what=f"batch {batch}")


class LstmPrimitiveTwoLayers(nn.Cell):
    def __init__(self):
        super().__init__()
        n = 12 * (4 + 4 + 1) * 2
        self.w = ms.Parameter(ms.Tensor(np.ones((n, 1, 1), np.float32)), name="w")
        self.lstm = ops.LSTM(4, 3, 2, True, False, 0.0)

    def construct(self, x):
        h = ops.zeros((2, x.shape[1], 3), ms.float32)
        return self.lstm(x, h, h, self.w)[0]


def test_multi_layer_lstm_primitive_is_refused(tmp_path):
    path = export(LstmPrimitiveTwoLayers(), tmp_path / "lstm2", (5, 2, 4))
    with pytest.raises(converters.ConversionError, match="multi-layer fused LSTM"):
        converters.convert_to_model(path, opset=17)


class LstmWorkspaceRead(nn.Cell):
    def __init__(self):
        super().__init__()
        self.w = ms.Parameter(ms.Tensor(np.ones((12 * (4 + 3 + 1), 1, 1), np.float32)), name="w")
        self.lstm = ops.LSTM(4, 3, 1, True, False, 0.0)

    def construct(self, x):
        h = ops.zeros((1, 2, 3), ms.float32)
        out = self.lstm(x, h, h, self.w)
        return out[0], out[3]


def test_lstm_workspace_read_is_refused(tmp_path):
    path = export(LstmWorkspaceRead(), tmp_path / "lstmws", (5, 2, 4))
    with pytest.raises(converters.ConversionError, match="workspace outputs"):
        converters.convert_to_model(path, opset=17)


class ReturnsAConstant(nn.Cell):
    """YOLOX in eval mode returns (detections, 1): a Python constant among the outputs."""

    def construct(self, x):
        return (ops.sigmoid(x), 1, 0.5)


@pytest.mark.parametrize("dynamic", [False, True])
def test_a_python_constant_output_becomes_a_0d_tensor(tmp_path, dynamic):
    net = ReturnsAConstant()
    path = export(net, tmp_path / "const", (1, 4, 6), dynamic_batch=dynamic)
    model = converters.convert_to_model(path, opset=17, dynamic_batch=True)
    validate(model)
    for batch in (1, 3):
        x = np.random.RandomState(batch).randn(batch, 4, 6).astype(np.float32)
        y, one, half = ort_forward(model, x)
        ref = net(ms.Tensor(x))
        assert ref[1:] == (1, 0.5)
        assert_close(y, ref[0].asnumpy(), what=f"batch {batch}")
        assert one.shape == () and one.dtype == np.int64 and one == 1
        assert half.shape == () and half.dtype == np.float32 and half == 0.5


class BitwiseFullRange(nn.Cell):
    """Bitwise And/Or/Xor over every integer width, on values that reach each type's limits
    (the int64 input is narrowed by wrapping casts, as in MindSpore)."""

    def construct(self, x):
        a, b = x[0], x[1]
        outs = []
        for dtype in (ms.int64, ms.int32, ms.int16, ms.int8, ms.uint8):
            p, q = a.astype(dtype), b.astype(dtype)
            outs += [ops.bitwise_and(p, q), ops.bitwise_or(p, q), ops.bitwise_xor(p, q)]
        return tuple(outs)


@pytest.mark.parametrize("opset", [13, 17, 18])
def test_integer_bitwise_over_the_full_range(tmp_path, opset):
    """Before opset 18 integer bitwise is computed bit by bit (Div/Mod/Mul in int64); it must
    agree with MindSpore at the limits of every width, the sign bit included."""
    info = np.iinfo(np.int64)
    rng = np.random.RandomState(5)
    edges = [info.min, info.max, -1, 0, 1, -2, 2 ** 31, -2 ** 31, 2 ** 31 - 1, 255, -129, 65535]
    a = np.array(edges + list(rng.randint(info.min, info.max, 52, dtype=np.int64)), np.int64)
    b = np.array(edges[::-1] + list(rng.randint(info.min, info.max, 52, dtype=np.int64)),
                 np.int64)
    x = np.stack([a, b])
    net = BitwiseFullRange()
    path = export(net, tmp_path / "bitwise", x.shape, dtype=np.int64)
    model = converters.convert_to_model(path, opset=opset)
    validate(model)
    kinds = {n.op_type for n in model.graph.node}
    assert ("BitwiseAnd" in kinds) == (opset >= 18)
    expected = ms_forward(net, x)
    assert np.array_equal(expected[0], a & b)      # MindSpore itself: two's complement
    assert_close(ort_forward(model, x), expected, what=f"opset {opset}")


class PooledEmbedding(nn.Cell):
    """ECAPA-TDNN's ending: a (N, 6, 1) embedding squeezed of every size-1 axis."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Dense(4, 6)

    def construct(self, x):
        return self.fc(x.mean(axis=1)).expand_dims(-1).squeeze()


def test_squeeze_of_every_unit_axis_keeps_a_symbolic_batch_and_says_so(tmp_path, capsys):
    """MindSpore drops a symbolic batch of 1 too (a rank that changes with the input); the
    ONNX keeps one rank, and the conversion tells the user where the two differ."""
    from coat_export.converters.__main__ import main as cli_main

    net = PooledEmbedding()
    path = export(net, tmp_path / "emb", (1, 5, 4), dynamic_batch=True)
    conv = converters.convert_detailed(path, opset=17, dynamic_batch=True)
    validate(conv.model)
    [note] = conv.notes
    assert "squeezes every axis of size 1 of a (?, 6, 1) input" in note and "axis 0" in note
    for batch in (2, 3):
        x = np.random.RandomState(batch).randn(batch, 5, 4).astype(np.float32)
        assert_close(ort_forward(conv.model, x), ms_forward(net, x), what=f"batch {batch}")
    x = np.random.RandomState(1).randn(1, 5, 4).astype(np.float32)
    [ref] = ms_forward(net, x)
    [out] = ort_forward(conv.model, x)
    assert ref.shape == (6,) and out.shape == (1, 6)   # the difference the note describes
    assert_close([out[0]], [ref], what="batch 1")
    assert cli_main([path, str(tmp_path / "emb.onnx"), "--dynamic_batch"]) == 0
    assert f"note: {note}" in capsys.readouterr().out
    # a static batch has nothing symbolic to keep: no note
    static = export(net, tmp_path / "emb_static", (2, 5, 4))
    assert converters.convert_detailed(static, opset=17).notes == ()


class LargeActivations(nn.Cell):
    def construct(self, x):
        return (ops.mish(x), ops.softplus(x), ops.silu(x))


def test_mish_softplus_silu_of_large_inputs_are_the_exact_values(tmp_path):
    """Against float64 math, over inputs up to float32's range: Mish and Softplus of a large x
    are x (MindSpore 2.10's CPU Mish returns NaN from x = 44.36, where exp(2x) overflows; the
    ONNX computes the function, and matches MindSpore below that)."""
    x = np.concatenate([np.linspace(-100, 100, 401), [44.37, 88.8, 1e4, 1e30, 3e38]])
    x = x.astype(np.float32).reshape(1, -1)
    net = LargeActivations()
    path = export(net, tmp_path / "act", x.shape)
    model = converters.convert_to_model(path, opset=17)
    mish, softplus, silu = ort_forward(model, x)
    v = x.astype(np.float64)
    sp = np.logaddexp(0.0, v)                          # log(1 + e^x) without overflow
    for got, want, what in ((mish, v * np.tanh(sp), "mish"), (softplus, sp, "softplus"),
                            (silu, v / (1 + np.exp(-v)), "silu")):
        assert np.isfinite(got).all(), what
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=what)
    small = x < 44
    ref = ms_forward(net, x)
    assert_close([mish[small], softplus[small], silu[small]],
                 [r[small] for r in ref], what="MindSpore below 44")
