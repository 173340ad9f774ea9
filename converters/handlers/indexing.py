"""Cumulative ops, top-k and sorting, one-hot, masking, scatters and gathers by index, statistics
(std, any/all), and constant generators (LinSpace, Eye)."""
import numpy as np

from .. import batch as B
from .. import ir
from ..errors import ConversionError
from ..ir_constants import value_of
from ..mindir_proto import TYPE_IDS
from .elementwise import _operand
from .registry import op
from .tensor_ops import INT64_MAX, _reverse, _slice_axis


@op("CumSum", batch=B.along(1, "axis", 0))
def cumsum(ctx):
    axis = int(ctx.const(1, "axis"))
    exclusive = int(bool(ctx.const(2, "exclusive", False)))
    reverse = int(bool(ctx.const(3, "reverse", False)))
    ctx.set_output(ctx.make("CumSum", [ctx.tensor(0), ctx.initializer(np.array(axis, np.int64))],
                            exclusive=exclusive, reverse=reverse))


def _shift_in_ones(ctx, x, axis, rank, n, k):
    """x moved k places along `axis` (length n), ones shifted in at the front."""
    kept = _slice_axis(ctx, x, axis, 0, n - k)
    pads = np.zeros(2 * rank, np.int64)
    pads[axis] = k
    return ctx.make("Pad", [kept, ctx.initializer(pads), ctx.scalar_like(1)], mode="constant")


@op("CumProd", batch=B.along(1, "axis", 0))
def cumprod(ctx):
    """Cumulative product, exact in signs, zeros and infinities: ONNX has no CumProd (and a
    Log/CumSum/Exp rewrite loses signs and zeros), so a log-depth prefix scan of Muls
    (Hillis-Steele): ceil(log2 n) steps, each multiplying by the running product shifted 2^k
    places with ones shifted in. Exclusive shifts once first; reverse flips around it."""
    rank = ctx.in_rank(0)
    axis = int(ctx.const(1, "axis")) % rank
    exclusive = bool(ctx.const(2, "exclusive", False))
    reverse = bool(ctx.const(3, "reverse", False))
    n = ctx.in_shape(0)[axis]
    if n is None:
        raise ConversionError(f"{ctx.where()}: a cumulative product along a run-time length")
    y = ctx.tensor(0)
    if reverse:
        y = _reverse(ctx, y, axis)
    if exclusive and n:
        y = _shift_in_ones(ctx, y, axis, rank, n, 1)
    k = 1
    while k < n:
        y = ctx.make("Mul", [y, _shift_in_ones(ctx, y, axis, rank, n, k)])
        k *= 2
    if reverse:
        y = _reverse(ctx, y, axis)
    ctx.set_output(y)


def _index_add_rule(node, st):
    """x and the added values carry the batch on the same axis, which is not the indexed one;
    the indices carry none."""
    x, indices, y = node.inputs[:3]
    axis = int(B.arg(node, None, "axis", 0)) % x.rank
    if st.carries(indices):
        raise B.Refuse(f"{B.where(node)} indexes by a batch tensor")
    if st.of(x) is None or st.of(x) != st.of(y) or st.of(x) == axis:
        raise B.Refuse(f"{B.where(node)} needs the batch on the same axis of the input and "
                       f"the added values, apart from the indexed axis {axis}")
    B.set_outputs(node, st, st.of(x))


def _check_in_place(ctx):
    """MindSpore's IndexAdd writes into its input (a side effect): a functional graph computes
    the same only when every other reader of that input runs before the write -- those this
    node waits for. Another reader (e.g. a second index_add on the same tensor) sees the
    updated tensor in MindSpore, which ONNX cannot express."""
    x, graph = ctx.node.inputs[0], ctx.lowering.ir_graph
    if not isinstance(x, ir.Value):
        return
    ancestors, stack = set(), [v for v in ir.iter_values(ctx.node.inputs[1:])]
    while stack:
        n = stack.pop().producer
        if n is not None and id(n) not in ancestors:
            ancestors.add(id(n))
            stack.extend(ir.iter_values(n.inputs))
    later = [n for n in graph.nodes if n is not ctx.node and id(n) not in ancestors
             and any(v is x for v in ir.iter_values(n.inputs))]
    if later or any(v is x for v in graph.outputs):
        what = f"{later[0].op_type} node '{later[0].name}'" if later else "a graph output"
        raise ConversionError(f"{ctx.where()} updates its input in place (a MindSpore side "
                              f"effect) and {what} reads that input too, seeing the update "
                              "in MindSpore: one functional ONNX graph cannot reproduce it; "
                              "give index_add a tensor nothing else reads")


