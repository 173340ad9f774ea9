"""Shape and layout operators: Reshape, Transpose, Flatten, (Un)Squeeze, Concat, Stack, Split,
StridedSlice, Gather, BroadcastTo, Tile, Pad, and the run-time shape arithmetic of dynamic graphs."""
import numpy as np

from .. import batch as B
from .. import ir
from ..errors import ConversionError
from .registry import op

INT64_MAX = int(np.iinfo(np.int64).max)
INT64_MIN = int(np.iinfo(np.int64).min)


def _int_list(v):
    if isinstance(v, (int, np.integer)):
        return [int(v)]
    return [int(x) for x in np.asarray(v).reshape(-1)]


@op("Reshape", batch=B.reshape)
def reshape(ctx):
    shape = ctx.arg(1, "shape")
    if ctx.is_const(1):
        target = _int_list(ctx.const(1, "shape"))
        if 0 in target:
            raise ConversionError(f"{ctx.where()}: zero-sized reshape target {target}")
        st = ctx.initializer(np.array(target, np.int64))
    else:
        st = ctx.ints(shape)
    ctx.set_output(ctx.make("Reshape", [ctx.tensor(0), st]))


@op("Transpose", "TransposeView", batch=B.transpose)
def transpose(ctx):
    perm = _int_list(ctx.const(1, "perm"))
    rank = ctx.in_rank(0)
    ctx.set_output(ctx.make("Transpose", [ctx.tensor(0)], perm=[p % rank for p in perm]))


@op("Flatten", batch=B.flatten)
def flatten(ctx):
    ctx.set_output(ctx.make("Flatten", [ctx.tensor(0)], axis=1))


@op("FlattenExt", batch=B.flatten_range)
def flatten_ext(ctx):
    rank = ctx.in_rank(0)
    start, end = int(ctx.const(1, default=0)) % rank, int(ctx.const(2, default=-1)) % rank
    shape = ctx.in_shape(0)
    target = [0] * start + [-1] + [d if d is not None else 0 for d in shape[end + 1:]]
    if any(d is None for d in shape[end + 1:]):
        raise ConversionError(f"{ctx.where()}: symbolic trailing dimensions")
    ctx.set_output(ctx.make("Reshape", [ctx.tensor(0), ctx.initializer(np.array(target, np.int64))]))


@op("ExpandDims", "Unsqueeze", batch=B.expand_dims)
def expand_dims(ctx):
    axis = int(ctx.const(1, "axis"))
    rank = ctx.in_rank(0) + 1
    ctx.set_output(ctx.unsqueeze(ctx.tensor(0), [axis % rank]))


@op("Squeeze", batch=B.squeeze)
def squeeze(ctx):
    axes = _int_list(ctx.const(1, "axis", default=()))
    shape = ctx.in_shape(0)
    rank = len(shape)
    if not axes:
        # squeeze every size-1 dim; symbolic dims (e.g. batch) are never squeezed
        axes = [i for i, d in enumerate(shape) if d == 1]
    axes = sorted(a % rank for a in axes)
    ctx.set_output(ctx.squeeze(ctx.tensor(0), axes) if axes else ctx.tensor(0))


@op("SqueezeExt", batch=B.squeeze)
def squeeze_ext(ctx):
    dim = ctx.const(1, default=None)
    shape = ctx.in_shape(0)
    axes = [i for i, d in enumerate(shape) if d == 1] if dim is None else \
        [a % len(shape) for a in _int_list(dim) if shape[a] == 1]
    ctx.set_output(ctx.squeeze(ctx.tensor(0), sorted(axes)) if axes else ctx.tensor(0))


def _tensor_list(ctx, pos):
    items = ctx.arg(pos)
    if isinstance(items, ir.Value):
        return [items]
    return list(items)


_concat_along = B.along(1, "axis", 0)


