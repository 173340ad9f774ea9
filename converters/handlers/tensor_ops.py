"""Shape and layout operators: Reshape, Transpose, Flatten, (Un)Squeeze, Concat, Stack, Split,
StridedSlice, Gather, BroadcastTo, Tile, Pad, and the run-time shape arithmetic of dynamic graphs."""
import numpy as np

from .. import batch as B
from .. import ir
from ..errors import ConversionError
from ..primitive_args import constant, literal, raw
from ..ir_constants import value_of
from .registry import op

INT64_MAX = int(np.iinfo(np.int64).max)
INT64_MIN = int(np.iinfo(np.int64).min)


def _int_list(v):
    if isinstance(v, (int, np.integer)):
        return [int(v)]
    return [int(x) for x in np.asarray(v).reshape(-1)]


def _reshape_rule(node, st: B.BatchState) -> B.Rewrites:
    """Keeps the batch as a factor of one output dimension: the dimensions before it hold a
    divisor of the elements before the batch (the rest is its outer factor) and those after
    it fit inside one sample. The target gets -1 there. A time-major (T, N, C) flattened to
    (T*N, C) keeps the batch inside T*N (outer factor T), and its reshape back to (T, N, C)
    restores it; where several axes fit (a batch-1 export), the outer factor 1 first."""
    x = node.inputs[0]
    b = st.of(x)
    if b is None:
        raise B.Refuse(f"{B.where(node)} takes its shape from a batch tensor")
    shape = B.static_shape(x.shape, node, "input")
    out = B.static_shape(node.outputs[0].shape, node, "output")
    batch, m = st.batch, st.outer(x)
    if shape[b] % (m * batch):
        raise B.Refuse(f"{B.where(node)}: batch axis size {shape[b]} is not a multiple of "
                       f"{m * batch}")
    outer = B.prod(shape[:b]) * m
    inner = shape[b] // (m * batch) * B.prod(shape[b + 1:])
    readings = []
    for k in range(len(out)):
        head = B.prod(out[:k])
        if head == 0 or outer % head:
            continue
        m2 = outer // head
        if out[k] % (m2 * batch) == 0 and out[k] // (m2 * batch) * B.prod(out[k + 1:]) == inner:
            readings.append((k, m2))
    if not readings:
        raise B.Refuse(f"{B.where(node)} reshapes {tuple(shape)} to {tuple(out)}, which splits "
                       f"or merges the batch (axis {b}) with other dimensions")
    readings.sort(key=lambda r: r[1] != 1)  # stable: axis order within each kind
    k, m2 = st.choose(node, readings)
    st.set(node.outputs[0], k, m2)
    return {1: tuple(-1 if i == k else d for i, d in enumerate(out))}


_reshape_rule.sets_outer = True


@op("Reshape", batch=_reshape_rule)
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


@B.keeps_outer
def _transpose_rule(node, st: B.BatchState) -> None:
    b = st.of(node.inputs[0])
    rank = B.rank_of(node.inputs[0], node)
    perm = [p % rank for p in B.ints(B.arg(node, 1, "perm"))]
    if sorted(perm) != list(range(rank)):
        raise B.Refuse(f"{B.where(node)}: perm {perm} is not a permutation of {rank} axes")
    B.set_outputs(node, st, perm.index(b))


@op("Transpose", "TransposeView", batch=_transpose_rule)
def transpose(ctx):
    perm = _int_list(ctx.const(1, "perm"))
    rank = ctx.in_rank(0)
    ctx.set_output(ctx.make("Transpose", [ctx.tensor(0)], perm=[p % rank for p in perm]))


def _flatten_rule(node, st: B.BatchState) -> None:
    if st.of(node.inputs[0]) != 0:
        raise B.Refuse(f"{B.where(node)} flattens the batch axis into others")
    B.set_outputs(node, st, 0)


@op("Flatten", batch=_flatten_rule)
def flatten(ctx):
    ctx.set_output(ctx.make("Flatten", [ctx.tensor(0)], axis=1))


