"""Element-wise math beyond the basic arithmetic: floor division and modulo, the *Scalar
comparison forms, logic, trigonometry, parametric and shrinking activations, normalisation by
the L2 / Lp norm."""
import numpy as np

from .. import batch as B
from ..errors import ConversionError
from .elementwise import _operand
from .registry import op


def _common(ctx, *positions):
    return np.result_type(*[np.dtype(ctx.in_dtype(i)) for i in positions])


# ----------------------------------------------------------------------------- division

def _floor_div(ctx, a, b, dtype):
    if np.issubdtype(dtype, np.floating):
        return ctx.make("Floor", [ctx.make("Div", [a, b])])
    # ONNX integer Div truncates toward zero; Mod with fmod=0 has the divisor's sign (Python's
    # %), so (a - a mod b) / b is exact floor division
    return ctx.make("Div", [ctx.make("Sub", [a, ctx.make("Mod", [a, b], fmod=0)]), b])


def _floor_mod(ctx, a, b, dtype):
    if np.issubdtype(dtype, np.floating):
        # a - b * floor(a / b): the result has the divisor's sign, as in MindSpore and Python
        return ctx.make("Sub", [a, ctx.make("Mul", [b, ctx.make("Floor", [ctx.make("Div",
                                                                                   [a, b])])])])
    return ctx.make("Mod", [a, b], fmod=0)


@op("FloorDiv", "FloorDivScalar", batch=B.ELEMENTWISE)
def floor_div(ctx):
    dtype = np.dtype(ctx.out_dtype())
    ctx.set_output(_floor_div(ctx, _operand(ctx, 0, dtype), _operand(ctx, 1, dtype), dtype))


@op("FloorMod", "RemainderTensorScalar", "RemainderTensorTensor", "RemainderScalarTensor",
    batch=B.ELEMENTWISE)
def floor_mod(ctx):
    dtype = np.dtype(ctx.out_dtype())
    ctx.set_output(_floor_mod(ctx, _operand(ctx, 0, dtype), _operand(ctx, 1, dtype), dtype))


def _truncate(ctx, x, dtype=None):
    """Round toward zero (floats)."""
    neg = ctx.make("Less", [x, ctx.scalar_like(0, dtype)])
    return ctx.make("Where", [neg, ctx.make("Ceil", [x]), ctx.make("Floor", [x])])


@op("TruncateDiv", batch=B.ELEMENTWISE)
def truncate_div(ctx):
    dtype = np.dtype(ctx.out_dtype())
    q = ctx.make("Div", [_operand(ctx, 0, dtype), _operand(ctx, 1, dtype)])
    # ONNX integer Div already truncates toward zero
    ctx.set_output(_truncate(ctx, q, dtype) if np.issubdtype(dtype, np.floating) else q)


@op("TruncateMod", batch=B.ELEMENTWISE)
def truncate_mod(ctx):
    # C's fmod: the result has the dividend's sign
    dtype = np.dtype(ctx.out_dtype())
    ctx.set_output(ctx.make("Mod", [_operand(ctx, 0, dtype), _operand(ctx, 1, dtype)], fmod=1))


@op("Trunc", batch=B.ELEMENTWISE)
def trunc(ctx):
    x = ctx.tensor(0)
    if not np.issubdtype(np.dtype(ctx.in_dtype(0)), np.floating):
        ctx.set_output(ctx.make("Identity", [x]))
        return
    ctx.set_output(_truncate(ctx, x))


# ----------------------------------------------------------------------------- comparisons

# the scalar forms MindSpore 2.10 has (x > s and x <= s use Greater / LessEqual)
_SCALAR_COMPARE = {"LessScalar": "Less", "EqScalar": "Equal", "GreaterEqualScalar": "GreaterOrEqual"}


@op(*_SCALAR_COMPARE, batch=B.ELEMENTWISE)
def compare_scalar(ctx):
    """tensor OP python-scalar: the scalar takes the tensor's type, as MindSpore compares."""
    dtype = np.dtype(ctx.in_dtype(0))
    other = ctx.const(1)
    if not np.issubdtype(dtype, np.floating) and float(other) != int(other):
        dtype = np.dtype(np.float32)  # int tensor < 0.5: compare in floating point
    a, b = _operand(ctx, 0, dtype), _operand(ctx, 1, dtype)
    ctx.set_output(ctx.make(_SCALAR_COMPARE[ctx.node.op_type], [a, b]))