@op("IndexAdd", batch=_index_add_rule)
def index_add_by_match(ctx):
    """IndexAdd before ScatterElements has reduction='add' (opset 16): the indexed axis moved
    to the front, the rest flattened (any batch), the additions folded in by reduce_matched,
    and moved back."""
    _check_in_place(ctx)
    rank = ctx.in_rank(0)
    axis = int(ctx.const(None, "axis")) % rank
    dtype = np.dtype(ctx.out_dtype())
    perm = [axis] + [j for j in range(rank) if j != axis]
    back = [int(j) for j in np.argsort(perm)]
    x = ctx.make("Transpose", [ctx.tensor(0, dtype)], perm=perm)
    y = ctx.make("Transpose", [ctx.tensor(2, dtype)], perm=perm)
    by_row = ctx.initializer(np.array([0, -1], np.int64))
    positions = ctx.make("Reshape", [ctx.cast(ctx.tensor(1), np.int64),
                                     ctx.initializer(np.array([-1], np.int64))])
    out = reduce_matched(ctx, ctx.make("Reshape", [x, by_row]), positions,
                         ctx.make("Reshape", [y, by_row]), "add", dtype)
    out = ctx.make("Reshape", [out, ctx.make("Shape", [x])])
    ctx.set_output(ctx.make("Transpose", [out], perm=back))


@op("IndexAdd", since=16, batch=_index_add_rule)
def index_add(ctx):
    """x with y added at `indices` along `axis`, repeated indices accumulating: ONNX
    ScatterElements(reduction='add') (opset 16) with the indices broadcast to y's shape.
    Refused where MindSpore's in-place update is visible elsewhere (_check_in_place)."""
    _check_in_place(ctx)
    rank = ctx.in_rank(0)
    axis = int(ctx.const(None, "axis")) % rank
    y = ctx.tensor(2)
    shape = np.ones(rank, np.int64)
    shape[axis] = -1
    idx = ctx.make("Reshape", [ctx.cast(ctx.tensor(1), np.int64), ctx.initializer(shape)])
    idx = ctx.make("Expand", [idx, ctx.make("Shape", [y])])
    ctx.set_output(ctx.make("ScatterElements", [ctx.tensor(0), idx, y], axis=axis,
                            reduction="add"))


def _masked_select_rule(node, st):
    """A data-dependent 1-D result: no batch axis to follow (its length is known only at run
    time, at any batch size). The input and the mask broadcast as element-wise operands do."""
    _, rewrites = B.broadcast_axis(node, st, (0, 1), max(v.rank for v in node.inputs[:2]))
    return rewrites


@op("MaskedSelect", batch=_masked_select_rule)
def masked_select(ctx):
    """The elements of x where mask holds, both broadcast to one shape, flattened in order:
    ONNX Compress along the flattened tensor."""
    x, mask = ctx.tensor(0), ctx.tensor(1)
    if ctx.in_shape(0) != ctx.in_shape(1):
        x = ctx.make("Expand", [x, ctx.make("Shape", [mask])])
        mask = ctx.make("Expand", [mask, ctx.make("Shape", [x])])
    # flattened here, not by Compress: OpenVINO's Compress without an axis needs a static rank
    minus1 = ctx.initializer(np.array([-1], np.int64))
    ctx.set_output(ctx.make("Compress", [ctx.make("Reshape", [x, minus1]),
                                         ctx.make("Reshape", [mask, minus1])], axis=0))


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
    dtype = np.dtype(ctx.out_dtype())
    on, off = ctx.const(2), ctx.const(3)
    # ONNX Runtime has OneHot kernels for few type combinations (RARE's int32 indices with
    # float16 values found one it lacks): int64 indices and depth, float32 or int64 values,
    # then a Cast to the output type
    work = np.dtype(np.float32) if dtype.kind == "f" else np.dtype(np.int64)
    values = ctx.initializer(np.array([np.asarray(off).reshape(-1)[0],
                                       np.asarray(on).reshape(-1)[0]]).astype(work))
    axis = int(ctx.const(4, "axis", -1))
    indices = ctx.tensor(0)
    if np.dtype(ctx.in_dtype(0)) != np.int64:
        indices = ctx.cast(indices, np.int64)
    out = ctx.make("OneHot", [indices, ctx.initializer(np.array(depth, np.int64)), values],
                   axis=axis)
    ctx.set_output(out if dtype == work else ctx.cast(out, dtype))


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


