"""Element-wise arithmetic, comparisons, casts and *_like fills (with scalar / Ext / in-place forms)."""
import numpy as np

from .. import batch as B
from ..errors import ConversionError
from ..mindir_proto import TYPE_IDS
from .registry import op

_BINARY = {
    "Add": "Add", "AddV2": "Add", "AddExt": "Add", "InplaceAddExt": "Add", "AddScalar": "Add",
    "InplaceAddsExt": "Add", "Adds": "Add",
    "Sub": "Sub", "SubExt": "Sub", "SubScalar": "Sub", "InplaceSubExt": "Sub", "Subs": "Sub",
    "Mul": "Mul", "Muls": "Mul", "InplaceMul": "Mul", "InplaceMuls": "Mul",
    "Div": "Div", "RealDiv": "Div", "Divs": "Div", "InplaceDiv": "Div", "InplaceDivs": "Div",
    "Pow": "Pow", "PowTensorScalar": "Pow", "PowScalarTensor": "Pow",
    "Maximum": "Max", "Minimum": "Min",
}
_COMPARE = {"Equal": "Equal", "Less": "Less", "Greater": "Greater", "LessEqual": "LessOrEqual",
            "GreaterEqual": "GreaterOrEqual"}
_UNARY = {"Erf": "Erf", "Tanh": "Tanh", "Sigmoid": "Sigmoid", "ReLU": "Relu", "Exp": "Exp",
          "Log": "Log", "Neg": "Neg", "Abs": "Abs", "Sqrt": "Sqrt", "Reciprocal": "Reciprocal",
          "Floor": "Floor", "Ceil": "Ceil", "Sign": "Sign", "Sin": "Sin", "Cos": "Cos",
          "LogicalNot": "Not", "Round": "Round"}


def _operand(ctx, pos, dtype):
    """Input `pos` as a tensor of `dtype` (MindSpore promotes scalars and mixed types)."""
    if ctx.is_const(pos):
        return ctx.tensor_of(np.asarray(ctx.const(pos), dtype=dtype))
    t = ctx.tensor(pos)
    if np.dtype(ctx.in_dtype(pos)) != np.dtype(dtype):
        t = ctx.cast(t, dtype)
    return t


_NARROW_INTS = tuple(np.dtype(t) for t in (np.int8, np.int16, np.uint8, np.uint16))


def arithmetic_dtype(ctx, dtype, onnx_op: str):
    """The type to compute `onnx_op` in: Add/Sub/Mul/Pow take 8- and 16-bit integers from
    opset 14 on; before it they are computed in int32 and cast back, which wraps as
    MindSpore's narrow integers do."""
    if np.dtype(dtype) in _NARROW_INTS and onnx_op in ("Add", "Sub", "Mul", "Pow") and \
            ctx.opset < 14:
        return np.dtype(np.int32)
    return np.dtype(dtype)


@op(*_BINARY, batch=B.ELEMENTWISE)
def binary(ctx):
    onnx_op = _BINARY[ctx.node.op_type]
    out_dtype = ctx.out_dtype()
    dtype = arithmetic_dtype(ctx, out_dtype, onnx_op)
    a, b = _operand(ctx, 0, dtype), _operand(ctx, 1, dtype)
    # AddExt / SubExt: input + alpha * other
    if ctx.node.op_type in ("AddExt", "SubExt", "AddScalar", "SubScalar", "InplaceAddExt",
                            "InplaceSubExt") and len(ctx.node.inputs) > 2:
        alpha = ctx.const(2)
        if alpha != 1:
            b = ctx.make("Mul", [b, ctx.tensor_of(np.asarray(alpha, dtype=dtype))])
    if onnx_op == "Div" and np.issubdtype(np.dtype(dtype), np.integer):
        raise ConversionError(f"{ctx.where()}: integer division is not supported")
    y = ctx.make(onnx_op, [a, b])
    ctx.set_output(y if dtype == np.dtype(out_dtype) else ctx.cast(y, out_dtype))


@op(*_COMPARE, batch=B.ELEMENTWISE)
def compare(ctx):
    dtypes = [np.dtype(ctx.in_dtype(i)) for i in (0, 1)]
    common = np.result_type(*dtypes)
    a, b = _operand(ctx, 0, common), _operand(ctx, 1, common)
    ctx.set_output(ctx.make(_COMPARE[ctx.node.op_type], [a, b]))


