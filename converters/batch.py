"""Batch-axis rules, declared by each handler next to its lowering (``@op(..., batch=RULE)``).

The --dynamic_batch analysis (`passes/dynamic_batch.py`) walks a static IR graph and tracks,
per tensor, which axis carries the batch, as the *outermost factor* of that dimension: a tensor
of shape (..., k*B, ...) whose index along that axis is ``sample * k + inner``. A rule sees a
node with at least one batch-carrying input, checks that the operator never mixes samples
and says where the batch axis is in each output (or refuses, with the reason). Rules may also
rewrite the node so that it no longer bakes the static batch size in (e.g. a Reshape target
with -1 in the batch position).

The building blocks below cover most operators; handlers with special needs write their own.
"""
from typing import Callable, Dict, Optional, Sequence

import numpy as np

from . import ir
from .errors import ConversionError

Rule = Callable[["ir.Node", "BatchState"], None]


class Refuse(ConversionError):
    """The batch axis cannot be proven to survive this node (the message says why)."""


class BatchState:
    """Which axis carries the batch, per IR Value (by identity)."""

    def __init__(self, batch: int):
        self.batch = batch
        self.axis: Dict[int, int] = {}

    def of(self, v) -> Optional[int]:
        return self.axis.get(id(v)) if isinstance(v, ir.Value) else None

    def carries(self, v) -> bool:
        return self.of(v) is not None

    def set(self, v: ir.Value, axis: int) -> None:
        rank = v.rank
        if rank is None:
            raise Refuse(f"'{v.name}' has unknown rank")
        if not 0 <= axis < max(rank, 1):
            raise Refuse(f"'{v.name}': batch axis {axis} outside rank {rank}")
        self.axis[id(v)] = axis


# ----------------------------------------------------------------------------- helpers

def where(node) -> str:
    return f"{node.op_type} node '{node.name}'" + (f" ({node.scope})" if node.scope else "")


def arg(node, pos, name=None, default=None):
    """A constant argument (node input `pos` or primitive attribute `name`)."""
    if pos is not None and pos < len(node.inputs):
        x = node.inputs[pos]
    elif name is not None and name in node.attrs:
        x = node.attrs[name]
    else:
        x = default
    if isinstance(x, ir.Value):
        if x.data is None:
            raise Refuse(f"{where(node)} has a run-time {name or pos}")
        return x.data
    if isinstance(x, (tuple, list)) and any(isinstance(e, ir.Value) and e.data is None
                                            for e in x):
        raise Refuse(f"{where(node)} has a run-time {name or pos}")
    return x


def ints(v):
    if v is None:
        return []
    if isinstance(v, (int, np.integer, bool)):
        return [int(v)]
    return [int(a) for a in np.asarray(v).reshape(-1)]


def first_carrier(node, st: BatchState):
    for v in ir.iter_values(node.inputs):
        if st.carries(v):
            return v
    raise Refuse(f"{where(node)}: no batch input")  # never: rules run only with one


def _rank(v, node) -> int:
    if not isinstance(v, ir.Value) or v.rank is None:
        raise Refuse(f"{where(node)}: an input of unknown rank")
    return v.rank


def set_outputs(node, st: BatchState, axis: int, outputs=None) -> None:
    for out in (node.outputs if outputs is None else outputs):
        if out.rank:
            st.set(out, axis)


# ----------------------------------------------------------------------------- rules

def elementwise(node, st: BatchState) -> None:
    """Broadcasting element-wise ops: batch inputs must agree on the (right-aligned) output
    axis; other inputs must have size 1 there (or not reach it)."""
    set_outputs(node, st, broadcast_axis(node, st, range(len(node.inputs)),
                                         _rank(node.outputs[0], node)))


def broadcast_axis(node, st: BatchState, operands: Sequence[int], out_rank: int) -> int:
    """The axis of the broadcast shape (rank out_rank) on which the batch inputs among the
    `operands` (input positions) agree, right-aligned. Any other operand must have size 1
    there or not reach it; a constant uniform along it is rewritten to one slice."""
    axis = None
    for v in ir.iter_values([node.inputs[i] for i in operands]):
        if st.carries(v):
            a = st.of(v) + out_rank - _rank(v, node)
            if axis is not None and a != axis:
                raise Refuse(f"{where(node)} combines batch tensors with batch on different "
                             f"axes ({axis}, {a})")
            axis = a
    for i in operands:
        v = node.inputs[i]
        if isinstance(v, ir.Value) and not st.carries(v) and v.shape:
            k = axis - (out_rank - len(v.shape))
            if k >= 0 and v.shape[k] != 1:
                uniform = _first_slice_if_uniform(v, k)
                if uniform is None:
                    raise Refuse(f"{where(node)} combines a batch tensor with a constant of "
                                 f"size {v.shape[k]} along the batch axis")
                node.inputs[i] = uniform
    return axis