def _concat_rule(node, st):
    """A Concat of one tensor is that tensor, whatever its axis (MindSpore's one-layer RNNs
    emit one for their final state); otherwise an operator along one axis."""
    first = node.inputs[0]
    items = list(first) if isinstance(first, (tuple, list)) else [first]
    if len(items) == 1 and isinstance(items[0], ir.Value) and st.carries(items[0]):
        B.set_outputs(node, st, st.of(items[0]))
        return
    _concat_along(node, st)


_concat_rule.text = "a single tensor passes; otherwise " + _concat_along.text


@op("Concat", batch=_concat_rule)
def concat(ctx):
    items = _tensor_list(ctx, 0)
    axis = int(ctx.const(1, "axis", default=0))
    dtype = ctx.out_dtype()
    names = [ctx.tensor_of(x, dtype if not isinstance(x, ir.Value) or x.data is not None else None)
             for x in items]
    ctx.set_output(names[0] if len(names) == 1 else ctx.make("Concat", names, axis=axis))


@op("Stack", batch=B.along(1, "axis", 0, stacked=True))
@op("StackExt", batch=B.along(1, "dim", 0, stacked=True))
def stack(ctx):
    items = _tensor_list(ctx, 0)
    axis = int(ctx.const(1, "axis", default=ctx.node.attrs.get("dim", 0)))
    rank = len(ctx.out_shape())
    parts = [ctx.unsqueeze(ctx.tensor_of(x), [axis % rank]) for x in items]
    ctx.set_output(parts[0] if len(parts) == 1 else ctx.make("Concat", parts, axis=axis % rank))


@op("Unstack", "UnstackExt", "UnstackExtView", batch=B.unstack)
def unstack(ctx):
    axis = int(ctx.const(1, "axis", default=ctx.node.attrs.get("dim", 0)))
    rank = ctx.in_rank(0)
    axis %= rank
    n = _piece_count(ctx, ctx.in_shape(0)[axis])
    pieces = _split(ctx, ctx.tensor(0), axis, [1] * n)
    for i, p in enumerate(pieces):
        ctx.set_output(ctx.squeeze(p, [axis]), i)


_MAX_OUTPUTS = 1 << 14  # far beyond any real split; a malformed shape must not loop for ever


def _piece_count(ctx, n):
    if n is None or not 0 < n <= _MAX_OUTPUTS:
        raise ConversionError(f"{ctx.where()}: cannot split into {n} pieces")
    return int(n)


def _split(ctx, x, axis, sizes):
    if not sizes or len(sizes) > _MAX_OUTPUTS or any(s < 0 for s in sizes):
        raise ConversionError(f"{ctx.where()}: cannot split into {len(sizes)} pieces")
    if len(sizes) == 1:
        return [x]
    return ctx.make("Split", [x, ctx.initializer(np.array(sizes, np.int64))], len(sizes),
                    axis=axis)


def _emit_split(ctx, axis, sizes):
    for i, p in enumerate(_split(ctx, ctx.tensor(0), axis, sizes)):
        ctx.set_output(p, i)


