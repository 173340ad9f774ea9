"""The generic batch rules: building blocks a handler declares (``@op(..., batch=RULE)``).

Element-wise broadcasting, per-sample (NC...) operators, operators along one axis,
reductions, per-channel parameters, trailing-axis normalisation, refusals. A rule an operator
alone needs lives next to its handler in `converters/handlers/` (Reshape's, StridedSlice's,
MatMul's...). See `state` for what a rule is.
"""
from typing import Callable, Optional, Sequence, Tuple

import numpy as np

from .. import ir
from ..ir_constants import value_of
from .state import (BatchState, Refuse, Rewrites, Rule, arg, ints, keeps_outer, rank_of,
                    set_outputs, where)


# ----------------------------------------------------------------------------- rules

@keeps_outer
def elementwise(node, st: BatchState) -> Rewrites:
    """Broadcasting element-wise ops: batch inputs must agree on the (right-aligned) output
    axis; other inputs must have size 1 there (or not reach it)."""
    axis, rewrites = broadcast_axis(node, st, range(len(node.inputs)),
                                    rank_of(node.outputs[0], node))
    set_outputs(node, st, axis)
    return rewrites


def broadcast_axis(node, st: BatchState, operands: Sequence[int],
                   out_rank: int) -> Tuple[int, Rewrites]:
    """The axis of the broadcast shape (rank out_rank) on which the batch inputs among the
    `operands` (input positions) agree, right-aligned, and the rewrites: any other operand
    must have size 1 there or not reach it; a constant uniform along it becomes one slice."""
    axis, rewrites = None, {}
    for v in ir.iter_values([node.inputs[i] for i in operands]):
        if st.carries(v):
            a = st.of(v) + out_rank - rank_of(v, node)
            if axis is not None and a != axis:
                raise Refuse(f"{where(node)} combines batch tensors with batch on different "
                             f"axes ({axis}, {a})")
            axis = a
    for i in operands:
        v = node.inputs[i]
        if isinstance(v, ir.Value) and not st.carries(v) and v.shape:
            k = axis - (out_rank - len(v.shape))
            if k >= 0 and v.shape[k] != 1:
                uniform = first_slice_if_uniform(v, k)
                if uniform is None:
                    why = (f"{where(node)} combines a batch tensor with a constant of "
                           f"size {v.shape[k]} along the batch axis")
                    sources = batch_sized_sources(v, st)
                    raise Reseed(why, sources) if sources else Refuse(why)
                rewrites[i] = uniform
    return axis, rewrites


def first_slice_if_uniform(v: ir.Value, k: int) -> Optional[ir.Value]:
    """A constant whose slices along axis k are all equal (e.g. a zero initial state, a bias
    MindSpore folded into one row per sample, nn.Threshold's FillV2 of the export's shape) as
    its first slice: broadcasting restores it at any batch size. None when the slices differ
    or it depends on run-time data."""
    data = v.data if v.data is not None else value_of(v)
    if data is None or np.ndim(data) != len(v.shape):
        return None
    first = np.take(data, [0], axis=k)
    same = np.array_equal(data, np.broadcast_to(first, data.shape),
                          equal_nan=data.dtype.kind in "fc")
    if not same:
        return None
    shape = tuple(1 if i == k else d for i, d in enumerate(v.shape))
    return ir.Value(f"{v.name}/one_sample", v.dtype, shape, "constant", data=first)


class Reseed(Refuse):
    """A sample-independent tensor computed at run time meets the batch at the export's batch
    size: `sources` are the constants it comes from, with the axes of that size they are
    uniform along (a zero initial state an unrolled GRU multiplies by its weights). The
    analysis tries again with each repeated over the batch on one of those axes."""

    def __init__(self, message: str, sources):
        super().__init__(message)
        self.sources = sources