def _index_box(indices, x_shape):
    """(starts, stops) when the index tuples `indices` (d_0, ..., d_{k-1}, k), known at compile
    time, list the box x[s_0:e_0, ..., s_{k-1}:e_{k-1}] in row-major order -- component j an
    arange along axis j -- as MindSpore's setitem `y[..., 0:2] = v` builds them; else None."""
    idx = value_of(indices)
    if idx is None or idx.ndim < 2 or idx.dtype.kind not in "iu":
        return None
    k = idx.shape[-1]
    if idx.ndim != k + 1 or k > len(x_shape) or 0 in idx.shape:
        return None
    starts, stops = [], []
    for j in range(k):
        n, dim = idx.shape[j], x_shape[j]
        start = int(idx[(0,) * k + (j,)])
        along = (start + np.arange(n)).reshape([n if a == j else 1 for a in range(k)])
        if dim is None or start < 0 or start + n > dim or \
                not np.array_equal(idx[..., j], np.broadcast_to(along, idx.shape[:-1])):
            return None
        starts.append(start)
        stops.append(start + n)
    return starts, stops


def _assign_box(ctx, x, updates, box, shape):
    """x with the box x[s_0:e_0, ...] replaced by `updates` (of the box's shape): a Concat of
    x's slices around it where it spans one axis partly, else updates padded out to x's shape
    and selected by a constant mask. Axes the box spans fully are never read, so they may be
    symbolic (a dynamic batch, stop None)."""
    starts, stops = box   # a stop of None: to the end
    partial = [j for j, (s, e) in enumerate(zip(starts, stops))
               if s != 0 or e not in (None, shape[j])]
    if not partial:
        return ctx.make("Identity", [updates])
    if len(partial) == 1:
        (a,) = partial
        parts = ([_slice_axis(ctx, x, a, 0, starts[a])] if starts[a] else []) + [updates] + (
            [_slice_axis(ctx, x, a, stops[a], INT64_MAX)] if stops[a] < shape[a] else [])
        return ctx.make("Concat", parts, axis=a)
    rank = len(shape)
    pads = np.zeros(2 * rank, np.int64)
    mask = np.zeros([shape[j] if j in partial else 1 for j in range(rank)], np.bool_)
    for j in partial:
        pads[j], pads[rank + j] = starts[j], shape[j] - stops[j]
    mask[tuple(slice(starts[j], stops[j]) if j in partial else slice(None)
               for j in range(rank))] = True
    padded = ctx.make("Pad", [updates, ctx.initializer(pads)], mode="constant")
    return ctx.make("Where", [ctx.initializer(mask), padded, x])


def _tensor_scatter_update_rule(node, st):
    """A slice assignment (compile-time index tuples listing a box, _index_box) that spans the
    batch axis fully, the updates carrying the batch where x does: per sample. Any other
    scatter by index may cross samples."""
    x, indices, updates = node.inputs[:3]
    box = _index_box(indices, x.shape) if isinstance(x, ir.Value) and x.shape else None
    if box is None or st.carries(indices):
        raise B.Refuse(f"{B.where(node)} scatters by run-time index; the analysis cannot prove "
                       "samples stay apart")
    b = st.of(x)
    starts, stops = box
    if b is not None and b < len(starts) and (starts[b] != 0 or stops[b] != x.shape[b]):
        raise B.Refuse(f"{B.where(node)} assigns into part of the batch axis")
    if b is None or st.of(updates) != b:
        raise B.Refuse(f"{B.where(node)} needs the batch on the same axis of the tensor and "
                       "the values assigned into it")
    if len(node.inputs) != 3:
        raise B.Refuse(f"{B.where(node)}: {len(node.inputs)} arguments, expected 3")
    B.set_outputs(node, st, b)
    # the box for the handler (a converter-internal fourth argument): the batch axis, symbolic
    # from here on, spans to the end
    return {3: (tuple(starts), tuple(None if j == b else e for j, e in enumerate(stops)))}


