"""BatchNorm (inference), LayerNorm (native from opset 17, decomposed before), GroupNorm."""
import numpy as np

from .. import batch as B
from ..errors import ConversionError
from .registry import op


@op("BatchNorm", "BatchNormExt", batch=B.PER_SAMPLE)
def batch_norm(ctx):
    if ctx.node.op_type == "BatchNorm":
        training = ctx.const(5, "is_training", default=False)
        eps = ctx.const(6, "epsilon", default=1e-5)
        fmt = ctx.const(8, "data_format", default=0)
        if fmt not in (0, "NCHW"):
            raise ConversionError(f"{ctx.where()}: only NCHW BatchNorm is supported")
    else:
        training = ctx.const(5, default=False)
        eps = ctx.const(7, default=1e-5)
    if training:
        raise ConversionError(f"{ctx.where()}: BatchNorm in training mode (call "
                              "net.set_train(False) before export)")
    y = ctx.make("BatchNormalization", [ctx.tensor(i) for i in range(5)], epsilon=float(eps))
    ctx.set_output(y)


def _layer_norm_decomposed(ctx, x, scale, bias, axis, eps):
    rank = ctx.in_rank(0)
    axes = list(range(axis % rank, rank))
    dt = ctx.out_dtype()
    mean = ctx.reduce("ReduceMean", x, axes, True)
    centered = ctx.make("Sub", [x, mean])
    var = ctx.reduce("ReduceMean", ctx.make("Mul", [centered, centered]), axes, True)
    std = ctx.make("Sqrt", [ctx.make("Add", [var, ctx.scalar_like(eps, dt)])])
    y = ctx.make("Div", [centered, std])
    if scale:
        y = ctx.make("Mul", [y, scale])
    if bias:
        y = ctx.make("Add", [y, bias])
    return y


def _layer_norm_args(ctx):
    rank = ctx.in_rank(0)
    if ctx.node.op_type == "LayerNorm":
        axis = int(ctx.const(3, "begin_norm_axis", default=1))
        params_axis = int(ctx.const(4, "begin_params_axis", default=1))
        eps = float(ctx.const(5, "epsilon", default=1e-7))
        if params_axis % rank != axis % rank:
            raise ConversionError(f"{ctx.where()}: begin_params_axis {params_axis} != "
                                  f"begin_norm_axis {axis}")
        scale, bias = ctx.tensor(1), ctx.tensor(2)
    else:  # LayerNormExt(input, normalized_shape, weight, bias, eps)
        normalized = ctx.const(1)
        normalized = [normalized] if isinstance(normalized, int) else list(normalized)
        axis = rank - len(normalized)
        eps = float(ctx.const(4, default=1e-5))
        scale = ctx.tensor(2) if ctx.arg(2, default=None) is not None else ""
        bias = ctx.tensor(3) if ctx.arg(3, default=None) is not None else ""
    return axis, eps, scale, bias


@op("LayerNorm", batch=B.normalize_from(lambda node, rank: int(B.arg(node, 3, "begin_norm_axis", 1))))
@op("LayerNormExt", batch=B.normalize_from(
    lambda node, rank: rank - len(B.ints(B.arg(node, 1, None)))))
def layer_norm_13(ctx):
    axis, eps, scale, bias = _layer_norm_args(ctx)
    ctx.set_output(_layer_norm_decomposed(ctx, ctx.tensor(0), scale, bias, axis, eps))


@op("LayerNorm", "LayerNormExt", since=17)
def layer_norm(ctx):
    axis, eps, scale, bias = _layer_norm_args(ctx)
    if not scale:
        shape = ctx.in_shape(0)[axis:]
        if any(d is None for d in shape):
            raise ConversionError(f"{ctx.where()}: symbolic normalized shape")
        scale = ctx.initializer(np.ones(shape, ctx.out_dtype()))
    inputs = [ctx.tensor(0), scale] + ([bias] if bias else [])
    ctx.set_output(ctx.make("LayerNormalization", inputs, axis=axis, epsilon=eps))


@op("GroupNorm", batch=B.PER_SAMPLE)
def group_norm(ctx):
    """(x - mean_g) / sqrt(var_g + eps) * gamma + beta, statistics per (sample, group)."""
    groups = int(ctx.const(1))
    eps = float(ctx.const(4, default=1e-5))
    shape = ctx.in_shape(0)
    dt = ctx.out_dtype()
    x = ctx.tensor(0)
    grouped = ctx.make("Reshape", [x, ctx.initializer(np.array([0, groups, -1], np.int64))])
    normed = _layer_norm_decomposed_plain(ctx, grouped, eps, dt)
    back = ctx.make("Reshape", [normed, ctx.make("Shape", [x])])
    rank = len(shape)
    per_channel = [-1] + [1] * (rank - 2)
    for pos, op_type in ((2, "Mul"), (3, "Add")):
        if ctx.arg(pos, default=None) is None:
            continue
        if ctx.is_const(pos):
            p = ctx.initializer(np.asarray(ctx.const(pos)).reshape(per_channel))
        else:
            p = ctx.make("Reshape", [ctx.tensor(pos),
                                     ctx.initializer(np.array(per_channel, np.int64))])
        back = ctx.make(op_type, [back, p])
    ctx.set_output(back)


def _layer_norm_decomposed_plain(ctx, x, eps, dt):
    mean = ctx.reduce("ReduceMean", x, [2], True)
    centered = ctx.make("Sub", [x, mean])
    var = ctx.reduce("ReduceMean", ctx.make("Mul", [centered, centered]), [2], True)
    return ctx.make("Div", [centered, ctx.make("Sqrt", [ctx.make("Add", [var, ctx.scalar_like(
        eps, dt)])])])


@op("LRN", batch=B.PER_SAMPLE)
def lrn(ctx):
    """MindSpore: x / (bias + alpha * sum of squares over 2r+1 channels)^beta; ONNX divides
    alpha by the window size, so it is scaled back up here."""
    r = int(ctx.const(1, "depth_radius", 5))
    bias = float(ctx.const(2, "bias", 1.0))
    alpha = float(ctx.const(3, "alpha", 1.0))
    beta = float(ctx.const(4, "beta", 0.5))
    if str(ctx.const(5, "norm_region", "ACROSS_CHANNELS")) != "ACROSS_CHANNELS":
        raise ConversionError(f"{ctx.where()}: only ACROSS_CHANNELS")
    size = 2 * r + 1
    ctx.set_output(ctx.make("LRN", [ctx.tensor(0)], size=size, alpha=alpha * size, beta=beta,
                            bias=bias))