def _flatten_range_rule(node, st: B.BatchState) -> None:
    b = st.of(node.inputs[0])
    rank = B.rank_of(node.inputs[0], node)
    start = int(B.arg(node, 1, None, 0)) % rank
    end = int(B.arg(node, 2, None, -1)) % rank
    if start < b <= end:
        raise B.Refuse(f"{B.where(node)} flattens the batch axis under an outer dimension")
    B.set_outputs(node, st, b if b <= start else b - (end - start))


@op("FlattenExt", batch=_flatten_range_rule)
def flatten_ext(ctx):
    rank = ctx.in_rank(0)
    start, end = int(ctx.const(1, default=0)) % rank, int(ctx.const(2, default=-1)) % rank
    shape = ctx.in_shape(0)
    target = [0] * start + [-1] + [d if d is not None else 0 for d in shape[end + 1:]]
    if any(d is None for d in shape[end + 1:]):
        raise ConversionError(f"{ctx.where()}: symbolic trailing dimensions")
    ctx.set_output(ctx.make("Reshape", [ctx.tensor(0), ctx.initializer(np.array(target, np.int64))]))


def _expand_dims_rule(node, st: B.BatchState) -> None:
    b = st.of(node.inputs[0])
    rank = B.rank_of(node.inputs[0], node) + 1
    a = int(B.ints(B.arg(node, 1, "axis"))[0]) % rank
    B.set_outputs(node, st, b + 1 if a <= b else b)


@op("ExpandDims", "Unsqueeze", batch=_expand_dims_rule)
def expand_dims(ctx):
    axis = int(ctx.const(1, "axis"))
    rank = ctx.in_rank(0) + 1
    ctx.set_output(ctx.unsqueeze(ctx.tensor(0), [axis % rank]))


def _squeeze_axes(node):
    """The axes a Squeeze removes, sorted. None listed: every size-1 axis (a symbolic one, such
    as a dynamic batch, never). Squeeze removes the axes it lists (MindSpore checks they have
    size 1); SqueezeExt, like torch.squeeze, only those of them that have size 1."""
    shape = node.inputs[0].shape
    listed = _squeeze_listed(node)
    if not listed:
        return [i for i, d in enumerate(shape) if d == 1]
    axes = {a % len(shape) for a in listed}
    return sorted(axes if node.op_type == "Squeeze" else {a for a in axes if shape[a] == 1})


def _squeeze_listed(node):
    """The axes a Squeeze / SqueezeExt names ([] for none: every size-1 axis)."""
    dims = constant(node, 1, "axis", ()) if node.op_type == "Squeeze" else \
        constant(node, 1, None, None)
    return _int_list(dims) if dims is not None else []


def _squeeze_rule(node, st: B.BatchState) -> B.Rewrites:
    b = st.of(node.inputs[0])
    axes = _squeeze_axes(node)
    if b in axes:
        raise B.Refuse(f"{B.where(node)} squeezes the batch axis")
    B.set_outputs(node, st, b - sum(a < b for a in axes))
    # listed explicitly: once the batch dimension is symbolic, not 1, "every size-1 axis"
    # would no longer include the others MindSpore squeezed at the export's batch
    return {1: tuple(axes)}


@op("Squeeze", "SqueezeExt", batch=_squeeze_rule)
def squeeze(ctx):
    node = ctx.node
    shape = node.inputs[0].shape
    axes = _squeeze_axes(node)
    if not _squeeze_listed(node) and shape is not None and None in shape:
        # MindSpore squeezes a symbolic axis too when it is 1 at run time (ECAPA-TDNN's
        # embedding is (192,) at batch 1, (N, 192) otherwise) and records a dynamic rank. An
        # ONNX graph keeps one rank per tensor: the symbolic axes stay (the static size-1
        # ones go), and the user is told where MindSpore's result would have another rank.
        symbolic = [i for i, d in enumerate(shape) if d is None]
        shape_text = "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"
        ctx.note(f"squeezes every axis of size 1 of a {shape_text} input: MindSpore drops "
                 f"symbolic axis {', '.join(map(str, symbolic))} too where it is 1 at run time "
                 "(a rank that changes with the input), the ONNX keeps it, so there its "
                 "result has one more axis than MindSpore's; name the axes to squeeze "
                 "(squeeze(axis=...)) in the network for one rank in both")
        node.outputs[0].shape = tuple(d for i, d in enumerate(shape) if i not in axes)
    ctx.set_output(ctx.squeeze(ctx.tensor(0), axes) if axes else ctx.tensor(0))