@op("TensorScatterUpdate", batch=_tensor_scatter_update_rule)
def tensor_scatter_update(ctx):
    """A slice assignment (MindSpore's setitem) as slices and a Concat, or a mask (_assign_box);
    any other index tuples as ScatterND."""
    shape = ctx.in_shape(0)
    box = ctx.const(3, None, None)  # the batch rule's
    if box is None and shape:
        box = _index_box(ctx.arg(1), shape)
    if box is None:
        _tensor_scatter(ctx)
        return
    dtype = ctx.out_dtype()
    ctx.set_output(_assign_box(ctx, ctx.tensor(0, dtype), ctx.tensor(2, dtype), box, shape))


@op("TensorCopySlices", batch=B.refuse("copies into a slice whose bounds are computed at run "
                                        "time"))
def tensor_copy_slices(ctx):
    """x[begin:end] = value along axis 0 (MindSpore's plain-slice setitem on a dynamic shape,
    bounds clamped at run time): x's rows before and after the slice around the value, one
    Concat. An empty slice (begin == end) is x itself."""
    begin, end, strides = (ctx.arg(k) for k in (2, 3, 4))
    if not all(isinstance(t, (tuple, list)) and len(t) == 1 for t in (begin, end, strides)):
        raise ConversionError(f"{ctx.where()}: copies a slice of more than one axis")
    if isinstance(strides[0], ir.Value) or int(ctx.literal(strides[0])) != 1:
        raise ConversionError(f"{ctx.where()}: copies a slice with a step other than 1")
    dtype = ctx.out_dtype()
    x = ctx.tensor(0, dtype)
    zero, last = (ctx.initializer(np.array([v], np.int64)) for v in (0, INT64_MAX))
    before = ctx.make("Slice", [x, zero, ctx.ints(begin), zero])
    after = ctx.make("Slice", [x, ctx.ints(end), last, zero])
    ctx.set_output(ctx.make("Concat", [before, ctx.tensor(1, dtype), after], axis=0))


def _identity(reduction, dtype):
    """The value a reduction leaves its other operand with: 0, 1, or the type's lowest /
    highest value."""
    if reduction in ("add", "mul"):
        return 0 if reduction == "add" else 1
    if np.issubdtype(dtype, np.floating):
        return -np.inf if reduction == "max" else np.inf
    return np.iinfo(dtype).min if reduction == "max" else np.iinfo(dtype).max


_COMBINE = {"add": ("ReduceSum", "Add"), "mul": ("ReduceProd", "Mul"),
            "max": ("ReduceMax", "Max"), "min": ("ReduceMin", "Min")}


def reduce_matched(ctx, x2, positions, updates2, reduction, dtype):
    """x2 (M, R) with updates2 (K, R) folded into the rows `positions` (K) names, duplicates
    reduced: a one-hot match (M, K) selects each row's updates, the reduction runs over K
    with its identity elsewhere, and x2 takes it in with the same operation. For runtimes
    without ScatterND / ScatterElements reductions (before opset 16 / 18); costs M*K*R."""
    rows = ctx.arange(ctx.dim(x2, 0))
    match = ctx.make("Equal", [ctx.unsqueeze(rows, [1]), ctx.unsqueeze(positions, [0])])
    picked = ctx.make("Where", [ctx.unsqueeze(match, [2]), ctx.unsqueeze(updates2, [0]),
                                ctx.initializer(np.array(_identity(reduction, dtype), dtype))])
    reduce_op, combine = _COMBINE[reduction]
    return ctx.make(combine, [x2, ctx.reduce(reduce_op, picked, [1], False)])


