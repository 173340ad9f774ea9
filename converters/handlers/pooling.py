"""Pooling: MaxPool / AvgPool (same, valid, pad), AvgPool2D, global and adaptive pooling (uneven
windows too), 3-D pooling."""
import numpy as np

from .. import batch as B
from ..errors import ConversionError
from .nn import pad_mode_of, pair, same_conv_padding
from .registry import op


def _window(ctx, kernel, strides, mode, pads=None):
    """The padding attributes: 'same' as explicit pads, or ONNX's auto_pad SAME_UPPER (the
    same pads, computed at run time) where a spatial size is symbolic."""
    if mode == "same":
        shape = ctx.in_shape(0)
        return same_conv_padding(None if shape is None else shape[2:], kernel, strides, [1, 1])
    if mode == "valid":
        return {"pads": [0, 0, 0, 0]}
    return {"pads": pads}


@op("MaxPool", batch=B.PER_SAMPLE)
def max_pool(ctx):
    kernel = pair(ctx.const(1, "kernel_size"))
    strides = pair(ctx.const(2, "strides"))
    mode = pad_mode_of(ctx.const(3, "pad_mode", default="valid"))
    fmt = ctx.const(4, "format", default="NCHW")
    if fmt not in ("NCHW", 0):
        raise ConversionError(f"{ctx.where()}: only NCHW pooling is supported")
    padding = _window(ctx, kernel, strides, mode, [0, 0, 0, 0])
    ctx.set_output(ctx.make("MaxPool", [ctx.tensor(0)], kernel_shape=kernel, strides=strides,
                            **padding))


@op("AvgPool", batch=B.PER_SAMPLE)
def avg_pool(ctx):
    kernel = pair(ctx.const(1, "kernel_size"))
    strides = pair(ctx.const(2, "strides"))
    mode = pad_mode_of(ctx.const(3, "pad_mode", default="valid"))
    fmt = ctx.const(4, "data_format", default=0)
    if fmt not in ("NCHW", 0):
        raise ConversionError(f"{ctx.where()}: only NCHW pooling is supported")
    padding = _window(ctx, kernel, strides, mode, [0, 0, 0, 0])
    # MindSpore averages 'same' windows over the valid elements only
    ctx.set_output(ctx.make("AveragePool", [ctx.tensor(0)], kernel_shape=kernel,
                            strides=strides, count_include_pad=0, **padding))


@op("AvgPool2D", batch=B.PER_SAMPLE)
def avg_pool2d(ctx):
    """torch-style: (input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor)."""
    kernel = pair(ctx.const(1))
    stride = ctx.const(2, default=None)
    strides = pair(stride) if stride not in (None, ()) else kernel
    p = pair(ctx.const(3, default=0))
    ceil_mode = int(bool(ctx.const(4, default=False)))
    include = int(bool(ctx.const(5, default=True)))
    if ctx.const(6, default=None) is not None:
        raise ConversionError(f"{ctx.where()}: divisor_override is not supported")
    ctx.set_output(ctx.make("AveragePool", [ctx.tensor(0)], kernel_shape=kernel, strides=strides,
                            pads=p + p, ceil_mode=ceil_mode, count_include_pad=include))


@op("MaxPool2D", batch=B.PER_SAMPLE)
def max_pool2d(ctx):
    kernel = pair(ctx.const(1))
    stride = ctx.const(2, default=None)
    strides = pair(stride) if stride not in (None, ()) else kernel
    p = pair(ctx.const(3, default=0))
    dilation = pair(ctx.const(4, default=1))
    ceil_mode = int(bool(ctx.const(5, default=False)))
    ctx.set_output(ctx.make("MaxPool", [ctx.tensor(0)], kernel_shape=kernel, strides=strides,
                            pads=p + p, dilations=dilation, ceil_mode=ceil_mode))