def batch_sized_sources(v: ir.Value, st: BatchState, limit: int = 64):
    """[(constant, axes)]: the constants `v` is computed from that have axes of the batch
    size and are uniform along them; [] when anything else feeds `v` (a graph input, a batch
    tensor) or the search goes past `limit` values."""
    found, stack, seen = [], [v], set()
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if len(seen) > limit or st.carries(x):
            return []
        if x.data is not None:
            axes = [a for a, d in enumerate(x.shape or ())
                    if d == st.batch and first_slice_if_uniform(x, a) is not None]
            if axes:
                found.append((x, axes))
            continue
        if x.producer is None:
            return []
        stack.extend(ir.iter_values(x.producer.inputs))
    return found


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
    unless that axis is the batch axis. `stacked`: the op inserts a new axis there (Stack).
    The axis is the constant argument `pos` / attribute `name`."""
    return along_axis(lambda node: arg(node, pos, name, default), stacked)


def along_axis(axis_of: Callable, stacked: bool = False) -> Rule:
    """`along`, the axis read by `axis_of(node)` (an operator's own argument spec)."""
    @keeps_outer
    def rule(node, st: BatchState) -> None:
        first = node.inputs[0]
        items = list(first) if isinstance(first, (tuple, list)) else [first]
        set_outputs(node, st, along_output_axis(node, st, items, axis_of(node), stacked))
    rule.text = ("stacks along a new axis (never mixes samples); the batch axis shifts "
                 "behind it") if stacked else \
        "works along one axis; refused when that axis is the batch axis"
    return rule


def along_output_axis(node, st: BatchState, items, axis, stacked: bool = False) -> int:
    """The batch axis of the result of working along `axis` of (joining) the tensors `items`."""
    items = [v for v in items if isinstance(v, ir.Value)]
    carriers = [v for v in items if st.carries(v)]
    if not carriers:
        raise Refuse(f"{where(node)} takes the batch tensor as a parameter")
    b = st.of(carriers[0])
    if any(st.of(v) != b for v in carriers):
        raise Refuse(f"{where(node)} joins tensors whose batch axes differ")
    if len(carriers) != len(items):
        raise Refuse(f"{where(node)} joins a batch tensor with a constant one")
    rank = rank_of(carriers[0], node)
    values = ints(axis)
    if not values:
        raise Refuse(f"{where(node)} works along every axis, the batch axis included")
    axis = values[0] % (rank + (1 if stacked else 0))
    # stacking inserts a new axis (in front of the batch when axis <= b): samples stay apart
    if axis == b and not stacked:
        raise Refuse(f"{where(node)} works along the batch axis")
    return b + 1 if stacked and axis <= b else b


def reduce(pos: int, name: Optional[str], keep_pos: Optional[int], keep_name: Optional[str],
           keep_default=False, default=()) -> Rule:
    """Reductions over listed axes (all axes when none are given)."""
    @keeps_outer
    def rule(node, st: BatchState) -> None:
        x = node.inputs[0]
        b, rank = st.of(x), rank_of(x, node)
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


@keeps_outer
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




def channel_op(channel_axis: Callable) -> Rule:
    """Same-shape ops with per-channel parameters (BiasAdd, PReLU): the batch may sit on any
    axis but the channel one."""
    @keeps_outer
    def rule(node, st: BatchState) -> None:
        x = node.inputs[0]
        b = st.of(x)
        if b is None or any(st.carries(v) for v in ir.iter_values(node.inputs[1:])):
            raise Refuse(f"{where(node)} takes a batch tensor as a parameter")
        if b == channel_axis(node, rank_of(x, node)):
            raise Refuse(f"{where(node)} has per-channel parameters along the batch axis")
        set_outputs(node, st, b)
    rule.text = "per-channel parameters; the batch may be on any other axis"
    return rule


def normalize_from(axis_of: Callable) -> Rule:
    """LayerNorm-like: statistics over the axes from `axis_of(node, rank)` to the end."""
    @keeps_outer
    def rule(node, st: BatchState) -> None:
        x = node.inputs[0]
        b = st.of(x)
        if b is None:
            raise Refuse(f"{where(node)} takes a batch tensor as a parameter")
        if b >= axis_of(node, rank_of(x, node)) % rank_of(x, node):
            raise Refuse(f"{where(node)} normalises over the batch axis")
        set_outputs(node, st, b)
    rule.text = "normalises trailing axes; refused when they include the batch axis"
    return rule


def repeated_over_batch(node, st: BatchState) -> None:
    """Converter-internal _BroadcastBatch: its output is repeated over the batch on its
    `axis` (default 0)."""
    set_outputs(node, st, int(node.attrs.get("axis", 0)))