@op("NotEqual", batch=B.ELEMENTWISE)
def not_equal(ctx):
    common = np.result_type(np.dtype(ctx.in_dtype(0)), np.dtype(ctx.in_dtype(1)))
    eq = ctx.make("Equal", [_operand(ctx, 0, common), _operand(ctx, 1, common)])
    ctx.set_output(ctx.make("Not", [eq]))


@op(*_UNARY, batch=B.ELEMENTWISE)
def unary(ctx):
    ctx.set_output(ctx.make(_UNARY[ctx.node.op_type], [ctx.tensor(0)]))


@op("Rsqrt", batch=B.ELEMENTWISE)
def rsqrt(ctx):
    ctx.set_output(ctx.make("Reciprocal", [ctx.make("Sqrt", [ctx.tensor(0)])]))


@op("Square", batch=B.ELEMENTWISE)
def square(ctx):
    dtype = np.dtype(ctx.out_dtype())
    work = arithmetic_dtype(ctx, dtype, "Mul")
    x = _operand(ctx, 0, work)
    y = ctx.make("Mul", [x, x])
    ctx.set_output(y if work == dtype else ctx.cast(y, dtype))


@op("Select", batch=B.ELEMENTWISE)
def select(ctx):
    dtype = ctx.out_dtype()
    ctx.set_output(ctx.make("Where", [ctx.tensor(0), _operand(ctx, 1, dtype),
                                      _operand(ctx, 2, dtype)]))


@op("Cast", batch=B.ELEMENTWISE)
def cast(ctx):
    target = ctx.const(1, "dst_type")
    if isinstance(target, int):
        if target not in TYPE_IDS:
            raise ConversionError(f"{ctx.where()}: cast to MindSpore type id {target}")
        dtype = np.dtype(TYPE_IDS[target])
    else:
        dtype = np.dtype(ctx.out_dtype())
    ctx.set_output(ctx.cast(ctx.tensor(0), dtype))


def _fill_like(ctx, value):
    dtype = ctx.out_dtype()
    shape = ctx.make("Shape", [ctx.tensor(0)])
    fill = np.array([value], dtype=dtype)
    ctx.set_output(ctx.make("ConstantOfShape", [shape], value=fill))


@op("ZerosLike", "ZerosLikeExt", batch=B.SAME_AXIS)
def zeros_like(ctx):
    _fill_like(ctx, 0)


@op("OnesLike", "OnesLikeExt", batch=B.SAME_AXIS)
def ones_like(ctx):
    _fill_like(ctx, 1)


_MAX_MATERIALISED = 1 << 20


@op("Zeros", "Ones", "FillV2", "Fill", "FullLike",
    batch=B.refuse("materialises a constant whose shape depends on the batch"))
def fill(ctx):
    """Constant-shaped fills: materialised as initializers when the shape is known."""
    shape = ctx.out_shape()
    if shape is None or any(d is None for d in shape):
        if ctx.node.op_type in ("Zeros", "Ones") and ctx.node.inputs:
            # a symbolic-batch MINDIR: e.g. nn.LSTM's zero initial state (L*D, N, H)
            ctx.set_output(ctx.make("ConstantOfShape", [ctx.ints(ctx.arg(0))], value=np.array(
                [0 if ctx.node.op_type == "Zeros" else 1], dtype=ctx.out_dtype())))
            return
        raise ConversionError(f"{ctx.where()}: fill of a run-time shape")
    if ctx.node.op_type == "Zeros":
        value = 0
    elif ctx.node.op_type == "Ones":
        value = 1
    else:
        raw = ctx.const(1)
        value = np.asarray(raw).reshape(-1)[0]
    if int(np.prod([int(d) for d in shape], dtype=object)) > _MAX_MATERIALISED:
        # a big (or, in a malformed file, absurd) fill stays a node instead of file bytes
        ctx.set_output(ctx.make("ConstantOfShape", [ctx.ints(tuple(shape))],
                                value=np.array([value], dtype=ctx.out_dtype())))
        return
    ctx.set_output(ctx.initializer(np.full(shape, value, dtype=ctx.out_dtype())))


@op("Identity", "StopGradient", "TensorMove", "Contiguous", batch=B.SAME_AXIS)
def identity(ctx):
    ctx.set_output(ctx.tensor(0))


@op("Dropout", "DropoutExt", batch=B.SAME_AXIS)
def dropout(ctx):
    # inference: identity; the mask output (if any) is never used by inference graphs
    ctx.set_output(ctx.tensor(0))
