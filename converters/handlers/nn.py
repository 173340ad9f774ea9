"""Convolution and bias: Conv2D (pad / same / valid, stride, dilation, groups), Conv2DExt, BiasAdd."""
import numpy as np

from .. import batch as B
from ..errors import ConversionError
from .registry import op

_PAD_MODES = {0: "pad", 1: "same", 2: "valid"}  # MindSpore PadMode enum


def pair(v, n=2):
    """MindSpore spatial arguments come as int, (h, w) or NCHW 4-tuples."""
    if isinstance(v, (int, np.integer)):
        return [int(v)] * n
    v = [int(x) for x in v]
    if len(v) == n:
        return v
    if len(v) == n + 2:
        return v[2:]
    if len(v) == 1:
        return v * n
    raise ConversionError(f"cannot read {v} as {n} spatial values")


def pad_mode_of(value) -> str:
    if isinstance(value, (int, np.integer)):
        return _PAD_MODES[int(value)]
    return str(value).lower()


def same_pads(in_size, kernel, stride, dilation):
    """TF/MindSpore 'same': output ceil(in/stride), the odd extra pad at the end. At stride 1
    the pads do not depend on the size ((k-1)*d in all); None where they do and it is
    symbolic."""
    pads_begin, pads_end = [], []
    for i, k, s, d in zip(in_size, kernel, stride, dilation):
        if s == 1:
            total = (k - 1) * d
        elif i is None:
            return None
        else:
            out = -(-i // s)
            total = max((out - 1) * s + (k - 1) * d + 1 - i, 0)
        pads_begin.append(total // 2)
        pads_end.append(total - total // 2)
    return pads_begin + pads_end


def same_conv_padding(in_size, kernel, stride, dilation):
    """Conv/pool attributes for 'same': explicit pads where they are known (a static size, or
    stride 1), else ONNX's auto_pad SAME_UPPER, which computes the same pads at run time
    (output ceil(in/stride), the odd extra pad at the end). MindSpore records unknown spatial
    dimensions after e.g. Pad or MaxPool in a MINDIR exported with only the batch symbolic."""
    pads = same_pads(in_size if in_size is not None else [None] * len(kernel), kernel, stride,
                     dilation)
    if pads is not None:
        return {"pads": pads}
    if any(d != 1 for d in dilation):
        raise ConversionError(f"'same' padding with stride {list(stride)} and dilation "
                              f"{list(dilation)} on a symbolic spatial size: ONNX Runtime "
                              "computes no such pads (auto_pad with dilation); export with "
                              "static spatial sizes")
    return {"auto_pad": "SAME_UPPER"}


@op("Conv2D", batch=B.PER_SAMPLE)
def conv2d(ctx):
    if str(ctx.node.attrs.get("format", "NCHW")) not in ("NCHW", "0"):
        raise ConversionError(f"{ctx.where()}: only NCHW convolutions are supported")
    w_shape = ctx.in_shape(1)
    kernel = pair(ctx.node.attrs.get("kernel_size", w_shape[2:]))
    stride = pair(ctx.node.attrs.get("stride", 1))
    dilation = pair(ctx.node.attrs.get("dilation", 1))
    group = int(ctx.node.attrs.get("group", ctx.node.attrs.get("groups", 1)))
    mode = pad_mode_of(ctx.node.attrs.get("pad_mode", "valid"))
    if mode == "pad":
        top, bottom, left, right = [int(p) for p in ctx.node.attrs.get("pad", (0, 0, 0, 0))]
        padding = {"pads": [top, left, bottom, right]}
    elif mode == "same":
        padding = same_conv_padding(_spatial(ctx), kernel, stride, dilation)
    else:
        padding = {"pads": [0, 0, 0, 0]}
    ctx.set_output(ctx.make("Conv", [ctx.tensor(0), ctx.tensor(1)], kernel_shape=kernel,
                            strides=stride, dilations=dilation, group=group, **padding))


def _spatial(ctx):
    shape = ctx.in_shape(0)
    return None if shape is None else shape[2:]


def _conv_ext(ctx, padding):
    w_shape = ctx.in_shape(1)
    spatial = len(w_shape) - 2
    stride = pair(ctx.const(3, default=1), spatial)
    dilation = pair(ctx.const(5, default=1), spatial)
    groups = int(ctx.const(6, default=1))
    if isinstance(padding, str) or ctx.node.op_type == "Conv2DPadding":
        mode = padding if isinstance(padding, str) else pad_mode_of(padding)
        padding = same_conv_padding(_spatial(ctx), w_shape[2:], stride, dilation) \
            if mode == "same" else {"pads": [0] * (2 * spatial)}
    else:
        p = pair(padding, spatial)
        padding = {"pads": p + p}
    inputs = [ctx.tensor(0), ctx.tensor(1)]
    if ctx.arg(2, default=None) is not None:
        inputs.append(ctx.tensor(2))
    ctx.set_output(ctx.make("Conv", inputs, kernel_shape=list(w_shape[2:]), strides=stride,
                            dilations=dilation, group=groups, **padding))


@op("Conv2DExt", "Conv2DPadding", "Conv1DExt", "Conv1DPadding", batch=B.PER_SAMPLE)
def conv_ext(ctx):
    _conv_ext(ctx, ctx.const(4, default=0))


@op("BiasAdd", batch=B.channel_op(lambda node, rank: rank - 1 if rank <= 2 or B.arg(
    node, 2, "data_format", 0) in (1, "NHWC") else 1))
def bias_add(ctx):
    fmt = ctx.const(2, "data_format", default=0)
    rank = ctx.in_rank(0)
    channels_last = fmt in (1, "NHWC")
    if channels_last or rank <= 2:
        b = ctx.tensor(1)
    elif ctx.is_const(1):
        bias = np.asarray(ctx.const(1))
        b = ctx.initializer(bias.reshape([-1] + [1] * (rank - 2)))
    else:
        b = ctx.make("Reshape", [ctx.tensor(1),
                                 ctx.initializer(np.array([-1] + [1] * (rank - 2), np.int64))])
    ctx.set_output(ctx.make("Add", [ctx.tensor(0), b]))


def _pad_list(ctx, spatial):
    """MindSpore's inferred `pad_list`: (begin, end) per spatial axis -> ONNX begins + ends."""
    pl = ctx.node.attrs.get("pad_list")
    if pl is None or len(pl) != 2 * spatial:
        return None
    pl = [int(p) for p in pl]
    return pl[0::2] + pl[1::2]


@op("Conv2DTranspose", "Conv2DBackpropInput", batch=B.PER_SAMPLE)
def conv2d_transpose(ctx):
    """(dout, weight, input_size): the gradient of a Conv2D, i.e. ONNX ConvTranspose. The pads
    come from MindSpore's own pad_list; output_padding makes up the rest of the output size."""
    if str(ctx.node.attrs.get("format", "NCHW")) not in ("NCHW", "0"):
        raise ConversionError(f"{ctx.where()}: only NCHW convolutions are supported")
    w_shape = ctx.in_shape(1)
    kernel = list(w_shape[2:])
    stride = pair(ctx.node.attrs.get("stride", 1))
    dilation = pair(ctx.node.attrs.get("dilation", 1))
    group = int(ctx.node.attrs.get("group", ctx.node.attrs.get("groups", 1)))
    pads = _pad_list(ctx, 2)
    if pads is None:
        raise ConversionError(f"{ctx.where()}: no pad_list recorded")
    out = ctx.out_shape()
    in_hw = ctx.in_shape(0)[2:]
    if out is None or any(d is None for d in list(out[2:]) + list(in_hw)):
        raise ConversionError(f"{ctx.where()}: needs static spatial sizes")
    out_pad = []
    for i in range(2):
        natural = stride[i] * (in_hw[i] - 1) + (kernel[i] - 1) * dilation[i] + 1 \
            - pads[i] - pads[i + 2]
        extra = int(out[2 + i]) - natural
        if extra < 0 or extra >= max(stride[i], dilation[i]):
            raise ConversionError(f"{ctx.where()}: output size {out[2 + i]} not reachable")
        out_pad.append(extra)
    attrs = dict(kernel_shape=kernel, strides=stride, dilations=dilation, group=group, pads=pads)
    if any(out_pad):
        attrs["output_padding"] = out_pad
    ctx.set_output(ctx.make("ConvTranspose", [ctx.tensor(0), ctx.tensor(1)], **attrs))


@op("Conv3D", batch=B.PER_SAMPLE)
def conv3d(ctx):
    w_shape = ctx.in_shape(1)
    kernel = list(w_shape[2:])
    stride = pair(ctx.node.attrs.get("stride", ctx.node.attrs.get("strides", 1)), 3)
    dilation = pair(ctx.node.attrs.get("dilation", ctx.node.attrs.get("dilations", 1)), 3)
    group = int(ctx.node.attrs.get("group", ctx.node.attrs.get("groups", 1)))
    pads = _pad_list(ctx, 3)
    if pads is None:
        mode = pad_mode_of(ctx.node.attrs.get("pad_mode", "valid"))
        if mode != "valid":
            raise ConversionError(f"{ctx.where()}: no pad_list recorded")
        pads = [0] * 6
    ctx.set_output(ctx.make("Conv", [ctx.tensor(0), ctx.tensor(1)], kernel_shape=kernel,
                            strides=stride, dilations=dilation, group=group, pads=pads))
