"""What the --dynamic_batch analysis knows per tensor, and the helpers every batch rule uses.

A rule is `rule(node, state) -> rewrites`: it checks that the operator never mixes samples,
records where the batch axis is in each output (`set_outputs`) and returns the node inputs to
replace ({position: new value}; None or {} for none) so that the node no longer bakes the
static batch size in (a Reshape target with -1 in the batch position). It raises `Refuse`,
with the reason, where it cannot prove the batch axis survives. The analysis applies the
rewrites (`apply_rewrites`); rules never assign to `node.inputs` themselves.
"""
from typing import Any, Callable, Dict, Optional

import numpy as np

from .. import ir
from ..errors import ConversionError
from ..primitive_args import constant, where

Rewrites = Optional[Dict[int, Any]]   # node input position -> its replacement
Rule = Callable[["ir.Node", "BatchState"], Rewrites]


class Refuse(ConversionError):
    """The batch axis cannot be proven to survive this node (the message says why)."""


class BatchState:
    """Which axis carries the batch, per IR Value (by identity), and its outer factor: the
    batch axis of a tensor of outer factor m has size m * B * q, its index
    ``(o * B + sample) * q + inner`` -- m > 1 after a time-major (T, N, C) is flattened to
    (T*N, C) for a Dense (DeepSpeech2's SequenceWise, MindOCR's CTC heads). Only rules marked
    `keeps_outer` (or `sets_outer`) take such a tensor.

    Where a rule has several readings that each keep the samples apart (a Reshape of a batch-1
    export), it asks `choose`: the analysis tries the first, and another when a later node
    refuses (`plan`, by node, from the analysis; `points`, the choices made, in order)."""

    def __init__(self, batch: int, plan: Optional[Dict[int, int]] = None):
        self.batch = batch
        self.axis: Dict[int, int] = {}
        self.outers: Dict[int, int] = {}
        self.plan = plan if plan is not None else {}
        self.points = []   # (node id, number of readings), in the order the rules asked

    def of(self, v) -> Optional[int]:
        return self.axis.get(id(v)) if isinstance(v, ir.Value) else None

    def carries(self, v) -> bool:
        return self.of(v) is not None

    def outer(self, v) -> int:
        return self.outers.get(id(v), 1) if isinstance(v, ir.Value) else 1

    def set(self, v: ir.Value, axis: int, outer: int = 1) -> None:
        rank = v.rank
        if rank is None:
            raise Refuse(f"'{v.name}' has unknown rank")
        if not 0 <= axis < max(rank, 1):
            raise Refuse(f"'{v.name}': batch axis {axis} outside rank {rank}")
        self.axis[id(v)] = axis
        if outer != 1:
            self.outers[id(v)] = outer
        else:
            self.outers.pop(id(v), None)

    def choose(self, key, readings):
        """One of the `readings` (best first) of `key` (a node, or a constant the analysis
        repeats over the batch): the plan's, else the first."""
        self.points.append((id(key), len(readings)))
        return readings[self.plan.get(id(key), 0)]


def keeps_outer(rule):
    """Mark a rule whose outputs keep their batch-carrying inputs' outer factor (the analysis
    checks those agree and copies it): element-wise ops, matrix rows, transposes, operators
    along another axis."""
    rule.keeps_outer = True
    return rule


def arg(node, pos, name=None, default=None):
    """A constant argument (node input `pos` or primitive attribute `name`); one computed at
    run time cannot be proven batch-free: Refuse."""
    try:
        return constant(node, pos, name, default)
    except ConversionError as exc:
        raise Refuse(str(exc)) from exc


def ints(v):
    if v is None:
        return []
    if isinstance(v, (int, np.integer, bool)):
        return [int(v)]
    return [int(a) for a in np.asarray(v).reshape(-1)]


def batch_node(name: str, op_type: str, inputs, attrs, dtype, shape, axis: int, scope,
               st: BatchState):
    """A converter-internal node the analysis creates (_BroadcastBatch, _SampleIndex): its one
    output, of `shape`, a batch tensor on `axis`. The caller puts the node (the output's
    producer) into the graph."""
    node = ir.Node(name, op_type, list(inputs), [], attrs, scope)
    node.outputs.append(ir.Value(name, dtype, tuple(shape), "node", node, 0))
    st.set(node.outputs[0], axis)
    return node.outputs[0]


def repeat_over_batch(name: str, value, ref, axis: int, shape, scope, st: BatchState):
    """A _BroadcastBatch node that repeats `value` (size 1 on `axis`) to the batch of `ref` (a
    batch tensor on axis 0): its output, a batch tensor on `axis` (`batch_node`)."""
    return batch_node(name, "_BroadcastBatch", [value, ref], {"axis": axis}, value.dtype, shape,
                      axis, scope, st)


def is_sample_index(data, samples: int) -> bool:
    """Is the compile-time integer array `data` the sample index along its axis 0 -- n at every
    position of slice n, for `samples` slices (`ops.arange(N)[:, None]` as a static export of
    batch N folds it)?"""
    if data is None or data.ndim < 1 or data.shape[0] != samples or data.dtype.kind not in "iu":
        return False
    index = np.arange(samples).reshape([samples] + [1] * (data.ndim - 1))
    return bool(np.array_equal(data, np.broadcast_to(index, data.shape)))


def common_outer(node, st: BatchState, carriers) -> int:
    """The outer factor the batch tensors `carriers` share (1 for none); Refuse if they
    differ."""
    outers = {st.outer(v) for v in carriers}
    if len(outers) > 1:
        raise Refuse(f"{where(node)} combines tensors whose batch axes hold other dimensions "
                     f"of different sizes")
    return outers.pop() if outers else 1


def first_carrier(node, st: BatchState):
    for v in ir.iter_values(node.inputs):
        if st.carries(v):
            return v
    raise Refuse(f"{where(node)}: no batch input")  # never: rules run only with one


def rank_of(v, node) -> int:
    if not isinstance(v, ir.Value) or v.rank is None:
        raise Refuse(f"{where(node)}: an input of unknown rank")
    return v.rank


def set_outputs(node, st: BatchState, axis: int, outputs=None, outer: int = 1) -> None:
    for out in (node.outputs if outputs is None else outputs):
        if out.rank:
            st.set(out, axis, outer)


def prod(dims) -> int:
    p = 1
    for d in dims:
        p *= int(d)
    return p


def static_shape(shape, node, what):
    if shape is None or any(d is None for d in shape):
        raise Refuse(f"{where(node)} has no static {what} shape")
    return [int(d) for d in shape]


def apply_rewrites(node, rewrites: Rewrites) -> None:
    """Replace the node inputs a rule asked for (a position one past the end appends: an
    argument a legacy primitive kept as an attribute)."""
    for pos, value in sorted((rewrites or {}).items()):
        if pos < len(node.inputs):
            node.inputs[pos] = value
        elif pos == len(node.inputs):
            node.inputs.append(value)
        else:
            raise Refuse(f"{where(node)}: a rewrite of input {pos} of {len(node.inputs)}")
