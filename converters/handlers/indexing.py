"""Cumulative ops, top-k and sorting, one-hot, masking, scatters and gathers by index, statistics
(std, any/all), and constant generators (LinSpace, Eye)."""
import numpy as np

from .. import batch as B
from ..errors import ConversionError
from ..mindir_proto import TYPE_IDS
from .elementwise import _operand
from .registry import op


@op("CumSum", batch=B.along(1, "axis", 0))
def cumsum(ctx):
    axis = int(ctx.const(1, "axis"))
    exclusive = int(bool(ctx.const(2, "exclusive", False)))
    reverse = int(bool(ctx.const(3, "reverse", False)))
    ctx.set_output(ctx.make("CumSum", [ctx.tensor(0), ctx.initializer(np.array(axis, np.int64))],
                            exclusive=exclusive, reverse=reverse))


def _topk(ctx, x, k, axis, largest, sorted_):
    values, indices = ctx.make("TopK", [x, ctx.initializer(np.array([k], np.int64))], 2,
                               axis=axis, largest=int(largest), sorted=int(sorted_))
    idx_dtype = ctx.out_dtype(1) if len(ctx.node.outputs) > 1 else np.int64
    if np.dtype(idx_dtype) != np.int64:
        indices = ctx.cast(indices, idx_dtype)
    ctx.set_output(values, 0)
    if len(ctx.node.outputs) > 1:
        ctx.set_output(indices, 1)


@op("TopK", batch=B.along(None, None, -1))
def topk(ctx):
    """Largest k along the last axis (MindSpore's TopK has no axis argument)."""
    k = int(ctx.const(1, "k"))
    # sorted=False leaves the order unspecified in both frameworks; sorted is a valid order
    _topk(ctx, ctx.tensor(0), k, -1, True, True)


@op("Sort", batch=B.along(1, "axis", -1))
def sort(ctx):
    """A full-length TopK (ties may be ordered differently from MindSpore's sort)."""
    axis = int(ctx.const(1, "axis", -1))
    descending = bool(ctx.const(2, "descending", False))
    n = ctx.in_shape(0)[axis]
    if n is None:
        raise ConversionError(f"{ctx.where()}: sorting a symbolic dimension")
    _topk(ctx, ctx.tensor(0), int(n), axis, descending, True)


def _one_hot_rule(node, st):
    x = node.inputs[0]
    b = st.of(x)
    rank = x.rank + 1
    axis = int(B.arg(node, 4, "axis", -1)) % rank
    B.set_outputs(node, st, b + 1 if axis <= b else b)


@op("OneHot", batch=_one_hot_rule)
def one_hot(ctx):
    depth = int(ctx.const(1, "depth"))
    dtype = ctx.out_dtype()
    on, off = ctx.const(2), ctx.const(3)
    values = ctx.initializer(np.array([np.asarray(off).reshape(-1)[0],
                                       np.asarray(on).reshape(-1)[0]], dtype))
    axis = int(ctx.const(4, "axis", -1))
    ctx.set_output(ctx.make("OneHot", [ctx.tensor(0), ctx.initializer(np.array(depth, np.int64)),
                                       values], axis=axis))


@op("MaskedFill", batch=B.ELEMENTWISE)
def masked_fill(ctx):
    dtype = ctx.out_dtype()
    ctx.set_output(ctx.make("Where", [_operand(ctx, 1, np.bool_), _operand(ctx, 2, dtype),
                                      _operand(ctx, 0, dtype)]))


@op("ReduceStd", batch=B.reduce(1, "axis", 3, "keep_dims"))
def reduce_std(ctx):
    """(std, mean) over `axis`; `unbiased` divides by n - 1."""
    x = ctx.tensor(0)
    shape = ctx.in_shape(0)
    rank = len(shape)
    axis = ctx.const(1, "axis", ())
    axes = sorted({int(a) % rank for a in np.asarray(axis).reshape(-1)}) or list(range(rank))
    unbiased = bool(ctx.const(2, "unbiased", True))
    keep = bool(ctx.const(3, "keep_dims", False))
    n = 1
    for a in axes:
        if shape[a] is None:
            raise ConversionError(f"{ctx.where()}: std over a symbolic dimension")
        n *= shape[a]
    mean = ctx.reduce("ReduceMean", x, axes, True)
    d = ctx.make("Sub", [x, mean])
    var = ctx.reduce("ReduceMean", ctx.make("Mul", [d, d]), axes, keep)
    if unbiased and n > 1:
        var = ctx.make("Mul", [var, ctx.scalar_like(n / (n - 1))])
    ctx.set_output(ctx.make("Sqrt", [var]), 0)
    if len(ctx.node.outputs) > 1:
        ctx.set_output(mean if keep else ctx.reduce("ReduceMean", x, axes, False), 1)