def _tensor_scatter_by_match(ctx, reduction, negate=False):
    """TensorScatter{Add,Sub,Mul,Max,Min} before ScatterND has the reduction: the index
    tuples (..., k) become row positions over x's first k axes (static), and reduce_matched
    folds the updates in."""
    shape = ctx.in_shape(0)
    idx_shape = ctx.in_shape(1)
    if not shape or None in shape or not idx_shape or idx_shape[-1] is None:
        raise ConversionError(f"{ctx.where()}: a scatter with a reduction before opset "
                              f"{16 if reduction in ('add', 'mul') else 18} needs static shapes")
    k = int(idx_shape[-1])
    dtype = np.dtype(ctx.out_dtype())
    strides = np.array([int(np.prod(shape[j + 1:k])) for j in range(k)], np.int64)
    idx = ctx.make("Reshape", [ctx.cast(ctx.tensor(1), np.int64),
                               ctx.initializer(np.array([-1, k], np.int64))])
    positions = ctx.reduce("ReduceSum", ctx.make("Mul", [idx, ctx.initializer(strides)]),
                           [1], False)
    rest = int(np.prod(shape[k:]))
    updates = ctx.make("Reshape", [ctx.tensor(2, dtype), ctx.initializer(
        np.array([-1, rest], np.int64))])
    if negate:
        updates = ctx.make("Neg", [updates])
    x2 = ctx.make("Reshape", [ctx.tensor(0, dtype), ctx.initializer(
        np.array([int(np.prod(shape[:k])), rest], np.int64))])
    y = reduce_matched(ctx, x2, positions, updates, reduction, dtype)
    ctx.set_output(ctx.make("Reshape", [y, ctx.initializer(np.array(shape, np.int64))]))


# ScatterND's reduction attribute: add/mul from opset 16, max/min from opset 18; before those
# the updates are matched to their rows (_tensor_scatter_by_match).
@op("TensorScatterAdd", batch=_SCATTER_REFUSE)
def tensor_scatter_add_by_match(ctx):
    _tensor_scatter_by_match(ctx, "add")


@op("TensorScatterSub", batch=_SCATTER_REFUSE)
def tensor_scatter_sub_by_match(ctx):
    _tensor_scatter_by_match(ctx, "add", negate=True)


@op("TensorScatterMul", batch=_SCATTER_REFUSE)
def tensor_scatter_mul_by_match(ctx):
    _tensor_scatter_by_match(ctx, "mul")


@op("TensorScatterMax", "TensorScatterMin", batch=_SCATTER_REFUSE)
def tensor_scatter_max_min_by_match(ctx):
    _tensor_scatter_by_match(ctx, "max" if ctx.node.op_type == "TensorScatterMax" else "min")


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


def _sample_indexed(indices, samples):
    """The index tuples after their first component, when `indices` is a Concat along its last
    axis whose first part is that component alone and equals the sample index -- n along
    axis 0, for n < `samples` -- at compile time (`x[ops.arange(N)[:, None], idx]`: YOLOv10's
    box gather); else None. The rest must be one tensor."""
    node = indices.producer if isinstance(indices, ir.Value) else None
    if node is None or node.op_type != "Concat" or not indices.shape:
        return None
    items = node.inputs[0] if isinstance(node.inputs[0], (tuple, list)) else None
    axis = np.asarray(B.arg(node, 1, "axis", 0)).reshape(-1)
    if not items or len(items) != 2 or axis.size != 1 or \
            int(axis[0]) % len(indices.shape) != len(indices.shape) - 1:
        return None
    first = value_of(items[0])
    if first is None or first.ndim < 2 or first.shape[-1] != 1:
        return None
    return items[1] if B.is_sample_index(first, samples) else None


def _gather_nd_rule(node, st):
    """Gathers whose index tuples start with the sample index (_sample_indexed) stay within
    each sample: rewritten to GatherND with batch_dims=1 over the rest (a converter-internal
    third argument), which holds at any batch size. Any other index tuples may cross
    samples."""
    x, indices = node.inputs[:2]
    rest = _sample_indexed(indices, x.shape[0]) if isinstance(x, ir.Value) and x.shape else None
    if rest is None or st.of(x) != 0 or st.of(rest) != 0 or st.outer(rest) != 1:
        raise B.Refuse(f"{B.where(node)} gathers by run-time index tuples, which may cross "
                       "samples")
    B.set_outputs(node, st, 0)
    return {1: rest, 2: 1}


@op("GatherNd", batch=_gather_nd_rule)
def gather_nd(ctx):
    batch_dims = int(ctx.const(2, None, 0))  # set by the batch rule only
    ctx.set_output(ctx.make("GatherND", [ctx.tensor(0), ctx.cast(ctx.tensor(1), np.int64)],
                            batch_dims=batch_dims or None))


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