@op("Split", batch=B.along(1, "axis", 0))
def split(ctx):
    axis = int(ctx.const(1, "axis", default=0))
    n = _piece_count(ctx, int(ctx.const(2, "output_num", default=1)))
    dim = ctx.in_shape(0)[axis]
    if dim is None or dim % n:
        raise ConversionError(f"{ctx.where()}: cannot split {dim} into {n} equal parts")
    _emit_split(ctx, axis % ctx.in_rank(0), [dim // n] * n)


@op("SplitWithSize", "SplitWithSizeView", batch=B.along(2, None, 0))
def split_with_size(ctx):
    sizes = _int_list(ctx.const(1))
    _emit_split(ctx, int(ctx.const(2, default=0)) % ctx.in_rank(0), sizes)


@op("SplitTensor", "SplitTensorView", batch=B.along(2, None, 0))
def split_tensor(ctx):
    size = int(ctx.const(1))
    axis = int(ctx.const(2, default=0)) % ctx.in_rank(0)
    dim = ctx.in_shape(0)[axis]
    if size <= 0:
        raise ConversionError(f"{ctx.where()}: split size {size}")
    sizes = [size] * _piece_count(ctx, dim // size) + ([dim % size] if dim % size else [])
    _emit_split(ctx, axis, sizes)


@op("Chunk", "ChunkView", batch=B.along(2, None, 0))
def chunk(ctx):
    chunks = int(ctx.const(1))
    axis = int(ctx.const(2, default=0)) % ctx.in_rank(0)
    dim = ctx.in_shape(0)[axis]
    if chunks <= 0 or not dim:
        raise ConversionError(f"{ctx.where()}: {chunks} chunks of a dimension of size {dim}")
    size = -(-dim // chunks)
    sizes = [size] * _piece_count(ctx, dim // size) + ([dim % size] if dim % size else [])
    _emit_split(ctx, axis, sizes)


# ----------------------------------------------------------------------------- slicing

def _is_dim_of(value, tensor, axis) -> bool:
    """Is `value` the run-time size of `tensor` along `axis` (Shape(tensor)[axis])?"""
    return (isinstance(value, ir.Value) and value.producer is not None
            and value.producer.op_type == "Shape" and value.producer.inputs
            and value.producer.inputs[0] is tensor and value.index == axis)


@op("StridedSlice", batch=B.strided_slice)
def strided_slice(ctx):
    """TensorFlow-style strided slice with begin/end/ellipsis/new_axis/shrink_axis masks."""
    x_val = ctx.arg(0)
    shape = ctx.in_shape(0)
    rank = len(shape)
    begin, end, strides = (list(ctx.arg(i, n)) if isinstance(ctx.arg(i, n), (tuple, list))
                           else _int_list(ctx.const(i, n))
                           for i, n in ((1, "begin"), (2, "end"), (3, "strides")))
    masks = [int(ctx.const(4 + i, n, default=0)) for i, n in enumerate(
        ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"))]
    begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_mask = masks
    m = len(begin)
    real = sum(1 for i in range(m) if not (ellipsis_mask >> i) & 1 and not (new_axis_mask >> i) & 1)
    axes, starts, ends, steps, shrink_axes, new_axes = [], [], [], [], [], []
    d = out_pos = 0
    for i in range(m):
        if (ellipsis_mask >> i) & 1:
            cover = rank - real
            d += cover
            out_pos += cover
            continue
        if (new_axis_mask >> i) & 1:
            new_axes.append(out_pos)
            out_pos += 1
            continue
        if d >= rank:
            raise ConversionError(f"{ctx.where()}: more slice entries than dimensions")
        s = ctx.literal(strides[i]) if not isinstance(strides[i], ir.Value) else None
        if s is None or s == 0:
            raise ConversionError(f"{ctx.where()}: stride must be a non-zero constant")
        b, e = begin[i], end[i]
        if (shrink_mask >> i) & 1:
            b = ctx.literal(b)
            axes.append(d)
            starts.append(b)
            ends.append(b + 1 if b != -1 else INT64_MAX)
            steps.append(1)
            shrink_axes.append(d)
            d += 1
            continue
        if (begin_mask >> i) & 1:
            b = 0 if s > 0 else INT64_MAX
        if (end_mask >> i) & 1:
            e = INT64_MAX if s > 0 else INT64_MIN
        if _is_dim_of(e, x_val, d):
            e = INT64_MAX
        dim = shape[d]
        if isinstance(b, ir.Value) or isinstance(e, ir.Value):
            axes.append(d), starts.append(b), ends.append(e), steps.append(s)
        else:
            b, e = int(b), int(e)
            full = s == 1 and b in (0,) and (e >= INT64_MAX or (dim is not None and e >= dim))
            if dim is not None and s == 1 and b == -dim and e >= dim:
                full = True
            if not full:
                axes.append(d), starts.append(b), ends.append(e), steps.append(s)
        d += 1
        out_pos += 1
    y = ctx.tensor(0)
    if axes:
        y = ctx.make("Slice", [y, ctx.ints(starts), ctx.ints(ends),
                               ctx.initializer(np.array(axes, np.int64)),
                               ctx.initializer(np.array(steps, np.int64))])
    if shrink_axes:
        y = ctx.squeeze(y, shrink_axes)
    if new_axes:
        y = ctx.unsqueeze(y, new_axes)
    if y == ctx.tensor(0):
        y = ctx.make("Identity", [y])
    ctx.set_output(y)


@op("SliceExt", batch=B.slice_dim)
def slice_ext(ctx):
    """(input, dim, start, end, step)."""
    axis = int(ctx.const(1)) % ctx.in_rank(0)
    start, end, step = (int(ctx.const(i)) for i in (2, 3, 4))
    ctx.set_output(ctx.make("Slice", [ctx.tensor(0), ctx.ints((start,)), ctx.ints((end,)),
                                      ctx.ints((axis,)), ctx.ints((step,))]))


@op("Narrow", batch=B.slice_dim)
def narrow(ctx):
    axis = int(ctx.const(1)) % ctx.in_rank(0)
    start, length = int(ctx.const(2)), int(ctx.const(3))
    ctx.set_output(ctx.make("Slice", [ctx.tensor(0), ctx.ints((start,)),
                                      ctx.ints((start + length,)), ctx.ints((axis,))]))


@op("Gather", "GatherV2", batch=B.gather)
def gather(ctx):
    axis = int(ctx.const(2, "axis", default=0))
    if int(ctx.const(3, "batch_dims", default=0)) != 0:
        raise ConversionError(f"{ctx.where()}: batch_dims != 0")
    idx = ctx.tensor(1)
    ctx.set_output(ctx.make("Gather", [ctx.tensor(0), idx], axis=axis))


@op("GatherD", batch=B.gather_elements)
def gather_d(ctx):
    ctx.set_output(ctx.make("GatherElements", [ctx.tensor(0), ctx.cast(ctx.tensor(2), np.int64)],
                            axis=int(ctx.const(1))))


@op("BroadcastTo", batch=B.broadcast_to)
def broadcast_to(ctx):
    target = ctx.arg(1, "shape")
    target = list(target) if isinstance(target, (tuple, list)) else _int_list(ctx.literal(target))
    dims = []
    for t in target:
        if not isinstance(t, ir.Value) and int(ctx.literal(t)) == -1:
            # -1 keeps the input's size; 1 lets Expand keep it without reading it
            t = 1
        dims.append(t)
    ctx.set_output(ctx.make("Expand", [ctx.tensor(0), ctx.ints(tuple(dims))]))


@op("Tile", batch=B.tile)
def tile(ctx):
    reps = _int_list(ctx.const(1, "multiples"))
    x = ctx.tensor(0)
    rank = ctx.in_rank(0)
    if len(reps) > rank:  # MindSpore prepends size-1 dims
        x = ctx.unsqueeze(x, list(range(len(reps) - rank)))
    elif len(reps) < rank:
        reps = [1] * (rank - len(reps)) + reps
    ctx.set_output(ctx.make("Tile", [x, ctx.initializer(np.array(reps, np.int64))]))


def _pad(ctx, paddings, mode, value):
    """`paddings` torch-style: (begin, end) pairs starting from the last dimension."""
    rank = ctx.in_rank(0)
    p = _int_list(paddings)
    if len(p) % 2 or len(p) // 2 > rank:
        raise ConversionError(f"{ctx.where()}: bad paddings {p}")
    begins, ends = [0] * rank, [0] * rank
    for k in range(len(p) // 2):
        axis = rank - 1 - k
        begins[axis], ends[axis] = p[2 * k], p[2 * k + 1]
    if any(v < 0 for v in begins + ends):
        raise ConversionError(f"{ctx.where()}: negative paddings {p}")
    inputs = [ctx.tensor(0), ctx.initializer(np.array(begins + ends, np.int64))]
    onnx_mode = {"constant": "constant", "reflect": "reflect", "edge": "edge",
                 "replicate": "edge"}.get(mode)
    if onnx_mode is None:
        raise ConversionError(f"{ctx.where()}: pad mode '{mode}' is not supported")
    if onnx_mode == "constant" and value is not None:
        inputs.append(ctx.initializer(np.asarray(value, ctx.out_dtype()).reshape(())))
    ctx.set_output(ctx.make("Pad", inputs, mode=onnx_mode))


@op("PadV3", batch=B.torch_pads)
def pad_v3(ctx):
    if not bool(ctx.node.attrs.get("paddings_contiguous", True)):
        raise ConversionError(f"{ctx.where()}: non-contiguous paddings")
    value = ctx.const(2, default=None)
    value = None if value is None else np.asarray(value).reshape(-1)[0]
    _pad(ctx, ctx.const(1), str(ctx.node.attrs.get("mode", "constant")), value)


@op("ConstantPadND", batch=B.torch_pads)
def constant_pad_nd(ctx):
    _pad(ctx, ctx.const(1), "constant", ctx.const(2, default=0.0))


@op("ReflectionPad1D", "ReflectionPad2D", "ReflectionPad3D", batch=B.torch_pads)
def reflection_pad(ctx):
    _pad(ctx, ctx.const(1), "reflect", None)


@op("ReplicationPad1D", "ReplicationPad2D", "ReplicationPad3D", batch=B.torch_pads)
def replication_pad(ctx):
    _pad(ctx, ctx.const(1), "edge", None)


# ----------------------------------------------------------------------------- run-time shapes

@op("Shape", batch=B.refuse("reads the run-time shape, which depends on the batch"))
def shape(ctx):
    """The reader turns Shape into one scalar output per dimension."""
    s = ctx.make("Shape", [ctx.tensor(0)])
    for i, _ in enumerate(ctx.node.outputs):
        ctx.set_output(ctx.make("Gather", [s, ctx.initializer(np.array(i, np.int64))], axis=0), i)


@op("TensorShape", "DynamicShape",
    batch=B.refuse("reads the run-time shape, which depends on the batch"))
def tensor_shape(ctx):
    s = ctx.make("Shape", [ctx.tensor(0)])
    dt = ctx.out_dtype()
    ctx.set_output(s if np.dtype(dt) == np.int64 else ctx.cast(s, dt))


_SCALAR_ARITH = {"ScalarAdd": "Add", "ScalarSub": "Sub", "ScalarMul": "Mul",
                 "ScalarFloorDiv": "Div", "scalar_add": "Add", "scalar_sub": "Sub",
                 "scalar_mul": "Mul", "scalar_floordiv": "Div"}


@op(*_SCALAR_ARITH, batch=B.refuse("computes with run-time shape values, which depend on the batch"))
def scalar_arith(ctx):
    # run-time dimensions are non-negative, so integer Div is floor division here
    a, b = (ctx.tensor_of(ctx.arg(i), np.int64 if ctx.is_const(i) else None) for i in (0, 1))
    ctx.set_output(ctx.make(_SCALAR_ARITH[ctx.node.op_type], [a, b]))


@op("TupleToTensor", "ListToTensor", "ScalarToTensor", batch=B.refuse("computes with run-time shape values, which depend on the batch"))
def to_tensor(ctx):
    dt = ctx.out_dtype()
    x = ctx.arg(0)
    if ctx.node.op_type == "ScalarToTensor":
        t = ctx.tensor(0)
    else:
        t = ctx.ints(x)
    ctx.set_output(t if np.dtype(ctx.in_dtype(0) if isinstance(x, ir.Value) else np.int64)
                   == np.dtype(dt) else ctx.cast(t, dt))


@op("TensorToTuple", "TensorToList",
    batch=B.refuse("computes with run-time shape values, which depend on the batch"))
def tensor_to_tuple(ctx):
    """A 1-D tensor as a tuple: the reader gives one scalar output per element."""
    t = ctx.tensor(0)
    for i, _ in enumerate(ctx.node.outputs):
        ctx.set_output(ctx.make("Gather", [t, ctx.initializer(np.array(i, np.int64))], axis=0), i)


@op("TensorToScalar", batch=B.refuse("computes with run-time shape values, which depend on the batch"))
def tensor_to_scalar(ctx):
    """A 0-d (or one-element) tensor as a scalar: a Reshape to rank 0."""
    t = ctx.make("Reshape", [ctx.tensor(0), ctx.initializer(np.zeros((0,), np.int64))])
    dt = ctx.out_dtype()
    ctx.set_output(t if np.dtype(ctx.in_dtype(0)) == np.dtype(dt) else ctx.cast(t, dt))


@op("Range", batch=B.refuse("its length is a run-time value, which may depend on the batch"))
def range_(ctx):
    """ops.arange: ONNX Range, every operand in the output's type (ONNX requires one type).

    MindSpore's fourth operand, maxlen, only bounds the output's length for memory
    allocation: ONNX allocates at run time."""
    dt = np.dtype(ctx.out_dtype())
    operands = []
    for i in range(3):
        x = ctx.arg(i)
        t = ctx.tensor_of(x, dt) if ctx.is_const(i) else ctx.tensor(i)
        if isinstance(x, ir.Value) and not ctx.is_const(i):
            if x.dtype != dt:
                t = ctx.cast(t, dt)
            if x.rank != 0:
                t = ctx.make("Reshape", [t, ctx.initializer(np.zeros((0,), np.int64))])
        operands.append(t)
    ctx.set_output(ctx.make("Range", operands))


@op("_BroadcastBatch", batch=B.batch_axis_zero)
def broadcast_batch(ctx):
    """Converter-internal (dynamic_batch pass): repeat a batch-1 tensor to the batch of input 1."""
    batch = ctx.make("Slice", [ctx.make("Shape", [ctx.tensor(1)]), ctx.ints((0,)), ctx.ints((1,))])
    rest = ctx.initializer(np.array(ctx.in_shape(0)[1:], np.int64))
    ctx.set_output(ctx.make("Expand", [ctx.tensor(0), ctx.make("Concat", [batch, rest], axis=0)]))


# ----------------------------------------------------------------------------- more layout ops

def _per_dim_pads(ctx, paddings):
    rows = np.asarray(paddings, dtype=np.int64).reshape(-1, 2)
    rank = ctx.in_rank(0)
    if len(rows) != rank or np.any(rows < 0):
        raise ConversionError(f"{ctx.where()}: paddings {rows.tolist()} for rank {rank}")
    return rows


@op("Pad", batch=B.per_dim_pads)
def pad_legacy(ctx):
    """nn.Pad's primitive: one (before, after) row per dimension, as an attribute; zeros."""
    rows = _per_dim_pads(ctx, ctx.const(1, "paddings"))
    ctx.set_output(ctx.make("Pad", [ctx.tensor(0), ctx.initializer(
        np.concatenate([rows[:, 0], rows[:, 1]]))], mode="constant"))


def _reverse(ctx, x, axis):
    return ctx.make("Slice", [x, ctx.ints((-1,)), ctx.ints((INT64_MIN,)), ctx.ints((axis,)),
                              ctx.ints((-1,))])


def _slice_axis(ctx, x, axis, start, end):
    return ctx.make("Slice", [x, ctx.ints((start,)), ctx.ints((end,)), ctx.ints((axis,))])


@op("MirrorPad", batch=B.per_dim_pads)
def mirror_pad(ctx):
    """REFLECT (edge not repeated) is ONNX's reflect; SYMMETRIC (edge repeated) is built from
    reversed slices concatenated on each side."""
    rows = _per_dim_pads(ctx, ctx.const(1, "paddings"))
    mode = str(ctx.const(2, "mode", "REFLECT")).upper()
    if mode == "REFLECT":
        ctx.set_output(ctx.make("Pad", [ctx.tensor(0), ctx.initializer(
            np.concatenate([rows[:, 0], rows[:, 1]]))], mode="reflect"))
        return
    if mode != "SYMMETRIC":
        raise ConversionError(f"{ctx.where()}: mirror mode '{mode}'")
    y = ctx.tensor(0)
    shape = ctx.in_shape(0)
    for axis, (before, after) in enumerate(rows.tolist()):
        if not before and not after:
            continue
        if shape[axis] is None or max(before, after) > shape[axis]:
            raise ConversionError(f"{ctx.where()}: symmetric padding wider than the input")
        parts = []
        if before:
            parts.append(_reverse(ctx, _slice_axis(ctx, y, axis, 0, before), axis))
        parts.append(y)
        if after:
            parts.append(_reverse(ctx, _slice_axis(ctx, y, axis, -after, INT64_MAX), axis))
        y = ctx.make("Concat", parts, axis=axis)
    ctx.set_output(y)


def _begin_size_rule(node, st):
    x = node.inputs[0]
    b = st.of(x)
    begin, size = B.ints(B.arg(node, 1, "begin")), B.ints(B.arg(node, 2, "size"))
    if b < len(begin) and (begin[b] != 0 or size[b] not in (-1, x.shape[b])):
        raise B.Refuse(f"{B.where(node)} slices the batch axis")
    if b < len(size):
        size[b] = -1
        node.inputs[2] = tuple(size)
    B.set_outputs(node, st, b)


@op("Slice", batch=_begin_size_rule)
def slice_begin_size(ctx):
    """Legacy Slice(x, begin, size); size -1 runs to the end."""
    begin = _int_list(ctx.const(1, "begin"))
    size = _int_list(ctx.const(2, "size"))
    ends = [INT64_MAX if s == -1 else b + s for b, s in zip(begin, size)]
    ctx.set_output(ctx.make("Slice", [ctx.tensor(0), ctx.ints(tuple(begin)),
                                      ctx.ints(tuple(ends)),
                                      ctx.ints(tuple(range(len(begin))))]))


def _axes_rule(pos, name, what):
    def rule(node, st):
        b = st.of(node.inputs[0])
        rank = node.inputs[0].rank
        if b in [a % rank for a in B.ints(B.arg(node, pos, name))]:
            raise B.Refuse(f"{B.where(node)} {what} the batch axis")
        B.set_outputs(node, st, b)
    return rule


@op("ReverseV2", batch=_axes_rule(1, "axis", "reverses"))
def reverse_v2(ctx):
    rank = ctx.in_rank(0)
    axes = sorted({a % rank for a in _int_list(ctx.const(1, "axis"))})
    y = ctx.tensor(0)
    if axes:
        n = len(axes)
        y = ctx.make("Slice", [y, ctx.ints((-1,) * n), ctx.ints((INT64_MIN,) * n),
                               ctx.ints(tuple(axes)), ctx.ints((-1,) * n)])
    else:
        y = ctx.make("Identity", [y])
    ctx.set_output(y)


def _trilu_rule(node, st):
    b = st.of(node.inputs[0])
    if b >= node.inputs[0].rank - 2:
        raise B.Refuse(f"{B.where(node)} masks a matrix whose rows or columns are the batch")
    B.set_outputs(node, st, b)


@op("Tril", "Triu", since=14, batch=_trilu_rule)
def trilu(ctx):
    k = int(ctx.const(1, "diagonal", 0))
    ctx.set_output(ctx.make("Trilu", [ctx.tensor(0), ctx.initializer(np.array(k, np.int64))],
                            upper=int(ctx.node.op_type == "Triu")))


@op("DepthToSpace", "SpaceToDepth", batch=B.PER_SAMPLE)
def depth_space(ctx):
    """Blocks of channels to space and back, NCHW. MindSpore's DepthToSpace orders the block
    as TensorFlow's does: ONNX mode DCR."""
    fmt = str(ctx.node.attrs.get("data_format", ctx.node.attrs.get("format", "NCHW")))
    if fmt.upper() != "NCHW":
        raise ConversionError(f"{ctx.where()}: data format {fmt} (NCHW only)")
    block = int(ctx.const(1, "block_size"))
    mode = {"mode": "DCR"} if ctx.node.op_type == "DepthToSpace" else {}
    ctx.set_output(ctx.make(ctx.node.op_type, [ctx.tensor(0)], blocksize=block, **mode))

