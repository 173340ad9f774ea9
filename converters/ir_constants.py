"""Compile-time values of IR tensors that MindSpore computes from constants only.

A static export keeps some index tensors as small computations on constants rather than as
one constant: a setitem's indices are ExpandDims and Concat of constant grids, a batched
gather's sample index a BroadcastTo of a sliced arange. A handler or batch rule that needs
such a tensor's value (to recognise a slice assignment, say) gets it here, computed the way
the conversion itself computes it: the producers are lowered by their own handlers and folded
by the constant-folding pass, so there is one definition of each primitive's semantics.
"""
from typing import Optional

import numpy as np

from . import ir
from .errors import ConversionError

# the lowering registers itself (converters/lowering.py imports the handlers, which use this
# module, so this module cannot import it)
_LOWERING = None


def use_lowering(lowering_class) -> None:
    global _LOWERING
    _LOWERING = lowering_class


_MAX_NODES = 64          # an index computation is a handful of nodes; past this, give up
_MAX_ELEMENTS = 1 << 22  # and it is small: never fold a weight-sized tensor here


def value_of(x, opset: int = 17) -> Optional[np.ndarray]:
    """The value of `x` (an IR Value or literal) when only constants feed it, else None."""
    if not isinstance(x, ir.Value):
        return None if isinstance(x, (tuple, list)) and not _all_literal(x) else np.asarray(x)
    if x.data is not None:
        return np.asarray(x.data)
    if x.producer is None:
        return None
    return _fold(x, opset)


def _all_literal(items) -> bool:
    return all(_all_literal(e) if isinstance(e, (tuple, list)) else not isinstance(e, ir.Value)
               for e in items)


def _producers(x: ir.Value):
    """The nodes computing `x`, in dependency order; None if a graph input (or anything not
    constant) feeds it or there are too many."""
    order, seen, stack = [], set(), [(x.producer, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        if len(seen) > _MAX_NODES:
            return None
        stack.append((node, True))
        for v in ir.iter_values(node.inputs):
            if v.data is not None:
                continue
            if v.producer is None:
                return None
            stack.append((v.producer, False))
    return order


def _fold(x: ir.Value, opset: int) -> Optional[np.ndarray]:
    from .passes import fold_constants
    if _LOWERING is None:
        return None
    if x.shape is None or None in x.shape or int(np.prod(x.shape)) > _MAX_ELEMENTS:
        return None
    nodes = _producers(x)
    if nodes is None:
        return None
    lowering = _LOWERING(ir.Graph("constant", [], [], nodes), opset)
    try:
        og = lowering.run()
    except ConversionError:
        return None
    name = lowering.names.get(id(x))
    if name is None:
        return None
    while name not in og.initializers and fold_constants.run(og):
        pass
    value = og.initializers.get(name)
    return None if value is None else np.asarray(value)