def _first_slice_if_uniform(v: ir.Value, k: int) -> Optional[ir.Value]:
    """A constant whose slices along axis k are all equal (e.g. a zero initial state, or a bias
    MindSpore folded into one row per sample) as its first slice: broadcasting restores it at
    any batch size. None when the slices differ or it is computed at run time."""
    if v.data is None or np.ndim(v.data) != len(v.shape):
        return None
    first = np.take(v.data, [0], axis=k)
    same = np.array_equal(v.data, np.broadcast_to(first, v.data.shape),
                          equal_nan=v.data.dtype.kind in "fc")
    if not same:
        return None
    shape = tuple(1 if i == k else d for i, d in enumerate(v.shape))
    return ir.Value(f"{v.name}/one_sample", v.dtype, shape, "constant", data=first)


def per_sample(node, st: BatchState) -> None:
    """NC... operators (convolution, pooling, normalisation with running statistics, resize):
    input 0 has the batch on axis 0, nothing else may carry it."""
    x = node.inputs[0]
    if st.of(x) != 0:
        raise Refuse(f"{where(node)} needs the batch on axis 0 of its input "
                     f"(it is on axis {st.of(x)})")
    for v in ir.iter_values(node.inputs[1:]):
        if st.carries(v):
            raise Refuse(f"{where(node)} takes a batch tensor as a weight")
    set_outputs(node, st, 0)


def along(pos: int, name: Optional[str], default=0, stacked: bool = False) -> Rule:
    """Operators working along one axis (softmax, cumsum, sort, top-k, split, concat): fine
    unless that axis is the batch axis. `stacked`: the op inserts a new axis there (Stack)."""
    def rule(node, st: BatchState) -> None:
        first = node.inputs[0]
        items = list(first) if isinstance(first, (tuple, list)) else [first]
        items = [v for v in items if isinstance(v, ir.Value)]
        carriers = [v for v in items if st.carries(v)]
        if not carriers:
            raise Refuse(f"{where(node)} takes the batch tensor as a parameter")
        b = st.of(carriers[0])
        if any(st.of(v) != b for v in carriers):
            raise Refuse(f"{where(node)} joins tensors whose batch axes differ")
        if len(carriers) != len(items):
            raise Refuse(f"{where(node)} joins a batch tensor with a constant one")
        rank = _rank(carriers[0], node)
        values = ints(arg(node, pos, name, default))
        if not values:
            raise Refuse(f"{where(node)} works along every axis, the batch axis included")
        axis = values[0] % (rank + (1 if stacked else 0))
        # stacking inserts a new axis (in front of the batch when axis <= b): samples stay apart
        if axis == b and not stacked:
            raise Refuse(f"{where(node)} works along the batch axis")
        out_b = b + 1 if stacked and axis <= b else b
        set_outputs(node, st, out_b)
    rule.text = ("stacks along a new axis (never mixes samples); the batch axis shifts "
                 "behind it") if stacked else \
        "works along one axis; refused when that axis is the batch axis"
    return rule


def reduce(pos: int, name: Optional[str], keep_pos: Optional[int], keep_name: Optional[str],
           keep_default=False, default=()) -> Rule:
    """Reductions over listed axes (all axes when none are given)."""
    def rule(node, st: BatchState) -> None:
        x = node.inputs[0]
        b, rank = st.of(x), _rank(x, node)
        if b is None:
            raise Refuse(f"{where(node)} takes the batch tensor as a parameter")
        axes = sorted({a % rank for a in ints(arg(node, pos, name, default))})
        if not axes or b in axes:
            raise Refuse(f"{where(node)} reduces over the batch axis")
        keep = bool(arg(node, keep_pos, keep_name, keep_default))
        set_outputs(node, st, b if keep else b - sum(a < b for a in axes))
    rule.text = "reduction; refused when it reduces over the batch axis"
    return rule


def refuse(reason: str) -> Rule:
    def rule(node, st: BatchState) -> None:
        raise Refuse(f"{where(node)} {reason}")
    rule.reason = reason
    return rule


