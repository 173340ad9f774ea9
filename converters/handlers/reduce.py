"""Reductions (keep_dims, negative axes, all-axes), Softmax / LogSoftmax, ArgMax."""
import numpy as np

from .. import batch as B
from ..errors import ConversionError
from .registry import op

_REDUCE = {"ReduceMean": "ReduceMean", "ReduceSum": "ReduceSum", "ReduceMax": "ReduceMax",
           "ReduceMin": "ReduceMin", "ReduceProd": "ReduceProd", "MeanExt": "ReduceMean",
           "SumExt": "ReduceSum", "ProdExt": "ReduceProd", "ReduceAll": None}


def _axes(ctx, pos, name):
    axis = ctx.const(pos, name, default=())
    if axis is None:
        return []
    if isinstance(axis, (int, np.integer)):
        return [int(axis)]
    return [int(a) for a in np.asarray(axis).reshape(-1)]


def _reduce(ctx, axes_as_input):
    op_type = _REDUCE[ctx.node.op_type]
    if ctx.node.op_type in ("MeanExt", "SumExt", "ProdExt"):
        axes, keep = _axes(ctx, 1, "dim"), bool(ctx.const(2, default=False))
        if ctx.const(3, default=None) is not None:
            raise ConversionError(f"{ctx.where()}: dtype argument is not supported")
    else:
        axes, keep = _axes(ctx, 1, "axis"), bool(ctx.const(2, "keep_dims", default=False))
    x = ctx.tensor(0)
    if not axes:
        y = ctx.make(op_type, [x], keepdims=int(keep))
    elif axes_as_input or op_type == "ReduceSum":
        y = ctx.make(op_type, [x, ctx.initializer(np.array(axes, np.int64))], keepdims=int(keep))
    else:
        y = ctx.make(op_type, [x], axes=axes, keepdims=int(keep))
    ctx.set_output(y)


@op("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd",
    batch=B.reduce(1, "axis", 2, "keep_dims"))
@op("MeanExt", "SumExt", "ProdExt", batch=B.reduce(1, "dim", 2, None))
def reduce_13(ctx):
    _reduce(ctx, axes_as_input=False)


@op("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "MeanExt", "SumExt",
    "ProdExt", since=18)
def reduce_18(ctx):
    _reduce(ctx, axes_as_input=True)


def _single_axis(ctx, pos, name, default):
    axis = ctx.const(pos, name, default=default)
    if isinstance(axis, (tuple, list)):
        if len(axis) != 1:
            raise ConversionError(f"{ctx.where()}: softmax over several axes {axis}")
        axis = axis[0]
    return int(axis)


@op("Softmax", "SoftmaxExt", batch=B.along(1, "axis", -1))
def softmax(ctx):
    ctx.set_output(ctx.make("Softmax", [ctx.tensor(0)], axis=_single_axis(ctx, 1, "axis", -1)))


@op("LogSoftmax", "LogSoftmaxExt", batch=B.along(1, "axis", -1))
def log_softmax(ctx):
    axis = _single_axis(ctx, 1, "axis", -1)
    ctx.set_output(ctx.make("LogSoftmax", [ctx.tensor(0)], axis=axis))


def _arg(ctx, onnx_op, axis, keep, out_dtype):
    idx = ctx.make(onnx_op, [ctx.tensor(0)], axis=axis, keepdims=int(keep))
    return idx if np.dtype(out_dtype) == np.int64 else ctx.cast(idx, out_dtype)


@op("Argmax", "Argmin", batch=B.reduce(1, "axis", None, None, default=-1))
@op("ArgMaxExt", batch=B.reduce(1, None, 2, None, default=None))
def argmax(ctx):
    onnx_op = "ArgMin" if ctx.node.op_type == "Argmin" else "ArgMax"
    if ctx.node.op_type == "ArgMaxExt":
        axis, keep = ctx.const(1, default=None), bool(ctx.const(2, default=False))
        if axis is None:
            raise ConversionError(f"{ctx.where()}: argmax over the flattened tensor")
    else:
        axis, keep = ctx.const(1, "axis", default=-1), False
    ctx.set_output(_arg(ctx, onnx_op, int(axis), keep, ctx.out_dtype()))


@op("ArgMaxWithValue", "ArgMinWithValue", "MaxDim", "MinDim",
    batch=B.reduce(1, "axis", 2, "keep_dims", default=0))
def arg_with_value(ctx):
    """(index, value) for ArgMaxWithValue; (value, index) for MaxDim."""
    is_max = "Max" in ctx.node.op_type
    axis = int(ctx.const(1, "axis", default=0))
    keep = bool(ctx.const(2, "keep_dims", default=False))
    value = ctx.reduce("ReduceMax" if is_max else "ReduceMin", ctx.tensor(0), [axis], keep)
    index_pos = 0 if ctx.node.op_type.startswith("Arg") else 1
    index = _arg(ctx, "ArgMax" if is_max else "ArgMin", axis, keep, ctx.out_dtype(index_pos))
    ctx.set_output(index, index_pos)
    ctx.set_output(value, 1 - index_pos)
