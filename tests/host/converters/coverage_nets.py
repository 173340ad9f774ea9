"""Tiny MindSpore networks, one per nn layer / ops function family used by vision and audio
nets: the converter's op-level coverage (tests/host/converters/test_coverage.py and
bench/support_table.py). Generated once from a list of (name, expression, layer) entries;
each class returns a tuple so that one MINDIR can exercise several forms."""
import numpy as np

import mindspore as ms
from mindspore import nn, ops


class Conv2dPad(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.Conv2d(4, 6, 3, pad_mode='pad', padding=(1, 2, 0, 1), has_bias=True)

    def construct(self, x):
        return (self.m(x),)


class Conv2dSameStride(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.Conv2d(4, 6, 4, stride=2, pad_mode='same')

    def construct(self, x):
        return (self.m(x),)


class Conv2dDilatedGroup(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.Conv2d(4, 8, 3, pad_mode='valid', dilation=2, group=2)

    def construct(self, x):
        return (self.m(x),)


class Conv1d(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.Conv1d(4, 3, 3, pad_mode='same', has_bias=True)

    def construct(self, x):
        return (self.m(x[:, :, 0]),)


class Conv3d(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.Conv3d(4, 2, 3, pad_mode='same')

    def construct(self, x):
        return (self.m(x.reshape(x.shape[0], 4, 2, 3, 8)),)


class Conv3dValid(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.Conv3d(4, 2, (1, 2, 3), stride=(1, 1, 2))

    def construct(self, x):
        return (self.m(x.reshape(x.shape[0], 4, 2, 3, 8)),)


class Conv2dTransposeSame(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.Conv2dTranspose(4, 3, 3, stride=2)

    def construct(self, x):
        return (self.m(x),)


class Conv2dTransposePad(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.Conv2dTranspose(4, 3, 3, stride=2, pad_mode='pad', padding=1, has_bias=True)

    def construct(self, x):
        return (self.m(x),)


class Conv2dTransposeValid(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.Conv2dTranspose(4, 2, 2, stride=2, pad_mode='valid')

    def construct(self, x):
        return (self.m(x),)


class Conv1dTranspose(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.Conv1dTranspose(4, 3, 3, stride=2)

    def construct(self, x):
        return (self.m(x[:, :, 0]),)


class NnPadConstant(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.Pad(((0, 0), (0, 0), (1, 2), (2, 1)))

    def construct(self, x):
        return (self.m(x),)


class NnPadReflect(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.Pad(((0, 0), (0, 0), (1, 1), (2, 1)), mode='REFLECT')

    def construct(self, x):
        return (self.m(x),)


class NnPadSymmetric(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.Pad(((0, 0), (0, 0), (1, 2), (2, 1)), mode='SYMMETRIC')

    def construct(self, x):
        return (self.m(x),)


class ZeroPad2d(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.ZeroPad2d((1, 2, 0, 1))

    def construct(self, x):
        return (self.m(x),)


class ReflectionPad2d(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.ReflectionPad2d((1, 2, 0, 1))

    def construct(self, x):
        return (self.m(x),)


class ReplicationPad1d(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.ReplicationPad1d((1, 2))

    def construct(self, x):
        return (self.m(x[:, 0]),)


class OpsPadModes(nn.Cell):
    def construct(self, x):
        return (ops.pad(x, (1, 2, 0, 3)) + 0, ops.pad(x, (1, 2, 2, 1), mode='reflect'), ops.pad(x, (1, 0, 0, 2), mode='replicate'), ops.pad(x, (2, 2), value=1.5),)


class Batchnorm2d(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.BatchNorm2d(4)

    def construct(self, x):
        return (self.m(x),)


class Batchnorm1d(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.BatchNorm1d(4)

    def construct(self, x):
        return (self.m(x[:, :, 0, 0]),)


class Layernorm(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.LayerNorm((8,), begin_norm_axis=-1, begin_params_axis=-1)

    def construct(self, x):
        return (self.m(x),)


class Groupnorm(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.GroupNorm(2, 4)

    def construct(self, x):
        return (self.m(x),)


class Lrn(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.LRN(2, 1.0, 0.5, 0.75)

    def construct(self, x):
        return (self.m(x),)


class L2Normalize(nn.Cell):
    def construct(self, x):
        return (ops.L2Normalize(axis=-1)(x),)


class L2NormalizeAxis1(nn.Cell):
    def construct(self, x):
        return (ops.L2Normalize(axis=1, epsilon=1e-6)(x),)


class NormP2(nn.Cell):
    def construct(self, x):
        return (ops.norm(x, dim=(2, 3), keepdim=True),)


class LpNormGrn(nn.Cell):
    def construct(self, x):
        return (ops.LpNorm(axis=[1, 2], p=2, keep_dims=True)(x),)


class LpNormP1(nn.Cell):
    def construct(self, x):
        return (ops.LpNorm(axis=[3], p=1)(x),)


class ReluFamily(nn.Cell):
    def construct(self, x):
        return (ops.relu(x), ops.relu6(x * 4), ops.sigmoid(x), ops.tanh(x), ops.softplus(x), ops.mish(x), ops.silu(x), ops.elu(x),)


class HardActivations(nn.Cell):
    def construct(self, x):
        return (ops.hardswish(x * 3), ops.hardsigmoid(x * 3), ops.hardtanh(x), ops.leaky_relu(x, 0.2),)


class GeluBoth(nn.Cell):
    def construct(self, x):
        return (ops.gelu(x), ops.gelu(x, approximate='tanh'),)


class SeluCelu(nn.Cell):
    def construct(self, x):
        return (ops.selu(x), ops.celu(x, 0.7),)


class Shrinks(nn.Cell):
    def construct(self, x):
        return (ops.hardshrink(x, 0.3), ops.softshrink(x, 0.4), ops.softsign(x),)


class PreluChannels(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.PReLU(4, 0.1)

    def construct(self, x):
        return (self.m(x),)


class PreluShared(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.PReLU(1, 0.2)

    def construct(self, x):
        return (self.m(x),)


class SoftmaxFamily(nn.Cell):
    def construct(self, x):
        return (ops.softmax(x, -1), ops.log_softmax(x, 1), ops.softmin(x, 2),)


class LogSoftmaxDefaultAxis(nn.Cell):
    def construct(self, x):
        return (ops.LogSoftmax()(x), ops.Softmax()(x),)


class Glu(nn.Cell):
    def construct(self, x):
        return (ops.glu(x, -1),)


class Maxpool2d(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.MaxPool2d(3, 2, pad_mode='same')

    def construct(self, x):
        return (self.m(x),)


class Avgpool2d(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.AvgPool2d(2, 2)

    def construct(self, x):
        return (self.m(x),)


class Maxpool2dCeil(nn.Cell):
    def construct(self, x):
        return (ops.max_pool2d(x, 3, 2, ceil_mode=True),)


class Maxpool1d(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.MaxPool1d(2, 2)

    def construct(self, x):
        return (self.m(x[:, 0]),)


class Avgpool1d(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.AvgPool1d(2, 2)

    def construct(self, x):
        return (self.m(x[:, 0]),)


class Avgpool1dFunc(nn.Cell):
    def construct(self, x):
        return (ops.avg_pool1d(x[:, 0], 2, 2),)


class Avgpool3d(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.AvgPool3d(2, 1)

    def construct(self, x):
        return (self.m(x.reshape(x.shape[0], 4, 2, 3, 8)),)


class Maxpool3d(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.MaxPool3d(2, 1)

    def construct(self, x):
        return (self.m(x.reshape(x.shape[0], 4, 2, 3, 8)),)


class AdaptiveAvgpool2d(nn.Cell):
    def construct(self, x):
        return (ops.adaptive_avg_pool2d(x, (3, 4)), ops.adaptive_avg_pool2d(x, 1),)


class AdaptiveMaxpool2d(nn.Cell):
    def construct(self, x):
        return (ops.adaptive_max_pool2d(x, (3, 4)),)


class AdaptiveAvgpool3dGlobal(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.AdaptiveAvgPool3d(1)

    def construct(self, x):
        return (self.m(x.reshape(x.shape[0], 4, 2, 3, 8)),)


class LpPool2d(nn.Cell):
    def construct(self, x):
        return (ops.lp_pool2d(x, 2, 2, 2),)


class ResizeBilinear(nn.Cell):
    def construct(self, x):
        return (ops.interpolate(x, size=(9, 17), mode='bilinear', align_corners=True), ops.interpolate(x, scale_factor=2.0, mode='bilinear', recompute_scale_factor=True),)


class ResizeNearest(nn.Cell):
    def construct(self, x):
        return (ops.interpolate(x, size=(12, 16), mode='nearest'), ops.interpolate(x, scale_factor=2.0, mode='nearest', recompute_scale_factor=True),)


class UpsampleNn(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.Upsample(size=(9, 13), mode='bilinear', align_corners=False)

    def construct(self, x):
        return (self.m(x),)


class PixelShuffle(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.PixelShuffle(2)

    def construct(self, x):
        return (self.m(x),)


class PixelUnshuffle(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.PixelUnshuffle(2)

    def construct(self, x):
        return (self.m(x),)


class Where(nn.Cell):
    def construct(self, x):
        return (ops.where(x > 0, x, 0.1 * x),)


class MaskedFill(nn.Cell):
    def construct(self, x):
        return (ops.masked_fill(x, x > 0.2, 0.3),)


class Threshold(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.Threshold(0.1, 20.0)

    def construct(self, x):
        return (self.m(x),)


class TrilTriu(nn.Cell):
    def construct(self, x):
        return (ops.tril(x), ops.triu(x, 1),)


class Topk(nn.Cell):
    def construct(self, x):
        return (ops.topk(x, 3)[0], ops.topk(x, 3)[1])


class Sort(nn.Cell):
    def construct(self, x):
        return (ops.sort(x, -1)[0], ops.sort(x, 1, descending=True)[0],)


class ArgmaxArgmin(nn.Cell):
    def construct(self, x):
        return (ops.argmax(x, -1), ops.argmin(x, 1), ops.max(x, 1)[0], ops.min(x, 2)[1],)


class GatherIndexSelect(nn.Cell):
    def construct(self, x):
        return (ops.gather(x, ms.Tensor(np.array([3, 0, 2], np.int32)), 1), ops.index_select(x, 2, ms.Tensor(np.array([0, 2], np.int32))),)


class GatherElements(nn.Cell):
    def construct(self, x):
        return (ops.gather_elements(x, 3, (ops.abs(x) * 3).astype(ms.int32) % 8),)


class Embedding(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.Embedding(10, 4)

    def construct(self, x):
        return (self.m((ops.abs(x[:, 0]) * 3).astype(ms.int32) % 10),)


class OneHot(nn.Cell):
    """Index and value types ONNX Runtime's OneHot kernels do not all take (MindOCR's RARE
    head: int32 indices, float32 values), integer and float16 outputs."""
    def construct(self, x):
        i = ops.argmax(x, -1)
        return (ops.one_hot(i, 8, ms.Tensor(1.0), ms.Tensor(0.0)),
                ops.one_hot(i.astype(ms.int32), 8, ms.Tensor(1.0), ms.Tensor(0.0)),
                ops.one_hot(i.astype(ms.int32), 9, ms.Tensor(3, ms.int32), ms.Tensor(-1, ms.int32),
                            axis=0),
                ops.one_hot(i, 8, ms.Tensor(1.0, ms.float16),
                            ms.Tensor(0.0, ms.float16)))


class Cumsum(nn.Cell):
    def construct(self, x):
        return (ops.cumsum(x, 2), ops.cumsum(x, -1),)


class CumsumExclusiveReverse(nn.Cell):
    def construct(self, x):
        return (ops.CumSum(exclusive=True, reverse=True)(x, 3),)


class ScatterElements(nn.Cell):
    def construct(self, x):
        return (ops.tensor_scatter_elements(x, ops.zeros((2, 4, 6, 1), ms.int32), x[:, :, :, :1] * 2, 3),)


class Reductions(nn.Cell):
    def construct(self, x):
        return (ops.mean(x, (2, 3), keep_dims=True), ops.sum(x, 1), ops.amax(x, -1), ops.amin(x, 2, True), ops.prod(x, -1),)


class StdVar(nn.Cell):
    def construct(self, x):
        return (ops.std(x, -1), ops.var(x, 2),)


class AnyAll(nn.Cell):
    def construct(self, x):
        return (ops.any(x > 0, -1), ops.all(x > -1, 2),)


class Logsumexp(nn.Cell):
    def construct(self, x):
        return (ops.logsumexp(x, -1),)


class CompareTensor(nn.Cell):
    def construct(self, x):
        return (x > x * 0.5, x >= 0.1 * x, x < 0.2, x <= x * x, x == x, x != 0.5,)


class CompareScalar(nn.Cell):
    def construct(self, x):
        return (x < 0.5, x == 0.5, x > 0.25, x >= 0.1, x <= -0.2,)


class Logic(nn.Cell):
    def construct(self, x):
        return (ops.logical_and(x > 0, x < 1), ops.logical_or(x > 0.5, x < -1), ops.logical_not(x > 0), ops.logical_xor(x > 0, x > 0.5),)


class IsnanIsinf(nn.Cell):
    def construct(self, x):
        return (ops.isnan(x / x), ops.isinf(x / ops.relu(x)),)


class IsnanIsinfLog(nn.Cell):
    """NaN (log of negatives), -inf (log 0) and +inf (exp overflow) without a division."""

    def construct(self, x):
        return (ops.isnan(ops.log(x)), ops.isinf(ops.log(ops.relu(x))),
                ops.isinf(ops.exp(x * 100.0)))


class Arith(nn.Cell):
    def construct(self, x):
        return (x + 1.5, x - x * 0.5, x * 2.0, x / (ops.abs(x) + 0.5), ops.pow(ops.abs(x), 1.7), ops.maximum(x, 0.2), ops.minimum(x, 0.3),)


class FloorDivMod(nn.Cell):
    def construct(self, x):
        return (ops.floor_divide(x, 0.7), ops.floor_mod(x, 0.7), x // 0.3, x % 0.3,)


class IntFloorDivMod(nn.Cell):
    def construct(self, x):
        return ((x * 10).astype(ms.int32) // 3, (x * 10).astype(ms.int32) % 3,)


class TruncateDivMod(nn.Cell):
    """Division rounded toward zero, and its remainder (the dividend's sign), float and int."""
    def construct(self, x):
        d = ops.full_like(x, 0.7)
        i = (x * 10).astype(ms.int32)
        k = ops.full_like(i, 3)
        return (ops.truncate_div(x, d), ops.truncate_mod(x, d), ops.truncate_div(i, k),
                ops.truncate_mod(i, k),)


class UnaryMath(nn.Cell):
    def construct(self, x):
        return (ops.exp(x), ops.log(ops.abs(x) + 0.1), ops.sqrt(ops.abs(x)), ops.rsqrt(ops.abs(x) + 0.1), ops.reciprocal(x + 3), ops.neg(x), ops.abs(x), ops.square(x), ops.sign(x),)


class Rounding(nn.Cell):
    def construct(self, x):
        return (ops.floor(x * 3), ops.ceil(x * 3), ops.round(x * 3), ops.trunc(x * 3),)


class Trig(nn.Cell):
    def construct(self, x):
        return (ops.sin(x), ops.cos(x), ops.tan(x), ops.atan(x), ops.asin(ops.tanh(x)), ops.acos(ops.tanh(x)), ops.sinh(x), ops.cosh(x), ops.asinh(x),)


class Expm1Log1p(nn.Cell):
    def construct(self, x):
        return (ops.expm1(x), ops.log1p(ops.abs(x)),)


class Lerp(nn.Cell):
    def construct(self, x):
        return (ops.lerp(x, x * 2, 0.3),)


class Clamp(nn.Cell):
    def construct(self, x):
        return (ops.clamp(x, -0.5, 0.7), ops.clamp(x, x * 0.1, x * 0.5 + 1),)


class Erf(nn.Cell):
    def construct(self, x):
        return (ops.erf(x),)


class Layout(nn.Cell):
    def construct(self, x):
        return (ops.reshape(x, (x.shape[0], -1, 3)), ops.transpose(x, (0, 2, 3, 1)), ops.flatten(x), ops.expand_dims(x, -1), ops.squeeze(x[:, :1], 1), ops.concat((x, x * 2), -1), ops.stack([x, x], 2),)


class SplitChunk(nn.Cell):
    def construct(self, x):
        return (ops.split(x, 2, axis=1)[1], ops.split(x, (2, 6), 3)[0], ops.chunk(x, 2, 1)[1], ops.unstack(x, 2)[1],)


class Slices(nn.Cell):
    def construct(self, x):
        return (x[:, 1:3, ::2], x[..., -1], ops.narrow(x, 3, 1, 3), x[:, :, None, 2],)


class Flip(nn.Cell):
    def construct(self, x):
        return (ops.flip(x, (3,)), ops.flip(x, (1, 2)))


class BroadcastTile(nn.Cell):
    def construct(self, x):
        return (ops.broadcast_to(x[:, :, :1], (-1, 4, 6, 8)), ops.tile(x, (1, 2, 1, 1)),)


class ChannelShuffle(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.ChannelShuffle(2)

    def construct(self, x):
        return (self.m(x),)


class Matmul(nn.Cell):
    def __init__(self):
        super().__init__()
        self.m = nn.Dense(8, 5)

    def construct(self, x):
        return (ops.matmul(x, x.swapaxes(2, 3)), self.m(x),)


class Bmm(nn.Cell):
    def construct(self, x):
        return (ops.bmm(x[:, 0], x[:, 1].swapaxes(1, 2)),)


# (name, family, cell class, input shape)
CASES = [
    ('conv2d_pad', 'conv', Conv2dPad, (2, 4, 6, 8)),
    ('conv2d_same_stride', 'conv', Conv2dSameStride, (2, 4, 6, 8)),
    ('conv2d_dilated_group', 'conv', Conv2dDilatedGroup, (2, 4, 6, 8)),
    ('conv1d', 'conv', Conv1d, (2, 4, 6, 8)),
    ('conv3d', 'conv', Conv3d, (2, 4, 6, 8)),
    ('conv3d_valid', 'conv', Conv3dValid, (2, 4, 6, 8)),
    ('conv2d_transpose_same', 'conv', Conv2dTransposeSame, (2, 4, 6, 8)),
    ('conv2d_transpose_pad', 'conv', Conv2dTransposePad, (2, 4, 6, 8)),
    ('conv2d_transpose_valid', 'conv', Conv2dTransposeValid, (2, 4, 6, 8)),
    ('conv1d_transpose', 'conv', Conv1dTranspose, (2, 4, 6, 8)),
    ('nn_pad_constant', 'pad', NnPadConstant, (2, 4, 6, 8)),
    ('nn_pad_reflect', 'pad', NnPadReflect, (2, 4, 6, 8)),
    ('nn_pad_symmetric', 'pad', NnPadSymmetric, (2, 4, 6, 8)),
    ('zero_pad2d', 'pad', ZeroPad2d, (2, 4, 6, 8)),
    ('reflection_pad2d', 'pad', ReflectionPad2d, (2, 4, 6, 8)),
    ('replication_pad1d', 'pad', ReplicationPad1d, (2, 4, 6, 8)),
    ('ops_pad_modes', 'pad', OpsPadModes, (2, 4, 6, 8)),
    ('batchnorm2d', 'norm', Batchnorm2d, (2, 4, 6, 8)),
    ('batchnorm1d', 'norm', Batchnorm1d, (2, 4, 6, 8)),
    ('layernorm', 'norm', Layernorm, (2, 4, 6, 8)),
    ('groupnorm', 'norm', Groupnorm, (2, 4, 6, 8)),
    ('lrn', 'norm', Lrn, (2, 4, 6, 8)),
    ('l2_normalize', 'norm', L2Normalize, (2, 4, 6, 8)),
    ('l2_normalize_axis1', 'norm', L2NormalizeAxis1, (2, 4, 6, 8)),
    ('norm_p2', 'norm', NormP2, (2, 4, 6, 8)),
    ('lp_norm_grn', 'norm', LpNormGrn, (2, 4, 6, 8)),
    ('lp_norm_p1', 'norm', LpNormP1, (2, 4, 6, 8)),
    ('relu_family', 'activation', ReluFamily, (2, 4, 6, 8)),
    ('hard_activations', 'activation', HardActivations, (2, 4, 6, 8)),
    ('gelu_both', 'activation', GeluBoth, (2, 4, 6, 8)),
    ('selu_celu', 'activation', SeluCelu, (2, 4, 6, 8)),
    ('shrinks', 'activation', Shrinks, (2, 4, 6, 8)),
    ('prelu_channels', 'activation', PreluChannels, (2, 4, 6, 8)),
    ('prelu_shared', 'activation', PreluShared, (2, 4, 6, 8)),
    ('softmax_family', 'activation', SoftmaxFamily, (2, 4, 6, 8)),
    ('log_softmax_default_axis', 'activation', LogSoftmaxDefaultAxis, (2, 4, 6, 8)),
    ('glu', 'activation', Glu, (2, 4, 6, 8)),
    ('maxpool2d', 'pool', Maxpool2d, (2, 4, 6, 8)),
    ('avgpool2d', 'pool', Avgpool2d, (2, 4, 6, 8)),
    ('maxpool2d_ceil', 'pool', Maxpool2dCeil, (2, 4, 6, 8)),
    ('maxpool1d', 'pool', Maxpool1d, (2, 4, 6, 8)),
    ('avgpool1d', 'pool', Avgpool1d, (2, 4, 6, 8)),
    ('avgpool1d_func', 'pool', Avgpool1dFunc, (2, 4, 6, 8)),
    ('avgpool3d', 'pool', Avgpool3d, (2, 4, 6, 8)),
    ('maxpool3d', 'pool', Maxpool3d, (2, 4, 6, 8)),
    ('adaptive_avgpool2d', 'pool', AdaptiveAvgpool2d, (2, 4, 6, 8)),
    ('adaptive_maxpool2d', 'pool', AdaptiveMaxpool2d, (2, 4, 6, 8)),
    ('adaptive_avgpool3d_global', 'pool', AdaptiveAvgpool3dGlobal, (2, 4, 6, 8)),
    ('lp_pool2d', 'pool', LpPool2d, (2, 4, 6, 8)),
    ('resize_bilinear', 'resize', ResizeBilinear, (2, 4, 6, 8)),
    ('resize_nearest', 'resize', ResizeNearest, (2, 4, 6, 8)),
    ('upsample_nn', 'resize', UpsampleNn, (2, 4, 6, 8)),
    ('pixel_shuffle', 'resize', PixelShuffle, (2, 4, 6, 8)),
    ('pixel_unshuffle', 'resize', PixelUnshuffle, (2, 4, 6, 8)),
    ('where', 'mask', Where, (2, 4, 6, 8)),
    ('masked_fill', 'mask', MaskedFill, (2, 4, 6, 8)),
    ('threshold', 'mask', Threshold, (2, 4, 6, 8)),
    ('tril_triu', 'mask', TrilTriu, (2, 4, 6, 8)),
    ('topk', 'sort', Topk, (2, 4, 6, 8)),
    ('sort', 'sort', Sort, (2, 4, 6, 8)),
    ('argmax_argmin', 'sort', ArgmaxArgmin, (2, 4, 6, 8)),
    ('gather_index_select', 'gather', GatherIndexSelect, (2, 4, 6, 8)),
    ('gather_elements', 'gather', GatherElements, (2, 4, 6, 8)),
    ('embedding', 'gather', Embedding, (2, 4, 6, 8)),
    ('one_hot', 'gather', OneHot, (2, 4, 6, 8)),
    ('cumsum', 'cumulative', Cumsum, (2, 4, 6, 8)),
    ('cumsum_exclusive_reverse', 'cumulative', CumsumExclusiveReverse, (2, 4, 6, 8)),
    ('scatter_elements', 'cumulative', ScatterElements, (2, 4, 6, 8)),
    ('reductions', 'reduce', Reductions, (2, 4, 6, 8)),
    ('std_var', 'reduce', StdVar, (2, 4, 6, 8)),
    ('any_all', 'reduce', AnyAll, (2, 4, 6, 8)),
    ('logsumexp', 'reduce', Logsumexp, (2, 4, 6, 8)),
    ('compare_tensor', 'compare', CompareTensor, (2, 4, 6, 8)),
    ('compare_scalar', 'compare', CompareScalar, (2, 4, 6, 8)),
    ('logic', 'compare', Logic, (2, 4, 6, 8)),
    ('isnan_isinf', 'compare', IsnanIsinf, (2, 4, 6, 8)),
    ('isnan_isinf_log', 'compare', IsnanIsinfLog, (2, 4, 6, 8)),
    ('arith', 'math', Arith, (2, 4, 6, 8)),
    ('floor_div_mod', 'math', FloorDivMod, (2, 4, 6, 8)),
    ('int_floor_div_mod', 'math', IntFloorDivMod, (2, 4, 6, 8)),
    ('truncate_div_mod', 'math', TruncateDivMod, (2, 4, 6, 8)),
    ('unary_math', 'math', UnaryMath, (2, 4, 6, 8)),
    ('rounding', 'math', Rounding, (2, 4, 6, 8)),
    ('trig', 'math', Trig, (2, 4, 6, 8)),
    ('expm1_log1p', 'math', Expm1Log1p, (2, 4, 6, 8)),
    ('lerp', 'math', Lerp, (2, 4, 6, 8)),
    ('clamp', 'math', Clamp, (2, 4, 6, 8)),
    ('erf', 'math', Erf, (2, 4, 6, 8)),
    ('layout', 'layout', Layout, (2, 4, 6, 8)),
    ('split_chunk', 'layout', SplitChunk, (2, 4, 6, 8)),
    ('slices', 'layout', Slices, (2, 4, 6, 8)),
    ('flip', 'layout', Flip, (2, 4, 6, 8)),
    ('broadcast_tile', 'layout', BroadcastTile, (2, 4, 6, 8)),
    ('channel_shuffle', 'layout', ChannelShuffle, (2, 4, 6, 8)),
    ('matmul', 'matmul', Matmul, (2, 4, 6, 8)),
    ('bmm', 'matmul', Bmm, (2, 4, 6, 8)),
]


class Bitwise(nn.Cell):
    def construct(self, x):
        i = (x * 10).astype(ms.int32)
        return (ops.bitwise_and(i, 3), ops.bitwise_or(i, 5), ops.bitwise_xor(i, 6))


class BitwiseSignedTypes(nn.Cell):
    """Bitwise on negative and narrow integers: before opset 18 computed bit by bit, the
    sign bit included."""

    def construct(self, x):
        i = (x * 40).astype(ms.int32)                         # negatives and positives
        return (ops.bitwise_and(i, -7), ops.bitwise_or(i.astype(ms.int64), -100),
                ops.bitwise_xor(i.astype(ms.int8), ms.Tensor(-3, ms.int8)),
                ops.bitwise_and(ops.abs(i).astype(ms.uint8), ms.Tensor(0x5A, ms.uint8)),
                ops.bitwise_or(i.astype(ms.int16), i[:, :1].astype(ms.int16) * 3))


class IndexScatterGather(nn.Cell):
    def construct(self, x):
        idx = ms.Tensor(np.array([[0, 1], [1, 2]], np.int32))
        rows = ms.Tensor(np.array([[0], [2]], np.int32))
        return (ops.gather_nd(x, idx), ops.scatter_nd(rows, x[:2, 0], (4, 6, 8)))


class Generators(nn.Cell):
    def construct(self, x):
        return (x + ops.linspace(0.0, 1.0, 8), x + ops.eye(6, 8, ms.float32))


class AcoshAtanh(nn.Cell):
    def construct(self, x):
        return (ops.acosh(ops.abs(x) + 1.5), ops.atanh(ops.tanh(x) * 0.5))


class BitwiseMasks(nn.Cell):
    """MASTER's decoder: a padding mask and a causal (tril) mask joined by bitwise_and on
    booleans -- logical And/Or/Xor at any opset."""

    def construct(self, x):
        pad = x[:, 0] > -0.5                                  # (N, 6, 8) bool
        causal = ops.tril(ops.ones((6, 8), ms.int32)).astype(ms.bool_)
        both = ops.bitwise_and(pad, causal)
        return (ops.masked_fill(x[:, 1], both, 0.0), ops.bitwise_or(pad, causal),
                ops.bitwise_xor(pad, causal), ops.tril(x, -1), ops.triu(x[:, 0], 2))


CASES += [
    ("bitwise", "compare", Bitwise, (2, 4, 6, 8)),
    ("bitwise_masks", "mask", BitwiseMasks, (2, 4, 6, 8)),
    ("bitwise_signed_types", "compare", BitwiseSignedTypes, (2, 4, 6, 8)),
    ("gather_nd_scatter_nd", "gather", IndexScatterGather, (2, 4, 6, 8)),
    ("linspace_eye", "math", Generators, (2, 4, 6, 8)),
    ("acosh_atanh", "math", AcoshAtanh, (2, 4, 6, 8)),
]


class StackHeads(nn.Cell):
    """CrossViT: logits of two heads stacked in front of the batch, then averaged."""

    def construct(self, x):
        a, b = x.mean(-1), x.amax(-1)
        return (ops.stack([a, b], 0).mean(0), ops.stack([a, b], 1), ops.stack([a, b], -1))


CASES += [("stack_in_front_of_batch", "layout", StackHeads, (2, 4, 6, 8))]


class AdaptiveUneven(nn.Cell):
    """Adaptive pooling whose windows overlap and differ in size (6x8 -> 4x3, 6x8 -> 5x5)."""

    def construct(self, x):
        return (ops.adaptive_avg_pool2d(x, (4, 3)), ops.adaptive_max_pool2d(x, (5, 5)),
                ops.adaptive_avg_pool2d(x, (6, 3)))


CASES += [("adaptive_pool_uneven", "pool", AdaptiveUneven, (2, 4, 6, 8))]



def _updates(*shape):
    # constant updates: slicing x for them would make --dynamic_batch refuse the slice first
    return ms.Tensor(np.random.RandomState(1).randn(*shape).astype(np.float32))


class TensorScatterUpdate(nn.Cell):
    """YOLOv5/v7 heads: rows of a tensor replaced in place by index tuples (full and partial)."""

    def construct(self, x):
        rows = ms.Tensor(np.array([[1]], np.int32))
        pairs = ms.Tensor(np.array([[0, 3], [1, 1], [1, 2]], np.int64))
        return (ops.tensor_scatter_update(x, rows, _updates(1, 4, 6, 8)),
                ops.tensor_scatter_update(ops.tanh(x), pairs, _updates(3, 6, 8)))


class TensorScatterAddSubMul(nn.Cell):
    """ScatterND with a reduction (opset 16); the duplicate index accumulates."""

    def construct(self, x):
        idx = ms.Tensor(np.array([[0, 1], [1, 2], [0, 1]], np.int32))
        u = _updates(3, 6, 8)
        return (ops.tensor_scatter_add(x, idx, u), ops.tensor_scatter_sub(x, idx, u),
                ops.tensor_scatter_mul(x, idx, u))


class TensorScatterMaxMin(nn.Cell):
    """ScatterND reduction max/min (opset 18), with a duplicate index."""

    def construct(self, x):
        idx = ms.Tensor(np.array([[0, 1, 2], [1, 2, 0], [0, 1, 2]], np.int32))
        u = _updates(3, 8)
        return (ops.tensor_scatter_max(x, idx, u), ops.tensor_scatter_min(x, idx, u))


class SetItemSlices(nn.Cell):
    """YOLOv5/v7 heads: slice assignment (setitem), which a static export turns into
    TensorScatterUpdate by compile-time index tuples listing a box: one axis in part (the last,
    `y[..., 0:2] = ...`), two in part, and every element."""

    def construct(self, x):
        y = ops.sigmoid(x)
        y[..., 0:2] = y[..., 0:2] * 2.0 - 0.5
        y[..., 5:8] = ops.exp(y[..., 5:8])
        z = ops.tanh(x)
        z[:, 1:3, 2:5] = z[:, 1:3, 2:5] * 3.0
        w = ops.relu(x)
        w[...] = w * 0.5 + 1.0
        return (y, z, w)


class BatchedGatherNd(nn.Cell):
    """YOLOv10's head: `boxes[ops.arange(N)[:, None], index]`, index tuples that start with the
    sample index (GatherNd from a Concat), gathered per sample."""

    def construct(self, x):
        n = x.shape[0]
        scores = x.mean(1).reshape(n, -1)                     # (N, 48)
        index = ops.topk(scores, 5)[1]                        # (N, 5)
        rows = x.transpose(0, 2, 3, 1).reshape(n, -1, 4)      # (N, 48, 4)
        i = ops.arange(n)[..., None]
        return (rows[i, index], rows[i, index // 2] * 2.0)


CASES += [
    ("setitem_slices", "gather", SetItemSlices, (2, 4, 6, 8)),
    ("batched_gather_nd", "gather", BatchedGatherNd, (2, 4, 6, 8)),
    ("tensor_scatter_update", "gather", TensorScatterUpdate, (2, 4, 6, 8)),
    ("tensor_scatter_add_sub_mul", "gather", TensorScatterAddSubMul, (2, 4, 6, 8)),
    ("tensor_scatter_max_min", "gather", TensorScatterMaxMin, (2, 4, 6, 8)),
]


def _grid_samples(x, mode):
    """Every padding mode and align_corners setting; the grid (N, 6, 8, 2) reaches past the
    border (|g| up to 1.3) so that the padding modes differ."""
    grid = ops.tanh(x[:, :2].transpose(0, 2, 3, 1)) * 1.3
    return (ops.grid_sample(x, grid, mode, "zeros", False),
            ops.grid_sample(x, grid, mode, "zeros", True),
            ops.grid_sample(x, grid, mode, "border", False),
            ops.grid_sample(x, grid, mode, "border", True),
            ops.grid_sample(x, grid, mode, "reflection", False),
            ops.grid_sample(x, grid, mode, "reflection", True))


class GridSampleBilinear(nn.Cell):
    """SVTR's spatial transformer: GridSampler2D, bilinear."""

    def construct(self, x):
        return _grid_samples(x, "bilinear")


class GridSampleNearest(nn.Cell):
    def construct(self, x):
        return _grid_samples(x, "nearest")


CASES += [
    ("grid_sample_bilinear", "resize", GridSampleBilinear, (2, 4, 6, 8)),
    ("grid_sample_nearest", "resize", GridSampleNearest, (2, 4, 6, 8)),
]


class _Lstm(nn.Cell):
    """nn.LSTM on (N, T=4, 5) -> hidden 3; time-major nets transpose the batch-first case
    input themselves. With `states`, h0/c0 are computed from x (batch on axis 1)."""

    def __init__(self, batch_first, bidirectional, num_layers, has_bias, states):
        super().__init__()
        self.m = nn.LSTM(5, 3, num_layers=num_layers, has_bias=has_bias,
                         batch_first=batch_first, bidirectional=bidirectional)
        self.batch_first, self.states = batch_first, states
        self.k = num_layers * (2 if bidirectional else 1)

    def construct(self, x):
        x = x[:, :, 0, :5]
        if not self.batch_first:
            x = x.transpose(1, 0, 2)
        if not self.states:
            y, (h, c) = self.m(x)
            return (y, h, c)
        s = ops.tanh(x[:, 0] if self.batch_first else x[0])[:, :3]
        h0 = ops.stack([s * (0.5 + i) for i in range(self.k)], 0)
        y, (h, c) = self.m(x, (h0, ops.sin(h0)))
        return (y, h, c)


class Lstm(_Lstm):
    def __init__(self):
        super().__init__(False, False, 1, True, False)


class LstmBidirectional2Layers(_Lstm):
    """DeepSpeech2/TasNet-like: stacked bidirectional, batch_first, initial states given."""

    def __init__(self):
        super().__init__(True, True, 2, True, True)


class Lstm2LayersNoBias(_Lstm):
    def __init__(self):
        super().__init__(False, False, 2, False, True)


class LstmPrimitiveBidirectional(nn.Cell):
    """ops.LSTM itself, one bidirectional layer: every direction's W_ih, then W_hh, then the
    biases in its flat weight."""

    def __init__(self):
        super().__init__()
        n = 2 * 12 * (5 + 3 + 1)
        w = np.random.RandomState(2).randn(n, 1, 1).astype(np.float32) * 0.5
        self.w = ms.Parameter(ms.Tensor(w), name="w")
        self.lstm = ops.LSTM(5, 3, 1, True, True, 0.0)

    def construct(self, x):
        x = x[:, :, 0, :5].transpose(1, 0, 2)
        h0 = ops.stack([ops.tanh(x[0, :, :3]), ops.tanh(x[1, :, :3])], 0)
        y, h, c, _, _ = self.lstm(x, h0, ops.cos(h0), self.w)
        return (y, h, c)


CASES += [
    ("lstm", "rnn", Lstm, (2, 4, 6, 8)),
    ("lstm_bidirectional_2layers", "rnn", LstmBidirectional2Layers, (2, 4, 6, 8)),
    ("lstm_2layers_no_bias", "rnn", Lstm2LayersNoBias, (2, 4, 6, 8)),
    ("lstm_primitive_bidirectional", "rnn", LstmPrimitiveBidirectional, (2, 4, 6, 8)),
]


class _Recurrent(nn.Cell):
    """nn.GRU / nn.RNN on (N, T=4, 5) -> hidden 3 (MindSpore's CPU backend unrolls them into
    MatMul/Sigmoid/Tanh steps). With `states`, h0 is computed from x."""

    def __init__(self, layer, bidirectional, num_layers, states, **kw):
        super().__init__()
        self.m = layer(5, 3, num_layers=num_layers, batch_first=True,
                       bidirectional=bidirectional, **kw)
        self.states = states
        self.k = num_layers * (2 if bidirectional else 1)

    def construct(self, x):
        x = x[:, :, 0, :5]
        if not self.states:
            y, h = self.m(x)
            return (y, h)
        s = ops.tanh(x[:, 0])[:, :3]
        y, h = self.m(x, ops.stack([s * (0.5 + i) for i in range(self.k)], 0))
        return (y, h)


class Gru(_Recurrent):
    def __init__(self):
        super().__init__(nn.GRU, False, 1, False)


class GruBidirectional2LayersStates(_Recurrent):
    def __init__(self):
        super().__init__(nn.GRU, True, 2, True)


class RnnTanh(_Recurrent):
    def __init__(self):
        super().__init__(nn.RNN, False, 1, True)


class RnnReluBidirectional(_Recurrent):
    def __init__(self):
        super().__init__(nn.RNN, True, 1, False, nonlinearity="relu")


class SequenceWiseDense(nn.Cell):
    """DeepSpeech2's SequenceWise and MindOCR's CTC heads: a Dense over time-major (T, N, C)
    features flattened to (T*N, C) and back, so the batch is an inner factor of T*N."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Dense(8, 5)
        self.norm = nn.LayerNorm((5,))

    def construct(self, x):
        y = x[:, :, 0, :].transpose(1, 0, 2)
        t, n, c = y.shape
        z = ops.relu(self.fc(y.reshape(t * n, c)) * 2.0)
        z = ops.softmax(self.norm(z), -1).reshape(t, n, -1)
        return z.transpose(1, 0, 2)


CASES += [
    ("sequence_wise_dense", "rnn", SequenceWiseDense, (2, 4, 6, 8)),
    ("gru", "rnn", Gru, (2, 4, 6, 8)),
    ("gru_bidirectional_2layers_states", "rnn", GruBidirectional2LayersStates, (2, 4, 6, 8)),
    ("rnn_tanh_states", "rnn", RnnTanh, (2, 4, 6, 8)),
    ("rnn_relu_bidirectional", "rnn", RnnReluBidirectional, (2, 4, 6, 8)),
]


class DepthSpace(nn.Cell):
    """Both block rearrangements and the pixel shuffles, each way."""

    def construct(self, x):
        return (ops.DepthToSpace(2)(x), ops.SpaceToDepth(2)(x), ops.pixel_shuffle(x, 2),
                ops.pixel_unshuffle(x, 2))


class CumulativeForms(nn.Cell):
    """Products and sums, inclusive/exclusive, forward/reverse, with signs and zeros (relu)."""

    def construct(self, x):
        z = ops.relu(x) - ops.relu(-x) * 0.5       # zeros nowhere; relu(x) has them
        r = ops.relu(x)
        return (ops.cumprod(z, 1), ops.CumProd(exclusive=True)(r * 2.0, 3),
                ops.CumProd(reverse=True)(z, 2), ops.CumProd(True, True)(r + z, -1),
                ops.cumprod(ops.cast(x * 2.0, ms.int32), 3),
                ops.CumSum(exclusive=True)(x, 3), ops.CumSum(reverse=True)(x, 1),
                ops.CumSum(True, True)(x, 2))


class SortForms(nn.Cell):
    """sort / argsort / top-k on every axis but the batch one, both directions."""

    def construct(self, x):
        v1, i1 = ops.sort(x, axis=1)
        v2, i2 = ops.sort(x, axis=2, descending=True)
        t1, j1 = ops.topk(x, 2, dim=1)
        t2, j2 = ops.topk(x, 3, dim=2, largest=False)
        return (v1, i1, v2, i2, ops.argsort(x, axis=-1), t1, j1, t2, j2)


class IndexAdd(nn.Cell):
    """index_add with a repeated index (the additions accumulate), on axes 1 and 3. MindSpore
    updates the input in place: each gets a tensor of its own (the values added read x)."""

    def construct(self, x):
        a = ops.index_add(x * 2.0, ms.Tensor([0, 2, 0], ms.int32), x[:, :3] * 0.5, 1)
        b = ops.index_add(x - 1.0, ms.Tensor([7, 1], ms.int32), ops.tanh(x[:, :, :, :2]), 3)
        return (a, b)


class IndexAddSeenInPlace(nn.Cell):
    """Two index_adds on one tensor: MindSpore's second sees the first's update."""

    def construct(self, x):
        y = x + 1.0
        a = ops.index_add(y, ms.Tensor([0, 2], ms.int32), x[:, :2], 1)
        b = ops.index_add(y, ms.Tensor([1], ms.int32), x[:, :1], 1)
        return (a, b)


class MaskedSelect(nn.Cell):
    """The elements where a data-dependent mask holds: a run-time length."""

    def construct(self, x):
        return (ops.masked_select(x, x > 0.3), ops.masked_select(x, x[:, :1] < 0))


class RoiAlign(nn.Cell):
    """ROIAlign with boxes in and beyond the feature map, both end modes, 1 to 3 samples."""

    def construct(self, x):
        rois = ms.Tensor([[0, 0.5, 0.5, 9.0, 7.0], [1, 2.0, 0.0, 15.0, 11.0],
                          [0, -1.0, 3.0, 4.0, 20.0]], ms.float32)
        # (adaptive sampling, sample_num 0, is refused: see test_coverage)
        return (ops.ROIAlign(2, 3, 0.5, 2)(x, rois), ops.ROIAlign(3, 2, 0.5, 3, 0)(x, rois),
                ops.ROIAlign(2, 2, 0.25, 1, 1)(x, rois))


class AffineGridSample(nn.Cell):
    """A spatial transformer: affine grids (both corner conventions) from x, sampled."""

    def construct(self, x):
        theta = ops.tanh(x[:, 0, :2, :3]) * 0.5 + ms.Tensor([[1.0, 0, 0], [0, 1.0, 0]])
        g0 = ops.affine_grid(theta, x.shape, align_corners=False)
        g1 = ops.affine_grid(theta, (x.shape[0], 4, 5, 7), align_corners=True)
        return (g0, g1, ops.grid_sample(x, g0, align_corners=False))


class Trilinear(nn.Cell):
    def construct(self, x):
        v = ops.expand_dims(x, 1)
        return (ops.interpolate(v, size=(5, 7, 9), mode="trilinear"),
                ops.interpolate(v, size=(3, 9, 5), mode="trilinear", align_corners=True))


class Bicubic(nn.Cell):
    def construct(self, x):
        return (ops.interpolate(x, size=(12, 16), mode="bicubic"),
                ops.interpolate(x, size=(4, 5), mode="bicubic"),
                ops.interpolate(x, size=(9, 11), mode="bicubic", align_corners=True))


CASES += [
    ("depth_space_pixel_shuffle", "layout", DepthSpace, (2, 4, 6, 8)),
    ("cumulative_forms", "math", CumulativeForms, (2, 4, 6, 8)),
    ("sort_forms", "gather", SortForms, (2, 4, 6, 8)),
    ("index_add", "gather", IndexAdd, (2, 4, 6, 8)),
    ("masked_select", "gather", MaskedSelect, (2, 4, 6, 8)),
    ("roi_align", "resize", RoiAlign, (2, 4, 6, 8)),
    ("affine_grid_sample", "resize", AffineGridSample, (2, 4, 6, 8)),
    ("trilinear", "resize", Trilinear, (2, 4, 6, 8)),
    ("bicubic", "resize", Bicubic, (2, 4, 6, 8)),
]