@op("ReduceAny", "ReduceAll", batch=B.reduce(1, "axis", 2, "keep_dims"))
def reduce_any_all(ctx):
    rank = ctx.in_rank(0)
    axis = ctx.const(1, "axis", ())
    axes = sorted({int(a) % rank for a in np.asarray(axis).reshape(-1)})
    keep = bool(ctx.const(2, "keep_dims", False))
    as_int = ctx.cast(ctx.tensor(0), np.int32)
    red = ctx.reduce("ReduceMax" if ctx.node.op_type == "ReduceAny" else "ReduceMin", as_int,
                     axes or None, keep)
    ctx.set_output(ctx.cast(red, np.bool_))


@op("TensorScatterElements",
    batch=B.refuse("scatters by run-time index; the analysis cannot prove samples stay apart"))
def tensor_scatter_elements(ctx):
    axis = int(ctx.const(3, "axis", 0))
    reduction = ctx.const(4, "reduction", 0)
    mode = {0: "none", "none": "none", 1: "add", "add": "add"}.get(reduction)
    if mode is None:
        raise ConversionError(f"{ctx.where()}: reduction {reduction!r}")
    idx = ctx.cast(ctx.tensor(1), np.int64)
    attrs = {"axis": axis}
    if mode != "none":
        if ctx.opset < 16:
            raise ConversionError(f"{ctx.where()}: reduction '{mode}' needs opset >= 16")
        attrs["reduction"] = mode
    ctx.set_output(ctx.make("ScatterElements", [ctx.tensor(0), idx, ctx.tensor(2)], **attrs))


@op("ScatterNd",
    batch=B.refuse("scatters by run-time index; the analysis cannot prove samples stay apart"))
def scatter_nd(ctx):
    shape = [int(d) for d in np.asarray(ctx.const(2, "shape")).reshape(-1)]
    base = ctx.initializer(np.zeros(shape, ctx.out_dtype()))
    idx = ctx.cast(ctx.tensor(0), np.int64)
    ctx.set_output(ctx.make("ScatterND", [base, idx, ctx.tensor(1)]))


_SCATTER_REFUSE = B.refuse("scatters by run-time index; the analysis cannot prove samples "
                           "stay apart")


def _tensor_scatter(ctx, reduction=None, negate=False):
    """MindSpore TensorScatter*(x, indices [..., N], updates [..., x.shape[N:]]): ONNX ScatterND,
    whose shapes follow the same rule. ONNX leaves the result of duplicate indices unspecified
    for a plain update (MindSpore does too); the reductions accumulate them."""
    dtype = ctx.out_dtype()
    updates = ctx.tensor(2, dtype)
    if negate:
        updates = ctx.make("Neg", [updates])
    attrs = {"reduction": reduction} if reduction else {}
    ctx.set_output(ctx.make("ScatterND", [ctx.tensor(0, dtype), ctx.cast(ctx.tensor(1), np.int64),
                                          updates], **attrs))


@op("TensorScatterUpdate", batch=_SCATTER_REFUSE)
def tensor_scatter_update(ctx):
    _tensor_scatter(ctx)


# ScatterND's reduction attribute: add/mul from opset 16, max/min from opset 18. Below those the
# primitives have no handler and the unsupported-primitive report names the opset they need.
@op("TensorScatterAdd", since=16, batch=_SCATTER_REFUSE)
def tensor_scatter_add(ctx):
    _tensor_scatter(ctx, "add")


@op("TensorScatterSub", since=16, batch=_SCATTER_REFUSE)
def tensor_scatter_sub(ctx):
    _tensor_scatter(ctx, "add", negate=True)


@op("TensorScatterMul", since=16, batch=_SCATTER_REFUSE)
def tensor_scatter_mul(ctx):
    _tensor_scatter(ctx, "mul")


@op("TensorScatterMax", since=18, batch=_SCATTER_REFUSE)
def tensor_scatter_max(ctx):
    _tensor_scatter(ctx, "max")


@op("TensorScatterMin", since=18, batch=_SCATTER_REFUSE)
def tensor_scatter_min(ctx):
    _tensor_scatter(ctx, "min")


@op("GatherNd",
    batch=B.refuse("gathers by run-time index tuples, which may cross samples"))
def gather_nd(ctx):
    ctx.set_output(ctx.make("GatherND", [ctx.tensor(0), ctx.cast(ctx.tensor(1), np.int64)]))


def _dtype_arg(ctx, pos, name):
    t = ctx.const(pos, name, default=None)
    if isinstance(t, (int, np.integer)) and int(t) in TYPE_IDS:
        return np.dtype(TYPE_IDS[int(t)])
    return np.dtype(ctx.out_dtype())


@op("LinSpace", batch=B.refuse("generates a constant (never batch-dependent)"))
def linspace(ctx):
    start, stop = (float(np.asarray(ctx.const(i)).reshape(-1)[0]) for i in (0, 1))
    num = int(np.asarray(ctx.const(2)).reshape(-1)[0])
    ctx.set_output(ctx.initializer(np.linspace(start, stop, num).astype(ctx.out_dtype())))


@op("Eye", batch=B.refuse("generates a constant (never batch-dependent)"))
def eye(ctx):
    n, m = int(ctx.const(0)), int(ctx.const(1))
    ctx.set_output(ctx.initializer(np.eye(n, m, dtype=_dtype_arg(ctx, 2, "dtype"))))