_LOGIC = {"LogicalAnd": "And", "LogicalOr": "Or", "LogicalXor": "Xor"}


@op(*_LOGIC, batch=B.ELEMENTWISE)
def logical(ctx):
    a, b = _operand(ctx, 0, np.bool_), _operand(ctx, 1, np.bool_)
    ctx.set_output(ctx.make(_LOGIC[ctx.node.op_type], [a, b]))


@op("IsNan", batch=B.ELEMENTWISE)
def is_nan(ctx):
    ctx.set_output(ctx.make("IsNaN", [ctx.tensor(0)]))


@op("IsInf", batch=B.ELEMENTWISE)
def is_inf(ctx):
    ctx.set_output(ctx.make("IsInf", [ctx.tensor(0)]))


_BITWISE = {"BitwiseAnd": "BitwiseAnd", "BitwiseOr": "BitwiseOr", "BitwiseXor": "BitwiseXor"}


_LOGICAL = {"BitwiseAnd": "And", "BitwiseOr": "Or", "BitwiseXor": "Xor"}


_CHUNK = 16   # bits summed per reduction: OpenVINO's CPU ReduceSum on integers is exact to 2^24


def _bit_tables(n_bits: int, signed: bool):
    """Per bit position, laid out (chunk, bit in chunk): the divisor of the chunk's value
    whose floored quotient holds the bit as its lowest bit, the modulus and divisor that
    extract it, and its weight in the chunk. No constant exceeds 2^16, so a runtime that
    computes int64 in int32 (OpenVINO's CPU plugin) still gets every bit of values that fit.
    The sign bit of a signed type weighs -2^(size-1) in the top chunk; it is taken from the
    quotient by 2^(size-2), mod 4, div 2."""
    size = min(_CHUNK, n_bits)
    power = np.array([[1 << k for k in range(size)]] * (n_bits // size), np.int64)
    mod = np.full(power.shape, 2, np.int64)
    div = np.ones(power.shape, np.int64)
    weight = power.copy()
    if signed:
        power[-1, -1], mod[-1, -1], div[-1, -1] = 1 << (size - 2), 4, 2
        weight[-1, -1] = -(1 << (size - 1))
    return power, mod, div, weight


def _bits(ctx, x, n_chunks: int, tables):
    """The two's-complement bits of int64 `x` on two new last axes (chunk, bit). Chunk j's
    value is floor(x / 2^(16 j)) by repeated floor division by 2^16, bit k of it
    floor(value / 2^k) mod 2: arithmetic shifts, exact for negatives too."""
    power, mod, div = tables
    chunk = ctx.unsqueeze(x, [-1])
    chunks = [chunk]
    for _ in range(1, n_chunks):
        chunk = _floor_div(ctx, chunk, ctx.initializer(np.array(1 << _CHUNK, np.int64)),
                           np.dtype(np.int64))
        chunks.append(chunk)
    value = chunks[0] if n_chunks == 1 else ctx.make("Concat", chunks, axis=-1)
    q = _floor_div(ctx, ctx.unsqueeze(value, [-1]), power, np.dtype(np.int64))
    return ctx.make("Div", [ctx.make("Mod", [q, mod], fmod=0), div])


def _bitwise_arithmetic(ctx, dtype):
    """Integer bitwise before opset 18, from the bits of each operand in int64 arithmetic
    (Div, Mod, Mul: every runtime has int64 kernels for them), recomposed by a weighted sum per
    16-bit chunk and the chunks by multiples of 2^16. Uses n_bits times the operands' memory: meant for
    the masks and flags networks compute, not for bulk data."""
    n_bits = dtype.itemsize * 8
    # unsigned types below 64 bits are non-negative in int64; uint64 wraps through int64
    signed = np.issubdtype(dtype, np.signedinteger) or dtype == np.uint64
    n_chunks = n_bits // min(_CHUNK, n_bits)
    power, mod, div, weight = (ctx.initializer(t, "bit_table")
                               for t in _bit_tables(n_bits, signed))
    a, b = (_bits(ctx, ctx.cast(_operand(ctx, i, dtype), np.int64), n_chunks,
                  (power, mod, div)) for i in (0, 1))
    both = ctx.make("Mul", [a, b])
    kind = ctx.node.op_type
    if kind == "BitwiseAnd":
        bits = both
    elif kind == "BitwiseOr":
        bits = ctx.make("Sub", [ctx.make("Add", [a, b]), both])
    else:
        bits = ctx.make("Abs", [ctx.make("Sub", [a, b])])
    chunks = ctx.reduce("ReduceSum", ctx.make("Mul", [bits, weight]), [-1], False)
    # Horner over the chunks, top first, by 2^16 only: a runtime that narrows int64
    # constants to int32 saturates 2^32 and beyond, while integer Mul and Add wrap
    scale = ctx.initializer(np.array(1 << _CHUNK, np.int64))
    value = None
    for j in reversed(range(n_chunks)):
        part = ctx.make("Gather", [chunks, ctx.initializer(np.array(j, np.int64))], axis=-1)
        value = part if value is None else ctx.make("Add", [ctx.make("Mul", [value, scale]),
                                                           part])
    return value if dtype == np.int64 else ctx.cast(value, dtype)


@op(*_BITWISE, batch=B.ELEMENTWISE)
def bitwise_logical(ctx):
    """On booleans (attention masks: MASTER's decoder) bitwise is logical: ONNX And/Or/Xor, at
    any opset. ONNX's bitwise operators on integers come with opset 18; before it they are
    computed bit by bit (_bitwise_arithmetic)."""
    dtype = np.dtype(ctx.out_dtype())
    if dtype == np.bool_:
        ctx.set_output(ctx.make(_LOGICAL[ctx.node.op_type], [_operand(ctx, 0, dtype),
                                                            _operand(ctx, 1, dtype)]))
    elif np.issubdtype(dtype, np.integer):
        ctx.set_output(_bitwise_arithmetic(ctx, dtype))
    else:
        raise ConversionError(f"{ctx.where()}: bitwise operation on {dtype}")


@op(*_BITWISE, since=18, batch=B.ELEMENTWISE)
def bitwise(ctx):
    dtype = np.dtype(ctx.out_dtype())
    if dtype == np.bool_:
        bitwise_logical(ctx)
        return
    if not np.issubdtype(dtype, np.integer):
        raise ConversionError(f"{ctx.where()}: bitwise operation on {dtype}")
    ctx.set_output(ctx.make(_BITWISE[ctx.node.op_type], [_operand(ctx, 0, dtype),
                                                        _operand(ctx, 1, dtype)]))


# ----------------------------------------------------------------------------- unary math

_UNARY = {"Tan": "Tan", "Atan": "Atan", "Asin": "Asin", "ACos": "Acos",
          "Sinh": "Sinh", "Cosh": "Cosh", "Asinh": "Asinh", "Acosh": "Acosh", "Atanh": "Atanh",
          "Softsign": "Softsign"}


@op(*_UNARY, batch=B.ELEMENTWISE)
def unary(ctx):
    ctx.set_output(ctx.make(_UNARY[ctx.node.op_type], [ctx.tensor(0)]))


@op("Expm1", batch=B.ELEMENTWISE)
def expm1(ctx):
    ctx.set_output(ctx.make("Sub", [ctx.make("Exp", [ctx.tensor(0)]), ctx.scalar_like(1)]))


@op("Log1p", batch=B.ELEMENTWISE)
def log1p(ctx):
    ctx.set_output(ctx.make("Log", [ctx.make("Add", [ctx.tensor(0), ctx.scalar_like(1)])]))


@op("Lerp", batch=B.ELEMENTWISE)
def lerp(ctx):
    """start + weight * (end - start)."""
    dtype = np.dtype(ctx.out_dtype())
    start, end, weight = (_operand(ctx, i, dtype) for i in range(3))
    ctx.set_output(ctx.make("Add", [start, ctx.make("Mul", [weight, ctx.make("Sub",
                                                                            [end, start])])]))


# ----------------------------------------------------------------------------- activations

@op("SeLU", batch=B.ELEMENTWISE)
def selu(ctx):
    # MindSpore's constants are ONNX's defaults (alpha 1.67326..., gamma 1.05070...)
    ctx.set_output(ctx.make("Selu", [ctx.tensor(0)]))


@op("CeLU", batch=B.ELEMENTWISE)
def celu(ctx):
    ctx.set_output(ctx.make("Celu", [ctx.tensor(0)], alpha=float(ctx.const(1, "alpha", 1.0))))


@op("HShrink", batch=B.ELEMENTWISE)
def hard_shrink(ctx):
    ctx.set_output(ctx.make("Shrink", [ctx.tensor(0)], lambd=float(ctx.const(1, "lambd", 0.5)),
                            bias=0.0))


@op("SoftShrink", batch=B.ELEMENTWISE)
def soft_shrink(ctx):
    lambd = float(ctx.const(1, "lambd", 0.5))
    ctx.set_output(ctx.make("Shrink", [ctx.tensor(0)], lambd=lambd, bias=lambd))


def _prelu_channel_axis(node, rank):
    return 1 if rank >= 2 else 0


@op("PReLU", batch=B.channel_op(_prelu_channel_axis))
def prelu(ctx):
    """Slope per channel (axis 1) or one shared slope; ONNX broadcasts from the right, so a
    (C,) weight becomes (C, 1, ...)."""
    rank = ctx.in_rank(0)
    w_shape = ctx.in_shape(1)
    if ctx.is_const(1):
        w = np.asarray(ctx.const(1)).astype(ctx.out_dtype())
        if w.size > 1 and rank > 2:
            w = w.reshape([-1] + [1] * (rank - 2))
        slope = ctx.initializer(w.reshape(-1) if w.size == 1 else w)
    else:
        slope = ctx.tensor(1)
        if w_shape and w_shape[0] != 1 and rank > 2:
            slope = ctx.make("Reshape", [slope, ctx.initializer(
                np.array([-1] + [1] * (rank - 2), np.int64))])
    ctx.set_output(ctx.make("PRelu", [ctx.tensor(0), slope]))


# ----------------------------------------------------------------------------- norms

def _axes_arg(ctx, pos, name, default):
    axis = ctx.const(pos, name, default=default)
    if isinstance(axis, (int, np.integer)):
        return [int(axis)]
    return [int(a) for a in np.asarray(axis).reshape(-1)]


@op("L2Normalize", batch=B.along(1, "axis", 0))
def l2_normalize(ctx):
    """x / sqrt(max(sum(x^2, axis), epsilon)), MindSpore's definition."""
    x = ctx.tensor(0)
    rank = ctx.in_rank(0)
    axes = sorted({a % rank for a in _axes_arg(ctx, 1, "axis", 0)})
    eps = float(ctx.const(2, "epsilon", 1e-4))
    sq = ctx.reduce("ReduceSum", ctx.make("Mul", [x, x]), axes, True)
    denom = ctx.make("Sqrt", [ctx.make("Max", [sq, ctx.scalar_like(eps)])])
    ctx.set_output(ctx.make("Div", [x, denom]))


@op("LpNorm", batch=B.reduce(1, "axis", 3, "keep_dims"))
def lp_norm(ctx):
    """(sum |x|^p over axes)^(1/p); p = 1 is ReduceSum(|x|), p = 2 ReduceL2.

    Not ReduceL1: OpenVINO (2026.4) ignores ReduceL1's axes attribute (opsets 13-17) and
    reduces every axis; ReduceSum has taken its axes as an input since opset 13."""
    x = ctx.tensor(0)
    rank = ctx.in_rank(0)
    axes = sorted({a % rank for a in _axes_arg(ctx, 1, "axis", ())}) or list(range(rank))
    p = int(ctx.const(2, "p", 2))
    keep = bool(ctx.const(3, "keep_dims", False))
    eps = float(ctx.const(4, "epsilon", 1e-12))
    if p == 1:
        y = ctx.reduce("ReduceSum", ctx.make("Abs", [x]), axes, keep)
    elif p == 2:
        y = ctx.reduce("ReduceL2", x, axes, keep)
    else:
        if p <= 0:
            raise ConversionError(f"{ctx.where()}: p = {p}")
        s = ctx.reduce("ReduceSum", ctx.make("Pow", [ctx.make("Abs", [x]), ctx.scalar_like(p)]),
                       axes, keep)
        y = ctx.make("Pow", [s, ctx.scalar_like(1.0 / p)])
    # MindSpore clamps the norm from below by epsilon
    ctx.set_output(ctx.make("Max", [y, ctx.scalar_like(eps)]) if eps > 0 else y)