def same_axis(node, st: BatchState) -> None:
    """Output has the batch where input 0 has it (shape-preserving, any axis)."""
    b = st.of(node.inputs[0])
    if b is None:
        raise Refuse(f"{where(node)} takes the batch tensor as a parameter")
    for v in ir.iter_values(node.inputs[1:]):
        if st.carries(v):
            raise Refuse(f"{where(node)} takes a batch tensor as a parameter")
    set_outputs(node, st, b)


# the names a handler may use; the table generator prints them
ELEMENTWISE = elementwise
PER_SAMPLE = per_sample
SAME_AXIS = same_axis


def describe(rule) -> str:
    """One line for the support table."""
    if rule is None:
        return "none"
    if getattr(rule, "reason", None):
        return "refused: " + rule.reason
    if getattr(rule, "text", None):
        return rule.text
    doc = (rule.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(doc.split()) or rule.__name__


# ----------------------------------------------------------------------------- shape rules

def _prod(dims) -> int:
    p = 1
    for d in dims:
        p *= int(d)
    return p


def _static(shape, node, what):
    if shape is None or any(d is None for d in shape):
        raise Refuse(f"{where(node)} has no static {what} shape")
    return [int(d) for d in shape]


def reshape(node, st: BatchState) -> None:
    """Keeps the batch when it stays the outer factor of one output dimension: the output axis
    k where the dimensions before it hold exactly the elements before the batch, and the
    dimensions after it fit inside one sample. The target gets -1 there."""
    x = node.inputs[0]
    b = st.of(x)
    if b is None:
        raise Refuse(f"{where(node)} takes its shape from a batch tensor")
    shape = _static(x.shape, node, "input")
    out = _static(node.outputs[0].shape, node, "output")
    batch = st.batch
    if shape[b] % batch:
        raise Refuse(f"{where(node)}: batch axis size {shape[b]} is not a multiple of {batch}")
    before = _prod(shape[:b])
    inner = shape[b] // batch * _prod(shape[b + 1:])
    for k in range(len(out)):
        head = _prod(out[:k])
        if head > before:
            break
        if head == before and out[k] % batch == 0 and inner % max(_prod(out[k + 1:]), 1) == 0:
            node.inputs[1:] = [tuple(-1 if i == k else d for i, d in enumerate(out))]
            st.set(node.outputs[0], k)
            return
    raise Refuse(f"{where(node)} reshapes {tuple(shape)} to {tuple(out)}, which splits or "
                 f"merges the batch (axis {b}) with other dimensions")


def transpose(node, st: BatchState) -> None:
    b = st.of(node.inputs[0])
    rank = _rank(node.inputs[0], node)
    perm = [p % rank for p in ints(arg(node, 1, "perm"))]
    if sorted(perm) != list(range(rank)):
        raise Refuse(f"{where(node)}: perm {perm} is not a permutation of {rank} axes")
    set_outputs(node, st, perm.index(b))


def expand_dims(node, st: BatchState) -> None:
    b = st.of(node.inputs[0])
    rank = _rank(node.inputs[0], node) + 1
    a = int(ints(arg(node, 1, "axis"))[0]) % rank
    set_outputs(node, st, b + 1 if a <= b else b)


def squeeze(node, st: BatchState) -> None:
    x = node.inputs[0]
    b, shape = st.of(x), x.shape
    dims = arg(node, 1, "axis" if node.op_type == "Squeeze" else None, None)
    axes = [a % len(shape) for a in ints(dims)] if ints(dims) else \
        [i for i, d in enumerate(shape) if d == 1]
    axes = sorted({a for a in axes if shape[a] == 1})
    if b in axes:
        raise Refuse(f"{where(node)} squeezes the batch axis")
    # explicit axes: after the rewrite the batch dimension is symbolic, not 1
    node.inputs[1:] = [tuple(axes)]
    set_outputs(node, st, b - sum(a < b for a in axes))


def unstack(node, st: BatchState) -> None:
    b = st.of(node.inputs[0])
    rank = _rank(node.inputs[0], node)
    a = int(ints(arg(node, 1, "axis", node.attrs.get("dim", 0)))[0]) % rank
    if a == b:
        raise Refuse(f"{where(node)} unstacks along the batch axis")
    set_outputs(node, st, b if b < a else b - 1)


def flatten(node, st: BatchState) -> None:
    if st.of(node.inputs[0]) != 0:
        raise Refuse(f"{where(node)} flattens the batch axis into others")
    set_outputs(node, st, 0)


def flatten_range(node, st: BatchState) -> None:
    b = st.of(node.inputs[0])
    rank = _rank(node.inputs[0], node)
    start = int(arg(node, 1, None, 0)) % rank
    end = int(arg(node, 2, None, -1)) % rank
    if start < b <= end:
        raise Refuse(f"{where(node)} flattens the batch axis under an outer dimension")
    set_outputs(node, st, b if b <= start else b - (end - start))


def strided_slice(node, st: BatchState) -> None:
    """Slices may not cut the batch axis; a full slice of it is rewritten to run to the end."""
    x = node.inputs[0]
    b, shape = st.of(x), x.shape
    rank = len(shape)
    begin, end, strides = (list(ints(arg(node, i, n))) for i, n in
                           ((1, "begin"), (2, "end"), (3, "strides")))
    masks = [int(arg(node, 4 + i, n, 0)) for i, n in enumerate(
        ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"))]
    begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_mask = masks
    m = len(begin)
    real = sum(1 for i in range(m) if not (ellipsis_mask >> i) & 1 and not (new_axis_mask >> i) & 1)
    d = out_pos = 0
    out_b = None
    for i in range(m):
        if (ellipsis_mask >> i) & 1:
            cover = rank - real
            if d <= b < d + cover:
                out_b = out_pos + (b - d)
            d += cover
            out_pos += cover
            continue
        if (new_axis_mask >> i) & 1:
            out_pos += 1
            continue
        if d == b:
            if (shrink_mask >> i) & 1:
                raise Refuse(f"{where(node)} takes one element of the batch axis")
            full_begin = (begin_mask >> i) & 1 or begin[i] in (0, -shape[b])
            full_end = (end_mask >> i) & 1 or end[i] >= shape[b]
            if strides[i] != 1 or not full_begin or not full_end:
                raise Refuse(f"{where(node)} slices the batch axis")
            begin[i], end[i] = 0, int(np.iinfo(np.int64).max)
            out_b = out_pos
        if not (shrink_mask >> i) & 1:
            out_pos += 1
        d += 1
    if out_b is None:  # the batch axis lies after the listed entries: untouched
        out_b = out_pos + (b - d)
    node.inputs[1], node.inputs[2] = tuple(begin), tuple(end)
    set_outputs(node, st, out_b)


def slice_dim(node, st: BatchState) -> None:
    """(input, dim, start, end, step) / Narrow (input, dim, start, length)."""
    b = st.of(node.inputs[0])
    rank = _rank(node.inputs[0], node)
    if int(arg(node, 1, None)) % rank == b:
        raise Refuse(f"{where(node)} slices the batch axis")
    set_outputs(node, st, b)


def gather(node, st: BatchState) -> None:
    params, idx = node.inputs[0], node.inputs[1]
    rank = _rank(params, node)
    axis = int(arg(node, 2, "axis", 0)) % rank
    pb, ib = st.of(params), st.of(idx)
    if pb is not None and ib is not None:
        raise Refuse(f"{where(node)} gathers a batch tensor with batch indices")
    if pb is not None:
        if axis == pb:
            raise Refuse(f"{where(node)} gathers along the batch axis")
        idx_rank = idx.rank if isinstance(idx, ir.Value) else np.ndim(idx)
        set_outputs(node, st, pb if pb < axis else pb + idx_rank - 1)
    else:
        set_outputs(node, st, axis + ib)  # embedding lookup: one row per index


def gather_elements(node, st: BatchState) -> None:
    x, index = node.inputs[0], node.inputs[2]
    rank = _rank(x, node)
    dim = int(arg(node, 1, None)) % rank
    b = st.of(x)
    if b is None or st.of(index) != b or dim == b:
        raise Refuse(f"{where(node)} needs input and index batched alike, off the gather axis")
    set_outputs(node, st, b)


def broadcast_to(node, st: BatchState) -> None:
    b = st.of(node.inputs[0])
    rank = _rank(node.inputs[0], node)
    target = ints(arg(node, 1, "shape"))
    if len(target) < rank:
        raise Refuse(f"{where(node)}: target shape shorter than the input")
    out_b = b + len(target) - rank
    target[out_b] = -1  # keep the input's (batch) size
    node.inputs[1:] = [tuple(target)]
    set_outputs(node, st, out_b)


def tile(node, st: BatchState) -> None:
    b = st.of(node.inputs[0])
    rank = _rank(node.inputs[0], node)
    reps = ints(arg(node, 1, "multiples"))
    out_b = b + max(len(reps) - rank, 0)
    k = out_b - max(len(reps), rank) + len(reps)
    if 0 <= k < len(reps) and reps[k] != 1:
        raise Refuse(f"{where(node)} repeats along the batch axis")
    set_outputs(node, st, out_b)


def torch_pads(node, st: BatchState) -> None:
    """Paddings as (begin, end) pairs from the last dimension backwards."""
    b = st.of(node.inputs[0])
    rank = _rank(node.inputs[0], node)
    pads = ints(arg(node, 1, "paddings"))
    k = rank - 1 - b
    if 2 * k + 1 < len(pads) and (pads[2 * k] or pads[2 * k + 1]):
        raise Refuse(f"{where(node)} pads the batch axis")
    set_outputs(node, st, b)


def per_dim_pads(node, st: BatchState) -> None:
    """Paddings as one (begin, end) row per dimension (legacy Pad, MirrorPad)."""
    b = st.of(node.inputs[0])
    pads = np.asarray(arg(node, 1, "paddings")).reshape(-1, 2)
    if b < len(pads) and np.any(pads[b]):
        raise Refuse(f"{where(node)} pads the batch axis")
    set_outputs(node, st, b)


def matmul(node, st: BatchState) -> None:
    """Batch on a broadcast (leading) axis, on the rows of A or on the columns of B; never on
    a contracted axis."""
    a, bm = node.inputs[0], node.inputs[1]
    out_rank = _rank(node.outputs[0], node)
    flags = {"MatMul": (2, "transpose_a", 3, "transpose_b"),
             "BatchMatMul": (2, "transpose_a", 3, "transpose_b")}.get(node.op_type)
    ta = tb = False
    if flags:
        ta = bool(arg(node, flags[0], flags[1], node.attrs.get("transpose_x1", False)))
        tb = bool(arg(node, flags[2], flags[3], node.attrs.get("transpose_x2", False)))
    if node.op_type == "Dense":
        tb = True  # y = x W^T
    axes = set()
    for v, t, is_a in ((a, ta, True), (bm, tb, False)):
        ax = st.of(v)
        if ax is None:
            continue
        r = _rank(v, node)
        if r == 1:
            raise Refuse(f"{where(node)} contracts over the batch")
        row, col = (r - 1, r - 2) if t else (r - 2, r - 1)
        if (is_a and ax == col) or (not is_a and ax == row):
            raise Refuse(f"{where(node)} contracts over the batch")
        if ax == row:
            axes.add(out_rank - 2)
        elif ax == col:
            axes.add(out_rank - 1)
        else:
            axes.add(ax + out_rank - r)
    if len(axes) != 1:
        raise Refuse(f"{where(node)} multiplies tensors batched on different axes")
    out_b = axes.pop()
    if out_b < out_rank - 2:
        for v in (a, bm):
            if not st.carries(v) and isinstance(v, ir.Value) and v.shape:
                k = out_b - (out_rank - len(v.shape))
                if 0 <= k < len(v.shape) - 2 and v.shape[k] != 1:
                    raise Refuse(f"{where(node)} multiplies by a batch-sized constant")
    set_outputs(node, st, out_b)


def channel_op(channel_axis: Callable) -> Rule:
    """Same-shape ops with per-channel parameters (BiasAdd, PReLU): the batch may sit on any
    axis but the channel one."""
    def rule(node, st: BatchState) -> None:
        x = node.inputs[0]
        b = st.of(x)
        if b is None or any(st.carries(v) for v in ir.iter_values(node.inputs[1:])):
            raise Refuse(f"{where(node)} takes a batch tensor as a parameter")
        if b == channel_axis(node, _rank(x, node)):
            raise Refuse(f"{where(node)} has per-channel parameters along the batch axis")
        set_outputs(node, st, b)
    rule.text = "per-channel parameters; the batch may be on any other axis"
    return rule


def normalize_from(axis_of: Callable) -> Rule:
    """LayerNorm-like: statistics over the axes from `axis_of(node, rank)` to the end."""
    def rule(node, st: BatchState) -> None:
        x = node.inputs[0]
        b = st.of(x)
        if b is None:
            raise Refuse(f"{where(node)} takes a batch tensor as a parameter")
        if b >= axis_of(node, _rank(x, node)) % _rank(x, node):
            raise Refuse(f"{where(node)} normalises over the batch axis")
        set_outputs(node, st, b)
    rule.text = "normalises trailing axes; refused when they include the batch axis"
    return rule


def batch_axis_zero(node, st: BatchState) -> None:
    """Converter-internal _BroadcastBatch: its output is batched like input 1, on axis 0."""
    set_outputs(node, st, 0)