def _tensor_list(ctx, pos):
    items = ctx.arg(pos)
    if isinstance(items, ir.Value):
        return [items]
    return list(items)


def _concat_axis(node):
    return constant(node, 1, "axis", 0)


def _stack_axis(node):
    return constant(node, 1, "axis", node.attrs.get("dim", 0))


def _broadcast_batch_constants(node, st: B.BatchState, items):
    """A tensor joined with batch tensors that MindSpore folded to a constant of batch 1
    (a class token, a zero state) is sample-independent: repeat it over the batch
    (_BroadcastBatch, a converter-internal node the analysis inserts). Returns the items."""
    ref = next((v for v in items if st.carries(v)), None)
    if st.batch != 1 or ref is None or st.of(ref) != 0 or st.outer(ref) != 1:
        return items
    out = []
    for k, v in enumerate(items):
        if st.carries(v) or not isinstance(v, ir.Value) or not v.shape or v.shape[0] != 1 or \
                len(v.shape) != len(ref.shape):
            out.append(v)
            continue
        out.append(B.repeat_over_batch(f"{node.name}/broadcast_batch{k}", v, ref, 0, v.shape,
                                       node.scope, st))
    return out


def _sample_index_constants(node, st: B.BatchState, items):
    """A constant joined with batch tensors that equals the sample index along its axis 0 --
    n in the slice of sample n, for n < the export's batch size (at least 2: at batch 1 it
    cannot be told from a zero) -- is `ops.arange(N)` folded by a static export
    (`x[ops.arange(N)[:, None], idx]`): it becomes the run-time sample index (_SampleIndex,
    converter-internal). Returns the items."""
    ref = next((v for v in items if st.carries(v)), None)
    if st.batch < 2 or ref is None or st.of(ref) != 0 or st.outer(ref) != 1:
        return items
    out = []
    for k, v in enumerate(items):
        if st.carries(v) or not isinstance(v, ir.Value) or not v.shape or \
                v.shape[0] != st.batch or not B.is_sample_index(value_of(v), st.batch):
            out.append(v)
            continue
        out.append(B.batch_node(f"{node.name}/sample_index{k}", "_SampleIndex", [ref],
                                {"shape": tuple(v.shape)}, v.dtype, v.shape, 0, node.scope, st))
    return out


def _join_rule(axis_of, stacked):
    def rule(node, st: B.BatchState) -> B.Rewrites:
        """A Concat of one tensor is that tensor, whatever its axis (MindSpore's one-layer RNNs
        emit one for their final state); a Concat of equal batch tensors along their batch
        axis keeps the batch as an inner factor (an RNN's per-direction final states joined
        into (D*N, H) and reshaped to (D, N, H)); otherwise an operator along one axis,
        constants of batch 1 repeated over the batch."""
        first = node.inputs[0]
        items = list(first) if isinstance(first, (tuple, list)) else [first]
        if not stacked and len(items) == 1 and st.carries(items[0]):
            B.set_outputs(node, st, st.of(items[0]), outer=st.outer(items[0]))
            return None
        joined = _sample_index_constants(node, st, _broadcast_batch_constants(node, st, items))
        outer = B.common_outer(node, st, [v for v in joined if st.carries(v)])
        if not stacked and _joins_along_batch(node, st, joined, axis_of):
            B.set_outputs(node, st, st.of(joined[0]), outer=len(joined) * outer)
        else:
            B.set_outputs(node, st, B.along_output_axis(node, st, joined, axis_of(node), stacked),
                          outer=outer)
        return {0: tuple(joined)} if any(a is not b for a, b in zip(joined, items)) else None
    rule.sets_outer = True
    rule.text = ("stacks along a new axis (the batch axis shifts behind it)" if stacked else
                 "a single tensor passes; equal batch tensors joined along the batch axis "
                 "keep it as an inner factor; otherwise works along one axis, refused when "
                 "that axis is the batch axis") + \
        "; a constant of batch 1 is repeated over the batch, one equal to the sample index " \
        "becomes the run-time sample index"
    return rule