def _adaptive(ctx, onnx_avg, onnx_global, output_size):
    in_hw = ctx.in_shape(0)[2:]
    out = pair(output_size) if output_size is not None else [None, None]
    out = [i if o is None else o for o, i in zip(out, in_hw)]
    if out == [1, 1]:
        ctx.set_output(ctx.make(onnx_global, [ctx.tensor(0)]))
        return
    if any(i is None for i in in_hw):
        raise ConversionError(f"{ctx.where()}: adaptive pooling of a symbolic spatial size")
    if all(i % o == 0 for i, o in zip(in_hw, out)):
        kernel = [i // o for i, o in zip(in_hw, out)]
        ctx.set_output(ctx.make(onnx_avg, [ctx.tensor(0)], kernel_shape=kernel, strides=kernel))
        return
    # uneven windows (start floor(k*in/out), end ceil((k+1)*in/out)): windows are products of
    # a row range and a column range, so reduce rows, then columns, one window at a time
    reduce_op = "ReduceMean" if onnx_avg == "AveragePool" else "ReduceMax"
    y = ctx.tensor(0)
    for axis, (size, n) in enumerate(zip(in_hw, out), start=2):
        if size == n:
            continue
        if n > 64:
            raise ConversionError(f"{ctx.where()}: adaptive pooling to {n} uneven windows")
        parts = []
        for k in range(n):
            start, end = (k * size) // n, -(-((k + 1) * size) // n)
            window = ctx.make("Slice", [y, ctx.ints((start,)), ctx.ints((end,)),
                                        ctx.ints((axis,))])
            parts.append(ctx.reduce(reduce_op, window, [axis], True))
        y = ctx.make("Concat", parts, axis=axis)
    ctx.set_output(y)


@op("AdaptiveAvgPool2D", "AdaptiveAvgPool2DExt", batch=B.PER_SAMPLE)
def adaptive_avg_pool(ctx):
    _adaptive(ctx, "AveragePool", "GlobalAveragePool", ctx.const(1, "output_size"))


@op("AdaptiveMaxPool2D", batch=B.PER_SAMPLE)
def adaptive_max_pool(ctx):
    _adaptive(ctx, "MaxPool", "GlobalMaxPool", ctx.const(1, "output_size"))


def _pool_pads(ctx, spatial):
    pl = ctx.const(None, "pad_list", default=None)
    if pl is not None and len(pl) == 2 * spatial:
        pl = [int(p) for p in pl]
        return pl[0::2] + pl[1::2]
    return [0] * (2 * spatial)


@op("AvgPool3D", batch=B.PER_SAMPLE)
def avg_pool3d(ctx):
    """3-D average pooling (MindSpore also lowers avg_pool1d / lp_pool through it)."""
    kernel = pair(ctx.const(None, "kernel_size"), 3)
    strides = pair(ctx.const(None, "strides"), 3)
    if int(ctx.const(None, "divisor_override", default=0) or 0):
        raise ConversionError(f"{ctx.where()}: divisor_override is not supported")
    ctx.set_output(ctx.make(
        "AveragePool", [ctx.tensor(0)], kernel_shape=kernel, strides=strides,
        pads=_pool_pads(ctx, 3), ceil_mode=int(bool(ctx.const(None, "ceil_mode", default=False))),
        count_include_pad=int(bool(ctx.const(None, "count_include_pad", default=True)))))


@op("MaxPool3D", batch=B.PER_SAMPLE)
def max_pool3d(ctx):
    kernel = pair(ctx.const(None, "kernel_size"), 3)
    strides = pair(ctx.const(None, "strides"), 3)
    ctx.set_output(ctx.make(
        "MaxPool", [ctx.tensor(0)], kernel_shape=kernel, strides=strides,
        pads=_pool_pads(ctx, 3), ceil_mode=int(bool(ctx.const(None, "ceil_mode", default=0)))))


@op("MaxPoolWithArgmaxV2", batch=B.PER_SAMPLE)
def max_pool_with_argmax(ctx):
    """Max pooling with ceil_mode / dilation (F.max_pool2d); the argmax output is not
    converted (MindSpore's flat indices differ from ONNX's), so a graph using it is refused."""
    kernel = pair(ctx.const(None, "kernel_size"))
    strides = pair(ctx.const(None, "strides"))
    p = pair(ctx.const(None, "pads", default=0))
    dilation = pair(ctx.const(None, "dilation", default=1))
    ceil_mode = int(bool(ctx.const(None, "ceil_mode", default=False)))
    ctx.set_output(ctx.make("MaxPool", [ctx.tensor(0)], kernel_shape=kernel, strides=strides,
                            pads=p + p, dilations=dilation, ceil_mode=ceil_mode))


@op("AdaptiveAvgPool3D", batch=B.PER_SAMPLE)
def adaptive_avg_pool3d(ctx):
    out = [int(o) for o in np.asarray(ctx.const(1, "output_size")).reshape(-1)]
    if out not in ([1], [1, 1, 1]):
        raise ConversionError(f"{ctx.where()}: adaptive 3-D pooling to {out} (only global)")
    ctx.set_output(ctx.make("GlobalAveragePool", [ctx.tensor(0)]))