def _joins_along_batch(node, st: B.BatchState, items, axis_of) -> bool:
    """Every item a batch tensor of one shape, with the batch on the joined axis."""
    values = [v for v in items if isinstance(v, ir.Value)]
    if len(values) != len(items) or not all(st.carries(v) for v in values):
        return False
    b = st.of(values[0])
    if any(st.of(v) != b or v.shape != values[0].shape for v in values):
        return False
    return int(B.ints(axis_of(node))[0]) % B.rank_of(values[0], node) == b


@op("Concat", batch=_join_rule(_concat_axis, stacked=False))
def concat(ctx):
    items = _tensor_list(ctx, 0)
    axis = int(_concat_axis(ctx.node))
    dtype = ctx.out_dtype()
    names = [ctx.tensor_of(x, dtype if not isinstance(x, ir.Value) or x.data is not None else None)
             for x in items]
    ctx.set_output(names[0] if len(names) == 1 else ctx.make("Concat", names, axis=axis))


@op("Stack", "StackExt", batch=_join_rule(_stack_axis, stacked=True))
def stack(ctx):
    items = _tensor_list(ctx, 0)
    axis = int(_stack_axis(ctx.node))
    rank = len(ctx.out_shape())
    parts = [ctx.unsqueeze(ctx.tensor_of(x), [axis % rank]) for x in items]
    ctx.set_output(parts[0] if len(parts) == 1 else ctx.make("Concat", parts, axis=axis % rank))


def _unstack_axis(node):
    return constant(node, 1, "axis", node.attrs.get("dim", 0))


def _unstack_rule(node, st: B.BatchState) -> None:
    b = st.of(node.inputs[0])
    rank = B.rank_of(node.inputs[0], node)
    a = int(B.ints(_unstack_axis(node))[0]) % rank
    if a == b:
        raise B.Refuse(f"{B.where(node)} unstacks along the batch axis")
    B.set_outputs(node, st, b if b < a else b - 1)


@op("Unstack", "UnstackExt", "UnstackExtView", batch=_unstack_rule)
def unstack(ctx):
    axis = int(_unstack_axis(ctx.node))
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


class _SliceEntry:
    """One entry of a StridedSlice: which input axes it covers and where they go."""
    __slots__ = ("index", "kind", "dim", "cover", "out", "begin", "end", "stride",
                 "begin_masked", "end_masked")

    def __init__(self, index, kind, dim, cover, out, begin, end, stride, begin_masked,
                 end_masked):
        self.index = index            # position in begin/end/strides
        self.kind = kind              # "range", "shrink", "ellipsis" or "new_axis"
        self.dim, self.cover = dim, cover   # the input axes dim .. dim+cover-1
        self.out = out                # output axis of input axis `dim` (None: shrunk away)
        self.begin, self.end, self.stride = begin, end, stride   # ints or run-time Values
        self.begin_masked, self.end_masked = begin_masked, end_masked


def _slice_vector(node, pos, name):
    """begin/end/strides as a list whose items are ints or run-time scalar Values."""
    x = raw(node, pos, name)
    if isinstance(x, (tuple, list)):
        return [e if isinstance(e, ir.Value) and e.data is None
                else int(np.asarray(literal(node, e, name)).reshape(-1)[0]) for e in x]
    return _int_list(constant(node, pos, name))


def _strided_slice_entries(node):
    """StridedSlice's arguments (begin/end/strides and the TensorFlow-style begin, end,
    ellipsis, new-axis and shrink-axis masks) as entries, with the input axes each covers and
    the output axis each lands on; axes after the last entry pass through unchanged. Returns
    (entries, axes listed, output axes they produce)."""
    rank = len(node.inputs[0].shape)
    begin, end, strides = (_slice_vector(node, i, n) for i, n in
                           ((1, "begin"), (2, "end"), (3, "strides")))
    begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_mask = (
        int(constant(node, 4 + i, n, 0)) for i, n in enumerate(
            ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")))
    m = len(begin)
    if len(end) != m or len(strides) != m:
        raise ConversionError(f"{B.where(node)}: begin, end and strides differ in length")
    named = sum(1 for i in range(m)
                if not (ellipsis_mask >> i) & 1 and not (new_axis_mask >> i) & 1)
    entries = []
    d = out = 0
    for i in range(m):
        bit = 1 << i
        if ellipsis_mask & bit:
            kind, cover = "ellipsis", rank - named
        elif new_axis_mask & bit:
            kind, cover = "new_axis", 0
        else:
            kind, cover = ("shrink" if shrink_mask & bit else "range"), 1
            if d >= rank:
                raise ConversionError(f"{B.where(node)}: more slice entries than dimensions")
        entries.append(_SliceEntry(i, kind, d, cover, None if kind == "shrink" else out,
                                   begin[i], end[i], strides[i], bool(begin_mask & bit),
                                   bool(end_mask & bit)))
        d += cover
        out += {"ellipsis": cover, "new_axis": 1, "shrink": 0, "range": 1}[kind]
    return entries, d, out


def _strided_slice_rule(node, st: B.BatchState) -> B.Rewrites:
    """Slices may not cut the batch axis; a full slice of it is rewritten to run to the end."""
    x = node.inputs[0]
    b, size = st.of(x), x.shape[st.of(x)]
    entries, listed, listed_out = _strided_slice_entries(node)
    out_b = listed_out + (b - listed)  # the batch axis lies after the listed entries
    rewrites = {}
    for e in entries:
        if e.kind == "ellipsis" and e.dim <= b < e.dim + e.cover:
            out_b = e.out + (b - e.dim)
        elif e.kind in ("range", "shrink") and e.dim == b:
            if e.kind == "shrink":
                raise B.Refuse(f"{B.where(node)} takes one element of the batch axis")
            if any(isinstance(v, ir.Value) for v in (e.begin, e.end, e.stride)):
                raise B.Refuse(f"{B.where(node)} slices the batch axis at run-time bounds")
            full_begin = e.begin_masked or e.begin in (0, -size)
            full_end = e.end_masked or e.end >= size
            if e.stride != 1 or not full_begin or not full_end:
                raise B.Refuse(f"{B.where(node)} slices the batch axis")
            begin, end = [f.begin for f in entries], [f.end for f in entries]
            begin[e.index], end[e.index] = 0, INT64_MAX
            rewrites = {1: tuple(begin), 2: tuple(end)}
            out_b = e.out
    B.set_outputs(node, st, out_b)
    return rewrites


@op("StridedSlice", batch=_strided_slice_rule)
def strided_slice(ctx):
    """TensorFlow-style strided slice with begin/end/ellipsis/new_axis/shrink_axis masks."""
    x_val = ctx.arg(0)
    shape = ctx.in_shape(0)
    axes, starts, ends, steps, shrink_axes, new_axes = [], [], [], [], [], []
    for e in _strided_slice_entries(ctx.node)[0]:
        if e.kind == "ellipsis":
            continue
        if e.kind == "new_axis":
            new_axes.append(e.out)
            continue
        s, d = e.stride, e.dim
        if isinstance(s, ir.Value) or s == 0:
            raise ConversionError(f"{ctx.where()}: stride must be a non-zero constant")
        b, end = e.begin, e.end
        if e.kind == "shrink":
            b = ctx.literal(b)
            axes.append(d), starts.append(b), ends.append(b + 1 if b != -1 else INT64_MAX)
            steps.append(1), shrink_axes.append(d)
            continue
        if e.begin_masked:
            b = 0 if s > 0 else INT64_MAX
        if e.end_masked:
            end = INT64_MAX if s > 0 else INT64_MIN
        if _is_dim_of(end, x_val, d):
            end = INT64_MAX
        dim = shape[d]
        if isinstance(b, ir.Value) or isinstance(end, ir.Value):
            axes.append(d), starts.append(b), ends.append(end), steps.append(s)
            continue
        full = s == 1 and b == 0 and (end >= INT64_MAX or (dim is not None and end >= dim))
        if dim is not None and s == 1 and b == -dim and end >= dim:
            full = True
        if not full:
            axes.append(d), starts.append(b), ends.append(end), steps.append(s)
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


def _slice_dim_rule(node, st: B.BatchState) -> None:
    """(input, dim, start, end, step) / Narrow (input, dim, start, length)."""
    b = st.of(node.inputs[0])
    rank = B.rank_of(node.inputs[0], node)
    if int(B.arg(node, 1, None)) % rank == b:
        raise B.Refuse(f"{B.where(node)} slices the batch axis")
    B.set_outputs(node, st, b)


@op("SliceExt", batch=_slice_dim_rule)
def slice_ext(ctx):
    """(input, dim, start, end, step)."""
    axis = int(ctx.const(1)) % ctx.in_rank(0)
    start, end, step = (int(ctx.const(i)) for i in (2, 3, 4))
    ctx.set_output(ctx.make("Slice", [ctx.tensor(0), ctx.ints((start,)), ctx.ints((end,)),
                                      ctx.ints((axis,)), ctx.ints((step,))]))


@op("Narrow", batch=_slice_dim_rule)
def narrow(ctx):
    axis = int(ctx.const(1)) % ctx.in_rank(0)
    start, length = int(ctx.const(2)), int(ctx.const(3))
    ctx.set_output(ctx.make("Slice", [ctx.tensor(0), ctx.ints((start,)),
                                      ctx.ints((start + length,)), ctx.ints((axis,))]))


def _gather_rule(node, st: B.BatchState) -> None:
    params, idx = node.inputs[0], node.inputs[1]
    rank = B.rank_of(params, node)
    axis = int(B.arg(node, 2, "axis", 0)) % rank
    pb, ib = st.of(params), st.of(idx)
    if pb is not None and ib is not None:
        raise B.Refuse(f"{B.where(node)} gathers a batch tensor with batch indices")
    if pb is not None:
        if axis == pb:
            raise B.Refuse(f"{B.where(node)} gathers along the batch axis")
        idx_rank = idx.rank if isinstance(idx, ir.Value) else np.ndim(idx)
        B.set_outputs(node, st, pb if pb < axis else pb + idx_rank - 1)
    else:
        B.set_outputs(node, st, axis + ib)  # embedding lookup: one row per index


@op("Gather", "GatherV2", batch=_gather_rule)
def gather(ctx):
    axis = int(ctx.const(2, "axis", default=0))
    if int(ctx.const(3, "batch_dims", default=0)) != 0:
        raise ConversionError(f"{ctx.where()}: batch_dims != 0")
    idx = ctx.tensor(1)
    ctx.set_output(ctx.make("Gather", [ctx.tensor(0), idx], axis=axis))


def _gather_elements_rule(node, st: B.BatchState) -> None:
    x, index = node.inputs[0], node.inputs[2]
    rank = B.rank_of(x, node)
    dim = int(B.arg(node, 1, None)) % rank
    b = st.of(x)
    if b is None or st.of(index) != b or dim == b:
        raise B.Refuse(f"{B.where(node)} needs input and index batched alike, off the gather axis")
    B.set_outputs(node, st, b)


@op("GatherD", batch=_gather_elements_rule)
def gather_d(ctx):
    ctx.set_output(ctx.make("GatherElements", [ctx.tensor(0), ctx.cast(ctx.tensor(2), np.int64)],
                            axis=int(ctx.const(1))))


def _broadcast_to_rule(node, st: B.BatchState) -> None:
    b = st.of(node.inputs[0])
    rank = B.rank_of(node.inputs[0], node)
    target = B.ints(B.arg(node, 1, "shape"))
    if len(target) < rank:
        raise B.Refuse(f"{B.where(node)}: target shape shorter than the input")
    out_b = b + len(target) - rank
    target[out_b] = -1  # keep the input's (batch) size
    B.set_outputs(node, st, out_b)
    return {1: tuple(target)}


@op("BroadcastTo", batch=_broadcast_to_rule)
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


def _tile_rule(node, st: B.BatchState) -> None:
    b = st.of(node.inputs[0])
    rank = B.rank_of(node.inputs[0], node)
    reps = B.ints(B.arg(node, 1, "multiples"))
    out_b = b + max(len(reps) - rank, 0)
    k = out_b - max(len(reps), rank) + len(reps)
    if 0 <= k < len(reps) and reps[k] != 1:
        raise B.Refuse(f"{B.where(node)} repeats along the batch axis")
    B.set_outputs(node, st, out_b)


@op("Tile", batch=_tile_rule)
def tile(ctx):
    """Multiples may be computed at run time (`x.tile((batch, 1, 1))` with a symbolic batch):
    ONNX's Tile takes them as a tensor; only their count must be known."""
    reps = ctx.arg(1, "multiples")
    count = _vector_length(reps)
    if count is None:
        raise ConversionError(f"{ctx.where()}: multiples of unknown length")
    x = ctx.tensor(0)
    rank = ctx.in_rank(0)
    if count > rank:  # MindSpore prepends size-1 dims
        x = ctx.unsqueeze(x, list(range(count - rank)))
    shape = [1] * (count - rank) + list(ctx.in_shape(0))
    literal_ones = [not isinstance(r, ir.Value) and r == 1 for r in reps] \
        if isinstance(reps, (tuple, list)) else [False] * count
    literal_ones = [True] * (len(shape) - count) + literal_ones
    vector = ctx.ints(reps)
    if count < rank:
        vector = ctx.make("Concat", [ctx.initializer(np.ones(rank - count, np.int64)), vector],
                          axis=0)
    if not ctx.is_const(1) and all(d == 1 or one for d, one in zip(shape, literal_ones)):
        # run-time repeats of size-1 axes only (`pos.tile((batch, 1, 1))`): a broadcast, which
        # ONNX shape inference follows through the shape arithmetic (Tile's it cannot)
        ctx.set_output(ctx.make("Expand", [x, vector]))
        return
    ctx.set_output(ctx.make("Tile", [x, vector]))


def _vector_length(x):
    """How many ints a shape-like argument holds: a tuple (of literals and run-time scalars),
    a constant, or a 1-D tensor of static length; None when unknown."""
    if isinstance(x, ir.Value):
        if x.data is not None:
            return int(np.asarray(x.data).size)
        if x.rank == 0:
            return 1
        return int(x.shape[0]) if x.rank == 1 and x.shape[0] is not None else None
    if isinstance(x, (tuple, list)):
        return len(x)
    return 1


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


def _torch_pads_rule(node, st: B.BatchState) -> None:
    """Paddings as (begin, end) pairs from the last dimension backwards."""
    b = st.of(node.inputs[0])
    rank = B.rank_of(node.inputs[0], node)
    pads = B.ints(B.arg(node, 1, "paddings"))
    k = rank - 1 - b
    if 2 * k + 1 < len(pads) and (pads[2 * k] or pads[2 * k + 1]):
        raise B.Refuse(f"{B.where(node)} pads the batch axis")
    B.set_outputs(node, st, b)


@op("PadV3", batch=_torch_pads_rule)
def pad_v3(ctx):
    if not bool(ctx.node.attrs.get("paddings_contiguous", True)):
        raise ConversionError(f"{ctx.where()}: non-contiguous paddings")
    value = ctx.const(2, default=None)
    value = None if value is None else np.asarray(value).reshape(-1)[0]
    _pad(ctx, ctx.const(1), str(ctx.node.attrs.get("mode", "constant")), value)


@op("ConstantPadND", batch=_torch_pads_rule)
def constant_pad_nd(ctx):
    _pad(ctx, ctx.const(1), "constant", ctx.const(2, default=0.0))


@op("ReflectionPad1D", "ReflectionPad2D", "ReflectionPad3D", batch=_torch_pads_rule)
def reflection_pad(ctx):
    _pad(ctx, ctx.const(1), "reflect", None)


@op("ReplicationPad1D", "ReplicationPad2D", "ReplicationPad3D", batch=_torch_pads_rule)
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


@op("_BroadcastBatch", batch=B.repeated_over_batch)
def broadcast_batch(ctx):
    """Converter-internal (the --dynamic_batch analysis): repeat a tensor of size 1 on axis
    `axis` (default 0) to the batch of input 1 (which has it on axis 0)."""
    axis = int(ctx.node.attrs.get("axis", 0))
    shape = list(ctx.in_shape(0))
    batch = ctx.make("Slice", [ctx.make("Shape", [ctx.tensor(1)]), ctx.ints((0,)), ctx.ints((1,))])
    parts = ([ctx.initializer(np.array(shape[:axis], np.int64))] if axis else []) + [batch] + \
        ([ctx.initializer(np.array(shape[axis + 1:], np.int64))] if shape[axis + 1:] else [])
    target = parts[0] if len(parts) == 1 else ctx.make("Concat", parts, axis=0)
    ctx.set_output(ctx.make("Expand", [ctx.tensor(0), target]))


def _sample_index_rule(node, st: B.BatchState) -> None:
    """Converter-internal _SampleIndex: the batch on axis 0."""
    B.set_outputs(node, st, 0)


@op("_SampleIndex", batch=_sample_index_rule)
def sample_index(ctx):
    """Converter-internal (the --dynamic_batch analysis): the index of each sample, n at every
    position of sample n, for the batch of input 0 (on its axis 0), in the attribute `shape`
    with its axis 0 the batch."""
    shape = list(ctx.node.attrs["shape"])
    batch = ctx.dim(ctx.tensor(0), 0)
    index = ctx.arange(batch)
    index = ctx.make("Reshape", [index, ctx.initializer(np.array([-1] + [1] * (len(shape) - 1),
                                                                 np.int64))])
    if shape[1:]:
        target = ctx.make("Concat", [ctx.unsqueeze(batch, [0]),
                                     ctx.initializer(np.array(shape[1:], np.int64))], axis=0)
        index = ctx.make("Expand", [index, target])
    dtype = ctx.out_dtype()
    ctx.set_output(index if np.dtype(dtype) == np.int64 else ctx.cast(index, dtype))


# ----------------------------------------------------------------------------- more layout ops

def _per_dim_pads(ctx, paddings):
    rows = np.asarray(paddings, dtype=np.int64).reshape(-1, 2)
    rank = ctx.in_rank(0)
    if len(rows) != rank or np.any(rows < 0):
        raise ConversionError(f"{ctx.where()}: paddings {rows.tolist()} for rank {rank}")
    return rows


def _per_dim_pads_rule(node, st: B.BatchState) -> None:
    """Paddings as one (begin, end) row per dimension (legacy Pad, MirrorPad)."""
    b = st.of(node.inputs[0])
    pads = np.asarray(B.arg(node, 1, "paddings")).reshape(-1, 2)
    if b < len(pads) and np.any(pads[b]):
        raise B.Refuse(f"{B.where(node)} pads the batch axis")
    B.set_outputs(node, st, b)


@op("Pad", batch=_per_dim_pads_rule)
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


@op("MirrorPad", batch=_per_dim_pads_rule)
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
    B.set_outputs(node, st, b)
    if b < len(size):
        size[b] = -1
        return {2: tuple(size)}
    return None


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


def _positions(ctx, x: str, axis: int, size) -> str:
    """0..size-1 along `axis` of x (int64, 1-D): a constant for a static size, a Range over
    the run-time dimension otherwise."""
    if size is not None:
        return ctx.initializer(np.arange(size, dtype=np.int64))
    return ctx.arange(ctx.dim(x, axis))


@op("Tril", "Triu", batch=_trilu_rule)
def trilu_masked(ctx):
    """Before ONNX Trilu (opset 14): the matrix (last two axes) selected by a triangular mask,
    column - row <= k (Tril) or >= k (Triu). Static sizes give a constant mask (MASTER's causal
    decoder masks); run-time ones build it from the matrix's row and column positions."""
    shape = ctx.in_shape(0)
    if not shape or len(shape) < 2:
        raise ConversionError(f"{ctx.where()}: a triangle of a tensor of fewer than 2 axes")
    rows, cols = shape[-2], shape[-1]
    k = int(ctx.const(1, "diagonal", 0))
    upper = ctx.node.op_type == "Triu"
    x = ctx.tensor(0)
    if rows is not None and cols is not None:
        ones = np.ones((rows, cols), np.bool_)
        mask = ctx.initializer(np.triu(ones, k) if upper else np.tril(ones, k))
    else:
        rank = len(shape)
        offset = ctx.make("Sub", [ctx.unsqueeze(_positions(ctx, x, rank - 1, cols), [0]),
                                  ctx.unsqueeze(_positions(ctx, x, rank - 2, rows), [1])])
        mask = ctx.make("GreaterOrEqual" if upper else "LessOrEqual",
                        [offset, ctx.initializer(np.array(k, np.int64))])
    dtype = ctx.out_dtype()
    ctx.set_output(ctx.make("Where", [mask, x, ctx.initializer(np.zeros((), dtype))]))


@op("Tril", "Triu", since=14)
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

